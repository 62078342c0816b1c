/*  admin.c - the node's answers to operators. */
#include "admin.h"
#include "forward.h"

#include <czmq.h>
#include <string.h>
#include <sys/resource.h>

#include "dirreport.h"
#include "json.h"

static int s_worker_json(kp_registry_worker_t *worker, void *arg)
{
    kp_json_t *json = (kp_json_t *)arg;
    kp_json_object_open(json);
    kp_json_kv_string(json, "kbo", kp_registry_worker_kbo(worker));
    kp_json_key(json, "messages");
    kp_json_array_open(json);
    for (size_t i = 0; i < kp_registry_worker_message_count(worker); i++)
        kp_json_string(json, kp_registry_worker_message(worker, i));
    kp_json_array_close(json);
    kp_json_kv_uint(json, "concurrency", kp_registry_worker_concurrency(worker));
    kp_json_kv_uint(json, "outstanding", kp_registry_worker_outstanding(worker));
    kp_json_key(json, "suspect");
    kp_json_bool(json, kp_registry_worker_is_suspect(worker));
    kp_json_object_close(json);
    return 0;
}

//  The cluster as this node sees it: raft's state, the leader, how far the
//  log is committed and applied, and how stale the directory may be.
static void s_cluster_json(kp_admin_context_t *context, kp_json_t *json)
{
    const kp_cluster_status_t *raft = context->raft;
    const kp_cluster_config_t *cluster = context->cluster;
    kp_json_object_open(json);
    kp_json_kv_string(json, "node", context->me->name);
    kp_json_kv_string(json, "site", context->me->site);
    kp_json_kv_string(json, "member",
                      raft->removed ? "removed" : kp_config_role_name(context->me->role));
    if (raft->removed) {
        char text[256];
        snprintf(text, sizeof text,
                 "removed from the cluster by %s (term %llu): it votes for no one and serves "
                 "nothing; stop it, or add it again (kpctl cluster add-node %s)",
                 *raft->removed_by ? raft->removed_by : "the leader",
                 (unsigned long long)raft->removed_term, context->me->name);
        kp_json_kv_string(json, "removed", text);
    }
    kp_json_kv_string(json, "role", kp_cluster_state_name(raft->state));
    kp_json_kv_uint(json, "term", raft->term);
    kp_json_kv_string(json, "leader", raft->leader);
    kp_json_kv_string(json, "last_leader", raft->last_leader);
    kp_json_kv_uint(json, "commit_index", raft->commit_index);
    kp_json_kv_uint(json, "applied_index", raft->applied_index);
    kp_json_kv_uint(json, "last_index", raft->last_index);
    kp_json_kv_uint(json, "snapshot_index", raft->snapshot_index);
    kp_json_kv_uint(json, "directory_seq", raft->directory_seq);
    kp_json_kv_uint(json, "members", raft->members);
    kp_json_kv_uint(json, "voters", raft->voters);
    //  Staleness: how long since this node last heard from a majority
    //  (through the leader); past stale-limit it refuses requests.
    int64_t stale = context->stale_ms;
    kp_json_kv_uint(json, "last_contact_ms", (uint64_t)stale);
    kp_json_kv_uint(json, "stale_limit_s", cluster->stale_limit_s);
    kp_json_key(json, "stale");
    kp_json_bool(json, stale > (int64_t)cluster->stale_limit_s * 1000);
    kp_json_kv_uint(json, "applied", raft->applied);
    kp_json_kv_uint(json, "replayed", raft->replayed);
    kp_json_kv_uint(json, "refused", raft->refused);
    kp_json_kv_uint(json, "duplicates", raft->duplicates);
    kp_json_kv_uint(json, "snapshots", raft->snapshots);
    kp_json_kv_uint(json, "snapshot_bytes", raft->snapshot_bytes);
    kp_json_kv_uint(json, "since_snapshot_bytes", raft->since_snapshot_bytes);
    if (*raft->snapshot_due)
        kp_json_kv_string(json, "snapshot_due", raft->snapshot_due);
    kp_json_kv_uint(json, "restores", raft->restores);
    kp_forward_stats_json(json, &raft->forward);
    //  Frames on the peer port: taken, and refused by reason (an intruder
    //  or a member speaking for another shows here).
    kp_json_key(json, "peer_frames");
    kp_json_object_open(json);
    kp_json_kv_uint(json, "in", raft->io.frames_in);
    kp_json_kv_uint(json, "out", raft->io.frames_out);
    kp_json_key(json, "refused");
    kp_json_object_open(json);
    for (int i = 1; i < KP_RAFTWIRE_REASONS; i++)
        kp_json_kv_uint(json, kp_raftwire_reason_name((kp_raftwire_reason_t)i),
                        raft->io.refused[i]);
    kp_json_object_close(json);
    kp_json_object_close(json);
    kp_json_object_close(json);
}

