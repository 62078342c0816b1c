/*  cmd_log.c - kpctl log (verify, query, stats, prune, export) and kpctl keys.

    Every sub-command works on the files of a node's log folder (the
    node's <data>/log), also while the node runs: segments are only ever
    appended to, and the index is shared through LMDB.
*/
#include <errno.h>
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "admin.h"
#include "cluster.h"
#include "commands.h"
#include "directory.h"
#include "json.h"
#include "logindex.h"
#include "localonly.h"
#include "logreport.h"
#include "options.h"
#include "progress.h"
#include "privlog.h"
#include "validate.h"

typedef struct {
    const char *data;           //  the log folder: <--data>/log, or --log as given
    char directory[4200];       //  <--data>/directory ("" with --log): a person's numbers
    const char *cluster, *node; //  or the data folder of a node of the cluster file
    char data_buf[4096];
    const char *pub;
    const char *person, *institution, *message;
    int32_t from_day, to_day, before_day;
    int32_t retention;
    int64_t wait_ms;       //  query: longest catch-up of the index before answering
    int64_t timeout_ms;    //  -c without --node: how long to wait for each node
    uint64_t limit, after; //  query: a page of limit messages after seq after
    const char *cursor;    //  query -c: --after as given (NODE:SEQ,... or a seq)
    bool json, have_from, have_to, have_before, progress;
    bool cluster_wide; //  query, stats: -c without --node asks every node
} s_args_t;

static void s_usage_log(FILE *out)
{
    fprintf(
        out,
        "usage: kpctl log COMMAND (--data DIR | --log DIR) [OPTIONS]\n\n"
        "commands:\n"
        "  verify  [--from DATE --to DATE] [--pub FILE]   check CRCs, chain and signatures;\n"
        "                                                 name the first bad record\n"
        "  query   --person INSZ | --institution KBO | --message TYPE\n"
        "          [--from DATE] [--to DATE]              records, oldest first\n"
        "          [--limit N [--after SEQ]]              a page of N messages (after SEQ;\n"
        "                                                 -c: NODE:SEQ,... as a page says);\n"
        "                                                 a merged person: every number's\n"
        "                                                 records (the register of --data)\n"
        "  stats   [--from DATE] [--to DATE]              messages per type and institution,\n"
        "                                                 denials per reason\n"
        "  prune   --before DATE [--retention-days N]     remove whole segments older than\n"
        "                                                 DATE (never younger than the\n"
        "                                                 retention, default 3653 days)\n"
        "  export  [--from DATE] [--to DATE] OUTDIR       copy segments so that verify works\n"
        "                                                 on the copy\n"
        "  reindex [--progress]                           rebuild the query index from the\n"
        "                                                 segments (also while the node runs)\n\n"
        "options:\n"
        "  --data DIR   a node's data folder (the log is DIR/log)\n"
        "  --log DIR    a log folder itself, e.g. one made by export\n"
        "  -c FILE --node NAME\n"
        "               the data folder of a node of the cluster file (default:\n"
        "               $KP_CLUSTER), on this machine; without --node, the first node\n"
        "  -c FILE      query and stats without --node: the whole cluster. Every node\n"
        "               (not the witness) is asked for its own log over its admin\n"
        "               socket; the answers are merged (query: oldest first, each\n"
        "               record with its node; stats: summed). Nodes that do not answer\n"
        "               are named; their records are read from the copy of their log\n"
        "               on their log mirror (--json: \"from_copy\", \"copy_on\" in each\n"
        "               record). When neither answers: \"unanswered\", exit status 1.\n"
        "               --limit N pages the merged answer; its next_after (each\n"
        "               node's last seq, NODE:SEQ,...) is the next page's --after\n"
        "  --timeout MS how long to wait for each node (default 10000)\n"
        "  --json       answer in JSON on stdout\n"
        "  --wait MS    query: catch the index up for at most MS ms first (default\n"
        "               2000); past that, answer from it as it is and say so\n"
        "  --progress   reindex: a progress line on stderr even when it is no terminal\n"
        "  --help       this text\n\n"
        "DATE is YYYY-MM-DD (UTC). Exit status: 0 ok, 1 failure (or the log does not\n"
        "verify), 2 usage error.\n");
}

static int s_usage_error(const char *fmt, const char *arg)
{
    return kpctl_usage_error("log", fmt, arg);
}

//  The log folder of --node (or the first node) of the cluster file (or
//  KP_CLUSTER), when there is one. Returns 0, or -1 after naming the
//  problem on stderr.
static int s_node_data(s_args_t *a, const char *command)
{
    char name[64], data[sizeof a->data_buf - 8];
    snprintf(name, sizeof name, "log %s", command);
    int rc = kpctl_cluster_data(name, a->cluster, a->node, data, sizeof data);
    if (rc == 0) {
        snprintf(a->data_buf, sizeof a->data_buf, "%s/log", data);
        snprintf(a->directory, sizeof a->directory, "%s/directory", data);
        a->data = a->data_buf;
    }
    return rc < 0 ? -1 : 0;
}

