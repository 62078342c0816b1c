/*  logruns.c - the people of the privacy log's index as sorted runs; see
    logruns.h.
*/
#include "logruns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

#define S_KEY (4 + KP_LOGRUNS_ENTRY)
#define S_RUN_VALUE 32
#define S_SEALED 255
#define S_RADIX_BITS 16

//  One entry of the batch, as numbers for the sort.
typedef struct {
    uint64_t word, value;
    uint16_t bucket;
} s_entry_t;

typedef struct {
    uint32_t id, level;
    uint64_t lo, hi, entries;
} s_run_t;

struct _kp_logruns_t {
    MDB_dbi runs_db, people_db;
    s_entry_t *batch, *spare;
    size_t n_batch, batch_cap;
    size_t *counts; //  the radix sort's 2^16 counters
    s_run_t *runs;  //  in seq order
    size_t n_runs, runs_cap;
};

kp_logruns_t *kp_logruns_new(MDB_dbi runs, MDB_dbi people)
{
    kp_logruns_t *self = calloc(1, sizeof *self);
    if (self) {
        self->runs_db = runs;
        self->people_db = people;
    }
    return self;
}

void kp_logruns_destroy(kp_logruns_t **self_p)
{
    if (!*self_p)
        return;
    kp_logruns_t *self = *self_p;
    free(self->batch);
    free(self->spare);
    free(self->counts);
    free(self->runs);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
// The list of runs

static int s_run_cmp(const void *a, const void *b)
{
    const s_run_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

//  Reads the runs table into *list (grown as needed), in seq order.
static int s_runs_read(MDB_txn *txn, MDB_dbi dbi, s_run_t **list, size_t *n, size_t *cap)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    *n = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 4 || v.mv_size != S_RUN_VALUE) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (*n == *cap) {
            size_t more = *cap ? *cap * 2 : 64;
            s_run_t *grown = realloc(*list, more * sizeof *grown);
            if (!grown) {
                rc = ENOMEM;
                break;
            }
            *list = grown;
            *cap = more;
        }
        const uint8_t *p = v.mv_data;
        s_run_t *run = &(*list)[(*n)++];
        run->id = kp_be32_get(k.mv_data);
        run->lo = kp_be64_get(p);
        run->hi = kp_be64_get(p + 8);
        run->entries = kp_be64_get(p + 16);
        run->level = kp_be32_get(p + 24);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return rc;
    if (*n > 1)
        qsort(*list, *n, sizeof **list, s_run_cmp);
    return 0;
}

int kp_logruns_load(kp_logruns_t *self, MDB_txn *txn)
{
    return s_runs_read(txn, self->runs_db, &self->runs, &self->n_runs, &self->runs_cap);
}

static int s_run_put(kp_logruns_t *self, MDB_txn *txn, const s_run_t *run)
{
    uint8_t key[4], value[S_RUN_VALUE] = {0};
    kp_be32_put(key, run->id);
    kp_be64_put(value, run->lo);
    kp_be64_put(value + 8, run->hi);
    kp_be64_put(value + 16, run->entries);
    kp_be32_put(value + 24, run->level);
    MDB_val k = {4, key}, v = {S_RUN_VALUE, value};
    return mdb_put(txn, self->runs_db, &k, &v, 0);
}

//  A new run's id: past every id in use, so its blocks append.
static uint32_t s_next_id(const kp_logruns_t *self)
{
    uint32_t id = 0;
    for (size_t i = 0; i < self->n_runs; i++)
        if (self->runs[i].id > id)
            id = self->runs[i].id;
    return id + 1;
}

