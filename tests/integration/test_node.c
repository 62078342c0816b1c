/*  test_node.c - the request path through a real kpnode process.

    Starts kpnode on loopback, loads a small directory through the admin
    socket, and starts provider workers as real processes (this same
    program, re-run with --worker). Then sends requests as a client would,
    over a raw DEALER socket, and checks what comes back.
*/
#include <assert.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "validate.h"

#define REQUESTER "0206731645"
#define PROV_A "0300000115"        //  sector 17 type 1
#define PROV_B "0300000214"        //  sector 30 type 2
#define PROV_C "0411702543"        //  sector 17 type 1
#define PERSON_ONE "85073003328"   //  held by REQUESTER and PROV_C
#define PERSON_MANY "90010100123"  //  held by REQUESTER, PROV_A, PROV_B, PROV_C
#define PERSON_ALONE "75061512374" //  held by REQUESTER only
#define PERSON_OTHER "05031245618" //  held by PROV_C only

static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" REQUESTER
    "\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROV_A "\",\"name\":\"A\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROV_B "\",\"name\":\"B\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROV_C "\",\"name\":\"C\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"A2\",\"S1\",\"N1\",\"M1\",\"B1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A2\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"S1\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"N1\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"M1\"}\n"
    "{\"table\":\"legal\",\"kbo\":\"" REQUESTER "\",\"framework\":\"IVC-1\",\"message\":\"B1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"A2\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"A2\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"availability\",\"message\":\"S1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"S1\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"availability\",\"message\":\"N1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"M1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"B1\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"availability\",\"message\":\"C1\",\"sector\":30,\"type\":2}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_ONE "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_ONE "\",\"kbo\":\"" PROV_C "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_MANY "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_MANY "\",\"kbo\":\"" PROV_A "\",\"sector\":17,"
    "\"type\":1,\"capacity\":2,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_MANY "\",\"kbo\":\"" PROV_B "\",\"sector\":30,"
    "\"type\":2,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_MANY "\",\"kbo\":\"" PROV_C "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_ALONE "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_OTHER "\",\"kbo\":\"" PROV_C "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

static const char *s_self; //  this program, re-run as a worker

//  ---------------------------------------------------------------------
//  Test helpers

static harness_t *s_harness;

//  Starts a worker process for kbo; returns its pid. NULL-terminated
//  list of message types follows.
static pid_t s_start_worker(harness_t *harness, size_t node, const char *kbo, int delay_ms, ...)
{
    char delay[16], logfile[300];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    snprintf(logfile, sizeof logfile, "%s/served-%s-%d.log", harness->dir, kbo, delay_ms);
    char *argv[16] = {(char *)s_self, "--worker", harness->worker[node],
                      (char *)kbo,    delay,      logfile};
    int argc = 6;
    va_list args;
    va_start(args, delay_ms);
    const char *message;
    while ((message = va_arg(args, const char *)) && argc < 15)
        argv[argc++] = (char *)message;
    va_end(args);
    argv[argc] = NULL;
    return harness_spawn(harness, argv);
}

//  Waits until node reports at least count workers.
static void s_wait_workers(harness_t *harness, size_t node, int count)
{
    if (!harness_wait_workers(harness, node, count))
        fail_msg("%d workers never registered", count);
}

static Kp__Request s_request(const char *id, const char *message, const char *person)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = "rsz-app";
    request.message = (char *)message;
    request.person = (char *)person;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.type = 0;
    request.capacity = 1;
    return request;
}

static Kp__Response *s_call(const Kp__Request *request)
{
    zsock_t *client = harness_client_as(s_harness, 0, "app-rsz-app");
    Kp__Response *response = harness_call(client, request, 5000);
    zsock_destroy(&client);
    assert_non_null(response);
    assert_string_equal(response->request_id, request->request_id);
    return response;
}

