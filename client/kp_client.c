/*  kp_client.c - the client stub: pipelined requests with failover.

    Plain libzmq (with its own context) rather than zsock: CZMQ installs a
    process-wide SIGINT handler when it makes its first socket, and a
    library linked into someone else's application must not do that.

    The per-request path allocates nothing in the steady state: requests
    in flight are found through kp_idmap (no allocation per entry, unlike
    zhashx) and kept in order on a list through their own links, finished
    ones are kept for reuse with their frame buffers, the ids done with
    are an array written in order, and answers wait in a ring. kpbench
    measures the stub's CPU per request against a bare DEALER; every
    microsecond spent here is taken from the node when both share a
    machine.
*/
#include "kp_client.h"
#include "idmap.h"
#include "window.h"
#include "wire.h"

#include <czmq.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

//  Ids remembered after completion (with how they ended), to tell a
//  second copy of an answer from a late one and from a stray one; the set
//  is emptied when it reaches this size.
#define S_DONE_MAX 4096
//  Finished requests kept for reuse (with their frame buffers), at most.
#define S_SPARE_MAX 256
//  While frames wait on the node's socket they are read without a poll;
//  the other sockets are polled at least this often (see s_pump).
#define S_POLL_MS 1

//  Availability defaults (kp_client.h, "Failover").
#define S_HEARTBEAT_IVL_MS 100     //  a ZMTP ping every 100 ms
#define S_HEARTBEAT_TIMEOUT_MS 400 //  nothing back within 400 ms: gone
#define S_HEARTBEAT_TTL_MS 1000    //  the node drops a client silent this long
#define S_CONNECT_MS 1000          //  without heartbeats: time to connect
//  A TCP connection that is up gets this long for its handshake before the
//  client moves on: a CURVE handshake is four round trips and a ZAP
//  request on the node, which a busy machine stretches past a heartbeat.
#define S_HANDSHAKE_MS 3000
#define S_ATTEMPT_FLOOR_MS 250  //  an attempt is never shorter
#define S_ATTEMPT_P99S 8        //  nor shorter than this many node p99s
#define S_ATTEMPT_MARGIN_MS 250 //  past the request's deadline_ms
#define S_LATENCY_SAMPLES 8     //  answers before the node's p99 counts
#define S_PING_MIN_MS 100       //  a pong may take this long, or 4 p99s
//  Site preference (kp_client_set_site): away from its own site, the
//  client probes its own site's nodes this often, and comes back to one
//  that has answered every probe for the settle time (a node just
//  restarted has its providers back by then).
#define S_PROBE_MS 250
#define S_SETTLE_MS 1000

//  How a request no longer awaited ended.
typedef enum { S_DONE_ANSWERED = 1, S_DONE_GAVE_UP } s_how_t;

//  An id no longer awaited (kp_client_t.done_ids).
typedef struct {
    char id[KP_CLIENT_ID_MAX];
    s_how_t how;
} s_done_t;

typedef struct _s_pending_t s_pending_t;
struct _s_pending_t {
    char id[KP_CLIENT_ID_MAX];
    uint64_t hash;  //  of id, the key in kp_client_t.pending
    bool ours;      //  id made by this client
    uint8_t *frame; //  the encoded request, resent on failover
    size_t size;
    size_t frame_room;         //  bytes allocated at frame (kept when reused)
    int timeout_ms;            //  overall, as given by the caller
    unsigned attempts;         //  attempts made so far
    unsigned redirects;        //  SHUTTING_DOWN answers that moved it on
    uint32_t node_deadline_ms; //  the request's deadline_ms, 0 if unset
    int64_t sent_ms;           //  when this attempt left
    int64_t hedge_at;          //  when to send it to a second node too
    bool hedged;               //  sent to the second node in this attempt
    bool extended;             //  this attempt was given the deadline
    bool pinged;               //  the node was pinged in this attempt
    bool unsent;               //  waits for a connection (ZMQ_IMMEDIATE)
    bool draining;             //  sent before a fail-back: answered on the old node
    s_pending_t *prev, *next;  //  in kp_client_t's order sent (next: spares too)
    int64_t deadline;          //  overall, monotonic ms
    int64_t attempt_deadline;  //  of the current attempt, monotonic ms
};

struct _kp_client_t {
    void *ctx;
    void *sock;
    char **endpoints;
    size_t endpoint_count;
    size_t current; //  the endpoint talked to: route[pos]
    size_t pos;
    size_t *route;     //  the failover order: the own site's endpoints first
    size_t own;        //  endpoints of the own site (first in route); 0: no preference
    size_t home_moves; //  failovers within the own site since an answer there
    unsigned attempts;
    bool attempts_set; //  kp_client_set_attempts called: the old split
    int attempt_timeout_ms;
    size_t max_frame;
    kp_wire_cert_t cert;    //  CURVE, when cert.on
    uint8_t (*servers)[32]; //  each endpoint's public key, when cert.on
    kp_idmap_t *pending;    //  id -> s_pending_t *, owned
    s_pending_t *first;     //  the pending requests in the order sent
    s_pending_t *last;
    s_pending_t *spare; //  finished requests kept for reuse
    size_t spares;
    s_done_t *done_ids;    //  ids no longer awaited, in the order they ended
    uint64_t *done_hashes; //  their hashes (S_DONE_MAX each, done_count used)
    size_t done_count;
    size_t unsent;        //  pending requests not yet handed to ZeroMQ
    bool move_on;         //  a node said SHUTTING_DOWN: fail over now
    Kp__Response **ready; //  a ring of responses waiting to be handed out
    size_t ready_head;    //  the oldest's place
    size_t ready_count;
    size_t ready_room;  //  places in the ring (0 or a power of two)
    int64_t next_check; //  no timer can fire before this (ms)
    int64_t polled_ms;  //  the last poll of every socket (s_pump)
    kp_client_stats_t stats;
    //  Availability: see the section of that name below.
    int heartbeat_ivl_ms; //  0: no ZMTP heartbeats
    int heartbeat_timeout_ms;
    void *monitor;         //  PAIR: connection events of sock
    bool monitor_read;     //  read to its end since made (see s_wait)
    unsigned monitors;     //  monitor endpoints made (unique names)
    bool connected;        //  sock's handshake is done
    int64_t connect_by;    //  fail over if not connected by then
    int64_t last_heard;    //  last frame from the current node
    kp_window_t **latency; //  per endpoint: recent answer times (us)
    int hedge_min_ms;      //  0: no hedging
    int hedge_max_ms;
    void *hedge_sock;               //  to the endpoint after the current one
    char ping_id[KP_CLIENT_ID_MAX]; //  the request id of our pings
    int64_t ping_sent_ms;           //  the last ping to the current node
    //  Site preference: see kp_client_set_site.
    int settle_ms;                   //  0: no fail-back
    void *probe_sock;                //  to an own-site endpoint, while away
    size_t probe_pos;                //  its place in route
    int64_t probe_next;              //  the next probe (INT64_MAX: none due)
    int64_t probe_ok_since;          //  answered every probe since (0: not)
    int64_t probe_created;           //  when probe_sock was made
    char probe_id[KP_CLIENT_ID_MAX]; //  the request id of the probes
    void *drain_sock;                //  the node left by a fail-back, until its
                                     //  requests are answered or their attempts end
};

//  ---------------------------------------------------------------------
//  The requests in flight, the ids done with, and the answers ready.

