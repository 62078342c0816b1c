/*  dirbench.c - preventive-control decisions per second on one thread.

    dirbench --data DIR [--requests N] [--seconds S] [--pool P] [--json]
    dirbench --data DIR --fill PERSONS     (write a synthetic directory first)
    dirbench --parse FILE                  (the import parser against jansson)

    Typical run on the generated directory:
      gendir --persons 1000000 > dir.jsonl
      kpctl directory import dir.jsonl --data DIR
      dirbench --data DIR --seconds 5

    Reads the users, authorizations and legal table of the directory in DIR
    and a sample of its person entries, builds a pool of requests with a
    realistic mix (mostly aimed to pass, the rest aimed at each refusal),
    then calls kp_control_decide over the pool, round robin, on one thread
    with one read transaction. The pool's persons are drawn uniformly from
    the whole directory, so most lookups miss the CPU caches as real
    traffic would; a small --pool shows the rate with a hot working set. Prints the rate and the mix
   of answers as a table, or as one JSON object with --json.

    --fill writes a directory shaped like the real one (3,000 institutions
    in 200 (sector, type) pairs, 220 message types, one application per
    institution, PERSONS people with one to three entries each) through
    kp_jsonl_parse and kp_directory_apply, for when no generated directory
    is at hand.
*/
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "control.h"
#include "directory.h"
#include "jsonl.h"

#define DEFAULT_POOL 65536
#define MAX_USERS 100000
#define MAX_LEGAL 100000
#define MAX_NAME 130 //  longest user id, message or framework, with NUL

//  ---------------------------------------------------------------------
//  What the bench learns from the directory

typedef struct {
    char id[MAX_NAME];
    uint32_t sector, type;
    char *messages; //  those it may send, each NUL-terminated, back to back
    size_t message_count;
} user_t;

typedef struct {
    char kbo[KP_KBO_LEN + 1]; //  "" when by sector and type
    uint32_t sector, type;
    char framework[MAX_NAME];
    char message[MAX_NAME];
} legal_t;

typedef struct {
    char insz[KP_INSZ_LEN + 1];
    kp_person_entry_t entry;
} sample_t;

typedef struct {
    kp_directory_t *dir;
    MDB_txn *txn;
    user_t *users;
    size_t user_count;
    legal_t *legal;
    size_t legal_count;
    sample_t *samples;
    size_t sample_count, sample_max;
    size_t entries_seen;
    uint64_t rng;
} catalog_t;

//  One request being built, with room for the strings it points to.
typedef struct {
    Kp__Request request;
    char user[MAX_NAME];
    char message[MAX_NAME];
    char person[KP_INSZ_LEN + 1];
    char date[11];
    char kbo[KP_KBO_LEN + 1];
    char framework[MAX_NAME];
} probe_t;

static uint64_t s_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t s_below(uint64_t *state, size_t n)
{
    return n ? (size_t)(s_next(state) % n) : 0;
}

static void s_copy(char *dest, size_t size, const char *text)
{
    snprintf(dest, size, "%s", text ? text : "");
}

static int s_collect_user(catalog_t *c, const Kp__User *record)
{
    size_t size = 0;
    for (size_t i = 0; i < record->n_messages; i++)
        size += strlen(record->messages[i]) + 1;
    user_t *u = &c->users[c->user_count];
    if (!(u->messages = malloc(size)))
        return -1;
    char *cursor = u->messages;
    for (size_t i = 0; i < record->n_messages; i++)
        cursor = stpcpy(cursor, record->messages[i]) + 1;
    u->message_count = record->n_messages;
    s_copy(u->id, sizeof u->id, record->id);
    u->sector = record->sector;
    u->type = record->type;
    c->user_count++;
    return 0;
}

