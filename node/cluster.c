/*  cluster.c - the directory replicated by raft: the cluster actor; see
    cluster.h. */
#include "cluster.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "curve.h"
#include "dirfsm.h"
#include "forward.h"
#include "raftfix.h"

#define KP_CLUSTER_STATUS_MS 250 //  status pushed at least this often
#define KP_CLUSTER_INSTALL_TIMEOUT_MS 120000
#define KP_CLUSTER_REPLACE_WAIT_MS 10000 //  for the routing loop to let go
#define KP_CLUSTER_NICE 5                //  the actor's nice value (the loop's is 0)
#define KP_CLUSTER_TELL_MS 1000 //  a removed node asking for votes is told at most this often

//  What the actor is given; err comes back when it fails to start.
typedef struct {
    kp_cluster_config_t config;
    kp_node_config_t me;
    kp_directory_t *directory;
    char err[512];
} s_args_t;

struct _kp_cluster_t {
    zactor_t *actor;
    s_args_t *args; //  the actor's until it ends
    kp_cluster_status_t status;
};

//  A message if one is waiting, without blocking.
static zmsg_t *s_recv_nowait(zsock_t *sock)
{
    return (zsock_events(sock) & ZMQ_POLLIN) ? zmsg_recv(sock) : NULL;
}

typedef struct {
    zsock_t *pipe;
    s_args_t *args;
    struct raft raft;
    struct raft_io *io;
    zcert_t *cert;     //  the node's CURVE certificate; NULL: plain text
    kp_raftfix_t *fix; //  between raft and io: libraft 0.15's match-index bug
    struct raft_fsm *fsm;
    bool started;  //  raft_init done: raft_close is due
    bool attached; //  the routing loop runs: replacements need its consent
    bool closing, closed;
    zlist_t *later;   //  commands that came during a replacement, for after
    zlist_t *results; //  results held until this turn's applies are committed
    kp_cluster_status_t pushed;
    int64_t next_push;
    char last_leader[KP_CONFIG_NAME];
    struct raft_transfer transfer;
    uint64_t transfer_token;
    bool transferring;
    raft_index snapshot_seen; //  raft's last snapshot, as s_snapshot_rule saw it
    const char *due;          //  the threshold was lowered: why a snapshot is due; NULL
    //  The cluster file's node keys (Z85; "" for a node without one), read
    //  once at start: raftio checks every frame's sender against them.
    char member_keys[KP_CONFIG_MAX_NODES][KP_CURVE_Z85];
    //  This node removed from the membership (see cluster.h), kept in
    //  DATA/raft/removed across restarts.
    bool removed;
    uint64_t removed_term;
    char removed_by[KP_CONFIG_NAME];
    char removed_file[KP_CONFIG_TEXT + 32];
    //  Leader: when each non-member of the file was last told it is one.
    int64_t told[KP_CONFIG_MAX_NODES];
    //  Leader asked to remove itself: the transfer before it is under way.
    bool removing_self;
    //  ... or waiting, until remove_until (0: not), for a voter to answer
    //  it: raft forgets who answered at every election timeout.
    int64_t remove_until;
    uint64_t remove_token;
    kp_forward_t *forward; //  proposals this follower sent to the leader
} s_actor_t;

typedef struct {
    struct raft_apply req;
    s_actor_t *actor;
    uint64_t token;
    //  A proposal a follower forwarded (forward.h): answered to it.
    uint64_t forward_id; //  0: the routing loop's own
    raft_id forward_from;
    char forward_address[KP_RAFTWIRE_MAX_ADDRESS + 1];
} s_proposal_t;

typedef struct {
    struct raft_change req;
    s_actor_t *actor;
    uint64_t token;
    raft_id id;
    int role;    //  raft role once added
    bool remove; //  a removal: the node is told once it commits
} s_change_t;

const char *kp_cluster_result_name(kp_cluster_result_t result)
{
    static const char *names[] = {"OK", "NOT_LEADER", "NO_QUORUM", "FAILED", "UNKNOWN"};
    return result <= KP_CLUSTER_UNKNOWN ? names[result] : "?";
}

const char *kp_cluster_state_name(kp_cluster_state_t state)
{
    static const char *names[] = {"unavailable", "follower", "candidate", "leader"};
    return state <= KP_CLUSTER_STATE_LEADER ? names[state] : "?";
}

//  ---------------------------------------------------------------------
//  Actor: answers to the routing loop

static void s_send_result(s_actor_t *self, uint64_t token, kp_cluster_result_t result, uint64_t seq,
                          const char *text)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "RESULT");
    zmsg_addmem(msg, &token, sizeof token);
    uint32_t code = (uint32_t)result;
    zmsg_addmem(msg, &code, sizeof code);
    zmsg_addmem(msg, &seq, sizeof seq);
    zmsg_addstr(msg, text ? text : "");
    zlist_append(self->results, msg);
}

//  Commits the turn's applies, then lets their results go.
static void s_flush(s_actor_t *self)
{
    char err[256];
    if (kp_dirfsm_flush(self->fsm, err, sizeof err)) {
        //  Raft counts those entries applied; only a restart applies them
        //  again (from the raft log, durable on a majority).
        zsys_error("kpnode %s: the directory cannot commit applied raft entries (%s); stopping",
                   self->args->me.name, err);
        exit(EXIT_FAILURE);
    }
    zmsg_t *msg;
    while ((msg = zlist_pop(self->results)))
        zmsg_send(&msg, self->pipe);
}

//  The node name in a raft address ("name" or "name@endpoint").
static void s_name_of(const char *address, char *name, size_t size)
{
    size_t len = address ? strcspn(address, "@") : 0;
    snprintf(name, size, "%.*s", (int)(len < size ? len : size - 1), address ? address : "");
}

static void s_leader(s_actor_t *self, raft_id *id, char *name, size_t size)
{
    const char *address = NULL;
    raft_leader(&self->raft, id, &address);
    s_name_of(address, name, size);
    if (*name)
        snprintf(self->last_leader, sizeof self->last_leader, "%s", name);
}

//  A proposal that cannot be made here: who to ask instead.
static void s_not_here(s_actor_t *self, uint64_t token)
{
    raft_id id;
    char leader[KP_CONFIG_NAME];
    s_leader(self, &id, leader, sizeof leader);
    if (id && id != self->raft.id)
        s_send_result(self, token, KP_CLUSTER_NOT_LEADER, 0, leader);
    else
        s_send_result(self, token, KP_CLUSTER_NO_QUORUM, 0, self->last_leader);
}

//  ---------------------------------------------------------------------
//  Actor: proposals and membership

