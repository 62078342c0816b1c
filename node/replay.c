/*  replay.c - responses recently sent, for clients that retry. */
#include "replay.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

//  One allocation per response: the entry, its id and its bytes. Entries
//  chain oldest first, and hang in a hash table of their own (chained
//  through the entries): remembering a response costs one malloc, where
//  a zhashx item, a key copy and a list node cost three more, and a table
//  that holds up to a million ids is the hot data of the loop.
typedef struct _s_entry_t s_entry_t;
struct _s_entry_t {
    s_entry_t *next;        //  the next younger entry
    s_entry_t *bucket_next; //  the next entry in the same bucket
    uint64_t hash;
    const char *request_id; //  points into data, after the response
    int64_t time_ms;
    size_t size;
    unsigned char data[]; //  the encoded Response, then the id and its NUL
};

struct _kp_replay_t {
    int64_t keep_ms;
    size_t max;
    s_entry_t **buckets; //  a power of two of them
    size_t bucket_count;
    s_entry_t *oldest, *newest; //  the entries, owned
    size_t size;
};

#define S_MIN_BUCKETS 1024

//  FNV-1a, 64 bits: ids are short and the table is ours alone.
static uint64_t s_hash(const char *text)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        hash = (hash ^ *p) * 1099511628211ULL;
    return hash;
}

kp_replay_t *kp_replay_new(int64_t keep_ms, size_t max)
{
    kp_replay_t *self = calloc(1, sizeof *self);
    assert(self);
    self->keep_ms = keep_ms;
    self->max = max;
    self->bucket_count = S_MIN_BUCKETS;
    self->buckets = calloc(self->bucket_count, sizeof *self->buckets);
    assert(self->buckets);
    return self;
}

static s_entry_t **s_slot(kp_replay_t *self, uint64_t hash)
{
    return &self->buckets[hash & (self->bucket_count - 1)];
}

static s_entry_t *s_find(kp_replay_t *self, const char *request_id, uint64_t hash)
{
    for (s_entry_t *e = *s_slot(self, hash); e; e = e->bucket_next)
        if (e->hash == hash && !strcmp(e->request_id, request_id))
            return e;
    return NULL;
}

static void s_unhash(kp_replay_t *self, s_entry_t *entry)
{
    s_entry_t **link = s_slot(self, entry->hash);
    while (*link && *link != entry)
        link = &(*link)->bucket_next;
    if (*link)
        *link = entry->bucket_next;
}

//  Doubles the table when it holds more entries than buckets, so that
//  chains stay about one entry long. Skipped if memory is short: the
//  chains grow longer, the answers stay right.
static void s_grow(kp_replay_t *self)
{
    size_t count = self->bucket_count * 2;
    s_entry_t **buckets = calloc(count, sizeof *buckets);
    if (!buckets)
        return;
    for (size_t i = 0; i < self->bucket_count; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->bucket_next;
            s_entry_t **slot = &buckets[e->hash & (count - 1)];
            e->bucket_next = *slot;
            *slot = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = buckets;
    self->bucket_count = count;
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
    s_unhash(self, entry);
    free(entry);
}

void kp_replay_destroy(kp_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_replay_t *self = *self_p;
    while (self->oldest)
        s_drop_oldest(self);
    free(self->buckets);
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
    entry->hash = s_hash(request_id);
    entry->time_ms = now_ms;
    entry->size = size;
    memcpy(entry->data, data, size);
    memcpy(entry->data + size, request_id, id_size);
    entry->request_id = (const char *)entry->data + size;
    //  A newer answer to the same id wins: the older entry leaves the
    //  table at once and the chain when it ages out.
    s_entry_t *older = s_find(self, request_id, entry->hash);
    if (older)
        s_unhash(self, older);
    if (self->size >= self->bucket_count)
        s_grow(self);
    s_entry_t **slot = s_slot(self, entry->hash);
    entry->bucket_next = *slot;
    *slot = entry;
    if (self->newest)
        self->newest->next = entry;
    else
        self->oldest = entry;
    self->newest = entry;
    self->size++;
}

const void *kp_replay_get(kp_replay_t *self, const char *request_id, size_t *size)
{
    s_entry_t *entry = s_find(self, request_id, s_hash(request_id));
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
