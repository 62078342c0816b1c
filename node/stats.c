/*  stats.c - a node's counters and latency distribution. */
#include "stats.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "histogram.h"

#define KP_REASONS 64
#define KP_STATUSES 16

struct _kp_stats_t {
    uint64_t total;
    uint64_t by_status[KP_STATUSES];
    uint64_t by_reason[KP_REASONS];
    uint64_t bad_client[KP_REASONS];
    uint64_t bad_worker[KP_REASONS];
    kp_histogram_t *latency; //  microseconds
};

kp_stats_t *kp_stats_new(void)
{
    kp_stats_t *self = calloc(1, sizeof *self);
    assert(self);
    self->latency = kp_histogram_new();
    assert(self->latency);
    return self;
}

void kp_stats_destroy(kp_stats_t **self_p)
{
    if (self_p && *self_p) {
        kp_histogram_destroy(&(*self_p)->latency);
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_stats_request(kp_stats_t *self, Kp__Status status, Kp__Reason reason, uint64_t latency_us)
{
    self->total++;
    self->by_status[(unsigned)status % KP_STATUSES]++;
    self->by_reason[(unsigned)reason % KP_REASONS]++;
    kp_histogram_record(self->latency, latency_us);
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
