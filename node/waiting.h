/*  waiting.h - parts waiting for a free worker: one queue per institution
    and message type.

    A part whose institution has no worker with room for its message type
    waits, named by its ticket (flight.h), in the queue of that institution
    and message type. Queues of their own, so that an institution whose
    workers are slow, full or silent holds up only its own parts: serving
    another institution never walks past them; and so that a walk of one
    queue can stop at the first part that finds no worker, since every
    part behind it needs the same kind of worker. Each institution's parts
    are bounded: past max the next one is refused (QUEUE_FULL) instead of
    held until its deadline. Tickets whose part stopped waiting (answered,
    timed out) are dropped lazily, by the walks and when an institution is
    found full. One thread only.
*/
#ifndef KP_WAITING_H_INCLUDED
#define KP_WAITING_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _kp_waiting_t kp_waiting_t;

//  At most max tickets per institution.
kp_waiting_t *kp_waiting_new(uint32_t max);
void kp_waiting_destroy(kp_waiting_t **self_p);

//  True if the part of ticket still waits (its call is in flight and the
//  part not given to a worker yet).
typedef bool(kp_waiting_live_fn)(uint64_t ticket, void *arg);

//  Queues ticket at the end of the queue of (kbo, message). When kbo's
//  queues are full, first drops the tickets that live says no longer
//  wait; returns -1 (nothing queued) if they are still full.
int kp_waiting_add(kp_waiting_t *self, const char *kbo, const char *message, uint64_t ticket,
                   kp_waiting_live_fn *live, void *arg);

//  The queues of kbo (or of every institution, kbo NULL) in turn: first,
//  then next until NULL. Each is a zlistx of tickets (cast to pointers),
//  oldest first, for the caller to walk and delete from. Adding while
//  walking is not allowed.
zlistx_t *kp_waiting_first(kp_waiting_t *self, const char *kbo);
zlistx_t *kp_waiting_next(kp_waiting_t *self);

//  Tickets queued, over every institution (stale ones included).
size_t kp_waiting_size(kp_waiting_t *self);

#endif
