/*  test_client.c - the client stub and the worker library against fake
    nodes: real ROUTER sockets on 127.0.0.1, run in a thread of the test
    (client side) or in the test's own thread (worker side).
*/
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>
#include <zmq.h>

#include <cmocka.h>

#include "kp_client.h"
#include "kp_worker.h"

#define MAX_SEEN 256

typedef enum {
    NODE_ANSWER,   //  answer each request at once
    NODE_SILENT,   //  record, never answer
    NODE_REVERSE,  //  collect `batch` requests, answer them last first
    NODE_HOSTILE,  //  garbage, multi-frame, stray id, then the answer
    NODE_TWICE,    //  answer each request twice
    NODE_LATE,     //  answer the first request only when the second came
    NODE_STOPPING, //  answer UNAVAILABLE / SHUTTING_DOWN, as a stopping node
    NODE_HOLD,     //  hold ids "slow-*" until "release" comes; answer others
} node_mode_t;

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[128];
    node_mode_t mode;
    int batch;
    pthread_t thread;
    atomic_int stop;
    atomic_int stale; //  answers everything, pings too, UNAVAILABLE / NO_QUORUM
    pthread_mutex_t lock;
    int seen_count;
    char seen[MAX_SEEN][KP_CLIENT_ID_MAX];
} fake_node_t;

static void s_send_bytes(void *sock, zmq_msg_t *identity, const void *data, size_t size, bool more)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, identity);
    zmq_msg_send(&copy, sock, ZMQ_SNDMORE);
    zmq_send(sock, data, size, more ? ZMQ_SNDMORE : 0);
}

static void s_answer(fake_node_t *node, zmq_msg_t *identity, const char *id)
{
    Kp__Part part = KP__PART__INIT;
    part.kbo = "0123456749";
    part.has_status = true;
    part.status = KP__STATUS__OK;
    part.has_payload = true;
    part.payload.data = (uint8_t *)"echo";
    part.payload.len = 4;
    Kp__Part *parts[] = {&part};
    Kp__Response resp = KP__RESPONSE__INIT;
    resp.request_id = (char *)id;
    resp.has_status = true;
    resp.status = KP__STATUS__OK;
    resp.n_parts = 1;
    resp.parts = parts;
    uint8_t buf[512];
    size_t size = kp__response__pack(&resp, buf);
    s_send_bytes(node->sock, identity, buf, size, false);
}

static void s_answer_unavailable(fake_node_t *node, zmq_msg_t *identity, const char *id,
                                 Kp__Reason reason)
{
    Kp__Response resp = KP__RESPONSE__INIT;
    resp.request_id = (char *)id;
    resp.has_status = resp.has_reason = true;
    resp.status = KP__STATUS__UNAVAILABLE;
    resp.reason = reason;
    uint8_t buf[512];
    size_t size = kp__response__pack(&resp, buf);
    s_send_bytes(node->sock, identity, buf, size, false);
}

static void s_node_handle(fake_node_t *node, zmq_msg_t *identity, const char *id, zmq_msg_t *held,
                          char held_ids[][KP_CLIENT_ID_MAX], int *held_count)
{
    if (atomic_load(&node->stale)) {
        s_answer_unavailable(node, identity, id, KP__REASON__NO_QUORUM);
        return;
    }
    switch (node->mode) {
    case NODE_ANSWER:
        s_answer(node, identity, id);
        break;
    case NODE_SILENT:
        break;
    case NODE_STOPPING:
        s_answer_unavailable(node, identity, id, KP__REASON__SHUTTING_DOWN);
        break;
    case NODE_TWICE:
        s_answer(node, identity, id);
        s_answer(node, identity, id);
        break;
    case NODE_HOSTILE:
        s_send_bytes(node->sock, identity, "\xff\xff\xff", 3, false);
        s_send_bytes(node->sock, identity, "a", 1, true);
        zmq_send(node->sock, "b", 1, 0);
        s_answer(node, identity, "never-sent-1");
        s_answer(node, identity, id);
        break;
    case NODE_HOLD:
        if (!strncmp(id, "slow-", 5)) {
            zmq_msg_init(&held[*held_count]);
            zmq_msg_copy(&held[*held_count], identity);
            snprintf(held_ids[(*held_count)++], KP_CLIENT_ID_MAX, "%s", id);
            break;
        }
        if (!strcmp(id, "release")) {
            for (int i = 0; i < *held_count; i++) {
                s_answer(node, &held[i], held_ids[i]);
                zmq_msg_close(&held[i]);
            }
            *held_count = 0;
        }
        s_answer(node, identity, id);
        break;
    case NODE_REVERSE:
    case NODE_LATE:
        zmq_msg_init(&held[*held_count]);
        zmq_msg_copy(&held[*held_count], identity);
        snprintf(held_ids[*held_count], KP_CLIENT_ID_MAX, "%s", id);
        (*held_count)++;
        int want = node->mode == NODE_LATE ? 2 : node->batch;
        if (*held_count == want) {
            for (int i = *held_count - 1; i >= 0; i--) {
                s_answer(node, &held[i], held_ids[i]);
                zmq_msg_close(&held[i]);
            }
            *held_count = 0;
        }
        break;
    }
}

