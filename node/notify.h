/*  notify.h - the node's side of the mutations: publishes in, notifies
    out, acknowledgements back into the replicated queues.

    Publishes. A worker's WorkerFrame{publish} is checked here (fields
    bounded by kp_mutation_check, the publisher's (sector, type) must
    provide the message type, its origin is the worker's KBO) and, when
    good, waits in a batch: at most every batch_ms the node proposes the
    batch's mutations and acknowledgements as one DirectoryUpdate
    (kp_notify_proposal), and answers every publish of it with
    WorkerFrame{published} once the cluster's result comes
    (kp_notify_result): OK only when it is durable on a majority.

    Delivery. Only the leader delivers (it is the node whose
    acknowledgements are proposed without a detour, and there is one at a
    time, so an institution does not get each notify from every node).
    For each institution with live workers that said hello with
    `notifications`, the leader walks the replicated queue from its head:
    an entry neither acknowledged nor in flight, whose person has no
    earlier entry unacknowledged, is sent to one of those workers (round
    robin), up to mutation-window unacknowledged by its workers per
    institution (an entry acknowledged by a worker, whose ack is still
    being replicated, no longer counts). An entry not
    acknowledged within mutation-ack-timeout is sent again, the wait
    doubled each time up to mutation-max-backoff. A worker's ack is
    proposed (replicated) in the next batch; until it is committed the
    entry is neither resent nor counted. After a leader change the new
    leader knows nothing in flight: it sends again what is not
    acknowledged in the replicated queue (the at-least-once contract).

    Pruning. The leader looks every replay_window/4 (1 to 10 s; each
    second while it finds some) whether anything acknowledged, or any
    change id, was queued before now - replay_window_ms
    (kp_mutation_prunable), and if so its next proposal carries a
    MutationPrune (broker/mutation.h) with that cutoff: every node applies
    it the same.

    Every notify sent (first or again) is a privacy-log record (message
    type, person, origin as sender, the recipient as part, its grounds as
    sector, type and capacity, action "notify seq N attempt A"), and
    leaves only once that record is durable as the cluster's
    log-durability says, like a response: with "two-sites", here and on
    the mirror (kp_notify_set_mirror; kp_mirror_release, the outbox's
    wait).

    One thread: the node's loop.
*/
#ifndef KP_NOTIFY_H_INCLUDED
#define KP_NOTIFY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "directory.h"
#include "kruispunt.pb-c.h"
#include "logger.h"
#include "mirror.h"

typedef struct _kp_notify_t kp_notify_t;

typedef struct {
    const char *node;          //  this node's name, for log records
    uint32_t ack_timeout_ms;   //  first resend after this
    uint32_t max_backoff_ms;   //  longest wait between resends
    uint32_t window;           //  notifies unacknowledged by workers, per institution
    uint32_t batch_ms;         //  at least this between two proposals (0: none)
    uint64_t replay_window_ms; //  acknowledged changes and ids kept (0: 30 days)
    uint32_t retention_days;   //  undelivered longer: reported expired
    uint64_t retention_ms;     //  the same, finer (0: retention_days)
    size_t max_payload;        //  of a published mutation
} kp_notify_options_t;

//  Borrows dir and logger (logger may be NULL: notifies leave at once).
kp_notify_t *kp_notify_new(kp_directory_t *dir, kp_logger_t *logger,
                           const kp_notify_options_t *options);
void kp_notify_destroy(kp_notify_t **self_p);

//  With log-durability "two-sites": a notify leaves only when its record
//  is durable on the mirror too (or the mirror is degraded with a
//  majority, mirror.h), as the outbox does for responses. Borrows mirror.
void kp_notify_set_mirror(kp_notify_t *self, kp_mirror_t *mirror);

//  Sends one packed WorkerFrame (data, len) to the worker at identity.
typedef void(kp_notify_send_fn)(void *arg, const void *identity, size_t size, const uint8_t *data,
                                size_t len);

//  Workers that take notifies: on a hello with `notifications`, and when
//  the worker is gone (dead, bye, error, another hello without them).
void kp_notify_worker_hello(kp_notify_t *self, const char *kbo, const void *identity, size_t size);
void kp_notify_worker_gone(kp_notify_t *self, const void *identity, size_t size);

