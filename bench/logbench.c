/*  logbench - privacy-log throughput through the logger (group commit),
    the index's size, build rate and lag, and query latency through it.

        logbench --dir DIR [--records N] [--people P] [--queries Q]
                 [--window W] [--key FILE] [--query-only] [--reindex]
                 [--index-only]
                 [--index-after]
        logbench --dir DIR --sync-floor [--syncs N] [--sync-size B]

    Writes N records (P distinct people, 4 institutions, 8 message types)
    through kp_logger_t as fast as the logger takes them, with at most W
    records not yet durable (a node's requests in flight), and reports
    records per second once every record is durable, and when the index
    (built by the logger's indexer on an idle core) has caught up. Then
    runs Q queries of each kind, every record they name read back: a random
    person's whole history, an institution's and a message type's first
    100 records in a random second, and reports latency percentiles, and
    the bytes per record of the segments and of the index. --reindex first
    rebuilds the index from the segments on this thread and reports its
    rate by the clock and by CPU time; --index-after writes with no
    indexer at all and then builds the index so (the time the index takes
    to catch up with a log it never followed).
    --index-only times the queries without reading the records they name
    (the index's part of a query's latency).
    DIR must not exist yet; with --query-only, DIR is one that logbench
    made before (give the same --records and --people) and only the
    queries run.

    --sync-floor measures the disk under DIR instead: N times, an append
    of B bytes (512) and fdatasync over blocks already written (the cheapest durable
    write there is, what a group commit of one record costs at best), and
    prints the percentiles and the CPU per write; then the same through
    O_DIRECT | O_DSYNC, as the log writes with its direct option. A
    log that is durable before each answer adds at least this to every
    answer when requests come one at a time.
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logger.h"
#include "logindex.h"
#include "privlog.h"

//  Monotonic seconds (CZMQ's clock, to the microsecond).
static double s_now(void)
{
    return (double)zclock_usecs() / 1e6;
}

//  Person p as a valid INSZ (born before 2000), so that kpctl accepts it.
static void s_person(uint64_t p, char out[12])
{
    uint64_t yy = (p / (12 * 28 * 999)) % 100, mm = 1 + (p / (28 * 999)) % 12;
    uint64_t dd = 1 + (p / 999) % 28, sss = 1 + p % 999;
    uint64_t base = ((yy * 100 + mm) * 100 + dd) * 1000 + sss;
    snprintf(out, 12, "%09" PRIu64 "%02" PRIu64, base, 97 - base % 97);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    kp_privlog_reader_t *reader;
    uint64_t found;
    bool index_only; //  --index-only: count what the index names, read nothing
} s_query_t;

static int s_fetch(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    s_query_t *q = arg;
    if (q->index_only) {
        q->found++;
        return 0;
    }
    char error[256];
    uint64_t got;
    Kp__LogRecord *r = kp_privlog_reader_get(q->reader, segment, offset, &got, error, sizeof error);
    if (r && got == seq)
        q->found++;
    kp__log_record__free_unpacked(r, NULL);
    return 0;
}

//  Bytes in the files under dir whose names end in suffix (".kplog": the
//  segments; ".mdb": the index), through CZMQ's zdir.
static uint64_t s_bytes(const char *dir, const char *suffix)
{
    zdir_t *d = zdir_new(dir, NULL);
    zfile_t **files = d ? zdir_flatten(d) : NULL;
    uint64_t total = 0;
    size_t m = strlen(suffix);
    for (size_t i = 0; files && files[i]; i++) {
        const char *name = zfile_filename(files[i], NULL);
        size_t n = strlen(name);
        if (n >= m && !strcmp(name + n - m, suffix))
            total += (uint64_t)zfile_cursize(files[i]);
    }
    zdir_flatten_free(&files);
    zdir_destroy(&d);
    return total;
}

static int s_fetch_some(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    s_query_t *q = arg;
    s_fetch(seq, segment, offset, arg);
    return q->found >= 100; //  a page of answers, as an operator's screen shows
}

static const char *s_kbos[] = {"0200065765", "0212344876", "0206731645", "0240683202"};
static const char *s_messages[] = {"wage",    "unemployment", "family", "pension",
                                   "address", "income",       "health", "status"};

static void s_report(const char *kind, double *lat, uint64_t n, uint64_t found, const char *what)
{
    qsort(lat, n, sizeof *lat, s_cmp);
    if (n)
        printf("query %-11s %" PRIu64 " queries, %.1f records each (%s): p50 %.3f ms, p99 %.3f "
               "ms, max %.3f ms\n",
               kind, n, (double)found / (double)n, what, lat[n / 2], lat[n * 99 / 100], lat[n - 1]);
}

//  Queries of each kind, timed with every record they name read back:
//  one person's whole history; an institution's or a message type's
//  first 100 records in a random second of the run.
static int s_queries(const char *logdir, uint64_t records, uint64_t people, uint64_t queries,
                     uint64_t seed, uint64_t t0, bool index_only)
{
    char path[4300], error[256];
    uint64_t state = seed;
    snprintf(path, sizeof path, "%s/index", logdir);
    kp_logindex_t *index = kp_logindex_open(path, true, 0, error, sizeof error);
    s_query_t q = {.reader = kp_privlog_reader_new(logdir, error, sizeof error),
                   .index_only = index_only};
    if (!index || !q.reader) {
        fprintf(stderr, "logbench: %s\n", error);
        return 1;
    }
    double *lat[3];
    uint64_t found[3] = {0};
    for (int k = 0; k < 3; k++)
        lat[k] = calloc(queries ? queries : 1, sizeof(double));
    for (uint64_t i = 0; i < queries; i++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        char person[12];
        s_person(state % people, person);
        uint64_t from = t0 + (state >> 20) % records;
        from -= from % 1000000; //  a whole second
        for (int k = 0; k < 3; k++) {
            q.found = 0;
            double t = s_now();
            if (k == 0)
                kp_logindex_query(index, KP_LOGINDEX_PERSON, person, 0, UINT64_MAX, s_fetch, &q);
            else
                kp_logindex_query(index, k == 1 ? KP_LOGINDEX_INSTITUTION : KP_LOGINDEX_MESSAGE,
                                  k == 1 ? s_kbos[i % 4] : s_messages[i % 8], from, from + 999999,
                                  s_fetch_some, &q);
            lat[k][i] = (s_now() - t) * 1000.0;
            found[k] += q.found;
        }
    }
    s_report("person", lat[0], queries, found[0],
             index_only ? "a whole history, index only" : "a whole history");
    s_report("institution", lat[1], queries, found[1],
             index_only ? "first 100 in a second, index only" : "first 100 in a second");
    s_report("message", lat[2], queries, found[2],
             index_only ? "first 100 in a second, index only" : "first 100 in a second");
    for (int k = 0; k < 3; k++)
        free(lat[k]);
    uint64_t used = 0, spare = 0, runs = 0, entries = 0;
    kp_logindex_space(index, &used, &spare);
    kp_logindex_runs(index, &runs, &entries);
    kp_privlog_reader_destroy(&q.reader);
    kp_logindex_destroy(&index);
    uint64_t log = s_bytes(logdir, ".kplog"), file = s_bytes(path, ".mdb");
    printf("files: segments %.2f GB (%.1f bytes per record), index %.2f GB (%.1f bytes per "
           "record; in use %.1f, LMDB's free pages %.1f)\n",
           (double)log / 1e9, (double)log / (double)records, (double)file / 1e9,
           (double)file / (double)records, (double)used / (double)records,
           (double)spare / (double)records);
    printf("people: %" PRIu64 " entries in %" PRIu64 " sorted runs (a person's query seeks "
           "once in each)\n",
           entries, runs);
    printf("ten years at 1.8 billion records a year: segments %.1f TB, index %.1f TB\n",
           18e9 * (double)log / (double)records / 1e12,
           18e9 * (double)file / (double)records / 1e12);
    return 0;
}

static int s_first(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    (void)seq;
    *(uint64_t *)arg = record->time_unix_us;
    return 1;
}

//  The time of the log's first record: where a --query-only run's seconds start.
static uint64_t s_first_time(const char *logdir)
{
    char error[256];
    uint64_t t0 = 0;
    kp_privlog_scan(logdir, INT32_MIN, INT32_MAX, s_first, &t0, error, sizeof error);
    return t0;
}

static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  The index built again from the segments, on this thread: its rate by
//  the clock and by this thread's CPU time (on a shared machine the two
//  differ; the second is what one core does).
static int s_reindex(const char *logdir, uint64_t records)
{
    char path[4300], error[256];
    snprintf(path, sizeof path, "%s/index", logdir);
    kp_logindex_t *index = kp_logindex_open(path, false, 0, error, sizeof error);
    if (!index) {
        fprintf(stderr, "logbench: %s\n", error);
        return 1;
    }
    kp_privlog_index_job_t job = {.upto_seq = UINT64_MAX, .rebuild = true};
    double t = s_now(), cpu = s_cpu();
    int64_t added = kp_privlog_index_run(logdir, index, &job, error, sizeof error);
    t = s_now() - t;
    cpu = s_cpu() - cpu;
    kp_logindex_destroy(&index);
    if (added < 0) {
        fprintf(stderr, "logbench: %s\n", error);
        return 1;
    }
    printf("rebuild: %" PRId64 " of %" PRIu64 " records in %.1f s (%.0f records/s), %.1f s of "
           "CPU on one thread (%.0f records per CPU second)\n",
           added, records, t, (double)added / t, cpu, (double)added / cpu);
    return 0;
}

//  CPU seconds of the calling thread.
static double s_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

//  Times syncs durable appends of size bytes each to fd (a file written
//  ahead), as the privacy log writes its groups: pwrite + fdatasync, or
//  (direct: fd is O_DIRECT | O_DSYNC) one write of the whole blocks they
//  touch, the partial block before them written again. Prints the
//  percentiles and the CPU per write. 0, or -1.
static int s_floor_run(int fd, bool direct, uint64_t syncs, size_t size)
{
    const size_t align = 512;
    uint8_t *buf;
    double *lat = calloc(syncs, sizeof *lat);
    if (!lat || posix_memalign((void **)&buf, 4096, size + 2 * align)) {
        free(lat);
        return -1;
    }
    memset(buf, 0x5a, size + 2 * align);
    int rc = 0;
    double cpu = s_thread_cpu();
    for (uint64_t i = 0; i < syncs && !rc; i++) {
        uint64_t off = i * size, start = direct ? off / align * align : off;
        size_t n = direct ? (off + size - start + align - 1) / align * align : size;
        double t = s_now();
        rc = pwrite(fd, buf, n, (off_t)start) == (ssize_t)n ? (direct ? 0 : fdatasync(fd)) : -1;
        lat[i] = (s_now() - t) * 1e6;
    }
    cpu = (s_thread_cpu() - cpu) / (double)syncs * 1e6;
    if (rc)
        fprintf(stderr, "logbench: write or fdatasync failed: %s\n", strerror(errno));
    else {
        qsort(lat, syncs, sizeof *lat, s_cmp);
        printf("sync floor: %" PRIu64 " appends of %zu B %s over written blocks: p50 %.0f us, "
               "p90 %.0f us, p99 %.0f us, max %.0f us; CPU %.1f us per write\n",
               syncs, size, direct ? "with O_DIRECT | O_DSYNC" : "+ fdatasync", lat[syncs / 2],
               lat[syncs * 9 / 10], lat[syncs * 99 / 100], lat[syncs - 1], cpu);
    }
    free(buf);
    free(lat);
    return rc;
}

//  The disk's own cost of a commit: times syncs appends of size bytes to
//  a file of dir written ahead, each followed by fdatasync, then the same
//  through O_DIRECT | O_DSYNC (the privacy log's way with its direct
//  option). 0, or 1.
static int s_sync_floor(const char *dir, uint64_t syncs, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sync-floor.tmp", dir);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "logbench: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "logbench: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    static const uint8_t zeros[64 * 1024];
    off_t end = (off_t)(syncs * size + sizeof zeros);
    int rc = 0;
    for (off_t at = 0; at < end && !rc; at += (off_t)sizeof zeros)
        rc = pwrite(fd, zeros, sizeof zeros, at) == (ssize_t)sizeof zeros ? 0 : -1;
    if (rc || fsync(fd)) {
        fprintf(stderr, "logbench: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        unlink(path);
        return 1;
    }
    rc = s_floor_run(fd, false, syncs, size);
    close(fd);
    fd = rc ? -1 : open(path, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
    if (fd >= 0) {
        rc = s_floor_run(fd, true, syncs, size);
        close(fd);
    } else if (!rc)
        printf("sync floor: no O_DIRECT here (%s)\n", strerror(errno));
    unlink(path);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"records", required_argument, NULL, 'n'},
        {"people", required_argument, NULL, 'p'},
        {"queries", required_argument, NULL, 'q'},
        {"window", required_argument, NULL, 'w'},
        {"key", required_argument, NULL, 'k'},
        {"query-only", no_argument, NULL, 'Q'},
        {"index-only", no_argument, NULL, 'O'},
        {"reindex", no_argument, NULL, 'R'},
        {"index-after", no_argument, NULL, 'A'},
        {"sync-floor", no_argument, NULL, 'S'},
        {"syncs", required_argument, NULL, 's'},
        {"sync-size", required_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *key = NULL;
    uint64_t records = 1000000, people = 0, queries = 1000, window = 100000;
    bool query_only = false, sync_floor = false, reindex = false, index_after = false;
    bool index_only = false;
    uint64_t syncs = 2000, sync_size = 512;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            records = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            people = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            queries = strtoull(optarg, NULL, 10);
            break;
        case 'w':
            window = strtoull(optarg, NULL, 10);
            break;
        case 'k':
            key = optarg;
            break;
        case 'Q':
            query_only = true;
            break;
        case 'O':
            index_only = true;
            break;
        case 'R':
            reindex = true;
            break;
        case 'A':
            index_after = reindex = true;
            break;
        case 'S':
            sync_floor = true;
            break;
        case 's':
            syncs = strtoull(optarg, NULL, 10);
            break;
        case 'z':
            sync_size = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            printf("usage: logbench --dir DIR [--records N] [--people P] [--queries Q] "
                   "[--window W] [--key FILE] [--query-only] [--reindex] [--index-after]\n"
                   "       [--index-only]   (queries time the index alone, no record read)\n"
                   "       logbench --dir DIR --sync-floor [--syncs N] [--sync-size B]   (the "
                   "disk's fdatasync "
                   "floor)\n");
            return 0;
        default:
            return 2;
        }
    }
    if (dir && sync_floor && syncs && sync_size >= 1 && sync_size <= (1u << 20))
        return s_sync_floor(dir, syncs, (size_t)sync_size);
    if (!dir || !records || !window) {
        fprintf(stderr, "logbench: --dir DIR is required (a folder that does not exist yet)\n");
        return 2;
    }
    if (!people)
        people = records / 10 ? records / 10 : 1; //  ~10 records per person
    struct stat st;
    uint64_t state = 88172645463325252ull;
    char logdir[4200], error[256];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    if (query_only && reindex && s_reindex(logdir, records))
        return 1;
    if (query_only)
        return s_queries(logdir, records, people, queries, state, s_first_time(logdir), index_only);
    if (!stat(dir, &st)) {
        fprintf(stderr, "logbench: %s exists; give a new folder\n", dir);
        return 2;
    }
    char keyfile[4200];
    if (!key) {
        mkdir(dir, 0700);
        snprintf(keyfile, sizeof keyfile, "%s/bench.key", dir);
        if (kp_privlog_keygen(keyfile, error, sizeof error)) {
            fprintf(stderr, "logbench: %s\n", error);
            return 1;
        }
        key = keyfile;
    }
    kp_privlog_options_t opt;
    kp_privlog_options_default(&opt);
    opt.key_file = key;
    //  --index-after: no indexer while writing (it runs on an idle core
    //  only, and a shared machine may have none); the index is built
    //  after the write, on this thread, and timed.
    opt.index = !index_after;
    kp_logger_t *logger = kp_logger_new(logdir, &opt, NULL, error, sizeof error);
    if (!logger) {
        fprintf(stderr, "logbench: %s\n", error);
        return 1;
    }
    zpoller_t *poller = zpoller_new(kp_logger_sock(logger), NULL);
    uint64_t t0 = (uint64_t)time(NULL) * 1000000u;
    double start = s_now();
    for (uint64_t i = 0; i < records; i++) {
        //  Handed over in batches, as the node does once per loop turn.
        if ((i & 63) == 0 || i - kp_logger_durable(logger) >= window)
            kp_logger_flush(logger);
        while (i - kp_logger_durable(logger) >= window) {
            zpoller_wait(poller, 10);
            if (kp_logger_recv(logger)) {
                fprintf(stderr, "logbench: %s\n", kp_logger_error(logger));
                return 1;
            }
        }
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        char person[12], id[32];
        s_person(state % people, person);
        snprintf(id, sizeof id, "bench-%" PRIu64, i);
        Kp__LogRecord r = KP__LOG_RECORD__INIT;
        Kp__LogPart part = KP__LOG_PART__INIT, *parts[1] = {&part};
        r.request_id = id;
        r.has_time_unix_us = 1;
        r.time_unix_us = t0 + i;
        r.message = (char *)s_messages[i % 8];
        r.user = "bench-app";
        r.sender_kbo = (char *)s_kbos[i % 4];
        r.has_sector = r.has_type = 1;
        r.sector = 17;
        r.type = 3;
        r.person = person;
        r.has_capacity = 1;
        r.capacity = 1;
        r.has_status = 1;
        r.status = KP__STATUS__OK;
        part.kbo = (char *)s_kbos[(i + 1) % 4];
        part.has_status = 1;
        part.status = KP__STATUS__OK;
        r.parts = parts;
        r.n_parts = 1;
        r.has_latency_us = 1;
        r.latency_us = 250;
        r.node = "bench";
        if (!kp_logger_log(logger, &r)) {
            fprintf(stderr, "logbench: %s\n", kp_logger_error(logger));
            return 1;
        }
        if ((i & 0xfffff) == 0 && i && isatty(2))
            fprintf(stderr, "\r%" PRIu64 " records", i);
    }
    kp_logger_flush(logger);
    while (kp_logger_durable(logger) < records) {
        zpoller_wait(poller, 10);
        if (kp_logger_recv(logger)) {
            fprintf(stderr, "logbench: %s\n", kp_logger_error(logger));
            return 1;
        }
    }
    double durable = s_now() - start;
    zpoller_destroy(&poller);
    kp_logger_destroy(&logger); //  waits for the index to catch up
    double indexed = s_now() - start;
    printf("write: %" PRIu64 " records durable in %.2f s: %.0f records/s (group commit, window "
           "%" PRIu64 "); ",
           records, durable, (double)records / durable, window);
    if (index_after)
        printf("no indexer while writing\n");
    else
        printf("indexed by %.2f s (%.2f s after the write; the indexer runs on an idle core "
               "only)\n",
               indexed, indexed - durable);

    if (reindex && s_reindex(logdir, records))
        return 1;
    return s_queries(logdir, records, people, queries, state, t0, index_only);
}
