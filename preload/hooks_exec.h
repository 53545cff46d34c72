/*
 * hooks_exec.h -- the exec family, interposed so that a trace ends cleanly when its image is
 * replaced: execve, execv, execvp, execvpe, execl, execlp, execle, fexecve, execveat.
 *
 * Contract: each hook calls shim_before_exec() (stop the writer, write everything and the END
 * record; nothing in a vfork child), then the real function; if that returns (the exec
 * failed), shim_after_exec_failed() resumes recording and the return value and errno are the
 * real ones. Whether the new image is traced is decided by LD_PRELOAD in the environment it
 * gets: unless PERFSHIM_FOLLOW_EXEC=1, each hook passes the envp (environ for the forms that
 * take none) through envclean_envp(), which drops the shim from an inherited LD_PRELOAD.
 * fexecve and execveat are hooked the same way. posix_spawn and posix_spawnp (GLIBC_2.15)
 * only clean the child's environment; system() and popen() spawn from inside glibc with
 * environ, which the constructor cleaned (envclean.h).
 */
#ifndef PERFSHIM_HOOKS_EXEC_H
#define PERFSHIM_HOOKS_EXEC_H

#endif /* PERFSHIM_HOOKS_EXEC_H */
