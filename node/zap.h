/*  zap.h - the node's ZAP handler: which CURVE key may connect, as whom.

    An actor of its own on the ZAP protocol (RFC 27): libzmq asks it about
    every CURVE handshake on the node's sockets, over the in-process
    endpoint "inproc://zeromq.zap.01" of the process's ZeroMQ context
    (CZMQ's, which every zsock shares), so there is one per process.

    On "client", "worker" and "admin" a key is accepted when the
    directory's key table holds it, it is valid today (from <= today <=
    to, UTC) and its kind is the one the domain serves: application,
    provider and operator keys. On "peer" (the raft links and the log
    mirror) a key is accepted when it is one of the node keys of the
    cluster file, and only then: the cluster file is the authority on who
    is a member, and a wiped or new member, whose directory is empty, must
    still get in to receive it. A node key is refused on every other
    domain, whatever the directory says. The reply's User-Id is the
    key itself (Z85), so that the node can look it up again on every frame
    (a key revoked after the handshake is refused at its next frame; see
    node.c). Anything else is refused with status 400 and the handshake
    fails: the peer never gets to send a frame.

    Threading: the handler reads the directory on its own thread with its
    own LMDB read transaction, renewed for every handshake. LMDB lets any
    number of readers run beside each other and beside the writer, so the
    node's loop never waits for the handler, nor the handler for the loop.
*/
#ifndef KP_ZAP_H_INCLUDED
#define KP_ZAP_H_INCLUDED

#include <stdint.h>

#include "directory.h"

typedef struct _kp_zap_t kp_zap_t;

//  The ZAP domains, as counted.
typedef enum {
    KP_ZAP_CLIENT,
    KP_ZAP_WORKER,
    KP_ZAP_ADMIN,
    KP_ZAP_PEER,
    KP_ZAP_OTHER, //  a domain the node does not serve (refused)
    KP_ZAP_DOMAINS
} kp_zap_domain_t;

//  Handshakes accepted and refused so far, per domain.
typedef struct {
    uint64_t accepted[KP_ZAP_DOMAINS];
    uint64_t refused[KP_ZAP_DOMAINS];
} kp_zap_counts_t;

//  Starts the handler on directory (borrowed: it must outlive the
//  handler), accepting on "peer" the peer_count node keys (Z85, copied)
//  of peer_keys. NULL with the reason in err, e.g. when another handler
//  is bound in this process already.
kp_zap_t *kp_zap_new(kp_directory_t *directory, const char *const *peer_keys, size_t peer_count,
                     char *err, size_t errlen);

//  Stops the handler and nulls the caller's pointer.
void kp_zap_destroy(kp_zap_t **self_p);

//  Handshakes accepted and refused so far.
void kp_zap_counts(kp_zap_t *self, kp_zap_counts_t *counts);

//  The name of a counted domain ("client", ..., "other").
const char *kp_zap_domain_name(kp_zap_domain_t domain);

#endif
