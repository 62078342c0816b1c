/*  test_register.c - the registers (issue 15) through real kpnode
    processes: kpctl register import (atomic, then --skip-bad), the
    register message types under the control (lookup, search with
    accents and typos, concurrent bis proposals from several clients,
    a correction), kpctl register merge (the replaced number redirected,
    its person directory entries moved, the whole history of the merged
    person found by a log query of either number), and a register change on a
    3-node cluster reaching every node.

    Bis numbers are checked against a mod-97 of the test's own (long
    division over the decimal text), for the century of the birth date.
*/
#include <czmq.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sites.h"

#define S_FRAMEWORK "KB-1990-09-08"
#define S_HOLDER "0206731645" //  HARNESS_REQUESTER
#define S_PETERS "85073003328"
#define S_DUPLICATE "85073003130" //  the same man, registered again (sequence 031)
#define S_OTHER "85073003229"     //  a woman born the same day (sequence 032)

//  The broker's institution provides the four types; RSZ (25, 0) may use
//  them: lookup and correct per capacity, search and propose under a
//  legal framework. RSZ holds S_PETERS and S_DUPLICATE.
static const char *s_directory =
    "{\"table\":\"institution\",\"kbo\":\"" HARNESS_KBO
    "\",\"name\":\"KSZ\",\"sector\":1,\"type\":1}\n"
    "{\"table\":\"institution\",\"kbo\":\"" S_HOLDER "\",\"name\":\"RSZ\",\"sector\":25,"
    "\"type\":0}\n"
    "{\"table\":\"availability\",\"message\":\"register.lookup\",\"sector\":1,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"register.search\",\"sector\":1,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"register.propose\",\"sector\":1,\"type\":1}\n"
    "{\"table\":\"availability\",\"message\":\"register.correct\",\"sector\":1,\"type\":1}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" S_HOLDER "\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"register.lookup\",\"register.search\",\"register.propose\","
    "\"register.correct\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,"
    "\"message\":\"register.lookup\"}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,"
    "\"message\":\"register.correct\"}\n"
    "{\"table\":\"legal\",\"kbo\":\"" S_HOLDER "\",\"framework\":\"" S_FRAMEWORK
    "\",\"message\":\"register.search\"}\n"
    "{\"table\":\"legal\",\"kbo\":\"" S_HOLDER "\",\"framework\":\"" S_FRAMEWORK
    "\",\"message\":\"register.propose\"}\n"
    "{\"table\":\"person\",\"insz\":\"" S_PETERS "\",\"kbo\":\"" S_HOLDER
    "\",\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" S_DUPLICATE "\",\"kbo\":\"" S_HOLDER
    "\",\"sector\":25,\"type\":0,\"capacity\":2,\"from\":\"2010-01-01\",\"to\":\"9999-12-31\"}\n";

//  ---------------------------------------------------------------------
//  Helpers

static int s_mod97(const char *digits)
{
    int rest = 0;
    for (const char *p = digits; *p; p++)
        rest = (rest * 10 + (*p - '0')) % 97;
    return rest;
}

static bool s_valid_for(const char *number, bool born_2000)
{
    if (strlen(number) != 11 || strspn(number, "0123456789") != 11)
        return false;
    char body[16];
    snprintf(body, sizeof body, "%s%.9s", born_2000 ? "2" : "", number);
    return 97 - s_mod97(body) == (number[9] - '0') * 10 + (number[10] - '0');
}