//  Where this node's log copy stands (log/mirror.h).
static void s_mirror_json(const kp_admin_context_t *context, kp_json_t *json)
{
    kp_json_key(json, "mirror");
    kp_json_object_open(json);
    kp_json_kv_string(json, "node", context->log_mirror);
    kp_json_kv_uint(json, "acked_seq", context->log_mirror_acked);
    uint64_t lag = context->log_durable > context->log_mirror_acked
                       ? context->log_durable - context->log_mirror_acked
                       : 0;
    kp_json_kv_uint(json, "lag_records", lag);
    kp_json_key(json, "degraded");
    kp_json_bool(json, context->log_mirror_degraded);
    kp_json_kv_uint(json, "degradations", context->log_mirror_degradations);
    kp_json_key(json, "held");
    kp_json_bool(json, context->log_mirror_held);
    //  the open range of records marked local-only (log/localonly.h)
    if (context->log_mirror_local_from)
        kp_json_kv_uint(json, "local_only_from", context->log_mirror_local_from);
    kp_json_object_close(json);
}

//  Handshakes per ZAP domain, connections closed for a revoked key, and
//  what the log keeper refused.
static void s_security_json(const kp_admin_context_t *context, kp_json_t *json)
{
    kp_json_key(json, "security");
    kp_json_object_open(json);
    kp_json_key(json, "secure");
    kp_json_bool(json, context->zap != NULL);
    if (context->zap) {
        kp_json_key(json, "handshakes");
        kp_json_object_open(json);
        for (int i = 0; i < KP_ZAP_DOMAINS; i++) {
            kp_json_key(json, kp_zap_domain_name((kp_zap_domain_t)i));
            kp_json_object_open(json);
            kp_json_kv_uint(json, "accepted", context->zap->accepted[i]);
            kp_json_kv_uint(json, "refused", context->zap->refused[i]);
            kp_json_object_close(json);
        }
        kp_json_object_close(json);
        kp_json_kv_uint(json, "revoked_closed", context->revoked);
    }
    if (context->keeper) {
        kp_json_kv_uint(json, "mirror_refused", context->keeper_refused);
        kp_json_kv_uint(json, "mirror_not_its_log", context->keeper_not_its_log);
    }
    kp_json_object_close(json);
}

