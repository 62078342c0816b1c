/*  logruns.h - the people of the privacy log's index as sorted runs; a
    part of logindex.c, not for other users.

    A person is named in nearly every record and there are millions of
    them: kept as one B-tree of keys, each commit of the index rewrites
    pages all over that tree (a batch of a million records touched nearly
    all of it, and the file grew by the copies). Here each commit's people
    are sorted in memory and written once as a run, appended at the end of
    the table (MDB_APPEND: pages are filled, never split or copied), and
    runs are merged LSM-style to keep a person's query to a few seeks:

      runs    key    run id (u32 BE)
              value  lo, hi (u64 BE: the seqs of the records it covers),
                     entries (u64 BE), level (u32 BE), 0 (u32)
      people key    run id (u32 BE) | the block's last entry (18 bytes)
              value  up to KP_LOGRUNS_BLOCK entries, sorted, each
                     person word (u64 BE) | bucket (u16 BE) | value (u64 BE,
                     as the index's keys table: seq and second in bucket)

    A person's word is the person (1 to 18 digits) as a number, and, when
    it has leading zeros, its length (see logindex.c). Eight runs of one
    level (in seq order, the newest) are merged into one of the next; a
    merge that would pass KP_LOGRUNS_MAX entries seals them instead. A
    person query seeks once per run, oldest run first.

    Functions return 0 or an LMDB (or errno) code; the caller names it.
*/
#ifndef KP_LOGRUNS_H_INCLUDED
#define KP_LOGRUNS_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#define KP_LOGRUNS_ENTRY 18
#define KP_LOGRUNS_BLOCK 111 //  1998 bytes: two blocks (and their keys) to a 4 KiB page
#define KP_LOGRUNS_FANIN 8
#define KP_LOGRUNS_MAX (1ull << 27)

typedef struct _kp_logruns_t kp_logruns_t;

kp_logruns_t *kp_logruns_new(MDB_dbi runs, MDB_dbi people);
void kp_logruns_destroy(kp_logruns_t **self_p);

//  Reads the list of runs in txn (at the start of each write transaction:
//  another process may have changed it).
int kp_logruns_load(kp_logruns_t *self, MDB_txn *txn);

//  Adds an entry to the batch (records in seq order). 0, or ENOMEM.
int kp_logruns_add(kp_logruns_t *self, uint64_t word, uint16_t bucket, uint64_t value);
void kp_logruns_clear(kp_logruns_t *self);

//  Writes the batch as a run covering records [lo, hi] and merges what is
//  due; empties the batch.
int kp_logruns_commit(kp_logruns_t *self, MDB_txn *txn, uint64_t lo, uint64_t hi);

//  Forgets records [low, high]: runs wholly inside go; a run whose end is
//  inside (a log's tail cut) is written again without them; a run only
//  begun inside (a prune) is kept, its entries of pruned records are
//  skipped by queries (their positions are gone) and go with the run.
int kp_logruns_drop(kp_logruns_t *self, MDB_txn *txn, uint64_t low, uint64_t high);

//  Empties both tables.
int kp_logruns_empty(kp_logruns_t *self, MDB_txn *txn);

//  Calls fn for each entry of person word with bucket in [from, to], run
//  by run, oldest first; fn returns non-zero to stop. 0, 1 when fn
//  stopped, or an error code.
typedef int(kp_logruns_fn)(uint16_t bucket, uint64_t value, void *arg);
int kp_logruns_query(MDB_txn *txn, MDB_dbi runs, MDB_dbi people, uint64_t word, uint16_t from,
                     uint16_t to, kp_logruns_fn *fn, void *arg);

//  Runs in the index (for benchmarks and tests): count, and *entries.
int kp_logruns_count(MDB_txn *txn, MDB_dbi runs, uint64_t *entries);

#endif