static int s_kpctl(harness_t *h, char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static int s_kpctl(harness_t *h, char *out, size_t size, const char *format, ...)
{
    char args[1024], command[2048];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof args, format, list);
    va_end(list);
    snprintf(command, sizeof command, "'%s' %s -c '%s' 2>&1", getenv("KPCTL"), args, h->config);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t used = fread(out, 1, size - 1, pipe);
    out[used] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_write(harness_t *h, const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", h->dir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

//  A request from rsz-app: per capacity when person is set (capacity 1),
//  under the legal framework otherwise.
static Kp__Request s_request(const char *id, const char *message, const char *person,
                             const char *payload)
{
    Kp__Request r = KP__REQUEST__INIT;
    r.request_id = (char *)id;
    r.user = "rsz-app";
    r.message = (char *)message;
    if (person) {
        r.person = (char *)person;
        r.has_sector = r.has_type = r.has_capacity = true;
        r.sector = 25;
        r.capacity = 1;
    } else {
        r.legal_framework = S_FRAMEWORK;
        r.kbo = S_HOLDER;
    }
    if (payload) {
        r.has_payload = true;
        r.payload.data = (uint8_t *)payload;
        r.payload.len = strlen(payload);
    }
    return r;
}

//  The node's part's payload as JSON (the caller decrefs), and the
//  response's status.
static json_t *s_call(zsock_t *client, const char *id, const char *message, const char *person,
                      const char *payload, Kp__Status *status)
{
    Kp__Request request = s_request(id, message, person, payload);
    Kp__Response *response = harness_call(client, &request, 5000);
    assert_non_null(response);
    *status = response->status;
    json_t *json = NULL;
    if (response->n_parts == 1) {
        assert_string_equal(response->parts[0]->kbo, HARNESS_KBO);
        json = json_loadb((const char *)response->parts[0]->payload.data,
                          response->parts[0]->payload.len, 0, NULL);
    }
    kp__response__free_unpacked(response, NULL);
    return json;
}

static const char *s_get(json_t *json, const char *path)
{
    //  "a.b": one level of nesting is enough here.
    char key[64];
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_string_value(json_object_get(json, path));
    snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
    return json_string_value(json_object_get(json_object_get(json, key), dot + 1));
}

//  ---------------------------------------------------------------------
//  One node

static void s_import(harness_t *h)
{
    char good[4096], file[512], out[4096];
    snprintf(good, sizeof good,
             "{\"table\":\"register\",\"number\":\"%s\",\"name\":\"Peeters\",\"given_names\":"
             "\"Jan Karel\",\"birth_date\":\"1985-07-30\",\"gender\":\"M\",\"nationality\":"
             "\"BEL\"}\n"
             "{\"table\":\"register\",\"number\":\"%s\",\"name\":\"Peters\",\"given_names\":"
             "\"Jan\",\"birth_date\":\"1985-07-30\",\"gender\":\"M\"}\n"
             "{\"table\":\"register\",\"number\":\"%s\",\"name\":\"Lefèvre\",\"given_names\":"
             "\"Anaïs\",\"birth_date\":\"1985-07-30\",\"gender\":\"F\"}\n",
             S_PETERS, S_DUPLICATE, S_OTHER);
    char with_bad[8192];
    snprintf(with_bad, sizeof with_bad,
             "%s{\"table\":\"register\",\"number\":\"%s\",\"name\":\"Peeters\",\"birth_date\":"
             "\"1985-07-31\"}\n"
             "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":25,\"type\":0,"
             "\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n",
             good, S_PETERS, S_OTHER, S_HOLDER);
    s_write(h, "register.jsonl", with_bad, file, sizeof file);
    //  Atomic: two bad lines (a birth date the number does not say, a line
    //  of another table), nothing applied.
    assert_int_equal(s_kpctl(h, out, sizeof out, "register import '%s' --json", file), 1);
    assert_non_null(strstr(out, "\"applied\":0"));
    assert_non_null(strstr(out, "\"line\":4"));
    assert_non_null(strstr(out, "\"line\":5"));
    assert_int_equal(s_kpctl(h, out, sizeof out, "register show %s", S_PETERS), 1);
    //  --skip-bad: the three good lines go in.
    assert_int_equal(s_kpctl(h, out, sizeof out, "register import '%s' --skip-bad --json", file),
                     0);
    assert_non_null(strstr(out, "\"applied\":3"));
    assert_int_equal(s_kpctl(h, out, sizeof out, "register show %s --json", S_PETERS), 0);
    assert_non_null(strstr(out, "\"state\":\"active\""));
    assert_non_null(strstr(out, "\"changed_on\":")); //  dated by the node
}

static void s_lookup_and_search(zsock_t *client)
{
    Kp__Status status;
    json_t *json = s_call(client, "look-1", "register.lookup", S_PETERS, NULL, &status);
    assert_int_equal(status, KP__STATUS__OK);
    assert_string_equal(s_get(json, "name"), "Peeters");
    assert_string_equal(s_get(json, "nationality"), "BEL");
    json_decref(json);
    //  A person RSZ does not hold: the control says no, as for any message.
    json = s_call(client, "look-2", "register.lookup", S_OTHER, NULL, &status);
    assert_int_equal(status, KP__STATUS__DENIED);
    json_decref(json);
    //  Accents and case do not count; a typo costs a little.
    json = s_call(client, "search-1", "register.search", NULL,
                  "{\"name\":\"LEFEVRE\",\"given_names\":\"anais\",\"birth_date\":\"1985-07-30\"}",
                  &status);
    assert_int_equal(status, KP__STATUS__OK);
    json_t *first = json_array_get(json_object_get(json, "candidates"), 0);
    assert_string_equal(s_get(first, "number"), S_OTHER);
    assert_true(json_number_value(json_object_get(first, "score")) > 0.99);
    json_decref(json);
    json = s_call(client, "search-2", "register.search", NULL,
                  "{\"name\":\"Peteers\",\"birth_date\":\"1985-07-30\"}", &status);
    json_t *candidates = json_object_get(json, "candidates");
    assert_true(json_array_size(candidates) >= 2); //  Peeters and Peters
    double best = json_number_value(json_object_get(json_array_get(candidates, 0), "score"));
    assert_true(best < 1.0 && best > 0.8);
    json_decref(json);
    //  A search without a birth date is the caller's mistake.
    json = s_call(client, "search-3", "register.search", NULL, "{\"name\":\"x\"}", &status);
    assert_int_equal(status, KP__STATUS__INVALID);
    json_decref(json);
}

#define S_CLIENTS 4
#define S_PROPOSALS 20 //  per client

//  Concurrent proposals for one birth date from several clients: every
//  number unique and valid, men odd, women even, unknown gender + 20.
static void s_concurrent_bis(harness_t *h)
{
    zsock_t *clients[S_CLIENTS];
    for (int c = 0; c < S_CLIENTS; c++)
        clients[c] = harness_client(h, 0);
    const char *genders[] = {"M", "F", ""};
    for (int i = 0; i < S_PROPOSALS; i++)
        for (int c = 0; c < S_CLIENTS; c++) {
            char id[32], payload[256];
            snprintf(id, sizeof id, "bis-%d-%d", c, i);
            const char *g = genders[(i + c) % 3];
            snprintf(payload, sizeof payload,
                     "{\"name\":\"Person %d %d\",\"given_names\":\"X\",\"birth_date\":"
                     "\"2004-02-29\"%s%s%s}",
                     c, i, *g ? ",\"gender\":\"" : "", g, *g ? "\"" : "");
            Kp__Request request = s_request(id, "register.propose", NULL, payload);
            harness_send(clients[c], &request);
        }
    zhash_t *seen = zhash_new();
    int answered = 0;
    for (int c = 0; c < S_CLIENTS; c++)
        for (int i = 0; i < S_PROPOSALS; i++) {
            Kp__Response *r = harness_recv(clients[c], 10000);
            assert_non_null(r);
            assert_int_equal(r->status, KP__STATUS__OK);
            json_t *json = json_loadb((const char *)r->parts[0]->payload.data,
                                      r->parts[0]->payload.len, 0, NULL);
            const char *number = s_get(json, "number");
            assert_non_null(number);
            assert_true(s_valid_for(number, true));
            int month = (number[2] - '0') * 10 + (number[3] - '0');
            int seq = (number[6] - '0') * 100 + (number[7] - '0') * 10 + (number[8] - '0');
            const char *gender = s_get(json, "entry.gender");
            assert_memory_equal(number, "04", 2);
            assert_memory_equal(number + 4, "29", 2);
            if (!gender)
                assert_int_equal(month, 22);
            else {
                assert_int_equal(month, 42);
                assert_int_equal(seq % 2, gender[0] == 'M');
            }
            assert_null(zhash_lookup(seen, number)); //  unique
            zhash_insert(seen, number, (void *)1);
            answered++;
            json_decref(json);
            kp__response__free_unpacked(r, NULL);
        }
    assert_int_equal(answered, S_CLIENTS * S_PROPOSALS);
    zhash_destroy(&seen);
    //  A proposal like an existing person says it may be a duplicate.
    Kp__Status status;
    json_t *json = s_call(clients[0], "bis-dup", "register.propose", NULL,
                          "{\"name\":\"Peeters\",\"given_names\":\"Jan Karel\","
                          "\"birth_date\":\"1985-07-30\",\"gender\":\"M\"}",
                          &status);
    assert_int_equal(status, KP__STATUS__OK);
    assert_true(json_is_true(json_object_get(json, "duplicate")));
    json_decref(json);
    for (int c = 0; c < S_CLIENTS; c++)
        zsock_destroy(&clients[c]);
}

//  How often "request_id":"id" occurs in text.
static int s_occurs(const char *text, const char *id)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", id);
    int count = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    return count;
}

static bool s_all_once(const char *text, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s_occurs(text, ids[i]) != 1)
            return false;
    return true;
}