//  Deletes run id's blocks and its entry in the runs table.
static int s_run_delete(kp_logruns_t *self, MDB_txn *txn, MDB_cursor *cur, uint32_t id)
{
    uint8_t key[S_KEY] = {0};
    kp_be32_put(key, id);
    int rc = 0;
    for (;;) {
        MDB_val k = {S_KEY, key}, v;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)))
            break;
        if (k.mv_size != S_KEY || kp_be32_get(k.mv_data) != id)
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            return rc;
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    MDB_val k = {4, key};
    rc = mdb_del(txn, self->runs_db, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

// ---------------------------------------------------------------------------
// Writing a run: blocks of entries appended under a new id

typedef struct {
    MDB_cursor *cur;
    uint32_t id;
    uint8_t block[KP_LOGRUNS_BLOCK * KP_LOGRUNS_ENTRY];
    size_t n;
    uint64_t entries;
} s_writer_t;

static int s_writer_flush(s_writer_t *w)
{
    if (!w->n)
        return 0;
    uint8_t key[S_KEY];
    kp_be32_put(key, w->id);
    memcpy(key + 4, w->block + (w->n - 1) * KP_LOGRUNS_ENTRY, KP_LOGRUNS_ENTRY);
    MDB_val k = {S_KEY, key}, v = {w->n * KP_LOGRUNS_ENTRY, w->block};
    w->n = 0;
    return mdb_cursor_put(w->cur, &k, &v, MDB_APPEND);
}

static int s_writer_add(s_writer_t *w, const uint8_t *entry)
{
    memcpy(w->block + w->n++ * KP_LOGRUNS_ENTRY, entry, KP_LOGRUNS_ENTRY);
    w->entries++;
    return w->n == KP_LOGRUNS_BLOCK ? s_writer_flush(w) : 0;
}

static void s_entry_put(uint8_t *out, const s_entry_t *e)
{
    kp_be64_put(out, e->word);
    kp_be16_put(out + 8, e->bucket);
    kp_be64_put(out + 10, e->value);
}

// ---------------------------------------------------------------------------
// The batch

int kp_logruns_add(kp_logruns_t *self, uint64_t word, uint16_t bucket, uint64_t value)
{
    if (self->n_batch == self->batch_cap) {
        size_t cap = self->batch_cap ? self->batch_cap * 2 : 1 << 14;
        s_entry_t *batch = realloc(self->batch, cap * sizeof *batch);
        if (batch)
            self->batch = batch;
        s_entry_t *spare = batch ? realloc(self->spare, cap * sizeof *spare) : NULL;
        if (!spare)
            return ENOMEM;
        self->spare = spare;
        self->batch_cap = cap;
    }
    self->batch[self->n_batch++] = (s_entry_t){.word = word, .value = value, .bucket = bucket};
    return 0;
}

void kp_logruns_clear(kp_logruns_t *self)
{
    self->n_batch = 0;
}

//  Digit pass of the sort: bucket first, then the word's four digits.
static unsigned s_digit(const s_entry_t *e, int pass)
{
    if (pass == 0)
        return e->bucket;
    return (unsigned)(e->word >> ((pass - 1) * S_RADIX_BITS)) & ((1u << S_RADIX_BITS) - 1);
}

//  Sorts the batch by (word, bucket), stably: least significant digit
//  first, so values (added in seq order) stay in order within each; the
//  passes in which every entry has the same digit are skipped.
static int s_sort(kp_logruns_t *self)
{
    size_t n = self->n_batch;
    if (!self->counts && !(self->counts = malloc(sizeof(size_t) << S_RADIX_BITS)))
        return ENOMEM;
    uint64_t word_or = 0, word_and = UINT64_MAX;
    unsigned bucket_or = 0, bucket_and = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        word_or |= self->batch[i].word, word_and &= self->batch[i].word;
        bucket_or |= self->batch[i].bucket, bucket_and &= self->batch[i].bucket;
    }
    s_entry_t differ = {.word = word_or ^ word_and, .bucket = (uint16_t)(bucket_or ^ bucket_and)};
    s_entry_t *from = self->batch, *to = self->spare;
    for (int pass = 0; pass < 5; pass++) {
        if (!s_digit(&differ, pass))
            continue;
        memset(self->counts, 0, sizeof(size_t) << S_RADIX_BITS);
        for (size_t i = 0; i < n; i++)
            self->counts[s_digit(&from[i], pass)]++;
        size_t at = 0;
        for (size_t d = 0; d < (1u << S_RADIX_BITS); d++) {
            size_t c = self->counts[d];
            self->counts[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            to[self->counts[s_digit(&from[i], pass)]++] = from[i];
        s_entry_t *t = from;
        from = to;
        to = t;
    }
    if (from != self->batch)
        memcpy(self->batch, from, n * sizeof *from);
    return 0;
}

// ---------------------------------------------------------------------------
// Merging runs

//  One input of a merge: the run's blocks read one at a time (copied: a
//  put may move the pages a value pointed into).
typedef struct {
    MDB_cursor *cur;
    uint32_t id;
    uint8_t block[KP_LOGRUNS_BLOCK * KP_LOGRUNS_ENTRY];
    size_t n, at;
    bool done;
} s_reader_t;

static int s_reader_take(s_reader_t *r, const MDB_val *k, const MDB_val *v)
{
    if (k->mv_size != S_KEY || kp_be32_get(k->mv_data) != r->id) {
        r->done = true;
        return 0;
    }
    if (!v->mv_size || v->mv_size % KP_LOGRUNS_ENTRY || v->mv_size > sizeof r->block)
        return MDB_CORRUPTED;
    memcpy(r->block, v->mv_data, v->mv_size);
    r->n = v->mv_size / KP_LOGRUNS_ENTRY;
    r->at = 0;
    return 0;
}

static int s_reader_start(s_reader_t *r)
{
    uint8_t key[S_KEY] = {0};
    kp_be32_put(key, r->id);
    MDB_val k = {S_KEY, key}, v;
    int rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        r->done = true;
        return 0;
    }
    return rc ? rc : s_reader_take(r, &k, &v);
}

static int s_reader_next(s_reader_t *r)
{
    if (++r->at < r->n)
        return 0;
    //  Back to the block last read (puts may have moved the cursor's
    //  pages), then on to the next one.
    uint8_t key[S_KEY];
    kp_be32_put(key, r->id);
    memcpy(key + 4, r->block + (r->n - 1) * KP_LOGRUNS_ENTRY, KP_LOGRUNS_ENTRY);
    MDB_val k = {S_KEY, key}, v;
    int rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_KEY);
    if (!rc)
        rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
    if (rc == MDB_NOTFOUND) {
        r->done = true;
        return 0;
    }
    return rc ? rc : s_reader_take(r, &k, &v);
}

