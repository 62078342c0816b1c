/*  snapxfer.h - snapshot files between members, in chunks, with credit.

    Raft's snapshot data is a SnapshotManifest: a file name in
    FOLDER/snapshots, its size and the SHA-256 of the whole file.

    Sender (the leader): kp_snapxfer_offer turns raft's InstallSnapshot
    RPC into a SnapshotOffer (raft's fields and the file's size and hash).
    It then sends chunks of at most KP_RAFTIO_CHUNK bytes only as far as
    the receiver has granted. A transfer without a grant for
    KP_SNAPXFER_STALL_MS is dropped (raft's install-snapshot timeout makes
    it offer again). An offer of the same file to a member that is still
    receiving it does not restart the transfer.

    Receiver: an offer opens FOLDER/snapshots/incoming-ID.tmp (0600) and
    grants KP_RAFTIO_CREDIT chunks; every chunk written grants one more.
    A chunk out of order is dropped and a grant with `resend` asks again
    from the last byte written; so does a receiver that got no chunk for
    KP_SNAPXFER_ASK_MS (chunks lost with a connection leave no gap to
    see), once per KP_SNAPXFER_ASK_MS. When the last byte is in, the hash is
    checked, the file fsynced and renamed (snap-INDEX-HASH.mdb), the folder
    fsynced, and the InstallSnapshot RPC goes to raft with a manifest that
    names the local file. A mismatch deletes the file and answers a grant
    with an error; it is counted. Nothing is queued beyond the credit.

    Threading: the thread of the raft io.
*/
#ifndef KP_SNAPXFER_H_INCLUDED
#define KP_SNAPXFER_H_INCLUDED

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"
#include "raftstore.h"

#define KP_SNAPXFER_STALL_MS 15000
#define KP_SNAPXFER_ASK_MS 1000
#define KP_SNAPXFER_MAX_SIZE (256ULL << 30)

typedef struct _kp_snapxfer_t kp_snapxfer_t;

//  Sends frame to member (id, address); 0 or -1 (dropped).
typedef int(kp_snapxfer_send_fn)(void *arg, raft_id id, const char *address, Kp__PeerFrame *frame);
//  Hands a received InstallSnapshot RPC to raft (which takes its memory).
typedef void(kp_snapxfer_deliver_fn)(void *arg, struct raft_message *message);

kp_snapxfer_t *kp_snapxfer_new(const char *folder, const char *cluster, kp_snapxfer_send_fn *send,
                               kp_snapxfer_deliver_fn *deliver, void *arg, char *err,
                               size_t errlen);
void kp_snapxfer_destroy(kp_snapxfer_t **self_p);

//  Starts sending the snapshot of an InstallSnapshot RPC. -1 if its
//  manifest or file is unusable.
int kp_snapxfer_offer(kp_snapxfer_t *self, const struct raft_message *message);

//  A SnapshotOffer, SnapshotGrant or SnapshotChunk from a member. -1 when
//  a field is out of bounds (the caller counts it).
int kp_snapxfer_on_frame(kp_snapxfer_t *self, const Kp__PeerFrame *frame);

//  Stores snapshot in store (raft_io.snapshot_put, inside the caller's
//  group commit) and deletes the snapshot files it no longer names.
int kp_snapxfer_put(kp_snapxfer_t *self, kp_raftstore_t *store, unsigned trailing,
                    const struct raft_snapshot *snapshot, char *err, size_t errlen);

//  Drops stalled transfers. The ms until that should be checked again.
void kp_snapxfer_tick(kp_snapxfer_t *self);
long kp_snapxfer_timeout(kp_snapxfer_t *self);

void kp_snapxfer_counts(kp_snapxfer_t *self, uint64_t *sent, uint64_t *refused);
//  Grants that asked again for chunks after a silence (see above).
uint64_t kp_snapxfer_asked(kp_snapxfer_t *self);

//  FOLDER/snapshots/name into path; -1 if name is not a plain file name.
int kp_snapxfer_path(kp_snapxfer_t *self, const char *name, char *path, size_t size);

//  Packs a manifest into a raft_malloc'd buffer (raft snapshot data).
int kp_snapxfer_manifest(const char *file, uint64_t size, const uint8_t sha256[32],
                         struct raft_buffer *out);

#endif
