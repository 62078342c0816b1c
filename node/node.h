/*  node.h - the Kruispunt node: one event loop serving clients, provider
    workers and operators.

    The node binds three ROUTER sockets (client, worker, admin endpoints of
    its entry in the cluster file), decides each request with the
    preventive control over an LMDB read transaction of the directory,
    dispatches allowed ones to provider workers, gathers their answers until
    the deadline, and answers the client. See proto/PROTOCOL.md.
*/
#ifndef KP_NODE_H_INCLUDED
#define KP_NODE_H_INCLUDED

#include <stdbool.h>

#include "config.h"

typedef struct _kp_node_t kp_node_t;

//  Opens the directory (data_dir/directory) and the privacy log
//  (data_dir/log) in data_dir, the node's configured folder when NULL, and
//  binds the sockets. unlogged runs without a privacy log: only to
//  measure the log's own cost. NULL with the reason in err on failure.
kp_node_t *kp_node_new(const kp_cluster_config_t *cluster, const kp_node_config_t *me,
                       const char *data_dir, bool unlogged, char *err, size_t errlen);

//  Stops, answers or fails what is in flight, and frees the node.
void kp_node_destroy(kp_node_t **self_p);

//  Runs the event loop until SIGINT or SIGTERM; then stops taking
//  requests, lets what is in flight finish for up to a grace period, fails
//  the rest, and returns 0. Returns 1 if it stopped because the privacy
//  log failed (then no response was sent without its record).
int kp_node_run(kp_node_t *self);

#endif
