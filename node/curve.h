/*  curve.h - CURVE on a ZeroMQ socket, from CZMQ certificate files.

    Every socket of a node is CURVE unless the cluster file says
    `insecure = true`. A node's certificate is a CZMQ certificate pair
    (zcert: "NAME" holds the public key, "NAME_secret" both keys); the
    cluster file names it per node with `cert` (either file of the pair).
    Clients learn a node's public key from the same entry: its
    `public-key` (Z85) when given, else the public file of its `cert`.

    A server socket names a ZAP domain ("client", "worker", "admin",
    "peer"): the ZAP handler (zap.h) accepts on it only keys of the kind
    that domain serves, and ZMQ_ZAP_ENFORCE_DOMAIN (set, or
    kp_curve_server fails) makes libzmq refuse every handshake when no ZAP
    handler answers, instead of accepting any key. The authenticated key
    reaches the node on every frame as the message property "User-Id"
    (kp_curve_peer_key).

    The cluster's own sockets (cluster.c, log/mirror.h): a peer socket is
    kp_curve_server(sock, node_cert, "peer") on one side and
    kp_curve_client(sock, node_cert, other_node_key) on the other; the ZAP
    handler accepts on "peer" the node keys of the cluster file only.
*/
#ifndef KP_CURVE_H_INCLUDED
#define KP_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "config.h"

#define KP_CURVE_Z85 41 //  a Z85 key and its NUL

//  Loads a certificate pair; path names either file of it. With
//  need_secret the secret file must exist and be readable by its owner
//  only. NULL with the problem and its fix in err.
zcert_t *kp_curve_cert_load(const char *path, bool need_secret, char *err, size_t errlen);

//  Writes a new certificate pair to path (public, mode 0644) and
//  path_secret (mode 0600). 0, or -1 with the reason in err.
int kp_curve_cert_new(const char *path, char *err, size_t errlen);

//  The public key (Z85) of node, from its cluster entry. 0, or -1 with
//  the reason in err.
int kp_curve_node_key(const kp_node_config_t *node, char out[KP_CURVE_Z85], char *err,
                      size_t errlen);

//  Makes sock a CURVE server with cert for ZAP domain. Before bind.
int kp_curve_server(void *sock, zcert_t *cert, const char *domain, char *err, size_t errlen);

//  Makes sock a CURVE client with cert, talking to the server whose public
//  key (Z85) is server_key. Before connect.
int kp_curve_client(void *sock, zcert_t *cert, const char *server_key, char *err, size_t errlen);

//  The Z85 public key a received message was authenticated with, or NULL
//  (a plain-text socket, or a message not received from a peer).
const char *kp_curve_peer_key(zmq_msg_t *msg);

#endif
