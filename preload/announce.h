/*
 * announce.h -- tells `perfshim record` which trace file this process wrote.
 *
 * `perfshim record` cannot know the final name of a trace: the shim picks PATH.1, PATH.2, ...
 * when PATH is taken, %p is the pid of whichever process writes it, and with
 * PERFSHIM_FOLLOW_EXEC=1 every exec'd program writes its own. So record names a private
 * file in PERFSHIM_REPORT_FILE and each process appends one line to it when its trace is
 * created: "trace PID PATH\n" (PATH absolute); "exec PID FOLLOW\n" when an exec is about to
 * end the trace (FOLLOW 1: the new image is traced too, 0: it is not), and "noexec PID\n" when
 * that exec failed and the trace goes on.
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

/* This process is about to exec a program (traced too when follow is 1); the exec failed. */
void announce_exec(int follow);
void announce_exec_failed(void);

#endif /* PERFSHIM_ANNOUNCE_H */
