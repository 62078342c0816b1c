/*  histogram.c - log-linear latency histogram. */
#include "histogram.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  Buckets: indices 0..255 hold the values 0..255 exactly. A value v >= 256
//  with highest set bit m (8..39) falls in half-open range [2^m, 2^(m+1)),
//  cut into 128 sub-buckets of width 2^(m-7).
#define S_LINEAR 256
#define S_SUB_BITS 7
#define S_SUB (1 << S_SUB_BITS)
#define S_TOP_BIT 40
#define S_BUCKETS (S_LINEAR + (S_TOP_BIT - 8) * S_SUB)

struct _kp_histogram_t {
    uint64_t counts[S_BUCKETS];
    uint64_t total;
    uint64_t clamped;
    uint64_t min, max;
    long double sum;
};

static int s_highest_bit(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static size_t s_index(uint64_t v)
{
    if (v < S_LINEAR)
        return (size_t)v;
    int m = s_highest_bit(v);
    int shift = m - S_SUB_BITS;
    size_t sub = (size_t)(v >> shift) - S_SUB; //  0..127
    return S_LINEAR + (size_t)(m - 8) * S_SUB + sub;
}

//  Lowest and highest value that fall in bucket index.
static void s_bounds(size_t index, uint64_t *low, uint64_t *high)
{
    if (index < S_LINEAR) {
        *low = *high = index;
        return;
    }
    size_t rel = index - S_LINEAR;
    int m = (int)(rel / S_SUB) + 8;
    uint64_t sub = rel % S_SUB + S_SUB;
    int shift = m - S_SUB_BITS;
    *low = sub << shift;
    *high = ((sub + 1) << shift) - 1;
}

kp_histogram_t *kp_histogram_new(void)
{
    kp_histogram_t *self = calloc(1, sizeof *self);
    assert(self);
    return self;
}

void kp_histogram_destroy(kp_histogram_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_histogram_record_n(kp_histogram_t *self, uint64_t value, uint64_t count)
{
    if (count == 0)
        return;
    if (value > KP_HISTOGRAM_MAX_VALUE) {
        value = KP_HISTOGRAM_MAX_VALUE;
        self->clamped += count;
    }
    self->counts[s_index(value)] += count;
    if (self->total == 0 || value < self->min)
        self->min = value;
    if (value > self->max)
        self->max = value;
    self->total += count;
    self->sum += (long double)value * count;
}

void kp_histogram_record(kp_histogram_t *self, uint64_t value)
{
    kp_histogram_record_n(self, value, 1);
}

void kp_histogram_merge(kp_histogram_t *self, const kp_histogram_t *src)
{
    if (src->total == 0)
        return;
    for (size_t i = 0; i < S_BUCKETS; i++)
        self->counts[i] += src->counts[i];
    if (self->total == 0 || src->min < self->min)
        self->min = src->min;
    if (src->max > self->max)
        self->max = src->max;
    self->total += src->total;
    self->clamped += src->clamped;
    self->sum += src->sum;
}

void kp_histogram_reset(kp_histogram_t *self)
{
    memset(self, 0, sizeof *self);
}

uint64_t kp_histogram_count(const kp_histogram_t *self)
{
    return self->total;
}

uint64_t kp_histogram_clamped(const kp_histogram_t *self)
{
    return self->clamped;
}

uint64_t kp_histogram_min(const kp_histogram_t *self)
{
    return self->min;
}

uint64_t kp_histogram_max(const kp_histogram_t *self)
{
    return self->max;
}

double kp_histogram_mean(const kp_histogram_t *self)
{
    return self->total ? (double)(self->sum / self->total) : 0.0;
}

uint64_t kp_histogram_percentile(const kp_histogram_t *self, double percentile)
{
    if (self->total == 0)
        return 0;
    if (percentile <= 0)
        return self->min;
    if (percentile >= 100)
        return self->max;
    //  Rank of the wanted value, 1-based: ceil(p/100 * n), at least 1.
    uint64_t rank = (uint64_t)ceill((long double)percentile / 100.0L * self->total);
    if (rank < 1)
        rank = 1;
    if (rank > self->total)
        rank = self->total;
    uint64_t seen = 0;
    for (size_t i = 0; i < S_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank) {
            uint64_t low, high;
            s_bounds(i, &low, &high);
            if (high > self->max)
                high = self->max;
            return high < self->min ? self->min : high;
        }
    }
    return self->max;
}

double kp_histogram_fraction_below(const kp_histogram_t *self, uint64_t value)
{
    if (self->total == 0)
        return 1.0;
    if (value > KP_HISTOGRAM_MAX_VALUE)
        value = KP_HISTOGRAM_MAX_VALUE;
    size_t last = s_index(value);
    uint64_t seen = 0;
    for (size_t i = 0; i <= last; i++)
        seen += self->counts[i];
    return (double)seen / (double)self->total;
}

int kp_histogram_selftest(void)
{
    //  Every bucket's bounds map back to the bucket, and buckets tile the
    //  range without gaps.
    uint64_t expect_low = 0;
    for (size_t i = 0; i < S_BUCKETS; i++) {
        uint64_t low, high;
        s_bounds(i, &low, &high);
        if (low != expect_low || s_index(low) != i || s_index(high) != i || high < low)
            return -1;
        expect_low = high + 1;
    }
    return expect_low == KP_HISTOGRAM_MAX_VALUE + 1 ? 0 : -1;
}
