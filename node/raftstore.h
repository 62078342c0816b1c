/*  raftstore.h - raft's persistent state in an LMDB environment of its own.

    The folder (DATA/raft, 0700; files 0600) holds:

      log    index (8 bytes, big-endian) -> term (8) | type (2) | data
      meta   "term" -> 8 bytes, "vote" -> 8 bytes,
             "snapshot" -> the last snapshot's index, term, configuration
                           and raft data (our SnapshotManifest)

    Every change is durable when its call returns (LMDB syncs on commit).
    Several changes may share one commit: between kp_raftstore_batch_begin
    and kp_raftstore_batch_commit, appends and truncations go into one
    write transaction and cost one fsync together (group commit).

    All memory handed to libraft (load, snapshot_get) is allocated with
    raft_malloc, as its raft_io contract asks.

    Threading: one thread (the cluster actor) uses a store.
*/
#ifndef KP_RAFTSTORE_H_INCLUDED
#define KP_RAFTSTORE_H_INCLUDED

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _kp_raftstore_t kp_raftstore_t;

//  Opens (creating if absent) the store in folder path.
kp_raftstore_t *kp_raftstore_new(const char *path, char *err, size_t errlen);
void kp_raftstore_destroy(kp_raftstore_t **self_p);

//  True if nothing was ever stored: no term, no entry, no snapshot.
bool kp_raftstore_pristine(kp_raftstore_t *self);

//  What raft_io.load returns. *snapshot is NULL when there is none;
//  *entries (one raft_malloc'd batch) starts at *start_index.
int kp_raftstore_load(kp_raftstore_t *self, raft_term *term, raft_id *vote,
                      struct raft_snapshot **snapshot, raft_index *start_index,
                      struct raft_entry **entries, size_t *n_entries, char *err, size_t errlen);

//  raft_io.bootstrap: term 1, no vote, conf as entry 1. -1 with
//  "cannot bootstrap" in err when the store is not pristine.
int kp_raftstore_bootstrap(kp_raftstore_t *self, const struct raft_configuration *conf, char *err,
                           size_t errlen);

//  The term (vote nil) and the vote, durable on return.
int kp_raftstore_set_term(kp_raftstore_t *self, raft_term term, char *err, size_t errlen);
int kp_raftstore_set_vote(kp_raftstore_t *self, raft_id vote, char *err, size_t errlen);

//  Group commit of the calls below (optional: without it, each commits).
int kp_raftstore_batch_begin(kp_raftstore_t *self, char *err, size_t errlen);
int kp_raftstore_batch_commit(kp_raftstore_t *self, char *err, size_t errlen);

//  Appends n entries after the last one (or after the snapshot).
int kp_raftstore_append(kp_raftstore_t *self, const struct raft_entry *entries, unsigned n,
                        char *err, size_t errlen);

//  Deletes every entry from index on.
int kp_raftstore_truncate(kp_raftstore_t *self, raft_index index, char *err, size_t errlen);

//  Stores snapshot as the last one (one buffer of data: bufs are joined),
//  then deletes the entries up to snapshot->index - trailing, or all of
//  them when trailing is 0; appends then follow snapshot->index.
int kp_raftstore_snapshot_put(kp_raftstore_t *self, unsigned trailing,
                              const struct raft_snapshot *snapshot, char *err, size_t errlen);

//  The last snapshot (raft_malloc'd, one buffer), or *out NULL if none.
int kp_raftstore_snapshot_get(kp_raftstore_t *self, struct raft_snapshot **out, char *err,
                              size_t errlen);

//  Index of the next append; the first and last stored entry (0 if none).
raft_index kp_raftstore_next_index(kp_raftstore_t *self);
raft_index kp_raftstore_first_index(kp_raftstore_t *self);

//  Frees a snapshot that kp_raftstore_load/snapshot_get returned.
void kp_raftstore_snapshot_free(struct raft_snapshot **snapshot_p);

#endif
