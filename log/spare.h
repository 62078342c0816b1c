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
*/
#ifndef KP_SPARE_H_INCLUDED
#define KP_SPARE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define KP_SPARE_READY "spare-segment"
#define KP_SPARE_PARTIAL "spare-segment.part"
#define KP_SPARE_MARGIN (64ull << 20) //  bytes left free beyond two segments
#define KP_SPARE_STEP (1u << 20)      //  bytes written back at once
#define KP_SPARE_REST 3               //  rest after a step: this times its write-back
#define KP_SPARE_MAX_REST_MS 50       //  at most, per step (a stalled disk)

typedef struct _kp_spare_t kp_spare_t;

//  Starts the actor for the log folder dir and segments of size bytes; it
//  removes a partial spare left by a crash and waits to be asked. NULL if
//  it cannot start (the log works without a spare). Test builds: the
//  environment's KP_TEST_SPARE_FREE (bytes) stands for the disk's free
//  space.
kp_spare_t *kp_spare_new(const char *dir, uint64_t size);

//  Stops the actor; a spare it is writing is removed, a ready one stays.
void kp_spare_destroy(kp_spare_t **self_p);

//  Asks for a spare if none is ready; never blocks. Asking again while
//  one is being made changes nothing.
void kp_spare_want(kp_spare_t *self);

//  Waits until the actor has done what it was asked before (a spare
//  made, or found not to fit); for tests.
void kp_spare_sync(kp_spare_t *self);

//  Removes the spare files of dir (a ready spare and one being written),
//  for a log that has no space left. True if a ready one was removed.
bool kp_spare_remove(const char *dir);

#endif
