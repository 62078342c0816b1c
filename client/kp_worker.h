/*  kp_worker.h - the provider side: a worker that answers requests.

    A kp_worker_t holds one DEALER socket connected to a node's worker
    endpoint and speaks the worker protocol of proto/PROTOCOL.md for its
    owner: it says hello (institution KBO, message types, concurrency),
    sends a heartbeat whenever it has sent nothing for one interval,
    takes the node for dead after three silent intervals and then
    reconnects with a new socket and a new hello, and says bye when
    destroyed.

    The owner's loop is: kp_worker_recv (which also drives heartbeats
    and reconnects, so call it at least once per heartbeat interval, with
    a timeout no longer than that while requests are being worked on),
    then kp_worker_reply, now or later. Up to `concurrency` requests may
    be outstanding at once; replying later (a slow provider) is fine as
    long as the loop keeps calling kp_worker_recv meanwhile.

    Sessions. Each hello starts a session; tickets belong to it. After a
    reconnect the node has re-dispatched what this worker held, so a
    reply to a request of an earlier session is dropped locally
    (KP_WORKER_ESTALE, counted) rather than sent to be refused.

    Ownership: requests handed out belong to the caller, freed with
    kp_worker_request_destroy. Threading: one thread per kp_worker_t; the
    library installs no signal handlers (a signal ends a wait with
    KP_WORKER_EINTR).
*/
#ifndef KP_WORKER_H_INCLUDED
#define KP_WORKER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kp_worker_t kp_worker_t;

#define KP_WORKER_EINVAL -1
#define KP_WORKER_ESOCKET -2
#define KP_WORKER_ETIMEDOUT -3 //  recv: no request within the timeout
#define KP_WORKER_EREFUSED -4  //  the node refused the hello (see _error_*)
#define KP_WORKER_ESTALE -5    //  reply: not a ticket of this session
#define KP_WORKER_EINTR -6
#define KP_WORKER_ENOMEM -7
#define KP_WORKER_EAGAIN -8 //  publish: the send queue is full; recv, then again

//  A worker for institution kbo serving count message types. Nothing is
//  sent until the first kp_worker_recv. Strings are copied. Returns NULL
//  on a NULL or empty argument or when ZeroMQ fails; the KBO is not
//  checked here (the node checks it; callers may use kp_kbo_valid).
//  count may be 0 for a worker that only takes notifications
//  (kp_worker_set_notify before the first kp_worker_recv).
kp_worker_t *kp_worker_new(const char *endpoint, const char *kbo, const char **messages,
                           size_t count);

//  Says bye (waiting at most 500 ms for it to leave) and closes.
void kp_worker_destroy(kp_worker_t **self_p);

//  Settings, taking effect at the next hello: requests at once (>= 1,
//  default 1), heartbeat interval in ms (default 1000: use the cluster's),
//  free-text id for operators, largest frame accepted (0: any).
void kp_worker_set_concurrency(kp_worker_t *self, uint32_t concurrency);
void kp_worker_set_heartbeat(kp_worker_t *self, uint32_t heartbeat_ms);
void kp_worker_set_id(kp_worker_t *self, const char *worker_id);
void kp_worker_set_max_frame(kp_worker_t *self, size_t bytes);

//  Speaks CURVE from the next session on: cert_file is the provider's
//  CZMQ certificate (either file of the pair; the secret one must be
//  there), server_key the node's public key in Z85. The node accepts only
//  a provider key of the directory whose KBO is the one the hello names.
//  0, or KP_WORKER_EINVAL when the certificate or the key is unreadable.
int kp_worker_set_curve(kp_worker_t *self, const char *cert_file, const char *server_key);

//  Waits at most timeout_ms (0: poll; < 0: forever) for a request.
//  Returns 0 with *req_out set, KP_WORKER_ETIMEDOUT, KP_WORKER_EINTR,
//  KP_WORKER_ESOCKET, or KP_WORKER_EREFUSED when the node answered the
//  hello with an error (the next call starts over with a new hello).
int kp_worker_recv(kp_worker_t *self, int timeout_ms, Kp__WorkerRequest **req_out);

