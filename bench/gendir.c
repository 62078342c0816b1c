/*  gendir - writes a realistic random reference directory as JSON Lines.

    gendir --persons N [--seed S] [--institutions K] > directory.jsonl

    K institutions spread over a dozen (sector, type) pairs, one user per
    institution, access authorizations, data availability, a few legal
    authorizations, and N person entries (most people held by one or two
    institutions) with distinct, valid INSZ numbers in random order. Every
    KBO and INSZ passes its mod-97 check, so the file imports as is.
*/
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

typedef struct {
    uint32_t sector, type;
} s_pair_t;

//  (sector, institution type) pairs of a social security network.
static const s_pair_t s_pairs[] = {
    {17, 1}, {17, 2}, {25, 0}, {25, 1}, {6, 0},  {6, 3},
    {31, 0}, {31, 2}, {33, 1}, {44, 0}, {44, 5}, {9, 2},
};
#define S_PAIRS (sizeof s_pairs / sizeof s_pairs[0])
#define S_MESSAGES 40

typedef struct {
    uint64_t state;
} s_rng_t;

static uint64_t s_next(s_rng_t *rng)
{
    //  xorshift64*: fast, and good enough for test data.
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 2685821657736338717ULL;
}

static uint32_t s_below(s_rng_t *rng, uint32_t n)
{
    return (uint32_t)(s_next(rng) % n);
}

//  The index-th KBO number: eight digits and the check digits. 37 is
//  prime to 98,000,000, so the first 98 million indexes give distinct
//  numbers (the modulo keeps the body at eight digits).
static void s_kbo(size_t index, char out[KP_KBO_LEN + 1])
{
    unsigned long body = 2000000UL + (unsigned long)index * 37UL % 98000000UL;
    snprintf(out, KP_KBO_LEN + 1, "%08lu%02lu", body, 97 - body % 97);
}

static uint64_t s_gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

