/*  logindex.c - the LMDB query index of the privacy log. */
#include <errno.h>
#include <stdlib.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "byteorder.h"
#include "kperr.h"
#include "logindex.h"

#define S_TEXT_MAX 400 //  LMDB keys are at most 511 bytes
#define S_KEY_MAX (1 + S_TEXT_MAX + 1 + 16)

//  One pending entry of a write batch: key and 16-byte value in the arena.
typedef struct {
    size_t off;
    uint32_t key_len;
} s_item_t;

struct _kp_logindex_t {
    //  Entries wait here until commit, which sorts them and puts them
    //  with one cursor in key order: neighbouring keys share pages, so
    //  LMDB mostly skips the descent from the root and touches each page
    //  once per batch rather than once per entry.
    uint8_t *arena;
    size_t arena_len, arena_cap;
    s_item_t *items;
    size_t n_items, items_cap;
    MDB_env *env;
    MDB_dbi idx;
    MDB_dbi meta;
    MDB_txn *txn; //  the open write transaction, if any
    bool readonly;
    char error[256];
};

static int s_fail(kp_logindex_t *self, const char *what, int rc)
{
    kp_err(self->error, sizeof self->error, "log index: %s: %s", what, mdb_strerror(rc));
    return -1;
}

//  Writes tag|text|0 into key and returns its length, or 0 if text is
//  missing or too long to index.
static size_t s_prefix(uint8_t *key, char tag, const char *text)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > S_TEXT_MAX)
        return 0;
    key[0] = (uint8_t)tag;
    memcpy(key + 1, text, len);
    key[1 + len] = 0;
    return len + 2;
}

kp_logindex_t *kp_logindex_open(const char *path, bool readonly, uint64_t map_size, char *error)
{
    if (!readonly && mkdir(path, 0700) && errno != EEXIST) {
        snprintf(error, 256, "cannot make index folder %s: %s", path, strerror(errno));
        return NULL;
    }
    kp_logindex_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, 256, "out of memory");
        return NULL;
    }
    self->readonly = readonly;
    int rc = mdb_env_create(&self->env);
    if (!rc)
        rc = mdb_env_set_mapsize(self->env, map_size ? map_size : (uint64_t)1 << 40);
    if (!rc)
        rc = mdb_env_set_maxdbs(self->env, 4);
    if (!rc)
        rc = mdb_env_open(self->env, path, (readonly ? MDB_RDONLY : 0) | MDB_NOSYNC | MDB_NOTLS,
                          0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(self->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "idx", readonly ? 0 : MDB_CREATE, &self->idx);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", readonly ? 0 : MDB_CREATE, &self->meta);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        snprintf(error, 256, "cannot open log index %s: %s%s", path, mdb_strerror(rc),
                 rc == MDB_NOTFOUND ? " (no index yet: open the log once to build it)" : "");
        if (txn)
            mdb_txn_abort(txn);
        mdb_env_close(self->env);
        free(self);
        return NULL;
    }
    return self;
}

void kp_logindex_destroy(kp_logindex_t **self_p)
{
    if (!*self_p)
        return;
    kp_logindex_t *self = *self_p;
    if (self->txn)
        mdb_txn_abort(self->txn);
    if (!self->readonly)
        mdb_env_sync(self->env, 1);
    mdb_env_close(self->env);
    free(self->arena);
    free(self->items);
    free(self);
    *self_p = NULL;
}

int kp_logindex_position(kp_logindex_t *self, uint64_t *seq, uint64_t *segment, uint64_t *offset)
{
    *seq = *segment = *offset = 0;
    MDB_txn *txn = self->txn;
    int rc = 0;
    if (!txn && (rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn)))
        return s_fail(self, "begin", rc);
    MDB_val k = {4, (void *)"upto"}, v;
    rc = mdb_get(txn, self->meta, &k, &v);
    if (!rc && v.mv_size == 24) {
        *seq = kp_be64_get(v.mv_data);
        *segment = kp_be64_get((uint8_t *)v.mv_data + 8);
        *offset = kp_be64_get((uint8_t *)v.mv_data + 16);
    }
    if (txn != self->txn)
        mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND)
        return s_fail(self, "read position", rc);
    return 0;
}

int kp_logindex_begin(kp_logindex_t *self)
{
    if (self->txn)
        return 0;
    int rc = mdb_txn_begin(self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_fail(self, "begin", rc);
    }
    return 0;
}

static int s_put(kp_logindex_t *self, uint8_t *key, size_t prefix, uint64_t time_us, uint64_t seq,
                 const uint8_t value[16])
{
    kp_be64_put(key + prefix, time_us);
    kp_be64_put(key + prefix + 8, seq);
    size_t key_len = prefix + 16;
    if (self->arena_len + key_len + 16 > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap * 2 : 1 << 20;
        uint8_t *arena = realloc(self->arena, cap);
        if (!arena)
            return s_fail(self, "batch", ENOMEM);
        self->arena = arena;
        self->arena_cap = cap;
    }
    if (self->n_items == self->items_cap) {
        size_t cap = self->items_cap ? self->items_cap * 2 : 1 << 14;
        s_item_t *items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return s_fail(self, "batch", ENOMEM);
        self->items = items;
        self->items_cap = cap;
    }
    s_item_t *item = &self->items[self->n_items++];
    item->off = self->arena_len;
    item->key_len = (uint32_t)key_len;
    memcpy(self->arena + self->arena_len, key, key_len);
    memcpy(self->arena + self->arena_len + key_len, value, 16);
    self->arena_len += key_len + 16;
    return 0;
}

