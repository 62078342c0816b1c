/*  admin.c - kpctl's connection to a node's admin socket. */
#include "admin.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

struct _kpctl_admin_t {
    zsock_t *sock;
    char endpoint[KP_CONFIG_TEXT];
    int timeout_ms;
};

kpctl_admin_t *kpctl_admin_new(const char *cluster_file, const char *node, int timeout_ms,
                               char *err, size_t errlen)
{
    kp_cluster_config_t config;
    char reason[512];
    if (kp_config_load(cluster_file, &config, reason, sizeof reason)) {
        snprintf(err, errlen, "%s", reason);
        return NULL;
    }
    const kp_node_config_t *me = kp_config_node(&config, node);
    if (!me) {
        snprintf(err, errlen, "no node '%s' in %s; name one of its nodes with --node",
                 node ? node : "", cluster_file);
        return NULL;
    }
    kpctl_admin_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->endpoint, sizeof self->endpoint, "%s", me->admin);
    self->timeout_ms = timeout_ms;
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->sock || zsock_connect(self->sock, "%s", me->admin)) {
        snprintf(err, errlen, "cannot connect to the admin endpoint %s of node %s", me->admin,
                 me->name);
        kpctl_admin_destroy(&self);
        return NULL;
    }
    zsock_set_linger(self->sock, 0);
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

Kp__AdminReply *kpctl_admin_call(kpctl_admin_t *self, const Kp__AdminRequest *request, char *err,
                                 size_t errlen)
{
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
    if (rc < 0 || zmq_poll(&item, 1, self->timeout_ms) <= 0) {
        snprintf(err, errlen,
                 "no answer from %s within %d ms; is the node running? (kpnode -c CLUSTER-FILE), "
                 "or raise --timeout",
                 self->endpoint, self->timeout_ms);
        return NULL;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    Kp__AdminReply *reply = NULL;
    if (zmq_msg_recv(&msg, handle, 0) >= 0)
        reply = kp__admin_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    zmq_msg_close(&msg);
    if (!reply)
        snprintf(err, errlen, "the node at %s sent an answer that is not an AdminReply",
                 self->endpoint);
    else if (!reply->has_status || reply->status != KP__STATUS__OK) {
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

const char *kpctl_admin_endpoint(kpctl_admin_t *self)
{
    return self->endpoint;
}
