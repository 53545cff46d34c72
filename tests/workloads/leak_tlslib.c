/* leak_tlslib.c -- a library with a thread-local buffer, dlopen'ed by leak_cases afterdlopen:
 * the first touch of its TLS in a thread makes the dynamic linker malloc the thread's block of
 * it (__tls_get_addr), an allocation whose caller is in ld.so. */
void *leak_tls_touch(void);

static __thread char tls_buf[256];

void *leak_tls_touch(void)
{
    tls_buf[0] = 1;
    return tls_buf;
}