static int s_collect_record(const Kp__DirectoryRecord *record, void *arg)
{
    catalog_t *c = arg;
    switch (record->record_case) {
    case KP__DIRECTORY_RECORD__RECORD_USER:
        if (c->user_count < MAX_USERS && record->user->n_messages)
            return s_collect_user(c, record->user);
        return 0;
    case KP__DIRECTORY_RECORD__RECORD_LEGAL:
        if (c->legal_count < MAX_LEGAL) {
            legal_t *l = &c->legal[c->legal_count++];
            s_copy(l->kbo, sizeof l->kbo, record->legal->kbo);
            l->sector = record->legal->sector;
            l->type = record->legal->type;
            s_copy(l->framework, sizeof l->framework, record->legal->framework);
            s_copy(l->message, sizeof l->message, record->legal->message);
        }
        return 0;
    case KP__DIRECTORY_RECORD__RECORD_PERSON:
        return 1; //  persons are sampled by kp_directory_person_scan instead
    default:
        return 0;
    }
}

//  Reservoir sample of the person entries: every entry equally likely.
static int s_collect_person(const char *insz, const kp_person_entry_t *entry, void *arg)
{
    catalog_t *c = arg;
    size_t slot =
        c->entries_seen < c->sample_max ? c->entries_seen : s_below(&c->rng, c->entries_seen + 1);
    c->entries_seen++;
    if (slot < c->sample_max) {
        sample_t *s = &c->samples[slot];
        memcpy(s->insz, insz, KP_INSZ_LEN + 1);
        s->entry = *entry;
        if (c->sample_count < c->sample_max)
            c->sample_count++;
    }
    return 0;
}

static int s_catalog_load(catalog_t *c, kp_directory_t *dir, MDB_txn *txn, size_t pool)
{
    c->dir = dir;
    c->txn = txn;
    c->users = calloc(MAX_USERS, sizeof *c->users);
    c->legal = calloc(MAX_LEGAL, sizeof *c->legal);
    c->sample_max = pool;
    c->samples = calloc(pool, sizeof *c->samples);
    if (!c->users || !c->legal || !c->samples)
        return -1;
    if (kp_directory_each(dir, txn, s_collect_record, c) < 0)
        return -1;
    kp_directory_person_scan(dir, txn, s_collect_person, c);
    return 0;
}

static void s_catalog_free(catalog_t *c)
{
    for (size_t i = 0; c->users && i < c->user_count; i++)
        free(c->users[i].messages);
    free(c->users);
    free(c->legal);
    free(c->samples);
}

//  ---------------------------------------------------------------------
//  The request pool

static const user_t *s_user_for(catalog_t *c, uint32_t sector, uint32_t type)
{
    //  a few random probes, then a scan: users are few next to requests
    for (int i = 0; i < 8 && c->user_count; i++) {
        const user_t *u = &c->users[s_below(&c->rng, c->user_count)];
        if (u->sector == sector && u->type == type)
            return u;
    }
    for (size_t i = 0; i < c->user_count; i++)
        if (c->users[i].sector == sector && c->users[i].type == type)
            return &c->users[i];
    return c->user_count ? &c->users[s_below(&c->rng, c->user_count)] : NULL;
}

static const char *s_user_message(const user_t *u, size_t index)
{
    const char *message = u->messages;
    while (index--)
        message += strlen(message) + 1;
    return message;
}

//  A message the user may send and the table authorizes for capacity,
//  starting from a random one; any of its messages if none is.
static const char *s_message_for(catalog_t *c, const user_t *u, uint32_t capacity)
{
    size_t start = s_below(&c->rng, u->message_count);
    for (size_t i = 0; i < u->message_count; i++) {
        const char *message = s_user_message(u, (start + i) % u->message_count);
        if (kp_directory_authorized(c->dir, c->txn, u->sector, u->type, capacity, message))
            return message;
    }
    return s_user_message(u, start);
}

