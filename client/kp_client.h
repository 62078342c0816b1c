/*  kp_client.h - the client stub for institution applications.

    A kp_client_t holds one DEALER socket connected to one node of a
    cluster at a time, and the encoded requests it has in flight. Requests
    may be pipelined: kp_client_send queues one and returns its id at once,
    kp_client_recv hands back answers in the order they arrive.
    kp_client_call is send + wait for that one answer.

    Failover. When the client takes its node for lost, it reconnects to
    the next endpoint (round robin; own site first with kp_client_set_site,
    which also brings it back to its site) and resends every unanswered request
    there, with the same request ids, so that a node that already answered
    an id answers it again instead of routing it twice. It takes the node
    for lost when:

    - the connection drops (a killed node's at once), or the node stops
      answering ZMTP heartbeats: libzmq pings it every 100 ms and drops
      the connection when nothing came back within 400 ms (a stopped or
      cut-off node), see kp_client_set_heartbeat. A socket monitor tells
      the client, which moves on at once: a silent node is known within
      about half a second, not at the request's deadline;
    - a connection to the next node does not come up within the same
      time (heartbeat interval + timeout; 1 s without heartbeats) while
      requests wait for it: a dead node after a failover;
    - a request's attempt times out, nothing at all came from the node
      since that attempt began, and the node does not answer a ping (a
      Request with ping set, which the node's loop answers at once) within
      4 times its p99 (at least 100 ms): its loop is stuck, though libzmq
      may still answer heartbeats. The attempt timeout is 8 times the
      node's recent p99 answer time plus 250 ms, and at most the
      request's own deadline_ms plus 250 ms (a live node answers by then:
      it answers TIMEOUT itself at its deadline), or the overall timeout
      when the request has no deadline_ms. A node that answered other
      requests or the ping meanwhile is alive: the request gets until that
      ceiling there before the client moves on (a slow provider is no
      reason to route a request twice);
    - a node answers SHUTTING_DOWN (below).

    kp_client_set_attempt_timeout, or kp_client_set_attempts (the overall
    timeout divided by this many attempts), fix the attempt timeout
    instead, as before: then an attempt that times out moves on whatever
    the node did meanwhile.

    Every request has an overall timeout (given by the caller). When it
    passes, the client gives up on that request and hands back a response
    it made itself: status TIMEOUT, reason DEADLINE_EXCEEDED, and a detail
    naming what was tried. So every request sent yields exactly one
    response, real or made up.

    Hedging (off by default; kp_client_set_hedging). A request not
    answered after the current node's recent p99 (bounded to [min, max];
    max while fewer than 8 answers are known) is sent, same id, to the
    next endpoint too, over a second connection; the first answer is
    handed out, the other dropped as a duplicate. The request is then
    routed by two nodes (each logs it; the provider may see it twice):
    counted in kp_client_stats as hedges, and hedge_wins when the second
    node answered first.

    A node that is stopping answers new requests with status UNAVAILABLE,
    reason SHUTTING_DOWN (one cut off from its cluster's majority past its
    stale-limit, NO_QUORUM; one whose log cannot write, LOG_UNAVAILABLE:
    the same below). The client does not hand such an answer out: it
    fails over to the next endpoint at once (without waiting for the
    attempt timeout) and resends everything unanswered there. Only when
    every endpoint of the list has answered a request SHUTTING_DOWN is
    that answer handed to the caller. With one endpoint it is handed out
    as is.

    At most once. Each request id is handed to the caller at most once:
    after a failover the old node's answer and the new node's answer may
    both arrive (a DEALER may also deliver frames queued for a peer that
    came back), and every copy after the first is dropped and counted as a
    duplicate. The socket sets ZMQ_IMMEDIATE, so frames are never queued
    for a node that is not connected; a request sent while no connection
    is up waits in the client and leaves when one is. Note what this does
    not cover: each node remembers only the answers it gave itself, so a
    request that node A had passed to a provider when A died is routed
    again by node B: the provider sees that id twice, the caller once.

    Hostile input. A frame that does not decode, a message of several
    frames, a response for an id the client never sent, a second copy of
    an answer, and a response for an id it gave up on are dropped and
    counted (kp_client_stats); they never end a call.

    Ownership. Requests are copied (encoded) by kp_client_send; the caller
    keeps its Kp__Request. Every Kp__Response handed out belongs to the
    caller, who frees it with kp_client_response_destroy (or
    kp__response__free_unpacked(resp, NULL)).

    Threading. A kp_client_t belongs to one thread at a time: no call may
    run concurrently with another on the same client. Different clients
    are independent. The library installs no signal handlers; a signal
    interrupting a wait returns KP_CLIENT_EINTR.
*/
#ifndef KP_CLIENT_H_INCLUDED
#define KP_CLIENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kp_client_t kp_client_t;

