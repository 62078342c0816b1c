/*  kp_worker.c - the worker protocol, provider side.

    Plain libzmq with its own context, like kp_client.c, so that linking
    it installs no signal handlers behind the application's back.
*/
#include "kp_worker.h"
#include "wire.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

//  Silent intervals after which the peer is dead (PROTOCOL.md).
#define S_SILENT_INTERVALS 3

typedef enum {
    S_IDLE,     //  no session: the next recv says hello
    S_HELLO,    //  hello sent, no answer yet
    S_ACCEPTED, //  the node answered the hello with a heartbeat
} s_state_t;

struct _kp_worker_t {
    void *ctx;
    void *sock;
    char *endpoint;
    char *kbo;
    char **messages;
    size_t message_count;
    char *worker_id;
    uint32_t concurrency;
    uint32_t heartbeat_ms;
    size_t max_frame;
    kp_wire_cert_t cert; //  CURVE, when cert.on
    uint8_t server[32];  //  the node's public key
    s_state_t state;
    int64_t last_sent; //  monotonic ms
    int64_t last_heard;
    zhashx_t *tickets;           //  "ticket" -> 1, handed out this session
    kp_worker_notify_fn *notify; //  mutations: set, the hello asks for them
    void *notify_arg;
    kp_worker_published_fn *published;
    void *published_arg;
    Kp__Reason error_reason;
    char error_detail[256];
    kp_worker_stats_t stats;
};

kp_worker_t *kp_worker_new(const char *endpoint, const char *kbo, const char **messages,
                           size_t count)
{
    if (!endpoint || !*endpoint || !kbo || !*kbo || (count && !messages))
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (!messages[i] || !*messages[i])
            return NULL;
    kp_worker_t *self = (kp_worker_t *)calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = zmq_ctx_new();
    self->endpoint = strdup(endpoint);
    self->kbo = strdup(kbo);
    self->messages = (char **)calloc(count ? count : 1, sizeof(char *));
    self->tickets = zhashx_new();
    if (!self->ctx || !self->endpoint || !self->kbo || !self->messages || !self->tickets)
        goto fail;
    self->message_count = count;
    for (size_t i = 0; i < count; i++)
        if (!(self->messages[i] = strdup(messages[i])))
            goto fail;
    char id[128];
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "%s:%d", host, (int)getpid());
    if (!(self->worker_id = strdup(id)))
        goto fail;
    self->concurrency = 1;
    self->heartbeat_ms = 1000;
    self->state = S_IDLE;
    return self;
fail:
    kp_worker_destroy(&self);
    return NULL;
}

static int s_send(kp_worker_t *self, const Kp__WorkerFrame *frame)
{
    size_t size = kp__worker_frame__get_packed_size(frame);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size) != 0)
        return KP_WORKER_ENOMEM;
    kp__worker_frame__pack(frame, (uint8_t *)zmq_msg_data(&msg));
    while (zmq_msg_send(&msg, self->sock, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN) {
            //  No connection to send on: a CURVE handshake the node refused
            //  (our key is not in its directory yet) leaves none until the
            //  next reconnect. Hellos and heartbeats go again next interval;
            //  a reply's call is re-dispatched or times out on the node.
            zmq_msg_close(&msg);
            return 0;
        }
        if (errno != EINTR) {
            zmq_msg_close(&msg);
            return KP_WORKER_ESOCKET;
        }
    }
    self->last_sent = zclock_mono();
    return 0;
}

static int s_send_beat(kp_worker_t *self, bool bye)
{
    Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
    beat.has_time_unix_ms = true;
    beat.time_unix_ms = (uint64_t)zclock_time();
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = bye ? KP__WORKER_FRAME__BODY_BYE : KP__WORKER_FRAME__BODY_HEARTBEAT;
    if (bye)
        frame.bye = &beat;
    else
        frame.heartbeat = &beat;
    return s_send(self, &frame);
}

static int s_send_hello(kp_worker_t *self)
{
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    hello.kbo = self->kbo;
    hello.n_messages = self->message_count;
    hello.messages = self->messages;
    hello.has_concurrency = true;
    hello.concurrency = self->concurrency;
    hello.worker_id = self->worker_id;
    hello.has_notifications = self->notify != NULL;
    hello.notifications = self->notify != NULL;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    return s_send(self, &frame);
}