//  Reads kpctl log's options into a and finds the log folder. 0, or the
//  exit status of a usage error (after saying what is wrong).
static int s_parse(int argc, char **argv, s_args_t *a)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"log", required_argument, NULL, 'L'},
        {"config", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"pub", required_argument, NULL, 'p'},
        {"person", required_argument, NULL, 'P'},
        {"institution", required_argument, NULL, 'I'},
        {"message", required_argument, NULL, 'M'},
        {"before", required_argument, NULL, 'b'},
        {"retention-days", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"wait", required_argument, NULL, 'w'},
        {"progress", no_argument, NULL, 'g'},
        {"timeout", required_argument, NULL, 'T'},
        {"limit", required_argument, NULL, 'l'},
        {"after", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->from_day = INT32_MIN;
    a->to_day = INT32_MAX;
    a->retention = 3653;
    a->wait_ms = 2000;
    a->timeout_ms = 10000;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(a->data_buf, sizeof a->data_buf, "%s/log", optarg);
            snprintf(a->directory, sizeof a->directory, "%s/directory", optarg);
            a->data = a->data_buf;
            break;
        case 'c':
            a->cluster = optarg;
            break;
        case 'n':
            a->node = optarg;
            break;
        case 'L':
            a->data = optarg;
            break;
        case 'f':
        case 't':
        case 'b': {
            int32_t day;
            if (kp_date_parse(optarg, &day))
                return s_usage_error("'%s' is not a date: write YYYY-MM-DD", optarg);
            if (c == 'f')
                a->from_day = day, a->have_from = true;
            else if (c == 't')
                a->to_day = day, a->have_to = true;
            else
                a->before_day = day, a->have_before = true;
            break;
        }
        case 'p':
            a->pub = optarg;
            break;
        case 'P':
            if (!kp_insz_valid(optarg))
                return s_usage_error("'%s' is not a valid INSZ (11 digits, mod-97 check)", optarg);
            a->person = optarg;
            break;
        case 'I':
            if (!kp_kbo_valid(optarg))
                return s_usage_error("'%s' is not a valid KBO (10 digits, mod-97 check)", optarg);
            a->institution = optarg;
            break;
        case 'M':
            a->message = optarg;
            break;
        case 'r': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 100000)
                return s_usage_error("--retention-days '%s' is not a number of days", optarg);
            a->retention = (int32_t)n;
            break;
        }
        case 'j':
            a->json = true;
            break;
        case 'g':
            a->progress = true;
            break;
        case 'w': {
            char *end;
            long long n = strtoll(optarg, &end, 10);
            if (*end || !*optarg || n < 0 || n > 3600000)
                return s_usage_error("--wait '%s' is not a number of milliseconds (0-3600000)",
                                     optarg);
            a->wait_ms = n;
            break;
        }
        case 'T': {
            char *end;
            long long n = strtoll(optarg, &end, 10);
            if (*end || !*optarg || n < 1 || n > 3600000)
                return s_usage_error("--timeout '%s' is not a number of milliseconds (1-3600000)",
                                     optarg);
            a->timeout_ms = n;
            break;
        }
        case 'l':
        case 'A': {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            bool number = !*end && *optarg && *optarg != '-' && !errno;
            if (c == 'A')
                a->cursor = optarg; //  -c: NODE:SEQ,... is read with the cluster file
            if (c == 'A' && !number && strchr(optarg, ':'))
                break;
            if (!number || (c == 'l' && !n))
                return s_usage_error(c == 'l' ? "--limit '%s' is not a number of messages (1 or "
                                                "more)"
                                              : "--after '%s' is not a sequence number",
                                     optarg);
            *(c == 'l' ? &a->limit : &a->after) = n;
            break;
        }
        case 'h':
            s_usage_log(stdout);
            return 0;
        default:
            return s_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (a->data && a->cluster)
        return s_usage_error("%s: give --data/--log or -c CLUSTER-FILE, not both", argv[0]);
    //  query and stats with a cluster file and no --node: every node is
    //  asked for its own log over its admin socket.
    if (!a->data && !a->node && (!strcmp(argv[0], "query") || !strcmp(argv[0], "stats")) &&
        (a->cluster = kpctl_cluster_file(a->cluster))) {
        a->cluster_wide = true;
        return a->from_day > a->to_day ? s_usage_error("%s: --from is after --to", argv[0]) : -1;
    }
    if (!a->data && s_node_data(a, argv[0]))
        return 2;
    if (!a->data)
        return s_usage_error("%s: --data DIR (a node's data folder), --log DIR or -c CLUSTER-FILE "
                             "(or KP_CLUSTER) is missing",
                             argv[0]);
    if (a->from_day > a->to_day)
        return s_usage_error("%s: --from is after --to", argv[0]);
    return -1; //  go on
}

//  What verify gathers over its scan: the join, and the records that
//  left on one site only.
typedef struct {
    kp_logjoin_t *join;
    kp_localonly_t *local;
} s_verify_scan_t;

static int s_join_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    kp_logjoin_record((kp_logjoin_t *)arg, r, seq);
    return 0;
}

static int s_verify_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_verify_scan_t *scan = arg;
    kp_logjoin_record(scan->join, r, seq);
    kp_localonly_record(scan->local, r, seq);
    return 0;
}

//  The note on records whose responses left while the log mirror was
//  silent (log/localonly.h).
static void s_local_only_note(const kp_localonly_t *local)
{
    uint64_t n = kp_localonly_count(local);
    if (!n)
        return;
    char ranges[512];
    kp_localonly_text(local, ranges, sizeof ranges);
    printf("note: %" PRIu64 " record%s left on local durability only, the log mirror silent "
           "(seq %s)%s\n",
           n, n == 1 ? "" : "s", ranges,
           kp_localonly_open(local) ? "; the last range is open: the node is still degraded, or "
                                      "stopped before its mirror caught up"
                                    : "");
}

// ---------------------------------------------------------------------------

