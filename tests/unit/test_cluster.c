/*  test_cluster.c - the cluster actor with real LMDB and real ZeroMQ on
    loopback: a cluster of one, three voters (replication, a leader that
    dies, a member that comes back), a wiped member that installs a
    snapshot, hostile frames on the peer endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "cluster.h"
#include "inproc.h"
#include "curve.h"
#include "directory.h"
#include "zap.h"
#include "tmpdir.h"

#define S_MAX 4
#define S_WAIT_MS 20000

typedef struct {
    char dir[128];
    kp_inproc_t c;
    kp_cluster_event_t last[S_MAX]; //  last RESULT per member
    uint64_t next_token;
} s_test_t;

//  A cluster file of n voters (peer endpoints when n > 1), in memory.
static s_test_t *s_new(size_t n, uint32_t threshold)
{
    s_test_t *self = calloc(1, sizeof *self);
    assert_non_null(self);
    assert_int_equal(kp_test_tmpdir(self->dir, sizeof self->dir, "kp-cluster"), 0);
    char err[256];
    if (kp_inproc_configure(&self->c, "test", self->dir, n, threshold, err, sizeof err))
        fail_msg("%s", err);
    kp_cluster_config_t *c = &self->c.config;
    c->election_timeout_ms = 300;
    c->raft_heartbeat_ms = 30;
    c->snapshot_trailing = threshold / 4;
    //  plain text between members here; CURVE: test_cluster_curve
    self->next_token = 1;
    return self;
}

static void s_start(s_test_t *self, size_t i)
{
    char err[512] = "";
    if (kp_inproc_start(&self->c, i, err, sizeof err))
        fail_msg("%s", err);
}

static void s_stop(s_test_t *self, size_t i)
{
    kp_inproc_stop(&self->c, i);
}

static void s_destroy(s_test_t **self_p)
{
    s_test_t *self = *self_p;
    kp_inproc_stop_all(&self->c);
    kp_test_rmtree(self->dir);
    free(self);
    *self_p = NULL;
}

static void s_on_event(size_t i, const kp_cluster_event_t *event, void *arg)
{
    s_test_t *self = arg;
    if (event->type == KP_CLUSTER_EVENT_RESULT)
        self->last[i] = *event;
}

//  Handles every event waiting on the running members' sockets, up to
//  ms milliseconds for the first.
static void s_pump(s_test_t *self, long ms)
{
    kp_inproc_pump(&self->c, ms, s_on_event, self);
}

typedef bool(s_cond_fn)(s_test_t *self, void *arg);

static bool s_wait(s_test_t *self, s_cond_fn *cond, void *arg)
{
    int64_t until = zclock_mono() + S_WAIT_MS;
    while (!cond(self, arg)) {
        if (zclock_mono() > until)
            return false;
        s_pump(self, 20);
    }
    return true;
}

static kp_cluster_status_t s_status(s_test_t *self, size_t i)
{
    return kp_inproc_status(&self->c, i);
}

//  The running leader's index, or -1.
static int s_leader(s_test_t *self)
{
    return kp_inproc_leader(&self->c);
}

//  A leader, known to every running member.
static bool s_has_leader(s_test_t *self, void *arg)
{
    (void)arg;
    int leader = s_leader(self);
    for (size_t i = 0; leader >= 0 && i < self->c.config.node_count; i++)
        if (self->c.cluster[i] && s_status(self, i).leader_id != (uint64_t)leader + 1)
            return false;
    return leader >= 0;
}

//  A valid KBO from a number.
static void s_kbo(unsigned n, char kbo[24])
{
    unsigned long long base = 10000000ULL + n;
    snprintf(kbo, 24, "%08llu%02llu", base, 97 - base % 97);
}

//  A packed update: PUT institution n (or DELETE when del).
static uint8_t *s_update(unsigned n, bool del, size_t *size)
{
    char kbo[24], name[32];
    s_kbo(n, kbo);
    snprintf(name, sizeof name, "institution %u", n);
    Kp__Institution inst = KP__INSTITUTION__INIT;
    inst.kbo = kbo;
    inst.name = name;
    inst.has_sector = inst.has_type = true;
    inst.sector = 17;
    inst.type = 1;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_INSTITUTION;
    record.institution = &inst;
    Kp__DirectoryOp op = KP__DIRECTORY_OP__INIT;
    op.has_kind = true;
    op.kind = del ? KP__DIRECTORY_OP__KIND__DELETE : KP__DIRECTORY_OP__KIND__PUT;
    op.record = &record;
    Kp__DirectoryOp *ops[] = {&op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = 1;
    update.ops = ops;
    *size = kp__directory_update__get_packed_size(&update);
    uint8_t *data = malloc(*size);
    kp__directory_update__pack(&update, data);
    return data;
}

typedef struct {
    size_t member;
    uint64_t token;
} s_result_arg_t;

static bool s_has_result(s_test_t *self, void *arg)
{
    s_result_arg_t *a = (s_result_arg_t *)arg;
    return self->last[a->member].token == a->token;
}

//  Proposes update n on member i and waits for its result.
static kp_cluster_event_t s_propose(s_test_t *self, size_t i, unsigned n, bool del)
{
    size_t size;
    uint8_t *data = s_update(n, del, &size);
    char err[256];
    s_result_arg_t arg = {i, self->next_token++};
    assert_int_equal(kp_cluster_propose(self->c.cluster[i], arg.token, data, size, err, sizeof err),
                     0);
    free(data);
    if (!s_wait(self, s_has_result, &arg))
        fail_msg("no result for proposal %llu", (unsigned long long)arg.token);
    return self->last[i];
}

typedef struct {
    uint64_t seq;
} s_seq_arg_t;

static bool s_all_at(s_test_t *self, void *arg)
{
    uint64_t seq = ((s_seq_arg_t *)arg)->seq;
    for (size_t i = 0; i < self->c.config.node_count; i++)
        if (self->c.cluster[i] && kp_directory_seq(self->c.directory[i], NULL) != seq)
            return false;
    return true;
}

//  ---------------------------------------------------------------------

static bool s_replayed(s_test_t *self, void *arg)
{
    (void)arg;
    kp_cluster_status_t status = s_status(self, 0);
    return status.replayed + status.refused >= 3 && status.applied >= 1;
}

static void test_one_voter(void **state)
{
    (void)state;
    s_test_t *self = s_new(1, 1024);
    s_start(self, 0);
    assert_true(s_wait(self, s_has_leader, NULL));
    kp_cluster_event_t result = s_propose(self, 0, 1, false);
    assert_int_equal(result.result, KP_CLUSTER_OK);
    assert_int_equal(result.seq, 1);
    result = s_propose(self, 0, 2, false);
    assert_int_equal(result.seq, 2);
    //  A DELETE of an absent record: refused, nothing changes.
    result = s_propose(self, 0, 99, true);
    assert_int_equal(result.result, KP_CLUSTER_FAILED);
    assert_non_null(strstr(result.text, "not in the directory"));
    assert_int_equal(kp_directory_seq(self->c.directory[0], NULL), 2);
    uint64_t applied = kp_directory_applied(self->c.directory[0], NULL);
    assert_true(applied >= 3);
    //  Restart: raft applies its log again; the directory skips it all.
    s_stop(self, 0);
    s_start(self, 0);
    assert_true(s_wait(self, s_has_leader, NULL));
    result = s_propose(self, 0, 3, false);
    assert_int_equal(result.result, KP_CLUSTER_OK);
    assert_int_equal(result.seq, 3);
    assert_true(s_wait(self, s_replayed, NULL));
    kp_cluster_status_t status = s_status(self, 0);
    assert_int_equal(status.applied, 1); //  only the new one, since restart
    s_destroy(&self);
}

static void test_three_voters(void **state)
{
    (void)state;
    s_test_t *self = s_new(3, 1024);
    for (size_t i = 0; i < 3; i++)
        s_start(self, i);
    assert_true(s_wait(self, s_has_leader, NULL));
    int leader = s_leader(self);
    //  A follower forwards to the leader (forward.h): the leader's result,
    //  given once the follower has applied it.
    size_t follower = (size_t)(leader + 1) % 3;
    kp_cluster_event_t result = s_propose(self, follower, 1, false);
    assert_int_equal(result.result, KP_CLUSTER_OK);
    assert_int_equal(result.seq, 1);
    assert_int_equal(kp_directory_seq(self->c.directory[follower], NULL), 1);
    for (unsigned n = 2; n <= 10; n++) {
        result = s_propose(self, (size_t)leader, n, false);
        assert_int_equal(result.result, KP_CLUSTER_OK);
        assert_int_equal(result.seq, n);
    }
    s_seq_arg_t at = {10};
    assert_true(s_wait(self, s_all_at, &at));
    //  The leader dies; the two others elect one and go on.
    s_stop(self, (size_t)leader);
    assert_true(s_wait(self, s_has_leader, NULL));
    int second = s_leader(self);
    assert_int_not_equal(second, leader);
    for (unsigned n = 11; n <= 15; n++)
        assert_int_equal(s_propose(self, (size_t)second, n, false).result, KP_CLUSTER_OK);
    //  It comes back and catches up.
    s_start(self, (size_t)leader);
    at.seq = 15;
    assert_true(s_wait(self, s_all_at, &at));
    s_destroy(&self);
}

static bool s_restored(s_test_t *self, void *arg)
{
    size_t i = *(size_t *)arg;
    return s_status(self, i).restores > 0;
}

static void test_wiped_member_installs_snapshot(void **state)
{
    (void)state;
    s_test_t *self = s_new(3, 8); //  a snapshot every 8 entries, 2 kept
    for (size_t i = 0; i < 3; i++)
        s_start(self, i);
    assert_true(s_wait(self, s_has_leader, NULL));
    size_t leader = (size_t)s_leader(self), gone = (leader + 1) % 3;
    s_stop(self, gone);
    for (unsigned n = 1; n <= 40; n++)
        assert_int_equal(s_propose(self, leader, n, false).result, KP_CLUSTER_OK);
    //  Its data folder wiped, the member comes back: a snapshot, then the log.
    kp_test_rmtree(self->c.config.nodes[gone].data);
    s_start(self, gone);
    assert_true(s_wait(self, s_restored, &gone));
    assert_int_equal(s_propose(self, leader, 41, false).result, KP_CLUSTER_OK);
    s_seq_arg_t at = {41};
    assert_true(s_wait(self, s_all_at, &at));
    s_destroy(&self);
}

static bool s_three_members(s_test_t *self, void *arg)
{
    return s_status(self, *(size_t *)arg).members == 3;
}

//  The learner (node index 3) knows the three voters and itself. Its
//  status is the one its actor last sent (kp_cluster_status), which may
//  come after its directory has caught up: wait for it, do not read it once.
static bool s_learner_knows_all(s_test_t *self, void *arg)
{
    (void)arg;
    kp_cluster_status_t status = s_status(self, 3);
    return status.voters == 3 && status.members == 4;
}

static void test_join_learner(void **state)
{
    (void)state;
    s_test_t *self = s_new(4, 1024);
    kp_node_config_t *learner = &self->c.config.nodes[3];
    learner->role = KP_ROLE_LEARNER;
    learner->join = true;
    for (size_t i = 0; i < 3; i++)
        s_start(self, i);
    assert_true(s_wait(self, s_has_leader, NULL));
    size_t leader = (size_t)s_leader(self);
    for (unsigned n = 1; n <= 5; n++)
        assert_int_equal(s_propose(self, leader, n, false).result, KP_CLUSTER_OK);
    //  The new node starts empty and follows nobody until it is added.
    s_start(self, 3);
    s_result_arg_t arg = {leader, self->next_token++};
    assert_int_equal(
        kp_cluster_add(self->c.cluster[leader], arg.token, 4, "node-4", KP_ROLE_LEARNER), 0);
    assert_true(s_wait(self, s_has_result, &arg));
    assert_int_equal(self->last[leader].result, KP_CLUSTER_OK);
    assert_int_equal(s_propose(self, leader, 6, false).result, KP_CLUSTER_OK);
    s_seq_arg_t at = {6};
    assert_true(s_wait(self, s_all_at, &at));
    assert_true(s_wait(self, s_learner_knows_all, NULL));
    assert_int_not_equal(s_status(self, 3).state, KP_CLUSTER_STATE_LEADER);
    //  Leadership moves on request, to a voter only.
    size_t target = (leader + 1) % 3;
    arg = (s_result_arg_t){leader, self->next_token++};
    assert_int_equal(kp_cluster_transfer(self->c.cluster[leader], arg.token, target + 1), 0);
    assert_true(s_wait(self, s_has_result, &arg));
    assert_int_equal(self->last[leader].result, KP_CLUSTER_OK);
    assert_true(s_wait(self, s_has_leader, NULL));
    assert_int_equal(s_leader(self), (int)target);
    //  And the learner leaves.
    arg = (s_result_arg_t){target, self->next_token++};
    assert_int_equal(kp_cluster_remove(self->c.cluster[target], arg.token, 4), 0);
    assert_true(s_wait(self, s_has_result, &arg));
    assert_int_equal(self->last[target].result, KP_CLUSTER_OK);
    assert_true(s_wait(self, s_three_members, &target));
    s_destroy(&self);
}

static bool s_voter_leads(s_test_t *self, void *arg)
{
    (void)arg;
    int leader = s_leader(self);
    return s_has_leader(self, NULL) && self->c.config.nodes[leader].role == KP_ROLE_VOTER;
}

//  A witness made leader hands leadership to a voter by itself.
static void test_witness_steps_aside(void **state)
{
    (void)state;
    s_test_t *self = s_new(3, 1024);
    self->c.config.nodes[2].role = KP_ROLE_WITNESS;
    for (size_t i = 0; i < 3; i++)
        s_start(self, i);
    assert_true(s_wait(self, s_voter_leads, NULL));
    size_t leader = (size_t)s_leader(self);
    assert_int_equal(s_propose(self, leader, 1, false).result, KP_CLUSTER_OK);
    s_result_arg_t arg = {leader, self->next_token++};
    assert_int_equal(kp_cluster_transfer(self->c.cluster[leader], arg.token, 3), 0);
    assert_true(s_wait(self, s_has_result, &arg));
    assert_int_equal(self->last[leader].result, KP_CLUSTER_OK); //  the witness led
    assert_true(s_wait(self, s_voter_leads, NULL));
    leader = (size_t)s_leader(self);
    assert_int_equal(s_propose(self, leader, 2, false).result, KP_CLUSTER_OK);
    s_destroy(&self);
}

//  CURVE between members: each with its certificate, each DEALER with the
//  key of the member it talks to (from the cluster file's cert). A member
//  without CURVE cannot join; the others go on. The ZAP handler is
//  kpnode's own (zap.h), taking the three node keys on "peer": its User-Id
//  is the key, which raftio checks against each frame's sender.
static void test_curve_between_members(void **state)
{
    (void)state;
    s_test_t *self = s_new(3, 1024);
    self->c.config.insecure = false;
    char keys[3][KP_CURVE_Z85], err[256];
    const char *peers[3];
    for (size_t i = 0; i < 3; i++) {
        kp_node_config_t *node = &self->c.config.nodes[i];
        //  Formatted aside: node and self->dir are in one object, which
        //  snprintf's restrict arguments may not share (GCC -Wrestrict).
        char cert[sizeof node->cert];
        snprintf(cert, sizeof cert, "%s/node-%zu.cert", self->dir, i + 1);
        memcpy(node->cert, cert, sizeof cert);
        assert_int_equal(kp_curve_cert_new(node->cert, err, sizeof err), 0);
        assert_int_equal(kp_curve_node_key(node, keys[i], err, sizeof err), 0);
        peers[i] = keys[i];
    }
    //  The handler's own directory: only "peer" is asked here, which
    //  needs none of it (the members' own come and go with them).
    char path[600];
    snprintf(path, sizeof path, "%s/zap-directory", self->dir);
    kp_directory_t *directory = kp_directory_new(path, err, sizeof err);
    assert_non_null(directory);
    kp_zap_t *auth = kp_zap_new(directory, peers, 3, err, sizeof err);
    assert_non_null(auth);
    for (size_t i = 0; i < 3; i++)
        s_start(self, i);
    assert_true(s_wait(self, s_has_leader, NULL));
    size_t leader = (size_t)s_leader(self);
    for (unsigned n = 1; n <= 5; n++)
        assert_int_equal(s_propose(self, leader, n, false).result, KP_CLUSTER_OK);
    s_seq_arg_t at = {5};
    assert_true(s_wait(self, s_all_at, &at));
    //  Plain text gets no further than the handshake: nothing is read.
    kp_cluster_status_t before = s_status(self, leader);
    zsock_t *intruder = zsock_new_dealer(self->c.config.nodes[leader].peer);
    zstr_send(intruder, "not a protobuf at all");
    assert_int_equal(s_propose(self, leader, 6, false).result, KP_CLUSTER_OK);
    kp_cluster_status_t after = s_status(self, leader);
    assert_int_equal(after.io.refused[KP_RAFTWIRE_MALFORMED],
                     before.io.refused[KP_RAFTWIRE_MALFORMED]);
    zsock_destroy(&intruder);
    kp_zap_destroy(&auth);
    kp_directory_destroy(&directory);
    s_destroy(&self);
}

static bool s_snapshot_taken(s_test_t *self, void *arg)
{
    return s_status(self, *(size_t *)arg).snapshots > 0;
}

//  A snapshot comes after snapshot-mib MiB of entries, well before the
//  threshold's count of entries.
static void test_snapshot_by_size(void **state)
{
    (void)state;
    s_test_t *self = s_new(1, 1024);
    self->c.config.snapshot_mib = 1;
    s_start(self, 0);
    assert_true(s_wait(self, s_has_leader, NULL));
    size_t member = 0;
    for (unsigned n = 0; n < 24 && !s_snapshot_taken(self, &member); n++) {
        size_t size;
        uint8_t *data =
            kp_inproc_update(100000 + n * 1000, 1000,
                             "an institution with a name long enough to fill a few bytes", &size);
        char err[256];
        s_result_arg_t arg = {0, self->next_token++};
        assert_int_equal(
            kp_cluster_propose(self->c.cluster[0], arg.token, data, size, err, sizeof err), 0);
        free(data);
        assert_true(s_wait(self, s_has_result, &arg));
        assert_int_equal(self->last[0].result, KP_CLUSTER_OK);
    }
    assert_true(s_wait(self, s_snapshot_taken, &member));
    assert_true(s_status(self, 0).snapshot_index < 30);
    s_destroy(&self);
}

static bool s_refused(s_test_t *self, void *arg)
{
    uint64_t want = *(uint64_t *)arg, refused = 0;
    kp_cluster_status_t status = s_status(self, 0);
    for (int r = 0; r < KP_RAFTWIRE_REASONS; r++)
        refused += status.io.refused[r];
    return refused >= want;
}

static bool s_snapshot_refused(s_test_t *self, void *arg)
{
    (void)arg;
    return s_status(self, 0).io.snapshots_refused == 1;
}

static void test_hostile_frames(void **state)
{
    (void)state;
    s_test_t *self = s_new(3, 1024);
    s_start(self, 0); //  alone: no leader, but its peer socket listens
    zsock_t *intruder = zsock_new_dealer(self->c.config.nodes[0].peer);
    assert_non_null(intruder);
    zstr_send(intruder, "not a protobuf at all \xff\xff\xff");
    zstr_sendm(intruder, "two");
    zstr_send(intruder, "frames");
    //  Valid protobuf, another cluster.
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    Kp__RaftTimeoutNow now = KP__RAFT_TIMEOUT_NOW__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_TIMEOUT_NOW;
    frame.timeout_now = &now;
    size_t size;
    uint8_t *data = kp_raftwire_pack("other", 2, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    //  Our cluster, but fields missing; then a sender id of 0.
    data = kp_raftwire_pack("test", 2, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    data = kp_raftwire_pack("test", 0, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    //  A chunk of a transfer nobody offered, and an oversized offer.
    Kp__SnapshotOffer offer = KP__SNAPSHOT_OFFER__INIT;
    offer.has_transfer = offer.has_size = true;
    offer.size = 1ULL << 50;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_OFFER;
    frame.snapshot_offer = &offer;
    data = kp_raftwire_pack("test", 2, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    //  A snapshot whose bytes do not match its SHA-256: written aside,
    //  checked, refused, never handed to raft.
    Kp__SnapshotOffer good = KP__SNAPSHOT_OFFER__INIT;
    good.has_transfer = good.has_term = good.has_last_index = good.has_last_term = true;
    good.has_conf_index = good.has_size = good.has_sha256 = true;
    good.transfer = 7;
    good.term = good.last_index = good.last_term = good.conf_index = 1;
    good.size = 5;
    uint8_t sha[32] = {0};
    good.sha256.data = sha;
    good.sha256.len = 32;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_OFFER;
    frame.snapshot_offer = &good;
    data = kp_raftwire_pack("test", 2, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    Kp__SnapshotChunk chunk = KP__SNAPSHOT_CHUNK__INIT;
    chunk.has_transfer = chunk.has_offset = chunk.has_data = true;
    chunk.transfer = 7;
    chunk.data.data = (uint8_t *)"hello";
    chunk.data.len = 5;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK;
    frame.snapshot_chunk = &chunk;
    data = kp_raftwire_pack("test", 2, "node-2", &frame, &size);
    zmq_send(zsock_resolve(intruder), data, size, 0);
    free(data);
    uint64_t want = 6;
    assert_true(s_wait(self, s_refused, &want));
    assert_true(s_wait(self, s_snapshot_refused, NULL));
    assert_int_equal(s_status(self, 0).restores, 0);
    kp_cluster_status_t status = s_status(self, 0);
    assert_true(status.io.refused[KP_RAFTWIRE_MALFORMED] >= 2);
    assert_true(status.io.refused[KP_RAFTWIRE_WRONG_CLUSTER] >= 1);
    assert_true(status.io.refused[KP_RAFTWIRE_BAD_SENDER] >= 1);
    assert_true(status.io.refused[KP_RAFTWIRE_BAD_FIELD] >= 2);
    zsock_destroy(&intruder);
    //  And it still forms a cluster with the others.
    s_start(self, 1);
    s_start(self, 2);
    assert_true(s_wait(self, s_has_leader, NULL));
    s_destroy(&self);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_voter),
        cmocka_unit_test(test_three_voters),
        cmocka_unit_test(test_wiped_member_installs_snapshot),
        cmocka_unit_test(test_join_learner),
        cmocka_unit_test(test_snapshot_by_size),
        cmocka_unit_test(test_witness_steps_aside),
        cmocka_unit_test(test_curve_between_members),
        cmocka_unit_test(test_hostile_frames),
    };
    zsys_init();
    if (!getenv("KP_TEST_LOG"))
        zsys_set_logstream(NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
