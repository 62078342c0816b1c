/*  test_limits.c - the node's bounds on what its peers can make it hold,
    over real sockets against a real kpnode.

    Institution SLOW has a black-hole worker: it says hello, takes work and
    never answers (it only heartbeats). Institution FAST has a worker that
    answers at once. Every test here fails on a node without the limits:
    a connection flood that exhausted the default 1,024 files made libzmq
    spin and kept new clients out; one client's calls held to their
    deadline had no bound; a hello of any size was taken.
*/
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define REQUESTER "0206731645"
#define SLOW "0300000115"    //  sector 17 type 1: serves A1
#define FAST "0300000214"    //  sector 30 type 2: serves U1
#define PERSON "85073003328" //  held by all three

static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" REQUESTER
    "\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}\n"
    "{\"table\":\"institution\",\"kbo\":\"" SLOW "\",\"name\":\"S\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"institution\",\"kbo\":\"" FAST "\",\"name\":\"F\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"U1\"]}\n"
    "{\"table\":\"user\",\"id\":\"rsz-other\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"U1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"U1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"U1\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" SLOW "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" FAST "\",\"sector\":30,"
    "\"type\":2,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

static const char *s_self; //  this program, re-run as a worker

//  ---------------------------------------------------------------------
//  Helpers

//  Black-hole mode: PROGRAM --black-hole ENDPOINT KBO CONCURRENCY MESSAGE.
//  Says hello, then only heartbeats: every request it is given stays
//  unanswered.
static int s_black_hole_main(char **argv)
{
    zsock_t *sock = harness_worker_dealer(argv[2], argv[3]);
    if (!sock)
        return 1;
    char *messages[] = {argv[5]};
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    hello.kbo = argv[3];
    hello.messages = messages;
    hello.n_messages = 1;
    hello.has_concurrency = true;
    hello.concurrency = (uint32_t)atoi(argv[4]);
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    harness_worker_send(sock, &frame);
    zsock_set_rcvtimeo(sock, 50);
    int64_t next_beat = 0;
    bool forgotten = false;
    while (!zsys_interrupted) {
        zframe_t *in = zframe_recv(sock); //  work, swallowed
        Kp__WorkerFrame *got =
            in ? kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in)) : NULL;
        //  Declared dead (a loaded machine): the next beat is a hello.
        forgotten |= got && got->body_case == KP__WORKER_FRAME__BODY_ERROR;
        kp__worker_frame__free_unpacked(got, NULL);
        zframe_destroy(&in);
        if (harness_now_ms() < next_beat)
            continue;
        next_beat = harness_now_ms() + 50;
        Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
        Kp__WorkerFrame hb = KP__WORKER_FRAME__INIT;
        hb.body_case = KP__WORKER_FRAME__BODY_HEARTBEAT;
        hb.heartbeat = &beat;
        harness_worker_send(sock, forgotten ? &frame : &hb);
        forgotten = false;
    }
    zsock_destroy(&sock);
    return 0;
}

static void s_black_hole(harness_t *harness, const char *concurrency)
{
    char *argv[] = {
        (char *)s_self, "--black-hole", harness->worker[0], SLOW, (char *)concurrency, "A1", NULL};
    harness_spawn(harness, argv);
}

static void s_fast_worker(harness_t *harness)
{
    char logfile[300];
    snprintf(logfile, sizeof logfile, "%s/fast.log", harness->dir);
    char *argv[] = {(char *)s_self, "--worker", harness->worker[0], FAST, "0", logfile, "U1", NULL};
    harness_spawn(harness, argv);
}

