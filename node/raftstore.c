/*  raftstore.c - raft's persistent state in LMDB; see raftstore.h. */
#include "raftstore.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "byteorder.h"

//  Sparse, like the directory: the file grows only as far as it is used.
#define KP_RAFT_MAP_SIZE (16ULL << 30)
#define KP_RAFT_ENTRY_HEAD 10 //  term (8) and type (2) before the data

struct _kp_raftstore_t {
    MDB_env *env;
    MDB_dbi log, meta;
    MDB_txn *batch;    //  open write transaction of a group commit, or NULL
    bool batch_failed; //  a call of the open group failed: the group fails
    raft_index next;   //  index of the next append
    raft_index first;  //  first stored entry, 0 if none
};

static int s_lmdb(int rc, const char *what, char *err, size_t errlen)
{
    if (rc)
        snprintf(err, errlen, "raft store: %s: %s", what, mdb_strerror(rc));
    return rc ? -1 : 0;
}

//  The transaction of a call: the batch's if one is open, else its own.
static int s_begin(kp_raftstore_t *self, MDB_txn **txn, unsigned flags)
{
    if (self->batch_failed)
        return EIO;
    if (self->batch) {
        *txn = self->batch;
        return 0;
    }
    return mdb_txn_begin(self->env, NULL, flags, txn);
}

static int s_end(kp_raftstore_t *self, MDB_txn *txn, int rc)
{
    if (txn == self->batch) {
        if (rc) {
            mdb_txn_abort(txn);
            self->batch = NULL;
            self->batch_failed = true;
        }
        return rc;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

static int s_meta_get(kp_raftstore_t *self, MDB_txn *txn, const char *name, MDB_val *value)
{
    MDB_val key = {strlen(name), (void *)name};
    return mdb_get(txn, self->meta, &key, value);
}

static uint64_t s_meta_u64(kp_raftstore_t *self, MDB_txn *txn, const char *name)
{
    MDB_val value;
    if (s_meta_get(self, txn, name, &value) || value.mv_size != 8)
        return 0;
    return kp_be64_get(value.mv_data);
}

static int s_meta_put_u64(kp_raftstore_t *self, MDB_txn *txn, const char *name, uint64_t v)
{
    unsigned char bytes[8];
    kp_be64_put(bytes, v);
    MDB_val key = {strlen(name), (void *)name}, value = {8, bytes};
    return mdb_put(txn, self->meta, &key, &value, 0);
}

//  Index of the last snapshot (0: none).
static raft_index s_snapshot_index(kp_raftstore_t *self, MDB_txn *txn)
{
    MDB_val value;
    if (s_meta_get(self, txn, "snapshot", &value) || value.mv_size < 8)
        return 0;
    return kp_be64_get(value.mv_data);
}

//  Recomputes first and next from what is stored.
static int s_bounds(kp_raftstore_t *self, MDB_txn *txn)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->log, &cursor);
    if (rc)
        return rc;
    MDB_val key, value;
    raft_index last = 0;
    self->first = 0;
    if (mdb_cursor_get(cursor, &key, &value, MDB_FIRST) == 0 && key.mv_size == 8)
        self->first = kp_be64_get(key.mv_data);
    if (mdb_cursor_get(cursor, &key, &value, MDB_LAST) == 0 && key.mv_size == 8)
        last = kp_be64_get(key.mv_data);
    mdb_cursor_close(cursor);
    raft_index snapshot = s_snapshot_index(self, txn);
    self->next = (last > snapshot ? last : snapshot) + 1;
    return 0;
}

static int s_mkdir(const char *path)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