static bool s_pending_match(const void *value, const void *key)
{
    return strcmp(((const s_pending_t *)value)->id, (const char *)key) == 0;
}

//  A cleared request to fill in: a spare one, with its frame buffer, or a
//  new one. NULL if memory is short.
static s_pending_t *s_pending_new(kp_client_t *self)
{
    s_pending_t *p = self->spare;
    if (!p)
        return (s_pending_t *)calloc(1, sizeof *p);
    self->spare = p->next;
    self->spares--;
    uint8_t *frame = p->frame;
    size_t room = p->frame_room;
    memset(p, 0, sizeof *p);
    p->frame = frame;
    p->frame_room = room;
    return p;
}

//  Frees the requests chained from p by their next links, frame buffers too.
static void s_pending_free_chain(s_pending_t *p)
{
    while (p) {
        s_pending_t *next = p->next;
        free(p->frame);
        free(p);
        p = next;
    }
}

//  Keeps p for reuse, or frees it when enough are kept.
static void s_pending_free(kp_client_t *self, s_pending_t *p)
{
    if (self->spares < S_SPARE_MAX) {
        p->next = self->spare;
        self->spare = p;
        self->spares++;
        return;
    }
    free(p->frame);
    free(p);
}

//  Adds p at the end of the order sent, and to the map.
static int s_pending_add(kp_client_t *self, s_pending_t *p)
{
    if (kp_idmap_insert(self->pending, p->hash, p) != 0)
        return KP_CLIENT_ENOMEM;
    p->next = NULL;
    p->prev = self->last;
    if (self->last)
        self->last->next = p;
    else
        self->first = p;
    self->last = p;
    return 0;
}

//  Takes p out of the order sent and out of the map.
static void s_pending_remove(kp_client_t *self, s_pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        self->first = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        self->last = p->prev;
    kp_idmap_remove_value(self->pending, p->hash, p);
}

static s_pending_t *s_pending_find(kp_client_t *self, const char *id)
{
    return (s_pending_t *)kp_idmap_get(self->pending, kp_idmap_hash_str(id), id, s_pending_match);
}

//  The ids done with are searched only for a frame that matches no
//  request in flight (a second copy, a late or a stray answer): newest
//  first, by their hashes, kept apart (4096 compares, a few microseconds).
//  Remembering one is then two writes next to the last ones, where a
//  hash map's probe missed the cache on every request. An id that ended
//  twice (a caller's id used again) is found in its newest record.

//  How id ended, or 0 when it is not among the ids done with.
static s_how_t s_done_find(kp_client_t *self, const char *id)
{
    uint64_t hash = kp_idmap_hash_str(id);
    for (size_t i = self->done_count; i-- > 0;)
        if (self->done_hashes[i] == hash && strcmp(self->done_ids[i].id, id) == 0)
            return self->done_ids[i].how;
    return 0;
}

//  Remembers how id ended; the set is emptied when it reaches S_DONE_MAX.
static void s_done_add(kp_client_t *self, const char *id, uint64_t hash, s_how_t how)
{
    if (self->done_count >= S_DONE_MAX)
        self->done_count = 0;
    s_done_t *done = &self->done_ids[self->done_count];
    memcpy(done->id, id, strlen(id) + 1);
    done->how = how;
    self->done_hashes[self->done_count++] = hash;
}

//  Adds resp at the end of the answers ready; frees it if memory is short
//  (its request is then lost, as it would be if ZeroMQ had no room for it).
static void s_ready_add(kp_client_t *self, Kp__Response *resp)
{
    if (self->ready_count == self->ready_room) {
        size_t room = self->ready_room ? 2 * self->ready_room : 64;
        Kp__Response **ring = (Kp__Response **)malloc(room * sizeof *ring);
        if (!ring) {
            kp__response__free_unpacked(resp, NULL);
            return;
        }
        for (size_t i = 0; i < self->ready_count; i++)
            ring[i] = self->ready[(self->ready_head + i) & (self->ready_room - 1)];
        free(self->ready);
        self->ready = ring;
        self->ready_room = room;
        self->ready_head = 0;
    }
    self->ready[(self->ready_head + self->ready_count++) & (self->ready_room - 1)] = resp;
}

//  Takes the answer at place i of the ring (0: the oldest) out of it.
static Kp__Response *s_ready_take(kp_client_t *self, size_t i)
{
    size_t mask = self->ready_room - 1;
    Kp__Response *resp = self->ready[(self->ready_head + i) & mask];
    if (i == 0) {
        self->ready_head = (self->ready_head + 1) & mask;
    } else {
        for (; i + 1 < self->ready_count; i++)
            self->ready[(self->ready_head + i) & mask] =
                self->ready[(self->ready_head + i + 1) & mask];
    }
    self->ready_count--;
    return resp;
}

//  A fresh request id: 128 bits from the kernel's CSPRNG, in hex. Nothing
//  in it follows from an earlier id, so nobody can send one first (the
//  node keys ids by their sender anyway). -1 when there is no entropy.
static int s_make_id(char out[KP_CLIENT_ID_MAX])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t bytes[16];
    if (kp_wire_random(bytes, sizeof bytes))
        return -1;
    for (size_t i = 0; i < sizeof bytes; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * sizeof bytes] = '\0';
    return 0;
}

static void s_unwatch(kp_client_t *self);
static int s_watch(kp_client_t *self);
static void s_set_heartbeat(kp_client_t *self, void *sock);

static int s_connect(kp_client_t *self)
{
    s_unwatch(self);
    if (self->sock)
        zmq_close(self->sock);
    //  Unanswered requests live in self->pending, not in ZeroMQ's queues:
    //  no lingering on close, no high-water mark dropping or blocking.
    self->sock = kp_wire_dealer(self->ctx, self->max_frame);
    if (!self->sock)
        return KP_CLIENT_ESOCKET;
    int zero = 0;
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &zero, sizeof zero);
    //  Queue nothing for a node that is not connected: without this, a
    //  DEALER keeps frames for a dead peer and delivers them when it comes
    //  back, after they were resent elsewhere (one request routed twice).
    //  Sends that find no connection wait in self->pending instead.
    int one = 1;
    zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    s_set_heartbeat(self, self->sock);
    if (self->cert.on && kp_wire_curve(self->sock, &self->cert, self->servers[self->current]))
        return KP_CLIENT_ESOCKET;
    if (s_watch(self) != 0 || zmq_connect(self->sock, self->endpoints[self->current]) != 0)
        return KP_CLIENT_ESOCKET;
    return 0;
}

