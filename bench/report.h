/*  report.h - the results of a kpbench run, and how they are shown:
    a table on the terminal, a JSON document, an SVG percentile plot.
*/
#ifndef KP_REPORT_H_INCLUDED
#define KP_REPORT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "histogram.h"
#include "proc.h"
#include "workload.h"

#define KP_STATUS_SLOTS 9 //  Kp__Status values 0..8

//  How the load was made; shown beside the results.
typedef struct {
    const char *mode; //  "closed" or "open"
    unsigned clients;
    unsigned inflight;    //  per client, closed loop
    double rate;          //  total requests/s, open loop
    const char *arrivals; //  open loop: "poisson" or "uniform"; NULL closed
    uint64_t seed;        //  of the poisson send times
    double duration_s;    //  0 when count is used
    uint64_t count;
    double warmup_s;
    size_t size;
    const char *mix;
    uint64_t persons;
    const char *cluster; //  "local" or the cluster file
} kp_bench_config_t;

//  Who spends the CPU of a run.
typedef enum {
    KP_CPU_BROKER,  //  kpnode processes, the proxy process, nats-server
    KP_CPU_WORKERS, //  echo provider / worker processes
    KP_CPU_LOADGEN, //  kpbench itself (with the NATS responder thread)
    KP_CPU_ROLES
} kp_cpu_role_t;

#define KP_BENCH_THREADS 16 //  thread names of a node told apart

typedef struct {
    char target[32];  //  "kruispunt", "zmq-proxy", "nats"
    double elapsed_s; //  length of the measured window
    kp_histogram_t *latency[KP_KIND_COUNT];
    uint64_t sent[KP_KIND_COUNT];       //  in the measured window
    uint64_t answered[KP_KIND_COUNT];   //  first answers
    uint64_t lost[KP_KIND_COUNT];       //  never answered
    uint64_t unexpected[KP_KIND_COUNT]; //  answered, but not as the kind must be
    uint64_t status[KP_KIND_COUNT][KP_STATUS_SLOTS];
    uint64_t duplicates; //  answers to requests already answered
    uint64_t strays;     //  answers to requests we did not send
    uint64_t warmup;     //  answered during the warm-up, not counted
    uint64_t retries;    //  requests sent again after a timeout
    bool chaos;
    //  Request ids the echo providers were given more than once, and the
    //  requests they served, from their own counts when they stopped;
    //  negative when unknown (a cluster given with -c, a provider that
    //  did not report).
    int64_t routed_twice, provider_served;
    uint64_t ok_within_1s; //  answered as expected within 1 s
    double longest_gap_s;  //  longest time without an expected answer
    uint64_t kills;        //  chaos: nodes killed (or stopped) in the run
    uint64_t site_kills;   //  chaos: whole sites killed (or stopped) at once
    //  What the clients' stubs (libkpclient) did, when they were used:
    //  moves to another node, returns to their own site, requests sent
    //  again after a move, and given up (a TIMEOUT of the stub's own).
    bool stub;
    uint64_t failovers, failbacks, resent, given_up;
    //  CPU seconds (user + system, all threads) used in the measured
    //  window, per role; negative when unknown (a remote cluster, no such
    //  processes). cores: online, to say how busy the machine was.
    double cpu_s[KP_CPU_ROLES];
    long cores;
    //  The first local node's CPU seconds in the same window, by thread
    //  (main loop, ZeroMQ I/O, logger, indexer...); thread_count 0 when
    //  unknown (a remote cluster, the node restarted in the window).
    kp_proc_thread_t threads[KP_BENCH_THREADS];
    int thread_count;
} kp_bench_result_t;

kp_bench_result_t *kp_bench_result_new(const char *target);
void kp_bench_result_destroy(kp_bench_result_t **self_p);
//  Adds src's counts and latencies to self (elapsed and gaps excepted).
void kp_bench_result_merge(kp_bench_result_t *self, const kp_bench_result_t *src);

//  Totals over all kinds.
uint64_t kp_bench_result_sent(const kp_bench_result_t *self);
uint64_t kp_bench_result_answered(const kp_bench_result_t *self);
uint64_t kp_bench_result_lost(const kp_bench_result_t *self);
uint64_t kp_bench_result_unexpected(const kp_bench_result_t *self);
double kp_bench_result_throughput(const kp_bench_result_t *self);
//  CPU microseconds per answered request of a role; negative if unknown.
double kp_bench_result_cpu_us(const kp_bench_result_t *self, kp_cpu_role_t role);

//  The service-level verdict: true when all three levels are met.
typedef struct {
    double online_1s, online_2s, integrated_4s; //  fractions met, 1 when none
    uint64_t online, integrated;                //  requests that counted
    bool pass;
} kp_service_levels_t;
void kp_bench_result_levels(const kp_bench_result_t *self, kp_service_levels_t *out);

//  A table per run, and (with several runs) one comparing them with the
//  first. runs[0] is Kruispunt.
void kp_report_table(FILE *out, const kp_bench_config_t *config, kp_bench_result_t **runs,
                     size_t count);
//  0, or -1 with the problem in err.
int kp_report_json(const char *path, const kp_bench_config_t *config, kp_bench_result_t **runs,
                   size_t count, char *err, size_t errlen);
int kp_report_svg(const char *path, kp_bench_result_t **runs, size_t count, char *err,
                  size_t errlen);

#endif
