/*  logreport.h - reports on a privacy log, as JSON: the records of one
    person, institution or message type (through the query index), and
    counts per message type, institution and denial reason (a scan).

    The same builders serve `kpctl log query|stats` on a log folder and a
    node answering "log.query" and "log.stats" on its admin socket, which
    `kpctl log query|stats -c CLUSTER` asks of every node and merges: the
    documents have one shape wherever they come from.

    A call's DECISION and its OUTCOME are two records; every listing shows
    one entry per message: the decision with its outcome joined, or
    "outcome unknown" when none was logged (the node died between them).
*/
#ifndef KP_LOGREPORT_H_INCLUDED
#define KP_LOGREPORT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

//  Decisions and outcomes joined over a scan (verify, stats, export).
typedef struct _kp_logjoin_t kp_logjoin_t;
kp_logjoin_t *kp_logjoin_new(void);
void kp_logjoin_destroy(kp_logjoin_t **self_p);
//  Counts record r (at seq).
void kp_logjoin_record(kp_logjoin_t *self, const Kp__LogRecord *r, uint64_t seq);
//  Decisions scanned without their outcome: "outcome unknown".
uint64_t kp_logjoin_unknown(kp_logjoin_t *self);
//  Outcomes whose decision should be in the scanned part but is not; the
//  first one's seq in *first.
uint64_t kp_logjoin_orphans(kp_logjoin_t *self, uint64_t *first);

//  How many messages a node sends for one log.query at most.
#define KP_LOG_QUERY_LIMIT 100000

//  {"records":[{seq,time,request_id,message,person,institution,user,...,
//  status,parts,...}],"count":N,"outcome_unknown":U,"missing":M
//  [,"truncated":true,"next_after":SEQ]} for the records of the index in dir/index under
//  tag (KP_LOGINDEX_PERSON, _INSTITUTION, _MESSAGE) and key, decisions
//  with time in [from_us, to_us], oldest first; at most limit messages
//  (0: all). missing: indexed records gone from the segments (pruned).
//  NULL with the reason in err. Free with free.
char *kp_logreport_query(const char *dir, char tag, const char *key, uint64_t from_us,
                         uint64_t to_us, uint64_t limit, char *err, size_t errlen);
//  The same, a page at a time: only records after seq after, and the scan
//  stops once it has limit messages and knows there are more (the answer
//  then has "truncated":true and "next_after": the seq to give as after
//  for the next page). Time and memory are bounded by limit, however many
//  records the key has.
char *kp_logreport_query_page(const char *dir, char tag, const char *key, uint64_t from_us,
                              uint64_t to_us, uint64_t after, uint64_t limit, char *err,
                              size_t errlen);

//  The same over several keys of one tag at once (a person's numbers
//  after merges: kp_register_family): each record once, oldest first
//  (the keys' streams merged by seq), paged as one. A person query's
//  document (this one's and the ones above) begins with "persons":[...],
//  the numbers searched.
char *kp_logreport_query_keys(const char *dir, char tag, const char *const *keys, size_t n_keys,
                              uint64_t from_us, uint64_t to_us, uint64_t after, uint64_t limit,
                              char *err, size_t errlen);

//  The same document read from every segment of dir instead of its index
//  (a mirror's copy has none): slower, for a node that does not answer.
//  Paged as kp_logreport_query_keys (after, limit): the copy has the
//  log's own seqs, so a page's next_after goes on in the log or its copy
//  alike; only the page's messages are kept while the scan goes on.
char *kp_logreport_query_scan(const char *dir, char tag, const char *key, uint64_t from_us,
                              uint64_t to_us, uint64_t limit, char *err, size_t errlen);
char *kp_logreport_query_scan_keys(const char *dir, char tag, const char *const *keys,
                                   size_t n_keys, uint64_t from_us, uint64_t to_us, uint64_t after,
                                   uint64_t limit, char *err, size_t errlen);

//  {"records":N,"denied":D,"outcome_unknown":U,"messages":{type:n},
//  "institutions":{kbo:n},"denials":{reason:n}} over the segments of dir
//  with records of days [from_day, to_day] (INT32_MIN, INT32_MAX: all).
char *kp_logreport_stats(const char *dir, int32_t from_day, int32_t to_day, char *err,
                         size_t errlen);

//  "2026-07-01T12:00:00Z" for a time in µs since the epoch.
void kp_logreport_time(uint64_t us, char out[32]);

//  The name of an enum value ("UNKNOWN" when out of range).
const char *kp_logreport_enum(const ProtobufCEnumDescriptor *descriptor, int value);

#endif
