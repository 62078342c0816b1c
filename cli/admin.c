/*  admin.c - kpctl's connection to a node's admin socket. */
#include "admin.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "config.h"

#define S_REDIRECTS 8 //  NOT_LEADER answers followed for one request
#define S_ELECTION_POLL_MS 200
#define S_NO_QUORUM_MS 3000 //  NO_QUORUM this long is taken as the answer

//  Retries of an import's batch (kpctl_admin_set_retry): an attempt gets
//  S_ATTEMPT_TIMES times the slowest batch answered so far, within these.
#define S_ATTEMPT_MIN_MS 2000
#define S_ATTEMPT_TIMES 8
#define S_RETRY_PAUSE_MS 200

struct _kpctl_admin_t {
    zsock_t *sock;
    kp_cluster_config_t config;
    char node[KP_CONFIG_NAME];
    char endpoint[KP_CONFIG_TEXT];
    int timeout_ms;
    int retry_ms;   //  0: an update whose outcome is unknown is not sent again
    int slowest_ms; //  the slowest update answered so far
    bool quiet;     //  retries not told on stderr
};

static int s_connect(kpctl_admin_t *self, const kp_node_config_t *node, char *err, size_t errlen)
{
    zsock_destroy(&self->sock);
    snprintf(self->endpoint, sizeof self->endpoint, "%s", node->admin);
    snprintf(self->node, sizeof self->node, "%s", node->name);
    self->sock = zsock_new(ZMQ_DEALER);
    if (self->sock && kpctl_curve("admin", &self->config, node, zsock_resolve(self->sock))) {
        snprintf(err, errlen, "no certificate to talk to node %s with (see above)", node->name);
        return -1;
    }
    if (!self->sock || zsock_connect(self->sock, "%s", node->admin)) {
        snprintf(err, errlen, "cannot connect to the admin endpoint %s of node %s", node->admin,
                 node->name);
        return -1;
    }
    zsock_set_linger(self->sock, 0);
    return 0;
}

