/*  replay.h - responses recently sent, for clients that retry.

    A client that lost its node, or timed out, sends the same request with
    the same id again. A request is answered once: the node keeps the
    encoded response of each id for a while and sends it again instead of
    routing the request twice. Bounded in time and in count.

    Entries leave in the order they were put, when older than keep_ms or
    to make room under max; an id put again is answered with its newest
    response. Not thread-safe.
*/
#ifndef KP_REPLAY_H_INCLUDED
#define KP_REPLAY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _kp_replay_t kp_replay_t;

//  Keeps each response for keep_ms, and never more than max entries.
kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max);
void kp_replay_destroy(kp_replay_t **self_p);

//  Remembers the encoded response of request_id (copied); a response
//  already remembered for request_id is no longer returned. If memory is
//  short, the response may not be remembered.
void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms);

//  Starts loading the table slot of request_id into the cache, for a
//  caller that has other work to do before kp_replay_get: with a million
//  ids the table is far larger than the cache, and the lookup of a new id
//  (nearly every request) is a cache miss that otherwise stalls the loop.
void kp_replay_prefetch(kp_replay_t *self, const char *request_id);

//  The response sent for request_id, or NULL; *size gets its size. The
//  bytes stay valid until the next put, expire or destroy.
const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size);

//  Forgets what is older than keep_ms.
void kp_replay_expire(kp_replay_t *self, int64_t now_ms);

//  Entries held, counting a response replaced by a newer one for the same
//  id until it ages out (as max does).
size_t kp_replay_size(kp_replay_t *self);

#endif