kp_raftstore_t *kp_raftstore_new(const char *path, char *err, size_t errlen)
{
    if (s_mkdir(path)) {
        snprintf(err, errlen, "raft store: cannot create folder %s: %s", path, strerror(errno));
        return NULL;
    }
    kp_raftstore_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "raft store: out of memory");
        return NULL;
    }
    int rc = mdb_env_create(&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(self->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(self->env, (size_t)KP_RAFT_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_open(self->env, path, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "log", MDB_CREATE, &self->log);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->meta);
    if (rc == 0)
        rc = s_bounds(self, txn);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        snprintf(err, errlen, "raft store: cannot open %s: %s", path, mdb_strerror(rc));
        kp_raftstore_destroy(&self);
    }
    return self;
}

void kp_raftstore_destroy(kp_raftstore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_raftstore_t *self = *self_p;
    if (self->batch)
        mdb_txn_abort(self->batch);
    if (self->env)
        mdb_env_close(self->env);
    free(self);
    *self_p = NULL;
}

bool kp_raftstore_pristine(kp_raftstore_t *self)
{
    MDB_txn *txn;
    if (mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn))
        return false;
    bool pristine =
        s_meta_u64(self, txn, "term") == 0 && s_snapshot_index(self, txn) == 0 && self->first == 0;
    mdb_txn_abort(txn);
    return pristine;
}

//  ---------------------------------------------------------------------
//  Configurations, in our own encoding (libraft 0.15 exports no decoder):
//  count (8), then per server id (8), role (8), address length (8), bytes.

static size_t s_conf_size(const struct raft_configuration *conf)
{
    size_t size = 8;
    for (unsigned i = 0; i < conf->n; i++)
        size += 24 + strlen(conf->servers[i].address);
    return size;
}

static void s_conf_put(unsigned char *p, const struct raft_configuration *conf)
{
    kp_be64_put(p, conf->n);
    p += 8;
    for (unsigned i = 0; i < conf->n; i++) {
        size_t len = strlen(conf->servers[i].address);
        kp_be64_put(p, conf->servers[i].id);
        kp_be64_put(p + 8, (uint64_t)conf->servers[i].role);
        kp_be64_put(p + 16, len);
        memcpy(p + 24, conf->servers[i].address, len);
        p += 24 + len;
    }
}

//  Decodes a configuration of size bytes; returns the bytes used, 0 if bad.
static size_t s_conf_get(const unsigned char *p, size_t size, struct raft_configuration *conf)
{
    raft_configuration_init(conf);
    if (size < 8)
        return 0;
    uint64_t n = kp_be64_get(p);
    size_t used = 8;
    char address[256];
    for (uint64_t i = 0; i < n; i++) {
        if (size - used < 24)
            goto bad;
        uint64_t id = kp_be64_get(p + used), role = kp_be64_get(p + used + 8),
                 len = kp_be64_get(p + used + 16);
        if (len >= sizeof address || size - used - 24 < len)
            goto bad;
        memcpy(address, p + used + 24, len);
        address[len] = '\0';
        if (raft_configuration_add(conf, id, address, (int)role))
            goto bad;
        used += 24 + len;
    }
    return used;
bad:
    raft_configuration_close(conf);
    return 0;
}

//  ---------------------------------------------------------------------
//  Snapshots: index (8), term (8), configuration index (8), configuration,
//  data length (8), data.

