/*  cmd_cluster.c - kpctl cluster: the consensus over the directory as the
    operators see it.

      status               every node of the cluster file: role, term,
                           leader, indexes, directory sequence and checksum,
                           staleness, last contact
      transfer-leadership  hand leadership to a node
      add-node, remove-node  membership changes, through consensus

    Each node is asked over its admin socket ("status", "directory.checksum",
    "cluster.transfer|add|remove"); membership changes and transfers go to
    the leader (a follower names it: cli/admin follows).
*/
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cluster.h"
#include "commands.h"
#include "options.h"

#define S_ERR 1024

typedef struct {
    const char *cluster, *node, *to;
    bool json;
    int timeout_ms;
} s_options_t;

static const char *s_help_status =
    "usage: kpctl cluster status -c CLUSTER-FILE [--json] [--timeout MS]\n\n"
    "Asks every node of the cluster file for its view of the cluster: its raft role\n"
    "(leader, follower, candidate), term, the leader it knows, commit and applied index,\n"
    "the directory's sequence and checksum (SHA-256 of its export: equal on nodes that\n"
    "applied the same updates), how long since it last heard from a majority, and whether\n"
    "it is stale (past stale-limit: it sends clients away with NO_QUORUM), and where its\n"
    "privacy log's copy on the other site stands (the mirror node, the records it has not\n"
    "acknowledged yet, DEGRADED while the log is kept on this site only, HELD while\n"
    "responses wait for the mirror because the node has no majority either). A node that\n"
    "does not answer is shown as such. Exit status 1 when a node did not answer or two\n"
    "nodes at the same sequence show different checksums.\n\n"
    "  -c, --config FILE   the cluster file\n"
    "      --json          one JSON document: {\"nodes\":[...],\"leader\":...}\n"
    "      --timeout MS    how long to wait for each node's status (default 2000; five\n"
    "                      times as long for its checksum)\n";

static const char *s_help_transfer =
    "usage: kpctl cluster transfer-leadership --to NODE -c CLUSTER-FILE [--timeout MS]\n\n"
    "Asks the leader to hand leadership to NODE (a voter of the cluster file), e.g.\n"
    "before maintenance of the leader's machine. Sent to any node: a follower names\n"
    "the leader and kpctl goes there.\n\n"
    "  --to NODE           the node to lead (without it: the most up-to-date voter)\n"
    "  -c, --config FILE   the cluster file\n"
    "      --timeout MS    how long to wait (default 10000)\n";

static const char *s_help_add =
    "usage: kpctl cluster add-node NODE -c CLUSTER-FILE [--timeout MS]\n\n"
    "Adds NODE to the cluster's membership through consensus, with the role the\n"
    "cluster file gives it (voter, witness or learner). NODE must be in the file,\n"
    "at the end (raft ids are places in the file) and marked join = true so that it\n"
    "does not start a cluster of its own; start it, then add it. It catches up from a\n"
    "snapshot and the log.\n\n"
    "  -c, --config FILE   the cluster file\n"
    "      --timeout MS    how long to wait (default 10000)\n";

static const char *s_help_remove =
    "usage: kpctl cluster remove-node NODE -c CLUSTER-FILE [--timeout MS]\n\n"
    "Takes NODE out of the cluster's membership through consensus. Its process may\n"
    "then be stopped; the remaining voters must still form a majority. NODE may be\n"
    "the leader: it hands leadership to another voter first, which removes it. The\n"
    "removed node is told: it stops voting, answers clients UNAVAILABLE naming its\n"
    "removal, and 'kpctl status' on it says \"removed from the cluster\" (until it is\n"
    "added again with add-node).\n\n"
    "  -c, --config FILE   the cluster file\n"
    "      --timeout MS    how long to wait (default 10000)\n";

//  Options; returns -1 to go on, else an exit status (0 after --help).
static int s_parse(int argc, char **argv, const char *help, int timeout_ms, s_options_t *o)
{
    memset(o, 0, sizeof *o);
    kpctl_options_t common = {.timeout_ms = timeout_ms};
    const kpctl_option_t own[] = {{"to", 0, &o->to, NULL}};
    int rc = kpctl_options_parse(argc, argv, argv[0], help, own, 1, &common);
    if (rc >= 0)
        return rc;
    o->node = common.node;
    o->json = common.json;
    o->timeout_ms = common.timeout_ms;
    o->cluster = kpctl_cluster_file(common.cluster);
    if (!o->cluster)
        return kpctl_usage_error(argv[0], "give the cluster file with -c FILE (or KP_CLUSTER)");
    return -1;
}

//  ---------------------------------------------------------------------
//  status

