/*  test_control_property.c - the control against a brute-force reference.

    For several seeded random directories the test writes the JSON lines
    itself (puts, replacing puts and deletes, over a few updates), keeps
    its own arrays of what is in the directory, and compares the control's
    answer to every random request with an answer computed from those
    arrays by plain loops. The domains are small so that every check both
    passes and fails often.

    The seed is fixed (seed.h: printed first; KP_SEED=n or KP_SEED=random
    replaces it) and printed again on any mismatch.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "seed.h"

#include "control.h"
#include "directory.h"
#include "jsonl.h"

#define DIRECTORIES 10
#define REQUESTS 1000 //  per directory: 10,000 in all
#define UPDATES 4     //  per directory, after the first

#define SECTORS 3
#define TYPES 2
#define CAPACITIES 3
#define MESSAGES 4
#define FRAMEWORKS 2
#define KBOS 8 //  institutions are drawn from these
#define USERS 5
#define PERSONS 6  //  plus one nobody holds
#define DAYS 40    //  2020-01-01 .. 2020-02-09
#define DAY0 18262 //  2020-01-01 in days since 1970-01-01
#define MAX_ENTRIES 64

static const char *s_messages[MESSAGES + 1] = {"m0", "m1", "m2", "m3", "mx"};
static const char *s_frameworks[FRAMEWORKS + 1] = {"f0", "f1", "fx"};
static const char *s_users[USERS + 1] = {"u0", "u1", "u2", "u3", "u4", "ux"};

//  ---------------------------------------------------------------------
//  The model: what the directory holds, as plain arrays

typedef struct {
    bool present;
    unsigned sector, type;
} institution_t;

typedef struct {
    bool present;
    unsigned kbo, sector, type;
    bool may[MESSAGES];
} user_t;

typedef struct {
    unsigned person, sector, type, capacity, kbo;
    int from, to; //  day offsets from DAY0
} entry_t;

typedef struct {
    char kbos[KBOS + 1][KP_KBO_LEN + 1]; //  the last is no institution
    char persons[PERSONS + 1][KP_INSZ_LEN + 1];
    institution_t institutions[KBOS];
    user_t users[USERS];
    bool authorized[SECTORS][TYPES][CAPACITIES][MESSAGES];
    bool available[MESSAGES][SECTORS][TYPES];
    bool legal_kbo[KBOS + 1][FRAMEWORKS][MESSAGES];
    bool legal_st[SECTORS][TYPES][FRAMEWORKS][MESSAGES];
    entry_t entries[MAX_ENTRIES];
    size_t entry_count;
} model_t;

//  ---------------------------------------------------------------------
//  Random numbers: splitmix64, so that a seed replays exactly

static uint64_t s_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned s_below(uint64_t *state, unsigned n)
{
    return (unsigned)(s_next(state) % n);
}

static bool s_chance(uint64_t *state, unsigned percent)
{
    return s_below(state, 100) < percent;
}

//  ---------------------------------------------------------------------
//  Identifiers, built with the check digits worked out here

static void s_make_kbo(unsigned body, char out[KP_KBO_LEN + 1])
{
    snprintf(out, KP_KBO_LEN + 1, "%08u%02u", body, 97 - body % 97);
}

//  Born before 2000: 97 - body mod 97 over the nine first digits.
static void s_make_insz(unsigned body, char out[KP_INSZ_LEN + 1])
{
    snprintf(out, KP_INSZ_LEN + 1, "%09u%02u", body, 97 - body % 97);
}

static void s_make_date(int offset, char out[11])
{
    //  offsets 0-30 are January 2020, 31-39 February
    unsigned month = offset < 31 ? 1 : 2, day = (unsigned)(offset < 31 ? offset + 1 : offset - 30);
    snprintf(out, 11, "2020-%02u-%02u", month, day % 100);
}

//  ---------------------------------------------------------------------
//  JSON lines for each kind of record

typedef struct {
    char lines[256][320];
    size_t count;
} lines_t;

static char *s_line(lines_t *lines)
{
    assert_true(lines->count < 256);
    return lines->lines[lines->count++];
}

static const char *s_op(bool put)
{
    return put ? "put" : "delete";
}

static void s_emit_institution(lines_t *lines, const model_t *m, unsigned k, bool put)
{
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"i%u\","
             "\"sector\":%u,\"type\":%u}",
             s_op(put), m->kbos[k], k, m->institutions[k].sector, m->institutions[k].type);
}

static void s_emit_user(lines_t *lines, const model_t *m, unsigned u, bool put)
{
    const user_t *user = &m->users[u];
    char messages[64] = "";
    for (unsigned i = 0; i < MESSAGES; i++)
        if (user->may[i])
            snprintf(messages + strlen(messages), sizeof messages - strlen(messages), "%s\"%s\"",
                     *messages ? "," : "", s_messages[i]);
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"user\",\"id\":\"%s\",\"kbo\":\"%s\",\"sector\":%u,"
             "\"type\":%u,\"messages\":[%s]}",
             s_op(put), s_users[u], m->kbos[user->kbo], user->sector, user->type, messages);
}

static void s_emit_authorization(lines_t *lines, unsigned s, unsigned t, unsigned c, unsigned msg,
                                 bool put)
{
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"authorization\",\"sector\":%u,\"type\":%u,"
             "\"capacity\":%u,\"message\":\"%s\"}",
             s_op(put), s, t, c, s_messages[msg]);
}

static void s_emit_availability(lines_t *lines, unsigned msg, unsigned s, unsigned t, bool put)
{
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"availability\",\"message\":\"%s\",\"sector\":%u,"
             "\"type\":%u}",
             s_op(put), s_messages[msg], s, t);
}

static void s_emit_legal_kbo(lines_t *lines, const model_t *m, unsigned k, unsigned f, unsigned msg,
                             bool put)
{
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"legal\",\"kbo\":\"%s\",\"framework\":\"%s\","
             "\"message\":\"%s\"}",
             s_op(put), m->kbos[k], s_frameworks[f], s_messages[msg]);
}

static void s_emit_legal_st(lines_t *lines, unsigned s, unsigned t, unsigned f, unsigned msg,
                            bool put)
{
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"legal\",\"sector\":%u,\"type\":%u,\"framework\":\"%s\","
             "\"message\":\"%s\"}",
             s_op(put), s, t, s_frameworks[f], s_messages[msg]);
}

static void s_emit_entry(lines_t *lines, const model_t *m, const entry_t *e, bool put)
{
    char from[11], to[11];
    s_make_date(e->from, from);
    s_make_date(e->to, to);
    snprintf(s_line(lines), 320,
             "{\"op\":\"%s\",\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%u,"
             "\"type\":%u,\"capacity\":%u,\"from\":\"%s\",\"to\":\"%s\"}",
             s_op(put), m->persons[e->person], m->kbos[e->kbo], e->sector, e->type, e->capacity,
             from, to);
}

//  ---------------------------------------------------------------------
//  Random changes: each one is applied to the model and written as a line

static void s_random_entry(uint64_t *rng, entry_t *e)
{
    e->person = s_below(rng, PERSONS);
    e->sector = s_below(rng, SECTORS);
    e->type = s_below(rng, TYPES);
    e->capacity = s_below(rng, CAPACITIES);
    e->kbo = s_below(rng, KBOS + 1); //  a holder need not be a listed institution
    e->from = (int)s_below(rng, DAYS);
    e->to = e->from + (int)s_below(rng, (unsigned)(DAYS - e->from));
}

static bool s_entry_same(const entry_t *a, const entry_t *b)
{
    return a->person == b->person && a->sector == b->sector && a->type == b->type &&
           a->capacity == b->capacity && a->kbo == b->kbo && a->from == b->from && a->to == b->to;
}

static void s_change_entry(uint64_t *rng, model_t *m, lines_t *lines)
{
    if (m->entry_count && (m->entry_count == MAX_ENTRIES || s_chance(rng, 40))) {
        size_t i = s_below(rng, (unsigned)m->entry_count);
        s_emit_entry(lines, m, &m->entries[i], false);
        m->entries[i] = m->entries[--m->entry_count];
        return;
    }
    entry_t e;
    s_random_entry(rng, &e);
    s_emit_entry(lines, m, &e, true);
    for (size_t i = 0; i < m->entry_count; i++)
        if (s_entry_same(&m->entries[i], &e))
            return; //  a put of the same entry changes nothing
    m->entries[m->entry_count++] = e;
}

//  Flips one flag of a table of flags: put when absent, delete when present.
static void s_change_flag(uint64_t *rng, model_t *m, lines_t *lines)
{
    unsigned s = s_below(rng, SECTORS), t = s_below(rng, TYPES), c = s_below(rng, CAPACITIES);
    unsigned msg = s_below(rng, MESSAGES), f = s_below(rng, FRAMEWORKS);
    unsigned k = s_below(rng, KBOS + 1);
    switch (s_below(rng, 4)) {
    case 0: {
        bool *flag = &m->authorized[s][t][c][msg];
        *flag = !*flag;
        s_emit_authorization(lines, s, t, c, msg, *flag);
        break;
    }
    case 1: {
        bool *flag = &m->available[msg][s][t];
        *flag = !*flag;
        s_emit_availability(lines, msg, s, t, *flag);
        break;
    }
    case 2: {
        bool *flag = &m->legal_kbo[k][f][msg];
        *flag = !*flag;
        s_emit_legal_kbo(lines, m, k, f, msg, *flag);
        break;
    }
    default: {
        bool *flag = &m->legal_st[s][t][f][msg];
        *flag = !*flag;
        s_emit_legal_st(lines, s, t, f, msg, *flag);
    }
    }
}

static void s_change_institution(uint64_t *rng, model_t *m, lines_t *lines)
{
    unsigned k = s_below(rng, KBOS);
    institution_t *inst = &m->institutions[k];
    if (inst->present && s_chance(rng, 40)) {
        s_emit_institution(lines, m, k, false);
        inst->present = false;
        return;
    }
    inst->present = true; //  new, or replaced with another (sector, type)
    inst->sector = s_below(rng, SECTORS);
    inst->type = s_below(rng, TYPES);
    s_emit_institution(lines, m, k, true);
}

static void s_change_user(uint64_t *rng, model_t *m, lines_t *lines)
{
    unsigned u = s_below(rng, USERS);
    user_t *user = &m->users[u];
    if (user->present && s_chance(rng, 30)) {
        s_emit_user(lines, m, u, false);
        user->present = false;
        return;
    }
    user->present = true;
    user->kbo = s_below(rng, KBOS + 1);
    user->sector = s_below(rng, SECTORS);
    user->type = s_below(rng, TYPES);
    bool any = false;
    for (unsigned i = 0; i < MESSAGES; i++)
        any |= user->may[i] = s_chance(rng, 60);
    if (!any)
        user->may[s_below(rng, MESSAGES)] = true;
    s_emit_user(lines, m, u, true);
}

static void s_change(uint64_t *rng, model_t *m, lines_t *lines)
{
    unsigned what = s_below(rng, 10);
    if (what < 4)
        s_change_entry(rng, m, lines);
    else if (what < 8)
        s_change_flag(rng, m, lines);
    else if (what < 9)
        s_change_institution(rng, m, lines);
    else
        s_change_user(rng, m, lines);
}

static void s_apply(kp_directory_t *dir, const lines_t *lines, uint64_t seed)
{
    char err[256];
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    for (size_t i = 0; i < lines->count; i++) {
        const char *line = lines->lines[i];
        Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(line), err, sizeof err);
        if (!op)
            fail_msg("seed %llu: line %zu: %s: %s", (unsigned long long)seed, i, err, line);
        kp_jsonl_batch_add(batch, op);
    }
    if (kp_directory_apply(dir, kp_jsonl_batch_update(batch), NULL, err, sizeof err) != 0)
        fail_msg("seed %llu: apply: %s", (unsigned long long)seed, err);
    kp_jsonl_batch_destroy(&batch);
}

//  ---------------------------------------------------------------------
//  Random requests, with what the reference needs to know about them

typedef struct {
    Kp__Request request;
    char date[11];
    bool date_bad, person_bad, kbo_bad;
    int date_day;  //  offset, when a good date is given
    int person;    //  index into persons (PERSONS: nobody holds it), -1 none
    int kbo;       //  index into kbos, -1 none
    int message;   //  index into s_messages, -1 none
    int user;      //  index into s_users, -1 none
    int framework; //  index into s_frameworks, -1 none, -2 empty
} probe_t;

static const char *s_bad_dates[] = {"2020-02-30", "2020-1-01", "", "01/02/2020"};
static const char *s_bad_ids[] = {"85073003329", "123", "", "0300000116x"};

static void s_random_probe(uint64_t *rng, const model_t *m, probe_t *p)
{
    memset(p, 0, sizeof *p);
    Kp__Request init = KP__REQUEST__INIT;
    Kp__Request *r = &p->request;
    *r = init;
    bool legal = s_chance(rng, 30);

    p->message = s_chance(rng, 2) ? -1 : (int)s_below(rng, MESSAGES + 1);
    r->message = p->message < 0 ? NULL : (char *)s_messages[p->message];
    p->user = s_chance(rng, 3) ? -1 : (int)s_below(rng, USERS + 1);
    r->user = p->user < 0 ? NULL : (char *)s_users[p->user];

    r->has_sector = !s_chance(rng, legal ? 30 : 3);
    r->has_type = !s_chance(rng, legal ? 10 : 3);
    r->sector = s_below(rng, SECTORS);
    r->type = s_below(rng, TYPES);
    r->has_capacity = !s_chance(rng, legal ? 50 : 3);
    r->capacity = s_below(rng, CAPACITIES);

    p->person = s_chance(rng, legal ? 40 : 3) ? -1 : (int)s_below(rng, PERSONS + 1);
    r->person = p->person < 0 ? NULL : (char *)m->persons[p->person];
    if (s_chance(rng, 3)) {
        p->person_bad = true;
        r->person = (char *)s_bad_ids[s_below(rng, 4)];
    }

    p->date_day = -1;
    if (s_chance(rng, 3)) {
        p->date_bad = true;
        r->date = (char *)s_bad_dates[s_below(rng, 4)];
    } else if (s_chance(rng, 70)) {
        p->date_day = (int)s_below(rng, DAYS + 2) - 1; //  one day each side of the range
        if (p->date_day >= 0 && p->date_day < DAYS) {
            s_make_date(p->date_day, p->date);
            r->date = p->date;
        } else {
            //  2019-12-31 and 2020-02-10
            strcpy(p->date, p->date_day < 0 ? "2019-12-31" : "2020-02-10");
            r->date = p->date;
        }
    }

    p->kbo = -1;
    p->framework = -1;
    if (legal) {
        p->framework = s_chance(rng, 3) ? -2 : (int)s_below(rng, FRAMEWORKS + 1);
        r->legal_framework = p->framework == -2 ? "" : (char *)s_frameworks[p->framework];
        if (s_chance(rng, 50)) {
            p->kbo = (int)s_below(rng, KBOS + 1);
            r->kbo = (char *)m->kbos[p->kbo];
        }
        if (s_chance(rng, 3)) {
            p->kbo_bad = true;
            r->kbo = (char *)s_bad_ids[s_below(rng, 4)];
        }
    } else if (s_chance(rng, 5))
        r->kbo = (char *)s_bad_ids[s_below(rng, 4)]; //  ignored outside legal requests
}

//  Sets a good date, day -1 and DAYS included (one day off each end).
static void s_set_date(probe_t *p, int day)
{
    if (p->date_bad)
        return;
    p->date_day = day;
    if (day >= 0 && day < DAYS)
        s_make_date(day, p->date);
    else
        strcpy(p->date, day < 0 ? "2019-12-31" : "2020-02-10");
    p->request.date = p->date;
}

//  Points the request at a random entry of the model that fits match,
//  on a date in its validity or one day outside it.
static void s_steer_person(uint64_t *rng, const model_t *m, probe_t *p, const Kp__Request *match)
{
    if (p->person_bad || !m->entry_count)
        return;
    size_t start = s_below(rng, (unsigned)m->entry_count);
    for (size_t i = 0; i < m->entry_count; i++) {
        const entry_t *e = &m->entries[(start + i) % m->entry_count];
        if (match && (e->sector != match->sector || e->type != match->type ||
                      e->capacity != match->capacity))
            continue;
        p->person = (int)e->person;
        p->request.person = (char *)m->persons[e->person];
        unsigned pick = s_below(rng, 10);
        s_set_date(p, pick == 0   ? e->from - 1
                      : pick == 1 ? e->to + 1
                      : pick == 2 ? e->from
                      : pick == 3 ? e->to
                                  : e->from + (int)s_below(rng, (unsigned)(e->to - e->from + 1)));
        return;
    }
}

//  Steers a user request towards passing its checks, so that every check
//  is reached often. The reference does not know whether it was steered.
static void s_steer_user(uint64_t *rng, const model_t *m, probe_t *p)
{
    Kp__Request *r = &p->request;
    if (p->user < 0 || p->user >= USERS || !m->users[p->user].present || p->message < 0)
        return;
    const user_t *user = &m->users[p->user];
    r->sector = user->sector;
    r->type = user->type;
    unsigned msg = s_below(rng, MESSAGES);
    while (!user->may[msg])
        msg = (msg + 1) % MESSAGES;
    p->message = (int)msg;
    r->message = (char *)s_messages[msg];
    if (!s_chance(rng, 80))
        return;
    unsigned c0 = s_below(rng, CAPACITIES);
    for (unsigned i = 0; i < CAPACITIES; i++)
        if (m->authorized[r->sector][r->type][(c0 + i) % CAPACITIES][msg]) {
            r->capacity = (c0 + i) % CAPACITIES;
            break;
        }
    if (s_chance(rng, 80) && r->person)
        s_steer_person(rng, m, p, r);
}

//  The (sector, type) whose grants cover institution kbo (an index into
//  kbos) for a user: the institution's own, or the user's when the model
//  holds no such institution.
static void s_ref_sector_type(const model_t *m, unsigned kbo, const user_t *user, unsigned *s,
                              unsigned *t)
{
    bool listed = kbo < KBOS && m->institutions[kbo].present;
    *s = listed ? m->institutions[kbo].sector : user->sector;
    *t = listed ? m->institutions[kbo].type : user->type;
}

//  Steers a legal request towards a known user acting for its own
//  institution, and a (framework, message) that institution has.
static void s_steer_legal(uint64_t *rng, const model_t *m, probe_t *p)
{
    Kp__Request *r = &p->request;
    if (p->message < 0 || p->framework < 0 || p->kbo_bad || p->user < 0 || p->user >= USERS ||
        !m->users[p->user].present)
        return;
    const user_t *user = &m->users[p->user];
    if (s_chance(rng, 85)) {
        if (p->kbo >= 0) {
            p->kbo = (int)user->kbo;
            r->kbo = (char *)m->kbos[user->kbo];
        } else {
            r->sector = user->sector;
            r->type = user->type;
        }
    }
    unsigned kbo = p->kbo >= 0 ? (unsigned)p->kbo : user->kbo, s, t;
    s_ref_sector_type(m, kbo, user, &s, &t);
    unsigned start = s_below(rng, FRAMEWORKS * MESSAGES);
    for (unsigned i = 0; i < FRAMEWORKS * MESSAGES; i++) {
        unsigned f = (start + i) % (FRAMEWORKS * MESSAGES) / MESSAGES;
        unsigned msg = (start + i) % MESSAGES;
        bool ok = (m->legal_kbo[kbo][f][msg] || m->legal_st[s][t][f][msg]) &&
                  (user->may[msg] || s_chance(rng, 10));
        if (ok) {
            p->framework = (int)f;
            r->legal_framework = (char *)s_frameworks[f];
            p->message = (int)msg;
            r->message = (char *)s_messages[msg];
            break;
        }
    }
    if (r->person && s_chance(rng, 70))
        s_steer_person(rng, m, p, NULL);
}

static void s_random_request(uint64_t *rng, const model_t *m, probe_t *p)
{
    s_random_probe(rng, m, p);
    if (!s_chance(rng, 70))
        return;
    if (p->request.legal_framework)
        s_steer_legal(rng, m, p);
    else
        s_steer_user(rng, m, p);
}

//  ---------------------------------------------------------------------
//  The reference: the rules of control.h, by plain loops over the model

typedef struct {
    kp_verdict_t verdict;
    Kp__Reason reason;
    const char *requester_kbo;
    size_t count;
    const char *providers[KBOS + 1];
} answer_t;

static void s_ref_add(answer_t *a, const char *kbo)
{
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->providers[i], kbo) == 0)
            return;
    a->providers[a->count++] = kbo;
}

static int s_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static Kp__Reason s_ref_validate(const probe_t *p)
{
    const Kp__Request *r = &p->request;
    bool legal = r->legal_framework != NULL;
    if (p->message < 0)
        return KP__REASON__INVALID_REQUEST;
    if (p->date_bad)
        return KP__REASON__INVALID_DATE;
    if (p->person_bad)
        return KP__REASON__INVALID_INSZ;
    if (legal && p->kbo_bad)
        return KP__REASON__INVALID_KBO;
    if (legal) {
        if (p->framework == -2 || !(r->kbo || (r->has_sector && r->has_type)) || p->user < 0)
            return KP__REASON__INVALID_REQUEST;
    } else if (p->user < 0 || !r->has_sector || !r->has_type || !r->has_capacity || !r->person)
        return KP__REASON__INVALID_REQUEST;
    return KP__REASON__REASON_NONE;
}

static Kp__Reason s_ref_user_checks(const model_t *m, const probe_t *p, int day, answer_t *a)
{
    const Kp__Request *r = &p->request;
    if (p->user >= USERS || !m->users[p->user].present)
        return KP__REASON__USER_UNKNOWN;
    const user_t *user = &m->users[p->user];
    a->requester_kbo = m->kbos[user->kbo];
    if (user->sector != r->sector || user->type != r->type || p->message >= MESSAGES ||
        !user->may[p->message])
        return KP__REASON__USER_NOT_AUTHORIZED;
    if (r->capacity >= CAPACITIES || !m->authorized[r->sector][r->type][r->capacity][p->message])
        return KP__REASON__CAPACITY_NOT_AUTHORIZED;
    for (size_t i = 0; i < m->entry_count; i++) {
        const entry_t *e = &m->entries[i];
        if ((int)e->person == p->person && e->sector == r->sector && e->type == r->type &&
            e->capacity == r->capacity && e->from <= day && day <= e->to)
            return KP__REASON__REASON_NONE;
    }
    return KP__REASON__PERSON_NOT_IN_DIRECTORY;
}

static Kp__Reason s_ref_legal_check(const model_t *m, const probe_t *p, answer_t *a)
{
    const Kp__Request *r = &p->request;
    if (p->kbo >= 0)
        a->requester_kbo = m->kbos[p->kbo];
    if (p->user >= USERS || !m->users[p->user].present)
        return KP__REASON__USER_UNKNOWN;
    const user_t *user = &m->users[p->user];
    unsigned kbo = p->kbo >= 0 ? (unsigned)p->kbo : user->kbo;
    a->requester_kbo = m->kbos[kbo];
    if (user->kbo != kbo || (p->kbo < 0 && (user->sector != r->sector || user->type != r->type)) ||
        p->message >= MESSAGES || !user->may[p->message])
        return KP__REASON__USER_NOT_AUTHORIZED;
    if (p->framework >= FRAMEWORKS)
        return KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED;
    unsigned s, t;
    s_ref_sector_type(m, kbo, user, &s, &t);
    bool ok =
        m->legal_kbo[kbo][p->framework][p->message] || m->legal_st[s][t][p->framework][p->message];
    return ok ? KP__REASON__REASON_NONE : KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED;
}

static void s_ref_route(const model_t *m, const probe_t *p, int day, answer_t *a)
{
    if (p->message >= MESSAGES)
        return;
    if (p->request.person) {
        for (size_t i = 0; i < m->entry_count; i++) {
            const entry_t *e = &m->entries[i];
            if ((int)e->person == p->person && e->from <= day && day <= e->to &&
                m->available[p->message][e->sector][e->type])
                s_ref_add(a, m->kbos[e->kbo]);
        }
    } else
        for (unsigned k = 0; k < KBOS; k++) {
            const institution_t *inst = &m->institutions[k];
            if (inst->present && m->available[p->message][inst->sector][inst->type])
                s_ref_add(a, m->kbos[k]);
        }
    qsort(a->providers, a->count, sizeof a->providers[0], s_compare);
}

static void s_reference(const model_t *m, const probe_t *p, int today, answer_t *a)
{
    memset(a, 0, sizeof *a);
    a->requester_kbo = "";
    a->reason = s_ref_validate(p);
    if (a->reason != KP__REASON__REASON_NONE) {
        a->verdict = KP_VERDICT_INVALID;
        return;
    }
    int day = p->request.date ? p->date_day : today;
    a->reason =
        p->request.legal_framework ? s_ref_legal_check(m, p, a) : s_ref_user_checks(m, p, day, a);
    if (a->reason != KP__REASON__REASON_NONE) {
        a->verdict = KP_VERDICT_DENY;
        return;
    }
    s_ref_route(m, p, day, a);
    a->verdict = a->count ? KP_VERDICT_ALLOW : KP_VERDICT_NO_DATA;
}

//  ---------------------------------------------------------------------

static void s_describe(const probe_t *p, char *out, size_t size)
{
    const Kp__Request *r = &p->request;
    snprintf(out, size,
             "user=%s message=%s person=%s date=%s kbo=%s framework=%s sector=%s%u type=%s%u "
             "capacity=%s%u",
             r->user ? r->user : "-", r->message ? r->message : "-", r->person ? r->person : "-",
             r->date ? r->date : "-", r->kbo ? r->kbo : "-",
             r->legal_framework ? r->legal_framework : "-",
             r->has_sector ? "" : "unset:", r->sector, r->has_type ? "" : "unset:", r->type,
             r->has_capacity ? "" : "unset:", r->capacity);
}

static void s_compare_answers(uint64_t seed, size_t n, const probe_t *p, const answer_t *want,
                              const kp_decision_t *got)
{
    bool same = got->verdict == want->verdict && got->reason == want->reason &&
                got->provider_count == want->count && !got->truncated &&
                strcmp(got->requester_kbo, want->requester_kbo) == 0;
    for (size_t i = 0; same && i < want->count; i++)
        same = strcmp(got->providers[i], want->providers[i]) == 0;
    if (same)
        return;
    char text[512], want_list[128] = "", got_list[128] = "";
    s_describe(p, text, sizeof text);
    for (size_t i = 0; i < want->count; i++)
        snprintf(want_list + strlen(want_list), sizeof want_list - strlen(want_list), " %s",
                 want->providers[i]);
    for (size_t i = 0; i < got->provider_count && i < KBOS + 1; i++)
        snprintf(got_list + strlen(got_list), sizeof got_list - strlen(got_list), " %s",
                 got->providers[i]);
    fail_msg("seed %llu, request %zu: %s\n  want %s/%s kbo '%s' providers%s\n"
             "  got  %s/%s kbo '%s' providers%s",
             (unsigned long long)seed, n, text, kp_verdict_name(want->verdict),
             kp_reason_name(want->reason), want->requester_kbo, want_list,
             kp_verdict_name(got->verdict), kp_reason_name(got->reason), got->requester_kbo,
             got_list);
}

//  Counts of verdicts and reasons, so that the test can insist that the
//  random domains really reach every branch.
typedef struct {
    size_t verdicts[4];
    size_t reasons[64];
    size_t legal[64]; //  reasons of legal-framework requests (REASON_NONE: allowed)
} tally_t;

static void s_one_directory(uint64_t seed, tally_t *tally)
{
    uint64_t rng = seed;
    static model_t m;
    memset(&m, 0, sizeof m);
    for (unsigned k = 0; k <= KBOS; k++)
        s_make_kbo(2000000 + k * 1009 + s_below(&rng, 1000), m.kbos[k]);
    for (unsigned i = 0; i <= PERSONS; i++)
        s_make_insz(850101000 + i * 1000 + s_below(&rng, 1000), m.persons[i]); //  day 1+i

    char path[] = "/tmp/kp-property-XXXXXX";
    assert_non_null(mkdtemp(path));
    char err[256];
    kp_directory_t *dir = kp_directory_new(path, err, sizeof err);
    if (!dir)
        fail_msg("seed %llu: %s", (unsigned long long)seed, err);

    static lines_t lines;
    size_t served = 0;
    for (int update = 0; update <= UPDATES; update++) {
        lines.count = 0;
        unsigned changes = update == 0 ? 120 : 10 + s_below(&rng, 40);
        for (unsigned i = 0; i < changes; i++)
            s_change(&rng, &m, &lines);
        s_apply(dir, &lines, seed);

        MDB_txn *txn = kp_directory_read_begin(dir, err, sizeof err);
        assert_non_null(txn);
        size_t share = REQUESTS / (UPDATES + 1);
        for (size_t i = 0; i < share; i++, served++) {
            probe_t probe;
            s_random_request(&rng, &m, &probe);
            int today = (int)s_below(&rng, DAYS);
            answer_t want;
            s_reference(&m, &probe, today, &want);
            kp_decision_t got;
            memset(&got, 0x77, sizeof got);
            kp_control_decide(dir, txn, &probe.request, DAY0 + today, &got);
            s_compare_answers(seed, served, &probe, &want, &got);
            tally->verdicts[want.verdict]++;
            tally->reasons[want.reason]++;
            if (probe.request.legal_framework)
                tally->legal[want.reason]++;
        }
        kp_directory_read_end(&txn);
    }
    kp_directory_destroy(&dir);
    char command[64];
    snprintf(command, sizeof command, "rm -rf '%s'", path);
    assert_int_equal(system(command), 0);
}

static void test_property(void **state)
{
    (void)state;
    uint64_t base = kp_test_seed("control property", 20261130);
    tally_t tally;
    memset(&tally, 0, sizeof tally);
    for (uint64_t i = 0; i < DIRECTORIES; i++)
        s_one_directory(base + i * 7919, &tally);

    printf("verdicts: ALLOW %zu, DENY %zu, INVALID %zu, NO_DATA %zu\n", tally.verdicts[0],
           tally.verdicts[1], tally.verdicts[2], tally.verdicts[3]);
    //  every verdict and every reason of the control must have come up
    const Kp__Reason reasons[] = {
        KP__REASON__USER_UNKNOWN,
        KP__REASON__USER_NOT_AUTHORIZED,
        KP__REASON__CAPACITY_NOT_AUTHORIZED,
        KP__REASON__PERSON_NOT_IN_DIRECTORY,
        KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED,
        KP__REASON__INVALID_INSZ,
        KP__REASON__INVALID_KBO,
        KP__REASON__INVALID_DATE,
        KP__REASON__INVALID_REQUEST,
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        printf("  %-32s %zu\n", kp_reason_name(reasons[i]), tally.reasons[reasons[i]]);
        assert_true(tally.reasons[reasons[i]] > 0);
    }
    for (size_t i = 0; i < 4; i++)
        assert_true(tally.verdicts[i] > 20);
    //  and each check of a legal-framework request, failing and passing
    const Kp__Reason legal[] = {
        KP__REASON__USER_UNKNOWN,
        KP__REASON__USER_NOT_AUTHORIZED,
        KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED,
        KP__REASON__REASON_NONE,
    };
    for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++) {
        printf("  legal %-26s %zu\n", kp_reason_name(legal[i]), tally.legal[legal[i]]);
        assert_true(tally.legal[legal[i]] > 20);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
