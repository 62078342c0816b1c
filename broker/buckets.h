/*  buckets.h - counts over fixed upper bounds, the shape of a Prometheus
    histogram.

    The log-linear histogram (histogram.h) answers percentiles; this one
    answers "how many within 1 s", exactly, for the bounds that the
    service levels name, in a few hundred bytes, so that one can be kept
    per message type and copied whole into a snapshot. A value is counted
    in the first bucket whose bound is >= the value, or in the overflow
    bucket above the last bound. Plain data: copy it by assignment.

    Not thread-safe: one writer; hand copies to readers.
*/
#ifndef KP_BUCKETS_H_INCLUDED
#define KP_BUCKETS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define KP_BUCKETS_MAX 24

typedef struct {
    const uint64_t *bounds; //  ascending upper bounds (static tables below)
    size_t n;
    uint64_t counts[KP_BUCKETS_MAX + 1]; //  counts[n]: above the last bound
    uint64_t count;
    uint64_t sum;
} kp_buckets_t;

//  Latencies in microseconds: 100 us to 8 s, with 1 s, 2 s and 4 s (the
//  service levels) among the bounds.
void kp_buckets_init_latency(kp_buckets_t *self);

//  Sizes: 1, 2, 4, ... 65536.
void kp_buckets_init_sizes(kp_buckets_t *self);

void kp_buckets_record(kp_buckets_t *self, uint64_t value);

//  Values <= bound (a bound of the table), cumulative as Prometheus
//  wants; count for a bound above the last.
uint64_t kp_buckets_cumulative(const kp_buckets_t *self, size_t index);

#endif