int kp_raftstore_snapshot_put(kp_raftstore_t *self, unsigned trailing,
                              const struct raft_snapshot *snapshot, char *err, size_t errlen)
{
    size_t data_len = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++)
        data_len += snapshot->bufs[i].len;
    size_t conf_size = s_conf_size(&snapshot->configuration);
    size_t size = 24 + conf_size + 8 + data_len;
    unsigned char *value = malloc(size);
    if (!value) {
        snprintf(err, errlen, "raft store: out of memory");
        return -1;
    }
    kp_be64_put(value, snapshot->index);
    kp_be64_put(value + 8, snapshot->term);
    kp_be64_put(value + 16, snapshot->configuration_index);
    s_conf_put(value + 24, &snapshot->configuration);
    unsigned char *p = value + 24 + conf_size;
    kp_be64_put(p, data_len);
    p += 8;
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        memcpy(p, snapshot->bufs[i].base, snapshot->bufs[i].len);
        p += snapshot->bufs[i].len;
    }
    MDB_txn *txn;
    int rc = s_begin(self, &txn, 0);
    if (rc) {
        free(value);
        return s_lmdb(rc, "begin", err, errlen);
    }
    MDB_val key = {8, "snapshot"}, val = {size, value};
    rc = mdb_put(txn, self->meta, &key, &val, 0);
    free(value);
    //  Entries up to here are in the snapshot; trailing ones stay so that
    //  a follower a little behind gets entries, not a whole snapshot.
    raft_index keep_from = trailing == 0                ? INT64_MAX
                           : snapshot->index > trailing ? snapshot->index - trailing + 1
                                                        : 1;
    MDB_cursor *cursor = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(txn, self->log, &cursor);
    MDB_val k, v;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, MDB_FIRST) == 0 &&
           kp_be64_get(k.mv_data) < keep_from)
        rc = mdb_cursor_del(cursor, 0);
    if (cursor)
        mdb_cursor_close(cursor);
    if (rc == 0)
        rc = s_bounds(self, txn);
    if (rc == 0 && trailing == 0)
        self->next = snapshot->index + 1;
    return s_lmdb(s_end(self, txn, rc), "snapshot put", err, errlen);
}

void kp_raftstore_snapshot_free(struct raft_snapshot **snapshot_p)
{
    struct raft_snapshot *snapshot = *snapshot_p;
    if (!snapshot)
        return;
    raft_configuration_close(&snapshot->configuration);
    for (unsigned i = 0; i < snapshot->n_bufs; i++)
        raft_free(snapshot->bufs[i].base);
    raft_free(snapshot->bufs);
    raft_free(snapshot);
    *snapshot_p = NULL;
}

//  The stored snapshot's metadata and file name (raft_malloc'd, for
//  libraft). 0 with *out NULL when there is none; -1 with err when it is
//  damaged or LMDB fails.
static int s_snapshot_read(kp_raftstore_t *self, MDB_txn *txn, struct raft_snapshot **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    MDB_val value;
    int rc = s_meta_get(self, txn, "snapshot", &value);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return s_lmdb(rc, "snapshot get", err, errlen);
    const unsigned char *p = value.mv_data;
    struct raft_snapshot *snapshot = raft_calloc(1, sizeof *snapshot);
    if (!snapshot || value.mv_size < 24)
        goto bad;
    snapshot->index = kp_be64_get(p);
    snapshot->term = kp_be64_get(p + 8);
    snapshot->configuration_index = kp_be64_get(p + 16);
    size_t used = s_conf_get(p + 24, value.mv_size - 24, &snapshot->configuration);
    if (!used || value.mv_size - 24 - used < 8)
        goto bad;
    p += 24 + used;
    uint64_t len = kp_be64_get(p);
    if (value.mv_size - 24 - used - 8 != len)
        goto bad;
    snapshot->bufs = raft_malloc(sizeof *snapshot->bufs);
    if (!snapshot->bufs)
        goto bad;
    snapshot->n_bufs = 1;
    snapshot->bufs[0].len = len;
    snapshot->bufs[0].base = raft_malloc(len ? len : 1);
    if (!snapshot->bufs[0].base)
        goto bad;
    memcpy(snapshot->bufs[0].base, p + 8, len);
    *out = snapshot;
    return 0;
bad:
    if (snapshot)
        kp_raftstore_snapshot_free(&snapshot);
    snprintf(err, errlen, "raft store: the stored snapshot record is corrupt");
    return -1;
}

int kp_raftstore_snapshot_get(kp_raftstore_t *self, struct raft_snapshot **out, char *err,
                              size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_lmdb(rc, "begin", err, errlen);
    rc = s_snapshot_read(self, txn, out, err, errlen);
    mdb_txn_abort(txn);
    return rc;
}

//  ---------------------------------------------------------------------
//  Term, vote, entries

