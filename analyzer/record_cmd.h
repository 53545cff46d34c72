/*
 * record_cmd.h -- `perfshim record [-o PATH] [--] PROGRAM [ARGS...]`: runs PROGRAM with
 * libperfshim.so preloaded and says where the trace went.
 *
 * Contract: called once from main() with the arguments after "perfshim" (argv[0] is
 * "record"). Changes this process's environment (LD_PRELOAD, PERFSHIM_OUTPUT) before it
 * forks. Returns the process exit code: PROGRAM's exit status, 128+N if it was killed by
 * signal N, 126/127 if it could not be run, 2 on a usage error or when the shim library
 * cannot be found. A missing trace afterwards is a warning on stderr, not an error.
 */
#ifndef PERFSHIM_RECORD_CMD_H
#define PERFSHIM_RECORD_CMD_H

int record_main(int argc, char **argv);

#endif /* PERFSHIM_RECORD_CMD_H */