static void s_probe_user(catalog_t *c, probe_t *p, const sample_t *s, unsigned roll)
{
    Kp__Request *r = &p->request;
    const user_t *u = s_user_for(c, s->entry.sector, s->entry.type);
    s_copy(p->user, sizeof p->user, u ? u->id : "nobody");
    s_copy(p->message, sizeof p->message, u ? s_message_for(c, u, s->entry.capacity) : "msg");
    memcpy(p->person, s->insz, sizeof p->person);
    int32_t span = s->entry.to - s->entry.from;
    int32_t day = s->entry.from + (int32_t)s_below(&c->rng, (size_t)span + 1);
    r->capacity = s->entry.capacity;
    if (roll < 10)
        day = s->entry.from - 1; //  aimed at PERSON_NOT_IN_DIRECTORY
    else if (roll < 20)
        r->capacity = s->entry.capacity + 1000; //  aimed at CAPACITY_NOT_AUTHORIZED
    else if (roll < 25)
        s_copy(p->user, sizeof p->user, "no-such-user"); //  USER_UNKNOWN
    else if (roll < 30)
        s_copy(p->message, sizeof p->message, "no-such-message"); //  USER_NOT_AUTHORIZED
    kp_date_format(day, p->date);
    r->user = p->user;
    r->message = p->message;
    r->person = p->person;
    r->date = p->date;
    r->has_capacity = true;
    r->has_sector = r->has_type = true;
    r->sector = u ? u->sector : s->entry.sector;
    r->type = u ? u->type : s->entry.type;
}

static void s_probe_legal(catalog_t *c, probe_t *p, const sample_t *s, unsigned roll)
{
    Kp__Request *r = &p->request;
    const legal_t *l = &c->legal[s_below(&c->rng, c->legal_count)];
    //  three in ten aimed at LEGAL_FRAMEWORK_NOT_AUTHORIZED
    s_copy(p->framework, sizeof p->framework, roll < 97 ? l->framework : "no-such-framework");
    s_copy(p->message, sizeof p->message, l->message);
    r->legal_framework = p->framework;
    r->message = p->message;
    if (*l->kbo) {
        memcpy(p->kbo, l->kbo, sizeof p->kbo);
        r->kbo = p->kbo;
    } else {
        r->has_sector = r->has_type = true;
        r->sector = l->sector;
        r->type = l->type;
    }
    memcpy(p->person, s->insz, sizeof p->person);
    r->person = p->person;
}

//  The requests the bench sends, packed tight: a real broker decodes each
//  request into a buffer that is hot in cache, so the bench's own pool must
//  not crowd the directory's pages out of the cache.
typedef struct {
    Kp__Request *requests;
    char *arena; //  every string of every request, back to back
    size_t size;
} pool_t;

static char *s_intern(char **cursor, const char *text)
{
    if (!text)
        return NULL;
    size_t len = strlen(text) + 1;
    char *copy = memcpy(*cursor, text, len);
    *cursor += len;
    return copy;
}

static int s_pool_fill(pool_t *pool, catalog_t *c, size_t size)
{
    pool->requests = calloc(size, sizeof *pool->requests);
    pool->arena = malloc(size * (5 * MAX_NAME + 40));
    pool->size = size;
    if (!pool->requests || !pool->arena)
        return -1;
    char *cursor = pool->arena;
    for (size_t i = 0; i < size; i++) {
        probe_t p;
        memset(&p, 0, sizeof p);
        Kp__Request init = KP__REQUEST__INIT;
        p.request = init;
        const sample_t *s = &c->samples[s_below(&c->rng, c->sample_count)];
        unsigned roll = (unsigned)s_below(&c->rng, 100);
        if (roll >= 90 && c->legal_count)
            s_probe_legal(c, &p, s, roll);
        else
            s_probe_user(c, &p, s, roll);
        Kp__Request *r = &pool->requests[i];
        *r = p.request;
        r->user = s_intern(&cursor, r->user);
        r->message = s_intern(&cursor, r->message);
        r->person = s_intern(&cursor, r->person);
        r->date = s_intern(&cursor, r->date);
        r->kbo = s_intern(&cursor, r->kbo);
        r->legal_framework = s_intern(&cursor, r->legal_framework);
    }
    return 0;
}

static void s_pool_free(pool_t *pool)
{
    free(pool->requests);
    free(pool->arena);
}

//  ---------------------------------------------------------------------
//  --fill: a synthetic directory shaped like the real one

#define FILL_PAIRS 200 //  40 sectors x 5 types
#define FILL_INSTITUTIONS 3000
#define FILL_MESSAGES 220
#define FILL_BATCH 50000

static void s_fill_kbo(unsigned i, char out[KP_KBO_LEN + 1])
{
    unsigned body = 2000000 + i * 13;
    snprintf(out, KP_KBO_LEN + 1, "%08u%02u", body, 97 - body % 97);
}

