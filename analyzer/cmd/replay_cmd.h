/*
 * replay_cmd.h -- `perfshim replay [--allocator=LIST] TRACE`: the allocator what-if. The
 * trace's heap sequence (analyses/whatif.h, one pass) is replayed against each allocator in a
 * child process of its own (the driver, driver/replay_driver.c, with the allocator in
 * LD_PRELOAD), and the report compares their peak RSS, RSS at the end and time with what the
 * recorded run measured.
 *
 * Contract: returns the exit status: 0 written (an allocator that is not installed is reported
 * as such), 1 written but an allocator's replay failed, 2 usage error, unreadable trace, no
 * driver, or output error (one line on stderr).
 */
#ifndef PERFSHIM_REPLAY_CMD_H
#define PERFSHIM_REPLAY_CMD_H

int replay_main(int argc, char **argv);

#endif /* PERFSHIM_REPLAY_CMD_H */
