/*  replay.c - responses recently sent, for clients that retry. */
#include "replay.h"

#include <assert.h>
#include <czmq.h>
#include <string.h>

typedef struct {
    char *request_id;
    int64_t time_ms;
    size_t size;
    unsigned char data[]; //  the encoded Response
} s_entry_t;

struct _kp_replay_t {
    int64_t keep_ms;
    size_t max;
    zhashx_t *by_id;  //  id -> entry (not owned)
    zlistx_t *oldest; //  entries, oldest first (owned)
};

kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max)
{
    kp_replay_t *self = calloc(1, sizeof *self);
    assert(self);
    self->keep_ms = keep_ms;
    self->max = max;
    self->by_id = zhashx_new();
    self->oldest = zlistx_new();
    assert(self->by_id && self->oldest);
    return self;
}

static void s_entry_free(s_entry_t *entry)
{
    free(entry->request_id);
    free(entry);
}

static void s_drop_oldest(kp_replay_t *self)
{
    s_entry_t *entry = (s_entry_t *)zlistx_detach(self->oldest, NULL);
    if (!entry)
        return;
    if (zhashx_lookup(self->by_id, entry->request_id) == entry)
        zhashx_delete(self->by_id, entry->request_id);
    s_entry_free(entry);
}

void kp_replay_destroy(kp_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_replay_t *self = *self_p;
    while (zlistx_size(self->oldest))
        s_drop_oldest(self);
    zhashx_destroy(&self->by_id);
    zlistx_destroy(&self->oldest);
    free(self);
    *self_p = NULL;
}

void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms)
{
    if (self->max == 0)
        return;
    while (zlistx_size(self->oldest) >= self->max)
        s_drop_oldest(self);
    s_entry_t *entry = malloc(sizeof *entry + size);
    assert(entry);
    entry->request_id = strdup(request_id);
    entry->time_ms = now_ms;
    entry->size = size;
    memcpy(entry->data, data, size);
    zlistx_add_end(self->oldest, entry);
    zhashx_update(self->by_id, request_id, entry);
}

const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size)
{
    s_entry_t *entry = (s_entry_t *)zhashx_lookup(self->by_id, request_id);
    if (!entry)
        return NULL;
    *size = entry->size;
    return entry->data;
}

void kp_replay_expire(kp_replay_t *self, int64_t now_ms)
{
    s_entry_t *entry;
    while ((entry = (s_entry_t *)zlistx_first(self->oldest)) &&
           now_ms - entry->time_ms > self->keep_ms)
        s_drop_oldest(self);
}

size_t kp_replay_size(kp_replay_t *self)
{
    return zlistx_size(self->oldest);
}