//  'kpctl log query --person person ARGS --json' finds every one of ids
//  once (asked until the node's index has caught up) and says it searched
//  both numbers of the merged person.
static void s_history(harness_t *h, const char *person, const char *args, const char *const *ids,
                      size_t n)
{
    char out[65536];
    int64_t until = harness_now_ms() + 10000;
    while (s_kpctl(h, out, sizeof out, "log query --person %s %s --json", person, args) != 0 ||
           !s_all_once(out, ids, n)) {
        if (harness_now_ms() > until)
            fail_msg("kpctl log query --person %s %s: %s", person, args, out);
        usleep(100000);
    }
    assert_non_null(strstr(out, "\"persons\":[\"" S_PETERS "\",\"" S_DUPLICATE "\"]"));
}

//  The next page's --after in a query's JSON (a seq in the local mode,
//  NODE:SEQ,... through the nodes) into after; false on the last page.
static bool s_next_after(const char *out, char *after, size_t size)
{
    const char *next = strstr(out, "\"next_after\":");
    if (!next)
        return false;
    next += strlen("\"next_after\":");
    size_t len = *next == '"' ? strcspn(++next, "\"") : strspn(next, "0123456789");
    snprintf(after, size, "%.*s", (int)len, next);
    return true;
}

//  The same a page of one message at a time, in kpctl's local mode
//  (--node: its own read of the log) or through the node (its log.query
//  paged): every id once, in seq order over both numbers' streams.
static void s_history_paged(harness_t *h, const char *person, const char *where,
                            const char *const *ids, size_t n)
{
    char out[16384], all[65536] = "", after[256] = "0";
    unsigned long long last = 0;
    int pages = 0;
    for (; pages < 64; pages++) {
        int rc = s_kpctl(h, out, sizeof out, "log query --person %s %s --limit 1 --after %s --json",
                         person, where, after);
        if (rc)
            fail_msg("page %d after %s: %s", pages, after, out);
        const char *seq = strstr(out, "\"seq\":");
        if (seq) {
            unsigned long long at = strtoull(seq + 6, NULL, 10);
            assert_true(at > last); //  oldest first, across the numbers
            last = at;
        }
        strncat(all, out, sizeof all - strlen(all) - 1);
        if (!s_next_after(out, after, sizeof after))
            break;
    }
    assert_true(s_all_once(all, ids, n));
    assert_true(pages >= (int)n - 1); //  more records than a page: one a page
}