//  Answers req (status OK or ERROR) with payload (may be NULL if size 0).
//  Returns 0, KP_WORKER_ESTALE, KP_WORKER_EINVAL or KP_WORKER_ESOCKET.
int kp_worker_reply(kp_worker_t *self, const Kp__WorkerRequest *req, Kp__Status status,
                    const void *payload, size_t size);

void kp_worker_request_destroy(Kp__WorkerRequest **req_p);

//  The ZeroMQ socket of the current session, for an owner that waits on
//  several workers with zmq_poll (POLLIN: call kp_worker_recv with 0).
//  It changes when the worker reconnects: ask again before each poll.
void *kp_worker_socket(kp_worker_t *self);

//  True once the node has accepted the current session's hello.
bool kp_worker_accepted(kp_worker_t *self);

//  The reason and detail of the last WorkerFrame{error} from the node.
Kp__Reason kp_worker_error_reason(kp_worker_t *self);
const char *kp_worker_error_detail(kp_worker_t *self);

//  ---------------------------------------------------------------------
//  Mutations (change notifications, proto/PROTOCOL.md)

//  Called from kp_worker_recv for each mutation the node delivers to this
//  worker's institution. Return 0 when the mutation is taken (stored,
//  processed): the library acknowledges it, and the node will not send
//  it again once the ack is replicated. Return non-zero to leave it
//  unacknowledged: the node sends it again after its ack timeout.
//  Delivery is at-least-once: a notify may come again with the same seq
//  (notify->attempt > 1) and must be treated as the same change. The
//  notify is valid only during the call.
typedef int(kp_worker_notify_fn)(void *arg, const Kp__MutationNotify *notify);

//  Takes notifications from the next session (hello) on; fn NULL: none.
void kp_worker_set_notify(kp_worker_t *self, kp_worker_notify_fn *fn, void *arg);

//  Called from kp_worker_recv with the node's answer to each publish:
//  status OK (durable on a majority; recipients, duplicate), INVALID or
//  DENIED (reason names why: INVALID_MUTATION_ID, INVALID_INSZ,
//  INVALID_DATE, PAYLOAD_TOO_LARGE, MESSAGE_NOT_PROVIDED, ...) or
//  UNAVAILABLE (NOT_LEADER: publish through a worker on `leader`'s node;
//  NO_QUORUM, OUTCOME_UNKNOWN: publish again with the same id, which is
//  never queued twice).
typedef void(kp_worker_published_fn)(void *arg, const Kp__MutationPublished *published);
void kp_worker_set_published(kp_worker_t *self, kp_worker_published_fn *fn, void *arg);

//  Publishes a change for one of the institution's message types (the
//  node sets origin and time). Only once the session is accepted
//  (kp_worker_accepted): KP_WORKER_EINVAL before. 0 when sent: the answer
//  comes through the published callback; KP_WORKER_EAGAIN when the
//  socket's send queue is full (nothing sent: call kp_worker_recv, which
//  lets the answers in, and publish again).
int kp_worker_publish(kp_worker_t *self, const Kp__Mutation *mutation);

typedef struct {
    uint64_t sessions;   //  hellos sent
    uint64_t requests;   //  requests handed out
    uint64_t replies;    //  replies sent
    uint64_t stale;      //  replies dropped: earlier session or unknown ticket
    uint64_t heartbeats; //  heartbeats sent
    uint64_t silences;   //  reconnects because the node went silent
    uint64_t errors;     //  WorkerFrame{error} received
    uint64_t byes;       //  WorkerFrame{bye} received
    uint64_t malformed;  //  frames from the node that did not decode
    uint64_t notifies;   //  notifies received (again ones too)
    uint64_t acks;       //  acks sent
    uint64_t published;  //  answers to publishes received
} kp_worker_stats_t;

void kp_worker_stats(kp_worker_t *self, kp_worker_stats_t *out);

const char *kp_worker_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
