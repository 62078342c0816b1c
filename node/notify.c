/*  notify.c - publishes in, notifies out, acks back (see notify.h).

    State kept here is only what the leader has in flight: the replicated
    queues (broker/mutation.h) are the truth. Per institution: the
    entries sent and not yet acknowledged in the replica (s_item_t, by
    seq), the workers that take notifies, where the next walk of the queue
    starts, and samples of the acknowledged count for the delivery rate.
*/
#include "notify.h"
#include "control.h"
#include "forward.h"
#include "json.h"
#include "mutation.h"
#include "validate.h"

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_PROPOSALS 4            //  updates of ours under way at once
#define S_MAX_BATCH 4096             //  mutations per proposal
#define S_MAX_BATCH_BYTES (4u << 20) //  and their bytes
#define S_LOOKAHEAD 8192             //  queue entries looked at per walk
#define S_SAMPLE_MS 5000             //  delivery rate: a sample this often
#define S_SAMPLES 13                 //  over a minute
#define S_EXPIRED_SCAN 100000        //  entries counted for "expired", at most
#define S_ID_MAX 256                 //  routing identities
#define S_PRUNE_MIN_MS 1000          //  prunable? looked at at most this often
#define S_PRUNE_MAX_MS 10000         //  and at least
#define S_REPORT_MS 1000             //  backlogs and expiries looked at this often
#define S_EXPIRED_LOG_MS 60000       //  a log line per institution at most this often
#define S_TOP 16                     //  backlogs kept for /metrics (the largest)

typedef struct {
    unsigned char identity[S_ID_MAX];
    size_t size;
    char kbo[KP_KBO_LEN + 1];
} s_worker_t;

typedef struct {
    uint64_t seq;
    char person[16];
    uint32_t attempts;
    int64_t due_ms; //  sent again then, unless acknowledged
    bool acked;     //  a worker acknowledged it; the ack is being replicated
    uint64_t token; //  the proposal carrying that ack (0: not yet proposed)
} s_item_t;

typedef struct {
    char kbo[KP_KBO_LEN + 1];
    zhashx_t *items;           //  seq (as text) -> s_item_t
    zlistx_t *workers;         //  s_worker_t (owned by self->workers)
    size_t next_worker;        //  round robin
    uint64_t scan_from;        //  entries before it are acknowledged, in flight or skipped
    uint64_t skipped;          //  first entry skipped for an earlier one of its person (0: none)
    uint64_t replays;          //  replays seen: a new one starts the walk over
    bool dirty;                //  something changed since the last walk
    size_t unacked;            //  items a worker has not acknowledged (the window)
    zlistx_t *acks;            //  seqs acknowledged, not yet proposed
    uint64_t expired_through;  //  entries up to it were looked at for expiry
    uint64_t expired_unlogged; //  expired since the last log line
    uint64_t expired_first, expired_last; //  their seqs
    int64_t expired_logged_ms;            //  when the last line went (0: never)
    int64_t sample_ms[S_SAMPLES];
    uint64_t sample_acked[S_SAMPLES];
    size_t samples, sample_pos;
} s_inst_t;

typedef struct {
    unsigned char identity[S_ID_MAX];
    size_t size;
    char id[KP_MUTATION_MAX_ID + 1];
    char origin[KP_KBO_LEN + 1];
} s_publish_t;

typedef struct {
    uint64_t token;
    zlistx_t *publishes; //  s_publish_t
} s_proposal_t;

typedef struct {
    uint64_t log_seq;
    unsigned char identity[S_ID_MAX];
    size_t size;
    uint8_t *data;
    size_t len;
} s_held_t;

struct _kp_notify_t {
    kp_directory_t *dir;
    kp_logger_t *logger;
    kp_mirror_t *mirror; //  two-sites durability (NULL: local)
    kp_notify_options_t options;
    zhashx_t *insts;   //  kbo -> s_inst_t
    zhashx_t *workers; //  identity (hex) -> s_worker_t
    Kp__DirectoryUpdate batch;
    zlistx_t *batch_publishes; //  s_publish_t of the batch
    zhashx_t *proposals;       //  token (text) -> s_proposal_t
    zlistx_t *held;            //  s_held_t, in log order
    bool leading;
    int64_t next_sample_ms;
    bool unsampled;           //  an institution came that has no sample yet
    int64_t next_proposal_ms; //  no proposal before (batch_ms after the last)
    int64_t next_prune_ms;    //  when to look whether something may be pruned
    uint64_t prune_before;    //  a prune to propose, before this (unix ms; 0: none)
    int64_t next_report_ms;
    kp_notify_backlog_t top[S_TOP]; //  the last report's largest backlogs
    size_t top_count;
    uint64_t top_others; //  and the sum of the rest
    kp_notify_stats_t stats;
};

//  ---------------------------------------------------------------------
//  Lifetime

static void s_inst_destroy(void **item)
{
    s_inst_t *inst = *item;
    if (!inst)
        return;
    zhashx_destroy(&inst->items);
    zlistx_destroy(&inst->workers);
    zlistx_destroy(&inst->acks);
    free(inst);
    *item = NULL;
}

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_proposal_destroy(void **item)
{
    s_proposal_t *proposal = *item;
    if (!proposal)
        return;
    zlistx_destroy(&proposal->publishes);
    free(proposal);
    *item = NULL;
}

static void s_held_destroy(void **item)
{
    s_held_t *held = *item;
    if (!held)
        return;
    free(held->data);
    free(held);
    *item = NULL;
}