static char *s_cluster_status(kp_admin_context_t *context)
{
    kp_json_t *json = kp_json_new();
    s_cluster_json(context, json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}

//  The privacy log's spare segment (log/spare.h): its state and why, and
//  where the segments came from.
static void s_spare_json(const kp_spare_counts_t *spare, kp_json_t *json)
{
    char why[256];
    kp_spare_state_why(spare, why, sizeof why);
    kp_json_key(json, "spare");
    kp_json_object_open(json);
    kp_json_kv_string(json, "state", kp_spare_state_name(spare->state));
    kp_json_kv_string(json, "why", why);
    if (spare->state == KP_SPARE_STATE_NO_ROOM) {
        kp_json_kv_uint(json, "room_free_bytes", spare->room_free);
        kp_json_kv_uint(json, "room_needed_bytes", spare->room_needed);
    }
    kp_json_kv_uint(json, "segments_from_spare", spare->taken);
    kp_json_kv_uint(json, "segments_without_spare", spare->made);
    kp_json_kv_uint(json, "removed_for_disk", spare->removed);
    kp_json_kv_uint(json, "written", spare->written);
    kp_json_kv_uint(json, "asked", spare->asked);
    kp_json_kv_uint(json, "answered", spare->answered);
    kp_json_object_close(json);
}

//  The status command's JSON: the node, its directory, workers, counters,
//  the log's state and the cluster as its actor last said.
static char *s_status(kp_admin_context_t *context, MDB_txn *txn)
{
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "node", context->me->name);
    kp_json_kv_string(json, "site", context->me->site);
    kp_json_kv_string(json, "cluster", context->cluster->name);
    kp_json_kv_uint(json, "uptime_s", (uint64_t)(zclock_mono() - context->started_ms) / 1000);
    kp_json_kv_uint(json, "directory_seq", kp_directory_seq(context->directory, txn));
    kp_json_key(json, "raft");
    s_cluster_json(context, json);
    kp_json_kv_uint(json, "in_flight", kp_flight_size(context->flight));
    kp_json_key(json, "stopping");
    kp_json_bool(json, context->stopping);
    kp_json_key(json, "log");
    kp_json_object_open(json);
    kp_json_kv_string(json, "state", context->log_state ? context->log_state : "ok");
    if (context->log_error)
        kp_json_kv_string(json, "error", context->log_error);
    kp_json_kv_uint(json, "free_bytes", context->log_free_bytes);
    kp_json_key(json, "space_low");
    kp_json_bool(json, context->log_space_low);
    kp_json_kv_string(json, "durability", context->cluster->log_two_sites ? "two-sites" : "local");
    if (context->log_spare)
        s_spare_json(context->log_spare, json);
    if (context->log_mirror)
        s_mirror_json(context, json);
    kp_json_object_close(json);
    kp_flight_stats_t flight;
    kp_flight_stats(context->flight, &flight);
    kp_json_key(json, "hedging");
    kp_json_object_open(json);
    kp_json_kv_uint(json, "hedges", flight.hedges);
    kp_json_kv_uint(json, "won_by_second", flight.hedge_wins);
    kp_json_kv_uint(json, "replies_dropped", flight.dropped);
    kp_json_object_close(json);
    kp_json_key(json, "workers");
    kp_json_array_open(json);
    kp_registry_each(context->workers, s_worker_json, json);
    kp_json_array_close(json);
    kp_stats_json(context->stats, json);
    struct rlimit files;
    kp_stats_limits_json(context->stats, json, &context->cluster->limits,
                         getrlimit(RLIMIT_NOFILE, &files) ? 0 : (uint64_t)files.rlim_cur);
    s_security_json(context, json);
    kp_json_object_close(json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}

static int s_window_json(const Kp__DirectoryRecord *record, void *arg)
{
    kp_json_t *json = (kp_json_t *)arg;
    const Kp__Maintenance *m = record->maintenance;
    if (!m)
        return 0;
    kp_json_object_open(json);
    kp_json_kv_uint(json, "id", m->id);
    kp_json_kv_string(json, "kbo", m->kbo);
    kp_json_kv_string(json, "message", m->message);
    kp_json_kv_string(json, "from", m->from);
    kp_json_kv_string(json, "to", m->to);
    kp_json_kv_string(json, "reason", m->reason);
    kp_json_object_close(json);
    return 0;
}

//  The windows of one institution (args[0], a KBO), or all without one.
static char *s_maintenance_list(kp_admin_context_t *context, const Kp__AdminRequest *request,
                                MDB_txn *txn, char *err, size_t errlen)
{
    const char *kbo = request->n_args > 0 ? request->args[0] : NULL;
    if (kbo && !kp_kbo_valid(kbo)) {
        snprintf(err, errlen, "maintenance.list: '%s' is not a valid KBO (10 digits, mod-97)", kbo);
        return NULL;
    }
    kp_json_t *json = kp_json_new();
    kp_json_array_open(json);
    kp_directory_maintenance_each(context->directory, txn, kbo, s_window_json, json);
    kp_json_array_close(json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}

static char *s_checked(char *text, char *err, size_t errlen)
{
    if (!text)
        snprintf(err, errlen, "the directory could not be read; see the node's log");
    return text;
}

static char *s_read_command(kp_admin_context_t *context, const Kp__AdminRequest *request,
                            MDB_txn *txn, char *err, size_t errlen)
{
    const char *command = request->command;
    if (!strcmp(command, "status"))
        return s_status(context, txn);
    if (!strcmp(command, "cluster.status"))
        return s_cluster_status(context);
    if (!strcmp(command, "maintenance.list"))
        return s_maintenance_list(context, request, txn, err, errlen);
    if (!strcmp(command, "directory.stats"))
        return s_checked(kp_dirreport_stats(context->directory, txn), err, errlen);
    if (!strcmp(command, "directory.checksum"))
        return s_checked(kp_dirreport_checksum(context->directory, txn), err, errlen);
    if (!strcmp(command, "directory.export"))
        return s_checked(kp_dirreport_export(context->directory, txn), err, errlen);
    if (!strcmp(command, "directory.person")) {
        if (request->n_args != 1 || !kp_insz_valid(request->args[0])) {
            snprintf(err, errlen, "directory.person needs one valid INSZ (11 digits, mod-97)");
            return NULL;
        }
        return s_checked(kp_dirreport_person(context->directory, txn, request->args[0]), err,
                         errlen);
    }
    if (!strcmp(command, "register.show")) {
        if (request->n_args != 1 || !kp_insz_valid(request->args[0])) {
            snprintf(err, errlen, "register.show needs one valid number (11 digits, mod-97)");
            return NULL;
        }
        return s_checked(kp_dirreport_register(context->directory, txn, request->args[0]), err,
                         errlen);
    }
    snprintf(err, errlen,
             "unknown admin command '%s'; this node knows status, cluster.status, "
             "cluster.transfer, cluster.add, cluster.remove, directory.apply, "
             "directory.stats, directory.person, directory.export, directory.checksum, "
             "maintenance.list, log.query, log.stats, register.show",
             command);
    return NULL;
}

char *kp_admin_handle(kp_admin_context_t *context, const Kp__AdminRequest *request, uint64_t *seq,
                      char *err, size_t errlen)
{
    if (!request->command) {
        snprintf(err, errlen, "the admin request names no command");
        return NULL;
    }
    MDB_txn *txn = kp_directory_read_begin(context->directory, err, errlen);
    if (!txn)
        return NULL;
    *seq = kp_directory_seq(context->directory, txn);
    char *text = s_read_command(context, request, txn, err, errlen);
    kp_directory_read_end(&txn);
    return text;
}
