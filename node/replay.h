/*  replay.h - responses recently sent, for clients that retry.

    A client that lost its node, or timed out, sends the same request with
    the same id again. A request is answered once: the node keeps the
    encoded response of each id for a while and sends it again instead of
    routing the request twice. Bounded in time and in count.
*/
#ifndef KP_REPLAY_H_INCLUDED
#define KP_REPLAY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _kp_replay_t kp_replay_t;

//  Keeps each response for keep_ms, and never more than max entries.
kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max);
void kp_replay_destroy(kp_replay_t **self_p);

//  Remembers the encoded response of request_id (copied).
void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms);

//  The response sent for request_id, or NULL; *size gets its size.
const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size);

//  Forgets what is older than keep_ms.
void kp_replay_expire(kp_replay_t *self, int64_t now_ms);

size_t kp_replay_size(kp_replay_t *self);

#endif
