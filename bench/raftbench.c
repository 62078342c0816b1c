/*  raftbench - the directory's consensus measured: committed updates per
    second through a cluster of in-process cluster actors (real LMDB on
    disk, real ZeroMQ on loopback), and the time a new member takes to
    receive and install a snapshot of a large directory.

      raftbench --nodes 3 --updates 5000 --window 32
      raftbench --seed-directory DATA/directory   (a directory made with
          gendir | kpctl directory import --data DATA: node-1 starts with
          it, takes a snapshot, and the last node installs it)

    Figures only: nothing here is asserted.
*/
#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "inproc.h"
#include "directory.h"

#define S_MAX KP_INPROC_MAX

typedef struct {
    size_t nodes;
    unsigned updates, window, ops;
    const char *dir;
    const char *seed_directory;
    bool json;
    unsigned snapshot_mib;
} s_args_t;

typedef struct {
    s_args_t args;
    char dir[160];
    kp_inproc_t c;
    uint64_t acked, failed;
    int64_t *sent_us; //  per token
    double *latency_ms;
    size_t latencies;
} s_bench_t;

static void s_configure(s_bench_t *self, uint32_t threshold)
{
    char err[256];
    if (kp_inproc_configure(&self->c, "raftbench", self->dir, self->args.nodes, threshold, err,
                            sizeof err)) {
        fprintf(stderr, "raftbench: %s\n", err);
        exit(1);
    }
    self->c.config.snapshot_mib = self->args.snapshot_mib;
}

static void s_start(s_bench_t *self, size_t i)
{
    char err[512] = "";
    if (kp_inproc_start(&self->c, i, err, sizeof err)) {
        fprintf(stderr, "raftbench: node-%zu: %s\n", i + 1, err);
        exit(1);
    }
}

//  A commit's result: its latency from the time its token was sent.
static void s_on_event(size_t i, const kp_cluster_event_t *event, void *arg)
{
    (void)i;
    s_bench_t *self = arg;
    if (event->type != KP_CLUSTER_EVENT_RESULT || !self->sent_us)
        return;
    if (event->result == KP_CLUSTER_OK) {
        self->acked++;
        self->latency_ms[self->latencies++] =
            (double)(zclock_usecs() - self->sent_us[event->token]) / 1000.0;
    } else
        self->failed++;
}

//  Handles every event waiting, up to ms for the first.
static void s_pump(s_bench_t *self, long ms)
{
    kp_inproc_pump(&self->c, ms, s_on_event, self);
}

static int s_wait_leader(s_bench_t *self)
{
    int64_t until = zclock_mono() + 30000;
    while (kp_inproc_leader(&self->c) < 0 && zclock_mono() < until)
        s_pump(self, 20);
    return kp_inproc_leader(&self->c);
}

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool s_converged(s_bench_t *self, uint64_t seq)
{
    for (size_t i = 0; i < self->args.nodes; i++)
        if (self->c.cluster[i] && kp_directory_seq(self->c.directory[i], NULL) < seq)
            return false;
    return true;
}

