/*  raftio.c - our struct raft_io: LMDB storage and ZeroMQ transport; see
    raftio.h for the contract we keep. Snapshot transfers are in
    snapxfer.c. */
#include "raftio.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curve.h"
#include "snapxfer.h"

//  One AppendEntries frame carries at most this many bytes of entries;
//  the rest go in the next one (the follower answers with its last index,
//  so a shorter frame is only a smaller step).
#define KP_RAFTIO_FRAME_ENTRIES (8u << 20)
#define KP_RAFTIO_SNDHWM 1000

typedef enum { S_APPEND, S_TRUNCATE, S_SNAPSHOT_PUT } s_write_kind_t;

//  A write waiting for the end of the turn, in order.
typedef struct {
    s_write_kind_t kind;
    struct raft_io_append *append;
    const struct raft_entry *entries;
    unsigned n;
    raft_index index; //  truncate
    struct raft_io_snapshot_put *put;
    const struct raft_snapshot *snapshot;
    unsigned trailing;
} s_write_t;

typedef enum { S_DONE_APPEND, S_DONE_SEND, S_DONE_PUT, S_DONE_GET, S_DONE_WORK } s_done_kind_t;

//  A callback due at the next turn.
typedef struct {
    s_done_kind_t kind;
    void *req;
    int status;
    struct raft_snapshot *snapshot; //  S_DONE_GET
} s_done_t;

typedef struct {
    raft_id id;
    char endpoint[256];
    zsock_t *dealer;
} s_peer_t;

typedef struct {
    zactor_t *actor;
    struct raft_io_async_work *req;
} s_job_t;

typedef struct {
    struct raft_io io; //  first: libraft's pointer is ours
    char cluster[64];
    char folder[512];
    char bind[256];
    kp_raftio_resolve_fn *resolve;
    void *resolve_arg; //  also secure's
    kp_raftio_secure_fn *secure;
    kp_raftio_member_key_fn *member_key;
    kp_raftio_admit_fn *admit;
    kp_raftio_removed_fn *removed;
    size_t max_frame;
    kp_raftio_frame_fn *on_frame;
    void *on_frame_arg;
    kp_raftstore_t *store;
    zsock_t *router;
    zhashx_t *peers; //  "id" -> s_peer_t
    raft_id id;
    char address[256];
    unsigned tick_ms;
    int64_t next_tick;
    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    raft_io_close_cb close_cb;
    bool closing;
    zlistx_t *writes; //  s_write_t, in order
    zlistx_t *done;   //  s_done_t
    zlistx_t *jobs;   //  s_job_t
    kp_snapxfer_t *xfer;
    int64_t leader_contact;
    uint64_t random;
    kp_raftio_stats_t stats;
} s_io_t;

static s_io_t *s_self(struct raft_io *io)
{
    return (s_io_t *)io;
}

static void s_errmsg(s_io_t *self, const char *text)
{
    snprintf(self->io.errmsg, sizeof self->io.errmsg, "%.250s", text);
}

static int s_done(s_io_t *self, s_done_kind_t kind, void *req, int status,
                  struct raft_snapshot *snapshot)
{
    s_done_t *done = malloc(sizeof *done);
    if (!done)
        return RAFT_NOMEM;
    *done = (s_done_t){kind, req, status, snapshot};
    zlistx_add_end(self->done, done);
    return 0;
}

static int s_queue_write(s_io_t *self, const s_write_t *write)
{
    s_write_t *copy = malloc(sizeof *copy);
    if (!copy)
        return RAFT_NOMEM;
    *copy = *write;
    zlistx_add_end(self->writes, copy);
    return 0;
}

//  ---------------------------------------------------------------------
//  Methods: lifecycle and storage

static int s_init(struct raft_io *io, raft_id id, const char *address)
{
    s_io_t *self = s_self(io);
    self->id = id;
    snprintf(self->address, sizeof self->address, "%s", address);
    self->random = (uint64_t)zclock_time() ^ ((uint64_t)getpid() << 32) ^ (id * 0x9E3779B97F4A7C15);
    return 0;
}