//  The privacy log of a merged person: calls about the replaced number
//  before the merge (logged under it) and about both after it (logged
//  under the kept one) are found by a query of either number, through
//  the node (-c: log.query on its scanner) and through kpctl's own
//  read of the log and the directory (--node: its data folder).
static void s_merged_history(harness_t *h, zsock_t *client)
{
    Kp__Status status;
    json_decref(s_call(client, "look-4", "register.lookup", S_PETERS, NULL, &status));
    assert_int_equal(status, KP__STATUS__OK);
    const char *ids[] = {"dup-early", "fix-1", "dup-before", "look-3", "look-4"};
    size_t n = sizeof ids / sizeof ids[0];
    s_history(h, S_DUPLICATE, "", ids, n);
    s_history(h, S_PETERS, "", ids, n);
    s_history(h, S_DUPLICATE, "--node node-1 --wait 2000", ids, n);
    s_history(h, S_PETERS, "--node node-1 --wait 2000", ids, n);
    s_history_paged(h, S_DUPLICATE, "--node node-1", ids, n);
    s_history_paged(h, S_DUPLICATE, "", ids, n); //  through the node: its log.query paged
    s_history_paged(h, S_PETERS, "", ids, n);
    char out[65536];
    assert_int_equal(s_kpctl(h, out, sizeof out, "log query --person %s --node node-1", S_PETERS),
                     0);
    assert_non_null(strstr(out, S_PETERS " was merged"));
}

