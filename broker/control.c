/*  control.c - the preventive control and routing decision.

    Hot path: one call per request, no allocation, no clock, only read
    lookups in the directory. The provider list is kept sorted in the
    decision itself by insertion (it is short), which also deduplicates.
*/
#include "control.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Validation

static bool s_too_long(const char *text)
{
    return text && strnlen(text, KP_CONTROL_MAX_NAME + 1) > KP_CONTROL_MAX_NAME;
}

//  Rules 1-5 of control.h, in that order. Sets *date to the reference
//  date when the request names a valid one.
static Kp__Reason s_validate(const Kp__Request *request, int32_t *date)
{
    bool legal = request->legal_framework != NULL;
    if (!request->message || !*request->message || s_too_long(request->message) ||
        s_too_long(request->user) || s_too_long(request->legal_framework))
        return KP__REASON__INVALID_REQUEST;
    if (request->date && kp_date_parse(request->date, date) != 0)
        return KP__REASON__INVALID_DATE;
    if (request->person && !kp_insz_valid(request->person))
        return KP__REASON__INVALID_INSZ;
    if (legal && request->kbo && !kp_kbo_valid(request->kbo))
        return KP__REASON__INVALID_KBO;
    if (legal) {
        bool initiator = request->kbo || (request->has_sector && request->has_type);
        if (!*request->legal_framework || !initiator || !request->user || !*request->user)
            return KP__REASON__INVALID_REQUEST;
    } else if (!request->user || !*request->user || !request->has_sector || !request->has_type ||
               !request->has_capacity || !request->person)
        return KP__REASON__INVALID_REQUEST;
    return KP__REASON__REASON_NONE;
}

//  ---------------------------------------------------------------------
//  The checks

static void s_copy_kbo(char dest[KP_KBO_LEN + 1], const char *kbo)
{
    size_t len = strnlen(kbo, KP_KBO_LEN);
    memcpy(dest, kbo, len);
    dest[len] = '\0';
}

//  Checks 1 and 2 for a request initiated on (sector, type, user). Check 3
//  is made by s_route in the same pass over the person's entries that
//  finds the providers: one descent into the largest table, not two.
static Kp__Reason s_check_user(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                               kp_decision_t *out)
{
    kp_user_view_t user;
    if (kp_directory_user(dir, txn, request->user, &user) != 0)
        return KP__REASON__USER_UNKNOWN;
    s_copy_kbo(out->requester_kbo, user.kbo);
    if (user.sector != request->sector || user.type != request->type ||
        !kp_user_may_send(&user, request->message))
        return KP__REASON__USER_NOT_AUTHORIZED;
    if (!kp_directory_authorized(dir, txn, request->sector, request->type, request->capacity,
                                 request->message))
        return KP__REASON__CAPACITY_NOT_AUTHORIZED;
    return KP__REASON__REASON_NONE;
}

//  The checks of a request initiated on a legal framework: the user is
//  known, belongs to the institution the request names (its kbo, or else
//  the user's own institution, whose (sector, type) must then be the
//  request's) and may send the message type; then the framework is granted
//  to that KBO, or to the (sector, type) of that institution as the
//  institution table records it (the user's, for an institution the table
//  does not hold).
static Kp__Reason s_check_legal(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                                kp_decision_t *out)
{
    kp_user_view_t user;
    if (request->kbo)
        s_copy_kbo(out->requester_kbo, request->kbo);
    if (kp_directory_user(dir, txn, request->user, &user) != 0)
        return KP__REASON__USER_UNKNOWN;
    const char *kbo = request->kbo ? request->kbo : user.kbo;
    s_copy_kbo(out->requester_kbo, kbo);
    if (strcmp(user.kbo, kbo) != 0 ||
        (!request->kbo && (user.sector != request->sector || user.type != request->type)) ||
        !kp_user_may_send(&user, request->message))
        return KP__REASON__USER_NOT_AUTHORIZED;
    const char *framework = request->legal_framework, *message = request->message;
    if (kp_directory_legal(dir, txn, kbo, 0, 0, framework, message))
        return KP__REASON__REASON_NONE;
    kp_institution_view_t institution;
    uint32_t sector = user.sector, type = user.type;
    if (kp_directory_institution(dir, txn, kbo, &institution) == 0) {
        sector = institution.sector;
        type = institution.type;
    }
    return kp_directory_legal(dir, txn, NULL, sector, type, framework, message)
               ? KP__REASON__REASON_NONE
               : KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED;
}