static void s_close(struct raft_io *io, raft_io_close_cb cb)
{
    s_io_t *self = s_self(io);
    self->closing = true;
    self->close_cb = cb;
}

static int s_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                  struct raft_snapshot **snapshot, raft_index *start_index,
                  struct raft_entry *entries[], size_t *n_entries)
{
    s_io_t *self = s_self(io);
    char err[256];
    if (kp_raftstore_load(self->store, term, voted_for, snapshot, start_index, entries, n_entries,
                          err, sizeof err)) {
        s_errmsg(self, err);
        return RAFT_CORRUPT;
    }
    return 0;
}

static int s_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    s_io_t *self = s_self(io);
    self->tick_ms = msecs;
    self->tick_cb = tick;
    self->recv_cb = recv;
    self->next_tick = zclock_mono() + msecs;
    if (*self->bind) {
        self->router = zsock_new(ZMQ_ROUTER);
        if (!self->router)
            return RAFT_IOERR;
        zsock_set_linger(self->router, 0);
        zsock_set_rcvhwm(self->router, 10000);
        zsock_set_maxmsgsize(self->router, (int)self->max_frame);
        if (self->secure &&
            self->secure(self->resolve_arg, zsock_resolve(self->router), true, 0, NULL)) {
            s_errmsg(self, "cannot make the peer socket a CURVE server");
            zsock_destroy(&self->router);
            return RAFT_IOERR;
        }
        if (zsock_bind(self->router, "%s", self->bind) < 0) {
            char text[400];
            snprintf(text, sizeof text, "cannot bind the peer endpoint %s: %s", self->bind,
                     zmq_strerror(zmq_errno()));
            s_errmsg(self, text);
            zsock_destroy(&self->router);
            return RAFT_IOERR;
        }
    }
    return 0;
}

static int s_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    s_io_t *self = s_self(io);
    char err[256];
    if (!kp_raftstore_pristine(self->store))
        return RAFT_CANTBOOTSTRAP;
    if (kp_raftstore_bootstrap(self->store, conf, err, sizeof err)) {
        s_errmsg(self, err);
        return RAFT_IOERR;
    }
    return 0;
}

static int s_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    (void)conf;
    s_errmsg(s_self(io), "recover is not supported");
    return RAFT_IOERR;
}

static int s_set_term(struct raft_io *io, raft_term term)
{
    s_io_t *self = s_self(io);
    char err[256];
    if (kp_raftstore_set_term(self->store, term, err, sizeof err)) {
        s_errmsg(self, err);
        return RAFT_IOERR;
    }
    return 0;
}

static int s_set_vote(struct raft_io *io, raft_id server_id)
{
    s_io_t *self = s_self(io);
    char err[256];
    if (kp_raftstore_set_vote(self->store, server_id, err, sizeof err)) {
        s_errmsg(self, err);
        return RAFT_IOERR;
    }
    return 0;
}

static int s_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    s_io_t *self = s_self(io);
    req->cb = cb;
    self->stats.appends++;
    return s_queue_write(self,
                         &(s_write_t){.kind = S_APPEND, .append = req, .entries = entries, .n = n});
}

static int s_truncate(struct raft_io *io, raft_index index)
{
    return s_queue_write(s_self(io), &(s_write_t){.kind = S_TRUNCATE, .index = index});
}

static int s_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                          const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    req->cb = cb;
    return s_queue_write(s_self(io), &(s_write_t){.kind = S_SNAPSHOT_PUT,
                                                  .put = req,
                                                  .snapshot = snapshot,
                                                  .trailing = trailing});
}

static int s_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                          raft_io_snapshot_get_cb cb)
{
    req->cb = cb;
    //  Read at the next turn, after the writes queued before it.
    return s_done(s_self(io), S_DONE_GET, req, 0, NULL);
}

static raft_time s_time(struct raft_io *io)
{
    (void)io;
    return (raft_time)zclock_mono();
}

static int s_random(struct raft_io *io, int min, int max)
{
    s_io_t *self = s_self(io);
    self->random ^= self->random << 13;
    self->random ^= self->random >> 7;
    self->random ^= self->random << 17;
    return max <= min ? min : min + (int)(self->random % (uint64_t)(max - min));
}

