/*  flight.c - the requests a node has in flight. */
#include "flight.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

//  A dispatch to look at when its hedge delay is over. Entries are not
//  removed when their part closes: a stale one is skipped when it comes up.
typedef struct {
    int64_t at;
    uint64_t ticket;
} s_overdue_t;

//  Both maps borrow their keys from the calls (ids from the requests,
//  tickets from the parts): an entry costs no allocation.
struct _kp_flight_t {
    kp_idmap_t *by_id;     //  request id -> call
    kp_idmap_t *by_ticket; //  ticket -> call, once per open part
    kp_call_t **heap;      //  min-heap on deadline_ms
    size_t heap_size, heap_capacity;
    uint64_t next_ticket;
    kp_request_free_fn *request_free; //  NULL: kp__request__free_unpacked
    int64_t now_ms;
    kp_hedge_t *hedge;    //  NULL: no hedging
    s_overdue_t *overdue; //  min-heap on at
    size_t overdue_size, overdue_capacity;
    kp_flight_stats_t stats;
};

static bool s_id_match(const void *value, const void *key)
{
    return strcmp(((const kp_call_t *)value)->key, (const char *)key) == 0;
}

static bool s_ticket_match(const void *value, const void *key)
{
    const kp_call_t *call = (const kp_call_t *)value;
    uint64_t ticket = *(const uint64_t *)key;
    for (size_t i = 0; i < call->part_count; i++)
        if (call->parts[i].ticket == ticket || call->parts[i].hedge_ticket == ticket)
            return true;
    return false;
}

kp_flight_t *kp_flight_new(void)
{
    kp_flight_t *self = calloc(1, sizeof *self);
    assert(self);
    self->by_id = kp_idmap_new(256);
    self->by_ticket = kp_idmap_new(256);
    assert(self->by_id && self->by_ticket);
    self->next_ticket = 1;
    return self;
}

void kp_flight_set_request_free(kp_flight_t *self, kp_request_free_fn *fn)
{
    self->request_free = fn;
}

void kp_flight_set_now(kp_flight_t *self, int64_t now_ms)
{
    self->now_ms = now_ms;
}

void kp_flight_set_hedging(kp_flight_t *self, uint32_t min_ms, uint32_t max_ms)
{
    kp_hedge_destroy(&self->hedge);
    if (min_ms)
        self->hedge = kp_hedge_new(min_ms, max_ms > min_ms ? max_ms : min_ms);
}

static void s_call_free(kp_flight_t *self, kp_call_t *call)
{
    for (size_t i = 0; i < call->part_count; i++)
        free(call->parts[i].payload);
    if (self->request_free)
        self->request_free(call->request);
    else
        kp__request__free_unpacked(call->request, NULL);
    free(call); //  the parts and the id live inside the call's block
}

void kp_flight_destroy(kp_flight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_flight_t *self = *self_p;
    for (size_t i = 0; i < self->heap_size; i++)
        s_call_free(self, self->heap[i]);
    kp_idmap_destroy(&self->by_id);
    kp_idmap_destroy(&self->by_ticket);
    kp_hedge_destroy(&self->hedge);
    free(self->overdue);
    free(self->heap);
    free(self);
    *self_p = NULL;
}

//  Heap helpers: calls know their slot so that any call can leave early.
static void s_heap_swap(kp_flight_t *self, size_t a, size_t b)
{
    kp_call_t *call = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = call;
    self->heap[a]->heap_index = a;
    self->heap[b]->heap_index = b;
}

static void s_heap_up(kp_flight_t *self, size_t index)
{
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->heap[parent]->deadline_ms <= self->heap[index]->deadline_ms)
            break;
        s_heap_swap(self, parent, index);
        index = parent;
    }
}

static void s_heap_down(kp_flight_t *self, size_t index)
{
    for (;;) {
        size_t smallest = index, left = 2 * index + 1, right = left + 1;
        if (left < self->heap_size &&
            self->heap[left]->deadline_ms < self->heap[smallest]->deadline_ms)
            smallest = left;
        if (right < self->heap_size &&
            self->heap[right]->deadline_ms < self->heap[smallest]->deadline_ms)
            smallest = right;
        if (smallest == index)
            return;
        s_heap_swap(self, smallest, index);
        index = smallest;
    }
}

