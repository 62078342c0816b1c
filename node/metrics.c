/*  metrics.c - a snapshot of a node's state and its Prometheus text; see
    metrics.h. */
#include "metrics.h"

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "prom.h"

typedef struct {
    char *name, *help, *labels;
    const char *type; //  "gauge" or "counter"
    double value;
} s_gauge_t;

typedef struct {
    uint64_t workers, slots, busy;
} s_institution_t;

typedef struct {
    char *name;
    bool ok;
} s_condition_t;

struct _kp_metrics_t {
    char node[64];
    int64_t mono_ms;
    kp_stats_t *stats;
    bool has_log;
    kp_buckets_t commit_us, batch;
    zlistx_t *gauges;       //  s_gauge_t, in the order given
    zhashx_t *institutions; //  kbo -> s_institution_t
    zlistx_t *conditions;   //  s_condition_t
};

static void s_gauge_free(void **item)
{
    s_gauge_t *gauge = *item;
    if (gauge) {
        free(gauge->name);
        free(gauge->help);
        free(gauge->labels);
        free(gauge);
        *item = NULL;
    }
}

static void s_condition_free(void **item)
{
    s_condition_t *condition = *item;
    if (condition) {
        free(condition->name);
        free(condition);
        *item = NULL;
    }
}

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

kp_metrics_t *kp_metrics_new(const char *node, int64_t mono_ms)
{
    kp_metrics_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->node, sizeof self->node, "%s", node);
    self->mono_ms = mono_ms;
    self->gauges = zlistx_new();
    self->conditions = zlistx_new();
    self->institutions = zhashx_new();
    assert(self->gauges && self->conditions && self->institutions);
    zlistx_set_destructor(self->gauges, s_gauge_free);
    zlistx_set_destructor(self->conditions, s_condition_free);
    zhashx_set_destructor(self->institutions, s_free);
    return self;
}

void kp_metrics_destroy(kp_metrics_t **self_p)
{
    if (self_p && *self_p) {
        kp_metrics_t *self = *self_p;
        kp_stats_destroy(&self->stats);
        zlistx_destroy(&self->gauges);
        zlistx_destroy(&self->conditions);
        zhashx_destroy(&self->institutions);
        free(self);
        *self_p = NULL;
    }
}

void kp_metrics_set_stats(kp_metrics_t *self, kp_stats_t **stats_p)
{
    kp_stats_destroy(&self->stats);
    self->stats = *stats_p;
    *stats_p = NULL;
}

void kp_metrics_set_log(kp_metrics_t *self, const kp_buckets_t *commit_us,
                        const kp_buckets_t *batch)
{
    self->has_log = true;
    self->commit_us = *commit_us;
    self->batch = *batch;
}

static void s_sample(kp_metrics_t *self, const char *type, const char *name, const char *help,
                     const char *labels, double value)
{
    s_gauge_t *gauge = calloc(1, sizeof *gauge);
    assert(gauge);
    gauge->type = type;
    gauge->name = strdup(name);
    gauge->help = strdup(help ? help : name);
    gauge->labels = strdup(labels ? labels : "");
    assert(gauge->name && gauge->help && gauge->labels);
    gauge->value = value;
    zlistx_add_end(self->gauges, gauge);
}

void kp_metrics_gauge(kp_metrics_t *self, const char *name, const char *help, const char *labels,
                      double value)
{
    s_sample(self, "gauge", name, help, labels, value);
}

void kp_metrics_counter(kp_metrics_t *self, const char *name, const char *help, const char *labels,
                        double value)
{
    s_sample(self, "counter", name, help, labels, value);
}

void kp_metrics_worker(kp_metrics_t *self, const char *kbo, uint32_t concurrency,
                       uint32_t outstanding)
{
    s_institution_t *institution = zhashx_lookup(self->institutions, kbo);
    if (!institution) {
        institution = calloc(1, sizeof *institution);
        assert(institution);
        zhashx_insert(self->institutions, kbo, institution);
    }
    institution->workers++;
    institution->slots += concurrency;
    institution->busy += outstanding;
}

void kp_metrics_condition(kp_metrics_t *self, const char *name, bool ok)
{
    s_condition_t *condition = calloc(1, sizeof *condition);
    assert(condition);
    condition->name = strdup(name);
    assert(condition->name);
    condition->ok = ok;
    zlistx_add_end(self->conditions, condition);
}

int64_t kp_metrics_time(const kp_metrics_t *self)
{
    return self->mono_ms;
}

bool kp_metrics_ready(const kp_metrics_t *self, FILE *out)
{
    bool ready = true;
    for (s_condition_t *c = zlistx_first(self->conditions); c; c = zlistx_next(self->conditions)) {
        ready = ready && c->ok;
        if (out)
            fprintf(out, "%s %s\n", c->name, c->ok ? "ok" : "failing");
    }
    return ready;
}

//  ---------------------------------------------------------------------
//  Prometheus text

