/*  test_control.c - the preventive control against a real LMDB directory.

    The directory lives in a mkdtemp folder and is filled the only way a
    directory is ever filled: JSON lines -> kp_jsonl_parse -> one update ->
    kp_directory_apply.

    The fixture (KBOs chosen so that key order and KBO order differ):
      A 0300000115 (17,1)   B 0300000214 (17,1)   E 0300000511 (17,1)
      C 0200000340 (20,2)   D 0400000482 (30,3)
      user u1: A, (17,1), may send wage and status
      user u2: C, (20,2), may send wage
      users lA lB lC lD lE ("l" and the KBO): one of each institution, its
                 (sector, type), may send wage, status, nothing and bulk
      user lX:  the KBO of no institution, (30,3), may send wage
      authorization (17,1,1,wage) (17,1,1,status) (20,2,5,wage)
      availability  wage: (17,1) (20,2); status: (30,3)
      legal         kbo C fw1 wage; kbo C fw1 nothing; (30,3) fw2 wage
      persons
        P1 85073003328: (17,1,1,A, 2020-01-01..2020-12-31)
                        (17,1,2,B, 2019-01-01..9999-12-31)
                        (20,2,5,C, 2020-06-01..2021-06-01)
        P2 75123199921: (30,3,1,D, 2000-01-01..9999-12-31)
        P3 01010100126: (17,1,1,A, 2020-01-01..2020-06-30)
                        (17,1,1,A, 2020-07-01..2020-12-31)
                        (17,1,2,A, 2020-01-01..2020-12-31)
                        (20,2,5,C, 2020-01-01..2020-12-31)
        P4 17060112352: nowhere
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "directory.h"
#include "jsonl.h"

#define KBO_A "0300000115"
#define KBO_B "0300000214"
#define KBO_C "0200000340"
#define KBO_D "0400000482"
#define KBO_E "0300000511"
#define P1 "85073003328"
#define P2 "75123199921"
#define P3 "01010100126"
#define P4 "17060112352"

typedef struct {
    char path[64];
    kp_directory_t *dir;
    MDB_txn *txn;
    int32_t today; //  2020-03-01
} fixture_t;

static const char *s_lines[] = {
    "{\"table\":\"institution\",\"kbo\":\"" KBO_A "\",\"name\":\"A\",\"sector\":17,\"type\":1}",
    "{\"table\":\"institution\",\"kbo\":\"" KBO_B "\",\"name\":\"B\",\"sector\":17,\"type\":1}",
    "{\"table\":\"institution\",\"kbo\":\"" KBO_E "\",\"name\":\"E\",\"sector\":17,\"type\":1}",
    "{\"table\":\"institution\",\"kbo\":\"" KBO_C "\",\"name\":\"C\",\"sector\":20,\"type\":2}",
    "{\"table\":\"institution\",\"kbo\":\"" KBO_D "\",\"name\":\"D\",\"sector\":30,\"type\":3}",
    "{\"table\":\"user\",\"id\":\"u1\",\"kbo\":\"" KBO_A "\",\"sector\":17,\"type\":1,"
    "\"messages\":[\"wage\",\"status\"]}",
    "{\"table\":\"user\",\"id\":\"u2\",\"kbo\":\"" KBO_C "\",\"sector\":20,\"type\":2,"
    "\"messages\":[\"wage\"]}",
#define S_LEGAL_USER(kbo, s, t)                                                                    \
    "{\"table\":\"user\",\"id\":\"l" kbo "\",\"kbo\":\"" kbo "\",\"sector\":" #s ",\"type\":" #t   \
    ",\"messages\":[\"wage\",\"status\",\"nothing\",\"bulk\"]}"
    S_LEGAL_USER(KBO_A, 17, 1),
    S_LEGAL_USER(KBO_B, 17, 1),
    S_LEGAL_USER(KBO_E, 17, 1),
    S_LEGAL_USER(KBO_C, 20, 2),
    S_LEGAL_USER(KBO_D, 30, 3),
    "{\"table\":\"user\",\"id\":\"lX\",\"kbo\":\"0500000158\",\"sector\":30,\"type\":3,"
    "\"messages\":[\"wage\"]}",
    "{\"table\":\"authorization\",\"sector\":17,\"type\":1,\"capacity\":1,\"message\":\"wage\"}",
    "{\"table\":\"authorization\",\"sector\":17,\"type\":1,\"capacity\":1,\"message\":\"status\"}",
    "{\"table\":\"authorization\",\"sector\":20,\"type\":2,\"capacity\":5,\"message\":\"wage\"}",
    "{\"table\":\"availability\",\"message\":\"wage\",\"sector\":17,\"type\":1}",
    "{\"table\":\"availability\",\"message\":\"wage\",\"sector\":20,\"type\":2}",
    "{\"table\":\"availability\",\"message\":\"status\",\"sector\":30,\"type\":3}",
    "{\"table\":\"legal\",\"kbo\":\"" KBO_C "\",\"framework\":\"fw1\",\"message\":\"wage\"}",
    "{\"table\":\"legal\",\"kbo\":\"" KBO_C "\",\"framework\":\"fw1\",\"message\":\"nothing\"}",
    "{\"table\":\"legal\",\"sector\":30,\"type\":3,\"framework\":\"fw2\",\"message\":\"wage\"}",
    "{\"table\":\"person\",\"insz\":\"" P1 "\",\"kbo\":\"" KBO_A "\",\"sector\":17,\"type\":1,"
    "\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"2020-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"" P1 "\",\"kbo\":\"" KBO_B "\",\"sector\":17,\"type\":1,"
    "\"capacity\":2,\"from\":\"2019-01-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"" P1 "\",\"kbo\":\"" KBO_C "\",\"sector\":20,\"type\":2,"
    "\"capacity\":5,\"from\":\"2020-06-01\",\"to\":\"2021-06-01\"}",
    "{\"table\":\"person\",\"insz\":\"" P2 "\",\"kbo\":\"" KBO_D "\",\"sector\":30,\"type\":3,"
    "\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"" P3 "\",\"kbo\":\"" KBO_A "\",\"sector\":17,\"type\":1,"
    "\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"2020-06-30\"}",
    "{\"table\":\"person\",\"insz\":\"" P3 "\",\"kbo\":\"" KBO_A "\",\"sector\":17,\"type\":1,"
    "\"capacity\":1,\"from\":\"2020-07-01\",\"to\":\"2020-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"" P3 "\",\"kbo\":\"" KBO_A "\",\"sector\":17,\"type\":1,"
    "\"capacity\":2,\"from\":\"2020-01-01\",\"to\":\"2020-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"" P3 "\",\"kbo\":\"" KBO_C "\",\"sector\":20,\"type\":2,"
    "\"capacity\":5,\"from\":\"2020-01-01\",\"to\":\"2020-12-31\"}",
};

//  Applies lines as one update; fails the test on any error.
static void s_apply(kp_directory_t *dir, const char **lines, size_t count)
{
    char err[256];
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    assert_non_null(batch);
    for (size_t i = 0; i < count; i++) {
        Kp__DirectoryOp *op = kp_jsonl_parse(lines[i], strlen(lines[i]), err, sizeof err);
        if (!op)
            fail_msg("line %zu: %s: %s", i, err, lines[i]);
        kp_jsonl_batch_add(batch, op);
    }
    if (kp_directory_apply(dir, kp_jsonl_batch_update(batch), NULL, err, sizeof err) != 0)
        fail_msg("apply: %s", err);
    kp_jsonl_batch_destroy(&batch);
}

static int32_t s_day(const char *text)
{
    int32_t days;
    assert_int_equal(kp_date_parse(text, &days), 0);
    return days;
}

static int s_setup(void **state)
{
    fixture_t *self = calloc(1, sizeof *self);
    assert_non_null(self);
    strcpy(self->path, "/tmp/kp-control-XXXXXX");
    assert_non_null(mkdtemp(self->path));
    char err[256];
    self->dir = kp_directory_new(self->path, err, sizeof err);
    if (!self->dir)
        fail_msg("kp_directory_new: %s", err);
    s_apply(self->dir, s_lines, sizeof s_lines / sizeof s_lines[0]);
    self->txn = kp_directory_read_begin(self->dir, err, sizeof err);
    if (!self->txn)
        fail_msg("read_begin: %s", err);
    self->today = s_day("2020-03-01");
    *state = self;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *self = *state;
    kp_directory_read_end(&self->txn);
    kp_directory_destroy(&self->dir);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", self->path);
    assert_int_equal(system(command), 0);
    free(self);
    return 0;
}

//  A user request of u1 for wage about P1 in capacity 1 on date.
static Kp__Request s_user_request(const char *date)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.user = "u1";
    request.message = "wage";
    request.person = P1;
    request.has_capacity = true;
    request.capacity = 1;
    request.has_sector = true;
    request.sector = 17;
    request.has_type = true;
    request.type = 1;
    request.date = (char *)date;
    return request;
}

//  A legal-framework request naming kbo, by that institution's own user
//  "l" kbo (no user when kbo is NULL: the test names one).
static Kp__Request s_legal_request(const char *kbo, const char *framework, const char *message)
{
    static char user[KP_KBO_LEN + 2];
    Kp__Request request = KP__REQUEST__INIT;
    request.kbo = (char *)kbo;
    if (kbo) {
        snprintf(user, sizeof user, "l%s", kbo);
        request.user = user;
    }
    request.legal_framework = (char *)framework;
    request.message = (char *)message;
    return request;
}

static kp_decision_t s_decide(fixture_t *self, const Kp__Request *request)
{
    kp_decision_t out;
    memset(&out, 0x5a, sizeof out); //  stale garbage must not leak through
    kp_verdict_t verdict = kp_control_decide(self->dir, self->txn, request, self->today, &out);
    assert_int_equal(verdict, out.verdict);
    if (out.verdict == KP_VERDICT_ALLOW)
        assert_int_equal(out.reason, KP__REASON__REASON_NONE);
    if (out.verdict != KP_VERDICT_ALLOW)
        assert_int_equal(out.provider_count, 0);
    return out;
}

#define assert_decision(out, want_verdict, want_reason)                                            \
    do {                                                                                           \
        assert_string_equal(kp_verdict_name((out).verdict), kp_verdict_name(want_verdict));        \
        assert_string_equal(kp_reason_name((out).reason), kp_reason_name(want_reason));            \
    } while (0)

//  Checks the provider list against a NULL-terminated list of KBOs.
static void s_assert_providers(const kp_decision_t *out, ...)
{
    va_list args;
    va_start(args, out);
    size_t i = 0;
    for (const char *kbo = va_arg(args, const char *); kbo; kbo = va_arg(args, const char *)) {
        assert_true(i < out->provider_count);
        assert_string_equal(out->providers[i], kbo);
        i++;
    }
    va_end(args);
    assert_int_equal(out->provider_count, i);
    assert_false(out->truncated);
}

//  ---------------------------------------------------------------------

static void test_allow_routes(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_user_request("2020-03-01");
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_string_equal(out.requester_kbo, KBO_A);
    assert_int_equal(out.date, s_day("2020-03-01"));
    //  C's entry starts 2020-06-01; D's (30,3) does not provide wage
    s_assert_providers(&out, KBO_A, KBO_B, (const char *)NULL);

    //  from 2020-06-01 C holds P1 too; C sorts first though its key is last
    request = s_user_request("2020-06-01");
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    s_assert_providers(&out, KBO_C, KBO_A, KBO_B, (const char *)NULL);
    request = s_user_request("2020-05-31");
    out = s_decide(self, &request);
    s_assert_providers(&out, KBO_A, KBO_B, (const char *)NULL);
}

static void test_check3_validity_boundaries(void **state)
{
    fixture_t *self = *state;
    struct {
        const char *date;
        kp_verdict_t verdict;
    } cases[] = {
        {"2019-12-31", KP_VERDICT_DENY},  {"2020-01-01", KP_VERDICT_ALLOW},
        {"2020-12-31", KP_VERDICT_ALLOW}, {"2021-01-01", KP_VERDICT_DENY},
        {"2020-02-29", KP_VERDICT_ALLOW}, {"1900-01-01", KP_VERDICT_DENY},
        {"9999-12-31", KP_VERDICT_DENY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Kp__Request request = s_user_request(cases[i].date);
        kp_decision_t out = s_decide(self, &request);
        assert_decision(out, cases[i].verdict,
                        cases[i].verdict == KP_VERDICT_DENY ? KP__REASON__PERSON_NOT_IN_DIRECTORY
                                                            : KP__REASON__REASON_NONE);
        assert_string_equal(out.requester_kbo, KBO_A);
    }
}

static void test_routing_validity_boundaries(void **state)
{
    fixture_t *self = *state;
    //  legal request by C about P1: every holder providing wage, any capacity
    Kp__Request request = s_legal_request(KBO_C, "fw1", "wage");
    request.person = P1;
    const char *dates[] = {"2020-05-31", "2020-06-01", "2021-06-01", "2021-06-02", "2018-12-31"};
    size_t counts[] = {2, 3, 2, 1, 0};
    for (size_t i = 0; i < 5; i++) {
        request.date = (char *)dates[i];
        kp_decision_t out = s_decide(self, &request);
        assert_int_equal(out.provider_count, counts[i]);
        assert_int_equal(out.verdict, counts[i] ? KP_VERDICT_ALLOW : KP_VERDICT_NO_DATA);
        assert_string_equal(out.requester_kbo, KBO_C);
    }
    request.date = "2021-06-01";
    kp_decision_t out = s_decide(self, &request);
    s_assert_providers(&out, KBO_C, KBO_B, (const char *)NULL);
    request.date = "2021-06-02";
    out = s_decide(self, &request);
    s_assert_providers(&out, KBO_B, (const char *)NULL);
}

static void test_check1_user(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_user_request(NULL);
    request.user = "nobody";
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_UNKNOWN);
    assert_string_equal(out.requester_kbo, "");

    //  u1 acts for (17,1) only
    request = s_user_request(NULL);
    request.sector = 20;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);
    assert_string_equal(out.requester_kbo, KBO_A);
    request = s_user_request(NULL);
    request.type = 2;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);

    //  u2 may not send status, though nothing else would allow it either:
    //  check 1 is reported first
    request = s_user_request(NULL);
    request.user = "u2";
    request.sector = 20;
    request.type = 2;
    request.message = "status";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);
    assert_string_equal(out.requester_kbo, KBO_C);

    //  a message u1 may not send, prefix of one it may
    request = s_user_request(NULL);
    request.message = "wag";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);

    //  u2 for what it may do: allowed, routed on 2020-07-01 to C and A, B
    request = s_user_request("2020-07-01");
    request.user = "u2";
    request.sector = 20;
    request.type = 2;
    request.capacity = 5;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    s_assert_providers(&out, KBO_C, KBO_A, KBO_B, (const char *)NULL);
}

static void test_check2_capacity(void **state)
{
    fixture_t *self = *state;
    //  P1 is held by (17,1) in capacity 2 (B), but (17,1,2,wage) is not
    //  authorized: check 3 would pass, check 2 fails
    Kp__Request request = s_user_request(NULL);
    request.capacity = 2;
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__CAPACITY_NOT_AUTHORIZED);
    //  fails both check 2 and check 3: check 2 is reported
    request.capacity = 3;
    request.person = P4;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__CAPACITY_NOT_AUTHORIZED);
    assert_string_equal(out.requester_kbo, KBO_A);
}

static void test_check3_person(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_user_request(NULL);
    request.person = P4; //  nowhere
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__PERSON_NOT_IN_DIRECTORY);
    request.person = P2; //  held, but by (30,3) only
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__PERSON_NOT_IN_DIRECTORY);
    //  held by (17,1) in capacity 2 only on 2019-06-01: capacity matters
    request = s_user_request("2019-06-01");
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__PERSON_NOT_IN_DIRECTORY);
}

static void test_dedup_sorted(void **state)
{
    fixture_t *self = *state;
    //  P3: A three times (two periods, two capacities), C once
    Kp__Request request = s_user_request("2020-06-30");
    request.person = P3;
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    s_assert_providers(&out, KBO_C, KBO_A, (const char *)NULL);
    request.date = "2020-07-01";
    out = s_decide(self, &request);
    s_assert_providers(&out, KBO_C, KBO_A, (const char *)NULL);
}

static void test_no_data(void **state)
{
    fixture_t *self = *state;
    //  allowed for status, but only (30,3) provides status and P1 is not
    //  held by (30,3)
    Kp__Request request = s_user_request(NULL);
    request.message = "status";
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_NO_DATA, KP__REASON__REASON_NONE);
    assert_string_equal(out.requester_kbo, KBO_A);
    assert_int_equal(out.provider_count, 0);

    //  legal, no person, message nobody provides
    request = s_legal_request(KBO_C, "fw1", "nothing");
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_NO_DATA, KP__REASON__REASON_NONE);
}

static void test_legal_by_kbo(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_legal_request(KBO_C, "fw1", "wage");
    request.person = P1;
    request.date = "2020-07-01";
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    s_assert_providers(&out, KBO_C, KBO_A, KBO_B, (const char *)NULL);
    assert_string_equal(out.requester_kbo, KBO_C);

    //  no person: every institution of every (sector, type) providing wage
    request.person = NULL;
    out = s_decide(self, &request);
    s_assert_providers(&out, KBO_C, KBO_A, KBO_B, KBO_E, (const char *)NULL);

    const char *denied[][3] = {
        {KBO_C, "fw1", "status"}, //  message not under fw1
        {KBO_A, "fw1", "wage"},   //  other kbo
        {KBO_C, "fw2", "wage"},   //  fw2 names (30,3), not C
        {KBO_C, "fw", "wage"},    //  prefix of a framework
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        request = s_legal_request(denied[i][0], denied[i][1], denied[i][2]);
        out = s_decide(self, &request);
        assert_decision(out, KP_VERDICT_DENY, KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED);
        assert_string_equal(out.requester_kbo, denied[i][0]);
    }
    //  kbo wins over sector/type when both are given
    request = s_legal_request(KBO_A, "fw2", "wage");
    request.has_sector = request.has_type = true;
    request.sector = 30;
    request.type = 3;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED);

    //  fw2 is granted to all of (30,3): it covers D named by its KBO
    request = s_legal_request(KBO_D, "fw2", "wage");
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_string_equal(out.requester_kbo, KBO_D);
}

static void test_legal_by_sector_type(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_legal_request(NULL, "fw2", "wage");
    request.has_sector = request.has_type = true;
    request.sector = 30;
    request.type = 3;
    //  no user at all: malformed
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_INVALID, KP__REASON__INVALID_REQUEST);

    request.user = "l" KBO_D;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    s_assert_providers(&out, KBO_C, KBO_A, KBO_B, KBO_E, (const char *)NULL);
    assert_string_equal(out.requester_kbo, KBO_D);

    //  with a person: only its holders (default date 2020-03-01)
    request.person = P1;
    out = s_decide(self, &request);
    s_assert_providers(&out, KBO_A, KBO_B, (const char *)NULL);

    //  the user's institution is not recorded: the user's (sector, type)
    request.user = "lX";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_string_equal(out.requester_kbo, "0500000158");

    //  a (sector, type) that is not the user's
    request.user = "l" KBO_D;
    request.type = 4;
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);
}

//  The user checks of a legal-framework request, each failing in turn.
static void test_legal_user(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_legal_request(KBO_C, "fw1", "wage");
    request.user = "nobody";
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_UNKNOWN);
    assert_string_equal(out.requester_kbo, KBO_C);

    //  u1 belongs to A, not to the C the request names
    request.user = "u1";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);

    //  u2 belongs to C but may not send status
    request = s_legal_request(KBO_C, "fw1", "status");
    request.user = "u2";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);
    request.message = "wage";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);

    //  an empty user is no user
    request.user = "";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_INVALID, KP__REASON__INVALID_REQUEST);
}

static void test_today(void **state)
{
    fixture_t *self = *state;
    Kp__Request request = s_user_request(NULL);
    kp_decision_t out = s_decide(self, &request); //  today 2020-03-01
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_int_equal(out.date, self->today);
    self->today = s_day("2021-01-01");
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__PERSON_NOT_IN_DIRECTORY);
    assert_int_equal(out.date, self->today);
    //  an explicit date wins over today
    request.date = "2020-12-31";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_int_equal(out.date, s_day("2020-12-31"));
    self->today = s_day("2020-03-01");
}

static void test_invalid(void **state)
{
    fixture_t *self = *state;
    char long_name[KP_CONTROL_MAX_NAME + 2];
    memset(long_name, 'm', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';

    struct {
        const char *what;
        Kp__Request request;
        Kp__Reason reason;
    } cases[32];
    size_t n = 0;
#define CASE(WHAT, REASON, ...)                                                                    \
    do {                                                                                           \
        Kp__Request r = s_user_request(NULL);                                                      \
        __VA_ARGS__;                                                                               \
        cases[n].what = WHAT;                                                                      \
        cases[n].request = r;                                                                      \
        cases[n++].reason = REASON;                                                                \
    } while (0)
    CASE("no message", KP__REASON__INVALID_REQUEST, r.message = NULL);
    CASE("empty message", KP__REASON__INVALID_REQUEST, r.message = "");
    CASE("long message", KP__REASON__INVALID_REQUEST, r.message = long_name);
    CASE("long user", KP__REASON__INVALID_REQUEST, r.user = long_name);
    CASE("no message beats bad date", KP__REASON__INVALID_REQUEST, r.message = NULL; r.date = "x");
    CASE("bad date", KP__REASON__INVALID_DATE, r.date = "2020-02-30");
    CASE("empty date", KP__REASON__INVALID_DATE, r.date = "");
    CASE("date with time", KP__REASON__INVALID_DATE, r.date = "2020-03-01T00:00:00Z");
    CASE("bad date beats bad person", KP__REASON__INVALID_DATE, r.date = "2020-1-01";
         r.person = "123");
    CASE("bad person", KP__REASON__INVALID_INSZ, r.person = "85073003329");
    CASE("empty person", KP__REASON__INVALID_INSZ, r.person = "");
    CASE("bad person beats missing user", KP__REASON__INVALID_INSZ, r.person = "8507300332";
         r.user = NULL);
    CASE("no user", KP__REASON__INVALID_REQUEST, r.user = NULL);
    CASE("empty user", KP__REASON__INVALID_REQUEST, r.user = "");
    CASE("no sector", KP__REASON__INVALID_REQUEST, r.has_sector = false);
    CASE("no type", KP__REASON__INVALID_REQUEST, r.has_type = false);
    CASE("no capacity", KP__REASON__INVALID_REQUEST, r.has_capacity = false);
    CASE("no person", KP__REASON__INVALID_REQUEST, r.person = NULL);
    CASE("legal bad kbo", KP__REASON__INVALID_KBO, r.legal_framework = "fw1"; r.kbo = "0200000341");
    CASE("legal empty kbo", KP__REASON__INVALID_KBO, r.legal_framework = "fw1"; r.kbo = "");
    CASE("legal bad person beats bad kbo", KP__REASON__INVALID_INSZ, r.legal_framework = "fw1";
         r.kbo = "x"; r.person = "x");
    CASE("legal bad kbo beats no initiator", KP__REASON__INVALID_KBO, r.legal_framework = "";
         r.kbo = "x");
    CASE("legal empty framework", KP__REASON__INVALID_REQUEST, r.legal_framework = "";
         r.kbo = KBO_C);
    CASE("legal long framework", KP__REASON__INVALID_REQUEST, r.legal_framework = long_name;
         r.kbo = KBO_C);
    CASE("legal no initiator", KP__REASON__INVALID_REQUEST, r.legal_framework = "fw1";
         r.has_sector = false; r.has_type = false);
    CASE("legal sector only", KP__REASON__INVALID_REQUEST, r.legal_framework = "fw1";
         r.has_type = false);
    CASE("legal type only", KP__REASON__INVALID_REQUEST, r.legal_framework = "fw1";
         r.has_sector = false);
#undef CASE
    for (size_t i = 0; i < n; i++) {
        kp_decision_t out = s_decide(self, &cases[i].request);
        if (out.verdict != KP_VERDICT_INVALID || out.reason != cases[i].reason)
            fail_msg("%s: got %s/%s, want INVALID/%s", cases[i].what, kp_verdict_name(out.verdict),
                     kp_reason_name(out.reason), kp_reason_name(cases[i].reason));
        assert_string_equal(out.requester_kbo, "");
    }

    //  the longest allowed name is accepted (and then simply unknown)
    long_name[KP_CONTROL_MAX_NAME] = '\0';
    Kp__Request request = s_user_request(NULL);
    request.message = long_name;
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_DENY, KP__REASON__USER_NOT_AUTHORIZED);

    //  a user request ignores kbo, even a malformed one
    request = s_user_request(NULL);
    request.kbo = "garbage";
    out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
}

//  ---------------------------------------------------------------------

static void s_kbo(unsigned body, char out[KP_KBO_LEN + 1])
{
    snprintf(out, KP_KBO_LEN + 1, "%08u%02u", body, 97 - body % 97);
}

//  More providers than KP_MAX_PROVIDERS: the smallest are kept, flagged.
static void test_truncated(void **state)
{
    fixture_t *self = *state;
    enum { COUNT = KP_MAX_PROVIDERS + 6 };
    static char lines[COUNT + 2][200];
    const char *ptrs[COUNT + 2];
    char kbos[COUNT][KP_KBO_LEN + 1];
    //  bodies in descending order so that arrival order is not KBO order
    for (unsigned i = 0; i < COUNT; i++) {
        s_kbo(6000000 + (COUNT - i) * 7, kbos[i]);
        snprintf(lines[i], sizeof lines[i],
                 "{\"table\":\"institution\",\"kbo\":\"%.10s\",\"name\":\"many\",\"sector\":40,"
                 "\"type\":4}",
                 kbos[i]);
        ptrs[i] = lines[i];
    }
    snprintf(lines[COUNT], sizeof lines[COUNT],
             "{\"table\":\"availability\",\"message\":\"bulk\",\"sector\":40,\"type\":4}");
    snprintf(lines[COUNT + 1], sizeof lines[COUNT + 1],
             "{\"table\":\"legal\",\"kbo\":\"%s\",\"framework\":\"fw3\",\"message\":\"bulk\"}",
             KBO_C);
    ptrs[COUNT] = lines[COUNT];
    ptrs[COUNT + 1] = lines[COUNT + 1];
    kp_directory_read_end(&self->txn);
    s_apply(self->dir, ptrs, COUNT + 2);
    char err[256];
    self->txn = kp_directory_read_begin(self->dir, err, sizeof err);
    assert_non_null(self->txn);

    Kp__Request request = s_legal_request(KBO_C, "fw3", "bulk");
    kp_decision_t out = s_decide(self, &request);
    assert_decision(out, KP_VERDICT_ALLOW, KP__REASON__REASON_NONE);
    assert_int_equal(out.provider_count, KP_MAX_PROVIDERS);
    assert_true(out.truncated);
    //  kbos[] is descending: the smallest are its tail, in reverse
    for (size_t i = 0; i < KP_MAX_PROVIDERS; i++)
        assert_string_equal(out.providers[i], kbos[COUNT - 1 - i]);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(kp_status_name(KP__STATUS__OK), "OK");
    assert_string_equal(kp_status_name(KP__STATUS__NO_DATA), "NO_DATA");
    assert_string_equal(kp_status_name(KP__STATUS__STATUS_UNSPECIFIED), "STATUS_UNSPECIFIED");
    assert_string_equal(kp_status_name((Kp__Status)99), "UNKNOWN");
    assert_string_equal(kp_reason_name(KP__REASON__REASON_NONE), "REASON_NONE");
    assert_string_equal(kp_reason_name(KP__REASON__USER_UNKNOWN), "USER_UNKNOWN");
    assert_string_equal(kp_reason_name(KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED),
                        "LEGAL_FRAMEWORK_NOT_AUTHORIZED");
    assert_string_equal(kp_reason_name(KP__REASON__DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    assert_string_equal(kp_reason_name((Kp__Reason)6), "UNKNOWN");
    assert_string_equal(kp_verdict_name(KP_VERDICT_ALLOW), "ALLOW");
    assert_string_equal(kp_verdict_name(KP_VERDICT_DENY), "DENY");
    assert_string_equal(kp_verdict_name(KP_VERDICT_INVALID), "INVALID");
    assert_string_equal(kp_verdict_name(KP_VERDICT_NO_DATA), "NO_DATA");
    assert_string_equal(kp_verdict_name((kp_verdict_t)9), "UNKNOWN");

    //  every reason and status round-trips through its name
    for (unsigned i = 0; i < kp__reason__descriptor.n_values; i++) {
        const ProtobufCEnumValue *v = &kp__reason__descriptor.values[i];
        assert_string_equal(kp_reason_name((Kp__Reason)v->value), v->name);
        assert_int_equal(kp_reason_from_name(v->name), v->value);
    }
    for (unsigned i = 0; i < kp__status__descriptor.n_values; i++) {
        const ProtobufCEnumValue *v = &kp__status__descriptor.values[i];
        assert_int_equal(kp_status_from_name(kp_status_name((Kp__Status)v->value)), v->value);
    }
    assert_int_equal(kp_reason_from_name("INVALID_KBO"), KP__REASON__INVALID_KBO);
    assert_int_equal(kp_status_from_name("UNAVAILABLE"), KP__STATUS__UNAVAILABLE);
    assert_int_equal(kp_reason_from_name("user_unknown"), -1);
    assert_int_equal(kp_reason_from_name("KP__REASON__USER_UNKNOWN"), -1);
    assert_int_equal(kp_reason_from_name(""), -1);
    assert_int_equal(kp_reason_from_name(NULL), -1);
    assert_int_equal(kp_status_from_name("OKAY"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allow_routes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check3_validity_boundaries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_routing_validity_boundaries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check1_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check2_capacity, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check3_person, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dedup_sorted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_legal_by_kbo, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_legal_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_legal_by_sector_type, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_today, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncated, s_setup, s_teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
