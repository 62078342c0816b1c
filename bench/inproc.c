/*  inproc.c - a cluster of cluster actors in one process; see inproc.h. */
#include "inproc.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kperr.h"
#include "proc.h"

int kp_inproc_configure(kp_inproc_t *self, const char *name, const char *dir, size_t n,
                        uint32_t threshold, char *err, size_t errlen)
{
    memset(self, 0, sizeof *self);
    if (n < 1 || n > KP_INPROC_MAX)
        return kp_err(err, errlen, "an in-process cluster has 1 to %d members, not %zu",
                      KP_INPROC_MAX, n);
    kp_cluster_config_t *c = &self->config;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->heartbeat_ms = 1000;
    c->max_frame = 1 << 20;
    c->election_timeout_ms = 1000;
    c->raft_heartbeat_ms = 100;
    c->stale_limit_s = 300;
    c->snapshot_threshold = threshold;
    c->snapshot_trailing = threshold / 8;
    c->snapshot_mib = 256;
    c->clustered = n > 1;
    c->insecure = true;
    c->node_count = n;
    for (size_t i = 0; i < n; i++) {
        kp_node_config_t *node = &c->nodes[i];
        snprintf(node->name, sizeof node->name, "node-%zu", i + 1);
        snprintf(node->site, sizeof node->site, "site-%zu", i % 2 + 1);
        snprintf(node->data, sizeof node->data, "%s/node-%zu", dir, i + 1);
        node->raft_id = i + 1;
        node->role = KP_ROLE_VOTER;
        int port = c->clustered ? kp_free_port() : 0;
        if (port < 0)
            return kp_err(err, errlen, "no free loopback port for node-%zu", i + 1);
        if (c->clustered) {
            snprintf(node->peer, sizeof node->peer, "tcp://127.0.0.1:%d", port);
            snprintf(node->peer_bind, sizeof node->peer_bind, "%s", node->peer);
        }
    }
    return 0;
}

int kp_inproc_start(kp_inproc_t *self, size_t i, char *err, size_t errlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/directory", self->config.nodes[i].data);
    self->directory[i] = kp_directory_new(path, err, errlen);
    if (self->directory[i])
        self->cluster[i] =
            kp_cluster_new(&self->config, &self->config.nodes[i], self->directory[i], err, errlen);
    if (!self->cluster[i]) {
        kp_directory_destroy(&self->directory[i]);
        return -1;
    }
    return 0;
}

void kp_inproc_stop(kp_inproc_t *self, size_t i)
{
    kp_cluster_destroy(&self->cluster[i]);
    kp_directory_destroy(&self->directory[i]);
}

void kp_inproc_stop_all(kp_inproc_t *self)
{
    for (size_t i = 0; i < self->config.node_count; i++)
        kp_inproc_stop(self, i);
}

void kp_inproc_pump(kp_inproc_t *self, long ms, kp_inproc_event_fn *fn, void *arg)
{
    zmq_pollitem_t items[KP_INPROC_MAX];
    size_t map[KP_INPROC_MAX], n = 0;
    for (size_t i = 0; i < self->config.node_count; i++)
        if (self->cluster[i]) {
            items[n] = (zmq_pollitem_t){zsock_resolve(kp_cluster_sock(self->cluster[i])), 0,
                                        ZMQ_POLLIN, 0};
            map[n++] = i;
        }
    if (zmq_poll(items, (int)n, ms) <= 0)
        return;
    for (size_t k = 0; k < n; k++) {
        kp_cluster_event_t event;
        while (kp_cluster_recv(self->cluster[map[k]], &event)) {
            if (event.type == KP_CLUSTER_EVENT_REPLACE)
                kp_cluster_released(self->cluster[map[k]]); //  no transaction is held here
            if (fn)
                fn(map[k], &event, arg);
        }
    }
}

kp_cluster_status_t kp_inproc_status(kp_inproc_t *self, size_t i)
{
    kp_cluster_status_t status;
    kp_cluster_status(self->cluster[i], &status);
    return status;
}

int kp_inproc_leader(kp_inproc_t *self)
{
    for (size_t i = 0; i < self->config.node_count; i++)
        if (self->cluster[i] && kp_inproc_status(self, i).state == KP_CLUSTER_STATE_LEADER)
            return (int)i;
    return -1;
}

uint8_t *kp_inproc_update(unsigned first, unsigned ops, const char *name, size_t *size)
{
    Kp__Institution *inst = calloc(ops, sizeof *inst);
    Kp__DirectoryRecord *records = calloc(ops, sizeof *records);
    Kp__DirectoryOp *op = calloc(ops, sizeof *op);
    Kp__DirectoryOp **list = calloc(ops, sizeof *list);
    char(*kbo)[24] = calloc(ops, sizeof *kbo);
    uint8_t *data = NULL;
    if (inst && records && op && list && kbo) {
        for (unsigned i = 0; i < ops; i++) {
            unsigned long long base = 10000000ULL + first + i;
            snprintf(kbo[i], sizeof kbo[i], "%08llu%02llu", base, 97 - base % 97);
            kp__institution__init(&inst[i]);
            inst[i].kbo = kbo[i];
            inst[i].name = (char *)name;
            inst[i].has_sector = inst[i].has_type = true;
            inst[i].sector = 17;
            inst[i].type = 1;
            kp__directory_record__init(&records[i]);
            records[i].record_case = KP__DIRECTORY_RECORD__RECORD_INSTITUTION;
            records[i].institution = &inst[i];
            kp__directory_op__init(&op[i]);
            op[i].record = &records[i];
            list[i] = &op[i];
        }
        Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
        update.n_ops = ops;
        update.ops = list;
        *size = kp__directory_update__get_packed_size(&update);
        data = malloc(*size ? *size : 1);
        if (data)
            kp__directory_update__pack(&update, data);
    }
    free(inst);
    free(records);
    free(op);
    free(list);
    free(kbo);
    return data;
}