//  kpctl log verify: the chain and signatures, then the join of decisions
//  and outcomes; exit 0 if the log verifies, 1 if not or unreadable.
static int s_verify(s_args_t *a)
{
    kp_privlog_verify_t v;
    char error[256];
    if (isatty(2) && !a->json)
        fprintf(stderr, "verifying %s ...\n", a->data);
    int rc = kp_privlog_verify(a->data, a->from_day, a->to_day, a->pub, &v, error, sizeof error);
    if (rc < 0) {
        fprintf(stderr, "kpctl log verify: %s\n", error);
        return 1;
    }
    //  The records are intact: now every outcome must follow its decision.
    kp_logjoin_t *join = kp_logjoin_new();
    kp_localonly_t *local = kp_localonly_new();
    s_verify_scan_t scan = {join, local};
    if (rc == 0 && kp_privlog_scan(a->data, a->from_day, a->to_day, s_verify_one, &scan, error,
                                   sizeof error)) {
        fprintf(stderr, "kpctl log verify: %s\n", error);
        kp_logjoin_destroy(&join);
        kp_localonly_destroy(&local);
        return 1;
    }
    uint64_t orphan_seq, orphans = kp_logjoin_orphans(join, &orphan_seq);
    if (rc == 0 && orphans) {
        rc = 1;
        v.ok = false;
        snprintf(v.problem, sizeof v.problem, "orphan outcome");
        snprintf(v.segment, sizeof v.segment, "-");
        v.seq = orphan_seq;
        snprintf(v.detail, sizeof v.detail,
                 "%" PRIu64 " outcome record(s) without their decision record, the first at "
                 "seq %" PRIu64 ": a decision was removed",
                 orphans, orphan_seq);
    }
    uint64_t unknown = kp_logjoin_unknown(join);
    kp_logjoin_destroy(&join);
    if (a->json) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_key(j, "ok");
        kp_json_bool(j, v.ok);
        kp_json_kv_uint(j, "segments", v.segments);
        kp_json_kv_uint(j, "records", v.records);
        kp_json_kv_uint(j, "checkpoints", v.checkpoints);
        kp_json_kv_uint(j, "first_seq", v.first_seq);
        kp_json_kv_uint(j, "last_seq", v.last_seq);
        kp_json_kv_uint(j, "unsigned_tail", v.unsigned_tail);
        kp_json_key(j, "torn_tail");
        kp_json_bool(j, v.torn_tail);
        kp_json_key(j, "anchored");
        kp_json_bool(j, v.anchored);
        kp_json_key(j, "key_from_log");
        kp_json_bool(j, v.key_from_log);
        kp_json_kv_uint(j, "outcome_unknown", unknown);
        kp_localonly_json(local, j);
        kp_localonly_destroy(&local);
        if (!v.ok) {
            kp_json_kv_string(j, "problem", v.problem);
            kp_json_kv_string(j, "segment", v.segment);
            kp_json_kv_uint(j, "offset", v.offset);
            kp_json_kv_uint(j, "seq", v.seq);
            kp_json_kv_string(j, "detail", v.detail);
        }
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
        return rc;
    }
    if (v.ok) {
        printf("ok: %" PRIu64 " records (seq %" PRIu64 "-%" PRIu64 ") in %" PRIu64
               " segments, %" PRIu64 " signed checkpoints%s\n",
               v.records, v.first_seq, v.last_seq, v.segments, v.checkpoints,
               v.anchored ? ", starting at a signed prune anchor" : "");
        if (v.unsigned_tail)
            printf("note: the last %" PRIu64 " records are not under a checkpoint yet (the next "
                   "checkpoint will cover them)\n",
                   v.unsigned_tail);
        if (v.torn_tail)
            printf("note: the last segment ends in an incomplete record (being written, or cut "
                   "by a crash: the node cuts it off when it opens the log)\n");
        if (unknown)
            printf("note: %" PRIu64 " decision%s without an outcome record (outcome unknown: the "
                   "node stopped before the call completed)\n",
                   unknown, unknown == 1 ? "" : "s");
        if (v.key_from_log && v.checkpoints)
            printf("note: signatures checked against the key recorded in the log; pass --pub "
                   "FILE to check them against a trusted key\n");
        s_local_only_note(local);
        kp_localonly_destroy(&local);
        return 0;
    }
    kp_localonly_destroy(&local);
    printf("FAILED: %s record: segment %s, offset %" PRIu64 ", seq %" PRIu64 "\n  %s\n", v.problem,
           v.segment, v.offset, v.seq, v.detail);
    return 1;
}

//  A string field of a report's JSON object, or dflt.
static const char *s_str(json_t *object, const char *key, const char *dflt)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : dflt;
}

static uint64_t s_num(json_t *object, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(object, key));
}

//  One message of a query (logreport.h) as a line of text; node names
//  the node whose log holds it (cluster-wide answers), or NULL.
static void s_print_text(json_t *m, const char *node)
{
    printf("%s  %-12s %s asked by %s (%s)", s_str(m, "time", "-"), s_str(m, "message", "-"),
           s_str(m, "person", "-"), s_str(m, "institution", "-"), s_str(m, "user", "-"));
    if (json_object_get(m, "capacity"))
        printf(" capacity %" PRIu64, s_num(m, "capacity"));
    json_t *parts = json_object_get(m, "parts");
    const char *status = s_str(m, "status", "-");
    bool unknown = !strcmp(status, "outcome unknown");
    if (unknown)
        printf(": allowed, outcome unknown");
    else {
        printf(": %s", status);
        const char *reason = s_str(m, "reason", "");
        if (*reason && strcmp(reason, kp_logreport_enum(&kp__reason__descriptor, 0)))
            printf(" (%s)", reason);
    }
    for (size_t i = 0; i < json_array_size(parts); i++) {
        json_t *part = json_array_get(parts, i);
        if (unknown)
            printf("%s %s", i ? "," : "; sent to", s_str(part, "kbo", "-"));
        else
            printf("%s %s %s", i ? "," : "; answered by", s_str(part, "kbo", "-"),
                   s_str(part, "status", "-"));
    }
    if (json_is_true(json_object_get(m, "local_only")))
        printf("  (left on local durability only: the log mirror was silent)");
    if (node)
        printf("  [%s seq %" PRIu64 "]\n", node, s_num(m, "seq"));
    else
        printf("  [seq %" PRIu64 "]\n", s_num(m, "seq"));
}

//  The count line after a listing.
static void s_query_count(uint64_t count, uint64_t unknown)
{
    if (unknown)
        printf("%" PRIu64 " record%s, %" PRIu64 " with outcome unknown\n", count,
               count == 1 ? "" : "s", unknown);
    else
        printf("%" PRIu64 " record%s\n", count, count == 1 ? "" : "s");
}

//  The query's index tag and key, and its time range in µs.
static char s_query_key(const s_args_t *a, const char **key, uint64_t *from, uint64_t *to)
{
    *key = a->person ? a->person : a->institution ? a->institution : a->message;
    *from = a->have_from ? (uint64_t)a->from_day * 86400000000ull : 0;
    *to = a->have_to ? ((uint64_t)a->to_day + 1) * 86400000000ull - 1 : UINT64_MAX;
    return a->person        ? KP_LOGINDEX_PERSON
           : a->institution ? KP_LOGINDEX_INSTITUTION
                            : KP_LOGINDEX_MESSAGE;
}

// ---------------------------------------------------------------------------
// The whole cluster: every node asked for its own log

//  One node's answer to log.query or log.stats.
typedef struct {
    const char *node;
    json_t *doc;         //  NULL when neither it nor its copy answered
    const char *copy_on; //  the doc came from its log's copy on this node (its mirror)
    char error[512];     //  why it did not answer
    size_t place;        //  the node's place in the cluster file
} s_answer_t;

