/*  outbox.h - responses held until their privacy-log record is durable.

    Every response the node sends is described by a log record. The outbox
    hands the record to the logger (which commits in groups on its own
    thread), keeps the encoded response, and sends it only when the logger
    says the record is on disk. For a routed call the record (its
    DECISION) was logged before the providers were asked; the outbox then
    only waits for that sequence number (kp_outbox_send_after). Then it remembers the response for
   retries of the same request id (replay.h). A retry that arrives while the response is still held
   is answered when it is released.

    Without a logger (benchmarks of the log's own cost only), responses
    leave at once.

    One thread: the node's loop.
*/
#ifndef KP_OUTBOX_H_INCLUDED
#define KP_OUTBOX_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "logger.h"
#include "mirror.h"
#include "replay.h"
#include "sendq.h"

typedef struct _kp_outbox_t kp_outbox_t;

//  clients is the ROUTER the responses go out on, through sendq (the
//  caller flushes it). logger may be NULL. Borrows all four.
kp_outbox_t *kp_outbox_new(zsock_t *clients, kp_sendq_t *sendq, kp_logger_t *logger,
                           kp_replay_t *replay);
void kp_outbox_destroy(kp_outbox_t **self_p);

//  With log-durability "two-sites": a response leaves only when its
//  record is also durable on the mirror (or the mirror is degraded, see
//  mirror.h). Call kp_outbox_release when kp_mirror_sock is readable too.
//  Borrows mirror.
void kp_outbox_set_mirror(kp_outbox_t *self, kp_mirror_t *mirror);

//  Logs record and sends response to the client at identity once the
//  record is durable. Returns 0, or -1 if the record cannot be logged (the
//  response is then never sent: see kp_logger_error).
//  key: what a retry finds the response by (the caller's identity and
//  the request id: see node.c); NULL or "": not remembered.
int kp_outbox_send(kp_outbox_t *self, const void *identity, size_t identity_size, const char *key,
                   const Kp__Response *response, const Kp__LogRecord *record);

//  Sends response to the client at identity once the record seq (logged
//  before, e.g. a call's DECISION) is durable: at once if it is already.
void kp_outbox_send_after(kp_outbox_t *self, const void *identity, size_t identity_size,
                          const char *key, const Kp__Response *response, uint64_t seq);

//  Sends response at once, with no record and not remembered for retries:
//  only for answers that reveal nothing and ask nobody (LOG_UNAVAILABLE,
//  when the log cannot write a record).
void kp_outbox_send_unlogged(kp_outbox_t *self, const void *identity, size_t identity_size,
                             const Kp__Response *response);

//  Answers every held response with refusal (its request id filled in)
//  instead, at once, and forgets them: the log cannot make their records
//  durable. Returns how many.
size_t kp_outbox_refuse_held(kp_outbox_t *self, const Kp__Response *refusal);

//  If the response remembered under key is held, it will go to identity
//  instead (a retry over a new connection). Returns true if it was held.
bool kp_outbox_redirect(kp_outbox_t *self, const char *key, const void *identity,
                        size_t identity_size);

//  Call when the logger's socket is readable: sends what became durable.
//  Returns 0, or -1 once the log has failed.
int kp_outbox_release(kp_outbox_t *self);

//  Sends what became durable since, without reading the logger's notices
//  (kp_logger_durable): cheap enough to call between any two messages of
//  a turn, so that a reply leaves when its record is durable rather than
//  at the loop's next poll.
void kp_outbox_release_durable(kp_outbox_t *self);

//  The socket to poll for durability notices, or NULL without a logger.
zsock_t *kp_outbox_sock(kp_outbox_t *self);

//  Responses waiting for their record.
size_t kp_outbox_held(kp_outbox_t *self);

#endif