//  Answers the follower that forwarded a proposal (forward.h).
static void s_forward_answer(s_actor_t *self, raft_id to, const char *address, uint64_t id,
                             kp_cluster_result_t result, uint64_t seq, uint64_t index,
                             const char *text)
{
    char cut[KP_FORWARD_TEXT];
    snprintf(cut, sizeof cut, "%s", text ? text : "");
    Kp__ForwardResult body;
    kp_forward_result(&body, id, result, seq, index, cut);
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_FORWARD_RESULT;
    frame.forward_result = &body;
    kp_raftio_send_peer(self->io, to, address, &frame);
}

static void s_applied(struct raft_apply *req, int status, void *result)
{
    s_proposal_t *proposal = (s_proposal_t *)req->data;
    s_actor_t *self = proposal->actor;
    const kp_dirfsm_result_t *outcome = (const kp_dirfsm_result_t *)result;
    if (proposal->forward_id) {
        kp_cluster_result_t code = status != 0                       ? KP_CLUSTER_UNKNOWN
                                   : outcome->status == KP_DIRFSM_OK ? KP_CLUSTER_OK
                                                                     : KP_CLUSTER_FAILED;
        s_forward_answer(self, proposal->forward_from, proposal->forward_address,
                         proposal->forward_id, code, status ? 0 : outcome->seq,
                         status ? 0 : outcome->index,
                         status ? raft_strerror(status) : outcome->error);
    } else if (status != 0)
        s_send_result(self, proposal->token, KP_CLUSTER_UNKNOWN, 0, raft_strerror(status));
    else if (outcome->status == KP_DIRFSM_OK)
        s_send_result(self, proposal->token, KP_CLUSTER_OK, outcome->seq, "");
    else
        s_send_result(self, proposal->token, KP_CLUSTER_FAILED, outcome->seq, outcome->error);
    free(proposal);
}

//  Nothing that is not a DirectoryUpdate goes in the log (the routing
//  loop and a forwarding follower hand updates over undecoded).
static bool s_is_update(const uint8_t *data, size_t size)
{
    if (size > KP_CLUSTER_MAX_ENTRY)
        return false;
    Kp__DirectoryUpdate *update = kp__directory_update__unpack(NULL, size, data);
    kp__directory_update__free_unpacked(update, NULL);
    return update != NULL;
}

//  Appends one update (this node leads); proposal is taken over. 0, or
//  raft's error code (proposal freed).
static int s_apply(s_actor_t *self, s_proposal_t *proposal, const uint8_t *data, size_t size)
{
    struct raft_buffer buf = {raft_malloc(size ? size : 1), size};
    if (!buf.base) {
        free(proposal);
        return RAFT_NOMEM;
    }
    memcpy(buf.base, data, size);
    proposal->actor = self;
    proposal->req.data = proposal;
    int rc = raft_apply(&self->raft, &proposal->req, &buf, 1, s_applied);
    if (rc) {
        raft_free(buf.base);
        free(proposal);
    }
    return rc;
}

//  A follower's proposal goes to the leader (forward.h); without a
//  leader, or with too many forwarded already, the caller is told who
//  leads as before.
static void s_forward(s_actor_t *self, uint64_t token, const uint8_t *data, size_t size)
{
    raft_id id;
    char leader[KP_CONFIG_NAME];
    s_leader(self, &id, leader, sizeof leader);
    const char *address = NULL;
    raft_leader(&self->raft, &id, &address);
    Kp__ForwardProposal body;
    if (!id || id == self->raft.id || self->removed ||
        kp_forward_start(self->forward, token, id, leader, data, size, zclock_mono(), zclock_time(),
                         &body)) {
        s_not_here(self, token);
        return;
    }
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_FORWARD;
    frame.forward = &body;
    if (kp_raftio_send_peer(self->io, id, address, &frame)) {
        kp_forward_hold(self->forward, &body); //  sent again, or answered NOT_LEADER
    }
}

static void s_propose(s_actor_t *self, uint64_t token, zframe_t *data)
{
    if (!s_is_update(zframe_data(data), zframe_size(data))) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0,
                      "the update is not a kp.DirectoryUpdate protobuf");
        return;
    }
    if (raft_state(&self->raft) != RAFT_LEADER) {
        s_forward(self, token, zframe_data(data), zframe_size(data));
        return;
    }
    s_proposal_t *proposal = calloc(1, sizeof *proposal);
    if (!proposal) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, "out of memory");
        return;
    }
    proposal->token = token;
    int rc = s_apply(self, proposal, zframe_data(data), zframe_size(data));
    if (rc == RAFT_NOTLEADER || rc == RAFT_LEADERSHIPLOST)
        s_not_here(self, token);
    else if (rc)
        s_send_result(self, token, KP_CLUSTER_FAILED, 0,
                      rc == RAFT_NOMEM ? "out of memory" : raft_errmsg(&self->raft));
}

//  The leader's side of a forwarded proposal: proposed as its own, the
//  result goes back to the follower (s_applied).
static void s_forwarded(s_actor_t *self, const Kp__PeerFrame *frame)
{
    const Kp__ForwardProposal *body = frame->forward;
    raft_id id;
    char leader[KP_CONFIG_NAME];
    s_leader(self, &id, leader, sizeof leader);
    kp_cluster_result_t refused = KP_CLUSTER_OK;
    const char *why = "";
    char stale[256];
    int64_t age_ms;
    if (kp_forward_stale(body, zclock_time(), &age_ms)) {
        refused = KP_CLUSTER_NO_QUORUM; //  nothing proposed: send it again
        snprintf(stale, sizeof stale,
                 "the forwarded update reached the leader %s %lld ms after it was sent (more "
                 "than %d): not proposed; send it again",
                 leader, (long long)age_ms, KP_FORWARD_STALE_MS);
        why = stale;
    } else if (!body->has_update || !s_is_update(body->update.data, body->update.len)) {
        refused = KP_CLUSTER_FAILED;
        why = "the forwarded update is not a kp.DirectoryUpdate protobuf (at most 8 MiB)";
    } else if (raft_state(&self->raft) != RAFT_LEADER || self->closing) {
        refused = id && id != self->raft.id ? KP_CLUSTER_NOT_LEADER : KP_CLUSTER_NO_QUORUM;
        why = id && id != self->raft.id ? leader : self->last_leader;
    }
    s_proposal_t *proposal = refused ? NULL : calloc(1, sizeof *proposal);
    if (proposal) {
        proposal->forward_id = body->id;
        proposal->forward_from = frame->from_id;
        snprintf(proposal->forward_address, sizeof proposal->forward_address, "%s",
                 frame->from ? frame->from : "");
        int rc = s_apply(self, proposal, body->update.data, body->update.len);
        refused = rc == 0                                             ? KP_CLUSTER_OK
                  : rc == RAFT_NOTLEADER || rc == RAFT_LEADERSHIPLOST ? KP_CLUSTER_NO_QUORUM
                                                                      : KP_CLUSTER_FAILED;
        why = rc ? raft_strerror(rc) : "";
    } else if (!refused) {
        refused = KP_CLUSTER_FAILED;
        why = "out of memory";
    }
    kp_forward_received(self->forward, !refused);
    if (refused)
        s_forward_answer(self, frame->from_id, frame->from, body->id, refused, 0, 0, why);
}

