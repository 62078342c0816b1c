/*  workload.h - what kpbench asks, and the directory that makes it so.

    The bench directory is generated from the person count alone, so the
    load generator knows without asking which request gets which answer:

      requester  institution R (sector 17, type 1), user "bench-app" may
                 send "wage" and "career"; user "bench-limited" only
                 "career"; capacity 1 is authorized for both messages,
                 capacity 2 for none.
      providers  P1 (sector 10, type 1) provides "wage" and "career";
                 P2 (sector 20, type 1) provides "career".
      persons    i % 10 in 0..7: held by R, P1 and P2 (capacity 1);
                 i % 10 == 8: held by P1 and P2 only (not by R);
                 i % 10 == 9: held by R only.

    Hence: "wage" about a common person goes to one provider (single);
    "career" to two (integrated); "wage" about an R-only person is NO_DATA;
    and each refusal of the control has a request that triggers it.
*/
#ifndef KP_WORKLOAD_H_INCLUDED
#define KP_WORKLOAD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kruispunt.pb-c.h"

typedef enum {
    KP_KIND_SINGLE = 0,    //  allowed, one provider
    KP_KIND_INTEGRATED,    //  allowed, two providers
    KP_KIND_DENY_USER,     //  USER_UNKNOWN
    KP_KIND_DENY_MESSAGE,  //  USER_NOT_AUTHORIZED
    KP_KIND_DENY_CAPACITY, //  CAPACITY_NOT_AUTHORIZED
    KP_KIND_DENY_PERSON,   //  PERSON_NOT_IN_DIRECTORY
    KP_KIND_DENY_LEGAL,    //  LEGAL_FRAMEWORK_NOT_AUTHORIZED
    KP_KIND_NO_DATA,       //  allowed, nobody holds the data
    KP_KIND_COUNT
} kp_kind_t;

#define KP_BENCH_PROVIDER_1 "0200000043"
#define KP_BENCH_PROVIDER_2 "0300000016"
#define KP_BENCH_REQUESTER "0100000070"

//  Short name of a kind ("single", "integrated", "user-unknown", ...).
const char *kp_kind_name(kp_kind_t kind);
//  The kind called name, or -1.
int kp_kind_from_name(const char *name);
//  The status and reason the kind must be answered with. On a secure
//  cluster the load generator has the key of bench-app only, so a request
//  naming another user (deny-user, deny-message) is refused before the
//  directory is asked: IDENTITY_MISMATCH.
Kp__Status kp_kind_expected_status(kp_kind_t kind);
Kp__Reason kp_kind_expected_reason(kp_kind_t kind, bool secure);
//  True for integrated services (4 s service level); others are online
//  messages (1 s / 2 s).
int kp_kind_integrated(kp_kind_t kind);

//  A mix: weights per kind, parsed from "single=70,integrated=15,denied=10,
//  nodata=5" ("denied" spreads its weight over the five refusals).
typedef struct {
    double weight[KP_KIND_COUNT];
    double total;
} kp_mix_t;

#define KP_MIX_DEFAULT "single=70,integrated=15,denied=10,nodata=5"

//  0, or -1 with the problem written to err.
int kp_mix_parse(const char *text, kp_mix_t *mix, char *err, size_t errlen);
//  The kind for a uniform random u in [0,1).
kp_kind_t kp_mix_pick(const kp_mix_t *mix, double u);

//  The i-th bench person's INSZ (valid, distinct for i < 16 million).
void kp_bench_insz(uint64_t i, char out[12]);

//  Writes the bench directory for persons persons as JSON Lines. 0 or -1.
int kp_workload_write_directory(FILE *out, uint64_t persons);

//  Fills request (and the strings it points to, held in storage) with a
//  request of kind about a person picked with random r. payload is
//  borrowed. The request id is set by the caller.
typedef struct {
    char insz[12];
} kp_request_storage_t;
void kp_workload_request(kp_kind_t kind, uint64_t persons, uint64_t r, const uint8_t *payload,
                         size_t size, Kp__Request *request, kp_request_storage_t *storage);

#endif
