/*  zap.c - the node's ZAP handler, an actor on the ZAP protocol (RFC 27). */
#include "zap.h"

#include <czmq.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct _kp_zap_t {
    zactor_t *actor;
};

typedef struct {
    kp_directory_t *directory;
    MDB_txn *txn;
    uint64_t accepted, refused;
} s_handler_t;

//  The key kind a ZAP domain serves; -1 for a domain we do not serve.
static int s_kind_of_domain(const char *domain)
{
    static const struct {
        const char *domain;
        kp_key_kind_t kind;
    } map[] = {{"client", KP_KEY_APPLICATION},
               {"worker", KP_KEY_PROVIDER},
               {"admin", KP_KEY_OPERATOR},
               {"peer", KP_KEY_NODE}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (domain && !strcmp(domain, map[i].domain))
            return (int)map[i].kind;
    return -1;
}

//  Decides one handshake: NULL when the key may connect on domain, else
//  the reason (the status text of a 400).
static const char *s_decide(s_handler_t *self, const char *domain, const char *mechanism,
                            zframe_t *credential, char key[KP_KEY_Z85_LEN + 1])
{
    if (!mechanism || strcmp(mechanism, "CURVE"))
        return "CURVE only";
    if (!credential || zframe_size(credential) != 32)
        return "no CURVE key";
    zmq_z85_encode(key, zframe_data(credential), 32);
    int want = s_kind_of_domain(domain);
    if (want < 0)
        return "unknown ZAP domain";
    if (kp_directory_read_renew(self->txn))
        return "directory unreadable";
    kp_key_view_t view;
    const char *reason = NULL;
    int32_t today = (int32_t)(time(NULL) / 86400);
    if (kp_directory_key(self->directory, self->txn, key, &view))
        reason = "unknown key";
    else if (!kp_key_valid_on(&view, today))
        reason = "key not valid today";
    else if ((int)view.kind != want)
        reason = "key of another kind";
    kp_directory_read_reset(self->txn);
    return reason;
}

static void s_handle(s_handler_t *self, zsock_t *handler)
{
    zmsg_t *request = zmsg_recv(handler);
    if (!request)
        return;
    char *version = zmsg_popstr(request), *sequence = zmsg_popstr(request);
    char *domain = zmsg_popstr(request), *address = zmsg_popstr(request);
    char *identity = zmsg_popstr(request), *mechanism = zmsg_popstr(request);
    zframe_t *credential = zmsg_pop(request);
    char key[KP_KEY_Z85_LEN + 1] = "";
    const char *reason = version && !strcmp(version, "1.0")
                             ? s_decide(self, domain, mechanism, credential, key)
                             : "unknown ZAP version";
    if (reason) {
        //  Said for the first refusals, then every 1000th: an attack must
        //  not fill the node's log.
        if (++self->refused <= 20 || self->refused % 1000 == 0)
            zsys_info("ZAP: refused a handshake on %s from %s: %s (%s; %" PRIu64 " refused)",
                      domain ? domain : "?", address ? address : "?", reason, *key ? key : "-",
                      self->refused);
    } else
        self->accepted++;
    zstr_sendm(handler, "1.0");
    zstr_sendm(handler, sequence ? sequence : "");
    zstr_sendm(handler, reason ? "400" : "200");
    zstr_sendm(handler, reason ? reason : "OK");
    zstr_sendm(handler, reason ? "" : key);
    zstr_send(handler, "");
    zframe_destroy(&credential);
    zstr_free(&version);
    zstr_free(&sequence);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mechanism);
    zmsg_destroy(&request);
}

//  The actor. Says "" on its pipe once it serves, or why it cannot.
static void s_actor(zsock_t *pipe, void *args)
{
    s_handler_t self = {(kp_directory_t *)args, NULL, 0, 0};
    char err[256] = "";
    zsock_t *handler = zsock_new(ZMQ_REP);
    if (!handler || zsock_bind(handler, S_ZAP_ENDPOINT) != 0)
        snprintf(err, sizeof err, "cannot bind the ZAP handler (%s): %s", S_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
    else if ((self.txn = kp_directory_read_begin(self.directory, err, sizeof err)))
        kp_directory_read_reset(self.txn);
    zsock_signal(pipe, 0);
    zstr_send(pipe, err);
    zpoller_t *poller = *err ? zpoller_new(pipe, NULL) : zpoller_new(pipe, handler, NULL);
    //  A signal to the process must not stop the handler: the node goes on
    //  answering through its grace period, and so must authentication.
    zpoller_set_nonstop(poller, true);
    while (true) {
        zsock_t *which = (zsock_t *)zpoller_wait(poller, -1);
        if (which == handler)
            s_handle(&self, handler);
        else if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool stop = !command || !strcmp(command, "$TERM");
            if (command && !strcmp(command, "COUNTS"))
                zsock_send(pipe, "88", self.accepted, self.refused);
            zstr_free(&command);
            if (stop)
                break;
        }
    }
    zpoller_destroy(&poller);
    kp_directory_read_end(&self.txn);
    zsock_destroy(&handler);
}

kp_zap_t *kp_zap_new(kp_directory_t *directory, char *err, size_t errlen)
{
    kp_zap_t *self = calloc(1, sizeof *self);
    if (!self || !(self->actor = zactor_new(s_actor, directory))) {
        snprintf(err, errlen, "cannot start the ZAP handler");
        free(self);
        return NULL;
    }
    char *status = zstr_recv(self->actor);
    if (!status || *status) {
        snprintf(err, errlen, "%s", status ? status : "the ZAP handler did not start");
        zstr_free(&status);
        kp_zap_destroy(&self);
        return NULL;
    }
    zstr_free(&status);
    return self;
}

void kp_zap_destroy(kp_zap_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_zap_counts(kp_zap_t *self, uint64_t *accepted, uint64_t *refused)
{
    *accepted = *refused = 0;
    if (zstr_send(self->actor, "COUNTS") == 0)
        zsock_recv(self->actor, "88", accepted, refused);
}
