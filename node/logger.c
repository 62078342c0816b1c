/*  logger.c - the privacy-log actor. */
#include <czmq.h>
#include <string.h>

#include "logger.h"

#define S_NOTICE_DURABLE 'D'
#define S_NOTICE_ERROR 'E'
#define S_MAX_GROUP 65536 //  records per group commit, to bound latency

struct _logger_t {
    zactor_t *actor;
    zsock_t *sock; //  our end of the record socket
    uint64_t next_seq;
    uint64_t durable;
    bool failed;
    char error[PRIVLOG_ERR];
};

typedef struct {
    privlog_t *log;
    zsock_t *sock; //  the actor's end
    uint32_t tick_ms;
} s_args_t;

static void s_notice(zsock_t *sock, char tag, const void *data, size_t size)
{
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, 1 + size);
    uint8_t *p = zmq_msg_data(&msg);
    p[0] = (uint8_t)tag;
    memcpy(p + 1, data, size);
    if (zmq_msg_send(&msg, zsock_resolve(sock), ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&msg);
}

//  Appends every record waiting on the socket (up to a group's worth).
//  Returns how many, or -1 if the log refused one.
static int s_drain(privlog_t *log, zsock_t *sock)
{
    void *handle = zsock_resolve(sock);
    int count = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (count < S_MAX_GROUP && zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) >= 0) {
        if (!privlog_append_packed(log, zmq_msg_data(&msg), zmq_msg_size(&msg))) {
            zmq_msg_close(&msg);
            return -1;
        }
        count++;
    }
    zmq_msg_close(&msg);
    return count;
}

//  Sync, tell the node, then index: the reply waits only for the sync.
static int s_group(privlog_t *log, zsock_t *sock)
{
    int n = s_drain(log, sock);
    if (n < 0 || (n > 0 && privlog_sync(log))) {
        const char *e = privlog_error(log);
        s_notice(sock, S_NOTICE_ERROR, e, strlen(e));
        return -1;
    }
    if (n > 0) {
        uint8_t seq[8];
        uint64_t v = privlog_durable_seq(log);
        for (int i = 0; i < 8; i++, v >>= 8)
            seq[i] = (uint8_t)v;
        s_notice(sock, S_NOTICE_DURABLE, seq, 8);
        privlog_index_flush(log); //  a lagging index is caught up on open
    }
    return n;
}

static void s_actor(zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    privlog_t *log = args->log;
    zsock_t *sock = args->sock;
    zpoller_t *poller = zpoller_new(pipe, sock, NULL);
    zsock_signal(pipe, 0);
    bool failed = false;
    while (true) {
        void *which = zpoller_wait(poller, (int)args->tick_ms);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || streq(command, "$TERM");
            zstr_free(&command);
            if (term)
                break;
        } else if (which == sock && !failed)
            failed = s_group(log, sock) < 0;
        else if (zpoller_terminated(poller))
            break;
        if (!failed && privlog_tick(log)) {
            const char *e = privlog_error(log);
            s_notice(sock, S_NOTICE_ERROR, e, strlen(e));
            failed = true;
        }
    }
    //  Everything sent before destroy is on the socket already.
    while (!failed) {
        int n = s_group(log, sock);
        if (n <= 0)
            break;
    }
    zpoller_destroy(&poller);
    privlog_destroy(&args->log);
    zsock_destroy(&args->sock);
    free(args);
}

logger_t *logger_new(const char *dir, const privlog_options_t *options,
                     privlog_recovery_t *recovery, char *error)
{
    logger_t *self = calloc(1, sizeof *self);
    s_args_t *args = calloc(1, sizeof *args);
    if (!self || !args) {
        free(self);
        free(args);
        snprintf(error, PRIVLOG_ERR, "out of memory");
        return NULL;
    }
    args->log = privlog_open(dir, options, recovery, error);
    if (!args->log) {
        free(self);
        free(args);
        return NULL;
    }
    privlog_options_t defaults;
    privlog_options_default(&defaults);
    uint32_t secs =
        options && options->checkpoint_secs ? options->checkpoint_secs : defaults.checkpoint_secs;
    args->tick_ms = secs * 1000 / 2 ? secs * 1000 / 2 : 500;
    self->next_seq = privlog_last_seq(args->log) + 1;
    self->durable = privlog_durable_seq(args->log);
    //  No high-water mark on either end: logger_log must never block.
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://kp-logger-%p", (void *)self);
    self->sock = zsock_new(ZMQ_PAIR);
    args->sock = zsock_new(ZMQ_PAIR);
    if (self->sock && args->sock) {
        zsock_set_sndhwm(self->sock, 0);
        zsock_set_rcvhwm(self->sock, 0);
        zsock_set_sndhwm(args->sock, 0);
        zsock_set_rcvhwm(args->sock, 0);
    }
    if (!self->sock || !args->sock || zsock_bind(self->sock, "%s", endpoint) ||
        zsock_connect(args->sock, "%s", endpoint) || !(self->actor = zactor_new(s_actor, args))) {
        snprintf(error, PRIVLOG_ERR, "cannot start the logger actor (ZeroMQ: %s)",
                 zmq_strerror(zmq_errno()));
        zsock_destroy(&self->sock);
        zsock_destroy(&args->sock);
        privlog_destroy(&args->log);
        free(args);
        free(self);
        return NULL;
    }
    return self;
}

void logger_destroy(logger_t **self_p)
{
    if (!*self_p)
        return;
    logger_t *self = *self_p;
    zactor_destroy(&self->actor);
    zsock_destroy(&self->sock);
    free(self);
    *self_p = NULL;
}

uint64_t logger_log(logger_t *self, const Kp__LogRecord *record)
{
    if (self->failed)
        return 0;
    size_t size = kp__log_record__get_packed_size(record);
    if (size > PRIVLOG_MAX_BODY) {
        snprintf(self->error, sizeof self->error, "record of %zu bytes is over the limit of %u",
                 size, PRIVLOG_MAX_BODY);
        return 0;
    }
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size))
        return 0;
    kp__log_record__pack(record, zmq_msg_data(&msg));
    if (zmq_msg_send(&msg, zsock_resolve(self->sock), 0) < 0) {
        zmq_msg_close(&msg);
        snprintf(self->error, sizeof self->error, "cannot pass a record to the logger: %s",
                 zmq_strerror(zmq_errno()));
        return 0;
    }
    return self->next_seq++;
}

zsock_t *logger_sock(logger_t *self)
{
    return self->sock;
}

int logger_recv(logger_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (zmq_msg_recv(&msg, zsock_resolve(self->sock), ZMQ_DONTWAIT) >= 0) {
        const uint8_t *p = zmq_msg_data(&msg);
        size_t size = zmq_msg_size(&msg);
        if (size == 9 && p[0] == S_NOTICE_DURABLE) {
            uint64_t v = 0;
            for (int i = 8; i >= 1; i--)
                v = (v << 8) | p[i];
            if (v > self->durable)
                self->durable = v;
        } else if (size >= 1 && p[0] == S_NOTICE_ERROR) {
            self->failed = true;
            snprintf(self->error, sizeof self->error, "%.*s", (int)(size - 1), (const char *)p + 1);
        }
    }
    zmq_msg_close(&msg);
    return self->failed ? -1 : 0;
}

uint64_t logger_durable(logger_t *self)
{
    return self->durable;
}

uint64_t logger_last(logger_t *self)
{
    return self->next_seq - 1;
}

const char *logger_error(logger_t *self)
{
    return self->error;
}
