/*  raftio.h - our struct raft_io for libraft 0.15: LMDB storage
    (raftstore) and ZeroMQ transport (raftwire), driven by the loop of the
    thread that owns it (the cluster actor).

    Transport: a ROUTER bound on the node's peer-bind endpoint receives;
    one DEALER per other member sends (connected to its peer endpoint,
    ZMQ_IMMEDIATE, so that nothing queues for a member that is down: raft
    resends). Every frame received is checked (raftwire.h) and counted;
    refused frames are dropped with their reason counted, the sender is
    not answered (it is a raft peer or an intruder: neither needs more).

    Snapshots: raft's snapshot data is a SnapshotManifest naming a file in
    FOLDER/snapshots. An InstallSnapshot RPC is sent as a transfer: an
    offer; the receiver grants chunks (at most KP_RAFTIO_CREDIT chunks of
    1 MiB past what it has written); the file follows chunk by chunk, is
    checked against the SHA-256 of the whole file, fsynced and renamed
    into place, and only then handed to raft as the InstallSnapshot RPC
    with the receiver's own manifest.

    The raft_io contract, as we keep it:
    - append, snapshot_put, snapshot_get, send and async_work complete
      through their callbacks from the loop (kp_raftio_process), never
      from inside the call that started them;
    - appends (and truncations, in order) are durable before their
      callback fires: they are written at the end of the loop's turn in
      one LMDB transaction (group commit);
    - set_term, set_vote, bootstrap are durable when they return;
    - load returns the entries after the snapshot plus the trailing ones
      kept before it, start_index being the first one's index.
*/
#ifndef KP_RAFTIO_H_INCLUDED
#define KP_RAFTIO_H_INCLUDED

#include <czmq.h>
#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "raftstore.h"
#include "raftwire.h"

#define KP_RAFTIO_CHUNK (1u << 20)
#define KP_RAFTIO_CREDIT 4

//  The ZeroMQ endpoint of member (id, address), or NULL if unknown.
typedef const char *(kp_raftio_resolve_fn)(void *arg, raft_id id, const char *address);

//  Secures a new socket before it binds (server: the ROUTER) or connects
//  (a DEALER to member id, address): CURVE with the node's certificate.
//  0, or -1 when it cannot (the ROUTER then does not start; that member
//  is not sent to).
typedef int(kp_raftio_secure_fn)(void *arg, void *sock, bool server, raft_id id,
                                 const char *address);

//  The Z85 public key member id authenticates with; NULL when id is no
//  member the cluster file names. Called for every frame received: it
//  must answer from memory.
typedef const char *(kp_raftio_member_key_fn)(void *arg, raft_id id);

//  Node-level hooks of the cluster actor (called with resolve_arg).
//  admit: every raft message received (outgoing false; server_id is its
//  sender) and every one raft sends (outgoing true; server_id is its
//  recipient) passes here first: false drops it (a removed node neither
//  asks for votes nor gives them). removed: a MemberRemoved frame came
//  from member from_id (its sender checked like any frame's).
typedef bool(kp_raftio_admit_fn)(void *arg, const struct raft_message *message, bool outgoing);
typedef void(kp_raftio_removed_fn)(void *arg, raft_id from_id, uint64_t term, uint64_t conf_index);

//  A checked frame of node-level cluster traffic that is not raft's
//  (forwarded proposals and their results, forward.h), from a member
//  whose key was checked as for raft's. The frame is the caller's only
//  during the call. Returns 0, or -1 if the frame is refused (counted as
//  a bad field).
typedef int(kp_raftio_frame_fn)(void *arg, const Kp__PeerFrame *frame);

typedef struct {
    const char *cluster;           //  frames of another cluster are refused
    const char *folder;            //  DATA/raft
    const char *bind;              //  peer-bind endpoint; NULL: no transport
    kp_raftio_resolve_fn *resolve; //  how to reach other members
    void *resolve_arg;
    kp_raftio_secure_fn *secure; //  NULL: plain text (insecure clusters, tests)
    //  With secure: a frame is taken only when its from_id is the member
    //  whose key the CURVE handshake authenticated (one member's key must
    //  not speak for another). NULL: not checked.
    kp_raftio_member_key_fn *member_key;
    size_t max_frame;              //  largest frame accepted (beyond it the peer is cut)
    kp_raftio_admit_fn *admit;     //  NULL: every message goes through
    kp_raftio_removed_fn *removed; //  NULL: MemberRemoved frames are ignored
    kp_raftio_frame_fn *on_frame;  //  NULL: such frames are refused
    void *on_frame_arg;
} kp_raftio_options_t;

typedef struct {
    uint64_t frames_in, frames_out, sends_dropped;
    uint64_t refused[KP_RAFTWIRE_REASONS];
    uint64_t snapshots_sent, snapshots_received, snapshots_refused;
    uint64_t appends, commits; //  append requests; LMDB commits for them
} kp_raftio_stats_t;

//  A new io (not yet initialised by raft_init). NULL with err on failure.
struct raft_io *kp_raftio_new(const kp_raftio_options_t *options, char *err, size_t errlen);

//  Frees an io after raft_close's callback has fired (or if never used).
void kp_raftio_destroy(struct raft_io **io_p);

//  The store, e.g. to ask whether it is pristine before bootstrapping.
kp_raftstore_t *kp_raftio_store(struct raft_io *io);

//  The loop: up to max poll items the io wants polled (its ROUTER, running
//  jobs); how long the loop may sleep (ms; 0 when callbacks are due); and
//  the work after zmq_poll returned (items as filled by kp_raftio_items).
int kp_raftio_items(struct raft_io *io, zmq_pollitem_t *items, int max);
long kp_raftio_timeout(struct raft_io *io);
void kp_raftio_process(struct raft_io *io, const zmq_pollitem_t *items, int count);

//  Tells member (id, address) that it is no longer in the committed
//  configuration (MemberRemoved, see proto): term, conf_index. 0, or -1
//  when the frame cannot leave now (the member is down).
int kp_raftio_send_removed(struct raft_io *io, raft_id id, const char *address, uint64_t term,
                           uint64_t conf_index);

//  Monotonic ms of the last AppendEntries or snapshot received from a
//  leader (0: never).
int64_t kp_raftio_leader_contact(struct raft_io *io);

void kp_raftio_stats(struct raft_io *io, kp_raftio_stats_t *out);

//  Sends a node-level frame (its sender fields are set here) to member
//  (id, address) without waiting, over the same CURVE link as raft's.
//  0, or -1 when it cannot leave now (member unknown or down).
int kp_raftio_send_peer(struct raft_io *io, raft_id id, const char *address, Kp__PeerFrame *frame);

//  The path of a snapshot file named in a manifest (FOLDER/snapshots/NAME)
//  into path; -1 if name is not a plain file name.
int kp_raftio_snapshot_path(struct raft_io *io, const char *name, char *path, size_t size);

#endif
