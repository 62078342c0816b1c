/*  registry.c - the registry of provider workers.

    Workers are few (tens to hundreds per node), so a plain array scanned
    in order is both the simplest and the fastest structure here.
*/
#include "registry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define KP_REGISTRY_ID_MAX 256

struct _kp_registry_worker_t {
    unsigned char identity[KP_REGISTRY_ID_MAX];
    size_t identity_size;
    char kbo[16];
    char **messages;
    size_t message_count;
    uint32_t concurrency;
    uint32_t outstanding;
    int64_t last_seen_ms;
    bool suspect; //  holds a part past its hedge delay, no reply since
};

struct _kp_registry_t {
    uint32_t heartbeat_ms;
    kp_registry_worker_t **list;
    size_t size, capacity;
};

kp_registry_t *kp_registry_new(uint32_t heartbeat_ms)
{
    kp_registry_t *self = calloc(1, sizeof *self);
    assert(self);
    self->heartbeat_ms = heartbeat_ms;
    return self;
}

static void s_worker_free(kp_registry_worker_t *worker)
{
    for (size_t i = 0; i < worker->message_count; i++)
        free(worker->messages[i]);
    free(worker->messages);
    free(worker);
}

void kp_registry_destroy(kp_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_registry_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        s_worker_free(self->list[i]);
    free(self->list);
    free(self);
    *self_p = NULL;
}

static size_t s_index(kp_registry_t *self, const void *identity, size_t size)
{
    for (size_t i = 0; i < self->size; i++)
        if (self->list[i]->identity_size == size &&
            !memcmp(self->list[i]->identity, identity, size))
            return i;
    return self->size;
}

kp_registry_worker_t *kp_registry_lookup(kp_registry_t *self, const void *identity, size_t size)
{
    size_t index = s_index(self, identity, size);
    return index < self->size ? self->list[index] : NULL;
}

kp_registry_worker_t *kp_registry_hello(kp_registry_t *self, const void *identity, size_t size,
                                        const char *kbo, char **messages, size_t message_count,
                                        uint32_t concurrency, int64_t now_ms)
{
    assert(size <= KP_REGISTRY_ID_MAX);
    kp_registry_worker_t *old = kp_registry_lookup(self, identity, size);
    if (old)
        kp_registry_remove(self, &old);
    kp_registry_worker_t *worker = calloc(1, sizeof *worker);
    assert(worker);
    memcpy(worker->identity, identity, size);
    worker->identity_size = size;
    strncpy(worker->kbo, kbo, sizeof worker->kbo - 1);
    worker->messages = calloc(message_count ? message_count : 1, sizeof(char *));
    assert(worker->messages);
    for (size_t i = 0; i < message_count; i++)
        worker->messages[i] = strdup(messages[i]);
    worker->message_count = message_count;
    worker->concurrency = concurrency ? concurrency : 1;
    worker->last_seen_ms = now_ms;
    if (self->size == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 16;
        self->list = realloc(self->list, self->capacity * sizeof *self->list);
        assert(self->list);
    }
    self->list[self->size++] = worker;
    return worker;
}

void kp_registry_touch(kp_registry_worker_t *worker, int64_t now_ms)
{
    worker->last_seen_ms = now_ms;
}

static bool s_serves(const kp_registry_worker_t *worker, const char *message)
{
    for (size_t i = 0; i < worker->message_count; i++)
        if (!strcmp(worker->messages[i], message))
            return true;
    return false;
}

//  True if a is a better pick than best (NULL: none yet).
static bool s_better(const kp_registry_worker_t *a, const kp_registry_worker_t *best)
{
    if (!best)
        return true;
    if (a->suspect != best->suspect)
        return !a->suspect;
    return a->outstanding < best->outstanding;
}

kp_registry_worker_t *kp_registry_pick_except(kp_registry_t *self, const char *kbo,
                                              const char *message,
                                              const kp_registry_worker_t *except, bool *served)
{
    kp_registry_worker_t *best = NULL;
    *served = false;
    for (size_t i = 0; i < self->size; i++) {
        kp_registry_worker_t *worker = self->list[i];
        if (strcmp(worker->kbo, kbo) || !s_serves(worker, message))
            continue;
        *served = true;
        if (worker != except && worker->outstanding < worker->concurrency && s_better(worker, best))
            best = worker;
    }
    return best;
}

kp_registry_worker_t *kp_registry_pick(kp_registry_t *self, const char *kbo, const char *message,
                                       bool *served)
{
    return kp_registry_pick_except(self, kbo, message, NULL, served);
}

void kp_registry_worker_suspect(kp_registry_worker_t *worker)
{
    worker->suspect = true;
}

void kp_registry_worker_answered(kp_registry_worker_t *worker)
{
    worker->suspect = false;
}

bool kp_registry_worker_is_suspect(const kp_registry_worker_t *worker)
{
    return worker->suspect;
}

void kp_registry_worker_take(kp_registry_worker_t *worker)
{
    worker->outstanding++;
}

void kp_registry_worker_release(kp_registry_worker_t *worker)
{
    if (worker->outstanding > 0)
        worker->outstanding--;
}

kp_registry_worker_t *kp_registry_next_dead(kp_registry_t *self, int64_t now_ms)
{
    //  A worker sends a heartbeat once an interval even while it works
    //  (kp_worker.h): one that holds overdue work and missed two is hung.
    for (size_t i = 0; i < self->size; i++) {
        int64_t limit = (self->list[i]->suspect ? 2 : 3) * (int64_t)self->heartbeat_ms;
        if (now_ms - self->list[i]->last_seen_ms > limit)
            return self->list[i];
    }
    return NULL;
}

void kp_registry_pause(kp_registry_t *self, int64_t ms)
{
    for (size_t i = 0; ms > 0 && i < self->size; i++)
        self->list[i]->last_seen_ms += ms;
}

void kp_registry_remove(kp_registry_t *self, kp_registry_worker_t **worker_p)
{
    if (!worker_p || !*worker_p)
        return;
    size_t index = s_index(self, (*worker_p)->identity, (*worker_p)->identity_size);
    assert(index < self->size);
    s_worker_free(self->list[index]);
    self->list[index] = self->list[--self->size];
    *worker_p = NULL;
}

const void *kp_registry_worker_identity(const kp_registry_worker_t *worker, size_t *size)
{
    *size = worker->identity_size;
    return worker->identity;
}

const char *kp_registry_worker_kbo(const kp_registry_worker_t *worker)
{
    return worker->kbo;
}

uint32_t kp_registry_worker_outstanding(const kp_registry_worker_t *worker)
{
    return worker->outstanding;
}

uint32_t kp_registry_worker_concurrency(const kp_registry_worker_t *worker)
{
    return worker->concurrency;
}

int64_t kp_registry_worker_last_seen(const kp_registry_worker_t *worker)
{
    return worker->last_seen_ms;
}

size_t kp_registry_worker_message_count(const kp_registry_worker_t *worker)
{
    return worker->message_count;
}

const char *kp_registry_worker_message(const kp_registry_worker_t *worker, size_t index)
{
    return index < worker->message_count ? worker->messages[index] : NULL;
}

int kp_registry_each(kp_registry_t *self, kp_registry_worker_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->size; i++) {
        int rc = fn(self->list[i], arg);
        if (rc)
            return rc;
    }
    return 0;
}

size_t kp_registry_size(kp_registry_t *self)
{
    return self->size;
}
