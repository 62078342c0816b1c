/*  testdir.c - a reference directory in a fresh folder (testdir.h).
 */
#include "testdir.h"

#include <stdio.h>

#include "tmpdir.h"

int kp_test_dir_open(char *path, size_t size, const char *prefix, kp_directory_t **dir)
{
    char err[256] = "cannot make a temporary folder";
    *dir = NULL;
    if (!kp_test_tmpdir(path, size, prefix))
        *dir = kp_directory_new(path, err, sizeof err);
    if (*dir)
        return 0;
    fprintf(stderr, "%s\n", err);
    kp_test_rmtree(path);
    return -1;
}

void kp_test_dir_close(const char *path, kp_directory_t **dir)
{
    kp_directory_destroy(dir);
    kp_test_rmtree(path);
}
