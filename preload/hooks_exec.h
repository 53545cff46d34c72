/*
 * hooks_exec.h -- the exec family, interposed so that a trace ends cleanly when its image is
 * replaced: execve, execv, execvp, execvpe, execl, execlp, execle.
 *
 * Contract: each hook calls shim_before_exec() (stop the writer, write everything and the END
 * record; nothing in a vfork child), then the real function; if that returns (the exec
 * failed), shim_after_exec_failed() resumes recording and the return value and errno are the
 * real ones. Whether the new image is traced is decided by LD_PRELOAD in the environment it
 * gets: the shim removes itself from LD_PRELOAD at start unless PERFSHIM_FOLLOW_EXEC=1
 * (shim.c). posix_spawn and system() exec from glibc internals and are not hooked: the
 * spawned image gets the same environment rule, and the parent's trace is unaffected.
 */
#ifndef PERFSHIM_HOOKS_EXEC_H
#define PERFSHIM_HOOKS_EXEC_H

#endif /* PERFSHIM_HOOKS_EXEC_H */
