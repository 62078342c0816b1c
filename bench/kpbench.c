/*  kpbench - load generator and report for Kruispunt.

    Each client thread sends through its own libkpclient stub (kp_client,
    pipelined: many requests in flight, answers in any order), the one
    institutions use, so that availability under --chaos is what their
    applications see: the stub's failover, retries and timeouts included.
    --direct speaks the client protocol on a bare DEALER connected to
    every node instead (the comparisons' proxy always does). See --help.
*/
#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "control.h"
#include "histogram.h"
#include "kp_client.h"
#include "local.h"
#include "nats.h"
#include "proc.h"
#include "proxy.h"
#include "report.h"
#include "schedule.h"
#include "workload.h"

#define S_MAX_CLIENTS 1024
#define S_MAX_ENDPOINTS 16
#define S_GAP_BIN_MS 10
#define S_MAX_PIDS 40 //  per role: 8 nodes, or 32 providers / workers
//  Roles played by child processes; the load generator is kpbench itself.
#define S_CHILD_ROLES KP_CPU_LOADGEN

typedef enum { S_TARGET_KRUISPUNT, S_TARGET_ZMQ, S_TARGET_NATS } s_target_t;

typedef struct {
    unsigned clients, inflight, nodes, providers;
    double rate, duration, warmup, drain, timeout;
    uint64_t count, persons;
    size_t size;
    kp_mix_t mix;
    const char *mix_text;
    const char *cluster_file, *json_path, *svg_path, *chaos;
    unsigned deadline_ms, retry_ms;
    kp_arrivals_t arrivals;
    uint64_t seed; //  of the request kinds and the Poisson arrival times
    bool local, compare, log_compare, keep, quiet, insecure, two_sites, independent;
    int wan_delay_ms;         //  < 0: none (members linked directly)
    unsigned segment_mib;     //  --log-segment-mib; 0: the node's default
    bool direct;              //  a bare DEALER to every node, not the stub
    unsigned hedge_ms;        //  the stub's hedging (min; 0: off)
    const char *service_time; //  each echo answer takes this (kpctl provider --service-time)
} s_options_t;

//  One chaos rule: kill (or stop) node every every_s, restart (or
//  resume) it after after_s; or every node of a site at once.
typedef struct {
    char node[32]; //  "any": each node that serves clients in turn; with site, the site
    double every_s, after_s;
    bool stop; //  SIGSTOP / SIGCONT instead of SIGKILL / start
    bool site; //  "kill site NAME ...": all of the site's nodes together
} s_chaos_t;

//  The child processes whose CPU time a run reports, per role. A role
//  without pids is unknown (a remote cluster's nodes, the NATS responder
//  that is a thread of ours). Position i is one process over the run: a
//  restarted node keeps its node's position with a new pid (0 while down).
typedef struct {
    size_t count[S_CHILD_ROLES];
    pid_t pid[S_CHILD_ROLES][S_MAX_PIDS];
} s_pids_t;

//  What all client threads of one run share.
typedef struct {
    const s_options_t *opts;
    s_target_t target;
    const char *name; //  of the result and the progress line
    void *zctx;
    bool curve;                          //  CURVE with cert to the nodes' key server
    char cert_path[512], server_z85[41]; //  the same, for the stub
    uint8_t cert_public[32], cert_secret[32], server[32];
    size_t endpoint_count;
    char endpoints[S_MAX_ENDPOINTS][256];
    char sites[S_MAX_ENDPOINTS][64]; //  each endpoint's site
    size_t site_count;               //  distinct sites of the endpoints
    char site_names[S_MAX_ENDPOINTS][64];
    int nats_port;
    char prefix[24];                       //  makes request ids unique across runs
    uint64_t start_ns, measure_ns, end_ns; //  end_ns: stop sending (0: by count)
    atomic_bool stop;
    atomic_uint finished;
    size_t gap_bins;
    atomic_uint *ok_bins; //  expected answers per S_GAP_BIN_MS since measure_ns
    uint8_t *payload;
    s_pids_t pids; //  taken from local by s_run when it has one
} s_run_t;

typedef struct {
    uint64_t counter;     //  which request holds the slot
    uint64_t intended_ns; //  when it was meant to leave
    uint64_t sent_ns;     //  when it last left (0: not yet, send failed)
    uint8_t kind;
    uint8_t state; //  0 free, 1 waiting, 2 answered, 3 given up (lost)
} s_slot_t;

typedef struct {
    s_run_t *run;
    unsigned index;
    pthread_t thread;
    void *sock;                   //  DEALER (--direct, ZeroMQ proxy)
    kp_client_t *stub;            //  libkpclient (Kruispunt, unless --direct)
    kp_client_stats_t stub_stats; //  the stub's counts when it closed
    kp_nats_t *nats;
    char inbox[64];
    s_slot_t *slots;
    uint64_t mask;
    uint64_t next, waiting, quota; //  quota 0: unlimited
    uint64_t rng;
    uint8_t *buf;
    size_t buf_size;
    char own[48]; //  "<prefix><client>-", how this client's request ids begin
    size_t own_len;
    kp_bench_result_t *result;
    pthread_mutex_t lock; //  guards recent
    kp_histogram_t *recent;
    atomic_uint_fast64_t done, bad;
    char error[256];
    char surprise[320]; //  the first unexpected answer, to show the user
} s_client_t;

//  Monotonic nanoseconds: our own, because CZMQ's finest clock
//  (zclock_usecs) is in microseconds and the latency histogram is in ns.
static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t s_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

//  ---------------------------------------------------------------------
//  Transports: send request `counter`, receive answers.

typedef struct {
    uint64_t counter;
    int status; //  Kp__Status
    int reason;
    bool ours;
    char detail[160];
} s_answer_t;

//  Kruispunt through the stub: every node an endpoint, failover in order
//  from a node that depends on the client, so that the load is spread.
static bool s_stubbed(const s_client_t *self)
{
    return self->run->target == S_TARGET_KRUISPUNT && !self->run->opts->direct;
}

//  With sites, client i lives on site i mod sites and prefers its nodes
//  (kp_client_set_site); the clients of a site start on its nodes in turn.
static int s_open_stub(s_client_t *self)
{
    s_run_t *run = self->run;
    const char *endpoints[S_MAX_ENDPOINTS], *sites[S_MAX_ENDPOINTS];
    const char *site = run->site_count > 1 ? run->site_names[self->index % run->site_count] : NULL;
    size_t turn = site ? self->index / run->site_count : self->index, n = 0;
    //  Its own site's nodes first, then the others, each group rotated.
    for (int mine = 1; mine >= 0; mine--) {
        size_t group[S_MAX_ENDPOINTS], count = 0;
        for (size_t e = 0; e < run->endpoint_count; e++)
            if (!site || (strcmp(run->sites[e], site) == 0) == mine)
                group[count++] = e;
        for (size_t i = 0; i < count; i++) {
            endpoints[n] = run->endpoints[group[(turn + i) % count]];
            sites[n++] = run->sites[group[(turn + i) % count]];
        }
        if (!site)
            break;
    }
    self->stub = run->curve ? kp_client_new_secure(endpoints, run->endpoint_count, run->cert_path,
                                                   run->server_z85)
                            : kp_client_new(endpoints, run->endpoint_count);
    if (!self->stub) {
        snprintf(self->error, sizeof self->error, "kp_client_new: cannot connect to %.150s",
                 endpoints[0]);
        return -1;
    }
    if (site && kp_client_set_site(self->stub, site, sites)) {
        snprintf(self->error, sizeof self->error, "kp_client_set_site failed");
        return -1;
    }
    if (run->opts->hedge_ms)
        kp_client_set_hedging(self->stub, (int)run->opts->hedge_ms,
                              run->opts->hedge_ms > 1000 ? (int)run->opts->hedge_ms : 1000);
    return 0;
}

//  Connects client self to its run's target (node, proxy, NATS or the
//  client stub). 0, or -1 with the reason in self->error.
static int s_open(s_client_t *self)
{
    s_run_t *run = self->run;
    if (s_stubbed(self))
        return s_open_stub(self);
    if (run->target == S_TARGET_NATS) {
        self->nats =
            kp_nats_connect("127.0.0.1", run->nats_port, 5000, self->error, sizeof self->error);
        if (!self->nats)
            return -1;
        snprintf(self->inbox, sizeof self->inbox, "_INBOX.%s%u", run->prefix, self->index);
        char sub[80];
        snprintf(sub, sizeof sub, "%s.*", self->inbox);
        if (kp_nats_sub(self->nats, sub, 1) || kp_nats_flush(self->nats)) {
            snprintf(self->error, sizeof self->error, "%s", kp_nats_error(self->nats));
            return -1;
        }
        return 0;
    }
    self->sock = zmq_socket(run->zctx, ZMQ_DEALER);
    int zero = 0, hwm = 0;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (run->endpoint_count > 1) {
        //  Several nodes: send only to connected ones, so a dead node
        //  does not swallow requests (they go to the others).
        int one = 1;
        zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    }
    if (run->curve && (zmq_setsockopt(self->sock, ZMQ_CURVE_SERVERKEY, run->server, 32) ||
                       zmq_setsockopt(self->sock, ZMQ_CURVE_PUBLICKEY, run->cert_public, 32) ||
                       zmq_setsockopt(self->sock, ZMQ_CURVE_SECRETKEY, run->cert_secret, 32))) {
        snprintf(self->error, sizeof self->error, "cannot set CURVE: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    for (size_t i = 0; i < run->endpoint_count; i++)
        if (zmq_connect(self->sock, run->endpoints[i]) != 0) {
            snprintf(self->error, sizeof self->error, "cannot connect to %.150s: %s",
                     run->endpoints[i], zmq_strerror(zmq_errno()));
            return -1;
        }
    return 0;
}

static void s_close(s_client_t *self)
{
    if (self->stub)
        kp_client_stats(self->stub, &self->stub_stats);
    kp_client_destroy(&self->stub);
    if (self->sock)
        zmq_close(self->sock);
    self->sock = NULL;
    kp_nats_destroy(&self->nats);
}

//  Request id "<prefix><client>-<counter>" into id (64 bytes), made by
//  hand: snprintf was a tenth of the client thread's CPU.
static void s_make_id(const s_client_t *self, uint64_t counter, char *id)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + counter % 10);
        counter /= 10;
    } while (counter);
    memcpy(id, self->own, self->own_len);
    for (size_t i = 0; i < n; i++)
        id[self->own_len + i] = digits[n - 1 - i];
    id[self->own_len + n] = '\0';
}

