/*  test_kpbench.c - a short kpbench --local run: real kpnode, real echo
    providers, real sockets. Checks that the JSON result is complete and
    consistent (counts add up, percentiles monotone), not that it is fast.

    argv[1] is the kpbench executable; KPNODE and KPCTL come from the
    test environment.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

static const char *s_kpbench;

//  A fresh folder kpbench-test-XXXXXX under $TMPDIR (else /tmp), as
//  kpbench --local makes its own: a machine whose /tmp is small or shared
//  sets TMPDIR for both.
static void s_tmpdir(char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    int len = snprintf(dir, size, "%s/kpbench-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_true(len > 0 && (size_t)len < size);
    if (!mkdtemp(dir))
        fail_msg("cannot make a temporary folder %s (set TMPDIR to a writable folder)", dir);
}

static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)size + 1);
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

//  The unsigned number obj.key; fails the test if absent.
static uint64_t s_uint(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        fail_msg("key '%s' missing from the JSON result, or not a count", key);
    return (uint64_t)json_integer_value(v);
}

static int s_run(const char *args)
{
    char command[2048];
    snprintf(command, sizeof command, "%s %s", s_kpbench, args);
    int status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

//  The percentiles of obj.latency_us are there and do not go down.
static void s_check_latency(const json_t *obj)
{
    static const char *keys[] = {"min", "p50", "p90", "p99", "p99.5", "p99.9", "max"};
    const json_t *lat = json_object_get(obj, "latency_us");
    assert_true(json_is_object(lat));
    uint64_t prev = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint64_t v = s_uint(lat, keys[i]);
        if (v < prev)
            fail_msg("%s = %llu below the previous percentile %llu", keys[i], (unsigned long long)v,
                     (unsigned long long)prev);
        prev = v;
    }
}

//  Sums the values of obj.statuses.
static uint64_t s_status_sum(const json_t *obj)
{
    const json_t *statuses = json_object_get(obj, "statuses");
    assert_true(json_is_object(statuses));
    uint64_t sum = 0;
    const char *key;
    const json_t *count;
    json_object_foreach((json_t *)statuses, key, count)
    {
        sum += s_uint(statuses, key);
        (void)count;
    }
    return sum;
}

static void test_local_run(void **state)
{
    (void)state;
    char dir[200];
    s_tmpdir(dir, sizeof dir);
    char args[1024], json[256], svg[256];
    snprintf(json, sizeof json, "%s/result.json", dir);
    snprintf(svg, sizeof svg, "%s/result.svg", dir);
    //  --log-segment-mib goes into the local cluster file (a line the node
    //  refused would fail the run).
    snprintf(args, sizeof args,
             "--local --persons 1000 --duration 2 --warmup 0.5 --clients 2 --inflight 4 "
             "--log-segment-mib 2 "
             "--timeout 5 --drain 3 -q --json %s --svg %s",
             json, svg);
    assert_int_equal(s_run(args), 0);
    json_error_t jerr;
    json_t *result = json_load_file(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!result)
        fail_msg("the JSON result does not parse: %s (line %d)", jerr.text, jerr.line);

    //  One run, its totals consistent with its kinds.
    json_t *run = json_array_get(json_object_get(result, "runs"), 0);
    assert_true(json_is_object(run));
    uint64_t sent = s_uint(run, "sent");
    uint64_t answered = s_uint(run, "answered");
    uint64_t lost = s_uint(run, "lost");
    assert_true(sent > 100);
    assert_int_equal(sent, answered + lost);
    assert_int_equal(s_status_sum(run), answered);
    assert_int_equal(s_uint(run, "duplicates"), 0);
    assert_int_equal(s_uint(run, "unexpected"), 0); //  each kind got its answer
    s_check_latency(run);

    const json_t *kinds = json_object_get(run, "kinds");
    assert_true(json_is_array(kinds));
    uint64_t kind_sent = 0, kind_answered = 0, single_answered = 0;
    size_t i;
    const json_t *k;
    json_array_foreach(kinds, i, k)
    {
        uint64_t ks = s_uint(k, "sent"), ka = s_uint(k, "answered");
        assert_int_equal(ks, ka + s_uint(k, "lost"));
        assert_int_equal(s_status_sum(k), ka);
        assert_int_equal(s_uint(json_object_get(k, "latency_us"), "count"), ka);
        s_check_latency(k);
        kind_sent += ks;
        kind_answered += ka;
        const char *name = json_string_value(json_object_get(k, "kind"));
        assert_non_null(name);
        if (!strcmp(name, "single"))
            single_answered = ka;
    }
    assert_int_equal(kind_sent, sent);
    assert_int_equal(kind_answered, answered);
    assert_int_equal(json_array_size(kinds), 8); //  the default mix has every kind

    //  No node died: no provider process was given a request id twice,
    //  and the providers served at least every single-provider request
    //  answered (more: the warm-up's, and integrated ones go to two).
    assert_int_equal(s_uint(run, "routed_twice"), 0);
    assert_true(single_answered > 0);
    uint64_t served = s_uint(run, "provider_served");
    if (served < single_answered)
        fail_msg("providers served %llu requests, fewer than the %llu single answered",
                 (unsigned long long)served, (unsigned long long)single_answered);
    //  A closed loop has no arrival process.
    assert_true(json_is_null(json_object_get(json_object_get(result, "config"), "arrivals")));
    assert_true(json_is_string(json_object_get(json_object_get(run, "service_levels"), "verdict")));

    //  CPU per request by role: a local node's is sampled, and not free.
    const json_t *cpu = json_object_get(json_object_get(run, "cpu_us_per_request"), "broker");
    assert_true(json_is_number(cpu));
    assert_true(json_number_value(cpu) > 0);
    json_decref(result);

    char *plot = s_slurp(svg);
    assert_non_null(plot);
    assert_non_null(strstr(plot, "<svg"));
    assert_non_null(strstr(plot, "<polyline"));
    assert_non_null(strstr(plot, "</svg>"));
    free(plot);
    unlink(json);
    unlink(svg);
    rmdir(dir);
}

//  Runs kpbench with options, its JSON result in dir/result.json: the
//  result, parsed (decref it).
static json_t *s_bench_json(const char *dir, const char *options)
{
    char args[1024], json[256];
    snprintf(json, sizeof json, "%s/result.json", dir);
    snprintf(args, sizeof args, "%s -q --json %s >/dev/null", options, json);
    assert_int_equal(s_run(args), 0);
    json_error_t jerr;
    json_t *result = json_load_file(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!result)
        fail_msg("the JSON result does not parse: %s (line %d)", jerr.text, jerr.line);
    unlink(json);
    return result;
}

//  --compare: every column answers requests. The zmq-proxy column once
//  answered none for weeks (the client spoke CURVE to a plain proxy) and
//  the table printed 0 req/s; kpbench now fails on such a column too.
static void test_compare_columns_answer(void **state)
{
    (void)state;
    char dir[200];
    s_tmpdir(dir, sizeof dir);
    json_t *result = s_bench_json(dir, "--local --compare --persons 1000 --duration 1 --warmup 0.3 "
                                       "--clients 1 --inflight 4 --timeout 5 --drain 2");
    static const char *targets[] = {"kruispunt", "zmq-proxy", "nats"};
    const json_t *runs = json_object_get(result, "runs");
    assert_int_equal(json_array_size(runs), 3);
    for (size_t t = 0; t < 3; t++) {
        const json_t *run = json_array_get(runs, t);
        const char *target = json_string_value(json_object_get(run, "target"));
        assert_non_null(target);
        assert_string_equal(target, targets[t]);
        uint64_t answered = s_uint(run, "answered");
        if (answered < 10)
            fail_msg("the %s column answered %llu requests", target, (unsigned long long)answered);
        assert_int_equal(s_uint(run, "unexpected"), 0);
        //  Every answer an echo, not an error of the hop.
        assert_int_equal(s_uint(json_object_get(run, "statuses"), "OK"), answered);
    }
    json_decref(result);
    rmdir(dir);
}

//  --chaos "kill site ...": every node of the site is killed at once
//  (brussels holds two of the three voters: the third routes on alone
//  with the directory it has), the stubs of the brussels clients go to
//  the other site, and the report says what the clients saw.
static void test_site_chaos(void **state)
{
    (void)state;
    char dir[200];
    s_tmpdir(dir, sizeof dir);
    json_t *result = s_bench_json(dir, "--local --nodes 3 --persons 200 --rate 200 --duration 1.5 "
                                       "--warmup 0.2 --drain 3 --chaos 'kill site brussels every "
                                       "0.7s, restart after 0.3s'");
    json_t *run = json_array_get(json_object_get(result, "runs"), 0);
    const json_t *availability = json_object_get(run, "availability");
    uint64_t sites = s_uint(availability, "site_kills"), kills = s_uint(availability, "kills");
    printf("# %llu sites killed (%llu nodes), %llu failovers, longest gap %.3f s, never answered "
           "%llu of %llu\n",
           (unsigned long long)sites, (unsigned long long)kills,
           (unsigned long long)s_uint(json_object_get(run, "stub"), "failovers"),
           json_number_value(json_object_get(availability, "longest_gap_s")),
           (unsigned long long)s_uint(availability, "never_answered"),
           (unsigned long long)s_uint(run, "sent"));
    assert_true(sites >= 1);
    assert_int_equal(kills, 2 * sites); //  node-1 and node-2 each time
    assert_true(s_uint(json_object_get(run, "stub"), "failovers") >= 1);
    assert_int_equal(s_uint(availability, "never_answered"), 0);
    assert_int_equal(s_uint(run, "sent"), s_uint(run, "answered"));
    json_decref(result);
    rmdir(dir);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(s_run("--local --mix bogus=1 2>/dev/null"), 2);
    assert_int_equal(s_run("--duration 2 2>/dev/null"), 2); //  no target
    assert_int_equal(s_run("--local --chaos 'kill everything' 2>/dev/null"), 2);
    assert_int_equal(s_run("--local --rate 10 --arrivals bursty 2>/dev/null"), 2);
    assert_int_equal(s_run("--help >/dev/null"), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_kpbench PATH-TO-KPBENCH\n");
        return 2;
    }
    s_kpbench = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_local_run),
        cmocka_unit_test(test_compare_columns_answer),
        cmocka_unit_test(test_site_chaos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