static void s_write_workers(const kp_metrics_t *self, FILE *out)
{
    static const char *names[] = {"kp_workers", "kp_worker_slots", "kp_worker_busy"};
    static const char *helps[] = {
        "Live provider workers per institution.",
        "Requests the live workers of an institution take at once (sum of their concurrency).",
        "Requests the workers of an institution are working on now."};
    zlistx_t *kbos = zhashx_keys(self->institutions);
    zlistx_set_comparator(kbos, (zlistx_comparator_fn *)strcmp);
    zlistx_sort(kbos);
    for (int i = 0; i < 3; i++) {
        kp_prom_family(out, names[i], "gauge", helps[i]);
        for (const char *kbo = zlistx_first(kbos); kbo; kbo = zlistx_next(kbos)) {
            const s_institution_t *inst = zhashx_lookup(self->institutions, kbo);
            char labels[KP_PROM_LABELS] = "";
            kp_prom_label(labels, sizeof labels, "institution", kbo);
            kp_prom_uint(out, names[i], labels,
                         i == 0   ? inst->workers
                         : i == 1 ? inst->slots
                                  : inst->busy);
        }
    }
    zlistx_destroy(&kbos);
}

//  Gauges of one name together, in the order their names first came.
static void s_write_gauges(const kp_metrics_t *self, FILE *out)
{
    zlistx_t *firsts = zlistx_new(); //  the first gauge of each name (borrowed)
    zhashx_t *seen = zhashx_new();
    assert(firsts && seen);
    for (s_gauge_t *g = zlistx_first(self->gauges); g; g = zlistx_next(self->gauges))
        if (zhashx_insert(seen, g->name, g) == 0)
            zlistx_add_end(firsts, g);
    for (s_gauge_t *first = zlistx_first(firsts); first; first = zlistx_next(firsts)) {
        kp_prom_family(out, first->name, first->type, first->help);
        for (s_gauge_t *g = zlistx_first(self->gauges); g; g = zlistx_next(self->gauges))
            if (!strcmp(g->name, first->name))
                kp_prom_double(out, g->name, g->labels, g->value);
    }
    zhashx_destroy(&seen);
    zlistx_destroy(&firsts);
}

void kp_metrics_write(const kp_metrics_t *self, FILE *out)
{
    char labels[KP_PROM_LABELS] = "";
    kp_prom_label(labels, sizeof labels, "node", self->node);
    kp_prom_label(labels, sizeof labels, "version", KP_VERSION);
    kp_prom_family(out, "kp_node_info", "gauge", "The node's name and version; always 1.");
    kp_prom_uint(out, "kp_node_info", labels, 1);
    if (self->stats)
        kp_stats_prometheus(self->stats, out);
    if (self->has_log) {
        kp_prom_family(out, "kp_log_commit_seconds", "histogram",
                       "Time of one group commit of the privacy log: append, write, fdatasync.");
        kp_prom_histogram(out, "kp_log_commit_seconds", NULL, &self->commit_us, 1e-6);
        kp_prom_family(out, "kp_log_commit_records", "histogram",
                       "Records made durable by one group commit of the privacy log.");
        kp_prom_histogram(out, "kp_log_commit_records", NULL, &self->batch, 1);
    }
    s_write_workers(self, out);
    s_write_gauges(self, out);
    kp_prom_family(out, "kp_ready", "gauge",
                   "Conditions of readiness (/readyz): 1 when the condition holds.");
    for (s_condition_t *c = zlistx_first(self->conditions); c; c = zlistx_next(self->conditions)) {
        char condition[KP_PROM_LABELS] = "";
        kp_prom_label(condition, sizeof condition, "condition", c->name);
        kp_prom_uint(out, "kp_ready", condition, c->ok ? 1 : 0);
    }
}

static size_t s_open_fds(void)
{
    size_t count = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return 0;
    for (struct dirent *entry; (entry = readdir(dir));)
        count += entry->d_name[0] != '.';
    closedir(dir);
    return count ? count - 1 : 0; //  the folder's own descriptor
}

void kp_metrics_write_process(FILE *out)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
                     (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
        kp_prom_family(out, "process_cpu_seconds_total", "counter",
                       "User and system CPU time spent, in seconds.");
        kp_prom_double(out, "process_cpu_seconds_total", NULL, cpu);
    }
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long long size, resident;
    if (statm && fscanf(statm, "%llu %llu", &size, &resident) == 2) {
        kp_prom_family(out, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.");
        kp_prom_uint(out, "process_resident_memory_bytes", NULL,
                     resident * (unsigned long long)sysconf(_SC_PAGESIZE));
    }
    if (statm)
        fclose(statm);
    kp_prom_family(out, "process_open_fds", "gauge", "Open file descriptors.");
    kp_prom_uint(out, "process_open_fds", NULL, s_open_fds());
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        kp_prom_family(out, "process_max_fds", "gauge", "The soft limit of open file descriptors.");
        kp_prom_uint(out, "process_max_fds", NULL, (uint64_t)limit.rlim_cur);
    }
}
