/*  replay.c - responses recently sent, for clients that retry. */
#include "replay.h"

#include <assert.h>
#include <czmq.h>
#include <string.h>

//  One allocation per response: the entry, its id and its bytes. The hash
//  borrows the id as its key and the entries chain oldest first, so that
//  remembering a response costs one malloc and one hash insert, not five.
typedef struct _s_entry_t s_entry_t;
struct _s_entry_t {
    s_entry_t *next;        //  the next younger entry
    const char *request_id; //  points into data, after the response
    int64_t time_ms;
    size_t size;
    unsigned char data[]; //  the encoded Response, then the id and its NUL
};

struct _kp_replay_t {
    int64_t keep_ms;
    size_t max;
    zhashx_t *by_id;            //  id -> entry (keys borrowed from the entries)
    s_entry_t *oldest, *newest; //  the entries, owned
    size_t size;
};

kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max)
{
    kp_replay_t *self = calloc(1, sizeof *self);
    assert(self);
    self->keep_ms = keep_ms;
    self->max = max;
    self->by_id = zhashx_new();
    assert(self->by_id);
    zhashx_set_key_duplicator(self->by_id, NULL);
    zhashx_set_key_destructor(self->by_id, NULL);
    return self;
}

static void s_drop_oldest(kp_replay_t *self)
{
    s_entry_t *entry = self->oldest;
    if (!entry)
        return;
    self->oldest = entry->next;
    if (!self->oldest)
        self->newest = NULL;
    self->size--;
    if (zhashx_lookup(self->by_id, entry->request_id) == entry)
        zhashx_delete(self->by_id, entry->request_id);
    free(entry);
}

void kp_replay_destroy(kp_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_replay_t *self = *self_p;
    while (self->oldest)
        s_drop_oldest(self);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms)
{
    if (self->max == 0)
        return;
    while (self->size >= self->max)
        s_drop_oldest(self);
    size_t id_size = strlen(request_id) + 1;
    s_entry_t *entry = malloc(sizeof *entry + size + id_size);
    assert(entry);
    entry->next = NULL;
    entry->time_ms = now_ms;
    entry->size = size;
    memcpy(entry->data, data, size);
    memcpy(entry->data + size, request_id, id_size);
    entry->request_id = (const char *)entry->data + size;
    //  A newer answer to the same id wins; the older entry stays chained
    //  until it ages out (the hash no longer points at it).
    s_entry_t *older = (s_entry_t *)zhashx_lookup(self->by_id, request_id);
    if (older)
        zhashx_delete(self->by_id, request_id);
    zhashx_insert(self->by_id, entry->request_id, entry);
    if (self->newest)
        self->newest->next = entry;
    else
        self->oldest = entry;
    self->newest = entry;
    self->size++;
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
    while (self->oldest && now_ms - self->oldest->time_ms > self->keep_ms)
        s_drop_oldest(self);
}

size_t kp_replay_size(kp_replay_t *self)
{
    return self->size;
}
