/*  outbox.c - responses held until their privacy-log record is durable. */
#include "outbox.h"

#include <assert.h>
#include <string.h>

#include "idmap.h"

//  Without a logger, a response that cannot be queued is packed here for
//  the replay; a larger one on the heap.
#define S_STACK_SIZE 4096

//  One allocation per held response (the id lives after the bytes); the
//  map borrows the id as its key, and the held responses chain oldest
//  first: holding a response costs one malloc and a few slot writes.
typedef struct _s_held_t s_held_t;
struct _s_held_t {
    s_held_t *next; //  the next younger one
    uint64_t seq;
    const char *request_id; //  the key it is remembered under; in data, after the response
    const char *id;         //  the response's own request id; in data, after the key
    uint64_t id_hash;       //  kp_idmap_hash_str (request_id)
    unsigned char identity[256];
    size_t identity_size;
    size_t size;
    unsigned char data[]; //  the encoded Response, then the id and its NUL
};

struct _kp_outbox_t {
    zsock_t *clients;
    kp_sendq_t *sendq;
    kp_logger_t *logger;
    kp_mirror_t *mirror; //  two-sites durability (may be NULL)
    kp_replay_t *replay;
    s_held_t *oldest, *newest; //  seqs rise along the chain (owned)
    size_t held;
    kp_idmap_t *by_id; //  request id -> held (keys borrowed)
};

static bool s_id_match(const void *value, const void *key)
{
    return strcmp(((const s_held_t *)value)->request_id, (const char *)key) == 0;
}

//  Up to which seq responses may leave.
static uint64_t s_released(kp_outbox_t *self)
{
    uint64_t durable = kp_logger_durable(self->logger);
    return self->mirror ? kp_mirror_release(self->mirror, durable) : durable;
}

void kp_outbox_set_mirror(kp_outbox_t *self, kp_mirror_t *mirror)
{
    self->mirror = mirror;
}

