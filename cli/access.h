/*  access.h - the access-control report of a quarter over the privacy
    log and the directory: refusals per reason, per institution and per
    month; the institutions and users refused most; the users (applications)
    in the directory that sent nothing in the quarter, candidates for
    removal (the contract's "more selective management of access
    authorizations").

    A refusal is a request the preventive control stopped (status DENIED);
    invalid requests are counted apart, per reason, as they are no access
    decision. Operators' commands (messages "admin.*") do not count. A
    routed call (a DECISION and an OUTCOME record) counts once.

    Feed it the quarter's records and the directory's users, then write it.
*/
#ifndef KPCTL_ACCESS_H_INCLUDED
#define KPCTL_ACCESS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kruispunt.pb-c.h"

typedef struct _kp_access_t kp_access_t;

//  Parses "YYYYQn" (2026Q3) into the quarter's first and last day (days
//  since 1970-01-01, UTC). 0, or -1 when the text is not a quarter.
int kp_access_quarter(const char *text, int32_t *from_day, int32_t *to_day);

//  A report over the quarter named by text ("2026Q3"); NULL if it is not one.
kp_access_t *kp_access_new(const char *quarter);
void kp_access_destroy(kp_access_t **self_p);

//  The quarter's first and last day.
void kp_access_days(const kp_access_t *self, int32_t *from_day, int32_t *to_day);

//  Counts one record (ignored when outside the quarter or an operator's).
void kp_access_add(kp_access_t *self, const Kp__LogRecord *record);

//  One user of the directory (id, institution): listed when it sent
//  nothing. Without any (no directory read), the list says so.
void kp_access_user(kp_access_t *self, const char *id, const char *kbo);

//  The report as text, one JSON document, and an SVG chart of the
//  refusals per month by reason. kp_access_svg: 0, or -1 with err.
void kp_access_text(const kp_access_t *self, FILE *out);
void kp_access_json(const kp_access_t *self, FILE *out);
int kp_access_svg(const kp_access_t *self, const char *path, char *err, size_t errlen);

#endif
