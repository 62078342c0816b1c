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

static const char *s_kpbench;

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

//  The unsigned number after "key": in [from, to); fails the test if absent.
static uint64_t s_uint(const char *from, const char *to, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(from, pattern);
    if (!at || at >= to)
        fail_msg("key '%s' missing from the JSON result", key);
    return strtoull(at + strlen(pattern), NULL, 10);
}

static int s_run(const char *args)
{
    char command[2048];
    snprintf(command, sizeof command, "%s %s", s_kpbench, args);
    int status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_check_latency(const char *from, const char *to)
{
    static const char *keys[] = {"min", "p50", "p90", "p99", "p99.5", "p99.9", "max"};
    const char *lat = strstr(from, "\"latency_us\":");
    assert_non_null(lat);
    assert_true(lat < to);
    uint64_t prev = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint64_t v = s_uint(lat, to, keys[i]);
        if (v < prev)
            fail_msg("%s = %llu below the previous percentile %llu", keys[i], (unsigned long long)v,
                     (unsigned long long)prev);
        prev = v;
    }
}

//  Sums the values of the "statuses" object that starts at or after from.
static uint64_t s_status_sum(const char *from)
{
    const char *at = strstr(from, "\"statuses\":{");
    assert_non_null(at);
    at += strlen("\"statuses\":{");
    const char *end = strchr(at, '}');
    uint64_t sum = 0;
    while (at < end) {
        const char *colon = strchr(at, ':');
        if (!colon || colon > end)
            break;
        sum += strtoull(colon + 1, (char **)&at, 10);
    }
    return sum;
}

static void test_local_run(void **state)
{
    (void)state;
    char dir[] = "/tmp/kpbench-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[1024], json[256], svg[256];
    snprintf(json, sizeof json, "%s/result.json", dir);
    snprintf(svg, sizeof svg, "%s/result.svg", dir);
    snprintf(args, sizeof args,
             "--local --persons 1000 --duration 2 --warmup 0.5 --clients 2 --inflight 4 "
             "--timeout 5 --drain 3 -q --json %s --svg %s",
             json, svg);
    assert_int_equal(s_run(args), 0);
    char *text = s_slurp(json);
    assert_non_null(text);
    const char *end = text + strlen(text);

    //  One run, its totals consistent with its kinds.
    const char *run = strstr(text, "\"runs\":[");
    assert_non_null(run);
    uint64_t sent = s_uint(run, end, "sent");
    uint64_t answered = s_uint(run, end, "answered");
    uint64_t lost = s_uint(run, end, "lost");
    assert_true(sent > 100);
    assert_int_equal(sent, answered + lost);
    assert_int_equal(s_status_sum(run), answered);
    assert_int_equal(s_uint(run, end, "duplicates"), 0);
    assert_int_equal(s_uint(run, end, "unexpected"), 0); //  each kind got its answer
    const char *kinds = strstr(run, "\"kinds\":[");
    assert_non_null(kinds);
    s_check_latency(run, kinds);

    uint64_t kind_sent = 0, kind_answered = 0, kind_count = 0;
    const char *k = strstr(kinds, "{\"kind\":");
    while (k) {
        const char *next = strstr(k + 1, "{\"kind\":");
        const char *stop = next ? next : end;
        uint64_t ks = s_uint(k, stop, "sent"), ka = s_uint(k, stop, "answered");
        assert_int_equal(ks, ka + s_uint(k, stop, "lost"));
        assert_int_equal(s_status_sum(k), ka);
        assert_int_equal(s_uint(k, stop, "count"), ka);
        s_check_latency(k, stop);
        kind_sent += ks;
        kind_answered += ka;
        kind_count++;
        k = next;
    }
    assert_int_equal(kind_sent, sent);
    assert_int_equal(kind_answered, answered);
    assert_int_equal(kind_count, 8); //  the default mix has every kind

    //  No node died: no provider process was given a request id twice,
    //  and the providers served at least every single-provider request
    //  answered (more: the warm-up's, and integrated ones go to two).
    assert_int_equal(s_uint(run, end, "routed_twice"), 0);
    const char *single = strstr(kinds, "{\"kind\":\"single\"");
    assert_non_null(single);
    uint64_t single_answered = s_uint(single, end, "answered");
    assert_true(single_answered > 0);
    uint64_t served = s_uint(run, end, "provider_served");
    if (served < single_answered)
        fail_msg("providers served %llu requests, fewer than the %llu single answered",
                 (unsigned long long)served, (unsigned long long)single_answered);
    assert_non_null(strstr(text, "\"arrivals\":null")); //  a closed loop has none
    assert_non_null(strstr(text, "\"verdict\":"));

    //  CPU per request by role: a local node's is sampled, and not free.
    const char *cpu_key = "\"cpu_us_per_request\":{\"broker\":";
    const char *cpu = strstr(run, cpu_key);
    assert_non_null(cpu);
    assert_true(strtod(cpu + strlen(cpu_key), NULL) > 0);
    free(text);

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
