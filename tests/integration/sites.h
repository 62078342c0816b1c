/*  sites.h - a cluster of real kpnode processes on emulated sites.

    Voters node-1..node-N, the first half in site "brussels", the rest in
    "charleroi"; optionally a "witness" in "namur". Every peer link goes
    through the relay (bench/relay.h), one link per ordered pair of nodes:
    node A's own cluster file names, as B's `peer`, the port of link
    "A>B", which forwards to B's real `peer-bind`. So the test delays, cuts
    and heals traffic between any two nodes ("cut node-3,node-4 * both"
    cuts charleroi off) without root. The harness's `config` is a file
    that kpctl can use (its admin and client endpoints are everyone's).
*/
#ifndef KP_SITES_H_INCLUDED
#define KP_SITES_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "relay.h"

#define SITES_MAX HARNESS_MAX_NODES

typedef struct {
    harness_t *harness; //  nodes, admin and client endpoints, the folder
    kp_relay_t *relay;
    size_t count;
    size_t joining; //  the last nodes of the file, marked join = "true"
    char peer_bind[SITES_MAX][64];
    char mirror[SITES_MAX][64]; //  log mirror endpoints (secure sites), or ""
} sites_t;

//  voters voters (2..7), plus a witness when witness is true; the
//  cluster's stale-limit in seconds. Nothing is started. Plain text.
sites_t *sites_new(size_t voters, bool witness, int stale_limit_s);
//  The same plus joining voters after them (named on from the voters,
//  site charleroi), marked join = "true": they start empty and wait for
//  `kpctl cluster add-node`.
sites_t *sites_new_joining(size_t voters, bool witness, size_t joining, int stale_limit_s);

//  The same with CURVE on every socket: each node its own certificate
//  (keys/NAME.cert, its key in harness->node_key), nothing about nodes in
//  the directory (the peer links take the cluster file's node keys), the
//  operator's key seeded into each directory at a node's first start only
//  (a wiped node starts empty), and a log mirror endpoint per voter (each
//  ships its log to the first voter of the other site).
sites_t *sites_new_secure(size_t voters, bool witness, int stale_limit_s);
//  Secure, with joining voters after them (as sites_new_joining).
sites_t *sites_new_secure_joining(size_t voters, bool witness, size_t joining, int stale_limit_s);
void sites_destroy(sites_t **self_p);

//  Adds lines ("    key = value\n" each) to the cluster section of every
//  node's file and kpctl's, before the nodes start: settings the tests
//  of one feature need (the snapshot rule's, ...).
void sites_cluster_lines(sites_t *self, const char *lines);

void sites_start(sites_t *self, size_t index);
void sites_start_all(sites_t *self);
//  SIGKILL, and wait for the process to end.
void sites_kill(sites_t *self, size_t index);
//  Removes the node's data folder (the node must be stopped).
void sites_wipe(sites_t *self, size_t index);

const char *sites_name(sites_t *self, size_t index);
//  A relay command (bench/relay.h); asserts its answer starts with "ok".
void sites_relay(sites_t *self, const char *command);

//  What a node says of itself ("status" on its admin socket).
typedef struct {
    char role[16];   //  leader, follower, candidate, ...
    char leader[32]; //  "" when it knows none
    uint64_t term, commit, applied;
    uint64_t seq;                 //  directory sequence
    bool stale;                   //  past the stale-limit without a majority
    uint64_t snapshots, restores; //  taken here; installed here
    uint64_t members, voters;     //  in the raft configuration this node has
    bool removed;                 //  it says it was removed from the cluster
    uint64_t frames_out;          //  raft frames it sent on its peer links
} sites_status_t;

//  false if the node did not answer within timeout_ms.
bool sites_status(sites_t *self, size_t index, int timeout_ms, sites_status_t *out);

//  The node that says it leads, and that every other running node of
//  among (all when NULL) names as leader; -1 after timeout_ms.
int sites_leader(sites_t *self, const bool *among, int timeout_ms);

//  Sends update to node index as directory.apply; the reply (free it), or
//  NULL when none came within timeout_ms.
Kp__AdminReply *sites_apply(sites_t *self, size_t index, Kp__DirectoryUpdate *update,
                            int timeout_ms);

//  Sequence and checksum of node index's directory; false if no answer.
bool sites_checksum(sites_t *self, size_t index, uint64_t *seq, char sha256[65]);

//  Waits until the running nodes of among (all when NULL) that hold a
//  directory (not the witness) show the same sequence and checksum, at
//  least min_seq; false after timeout_ms.
bool sites_converged(sites_t *self, const bool *among, uint64_t min_seq, int timeout_ms);

//  One availability record, unique per n: an update for tests to follow.
Kp__DirectoryUpdate *sites_update_new(unsigned n);
void sites_update_free(Kp__DirectoryUpdate **update_p);

//  Runs kpctl with args (a format) on the cluster's file, as the operator
//  on a secure cluster: its exit status, and its output (both streams)
//  in out.
int sites_kpctl(sites_t *self, char *out, size_t size, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

//  True if node index's directory holds the record of sites_update_new(n).
bool sites_has_update(sites_t *self, size_t index, unsigned n);

#endif
