/*  dirscan.h - the node's long reads on a thread of their own.

    "directory.checksum" hashes the whole directory and "directory.export"
    writes all of it: about a second per million records. "log.query"
    and "log.stats" read the node's privacy log (log/logreport.h): its
    query index, or every segment. On the routing loop that time is time
    without routing. The loop hands them to this actor instead, under a
    token, and answers the operator when the result comes back on the
    actor's socket; meanwhile it routes.

        log.query KIND KEY FROM_US TO_US   KIND person, institution, message
        log.stats FROM_DAY TO_DAY          days since 1970 (INT32_MIN/MAX: all)

    Either with one more argument, a node's name: read from the copy of
    that node's log this node keeps as its log mirror (log/mirror.h), for
    `kpctl log query|stats -c` when that node does not answer. A copy has
    no index: the query reads every segment.

    Threading: the actor reads the directory with its own LMDB read
    transaction (LMDB lets readers run beside each other and beside the
    writer), and the log's files and index as kpctl does beside a running
    node; it never writes. One scan at a time, at most KP_DIRSCAN_QUEUE
    waiting: more are refused at once (the operator asks again).
*/
#ifndef KP_DIRSCAN_H_INCLUDED
#define KP_DIRSCAN_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "directory.h"

#define KP_DIRSCAN_QUEUE 8

typedef struct _kp_dirscan_t kp_dirscan_t;

//  Starts the actor on directory (borrowed: it must outlive the actor)
//  and the privacy log in log_dir (NULL: the node keeps none), and the
//  log copies in copies_dir/NODE (NULL: it keeps none).
kp_dirscan_t *kp_dirscan_new(kp_directory_t *directory, const char *log_dir,
                             const char *copies_dir);

//  Stops the actor (after the scan it is running) and nulls the pointer.
void kp_dirscan_destroy(kp_dirscan_t **self_p);

//  True for the commands this actor runs.
bool kp_dirscan_handles(const char *command);

//  Queues command (with its n_args args) under token; -1 with the reason
//  in err when too many wait already.
int kp_dirscan_ask(kp_dirscan_t *self, uint64_t token, const char *command, char **args,
                   size_t n_args, char *err, size_t errlen);

//  The socket the loop polls for results.
zsock_t *kp_dirscan_sock(kp_dirscan_t *self);

//  One result, without waiting: false when none is there. On success
//  *json is the document (free it) and err is empty; on failure *json is
//  NULL and err says why. *seq is the directory's sequence it read.
typedef struct {
    uint64_t token, seq;
    char *json;
    char err[256];
} kp_dirscan_result_t;
bool kp_dirscan_recv(kp_dirscan_t *self, kp_dirscan_result_t *result);

#endif
