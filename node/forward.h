/*  forward.h - proposals a follower forwards to the leader.

    Only the raft leader can append to the log. A proposal made on a
    follower (a worker's publish, a register proposal or correction, a
    directory update from kpctl) is sent to the leader over the peer link
    (the raft transport: CURVE, frames checked against the sender's node
    key) as a ForwardProposal; the leader proposes it as if it were its
    own and answers a ForwardResult. The follower answers its caller
    only when that result comes:

    - OK: once this node has applied the entry too (its raft index), so
      that what the caller reads next from its own directory (the
      recipients of a mutation, an allocated bis number) is there;
    - NOT_LEADER, NO_QUORUM, FAILED: as the leader said;
    - UNKNOWN (named, never silent) when the leader does not answer
      within KP_FORWARD_TIMEOUT_MS, when this node knows another leader
      or none (an election, a cut) before it answered, or when this node
      has not applied a committed entry by then: the update may or may
      not be applied; the caller retries with the same id (publishes,
      proposals and import batches are idempotent by id).

    So no caller needs to know which node leads. At most KP_FORWARD_MAX
    proposals are forwarded at once; beyond that the caller is answered
    NOT_LEADER with the leader's name at once, as before forwarding.

    This file keeps the follower's table and reads and writes the two
    frames; node/cluster.c sends and receives them. One thread: the
    cluster actor's.
*/
#ifndef KP_FORWARD_H_INCLUDED
#define KP_FORWARD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "json.h"
#include "kruispunt.pb-c.h"

#define KP_FORWARD_MAX 1024
#define KP_FORWARD_TIMEOUT_MS 5000
//  A forward that reaches the leader later than this after it was sent
//  (by the two nodes' clocks: NTP keeps them within milliseconds) is not
//  proposed: the leader answers NO_QUORUM (nothing changed, send it
//  again). A link that was cut holds its frames and delivers them when it
//  heals; the follower's caller was answered long before, and the update
//  must not be applied then, seconds or minutes later.
#define KP_FORWARD_STALE_MS 1500
#define KP_FORWARD_TEXT 512

typedef struct _kp_forward_t kp_forward_t;

kp_forward_t *kp_forward_new(void);
void kp_forward_destroy(kp_forward_t **self_p);

//  Remembers the proposal of token, sent to leader at now_ms (monotonic)
//  and now_unix_ms, and fills body (its id, the time; update borrowed)
//  for the caller to send in a PeerFrame. -1 when KP_FORWARD_MAX are
//  pending.
int kp_forward_start(kp_forward_t *self, uint64_t token, uint64_t leader, const char *leader_name,
                     const uint8_t *update, size_t size, int64_t now_ms, int64_t now_unix_ms,
                     Kp__ForwardProposal *body);

//  The leader's side: whether a forward is too old to propose (see
//  KP_FORWARD_STALE_MS); its age in *age_ms.
bool kp_forward_stale(const Kp__ForwardProposal *body, int64_t now_unix_ms, int64_t *age_ms);

//  The proposal of the last kp_forward_start could not leave now (no
//  connection to the leader yet, just after an election): a copy is
//  kept and sent again by kp_forward_resend; if it cannot leave within
//  KP_FORWARD_STALE_MS, or the leader changes, its caller is answered
//  NOT_LEADER (nothing was sent).
void kp_forward_hold(kp_forward_t *self, const Kp__ForwardProposal *body);

//  Sends again what is held (send: 0 when the frame left).
typedef int(kp_forward_send_fn)(void *arg, uint64_t leader, const Kp__ForwardProposal *body);
void kp_forward_resend(kp_forward_t *self, int64_t now_unix_ms, kp_forward_send_fn *send,
                       void *arg);

//  The leader's answer, from member from_id. -1 if it is malformed or
//  answers nothing pending from that member (dropped, counted by the
//  caller).
int kp_forward_answer(kp_forward_t *self, uint64_t from_id, const Kp__ForwardResult *result);

//  A caller's answer that is due: an answer whose entry this node has
//  applied (applied_index), a timeout, a leader change (leader: the one
//  known now, 0 if none). False when none is due.
typedef struct {
    uint64_t token;
    kp_cluster_result_t result;
    uint64_t seq;
    char text[KP_FORWARD_TEXT];
} kp_forward_done_t;
bool kp_forward_due(kp_forward_t *self, uint64_t applied_index, uint64_t leader, int64_t now_ms,
                    kp_forward_done_t *out);

//  Proposals waiting for the leader's answer or for the apply here.
size_t kp_forward_pending(const kp_forward_t *self);

//  The counters (kp_forward_stats_t, cluster.h: they ride the cluster's
//  status), and the leader's count of a forward it received (proposed:
//  false when it refused it: stale, not leading, not an update).
void kp_forward_stats(const kp_forward_t *self, kp_forward_stats_t *out);
void kp_forward_received(kp_forward_t *self, bool proposed);

//  The counters one by one: their key in a status document, their name
//  on /metrics (kp_forward_*_total), what they count, and their value.
//  Returns how many (KP_FORWARD_COUNTERS).
#define KP_FORWARD_COUNTERS 8
typedef struct {
    const char *key, *metric, *help;
    uint64_t value;
} kp_forward_counter_t;
size_t kp_forward_counters(const kp_forward_stats_t *stats,
                           kp_forward_counter_t out[KP_FORWARD_COUNTERS]);

//  The counters as "forwarding":{key: value, ...} in a status document.
void kp_forward_stats_json(kp_json_t *json, const kp_forward_stats_t *stats);

//  The leader's side: the ForwardResult of one forwarded proposal into
//  body (text borrowed).
void kp_forward_result(Kp__ForwardResult *body, uint64_t id, kp_cluster_result_t result,
                       uint64_t seq, uint64_t index, const char *text);

#endif
