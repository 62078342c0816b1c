/*  conns.h - the connection guard: counts the peers connected to the
    node's sockets and closes at once every connection past the cluster's
    limits/max-connections.

    Operators (the admin socket) are not counted. libzmq accepts every TCP
    connection in its own I/O thread. A node out
    of file descriptors finds its listening socket readable forever and
    accept() failing with EMFILE: the I/O thread spins at 100% CPU and
    nobody new gets in (at the usual soft limit of 1,024 files, about
    1,000 connections did it). So the node raises its file limit at start
    (kp_conns_raise_file_limit) and keeps its connections well below it: a
    socket monitor reports each accepted connection with its descriptor,
    and past the maximum the guard shuts that connection down (shutdown(2),
    not close: the descriptor stays libzmq's, which sees the peer gone and
    closes it itself). The refused peer sees its connection closed; a ZMQ
    peer retries after its reconnect interval, which costs the node one
    accept per retry, never a spin.

    The guard is a CZMQ actor: its thread reads the monitors; the node
    talks to it only through its pipe.
*/
#ifndef KP_CONNS_H_INCLUDED
#define KP_CONNS_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct _kp_conns_t kp_conns_t;

//  A guard allowing max connections over every socket it watches.
kp_conns_t *kp_conns_new(uint32_t max);
void kp_conns_destroy(kp_conns_t **self_p);

//  Watches sock; call it before the socket binds, so that no connection
//  goes uncounted. 0, or -1 with the problem in err.
int kp_conns_watch(kp_conns_t *self, zsock_t *sock, char *err, size_t errlen);

//  Connections open now, and refused since the guard started.
void kp_conns_counts(kp_conns_t *self, uint64_t *open, uint64_t *refused);

//  Raises the soft limit of open files to the hard limit. Returns the
//  limit now in force; *before gets the one there was.
uint64_t kp_conns_raise_file_limit(uint64_t *before);

//  Files the node keeps for itself besides its connections (LMDB, the
//  privacy log's segments and index, ZeroMQ's own pipes and sockets).
#define KP_CONNS_RESERVE 256

#endif
