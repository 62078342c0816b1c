/*  test_secure_cluster.c - the cluster's own links with real CURVE and
    kpnode's own ZAP handler, every node with its own certificate.

    test_secure_sites: three voters on two sites (sites.h), secure, with
    no node key in any directory: they elect a leader (the peer links take
    the cluster file's node keys); the log of node-1 reaches its mirror on
    the other site; on the leader's peer port a plain socket, a client's
    key (an application key the directory knows) and a stranger's key get
    no handshake, the refusals counted, while a member's key does; a node
    key gets no handshake on a client port. The leader killed: another
    leads and takes updates. A follower wiped (its directory empty, not
    even the operator's key) comes back through the peer port, installs a
    snapshot and converges.

    test_mirror_curve: node-1 ships its log to node-2 over CURVE; the
    copy verifies and holds every answered call. On node-2's mirror
    endpoint, a plain-text socket and a key that is not a node key of the
    cluster file get no handshake (counted in node-2's status); node-2's
    own key, which passes the handshake, may not write node-1's copy
    (NOT_ITS_LOG, counted), and learns nothing of it.
*/
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "curve.h"
#include "handshake.h"
#include "harness.h"
#include "kperr.h"
#include "privlog.h"
#include "raftwire.h"
#include "sites.h"

#define REQUESTER "0206731645"
#define PERSON_ALONE "75061512374" //  held by the requester only: NO_DATA

static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" REQUESTER
    "\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON_ALONE "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

//  ---------------------------------------------------------------------
//  Helpers

//  Node index's status as JSON (decref it), or NULL.
static json_t *s_status(harness_t *harness, size_t index)
{
    Kp__AdminReply *reply = harness_admin(harness, index, "status", NULL, 2000);
    json_t *json = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    return json;
}

//  A number at a path of node index's status ("a.b.c"); -1 if absent.
static int64_t s_status_number(harness_t *harness, size_t index, const char *path)
{
    json_t *json = s_status(harness, index);
    json_t *at = json;
    char copy[200];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *part = strtok(copy, "."); part && at; part = strtok(NULL, "."))
        at = json_object_get(at, part);
    int64_t value = json_is_integer(at) ? (int64_t)json_integer_value(at) : -1;
    json_decref(json);
    return value;
}

//  Waits until that number is at least at_least; false after timeout_ms.
static bool s_wait_number(harness_t *harness, size_t index, const char *path, int64_t at_least,
                          int timeout_ms)
{
    int64_t until = harness_now_ms() + timeout_ms;
    do {
        if (s_status_number(harness, index, path) >= at_least)
            return true;
        zclock_sleep(20); //  polling a condition
    } while (harness_now_ms() < until);
    return false;
}

//  A DEALER to endpoint as certificate name (of the harness's folder),
//  trusting server_key; plain text when name is NULL.
static zsock_t *s_dealer(harness_t *harness, const char *endpoint, const char *name,
                         const char *server_key)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_non_null(sock);
    zsock_set_linger(sock, 0);
    if (name) {
        char err[256];
        zcert_t *cert =
            kp_curve_cert_load(harness_cert(harness, name, NULL), true, err, sizeof err);
        assert_non_null(cert);
        assert_int_equal(kp_curve_client(zsock_resolve(sock), cert, server_key, err, sizeof err),
                         0);
        zcert_destroy(&cert);
    }
    assert_int_equal(zsock_connect(sock, "%s", endpoint), 0);
    return sock;
}

//  Sends the shipper's HELLO for node's copy; the first answer frame
//  (its command) and the fourth (an ERR's code) within timeout_ms.
static bool s_mirror_hello(zsock_t *sock, const char *node, int timeout_ms, char *cmd, char *code)
{
    uint8_t epoch[8] = {1};
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "HELLO");
    zmsg_addstr(msg, node);
    zmsg_addmem(msg, epoch, 8);
    zsock_set_sndtimeo(sock, 0);
    zmsg_send(&msg, sock);
    zmsg_destroy(&msg);
    zsock_set_rcvtimeo(sock, timeout_ms);
    zmsg_t *answer = zmsg_recv(sock);
    *cmd = *code = '\0';
    if (!answer)
        return false;
    char *first = zmsg_popstr(answer);
    zframe_t *skip = zmsg_pop(answer);
    char *third = zmsg_popstr(answer);
    snprintf(cmd, 16, "%s", first ? first : "");
    snprintf(code, 32, "%s", third ? third : "");
    free(first);
    free(third);
    zframe_destroy(&skip);
    zmsg_destroy(&answer);
    return true;
}

