/*
 * fmt.h -- human-readable numbers for the text presentation (formats/text.c, the emitters' text
 * lines): sizes in binary units, durations,
 * rates per second.
 *
 * Contract: each writes at most n bytes (NUL included) into buf and returns buf. fmt_bytes:
 * "512 B", "1.5 KiB" ... "PiB"; fmt_ns: "830 ns", "1.2 us", "3.4 ms", "1.234 s"; fmt_rate:
 * count per second over ns as "12.3 M" / "4.5 K" / "6.0 " (the caller appends the unit),
 * "-" when ns is 0.
 */
#ifndef PERFSHIM_FMT_H
#define PERFSHIM_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

const char *fmt_bytes(char *buf, size_t n, uint64_t v);
const char *fmt_ns(char *buf, size_t n, uint64_t ns);
const char *fmt_rate(char *buf, size_t n, uint64_t count, uint64_t ns);

/* vsnprintf whole however long: into buf (n bytes) when it fits, else into memory it
 * allocates (the caller frees what is not buf); *len the length. NULL: the format failed
 * (*len 0) or no memory (*len the length it needed). */
char *fmt_vbuf(char *buf, size_t n, size_t *len, const char *fmt, va_list ap);

/* part as a percentage of whole; 0 when whole is 0 */
static inline double fmt_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

#endif /* PERFSHIM_FMT_H */