static void s_fill_insz(uint64_t i, char out[KP_INSZ_LEN + 1])
{
    //  yy 40-89, month 01-12, day 01-28, serial 001-997: all distinct
    unsigned serial = (unsigned)(i % 997) + 1;
    uint64_t rest = i / 997;
    unsigned day = (unsigned)(rest % 28) + 1;
    rest /= 28;
    unsigned month = (unsigned)(rest % 12) + 1;
    unsigned year = (unsigned)(rest / 12 % 50) + 40;
    unsigned body = ((year * 100 + month) * 100 + day) * 1000 + serial;
    snprintf(out, KP_INSZ_LEN + 1, "%09u%02u", body, 97 - body % 97);
}

typedef struct {
    kp_directory_t *dir;
    kp_jsonl_batch_t *batch;
    size_t lines;
} filler_t;

static int s_fill_flush(filler_t *f)
{
    char err[256];
    if (!kp_jsonl_batch_size(f->batch))
        return 0;
    if (kp_directory_apply(f->dir, kp_jsonl_batch_update(f->batch), NULL, err, sizeof err)) {
        fprintf(stderr, "dirbench: apply: %s\n", err);
        return -1;
    }
    kp_jsonl_batch_destroy(&f->batch);
    f->batch = kp_jsonl_batch_new();
    return 0;
}

static int s_fill_line(filler_t *f, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int s_fill_line(filler_t *f, const char *format, ...)
{
    char line[2048], err[256];
    va_list args;
    va_start(args, format);
    int len = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (len < 0 || (size_t)len >= sizeof line)
        return -1;
    Kp__DirectoryOp *op = kp_jsonl_parse(line, (size_t)len, err, sizeof err);
    if (!op) {
        fprintf(stderr, "dirbench: %s: %s\n", err, line);
        return -1;
    }
    kp_jsonl_batch_add(f->batch, op);
    f->lines++;
    return kp_jsonl_batch_size(f->batch) >= FILL_BATCH ? s_fill_flush(f) : 0;
}

//  The 20 messages pair may request (capacities 1, 2, and 3 for half).
static unsigned s_fill_message(unsigned pair, unsigned k)
{
    return (pair * 7 + k * 11) % FILL_MESSAGES;
}

//  Pairs play one of three roles, as sectors do: 0-19 hold a file on
//  everyone (think health insurers), 20-59 on most people (employment),
//  60-199 on some. Message m is provided by every pair of role m % 3.
static unsigned s_fill_role(unsigned pair)
{
    return pair < 20 ? 0 : pair < 60 ? 1 : 2;
}

static bool s_fill_provides(unsigned pair, unsigned message)
{
    return s_fill_role(pair) == message % 3;
}

//  Writes the filler's institutions, users, authorizations and persons as
//  JSON Lines (s_fill_line). 0, or -1 when a line cannot be written.
static int s_fill_tables(filler_t *f)
{
    char kbo[KP_KBO_LEN + 1];
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < FILL_INSTITUTIONS; i++) {
        unsigned pair = i % FILL_PAIRS;
        s_fill_kbo(i, kbo);
        rc = s_fill_line(f,
                         "{\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"inst %u\","
                         "\"sector\":%u,\"type\":%u}",
                         kbo, i, pair / 5, pair % 5);
        char messages[20 * 12] = "";
        for (unsigned k = 0; k < 20; k++)
            snprintf(messages + strlen(messages), sizeof messages - strlen(messages),
                     "%s\"msg%03u\"", k ? "," : "", s_fill_message(pair, k));
        if (rc == 0)
            rc = s_fill_line(f,
                             "{\"table\":\"user\",\"id\":\"app-%u\",\"kbo\":\"%s\",\"sector\":%u,"
                             "\"type\":%u,\"messages\":[%s]}",
                             i, kbo, pair / 5, pair % 5, messages);
    }
    for (unsigned pair = 0; rc == 0 && pair < FILL_PAIRS; pair++)
        for (unsigned k = 0; rc == 0 && k < 20; k++)
            for (unsigned capacity = 1; rc == 0 && capacity <= 2 + k % 2; capacity++)
                rc = s_fill_line(f,
                                 "{\"table\":\"authorization\",\"sector\":%u,\"type\":%u,"
                                 "\"capacity\":%u,\"message\":\"msg%03u\"}",
                                 pair / 5, pair % 5, capacity, s_fill_message(pair, k));
    for (unsigned m = 0; rc == 0 && m < FILL_MESSAGES; m++)
        for (unsigned pair = 0; rc == 0 && pair < FILL_PAIRS; pair++)
            if (s_fill_provides(pair, m))
                rc = s_fill_line(f,
                                 "{\"table\":\"availability\",\"message\":\"msg%03u\","
                                 "\"sector\":%u,\"type\":%u}",
                                 m, pair / 5, pair % 5);
    for (unsigned i = 0; rc == 0 && i < 500; i++) {
        s_fill_kbo(i * 7 % FILL_INSTITUTIONS, kbo);
        rc = s_fill_line(f,
                         "{\"table\":\"legal\",\"kbo\":\"%s\",\"framework\":\"law-%u\","
                         "\"message\":\"msg%03u\"}",
                         kbo, i % 40, i % FILL_MESSAGES);
    }
    return rc;
}

