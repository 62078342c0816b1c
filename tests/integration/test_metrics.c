/*  test_metrics.c - the node's HTTP endpoint through a real kpnode.

    Starts kpnode on loopback with a metrics address, a provider worker
    (this program re-run with --worker), and scrapes /metrics, /healthz and
    /readyz over plain HTTP while real requests go through: the counters
    move with the calls, the text parses as the Prometheus format, and
    readiness falls when the node stops.
*/
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define REQUESTER "0206731645"
#define PROVIDER "0411702543" //  sector 17 type 1
#define PERSON "85073003328"

static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" REQUESTER "\",\"name\":\"R\",\"sector\":25,"
    "\"type\":0}\n"
    "{\"table\":\"institution\",\"kbo\":\"" PROVIDER "\",\"name\":\"P\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" REQUESTER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" REQUESTER "\",\"sector\":25,"
    "\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" PERSON "\",\"kbo\":\"" PROVIDER "\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

static const char *s_self;

//  ---------------------------------------------------------------------
//  The Prometheus text format, checked line by line

static const char *s_name_end(const char *p)
{
    if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
        return NULL;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    return p;
}

//  After '{': label="value" pairs up to '}'; returns past '}' or NULL.
static const char *s_labels_end(const char *p)
{
    while (*p != '}') {
        const char *end = s_name_end(p);
        if (!end || end[0] != '=' || end[1] != '"')
            return NULL;
        for (p = end + 2; *p != '"'; p++) {
            if (!*p || *p == '\n')
                return NULL;
            if (*p == '\\' && !strchr("\\\"n", *++p))
                return NULL;
        }
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    return p + 1;
}

static bool s_value_ok(const char *text)
{
    if (!strcmp(text, "+Inf") || !strcmp(text, "-Inf") || !strcmp(text, "NaN"))
        return true;
    char *end;
    strtod(text, &end);
    return end != text && *end == '\0';
}

//  NULL when every line is a HELP, a TYPE (before its samples) or a
//  sample; the problem otherwise.
static const char *s_format_problem(const char *text, char *line_out, size_t size)
{
    char typed[256][64];
    size_t typed_count = 0;
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            return "the last line has no newline";
        snprintf(line_out, size, "%.*s", (int)(eol - line), line);
        if (!strncmp(line_out, "# HELP ", 7)) {
            if (!s_name_end(line_out + 7))
                return "HELP without a metric name";
        } else if (!strncmp(line_out, "# TYPE ", 7)) {
            const char *end = s_name_end(line_out + 7);
            if (!end || *end != ' ')
                return "TYPE without a metric name";
            if (strcmp(end + 1, "counter") && strcmp(end + 1, "gauge") &&
                strcmp(end + 1, "histogram"))
                return "TYPE names an unknown type";
            if (typed_count < 256)
                snprintf(typed[typed_count++], 64, "%.*s", (int)(end - line_out - 7), line_out + 7);
        } else {
            const char *end = s_name_end(line_out);
            if (!end)
                return "a sample without a metric name";
            if (*end == '{' && !(end = s_labels_end(end + 1)))
                return "bad labels";
            if (*end != ' ' || !s_value_ok(end + 1))
                return "a sample without a value";
            bool known = false;
            for (size_t i = 0; i < typed_count && !known; i++)
                known = !strncmp(line_out, typed[i], strlen(typed[i]));
            if (!known)
                return "a sample before its family's TYPE";
        }
        line = eol + 1;
    }
    return NULL;
}

//  The value of the sample named exactly series; 0 when absent.
static double s_value(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, series, len) && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    return 0;
}

//  ---------------------------------------------------------------------
//  Helpers

static char *s_get(harness_t *harness, const char *path, int want_status)
{
    int status = 0;
    char *body = harness_http(harness, 0, "GET", path, &status);
    assert_non_null(body);
    if (status != want_status)
        fail_msg("GET %s: status %d, wanted %d; body:\n%s", path, status, want_status, body);
    return body;
}