static void s_expect(const char *id, const char *message, const char *person, Kp__Status status,
                     Kp__Reason reason)
{
    Kp__Request request = s_request(id, message, person);
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, status);
    assert_int_equal(response->reason, reason);
    kp__response__free_unpacked(response, NULL);
}

//  One running node with the test directory loaded.
static harness_t *s_node(int heartbeat_ms, int deadline_ms, int max_frame)
{
    harness_t *harness = harness_new(1, heartbeat_ms, deadline_ms, max_frame);
    harness_start_node(harness, 0);
    harness_load(harness, 0, s_directory);
    return harness;
}

//  ---------------------------------------------------------------------
//  One node, shared by most tests

static int s_setup(void **state)
{
    (void)state;
    s_harness = s_node(100, 2000, 4096);
    s_start_worker(s_harness, 0, PROV_C, 0, "A1", "A2", "S1", "M1", (const char *)NULL);
    s_start_worker(s_harness, 0, PROV_A, 0, "A2", "S1", (const char *)NULL);
    s_start_worker(s_harness, 0, PROV_B, 0, "A2", "B1", (const char *)NULL);
    s_start_worker(s_harness, 0, PROV_B, 1500, "S1", (const char *)NULL);
    s_wait_workers(s_harness, 0, 4);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    harness_destroy(&s_harness);
    return 0;
}

static void test_single_provider(void **state)
{
    (void)state;
    Kp__Request request = s_request("single-1", "A1", PERSON_ONE);
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__OK);
    assert_int_equal(response->n_parts, 1);
    assert_string_equal(response->parts[0]->kbo, PROV_C);
    assert_int_equal(response->parts[0]->status, KP__STATUS__OK);
    assert_non_null(strstr((char *)response->parts[0]->payload.data, PERSON_ONE));
    kp__response__free_unpacked(response, NULL);
}

static void test_integrated_all_parts(void **state)
{
    (void)state;
    Kp__Request request = s_request("many-1", "A2", PERSON_MANY);
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__OK);
    assert_int_equal(response->n_parts, 3);
    const char *expected[] = {PROV_A, PROV_B, PROV_C};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(response->parts[i]->kbo, expected[i]);
        assert_int_equal(response->parts[i]->status, KP__STATUS__OK);
        assert_non_null(strstr((char *)response->parts[i]->payload.data, expected[i]));
    }
    kp__response__free_unpacked(response, NULL);
}

static void test_integrated_slow_part(void **state)
{
    (void)state;
    Kp__Request request = s_request("slow-1", "S1", PERSON_MANY);
    request.has_deadline_ms = true;
    request.deadline_ms = 400;
    int64_t start = harness_now_ms();
    Kp__Response *response = s_call(&request);
    int64_t took = harness_now_ms() - start;
    assert_int_equal(response->status, KP__STATUS__PARTIAL);
    assert_int_equal(response->n_parts, 3);
    assert_string_equal(response->parts[1]->kbo, PROV_B);
    assert_int_equal(response->parts[1]->status, KP__STATUS__TIMEOUT);
    assert_int_equal(response->parts[0]->status, KP__STATUS__OK);
    assert_int_equal(response->parts[2]->status, KP__STATUS__OK);
    assert_true(took >= 350 && took < 1400); //  gathered until the deadline, not the slow part
    kp__response__free_unpacked(response, NULL);
}