//  0 sent, 1 could not send now (retry later), -1 failure.
static int s_send(s_client_t *self, const s_slot_t *slot)
{
    s_run_t *run = self->run;
    char id[64];
    s_make_id(self, slot->counter, id);
    Kp__Request request;
    kp_request_storage_t storage;
    uint64_t r = slot->counter * 0x9e3779b97f4a7c15ULL + self->index;
    kp_workload_request((kp_kind_t)slot->kind, run->opts->persons, r, run->payload, run->opts->size,
                        &request, &storage);
    request.request_id = id;
    if (run->opts->deadline_ms) {
        request.has_deadline_ms = 1;
        request.deadline_ms = run->opts->deadline_ms;
    }
    if (self->stub) {
        //  The stub owns retries and failover; it gives up (a TIMEOUT of
        //  its own) after --timeout. It encodes the request itself.
        int rc = kp_client_send(self->stub, &request, (int)(run->opts->timeout * 1000), NULL);
        if (rc == 0 || rc == KP_CLIENT_EDUPLICATE)
            return 0;
        snprintf(self->error, sizeof self->error, "kp_client_send: %s", kp_client_strerror(rc));
        return -1;
    }
    size_t size = kp__request__get_packed_size(&request);
    if (size > self->buf_size) {
        self->buf = realloc(self->buf, size);
        assert(self->buf);
        self->buf_size = size;
    }
    kp__request__pack(&request, self->buf);
    if (run->target == S_TARGET_NATS) {
        char reply[96];
        snprintf(reply, sizeof reply, "%s.%" PRIu64, self->inbox, slot->counter);
        if (kp_nats_pub(self->nats, KP_NATS_SUBJECT, reply, self->buf, size)) {
            snprintf(self->error, sizeof self->error, "%s", kp_nats_error(self->nats));
            return -1;
        }
        return 0;
    }
    if (zmq_send(self->sock, self->buf, size, ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN)
            return 1;
        snprintf(self->error, sizeof self->error, "send failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

//  Counter of a request id "<prefix><client>-<counter>" of ours.
static bool s_parse_id(s_client_t *self, const char *id, size_t len, uint64_t *counter)
{
    size_t n = self->own_len;
    if (len <= n || len > 40 || memcmp(id, self->own, n))
        return false;
    uint64_t v = 0;
    for (size_t i = n; i < len; i++) {
        if (id[i] < '0' || id[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(id[i] - '0');
    }
    *counter = v;
    return true;
}

static void s_take_response(s_client_t *self, Kp__Response *r, s_answer_t *a)
{
    if (r->request_id)
        a->ours = s_parse_id(self, r->request_id, strlen(r->request_id), &a->counter);
    a->status = r->has_status ? (int)r->status : 0;
    a->reason = r->has_reason ? (int)r->reason : 0;
    size_t n = r->detail ? strnlen(r->detail, sizeof a->detail - 1) : 0;
    memcpy(a->detail, r->detail ? r->detail : "", n);
    a->detail[n] = '\0';
    kp__response__free_unpacked(r, NULL);
}

static void s_decode(s_client_t *self, const uint8_t *data, size_t size, s_answer_t *a)
{
    a->ours = false;
    //  Kruispunt and the proxy's raw echo workers answer with a Response.
    if (self->run->target != S_TARGET_NATS) {
        Kp__Response *r = kp__response__unpack(NULL, size, data);
        if (r)
            s_take_response(self, r, a);
        return;
    }
    //  The NATS responder sends back our own Request.
    Kp__Request *r = kp__request__unpack(NULL, size, data);
    if (!r)
        return;
    if (r->request_id)
        a->ours = s_parse_id(self, r->request_id, strlen(r->request_id), &a->counter);
    a->status = KP__STATUS__OK;
    a->reason = 0;
    kp__request__free_unpacked(r, NULL);
}

//  s_receive through the stub, which drives its retries and failover.
static int s_receive_stub(s_client_t *self, int timeout_ms, s_answer_t *a)
{
    Kp__Response *r = NULL;
    int rc = kp_client_recv(self->stub, timeout_ms, &r);
    if (rc == 0) {
        a->ours = false;
        s_take_response(self, r, a);
        return 1;
    }
    if (rc == KP_CLIENT_EIDLE && timeout_ms > 0) //  nothing in flight: wait for the schedule
        nanosleep(&(struct timespec){0, (long)timeout_ms * 1000000L}, NULL);
    if (rc == KP_CLIENT_EIDLE || rc == KP_CLIENT_ETIMEDOUT || rc == KP_CLIENT_EINTR)
        return 0;
    snprintf(self->error, sizeof self->error, "kp_client_recv: %s", kp_client_strerror(rc));
    return -1;
}

//  1 answer in a, 0 none within timeout_ms, -1 failure.
static int s_receive(s_client_t *self, int timeout_ms, s_answer_t *a)
{
    if (self->stub)
        return s_receive_stub(self, timeout_ms, a);
    if (self->run->target == S_TARGET_NATS) {
        kp_nats_msg_t msg;
        if (kp_nats_flush(self->nats)) {
            snprintf(self->error, sizeof self->error, "%s", kp_nats_error(self->nats));
            return -1;
        }
        int rc = kp_nats_next(self->nats, timeout_ms, &msg);
        if (rc < 0)
            snprintf(self->error, sizeof self->error, "%s", kp_nats_error(self->nats));
        if (rc <= 0)
            return rc;
        s_decode(self, (const uint8_t *)msg.data, msg.size, a);
        return 1;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = zmq_msg_recv(&msg, self->sock, ZMQ_DONTWAIT);
    if (rc < 0 && zmq_errno() == EAGAIN && timeout_ms != 0) {
        zmq_pollitem_t item = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, timeout_ms) > 0)
            rc = zmq_msg_recv(&msg, self->sock, ZMQ_DONTWAIT);
    }
    if (rc < 0) {
        zmq_msg_close(&msg);
        return 0;
    }
    //  A multi-frame answer is not ours to read; count it as a stray.
    bool more = zmq_msg_more(&msg);
    s_decode(self, zmq_msg_data(&msg), zmq_msg_size(&msg), a);
    zmq_msg_close(&msg);
    while (more) {
        zmq_msg_init(&msg);
        zmq_msg_recv(&msg, self->sock, 0);
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
        a->ours = false;
    }
    return 1;
}

//  ---------------------------------------------------------------------
//  The client loop.

static bool s_may_send(s_client_t *self, uint64_t now)
{
    s_run_t *run = self->run;
    if (atomic_load(&run->stop))
        return false;
    if (self->quota && self->next >= self->quota)
        return false;
    return run->end_ns == 0 || now < run->end_ns;
}

static int s_issue(s_client_t *self, uint64_t intended, uint64_t now)
{
    s_slot_t *slot = &self->slots[self->next & self->mask];
    if (slot->state == 1) {
        //  The ring came round to a request never answered: it is lost.
        if (slot->intended_ns >= self->run->measure_ns)
            self->result->lost[slot->kind]++;
        self->waiting--;
    }
    double u = (double)(s_random(&self->rng) >> 11) / 9007199254740992.0;
    slot->counter = self->next++;
    slot->intended_ns = intended;
    slot->kind = (uint8_t)kp_mix_pick(&self->run->opts->mix, u);
    slot->state = 1;
    slot->sent_ns = 0;
    self->waiting++;
    if (intended >= self->run->measure_ns)
        self->result->sent[slot->kind]++;
    int rc = s_send(self, slot);
    if (rc == 0)
        slot->sent_ns = now;
    return rc < 0 ? -1 : 0;
}

static bool s_expected(kp_kind_t kind, const s_answer_t *a, bool self_secure)
{
    if (a->status != (int)kp_kind_expected_status(kind))
        return false;
    return kind == KP_KIND_SINGLE || kind == KP_KIND_INTEGRATED || kind == KP_KIND_NO_DATA ||
           a->reason == (int)kp_kind_expected_reason(kind, self_secure);
}

//  Books answer a of client self that arrived at now (ns): latency,
//  status and retries for the request in flight it names, or a stray
//  (unknown, or already given up as lost).
static void s_answered(s_client_t *self, const s_answer_t *a, uint64_t now)
{
    kp_bench_result_t *result = self->result;
    s_run_t *run = self->run;
    if (!a->ours) {
        result->strays++;
        return;
    }
    s_slot_t *slot = &self->slots[a->counter & self->mask];
    if (slot->counter != a->counter || slot->state == 0 || a->counter >= self->next) {
        result->strays++; //  long gone, or never sent
        return;
    }
    if (slot->state == 2) {
        result->duplicates++;
        return;
    }
    if (slot->state == 3) {
        result->strays++; //  answered after we gave up: already counted lost
        return;
    }
    slot->state = 2;
    self->waiting--;
    kp_kind_t kind = (kp_kind_t)slot->kind;
    uint64_t latency_us = now > slot->intended_ns ? (now - slot->intended_ns) / 1000 : 0;
    bool good = s_expected(kind, a, self->run->curve);
    atomic_fetch_add(&self->done, 1);
    if (!good)
        atomic_fetch_add(&self->bad, 1);
    pthread_mutex_lock(&self->lock);
    kp_histogram_record(self->recent, latency_us);
    pthread_mutex_unlock(&self->lock);
    if (slot->intended_ns < run->measure_ns) {
        result->warmup++;
        return;
    }
    result->answered[kind]++;
    kp_histogram_record(result->latency[kind], latency_us);
    if (a->status >= 0 && a->status < KP_STATUS_SLOTS)
        result->status[kind][a->status]++;
    if (!good && !result->unexpected[kind]++ && !self->surprise[0])
        snprintf(self->surprise, sizeof self->surprise, "%s answered %s %s (%s)",
                 kp_kind_name(kind), kp_status_name((Kp__Status)a->status),
                 kp_reason_name((Kp__Reason)a->reason), a->detail);
    if (good && latency_us <= 1000000)
        result->ok_within_1s++;
    if (good && now > run->measure_ns) {
        size_t bin = (size_t)((now - run->measure_ns) / (S_GAP_BIN_MS * 1000000ULL));
        if (bin < run->gap_bins)
            atomic_fetch_add(&run->ok_bins[bin], 1);
    }
}

//  Gives up on what waited longer than --timeout (lost: a closed loop
//  must go on), and sends again what waited longer than retry_ms (after
//  a lost node) or could not be sent at all. Same id: the node answers it
//  once.
static int s_retry(s_client_t *self, uint64_t now)
{
    const s_options_t *o = self->run->opts;
    uint64_t retry_ns = (uint64_t)o->retry_ms * 1000000ULL;
    uint64_t timeout_ns = (uint64_t)(o->timeout * 1e9);
    uint64_t first = self->next > self->mask + 1 ? self->next - self->mask - 1 : 0;
    for (uint64_t c = first; c < self->next; c++) {
        s_slot_t *slot = &self->slots[c & self->mask];
        if (slot->state != 1)
            continue;
        if (now - slot->intended_ns >= timeout_ns) {
            slot->state = 3;
            self->waiting--;
            if (slot->intended_ns >= self->run->measure_ns)
                self->result->lost[slot->kind]++;
            continue;
        }
        if (!o->retry_ms || (slot->sent_ns && now - slot->sent_ns < retry_ns))
            continue;
        int rc = s_send(self, slot);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (slot->sent_ns)
                self->result->retries++;
            slot->sent_ns = now;
        }
    }
    return 0;
}

//  One client thread: sends on its schedule (closed loop: keeps
//  --inflight requests going), takes the answers, resends on a timeout,
//  and drains what is left once the run stops.
static void *s_client_run(void *arg)
{
    s_client_t *self = arg;
    s_run_t *run = self->run;
    const s_options_t *o = run->opts;
    int own = snprintf(self->own, sizeof self->own, "%s%u-", run->prefix, self->index);
    self->own_len = own > 0 && (size_t)own < sizeof self->own ? (size_t)own : 0;
    kp_schedule_t *schedule = NULL;
    if (o->rate > 0)
        schedule =
            kp_schedule_new(o->arrivals, o->rate, run->start_ns, self->index, o->clients, o->seed);
    uint64_t drain_end = 0, last_retry = 0;
    while (1) {
        uint64_t now = s_now();
        bool may = s_may_send(self, now);
        if (may && schedule) {
            uint64_t k, at;
            while (s_may_send(self, now) && kp_schedule_take(schedule, now, &k, &at))
                if (s_issue(self, at, now))
                    goto failed;
        } else if (may) {
            while (self->waiting < o->inflight && s_may_send(self, now))
                if (s_issue(self, now, now))
                    goto failed;
        }
        if (!may) {
            if (self->waiting == 0)
                break;
            if (!drain_end)
                drain_end = now + (uint64_t)(o->drain * 1e9);
            if (now >= drain_end)
                break;
        }
        if (now - last_retry > 50000000ULL) {
            if (s_retry(self, now))
                goto failed;
            last_retry = now;
        }
        int timeout = 50;
        if (may && schedule) {
            uint64_t next = kp_schedule_peek(schedule);
            timeout = next <= now ? 0 : (int)((next - now) / 1000000);
            if (timeout > 50)
                timeout = 50;
        }
        s_answer_t a;
        int rc = s_receive(self, timeout, &a);
        if (rc < 0)
            goto failed;
        while (rc > 0) {
            s_answered(self, &a, s_now());
            rc = s_receive(self, 0, &a);
            if (rc < 0)
                goto failed;
        }
    }
    //  Whatever is still waiting was never answered.
    for (uint64_t c = self->next > self->mask + 1 ? self->next - self->mask - 1 : 0; c < self->next;
         c++) {
        s_slot_t *slot = &self->slots[c & self->mask];
        if (slot->state == 1 && slot->intended_ns >= run->measure_ns)
            self->result->lost[slot->kind]++;
    }
    kp_schedule_destroy(&schedule);
    atomic_fetch_add(&run->finished, 1);
    return NULL;
failed:
    kp_schedule_destroy(&schedule);
    atomic_store(&run->stop, true);
    atomic_fetch_add(&run->finished, 1);
    return self;
}

//  ---------------------------------------------------------------------
//  Progress, chaos, and one whole run.

static void s_progress(s_client_t *clients, unsigned n, s_run_t *run, uint64_t *last_done,
                       uint64_t *last_ns, bool tty)
{
    uint64_t now = s_now(), done = 0, bad = 0;
    kp_histogram_t *h = kp_histogram_new();
    for (unsigned i = 0; i < n; i++) {
        done += atomic_load(&clients[i].done);
        bad += atomic_load(&clients[i].bad);
        pthread_mutex_lock(&clients[i].lock);
        kp_histogram_merge(h, clients[i].recent);
        kp_histogram_reset(clients[i].recent);
        pthread_mutex_unlock(&clients[i].lock);
    }
    double dt = (now - *last_ns) / 1e9;
    double rate = dt > 0 ? (done - *last_done) / dt : 0;
    uint64_t p99 = kp_histogram_percentile(h, 99);
    fprintf(stderr, "%s%-11s %6.1fs %10.0f req/s  errors %-8" PRIu64 " p99 %8.3f ms%s",
            tty ? "\r" : "", run->name, (now - run->start_ns) / 1e9, rate, bad, p99 / 1e3,
            tty ? "  " : "\n");
    *last_done = done;
    *last_ns = now;
    kp_histogram_destroy(&h);
}

static int s_parse_chaos(const char *text, s_chaos_t *c, char *err, size_t errlen)
{
    //  The site forms first: "kill site X" would read as node "site".
    static const struct {
        const char *format;
        bool stop, site;
    } forms[] = {
        {" kill site %31[^ ] every %lfs , restart after %lfs %n", false, true},
        {" stop site %31[^ ] every %lfs , resume after %lfs %n", true, true},
        {" kill %31[^ ] every %lfs , restart after %lfs %n", false, false},
        {" stop %31[^ ] every %lfs , resume after %lfs %n", true, false},
    };
    double every = 0, after = -1;
    char node[32];
    int used = -1;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0] && used < 0; i++) {
        int n = 0;
        if (sscanf(text, forms[i].format, node, &every, &after, &n) == 3 && !text[n]) {
            used = n;
            c->stop = forms[i].stop;
            c->site = forms[i].site;
        }
    }
    if (used < 0 || !(every > 0) || !(after >= 0) || after >= every) {
        snprintf(err, errlen,
                 "--chaos: cannot read '%s'; write e.g. \"kill node-1 every 10s, restart "
                 "after 3s\" (SIGKILL, start again), \"stop node-1 every 10s, resume after "
                 "3s\" (SIGSTOP, SIGCONT), or \"kill site brussels every 10s, restart after "
                 "3s\" (every node of a site at once), the second step before the next first",
                 text);
        return -1;
    }
    snprintf(c->node, sizeof c->node, "%s", node);
    c->every_s = every;
    c->after_s = after;
    return 0;
}

//  What the clients' stubs did to get their answers: into result, and
//  said unless quiet.
static void s_stub_counts(const s_client_t *clients, unsigned n, kp_bench_result_t *result,
                          bool quiet)
{
    kp_client_stats_t sum = {0};
    for (unsigned i = 0; i < n; i++) {
        const kp_client_stats_t *c = &clients[i].stub_stats;
        sum.failovers += c->failovers;
        sum.failbacks += c->failbacks;
        sum.disconnects += c->disconnects;
        sum.resent += c->resent;
        sum.timeouts += c->timeouts;
        sum.duplicates += c->duplicates;
        sum.redirects += c->redirects;
        sum.hedges += c->hedges;
        sum.hedge_wins += c->hedge_wins;
    }
    result->stub = true;
    result->failovers = sum.failovers;
    result->failbacks = sum.failbacks;
    result->resent = sum.resent;
    result->given_up = sum.timeouts;
    if (quiet)
        return;
    fprintf(stderr,
            "kpbench: through libkpclient: failovers %" PRIu64 " (back to their site %" PRIu64
            "; connections lost %" PRIu64 ", SHUTTING_DOWN %" PRIu64 "), requests resent %" PRIu64
            ", given up (TIMEOUT) %" PRIu64 ", second answers dropped %" PRIu64 ", hedged %" PRIu64
            " (answered first there %" PRIu64 ")\n",
            sum.failovers, sum.failbacks, sum.disconnects, sum.redirects, sum.resent, sum.timeouts,
            sum.duplicates, sum.hedges, sum.hedge_wins);
}

//  Longest run of empty bins in the measured window, in seconds.
static double s_longest_gap(s_run_t *run, uint64_t end_ns)
{
    size_t bins = end_ns > run->measure_ns
                      ? (size_t)((end_ns - run->measure_ns) / (S_GAP_BIN_MS * 1000000ULL))
                      : 0;
    if (bins > run->gap_bins)
        bins = run->gap_bins;
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < bins; i++) {
        cur = atomic_load(&run->ok_bins[i]) ? 0 : cur + 1;
        if (cur > best)
            best = cur;
    }
    return best * S_GAP_BIN_MS / 1e3;
}

