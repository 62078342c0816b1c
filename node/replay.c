/*  replay.c - responses recently sent, for clients that retry.

    Called on every request (a get, nearly always a miss) and every
    response (a put), with up to a million entries of a few hundred bytes:
    the design keeps both off the allocator and off the entries.

    Entries are written back to back in big slabs used as a FIFO: a put
    appends at the tail of the newest slab, dropping the oldest advances
    the head, and a slab whose entries are all dropped is kept as a spare
    (two at most) for the next one needed, so that steady state neither
    mallocs nor faults new pages in. An entry bigger than a slab gets a
    slab of its own. Entries are dropped in the order they were put,
    which is the order of both bounds, time and count.

    The index is an open-addressing table of {hash, entry} with linear
    probing, at most half full, with deletion by backward shift (no
    tombstones). The full 64-bit hash is in the table, so that a miss
    touches the table only; an entry is read (its id compared) only when
    the hashes match.

    A newer put of an id takes over the id's slot in the table; the older
    bytes stay in their slab, unindexed, until they age out. Dropping an
    entry removes its slot only if the slot still points at it.
*/
#include "replay.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_SLAB_SIZE (4u << 20)
#define S_MAX_SPARES 2
#define S_MIN_SLOTS 1024

//  An entry: this header, the encoded response, the id and its NUL,
//  padded so that the next header is aligned.
typedef struct {
    uint64_t hash;
    int64_t time_ms;
    size_t size; //  of the response
    size_t span; //  of the whole entry, padding included
    unsigned char data[];
} s_entry_t;

typedef struct _s_slab_t s_slab_t;
struct _s_slab_t {
    s_slab_t *next; //  the next younger slab
    size_t capacity;
    size_t used; //  entries are written up to here
    _Alignas(s_entry_t) unsigned char data[];
};

//  An empty slot has no entry.
typedef struct {
    uint64_t hash;
    s_entry_t *entry;
} s_slot_t;

struct _kp_replay_t {
    int64_t keep_ms;
    size_t max;
    s_slab_t *oldest, *newest; //  the slabs holding entries, owned
    size_t head;               //  the oldest entry's offset in the oldest slab
    s_slab_t *spares;          //  drained slabs of S_SLAB_SIZE, owned
    size_t spare_count;
    size_t size;     //  entries in the FIFO, indexed or not
    s_slot_t *slots; //  a power of two of them
    size_t slot_count;
    size_t indexed; //  slots with an entry
};

static uint64_t s_mix(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

//  Eight bytes a step: ids are tens of bytes and hashed on every request.
static uint64_t s_hash(const char *text, size_t length)
{
    uint64_t hash = 0x9e3779b97f4a7c15ULL ^ length;
    const unsigned char *p = (const unsigned char *)text;
    for (; length >= 8; p += 8, length -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        hash = (hash ^ word) * 0xbf58476d1ce4e5b9ULL;
        hash ^= hash >> 31;
    }
    uint64_t word = 0;
    memcpy(&word, p, length);
    return s_mix(hash ^ word);
}

static const char *s_entry_id(const s_entry_t *entry)
{
    return (const char *)entry->data + entry->size;
}

static s_slot_t *s_slots_new(size_t count)
{
    return calloc(count, sizeof(s_slot_t));
}

//  The table is far bigger than the caches: most probes miss, and a
//  probe started early overlaps other work.
static void s_prefetch_slot(kp_replay_t *self, uint64_t hash)
{
    __builtin_prefetch(&self->slots[hash & (self->slot_count - 1)]);
}

static s_entry_t *s_oldest(kp_replay_t *self)
{
    return (s_entry_t *)(self->oldest->data + self->head);
}

kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max)
{
    kp_replay_t *self = calloc(1, sizeof *self);
    assert(self);
    self->keep_ms = keep_ms;
    self->max = max;
    self->slot_count = S_MIN_SLOTS;
    self->slots = s_slots_new(self->slot_count);
    assert(self->slots);
    return self;
}

static void s_free_slabs(s_slab_t *slab)
{
    while (slab) {
        s_slab_t *next = slab->next;
        free(slab);
        slab = next;
    }
}

void kp_replay_destroy(kp_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_replay_t *self = *self_p;
    s_free_slabs(self->oldest);
    s_free_slabs(self->spares);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

//  The slot holding request_id, or else the empty slot that ends its probe.
static size_t s_probe(kp_replay_t *self, const char *request_id, uint64_t hash)
{
    size_t mask = self->slot_count - 1;
    size_t index = hash & mask;
    for (;;) {
        s_slot_t *slot = &self->slots[index];
        if (!slot->entry)
            return index;
        if (slot->hash == hash && !strcmp(s_entry_id(slot->entry), request_id))
            return index;
        index = (index + 1) & mask;
    }
}

//  Empties a slot, then moves back the entries of the run after it that
//  would no longer be reachable from their home slot.
static void s_unindex_at(kp_replay_t *self, size_t hole)
{
    size_t mask = self->slot_count - 1;
    size_t index = hole;
    for (;;) {
        index = (index + 1) & mask;
        s_slot_t *slot = &self->slots[index];
        if (!slot->entry)
            break;
        //  It can fill the hole if its home is not in (hole, index]
        //  (cyclically): the hole is then on its probe path.
        size_t home = slot->hash & mask;
        if (((index - home) & mask) >= ((index - hole) & mask)) {
            self->slots[hole] = *slot;
            hole = index;
        }
    }
    self->slots[hole] = (s_slot_t){0, NULL};
    self->indexed--;
}

//  Removes entry from the index if it is still the indexed one for its id;
//  compares pointers only, so the entry is not read.
static void s_unindex(kp_replay_t *self, const s_entry_t *entry, uint64_t hash)
{
    size_t mask = self->slot_count - 1;
    for (size_t index = hash & mask; self->slots[index].entry; index = (index + 1) & mask)
        if (self->slots[index].entry == entry) {
            s_unindex_at(self, index);
            return;
        }
}

//  Doubles the table. Returns false if memory is short.
static bool s_grow(kp_replay_t *self)
{
    size_t count = self->slot_count * 2;
    s_slot_t *slots = s_slots_new(count);
    if (!slots)
        return false;
    for (size_t i = 0; i < self->slot_count; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->entry)
            continue;
        size_t index = slot->hash & (count - 1);
        while (slots[index].entry)
            index = (index + 1) & (count - 1);
        slots[index] = *slot;
    }
    free(self->slots);
    self->slots = slots;
    self->slot_count = count;
    return true;
}

