/*  logger.h - the privacy-log actor: group commit on its own thread.

    The node's event loop must never wait for a disk. logger_t owns a
    privlog_t on a CZMQ actor thread; the node hands it records and learns,
    later, up to which sequence number they are durable:

        logger_t *logger = logger_new (dir, &options, &recovery, error);
        zloop / zpoller: watch logger_sock (logger) for input
        ...
        uint64_t seq = logger_log (logger, &record);   // never blocks
        hold the reply back, keyed by seq
        ...
        on input from logger_sock:
            if (logger_recv (logger) == -1) stop answering: logger_error
            release every reply with seq <= logger_durable (logger)

    The actor drains every record waiting on its socket, appends them all,
    does one write and one fdatasync (privlog_sync) and sends one "durable
    up to N" notice; while it syncs, new records queue up for the next
    group. A second thread, the indexer, follows the synced log into the
    LMDB index (reading the records back from the segments, in sorted
    batches), so a slow index never delays a reply and costs no memory;
    logger_new brings the index up to date before it returns, and
    logger_destroy waits until the index has everything. Sequence numbers are given out on the
   caller's side in the order of logger_log calls, which is also the order in which the actor
   appends them, so no round trip is needed.

    Threading: logger_new, logger_log, logger_sock, logger_recv,
    logger_durable, logger_error and logger_destroy are called from one
    thread (the node's loop). The privlog itself lives on the actor thread
    from logger_new until logger_destroy. The record socket has no high-
    water mark, so logger_log never blocks; memory is the only bound, as
    it is for the requests waiting on their records.
*/
#ifndef KP_LOGGER_H_INCLUDED
#define KP_LOGGER_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

#include "privlog.h"

typedef struct _logger_t logger_t;

//  Opens the log in dir (on the caller's thread, so that open errors and
//  the torn-tail report come back here) and starts the actor. NULL and
//  error (PRIVLOG_ERR bytes) on failure.
logger_t *logger_new(const char *dir, const privlog_options_t *options,
                     privlog_recovery_t *recovery, char *error);

//  Commits what was sent, writes a final checkpoint, stops the actor.
void logger_destroy(logger_t **self_p);

//  Queues a record and returns its sequence number, or 0 if it cannot be
//  logged (too large, or the logger has failed): then do not reply.
uint64_t logger_log(logger_t *self, const Kp__LogRecord *record);

//  Readable when the actor has notices; hand it to zloop or zpoller.
zsock_t *logger_sock(logger_t *self);

//  Reads every waiting notice without blocking. Returns 0, or -1 once the
//  log has failed (logger_error says why; nothing more becomes durable).
int logger_recv(logger_t *self);

//  The highest sequence number known durable.
uint64_t logger_durable(logger_t *self);

//  The last sequence number handed out.
uint64_t logger_last(logger_t *self);

const char *logger_error(logger_t *self);

#endif