static void s_correct_and_merge(harness_t *h, zsock_t *client)
{
    Kp__Status status;
    //  The two numbers' records interleave in the log: M, N, M, then N.
    json_decref(s_call(client, "dup-early", "register.lookup", S_DUPLICATE, NULL, &status));
    json_t *json = s_call(client, "fix-1", "register.correct", S_PETERS,
                          "{\"address\":\"Wetstraat 1, 1000 Brussel\"}", &status);
    assert_int_equal(status, KP__STATUS__OK);
    assert_string_equal(s_get(json, "entry.address"), "Wetstraat 1, 1000 Brussel");
    json_decref(json);
    json = s_call(client, "fix-2", "register.correct", S_PETERS, "{\"nickname\":\"x\"}", &status);
    assert_int_equal(status, KP__STATUS__INVALID);
    json_decref(json);

    //  A call about the duplicate before the merge: logged under it (RSZ
    //  holds it in capacity 2 only: denied, and logged all the same).
    json_decref(s_call(client, "dup-before", "register.lookup", S_DUPLICATE, NULL, &status));

    char out[8192];
    assert_int_equal(s_kpctl(h, out, sizeof out, "register merge --keep %s --replace %s --json",
                             S_PETERS, S_DUPLICATE),
                     0);
    //  Twice: refused, it is replaced already.
    assert_int_equal(
        s_kpctl(h, out, sizeof out, "register merge --keep %s --replace %s", S_PETERS, S_DUPLICATE),
        1);
    assert_non_null(strstr(out, "replaced"));
    assert_int_equal(s_kpctl(h, out, sizeof out, "register show %s --json", S_DUPLICATE), 0);
    assert_non_null(strstr(out, "\"replaced_by\":\"" S_PETERS "\""));
    assert_non_null(strstr(out, "\"persons\":[]"));
    assert_int_equal(s_kpctl(h, out, sizeof out, "register show %s --json", S_PETERS), 0);
    assert_non_null(strstr(out, "\"replaces\":[\"" S_DUPLICATE "\"]"));
    assert_non_null(strstr(out, "\"capacity\":2")); //  RSZ's entry of the duplicate moved
    //  A lookup of the replaced number: answered with the replacement.
    json = s_call(client, "look-3", "register.lookup", S_DUPLICATE, NULL, &status);
    assert_int_equal(status, KP__STATUS__OK);
    assert_string_equal(s_get(json, "asked"), S_DUPLICATE);
    assert_string_equal(s_get(json, "replacement.number"), S_PETERS);
    json_decref(json);
    s_merged_history(h, client);
}

static void test_one_node(void **state)
{
    (void)state;
    harness_t *h = harness_new_insecure(1, 500, 3000, 1048576);
    harness_start_node(h, 0);
    harness_load(h, 0, s_directory);
    s_import(h);
    zsock_t *client = harness_client(h, 0);
    s_lookup_and_search(client);
    s_concurrent_bis(h);
    s_correct_and_merge(h, client);
    zsock_destroy(&client);
    harness_destroy(&h);
}

