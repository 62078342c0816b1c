/*  arena.c - a protobuf-c allocator that bumps through one block. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define S_ALIGN (sizeof(max_align_t))

static void *s_alloc(void *arg, size_t size)
{
    kp_arena_t *arena = (kp_arena_t *)arg;
    if (size > SIZE_MAX - S_ALIGN - sizeof(kp_arena_t))
        return NULL;
    size = (size + S_ALIGN - 1) & ~(S_ALIGN - 1);
    if (size <= arena->size - arena->used) {
        void *p = arena->data + arena->used;
        arena->used += size;
        return p;
    }
    kp_arena_t *more = malloc(sizeof *more + size);
    if (!more)
        return NULL;
    more->size = more->used = size;
    more->more = arena->more;
    arena->more = more;
    return more->data;
}

static void s_free_piece(void *arg, void *pointer)
{
    (void)arg, (void)pointer; //  everything goes with the arena
}

kp_arena_t *kp_arena_new(size_t size)
{
    kp_arena_t *self = malloc(sizeof *self + size);
    if (!self)
        return NULL;
    self->more = NULL;
    self->used = 0;
    self->size = size;
    self->allocator = (ProtobufCAllocator){s_alloc, s_free_piece, self};
    return self;
}

void kp_arena_reset(kp_arena_t *self)
{
    while (self->more) {
        kp_arena_t *more = self->more;
        self->more = more->more;
        free(more);
    }
    self->used = 0;
}

void kp_arena_destroy(kp_arena_t **self_p)
{
    if (*self_p) {
        kp_arena_reset(*self_p);
        free(*self_p);
        *self_p = NULL;
    }
}
