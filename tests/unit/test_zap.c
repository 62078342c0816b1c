/*  test_zap.c - who gets through a CURVE handshake: the node's ZAP
    handler (node/zap.h) over real sockets on loopback, and libzmq's
    ZMQ_ZAP_ENFORCE_DOMAIN as kp_curve_server sets it.

    test_enforce_without_handler runs first, while no handler is bound in
    the process: a CURVE server refuses every key; the same socket without
    enforcement lets any key in (so the test can fail). The log mirror's
    keeper (log/mirror.h) is checked the same way on its own socket:
    nobody gets in without a handler; with the node's handler, the node
    key's log is copied and an application's or a stranger's key gets no
    handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "curve.h"
#include "directory.h"
#include "mirror.h"
#include "privlog.h"
#include "tmpdir.h"
#include "handshake.h"
#include "jsonl.h"
#include "zap.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef struct {
    char dir[64];
    zcert_t *server, *node, *app, *stranger;
    kp_directory_t *directory;
    kp_zap_t *zap;
} s_fixture_t;

//  A ROUTER that is a CURVE server on domain, bound to a free port; its
//  endpoint in endpoint.
static zsock_t *s_server(zcert_t *cert, const char *domain, bool enforce, char endpoint[64])
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    assert_non_null(router);
    zsock_set_linger(router, 0);
    char err[256];
    assert_int_equal(kp_curve_server(zsock_resolve(router), cert, domain, err, sizeof err), 0);
    int value = 0;
    size_t size = sizeof value;
    assert_int_equal(zmq_getsockopt(zsock_resolve(router), ZMQ_ZAP_ENFORCE_DOMAIN, &value, &size),
                     0);
    assert_int_equal(value, 1); //  kp_curve_server set it
    if (!enforce) {
        value = 0;
        assert_int_equal(
            zmq_setsockopt(zsock_resolve(router), ZMQ_ZAP_ENFORCE_DOMAIN, &value, sizeof value), 0);
    }
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    snprintf(endpoint, 64, "tcp://127.0.0.1:%d", port);
    return router;
}

//  Whether a client with cert gets through the handshake with server;
//  when it does, a message it sends arrives with its key.
static bool s_gets_through(zsock_t *server, const char *endpoint, zcert_t *server_cert,
                           zcert_t *cert)
{
    zsock_t *dealer = NULL;
    bool through = kp_test_handshake(endpoint, cert, zcert_public_txt(server_cert), 10000, &dealer);
    if (through) {
        zstr_send(dealer, "hello");
        zsock_set_rcvtimeo(server, 10000);
        zmsg_t *msg = zmsg_recv(server);
        assert_non_null(msg);
        //  The key it came with is the one ZAP named (when a handler ran).
        const char *user = zframe_meta(zmsg_last(msg), "User-Id");
        if (user && strlen(user) == 40)
            assert_string_equal(user, zcert_public_txt(cert));
        zmsg_destroy(&msg);
    }
    zsock_destroy(&dealer);
    return through;
}

static void test_enforce_without_handler(void **state)
{
    (void)state;
    zcert_t *server_cert = zcert_new(), *client_cert = zcert_new();
    char endpoint[64];
    zsock_t *server = s_server(server_cert, "peer", true, endpoint);
    assert_false(s_gets_through(server, endpoint, server_cert, client_cert));
    zsock_destroy(&server);
    server = s_server(server_cert, "peer", false, endpoint);
    assert_true(s_gets_through(server, endpoint, server_cert, client_cert));
    zsock_destroy(&server);
    zcert_destroy(&server_cert);
    zcert_destroy(&client_cert);
}

//  The log mirror's keeper (log/mirror.h) is a CURVE server on "peer"
//  with ZMQ_ZAP_ENFORCE_DOMAIN: a shipper of node-1's log (records 1-5
//  in dir/log) with client's key, to a keeper with server's, on an ipc
//  endpoint in dir. True when the copy comes to hold the 5 records
//  within wait_ms; *through: messages that passed the handshake only to
//  be refused by the keeper's own check (NOT_ITS_LOG).
static bool s_keeper_takes(const char *dir, zcert_t *server, zcert_t *client, int wait_ms,
                           uint64_t *through)
{
    char log[128], kept[128], endpoint[160], error[256];
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(kept, sizeof kept, "%s/kept", dir);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/keeper.ipc", dir);
    kp_privlog_options_t options;
    kp_privlog_options_default(&options);
    options.index_map_size = 16u << 20;
    kp_privlog_t *privlog = kp_privlog_open(log, &options, NULL, error, sizeof error);
    assert_non_null(privlog);
    for (uint64_t seq = kp_privlog_last_seq(privlog) + 1; seq <= 5; seq++) {
        Kp__LogRecord record = KP__LOG_RECORD__INIT;
        record.request_id = "zap";
        assert_int_equal(kp_privlog_append(privlog, &record), seq);
    }
    assert_int_equal(kp_privlog_commit(privlog), 0);
    kp_privlog_destroy(&privlog);
    const char *names[] = {"node-1"}, *keys[] = {zcert_public_txt(client)};
    kp_mirror_keeper_t *keeper =
        kp_mirror_keeper_new(kept, endpoint, names, keys, 1, server, error, sizeof error);
    assert_non_null(keeper);
    kp_mirror_curve_t curve = {client, zcert_public_txt(server)};
    kp_mirror_t *mirror = kp_mirror_new("node-1", log, endpoint, 60000, &curve);
    assert_non_null(mirror);
    kp_mirror_durable(mirror, 5);
    int64_t until = zclock_mono() + wait_ms;
    while (kp_mirror_acked(mirror) < 5 && zclock_mono() < until) {
        zpoller_t *poller = zpoller_new(kp_mirror_sock(mirror), NULL);
        zpoller_wait(poller, 50);
        zpoller_destroy(&poller);
        kp_mirror_recv(mirror);
    }
    bool took = kp_mirror_acked(mirror) == 5;
    uint64_t refused;
    kp_mirror_keeper_counts(keeper, &refused, through);
    kp_mirror_destroy(&mirror);
    kp_mirror_keeper_destroy(&keeper);
    return took;
}

//  No ZAP handler in the process: the keeper lets no key in, not even
//  the one it is configured to take (libzmq would let any in without the
//  enforcement).
static void test_keeper_without_handler(void **state)
{
    (void)state;
    char dir[64];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-zap-keeper"), 0);
    zcert_t *server = zcert_new(), *node = zcert_new();
    uint64_t through = 0;
    assert_false(s_keeper_takes(dir, server, node, 1500, &through));
    //  refused at the handshake, not by the keeper's key check after it
    assert_int_equal(through, 0);
    zcert_destroy(&server);
    zcert_destroy(&node);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

static int s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kp-zap-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->server = zcert_new();
    f->node = zcert_new();
    f->app = zcert_new();
    f->stranger = zcert_new();
    char err[256], path[128];
    snprintf(path, sizeof path, "%s/directory", f->dir);
    f->directory = kp_directory_new(path, err, sizeof err);
    assert_non_null(f->directory);
    //  The application's key, and the node's key recorded as an
    //  application's too: neither makes a node key a client, nor an
    //  application key a peer.
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    const zcert_t *in_directory[] = {f->app, f->node};
    for (size_t i = 0; i < 2; i++) {
        char line[300];
        snprintf(line, sizeof line,
                 "{\"table\":\"key\",\"key\":\"%s\",\"kind\":\"application\",\"identity\":"
                 "\"app-%zu\",\"from\":\"2000-01-01\"}",
                 zcert_public_txt((zcert_t *)in_directory[i]), i);
        Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(line), err, sizeof err);
        assert_non_null(op);
        kp_jsonl_batch_add(batch, op);
    }
    assert_int_equal(
        kp_directory_apply(f->directory, kp_jsonl_batch_update(batch), NULL, err, sizeof err), 0);
    kp_jsonl_batch_destroy(&batch);
    const char *peers[] = {zcert_public_txt(f->server), zcert_public_txt(f->node)};
    f->zap = kp_zap_new(f->directory, peers, 2, err, sizeof err);
    assert_non_null(f->zap);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *f = *state;
    kp_zap_destroy(&f->zap);
    kp_directory_destroy(&f->directory);
    zcert_destroy(&f->server);
    zcert_destroy(&f->node);
    zcert_destroy(&f->app);
    zcert_destroy(&f->stranger);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
    free(f);
    return 0;
}

//  "peer" takes the cluster file's node keys and nothing else; a node key
//  is refused on "client" though the directory calls it an application's.
static void test_peer_domain(void **state)
{
    s_fixture_t *f = *state;
    char endpoint[64];
    zsock_t *peer = s_server(f->server, "peer", true, endpoint);
    assert_true(s_gets_through(peer, endpoint, f->server, f->node));
    assert_false(s_gets_through(peer, endpoint, f->server, f->app));
    assert_false(s_gets_through(peer, endpoint, f->server, f->stranger));
    zsock_destroy(&peer);
    zsock_t *client = s_server(f->server, "client", true, endpoint);
    assert_true(s_gets_through(client, endpoint, f->server, f->app));
    assert_false(s_gets_through(client, endpoint, f->server, f->node));
    assert_false(s_gets_through(client, endpoint, f->server, f->stranger));
    zsock_destroy(&client);
    zsock_t *odd = s_server(f->server, "nonesuch", true, endpoint);
    assert_false(s_gets_through(odd, endpoint, f->server, f->node));
    zsock_destroy(&odd);
    kp_zap_counts_t counts;
    kp_zap_counts(f->zap, &counts);
    assert_int_equal(counts.accepted[KP_ZAP_PEER], 1);
    assert_int_equal(counts.refused[KP_ZAP_PEER], 2);
    assert_int_equal(counts.accepted[KP_ZAP_CLIENT], 1);
    assert_int_equal(counts.refused[KP_ZAP_CLIENT], 2);
    assert_int_equal(counts.refused[KP_ZAP_OTHER], 1);
    assert_string_equal(kp_zap_domain_name(KP_ZAP_PEER), "peer");
}

//  The node's handler on "peer": the keeper takes the node key's log; an
//  application's key or a stranger's gets no handshake (refused by ZAP,
//  before the keeper's own check of whose log it is).
static void test_keeper_peer_domain(void **state)
{
    s_fixture_t *f = *state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/app", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    uint64_t through = 0;
    assert_false(s_keeper_takes(dir, f->server, f->app, 1500, &through));
    assert_int_equal(through, 0);
    snprintf(dir, sizeof dir, "%s/stranger", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_false(s_keeper_takes(dir, f->server, f->stranger, 1500, &through));
    assert_int_equal(through, 0);
    snprintf(dir, sizeof dir, "%s/node", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(s_keeper_takes(dir, f->server, f->node, 10000, &through));
    assert_int_equal(through, 0);
    kp_zap_counts_t counts;
    kp_zap_counts(f->zap, &counts);
    assert_true(counts.accepted[KP_ZAP_PEER] >= 1);
    assert_true(counts.refused[KP_ZAP_PEER] >= 2);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enforce_without_handler),
        cmocka_unit_test(test_keeper_without_handler),
        cmocka_unit_test_setup_teardown(test_peer_domain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keeper_peer_domain, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("zap", tests, NULL, NULL);
}
