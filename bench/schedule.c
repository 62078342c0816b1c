/*  schedule.c - intended send times of an open-loop load. */
#include "schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct _kp_schedule_t {
    kp_arrivals_t arrivals;
    uint64_t start_ns;
    long double interval_ns; //  mean gap between this client's requests
    long double phase_ns;    //  uniform: offset of this client's first request
    long double at_ns;       //  poisson: the next request's time after start
    uint64_t rng;            //  poisson: splitmix64 state
    uint64_t next;
};

//  splitmix64: any seed (0 included) gives a full-period stream, and
//  neighbouring seeds give unrelated ones, so client c can use seed + c.
static uint64_t s_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

//  An exponential gap of mean interval_ns. 1 - u lies in (0, 1], so the
//  logarithm is finite.
static long double s_gap(kp_schedule_t *self)
{
    double u = (double)(s_splitmix(&self->rng) >> 11) / 9007199254740992.0;
    return -logl(1.0L - u) * self->interval_ns;
}

kp_schedule_t *kp_schedule_new(kp_arrivals_t arrivals, double rate, uint64_t start_ns,
                               unsigned client, unsigned clients, uint64_t seed)
{
    if (!(rate > 0) || !isfinite(rate) || clients == 0 || client >= clients ||
        !kp_arrivals_name(arrivals))
        return NULL;
    kp_schedule_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->arrivals = arrivals;
    self->start_ns = start_ns;
    self->interval_ns = 1e9L * clients / rate;
    self->phase_ns = 1e9L * client / rate;
    //  Mixed once more, so that (seed, client) and (seed + 1, client - 1)
    //  do not share a stream.
    uint64_t mix = seed ^ (0xd1b54a32d192ed03ULL * (client + 1));
    self->rng = s_splitmix(&mix);
    if (arrivals == KP_ARRIVALS_POISSON)
        self->at_ns = s_gap(self);
    return self;
}

void kp_schedule_destroy(kp_schedule_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

const char *kp_arrivals_name(kp_arrivals_t arrivals)
{
    return arrivals == KP_ARRIVALS_POISSON   ? "poisson"
           : arrivals == KP_ARRIVALS_UNIFORM ? "uniform"
                                             : NULL;
}

int kp_arrivals_parse(const char *name, kp_arrivals_t *arrivals)
{
    if (!strcmp(name, "poisson"))
        *arrivals = KP_ARRIVALS_POISSON;
    else if (!strcmp(name, "uniform"))
        *arrivals = KP_ARRIVALS_UNIFORM;
    else
        return -1;
    return 0;
}

uint64_t kp_schedule_peek(const kp_schedule_t *self)
{
    long double after = self->arrivals == KP_ARRIVALS_POISSON
                            ? self->at_ns
                            : self->phase_ns + self->interval_ns * self->next;
    return self->start_ns + (uint64_t)llroundl(after);
}

int kp_schedule_take(kp_schedule_t *self, uint64_t now_ns, uint64_t *k_p, uint64_t *intended_p)
{
    uint64_t at = kp_schedule_peek(self);
    if (at > now_ns)
        return 0;
    if (k_p)
        *k_p = self->next;
    if (intended_p)
        *intended_p = at;
    self->next++;
    //  Summed in long double: 64 bits of mantissa keep the rounding error
    //  below a nanosecond over any run we would make.
    if (self->arrivals == KP_ARRIVALS_POISSON)
        self->at_ns += s_gap(self);
    return 1;
}

uint64_t kp_schedule_taken(const kp_schedule_t *self)
{
    return self->next;
}
