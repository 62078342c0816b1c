/*  logreport.c - reports on a privacy log, as JSON (see logreport.h). */
#include "logreport.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>

#include "json.h"
#include "kperr.h"
#include "localonly.h"
#include "logindex.h"
#include "privlog.h"

void kp_logreport_time(uint64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *kp_logreport_enum(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "UNKNOWN";
}

static bool s_is_outcome(const Kp__LogRecord *r)
{
    return r->has_kind && r->kind == KP__LOG_KIND__LOG_OUTCOME;
}

static bool s_is_decision(const Kp__LogRecord *r)
{
    return r->has_kind && r->kind == KP__LOG_KIND__LOG_DECISION;
}

//  ---------------------------------------------------------------------
//  Decisions and their outcomes, joined over a scan

struct _kp_logjoin_t {
    zhashx_t *pending; //  seq (text) of each DECISION without its OUTCOME yet
    uint64_t first_seq;
    uint64_t decisions, outcomes, orphans;
    uint64_t orphan_seq; //  the first OUTCOME whose DECISION is not in the log
};

kp_logjoin_t *kp_logjoin_new(void)
{
    kp_logjoin_t *self = calloc(1, sizeof *self);
    assert(self);
    self->pending = zhashx_new();
    assert(self->pending);
    return self;
}

void kp_logjoin_destroy(kp_logjoin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->pending);
    free(*self_p);
    *self_p = NULL;
}

//  An outcome whose decision should be in the scanned part (its seq is not
//  before the first one scanned) but is not is an orphan: no outcome may
//  exist without its decision.
void kp_logjoin_record(kp_logjoin_t *self, const Kp__LogRecord *r, uint64_t seq)
{
    if (!self->first_seq)
        self->first_seq = seq;
    char key[24];
    if (s_is_decision(r)) {
        snprintf(key, sizeof key, "%" PRIu64, seq);
        zhashx_insert(self->pending, key, (void *)1);
        self->decisions++;
    } else if (s_is_outcome(r)) {
        snprintf(key, sizeof key, "%" PRIu64, r->decision_seq);
        if (zhashx_lookup(self->pending, key)) {
            zhashx_delete(self->pending, key);
            self->outcomes++;
        } else if (r->decision_seq >= self->first_seq) {
            if (!self->orphans++)
                self->orphan_seq = seq;
        }
    }
}

uint64_t kp_logjoin_unknown(kp_logjoin_t *self)
{
    return zhashx_size(self->pending);
}

uint64_t kp_logjoin_orphans(kp_logjoin_t *self, uint64_t *first)
{
    *first = self->orphan_seq;
    return self->orphans;
}

//  ---------------------------------------------------------------------
//  Query

typedef struct {
    kp_privlog_reader_t *reader;
    uint64_t count, missing, unknown;
    uint64_t to_us;      //  decisions after this are out of the range asked for
    uint64_t after;      //  a page: only records after this seq
    uint64_t limit;      //  a page: the scan stops past this many messages (0: all)
    uint64_t messages;   //  decisions and complete records found so far
    zlistx_t *decisions; //  s_found_t, in index order (owned)
    zhashx_t *outcomes;  //  decision seq (text) -> s_found_t (owned)
} s_query_t;

//  A record the index found, and its sequence number.
typedef struct {
    uint64_t seq;
    Kp__LogRecord *r;
} s_found_t;

static void s_found_free(void **item)
{
    s_found_t *found = (s_found_t *)*item;
    if (found) {
        kp__log_record__free_unpacked(found->r, NULL);
        free(found);
    }
    *item = NULL;
}

static int s_query_one(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    s_query_t *q = arg;
    if (seq <= q->after)
        return 0;
    //  One more than the page: enough to know there is more.
    if (q->limit && q->messages > q->limit)
        return 1;
    char error[256];
    uint64_t got;
    Kp__LogRecord *r = kp_privlog_reader_get(q->reader, segment, offset, &got, error, sizeof error);
    if (!r || got != seq) { //  pruned since, or the index is stale
        q->missing++;
        kp__log_record__free_unpacked(r, NULL);
        return 0;
    }
    if (!s_is_outcome(r) && r->time_unix_us > q->to_us) {
        kp__log_record__free_unpacked(r, NULL);
        return 0;
    }
    s_found_t *found = malloc(sizeof *found);
    assert(found);
    found->seq = seq;
    found->r = r;
    if (s_is_outcome(r)) {
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, r->decision_seq);
        zhashx_update(q->outcomes, key, found);
    } else {
        zlistx_add_end(q->decisions, found);
        q->messages++;
    }
    return 0;
}

