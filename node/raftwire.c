/*  raftwire.c - libraft's messages as PeerFrames; see raftwire.h. */
#include "raftwire.h"

#include <stdlib.h>
#include <string.h>

const char *kp_raftwire_reason_name(kp_raftwire_reason_t reason)
{
    static const char *names[KP_RAFTWIRE_REASONS] = {
        "ok",         "malformed", "too_large", "wrong_cluster",
        "bad_sender", "bad_field", "no_memory", "not_its_key",
    };
    return reason < KP_RAFTWIRE_REASONS ? names[reason] : "unknown";
}

uint8_t *kp_raftwire_pack(const char *cluster, raft_id from_id, const char *from,
                          Kp__PeerFrame *frame, size_t *size)
{
    frame->cluster = (char *)cluster;
    frame->has_from_id = true;
    frame->from_id = from_id;
    frame->from = (char *)from;
    *size = kp__peer_frame__get_packed_size(frame);
    uint8_t *data = malloc(*size ? *size : 1);
    if (data)
        kp__peer_frame__pack(frame, data);
    return data;
}

//  Sets an optional field of a protobuf-c message and its presence flag
//  (the decoder checks every has_ flag: kp_raftwire_to_message).
#define S_SET(msg, field, value)                                                                   \
    do {                                                                                           \
        (msg).has_##field = true;                                                                  \
        (msg).field = (value);                                                                     \
    } while (0)

static uint8_t *s_encode_append(const char *cluster, raft_id from_id, const char *from,
                                const struct raft_append_entries *args, size_t *size)
{
    Kp__RaftAppendEntries body = KP__RAFT_APPEND_ENTRIES__INIT;
    S_SET(body, term, args->term);
    S_SET(body, prev_log_index, args->prev_log_index);
    S_SET(body, prev_log_term, args->prev_log_term);
    S_SET(body, leader_commit, args->leader_commit);
    Kp__RaftEntry *entries = calloc(args->n_entries ? args->n_entries : 1, sizeof *entries);
    Kp__RaftEntry **list = calloc(args->n_entries ? args->n_entries : 1, sizeof *list);
    uint8_t *data = NULL;
    if (entries && list) {
        for (unsigned i = 0; i < args->n_entries; i++) {
            kp__raft_entry__init(&entries[i]);
            S_SET(entries[i], term, args->entries[i].term);
            S_SET(entries[i], type, args->entries[i].type);
            S_SET(entries[i], data,
                  ((ProtobufCBinaryData){args->entries[i].buf.len, args->entries[i].buf.base}));
            list[i] = &entries[i];
        }
        body.n_entries = args->n_entries;
        body.entries = list;
        Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
        frame.body_case = KP__PEER_FRAME__BODY_APPEND_ENTRIES;
        frame.append_entries = &body;
        data = kp_raftwire_pack(cluster, from_id, from, &frame, size);
    }
    free(entries);
    free(list);
    return data;
}

uint8_t *kp_raftwire_encode(const char *cluster, raft_id from_id, const char *from,
                            const struct raft_message *message, size_t *size)
{
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    Kp__RaftRequestVote vote = KP__RAFT_REQUEST_VOTE__INIT;
    Kp__RaftRequestVoteResult vote_result = KP__RAFT_REQUEST_VOTE_RESULT__INIT;
    Kp__RaftAppendEntriesResult append_result = KP__RAFT_APPEND_ENTRIES_RESULT__INIT;
    Kp__RaftTimeoutNow timeout_now = KP__RAFT_TIMEOUT_NOW__INIT;
    const struct raft_request_vote *rv = &message->request_vote;
    const struct raft_request_vote_result *rvr = &message->request_vote_result;
    const struct raft_append_entries_result *aer = &message->append_entries_result;
    const struct raft_timeout_now *tn = &message->timeout_now;
    switch (message->type) {
    case RAFT_IO_APPEND_ENTRIES:
        return s_encode_append(cluster, from_id, from, &message->append_entries, size);
    case RAFT_IO_REQUEST_VOTE:
        S_SET(vote, term, rv->term);
        S_SET(vote, candidate_id, rv->candidate_id);
        S_SET(vote, last_log_index, rv->last_log_index);
        S_SET(vote, last_log_term, rv->last_log_term);
        S_SET(vote, disrupt_leader, rv->disrupt_leader);
        S_SET(vote, pre_vote, rv->pre_vote);
        frame.body_case = KP__PEER_FRAME__BODY_REQUEST_VOTE;
        frame.request_vote = &vote;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        S_SET(vote_result, term, rvr->term);
        S_SET(vote_result, vote_granted, rvr->vote_granted);
        S_SET(vote_result, pre_vote, (uint32_t)rvr->pre_vote);
        frame.body_case = KP__PEER_FRAME__BODY_REQUEST_VOTE_RESULT;
        frame.request_vote_result = &vote_result;
        break;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        S_SET(append_result, term, aer->term);
        S_SET(append_result, rejected, aer->rejected);
        S_SET(append_result, last_log_index, aer->last_log_index);
        frame.body_case = KP__PEER_FRAME__BODY_APPEND_ENTRIES_RESULT;
        frame.append_entries_result = &append_result;
        break;
    case RAFT_IO_TIMEOUT_NOW:
        S_SET(timeout_now, term, tn->term);
        S_SET(timeout_now, last_log_index, tn->last_log_index);
        S_SET(timeout_now, last_log_term, tn->last_log_term);
        frame.body_case = KP__PEER_FRAME__BODY_TIMEOUT_NOW;
        frame.timeout_now = &timeout_now;
        break;
    default:
        return NULL; //  InstallSnapshot goes as a transfer
    }
    return kp_raftwire_pack(cluster, from_id, from, &frame, size);
}

