/*
 * regression_driver.c -- runs a fuzz target's LLVMFuzzerTestOneInput on every file of its
 * corpus (tests/fuzz/corpus/<FUZZ_TARGET>/, or the files/directories given as arguments),
 * without libFuzzer: `make check` replays the seeds and every crash found earlier. Exit 0 when
 * all ran (a crash is a crash: the test fails), 99 when the corpus cannot be read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fprintf(stderr, "cannot open %s\n", path), -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(buf);
        return fprintf(stderr, "cannot read %s\n", path), -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    (*count)++;
    return 0;
}

static int run_path(const char *path, size_t *count)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fprintf(stderr, "cannot stat %s\n", path), -1;
    if (!S_ISDIR(sb.st_mode))
        return run_file(path, count);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0)
        return fprintf(stderr, "cannot list %s\n", path), -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && rc == 0) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
            rc = run_file(p, count);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && rc == 0; i++)
            rc = run_path(argv[i], &count);
    } else {
        const char *src = getenv("top_srcdir");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src ? src : ".", FUZZ_TARGET);
        rc = run_path(dir, &count);
    }
    printf("%s: %zu inputs replayed\n", FUZZ_TARGET, count);
    return rc == 0 && count > 0 ? 0 : 99;
}