//  ---------------------------------------------------------------------
//  Routing

//  Inserts kbo into the sorted provider list unless it is there already.
//  When the list is full the largest KBO falls off, so the list always
//  holds the KP_MAX_PROVIDERS smallest, whatever the order of arrival.
static void s_add_provider(kp_decision_t *out, const char *kbo)
{
    size_t lo = 0, hi = out->provider_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(out->providers[mid], kbo);
        if (cmp == 0)
            return;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (out->provider_count == KP_MAX_PROVIDERS) {
        out->truncated = true;
        if (lo == KP_MAX_PROVIDERS)
            return;
        out->provider_count--;
    }
    memmove(out->providers[lo + 1], out->providers[lo],
            (out->provider_count - lo) * sizeof out->providers[0]);
    s_copy_kbo(out->providers[lo], kbo);
    out->provider_count++;
}

typedef struct {
    kp_directory_t *dir;
    MDB_txn *txn;
    const char *message;
    kp_decision_t *out;
    const Kp__Request *request;
    bool held;   //  check 3: an entry of the request's (sector, type, capacity)
    bool cached; //  entries come grouped by (sector, type): remember the last
    uint32_t sector, type;
    bool provides;
} s_route_t;

static int s_route_entry(const kp_person_entry_t *entry, void *arg)
{
    s_route_t *route = arg;
    if (entry->from > route->out->date || entry->to < route->out->date)
        return 0;
    const Kp__Request *request = route->request;
    if (entry->sector == request->sector && entry->type == request->type &&
        entry->capacity == request->capacity)
        route->held = true;
    if (!route->cached || entry->sector != route->sector || entry->type != route->type) {
        route->cached = true;
        route->sector = entry->sector;
        route->type = entry->type;
        route->provides = kp_directory_provides(route->dir, route->txn, route->message,
                                                entry->sector, entry->type);
    }
    if (route->provides)
        s_add_provider(route->out, entry->kbo);
    return 0;
}

static int s_route_kbo(const char *kbo, void *arg)
{
    s_add_provider(arg, kbo);
    return 0;
}

static int s_route_sector_type(uint32_t sector, uint32_t type, void *arg)
{
    s_route_t *route = arg;
    return kp_directory_institutions_of(route->dir, route->txn, sector, type, s_route_kbo,
                                        route->out);
}

//  ---------------------------------------------------------------------
//  Recipients of a mutation

//  Institutions already called, so that a KBO holding the person in two
//  authorized capacities (or under two entries) is called once. The
//  entries of one KBO are not adjacent (key order is sector, type,
//  capacity, kbo), hence a small set.
#define S_RECIPIENTS_MAX 1024

typedef struct {
    kp_directory_t *dir;
    MDB_txn *txn;
    const char *message, *exclude;
    int32_t date;
    kp_recipient_fn *fn;
    void *arg;
    size_t count;
    char seen[S_RECIPIENTS_MAX][KP_KBO_LEN + 1];
} s_recipients_t;

static int s_recipient_entry(const kp_person_entry_t *entry, void *arg)
{
    s_recipients_t *r = arg;
    if (entry->from > r->date || entry->to < r->date)
        return 0;
    if (r->exclude && strcmp(entry->kbo, r->exclude) == 0)
        return 0;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->seen[i], entry->kbo) == 0)
            return 0;
    if (!kp_directory_authorized(r->dir, r->txn, entry->sector, entry->type, entry->capacity,
                                 r->message))
        return 0;
    if (r->count < S_RECIPIENTS_MAX)
        s_copy_kbo(r->seen[r->count++], entry->kbo);
    return r->fn(entry, r->arg);
}

