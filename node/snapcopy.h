/*  snapcopy.h - a raft snapshot's copy of the directory, written to its
    file in paced steps.

    A snapshot is a compacted copy of the whole directory (hundreds of MB
    with the mutation queues; GB at national scale), made while the node
    routes requests whose privacy-log records each wait for an fdatasync
    on the same disk. Written at once, the copy filled the page cache and
    its fsync put it all in the disk's queue ahead of the log's syncs, and
    the copy's threads took CPU from the routing loop: one 213 MB snapshot
    raised the routing p99 from 4.5 to 106 ms.

    kp_snapcopy_write runs kp_directory_copy (LMDB's compacting copy) in an
    actor of its own at a lower priority (nice KP_SNAPCOPY_NICE), into a
    pipe: LMDB's copy writes to a file descriptor, and a pipe is what
    lets the reader set the pace (a full pipe stops the copy). What comes
    out goes to the file in steps of KP_SNAPCOPY_STEP bytes: each step is
    written back (sync_file_range) and dropped from the page cache before
    the next, so that a log sync never queues behind more than one step,
    and after each step the writer rests KP_SNAPCOPY_REST times as long as
    that step's write-back took, so that the disk is ours at most a
    quarter of the time whatever its speed. The SHA-256 is taken on the
    way: the file is not read again. The file still needs its fsync (its
    size and metadata); the caller does it.

    The copy holds an LMDB read transaction while it runs, so pages freed
    meanwhile are reused only after it: pacing makes the copy longer and
    the directory file may grow by what changes during it.

    Threading: blocks the calling thread (the raft io's snapshot job)
    until the copy is complete.
*/
#ifndef KP_SNAPCOPY_H_INCLUDED
#define KP_SNAPCOPY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "directory.h"

#define KP_SNAPCOPY_STEP (1u << 20) //  bytes written back at once
#define KP_SNAPCOPY_REST 3          //  rest after a step: this times its write-back
#define KP_SNAPCOPY_MAX_REST_MS 50  //  at most, per step (a stalled disk)
#define KP_SNAPCOPY_NICE 10         //  the copy's threads (the cluster actor's is 5)

typedef struct {
    uint64_t size;       //  bytes written
    uint8_t sha256[32];  //  of those bytes
    uint64_t steps;      //  written back one at a time
    uint64_t sync_us;    //  waiting for the steps' write-back, in total
    uint64_t rest_us;    //  resting between steps, in total
    uint64_t elapsed_us; //  the whole copy
} kp_snapcopy_result_t;

//  Writes a compacted copy of directory to fd (an empty file, from its
//  start), paced as above. 0, or -1 with err (the file is then partial).
int kp_snapcopy_write(kp_directory_t *directory, int fd, kp_snapcopy_result_t *out, char *err,
                      size_t errlen);

#endif