static harness_t *s_node_with_worker(int delay_ms)
{
    harness_t *harness = harness_new(1, 100, 3000, 1 << 20);
    harness_start_node(harness, 0);
    harness_load(harness, 0, s_directory);
    char delay[16], logfile[300];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    snprintf(logfile, sizeof logfile, "%s/served.log", harness->dir);
    char *argv[] = {(char *)s_self, "--worker", harness->worker[0], PROVIDER, delay, logfile,
                    "A1",           NULL};
    harness_spawn(harness, argv);
    assert_true(harness_wait_workers(harness, 0, 1));
    return harness;
}

static Kp__Response *s_call(harness_t *harness, const char *id, uint32_t capacity)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = "rsz-app";
    request.message = "A1";
    request.person = PERSON;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.capacity = capacity;
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    Kp__Response *response = harness_call(client, &request, 5000);
    zsock_destroy(&client);
    assert_non_null(response);
    return response;
}

//  Scrapes until series reaches want (the loop hands a snapshot over
//  every 250 ms); fails after 5 s.
static char *s_scrape_until(harness_t *harness, const char *series, double want)
{
    int64_t give_up = harness_now_ms() + 5000;
    while (true) {
        char *text = s_get(harness, "/metrics", 200);
        if (s_value(text, series) >= want)
            return text;
        if (harness_now_ms() > give_up)
            fail_msg("%s stayed at %g, wanted %g; metrics:\n%s", series, s_value(text, series),
                     want, text);
        free(text);
        usleep(50 * 1000);
    }
}

//  ---------------------------------------------------------------------
//  Tests

#define S_OK "kp_requests_total{status=\"OK\",reason=\"NONE\"}"
#define S_DENIED "kp_requests_total{status=\"DENIED\",reason=\"CAPACITY_NOT_AUTHORIZED\"}"
#define S_A1_OK "kp_message_requests_total{message=\"A1\",status=\"OK\"}"
#define S_ONLINE "kp_request_duration_seconds_bucket{kind=\"online\",le=\"%s\"}"

static void test_counters_move_with_calls(void **state)
{
    (void)state;
    harness_t *harness = s_node_with_worker(0);
    char *before = s_scrape_until(harness, "kp_workers{institution=\"" PROVIDER "\"}", 1);
    assert_true(s_value(before, S_OK) == 0);
    assert_true(s_value(before, "kp_directory_seq") >= 1);
    free(before);
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "ok-%d", i);
        Kp__Response *response = s_call(harness, id, 1);
        assert_int_equal(response->status, KP__STATUS__OK);
        kp__response__free_unpacked(response, NULL);
    }
    Kp__Response *denied = s_call(harness, "denied-1", 2);
    assert_int_equal(denied->status, KP__STATUS__DENIED);
    kp__response__free_unpacked(denied, NULL);
    char *text = s_scrape_until(harness, S_DENIED, 1);
    assert_true(s_value(text, S_OK) == 5);
    assert_true(s_value(text, S_A1_OK) == 5);
    //  The service levels are bucket bounds, and all six were within 1 s.
    char series[128];
    static const char *bounds[] = {"1", "2", "4", "+Inf"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(series, sizeof series, S_ONLINE, bounds[i]);
        assert_true(s_value(text, series) == 6);
    }
    assert_true(s_value(text, "kp_request_duration_seconds_count{kind=\"online\"}") == 6);
    //  Twelve records, durable in one group commit or more: a DECISION and
    //  an OUTCOME for each of the five routed calls (each outcome was
    //  appended before the next call's records, so the refusal's durable
    //  record covers it), the refusal's one COMPLETE record, and the operator's directory.apply
    //  (the harness's load).
    assert_true(s_value(text, "kp_log_commit_records_sum") == 12);
    assert_true(s_value(text, "kp_log_commit_seconds_count") >= 1);
    assert_true(s_value(text, "kp_log_durable_seq") == 12);
    assert_true(s_value(text, "process_open_fds") > 0);
    free(text);
    harness_destroy(&harness);
}

