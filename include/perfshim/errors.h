/*
 * errors.h -- the one error convention of perfshim, shared by preload/ and analyzer/.
 *
 * Internal functions return int: 0 on success or a negative PS_E_* value. Values are pinned
 * (they may appear in logs and JSON); add new ones at the end. ps_strerror() never fails and
 * returns a static string; it is async-signal-safe.
 */
#ifndef PERFSHIM_ERRORS_H
#define PERFSHIM_ERRORS_H

#define PS_ERROR_LIST(X)                                                                       \
    X(OK, 0, "success")                                                                        \
    X(E_NOMEM, 1, "out of memory")                                                             \
    X(E_IO, 2, "input/output error")                                                           \
    X(E_OPEN, 3, "cannot open file")                                                           \
    X(E_NOT_TRACE, 4, "not a perfshim trace")                                                  \
    X(E_VERSION, 5, "trace format version is newer than this perfshim")                        \
    X(E_CORRUPT, 6, "corrupt data")                                                            \
    X(E_TRUNCATED, 7, "file is cut short")                                                     \
    X(E_ZSTD, 8, "zstd error")                                                                 \
    X(E_INVAL, 9, "invalid argument")                                                          \
    X(E_LIMIT, 10, "limit exceeded")                                                           \
    X(E_NOSYM, 11, "required symbol not found")

enum ps_error {
#define PS_X(name, val, str) PS_##name = val,
    PS_ERROR_LIST(PS_X)
#undef PS_X
};

static inline const char *ps_strerror(int err)
{
    switch (err < 0 ? -err : err) {
#define PS_X(name, val, str)                                                                   \
    case val:                                                                                  \
        return str;
        PS_ERROR_LIST(PS_X)
#undef PS_X
    }
    return "unknown error";
}

#endif /* PERFSHIM_ERRORS_H */
