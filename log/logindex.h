/*  logindex.h - the LMDB query index of the privacy log.

    Keys are  tag | text | 0 | time (u64 big-endian, µs) | seq (u64 BE)
    and values  segment first seq (u64 BE) | frame offset (u64 BE), with

        'P'  the person (INSZ)
        'I'  an institution: the sender and every destination KBO
        'M'  the message type

    so that one person's records are a single range scan, oldest first,
    whatever the size of the log. A meta record holds how far the index
    has got (seq, segment, offset of the next frame); the index may lag
    the log and is caught up from the segments on open.

    The environment is opened with MDB_NOSYNC: the log, not the index, is
    the durable truth, and kp_logindex_sync is called at checkpoints. After a
    crash the index is at worst behind, and catching up repairs it.

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

//  Opens (creating) the index in the folder path. map_size 0: 1 TiB.
//  NULL and error (256 bytes) on failure.
kp_logindex_t *kp_logindex_open(const char *path, bool readonly, uint64_t map_size, char *error);
void kp_logindex_destroy(kp_logindex_t **self_p);

//  The next frame to index: seq of the last indexed record, and the
//  segment and offset just after it. All zero for a new index.
int kp_logindex_position(kp_logindex_t *self, uint64_t *seq, uint64_t *segment, uint64_t *offset);

//  Writing: begin, add records, set the position, commit (or abort).
//  Added entries wait in memory and go into LMDB sorted, at commit.
int kp_logindex_begin(kp_logindex_t *self);
int kp_logindex_add(kp_logindex_t *self, const Kp__LogRecord *record, uint64_t seq,
                    uint64_t segment, uint64_t offset);
int kp_logindex_set_position(kp_logindex_t *self, uint64_t seq, uint64_t segment, uint64_t offset);
int kp_logindex_commit(kp_logindex_t *self);
void kp_logindex_abort(kp_logindex_t *self);
int kp_logindex_sync(kp_logindex_t *self);

//  Calls fn for each record under (tag, text) with time in [from_us,
//  to_us], oldest first; stops early when fn returns non-zero. Returns
//  the number of calls, or -1.
typedef int(kp_logindex_fn)(uint64_t seq, uint64_t segment, uint64_t offset, void *arg);
int64_t kp_logindex_query(kp_logindex_t *self, char tag, const char *text, uint64_t from_us,
                          uint64_t to_us, kp_logindex_fn *fn, void *arg);

//  Deletes every entry of a record with seq in [low, high]: after a prune,
//  or when the index is found ahead of a log whose tail was cut.
int kp_logindex_drop(kp_logindex_t *self, uint64_t low, uint64_t high);

//  The last error, named.
const char *kp_logindex_error(kp_logindex_t *self);

#endif