static void test_text_format_parses(void **state)
{
    (void)state;
    harness_t *harness = s_node_with_worker(0);
    Kp__Response *response = s_call(harness, "format-1", 1);
    kp__response__free_unpacked(response, NULL);
    char *text = s_scrape_until(harness, S_OK, 1);
    char line[2048];
    const char *problem = s_format_problem(text, line, sizeof line);
    if (problem)
        fail_msg("%s: '%s'", problem, line);
    //  Histogram buckets rise and end at the count.
    double last = 0;
    for (const char *p = strstr(text, "kp_log_commit_seconds_bucket"); p;
         p = strstr(p + 1, "kp_log_commit_seconds_bucket")) {
        double value = strtod(strchr(p, ' ') + 1, NULL);
        assert_true(value >= last);
        last = value;
    }
    assert_true(last == s_value(text, "kp_log_commit_seconds_count"));
    //  A checker that passes everything checks nothing.
    assert_non_null(s_format_problem("kp_x 1\n", line, sizeof line));
    assert_non_null(s_format_problem("# TYPE kp_x gauge\nkp_x{a=\"b} 1\n", line, sizeof line));
    assert_non_null(s_format_problem("# TYPE kp_x gauge\nkp_x one\n", line, sizeof line));
    free(text);
    harness_destroy(&harness);
}

static void test_health_and_bad_requests(void **state)
{
    (void)state;
    harness_t *harness = s_node_with_worker(0);
    char *body = s_get(harness, "/healthz", 200);
    assert_non_null(strstr(body, "alive"));
    free(body);
    body = s_get(harness, "/readyz", 200);
    assert_non_null(strstr(body, "log ok"));
    assert_non_null(strstr(body, "directory ok"));
    free(body);
    body = s_get(harness, "/nothing", 404);
    free(body);
    int status = 0;
    body = harness_http(harness, 0, "POST", "/metrics", &status);
    assert_non_null(body);
    assert_int_equal(status, 405);
    free(body);
    body = harness_http(harness, 0, "GARBAGE\x01", "/\x7f", &status);
    free(body);
    //  Still serving, and still routing.
    body = s_get(harness, "/metrics", 200);
    free(body);
    Kp__Response *response = s_call(harness, "after-garbage", 1);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    harness_destroy(&harness);
}

static void test_not_ready_while_stopping(void **state)
{
    (void)state;
    harness_t *harness = s_node_with_worker(1500);
    //  A call that holds the node in its grace period after SIGTERM.
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = "slow-1";
    request.user = "rsz-app";
    request.message = "A1";
    request.person = PERSON;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.capacity = 1;
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    harness_send(client, &request);
    free(s_scrape_until(harness, "kp_in_flight", 1));
    kill(harness->node[0], SIGTERM);
    int64_t give_up = harness_now_ms() + 5000;
    char *body = NULL;
    int status = 0;
    while (harness_now_ms() < give_up) {
        free(body);
        body = harness_http(harness, 0, "GET", "/readyz", &status);
        if (body && status == 503)
            break;
        usleep(20 * 1000);
    }
    assert_int_equal(status, 503);
    assert_non_null(strstr(body, "not_stopping failing"));
    free(body);
    //  The call in flight is still answered.
    Kp__Response *response = harness_recv(client, 5000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&client);
    harness_destroy(&harness);
}