kp_notify_t *kp_notify_new(kp_directory_t *dir, kp_logger_t *logger,
                           const kp_notify_options_t *options)
{
    kp_notify_t *self = calloc(1, sizeof *self);
    assert(self);
    self->dir = dir;
    self->logger = logger;
    self->options = *options;
    if (!self->options.window)
        self->options.window = 256;
    if (!self->options.ack_timeout_ms)
        self->options.ack_timeout_ms = 2000;
    if (self->options.max_backoff_ms < self->options.ack_timeout_ms)
        self->options.max_backoff_ms = self->options.ack_timeout_ms;
    if (!self->options.replay_window_ms)
        self->options.replay_window_ms = (uint64_t)KP_MUTATION_DEFAULT_RETENTION_DAYS * 86400000;
    self->insts = zhashx_new();
    zhashx_set_destructor(self->insts, s_inst_destroy);
    self->workers = zhashx_new();
    zhashx_set_destructor(self->workers, s_free_item);
    kp__directory_update__init(&self->batch);
    self->batch_publishes = zlistx_new();
    zlistx_set_destructor(self->batch_publishes, s_free_item);
    self->proposals = zhashx_new();
    zhashx_set_destructor(self->proposals, s_proposal_destroy);
    self->held = zlistx_new();
    zlistx_set_destructor(self->held, s_held_destroy);
    return self;
}

void kp_notify_destroy(kp_notify_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_notify_t *self = *self_p;
    zhashx_destroy(&self->insts);
    zhashx_destroy(&self->workers);
    kp_mutation_update_free(&self->batch);
    zlistx_destroy(&self->batch_publishes);
    zhashx_destroy(&self->proposals);
    zlistx_destroy(&self->held);
    free(self);
    *self_p = NULL;
}

void kp_notify_set_mirror(kp_notify_t *self, kp_mirror_t *mirror)
{
    self->mirror = mirror;
}

//  Up to which log seq notifies may leave: durable here, and on the
//  mirror with two-sites (the outbox's rule for responses).
static uint64_t s_released(const kp_notify_t *self)
{
    if (!self->logger)
        return UINT64_MAX;
    uint64_t durable = kp_logger_durable(self->logger);
    return self->mirror ? kp_mirror_release(self->mirror, durable) : durable;
}

static s_inst_t *s_inst(kp_notify_t *self, const char *kbo)
{
    s_inst_t *inst = zhashx_lookup(self->insts, kbo);
    if (inst)
        return inst;
    inst = calloc(1, sizeof *inst);
    assert(inst);
    snprintf(inst->kbo, sizeof inst->kbo, "%s", kbo);
    inst->items = zhashx_new();
    zhashx_set_destructor(inst->items, s_free_item);
    inst->workers = zlistx_new();
    inst->acks = zlistx_new();
    inst->dirty = true;
    zhashx_insert(self->insts, kbo, inst);
    self->unsampled = true; //  its rate counts from now, not from the next tick
    return inst;
}

static void s_seq_key(uint64_t seq, char key[24])
{
    snprintf(key, 24, "%" PRIu64, seq);
}

//  ---------------------------------------------------------------------
//  Workers

static void s_identity_key(const void *identity, size_t size, char *key)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = identity;
    for (size_t i = 0; i < size; i++) {
        key[2 * i] = hex[p[i] >> 4];
        key[2 * i + 1] = hex[p[i] & 15];
    }
    key[2 * size] = '\0';
}

void kp_notify_worker_gone(kp_notify_t *self, const void *identity, size_t size)
{
    char key[2 * S_ID_MAX + 1];
    if (size > S_ID_MAX)
        return;
    s_identity_key(identity, size, key);
    s_worker_t *worker = zhashx_lookup(self->workers, key);
    if (!worker)
        return;
    s_inst_t *inst = zhashx_lookup(self->insts, worker->kbo);
    if (inst) {
        void *handle = zlistx_find(inst->workers, worker);
        if (handle)
            zlistx_delete(inst->workers, handle);
    }
    zhashx_delete(self->workers, key);
}

void kp_notify_worker_hello(kp_notify_t *self, const char *kbo, const void *identity, size_t size)
{
    char key[2 * S_ID_MAX + 1];
    if (size > S_ID_MAX)
        return;
    kp_notify_worker_gone(self, identity, size);
    s_identity_key(identity, size, key);
    s_worker_t *worker = calloc(1, sizeof *worker);
    assert(worker);
    memcpy(worker->identity, identity, size);
    worker->size = size;
    snprintf(worker->kbo, sizeof worker->kbo, "%s", kbo);
    zhashx_insert(self->workers, key, worker);
    s_inst_t *inst = s_inst(self, kbo);
    zlistx_add_end(inst->workers, worker);
    inst->dirty = true;
    //  What was in flight to a worker of a previous session goes again now.
    for (s_item_t *item = zhashx_first(inst->items); item; item = zhashx_next(inst->items))
        if (!item->acked)
            item->due_ms = 0;
}

//  ---------------------------------------------------------------------
//  Publishes

static void s_answer(const void *identity, size_t size, const Kp__MutationPublished *published,
                     kp_notify_send_fn *send, void *arg)
{
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_PUBLISHED;
    frame.published = (Kp__MutationPublished *)published;
    size_t len = kp__worker_frame__get_packed_size(&frame);
    uint8_t *data = malloc(len ? len : 1);
    assert(data);
    kp__worker_frame__pack(&frame, data);
    send(arg, identity, size, data, len);
    free(data);
}

static void s_refuse(kp_notify_t *self, const void *identity, size_t size, const char *id,
                     Kp__Status status, Kp__Reason reason, const char *detail,
                     kp_notify_send_fn *send, void *arg)
{
    Kp__MutationPublished published = KP__MUTATION_PUBLISHED__INIT;
    published.id = (char *)(id ? id : "");
    published.has_status = true;
    published.status = status;
    published.has_reason = true;
    published.reason = reason;
    published.detail = (char *)detail;
    s_answer(identity, size, &published, send, arg);
    self->stats.refused++;
}