//  New socket, new hello: a new session. Tickets of the old one are void.
//  Until the node answers, the socket carries hellos only (one more each
//  interval: a node killed with our hello unread never answers it), so
//  that an error on it can only be about a hello: a heartbeat there would
//  get "say hello first" from a node that lost the hello, which is no
//  refusal.
static int s_hello(kp_worker_t *self)
{
    if (self->sock)
        zmq_close(self->sock);
    zhashx_purge(self->tickets);
    self->sock = kp_wire_dealer(self->ctx, self->max_frame);
    if (!self->sock || kp_wire_curve(self->sock, &self->cert, self->server))
        return KP_WORKER_ESOCKET;
    if (zmq_connect(self->sock, self->endpoint) != 0)
        return KP_WORKER_ESOCKET;
    self->state = S_HELLO;
    self->last_heard = zclock_mono();
    self->stats.sessions++;
    return s_send_hello(self);
}

int kp_worker_set_curve(kp_worker_t *self, const char *cert_file, const char *server_key)
{
    kp_wire_cert_t cert;
    uint8_t server[32];
    if (!self || !server_key || kp_wire_z85(server_key, strlen(server_key), server) ||
        kp_wire_cert_load(cert_file, &cert))
        return KP_WORKER_EINVAL;
    self->cert = cert;
    memcpy(self->server, server, sizeof server);
    return 0;
}

void kp_worker_destroy(kp_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_worker_t *self = *self_p;
    if (self->sock) {
        if (self->state != S_IDLE) {
            //  Give the bye a moment to leave; the node re-dispatches
            //  at once instead of waiting three heartbeats.
            int linger = 500;
            zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
            s_send_beat(self, true);
        }
        zmq_close(self->sock);
    }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    if (self->messages)
        for (size_t i = 0; i < self->message_count; i++)
            free(self->messages[i]);
    free(self->messages);
    free(self->endpoint);
    free(self->kbo);
    free(self->worker_id);
    zhashx_destroy(&self->tickets);
    free(self);
    *self_p = NULL;
}

void kp_worker_set_concurrency(kp_worker_t *self, uint32_t concurrency)
{
    assert(self);
    self->concurrency = concurrency ? concurrency : 1;
}

void kp_worker_set_heartbeat(kp_worker_t *self, uint32_t heartbeat_ms)
{
    assert(self);
    self->heartbeat_ms = heartbeat_ms ? heartbeat_ms : 1000;
}

void kp_worker_set_id(kp_worker_t *self, const char *worker_id)
{
    assert(self);
    char *copy = worker_id ? strdup(worker_id) : NULL;
    if (copy) {
        free(self->worker_id);
        self->worker_id = copy;
    }
}

void kp_worker_set_max_frame(kp_worker_t *self, size_t bytes)
{
    assert(self);
    self->max_frame = bytes;
}

bool kp_worker_accepted(kp_worker_t *self)
{
    assert(self);
    return self->state == S_ACCEPTED;
}

Kp__Reason kp_worker_error_reason(kp_worker_t *self)
{
    assert(self);
    return self->error_reason;
}

const char *kp_worker_error_detail(kp_worker_t *self)
{
    assert(self);
    return self->error_detail;
}

void kp_worker_stats(kp_worker_t *self, kp_worker_stats_t *out)
{
    assert(self && out);
    *out = self->stats;
}

static void s_ticket_key(uint64_t ticket, char key[24])
{
    snprintf(key, 24, "%llu", (unsigned long long)ticket);
}

//  What one frame from the node means for the loop.
typedef enum { S_NOTHING, S_REQUEST, S_REFUSED } s_event_t;

static s_event_t s_handle_error(kp_worker_t *self, const Kp__WorkerError *error)
{
    self->stats.errors++;
    self->error_reason = error->has_reason ? error->reason : KP__REASON__REASON_NONE;
    snprintf(self->error_detail, sizeof self->error_detail, "%s",
             error->detail ? error->detail : "");
    if (self->state == S_HELLO) {
        self->state = S_IDLE;
        return S_REFUSED;
    }
    //  Forgotten by the node after the hello was accepted: start over.
    self->state = S_IDLE;
    return S_NOTHING;
}

//  A mutation: handed to the owner, acknowledged if the owner took it.
static void s_handle_notify(kp_worker_t *self, const Kp__MutationNotify *notify)
{
    if (!notify->has_seq || !notify->mutation) {
        self->stats.malformed++;
        return;
    }
    self->stats.notifies++;
    if (!self->notify || self->notify(self->notify_arg, notify) != 0)
        return; //  not taken: the node sends it again later
    uint64_t seq = notify->seq;
    Kp__MutationAck ack = KP__MUTATION_ACK__INIT;
    ack.seqs = &seq;
    ack.n_seqs = 1;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_ACK;
    frame.ack = &ack;
    if (s_send(self, &frame) == 0)
        self->stats.acks++;
}