//  A node with the test directory, the limits given (lines of the
//  "limits" section) and both workers; CURVE when secure. Heartbeats of
//  500 ms: these tests are about limits, not liveness, and during the
//  flood at load 25 the node heard nothing from the fast worker for
//  474 ms (its I/O thread busy with 2,000 connections, or the worker not
//  scheduled), past 3 intervals of 100 ms.
static harness_t *s_node_as(const char *limits, const char *black_hole_concurrency, bool secure)
{
    harness_t *harness =
        secure ? harness_new(1, 500, 1000, 65536) : harness_new_insecure(1, 500, 1000, 65536);
    if (limits)
        harness_limits(harness, limits);
    harness_start_node(harness, 0);
    harness_load(harness, 0, s_directory);
    s_black_hole(harness, black_hole_concurrency);
    s_fast_worker(harness);
    if (!harness_wait_workers(harness, 0, 2))
        fail_msg("the workers never registered");
    return harness;
}

//  Plain text on purpose: these tests are about what peers can make a
//  node hold, and flood it with raw sockets (test_security covers keys).
static harness_t *s_node(const char *limits, const char *black_hole_concurrency)
{
    return s_node_as(limits, black_hole_concurrency, false);
}

static Kp__Request s_request(const char *id, const char *message, uint32_t deadline_ms)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = "rsz-app";
    request.message = (char *)message;
    request.person = PERSON;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.type = 0;
    request.capacity = 1;
    request.has_deadline_ms = deadline_ms > 0;
    request.deadline_ms = deadline_ms;
    return request;
}

//  One call of U1 (FAST's) on a new connection: answered OK in time.
static void s_fast_call_ok(harness_t *harness, const char *id)
{
    zsock_t *client = harness_client(harness, 0);
    Kp__Request request = s_request(id, "U1", 2000);
    Kp__Response *response = harness_call(client, &request, 3000);
    zsock_destroy(&client);
    if (!response)
        fail_msg("%s: no answer within its deadline", id);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
}

//  The node's "limits" from kpctl status: limits.NAME.refused (or, with
//  name NULL, limits.connections).
static int64_t s_limit(harness_t *harness, const char *name)
{
    Kp__AdminReply *reply = harness_admin(harness, 0, "status", NULL, 3000);
    assert_non_null(reply);
    json_t *status = json_loads(reply->json, 0, NULL);
    json_t *limits = json_object_get(status, "limits");
    json_t *value = name ? json_object_get(json_object_get(limits, name), "refused")
                         : json_object_get(limits, "connections");
    int64_t result = json_is_integer(value) ? json_integer_value(value) : -1;
    json_decref(status);
    kp__admin_reply__free_unpacked(reply, NULL);
    return result;
}

//  Waits (up to 10 s) until limits.NAME.refused is at least count.
static bool s_wait_refused(harness_t *harness, const char *name, int64_t count)
{
    for (int64_t give_up = harness_now_ms() + 10000; harness_now_ms() < give_up;) {
        if (s_limit(harness, name) >= count)
            return true;
        zclock_sleep(20);
    }
    return false;
}

//  Opens count plain TCP connections to endpoint (tcp://127.0.0.1:PORT)
//  and keeps them open; returns them.
static int *s_flood(const char *endpoint, int count)
{
    int port = atoi(strrchr(endpoint, ':') + 1);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int *fds = calloc((size_t)count, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0)
            fail_msg("socket: %s (the test needs %d files)", strerror(errno), count + 100);
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof addr))
            fail_msg("connect: %s", strerror(errno));
    }
    return fds;
}

static void s_unflood(int *fds, int count)
{
    for (int i = 0; i < count; i++)
        close(fds[i]);
    free(fds);
}

//  Receives answers on client until count have come or timeout_ms; counts
//  those with reason into *with_reason.
static int s_collect(zsock_t *client, int count, int timeout_ms, Kp__Reason reason,
                     int *with_reason)
{
    int got = 0;
    *with_reason = 0;
    for (int64_t give_up = harness_now_ms() + timeout_ms; got < count;) {
        int64_t left = give_up - harness_now_ms();
        Kp__Response *response = left > 0 ? harness_recv(client, (int)left) : NULL;
        if (!response)
            break;
        got++;
        if (response->has_reason && response->reason == reason)
            (*with_reason)++;
        kp__response__free_unpacked(response, NULL);
    }
    return got;
}

//  ---------------------------------------------------------------------
//  Tests

