/*  test_log_spare.c - the privacy log's spare segments on a real node.

    One kpnode with 1 MiB segments (the cluster file's log-segment-mib)
    serves calls until its log has rolled through several segments. Its
    status ("log"."spare", also through `kpctl status`) and /metrics say
    that every segment after the fresh log's first was made from a spare
    written ahead. Restarted with 2 MiB segments on the same log, it goes
    on through a 2 MiB spare. Then, with the node stopped, the real
    `kpctl log verify` passes on the log of 1 and 2 MiB segments, `kpctl
    log query` shows the decision of every call the client was answered,
    `kpctl log stats` counts them, and an export verifies: the readers
    take segments of any size (each file is read by its own length).

    The calls come in rounds of S_ROUND, far less than half a segment, and
    after each round the test waits until the spare's actor has done with
    every spare the logger asked for (status: answered == asked). The
    logger asks for the next segment's spare when the segment is half
    full, so the spare is always ready before the roll, however slow the
    machine: the test checks where segments come from, not whether the
    disk keeps up with an unpaced load (that is kpbench's part).
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define S_ROUND 300        //  calls a round: about a third of half a segment
#define S_IN_FLIGHT 32     //  at once
#define S_SEGMENTS 4       //  segments the log rolls through (so 3 from spares)
#define S_CEILING_MS 60000 //  for a loaded machine (ASan); quiet: about 2 s

//  Node 0's status "log"."spare" (decref it), or fails.
static json_t *s_spare(harness_t *harness)
{
    Kp__AdminReply *reply = harness_admin(harness, 0, "status", NULL, 5000);
    if (!reply)
        fail_msg("the node does not answer status");
    json_t *status = json_loads(reply->json, JSON_REJECT_DUPLICATES, NULL);
    kp__admin_reply__free_unpacked(reply, NULL);
    json_t *spare = json_incref(json_object_get(json_object_get(status, "log"), "spare"));
    json_decref(status);
    if (!json_is_object(spare))
        fail_msg("the status has no log.spare");
    return spare;
}

static uint64_t s_uint(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    if (!json_is_integer(value))
        fail_msg("log.spare.%s is not a number", key);
    return (uint64_t)json_integer_value(value);
}

//  S_ROUND calls, S_IN_FLIGHT at once, ids "spare-N" from *next; every
//  answer's id goes into ids.
static void s_round(zsock_t *client, harness_ids_t *ids, int *next)
{
    int sent = 0, waiting = 0;
    while (sent < S_ROUND || waiting > 0) {
        while (sent < S_ROUND && waiting < S_IN_FLIGHT) {
            char id[32];
            snprintf(id, sizeof id, "spare-%d", (*next)++);
            Kp__Request request = harness_a1_request(id);
            harness_send(client, &request);
            sent++;
            waiting++;
        }
        if (!harness_take(client, ids, 5000))
            fail_msg("no answer within 5 s (%d in flight)", waiting);
        waiting--;
    }
}

//  Waits until the spare's actor has done with every spare asked for;
//  returns the spare's status then (decref it).
static json_t *s_spare_settled(harness_t *harness)
{
    int64_t deadline = harness_now_ms() + S_CEILING_MS;
    while (true) {
        json_t *spare = s_spare(harness);
        if (s_uint(spare, "answered") >= s_uint(spare, "asked"))
            return spare;
        json_decref(spare);
        if (harness_now_ms() > deadline)
            fail_msg("the spare asked for was not written in %d ms", S_CEILING_MS);
        usleep(10000);
    }
}

//  `kpctl status -c CLUSTER` with extra (e.g. "--json"), as an operator
//  runs it: true if its output shows the spare's state and counters.
static bool s_kpctl_status_shows_spare(harness_t *harness, const char *extra)
{
    char command[1024], line[512];
    snprintf(command, sizeof command, "\"%s\" status -c \"%s\" %s", getenv("KPCTL"),
             harness->config, extra);
    FILE *out = popen(command, "r");
    assert_non_null(out);
    bool spare = false, from_spare = false;
    while (fgets(line, sizeof line, out)) {
        spare |= strstr(line, "\"spare\"") != NULL;
        from_spare |= strstr(line, "\"segments_from_spare\"") != NULL;
    }
    return pclose(out) == 0 && spare && from_spare;
}

//  Calls in rounds until the log has made `from_spare` segments from
//  spares since the node started; fails if more than `without` were made
//  without one. The spare's status then (decref it).
static json_t *s_roll(harness_t *harness, zsock_t *client, harness_ids_t *ids, int *next,
                      uint64_t from_spare, uint64_t without)
{
    bool seen_ready = false; //  the status said "ready" after a spare was made
    int64_t deadline = harness_now_ms() + S_CEILING_MS;
    json_t *spare = s_spare(harness);
    printf("# at start: %s (%s)\n", json_string_value(json_object_get(spare, "state")),
           json_string_value(json_object_get(spare, "why")));
    while (s_uint(spare, "segments_from_spare") < from_spare) {
        if (harness_now_ms() > deadline)
            fail_msg("%d calls rolled the log through %llu spares in %d ms", *next,
                     (unsigned long long)s_uint(spare, "segments_from_spare"), S_CEILING_MS);
        json_decref(spare);
        s_round(client, ids, next);
        spare = s_spare_settled(harness);
        const char *now = json_string_value(json_object_get(spare, "state"));
        seen_ready |= now && !strcmp(now, "ready");
        //  A segment made without a spare: no need to go on.
        if (s_uint(spare, "segments_without_spare") > without)
            fail_msg("%llu segments were made without a spare (state %s)",
                     (unsigned long long)s_uint(spare, "segments_without_spare"), now);
    }
    assert_true(seen_ready);
    printf("# %d calls, %zu answered: %llu segments from spares, %llu without, %llu spares "
           "written; now %s\n",
           *next, ids->count, (unsigned long long)s_uint(spare, "segments_from_spare"),
           (unsigned long long)s_uint(spare, "segments_without_spare"),
           (unsigned long long)s_uint(spare, "written"),
           json_string_value(json_object_get(spare, "state")));
    assert_int_equal(s_uint(spare, "segments_without_spare"), without);
    assert_int_equal(s_uint(spare, "removed_for_disk"), 0);
    assert_true(s_uint(spare, "written") >= s_uint(spare, "segments_from_spare"));
    char *text = json_dumps(spare, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("# log.spare: %s\n", text);
    free(text);
    return spare;
}

//  The cluster file's log-segment-mib becomes mib (the node is stopped).
static void s_segment_mib(harness_t *harness, int mib)
{
    FILE *file = fopen(harness->config, "r");
    assert_non_null(file);
    static char text[1 << 16], changed[1 << 16];
    size_t size = fread(text, 1, sizeof text - 1, file);
    text[size] = '\0';
    fclose(file);
    char *at = strstr(text, "log-segment-mib = ");
    assert_non_null(at);
    char *eol = strchr(at, '\n');
    assert_non_null(eol);
    snprintf(changed, sizeof changed, "%.*slog-segment-mib = %d%s", (int)(at - text), text, mib,
             eol);
    file = fopen(harness->config, "w");
    assert_non_null(file);
    fputs(changed, file);
    fclose(file);
}

//  The largest segment file in dir (bytes).
static uint64_t s_largest_segment(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    uint64_t largest = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char path[700];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (len > 6 && !strcmp(e->d_name + len - 6, ".kplog") && !stat(path, &st) &&
            (uint64_t)st.st_size > largest)
            largest = (uint64_t)st.st_size;
    }
    closedir(d);
    return largest;
}

//  A one-node cluster whose log has 1 MiB segments, not started yet.
static harness_t *s_harness_1mib(void)
{
    harness_t *harness = harness_new_insecure(1, 1000, 3000, 1 << 20);
    harness_cluster_line(harness, "log-segment-mib = 1");
    return harness;
}

//  Starts the node, with the test hook var = value in its environment
//  (var NULL: none): the node inherits it, the test keeps none.
static void s_start(harness_t *harness, const char *var, const char *value)
{
    char served[512];
    if (var)
        setenv(var, value, 1);
    assert_true(harness_start_served(harness, 0, served, sizeof served));
    if (var)
        unsetenv(var);
}

static void test_segments_from_spares(void **state)
{
    (void)state;
    harness_t *harness = s_harness_1mib();
    s_start(harness, NULL, NULL);
    zsock_t *client = harness_client(harness, 0);
    harness_ids_t ids = {0};
    int next = 0;
    //  Only the fresh log's first segment is made without a spare.
    json_t *spare = s_roll(harness, client, &ids, &next, S_SEGMENTS - 1, 1);
    uint64_t from_spare = s_uint(spare, "segments_from_spare");
    json_decref(spare);
    //  The same counts on /metrics, once the node has published them.
    int64_t published = harness_now_ms() + S_CEILING_MS;
    while (harness_metric(harness, 0, "kp_log_segments_from_spare_total") < (double)from_spare) {
        if (harness_now_ms() > published)
            fail_msg("/metrics never showed %llu segments from spares",
                     (unsigned long long)from_spare);
        usleep(20000);
    }
    assert_true(harness_metric(harness, 0, "kp_log_segments_without_spare_total") == 1);
    assert_true(harness_metric(harness, 0, "kp_log_spares_removed_total") == 0);
    assert_true(harness_metric(harness, 0, "kp_log_spares_written_total") >= (double)from_spare);
    assert_true(harness_metric(harness, 0, "kp_log_spare_state{state=\"off\"}") == 0);
    assert_true(s_kpctl_status_shows_spare(harness, ""));
    assert_true(s_kpctl_status_shows_spare(harness, "--json"));
    zsock_destroy(&client);
    int stopped = harness_stop_node(harness, 0, SIGTERM);
    assert_true(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/node-1/log", harness->dir);
    //  A segment rolls once a group has taken it past its size.
    uint64_t largest = s_largest_segment(dir);
    printf("# the largest segment of 1 MiB: %llu bytes\n", (unsigned long long)largest);
    assert_true(largest >= 1u << 20 && largest < 3u << 19);

    //  The key changed to 2 MiB: the log goes on in the segment it had,
    //  to 2 MiB, and the next ones are 2 MiB spares (the 1 MiB spare left
    //  is of no use and replaced).
    s_segment_mib(harness, 2);
    harness_start_node(harness, 0);
    assert_true(harness_wait_workers(harness, 0, 1));
    client = harness_client(harness, 0);
    spare = s_roll(harness, client, &ids, &next, 1, 0);
    json_decref(spare);
    zsock_destroy(&client);
    stopped = harness_stop_node(harness, 0, SIGTERM);
    assert_true(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0);
    largest = s_largest_segment(dir);
    printf("# the largest segment after the change: %llu bytes\n", (unsigned long long)largest);
    assert_true(largest >= 2u << 20 && largest < 5u << 19);

    //  kpctl reads the log of 1 and 2 MiB segments: each file is read by
    //  its own length.
    int status;
    json_t *verify = harness_kpctl_log(dir, "verify", &status);
    assert_non_null(verify);
    assert_int_equal(status, 0);
    assert_true(json_is_true(json_object_get(verify, "ok")));
    json_int_t segments = json_integer_value(json_object_get(verify, "segments"));
    assert_true(segments >= S_SEGMENTS + 1);
    json_decref(verify);

    //  Every call the client was answered has its decision in the log.
    json_t *query = harness_kpctl_log(dir, "query --person " HARNESS_PERSON, &status);
    assert_non_null(query);
    assert_int_equal(status, 0);
    zhashx_t *logged = zhashx_new();
    json_t *records = json_object_get(query, "records"), *record;
    size_t i;
    json_array_foreach(records, i, record)
    {
        const char *id = json_string_value(json_object_get(record, "request_id"));
        if (id)
            zhashx_update(logged, id, (void *)1);
    }
    for (size_t k = 0; k < ids.count; k++)
        if (!zhashx_lookup(logged, ids.ids[k]))
            fail_msg("call %s was answered but kpctl log query does not show it", ids.ids[k]);
    printf("# kpctl log query: %zu messages, every answered call among them\n",
           json_array_size(records));
    zhashx_destroy(&logged);
    json_decref(query);
    json_t *stats = harness_kpctl_log(dir, "stats", &status);
    assert_non_null(stats);
    assert_int_equal(status, 0);
    assert_true(json_integer_value(json_object_get(stats, "records")) >= (json_int_t)ids.count);
    json_decref(stats);
    //  An export of it verifies on its own, with every segment.
    char args[600], out[500];
    snprintf(out, sizeof out, "%s/export", harness->dir);
    snprintf(args, sizeof args, "export %s", out);
    json_t *exported = harness_kpctl_log(dir, args, &status);
    assert_non_null(exported);
    assert_int_equal(status, 0);
    json_decref(exported);
    json_t *copy = harness_kpctl_log(out, "verify", &status);
    assert_non_null(copy);
    assert_int_equal(status, 0);
    assert_true(json_is_true(json_object_get(copy, "ok")));
    assert_int_equal(json_integer_value(json_object_get(copy, "segments")), segments);
    json_decref(copy);
    harness_ids_free(&ids);
    harness_destroy(&harness);
}

//  Too little free disk for a spare (the room rule: three segments and
//  64 MiB), as the test hook KP_TEST_SPARE_FREE makes the actor believe:
//  the status says no-room with the bytes free and needed, /metrics too,
//  and the next segment is made without a spare, counted.
static void test_no_room(void **state)
{
    (void)state;
#ifdef KP_TEST_HOOKS
    harness_t *harness = s_harness_1mib();
    s_start(harness, "KP_TEST_SPARE_FREE", "1048576");
    zsock_t *client = harness_client(harness, 0);
    harness_ids_t ids = {0};
    int next = 0;
    int64_t deadline = harness_now_ms() + S_CEILING_MS;
    json_t *spare = s_spare(harness);
    //  Until the first segment has rolled: its spare was asked for at half.
    while (s_uint(spare, "segments_without_spare") < 2) {
        if (harness_now_ms() > deadline)
            fail_msg("%d calls did not roll the first segment in %d ms", next, S_CEILING_MS);
        json_decref(spare);
        s_round(client, &ids, &next);
        spare = s_spare_settled(harness);
    }
    char *text = json_dumps(spare, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("# log.spare: %s\n", text);
    free(text);
    assert_string_equal(json_string_value(json_object_get(spare, "state")), "no-room");
    assert_int_equal(s_uint(spare, "room_free_bytes"), 1048576);
    assert_int_equal(s_uint(spare, "room_needed_bytes"), (3u << 20) + (64u << 20));
    assert_non_null(strstr(json_string_value(json_object_get(spare, "why")), "not made"));
    assert_int_equal(s_uint(spare, "segments_from_spare"), 0);
    assert_int_equal(s_uint(spare, "written"), 0);
    json_decref(spare);
    int64_t published = harness_now_ms() + S_CEILING_MS;
    //  One snapshot of /metrics may come between the state and the roll.
    while (harness_metric(harness, 0, "kp_log_spare_state{state=\"no-room\"}") != 1 ||
           harness_metric(harness, 0, "kp_log_segments_without_spare_total") < 2) {
        if (harness_now_ms() > published)
            fail_msg("/metrics never showed the state no-room and 2 segments without a spare");
        usleep(20000);
    }
    zsock_destroy(&client);
    harness_ids_free(&ids);
    harness_destroy(&harness);
#else
    skip(); //  the log has no test hooks in this build
#endif
}

//  The disk fills (the test hook KP_TEST_WRITE_FAIL: while its file
//  exists the log's writes fail as on a full disk) with a spare ready:
//  the writer removes the spare, and the status and /metrics say so;
//  when space returns the node answers again.
static void test_removed_for_disk(void **state)
{
    (void)state;
#ifdef KP_TEST_HOOKS
    harness_t *harness = s_harness_1mib();
    char full[400];
    snprintf(full, sizeof full, "%s/disk-full", harness->dir);
    s_start(harness, "KP_TEST_WRITE_FAIL", full);
    zsock_t *client = harness_client(harness, 0);
    harness_ids_t ids = {0};
    int next = 0;
    int64_t deadline = harness_now_ms() + S_CEILING_MS;
    json_t *spare = s_spare(harness);
    while (strcmp(json_string_value(json_object_get(spare, "state")), "ready")) {
        if (harness_now_ms() > deadline)
            fail_msg("%d calls made no spare in %d ms", next, S_CEILING_MS);
        json_decref(spare);
        s_round(client, &ids, &next);
        spare = s_spare_settled(harness);
    }
    json_decref(spare);
    FILE *flag = fopen(full, "w"); //  the disk is full
    assert_non_null(flag);
    fclose(flag);
    //  A call whose record cannot be written (or the outcomes before it).
    Kp__Request request = harness_a1_request("full-1");
    Kp__Response *response = harness_call(client, &request, 5000);
    assert_non_null(response);
    kp__response__free_unpacked(response, NULL);
    assert_true(harness_wait_status(harness, 0, "log.spare.state", "\"removed\"", 5000));
    spare = s_spare(harness);
    char *text = json_dumps(spare, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("# log.spare: %s\n", text);
    free(text);
    assert_int_equal(s_uint(spare, "removed_for_disk"), 1);
    assert_non_null(strstr(json_string_value(json_object_get(spare, "why")), "disk full"));
    json_decref(spare);
    char dir[400], path[500];
    snprintf(dir, sizeof dir, "%s/node-1/log", harness->dir);
    snprintf(path, sizeof path, "%s/spare-segment", dir);
    assert_int_equal(access(path, F_OK), -1);
    int64_t published = harness_now_ms() + S_CEILING_MS;
    while (harness_metric(harness, 0, "kp_log_spares_removed_total") != 1 ||
           harness_metric(harness, 0, "kp_log_spare_state{state=\"removed\"}") != 1) {
        if (harness_now_ms() > published)
            fail_msg("/metrics never showed the spare removed");
        usleep(20000);
    }
    unlink(full); //  space again
    assert_true(harness_wait_count(harness, 0, "log_ok", 1, 5000));
    request = harness_a1_request("full-2");
    response = harness_call(client, &request, 5000);
    assert_non_null(response);
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    zsock_destroy(&client);
    harness_ids_free(&ids);
    harness_destroy(&harness);
#else
    skip(); //  the log has no test hooks in this build
#endif
}

int main(int argc, char **argv)
{
    int rc = harness_main(argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments_from_spares),
        cmocka_unit_test(test_no_room),
        cmocka_unit_test(test_removed_for_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
