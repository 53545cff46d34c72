/* envclean.c -- see envclean.h. */
#include <config.h>

#include "envclean.h"

#include <string.h>

#include "imem.h"
#include "log.h"

extern char **environ;

#define LDP "LD_PRELOAD="
#define LDP_LEN (sizeof LDP - 1)

static int active;         /* the constructor scrubbed environ: exec hooks clean too */
static uint64_t orig_hash; /* the inherited LD_PRELOAD value (FNV-1a) and its length */
static size_t orig_len;

static uint64_t fnv1a(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ull;
    size_t n = 0;
    for (; s[n]; n++)
        h = (h ^ (unsigned char)s[n]) * 1099511628211ull;
    *len = n;
    return h;
}

static int is_shim_entry(const char *p, size_t len)
{
    return memmem(p, len, "libperfshim", 11) != NULL;
}

/* Works in place too (out == value): every kept element moves left or stays. */
size_t envclean_value(const char *value, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ": ");
        if (len && !is_shim_entry(p, len)) {
            size_t need = n + (n ? 1 : 0) + len;
            if (need < cap) {
                if (n)
                    out[n++] = ':';
                memmove(out + n, p, len);
            }
            n = need;
        }
        p += len;
        if (*p)
            p++;
    }
    if (n < cap)
        out[n] = 0;
    else if (cap)
        out[0] = 0;
    return n;
}

static int has_shim(const char *value)
{
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ": ");
        if (len && is_shim_entry(p, len))
            return 1;
        p += len;
        if (*p)
            p++;
    }
    return 0;
}

void envclean_scrub_environ(void)
{
    char **env = environ;
    if (!env)
        return;
    for (size_t i = 0; env[i];) {
        char *e = env[i];
        if (strncmp(e, LDP, LDP_LEN) != 0 || !has_shim(e + LDP_LEN)) {
            i++;
            continue;
        }
        if (!active) {
            orig_hash = fnv1a(e + LDP_LEN, &orig_len);
            active = 1;
        }
        /* Other preloads kept: the shorter value is written where the old one is (a string
         * on the initial stack, or setenv's). Nothing left: the entry goes, as unsetenv does,
         * and the string itself stays as it was (a copy of environ made earlier still holds
         * it; envclean_envp cleans that at the exec). */
        if (envclean_value(e + LDP_LEN, NULL, 0) > 0) {
            envclean_value(e + LDP_LEN, e + LDP_LEN, strlen(e + LDP_LEN) + 1);
            i++;
            continue;
        }
        for (size_t j = i; env[j]; j++)
            env[j] = env[j + 1];
    }
}

static int is_inherited(const char *e)
{
    if (strncmp(e, LDP, LDP_LEN) != 0)
        return 0;
    size_t len;
    uint64_t h = fnv1a(e + LDP_LEN, &len);
    return h == orig_hash && len == orig_len && has_shim(e + LDP_LEN);
}

/* Every entry equal to the inherited LD_PRELOAD is cleaned (ld.so reads the last one,
 * getenv the first). */
char *const *envclean_envp(char *const *envp, envclean_buf_t *b)
{
    b->heap = NULL;
    if (!__atomic_load_n(&active, __ATOMIC_RELAXED) || !envp)
        return envp;
    size_t n = 0, hits = 0, first = 0;
    for (; envp[n]; n++)
        if (is_inherited(envp[n]) && !hits++)
            first = n;
    if (!hits)
        return envp;
    char **ptrs = b->ptrs;
    char *chars = b->chars;
    size_t need_chars = LDP_LEN + orig_len + 1;
    if (n + 1 > ENVCLEAN_STACK_PTRS || need_chars > ENVCLEAN_STACK_CHARS) {
        b->heap = imem_alloc((n + 1) * sizeof(char *) + need_chars);
        if (!b->heap) {
            PS_WARN_ONCE("no memory to take perfshim out of an exec's LD_PRELOAD; the new "
                         "program is traced");
            return envp;
        }
        ptrs = b->heap;
        chars = (char *)(ptrs + n + 1);
    }
    memcpy(chars, LDP, LDP_LEN);
    size_t kept = envclean_value(envp[first] + LDP_LEN, chars + LDP_LEN, need_chars - LDP_LEN);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < first || !is_inherited(envp[i]))
            ptrs[j++] = envp[i];
        else if (kept)
            ptrs[j++] = chars;
    }
    ptrs[j] = NULL;
    return ptrs;
}

void envclean_release(envclean_buf_t *b)
{
    imem_free(b->heap);
    b->heap = NULL;
}