//  Asks node for command; the document, or NULL with the reason in error.
static json_t *s_ask(const s_args_t *a, const char *node, Kp__AdminRequest *request, char *error,
                     size_t errlen)
{
    if (isatty(2) && !a->json)
        fprintf(stderr, "asking %s ...\n", node);
    kpctl_admin_t *admin = kpctl_admin_new(a->cluster, node, (int)a->timeout_ms, error, errlen);
    Kp__AdminReply *reply = admin ? kpctl_admin_call(admin, request, error, errlen) : NULL;
    json_t *doc = reply && reply->json ? json_loads(reply->json, 0, NULL) : NULL;
    if (reply && !doc)
        snprintf(error, errlen, "%s",
                 reply->error && *reply->error ? reply->error : "its answer is not JSON");
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    kpctl_admin_destroy(&admin);
    return doc;
}

//  A node that did not answer: its records from the copy of its log that
//  its mirror keeps (log/mirror.h), asked with the node's name as one
//  more argument. Each record is read once: a node's own answer or its
//  copy, never both.
static void s_ask_copy(const s_args_t *a, kp_cluster_config_t *config, size_t index,
                       Kp__AdminRequest *request, s_answer_t *answer)
{
    const kp_node_config_t *mirror = kp_config_log_mirror(config, &config->nodes[index]);
    if (!mirror)
        return;
    char *args[8];
    size_t n = request->n_args < 7 ? request->n_args : 7;
    memcpy(args, request->args, n * sizeof *args);
    args[n] = (char *)answer->node;
    Kp__AdminRequest copy = *request;
    copy.args = args;
    copy.n_args = n + 1;
    char error[512];
    answer->doc = s_ask(a, mirror->name, &copy, error, sizeof error);
    if (answer->doc)
        answer->copy_on = mirror->name;
    else {
        size_t used = strlen(answer->error);
        snprintf(answer->error + used, sizeof answer->error - used,
                 "; its copy on %s could not be read either: %s", mirror->name, error);
    }
}

//  Asks every node of the cluster file that keeps a log (not the witness)
//  command with args; *count answers (free with s_answers_free). afters
//  (NULL: none): each node's own args[4], by its place in the file (a
//  page of log.query starts after that node's seq).
static s_answer_t *s_ask_all(const s_args_t *a, kp_cluster_config_t *config, const char *command,
                             char **args, size_t n_args, const uint64_t *afters, size_t *count)
{
    s_answer_t *answers = calloc(config->node_count ? config->node_count : 1, sizeof *answers);
    assert(answers);
    *count = 0;
    char *own[8], after[24];
    assert(n_args <= 7 && (!afters || n_args > 4));
    memcpy(own, args, n_args * sizeof *own);
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = (char *)command;
    request.args = own;
    request.n_args = n_args;
    for (size_t i = 0; i < config->node_count; i++) {
        const kp_node_config_t *node = &config->nodes[i];
        if (node->role == KP_ROLE_WITNESS)
            continue; //  it keeps no privacy log
        if (afters) {
            snprintf(after, sizeof after, "%" PRIu64, afters[i]);
            own[4] = after;
        }
        s_answer_t *answer = &answers[(*count)++];
        answer->node = node->name;
        answer->place = i;
        answer->doc = s_ask(a, node->name, &request, answer->error, sizeof answer->error);
        if (!answer->doc)
            s_ask_copy(a, config, i, &request, answer);
    }
    return answers;
}

static void s_answers_free(s_answer_t *answers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        json_decref(answers[i].doc);
    free(answers);
}

//  Who answered, for the merged document: "nodes":[{node, answered,
//  error}], "unanswered":[names]. Returns how many did not answer.
static size_t s_nodes_json(json_t *root, const s_answer_t *answers, size_t count, const char *what)
{
    json_t *nodes = json_array(), *unanswered = json_array(), *from_copy = json_array();
    for (size_t i = 0; i < count; i++) {
        const s_answer_t *answer = &answers[i];
        bool answered = answer->doc && !answer->copy_on;
        json_t *node = json_pack("{s:s,s:b}", "node", answer->node, "answered", answered);
        if (answer->doc)
            json_object_set(node, what, json_object_get(answer->doc, what));
        if (!answered)
            json_object_set_new(node, "error", json_string(answer->error));
        if (answer->copy_on) {
            json_object_set_new(node, "copy_on", json_string(answer->copy_on));
            json_array_append_new(from_copy, json_string(answer->node));
        } else if (!answer->doc)
            json_array_append_new(unanswered, json_string(answer->node));
        json_array_append_new(nodes, node);
    }
    size_t missing = json_array_size(unanswered);
    json_object_set_new(root, "nodes", nodes);
    json_object_set_new(root, "unanswered", unanswered);
    json_object_set_new(root, "from_copy", from_copy);
    return missing;
}

//  After a text answer: the nodes that did not answer, on stderr.
static void s_nodes_text(const char *command, const s_answer_t *answers, size_t count)
{
    size_t answered = 0, copies = 0;
    for (size_t i = 0; i < count; i++) {
        answered += answers[i].doc && !answers[i].copy_on;
        copies += answers[i].copy_on != NULL;
    }
    if (copies)
        printf("from %zu of %zu nodes, and %zu from the copy of its log on its mirror\n", answered,
               count, copies);
    else
        printf("from %zu of %zu nodes\n", answered, count);
    for (size_t i = 0; i < count; i++)
        if (answers[i].copy_on)
            fprintf(stderr,
                    "kpctl log %s: %s did not answer: %s; its records were read from the copy of "
                    "its log on %s (records its mirror had not received yet are not there)\n",
                    command, answers[i].node, answers[i].error, answers[i].copy_on);
        else if (!answers[i].doc)
            fprintf(stderr,
                    "kpctl log %s: %s did not answer: %s (its records are not in this answer; "
                    "ask again when it is back, or read its copy on its mirror with --log)\n",
                    command, answers[i].node, answers[i].error);
}

//  The numbers a query searches: for a person, its family in the
//  register of the node's directory (opened read-only beside the
//  running node: what replaced it and what that replaced), else the key
//  alone.
typedef struct {
    char numbers[KP_REGISTER_MAX_FAMILY][12];
    const char *keys[KP_REGISTER_MAX_FAMILY];
    size_t count;
} s_keys_t;