//  Node-level peer frames (raftio's on_frame): forwarded proposals and
//  their answers. -1 refuses the frame (counted by raftio).
static int s_on_peer_frame(void *arg, const Kp__PeerFrame *frame)
{
    s_actor_t *self = (s_actor_t *)arg;
    if (frame->body_case == KP__PEER_FRAME__BODY_FORWARD && frame->forward &&
        frame->forward->has_id) {
        s_forwarded(self, frame);
        return 0;
    }
    if (frame->body_case == KP__PEER_FRAME__BODY_FORWARD_RESULT && frame->forward_result)
        return kp_forward_answer(self->forward, frame->from_id, frame->forward_result);
    return -1;
}

//  kp_forward_send_fn: a held forward to the leader, if it still leads.
static int s_forward_send(void *arg, uint64_t leader, const Kp__ForwardProposal *body)
{
    s_actor_t *self = (s_actor_t *)arg;
    raft_id id;
    const char *address = NULL;
    raft_leader(&self->raft, &id, &address);
    if (id != leader)
        return -1;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_FORWARD;
    frame.forward = (Kp__ForwardProposal *)body;
    return kp_raftio_send_peer(self->io, id, address, &frame);
}

//  Answers to forwarded proposals that are due: applied here, refused,
//  timed out, or overtaken by a new leader. True if any.
static bool s_forward_due(s_actor_t *self)
{
    if (!kp_forward_pending(self->forward))
        return false;
    kp_forward_resend(self->forward, zclock_time(), s_forward_send, self);
    raft_id leader;
    const char *address;
    raft_leader(&self->raft, &leader, &address);
    kp_forward_done_t done;
    bool any = false;
    while (kp_forward_due(self->forward, raft_last_applied(&self->raft), leader, zclock_mono(),
                          &done)) {
        s_send_result(self, done.token, done.result, done.seq, done.text);
        any = true;
    }
    return any;
}

static void s_changed(struct raft_change *req, int status);

static void s_tell_removed(s_actor_t *self, raft_id id, bool now);

static void s_change_done(s_change_t *change, int status)
{
    if (status == 0 && change->remove)
        s_tell_removed(change->actor, change->id, true);
    if (status)
        s_send_result(change->actor, change->token, KP_CLUSTER_FAILED, 0, raft_strerror(status));
    else
        s_send_result(change->actor, change->token, KP_CLUSTER_OK, 0, "");
    free(change);
}

//  raft_add makes a spare; the role it should have is assigned after.
static void s_changed(struct raft_change *req, int status)
{
    s_change_t *change = (s_change_t *)req->data;
    if (status == 0 && change->role != RAFT_SPARE) {
        int role = change->role;
        change->role = RAFT_SPARE; //  the next callback is the last
        int rc = raft_assign(&change->actor->raft, &change->req, change->id, role, s_changed);
        if (rc == 0)
            return;
        status = rc;
    }
    s_change_done(change, status);
}

static void s_remove_self(s_actor_t *self, uint64_t token);

static void s_membership(s_actor_t *self, const char *command, uint64_t token, zmsg_t *msg)
{
    if (raft_state(&self->raft) != RAFT_LEADER) {
        s_not_here(self, token);
        return;
    }
    s_change_t *change = calloc(1, sizeof *change);
    assert(change);
    change->actor = self;
    change->token = token;
    change->req.data = change;
    change->role = RAFT_SPARE;
    zframe_t *frame = zmsg_pop(msg);
    if (frame && zframe_size(frame) == sizeof(uint64_t))
        memcpy(&change->id, zframe_data(frame), sizeof(uint64_t));
    zframe_destroy(&frame);
    if (!strcmp(command, "REMOVE") && change->id == self->raft.id) {
        free(change);
        s_remove_self(self, token);
        return;
    }
    int rc;
    if (!strcmp(command, "ADD")) {
        char *address = zmsg_popstr(msg);
        char *role = zmsg_popstr(msg);
        change->role = role && atoi(role) == KP_ROLE_LEARNER ? RAFT_STANDBY : RAFT_VOTER;
        rc = address ? raft_add(&self->raft, &change->req, change->id, address, s_changed)
                     : RAFT_INVALID;
        zstr_free(&address);
        zstr_free(&role);
    } else {
        change->remove = true;
        rc = raft_remove(&self->raft, &change->req, change->id, s_changed);
    }
    if (rc) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, raft_errmsg(&self->raft));
        free(change);
    }
}

static void s_transferred(struct raft_transfer *req)
{
    s_actor_t *self = (s_actor_t *)req->data;
    self->transferring = false;
    raft_id id;
    char leader[KP_CONFIG_NAME];
    s_leader(self, &id, leader, sizeof leader);
    if (!self->transfer_token)
        return; //  a witness handing leadership away
    if (self->removing_self) {
        //  Handed over: the new leader takes this node out (kpctl follows
        //  NOT_LEADER there with the same command).
        self->removing_self = false;
        if (id && id == req->id)
            s_send_result(self, self->transfer_token, KP_CLUSTER_NOT_LEADER, 0, leader);
        else
            s_send_result(self, self->transfer_token, KP_CLUSTER_FAILED, 0,
                          "the leader was asked to remove itself, but the voter it handed "
                          "leadership to did not take it within the election timeout; nothing "
                          "changed: ask again");
        return;
    }
    if (id && id == req->id)
        s_send_result(self, self->transfer_token, KP_CLUSTER_OK, 0, leader);
    else
        s_send_result(self, self->transfer_token, KP_CLUSTER_FAILED, 0,
                      "the target did not become leader within the election timeout");
}

static void s_transfer(s_actor_t *self, uint64_t token, raft_id id)
{
    if (raft_state(&self->raft) != RAFT_LEADER) {
        s_not_here(self, token);
        return;
    }
    if (self->transferring) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, "a transfer is under way already");
        return;
    }
    memset(&self->transfer, 0, sizeof self->transfer);
    self->transfer.data = self;
    self->transfer_token = token;
    int rc = raft_transfer(&self->raft, &self->transfer, id, s_transferred);
    if (rc)
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, raft_errmsg(&self->raft));
    else
        self->transferring = true;
}

