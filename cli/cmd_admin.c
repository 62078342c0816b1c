/*  cmd_admin.c - kpctl status and kpctl maintenance: a node's state and
    its providers' planned maintenance windows, over the admin socket.

    Maintenance windows are directory records: adding or removing one is a
    DirectoryUpdate through the node's one update path, so windows
    replicate with the rest of the directory.
*/
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "commands.h"
#include "options.h"
#include "validate.h"

#define S_ERR 1024

typedef struct {
    const char *cluster, *node;
    const char *kbo, *message, *from, *to, *reason;
    bool json;
    int timeout_ms;
} s_options_t;

static const char *s_status_help =
    "usage: kpctl status -c CLUSTER-FILE [--node NAME] [--json] [--timeout MS]\n\n"
    "Shows a node's uptime, directory sequence, calls in flight, the provider\n"
    "workers connected per institution and message type, requests counted by\n"
    "status and reason, refused frames, latency percentiles since start, and\n"
    "its limits (the cluster file's \"limits\": each value, and how often it\n"
    "refused; open connections and the open-files limit).\n\n"
    "  -c, --config FILE   the cluster file (default: $KP_CLUSTER)\n"
    "      --node NAME     which node (default: the first in the file)\n"
    "      --json          the node's answer as one JSON document\n"
    "      --timeout MS    how long to wait for the node (default 5000)\n";

static const char *s_maintenance_help =
    "usage: kpctl maintenance add --kbo K [--message M] --from T --to T --reason TEXT -c FILE\n"
    "       kpctl maintenance list [--kbo K] [--json] -c FILE\n"
    "       kpctl maintenance remove ID -c FILE\n\n"
    "Planned maintenance windows of provider institutions. During a window, the\n"
    "node answers requests for that provider (and message type, when given) at\n"
    "once with UNAVAILABLE and the end of the window, instead of waiting.\n"
    "T is YYYY-MM-DDTHH:MM:SSZ (UTC) or YYYY-MM-DD (midnight UTC).\n\n"
    "  -c, --config FILE   the cluster file (default: $KP_CLUSTER)\n"
    "      --node NAME     which node (default: the first in the file)\n"
    "      --json          JSON output\n"
    "      --timeout MS    how long to wait for the node (default 5000)\n";

static int s_usage_error(const char *help, const char *problem, const char *arg)
{
    fprintf(stderr, "kpctl: ");
    fprintf(stderr, problem, arg);
    fprintf(stderr, "\n\n%s", help);
    return 2;
}