static void s_person_family(const s_args_t *a, const char *person, s_keys_t *out)
{
    char err[256];
    kp_directory_t *dir = kp_directory_open_read_only(a->directory, err, sizeof err);
    MDB_txn *txn = dir ? kp_directory_read_begin(dir, err, sizeof err) : NULL;
    if (txn) {
        kp_register_tables_t tables;
        kp_directory_register_tables(dir, &tables);
        out->count = kp_register_family(&tables, txn, person, out->numbers, KP_REGISTER_MAX_FAMILY);
        kp_directory_read_end(&txn);
    } else
        fprintf(stderr,
                "kpctl log query: warning: %s; the records of %s alone (numbers it replaced or "
                "was replaced by are not searched)\n",
                err, person);
    kp_directory_destroy(&dir);
}

static void s_query_keys(const s_args_t *a, char tag, const char *key, s_keys_t *out)
{
    out->count = 0;
    if (tag == KP_LOGINDEX_PERSON && *a->directory)
        s_person_family(a, key, out);
    for (size_t i = 0; i < out->count; i++)
        out->keys[i] = out->numbers[i];
    if (out->count == 0) //  the key as given (a message type is longer than a number)
        out->keys[out->count++] = key;
}

//  One line when a person's records were gathered under several numbers.
static void s_persons_text(const char *person, json_t *persons)
{
    if (json_array_size(persons) < 2)
        return;
    printf("%s was merged: the records of its numbers", person);
    for (size_t i = 0; i < json_array_size(persons); i++)
        printf("%s %s", i ? "," : "", json_string_value(json_array_get(persons, i)));
    printf(" (now %s)\n", json_string_value(json_array_get(persons, 0)));
}

//  --after for the whole cluster: each node's last seq of the page before
//  ("node-1:120,node-2:88"; a node not named starts at its beginning),
//  or a seq alone when one node keeps a log. Into afters (by place in
//  the file); 0, or the exit status of a usage error.
static int s_cursor_parse(const s_args_t *a, const kp_cluster_config_t *config, uint64_t *afters)
{
    size_t logs = 0, only = 0;
    for (size_t i = 0; i < config->node_count; i++)
        if (config->nodes[i].role != KP_ROLE_WITNESS)
            logs++, only = i;
    if (!a->cursor || (!strchr(a->cursor, ':') && !a->after))
        return 0; //  from the start
    if (!strchr(a->cursor, ':')) {
        if (logs != 1)
            return s_usage_error("query: --after '%s' names no node, and each node's log has "
                                 "its own seqs: give NODE:SEQ[,NODE:SEQ...], as a page's "
                                 "next_after says",
                                 a->cursor);
        afters[only] = a->after;
        return 0;
    }
    char text[1024];
    snprintf(text, sizeof text, "%s", a->cursor);
    char *save = NULL;
    for (char *mark = strtok_r(text, ",", &save); mark; mark = strtok_r(NULL, ",", &save)) {
        char given[256], *colon = strrchr(mark, ':'), *end = NULL;
        snprintf(given, sizeof given, "%s", mark);
        if (colon)
            *colon = '\0';
        const kp_node_config_t *node = colon ? kp_config_node(config, mark) : NULL;
        errno = 0;
        unsigned long long seq = colon ? strtoull(colon + 1, &end, 10) : 0;
        if (!node || node->role == KP_ROLE_WITNESS || !end || *end || !colon[1] ||
            colon[1] == '-' || errno)
            return s_usage_error("query: --after: '%s' is not NODE:SEQ with a node of the "
                                 "cluster file that keeps a log",
                                 given);
        afters[node - config->nodes] = seq;
    }
    return 0;
}

//  One node's records in a merge: its list (in its seq order) and how
//  far the merge took it.
typedef struct {
    json_t *list;
    size_t taken;
    bool truncated; //  the node has more after its list
} s_stream_t;

//  True if a comes before b: oldest first, then by node name.
static bool s_before(json_t *a, const char *node_a, json_t *b, const char *node_b)
{
    int c = strcmp(s_str(a, "time", ""), s_str(b, "time", ""));
    return c ? c < 0 : strcmp(node_a, node_b) < 0;
}

//  Merges the nodes' answers oldest first into records, each node's in
//  its own seq order (the head of every node's list is looked at: a page
//  is a prefix of every node's records, so the next page starts after
//  each node's last seq, whatever the clocks did). Stops at limit (0:
//  none), or when a node that has more than it sent has given all it
//  sent. Returns whether more follow; afters gets each node's last seq.
static bool s_merge_pages(s_answer_t *answers, size_t count, uint64_t limit, json_t *records,
                          uint64_t *afters)
{
    s_stream_t *streams = calloc(count ? count : 1, sizeof *streams);
    assert(streams);
    for (size_t i = 0; i < count; i++) {
        streams[i].list = answers[i].doc ? json_object_get(answers[i].doc, "records") : NULL;
        streams[i].truncated =
            answers[i].doc && json_is_true(json_object_get(answers[i].doc, "truncated"));
    }
    bool more = false;
    for (;;) {
        size_t best = count;
        bool blocked = false;
        for (size_t i = 0; i < count; i++) {
            s_stream_t *st = &streams[i];
            if (st->taken == json_array_size(st->list)) {
                blocked |= st->truncated; //  its next record may come first
                continue;
            }
            json_t *head = json_array_get(st->list, st->taken);
            if (best == count || s_before(head, answers[i].node,
                                          json_array_get(streams[best].list, streams[best].taken),
                                          answers[best].node))
                best = i;
        }
        if (best == count || blocked || (limit && json_array_size(records) == limit)) {
            more = blocked || best != count;
            break;
        }
        json_t *record = json_array_get(streams[best].list, streams[best].taken++);
        json_object_set_new(record, "node", json_string(answers[best].node));
        if (answers[best].copy_on)
            json_object_set_new(record, "copy_on", json_string(answers[best].copy_on));
        json_array_append(records, record);
        afters[answers[best].place] = s_num(record, "seq");
    }
    free(streams);
    return more;
}

//  The next page's --after: every node with a seq, "node-1:120,...".
static void s_cursor_text(const kp_cluster_config_t *config, const uint64_t *afters, char *out,
                          size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < config->node_count && used < size; i++)
        if (afters[i])
            used += (size_t)snprintf(out + used, size - used, "%s%s:%" PRIu64, used ? "," : "",
                                     config->nodes[i].name, afters[i]);
}