//  ---------------------------------------------------------------------
//  Three nodes

//  register.show on node index, through its admin socket.
static char *s_show(harness_t *h, size_t index, const char *number)
{
    zsock_t *admin = harness_dealer(h, h->admin[index], "operator");
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "register.show";
    char *args[] = {(char *)number};
    request.n_args = 1;
    request.args = args;
    size_t size = kp__admin_request__get_packed_size(&request);
    zframe_t *frame = zframe_new(NULL, size);
    kp__admin_request__pack(&request, zframe_data(frame));
    zframe_send(&frame, admin, 0);
    zpoller_t *poller = zpoller_new(admin, NULL);
    char *text = NULL;
    if (zpoller_wait(poller, 5000)) {
        frame = zframe_recv(admin);
        Kp__AdminReply *reply =
            frame ? kp__admin_reply__unpack(NULL, zframe_size(frame), zframe_data(frame)) : NULL;
        if (reply && reply->json)
            text = strdup(reply->json);
        if (reply)
            kp__admin_reply__free_unpacked(reply, NULL);
        zframe_destroy(&frame);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&admin);
    return text;
}

//  A client of rsz-app on node index: CURVE with its certificate when the
//  harness is secure.
static zsock_t *s_client(harness_t *h, size_t index)
{
    return h->secure ? harness_client_as(h, index, "app-rsz-app") : harness_client(h, index);
}

//  A call that may meet an election just after a kill: UNAVAILABLE
//  answers are asked again with the same request id, a few times.
static json_t *s_call_again(zsock_t *client, const char *id, const char *message,
                            const char *person, const char *payload, Kp__Status *status)
{
    json_t *json = NULL;
    for (int i = 0; i < 20; i++) {
        json_decref(json);
        json = s_call(client, id, message, person, payload, status);
        if (*status != KP__STATUS__UNAVAILABLE)
            break;
        zclock_sleep(100); //  an election under way: a client's retry pause
    }
    return json;
}

//  Three voters with CURVE. A proposal and a correction sent to a
//  follower are forwarded to the leader (node/forward.h) and answered OK
//  there; the entry is on every node. After the leader is killed, the
//  same through a follower of the new leader.
static void test_three_nodes(void **state)
{
    (void)state;
    sites_t *sites = sites_new_secure(3, false, 300);
    harness_t *h = sites->harness;
    sites_start_all(sites);
    int leader = sites_leader(sites, NULL, 20000);
    assert_true(leader >= 0);
    harness_load(h, (size_t)leader, s_directory);
    assert_true(sites_converged(sites, NULL, 0, 10000));
    size_t follower = (size_t)(leader + 1) % 3;
    zsock_t *client = s_client(h, follower);
    const char *payload = "{\"name\":\"Smith\",\"birth_date\":\"1999-12-31\",\"gender\":\"F\"}";
    Kp__Status status;
    json_t *json = s_call(client, "c-1", "register.propose", NULL, payload, &status);
    assert_int_equal(status, KP__STATUS__OK);
    char number[12];
    snprintf(number, sizeof number, "%s", s_get(json, "number"));
    json_decref(json);
    assert_true(s_valid_for(number, false)); //  born in 1999
    assert_memory_equal(number, "995231", 6);
    char smith[12];
    snprintf(smith, sizeof smith, "%s", number);
    //  RSZ takes a file on her; a correction through the follower.
    char line[512];
    snprintf(line, sizeof line,
             "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"" S_HOLDER
             "\",\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\","
             "\"to\":\"9999-12-31\"}\n",
             number);
    harness_load(h, (size_t)leader, line);
    assert_true(sites_converged(sites, NULL, 0, 10000));
    json = s_call(client, "c-2", "register.correct", number, "{\"address\":\"Kerkstraat 2\"}",
                  &status);
    assert_int_equal(status, KP__STATUS__OK);
    assert_string_equal(s_get(json, "entry.address"), "Kerkstraat 2");
    json_decref(json);
    zsock_destroy(&client);
    assert_true(sites_converged(sites, NULL, 0, 10000));
    for (size_t i = 0; i < 3; i++) {
        char *text = s_show(h, i, number);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"name\":\"Smith\""));
        assert_non_null(strstr(text, "Kerkstraat 2"));
        free(text);
    }
    //  The leader killed: through a follower of the new one.
    sites_kill(sites, (size_t)leader);
    bool among[SITES_MAX] = {false};
    for (size_t i = 0; i < 3; i++)
        among[i] = (int)i != leader;
    int next = sites_leader(sites, among, 20000);
    assert_true(next >= 0);
    size_t other = 0;
    while ((int)other == leader || (int)other == next)
        other++;
    client = s_client(h, other);
    json = s_call_again(client, "c-3", "register.propose", NULL,
                        "{\"name\":\"Jones\",\"birth_date\":\"1999-12-31\"}", &status);
    assert_int_equal(status, KP__STATUS__OK);
    snprintf(number, sizeof number, "%s", s_get(json, "number"));
    assert_memory_equal(number, "993231", 6); //  gender unknown: month + 20
    json_decref(json);
    zsock_destroy(&client);
    printf("# through %s, a follower of the new leader %s: proposal %s\n", sites_name(sites, other),
           sites_name(sites, (size_t)next), number);
    //  A merge replicates with its reverse index: both live nodes show
    //  what the kept number replaced, and their checksums agree.
    char out[4096];
    if (sites_kpctl(sites, out, sizeof out, "register merge --keep %s --replace %s --node %s",
                    smith, number, sites_name(sites, other)))
        fail_msg("kpctl register merge: %s", out);
    assert_true(sites_converged(sites, among, 0, 10000));
    char replaces[64];
    snprintf(replaces, sizeof replaces, "\"replaces\":[\"%s\"]", number);
    for (size_t i = 0; i < 3; i++) {
        char *text = among[i] ? s_show(h, i, smith) : NULL;
        assert_true(!among[i] || (text && strstr(text, replaces)));
        free(text);
    }
    sites_destroy(&sites);
}

