/*
 * infile.c -- see infile.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perfshim/errors.h"

const char *infile_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    }
    return "not a file";
}

static int infile_refuse(const char *path, unsigned mode, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: is %s, not a regular file", path, infile_kind(mode));
    return -PS_E_INVAL;
}

int infile_open(const char *path, char *err, size_t errlen)
{
    /* O_NONBLOCK: open(2) of a FIFO without a writer, or of some devices, would block */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        int e = errno;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* a socket: ENXIO */
            return infile_refuse(path, (unsigned)st.st_mode, err, errlen);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -PS_E_OPEN;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -PS_E_OPEN;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return infile_refuse(path, (unsigned)st.st_mode, err, errlen);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -PS_E_OPEN;
    }
    return fd;
}

FILE *infile_fopen(const char *path, char *err, size_t errlen)
{
    int fd = infile_open(path, err, errlen);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}