//  kpctl log query -c CLUSTER: every node's records, merged; a page of
//  --limit N after --after NODE:SEQ,... when given.
static int s_query_cluster(s_args_t *a)
{
    kp_cluster_config_t *config = kpctl_cluster_load("log query", a->cluster);
    if (!config)
        return 2;
    uint64_t afters[KP_CONFIG_MAX_NODES] = {0};
    int usage = s_cursor_parse(a, config, afters);
    if (usage) {
        free(config);
        return usage;
    }
    const char *key;
    uint64_t from, to;
    char tag = s_query_key(a, &key, &from, &to);
    char kind[16], from_text[24], to_text[24], limit_text[24];
    snprintf(kind, sizeof kind, "%s",
             tag == KP_LOGINDEX_PERSON        ? "person"
             : tag == KP_LOGINDEX_INSTITUTION ? "institution"
                                              : "message");
    snprintf(from_text, sizeof from_text, "%" PRIu64, from);
    //  No end: INT64_MAX on the wire (the node reads signed numbers).
    snprintf(to_text, sizeof to_text, "%" PRIu64, to > INT64_MAX ? (uint64_t)INT64_MAX : to);
    snprintf(limit_text, sizeof limit_text, "%" PRIu64, a->limit);
    //  A page: each node sends at most limit after its own seq (nodes of
    //  a version before paging are asked without, as before).
    char *args[] = {kind, (char *)key, from_text, to_text, "0", limit_text};
    size_t count;
    s_answer_t *answers =
        s_ask_all(a, config, "log.query", args, a->limit ? 6 : 4, a->limit ? afters : NULL, &count);
    json_t *records = json_array();
    uint64_t missing = 0;
    json_t *persons = NULL; //  the numbers searched, as the first node found them
    for (size_t i = 0; i < count; i++) {
        json_t *doc = answers[i].doc;
        if (doc && !persons)
            persons = json_object_get(doc, "persons");
        missing += doc ? s_num(doc, "missing") : 0;
    }
    bool truncated = s_merge_pages(answers, count, a->limit, records, afters);
    uint64_t total = json_array_size(records), unknown = 0;
    for (size_t i = 0; i < total; i++)
        unknown += !strcmp(s_str(json_array_get(records, i), "status", ""), "outcome unknown");
    char next[1024];
    s_cursor_text(config, afters, next, sizeof next);
    size_t unanswered = 0;
    if (a->json) {
        json_t *root =
            json_pack("{s:O,s:I,s:I,s:I}", "records", records, "count", (json_int_t)total,
                      "outcome_unknown", (json_int_t)unknown, "missing", (json_int_t)missing);
        if (truncated) {
            json_object_set_new(root, "truncated", json_true());
            json_object_set_new(root, "next_after", json_string(next));
        }
        if (persons)
            json_object_set(root, "persons", persons);
        unanswered = s_nodes_json(root, answers, count, "count");
        char *text = json_dumps(root, JSON_COMPACT);
        puts(text ? text : "{}");
        free(text);
        json_decref(root);
    } else {
        s_persons_text(key, persons);
        for (size_t i = 0; i < total; i++) {
            json_t *record = json_array_get(records, i);
            char where[160];
            const char *copy_on = s_str(record, "copy_on", NULL);
            snprintf(where, sizeof where, "%s%s%s", s_str(record, "node", "-"),
                     copy_on ? ", from its copy on " : "", copy_on ? copy_on : "");
            s_print_text(record, where);
        }
        s_query_count(total, unknown);
        s_nodes_text("query", answers, count);
        for (size_t i = 0; i < count; i++)
            unanswered += answers[i].doc == NULL;
    }
    if (truncated)
        fprintf(stderr,
                "kpctl log query: more messages follow: the next page is --limit %" PRIu64
                " --after %s\n",
                a->limit ? a->limit : (uint64_t)KP_LOG_QUERY_LIMIT, next);
    json_decref(records);
    s_answers_free(answers, count);
    free(config);
    return unanswered ? 1 : 0;
}

// ---------------------------------------------------------------------------

//  kpctl log query: the index's records of one person, institution or
//  message type, each decision joined with its outcome.
static int s_query(s_args_t *a)
{
    int given = !!a->person + !!a->institution + !!a->message;
    if (given != 1)
        return s_usage_error("%s", "query: give exactly one of --person INSZ, --institution KBO, "
                                   "--message TYPE");
    if (!a->cluster_wide && a->cursor && !a->after && strcmp(a->cursor, "0"))
        return s_usage_error("query: --after '%s' is not a sequence number (NODE:SEQ goes with "
                             "-c CLUSTER and no --node)",
                             a->cursor);
    if (a->cursor && !a->limit)
        return s_usage_error("%s", "query: --after SEQ goes with --limit N");
    if (a->cluster_wide)
        return s_query_cluster(a);
    char error[256];
    char path[4200];
    snprintf(path, sizeof path, "%s/index", a->data);
    //  Catch the index up with what the node has written, for --wait at
    //  most (the node's indexer goes on); if we may not write it, answer
    //  from the index as it is.
    //  Batches of 10000: the budget is looked at after each, so the
    //  wait passes --wait by a few ms at most.
    kp_logindex_t *writer = NULL;
    kp_privlog_index_job_t job = {.upto_seq = UINT64_MAX, .budget_ms = a->wait_ms, .batch = 10000};
    if (a->wait_ms) {
        writer = kp_logindex_open(path, false, 0, error, sizeof error);
        if (!writer || kp_privlog_index_run(a->data, writer, &job, error, sizeof error) < 0)
            fprintf(stderr, "kpctl log query: warning: %s (answering from the index as it is)\n",
                    error);
        else if (!job.complete)
            fprintf(stderr,
                    "kpctl log query: warning: the index is still catching up with the log "
                    "after %lld ms; the newest records may be missing from this answer (ask "
                    "again, or give --wait)\n",
                    (long long)a->wait_ms);
    }
    kp_logindex_destroy(&writer);
    const char *key;
    uint64_t from, to;
    char tag = s_query_key(a, &key, &from, &to);
    s_keys_t keys;
    s_query_keys(a, tag, key, &keys);
    char *text = kp_logreport_query_keys(a->data, tag, keys.keys, keys.count, from, to, a->after,
                                         a->limit, error, sizeof error);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    if (!doc) {
        fprintf(stderr, "kpctl log query: %s\n", text ? "the report is not JSON" : error);
        free(text);
        return 1;
    }
    if (a->json)
        printf("%s\n", text);
    else {
        s_persons_text(key, json_object_get(doc, "persons"));
        json_t *list = json_object_get(doc, "records");
        for (size_t i = 0; i < json_array_size(list); i++)
            s_print_text(json_array_get(list, i), NULL);
        s_query_count(s_num(doc, "count"), s_num(doc, "outcome_unknown"));
    }
    if (s_num(doc, "missing"))
        fprintf(stderr, "kpctl log query: %" PRIu64 " indexed records are gone (pruned)\n",
                s_num(doc, "missing"));
    if (json_is_true(json_object_get(doc, "truncated")))
        fprintf(stderr,
                "kpctl log query: more messages follow: the next page is --after %" PRIu64 "\n",
                s_num(doc, "next_after"));
    json_decref(doc);
    free(text);
    return 0;
}

