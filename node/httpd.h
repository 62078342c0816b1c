/*  httpd.h - the node's HTTP endpoint: Prometheus metrics and health
    checks, served off the routing thread.

        GET /metrics   the latest snapshot (metrics.h) in the Prometheus
                       text format, with process_* figures
        GET /healthz   200 while the routing loop reports, 503 when it has
                       not handed over a snapshot for KP_HTTPD_STALE_MS
        GET /readyz    200 when every condition of the latest snapshot
                       holds (directory open, log open, not stopping ...),
                       503 otherwise; the body names each condition

    The endpoint runs libmicrohttpd in a CZMQ actor, on the actor's own
    thread (an epoll set that the actor polls with its sockets). The
    routing loop hands snapshots over an inproc socket, a pointer at a
    time, and never waits: when the actor has not taken the last few, the
    new one is dropped. Nothing is shared between the threads.

    Every HTTP request is input from the network: only GET and HEAD are
    answered (405 otherwise, 404 for other paths), connections are
    bounded in number and time.
*/
#ifndef KP_HTTPD_H_INCLUDED
#define KP_HTTPD_H_INCLUDED

#include <stddef.h>

#include "metrics.h"

//  After this long without a snapshot the routing loop counts as stuck.
#define KP_HTTPD_STALE_MS 10000

typedef struct _kp_httpd_t kp_httpd_t;

//  Serves on address, "HOST:PORT" (an IPv4 or IPv6 address, or a name
//  that resolves to one; "[::1]:7103" for IPv6; "*:7103" or ":7103" for
//  every address). NULL with the problem in err.
kp_httpd_t *kp_httpd_new(const char *address, char *err, size_t errlen);
void kp_httpd_destroy(kp_httpd_t **self_p);

//  Hands a snapshot to the HTTP thread and nulls the caller's pointer.
//  Never blocks; a snapshot the thread has no room for is destroyed.
void kp_httpd_publish(kp_httpd_t *self, kp_metrics_t **metrics_p);

#endif
