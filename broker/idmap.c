/*  idmap.c - a hash map of values that carry their own keys. */
#include "idmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN_CAPACITY 4

typedef struct {
    uint64_t hash;
    void *value; //  NULL: empty
} s_slot_t;

struct _kp_idmap_t {
    s_slot_t *slots;
    size_t mask; //  capacity - 1
    size_t size;
};

kp_idmap_t *kp_idmap_new(size_t initial)
{
    if (initial > SIZE_MAX / 4 / sizeof(s_slot_t))
        return NULL;
    size_t capacity = S_MIN_CAPACITY;
    while (capacity < 2 * initial)
        capacity *= 2;
    kp_idmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc(capacity, sizeof(s_slot_t));
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->mask = capacity - 1;
    return self;
}

void kp_idmap_destroy(kp_idmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

//  The slot holding key, or else the empty slot that ends its probe. The
//  table always has an empty slot, so the walk ends.
static size_t s_probe(const kp_idmap_t *self, uint64_t hash, const void *key,
                      kp_idmap_match_fn *match)
{
    size_t index = hash & self->mask;
    for (;;) {
        const s_slot_t *slot = &self->slots[index];
        if (!slot->value || (slot->hash == hash && match(slot->value, key)))
            return index;
        index = (index + 1) & self->mask;
    }
}

static size_t s_probe_empty(const kp_idmap_t *self, uint64_t hash)
{
    size_t index = hash & self->mask;
    while (self->slots[index].value)
        index = (index + 1) & self->mask;
    return index;
}

//  Doubles the table. Returns false if memory is short (or the size would
//  overflow); the table is then unchanged. Cold: out of line, it leaves
//  s_room small enough to inline into put and insert, which run per
//  request.
__attribute__((cold)) static bool s_grow(kp_idmap_t *self)
{
    size_t capacity = self->mask + 1;
    if (capacity > SIZE_MAX / 2 / sizeof(s_slot_t))
        return false;
    s_slot_t *slots = calloc(2 * capacity, sizeof(s_slot_t));
    if (!slots)
        return false;
    size_t mask = 2 * capacity - 1;
    for (size_t i = 0; i < capacity; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->value)
            continue;
        size_t index = slot->hash & mask;
        while (slots[index].value)
            index = (index + 1) & mask;
        slots[index] = *slot;
    }
    free(self->slots);
    self->slots = slots;
    self->mask = mask;
    return true;
}

//  Makes room for one more entry: grows past half full, and without
//  memory to grow, still takes entries up to three quarters full (probes
//  get longer, but requests keep flowing). Returns false if it is full.
static bool s_room(kp_idmap_t *self)
{
    size_t capacity = self->mask + 1;
    if ((self->size + 1) * 2 <= capacity)
        return true;
    if (s_grow(self))
        return true;
    return (self->size + 1) * 4 <= capacity * 3;
}

int kp_idmap_insert(kp_idmap_t *self, uint64_t hash, void *value)
{
    assert(value);
    if (!s_room(self))
        return -1;
    self->slots[s_probe_empty(self, hash)] = (s_slot_t){hash, value};
    self->size++;
    return 0;
}

int kp_idmap_put(kp_idmap_t *self, uint64_t hash, const void *key, kp_idmap_match_fn *match,
                 void *value)
{
    assert(value);
    size_t index = s_probe(self, hash, key, match);
    if (self->slots[index].value) {
        self->slots[index].value = value;
        return 1;
    }
    size_t capacity = self->mask + 1;
    if (!s_room(self))
        return -1;
    if (self->mask + 1 != capacity) //  grown: the probe ends elsewhere
        index = s_probe_empty(self, hash);
    self->slots[index] = (s_slot_t){hash, value};
    self->size++;
    return 0;
}

void *kp_idmap_get(const kp_idmap_t *self, uint64_t hash, const void *key, kp_idmap_match_fn *match)
{
    return self->slots[s_probe(self, hash, key, match)].value;
}

//  Empties a slot, then moves back each entry of the run after it that
//  the hole cut off from its home slot.
static void s_remove_at(kp_idmap_t *self, size_t hole)
{
    size_t mask = self->mask;
    size_t index = hole;
    for (;;) {
        index = (index + 1) & mask;
        s_slot_t *slot = &self->slots[index];
        if (!slot->value)
            break;
        //  It may fill the hole if its home is not in (hole, index]
        //  (cyclically): the hole is then on its probe path.
        size_t home = slot->hash & mask;
        if (((index - home) & mask) >= ((index - hole) & mask)) {
            self->slots[hole] = *slot;
            hole = index;
        }
    }
    self->slots[hole] = (s_slot_t){0, NULL};
    self->size--;
}

void *kp_idmap_remove(kp_idmap_t *self, uint64_t hash, const void *key, kp_idmap_match_fn *match)
{
    size_t index = s_probe(self, hash, key, match);
    void *value = self->slots[index].value;
    if (value)
        s_remove_at(self, index);
    return value;
}

bool kp_idmap_remove_value(kp_idmap_t *self, uint64_t hash, const void *value)
{
    for (size_t index = hash & self->mask; self->slots[index].value;
         index = (index + 1) & self->mask)
        if (self->slots[index].value == value) {
            s_remove_at(self, index);
            return true;
        }
    return false;
}

void kp_idmap_prefetch(const kp_idmap_t *self, uint64_t hash)
{
    __builtin_prefetch(&self->slots[hash & self->mask]);
}

size_t kp_idmap_size(const kp_idmap_t *self)
{
    return self->size;
}

size_t kp_idmap_capacity(const kp_idmap_t *self)
{
    return self->mask + 1;
}

//  splitmix64's finalizer: a bijection, so distinct tickets never share a
//  hash, and sequential ones spread over the whole table.
uint64_t kp_idmap_hash_u64(uint64_t value)
{
    value ^= value >> 30;
    value *= 0xbf58476d1ce4e5b9ULL;
    value ^= value >> 27;
    value *= 0x94d049bb133111ebULL;
    value ^= value >> 31;
    return value;
}

//  Eight bytes a step: ids are tens of bytes and hashed on every request.
uint64_t kp_idmap_hash_bytes(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint64_t hash = 0x9e3779b97f4a7c15ULL ^ size;
    for (; size >= 8; p += 8, size -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        hash = (hash ^ word) * 0xbf58476d1ce4e5b9ULL;
        hash ^= hash >> 31;
    }
    uint64_t word = 0;
    if (size)
        memcpy(&word, p, size);
    return kp_idmap_hash_u64(hash ^ word);
}

uint64_t kp_idmap_hash_str(const char *text)
{
    return kp_idmap_hash_bytes(text, strlen(text));
}
