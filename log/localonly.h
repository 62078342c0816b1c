/*  localonly.h - which records of a log left on one site only.

    In two-sites durability a response leaves when its record is durable
    here and on the mirror (log/mirror.h). While the mirror is silent and
    the node keeps its majority, responses leave on local durability
    alone; the node then writes LOG_MIRROR records into its own log (signed
    by the chain like every record): one when it degrades, naming the
    first record that may leave unmirrored (mirror_local_from), one when
    the copy has caught up, naming the last (mirror_local_to). A range
    with no end yet is open: the node is still degraded, or died
    degraded (then the first catch-up after its restart closes it).

    A range set is fed a log's LOG_MIRROR records in seq order (from a
    scan, or the index's records of message KP_LOCALONLY_MESSAGE) and then
    answers whether a record was local-only; verify, query and stats show
    it. Over-marking is possible (a record in a range whose mirror answered
    just in time); a record outside every range had its response wait for
    the mirror.
*/
#ifndef KP_LOCALONLY_H_INCLUDED
#define KP_LOCALONLY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "kruispunt.pb-c.h"

//  The message of LOG_MIRROR records (the index finds them under it).
#define KP_LOCALONLY_MESSAGE "log.mirror"

typedef struct _kp_localonly_t kp_localonly_t;

kp_localonly_t *kp_localonly_new(void);
void kp_localonly_destroy(kp_localonly_t **self_p);

//  Whether r is a LOG_MIRROR record.
bool kp_localonly_is_marker(const Kp__LogRecord *r);

//  Feeds record r at seq (records in seq order; others than LOG_MIRROR
//  only move the log's end).
void kp_localonly_record(kp_localonly_t *self, const Kp__LogRecord *r, uint64_t seq);

//  Whether record seq left on local durability alone (after the feed).
bool kp_localonly_has(const kp_localonly_t *self, uint64_t seq);

//  Records in the ranges (an open range up to the last seq fed).
uint64_t kp_localonly_count(const kp_localonly_t *self);
//  Whether the last range is still open.
bool kp_localonly_open(const kp_localonly_t *self);

//  "local_only":{"records":N,"ranges":[{"from":A,"to":B[,"open":true]}]}
//  as a key and value of the object being written.
void kp_localonly_json(const kp_localonly_t *self, kp_json_t *j);

//  "records 12-40, 90- (open)" into out (the ranges, cut to fit).
void kp_localonly_text(const kp_localonly_t *self, char *out, size_t outlen);

//  The LOG_MIRROR record a node writes: from (0: none) and to (0: open).
void kp_localonly_marker(Kp__LogRecord *record, uint64_t from, uint64_t to);

#endif
