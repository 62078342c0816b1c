/*  schedule.h - intended send times of an open-loop load.

    At a fixed rate the k-th request (k = 0, 1, ...) is meant to leave at
    start + k / rate, whatever happened to the ones before it. Latency is
    measured from that intended time, not from when the request could
    actually be sent, so a stalled server is charged for every request it
    kept waiting (no coordinated omission). Times are computed from k each
    time, never accumulated, so they do not drift.

    A load split over several clients gives each a schedule of its own:
    client c of n runs at rate/n with phase c/rate, so that together they
    send at the total rate, evenly interleaved.
*/
#ifndef KP_SCHEDULE_H_INCLUDED
#define KP_SCHEDULE_H_INCLUDED

#include <stdint.h>

typedef struct _kp_schedule_t kp_schedule_t;

//  rate in requests per second (> 0); start_ns on any monotonic clock;
//  client (0..clients-1) and clients (>= 1) split the rate as above.
//  Returns NULL if the arguments are out of range.
kp_schedule_t *kp_schedule_new(double rate, uint64_t start_ns, unsigned client, unsigned clients);
void kp_schedule_destroy(kp_schedule_t **self_p);

//  The intended send time of this schedule's k-th request.
uint64_t kp_schedule_at(const kp_schedule_t *self, uint64_t k);

//  The intended time of the next request not yet taken.
uint64_t kp_schedule_peek(const kp_schedule_t *self);

//  If the next request is due at now_ns (intended time <= now_ns), takes
//  it: returns 1 and its index and intended time. Otherwise returns 0.
int kp_schedule_take(kp_schedule_t *self, uint64_t now_ns, uint64_t *k_p, uint64_t *intended_p);

//  Number of requests taken so far.
uint64_t kp_schedule_taken(const kp_schedule_t *self);

#endif
