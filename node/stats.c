/*  stats.c - a node's counters and latency distribution. */
#include "stats.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "buckets.h"
#include "control.h"
#include "histogram.h"
#include "idmap.h"
#include "prom.h"

#define KP_REASONS 64
#define KP_STATUSES 16

typedef struct {
    char name[KP_CONTROL_MAX_NAME + 1];
    uint64_t hash;
    uint64_t by_status[KP_STATUSES];
    kp_buckets_t latency; //  microseconds
} s_message_t;

struct _kp_stats_t {
    uint64_t total;
    uint64_t by_status[KP_STATUSES];
    uint64_t by_reason[KP_REASONS];
    uint64_t by_status_reason[KP_STATUSES][KP_REASONS];
    uint64_t bad_client[KP_REASONS];
    uint64_t bad_worker[KP_REASONS];
    kp_histogram_t *latency;         //  microseconds
    kp_buckets_t online, integrated; //  microseconds
    //  Entries are allocated one by one, so that the map's pointers stay
    //  good; the last one, once the table is full, is "other".
    s_message_t *messages[KP_STATS_MESSAGES + 1];
    size_t message_count;
    kp_idmap_t *by_message; //  NULL in a copy
    uint64_t refused[KP_LIMIT_COUNT];
    uint64_t connections_open;
};

kp_stats_t *kp_stats_new(void)
{
    kp_stats_t *self = calloc(1, sizeof *self);
    assert(self);
    self->latency = kp_histogram_new();
    self->by_message = kp_idmap_new(64);
    assert(self->latency && self->by_message);
    kp_buckets_init_latency(&self->online);
    kp_buckets_init_latency(&self->integrated);
    return self;
}

void kp_stats_destroy(kp_stats_t **self_p)
{
    if (self_p && *self_p) {
        kp_stats_t *self = *self_p;
        kp_histogram_destroy(&self->latency);
        kp_idmap_destroy(&self->by_message);
        for (size_t i = 0; i < self->message_count; i++)
            free(self->messages[i]);
        free(self);
        *self_p = NULL;
    }
}

kp_stats_t *kp_stats_copy(const kp_stats_t *self)
{
    kp_stats_t *copy = malloc(sizeof *copy);
    assert(copy);
    *copy = *self;
    copy->by_message = NULL;
    copy->latency = kp_histogram_new();
    assert(copy->latency);
    kp_histogram_merge(copy->latency, self->latency);
    for (size_t i = 0; i < self->message_count; i++) {
        copy->messages[i] = malloc(sizeof(s_message_t));
        assert(copy->messages[i]);
        *copy->messages[i] = *self->messages[i];
    }
    return copy;
}

static bool s_message_match(const void *value, const void *key)
{
    return strcmp(((const s_message_t *)value)->name, (const char *)key) == 0;
}

//  The entry of message, made on first sight; "other" past the table.
static s_message_t *s_message(kp_stats_t *self, const char *message)
{
    assert(self->by_message); //  never record into a copy
    uint64_t hash = kp_idmap_hash_str(message);
    s_message_t *entry = kp_idmap_get(self->by_message, hash, message, s_message_match);
    if (entry)
        return entry;
    if (self->message_count > KP_STATS_MESSAGES)
        return self->messages[KP_STATS_MESSAGES];
    bool full = self->message_count == KP_STATS_MESSAGES;
    entry = calloc(1, sizeof *entry);
    assert(entry);
    snprintf(entry->name, sizeof entry->name, "%s", full ? "other" : message);
    entry->hash = hash;
    kp_buckets_init_latency(&entry->latency);
    if (!full && kp_idmap_insert(self->by_message, hash, entry)) {
        free(entry); //  the map is out of memory: not counted per type
        return NULL;
    }
    self->messages[self->message_count++] = entry;
    return entry;
}

void kp_stats_request(kp_stats_t *self, Kp__Status status, Kp__Reason reason, const char *message,
                      size_t parts, uint64_t latency_us)
{
    unsigned s = (unsigned)status % KP_STATUSES, r = (unsigned)reason % KP_REASONS;
    self->total++;
    self->by_status[s]++;
    self->by_reason[r]++;
    self->by_status_reason[s][r]++;
    kp_histogram_record(self->latency, latency_us);
    kp_buckets_record(parts > 1 ? &self->integrated : &self->online, latency_us);
    s_message_t *entry = message && *message ? s_message(self, message) : NULL;
    if (entry) {
        entry->by_status[s]++;
        kp_buckets_record(&entry->latency, latency_us);
    }
}