//  The publisher's (sector, type) must provide the message type.
static bool s_provides(kp_notify_t *self, MDB_txn *txn, const char *kbo, const char *message)
{
    kp_institution_view_t institution;
    return kp_directory_institution(self->dir, txn, kbo, &institution) == 0 &&
           kp_directory_provides(self->dir, txn, message, institution.sector, institution.type);
}

void kp_notify_publish(kp_notify_t *self, MDB_txn *txn, const char *kbo, const void *identity,
                       size_t size, const Kp__MutationPublish *publish, int64_t now_unix_ms,
                       kp_notify_send_fn *send, void *arg)
{
    Kp__Mutation *m = publish ? publish->mutation : NULL;
    const char *id = m && m->id && strlen(m->id) <= KP_MUTATION_MAX_ID ? m->id : "";
    if (size > S_ID_MAX)
        return;
    if (!m) {
        s_refuse(self, identity, size, id, KP__STATUS__INVALID, KP__REASON__INVALID_REQUEST,
                 "publish: no mutation", send, arg);
        return;
    }
    //  The origin is the worker's own institution, whatever the frame says.
    m->origin = (char *)kbo;
    m->has_time_unix_ms = true;
    m->time_unix_ms = (uint64_t)now_unix_ms;
    Kp__Reason reason;
    char err[256];
    if (kp_mutation_check(m, self->options.max_payload, &reason, err, sizeof err)) {
        char detail[300];
        snprintf(detail, sizeof detail, "publish: %s", err);
        s_refuse(self, identity, size, id, KP__STATUS__INVALID, reason, detail, send, arg);
        return;
    }
    if (!s_provides(self, txn, kbo, m->message)) {
        s_refuse(self, identity, size, id, KP__STATUS__DENIED, KP__REASON__MESSAGE_NOT_PROVIDED,
                 "publish: your institution's (sector, type) does not provide this message "
                 "type (availability table); publish only changes of what you provide",
                 send, arg);
        return;
    }
    uint32_t recipients;
    if (kp_mutation_published(self->dir, txn, kbo, m->id, &recipients) == 0) {
        Kp__MutationPublished published = KP__MUTATION_PUBLISHED__INIT;
        published.id = m->id;
        published.has_status = published.has_duplicate = published.has_recipients = true;
        published.status = KP__STATUS__OK;
        published.duplicate = true;
        published.recipients = recipients;
        s_answer(identity, size, &published, send, arg);
        self->stats.duplicates++;
        return;
    }
    if (kp_mutation_attach(&self->batch, m)) {
        s_refuse(self, identity, size, id, KP__STATUS__UNAVAILABLE, KP__REASON__QUEUE_FULL,
                 "publish: the node is out of memory; try again", send, arg);
        return;
    }
    s_publish_t *p = calloc(1, sizeof *p);
    assert(p);
    memcpy(p->identity, identity, size);
    p->size = size;
    snprintf(p->id, sizeof p->id, "%s", m->id);
    snprintf(p->origin, sizeof p->origin, "%s", kbo);
    zlistx_add_end(self->batch_publishes, p);
}

void kp_notify_ack(kp_notify_t *self, const char *kbo, const Kp__MutationAck *ack)
{
    s_inst_t *inst = s_inst(self, kbo);
    char key[24];
    for (size_t i = 0; i < ack->n_seqs && i < 65536; i++) {
        s_seq_key(ack->seqs[i], key);
        s_item_t *item = zhashx_lookup(inst->items, key);
        if (item && item->acked)
            continue; //  its ack is on its way already
        if (item) {
            item->acked = true;
            inst->unacked--;
        }
        //  The next change of that person may go now, before the ack is
        //  replicated: the worker has it.
        inst->dirty = true;
        zlistx_add_end(inst->acks, (void *)(uintptr_t)ack->seqs[i]);
        self->stats.acks++;
    }
}

//  ---------------------------------------------------------------------
//  Proposals

//  The acks waiting, one MutationQueueAck per institution, into update.
static void s_take_acks(kp_notify_t *self, Kp__DirectoryUpdate *update, uint64_t token,
                        int64_t now_unix_ms)
{
    size_t count = 0;
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts))
        count += zlistx_size(inst->acks) > 0;
    if (!count)
        return;
    update->acks = calloc(count, sizeof *update->acks);
    assert(update->acks);
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts)) {
        size_t n = zlistx_size(inst->acks);
        if (!n)
            continue;
        Kp__MutationQueueAck *ack = calloc(1, sizeof *ack);
        assert(ack);
        kp__mutation_queue_ack__init(ack);
        ack->kbo = inst->kbo;
        ack->has_time_unix_ms = true;
        ack->time_unix_ms = (uint64_t)now_unix_ms;
        ack->seqs = calloc(n, sizeof *ack->seqs);
        assert(ack->seqs);
        char key[24];
        for (void *seq = zlistx_first(inst->acks); seq; seq = zlistx_next(inst->acks)) {
            ack->seqs[ack->n_seqs++] = (uint64_t)(uintptr_t)seq;
            s_seq_key((uint64_t)(uintptr_t)seq, key);
            s_item_t *item = zhashx_lookup(inst->items, key);
            if (item)
                item->token = token;
        }
        zlistx_purge(inst->acks);
        update->acks[update->n_acks++] = ack;
    }
}

static void s_free_acks(Kp__DirectoryUpdate *update)
{
    for (size_t i = 0; i < update->n_acks; i++) {
        free(update->acks[i]->seqs);
        free(update->acks[i]);
    }
    free(update->acks);
}

