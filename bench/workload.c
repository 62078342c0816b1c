/*  workload.c - the bench directory and the requests asked of it. */
#include "workload.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static const char *s_names[KP_KIND_COUNT] = {
    "single",          "integrated",
    "user-unknown",    "user-not-authorized",
    "capacity-denied", "person-not-in-directory",
    "legal-denied",    "no-data",
};

const char *kp_kind_name(kp_kind_t kind)
{
    return kind < KP_KIND_COUNT ? s_names[kind] : "?";
}

int kp_kind_from_name(const char *name)
{
    for (int i = 0; i < KP_KIND_COUNT; i++)
        if (!strcmp(name, s_names[i]))
            return i;
    return -1;
}

Kp__Status kp_kind_expected_status(kp_kind_t kind)
{
    switch (kind) {
    case KP_KIND_SINGLE:
    case KP_KIND_INTEGRATED:
        return KP__STATUS__OK;
    case KP_KIND_NO_DATA:
        return KP__STATUS__NO_DATA;
    default:
        return KP__STATUS__DENIED;
    }
}

Kp__Reason kp_kind_expected_reason(kp_kind_t kind, bool secure)
{
    switch (kind) {
    case KP_KIND_DENY_USER:
        return secure ? KP__REASON__IDENTITY_MISMATCH : KP__REASON__USER_UNKNOWN;
    case KP_KIND_DENY_MESSAGE:
        return secure ? KP__REASON__IDENTITY_MISMATCH : KP__REASON__USER_NOT_AUTHORIZED;
    case KP_KIND_DENY_CAPACITY:
        return KP__REASON__CAPACITY_NOT_AUTHORIZED;
    case KP_KIND_DENY_PERSON:
        return KP__REASON__PERSON_NOT_IN_DIRECTORY;
    case KP_KIND_DENY_LEGAL:
        return KP__REASON__LEGAL_FRAMEWORK_NOT_AUTHORIZED;
    default:
        return KP__REASON__REASON_NONE;
    }
}

int kp_kind_integrated(kp_kind_t kind)
{
    return kind == KP_KIND_INTEGRATED;
}

static int s_mix_set(kp_mix_t *mix, const char *name, double weight)
{
    if (!strcmp(name, "denied")) {
        for (int k = KP_KIND_DENY_USER; k <= KP_KIND_DENY_LEGAL; k++)
            mix->weight[k] = weight / 5;
        return 0;
    }
    if (!strcmp(name, "nodata"))
        name = "no-data";
    int kind = kp_kind_from_name(name);
    if (kind < 0)
        return -1;
    mix->weight[kind] = weight;
    return 0;
}

int kp_mix_parse(const char *text, kp_mix_t *mix, char *err, size_t errlen)
{
    memset(mix, 0, sizeof *mix);
    char *copy = strdup(text);
    assert(copy);
    int rc = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        double w = eq ? strtod(eq + 1, &end) : -1;
        if (eq)
            *eq = '\0';
        if (!eq || end == eq + 1 || *end || !(w >= 0) || w > 1e9) {
            snprintf(err, errlen, "--mix: '%s' is not KIND=WEIGHT (e.g. single=70)", item);
            rc = -1;
            break;
        }
        if (s_mix_set(mix, item, w)) {
            snprintf(err, errlen,
                     "--mix: unknown kind '%s'; kinds are single, integrated, denied, nodata, "
                     "user-unknown, user-not-authorized, capacity-denied, "
                     "person-not-in-directory, legal-denied",
                     item);
            rc = -1;
            break;
        }
    }
    free(copy);
    if (rc)
        return rc;
    for (int k = 0; k < KP_KIND_COUNT; k++)
        mix->total += mix->weight[k];
    if (!(mix->total > 0)) {
        snprintf(err, errlen, "--mix: every weight is zero; give at least one kind a weight");
        return -1;
    }
    return 0;
}

kp_kind_t kp_mix_pick(const kp_mix_t *mix, double u)
{
    double x = u * mix->total;
    int last = 0;
    for (int k = 0; k < KP_KIND_COUNT; k++) {
        if (mix->weight[k] <= 0)
            continue;
        last = k;
        if (x < mix->weight[k])
            return (kp_kind_t)k;
        x -= mix->weight[k];
    }
    return (kp_kind_t)last;
}

void kp_bench_insz(uint64_t i, char out[12])
{
    //  Born 1950-1999 (no "2" prefix), day 1-28, serial 1-997.
    uint64_t serial = i % 997 + 1;
    i /= 997;
    uint64_t day = i % 28 + 1;
    i /= 28;
    uint64_t month = i % 12 + 1;
    i /= 12;
    uint64_t year = 50 + i % 50;
    uint64_t base = ((year * 100 + month) * 100 + day) * 1000 + serial;
    snprintf(out, 12, "%09llu%02llu", (unsigned long long)base,
             (unsigned long long)(97 - base % 97));
    assert(kp_insz_valid(out));
}