//  The log's LOG_MIRROR records, found through the index, in seq order.
typedef struct {
    kp_privlog_reader_t *reader;
    kp_localonly_t *local;
} s_marks_t;

static int s_mark_one(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    s_marks_t *m = arg;
    char error[256];
    uint64_t got;
    Kp__LogRecord *r = kp_privlog_reader_get(m->reader, segment, offset, &got, error, sizeof error);
    if (r && got == seq)
        kp_localonly_record(m->local, r, seq);
    kp__log_record__free_unpacked(r, NULL);
    return 0;
}

//  The OUTCOME of the DECISION at seq: found through the index (an
//  OUTCOME is indexed by its decision, not under the keys), or among
//  the records the query gave. NULL: outcome unknown.
static const s_found_t *s_outcome(s_query_t *q, kp_logindex_t *index, uint64_t seq)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRIu64, seq);
    s_found_t *found = zhashx_lookup(q->outcomes, key);
    uint64_t at, segment, offset, got;
    if (found || !index || kp_logindex_outcome(index, seq, &at, &segment, &offset))
        return found;
    char error[256];
    Kp__LogRecord *r = kp_privlog_reader_get(q->reader, segment, offset, &got, error, sizeof error);
    if (!r || got != at || !s_is_outcome(r) || r->decision_seq != seq) {
        kp__log_record__free_unpacked(r, NULL);
        return NULL; //  pruned since, or the index is stale: unknown
    }
    found = malloc(sizeof *found);
    assert(found);
    found->seq = at;
    found->r = r;
    zhashx_update(q->outcomes, key, found);
    return found;
}

