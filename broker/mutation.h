/*  mutation.h - changes about a person, and the per-institution queues
    that carry them to every institution entitled to them.

    A mutation (Kp__Mutation, proto/kruispunt.proto) is: a change id
    (unique per origin), the person (INSZ or bis number), the message type
    (what kind of change), the date of the change, a payload, the origin
    (the publishing provider's KBO, or the node's own KBO for a change of
    its registers) and the time the node accepted it.

    Fan-out. A mutation is queued for every institution that, on the
    change date, holds the person in its person directory in a capacity
    for which the access authorization table allows the mutation's
    message type (kp_control_recipients: the control's own rules), except
    the origin itself. One queue entry per institution, whatever the
    number of capacities (the grounds recorded are the first authorized
    one, in the directory's key order).

    Queues are replicated state. They live in the directory's LMDB
    environment (tables mut_queue, mut_inst, mut_acked, mut_ids) and are
    changed only by applying a DirectoryUpdate: its `mutations` are fanned
    out and queued, its `acks` leave the queues, its `replays` put acked
    entries back, all in the update's one write transaction, after its
    ops. Raft replicates the update like any directory change, snapshots
    carry the queues with the directory, and every node holds the same
    queues at the same raft index. An acknowledgement is therefore lost
    only if its update was never committed, in which case the entry is
    delivered again: at-least-once, never lost.

    Determinism. Applying must give the same result on every node: it
    reads only the update and the directory as of the update (never the
    clock). time_unix_ms is set by the node that proposes the mutation.

    Each institution's queue is numbered from 1 (seq). Entries are
    delivered in seq order per person: a later entry of a person is never
    sent before an earlier one of the same person is acknowledged. An ack
    of a seq already acknowledged, or absent, changes nothing and is not
    counted again.

    HOW TO ENQUEUE (for the registers and any other built-in source):
    put the mutation in the DirectoryUpdate that carries the change
    itself (kp_mutation_attach) and propose that update as usual: the
    change and its mutations are applied, replicated and made durable
    together, or not at all. Code that already runs inside a directory
    apply, with the apply's write transaction, calls kp_mutation_enqueue.

    Threading: the functions taking a write transaction run in the
    directory's writer (the cluster actor); readers use their own read
    transactions, as for every directory lookup.
*/
#ifndef KP_MUTATION_H_INCLUDED
#define KP_MUTATION_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory.h"
#include "kruispunt.pb-c.h"

//  Bounds of a mutation's fields (checked by kp_mutation_check).
#define KP_MUTATION_MAX_ID 128
#define KP_MUTATION_DEFAULT_MAX_PAYLOAD (64 * 1024)
//  Default of the cluster file's mutation-retention, in days.
#define KP_MUTATION_DEFAULT_RETENTION_DAYS 30
//  Queue entries (and ids) one prune removes at most, by default.
#define KP_MUTATION_PRUNE_MAX 100000

//  Checks a mutation's fields: id (1..128 visible ASCII), person (valid
//  INSZ / bis number), message (1..KP_DIR_MAX_MESSAGE visible ASCII),
//  date (strict YYYY-MM-DD), payload (<= max_payload bytes), origin (a
//  valid KBO). 0, or -1 with *reason (INVALID_MUTATION_ID, INVALID_INSZ,
//  INVALID_REQUEST, INVALID_DATE, PAYLOAD_TOO_LARGE, INVALID_KBO) and
//  err naming the field.
int kp_mutation_check(const Kp__Mutation *mutation, size_t max_payload, Kp__Reason *reason,
                      char *err, size_t errlen);

//  Appends a copy of mutation to update->mutations (the update being
//  built for a proposal; freed with it by kp_mutation_update_free, or by
//  the caller's own free of every field it allocated). 0, or -1 when out
//  of memory.
int kp_mutation_attach(Kp__DirectoryUpdate *update, const Kp__Mutation *mutation);

//  Frees what kp_mutation_attach added to update (update itself is the
//  caller's).
void kp_mutation_update_free(Kp__DirectoryUpdate *update);

//  The outcome of queueing one mutation.
typedef struct {
    uint32_t recipients; //  institutions it was queued for
    bool duplicate;      //  (origin, id) was queued before: nothing done
} kp_mutation_result_t;