//  ---------------------------------------------------------------------
//  Async work: a thread of its own per job (snapshots of the directory)

static void s_job_actor(zsock_t *pipe, void *arg)
{
    struct raft_io_async_work *req = (struct raft_io_async_work *)arg;
    zsock_signal(pipe, 0);
    int status = req->work(req);
    zsock_signal(pipe, (byte)(status < 0 || status > 255 ? RAFT_IOERR : status));
    char *command = zstr_recv(pipe); //  $TERM
    zstr_free(&command);
}

static int s_async_work(struct raft_io *io, struct raft_io_async_work *req,
                        raft_io_async_work_cb cb)
{
    s_io_t *self = s_self(io);
    req->cb = cb;
    s_job_t *job = malloc(sizeof *job);
    if (!job)
        return RAFT_NOMEM;
    job->req = req;
    job->actor = zactor_new(s_job_actor, req);
    if (!job->actor) {
        free(job);
        return RAFT_IOERR;
    }
    zlistx_add_end(self->jobs, job);
    return 0;
}

//  ---------------------------------------------------------------------
//  Transport

static void s_peer_destroy(void **item)
{
    s_peer_t *peer = (s_peer_t *)*item;
    if (peer) {
        zsock_destroy(&peer->dealer);
        free(peer);
        *item = NULL;
    }
}

//  The DEALER to member (id, address), made on first use.
static zsock_t *s_dealer(s_io_t *self, raft_id id, const char *address)
{
    const char *endpoint = self->resolve ? self->resolve(self->resolve_arg, id, address) : NULL;
    if (!endpoint)
        return NULL;
    char key[32];
    snprintf(key, sizeof key, "%llu", id);
    s_peer_t *peer = (s_peer_t *)zhashx_lookup(self->peers, key);
    if (peer && strcmp(peer->endpoint, endpoint)) {
        zhashx_delete(self->peers, key);
        peer = NULL;
    }
    if (peer)
        return peer->dealer;
    peer = calloc(1, sizeof *peer);
    if (!peer)
        return NULL;
    peer->id = id;
    snprintf(peer->endpoint, sizeof peer->endpoint, "%s", endpoint);
    peer->dealer = zsock_new(ZMQ_DEALER);
    if (!peer->dealer) {
        free(peer);
        return NULL;
    }
    zsock_set_linger(peer->dealer, 0);
    zsock_set_sndhwm(peer->dealer, KP_RAFTIO_SNDHWM);
    zsock_set_immediate(peer->dealer, 1);
    zsock_set_sndtimeo(peer->dealer, 0);
    if (self->secure &&
        self->secure(self->resolve_arg, zsock_resolve(peer->dealer), false, id, address)) {
        zsock_destroy(&peer->dealer);
        free(peer);
        return NULL;
    }
    zsock_connect(peer->dealer, "%s", endpoint);
    zhashx_insert(self->peers, key, peer);
    return peer->dealer;
}

//  Sends one frame to a member without waiting; a frame that cannot leave
//  now (member down, queue full) is dropped and counted: raft resends.
static int s_send_frame(s_io_t *self, raft_id id, const char *address, uint8_t *data, size_t size)
{
    zsock_t *dealer = s_dealer(self, id, address);
    int rc = -1;
    if (dealer) {
        zmq_msg_t msg;
        zmq_msg_init_size(&msg, size);
        memcpy(zmq_msg_data(&msg), data, size);
        rc = zmq_msg_send(&msg, zsock_resolve(dealer), ZMQ_DONTWAIT) < 0 ? -1 : 0;
        if (rc)
            zmq_msg_close(&msg);
    }
    free(data);
    if (rc)
        self->stats.sends_dropped++;
    else
        self->stats.frames_out++;
    return rc;
}