//  A client not yet connected.
static kp_client_t *s_new(const char **endpoints, size_t count)
{
    if (!endpoints || count == 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (!endpoints[i] || !*endpoints[i])
            return NULL;
    kp_client_t *self = (kp_client_t *)calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoints = (char **)calloc(count, sizeof(char *));
    self->pending = kp_idmap_new(64);
    self->done_ids = (s_done_t *)calloc(S_DONE_MAX, sizeof(s_done_t));
    self->done_hashes = (uint64_t *)calloc(S_DONE_MAX, sizeof(uint64_t));
    self->ctx = zmq_ctx_new();
    self->latency = (kp_window_t **)calloc(count, sizeof(kp_window_t *));
    self->route = (size_t *)calloc(count, sizeof(size_t));
    if (!self->endpoints || !self->pending || !self->done_ids || !self->done_hashes || !self->ctx ||
        !self->latency || !self->route)
        goto fail;
    for (size_t i = 0; i < count; i++)
        self->route[i] = i;
    self->endpoint_count = count;
    for (size_t i = 0; i < count; i++)
        if (!(self->endpoints[i] = strdup(endpoints[i])) || !(self->latency[i] = kp_window_new()))
            goto fail;
    self->attempts = 3;
    self->next_check = INT64_MAX;
    self->heartbeat_ivl_ms = S_HEARTBEAT_IVL_MS;
    self->heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS;
    if (s_make_id(self->ping_id)) //  random too: our pings are nobody else's
        goto fail;
    memcpy(self->probe_id, self->ping_id, sizeof self->probe_id);
    strcat(self->probe_id, "-probe"); //  32 hex digits: room enough
    strcat(self->ping_id, "-ping");
    self->settle_ms = S_SETTLE_MS;
    self->probe_next = INT64_MAX;
    return self;
fail:
    kp_client_destroy(&self);
    return NULL;
}

kp_client_t *kp_client_new(const char **endpoints, size_t count)
{
    kp_client_t *self = s_new(endpoints, count);
    if (self && s_connect(self) != 0)
        kp_client_destroy(&self);
    return self;
}

kp_client_t *kp_client_new_secure(const char **endpoints, size_t count, const char *cert_file,
                                  const char *server_keys)
{
    //  No plain connection first: the first handshake is the CURVE one.
    kp_client_t *self = s_new(endpoints, count);
    if (self && kp_client_set_curve(self, cert_file, server_keys) != 0)
        kp_client_destroy(&self);
    return self;
}

kp_client_t *kp_client_new_list(const char *list)
{
    if (!list || !*list)
        return NULL;
    char *copy = strdup(list);
    if (!copy)
        return NULL;
    const char *parts[64];
    size_t count = 0;
    //  strsep, not strtok: an empty entry ("a,,b") is an error, not skipped.
    char *rest = copy;
    for (char *tok = strsep(&rest, ","); tok; tok = strsep(&rest, ",")) {
        while (*tok == ' ')
            tok++;
        if (count == sizeof parts / sizeof parts[0] || !*tok) {
            free(copy);
            return NULL;
        }
        parts[count++] = tok;
    }
    kp_client_t *self = kp_client_new(parts, count);
    free(copy);
    return self;
}

void kp_client_destroy(kp_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_client_t *self = *self_p;
    s_unwatch(self);
    if (self->sock)
        zmq_close(self->sock);
    if (self->hedge_sock)
        zmq_close(self->hedge_sock);
    if (self->probe_sock)
        zmq_close(self->probe_sock);
    if (self->drain_sock)
        zmq_close(self->drain_sock);
    free(self->route);
    if (self->latency)
        for (size_t i = 0; i < self->endpoint_count; i++)
            kp_window_destroy(&self->latency[i]);
    free(self->latency);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    if (self->endpoints)
        for (size_t i = 0; i < self->endpoint_count; i++)
            free(self->endpoints[i]);
    free(self->endpoints);
    free(self->servers);
    s_pending_free_chain(self->first);
    s_pending_free_chain(self->spare);
    kp_idmap_destroy(&self->pending);
    free(self->done_ids);
    free(self->done_hashes);
    while (self->ready_count) {
        Kp__Response *resp = s_ready_take(self, 0);
        kp__response__free_unpacked(resp, NULL);
    }
    free(self->ready);
    free(self);
    *self_p = NULL;
}

void kp_client_set_attempts(kp_client_t *self, unsigned attempts)
{
    assert(self);
    self->attempts = attempts ? attempts : 1;
    self->attempts_set = true;
}

void kp_client_set_attempt_timeout(kp_client_t *self, int timeout_ms)
{
    assert(self);
    self->attempt_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void kp_client_set_heartbeat(kp_client_t *self, int interval_ms, int timeout_ms)
{
    assert(self);
    self->heartbeat_ivl_ms = interval_ms > 0 ? interval_ms : 0;
    self->heartbeat_timeout_ms = timeout_ms > 0 ? timeout_ms : S_HEARTBEAT_TIMEOUT_MS;
    //  The socket takes them when it connects: connect again while idle.
    if (!self->first)
        s_connect(self);
}

void kp_client_set_hedging(kp_client_t *self, int min_ms, int max_ms)
{
    assert(self);
    self->hedge_min_ms = min_ms > 0 ? min_ms : 0;
    self->hedge_max_ms = max_ms > self->hedge_min_ms ? max_ms : self->hedge_min_ms;
}

void kp_client_set_max_frame(kp_client_t *self, size_t bytes)
{
    assert(self);
    self->max_frame = bytes;
    int64_t limit = bytes ? (int64_t)bytes : -1;
    zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &limit, sizeof limit);
}

size_t kp_client_pending(kp_client_t *self)
{
    assert(self);
    return kp_idmap_size(self->pending);
}

const char *kp_client_endpoint(kp_client_t *self)
{
    assert(self);
    return self->endpoints[self->current];
}

void kp_client_stats(kp_client_t *self, kp_client_stats_t *out)
{
    assert(self && out);
    *out = self->stats;
}

int kp_client_set_curve(kp_client_t *self, const char *cert_file, const char *server_keys)
{
    if (!self || !server_keys)
        return KP_CLIENT_EINVAL;
    kp_wire_cert_t cert;
    uint8_t(*servers)[32] = calloc(self->endpoint_count, 32);
    if (!servers)
        return KP_CLIENT_ENOMEM;
    //  One key for every endpoint, or one per endpoint in order.
    size_t count = strchr(server_keys, ',') ? self->endpoint_count : 1;
    const char *p = server_keys;
    int rc = kp_wire_cert_load(cert_file, &cert) ? KP_CLIENT_EINVAL : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        size_t len = strcspn(p, ",");
        if (kp_wire_z85(p, len, servers[i]) || (p[len] == ',') != (i + 1 < count))
            rc = KP_CLIENT_EINVAL;
        p += len + (p[len] == ',');
    }
    for (size_t i = count; rc == 0 && i < self->endpoint_count; i++)
        memcpy(servers[i], servers[0], 32);
    if (rc) {
        free(servers);
        return rc;
    }
    free(self->servers);
    self->servers = servers;
    self->cert = cert;
    return s_connect(self);
}

//  Remembers how p ended, then forgets p.
static void s_finish(kp_client_t *self, s_pending_t *p, s_how_t how)
{
    s_done_add(self, p->id, p->hash, how);
    if (p->unsent)
        self->unsent--;
    s_pending_remove(self, p);
    s_pending_free(self, p);
}

//  A response made by the client for a request nobody answered in time.
//  Packed and unpacked so that it is freed like any other response.
static Kp__Response *s_make_timeout(kp_client_t *self, s_pending_t *p)
{
    char detail[512];
    snprintf(detail, sizeof detail,
             "no node answered within %d ms (%u attempt%s, last endpoint %s)", p->timeout_ms,
             p->attempts, p->attempts == 1 ? "" : "s", self->endpoints[self->current]);
    Kp__Response resp = KP__RESPONSE__INIT;
    resp.request_id = p->id;
    resp.has_status = true;
    resp.status = KP__STATUS__TIMEOUT;
    resp.has_reason = true;
    resp.reason = KP__REASON__DEADLINE_EXCEEDED;
    resp.detail = detail;
    uint8_t buf[1024];
    size_t size = kp__response__get_packed_size(&resp);
    assert(size <= sizeof buf);
    kp__response__pack(&resp, buf);
    return kp__response__unpack(NULL, size, buf);
}

