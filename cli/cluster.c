/*  cluster.c - the cluster file as kpctl's sub-commands read it; see
    cluster.h. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>

#include "options.h"

kp_cluster_config_t *kpctl_cluster_load(const char *command, const char *path)
{
    kp_cluster_config_t *config = calloc(1, sizeof *config);
    char err[512];
    if (!config || kp_config_load(path, config, err, sizeof err) != 0) {
        fprintf(stderr, "kpctl %s: %s: %s\n", command, path, config ? err : "out of memory");
        free(config);
        return NULL;
    }
    return config;
}

const kp_node_config_t *kpctl_cluster_node(const char *command, const kp_cluster_config_t *config,
                                           const char *path, const char *name)
{
    const kp_node_config_t *node = kp_config_node(config, name);
    if (!node)
        fprintf(stderr, "kpctl %s: no node '%s' in %s\n", command, name, path);
    return node;
}

int kpctl_cluster_data(const char *command, const char *path, const char *name, char *out,
                       size_t size)
{
    path = kpctl_cluster_file(path);
    if (!path && name)
        fprintf(stderr, "kpctl %s: --node needs a cluster file: -c FILE or KP_CLUSTER\n", command);
    if (!path)
        return name ? -1 : 1;
    kp_cluster_config_t *config = kpctl_cluster_load(command, path);
    const kp_node_config_t *node = config ? kpctl_cluster_node(command, config, path, name) : NULL;
    int rc = node ? 0 : -1;
    if (node)
        snprintf(out, size, "%s", node->data);
    free(config);
    return rc;
}