//  Starts the cluster, waits for a leader and proposes --updates updates
//  with --window in flight; prints updates/s and commit latencies once
//  every member holds them all.
static void s_throughput(s_bench_t *self)
{
    s_configure(self, 1024);
    for (size_t i = 0; i < self->args.nodes; i++)
        s_start(self, i);
    int leader = s_wait_leader(self);
    if (leader < 0) {
        fprintf(stderr, "raftbench: no leader\n");
        exit(1);
    }
    unsigned total = self->args.updates;
    self->sent_us = calloc(total + 1, sizeof *self->sent_us);
    self->latency_ms = calloc(total + 1, sizeof *self->latency_ms);
    int64_t start = zclock_usecs();
    unsigned sent = 0;
    while (self->acked + self->failed < total) {
        while (sent < total && sent - (self->acked + self->failed) < self->args.window) {
            size_t size;
            uint8_t *data = kp_inproc_update(sent * self->args.ops, self->args.ops, "bench", &size);
            char err[256];
            self->sent_us[sent + 1] = zclock_usecs();
            if (kp_cluster_propose(self->c.cluster[leader], sent + 1, data, size, err, sizeof err))
                fprintf(stderr, "raftbench: %s\n", err);
            free(data);
            sent++;
        }
        s_pump(self, 100);
    }
    double seconds = (double)(zclock_usecs() - start) / 1e6;
    uint64_t seq = kp_directory_seq(self->c.directory[leader], NULL);
    int64_t converge = zclock_mono();
    while (!s_converged(self, seq) && zclock_mono() - converge < 30000)
        s_pump(self, 20);
    qsort(self->latency_ms, self->latencies, sizeof *self->latency_ms, s_compare);
    double p50 = self->latencies ? self->latency_ms[self->latencies / 2] : 0;
    double p99 = self->latencies ? self->latency_ms[self->latencies * 99 / 100] : 0;
    double rate = (double)self->acked / seconds;
    if (self->args.json)
        printf("{\"nodes\":%zu,\"updates\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"window\":%u,\"ops_per_update\":%u,\"seconds\":%.3f,\"updates_per_s\":%.0f,"
               "\"ops_per_s\":%.0f,\"commit_ms_p50\":%.2f,\"commit_ms_p99\":%.2f}\n",
               self->args.nodes, self->acked, self->failed, self->args.window, self->args.ops,
               seconds, rate, rate * self->args.ops, p50, p99);
    else
        printf("raftbench: %zu nodes, %" PRIu64 " updates of %u ops committed in %.2f s: %.0f "
               "updates/s (%.0f ops/s), window %u; commit p50 %.2f ms, p99 %.2f ms; %" PRIu64
               " failed\n",
               self->args.nodes, self->acked, self->args.ops, seconds, rate, rate * self->args.ops,
               self->args.window, p50, p99, self->failed);
    kp_inproc_stop_all(&self->c);
}

//  node-1 starts with a copy of the given directory; once it has taken a
//  snapshot, the last node starts empty and installs it.
static void s_snapshot(s_bench_t *self)
{
    char err[512], path[600];
    s_configure(self, 4);
    kp_directory_t *source = kp_directory_new(self->args.seed_directory, err, sizeof err);
    if (!source) {
        fprintf(stderr, "raftbench: %s\n", err);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/directory", self->c.config.nodes[0].data);
    zsys_dir_create("%s", path);
    snprintf(path, sizeof path, "%s/directory/data.mdb", self->c.config.nodes[0].data);
    FILE *file = fopen(path, "w");
    if (!file || kp_directory_copy(source, fileno(file), err, sizeof err)) {
        fprintf(stderr, "raftbench: cannot seed node-1: %s\n", err);
        exit(1);
    }
    fclose(file);
    kp_directory_destroy(&source);
    size_t last = self->args.nodes - 1;
    for (size_t i = 0; i < last; i++)
        s_start(self, i);
    int leader = s_wait_leader(self);
    if (leader != 0) {
        kp_cluster_transfer(self->c.cluster[leader], 1, 1);
        int64_t until = zclock_mono() + 10000;
        while (kp_inproc_leader(&self->c) != 0 && zclock_mono() < until)
            s_pump(self, 20);
    }
    if (kp_inproc_leader(&self->c) != 0) {
        fprintf(stderr, "raftbench: node-1 did not become leader\n");
        exit(1);
    }
    int64_t taking = zclock_usecs();
    for (unsigned n = 0; n < 6; n++) {
        size_t size;
        uint8_t *data = kp_inproc_update(n, 1, "bench", &size);
        kp_cluster_propose(self->c.cluster[0], n + 1, data, size, err, sizeof err);
        free(data);
    }
    while (kp_inproc_status(&self->c, 0).snapshots == 0)
        s_pump(self, 20);
    double take_s = (double)(zclock_usecs() - taking) / 1e6;
    int64_t start = zclock_usecs();
    s_start(self, last);
    while (kp_inproc_status(&self->c, last).restores == 0)
        s_pump(self, 20);
    double install_s = (double)(zclock_usecs() - start) / 1e6;
    kp_directory_counts_t counts;
    MDB_txn *txn = kp_directory_read_begin(self->c.directory[last], err, sizeof err);
    kp_directory_counts(self->c.directory[last], txn, &counts);
    kp_directory_read_end(&txn);
    struct stat st;
    snprintf(path, sizeof path, "%s/directory/data.mdb", self->c.config.nodes[last].data);
    stat(path, &st);
    if (self->args.json)
        printf("{\"persons\":%zu,\"snapshot_bytes\":%lld,\"take_s\":%.2f,\"install_s\":%.2f}\n",
               counts.persons, (long long)st.st_size, take_s, install_s);
    else
        printf("raftbench: snapshot of %zu person entries (%lld bytes): taken and stored in "
               "%.2f s; sent, checked and installed on a new member in %.2f s\n",
               counts.persons, (long long)st.st_size, take_s, install_s);
    kp_inproc_stop_all(&self->c);
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: raftbench [--nodes N] [--updates U] [--window W] [--ops K] [--dir D] "
                 "[--snapshot-mib M] [--json]\n"
                 "       raftbench --seed-directory PATH [--nodes N] [--dir D] [--json]\n"
                 "Committed directory updates per second through in-process cluster actors,\n"
                 "or the time a new member takes to install a snapshot of PATH.\n");
}