//  ---------------------------------------------------------------------
//  Availability: knowing that a node is gone, attempt timeouts, hedging.
//  (kp_client.h, "Failover", says what and why.)

//  ZMTP heartbeats: libzmq pings the node every interval and drops the
//  connection when nothing at all came back within the timeout, so that a
//  node that stopped (SIGSTOP, a cut cable) is known in a few hundred ms,
//  not at its request's deadline.
static void s_set_heartbeat(kp_client_t *self, void *sock)
{
    if (!self->heartbeat_ivl_ms)
        return;
    int ttl = S_HEARTBEAT_TTL_MS;
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &self->heartbeat_ivl_ms, sizeof(int));
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &self->heartbeat_timeout_ms, sizeof(int));
    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof ttl);
}

//  How long a new connection may take before the node is taken for down.
static int s_connect_ms(kp_client_t *self)
{
    return self->heartbeat_ivl_ms ? self->heartbeat_ivl_ms + self->heartbeat_timeout_ms
                                  : S_CONNECT_MS;
}

//  A monitor on sock, read over a PAIR: it says when the connection is up
//  (handshake done) and when it dropped. Without it a DEALER never tells.
static int s_watch(kp_client_t *self)
{
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://kp-client-%p-%u", (void *)self, ++self->monitors);
    if (zmq_socket_monitor(self->sock, endpoint,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_DISCONNECTED) != 0)
        return KP_CLIENT_ESOCKET;
    self->monitor = zmq_socket(self->ctx, ZMQ_PAIR);
    if (!self->monitor)
        return KP_CLIENT_ESOCKET;
    int zero = 0;
    zmq_setsockopt(self->monitor, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(self->monitor, endpoint) != 0)
        return KP_CLIENT_ESOCKET;
    self->connected = false;
    self->monitor_read = false;
    self->connect_by = zclock_mono() + s_connect_ms(self);
    self->ping_sent_ms = 0;
    return 0;
}

//  Stops the monitor before its socket goes: libzmq 4.3 left a socket
//  closed while still monitored, soon after its connect, with every later
//  monitor of the context silent (no event ever came; seen when a client
//  moved to its own site at once, kp_client_set_site).
static void s_unwatch(kp_client_t *self)
{
    if (self->monitor && self->sock)
        zmq_socket_monitor(self->sock, NULL, 0);
    if (self->monitor)
        zmq_close(self->monitor);
    self->monitor = NULL;
}

//  Reads the monitor's events: a dropped connection sends every unanswered
//  request to the next node now (their answers would go to the old one).
static void s_read_events(kp_client_t *self)
{
    while (true) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            self->monitor_read = true;
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&msg) >= sizeof event)
            memcpy(&event, zmq_msg_data(&msg), sizeof event);
        while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, self->monitor, 0) >= 0)
            ; //  the endpoint frame
        zmq_msg_close(&msg);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->connected = true;
        else if (event == ZMQ_EVENT_CONNECTED && !self->connected) {
            int64_t by = zclock_mono() + S_HANDSHAKE_MS;
            if (by > self->connect_by)
                self->connect_by = by;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            self->connected = false;
            self->connect_by = zclock_mono() + s_connect_ms(self);
            self->stats.disconnects++;
            if (self->first)
                self->move_on = true;
        }
    }
}

//  True when requests wait for a connection to a node that does not come
//  up (a dead node after a failover): time to try the next one.
static bool s_connect_overdue(kp_client_t *self, int64_t now)
{
    return !self->connected && self->endpoint_count > 1 && self->unsent && now >= self->connect_by;
}

//  By then a live node has answered: the request's deadline_ms (which the
//  node keeps) and a margin, or the caller's timeout when it has none.
static int s_ceiling_ms(const s_pending_t *p)
{
    int64_t ms = p->node_deadline_ms ? (int64_t)p->node_deadline_ms + S_ATTEMPT_MARGIN_MS
                                     : (int64_t)p->timeout_ms;
    return ms < p->timeout_ms ? (int)ms : p->timeout_ms;
}

//  The node's recent p99 in ms, or -1 while too few answers are known.
static int64_t s_node_p99_ms(kp_client_t *self, size_t endpoint)
{
    kp_window_t *window = self->latency[endpoint];
    if (kp_window_count(window) < S_LATENCY_SAMPLES)
        return -1;
    return ((int64_t)kp_window_p99(window) + 999) / 1000;
}

//  How long one attempt waits on the current node before the node is
//  suspected: set by the caller, or S_ATTEMPT_P99S times the node's
//  recent p99 (at least S_ATTEMPT_FLOOR_MS), never past the ceiling.
static int s_attempt_ms(kp_client_t *self, const s_pending_t *p)
{
    int64_t ms;
    if (self->attempt_timeout_ms)
        ms = self->attempt_timeout_ms;
    else if (self->attempts_set)
        ms = p->timeout_ms / self->attempts;
    else {
        int64_t p99 = s_node_p99_ms(self, self->current);
        ms = s_ceiling_ms(p);
        if (p99 >= 0 && S_ATTEMPT_P99S * p99 + S_ATTEMPT_FLOOR_MS < ms)
            ms = S_ATTEMPT_P99S * p99 + S_ATTEMPT_FLOOR_MS;
    }
    return ms < 1 ? 1 : (int)ms;
}

//  After the node's p99 (bounded), a request may go to a second node.
static int64_t s_hedge_at(kp_client_t *self, int64_t now)
{
    if (!self->hedge_min_ms || self->endpoint_count < 2)
        return INT64_MAX;
    int64_t ms = s_node_p99_ms(self, self->current);
    if (ms < 0 || ms > self->hedge_max_ms)
        ms = self->hedge_max_ms;
    return now + (ms < self->hedge_min_ms ? self->hedge_min_ms : ms);
}

//  p (re)starts an attempt on the current node now.
static void s_attempt_started(kp_client_t *self, s_pending_t *p, int64_t now)
{
    p->sent_ms = now;
    p->attempt_deadline = now + s_attempt_ms(self, p);
    p->hedge_at = s_hedge_at(self, now);
    p->hedged = p->extended = p->pinged = false;
}

//  How long a pong may take: the node's loop answers it at once.
static int s_ping_ms(kp_client_t *self)
{
    int64_t p99 = s_node_p99_ms(self, self->current);
    return 4 * p99 > S_PING_MIN_MS ? (int)(4 * p99) : S_PING_MIN_MS;
}

//  Asks the node's loop whether it turns (kruispunt.proto, Request.ping):
//  ZMTP heartbeats are answered by libzmq's I/O thread even when it does
//  not. One ping at a time per node; a node that answers nothing at all
//  counts as silent either way.
static void s_ping(kp_client_t *self, int64_t now)
{
    if (self->ping_sent_ms && now - self->ping_sent_ms < s_ping_ms(self))
        return;
    Kp__Request ping = KP__REQUEST__INIT;
    ping.request_id = self->ping_id;
    ping.has_ping = ping.ping = true;
    uint8_t frame[KP_CLIENT_ID_MAX + 16];
    size_t size = kp__request__pack(&ping, frame);
    if (zmq_send(self->sock, frame, size, ZMQ_DONTWAIT) >= 0) {
        self->ping_sent_ms = now;
        self->stats.pings++;
    }
}

