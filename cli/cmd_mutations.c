/*  cmd_mutations.c - kpctl mutations: the change notifications' queues as
    the operators see them.

      status   every institution's queue: backlog, oldest undelivered,
               expired (older than mutation-retention), delivery rate
      replay   deliver an institution's mutations again from a time on

    Both go to a node's admin socket ("mutations.status",
    "mutations.replay"); a replay is a replicated update, sent on to the
    leader when a follower names it (cli/admin).
*/
#include <getopt.h>
#include <inttypes.h>
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
    const char *cluster, *node, *kbo, *from;
    bool json;
    int timeout_ms;
    char name[32]; //  "mutations status": what errors say the command is
} s_options_t;

static const char *s_help_status =
    "usage: kpctl mutations status -c CLUSTER-FILE [--node NAME] [--kbo K] [--json]\n\n"
    "Shows every institution's mutation queue as the node holds it (the queues are\n"
    "replicated: every node holds the same; the leader delivers, so in flight and the\n"
    "delivery rate are the leader's): backlog (queued, not acknowledged), oldest\n"
    "undelivered, expired (undelivered for longer than the cluster's\n"
    "mutation-retention: the institution has been silent too long; they are kept and\n"
    "reported, never dropped), delivery rate (acknowledgements a second over the last\n"
    "minute), notifies in flight and workers taking them; and this node's forwarding\n"
    "(proposals sent to the leader from here, how they ended; those it received as\n"
    "leader). Exit status 1 when a queue holds expired mutations.\n\n"
    "  -c, --config FILE   the cluster file\n"
    "      --node NAME     the node to ask (default: the first of the file)\n"
    "      --kbo K         only that institution\n"
    "      --json          the node's JSON document\n"
    "      --timeout MS    how long to wait (default 5000)\n";

static const char *s_help_replay =
    "usage: kpctl mutations replay --kbo K --from TIME -c CLUSTER-FILE [--json]\n\n"
    "An institution that lost data asks for a resend: every mutation queued for K at or\n"
    "after TIME that the cluster still keeps becomes undelivered again and is delivered\n"
    "anew, in order (its workers see the same seqs again). A replicated update: sent to\n"
    "the leader (a follower names it). TIME is 2026-11-30T08:00:00Z, 2026-11-30\n"
    "(midnight UTC) or milliseconds since 1970.\n\n"
    "  -c, --config FILE   the cluster file\n"
    "      --kbo K         the institution\n"
    "      --from TIME     from when\n"
    "      --json          {\"seq\":N} (the directory sequence after the replay)\n"
    "      --timeout MS    how long to wait (default 10000)\n";

static int s_parse(int argc, char **argv, const char *help, int timeout_ms, s_options_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "mutations %s", argv[0]);
    kpctl_options_t common = {.timeout_ms = timeout_ms};
    const kpctl_option_t own[] = {{"kbo", 0, &o->kbo, NULL}, {"from", 0, &o->from, NULL}};
    int rc = kpctl_options_parse(argc, argv, o->name, help, own, 2, &common);
    if (rc >= 0)
        return rc;
    o->node = common.node;
    o->json = common.json;
    o->timeout_ms = common.timeout_ms;
    if (optind < argc)
        return kpctl_usage_error(o->name, "unexpected argument '%s'", argv[optind]);
    if (o->kbo && !kp_kbo_valid(o->kbo))
        return kpctl_usage_error(o->name, "--kbo '%s' is not a valid KBO number", o->kbo);
    o->cluster = kpctl_cluster_file(common.cluster);
    if (!o->cluster)
        return kpctl_usage_error(o->name, "give the cluster file with -c FILE (or KP_CLUSTER)");
    return -1;
}

static kpctl_admin_t *s_connect(const s_options_t *o, const char *command)
{
    char err[S_ERR];
    kpctl_admin_t *admin = kpctl_admin_new(o->cluster, o->node, o->timeout_ms, err, sizeof err);
    if (!admin)
        fprintf(stderr, "kpctl mutations %s: %s\n", command, err);
    return admin;
}

static void s_print_queue(json_t *q)
{
    const char *oldest = json_string_value(json_object_get(q, "oldest_undelivered"));
    printf("%-10s %9" PRId64 " %9" PRId64 " %9" PRId64 " %8" PRId64 " %9.1f %6" PRId64 " %4" PRId64
           "  %s\n",
           json_string_value(json_object_get(q, "kbo")),
           (int64_t)json_integer_value(json_object_get(q, "backlog")),
           (int64_t)json_integer_value(json_object_get(q, "enqueued")),
           (int64_t)json_integer_value(json_object_get(q, "acked")),
           (int64_t)json_integer_value(json_object_get(q, "expired")),
           json_number_value(json_object_get(q, "delivery_rate")),
           (int64_t)json_integer_value(json_object_get(q, "in_flight")),
           (int64_t)json_integer_value(json_object_get(q, "workers")), oldest ? oldest : "-");
}

