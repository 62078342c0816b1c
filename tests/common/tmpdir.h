/*  tmpdir.h - temporary folders for tests that work on real files.

    A test makes its folder under /tmp with a name it can recognise and
    removes it, with everything inside, when it is done.
*/
#ifndef KP_TEST_TMPDIR_H_INCLUDED
#define KP_TEST_TMPDIR_H_INCLUDED

#include <stddef.h>

//  Creates /tmp/<prefix>-XXXXXX and writes its name to path (size bytes).
//  Returns 0, or -1 when the name does not fit or mkdtemp fails.
int kp_test_tmpdir(char *path, size_t size, const char *prefix);

//  Removes path and everything below it; it need not exist.
void kp_test_rmtree(const char *path);

#endif