//  One message: the decision (or complete record) r, joined with its
//  outcome o (NULL: unknown, for a decision); local: it left on local
//  durability alone.
static void s_message_json(kp_json_t *j, uint64_t seq, const Kp__LogRecord *r,
                           const Kp__LogRecord *o, bool local)
{
    const Kp__LogRecord *end = o ? o : r;
    char when[32];
    kp_logreport_time(r->time_unix_us, when);
    kp_json_object_open(j);
    kp_json_kv_uint(j, "seq", seq);
    kp_json_kv_string(j, "time", when);
    kp_json_kv_string(j, "request_id", r->request_id);
    kp_json_kv_string(j, "message", r->message);
    kp_json_kv_string(j, "person", r->person);
    kp_json_kv_string(j, "institution", r->sender_kbo);
    kp_json_kv_string(j, "user", r->user);
    if (r->has_sector)
        kp_json_kv_uint(j, "sector", r->sector);
    if (r->has_type)
        kp_json_kv_uint(j, "type", r->type);
    if (r->legal_framework)
        kp_json_kv_string(j, "legal_framework", r->legal_framework);
    if (r->has_capacity)
        kp_json_kv_uint(j, "capacity", r->capacity);
    if (s_is_decision(r) && !o) {
        kp_json_kv_string(j, "status", "outcome unknown");
        kp_json_key(j, "outcome");
        kp_json_null(j);
    } else
        kp_json_kv_string(
            j, "status",
            kp_logreport_enum(&kp__status__descriptor, end->has_status ? (int)end->status : 0));
    if (r->has_reason)
        kp_json_kv_string(j, "reason", kp_logreport_enum(&kp__reason__descriptor, (int)r->reason));
    kp_json_key(j, "parts");
    kp_json_array_open(j);
    const Kp__LogRecord *parts = s_is_decision(r) && !o ? r : end;
    for (size_t i = 0; i < parts->n_parts; i++) {
        kp_json_object_open(j);
        kp_json_kv_string(j, "kbo", parts->parts[i]->kbo);
        if (parts->parts[i]->has_status)
            kp_json_kv_string(
                j, "status",
                kp_logreport_enum(&kp__status__descriptor, (int)parts->parts[i]->status));
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    if (end->has_latency_us)
        kp_json_kv_uint(j, "latency_us", end->latency_us);
    if (r->node)
        kp_json_kv_string(j, "node", r->node);
    if (local) {
        kp_json_key(j, "local_only");
        kp_json_bool(j, true);
    }
    kp_json_object_close(j);
}

//  The query's document: the decisions found (oldest first), each joined
//  with its outcome (index NULL: among those found only) and marked when
//  it left on one site only.
//  The keys a query searched: "persons":[...] for a person's numbers
//  (which numbers a merged person's history was gathered from).
typedef struct {
    char tag;
    const char *const *keys;
    size_t count;
} s_keys_t;

static void s_keys_json(kp_json_t *j, const s_keys_t *keys)
{
    if (keys->tag != KP_LOGINDEX_PERSON)
        return;
    kp_json_key(j, "persons");
    kp_json_array_open(j);
    for (size_t i = 0; i < keys->count; i++)
        kp_json_string(j, keys->keys[i]);
    kp_json_array_close(j);
}

static int s_by_seq(const void *a, const void *b)
{
    uint64_t x = ((const s_found_t *)a)->seq, y = ((const s_found_t *)b)->seq;
    return x < y ? -1 : x > y;
}

//  The decisions of several keys' streams in one seq order, each once.
static void s_merge_streams(s_query_t *q)
{
    zlistx_set_comparator(q->decisions, s_by_seq);
    zlistx_sort(q->decisions);
    uint64_t last = 0;
    bool first = true;
    for (s_found_t *d = zlistx_first(q->decisions); d;) {
        bool again = !first && d->seq == last;
        first = false;
        last = d->seq;
        void *cursor = zlistx_cursor(q->decisions);
        d = zlistx_next(q->decisions);
        if (again) {
            zlistx_delete(q->decisions, cursor);
            q->messages--;
        }
    }
}

static char *s_query_json(s_query_t *q, kp_logindex_t *index, const kp_localonly_t *local,
                          uint64_t limit, const s_keys_t *keys)
{
    kp_json_t *j = kp_json_new();
    kp_json_object_open(j);
    s_keys_json(j, keys);
    kp_json_key(j, "records");
    kp_json_array_open(j);
    bool truncated = false;
    uint64_t last = 0;
    for (s_found_t *d = zlistx_first(q->decisions); d; d = zlistx_next(q->decisions)) {
        if (limit && q->count == limit) {
            truncated = true;
            break;
        }
        last = d->seq;
        const s_found_t *found = s_is_decision(d->r) ? s_outcome(q, index, d->seq) : NULL;
        q->unknown += s_is_decision(d->r) && !found;
        q->count++;
        s_message_json(j, d->seq, d->r, found ? found->r : NULL, kp_localonly_has(local, d->seq));
    }
    kp_json_array_close(j);
    kp_json_kv_uint(j, "count", q->count);
    kp_json_kv_uint(j, "outcome_unknown", q->unknown);
    kp_json_kv_uint(j, "missing", q->missing);
    kp_localonly_json(local, j);
    if (truncated) {
        kp_json_key(j, "truncated");
        kp_json_bool(j, true);
        kp_json_kv_uint(j, "next_after", last); //  the next page: after this seq
    }
    kp_json_object_close(j);
    char *text = kp_json_take(j);
    kp_json_destroy(&j);
    return text;
}

char *kp_logreport_query(const char *dir, char tag, const char *key, uint64_t from_us,
                         uint64_t to_us, uint64_t limit, char *err, size_t errlen)
{
    return kp_logreport_query_page(dir, tag, key, from_us, to_us, 0, limit, err, errlen);
}

char *kp_logreport_query_page(const char *dir, char tag, const char *key, uint64_t from_us,
                              uint64_t to_us, uint64_t after, uint64_t limit, char *err,
                              size_t errlen)
{
    return kp_logreport_query_keys(dir, tag, &key, 1, from_us, to_us, after, limit, err, errlen);
}

//  Each key's stream in turn, each cut at one message past the page:
//  the page's first limit + 1 messages overall are among them.
static int64_t s_query_streams(s_query_t *q, kp_logindex_t *index, const s_keys_t *keys,
                               uint64_t from_us, uint64_t to_us)
{
    int64_t n = 0;
    uint64_t total = 0;
    for (size_t i = 0; n >= 0 && i < keys->count; i++) {
        q->messages = 0;
        n = kp_logindex_query(index, keys->tag, keys->keys[i], from_us, to_us, s_query_one, q);
        total += q->messages;
    }
    q->messages = total;
    if (keys->count > 1)
        s_merge_streams(q);
    return n;
}

char *kp_logreport_query_keys(const char *dir, char tag, const char *const *keys, size_t n_keys,
                              uint64_t from_us, uint64_t to_us, uint64_t after, uint64_t limit,
                              char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index", dir);
    kp_logindex_t *index = kp_logindex_open(path, true, 0, err, errlen);
    if (!index)
        return NULL;
    s_query_t q = {.to_us = to_us, .after = after, .limit = limit};
    q.reader = kp_privlog_reader_new(dir, err, errlen);
    if (!q.reader) {
        kp_logindex_destroy(&index);
        return NULL;
    }
    q.decisions = zlistx_new();
    zlistx_set_destructor(q.decisions, s_found_free);
    q.outcomes = zhashx_new();
    zhashx_set_destructor(q.outcomes, s_found_free);
    s_keys_t searched = {tag, keys, n_keys};
    int64_t n = s_query_streams(&q, index, &searched, from_us, to_us);
    //  Which of them left on one site only: the log's LOG_MIRROR records
    //  (few: two per degradation), oldest first.
    s_marks_t marks = {q.reader, kp_localonly_new()};
    if (n >= 0 && kp_logindex_query(index, KP_LOGINDEX_MESSAGE, KP_LOCALONLY_MESSAGE, 0, UINT64_MAX,
                                    s_mark_one, &marks) < 0)
        n = -1;
    char *text = NULL;
    if (n < 0)
        kp_err(err, errlen, "%s", kp_logindex_error(index));
    else
        text = s_query_json(&q, index, marks.local, limit, &searched);
    kp_localonly_destroy(&marks.local);
    zlistx_destroy(&q.decisions);
    zhashx_destroy(&q.outcomes);
    kp_privlog_reader_destroy(&q.reader);
    kp_logindex_destroy(&index);
    return text;
}

//  ---------------------------------------------------------------------
//  Query by a scan (a log without index: a mirror's copy)

typedef struct {
    s_query_t *q;
    const s_keys_t *keys;
    uint64_t from_us;
    zhashx_t *matched; //  seq (text) of the decisions found
    kp_localonly_t *local;
} s_scan_query_t;

static bool s_matches_one(const Kp__LogRecord *r, char tag, const char *key)
{
    if (tag == KP_LOGINDEX_PERSON)
        return r->person && !strcmp(r->person, key);
    if (tag == KP_LOGINDEX_MESSAGE)
        return r->message && !strcmp(r->message, key);
    if (r->sender_kbo && !strcmp(r->sender_kbo, key))
        return true;
    for (size_t i = 0; i < r->n_parts; i++)
        if (r->parts[i]->kbo && !strcmp(r->parts[i]->kbo, key))
            return true;
    return false;
}

static bool s_matches(const Kp__LogRecord *r, const s_keys_t *keys)
{
    for (size_t i = 0; i < keys->count; i++)
        if (s_matches_one(r, keys->tag, keys->keys[i]))
            return true;
    return false;
}

//  The scan's record, kept (the scan frees its own).
static s_found_t *s_keep(const Kp__LogRecord *r, uint64_t seq)
{
    size_t size = kp__log_record__get_packed_size(r);
    uint8_t *buf = malloc(size ? size : 1);
    assert(buf);
    kp__log_record__pack(r, buf);
    s_found_t *found = malloc(sizeof *found);
    assert(found);
    found->seq = seq;
    found->r = kp__log_record__unpack(NULL, size, buf);
    assert(found->r);
    free(buf);
    return found;
}

static int s_scan_query_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_scan_query_t *s = arg;
    kp_localonly_record(s->local, r, seq);
    char key[24];
    if (s_is_outcome(r)) {
        snprintf(key, sizeof key, "%" PRIu64, r->decision_seq);
        if (zhashx_lookup(s->matched, key))
            zhashx_update(s->q->outcomes, key, s_keep(r, seq));
    } else if (seq > s->q->after && (!s->q->limit || s->q->messages <= s->q->limit) &&
               r->time_unix_us >= s->from_us && r->time_unix_us <= s->q->to_us &&
               s_matches(r, s->keys)) {
        //  One past the page is kept: enough to know there is more.
        s->q->messages++;
        snprintf(key, sizeof key, "%" PRIu64, seq);
        zhashx_insert(s->matched, key, (void *)1);
        zlistx_add_end(s->q->decisions, s_keep(r, seq));
    }
    return 0;
}