//  Room for a request id, terminating NUL included. Ids made by the stub
//  are 32 hex digits, 128 bits from the kernel's CSPRNG (no counter: one
//  id tells nothing about the next); ids chosen by the caller may be up
//  to KP_CLIENT_ID_MAX - 1 bytes (the node takes up to 128).
#define KP_CLIENT_ID_MAX 64

//  Error codes (all negative; 0 is success).
#define KP_CLIENT_EINVAL -1     //  bad argument (NULL, empty, id too long)
#define KP_CLIENT_EDUPLICATE -2 //  a request with this id is in flight
#define KP_CLIENT_ETOOLARGE -3  //  encoded request over the max frame
#define KP_CLIENT_ESOCKET -4    //  ZeroMQ failed (errno tells more)
#define KP_CLIENT_ETIMEDOUT -5  //  kp_client_recv: nothing arrived in time
#define KP_CLIENT_EIDLE -6      //  kp_client_recv: nothing in flight
#define KP_CLIENT_EINTR -7      //  a signal interrupted the wait
#define KP_CLIENT_ENOMEM -8

//  Connects to the first of count endpoints ("tcp://host:port"); the
//  others are failover targets, tried in order. The strings are copied.
//  Returns NULL if count is 0, an endpoint is NULL or empty, or ZeroMQ
//  cannot make the socket.
kp_client_t *kp_client_new(const char **endpoints, size_t count);

//  The same for a secure cluster: speaks CURVE from the first connection on
//  (see kp_client_set_curve). NULL also when the certificate or a key is
//  unusable.
kp_client_t *kp_client_new_secure(const char **endpoints, size_t count, const char *cert_file,
                                  const char *server_keys);

//  Same, from one comma-separated list ("tcp://a:7100,tcp://b:7100").
kp_client_t *kp_client_new_list(const char *endpoints);

//  Closes the socket and forgets every request in flight.
void kp_client_destroy(kp_client_t **self_p);

//  Speaks CURVE from now on, as the node requires unless its cluster is
//  insecure: cert_file is the caller's CZMQ certificate (either file of
//  the pair, as 'kpctl keys new' writes it; the secret one must be there),
//  server_keys the nodes' public keys in Z85: one for every endpoint, or
//  one per endpoint, comma-separated, in the order of the endpoints.
//  Reconnects at once. 0, KP_CLIENT_EINVAL (certificate unreadable, a key
//  malformed, or the wrong count of keys) or KP_CLIENT_ESOCKET. Prefer
//  kp_client_new_secure: kp_client_new has already started a plain
//  connection, which a secure node refuses, and under load the first
//  CURVE handshake after it was seen to stall for seconds.
int kp_client_set_curve(kp_client_t *self, const char *cert_file, const char *server_keys);

//  Number of attempts an overall timeout is split into when no attempt
//  timeout is set (default 3, minimum 1).
void kp_client_set_attempts(kp_client_t *self, unsigned attempts);

//  Per-attempt timeout in ms; 0 (default) derives it from the node's
//  recent answer times and the request's deadline (see "Failover").
void kp_client_set_attempt_timeout(kp_client_t *self, int timeout_ms);

//  ZMTP heartbeats: a ping every interval_ms; a node from which nothing
//  came back within timeout_ms is lost (default 100 and 400; interval 0:
//  none, a stopped node is then known only by the attempt timeout).
//  Applies to new connections; called with nothing in flight, the client
//  reconnects at once to use it.
void kp_client_set_heartbeat(kp_client_t *self, int interval_ms, int timeout_ms);

//  Hedging (see "Failover"): after the node's p99, bounded to [min_ms,
//  max_ms], an unanswered request goes to the next node too. min_ms 0
//  (default): never.
void kp_client_set_hedging(kp_client_t *self, int min_ms, int max_ms);