int kp_raftstore_set_term(kp_raftstore_t *self, raft_term term, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = s_begin(self, &txn, 0);
    if (rc == 0) {
        rc = s_meta_put_u64(self, txn, "term", term);
        if (rc == 0)
            rc = s_meta_put_u64(self, txn, "vote", 0);
        rc = s_end(self, txn, rc);
    }
    return s_lmdb(rc, "set term", err, errlen);
}

int kp_raftstore_set_vote(kp_raftstore_t *self, raft_id vote, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = s_begin(self, &txn, 0);
    if (rc == 0)
        rc = s_end(self, txn, s_meta_put_u64(self, txn, "vote", vote));
    return s_lmdb(rc, "set vote", err, errlen);
}

int kp_raftstore_batch_begin(kp_raftstore_t *self, char *err, size_t errlen)
{
    assert(!self->batch);
    self->batch_failed = false;
    return s_lmdb(mdb_txn_begin(self->env, NULL, 0, &self->batch), "begin", err, errlen);
}

int kp_raftstore_batch_commit(kp_raftstore_t *self, char *err, size_t errlen)
{
    if (self->batch_failed) {
        self->batch_failed = false;
        return s_lmdb(EIO, "an earlier write of this batch failed", err, errlen);
    }
    MDB_txn *txn = self->batch;
    self->batch = NULL;
    return s_lmdb(mdb_txn_commit(txn), "commit", err, errlen);
}

static int s_put_entry(kp_raftstore_t *self, MDB_txn *txn, raft_index index,
                       const struct raft_entry *entry)
{
    unsigned char key_bytes[8];
    kp_be64_put(key_bytes, index);
    MDB_val key = {8, key_bytes}, value = {KP_RAFT_ENTRY_HEAD + entry->buf.len, NULL};
    int rc = mdb_put(txn, self->log, &key, &value, MDB_RESERVE | MDB_APPEND);
    if (rc)
        return rc;
    unsigned char *p = value.mv_data;
    kp_be64_put(p, entry->term);
    kp_be16_put(p + 8, (uint16_t)entry->type);
    if (entry->buf.len)
        memcpy(p + KP_RAFT_ENTRY_HEAD, entry->buf.base, entry->buf.len);
    return 0;
}

int kp_raftstore_append(kp_raftstore_t *self, const struct raft_entry *entries, unsigned n,
                        char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = s_begin(self, &txn, 0);
    if (rc)
        return s_lmdb(rc, "begin", err, errlen);
    raft_index index = self->next;
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = s_put_entry(self, txn, index + i, &entries[i]);
    rc = s_end(self, txn, rc);
    if (rc == 0) {
        self->next = index + n;
        if (!self->first && n)
            self->first = index;
    }
    return s_lmdb(rc, "append", err, errlen);
}

int kp_raftstore_truncate(kp_raftstore_t *self, raft_index index, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = s_begin(self, &txn, 0);
    if (rc)
        return s_lmdb(rc, "begin", err, errlen);
    MDB_cursor *cursor = NULL;
    rc = mdb_cursor_open(txn, self->log, &cursor);
    unsigned char key_bytes[8];
    kp_be64_put(key_bytes, index);
    MDB_val k = {8, key_bytes}, v;
    int found = rc ? rc : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && found == 0) {
        rc = mdb_cursor_del(cursor, 0);
        found = mdb_cursor_get(cursor, &k, &v, MDB_GET_CURRENT);
        if (found == 0 && kp_be64_get(k.mv_data) < index)
            found = MDB_NOTFOUND;
    }
    if (cursor)
        mdb_cursor_close(cursor);
    if (rc == 0)
        rc = s_bounds(self, txn);
    if (rc == 0 && self->next > index)
        self->next = index;
    return s_lmdb(s_end(self, txn, rc), "truncate", err, errlen);
}

raft_index kp_raftstore_next_index(kp_raftstore_t *self)
{
    return self->next;
}

