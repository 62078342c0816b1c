/*  report.c - tables, JSON and SVG of kpbench results. */
#include "report.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "json.h"
#include "svg.h"

static const double s_levels[] = {50, 90, 99, 99.5, 99.9};
static const char *s_level_names[] = {"p50", "p90", "p99", "p99.5", "p99.9"};
#define S_LEVELS (sizeof s_levels / sizeof s_levels[0])

kp_bench_result_t *kp_bench_result_new(const char *target)
{
    kp_bench_result_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->target, sizeof self->target, "%s", target);
    for (int k = 0; k < KP_KIND_COUNT; k++)
        self->latency[k] = kp_histogram_new();
    for (int r = 0; r < KP_CPU_ROLES; r++)
        self->cpu_s[r] = -1;
    self->routed_twice = self->provider_served = -1;
    return self;
}

void kp_bench_result_destroy(kp_bench_result_t **self_p)
{
    if (self_p && *self_p) {
        for (int k = 0; k < KP_KIND_COUNT; k++)
            kp_histogram_destroy(&(*self_p)->latency[k]);
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_bench_result_merge(kp_bench_result_t *self, const kp_bench_result_t *src)
{
    for (int k = 0; k < KP_KIND_COUNT; k++) {
        kp_histogram_merge(self->latency[k], src->latency[k]);
        self->sent[k] += src->sent[k];
        self->answered[k] += src->answered[k];
        self->lost[k] += src->lost[k];
        self->unexpected[k] += src->unexpected[k];
        for (int s = 0; s < KP_STATUS_SLOTS; s++)
            self->status[k][s] += src->status[k][s];
    }
    self->duplicates += src->duplicates;
    self->strays += src->strays;
    self->warmup += src->warmup;
    self->retries += src->retries;
    self->ok_within_1s += src->ok_within_1s;
}

#define S_SUM(field)                                                                               \
    uint64_t total = 0;                                                                            \
    for (int k = 0; k < KP_KIND_COUNT; k++)                                                        \
        total += self->field[k];                                                                   \
    return total

uint64_t kp_bench_result_sent(const kp_bench_result_t *self)
{
    S_SUM(sent);
}

uint64_t kp_bench_result_answered(const kp_bench_result_t *self)
{
    S_SUM(answered);
}

uint64_t kp_bench_result_lost(const kp_bench_result_t *self)
{
    S_SUM(lost);
}

uint64_t kp_bench_result_unexpected(const kp_bench_result_t *self)
{
    S_SUM(unexpected);
}

double kp_bench_result_throughput(const kp_bench_result_t *self)
{
    return self->elapsed_s > 0 ? kp_bench_result_answered(self) / self->elapsed_s : 0;
}

double kp_bench_result_cpu_us(const kp_bench_result_t *self, kp_cpu_role_t role)
{
    uint64_t answered = kp_bench_result_answered(self);
    if (self->cpu_s[role] < 0 || answered == 0)
        return -1;
    return self->cpu_s[role] * 1e6 / answered;
}

static const char *s_cpu_names[KP_CPU_ROLES] = {"broker", "workers", "load generator"};
static const char *s_cpu_keys[KP_CPU_ROLES] = {"broker", "workers", "load_generator"};
static const char *s_cpu_rows[KP_CPU_ROLES] = {"cpu/req broker", "cpu/req workers",
                                               "cpu/req loadgen"};

//  Share of the machine's CPU the sampled processes used in the window;
//  negative if nothing was sampled.
static double s_cpu_busy(const kp_bench_result_t *self)
{
    double total = 0;
    bool any = false;
    for (int r = 0; r < KP_CPU_ROLES; r++)
        if (self->cpu_s[r] >= 0) {
            total += self->cpu_s[r];
            any = true;
        }
    if (!any || self->elapsed_s <= 0 || self->cores <= 0)
        return -1;
    return total / (self->elapsed_s * (double)self->cores);
}

//  All kinds in one histogram; the caller destroys it.
static kp_histogram_t *s_all(const kp_bench_result_t *self)
{
    kp_histogram_t *all = kp_histogram_new();
    for (int k = 0; k < KP_KIND_COUNT; k++)
        kp_histogram_merge(all, self->latency[k]);
    return all;
}

void kp_bench_result_levels(const kp_bench_result_t *self, kp_service_levels_t *out)
{
    //  A lost request counts as one that missed every level.
    memset(out, 0, sizeof *out);
    kp_histogram_t *online = kp_histogram_new();
    uint64_t online_lost = 0, integrated_lost = 0;
    for (int k = 0; k < KP_KIND_COUNT; k++) {
        if (kp_kind_integrated((kp_kind_t)k)) {
            integrated_lost += self->lost[k];
            continue;
        }
        kp_histogram_merge(online, self->latency[k]);
        online_lost += self->lost[k];
    }
    const kp_histogram_t *integ = self->latency[KP_KIND_INTEGRATED];
    uint64_t n_on = kp_histogram_count(online), n_in = kp_histogram_count(integ);
    out->online = n_on + online_lost;
    out->integrated = n_in + integrated_lost;
    out->online_1s =
        out->online ? kp_histogram_fraction_below(online, 1000000) * n_on / out->online : 1;
    out->online_2s =
        out->online ? kp_histogram_fraction_below(online, 2000000) * n_on / out->online : 1;
    out->integrated_4s =
        out->integrated ? kp_histogram_fraction_below(integ, 4000000) * n_in / out->integrated : 1;
    out->pass = out->online_1s >= 0.99 && out->online_2s >= 0.995 && out->integrated_4s >= 0.99;
    kp_histogram_destroy(&online);
}

//  Latency in a width of 9 with a unit that suits it.
static const char *s_us(uint64_t us, char buf[32])
{
    if (us < 1000)
        snprintf(buf, 32, "%lluus", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(buf, 32, "%.2fms", us / 1e3);
    else
        snprintf(buf, 32, "%.3fs", us / 1e6);
    return buf;
}

static void s_row(FILE *out, const char *name, const kp_histogram_t *h, uint64_t unexpected,
                  uint64_t lost)
{
    char b[32];
    fprintf(out, "  %-24s %9llu", name, (unsigned long long)kp_histogram_count(h));
    for (size_t i = 0; i < S_LEVELS; i++)
        fprintf(out, " %9s", s_us(kp_histogram_percentile(h, s_levels[i]), b));
    fprintf(out, " %9s %10llu %6llu\n", s_us(kp_histogram_max(h), b),
            (unsigned long long)unexpected, (unsigned long long)lost);
}

static int s_busier(const void *a, const void *b)
{
    double x = ((const kp_proc_thread_t *)a)->cpu_s, y = ((const kp_proc_thread_t *)b)->cpu_s;
    return (x < y) - (x > y);
}

static void s_cpu_line(FILE *out, const kp_bench_result_t *r)
{
    fprintf(out, "  cpu per request:");
    for (int role = 0; role < KP_CPU_ROLES; role++) {
        double us = kp_bench_result_cpu_us(r, (kp_cpu_role_t)role);
        fprintf(out, "%s %s ", role ? "," : "", s_cpu_names[role]);
        if (us < 0)
            fprintf(out, "-");
        else
            fprintf(out, "%.1fus", us);
    }
    double busy = s_cpu_busy(r);
    if (busy >= 0)
        fprintf(out, " (of %ld cores: %.0f%% busy)", r->cores, busy * 100);
    fprintf(out, "\n");
    uint64_t answered = kp_bench_result_answered(r);
    if (!r->thread_count || !answered)
        return;
    //  The node's threads, busiest first: where its CPU per request goes.
    kp_proc_thread_t threads[KP_BENCH_THREADS];
    int count = r->thread_count < KP_BENCH_THREADS ? r->thread_count : KP_BENCH_THREADS;
    memcpy(threads, r->threads, (size_t)count * sizeof threads[0]);
    qsort(threads, (size_t)count, sizeof threads[0], s_busier);
    fprintf(out, "  node cpu per request by thread:");
    for (int i = 0; i < count; i++) {
        double us = threads[i].cpu_s * 1e6 / (double)answered;
        if (us >= 0.005) //  idle threads are left out
            fprintf(out, "%s %s %.2fus", i ? "," : "", threads[i].name, us);
    }
    fprintf(out, "\n");
}

//  One run's line and its latency and status table, as text.
static void s_table_one(FILE *out, const kp_bench_config_t *config, const kp_bench_result_t *r)
{
    fprintf(out, "\n%s: %llu answered in %.2f s = %.1f requests/s (%s loop, %u clients", r->target,
            (unsigned long long)kp_bench_result_answered(r), r->elapsed_s,
            kp_bench_result_throughput(r), config->mode, config->clients);
    if (!strcmp(config->mode, "closed"))
        fprintf(out, " x %u in flight", config->inflight);
    else
        fprintf(out, ", %.0f/s offered, %s arrivals", config->rate,
                config->arrivals ? config->arrivals : "uniform");
    fprintf(out, ", %zu B payload)\n", config->size);
    fprintf(out, "  %-24s %9s", "kind", "count");
    for (size_t i = 0; i < S_LEVELS; i++)
        fprintf(out, " %9s", s_level_names[i]);
    fprintf(out, " %9s %10s %6s\n", "max", "unexpected", "lost");
    for (int k = 0; k < KP_KIND_COUNT; k++)
        if (r->sent[k] || kp_histogram_count(r->latency[k]))
            s_row(out, kp_kind_name((kp_kind_t)k), r->latency[k], r->unexpected[k], r->lost[k]);
    kp_histogram_t *all = s_all(r);
    s_row(out, "all", all, kp_bench_result_unexpected(r), kp_bench_result_lost(r));
    kp_histogram_destroy(&all);
    fprintf(out, "  statuses:");
    for (int s = 0; s < KP_STATUS_SLOTS; s++) {
        uint64_t n = 0;
        for (int k = 0; k < KP_KIND_COUNT; k++)
            n += r->status[k][s];
        if (n)
            fprintf(out, " %s %llu", kp_status_name((Kp__Status)s), (unsigned long long)n);
    }
    fprintf(out, "; duplicates %llu, strays %llu, warm-up excluded %llu",
            (unsigned long long)r->duplicates, (unsigned long long)r->strays,
            (unsigned long long)r->warmup);
    if (r->retries)
        fprintf(out, ", retries %llu", (unsigned long long)r->retries);
    if (r->routed_twice >= 0)
        fprintf(out, "; routed twice: %lld (of %lld served by providers)",
                (long long)r->routed_twice, (long long)r->provider_served);
    fprintf(out, "\n");
    kp_service_levels_t sl;
    kp_bench_result_levels(r, &sl);
    fprintf(out,
            "  service levels: online <=1s %.3f%% (need 99%%), <=2s %.3f%% (need 99.5%%); "
            "integrated <=4s %.3f%% (need 99%%): %s\n",
            sl.online_1s * 100, sl.online_2s * 100, sl.integrated_4s * 100,
            sl.pass ? "PASS" : "FAIL");
    s_cpu_line(out, r);
    if (r->chaos) {
        uint64_t sent = kp_bench_result_sent(r);
        fprintf(out, "  chaos: %llu node%s killed or stopped", (unsigned long long)r->kills,
                r->kills == 1 ? "" : "s");
        if (r->site_kills)
            fprintf(out, " (%llu whole site%s at once)", (unsigned long long)r->site_kills,
                    r->site_kills == 1 ? "" : "s");
        if (r->stub)
            fprintf(out,
                    "; the clients' stubs: failovers %llu, back to their site %llu, requests "
                    "resent %llu, given up %llu",
                    (unsigned long long)r->failovers, (unsigned long long)r->failbacks,
                    (unsigned long long)r->resent, (unsigned long long)r->given_up);
        fprintf(out, "\n");
        fprintf(out,
                "  availability: %.3f%% answered as expected within 1 s; longest gap %.3f s; "
                "delivered twice %llu; never answered %llu\n"
                "  (delivered twice: the same answer arrived again after a retry, dropped by "
                "the client, harmless. Routed twice, above: a provider process given the "
                "same id again, as counted by each process, so an id given to two processes "
                "is not in it; a request in flight when its node was killed is legitimately "
                "routed again by the restarted node, whose replay memory is gone)\n",
                sent ? 100.0 * r->ok_within_1s / sent : 100.0, r->longest_gap_s,
                (unsigned long long)r->duplicates, (unsigned long long)kp_bench_result_lost(r));
    }
}

typedef enum { S_RATE, S_LATENCY, S_CPU } s_unit_t;

//  One row of the comparison; a CPU value below 0 is unknown: "-".
static void s_compare_row(FILE *out, const char *name, size_t count, const double *values,
                          s_unit_t unit)
{
    char b[32];
    fprintf(out, "  %-16s", name);
    for (size_t i = 0; i < count; i++) {
        bool known = unit != S_CPU || values[i] >= 0;
        if (!known)
            fprintf(out, " %12s", "-");
        else if (unit == S_LATENCY)
            fprintf(out, " %12s", s_us((uint64_t)values[i], b));
        else if (unit == S_CPU) {
            snprintf(b, sizeof b, "%.1fus", values[i]);
            fprintf(out, " %12s", b);
        } else
            fprintf(out, " %12.1f", values[i]);
        if (i == 0)
            continue;
        if (known && values[0] >= 0 && values[i] > 0)
            fprintf(out, " %8.2fx", values[0] / values[i]);
        else
            fprintf(out, " %9s", unit == S_CPU ? "-" : "0.00x");
    }
    fprintf(out, "\n");
}

void kp_report_table(FILE *out, const kp_bench_config_t *config, kp_bench_result_t **runs,
                     size_t count)
{
    for (size_t i = 0; i < count; i++)
        s_table_one(out, config, runs[i]);
    if (count < 2)
        return;
    fprintf(out, "\ncomparison (ratio = %s / other; same payload and concurrency):\n  %-16s",
            runs[0]->target, "");
    for (size_t i = 0; i < count; i++)
        fprintf(out, i ? " %12s %9s" : " %12s", runs[i]->target, "ratio");
    fprintf(out, "\n");
    double v[8];
    assert(count <= 8);
    for (size_t i = 0; i < count; i++)
        v[i] = kp_bench_result_throughput(runs[i]);
    s_compare_row(out, "requests/s", count, v, S_RATE);
    static const double levels[] = {50, 90, 99, 99.9, 100};
    static const char *names[] = {"p50", "p90", "p99", "p99.9", "max"};
    for (size_t l = 0; l < 5; l++) {
        for (size_t i = 0; i < count; i++) {
            kp_histogram_t *all = s_all(runs[i]);
            v[i] = (double)kp_histogram_percentile(all, levels[l]);
            kp_histogram_destroy(&all);
        }
        s_compare_row(out, names[l], count, v, S_LATENCY);
    }
    for (int role = 0; role < KP_CPU_ROLES; role++) {
        for (size_t i = 0; i < count; i++)
            v[i] = kp_bench_result_cpu_us(runs[i], (kp_cpu_role_t)role);
        s_compare_row(out, s_cpu_rows[role], count, v, S_CPU);
    }
}

static void s_json_latency(kp_json_t *j, const kp_histogram_t *h)
{
    kp_json_object_open(j);
    kp_json_kv_uint(j, "count", kp_histogram_count(h));
    kp_json_kv_uint(j, "min", kp_histogram_min(h));
    kp_json_key(j, "mean");
    kp_json_double(j, kp_histogram_mean(h));
    for (size_t i = 0; i < S_LEVELS; i++)
        kp_json_kv_uint(j, s_level_names[i], kp_histogram_percentile(h, s_levels[i]));
    kp_json_kv_uint(j, "max", kp_histogram_max(h));
    kp_json_object_close(j);
}

static void s_json_statuses(kp_json_t *j, const uint64_t *status)
{
    kp_json_object_open(j);
    for (int s = 0; s < KP_STATUS_SLOTS; s++)
        if (status[s])
            kp_json_kv_uint(j, kp_status_name((Kp__Status)s), status[s]);
    kp_json_object_close(j);
}

//  CPU per request by role, null where unknown, and how busy the machine
//  was (a fraction of all online cores).
static void s_json_cpu(kp_json_t *j, const kp_bench_result_t *r)
{
    kp_json_key(j, "cpu_us_per_request");
    kp_json_object_open(j);
    for (int role = 0; role < KP_CPU_ROLES; role++) {
        double us = kp_bench_result_cpu_us(r, (kp_cpu_role_t)role);
        kp_json_key(j, s_cpu_keys[role]);
        if (us < 0)
            kp_json_null(j);
        else
            kp_json_double(j, us);
    }
    kp_json_object_close(j);
    double busy = s_cpu_busy(r);
    kp_json_key(j, "cpu_busy");
    if (busy < 0)
        kp_json_null(j);
    else
        kp_json_double(j, busy);
    kp_json_kv_int(j, "cores", r->cores);
}

//  A count, or null when it is unknown (negative).
static void s_json_known(kp_json_t *j, const char *key, int64_t value)
{
    kp_json_key(j, key);
    if (value < 0)
        kp_json_null(j);
    else
        kp_json_int(j, value);
}

//  One run as a JSON object: throughput, counts, latencies, CPU per role.
static void s_json_run(kp_json_t *j, const kp_bench_result_t *r)
{
    kp_json_object_open(j);
    kp_json_kv_string(j, "target", r->target);
    kp_json_key(j, "elapsed_s");
    kp_json_double(j, r->elapsed_s);
    kp_json_key(j, "throughput_rps");
    kp_json_double(j, kp_bench_result_throughput(r));
    kp_json_kv_uint(j, "sent", kp_bench_result_sent(r));
    kp_json_kv_uint(j, "answered", kp_bench_result_answered(r));
    kp_json_kv_uint(j, "lost", kp_bench_result_lost(r));
    kp_json_kv_uint(j, "unexpected", kp_bench_result_unexpected(r));
    kp_json_kv_uint(j, "duplicates", r->duplicates);
    kp_json_kv_uint(j, "strays", r->strays);
    kp_json_kv_uint(j, "warmup_excluded", r->warmup);
    kp_json_kv_uint(j, "retries", r->retries);
    s_json_known(j, "routed_twice", r->routed_twice);
    s_json_known(j, "provider_served", r->provider_served);
    uint64_t total[KP_STATUS_SLOTS] = {0};
    for (int k = 0; k < KP_KIND_COUNT; k++)
        for (int s = 0; s < KP_STATUS_SLOTS; s++)
            total[s] += r->status[k][s];
    kp_json_key(j, "statuses");
    s_json_statuses(j, total);
    kp_json_key(j, "latency_us");
    kp_histogram_t *all = s_all(r);
    s_json_latency(j, all);
    kp_histogram_destroy(&all);
    kp_json_key(j, "kinds");
    kp_json_array_open(j);
    for (int k = 0; k < KP_KIND_COUNT; k++) {
        if (!r->sent[k] && !kp_histogram_count(r->latency[k]))
            continue;
        kp_json_object_open(j);
        kp_json_kv_string(j, "kind", kp_kind_name((kp_kind_t)k));
        kp_json_kv_string(j, "expected_status",
                          kp_status_name(kp_kind_expected_status((kp_kind_t)k)));
        kp_json_kv_uint(j, "sent", r->sent[k]);
        kp_json_kv_uint(j, "answered", r->answered[k]);
        kp_json_kv_uint(j, "lost", r->lost[k]);
        kp_json_kv_uint(j, "unexpected", r->unexpected[k]);
        kp_json_key(j, "statuses");
        s_json_statuses(j, r->status[k]);
        kp_json_key(j, "latency_us");
        s_json_latency(j, r->latency[k]);
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    kp_service_levels_t sl;
    kp_bench_result_levels(r, &sl);
    kp_json_key(j, "service_levels");
    kp_json_object_open(j);
    kp_json_key(j, "online_within_1s");
    kp_json_double(j, sl.online_1s);
    kp_json_key(j, "online_within_2s");
    kp_json_double(j, sl.online_2s);
    kp_json_key(j, "integrated_within_4s");
    kp_json_double(j, sl.integrated_4s);
    kp_json_kv_uint(j, "online", sl.online);
    kp_json_kv_uint(j, "integrated", sl.integrated);
    kp_json_kv_string(j, "verdict", sl.pass ? "PASS" : "FAIL");
    kp_json_object_close(j);
    s_json_cpu(j, r);
    if (r->stub) {
        kp_json_key(j, "stub");
        kp_json_object_open(j);
        kp_json_kv_uint(j, "failovers", r->failovers);
        kp_json_kv_uint(j, "failbacks", r->failbacks);
        kp_json_kv_uint(j, "resent", r->resent);
        kp_json_kv_uint(j, "given_up", r->given_up);
        kp_json_object_close(j);
    }
    if (r->chaos) {
        uint64_t sent = kp_bench_result_sent(r);
        kp_json_key(j, "availability");
        kp_json_object_open(j);
        kp_json_key(j, "ok_within_1s");
        kp_json_double(j, sent ? (double)r->ok_within_1s / sent : 1.0);
        kp_json_key(j, "longest_gap_s");
        kp_json_double(j, r->longest_gap_s);
        kp_json_kv_uint(j, "answered_twice", r->duplicates); //  kept for readers
        kp_json_kv_uint(j, "delivered_twice", r->duplicates);
        kp_json_kv_uint(j, "never_answered", kp_bench_result_lost(r));
        kp_json_kv_uint(j, "kills", r->kills);
        kp_json_kv_uint(j, "site_kills", r->site_kills);
        kp_json_object_close(j);
    }
    kp_json_object_close(j);
}

int kp_report_json(const char *path, const kp_bench_config_t *config, kp_bench_result_t **runs,
                   size_t count, char *err, size_t errlen)
{
    kp_json_t *j = kp_json_new();
    kp_json_object_open(j);
    kp_json_kv_string(j, "tool", "kpbench");
    kp_json_key(j, "config");
    kp_json_object_open(j);
    kp_json_kv_string(j, "mode", config->mode);
    kp_json_kv_string(j, "cluster", config->cluster);
    kp_json_kv_uint(j, "clients", config->clients);
    kp_json_kv_uint(j, "inflight", config->inflight);
    kp_json_key(j, "rate");
    kp_json_double(j, config->rate);
    kp_json_kv_string(j, "arrivals", config->arrivals); //  null: closed loop
    kp_json_kv_uint(j, "seed", config->seed);
    kp_json_key(j, "duration_s");
    kp_json_double(j, config->duration_s);
    kp_json_kv_uint(j, "count", config->count);
    kp_json_key(j, "warmup_s");
    kp_json_double(j, config->warmup_s);
    kp_json_kv_uint(j, "size", config->size);
    kp_json_kv_string(j, "mix", config->mix);
    kp_json_kv_uint(j, "persons", config->persons);
    kp_json_object_close(j);
    kp_json_key(j, "runs");
    kp_json_array_open(j);
    for (size_t i = 0; i < count; i++)
        s_json_run(j, runs[i]);
    kp_json_array_close(j);
    kp_json_object_close(j);
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f || fprintf(f, "%s\n", kp_json_text(j)) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write --json file %s: %s", path, strerror(errno));
        rc = -1;
    }
    kp_json_destroy(&j);
    return rc;
}

//  ---------------------------------------------------------------------
//  SVG: latency (log) against percentile on a "nines" axis, where 90%,
//  99%, 99.9%... are evenly spaced: x = log10(1 / (1 - p)).

#define S_W 900
#define S_H 520
#define S_LEFT 80
#define S_RIGHT 220
#define S_TOP 40
#define S_BOTTOM 60
#define S_NINES 5.0

typedef struct {
    char name[64];
    const kp_histogram_t *h;
} s_series_t;

static double s_px(double nines)
{
    return S_LEFT + nines / S_NINES * (S_W - S_LEFT - S_RIGHT);
}

static double s_py(double us, double lo, double hi)
{
    double v = log10(us < 1 ? 1 : us);
    return S_TOP + (1 - (v - lo) / (hi - lo)) * (S_H - S_TOP - S_BOTTOM);
}

int kp_report_svg(const char *path, kp_bench_result_t **runs, size_t count, char *err,
                  size_t errlen)
{
    s_series_t series[32];
    size_t n = 0;
    double lo = 9, hi = 0;
    for (size_t i = 0; i < count; i++)
        for (int k = 0; k < KP_KIND_COUNT && n < 32; k++) {
            const kp_histogram_t *h = runs[i]->latency[k];
            if (!kp_histogram_count(h))
                continue;
            s_series_t *one = &series[n++];
            one->h = h;
            snprintf(one->name, sizeof one->name, "%s%s%s", count > 1 ? runs[i]->target : "",
                     count > 1 ? " " : "", kp_kind_name((kp_kind_t)k));
            double mn = log10(fmax(1, (double)kp_histogram_min(h)));
            double mx = log10(fmax(1, (double)kp_histogram_max(h)));
            lo = fmin(lo, floor(mn));
            hi = fmax(hi, ceil(mx));
        }
    if (hi <= lo)
        hi = lo + 1;
    kp_svg_t *svg =
        kp_svg_new(path, S_W, S_H, "kpbench: latency by percentile (log scale)", err, errlen);
    if (!svg)
        return -1;
    for (int d = (int)lo; d <= (int)hi; d++) { //  decades of microseconds
        double y = s_py(pow(10, d), lo, hi);
        static const char *units[] = {"1us",   "10us", "100us", "1ms",  "10ms",
                                      "100ms", "1s",   "10s",   "100s", "1000s"};
        kp_svg_line(svg, S_LEFT, y, S_W - S_RIGHT, y, "#ddd", 1, NULL);
        kp_svg_text(svg, S_LEFT - 6, y + 4, "end", "%s", d >= 0 && d < 10 ? units[d] : "?");
    }
    static const char *ticks[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
    for (int t = 0; t <= (int)S_NINES; t++) {
        double x = s_px(t);
        kp_svg_line(svg, x, S_TOP, x, S_H - S_BOTTOM, "#ddd", 1, NULL);
        kp_svg_text(svg, x, S_H - S_BOTTOM + 18, "middle", "%s", ticks[t]);
    }
    kp_svg_text(svg, (S_LEFT + S_W - S_RIGHT) / 2.0, S_H - 15, "middle", "percentile");
    kp_svg_vtext(svg, 18, S_H / 2.0, "latency");
    for (size_t s = 0; s < n; s++) {
        kp_svg_poly_begin(svg, kp_svg_color(s), 2);
        for (int i = 0; i <= 500; i++) {
            double nines = S_NINES * i / 500.0;
            double p = 100.0 * (1 - pow(10, -nines));
            double v = (double)kp_histogram_percentile(series[s].h, p);
            kp_svg_poly_point(svg, s_px(nines), s_py(v, lo, hi));
        }
        kp_svg_poly_end(svg);
        kp_svg_legend(svg, S_W - S_RIGHT + 15, S_TOP + 20, s, kp_svg_color(s), series[s].name);
    }
    return kp_svg_close(&svg, err, errlen);
}