static uint64_t s_entry_seq(const uint8_t *entry)
{
    return kp_be64_get(entry + 10) >> 24;
}

//  Merges runs [first, first + count) (adjacent in seq order) into one new
//  run of level, leaving out entries of records from cut on (a tail cut;
//  UINT64_MAX: none), and deletes them. The new run takes their place.
static int s_merge(kp_logruns_t *self, MDB_txn *txn, size_t first, size_t count, uint32_t level,
                   uint64_t cut)
{
    s_reader_t *in = calloc(count, sizeof *in);
    s_writer_t *out = calloc(1, sizeof *out);
    int rc = in && out ? mdb_cursor_open(txn, self->people_db, &out->cur) : ENOMEM;
    if (!rc)
        out->id = s_next_id(self);
    for (size_t i = 0; i < count && !rc; i++) {
        in[i].id = self->runs[first + i].id;
        if (!(rc = mdb_cursor_open(txn, self->people_db, &in[i].cur)))
            rc = s_reader_start(&in[i]);
    }
    while (!rc) {
        s_reader_t *min = NULL;
        for (size_t i = 0; i < count; i++)
            if (!in[i].done &&
                (!min || memcmp(in[i].block + in[i].at * KP_LOGRUNS_ENTRY,
                                min->block + min->at * KP_LOGRUNS_ENTRY, KP_LOGRUNS_ENTRY) < 0))
                min = &in[i];
        if (!min)
            break;
        const uint8_t *entry = min->block + min->at * KP_LOGRUNS_ENTRY;
        if (s_entry_seq(entry) < cut)
            rc = s_writer_add(out, entry);
        if (!rc)
            rc = s_reader_next(min);
    }
    if (!rc)
        rc = s_writer_flush(out);
    s_run_t merged = {.id = out ? out->id : 0, .level = level};
    if (!rc) {
        merged.lo = self->runs[first].lo;
        merged.hi = self->runs[first + count - 1].hi;
        if (cut != UINT64_MAX && merged.hi >= cut)
            merged.hi = cut - 1;
        merged.entries = out->entries;
    }
    for (size_t i = 0; i < count && !rc; i++)
        rc = s_run_delete(self, txn, out->cur, self->runs[first + i].id);
    if (!rc && merged.entries)
        rc = s_run_put(self, txn, &merged);
    for (size_t i = 0; in && i < count; i++)
        if (in[i].cur)
            mdb_cursor_close(in[i].cur);
    if (out && out->cur)
        mdb_cursor_close(out->cur);
    free(in);
    free(out);
    if (rc)
        return rc;
    //  The list: the merged run in place of its inputs (none if empty).
    size_t keep = merged.entries ? 1 : 0;
    if (keep)
        self->runs[first] = merged;
    memmove(self->runs + first + keep, self->runs + first + count,
            (self->n_runs - first - count) * sizeof *self->runs);
    self->n_runs -= count - keep;
    return 0;
}

