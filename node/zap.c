/*  zap.c - the node's ZAP handler, an actor on the ZAP protocol (RFC 27). */
#include "zap.h"

#include <czmq.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct _s_args_t s_args_t;

struct _kp_zap_t {
    zactor_t *actor;
    s_args_t *args; //  the actor's, freed after it stops
};

struct _s_args_t {
    kp_directory_t *directory;
    char (*peer_keys)[KP_KEY_Z85_LEN + 1];
    size_t peer_count;
};

typedef struct {
    s_args_t *args;
    MDB_txn *txn;
    kp_zap_counts_t counts;
    uint64_t refused; //  over all domains, for the log's pacing
} s_handler_t;

static const char *s_domain_names[KP_ZAP_DOMAINS] = {"client", "worker", "admin", "peer", "other"};

//  The key kind each served domain takes from the directory.
static const kp_key_kind_t s_domain_kinds[KP_ZAP_PEER] = {KP_KEY_APPLICATION, KP_KEY_PROVIDER,
                                                          KP_KEY_OPERATOR};

const char *kp_zap_domain_name(kp_zap_domain_t domain)
{
    return domain < KP_ZAP_DOMAINS ? s_domain_names[domain] : "other";
}

static kp_zap_domain_t s_domain_of(const char *domain)
{
    for (int i = 0; i < KP_ZAP_OTHER; i++)
        if (domain && !strcmp(domain, s_domain_names[i]))
            return (kp_zap_domain_t)i;
    return KP_ZAP_OTHER;
}

static bool s_is_node_key(const s_args_t *args, const char *key)
{
    for (size_t i = 0; i < args->peer_count; i++)
        if (!strcmp(args->peer_keys[i], key))
            return true;
    return false;
}

//  Decides one handshake: NULL when the key may connect on domain, else
//  the reason (the status text of a 400).
static const char *s_decide(s_handler_t *self, kp_zap_domain_t domain, const char *mechanism,
                            zframe_t *credential, char key[KP_KEY_Z85_LEN + 1])
{
    if (!mechanism || strcmp(mechanism, "CURVE"))
        return "CURVE only";
    if (!credential || zframe_size(credential) != 32)
        return "no CURVE key";
    zmq_z85_encode(key, zframe_data(credential), 32);
    if (domain == KP_ZAP_OTHER)
        return "unknown ZAP domain";
    //  Members are who the cluster file names: a peer needs nothing from
    //  the directory (a wiped member has none), and a node key is never
    //  a client, a provider or an operator.
    bool node_key = s_is_node_key(self->args, key);
    if (domain == KP_ZAP_PEER)
        return node_key ? NULL : "not a node key of the cluster file";
    if (node_key)
        return "a node key on a socket for others";
    kp_key_kind_t want = s_domain_kinds[domain];
    if (kp_directory_read_renew(self->txn))
        return "directory unreadable";
    kp_key_view_t view;
    const char *reason = NULL;
    int32_t today = (int32_t)(time(NULL) / 86400);
    if (kp_directory_key(self->args->directory, self->txn, key, &view))
        reason = "unknown key";
    else if (!kp_key_valid_on(&view, today))
        reason = "key not valid today";
    else if (view.kind != want)
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
    kp_zap_domain_t counted = s_domain_of(domain);
    const char *reason = version && !strcmp(version, "1.0")
                             ? s_decide(self, counted, mechanism, credential, key)
                             : "unknown ZAP version";
    if (reason) {
        self->counts.refused[counted]++;
        //  Said for the first refusals, then every 1000th: an attack must
        //  not fill the node's log.
        if (++self->refused <= 20 || self->refused % 1000 == 0)
            zsys_info("ZAP: refused a handshake on %s from %s: %s (%s; %" PRIu64 " refused)",
                      domain ? domain : "?", address ? address : "?", reason, *key ? key : "-",
                      self->refused);
    } else
        self->counts.accepted[counted]++;
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
    s_handler_t self = {.args = (s_args_t *)args};
    char err[256] = "";
    zsock_t *handler = zsock_new(ZMQ_REP);
    if (!handler || zsock_bind(handler, S_ZAP_ENDPOINT) != 0)
        snprintf(err, sizeof err, "cannot bind the ZAP handler (%s): %s", S_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
    else if ((self.txn = kp_directory_read_begin(self.args->directory, err, sizeof err)))
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
                zsock_send(pipe, "b", &self.counts, sizeof self.counts);
            zstr_free(&command);
            if (stop)
                break;
        }
    }
    zpoller_destroy(&poller);
    kp_directory_read_end(&self.txn);
    zsock_destroy(&handler);
}

kp_zap_t *kp_zap_new(kp_directory_t *directory, const char *const *peer_keys, size_t peer_count,
                     char *err, size_t errlen)
{
    kp_zap_t *self = calloc(1, sizeof *self);
    s_args_t *args = calloc(1, sizeof *args);
    if (args)
        args->peer_keys = calloc(peer_count ? peer_count : 1, sizeof *args->peer_keys);
    if (!self || !args || !args->peer_keys) {
        snprintf(err, errlen, "cannot start the ZAP handler: out of memory");
        if (args)
            free(args->peer_keys);
        free(args);
        free(self);
        return NULL;
    }
    args->directory = directory;
    for (size_t i = 0; i < peer_count; i++)
        snprintf(args->peer_keys[i], sizeof args->peer_keys[i], "%s", peer_keys[i]);
    args->peer_count = peer_count;
    self->args = args;
    if (!(self->actor = zactor_new(s_actor, args))) {
        snprintf(err, errlen, "cannot start the ZAP handler");
        kp_zap_destroy(&self);
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
        free((*self_p)->args->peer_keys);
        free((*self_p)->args);
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_zap_counts(kp_zap_t *self, kp_zap_counts_t *counts)
{
    memset(counts, 0, sizeof *counts);
    void *data = NULL;
    size_t size = 0;
    if (zstr_send(self->actor, "COUNTS") == 0 && zsock_recv(self->actor, "b", &data, &size) == 0 &&
        size == sizeof *counts)
        memcpy(counts, data, size);
    free(data);
}
