/*  sendq.c - routed messages held for one burst per turn of the loop. */
#include "sendq.h"

#include <assert.h>
#include <string.h>

typedef struct {
    void *handle;
    zmq_msg_t identity;
    zmq_msg_t body;
} s_message_t;

struct _kp_sendq_t {
    size_t count, capacity;
    s_message_t messages[];
};

kp_sendq_t *kp_sendq_new(size_t capacity)
{
    assert(capacity > 0);
    kp_sendq_t *self = calloc(1, sizeof *self + capacity * sizeof(s_message_t));
    if (self)
        self->capacity = capacity;
    return self;
}

void kp_sendq_destroy(kp_sendq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_sendq_flush(*self_p);
    free(*self_p);
    *self_p = NULL;
}

void *kp_sendq_reserve(kp_sendq_t *self, zsock_t *sock, const void *identity, size_t identity_size,
                       size_t size)
{
    if (self->count == self->capacity)
        kp_sendq_flush(self);
    s_message_t *message = &self->messages[self->count];
    if (zmq_msg_init_size(&message->identity, identity_size))
        return NULL;
    if (zmq_msg_init_size(&message->body, size)) {
        zmq_msg_close(&message->identity);
        return NULL;
    }
    memcpy(zmq_msg_data(&message->identity), identity, identity_size);
    message->handle = zsock_resolve(sock);
    self->count++;
    return zmq_msg_data(&message->body);
}

void kp_sendq_add(kp_sendq_t *self, zsock_t *sock, const void *identity, size_t identity_size,
                  const void *data, size_t size)
{
    void *body = kp_sendq_reserve(self, sock, identity, identity_size, size);
    if (body && size)
        memcpy(body, data, size);
}

void kp_sendq_flush(kp_sendq_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        s_message_t *message = &self->messages[i];
        //  A failed send leaves the message ours to close.
        if (zmq_msg_send(&message->identity, message->handle, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&message->identity);
            zmq_msg_close(&message->body);
        } else if (zmq_msg_send(&message->body, message->handle, ZMQ_DONTWAIT) < 0)
            zmq_msg_close(&message->body);
    }
    self->count = 0;
}
