/*  sla.h - the service-level report over the privacy log: per message type
    and overall, the share of requests answered within 1 s, 2 s and 4 s
    against the contract's targets, the worst hours, and a chart.

    The contract (DESIGN.md, "Service levels"): an online message within
    1 s in 99% of cases and within 2 s in 99.5%; an integrated service
    (a request answered by several providers) within 4 s in 99%. The time
    is the node's, from a request's arrival to its answer (latency_us of
    the log record). Every answered request counts, refusals too: they are
    messages the broker processed. Operators' commands (messages
    "admin.*") do not. A routed call is logged as a DECISION and an
    OUTCOME record: the outcome counts (it has the time); a decision whose
    outcome is not in the period (the node stopped between the two) is
    counted as "outcome unknown", apart.

    Feed it the records of a period (kp_privlog_scan), then write it.
*/
#ifndef KPCTL_SLA_H_INCLUDED
#define KPCTL_SLA_H_INCLUDED

#include <stdint.h>
#include <stdio.h>

#include "kruispunt.pb-c.h"

#define KP_SLA_ONLINE_1S 0.99
#define KP_SLA_ONLINE_2S 0.995
#define KP_SLA_INTEGRATED_4S 0.99

typedef struct _kp_sla_t kp_sla_t;

//  A report over the days [from_day, to_day] (days since 1970-01-01, UTC).
kp_sla_t *kp_sla_new(int32_t from_day, int32_t to_day);
void kp_sla_destroy(kp_sla_t **self_p);

//  Counts one record (ignored when outside the period or an operator's).
void kp_sla_add(kp_sla_t *self, const Kp__LogRecord *record);

//  Requests counted.
uint64_t kp_sla_count(const kp_sla_t *self);

//  The report as a table, as one JSON document, and as an SVG chart of
//  the shares per hour (per day over more than three days) against the
//  targets. kp_sla_svg returns 0, or -1 with the problem in err.
void kp_sla_text(const kp_sla_t *self, FILE *out);
void kp_sla_json(const kp_sla_t *self, FILE *out);
int kp_sla_svg(const kp_sla_t *self, const char *path, char *err, size_t errlen);

#endif
