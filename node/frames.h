/*  frames.h - the first checks of every frame that enters from the network.

    Pure functions, no sockets: the node calls them on the bodies its
    ROUTER sockets receive, and the fuzzing harnesses (tests/fuzz) on
    arbitrary bytes. Each either returns the decoded frame, or NULL with
    the reason to answer and count, and a sentence for the sender (static
    text) in *refusal.
*/
#ifndef KP_FRAMES_H_INCLUDED
#define KP_FRAMES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "kruispunt.pb-c.h"

typedef struct {
    Kp__Reason reason;
    const char *detail;
} kp_refusal_t;

//  A client's request: frames is the number of body frames that came (1 is
//  right), size the body's. The request lives in an arena of its own until
//  kp_frames_request_free.
Kp__Request *kp_frames_request(const void *data, size_t size, int frames, size_t max_frame,
                               kp_refusal_t *refusal);
void kp_frames_request_free(Kp__Request *request);

//  size bytes that live as long as request (in its arena); NULL if memory
//  is short.
void *kp_frames_request_alloc(Kp__Request *request, size_t size);

//  Longest request id taken (REQUEST_ID_TOO_LONG beyond): ids are kept in
//  the replay memory, the log and the calls in flight.
#define KP_FRAMES_REQUEST_ID_MAX 128

//  The request's own fields, before the control looks at it: an id of 1 to
//  KP_FRAMES_REQUEST_ID_MAX bytes (REQUEST_ID_TOO_LONG), and a deadline
//  within limits->max_deadline_ms (DEADLINE_TOO_LONG). Returns 0, or -1
//  with *refusal (the request is then answered INVALID).
int kp_frames_request_check(const Kp__Request *request, const kp_limits_config_t *limits,
                            kp_refusal_t *refusal);

//  A worker's frame, decoded into arena (the caller resets it).
Kp__WorkerFrame *kp_frames_worker(kp_arena_t *arena, const void *data, size_t size, int frames,
                                  size_t max_frame, kp_refusal_t *refusal);

//  A worker's hello, of size bytes: a valid KBO; one message type at
//  least, each a name of at most KP_CONTROL_MAX_NAME bytes; the frame
//  within limits->max_hello (HELLO_TOO_LARGE); its concurrency within
//  limits->max_concurrency (CONCURRENCY_TOO_HIGH). Returns 0, or -1 with
//  *refusal.
int kp_frames_hello_check(const Kp__WorkerHello *hello, size_t size,
                          const kp_limits_config_t *limits, kp_refusal_t *refusal);

//  An operator's request (free with kp__admin_request__free_unpacked).
Kp__AdminRequest *kp_frames_admin(const void *data, size_t size, int frames, kp_refusal_t *refusal);

//  An operator's request with its update (an import batch: thousands of
//  ops, MiB) left packed, so that the routing loop neither decodes nor
//  encodes it again: request holds command and args (update NULL; free
//  with kp__admin_request__free_unpacked); update points into data (NULL
//  if there is none), and update_ops is the number of its ops, counted on
//  the wire. Only the update's top level is checked here: whoever takes
//  it (the cluster actor) decodes it in full before proposing it. Returns
//  0, or -1 with *refusal (a frame that is not a protobuf AdminRequest,
//  or that holds two updates).
typedef struct {
    Kp__AdminRequest *request;
    const uint8_t *update;
    size_t update_size;
    size_t update_ops;
} kp_frames_admin_t;
int kp_frames_admin_split(const void *data, size_t size, int frames, kp_frames_admin_t *out,
                          kp_refusal_t *refusal);

#endif