//  An AppendEntries frame no larger than KP_RAFTIO_FRAME_ENTRIES of entries
//  (at least one entry).
static uint8_t *s_encode(s_io_t *self, const struct raft_message *message, size_t *size)
{
    struct raft_message copy = *message;
    if (copy.type == RAFT_IO_APPEND_ENTRIES) {
        size_t bytes = 0;
        unsigned n = 0;
        while (
            n < copy.append_entries.n_entries && n < KP_RAFTWIRE_MAX_ENTRIES &&
            (n == 0 || bytes + copy.append_entries.entries[n].buf.len <= KP_RAFTIO_FRAME_ENTRIES))
            bytes += copy.append_entries.entries[n++].buf.len;
        copy.append_entries.n_entries = n;
    }
    return kp_raftwire_encode(self->cluster, self->id, self->address, &copy, size);
}

static int s_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                  raft_io_send_cb cb)
{
    s_io_t *self = s_self(io);
    req->cb = cb;
    if (self->admit && !self->admit(self->resolve_arg, message, true))
        ; //  held back by the node (a removed member asks for no votes)
    else if (message->type == RAFT_IO_INSTALL_SNAPSHOT) {
        if (kp_snapxfer_offer(self->xfer, message))
            self->stats.sends_dropped++;
    } else {
        size_t size;
        uint8_t *data = s_encode(self, message, &size);
        if (!data)
            return RAFT_NOMEM;
        s_send_frame(self, message->server_id, message->server_address, data, size);
    }
    //  The frame is out of raft's memory now: done, whatever its fate.
    return s_done(self, S_DONE_SEND, req, 0, NULL);
}

//  snapxfer sends its frames through here.
static int s_xfer_send(void *arg, raft_id id, const char *address, Kp__PeerFrame *frame)
{
    s_io_t *self = (s_io_t *)arg;
    size_t size;
    uint8_t *data = kp_raftwire_pack(self->cluster, self->id, self->address, frame, &size);
    return data ? s_send_frame(self, id, address, data, size) : -1;
}

int kp_raftio_send_peer(struct raft_io *io, raft_id id, const char *address, Kp__PeerFrame *frame)
{
    return s_xfer_send(s_self(io), id, address, frame);
}

//  snapxfer hands a complete, checked snapshot to raft through here.
static void s_xfer_deliver(void *arg, struct raft_message *message)
{
    s_io_t *self = (s_io_t *)arg;
    self->leader_contact = zclock_mono();
    self->stats.snapshots_received++;
    if (self->recv_cb && !self->closing)
        self->recv_cb(&self->io, message);
}

int kp_raftio_send_removed(struct raft_io *io, raft_id id, const char *address, uint64_t term,
                           uint64_t conf_index)
{
    Kp__MemberRemoved removed = KP__MEMBER_REMOVED__INIT;
    removed.has_term = removed.has_conf_index = true;
    removed.term = term;
    removed.conf_index = conf_index;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_MEMBER_REMOVED;
    frame.member_removed = &removed;
    return kp_raftio_send_peer(io, id, address, &frame);
}

//  Whether a frame from member from_id may come with the authenticated
//  key (NULL: plain text).
static bool s_sender_ok(s_io_t *self, raft_id from_id, const char *key)
{
    if (!self->member_key)
        return true;
    const char *expected = self->member_key(self->resolve_arg, from_id);
    return expected && key && !strcmp(expected, key);
}

