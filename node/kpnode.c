/*  kpnode - the Kruispunt node daemon.

    kpnode --config FILE [--name NODE] [--data DIR]
*/
#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>

#include "config.h"
#include "conns.h"
#include "node.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: kpnode --config FILE [--name NODE] [--data DIR]\n"
                 "\n"
                 "Runs one Kruispunt node of the cluster described in FILE (ZPL; see\n"
                 "cluster-config/single.cfg). The node serves institution clients, provider\n"
                 "workers and operators on the endpoints of its entry in FILE until SIGINT\n"
                 "or SIGTERM, then lets calls in flight finish and stops.\n"
                 "\n"
                 "  -c, --config FILE   the cluster file (required)\n"
                 "  -n, --name NODE     which node of the cluster this is (default: the first)\n"
                 "  -d, --data DIR      data folder (default: the node's 'data' in FILE); it\n"
                 "                      holds DIR/directory and DIR/log\n"
                 "      --unlogged      run without the privacy log (benchmarks of the log's\n"
                 "                      own cost only; never in production)\n"
                 "  -h, --help          this text\n");
}

//  Raises the soft limit of open files to the hard limit, and keeps
//  max-connections below it with room for the node's own files: a node out
//  of descriptors spins in libzmq's accept loop (conns.h).
static void s_file_limit(kp_cluster_config_t *cluster)
{
    uint64_t before, files = kp_conns_raise_file_limit(&before);
    if (files == before)
        zsys_info("kpnode: open files limit %" PRIu64 " (the hard limit, or what it allows)",
                  files);
    else
        zsys_info("kpnode: open files limit raised from %" PRIu64 " to %" PRIu64
                  " (the hard limit)",
                  before, files);
    uint32_t *max = &cluster->limits.max_connections;
    if (files > KP_CONNS_RESERVE && *max > files - KP_CONNS_RESERVE) {
        uint32_t fit = (uint32_t)(files - KP_CONNS_RESERVE);
        zsys_warning("kpnode: limits/max-connections lowered from %u to %u to fit the open files "
                     "limit (%" PRIu64
                     "); raise the hard limit (LimitNOFILE=, ulimit -Hn) for more",
                     *max, fit, files);
        *max = fit;
    }
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'},
        {"data", required_argument, NULL, 'd'},   {"unlogged", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *name = NULL, *data = NULL;
    bool unlogged = false;
    int opt;
    //  Whatever the node makes (folders, the directory, the log, the
    //  cluster's state) is the node's alone: folders 0700, files 0600.
    umask(077);
    while ((opt = getopt_long(argc, argv, "c:n:d:h", options, NULL)) != -1) {
        if (opt == 'c')
            config_path = optarg;
        else if (opt == 'n')
            name = optarg;
        else if (opt == 'd')
            data = optarg;
        else if (opt == 'u')
            unlogged = true;
        else if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc) {
        fprintf(stderr, "kpnode: %s\n",
                config_path ? "unexpected argument" : "--config FILE is required");
        s_usage(stderr);
        return 2;
    }
    char err[512];
    kp_cluster_config_t cluster;
    if (kp_config_load(config_path, &cluster, err, sizeof err)) {
        fprintf(stderr, "kpnode: %s\n", err);
        return 1;
    }
    const kp_node_config_t *me = kp_config_node(&cluster, name);
    if (!me) {
        fprintf(stderr, "kpnode: no node '%s' in %s; name one of its 'node' entries\n", name,
                config_path);
        return 1;
    }
    zsys_init();
    zsys_set_logident("kpnode");
    s_file_limit(&cluster);
    kp_node_t *node = kp_node_new(&cluster, me, data, unlogged, err, sizeof err);
    if (!node) {
        fprintf(stderr, "kpnode: %s\n", err);
        return 1;
    }
    zsys_info("kpnode %s: serving clients on %s, workers on %s, admin on %s", me->name, me->client,
              me->worker, me->admin);
    zsys_info("kpnode %s: raft snapshots after %u entries and, once one is over %u MiB, entries "
              "worth %u%% of its size; or after %u MiB or %u entries",
              me->name, cluster.snapshot_threshold, cluster.snapshot_small_mib,
              cluster.snapshot_share, cluster.snapshot_mib, cluster.snapshot_max_entries);
    if (*me->metrics)
        zsys_info("kpnode %s: metrics and health on http://%s/metrics, /healthz, /readyz", me->name,
                  me->metrics);
    int rc = kp_node_run(node);
    //  The node is finishing: a second SIGINT or SIGTERM must not cut short
    //  the joins of the log's threads (an interrupted join would free what
    //  they still use). SIGKILL still ends it at once.
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    kp_node_destroy(&node);
    return rc;
}