void kp_stats_bad_frame(kp_stats_t *self, const char *source, Kp__Reason reason)
{
    uint64_t *table = !strcmp(source, "worker") ? self->bad_worker : self->bad_client;
    table[(unsigned)reason % KP_REASONS]++;
}

uint64_t kp_stats_percentile(kp_stats_t *self, double p)
{
    return kp_histogram_percentile(self->latency, p);
}

static void s_reason_table(kp_json_t *json, const char *key, const uint64_t *table)
{
    kp_json_key(json, key);
    kp_json_object_open(json);
    for (int i = 1; i < KP_REASONS; i++)
        if (table[i])
            kp_json_kv_uint(json, kp_reason_name((Kp__Reason)i), table[i]);
    kp_json_object_close(json);
}

void kp_stats_json(kp_stats_t *self, kp_json_t *json)
{
    kp_json_kv_uint(json, "requests", self->total);
    kp_json_key(json, "by_status");
    kp_json_object_open(json);
    for (int i = 1; i < KP_STATUSES; i++)
        if (self->by_status[i])
            kp_json_kv_uint(json, kp_status_name((Kp__Status)i), self->by_status[i]);
    kp_json_object_close(json);
    s_reason_table(json, "by_reason", self->by_reason);
    kp_json_key(json, "bad_frames");
    kp_json_object_open(json);
    s_reason_table(json, "client", self->bad_client);
    s_reason_table(json, "worker", self->bad_worker);
    kp_json_object_close(json);
    kp_json_key(json, "latency_us");
    kp_json_object_open(json);
    static const double points[] = {50, 90, 99, 99.9};
    static const char *names[] = {"p50", "p90", "p99", "p99.9"};
    for (size_t i = 0; i < 4; i++)
        kp_json_kv_uint(json, names[i], kp_stats_percentile(self, points[i]));
    kp_json_kv_uint(json, "max", kp_histogram_max(self->latency));
    kp_json_object_close(json);
}

//  ---------------------------------------------------------------------
//  Prometheus

static void s_prom_requests(const kp_stats_t *self, FILE *out)
{
    kp_prom_family(out, "kp_requests_total", "counter",
                   "Requests answered, by status and reason (NONE: no reason).");
    for (int s = 1; s < KP_STATUSES; s++)
        for (int r = 0; r < KP_REASONS; r++)
            if (self->by_status_reason[s][r]) {
                char labels[KP_PROM_LABELS] = "";
                kp_prom_label(labels, sizeof labels, "status", kp_status_name((Kp__Status)s));
                kp_prom_label(labels, sizeof labels, "reason",
                              r ? kp_reason_name((Kp__Reason)r) : "NONE");
                kp_prom_uint(out, "kp_requests_total", labels, self->by_status_reason[s][r]);
            }
    kp_prom_family(out, "kp_request_duration_seconds", "histogram",
                   "Time from a request's arrival to its answer, online (one provider) or "
                   "integrated (several); the service levels are 1 s, 2 s (online) and 4 s "
                   "(integrated).");
    kp_prom_histogram(out, "kp_request_duration_seconds", "kind=\"online\"", &self->online, 1e-6);
    kp_prom_histogram(out, "kp_request_duration_seconds", "kind=\"integrated\"", &self->integrated,
                      1e-6);
}

static void s_prom_messages(const kp_stats_t *self, FILE *out)
{
    kp_prom_family(out, "kp_message_requests_total", "counter",
                   "Requests answered per message type and status (invalid requests are not "
                   "counted here).");
    for (size_t i = 0; i < self->message_count; i++)
        for (int s = 1; s < KP_STATUSES; s++)
            if (self->messages[i]->by_status[s]) {
                char labels[KP_PROM_LABELS] = "";
                kp_prom_label(labels, sizeof labels, "message", self->messages[i]->name);
                kp_prom_label(labels, sizeof labels, "status", kp_status_name((Kp__Status)s));
                kp_prom_uint(out, "kp_message_requests_total", labels,
                             self->messages[i]->by_status[s]);
            }
    kp_prom_family(out, "kp_message_duration_seconds", "histogram",
                   "Time from a request's arrival to its answer, per message type.");
    for (size_t i = 0; i < self->message_count; i++) {
        char labels[KP_PROM_LABELS] = "";
        kp_prom_label(labels, sizeof labels, "message", self->messages[i]->name);
        kp_prom_histogram(out, "kp_message_duration_seconds", labels, &self->messages[i]->latency,
                          1e-6);
    }
}

