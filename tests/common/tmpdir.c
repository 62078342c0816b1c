/*  tmpdir.c - temporary folders for tests; see tmpdir.h. */
#include "tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int kp_test_tmpdir(char *path, size_t size, const char *prefix)
{
    int len = snprintf(path, size, "/tmp/%s-XXXXXX", prefix);
    if (len < 0 || (size_t)len >= size)
        return -1;
    return mkdtemp(path) ? 0 : -1;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void kp_test_rmtree(const char *path)
{
    //  FTW_DEPTH: the files before their folder; FTW_PHYS: links are not followed.
    nftw(path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}
