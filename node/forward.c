/*  forward.c - proposals a follower forwards to the leader; see
    forward.h. The table is a list in the order sent (at most
    KP_FORWARD_MAX: a walk of it is cheap next to a raft round trip). */
#include "forward.h"

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t id;
    uint64_t token;
    uint64_t leader;
    char leader_name[64];
    int64_t deadline_ms;
    bool answered; //  result below is the leader's
    kp_cluster_result_t result;
    uint64_t seq, index;
    char text[KP_FORWARD_TEXT];
    uint8_t *unsent; //  a copy of the update, while it could not leave
    size_t unsent_size;
    int64_t started_ms;
} s_item_t;

struct _kp_forward_t {
    zlistx_t *items; //  s_item_t, in the order sent
    uint64_t next_id;
    kp_forward_stats_t stats;
};

static void s_item_free(void **item)
{
    if (*item)
        free(((s_item_t *)*item)->unsent);
    free(*item);
    *item = NULL;
}

kp_forward_t *kp_forward_new(void)
{
    kp_forward_t *self = calloc(1, sizeof *self);
    assert(self);
    self->items = zlistx_new();
    assert(self->items);
    zlistx_set_destructor(self->items, s_item_free);
    return self;
}

void kp_forward_destroy(kp_forward_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zlistx_destroy(&(*self_p)->items);
    free(*self_p);
    *self_p = NULL;
}

int kp_forward_start(kp_forward_t *self, uint64_t token, uint64_t leader, const char *leader_name,
                     const uint8_t *update, size_t size, int64_t now_ms, int64_t now_unix_ms,
                     Kp__ForwardProposal *body)
{
    if (zlistx_size(self->items) >= KP_FORWARD_MAX)
        return -1;
    s_item_t *item = calloc(1, sizeof *item);
    assert(item);
    item->id = ++self->next_id;
    item->token = token;
    item->leader = leader;
    snprintf(item->leader_name, sizeof item->leader_name, "%s", leader_name ? leader_name : "");
    item->deadline_ms = now_ms + KP_FORWARD_TIMEOUT_MS;
    item->started_ms = now_ms;
    zlistx_add_end(self->items, item);
    kp__forward_proposal__init(body);
    body->has_id = body->has_update = body->has_sent_unix_ms = true;
    body->id = item->id;
    body->sent_unix_ms = (uint64_t)now_unix_ms;
    body->update.data = (uint8_t *)update;
    body->update.len = size;
    self->stats.forwarded++;
    return 0;
}

bool kp_forward_stale(const Kp__ForwardProposal *body, int64_t now_unix_ms, int64_t *age_ms)
{
    //  A forward from the future (the follower's clock ahead) is fresh.
    *age_ms = body->has_sent_unix_ms ? now_unix_ms - (int64_t)body->sent_unix_ms : 0;
    return !body->has_sent_unix_ms || *age_ms > KP_FORWARD_STALE_MS;
}

static void *s_find(kp_forward_t *self, uint64_t id)
{
    for (s_item_t *item = zlistx_first(self->items); item; item = zlistx_next(self->items))
        if (item->id == id)
            return zlistx_cursor(self->items);
    return NULL;
}

void kp_forward_hold(kp_forward_t *self, const Kp__ForwardProposal *body)
{
    void *handle = s_find(self, body->id);
    s_item_t *item = handle ? zlistx_handle_item(handle) : NULL;
    if (!item || item->unsent)
        return;
    item->unsent = malloc(body->update.len ? body->update.len : 1);
    assert(item->unsent);
    memcpy(item->unsent, body->update.data, body->update.len);
    item->unsent_size = body->update.len;
}

void kp_forward_resend(kp_forward_t *self, int64_t now_unix_ms, kp_forward_send_fn *send, void *arg)
{
    for (s_item_t *item = zlistx_first(self->items); item; item = zlistx_next(self->items)) {
        if (!item->unsent)
            continue;
        Kp__ForwardProposal body = KP__FORWARD_PROPOSAL__INIT;
        body.has_id = body.has_update = body.has_sent_unix_ms = true;
        body.id = item->id;
        body.update.data = item->unsent;
        body.update.len = item->unsent_size;
        body.sent_unix_ms = (uint64_t)now_unix_ms;
        if (send(arg, item->leader, &body) == 0) {
            free(item->unsent);
            item->unsent = NULL;
        }
    }
}

int kp_forward_answer(kp_forward_t *self, uint64_t from_id, const Kp__ForwardResult *result)
{
    void *handle = result->has_id ? s_find(self, result->id) : NULL;
    s_item_t *item = handle ? zlistx_handle_item(handle) : NULL;
    if (!item || item->answered || item->leader != from_id || !result->has_result ||
        result->result > KP_CLUSTER_UNKNOWN ||
        (result->text && strlen(result->text) >= KP_FORWARD_TEXT)) {
        self->stats.refused++;
        return -1;
    }
    item->answered = true;
    self->stats.results++;
    item->result = (kp_cluster_result_t)result->result;
    item->seq = result->has_seq ? result->seq : 0;
    item->index = result->has_index ? result->index : 0;
    snprintf(item->text, sizeof item->text, "%s", result->text ? result->text : "");
    return 0;
}

