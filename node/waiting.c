/*  waiting.c - parts waiting for a free worker, one queue per institution. */
#include "waiting.h"

struct _kp_waiting_t {
    zhashx_t *queues; //  kbo -> zlistx_t of tickets
    uint32_t max;
};

static void s_queue_destroy(void **item)
{
    zlistx_destroy((zlistx_t **)item);
}

kp_waiting_t *kp_waiting_new(uint32_t max)
{
    kp_waiting_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->queues = zhashx_new();
    self->max = max;
    zhashx_set_destructor(self->queues, s_queue_destroy);
    return self;
}

void kp_waiting_destroy(kp_waiting_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->queues);
    free(*self_p);
    *self_p = NULL;
}

static void s_drop_stale(zlistx_t *queue, kp_waiting_live_fn *live, void *arg)
{
    void *item = zlistx_first(queue);
    while (item) {
        void *cursor = zlistx_cursor(queue);
        item = zlistx_next(queue);
        if (!live((uint64_t)(uintptr_t)zlistx_handle_item(cursor), arg))
            zlistx_delete(queue, cursor);
    }
}

int kp_waiting_add(kp_waiting_t *self, const char *kbo, uint64_t ticket, kp_waiting_live_fn *live,
                   void *arg)
{
    zlistx_t *queue = (zlistx_t *)zhashx_lookup(self->queues, kbo);
    if (!queue) {
        queue = zlistx_new();
        zhashx_insert(self->queues, kbo, queue);
    }
    if (zlistx_size(queue) >= self->max)
        s_drop_stale(queue, live, arg);
    if (zlistx_size(queue) >= self->max)
        return -1;
    zlistx_add_end(queue, (void *)(uintptr_t)ticket);
    return 0;
}

zlistx_t *kp_waiting_queue(kp_waiting_t *self, const char *kbo)
{
    return (zlistx_t *)zhashx_lookup(self->queues, kbo);
}

zlistx_t *kp_waiting_first(kp_waiting_t *self)
{
    return (zlistx_t *)zhashx_first(self->queues);
}

zlistx_t *kp_waiting_next(kp_waiting_t *self)
{
    return (zlistx_t *)zhashx_next(self->queues);
}

size_t kp_waiting_size(kp_waiting_t *self)
{
    size_t total = 0;
    for (zlistx_t *q = kp_waiting_first(self); q; q = kp_waiting_next(self))
        total += zlistx_size(q);
    return total;
}