//  How many of the batch's first mutations go in one proposal: at most
//  S_MAX_BATCH, and S_MAX_BATCH_BYTES (one at least).
static size_t s_batch_take(const kp_notify_t *self)
{
    size_t n = 0, bytes = 0;
    while (n < self->batch.n_mutations && n < S_MAX_BATCH) {
        bytes += kp__mutation__get_packed_size(self->batch.mutations[n]);
        if (n > 0 && bytes > S_MAX_BATCH_BYTES)
            break;
        n++;
    }
    return n;
}

//  The first n publishes of the batch become the proposal's.
static s_proposal_t *s_proposal_new(kp_notify_t *self, uint64_t token, size_t n)
{
    s_proposal_t *proposal = calloc(1, sizeof *proposal);
    assert(proposal);
    proposal->token = token;
    proposal->publishes = zlistx_new();
    zlistx_set_destructor(proposal->publishes, s_free_item);
    for (size_t i = 0; i < n; i++) {
        s_publish_t *p = zlistx_first(self->batch_publishes);
        zlistx_detach_cur(self->batch_publishes);
        zlistx_add_end(proposal->publishes, p);
    }
    return proposal;
}

//  The batch's first n mutations (proposed) leave it.
static void s_batch_drop(kp_notify_t *self, size_t n)
{
    if (n == 0)
        return;
    Kp__DirectoryUpdate sent = KP__DIRECTORY_UPDATE__INIT;
    sent.mutations = malloc(n * sizeof *sent.mutations);
    assert(sent.mutations);
    memcpy(sent.mutations, self->batch.mutations, n * sizeof *sent.mutations);
    sent.n_mutations = n;
    kp_mutation_update_free(&sent);
    size_t left = self->batch.n_mutations - n;
    memmove(self->batch.mutations, self->batch.mutations + n, left * sizeof(Kp__Mutation *));
    self->batch.n_mutations = left;
}

static bool s_acks_wait(kp_notify_t *self)
{
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts))
        if (zlistx_size(inst->acks))
            return true;
    return false;
}

int64_t kp_notify_next_ms(kp_notify_t *self)
{
    //  With enough proposals under way, a result wakes the loop.
    if (zhashx_size(self->proposals) >= S_MAX_PROPOSALS)
        return INT64_MAX;
    return self->batch.n_mutations || self->prune_before || s_acks_wait(self)
               ? self->next_proposal_ms
               : INT64_MAX;
}

uint8_t *kp_notify_proposal(kp_notify_t *self, uint64_t token, int64_t now_ms, int64_t now_unix_ms,
                            size_t *size)
{
    if (zhashx_size(self->proposals) >= S_MAX_PROPOSALS || now_ms < self->next_proposal_ms)
        return NULL;
    //  A batch too large for one proposal: its first mutations go now.
    size_t n = s_batch_take(self);
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.mutations = self->batch.mutations;
    update.n_mutations = n;
    update.origin = "notify";
    s_take_acks(self, &update, token, now_unix_ms);
    Kp__MutationPrune prune = KP__MUTATION_PRUNE__INIT;
    if (self->prune_before) {
        prune.has_before_unix_ms = prune.has_max = true;
        prune.before_unix_ms = self->prune_before;
        prune.max = KP_MUTATION_PRUNE_MAX;
        update.prune = &prune;
        self->prune_before = 0; //  a lost one is found again at the next look
    }
    if (update.n_mutations == 0 && update.n_acks == 0 && !update.prune)
        return NULL;
    *size = kp__directory_update__get_packed_size(&update);
    uint8_t *packed = malloc(*size ? *size : 1);
    assert(packed);
    kp__directory_update__pack(&update, packed);
    s_free_acks(&update);
    s_proposal_t *proposal = s_proposal_new(self, token, n);
    s_batch_drop(self, n);
    char key[24];
    s_seq_key(token, key);
    zhashx_insert(self->proposals, key, proposal);
    self->stats.proposals++;
    self->next_proposal_ms = now_ms + self->options.batch_ms;
    return packed;
}

//  A proposal's acks are in the replica (ok) or were lost (not ok: the
//  entries go again when their time comes).
static void s_acks_done(kp_notify_t *self, uint64_t token, bool ok)
{
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts)) {
        zlistx_t *done = zlistx_new();
        for (s_item_t *item = zhashx_first(inst->items); item; item = zhashx_next(inst->items))
            if (item->token == token) {
                if (ok)
                    zlistx_add_end(done, (void *)zhashx_cursor(inst->items));
                else {
                    item->acked = false;
                    item->token = 0;
                    item->due_ms = 0;
                    inst->unacked++;
                }
            }
        for (const char *key = zlistx_first(done); key; key = zlistx_next(done)) {
            char copy[24];
            snprintf(copy, sizeof copy, "%s", key);
            zhashx_delete(inst->items, copy);
            inst->dirty = true;
        }
        zlistx_destroy(&done);
    }
}

