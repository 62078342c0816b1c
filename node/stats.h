/*  stats.h - a node's counters and latency distribution since start.

    Counts requests by status and by reason, by message type, bad frames
    by kind, and keeps the latency distribution twice: in a log-linear
    histogram (histogram.h: percentiles for kpctl status, within 0.8%) and
    in fixed buckets (buckets.h: the service levels' 1 s, 2 s and 4 s, for
    Prometheus), for online and integrated requests and per message type.

    The routing loop owns the counters; kp_stats_copy hands a copy to
    another thread (the metrics endpoint), which only reads it.
*/
#ifndef KP_STATS_H_INCLUDED
#define KP_STATS_H_INCLUDED

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "json.h"
#include "kruispunt.pb-c.h"

typedef struct _kp_stats_t kp_stats_t;

//  Message types counted one by one; requests of further types are
//  counted under the message type "other" (the label set stays bounded).
#define KP_STATS_MESSAGES 1024

kp_stats_t *kp_stats_new(void);
void kp_stats_destroy(kp_stats_t **self_p);

//  A copy for reading on another thread (kp_stats_json, kp_stats_prometheus,
//  kp_stats_percentile); recording into it is a programming error.
kp_stats_t *kp_stats_copy(const kp_stats_t *self);

//  One answered request. message is the request's message type, or NULL
//  when the request was invalid (its type then names nothing that is
//  known, and could be anything a caller sent). parts > 1 makes it an
//  integrated service.
void kp_stats_request(kp_stats_t *self, Kp__Status status, Kp__Reason reason, const char *message,
                      size_t parts, uint64_t latency_us);

//  One refused frame (client or worker side), by reason.
void kp_stats_bad_frame(kp_stats_t *self, const char *source, Kp__Reason reason);

//  Latency at percentile p (0-100), in microseconds.
uint64_t kp_stats_percentile(kp_stats_t *self, double p);

//  Writes "requests", "by_status", "by_reason", "bad_frames" and
//  "latency_us" members into the open JSON object.
void kp_stats_json(kp_stats_t *self, kp_json_t *json);

//  Writes the families kp_requests_total{status,reason},
//  kp_message_requests_total{message,status},
//  kp_request_duration_seconds{kind}, kp_message_duration_seconds{message}
//  kp_bad_frames_total{source,reason}, kp_limit_refused_total{limit} and
//  kp_connections in the Prometheus text format.
void kp_stats_prometheus(const kp_stats_t *self, FILE *out);

//  The node's limits (config.h, section "limits"): each refusal counted
//  by the limit it enforces.
typedef enum {
    KP_LIMIT_CONNECTIONS, //  a connection closed at once: max-connections were open
    KP_LIMIT_IN_FLIGHT,   //  TOO_MANY_IN_FLIGHT
    KP_LIMIT_DEADLINE,    //  DEADLINE_TOO_LONG
    KP_LIMIT_WAITING,     //  QUEUE_FULL
    KP_LIMIT_HELLO,       //  HELLO_TOO_LARGE
    KP_LIMIT_WORKERS,     //  TOO_MANY_WORKERS
    KP_LIMIT_CONCURRENCY, //  CONCURRENCY_TOO_HIGH
    KP_LIMIT_COUNT
} kp_limit_t;

void kp_stats_refused(kp_stats_t *self, kp_limit_t limit);

//  What the connection guard (conns.h) reports: connections open now and
//  refused since start (the guard counts those itself, in its thread).
void kp_stats_connections(kp_stats_t *self, uint64_t open, uint64_t refused);

//  Writes a "limits" member: for each limit its value and how often it
//  refused, with the open connections and the file limit.
void kp_stats_limits_json(kp_stats_t *self, kp_json_t *json, const kp_limits_config_t *limits,
                          uint64_t file_limit);

#endif