static void test_denials(void **state)
{
    (void)state;
    //  A key of a user the directory does not hold (any more).
    harness_grant(s_harness, 0, "app-nobody", "application", "nobody");
    zsock_t *nobody = harness_client_as(s_harness, 0, "app-nobody");
    Kp__Request request = s_request("deny-user", "A1", PERSON_ONE);
    request.user = "nobody";
    Kp__Response *response = harness_call(nobody, &request, 5000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__DENIED);
    assert_int_equal(response->reason, KP__REASON__USER_UNKNOWN);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&nobody);

    s_expect("deny-msg", "C1", PERSON_ONE, KP__STATUS__DENIED, KP__REASON__USER_NOT_AUTHORIZED);

    request = s_request("deny-cap", "A1", PERSON_ONE);
    request.capacity = 2;
    response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__DENIED);
    assert_int_equal(response->reason, KP__REASON__CAPACITY_NOT_AUTHORIZED);
    kp__response__free_unpacked(response, NULL);

    s_expect("deny-person", "A1", PERSON_OTHER, KP__STATUS__DENIED,
             KP__REASON__PERSON_NOT_IN_DIRECTORY);

    request = s_request("deny-legal", "B1", PERSON_MANY);
    request.has_sector = request.has_type = false;
    request.kbo = REQUESTER;
    request.legal_framework = "IVC-2";
    response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__DENIED);
    assert_int_equal(response->reason, KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED);
    kp__response__free_unpacked(response, NULL);
}

static void test_legal_framework(void **state)
{
    (void)state;
    Kp__Request request = s_request("legal-ok", "B1", PERSON_MANY);
    request.has_sector = request.has_type = false;
    request.kbo = REQUESTER;
    request.legal_framework = "IVC-1";
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__OK);
    assert_int_equal(response->n_parts, 1);
    assert_string_equal(response->parts[0]->kbo, PROV_B);
    kp__response__free_unpacked(response, NULL);
}

static void test_no_data(void **state)
{
    (void)state;
    s_expect("nodata-1", "A1", PERSON_ALONE, KP__STATUS__NO_DATA, KP__REASON__REASON_NONE);
}

static void test_no_live_worker(void **state)
{
    (void)state;
    Kp__Request request = s_request("noworker-1", "N1", PERSON_ONE);
    int64_t start = harness_now_ms();
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__UNAVAILABLE);
    assert_int_equal(response->n_parts, 1);
    assert_int_equal(response->parts[0]->status, KP__STATUS__UNAVAILABLE);
    assert_true(harness_now_ms() - start < 1000); //  at once, not at the deadline
    kp__response__free_unpacked(response, NULL);
}

static void test_maintenance_window(void **state)
{
    (void)state;
    char from[21], to[21], line[512];
    kp_time_format((int64_t)time(NULL) - 3600, from);
    kp_time_format((int64_t)time(NULL) + 3600, to);
    snprintf(line, sizeof line,
             "{\"table\":\"maintenance\",\"id\":7,\"kbo\":\"" PROV_C "\",\"message\":\"M1\","
             "\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"upgrade\"}\n",
             from, to);
    harness_load(s_harness, 0, line);
    Kp__Request request = s_request("maint-1", "M1", PERSON_ONE);
    Kp__Response *response = s_call(&request);
    assert_int_equal(response->status, KP__STATUS__UNAVAILABLE);
    assert_int_equal(response->n_parts, 1);
    assert_string_equal(response->parts[0]->until, to);
    kp__response__free_unpacked(response, NULL);
    //  The same provider still answers other message types.
    s_expect("maint-2", "A1", PERSON_ONE, KP__STATUS__OK, KP__REASON__REASON_NONE);
}

static void test_retry_answered_once(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        s_expect("retry-1", "A1", PERSON_ONE, KP__STATUS__OK, KP__REASON__REASON_NONE);
    char path[300];
    snprintf(path, sizeof path, "%s/served-%s-0.log", s_harness->dir, PROV_C);
    assert_int_equal(harness_count_lines(path, "retry-1"), 1);
}

//  ---------------------------------------------------------------------
//  Bad input over a real socket: a named answer, and the node goes on.

static Kp__Response *s_send_raw(zmsg_t *msg)
{
    zsock_t *client = harness_client_as(s_harness, 0, "app-rsz-app");
    zmsg_send(&msg, client);
    Kp__Response *response = harness_recv(client, 3000);
    zsock_destroy(&client);
    assert_non_null(response);
    return response;
}

