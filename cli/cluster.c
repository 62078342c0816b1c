/*  cluster.c - the cluster file as kpctl's sub-commands read it; see
    cluster.h. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>

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