//  ---------------------------------------------------------------------
//  CPU time in the measured window, per role. Children are sampled at
//  the start of the window, just before a chaos kill (what a killed
//  process used is what was sampled last), and at its end; a process
//  started in the window (a restarted node) counts from zero.

typedef struct {
    pid_t pid;         //  the process sampled at this position, or 0
    uint64_t started;  //  its start time, which tells it from a pid reuse
    double base, last; //  its CPU time at the window start (or 0) and lately
    double earlier;    //  in the window, by processes before it here
    bool valid;        //  pid sampled at least once
} s_watched_t;

typedef enum { S_CPU_BEFORE, S_CPU_DURING, S_CPU_AFTER } s_cpu_state_t;

typedef struct {
    s_cpu_state_t state;
    s_watched_t watched[S_CHILD_ROLES][S_MAX_PIDS];
    double self_start, self_end;
    //  The first node's threads at the window's start and end.
    pid_t node;
    kp_proc_thread_t begin[KP_BENCH_THREADS], end[KP_BENCH_THREADS];
    int begin_count, end_count;
} s_cpu_t;

static void s_local_pids(s_pids_t *pids, kp_local_t *local)
{
    size_t nodes = kp_local_node_count(local), providers = kp_local_provider_count(local);
    pids->count[KP_CPU_BROKER] = nodes < S_MAX_PIDS ? nodes : S_MAX_PIDS;
    for (size_t i = 0; i < pids->count[KP_CPU_BROKER]; i++)
        pids->pid[KP_CPU_BROKER][i] = kp_local_node_pid(local, i);
    pids->count[KP_CPU_WORKERS] = providers < S_MAX_PIDS ? providers : S_MAX_PIDS;
    for (size_t i = 0; i < pids->count[KP_CPU_WORKERS]; i++)
        pids->pid[KP_CPU_WORKERS][i] = kp_local_provider_pid(local, i);
}

