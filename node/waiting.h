/*  waiting.h - parts waiting for a free worker, one queue per institution.

    A part whose institution has no worker with room waits, named by its
    ticket (flight.h), in that institution's queue. One queue per
    institution, so that an institution whose workers are slow, full or
    silent holds up only its own parts: serving another institution never
    walks past them. Each queue is bounded: past max parts the next one is
    refused (QUEUE_FULL) instead of held until its deadline. Tickets whose
    part stopped waiting (answered, timed out) are dropped lazily, by the
    walks and when a queue is found full. One thread only.
*/
#ifndef KP_WAITING_H_INCLUDED
#define KP_WAITING_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _kp_waiting_t kp_waiting_t;

//  Queues of at most max tickets each.
kp_waiting_t *kp_waiting_new(uint32_t max);
void kp_waiting_destroy(kp_waiting_t **self_p);

//  True if the part of ticket still waits (its call is in flight and the
//  part not given to a worker yet).
typedef bool(kp_waiting_live_fn)(uint64_t ticket, void *arg);

//  Queues ticket at the end of kbo's queue. When the queue is full, first
//  drops the tickets that live says no longer wait; returns -1 (nothing
//  queued) if it is still full.
int kp_waiting_add(kp_waiting_t *self, const char *kbo, uint64_t ticket, kp_waiting_live_fn *live,
                   void *arg);

//  The queue of kbo, or NULL if it has none: a zlistx of tickets (cast to
//  pointers), oldest first, for the caller to walk and delete from.
zlistx_t *kp_waiting_queue(kp_waiting_t *self, const char *kbo);

//  Every institution's queue in turn: first, then next until NULL.
zlistx_t *kp_waiting_first(kp_waiting_t *self);
zlistx_t *kp_waiting_next(kp_waiting_t *self);

//  Tickets queued, over every institution (stale ones included).
size_t kp_waiting_size(kp_waiting_t *self);

#endif