static int s_fill_entry(filler_t *f, const char *insz, unsigned pair, uint64_t *rng)
{
    char kbo[KP_KBO_LEN + 1], from[11], to[11];
    int32_t start;
    kp_date_parse("2000-01-01", &start);
    start += (int32_t)s_below(rng, 9000);
    kp_date_format(start, from);
    if (s_below(rng, 4))
        strcpy(to, "9999-12-31");
    else
        kp_date_format(start + (int32_t)s_below(rng, 5000), to);
    //  institutions of pair are pair, pair + 200, pair + 400, ...
    s_fill_kbo(pair + FILL_PAIRS * (unsigned)s_below(rng, FILL_INSTITUTIONS / FILL_PAIRS), kbo);
    return s_fill_line(f,
                       "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%u,"
                       "\"type\":%u,\"capacity\":%u,\"from\":\"%s\",\"to\":\"%s\"}",
                       insz, kbo, pair / 5, pair % 5, 1 + (unsigned)s_below(rng, 3), from, to);
}

//  Everyone is held in role 0, 70% in role 1 and 40% in role 2.
static int s_fill_persons(filler_t *f, uint64_t persons, uint64_t *rng)
{
    char insz[KP_INSZ_LEN + 1];
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < persons; i++) {
        s_fill_insz(i, insz);
        rc = s_fill_entry(f, insz, (unsigned)s_below(rng, 20), rng);
        if (rc == 0 && s_below(rng, 10) < 7)
            rc = s_fill_entry(f, insz, 20 + (unsigned)s_below(rng, 40), rng);
        if (rc == 0 && s_below(rng, 10) < 4)
            rc = s_fill_entry(f, insz, 60 + (unsigned)s_below(rng, 140), rng);
    }
    return rc;
}

static int s_fill(kp_directory_t *dir, uint64_t persons)
{
    filler_t f = {.dir = dir, .batch = kp_jsonl_batch_new()};
    uint64_t rng = 12345;
    int rc = s_fill_tables(&f);
    if (rc == 0)
        rc = s_fill_persons(&f, persons, &rng);
    if (rc == 0)
        rc = s_fill_flush(&f);
    kp_jsonl_batch_destroy(&f.batch);
    if (rc == 0)
        fprintf(stderr, "dirbench: wrote %zu records\n", f.lines);
    return rc;
}

//  ---------------------------------------------------------------------
//  The measurement

typedef struct {
    uint64_t decisions;
    double seconds;
    uint64_t verdicts[4];
    uint64_t reasons[64];
    uint64_t providers; //  sum of provider counts of allowed requests
} result_t;

//  Monotonic seconds (CZMQ's clock, to the microsecond).
static double s_now(void)
{
    return (double)zclock_usecs() / 1e6;
}

