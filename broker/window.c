/*  window.c - the latest latencies of one peer, and their 99th percentile. */
#include "window.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_RECOMPUTE (KP_WINDOW_SIZE / 8)

struct _kp_window_t {
    uint32_t values[KP_WINDOW_SIZE];
    size_t count; //  values held
    size_t next;  //  slot of the next value
    size_t fresh; //  values added since p99 was worked out
    uint32_t p99;
    bool known; //  p99 holds for the values (bar fresh ones)
};

kp_window_t *kp_window_new(void)
{
    return calloc(1, sizeof(kp_window_t));
}

void kp_window_destroy(kp_window_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_window_add(kp_window_t *self, uint32_t value)
{
    self->values[self->next] = value;
    self->next = (self->next + 1) % KP_WINDOW_SIZE;
    if (self->count < KP_WINDOW_SIZE)
        self->count++;
    self->fresh++;
}

size_t kp_window_count(const kp_window_t *self)
{
    return self->count;
}

//  The k-th smallest (from 0) of v[0..n), reordering v (Hoare's select).
static uint32_t s_select(uint32_t *v, long n, long k)
{
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                uint32_t t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        //  Now v[lo..j] <= pivot <= v[i..hi], and j < i.
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

uint32_t kp_window_p99(kp_window_t *self)
{
    if (self->count == 0)
        return 0;
    //  Early on every value counts; later, every S_RECOMPUTE-th.
    if (self->known && self->fresh < S_RECOMPUTE && self->count == KP_WINDOW_SIZE)
        return self->p99;
    uint32_t copy[KP_WINDOW_SIZE];
    memcpy(copy, self->values, self->count * sizeof copy[0]);
    //  Rank ceil(0.99 n), counted from 1.
    size_t rank = (self->count * 99 + 99) / 100;
    self->p99 = s_select(copy, (long)self->count, (long)rank - 1);
    self->known = true;
    self->fresh = 0;
    return self->p99;
}