static void s_expect_raw(zmsg_t *msg, Kp__Reason reason)
{
    Kp__Response *response = s_send_raw(msg);
    assert_int_equal(response->status, KP__STATUS__INVALID);
    assert_int_equal(response->reason, reason);
    kp__response__free_unpacked(response, NULL);
}

static void test_bad_client_frames(void **state)
{
    (void)state;
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, "\xff\xff\xff\xff\x0f", 5);
    s_expect_raw(msg, KP__REASON__MALFORMED_FRAME);

    msg = zmsg_new();
    zmsg_addstr(msg, "one");
    zmsg_addstr(msg, "two");
    s_expect_raw(msg, KP__REASON__WRONG_FRAME_COUNT);

    Kp__Request request = s_request("big-1", "A1", PERSON_ONE);
    char big[5000];
    memset(big, 'x', sizeof big);
    request.has_payload = true;
    request.payload.data = (uint8_t *)big;
    request.payload.len = sizeof big;
    size_t size = kp__request__get_packed_size(&request);
    uint8_t *buffer = malloc(size);
    kp__request__pack(&request, buffer);
    msg = zmsg_new();
    zmsg_addmem(msg, buffer, size);
    free(buffer);
    s_expect_raw(msg, KP__REASON__FRAME_TOO_LARGE);

    s_expect("unknown-msg", "ZZ", PERSON_ONE, KP__STATUS__INVALID,
             KP__REASON__UNKNOWN_MESSAGE_TYPE);
    s_expect("bad-insz", "A1", "85073003329", KP__STATUS__INVALID, KP__REASON__INVALID_INSZ);
    //  Still serving.
    s_expect("after-bad", "A1", PERSON_ONE, KP__STATUS__OK, KP__REASON__REASON_NONE);
}

static Kp__WorkerFrame *s_worker_exchange(zsock_t *worker, Kp__WorkerFrame *frame)
{
    harness_worker_send(worker, frame);
    zsock_set_rcvtimeo(worker, 3000);
    zframe_t *in = zframe_recv(worker);
    assert_non_null(in);
    Kp__WorkerFrame *got = kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in));
    zframe_destroy(&in);
    assert_non_null(got);
    return got;
}

static void test_bad_worker_frames(void **state)
{
    (void)state;
    //  Garbage: answered with an error naming it.
    zsock_t *worker = harness_dealer(s_harness, s_harness->worker[0], "provider-" PROV_A);
    zframe_t *junk = zframe_new("\x0a\xff\xff", 3);
    zframe_send(&junk, worker, 0);
    zsock_set_rcvtimeo(worker, 3000);
    zframe_t *in = zframe_recv(worker);
    assert_non_null(in);
    Kp__WorkerFrame *got = kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in));
    zframe_destroy(&in);
    assert_non_null(got);
    assert_int_equal(got->body_case, KP__WORKER_FRAME__BODY_ERROR);
    assert_int_equal(got->error->reason, KP__REASON__MALFORMED_FRAME);
    kp__worker_frame__free_unpacked(got, NULL);

    //  A reply for a ticket it was never given: refused and forgotten.
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    char *messages[] = {"A2"};
    hello.kbo = PROV_A;
    hello.messages = messages;
    hello.n_messages = 1;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    got = s_worker_exchange(worker, &frame);
    assert_int_equal(got->body_case, KP__WORKER_FRAME__BODY_HEARTBEAT);
    kp__worker_frame__free_unpacked(got, NULL);
    Kp__WorkerReply reply = KP__WORKER_REPLY__INIT;
    reply.request_id = "forged";
    reply.has_ticket = true;
    reply.ticket = 1u << 30;
    frame.body_case = KP__WORKER_FRAME__BODY_REPLY;
    frame.reply = &reply;
    got = s_worker_exchange(worker, &frame);
    assert_int_equal(got->body_case, KP__WORKER_FRAME__BODY_ERROR);
    kp__worker_frame__free_unpacked(got, NULL);
    zsock_destroy(&worker);

    //  The other workers are not disturbed.
    s_expect("after-bad-worker", "A2", PERSON_MANY, KP__STATUS__OK, KP__REASON__REASON_NONE);
}