//  LMDB's default order: bytes, then the shorter key first.
static int s_item_cmp_r(const void *a, const void *b, void *arena)
{
    const s_item_t *x = a, *y = b;
    uint32_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp((uint8_t *)arena + x->off, (uint8_t *)arena + y->off, n);
    return c ? c : (int)x->key_len - (int)y->key_len;
}

static void s_batch_clear(kp_logindex_t *self)
{
    self->n_items = 0;
    self->arena_len = 0;
}

//  Puts the batch in key order through one cursor.
static int s_batch_put(kp_logindex_t *self)
{
    if (!self->n_items)
        return 0;
    qsort_r(self->items, self->n_items, sizeof *self->items, s_item_cmp_r, self->arena);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(self->txn, self->idx, &cur);
    for (size_t i = 0; i < self->n_items && !rc; i++) {
        s_item_t *item = &self->items[i];
        MDB_val k = {item->key_len, self->arena + item->off};
        MDB_val v = {16, self->arena + item->off + item->key_len};
        rc = mdb_cursor_put(cur, &k, &v, 0);
    }
    if (cur)
        mdb_cursor_close(cur);
    s_batch_clear(self);
    return rc ? s_fail(self, "put", rc) : 0;
}

int kp_logindex_add(kp_logindex_t *self, const Kp__LogRecord *record, uint64_t seq,
                    uint64_t segment, uint64_t offset)
{
    if (!self->txn && kp_logindex_begin(self))
        return -1;
    uint8_t key[S_KEY_MAX], value[16];
    kp_be64_put(value, segment);
    kp_be64_put(value + 8, offset);
    uint64_t t = record->time_unix_us;
    size_t n;
    if ((n = s_prefix(key, KP_LOGINDEX_PERSON, record->person)) &&
        s_put(self, key, n, t, seq, value))
        return -1;
    if ((n = s_prefix(key, KP_LOGINDEX_MESSAGE, record->message)) &&
        s_put(self, key, n, t, seq, value))
        return -1;
    if ((n = s_prefix(key, KP_LOGINDEX_INSTITUTION, record->sender_kbo)) &&
        s_put(self, key, n, t, seq, value))
        return -1;
    for (size_t i = 0; i < record->n_parts; i++) {
        const char *kbo = record->parts[i]->kbo;
        bool seen = record->sender_kbo && kbo && !strcmp(kbo, record->sender_kbo);
        for (size_t j = 0; j < i && !seen; j++)
            seen = kbo && record->parts[j]->kbo && !strcmp(kbo, record->parts[j]->kbo);
        if (!seen && (n = s_prefix(key, KP_LOGINDEX_INSTITUTION, kbo)) &&
            s_put(self, key, n, t, seq, value))
            return -1;
    }
    return 0;
}

int kp_logindex_set_position(kp_logindex_t *self, uint64_t seq, uint64_t segment, uint64_t offset)
{
    if (!self->txn && kp_logindex_begin(self))
        return -1;
    uint8_t value[24];
    kp_be64_put(value, seq);
    kp_be64_put(value + 8, segment);
    kp_be64_put(value + 16, offset);
    MDB_val k = {4, (void *)"upto"}, v = {24, value};
    int rc = mdb_put(self->txn, self->meta, &k, &v, 0);
    return rc ? s_fail(self, "set position", rc) : 0;
}

int kp_logindex_commit(kp_logindex_t *self)
{
    if (!self->txn)
        return 0;
    if (s_batch_put(self)) {
        kp_logindex_abort(self);
        return -1;
    }
    int rc = mdb_txn_commit(self->txn);
    self->txn = NULL;
    return rc ? s_fail(self, "commit", rc) : 0;
}

void kp_logindex_abort(kp_logindex_t *self)
{
    s_batch_clear(self);
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
}

int kp_logindex_sync(kp_logindex_t *self)
{
    int rc = mdb_env_sync(self->env, 1);
    return rc ? s_fail(self, "sync", rc) : 0;
}

int64_t kp_logindex_query(kp_logindex_t *self, char tag, const char *text, uint64_t from_us,
                          uint64_t to_us, kp_logindex_fn *fn, void *arg)
{
    uint8_t key[S_KEY_MAX];
    size_t n = s_prefix(key, tag, text);
    if (!n)
        return 0;
    kp_be64_put(key + n, from_us);
    kp_be64_put(key + n + 8, 0);
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail(self, "begin", rc);
    if ((rc = mdb_cursor_open(txn, self->idx, &cur))) {
        mdb_txn_abort(txn);
        return s_fail(self, "cursor", rc);
    }
    MDB_val k = {n + 16, key}, v;
    int64_t count = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != n + 16 || memcmp(k.mv_data, key, n) || v.mv_size != 16)
            break;
        const uint8_t *p = k.mv_data;
        if (kp_be64_get(p + n) > to_us)
            break;
        count++;
        if (fn(kp_be64_get(p + n + 8), kp_be64_get(v.mv_data),
               kp_be64_get((uint8_t *)v.mv_data + 8), arg))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND)
        return s_fail(self, "query", rc);
    return count;
}

int kp_logindex_drop(kp_logindex_t *self, uint64_t low, uint64_t high)
{
    if (kp_logindex_begin(self))
        return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(self->txn, self->idx, &cur);
    if (rc) {
        kp_logindex_abort(self);
        return s_fail(self, "cursor", rc);
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq = k.mv_size >= 16 ? kp_be64_get((uint8_t *)k.mv_data + k.mv_size - 8) : 0;
        if (seq >= low && seq <= high && (rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        kp_logindex_abort(self);
        return s_fail(self, "drop", rc);
    }
    return kp_logindex_commit(self);
}

const char *kp_logindex_error(kp_logindex_t *self)
{
    return self->error;
}