//  Merges the newest runs while FANIN of them share a level; a merge that
//  would make a run larger than KP_LOGRUNS_MAX seals them instead (they
//  stay as they are, and bound the bytes one merge rewrites).
static int s_merge_due(kp_logruns_t *self, MDB_txn *txn)
{
    int rc = 0;
    while (!rc && self->n_runs >= KP_LOGRUNS_FANIN) {
        size_t first = self->n_runs - KP_LOGRUNS_FANIN;
        uint32_t level = self->runs[self->n_runs - 1].level;
        uint64_t entries = 0;
        bool same = level != S_SEALED;
        for (size_t i = first; i < self->n_runs && same; i++) {
            same = self->runs[i].level == level;
            entries += self->runs[i].entries;
        }
        if (!same)
            break;
        if (entries <= KP_LOGRUNS_MAX) {
            rc = s_merge(self, txn, first, KP_LOGRUNS_FANIN, level + 1, UINT64_MAX);
            continue;
        }
        for (size_t i = first; i < self->n_runs && !rc; i++) {
            self->runs[i].level = S_SEALED;
            rc = s_run_put(self, txn, &self->runs[i]);
        }
    }
    return rc;
}

int kp_logruns_commit(kp_logruns_t *self, MDB_txn *txn, uint64_t lo, uint64_t hi)
{
    if (!self->n_batch)
        return 0;
    int rc = s_sort(self);
    if (self->n_runs == self->runs_cap) {
        size_t cap = self->runs_cap ? self->runs_cap * 2 : 64;
        s_run_t *runs = realloc(self->runs, cap * sizeof *runs);
        if (!runs)
            rc = ENOMEM;
        else {
            self->runs = runs;
            self->runs_cap = cap;
        }
    }
    s_writer_t *w = rc ? NULL : calloc(1, sizeof *w);
    if (!rc && !w)
        rc = ENOMEM;
    if (!rc)
        rc = mdb_cursor_open(txn, self->people_db, &w->cur);
    if (!rc)
        w->id = s_next_id(self);
    for (size_t i = 0; i < self->n_batch && !rc; i++) {
        uint8_t entry[KP_LOGRUNS_ENTRY];
        s_entry_put(entry, &self->batch[i]);
        rc = s_writer_add(w, entry);
    }
    if (!rc)
        rc = s_writer_flush(w);
    if (w && w->cur)
        mdb_cursor_close(w->cur);
    s_run_t run = {.id = w ? w->id : 0, .level = 0, .lo = lo, .hi = hi, .entries = self->n_batch};
    free(w);
    self->n_batch = 0;
    if (!rc)
        rc = s_run_put(self, txn, &run);
    if (rc)
        return rc;
    self->runs[self->n_runs++] = run; //  batches come in seq order: the newest
    return s_merge_due(self, txn);
}

