/*
 * demo -- the bundled workload of scripts/demo: a small "log indexer" with the habits the
 * report should find: a hot site of short-lived small allocations (token copies), a buffer
 * grown by repeated realloc, a cache that holds memory to the end, and a leak.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINES 20000

typedef struct entry_s {
    char *key;
    struct entry_s *next;
} entry_t;

static entry_t *cache[1024];

__attribute__((noinline)) static char *token_copy(const char *s, size_t n)
{
    char *t = malloc(n + 1); /* dies right after use: a temporary */
    memcpy(t, s, n);
    t[n] = 0;
    return t;
}

__attribute__((noinline)) static void cache_put(const char *key)
{
    unsigned h = 0;
    for (const char *p = key; *p; p++)
        h = h * 31 + (unsigned char)*p;
    for (entry_t *e = cache[h % 1024]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return;
    entry_t *e = malloc(sizeof *e);
    e->key = strdup(key);
    e->next = cache[h % 1024];
    cache[h % 1024] = e;
}

__attribute__((noinline)) static char *append(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    buf = realloc(buf, *len + n + 1); /* grows by a few bytes each time */
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return buf;
}

static void *indexer(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;
    char line[128];
    char *out = NULL;
    size_t out_len = 0;
    for (int i = 0; i < LINES; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(line, sizeof line, "GET /item/%u status=%u user=u%u", seed % 5000,
                 200 + seed % 3, seed % 300);
        for (char *p = line, *q; *p; p = q + (*q != 0)) {
            q = strchr(p, ' ');
            if (!q)
                q = p + strlen(p);
            char *tok = token_copy(p, (size_t)(q - p));
            if (strncmp(tok, "user=", 5) == 0)
                cache_put(tok);
            free(tok);
        }
        if (i % 16 == 0)
            out = append(out, &out_len, line);
    }
    free(out);
    return NULL;
}

__attribute__((noinline)) static void load_config(void)
{
    char *cfg = malloc(4096); /* never freed: a leak */
    snprintf(cfg, 4096, "threads=2");
    if (!cfg[0])
        free(cfg);
}

int main(void)
{
    load_config();
    pthread_t th[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, indexer, (void *)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("indexed %d lines\n", 2 * LINES);
    return 0;
}