char *kp_logreport_query_scan(const char *dir, char tag, const char *key, uint64_t from_us,
                              uint64_t to_us, uint64_t limit, char *err, size_t errlen)
{
    return kp_logreport_query_scan_keys(dir, tag, &key, 1, from_us, to_us, 0, limit, err, errlen);
}

char *kp_logreport_query_scan_keys(const char *dir, char tag, const char *const *keys,
                                   size_t n_keys, uint64_t from_us, uint64_t to_us, uint64_t after,
                                   uint64_t limit, char *err, size_t errlen)
{
    s_query_t q = {.to_us = to_us, .after = after, .limit = limit};
    q.decisions = zlistx_new();
    zlistx_set_destructor(q.decisions, s_found_free);
    q.outcomes = zhashx_new();
    zhashx_set_destructor(q.outcomes, s_found_free);
    s_keys_t searched = {tag, keys, n_keys};
    s_scan_query_t s = {&q, &searched, from_us, zhashx_new(), kp_localonly_new()};
    char *text = NULL;
    if (kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_scan_query_one, &s, err, errlen) == 0)
        text = s_query_json(&q, NULL, s.local, limit, &searched);
    zhashx_destroy(&s.matched);
    kp_localonly_destroy(&s.local);
    zlistx_destroy(&q.decisions);
    zhashx_destroy(&q.outcomes);
    return text;
}