static void s_prom_bad_frames(const kp_stats_t *self, FILE *out)
{
    kp_prom_family(out, "kp_bad_frames_total", "counter",
                   "Frames refused from clients or workers, by reason.");
    for (int side = 0; side < 2; side++) {
        const uint64_t *table = side ? self->bad_worker : self->bad_client;
        for (int r = 1; r < KP_REASONS; r++)
            if (table[r]) {
                char labels[KP_PROM_LABELS] = "";
                kp_prom_label(labels, sizeof labels, "source", side ? "worker" : "client");
                kp_prom_label(labels, sizeof labels, "reason", kp_reason_name((Kp__Reason)r));
                kp_prom_uint(out, "kp_bad_frames_total", labels, table[r]);
            }
    }
}

static void s_prom_limits(const kp_stats_t *self, FILE *out)
{
    static const char *names[KP_LIMIT_COUNT] = {"max-connections", "max-in-flight", "max-deadline",
                                                "max-waiting",     "max-hello",     "max-workers",
                                                "max-concurrency"};
    kp_prom_family(out, "kp_limit_refused_total", "counter",
                   "Refusals by the node's limits (the cluster file's \"limits\").");
    for (int i = 0; i < KP_LIMIT_COUNT; i++) {
        char labels[KP_PROM_LABELS] = "";
        kp_prom_label(labels, sizeof labels, "limit", names[i]);
        kp_prom_uint(out, "kp_limit_refused_total", labels, self->refused[i]);
    }
    kp_prom_family(out, "kp_connections", "gauge",
                   "Clients and workers connected (max-connections bounds it).");
    kp_prom_uint(out, "kp_connections", "", self->connections_open);
}

void kp_stats_prometheus(const kp_stats_t *self, FILE *out)
{
    s_prom_requests(self, out);
    s_prom_messages(self, out);
    s_prom_bad_frames(self, out);
    s_prom_limits(self, out);
}

void kp_stats_refused(kp_stats_t *self, kp_limit_t limit)
{
    assert(limit < KP_LIMIT_COUNT);
    self->refused[limit]++;
}

void kp_stats_connections(kp_stats_t *self, uint64_t open, uint64_t refused)
{
    self->connections_open = open;
    self->refused[KP_LIMIT_CONNECTIONS] = refused;
}

static void s_limit_json(kp_json_t *json, const char *name, uint64_t max, uint64_t refused,
                         const char *reason)
{
    kp_json_key(json, name);
    kp_json_object_open(json);
    kp_json_kv_uint(json, "max", max);
    kp_json_kv_uint(json, "refused", refused);
    if (reason)
        kp_json_kv_string(json, "reason", reason);
    kp_json_object_close(json);
}

void kp_stats_limits_json(kp_stats_t *self, kp_json_t *json, const kp_limits_config_t *limits,
                          uint64_t file_limit)
{
    const uint64_t *r = self->refused;
    kp_json_key(json, "limits");
    kp_json_object_open(json);
    kp_json_kv_uint(json, "files", file_limit);
    kp_json_kv_uint(json, "connections", self->connections_open);
    s_limit_json(json, "max-connections", limits->max_connections, r[KP_LIMIT_CONNECTIONS], NULL);
    s_limit_json(json, "max-in-flight", limits->max_in_flight, r[KP_LIMIT_IN_FLIGHT],
                 "TOO_MANY_IN_FLIGHT");
    s_limit_json(json, "max-deadline", limits->max_deadline_ms, r[KP_LIMIT_DEADLINE],
                 "DEADLINE_TOO_LONG");
    s_limit_json(json, "max-waiting", limits->max_waiting, r[KP_LIMIT_WAITING], "QUEUE_FULL");
    s_limit_json(json, "max-hello", limits->max_hello, r[KP_LIMIT_HELLO], "HELLO_TOO_LARGE");
    s_limit_json(json, "max-workers", limits->max_workers, r[KP_LIMIT_WORKERS], "TOO_MANY_WORKERS");
    s_limit_json(json, "max-concurrency", limits->max_concurrency, r[KP_LIMIT_CONCURRENCY],
                 "CONCURRENCY_TOO_HIGH");
    kp_json_object_close(json);
}