//  Acts on one frame from the node (accept, request, heartbeat, bye,
//  refusal) and says what the caller sees; a request goes to *req_out.
//  Hostile frames are counted and dropped.
static s_event_t s_handle_frame(kp_worker_t *self, zmq_msg_t *msg, Kp__WorkerRequest **req_out)
{
    Kp__WorkerFrame *frame =
        kp__worker_frame__unpack(NULL, zmq_msg_size(msg), (const uint8_t *)zmq_msg_data(msg));
    if (!frame) {
        self->stats.malformed++;
        return S_NOTHING;
    }
    self->last_heard = zclock_mono();
    s_event_t event = S_NOTHING;
    switch (frame->body_case) {
    case KP__WORKER_FRAME__BODY_HEARTBEAT:
        if (self->state == S_HELLO)
            self->state = S_ACCEPTED;
        break;
    case KP__WORKER_FRAME__BODY_REQUEST:
        if (!frame->request->has_ticket) {
            self->stats.malformed++;
            break;
        }
        //  A request is as good as an acceptance.
        self->state = S_ACCEPTED;
        char key[24];
        s_ticket_key(frame->request->ticket, key);
        zhashx_update(self->tickets, key, (void *)1);
        *req_out = frame->request;
        frame->request = NULL;
        frame->body_case = KP__WORKER_FRAME__BODY__NOT_SET;
        self->stats.requests++;
        event = S_REQUEST;
        break;
    case KP__WORKER_FRAME__BODY_ERROR:
        event = s_handle_error(self, frame->error);
        break;
    case KP__WORKER_FRAME__BODY_NOTIFY:
        self->state = S_ACCEPTED;
        s_handle_notify(self, frame->notify);
        break;
    case KP__WORKER_FRAME__BODY_PUBLISHED:
        self->stats.published++;
        if (self->published)
            self->published(self->published_arg, frame->published);
        break;
    case KP__WORKER_FRAME__BODY_BYE:
        //  The node leaves: its work is re-dispatched; start over.
        self->stats.byes++;
        self->state = S_IDLE;
        break;
    default:
        self->stats.malformed++;
        break;
    }
    kp__worker_frame__free_unpacked(frame, NULL);
    return event;
}

//  Reads one message if one is waiting; multi-frame messages are skipped.
static int s_read(kp_worker_t *self, Kp__WorkerRequest **req_out, s_event_t *event)
{
    *event = S_NOTHING;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    kp_wire_recv_t got = kp_wire_recv(self->sock, &msg);
    if (got == KP_WIRE_FRAME)
        *event = s_handle_frame(self, &msg, req_out);
    else if (got == KP_WIRE_MULTIPART)
        self->stats.malformed++;
    zmq_msg_close(&msg);
    if (got == KP_WIRE_EMPTY)
        return KP_WORKER_ETIMEDOUT;
    if (got == KP_WIRE_EINTR)
        return KP_WORKER_EINTR;
    return got == KP_WIRE_ESOCKET ? KP_WORKER_ESOCKET : 0;
}

//  Heartbeat when due, reconnect when the node went silent.
static int s_timers(kp_worker_t *self)
{
    int64_t now = zclock_mono();
    if (self->state == S_IDLE)
        return s_hello(self);
    if (now - self->last_heard >= (int64_t)S_SILENT_INTERVALS * self->heartbeat_ms) {
        self->stats.silences++;
        return s_hello(self);
    }
    if (now - self->last_sent < self->heartbeat_ms)
        return 0;
    if (self->state == S_HELLO)
        return s_send_hello(self);
    self->stats.heartbeats++;
    return s_send_beat(self, false);
}

static int64_t s_next_timer(kp_worker_t *self)
{
    int64_t beat = self->last_sent + self->heartbeat_ms;
    int64_t silent = self->last_heard + (int64_t)S_SILENT_INTERVALS * self->heartbeat_ms;
    return beat < silent ? beat : silent;
}

