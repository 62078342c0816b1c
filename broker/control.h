/*  control.h - the preventive control and routing decision.

    A pure function of (request, directory read transaction, today): no
    sockets, no allocation, no clock. Requests initiated on (sector, type,
    user) pass three checks in order: the user may act for (sector, type)
    and send the message type; the access authorization table allows the
    message for (sector, type, capacity); the person directory holds the
    person for (sector, type, capacity) on the reference date. Requests
    initiated on a legal framework pass these checks in order: the user
    exists (USER_UNKNOWN); the user belongs to the institution the request
    names (its kbo; without kbo, the user's own institution, and the
    request's (sector, type) must be the user's) and may send the message
    type (USER_NOT_AUTHORIZED); the framework is granted for the message to
    that KBO, or to the (sector, type) of that institution as the
    institution table records it, the user's (sector, type) when the table
    does not hold it (LEGAL_FRAMEWORK_NOT_AUTHORIZED). A framework granted
    to a whole sector thus covers a request naming one of its institutions.

    An allowed request is routed: the providers are the institutions that
    hold the person (any capacity, valid on the reference date) and whose
    (sector, type) provides the message type. A legal-framework request
    without a person goes to every institution of each (sector, type) that
    provides the message type. No provider: NO_DATA.

    Validation comes before any lookup; the first rule that fails names the
    reason (verdict INVALID):
      1. message absent, empty or over KP_CONTROL_MAX_NAME bytes,
         or user / legal_framework over that length    INVALID_REQUEST
      2. date present and not a strict YYYY-MM-DD        INVALID_DATE
      3. person present and not a valid INSZ             INVALID_INSZ
      4. legal request whose kbo is present and invalid  INVALID_KBO
      5. legal request (legal_framework present) without a non-empty
         framework, without a user, or without kbo and without both
         sector and type;
         other requests without user, sector, type, capacity and
         person                                          INVALID_REQUEST
    A malformed value is reported before a missing one because it tells
    the caller more. A string field is present when it is set at all: an
    empty person, date or kbo is malformed, not absent. A legal request
    with both kbo and (sector, type) is checked on its kbo; a request not
    initiated on a legal framework ignores kbo.

    requester_kbo: the user's institution (user requests, once the user is
    found); for legal requests the kbo, else the user's institution once
    the user is found, else "". NO_DATA and ALLOW carry REASON_NONE.

    The control trusts request->user: the node makes sure beforehand that
    it is the user of the key the request came with.

    Cost: check 3 and the routing of a person share one pass over that
    person's entries, so an allowed user request is one lookup each in
    the user and authorization tables, one descent into the person table,
    and one availability lookup per distinct (sector, type) of the
    person's valid entries. The control allocates nothing itself.
*/
#ifndef KP_CONTROL_H_INCLUDED
#define KP_CONTROL_H_INCLUDED

#include "directory.h"

typedef enum {
    KP_VERDICT_ALLOW = 0,
    KP_VERDICT_DENY,    //  a check failed; reason names which
    KP_VERDICT_INVALID, //  the request is malformed; reason names what
    KP_VERDICT_NO_DATA, //  allowed, but nobody holds the data
} kp_verdict_t;

//  More providers than this for one request are cut off and flagged; the
//  KP_MAX_PROVIDERS smallest KBOs are kept, so the cut is deterministic.
#define KP_MAX_PROVIDERS 64

//  Longest message type, user id or legal framework a request may name.
#define KP_CONTROL_MAX_NAME 255

typedef struct {
    kp_verdict_t verdict;
    Kp__Reason reason;                  //  KP__REASON__REASON_NONE when allowed
    int32_t date;                       //  the reference date used
    char requester_kbo[KP_KBO_LEN + 1]; //  user's institution or legal kbo; "" if unknown
    size_t provider_count;              //  distinct provider KBOs, sorted ascending
    bool truncated;                     //  more than KP_MAX_PROVIDERS existed
    char providers[KP_MAX_PROVIDERS][KP_KBO_LEN + 1];
} kp_decision_t;

//  Decides request against the directory as seen by txn. today is the
//  reference date when the request names none (days since 1970-01-01).
//  Always fills out; returns out->verdict.
kp_verdict_t kp_control_decide(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                               int32_t today, kp_decision_t *out);

//  The recipients of a mutation (broker/mutation.h): every institution
//  that holds person on date (an entry whose validity contains date) in
//  a capacity for which the authorization table allows message for the
//  entry's (sector, type) - checks 2 and 3 of the control, seen from the
//  receiving side. fn is called once per institution (its first
//  authorized entry in key order: the grounds), never for exclude_kbo
//  (the origin; may be NULL), until it returns non-zero; returns that
//  value or 0.
typedef int(kp_recipient_fn)(const kp_person_entry_t *grounds, void *arg);
int kp_control_recipients(kp_directory_t *dir, MDB_txn *txn, const char *person,
                          const char *message, int32_t date, const char *exclude_kbo,
                          kp_recipient_fn *fn, void *arg);

//  Wire and JSON names of the enums ("OK", "USER_UNKNOWN", ...), as in
//  proto/kruispunt.proto; verdicts are "ALLOW", "DENY", "INVALID",
//  "NO_DATA". An out-of-range value yields "UNKNOWN".
const char *kp_status_name(Kp__Status status);
const char *kp_reason_name(Kp__Reason reason);
const char *kp_verdict_name(kp_verdict_t verdict);

//  Reverse of kp_reason_name / kp_status_name; -1 if unknown.
int kp_reason_from_name(const char *name);
int kp_status_from_name(const char *name);

#endif