raft_index kp_raftstore_first_index(kp_raftstore_t *self)
{
    return self->first;
}

//  ---------------------------------------------------------------------
//  Load and bootstrap

//  Reads every stored entry into one raft_malloc'd batch.
static int s_load_entries(kp_raftstore_t *self, MDB_txn *txn, raft_index *start,
                          struct raft_entry **entries, size_t *n_entries)
{
    *entries = NULL;
    *n_entries = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, self->log, &cursor);
    if (rc)
        return rc;
    MDB_val k, v;
    size_t count = 0, bytes = 0;
    raft_index expect = 0;
    for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        raft_index index = kp_be64_get(k.mv_data);
        if (v.mv_size < KP_RAFT_ENTRY_HEAD || (expect && index != expect)) {
            mdb_cursor_close(cursor);
            return MDB_CORRUPTED; //  a hole in the log
        }
        if (!count)
            *start = index;
        expect = index + 1;
        count++;
        bytes += v.mv_size - KP_RAFT_ENTRY_HEAD;
    }
    if (count) {
        struct raft_entry *list = raft_calloc(count, sizeof *list);
        unsigned char *batch = raft_malloc(bytes ? bytes : 1);
        if (!list || !batch) {
            raft_free(list);
            raft_free(batch);
            mdb_cursor_close(cursor);
            return ENOMEM;
        }
        size_t i = 0, at = 0;
        for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT, i++) {
            const unsigned char *p = v.mv_data;
            size_t len = v.mv_size - KP_RAFT_ENTRY_HEAD;
            list[i].term = kp_be64_get(p);
            list[i].type = kp_be16_get(p + 8);
            list[i].buf.base = batch + at;
            list[i].buf.len = len;
            list[i].batch = batch;
            memcpy(batch + at, p + KP_RAFT_ENTRY_HEAD, len);
            at += len;
        }
        *entries = list;
        *n_entries = count;
    }
    mdb_cursor_close(cursor);
    return 0;
}

int kp_raftstore_load(kp_raftstore_t *self, raft_term *term, raft_id *vote,
                      struct raft_snapshot **snapshot, raft_index *start_index,
                      struct raft_entry **entries, size_t *n_entries, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_lmdb(rc, "begin", err, errlen);
    *term = s_meta_u64(self, txn, "term");
    *vote = s_meta_u64(self, txn, "vote");
    if (s_snapshot_read(self, txn, snapshot, err, errlen)) {
        mdb_txn_abort(txn);
        return -1;
    }
    *start_index = *snapshot ? (*snapshot)->index + 1 : 1;
    raft_index first = *start_index;
    rc = s_load_entries(self, txn, &first, entries, n_entries);
    mdb_txn_abort(txn);
    if (rc) {
        kp_raftstore_snapshot_free(snapshot);
        return s_lmdb(rc, "load", err, errlen);
    }
    //  Trailing entries kept after a snapshot come before its index + 1.
    if (*n_entries)
        *start_index = first;
    return 0;
}

int kp_raftstore_bootstrap(kp_raftstore_t *self, const struct raft_configuration *conf, char *err,
                           size_t errlen)
{
    if (!kp_raftstore_pristine(self)) {
        snprintf(err, errlen, "raft store: cannot bootstrap, it holds state already");
        return -1;
    }
    struct raft_entry entry = {.term = 1, .type = RAFT_CHANGE};
    if (raft_configuration_encode(conf, &entry.buf)) {
        snprintf(err, errlen, "raft store: cannot encode the configuration");
        return -1;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = s_meta_put_u64(self, txn, "term", 1);
        if (rc == 0)
            rc = s_meta_put_u64(self, txn, "vote", 0);
        if (rc == 0)
            rc = s_put_entry(self, txn, 1, &entry);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    raft_free(entry.buf.base);
    if (rc == 0) {
        self->first = 1;
        self->next = 2;
    }
    return s_lmdb(rc, "bootstrap", err, errlen);
}