static void s_on_frame(s_io_t *self, const uint8_t *data, size_t size, const char *key)
{
    Kp__PeerFrame *frame;
    kp_raftwire_reason_t reason =
        kp_raftwire_unpack(self->cluster, data, size, self->max_frame, &frame);
    struct raft_message message;
    if (reason == KP_RAFTWIRE_OK && !s_sender_ok(self, frame->from_id, key)) {
        reason = KP_RAFTWIRE_NOT_ITS_KEY;
        kp__peer_frame__free_unpacked(frame, NULL);
    }
    if (reason == KP_RAFTWIRE_OK) {
        switch (frame->body_case) {
        case KP__PEER_FRAME__BODY_SNAPSHOT_OFFER:
        case KP__PEER_FRAME__BODY_SNAPSHOT_GRANT:
        case KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK:
            if (kp_snapxfer_on_frame(self->xfer, frame))
                reason = KP_RAFTWIRE_BAD_FIELD;
            break;
        case KP__PEER_FRAME__BODY_MEMBER_REMOVED:
            if (!frame->member_removed->has_term || !frame->member_removed->has_conf_index)
                reason = KP_RAFTWIRE_BAD_FIELD;
            else if (self->removed && !self->closing)
                self->removed(self->resolve_arg, frame->from_id, frame->member_removed->term,
                              frame->member_removed->conf_index);
            break;
        case KP__PEER_FRAME__BODY_FORWARD:
        case KP__PEER_FRAME__BODY_FORWARD_RESULT:
            if (!self->on_frame || self->closing || self->on_frame(self->on_frame_arg, frame))
                reason = KP_RAFTWIRE_BAD_FIELD;
            break;
        default:
            reason = kp_raftwire_to_message(frame, &message);
            if (reason == KP_RAFTWIRE_OK && self->recv_cb && !self->closing &&
                (!self->admit || self->admit(self->resolve_arg, &message, false))) {
                if (message.type == RAFT_IO_APPEND_ENTRIES)
                    self->leader_contact = zclock_mono();
                self->recv_cb(&self->io, &message);
            } else if (reason == KP_RAFTWIRE_OK && message.type == RAFT_IO_APPEND_ENTRIES &&
                       message.append_entries.n_entries) {
                raft_free(message.append_entries.entries[0].batch);
                raft_free(message.append_entries.entries);
            }
        }
        kp__peer_frame__free_unpacked(frame, NULL);
    }
    if (reason)
        self->stats.refused[reason]++;
    else
        self->stats.frames_in++;
}

static void s_drain_router(s_io_t *self)
{
    void *handle = zsock_resolve(self->router);
    for (int i = 0; i < 256; i++) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        //  [identity][body]: anything else is refused whole.
        int frames = 0;
        zmq_msg_t body;
        zmq_msg_init(&body);
        char key[41] = "";
        while (zmq_msg_more(&part)) {
            zmq_msg_close(&part);
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, handle, 0) < 0)
                break;
            if (++frames == 1) {
                zmq_msg_copy(&body, &part);
                const char *authenticated = kp_curve_peer_key(&part);
                snprintf(key, sizeof key, "%s", authenticated ? authenticated : "");
            }
        }
        zmq_msg_close(&part);
        if (frames == 1)
            s_on_frame(self, zmq_msg_data(&body), zmq_msg_size(&body), *key ? key : NULL);
        else
            self->stats.refused[KP_RAFTWIRE_MALFORMED]++;
        zmq_msg_close(&body);
    }
}

//  ---------------------------------------------------------------------
//  The loop

//  Writes every queued write in one transaction; their callbacks are due.
static void s_flush_writes(s_io_t *self)
{
    if (zlistx_size(self->writes) == 0)
        return;
    char err[256] = "";
    int status = kp_raftstore_batch_begin(self->store, err, sizeof err);
    for (s_write_t *w = zlistx_first(self->writes); status == 0 && w;
         w = zlistx_next(self->writes)) {
        if (w->kind == S_APPEND)
            status = kp_raftstore_append(self->store, w->entries, w->n, err, sizeof err);
        else if (w->kind == S_TRUNCATE)
            status = kp_raftstore_truncate(self->store, w->index, err, sizeof err);
        else
            status =
                kp_snapxfer_put(self->xfer, self->store, w->trailing, w->snapshot, err, sizeof err);
    }
    if (status == 0)
        status = kp_raftstore_batch_commit(self->store, err, sizeof err);
    else
        kp_raftstore_batch_commit(self->store, NULL, 0);
    self->stats.commits++;
    if (status)
        zsys_error("raft io: %s", err);
    s_write_t *w;
    while ((w = zlistx_detach(self->writes, NULL))) {
        if (w->kind == S_APPEND)
            s_done(self, S_DONE_APPEND, w->append, status ? RAFT_IOERR : 0, NULL);
        else if (w->kind == S_SNAPSHOT_PUT)
            s_done(self, S_DONE_PUT, w->put, status ? RAFT_IOERR : 0, NULL);
        free(w);
    }
}