//  ---------------------------------------------------------------------
//  Stats

typedef struct {
    zhash_t *messages, *institutions, *reasons;
    uint64_t total, denied;
    kp_logjoin_t *join;
    kp_localonly_t *local;
    uint64_t from_us, to_us;
} s_stats_t;

static void s_count(zhash_t *hash, const char *key)
{
    if (!key)
        key = "-";
    uint64_t *n = zhash_lookup(hash, key);
    if (!n) {
        n = calloc(1, sizeof *n);
        assert(n);
        zhash_insert(hash, key, n);
        zhash_freefn(hash, key, free);
    }
    (*n)++;
}

static int s_stats_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_stats_t *s = arg;
    if (r->time_unix_us < s->from_us || r->time_unix_us > s->to_us)
        return 0;
    kp_logjoin_record(s->join, r, seq);
    kp_localonly_record(s->local, r, seq);
    if (s_is_outcome(r) || kp_localonly_is_marker(r))
        return 0; //  an outcome is counted with its decision: one message
    s->total++;
    s_count(s->messages, r->message);
    s_count(s->institutions, r->sender_kbo);
    if (r->has_status && r->status == KP__STATUS__DENIED) {
        s->denied++;
        s_count(s->reasons,
                kp_logreport_enum(&kp__reason__descriptor, r->has_reason ? (int)r->reason : 0));
    }
    return 0;
}

static void s_counts_json(kp_json_t *j, const char *title, zhash_t *hash)
{
    zlist_t *keys = zhash_keys(hash);
    zlist_sort(keys, NULL);
    kp_json_key(j, title);
    kp_json_object_open(j);
    for (char *k = zlist_first(keys); k; k = zlist_next(keys))
        kp_json_kv_uint(j, k, *(uint64_t *)zhash_lookup(hash, k));
    kp_json_object_close(j);
    zlist_destroy(&keys);
}

char *kp_logreport_stats(const char *dir, int32_t from_day, int32_t to_day, char *err,
                         size_t errlen)
{
    s_stats_t s = {.messages = zhash_new(), .institutions = zhash_new(), .reasons = zhash_new()};
    s.from_us = from_day != INT32_MIN ? (uint64_t)from_day * 86400000000ull : 0;
    s.to_us = to_day != INT32_MAX ? ((uint64_t)to_day + 1) * 86400000000ull - 1 : UINT64_MAX;
    s.join = kp_logjoin_new();
    s.local = kp_localonly_new();
    char *text = NULL;
    if (kp_privlog_scan(dir, from_day, to_day, s_stats_one, &s, err, errlen) == 0) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_kv_uint(j, "records", s.total);
        kp_json_kv_uint(j, "denied", s.denied);
        kp_json_kv_uint(j, "outcome_unknown", kp_logjoin_unknown(s.join));
        s_counts_json(j, "messages", s.messages);
        s_counts_json(j, "institutions", s.institutions);
        s_counts_json(j, "denials", s.reasons);
        kp_localonly_json(s.local, j);
        kp_json_object_close(j);
        text = kp_json_take(j);
        kp_json_destroy(&j);
    }
    zhash_destroy(&s.messages);
    zhash_destroy(&s.institutions);
    zhash_destroy(&s.reasons);
    kp_logjoin_destroy(&s.join);
    kp_localonly_destroy(&s.local);
    return text;
}