kpctl_admin_t *kpctl_admin_new(const char *cluster_file, const char *node, int timeout_ms,
                               char *err, size_t errlen)
{
    kpctl_admin_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char reason[512];
    if (kp_config_load(cluster_file, &self->config, reason, sizeof reason)) {
        snprintf(err, errlen, "%s", reason);
        free(self);
        return NULL;
    }
    const kp_node_config_t *me = kp_config_node(&self->config, node);
    if (!me) {
        snprintf(err, errlen, "no node '%s' in %s; name one of its nodes with --node",
                 node ? node : "", cluster_file);
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    if (s_connect(self, me, err, errlen))
        kpctl_admin_destroy(&self);
    return self;
}

void kpctl_admin_destroy(kpctl_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

//  One request, one reply of any status; NULL when none came in time
//  (*answered false) or it did not decode.
static Kp__AdminReply *s_exchange(kpctl_admin_t *self, const Kp__AdminRequest *request,
                                  int timeout_ms, bool *answered, char *err, size_t errlen)
{
    *answered = false;
    size_t size = kp__admin_request__get_packed_size(request);
    uint8_t *buffer = malloc(size ? size : 1);
    if (!buffer) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    kp__admin_request__pack(request, buffer);
    void *handle = zsock_resolve(self->sock);
    int rc = zmq_send(handle, buffer, size, 0);
    free(buffer);
    zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
    if (rc < 0 || zmq_poll(&item, 1, timeout_ms) <= 0) {
        snprintf(err, errlen,
                 "no answer from node %s (%s) within %d ms; is the node running? "
                 "(kpnode -c CLUSTER-FILE), or raise --timeout",
                 self->node, self->endpoint, self->timeout_ms);
        return NULL;
    }
    *answered = true;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    Kp__AdminReply *reply = NULL;
    if (zmq_msg_recv(&msg, handle, 0) >= 0)
        reply = kp__admin_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    if (!reply)
        snprintf(err, errlen, "node %s (%s) sent an answer that is not an AdminReply", self->node,
                 self->endpoint);
    return reply;
}

static bool s_refused(const Kp__AdminReply *reply)
{
    return !reply->has_status || reply->status != KP__STATUS__OK;
}

//  Sends request until a node other than a follower answers, or the
//  timeout passes. Returns the last reply (any status), or NULL.
static Kp__AdminReply *s_call_leader(kpctl_admin_t *self, const Kp__AdminRequest *request,
                                     bool *answered, char *err, size_t errlen)
{
    int64_t give_up = zclock_mono() + self->timeout_ms, no_quorum_since = 0;
    for (int redirects = 0;; redirects++) {
        int64_t left = give_up - zclock_mono();
        Kp__AdminReply *reply =
            s_exchange(self, request, left > 0 ? (int)left : 0, answered, err, errlen);
        if (!reply || !s_refused(reply) || !reply->has_reason || redirects == S_REDIRECTS)
            return reply;
        //  NO_QUORUM while a leader is elected (a second or so) is no
        //  answer yet; for longer, it is the answer.
        if (reply->reason == KP__REASON__NO_QUORUM) {
            if (!no_quorum_since)
                no_quorum_since = zclock_mono();
            if (zclock_mono() - no_quorum_since > S_NO_QUORUM_MS ||
                zclock_mono() + S_ELECTION_POLL_MS >= give_up)
                return reply;
            kp__admin_reply__free_unpacked(reply, NULL);
            zclock_sleep(S_ELECTION_POLL_MS);
            continue;
        }
        if (reply->reason != KP__REASON__NOT_LEADER)
            return reply;
        const kp_node_config_t *leader =
            reply->leader && *reply->leader ? kp_config_node(&self->config, reply->leader) : NULL;
        if (leader && strcmp(leader->name, self->node)) {
            if (s_connect(self, leader, err, errlen)) {
                kp__admin_reply__free_unpacked(reply, NULL);
                return NULL;
            }
        } else if (zclock_mono() + S_ELECTION_POLL_MS < give_up)
            zclock_sleep(S_ELECTION_POLL_MS); //  an election: ask again
        else
            return reply;
        kp__admin_reply__free_unpacked(reply, NULL);
    }
}

Kp__AdminReply *kpctl_admin_call(kpctl_admin_t *self, const Kp__AdminRequest *request, char *err,
                                 size_t errlen)
{
    bool answered;
    Kp__AdminReply *reply = s_call_leader(self, request, &answered, err, errlen);
    if (reply && s_refused(reply)) {
        snprintf(err, errlen, "%s", reply->error ? reply->error : "the node refused the command");
        kp__admin_reply__free_unpacked(reply, NULL);
        reply = NULL;
    }
    return reply;
}

Kp__AdminReply *kpctl_admin_command(kpctl_admin_t *self, const char *command, const char *arg,
                                    char *err, size_t errlen)
{
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = (char *)command;
    char *args[1] = {(char *)arg};
    request.n_args = arg ? 1 : 0;
    request.args = args;
    return kpctl_admin_call(self, &request, err, errlen);
}

//  One try of an update (NOT_LEADER followed, an election waited out)
//  within timeout_ms; *answered false when no node answered.
static kpctl_update_t s_update_once(kpctl_admin_t *self, const Kp__DirectoryUpdate *update,
                                    int timeout_ms, uint64_t *seq, Kp__Reason *reason,
                                    bool *answered, char *err, size_t errlen)
{
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "directory.apply";
    request.update = (Kp__DirectoryUpdate *)update;
    *reason = KP__REASON__REASON_NONE;
    int timeout = self->timeout_ms;
    self->timeout_ms = timeout_ms;
    int64_t sent = zclock_mono();
    Kp__AdminReply *reply = s_call_leader(self, &request, answered, err, errlen);
    self->timeout_ms = timeout;
    if (!reply)
        return *answered ? KPCTL_UPDATE_REFUSED : KPCTL_UPDATE_UNKNOWN;
    int took = (int)(zclock_mono() - sent);
    if (took > self->slowest_ms)
        self->slowest_ms = took;
    kpctl_update_t outcome = KPCTL_UPDATE_OK;
    if (s_refused(reply)) {
        *reason = reply->has_reason ? reply->reason : KP__REASON__REASON_NONE;
        if (reply->error && *reply->error)
            snprintf(err, errlen, "%s", reply->error);
        else
            snprintf(err, errlen, "node %s refused the update", self->node);
        //  A leader that lost its place after proposing cannot say.
        outcome =
            *reason == KP__REASON__OUTCOME_UNKNOWN ? KPCTL_UPDATE_UNKNOWN : KPCTL_UPDATE_REFUSED;
    }
    *seq = reply->seq;
    kp__admin_reply__free_unpacked(reply, NULL);
    return outcome;
}

//  The node after the one kpctl talks to, in the cluster file's order.
static int s_connect_next(kpctl_admin_t *self, char *err, size_t errlen)
{
    size_t count = self->config.node_count, at = 0;
    for (size_t i = 0; i < count; i++)
        if (!strcmp(self->config.nodes[i].name, self->node))
            at = i;
    for (size_t i = 1; i <= count; i++) {
        const kp_node_config_t *node = &self->config.nodes[(at + i) % count];
        if (*node->admin)
            return s_connect(self, node, err, errlen);
    }
    return -1;
}

kpctl_update_t kpctl_admin_update(kpctl_admin_t *self, const Kp__DirectoryUpdate *update,
                                  uint64_t *seq, Kp__Reason *reason, char *err, size_t errlen)
{
    bool answered;
    bool retry = self->retry_ms > 0 && update->has_import_id && update->has_batch;
    if (!retry)
        return s_update_once(self, update, self->timeout_ms, seq, reason, &answered, err, errlen);
    int64_t give_up = zclock_mono() + self->retry_ms;
    for (;;) {
        int attempt = S_ATTEMPT_TIMES * self->slowest_ms;
        attempt = attempt < S_ATTEMPT_MIN_MS ? S_ATTEMPT_MIN_MS : attempt;
        int64_t left = give_up - zclock_mono();
        if (attempt > left)
            attempt = left > 0 ? (int)left : 0;
        kpctl_update_t outcome =
            s_update_once(self, update, attempt, seq, reason, &answered, err, errlen);
        bool again = outcome == KPCTL_UPDATE_UNKNOWN ||
                     (outcome == KPCTL_UPDATE_REFUSED && *reason == KP__REASON__NO_QUORUM);
        //  Ctrl-C or SIGTERM (CZMQ's handler sets zsys_interrupted; the
        //  poll ends): no more tries, the caller says what to check.
        if (!again || zsys_interrupted || zclock_mono() + S_RETRY_PAUSE_MS >= give_up)
            return outcome;
        //  The batch carries its import's id: the directory applies it once
        //  however often it is sent. A node that does not answer (dead, or
        //  cut off) or has no majority: the next one of the file.
        char was[KP_CONFIG_NAME];
        snprintf(was, sizeof was, "%s", self->node);
        if ((!answered || *reason == KP__REASON__NO_QUORUM) && s_connect_next(self, err, errlen))
            return outcome;
        if (!self->quiet)
            fprintf(stderr,
                    "kpctl: batch %" PRIu64 " through node %s: %s; sending it again to node %s "
                    "(it is applied once)\n",
                    update->batch, was, answered ? "outcome unknown" : "no answer", self->node);
        zclock_sleep(S_RETRY_PAUSE_MS);
    }
}

void kpctl_admin_set_retry(kpctl_admin_t *self, int retry_ms, bool quiet)
{
    self->retry_ms = retry_ms;
    self->quiet = quiet;
}

const char *kpctl_admin_endpoint(kpctl_admin_t *self)
{
    return self->endpoint;
}

const char *kpctl_admin_node(kpctl_admin_t *self)
{
    return self->node;
}