//  When a snapshot is due. A snapshot is a compacted copy of the whole
//  directory (and its mutation queues), so its cost grows with the
//  directory, not with the entries since the last one; libraft 0.15 counts
//  entries only. Its threshold stays at snapshot-max-entries, and is
//  lowered to take one at the next apply (with few trailing entries when
//  memory is the reason) once:
//  - "count": snapshot-threshold entries since the last one, and either
//    that snapshot is at most snapshot-small-mib, or the entries since
//    are worth snapshot-share % of its size (bytes of entries, a stand-in
//    for how much of the directory changed);
//  - "memory": the entries since hold snapshot-mib MiB. libraft keeps
//    every entry since the last snapshot in memory: imports of 8 MiB
//    entries would hold GiB;
//  - libraft's own threshold (snapshot-max-entries) bounds the count.
//  Both come back once the snapshot is taken. Bytes are those of the
//  entries applied here since the snapshot's index (dirfsm.h); after a
//  restart, of those applied again from the raft log since the snapshot
//  raft loaded.
static const char *s_snapshot_due(s_actor_t *self, raft_index since, uint64_t bytes,
                                  uint64_t snapshot_size)
{
    const kp_cluster_config_t *config = &self->args->config;
    if (bytes > (uint64_t)config->snapshot_mib << 20)
        return "memory";
    if (since < config->snapshot_threshold)
        return NULL;
    //  Not known yet (no snapshot since this node started, none restored):
    //  the directory's file, which is at least the compacted copy.
    if (!snapshot_size && config->snapshot_share)
        snapshot_size = kp_directory_file_size(self->args->directory);
    if (snapshot_size <= (uint64_t)config->snapshot_small_mib << 20 ||
        bytes * 100 >= snapshot_size * config->snapshot_share)
        return "count";
    return NULL;
}

static unsigned s_snapshot_ceiling(const kp_cluster_config_t *config)
{
    return config->snapshot_max_entries > config->snapshot_threshold ? config->snapshot_max_entries
                                                                     : config->snapshot_threshold;
}

//  applied: the last entry applied (libraft's last_applied lags by one
//  inside the state machine's apply).
static void s_snapshot_rule(s_actor_t *self, raft_index applied)
{
    struct raft *r = &self->raft;
    const kp_cluster_config_t *config = &self->args->config;
    kp_dirfsm_stats_t stats;
    kp_dirfsm_stats(self->fsm, &stats);
    if (r->log.snapshot.last_index != self->snapshot_seen) {
        self->snapshot_seen = r->log.snapshot.last_index;
        if (self->due) {
            raft_set_snapshot_threshold(r, s_snapshot_ceiling(config));
            raft_set_snapshot_trailing(r, config->snapshot_trailing);
            self->due = NULL;
        }
    }
    raft_index since =
        applied > r->log.snapshot.last_index ? applied - r->log.snapshot.last_index : 0;
    if (self->due || since == 0)
        return;
    self->due =
        s_snapshot_due(self, since, stats.bytes - stats.bytes_at_snapshot, stats.snapshot_size);
    if (self->due) {
        unsigned trailing = *self->due == 'm' ? 4 : config->snapshot_trailing;
        raft_set_snapshot_threshold(r, (unsigned)since);
        raft_set_snapshot_trailing(r, trailing < since ? trailing : (unsigned)since - 1);
    }
}

//  The state machine applied entry index: a snapshot due now is taken
//  once libraft has counted it applied, right after this call.
static void s_entry_applied(void *arg, uint64_t index)
{
    s_snapshot_rule((s_actor_t *)arg, index);
}

//  A witness routes nothing and serves no client: it should not lead.
//  The voter (not a witness) a witness or a leader leaving hands
//  leadership to: one this leader heard from
//  within the election timeout, the most up to date of those; 0 when there
//  is none yet. Raft's own choice (id 0) may be a dead voter: the transfer
//  then blocks every update for an election timeout, and the next attempt
//  picks the same dead voter again, until it comes back.
static raft_id s_live_voter(s_actor_t *self)
{
    struct raft *r = &self->raft;
    raft_id best = 0;
    raft_index best_match = 0;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *server = &r->configuration.servers[i];
        const struct raft_progress *progress = &r->leader_state.progress[i];
        const kp_node_config_t *node = kp_config_node_by_id(&self->args->config, server->id);
        if (server->id == r->id || server->role != RAFT_VOTER || !progress->recent_recv ||
            (node && node->role == KP_ROLE_WITNESS))
            continue;
        if (!best || progress->match_index > best_match) {
            best = server->id;
            best_match = progress->match_index;
        }
    }
    return best;
}

static void s_witness_steps_aside(s_actor_t *self)
{
    if (self->args->me.role != KP_ROLE_WITNESS || self->transferring ||
        raft_state(&self->raft) != RAFT_LEADER)
        return;
    raft_id to = s_live_voter(self);
    if (!to)
        return; //  no voter heard from yet: try again on a later turn
    memset(&self->transfer, 0, sizeof self->transfer);
    self->transfer.data = self;
    self->transfer_token = 0;
    if (raft_transfer(&self->raft, &self->transfer, to, s_transferred) == 0)
        self->transferring = true;
}

//  ---------------------------------------------------------------------
//  Actor: a member removed

//  The leader asked to remove itself hands leadership over first: the
//  cluster never waits an election timeout without a leader, and the new
//  leader removes it (s_transferred answers NOT_LEADER naming it). It
//  waits up to two election timeouts for a voter to answer it: raft
//  forgets who answered at each, and a request just after finds none.
static void s_remove_self(s_actor_t *self, uint64_t token)
{
    if (self->transferring || self->remove_until) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, "a transfer is under way already");
        return;
    }
    self->remove_token = token;
    self->remove_until = zclock_mono() + 2 * (int64_t)self->args->config.election_timeout_ms;
}

