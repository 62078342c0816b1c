/*  local.h - a throw-away Kruispunt for --local: a temporary folder, a
    cluster file with free loopback ports, the bench directory imported
    with kpctl, kpnode processes and echo providers (kpctl provider
    --echo). Everything started here is stopped by kp_local_destroy, and
    dies with kpbench if kpbench dies.

    Replicated (the default from two nodes on): the nodes are one raft
    cluster on two sites, as cluster-config/two-sites.cfg: the first half
    of the nodes in "brussels", the others in "charleroi", and a witness
    in "namur" when the voters are even. With a WAN delay (>= 0) every
    link between two members (raft's peer links, the log mirror's) goes
    through a relay (relay.h) in this process, one link per ordered pair:
    each node has its own cluster file naming the relay's ports as the
    others' endpoints; traffic between two sites waits the delay each
    way. Independent: every node a cluster of one, as before clusters.
*/
#ifndef KP_LOCAL_H_INCLUDED
#define KP_LOCAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

typedef struct _kp_local_t kp_local_t;

typedef struct {
    unsigned nodes;           //  >= 1
    uint64_t persons;         //  bench directory size
    unsigned providers;       //  echo worker processes per provider institution
    bool keep;                //  keep the folder (logs) after the run
    bool unlogged;            //  kpnode --unlogged: no privacy log (its cost, measured)
    const char *service_time; //  the providers' --service-time, or NULL
    bool two_sites;           //  log-durability = "two-sites", a mirror endpoint per node
    bool insecure;            //  insecure = true: plain text, no CURVE (its cost, measured)
    bool independent;         //  no raft between the nodes: each a cluster of one
    int wan_delay_ms;         //  < 0: members linked directly; else through the relay
    unsigned segment_mib;     //  the log's log-segment-mib; 0: the node's default
    bool verbose;
} kp_local_options_t;

//  Builds and starts everything; NULL with the problem (and where its log
//  is) in err.
kp_local_t *kp_local_new(const kp_local_options_t *options, char *err, size_t errlen);
void kp_local_destroy(kp_local_t **self_p);

const char *kp_local_dir(kp_local_t *self);

//  Unless insecure: the certificate of the bench's application (user
//  bench-app; its key is in the directory) and the nodes' public key (all
//  local nodes share one certificate). NULL when insecure.
const char *kp_local_client_cert(kp_local_t *self);
const char *kp_local_server_key(kp_local_t *self);

//  The raw keys of the CZMQ certificate at path (either file of the pair),
//  for a bare DEALER. 0, or -1 with err filled.
int kp_local_cert_keys(const char *path, uint8_t public_key[32], uint8_t secret_key[32], char *err,
                       size_t errlen);

//  The public key (Z85, 41 bytes) that the first count nodes of config
//  share (one client socket talks to all of them). 0, or -1 with err.
int kp_local_nodes_key(const kp_cluster_config_t *config, size_t count, char key[41], char *err,
                       size_t errlen);
const char *kp_local_cluster_file(kp_local_t *self);
//  Nodes, the witness (last) included.
size_t kp_local_node_count(kp_local_t *self);
const char *kp_local_node_name(kp_local_t *self, size_t index);
//  NULL for the witness (it serves no client).
const char *kp_local_client_endpoint(kp_local_t *self, size_t index);
const char *kp_local_node_site(kp_local_t *self, size_t index);
//  True when the nodes form one replicated cluster.
bool kp_local_replicated(kp_local_t *self);
//  Index of node name, or -1.
int kp_local_node_index(kp_local_t *self, const char *name);

//  Processes, for kpbench's CPU accounting: a node's kpnode (0 while it
//  is down), and the echo providers of all nodes.
pid_t kp_local_node_pid(kp_local_t *self, size_t index);
size_t kp_local_provider_count(kp_local_t *self);
pid_t kp_local_provider_pid(kp_local_t *self, size_t index);

//  Stops the echo providers (SIGTERM, waiting for them to exit) and adds
//  up the line each prints when stopped cleanly (kpctl provider --help):
//  requests served and request ids given to it more than once. 0, or -1
//  if a provider did not report (killed, or it failed): then the figures
//  would be a guess, and are not given. Idempotent: later calls, and
//  kp_local_destroy, find no providers left and return -1.
int kp_local_stop_providers(kp_local_t *self, uint64_t *served, uint64_t *again);

//  Chaos: SIGKILL a node, and start it again. 0, or -1 with err filled.
int kp_local_kill_node(kp_local_t *self, size_t index);
int kp_local_start_node(kp_local_t *self, size_t index, char *err, size_t errlen);

//  Chaos: sends sig (SIGSTOP, SIGCONT) to a running node. 0, or -1.
int kp_local_signal_node(kp_local_t *self, size_t index, int sig);

#endif
