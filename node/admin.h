/*  admin.h - the node's answers to operators (kpctl over the admin socket).

    Commands: "status" (with the cluster: role, term, leader, indexes,
    staleness), "cluster.status" (that part alone),
    "directory.stats", "directory.person" (args: INSZ), "directory.export",
    "directory.checksum", "maintenance.list". Directory updates and
    membership changes ("directory.apply", "cluster.*") go through the
    cluster and are answered by the node when its result comes (node.c).
    See proto/PROTOCOL.md.
*/
#ifndef KP_ADMIN_H_INCLUDED
#define KP_ADMIN_H_INCLUDED

#include "cluster.h"
#include "config.h"
#include "directory.h"
#include "flight.h"
#include "stats.h"
#include "registry.h"
#include "spare.h"
#include "zap.h"

//  What a command may look at; borrowed from the node for one call.
typedef struct {
    kp_directory_t *directory;
    kp_registry_t *workers;
    kp_flight_t *flight;
    kp_stats_t *stats;
    const kp_cluster_config_t *cluster;
    const kp_node_config_t *me;
    int64_t started_ms;
    bool stopping;                      //  draining after SIGTERM: new requests get SHUTTING_DOWN
    const kp_cluster_status_t *raft;    //  the cluster as its actor last said
    int64_t stale_ms;                   //  since the last sign of a majority (0: in touch)
    const char *log_state;              //  "ok", "unavailable" (no space), "failed", "off"
    const char *log_error;              //  why, when not ok; or NULL
    uint64_t log_free_bytes;            //  free space on the log's disk
    bool log_space_low;                 //  under the cluster's log-free-warn-mb
    const kp_spare_counts_t *log_spare; //  the spare segment (log/spare.h); NULL: no log

    //  The log's copy on the other site (log/mirror.h)
    const char *log_mirror;           //  the node keeping it, or NULL
    uint64_t log_durable;             //  seq durable here
    uint64_t log_mirror_acked;        //  seq durable on the mirror
    bool log_mirror_degraded;         //  responses leave on local durability
    bool log_mirror_held;             //  degraded without a majority: responses wait
    uint64_t log_mirror_degradations; //  times it degraded
    uint64_t log_mirror_local_from;   //  records from here on left on this site only (0: none)

    //  Who got in (zap.h): NULL when insecure
    const kp_zap_counts_t *zap;
    uint64_t revoked;            //  connections closed for a revoked key
    bool keeper;                 //  this node keeps other nodes' log copies
    uint64_t keeper_refused;     //  messages its keeper refused
    uint64_t keeper_not_its_log; //  of them, sent with another node's key
} kp_admin_context_t;

//  Runs one command. Returns its JSON answer (free it), or NULL with the
//  problem and its fix in err. *seq gets the directory's sequence number.
char *kp_admin_handle(kp_admin_context_t *context, const Kp__AdminRequest *request, uint64_t *seq,
                      char *err, size_t errlen);

#endif
