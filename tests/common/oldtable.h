/*  oldtable.h - a directory as an older version left it, for tests of
    the code that brings it up to date when it is opened or loaded.
*/
#ifndef KP_TEST_OLDTABLE_H_INCLUDED
#define KP_TEST_OLDTABLE_H_INCLUDED

#include <stdbool.h>

//  Empties table name of the LMDB environment in path (closed by its
//  owner first), and deletes the table itself unless keep is set: the
//  state of a version before the table, or before it was written.
//  Returns 0, or LMDB's error.
int kp_test_old_table(const char *path, const char *name, bool keep);

#endif
