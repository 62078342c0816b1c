/*  cluster.h - the cluster file as kpctl's sub-commands read it.

    A bad file or an unknown node is named on stderr with the sub-command,
    "kpctl <command>: ...", and the caller exits with a usage error.
*/
#ifndef KPCTL_CLUSTER_H_INCLUDED
#define KPCTL_CLUSTER_H_INCLUDED

#include "config.h"

//  Reads and checks the cluster file at path. On failure prints
//  "kpctl <command>: <path>: <problem>" and returns NULL. The config is
//  one block: the caller frees it with free().
kp_cluster_config_t *kpctl_cluster_load(const char *command, const char *path);

//  The node called name in config (read from path). When there is none,
//  prints "kpctl <command>: no node '<name>' in <path>" and returns NULL.
const kp_node_config_t *kpctl_cluster_node(const char *command, const kp_cluster_config_t *config,
                                           const char *path, const char *name);

//  The data folder of node name (the first when NULL) of the cluster file
//  at path (KP_CLUSTER when path is NULL), into out, for commands that
//  read a node's files on this machine. Returns 0; 1 when there is no
//  cluster file at all (out untouched); -1 after naming the problem on
//  stderr ("kpctl <command>: ...").
int kpctl_cluster_data(const char *command, const char *path, const char *name, char *out,
                       size_t size);

//  The caller's certificate for a secure cluster: KP_CERT (set by kpctl's
//  global --cert FILE, or by the caller's environment), or NULL after
//  "kpctl <command>: this cluster is secure: give your certificate with
//  --cert FILE (make one with 'kpctl keys new FILE')" on stderr.
const char *kpctl_cert(const char *command);

//  Makes sock (a libzmq socket) a CURVE client of node with the caller's
//  certificate, unless the cluster is insecure. 0, or -1 after naming the
//  problem on stderr.
int kpctl_curve(const char *command, const kp_cluster_config_t *config,
                const kp_node_config_t *node, void *sock);

#endif