//  Calls libraft's callback of a finished request (append, send,
//  snapshot put or get) with its status, RAFT_CANCELED when closing.
static void s_fire(s_io_t *self, s_done_t *done)
{
    int status = self->closing ? RAFT_CANCELED : done->status;
    switch (done->kind) {
    case S_DONE_APPEND: {
        struct raft_io_append *req = done->req;
        if (req->cb)
            req->cb(req, status);
        break;
    }
    case S_DONE_SEND: {
        struct raft_io_send *req = done->req;
        if (req->cb) //  libraft passes none for some sends (TimeoutNow)
            req->cb(req, status);
        break;
    }
    case S_DONE_PUT: {
        struct raft_io_snapshot_put *req = done->req;
        if (req->cb)
            req->cb(req, status);
        break;
    }
    case S_DONE_GET: {
        struct raft_io_snapshot_get *req = done->req;
        struct raft_snapshot *snapshot = NULL;
        char err[256];
        if (!status && kp_raftstore_snapshot_get(self->store, &snapshot, err, sizeof err))
            status = RAFT_IOERR;
        if (!status && !snapshot)
            status = RAFT_NOTFOUND;
        if (req->cb)
            req->cb(req, status ? NULL : snapshot, status);
        else
            kp_raftstore_snapshot_free(&snapshot);
        break;
    }
    case S_DONE_WORK: {
        struct raft_io_async_work *req = done->req;
        if (req->cb)
            req->cb(req, done->status);
        break;
    }
    }
}

//  Fires the callbacks due at the start of this turn; those they cause
//  wait for the next turn.
static void s_fire_done(s_io_t *self)
{
    size_t due = zlistx_size(self->done);
    for (size_t i = 0; i < due; i++) {
        s_done_t *done = zlistx_detach(self->done, NULL);
        s_fire(self, done);
        free(done);
    }
}

static void s_reap_jobs(s_io_t *self, const zmq_pollitem_t *items, int count)
{
    for (int i = 0; i < count; i++) {
        if (!(items[i].revents & ZMQ_POLLIN))
            continue;
        for (s_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs))
            if (zsock_resolve(zactor_sock(job->actor)) == items[i].socket) {
                int status = zsock_wait(job->actor);
                zactor_destroy(&job->actor);
                s_done(self, S_DONE_WORK, job->req, status, NULL);
                zlistx_delete(self->jobs, zlistx_cursor(self->jobs));
                break;
            }
    }
}

int kp_raftio_items(struct raft_io *io, zmq_pollitem_t *items, int max)
{
    s_io_t *self = s_self(io);
    int n = 0;
    if (self->router && n < max)
        items[n++] = (zmq_pollitem_t){zsock_resolve(self->router), 0, ZMQ_POLLIN, 0};
    for (s_job_t *job = zlistx_first(self->jobs); job && n < max; job = zlistx_next(self->jobs))
        items[n++] = (zmq_pollitem_t){zsock_resolve(zactor_sock(job->actor)), 0, ZMQ_POLLIN, 0};
    return n;
}

long kp_raftio_timeout(struct raft_io *io)
{
    s_io_t *self = s_self(io);
    if (zlistx_size(self->done) || zlistx_size(self->writes) || (self->closing && self->close_cb))
        return 0;
    if (!self->tick_cb)
        return 1000;
    int64_t wait = self->next_tick - zclock_mono();
    long xfer = kp_snapxfer_timeout(self->xfer);
    long timeout = wait < 0 ? 0 : (long)wait;
    return xfer < timeout ? xfer : timeout;
}

static void s_finish_close(s_io_t *self)
{
    //  Jobs finish their work first: their callbacks free raft's memory.
    for (s_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs)) {
        int status = zsock_wait(job->actor);
        zactor_destroy(&job->actor);
        s_done(self, S_DONE_WORK, job->req, status, NULL);
    }
    zlistx_purge(self->jobs);
    s_flush_writes(self);
    while (zlistx_size(self->done))
        s_fire_done(self);
    raft_io_close_cb cb = self->close_cb;
    self->close_cb = NULL;
    self->tick_cb = NULL;
    self->recv_cb = NULL;
    cb(&self->io);
}

