/*  metrics.h - one snapshot of a node's state, as the routing loop hands
    it to the metrics endpoint (httpd.h), and its Prometheus text.

    The routing loop fills a snapshot with a copy of its counters
    (stats.h), the log's group-commit figures and the gauges and
    conditions it reads, then hands it over; from then on the HTTP thread
    owns it and only reads it. Nothing is shared between the two threads.

    Hook for later parts of the node (the cluster's role, term, commit
    lag and mirror lag; quorum): where node.c fills the snapshot
    (s_publish), add

        kp_metrics_gauge (m, "kp_cluster_term", "The consensus term.", NULL, term);
        kp_metrics_condition (m, "quorum", has_quorum);

    A gauge appears in /metrics; a condition in /readyz (ready only when
    every condition holds) and as kp_ready{condition="quorum"} 0 or 1.

    One thread at a time: built on the routing thread, read on the HTTP
    thread after the hand-over.
*/
#ifndef KP_METRICS_H_INCLUDED
#define KP_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buckets.h"
#include "stats.h"

typedef struct _kp_metrics_t kp_metrics_t;

//  A snapshot of node name, taken at mono_ms (zclock_mono).
kp_metrics_t *kp_metrics_new(const char *node, int64_t mono_ms);
void kp_metrics_destroy(kp_metrics_t **self_p);

//  Takes the counters (a kp_stats_copy) over.
void kp_metrics_set_stats(kp_metrics_t *self, kp_stats_t **stats_p);

//  The privacy log's group commits: their time (microseconds) and size
//  (records). Copied.
void kp_metrics_set_log(kp_metrics_t *self, const kp_buckets_t *commit_us,
                        const kp_buckets_t *batch);

//  A gauge sample; labels is NULL or a label set made with kp_prom_label.
//  Samples of one name are written together, under the first one's help.
void kp_metrics_gauge(kp_metrics_t *self, const char *name, const char *help, const char *labels,
                      double value);

//  A counter's sample (its family typed "counter"), as a gauge above:
//  for counts kept elsewhere that only grow.
void kp_metrics_counter(kp_metrics_t *self, const char *name, const char *help, const char *labels,
                        double value);

//  One live worker of institution kbo, taking concurrency requests at
//  once, outstanding of them now.
void kp_metrics_worker(kp_metrics_t *self, const char *kbo, uint32_t concurrency,
                       uint32_t outstanding);

//  A condition of readiness (directory, log, not_stopping; later quorum).
void kp_metrics_condition(kp_metrics_t *self, const char *name, bool ok);

//  When the snapshot was taken (zclock_mono milliseconds).
int64_t kp_metrics_time(const kp_metrics_t *self);

//  True when every condition holds. Writes one line per condition,
//  "name ok" or "name failing", to out when out is not NULL.
bool kp_metrics_ready(const kp_metrics_t *self, FILE *out);

//  Writes every family of the snapshot in the Prometheus text format.
void kp_metrics_write(const kp_metrics_t *self, FILE *out);

//  Writes the process_* families Prometheus clients conventionally
//  export (CPU seconds, resident memory, open and allowed files, start
//  time), read from /proc and getrusage at the time of the call.
void kp_metrics_write_process(FILE *out);

#endif
