/*  window.h - the latest latencies of one peer, and their 99th percentile.

    A ring of the last KP_WINDOW_SIZE values: recent by count, not by
    clock, so that a quiet peer keeps what it last showed. The percentile
    is worked out again (a selection over the ring, not a sort) once every
    KP_WINDOW_SIZE / 8 new values and kept meanwhile, so that asking for it
    on every request costs nothing. Used by the node (per institution, for
    its hedge delay) and by the client stub (per node, for its attempt
    timeout and its hedge delay). No allocation after new. One thread.
*/
#ifndef KP_WINDOW_H_INCLUDED
#define KP_WINDOW_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Internal to the libraries that compile it in: not part of libkpclient's
//  public symbols.
#define KP_WINDOW_INTERNAL __attribute__((visibility("hidden")))

#define KP_WINDOW_SIZE 256

typedef struct _kp_window_t kp_window_t;

//  NULL if memory is short.
KP_WINDOW_INTERNAL kp_window_t *kp_window_new(void);
KP_WINDOW_INTERNAL void kp_window_destroy(kp_window_t **self_p);

//  Adds one value (any unit; callers use microseconds).
KP_WINDOW_INTERNAL void kp_window_add(kp_window_t *self, uint32_t value);

//  Values held (at most KP_WINDOW_SIZE).
KP_WINDOW_INTERNAL size_t kp_window_count(const kp_window_t *self);

//  The smallest value that at least 99% of the values held are at or
//  below; 0 when empty.
KP_WINDOW_INTERNAL uint32_t kp_window_p99(kp_window_t *self);

#endif