//  Each turn: a removal of this leader that waits hands leadership over
//  once a voter answered, or gives up.
static void s_remove_self_due(s_actor_t *self)
{
    if (!self->remove_until)
        return;
    uint64_t token = self->remove_token;
    if (raft_state(&self->raft) != RAFT_LEADER) {
        self->remove_until = 0;
        s_not_here(self, token); //  kpctl asks the new leader
        return;
    }
    raft_id to = s_live_voter(self);
    if (!to && zclock_mono() < self->remove_until)
        return;
    self->remove_until = 0;
    if (!to) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0,
                      "this node leads and no other voter answered it for two election "
                      "timeouts: it cannot hand leadership over before its removal; nothing "
                      "changed");
        return;
    }
    memset(&self->transfer, 0, sizeof self->transfer);
    self->transfer.data = self;
    self->transfer_token = token;
    if (raft_transfer(&self->raft, &self->transfer, to, s_transferred)) {
        s_send_result(self, token, KP_CLUSTER_FAILED, 0, raft_errmsg(&self->raft));
        return;
    }
    self->transferring = true;
    self->removing_self = true;
    zsys_info("kpnode %s: asked to leave the cluster while leading: handing leadership to "
              "member %llu first",
              self->args->me.name, (unsigned long long)to);
}

static bool s_in_configuration(const struct raft *r, raft_id id)
{
    for (unsigned i = 0; i < r->configuration.n; i++)
        if (r->configuration.servers[i].id == id)
            return true;
    return false;
}

//  Leader: tells node id of the file that the committed membership holds
//  it no longer (now: its removal just committed; else at most once per
//  KP_CLUSTER_TELL_MS, when it asks for votes).
static void s_tell_removed(s_actor_t *self, raft_id id, bool now)
{
    struct raft *r = &self->raft;
    const kp_cluster_config_t *config = &self->args->config;
    const kp_node_config_t *node = kp_config_node_by_id(config, id);
    if (!node || raft_state(r) != RAFT_LEADER || r->configuration_uncommitted_index ||
        s_in_configuration(r, id))
        return;
    int64_t *told = &self->told[node - config->nodes];
    if (!now && zclock_mono() - *told < KP_CLUSTER_TELL_MS)
        return;
    *told = zclock_mono();
    if (kp_raftio_send_removed(self->io, id, node->name, r->current_term, r->configuration_index) ==
        0)
        zsys_info("kpnode %s: told %s that it is no longer a member (configuration %llu)",
                  self->args->me.name, node->name, (unsigned long long)r->configuration_index);
}

//  DATA/raft/removed: "TERM BY", written aside and renamed in place.
static void s_removed_save(s_actor_t *self)
{
    char aside[sizeof self->removed_file + 8];
    snprintf(aside, sizeof aside, "%s.new", self->removed_file);
    int fd = open(aside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *file = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !file)
        close(fd);
    bool ok = file && fprintf(file, "%llu %s\n", (unsigned long long)self->removed_term,
                              *self->removed_by ? self->removed_by : "-") > 0;
    ok = file && fflush(file) == 0 && fsync(fileno(file)) == 0 && ok;
    if (file)
        fclose(file);
    if (!ok || rename(aside, self->removed_file))
        zsys_warning("kpnode %s: cannot keep the removal in %s (%s): a restart forgets it until "
                     "a leader says it again",
                     self->args->me.name, self->removed_file, strerror(errno));
}

static void s_removed_load(s_actor_t *self)
{
    FILE *file = fopen(self->removed_file, "r");
    if (!file)
        return;
    unsigned long long term = 0;
    char by[KP_CONFIG_NAME] = "";
    if (fscanf(file, "%llu %63s", &term, by) >= 1) {
        self->removed = true;
        self->removed_term = term;
        snprintf(self->removed_by, sizeof self->removed_by, "%s", strcmp(by, "-") ? by : "");
        zsys_warning("kpnode %s: this node was removed from the cluster (by %s, term %llu): it "
                     "votes for no one and serves nothing until a leader adds it again "
                     "(kpctl cluster add-node)",
                     self->args->me.name, *by ? by : "the leader", term);
    }
    fclose(file);
}

//  A MemberRemoved from member from_id: taken when its configuration is
//  later than every one this node knows (one that lags behind an addition
//  of this node does not count).
static void s_on_removed(void *arg, raft_id from_id, uint64_t term, uint64_t conf_index)
{
    s_actor_t *self = (s_actor_t *)arg;
    struct raft *r = &self->raft;
    raft_index known = r->configuration_uncommitted_index > r->configuration_index
                           ? r->configuration_uncommitted_index
                           : r->configuration_index;
    if (self->removed || raft_state(r) == RAFT_LEADER || conf_index <= known)
        return;
    const kp_node_config_t *by = kp_config_node_by_id(&self->args->config, from_id);
    self->removed = true;
    self->removed_term = term;
    snprintf(self->removed_by, sizeof self->removed_by, "%s", by ? by->name : "");
    s_removed_save(self);
    zsys_warning("kpnode %s: removed from the cluster by %s (term %llu, configuration %llu): it "
                 "no longer votes and serves nothing; stop it, or add it again with kpctl "
                 "cluster add-node",
                 self->args->me.name, by ? by->name : "the leader", (unsigned long long)term,
                 (unsigned long long)conf_index);
}

//  Every raft message in and out. A removed node neither asks for votes
//  nor gives them; an AppendEntries of a leader since its removal means
//  it was added again. A leader tells a non-member asking for votes.
static bool s_admit(void *arg, const struct raft_message *message, bool outgoing)
{
    s_actor_t *self = (s_actor_t *)arg;
    bool vote =
        message->type == RAFT_IO_REQUEST_VOTE || message->type == RAFT_IO_REQUEST_VOTE_RESULT;
    if (self->removed) {
        if (!outgoing && message->type == RAFT_IO_APPEND_ENTRIES &&
            message->append_entries.term >= self->removed_term) {
            self->removed = false;
            unlink(self->removed_file);
            zsys_info("kpnode %s: a leader (member %llu) sends it entries: a member again",
                      self->args->me.name, (unsigned long long)message->server_id);
        }
        return !vote;
    }
    if (!outgoing && message->type == RAFT_IO_REQUEST_VOTE)
        s_tell_removed(self, message->server_id, false);
    return true;
}

//  ---------------------------------------------------------------------
//  Actor: status

