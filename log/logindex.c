/*  logindex.c - the LMDB query index of the privacy log; see logindex.h.

    Sizes, at 1.8 billion records a year: a record costs an 18-byte entry
    in a run of people, one 8-byte value under each of its other keys
    (message type, sender, each other institution) and 4 bytes in its
    position block: 48 bytes in logbench, where the first layout (a key of
    tag|text|time|seq and a 16-byte value per key and record) cost 413,
    and people under keys of their own 68-83 (pages copied by commits).
*/
#include <errno.h>
#include <stddef.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "kperr.h"
#include "logindex.h"
#include "logruns.h"

#define S_TEXT_MAX 400 //  LMDB keys are at most 511 bytes
#define S_KEY_MAX (1 + 2 + S_TEXT_MAX + 1)
#define S_FORMAT 4    //  meta "format": this layout
#define S_SEQ_BITS 40 //  a trillion records
#define S_BUCKET_SHIFT KP_LOGINDEX_BUCKET_SHIFT
#define S_BUCKET_MASK ((1u << S_BUCKET_SHIFT) - 1)
#define S_BLOCK_SHIFT 8 //  256 records per position block
#define S_BLOCK (1u << S_BLOCK_SHIFT)
#define S_POS_VALUE (16 + 4 * S_BLOCK) //  segment, latest time so far, offsets

//  One key of the batch: its bytes in the arena, and how many of the
//  batch's values are under it (next: where the next one goes, at commit).
typedef struct {
    uint64_t hash;
    uint32_t off, count, next;
    uint16_t len;
} s_key_t;

//  One value of the batch, and its key (an index into keys).
typedef struct {
    uint64_t value;
    uint32_t key;
} s_item_t;

struct _kp_logindex_t {
    //  Entries wait here until commit, grouped by key through a hash
    //  table (few keys: institutions and message types), which puts each
    //  key's new values in key order with one call (MDB_MULTIPLE),
    //  appended at the end of its posting list (MDB_APPENDDUP): pages are
    //  filled, not split.
    uint8_t *arena;
    size_t arena_len, arena_cap;
    s_key_t *keys;
    size_t n_keys, keys_cap;
    uint32_t *slots; //  the hash table: key index + 1, 0 for none
    size_t slots_cap;
    s_item_t *items;
    size_t n_items, items_cap;
    uint64_t *grouped; //  the values grouped by key, at commit
    uint32_t *order;   //  the keys in LMDB's order, at commit
    uint8_t *values;   //  one key's values, big-endian, for MDB_MULTIPLE
    size_t values_cap;
    //  The position block being filled: offsets of records block*256+i.
    uint64_t block;         //  its number; UINT64_MAX: none
    uint64_t block_segment; //  the segment of its first record
    uint64_t last_segment;  //  the segment of its last record
    uint64_t block_latest;  //  the latest time (s) of its records and all before
    uint32_t offsets[S_BLOCK];
    bool block_dirty;
    MDB_env *env;
    MDB_dbi idx;                //  (tag, bucket, key) -> seq|time values, dupsort dupfixed
    MDB_dbi runs_db, people_db; //  the people, in sorted runs (logruns.h)
    kp_logruns_t *runs;
    uint64_t batch_lo, batch_hi; //  the seqs of the batch's records
    MDB_dbi pos;                 //  block number -> first segment, 256 offsets
    MDB_dbi out;                 //  decision block -> (decision % 256, outcome seq) values
    MDB_dbi meta;                //  "upto" position, "format"
    //  OUTCOME records of the batch: decision block, value (see s_out_value).
    uint64_t *outs;
    size_t n_outs, outs_cap;
    MDB_txn *txn; //  the open write transaction, if any
    bool readonly;
    char path[4096];
    char error[256];
};

static int s_fail(kp_logindex_t *self, const char *what, int rc)
{
    kp_err(self->error, sizeof self->error, "log index: %s: %s", what, mdb_strerror(rc));
    return -1;
}

//  An identifier of up to 19 digits (INSZ: 11, KBO: 10) is its number;
//  anything else is text.
static bool s_number(const char *text, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *out = v;
    return true;
}

//  Writes the key of (tag, text) in bucket and returns its length, or 0
//  if text is missing or too long to index: the tag, the bucket (so that
//  old buckets are dropped without reading new ones), the identifier.
//  Numbers keep the tag and take 8 bytes; text keys get the tag in lower
//  case (so the two never meet) and end with a 0.
static size_t s_key_len(uint8_t *key, char tag, const char *text, size_t len, uint16_t bucket)
{
    uint64_t number;
    if (len == 0 || len > S_TEXT_MAX || memchr(text, 0, len))
        return 0;
    kp_be16_put(key + 1, bucket);
    if (tag != KP_LOGINDEX_MESSAGE && len > 1 && text[0] != '0' && s_number(text, len, &number)) {
        key[0] = (uint8_t)tag;
        kp_be64_put(key + 3, number);
        return 11;
    }
    if (tag != KP_LOGINDEX_MESSAGE && len > 1 && len < 18 && s_number(text, len, &number)) {
        //  Leading zeros (a KBO starts with 0 or 1): the digit count keeps
        //  "0123" and "123" apart.
        key[0] = (uint8_t)(tag + 1);
        kp_be64_put(key + 3, number | (uint64_t)len << 59);
        return 11;
    }
    key[0] = (uint8_t)(tag | 0x20);
    memcpy(key + 3, text, len);
    key[3 + len] = 0;
    return len + 4;
}

//  A person of 1 to 18 digits as one word, as the runs keep it (other
//  people are kept under the keys): the number, or with leading zeros,
//  the number with its length above it. Distinct texts, distinct words.
static bool s_person_word(const char *text, size_t len, uint64_t *word)
{
    uint64_t n;
    if (len > 18 || !s_number(text, len, &n))
        return false;
    *word = text[0] == '0' && len > 1 ? 1ull << 63 | (uint64_t)len << 57 | n : n;
    return true;
}

static uint16_t s_bucket(uint64_t time_us)
{
    uint64_t b = time_us / 1000000 >> S_BUCKET_SHIFT;
    return b > 0xFFFF ? 0xFFFF : (uint16_t)b;
}

static uint64_t s_value(uint64_t seq, uint64_t time_us)
{
    uint64_t in_bucket = (time_us / 1000000) & S_BUCKET_MASK;
    return seq << (64 - S_SEQ_BITS) | in_bucket << 2;
}

static uint64_t s_value_seq(uint64_t value)
{
    return value >> (64 - S_SEQ_BITS);
}

//  Seconds into the bucket.
static uint64_t s_value_secs(uint64_t value)
{
    return (value >> 2) & S_BUCKET_MASK;
}

// ---------------------------------------------------------------------------
// Open and close