//  p's attempt ran out. A node heard from since p left is alive (busy, or
//  p is slow at its provider): p gets until its ceiling there, once. A node
//  silent since p left is pinged; still silent when the pong is due, it is
//  taken for lost: true. Attempts set by the caller end as they always did.
static bool s_attempt_over(kp_client_t *self, s_pending_t *p, int64_t now)
{
    if (self->attempt_timeout_ms || self->attempts_set || p->extended)
        return true;
    if (self->last_heard <= p->sent_ms) { //  nothing since p left
        if (p->pinged)
            return true;
        s_ping(self, now);
        p->pinged = true;
        p->attempt_deadline = now + s_ping_ms(self);
        return false;
    }
    int64_t end = p->sent_ms + s_ceiling_ms(p);
    if (end <= now)
        return true;
    p->extended = true;
    p->attempt_deadline = end;
    return false;
}

static void s_close_hedge(kp_client_t *self)
{
    if (self->hedge_sock)
        zmq_close(self->hedge_sock);
    self->hedge_sock = NULL;
}

//  A second connection, to the endpoint after the current one.
static void *s_hedge_sock(kp_client_t *self)
{
    if (self->hedge_sock)
        return self->hedge_sock;
    void *sock = kp_wire_dealer(self->ctx, self->max_frame);
    if (!sock)
        return NULL;
    int zero = 0, one = 1;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    s_set_heartbeat(self, sock);
    size_t next = self->route[(self->pos + 1) % self->endpoint_count];
    if ((self->cert.on && kp_wire_curve(sock, &self->cert, self->servers[next])) ||
        zmq_connect(sock, self->endpoints[next]) != 0) {
        zmq_close(sock);
        return NULL;
    }
    return self->hedge_sock = sock;
}

//  Sends p to the second node too (same id: each node answers it once, and
//  the caller gets the first answer). Not connected yet: tries again soon.
static void s_hedge(kp_client_t *self, s_pending_t *p, int64_t now)
{
    p->hedge_at = INT64_MAX;
    if (p->hedged || p->unsent)
        return;
    void *sock = s_hedge_sock(self);
    if (sock && zmq_send(sock, p->frame, p->size, ZMQ_DONTWAIT) >= 0) {
        p->hedged = true;
        self->stats.hedges++;
    } else
        p->hedge_at = now + self->hedge_min_ms;
}

//  Where a frame came from.
typedef enum { S_FROM_CURRENT, S_FROM_HEDGE, S_FROM_DRAIN } s_from_t;

//  p is answered: by the current node (its time feeds the node's p99),
//  first by the hedge node, or by the node left in a fail-back.
static void s_answered(kp_client_t *self, s_pending_t *p, s_from_t from, int64_t now)
{
    if (from == S_FROM_HEDGE)
        self->stats.hedge_wins++;
    if (from != S_FROM_CURRENT)
        return;
    self->home_moves = 0; //  a node that answers: its site's others may be tried again
    int64_t us = (now - p->sent_ms) * 1000;
    kp_window_add(self->latency[self->current], us < 0 ? 0 : (uint32_t)us);
}

//  The earliest time a timer can fire: a deadline, an attempt's end, a
//  hedge, or a connection that does not come up.
static void s_next_check(kp_client_t *self)
{
    int64_t next = INT64_MAX;
    for (s_pending_t *p = self->first; p; p = p->next) {
        int64_t when = p->attempt_deadline < p->deadline ? p->attempt_deadline : p->deadline;
        if (p->hedge_at < when)
            when = p->hedge_at;
        if (when < next)
            next = when;
    }
    if (!self->connected && self->unsent && self->connect_by < next)
        next = self->connect_by;
    if (self->probe_next < next)
        next = self->probe_next;
    self->next_check = next;
}

//  Hands p's frame to ZeroMQ at now; with no connection up yet
//  (ZMQ_IMMEDIATE) p is marked unsent and goes out when the socket
//  becomes writable.
static int s_send_frame(kp_client_t *self, s_pending_t *p, int64_t now)
{
    while (zmq_send(self->sock, p->frame, p->size, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN) {
            if (!p->unsent)
                self->unsent++;
            p->unsent = true;
            return 0;
        }
        if (errno != EINTR)
            return KP_CLIENT_ESOCKET;
    }
    if (p->unsent)
        self->unsent--;
    p->unsent = false;
    s_attempt_started(self, p, now);
    return 0;
}

//  Sends what waited for a connection, while ZeroMQ takes it.
static int s_flush(kp_client_t *self)
{
    int64_t now = zclock_mono();
    for (s_pending_t *p = self->first; p && self->unsent; p = p->next) {
        if (!p->unsent)
            continue;
        int rc = s_send_frame(self, p, now);
        if (rc || p->unsent)
            return rc;
    }
    return 0;
}

//  Switches to the next endpoint and resends everything unanswered there.
static void s_probe_plan(kp_client_t *self, int64_t now);