//  2,000 connections that never speak ZMTP, a black-hole worker that
//  takes every A1 call of a flood: a client that connects afterwards
//  still gets its U1 calls answered within their deadline. The node is
//  started with the soft file limit most systems give (1,024), as on a
//  default install; it must raise it itself.
static void test_flood_and_black_hole(void **state)
{
    (void)state;
    struct rlimit files;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &files), 0);
    if (files.rlim_max < 2400)
        skip(); //  the test itself needs 2,000 files
    struct rlimit low = {1024, files.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    harness_t *harness = s_node(NULL, "256");
    struct rlimit high = {files.rlim_max, files.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &high), 0);

    zsock_t *flooder = harness_client(harness, 0);
    char id[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "flood-%d", i);
        Kp__Request request = s_request(id, "A1", 60000);
        harness_send(flooder, &request);
    }
    int *fds = s_flood(harness->client[0], 2000);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "fast-%d", i);
        s_fast_call_ok(harness, id);
    }
    s_unflood(fds, 2000);
    //  The guard saw every one of them go: its count comes back down to
    //  the few real peers (a count that drifted up would refuse everyone).
    bool back = false;
    for (int64_t give_up = harness_now_ms() + 10000; !back && harness_now_ms() < give_up;
         zclock_sleep(50))
        back = s_limit(harness, NULL) <= 8;
    if (!back)
        fail_msg("the node still counts %lld connections", (long long)s_limit(harness, NULL));
    zsock_destroy(&flooder);
    harness_destroy(&harness);
}

//  Past max-connections a new connection is closed at once and counted;
//  the clients already connected go on being answered.
static void test_max_connections(void **state)
{
    (void)state;
    harness_t *harness = s_node("    max-connections = 64\n", "1");
    zsock_t *client = harness_client(harness, 0);
    Kp__Request request = s_request("before", "U1", 2000);
    Kp__Response *response = harness_call(client, &request, 3000);
    assert_non_null(response);
    kp__response__free_unpacked(response, NULL);

    int *fds = s_flood(harness->client[0], 200);
    if (!s_wait_refused(harness, "max-connections", 100))
        fail_msg("the connections past max-connections were not refused");
    assert_true(s_limit(harness, NULL) <= 64 + 8);
    request = s_request("during", "U1", 2000);
    response = harness_call(client, &request, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    s_unflood(fds, 200);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

//  A client may have max-in-flight calls in flight; past that its calls
//  are refused at once (UNAVAILABLE, TOO_MANY_IN_FLIGHT) and counted,
//  while another client is not held back by it.
static void test_in_flight_per_client(void **state)
{
    (void)state;
    harness_t *harness = s_node("    max-in-flight = 4\n", "256");
    zsock_t *greedy = harness_client(harness, 0);
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "greedy-%d", i);
        Kp__Request request = s_request(id, "A1", 5000);
        harness_send(greedy, &request);
    }
    int refused;
    //  The six past the bound come back long before the deadline.
    assert_int_equal(s_collect(greedy, 6, 3000, KP__REASON__TOO_MANY_IN_FLIGHT, &refused), 6);
    assert_int_equal(refused, 6);
    assert_int_equal(s_limit(harness, "max-in-flight"), 6);
    s_fast_call_ok(harness, "other-client");
    zsock_destroy(&greedy);
    harness_destroy(&harness);
}

