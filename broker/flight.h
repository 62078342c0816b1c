/*  flight.h - the requests a node has in flight.

    A call is one client request that the control allowed: one part per
    provider institution, each open until its worker answers, the worker is
    found dead twice, or the deadline passes. Parts are named on the wire by
    tickets, so that a reply can be matched to the exact dispatch it answers
    and a stale or forged reply can be told apart. Deadlines sit in a binary
    heap. No sockets; time comes from the caller. One thread only.

    Hedging (kp_flight_set_hedging). A part that its worker holds longer
    than its institution's hedge delay (broker/hedge) is overdue: the
    caller may send it to a second worker of the same institution under a
    second ticket (kp_flight_hedge). The first reply closes the part; the
    other dispatch is dropped, and its reply, if it ever comes, is late.
    A part has at most two dispatches at once and is hedged at most once
    per dispatch. Reply times feed the hedge delays.
*/
#ifndef KP_FLIGHT_H_INCLUDED
#define KP_FLIGHT_H_INCLUDED

#include "control.h"
#include "hedge.h"
#include "registry.h"

typedef struct {
    char kbo[KP_KBO_LEN + 1];
    Kp__Status status;            //  STATUS_UNSPECIFIED while open
    uint64_t ticket;              //  current dispatch, 0 if none
    kp_registry_worker_t *worker; //  worker holding it, NULL if none
    bool redispatched;            //  sent once more after a worker died
    bool waiting;                 //  queued for a busy institution
    int64_t sent_ms;              //  when ticket was sent
    uint64_t hedge_ticket;        //  a second dispatch, 0 if none
    kp_registry_worker_t *hedge_worker;
    int64_t hedge_sent_ms;
    Kp__Reason reason; //  why it is UNAVAILABLE (or lost), once closed
    uint8_t *payload;  //  owned
    size_t payload_size;
    char until[24]; //  end of a maintenance window, or ""
} kp_part_t;

typedef struct {
    char *request_id;          //  the request's own (borrowed from request)
    const char *key;           //  what the call is found by (see kp_flight_start)
    unsigned char client[256]; //  routing identity of the client
    size_t client_size;
    Kp__Request *request; //  owned, as decoded
    kp_decision_t decision;
    int64_t start_us;
    int64_t deadline_ms;
    size_t part_count;
    size_t open_parts;
    kp_part_t *parts;
    size_t heap_index;
    uint64_t decision_seq; //  its DECISION record in the privacy log, 0 unlogged
} kp_call_t;

typedef struct _kp_flight_t kp_flight_t;

kp_flight_t *kp_flight_new(void);
//  Frees every call still in flight.
void kp_flight_destroy(kp_flight_t **self_p);

//  How the requests handed to kp_flight_start are freed; by default with
//  kp__request__free_unpacked (request, NULL). A caller that decodes them
//  with its own allocator (an arena) says how to free them here.
typedef void(kp_request_free_fn)(Kp__Request *request);
void kp_flight_set_request_free(kp_flight_t *self, kp_request_free_fn *fn);

//  The time (monotonic ms) of dispatches and replies from now on; the
//  caller sets it once per turn of its loop.
void kp_flight_set_now(kp_flight_t *self, int64_t now_ms);

//  Hedges parts after their institution's hedge delay, bounded to
//  [min_ms, max_ms]; min_ms 0: no hedging (the default).
void kp_flight_set_hedging(kp_flight_t *self, uint32_t min_ms, uint32_t max_ms);

//  Starts a call for request (taking ownership) with one open part per
//  provider of decision. key names the call for kp_flight_find: the node
//  makes it of the caller's authenticated identity and the request id, so
//  that an id names a call only together with who sent it. It must live
//  as long as the request; NULL: the request id alone.
kp_call_t *kp_flight_start(kp_flight_t *self, Kp__Request *request, const void *client,
                           size_t client_size, const char *key, const kp_decision_t *decision,
                           int64_t now_us, int64_t deadline_ms);

//  The call in flight under key, or NULL.
kp_call_t *kp_flight_find(kp_flight_t *self, const char *key);

//  Gives part index of call a new ticket on worker (NULL while it waits
//  for one) and returns the ticket.
uint64_t kp_flight_dispatch(kp_flight_t *self, kp_call_t *call, size_t index,
                            kp_registry_worker_t *worker);

