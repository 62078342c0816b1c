/*  test_security.c - every peer authenticated by its key, over real
    sockets: one secure kpnode (CURVE, the ZAP handler on the directory's
    key table), provider workers (this program, re-run with --worker), and
    clients with keys of their own.

    Each test is an attack that worked before keys: a connection without a
    key, with an unknown, expired or revoked one; a worker claiming another
    institution's KBO; a client claiming another user, or reading,
    stealing or poisoning another client's answer by its request id; an
    application key on the admin socket; legal-framework requests by users
    who may not make them. The privacy log must name the key's user.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>
#include <jansson.h>

#include "harness.h"
#include "kp_client.h"
#include "privlog.h"

#define REQUESTER "0206731645" //  RSZ, sector 25 type 0
#define PROV_A "0300000115"    //  sector 17 type 1, answers slowly
#define PROV_B "0300000214"    //  sector 17 type 1
#define PERSON "85073003328"   //  held by REQUESTER, PROV_A, PROV_B
#define SLOW_MS 600            //  PROV_A's answers take this long

static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" REQUESTER
    "\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROV_A "\",\"name\":\"A\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROV_B "\",\"name\":\"B\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"B1\"]}\n"
    "{\"table\":\"user\",\"id\":\"a-app\",\"kbo\":\"" PROV_A "\",\"sector\":17,\"type\":1,"
    "\"messages\":[\"B1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"legal\",\"kbo\":\"" REQUESTER "\",\"framework\":\"IVC-1\",\"message\":\"B1\"}\n"
    "{\"table\":\"legal\",\"sector\":17,\"type\":1,\"framework\":\"IVC-S\",\"message\":\"B1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"B1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" PROV_A "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" PROV_B "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

static const char *s_self;
static harness_t *s_harness;

static Kp__Request s_request(const char *id, const char *user)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = (char *)user;
    request.message = "A1";
    request.person = PERSON;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.type = 0;
    request.capacity = 1;
    return request;
}

static Kp__Request s_legal(const char *id, const char *user, const char *kbo, const char *framework)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = (char *)user;
    request.message = "B1";
    request.person = PERSON;
    request.kbo = (char *)kbo;
    request.legal_framework = (char *)framework;
    return request;
}

//  Sends request as the key of certificate name; the answer, or NULL.
static Kp__Response *s_call_as(const char *name, const Kp__Request *request, int timeout_ms)
{
    zsock_t *client = harness_client_as(s_harness, 0, name);
    Kp__Response *response = harness_call(client, request, timeout_ms);
    zsock_destroy(&client);
    return response;
}

static void s_expect(const char *name, const Kp__Request *request, Kp__Status status,
                     Kp__Reason reason)
{
    Kp__Response *response = s_call_as(name, request, 5000);
    if (!response)
        fail_msg("%s: no answer", request->request_id);
    if (response->status != status || response->reason != reason)
        fail_msg("%s: %s/%d, wanted %d/%d (%s)", request->request_id,
                 kp_client_status_name(response->status), response->reason, status, reason,
                 response->detail ? response->detail : "");
    kp__response__free_unpacked(response, NULL);
}

//  True if the part of provider kbo in response carries a payload.
static bool s_has_part(const Kp__Response *response, const char *kbo)
{
    for (size_t i = 0; i < response->n_parts; i++)
        if (!strcmp(response->parts[i]->kbo, kbo) && response->parts[i]->has_payload)
            return true;
    return false;
}

static void s_start_worker(const char *kbo, int delay_ms, const char *message)
{
    char delay[16], logfile[300];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    snprintf(logfile, sizeof logfile, "%s/served-%s-%s.log", s_harness->dir, kbo, message);
    char *argv[] = {(char *)s_self, "--worker", s_harness->worker[0], (char *)kbo,
                    delay,          logfile,    (char *)message,      NULL};
    harness_spawn(s_harness, argv);
}

static int s_setup(void **state)
{
    (void)state;
    s_harness = harness_new(1, 100, 3000, 65536);
    harness_start_node(s_harness, 0);
    harness_load(s_harness, 0, s_directory);
    s_start_worker(PROV_A, SLOW_MS, "A1");
    s_start_worker(PROV_B, 0, "A1");
    s_start_worker(PROV_A, 0, "B1");
    s_start_worker(PROV_B, 0, "B1");
    if (!harness_wait_workers(s_harness, 0, 4))
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    harness_destroy(&s_harness);
    return 0;
}

//  ---------------------------------------------------------------------
//  Connections

//  A request on sock gets no answer at all: the handshake was refused.
static void s_no_answer(zsock_t *sock, const char *what)
{
    Kp__Request request = s_request("unheard", "rsz-app");
    Kp__Response *response = harness_call(sock, &request, 600);
    if (response)
        fail_msg("%s: answered %s", what, kp_client_status_name(response->status));
}

static void test_connection_without_key(void **state)
{
    (void)state;
    //  Plain text to a CURVE socket: no handshake, nothing heard.
    zsock_t *plain = zsock_new_dealer(s_harness->client[0]);
    zsock_set_linger(plain, 0);
    s_no_answer(plain, "plain text");
    zsock_destroy(&plain);
    //  A key the directory does not hold.
    zsock_t *stranger = harness_client_as(s_harness, 0, "stranger");
    s_no_answer(stranger, "unknown key");
    zsock_destroy(&stranger);
    //  A provider's key on the client socket: known, but not an application's.
    zsock_t *provider = harness_client_as(s_harness, 0, "provider-" PROV_B);
    s_no_answer(provider, "provider key on the client socket");
    zsock_destroy(&provider);
}

static void test_expired_key(void **state)
{
    (void)state;
    char key[41], line[300];
    harness_cert(s_harness, "expired", key);
    snprintf(line, sizeof line,
             "{\"table\":\"key\",\"key\":\"%s\",\"kind\":\"application\",\"identity\":"
             "\"rsz-app\",\"from\":\"2000-01-01\",\"to\":\"2001-12-31\"}",
             key);
    harness_load(s_harness, 0, line);
    zsock_t *sock = harness_client_as(s_harness, 0, "expired");
    s_no_answer(sock, "expired key");
    zsock_destroy(&sock);
}

//  Counts ZMQ_EVENT_DISCONNECTED on sock until timeout_ms; true at one.
static bool s_disconnected_within(zsock_t *sock, int timeout_ms)
{
    static int serial;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://security-monitor-%d", ++serial);
    zmq_socket_monitor(zsock_resolve(sock), endpoint, ZMQ_EVENT_DISCONNECTED);
    zsock_t *events = zsock_new_pair(endpoint);
    assert_non_null(events);
    zsock_set_rcvtimeo(events, timeout_ms);
    zmsg_t *event = zmsg_recv(events);
    bool seen = event != NULL;
    zmsg_destroy(&event);
    zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    zsock_destroy(&events);
    return seen;
}

static void test_revoked_key(void **state)
{
    (void)state;
    harness_grant(s_harness, 0, "app-rsz-2", "application", "rsz-app");
    zsock_t *client = harness_client_as(s_harness, 0, "app-rsz-2");
    Kp__Request request = s_request("before-revoke", "rsz-app");
    Kp__Response *response = harness_call(client, &request, 5000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    //  Revoked: a directory update deletes the key.
    char key[41], line[200];
    harness_cert(s_harness, "app-rsz-2", key);
    snprintf(line, sizeof line, "{\"table\":\"key\",\"op\":\"delete\",\"key\":\"%s\"}", key);
    int64_t revoked_at = harness_now_ms();
    harness_load(s_harness, 0, line);
    //  The open connection is closed by the node within about a second,
    //  without anything sent on it.
    assert_true(s_disconnected_within(client, 3000));
    printf("# revoked key's connection closed %lld ms after the update\n",
           (long long)(harness_now_ms() - revoked_at));
    zsock_destroy(&client);
    //  And a new handshake with it is refused.
    zsock_t *again = harness_client_as(s_harness, 0, "app-rsz-2");
    s_no_answer(again, "revoked key");
    zsock_destroy(&again);
}

//  A frame from a connection whose key was revoked since its last frame
//  (before the node's check of its peers) is refused, named.
static void test_revoked_key_frame_refused(void **state)
{
    (void)state;
    harness_grant(s_harness, 0, "app-rsz-3", "application", "rsz-app");
    zsock_t *client = harness_client_as(s_harness, 0, "app-rsz-3");
    Kp__Request request = s_request("revoked-frame-1", "rsz-app");
    Kp__Response *response = harness_call(client, &request, 5000);
    assert_non_null(response);
    kp__response__free_unpacked(response, NULL);
    char key[41], line[200];
    harness_cert(s_harness, "app-rsz-3", key);
    snprintf(line, sizeof line, "{\"table\":\"key\",\"op\":\"delete\",\"key\":\"%s\"}", key);
    harness_load(s_harness, 0, line);
    request.request_id = "revoked-frame-2";
    response = harness_call(client, &request, 2000);
    //  Either the refusal arrived, or the connection was closed first.
    if (response) {
        assert_int_equal(response->status, KP__STATUS__DENIED);
        assert_int_equal(response->reason, KP__REASON__KEY_REVOKED);
        kp__response__free_unpacked(response, NULL);
    }
    zsock_destroy(&client);
}

//  ---------------------------------------------------------------------
//  Workers

static Kp__WorkerFrame *s_hello(zsock_t *sock, const char *kbo)
{
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    char *messages[] = {"A1"};
    hello.kbo = (char *)kbo;
    hello.messages = messages;
    hello.n_messages = 1;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    harness_worker_send(sock, &frame);
    zsock_set_rcvtimeo(sock, 800);
    zframe_t *in = zframe_recv(sock);
    if (!in)
        return NULL;
    Kp__WorkerFrame *got = kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in));
    zframe_destroy(&in);
    return got;
}

static void test_worker_impersonation(void **state)
{
    (void)state;
    //  PROV_B's key, saying hello as PROV_A: refused, named.
    zsock_t *sock = harness_dealer(s_harness, s_harness->worker[0], "provider-" PROV_B);
    Kp__WorkerFrame *got = s_hello(sock, PROV_A);
    assert_non_null(got);
    assert_int_equal(got->body_case, KP__WORKER_FRAME__BODY_ERROR);
    assert_int_equal(got->error->reason, KP__REASON__KEY_NOT_AUTHORIZED);
    kp__worker_frame__free_unpacked(got, NULL);
    zsock_destroy(&sock);
    //  An application's key on the worker socket: no handshake at all.
    sock = harness_dealer(s_harness, s_harness->worker[0], "app-rsz-app");
    assert_null(s_hello(sock, REQUESTER));
    zsock_destroy(&sock);
    //  PROV_A's own key says hello as PROV_A: accepted (a heartbeat).
    sock = harness_dealer(s_harness, s_harness->worker[0], "provider-" PROV_A);
    got = s_hello(sock, PROV_A);
    assert_non_null(got);
    assert_int_equal(got->body_case, KP__WORKER_FRAME__BODY_HEARTBEAT);
    kp__worker_frame__free_unpacked(got, NULL);
    Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
    Kp__WorkerFrame bye = KP__WORKER_FRAME__INIT;
    bye.body_case = KP__WORKER_FRAME__BODY_BYE;
    bye.bye = &beat;
    harness_worker_send(sock, &bye);
    zsock_destroy(&sock);
}

//  ---------------------------------------------------------------------
//  Identity and answers

static void test_identity_mismatch(void **state)
{
    (void)state;
    Kp__Request request = s_request("claim-1", "a-app");
    s_expect("app-rsz-app", &request, KP__STATUS__DENIED, KP__REASON__IDENTITY_MISMATCH);
    //  No user at all: the key's.
    request = s_request("claim-2", NULL);
    s_expect("app-rsz-app", &request, KP__STATUS__OK, KP__REASON__REASON_NONE);
}

//  Another identity's id is another request: B never gets A's answer,
//  during A's call or after it, and B's earlier use of an id does not
//  decide A's answer.
static void test_answers_owned(void **state)
{
    (void)state;
    //  Read: A's answer is in the replay memory; B asks by the same id.
    Kp__Request a = s_request("owned-read", "rsz-app");
    s_expect("app-rsz-app", &a, KP__STATUS__OK, KP__REASON__REASON_NONE);
    Kp__Request b = s_request("owned-read", "a-app");
    b.sector = 17;
    b.type = 1;
    s_expect("app-a-app", &b, KP__STATUS__DENIED, KP__REASON__USER_NOT_AUTHORIZED);

    //  Steal: B sends A's id while A's call waits for the slow provider.
    zsock_t *client_a = harness_client_as(s_harness, 0, "app-rsz-app");
    zsock_t *client_b = harness_client_as(s_harness, 0, "app-a-app");
    a.request_id = b.request_id = "owned-steal";
    harness_send(client_a, &a);
    assert_true(harness_wait_count(s_harness, 0, "in_flight", 1, 5000)); //  A's call is there
    Kp__Response *got_b = harness_call(client_b, &b, 3000);
    assert_non_null(got_b);
    assert_int_equal(got_b->status, KP__STATUS__DENIED);
    assert_false(s_has_part(got_b, PROV_A));
    kp__response__free_unpacked(got_b, NULL);
    Kp__Response *got_a = harness_recv(client_a, 3000);
    assert_non_null(got_a);
    assert_int_equal(got_a->status, KP__STATUS__OK);
    assert_true(s_has_part(got_a, PROV_A) && s_has_part(got_a, PROV_B));
    kp__response__free_unpacked(got_a, NULL);
    //  Nothing more for B: A's answer did not go there too.
    assert_null(harness_recv(client_b, 300));

    //  Poison: B uses the id first; A's call is A's own.
    a.request_id = b.request_id = "owned-poison";
    got_b = harness_call(client_b, &b, 3000);
    assert_non_null(got_b);
    assert_int_equal(got_b->status, KP__STATUS__DENIED);
    kp__response__free_unpacked(got_b, NULL);
    got_a = harness_call(client_a, &a, 3000);
    assert_non_null(got_a);
    assert_int_equal(got_a->status, KP__STATUS__OK);
    kp__response__free_unpacked(got_a, NULL);
    zsock_destroy(&client_a);
    zsock_destroy(&client_b);

    //  And the owner's retry is still answered from memory, once.
    s_expect("app-rsz-app", &a, KP__STATUS__OK, KP__REASON__REASON_NONE);
}

static void test_request_id_too_long(void **state)
{
    (void)state;
    char id[200];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    Kp__Request request = s_request(id, "rsz-app");
    zsock_t *client = harness_client_as(s_harness, 0, "app-rsz-app");
    Kp__Response *response = harness_call(client, &request, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__INVALID);
    assert_int_equal(response->reason, KP__REASON__REQUEST_ID_TOO_LONG);
    kp__response__free_unpacked(response, NULL);
    id[128] = '\0'; //  128 bytes: taken
    response = harness_call(client, &request, 3000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&client);
}

//  ---------------------------------------------------------------------
//  The legal-framework check

static void test_legal_framework(void **state)
{
    (void)state;
    Kp__Request request = s_legal("legal-ok", "rsz-app", REQUESTER, "IVC-1");
    s_expect("app-rsz-app", &request, KP__STATUS__OK, KP__REASON__REASON_NONE);
    //  The user does not belong to the institution it names.
    request = s_legal("legal-other-kbo", "rsz-app", PROV_B, "IVC-S");
    s_expect("app-rsz-app", &request, KP__STATUS__DENIED, KP__REASON__USER_NOT_AUTHORIZED);
    //  The user may not send the message type.
    request = s_legal("legal-message", "a-app", PROV_A, "IVC-S");
    request.message = "A1";
    s_expect("app-a-app", &request, KP__STATUS__DENIED, KP__REASON__USER_NOT_AUTHORIZED);
    //  A framework granted to all of (17,1) covers PROV_A named by its KBO.
    request = s_legal("legal-sector", "a-app", PROV_A, "IVC-S");
    s_expect("app-a-app", &request, KP__STATUS__OK, KP__REASON__REASON_NONE);
    request = s_legal("legal-not-granted", "a-app", PROV_A, "IVC-1");
    s_expect("app-a-app", &request, KP__STATUS__DENIED, KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED);
    //  A key whose user the directory does not hold.
    harness_grant(s_harness, 0, "app-ghost", "application", "ghost");
    request = s_legal("legal-ghost", "ghost", REQUESTER, "IVC-1");
    s_expect("app-ghost", &request, KP__STATUS__DENIED, KP__REASON__USER_UNKNOWN);
}

//  ---------------------------------------------------------------------
//  Operators

static void test_admin_needs_operator_key(void **state)
{
    (void)state;
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "status";
    size_t size = kp__admin_request__get_packed_size(&request);
    uint8_t buffer[64];
    assert_true(size <= sizeof buffer);
    kp__admin_request__pack(&request, buffer);
    const char *names[] = {"app-rsz-app", "provider-" PROV_A, "stranger"};
    for (size_t i = 0; i < 3; i++) {
        zsock_t *sock = harness_dealer(s_harness, s_harness->admin[0], names[i]);
        zframe_t *frame = zframe_new(buffer, size);
        zframe_send(&frame, sock, 0);
        zsock_set_rcvtimeo(sock, 600);
        zframe_t *reply = zframe_recv(sock);
        if (reply)
            fail_msg("the admin socket answered the key of %s", names[i]);
        zsock_destroy(&sock);
    }
    Kp__AdminReply *reply = harness_admin(s_harness, 0, "status", NULL, 3000);
    assert_non_null(reply);
    assert_int_equal(reply->status, KP__STATUS__OK);
    kp__admin_reply__free_unpacked(reply, NULL);
}

//  ---------------------------------------------------------------------
//  The privacy log names the key's user, and every admin command

//  kpctl log query --json output for one --message, as JSON.
static json_t *s_log_query(const char *message)
{
    char command[1024];
    snprintf(command, sizeof command, "'%s' log query --data '%s/node-1' --message '%s' --json",
             getenv("KPCTL"), s_harness->dir, message);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    json_t *json = json_loadf(pipe, JSON_DISABLE_EOF_CHECK, NULL);
    pclose(pipe);
    return json;
}

//  The records of the query whose request_id is id, as one string each.
static char *s_find_record(json_t *json, const char *id)
{
    json_t *records = json_is_array(json) ? json : json_object_get(json, "records");
    size_t i;
    json_t *record;
    json_array_foreach(records, i, record)
    {
        const char *rid = json_string_value(json_object_get(record, "request_id"));
        if (rid && !strcmp(rid, id))
            return json_dumps(record, JSON_COMPACT);
    }
    return NULL;
}

typedef struct {
    bool found;
} s_admin_seen_t;

//  An admin.directory.stats record by the harness's operator, with a time.
static int s_admin_record(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    (void)seq;
    s_admin_seen_t *seen = arg;
    if (record->message && !strcmp(record->message, "admin.directory.stats") && record->user &&
        !strcmp(record->user, "harness") && record->has_time_unix_us && record->time_unix_us)
        seen->found = true;
    return seen->found;
}

static void test_privacy_log_names_the_key(void **state)
{
    (void)state;
    Kp__Request request = s_request("log-claim", "a-app");
    s_expect("app-rsz-app", &request, KP__STATUS__DENIED, KP__REASON__IDENTITY_MISMATCH);
    //  Records are durable before their answer leaves: the log has it (the
    //  index may follow a little behind).
    json_t *json = NULL;
    char *record = NULL;
    for (int64_t give_up = harness_now_ms() + 15000; !record && harness_now_ms() < give_up;) {
        json_decref(json);
        json = s_log_query("A1");
        record = json ? s_find_record(json, "log-claim") : NULL;
        if (!record)
            usleep(50000);
    }
    assert_non_null(record);
    assert_non_null(strstr(record, "\"user\":\"rsz-app\""));
    assert_null(strstr(record, "a-app"));
    free(record);
    json_decref(json);

    //  An operator's command: who, what, when (read from the segments: the
    //  reply does not wait for the record to be durable, so poll).
    Kp__AdminReply *reply = harness_admin(s_harness, 0, "directory.stats", NULL, 3000);
    assert_non_null(reply);
    kp__admin_reply__free_unpacked(reply, NULL);
    char dir[400], error[256];
    snprintf(dir, sizeof dir, "%s/node-1/log", s_harness->dir);
    s_admin_seen_t seen = {false};
    for (int64_t give_up = harness_now_ms() + 5000; !seen.found && harness_now_ms() < give_up;) {
        if (kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_admin_record, &seen, error, sizeof error) <
            0)
            fail_msg("cannot read the log: %s", error);
        if (!seen.found)
            usleep(50000);
    }
    assert_true(seen.found);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    int rc = harness_main(argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_without_key),
        cmocka_unit_test(test_expired_key),
        cmocka_unit_test(test_revoked_key),
        cmocka_unit_test(test_revoked_key_frame_refused),
        cmocka_unit_test(test_worker_impersonation),
        cmocka_unit_test(test_identity_mismatch),
        cmocka_unit_test(test_answers_owned),
        cmocka_unit_test(test_request_id_too_long),
        cmocka_unit_test(test_legal_framework),
        cmocka_unit_test(test_admin_needs_operator_key),
        cmocka_unit_test(test_privacy_log_names_the_key),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
