/*  test_log_crash.c - a real kpnode killed with SIGKILL under load: no
    response that left the node is missing from its privacy log.

    One node with a signed log (key made with kp_privlog_keygen, named by the
    cluster file's log-key) answers a client that keeps many requests in
    flight over a raw DEALER. At a random moment the node is killed with
    SIGKILL; the client then takes every response that had reached it.
    After each restart (which repairs a torn tail; the index is caught
    up), the test reads the segments and checks that every response the
    client received has its DECISION (or COMPLETE) record, found by
    request id; that no OUTCOME exists without its DECISION before it; that
    kp_privlog_verify passes with the trusted public key, and that the index
    finds each of those records under its person.

    The requests need no provider worker (refusals, NO_DATA, and a
    provider with no live worker), so the load is as fast as the node and
    a worker process does not have to survive the node's restarts.
*/
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
#include "seed.h"
#include "logindex.h"
#include "privlog.h"

//  harness_a1_directory's person, whose provider has no worker: UNAVAILABLE.
#define PERSON_ONE HARNESS_PERSON
#define PERSON_ALONE "75061512374" //  held by the requester only: NO_DATA
#define PERSON_OTHER "05031245618" //  not held by the requester: DENIED

#define S_CYCLES 12
#define S_IN_FLIGHT 128

static const char *const s_people[] = {PERSON_ONE, PERSON_ALONE, PERSON_OTHER};

//  Loaded after harness_a1_directory.
static const char *s_alone =
    "{\"table\":\"person\",\"insz\":\"" PERSON_ALONE "\",\"kbo\":\"" HARNESS_REQUESTER
    "\",\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

//  The ids of every response the client received, and what the log holds.
typedef struct {
    harness_ids_t received;
    zhashx_t *logged;    //  request id -> seq of its DECISION or COMPLETE record
    zhashx_t *person;    //  request id -> person (owned by the hash)
    zhashx_t *decisions; //  seq (text) -> 1 for each DECISION record
    uint64_t records, outcomes, unknown;
} s_state_t;

//  Keeps S_IN_FLIGHT requests going for run_ms, then kills the node and
//  takes every response that had reached the client.
static void s_load_and_kill(harness_t *harness, s_state_t *state, int cycle, int run_ms)
{
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    char tag[32];
    snprintf(tag, sizeof tag, "crash-%d", cycle);
    harness_a1_load(client, &state->received, tag, s_people, 3, S_IN_FLIGHT, run_ms);
    int status = harness_stop_node(harness, 0, SIGKILL);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (harness_take(client, &state->received, 300))
        ;
    zsock_destroy(&client);
}

static int s_collect(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    s_state_t *state = arg;
    state->records++;
    char key[24];
    if (record->has_kind && record->kind == KP__LOG_KIND__LOG_OUTCOME) {
        //  No outcome without its decision, logged before it.
        snprintf(key, sizeof key, "%llu", (unsigned long long)record->decision_seq);
        if (!record->has_decision_seq || !zhashx_lookup(state->decisions, key))
            fail_msg("outcome seq %llu of %s has no DECISION record (decision_seq %llu)",
                     (unsigned long long)seq, record->request_id ? record->request_id : "?",
                     (unsigned long long)record->decision_seq);
        zhashx_delete(state->decisions, key);
        state->outcomes++;
        return 0;
    }
    if (record->has_kind && record->kind == KP__LOG_KIND__LOG_DECISION) {
        snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
        zhashx_insert(state->decisions, key, (void *)1);
    }
    if (record->request_id && !strncmp(record->request_id, "crash-", 6)) {
        //  A request id is logged once: the node answers a retry once.
        assert_null(zhashx_lookup(state->logged, record->request_id));
        zhashx_insert(state->logged, record->request_id, (void *)(uintptr_t)seq);
        zhashx_insert(state->person, record->request_id, record->person ? record->person : "");
    }
    return 0;
}

static int s_seq_seen(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    (void)segment;
    (void)offset;
    zhashx_t *seen = arg;
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
    zhashx_insert(seen, key, (void *)1);
    return 0;
}

