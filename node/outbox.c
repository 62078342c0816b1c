/*  outbox.c - responses held until their privacy-log record is durable. */
#include "outbox.h"

#include <assert.h>
#include <string.h>

typedef struct {
    uint64_t seq;
    char *request_id;
    unsigned char identity[256];
    size_t identity_size;
    size_t size;
    unsigned char data[]; //  the encoded Response
} s_held_t;

struct _kp_outbox_t {
    zsock_t *clients;
    logger_t *logger;
    kp_replay_t *replay;
    zlistx_t *held;  //  oldest first; seqs rise along the list (owned)
    zhashx_t *by_id; //  request id -> held (not owned)
};

kp_outbox_t *kp_outbox_new(zsock_t *clients, logger_t *logger, kp_replay_t *replay)
{
    kp_outbox_t *self = calloc(1, sizeof *self);
    assert(self);
    self->clients = clients;
    self->logger = logger;
    self->replay = replay;
    self->held = zlistx_new();
    self->by_id = zhashx_new();
    assert(self->held && self->by_id);
    return self;
}

static void s_held_free(s_held_t *held)
{
    free(held->request_id);
    free(held);
}

void kp_outbox_destroy(kp_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_outbox_t *self = *self_p;
    s_held_t *held;
    while ((held = (s_held_t *)zlistx_detach(self->held, NULL)))
        s_held_free(held);
    zlistx_destroy(&self->held);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

static void s_deliver(kp_outbox_t *self, const char *request_id, const void *identity,
                      size_t identity_size, const void *data, size_t size)
{
    void *handle = zsock_resolve(self->clients);
    if (zmq_send(handle, identity, identity_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(handle, data, size, ZMQ_DONTWAIT);
    if (request_id && *request_id)
        kp_replay_put(self->replay, request_id, data, size, zclock_mono());
}

int kp_outbox_send(kp_outbox_t *self, const void *identity, size_t identity_size,
                   const Kp__Response *response, const Kp__LogRecord *record)
{
    assert(identity_size <= sizeof((s_held_t *)0)->identity);
    size_t size = kp__response__get_packed_size(response);
    s_held_t *held = malloc(sizeof *held + size);
    assert(held);
    kp__response__pack(response, held->data);
    held->size = size;
    if (!self->logger) {
        s_deliver(self, response->request_id, identity, identity_size, held->data, size);
        free(held);
        return 0;
    }
    held->seq = logger_log(self->logger, record);
    if (held->seq == 0) {
        free(held);
        return -1;
    }
    held->request_id = strdup(response->request_id ? response->request_id : "");
    memcpy(held->identity, identity, identity_size);
    held->identity_size = identity_size;
    zlistx_add_end(self->held, held);
    if (*held->request_id)
        zhashx_update(self->by_id, held->request_id, held);
    return 0;
}

bool kp_outbox_redirect(kp_outbox_t *self, const char *request_id, const void *identity,
                        size_t identity_size)
{
    s_held_t *held = (s_held_t *)zhashx_lookup(self->by_id, request_id);
    if (!held)
        return false;
    memcpy(held->identity, identity, identity_size);
    held->identity_size = identity_size;
    return true;
}

int kp_outbox_release(kp_outbox_t *self)
{
    if (!self->logger)
        return 0;
    int rc = logger_recv(self->logger);
    uint64_t durable = logger_durable(self->logger);
    s_held_t *held;
    while ((held = (s_held_t *)zlistx_first(self->held)) && held->seq <= durable) {
        zlistx_detach(self->held, NULL);
        if (*held->request_id && zhashx_lookup(self->by_id, held->request_id) == held)
            zhashx_delete(self->by_id, held->request_id);
        s_deliver(self, held->request_id, held->identity, held->identity_size, held->data,
                  held->size);
        s_held_free(held);
    }
    return rc;
}

zsock_t *kp_outbox_sock(kp_outbox_t *self)
{
    return self->logger ? logger_sock(self->logger) : NULL;
}

size_t kp_outbox_held(kp_outbox_t *self)
{
    return zlistx_size(self->held);
}