//  n calls of rsz-app on node index, answered NO_DATA.
static void s_calls(harness_t *harness, size_t index, const char *tag, int n)
{
    zsock_t *client = harness_client_as(harness, index, "app-rsz-app");
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", tag, i);
        Kp__Request request = harness_a1_request(id);
        request.person = PERSON_ALONE;
        Kp__Response *response = harness_call(client, &request, 5000);
        assert_non_null(response);
        if (response->status != KP__STATUS__NO_DATA)
            fail_msg("call %s: status %d reason %d", id, response->status, response->reason);
        kp__response__free_unpacked(response, NULL);
    }
    zsock_destroy(&client);
}

//  The copy in dir verifies; its number of records.
static uint64_t s_verify(const char *dir)
{
    char error[256];
    kp_privlog_verify_t result;
    int rc = kp_privlog_verify(dir, INT32_MIN, INT32_MAX, NULL, &result, error, sizeof error);
    if (rc != 0)
        fail_msg("copy %s: %s %s (seq %llu): %s", dir, result.problem, result.detail,
                 (unsigned long long)result.seq, rc < 0 ? error : "");
    return result.records;
}

//  ---------------------------------------------------------------------
//  Tests

static void test_mirror_curve(void **unused)
{
    (void)unused;
    harness_t *harness = harness_new(2, 100, 3000, 65536);
    harness_own_certs(harness);
    char mirror[80], line[120];
    snprintf(mirror, sizeof mirror, "tcp://127.0.0.1:%d", harness_free_port());
    snprintf(line, sizeof line, "mirror = \"%s\"", mirror);
    harness_node_line(harness, 1, line);
    harness_start_node(harness, 1);
    harness_start_node(harness, 0);
    harness_load(harness, 0, s_directory);

    //  The log reaches the copy over CURVE, whole.
    s_calls(harness, 0, "curve", 40);
    assert_true(s_wait_number(harness, 0, "log.mirror.acked_seq", 41, 10000));
    char copy[400];
    snprintf(copy, sizeof copy, "%s/node-2/mirror/node-1", harness->dir);
    assert_true(s_verify(copy) >= 41);

    //  No handshake in plain text, nor with a key that is not a node key
    //  of the cluster file (an application's that the directory knows).
    int64_t refused = s_status_number(harness, 1, "security.handshakes.peer.refused");
    assert_true(refused >= 0);
    char cmd[16], code[32];
    zsock_t *plain = s_dealer(harness, mirror, NULL, NULL);
    assert_false(s_mirror_hello(plain, "node-1", 500, cmd, code));
    zsock_destroy(&plain);
    zsock_t *stranger = s_dealer(harness, mirror, "app-rsz-app", harness->node_key[1]);
    assert_false(s_mirror_hello(stranger, "node-1", 500, cmd, code));
    zsock_destroy(&stranger);
    assert_true(s_wait_number(harness, 1, "security.handshakes.peer.refused", refused + 1, 2000));

    //  node-2's own key gets in (a node key of the file) but may not
    //  write, nor see, node-1's copy.
    zsock_t *other = s_dealer(harness, mirror, "node-2", harness->node_key[1]);
    assert_true(s_mirror_hello(other, "node-1", 5000, cmd, code));
    assert_string_equal(cmd, "ERR");
    assert_string_equal(code, "NOT_ITS_LOG");
    zsock_destroy(&other);
    assert_true(s_status_number(harness, 1, "security.mirror_not_its_log") >= 1);

    //  node-1 goes on shipping.
    s_calls(harness, 0, "after", 10);
    assert_true(s_wait_number(harness, 0, "log.mirror.acked_seq", 51, 10000));
    assert_true(s_verify(copy) >= 51);
    harness_destroy(&harness);
}

//  Update n applied through the leader (of the running nodes of among;
//  NULL: all), waiting out an election; asserts that it is acknowledged
//  within 15 s.
static void s_update_among(sites_t *sites, const bool *among, unsigned n)
{
    Kp__DirectoryUpdate *update = sites_update_new(n);
    int64_t give_up = harness_now_ms() + 15000;
    bool acked = false;
    while (!acked && harness_now_ms() < give_up) {
        int leader = sites_leader(sites, among, 5000);
        Kp__AdminReply *reply =
            leader >= 0 ? sites_apply(sites, (size_t)leader, update, 3000) : NULL;
        acked = reply && reply->status == KP__STATUS__OK;
        if (reply)
            kp__admin_reply__free_unpacked(reply, NULL);
    }
    sites_update_free(&update);
    assert_true(acked);
}

static void s_update(sites_t *sites, unsigned n)
{
    s_update_among(sites, NULL, n);
}

//  Whether certificate name (NULL: plain text) gets through the handshake
//  on endpoint of the node whose key is server_key.
static bool s_handshake(harness_t *harness, const char *endpoint, const char *name,
                        const char *server_key)
{
    zcert_t *cert = NULL;
    if (name) {
        char err[256];
        cert = kp_curve_cert_load(harness_cert(harness, name, NULL), true, err, sizeof err);
        assert_non_null(cert);
    }
    bool through = kp_test_handshake(endpoint, cert, server_key, 10000, NULL);
    zcert_destroy(&cert);
    return through;
}

