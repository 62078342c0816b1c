/*  outbox.c - responses held until their privacy-log record is durable. */
#include "outbox.h"

#include <assert.h>
#include <string.h>

//  One allocation per held response (the id lives after the bytes); the
//  hash borrows the id as its key, and the held responses chain oldest
//  first: holding a response costs one malloc and one hash insert.
typedef struct _s_held_t s_held_t;
struct _s_held_t {
    s_held_t *next; //  the next younger one
    uint64_t seq;
    const char *request_id; //  points into data, after the response
    unsigned char identity[256];
    size_t identity_size;
    size_t size;
    unsigned char data[]; //  the encoded Response, then the id and its NUL
};

struct _kp_outbox_t {
    zsock_t *clients;
    kp_sendq_t *sendq;
    kp_logger_t *logger;
    kp_replay_t *replay;
    s_held_t *oldest, *newest; //  seqs rise along the chain (owned)
    size_t held;
    zhashx_t *by_id; //  request id -> held (keys borrowed)
};

kp_outbox_t *kp_outbox_new(zsock_t *clients, kp_sendq_t *sendq, kp_logger_t *logger,
                           kp_replay_t *replay)
{
    kp_outbox_t *self = calloc(1, sizeof *self);
    assert(self);
    self->clients = clients;
    self->sendq = sendq;
    self->logger = logger;
    self->replay = replay;
    self->by_id = zhashx_new();
    assert(self->by_id);
    zhashx_set_key_duplicator(self->by_id, NULL);
    zhashx_set_key_destructor(self->by_id, NULL);
    return self;
}

//  Takes the oldest held response off the chain and out of the hash.
static s_held_t *s_detach_oldest(kp_outbox_t *self)
{
    s_held_t *held = self->oldest;
    if (!held)
        return NULL;
    self->oldest = held->next;
    if (!self->oldest)
        self->newest = NULL;
    self->held--;
    if (*held->request_id && zhashx_lookup(self->by_id, held->request_id) == held)
        zhashx_delete(self->by_id, held->request_id);
    return held;
}

void kp_outbox_destroy(kp_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_outbox_t *self = *self_p;
    s_held_t *held;
    while ((held = s_detach_oldest(self)))
        free(held);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

static void s_deliver(kp_outbox_t *self, const char *request_id, const void *identity,
                      size_t identity_size, const void *data, size_t size)
{
    kp_sendq_add(self->sendq, self->clients, identity, identity_size, data, size);
    if (request_id && *request_id)
        kp_replay_put(self->replay, request_id, data, size, zclock_mono());
}

//  Puts held at the young end of the chain; a response to an id that is
//  already held takes over the id (as a hash update did before).
static void s_hold(kp_outbox_t *self, s_held_t *held)
{
    held->next = NULL;
    if (self->newest)
        self->newest->next = held;
    else
        self->oldest = held;
    self->newest = held;
    self->held++;
    if (*held->request_id) {
        if (zhashx_lookup(self->by_id, held->request_id))
            zhashx_delete(self->by_id, held->request_id);
        zhashx_insert(self->by_id, held->request_id, held);
    }
}

int kp_outbox_send(kp_outbox_t *self, const void *identity, size_t identity_size,
                   const Kp__Response *response, const Kp__LogRecord *record)
{
    assert(identity_size <= sizeof((s_held_t *)0)->identity);
    const char *request_id = response->request_id ? response->request_id : "";
    size_t size = kp__response__get_packed_size(response);
    size_t id_size = strlen(request_id) + 1;
    s_held_t *held = malloc(sizeof *held + size + id_size);
    assert(held);
    kp__response__pack(response, held->data);
    held->size = size;
    memcpy(held->data + size, request_id, id_size);
    held->request_id = (const char *)held->data + size;
    if (!self->logger) {
        s_deliver(self, held->request_id, identity, identity_size, held->data, size);
        free(held);
        return 0;
    }
    held->seq = kp_logger_log(self->logger, record);
    if (held->seq == 0) {
        free(held);
        return -1;
    }
    memcpy(held->identity, identity, identity_size);
    held->identity_size = identity_size;
    s_hold(self, held);
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
    int rc = kp_logger_recv(self->logger);
    uint64_t durable = kp_logger_durable(self->logger);
    while (self->oldest && self->oldest->seq <= durable) {
        s_held_t *held = s_detach_oldest(self);
        s_deliver(self, held->request_id, held->identity, held->identity_size, held->data,
                  held->size);
        free(held);
    }
    return rc;
}

zsock_t *kp_outbox_sock(kp_outbox_t *self)
{
    return self->logger ? kp_logger_sock(self->logger) : NULL;
}

size_t kp_outbox_held(kp_outbox_t *self)
{
    return self->held;
}
