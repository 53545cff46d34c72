/*
 * debughint.c -- see debughint.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/debughint.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DEBUGHINT_DPKG
#define DEBUGHINT_DPKG "/var/lib/dpkg"
#endif

bool debughint_first(const char *module)
{
    static uint64_t seen[256];
    static size_t nseen;
    uint64_t h = 1469598103934665603ull; /* FNV-1a: a collision only drops one warning */
    for (const unsigned char *p = (const unsigned char *)module; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    for (size_t i = 0; i < nseen; i++)
        if (seen[i] == h)
            return false;
    if (nseen < sizeof seen / sizeof seen[0])
        seen[nseen++] = h;
    return true;
}

/* The package whose file list holds path: its name into pkg (":arch" dropped). */
static bool debughint_owner(const char *path, char *pkg, size_t cap)
{
    DIR *d = opendir(DEBUGHINT_DPKG "/info");
    if (!d)
        return false;
    bool found = false;
    char line[PATH_MAX + 2], file[PATH_MAX];
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".list"))
            continue;
        snprintf(file, sizeof file, "%s/info/%s", DEBUGHINT_DPKG, e->d_name);
        FILE *f = fopen(file, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            if (!strcmp(line, path)) {
                snprintf(pkg, cap, "%.*s", (int)strcspn(e->d_name, ":."), e->d_name);
                found = true;
                break;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* The Source: field of pkg in dpkg's status file (the package name itself when absent). */
static void debughint_source(const char *pkg, char *src, size_t cap)
{
    snprintf(src, cap, "%s", pkg);
    FILE *f = fopen(DEBUGHINT_DPKG "/status", "re");
    if (!f)
        return;
    char line[512];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "Package: ", 9))
            in = !strcmp(line + 9, pkg);
        else if (in && !strncmp(line, "Source: ", 8)) {
            snprintf(src, cap, "%.*s", (int)strcspn(line + 8, " "), line + 8);
            break;
        } else if (in && !line[0])
            break;
    }
    fclose(f);
}

const char *debughint_for(const char *module, char *buf, size_t cap)
{
    static const char tail[] = "or fetch it with debuginfod (debuginfod-find debuginfo FILE) "
                               "into a --debug-dir";
    char real[PATH_MAX], pkg[256], src[256], dbg[300];
    if (!realpath(module, real))
        snprintf(real, sizeof real, "%s", module);
    if (!debughint_owner(real, pkg, sizeof pkg) && !debughint_owner(module, pkg, sizeof pkg)) {
        snprintf(buf, cap, "install its debug symbols package, %s", tail);
        return buf;
    }
    debughint_source(pkg, src, sizeof src);
    if (!strcmp(pkg, "libstdc++6") && !strncmp(src, "gcc-", 4))
        snprintf(dbg, sizeof dbg, "libstdc++6-%s-dbg", src + 4); /* Debian's name for it */
    else if (!strcmp(pkg, "libc6"))
        snprintf(dbg, sizeof dbg, "libc6-dbg");
    else
        snprintf(dbg, sizeof dbg, "%s-dbgsym (debian-debug archive)", pkg);
    snprintf(buf, cap, "Debian: apt-get install %s, %s", dbg, tail);
    return buf;
}
