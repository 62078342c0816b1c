/*  arena.h - a protobuf-c allocator that bumps through one block.

    protobuf-c allocates every string, bytes field and sub-message of a
    decoded frame on its own: a dozen mallocs per frame, a quarter of the
    node's loop under load. An arena turns them into bumps in one block.
    Overflow blocks (a frame larger than the arena was sized for) chain
    from the first and go with it. Pieces are never freed one by one:
    everything goes with kp_arena_reset or kp_arena_destroy.
*/
#ifndef KP_ARENA_H_INCLUDED
#define KP_ARENA_H_INCLUDED

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct _kp_arena_t kp_arena_t;

struct _kp_arena_t {
    kp_arena_t *more; //  overflow blocks
    size_t used, size;
    ProtobufCAllocator allocator; //  pass &arena->allocator to an unpack
    _Alignas(max_align_t) unsigned char data[];
};

//  An arena whose first block holds size bytes; NULL if memory is short.
kp_arena_t *kp_arena_new(size_t size);

//  Empties the arena for the next frame; keeps its first block.
void kp_arena_reset(kp_arena_t *self);

//  Frees the arena and nulls the caller's pointer.
void kp_arena_destroy(kp_arena_t **self_p);

#endif
