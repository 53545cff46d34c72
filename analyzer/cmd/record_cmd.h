/*
 * record_cmd.h -- `perfshim record [-o PATH] [--] PROGRAM [ARGS...]`: runs PROGRAM with
 * libperfshim.so preloaded and says where the trace went.
 *
 * Contract: called once from main() with the arguments after "perfshim" (argv[0] is
 * "record"). Changes this process's environment (LD_PRELOAD, PERFSHIM_OUTPUT) before it
 * forks. Returns the process exit code: PROGRAM's exit status, 128+N if it was killed by
 * signal N, 126/127 if it could not be run, 2 on a usage error or when the shim library
 * cannot be found, and before running anything when the output cannot be created or PROGRAM
 * is statically linked. A missing trace afterwards is a warning on stderr, not an error
 * (but `--check` with no trace to gate exits 2).
 */
#ifndef PERFSHIM_RECORD_CMD_H
#define PERFSHIM_RECORD_CMD_H

int record_main(int argc, char **argv);

/* The traces one run wrote, as the shim of each process announced them (preload/announce.h),
 * in creation order; paths under the cwd are relative to it. */
typedef struct record_result_s {
    char **traces;
    int *exec_ended; /* per trace: 0 no, 1 an exec ended it (the new image traced too), 2 an
                      * exec of a program that is not traced ended it */
    int ntraces;
    int untraced_execs; /* traces ended by such an untraced exec */
} record_result_t;

/* Runs prog_argv (NULL-terminated) under the shim with the PERFSHIM_OUTPUT template output
 * (%p, %e, %% expanded by the shim of each process) and prints each trace's path on stderr,
 * or why there is none. Refuses, before running anything, an output it cannot create (a
 * directory, a missing or unwritable directory) and a program LD_PRELOAD cannot reach
 * (statically linked, set-user-ID). Returns the program's status (>= 0, as record_main), or
 * minus the exit code of a refusal (-2) or of a program that could not be run (-126/-127);
 * res is filled either way (free it with record_result_free). */
int record_run(const char *output, char **prog_argv, record_result_t *res);
void record_result_free(record_result_t *res);

/* `perfshim PROGRAM [ARGS...]` and `perfshim -- PROGRAM ...` (argv[0] is PROGRAM): records
 * with the default output, then prints the report's first screen (`report --brief`), the
 * trace's path and the commands to run next. A word that is neither a program in $PATH nor
 * a file is a usage error (exit 2); a trace file given alone gets its report. Returns the
 * program's status, or 2 when the report could not be made. */
int record_oneshot_main(int argc, char **argv);

#endif /* PERFSHIM_RECORD_CMD_H */