static int s_failover(kp_client_t *self, int64_t now)
{
    //  At home: the next node of the own site, until each was left in
    //  turn without an answer; then the other sites, in order.
    if (self->pos < self->own && ++self->home_moves < self->own)
        self->pos = (self->pos + 1) % self->own;
    else {
        self->pos = self->pos < self->own ? self->own : self->pos + 1;
        self->pos %= self->endpoint_count;
        self->home_moves = 0;
    }
    self->current = self->route[self->pos];
    self->stats.failovers++;
    s_probe_plan(self, now);
    s_close_hedge(self); //  its node may be the new current one
    int rc = s_connect(self);
    if (rc)
        return rc;
    self->unsent = 0;
    //  In the order first sent, so that a node sees them as it would have.
    for (s_pending_t *p = self->first; p; p = p->next) {
        p->attempts++;
        p->unsent = p->draining = false;
        s_attempt_started(self, p, now);
        if ((rc = s_send_frame(self, p, now)) != 0)
            return rc;
        self->stats.resent++;
    }
    s_next_check(self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Site preference: probes of the own site while away, and the fail-back.
//  (kp_client.h, kp_client_set_site, says what and why.)

static bool s_away(const kp_client_t *self)
{
    return self->own && self->pos >= self->own;
}

static void s_close_probe(kp_client_t *self)
{
    if (self->probe_sock)
        zmq_close(self->probe_sock);
    self->probe_sock = NULL;
    self->probe_ok_since = 0;
}

//  After a move: probes start while the client is away from its site, and
//  stop when it is back.
static void s_probe_plan(kp_client_t *self, int64_t now)
{
    if (s_away(self) && self->settle_ms) {
        if (self->probe_next == INT64_MAX)
            self->probe_next = now + S_PROBE_MS;
        return;
    }
    s_close_probe(self);
    self->probe_next = INT64_MAX;
}

//  A connection to the own-site endpoint route[probe_pos].
static int s_probe_open(kp_client_t *self, int64_t now)
{
    size_t endpoint = self->route[self->probe_pos];
    void *sock = kp_wire_dealer(self->ctx, self->max_frame);
    if (!sock)
        return KP_CLIENT_ESOCKET;
    int one = 1;
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    s_set_heartbeat(self, sock);
    if ((self->cert.on && kp_wire_curve(sock, &self->cert, self->servers[endpoint])) ||
        zmq_connect(sock, self->endpoints[endpoint]) != 0) {
        zmq_close(sock);
        return KP_CLIENT_ESOCKET;
    }
    self->probe_sock = sock;
    self->probe_created = now;
    self->probe_ok_since = 0;
    return 0;
}

//  Every S_PROBE_MS while away: a ping to an own-site node. One that stays
//  silent for the settle time gives way to the next own-site endpoint.
static int s_probe(kp_client_t *self, int64_t now)
{
    self->probe_next = now + S_PROBE_MS;
    if (self->probe_sock && !self->probe_ok_since && now - self->probe_created >= self->settle_ms &&
        self->own > 1) {
        s_close_probe(self);
        self->probe_pos = (self->probe_pos + 1) % self->own;
    }
    if (!self->probe_sock && s_probe_open(self, now) != 0)
        return KP_CLIENT_ESOCKET;
    Kp__Request ping = KP__REQUEST__INIT;
    ping.request_id = self->probe_id;
    ping.has_ping = ping.ping = true;
    uint8_t frame[KP_CLIENT_ID_MAX + 16];
    size_t size = kp__request__pack(&ping, frame);
    zmq_send(self->probe_sock, frame, size, ZMQ_DONTWAIT); //  not up yet: next time
    return 0;
}

//  Back to the own site's node route[pos]: requests already sent stay
//  with the node left (drain_sock) until answered or their attempt ends,
//  so that none is routed twice for the move; new ones go to pos.
static int s_failback(kp_client_t *self, size_t pos, int64_t now)
{
    s_close_probe(self);
    s_close_hedge(self);
    s_unwatch(self);
    self->drain_sock = self->sock;
    self->sock = NULL;
    self->pos = pos;
    self->current = self->route[pos];
    self->stats.failbacks++;
    for (s_pending_t *p = self->first; p; p = p->next)
        p->draining = !p->unsent;
    s_probe_plan(self, now);
    int rc = s_connect(self);
    s_next_check(self);
    return rc;
}

//  The client's code for what kp_wire_recv found: 0, or why reading ends.
static int s_recv_rc(kp_wire_recv_t got)
{
    return got == KP_WIRE_EINTR ? KP_CLIENT_EINTR : got == KP_WIRE_ESOCKET ? KP_CLIENT_ESOCKET : 0;
}

//  Reads the probes' answers: a node that answered every probe OK for the
//  settle time (not one NO_QUORUM, LOG_UNAVAILABLE, SHUTTING_DOWN, which a
//  node's pong carries when it would refuse requests) is taken back.
static int s_probe_answers(kp_client_t *self)
{
    int64_t now = zclock_mono();
    while (self->probe_sock) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        kp_wire_recv_t got = kp_wire_recv(self->probe_sock, &msg);
        Kp__Response *pong = got == KP_WIRE_FRAME ? kp__response__unpack(NULL, zmq_msg_size(&msg),
                                                                         zmq_msg_data(&msg))
                                                  : NULL;
        zmq_msg_close(&msg);
        if (got == KP_WIRE_EMPTY || s_recv_rc(got))
            return s_recv_rc(got);
        bool ours = pong && pong->request_id && !strcmp(pong->request_id, self->probe_id);
        bool ok = ours && (!pong->has_status || pong->status == KP__STATUS__OK);
        if (pong)
            kp__response__free_unpacked(pong, NULL);
        if (!ours) {
            self->stats.malformed++;
            continue;
        }
        if (!ok)
            self->probe_ok_since = 0;
        else if (!self->probe_ok_since)
            self->probe_ok_since = now;
        else if (now - self->probe_ok_since >= self->settle_ms && !self->drain_sock)
            return s_failback(self, self->probe_pos, now);
    }
    return 0;
}

//  A request left on the node of before a fail-back whose attempt ran out
//  there goes to the current node.
static int s_undrain(kp_client_t *self, s_pending_t *p, int64_t now)
{
    p->draining = false;
    p->attempts++;
    self->stats.resent++;
    s_attempt_started(self, p, now);
    return s_send_frame(self, p, now);
}

//  The node left by a fail-back is closed once nothing waits on it.
static void s_drain_done(kp_client_t *self)
{
    if (!self->drain_sock)
        return;
    for (s_pending_t *p = self->first; p; p = p->next)
        if (p->draining)
            return;
    zmq_close(self->drain_sock);
    self->drain_sock = NULL;
}

int kp_client_set_site(kp_client_t *self, const char *site, const char **sites)
{
    if (!self || !site || !*site || !sites)
        return KP_CLIENT_EINVAL;
    for (size_t i = 0; i < self->endpoint_count; i++)
        if (!sites[i])
            return KP_CLIENT_EINVAL;
    //  Stable: the own site's endpoints in the caller's order, then the rest.
    size_t n = 0;
    for (int mine = 1; mine >= 0; mine--)
        for (size_t i = 0; i < self->endpoint_count; i++)
            if ((strcmp(sites[i], site) == 0) == mine)
                self->route[n++] = i;
    self->own = 0;
    while (self->own < n && strcmp(sites[self->route[self->own]], site) == 0)
        self->own++;
    size_t pos = 0;
    while (self->route[pos] != self->current)
        pos++;
    self->pos = pos;
    int64_t now = zclock_mono();
    if (s_away(self) && !self->first) {
        //  Nothing in flight: start on the own site at once.
        self->pos = 0;
        self->current = self->route[0];
        s_close_hedge(self);
        int rc = s_connect(self);
        if (rc)
            return rc;
    }
    s_probe_plan(self, now);
    s_next_check(self);
    return 0;
}

void kp_client_set_failback(kp_client_t *self, int settle_ms)
{
    assert(self);
    self->settle_ms = settle_ms > 0 ? settle_ms : 0;
    s_probe_plan(self, zclock_mono());
    s_next_check(self);
}

//  Gives up on requests past their overall deadline, fails over when an
//  attempt ran out, and works out when to look again; now is fresh.
static int s_check_timers(kp_client_t *self, int64_t now)
{
    if (now < self->next_check)
        return 0;
    bool attempt_over = s_connect_overdue(self, now);
    int rc = 0;
    //  In the order sent; those past their deadline are given up on after
    //  the walk (s_finish takes them out of the list).
    bool expired = false;
    for (s_pending_t *p = self->first; p && !rc; p = p->next) {
        if (now >= p->deadline)
            expired = true;
        else if (now >= p->attempt_deadline && p->draining)
            rc = s_undrain(self, p, now);
        else if (now >= p->attempt_deadline)
            attempt_over |= s_attempt_over(self, p, now);
        else if (now >= p->hedge_at)
            s_hedge(self, p, now);
    }
    for (s_pending_t *p = self->first, *next; expired && p; p = next) {
        next = p->next;
        if (now < p->deadline)
            continue;
        Kp__Response *resp = s_make_timeout(self, p);
        if (resp)
            s_ready_add(self, resp);
        self->stats.timeouts++;
        s_finish(self, p, S_DONE_GAVE_UP);
    }
    s_drain_done(self);
    if (!rc && attempt_over)
        rc = s_failover(self, now);
    if (!rc && now >= self->probe_next)
        rc = s_probe(self, now);
    s_next_check(self);
    return rc;
}

//  A node that is stopping answers new requests UNAVAILABLE/SHUTTING_DOWN,
//  one cut off from its cluster's majority past its stale-limit
//  UNAVAILABLE/NO_QUORUM, one whose log cannot write LOG_UNAVAILABLE: such
//  a request goes to the next endpoint at once instead of waiting for its
//  attempt to time out, unless every other endpoint has said so too (then
//  the caller gets that answer; nothing else can do better).
static bool s_moves_on(kp_client_t *self, s_pending_t *p, const Kp__Response *resp)
{
    if (resp->status != KP__STATUS__UNAVAILABLE ||
        (resp->reason != KP__REASON__SHUTTING_DOWN && resp->reason != KP__REASON__NO_QUORUM &&
         resp->reason != KP__REASON__LOG_UNAVAILABLE))
        return false;
    if (self->endpoint_count < 2 || p->redirects + 1 >= self->endpoint_count)
        return false;
    p->redirects++;
    self->stats.redirects++;
    self->move_on = true;
    return true;
}

//  Handles one frame from the node (from the hedge node when hedged);
//  never fails on what the node sent.
static void s_handle_frame(kp_client_t *self, zmq_msg_t *msg, s_from_t from, int64_t now)
{
    Kp__Response *resp = kp__response__unpack(NULL, zmq_msg_size(msg), zmq_msg_data(msg));
    if (!resp || !resp->request_id) {
        self->stats.malformed += resp == NULL;
        self->stats.unknown += resp != NULL;
        if (resp)
            kp__response__free_unpacked(resp, NULL);
        return;
    }
    if (strcmp(resp->request_id, self->ping_id) == 0) {
        kp__response__free_unpacked(resp, NULL); //  a pong: the node lives
        return;
    }
    s_pending_t *p = s_pending_find(self, resp->request_id);
    if (p && s_moves_on(self, p, resp)) {
        kp__response__free_unpacked(resp, NULL);
        return;
    }
    if (p) {
        s_answered(self, p, from, now);
        s_finish(self, p, S_DONE_ANSWERED);
        s_ready_add(self, resp);
        self->stats.answered++;
        return;
    }
    s_how_t how = s_done_find(self, resp->request_id);
    if (how == S_DONE_ANSWERED)
        self->stats.duplicates++; //  a second copy: the caller had the first
    else if (how == S_DONE_GAVE_UP)
        self->stats.late++;
    else
        self->stats.unknown++;
    kp__response__free_unpacked(resp, NULL);
}

//  Reads the frames waiting on sock (the node's, the hedge node's or the
//  one left in a fail-back) without blocking, at now: every one, or with
//  one, up to the first that yields an answer to hand out (so that each
//  answer is decoded just before the caller takes it, while malloc's
//  cache still holds the memory of the one before, and the look that
//  finds the socket empty, a getpid and a poll in libzmq, comes once per
//  batch). *heard tells whether there was a frame.
static int s_drain(kp_client_t *self, void *sock, int64_t now, bool one, bool *heard)
{
    s_from_t from = sock == self->hedge_sock   ? S_FROM_HEDGE
                    : sock == self->drain_sock ? S_FROM_DRAIN
                                               : S_FROM_CURRENT;
    size_t ready = self->ready_count;
    *heard = false;
    while (!one || self->ready_count == ready) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        kp_wire_recv_t got = kp_wire_recv(sock, &msg);
        *heard |= got != KP_WIRE_EMPTY;
        if (got != KP_WIRE_EMPTY && from == S_FROM_CURRENT)
            self->last_heard = now;
        if (got == KP_WIRE_FRAME)
            s_handle_frame(self, &msg, from, now);
        else if (got == KP_WIRE_MULTIPART)
            self->stats.malformed++; //  a response is one frame
        zmq_msg_close(&msg);
        if (got == KP_WIRE_EMPTY || s_recv_rc(got))
            return s_recv_rc(got);
    }
    return 0;
}