//  A deadline longer than max-deadline is refused: a client cannot hold
//  the node's memory for longer than the operator allows.
//  Secure: the bound is the key's user's, over all its connections. Three
//  calls held on one connection, three more on a second connection of
//  the same key and one on a third: past the fourth, each is refused
//  (before, each connection had a bound of its own). Another user is
//  answered.
static void test_in_flight_per_identity(void **state)
{
    (void)state;
    harness_t *harness = s_node_as("    max-in-flight = 4\n", "256", true);
    zsock_t *first = harness_client_as(harness, 0, "app-rsz-app");
    zsock_t *second = harness_client_as(harness, 0, "app-rsz-app");
    zsock_t *third = harness_client_as(harness, 0, "app-rsz-app");
    zsock_t *socks[] = {first, first, first, second, second, second, third};
    char id[32];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "held-%d", i);
        Kp__Request request = s_request(id, "A1", 5000);
        harness_send(socks[i], &request);
        if (i == 2) //  the first three are in flight before the others come
            assert_true(harness_wait_count(harness, 0, "in_flight", 3, 5000));
        //  and the second's three before the third's: which connection's
        //  calls arrive first decides which of them is held (a loaded
        //  machine may finish the third's handshake first).
        if (i == 5)
            assert_true(s_wait_refused(harness, "max-in-flight", 2));
    }
    int refused_second, refused_third;
    //  The refusals come back long before the held calls' deadline.
    assert_int_equal(s_collect(second, 2, 3000, KP__REASON__TOO_MANY_IN_FLIGHT, &refused_second),
                     2);
    assert_int_equal(s_collect(third, 1, 3000, KP__REASON__TOO_MANY_IN_FLIGHT, &refused_third), 1);
    assert_int_equal(refused_second + refused_third, 3);
    assert_int_equal(s_limit(harness, "max-in-flight"), 3);
    //  Another user of the same institution is not held back.
    zsock_t *other = harness_client_as(harness, 0, "app-rsz-other");
    Kp__Request request = s_request("other-user", "U1", 2000);
    request.user = "rsz-other";
    Kp__Response *response = harness_call(other, &request, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&other);
    zsock_destroy(&third);
    zsock_destroy(&second);
    zsock_destroy(&first);
    harness_destroy(&harness);
}

static void test_max_deadline(void **state)
{
    (void)state;
    harness_t *harness = s_node("    max-deadline = 10000\n", "1");
    zsock_t *client = harness_client(harness, 0);
    Kp__Request request = s_request("long", "U1", 600000);
    Kp__Response *response = harness_call(client, &request, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__INVALID);
    assert_int_equal(response->reason, KP__REASON__DEADLINE_TOO_LONG);
    kp__response__free_unpacked(response, NULL);
    assert_int_equal(s_limit(harness, "max-deadline"), 1);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

//  Parts waiting for a busy institution are bounded per institution: past
//  max-waiting they are answered UNAVAILABLE / QUEUE_FULL at once, and the
//  waiting of SLOW's parts never holds up FAST's.
static void test_waiting_per_institution(void **state)
{
    (void)state;
    harness_t *harness = s_node("    max-waiting = 5\n", "1");
    zsock_t *client = harness_client(harness, 0);
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "wait-%d", i);
        Kp__Request request = s_request(id, "A1", 5000);
        harness_send(client, &request);
    }
    //  One went to the black hole, five wait, four are refused at once.
    if (!s_wait_refused(harness, "max-waiting", 4))
        fail_msg("parts past max-waiting were not refused");
    int full;
    assert_int_equal(s_collect(client, 4, 3000, KP__REASON__QUEUE_FULL, &full), 4);
    assert_int_equal(full, 4);
    s_fast_call_ok(harness, "not-held-up");
    zsock_destroy(&client);
    harness_destroy(&harness);
}

//  What the node answers a worker's hello: the WorkerError's reason, or
//  REASON_NONE when it accepted it (a heartbeat).
static Kp__Reason s_hello(harness_t *harness, const char *kbo, size_t messages, size_t name_size,
                          uint32_t concurrency, zsock_t **keep)
{
    zsock_t *sock = zsock_new_dealer(harness->worker[0]);
    assert_non_null(sock);
    char **names = calloc(messages, sizeof *names);
    for (size_t i = 0; i < messages; i++) {
        names[i] = malloc(name_size + 1);
        snprintf(names[i], name_size + 1, "M%0*zu", (int)name_size - 1, i);
    }
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    hello.kbo = (char *)kbo;
    hello.messages = names;
    hello.n_messages = messages;
    hello.has_concurrency = true;
    hello.concurrency = concurrency;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    harness_worker_send(sock, &frame);
    for (size_t i = 0; i < messages; i++)
        free(names[i]);
    free(names);
    zsock_set_rcvtimeo(sock, 3000);
    zframe_t *in = zframe_recv(sock);
    assert_non_null(in);
    Kp__WorkerFrame *answer = kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in));
    zframe_destroy(&in);
    assert_non_null(answer);
    Kp__Reason reason = answer->body_case == KP__WORKER_FRAME__BODY_ERROR ? answer->error->reason
                                                                          : KP__REASON__REASON_NONE;
    kp__worker_frame__free_unpacked(answer, NULL);
    if (keep)
        *keep = sock;
    else
        zsock_destroy(&sock);
    return reason;
}

