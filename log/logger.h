/*  logger.h - the privacy-log actor: group commit on its own thread.

    The node's event loop must never wait for a disk. kp_logger_t owns a
    kp_privlog_t on a CZMQ actor thread; the node hands it records and learns,
    later, up to which sequence number they are durable:

        kp_logger_t *logger = kp_logger_new (dir, &options, &recovery, error);
        zloop / zpoller: watch kp_logger_sock (logger) for input
        ...
        uint64_t seq = kp_logger_log (logger, &record);   // never blocks
        hold the reply back, keyed by seq
        ...
        kp_logger_flush (logger);    // once per turn, before polling,
        poll no longer than kp_logger_flush_in_ms (logger)
        ...
        on input from kp_logger_sock:
            if (kp_logger_recv (logger) == -1) stop answering: kp_logger_error
            release every reply with seq <= kp_logger_durable (logger)

    The actor drains every batch waiting on its socket, appends the records,
    does one write and one fdatasync (kp_privlog_sync) and sends one "durable
    up to N" notice; while it syncs, new records queue up for the next
    group. Records nobody waits for (kp_logger_log_later) wait for the next
    group somebody waits for, or a few milliseconds. A second thread, the indexer, follows the
   synced log into the LMDB index (reading the records back from the segments, in sorted batches),
   so a slow index never delays a reply and costs no memory. It runs only on an idle core and starts
   by catching up with what is on disk, so a restarted node serves at once; kp_logger_destroy waits
   until the index has everything. Readers catch the index up before a query
    (kp_privlog_index_catch_up).

    Sequence numbers are given out on the caller's side in the order of
    kp_logger_log calls, which is also the order in which the actor
    appends them, so no round trip is needed.

    Threading: kp_logger_new, kp_logger_log, kp_logger_log_later,
    kp_logger_flush, kp_logger_sock, kp_logger_recv,
    kp_logger_durable, kp_logger_error and kp_logger_destroy are called from one
    thread (the node's loop). The privlog itself lives on the actor thread
    from kp_logger_new until kp_logger_destroy. The record socket has no high-
    water mark, so kp_logger_log never blocks; memory is the only bound, as
    it is for the requests waiting on their records.
*/
#ifndef KP_LOGGER_H_INCLUDED
#define KP_LOGGER_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "buckets.h"
#include "privlog.h"
#include "spare.h"

typedef struct _kp_logger_t kp_logger_t;

//  Opens the log in dir (on the caller's thread, so that open errors and
//  the torn-tail report come back here) and starts the actor. NULL and
//  a message in err (errlen bytes) on failure.
kp_logger_t *kp_logger_new(const char *dir, const kp_privlog_options_t *options,
                           kp_privlog_recovery_t *recovery, char *err, size_t errlen);

//  Commits what was sent, writes a final checkpoint, stops the actor.
void kp_logger_destroy(kp_logger_t **self_p);

//  Queues a record and returns its sequence number, or 0 if it cannot be
//  logged (too large, or the logger has failed): then do not reply.
//  Records are handed to the actor in batches by kp_logger_flush: call it
//  once per turn of the event loop, before it sleeps.
uint64_t kp_logger_log(kp_logger_t *self, const Kp__LogRecord *record);

//  The same for a record no reply waits for (a call's OUTCOME): it is made
//  durable with the next group a reply waits for, or at most a few
//  milliseconds later, and costs no sync of its own under load.
uint64_t kp_logger_log_later(kp_logger_t *self, const Kp__LogRecord *record);

//  Hands the records queued since the last flush to the actor, in one
//  message (one wake-up of its thread, however many records). Records
//  nobody waits for alone are held a few milliseconds, for the next
//  record a reply waits for (kp_logger_flush_in_ms says until when). 0, or
//  -1 when the logger has failed.
int kp_logger_flush(kp_logger_t *self);

//  How soon kp_logger_flush must be called again to hand over the records
//  it holds (milliseconds, 0: now), or -1 if it holds none: a loop that
//  sleeps longer than this delays records nobody waits for.
long kp_logger_flush_in_ms(const kp_logger_t *self);

//  Readable when the actor has notices; hand it to zloop or zpoller.
zsock_t *kp_logger_sock(kp_logger_t *self);

//  Reads every waiting notice without blocking. Returns 0, or -1 once the
//  log has failed (kp_logger_error says why; nothing more becomes durable).
int kp_logger_recv(kp_logger_t *self);

//  The highest sequence number known durable: what the actor made durable
//  last, even before its notice is read (it publishes the number before
//  it sends the notice), so that a loop can release replies between the
//  messages of a turn. The notices still wake a loop that sleeps.
uint64_t kp_logger_durable(kp_logger_t *self);

//  The group commits made durable so far: their time in microseconds
//  (append, write, fdatasync, on the logger's thread) and their size in
//  records. Copies, for the node's metrics.
void kp_logger_commits(const kp_logger_t *self, kp_buckets_t *commit_us,
                       kp_buckets_t *commit_records);

//  The spare segment (spare.h): its state, and segments made from a
//  spare, made without one, spares removed for want of disk. Read from
//  atomics the spare's actor and the logger thread store: no wait, and
//  true also while the log waits for disk space.
void kp_logger_spare(kp_logger_t *self, kp_spare_counts_t *counts);

//  The highest sequence number in the query index. The indexer follows
//  the durable log when a core is idle, so the difference to
//  kp_logger_durable is the index's lag; it starts at 0 after an open
//  until the indexer has caught up with what is on disk.
uint64_t kp_logger_indexed(kp_logger_t *self);

//  The last sequence number handed out.
uint64_t kp_logger_last(kp_logger_t *self);

//  True while the log cannot write for want of disk space: records are
//  kept and written when space returns (then a durable notice clears it).
//  Do not answer what would need a new record meanwhile.
bool kp_logger_unavailable(kp_logger_t *self);

//  The last error, named ("" until there is one).
const char *kp_logger_error(kp_logger_t *self);

#endif
