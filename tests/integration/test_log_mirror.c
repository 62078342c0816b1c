/*  test_log_mirror.c - the privacy log on two sites (log/mirror.h), with
    real kpnode processes: node-1 (site-1) ships its log to node-2
    (site-2) with log-durability "two-sites".

    1. Under calls, every response the client receives has its record in
       the copy node-2 keeps, and the copy verifies (kp_privlog_verify,
       what `kpctl log verify --dir` runs).
    2. node-2 killed with SIGKILL: node-1 goes on answering, degraded (its
       status says so); node-2 restarted: the copy catches up, node-1
       leaves the degraded mode, the copy verifies and holds every record;
       the records answered meanwhile are marked local-only (LOG_MIRROR
       records, log/localonly.h) in the log and the copy, the others not,
       and `kpctl log verify --json` counts them.
    3. node-1 killed with SIGKILL under calls: the copy verifies and holds
       every record whose response the client received; `kpctl log
       query|stats -c` read node-1's records from its copy on node-2.

    The calls need no provider worker (NO_DATA and refusals), as in
    test_log_crash.
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
#include <jansson.h>

#include "harness.h"
#include "localonly.h"
#include "privlog.h"

#define PERSON_ALONE "75061512374" //  held by the requester only: NO_DATA
#define PERSON_OTHER "05031245618" //  not held by the requester: DENIED
#define S_IN_FLIGHT 64

static const char *const s_people[] = {PERSON_OTHER, PERSON_ALONE};

//  Loaded after harness_a1_directory.
static const char *s_alone =
    "{\"table\":\"person\",\"insz\":\"" PERSON_ALONE "\",\"kbo\":\"" HARNESS_REQUESTER
    "\",\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

typedef struct {
    harness_ids_t received;
    zhashx_t *logged; //  request ids found in the copy
} s_state_t;

//  The cluster file with log-durability two-sites and a mirror endpoint
//  per node.
static void s_two_sites(harness_t *harness)
{
    harness_cluster_line(harness, "log-durability = \"two-sites\"");
    harness_cluster_line(harness, "log-mirror-timeout = 300");
    for (size_t i = 0; i < harness->node_count; i++) {
        char line[64];
        snprintf(line, sizeof line, "mirror = \"tcp://127.0.0.1:%d\"", harness_free_port());
        harness_node_line(harness, i, line);
    }
}

//  Calls node-1 for run_ms with S_IN_FLIGHT in flight; with kill, kills
//  it at the end, else waits for the answers still due. Returns how many
//  responses came.
static size_t s_calls_kill(harness_t *harness, s_state_t *state, const char *tag, int run_ms,
                           int kill)
{
    zsock_t *client = harness_client(harness, 0);
    size_t before = state->received.count;
    harness_a1_load(client, &state->received, tag, s_people, 2, S_IN_FLIGHT, run_ms);
    //  kill 2: the mirror, then node-1 at once (both sites fail)
    for (int i = kill == 2 ? 1 : kill; i >= 0 && i <= 1; i += kill == 2 ? -1 : 2) {
        int status = harness_stop_node(harness, (size_t)i, SIGKILL);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    }
    //  node-1 killed: what it sent before is all there is; the mirror
    //  killed: the responses wait until node-1 degrades
    while (harness_take(client, &state->received, kill == 1 ? 1000 : kill >= 0 ? 300 : 3000))
        ;
    zsock_destroy(&client);
    return state->received.count - before;
}

static size_t s_calls(harness_t *harness, s_state_t *state, const char *tag, int run_ms, bool kill)
{
    return s_calls_kill(harness, state, tag, run_ms, kill ? 0 : -1);
}

static int s_collect(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    (void)seq;
    s_state_t *state = arg;
    if (record->request_id && !(record->has_kind && record->kind == KP__LOG_KIND__LOG_OUTCOME)) {
        //  never doubled: a request id is logged once
        assert_null(zhashx_lookup(state->logged, record->request_id));
        zhashx_insert(state->logged, record->request_id, (void *)1);
    }
    return 0;
}

//  The copy verifies; its request ids (none twice) into state->logged.
static kp_privlog_verify_t s_read_copy(s_state_t *state, const char *copy)
{
    char error[256];
    kp_privlog_verify_t result;
    int rc = kp_privlog_verify(copy, INT32_MIN, INT32_MAX, NULL, &result, error, sizeof error);
    if (rc != 0)
        fail_msg("copy verify: %s %s at %s offset %llu (seq %llu): %s", result.problem,
                 result.detail, result.segment, (unsigned long long)result.offset,
                 (unsigned long long)result.seq, rc < 0 ? error : "");
    zhashx_purge(state->logged);
    assert_int_equal(
        kp_privlog_scan(copy, INT32_MIN, INT32_MAX, s_collect, state, error, sizeof error), 0);
    return result;
}

//  The copy verifies and holds a record for every response received.
static void s_check_copy(s_state_t *state, const char *copy)
{
    kp_privlog_verify_t result = s_read_copy(state, copy);
    for (size_t i = 0; i < state->received.count; i++)
        if (!zhashx_lookup(state->logged, state->received.ids[i]))
            fail_msg("response %s reached the client but is not in the copy",
                     state->received.ids[i]);
    printf("# copy: %llu records (seq %llu..%llu), %zu responses all there\n",
           (unsigned long long)result.records, (unsigned long long)result.first_seq,
           (unsigned long long)result.last_seq, state->received.count);
}

//  Which decisions of the log in dir left on local durability alone
//  (log/localonly.h), by the tag of their request id.
typedef struct {
    kp_localonly_t *local;
    zhashx_t *seqs; //  request id -> seq
} s_marks_t;

static int s_mark_one(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    s_marks_t *marks = arg;
    kp_localonly_record(marks->local, record, seq);
    if (record->request_id && !(record->has_kind && record->kind == KP__LOG_KIND__LOG_OUTCOME))
        zhashx_insert(marks->seqs, record->request_id, (void *)(uintptr_t)seq);
    return 0;
}

//  Every decision whose id starts with local_tag is marked local-only in
//  the log in dir, and (strict: the node did not degrade while they were
//  answered, which a loaded machine may make it do) every one starting
//  with mirrored_tag is not; the ranges are closed; `kpctl log verify
//  --json` says as much.
static void s_check_marks(const char *dir, const char *local_tag, const char *mirrored_tag,
                          bool strict)
{
    s_marks_t marks = {kp_localonly_new(), zhashx_new()};
    zhashx_set_duplicator(marks.seqs, NULL);
    char error[256];
    assert_int_equal(
        kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_mark_one, &marks, error, sizeof error), 0);
    size_t local = 0, mirrored = 0;
    for (void *it = zhashx_first(marks.seqs); it; it = zhashx_next(marks.seqs)) {
        const char *id = zhashx_cursor(marks.seqs);
        bool has = kp_localonly_has(marks.local, (uint64_t)(uintptr_t)it);
        if (!strncmp(id, local_tag, strlen(local_tag))) {
            if (!has)
                fail_msg("%s: %s left while the mirror was down but is not marked", dir, id);
            local++;
        } else if (!strncmp(id, mirrored_tag, strlen(mirrored_tag))) {
            if (has && strict)
                fail_msg("%s: %s waited for the mirror but is marked local-only", dir, id);
            mirrored++;
        }
    }
    assert_true(local > 0 && mirrored > 0);
    assert_false(kp_localonly_open(marks.local));
    uint64_t count = kp_localonly_count(marks.local);
    char ranges[256];
    kp_localonly_text(marks.local, ranges, sizeof ranges);
    printf("# %s: %zu decisions marked local-only, %zu not; ranges %s\n", dir, local, mirrored,
           ranges);
    kp_localonly_destroy(&marks.local);
    zhashx_destroy(&marks.seqs);

    char command[1024], out[4096];
    snprintf(command, sizeof command, "'%s' log verify --json --log '%s' 2>&1", getenv("KPCTL"),
             dir);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t used = fread(out, 1, sizeof out - 1, pipe);
    out[used] = '\0';
    pclose(pipe);
    json_t *doc = json_loads(out, 0, NULL);
    json_t *records = json_object_get(json_object_get(doc, "local_only"), "records");
    if (!json_is_true(json_object_get(doc, "ok")) || (uint64_t)json_integer_value(records) != count)
        fail_msg("kpctl log verify on %s: %s", dir, out);
    json_decref(doc);
}

//  kpctl ARGS -c the harness's file --json: the document, and the exit
//  status in *status.
static json_t *s_kpctl_json(harness_t *harness, const char *args, int *status)
{
    char command[1024];
    snprintf(command, sizeof command, "'%s' %s --json --timeout 1000 -c '%s' 2>/dev/null",
             getenv("KPCTL"), args, harness->config);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t size = 0, used = 0;
    char *out = NULL;
    do {
        size = size ? 2 * size : 65536;
        char *grown = realloc(out, size);
        assert_non_null(grown);
        out = grown;
        used += fread(out + used, 1, size - used - 1, pipe);
    } while (used == size - 1);
    out[used] = '\0';
    int rc = pclose(pipe);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    json_t *doc = json_loads(out, 0, NULL);
    if (!doc)
        fail_msg("kpctl %s: not JSON: %.300s", args, out);
    free(out);
    return doc;
}

//  node-1 is down: kpctl log query|stats -c read its records from its
//  copy on node-2 (said in the answer: from_copy, copy_on), node-2's own
//  from node-2, each once, and exit 0.
static void s_check_fallback(harness_t *harness)
{
    int status;
    json_t *doc = s_kpctl_json(harness, "log query --message admin.log.query", &status);
    json_t *records = json_object_get(doc, "records");
    size_t from_copy = 0, own = 0;
    zhashx_t *seen = zhashx_new();
    for (size_t i = 0; i < json_array_size(records); i++) {
        json_t *r = json_array_get(records, i);
        const char *node = json_string_value(json_object_get(r, "node"));
        const char *copy_on = json_string_value(json_object_get(r, "copy_on"));
        char key[96];
        snprintf(key, sizeof key, "%s/%lld", node ? node : "?",
                 (long long)json_integer_value(json_object_get(r, "seq")));
        if (zhashx_insert(seen, key, (void *)1))
            fail_msg("record %s listed twice", key);
        if (node && !strcmp(node, "node-1")) {
            assert_non_null(copy_on);
            assert_string_equal(copy_on, "node-2");
            from_copy++;
        } else {
            assert_null(copy_on);
            own++;
        }
    }
    zhashx_destroy(&seen);
    json_t *copied = json_object_get(doc, "from_copy");
    if (status != 0 || from_copy == 0 || own == 0 || json_array_size(copied) != 1 ||
        strcmp(json_string_value(json_array_get(copied, 0)), "node-1") ||
        json_array_size(json_object_get(doc, "unanswered")) != 0) {
        char *text = json_dumps(json_object_get(doc, "nodes"), JSON_COMPACT);
        fail_msg("kpctl log query -c with node-1 down: exit %d, %zu records of node-1 from its "
                 "copy, %zu of node-2; nodes %s",
                 status, from_copy, own, text);
    }
    printf("# node-1 down: %zu of its admin.log.query records read from its copy on node-2, %zu "
           "of node-2's own\n",
           from_copy, own);
    json_decref(doc);
    doc = s_kpctl_json(harness, "log stats", &status);
    json_t *node = json_array_get(json_object_get(doc, "nodes"), 0);
    assert_int_equal(status, 0);
    assert_string_equal(json_string_value(json_object_get(node, "copy_on")), "node-2");
    assert_true(json_integer_value(json_object_get(node, "records")) > 0);
    json_decref(doc);
}

//  node-1's /metrics shows gauge name between low and high (within
//  timeout_ms; the loop publishes a snapshot every 250 ms).
static bool s_metric_in(harness_t *harness, const char *name, double low, double high,
                        int timeout_ms)
{
    int64_t until = harness_now_ms() + timeout_ms;
    do {
        int status = 0;
        char *body = harness_http(harness, 0, "GET", "/metrics", &status);
        char *at = body ? strstr(body, name) : NULL;
        while (at && at > body && at[-1] != '\n')
            at = strstr(at + 1, name);
        bool has = false;
        if (at) {
            at += strlen(name);
            if (*at == '{')
                at = strchr(at, '}') + 1;
            double value = strtod(at, NULL);
            has = value >= low && value <= high;
        }
        free(body);
        if (has)
            return true;
        zclock_sleep(50); //  polling a condition
    } while (harness_now_ms() < until);
    return false;
}

//  kpctl cluster status --json on the harness's file (read with jansson)
//  says node-1 ships its log to node-2, degraded or not.
static bool s_cluster_mirror(harness_t *harness, bool degraded)
{
    char command[1024], out[16384];
    snprintf(command, sizeof command, "'%s' cluster status --json --timeout 1000 -c '%s' 2>&1",
             getenv("KPCTL"), harness->config);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t used = fread(out, 1, sizeof out - 1, pipe);
    out[used] = '\0';
    pclose(pipe);
    json_t *status = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    json_t *node = json_array_get(json_object_get(status, "nodes"), 0);
    json_t *mirror = json_object_get(node, "log_mirror");
    const char *to = json_string_value(json_object_get(mirror, "node"));
    json_t *flag = json_object_get(mirror, "degraded");
    bool ok = to && !strcmp(to, "node-2") && json_is_boolean(flag) &&
              json_boolean_value(flag) == degraded;
    if (!ok)
        printf("# kpctl cluster status: %s\n", out);
    json_decref(status);
    return ok;
}

static void test_mirror(void **unused)
{
    (void)unused;
    harness_t *harness = harness_new_insecure(2, 100, 2000, 65536);
    s_two_sites(harness);
    char copy[400];
    snprintf(copy, sizeof copy, "%s/node-2/mirror/node-1", harness->dir);
    s_state_t state = {.logged = NULL};
    state.logged = zhashx_new();
    zhashx_set_duplicator(state.logged, NULL);

    harness_start_node(harness, 1);
    harness_start_node(harness, 0);
    harness_load(harness, 0, harness_a1_directory);
    harness_load(harness, 0, s_alone);
    assert_true(harness_wait_status(harness, 0, "log.durability", "\"two-sites\"", 2000));

    //  1. both up
    assert_true(s_calls(harness, &state, "up", 1000, false) > 0);
    s_check_copy(&state, copy);
    assert_true(harness_wait_status(harness, 0, "log.mirror.degraded", "false", 2000));
    bool strict = harness_wait_status(harness, 0, "log.mirror.degradations", "0", 100);

    //  2. the mirror killed: node-1 goes on, degraded; back: it catches up
    int status = harness_stop_node(harness, 1, SIGKILL);
    assert_true(WIFSIGNALED(status));
    assert_true(s_calls(harness, &state, "down", 1000, false) > 0);
    assert_true(harness_wait_status(harness, 0, "log.mirror.degraded", "true", 2000));
    assert_true(s_metric_in(harness, "kp_log_mirror_degraded", 1, 1, 2000));
    assert_true(s_metric_in(harness, "kp_log_mirror_degradations_total", 1, 1e9, 2000));
    assert_true(s_cluster_mirror(harness, true));
    harness_start_node(harness, 1);
    assert_true(harness_wait_status(harness, 0, "log.mirror.lag_records", "0", 10000));
    assert_true(harness_wait_status(harness, 0, "log.mirror.degraded", "false", 2000));
    assert_true(s_metric_in(harness, "kp_log_mirror_degraded", 0, 0, 2000));
    assert_true(s_metric_in(harness, "kp_log_mirror_lag_records", 0, 0, 2000));
    s_check_copy(&state, copy);
    //  the records answered meanwhile are marked, in the log and its copy
    char log[400];
    snprintf(log, sizeof log, "%s/node-1/log", harness->dir);
    s_check_marks(log, "down-", "up-", strict);
    s_check_marks(copy, "down-", "up-", strict);

    //  3. node-1 killed under calls; then kpctl log query -c reads its
    //  records from its copy (an admin.log.query record of each node:
    //  kpctl's first query is logged by both)
    int rc;
    json_decref(s_kpctl_json(harness, "log query --message admin.log.query", &rc));
    assert_int_equal(rc, 0);
    assert_true(s_calls(harness, &state, "kill", 700, true) > 0);
    s_check_copy(&state, copy);
    s_check_fallback(harness);

    harness_ids_free(&state.received);
    zhashx_destroy(&state.logged);
    harness_destroy(&harness);
}

//  The log in dir: its decisions by request id and its local-only ranges.
static s_marks_t s_read_log(const char *dir)
{
    s_marks_t marks = {kp_localonly_new(), zhashx_new()};
    zhashx_set_duplicator(marks.seqs, NULL);
    char error[256];
    if (kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_mark_one, &marks, error, sizeof error))
        fail_msg("cannot read %s: %s", dir, error);
    return marks;
}

static void s_marks_free(s_marks_t *marks)
{
    kp_localonly_destroy(&marks->local);
    zhashx_destroy(&marks->seqs);
}

//  node-1 just killed (its disk taken as lost): the copy verifies, holds
//  no record twice, and holds every record whose response the client
//  received, but those node-1's log marks as left on local durability
//  alone (the mirror was silent then). Returns how many were so.
static size_t s_check_copy_after_loss(s_state_t *state, const char *copy, const char *log)
{
    kp_privlog_verify_t result = s_read_copy(state, copy);
    s_marks_t origin = s_read_log(log);
    size_t local = 0;
    for (size_t i = 0; i < state->received.count; i++) {
        const char *id = state->received.ids[i];
        if (zhashx_lookup(state->logged, id))
            continue;
        uint64_t seq = (uint64_t)(uintptr_t)zhashx_lookup(origin.seqs, id);
        if (!seq)
            fail_msg("response %s reached the client but is in neither log", id);
        if (!kp_localonly_has(origin.local, seq))
            fail_msg("response %s (seq %llu) reached the client; its record is not in the copy "
                     "(which ends at seq %llu) and not marked local-only",
                     id, (unsigned long long)seq, (unsigned long long)result.last_seq);
        local++;
    }
    s_marks_free(&origin);
    return local;
}

//  The copy is the log's bytes: its segments are the log's first ones,
//  each the same bytes (the last a prefix of the log's): same chain, same
//  checkpoints, no record twice or out of order.
static void s_check_same_bytes(const char *copy, const char *log)
{
    kp_privlog_segment_t *mine = NULL, *theirs = NULL;
    char error[256];
    int n = kp_privlog_segments(copy, &mine, error, sizeof error);
    int m = kp_privlog_segments(log, &theirs, error, sizeof error);
    assert_true(n > 0 && m >= n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(mine[i].name, theirs[i].name);
        char a[480], b[480];
        snprintf(a, sizeof a, "%s/%s", copy, mine[i].name);
        snprintf(b, sizeof b, "%s/%s", log, theirs[i].name);
        size_t size_a = 0, size_b = 0;
        char *bytes_a = NULL, *bytes_b = NULL;
        FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
        assert_true(fa && fb);
        fseek(fa, 0, SEEK_END);
        fseek(fb, 0, SEEK_END);
        size_a = (size_t)ftell(fa);
        size_b = (size_t)ftell(fb);
        rewind(fa);
        rewind(fb);
        bytes_a = malloc(size_a + 1);
        bytes_b = malloc(size_b + 1);
        assert_int_equal(fread(bytes_a, 1, size_a, fa), size_a);
        assert_int_equal(fread(bytes_b, 1, size_b, fb), size_b);
        fclose(fa);
        fclose(fb);
        if (i + 1 < n ? size_a != size_b : size_a > size_b)
            fail_msg("segment %s: the copy has %zu bytes, the log %zu", mine[i].name, size_a,
                     size_b);
        if (memcmp(bytes_a, bytes_b, size_a))
            fail_msg("segment %s: the copy's bytes differ from the log's", mine[i].name);
        free(bytes_a);
        free(bytes_b);
    }
    free(mine);
    free(theirs);
}

static uint64_t s_env(const char *name, uint64_t dflt)
{
    const char *text = getenv(name);
    return text && *text ? strtoull(text, NULL, 10) : dflt;
}

//  xorshift64*: the kills' sides and moments, from the seed.
static uint64_t s_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

//  The test: under calls, node-1 or its mirror (node-2) or both
//  (the mirror, then node-1: a response acknowledged before the copy had
//  its record is lost with the mirror's queue) killed with SIGKILL at
//  random moments, each restarted. Each time node-1 dies
//  its disk is taken as lost: the copy must hold every record whose
//  response left, but those the log marks local-only. At the end, both
//  caught up: every response's record in the log and in the copy, the
//  copy verifies and is the log's bytes. KP_MIRROR_KILLS (default 5)
//  kills; KP_MIRROR_SEED replays a run (the seed is printed).
static void test_random_kills(void **unused)
{
    (void)unused;
    uint64_t kills = s_env("KP_MIRROR_KILLS", 5);
    uint64_t seed = s_env("KP_MIRROR_SEED", (uint64_t)zclock_usecs() | 1);
    printf("# seed %llu, %llu kills (KP_MIRROR_SEED, KP_MIRROR_KILLS)\n", (unsigned long long)seed,
           (unsigned long long)kills);
    uint64_t x = seed;
    harness_t *harness = harness_new_insecure(2, 100, 2000, 65536);
    s_two_sites(harness);
    char copy[400], log[400];
    snprintf(copy, sizeof copy, "%s/node-2/mirror/node-1", harness->dir);
    snprintf(log, sizeof log, "%s/node-1/log", harness->dir);
    s_state_t state = {.logged = zhashx_new()};
    zhashx_set_duplicator(state.logged, NULL);
    harness_start_node(harness, 1);
    harness_start_node(harness, 0);
    harness_load(harness, 0, harness_a1_directory);
    harness_load(harness, 0, s_alone);
    size_t origin_kills = 0, local = 0;
    for (uint64_t k = 0; k < kills; k++) {
        static const char *const what[] = {"node-1", "the mirror (node-2)",
                                           "the mirror, then node-1"};
        int side = (int)(s_next(&x) % 3);
        int run_ms = 20 + (int)(s_next(&x) % 300);
        char tag[32];
        snprintf(tag, sizeof tag, "k%llu", (unsigned long long)k);
        size_t got = s_calls_kill(harness, &state, tag, run_ms, side);
        printf("# kill %llu: %s after %d ms, %zu responses\n", (unsigned long long)k + 1,
               what[side], run_ms, got);
        if (side != 1) {
            local += s_check_copy_after_loss(&state, copy, log);
            origin_kills++;
        }
        if (side != 0)
            harness_start_node(harness, 1);
        if (side != 1)
            harness_start_node(harness, 0);
    }
    //  Both up: the copy catches up with everything.
    assert_true(s_calls(harness, &state, "end", 200, false) > 0);
    assert_true(harness_wait_status(harness, 0, "log.mirror.lag_records", "0", 20000));
    assert_true(harness_wait_status(harness, 0, "log.mirror.degraded", "false", 5000));
    s_check_copy(&state, copy);
    s_marks_t origin = s_read_log(log);
    for (size_t i = 0; i < state.received.count; i++)
        if (!zhashx_lookup(origin.seqs, state.received.ids[i]))
            fail_msg("response %s reached the client but is not in node-1's log",
                     state.received.ids[i]);
    s_marks_free(&origin);
    s_check_same_bytes(copy, log);
    printf("# %zu losses of node-1 (alone or after its mirror), %zu of the mirror alone; %zu "
           "responses, %zu of them left on local durability alone before a loss\n",
           origin_kills, (size_t)kills - origin_kills, state.received.count, local);
    harness_ids_free(&state.received);
    zhashx_destroy(&state.logged);
    harness_destroy(&harness);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_random_kills),
    };
    return cmocka_run_group_tests_name("log-mirror", tests, NULL, NULL);
}
