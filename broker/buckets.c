/*  buckets.c - counts over fixed upper bounds; see buckets.h. */
#include "buckets.h"

#include <string.h>

static const uint64_t s_latency_us[] = {100,     250,     500,     1000,   2500,   5000,
                                        10000,   25000,   50000,   100000, 250000, 500000,
                                        1000000, 2000000, 4000000, 8000000};

static const uint64_t s_sizes[] = {1,   2,    4,    8,    16,   32,    64,    128,  256,
                                   512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

static void s_init(kp_buckets_t *self, const uint64_t *bounds, size_t n)
{
    memset(self, 0, sizeof *self);
    self->bounds = bounds;
    self->n = n;
}

void kp_buckets_init_latency(kp_buckets_t *self)
{
    s_init(self, s_latency_us, sizeof s_latency_us / sizeof s_latency_us[0]);
}

void kp_buckets_init_sizes(kp_buckets_t *self)
{
    s_init(self, s_sizes, sizeof s_sizes / sizeof s_sizes[0]);
}

void kp_buckets_record(kp_buckets_t *self, uint64_t value)
{
    //  A binary search would save nothing over 16 bounds that sit in one
    //  cache line or two, and most values land in the first few.
    size_t i = 0;
    while (i < self->n && value > self->bounds[i])
        i++;
    self->counts[i]++;
    self->count++;
    self->sum += value;
}

uint64_t kp_buckets_cumulative(const kp_buckets_t *self, size_t index)
{
    if (index >= self->n)
        return self->count;
    uint64_t total = 0;
    for (size_t i = 0; i <= index; i++)
        total += self->counts[i];
    return total;
}