static void test_bad_metrics_address(void **state)
{
    (void)state;
    harness_t *harness = harness_new(1, 100, 3000, 1 << 20);
    char config[400];
    snprintf(config, sizeof config, "%s/bad.cfg", harness->dir);
    FILE *file = fopen(config, "w");
    assert_non_null(file);
    fprintf(file,
            "cluster\n    insecure = true\nnode\n    node-1\n        site = \"s\"\n        data = "
            "\"%s/bad\"\n        client = "
            "\"%s\"\n"
            "        worker = \"%s\"\n        admin = \"%s\"\n        metrics = \"nonsense\"\n",
            harness->dir, harness->client[0], harness->worker[0], harness->admin[0]);
    fclose(file);
    char log[400];
    snprintf(log, sizeof log, "%s/bad.log", harness->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        assert_non_null(freopen(log, "w", stderr));
        execl(getenv("KPNODE"), "kpnode", "--config", config, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char text[1024] = "";
    file = fopen(log, "r");
    assert_non_null(file);
    size_t n = fread(text, 1, sizeof text - 1, file);
    text[n] = '\0';
    fclose(file);
    assert_non_null(strstr(text, "metrics address 'nonsense'"));
    harness_destroy(&harness);
}

//  ---------------------------------------------------------------------
//  systemd: sd_notify readiness, watchdog and stopping, without systemd

//  The next datagram on fd, or "" after timeout_ms.
static void s_notice(int fd, char *out, size_t size, int timeout_ms)
{
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ssize_t n = recv(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

//  Waits for a datagram that holds text; false after 5 s.
static bool s_wait_notice(int fd, const char *text)
{
    char notice[512];
    int64_t give_up = harness_now_ms() + 5000;
    while (harness_now_ms() < give_up) {
        s_notice(fd, notice, sizeof notice, 500);
        if (strstr(notice, text))
            return true;
    }
    return false;
}

static void test_systemd_notify(void **state)
{
    (void)state;
    harness_t *harness = harness_new(1, 100, 3000, 1 << 20);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(harness->dir) + 8 < sizeof addr.sun_path);
    snprintf(addr.sun_path, sizeof addr.sun_path, "%.90s/notify", harness->dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    //  What systemd sets for a Type=notify unit with WatchdogSec=0.4s.
    setenv("NOTIFY_SOCKET", addr.sun_path, 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    harness_start_node(harness, 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    assert_true(s_wait_notice(fd, "READY=1"));
    //  Every half interval from the loop: two within a second or so.
    assert_true(s_wait_notice(fd, "WATCHDOG=1"));
    assert_true(s_wait_notice(fd, "WATCHDOG=1"));
    kill(harness->node[0], SIGTERM);
    assert_true(s_wait_notice(fd, "STOPPING=1"));
    close(fd);
    harness_destroy(&harness);
}

//  ---------------------------------------------------------------------
//  ops/: the dashboard and the alerts name only metrics the node exports

//  Checks every kp_* and process_* name in the file at path (relative to
//  the source tree) against the families of text; fails naming the first
//  unknown one. Returns how many names were checked.
static int s_check_names(const char *path, const char *text)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", getenv("KP_SOURCE_ROOT"), path);
    FILE *file = fopen(full, "r");
    assert_non_null(file);
    static char body[1 << 20];
    size_t size = fread(body, 1, sizeof body - 1, file);
    body[size] = '\0';
    fclose(file);
    int checked = 0;
    for (char *p = body; *p; p++) {
        bool start = (p == body || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'));
        if (!start || (strncmp(p, "kp_", 3) && strncmp(p, "process_", 8)))
            continue;
        char name[128];
        size_t len = 0;
        while ((isalnum((unsigned char)p[len]) || p[len] == '_') && len < sizeof name - 1)
            len++;
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        static const char *suffixes[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(name), k = strlen(suffixes[i]);
            if (n > k && !strcmp(name + n - k, suffixes[i]))
                name[n - k] = '\0';
        }
        char family[160];
        snprintf(family, sizeof family, "# TYPE %s ", name);
        if (!strstr(text, family))
            fail_msg("%s names %s, which /metrics does not export", path, name);
        checked++;
        p += len - 1;
    }
    return checked;
}

static void test_ops_files_name_exported_metrics(void **state)
{
    (void)state;
    char full[1024];
    snprintf(full, sizeof full, "%s/ops/grafana-kruispunt.json", getenv("KP_SOURCE_ROOT"));
    json_error_t error;
    json_t *dashboard = json_load_file(full, 0, &error);
    if (!dashboard)
        fail_msg("the dashboard is not JSON: line %d: %s", error.line, error.text);
    assert_true(json_array_size(json_object_get(dashboard, "panels")) >= 8);
    json_decref(dashboard);
    harness_t *harness = s_node_with_worker(0);
    char *text = s_get(harness, "/metrics", 200);
    assert_true(s_check_names("ops/grafana-kruispunt.json", text) >= 20);
    assert_true(s_check_names("ops/prometheus-alerts.yml", text) >= 10);
    free(text);
    harness_destroy(&harness);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    int rc = harness_main(argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move_with_calls),
        cmocka_unit_test(test_text_format_parses),
        cmocka_unit_test(test_health_and_bad_requests),
        cmocka_unit_test(test_not_ready_while_stopping),
        cmocka_unit_test(test_bad_metrics_address),
        cmocka_unit_test(test_systemd_notify),
        cmocka_unit_test(test_ops_files_name_exported_metrics),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