static bool s_text_ok(const char *text, size_t max)
{
    return text && *text && strnlen(text, max + 1) <= max;
}

kp_raftwire_reason_t kp_raftwire_unpack(const char *cluster, const uint8_t *data, size_t size,
                                        size_t max_size, Kp__PeerFrame **frame)
{
    *frame = NULL;
    if (size > max_size)
        return KP_RAFTWIRE_TOO_LARGE;
    Kp__PeerFrame *decoded = kp__peer_frame__unpack(NULL, size, data);
    if (!decoded)
        return KP_RAFTWIRE_MALFORMED;
    kp_raftwire_reason_t reason = KP_RAFTWIRE_OK;
    if (!decoded->cluster || strcmp(decoded->cluster, cluster))
        reason = KP_RAFTWIRE_WRONG_CLUSTER;
    else if (!decoded->has_from_id || decoded->from_id == 0 ||
             !s_text_ok(decoded->from, KP_RAFTWIRE_MAX_ADDRESS))
        reason = KP_RAFTWIRE_BAD_SENDER;
    else if (decoded->body_case == KP__PEER_FRAME__BODY__NOT_SET)
        reason = KP_RAFTWIRE_BAD_FIELD;
    if (reason) {
        kp__peer_frame__free_unpacked(decoded, NULL);
        return reason;
    }
    *frame = decoded;
    return KP_RAFTWIRE_OK;
}

//  Entries into one raft_malloc'd batch, as libraft expects of received
//  entries (each entry's batch set, the array raft_malloc'd).
static kp_raftwire_reason_t s_entries(const Kp__RaftAppendEntries *body,
                                      struct raft_append_entries *args)
{
    args->entries = NULL;
    args->n_entries = 0;
    if (body->n_entries == 0)
        return KP_RAFTWIRE_OK;
    if (body->n_entries > KP_RAFTWIRE_MAX_ENTRIES)
        return KP_RAFTWIRE_BAD_FIELD;
    size_t bytes = 0;
    for (size_t i = 0; i < body->n_entries; i++) {
        const Kp__RaftEntry *e = body->entries[i];
        if (!e->has_term || e->term == 0 || !e->has_type || e->type < RAFT_COMMAND ||
            e->type > RAFT_CHANGE)
            return KP_RAFTWIRE_BAD_FIELD;
        bytes += e->has_data ? e->data.len : 0;
    }
    struct raft_entry *entries = raft_calloc(body->n_entries, sizeof *entries);
    uint8_t *batch = raft_malloc(bytes ? bytes : 1);
    if (!entries || !batch) {
        raft_free(entries);
        raft_free(batch);
        return KP_RAFTWIRE_NO_MEMORY;
    }
    size_t at = 0;
    for (size_t i = 0; i < body->n_entries; i++) {
        const Kp__RaftEntry *e = body->entries[i];
        size_t len = e->has_data ? e->data.len : 0;
        entries[i].term = e->term;
        entries[i].type = (unsigned short)e->type;
        entries[i].buf.base = batch + at;
        entries[i].buf.len = len;
        entries[i].batch = batch;
        if (len)
            memcpy(batch + at, e->data.data, len);
        at += len;
    }
    args->entries = entries;
    args->n_entries = (unsigned)body->n_entries;
    return KP_RAFTWIRE_OK;
}

#define S_NEED(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return KP_RAFTWIRE_BAD_FIELD;                                                          \
    } while (0)