int kp_worker_recv(kp_worker_t *self, int timeout_ms, Kp__WorkerRequest **req_out)
{
    if (!self || !req_out)
        return KP_WORKER_EINVAL;
    *req_out = NULL;
    int64_t end = timeout_ms < 0 ? INT64_MAX : zclock_mono() + timeout_ms;
    while (true) {
        //  What is waiting first: the timers must not say hello again
        //  over an acceptance that has already arrived.
        int rc = 0;
        s_event_t event;
        while (self->state != S_IDLE && (rc = s_read(self, req_out, &event)) == 0) {
            if (event == S_REQUEST)
                return 0;
            if (event == S_REFUSED)
                return KP_WORKER_EREFUSED;
        }
        if (rc != 0 && rc != KP_WORKER_ETIMEDOUT)
            return rc;
        rc = s_timers(self); //  says hello at once after an error or bye
        if (rc)
            return rc;
        int64_t now = zclock_mono();
        if (now >= end)
            return KP_WORKER_ETIMEDOUT;
        int64_t wait = s_next_timer(self) - now;
        if (end - now < wait)
            wait = end - now;
        if (wait < 0)
            wait = 0;
        zmq_pollitem_t item = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)wait) < 0)
            return errno == EINTR ? KP_WORKER_EINTR : KP_WORKER_ESOCKET;
    }
}

int kp_worker_reply(kp_worker_t *self, const Kp__WorkerRequest *req, Kp__Status status,
                    const void *payload, size_t size)
{
    if (!self || !req || (!payload && size) || !req->has_ticket)
        return KP_WORKER_EINVAL;
    char key[24];
    s_ticket_key(req->ticket, key);
    if (self->state == S_IDLE || !zhashx_lookup(self->tickets, key)) {
        self->stats.stale++;
        return KP_WORKER_ESTALE;
    }
    zhashx_delete(self->tickets, key);
    Kp__WorkerReply reply = KP__WORKER_REPLY__INIT;
    reply.request_id = req->request_id;
    reply.has_status = true;
    reply.status = status;
    reply.has_payload = true;
    reply.payload.data = (uint8_t *)payload;
    reply.payload.len = size;
    reply.has_ticket = true;
    reply.ticket = req->ticket;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_REPLY;
    frame.reply = &reply;
    int rc = s_send(self, &frame);
    if (rc == 0)
        self->stats.replies++;
    return rc;
}

void kp_worker_request_destroy(Kp__WorkerRequest **req_p)
{
    if (req_p && *req_p) {
        kp__worker_request__free_unpacked(*req_p, NULL);
        *req_p = NULL;
    }
}

const char *kp_worker_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case KP_WORKER_EINVAL:
        return "invalid argument";
    case KP_WORKER_ESOCKET:
        return "ZeroMQ socket error";
    case KP_WORKER_ETIMEDOUT:
        return "no request arrived in time";
    case KP_WORKER_EREFUSED:
        return "the node refused the hello";
    case KP_WORKER_ESTALE:
        return "the request belongs to an earlier session";
    case KP_WORKER_EINTR:
        return "interrupted by a signal";
    case KP_WORKER_ENOMEM:
        return "out of memory";
    case KP_WORKER_EAGAIN:
        return "the send queue is full; receive, then publish again";
    default:
        return "unknown error";
    }
}

void *kp_worker_socket(kp_worker_t *self)
{
    assert(self);
    return self->sock;
}

void kp_worker_set_notify(kp_worker_t *self, kp_worker_notify_fn *fn, void *arg)
{
    assert(self);
    self->notify = fn;
    self->notify_arg = arg;
}

void kp_worker_set_published(kp_worker_t *self, kp_worker_published_fn *fn, void *arg)
{
    assert(self);
    self->published = fn;
    self->published_arg = arg;
}

int kp_worker_publish(kp_worker_t *self, const Kp__Mutation *mutation)
{
    if (!self || !mutation || self->state != S_ACCEPTED)
        return KP_WORKER_EINVAL;
    Kp__MutationPublish publish = KP__MUTATION_PUBLISH__INIT;
    publish.mutation = (Kp__Mutation *)mutation;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_PUBLISH;
    frame.publish = &publish;
    size_t size = kp__worker_frame__get_packed_size(&frame);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size) != 0)
        return KP_WORKER_ENOMEM;
    kp__worker_frame__pack(&frame, (uint8_t *)zmq_msg_data(&msg));
    while (zmq_msg_send(&msg, self->sock, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        if (err != EINTR) {
            zmq_msg_close(&msg);
            return err == EAGAIN ? KP_WORKER_EAGAIN : KP_WORKER_ESOCKET;
        }
    }
    self->last_sent = zclock_mono();
    return 0;
}