//  Why an item is answered now, into out; false if it must wait.
static bool s_due(const s_item_t *item, uint64_t applied_index, uint64_t leader, int64_t now_ms,
                  kp_forward_done_t *out)
{
    out->token = item->token;
    out->seq = item->seq;
    if (item->answered && (item->result != KP_CLUSTER_OK || item->index <= applied_index)) {
        out->result = item->result;
        snprintf(out->text, sizeof out->text, "%s", item->text);
        return true;
    }
    if (item->unsent &&
        (leader != item->leader || now_ms - item->started_ms > KP_FORWARD_STALE_MS)) {
        out->result =
            leader && leader != item->leader ? KP_CLUSTER_NOT_LEADER : KP_CLUSTER_NO_QUORUM;
        snprintf(out->text, sizeof out->text, "%s", item->leader_name);
        return true; //  nothing was sent: the caller may ask the leader
    }
    if (item->unsent)
        return false;
    out->result = KP_CLUSTER_UNKNOWN;
    if (item->answered && now_ms >= item->deadline_ms)
        snprintf(out->text, sizeof out->text,
                 "committed by the leader %s but not applied here within %d ms; read again "
                 "or retry with the same id",
                 item->leader_name, KP_FORWARD_TIMEOUT_MS);
    else if (!item->answered && leader != item->leader)
        snprintf(out->text, sizeof out->text,
                 "forwarded to the leader %s, which %s before it answered: the update may or "
                 "may not be applied; retry with the same id",
                 item->leader_name,
                 leader ? "lost the lead" : "this node no longer hears (an election is under way)");
    else if (!item->answered && now_ms >= item->deadline_ms)
        snprintf(out->text, sizeof out->text,
                 "forwarded to the leader %s, which did not answer within %d ms: the update "
                 "may or may not be applied; retry with the same id",
                 item->leader_name, KP_FORWARD_TIMEOUT_MS);
    else
        return false;
    return true;
}

bool kp_forward_due(kp_forward_t *self, uint64_t applied_index, uint64_t leader, int64_t now_ms,
                    kp_forward_done_t *out)
{
    for (s_item_t *item = zlistx_first(self->items); item; item = zlistx_next(self->items))
        if (s_due(item, applied_index, leader, now_ms, out)) {
            if (out->result == KP_CLUSTER_OK)
                self->stats.applied++;
            else if (out->result == KP_CLUSTER_UNKNOWN)
                self->stats.timeouts++;
            else
                self->stats.failures++;
            zlistx_delete(self->items, zlistx_cursor(self->items));
            return true;
        }
    return false;
}

size_t kp_forward_pending(const kp_forward_t *self)
{
    return zlistx_size(self->items);
}

void kp_forward_stats(const kp_forward_t *self, kp_forward_stats_t *out)
{
    *out = self->stats;
}

void kp_forward_received(kp_forward_t *self, bool proposed)
{
    self->stats.received++;
    self->stats.rejected += !proposed;
}

size_t kp_forward_counters(const kp_forward_stats_t *stats,
                           kp_forward_counter_t out[KP_FORWARD_COUNTERS])
{
    const kp_forward_counter_t counters[KP_FORWARD_COUNTERS] = {
        {"forwarded", "kp_forward_proposals_total",
         "Proposals this follower forwarded to the leader.", stats->forwarded},
        {"results", "kp_forward_results_total",
         "Answers of the leader to proposals this follower forwarded.", stats->results},
        {"applied", "kp_forward_applied_total",
         "Forwarded proposals answered OK to their caller (applied here too).", stats->applied},
        {"failures", "kp_forward_failures_total",
         "Forwarded proposals the leader refused, or that could not be sent.", stats->failures},
        {"timeouts", "kp_forward_timeouts_total",
         "Forwarded proposals answered UNKNOWN (no answer in time, a leader change).",
         stats->timeouts},
        {"refused", "kp_forward_refused_total",
         "Answers to forwards dropped (malformed, or for nothing pending).", stats->refused},
        {"received", "kp_forward_received_total",
         "Proposals followers forwarded to this node as leader.", stats->received},
        {"rejected", "kp_forward_rejected_total",
         "Forwards this leader did not propose (stale, not leading, not an update).",
         stats->rejected},
    };
    memcpy(out, counters, sizeof counters);
    return KP_FORWARD_COUNTERS;
}

void kp_forward_stats_json(kp_json_t *json, const kp_forward_stats_t *stats)
{
    kp_forward_counter_t counters[KP_FORWARD_COUNTERS];
    size_t n = kp_forward_counters(stats, counters);
    kp_json_key(json, "forwarding");
    kp_json_object_open(json);
    for (size_t i = 0; i < n; i++)
        kp_json_kv_uint(json, counters[i].key, counters[i].value);
    kp_json_object_close(json);
}

void kp_forward_result(Kp__ForwardResult *body, uint64_t id, kp_cluster_result_t result,
                       uint64_t seq, uint64_t index, const char *text)
{
    kp__forward_result__init(body);
    body->has_id = body->has_result = body->has_seq = body->has_index = true;
    body->id = id;
    body->result = (uint32_t)result;
    body->seq = seq;
    body->index = index;
    body->text = (char *)(text ? text : "");
}