static void s_status(s_actor_t *self, kp_cluster_status_t *status)
{
    memset(status, 0, sizeof *status);
    struct raft *r = &self->raft;
    status->role = self->args->me.role;
    status->state = (kp_cluster_state_t)raft_state(r);
    status->term = r->current_term;
    raft_id leader_id;
    s_leader(self, &leader_id, status->leader, sizeof status->leader);
    status->leader_id = leader_id;
    snprintf(status->last_leader, sizeof status->last_leader, "%s", self->last_leader);
    status->commit_index = r->commit_index;
    status->applied_index = raft_last_applied(r);
    status->last_index = raft_last_index(r);
    status->snapshot_index = r->log.snapshot.last_index;
    status->directory_seq = kp_directory_seq(self->args->directory, NULL);
    status->directory_applied = kp_directory_applied(self->args->directory, NULL);
    if (status->state == KP_CLUSTER_STATE_LEADER)
        status->contact_ms = zclock_mono();
    else
        status->contact_ms = kp_raftio_leader_contact(self->io);
    status->members = r->configuration.n;
    for (unsigned i = 0; i < r->configuration.n; i++)
        status->voters += r->configuration.servers[i].role == RAFT_VOTER;
    kp_raftio_stats(self->io, &status->io);
    kp_forward_stats(self->forward, &status->forward);
    kp_dirfsm_stats_t fsm;
    kp_dirfsm_stats(self->fsm, &fsm);
    status->applied = fsm.applied;
    status->replayed = fsm.replayed;
    status->refused = fsm.refused;
    status->snapshots = fsm.snapshots;
    status->restores = fsm.restores;
    status->duplicates = fsm.duplicates;
    status->snapshot_bytes = fsm.snapshot_size;
    status->since_snapshot_bytes = fsm.bytes - fsm.bytes_at_snapshot;
    snprintf(status->snapshot_due, sizeof status->snapshot_due, "%s", self->due ? self->due : "");
    status->removed = self->removed;
    status->removed_term = self->removed_term;
    snprintf(status->removed_by, sizeof status->removed_by, "%s", self->removed_by);
}

//  Pushes the status when it changed, and every KP_CLUSTER_STATUS_MS.
static void s_push_status(s_actor_t *self)
{
    kp_cluster_status_t status;
    s_status(self, &status);
    int64_t now = zclock_mono();
    bool changed = status.state != self->pushed.state || status.term != self->pushed.term ||
                   status.leader_id != self->pushed.leader_id ||
                   status.applied_index != self->pushed.applied_index ||
                   status.directory_seq != self->pushed.directory_seq ||
                   status.removed != self->pushed.removed;
    if (!changed && now < self->next_push)
        return;
    self->pushed = status;
    self->next_push = now + KP_CLUSTER_STATUS_MS;
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "STATUS");
    zmsg_addmem(msg, &status, sizeof status);
    zmsg_send(&msg, self->pipe);
}

//  ---------------------------------------------------------------------
//  Actor: directory replacement (dirfsm's hook)

static int s_replace(void *arg, const char *file, char *err, size_t errlen)
{
    //  In one write transaction beside the readers (kp_directory_load):
    //  the routing loop, a ZAP handler, ... need not let go of anything.
    s_actor_t *self = (s_actor_t *)arg;
    return kp_directory_load(self->args->directory, file, err, errlen);
}

//  ---------------------------------------------------------------------
//  Actor: start and loop

static const char *s_resolve(void *arg, raft_id id, const char *address)
{
    s_actor_t *self = (s_actor_t *)arg;
    const char *at = address ? strchr(address, '@') : NULL;
    if (at)
        return at + 1;
    char name[KP_CONFIG_NAME];
    s_name_of(address, name, sizeof name);
    const kp_node_config_t *node = kp_config_node(&self->args->config, name);
    if (!node)
        node = kp_config_node_by_id(&self->args->config, id);
    return node && *node->peer ? node->peer : NULL;
}

//  CURVE on the peer sockets: the ROUTER serves the ZAP domain "peer"
//  (node keys); a DEALER talks to the member whose key the cluster file
//  gives (its `public-key`, or the public file of its `cert`).
static int s_secure(void *arg, void *sock, bool server, raft_id id, const char *address)
{
    s_actor_t *self = (s_actor_t *)arg;
    char err[300];
    if (server) {
        if (kp_curve_server(sock, self->cert, "peer", err, sizeof err) == 0)
            return 0;
        zsys_error("cluster: the peer socket: %s", err);
        return -1;
    }
    char name[KP_CONFIG_NAME], key[KP_CURVE_Z85];
    s_name_of(address, name, sizeof name);
    const kp_node_config_t *node = kp_config_node(&self->args->config, name);
    if (!node)
        node = kp_config_node_by_id(&self->args->config, id);
    if (!node || kp_curve_node_key(node, key, err, sizeof err) ||
        kp_curve_client(sock, self->cert, key, err, sizeof err)) {
        zsys_error("cluster: cannot reach member %llu (%s) with CURVE: %s", id, name,
                   node ? err : "it is not in the cluster file");
        return -1;
    }
    return 0;
}

//  The key member id must send with: the one the cluster file gives it.
static const char *s_member_key(void *arg, raft_id id)
{
    s_actor_t *self = (s_actor_t *)arg;
    const kp_cluster_config_t *config = &self->args->config;
    const kp_node_config_t *node = kp_config_node_by_id(config, id);
    const char *key = node ? self->member_keys[node - config->nodes] : "";
    return *key ? key : NULL;
}

//  Reads every node's key from the cluster file (a file read for a node
//  with a `cert` only), so that no frame waits on the disk.
static void s_member_keys_load(s_actor_t *self)
{
    const kp_cluster_config_t *config = &self->args->config;
    for (size_t i = 0; i < config->node_count; i++) {
        char err[300];
        if (kp_curve_node_key(&config->nodes[i], self->member_keys[i], err, sizeof err))
            self->member_keys[i][0] = '\0'; //  no key: no frame of it is taken
    }
}

//  The configuration of the cluster file (or of this node alone).
static int s_bootstrap(s_actor_t *self)
{
    const kp_cluster_config_t *config = &self->args->config;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < config->node_count; i++) {
        const kp_node_config_t *node = &config->nodes[i];
        if ((!config->clustered && strcmp(node->name, self->args->me.name)) || node->join)
            continue;
        int role = node->role == KP_ROLE_LEARNER ? RAFT_STANDBY : RAFT_VOTER;
        rc = raft_configuration_add(&conf, node->raft_id, node->name, role);
    }
    if (rc == 0)
        rc = raft_bootstrap(&self->raft, &conf);
    raft_configuration_close(&conf);
    if (rc)
        snprintf(self->args->err, sizeof self->args->err, "cannot bootstrap raft: %s",
                 raft_strerror(rc));
    return rc;
}