//  ---------------------------------------------------------------------
//  A merged person's history from a log's copy

//  The JSON document in kpctl's output (its stderr lines come first).
static json_t *s_doc(const char *out)
{
    const char *at = *out == '{' ? out : strstr(out, "\n{");
    return at ? json_loads(at + (*at == '\n'), JSON_DISABLE_EOF_CHECK, NULL) : NULL;
}

//  Checks one answer read from node-1's copy on node-2: its records are
//  node-1's, read from the copy, in seq order after *last; their ids are
//  appended to got.
static void s_from_copy(json_t *doc, unsigned long long *last, char *got, size_t size)
{
    json_t *records = json_object_get(doc, "records"), *copied = json_object_get(doc, "from_copy");
    assert_int_equal(json_array_size(copied), 1);
    assert_string_equal(json_string_value(json_array_get(copied, 0)), "node-1");
    assert_int_equal(json_array_size(json_object_get(doc, "unanswered")), 0);
    for (size_t i = 0; i < json_array_size(records); i++) {
        json_t *r = json_array_get(records, i);
        assert_string_equal(json_string_value(json_object_get(r, "node")), "node-1");
        assert_string_equal(json_string_value(json_object_get(r, "copy_on")), "node-2");
        unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(r, "seq"));
        assert_true(seq > *last);
        *last = seq;
        size_t used = strlen(got);
        snprintf(got + used, size - used, "\"request_id\":\"%s\" ",
                 json_string_value(json_object_get(r, "request_id")));
    }
}