bool kp_notify_result(kp_notify_t *self, const kp_cluster_event_t *event, MDB_txn *txn,
                      kp_notify_send_fn *send, void *arg)
{
    char key[24];
    s_seq_key(event->token, key);
    s_proposal_t *proposal = zhashx_lookup(self->proposals, key);
    if (!proposal)
        return false;
    bool ok = event->result == KP_CLUSTER_OK;
    s_acks_done(self, event->token, ok);
    for (s_publish_t *p = zlistx_first(proposal->publishes); p;
         p = zlistx_next(proposal->publishes)) {
        Kp__MutationPublished published = KP__MUTATION_PUBLISHED__INIT;
        published.id = p->id;
        published.has_status = true;
        published.status = ok ? KP__STATUS__OK : KP__STATUS__UNAVAILABLE;
        if (ok) {
            uint32_t recipients = 0;
            kp_mutation_published(self->dir, txn, p->origin, p->id, &recipients);
            published.has_recipients = true;
            published.recipients = recipients;
            self->stats.published++;
        } else {
            published.has_reason = true;
            published.reason = event->result == KP_CLUSTER_NOT_LEADER  ? KP__REASON__NOT_LEADER
                               : event->result == KP_CLUSTER_NO_QUORUM ? KP__REASON__NO_QUORUM
                               : event->result == KP_CLUSTER_UNKNOWN   ? KP__REASON__OUTCOME_UNKNOWN
                                                                       : KP__REASON__UPDATE_FAILED;
            published.detail = (char *)event->text;
            if (event->result == KP_CLUSTER_NOT_LEADER || event->result == KP_CLUSTER_NO_QUORUM)
                published.leader = (char *)event->text;
            self->stats.refused++;
        }
        s_answer(p->identity, p->size, &published, send, arg);
    }
    zhashx_delete(self->proposals, key);
    return true;
}

//  ---------------------------------------------------------------------
//  Delivery

//  The log record of one notify: who received what about whom, on what
//  grounds. Its sequence number (0: the log refused it).
static uint64_t s_log(kp_notify_t *self, const char *kbo, const kp_mutation_item_t *item,
                      uint32_t attempt)
{
    const Kp__MutationEntry *entry = item->entry;
    const Kp__Mutation *m = entry->mutation;
    Kp__LogRecord record = KP__LOG_RECORD__INIT;
    Kp__LogPart part = KP__LOG_PART__INIT, *parts[] = {&part};
    char action[96];
    snprintf(action, sizeof action, "notify seq %" PRIu64 " attempt %u", item->seq, attempt);
    record.request_id = m->id;
    record.has_time_unix_us = true;
    record.time_unix_us = (uint64_t)zclock_time() * 1000;
    record.node = (char *)self->options.node;
    record.message = m->message;
    record.person = m->person;
    record.sender_kbo = m->origin;
    record.has_sector = record.has_type = record.has_capacity = true;
    record.sector = entry->sector;
    record.type = entry->type;
    record.capacity = entry->capacity;
    record.has_status = true;
    record.status = KP__STATUS__OK;
    record.action = action;
    part.kbo = (char *)kbo;
    part.has_status = true;
    part.status = KP__STATUS__OK;
    record.parts = parts;
    record.n_parts = 1;
    return kp_logger_log(self->logger, &record);
}

static s_worker_t *s_pick_worker(s_inst_t *inst)
{
    size_t n = zlistx_size(inst->workers);
    if (!n)
        return NULL;
    size_t at = inst->next_worker++ % n;
    s_worker_t *worker = zlistx_first(inst->workers);
    while (at--)
        worker = zlistx_next(inst->workers);
    return worker;
}

typedef struct {
    kp_notify_t *self;
    s_inst_t *inst;
    MDB_txn *txn;
    int64_t now_ms;
    kp_notify_send_fn *send;
    void *arg;
} s_pump_t;

//  Sends (or holds until its log record is durable) the notify of item.
//  False if it could not be logged.
static bool s_send(s_pump_t *pump, const kp_mutation_item_t *item, uint32_t attempt)
{
    kp_notify_t *self = pump->self;
    s_worker_t *worker = s_pick_worker(pump->inst);
    if (!worker)
        return false;
    uint64_t log_seq = 0;
    if (self->logger && !(log_seq = s_log(self, pump->inst->kbo, item, attempt)))
        return false;
    Kp__MutationNotify notify = KP__MUTATION_NOTIFY__INIT;
    notify.has_seq = notify.has_capacity = notify.has_attempt = true;
    notify.seq = item->seq;
    notify.mutation = item->entry->mutation;
    notify.capacity = item->entry->capacity;
    notify.attempt = attempt;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_NOTIFY;
    frame.notify = &notify;
    size_t len = kp__worker_frame__get_packed_size(&frame);
    uint8_t *data = malloc(len ? len : 1);
    assert(data);
    kp__worker_frame__pack(&frame, data);
    if (log_seq <= s_released(self)) {
        pump->send(pump->arg, worker->identity, worker->size, data, len);
        free(data);
    } else {
        s_held_t *held = calloc(1, sizeof *held);
        assert(held);
        held->log_seq = log_seq;
        memcpy(held->identity, worker->identity, worker->size);
        held->size = worker->size;
        held->data = data;
        held->len = len;
        zlistx_add_end(self->held, held);
    }
    if (attempt == 1)
        self->stats.notifies++;
    else
        self->stats.resends++;
    return true;
}

static int64_t s_backoff(const kp_notify_t *self, uint32_t attempts)
{
    uint64_t wait = self->options.ack_timeout_ms;
    for (uint32_t i = 1; i < attempts && wait < self->options.max_backoff_ms; i++)
        wait *= 2;
    return (int64_t)(wait < self->options.max_backoff_ms ? wait : self->options.max_backoff_ms);
}

typedef struct {
    s_pump_t *pump;
    zhashx_t *blocked; //  persons with an entry unacknowledged before this one
    uint64_t skipped;
    uint64_t stopped; //  the entry the walk stopped at, not handled (0: none)
    size_t looked;
    uint64_t last;
} s_walk_t;

