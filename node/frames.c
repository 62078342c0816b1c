/*  frames.c - the first checks of every frame that enters from the network. */
#include "frames.h"

#include <assert.h>
#include <string.h>

#include <string.h>

#include "control.h"
#include "validate.h"

static void *s_refuse(kp_refusal_t *refusal, Kp__Reason reason, const char *detail)
{
    refusal->reason = reason;
    refusal->detail = detail;
    return NULL;
}

Kp__Request *kp_frames_request(const void *data, size_t size, int frames, size_t max_frame,
                               kp_refusal_t *refusal)
{
    if (frames != 1)
        return s_refuse(refusal, KP__REASON__WRONG_FRAME_COUNT,
                        "a request is exactly one frame holding a kp.Request");
    if (size > max_frame)
        return s_refuse(refusal, KP__REASON__FRAME_TOO_LARGE,
                        "the request is larger than the cluster's max-frame");
    //  A request lives in an arena of its own for as long as its call: the
    //  decoder allocates the message itself first, so the request is the
    //  arena's first bytes and the arena is found from it when freed.
    //  Strings and bytes are copied out of the frame, plus their NULs and
    //  the structs: twice the frame and a little covers any request.
    kp_arena_t *arena = kp_arena_new(2 * size + sizeof(Kp__Request) + 512);
    Kp__Request *request = arena ? kp__request__unpack(&arena->allocator, size, data) : NULL;
    if (!request) {
        kp_arena_destroy(&arena);
        return s_refuse(refusal, KP__REASON__MALFORMED_FRAME,
                        "the frame is not a kp.Request protobuf");
    }
    assert((void *)request == (void *)arena->data);
    return request;
}

void *kp_frames_request_alloc(Kp__Request *request, size_t size)
{
    kp_arena_t *arena = (kp_arena_t *)((unsigned char *)request - offsetof(kp_arena_t, data));
    return arena->allocator.alloc(arena->allocator.allocator_data, size);
}

void kp_frames_request_free(Kp__Request *request)
{
    if (request) {
        kp_arena_t *arena = (kp_arena_t *)((unsigned char *)request - offsetof(kp_arena_t, data));
        kp_arena_destroy(&arena);
    }
}

int kp_frames_request_check(const Kp__Request *request, const kp_limits_config_t *limits,
                            kp_refusal_t *refusal)
{
    if (!request->request_id || !*request->request_id) {
        s_refuse(refusal, KP__REASON__INVALID_REQUEST, "request_id is required");
        return -1;
    }
    if (strnlen(request->request_id, KP_FRAMES_REQUEST_ID_MAX + 1) > KP_FRAMES_REQUEST_ID_MAX) {
        s_refuse(refusal, KP__REASON__REQUEST_ID_TOO_LONG, "request_id is longer than 128 bytes");
        return -1;
    }
    if (request->has_deadline_ms && request->deadline_ms > limits->max_deadline_ms) {
        s_refuse(refusal, KP__REASON__DEADLINE_TOO_LONG,
                 "deadline_ms is longer than the cluster's limits/max-deadline");
        return -1;
    }
    return 0;
}

Kp__WorkerFrame *kp_frames_worker(kp_arena_t *arena, const void *data, size_t size, int frames,
                                  size_t max_frame, kp_refusal_t *refusal)
{
    if (frames != 1)
        return s_refuse(refusal, KP__REASON__WRONG_FRAME_COUNT,
                        "a worker message is exactly one frame holding a kp.WorkerFrame");
    if (size > max_frame)
        return s_refuse(refusal, KP__REASON__FRAME_TOO_LARGE,
                        "the frame is larger than the cluster's max-frame");
    Kp__WorkerFrame *frame = kp__worker_frame__unpack(&arena->allocator, size, data);
    if (!frame)
        return s_refuse(refusal, KP__REASON__MALFORMED_FRAME,
                        "the frame is not a kp.WorkerFrame protobuf");
    return frame;
}

int kp_frames_hello_check(const Kp__WorkerHello *hello, size_t size,
                          const kp_limits_config_t *limits, kp_refusal_t *refusal)
{
    if (size > limits->max_hello) {
        s_refuse(refusal, KP__REASON__HELLO_TOO_LARGE,
                 "hello: larger than the cluster's limits/max-hello; serve fewer message types");
        return -1;
    }
    if (!kp_kbo_valid(hello->kbo)) {
        s_refuse(refusal, KP__REASON__INVALID_KBO, "hello: kbo is not a valid KBO");
        return -1;
    }
    if (hello->n_messages == 0) {
        s_refuse(refusal, KP__REASON__INVALID_REQUEST, "hello: name at least one message type");
        return -1;
    }
    for (size_t i = 0; i < hello->n_messages; i++)
        if (!hello->messages[i] || !*hello->messages[i] ||
            strlen(hello->messages[i]) > KP_CONTROL_MAX_NAME) {
            s_refuse(refusal, KP__REASON__INVALID_REQUEST,
                     "hello: a message type is empty or longer than 255 bytes");
            return -1;
        }
    if (hello->has_concurrency && hello->concurrency > limits->max_concurrency) {
        s_refuse(refusal, KP__REASON__CONCURRENCY_TOO_HIGH,
                 "hello: concurrency is over the cluster's limits/max-concurrency");
        return -1;
    }
    return 0;
}

Kp__AdminRequest *kp_frames_admin(const void *data, size_t size, int frames, kp_refusal_t *refusal)
{
    if (frames != 1)
        return s_refuse(refusal, KP__REASON__WRONG_FRAME_COUNT,
                        "an admin request is one frame holding a kp.AdminRequest");
    Kp__AdminRequest *request = kp__admin_request__unpack(NULL, size, data);
    if (!request)
        return s_refuse(refusal, KP__REASON__MALFORMED_FRAME,
                        "the frame is not a kp.AdminRequest protobuf");
    return request;
}