//  Member `as` (authenticated by its own key) sends the node at index a
//  pre-vote that claims to come from the third member: refused and counted
//  as not_its_key, never handed to raft. Raft ids are places in the file.
static void s_impostor(sites_t *sites, size_t index)
{
    harness_t *h = sites->harness;
    size_t as = (index + 1) % 3, claimed = (index + 2) % 3;
    const char *path = "raft.peer_frames.refused.not_its_key";
    int64_t before = s_status_number(h, index, path);
    assert_true(before >= 0);
    zsock_t *sock = s_dealer(h, sites->peer_bind[index], sites_name(sites, as), h->node_key[index]);
    struct raft_message message = {.type = RAFT_IO_REQUEST_VOTE,
                                   .server_id = claimed + 1,
                                   .server_address = sites_name(sites, claimed)};
    message.request_vote =
        (struct raft_request_vote){.term = 1, .candidate_id = claimed + 1, .pre_vote = true};
    size_t size;
    uint8_t *data =
        kp_raftwire_encode("sites", claimed + 1, sites_name(sites, claimed), &message, &size);
    assert_non_null(data);
    //  Sent until counted: the handshake may still be under way.
    bool counted = false;
    for (int i = 0; i < 50 && !counted; i++) {
        zsock_set_sndtimeo(sock, 100);
        zmq_send(zsock_resolve(sock), data, size, 0);
        counted = s_wait_number(h, index, path, before + 1, 200);
    }
    assert_true(counted);
    free(data);
    zsock_destroy(&sock);
}

static void test_secure_sites(void **unused)
{
    (void)unused;
    sites_t *sites = sites_new_secure(3, false, 300);
    harness_t *h = sites->harness;
    sites_start_all(sites);
    int leader = sites_leader(sites, NULL, 15000);
    assert_true(leader >= 0);
    harness_load(h, (size_t)leader, s_directory);
    assert_true(sites_converged(sites, NULL, 2, 15000));

    //  node-1's log reaches its mirror, node-3 (the other site).
    s_calls(h, 0, "sites", 20);
    assert_true(s_wait_number(h, 0, "log.mirror.acked_seq", 20, 10000));
    char copy[400];
    snprintf(copy, sizeof copy, "%s/node-3/mirror/node-1", h->dir);
    assert_true(s_verify(copy) >= 20);

    //  The peer port: members only, and a node key is no client.
    const char *peer = sites->peer_bind[leader], *key = h->node_key[leader];
    int64_t refused = s_status_number(h, (size_t)leader, "security.handshakes.peer.refused");
    assert_true(refused >= 0);
    assert_false(s_handshake(h, peer, NULL, key));
    assert_false(s_handshake(h, peer, "app-rsz-app", key));
    assert_false(s_handshake(h, peer, "stranger", key));
    assert_true(s_handshake(h, peer, sites_name(sites, (size_t)(leader + 1) % 3), key));
    assert_true(
        s_wait_number(h, (size_t)leader, "security.handshakes.peer.refused", refused + 2, 5000));
    assert_false(s_handshake(h, h->client[0], "node-2", h->node_key[0]));
    assert_true(s_handshake(h, h->client[0], "app-rsz-app", h->node_key[0]));
    s_impostor(sites, (size_t)leader);

    //  The leader killed: another leads and takes updates.
    unsigned n = 0;
    sites_kill(sites, (size_t)leader);
    s_update(sites, ++n);
    sites_start(sites, (size_t)leader);

    //  A follower wiped: back with an empty directory, through the peer
    //  port, from a snapshot (the log it would need is compacted).
    leader = sites_leader(sites, NULL, 15000);
    assert_true(leader >= 0);
    size_t wiped = (size_t)(leader + 1) % 3;
    sites_kill(sites, wiped);
    sites_wipe(sites, wiped);
    for (int i = 0; i < 40; i++)
        s_update(sites, ++n);
    sites_start(sites, wiped);
    assert_true(sites_converged(sites, NULL, 2 + n, 20000));
    sites_status_t status;
    assert_true(sites_status(sites, wiped, 2000, &status));
    assert_true(status.restores >= 1);
    assert_true(sites_has_update(sites, wiped, n));
    sites_destroy(&sites);
}

//  What node index answers a call (NULL: no answer).
static Kp__Response *s_call_one(harness_t *h, size_t index)
{
    zsock_t *client = harness_client_as(h, index, "app-rsz-app");
    Kp__Request request = harness_a1_request("removed-1");
    request.person = PERSON_ALONE;
    Kp__Response *response = harness_call(client, &request, 3000);
    zsock_destroy(&client);
    return response;
}