//  The format the index was written in: 0 when it has none (new, or
//  older than format 2), -1 on an error.
static int64_t s_format(kp_logindex_t *self, MDB_txn *txn)
{
    MDB_val k = {6, (void *)"format"}, v;
    int rc = mdb_get(txn, self->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc || v.mv_size != 8 ? -1 : (int64_t)kp_be64_get(v.mv_data);
}

//  Opens the tables. A writer that finds an index of another format drops
//  what it holds (and the tables of older layouts) and marks it empty: the
//  catch-up that follows any open rebuilds it from the log. A reader
//  refuses it (MDB_INCOMPATIBLE) until a writer has done so.
static int s_open_dbs(kp_logindex_t *self, MDB_txn *txn)
{
    unsigned create = self->readonly ? 0 : MDB_CREATE;
    int rc = mdb_dbi_open(txn, "meta", create, &self->meta);
    if (!rc)
        rc = mdb_dbi_open(txn, "keys", create | MDB_DUPSORT | MDB_DUPFIXED, &self->idx);
    if (!rc)
        rc = mdb_dbi_open(txn, "pos", create, &self->pos);
    if (!rc)
        rc = mdb_dbi_open(txn, "out", create | MDB_DUPSORT | MDB_DUPFIXED, &self->out);
    if (!rc)
        rc = mdb_dbi_open(txn, "runs", create, &self->runs_db);
    if (!rc)
        rc = mdb_dbi_open(txn, "people", create, &self->people_db);
    int64_t format = rc ? -1 : s_format(self, txn);
    if (rc || format == S_FORMAT)
        return rc;
    if (self->readonly || format < 0)
        return format < 0 ? MDB_CORRUPTED : MDB_INCOMPATIBLE;
    const char *old[] = {"idx", "idx2"};
    for (size_t i = 0; i < sizeof old / sizeof *old && !rc; i++) {
        MDB_dbi dbi;
        if (mdb_dbi_open(txn, old[i], 0, &dbi) == 0)
            rc = mdb_drop(txn, dbi, 1);
    }
    MDB_dbi tables[] = {self->idx, self->pos, self->out, self->runs_db, self->people_db};
    for (size_t i = 0; i < sizeof tables / sizeof *tables && !rc; i++)
        rc = mdb_drop(txn, tables[i], 0);
    MDB_val upto = {4, (void *)"upto"};
    if (!rc && (rc = mdb_del(txn, self->meta, &upto, NULL)) == MDB_NOTFOUND)
        rc = 0;
    uint8_t value[8];
    kp_be64_put(value, S_FORMAT);
    MDB_val k = {6, (void *)"format"}, v = {8, value};
    return rc ? rc : mdb_put(txn, self->meta, &k, &v, 0);
}

static kp_logindex_t *s_open(const char *path, bool readonly, uint64_t map_size, int *code,
                             char *err, size_t errlen);

//  A damaged index is no loss: the log holds the truth. A writer removes
//  it and makes it anew, and the catch-up that follows every open (see
//  kp_privlog_index_run) fills it from the segments.
kp_logindex_t *kp_logindex_open(const char *path, bool readonly, uint64_t map_size, char *err,
                                size_t errlen)
{
    int code = 0;
    kp_logindex_t *self = s_open(path, readonly, map_size, &code, err, errlen);
    if (!self && !readonly &&
        (code == MDB_CORRUPTED || code == MDB_INVALID || code == MDB_VERSION_MISMATCH ||
         code == MDB_PAGE_NOTFOUND) &&
        kp_logindex_remove(path, err, errlen) == 0)
        self = s_open(path, readonly, map_size, &code, err, errlen);
    return self;
}

//  Opens (creating unless readonly) the LMDB environment in path and its
//  tables. NULL with err, and *code the LMDB error so that the caller can
//  rebuild an index that cannot be read.
static kp_logindex_t *s_open(const char *path, bool readonly, uint64_t map_size, int *code,
                             char *err, size_t errlen)
{
    if (!readonly && mkdir(path, 0700) && errno != EEXIST) {
        kp_err(err, errlen, "cannot make index folder %s: %s", path, strerror(errno));
        return NULL;
    }
    kp_logindex_t *self = calloc(1, sizeof *self);
    if (!self) {
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    self->readonly = readonly;
    self->block = UINT64_MAX;
    snprintf(self->path, sizeof self->path, "%s", path);
    //  MDB_NOMETASYNC, not MDB_NOSYNC: each commit syncs its pages, and
    //  only the meta page may lag, so a crash of the machine loses at most
    //  the last commit and never leaves a torn tree. Commits are batches
    //  of many thousand records: the sync costs nothing per record.
    int rc = mdb_env_create(&self->env);
    if (!rc)
        rc = mdb_env_set_mapsize(self->env, map_size ? map_size : (uint64_t)1 << 40);
    if (!rc)
        rc = mdb_env_set_maxdbs(self->env, 8);
    if (!rc)
        rc = mdb_env_open(self->env, path, (readonly ? MDB_RDONLY : 0) | MDB_NOMETASYNC | MDB_NOTLS,
                          0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(self->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (!rc)
        rc = s_open_dbs(self, txn);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (!rc && !(self->runs = kp_logruns_new(self->runs_db, self->people_db)))
        rc = ENOMEM;
    if (rc) {
        *code = rc;
        kp_err(err, errlen, "cannot open log index %s: %s%s", path, mdb_strerror(rc),
               rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE
                   ? " (no index yet, or an older one: open the log once, or "
                     "run kpctl log reindex)"
                   : "");
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
    free(self->keys);
    free(self->slots);
    free(self->items);
    free(self->grouped);
    free(self->order);
    free(self->values);
    free(self->outs);
    kp_logruns_destroy(&self->runs);
    free(self);
    *self_p = NULL;
}

int kp_logindex_remove(const char *path, char *err, size_t errlen)
{
    char file[4200];
    const char *names[] = {"data.mdb", "lock.mdb"};
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        if (unlink(file) && errno != ENOENT)
            return kp_err(err, errlen, "cannot remove %s: %s", file, strerror(errno)), -1;
    }
    return 0;
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
    self->batch_lo = self->batch_hi = 0;
    //  Another process may have changed the runs since our last commit.
    if ((rc = kp_logruns_load(self->runs, self->txn))) {
        mdb_txn_abort(self->txn);
        self->txn = NULL;
        return s_fail(self, "runs", rc);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Position blocks: where each record is, 4 bytes a record. A block holds
// the segment of its first record and the offsets of 256 records (0: not
// there). Offsets grow within a segment; where one does not, the record
// starts a new segment, whose number is that record's seq.

//  The segment of entry i of a loaded block, or 0 if it is not there.
static uint64_t s_block_segment(const uint32_t *offsets, uint64_t block, uint64_t first_segment,
                                size_t i)
{
    if (!offsets[i])
        return 0;
    uint64_t segment = first_segment;
    uint32_t prev = 0;
    for (size_t j = 0; j <= i; j++) {
        if (!offsets[j])
            continue;
        if (prev && offsets[j] <= prev)
            segment = (block << S_BLOCK_SHIFT) + j;
        prev = offsets[j];
    }
    return segment;
}

static int s_block_load(kp_logindex_t *self, MDB_txn *txn, uint64_t block)
{
    memset(self->offsets, 0, sizeof self->offsets);
    self->block = block;
    self->block_segment = 0;
    self->block_latest = 0;
    self->block_dirty = false;
    uint8_t key[8];
    kp_be64_put(key, block);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, self->pos, &k, &v);
    if (rc == MDB_NOTFOUND) {
        //  A new block starts from the latest time of the last one.
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, self->pos, &cur)))
            return rc;
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (!rc && v.mv_size == S_POS_VALUE)
            self->block_latest = kp_be64_get((uint8_t *)v.mv_data + 8);
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc)
        return rc;
    if (v.mv_size != S_POS_VALUE)
        return MDB_CORRUPTED;
    self->block_segment = kp_be64_get(v.mv_data);
    self->block_latest = kp_be64_get((uint8_t *)v.mv_data + 8);
    size_t last = 0;
    for (size_t i = 0; i < S_BLOCK; i++)
        if ((self->offsets[i] = kp_be32_get((uint8_t *)v.mv_data + 16 + 4 * i)))
            last = i;
    self->last_segment = s_block_segment(self->offsets, block, self->block_segment, last);
    return 0;
}

static int s_block_store(kp_logindex_t *self)
{
    if (!self->block_dirty)
        return 0;
    uint8_t key[8];
    kp_be64_put(key, self->block);
    MDB_val k = {8, key}, v = {S_POS_VALUE, NULL};
    //  A new block goes after the last one: appended, so that pages fill
    //  up (three blocks each) instead of splitting in halves.
    int rc = mdb_put(self->txn, self->pos, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(self->txn, self->pos, &k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    kp_be64_put(v.mv_data, self->block_segment);
    kp_be64_put((uint8_t *)v.mv_data + 8, self->block_latest);
    for (size_t i = 0; i < S_BLOCK; i++)
        kp_be32_put((uint8_t *)v.mv_data + 16 + 4 * i, self->offsets[i]);
    self->block_dirty = false;
    return 0;
}

//  Records where record seq lies (segment, offset) in its block of
//  positions, and its time in the block's latest. 0, or -1 with self->error.
static int s_position_add(kp_logindex_t *self, uint64_t seq, uint64_t segment, uint64_t offset,
                          uint64_t time_us)
{
    if (offset == 0 || offset > UINT32_MAX) {
        kp_err(self->error, sizeof self->error,
               "log index: record %llu at offset %llu: segments of 4 GiB and more cannot be "
               "indexed (lower segment_max)",
               (unsigned long long)seq, (unsigned long long)offset);
        return -1;
    }
    uint64_t block = seq >> S_BLOCK_SHIFT;
    size_t i = seq & (S_BLOCK - 1);
    if (block != self->block) {
        int rc = s_block_store(self);
        if (!rc)
            rc = s_block_load(self, self->txn, block);
        if (rc)
            return s_fail(self, "positions", rc);
    }
    //  The rule of s_block_segment must give back the segment we were
    //  told: the same as the record before, at a greater offset, or a new
    //  one that starts with this record. Records come in seq order, so
    //  the record before is the block's last one so far.
    size_t before = i;
    while (before > 0 && !self->offsets[before - 1])
        before--;
    bool first = before == 0;
    if (first)
        self->block_segment = segment;
    uint64_t prev_segment = first ? segment : self->last_segment;
    uint32_t prev = first ? 0 : self->offsets[before - 1];
    bool fits =
        segment == prev_segment ? !prev || offset > prev : segment == seq && prev && offset <= prev;
    self->offsets[i] = (uint32_t)offset;
    if (time_us / 1000000 > self->block_latest)
        self->block_latest = time_us / 1000000;
    self->block_dirty = true;
    self->last_segment = segment;
    if (!fits || (i + 1 < S_BLOCK && self->offsets[i + 1])) {
        kp_err(self->error, sizeof self->error,
               "log index: record %llu: segment %llu does not follow from the records before",
               (unsigned long long)seq, (unsigned long long)segment);
        return -1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Adding

static uint64_t s_hash(const uint8_t *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; //  FNV-1a
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return h;
}

//  Grows the hash table to cap slots and puts the keys in again.
static int s_rehash(kp_logindex_t *self, size_t cap)
{
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ENOMEM;
    for (size_t k = 0; k < self->n_keys; k++) {
        size_t i = self->keys[k].hash & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)k + 1;
    }
    free(self->slots);
    self->slots = slots;
    self->slots_cap = cap;
    return 0;
}

//  The index of key in the batch's keys, added if new; -1 (ENOMEM).
static int64_t s_key_find(kp_logindex_t *self, const uint8_t *key, size_t len)
{
    if ((self->n_keys + 1) * 2 > self->slots_cap &&
        s_rehash(self, self->slots_cap ? self->slots_cap * 2 : 1024))
        return -1;
    uint64_t hash = s_hash(key, len);
    size_t i = hash & (self->slots_cap - 1);
    for (; self->slots[i]; i = (i + 1) & (self->slots_cap - 1)) {
        const s_key_t *k = &self->keys[self->slots[i] - 1];
        if (k->hash == hash && k->len == len && !memcmp(self->arena + k->off, key, len))
            return self->slots[i] - 1;
    }
    if (self->arena_len + len > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap * 2 : 1 << 16;
        uint8_t *arena = realloc(self->arena, cap);
        if (!arena)
            return -1;
        self->arena = arena;
        self->arena_cap = cap;
    }
    if (self->n_keys == self->keys_cap) {
        size_t cap = self->keys_cap ? self->keys_cap * 2 : 1024;
        s_key_t *keys = realloc(self->keys, cap * sizeof *keys);
        if (!keys)
            return -1;
        self->keys = keys;
        self->keys_cap = cap;
    }
    self->keys[self->n_keys] =
        (s_key_t){.hash = hash, .off = (uint32_t)self->arena_len, .len = (uint16_t)len};
    memcpy(self->arena + self->arena_len, key, len);
    self->arena_len += len;
    self->slots[i] = (uint32_t)++self->n_keys;
    return (int64_t)self->n_keys - 1;
}

static int s_put(kp_logindex_t *self, const uint8_t *key, size_t key_len, uint64_t value)
{
    int64_t k = s_key_find(self, key, key_len);
    if (k < 0)
        return s_fail(self, "batch", ENOMEM);
    if (self->n_items == self->items_cap) {
        size_t cap = self->items_cap ? self->items_cap * 2 : 1 << 14;
        s_item_t *items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return s_fail(self, "batch", ENOMEM);
        self->items = items;
        self->items_cap = cap;
    }
    self->items[self->n_items++] = (s_item_t){.value = value, .key = (uint32_t)k};
    self->keys[k].count++;
    return 0;
}

static int s_add_key_len(kp_logindex_t *self, char tag, const char *text, size_t len,
                         uint16_t bucket, uint64_t value)
{
    uint8_t key[S_KEY_MAX];
    uint64_t word;
    if (text && tag == KP_LOGINDEX_PERSON && s_person_word(text, len, &word)) {
        int rc = kp_logruns_add(self->runs, word, bucket, value);
        return rc ? s_fail(self, "batch", rc) : 0;
    }
    size_t n = text ? s_key_len(key, tag, text, len, bucket) : 0;
    return n ? s_put(self, key, n, value) : 0;
}

// ---------------------------------------------------------------------------
// Reading the keys of a record from its protobuf encoding, without
// unpacking it (no allocation): what the catch-up does for each record,
// at a fraction of protobuf-c's cost. Field numbers: LogRecord in
// proto/kruispunt.proto.

enum {
    S_F_TIME = 2,
    S_F_MESSAGE = 3,
    S_F_SENDER = 5,
    S_F_PERSON = 9,
    S_F_PARTS = 13,
    S_F_KIND = 17,
    S_F_DECISION = 18
};
#define S_MAX_PARTS 64

typedef struct {
    const char *text;
    size_t len;
} s_text_t;

typedef struct {
    uint64_t time_us;
    uint64_t kind, decision_seq; //  an OUTCOME (kind 2) names its DECISION
    s_text_t message, sender, person;
    s_text_t parts[S_MAX_PARTS];
    size_t n_parts;
} s_keys_t;

static bool s_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

//  Steps over one field of wire type wire. False if it does not fit.
static bool s_skip(const uint8_t **p, const uint8_t *end, unsigned wire)
{
    uint64_t n;
    switch (wire) {
    case 0:
        return s_varint(p, end, &n);
    case 1:
        n = 8;
        break;
    case 5:
        n = 4;
        break;
    case 2:
        if (!s_varint(p, end, &n))
            return false;
        break;
    default:
        return false;
    }
    if (n > (uint64_t)(end - *p))
        return false;
    *p += n;
    return true;
}

//  The first kbo (field 1) of a LogPart.
static bool s_part_kbo(const uint8_t *p, const uint8_t *end, s_text_t *kbo)
{
    kbo->text = NULL;
    while (p < end) {
        uint64_t tag, n;
        if (!s_varint(&p, end, &tag))
            return false;
        if (tag == (1 << 3 | 2)) {
            if (!s_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return false;
            kbo->text = (const char *)p, kbo->len = (size_t)n;
            p += n;
        } else if (!s_skip(&p, end, tag & 7))
            return false;
    }
    return true;
}

//  0, 1 when the record cannot be read this way (let protobuf-c judge).
static int s_keys(const uint8_t *p, size_t len, s_keys_t *k)
{
    const uint8_t *end = p + len;
    memset(k, 0, offsetof(s_keys_t, parts));
    k->n_parts = 0;
    while (p < end) {
        uint64_t tag, n;
        if (!s_varint(&p, end, &tag))
            return 1;
        unsigned field = (unsigned)(tag >> 3), wire = tag & 7;
        if ((field == S_F_TIME || field == S_F_KIND || field == S_F_DECISION) && wire == 0) {
            if (!s_varint(&p, end,
                          field == S_F_TIME   ? &k->time_us
                          : field == S_F_KIND ? &k->kind
                                              : &k->decision_seq))
                return 1;
            continue;
        }
        bool text = field == S_F_MESSAGE || field == S_F_SENDER || field == S_F_PERSON ||
                    field == S_F_PARTS;
        if (!text || wire != 2) {
            if (!s_skip(&p, end, wire))
                return 1;
            continue;
        }
        if (!s_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return 1;
        s_text_t t = {(const char *)p, (size_t)n};
        p += n;
        if (field == S_F_PARTS) {
            if (k->n_parts == S_MAX_PARTS)
                return 1;
            if (!s_part_kbo((const uint8_t *)t.text, p, &k->parts[k->n_parts++]))
                return 1;
        } else
            *(field == S_F_MESSAGE  ? &k->message
              : field == S_F_SENDER ? &k->sender
                                    : &k->person) = t;
    }
    return 0;
}

static bool s_text_eq(const s_text_t *a, const s_text_t *b)
{
    return a->text && b->text && a->len == b->len && !memcmp(a->text, b->text, a->len);
}

static int s_position_add(kp_logindex_t *self, uint64_t seq, uint64_t segment, uint64_t offset,
                          uint64_t time_us);

// ---------------------------------------------------------------------------
// Outcomes: table out, key the DECISION's block (seq / 256, u64 BE), values
// u64 BE (decision seq % 256) << 56 | OUTCOME seq, sorted. 8 bytes a call.

static uint64_t s_out_value(uint64_t decision_seq, uint64_t outcome_seq)
{
    return (decision_seq & (S_BLOCK - 1)) << 56 | outcome_seq;
}

static int s_outcome_add(kp_logindex_t *self, uint64_t decision_seq, uint64_t outcome_seq)
{
    if (self->n_outs + 2 > self->outs_cap) {
        size_t cap = self->outs_cap ? self->outs_cap * 2 : 1024;
        uint64_t *outs = realloc(self->outs, cap * sizeof *outs);
        if (!outs)
            return s_fail(self, "batch", ENOMEM);
        self->outs = outs;
        self->outs_cap = cap;
    }
    self->outs[self->n_outs++] = decision_seq >> S_BLOCK_SHIFT;
    self->outs[self->n_outs++] = s_out_value(decision_seq, outcome_seq);
    return 0;
}

static int s_pair_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

//  The batch's outcomes, sorted, appended where they follow the table's
//  last entry (calls end in about the order they began).
static int s_outcomes_put(kp_logindex_t *self)
{
    size_t n = self->n_outs / 2;
    if (!n)
        return 0;
    qsort(self->outs, n, 2 * sizeof *self->outs, s_pair_cmp);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(self->txn, self->out, &cur);
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t key[8], value[8];
        kp_be64_put(key, self->outs[2 * i]);
        kp_be64_put(value, self->outs[2 * i + 1]);
        MDB_val k = {8, key}, v = {8, value};
        rc = mdb_cursor_put(cur, &k, &v, MDB_APPENDDUP);
        if (rc == MDB_KEYEXIST)
            rc = mdb_cursor_put(cur, &k, &v, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST)
            rc = 0;
    }
    if (cur)
        mdb_cursor_close(cur);
    self->n_outs = 0;
    return rc;
}

static bool s_seen(const s_keys_t *k, size_t i)
{
    bool seen = s_text_eq(&k->parts[i], &k->sender);
    for (size_t j = 0; j < i && !seen; j++)
        seen = s_text_eq(&k->parts[i], &k->parts[j]);
    return seen;
}

//  The record's entries: its position, then one value under the person,
//  the message type, the sender and each other institution.
static int s_add_keys(kp_logindex_t *self, const s_keys_t *k, uint64_t seq, uint64_t segment,
                      uint64_t offset)
{
    if (!self->txn && kp_logindex_begin(self))
        return -1;
    if (seq >> S_SEQ_BITS) {
        kp_err(self->error, sizeof self->error, "log index: seq %llu is past 2^40",
               (unsigned long long)seq);
        return -1;
    }
    if (s_position_add(self, seq, segment, offset, k->time_us))
        return -1;
    if (!self->batch_lo)
        self->batch_lo = seq;
    self->batch_hi = seq;
    //  An OUTCOME is found through its DECISION (whose keys it may or may
    //  not repeat), never under keys of its own: one entry per call.
    if (k->kind == KP__LOG_KIND__LOG_OUTCOME && k->decision_seq && k->decision_seq < seq)
        return s_outcome_add(self, k->decision_seq, seq);
    uint64_t value = s_value(seq, k->time_us);
    uint16_t bucket = s_bucket(k->time_us);
    if (s_add_key_len(self, KP_LOGINDEX_PERSON, k->person.text, k->person.len, bucket, value) ||
        s_add_key_len(self, KP_LOGINDEX_MESSAGE, k->message.text, k->message.len, bucket, value) ||
        s_add_key_len(self, KP_LOGINDEX_INSTITUTION, k->sender.text, k->sender.len, bucket, value))
        return -1;
    for (size_t i = 0; i < k->n_parts; i++)
        if (!s_seen(k, i) && s_add_key_len(self, KP_LOGINDEX_INSTITUTION, k->parts[i].text,
                                           k->parts[i].len, bucket, value))
            return -1;
    return 0;
}

int kp_logindex_add_packed(kp_logindex_t *self, const uint8_t *body, size_t len, uint64_t seq,
                           uint64_t segment, uint64_t offset)
{
    s_keys_t k;
    if (s_keys(body, len, &k) == 0)
        return s_add_keys(self, &k, seq, segment, offset);
    Kp__LogRecord *r = kp__log_record__unpack(NULL, len, body);
    int rc = r ? kp_logindex_add(self, r, seq, segment, offset) : 1;
    kp__log_record__free_unpacked(r, NULL);
    return rc;
}

static s_text_t s_text(const char *text)
{
    s_text_t t = {text, text ? strlen(text) : 0};
    return t;
}

int kp_logindex_add(kp_logindex_t *self, const Kp__LogRecord *record, uint64_t seq,
                    uint64_t segment, uint64_t offset)
{
    s_keys_t k = {.time_us = record->time_unix_us,
                  .kind = record->has_kind ? (uint64_t)record->kind : 0,
                  .decision_seq = record->has_decision_seq ? record->decision_seq : 0,
                  .message = s_text(record->message),
                  .sender = s_text(record->sender_kbo),
                  .person = s_text(record->person)};
    k.n_parts = record->n_parts < S_MAX_PARTS ? record->n_parts : S_MAX_PARTS;
    for (size_t i = 0; i < k.n_parts; i++)
        k.parts[i] = s_text(record->parts[i]->kbo);
    if (s_add_keys(self, &k, seq, segment, offset))
        return -1;
    if (k.kind == KP__LOG_KIND__LOG_OUTCOME && k.decision_seq && k.decision_seq < seq)
        return 0;
    //  Parts past S_MAX_PARTS (a node's limits keep calls far smaller).
    for (size_t i = k.n_parts; i < record->n_parts; i++) {
        s_text_t kbo = s_text(record->parts[i]->kbo);
        bool seen = s_text_eq(&kbo, &k.sender);
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(kbo.text ? kbo.text : "",
                           record->parts[j]->kbo ? record->parts[j]->kbo : "");
        uint16_t bucket = s_bucket(k.time_us);
        if (!seen && s_add_key_len(self, KP_LOGINDEX_INSTITUTION, kbo.text, kbo.len, bucket,
                                   s_value(seq, k.time_us)))
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

//  LMDB's default order of keys: bytes, then the shorter first.
static int s_key_cmp_r(const void *a, const void *b, void *arg)
{
    const kp_logindex_t *self = arg;
    const s_key_t *x = &self->keys[*(const uint32_t *)a], *y = &self->keys[*(const uint32_t *)b];
    int c = memcmp(self->arena + x->off, self->arena + y->off, x->len < y->len ? x->len : y->len);
    return c ? c : (int)x->len - (int)y->len;
}

static void s_batch_clear(kp_logindex_t *self)
{
    kp_logruns_clear(self->runs);
    self->n_outs = 0;
    self->n_items = 0;
    self->arena_len = 0;
    self->n_keys = 0;
    if (self->slots)
        memset(self->slots, 0, self->slots_cap * sizeof *self->slots);
}

//  The values of one key, put in one call, appended when they follow the
//  list's last value (always, when records come in seq order).
static int s_put_run(kp_logindex_t *self, MDB_cursor *cur, const s_key_t *key, const uint64_t *run,
                     size_t count)
{
    if (count * 8 > self->values_cap) {
        size_t cap = count * 8 * 2;
        uint8_t *values = realloc(self->values, cap);
        if (!values)
            return ENOMEM;
        self->values = values;
        self->values_cap = cap;
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (i == 0 || run[i] != run[i - 1])
            kp_be64_put(self->values + 8 * n++, run[i]);
    MDB_val k = {key->len, self->arena + key->off};
    MDB_val v[2] = {{8, self->values}, {n, NULL}};
    int rc = mdb_cursor_put(cur, &k, v, MDB_MULTIPLE | MDB_APPENDDUP);
    if (rc == MDB_KEYEXIST) { //  not after the last one: put them in order
        v[0].mv_size = 8;
        v[1].mv_size = n;
        rc = mdb_cursor_put(cur, &k, v, MDB_MULTIPLE);
    }
    return rc == MDB_KEYEXIST ? 0 : rc;
}

//  The batch's values grouped by key (in the order they came: seq
//  order), and the keys sorted: a counting pass, no sort of the values.
static int s_group(kp_logindex_t *self)
{
    free(self->grouped);
    free(self->order);
    self->grouped = malloc(self->n_items * sizeof *self->grouped);
    self->order = malloc(self->n_keys * sizeof *self->order);
    if (!self->grouped || !self->order)
        return ENOMEM;
    for (size_t k = 0; k < self->n_keys; k++)
        self->order[k] = (uint32_t)k;
    qsort_r(self->order, self->n_keys, sizeof *self->order, s_key_cmp_r, self);
    uint32_t at = 0;
    for (size_t k = 0; k < self->n_keys; k++) {
        s_key_t *key = &self->keys[self->order[k]];
        key->next = at;
        at += key->count;
    }
    for (size_t i = 0; i < self->n_items; i++)
        self->grouped[self->keys[self->items[i].key].next++] = self->items[i].value;
    return 0;
}

static int s_batch_put(kp_logindex_t *self)
{
    int rc = s_block_store(self);
    if (!rc)
        rc = s_outcomes_put(self);
    if (!rc)
        rc = kp_logruns_commit(self->runs, self->txn, self->batch_lo, self->batch_hi);
    if (rc || !self->n_items)
        return rc ? s_fail(self, "people", rc) : 0;
    MDB_cursor *cur = NULL;
    rc = s_group(self);
    if (!rc)
        rc = mdb_cursor_open(self->txn, self->idx, &cur);
    for (size_t k = 0; k < self->n_keys && !rc; k++) {
        const s_key_t *key = &self->keys[self->order[k]];
        rc = s_put_run(self, cur, key, self->grouped + key->next - key->count, key->count);
    }
    if (cur)
        mdb_cursor_close(cur);
    s_batch_clear(self);
    return rc ? s_fail(self, "put", rc) : 0;
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
    self->block = UINT64_MAX; //  read again by the next transaction
    return rc ? s_fail(self, "commit", rc) : 0;
}

void kp_logindex_abort(kp_logindex_t *self)
{
    s_batch_clear(self);
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
    self->block = UINT64_MAX;
    self->block_dirty = false;
}

int kp_logindex_sync(kp_logindex_t *self)
{
    int rc = mdb_env_sync(self->env, 1);
    return rc ? s_fail(self, "sync", rc) : 0;
}

// ---------------------------------------------------------------------------
// Queries

typedef struct {
    MDB_txn *txn;
    MDB_cursor *pos;
    uint64_t block, first_segment;
    uint32_t offsets[S_BLOCK];
    bool have_block;
} s_locator_t;

//  Where record seq is: 0, or -1 if the index does not know.
static int s_locate(s_locator_t *loc, uint64_t seq, uint64_t *segment, uint64_t *offset)
{
    uint64_t block = seq >> S_BLOCK_SHIFT;
    if (!loc->have_block || block != loc->block) {
        uint8_t key[8];
        kp_be64_put(key, block);
        MDB_val k = {8, key}, v;
        loc->have_block = false;
        if (mdb_cursor_get(loc->pos, &k, &v, MDB_SET_KEY) || v.mv_size != S_POS_VALUE)
            return -1;
        loc->block = block;
        loc->first_segment = kp_be64_get(v.mv_data);
        for (size_t i = 0; i < S_BLOCK; i++)
            loc->offsets[i] = kp_be32_get((uint8_t *)v.mv_data + 16 + 4 * i);
        loc->have_block = true;
    }
    size_t i = seq & (S_BLOCK - 1);
    *segment = s_block_segment(loc->offsets, block, loc->first_segment, i);
    *offset = loc->offsets[i];
    return *segment ? 0 : -1;
}

//  The first seq that may have a time at or after from_s (UINT64_MAX:
//  none). Each position block keeps the latest time of its records and
//  all before them, which never goes down: every record of the blocks
//  before the first whose latest reaches from_s is older. A binary search
//  over the blocks; a clock set back does not fool it.
static uint64_t s_seq_from(s_locator_t *loc, uint64_t from_s)
{
    MDB_val k, v;
    if (!from_s || mdb_cursor_get(loc->pos, &k, &v, MDB_LAST) || v.mv_size != S_POS_VALUE)
        return 0;
    uint64_t hi = kp_be64_get(k.mv_data);
    if (kp_be64_get((uint8_t *)v.mv_data + 8) < from_s)
        return UINT64_MAX;
    if (mdb_cursor_get(loc->pos, &k, &v, MDB_FIRST))
        return 0;
    uint64_t lo = kp_be64_get(k.mv_data);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint8_t key[8];
        kp_be64_put(key, mid);
        k.mv_size = 8;
        k.mv_data = key;
        if (mdb_cursor_get(loc->pos, &k, &v, MDB_SET_RANGE) || v.mv_size != S_POS_VALUE)
            return 0;
        if (kp_be64_get((uint8_t *)v.mv_data + 8) >= from_s)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo << S_BLOCK_SHIFT;
}

typedef struct {
    s_locator_t *loc;
    uint64_t seq_from, from_s, to_s;
    kp_logindex_fn *fn;
    void *arg;
    int64_t count;
} s_query_t;

//  One value of a posting list: filtered to the window, located, given to
//  the caller's fn (its answer: stop or not).
static int s_query_value(s_query_t *q, uint16_t bucket, uint64_t value)
{
    uint64_t t = ((uint64_t)bucket << S_BUCKET_SHIFT) + s_value_secs(value);
    uint64_t seq = s_value_seq(value), segment, offset;
    if (seq < q->seq_from || t < q->from_s || t > q->to_s ||
        s_locate(q->loc, seq, &segment, &offset))
        return 0;
    q->count++;
    return q->fn(seq, segment, offset, q->arg);
}

static int s_query_run_value(uint16_t bucket, uint64_t value, void *arg)
{
    return s_query_value(arg, bucket, value);
}

//  The values of key (its bucket at key[1]) from q->seq_from on: the page
//  of duplicates holding the first, then the next pages. 1 when fn
//  stopped, 0, or an LMDB error.
static int s_query_key(s_query_t *q, MDB_cursor *cur, uint8_t *key, size_t key_len)
{
    uint8_t at[8];
    kp_be64_put(at, q->seq_from << (64 - S_SEQ_BITS));
    MDB_val k = {key_len, key}, v = {8, at};
    int rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    v.mv_data = NULL;
    rc = mdb_cursor_get(cur, &k, &v, MDB_GET_MULTIPLE);
    //  A key with a single value has no page of duplicates: LMDB answers
    //  MDB_GET_MULTIPLE with success and leaves v as it was. Its one value
    //  (an institution seen once in a bucket, a message type called once)
    //  is the cursor's current one.
    if (!rc && !v.mv_data)
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    uint16_t bucket = kp_be16_get(key + 1);
    while (!rc) {
        for (size_t i = 0; i < v.mv_size / 8; i++)
            if (s_query_value(q, bucket, kp_be64_get((uint8_t *)v.mv_data + 8 * i)))
                return 1;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_MULTIPLE);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  The buckets of keys with first byte key[0]: the first and the last.
static int s_bucket_span(MDB_cursor *cur, uint8_t tag, uint16_t *first, uint16_t *last)
{
    uint8_t key[3] = {tag, 0, 0};
    MDB_val k = {3, key}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc || k.mv_size < 3 || ((uint8_t *)k.mv_data)[0] != tag)
        return rc && rc != MDB_NOTFOUND ? rc : MDB_NOTFOUND;
    *first = kp_be16_get((uint8_t *)k.mv_data + 1);
    key[0] = (uint8_t)(tag + 1);
    k.mv_size = 3;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV_NODUP);
    if (rc || k.mv_size < 3)
        return rc ? rc : MDB_CORRUPTED;
    *last = kp_be16_get((uint8_t *)k.mv_data + 1);
    return 0;
}

//  A query of the keys table: the key in each bucket of the window that
//  has any (an institution's or a message type's whole history is a few
//  dozen buckets in ten years).
static int s_query_keys(s_query_t *q, MDB_txn *txn, MDB_dbi dbi, char tag, const char *text,
                        uint64_t from_us, uint64_t to_us)
{
    uint8_t key[S_KEY_MAX];
    size_t n = text ? s_key_len(key, tag, text, strlen(text), 0) : 0;
    MDB_cursor *cur;
    int rc = n ? mdb_cursor_open(txn, dbi, &cur) : 0;
    if (!n || rc)
        return rc;
    uint16_t first, last;
    rc = s_bucket_span(cur, key[0], &first, &last);
    if (s_bucket(from_us) > first)
        first = s_bucket(from_us);
    if (s_bucket(to_us) < last)
        last = s_bucket(to_us);
    for (uint32_t b = first; !rc && b <= last; b++) {
        kp_be16_put(key + 1, (uint16_t)b);
        rc = s_query_key(q, cur, key, n);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int64_t kp_logindex_query(kp_logindex_t *self, char tag, const char *text, uint64_t from_us,
                          uint64_t to_us, kp_logindex_fn *fn, void *arg)
{
    if (!text || from_us > to_us)
        return 0;
    s_locator_t loc = {0};
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &loc.txn);
    if (rc)
        return s_fail(self, "begin", rc);
    s_query_t q = {
        .loc = &loc, .from_s = from_us / 1000000, .to_s = to_us / 1000000, .fn = fn, .arg = arg};
    uint64_t word;
    rc = mdb_cursor_open(loc.txn, self->pos, &loc.pos);
    if (!rc && tag == KP_LOGINDEX_PERSON && s_person_word(text, strlen(text), &word))
        rc = kp_logruns_query(loc.txn, self->runs_db, self->people_db, word, s_bucket(from_us),
                              s_bucket(to_us), s_query_run_value, &q);
    else if (!rc && (q.seq_from = s_seq_from(&loc, q.from_s)) != UINT64_MAX)
        rc = s_query_keys(&q, loc.txn, self->idx, tag, text, from_us, to_us);
    if (loc.pos)
        mdb_cursor_close(loc.pos);
    mdb_txn_abort(loc.txn);
    if (rc < 0 || rc > 1)
        return s_fail(self, "query", rc);
    return q.count;
}

int kp_logindex_locate(kp_logindex_t *self, uint64_t seq, uint64_t *segment, uint64_t *offset)
{
    s_locator_t loc = {0};
    MDB_txn *txn = self->txn;
    int rc = 0;
    if (!txn && (rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn)))
        return s_fail(self, "begin", rc);
    if ((rc = mdb_cursor_open(txn, self->pos, &loc.pos)) == 0) {
        rc = s_locate(&loc, seq, segment, offset) ? MDB_NOTFOUND : 0;
        mdb_cursor_close(loc.pos);
    }
    if (txn != self->txn)
        mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 1;
    return rc ? s_fail(self, "locate", rc) : 0;
}

int kp_logindex_outcome(kp_logindex_t *self, uint64_t decision_seq, uint64_t *seq,
                        uint64_t *segment, uint64_t *offset)
{
    s_locator_t loc = {0};
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &loc.txn);
    if (rc)
        return s_fail(self, "begin", rc);
    if (!(rc = mdb_cursor_open(loc.txn, self->out, &cur)))
        rc = mdb_cursor_open(loc.txn, self->pos, &loc.pos);
    uint8_t key[8], value[8];
    kp_be64_put(key, decision_seq >> S_BLOCK_SHIFT);
    kp_be64_put(value, s_out_value(decision_seq, 0));
    MDB_val k = {8, key}, v = {8, value};
    if (!rc)
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    uint64_t found = rc ? 0 : kp_be64_get(v.mv_data);
    if (!rc && (found >> 56 != (decision_seq & (S_BLOCK - 1)) ||
                s_locate(&loc, *seq = found & ((1ull << 56) - 1), segment, offset)))
        rc = MDB_NOTFOUND;
    if (loc.pos)
        mdb_cursor_close(loc.pos);
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(loc.txn);
    if (rc == MDB_NOTFOUND)
        return 1;
    return rc ? s_fail(self, "outcome", rc) : 0;
}

int kp_logindex_clear(kp_logindex_t *self)
{
    if (kp_logindex_begin(self))
        return -1;
    s_batch_clear(self);
    self->block = UINT64_MAX;
    self->block_dirty = false;
    MDB_val k = {4, (void *)"upto"};
    int rc = mdb_drop(self->txn, self->idx, 0);
    if (!rc)
        rc = mdb_drop(self->txn, self->pos, 0);
    if (!rc)
        rc = mdb_drop(self->txn, self->out, 0);
    if (!rc)
        rc = kp_logruns_empty(self->runs, self->txn);
    if (!rc && (rc = mdb_del(self->txn, self->meta, &k, NULL)) == MDB_NOTFOUND)
        rc = 0;
    if (rc) {
        kp_logindex_abort(self);
        return s_fail(self, "clear", rc);
    }
    return kp_logindex_commit(self);
}

// ---------------------------------------------------------------------------
// Dropping

static int s_drop_positions(kp_logindex_t *self, uint64_t low, uint64_t high)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(self->txn, self->pos, &cur);
    if (rc)
        return rc;
    uint8_t key[8];
    kp_be64_put(key, low >> S_BLOCK_SHIFT);
    MDB_val k = {8, key}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t block = kp_be64_get(k.mv_data), first = block << S_BLOCK_SHIFT;
        if (first > high)
            break;
        if (first >= low && first + S_BLOCK - 1 <= high) {
            if ((rc = mdb_cursor_del(cur, 0)))
                break;
            continue;
        }
        //  A block partly in the range: its other records stay.
        if ((rc = s_block_load(self, self->txn, block)))
            break;
        for (uint64_t i = 0; i < S_BLOCK; i++)
            if (first + i >= low && first + i <= high)
                self->offsets[i] = 0;
        self->block_dirty = true;
        if ((rc = s_block_store(self)))
            break;
        //  The put moved the cursor's page: find our place again.
        kp_be64_put(key, block);
        k.mv_size = 8;
        k.mv_data = key;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY)))
            break;
    }
    self->block = UINT64_MAX;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Deletes the outcomes of decisions [low, high]: only the blocks of
//  that range are read. The entries are listed first, then deleted (a
//  cursor's place after deleting a duplicate is LMDB's business).
static int s_drop_outcomes(kp_logindex_t *self, uint64_t low, uint64_t high)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(self->txn, self->out, &cur);
    if (rc)
        return rc;
    uint8_t key[8];
    kp_be64_put(key, low >> S_BLOCK_SHIFT);
    MDB_val k = {8, key}, v;
    uint64_t *list = NULL;
    size_t n = 0, cap = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t block = kp_be64_get(k.mv_data), value = kp_be64_get(v.mv_data);
        uint64_t decision = block << S_BLOCK_SHIFT | value >> 56;
        if (block > high >> S_BLOCK_SHIFT)
            break;
        if (decision < low || decision > high)
            continue;
        if (n + 2 > cap) {
            uint64_t *more = realloc(list, (cap = cap ? cap * 2 : 512) * sizeof *list);
            if (!more) {
                rc = ENOMEM;
                break;
            }
            list = more;
        }
        list[n++] = block;
        list[n++] = value;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (size_t i = 0; i < n && !rc; i += 2) {
        uint8_t value[8];
        kp_be64_put(key, list[i]);
        kp_be64_put(value, list[i + 1]);
        MDB_val dk = {8, key}, dv = {8, value};
        rc = mdb_del(self->txn, self->out, &dk, &dv);
    }
    free(list);
    return rc;
}

//  Deletes the values of seq [low, high] under the key at the cursor.
//  The cursor is left on that key, or (*moved) on the next one when the
//  key went with its last value; MDB_NOTFOUND when no key follows.
static int s_drop_key(kp_logindex_t *self, MDB_cursor *cur, const MDB_val *at, uint64_t low,
                      uint64_t high, bool *moved)
{
    *moved = false;
    uint8_t key[S_KEY_MAX], from[8];
    size_t key_len = at->mv_size;
    memcpy(key, at->mv_data, key_len);
    kp_be64_put(from, s_value(low, 0));
    MDB_val k = {key_len, key}, v = {8, from};
    size_t n = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    while (!rc && s_value_seq(kp_be64_get(v.mv_data)) <= high) {
        if ((n + 1) * 8 > self->values_cap) {
            size_t cap = self->values_cap ? self->values_cap * 2 : 4096;
            uint8_t *values = realloc(self->values, cap);
            if (!values)
                return ENOMEM;
            self->values = values;
            self->values_cap = cap;
        }
        memcpy(self->values + 8 * n++, v.mv_data, 8);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    for (size_t i = 0; i < n; i++) {
        MDB_val dk = {key_len, key}, dv = {8, self->values + 8 * i};
        if ((rc = mdb_del(self->txn, self->idx, &dk, &dv)))
            return rc;
    }
    //  Back to the key, or to the one after it if it went with its values.
    k.mv_size = key_len;
    k.mv_data = key;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *moved = !rc && (k.mv_size != key_len || memcmp(k.mv_data, key, key_len));
    return rc;
}

//  The latest time (s) of the records up to seq high, from the positions
//  (UINT64_MAX when there are none).
static int s_latest_upto(kp_logindex_t *self, uint64_t high, uint64_t *latest)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(self->txn, self->pos, &cur);
    if (rc)
        return rc;
    uint8_t key[8];
    kp_be64_put(key, high >> S_BLOCK_SHIFT);
    MDB_val k = {8, key}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    *latest = !rc && v.mv_size == S_POS_VALUE ? kp_be64_get((uint8_t *)v.mv_data + 8) : UINT64_MAX;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Deletes the values of seq [low, high] from the keys table, reading only
//  the buckets up to that of latest (the time of the last record dropped:
//  a prune reads the old buckets only); UINT64_MAX: every bucket.
static int s_drop_keys(kp_logindex_t *self, uint64_t low, uint64_t high, uint64_t latest)
{
    uint16_t last = latest == UINT64_MAX ? 0xFFFF : s_bucket(latest * 1000000);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(self->txn, self->idx, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (!rc) {
        const uint8_t *key = k.mv_data;
        if (k.mv_size < 3) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (kp_be16_get(key + 1) > last) { //  on to the next tag's first bucket
            uint8_t next[3] = {(uint8_t)(key[0] + 1), 0, 0};
            k.mv_size = 3;
            k.mv_data = next;
            rc = key[0] == 0xFF ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            continue;
        }
        bool moved;
        rc = s_drop_key(self, cur, &k, low, high, &moved);
        if (!rc)
            rc = mdb_cursor_get(cur, &k, &v, moved ? MDB_GET_CURRENT : MDB_NEXT_NODUP);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Each part costs what it drops: the runs wholly dropped go whole, the
//  keys of old buckets only are read (for a prune; a cut tail reads them
//  all), outcomes and positions by their seq.
int kp_logindex_drop(kp_logindex_t *self, uint64_t low, uint64_t high)
{
    if (kp_logindex_begin(self))
        return -1;
    if (high >> S_SEQ_BITS)
        high = (1ull << S_SEQ_BITS) - 1;
    if (low > high)
        return kp_logindex_commit(self);
    uint64_t latest = UINT64_MAX;
    int rc = 0;
    if (high != (1ull << S_SEQ_BITS) - 1)
        rc = s_latest_upto(self, high, &latest);
    if (!rc)
        rc = s_drop_keys(self, low, high, latest);
    if (!rc)
        rc = kp_logruns_drop(self->runs, self->txn, low, high);
    if (!rc)
        rc = s_drop_outcomes(self, low, high);
    if (!rc)
        rc = s_drop_positions(self, low, high);
    if (rc) {
        kp_logindex_abort(self);
        return s_fail(self, "drop", rc);
    }
    return kp_logindex_commit(self);
}

int kp_logindex_space(kp_logindex_t *self, uint64_t *used, uint64_t *free_bytes)
{
    MDB_envinfo info;
    MDB_stat stat;
    MDB_txn *txn;
    int rc = mdb_env_info(self->env, &info);
    if (!rc)
        rc = mdb_env_stat(self->env, &stat);
    if (!rc)
        rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail(self, "space", rc);
    //  LMDB's free list (database 0): each value is a list of page
    //  numbers whose first word is its length.
    MDB_cursor *cur;
    uint64_t pages = 0;
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            if (v.mv_size >= sizeof(size_t))
                pages += *(const size_t *)v.mv_data;
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    *free_bytes = pages * stat.ms_psize;
    *used = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize - *free_bytes;
    return 0;
}

int kp_logindex_runs(kp_logindex_t *self, uint64_t *runs, uint64_t *entries)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_fail(self, "runs", rc);
    int n = kp_logruns_count(txn, self->runs_db, entries);
    mdb_txn_abort(txn);
    if (n < 0)
        return s_fail(self, "runs", MDB_CORRUPTED);
    *runs = (uint64_t)n;
    return 0;
}

const char *kp_logindex_error(kp_logindex_t *self)
{
    return self->error;
}