static int s_walk_one(const kp_mutation_item_t *item, void *arg)
{
    s_walk_t *walk = arg;
    s_inst_t *inst = walk->pump->inst;
    kp_notify_t *self = walk->pump->self;
    if (++walk->looked > S_LOOKAHEAD) {
        walk->stopped = item->seq;
        return 1;
    }
    walk->last = item->seq;
    if (item->acked)
        return 0;
    const char *person = item->entry->mutation->person;
    char key[24];
    s_seq_key(item->seq, key);
    s_item_t *flying = zhashx_lookup(inst->items, key);
    if (flying) {
        if (!flying->acked)
            zhashx_insert(walk->blocked, person, (void *)1);
        return 0;
    }
    if (zhashx_lookup(walk->blocked, person)) {
        if (!walk->skipped)
            walk->skipped = item->seq;
        return 0;
    }
    if (inst->unacked >= self->options.window || !s_send(walk->pump, item, 1)) {
        walk->last = item->seq - 1;
        walk->stopped = item->seq;
        return 1;
    }
    s_item_t *sent = calloc(1, sizeof *sent);
    assert(sent);
    sent->seq = item->seq;
    snprintf(sent->person, sizeof sent->person, "%s", person);
    sent->attempts = 1;
    sent->due_ms = walk->pump->now_ms + s_backoff(self, 1);
    zhashx_insert(inst->items, key, sent);
    inst->unacked++;
    zhashx_insert(walk->blocked, person, (void *)1);
    return 0;
}

//  Walks the queue from where the last walk left off (or from its first
//  skipped entry), sending what may go.
static void s_walk(s_pump_t *pump, const kp_mutation_queue_t *q)
{
    s_inst_t *inst = pump->inst;
    if (q->replays != inst->replays || inst->scan_from < q->head) {
        inst->replays = q->replays;
        inst->scan_from = q->head;
        inst->skipped = 0;
    }
    s_walk_t walk = {pump, zhashx_new(), 0, 0, 0, 0};
    for (s_item_t *item = zhashx_first(inst->items); item; item = zhashx_next(inst->items))
        if (!item->acked && item->seq < inst->scan_from)
            zhashx_insert(walk.blocked, item->person, (void *)1);
    uint64_t from =
        inst->skipped && inst->skipped < inst->scan_from ? inst->skipped : inst->scan_from;
    //  Skipped entries before scan_from block their persons for what follows.
    walk.last = from - 1;
    kp_mutation_items_each(pump->self->dir, pump->txn, inst->kbo, from, s_walk_one, &walk);
    if (walk.last + 1 > inst->scan_from)
        inst->scan_from = walk.last + 1;
    //  Where the next walk starts: the first entry skipped, or the one it
    //  stopped at (window full), whichever comes first.
    inst->skipped = walk.skipped ? walk.skipped : walk.stopped;
    zhashx_destroy(&walk.blocked);
    inst->dirty = false;
}

typedef struct {
    s_pump_t *pump;
    s_item_t *item;
    bool found;
} s_resend_t;

static int s_resend_one(const kp_mutation_item_t *item, void *arg)
{
    s_resend_t *r = arg;
    if (item->seq != r->item->seq)
        return 1;
    r->found = !item->acked;
    if (r->found && s_send(r->pump, item, r->item->attempts + 1))
        r->item->attempts++;
    return 1;
}

//  Sends again what was not acknowledged in time; forgets what the
//  replica holds acknowledged.
static void s_resend(s_pump_t *pump, MDB_txn *txn, const kp_mutation_queue_t *q)
{
    s_inst_t *inst = pump->inst;
    zlistx_t *gone = zlistx_new();
    for (s_item_t *item = zhashx_first(inst->items); item; item = zhashx_next(inst->items)) {
        if (item->acked)
            continue;
        if (item->seq < q->head) {
            zlistx_add_end(gone, (void *)zhashx_cursor(inst->items));
            inst->unacked--;
            continue;
        }
        if (item->due_ms > pump->now_ms)
            continue;
        s_resend_t r = {pump, item, false};
        kp_mutation_items_each(pump->self->dir, txn, inst->kbo, item->seq, s_resend_one, &r);
        if (!r.found) {
            zlistx_add_end(gone, (void *)zhashx_cursor(inst->items));
            inst->unacked--;
        } else
            item->due_ms = pump->now_ms + s_backoff(pump->self, item->attempts);
    }
    for (const char *key = zlistx_first(gone); key; key = zlistx_next(gone)) {
        char copy[24];
        snprintf(copy, sizeof copy, "%s", key);
        zhashx_delete(inst->items, copy);
        inst->dirty = true;
    }
    zlistx_destroy(&gone);
}

static void s_forget(kp_notify_t *self)
{
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts)) {
        zhashx_purge(inst->items);
        inst->unacked = 0;
        zlistx_purge(inst->acks);
        inst->scan_from = 0;
        inst->skipped = 0;
        inst->dirty = true;
    }
    zlistx_purge(self->held);
    self->prune_before = 0;
}

static void s_release_held(kp_notify_t *self, kp_notify_send_fn *send, void *arg)
{
    uint64_t released = s_released(self);
    s_held_t *held;
    while ((held = zlistx_first(self->held)) && held->log_seq <= released) {
        send(arg, held->identity, held->size, held->data, held->len);
        zlistx_delete(self->held, zlistx_cursor(self->held));
    }
}

//  A sample of every institution's acknowledged count each S_SAMPLE_MS,
//  and a first one of an institution as soon as it comes (its delivery
//  rate is then known from its first acknowledgements on).
static void s_sample(kp_notify_t *self, MDB_txn *txn, int64_t now_ms)
{
    bool tick = now_ms >= self->next_sample_ms;
    if (!tick && !self->unsampled)
        return;
    if (tick)
        self->next_sample_ms = now_ms + S_SAMPLE_MS;
    self->unsampled = false;
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts)) {
        kp_mutation_queue_t q;
        if (!tick && inst->samples)
            continue;
        if (kp_mutation_queue(self->dir, txn, inst->kbo, &q))
            q.acked = 0; //  nothing queued for it yet
        inst->sample_ms[inst->sample_pos] = now_ms;
        inst->sample_acked[inst->sample_pos] = q.acked;
        inst->sample_pos = (inst->sample_pos + 1) % S_SAMPLES;
        if (inst->samples < S_SAMPLES)
            inst->samples++;
    }
}