//  Membership on a secure cluster. A fourth voter (join = "true") is
//  added with kpctl cluster add-node: its raft links and its snapshot
//  over CURVE. Then the leader itself is removed: it hands leadership
//  over first, the others keep taking updates, and it is told: its
//  status says "removed from the cluster", it sends no more raft frames
//  (it asks for no votes), and it answers calls UNAVAILABLE naming its
//  removal, also after a restart.
static void test_secure_membership(void **unused)
{
    (void)unused;
    //  node-1..3, the witness, node-4 (join).
    sites_t *sites = sites_new_secure_joining(3, true, 1, 300);
    harness_t *h = sites->harness;
    const size_t joiner = 4;
    bool all[SITES_MAX] = {true, true, true, true, true};
    for (size_t i = 0; i < joiner; i++)
        sites_start(sites, i);
    int leader = sites_leader(sites, NULL, 15000);
    assert_true(leader >= 0);
    harness_load(h, (size_t)leader, s_directory);
    unsigned n = 0;
    for (int i = 0; i < 20; i++) //  past the snapshot threshold: the log is compacted
        s_update_among(sites, all, ++n);
    sites_start(sites, joiner);
    char out[8192];
    int rc = sites_kpctl(sites, out, sizeof out, "cluster add-node %s", sites_name(sites, joiner));
    printf("# add-node: %s", out);
    assert_int_equal(rc, 0);
    s_update_among(sites, all, ++n);
    assert_true(sites_converged(sites, NULL, 2 + n, 20000));
    sites_status_t status;
    assert_true(sites_status(sites, joiner, 2000, &status));
    assert_int_equal(status.voters, 5);
    assert_true(status.restores >= 1);

    //  The leader removes itself.
    leader = sites_leader(sites, NULL, 15000);
    assert_true(leader >= 0);
    const char *old = sites_name(sites, (size_t)leader);
    rc = sites_kpctl(sites, out, sizeof out, "cluster remove-node %s --node %s", old, old);
    printf("# remove-node %s: %s", old, out);
    assert_int_equal(rc, 0);
    bool rest[SITES_MAX] = {true, true, true, true, true};
    rest[leader] = false;
    int next = sites_leader(sites, rest, 10000);
    assert_true(next >= 0 && next != leader);
    assert_true(sites_status(sites, (size_t)next, 2000, &status));
    assert_int_equal(status.members, 4);
    for (int i = 0; i < 3; i++)
        s_update_among(sites, rest, ++n);
    assert_true(sites_converged(sites, rest, 2 + n, 10000));

    //  The removed node knows it, and is silent on the peer links.
    int64_t until = harness_now_ms() + 5000;
    while (!(sites_status(sites, (size_t)leader, 1000, &status) && status.removed) &&
           harness_now_ms() < until)
        usleep(50000);
    assert_true(status.removed);
    //  Its /metrics say so (a gauge, 0 on the members).
    until = harness_now_ms() + 5000;
    while (harness_metric(h, (size_t)leader, "kp_cluster_removed") != 1 && harness_now_ms() < until)
        usleep(50000);
    assert_true(harness_metric(h, (size_t)leader, "kp_cluster_removed") == 1);
    assert_true(harness_metric(h, (size_t)next, "kp_cluster_removed") == 0);
    uint64_t sent = status.frames_out;
    usleep(1500000); //  more than three election timeouts: a member would ask for votes
    assert_true(sites_status(sites, (size_t)leader, 1000, &status));
    assert_int_equal(status.frames_out, sent);
    assert_false(strcmp(status.role, "leader") == 0);
    assert_int_equal(sites_kpctl(sites, out, sizeof out, "status --node %s", old), 0);
    assert_non_null(strstr(out, "removed from the cluster"));
    Kp__Response *response = s_call_one(h, (size_t)leader);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__UNAVAILABLE);
    assert_int_equal(response->reason, KP__REASON__NO_QUORUM);
    assert_non_null(response->detail);
    assert_non_null(strstr(response->detail, "removed from the cluster"));
    printf("# %s answers: %s\n", old, response->detail);
    kp__response__free_unpacked(response, NULL);
    //  Restarted, it still knows.
    sites_kill(sites, (size_t)leader);
    sites_start(sites, (size_t)leader);
    until = harness_now_ms() + 5000;
    while (!(sites_status(sites, (size_t)leader, 1000, &status) && status.removed) &&
           harness_now_ms() < until)
        usleep(50000);
    assert_true(status.removed);
    s_update_among(sites, rest, ++n);
    sites_destroy(&sites);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror_curve),
        cmocka_unit_test(test_secure_sites),
        cmocka_unit_test(test_secure_membership),
    };
    if (getenv("SECURE_ONLY"))
        cmocka_set_test_filter(getenv("SECURE_ONLY"));
    return cmocka_run_group_tests_name("secure-cluster", tests, NULL, NULL);
}