//  Every received response has its record, the log verifies with the
//  trusted key, and the index finds each record under its person.
static void s_check(harness_t *harness, s_state_t *state, const char *logdir, const char *pub)
{
    (void)harness;
    char error[256];
    zhashx_purge(state->logged);
    zhashx_purge(state->person);
    zhashx_purge(state->decisions);
    state->records = state->outcomes = 0;
    assert_int_equal(
        kp_privlog_scan(logdir, INT32_MIN, INT32_MAX, s_collect, state, error, sizeof error), 0);
    //  Decisions left without an outcome: the node died between the two
    //  (kpctl shows them as 'outcome unknown').
    state->unknown = zhashx_size(state->decisions);
    for (size_t i = 0; i < state->received.count; i++)
        if (!zhashx_lookup(state->logged, state->received.ids[i]))
            fail_msg("response %s reached the client but has no decision record",
                     state->received.ids[i]);

    kp_privlog_verify_t result;
    int rc = kp_privlog_verify(logdir, INT32_MIN, INT32_MAX, pub, &result, error, sizeof error);
    if (rc != 0)
        fail_msg("verify: %s %s at %s offset %llu (seq %llu): %s%s", result.problem, result.detail,
                 result.segment, (unsigned long long)result.offset, (unsigned long long)result.seq,
                 rc < 0 ? error : "", "");
    assert_true(result.ok);
    assert_false(result.key_from_log);
    //  A checkpoint is signed every 1000 records (or 10 s, or on a clean
    //  close, which SIGKILL prevents): a short first cycle may have none.
    if (state->records >= 1000)
        assert_true(result.checkpoints > 0);
    assert_int_equal(result.records, state->records);

    //  As kpctl log query does: the index follows the log in the
    //  background and is caught up before it is read.
    assert_true(kp_privlog_index_catch_up(logdir, 0, error, sizeof error) >= 0);
    char path[600];
    snprintf(path, sizeof path, "%s/index", logdir);
    kp_logindex_t *index = kp_logindex_open(path, true, 0, error, sizeof error);
    assert_non_null(index);
    zhashx_t *seen = zhashx_new();
    for (size_t p = 0; p < 3; p++)
        assert_true(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], 0, UINT64_MAX,
                                      s_seq_seen, seen) >= 0);
    for (size_t i = 0; i < state->received.count; i++) {
        char key[24];
        uintptr_t seq = (uintptr_t)zhashx_lookup(state->logged, state->received.ids[i]);
        snprintf(key, sizeof key, "%llu", (unsigned long long)seq);
        if (!zhashx_lookup(seen, key))
            fail_msg("the index does not find %s (seq %llu) under person %s",
                     state->received.ids[i], (unsigned long long)seq,
                     (char *)zhashx_lookup(state->person, state->received.ids[i]));
    }
    zhashx_destroy(&seen);
    kp_logindex_destroy(&index);
}

static void test_sigkill_under_load(void **unused)
{
    (void)unused;
    harness_t *harness = harness_new(1, 100, 2000, 65536);
    char key[400], pub[420], logdir[400], error[256];
    snprintf(key, sizeof key, "%s/log.key", harness->dir);
    snprintf(pub, sizeof pub, "%s.pub", key);
    snprintf(logdir, sizeof logdir, "%s/node-1/log", harness->dir);
    assert_int_equal(kp_privlog_keygen(key, error, sizeof error), 0);
    char line[440];
    snprintf(line, sizeof line, "log-key = \"%s\"", key);
    harness_cluster_line(harness, line);

    s_state_t state = {.records = 0};
    state.logged = zhashx_new();
    state.decisions = zhashx_new();
    state.person = zhashx_new();
    zhashx_set_duplicator(state.logged, NULL);
    zhashx_set_destructor(state.person, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_duplicator(state.person, (zhashx_duplicator_fn *)strdup);

    srand((unsigned)kp_test_seed("log crash", 20261130));
    harness_start_node(harness, 0);
    harness_load(harness, 0, harness_a1_directory);
    harness_load(harness, 0, s_alone);
    size_t before = 0;
    for (int cycle = 0; cycle < S_CYCLES; cycle++) {
        s_load_and_kill(harness, &state, cycle, 100 + rand() % 600);
        harness_start_node(harness, 0); //  repairs the tail, catches the index up
        s_check(harness, &state, logdir, pub);
        printf("# cycle %d: %zu responses received, all with their decision (%llu records, %llu "
               "outcomes, %llu decisions with outcome unknown)\n",
               cycle, state.received.count - before, (unsigned long long)state.records,
               (unsigned long long)state.outcomes, (unsigned long long)state.unknown);
        assert_true(state.received.count > before); //  the node did answer under load
        before = state.received.count;
    }
    harness_ids_free(&state.received);
    zhashx_destroy(&state.logged);
    zhashx_destroy(&state.decisions);
    zhashx_destroy(&state.person);
    harness_destroy(&harness);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_under_load),
    };
    return cmocka_run_group_tests_name("log-crash", tests, NULL, NULL);
}
