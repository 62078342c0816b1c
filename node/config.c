/*  config.c - the cluster file. */
#include "config.h"
#include "mutation.h"
#include "validate.h"

#include <czmq.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void s_copy(char *dest, size_t size, const char *value)
{
    snprintf(dest, size, "%s", value ? value : "");
}

//  The line of the cluster file that sets key (the last part of a ZPL
//  path), counted from 1; 0 when no line does. zconfig keeps no line
//  numbers, and an operator wants the line, not the path.
static int s_line_of(const char *text, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *key = slash ? slash + 1 : path;
    size_t key_len = strlen(key);
    int line = 1;
    for (const char *p = text; *p; line++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!strncmp(p, key, key_len) && strchr(" \t=", p[key_len]) && p[key_len])
            return line;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return 0;
}

//  Reads an unsigned number between min and max, or the fallback when the
//  key is absent. Numbers past 64 bits (ERANGE) and past max are refused:
//  a heartbeat of 2^32 ms must not wrap to 0 in a 32-bit field.
static int s_number(zconfig_t *root, const char *text, const char *path, uint64_t min, uint64_t max,
                    uint64_t fallback, uint64_t *out, char *err, size_t errlen)
{
    const char *value = zconfig_get(root, path, NULL);
    if (!value) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long number = strtoull(value, &end, 10);
    int line = s_line_of(text, path);
    if (*value < '0' || *value > '9' || *end != '\0') {
        snprintf(err, errlen, "line %d: %s = '%s' is not a number; write digits only", line, path,
                 value);
        return -1;
    }
    if (errno == ERANGE || number < min || number > max) {
        snprintf(err, errlen, "line %d: %s = %s is out of range; give a number from %llu to %llu",
                 line, path, value, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = number;
    return 0;
}

//  The line on which the nth (from 0) entry called name (a node, not a
//  "key = value") starts, counted from 1; 0 when there is none.
static int s_entry_line(const char *text, const char *name, int nth)
{
    size_t len = strlen(name);
    int line = 1, found = 0;
    for (const char *p = text; *p; line++) {
        while (*p == ' ' || *p == '\t')
            p++;
        //  Past the name only once it is there: the text may end sooner.
        if (!strncmp(p, name, len) && strchr(" \t\r\n#", p[len])) {
            const char *after = p + len;
            while (*after == ' ' || *after == '\t')
                after++;
            if (*after != '=' && found++ == nth)
                return line;
        }
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return 0;
}

static int s_role(const char *text, kp_role_t *role)
{
    static const char *names[] = {"voter", "witness", "learner"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *role = (kp_role_t)i;
            return 0;
        }
    return -1;
}

const char *kp_config_role_name(kp_role_t role)
{
    return role == KP_ROLE_WITNESS ? "witness" : role == KP_ROLE_LEARNER ? "learner" : "voter";
}

//  Reads one node section of the cluster file into node, checking its
//  endpoints and role. 0, or -1 with err naming the line and the fix.
static int s_load_node(zconfig_t *item, const char *text, kp_node_config_t *node, char *err,
                       size_t errlen)
{
    s_copy(node->name, sizeof node->name, zconfig_name(item));
    s_copy(node->site, sizeof node->site, zconfig_get(item, "site", ""));
    s_copy(node->data, sizeof node->data, zconfig_get(item, "data", ""));
    s_copy(node->client, sizeof node->client, zconfig_get(item, "client", ""));
    s_copy(node->worker, sizeof node->worker, zconfig_get(item, "worker", ""));
    s_copy(node->admin, sizeof node->admin, zconfig_get(item, "admin", ""));
    s_copy(node->metrics, sizeof node->metrics, zconfig_get(item, "metrics", ""));
    s_copy(node->cert, sizeof node->cert, zconfig_get(item, "cert", ""));
    s_copy(node->public_key, sizeof node->public_key, zconfig_get(item, "public-key", ""));
    s_copy(node->peer, sizeof node->peer, zconfig_get(item, "peer", ""));
    s_copy(node->peer_bind, sizeof node->peer_bind, zconfig_get(item, "peer-bind", node->peer));
    s_copy(node->mirror, sizeof node->mirror, zconfig_get(item, "mirror", ""));
    s_copy(node->log_mirror, sizeof node->log_mirror, zconfig_get(item, "log-mirror", ""));
    int line = s_entry_line(text, node->name, 0);
    const char *join = zconfig_get(item, "join", "false");
    if (strcmp(join, "true") && strcmp(join, "false")) {
        snprintf(err, errlen, "line %d: node %s: join is \"true\" or \"false\", not '%s'", line,
                 node->name, join);
        return -1;
    }
    node->join = !strcmp(join, "true");
    const char *role = zconfig_get(item, "role", "voter");
    if (s_role(role, &node->role)) {
        snprintf(err, errlen,
                 "line %d: node %s has an unknown role '%s'; use role = \"voter\", "
                 "\"witness\" or \"learner\"",
                 line, node->name, role);
        return -1;
    }
    bool witness = node->role == KP_ROLE_WITNESS;
    const char *missing = NULL;
    if (!*node->admin)
        missing = "admin";
    if (!witness && !*node->worker)
        missing = "worker";
    if (!witness && !*node->client)
        missing = "client";
    if (missing) {
        snprintf(err, errlen, "line %d: node %s has no %s endpoint; add '%s = \"tcp://host:port\"'",
                 line, node->name, missing, missing);
        return -1;
    }
    if (!*node->site) {
        snprintf(err, errlen, "line %d: node %s has no site; add 'site = \"NAME\"' (where it runs)",
                 line, node->name);
        return -1;
    }
    if (!*node->data) {
        char name[KP_CONFIG_NAME];
        s_copy(name, sizeof name, node->name);
        snprintf(node->data, sizeof node->data, "var/%s", name);
    }
    return 0;
}

//  Checks the nodes as one raft group: unique names, peer endpoints on
//  all or none, an odd number of votes.
static int s_check_cluster(const char *text, kp_cluster_config_t *out, char *err, size_t errlen)
{
    size_t peers = 0, voters = 0, witnesses = 0;
    for (size_t i = 0; i < out->node_count; i++) {
        kp_node_config_t *node = &out->nodes[i];
        node->raft_id = i + 1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(out->nodes[j].name, node->name)) {
                snprintf(err, errlen,
                         "line %d: a second node called %s (the first is on line %d); give "
                         "each node its own name",
                         s_entry_line(text, node->name, 1), node->name,
                         s_entry_line(text, node->name, 0));
                return -1;
            }
        peers += *node->peer != '\0';
        voters += node->role == KP_ROLE_VOTER;
        witnesses += node->role == KP_ROLE_WITNESS;
    }
    out->clustered = peers > 0;
    for (size_t i = 0; out->clustered && i < out->node_count; i++)
        if (!*out->nodes[i].peer) {
            snprintf(err, errlen,
                     "line %d: node %s has no peer endpoint while others have one; add "
                     "'peer = \"tcp://host:port\"' (the cluster's own traffic)",
                     s_entry_line(text, out->nodes[i].name, 0), out->nodes[i].name);
            return -1;
        }
    if (!out->clustered && witnesses) {
        snprintf(err, errlen,
                 "line %d: a witness only makes sense in a cluster; give every node a "
                 "'peer' endpoint, or remove the witness",
                 s_entry_line(text, "node", 0));
        return -1;
    }
    if (out->clustered && voters == 0) {
        snprintf(err, errlen,
                 "line %d: the cluster has no voter; give at least one node "
                 "role = \"voter\"",
                 s_entry_line(text, "node", 0));
        return -1;
    }
    if (witnesses > 1) {
        snprintf(err, errlen, "line %d: more than one witness; keep one (in a third place)",
                 s_entry_line(text, "node", 0));
        return -1;
    }
    if (out->clustered && voters % 2 == 0 && !witnesses) {
        snprintf(err, errlen,
                 "line %d: %zu voters and no witness: an even number of votes cannot survive "
                 "the loss of half of them; add a node with role = \"witness\" in a third "
                 "place, or make one voter a learner",
                 s_entry_line(text, "node", 0), voters);
        return -1;
    }
    return 0;
}

//  The cluster's raft settings.
static int s_load_raft(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                       size_t errlen)
{
    uint64_t stale, election, heartbeat, threshold, trailing, mib, share, small, max_entries;
    if (s_number(root, text, "cluster/stale-limit", 0, 86400 * 7, 300, &stale, err, errlen) ||
        s_number(root, text, "cluster/election-timeout", 10, 600000, 1000, &election, err,
                 errlen) ||
        s_number(root, text, "cluster/raft-heartbeat", 5, 60000, 100, &heartbeat, err, errlen) ||
        s_number(root, text, "cluster/snapshot-threshold", 2, 1000000, 1024, &threshold, err,
                 errlen) ||
        s_number(root, text, "cluster/snapshot-trailing", 0, 1000000, 128, &trailing, err,
                 errlen) ||
        s_number(root, text, "cluster/snapshot-mib", 1, 65536, 256, &mib, err, errlen) ||
        s_number(root, text, "cluster/snapshot-share", 0, 1000, 50, &share, err, errlen) ||
        s_number(root, text, "cluster/snapshot-small-mib", 0, 65536, 16, &small, err, errlen) ||
        s_number(root, text, "cluster/snapshot-max-entries", 2, 100000000, 65536, &max_entries, err,
                 errlen))
        return -1;
    if (election < 2 * heartbeat) {
        snprintf(err, errlen,
                 "line %d: election-timeout must be at least twice the raft-heartbeat (%llu ms)",
                 s_line_of(text, "cluster/election-timeout"), (unsigned long long)heartbeat);
        return -1;
    }
    if (trailing > threshold) {
        snprintf(err, errlen, "line %d: snapshot-trailing must not exceed snapshot-threshold",
                 s_line_of(text, "cluster/snapshot-trailing"));
        return -1;
    }
    out->stale_limit_s = (uint32_t)stale;
    out->election_timeout_ms = (uint32_t)election;
    out->raft_heartbeat_ms = (uint32_t)heartbeat;
    out->snapshot_threshold = (uint32_t)threshold;
    out->snapshot_trailing = (uint32_t)trailing;
    out->snapshot_mib = (uint32_t)mib;
    out->snapshot_share = (uint32_t)share;
    out->snapshot_small_mib = (uint32_t)small;
    //  A threshold above the default ceiling raises it (files written
    //  before the ceiling existed); one set below the threshold is a mistake.
    if (zconfig_get(root, "cluster/snapshot-max-entries", NULL) && max_entries < threshold) {
        snprintf(err, errlen, "line %d: snapshot-max-entries must not be below snapshot-threshold",
                 s_line_of(text, "cluster/snapshot-max-entries"));
        return -1;
    }
    out->snapshot_max_entries = (uint32_t)(max_entries > threshold ? max_entries : threshold);
    return 0;
}

//  How the privacy log is kept on two sites (log/mirror.h).
static int s_load_mirror(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                         size_t errlen)
{
    uint64_t timeout;
    if (s_number(root, text, "cluster/log-mirror-timeout", 10, 600000, 1000, &timeout, err, errlen))
        return -1;
    out->log_mirror_timeout_ms = (uint32_t)timeout;
    const char *mode = zconfig_get(root, "cluster/log-durability", "local");
    if (strcmp(mode, "local") && strcmp(mode, "two-sites")) {
        snprintf(err, errlen, "line %d: log-durability is \"local\" or \"two-sites\", not '%s'",
                 s_line_of(text, "cluster/log-durability"), mode);
        return -1;
    }
    out->log_two_sites = !strcmp(mode, "two-sites");
    return 0;
}

//  When a provider worker's part goes to a sibling too (broker/hedge.h).
static int s_load_hedge(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                        size_t errlen)
{
    uint64_t min, max;
    if (s_number(root, text, "cluster/hedge-min", 0, UINT32_MAX, 100, &min, err, errlen) ||
        s_number(root, text, "cluster/hedge-max", 1, UINT32_MAX, 1000, &max, err, errlen))
        return -1;
    if (max < min) {
        snprintf(err, errlen, "line %d: hedge-max (%llu ms) must be at least hedge-min (%llu ms)",
                 s_line_of(text, "cluster/hedge-max"), (unsigned long long)max,
                 (unsigned long long)min);
        return -1;
    }
    out->hedge_min_ms = (uint32_t)min;
    out->hedge_max_ms = (uint32_t)max;
    return 0;
}

//  A duration: days ("30") or a number with a unit ("30d", "12h", "90m",
//  "45s"), from 1 s to 3653 days, into seconds.
static int s_days(zconfig_t *root, const char *text, const char *path, uint64_t fallback_days,
                  uint64_t *seconds, char *err, size_t errlen)
{
    const char *value = zconfig_get(root, path, NULL);
    if (!value) {
        *seconds = fallback_days * 86400;
        return 0;
    }
    static const struct {
        char unit;
        uint64_t seconds;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    char *end;
    errno = 0;
    unsigned long long number = strtoull(value, &end, 10);
    uint64_t scale = *end ? 0 : 86400;
    for (size_t i = 0; i < sizeof units / sizeof units[0] && end[0] && !end[1]; i++)
        if (*end == units[i].unit)
            scale = units[i].seconds;
    if (*value < '0' || *value > '9' || !scale || errno == ERANGE ||
        number > 3653ULL * 86400 / scale || number == 0) {
        snprintf(err, errlen,
                 "line %d: %s = '%s' is not a duration from 1 s to 3653 days; write days "
                 "(\"30\") or a number with a unit (\"30d\", \"12h\", \"90m\", \"45s\")",
                 s_line_of(text, path), path, value);
        return -1;
    }
    *seconds = number * scale;
    return 0;
}

//  Change notifications (broker/mutation.h, node/notify.h).
static int s_load_mutations(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                            size_t errlen)
{
    uint64_t retention, timeout, backoff, payload, window, batch, replay;
    if (s_days(root, text, "cluster/mutation-retention", KP_MUTATION_DEFAULT_RETENTION_DAYS,
               &retention, err, errlen) ||
        s_number(root, text, "cluster/mutation-ack-timeout", 10, 600000, 2000, &timeout, err,
                 errlen) ||
        s_number(root, text, "cluster/mutation-max-backoff", 10, 3600000, 60000, &backoff, err,
                 errlen) ||
        s_number(root, text, "cluster/mutation-max-payload", 0, 4 << 20,
                 KP_MUTATION_DEFAULT_MAX_PAYLOAD, &payload, err, errlen) ||
        s_number(root, text, "cluster/mutation-window", 1, 65536, 256, &window, err, errlen) ||
        s_number(root, text, "cluster/mutation-batch", 0, 1000, 20, &batch, err, errlen) ||
        s_days(root, text, "cluster/mutation-replay-window", KP_MUTATION_DEFAULT_RETENTION_DAYS,
               &replay, err, errlen))
        return -1;
    out->mutation_retention_s = retention;
    out->mutation_retention_days = (uint32_t)((retention + 86399) / 86400);
    out->mutation_ack_timeout_ms = (uint32_t)timeout;
    out->mutation_max_backoff_ms = (uint32_t)(backoff < timeout ? timeout : backoff);
    out->mutation_max_payload = (size_t)payload;
    out->mutation_window = (uint32_t)window;
    out->mutation_batch_ms = (uint32_t)batch;
    out->mutation_replay_window_s = replay;
    return 0;
}

//  The "limits" section's keys: range, default, and where each goes.
static const struct {
    const char *path;
    uint32_t min, max, fallback;
    size_t offset;
} s_limit_keys[] = {
    {"limits/max-connections", 1, 1000000, 4096, offsetof(kp_limits_config_t, max_connections)},
    {"limits/max-in-flight", 1, 1000000, 1024, offsetof(kp_limits_config_t, max_in_flight)},
    {"limits/max-deadline", 1, 86400000, 60000, offsetof(kp_limits_config_t, max_deadline_ms)},
    {"limits/max-waiting", 1, 10000000, 10000, offsetof(kp_limits_config_t, max_waiting)},
    {"limits/max-concurrency", 1, 65536, 256, offsetof(kp_limits_config_t, max_concurrency)},
    {"limits/max-workers", 1, 65536, 64, offsetof(kp_limits_config_t, max_workers)},
    {"limits/max-hello", 64, 1 << 24, 16384, offsetof(kp_limits_config_t, max_hello)},
    {"limits/handshake", 100, 3600000, 5000, offsetof(kp_limits_config_t, handshake_ms)},
};

#define S_LIMIT_KEYS (sizeof s_limit_keys / sizeof s_limit_keys[0])

void kp_config_limits_default(kp_limits_config_t *limits)
{
    for (size_t i = 0; i < S_LIMIT_KEYS; i++)
        *(uint32_t *)((char *)limits + s_limit_keys[i].offset) = s_limit_keys[i].fallback;
}

//  The "limits" section: every key optional, each within its range.
static int s_load_limits(zconfig_t *root, const char *text, kp_limits_config_t *limits,
                         uint32_t deadline_ms, char *err, size_t errlen)
{
    for (size_t i = 0; i < S_LIMIT_KEYS; i++) {
        uint64_t value;
        if (s_number(root, text, s_limit_keys[i].path, s_limit_keys[i].min, s_limit_keys[i].max,
                     s_limit_keys[i].fallback, &value, err, errlen))
            return -1;
        *(uint32_t *)((char *)limits + s_limit_keys[i].offset) = (uint32_t)value;
    }
    if (deadline_ms > limits->max_deadline_ms) {
        snprintf(err, errlen,
                 "line %d: cluster/deadline = %u is longer than limits/max-deadline (%u ms); "
                 "lower the one or raise the other",
                 s_line_of(text, "cluster/deadline"), deadline_ms, limits->max_deadline_ms);
        return -1;
    }
    return 0;
}

//  The privacy log's segment size: whole MiB, within its bounds, with an
//  error that says what the key is for.
static int s_load_segment(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                          size_t errlen)
{
    const char *path = "cluster/log-segment-mib";
    uint64_t mib;
    if (!s_number(root, text, path, KP_CONFIG_SEGMENT_MIB_MIN, KP_CONFIG_SEGMENT_MIB_MAX,
                  KP_CONFIG_SEGMENT_MIB_DEFAULT, &mib, err, errlen)) {
        out->log_segment_mib = (uint32_t)mib;
        return 0;
    }
    const char *value = zconfig_get(root, path, "");
    if (strspn(value, "0123456789") == strlen(value)) //  digits: out of range, not a typo
        snprintf(err, errlen,
                 "line %d: %s = %s is out of range: the privacy log's segments are whole MiB "
                 "from %d to %d (default %d)",
                 s_line_of(text, path), path, value, KP_CONFIG_SEGMENT_MIB_MIN,
                 KP_CONFIG_SEGMENT_MIB_MAX, KP_CONFIG_SEGMENT_MIB_DEFAULT);
    return -1;
}

//  Reads the cluster section and every node section of root into out,
//  range-checking each number. 0, or -1 with err naming the line.
static int s_load(zconfig_t *root, const char *text, kp_cluster_config_t *out, char *err,
                  size_t errlen)
{
    uint64_t heartbeat, max_frame, deadline, retention, free_warn;
    if (s_number(root, text, "cluster/heartbeat", 10, UINT32_MAX, 1000, &heartbeat, err, errlen) ||
        s_number(root, text, "cluster/log-free-warn-mb", 0, UINT32_MAX, 1024, &free_warn, err,
                 errlen) ||
        s_number(root, text, "cluster/max-frame", 1024, INT32_MAX / 4, 1 << 20, &max_frame, err,
                 errlen) ||
        s_number(root, text, "cluster/deadline", 1, UINT32_MAX, 3000, &deadline, err, errlen) ||
        s_number(root, text, "cluster/log-retention-days", 1, UINT32_MAX, 3653, &retention, err,
                 errlen) ||
        s_load_raft(root, text, out, err, errlen) || s_load_segment(root, text, out, err, errlen))
        return -1;
    out->heartbeat_ms = (uint32_t)heartbeat;
    out->max_frame = (size_t)max_frame;
    out->deadline_ms = (uint32_t)deadline;
    out->log_retention_days = (uint32_t)retention;
    out->log_free_warn_mb = (uint32_t)free_warn;
    if (s_load_mirror(root, text, out, err, errlen) || s_load_hedge(root, text, out, err, errlen) ||
        s_load_mutations(root, text, out, err, errlen) ||
        s_load_limits(root, text, &out->limits, out->deadline_ms, err, errlen))
        return -1;
    s_copy(out->name, sizeof out->name, zconfig_get(root, "cluster/name", "kruispunt"));
    s_copy(out->log_key, sizeof out->log_key, zconfig_get(root, "cluster/log-key", ""));
    s_copy(out->kbo, sizeof out->kbo, zconfig_get(root, "cluster/kbo", ""));
    if (*out->kbo && !kp_kbo_valid(out->kbo)) {
        snprintf(err, errlen,
                 "line %d: kbo '%s' is not a valid KBO (10 digits, mod-97 check): the broker's "
                 "own institution, which answers the register message types",
                 s_line_of(text, "cluster/kbo"), out->kbo);
        return -1;
    }
    const char *insecure = zconfig_get(root, "cluster/insecure", "false");
    if (strcmp(insecure, "true") && strcmp(insecure, "false")) {
        snprintf(err, errlen, "cluster/insecure: '%s' is neither true nor false", insecure);
        return -1;
    }
    out->insecure = !strcmp(insecure, "true");
    zconfig_t *nodes = zconfig_locate(root, "node");
    for (zconfig_t *item = nodes ? zconfig_child(nodes) : NULL; item; item = zconfig_next(item)) {
        if (out->node_count == KP_CONFIG_MAX_NODES) {
            snprintf(err, errlen, "more than %d nodes in one cluster file", KP_CONFIG_MAX_NODES);
            return -1;
        }
        if (s_load_node(item, text, &out->nodes[out->node_count++], err, errlen))
            return -1;
    }
    if (out->node_count == 0) {
        snprintf(err, errlen, "no node defined; add a 'node' section with one entry per node");
        return -1;
    }
    return s_check_cluster(text, out, err, errlen);
}

int kp_config_parse(const char *text, kp_cluster_config_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    zconfig_t *root = zconfig_str_load(text);
    if (!root) {
        snprintf(err, errlen, "not valid ZPL (indent by 4 spaces, 'name = value')");
        return -1;
    }
    int rc = s_load(root, text, out, err, errlen);
    zconfig_destroy(&root);
    return rc;
}

int kp_config_load(const char *path, kp_cluster_config_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, errlen,
                 "cluster file '%s' cannot be read (%s); give one with -c FILE "
                 "(cluster-config/single.cfg is an example)",
                 path, strerror(errno));
        return -1;
    }
    char *text = malloc(KP_CONFIG_MAX_FILE + 1);
    size_t size = text ? fread(text, 1, KP_CONFIG_MAX_FILE + 1, file) : 0;
    fclose(file);
    if (!text || size > KP_CONFIG_MAX_FILE) {
        snprintf(err, errlen, "cluster file '%s' is larger than %d bytes", path,
                 KP_CONFIG_MAX_FILE);
        free(text);
        return -1;
    }
    text[size] = '\0';
    //  The text in a block of its own size: a reader that runs past its
    //  end meets the end of the block (and ASan), not a megabyte of slack.
    char *exact = realloc(text, size + 1);
    if (exact)
        text = exact;
    char problem[KP_CONFIG_ERR];
    int rc = kp_config_parse(text, out, problem, sizeof problem);
    if (rc)
        snprintf(err, errlen, "cluster file '%s': %s", path, problem);
    free(text);
    return rc;
}

const kp_node_config_t *kp_config_node(const kp_cluster_config_t *config, const char *name)
{
    if (!name)
        return config->node_count ? &config->nodes[0] : NULL;
    for (size_t i = 0; i < config->node_count; i++)
        if (!strcmp(config->nodes[i].name, name))
            return &config->nodes[i];
    return NULL;
}

const kp_node_config_t *kp_config_node_by_id(const kp_cluster_config_t *config, uint64_t id)
{
    return id >= 1 && id <= config->node_count ? &config->nodes[id - 1] : NULL;
}

const kp_node_config_t *kp_config_log_mirror(const kp_cluster_config_t *config,
                                             const kp_node_config_t *node)
{
    if (*node->log_mirror) {
        const kp_node_config_t *named = kp_config_node(config, node->log_mirror);
        return named && *named->mirror && named != node ? named : NULL;
    }
    for (size_t i = 0; i < config->node_count; i++) {
        const kp_node_config_t *other = &config->nodes[i];
        if (other->role == KP_ROLE_VOTER && *other->mirror && strcmp(other->site, node->site))
            return other;
    }
    return NULL;
}
