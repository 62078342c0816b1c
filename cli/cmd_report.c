/*  cmd_report.c - kpctl report sla and kpctl report access: reports for
    managers and auditors from a node's privacy log (and, for access, its
    directory), as text, JSON and an SVG chart.

    The log is read through the log library's reader (kp_privlog_scan),
    also while the node runs.
*/
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "cluster.h"
#include "commands.h"
#include "directory.h"
#include "options.h"
#include "privlog.h"
#include "progress.h"
#include "sla.h"
#include "validate.h"

typedef struct {
    const char *data, *log, *cluster, *node;
    const char *from, *to, *quarter, *svg;
    bool json, progress;
    char data_buf[PATH_MAX], log_buf[PATH_MAX + 8];
} s_args_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: kpctl report sla --from DATE --to DATE [--svg FILE] [--json] TARGET\n"
            "       kpctl report access --quarter YYYYQn [--svg FILE] [--json] TARGET\n\n"
            "sla     per message type and overall, the share of requests answered within\n"
            "        1 s, 2 s and 4 s against the contract (online 99%% within 1 s and 99.5%%\n"
            "        within 2 s; integrated services 99%% within 4 s), the worst hours, and\n"
            "        with --svg a chart of the shares per hour (per day over more than\n"
            "        three days) against the targets\n"
            "access  refusals of the preventive control per reason, per institution and\n"
            "        per month; the institutions and users refused most; the users of the\n"
            "        directory that sent nothing in the quarter; with --svg a chart of the\n"
            "        refusals per month by reason\n\n"
            "TARGET (one of):\n"
            "  --data DIR            a node's data folder (the log is DIR/log, the\n"
            "                        directory DIR/directory)\n"
            "  --log DIR             a log folder itself (then no directory: no list of\n"
            "                        unused users)\n"
            "  -c FILE [--node NAME] the data folder of a node of the cluster file, on\n"
            "                        this machine (default: $KP_CLUSTER, the first node)\n\n"
            "  --from, --to DATE     the first and last day, YYYY-MM-DD (UTC)\n"
            "  --quarter YYYYQn      e.g. 2026Q3\n"
            "  --svg FILE            also write the chart\n"
            "  --json                the report as one JSON document on stdout\n"
            "  --progress            a progress line on stderr (default on a terminal)\n"
            "  -h, --help            this text\n\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, s_args_t *a)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},    {"log", required_argument, NULL, 'L'},
        {"config", required_argument, NULL, 'c'},  {"node", required_argument, NULL, 'n'},
        {"from", required_argument, NULL, 'f'},    {"to", required_argument, NULL, 't'},
        {"quarter", required_argument, NULL, 'q'}, {"svg", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},          {"progress", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->data = optarg;
            break;
        case 'L':
            a->log = optarg;
            break;
        case 'c':
            a->cluster = optarg;
            break;
        case 'n':
            a->node = optarg;
            break;
        case 'f':
            a->from = optarg;
            break;
        case 't':
            a->to = optarg;
            break;
        case 'q':
            a->quarter = optarg;
            break;
        case 's':
            a->svg = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'p':
            a->progress = true;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            return kpctl_usage_error("report", "unknown or incomplete option '%s'",
                                     argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kpctl_usage_error("report", "unexpected argument '%s'", argv[optind]);
    if ((a->data != NULL) + (a->log != NULL) + (a->cluster != NULL) > 1)
        return kpctl_usage_error("report", "give one of --data, --log and -c");
    if (!a->data && !a->log) {
        int rc = kpctl_cluster_data(argv[0], a->cluster, a->node, a->data_buf, sizeof a->data_buf);
        if (rc < 0)
            return 2;
        if (rc > 0)
            return kpctl_usage_error("report",
                                     "no log: give --data DIR, --log DIR or -c FILE (or set "
                                     "KP_CLUSTER)");
        a->data = a->data_buf;
    }
    if (a->data) {
        snprintf(a->log_buf, sizeof a->log_buf, "%s/log", a->data);
        a->log = a->log_buf;
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  Reading the log

typedef struct {
    kp_sla_t *sla;
    kp_access_t *access;
    kpctl_progress_t progress;
    uint64_t records;
} s_scan_t;

static int s_on_record(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    (void)seq;
    s_scan_t *scan = arg;
    if (scan->sla)
        kp_sla_add(scan->sla, record);
    if (scan->access)
        kp_access_add(scan->access, record);
    if (++scan->records % 65536 == 0)
        kpctl_progress_update(&scan->progress, scan->records, 0);
    return 0;
}

static int s_scan(const char *command, const s_args_t *a, s_scan_t *scan, int32_t from, int32_t to)
{
    char what[PATH_MAX + 16], error[256];
    snprintf(what, sizeof what, "reading %s", a->log);
    kpctl_progress_init(&scan->progress, what, "records", a->progress || isatty(2), 0);
    int rc = kp_privlog_scan(a->log, from, to, s_on_record, scan, error, sizeof error);
    kpctl_progress_end(&scan->progress, scan->records);
    if (rc < 0) {
        fprintf(stderr, "kpctl report %s: %s: %s\n", command, a->log, error);
        return 1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The directory's users, for the access report

static int s_on_directory_record(const Kp__DirectoryRecord *record, void *arg)
{
    if (record->record_case == KP__DIRECTORY_RECORD__RECORD_USER && record->user->id)
        kp_access_user((kp_access_t *)arg, record->user->id, record->user->kbo);
    return 0;
}

static int s_users(const s_args_t *a, kp_access_t *access)
{
    if (!a->data)
        return 0; //  --log: no directory
    char path[PATH_MAX + 16], file[PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/directory", a->data);
    snprintf(file, sizeof file, "%s/data.mdb", path);
    struct stat st;
    if (stat(file, &st) != 0) {
        fprintf(stderr,
                "kpctl report access: no directory in %s; the list of unused users "
                "stays empty\n",
                path);
        return 0;
    }
    kp_directory_t *dir = kp_directory_new(path, err, sizeof err);
    MDB_txn *txn = dir ? kp_directory_read_begin(dir, err, sizeof err) : NULL;
    int rc = txn ? kp_directory_each(dir, txn, s_on_directory_record, access) : -1;
    kp_directory_read_end(&txn);
    kp_directory_destroy(&dir);
    if (rc < 0)
        fprintf(stderr, "kpctl report access: %s: %s\n", path, err);
    return rc < 0 ? 1 : 0;
}

//  ---------------------------------------------------------------------
//  The reports

static int s_sla(const s_args_t *a)
{
    int32_t from, to;
    if (!a->from || !a->to)
        return kpctl_usage_error("report", "sla needs --from DATE and --to DATE");
    if (kp_date_parse(a->from, &from) || kp_date_parse(a->to, &to))
        return kpctl_usage_error("report", "--from and --to are dates, YYYY-MM-DD");
    if (from > to)
        return kpctl_usage_error("report", "--from is after --to");
    if (to - from > 3660)
        return kpctl_usage_error("report", "at most ten years at once");
    s_scan_t scan = {kp_sla_new(from, to), NULL, {0}, 0};
    int rc = s_scan("sla", a, &scan, from, to);
    char err[1024];
    if (!rc && a->svg && kp_sla_svg(scan.sla, a->svg, err, sizeof err)) {
        fprintf(stderr, "kpctl report sla: %s\n", err);
        rc = 1;
    }
    if (!rc && a->json)
        kp_sla_json(scan.sla, stdout);
    else if (!rc)
        kp_sla_text(scan.sla, stdout);
    kp_sla_destroy(&scan.sla);
    return rc;
}

static int s_access(const s_args_t *a)
{
    if (!a->quarter)
        return kpctl_usage_error("report", "access needs --quarter YYYYQn (e.g. 2026Q3)");
    kp_access_t *access = kp_access_new(a->quarter);
    if (!access)
        return kpctl_usage_error("report", "'%s' is not a quarter: write YYYYQn, e.g. 2026Q3",
                                 a->quarter);
    int32_t from, to;
    kp_access_days(access, &from, &to);
    s_scan_t scan = {NULL, access, {0}, 0};
    int rc = s_scan("access", a, &scan, from, to);
    if (!rc)
        rc = s_users(a, access);
    char err[1024];
    if (!rc && a->svg && kp_access_svg(access, a->svg, err, sizeof err)) {
        fprintf(stderr, "kpctl report access: %s\n", err);
        rc = 1;
    }
    if (!rc && a->json)
        kp_access_json(access, stdout);
    else if (!rc)
        kp_access_text(access, stdout);
    kp_access_destroy(&access);
    return rc;
}

int kpctl_report(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *which = argv[1];
    if (strcmp(which, "sla") && strcmp(which, "access"))
        return kpctl_usage_error("report", "unknown report '%s'; there are sla and access", which);
    s_args_t a;
    memset(&a, 0, sizeof a);
    int rc = s_parse(argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    return !strcmp(which, "sla") ? s_sla(&a) : s_access(&a);
}