static void s_reindex_progress(uint64_t records, uint64_t done, uint64_t total, void *arg)
{
    kpctl_progress_t *progress = arg;
    progress->total = total;
    kpctl_progress_update(progress, records, done);
}

//  Empties the index and builds it again from the segments, in batches
//  that readers (and the node) see as they are committed.
static int s_reindex(s_args_t *a)
{
    char path[4200], error[256];
    snprintf(path, sizeof path, "%s/index", a->data);
    kp_logindex_t *index = kp_logindex_open(path, false, 0, error, sizeof error);
    if (!index) {
        fprintf(stderr, "kpctl log reindex: %s\n", error);
        return 1;
    }
    kpctl_progress_t progress;
    char what[4300];
    snprintf(what, sizeof what, "indexing %s", a->data);
    kpctl_progress_init(&progress, what, "records", a->progress || isatty(STDERR_FILENO), 0);
    kp_privlog_index_job_t job = {
        .upto_seq = UINT64_MAX, .rebuild = true, .progress = s_reindex_progress, .arg = &progress};
    int64_t start = zclock_mono();
    int64_t added = kp_privlog_index_run(a->data, index, &job, error, sizeof error);
    kpctl_progress_end(&progress, added > 0 ? (uint64_t)added : 0);
    kp_logindex_destroy(&index);
    if (added < 0) {
        fprintf(stderr, "kpctl log reindex: %s\n", error);
        return 1;
    }
    double secs = (double)(zclock_mono() - start) / 1000.0;
    if (a->json) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_kv_uint(j, "records", (uint64_t)added);
        kp_json_key(j, "seconds");
        kp_json_double(j, secs);
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
    } else
        printf("indexed %" PRId64 " records in %.1f s\n", added, secs);
    return 0;
}

static int s_by_key(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

//  The keys of a JSON object, sorted (free the array, not the keys).
static const char **s_sorted_keys(json_t *object, size_t *count)
{
    *count = json_object_size(object);
    const char **keys = calloc(*count ? *count : 1, sizeof *keys);
    assert(keys);
    size_t i = 0;
    for (void *it = json_object_iter(object); it; it = json_object_iter_next(object, it))
        keys[i++] = json_object_iter_key(it);
    qsort(keys, *count, sizeof *keys, s_by_key);
    return keys;
}

static void s_counts_text(json_t *counts, const char *title)
{
    printf("%s:\n", title);
    size_t count;
    const char **keys = s_sorted_keys(counts, &count);
    for (size_t i = 0; i < count; i++)
        printf("  %-40s %12" PRIu64 "\n", keys[i], s_num(counts, keys[i]));
    free(keys);
}

static void s_stats_text(json_t *doc)
{
    printf("%" PRIu64 " records, %" PRIu64 " denied, %" PRIu64 " with outcome unknown\n",
           s_num(doc, "records"), s_num(doc, "denied"), s_num(doc, "outcome_unknown"));
    s_counts_text(json_object_get(doc, "messages"), "messages per type");
    s_counts_text(json_object_get(doc, "institutions"), "messages per institution");
    s_counts_text(json_object_get(doc, "denials"), "denials per reason");
    json_t *local = json_object_get(doc, "local_only");
    if (s_num(local, "records")) {
        printf("records left on local durability only (the log mirror silent): %" PRIu64,
               s_num(local, "records"));
        json_t *ranges = json_object_get(local, "ranges");
        for (size_t i = 0; i < json_array_size(ranges); i++) {
            json_t *r = json_array_get(ranges, i);
            printf("%s%" PRIu64 "-%" PRIu64 "%s", i ? ", " : " (seq ", s_num(r, "from"),
                   s_num(r, "to"), json_is_true(json_object_get(r, "open")) ? " open" : "");
        }
        printf("%s\n", json_array_size(ranges) ? ")" : "");
    }
}

//  Adds the numbers of from into into (objects of counts: summed by key).
static void s_add_counts(json_t *into, json_t *from)
{
    for (void *it = json_object_iter(from); it; it = json_object_iter_next(from, it)) {
        const char *key = json_object_iter_key(it);
        json_t *value = json_object_iter_value(it), *have = json_object_get(into, key);
        if (json_is_object(value)) {
            if (!have)
                json_object_set_new(into, key, have = json_object());
            s_add_counts(have, value);
        } else if (json_is_integer(value))
            json_object_set_new(into, key,
                                json_integer(json_integer_value(have) + json_integer_value(value)));
    }
}

//  kpctl log stats -c CLUSTER: every node's counts, summed.
static int s_stats_cluster(s_args_t *a)
{
    kp_cluster_config_t *config = kpctl_cluster_load("log stats", a->cluster);
    if (!config)
        return 2;
    char from[16], to[16];
    snprintf(from, sizeof from, "%" PRId32, a->from_day);
    snprintf(to, sizeof to, "%" PRId32, a->to_day);
    char *args[] = {from, to};
    size_t count;
    s_answer_t *answers = s_ask_all(a, config, "log.stats", args, 2, NULL, &count);
    json_t *sum = json_pack("{s:i,s:i,s:i,s:{},s:{},s:{}}", "records", 0, "denied", 0,
                            "outcome_unknown", 0, "messages", "institutions", "denials");
    size_t unanswered = 0;
    for (size_t i = 0; i < count; i++) {
        if (answers[i].doc)
            s_add_counts(sum, answers[i].doc);
        unanswered += answers[i].doc == NULL;
    }
    if (a->json) {
        s_nodes_json(sum, answers, count, "records");
        char *text = json_dumps(sum, JSON_COMPACT);
        puts(text ? text : "{}");
        free(text);
    } else {
        s_stats_text(sum);
        s_nodes_text("stats", answers, count);
    }
    json_decref(sum);
    s_answers_free(answers, count);
    free(config);
    return unanswered ? 1 : 0;
}

static int s_stats(s_args_t *a)
{
    if (a->cluster_wide)
        return s_stats_cluster(a);
    char error[256];
    if (isatty(2) && !a->json)
        fprintf(stderr, "reading %s ...\n", a->data);
    char *text = kp_logreport_stats(a->data, a->from_day, a->to_day, error, sizeof error);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    if (!doc) {
        fprintf(stderr, "kpctl log stats: %s\n", text ? "the report is not JSON" : error);
        free(text);
        return 1;
    }
    if (a->json)
        printf("%s\n", text);
    else
        s_stats_text(doc);
    json_decref(doc);
    free(text);
    return 0;
}

static int s_prune(s_args_t *a)
{
    if (!a->have_before)
        return s_usage_error("%s", "prune: --before DATE is missing");
    char error[256];
    int n = kp_privlog_prune(a->data, a->before_day, a->retention, kp_date_today(), error,
                             sizeof error);
    if (n < 0) {
        if (a->json) { //  the reason itself, escaped, for scripts
            kp_json_t *j = kp_json_new();
            kp_json_object_open(j);
            kp_json_key(j, "ok");
            kp_json_bool(j, false);
            kp_json_kv_string(j, "error", error);
            kp_json_object_close(j);
            printf("%s\n", kp_json_text(j));
            kp_json_destroy(&j);
        }
        fprintf(stderr, "kpctl log prune: %s\n", error);
        return 1;
    }
    if (a->json)
        printf("{\"ok\":true,\"removed_segments\":%d}\n", n);
    else
        printf("removed %d segment%s\n", n, n == 1 ? "" : "s");
    return 0;
}

//  kpctl log export: copies the days asked into OUTDIR, reads the copy
//  back and reports decisions whose outcome lies outside it.
static int s_export(s_args_t *a, int argc, char **argv)
{
    if (optind != argc - 1)
        return s_usage_error("%s", "export: give one OUTDIR after the options");
    char error[256];
    int n = kp_privlog_export(a->data, a->from_day, a->to_day, argv[optind], error, sizeof error);
    if (n < 0) {
        fprintf(stderr, "kpctl log export: %s\n", error);
        return 1;
    }
    //  Whole segments go out, so a decision near the end of the last day
    //  may have its outcome in a segment that was not copied: say so.
    kp_logjoin_t *join = kp_logjoin_new();
    int rc =
        kp_privlog_scan(argv[optind], INT32_MIN, INT32_MAX, s_join_one, join, error, sizeof error);
    uint64_t unknown = kp_logjoin_unknown(join);
    kp_logjoin_destroy(&join);
    if (rc) {
        fprintf(stderr, "kpctl log export: the copy does not read back: %s\n", error);
        return 1;
    }
    if (a->json) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_key(j, "ok");
        kp_json_bool(j, true);
        kp_json_kv_int(j, "segments", n);
        kp_json_kv_uint(j, "outcome_unknown", unknown);
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
    } else {
        printf("exported %d segment%s to %s; check it with 'kpctl log verify --log %s'\n", n,
               n == 1 ? "" : "s", argv[optind], argv[optind]);
        if (unknown)
            printf("note: %" PRIu64 " decision%s in the copy without their outcome (outcome "
                   "unknown there)\n",
                   unknown, unknown == 1 ? "" : "s");
    }
    return 0;
}

