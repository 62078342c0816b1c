/*  fuzz_worker.c - a worker's frame, as the node reads it: the frame
    checks and the decoder in the scratch arena; a hello that passes its
    checks is registered and a request is routed to it. */
#include <stdint.h>

#include "frames.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kp_arena_t *arena;
    static kp_limits_config_t limits;
    if (!arena) {
        arena = kp_arena_new(64 * 1024);
        kp_config_limits_default(&limits);
    }
    kp_arena_reset(arena);
    kp_refusal_t refusal;
    Kp__WorkerFrame *frame = kp_frames_worker(arena, data, size, 1, 1 << 20, &refusal);
    if (!frame || frame->body_case != KP__WORKER_FRAME__BODY_HELLO)
        return 0;
    const Kp__WorkerHello *hello = frame->hello;
    if (kp_frames_hello_check(hello, size, &limits, &refusal))
        return 0;
    kp_registry_t *registry = kp_registry_new(1000);
    kp_registry_worker_t *worker =
        kp_registry_hello(registry, "id", 2, hello->kbo, hello->messages, hello->n_messages,
                          hello->has_concurrency ? hello->concurrency : 1, 0);
    //  A worker that only takes notifications names no message type.
    bool served;
    if (hello->n_messages)
        kp_registry_pick(registry, hello->kbo, hello->messages[0], &served);
    kp_registry_remove(registry, &worker);
    kp_registry_destroy(&registry);
    return 0;
}