static void s_cpu_sample_one(s_watched_t *w, pid_t pid, bool at_start)
{
    double cpu;
    uint64_t started;
    if (pid != w->pid) {
        //  Another process at this position: keep what the last one used.
        double earlier = w->earlier + (w->valid ? w->last - w->base : 0);
        *w = (s_watched_t){.pid = pid, .earlier = earlier};
        if (kp_proc_cpu(pid, &cpu, &started) == 0) {
            w->started = started;
            w->base = at_start ? cpu : 0;
            w->last = cpu;
            w->valid = true;
        }
        return;
    }
    if (w->valid && kp_proc_cpu(pid, &cpu, &started) == 0 && started == w->started &&
        cpu >= w->last)
        w->last = cpu;
}

static void s_cpu_sample(s_cpu_t *self, s_run_t *run, kp_local_t *local)
{
    if (local)
        s_local_pids(&run->pids, local);
    for (int role = 0; role < S_CHILD_ROLES; role++)
        for (size_t i = 0; i < run->pids.count[role]; i++)
            s_cpu_sample_one(&self->watched[role][i], run->pids.pid[role][i],
                             self->state == S_CPU_BEFORE);
}

static void s_cpu_begin(s_cpu_t *self, s_run_t *run, kp_local_t *local)
{
    s_cpu_sample(self, run, local);
    self->node = local && run->pids.count[KP_CPU_BROKER] ? run->pids.pid[KP_CPU_BROKER][0] : 0;
    self->begin_count = kp_proc_threads(self->node, self->begin, KP_BENCH_THREADS);
    self->self_start = kp_proc_self_cpu();
    self->state = S_CPU_DURING;
}

static void s_cpu_end(s_cpu_t *self, s_run_t *run, kp_local_t *local)
{
    s_cpu_sample(self, run, local);
    //  A node restarted in the window (chaos) has no thread figures.
    bool same = run->pids.count[KP_CPU_BROKER] && run->pids.pid[KP_CPU_BROKER][0] == self->node;
    self->end_count = same ? kp_proc_threads(self->node, self->end, KP_BENCH_THREADS) : -1;
    self->self_end = kp_proc_self_cpu();
    self->state = S_CPU_AFTER;
}

//  Called by the monitoring loop: begins or ends the window on time.
static void s_cpu_tick(s_cpu_t *self, s_run_t *run, kp_local_t *local, uint64_t now)
{
    if (self->state == S_CPU_BEFORE && now >= run->measure_ns)
        s_cpu_begin(self, run, local);
    if (self->state == S_CPU_DURING && run->end_ns && now >= run->end_ns)
        s_cpu_end(self, run, local);
}

//  How long the monitoring loop may sleep: max_ns, or less to open or
//  close the window on time.
static uint64_t s_cpu_nap(const s_cpu_t *self, const s_run_t *run, uint64_t now, uint64_t max_ns)
{
    uint64_t due = self->state == S_CPU_BEFORE   ? run->measure_ns
                   : self->state == S_CPU_DURING ? run->end_ns
                                                 : 0;
    return due > now && due - now < max_ns ? due - now : max_ns;
}

static void s_cpu_result(const s_cpu_t *self, const s_run_t *run, kp_bench_result_t *result)
{
    result->cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (self->state != S_CPU_AFTER)
        return; //  the window never ended: unknown
    for (int role = 0; role < S_CHILD_ROLES; role++) {
        if (!run->pids.count[role])
            continue;
        double total = 0;
        for (size_t i = 0; i < run->pids.count[role]; i++) {
            const s_watched_t *w = &self->watched[role][i];
            total += w->earlier + (w->valid ? w->last - w->base : 0);
        }
        result->cpu_s[role] = total;
    }
    result->cpu_s[KP_CPU_LOADGEN] = self->self_end - self->self_start;
    //  Each thread name's CPU in the window (a name new at the end: all of it).
    result->thread_count = 0;
    for (int i = 0; self->begin_count > 0 && i < self->end_count; i++) {
        double before = 0;
        for (int k = 0; k < self->begin_count; k++)
            if (!strcmp(self->begin[k].name, self->end[i].name))
                before = self->begin[k].cpu_s;
        result->threads[result->thread_count] = self->end[i];
        result->threads[result->thread_count++].cpu_s -= before;
    }
}

//  The nodes one chaos step kills (or stops) together.
typedef struct {
    size_t index[S_MAX_ENDPOINTS];
    size_t count;
    size_t turn; //  "any": the kills so far
} s_victims_t;

//  This step's nodes: the named one, the next that serves clients
//  ("any"; never the witness), or every node of the site. false: none.
static bool s_victims_pick(s_victims_t *v, const s_chaos_t *chaos, kp_local_t *local)
{
    size_t n = kp_local_node_count(local);
    v->count = 0;
    for (size_t k = 0; k < n && v->count < S_MAX_ENDPOINTS; k++) {
        size_t i = (v->turn + k) % n;
        bool take = chaos->site ? !strcmp(kp_local_node_site(local, i), chaos->node)
                    : strcmp(chaos->node, "any")
                        ? !strcmp(kp_local_node_name(local, i), chaos->node)
                        : kp_local_client_endpoint(local, i) != NULL;
        if (take)
            v->index[v->count++] = i;
        if (take && !chaos->site && !strcmp(chaos->node, "any")) {
            v->turn += k + 1; //  each in turn
            break;
        }
    }
    return v->count > 0;
}

static void s_victims_say(const s_victims_t *v, const s_chaos_t *chaos, kp_local_t *local,
                          const char *verb, bool tty)
{
    fprintf(stderr, "%skpbench: chaos: %s %s%s", tty ? "\n" : "", verb, chaos->site ? "site " : "",
            chaos->site ? chaos->node : "");
    for (size_t i = 0; i < v->count; i++)
        fprintf(stderr, "%s%s", chaos->site ? (i ? ", " : " (") : (i ? ", " : ""),
                kp_local_node_name(local, v->index[i]));
    fprintf(stderr, "%s\n", chaos->site ? ")" : "");
}