//  The actor's start on its own thread: certificate, raft store, raft io
//  and the directory's state machine; bootstraps a new cluster's member
//  (not a joining one) and starts raft. 0, or -1 with args->err.
static int s_start(s_actor_t *self)
{
    s_args_t *args = self->args;
    char folder[KP_CONFIG_TEXT + 16], snapshots[KP_CONFIG_TEXT + 32];
    snprintf(folder, sizeof folder, "%s/raft", args->me.data);
    snprintf(snapshots, sizeof snapshots, "%s/snapshots", folder);
    snprintf(self->removed_file, sizeof self->removed_file, "%s/removed", folder);
    s_removed_load(self);
    if (args->config.clustered && !args->config.insecure) {
        self->cert = kp_curve_cert_load(args->me.cert, true, args->err, sizeof args->err);
        if (!self->cert)
            return -1;
        s_member_keys_load(self);
    }
    kp_raftio_options_t options = {
        .cluster = args->config.name,
        .folder = folder,
        .bind = args->config.clustered ? args->me.peer_bind : NULL,
        .resolve = s_resolve,
        .resolve_arg = self,
        .secure = self->cert ? s_secure : NULL,
        .member_key = self->cert ? s_member_key : NULL,
        .max_frame = 64u << 20,
        .admit = s_admit,
        .removed = s_on_removed,
        .on_frame = s_on_peer_frame,
        .on_frame_arg = self,
    };
    self->io = kp_raftio_new(&options, args->err, sizeof args->err);
    if (!self->io)
        return -1;
    kp_dirfsm_options_t fsm = {.directory = args->directory,
                               .snapshots = snapshots,
                               .raft = &self->raft,
                               .replace = s_replace,
                               .replace_arg = self,
                               .batch = true,
                               .applied = s_entry_applied};
    self->fsm = kp_dirfsm_new(&fsm);
    int rc = raft_init(&self->raft, self->io, self->fsm, args->me.raft_id, args->me.name);
    if (rc) {
        snprintf(args->err, sizeof args->err, "cannot start raft: %s", raft_strerror(rc));
        return -1;
    }
    self->started = true;
    self->raft.data = self;
    self->fix = kp_raftfix_wrap(&self->raft);
    if (!self->fix) {
        snprintf(args->err, sizeof args->err, "cannot start raft: out of memory");
        return -1;
    }
    raft_set_election_timeout(&self->raft, args->config.election_timeout_ms);
    raft_set_heartbeat_timeout(&self->raft, args->config.raft_heartbeat_ms);
    raft_set_snapshot_threshold(&self->raft, s_snapshot_ceiling(&args->config));
    raft_set_snapshot_trailing(&self->raft, args->config.snapshot_trailing);
    raft_set_install_snapshot_timeout(&self->raft, KP_CLUSTER_INSTALL_TIMEOUT_MS);
    raft_set_pre_vote(&self->raft, true);
    //  A joining node starts empty: the leader adds it and sends it all.
    if (!args->me.join && kp_raftstore_pristine(kp_raftio_store(self->io)) && s_bootstrap(self))
        return -1;
    rc = raft_start(&self->raft);
    if (rc) {
        snprintf(args->err, sizeof args->err, "cannot start raft: %s (%s)", raft_strerror(rc),
                 raft_errmsg(&self->raft));
        return -1;
    }
    return 0;
}

static void s_closed(struct raft *raft)
{
    ((s_actor_t *)raft->data)->closed = true;
}

static void s_command(s_actor_t *self, zmsg_t *msg)
{
    char *command = zmsg_popstr(msg);
    uint64_t token = 0;
    zframe_t *frame = command && strcmp(command, "$TERM") ? zmsg_pop(msg) : NULL;
    if (frame && zframe_size(frame) == sizeof token)
        memcpy(&token, zframe_data(frame), sizeof token);
    zframe_destroy(&frame);
    if (!command)
        ;
    else if (!strcmp(command, "$TERM")) {
        self->closing = true;
        raft_close(&self->raft, s_closed);
    } else if (self->closing)
        s_send_result(self, token, KP_CLUSTER_UNKNOWN, 0, "the node is stopping");
    else if (!strcmp(command, "PROPOSE")) {
        zframe_t *data = zmsg_pop(msg);
        if (data)
            s_propose(self, token, data);
        zframe_destroy(&data);
    } else if (!strcmp(command, "ADD") || !strcmp(command, "REMOVE"))
        s_membership(self, command, token, msg);
    else if (!strcmp(command, "TRANSFER")) {
        uint64_t id = 0;
        zframe_t *target = zmsg_pop(msg);
        if (target && zframe_size(target) == sizeof id)
            memcpy(&id, zframe_data(target), sizeof id);
        zframe_destroy(&target);
        s_transfer(self, token, id);
    }
    zstr_free(&command);
}

static void s_loop(s_actor_t *self)
{
    zmq_pollitem_t items[8];
    while (!self->closed) {
        items[0] = (zmq_pollitem_t){zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0};
        int count = 1 + kp_raftio_items(self->io, items + 1, 7);
        long timeout = kp_raftio_timeout(self->io);
        long push = (long)(self->next_push - zclock_mono());
        if (push < timeout)
            timeout = push < 0 ? 0 : push;
        if (zlist_size(self->later))
            timeout = 0;
        if (kp_forward_pending(self->forward) && timeout > 50)
            timeout = 50; //  forwarded proposals time out

        if (zmq_poll(items, count, timeout) < 0 && zmq_errno() != EINTR)
            break;
        zmsg_t *msg;
        while ((msg = zlist_pop(self->later))) {
            s_command(self, msg);
            zmsg_destroy(&msg);
        }
        for (int i = 0; i < 64 && (items[0].revents & ZMQ_POLLIN) && !self->closing; i++) {
            msg = s_recv_nowait(self->pipe);
            if (!msg)
                break;
            s_command(self, msg);
            zmsg_destroy(&msg);
        }
        kp_raftio_process(self->io, items + 1, count - 1);
        s_flush(self);
        if (s_forward_due(self))
            s_flush(self);
        if (!self->closing) {
            s_snapshot_rule(self, self->raft.last_applied);
            s_witness_steps_aside(self);
            s_remove_self_due(self);
            s_push_status(self);
        }
    }
}

