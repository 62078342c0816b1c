/*  histogram.h - a log-linear latency histogram, in the manner of
    HdrHistogram.

    Values are microseconds from 0 to 2^40 us (about 12 days); larger
    values are clamped and counted as such. Values below 256 us are kept
    exactly; above, each power of two is cut into 128 equal buckets, so a
    reported value is within 1/128 (0.8%) of the true one. Fixed memory
    (about 36 KiB), no allocation while recording, O(1) record.

    Not thread-safe: keep one per thread and merge them at the end.
*/
#ifndef KP_HISTOGRAM_H_INCLUDED
#define KP_HISTOGRAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _kp_histogram_t kp_histogram_t;

//  Largest value kept as itself; larger ones are recorded as this.
#define KP_HISTOGRAM_MAX_VALUE ((UINT64_C(1) << 40) - 1)

//  Relative precision of any reported value (upper bound).
#define KP_HISTOGRAM_PRECISION (1.0 / 128.0)

kp_histogram_t *kp_histogram_new(void);
void kp_histogram_destroy(kp_histogram_t **self_p);

//  Records value (microseconds) once, or count times.
void kp_histogram_record(kp_histogram_t *self, uint64_t value);
void kp_histogram_record_n(kp_histogram_t *self, uint64_t value, uint64_t count);

//  Adds every value of src to self.
void kp_histogram_merge(kp_histogram_t *self, const kp_histogram_t *src);
void kp_histogram_reset(kp_histogram_t *self);

uint64_t kp_histogram_count(const kp_histogram_t *self);
//  Values clamped to KP_HISTOGRAM_MAX_VALUE.
uint64_t kp_histogram_clamped(const kp_histogram_t *self);
//  Exact smallest and largest recorded values; 0 when empty.
uint64_t kp_histogram_min(const kp_histogram_t *self);
uint64_t kp_histogram_max(const kp_histogram_t *self);
//  Exact mean of the recorded values; 0 when empty.
double kp_histogram_mean(const kp_histogram_t *self);

//  The value at percentile (0..100]: the smallest v such that at least
//  percentile% of the recorded values are <= v, to within the precision
//  (the highest value of v's bucket, never above the largest recorded
//  value). 0 when empty; percentile <= 0 gives the minimum.
uint64_t kp_histogram_percentile(const kp_histogram_t *self, double percentile);

//  Fraction (0..1) of recorded values <= value, to within one bucket:
//  values in value's own bucket count as <= value. 1 when empty.
double kp_histogram_fraction_below(const kp_histogram_t *self, uint64_t value);

//  Self-test: returns 0 if the bucket arithmetic holds.
int kp_histogram_selftest(void);

#endif