static void *s_node_run(void *arg)
{
    fake_node_t *node = (fake_node_t *)arg;
    static_assert(MAX_SEEN >= 64, "room for a batch");
    zmq_msg_t held[MAX_SEEN];
    char(*held_ids)[KP_CLIENT_ID_MAX] = calloc(MAX_SEEN, KP_CLIENT_ID_MAX);
    int held_count = 0;
    while (!atomic_load(&node->stop)) {
        zmq_pollitem_t item = {node->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        zmq_msg_t identity, body;
        zmq_msg_init(&identity);
        zmq_msg_init(&body);
        zmq_msg_recv(&identity, node->sock, 0);
        zmq_msg_recv(&body, node->sock, 0);
        Kp__Request *req = kp__request__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        if (req && req->request_id) {
            pthread_mutex_lock(&node->lock);
            if (node->seen_count < MAX_SEEN)
                snprintf(node->seen[node->seen_count++], KP_CLIENT_ID_MAX, "%s", req->request_id);
            pthread_mutex_unlock(&node->lock);
            s_node_handle(node, &identity, req->request_id, held, held_ids, &held_count);
        }
        if (req)
            kp__request__free_unpacked(req, NULL);
        zmq_msg_close(&identity);
        zmq_msg_close(&body);
    }
    for (int i = 0; i < held_count; i++)
        zmq_msg_close(&held[i]);
    free(held_ids);
    return NULL;
}

//  A ROUTER bound on a free loopback port, served by a thread.
static fake_node_t *s_node_start(node_mode_t mode, int batch)
{
    fake_node_t *node = calloc(1, sizeof *node);
    assert_non_null(node);
    node->mode = mode;
    node->batch = batch;
    node->ctx = zmq_ctx_new();
    node->sock = zmq_socket(node->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(node->sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(node->sock, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof node->endpoint;
    zmq_getsockopt(node->sock, ZMQ_LAST_ENDPOINT, node->endpoint, &len);
    pthread_mutex_init(&node->lock, NULL);
    assert_int_equal(pthread_create(&node->thread, NULL, s_node_run, node), 0);
    return node;
}

static void s_node_stop(fake_node_t **node_p)
{
    fake_node_t *node = *node_p;
    atomic_store(&node->stop, 1);
    pthread_join(node->thread, NULL);
    zmq_close(node->sock);
    zmq_ctx_term(node->ctx);
    pthread_mutex_destroy(&node->lock);
    free(node);
    *node_p = NULL;
}

static int s_node_seen(fake_node_t *node, char first[KP_CLIENT_ID_MAX])
{
    pthread_mutex_lock(&node->lock);
    int count = node->seen_count;
    if (first && count)
        memcpy(first, node->seen[0], KP_CLIENT_ID_MAX);
    pthread_mutex_unlock(&node->lock);
    return count;
}

static Kp__Request s_request(void)
{
    Kp__Request req = KP__REQUEST__INIT;
    req.user = "app-1";
    req.message = "wage-data";
    req.person = "85073003328";
    req.has_capacity = true;
    req.capacity = 1;
    req.has_sector = true;
    req.sector = 17;
    req.has_type = true;
    req.type = 1;
    return req;
}

// ---------------------------------------------------------------------------
// Client

//  The index of id among the count ids sent, or -1.
static int s_find_id(char ids[][KP_CLIENT_ID_MAX], int count, const char *id)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(ids[i], id))
            return i;
    return -1;
}

static void test_client_arguments(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    const char *empty[] = {""};
    assert_null(kp_client_new(NULL, 1));
    assert_null(kp_client_new(none, 1));
    assert_null(kp_client_new(empty, 1));
    const char *one[] = {"tcp://127.0.0.1:1"};
    assert_null(kp_client_new(one, 0));
    assert_null(kp_client_new_list(""));
    assert_null(kp_client_new_list("tcp://127.0.0.1:1,,tcp://127.0.0.1:2"));

    kp_client_t *client = kp_client_new_list("tcp://127.0.0.1:1, tcp://127.0.0.1:2");
    assert_non_null(client);
    assert_string_equal(kp_client_endpoint(client), "tcp://127.0.0.1:1");
    Kp__Request req = s_request();
    Kp__Response *resp = (Kp__Response *)&req; //  must be cleared on error
    assert_int_equal(kp_client_call(client, NULL, 100, &resp), KP_CLIENT_EINVAL);
    assert_null(resp);
    assert_int_equal(kp_client_call(client, &req, 0, &resp), KP_CLIENT_EINVAL);
    char long_id[KP_CLIENT_ID_MAX + 1];
    memset(long_id, 'x', KP_CLIENT_ID_MAX);
    long_id[KP_CLIENT_ID_MAX] = '\0';
    req.request_id = long_id;
    assert_int_equal(kp_client_send(client, &req, 100, NULL), KP_CLIENT_EINVAL);
    req.request_id = "mine-1";
    assert_int_equal(kp_client_send(client, &req, 10000, NULL), 0);
    assert_int_equal(kp_client_send(client, &req, 10000, NULL), KP_CLIENT_EDUPLICATE);
    req.request_id = NULL;
    kp_client_set_max_frame(client, 16);
    assert_int_equal(kp_client_send(client, &req, 100, NULL), KP_CLIENT_ETOOLARGE);
    assert_int_equal(kp_client_pending(client), 1);
    assert_int_equal(kp_client_recv(client, 0, &resp), KP_CLIENT_ETIMEDOUT);
    kp_client_destroy(&client);
    assert_null(client);
    kp_client_destroy(&client); //  harmless twice

    assert_string_equal(kp_client_status_name(KP__STATUS__NO_DATA), "NO_DATA");
    assert_string_equal(kp_client_reason_name(KP__REASON__DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    assert_string_equal(kp_client_status_name((Kp__Status)99), "?");
}

static void test_client_ids(void **state)
{
    (void)state;
    const char *ep[] = {"tcp://127.0.0.1:1"};
    kp_client_t *a = kp_client_new(ep, 1);
    kp_client_t *b = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    char id1[KP_CLIENT_ID_MAX], id2[KP_CLIENT_ID_MAX], id3[KP_CLIENT_ID_MAX];
    assert_int_equal(kp_client_send(a, &req, 10000, id1), 0);
    assert_int_equal(kp_client_send(a, &req, 10000, id2), 0);
    assert_int_equal(kp_client_send(b, &req, 10000, id3), 0);
    //  32 hex digits from the CSPRNG: nothing shared between ids
    assert_int_equal(strlen(id1), 32);
    for (int i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", id1[i]));
    assert_string_not_equal(id1, id2);
    assert_string_not_equal(id1, id3);
    assert_memory_not_equal(id1, id2, 8);
    req.request_id = "";
    char id4[KP_CLIENT_ID_MAX];
    assert_int_equal(kp_client_send(a, &req, 10000, id4), 0);
    assert_int_equal(strlen(id4), 32); //  empty id: filled in
    kp_client_destroy(&a);
    kp_client_destroy(&b);
}

static void test_client_call(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_non_null(resp);
    assert_int_equal(resp->status, KP__STATUS__OK);
    assert_int_equal(resp->n_parts, 1);
    assert_memory_equal(resp->parts[0]->payload.data, "echo", 4);
    char seen[KP_CLIENT_ID_MAX];
    assert_int_equal(s_node_seen(node, seen), 1);
    assert_string_equal(resp->request_id, seen);
    assert_null(req.request_id); //  the caller's request is untouched
    kp_client_response_destroy(&resp);
    assert_null(resp);
    assert_int_equal(kp_client_pending(client), 0);
    assert_int_equal(kp_client_recv(client, 10, &resp), KP_CLIENT_EIDLE);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

static void test_client_timeout(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_SILENT, 0);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    kp_client_set_attempts(client, 2);
    Kp__Request req = s_request();
    req.request_id = "caller-chosen-7";
    Kp__Response *resp = NULL;
    int64_t start = zclock_mono();
    assert_int_equal(kp_client_call(client, &req, 300, &resp), 0);
    assert_true(zclock_mono() - start >= 300);
    assert_int_equal(resp->status, KP__STATUS__TIMEOUT);
    assert_int_equal(resp->reason, KP__REASON__DEADLINE_EXCEEDED);
    assert_string_equal(resp->request_id, "caller-chosen-7");
    assert_non_null(resp->detail);
    kp_client_response_destroy(&resp);
    //  Two attempts, one endpoint: sent twice with the same id.
    char seen[KP_CLIENT_ID_MAX];
    assert_int_equal(s_node_seen(node, seen), 2);
    assert_string_equal(seen, "caller-chosen-7");
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.timeouts, 1);
    assert_int_equal(stats.failovers, 1);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

static void test_client_failover(void **state)
{
    (void)state;
    fake_node_t *dead = s_node_start(NODE_SILENT, 0);
    fake_node_t *live = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {dead->endpoint, live->endpoint};
    kp_client_t *client = kp_client_new(ep, 2);
    kp_client_set_attempt_timeout(client, 200);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    char id_dead[KP_CLIENT_ID_MAX], id_live[KP_CLIENT_ID_MAX];
    assert_int_equal(s_node_seen(dead, id_dead), 1);
    assert_int_equal(s_node_seen(live, id_live), 1);
    assert_string_equal(id_dead, id_live);
    assert_string_equal(resp->request_id, id_live);
    assert_string_equal(kp_client_endpoint(client), live->endpoint);
    kp_client_response_destroy(&resp);
    //  The next request goes to the live node straight away.
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    assert_int_equal(s_node_seen(dead, NULL), 1);
    kp_client_response_destroy(&resp);
    kp_client_destroy(&client);
    s_node_stop(&dead);
    s_node_stop(&live);
}

//  A node that says SHUTTING_DOWN sends the client on at once, not after
//  the attempt timeout; when every node says so, the caller hears it.
static void test_client_shutting_down(void **state)
{
    (void)state;
    fake_node_t *stopping = s_node_start(NODE_STOPPING, 0);
    fake_node_t *live = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {stopping->endpoint, live->endpoint};
    kp_client_t *client = kp_client_new(ep, 2);
    kp_client_set_attempt_timeout(client, 3000);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    int64_t start = zclock_mono();
    assert_int_equal(kp_client_call(client, &req, 10000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    assert_true(zclock_mono() - start < 1500);
    char id_stopping[KP_CLIENT_ID_MAX], id_live[KP_CLIENT_ID_MAX];
    assert_int_equal(s_node_seen(stopping, id_stopping), 1);
    assert_int_equal(s_node_seen(live, id_live), 1);
    assert_string_equal(id_stopping, id_live);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.redirects, 1);
    assert_int_equal(stats.failovers, 1);
    kp_client_destroy(&client);

    const char *both[] = {stopping->endpoint, stopping->endpoint};
    client = kp_client_new(both, 2);
    kp_client_set_attempt_timeout(client, 3000);
    start = zclock_mono();
    assert_int_equal(kp_client_call(client, &req, 10000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__UNAVAILABLE);
    assert_int_equal(resp->reason, KP__REASON__SHUTTING_DOWN);
    assert_true(zclock_mono() - start < 1500);
    kp_client_response_destroy(&resp);
    kp_client_destroy(&client);
    s_node_stop(&stopping);
    s_node_stop(&live);
}

static void test_client_pipelining(void **state)
{
    (void)state;
    enum { N = 50 };
    fake_node_t *node = s_node_start(NODE_REVERSE, N);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    char ids[N][KP_CLIENT_ID_MAX];
    for (int i = 0; i < N; i++)
        assert_int_equal(kp_client_send(client, &req, 5000, ids[i]), 0);
    assert_int_equal(kp_client_pending(client), N);
    bool got[N] = {false};
    for (int n = 0; n < N; n++) {
        Kp__Response *resp = NULL;
        assert_int_equal(kp_client_recv(client, 5000, &resp), 0);
        assert_int_equal(resp->status, KP__STATUS__OK);
        int i = s_find_id(ids, N, resp->request_id);
        assert_in_range(i, 0, N - 1);
        assert_false(got[i]);
        got[i] = true;
        if (n == 0)
            assert_int_equal(i, N - 1); //  answered last first
        kp_client_response_destroy(&resp);
    }
    assert_int_equal(kp_client_pending(client), 0);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

//  The stub reuses what a finished request held (its record and its frame
//  buffer, here for requests of changing sizes), keeps answers in a ring
//  that grows, and remembers the last ids it is done with, emptying that
//  set every 4096: each request is answered once, and every second copy is
//  known as a duplicate, across the set's emptying too.
static void test_client_many(void **state)
{
    (void)state;
    enum { ROUNDS = 22, N = 200 };
    fake_node_t *node = s_node_start(NODE_TWICE, 0);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    char user[400];
    char ids[N][KP_CLIENT_ID_MAX];
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N; i++) {
            size_t len = 1 + (size_t)(round * 37 + i * 7) % (sizeof user - 1);
            memset(user, 'u', len);
            user[len] = '\0';
            req.user = user;
            assert_int_equal(kp_client_send(client, &req, 5000, ids[i]), 0);
        }
        bool got[N] = {false};
        for (int n = 0; n < N; n++) {
            Kp__Response *resp = NULL;
            assert_int_equal(kp_client_recv(client, 5000, &resp), 0);
            assert_int_equal(resp->status, KP__STATUS__OK);
            int i = s_find_id(ids, N, resp->request_id);
            assert_in_range(i, 0, N - 1);
            assert_false(got[i]);
            got[i] = true;
            kp_client_response_destroy(&resp);
        }
    }
    //  One more call: its answer comes after every second copy before it.
    Kp__Response *resp = NULL;
    req.user = "app-1";
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.answered, ROUNDS * N + 1);
    assert_in_range(stats.duplicates, ROUNDS * N, ROUNDS * N + 1); //  + the call's own
    assert_int_equal(stats.unknown, 0);
    assert_int_equal(stats.late, 0);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

//  kp_client_call takes its answer from among others ready, which
//  kp_client_recv then hands out in the order they came.
static void test_client_call_among_ready(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_REVERSE, 3);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    const char *sent[] = {"r0", "r1", "r2", "r3", "r4"};
    for (int i = 0; i < 5; i++) {
        req.request_id = (char *)sent[i];
        assert_int_equal(kp_client_send(client, &req, 5000, NULL), 0);
    }
    //  r0-r2 come back r2, r1, r0; then r5, r4, r3.
    Kp__Response *resp = NULL;
    req.request_id = "r5";
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_string_equal(resp->request_id, "r5");
    kp_client_response_destroy(&resp);
    const char *order[] = {"r2", "r1", "r0", "r4", "r3"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(kp_client_recv(client, 5000, &resp), 0);
        assert_string_equal(resp->request_id, order[i]);
        kp_client_response_destroy(&resp);
    }
    assert_int_equal(kp_client_recv(client, 0, &resp), KP_CLIENT_EIDLE);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

static void test_client_hostile(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_HOSTILE, 0);
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.malformed, 2);
    assert_int_equal(stats.unknown, 1);
    assert_int_equal(stats.answered, 1);
    kp_client_destroy(&client);
    s_node_stop(&node);
}

static void test_client_late(void **state)
{
    (void)state;
    //  A duplicate answer to an id already answered is dropped and counted.
    fake_node_t *twice = s_node_start(NODE_TWICE, 0);
    const char *ep[] = {twice->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    kp_client_response_destroy(&resp);
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_true(stats.duplicates >= 1);
    assert_int_equal(stats.late, 0);
    assert_int_equal(stats.answered, 2);
    kp_client_destroy(&client);
    s_node_stop(&twice);

    //  An answer arriving after the client gave up is dropped too.
    fake_node_t *late = s_node_start(NODE_LATE, 0);
    const char *ep2[] = {late->endpoint};
    client = kp_client_new(ep2, 1);
    kp_client_set_attempts(client, 1);
    assert_int_equal(kp_client_call(client, &req, 100, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__TIMEOUT);
    kp_client_response_destroy(&resp);
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    kp_client_response_destroy(&resp);
    //  The late answer to the first was sent after the second's: wait.
    assert_int_equal(kp_client_recv(client, 0, &resp), KP_CLIENT_EIDLE);
    req.request_id = "probe";
    assert_int_equal(kp_client_send(client, &req, 300, NULL), 0);
    assert_int_equal(kp_client_recv(client, 1000, &resp), 0);
    kp_client_response_destroy(&resp);
    kp_client_stats(client, &stats);
    assert_int_equal(stats.late, 1);
    kp_client_destroy(&client);
    s_node_stop(&late);
}

//  Without a fixed attempt timeout, the request's deadline_ms bounds the
//  attempt: a silent node is left after deadline_ms + 250 ms, not after
//  the caller's whole timeout.
static void test_client_deadline_bounds_attempt(void **state)
{
    (void)state;
    fake_node_t *silent = s_node_start(NODE_SILENT, 0);
    fake_node_t *live = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {silent->endpoint, live->endpoint};
    kp_client_t *client = kp_client_new(ep, 2);
    Kp__Request req = s_request();
    req.has_deadline_ms = true;
    req.deadline_ms = 100;
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    assert_string_equal(kp_client_endpoint(client), live->endpoint);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.failovers, 1);
    kp_client_destroy(&client);
    s_node_stop(&silent);
    s_node_stop(&live);
}

//  A client on a NODE_HOLD node that has seen 10 quick answers (the node's
//  p99 is known: small) and has sent slow_id, which the node holds.
static kp_client_t *s_slow_start(fake_node_t *node, const char *slow_id)
{
    const char *ep[] = {node->endpoint};
    kp_client_t *client = kp_client_new(ep, 1);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
        kp_client_response_destroy(&resp);
    }
    req.request_id = (char *)slow_id;
    assert_int_equal(kp_client_send(client, &req, 10000, NULL), 0);
    return client;
}

//  The node lets slow_id go; it must come on the first connection, never
//  resent, the node never left.
static void s_slow_end(kp_client_t **client_p, const char *slow_id)
{
    kp_client_t *client = *client_p;
    Kp__Request req = s_request();
    req.request_id = "release";
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
    kp_client_response_destroy(&resp);
    assert_int_equal(kp_client_recv(client, 5000, &resp), 0);
    assert_string_equal(resp->request_id, slow_id);
    assert_int_equal(resp->status, KP__STATUS__OK);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.failovers, 0);
    assert_int_equal(stats.resent, 0);
    assert_int_equal(stats.unknown, 0); //  pongs are not strays
    kp_client_destroy(client_p);
}

//  A slow request on a node that answers others meanwhile: its attempt
//  (8 x the node's p99 + 250 ms) runs out, but the node is alive, so the
//  request waits there until its ceiling instead of being resent.
static void test_client_slow_not_lost(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_HOLD, 0);
    kp_client_t *client = s_slow_start(node, "slow-1");
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    int64_t start = zclock_mono();
    while (zclock_mono() - start < 600) { //  well past the attempt
        assert_int_equal(kp_client_call(client, &req, 5000, &resp), 0);
        assert_int_equal(resp->status, KP__STATUS__OK);
        kp_client_response_destroy(&resp);
    }
    s_slow_end(&client, "slow-1");
    s_node_stop(&node);
}

//  The same slow request alone: nothing else comes from the node, but it
//  answers the client's ping (its loop turns), so the request still waits
//  there instead of being resent.
static void test_client_ping(void **state)
{
    (void)state;
    fake_node_t *node = s_node_start(NODE_HOLD, 0);
    kp_client_t *client = s_slow_start(node, "slow-2");
    int64_t start = zclock_mono();
    kp_client_stats_t stats;
    do { //  the client alone: its attempt ends, it pings, the pong comes
        Kp__Response *resp = NULL;
        int rc = kp_client_recv(client, 20, &resp);
        if (rc == 0)
            fail_msg("%s answered %d before its release", resp->request_id, resp->status);
        assert_int_equal(rc, KP_CLIENT_ETIMEDOUT);
        kp_client_stats(client, &stats);
    } while (stats.pings == 0 || zclock_mono() - start < 800);
    assert_int_equal(stats.pings, 1);
    s_slow_end(&client, "slow-2");
    s_node_stop(&node);
}

//  A first endpoint where nothing listens: the connection never comes up,
//  and the client moves on without waiting for any attempt timeout.
static void test_client_dead_endpoint(void **state)
{
    (void)state;
    fake_node_t *gone = s_node_start(NODE_ANSWER, 0);
    char dead[128];
    snprintf(dead, sizeof dead, "%s", gone->endpoint);
    s_node_stop(&gone); //  its port is closed now
    fake_node_t *live = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {dead, live->endpoint};
    kp_client_t *client = kp_client_new(ep, 2);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    assert_string_equal(kp_client_endpoint(client), live->endpoint);
    kp_client_response_destroy(&resp);
    kp_client_destroy(&client);
    s_node_stop(&live);
}

//  Hedging: the node holds the request; after the hedge delay it goes to
//  the next node too, whose answer is handed out; no failover.
static void test_client_hedging(void **state)
{
    (void)state;
    fake_node_t *slow = s_node_start(NODE_SILENT, 0);
    fake_node_t *live = s_node_start(NODE_ANSWER, 0);
    const char *ep[] = {slow->endpoint, live->endpoint};
    kp_client_t *client = kp_client_new(ep, 2);
    kp_client_set_hedging(client, 50, 50);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK);
    char id_slow[KP_CLIENT_ID_MAX], id_live[KP_CLIENT_ID_MAX];
    assert_int_equal(s_node_seen(slow, id_slow), 1);
    assert_int_equal(s_node_seen(live, id_live), 1);
    assert_string_equal(id_slow, id_live); //  the same id on both
    assert_string_equal(resp->request_id, id_live);
    kp_client_response_destroy(&resp);
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    assert_int_equal(stats.hedges, 1);
    assert_int_equal(stats.hedge_wins, 1);
    assert_int_equal(stats.failovers, 0);
    assert_string_equal(kp_client_endpoint(client), slow->endpoint);
    kp_client_destroy(&client);
    s_node_stop(&slow);
    s_node_stop(&live);
}

//  Site preference: a node of the client's own site cut off from its
//  majority (NO_QUORUM to requests and pings) sends it to the other site,
//  which answers; probes of the own site keep it away while they are
//  answered UNAVAILABLE, and bring it back once they are answered OK.
static void test_client_site(void **state)
{
    (void)state;
    fake_node_t *home = s_node_start(NODE_ANSWER, 0);
    fake_node_t *away = s_node_start(NODE_ANSWER, 0);
    atomic_store(&home->stale, 1);
    const char *ep[] = {away->endpoint, home->endpoint};
    const char *sites[] = {"b", "a"};
    kp_client_t *client = kp_client_new(ep, 2);
    assert_int_equal(kp_client_set_site(client, "a", sites), 0);
    kp_client_set_failback(client, 200);
    assert_string_equal(kp_client_endpoint(client), home->endpoint);
    Kp__Request req = s_request();
    Kp__Response *resp = NULL;
    assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
    assert_int_equal(resp->status, KP__STATUS__OK); //  moved on: the other site answered
    kp_client_response_destroy(&resp);
    assert_string_equal(kp_client_endpoint(client), away->endpoint);
    //  Probes answered NO_QUORUM: calls keep going to the other site until
    //  the own site's node has been probed several times.
    kp_client_stats_t stats;
    for (int calls = 0; calls < 1000 && s_node_seen(home, NULL) < 8; calls++) {
        assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
        kp_client_response_destroy(&resp);
        usleep(10000);
    }
    assert_true(s_node_seen(home, NULL) >= 8);
    kp_client_stats(client, &stats);
    assert_int_equal(stats.failbacks, 0);
    assert_true(stats.redirects >= 1);
    assert_string_equal(kp_client_endpoint(client), away->endpoint);
    //  The own site's node is healthy again: the client comes back.
    atomic_store(&home->stale, 0);
    for (int calls = 0; calls < 3000 && strcmp(kp_client_endpoint(client), home->endpoint);
         calls++) {
        assert_int_equal(kp_client_call(client, &req, 60000, &resp), 0);
        assert_int_equal(resp->status, KP__STATUS__OK);
        kp_client_response_destroy(&resp);
        usleep(10000);
    }
    assert_string_equal(kp_client_endpoint(client), home->endpoint);
    kp_client_stats(client, &stats);
    assert_int_equal(stats.failbacks, 1);
    kp_client_destroy(&client);
    s_node_stop(&home);
    s_node_stop(&away);
}

// ---------------------------------------------------------------------------
// Worker: the fake node runs in the test's own thread.

typedef struct {
    void *ctx;
    void *sock;
    char endpoint[128];
} router_t;

static void s_router_open(router_t *r)
{
    r->ctx = zmq_ctx_new();
    r->sock = zmq_socket(r->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(r->sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(r->sock, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof r->endpoint;
    zmq_getsockopt(r->sock, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
}

static void s_router_close(router_t *r)
{
    zmq_close(r->sock);
    zmq_ctx_term(r->ctx);
}

//  Next frame from any worker within timeout_ms, or NULL; identity kept.
static Kp__WorkerFrame *s_router_recv(router_t *r, int timeout_ms, zmq_msg_t *identity)
{
    zmq_pollitem_t item = {r->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t body;
    zmq_msg_init(&body);
    zmq_msg_recv(identity, r->sock, 0);
    zmq_msg_recv(&body, r->sock, 0);
    Kp__WorkerFrame *frame =
        kp__worker_frame__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
    zmq_msg_close(&body);
    return frame;
}

static void s_router_send(router_t *r, zmq_msg_t *identity, const Kp__WorkerFrame *frame)
{
    uint8_t buf[1024];
    size_t size = kp__worker_frame__pack(frame, buf);
    s_send_bytes(r->sock, identity, buf, size, false);
}

static void s_router_beat(router_t *r, zmq_msg_t *identity)
{
    Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HEARTBEAT;
    frame.heartbeat = &beat;
    s_router_send(r, identity, &frame);
}

static void s_router_request(router_t *r, zmq_msg_t *identity, uint64_t ticket)
{
    Kp__WorkerRequest req = KP__WORKER_REQUEST__INIT;
    req.request_id = "abc-1";
    req.message = "wage-data";
    req.person = "85073003328";
    req.has_ticket = true;
    req.ticket = ticket;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_REQUEST;
    frame.request = &req;
    s_router_send(r, identity, &frame);
}

//  The worker's next frame of the given kind, skipping heartbeats.
static Kp__WorkerFrame *s_expect(router_t *r, kp_worker_t *w, Kp__WorkerFrame__BodyCase kind,
                                 zmq_msg_t *identity)
{
    for (int round = 0; round < 50; round++) {
        Kp__WorkerRequest *req = NULL;
        kp_worker_recv(w, 10, &req);
        kp_worker_request_destroy(&req);
        Kp__WorkerFrame *frame;
        while ((frame = s_router_recv(r, 10, identity))) {
            if (frame->body_case == kind)
                return frame;
            kp__worker_frame__free_unpacked(frame, NULL);
        }
    }
    return NULL;
}

static void test_worker_session(void **state)
{
    (void)state;
    router_t r;
    s_router_open(&r);
    const char *messages[] = {"wage-data", "unemployment"};
    assert_null(kp_worker_new(r.endpoint, "", messages, 2));
    assert_null(kp_worker_new(r.endpoint, "0123456749", NULL, 2));
    //  No message types: a worker that only takes notifications.
    kp_worker_t *notified = kp_worker_new(r.endpoint, "0123456749", NULL, 0);
    assert_non_null(notified);
    kp_worker_destroy(&notified);
    kp_worker_t *w = kp_worker_new(r.endpoint, "0123456749", messages, 2);
    assert_non_null(w);
    kp_worker_set_concurrency(w, 4);
    kp_worker_set_heartbeat(w, 100);
    zmq_msg_t identity;
    zmq_msg_init(&identity);
    Kp__WorkerFrame *frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_HELLO, &identity);
    assert_non_null(frame);
    assert_string_equal(frame->hello->kbo, "0123456749");
    assert_int_equal(frame->hello->n_messages, 2);
    assert_string_equal(frame->hello->messages[1], "unemployment");
    assert_int_equal(frame->hello->concurrency, 4);
    kp__worker_frame__free_unpacked(frame, NULL);
    assert_false(kp_worker_accepted(w));

    s_router_beat(&r, &identity);
    s_router_request(&r, &identity, 7);
    Kp__WorkerRequest *req = NULL;
    assert_int_equal(kp_worker_recv(w, 2000, &req), 0);
    assert_true(kp_worker_accepted(w));
    assert_int_equal(req->ticket, 7);
    assert_string_equal(req->request_id, "abc-1");
    assert_int_equal(kp_worker_reply(w, req, KP__STATUS__OK, "{}", 2), 0);
    //  A second reply to the same ticket is not sent.
    assert_int_equal(kp_worker_reply(w, req, KP__STATUS__OK, "{}", 2), KP_WORKER_ESTALE);
    kp_worker_request_destroy(&req);

    zmq_msg_t id2;
    zmq_msg_init(&id2);
    frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_REPLY, &id2);
    assert_non_null(frame);
    assert_int_equal(frame->reply->ticket, 7);
    assert_string_equal(frame->reply->request_id, "abc-1");
    assert_int_equal(frame->reply->status, KP__STATUS__OK);
    assert_memory_equal(frame->reply->payload.data, "{}", 2);
    kp__worker_frame__free_unpacked(frame, NULL);

    //  Heartbeats flow while the worker waits.
    frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_HEARTBEAT, &id2);
    assert_non_null(frame);
    kp__worker_frame__free_unpacked(frame, NULL);

    //  Destroy says bye.
    kp_worker_destroy(&w);
    assert_null(w);
    frame = NULL;
    for (int i = 0; i < 50 && !frame; i++) {
        frame = s_router_recv(&r, 20, &id2);
        if (frame && frame->body_case != KP__WORKER_FRAME__BODY_BYE) {
            kp__worker_frame__free_unpacked(frame, NULL);
            frame = NULL;
        }
    }
    assert_non_null(frame);
    kp__worker_frame__free_unpacked(frame, NULL);
    zmq_msg_close(&identity);
    zmq_msg_close(&id2);
    s_router_close(&r);
}

static void test_worker_silence(void **state)
{
    (void)state;
    router_t r;
    s_router_open(&r);
    const char *messages[] = {"wage-data"};
    kp_worker_t *w = kp_worker_new(r.endpoint, "0123456749", messages, 1);
    kp_worker_set_heartbeat(w, 50);
    zmq_msg_t identity;
    zmq_msg_init(&identity);
    Kp__WorkerFrame *frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_HELLO, &identity);
    assert_non_null(frame);
    kp__worker_frame__free_unpacked(frame, NULL);
    s_router_beat(&r, &identity);
    s_router_request(&r, &identity, 9);
    Kp__WorkerRequest *req = NULL;
    assert_int_equal(kp_worker_recv(w, 2000, &req), 0);
    //  The node says nothing more: after 3 intervals, a new hello.
    zmq_msg_t id2;
    zmq_msg_init(&id2);
    frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_HELLO, &id2);
    assert_non_null(frame);
    kp__worker_frame__free_unpacked(frame, NULL);
    kp_worker_stats_t stats;
    kp_worker_stats(w, &stats);
    assert_true(stats.silences >= 1);
    //  The old session's ticket is void.
    assert_int_equal(kp_worker_reply(w, req, KP__STATUS__OK, NULL, 0), KP_WORKER_ESTALE);
    kp_worker_request_destroy(&req);
    kp_worker_destroy(&w);
    zmq_msg_close(&identity);
    zmq_msg_close(&id2);
    s_router_close(&r);
}

static void test_worker_refused(void **state)
{
    (void)state;
    router_t r;
    s_router_open(&r);
    const char *messages[] = {"wage-data"};
    kp_worker_t *w = kp_worker_new(r.endpoint, "0123456789", messages, 1);
    zmq_msg_t identity;
    zmq_msg_init(&identity);
    Kp__WorkerFrame *frame = s_expect(&r, w, KP__WORKER_FRAME__BODY_HELLO, &identity);
    assert_non_null(frame);
    kp__worker_frame__free_unpacked(frame, NULL);
    Kp__WorkerError error = KP__WORKER_ERROR__INIT;
    error.has_reason = true;
    error.reason = KP__REASON__INVALID_KBO;
    error.detail = "bad check digits";
    Kp__WorkerFrame reply = KP__WORKER_FRAME__INIT;
    reply.body_case = KP__WORKER_FRAME__BODY_ERROR;
    reply.error = &error;
    s_router_send(&r, &identity, &reply);
    //  Garbage from the node is ignored, not fatal.
    s_send_bytes(r.sock, &identity, "\xff\x01", 2, false);
    Kp__WorkerRequest *req = NULL;
    int rc;
    int64_t end = zclock_mono() + 2000;
    while ((rc = kp_worker_recv(w, 50, &req)) == KP_WORKER_ETIMEDOUT && zclock_mono() < end)
        ;
    assert_int_equal(rc, KP_WORKER_EREFUSED);
    assert_int_equal(kp_worker_error_reason(w), KP__REASON__INVALID_KBO);
    assert_string_equal(kp_worker_error_detail(w), "bad check digits");
    assert_false(kp_worker_accepted(w));
    kp_worker_destroy(&w);
    zmq_msg_close(&identity);
    s_router_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_arguments),
        cmocka_unit_test(test_client_ids),
        cmocka_unit_test(test_client_call),
        cmocka_unit_test(test_client_timeout),
        cmocka_unit_test(test_client_failover),
        cmocka_unit_test(test_client_pipelining),
        cmocka_unit_test(test_client_many),
        cmocka_unit_test(test_client_call_among_ready),
        cmocka_unit_test(test_client_shutting_down),
        cmocka_unit_test(test_client_hostile),
        cmocka_unit_test(test_client_late),
        cmocka_unit_test(test_client_deadline_bounds_attempt),
        cmocka_unit_test(test_client_dead_endpoint),
        cmocka_unit_test(test_client_slow_not_lost),
        cmocka_unit_test(test_client_ping),
        cmocka_unit_test(test_client_hedging),
        cmocka_unit_test(test_client_site),
        cmocka_unit_test(test_worker_session),
        cmocka_unit_test(test_worker_silence),
        cmocka_unit_test(test_worker_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
