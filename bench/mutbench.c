/*  mutbench.c - change notifications under load, through a running node.

      mutbench --gen-persons N            JSONL: N persons, each held by the
                                          five institutions below (load it)
      mutbench --worker EP --rate R --seconds S --persons N
                                          publishes R changes a second (U1,
                                          by ACV) about N persons; five
                                          institutions take them: fan-out a
                                          second, publish -> notify p50/p99
      mutbench --worker EP --backlog N --persons P
                                          N changes while CM is offline, then
                                          CM's worker comes: time to drain
      mutbench --gen-persons N --cm-only  JSONL: N other persons, held by CM
                                          alone (born in 1971)
      mutbench --worker EP --backlog N --persons P --cm-only
                                          the backlog about those: only CM's
                                          queue grows (a day's backlog of one
                                          institution without four others'),
                                          progress on stderr

    The institutions are the sample directory's (cluster-config/): OCMW
    Gent and OCMW Antwerpen (31/0, capacity 1), CM and Solidaris (6/1,
    capacity 1), RSZ (25/0, capacity 2): all authorized for U1. Insecure
    clusters only (no certificates). Prints one line of figures.
*/
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_worker.h"

#define S_ACV "0411702543"
#define S_MAX (1u << 24)

static const struct {
    const char *kbo;
    int sector, type, capacity;
} s_holders[] = {{"0207437468", 31, 0, 1},
                 {"0212344876", 31, 0, 1},
                 {"0411766483", 6, 1, 1},
                 {"0411724220", 6, 1, 1},
                 {"0206731645", 25, 0, 2}};
#define S_HOLDERS 5

typedef struct {
    int64_t *published_us; //  by change number
    uint8_t *got;          //  by change number: receivers that got it
    uint64_t *latencies;
    size_t latency_count;
    size_t notifies, distinct;
    size_t answered, refused;
    int64_t run; //  this run's start, in its ids
} s_state_t;

static bool s_cm_only;

static void s_person(size_t i, char insz[12])
{
    //  Born 1970-01-01 .. 1970-01-28 (CM alone: 1971), serials 1 .. 997:
    //  up to 27,916 persons.
    unsigned long base = (s_cm_only ? 710101000UL : 700101000UL) + (unsigned long)(i % 997) + 1 +
                         (unsigned long)(i / 997 % 28) * 1000UL;
    snprintf(insz, 12, "%09lu%02lu", base, 97 - base % 97);
}

static int s_on_notify(void *arg, const Kp__MutationNotify *notify)
{
    s_state_t *s = arg;
    s->notifies++;
    const char *id = notify->mutation->id;
    size_t n = id && id[0] == 'b' ? strtoul(id + 1, NULL, 10) : S_MAX;
    if (n < S_MAX && notify->attempt == 1 && s->got[n] < 255) {
        s->got[n]++;
        s->distinct++;
        if (s->published_us[n] && s->latency_count < S_MAX)
            s->latencies[s->latency_count++] = (uint64_t)(zclock_usecs() - s->published_us[n]);
    }
    return 0;
}

static void s_on_published(void *arg, const Kp__MutationPublished *published)
{
    s_state_t *s = arg;
    s->answered++;
    if (published->status != KP__STATUS__OK)
        s->refused++;
}