static void s_run(kp_directory_t *dir, MDB_txn *txn, const pool_t *pool, uint64_t requests,
                  double seconds, result_t *res)
{
    int32_t today = kp_date_today();
    kp_decision_t out;
    //  warm the map and the caches with one pass, not measured
    for (size_t i = 0; i < pool->size; i++)
        kp_control_decide(dir, txn, &pool->requests[i], today, &out);

    memset(res, 0, sizeof *res);
    double start = s_now(), deadline = seconds > 0 ? start + seconds : 0;
    size_t next = 0;
    while (requests == 0 || res->decisions < requests) {
        const Kp__Request *request = &pool->requests[next];
        next = next + 1 == pool->size ? 0 : next + 1;
        kp_verdict_t verdict = kp_control_decide(dir, txn, request, today, &out);
        res->verdicts[verdict & 3]++;
        res->reasons[out.reason & 63]++;
        res->providers += out.provider_count;
        res->decisions++;
        if (deadline && (res->decisions & 4095) == 0 && s_now() >= deadline)
            break;
    }
    res->seconds = s_now() - start;
}

static void s_print_table(const char *data, uint64_t seq, size_t pool, const result_t *res)
{
    double rate = (double)res->decisions / res->seconds;
    printf("dirbench  directory %s (seq %" PRIu64 "), pool %zu requests, 1 thread\n", data, seq,
           pool);
    printf("  %-34s %14" PRIu64 "\n", "decisions", res->decisions);
    printf("  %-34s %14.3f\n", "seconds", res->seconds);
    printf("  %-34s %14.0f\n", "decisions/s", rate);
    printf("  %-34s %14.1f\n", "ns/decision", 1e9 / rate);
    for (int v = 0; v < 4; v++)
        printf("  verdict %-26s %14" PRIu64 " %6.2f%%\n", kp_verdict_name((kp_verdict_t)v),
               res->verdicts[v], 100.0 * (double)res->verdicts[v] / (double)res->decisions);
    for (int r = 1; r < 64; r++)
        if (res->reasons[r])
            printf("  reason  %-26s %14" PRIu64 " %6.2f%%\n", kp_reason_name((Kp__Reason)r),
                   res->reasons[r], 100.0 * (double)res->reasons[r] / (double)res->decisions);
    if (res->verdicts[KP_VERDICT_ALLOW])
        printf("  %-34s %14.2f\n", "providers per allowed request",
               (double)res->providers / (double)res->verdicts[KP_VERDICT_ALLOW]);
}

static void s_print_json(uint64_t seq, size_t pool, const result_t *res)
{
    double rate = (double)res->decisions / res->seconds;
    printf("{\"bench\":\"dirbench\",\"seq\":%" PRIu64 ",\"pool\":%zu,\"threads\":1,"
           "\"decisions\":%" PRIu64 ",\"seconds\":%.6f,\"decisions_per_second\":%.0f,"
           "\"ns_per_decision\":%.1f,\"verdicts\":{",
           seq, pool, res->decisions, res->seconds, rate, 1e9 / rate);
    for (int v = 0; v < 4; v++)
        printf("%s\"%s\":%" PRIu64, v ? "," : "", kp_verdict_name((kp_verdict_t)v),
               res->verdicts[v]);
    printf("},\"reasons\":{");
    const char *comma = "";
    for (int r = 0; r < 64; r++)
        if (res->reasons[r]) {
            printf("%s\"%s\":%" PRIu64, comma, kp_reason_name((Kp__Reason)r), res->reasons[r]);
            comma = ",";
        }
    printf("}}\n");
}

//  ---------------------------------------------------------------------

static void s_usage(void)
{
    fprintf(stderr, "usage: dirbench --data DIR [--requests N] [--seconds S] [--pool P] [--json]\n"
                    "       dirbench --parse FILE\n"
                    "       dirbench --data DIR --fill PERSONS\n");
}

typedef struct {
    const char *data;
    uint64_t requests;
    double seconds;
    size_t pool;
    uint64_t fill;
    bool json;
} options_t;

