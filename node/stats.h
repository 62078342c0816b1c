/*  stats.h - a node's counters and latency distribution since start.

    Counts requests by status and by reason, bad frames by kind, and keeps
    the latency distribution in a log-linear histogram (histogram.h: within
    0.8%, fixed memory, a few instructions per record on the hot path).
*/
#ifndef KP_STATS_H_INCLUDED
#define KP_STATS_H_INCLUDED

#include <stdint.h>

#include "json.h"
#include "kruispunt.pb-c.h"

typedef struct _kp_stats_t kp_stats_t;

kp_stats_t *kp_stats_new(void);
void kp_stats_destroy(kp_stats_t **self_p);

//  One answered request.
void kp_stats_request(kp_stats_t *self, Kp__Status status, Kp__Reason reason, uint64_t latency_us);

//  One refused frame (client or worker side), by reason.
void kp_stats_bad_frame(kp_stats_t *self, const char *source, Kp__Reason reason);

//  Latency at percentile p (0-100), in microseconds.
uint64_t kp_stats_percentile(kp_stats_t *self, double p);

//  Writes "requests", "by_status", "by_reason", "bad_frames" and
//  "latency_us" members into the open JSON object.
void kp_stats_json(kp_stats_t *self, kp_json_t *json);

#endif