//  Inside an apply's write transaction txn: checks mutation (any size of
//  payload: the node bounded it before proposing), then fans it out and
//  queues it. A second mutation with the same (origin, id) is a duplicate:
//  counted, not queued again. 0 and *out filled; -1 with err when the
//  mutation is invalid (nothing queued); KP_STORAGE_FAILED on a storage error.
int kp_mutation_enqueue(kp_directory_t *dir, MDB_txn *txn, const Kp__Mutation *mutation,
                        kp_mutation_result_t *out, char *err, size_t errlen);

//  Applies the mutations, acks, replays and prune of update in txn
//  (called by the directory's apply after the update's ops). Invalid
//  mutations are refused (-1, err "mutation N: ..."); KP_STORAGE_FAILED
//  on a storage error.
int kp_mutation_apply(kp_directory_t *dir, MDB_txn *txn, const Kp__DirectoryUpdate *update,
                      char *err, size_t errlen);

//  ---------------------------------------------------------------------
//  Pruning
//
//  What a replay or the duplicate check needs is kept for a window (the
//  node's mutation-replay-window): the leader proposes a MutationPrune
//  with before_unix_ms = now - window when kp_mutation_prunable says
//  there is something to prune. Entries not acknowledged are never
//  pruned, whatever their age (they are reported expired instead).

//  True if a prune before before_unix_ms would remove something: an id
//  queued before it, or an acknowledged queue entry queued before it.
bool kp_mutation_prunable(kp_directory_t *dir, MDB_txn *txn, uint64_t before_unix_ms);

//  Ids queued by a version before pruning have no row in the table that
//  orders ids by time (mut_id_time), so no prune would ever find them:
//  gives each its row, at the time it was queued (kept with the id).
//  Run in the write transaction that opens or loads a directory; cheap
//  (two counts) when every id has its row. 0, or LMDB's error; *added
//  (may be NULL) the rows written.
int kp_mutation_reindex_ids(kp_directory_t *dir, MDB_txn *txn, uint64_t *added);

//  ---------------------------------------------------------------------
//  Reading the queues (any read transaction)

//  One institution's queue.
typedef struct {
    char kbo[KP_KBO_LEN + 1];
    uint64_t head;     //  lowest seq not acknowledged (next when empty)
    uint64_t next;     //  seq the next entry will get
    uint64_t enqueued; //  entries ever queued
    uint64_t acked;    //  entries acknowledged (each counted once)
    uint64_t replays;  //  entries put back by replays
    uint64_t pending;  //  entries queued and not acknowledged
    uint64_t pruned;   //  acknowledged entries pruned (the first pruned ones)
} kp_mutation_queue_t;

//  Backlog: entries queued and not acknowledged (queue->pending).
uint64_t kp_mutation_backlog(const kp_mutation_queue_t *queue);

//  0 and *out filled for kbo's queue, -1 if kbo never had one.
int kp_mutation_queue(kp_directory_t *dir, MDB_txn *txn, const char *kbo, kp_mutation_queue_t *out);

//  Calls fn for every institution's queue, in KBO order, until fn returns
//  non-zero; returns that value or 0.
typedef int(kp_mutation_queue_fn)(const kp_mutation_queue_t *queue, void *arg);
int kp_mutation_queues_each(kp_directory_t *dir, MDB_txn *txn, kp_mutation_queue_fn *fn, void *arg);

//  0 and *recipients (institutions it was queued for) if (origin, id)
//  was queued; -1 if not.
int kp_mutation_published(kp_directory_t *dir, MDB_txn *txn, const char *origin, const char *id,
                          uint32_t *recipients);

//  A queue entry as read: entry is unpacked for the call only.
typedef struct {
    uint64_t seq;
    bool acked;
    const Kp__MutationEntry *entry;
} kp_mutation_item_t;

//  Calls fn for the entries of kbo's queue from seq from on (acked ones
//  too, flagged), in seq order, until fn returns non-zero; returns that
//  value, 0 after the last, -1 if an entry does not decode.
typedef int(kp_mutation_item_fn)(const kp_mutation_item_t *item, void *arg);
int kp_mutation_items_each(kp_directory_t *dir, MDB_txn *txn, const char *kbo, uint64_t from,
                           kp_mutation_item_fn *fn, void *arg);

#endif