//  Parses the command line into o. 0, or -1 on a usage error (the caller
//  prints the usage).
static int s_options(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        {"data", required_argument, NULL, 'd'},    {"requests", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"pool", required_argument, NULL, 'p'},
        {"fill", required_argument, NULL, 'f'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (options_t){.pool = DEFAULT_POOL};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "d:n:s:p:f:jh", longs, NULL)) != -1) {
        errno = 0;
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 'n':
            o->requests = strtoull(optarg, &end, 10);
            break;
        case 's':
            o->seconds = strtod(optarg, &end);
            break;
        case 'p':
            o->pool = (size_t)strtoull(optarg, &end, 10);
            break;
        case 'f':
            o->fill = strtoull(optarg, &end, 10);
            break;
        case 'j':
            o->json = true;
            continue;
        default:
            return -1;
        }
        if (c != 'd' && (errno || *end || end == optarg))
            return -1;
    }
    if (!o->data || optind != argc || o->pool == 0 || o->seconds < 0)
        return -1;
    if (!o->requests && o->seconds == 0)
        o->seconds = 5;
    return 0;
}

//  dirbench --parse FILE: µs per line of the JSON Lines import parser
//  (kp_jsonl_parse, which also builds and checks the op) against jansson's
//  json_loads alone on the same lines (which builds nothing): why the
//  importer keeps its own parser (jsonl.h).
static int s_parse_bench(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "dirbench: cannot read %s\n", path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lines = 0;
    ssize_t len;
    double ours = 0, theirs = 0;
    while ((len = getline(&line, &cap, file)) > 0) {
        char err[256];
        //  clock_gettime, not CZMQ: a parse takes under a microsecond,
        //  finer than zclock_usecs.
        struct timespec a, b, c;
        clock_gettime(CLOCK_MONOTONIC, &a);
        Kp__DirectoryOp *op = kp_jsonl_parse(line, (size_t)len, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &b);
        json_t *doc = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
        clock_gettime(CLOCK_MONOTONIC, &c);
        ours += (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        theirs += (double)(c.tv_sec - b.tv_sec) * 1e6 + (double)(c.tv_nsec - b.tv_nsec) / 1e3;
        kp_jsonl_op_free(&op);
        json_decref(doc);
        lines++;
    }
    free(line);
    fclose(file);
    printf("%zu lines: kp_jsonl_parse %.2f us/line (parse, build, check); jansson json_loadb "
           "%.2f us/line (parse only)\n",
           lines, lines ? ours / (double)lines : 0, lines ? theirs / (double)lines : 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--parse"))
        return s_parse_bench(argv[2]);
    options_t o;
    if (s_options(argc, argv, &o)) {
        s_usage();
        return 2;
    }
    char err[256];
    char path[4096];
    snprintf(path, sizeof path, "%s/directory", o.data); //  a node's data folder, as kpnode's
    kp_directory_t *dir = kp_directory_new(path, err, sizeof err);
    if (!dir) {
        fprintf(stderr, "dirbench: %s: %s\n", o.data, err);
        return 1;
    }
    if (o.fill) {
        int rc = s_fill(dir, o.fill);
        kp_directory_destroy(&dir);
        return rc ? 1 : 0;
    }
    int rc = 1;
    pool_t pool = {0};
    catalog_t catalog = {.rng = 42};
    MDB_txn *txn = kp_directory_read_begin(dir, err, sizeof err);
    if (!txn)
        fprintf(stderr, "dirbench: %s\n", err);
    else if (s_catalog_load(&catalog, dir, txn, o.pool))
        fprintf(stderr, "dirbench: out of memory\n");
    else if (!catalog.sample_count || !catalog.user_count)
        fprintf(stderr,
                "dirbench: %s holds no persons or no users; fill it first "
                "(gendir, kpctl import, or dirbench --fill)\n",
                o.data);
    else if (s_pool_fill(&pool, &catalog, o.pool))
        fprintf(stderr, "dirbench: out of memory\n");
    else {
        result_t res;
        s_run(dir, txn, &pool, o.requests, o.seconds, &res);
        uint64_t seq = kp_directory_seq(dir, txn);
        if (o.json)
            s_print_json(seq, o.pool, &res);
        else
            s_print_table(o.data, seq, o.pool, &res);
        rc = 0;
    }
    s_pool_free(&pool);
    s_catalog_free(&catalog);
    if (txn)
        kp_directory_read_end(&txn);
    kp_directory_destroy(&dir);
    return rc;
}
