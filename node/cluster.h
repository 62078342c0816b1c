/*  cluster.h - the directory replicated by raft: the cluster actor.

    Every node of a cluster file runs one cluster actor (a CZMQ actor: its
    own thread and loop). It holds the raft instance (libraft 0.15) with
    our raft_io (raftio.h: LMDB in DATA/raft, ZeroMQ on the peer
    endpoints) and the directory as its state machine (dirfsm.h). The
    node's routing loop talks to it only through its socket:

      node -> actor   proposals (one packed DirectoryUpdate each, one raft
                      entry each), membership changes, leadership transfer,
                      "released" during a directory replacement
      actor -> node   results (token, status, directory sequence, text),
                      status (pushed when it changes, and every 250 ms),
                      "replace" / "replaced" around a snapshot install

    Nothing the routing loop does waits on consensus: a proposal returns
    at once and its result arrives later on the socket.

    The directory (kp_directory_t) is shared: the actor is its only writer
    (committed entries, snapshot installs), the routing loop only reads.
    A snapshot is loaded into the directory in one write transaction
    (kp_directory_load): readers go on beside it and see the new content
    from its commit on. (The "replace" / "replaced" events of a first
    version, when the file was renamed over the directory's and the loop
    had to let go of its transaction, are no longer sent.)

    kp_cluster_new may load a snapshot into the directory before it
    returns (one whose install a crash cut short).

    Roles (cluster file): voter and witness are raft voters; a learner is
    a raft standby (follows the log, no vote). Raft ids are the nodes'
    positions in the file. On the first start of an empty raft folder the
    node bootstraps the configuration of the file (voters and witness
    voting, learners standby). Every member applies the log to a directory
    of its own (also the witness, which serves nothing from it: so that it
    can hand out snapshots if it is leader for a moment; a witness that
    becomes leader hands leadership to a voter at once).

    A cluster file without peer endpoints (single.cfg): the node is a
    cluster of one, and its updates still go through the raft log.
*/
#ifndef KP_CLUSTER_H_INCLUDED
#define KP_CLUSTER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "directory.h"
#include "raftio.h"

typedef struct _kp_cluster_t kp_cluster_t;

//  Starts the actor for node me of the cluster: opens DATA/raft,
//  bootstraps it if empty, starts raft. directory is borrowed (it must
//  outlive the cluster). Returns when raft has started, or NULL with err.
kp_cluster_t *kp_cluster_new(const kp_cluster_config_t *config, const kp_node_config_t *me,
                             kp_directory_t *directory, char *err, size_t errlen);

//  Stops raft (pending proposals are answered KP_CLUSTER_UNKNOWN) and the
//  actor; nulls the caller's pointer.
void kp_cluster_destroy(kp_cluster_t **self_p);

//  The socket the routing loop polls; on ZMQ_POLLIN call kp_cluster_recv.
zsock_t *kp_cluster_sock(kp_cluster_t *self);

//  Largest proposal (packed DirectoryUpdate) accepted.
#define KP_CLUSTER_MAX_ENTRY (8u << 20)

typedef enum {
    KP_CLUSTER_OK = 0,     //  committed on a majority and applied here
    KP_CLUSTER_NOT_LEADER, //  text: the leader's name (ask it)
    KP_CLUSTER_NO_QUORUM,  //  no leader known; text: the last one known
    KP_CLUSTER_FAILED,     //  refused (text: why); nothing changed
    KP_CLUSTER_UNKNOWN,    //  leadership lost before commit: it may or may
                           //  not be applied; read the directory's sequence
} kp_cluster_result_t;

const char *kp_cluster_result_name(kp_cluster_result_t result);

//  Proposes one packed kp.DirectoryUpdate. Returns 0 (the result follows
//  on the socket with token) or -1 with err (too large, not an update).
//  On a follower the update is forwarded to the leader (forward.h): the
//  result is the leader's, given once this node has applied the entry;
//  UNKNOWN (named) when the leader does not answer in time or loses the
//  lead; NOT_LEADER only when no forward can be made (too many under
//  way, the leader unreachable now).
int kp_cluster_propose(kp_cluster_t *self, uint64_t token, const uint8_t *update, size_t size,
                       char *err, size_t errlen);

//  Membership and leadership, results on the socket like proposals.
//  add: a new member (raft id, address: its name when the cluster file
//  has it, or "name@tcp://host:port") as a voter, learner or witness
//  (a witness is a voter to raft). remove: takes id out; the leader asked
//  to remove itself first hands leadership to the most up-to-date voter
//  it hears from and answers NOT_LEADER naming it (ask it again there).
//  A removed member is told so by the leader (MemberRemoved) once the
//  change commits, and again whenever it asks for votes. transfer: hands
//  leadership to id (0: the most up-to-date voter).
int kp_cluster_add(kp_cluster_t *self, uint64_t token, uint64_t id, const char *address,
                   kp_role_t role);
