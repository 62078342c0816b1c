/*  raftfix.c - the AppendEntries result clamp; see raftfix.h. */
#include "raftfix.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _kp_raftfix_t {
    struct raft_io io; //  first: raft's io pointer is ours
    struct raft_io *inner;
    struct raft *raft;
    raft_io_recv_cb recv;
    bool verifying;
    raft_index verified;
    unsigned long long clamped;
    struct _s_append_t *appends; //  in flight, freed with the shim if never done
};

//  An append raft asked for, and what was verified when it did.
typedef struct _s_append_t {
    struct raft_io_append req; //  what the inner io sees
    struct raft_io_append *orig;
    kp_raftfix_t *fix;
    bool verifying;
    raft_index verified;
    struct _s_append_t *prev, *next;
} s_append_t;

static void s_unlink(kp_raftfix_t *self, s_append_t *append)
{
    if (append->prev)
        append->prev->next = append->next;
    else
        self->appends = append->next;
    if (append->next)
        append->next->prev = append->prev;
}

//  The inner io's last error, where raft looks for it.
static void s_errmsg(kp_raftfix_t *self)
{
    memcpy(self->io.errmsg, self->inner->errmsg, sizeof self->io.errmsg);
}

static kp_raftfix_t *s_fix_of(struct raft_io *io)
{
    //  Callbacks from the inner io carry the inner io; raft's io is ours.
    struct raft *raft = (struct raft *)io->data;
    return (kp_raftfix_t *)raft->io;
}

static void s_recv(struct raft_io *io, struct raft_message *message)
{
    kp_raftfix_t *self = s_fix_of(io);
    if (message->type == RAFT_IO_APPEND_ENTRIES) {
        self->verifying = true;
        self->verified = message->append_entries.prev_log_index + message->append_entries.n_entries;
    }
    self->recv(io, message);
    self->verifying = false;
}

static int s_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    kp_raftfix_t *self = (kp_raftfix_t *)io;
    self->recv = recv;
    int rc = self->inner->start(self->inner, msecs, tick, s_recv);
    if (rc)
        s_errmsg(self);
    return rc;
}

static int s_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                  raft_io_send_cb cb)
{
    kp_raftfix_t *self = (kp_raftfix_t *)io;
    struct raft_message copy = *message;
    struct raft_append_entries_result *result = &copy.append_entries_result;
    if (copy.type == RAFT_IO_APPEND_ENTRIES_RESULT && result->rejected == 0 && self->verifying &&
        result->last_log_index > self->verified) {
        result->last_log_index = self->verified;
        self->clamped++;
    }
    int rc = self->inner->send(self->inner, req, &copy, cb);
    if (rc)
        s_errmsg(self);
    return rc;
}

static void s_appended(struct raft_io_append *req, int status)
{
    s_append_t *append = (s_append_t *)req->data;
    kp_raftfix_t *self = append->fix;
    struct raft_io_append *orig = append->orig;
    bool verifying = self->verifying;
    raft_index verified = self->verified;
    self->verifying = append->verifying;
    self->verified = append->verified;
    s_unlink(self, append);
    free(append);
    if (orig->cb)
        orig->cb(orig, status);
    self->verifying = verifying;
    self->verified = verified;
}

static int s_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    kp_raftfix_t *self = (kp_raftfix_t *)io;
    s_append_t *append = calloc(1, sizeof *append);
    if (!append)
        return RAFT_NOMEM;
    req->cb = cb;
    append->req.data = append;
    append->orig = req;
    append->fix = self;
    append->verifying = self->verifying;
    append->verified = self->verified;
    append->next = self->appends;
    if (self->appends)
        self->appends->prev = append;
    self->appends = append;
    int rc = self->inner->append(self->inner, &append->req, entries, n, s_appended);
    if (rc) {
        s_unlink(self, append);
        free(append);
        s_errmsg(self);
    }
    return rc;
}

//  Everything else goes to the inner io as it is.
#define S_PASS(name, params, args)                                                                 \
    static int s_##name params                                                                     \
    {                                                                                              \
        kp_raftfix_t *self = (kp_raftfix_t *)io;                                                   \
        int rc = self->inner->name args;                                                           \
        if (rc)                                                                                    \
            s_errmsg(self);                                                                        \
        return rc;                                                                                 \
    }

S_PASS(init, (struct raft_io * io, raft_id id, const char *address), (self->inner, id, address))
S_PASS(load,
       (struct raft_io * io, raft_term *term, raft_id *voted_for, struct raft_snapshot **snapshot,
        raft_index *start_index, struct raft_entry *entries[], size_t *n_entries),
       (self->inner, term, voted_for, snapshot, start_index, entries, n_entries))
S_PASS(bootstrap, (struct raft_io * io, const struct raft_configuration *conf), (self->inner, conf))
S_PASS(recover, (struct raft_io * io, const struct raft_configuration *conf), (self->inner, conf))
S_PASS(set_term, (struct raft_io * io, raft_term term), (self->inner, term))
S_PASS(set_vote, (struct raft_io * io, raft_id server_id), (self->inner, server_id))
S_PASS(truncate, (struct raft_io * io, raft_index index), (self->inner, index))
S_PASS(snapshot_put,
       (struct raft_io * io, unsigned trailing, struct raft_io_snapshot_put *req,
        const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb),
       (self->inner, trailing, req, snapshot, cb))
S_PASS(snapshot_get,
       (struct raft_io * io, struct raft_io_snapshot_get *req, raft_io_snapshot_get_cb cb),
       (self->inner, req, cb))
S_PASS(random, (struct raft_io * io, int min, int max), (self->inner, min, max))
S_PASS(async_work, (struct raft_io * io, struct raft_io_async_work *req, raft_io_async_work_cb cb),
       (self->inner, req, cb))

static void s_close(struct raft_io *io, raft_io_close_cb cb)
{
    kp_raftfix_t *self = (kp_raftfix_t *)io;
    self->inner->close(self->inner, cb);
}

static raft_time s_time(struct raft_io *io)
{
    kp_raftfix_t *self = (kp_raftfix_t *)io;
    return self->inner->time(self->inner);
}

kp_raftfix_t *kp_raftfix_wrap(struct raft *raft)
{
    kp_raftfix_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->inner = raft->io;
    self->raft = raft;
    struct raft_io *io = &self->io;
    io->version = self->inner->version;
    io->data = raft;
    io->impl = self;
    io->init = s_init;
    io->close = s_close;
    io->load = s_load;
    io->start = s_start;
    io->bootstrap = s_bootstrap;
    io->recover = s_recover;
    io->set_term = s_set_term;
    io->set_vote = s_set_vote;
    io->send = s_send;
    io->append = s_append;
    io->truncate = s_truncate;
    io->snapshot_put = s_snapshot_put;
    io->snapshot_get = s_snapshot_get;
    io->time = s_time;
    io->random = s_random;
    io->async_work = self->inner->async_work ? s_async_work : NULL;
    raft->io = io;
    return self;
}

void kp_raftfix_destroy(kp_raftfix_t **self_p)
{
    if (self_p && *self_p) {
        kp_raftfix_t *self = *self_p;
        while (self->appends) {
            s_append_t *append = self->appends;
            s_unlink(self, append);
            free(append);
        }
        free(self);
        *self_p = NULL;
    }
}

unsigned long long kp_raftfix_clamped(kp_raftfix_t *self)
{
    return self->clamped;
}
