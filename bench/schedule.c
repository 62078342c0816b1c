/*  schedule.c - intended send times of an open-loop load. */
#include "schedule.h"

#include <math.h>
#include <stdlib.h>

struct _kp_schedule_t {
    uint64_t start_ns;
    long double interval_ns; //  between this client's requests
    long double phase_ns;    //  offset of this client's first request
    uint64_t next;
};

kp_schedule_t *kp_schedule_new(double rate, uint64_t start_ns, unsigned client, unsigned clients)
{
    if (!(rate > 0) || !isfinite(rate) || clients == 0 || client >= clients)
        return NULL;
    kp_schedule_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->start_ns = start_ns;
    self->interval_ns = 1e9L * clients / rate;
    self->phase_ns = 1e9L * client / rate;
    return self;
}

void kp_schedule_destroy(kp_schedule_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

uint64_t kp_schedule_at(const kp_schedule_t *self, uint64_t k)
{
    return self->start_ns + (uint64_t)llroundl(self->phase_ns + self->interval_ns * k);
}

uint64_t kp_schedule_peek(const kp_schedule_t *self)
{
    return kp_schedule_at(self, self->next);
}

int kp_schedule_take(kp_schedule_t *self, uint64_t now_ns, uint64_t *k_p, uint64_t *intended_p)
{
    uint64_t at = kp_schedule_at(self, self->next);
    if (at > now_ns)
        return 0;
    if (k_p)
        *k_p = self->next;
    if (intended_p)
        *intended_p = at;
    self->next++;
    return 1;
}

uint64_t kp_schedule_taken(const kp_schedule_t *self)
{
    return self->next;
}