int kp_control_recipients(kp_directory_t *dir, MDB_txn *txn, const char *person,
                          const char *message, int32_t date, const char *exclude_kbo,
                          kp_recipient_fn *fn, void *arg)
{
    s_recipients_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    *r = (s_recipients_t){.dir = dir,
                          .txn = txn,
                          .message = message,
                          .exclude = exclude_kbo,
                          .date = date,
                          .fn = fn,
                          .arg = arg};
    int rc = kp_directory_person_each(dir, txn, person, s_recipient_entry, r);
    free(r);
    return rc;
}

//  Fills the providers; for a user request also makes check 3, returning
//  PERSON_NOT_IN_DIRECTORY (and no providers) when it fails.
static Kp__Reason s_route(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                          kp_decision_t *out)
{
    s_route_t route = {
        .dir = dir, .txn = txn, .message = request->message, .out = out, .request = request};
    if (request->person)
        kp_directory_person_each(dir, txn, request->person, s_route_entry, &route);
    else
        kp_directory_providers_of(dir, txn, request->message, s_route_sector_type, &route);
    if (request->legal_framework || route.held)
        return KP__REASON__REASON_NONE;
    out->provider_count = 0;
    out->truncated = false;
    return KP__REASON__PERSON_NOT_IN_DIRECTORY;
}

//  ---------------------------------------------------------------------

kp_verdict_t kp_control_decide(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                               int32_t today, kp_decision_t *out)
{
    assert(dir && txn && request && out);
    out->reason = KP__REASON__REASON_NONE;
    out->date = today;
    out->requester_kbo[0] = '\0';
    out->provider_count = 0;
    out->truncated = false;

    Kp__Reason reason = s_validate(request, &out->date);
    if (reason != KP__REASON__REASON_NONE) {
        out->reason = reason;
        return out->verdict = KP_VERDICT_INVALID;
    }
    reason = request->legal_framework ? s_check_legal(dir, txn, request, out)
                                      : s_check_user(dir, txn, request, out);
    if (reason == KP__REASON__REASON_NONE)
        reason = s_route(dir, txn, request, out);
    if (reason != KP__REASON__REASON_NONE) {
        out->reason = reason;
        return out->verdict = KP_VERDICT_DENY;
    }
    return out->verdict = out->provider_count ? KP_VERDICT_ALLOW : KP_VERDICT_NO_DATA;
}

//  ---------------------------------------------------------------------
//  Names

static const char *s_enum_name(const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *entry = protobuf_c_enum_descriptor_get_value(descriptor, value);
    return entry ? entry->name : "UNKNOWN";
}

static int s_enum_value(const ProtobufCEnumDescriptor *descriptor, const char *name)
{
    if (!name)
        return -1;
    const ProtobufCEnumValue *entry =
        protobuf_c_enum_descriptor_get_value_by_name(descriptor, name);
    return entry ? entry->value : -1;
}

const char *kp_status_name(Kp__Status status)
{
    return s_enum_name(&kp__status__descriptor, (int)status);
}

const char *kp_reason_name(Kp__Reason reason)
{
    return s_enum_name(&kp__reason__descriptor, (int)reason);
}

const char *kp_verdict_name(kp_verdict_t verdict)
{
    switch (verdict) {
    case KP_VERDICT_ALLOW:
        return "ALLOW";
    case KP_VERDICT_DENY:
        return "DENY";
    case KP_VERDICT_INVALID:
        return "INVALID";
    case KP_VERDICT_NO_DATA:
        return "NO_DATA";
    }
    return "UNKNOWN";
}

int kp_reason_from_name(const char *name)
{
    return s_enum_value(&kp__reason__descriptor, name);
}

int kp_status_from_name(const char *name)
{
    return s_enum_value(&kp__status__descriptor, name);
}
