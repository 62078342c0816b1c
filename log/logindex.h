/*  logindex.h - the LMDB query index of the privacy log.

    Built to hold ten years of a national network (1.8 billion records a
    year) at a few dozen bytes per record (48 in logbench). Tables:

      keys key    tag | bucket (u16 BE) | identifier
           values seq (40 bits) | second in the bucket (22 bits) | 0 (2),
                  u64 big-endian, sorted (MDB_DUPSORT | MDB_DUPFIXED)
      runs, people
                  the people, as sorted runs (see logruns.h)
      pos  key    seq / 256 (u64 BE)
           value  the segment of the block's first record (u64 BE), the
                  latest time (s) of its records and all before them
                  (u64 BE), and the frame offsets of its 256 records (u32
                  BE each)
      out  key    a DECISION's seq / 256 (u64 BE)
           values (decision seq % 256) << 56 | its OUTCOME's seq, u64 BE,
                  sorted (MDB_DUPSORT | MDB_DUPFIXED)

    with tags

        'P'  the person (INSZ): in the runs when of 1 to 18 digits, else
             under the keys
        'I'  an institution: the sender and every destination KBO
        'M'  the message type

    An identifier of digits (an INSZ, a KBO) is kept as a 64-bit number,
    anything else as its text. A bucket is 2^22 seconds (48.5 days); keys
    start with it, so a prune reads only old buckets. A person's records
    are a seek in each run (a few dozen over ten years), oldest first; an
    institution's or a message type's window starts at its first record,
    found by a binary search of the positions' latest times (exact also
    when the clock went back). Queries filter time to the second.

    A call is logged as a DECISION and an OUTCOME; only the DECISION is
    indexed under the keys, its OUTCOME is found through it
    (kp_logindex_outcome), so an OUTCOME costs 8 bytes whether or not it
    repeats its decision's keys.

    A meta record holds how far the index has got (seq, segment, offset of
    the next frame); the index may lag the log and is caught up from the
    segments. Commits sync the data pages (MDB_NOMETASYNC): a machine crash
    loses at most the last commit, never the tree's consistency; the
    catch-up on open checks the index against the log's tail and rebuilds
    what is missing (privlog's kp_privlog_index_catch_up).

    Threading: one kp_logindex_t per thread; several processes may open the
    same index (LMDB serialises writers).
*/
#ifndef KP_LOGINDEX_H_INCLUDED
#define KP_LOGINDEX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

typedef struct _kp_logindex_t kp_logindex_t;

#define KP_LOGINDEX_PERSON 'P'
#define KP_LOGINDEX_INSTITUTION 'I'
#define KP_LOGINDEX_MESSAGE 'M'

//  A key's posting lists are cut in buckets of 2^22 seconds.
#define KP_LOGINDEX_BUCKET_SHIFT 22

//  Opens (creating) the index in the folder path. map_size 0: 1 TiB.
//  NULL and a message in err (errlen bytes) on failure.
kp_logindex_t *kp_logindex_open(const char *path, bool readonly, uint64_t map_size, char *err,
                                size_t errlen);
void kp_logindex_destroy(kp_logindex_t **self_p);

//  Removes the index files in path (not open anywhere), for a rebuild.
int kp_logindex_remove(const char *path, char *err, size_t errlen);

//  The next frame to index: seq of the last indexed record, and the
//  segment and offset just after it. All zero for a new index.
int kp_logindex_position(kp_logindex_t *self, uint64_t *seq, uint64_t *segment, uint64_t *offset);

//  Writing: begin, add records, set the position, commit (or abort).
//  Added entries wait in memory and go into LMDB sorted, at commit.
int kp_logindex_begin(kp_logindex_t *self);
int kp_logindex_add(kp_logindex_t *self, const Kp__LogRecord *record, uint64_t seq,
                    uint64_t segment, uint64_t offset);
//  The same from the record's protobuf encoding (a log frame's body),
//  read in place: how the catch-up adds records. A body that cannot be
//  read is skipped: 1 (the log's verify judges it), 0 when added, -1.
int kp_logindex_add_packed(kp_logindex_t *self, const uint8_t *body, size_t len, uint64_t seq,
                           uint64_t segment, uint64_t offset);
int kp_logindex_set_position(kp_logindex_t *self, uint64_t seq, uint64_t segment, uint64_t offset);
int kp_logindex_commit(kp_logindex_t *self);
void kp_logindex_abort(kp_logindex_t *self);
int kp_logindex_sync(kp_logindex_t *self);

//  Calls fn for each record under (tag, text) with time in [from_us,
//  to_us] (to the second), oldest first, with where the record is; stops
//  early when fn returns non-zero. Returns the number of calls, or -1.
typedef int(kp_logindex_fn)(uint64_t seq, uint64_t segment, uint64_t offset, void *arg);
int64_t kp_logindex_query(kp_logindex_t *self, char tag, const char *text, uint64_t from_us,
                          uint64_t to_us, kp_logindex_fn *fn, void *arg);

//  Where the index says record seq is: 0, 1 if it does not know it, -1.
int kp_logindex_locate(kp_logindex_t *self, uint64_t seq, uint64_t *segment, uint64_t *offset);

//  Where the OUTCOME of the DECISION record decision_seq is (an OUTCOME
//  is found so, and not under the keys it may repeat): 0 with its seq,
//  segment and offset; 1 when none is indexed (outcome unknown); -1.
int kp_logindex_outcome(kp_logindex_t *self, uint64_t decision_seq, uint64_t *seq,
                        uint64_t *segment, uint64_t *offset);

//  Empties the index (in one transaction: readers see it whole or empty),
//  for a rebuild while other processes may have it open.
int kp_logindex_clear(kp_logindex_t *self);

//  Deletes every entry of a record with seq in [low, high]: after a prune,
//  or when the index is found ahead of a log whose tail was cut.
int kp_logindex_drop(kp_logindex_t *self, uint64_t low, uint64_t high);

//  Bytes of the file in use, and bytes of pages that LMDB keeps free for
//  later commits (copies made by earlier ones): for benchmarks.
int kp_logindex_space(kp_logindex_t *self, uint64_t *used, uint64_t *free_bytes);

//  The people's runs (see logruns.h): how many, and the entries in them.
//  For benchmarks and tests. 0, or -1.
int kp_logindex_runs(kp_logindex_t *self, uint64_t *runs, uint64_t *entries);

//  The last error, named.
const char *kp_logindex_error(kp_logindex_t *self);

#endif