static void s_person(FILE *out, const char *insz, const char *kbo, unsigned sector)
{
    fprintf(out,
            "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%u,\"type\":1,"
            "\"capacity\":1,\"from\":\"1900-01-01\",\"to\":\"9999-12-31\"}\n",
            insz, kbo, sector);
}

int kp_workload_write_directory(FILE *out, uint64_t persons)
{
    assert(kp_kbo_valid(KP_BENCH_REQUESTER) && kp_kbo_valid(KP_BENCH_PROVIDER_1) &&
           kp_kbo_valid(KP_BENCH_PROVIDER_2));
    fprintf(out,
            "{\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"Bench requester\","
            "\"sector\":17,\"type\":1}\n"
            "{\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"Bench provider one\","
            "\"sector\":10,\"type\":1}\n"
            "{\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"Bench provider two\","
            "\"sector\":20,\"type\":1}\n",
            KP_BENCH_REQUESTER, KP_BENCH_PROVIDER_1, KP_BENCH_PROVIDER_2);
    fprintf(out,
            "{\"table\":\"user\",\"id\":\"bench-app\",\"kbo\":\"%s\",\"sector\":17,\"type\":1,"
            "\"messages\":[\"wage\",\"career\"]}\n"
            "{\"table\":\"user\",\"id\":\"bench-limited\",\"kbo\":\"%s\",\"sector\":17,"
            "\"type\":1,\"messages\":[\"career\"]}\n",
            KP_BENCH_REQUESTER, KP_BENCH_REQUESTER);
    fprintf(out, "{\"table\":\"authorization\",\"sector\":17,\"type\":1,\"capacity\":1,"
                 "\"message\":\"wage\"}\n"
                 "{\"table\":\"authorization\",\"sector\":17,\"type\":1,\"capacity\":1,"
                 "\"message\":\"career\"}\n"
                 "{\"table\":\"availability\",\"message\":\"wage\",\"sector\":10,\"type\":1}\n"
                 "{\"table\":\"availability\",\"message\":\"career\",\"sector\":10,\"type\":1}\n"
                 "{\"table\":\"availability\",\"message\":\"career\",\"sector\":20,\"type\":1}\n");
    for (uint64_t i = 0; i < persons; i++) {
        char insz[12];
        kp_bench_insz(i, insz);
        uint64_t cls = i % 10;
        if (cls != 8)
            s_person(out, insz, KP_BENCH_REQUESTER, 17);
        if (cls != 9) {
            s_person(out, insz, KP_BENCH_PROVIDER_1, 10);
            s_person(out, insz, KP_BENCH_PROVIDER_2, 20);
        }
    }
    return ferror(out) ? -1 : 0;
}

//  A person of class cls (see the header), picked with r.
static uint64_t s_pick_person(uint64_t persons, uint64_t r, int cls)
{
    uint64_t groups = persons / 10;
    if (groups == 0)
        groups = 1;
    uint64_t g = r % groups;
    if (cls < 0) //  any common person (0..7)
        return g * 10 + (r / groups) % 8;
    return g * 10 + (uint64_t)cls;
}

void kp_workload_request(kp_kind_t kind, uint64_t persons, uint64_t r, const uint8_t *payload,
                         size_t size, Kp__Request *request, kp_request_storage_t *storage)
{
    kp__request__init(request);
    request->user = "bench-app";
    request->message = "wage";
    request->has_capacity = 1;
    request->capacity = 1;
    request->has_sector = request->has_type = 1;
    request->sector = 17;
    request->type = 1;
    uint64_t person = s_pick_person(persons, r, -1);
    switch (kind) {
    case KP_KIND_INTEGRATED:
        request->message = "career";
        break;
    case KP_KIND_DENY_USER:
        request->user = "bench-nobody";
        break;
    case KP_KIND_DENY_MESSAGE:
        request->user = "bench-limited";
        break;
    case KP_KIND_DENY_CAPACITY:
        request->capacity = 2;
        break;
    case KP_KIND_DENY_PERSON:
        person = s_pick_person(persons, r, 8);
        break;
    case KP_KIND_DENY_LEGAL:
        request->has_sector = request->has_type = 0;
        request->kbo = KP_BENCH_REQUESTER;
        request->legal_framework = "bench-no-such-framework";
        break;
    case KP_KIND_NO_DATA:
        person = s_pick_person(persons, r, 9);
        break;
    default:
        break;
    }
    kp_bench_insz(person, storage->insz);
    request->person = storage->insz;
    request->has_payload = 1;
    request->payload.data = (uint8_t *)payload;
    request->payload.len = size;
}
