/*
 * announce.h -- tells `perfshim record` which trace file this process wrote.
 *
 * `perfshim record` cannot know the final name of a trace: the shim picks PATH.1, PATH.2, ...
 * when PATH is taken, %p is the pid of whichever process writes it, and with
 * PERFSHIM_FOLLOW_EXEC=1 every exec'd program writes its own. So record names a private
 * file in PERFSHIM_REPORT_FILE and each process appends one line to it when its trace is
 * created: "trace PATH\n" (PATH absolute), or "exec PID\n" when an untraced exec ends the
 * trace (PERFSHIM_FOLLOW_EXEC=0).
 *
 * Contract: callable from the shim's initialization, a fork child and before an exec; never
 * allocates and never holds a descriptor (open, one O_APPEND write, close: appends of the
 * processes never interleave). Without PERFSHIM_REPORT_FILE it does nothing. Failures are
 * ignored: record then says that it learned of no trace.
 */
#ifndef PERFSHIM_ANNOUNCE_H
#define PERFSHIM_ANNOUNCE_H

/* The trace file this process just created (absolute or relative to the cwd). */
void announce_trace(const char *path);

/* This process is about to exec a program that will not be traced. */
void announce_exec_untraced(void);

#endif /* PERFSHIM_ANNOUNCE_H */