int kpctl_log(int argc, char **argv)
{
    if (argc < 2) {
        s_usage_log(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        s_usage_log(stdout);
        return 0;
    }
    if (strcmp(cmd, "verify") && strcmp(cmd, "query") && strcmp(cmd, "stats") &&
        strcmp(cmd, "prune") && strcmp(cmd, "export") && strcmp(cmd, "reindex"))
        return s_usage_error("unknown command '%s' (verify, query, stats, prune, export, reindex)",
                             cmd);
    s_args_t a;
    int rc = s_parse(argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    if (strcmp(cmd, "export") && optind < argc - 1)
        return s_usage_error("unexpected argument '%s'", argv[optind + 1]);
    if (!strcmp(cmd, "verify"))
        return s_verify(&a);
    if (!strcmp(cmd, "query"))
        return s_query(&a);
    if (!strcmp(cmd, "stats"))
        return s_stats(&a);
    if (!strcmp(cmd, "prune"))
        return s_prune(&a);
    if (!strcmp(cmd, "reindex"))
        return s_reindex(&a);
    return s_export(&a, argc - 1, argv + 1);
}

//  kpctl keys --out FILE: a new Ed25519 key pair for the privacy log.
int kpctl_log_keys(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},  {"json", no_argument, NULL, 'j'},
        {"wait", required_argument, NULL, 'w'}, {"progress", no_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    bool json = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'j')
            json = true;
        else if (c == 'h') {
            printf("usage: kpctl keys --out FILE [--json]\n\n"
                   "Makes the Ed25519 key pair that signs privacy-log checkpoints: the private\n"
                   "key in FILE (PEM, mode 0600; give it to the node as log-key) and the public\n"
                   "key in FILE.pub (for 'kpctl log verify --pub'). Never overwrites.\n");
            return 0;
        } else {
            fprintf(stderr, "kpctl keys: unknown or incomplete option '%s'; see --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!out || optind != argc) {
        fprintf(stderr, "kpctl keys: --out FILE is missing; e.g. kpctl keys --out keys/log.key\n");
        return 2;
    }
    char error[256];
    if (kp_privlog_keygen(out, error, sizeof error)) {
        fprintf(stderr, "kpctl keys: %s\n", error);
        return 1;
    }
    if (json) { //  paths may hold quotes or backslashes: escape them
        char pub[4200];
        snprintf(pub, sizeof pub, "%s.pub", out);
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_key(j, "ok");
        kp_json_bool(j, true);
        kp_json_kv_string(j, "private", out);
        kp_json_kv_string(j, "public", pub);
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
    } else
        printf("wrote %s (private, 0600) and %s.pub\n", out, out);
    return 0;
}
