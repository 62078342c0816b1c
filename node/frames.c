/*  frames.c - the first checks of every frame that enters from the network. */
#include "frames.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
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
    if (hello->n_messages == 0 && !(hello->has_notifications && hello->notifications)) {
        s_refuse(refusal, KP__REASON__INVALID_REQUEST,
                 "hello: name at least one message type (or take notifications)");
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

//  Field numbers of kruispunt.proto read on the wire (protobuf-c names
//  none): AdminRequest.update, DirectoryUpdate.ops.
#define S_ADMIN_UPDATE 3
#define S_UPDATE_OPS 1

//  One protobuf varint at *p (at most 10 bytes); 0 when truncated or too
//  long, else the bytes it took.
static size_t s_varint(const uint8_t *p, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        *value |= (uint64_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    return 0;
}

//  The next field of a message on the wire: its number, and where its
//  whole encoding (tag included) ends; a length-delimited field's payload
//  in *payload / *payload_size. -1 when the bytes are not a message.
static int s_field(const uint8_t *p, const uint8_t *end, uint32_t *number, const uint8_t **next,
                   const uint8_t **payload, size_t *payload_size)
{
    uint64_t tag, value;
    size_t used = s_varint(p, end, &tag);
    if (!used || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
        return -1;
    *number = (uint32_t)(tag >> 3);
    p += used;
    switch (tag & 7) {
    case 0:
        used = s_varint(p, end, &value);
        break;
    case 1:
        used = end - p >= 8 ? 8 : 0;
        break;
    case 5:
        used = end - p >= 4 ? 4 : 0;
        break;
    case 2:
        used = s_varint(p, end, &value);
        if (!used || value > (uint64_t)(end - p - (ptrdiff_t)used))
            return -1;
        *payload = p + used;
        *payload_size = (size_t)value;
        used += (size_t)value;
        break;
    default:
        return -1; //  groups are not ours
    }
    if (!used)
        return -1;
    *next = p + used;
    return 0;
}

int kp_frames_admin_split(const void *data, size_t size, int frames, kp_frames_admin_t *out,
                          kp_refusal_t *refusal)
{
    memset(out, 0, sizeof *out);
    if (frames != 1) {
        s_refuse(refusal, KP__REASON__WRONG_FRAME_COUNT,
                 "an admin request is one frame holding a kp.AdminRequest");
        return -1;
    }
    //  The request without its update: command and args, a few bytes.
    const uint8_t *p = data, *end = p + size, *next, *payload = NULL;
    uint8_t *head = malloc(size ? size : 1);
    size_t head_size = 0, payload_size = 0;
    bool ok = head != NULL;
    uint32_t number;
    while (ok && p < end) {
        ok = s_field(p, end, &number, &next, &payload, &payload_size) == 0;
        if (ok && number == S_ADMIN_UPDATE) {
            //  Two would be merged by a decoder: refused, not merged.
            ok = !out->update && next - payload == (ptrdiff_t)payload_size;
            out->update = payload;
            out->update_size = payload_size;
        } else if (ok) {
            memcpy(head + head_size, p, (size_t)(next - p));
            head_size += (size_t)(next - p);
        }
        p = next;
    }
    //  The update's top level: its ops counted, its fields well formed.
    if (ok && out->update)
        for (p = out->update, end = p + out->update_size; ok && p < end; p = next) {
            ok = s_field(p, end, &number, &next, &payload, &payload_size) == 0;
            out->update_ops += ok && number == S_UPDATE_OPS;
        }
    out->request = ok ? kp__admin_request__unpack(NULL, head_size, head) : NULL;
    free(head);
    if (!out->request) {
        out->update = NULL;
        s_refuse(refusal, KP__REASON__MALFORMED_FRAME,
                 "the frame is not a kp.AdminRequest protobuf");
        return -1;
    }
    return 0;
}
