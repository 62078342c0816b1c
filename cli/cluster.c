/*  cluster.c - the cluster file as kpctl's sub-commands read it; see
    cluster.h. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "curve.h"

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

const char *kpctl_cert(const char *command)
{
    const char *cert = getenv("KP_CERT");
    if (cert && *cert)
        return cert;
    fprintf(stderr,
            "kpctl %s: this cluster is secure: give your certificate with --cert FILE (or "
            "KP_CERT); make one with 'kpctl keys new FILE' and have its public key put in the "
            "directory\n",
            command);
    return NULL;
}

int kpctl_curve(const char *command, const kp_cluster_config_t *config,
                const kp_node_config_t *node, void *sock)
{
    if (config->insecure)
        return 0;
    const char *path = kpctl_cert(command);
    if (!path)
        return -1;
    char err[512], server[KP_CURVE_Z85];
    zcert_t *cert = kp_curve_cert_load(path, true, err, sizeof err);
    int rc = cert && kp_curve_node_key(node, server, err, sizeof err) == 0 &&
                     kp_curve_client(sock, cert, server, err, sizeof err) == 0
                 ? 0
                 : -1;
    if (rc)
        fprintf(stderr, "kpctl %s: %s\n", command, err);
    zcert_destroy(&cert);
    return rc;
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