int kp_cluster_remove(kp_cluster_t *self, uint64_t token, uint64_t id);
int kp_cluster_transfer(kp_cluster_t *self, uint64_t token, uint64_t id);

typedef enum {
    KP_CLUSTER_STATE_UNAVAILABLE = 0,
    KP_CLUSTER_STATE_FOLLOWER,
    KP_CLUSTER_STATE_CANDIDATE,
    KP_CLUSTER_STATE_LEADER,
} kp_cluster_state_t;

const char *kp_cluster_state_name(kp_cluster_state_t state);

//  Proposals forwarded from followers to the leader (forward.h), as this
//  node counted them since it started. A follower's: forwarded (sent to
//  the leader), results (the leader's answers), and how its callers were
//  answered: applied (OK, applied here), failures (the leader refused,
//  or it could not be sent), timeouts (UNKNOWN: no answer in time, a
//  leader change, not applied here in time); refused: answers dropped
//  (malformed, or for nothing pending). A leader's: received from
//  followers, and of them rejected (not proposed).
typedef struct {
    uint64_t forwarded, results, applied, failures, timeouts, refused;
    uint64_t received, rejected;
} kp_forward_stats_t;

typedef struct {
    kp_role_t role;           //  from the cluster file
    kp_cluster_state_t state; //  raft's
    uint64_t term;
    uint64_t leader_id;               //  0: none known now
    char leader[KP_CONFIG_NAME];      //  "" when none is known now
    char last_leader[KP_CONFIG_NAME]; //  the last leader ever known
    uint64_t commit_index, applied_index, last_index;
    uint64_t snapshot_index;    //  raft's last snapshot
    uint64_t directory_seq;     //  after the last apply here
    uint64_t directory_applied; //  raft index the directory holds
    int64_t contact_ms;         //  monotonic ms of the last sign of a majority
                                //  (leader: now; follower: last leader message;
                                //  0: never since start)
    unsigned members, voters;
    kp_raftio_stats_t io;
    kp_forward_stats_t forward;
    uint64_t applied, replayed, refused, snapshots, restores;
    uint64_t duplicates; //  import batches sent again, not applied again
    //  The snapshot rule's figures: the last snapshot's size, the bytes of
    //  the entries applied since (both 0 when unknown), and why the next
    //  snapshot is due ("" while none is).
    uint64_t snapshot_bytes, since_snapshot_bytes;
    char snapshot_due[16];
    //  Removed from the cluster's membership: a leader said so (or said it
    //  before a restart: DATA/raft/removed). The node asks for no votes,
    //  gives none, and serves nothing, until a leader adds it again.
    bool removed;
    uint64_t removed_term;
    char removed_by[KP_CONFIG_NAME];
} kp_cluster_status_t;

//  One event from the socket (call when it is readable).
typedef enum {
    KP_CLUSTER_EVENT_NONE = 0, //  nothing (left) to read
    KP_CLUSTER_EVENT_RESULT,   //  a proposal's (or membership change's) result
    KP_CLUSTER_EVENT_STATUS,   //  the status changed (kp_cluster_status)
    KP_CLUSTER_EVENT_REPLACE,  //  no longer sent (see above)
    KP_CLUSTER_EVENT_REPLACED, //  no longer sent
} kp_cluster_event_type_t;

typedef struct {
    kp_cluster_event_type_t type;
    uint64_t token;             //  RESULT
    kp_cluster_result_t result; //  RESULT
    uint64_t seq;               //  RESULT: directory sequence after apply
    char text[512];             //  RESULT: leader name or why
} kp_cluster_event_t;

int kp_cluster_recv(kp_cluster_t *self, kp_cluster_event_t *event);

//  After KP_CLUSTER_EVENT_REPLACE (no longer sent): kept for callers.
void kp_cluster_released(kp_cluster_t *self);

//  The last status the actor pushed (never waits).
void kp_cluster_status(kp_cluster_t *self, kp_cluster_status_t *out);

//  How long (ms) since the last sign of a majority: 0 for a leader, the
//  time since the leader's last message for a follower (a heartbeat or
//  so while it lives), INT64_MAX if never since start.
int64_t kp_cluster_stale_ms(const kp_cluster_status_t *status, int64_t now_ms);

#endif