kp_call_t *kp_flight_start(kp_flight_t *self, Kp__Request *request, const void *client,
                           size_t client_size, const char *key, const kp_decision_t *decision,
                           int64_t now_us, int64_t deadline_ms)
{
    assert(client_size <= sizeof((kp_call_t *)0)->client);
    //  One block for the call and its parts: one calloc per request.
    size_t part_count = decision->provider_count;
    kp_call_t *call = calloc(1, sizeof *call + part_count * sizeof(kp_part_t));
    assert(call);
    call->request_id = request->request_id ? request->request_id : (char *)"";
    call->key = key ? key : call->request_id;
    memcpy(call->client, client, client_size);
    call->client_size = client_size;
    call->request = request;
    call->decision = *decision;
    call->start_us = now_us;
    call->deadline_ms = deadline_ms;
    call->part_count = call->open_parts = part_count;
    call->parts = (kp_part_t *)(call + 1);
    for (size_t i = 0; i < call->part_count; i++)
        memcpy(call->parts[i].kbo, decision->providers[i], sizeof call->parts[i].kbo);
    //  A second call with an id in flight does not take the id over (as
    //  with zhashx_insert before). If the map is full, the call still runs
    //  to its end; only a retry cannot find it.
    uint64_t hash = kp_idmap_hash_str(call->key);
    if (!kp_idmap_get(self->by_id, hash, call->key, s_id_match))
        (void)kp_idmap_insert(self->by_id, hash, call);
    if (self->heap_size == self->heap_capacity) {
        self->heap_capacity = self->heap_capacity ? 2 * self->heap_capacity : 64;
        self->heap = realloc(self->heap, self->heap_capacity * sizeof *self->heap);
        assert(self->heap);
    }
    call->heap_index = self->heap_size;
    self->heap[self->heap_size++] = call;
    s_heap_up(self, call->heap_index);
    return call;
}

kp_call_t *kp_flight_find(kp_flight_t *self, const char *key)
{
    return (kp_call_t *)kp_idmap_get(self->by_id, kp_idmap_hash_str(key), key, s_id_match);
}

static void s_forget_dispatch(kp_flight_t *self, uint64_t *ticket, kp_registry_worker_t **worker)
{
    if (*ticket) {
        kp_idmap_remove(self->by_ticket, kp_idmap_hash_u64(*ticket), ticket, s_ticket_match);
        *ticket = 0;
    }
    if (*worker) {
        kp_registry_worker_release(*worker);
        *worker = NULL;
    }
}

//  Forgets both dispatches of part.
static void s_forget_ticket(kp_flight_t *self, kp_part_t *part)
{
    s_forget_dispatch(self, &part->ticket, &part->worker);
    s_forget_dispatch(self, &part->hedge_ticket, &part->hedge_worker);
}

//  Overdue heap helpers.
static void s_overdue_push(kp_flight_t *self, int64_t at, uint64_t ticket)
{
    if (self->overdue_size == self->overdue_capacity) {
        self->overdue_capacity = self->overdue_capacity ? 2 * self->overdue_capacity : 256;
        self->overdue = realloc(self->overdue, self->overdue_capacity * sizeof *self->overdue);
        assert(self->overdue);
    }
    size_t i = self->overdue_size++;
    while (i > 0 && self->overdue[(i - 1) / 2].at > at) {
        self->overdue[i] = self->overdue[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->overdue[i] = (s_overdue_t){at, ticket};
}

static s_overdue_t s_overdue_pop(kp_flight_t *self)
{
    s_overdue_t top = self->overdue[0];
    s_overdue_t last = self->overdue[--self->overdue_size];
    size_t i = 0, n = self->overdue_size;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && self->overdue[child + 1].at < self->overdue[child].at)
            child++;
        if (self->overdue[child].at >= last.at)
            break;
        self->overdue[i] = self->overdue[child];
        i = child;
    }
    if (n)
        self->overdue[i] = last;
    return top;
}

uint64_t kp_flight_dispatch(kp_flight_t *self, kp_call_t *call, size_t index,
                            kp_registry_worker_t *worker)
{
    assert(index < call->part_count);
    kp_part_t *part = &call->parts[index];
    s_forget_ticket(self, part);
    part->ticket = self->next_ticket++;
    part->worker = worker;
    part->waiting = worker == NULL;
    part->sent_ms = self->now_ms;
    if (worker)
        kp_registry_worker_take(worker);
    if (worker && self->hedge)
        s_overdue_push(self, self->now_ms + kp_hedge_delay_ms(self->hedge, part->kbo),
                       part->ticket);
    //  If the map is full, the reply will not be matched and the part
    //  times out, as if the worker had not answered.
    (void)kp_idmap_insert(self->by_ticket, kp_idmap_hash_u64(part->ticket), call);
    return part->ticket;
}

