/*  test_dirfsm.c - the directory as raft's state machine, under libraft's
    own deterministic fixture (raft_fixture: simulated time, network and
    disk), over many seeds.

    Each seed drives three servers, each with a real LMDB directory, with
    a random schedule of proposals, kills, revivals, cut and healed links
    and elapsed time; snapshots are taken every few entries (not installed:
    see s_sim_new). After healing, every
    directory must hold the same sequence and raft index, and the sequence
    must equal the number of institutions (each entry PUTs a new one: an
    entry applied twice would count twice).

    The seeds: a fixed list, printed; KP_SEED=N runs seed N alone;
    KP_SEED_COUNT=N runs seeds 1..N (bench/raft-seeds.sh).

    Pinned libraft 0.15 behaviour: fsm->apply sees last_applied = the
    entry's index - 1 (dirfsm computes the index from it); apply's result
    pointer reaches the proposer's callback; the fixture's io is version 1,
    so raft_init refuses an fsm with asynchronous snapshots on it (the
    snapshots here are taken in raft's thread: sync_snapshots).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>
#include <raft/fixture.h>

#include "dirfsm.h"
#include "directory.h"
#include "raftfix.h"
#include "tmpdir.h"

#define S_SERVERS 3
#define S_STEPS 120
#define S_BUG_SEED 2 //  a seed that shows libraft's match-index bug

typedef struct {
    char dir[128];
    char snapshots[200];
    struct raft_fixture fixture;
    kp_directory_t *directory[S_SERVERS];
    struct raft_fsm *fsm[S_SERVERS];
    kp_raftfix_t *fix[S_SERVERS];
    uint64_t random;
    unsigned next_kbo;
    unsigned proposed, acked;
} s_sim_t;

typedef struct {
    struct raft_apply req;
    s_sim_t *sim;
} s_req_t;

static uint64_t s_rand(s_sim_t *self)
{
    self->random ^= self->random << 13;
    self->random ^= self->random >> 7;
    self->random ^= self->random << 17;
    return self->random;
}

static int s_replace(void *arg, const char *file, char *err, size_t errlen)
{
    return kp_directory_replace((kp_directory_t *)arg, file, err, errlen);
}

static void s_kbo(unsigned n, char kbo[24])
{
    unsigned long long base = 10000000ULL + n;
    snprintf(kbo, 24, "%08llu%02llu", base, 97 - base % 97);
}

static struct raft_buffer s_update(unsigned n)
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
    op.record = &record;
    Kp__DirectoryOp *ops[] = {&op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = 1;
    update.ops = ops;
    struct raft_buffer buf;
    buf.len = kp__directory_update__get_packed_size(&update);
    buf.base = raft_malloc(buf.len);
    kp__directory_update__pack(&update, buf.base);
    return buf;
}

static void s_applied(struct raft_apply *req, int status, void *result)
{
    s_req_t *r = (s_req_t *)req;
    if (status == 0) {
        const kp_dirfsm_result_t *outcome = result;
        //  The index dirfsm saw is the one raft gave the request.
        assert_int_equal(outcome->index, req->index);
        assert_int_equal(outcome->status, KP_DIRFSM_OK);
        r->sim->acked++;
    }
    free(r);
}

//  A temporary folder on tmpfs when there is one: the directories fsync
//  every apply, and the seeds are many.
static void s_tmpdir(char *path, size_t size)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(path, size, "/dev/shm/kp-dirfsm-XXXXXX");
        if (mkdtemp(path))
            return;
    }
    assert_int_equal(kp_test_tmpdir(path, size, "kp-dirfsm"), 0);
}

//  How a seed runs: with the shim (raftfix.h) or not; with the schedule
//  of the test, or the one that first showed libraft's match-index bug
//  (no pre-vote, 0-2 trailing entries: see test_libraft_match_index_bug).
typedef struct {
    bool fixed;
    bool first_schedule;
} s_mode_t;

static s_sim_t *s_sim_new(uint64_t seed, s_mode_t mode)
{
    s_sim_t *self = calloc(1, sizeof *self);
    assert_non_null(self);
    self->random = seed * 0x9E3779B97F4A7C15ULL + 1;
    s_tmpdir(self->dir, sizeof self->dir);
    snprintf(self->snapshots, sizeof self->snapshots, "%s/snapshots", self->dir);
    assert_int_equal(mkdir(self->snapshots, 0700), 0);
    struct raft_fixture *f = &self->fixture;
    assert_int_equal(raft_fixture_initialize(f), 0);
    for (unsigned i = 0; i < S_SERVERS; i++) {
        char path[300], err[256];
        snprintf(path, sizeof path, "%s/dir-%u", self->dir, i);
        self->directory[i] = kp_directory_new(path, err, sizeof err);
        assert_non_null(self->directory[i]);
        kp_dirfsm_options_t options = {.directory = self->directory[i],
                                       .snapshots = self->snapshots,
                                       .raft = &f->servers[i].raft,
                                       .replace = s_replace,
                                       .replace_arg = self->directory[i],
                                       .sync_snapshots = true};
        self->fsm[i] = kp_dirfsm_new(&options);
        assert_int_equal(raft_fixture_grow(f, self->fsm[i]), 0);
        struct raft *raft = raft_fixture_get(f, i);
        raft_set_pre_vote(raft, !mode.first_schedule); //  on, as in the cluster
        if (mode.fixed)
            self->fix[i] = kp_raftfix_wrap(raft);
        raft_set_snapshot_threshold(raft, 3 + (unsigned)(s_rand(self) % 5));
        //  Trailing entries enough that no follower needs a snapshot:
        //  libraft 0.15's fixture io keeps its entries from index 1 on, and
        //  after it installed a snapshot its truncate copies past its array
        //  (found here under ASan). Installs are tested with our own io
        //  (test_cluster); snapshots are taken here all the same.
        raft_set_snapshot_trailing(raft, mode.first_schedule ? (unsigned)(s_rand(self) % 3) : 1000);
        raft_fixture_set_randomized_election_timeout(f, i, 1000 + (unsigned)(s_rand(self) % 1000));
        raft_fixture_set_network_latency(f, i, 1 + (unsigned)(s_rand(self) % 30));
        raft_fixture_set_disk_latency(f, i, 1 + (unsigned)(s_rand(self) % 10));
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(f, S_SERVERS, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(f), 0);
    return self;
}

static void s_sim_destroy(s_sim_t **self_p)
{
    s_sim_t *self = *self_p;
    raft_fixture_close(&self->fixture);
    for (unsigned i = 0; i < S_SERVERS; i++) {
        kp_raftfix_destroy(&self->fix[i]);
        kp_dirfsm_destroy(&self->fsm[i]);
        kp_directory_destroy(&self->directory[i]);
    }
    kp_test_rmtree(self->dir);
    free(self);
    *self_p = NULL;
}

static void s_propose(s_sim_t *self)
{
    struct raft_fixture *f = &self->fixture;
    unsigned leader = raft_fixture_leader_index(f);
    if (leader >= S_SERVERS)
        return;
    s_req_t *req = calloc(1, sizeof *req);
    req->sim = self;
    struct raft_buffer buf = s_update(++self->next_kbo);
    if (raft_apply(raft_fixture_get(f, leader), &req->req, &buf, 1, s_applied)) {
        raft_free(buf.base);
        free(req);
        return;
    }
    self->proposed++;
}

static unsigned s_alive(s_sim_t *self)
{
    unsigned alive = 0;
    for (unsigned i = 0; i < S_SERVERS; i++)
        alive += raft_fixture_alive(&self->fixture, i);
    return alive;
}

//  One random event of the schedule.
static void s_event(s_sim_t *self)
{
    struct raft_fixture *f = &self->fixture;
    unsigned i = (unsigned)(s_rand(self) % S_SERVERS), j = (unsigned)(s_rand(self) % S_SERVERS);
    switch (s_rand(self) % 12) {
    case 0:
        if (s_alive(self) == S_SERVERS)
            raft_fixture_kill(f, i);
        break;
    case 1:
        if (!raft_fixture_alive(f, i))
            raft_fixture_revive(f, i);
        break;
    case 2:
        if (i != j)
            raft_fixture_disconnect(f, i, j);
        break;
    case 3:
        if (i != j)
            raft_fixture_reconnect(f, i, j);
        break;
    case 4:
        raft_fixture_step_until_elapsed(f, 500);
        break;
    default:
        s_propose(self);
    }
    raft_fixture_step_n(f, 1 + (unsigned)(s_rand(self) % 20));
}

static void s_heal(s_sim_t *self)
{
    struct raft_fixture *f = &self->fixture;
    for (unsigned i = 0; i < S_SERVERS; i++) {
        if (!raft_fixture_alive(f, i))
            raft_fixture_revive(f, i);
        for (unsigned j = 0; j < S_SERVERS; j++)
            if (i != j)
                raft_fixture_reconnect(f, i, j);
    }
}

//  Runs one seed; false if the servers did not converge (with unfixed
//  libraft only: the caller fails otherwise).
static bool s_run_seed_with(uint64_t seed, s_mode_t mode)
{
    s_sim_t *self = s_sim_new(seed, mode);
    struct raft_fixture *f = &self->fixture;
    for (unsigned step = 0; step < S_STEPS; step++)
        s_event(self);
    s_heal(self);
    if (!raft_fixture_step_until_has_leader(f, 60000))
        fail_msg("seed %llu: no leader after healing", (unsigned long long)seed);
    //  A last entry of the leader's term commits everything before it.
    s_propose(self);
    unsigned leader = raft_fixture_leader_index(f);
    raft_index last = raft_last_index(raft_fixture_get(f, leader));
    if (!raft_fixture_step_until_applied(f, S_SERVERS, last, 120000)) {
        if (!mode.fixed) {
            s_sim_destroy(&self);
            return false;
        }
        for (unsigned i = 0; i < S_SERVERS; i++) {
            struct raft *r = raft_fixture_get(f, i);
            fprintf(stderr,
                    "# server %u: state %d term %llu commit %llu applied %llu last %llu "
                    "snapshot %llu directory %llu\n",
                    i, raft_state(r), r->current_term, r->commit_index, r->last_applied,
                    raft_last_index(r), r->log.snapshot.last_index,
                    (unsigned long long)kp_directory_applied(self->directory[i], NULL));
        }
        fail_msg("seed %llu: not every server applied %llu", (unsigned long long)seed, last);
    }
    uint64_t seq0 = kp_directory_seq(self->directory[0], NULL);
    uint64_t applied0 = kp_directory_applied(self->directory[0], NULL);
    for (unsigned i = 0; i < S_SERVERS; i++) {
        kp_directory_counts_t counts;
        MDB_txn *txn = kp_directory_read_begin(self->directory[i], NULL, 0);
        assert_non_null(txn);
        assert_int_equal(kp_directory_counts(self->directory[i], txn, &counts), 0);
        uint64_t seq = kp_directory_seq(self->directory[i], txn);
        kp_directory_read_end(&txn);
        if (seq != seq0 || seq != counts.institutions ||
            kp_directory_applied(self->directory[i], NULL) != applied0)
            fail_msg("seed %llu: server %u has seq %llu, %zu institutions, index %llu; "
                     "server 0 seq %llu index %llu",
                     (unsigned long long)seed, i, (unsigned long long)seq, counts.institutions,
                     (unsigned long long)kp_directory_applied(self->directory[i], NULL),
                     (unsigned long long)seq0, (unsigned long long)applied0);
    }
    //  Every acknowledged update is there (acks <= entries applied).
    assert_true(seq0 >= self->acked);
    assert_true(seq0 <= self->proposed);
    s_sim_destroy(&self);
    return true;
}

static void s_run_seed(uint64_t seed)
{
    s_mode_t mode = {!getenv("KP_RAFT_UNFIXED"), false};
    s_run_seed_with(seed, mode);
}

//  Pins libraft 0.15's match-index bug (raftfix.h): on the schedule that
//  first showed it, seed 2 never converges without the shim (the leader
//  ignores a follower's rejections for good); with it, it does. When a
//  libraft without the bug comes, this fails, and the shim may go. (That
//  schedule has few trailing entries, so followers install snapshots,
//  which the fixture's io cannot always take: see s_sim_new.)
static void test_libraft_match_index_bug(void **state)
{
    (void)state;
    if (getenv("KP_SEED") || getenv("KP_SEED_COUNT"))
        skip();
    assert_false(s_run_seed_with(S_BUG_SEED, (s_mode_t){false, true}));
    assert_true(s_run_seed_with(S_BUG_SEED, (s_mode_t){true, true}));
}

static void test_seeds(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233};
    const char *one = getenv("KP_SEED"), *count = getenv("KP_SEED_COUNT");
    if (one) {
        printf("# seed %s\n", one);
        s_run_seed(strtoull(one, NULL, 10));
        return;
    }
    if (count) {
        unsigned long long n = strtoull(count, NULL, 10);
        for (unsigned long long seed = 1; seed <= n; seed++) {
            printf("# seed %llu\n", seed);
            fflush(stdout);
            s_run_seed(seed);
        }
        return;
    }
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        printf("# seed %llu (KP_SEED=%llu reruns it)\n", (unsigned long long)seeds[i],
               (unsigned long long)seeds[i]);
        fflush(stdout);
        s_run_seed(seeds[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libraft_match_index_bug),
        cmocka_unit_test(test_seeds),
    };
    zsys_init();
    if (!getenv("KP_TEST_LOG"))
        zsys_set_logstream(NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