static void s_actor(zsock_t *pipe, void *arg)
{
    //  Applying an import's batches (thousands of ops each) competes for
    //  the CPU with the routing loop; on a busy machine the loop comes
    //  first. A thread's nice value is its own (Linux); raft's timers are
    //  far longer than the scheduler's slices, so heartbeats still leave
    //  in time.
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), KP_CLUSTER_NICE) != 0)
        zsys_warning("cluster: cannot lower the actor's priority: %s", strerror(errno));
    s_actor_t *self = calloc(1, sizeof *self);
    assert(self);
    self->pipe = pipe;
    self->args = (s_args_t *)arg;
    self->later = zlist_new();
    self->results = zlist_new();
    self->forward = kp_forward_new();
    if (s_start(self)) {
        zsock_signal(pipe, 1);
    } else {
        self->attached = true;
        zsock_signal(pipe, 0);
        //  After the signal: zactor_new's wait drops anything before it.
        s_push_status(self);
        s_loop(self);
    }
    if (self->started && !self->closed) {
        //  Failed start: raft must still close before its io goes.
        if (!self->closing)
            raft_close(&self->raft, s_closed);
        while (!self->closed)
            kp_raftio_process(self->io, NULL, 0);
    }
    if (self->fsm)
        s_flush(self);
    kp_raftio_destroy(&self->io);
    zcert_destroy(&self->cert);
    kp_raftfix_destroy(&self->fix);
    kp_dirfsm_destroy(&self->fsm);
    zmsg_t *msg;
    while ((msg = zlist_pop(self->later)))
        zmsg_destroy(&msg);
    zlist_destroy(&self->later);
    while ((msg = zlist_pop(self->results)))
        zmsg_destroy(&msg);
    zlist_destroy(&self->results);
    kp_forward_destroy(&self->forward);
    free(self);
}

//  ---------------------------------------------------------------------
//  The routing loop's side

kp_cluster_t *kp_cluster_new(const kp_cluster_config_t *config, const kp_node_config_t *me,
                             kp_directory_t *directory, char *err, size_t errlen)
{
    kp_cluster_t *self = calloc(1, sizeof *self);
    s_args_t *args = calloc(1, sizeof *args);
    if (!self || !args) {
        free(self);
        free(args);
        snprintf(err, errlen, "cluster: out of memory");
        return NULL;
    }
    args->config = *config;
    args->me = *me;
    args->directory = directory;
    self->actor = zactor_new(s_actor, args);
    //  The actor signals 1 when it could not start; its reason is in args.
    if (!self->actor || *args->err) {
        snprintf(err, errlen, "cluster: %s", *args->err ? args->err : "cannot start the actor");
        zactor_destroy(&self->actor);
        free(args);
        free(self);
        return NULL;
    }
    self->args = args;
    self->status.state = KP_CLUSTER_STATE_UNAVAILABLE;
    zsock_set_sndtimeo(zactor_sock(self->actor), 0);
    return self;
}

void kp_cluster_destroy(kp_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_cluster_t *self = *self_p;
    zactor_destroy(&self->actor);
    free(self->args);
    free(self);
    *self_p = NULL;
}

zsock_t *kp_cluster_sock(kp_cluster_t *self)
{
    return zactor_sock(self->actor);
}

static int s_send(kp_cluster_t *self, zmsg_t **msg_p)
{
    return zmsg_send(msg_p, zactor_sock(self->actor));
}

static zmsg_t *s_command_new(const char *command, uint64_t token)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, command);
    zmsg_addmem(msg, &token, sizeof token);
    return msg;
}

int kp_cluster_propose(kp_cluster_t *self, uint64_t token, const uint8_t *update, size_t size,
                       char *err, size_t errlen)
{
    if (size > KP_CLUSTER_MAX_ENTRY) {
        snprintf(err, errlen,
                 "the update is %zu bytes, over the %u of one raft entry; split it into "
                 "batches",
                 size, KP_CLUSTER_MAX_ENTRY);
        return -1;
    }
    zmsg_t *msg = s_command_new("PROPOSE", token);
    zmsg_addmem(msg, update, size);
    if (s_send(self, &msg)) {
        zmsg_destroy(&msg);
        snprintf(err, errlen, "the cluster actor does not take proposals now");
        return -1;
    }
    return 0;
}

int kp_cluster_add(kp_cluster_t *self, uint64_t token, uint64_t id, const char *address,
                   kp_role_t role)
{
    zmsg_t *msg = s_command_new("ADD", token);
    zmsg_addmem(msg, &id, sizeof id);
    zmsg_addstr(msg, address);
    zmsg_addstrf(msg, "%d", (int)role);
    return s_send(self, &msg);
}

int kp_cluster_remove(kp_cluster_t *self, uint64_t token, uint64_t id)
{
    zmsg_t *msg = s_command_new("REMOVE", token);
    zmsg_addmem(msg, &id, sizeof id);
    return s_send(self, &msg);
}

int kp_cluster_transfer(kp_cluster_t *self, uint64_t token, uint64_t id)
{
    zmsg_t *msg = s_command_new("TRANSFER", token);
    zmsg_addmem(msg, &id, sizeof id);
    return s_send(self, &msg);
}

static void s_frame_copy(zmsg_t *msg, void *out, size_t size)
{
    zframe_t *frame = zmsg_pop(msg);
    if (frame && zframe_size(frame) == size)
        memcpy(out, zframe_data(frame), size);
    zframe_destroy(&frame);
}

int kp_cluster_recv(kp_cluster_t *self, kp_cluster_event_t *event)
{
    memset(event, 0, sizeof *event);
    zmsg_t *msg = s_recv_nowait(zactor_sock(self->actor));
    if (!msg)
        return 0;
    char *command = zmsg_popstr(msg);
    if (!command)
        ;
    else if (!strcmp(command, "RESULT")) {
        event->type = KP_CLUSTER_EVENT_RESULT;
        uint32_t code = 0;
        s_frame_copy(msg, &event->token, sizeof event->token);
        s_frame_copy(msg, &code, sizeof code);
        s_frame_copy(msg, &event->seq, sizeof event->seq);
        event->result = (kp_cluster_result_t)code;
        char *text = zmsg_popstr(msg);
        snprintf(event->text, sizeof event->text, "%s", text ? text : "");
        zstr_free(&text);
    } else if (!strcmp(command, "STATUS")) {
        event->type = KP_CLUSTER_EVENT_STATUS;
        s_frame_copy(msg, &self->status, sizeof self->status);
    } else if (!strcmp(command, "REPLACE"))
        event->type = KP_CLUSTER_EVENT_REPLACE;
    else if (!strcmp(command, "REPLACED"))
        event->type = KP_CLUSTER_EVENT_REPLACED;
    zstr_free(&command);
    zmsg_destroy(&msg);
    return event->type != KP_CLUSTER_EVENT_NONE;
}

void kp_cluster_released(kp_cluster_t *self)
{
    zstr_send(zactor_sock(self->actor), "RELEASED");
}

void kp_cluster_status(kp_cluster_t *self, kp_cluster_status_t *out)
{
    *out = self->status;
}

int64_t kp_cluster_stale_ms(const kp_cluster_status_t *status, int64_t now_ms)
{
    if (status->state == KP_CLUSTER_STATE_LEADER)
        return 0;
    if (!status->contact_ms)
        return INT64_MAX;
    return now_ms > status->contact_ms ? now_ms - status->contact_ms : 0;
}
