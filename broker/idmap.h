/*  idmap.h - a hash map of values that carry their own keys.

    The request path inserts and deletes a few entries per request; a map
    that allocated per entry (zhashx) made malloc and free a fifth of the
    node's CPU. This one is an open-addressing table of {hash, value} slots
    with linear probing and deletion by backward shift (no tombstones), so
    an insert or a delete only writes slots.

    The map never sees a key: the caller gives the 64-bit hash, and for a
    lookup a match function and a key, which the function compares with
    the key the value holds. One map type thus serves ids held in their
    records and tickets held in their calls. The low bits of the hash pick
    the slot: pass hashes from kp_idmap_hash_str or kp_idmap_hash_u64,
    never raw counters.

    Values are non-NULL pointers (NULL marks an empty slot) and are
    borrowed: the map frees none of them.

    Capacity is a power of two, doubled to keep the table at most half
    full. If memory for doubling is short, the map keeps working up to
    three quarters full and then refuses new entries (put and insert
    return -1); replacing a value, getting and removing always work.

    One thread at a time.
*/
#ifndef KP_IDMAP_H_INCLUDED
#define KP_IDMAP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _kp_idmap_t kp_idmap_t;

//  True if value holds key. Called only for slots whose hash is equal.
typedef bool(kp_idmap_match_fn)(const void *value, const void *key);

//  A map with room for initial entries before it grows. NULL if memory is
//  short.
kp_idmap_t *kp_idmap_new(size_t initial);
//  Frees the map, not the values; nulls the caller's pointer.
void kp_idmap_destroy(kp_idmap_t **self_p);

//  Adds value under hash, without looking for an entry with the same key
//  (for callers that know there is none). Returns 0, or -1 if the map is
//  full.
int kp_idmap_insert(kp_idmap_t *self, uint64_t hash, void *value);

//  Stores value for key, replacing the value already there for key.
//  Returns 1 if it replaced one, 0 if it added one, -1 if the map is full
//  (then nothing changed).
int kp_idmap_put(kp_idmap_t *self, uint64_t hash, const void *key, kp_idmap_match_fn *match,
                 void *value);

//  The value for key, or NULL.
void *kp_idmap_get(const kp_idmap_t *self, uint64_t hash, const void *key,
                   kp_idmap_match_fn *match);

//  Removes the value for key and returns it, or NULL if there was none.
void *kp_idmap_remove(kp_idmap_t *self, uint64_t hash, const void *key, kp_idmap_match_fn *match);

//  Removes the entry holding exactly value under hash; another value for
//  the same key stays. Compares pointers only, so value is not read (it
//  may be half torn down). Returns true if it was there.
bool kp_idmap_remove_value(kp_idmap_t *self, uint64_t hash, const void *value);

//  Starts loading the slot where the lookup of hash begins into the
//  cache, for a caller with other work to do before the lookup: a big
//  map is far larger than the cache. Only a hint: changes nothing.
void kp_idmap_prefetch(const kp_idmap_t *self, uint64_t hash);

//  Entries in the map.
size_t kp_idmap_size(const kp_idmap_t *self);

//  Slots in the table (a power of two).
size_t kp_idmap_capacity(const kp_idmap_t *self);

//  Hashes for the keys callers have: every bit of the result depends on
//  every bit of the key.
uint64_t kp_idmap_hash_str(const char *text);
uint64_t kp_idmap_hash_bytes(const void *data, size_t size);
uint64_t kp_idmap_hash_u64(uint64_t value);

#endif