kp_call_t *kp_flight_by_ticket(kp_flight_t *self, uint64_t ticket, size_t *index)
{
    kp_call_t *call = (kp_call_t *)kp_idmap_get(self->by_ticket, kp_idmap_hash_u64(ticket), &ticket,
                                                s_ticket_match);
    if (!call)
        return NULL;
    for (size_t i = 0; i < call->part_count; i++)
        if (call->parts[i].ticket == ticket || call->parts[i].hedge_ticket == ticket) {
            *index = i;
            return call;
        }
    return NULL;
}

kp_registry_worker_t *kp_flight_ticket_worker(const kp_call_t *call, size_t index, uint64_t ticket)
{
    const kp_part_t *part = &call->parts[index];
    if (ticket && part->ticket == ticket)
        return part->worker;
    if (ticket && part->hedge_ticket == ticket)
        return part->hedge_worker;
    return NULL;
}

size_t kp_flight_close_part(kp_flight_t *self, kp_call_t *call, size_t index, Kp__Status status,
                            const uint8_t *payload, size_t payload_size)
{
    kp_part_t *part = &call->parts[index];
    assert(part->status == KP__STATUS__STATUS_UNSPECIFIED);
    s_forget_ticket(self, part);
    part->waiting = false;
    part->status = status;
    if (payload_size) {
        part->payload = malloc(payload_size);
        assert(part->payload);
        memcpy(part->payload, payload, payload_size);
        part->payload_size = payload_size;
    }
    return --call->open_parts;
}

size_t kp_flight_refuse_part(kp_flight_t *self, kp_call_t *call, size_t index, Kp__Reason reason)
{
    call->parts[index].reason = reason;
    return kp_flight_close_part(self, call, index, KP__STATUS__UNAVAILABLE, NULL, 0);
}

size_t kp_flight_answer(kp_flight_t *self, kp_call_t *call, size_t index, uint64_t ticket,
                        Kp__Status status, const uint8_t *payload, size_t payload_size)
{
    kp_part_t *part = &call->parts[index];
    bool second = ticket == part->hedge_ticket;
    kp_registry_worker_t *worker = second ? part->hedge_worker : part->worker;
    int64_t sent = second ? part->hedge_sent_ms : part->sent_ms;
    if (worker)
        kp_registry_worker_answered(worker);
    if (self->hedge && self->now_ms >= sent)
        kp_hedge_record(self->hedge, part->kbo, (uint64_t)(self->now_ms - sent) * 1000);
    self->stats.hedge_wins += second;
    self->stats.dropped += part->ticket && part->hedge_ticket; //  the other's reply is late
    return kp_flight_close_part(self, call, index, status, payload, payload_size);
}

kp_call_t *kp_flight_next_overdue(kp_flight_t *self, size_t *index, kp_registry_worker_t **holder)
{
    while (self->overdue_size && self->overdue[0].at <= self->now_ms) {
        uint64_t ticket = s_overdue_pop(self).ticket;
        kp_call_t *call = kp_flight_by_ticket(self, ticket, index);
        if (!call)
            continue; //  answered, or its call ended
        kp_part_t *part = &call->parts[*index];
        if (part->ticket != ticket || part->hedge_ticket || !part->worker)
            continue; //  hedged already, or ticket is the second dispatch
        *holder = part->worker;
        kp_registry_worker_suspect(part->worker);
        return call;
    }
    return NULL;
}

uint64_t kp_flight_hedge(kp_flight_t *self, kp_call_t *call, size_t index,
                         kp_registry_worker_t *worker)
{
    kp_part_t *part = &call->parts[index];
    assert(part->status == KP__STATUS__STATUS_UNSPECIFIED && !part->hedge_ticket && worker);
    part->hedge_ticket = self->next_ticket++;
    part->hedge_worker = worker;
    part->hedge_sent_ms = self->now_ms;
    kp_registry_worker_take(worker);
    (void)kp_idmap_insert(self->by_ticket, kp_idmap_hash_u64(part->hedge_ticket), call);
    self->stats.hedges++;
    return part->hedge_ticket;
}

bool kp_flight_drop_worker(kp_flight_t *self, kp_call_t *call, size_t index,
                           const kp_registry_worker_t *worker)
{
    kp_part_t *part = &call->parts[index];
    if (!part->ticket || !part->hedge_ticket)
        return false;
    if (part->hedge_worker == worker) {
        s_forget_dispatch(self, &part->hedge_ticket, &part->hedge_worker);
        return true;
    }
    if (part->worker != worker)
        return false;
    //  The second dispatch becomes the only one.
    s_forget_dispatch(self, &part->ticket, &part->worker);
    part->ticket = part->hedge_ticket;
    part->worker = part->hedge_worker;
    part->sent_ms = part->hedge_sent_ms;
    part->hedge_ticket = 0;
    part->hedge_worker = NULL;
    return true;
}