//  Site preference. sites[i] names the site of endpoint i (the cluster
//  file's site names), site is the caller's own. The client then talks to
//  its own site's endpoints, in their order, and fails over to another
//  site's (in their order) only when each of its own has been left in
//  turn without an answer (lost, or answering UNAVAILABLE: see "Failover"). While it is away from
//  its site it probes its own site's endpoints, one at a time, every 250 ms (a connection of its
//  own and a ping; a node answers the ping UNAVAILABLE while it would refuse requests: stale past
//  its stale-limit, log unavailable, stopping) and comes back to the first that has answered every
//  probe OK for the settle time (kp_client_set_failback, default 1000 ms; a node just restarted has
//  its providers back by then): new requests go there at once, and requests already sent stay with
//  the node left until they are answered or their attempt ends (then they are sent again, same id),
//  so that none is routed twice by the move. Probes run while the client works (in kp_client_recv,
//  kp_client_call): an idle client comes back the settle time after its next request. Called with
//  nothing in flight it moves to its own site at once. 0, or KP_CLIENT_EINVAL (site empty, a site
//  missing); a site that no endpoint has is no preference.
int kp_client_set_site(kp_client_t *self, const char *site, const char **sites);

//  How long an own-site node must answer every probe before the client
//  comes back to it (see kp_client_set_site); 0: never come back.
void kp_client_set_failback(kp_client_t *self, int settle_ms);

//  Requests whose encoding is larger than this are refused locally with
//  KP_CLIENT_ETOOLARGE; responses larger than this are refused by ZeroMQ
//  (it drops the connection). 0 (default): no limit.
void kp_client_set_max_frame(kp_client_t *self, size_t bytes);

//  Sends req and waits for its response at most timeout_ms (> 0). Fills
//  request_id when req leaves it unset or empty. On 0, *resp_out is the
//  node's response, or a TIMEOUT response made by the client when no node
//  answered in time. On an error code, *resp_out is NULL. Responses to
//  other requests in flight that arrive meanwhile are kept for
//  kp_client_recv.
int kp_client_call(kp_client_t *self, const Kp__Request *req, int timeout_ms,
                   Kp__Response **resp_out);

//  Queues req with an overall timeout of timeout_ms (> 0) and sends it.
//  Writes its request id (the caller's, or a fresh one) to id_out when
//  id_out is not NULL. Returns 0 or an error code.
int kp_client_send(kp_client_t *self, const Kp__Request *req, int timeout_ms,
                   char id_out[KP_CLIENT_ID_MAX]);

//  Waits at most timeout_ms (0: do not wait; < 0: until something
//  happens) for the next response to a request in flight, driving
//  retries and failover meanwhile. Returns 0 with *resp_out set (a real
//  response, or a TIMEOUT one made by the client), KP_CLIENT_ETIMEDOUT,
//  KP_CLIENT_EIDLE when nothing is in flight or ready, or KP_CLIENT_EINTR.
int kp_client_recv(kp_client_t *self, int timeout_ms, Kp__Response **resp_out);

//  Frees a response and nulls the pointer.
void kp_client_response_destroy(Kp__Response **resp_p);

//  Requests sent and not yet answered or given up on.
size_t kp_client_pending(kp_client_t *self);

//  The endpoint the client talks to now.
const char *kp_client_endpoint(kp_client_t *self);

typedef struct {
    uint64_t sent;        //  requests accepted by kp_client_send/call
    uint64_t resent;      //  frames resent after a failover
    uint64_t failovers;   //  switches to the next endpoint
    uint64_t answered;    //  real responses handed out
    uint64_t timeouts;    //  TIMEOUT responses made by the client
    uint64_t late;        //  responses for ids given up on (TIMEOUT made)
    uint64_t duplicates;  //  second copies of responses already handed out
    uint64_t redirects;   //  SHUTTING_DOWN answers that moved a request on
    uint64_t unknown;     //  responses for ids never sent
    uint64_t malformed;   //  frames that did not decode, or multi-frame
    uint64_t disconnects; //  connections to the current node that dropped
    uint64_t hedges;      //  requests sent to a second node too (hedging)
    uint64_t hedge_wins;  //  ... and answered there first
    uint64_t pings;       //  pings sent to a node silent past an attempt
    uint64_t failbacks;   //  returns to the own site (kp_client_set_site)
} kp_client_stats_t;

void kp_client_stats(kp_client_t *self, kp_client_stats_t *out);

//  Wire names of the enums ("OK", "DENIED", "USER_UNKNOWN", ...), taken
//  from the schema itself; "?" for a value the schema does not know.
const char *kp_client_status_name(Kp__Status status);
const char *kp_client_reason_name(Kp__Reason reason);

//  A short English description of an error code.
const char *kp_client_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