int main(int argc, char **argv)
{
    s_bench_t self = {.args = {3, 2000, 32, 1, NULL, NULL, false, 256}};
    static const struct option longs[] = {{"nodes", required_argument, NULL, 'n'},
                                          {"updates", required_argument, NULL, 'u'},
                                          {"window", required_argument, NULL, 'w'},
                                          {"ops", required_argument, NULL, 'o'},
                                          {"dir", required_argument, NULL, 'd'},
                                          {"seed-directory", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'n')
            self.args.nodes = strtoul(optarg, NULL, 10);
        else if (opt == 'u')
            self.args.updates = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'w')
            self.args.window = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'o')
            self.args.ops = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'd')
            self.args.dir = optarg;
        else if (opt == 's')
            self.args.seed_directory = optarg;
        else if (opt == 'j')
            self.args.json = true;
        else if (opt == 'm')
            self.args.snapshot_mib = (unsigned)strtoul(optarg, NULL, 10);
        else {
            s_usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (self.args.nodes < 1 || self.args.nodes > S_MAX || !self.args.window || !self.args.ops ||
        (self.args.seed_directory && self.args.nodes < 2)) {
        fprintf(stderr,
                "raftbench: 1 to %d nodes (2 or more with --seed-directory), a window "
                "and ops of at least 1, please\n",
                S_MAX);
        return 2;
    }
    zsys_init();
    zsys_set_logstream(NULL);
    if (self.args.dir)
        snprintf(self.dir, sizeof self.dir, "%s", self.args.dir);
    else {
        snprintf(self.dir, sizeof self.dir, "/tmp/raftbench-XXXXXX");
        if (!mkdtemp(self.dir)) {
            perror("raftbench: mkdtemp");
            return 1;
        }
    }
    if (self.args.seed_directory)
        s_snapshot(&self);
    else
        s_throughput(&self);
    if (!self.args.dir) {
        char command[400];
        snprintf(command, sizeof command, "rm -rf '%s'", self.dir);
        if (system(command))
            fprintf(stderr, "raftbench: could not remove %s\n", self.dir);
    }
    free(self.sent_us);
    free(self.latency_ms);
    return 0;
}