//  A drained slab becomes a spare if it has the usual size and there are
//  not enough spares already; else it goes back to the system.
static void s_release_slab(kp_replay_t *self, s_slab_t *slab)
{
    if (slab->capacity == S_SLAB_SIZE && self->spare_count < S_MAX_SPARES) {
        slab->next = self->spares;
        self->spares = slab;
        self->spare_count++;
    } else
        free(slab);
}

static void s_drop_oldest(kp_replay_t *self)
{
    s_slab_t *slab = self->oldest;
    assert(slab && self->size > 0);
    s_entry_t *entry = s_oldest(self);
    s_unindex(self, entry, entry->hash);
    self->head += entry->span;
    self->size--;
    if (self->head < slab->used)
        return;
    self->head = 0;
    self->oldest = slab->next;
    if (!self->oldest)
        self->newest = NULL;
    s_release_slab(self, slab);
}

//  A new slab at the young end with room for span bytes, or NULL.
static s_slab_t *s_add_slab(kp_replay_t *self, size_t span)
{
    s_slab_t *slab = NULL;
    if (span <= S_SLAB_SIZE && self->spares) {
        slab = self->spares;
        self->spares = slab->next;
        self->spare_count--;
    } else {
        size_t capacity = span > S_SLAB_SIZE ? span : S_SLAB_SIZE;
        slab = malloc(sizeof *slab + capacity);
        if (!slab)
            return NULL;
        slab->capacity = capacity;
    }
    slab->next = NULL;
    slab->used = 0;
    if (self->newest)
        self->newest->next = slab;
    else
        self->oldest = slab;
    self->newest = slab;
    return slab;
}

//  Room for span bytes at the tail of the FIFO, or NULL.
static s_entry_t *s_append(kp_replay_t *self, size_t span)
{
    s_slab_t *slab = self->newest;
    if (!slab || slab->capacity - slab->used < span)
        slab = s_add_slab(self, span);
    if (!slab)
        return NULL;
    s_entry_t *entry = (s_entry_t *)(slab->data + slab->used);
    slab->used += span;
    return entry;
}

void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms)
{
    if (self->max == 0)
        return;
    size_t id_size = strlen(request_id) + 1;
    uint64_t hash = s_hash(request_id, id_size - 1);
    s_prefetch_slot(self, hash);
    while (self->size >= self->max)
        s_drop_oldest(self);
    size_t index = s_probe(self, request_id, hash);
    bool replaces = self->slots[index].entry != NULL;
    if (!replaces && (self->indexed + 1) * 2 > self->slot_count) {
        //  Short of memory the table may fill up to three quarters,
        //  and beyond that the response is not remembered.
        if (!s_grow(self) && (self->indexed + 1) * 4 > self->slot_count * 3)
            return;
        index = s_probe(self, request_id, hash);
    }
    size_t align = _Alignof(s_entry_t);
    size_t span = (sizeof(s_entry_t) + size + id_size + align - 1) & ~(align - 1);
    s_entry_t *entry = s_append(self, span);
    if (!entry) {
        //  Better no answer than the older one.
        if (replaces)
            s_unindex_at(self, index);
        return;
    }
    entry->hash = hash;
    entry->time_ms = now_ms;
    entry->size = size;
    entry->span = span;
    if (size)
        memcpy(entry->data, data, size);
    memcpy(entry->data + size, request_id, id_size);
    self->size++;
    if (!replaces)
        self->indexed++;
    self->slots[index] = (s_slot_t){hash, entry};
    //  Under the count bound the next put drops the oldest entry, and
    //  the slot of that entry is a miss: start it now.
    if (self->size >= self->max)
        s_prefetch_slot(self, s_oldest(self)->hash);
}

void kp_replay_prefetch(kp_replay_t *self, const char *request_id)
{
    if (self->slot_count)
        s_prefetch_slot(self, s_hash(request_id, strlen(request_id)));
}

const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size)
{
    uint64_t hash = s_hash(request_id, strlen(request_id));
    s_entry_t *entry = self->slots[s_probe(self, request_id, hash)].entry;
    if (!entry)
        return NULL;
    *size = entry->size;
    return entry->data;
}

void kp_replay_expire(kp_replay_t *self, int64_t now_ms)
{
    while (self->size > 0) {
        if (now_ms - s_oldest(self)->time_ms <= self->keep_ms)
            break;
        s_drop_oldest(self);
    }
}

size_t kp_replay_size(kp_replay_t *self)
{
    return self->size;
}
