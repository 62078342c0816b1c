/*  inproc.h - a cluster of cluster actors in one process (node/cluster.h),
    each with its own directory in LMDB on disk and its peer socket on
    loopback: what raftbench measures and test_cluster checks.

        kp_inproc_t c;
        kp_inproc_configure (&c, "test", dir, 3, 1024, err, sizeof err);
        c.config.election_timeout_ms = 300;     //  adjust, then start
        for (i = 0; i < 3; i++) kp_inproc_start (&c, i, err, sizeof err);
        while (kp_inproc_leader (&c) < 0) kp_inproc_pump (&c, 20, NULL, NULL);
        ...
        kp_inproc_stop_all (&c);
*/
#ifndef KP_INPROC_H_INCLUDED
#define KP_INPROC_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "directory.h"

#define KP_INPROC_MAX 5

typedef struct {
    kp_cluster_config_t config;
    kp_directory_t *directory[KP_INPROC_MAX]; //  NULL while member i is stopped
    kp_cluster_t *cluster[KP_INPROC_MAX];
} kp_inproc_t;

//  Fills self (stopped) with the cluster file of a cluster named name: n
//  voters node-1..node-n with their data in dir/node-N, on sites site-1
//  and site-2 in turn, peer endpoints on free loopback ports when n > 1,
//  plain text (in-process members), a snapshot every threshold entries.
//  Raft timings are the cluster file's defaults; change config before
//  starting. 0, or -1 with a message in err.
int kp_inproc_configure(kp_inproc_t *self, const char *name, const char *dir, size_t n,
                        uint32_t threshold, char *err, size_t errlen);

//  Opens member i's directory and starts its cluster actor. 0, or -1 with
//  a message in err.
int kp_inproc_start(kp_inproc_t *self, size_t i, char *err, size_t errlen);
//  Stops member i (nothing if it is stopped); its data stay.
void kp_inproc_stop(kp_inproc_t *self, size_t i);
void kp_inproc_stop_all(kp_inproc_t *self);

//  Called for each event of member i (a commit's RESULT, ...).
typedef void(kp_inproc_event_fn)(size_t i, const kp_cluster_event_t *event, void *arg);
//  Handles every event waiting on the running members' sockets, waiting
//  up to ms for the first; fn may be NULL.
void kp_inproc_pump(kp_inproc_t *self, long ms, kp_inproc_event_fn *fn, void *arg);

//  Member i's status (it must be running).
kp_cluster_status_t kp_inproc_status(kp_inproc_t *self, size_t i);
//  The running leader's index, or -1.
int kp_inproc_leader(kp_inproc_t *self);

//  A packed kp.DirectoryUpdate (free it) of ops PUTs of institutions named
//  name, whose KBO numbers are valid and count up from number first.
uint8_t *kp_inproc_update(unsigned first, unsigned ops, const char *name, size_t *size);

#endif
