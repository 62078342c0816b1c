/*  waiting.c - parts waiting for a free worker, per institution and
    message type. */
#include "waiting.h"

//  One institution: its queues by message type.
typedef struct {
    zhashx_t *queues; //  message -> zlistx_t of tickets
} s_institution_t;

struct _kp_waiting_t {
    zhashx_t *institutions; //  kbo -> s_institution_t
    uint32_t max;
    //  The walk of kp_waiting_first / next.
    s_institution_t *walking; //  NULL: every institution
    s_institution_t *current;
};

static void s_queue_destroy(void **item)
{
    zlistx_destroy((zlistx_t **)item);
}

static void s_institution_destroy(void **item)
{
    s_institution_t *institution = (s_institution_t *)*item;
    zhashx_destroy(&institution->queues);
    free(institution);
    *item = NULL;
}

kp_waiting_t *kp_waiting_new(uint32_t max)
{
    kp_waiting_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->institutions = zhashx_new();
    self->max = max;
    zhashx_set_destructor(self->institutions, s_institution_destroy);
    return self;
}

void kp_waiting_destroy(kp_waiting_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->institutions);
    free(*self_p);
    *self_p = NULL;
}

static size_t s_size(s_institution_t *institution)
{
    size_t size = 0;
    for (zlistx_t *q = (zlistx_t *)zhashx_first(institution->queues); q;
         q = (zlistx_t *)zhashx_next(institution->queues))
        size += zlistx_size(q);
    return size;
}

static void s_drop_stale(s_institution_t *institution, kp_waiting_live_fn *live, void *arg)
{
    for (zlistx_t *q = (zlistx_t *)zhashx_first(institution->queues); q;
         q = (zlistx_t *)zhashx_next(institution->queues)) {
        void *item = zlistx_first(q);
        while (item) {
            void *cursor = zlistx_cursor(q);
            item = zlistx_next(q);
            if (!live((uint64_t)(uintptr_t)zlistx_handle_item(cursor), arg))
                zlistx_delete(q, cursor);
        }
    }
}

int kp_waiting_add(kp_waiting_t *self, const char *kbo, const char *message, uint64_t ticket,
                   kp_waiting_live_fn *live, void *arg)
{
    s_institution_t *institution = (s_institution_t *)zhashx_lookup(self->institutions, kbo);
    if (!institution) {
        institution = calloc(1, sizeof *institution);
        if (!institution)
            return -1;
        institution->queues = zhashx_new();
        zhashx_set_destructor(institution->queues, s_queue_destroy);
        zhashx_insert(self->institutions, kbo, institution);
    }
    //  Summing the queues costs one step per message type the institution
    //  has waiting parts of: a handful.
    if (s_size(institution) >= self->max)
        s_drop_stale(institution, live, arg);
    if (s_size(institution) >= self->max)
        return -1;
    zlistx_t *queue = (zlistx_t *)zhashx_lookup(institution->queues, message);
    if (!queue) {
        queue = zlistx_new();
        zhashx_insert(institution->queues, message, queue);
    }
    zlistx_add_end(queue, (void *)(uintptr_t)ticket);
    return 0;
}

zlistx_t *kp_waiting_first(kp_waiting_t *self, const char *kbo)
{
    if (kbo) {
        self->walking = (s_institution_t *)zhashx_lookup(self->institutions, kbo);
        self->current = self->walking;
        return self->current ? (zlistx_t *)zhashx_first(self->current->queues) : NULL;
    }
    self->walking = NULL;
    for (self->current = (s_institution_t *)zhashx_first(self->institutions); self->current;
         self->current = (s_institution_t *)zhashx_next(self->institutions)) {
        zlistx_t *queue = (zlistx_t *)zhashx_first(self->current->queues);
        if (queue)
            return queue;
    }
    return NULL;
}

zlistx_t *kp_waiting_next(kp_waiting_t *self)
{
    if (!self->current)
        return NULL;
    zlistx_t *queue = (zlistx_t *)zhashx_next(self->current->queues);
    if (queue || self->walking)
        return queue;
    //  Every institution: on to the next one with a queue.
    while ((self->current = (s_institution_t *)zhashx_next(self->institutions))) {
        queue = (zlistx_t *)zhashx_first(self->current->queues);
        if (queue)
            return queue;
    }
    return NULL;
}

size_t kp_waiting_size(kp_waiting_t *self)
{
    size_t total = 0;
    for (s_institution_t *i = (s_institution_t *)zhashx_first(self->institutions); i;
         i = (s_institution_t *)zhashx_next(self->institutions))
        total += s_size(i);
    return total;
}
