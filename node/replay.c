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

    The index is a kp_idmap: it holds the full 64-bit hash beside each
    entry, so that a miss touches the table only; an entry is read (its id
    compared) only when the hashes match.

    A newer put of an id takes over the id's slot in the index; the older
    bytes stay in their slab, unindexed, until they age out. Dropping an
    entry removes it from the index only if it is still the indexed one.
*/
#include "replay.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

#define S_SLAB_SIZE (4u << 20)
#define S_MAX_SPARES 2
#define S_MIN_INDEXED 512 //  ids before the index first grows

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

struct _kp_replay_t {
    int64_t keep_ms;
    size_t max;
    s_slab_t *oldest, *newest; //  the slabs holding entries, owned
    size_t head;               //  the oldest entry's offset in the oldest slab
    s_slab_t *spares;          //  drained slabs of S_SLAB_SIZE, owned
    size_t spare_count;
    size_t size;       //  entries in the FIFO, indexed or not
    kp_idmap_t *index; //  the newest entry of each id
};

static const char *s_entry_id(const s_entry_t *entry)
{
    return (const char *)entry->data + entry->size;
}

static bool s_match(const void *value, const void *key)
{
    return strcmp(s_entry_id(value), key) == 0;
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
    self->index = kp_idmap_new(S_MIN_INDEXED);
    assert(self->index);
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
    kp_idmap_destroy(&self->index);
    free(self);
    *self_p = NULL;
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
    kp_idmap_remove_value(self->index, entry->hash, entry);
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

//  Takes back the last s_append of span bytes. A slab it leaves empty
//  goes too, since the FIFO holds no empty slab; rare enough (memory is
//  short) to walk the slabs for the one before.
static void s_unappend(kp_replay_t *self, size_t span)
{
    s_slab_t *slab = self->newest;
    slab->used -= span;
    if (slab->used > 0)
        return;
    s_slab_t *before = self->oldest == slab ? NULL : self->oldest;
    while (before && before->next != slab)
        before = before->next;
    if (before)
        before->next = NULL;
    else
        self->oldest = NULL;
    self->newest = before;
    s_release_slab(self, slab);
}

void kp_replay_put(kp_replay_t *self, const char *request_id, const void *data, size_t size,
                   int64_t now_ms)
{
    if (self->max == 0)
        return;
    size_t id_size = strlen(request_id) + 1;
    uint64_t hash = kp_idmap_hash_bytes(request_id, id_size - 1);
    kp_idmap_prefetch(self->index, hash);
    while (self->size >= self->max)
        s_drop_oldest(self);
    size_t align = _Alignof(s_entry_t);
    size_t span = (sizeof(s_entry_t) + size + id_size + align - 1) & ~(align - 1);
    s_entry_t *entry = s_append(self, span);
    if (!entry) {
        //  Better no answer than the older one.
        kp_idmap_remove(self->index, hash, request_id, s_match);
        return;
    }
    entry->hash = hash;
    entry->time_ms = now_ms;
    entry->size = size;
    entry->span = span;
    if (size)
        memcpy(entry->data, data, size);
    memcpy(entry->data + size, request_id, id_size);
    //  Short of memory the index fills up to three quarters, and beyond
    //  that the response is not remembered.
    if (kp_idmap_put(self->index, hash, request_id, s_match, entry) < 0) {
        s_unappend(self, span);
        return;
    }
    self->size++;
    //  Under the count bound the next put drops the oldest entry, and
    //  the slot of that entry is a miss: start it now.
    if (self->size >= self->max)
        kp_idmap_prefetch(self->index, s_oldest(self)->hash);
}

void kp_replay_prefetch(kp_replay_t *self, const char *request_id)
{
    kp_idmap_prefetch(self->index, kp_idmap_hash_str(request_id));
}

const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size)
{
    s_entry_t *entry =
        kp_idmap_get(self->index, kp_idmap_hash_str(request_id), request_id, s_match);
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
