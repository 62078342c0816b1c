/*  test_mutations.c - change notifications through real kpnode processes.

    The sample directory (cluster-config/sample-directory.jsonl): ACV
    (17/1) provides U1 and publishes. U1 is authorized for (31/0/1),
    (6/1/1) and (25/0/2). Person 85073003328 is held by OCMW Gent
    (31/0/1), CM (6/1/1), RSZ (25/0/2) and RVA (17/0/1, not authorized
    for U1); 62110528769 by CM and by RSZ until 2022-12-31.

    The counts are small enough for CI; KP_MUTATION_COUNT raises them
    (bench/mutations.sh runs the 10,000 of the issue).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>
#include <jansson.h>
#include <signal.h>

#include "control.h"
#include "harness.h"
#include "kp_worker.h"
#include "sites.h"

#define ACV "0411702543"
#define CM "0411766483"
#define RSZ "0206731645"
#define GENT "0207437468"
#define RVA "0206737484"
#define PERSON "85073003328"
#define ENDED "62110528769"

#define S_MAX 20000
#define S_TRACE 4096

static size_t s_count(size_t fallback)
{
    const char *text = getenv("KP_MUTATION_COUNT");
    size_t n = text ? (size_t)strtoul(text, NULL, 10) : fallback;
    return n > 0 && n <= S_MAX ? n : fallback;
}

static char *s_sample(void)
{
    char file[4096];
    const char *root = getenv("KP_SOURCE_ROOT");
    snprintf(file, sizeof file, "%s/cluster-config/sample-directory.jsonl", root ? root : ".");
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

//  Adds cluster settings (key = value lines, indented) to the file.
static void s_cluster_settings(const char *config, const char *lines)
{
    FILE *f = fopen(config, "r");
    assert_non_null(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char *at = strstr(text, "\nnode\n");
    assert_non_null(at);
    f = fopen(config, "w");
    assert_non_null(f);
    fprintf(f, "%.*s\n%s%s", (int)(at - text), text, lines, at + 1);
    fclose(f);
}

#define S_PERSONS 100

//  Person i of the extra ones, held by CM, RSZ and OCMW Gent (born
//  1985-01-01, serial i + 1).
static void s_person(size_t i, char insz[12])
{
    unsigned long base = 850101000UL + (unsigned long)i + 1;
    snprintf(insz, 12, "%09lu%02lu", base, 97 - base % 97);
}

//  ---------------------------------------------------------------------
//  A worker and what it received

typedef struct s_worker_s s_worker_t;
struct s_worker_s {
    s_worker_t *rx; //  who counts what it receives: itself, or a sibling
    kp_worker_t *worker;
    const char *name;
    size_t received;                  //  notifies (again ones too)
    size_t distinct;                  //  distinct seqs
    uint64_t last_new[S_PERSONS + 2]; //  highest seq received the first time, per person
    bool out_of_order;                //  a new seq below one of the same person received before
    uint8_t *seen;                    //  by seq: 0 never, 1 once, 2+ again
    size_t again;                     //  receipts of a seq seen before
    size_t again_fresh;               //  of which with attempt 1 and in the same node session
    uint64_t session;                 //  bumped by the test when the node restarts
    uint64_t *seen_session;
    size_t ended;              //  distinct notifies about ENDED (a resend under load is not one)
    size_t published, refused; //  publisher: answers
    Kp__Reason last_reason;
    bool no_ack; //  leaves every notify unacknowledged
    //  The first S_TRACE notifies, in order of arrival.
    size_t traced;
    uint64_t trace_seq[S_TRACE];
    uint32_t trace_attempt[S_TRACE];
    int64_t trace_ms[S_TRACE];
};

static int s_on_notify(void *arg, const Kp__MutationNotify *notify)
{
    s_worker_t *w = ((s_worker_t *)arg)->rx;
    w->received++;
    uint64_t seq = notify->seq;
    if (w->traced < S_TRACE) {
        w->trace_seq[w->traced] = seq;
        w->trace_attempt[w->traced] = notify->attempt;
        w->trace_ms[w->traced++] = harness_now_ms();
    }
    if (seq >= S_MAX * 2)
        return 0;
    if (w->seen[seq]) {
        w->again++;
        if (notify->attempt == 1 && w->seen_session[seq] == w->session)
            w->again_fresh++;
    } else {
        w->distinct++;
        if (!strcmp(notify->mutation->person, ENDED))
            w->ended++;
        const char *person = notify->mutation->person;
        size_t p = !strcmp(person, PERSON) ? 0
                   : !strcmp(person, ENDED)
                       ? 1
                       : 2 + (strtoul(person, NULL, 10) / 100 % 1000 - 1) % S_PERSONS;
        if (seq < w->last_new[p])
            w->out_of_order = true;
        w->last_new[p] = seq;
    }
    if (w->seen[seq] < 255)
        w->seen[seq]++;
    w->seen_session[seq] = w->session;
    return w->no_ack ? -1 : 0;
}

static void s_on_published(void *arg, const Kp__MutationPublished *published)
{
    s_worker_t *w = arg;
    if (published->status == KP__STATUS__OK)
        w->published++;
    else {
        w->refused++;
        w->last_reason = published->reason;
    }
}

//  A worker of institution kbo on node index (CURVE with the
//  institution's certificate when the harness is secure).
static s_worker_t *s_worker(harness_t *h, size_t index, const char *kbo, const char *message,
                            bool notify)
{
    s_worker_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    const char *messages[] = {message};
    w->worker = kp_worker_new(h->worker[index], kbo, messages, message ? 1 : 0);
    assert_non_null(w->worker);
    if (h->secure) {
        char name[64];
        snprintf(name, sizeof name, "provider-%s", kbo);
        const char *key = *h->node_key[index] ? h->node_key[index] : h->server_key;
        assert_int_equal(kp_worker_set_curve(w->worker, harness_cert(h, name, NULL), key), 0);
    }
    w->name = kbo;
    w->rx = w;
    w->seen = calloc(S_MAX * 2, 1);
    w->seen_session = calloc(S_MAX * 2, sizeof *w->seen_session);
    assert_non_null(w->seen);
    kp_worker_set_heartbeat(w->worker, 250);
    if (notify)
        kp_worker_set_notify(w->worker, s_on_notify, w);
    kp_worker_set_published(w->worker, s_on_published, w);
    return w;
}

static void s_worker_destroy(s_worker_t **w_p)
{
    s_worker_t *w = *w_p;
    kp_worker_destroy(&w->worker);
    free(w->seen);
    free(w->seen_session);
    free(w);
    *w_p = NULL;
}

//  Runs the workers' loops for up to ms, or until done(arg) is true.
typedef bool(s_done_fn)(void *arg);
static bool s_run(s_worker_t **workers, size_t count, int64_t ms, s_done_fn *done, void *arg)
{
    int64_t end = harness_now_ms() + ms;
    while (harness_now_ms() < end) {
        for (size_t i = 0; i < count; i++) {
            Kp__WorkerRequest *req = NULL;
            int rc;
            while ((rc = kp_worker_recv(workers[i]->worker, 0, &req)) == 0)
                kp_worker_request_destroy(&req);
            assert_true(rc == KP_WORKER_ETIMEDOUT || rc == KP_WORKER_EINTR);
        }
        if (done && done(arg))
            return true;
        zmq_pollitem_t items[8];
        for (size_t i = 0; i < count && i < 8; i++)
            items[i] = (zmq_pollitem_t){kp_worker_socket(workers[i]->worker), 0, ZMQ_POLLIN, 0};
        zmq_poll(items, (int)(count < 8 ? count : 8), 5);
    }
    return done ? done(arg) : false;
}

static bool s_accepted(void *arg)
{
    s_worker_t **w = arg;
    for (; *w; w++)
        if (!kp_worker_accepted((*w)->worker))
            return false;
    return true;
}

typedef struct {
    s_worker_t *w;
    size_t want;
} s_want_t;

static bool s_got_published(void *arg)
{
    s_want_t *want = arg;
    return want->w->published + want->w->refused >= want->want;
}

static bool s_got_distinct(void *arg)
{
    s_want_t *want = arg;
    return want->w->distinct >= want->want;
}

//  Publishes count changes of U1 about person dated date, ids PREFIX%06zu;
//  runs workers until every one is answered. A round with publishes
//  answered UNAVAILABLE (an election under way: NOT_LEADER, NO_QUORUM,
//  OUTCOME_UNKNOWN) is published again, as a provider would: the same
//  ids, never queued twice. Asserts that a round ends with every one OK.
static void s_publish(s_worker_t **workers, size_t count_workers, s_worker_t *publisher,
                      const char *prefix, const char *person, const char *date, size_t count)
{
    for (int round = 0; round < 5; round++) {
        size_t ok = publisher->published, refused = publisher->refused;
        for (size_t i = 0; i < count; i++) {
            char id[64], payload[64];
            snprintf(id, sizeof id, "%s%06zu", prefix, i);
            snprintf(payload, sizeof payload, "{\"change\":%zu}", i);
            Kp__Mutation m = KP__MUTATION__INIT;
            m.id = id;
            char extra[12];
            s_person(i % S_PERSONS, extra);
            m.person = person ? (char *)person : extra;
            m.message = "U1";
            m.date = (char *)date;
            m.has_payload = true;
            m.payload.data = (uint8_t *)payload;
            m.payload.len = strlen(payload);
            int rc;
            //  Keep the loops going while publishing: answers come
            //  meanwhile; a full send queue (EAGAIN) waits for them.
            while ((rc = kp_worker_publish(publisher->worker, &m)) == KP_WORKER_EAGAIN)
                s_run(workers, count_workers, 5, NULL, NULL);
            assert_int_equal(rc, 0);
            if (i % 256 == 255)
                s_run(workers, count_workers, 0, NULL, NULL);
        }
        s_want_t want = {publisher, ok + refused + count};
        if (!s_run(workers, count_workers, 60000, s_got_published, &want))
            fail_msg("%zu of %zu publishes answered OK, %zu refused", publisher->published - ok,
                     count, publisher->refused - refused);
        if (publisher->refused == refused)
            return;
        Kp__Reason reason = publisher->last_reason;
        if (reason != KP__REASON__NOT_LEADER && reason != KP__REASON__NO_QUORUM &&
            reason != KP__REASON__OUTCOME_UNKNOWN)
            fail_msg("%zu publishes refused: %s", publisher->refused - refused,
                     kp_reason_name(reason));
        printf("# round %d: %zu publishes refused (%s); publishing again\n", round + 1,
               publisher->refused - refused, kp_reason_name(reason));
        s_run(workers, count_workers, 500, NULL, NULL);
    }
    fail_msg("publishes still refused after 5 rounds");
}

//  The backlog of kbo in node index's mutations.status; -1 if none.
static int64_t s_backlog(harness_t *h, size_t index, const char *kbo)
{
    Kp__AdminReply *reply = harness_admin(h, index, "mutations.status", NULL, 3000);
    if (!reply)
        return -1;
    json_t *doc = reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    kp__admin_reply__free_unpacked(reply, NULL);
    int64_t backlog = -1;
    json_t *queues = json_object_get(doc, "queues");
    for (size_t i = 0; i < json_array_size(queues); i++) {
        json_t *q = json_array_get(queues, i);
        if (!strcmp(json_string_value(json_object_get(q, "kbo")), kbo))
            backlog = json_integer_value(json_object_get(q, "backlog"));
    }
    json_decref(doc);
    return backlog;
}

static void s_load_persons(harness_t *h, size_t index)
{
    static const struct {
        const char *kbo;
        int sector, type, capacity;
    } holders[] = {{CM, 6, 1, 1}, {RSZ, 25, 0, 2}, {GENT, 31, 0, 1}};
    char *text = calloc(1, 1 << 20), *at = text;
    assert_non_null(text);
    for (size_t i = 0; i < S_PERSONS; i++) {
        char insz[12];
        s_person(i, insz);
        for (size_t j = 0; j < 3; j++)
            at += sprintf(at,
                          "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%d,"
                          "\"type\":%d,\"capacity\":%d,\"from\":\"2000-01-01\","
                          "\"to\":\"9999-12-31\"}\n",
                          insz, holders[j].kbo, holders[j].sector, holders[j].type,
                          holders[j].capacity);
    }
    harness_load(h, index, text);
    free(text);
}

//  One node, secure (CURVE on every socket), with the sample directory
//  and the extra persons; settings: cluster lines (NULL: short resends).
//  With keep_log the node's output goes to node_log[0] for the test to read.
static harness_t *s_node_start(const char *settings, bool keep_log)
{
    harness_t *h = harness_new(1, 250, 5000, 1 << 20);
    if (keep_log)
        snprintf(h->node_log[0], sizeof h->node_log[0], "%s/node-1.log", h->dir);
    s_cluster_settings(h->config, settings ? settings
                                           : "    mutation-ack-timeout = 300\n"
                                             "    mutation-max-backoff = 1000\n");
    harness_start_node(h, 0);
    char *sample = s_sample();
    harness_load(h, 0, sample);
    free(sample);
    s_load_persons(h, 0);
    return h;
}

static harness_t *s_node_with(const char *settings)
{
    return s_node_start(settings, false);
}

static harness_t *s_node(void)
{
    return s_node_with(NULL);
}

//  ACV's publishing worker and CM's notified one on node 0, both
//  accepted: pair = {acv, cm, NULL}. CM acknowledges what it gets unless
//  cm_acks is false.
static void s_pair(harness_t *h, s_worker_t *pair[3], bool cm_acks)
{
    pair[0] = s_worker(h, 0, ACV, "U1", false);
    pair[1] = s_worker(h, 0, CM, NULL, true);
    pair[1]->no_ack = !cm_acks;
    pair[2] = NULL;
    assert_true(s_run(pair, 2, 5000, s_accepted, pair));
}

static void s_pair_destroy(s_worker_t *pair[3], harness_t **h_p)
{
    s_worker_destroy(&pair[1]);
    s_worker_destroy(&pair[0]);
    harness_destroy(h_p);
}

//  Runs the workers until kbo's backlog on node 0 is empty (20 s at most),
//  and asserts it is.
static void s_until_drained(harness_t *h, s_worker_t **workers, size_t count, const char *kbo)
{
    int64_t give_up = harness_now_ms() + 20000;
    while (s_backlog(h, 0, kbo) != 0 && harness_now_ms() < give_up)
        s_run(workers, count, 50, NULL, NULL);
    assert_int_equal(s_backlog(h, 0, kbo), 0);
}

//  ---------------------------------------------------------------------
//  Tests

//  An institution offline while the changes are made receives all of
//  them, in order, when it comes back; those not entitled receive none.
static void test_offline_institution(void **state)
{
    (void)state;
    size_t n = s_count(2000);
    harness_t *h = s_node();
    s_worker_t *acv = s_worker(h, 0, ACV, "U1", false);
    s_worker_t *rva = s_worker(h, 0, RVA, NULL, true); //  capacity not authorized
    s_worker_t *rsz = s_worker(h, 0, RSZ, NULL, true); //  entry of ENDED ended
    s_worker_t *online[] = {acv, rva, rsz, NULL};
    assert_true(s_run(online, 3, 5000, s_accepted, online));
    int64_t start = harness_now_ms();
    s_publish(online, 3, acv, "c", NULL, "2024-01-01", n);
    s_publish(online, 3, acv, "p", PERSON, "2024-01-01", 10);
    s_publish(online, 3, acv, "e", ENDED, "2023-06-01", 10);
    printf("# %zu + 20 published in %lld ms\n", n, (long long)(harness_now_ms() - start));
    //  A publish that is not the publisher's to make, and a malformed one.
    Kp__Mutation m = KP__MUTATION__INIT;
    m.id = "x1";
    m.person = PERSON;
    m.message = "A1"; //  provided by RSZ's (25/0), not ACV's
    m.date = "2024-01-01";
    assert_int_equal(kp_worker_publish(acv->worker, &m), 0);
    s_want_t want = {acv, acv->published + acv->refused + 1};
    assert_true(s_run(online, 3, 5000, s_got_published, &want));
    assert_int_equal(acv->last_reason, KP__REASON__MESSAGE_NOT_PROVIDED);
    m.message = "U1";
    m.person = "85073003329";
    assert_int_equal(kp_worker_publish(acv->worker, &m), 0);
    want.want++;
    assert_true(s_run(online, 3, 5000, s_got_published, &want));
    assert_int_equal(acv->last_reason, KP__REASON__INVALID_INSZ);
    //  RSZ gets the n + 10, none about ENDED.
    want = (s_want_t){rsz, n + 10};
    if (!s_run(online, 3, 60000, s_got_distinct, &want)) {
        Kp__AdminReply *reply = harness_admin(h, 0, "mutations.status", NULL, 3000);
        fail_msg("RSZ got %zu of %zu (%zu notifies); status %s", rsz->distinct, n + 10,
                 rsz->received, reply ? reply->json : "none");
    }
    //  Now CM comes back: all n + 10, in order.
    s_worker_t *cm = s_worker(h, 0, CM, NULL, true);
    s_worker_t *all[] = {acv, rva, rsz, cm, NULL};
    start = harness_now_ms();
    want = (s_want_t){cm, n + 20};
    assert_true(s_run(all, 4, 120000, s_got_distinct, &want));
    printf("# CM drained %zu in %lld ms (%zu notifies, %zu again)\n", n + 20,
           (long long)(harness_now_ms() - start), cm->received, cm->again);
    assert_false(cm->out_of_order);
    for (uint64_t seq = 1; seq <= n + 20; seq++)
        assert_int_equal(cm->seen[seq] > 0, 1);
    s_until_drained(h, all, 4, CM);
    assert_int_equal(s_backlog(h, 0, RSZ), 0);
    //  Not entitled: nothing.
    assert_int_equal(rva->received, 0);
    assert_int_equal(rsz->ended, 0);
    assert_int_equal(cm->ended, 10);
    assert_int_equal(rsz->distinct, n + 10);
    assert_int_equal(s_backlog(h, 0, RVA), -1);
    s_worker_destroy(&cm);
    s_worker_destroy(&rsz);
    s_worker_destroy(&rva);
    s_worker_destroy(&acv);
    harness_destroy(&h);
}

//  kill -9 of the node while it delivers: after the restart everything
//  arrives; a change comes twice only as a redelivery of one whose ack
//  may not have been durable (attempt > 1, or across the restart).
//  A change comes twice only as a redelivery: attempt > 1, or after the
//  session changed (a restart, a new leader).
static void test_kill_during_delivery(void **state)
{
    (void)state;
    size_t n = s_count(2000);
    harness_t *h = s_node();
    s_worker_t *acv = s_worker(h, 0, ACV, "U1", false);
    s_worker_t *online[] = {acv, NULL};
    assert_true(s_run(online, 1, 5000, s_accepted, online));
    s_publish(online, 1, acv, "k", NULL, "2024-01-01", n);
    s_worker_t *cm = s_worker(h, 0, CM, NULL, true);
    s_worker_t *both[] = {acv, cm, NULL};
    s_want_t want = {cm, n / 3};
    assert_true(s_run(both, 2, 60000, s_got_distinct, &want));
    harness_stop_node(h, 0, SIGKILL);
    //  What the dead node sent before it died is read first: from here
    //  on, whatever comes is the new process's.
    s_run(both, 2, 200, NULL, NULL);
    size_t before = cm->distinct;
    cm->session++;
    harness_start_node(h, 0);
    want.want = n;
    assert_true(s_run(both, 2, 120000, s_got_distinct, &want));
    printf("# %zu before the kill, %zu after; %zu received again\n", before, n - before, cm->again);
    assert_false(cm->out_of_order);
    assert_int_equal(cm->again_fresh, 0);
    s_until_drained(h, both, 2, CM);
    s_worker_destroy(&cm);
    s_worker_destroy(&acv);
    harness_destroy(&h);
}

static bool s_wait_metric(harness_t *h, size_t index, const char *series, double at_least,
                          s_worker_t **workers, size_t count);

//  The number at path ("a.b.c") in the JSON document kpctl ARGS --json
//  prints about node index; -1 when kpctl fails or it is absent.
static int64_t s_kpctl_number(sites_t *sites, size_t index, const char *args, const char *path)
{
    char out[65536];
    if (sites_kpctl(sites, out, sizeof out, "%s --node %s --json", args, sites_name(sites, index)))
        return -1;
    json_t *doc = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL), *at = doc;
    char name[64];
    for (const char *p = path; at && *p;) {
        size_t len = strcspn(p, ".");
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        at = json_object_get(at, name);
        p += len + (p[len] == '.');
    }
    int64_t value = json_is_integer(at) ? json_integer_value(at) : -1;
    json_decref(doc);
    return value;
}

//  The forwarding counters moved by the publishes through follower (the
//  leader received them): the same on /metrics, `kpctl status` and
//  `kpctl mutations status` (read in that order: counters only grow).
static void s_check_forwarding(sites_t *sites, size_t follower, size_t leader, double before,
                               s_worker_t **workers, size_t count)
{
    harness_t *h = sites->harness;
    //  The node publishes its metrics a few times a second.
    assert_true(
        s_wait_metric(h, follower, "kp_forward_proposals_total", before + 1, workers, count));
    assert_true(s_wait_metric(h, follower, "kp_forward_applied_total", 1, workers, count));
    assert_true(s_wait_metric(h, leader, "kp_forward_received_total", 1, workers, count));
    double sent = harness_metric(h, follower, "kp_forward_proposals_total");
    double applied = harness_metric(h, follower, "kp_forward_applied_total");
    printf("# forwarding through %s: %.0f proposals (%.0f before the publishes), %.0f applied, "
           "%.0f failures, %.0f timeouts; %s received %.0f\n",
           sites_name(sites, follower), sent, before, applied,
           harness_metric(h, follower, "kp_forward_failures_total"),
           harness_metric(h, follower, "kp_forward_timeouts_total"), sites_name(sites, leader),
           harness_metric(h, leader, "kp_forward_received_total"));
    assert_true(sent > before && applied >= 1);
    assert_true(harness_metric(h, leader, "kp_forward_received_total") >= 1);
    assert_true(harness_metric(h, follower, "kp_forward_results_total") >= applied);
    assert_true(s_kpctl_number(sites, follower, "status", "raft.forwarding.forwarded") >= sent);
    assert_true(s_kpctl_number(sites, follower, "status", "raft.forwarding.applied") >= applied);
    assert_true(s_kpctl_number(sites, follower, "mutations status", "forwarding.forwarded") >=
                sent);
    assert_true(s_kpctl_number(sites, leader, "mutations status", "forwarding.received") >= 1);
}

//  Three voters (CURVE). ACV publishes through a worker on a follower:
//  the follower forwards to the leader (node/forward.h), nobody is told
//  NOT_LEADER. CM has a worker on each node (only the leader delivers).
//  The leader is killed during delivery: the new leader delivers the
//  rest, and again only what was not acknowledged; publishes through a
//  follower of the new leader succeed again.
static void test_kill_leader(void **state)
{
    (void)state;
    size_t n = s_count(2000) / 2;
    sites_t *sites = sites_new_secure(3, false, 300);
    harness_t *h = sites->harness;
    const char *settings = "    mutation-ack-timeout = 300\n    mutation-max-backoff = 1000\n";
    s_cluster_settings(h->config, settings);
    for (size_t i = 0; i < 3; i++)
        s_cluster_settings(h->node_config[i], settings);
    sites_start_all(sites);
    int leader = sites_leader(sites, NULL, 10000);
    assert_true(leader >= 0);
    char *sample = s_sample();
    harness_load(h, (size_t)leader, sample);
    free(sample);
    s_load_persons(h, (size_t)leader);
    assert_true(sites_converged(sites, NULL, 2, 10000));
    size_t follower = (size_t)(leader + 1) % 3;
    s_worker_t *acv = s_worker(h, follower, ACV, "U1", false);
    s_worker_t *cm[3];
    for (size_t i = 0; i < 3; i++) {
        cm[i] = s_worker(h, i, CM, NULL, true);
        cm[i]->rx = cm[0];
    }
    s_worker_t *all[] = {acv, cm[0], cm[1], cm[2], NULL};
    assert_true(s_run(all, 4, 10000, s_accepted, all));
    double sent_before = harness_metric(h, follower, "kp_forward_proposals_total");
    assert_true(sent_before >= 0);
    s_publish(all, 4, acv, "l", NULL, "2024-01-01", n);
    assert_int_equal(acv->refused, 0); //  all forwarded, none NOT_LEADER
    s_check_forwarding(sites, follower, (size_t)leader, sent_before, all, 4);
    s_want_t want = {cm[0], n / 3};
    assert_true(s_run(all, 4, 60000, s_got_distinct, &want));
    sites_kill(sites, (size_t)leader);
    int64_t killed = harness_now_ms();
    s_run(all, 4, 200, NULL, NULL); //  what the dead leader sent before it died
    size_t before = cm[0]->distinct;
    cm[0]->session++;
    s_worker_t *alive[3];
    size_t count = 0;
    for (size_t i = 0; i < 3; i++)
        if ((int)i != leader)
            alive[count++] = cm[i];
    want.want = n;
    assert_true(s_run(alive, count, 60000, s_got_distinct, &want));
    printf("# %zu before the kill, %zu after (all in %lld ms from the kill); %zu received "
           "again\n",
           before, n - before, (long long)(harness_now_ms() - killed), cm[0]->again);
    assert_false(cm[0]->out_of_order);
    assert_int_equal(cm[0]->again_fresh, 0);
    bool among[SITES_MAX] = {false};
    for (size_t i = 0; i < 3; i++)
        among[i] = (int)i != leader;
    int next = sites_leader(sites, among, 10000);
    assert_true(next >= 0);
    //  Through the follower of the new leader: forwarded again.
    size_t other = 0;
    while ((int)other == leader || (int)other == next)
        other++;
    s_worker_t *acv2 = s_worker(h, other, ACV, "U1", false);
    s_worker_t *rest[4] = {acv2, alive[0], alive[1], NULL};
    assert_true(s_run(rest, 3, 10000, s_accepted, rest));
    s_publish(rest, 3, acv2, "m", NULL, "2024-01-01", 100);
    printf("# through %s, a follower of the new leader %s: %zu published, %zu refused\n",
           sites_name(sites, other), sites_name(sites, (size_t)next), acv2->published,
           acv2->refused);
    want.want = n + 100;
    assert_true(s_run(rest, 3, 60000, s_got_distinct, &want));
    assert_false(cm[0]->out_of_order);
    int64_t give_up = harness_now_ms() + 20000;
    while (s_backlog(h, (size_t)next, CM) != 0 && harness_now_ms() < give_up)
        s_run(rest, 3, 50, NULL, NULL);
    assert_int_equal(s_backlog(h, (size_t)next, CM), 0);
    for (size_t i = 0; i < 3; i++)
        s_worker_destroy(&cm[i]);
    s_worker_destroy(&acv2);
    s_worker_destroy(&acv);
    sites_destroy(&sites);
}

static bool s_wait_metric(harness_t *h, size_t index, const char *series, double at_least,
                          s_worker_t **workers, size_t count)
{
    int64_t give_up = harness_now_ms() + 20000;
    while (harness_metric(h, index, series) < at_least)
        if (harness_now_ms() > give_up)
            return false;
        else
            s_run(workers, count, 50, NULL, NULL); //  polling a condition
    return true;
}

//  How many lines of the file hold text (0 when there is no file).
static int s_lines_with(const char *path, const char *text)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char line[2048];
    int count = 0;
    while (fgets(line, sizeof line, file))
        count += strstr(line, text) != NULL;
    fclose(file);
    return count;
}

//  kpctl ARGS --json -c the harness's file, as the operator: its
//  document (NULL when not JSON), and its exit status in *status.
static json_t *s_kpctl_json(harness_t *h, const char *args, int *status)
{
    char command[1024], out[65536];
    snprintf(command, sizeof command, "KP_CERT='%s' '%s' %s --json -c '%s' 2>/dev/null",
             harness_cert(h, "operator", NULL), getenv("KPCTL"), args, h->config);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t used = fread(out, 1, sizeof out - 1, pipe);
    out[used] = '\0';
    int rc = pclose(pipe);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return json_loads(out, 0, NULL);
}

//  kpctl mutations status --kbo kbo: that institution's queue (a new
//  reference, NULL when absent), and the exit status in *status.
static json_t *s_kpctl_queue(harness_t *h, const char *kbo, int *status)
{
    char args[64];
    snprintf(args, sizeof args, "mutations status --kbo %s", kbo);
    json_t *doc = s_kpctl_json(h, args, status);
    json_t *queue = json_incref(json_array_get(json_object_get(doc, "queues"), 0));
    json_decref(doc);
    return queue;
}

//  mutation-retention: changes for an institution with no worker expire
//  after it; they are counted once (kp_mutations_expired_total), logged
//  once per institution (not once per change), shown by kpctl mutations
//  status, and stay queued: CM gets them when it comes back. The
//  backlog per institution is on /metrics.
static void test_expired_reported(void **state)
{
    (void)state;
    harness_t *h = s_node_start("    mutation-retention = \"1s\"\n"
                                "    mutation-ack-timeout = 300\n",
                                true);
    s_worker_t *acv = s_worker(h, 0, ACV, "U1", false);
    s_worker_t *online[] = {acv, NULL};
    assert_true(s_run(online, 1, 5000, s_accepted, online));
    s_publish(online, 1, acv, "x", NULL, "2024-01-01", 30);
    //  CM, RSZ and OCMW Gent hold the 30 persons; nobody listens.
    assert_true(s_wait_metric(h, 0, "kp_mutations_backlog{institution=\"" CM "\"}", 30, online, 1));
    assert_true(s_wait_metric(h, 0, "kp_mutations_expired_total", 90, online, 1));
    s_run(online, 1, 1200, NULL, NULL); //  another report or two: nothing counted twice
    assert_int_equal((int)harness_metric(h, 0, "kp_mutations_expired_total"), 90);
    assert_int_equal((int)harness_metric(h, 0, "kp_mutations_backlog{institution=\"other\"}"), 0);
    char line[128];
    snprintf(line, sizeof line, "institution %s expired undelivered", CM);
    assert_int_equal(s_lines_with(h->node_log[0], line), 1);
    assert_int_equal(s_lines_with(h->node_log[0], "expired undelivered"), 3);
    //  kpctl says so too, and exits 1.
    int rc;
    json_t *queue = s_kpctl_queue(h, CM, &rc);
    assert_int_equal(rc, 1);
    assert_int_equal(json_integer_value(json_object_get(queue, "backlog")), 30);
    assert_int_equal(json_integer_value(json_object_get(queue, "expired")), 30);
    assert_non_null(json_string_value(json_object_get(queue, "oldest_undelivered")));
    assert_true(json_integer_value(json_object_get(queue, "oldest_age_s")) >= 1);
    json_decref(queue);
    //  Kept, not dropped: CM gets all 30 when it comes back.
    s_worker_t *cm = s_worker(h, 0, CM, NULL, true);
    s_worker_t *both[] = {acv, cm, NULL};
    s_want_t want = {cm, 30};
    assert_true(s_run(both, 2, 20000, s_got_distinct, &want));
    s_worker_destroy(&cm);
    s_worker_destroy(&acv);
    harness_destroy(&h);
}

//  mutation-window: a worker that acknowledges nothing gets at most the
//  window's notifies (about different persons) and no more until some
//  are acknowledged or resent.
static void test_window(void **state)
{
    (void)state;
    harness_t *h = s_node_with("    mutation-window = 4\n"
                               "    mutation-ack-timeout = 60000\n");
    s_worker_t *both[3];
    s_pair(h, both, false);
    s_worker_t *acv = both[0], *cm = both[1];
    s_publish(both, 2, acv, "w", NULL, "2024-01-01", 20); //  20 persons
    s_want_t want = {cm, 4};
    assert_true(s_run(both, 2, 10000, s_got_distinct, &want));
    //  The node's own count says 4 in flight: more would have gone by now.
    int64_t give_up = harness_now_ms() + 5000;
    int64_t in_flight = -1;
    while (in_flight != 4 && harness_now_ms() < give_up) {
        Kp__AdminReply *reply = harness_admin(h, 0, "mutations.status", NULL, 3000);
        json_t *doc = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
        json_t *queues = json_object_get(doc, "queues");
        for (size_t i = 0; i < json_array_size(queues); i++) {
            json_t *q = json_array_get(queues, i);
            if (!strcmp(json_string_value(json_object_get(q, "kbo")), CM))
                in_flight = json_integer_value(json_object_get(q, "in_flight"));
        }
        json_decref(doc);
        if (reply)
            kp__admin_reply__free_unpacked(reply, NULL);
        s_run(both, 2, 20, NULL, NULL);
    }
    assert_int_equal(in_flight, 4);
    s_run(both, 2, 300, NULL, NULL);
    assert_int_equal(cm->received, 4);
    //  A new session of CM's worker that acknowledges: all 20 come.
    s_worker_destroy(&cm);
    s_worker_t *cm2 = s_worker(h, 0, CM, NULL, true);
    s_worker_t *again[] = {acv, cm2, NULL};
    want = (s_want_t){cm2, 20};
    assert_true(s_run(again, 2, 20000, s_got_distinct, &want));
    s_worker_destroy(&cm2);
    s_worker_destroy(&acv);
    harness_destroy(&h);
}

//  mutation-ack-timeout and mutation-max-backoff: an unacknowledged
//  notify comes again after the timeout, the wait doubled each time and
//  capped. Lower bounds only (the node never resends early); the cap is
//  checked against the uncapped sum, far above it.
static void test_backoff(void **state)
{
    (void)state;
    harness_t *h = s_node_with("    mutation-ack-timeout = 100\n"
                               "    mutation-max-backoff = 200\n");
    s_worker_t *both[3];
    s_pair(h, both, false);
    s_worker_t *acv = both[0], *cm = both[1];
    s_publish(both, 2, acv, "b", PERSON, "2024-01-01", 1);
    int64_t give_up = harness_now_ms() + 20000;
    while (cm->received < 7 && harness_now_ms() < give_up)
        s_run(both, 2, 10, NULL, NULL);
    assert_true(cm->received >= 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(cm->trace_seq[i], cm->trace_seq[0]);
        assert_int_equal(cm->trace_attempt[i], i + 1);
    }
    //  Waits: 100, 200, 200, ... The times are when the test read each
    //  attempt, not when the node sent it: a reading the loaded machine
    //  delayed shortens the gap after it (under ASan at load 10, attempt 4
    //  was read 114 ms after attempt 3), so the floor is on the whole run:
    //  90% of 100 + 5 x 200 ms, less 200 ms for a late first reading. A
    //  node that did not double (6 x 100 ms) stays under it.
    int64_t all = cm->trace_ms[6] - cm->trace_ms[0];
    printf("# attempts 1..7 span %lld ms (at least 790)\n", (long long)all);
    if (all < 990 - 200)
        fail_msg("attempts 1 to 7 came within %lld ms (at least 790 expected)", (long long)all);
    //  Uncapped, attempts 3 to 7 would be 400 + 800 + 1600 + 3200 ms apart.
    int64_t span = cm->trace_ms[6] - cm->trace_ms[2];
    printf("# attempts 3..7 span %lld ms (capped: 800; uncapped: 6000)\n", (long long)span);
    assert_true(span < 4000);
    s_pair_destroy(both, &h);
}

//  kpctl mutations replay --kbo K --from TIME: K gets again, in order,
//  what was queued from TIME on, and nothing queued before.
static void test_replay(void **state)
{
    (void)state;
    harness_t *h = s_node();
    s_worker_t *both[3];
    s_pair(h, both, true);
    s_worker_t *acv = both[0], *cm = both[1];
    s_publish(both, 2, acv, "a", NULL, "2024-01-01", 40); //  before TIME
    s_want_t want = {cm, 40};
    assert_true(s_run(both, 2, 20000, s_got_distinct, &want));
    //  TIME: after every "a" was queued (the node stamps a publish when it
    //  takes it, before it answers).
    int64_t from = zclock_time() + 1;
    while (zclock_time() <= from)
        s_run(both, 2, 1, NULL, NULL);
    s_publish(both, 2, acv, "b", NULL, "2024-01-01", 40); //  from TIME on
    s_publish(both, 2, acv, "c", NULL, "2024-01-01", 40); //  the same 40 persons
    want.want = 120;
    assert_true(s_run(both, 2, 20000, s_got_distinct, &want));
    s_until_drained(h, both, 2, CM);
    size_t before = cm->traced;
    //  CM lost what it got from TIME on.
    char command[1024];
    snprintf(command, sizeof command,
             "KP_CERT='%s' '%s' mutations replay --kbo %s --from %lld --json -c '%s' >/dev/null",
             harness_cert(h, "operator", NULL), getenv("KPCTL"), CM, (long long)from, h->config);
    int rc = system(command);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    int64_t give_up = harness_now_ms() + 20000;
    while (cm->traced < before + 80 && harness_now_ms() < give_up)
        s_run(both, 2, 10, NULL, NULL);
    assert_int_equal(cm->traced, before + 80);
    s_run(both, 2, 300, NULL, NULL); //  and no more than that
    assert_int_equal(cm->traced, before + 80);
    //  Exactly the "b" and "c" seqs (41..120 as queued for CM), each
    //  once, b before c for each person.
    uint64_t last[40] = {0};
    bool got[121] = {false};
    for (size_t i = before; i < cm->traced; i++) {
        uint64_t seq = cm->trace_seq[i];
        assert_true(seq > 40 && seq <= 120);
        assert_false(got[seq]);
        got[seq] = true;
        size_t person = (seq - 1) % 40;
        assert_true(seq > last[person]);
        last[person] = seq;
    }
    s_until_drained(h, both, 2, CM);
    s_pair_destroy(both, &h);
}

//  The notifies node index has sent (first time), from mutations.status;
//  -1 if it does not answer.
static int64_t s_notifies(harness_t *h, size_t index)
{
    Kp__AdminReply *reply = harness_admin(h, index, "mutations.status", NULL, 3000);
    json_t *doc = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    int64_t notifies = doc ? json_integer_value(json_object_get(doc, "notifies")) : -1;
    json_decref(doc);
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    return notifies;
}

//  log-durability "two-sites": a notify leaves only when its privacy-log
//  record is on the mirror too, like a response. node-1 (a cluster of
//  one, so that it commits alone) ships its log to node-2; node-2 is
//  stopped (SIGSTOP: the mirror holds, with a mirror timeout far longer
//  than the test): the notify is sent (counted) but held; node-2
//  continues: it leaves.
static void test_notify_waits_for_mirror(void **state)
{
    (void)state;
    harness_t *h = harness_new(2, 250, 5000, 1 << 20);
    harness_cluster_line(h, "log-durability = \"two-sites\"");
    harness_cluster_line(h, "log-mirror-timeout = 60000");
    harness_cluster_line(h, "mutation-ack-timeout = 300");
    for (size_t i = 0; i < 2; i++) {
        char line[64];
        snprintf(line, sizeof line, "mirror = \"tcp://127.0.0.1:%d\"", harness_free_port());
        harness_node_line(h, i, line);
    }
    harness_start_node(h, 1);
    harness_start_node(h, 0);
    char *sample = s_sample();
    harness_load(h, 0, sample);
    free(sample);
    assert_true(harness_wait_status(h, 0, "log.durability", "\"two-sites\"", 2000));
    s_worker_t *both[3];
    s_pair(h, both, true);
    s_worker_t *acv = both[0], *cm = both[1];
    s_publish(both, 2, acv, "h", PERSON, "2024-01-01", 1);
    s_want_t want = {cm, 1};
    assert_true(s_run(both, 2, 10000, s_got_distinct, &want)); //  the mirror answers
    assert_int_equal(kill(h->node[1], SIGSTOP), 0);
    s_publish(both, 2, acv, "i", PERSON, "2024-01-01", 1);
    int64_t give_up = harness_now_ms() + 10000;
    while (s_notifies(h, 0) < 2 && harness_now_ms() < give_up)
        s_run(both, 2, 20, NULL, NULL);
    assert_int_equal(s_notifies(h, 0), 2);
    s_run(both, 2, 500, NULL, NULL); //  local durability alone would have let it go by now
    assert_int_equal(cm->distinct, 1);
    assert_int_equal(kill(h->node[1], SIGCONT), 0);
    want.want = 2;
    assert_true(s_run(both, 2, 10000, s_got_distinct, &want));
    s_pair_destroy(both, &h);
}

//  A number of kbo's queue in node index's mutations.status; -1 if none.
static int64_t s_queue_field(harness_t *h, size_t index, const char *kbo, const char *field)
{
    Kp__AdminReply *reply = harness_admin(h, index, "mutations.status", NULL, 3000);
    if (!reply)
        return -1;
    json_t *doc = reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    kp__admin_reply__free_unpacked(reply, NULL);
    int64_t value = -1;
    json_t *queues = json_object_get(doc, "queues");
    for (size_t i = 0; i < json_array_size(queues); i++) {
        json_t *q = json_array_get(queues, i);
        if (!strcmp(json_string_value(json_object_get(q, "kbo")), kbo))
            value = json_integer_value(json_object_get(q, field));
    }
    json_decref(doc);
    return value;
}

typedef struct {
    harness_t *h;
    int64_t pruned;
} s_pruned_t;

static bool s_pruned(void *arg)
{
    s_pruned_t *p = arg;
    return s_queue_field(p->h, 0, CM, "pruned") >= p->pruned;
}

//  A publish answered OK with duplicate set (an id queued before)?
typedef struct {
    bool answered, duplicate;
} s_dup_t;

static void s_on_dup(void *arg, const Kp__MutationPublished *published)
{
    s_dup_t *d = arg;
    d->answered = true;
    d->duplicate = published->status == KP__STATUS__OK && published->duplicate;
}

static bool s_dup_answered(void *arg)
{
    return ((s_dup_t *)arg)->answered;
}

static bool s_publish_again(s_worker_t **both, s_worker_t *acv, const char *id)
{
    s_dup_t d = {false, false};
    kp_worker_set_published(acv->worker, s_on_dup, &d);
    Kp__Mutation m = KP__MUTATION__INIT;
    m.id = (char *)id;
    m.person = PERSON;
    m.message = "U1";
    m.date = "2024-01-01";
    assert_int_equal(kp_worker_publish(acv->worker, &m), 0);
    assert_true(s_run(both, 2, 10000, s_dup_answered, &d));
    kp_worker_set_published(acv->worker, s_on_published, acv);
    return d.duplicate;
}

//  Pruning (mutation-replay-window): what CM acknowledged leaves its
//  queue once older than the window, round after round, so the queue
//  holds only the last window; inside the window a replay still resends
//  and an id published again is still a duplicate; an id pruned is a new
//  change.
static void test_prune(void **state)
{
    (void)state;
    harness_t *h = s_node_with("    mutation-replay-window = 3s\n");
    s_worker_t *both[3];
    s_pair(h, both, true);
    s_worker_t *acv = both[0], *cm = both[1];
    //  Two rounds of 200: after each is acknowledged, it is pruned (the
    //  queue never holds more than a round).
    for (int round = 0; round < 2; round++) {
        char prefix[8];
        snprintf(prefix, sizeof prefix, "r%d-", round);
        s_publish(both, 2, acv, prefix, NULL, "2024-01-01", 200);
        s_want_t want = {cm, 200 * (size_t)(round + 1)};
        assert_true(s_run(both, 2, 20000, s_got_distinct, &want));
        s_pruned_t pruned = {h, 200 * (round + 1)};
        assert_true(s_run(both, 2, 20000, s_pruned, &pruned));
        assert_int_equal(s_queue_field(h, 0, CM, "backlog"), 0);
    }
    assert_int_equal(s_queue_field(h, 0, CM, "pruned"), 400);
    //  The first round's ids are forgotten: r0-000000 again is a new change.
    assert_false(s_publish_again(both, acv, "r0-000000"));
    //  Inside the window: a round acknowledged, then the same id again is
    //  a duplicate, and a replay from before it resends the round.
    int64_t before = zclock_time();
    s_publish(both, 2, acv, "w-", NULL, "2024-01-01", 200);
    assert_true(s_publish_again(both, acv, "w-000000"));
    s_want_t want = {cm, 601};
    assert_true(s_run(both, 2, 20000, s_got_distinct, &want));
    //  The acks replicated first (else they would count the replay's
    //  entries acknowledged again).
    int64_t give_up = harness_now_ms() + 20000;
    while (s_queue_field(h, 0, CM, "backlog") != 0 && harness_now_ms() < give_up)
        s_run(both, 2, 20, NULL, NULL);
    size_t received = cm->received;
    Kp__MutationReplay replay = KP__MUTATION_REPLAY__INIT;
    replay.kbo = CM;
    replay.has_from_unix_ms = true;
    replay.from_unix_ms = (uint64_t)before;
    Kp__MutationReplay *replays[] = {&replay};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.replays = replays;
    update.n_replays = 1;
    Kp__AdminReply *reply = harness_admin(h, 0, "directory.apply", &update, 5000);
    assert_non_null(reply);
    assert_int_equal(reply->status, KP__STATUS__OK);
    kp__admin_reply__free_unpacked(reply, NULL);
    give_up = harness_now_ms() + 20000;
    while (cm->received < received + 200 && harness_now_ms() < give_up)
        s_run(both, 2, 50, NULL, NULL);
    assert_true(cm->received >= received + 200);
    s_pair_destroy(both, &h);
}

//  How many of the 3 "echo-" changes have their delivery to CM in the
//  privacy log (kpctl log query --person through the node): a record of
//  who received it (the part), what about whom (message, person), from
//  whom (the origin) and on what grounds (CM's entry: 6/1, capacity 1).
static int s_logged_deliveries(harness_t *h)
{
    int status;
    json_t *doc = s_kpctl_json(h, "log query --person " PERSON, &status);
    json_t *records = json_object_get(doc, "records");
    bool seen[3] = {false, false, false};
    for (size_t i = 0; i < json_array_size(records); i++) {
        json_t *r = json_array_get(records, i),
               *part = json_array_get(json_object_get(r, "parts"), 0);
        const char *id = json_string_value(json_object_get(r, "request_id"));
        if (!id || strncmp(id, "echo-", 5))
            continue;
        assert_string_equal(json_string_value(json_object_get(r, "message")), "U1");
        assert_string_equal(json_string_value(json_object_get(r, "institution")), ACV);
        assert_string_equal(json_string_value(json_object_get(part, "kbo")), CM);
        assert_int_equal(json_integer_value(json_object_get(r, "sector")), 6);
        assert_int_equal(json_integer_value(json_object_get(r, "type")), 1);
        assert_int_equal(json_integer_value(json_object_get(r, "capacity")), 1);
        unsigned long n = strtoul(id + 5, NULL, 10);
        assert_true(n < 3);
        seen[n < 3 ? n : 0] = true;
    }
    json_decref(doc);
    return seen[0] + seen[1] + seen[2];
}

//  kpctl provider --echo, the demo worker: each mutation delivered to its
//  institution is printed (one line: seq, id, person, message, payload)
//  and acknowledged; each delivery is a record of the privacy log.
static void test_provider_echo(void **state)
{
    (void)state;
    harness_t *h = s_node();
    char log[512];
    snprintf(log, sizeof log, "%s/provider-cm.log", h->dir);
    char *argv[] = {"/bin/sh",
                    "-c",
                    "exec \"$0\" provider -c \"$1\" --node node-1 --cert \"$2\" --kbo " CM
                    " --message H1 --echo > \"$3\"",
                    (char *)getenv("KPCTL"),
                    h->config,
                    (char *)harness_cert(h, "provider-" CM, NULL),
                    log,
                    NULL};
    harness_spawn(h, argv);
    assert_true(harness_wait_workers(h, 0, 1));
    s_worker_t *acv = s_worker(h, 0, ACV, "U1", false);
    s_worker_t *all[] = {acv, NULL};
    assert_true(s_run(all, 1, 5000, s_accepted, all));
    s_publish(all, 1, acv, "echo-", PERSON, "2024-01-01", 3);
    int64_t give_up = harness_now_ms() + 10000;
    while ((s_lines_with(log, "message U1") < 3 || s_backlog(h, 0, CM) != 0) &&
           harness_now_ms() < give_up)
        s_run(all, 1, 50, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        char line[160];
        snprintf(line, sizeof line,
                 "id echo-%06d person " PERSON " message U1 date 2024-01-01 origin " ACV, i);
        assert_int_equal(s_lines_with(log, line), 1);
        snprintf(line, sizeof line, "payload {\"change\":%d}", i);
        assert_int_equal(s_lines_with(log, line), 1);
    }
    assert_int_equal(s_backlog(h, 0, CM), 0); //  acknowledged
    //  kpctl mutations status: CM's queue delivered, at a rate.
    int status;
    json_t *queue = s_kpctl_queue(h, CM, &status);
    assert_int_equal(status, 0);
    assert_int_equal(json_integer_value(json_object_get(queue, "backlog")), 0);
    assert_true(json_integer_value(json_object_get(queue, "acked")) >= 3);
    assert_true(json_is_null(json_object_get(queue, "oldest_undelivered")));
    assert_true(json_number_value(json_object_get(queue, "delivery_rate")) > 0);
    json_decref(queue);
    give_up = harness_now_ms() + 10000; //  the log's index catches up once a second
    while (s_logged_deliveries(h) < 3 && harness_now_ms() < give_up)
        s_run(all, 1, 200, NULL, NULL);
    assert_int_equal(s_logged_deliveries(h), 3);
    s_worker_destroy(&acv);
    harness_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offline_institution),
        cmocka_unit_test(test_kill_during_delivery),
        cmocka_unit_test(test_kill_leader),
        cmocka_unit_test(test_expired_reported),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_notify_waits_for_mirror),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_provider_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