kp_outbox_t *kp_outbox_new(zsock_t *clients, kp_sendq_t *sendq, kp_logger_t *logger,
                           kp_replay_t *replay)
{
    kp_outbox_t *self = calloc(1, sizeof *self);
    assert(self);
    self->clients = clients;
    self->sendq = sendq;
    self->logger = logger;
    self->replay = replay;
    self->by_id = kp_idmap_new(256);
    assert(self->by_id);
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
    //  Only if no younger response took the id over.
    if (*held->request_id)
        kp_idmap_remove_value(self->by_id, held->id_hash, held);
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
    kp_idmap_destroy(&self->by_id);
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
//  already held takes over the id (as a hash update did before). If the
//  map is full, the response still leaves when durable; only a retry
//  over a new connection cannot redirect it.
static void s_hold(kp_outbox_t *self, s_held_t *held)
{
    held->next = NULL;
    if (self->newest)
        self->newest->next = held;
    else
        self->oldest = held;
    self->newest = held;
    self->held++;
    if (*held->request_id)
        (void)kp_idmap_put(self->by_id, held->id_hash, held->request_id, s_id_match, held);
}

//  A response whose message could not be queued (memory short: it is
//  dropped, as kp_sendq_add drops it) is still remembered, so that the
//  client's retry gets it. Out of line: the buffer stays off the stack of
//  the usual path.
static void __attribute__((noinline)) s_remember_only(kp_outbox_t *self, const char *request_id,
                                                      const Kp__Response *response, size_t size)
{
    unsigned char stack[S_STACK_SIZE];
    void *data = size <= sizeof stack ? stack : malloc(size);
    if (!data)
        return;
    kp__response__pack(response, data);
    kp_replay_put(self->replay, request_id, data, size, zclock_mono());
    if (data != stack)
        free(data);
}

//  Packs the response straight into the queued message: without a logger,
//  or when its record is durable already.
static void s_send_now(kp_outbox_t *self, const char *request_id, const void *identity,
                       size_t identity_size, const Kp__Response *response, size_t size)
{
    void *body = kp_sendq_reserve(self->sendq, self->clients, identity, identity_size, size);
    if (!body) {
        if (*request_id)
            s_remember_only(self, request_id, response, size);
        return;
    }
    kp__response__pack(response, body);
    if (*request_id)
        kp_replay_put(self->replay, request_id, body, size, zclock_mono());
}

//  Puts held in the chain in seq order. Responses are usually held in the
//  order of their records; one whose DECISION was logged earlier than a
//  response held already goes in front of it, so that it is not kept
//  waiting behind a later record.
static void s_hold_sorted(kp_outbox_t *self, s_held_t *held)
{
    if (!self->newest || self->newest->seq <= held->seq) {
        s_hold(self, held);
        return;
    }
    s_held_t **at = &self->oldest;
    while ((*at)->seq <= held->seq)
        at = &(*at)->next;
    held->next = *at;
    *at = held;
    self->held++;
    if (*held->request_id)
        (void)kp_idmap_put(self->by_id, held->id_hash, held->request_id, s_id_match, held);
}

//  The response packed into one block with its id, to be held.
static s_held_t *s_held_new(const void *identity, size_t identity_size,
                            const Kp__Response *response, const char *request_id, size_t size)
{
    const char *own = response->request_id ? response->request_id : "";
    size_t id_size = strlen(request_id) + 1, own_size = strlen(own) + 1;
    s_held_t *held = malloc(sizeof *held + size + id_size + own_size);
    assert(held);
    kp__response__pack(response, held->data);
    held->size = size;
    memcpy(held->data + size, request_id, id_size);
    held->request_id = (const char *)held->data + size;
    memcpy(held->data + size + id_size, own, own_size);
    held->id = (const char *)held->data + size + id_size;
    held->id_hash = kp_idmap_hash_str(held->request_id);
    memcpy(held->identity, identity, identity_size);
    held->identity_size = identity_size;
    return held;
}

int kp_outbox_send(kp_outbox_t *self, const void *identity, size_t identity_size, const char *key,
                   const Kp__Response *response, const Kp__LogRecord *record)
{
    assert(identity_size <= sizeof((s_held_t *)0)->identity);
    const char *request_id = key ? key : "";
    size_t size = kp__response__get_packed_size(response);
    if (!self->logger) {
        s_send_now(self, request_id, identity, identity_size, response, size);
        return 0;
    }
    uint64_t seq = kp_logger_log(self->logger, record);
    if (seq == 0)
        return -1;
    s_held_t *held = s_held_new(identity, identity_size, response, request_id, size);
    held->seq = seq;
    s_hold(self, held);
    return 0;
}

void kp_outbox_send_after(kp_outbox_t *self, const void *identity, size_t identity_size,
                          const char *key, const Kp__Response *response, uint64_t seq)
{
    assert(identity_size <= sizeof((s_held_t *)0)->identity);
    const char *request_id = key ? key : "";
    size_t size = kp__response__get_packed_size(response);
    if (!self->logger || seq <= s_released(self)) {
        s_send_now(self, request_id, identity, identity_size, response, size);
        return;
    }
    s_held_t *held = s_held_new(identity, identity_size, response, request_id, size);
    held->seq = seq;
    s_hold_sorted(self, held);
}

void kp_outbox_send_unlogged(kp_outbox_t *self, const void *identity, size_t identity_size,
                             const Kp__Response *response)
{
    size_t size = kp__response__get_packed_size(response);
    void *body = kp_sendq_reserve(self->sendq, self->clients, identity, identity_size, size);
    if (body)
        kp__response__pack(response, body);
}

size_t kp_outbox_refuse_held(kp_outbox_t *self, const Kp__Response *refusal)
{
    size_t count = 0;
    s_held_t *held;
    while ((held = s_detach_oldest(self))) {
        Kp__Response response = *refusal;
        response.request_id = (char *)held->id;
        kp_outbox_send_unlogged(self, held->identity, held->identity_size, &response);
        free(held);
        count++;
    }
    return count;
}

bool kp_outbox_redirect(kp_outbox_t *self, const char *key, const void *identity,
                        size_t identity_size)
{
    s_held_t *held = (s_held_t *)kp_idmap_get(self->by_id, kp_idmap_hash_str(key), key, s_id_match);
    if (!held)
        return false;
    memcpy(held->identity, identity, identity_size);
    held->identity_size = identity_size;
    return true;
}

void kp_outbox_release_durable(kp_outbox_t *self)
{
    if (!self->oldest)
        return;
    uint64_t durable = s_released(self);
    while (self->oldest && self->oldest->seq <= durable) {
        s_held_t *held = s_detach_oldest(self);
        s_deliver(self, held->request_id, held->identity, held->identity_size, held->data,
                  held->size);
        free(held);
    }
}

int kp_outbox_release(kp_outbox_t *self)
{
    if (!self->logger)
        return 0;
    int rc = kp_logger_recv(self->logger);
    kp_outbox_release_durable(self);
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
