/*  sendq.h - routed messages held for one burst per turn of the loop.

    Sending each message as it is made wakes the ZeroMQ I/O thread once
    per message, and the peer too: at saturation the node spent more CPU
    on those wake-ups than on routing. The loop queues what it sends while
    it drains a socket and sends it in bursts that double (after the 1st,
    2nd, 4th... message, and when the socket is empty), so that one
    wake-up carries a burst and the first ones leave at once (figures:
    README, "Benchmarks").

    A queued message costs what zmq_send costs (one zmq_msg and a copy);
    a message that cannot leave (peer gone, queue full) is dropped as a
    ZMQ_DONTWAIT send is. Messages leave in the order they were queued.
    One thread: the node's loop.
*/
#ifndef KP_SENDQ_H_INCLUDED
#define KP_SENDQ_H_INCLUDED

#include <czmq.h>

typedef struct _kp_sendq_t kp_sendq_t;

//  Holds up to capacity messages; a full queue sends itself.
kp_sendq_t *kp_sendq_new(size_t capacity);
//  Sends what is queued first.
void kp_sendq_destroy(kp_sendq_t **self_p);

//  Queues [identity][size bytes] for the ROUTER sock and returns the body
//  to fill in, or NULL if memory is short (the message is then dropped).
void *kp_sendq_reserve(kp_sendq_t *self, zsock_t *sock, const void *identity, size_t identity_size,
                       size_t size);

//  Queues [identity][a copy of data].
void kp_sendq_add(kp_sendq_t *self, zsock_t *sock, const void *identity, size_t identity_size,
                  const void *data, size_t size);

//  Sends everything queued, in order.
void kp_sendq_flush(kp_sendq_t *self);

#endif