//  The call and part a ticket stands for, or NULL.
kp_call_t *kp_flight_by_ticket(kp_flight_t *self, uint64_t ticket, size_t *index);

//  Closes an open part with status (copying payload), releases its worker
//  and forgets its ticket. Returns the call's open part count.
size_t kp_flight_close_part(kp_flight_t *self, kp_call_t *call, size_t index, Kp__Status status,
                            const uint8_t *payload, size_t payload_size);

//  Closes an open part UNAVAILABLE for reason (MAINTENANCE, NO_LIVE_WORKER,
//  WORKER_LOST, ...). Returns the call's open part count.
size_t kp_flight_refuse_part(kp_flight_t *self, kp_call_t *call, size_t index, Kp__Reason reason);

//  The worker that holds ticket of part index, or NULL if ticket is not
//  one of the part's dispatches.
kp_registry_worker_t *kp_flight_ticket_worker(const kp_call_t *call, size_t index, uint64_t ticket);

//  Closes part index with the reply of its dispatch ticket, as
//  kp_flight_close_part, and records how long that dispatch took for the
//  hedge delays; the worker that answered is no longer suspect. Returns
//  the call's open part count.
size_t kp_flight_answer(kp_flight_t *self, kp_call_t *call, size_t index, uint64_t ticket,
                        Kp__Status status, const uint8_t *payload, size_t payload_size);

//  A part whose only dispatch is past its hedge delay, or NULL; *holder
//  is the worker that holds it, now marked suspect. Each dispatch is
//  returned once. The caller hedges it (kp_flight_hedge) if another worker
//  has room, or leaves it to its worker and deadline.
kp_call_t *kp_flight_next_overdue(kp_flight_t *self, size_t *index, kp_registry_worker_t **holder);

//  Sends open part index a second time, to worker; returns the ticket.
uint64_t kp_flight_hedge(kp_flight_t *self, kp_call_t *call, size_t index,
                         kp_registry_worker_t *worker);

//  Worker is lost: if part index has a second dispatch on another worker,
//  forgets worker's and returns true (the part goes on); else changes
//  nothing and returns false.
bool kp_flight_drop_worker(kp_flight_t *self, kp_call_t *call, size_t index,
                           const kp_registry_worker_t *worker);

typedef struct {
    uint64_t hedges;     //  parts sent to a second worker
    uint64_t hedge_wins; //  ... and answered there first
    uint64_t dropped;    //  parts closed with another dispatch still out
} kp_flight_stats_t;

void kp_flight_stats(kp_flight_t *self, kp_flight_stats_t *out);

//  A call whose deadline is at or before now, or NULL.
kp_call_t *kp_flight_next_expired(kp_flight_t *self, int64_t now_ms);

//  The earliest deadline in flight, or hedge delay's end, or INT64_MAX.
int64_t kp_flight_next_deadline(kp_flight_t *self);

//  The status the client sees, from the parts: OK when all are OK; for an
//  integrated service PARTIAL when some are OK; else the parts' status.
Kp__Status kp_call_status(const kp_call_t *call);

//  The reason that goes with kp_call_status: for UNAVAILABLE the reason of
//  the first unavailable part (never REASON_NONE), for TIMEOUT
//  DEADLINE_EXCEEDED, else REASON_NONE.
Kp__Reason kp_call_reason(const kp_call_t *call);

//  Removes the call and frees it; nulls the caller's pointer.
void kp_flight_finish(kp_flight_t *self, kp_call_t **call_p);

//  Calls fn for every open part held by worker (in either dispatch), or
//  waiting when worker is NULL, until fn returns non-zero.
typedef int(kp_part_fn)(kp_call_t *call, size_t index, void *arg);
int kp_flight_each_on_worker(kp_flight_t *self, const kp_registry_worker_t *worker, kp_part_fn *fn,
                             void *arg);

size_t kp_flight_size(kp_flight_t *self);

//  The last ticket handed out: a reply with a ticket at or below it that
//  is no longer open is late (its call ended), not forged.
uint64_t kp_flight_last_ticket(kp_flight_t *self);

#endif