kp_raftwire_reason_t kp_raftwire_to_message(const Kp__PeerFrame *frame,
                                            struct raft_message *message)
{
    memset(message, 0, sizeof *message);
    message->server_id = frame->from_id;
    message->server_address = frame->from;
    switch (frame->body_case) {
    case KP__PEER_FRAME__BODY_REQUEST_VOTE: {
        const Kp__RaftRequestVote *b = frame->request_vote;
        S_NEED(b->has_term && b->has_candidate_id && b->has_last_log_index && b->has_last_log_term);
        S_NEED(b->candidate_id == frame->from_id);
        message->type = RAFT_IO_REQUEST_VOTE;
        message->request_vote =
            (struct raft_request_vote){b->term,          b->candidate_id,   b->last_log_index,
                                       b->last_log_term, b->disrupt_leader, b->pre_vote};
        return KP_RAFTWIRE_OK;
    }
    case KP__PEER_FRAME__BODY_REQUEST_VOTE_RESULT: {
        const Kp__RaftRequestVoteResult *b = frame->request_vote_result;
        S_NEED(b->has_term && b->has_vote_granted && b->pre_vote <= raft_tribool_false);
        message->type = RAFT_IO_REQUEST_VOTE_RESULT;
        message->request_vote_result =
            (struct raft_request_vote_result){b->term, b->vote_granted, (raft_tribool)b->pre_vote};
        return KP_RAFTWIRE_OK;
    }
    case KP__PEER_FRAME__BODY_APPEND_ENTRIES: {
        const Kp__RaftAppendEntries *b = frame->append_entries;
        S_NEED(b->has_term && b->has_prev_log_index && b->has_prev_log_term &&
               b->has_leader_commit);
        message->type = RAFT_IO_APPEND_ENTRIES;
        struct raft_append_entries *a = &message->append_entries;
        a->term = b->term;
        a->prev_log_index = b->prev_log_index;
        a->prev_log_term = b->prev_log_term;
        a->leader_commit = b->leader_commit;
        return s_entries(b, a);
    }
    case KP__PEER_FRAME__BODY_APPEND_ENTRIES_RESULT: {
        const Kp__RaftAppendEntriesResult *b = frame->append_entries_result;
        S_NEED(b->has_term && b->has_rejected && b->has_last_log_index);
        message->type = RAFT_IO_APPEND_ENTRIES_RESULT;
        message->append_entries_result =
            (struct raft_append_entries_result){b->term, b->rejected, b->last_log_index};
        return KP_RAFTWIRE_OK;
    }
    case KP__PEER_FRAME__BODY_TIMEOUT_NOW: {
        const Kp__RaftTimeoutNow *b = frame->timeout_now;
        S_NEED(b->has_term && b->has_last_log_index && b->has_last_log_term);
        message->type = RAFT_IO_TIMEOUT_NOW;
        message->timeout_now =
            (struct raft_timeout_now){b->term, b->last_log_index, b->last_log_term};
        return KP_RAFTWIRE_OK;
    }
    default:
        return KP_RAFTWIRE_BAD_FIELD;
    }
}

int kp_raftwire_conf_encode(const struct raft_configuration *conf, Kp__RaftServer ***servers,
                            size_t *n)
{
    *n = 0;
    *servers = calloc(conf->n ? conf->n : 1, sizeof **servers);
    if (!*servers)
        return -1;
    for (unsigned i = 0; i < conf->n; i++) {
        Kp__RaftServer *server = malloc(sizeof *server);
        if (!server) {
            kp_raftwire_conf_free(*servers, *n);
            *servers = NULL;
            return -1;
        }
        kp__raft_server__init(server);
        server->has_id = server->has_role = true;
        server->id = conf->servers[i].id;
        server->role = (uint32_t)conf->servers[i].role;
        server->address = conf->servers[i].address;
        (*servers)[(*n)++] = server;
    }
    return 0;
}

void kp_raftwire_conf_free(Kp__RaftServer **servers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
}

kp_raftwire_reason_t kp_raftwire_conf_decode(Kp__RaftServer *const *servers, size_t n,
                                             struct raft_configuration *conf)
{
    raft_configuration_init(conf);
    if (n > KP_RAFTWIRE_MAX_SERVERS)
        return KP_RAFTWIRE_BAD_FIELD;
    for (size_t i = 0; i < n; i++) {
        const Kp__RaftServer *s = servers[i];
        if (!s->has_id || s->id == 0 || !s->has_role || s->role > RAFT_SPARE ||
            !s_text_ok(s->address, KP_RAFTWIRE_MAX_ADDRESS) ||
            raft_configuration_add(conf, s->id, s->address, (int)s->role)) {
            raft_configuration_close(conf);
            return KP_RAFTWIRE_BAD_FIELD;
        }
    }
    return KP_RAFTWIRE_OK;
}