//  One measured run against one target: starts its client threads, the
//  chaos (if asked) and the CPU sampling, and sums the clients' results.
//  NULL with err when the run cannot start.
static kp_bench_result_t *s_run(const s_options_t *o, s_run_t *run, kp_local_t *local,
                                const s_chaos_t *chaos, char *err, size_t errlen)
{
    kp_bench_result_t *total = kp_bench_result_new(run->name);
    //  Request ids differ from run to run (a node answers a known id from
    //  its replay memory); what is asked, and when, follows --seed.
    uint64_t clock_seed = s_now();
    snprintf(run->prefix, sizeof run->prefix, "%08" PRIx64 "-", s_random(&clock_seed) & 0xffffffff);
    uint64_t seed = o->seed * 0x9E3779B97F4A7C15ull + 1;
    atomic_store(&run->stop, false);
    atomic_store(&run->finished, 0);
    double window = o->duration > 0 ? o->warmup + o->duration : 3600;
    run->gap_bins = (size_t)((window + o->drain + 10) * 1000 / S_GAP_BIN_MS);
    run->ok_bins = calloc(run->gap_bins, sizeof *run->ok_bins);
    assert(run->ok_bins);
    s_client_t *clients = calloc(o->clients, sizeof *clients);
    assert(clients);
    //  Ring of slots: room for everything that may wait at once.
    uint64_t room = o->rate > 0 ? (uint64_t)(o->rate / o->clients * (o->drain + 30))
                                : (uint64_t)o->inflight * 4;
    uint64_t ring = 1024;
    while (ring < room && ring < (1u << 22))
        ring <<= 1;
    int failed = 0;
    for (unsigned i = 0; i < o->clients && !failed; i++) {
        s_client_t *c = &clients[i];
        c->run = run;
        c->index = i;
        c->mask = ring - 1;
        c->slots = calloc(ring, sizeof *c->slots);
        assert(c->slots);
        c->rng = seed + i * 7919 + 1;
        c->result = kp_bench_result_new(run->name);
        c->recent = kp_histogram_new();
        pthread_mutex_init(&c->lock, NULL);
        if (o->count)
            c->quota = o->count / o->clients + (i < o->count % o->clients);
        if (s_open(c)) {
            snprintf(err, errlen, "client %u: %s", i, c->error);
            failed = 1;
        }
    }
    if (failed)
        goto done;
    run->start_ns = s_now() + 20000000ULL; //  let the connections settle
    run->measure_ns = run->start_ns + (uint64_t)(o->warmup * 1e9);
    run->end_ns = o->duration > 0 ? run->measure_ns + (uint64_t)(o->duration * 1e9) : 0;
    while (s_now() < run->start_ns)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    for (unsigned i = 0; i < o->clients; i++)
        pthread_create(&clients[i].thread, NULL, s_client_run, &clients[i]);
    bool tty = isatty(STDERR_FILENO);
    uint64_t tick_ns = tty ? 250000000ULL : 5000000000ULL;
    uint64_t last_done = 0, last_ns = run->start_ns; //  the last progress line
    uint64_t next_kill = chaos ? run->start_ns + (uint64_t)(chaos->every_s * 1e9) : 0;
    uint64_t restart_at = 0;
    s_victims_t victims = {.turn = 0};
    bool silent = false;
    s_cpu_t cpu = {.state = S_CPU_BEFORE};
    s_cpu_tick(&cpu, run, local, s_now()); //  without warm-up, it opens now
    while (atomic_load(&run->finished) < o->clients) {
        uint64_t nap = s_cpu_nap(&cpu, run, s_now(), 20000000ULL);
        nanosleep(&(struct timespec){0, (long)nap}, NULL);
        uint64_t now = s_now();
        s_cpu_tick(&cpu, run, local, now);
        if (chaos && local && next_kill && now >= next_kill && !restart_at &&
            (run->end_ns == 0 || now < run->end_ns) && s_victims_pick(&victims, chaos, local)) {
            total->kills += victims.count;
            total->site_kills += chaos->site;
            s_victims_say(&victims, chaos, local, chaos->stop ? "stopping" : "killing", tty);
            if (cpu.state == S_CPU_DURING)
                s_cpu_sample(&cpu, run, local); //  the last word of the nodes
            for (size_t i = 0; i < victims.count; i++)
                if (chaos->stop)
                    kp_local_signal_node(local, victims.index[i], SIGSTOP);
                else
                    kp_local_kill_node(local, victims.index[i]);
            restart_at = now + (uint64_t)(chaos->after_s * 1e9);
            next_kill += (uint64_t)(chaos->every_s * 1e9);
        }
        if (restart_at && now >= restart_at) {
            char cerr[512];
            s_victims_say(&victims, chaos, local, chaos->stop ? "resuming" : "restarting", tty);
            for (size_t i = 0; i < victims.count; i++)
                if (chaos->stop)
                    kp_local_signal_node(local, victims.index[i], SIGCONT);
                else if (kp_local_start_node(local, victims.index[i], cerr, sizeof cerr))
                    fprintf(stderr, "kpbench: chaos: %s\n", cerr);
            restart_at = 0;
        }
        if (!chaos && now - run->start_ns > (uint64_t)(o->timeout * 1e9) &&
            !atomic_load(&run->stop)) {
            uint64_t done = 0;
            for (unsigned i = 0; i < o->clients; i++)
                done += atomic_load(&clients[i].done);
            if (done == 0) {
                //  Not one answer: better to say so now than to wait it out.
                atomic_store(&run->stop, true);
                snprintf(err, errlen,
                         "no answer from %s within --timeout %g s; is the node running and "
                         "are the echo providers connected?",
                         run->endpoints[0], o->timeout);
                silent = true;
            }
        }
        if (!o->quiet && now - last_ns >= tick_ns) {
            s_progress(clients, o->clients, run, &last_done, &last_ns, tty);
        }
    }
    uint64_t finished_ns = s_now();
    if (restart_at && chaos->stop) //  do not leave them stopped
        for (size_t i = 0; i < victims.count; i++)
            kp_local_signal_node(local, victims.index[i], SIGCONT);
    if (cpu.state == S_CPU_DURING)
        s_cpu_end(&cpu, run, local); //  by --count: the run's end ends the window
    if (silent)
        failed = 1;
    if (!o->quiet && tty)
        fprintf(stderr, "\n");
    for (unsigned i = 0; i < o->clients; i++) {
        void *rc;
        pthread_join(clients[i].thread, &rc);
        if (rc && !failed) {
            snprintf(err, errlen, "client %u: %s", i, clients[i].error);
            failed = 1;
        }
    }
    //  The measured window: from the end of the warm-up to the last send
    //  (duration), or to the end of the run (count).
    uint64_t window_end = run->end_ns ? run->end_ns : finished_ns;
    total->elapsed_s = window_end > run->measure_ns ? (window_end - run->measure_ns) / 1e9 : 0;
    total->chaos = chaos != NULL;
    total->longest_gap_s = s_longest_gap(run, window_end);
    s_cpu_result(&cpu, run, total);
done:;
    int surprised = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        s_client_t *c = &clients[i];
        if (c->result)
            kp_bench_result_merge(total, c->result);
        if (c->surprise[0] && !surprised++)
            fprintf(stderr, "kpbench: %s: first unexpected answer: %s\n", total->target,
                    c->surprise);
        kp_bench_result_destroy(&c->result);
        kp_histogram_destroy(&c->recent);
        s_close(c);
        free(c->slots);
        free(c->buf);
        if (c->run)
            pthread_mutex_destroy(&c->lock);
    }
    if (!failed && run->target == S_TARGET_KRUISPUNT && !o->direct)
        s_stub_counts(clients, o->clients, total, o->quiet);
    free(clients);
    free(run->ok_bins);
    run->ok_bins = NULL;
    if (failed)
        kp_bench_result_destroy(&total);
    return total;
}

