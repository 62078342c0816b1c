/*  testdir.h - a reference directory on real LMDB in a fresh folder, the
    fixture of the unit tests that work on a directory (test_directory,
    test_mutation, test_register).
*/
#ifndef KP_TEST_TESTDIR_H_INCLUDED
#define KP_TEST_TESTDIR_H_INCLUDED

#include <stddef.h>

#include "directory.h"

//  Makes /tmp/<prefix>-XXXXXX (its name to path, size bytes) and opens a
//  directory in it into *dir. Returns 0, or -1 with the reason on stderr
//  and nothing left behind.
int kp_test_dir_open(char *path, size_t size, const char *prefix, kp_directory_t **dir);

//  Closes *dir (NULLs it) and removes path with everything inside.
void kp_test_dir_close(const char *path, kp_directory_t **dir);

#endif