//  The index-th INSZ of a pseudo-random permutation of (birth day,
//  counter) pairs: distinct for every index below days * 997.
static void s_insz(uint64_t index, uint64_t multiplier, uint64_t offset, int32_t first_day,
                   uint64_t days, char out[KP_INSZ_LEN + 1])
{
    uint64_t space = days * 997;
    uint64_t x = (index * multiplier + offset) % space;
    int32_t day = first_day + (int32_t)(x % days);
    unsigned counter = (unsigned)(x / days) + 1;
    char date[11];
    kp_date_format(day, date);
    int year = atoi(date);
    unsigned long long body = (unsigned long long)(year % 100) * 10000000ULL +
                              strtoull(date + 5, NULL, 10) * 100000ULL +
                              strtoull(date + 8, NULL, 10) * 1000ULL + counter;
    unsigned long long checked = year >= 2000 ? 2000000000ULL + body : body;
    snprintf(out, KP_INSZ_LEN + 1, "%09llu%02llu", body, 97 - checked % 97);
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: gendir --persons N [--seed S] [--institutions K]\n"
                 "Writes a random, valid reference directory as JSON Lines to stdout.\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"persons", required_argument, NULL, 'p'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"institutions", required_argument, NULL, 'i'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    unsigned long long persons = 0, seed = 1, institutions = 200;
    bool have_persons = false;
    int c;
    while ((c = getopt_long(argc, argv, "p:s:i:h", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            persons = strtoull(optarg, NULL, 10);
            have_persons = true;
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            institutions = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (!have_persons || institutions < 1 || institutions > 400000 || optind != argc) {
        s_usage(stderr);
        return 2;
    }
    static char buffer[1 << 20];
    setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    s_rng_t rng = {seed * 0x9E3779B97F4A7C15ULL + 1};

    //  Institutions and their (sector, type).
    uint32_t *pair_of = malloc(institutions * sizeof *pair_of);
    if (!pair_of)
        return 1;
    for (size_t i = 0; i < institutions; i++) {
        char kbo[KP_KBO_LEN + 1];
        s_kbo(i, kbo);
        pair_of[i] = i < S_PAIRS ? (uint32_t)i : s_below(&rng, S_PAIRS);
        printf("{\"table\":\"institution\",\"kbo\":\"%s\",\"name\":\"Institution %zu\","
               "\"sector\":%u,\"type\":%u}\n",
               kbo, i + 1, s_pairs[pair_of[i]].sector, s_pairs[pair_of[i]].type);
    }
    //  One application per institution, allowed 2-5 message types.
    for (size_t i = 0; i < institutions; i++) {
        char kbo[KP_KBO_LEN + 1];
        s_kbo(i, kbo);
        printf("{\"table\":\"user\",\"id\":\"app-%s\",\"kbo\":\"%s\",\"sector\":%u,\"type\":%u,"
               "\"messages\":[",
               kbo, kbo, s_pairs[pair_of[i]].sector, s_pairs[pair_of[i]].type);
        unsigned n = 2 + s_below(&rng, 4), first = s_below(&rng, S_MESSAGES);
        for (unsigned m = 0; m < n; m++)
            printf("%s\"M%02u\"", m ? "," : "", (first + m) % S_MESSAGES + 1);
        printf("]}\n");
    }
    //  Every pair may ask some messages in capacities 1-3.
    for (size_t p = 0; p < S_PAIRS; p++)
        for (unsigned capacity = 1; capacity <= 3; capacity++)
            for (unsigned m = 1; m <= S_MESSAGES; m++)
                if (s_below(&rng, 3) == 0)
                    printf("{\"table\":\"authorization\",\"sector\":%u,\"type\":%u,"
                           "\"capacity\":%u,\"message\":\"M%02u\"}\n",
                           s_pairs[p].sector, s_pairs[p].type, capacity, m);
    //  Each message is provided by one to three pairs.
    for (unsigned m = 1; m <= S_MESSAGES; m++) {
        unsigned n = 1 + s_below(&rng, 3), first = s_below(&rng, S_PAIRS);
        for (unsigned k = 0; k < n; k++)
            printf("{\"table\":\"availability\",\"message\":\"M%02u\",\"sector\":%u,"
                   "\"type\":%u}\n",
                   m, s_pairs[(first + k) % S_PAIRS].sector, s_pairs[(first + k) % S_PAIRS].type);
    }
    for (unsigned f = 1; f <= 10; f++)
        printf("{\"table\":\"legal\",\"sector\":%u,\"type\":%u,\"framework\":\"IVC-24-%03u\","
               "\"message\":\"M%02u\"}\n",
               s_pairs[f % S_PAIRS].sector, s_pairs[f % S_PAIRS].type, f, f);

    //  Person entries: people born 1930-2023, one to three entries each.
    int32_t first_day, last_day;
    kp_date_parse("1930-01-01", &first_day);
    kp_date_parse("2023-12-31", &last_day);
    uint64_t days = (uint64_t)(last_day - first_day + 1), space = days * 997;
    uint64_t multiplier = 1000003 + 2 * s_below(&rng, 1000);
    while (s_gcd(multiplier, space) != 1)
        multiplier += 2;
    uint64_t offset = s_next(&rng) % space;
    int32_t from_low;
    kp_date_parse("2000-01-01", &from_low);
    unsigned long long written = 0;
    for (uint64_t person = 0; written < persons; person++) {
        char insz[KP_INSZ_LEN + 1];
        s_insz(person, multiplier, offset, first_day, days, insz);
        unsigned r = s_below(&rng, 10), entries = r < 6 ? 1 : r < 9 ? 2 : 3;
        for (unsigned e = 0; e < entries && written < persons; e++, written++) {
            size_t i = s_below(&rng, (uint32_t)institutions);
            char kbo[KP_KBO_LEN + 1], from[11], to[11] = "9999-12-31";
            s_kbo(i, kbo);
            int32_t start = from_low + (int32_t)s_below(&rng, 9000);
            kp_date_format(start, from);
            if (s_below(&rng, 4) == 0)
                kp_date_format(start + 30 + (int32_t)s_below(&rng, 3000), to);
            printf("{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%u,"
                   "\"type\":%u,\"capacity\":%u,\"from\":\"%s\",\"to\":\"%s\"}\n",
                   insz, kbo, s_pairs[pair_of[i]].sector, s_pairs[pair_of[i]].type,
                   1 + s_below(&rng, 3), from, to);
        }
    }
    free(pair_of);
    return fflush(stdout) ? 1 : 0;
}