//  After input: a node that said SHUTTING_DOWN is left, then the timers.
static int s_after_input(kp_client_t *self, int64_t now)
{
    if (self->move_on) {
        self->move_on = false;
        int rc = s_failover(self, now);
        if (rc)
            return rc;
    }
    return s_check_timers(self, now);
}

//  s_pump's wait when the node's socket was just read to its end and the
//  monitor is the only other socket: a poll(2) on their ZMQ_FDs, one
//  system call where zmq_poll makes ten (it looks at every socket's
//  events, a getpid and a poll each, before and after its wait). A
//  ZMQ_FD is edge-triggered: it wakes a waiter for what comes after the
//  socket's last look that found nothing, which s_drain just made for
//  the node's socket and s_read_events or the last zmq_poll for the
//  monitor (a new one is read before its first wait: monitor_read).
static int s_wait(kp_client_t *self, int64_t wait_ms)
{
    struct pollfd fds[2] = {{-1, POLLIN, 0}, {-1, POLLIN, 0}};
    size_t size = sizeof fds[0].fd;
    if (zmq_getsockopt(self->sock, ZMQ_FD, &fds[0].fd, &size) != 0 ||
        zmq_getsockopt(self->monitor, ZMQ_FD, &fds[1].fd, &(size_t){sizeof fds[1].fd}) != 0)
        return KP_CLIENT_ESOCKET;
    if (poll(fds, 2, (int)wait_ms) < 0)
        return errno == EINTR ? KP_CLIENT_EINTR : KP_CLIENT_ESOCKET;
    int64_t now = self->polled_ms = zclock_mono();
    if (fds[1].revents)
        s_read_events(self);
    bool heard;
    int rc = s_drain(self, self->sock, now, true, &heard);
    return rc ? rc : s_after_input(self, now);
}