// ---------------------------------------------------------------------------
// Dropping

int kp_logruns_drop(kp_logruns_t *self, MDB_txn *txn, uint64_t low, uint64_t high)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, self->people_db, &cur);
    for (size_t i = 0; i < self->n_runs && !rc;) {
        s_run_t *run = &self->runs[i];
        if (run->hi < low || run->lo > high || (run->lo < low && run->hi > high) ||
            (run->lo >= low && run->hi > high)) {
            i++; //  apart, or only partly dropped: kept (see logruns.h)
            continue;
        }
        if (run->lo >= low) { //  wholly inside
            if (!(rc = s_run_delete(self, txn, cur, run->id))) {
                memmove(run, run + 1, (self->n_runs - i - 1) * sizeof *run);
                self->n_runs--;
            }
            continue;
        }
        //  Its end is cut off: written again without it.
        size_t before = self->n_runs;
        rc = s_merge(self, txn, i, 1, run->level, low);
        i += self->n_runs == before ? 1 : 0;
    }
    mdb_cursor_close(cur);
    return rc;
}

int kp_logruns_empty(kp_logruns_t *self, MDB_txn *txn)
{
    int rc = mdb_drop(txn, self->runs_db, 0);
    if (!rc)
        rc = mdb_drop(txn, self->people_db, 0);
    self->n_runs = 0;
    self->n_batch = 0;
    return rc;
}

// ---------------------------------------------------------------------------
// Queries

//  The entries of word in [from, to] of one run. 0, 1 stopped, or error.
static int s_query_run(MDB_cursor *cur, uint32_t id, uint64_t word, uint16_t from, uint16_t to,
                       kp_logruns_fn *fn, void *arg)
{
    uint8_t key[S_KEY] = {0};
    kp_be32_put(key, id);
    kp_be64_put(key + 4, word);
    kp_be16_put(key + 12, from);
    MDB_val k = {S_KEY, key}, v;
    //  The first block whose last entry is not before (word, from).
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    bool first = true;
    while (!rc) {
        if (k.mv_size != S_KEY || kp_be32_get(k.mv_data) != id)
            return 0;
        size_t n = v.mv_size / KP_LOGRUNS_ENTRY;
        if (!n || v.mv_size % KP_LOGRUNS_ENTRY || n > KP_LOGRUNS_BLOCK)
            return MDB_CORRUPTED;
        const uint8_t *entries = v.mv_data;
        size_t i = 0;
        if (first) { //  binary search for the first entry at or after it
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (memcmp(entries + mid * KP_LOGRUNS_ENTRY, key + 4, 10) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            i = lo;
            first = false;
        }
        for (; i < n; i++) {
            const uint8_t *e = entries + i * KP_LOGRUNS_ENTRY;
            uint16_t bucket = kp_be16_get(e + 8);
            if (kp_be64_get(e) != word || bucket > to)
                return 0;
            if (fn(bucket, kp_be64_get(e + 10), arg))
                return 1;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int kp_logruns_query(MDB_txn *txn, MDB_dbi runs, MDB_dbi people, uint64_t word, uint16_t from,
                     uint16_t to, kp_logruns_fn *fn, void *arg)
{
    s_run_t *list = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *cur = NULL;
    int rc = s_runs_read(txn, runs, &list, &n, &cap);
    if (!rc)
        rc = mdb_cursor_open(txn, people, &cur);
    for (size_t i = 0; i < n && !rc; i++)
        rc = s_query_run(cur, list[i].id, word, from, to, fn, arg);
    if (cur)
        mdb_cursor_close(cur);
    free(list);
    return rc;
}

int kp_logruns_count(MDB_txn *txn, MDB_dbi runs, uint64_t *entries)
{
    s_run_t *list = NULL;
    size_t n = 0, cap = 0;
    int rc = s_runs_read(txn, runs, &list, &n, &cap);
    *entries = 0;
    for (size_t i = 0; i < n; i++)
        *entries += list[i].entries;
    free(list);
    return rc ? -1 : (int)n;
}