void kp_flight_stats(kp_flight_t *self, kp_flight_stats_t *out)
{
    *out = self->stats;
}

kp_call_t *kp_flight_next_expired(kp_flight_t *self, int64_t now_ms)
{
    if (self->heap_size && self->heap[0]->deadline_ms <= now_ms)
        return self->heap[0];
    return NULL;
}

int64_t kp_flight_next_deadline(kp_flight_t *self)
{
    int64_t next = self->heap_size ? self->heap[0]->deadline_ms : INT64_MAX;
    if (self->overdue_size && self->overdue[0].at < next)
        next = self->overdue[0].at;
    return next;
}

Kp__Status kp_call_status(const kp_call_t *call)
{
    size_t ok = 0;
    for (size_t i = 0; i < call->part_count; i++)
        ok += call->parts[i].status == KP__STATUS__OK;
    if (ok == call->part_count)
        return KP__STATUS__OK;
    if (call->part_count > 1 && ok > 0)
        return KP__STATUS__PARTIAL;
    //  Nothing came back: say why, the most telling reason first.
    Kp__Status status = call->parts[0].status;
    for (size_t i = 1; i < call->part_count; i++)
        if (call->parts[i].status == KP__STATUS__TIMEOUT)
            status = KP__STATUS__TIMEOUT;
    return status == KP__STATUS__STATUS_UNSPECIFIED ? KP__STATUS__TIMEOUT : status;
}

Kp__Reason kp_call_reason(const kp_call_t *call)
{
    Kp__Status status = kp_call_status(call);
    if (status == KP__STATUS__TIMEOUT)
        return KP__REASON__DEADLINE_EXCEEDED;
    if (status != KP__STATUS__UNAVAILABLE)
        return KP__REASON__REASON_NONE;
    for (size_t i = 0; i < call->part_count; i++)
        if (call->parts[i].status == KP__STATUS__UNAVAILABLE && call->parts[i].reason)
            return call->parts[i].reason;
    return KP__REASON__NO_LIVE_WORKER; //  never without a reason
}

void kp_flight_finish(kp_flight_t *self, kp_call_t **call_p)
{
    if (!call_p || !*call_p)
        return;
    kp_call_t *call = *call_p;
    for (size_t i = 0; i < call->part_count; i++)
        s_forget_ticket(self, &call->parts[i]);
    size_t index = call->heap_index;
    assert(index < self->heap_size && self->heap[index] == call);
    s_heap_swap(self, index, --self->heap_size);
    if (index < self->heap_size) {
        s_heap_down(self, index);
        s_heap_up(self, index);
    }
    //  Only if it is the call the id stands for.
    kp_idmap_remove_value(self->by_id, kp_idmap_hash_str(call->key), call);
    s_call_free(self, call);
    *call_p = NULL;
}

int kp_flight_each_on_worker(kp_flight_t *self, const kp_registry_worker_t *worker, kp_part_fn *fn,
                             void *arg)
{
    //  Collect first: fn may close parts, which changes the heap.
    zlistx_t *found = zlistx_new();
    for (size_t i = 0; i < self->heap_size; i++) {
        kp_call_t *call = self->heap[i];
        for (size_t p = 0; p < call->part_count; p++) {
            kp_part_t *part = &call->parts[p];
            bool open = part->status == KP__STATUS__STATUS_UNSPECIFIED;
            if (open && part->ticket && part->worker == worker && (worker || part->waiting))
                zlistx_add_end(found, (void *)(uintptr_t)part->ticket);
            else if (open && worker && part->hedge_ticket && part->hedge_worker == worker)
                zlistx_add_end(found, (void *)(uintptr_t)part->hedge_ticket);
        }
    }
    int rc = 0;
    for (void *item = zlistx_first(found); item && !rc; item = zlistx_next(found)) {
        size_t index;
        kp_call_t *call = kp_flight_by_ticket(self, (uint64_t)(uintptr_t)item, &index);
        if (call)
            rc = fn(call, index, arg);
    }
    zlistx_destroy(&found);
    return rc;
}

size_t kp_flight_size(kp_flight_t *self)
{
    return self->heap_size;
}

uint64_t kp_flight_last_ticket(kp_flight_t *self)
{
    return self->next_ticket - 1;
}
