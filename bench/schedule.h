/*  schedule.h - intended send times of an open-loop load.

    Requests are meant to leave at times set in advance, whatever
    happened to the ones before them. Latency is measured from that
    intended time, not from when the request could actually be sent, so a
    stalled server is charged for every request it kept waiting (no
    coordinated omission).

    Poisson arrivals (the default): the gaps between requests are
    exponential with mean 1 / rate, drawn from a PRNG seeded by the
    caller, so the same seed gives the same times. This is how requests
    from thousands of independent institutions arrive, bursts included;
    evenly spaced load would hide the queueing those bursts cause.

    Uniform arrivals: the k-th request (k = 0, 1, ...) leaves at
    start + k / rate, computed from k, never accumulated, so it does not
    drift.

    A load split over several clients gives each a schedule of its own at
    rate/n: Poisson streams with independent PRNG streams (their sum is a
    Poisson process at the total rate), uniform ones with phase c/rate so
    that together they are evenly interleaved.
*/
#ifndef KP_SCHEDULE_H_INCLUDED
#define KP_SCHEDULE_H_INCLUDED

#include <stdint.h>

typedef enum { KP_ARRIVALS_POISSON, KP_ARRIVALS_UNIFORM } kp_arrivals_t;

typedef struct _kp_schedule_t kp_schedule_t;

//  rate in requests per second (> 0); start_ns on any monotonic clock;
//  client (0..clients-1) and clients (>= 1) split the rate as above; seed
//  picks the Poisson times (unused for uniform arrivals). Returns NULL if
//  the arguments are out of range.
kp_schedule_t *kp_schedule_new(kp_arrivals_t arrivals, double rate, uint64_t start_ns,
                               unsigned client, unsigned clients, uint64_t seed);
void kp_schedule_destroy(kp_schedule_t **self_p);

//  "poisson" or "uniform", or NULL for an unknown value; and back: 0, or
//  -1 if name is neither.
const char *kp_arrivals_name(kp_arrivals_t arrivals);
int kp_arrivals_parse(const char *name, kp_arrivals_t *arrivals);

//  The intended time of the next request not yet taken.
uint64_t kp_schedule_peek(const kp_schedule_t *self);

//  If the next request is due at now_ns (intended time <= now_ns), takes
//  it: returns 1 and its index and intended time. Otherwise returns 0.
int kp_schedule_take(kp_schedule_t *self, uint64_t now_ns, uint64_t *k_p, uint64_t *intended_p);

//  Number of requests taken so far.
uint64_t kp_schedule_taken(const kp_schedule_t *self);

#endif