//  One node's answers: its status's "raft" object and its checksum.
typedef struct {
    const kp_node_config_t *config;
    json_t *raft;     //  NULL when the node did not answer
    json_t *checksum; //  {"seq","records","sha256"} or NULL
    json_t *mirror;   //  its log's copy on the other site (status "log"."mirror"), or NULL
    char error[256];
} s_view_t;

static json_t *s_ask(kpctl_admin_t *admin, const char *command, char *err, size_t errlen)
{
    Kp__AdminReply *reply = kpctl_admin_command(admin, command, NULL, err, errlen);
    json_t *json = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    return json;
}

static void s_view(const char *file, const kp_node_config_t *node, int timeout_ms, s_view_t *view)
{
    memset(view, 0, sizeof *view);
    view->config = node;
    char err[S_ERR] = "";
    kpctl_admin_t *admin = kpctl_admin_new(file, node->name, timeout_ms, err, sizeof err);
    json_t *status = admin ? s_ask(admin, "status", err, sizeof err) : NULL;
    if (status) {
        view->raft = json_incref(json_object_get(status, "raft"));
        view->mirror = json_incref(json_object_get(json_object_get(status, "log"), "mirror"));
        json_decref(status);
        //  The node hashes its whole directory for this (about a second
        //  per million records): more time than for a status.
        kpctl_admin_destroy(&admin);
        admin = kpctl_admin_new(file, node->name, timeout_ms * 5, err, sizeof err);
        view->checksum = admin ? s_ask(admin, "directory.checksum", err, sizeof err) : NULL;
    }
    if (!view->raft)
        snprintf(view->error, sizeof view->error, "%s", *err ? err : "no cluster status");
    kpctl_admin_destroy(&admin);
}

static const char *s_text(json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static uint64_t s_number(json_t *object, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(object, key));
}

//  Checksums of two nodes at the same sequence differ: the directories
//  diverged (they should never).
static bool s_diverged(const s_view_t *views, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++) {
            if (!views[i].checksum || !views[j].checksum)
                continue;
            if (s_number(views[i].checksum, "seq") == s_number(views[j].checksum, "seq") &&
                strcmp(s_text(views[i].checksum, "sha256"), s_text(views[j].checksum, "sha256")))
                return true;
        }
    return false;
}

static void s_status_text(const s_view_t *views, size_t count)
{
    printf("%-10s %-10s %-8s %-10s %5s %-10s %8s %8s %8s %-12s %9s %-5s %s\n", "NODE", "SITE",
           "MEMBER", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "SEQ", "CHECKSUM", "CONTACT",
           "STALE", "LOG MIRROR");
    for (size_t i = 0; i < count; i++) {
        const s_view_t *v = &views[i];
        if (!v->raft) {
            printf("%-10s %-10s %-8s no answer: %s\n", v->config->name, v->config->site,
                   kp_config_role_name(v->config->role), v->error);
            continue;
        }
        char contact[32], mirror[96] = "-";
        if (v->mirror)
            snprintf(mirror, sizeof mirror, "%s lag %" PRIu64 "%s", s_text(v->mirror, "node"),
                     s_number(v->mirror, "lag_records"),
                     json_is_true(json_object_get(v->mirror, "held"))       ? " HELD"
                     : json_is_true(json_object_get(v->mirror, "degraded")) ? " DEGRADED"
                                                                            : "");
        snprintf(contact, sizeof contact, "%.1fs",
                 (double)s_number(v->raft, "last_contact_ms") / 1000.0);
        printf("%-10s %-10s %-8s %-10s %5" PRIu64 " %-10s %8" PRIu64 " %8" PRIu64 " %8" PRIu64
               " %-12.12s %9s %-5s %s\n",
               v->config->name, v->config->site, s_text(v->raft, "member"), s_text(v->raft, "role"),
               s_number(v->raft, "term"),
               *s_text(v->raft, "leader") ? s_text(v->raft, "leader") : "-",
               s_number(v->raft, "commit_index"), s_number(v->raft, "applied_index"),
               v->checksum ? s_number(v->checksum, "seq") : s_number(v->raft, "directory_seq"),
               v->checksum ? s_text(v->checksum, "sha256") : "?", contact,
               json_is_true(json_object_get(v->raft, "stale")) ? "STALE" : "no", mirror);
    }
}

