/*  proxy.h - the baselines of --compare, run by kpbench itself.

    kp_zproxy: a bare ZeroMQ broker, zmq_proxy between a ROUTER frontend
    and a DEALER backend on loopback TCP, in a process of its own (kpbench
    --serve-proxy, like a node: its own ZeroMQ I/O thread), with echo
    worker processes
    (kpctl provider --raw-echo) that do per message what the echo
    provider does behind Kruispunt: decode the Request, build the same
    JSON, encode the Response a client would get. The floor of any
    ZeroMQ broker, like for like: same process hops, same protobuf work.

    kp_natsd: a nats-server child on a free loopback port with an echo
    responder on subject "kpbench.echo" (request-reply through an inbox):
    a thread of kpbench that sends each message back as it came, with no
    decode or encode (cheaper than the others' workers; kpbench says so).
*/
#ifndef KP_PROXY_H_INCLUDED
#define KP_PROXY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct _kp_zproxy_t kp_zproxy_t;
//  Starts the proxy process and `workers` echo processes (at most 32),
//  logging into dir. Returns once every worker has connected; NULL with
//  err filled on failure.
//  service_time: the workers' kpctl provider --service-time, or NULL.
//  curve: both sides speak CURVE, as a secure node's sockets do, with a
//  throw-away key pair (kp_zproxy_public_key); no ZAP: any client key.
kp_zproxy_t *kp_zproxy_new(unsigned workers, const char *dir, const char *service_time, bool curve,
                           char *err, size_t errlen);
const char *kp_zproxy_endpoint(kp_zproxy_t *self);
//  The proxy's public key (Z85), or NULL when it speaks plain text.
const char *kp_zproxy_public_key(kp_zproxy_t *self);
//  Processes, for kpbench's CPU accounting: the proxy, its echo workers.
pid_t kp_zproxy_pid(kp_zproxy_t *self);
size_t kp_zproxy_worker_count(kp_zproxy_t *self);
pid_t kp_zproxy_worker_pid(kp_zproxy_t *self, size_t index);
void kp_zproxy_destroy(kp_zproxy_t **self_p);

//  The proxy process itself: binds backend, waits for `workers` echo
//  workers, binds frontend, then forwards until killed. Exit code.
//  key_file: holds its CURVE secret key (Z85), or NULL: plain text.
int kp_zproxy_serve(const char *frontend, const char *backend, unsigned workers,
                    const char *key_file);

#define KP_NATS_SUBJECT "kpbench.echo"
typedef struct _kp_natsd_t kp_natsd_t;
//  Starts nats-server (env NATS_SERVER or PATH) logging into dir.
kp_natsd_t *kp_natsd_new(const char *dir, char *err, size_t errlen);
int kp_natsd_port(kp_natsd_t *self);
//  The nats-server process (the responder is a thread of kpbench).
pid_t kp_natsd_pid(kp_natsd_t *self);
void kp_natsd_destroy(kp_natsd_t **self_p);

#endif