//  Whether something is older than the replay window (a prune is then
//  proposed), looked at more often while there is.
static void s_prune_look(kp_notify_t *self, MDB_txn *txn, int64_t now_ms, int64_t now_unix_ms)
{
    if (now_ms < self->next_prune_ms || self->prune_before)
        return;
    uint64_t window = self->options.replay_window_ms;
    uint64_t before = (uint64_t)now_unix_ms > window ? (uint64_t)now_unix_ms - window : 0;
    int64_t every = (int64_t)(window / 4);
    every = every < S_PRUNE_MIN_MS   ? S_PRUNE_MIN_MS
            : every > S_PRUNE_MAX_MS ? S_PRUNE_MAX_MS
                                     : every;
    if (before && kp_mutation_prunable(self->dir, txn, before)) {
        self->prune_before = before;
        every = S_PRUNE_MIN_MS;
    }
    self->next_prune_ms = now_ms + every;
}

void kp_notify_pump(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_ms,
                    int64_t now_unix_ms, kp_notify_send_fn *send, void *arg)
{
    if (!leader) {
        if (self->leading)
            s_forget(self);
        self->leading = false;
        return;
    }
    self->leading = true;
    s_release_held(self, send, arg);
    s_sample(self, txn, now_ms);
    s_prune_look(self, txn, now_ms, now_unix_ms);
    for (s_inst_t *inst = zhashx_first(self->insts); inst; inst = zhashx_next(self->insts)) {
        if (!zlistx_size(inst->workers))
            continue;
        kp_mutation_queue_t q;
        if (kp_mutation_queue(self->dir, txn, inst->kbo, &q))
            continue;
        s_pump_t pump = {self, inst, txn, now_ms, send, arg};
        s_resend(&pump, txn, &q);
        if ((inst->dirty || q.next > inst->scan_from || q.replays != inst->replays) &&
            inst->unacked < self->options.window && q.pending)
            s_walk(&pump, &q);
    }
    s_release_held(self, send, arg);
}

//  ---------------------------------------------------------------------
//  Reports: backlogs for /metrics, expired changes in the node's log

static uint64_t s_retention_ms(const kp_notify_t *self)
{
    return self->options.retention_ms ? self->options.retention_ms
                                      : (uint64_t)self->options.retention_days * 86400000ULL;
}

//  Changes queued before cutoff_ms (unix ms) are expired if undelivered.
static uint64_t s_cutoff(const kp_notify_t *self, int64_t now_unix_ms)
{
    uint64_t retention = s_retention_ms(self);
    return (uint64_t)now_unix_ms > retention ? (uint64_t)now_unix_ms - retention : 0;
}

typedef struct {
    kp_notify_t *self;
    MDB_txn *txn;
    bool leader;
    int64_t now_ms;
    uint64_t cutoff_ms;
    size_t budget; //  entries the expiry scans may still decode this report
    s_inst_t *inst;
} s_report_t;

//  Counts the expired entries of one queue past the ones seen before.
static int s_expired_item(const kp_mutation_item_t *item, void *arg)
{
    s_report_t *r = arg;
    if (!r->budget || item->entry->mutation->time_unix_ms >= r->cutoff_ms)
        return 1; //  later entries are younger still
    r->budget--;
    s_inst_t *inst = r->inst;
    inst->expired_through = item->seq;
    if (item->acked)
        return 0;
    if (!inst->expired_unlogged)
        inst->expired_first = item->seq;
    inst->expired_last = item->seq;
    inst->expired_unlogged++;
    r->self->stats.expired++;
    return 0;
}

static void s_expired_log(kp_notify_t *self, s_inst_t *inst, int64_t now_ms)
{
    if (!inst->expired_unlogged ||
        (inst->expired_logged_ms && now_ms - inst->expired_logged_ms < S_EXPIRED_LOG_MS))
        return;
    zsys_warning("kpnode %s: %" PRIu64 " change(s) for institution %s expired undelivered "
                 "(queued longer ago than the mutation-retention of %" PRIu64 " s; seq %" PRIu64
                 "..%" PRIu64 "); they stay queued: see `kpctl mutations "
                 "status --kbo %s`, or start a worker of that institution",
                 self->options.node, inst->expired_unlogged, inst->kbo, s_retention_ms(self) / 1000,
                 inst->expired_first, inst->expired_last, inst->kbo);
    inst->expired_unlogged = 0;
    inst->expired_logged_ms = now_ms;
}

//  Keeps the S_TOP largest backlogs, largest first.
static void s_top_add(kp_notify_t *self, const char *kbo, uint64_t backlog)
{
    size_t at = self->top_count;
    while (at > 0 && self->top[at - 1].backlog < backlog)
        at--;
    if (at >= S_TOP) {
        self->top_others += backlog;
        return;
    }
    if (self->top_count == S_TOP)
        self->top_others += self->top[S_TOP - 1].backlog;
    else
        self->top_count++;
    memmove(&self->top[at + 1], &self->top[at], (self->top_count - 1 - at) * sizeof self->top[0]);
    snprintf(self->top[at].kbo, sizeof self->top[at].kbo, "%s", kbo);
    self->top[at].backlog = backlog;
}

static int s_report_queue(const kp_mutation_queue_t *q, void *arg)
{
    s_report_t *r = arg;
    kp_notify_t *self = r->self;
    if (q->pending)
        s_top_add(self, q->kbo, q->pending);
    if (!r->leader || !q->pending)
        return 0;
    r->inst = s_inst(self, q->kbo);
    uint64_t from = r->inst->expired_through + 1 > q->head ? r->inst->expired_through + 1 : q->head;
    if (r->budget)
        kp_mutation_items_each(self->dir, r->txn, q->kbo, from, s_expired_item, r);
    s_expired_log(self, r->inst, r->now_ms);
    return 0;
}

