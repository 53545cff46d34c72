/*
 * safeout.c -- see safeout.h. The streams are glibc cookie streams (fopencookie); glibc makes
 * stdout and stderr assignable variables, which is what lets one call cover every printf.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fopencookie */
#endif
#include "core/safeout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOUT_IN 16384 /* input bytes filtered per write(2) */

typedef struct sout_s {
    int fd;
    bool owned; /* safeout_fopen's: closed and freed with the stream */
    bool c2; /* the last byte written was 0xc2: its next byte decides (a C1 control or not) */
    bool raw; /* safeout_binary: written as it is */
    FILE *f;  /* the stream, for safeout_binary's lookup */
    struct sout_s *next;
    char out[4 * SOUT_IN + 8];
} sout_t;

static sout_t *sout_list; /* every open stream (the analyzer is single-threaded) */

static FILE *raw_stderr;

static bool sout_ctl(unsigned char b)
{
    return (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f;
}

/* Appends the escape of b, or b, to out; returns the new length. */
static size_t sout_put(char *out, size_t o, unsigned char b, bool esc)
{
    static const char hex[] = "0123456789abcdef";
    if (!esc) {
        out[o++] = (char)b;
        return o;
    }
    out[o++] = '\\';
    out[o++] = 'x';
    out[o++] = hex[b >> 4];
    out[o++] = hex[b & 15];
    return o;
}

/* Filters in[0..n) into out (room for 4 * n + 4 bytes); *c2 carries a 0xc2 across calls.
 * Returns the bytes in out. */
static size_t sout_filter(bool *c2, const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = in[i];
        if (*c2) {
            *c2 = false;
            bool c1 = b >= 0x80 && b <= 0x9f;
            o = sout_put(out, o, 0xc2, c1);
            if (c1) {
                o = sout_put(out, o, b, true);
                continue;
            }
        }
        if (b == 0xc2) {
            *c2 = true;
            continue;
        }
        o = sout_put(out, o, b, sout_ctl(b));
    }
    return o;
}

static int sout_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Bytes of p[0..n) before the first one the filter would touch (a control or 0xc2). */
static size_t sout_clean(const unsigned char *p, size_t n)
{
    static unsigned char touch[256]; /* 1: a control or 0xc2; filled on the first call */
    if (!touch[0]) {
        for (unsigned b = 0; b < 256; b++)
            touch[b] = sout_ctl((unsigned char)b) || b == 0xc2;
    }
    size_t i = 0;
    while (i + 4 <= n && !(touch[p[i]] | touch[p[i + 1]] | touch[p[i + 2]] | touch[p[i + 3]]))
        i += 4;
    while (i < n && !touch[p[i]])
        i++;
    return i;
}

static ssize_t sout_write(void *cookie, const char *buf, size_t n)
{
    sout_t *s = cookie;
    size_t done = 0;
    if (s->raw)
        return sout_write_all(s->fd, buf, n) == 0 ? (ssize_t)n : -1;
    if (!s->c2) { /* the usual case, all text: written as it is, without a copy */
        done = sout_clean((const unsigned char *)buf, n);
        if (done && sout_write_all(s->fd, buf, done) != 0)
            return -1;
    }
    while (done < n) {
        size_t k = n - done < SOUT_IN ? n - done : SOUT_IN;
        size_t o = sout_filter(&s->c2, (const unsigned char *)buf + done, k, s->out);
        if (sout_write_all(s->fd, s->out, o) != 0)
            return done ? (ssize_t)done : -1;
        done += k;
    }
    return (ssize_t)n;
}

static int sout_close(void *cookie)
{
    sout_t *s = cookie;
    int rc = 0;
    if (s->c2) { /* a lone 0xc2 at the very end: not a C1 control */
        s->c2 = false;
        rc = sout_write_all(s->fd, "\xc2", 1);
    }
    for (sout_t **p = &sout_list; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (s->owned) {
        if (close(s->fd) != 0)
            rc = -1;
        free(s);
    }
    return rc;
}

size_t safeout_escape(char *dst, size_t cap, const char *src, size_t n)
{
    bool c2 = false;
    char out[4 * 64 + 8];
    size_t len = 0;
    for (size_t done = 0; done <= n && cap; done += 64) {
        size_t k = n - done < 64 ? n - done : 64;
        size_t o = sout_filter(&c2, (const unsigned char *)src + done, k, out);
        if (done + k == n && c2)
            out[o++] = (char)0xc2;
        for (size_t i = 0; i < o && len + 1 < cap; i++)
            dst[len++] = out[i];
        if (done + k == n)
            break;
    }
    if (cap)
        dst[len] = '\0';
    return len;
}

static const cookie_io_functions_t sout_io = {.write = sout_write, .close = sout_close};

static FILE *sout_open(int fd, int mode)
{
    static sout_t cookies[2];
    sout_t *c = &cookies[fd == 2];
    c->fd = fd;
    FILE *f = fopencookie(c, "w", sout_io);
    if (f) {
        setvbuf(f, NULL, mode, BUFSIZ);
        c->f = f;
        c->next = sout_list;
        sout_list = c;
    }
    return f;
}

FILE *safeout_fopen(const char *path)
{
    sout_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->owned = true;
    c->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *f = c->fd >= 0 ? fopencookie(c, "w", sout_io) : NULL;
    if (!f) {
        int e = errno;
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        errno = e;
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1u << 16);
    c->f = f;
    c->next = sout_list;
    sout_list = c;
    return f;
}

int safeout_binary(FILE *f)
{
    for (sout_t *s = sout_list; s; s = s->next)
        if (s->f == f) {
            if (isatty(s->fd))
                return -1;
            if (fflush(f) != 0)
                return -1;
            s->raw = true;
        }
    return 0;
}

void safeout_install(void)
{
    FILE *o = sout_open(STDOUT_FILENO, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF);
    FILE *e = sout_open(STDERR_FILENO, _IONBF);
    raw_stderr = stderr;
    if (o)
        stdout = o; /* the old streams have written nothing yet: nothing to flush */
    if (e)
        stderr = e;
}

FILE *safeout_raw_stderr(void)
{
    return raw_stderr ? raw_stderr : stderr;
}