//  Two voters on two sites and a witness, each voter's log copied by the
//  other (log-durability two-sites). Calls about M and N through node-1
//  interleave in its log; M is merged into N; node-1 is killed. kpctl
//  log query -c --person M is answered from node-1's copy on node-2,
//  which takes the person's numbers from its own register (the merge
//  replicated): every record of both numbers once, in seq order; and so
//  is --person N, three a page, the pages going on in the copy.
static void test_mirror_copy(void **state)
{
    (void)state;
    int64_t start = harness_now_ms();
    sites_t *sites = sites_new_secure(2, true, 300); //  node-1, node-2 and a witness
    harness_t *h = sites->harness;
    harness_cluster_line(h, "log-durability = \"two-sites\"");
    sites_start_all(sites);
    int leader = sites_leader(sites, NULL, 20000);
    assert_true(leader >= 0);
    harness_load(h, (size_t)leader, s_directory);
    char file[512], out[65536];
    s_write(h, "register.jsonl",
            "{\"table\":\"register\",\"number\":\"" S_PETERS "\",\"name\":\"Peeters\","
            "\"birth_date\":\"1985-07-30\",\"gender\":\"M\"}\n"
            "{\"table\":\"register\",\"number\":\"" S_DUPLICATE "\",\"name\":\"Peters\","
            "\"birth_date\":\"1985-07-30\",\"gender\":\"M\"}\n",
            file, sizeof file);
    if (sites_kpctl(sites, out, sizeof out, "register import '%s'", file))
        fail_msg("kpctl register import: %s", out);
    assert_true(sites_converged(sites, NULL, 0, 10000));
    zsock_t *client = s_client(h, 0);
    Kp__Status status;
    const char *ids[] = {"c-1", "c-2", "c-3", "c-4", "c-5", "c-6"};
    const char *about[] = {S_DUPLICATE, S_PETERS, S_DUPLICATE, S_PETERS, S_DUPLICATE, S_PETERS};
    for (size_t i = 0; i < 6; i++) {
        if (i == 4) { //  M merged into N: later calls about M are logged under N
            if (sites_kpctl(sites, out, sizeof out, "register merge --keep %s --replace %s",
                            S_PETERS, S_DUPLICATE))
                fail_msg("kpctl register merge: %s", out);
            assert_true(sites_converged(sites, NULL, 0, 10000));
        }
        json_decref(s_call_again(client, ids[i], "register.lookup", about[i], NULL, &status));
        assert_true(status == KP__STATUS__OK || status == KP__STATUS__DENIED);
    }
    zsock_destroy(&client);
    sites_kill(sites, 0); //  every response above waited for the copy (two-sites)
    int64_t killed = harness_now_ms();
    //  Each query waits --timeout for node-1 before it asks the copy: few.
    {
        int rc = sites_kpctl(sites, out, sizeof out, "log query --person %s --json --timeout 1000",
                             S_DUPLICATE);
        json_t *doc = s_doc(out);
        if (rc || !doc)
            fail_msg("kpctl log query -c with node-1 down: exit %d: %s", rc, out);
        char got[4096] = "";
        unsigned long long last = 0;
        s_from_copy(doc, &last, got, sizeof got);
        assert_true(s_all_once(got, ids, 6));
        assert_int_equal(json_array_size(json_object_get(doc, "records")), 6);
        char *persons = json_dumps(json_object_get(doc, "persons"), JSON_COMPACT);
        assert_string_equal(persons, "[\"" S_PETERS "\",\"" S_DUPLICATE "\"]");
        free(persons);
        json_decref(doc);
    }
    //  The kept number's, three a page, from the copy.
    char after[256] = "0", got[4096] = "";
    unsigned long long last = 0;
    int pages = 0;
    for (bool more = true; more && pages < 16; pages++) {
        int rc = sites_kpctl(sites, out, sizeof out,
                             "log query --person %s --limit 3 --after %s --json --timeout 1000",
                             S_PETERS, after);
        json_t *doc = s_doc(out);
        if (rc || !doc)
            fail_msg("page %d after %s: exit %d: %s", pages, after, rc, out);
        s_from_copy(doc, &last, got, sizeof got);
        more = s_next_after(out, after, sizeof after);
        json_decref(doc);
    }
    printf("# node-1 down: its 6 records of the merged person read from its copy on node-2, and "
           "again in %d pages (%lld ms to the kill, %lld ms of queries)\n",
           pages, (long long)(killed - start), (long long)(harness_now_ms() - killed));
    assert_true(s_all_once(got, ids, 6));
    assert_true(pages >= 2);
    sites_destroy(&sites);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_node),
        cmocka_unit_test(test_three_nodes),
        cmocka_unit_test(test_mirror_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