//  ---------------------------------------------------------------------
//  Command line.

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: kpbench (--local | -c CLUSTER) [OPTIONS]\n"
            "\n"
            "Load-tests Kruispunt and reports throughput, latency percentiles per request\n"
            "kind, and a verdict against the service levels (online: 99%% within 1 s and\n"
            "99.5%% within 2 s; integrated: 99%% within 4 s).\n"
            "\n"
            "target:\n"
            "  --local              start a throw-away cluster: temp folder, bench directory,\n"
            "                       kpnode, echo providers (kpctl provider --echo); found\n"
            "                       beside kpbench, in the build tree, or via KPNODE / KPCTL\n"
            "  -c, --cluster FILE   a running cluster; its directory must be the bench\n"
            "                       directory (kpbench --write-directory FILE, then\n"
            "                       kpctl directory import) with echo providers running\n"
            "  --nodes N            local nodes (default 1). From 2 on they are one raft\n"
            "                       cluster on two sites, as cluster-config/two-sites.cfg:\n"
            "                       the first half in brussels, the rest in charleroi, and\n"
            "                       a witness in namur when N is even; each client thread\n"
            "                       lives on a site in turn and its stub prefers that\n"
            "                       site's nodes (kp_client_set_site)\n"
            "  --independent        the local nodes share nothing (each a cluster of one,\n"
            "                       as before clusters)\n"
            "  --wan-delay MS       (--nodes 2 and more) every link between two members\n"
            "                       (raft, log mirror) goes through a relay in kpbench;\n"
            "                       traffic between sites waits MS ms each way (0: the\n"
            "                       relay without delay). Clients reach their nodes directly\n"
            "  --providers N        echo workers per provider institution (default 2)\n"
            "  --persons N          persons in the bench directory (default 10000)\n"
            "  --keep               keep the local folder and its logs\n");
    fprintf(out,
            "  --direct             send on a bare DEALER connected to every node (the\n"
            "                       protocol by hand, no failover but --retry) instead of\n"
            "                       through libkpclient, the stub institutions use: for\n"
            "                       saturation runs without the stub's cost\n"
            "  --hedge MS           the stub hedges: a request unanswered after its node's\n"
            "                       p99 (at least MS, at most max(MS, 1000)) goes to the\n"
            "                       next node too (default: off, as in the stub)\n"
            "  --two-sites          the local cluster with log-durability = \"two-sites\": each\n"
            "                       node's log is mirrored on a node of the other site\n"
            "  --log-segment-mib N  the local cluster's privacy-log segments of N MiB (1 to\n"
            "                       1024; default the node's, 64): a short run at a small\n"
            "                       size rolls through segments made from spares written\n"
            "                       ahead, as a long run does at 64 (kpctl status:\n"
            "                       log.spare; --keep keeps the node's log)\n"
            "  --insecure           the local cluster without CURVE (insecure = true), to\n"
            "                       measure CURVE's cost; a secure cluster's deny-user and\n"
            "                       deny-message kinds are answered IDENTITY_MISMATCH\n"
            "  --write-directory F  write the bench directory as JSON Lines to F and exit\n"
            "\n"
            "load:\n"
            "  --clients C          client connections (default 4)\n"
            "  --inflight N         closed loop: N requests in flight per client (default 8)\n"
            "  --rate R             open loop: R requests/s in total, latency measured from\n"
            "                       the intended send time (no coordinated omission)\n"
            "  --arrivals A         open loop: poisson (default; exponential gaps, as from\n"
            "                       many independent senders) or uniform (evenly spaced)\n"
            "  --seed N             seed of the request kinds and of the poisson send\n"
            "                       times (default 1): the same seed, rate and clients\n"
            "                       give the same requests at the same times\n"
            "  --duration S         measure for S seconds (default 10)\n"
            "  --count N            or send N requests in all\n"
            "  --warmup S           seconds at the start not measured (default 1)\n"
            "  --size BYTES         payload size (default 256)\n"
            "  --service-time DIST  (--local, --compare) each echo provider answer takes DIST,\n"
            "                       like a real lookup: 1ms, 500us, exp:2ms (exponential\n"
            "                       with that mean); Kruispunt's and the proxy's alike\n"
            "  --mix SPEC           weights of request kinds (default \"%s\"); kinds: single,\n"
            "                       integrated, denied (= the five below), nodata,\n"
            "                       user-unknown, user-not-authorized, capacity-denied,\n"
            "                       person-not-in-directory, legal-denied\n"
            "  --deadline MS        deadline_ms of each request (default: the cluster's)\n"
            "  --retry MS           --direct: send a request again after MS without answer\n"
            "                       (default: off; 1000 with --chaos); the stub retries itself\n"
            "  --timeout S          give up on a request after S seconds (default 10): the\n"
            "                       stub answers it TIMEOUT itself; --direct: lost\n"
            "  --drain S            wait S seconds for late answers (default 5)\n",
            KP_MIX_DEFAULT);
    //  Two strings: one would be longer than C99 compilers must take.
    fprintf(out,
            "\n"
            "experiments:\n"
            "  --compare            run the same load through a bare ZeroMQ ROUTER-DEALER\n"
            "                       proxy with an echo worker, and through nats-server with\n"
            "                       an echo responder, and print them beside Kruispunt\n"
            "                       (Kruispunt runs single-provider requests unless --mix)\n"
            "  --log-compare        (--local) run the same load once more against a local\n"
            "                       node without the privacy log (kpnode --unlogged) and\n"
            "                       print it beside the logged node: the log's cost\n"
            "  --chaos SPEC         e.g. \"kill node-1 every 10s, restart after 3s\" (SIGKILL,\n"
            "                       start again) or \"stop node-1 every 10s, resume after 3s\"\n"
            "                       (SIGSTOP, SIGCONT: a hung node) (--local); node \"any\":\n"
            "                       each node that serves clients in turn (\"kill any every\n"
            "                       4s, restart after 1s\"); \"kill site brussels every 10s,\n"
            "                       restart after 3s\": every node of a site at once (with\n"
            "                       --nodes N >= 2; the stubs must go to the other site);\n"
            "                       reports availability, nodes (and sites) killed, the\n"
            "                       stubs' failovers and the longest gap\n"
            "\n"
            "output:\n"
            "  --json FILE          results as JSON\n"
            "  --svg FILE           percentile plot (log scale), one line per kind\n"
            "  -q, --quiet          no progress line\n"
            "  -h, --help           this text\n");
}

