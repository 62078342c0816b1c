/*  config.c - the cluster file. */
#include "config.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

static void s_copy(char *dest, size_t size, const char *value)
{
    snprintf(dest, size, "%s", value ? value : "");
}

//  Reads an unsigned number, or the fallback when the key is absent.
static int s_number(zconfig_t *root, const char *path, uint64_t fallback, uint64_t *out, char *err,
                    size_t errlen)
{
    const char *text = zconfig_get(root, path, NULL);
    if (!text) {
        *out = fallback;
        return 0;
    }
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (*text == '\0' || *end != '\0' || *text == '-') {
        snprintf(err, errlen, "%s: '%s' is not a positive number", path, text);
        return -1;
    }
    *out = value;
    return 0;
}

static int s_load_node(zconfig_t *item, kp_node_config_t *node, char *err, size_t errlen)
{
    s_copy(node->name, sizeof node->name, zconfig_name(item));
    s_copy(node->site, sizeof node->site, zconfig_get(item, "site", ""));
    s_copy(node->data, sizeof node->data, zconfig_get(item, "data", ""));
    s_copy(node->client, sizeof node->client, zconfig_get(item, "client", ""));
    s_copy(node->worker, sizeof node->worker, zconfig_get(item, "worker", ""));
    s_copy(node->admin, sizeof node->admin, zconfig_get(item, "admin", ""));
    const char *missing = !*node->client   ? "client"
                          : !*node->worker ? "worker"
                          : !*node->admin  ? "admin"
                                           : NULL;
    if (missing) {
        snprintf(err, errlen, "node %s has no %s endpoint; add '%s = \"tcp://host:port\"'",
                 node->name, missing, missing);
        return -1;
    }
    if (!*node->data) {
        char name[KP_CONFIG_NAME];
        s_copy(name, sizeof name, node->name);
        snprintf(node->data, sizeof node->data, "var/%s", name);
    }
    return 0;
}

static int s_load(zconfig_t *root, kp_cluster_config_t *out, char *err, size_t errlen)
{
    uint64_t heartbeat, max_frame, deadline, retention;
    if (s_number(root, "cluster/heartbeat", 1000, &heartbeat, err, errlen) ||
        s_number(root, "cluster/max-frame", 1 << 20, &max_frame, err, errlen) ||
        s_number(root, "cluster/deadline", 3000, &deadline, err, errlen) ||
        s_number(root, "cluster/log-retention-days", 3653, &retention, err, errlen))
        return -1;
    if (heartbeat < 10 || deadline < 1 || max_frame < 1024) {
        snprintf(err, errlen,
                 "cluster: heartbeat >= 10 ms, deadline >= 1 ms and "
                 "max-frame >= 1024 bytes, please");
        return -1;
    }
    out->heartbeat_ms = (uint32_t)heartbeat;
    out->max_frame = (size_t)max_frame;
    out->deadline_ms = (uint32_t)deadline;
    out->log_retention_days = (uint32_t)retention;
    s_copy(out->name, sizeof out->name, zconfig_get(root, "cluster/name", "kruispunt"));
    s_copy(out->log_key, sizeof out->log_key, zconfig_get(root, "cluster/log-key", ""));
    zconfig_t *nodes = zconfig_locate(root, "node");
    for (zconfig_t *item = nodes ? zconfig_child(nodes) : NULL; item; item = zconfig_next(item)) {
        if (out->node_count == KP_CONFIG_MAX_NODES) {
            snprintf(err, errlen, "more than %d nodes in one cluster file", KP_CONFIG_MAX_NODES);
            return -1;
        }
        if (s_load_node(item, &out->nodes[out->node_count++], err, errlen))
            return -1;
    }
    if (out->node_count == 0) {
        snprintf(err, errlen, "no node defined; add a 'node' section with one entry per node");
        return -1;
    }
    return 0;
}

int kp_config_load(const char *path, kp_cluster_config_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!zsys_file_exists(path)) {
        snprintf(err, errlen,
                 "cluster file '%s' not found; give one with -c FILE "
                 "(cluster-config/single.cfg is an example)",
                 path);
        return -1;
    }
    zconfig_t *root = zconfig_load(path);
    if (!root) {
        snprintf(err, errlen, "cluster file '%s' is not valid ZPL", path);
        return -1;
    }
    int rc = s_load(root, out, err, errlen);
    zconfig_destroy(&root);
    return rc;
}

const kp_node_config_t *kp_config_node(const kp_cluster_config_t *config, const char *name)
{
    if (!name)
        return config->node_count ? &config->nodes[0] : NULL;
    for (size_t i = 0; i < config->node_count; i++)
        if (!strcmp(config->nodes[i].name, name))
            return &config->nodes[i];
    return NULL;
}