//  ---------------------------------------------------------------------
//  A worker killed mid-request: the request goes once more to another.

static void test_worker_killed_mid_request(void **state)
{
    (void)state;
    harness_t *harness = s_node(100, 5000, 65536);
    pid_t doomed = s_start_worker(harness, 0, PROV_C, 3000, "A1", (const char *)NULL);
    s_wait_workers(harness, 0, 1);
    s_start_worker(harness, 0, PROV_C, 0, "A1", (const char *)NULL);
    s_wait_workers(harness, 0, 2);

    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    Kp__Request request = s_request("killed-1", "A1", PERSON_ONE);
    harness_send(client, &request);
    assert_true(harness_wait_count(harness, 0, "outstanding", 1, 5000)); //  on a worker
    kill(doomed, SIGKILL);
    Kp__Response *response = harness_recv(client, 5000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    char fast_log[300], slow_log[300];
    snprintf(fast_log, sizeof fast_log, "%s/served-%s-0.log", harness->dir, PROV_C);
    snprintf(slow_log, sizeof slow_log, "%s/served-%s-3000.log", harness->dir, PROV_C);
    assert_int_equal(harness_count_lines(fast_log, "killed-1"), 1);
    assert_int_equal(harness_count_lines(slow_log, "killed-1"), 0);
    //  Exactly one answer.
    assert_null(harness_recv(client, 500));
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

//  Just after a (re)start, workers have not reconnected yet: a request for
//  an institution without a live worker waits for one during the warm-up
//  (three heartbeats) instead of being answered UNAVAILABLE at once.
static void test_warm_up_waits_for_workers(void **state)
{
    (void)state;
    harness_t *harness = s_node(1000, 5000, 65536);
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    Kp__Request request = s_request("warm-1", "A1", PERSON_ONE);
    harness_send(client, &request);
    s_start_worker(harness, 0, PROV_C, 0, "A1", (const char *)NULL);
    Kp__Response *response = harness_recv(client, 4000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

//  A node stopped with SIGTERM answers what it has in flight and exits 0.
static void test_clean_shutdown(void **state)
{
    (void)state;
    harness_t *harness = s_node(100, 5000, 65536);
    s_start_worker(harness, 0, PROV_C, 500, "A1", (const char *)NULL);
    s_wait_workers(harness, 0, 1);
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    Kp__Request request = s_request("shutdown-1", "A1", PERSON_ONE);
    harness_send(client, &request);
    assert_true(harness_wait_count(harness, 0, "outstanding", 1, 5000)); //  on the worker
    kill(harness->node[0], SIGTERM);
    Kp__Response *response = harness_recv(client, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    int status = harness_stop_node(harness, 0, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    int rc = harness_main(argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_single_provider),      cmocka_unit_test(test_integrated_all_parts),
        cmocka_unit_test(test_integrated_slow_part), cmocka_unit_test(test_denials),
        cmocka_unit_test(test_legal_framework),      cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_no_live_worker),       cmocka_unit_test(test_maintenance_window),
        cmocka_unit_test(test_retry_answered_once),  cmocka_unit_test(test_bad_client_frames),
        cmocka_unit_test(test_bad_worker_frames),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_worker_killed_mid_request),
        cmocka_unit_test(test_warm_up_waits_for_workers),
        cmocka_unit_test(test_clean_shutdown),
    };
    int failed = cmocka_run_group_tests_name("node", shared, s_setup, s_teardown);
    failed += cmocka_run_group_tests_name("node-faults", own, NULL, NULL);
    return failed;
}