static int s_number(const char *opt, const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !(v >= min) || !(v <= max)) {
        fprintf(stderr, "kpbench: %s '%s': give a number from %g to %g\n", opt, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

enum {
    O_LOCAL = 256,
    O_NODES,
    O_PROVIDERS,
    O_PERSONS,
    O_KEEP,
    O_INSECURE,
    O_TWO_SITES,
    O_WRITE,
    O_CLIENTS,
    O_INFLIGHT,
    O_RATE,
    O_DURATION,
    O_COUNT,
    O_WARMUP,
    O_SIZE,
    O_SERVICE_TIME,
    O_MIX,
    O_DEADLINE,
    O_RETRY,
    O_DRAIN,
    O_COMPARE,
    O_LOG_COMPARE,
    O_CHAOS,
    O_JSON,
    O_SVG,
    O_TIMEOUT,
    O_ARRIVALS,
    O_SEED,
    O_DIRECT,
    O_HEDGE,
    O_INDEPENDENT,
    O_WAN_DELAY,
    O_SEGMENT_MIB
};

//  Parses the command line into o (and the folder of --write-directory);
//  --help prints the usage and exits. 0, or -1 on a usage error (said).
static int s_parse(int argc, char **argv, s_options_t *o, const char **write_dir)
{
    static const struct option longs[] = {{"local", no_argument, 0, O_LOCAL},
                                          {"cluster", required_argument, 0, 'c'},
                                          {"nodes", required_argument, 0, O_NODES},
                                          {"providers", required_argument, 0, O_PROVIDERS},
                                          {"persons", required_argument, 0, O_PERSONS},
                                          {"keep", no_argument, 0, O_KEEP},
                                          {"insecure", no_argument, 0, O_INSECURE},
                                          {"two-sites", no_argument, 0, O_TWO_SITES},
                                          {"write-directory", required_argument, 0, O_WRITE},
                                          {"clients", required_argument, 0, O_CLIENTS},
                                          {"inflight", required_argument, 0, O_INFLIGHT},
                                          {"rate", required_argument, 0, O_RATE},
                                          {"duration", required_argument, 0, O_DURATION},
                                          {"count", required_argument, 0, O_COUNT},
                                          {"warmup", required_argument, 0, O_WARMUP},
                                          {"size", required_argument, 0, O_SIZE},
                                          {"service-time", required_argument, 0, O_SERVICE_TIME},
                                          {"mix", required_argument, 0, O_MIX},
                                          {"deadline", required_argument, 0, O_DEADLINE},
                                          {"retry", required_argument, 0, O_RETRY},
                                          {"drain", required_argument, 0, O_DRAIN},
                                          {"compare", no_argument, 0, O_COMPARE},
                                          {"log-compare", no_argument, 0, O_LOG_COMPARE},
                                          {"chaos", required_argument, 0, O_CHAOS},
                                          {"json", required_argument, 0, O_JSON},
                                          {"svg", required_argument, 0, O_SVG},
                                          {"quiet", no_argument, 0, 'q'},
                                          {"timeout", required_argument, 0, O_TIMEOUT},
                                          {"arrivals", required_argument, 0, O_ARRIVALS},
                                          {"seed", required_argument, 0, O_SEED},
                                          {"direct", no_argument, 0, O_DIRECT},
                                          {"hedge", required_argument, 0, O_HEDGE},
                                          {"independent", no_argument, 0, O_INDEPENDENT},
                                          {"wan-delay", required_argument, 0, O_WAN_DELAY},
                                          {"log-segment-mib", required_argument, 0, O_SEGMENT_MIB},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    *o = (s_options_t){.clients = 4,
                       .inflight = 8,
                       .nodes = 1,
                       .providers = 2,
                       .duration = 10,
                       .warmup = 1,
                       .drain = 5,
                       .timeout = 10,
                       .persons = 10000,
                       .size = 256,
                       .arrivals = KP_ARRIVALS_POISSON,
                       .seed = 1,
                       .wan_delay_ms = -1,
                       .mix_text = NULL};
    bool count_given = false, duration_given = false, retry_given = false;
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "c:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'h':
            s_usage(stdout);
            exit(0);
        case 'q':
            o->quiet = true;
            break;
        case 'c':
            o->cluster_file = optarg;
            break;
        case O_LOCAL:
            o->local = true;
            break;
        case O_INSECURE:
            o->insecure = true;
            break;
        case O_TWO_SITES:
            o->two_sites = true;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_COMPARE:
            o->compare = true;
            break;
        case O_LOG_COMPARE:
            o->log_compare = true;
            break;
        case O_DIRECT:
            o->direct = true;
            break;
        case O_INDEPENDENT:
            o->independent = true;
            break;
        case O_WAN_DELAY:
            if (s_number("--wan-delay", optarg, 0, 10000, &v))
                return -1;
            o->wan_delay_ms = (int)v;
            break;
        case O_SEGMENT_MIB:
            if (s_number("--log-segment-mib", optarg, KP_CONFIG_SEGMENT_MIB_MIN,
                         KP_CONFIG_SEGMENT_MIB_MAX, &v))
                return -1;
            o->segment_mib = (unsigned)v;
            break;
        case O_HEDGE:
            if (s_number("--hedge", optarg, 1, 600000, &v))
                return -1;
            o->hedge_ms = (unsigned)v;
            break;
        case O_WRITE:
            *write_dir = optarg;
            break;
        case O_MIX:
            o->mix_text = optarg;
            break;
        case O_CHAOS:
            o->chaos = optarg;
            break;
        case O_JSON:
            o->json_path = optarg;
            break;
        case O_SVG:
            o->svg_path = optarg;
            break;
        case O_NODES:
            if (s_number("--nodes", optarg, 1, 8, &v))
                return -1;
            o->nodes = (unsigned)v;
            break;
        case O_PROVIDERS:
            if (s_number("--providers", optarg, 1, 16, &v))
                return -1;
            o->providers = (unsigned)v;
            break;
        case O_PERSONS:
            if (s_number("--persons", optarg, 10, 16000000, &v))
                return -1;
            o->persons = (uint64_t)v;
            break;
        case O_CLIENTS:
            if (s_number("--clients", optarg, 1, S_MAX_CLIENTS, &v))
                return -1;
            o->clients = (unsigned)v;
            break;
        case O_INFLIGHT:
            if (s_number("--inflight", optarg, 1, 100000, &v))
                return -1;
            o->inflight = (unsigned)v;
            break;
        case O_RATE:
            if (s_number("--rate", optarg, 0.001, 1e8, &v))
                return -1;
            o->rate = v;
            break;
        case O_DURATION:
            if (s_number("--duration", optarg, 0.001, 86400 * 7, &v))
                return -1;
            o->duration = v;
            duration_given = true;
            break;
        case O_COUNT:
            if (s_number("--count", optarg, 1, 1e12, &v))
                return -1;
            o->count = (uint64_t)v;
            count_given = true;
            break;
        case O_WARMUP:
            if (s_number("--warmup", optarg, 0, 3600, &v))
                return -1;
            o->warmup = v;
            break;
        case O_SIZE:
            if (s_number("--size", optarg, 0, 900000, &v))
                return -1;
            o->size = (size_t)v;
            break;
        case O_SERVICE_TIME:
            o->service_time = optarg; //  kpctl provider checks it
            break;
        case O_DEADLINE:
            if (s_number("--deadline", optarg, 1, 3600000, &v))
                return -1;
            o->deadline_ms = (unsigned)v;
            break;
        case O_RETRY:
            if (s_number("--retry", optarg, 0, 3600000, &v))
                return -1;
            o->retry_ms = (unsigned)v;
            retry_given = true;
            break;
        case O_TIMEOUT:
            if (s_number("--timeout", optarg, 0.001, 3600, &v))
                return -1;
            o->timeout = v;
            break;
        case O_ARRIVALS:
            if (kp_arrivals_parse(optarg, &o->arrivals)) {
                fprintf(stderr, "kpbench: --arrivals '%s': give poisson or uniform\n", optarg);
                return -1;
            }
            break;
        case O_SEED:
            if (s_number("--seed", optarg, 0, 9007199254740992.0, &v))
                return -1;
            o->seed = (uint64_t)v;
            break;
        case O_DRAIN:
            if (s_number("--drain", optarg, 0, 3600, &v))
                return -1;
            o->drain = v;
            break;
        default:
            fprintf(stderr, "kpbench: 'kpbench --help' lists the options\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kpbench: unexpected argument '%s'; 'kpbench --help' lists the options\n",
                argv[optind]);
        return -1;
    }
    if (*write_dir)
        return 0;
    if (o->local == (o->cluster_file != NULL)) {
        fprintf(stderr, "kpbench: say where to send the load: --local (start a local cluster) "
                        "or -c CLUSTER_FILE (a running one), not both\n");
        return -1;
    }
    if (count_given && duration_given) {
        fprintf(stderr, "kpbench: --count and --duration exclude each other; give one\n");
        return -1;
    }
    if (count_given) {
        o->duration = 0;
        o->warmup = 0; //  a count is a count: every request is measured
    }
    if (o->wan_delay_ms >= 0 && (!o->local || o->nodes < 2 || o->independent)) {
        fprintf(stderr, "kpbench: --wan-delay joins the sites of a local cluster: add --local "
                        "and --nodes 2 or more (not --independent)\n");
        return -1;
    }
    if (o->chaos && !o->local) {
        fprintf(stderr, "kpbench: --chaos kills local nodes only; add --local\n");
        return -1;
    }
    if (o->log_compare && (!o->local || o->chaos)) {
        fprintf(stderr, "kpbench: --log-compare starts its own local nodes: add --local "
                        "(and no --chaos)\n");
        return -1;
    }
    if (o->chaos && !retry_given && o->direct)
        o->retry_ms = 1000;
    if (!o->mix_text)
        o->mix_text = o->compare || o->log_compare ? "single=100" : KP_MIX_DEFAULT;
    char err[512];
    if (kp_mix_parse(o->mix_text, &o->mix, err, sizeof err)) {
        fprintf(stderr, "kpbench: %s\n", err);
        return -1;
    }
    return 0;
}

static int s_write_directory(const char *path, uint64_t persons)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "kpbench: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = kp_workload_write_directory(f, persons);
    if ((f != stdout && fclose(f) != 0) || rc) {
        fprintf(stderr, "kpbench: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int s_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void s_remove_dir(const char *dir)
{
    nftw(dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  Under the --compare table: what each column's worker does, so that a
//  reader sees which floors are like for like, and on how many cores.
static void s_print_workers(FILE *out, const s_options_t *o, unsigned workers, bool curve)
{
    char kp[160] = "the cluster's own providers";
    if (o->local)
        snprintf(kp, sizeof kp,
                 "%u kpctl provider --echo processes (decode WorkerRequest, echo JSON, encode "
                 "WorkerReply)",
                 workers);
    fprintf(out,
            "workers: kruispunt%s: %s; zmq-proxy: %u kpctl provider --raw-echo processes "
            "(decode Request, the same echo JSON, encode Response; %s); nats: 1 thread in "
            "kpbench sending each message back as it came (no decode/encode; its CPU counts in "
            "the load generator's, workers \"-\")\n",
            o->log_compare ? "/kp-unlogged" : "", kp, workers,
            curve ? "CURVE on both sides, as the node" : "plain text, as the node");
    fprintf(out,
            "processes: kpbench with %u client threads%s; %ld cores online; each column ran "
            "alone\n",
            o->clients,
            o->local ? ", 1 kpnode per node, the workers above, nats-server" : ", nats-server",
            sysconf(_SC_NPROCESSORS_ONLN));
}

//  Stops the local providers and gives the run what they counted: the
//  requests they served, and the request ids they were given twice.
static void s_routed_twice(kp_local_t *local, kp_bench_result_t *result)
{
    uint64_t served, again;
    if (kp_local_stop_providers(local, &served, &again) != 0) {
        fprintf(stderr, "kpbench: a provider did not report what it served; routed twice "
                        "unknown (--keep keeps their logs)\n");
        return;
    }
    result->provider_served = (int64_t)served;
    result->routed_twice = (int64_t)again;
}

static void s_zproxy_pids(s_pids_t *pids, kp_zproxy_t *proxy)
{
    size_t workers = kp_zproxy_worker_count(proxy);
    pids->count[KP_CPU_BROKER] = 1;
    pids->pid[KP_CPU_BROKER][0] = kp_zproxy_pid(proxy);
    pids->count[KP_CPU_WORKERS] = workers < S_MAX_PIDS ? workers : S_MAX_PIDS;
    for (size_t i = 0; i < pids->count[KP_CPU_WORKERS]; i++)
        pids->pid[KP_CPU_WORKERS][i] = kp_zproxy_worker_pid(proxy, i);
}

//  Adds a node that serves clients (a witness has no client endpoint) to
//  the run, with its site ("": no site preference).
static void s_add_endpoint(s_run_t *run, const char *endpoint, const char *site)
{
    if (!endpoint || !*endpoint || run->endpoint_count == S_MAX_ENDPOINTS)
        return;
    size_t i = run->endpoint_count++;
    snprintf(run->endpoints[i], sizeof run->endpoints[i], "%s", endpoint);
    snprintf(run->sites[i], sizeof run->sites[i], "%s", site);
    for (size_t j = 0; j < run->site_count; j++)
        if (!strcmp(run->site_names[j], site))
            return;
    if (*site)
        snprintf(run->site_names[run->site_count++], sizeof run->site_names[0], "%s", site);
}

static bool s_local_has_site(kp_local_t *local, const char *site)
{
    for (size_t i = 0; i < kp_local_node_count(local); i++)
        if (kp_local_replicated(local) && !strcmp(kp_local_node_site(local, i), site))
            return true;
    return false;
}

//  The local nodes that serve clients; their sites when replicated.
static void s_local_endpoints(s_run_t *run, kp_local_t *local)
{
    run->endpoint_count = run->site_count = 0;
    for (size_t i = 0; i < kp_local_node_count(local); i++)
        s_add_endpoint(run, kp_local_client_endpoint(local, i),
                       kp_local_replicated(local) ? kp_local_node_site(local, i) : "");
}

//  CURVE for the run's clients: cert (a CZMQ certificate) to the nodes
//  whose public key is server_key.
static int s_curve(s_run_t *run, const char *cert_path, const char *server_key, char *err,
                   size_t errlen)
{
    if (kp_local_cert_keys(cert_path, run->cert_public, run->cert_secret, err, errlen))
        return -1;
    if (!server_key || strlen(server_key) != 40 || !zmq_z85_decode(run->server, server_key)) {
        snprintf(err, errlen, "the nodes' public key is not 40 characters of Z85");
        return -1;
    }
    snprintf(run->cert_path, sizeof run->cert_path, "%s", cert_path);
    snprintf(run->server_z85, sizeof run->server_z85, "%s", server_key);
    run->curve = true;
    return 0;
}

//  CURVE to the nodes of a secure cluster file, with KP_CERT: one client
//  socket talks to every node, so they must share one key.
static int s_curve_of(s_run_t *run, const kp_cluster_config_t *config, char *err, size_t errlen)
{
    const char *cert = getenv("KP_CERT");
    char key[41];
    if (!cert || !*cert) {
        snprintf(err, errlen,
                 "the cluster is secure: set KP_CERT to the certificate of an application key "
                 "of its directory (user bench-app)");
        return -1;
    }
    if (kp_local_nodes_key(config, run->endpoint_count, key, err, errlen))
        return -1;
    return s_curve(run, cert, key, err, errlen);
}

//  --log-compare: the same load against a fresh local cluster (same
//  directory, same providers) whose node runs without the privacy log.
//  A fresh one, not the logged one restarted, so that neither run sees
//  the other's log or page cache state.

static kp_bench_result_t *s_run_unlogged(const s_options_t *o, const s_run_t *run, char *err,
                                         size_t errlen)
{
    kp_local_options_t lo = {.nodes = o->nodes,
                             .persons = o->persons,
                             .providers = o->providers,
                             .keep = o->keep,
                             .unlogged = true,
                             .service_time = o->service_time,
                             .insecure = o->insecure,
                             .independent = o->independent,
                             .wan_delay_ms = o->wan_delay_ms,
                             .segment_mib = o->segment_mib,
                             .verbose = !o->quiet};
    kp_local_t *local = kp_local_new(&lo, err, errlen);
    if (!local)
        return NULL;
    s_run_t urun = *run;
    urun.name = "kp-unlogged";
    if (!o->insecure &&
        s_curve(&urun, kp_local_client_cert(local), kp_local_server_key(local), err, errlen)) {
        kp_local_destroy(&local);
        return NULL;
    }
    s_local_endpoints(&urun, local);
    kp_bench_result_t *result = s_run(o, &urun, local, NULL, err, errlen);
    if (result)
        s_routed_twice(local, result);
    kp_local_destroy(&local);
    return result;
}

int main(int argc, char **argv)
{
    s_options_t o;
    const char *write_dir = NULL;
    //  The --compare proxy's own process (started by kpbench, not a user).
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "--serve-proxy"))
        return kp_zproxy_serve(argv[2], argv[3], (unsigned)atoi(argv[4]),
                               argc == 6 ? argv[5] : NULL);
    if (s_parse(argc, argv, &o, &write_dir))
        return 2;
    if (write_dir)
        return s_write_directory(write_dir, o.persons);
    signal(SIGPIPE, SIG_IGN);
    char err[1024];
    s_chaos_t chaos;
    if (o.chaos && s_parse_chaos(o.chaos, &chaos, err, sizeof err)) {
        fprintf(stderr, "kpbench: %s\n", err);
        return 2;
    }
    s_run_t run = {.opts = &o, .target = S_TARGET_KRUISPUNT, .name = "kruispunt"};
    kp_local_t *local = NULL;
    if (o.local) {
        kp_local_options_t lo = {.nodes = o.nodes,
                                 .persons = o.persons,
                                 .providers = o.providers,
                                 .keep = o.keep,
                                 .service_time = o.service_time,
                                 .insecure = o.insecure,
                                 .two_sites = o.two_sites,
                                 .independent = o.independent,
                                 .wan_delay_ms = o.wan_delay_ms,
                                 .segment_mib = o.segment_mib,
                                 .verbose = !o.quiet};
        local = kp_local_new(&lo, err, sizeof err);
        if (!local) {
            fprintf(stderr, "kpbench: --local: %s\n", err);
            return 1;
        }
        if (!o.insecure && s_curve(&run, kp_local_client_cert(local), kp_local_server_key(local),
                                   err, sizeof err)) {
            fprintf(stderr, "kpbench: --local: %s\n", err);
            kp_local_destroy(&local);
            return 1;
        }
        if (o.chaos && chaos.site && !s_local_has_site(local, chaos.node)) {
            fprintf(stderr,
                    "kpbench: --chaos: no local site '%s'; with --nodes N (N >= 2) the sites are "
                    "brussels and charleroi%s\n",
                    chaos.node,
                    kp_local_node_count(local) > o.nodes ? ", and namur (the witness)" : "");
            kp_local_destroy(&local);
            return 2;
        }
        if (o.chaos && !chaos.site && strcmp(chaos.node, "any") &&
            kp_local_node_index(local, chaos.node) < 0) {
            fprintf(stderr,
                    "kpbench: --chaos: no local node '%s'; nodes are node-1..node-%u%s, or "
                    "'any' (each in turn)\n",
                    chaos.node, o.nodes,
                    kp_local_node_count(local) > o.nodes ? " and witness" : "");
            kp_local_destroy(&local);
            return 2;
        }
        s_local_endpoints(&run, local);
    } else {
        kp_cluster_config_t config;
        if (kp_config_load(o.cluster_file, &config, err, sizeof err)) {
            fprintf(stderr, "kpbench: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < config.node_count; i++)
            s_add_endpoint(&run, config.nodes[i].client,
                           config.clustered ? config.nodes[i].site : "");
        if (!config.insecure && s_curve_of(&run, &config, err, sizeof err)) {
            fprintf(stderr, "kpbench: %s\n", err);
            return 1;
        }
    }
    run.zctx = zmq_ctx_new();
    run.payload = malloc(o.size ? o.size : 1);
    for (size_t i = 0; i < o.size; i++)
        run.payload[i] = (uint8_t)('a' + i % 26);
    int status = 1;
    kp_bench_result_t *runs[4] = {NULL, NULL, NULL, NULL};
    size_t nruns = 0;
    runs[nruns] = s_run(&o, &run, local, o.chaos ? &chaos : NULL, err, sizeof err);
    if (!runs[nruns]) {
        fprintf(stderr, "kpbench: %s\n", err);
        goto done;
    }
    if (local)
        s_routed_twice(local, runs[nruns]);
    nruns++;
    kp_local_destroy(&local); //  the baselines get the machine to themselves
    if (o.log_compare) {
        runs[nruns] = s_run_unlogged(&o, &run, err, sizeof err);
        if (!runs[nruns]) {
            fprintf(stderr, "kpbench: --log-compare: %s\n", err);
            goto done;
        }
        nruns++;
    }
    //  As many echo worker processes as --local gives Kruispunt providers.
    unsigned workers = o.nodes * 2 * o.providers;
    workers = workers > 32 ? 32 : workers;
    if (o.compare) {
        const char *tmp = getenv("TMPDIR");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/kpbench-compare-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "kpbench: cannot make a temporary folder: %s\n", strerror(errno));
            goto done;
        }
        //  The proxy speaks CURVE when the node does: like for like.
        kp_zproxy_t *proxy =
            kp_zproxy_new(workers, dir, o.service_time, run.curve, err, sizeof err);
        if (!proxy) {
            fprintf(stderr, "kpbench: --compare: %s\n", err);
            s_remove_dir(dir);
            goto done;
        }
        s_run_t zrun = run;
        zrun.target = S_TARGET_ZMQ;
        zrun.name = "zmq-proxy";
        zrun.endpoint_count = 1;
        s_zproxy_pids(&zrun.pids, proxy);
        snprintf(zrun.endpoints[0], sizeof zrun.endpoints[0], "%s", kp_zproxy_endpoint(proxy));
        const char *proxy_key = kp_zproxy_public_key(proxy);
        zrun.curve = proxy_key != NULL;
        if (proxy_key)
            zmq_z85_decode(zrun.server, proxy_key);
        runs[nruns] = s_run(&o, &zrun, NULL, NULL, err, sizeof err);
        kp_zproxy_destroy(&proxy);
        if (!runs[nruns]) {
            fprintf(stderr, "kpbench: --compare, ZeroMQ proxy: %s\n", err);
            s_remove_dir(dir);
            goto done;
        }
        nruns++;
        kp_natsd_t *natsd = kp_natsd_new(dir, err, sizeof err);
        if (!natsd) {
            fprintf(stderr, "kpbench: --compare: %s\n", err);
            s_remove_dir(dir);
            goto done;
        }
        s_run_t nrun = run;
        nrun.target = S_TARGET_NATS;
        nrun.name = "nats";
        nrun.nats_port = kp_natsd_port(natsd);
        //  Its responder is a thread of ours: the load generator's CPU.
        nrun.pids = (s_pids_t){.count[KP_CPU_BROKER] = 1};
        nrun.pids.pid[KP_CPU_BROKER][0] = kp_natsd_pid(natsd);
        runs[nruns] = s_run(&o, &nrun, NULL, NULL, err, sizeof err);
        kp_natsd_destroy(&natsd);
        s_remove_dir(dir);
        if (!runs[nruns]) {
            fprintf(stderr, "kpbench: --compare, NATS: %s\n", err);
            goto done;
        }
        nruns++;
    }
    kp_bench_config_t summary = {.mode = o.rate > 0 ? "open" : "closed",
                                 .clients = o.clients,
                                 .inflight = o.inflight,
                                 .rate = o.rate,
                                 .arrivals = o.rate > 0 ? kp_arrivals_name(o.arrivals) : NULL,
                                 .seed = o.seed,
                                 .duration_s = o.duration,
                                 .count = o.count,
                                 .warmup_s = o.warmup,
                                 .size = o.size,
                                 .mix = o.mix_text,
                                 .persons = o.persons,
                                 .cluster = o.local ? "local" : o.cluster_file};
    kp_report_table(stdout, &summary, runs, nruns);
    if (o.compare)
        s_print_workers(stdout, &o, workers, run.curve);
    status = 0;
    //  A column that answered nothing is a broken baseline, not a figure:
    //  fail, so that a comparison cannot silently go to zero.
    for (size_t i = 0; i < nruns; i++)
        if (!kp_bench_result_answered(runs[i])) {
            fprintf(stderr,
                    "kpbench: %s answered no request: its figures are void (a broken "
                    "baseline or cluster)\n",
                    runs[i]->target);
            status = 1;
        }
    if (o.json_path && kp_report_json(o.json_path, &summary, runs, nruns, err, sizeof err)) {
        fprintf(stderr, "kpbench: %s\n", err);
        status = 1;
    }
    if (o.svg_path && kp_report_svg(o.svg_path, runs, nruns, err, sizeof err)) {
        fprintf(stderr, "kpbench: %s\n", err);
        status = 1;
    }
done:
    for (size_t i = 0; i < 4; i++)
        kp_bench_result_destroy(&runs[i]);
    kp_local_destroy(&local);
    free(run.payload);
    zmq_ctx_term(run.zctx);
    return status;
}
