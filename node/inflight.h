/*  inflight.h - calls in flight per client, bounded.

    A client is named by bytes the node chooses (node.c
    s_inflight_client): its authenticated identity (the user of its
    CURVE key) in a secure cluster, so that reconnecting or opening many
    connections does not escape the bound; the connection's routing id
    when insecure. Each
    call the node starts takes one unit of its client's count and gives it
    back when it ends; a client at the bound gets its next request refused
    (TOO_MANY_IN_FLIGHT), so that one client cannot fill the node's memory
    with calls held up to their deadline. One thread only.
*/
#ifndef KP_INFLIGHT_H_INCLUDED
#define KP_INFLIGHT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _kp_inflight_t kp_inflight_t;

//  At most max calls in flight per client.
kp_inflight_t *kp_inflight_new(uint32_t max);
void kp_inflight_destroy(kp_inflight_t **self_p);

//  Takes one unit for client; false (and nothing taken) if it is at max.
bool kp_inflight_take(kp_inflight_t *self, const void *client, size_t size);

//  Gives back a unit taken for client.
void kp_inflight_release(kp_inflight_t *self, const void *client, size_t size);

//  Moves a unit from one client to another (a call whose retry came over
//  a new connection); the new one may go past max, since the call exists.
void kp_inflight_move(kp_inflight_t *self, const void *from, size_t from_size, const void *to,
                      size_t to_size);

//  Calls client has in flight; clients with any.
uint32_t kp_inflight_count(kp_inflight_t *self, const void *client, size_t size);
size_t kp_inflight_clients(kp_inflight_t *self);

#endif
