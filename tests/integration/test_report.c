/*  test_report.c - kpctl report sla and kpctl report access on a real
    privacy log (written here through the log library, with chosen times,
    latencies and statuses) and a real directory (the sample, imported by
    kpctl): the figures in the JSON are the ones the records make, and the
    SVG charts are well-formed XML that show the same figures.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "privlog.h"
#include "tmpdir.h"
#include "validate.h"

static char s_dir[256];

//  Unix microseconds of "YYYY-MM-DDTHH:MM:SSZ".
static uint64_t s_us(const char *when)
{
    int64_t seconds;
    assert_int_equal(kp_time_parse(when, &seconds), 0);
    return (uint64_t)seconds * 1000000;
}

typedef struct {
    kp_privlog_t *log;
    int serial;
} s_writer_t;

//  count records of kind at when (a second apart) with the given fields.
static void s_put_kind(s_writer_t *w, Kp__LogKind kind, const char *when, int count,
                       const char *message, const char *user, const char *kbo, Kp__Status status,
                       Kp__Reason reason, uint64_t latency_us, size_t parts)
{
    Kp__LogPart part_store[2], *part_list[2];
    for (size_t i = 0; i < 2; i++) {
        kp__log_part__init(&part_store[i]);
        part_store[i].kbo = "0411702543";
        part_list[i] = &part_store[i];
    }
    for (int i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "r-%d", ++w->serial);
        Kp__LogRecord r = KP__LOG_RECORD__INIT;
        r.request_id = id;
        r.has_time_unix_us = true;
        r.time_unix_us = s_us(when) + (uint64_t)i * 1000000;
        r.message = (char *)message;
        r.user = (char *)user;
        r.sender_kbo = (char *)kbo;
        r.has_status = true;
        r.status = status;
        r.has_reason = reason != KP__REASON__REASON_NONE;
        r.reason = reason;
        r.has_latency_us = true;
        r.latency_us = latency_us;
        r.n_parts = parts;
        r.parts = part_list;
        r.has_kind = kind != KP__LOG_KIND__LOG_COMPLETE;
        r.kind = kind;
        assert_true(kp_privlog_append(w->log, &r) > 0);
    }
}

#define s_put(w, ...) s_put_kind(w, KP__LOG_KIND__LOG_COMPLETE, __VA_ARGS__)

#define GENT "ocmw-gent-app", "0207437468"
#define ANTWERPEN "ocmw-antwerpen-app", "0212344876"
#define RVA "rva-app", "0206737484"
#define OK KP__STATUS__OK, KP__REASON__REASON_NONE
#define DENIED KP__STATUS__DENIED

static int s_setup(void **state)
{
    (void)state;
    assert_int_equal(kp_test_tmpdir(s_dir, sizeof s_dir, "kp-report"), 0);
    char path[300], error[256];
    snprintf(path, sizeof path, "%s/log", s_dir);
    kp_privlog_options_t options;
    kp_privlog_options_default(&options);
    kp_privlog_recovery_t recovery;
    s_writer_t w = {kp_privlog_open(path, &options, &recovery, error, sizeof error), 0};
    assert_non_null(w.log);
    //  Online, 2026-07-01 10h: 198 fast, one in 1.5 s, one in 3 s.
    s_put(&w, "2026-07-01T10:00:00Z", 198, "A1", GENT, OK, 5000, 1);
    s_put(&w, "2026-07-01T10:40:00Z", 1, "A1", GENT, OK, 1500000, 1);
    s_put(&w, "2026-07-01T10:50:00Z", 1, "A1", GENT, OK, 3000000, 1);
    //  14h, the worst hour: 90 fast, 10 in 1.2 s.
    s_put(&w, "2026-07-01T14:00:00Z", 90, "B2", GENT, OK, 10000, 1);
    s_put(&w, "2026-07-01T14:30:00Z", 10, "B2", GENT, OK, 1200000, 1);
    //  Routed calls logged in two records: ten, each counted once.
    s_put_kind(&w, KP__LOG_KIND__LOG_DECISION, "2026-07-01T12:00:00Z", 10, "A1", GENT, OK, 0, 1);
    s_put_kind(&w, KP__LOG_KIND__LOG_OUTCOME, "2026-07-01T12:00:00Z", 10, "A1", GENT, OK, 20000, 1);
    //  An operator's command: not a message.
    s_put(&w, "2026-07-01T15:00:00Z", 1, "admin.directory.apply", "operator", "", OK, 9000000, 0);
    //  Integrated, 2026-07-02: 49 in 3 s, one in 5 s.
    s_put(&w, "2026-07-02T09:00:00Z", 49, "S1", GENT, OK, 3000000, 2);
    s_put(&w, "2026-07-02T09:50:00Z", 1, "S1", GENT, OK, 5000000, 2);
    //  After the SLA period, within the quarter: refusals and an invalid one.
    s_put(&w, "2026-07-05T08:00:00Z", 5, "A1", ANTWERPEN, DENIED,
          KP__REASON__CAPACITY_NOT_AUTHORIZED, 300, 0);
    s_put(&w, "2026-07-06T08:00:00Z", 1, "A1", GENT, KP__STATUS__INVALID, KP__REASON__INVALID_INSZ,
          100, 0);
    s_put(&w, "2026-08-10T08:00:00Z", 2, "A1", ANTWERPEN, DENIED,
          KP__REASON__PERSON_NOT_IN_DIRECTORY, 300, 0);
    s_put(&w, "2026-09-30T23:59:59Z", 1, "A2", RVA, DENIED, KP__REASON__USER_NOT_AUTHORIZED, 300,
          0);
    //  The next quarter.
    s_put(&w, "2026-10-01T00:00:00Z", 1, "A2", RVA, DENIED, KP__REASON__USER_NOT_AUTHORIZED, 300,
          0);
    assert_int_equal(kp_privlog_sync(w.log), 0);
    kp_privlog_destroy(&w.log);
    char command[1024];
    snprintf(command, sizeof command,
             "'%s' directory import '%s/cluster-config/sample-directory.jsonl' --data '%s' "
             ">/dev/null",
             getenv("KPCTL"), getenv("KP_SOURCE_ROOT"), s_dir);
    assert_int_equal(system(command), 0);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    kp_test_rmtree(s_dir);
    return 0;
}

//  Runs command in a shell; returns its standard output (free it) and
//  sets *status.
static char *s_run(const char *command, int *status)
{
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t size = 0, cap = 1 << 16;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n;
    while ((n = fread(out + size, 1, cap - size - 1, pipe)) > 0)
        if ((size += n) == cap - 1) {
            char *bigger = realloc(out, cap *= 2);
            assert_non_null(bigger);
            out = bigger;
        }
    out[size] = '\0';
    int rc = pclose(pipe);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

//  Runs kpctl with args (after the program).
static char *s_kpctl(const char *args, int *status)
{
    char command[2048];
    snprintf(command, sizeof command, "'%s' %s", getenv("KPCTL"), args);
    return s_run(command, status);
}

static json_t *s_json(const char *args)
{
    int status;
    char *out = s_kpctl(args, &status);
    assert_int_equal(status, 0);
    json_error_t error;
    json_t *doc = json_loads(out, 0, &error);
    if (!doc)
        fail_msg("not JSON (%s): %s", error.text, out);
    free(out);
    return doc;
}

static uint64_t s_uint(json_t *doc, const char *path)
{
    json_t *value = json_object_get(doc, path);
    assert_non_null(value);
    return (uint64_t)json_integer_value(value);
}

//  The text of every <text> element of the SVG at path, one a line, as
//  read by Python's XML parser (so the file must be well-formed XML).
static char *s_svg_texts(const char *path)
{
    char args[1024];
    snprintf(args, sizeof args,
             "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; "
             "t = E.parse(sys.argv[1]).getroot(); "
             "assert t.tag == \"{http://www.w3.org/2000/svg}svg\"; "
             "print(\"\\n\".join(e.text or \"\" for e in "
             "t.iter(\"{http://www.w3.org/2000/svg}text\")))' "
             "'%s'",
             path);
    int status;
    char *texts = s_run(args, &status);
    if (status != 0)
        fail_msg("%s is not well-formed SVG", path);
    return texts;
}

static void test_sla(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof args, "report sla --from 2026-07-01 --to 2026-07-02 --data '%s' --json",
             s_dir);
    json_t *doc = s_json(args);
    json_t *overall = json_object_get(doc, "overall");
    json_t *online = json_object_get(overall, "online");
    json_t *integrated = json_object_get(overall, "integrated");
    assert_int_equal(s_uint(online, "requests"), 310);
    assert_int_equal(s_uint(online, "within_1s"), 298);
    assert_int_equal(s_uint(online, "within_2s"), 309);
    assert_int_equal(s_uint(integrated, "requests"), 50);
    assert_int_equal(s_uint(integrated, "within_4s"), 49);
    assert_false(json_is_true(json_object_get(overall, "met")));
    assert_int_equal(s_uint(doc, "outcome_unknown"), 0);
    //  A1 meets both targets (99.05% and 99.52%); B2 and S1 miss.
    json_t *messages = json_object_get(doc, "messages");
    assert_int_equal(json_array_size(messages), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(messages, 0), "message")),
                        "A1");
    assert_true(json_is_true(json_object_get(json_array_get(messages, 0), "met")));
    assert_false(json_is_true(json_object_get(json_array_get(messages, 1), "met")));
    assert_false(json_is_true(json_object_get(json_array_get(messages, 2), "met")));
    json_t *worst = json_array_get(json_object_get(doc, "worst_hours"), 0);
    assert_string_equal(json_string_value(json_object_get(worst, "hour")), "2026-07-01T14:00Z");
    json_decref(doc);

    char svg[400];
    snprintf(svg, sizeof svg, "%s/sla.svg", s_dir);
    snprintf(args, sizeof args,
             "report sla --from 2026-07-01 --to 2026-07-02 --data '%s' --svg '%s'", s_dir, svg);
    int status;
    char *text = s_kpctl(args, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(text, "worst hours"));
    assert_non_null(strstr(text, "MISSED"));
    free(text);
    char *texts = s_svg_texts(svg);
    assert_non_null(strstr(texts, "online within 1 s: 96.13% (target 99%)"));
    assert_non_null(strstr(texts, "online within 2 s: 99.68% (target 99.5%)"));
    assert_non_null(strstr(texts, "integrated within 4 s: 98.00% (target 99%)"));
    assert_non_null(strstr(texts, "310 online, 50 integrated"));
    free(texts);
}

static void test_access(void **state)
{
    (void)state;
    char args[1024], svg[400];
    snprintf(svg, sizeof svg, "%s/access.svg", s_dir);
    snprintf(args, sizeof args, "report access --quarter 2026Q3 --data '%s' --json --svg '%s'",
             s_dir, svg);
    json_t *doc = s_json(args);
    assert_int_equal(s_uint(doc, "requests"), 369);
    assert_int_equal(s_uint(doc, "refused"), 8);
    assert_int_equal(s_uint(doc, "invalid"), 1);
    json_t *reasons = json_object_get(doc, "refused_by_reason");
    assert_int_equal(s_uint(reasons, "CAPACITY_NOT_AUTHORIZED"), 5);
    assert_int_equal(s_uint(reasons, "PERSON_NOT_IN_DIRECTORY"), 2);
    assert_int_equal(s_uint(reasons, "USER_NOT_AUTHORIZED"), 1);
    json_t *months = json_object_get(doc, "by_month");
    assert_int_equal(s_uint(json_array_get(months, 0), "refused"), 5);
    assert_int_equal(s_uint(json_array_get(months, 1), "refused"), 2);
    assert_int_equal(s_uint(json_array_get(months, 2), "refused"), 1);
    json_t *most = json_array_get(json_object_get(doc, "institutions_refused_most"), 0);
    assert_string_equal(json_string_value(json_object_get(most, "kbo")), "0212344876");
    assert_int_equal(s_uint(most, "refused"), 7);
    //  Six users in the sample directory; three sent something.
    assert_int_equal(s_uint(doc, "directory_users"), 6);
    json_t *unused = json_object_get(doc, "users_never_used");
    assert_int_equal(json_array_size(unused), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(unused, 0), "user")),
                        "acv-app");
    json_decref(doc);
    char *texts = s_svg_texts(svg);
    assert_non_null(strstr(texts, "CAPACITY_NOT_AUTHORIZED: 5"));
    assert_non_null(strstr(texts, "PERSON_NOT_IN_DIRECTORY: 2"));
    assert_non_null(strstr(texts, "refused 8 of 369 requests (2.17%)"));
    assert_non_null(strstr(texts, "August"));
    free(texts);
}

static void test_usage_errors(void **state)
{
    (void)state;
    int status;
    char args[600];
    free(s_kpctl("report access --quarter 2026Q5 --log /nonexistent 2>/dev/null", &status));
    assert_int_equal(status, 2);
    free(s_kpctl("report sla --from 2026-07-02 --to 2026-07-01 --log /x 2>/dev/null", &status));
    assert_int_equal(status, 2);
    free(s_kpctl("report nothing 2>/dev/null", &status));
    assert_int_equal(status, 2);
    snprintf(args, sizeof args,
             "report sla --from 2026-07-01 --to 2026-07-01 --log '%s/none' "
             "2>/dev/null",
             s_dir);
    free(s_kpctl(args, &status));
    assert_int_equal(status, 1);
    free(s_kpctl("report --help", &status));
    assert_int_equal(status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sla),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests_name("report", tests, s_setup, s_teardown);
}