//  Parses options; returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, const char *help, s_options_t *o)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"node", required_argument, NULL, 'n'},
                                            {"kbo", required_argument, NULL, 'k'},
                                            {"message", required_argument, NULL, 'm'},
                                            {"from", required_argument, NULL, 'f'},
                                            {"to", required_argument, NULL, 't'},
                                            {"reason", required_argument, NULL, 'r'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"timeout", required_argument, NULL, 'T'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->timeout_ms = 5000;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->cluster = optarg;
            break;
        case 'n':
            o->node = optarg;
            break;
        case 'k':
            o->kbo = optarg;
            break;
        case 'm':
            o->message = optarg;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'T':
            o->timeout_ms = atoi(optarg);
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            return s_usage_error(help, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    o->cluster = kpctl_cluster_file(o->cluster);
    if (!o->cluster)
        return s_usage_error(help, "%s-c CLUSTER-FILE (or KP_CLUSTER) is required", "");
    if (o->timeout_ms <= 0)
        return s_usage_error(help, "%s--timeout must be a positive number of ms", "");
    return -1;
}

int kpctl_status(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_status_help, &o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return s_usage_error(s_status_help, "unexpected argument '%s'", argv[optind]);
    char err[S_ERR];
    kpctl_admin_t *admin = kpctl_admin_new(o.cluster, o.node, o.timeout_ms, err, sizeof err);
    Kp__AdminReply *reply =
        admin ? kpctl_admin_command(admin, "status", NULL, err, sizeof err) : NULL;
    kpctl_admin_destroy(&admin);
    if (!reply) {
        fprintf(stderr, "kpctl status: %s\n", err);
        return 1;
    }
    rc = 0;
    if (o.json)
        printf("%s\n", reply->json);
    else {
        //  For people: one member per line, in the node's order.
        json_error_t jerr;
        json_t *status = json_loads(reply->json, JSON_REJECT_DUPLICATES, &jerr);
        const char *removed =
            json_string_value(json_object_get(json_object_get(status, "raft"), "removed"));
        if (removed) //  first, for the operator who reads only the top
            printf("this node was %s\n", removed);
        if (status) {
            json_dumpf(status, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            putchar('\n');
        } else {
            fprintf(stderr, "kpctl status: the node's answer is not JSON (%s)\n", jerr.text);
            rc = 1;
        }
        json_decref(status);
    }
    kp__admin_reply__free_unpacked(reply, NULL);
    return rc;
}

//  Applies one maintenance op through the node; 0 or 1.
static int s_apply(kpctl_admin_t *admin, Kp__Maintenance *window, bool put, uint64_t *seq)
{
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_MAINTENANCE;
    record.maintenance = window;
    Kp__DirectoryOp op = KP__DIRECTORY_OP__INIT;
    op.has_kind = true;
    op.kind = put ? KP__DIRECTORY_OP__KIND__PUT : KP__DIRECTORY_OP__KIND__DELETE;
    op.record = &record;
    Kp__DirectoryOp *ops[1] = {&op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = 1;
    update.ops = ops;
    update.origin = "kpctl maintenance";
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "directory.apply";
    request.update = &update;
    char err[S_ERR];
    Kp__AdminReply *reply = kpctl_admin_call(admin, &request, err, sizeof err);
    if (!reply) {
        fprintf(stderr, "kpctl maintenance: %s\n", err);
        return 1;
    }
    *seq = reply->seq;
    kp__admin_reply__free_unpacked(reply, NULL);
    return 0;
}

static int s_add(kpctl_admin_t *admin, const s_options_t *o)
{
    int64_t from, to;
    if (!o->kbo || !o->from || !o->to || !o->reason)
        return s_usage_error(s_maintenance_help, "%sadd needs --kbo, --from, --to and --reason",
                             "");
    if (!kp_kbo_valid(o->kbo))
        return s_usage_error(s_maintenance_help, "'%s' is not a valid KBO (10 digits, mod-97)",
                             o->kbo);
    if (kp_time_parse(o->from, &from) || kp_time_parse(o->to, &to))
        return s_usage_error(s_maintenance_help, "%s--from and --to are YYYY-MM-DDTHH:MM:SSZ", "");
    if (from > to)
        return s_usage_error(s_maintenance_help, "%s--from is after --to", "");
    Kp__Maintenance window = KP__MAINTENANCE__INIT;
    window.kbo = (char *)o->kbo;
    window.message = (char *)o->message;
    window.from = (char *)o->from;
    window.to = (char *)o->to;
    window.reason = (char *)o->reason;
    uint64_t seq;
    if (s_apply(admin, &window, true, &seq))
        return 1;
    if (o->json)
        printf("{\"added\":true,\"kbo\":\"%s\",\"seq\":%llu}\n", o->kbo, (unsigned long long)seq);
    else
        printf("maintenance window added for %s (directory seq %llu); 'kpctl maintenance list' "
               "shows its id\n",
               o->kbo, (unsigned long long)seq);
    return 0;
}

static int s_remove(kpctl_admin_t *admin, const s_options_t *o, const char *id_text)
{
    char *end;
    unsigned long long id = strtoull(id_text, &end, 10);
    if (!*id_text || *end || id == 0)
        return s_usage_error(s_maintenance_help, "'%s' is not a window id (see list)", id_text);
    Kp__Maintenance window = KP__MAINTENANCE__INIT;
    window.has_id = true;
    window.id = id;
    uint64_t seq;
    if (s_apply(admin, &window, false, &seq))
        return 1;
    if (o->json)
        printf("{\"removed\":%llu,\"seq\":%llu}\n", id, (unsigned long long)seq);
    else
        printf("maintenance window %llu removed (directory seq %llu)\n", id,
               (unsigned long long)seq);
    return 0;
}

//  A string member of a window, or dflt when it is missing or null.
static const char *s_member(const json_t *window, const char *key, const char *dflt)
{
    const char *text = json_string_value(json_object_get(window, key));
    return text ? text : dflt;
}

//  Prints the windows the node lists (of --kbo only, when given: the node
//  filters) as a table, or its JSON as is with --json.
static int s_list(kpctl_admin_t *admin, const s_options_t *o)
{
    char err[S_ERR];
    Kp__AdminReply *reply = kpctl_admin_command(admin, "maintenance.list", o->kbo, err, sizeof err);
    if (!reply) {
        fprintf(stderr, "kpctl maintenance: %s\n", err);
        return 1;
    }
    json_error_t jerr;
    json_t *list = json_loads(reply->json, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_array(list)) {
        fprintf(stderr,
                "kpctl maintenance: the node's answer is not a JSON list (%s); is it a "
                "kpnode of the same version?\n",
                jerr.text);
        rc = 1;
    } else if (o->json)
        printf("%s\n", reply->json);
    else if (json_array_size(list) == 0)
        printf("no maintenance windows\n");
    else {
        printf("%-6s %-10s %-8s %-20s %-20s %s\n", "ID", "KBO", "MESSAGE", "FROM", "TO", "REASON");
        size_t i;
        json_t *w;
        json_array_foreach(list, i, w)
        {
            printf("%-6" JSON_INTEGER_FORMAT " %-10s %-8s %-20s %-20s %s\n",
                   json_integer_value(json_object_get(w, "id")), s_member(w, "kbo", "-"),
                   s_member(w, "message", "(all)"), s_member(w, "from", "-"),
                   s_member(w, "to", "-"), s_member(w, "reason", ""));
        }
    }
    json_decref(list);
    kp__admin_reply__free_unpacked(reply, NULL);
    return rc;
}

int kpctl_maintenance(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_maintenance_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argv[1][0] == '-')
        return s_usage_error(s_maintenance_help, "add, list or remove is missing before '%s'",
                             argv[1]);
    const char *verb = argv[1];
    s_options_t o;
    int rc = s_parse(argc - 1, argv + 1, s_maintenance_help, &o);
    if (rc >= 0)
        return rc;
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    bool remove = !strcmp(verb, "remove");
    if (strcmp(verb, "add") && strcmp(verb, "list") && !remove)
        return s_usage_error(s_maintenance_help, "unknown maintenance command '%s'", verb);
    if (rest != (remove ? 1 : 0))
        return s_usage_error(s_maintenance_help, "%swrong number of arguments", "");
    char err[S_ERR];
    kpctl_admin_t *admin = kpctl_admin_new(o.cluster, o.node, o.timeout_ms, err, sizeof err);
    if (!admin) {
        fprintf(stderr, "kpctl maintenance: %s\n", err);
        return 1;
    }
    rc = !strcmp(verb, "add") ? s_add(admin, &o)
         : remove             ? s_remove(admin, &o, args[0])
                              : s_list(admin, &o);
    kpctl_admin_destroy(&admin);
    return rc;
}
