/*  inflight.c - calls in flight per client, bounded. */
#include "inflight.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

//  A client with calls in flight; gone when its count drops to 0. The
//  entries are also linked together, so that destroy can free them (the
//  map only finds them).
typedef struct _s_entry_t s_entry_t;
struct _s_entry_t {
    s_entry_t *prev, *next;
    uint32_t count;
    size_t size;
    unsigned char key[];
};

typedef struct {
    const void *data;
    size_t size;
} s_key_t;

struct _kp_inflight_t {
    kp_idmap_t *map;
    s_entry_t *entries;
    uint32_t max;
};

static bool s_match(const void *value, const void *key)
{
    const s_entry_t *entry = (const s_entry_t *)value;
    const s_key_t *k = (const s_key_t *)key;
    return entry->size == k->size && !memcmp(entry->key, k->data, k->size);
}

kp_inflight_t *kp_inflight_new(uint32_t max)
{
    kp_inflight_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->map = kp_idmap_new(64);
    self->max = max;
    if (!self->map)
        kp_inflight_destroy(&self);
    return self;
}

void kp_inflight_destroy(kp_inflight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_inflight_t *self = *self_p;
    while (self->entries) {
        s_entry_t *next = self->entries->next;
        free(self->entries);
        self->entries = next;
    }
    kp_idmap_destroy(&self->map);
    free(self);
    *self_p = NULL;
}

static bool s_take(kp_inflight_t *self, const void *client, size_t size, bool force)
{
    s_key_t key = {client, size};
    uint64_t hash = kp_idmap_hash_bytes(client, size);
    s_entry_t *entry = (s_entry_t *)kp_idmap_get(self->map, hash, &key, s_match);
    if (entry) {
        if (entry->count >= self->max && !force)
            return false;
        entry->count++;
        return true;
    }
    entry = malloc(sizeof *entry + size);
    if (!entry)
        return false;
    entry->count = 1;
    entry->size = size;
    memcpy(entry->key, client, size);
    if (kp_idmap_insert(self->map, hash, entry)) {
        free(entry);
        return false;
    }
    entry->prev = NULL;
    entry->next = self->entries;
    if (self->entries)
        self->entries->prev = entry;
    self->entries = entry;
    return true;
}

bool kp_inflight_take(kp_inflight_t *self, const void *client, size_t size)
{
    return s_take(self, client, size, false);
}

void kp_inflight_release(kp_inflight_t *self, const void *client, size_t size)
{
    s_key_t key = {client, size};
    uint64_t hash = kp_idmap_hash_bytes(client, size);
    s_entry_t *entry = (s_entry_t *)kp_idmap_get(self->map, hash, &key, s_match);
    assert(entry); //  a release without its take
    if (!entry)
        return;
    if (--entry->count > 0)
        return;
    kp_idmap_remove_value(self->map, hash, entry);
    if (entry->prev)
        entry->prev->next = entry->next;
    else
        self->entries = entry->next;
    if (entry->next)
        entry->next->prev = entry->prev;
    free(entry);
}

void kp_inflight_move(kp_inflight_t *self, const void *from, size_t from_size, const void *to,
                      size_t to_size)
{
    if (from_size == to_size && !memcmp(from, to, to_size))
        return;
    kp_inflight_release(self, from, from_size);
    s_take(self, to, to_size, true);
}

uint32_t kp_inflight_count(kp_inflight_t *self, const void *client, size_t size)
{
    s_key_t key = {client, size};
    s_entry_t *entry =
        (s_entry_t *)kp_idmap_get(self->map, kp_idmap_hash_bytes(client, size), &key, s_match);
    return entry ? entry->count : 0;
}

size_t kp_inflight_clients(kp_inflight_t *self)
{
    return kp_idmap_size(self->map);
}