//  A publish from the worker of kbo at identity. Checked against the
//  directory as seen by txn; a refused or duplicate publish is answered
//  at once through send; a good one waits for the next proposal.
//  now_unix_ms becomes the mutation's time.
void kp_notify_publish(kp_notify_t *self, MDB_txn *txn, const char *kbo, const void *identity,
                       size_t size, const Kp__MutationPublish *publish, int64_t now_unix_ms,
                       kp_notify_send_fn *send, void *arg);

//  An ack from the worker of kbo.
void kp_notify_ack(kp_notify_t *self, const char *kbo, const Kp__MutationAck *ack);

//  What waits to be proposed, as one packed DirectoryUpdate under token
//  (malloc'd: the caller frees it); NULL when nothing waits, enough
//  proposals are under way already, or the last one left less than
//  batch_ms ago (now_ms: the monotonic clock). Each proposal is a raft
//  entry, an fsync of the raft log and one of the directory on every
//  node: at a steady stream, publishes and acks go in batches of batch_ms
//  rather than one proposal a turn.
uint8_t *kp_notify_proposal(kp_notify_t *self, uint64_t token, int64_t now_ms, int64_t now_unix_ms,
                            size_t *size);

//  When kp_notify_proposal has something to propose next (monotonic ms;
//  INT64_MAX when nothing waits): the loop's poll must wake by then.
int64_t kp_notify_next_ms(kp_notify_t *self);

//  The cluster's result for token: publishes of that proposal are
//  answered through send. False if token is not one of ours.
bool kp_notify_result(kp_notify_t *self, const kp_cluster_event_t *event, MDB_txn *txn,
                      kp_notify_send_fn *send, void *arg);

//  Sends what is due (leader only: otherwise forgets what was in flight),
//  resends what timed out, releases notifies whose log record is durable.
//  txn: the turn's read transaction. Cheap when nothing changed.
void kp_notify_pump(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_ms,
                    int64_t now_unix_ms, kp_notify_send_fn *send, void *arg);

//  `kpctl mutations status`: every queue with its backlog, oldest
//  undelivered, expired count, delivery rate, in flight here. Returns a
//  malloc'd JSON document.
//  forward (may be NULL): this node's forwarding counters (cluster.h),
//  shown as "forwarding" (publishes made on a follower go to the leader).
char *kp_notify_status_json(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_unix_ms,
                            const kp_forward_stats_t *forward);

//  Once a second (any node): the backlog of every queue, for metrics.
//  On the leader (the node that delivers): changes undelivered for
//  longer than the retention are counted expired (each once, in
//  stats.expired) and reported in the node's log, one line per
//  institution when its first change expires, then at most one a minute
//  with the count since. They stay queued: nothing is dropped.
void kp_notify_report(kp_notify_t *self, MDB_txn *txn, bool leader, int64_t now_ms,
                      int64_t now_unix_ms);

//  The largest backlogs of the last report, largest first (at most max,
//  so that /metrics has a bounded number of series), and the sum of the
//  others' in *others. Returns how many went to top.
typedef struct {
    char kbo[KP_KBO_LEN + 1];
    uint64_t backlog;
} kp_notify_backlog_t;
size_t kp_notify_backlogs(const kp_notify_t *self, kp_notify_backlog_t *top, size_t max,
                          uint64_t *others);

//  Counters for the node's status and metrics.
typedef struct {
    uint64_t published;  //  publishes accepted (committed)
    uint64_t refused;    //  publishes refused
    uint64_t duplicates; //  publishes of an id already queued
    uint64_t notifies;   //  notifies sent (first time)
    uint64_t resends;    //  notifies sent again
    uint64_t acks;       //  acks received from workers
    uint64_t proposals;  //  updates proposed
    uint64_t expired;    //  changes found undelivered past the retention (leader)
} kp_notify_stats_t;
void kp_notify_stats(const kp_notify_t *self, kp_notify_stats_t *out);

#endif
