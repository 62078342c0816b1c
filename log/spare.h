/*  spare.h - a spare segment for the privacy log, written ahead of need
    off the logger's thread.

    A new segment made on the logger's thread costs a group its time
    (create, fallocate, directory fsync), and its blocks, allocated but
    never written, cost the syncs inside it more: the zeros written ahead
    of the appends are written back, and their extents converted, by the
    next group's fdatasync. A spare is a whole segment of zeros, written
    and synced at leisure by an actor of its own ("kp-spare", nice 10):

        DIR/spare-segment.part   being written (removed when found at start)
        DIR/spare-segment        ready: segment_max bytes of zeros, synced

    Neither name is a segment's, so no reader, verify, prune, export or
    mirror sees them (kp_privlog_segments lists segments by name). The
    writer (privlog.c), when it makes a segment and a ready spare of its
    segment size is there, writes the header into it and renames it to the
    segment's name; else it makes the segment as before.

    The logger asks for a spare (kp_spare_want) when its segment is half
    full, so that a log that writes little, or a node that lives a few
    seconds, never writes one. A spare is made only when the disk keeps,
    with the spare made, room for two more segments and KP_SPARE_MARGIN
    bytes; when a write of the log fails for want of space the writer
    removes the spare first (kp_spare_remove), so that the log never runs
    out of space because of it.

    The actor writes in steps of KP_SPARE_STEP bytes, each written back
    (sync_file_range; the pages stay cached, see s_step), then rests
    KP_SPARE_REST times as long as the write-back took, so that the log's
    own fdatasync is never queued behind a burst of zeros.

    Operators see the spare's state and counters (kpctl status, /metrics)
    through kp_spare_stats_t: atomics in memory the logger owns, written
    by the spare's actor (the state, what it wrote) and by the writer on
    the logger's thread (segments made from a spare or without one, spares
    removed for want of disk), read by the node's loop. They are published
    as the logger publishes its durable number, and for the same reason:
    the writer counts inside a group commit, and a removal for want of
    disk happens in a group that fails, which sends no durable notice.
*/
#ifndef KP_SPARE_H_INCLUDED
#define KP_SPARE_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KP_SPARE_READY "spare-segment"
#define KP_SPARE_PARTIAL "spare-segment.part"
#define KP_SPARE_MARGIN (64ull << 20) //  bytes left free beyond two segments
#define KP_SPARE_STEP (1u << 20)      //  bytes written back at once
#define KP_SPARE_REST 3               //  rest after a step: this times its write-back
#define KP_SPARE_MAX_REST_MS 50       //  at most, per step (a stalled disk)

typedef struct _kp_spare_t kp_spare_t;

//  The spare's state. Only NONE, NO_ROOM and the counters tell why the
//  next segment would be made without one.
typedef enum {
    KP_SPARE_STATE_NONE = 0, //  none ready and none being made: not asked for yet
                             //  (the segment is under half full), or just taken
    KP_SPARE_STATE_MAKING,   //  being written
    KP_SPARE_STATE_READY,    //  ready: the next segment is made from it
    KP_SPARE_STATE_NO_ROOM,  //  not made: the disk has too little free (room_free, room_needed)
    KP_SPARE_STATE_REMOVED,  //  removed by the writer: the log found its disk full
    KP_SPARE_STATE_FAILED,   //  could not be written (the node's log says why)
    KP_SPARE_STATE_OFF,      //  no spare writer: it could not start
} kp_spare_state_t;

//  Shared between threads (see above). Each field has one writer, but
//  the state: the actor stores it, the writer changes it by compare-and-
//  swap when it takes or removes the spare. The actor stores READY before
//  it renames the spare into place, so a writer that finds the file ready
//  finds READY too.
struct _kp_spare_stats_t {
    _Atomic int state;            //  kp_spare_state_t
    _Atomic uint64_t room_free;   //  NO_ROOM: the free bytes the disk had
    _Atomic uint64_t room_needed; //  and the bytes the room rule asks
    _Atomic uint64_t asked;       //  spares asked for (the logger's thread)
    _Atomic uint64_t answered;    //  of them, those the actor has done with
    _Atomic uint64_t written;     //  spares written and ready (the actor)
    _Atomic uint64_t taken;       //  segments made from a spare (the writer)
    _Atomic uint64_t made;        //  segments made without one (the writer)
    _Atomic uint64_t removed;     //  spares removed for want of disk (the writer)
};
typedef struct _kp_spare_stats_t kp_spare_stats_t;

//  A copy of the above, for the node's loop.
typedef struct {
    kp_spare_state_t state;
    uint64_t room_free, room_needed;
    uint64_t asked, answered, written, taken, made, removed;
} kp_spare_counts_t;

//  Starts the actor for the log folder dir and segments of size bytes; it
//  removes a partial spare left by a crash and waits to be asked. NULL if
//  it cannot start (the log works without a spare). Test builds: the
//  environment's KP_TEST_SPARE_FREE (bytes) stands for the disk's free
//  space, and KP_TEST_SPARE_OFF makes the start fail.
//  The actor publishes its state in stats (NULL: in its own, unseen).
kp_spare_t *kp_spare_new(const char *dir, uint64_t size, kp_spare_stats_t *stats);

//  Stops the actor; a spare it is writing is removed, a ready one stays.
void kp_spare_destroy(kp_spare_t **self_p);

//  Asks for a spare if none is ready; never blocks. Asking again while
//  one is being made changes nothing.
void kp_spare_want(kp_spare_t *self);

//  Waits until the actor has done what it was asked before (a spare
//  made, or found not to fit); for tests.
void kp_spare_sync(kp_spare_t *self);

//  Removes the spare files of dir (a ready spare and one being written),
//  for a log that has no space left. True if one was removed: then
//  counted in stats (if not NULL), and the state is REMOVED.
bool kp_spare_remove(const char *dir, kp_spare_stats_t *stats);

//  Counts a segment made from a spare (taken) or without one, in stats
//  (if not NULL); a spare taken leaves the state NONE.
void kp_spare_count_segment(kp_spare_stats_t *stats, bool taken);

//  Copies stats (NULL: the state OFF, no counts).
void kp_spare_counts(const kp_spare_stats_t *stats, kp_spare_counts_t *out);

//  "none", "making", "ready", "no-room", "removed", "failed", "off".
const char *kp_spare_state_name(kp_spare_state_t state);

//  Why the state is what it is, for people (into text, size bytes).
void kp_spare_state_why(const kp_spare_counts_t *counts, char *text, size_t size);

#endif