//  Waits at most wait_ms (< 0: until a timer) for input, then handles it
//  (the node's socket up to the next answer to hand out) and the timers.
//  When every socket was polled within S_POLL_MS, frames already waiting
//  on the node's socket are read without a poll, and a look (wait_ms 0)
//  at a socket with nothing waiting polls nothing: a zmq_poll costs a
//  poll, and for each ZeroMQ socket a getpid and a poll of its command
//  mailbox, two polls when it waits, more system calls than the rest of a
//  request's work in the stub. Under load the other sockets (monitor,
//  hedge, drain, probe) thus wait at most S_POLL_MS for their turn.
static int s_pump(kp_client_t *self, int64_t wait_ms)
{
    int64_t now = zclock_mono();
    bool quiet = false; //  the node's socket was just read to its end
    if (!self->unsent && now - self->polled_ms < S_POLL_MS) {
        bool heard;
        int rc = s_drain(self, self->sock, now, true, &heard);
        if (rc)
            return rc;
        if (heard || wait_ms == 0)
            return s_after_input(self, now);
        quiet = true;
    }
    if (self->next_check != INT64_MAX) {
        int64_t until_timer = self->next_check > now ? self->next_check - now : 0;
        if (wait_ms < 0 || until_timer < wait_ms)
            wait_ms = until_timer;
    }
    if (wait_ms > INT32_MAX)
        wait_ms = INT32_MAX;
    if (quiet && self->monitor && self->monitor_read && !self->hedge_sock && !self->drain_sock &&
        !self->probe_sock)
        return s_wait(self, wait_ms);
    short events = ZMQ_POLLIN | (self->unsent ? ZMQ_POLLOUT : 0);
    zmq_pollitem_t items[5] = {{self->sock, 0, events, 0}};
    int count = 1;
    void *others[] = {self->monitor, self->hedge_sock, self->drain_sock, self->probe_sock};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (others[i])
            items[count++] = (zmq_pollitem_t){others[i], 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(items, count, (long)wait_ms);
    if (rc < 0)
        return errno == EINTR ? KP_CLIENT_EINTR : KP_CLIENT_ESOCKET;
    self->polled_ms = now = zclock_mono();
    self->monitor_read = true; //  ZMQ_EVENTS left it so, or it is read below
    rc = 0;
    bool heard;
    for (int i = 1; i < count && !rc; i++) {
        if (!(items[i].revents & ZMQ_POLLIN))
            continue;
        if (items[i].socket == self->monitor)
            s_read_events(self);
        else if (items[i].socket == self->probe_sock)
            rc = s_probe_answers(self); //  may fail back: sock is another
        else
            rc = s_drain(self, items[i].socket, now, false, &heard);
    }
    if (rc)
        return rc;
    if (items[0].socket != self->sock)
        return s_check_timers(self, now); //  failed back: the old sock is drained next turn
    if ((items[0].revents & ZMQ_POLLOUT) && (rc = s_flush(self)) != 0)
        return rc;
    if ((items[0].revents & ZMQ_POLLIN) && (rc = s_drain(self, self->sock, now, true, &heard)) != 0)
        return rc;
    return s_after_input(self, now);
}

static int s_encode(kp_client_t *self, const Kp__Request *req, s_pending_t *p)
{
    Kp__Request copy = *req;
    copy.request_id = p->id;
    p->size = kp__request__get_packed_size(&copy);
    if (self->max_frame && p->size > self->max_frame)
        return KP_CLIENT_ETOOLARGE;
    if (p->size > p->frame_room || !p->frame) { //  a spare's buffer is reused
        free(p->frame);
        p->frame_room = p->size ? p->size : 1;
        p->frame = (uint8_t *)malloc(p->frame_room);
        if (!p->frame) {
            p->frame_room = 0;
            return KP_CLIENT_ENOMEM;
        }
    }
    kp__request__pack(&copy, p->frame);
    return 0;
}

int kp_client_send(kp_client_t *self, const Kp__Request *req, int timeout_ms,
                   char id_out[KP_CLIENT_ID_MAX])
{
    if (!self || !req || timeout_ms <= 0)
        return KP_CLIENT_EINVAL;
    bool ours = !req->request_id || !*req->request_id;
    size_t id_len = ours ? 0 : strlen(req->request_id);
    if (id_len >= KP_CLIENT_ID_MAX)
        return KP_CLIENT_EINVAL;
    uint64_t hash = ours ? 0 : kp_idmap_hash_bytes(req->request_id, id_len);
    if (!ours && kp_idmap_get(self->pending, hash, req->request_id, s_pending_match))
        return KP_CLIENT_EDUPLICATE;
    s_pending_t *p = s_pending_new(self);
    if (!p)
        return KP_CLIENT_ENOMEM;
    p->ours = ours;
    if (ours && s_make_id(p->id)) {
        s_pending_free(self, p);
        return KP_CLIENT_ESOCKET;
    }
    if (!ours)
        memcpy(p->id, req->request_id, id_len + 1);
    p->hash = ours ? kp_idmap_hash_str(p->id) : hash;
    int rc = s_encode(self, req, p);
    if (rc) {
        s_pending_free(self, p);
        return rc;
    }
    int64_t now = zclock_mono();
    p->timeout_ms = timeout_ms;
    p->node_deadline_ms = req->has_deadline_ms ? req->deadline_ms : 0;
    p->attempts = 1;
    p->deadline = now + timeout_ms;
    s_attempt_started(self, p, now);
    if ((rc = s_pending_add(self, p)) != 0) {
        s_pending_free(self, p);
        return rc;
    }
    if ((rc = s_send_frame(self, p, now)) != 0) {
        s_pending_remove(self, p);
        s_pending_free(self, p);
        return rc;
    }
    if (p->attempt_deadline < self->next_check)
        self->next_check = p->attempt_deadline;
    if (p->hedge_at < self->next_check)
        self->next_check = p->hedge_at;
    if (p->unsent && !self->connected && self->connect_by < self->next_check)
        self->next_check = self->connect_by; //  the node may never come up
    if (id_out)
        memcpy(id_out, p->id, strlen(p->id) + 1);
    self->stats.sent++;
    return 0;
}

int kp_client_recv(kp_client_t *self, int timeout_ms, Kp__Response **resp_out)
{
    if (resp_out)
        *resp_out = NULL;
    if (!self || !resp_out)
        return KP_CLIENT_EINVAL;
    if (timeout_ms == 0 && !self->ready_count) { //  a look: no clock needed
        if (!self->first)
            return KP_CLIENT_EIDLE;
        int rc = s_pump(self, 0);
        if (rc)
            return rc;
        if (!self->ready_count)
            return KP_CLIENT_ETIMEDOUT;
    }
    int64_t end = INT64_MAX; //  read from the clock when there is no answer yet
    while (true) {
        if (self->ready_count) {
            *resp_out = s_ready_take(self, 0);
            return 0;
        }
        if (!self->first)
            return KP_CLIENT_EIDLE;
        int64_t wait_ms = -1;
        if (timeout_ms >= 0) {
            int64_t now = zclock_mono();
            if (end == INT64_MAX)
                end = now + timeout_ms;
            else if (now >= end)
                return KP_CLIENT_ETIMEDOUT;
            wait_ms = end - now;
        }
        int rc = s_pump(self, wait_ms);
        if (rc)
            return rc;
    }
}

//  Takes the response to id out of the ready list, if it is there.
static Kp__Response *s_take_ready(kp_client_t *self, const char *id)
{
    for (size_t i = 0; i < self->ready_count; i++) {
        Kp__Response *resp = self->ready[(self->ready_head + i) & (self->ready_room - 1)];
        if (strcmp(resp->request_id, id) == 0)
            return s_ready_take(self, i);
    }
    return NULL;
}

int kp_client_call(kp_client_t *self, const Kp__Request *req, int timeout_ms,
                   Kp__Response **resp_out)
{
    if (resp_out)
        *resp_out = NULL;
    if (!self || !req || !resp_out || timeout_ms <= 0)
        return KP_CLIENT_EINVAL;
    char id[KP_CLIENT_ID_MAX];
    int rc = kp_client_send(self, req, timeout_ms, id);
    if (rc)
        return rc;
    //  The request's own deadline ends this loop: it yields a TIMEOUT.
    while (!(*resp_out = s_take_ready(self, id))) {
        if ((rc = s_pump(self, -1)) != 0)
            return rc;
    }
    return 0;
}

void kp_client_response_destroy(Kp__Response **resp_p)
{
    if (resp_p && *resp_p) {
        kp__response__free_unpacked(*resp_p, NULL);
        *resp_p = NULL;
    }
}

const char *kp_client_status_name(Kp__Status status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&kp__status__descriptor, (int)status);
    return v ? v->name : "?";
}

const char *kp_client_reason_name(Kp__Reason reason)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&kp__reason__descriptor, (int)reason);
    return v ? v->name : "?";
}

const char *kp_client_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case KP_CLIENT_EINVAL:
        return "invalid argument";
    case KP_CLIENT_EDUPLICATE:
        return "a request with this id is already in flight";
    case KP_CLIENT_ETOOLARGE:
        return "request larger than the maximum frame size";
    case KP_CLIENT_ESOCKET:
        return "ZeroMQ socket error";
    case KP_CLIENT_ETIMEDOUT:
        return "nothing arrived in time";
    case KP_CLIENT_EIDLE:
        return "no request in flight";
    case KP_CLIENT_EINTR:
        return "interrupted by a signal";
    case KP_CLIENT_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