static void s_status_json(const s_view_t *views, size_t count, bool diverged)
{
    json_t *nodes = json_array();
    const char *leader = "";
    for (size_t i = 0; i < count; i++) {
        const s_view_t *v = &views[i];
        json_t *node = json_object();
        json_object_set_new(node, "node", json_string(v->config->name));
        json_object_set_new(node, "site", json_string(v->config->site));
        json_object_set_new(node, "answered", json_boolean(v->raft != NULL));
        if (v->raft) {
            json_object_update(node, v->raft);
            if (!strcmp(s_text(v->raft, "role"), "leader"))
                leader = v->config->name;
        } else
            json_object_set_new(node, "error", json_string(v->error));
        if (v->checksum) {
            json_object_set(node, "checksum", json_object_get(v->checksum, "sha256"));
            json_object_set(node, "records", json_object_get(v->checksum, "records"));
        }
        if (v->mirror)
            json_object_set(node, "log_mirror", v->mirror);
        json_array_append_new(nodes, node);
    }
    json_t *root = json_object();
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "leader", json_string(leader));
    json_object_set_new(root, "diverged", json_boolean(diverged));
    char *text = json_dumps(root, JSON_COMPACT);
    puts(text ? text : "{}");
    free(text);
    json_decref(root);
}

static int s_status(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_status, 2000, &o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return kpctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    kp_cluster_config_t *config = kpctl_cluster_load("cluster status", o.cluster);
    if (!config)
        return 2;
    s_view_t *views = calloc(config->node_count, sizeof *views);
    bool missing = false;
    for (size_t i = 0; i < config->node_count; i++) {
        s_view(o.cluster, &config->nodes[i], o.timeout_ms, &views[i]);
        missing |= views[i].raft == NULL;
    }
    bool diverged = s_diverged(views, config->node_count);
    if (o.json)
        s_status_json(views, config->node_count, diverged);
    else {
        s_status_text(views, config->node_count);
        if (diverged)
            printf("\nDIVERGED: two nodes at one sequence hold different directories; compare "
                   "their exports (kpctl directory export --node NODE)\n");
    }
    for (size_t i = 0; i < config->node_count; i++) {
        json_decref(views[i].raft);
        json_decref(views[i].checksum);
        json_decref(views[i].mirror);
    }
    free(views);
    free(config);
    return missing || diverged ? 1 : 0;
}

//  ---------------------------------------------------------------------
//  transfer-leadership, add-node, remove-node

static int s_change(const s_options_t *o, const char *verb, const char *command, const char *arg)
{
    char err[S_ERR];
    kpctl_admin_t *admin = kpctl_admin_new(o->cluster, o->node, o->timeout_ms, err, sizeof err);
    Kp__AdminReply *reply =
        admin ? kpctl_admin_command(admin, command, arg, err, sizeof err) : NULL;
    if (!reply) {
        fprintf(stderr, "kpctl cluster %s: %s\n", verb, err);
        kpctl_admin_destroy(&admin);
        return 1;
    }
    if (o->json)
        printf("{\"ok\":true,\"node\":\"%s\",\"via\":\"%s\"}\n", arg ? arg : "",
               kpctl_admin_node(admin));
    else
        printf("%s %s: done (through %s)\n", verb, arg ? arg : "", kpctl_admin_node(admin));
    kp__admin_reply__free_unpacked(reply, NULL);
    kpctl_admin_destroy(&admin);
    return 0;
}

static int s_transfer(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_transfer, 10000, &o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return kpctl_usage_error(argv[0], "unexpected argument '%s'; name the node with --to",
                                 argv[optind]);
    return s_change(&o, "transfer-leadership", "cluster.transfer", o.to);
}

static int s_membership(int argc, char **argv, const char *help, const char *command)
{
    s_options_t o;
    int rc = s_parse(argc, argv, help, 10000, &o);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1)
        return kpctl_usage_error(argv[0], "give one NODE of the cluster file");
    return s_change(&o, argv[0], command, argv[optind]);
}

static int s_add(int argc, char **argv)
{
    return s_membership(argc, argv, s_help_add, "cluster.add");
}

static int s_remove(int argc, char **argv)
{
    return s_membership(argc, argv, s_help_remove, "cluster.remove");
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: kpctl cluster COMMAND -c CLUSTER-FILE [OPTIONS]\n\n"
                 "commands:\n"
                 "  status                     every node's view: role, term, leader, indexes,\n"
                 "                             directory sequence and checksum, staleness\n"
                 "  transfer-leadership --to NODE   hand leadership to NODE\n"
                 "  add-node NODE              add a node of the file to the membership\n"
                 "  remove-node NODE           take a node out of the membership\n\n"
                 "'kpctl cluster COMMAND --help' tells more about each.\n");
}

int kpctl_cluster(int argc, char **argv)
{
    static const kpctl_command_t commands[] = {{"status", s_status, NULL},
                                               {"transfer-leadership", s_transfer, NULL},
                                               {"add-node", s_add, NULL},
                                               {"remove-node", s_remove, NULL}};
    return kpctl_dispatch("kpctl cluster", commands, sizeof commands / sizeof commands[0], s_usage,
                          argc, argv);
}