void kp_raftio_process(struct raft_io *io, const zmq_pollitem_t *items, int count)
{
    s_io_t *self = s_self(io);
    if (self->closing) {
        if (self->close_cb)
            s_finish_close(self);
        return;
    }
    s_fire_done(self);
    s_reap_jobs(self, items, count);
    if (self->router && count > 0 && (items[0].revents & ZMQ_POLLIN))
        s_drain_router(self);
    kp_snapxfer_tick(self->xfer);
    int64_t now = zclock_mono();
    if (self->tick_cb && now >= self->next_tick && !self->closing) {
        self->next_tick = now + self->tick_ms;
        self->tick_cb(&self->io);
    }
    s_flush_writes(self);
}

//  ---------------------------------------------------------------------
//  Construction

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

struct raft_io *kp_raftio_new(const kp_raftio_options_t *options, char *err, size_t errlen)
{
    s_io_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "raft io: out of memory");
        return NULL;
    }
    snprintf(self->cluster, sizeof self->cluster, "%s", options->cluster);
    snprintf(self->folder, sizeof self->folder, "%s", options->folder);
    snprintf(self->bind, sizeof self->bind, "%s", options->bind ? options->bind : "");
    self->resolve = options->resolve;
    self->resolve_arg = options->resolve_arg;
    self->secure = options->secure;
    self->member_key = options->member_key;
    self->admit = options->admit;
    self->removed = options->removed;
    self->max_frame = options->max_frame ? options->max_frame : (64u << 20);
    self->on_frame = options->on_frame;
    self->on_frame_arg = options->on_frame_arg;
    self->store = kp_raftstore_new(options->folder, err, errlen);
    if (!self->store) {
        free(self);
        return NULL;
    }
    self->peers = zhashx_new();
    zhashx_set_destructor(self->peers, s_peer_destroy);
    self->writes = zlistx_new();
    zlistx_set_destructor(self->writes, s_free_item);
    self->done = zlistx_new();
    zlistx_set_destructor(self->done, s_free_item);
    self->jobs = zlistx_new();
    zlistx_set_destructor(self->jobs, s_free_item);
    self->xfer = kp_snapxfer_new(self->folder, self->cluster, s_xfer_send, s_xfer_deliver, self,
                                 err, errlen);
    if (!self->xfer) {
        struct raft_io *io = &self->io;
        kp_raftio_destroy(&io);
        return NULL;
    }
    struct raft_io *io = &self->io;
    io->version = 2;
    io->impl = self;
    io->init = s_init;
    io->close = s_close;
    io->load = s_load;
    io->start = s_start;
    io->bootstrap = s_bootstrap;
    io->recover = s_recover;
    io->set_term = s_set_term;
    io->set_vote = s_set_vote;
    io->send = s_send;
    io->append = s_append;
    io->truncate = s_truncate;
    io->snapshot_put = s_snapshot_put;
    io->snapshot_get = s_snapshot_get;
    io->time = s_time;
    io->random = s_random;
    io->async_work = s_async_work;
    return io;
}

void kp_raftio_destroy(struct raft_io **io_p)
{
    if (!io_p || !*io_p)
        return;
    s_io_t *self = s_self(*io_p);
    for (s_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs))
        zactor_destroy(&job->actor);
    zlistx_destroy(&self->jobs);
    zlistx_destroy(&self->writes);
    zlistx_destroy(&self->done);
    kp_snapxfer_destroy(&self->xfer);
    zhashx_destroy(&self->peers);
    zsock_destroy(&self->router);
    kp_raftstore_destroy(&self->store);
    free(self);
    *io_p = NULL;
}

kp_raftstore_t *kp_raftio_store(struct raft_io *io)
{
    return s_self(io)->store;
}

int64_t kp_raftio_leader_contact(struct raft_io *io)
{
    return s_self(io)->leader_contact;
}

void kp_raftio_stats(struct raft_io *io, kp_raftio_stats_t *out)
{
    s_io_t *self = s_self(io);
    *out = self->stats;
    kp_snapxfer_counts(self->xfer, &out->snapshots_sent, &out->snapshots_refused);
}

int kp_raftio_snapshot_path(struct raft_io *io, const char *name, char *path, size_t size)
{
    return kp_snapxfer_path(s_self(io)->xfer, name, path, size);
}