static void s_pump(kp_worker_t **workers, size_t count, int wait_ms)
{
    zmq_pollitem_t items[S_HOLDERS + 1];
    for (size_t i = 0; i < count; i++) {
        Kp__WorkerRequest *req;
        while (kp_worker_recv(workers[i], 0, &req) == 0)
            kp_worker_request_destroy(&req);
        items[i] = (zmq_pollitem_t){kp_worker_socket(workers[i]), 0, ZMQ_POLLIN, 0};
    }
    if (wait_ms > 0)
        zmq_poll(items, (int)count, wait_ms);
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int s_publish(kp_worker_t **workers, size_t count, kp_worker_t *publisher, s_state_t *s,
                     size_t n, size_t persons)
{
    char id[32], person[12], payload[64];
    //  Ids unique to the run: an id published before is a duplicate.
    snprintf(id, sizeof id, "b%zu-%" PRId64, n, s->run);
    s_person(n % persons, person);
    snprintf(payload, sizeof payload, "{\"address\":\"change %zu\"}", n);
    Kp__Mutation m = KP__MUTATION__INIT;
    m.id = id;
    m.person = person;
    m.message = "U1";
    m.date = "2024-06-01";
    m.has_payload = true;
    m.payload.data = (uint8_t *)payload;
    m.payload.len = strlen(payload);
    s->published_us[n] = zclock_usecs();
    int rc;
    while ((rc = kp_worker_publish(publisher, &m)) == KP_WORKER_EAGAIN)
        s_pump(workers, count, 1);
    return rc;
}

static kp_worker_t *s_worker(const char *endpoint, const char *kbo, bool notify, s_state_t *s)
{
    const char *messages[] = {"U1"};
    kp_worker_t *w = kp_worker_new(endpoint, kbo, messages, notify ? 0 : 1);
    if (!w)
        exit(2);
    if (notify)
        kp_worker_set_notify(w, s_on_notify, s);
    else
        kp_worker_set_published(w, s_on_published, s);
    return w;
}

static void s_wait_accepted(kp_worker_t **workers, size_t count)
{
    int64_t end = zclock_mono() + 10000;
    for (size_t i = 0; i < count; i++)
        while (!kp_worker_accepted(workers[i]) && zclock_mono() < end)
            s_pump(workers, count, 10);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *offline = NULL;
    size_t persons = 1000, backlog = 0, gen = 0;
    double rate = 1000, seconds = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--cm-only")) {
            s_cm_only = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            puts("usage: mutbench --gen-persons N\n"
                 "       mutbench --worker EP [--rate R] [--seconds S] [--persons N]\n"
                 "       mutbench --worker EP --backlog N [--persons N] [--cm-only]\n"
                 "       mutbench --gen-persons N --cm-only\n"
                 "(see the comment at the top of bench/mutbench.c)");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mutbench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--worker"))
            endpoint = v;
        else if (!strcmp(a, "--rate"))
            rate = atof(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--persons"))
            persons = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--backlog"))
            backlog = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--gen-persons"))
            gen = strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "mutbench: unknown option %s\n", a);
            return 2;
        }
    }
    if (gen) {
        for (size_t i = 0; i < gen; i++) {
            char insz[12];
            s_person(i, insz);
            for (size_t j = s_cm_only ? 2 : 0; j < (s_cm_only ? 3 : S_HOLDERS); j++)
                printf("{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"%s\",\"sector\":%d,"
                       "\"type\":%d,\"capacity\":%d,\"from\":\"2000-01-01\",\"to\":\"9999-12-"
                       "31\"}\n",
                       insz, s_holders[j].kbo, s_holders[j].sector, s_holders[j].type,
                       s_holders[j].capacity);
        }
        return 0;
    }
    if (!endpoint || persons == 0 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "mutbench: give --worker EP (and positive --rate, --seconds, --persons)\n");
        return 2;
    }
    s_state_t s = {0};
    //  A benchmark's bounded memory, for the process's life.
    static int64_t published_us[S_MAX];
    static uint8_t got[S_MAX];
    static uint64_t latencies[S_MAX];
    s.published_us = published_us;
    s.got = got;
    s.latencies = latencies;
    s.run = zclock_time();
    if (backlog) {
        offline = s_holders[2].kbo; //  CM
        if (backlog > S_MAX - 1)
            backlog = S_MAX - 1;
    }
    kp_worker_t *workers[S_HOLDERS + 1];
    size_t count = 0;
    kp_worker_t *publisher = workers[count++] = s_worker(endpoint, S_ACV, false, &s);
    for (size_t j = 0; j < S_HOLDERS && !s_cm_only; j++)
        if (!offline || strcmp(offline, s_holders[j].kbo))
            workers[count++] = s_worker(endpoint, s_holders[j].kbo, true, &s);
    size_t others = s_cm_only ? 0 : S_HOLDERS - 1;
    s_wait_accepted(workers, count);
    if (backlog) {
        int64_t start = zclock_mono();
        int64_t report = start + 10000;
        for (size_t n = 0; n < backlog; n++) {
            if (s_publish(workers, count, publisher, &s, n, persons))
                return 1;
            if (n % 256 == 255)
                s_pump(workers, count, 0);
            if (n % 4096 == 0 && zclock_mono() > report) {
                report += 10000;
                fprintf(stderr, "mutbench: %zu published, %zu answered\n", n, s.answered);
            }
        }
        while (s.answered < backlog)
            s_pump(workers, count, 10);
        int64_t published = zclock_mono() - start;
        //  Let the others drain, then CM comes back.
        while (s.distinct < backlog * others && zclock_mono() - start < 600000)
            s_pump(workers, count, 10);
        size_t before = s.distinct;
        workers[count++] = s_worker(endpoint, offline, true, &s);
        int64_t back = zclock_mono();
        report = back + 10000;
        while (s.distinct < before + backlog && zclock_mono() - back < 3600000) {
            s_pump(workers, count, 10);
            if (zclock_mono() > report) {
                report += 10000;
                fprintf(stderr, "mutbench: CM has %zu of %zu\n", s.distinct - before, backlog);
            }
        }
        int64_t drained = zclock_mono() - back;
        printf("mutbench backlog: %zu changes published in %.2f s (%zu refused); CM drained "
               "%zu in %.2f s (%.0f/s)\n",
               backlog, published / 1000.0, s.refused, s.distinct - before, drained / 1000.0,
               (double)(s.distinct - before) * 1000.0 / (double)(drained ? drained : 1));
    } else {
        size_t total = (size_t)(rate * seconds);
        if (total > S_MAX - 1)
            total = S_MAX - 1;
        int64_t start = zclock_usecs();
        for (size_t n = 0; n < total; n++) {
            int64_t due = start + (int64_t)((double)n * 1e6 / rate);
            while (zclock_usecs() < due)
                s_pump(workers, count, (int)((due - zclock_usecs()) / 1000));
            if (s_publish(workers, count, publisher, &s, n, persons))
                return 1;
        }
        int64_t sent = zclock_usecs();
        while (s.distinct < total * S_HOLDERS && zclock_usecs() - sent < 60000000)
            s_pump(workers, count, 10);
        int64_t end = zclock_usecs();
        qsort(s.latencies, s.latency_count, sizeof *s.latencies, s_cmp);
        uint64_t p50 = s.latency_count ? s.latencies[s.latency_count / 2] : 0;
        uint64_t p99 = s.latency_count ? s.latencies[s.latency_count * 99 / 100] : 0;
        printf("mutbench: %zu changes at %.0f/s to %zu persons x %d institutions: %zu "
               "notifies (%zu first), fan-out %.0f/s; publish->notify p50 %.2f ms p99 %.2f ms; "
               "%zu refused\n",
               total, rate, persons, S_HOLDERS, s.notifies, s.distinct,
               (double)s.distinct * 1e6 / (double)(end - start), p50 / 1000.0, p99 / 1000.0,
               s.refused);
    }
    for (size_t i = 0; i < count; i++)
        kp_worker_destroy(&workers[i]);
    return 0;
}