void kp_notify_report(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_ms,
                      int64_t now_unix_ms)
{
    if (now_ms < self->next_report_ms)
        return;
    self->next_report_ms = now_ms + S_REPORT_MS;
    self->top_count = 0;
    self->top_others = 0;
    s_report_t r = {self, txn, leader, now_ms, s_cutoff(self, now_unix_ms), S_EXPIRED_SCAN, NULL};
    kp_mutation_queues_each(self->dir, txn, s_report_queue, &r);
}

size_t kp_notify_backlogs(const kp_notify_t *self, kp_notify_backlog_t *top, size_t max,
                          uint64_t *others)
{
    size_t n = self->top_count < max ? self->top_count : max;
    memcpy(top, self->top, n * sizeof *top);
    *others = self->top_others;
    for (size_t i = n; i < self->top_count; i++)
        *others += self->top[i].backlog;
    return n;
}

//  ---------------------------------------------------------------------
//  Status

typedef struct {
    kp_notify_t *self;
    MDB_txn *txn;
    kp_json_t *json;
    int64_t now_unix_ms;
    uint64_t cutoff_ms; //  queued before: expired
    uint64_t oldest_ms;
    uint64_t expired;
    size_t looked;
} s_status_t;

static int s_status_item(const kp_mutation_item_t *item, void *arg)
{
    s_status_t *s = arg;
    if (++s->looked > S_EXPIRED_SCAN)
        return 1;
    if (item->acked)
        return 0;
    uint64_t time = item->entry->mutation->time_unix_ms;
    if (!s->oldest_ms || time < s->oldest_ms)
        s->oldest_ms = time;
    if (time >= s->cutoff_ms)
        return 1; //  later entries are younger still
    s->expired++;
    return 0;
}

static double s_rate(const s_inst_t *inst, uint64_t acked_now, int64_t now_ms)
{
    if (!inst || !inst->samples)
        return 0;
    size_t oldest = inst->samples < S_SAMPLES ? 0 : inst->sample_pos;
    int64_t span = now_ms - inst->sample_ms[oldest];
    if (span <= 0)
        return 0;
    return (double)(acked_now - inst->sample_acked[oldest]) * 1000.0 / (double)span;
}

static int s_status_queue(const kp_mutation_queue_t *q, void *arg)
{
    s_status_t *s = arg;
    kp_json_t *json = s->json;
    s_inst_t *inst = zhashx_lookup(s->self->insts, q->kbo);
    s->oldest_ms = s->expired = 0;
    s->looked = 0;
    if (q->pending)
        kp_mutation_items_each(s->self->dir, s->txn, q->kbo, q->head, s_status_item, s);
    kp_json_object_open(json);
    kp_json_kv_string(json, "kbo", q->kbo);
    kp_json_kv_uint(json, "backlog", q->pending);
    kp_json_kv_uint(json, "enqueued", q->enqueued);
    kp_json_kv_uint(json, "acked", q->acked);
    kp_json_kv_uint(json, "replays", q->replays);
    kp_json_kv_uint(json, "pruned", q->pruned);
    kp_json_kv_uint(json, "head", q->head);
    kp_json_kv_uint(json, "next", q->next);
    kp_json_key(json, "oldest_undelivered");
    if (s->oldest_ms) {
        char when[32];
        kp_time_format((int64_t)(s->oldest_ms / 1000), when);
        kp_json_string(json, when);
        kp_json_kv_int(json, "oldest_age_s", (s->now_unix_ms - (int64_t)s->oldest_ms) / 1000);
    } else
        kp_json_null(json);
    kp_json_kv_uint(json, "expired", s->expired);
    kp_json_kv_uint(json, "in_flight", inst ? zhashx_size(inst->items) : 0);
    kp_json_kv_uint(json, "workers", inst ? zlistx_size(inst->workers) : 0);
    kp_json_key(json, "delivery_rate");
    kp_json_double(json, s_rate(inst, q->acked, zclock_mono()));
    kp_json_object_close(json);
    return 0;
}

char *kp_notify_status_json(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_unix_ms,
                            const kp_forward_stats_t *forward)
{
    kp_json_t *json = kp_json_new();
    s_status_t s = {self, txn, json, now_unix_ms, s_cutoff(self, now_unix_ms), 0, 0, 0};
    kp_json_object_open(json);
    kp_json_kv_string(json, "node", self->options.node);
    kp_json_key(json, "delivering");
    kp_json_bool(json, leader);
    kp_json_kv_uint(json, "retention_days", self->options.retention_days);
    kp_json_kv_uint(json, "retention_s", s_retention_ms(self) / 1000);
    kp_json_kv_uint(json, "expired_total", self->stats.expired);
    kp_json_kv_uint(json, "published", self->stats.published);
    kp_json_kv_uint(json, "refused", self->stats.refused);
    kp_json_kv_uint(json, "duplicates", self->stats.duplicates);
    kp_json_kv_uint(json, "notifies", self->stats.notifies);
    kp_json_kv_uint(json, "resends", self->stats.resends);
    kp_json_kv_uint(json, "acks", self->stats.acks);
    if (forward)
        kp_forward_stats_json(json, forward);
    kp_json_key(json, "queues");
    kp_json_array_open(json);
    kp_mutation_queues_each(self->dir, txn, s_status_queue, &s);
    kp_json_array_close(json);
    kp_json_object_close(json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}

void kp_notify_stats(const kp_notify_t *self, kp_notify_stats_t *out)
{
    *out = self->stats;
}