static int s_status(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_status, 5000, &o);
    if (rc >= 0)
        return rc;
    kpctl_admin_t *admin = s_connect(&o, "status");
    if (!admin)
        return 1;
    char err[S_ERR];
    Kp__AdminReply *reply = kpctl_admin_command(admin, "mutations.status", NULL, err, sizeof err);
    json_t *doc = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    if (!doc) {
        fprintf(stderr, "kpctl mutations status: %s\n", *err ? err : "no JSON in the answer");
        kpctl_admin_destroy(&admin);
        return 1;
    }
    json_t *queues = json_object_get(doc, "queues"), *kept = json_array();
    int64_t expired = 0;
    for (size_t i = 0; i < json_array_size(queues); i++) {
        json_t *q = json_array_get(queues, i);
        if (o.kbo && strcmp(json_string_value(json_object_get(q, "kbo")), o.kbo))
            continue;
        json_array_append(kept, q);
        expired += json_integer_value(json_object_get(q, "expired"));
    }
    json_object_set_new(doc, "queues", kept);
    if (o.json) {
        char *text = json_dumps(doc, JSON_COMPACT);
        puts(text ? text : "{}");
        free(text);
    } else {
        printf("node %s (%s); retention %" PRId64 " days\n", kpctl_admin_node(admin),
               json_is_true(json_object_get(doc, "delivering")) ? "delivering: the leader"
                                                                : "not delivering: a follower",
               (int64_t)json_integer_value(json_object_get(doc, "retention_days")));
        printf("%-10s %9s %9s %9s %8s %9s %6s %4s  %s\n", "kbo", "backlog", "queued", "acked",
               "expired", "rate/s", "flight", "wrk", "oldest undelivered");
        for (size_t i = 0; i < json_array_size(kept); i++)
            s_print_queue(json_array_get(kept, i));
        json_t *fw = json_object_get(doc, "forwarding");
        if (fw)
            printf("forwarding to the leader (proposals made here: publishes, acks, ...): %" PRId64
                   " sent, %" PRId64 " applied, %" PRId64 " failed, %" PRId64 " timed out; %" PRId64
                   " received from followers, %" PRId64 " rejected\n",
                   (int64_t)json_integer_value(json_object_get(fw, "forwarded")),
                   (int64_t)json_integer_value(json_object_get(fw, "applied")),
                   (int64_t)json_integer_value(json_object_get(fw, "failures")),
                   (int64_t)json_integer_value(json_object_get(fw, "timeouts")),
                   (int64_t)json_integer_value(json_object_get(fw, "received")),
                   (int64_t)json_integer_value(json_object_get(fw, "rejected")));
        if (expired)
            printf("%" PRId64 " mutation%s undelivered for longer than the retention: the "
                   "institution's workers are silent (kpctl status shows its workers)\n",
                   expired, expired == 1 ? "" : "s");
    }
    json_decref(doc);
    kpctl_admin_destroy(&admin);
    return expired ? 1 : 0;
}

//  TIME as ms since 1970: ISO 8601, a date, or a number of ms.
static int s_time_ms(const char *text, uint64_t *out)
{
    int64_t seconds;
    int32_t days;
    char *end;
    if (kp_time_parse(text, &seconds) == 0 && seconds >= 0) {
        *out = (uint64_t)seconds * 1000;
        return 0;
    }
    if (kp_date_parse(text, &days) == 0 && days >= 0) {
        *out = (uint64_t)days * 86400000ULL;
        return 0;
    }
    unsigned long long ms = strtoull(text, &end, 10);
    if (end != text && !*end && *text != '-') {
        *out = ms;
        return 0;
    }
    return -1;
}

static int s_replay(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_replay, 10000, &o);
    if (rc >= 0)
        return rc;
    uint64_t from;
    if (!o.kbo || !o.from)
        return kpctl_usage_error(o.name, "give --kbo K and --from TIME");
    if (s_time_ms(o.from, &from))
        return kpctl_usage_error(o.name,
                                 "--from '%s': give 2026-11-30T08:00:00Z, 2026-11-30 or ms since "
                                 "1970",
                                 o.from);
    kpctl_admin_t *admin = s_connect(&o, "replay");
    if (!admin)
        return 1;
    char ms[32], err[S_ERR];
    snprintf(ms, sizeof ms, "%" PRIu64, from);
    char *args[] = {(char *)o.kbo, ms};
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "mutations.replay";
    request.args = args;
    request.n_args = 2;
    Kp__AdminReply *reply = kpctl_admin_call(admin, &request, err, sizeof err);
    if (!reply) {
        fprintf(stderr, "kpctl mutations replay: %s\n", err);
        kpctl_admin_destroy(&admin);
        return 1;
    }
    if (o.json)
        printf("{\"seq\":%" PRIu64 "}\n", reply->seq);
    else
        printf("replay of %s from %s committed (directory sequence %" PRIu64
               "); 'kpctl mutations status --kbo %s' shows the backlog\n",
               o.kbo, o.from, reply->seq, o.kbo);
    kp__admin_reply__free_unpacked(reply, NULL);
    kpctl_admin_destroy(&admin);
    return 0;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: kpctl mutations COMMAND -c CLUSTER-FILE [OPTIONS]\n\n"
                 "commands:\n"
                 "  status                  every institution's queue: backlog, oldest\n"
                 "                          undelivered, expired, delivery rate\n"
                 "  replay --kbo K --from TIME   deliver K's mutations again from TIME on\n\n"
                 "'kpctl mutations COMMAND --help' tells more about each.\n");
}

int kpctl_mutations(int argc, char **argv)
{
    static const kpctl_command_t commands[] = {{"status", s_status, NULL},
                                               {"replay", s_replay, NULL}};
    return kpctl_dispatch("kpctl mutations", commands, sizeof commands / sizeof commands[0],
                          s_usage, argc, argv);
}