//  Hellos are bounded: their size, the concurrency they ask for, and the
//  workers of one institution.
static void test_hello_bounds(void **state)
{
    (void)state;
    harness_t *harness = s_node("    max-workers = 2\n    max-concurrency = 64\n", "1");
    //  400 message types of 100 bytes: a 40 KB hello, within max-frame
    //  (64 KiB here), over the default max-hello (16 KiB).
    assert_int_equal(s_hello(harness, FAST, 400, 100, 1, NULL), KP__REASON__HELLO_TOO_LARGE);
    assert_int_equal(s_hello(harness, FAST, 1, 2, 65, NULL), KP__REASON__CONCURRENCY_TOO_HIGH);
    //  FAST has one worker: a second is welcome, a third is not.
    zsock_t *second = NULL;
    assert_int_equal(s_hello(harness, FAST, 1, 2, 64, &second), KP__REASON__REASON_NONE);
    assert_int_equal(s_hello(harness, FAST, 1, 2, 1, NULL), KP__REASON__TOO_MANY_WORKERS);
    assert_int_equal(s_limit(harness, "max-hello"), 1);
    assert_int_equal(s_limit(harness, "max-concurrency"), 1);
    assert_int_equal(s_limit(harness, "max-workers"), 1);
    zsock_destroy(&second);
    harness_destroy(&harness);
}

//  A node that did not run for a while (stopped: a loaded machine that
//  did not schedule it) does not count that time as its workers'
//  silence: the heartbeats they sent meanwhile wait unread. After it
//  continues, no worker is lost and a call is answered.
static void test_node_paused(void **state)
{
    (void)state;
    harness_t *harness = harness_new_insecure(1, 100, 1000, 65536);
    snprintf(harness->node_log[0], sizeof harness->node_log[0], "%s/node-1.log", harness->dir);
    harness_start_node(harness, 0);
    harness_load(harness, 0, s_directory);
    s_fast_worker(harness);
    if (!harness_wait_workers(harness, 0, 1))
        fail_msg("the worker never registered");
    //  Ten heartbeat intervals, where three silent ones make a worker dead.
    assert_int_equal(kill(harness->node[0], SIGSTOP), 0);
    zclock_sleep(1000);
    assert_int_equal(kill(harness->node[0], SIGCONT), 0);
    s_fast_call_ok(harness, "after-pause");
    FILE *log = fopen(harness->node_log[0], "r");
    assert_non_null(log);
    char line[1024];
    while (fgets(line, sizeof line, log))
        if (strstr(line, ": lost"))
            fail_msg("the node lost a worker while it was stopped: %s", line);
    fclose(log);
    harness_destroy(&harness);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    if (argc >= 7 && !strcmp(argv[1], "--worker"))
        return harness_worker_main(argc, argv);
    if (argc == 6 && !strcmp(argv[1], "--black-hole"))
        return s_black_hole_main(argv);
    zsys_init();
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_and_black_hole), cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_in_flight_per_client), cmocka_unit_test(test_in_flight_per_identity),
        cmocka_unit_test(test_max_deadline),         cmocka_unit_test(test_waiting_per_institution),
        cmocka_unit_test(test_hello_bounds),         cmocka_unit_test(test_node_paused),
    };
    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
