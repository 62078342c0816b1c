/*  dirfsm.h - the reference directory as libraft's state machine.

    A RAFT_COMMAND entry holds one packed DirectoryUpdate. Applying entry
    N runs it through kp_directory_apply_at(N): the directory records N in
    the same LMDB transaction as the update, so the replay of entries
    after a restart (libraft re-applies from its last snapshot) skips
    what the directory already holds, and the directory's sequence is the
    same on every node for the same entry. An update the directory refuses
    (a DELETE of an absent record, ...) is refused alike on every node:
    it changes nothing, and the proposer learns why.

    Snapshots (fsm version 3, taken in a thread of their own): a compacted
    copy of the directory (kp_directory_copy) written to
    SNAPSHOTS/taking-*.tmp, fsynced, hashed and renamed to
    snap-INDEX-HASH.mdb; raft's snapshot data is its SnapshotManifest. The
    copy is of a read transaction that starts after raft chose the
    snapshot's index, so it may hold a few entries more; the manifest says
    which raft index the copy holds, and those entries are skipped on
    replay like any other. Restoring a snapshot puts the file's content in
    the directory (through the replace hook: kp_directory_load in the
    cluster), unless the directory already holds that index or a later
    one.

    Threading: apply, restore and finalize run in the raft thread;
    snapshot_async in a thread of the raft io.
*/
#ifndef KP_DIRFSM_H_INCLUDED
#define KP_DIRFSM_H_INCLUDED

#include <raft.h>
#include <stdint.h>

#include "directory.h"

//  Replaces the directory by file (kp_directory_replace, coordinated with
//  the directory's readers). 0 or -1 with err.
typedef int(kp_dirfsm_replace_fn)(void *arg, const char *file, char *err, size_t errlen);

typedef struct {
    kp_directory_t *directory;
    const char *snapshots;   //  folder of snapshot files
    const struct raft *raft; //  read for the index being applied
    kp_dirfsm_replace_fn *replace;
    void *replace_arg;
    //  Take snapshots in raft's thread (fsm version 2): libraft 0.15
    //  refuses asynchronous snapshots with its own test fixture, whose io
    //  says it is version 1.
    bool sync_snapshots;
    //  Apply entries in a directory batch (kp_directory_batch_begin) that
    //  kp_dirfsm_flush commits: one fsync for a turn's entries, not one
    //  each. Snapshots and restores flush first.
    bool batch;
    //  Called after each entry is applied (raft's thread), with its index
    //  and replace_arg: a snapshot rule that lowers raft's threshold here
    //  has the snapshot taken at this entry, not the next one. May be NULL.
    void (*applied)(void *arg, uint64_t index);
} kp_dirfsm_options_t;

//  The outcome of the last apply; an apply's result pointer points here.
typedef enum { KP_DIRFSM_OK = 0, KP_DIRFSM_REFUSED } kp_dirfsm_status_t;

typedef struct {
    kp_dirfsm_status_t status;
    uint64_t index; //  raft index
    uint64_t seq;   //  directory sequence after it
    bool replayed;  //  the directory held it already
    bool duplicate; //  a batch of an import applied before: not again
    char error[512];
} kp_dirfsm_result_t;

struct raft_fsm *kp_dirfsm_new(const kp_dirfsm_options_t *options);

//  Commits the open batch, if any. -1 with err if LMDB failed: then the
//  entries applied since the last flush are not in the directory, though
//  raft counts them applied; only a restart (which applies them again from
//  the raft log) mends that.
int kp_dirfsm_flush(struct raft_fsm *fsm, char *err, size_t errlen);
void kp_dirfsm_destroy(struct raft_fsm **fsm_p);

//  Counters: entries applied, skipped as replays, refused, skipped as
//  import batches applied before; snapshots taken and restored.
typedef struct {
    uint64_t applied, replayed, refused, duplicates, snapshots, restores;
    uint64_t bytes;         //  of every entry given to apply
    uint64_t snapshot_size; //  bytes of the last snapshot taken or restored; 0: none yet
    //  bytes when the last snapshot was begun (the entries up to its index)
    //  or restored: bytes - bytes_at_snapshot are the entries since it.
    uint64_t bytes_at_snapshot;
} kp_dirfsm_stats_t;
void kp_dirfsm_stats(struct raft_fsm *fsm, kp_dirfsm_stats_t *out);

#endif
