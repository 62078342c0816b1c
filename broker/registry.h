/*  registry.h - the registry of provider workers.

    Knows which workers are alive, which institution each belongs to, which
    message types it serves, how many requests it takes at once and how
    many it has. No sockets: a worker is named by the opaque identity its
    ROUTER socket gave it. Time is passed in by the caller (ms), so the
    registry is deterministic under test. One thread only.
*/
#ifndef KP_REGISTRY_H_INCLUDED
#define KP_REGISTRY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _kp_registry_t kp_registry_t;
typedef struct _kp_registry_worker_t kp_registry_worker_t;

//  A worker silent for 3 heartbeat intervals is dead; a suspect one (see
//  kp_registry_worker_suspect) for 2.
kp_registry_t *kp_registry_new(uint32_t heartbeat_ms);
void kp_registry_destroy(kp_registry_t **self_p);

//  Registers the worker that says hello from identity, or renews its
//  registration (a worker may say hello again after a reconnect). The
//  registry copies everything. Returns the worker.
kp_registry_worker_t *kp_registry_hello(kp_registry_t *self, const void *identity, size_t size,
                                        const char *kbo, char **messages, size_t message_count,
                                        uint32_t concurrency, int64_t now_ms);

//  The worker at identity, or NULL if it is unknown (or was forgotten).
kp_registry_worker_t *kp_registry_lookup(kp_registry_t *self, const void *identity, size_t size);

//  Any frame from the worker is a sign of life.
void kp_registry_touch(kp_registry_worker_t *worker, int64_t now_ms);

//  The live worker of kbo serving message with the fewest outstanding
//  requests, if it has room for one more; NULL otherwise. *served tells
//  whether any live worker of kbo serves message at all (busy or not).
kp_registry_worker_t *kp_registry_pick(kp_registry_t *self, const char *kbo, const char *message,
                                       bool *served);

//  Same, never except (NULL: any). Both prefer workers that are not
//  suspect: a suspect one gets work only when no other has room.
kp_registry_worker_t *kp_registry_pick_except(kp_registry_t *self, const char *kbo,
                                              const char *message,
                                              const kp_registry_worker_t *except, bool *served);

//  The worker holds a part past its hedge delay: it may hang. It gets new
//  work only when its siblings are full, and is dead after 2 silent
//  heartbeat intervals instead of 3, until it answers (kp_registry_
//  worker_answered). A heartbeat clears nothing: a worker whose handler
//  hangs may still send them.
void kp_registry_worker_suspect(kp_registry_worker_t *worker);
void kp_registry_worker_answered(kp_registry_worker_t *worker);
bool kp_registry_worker_is_suspect(const kp_registry_worker_t *worker);

//  Counts a request sent to / answered by the worker.
void kp_registry_worker_take(kp_registry_worker_t *worker);
void kp_registry_worker_release(kp_registry_worker_t *worker);

//  A worker that has been silent too long, still registered, or NULL. The
//  caller re-dispatches its work and then removes it.
kp_registry_worker_t *kp_registry_next_dead(kp_registry_t *self, int64_t now_ms);

//  The node did not run for ms (its loop woke that much later than it
//  asked): what the workers sent meanwhile has not been read yet, so that
//  time is not counted as their silence.
void kp_registry_pause(kp_registry_t *self, int64_t ms);

//  Forgets the worker and nulls the caller's pointer.
void kp_registry_remove(kp_registry_t *self, kp_registry_worker_t **worker_p);

//  Accessors.
const void *kp_registry_worker_identity(const kp_registry_worker_t *worker, size_t *size);
const char *kp_registry_worker_kbo(const kp_registry_worker_t *worker);
uint32_t kp_registry_worker_outstanding(const kp_registry_worker_t *worker);
uint32_t kp_registry_worker_concurrency(const kp_registry_worker_t *worker);
int64_t kp_registry_worker_last_seen(const kp_registry_worker_t *worker);
size_t kp_registry_worker_message_count(const kp_registry_worker_t *worker);
const char *kp_registry_worker_message(const kp_registry_worker_t *worker, size_t index);

//  Calls fn for each registered worker until it returns non-zero.
typedef int(kp_registry_worker_fn)(kp_registry_worker_t *worker, void *arg);
int kp_registry_each(kp_registry_t *self, kp_registry_worker_fn *fn, void *arg);
size_t kp_registry_size(kp_registry_t *self);

#endif
