/*  hedge.h - when a part held by a provider worker is worth sending to a
    second worker of the same institution.

    Keeps the latest reply times of each institution (broker/window) and
    gives its hedge delay: the 99th percentile of those times, bounded
    below (a fast institution's p99 of a few ms would send every hiccup
    twice) and above (a hung worker's parts must reach a sibling while
    their deadline still leaves it time to answer). An institution with
    fewer than KP_HEDGE_MIN_SAMPLES replies gets the upper bound. Hedging
    at the p99 sends about 1% of an institution's parts twice while its
    workers behave; a worker that hangs has all its parts sent on.

    No sockets, no clock: times come from the caller. One thread.
*/
#ifndef KP_HEDGE_H_INCLUDED
#define KP_HEDGE_H_INCLUDED

#include <stdint.h>

#define KP_HEDGE_MIN_SAMPLES 16

typedef struct _kp_hedge_t kp_hedge_t;

//  Delays are bounded to [min_ms, max_ms]; min_ms >= 1, max_ms >= min_ms.
kp_hedge_t *kp_hedge_new(uint32_t min_ms, uint32_t max_ms);
void kp_hedge_destroy(kp_hedge_t **self_p);

//  A worker of kbo answered after latency_us.
void kp_hedge_record(kp_hedge_t *self, const char *kbo, uint64_t latency_us);

//  How long a worker of kbo may hold a part before it goes to another.
uint32_t kp_hedge_delay_ms(kp_hedge_t *self, const char *kbo);

#endif
