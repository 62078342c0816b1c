/*  oldtable.c - a directory as an older version left it; see oldtable.h. */
#include "oldtable.h"

#include <lmdb.h>
#include <stddef.h>

int kp_test_old_table(const char *path, const char *name, bool keep)
{
    MDB_env *env;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc)
        return rc;
    rc = mdb_env_set_maxdbs(env, 64);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, 64u << 20); //  grown to the file's size by LMDB
    if (rc == 0)
        rc = mdb_env_open(env, path, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, name, 0, &dbi);
    if (rc == 0)
        rc = mdb_drop(txn, dbi, keep ? 0 : 1);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}
