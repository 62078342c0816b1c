/*  cmd_log.c - kpctl log (verify, query, stats, prune, export) and kpctl keys.

    Every sub-command works on the files of a node's log folder (the
    node's <data>/log), also while the node runs: segments are only ever
    appended to, and the index is shared through LMDB.
*/
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "cluster.h"
#include "commands.h"
#include "json.h"
#include "logindex.h"
#include "options.h"
#include "progress.h"
#include "privlog.h"
#include "validate.h"

typedef struct {
    const char *data;           //  the log folder: <--data>/log, or --log as given
    const char *cluster, *node; //  or the data folder of a node of the cluster file
    char data_buf[4096];
    const char *pub;
    const char *person, *institution, *message;
    int32_t from_day, to_day, before_day;
    int32_t retention;
    int64_t wait_ms; //  query: longest catch-up of the index before answering
    bool json, have_from, have_to, have_before, progress;
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
        "  -c FILE [--node NAME]\n"
        "               the data folder of a node of the cluster file (default:\n"
        "               $KP_CLUSTER; the first node), on this machine\n"
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->from_day = INT32_MIN;
    a->to_day = INT32_MAX;
    a->retention = 3653;
    a->wait_ms = 2000;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(a->data_buf, sizeof a->data_buf, "%s/log", optarg);
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
        case 'h':
            s_usage_log(stdout);
            return 0;
        default:
            return s_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (a->data && a->cluster)
        return s_usage_error("%s: give --data/--log or -c CLUSTER-FILE, not both", argv[0]);
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

static void s_time_text(uint64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *s_enum(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "UNKNOWN";
}

// ---------------------------------------------------------------------------
// Decisions and their outcomes, joined over a scan of the segments

//  A call's DECISION and its OUTCOME are two records (proto LogKind); a
//  refusal is one COMPLETE record. Every listing shows one line per
//  message: the decision, with its outcome joined, or "outcome unknown"
//  when none was logged (the node died between the two).
static bool s_is_outcome(const Kp__LogRecord *r)
{
    return r->has_kind && r->kind == KP__LOG_KIND__LOG_OUTCOME;
}

static bool s_is_decision(const Kp__LogRecord *r)
{
    return r->has_kind && r->kind == KP__LOG_KIND__LOG_DECISION;
}

typedef struct {
    zhashx_t *pending; //  seq (text) of each DECISION without its OUTCOME yet
    uint64_t first_seq;
    uint64_t decisions, outcomes, orphans;
    uint64_t orphan_seq; //  the first OUTCOME whose DECISION is not in the log
} s_join_t;

static void s_join_init(s_join_t *j)
{
    memset(j, 0, sizeof *j);
    j->pending = zhashx_new();
}

//  Counts r (at seq) in the join. An outcome whose decision should be in
//  the scanned part (its seq is not before the first one scanned) but is
//  not is an orphan: no outcome may exist without its decision.
static void s_join_record(s_join_t *j, const Kp__LogRecord *r, uint64_t seq)
{
    if (!j->first_seq)
        j->first_seq = seq;
    char key[24];
    if (s_is_decision(r)) {
        snprintf(key, sizeof key, "%" PRIu64, seq);
        zhashx_insert(j->pending, key, (void *)1);
        j->decisions++;
    } else if (s_is_outcome(r)) {
        snprintf(key, sizeof key, "%" PRIu64, r->decision_seq);
        if (zhashx_lookup(j->pending, key)) {
            zhashx_delete(j->pending, key);
            j->outcomes++;
        } else if (r->decision_seq >= j->first_seq) {
            if (!j->orphans++)
                j->orphan_seq = seq;
        }
    }
}

static int s_join_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_join_record((s_join_t *)arg, r, seq);
    return 0;
}

//  Decisions scanned without their outcome: "outcome unknown".
static uint64_t s_join_unknown(s_join_t *j)
{
    return zhashx_size(j->pending);
}

static void s_join_destroy(s_join_t *j)
{
    zhashx_destroy(&j->pending);
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
    s_join_t join;
    s_join_init(&join);
    if (rc == 0 &&
        kp_privlog_scan(a->data, a->from_day, a->to_day, s_join_one, &join, error, sizeof error)) {
        fprintf(stderr, "kpctl log verify: %s\n", error);
        s_join_destroy(&join);
        return 1;
    }
    if (rc == 0 && join.orphans) {
        rc = 1;
        v.ok = false;
        snprintf(v.problem, sizeof v.problem, "orphan outcome");
        snprintf(v.segment, sizeof v.segment, "-");
        v.seq = join.orphan_seq;
        snprintf(v.detail, sizeof v.detail,
                 "%" PRIu64 " outcome record(s) without their decision record, the first at "
                 "seq %" PRIu64 ": a decision was removed",
                 join.orphans, join.orphan_seq);
    }
    uint64_t unknown = s_join_unknown(&join);
    s_join_destroy(&join);
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
        return 0;
    }
    printf("FAILED: %s record: segment %s, offset %" PRIu64 ", seq %" PRIu64 "\n  %s\n", v.problem,
           v.segment, v.offset, v.seq, v.detail);
    return 1;
}

typedef struct {
    kp_privlog_reader_t *reader;
    kp_json_t *json;
    uint64_t count, missing, unknown;
    uint64_t to_us;      //  decisions after this are out of the range asked for
    zlistx_t *decisions; //  s_found_t, in index order (owned)
    zhashx_t *outcomes;  //  decision seq (text) -> s_found_t (owned)
} s_query_t;

//  A record the index found, and its sequence number.
typedef struct {
    uint64_t seq;
    Kp__LogRecord *r;
} s_found_t;

static void s_found_free(void **item)
{
    s_found_t *found = (s_found_t *)*item;
    if (found) {
        kp__log_record__free_unpacked(found->r, NULL);
        free(found);
    }
    *item = NULL;
}

static int s_query_one(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    s_query_t *q = arg;
    char error[256];
    uint64_t got;
    Kp__LogRecord *r = kp_privlog_reader_get(q->reader, segment, offset, &got, error, sizeof error);
    if (!r || got != seq) { //  pruned since, or the index is stale
        q->missing++;
        kp__log_record__free_unpacked(r, NULL);
        return 0;
    }
    if (!s_is_outcome(r) && r->time_unix_us > q->to_us) {
        kp__log_record__free_unpacked(r, NULL);
        return 0;
    }
    s_found_t *found = malloc(sizeof *found);
    assert(found);
    found->seq = seq;
    found->r = r;
    if (s_is_outcome(r)) {
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, r->decision_seq);
        zhashx_update(q->outcomes, key, found);
    } else
        zlistx_add_end(q->decisions, found);
    return 0;
}

//  One message as JSON: the decision (or complete record) r, joined with
//  its outcome o (NULL: unknown, for a decision).
static void s_print_json(kp_json_t *j, uint64_t seq, const Kp__LogRecord *r, const Kp__LogRecord *o,
                         const char *when)
{
    const Kp__LogRecord *end = o ? o : r;
    kp_json_object_open(j);
    kp_json_kv_uint(j, "seq", seq);
    kp_json_kv_string(j, "time", when);
    kp_json_kv_string(j, "request_id", r->request_id);
    kp_json_kv_string(j, "message", r->message);
    kp_json_kv_string(j, "person", r->person);
    kp_json_kv_string(j, "institution", r->sender_kbo);
    kp_json_kv_string(j, "user", r->user);
    if (r->has_sector)
        kp_json_kv_uint(j, "sector", r->sector);
    if (r->has_type)
        kp_json_kv_uint(j, "type", r->type);
    if (r->legal_framework)
        kp_json_kv_string(j, "legal_framework", r->legal_framework);
    if (r->has_capacity)
        kp_json_kv_uint(j, "capacity", r->capacity);
    if (s_is_decision(r) && !o) {
        kp_json_kv_string(j, "status", "outcome unknown");
        kp_json_key(j, "outcome");
        kp_json_null(j);
    } else
        kp_json_kv_string(j, "status",
                          s_enum(&kp__status__descriptor, end->has_status ? (int)end->status : 0));
    if (r->has_reason)
        kp_json_kv_string(j, "reason", s_enum(&kp__reason__descriptor, (int)r->reason));
    kp_json_key(j, "parts");
    kp_json_array_open(j);
    const Kp__LogRecord *parts = s_is_decision(r) && !o ? r : end;
    for (size_t i = 0; i < parts->n_parts; i++) {
        kp_json_object_open(j);
        kp_json_kv_string(j, "kbo", parts->parts[i]->kbo);
        if (parts->parts[i]->has_status)
            kp_json_kv_string(j, "status",
                              s_enum(&kp__status__descriptor, (int)parts->parts[i]->status));
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    if (end->has_latency_us)
        kp_json_kv_uint(j, "latency_us", end->latency_us);
    if (r->node)
        kp_json_kv_string(j, "node", r->node);
    kp_json_object_close(j);
}

//  One message as a line of text (see s_print_json).
static void s_print_text(uint64_t seq, const Kp__LogRecord *r, const Kp__LogRecord *o,
                         const char *when)
{
    printf("%s  %-12s %s asked by %s (%s)", when, r->message ? r->message : "-",
           r->person ? r->person : "-", r->sender_kbo ? r->sender_kbo : "-",
           r->user ? r->user : "-");
    if (r->has_capacity)
        printf(" capacity %u", r->capacity);
    if (s_is_decision(r) && !o) {
        printf(": allowed, outcome unknown");
        for (size_t i = 0; i < r->n_parts; i++)
            printf("%s %s", i ? "," : "; sent to", r->parts[i]->kbo ? r->parts[i]->kbo : "-");
    } else {
        const Kp__LogRecord *end = o ? o : r;
        printf(": %s", s_enum(&kp__status__descriptor, end->has_status ? (int)end->status : 0));
        if (r->has_reason && r->reason)
            printf(" (%s)", s_enum(&kp__reason__descriptor, (int)r->reason));
        for (size_t i = 0; i < end->n_parts; i++)
            printf("%s %s %s", i ? "," : "; answered by",
                   end->parts[i]->kbo ? end->parts[i]->kbo : "-",
                   s_enum(&kp__status__descriptor,
                          end->parts[i]->has_status ? (int)end->parts[i]->status : 0));
    }
    printf("  [seq %" PRIu64 "]\n", seq);
}

//  Prints every decision the query found, joined with its outcome.
static void s_query_print(s_query_t *q)
{
    for (s_found_t *d = zlistx_first(q->decisions); d; d = zlistx_next(q->decisions)) {
        const Kp__LogRecord *r = d->r;
        uint64_t seq = d->seq;
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, seq);
        const s_found_t *found = s_is_decision(r) ? zhashx_lookup(q->outcomes, key) : NULL;
        const Kp__LogRecord *o = found ? found->r : NULL;
        q->unknown += s_is_decision(r) && !o;
        q->count++;
        char when[32];
        s_time_text(r->time_unix_us, when);
        if (q->json)
            s_print_json(q->json, seq, r, o, when);
        else
            s_print_text(seq, r, o, when);
    }
}

//  kpctl log query: the index's records of one person, institution or
//  message type, each decision joined with its outcome.
static int s_query(s_args_t *a)
{
    int given = !!a->person + !!a->institution + !!a->message;
    if (given != 1)
        return s_usage_error("%s", "query: give exactly one of --person INSZ, --institution KBO, "
                                   "--message TYPE");
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
    kp_logindex_t *index = kp_logindex_open(path, true, 0, error, sizeof error);
    if (!index) {
        fprintf(stderr, "kpctl log query: %s\n", error);
        return 1;
    }
    s_query_t q = {0};
    q.decisions = zlistx_new();
    zlistx_set_destructor(q.decisions, s_found_free);
    q.outcomes = zhashx_new();
    zhashx_set_destructor(q.outcomes, s_found_free);
    q.reader = kp_privlog_reader_new(a->data, error, sizeof error);
    if (!q.reader) {
        kp_logindex_destroy(&index);
        fprintf(stderr, "kpctl log query: %s\n", error);
        return 1;
    }
    if (a->json) {
        q.json = kp_json_new();
        kp_json_object_open(q.json);
        kp_json_key(q.json, "records");
        kp_json_array_open(q.json);
    }
    uint64_t from = a->have_from ? (uint64_t)a->from_day * 86400000000ull : 0;
    uint64_t to = a->have_to ? ((uint64_t)a->to_day + 1) * 86400000000ull - 1 : UINT64_MAX;
    //  An outcome is logged within the call's deadline (at most ten
    //  minutes) after its decision: look that much further for them.
    q.to_us = to;
    if (to != UINT64_MAX)
        to += 600000000ull;
    char tag = a->person        ? KP_LOGINDEX_PERSON
               : a->institution ? KP_LOGINDEX_INSTITUTION
                                : KP_LOGINDEX_MESSAGE;
    const char *key = a->person ? a->person : a->institution ? a->institution : a->message;
    int64_t n = kp_logindex_query(index, tag, key, from, to, s_query_one, &q);
    int rc = 0;
    if (n >= 0)
        s_query_print(&q);
    if (n < 0) {
        fprintf(stderr, "kpctl log query: %s\n", kp_logindex_error(index));
        rc = 1;
    } else if (a->json) {
        kp_json_array_close(q.json);
        kp_json_kv_uint(q.json, "count", q.count);
        kp_json_kv_uint(q.json, "outcome_unknown", q.unknown);
        kp_json_object_close(q.json);
        printf("%s\n", kp_json_text(q.json));
    } else if (q.unknown)
        printf("%" PRIu64 " record%s, %" PRIu64 " with outcome unknown\n", q.count,
               q.count == 1 ? "" : "s", q.unknown);
    else
        printf("%" PRIu64 " record%s\n", q.count, q.count == 1 ? "" : "s");
    if (q.missing)
        fprintf(stderr, "kpctl log query: %" PRIu64 " indexed records are gone (pruned)\n",
                q.missing);
    kp_json_destroy(&q.json);
    zlistx_destroy(&q.decisions);
    zhashx_destroy(&q.outcomes);
    kp_privlog_reader_destroy(&q.reader);
    kp_logindex_destroy(&index);
    return rc;
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

typedef struct {
    zhash_t *messages, *institutions, *reasons;
    uint64_t total, denied;
    s_join_t join;
    uint64_t from_us, to_us;
} s_stats_t;

static void s_count(zhash_t *hash, const char *key)
{
    if (!key)
        key = "-";
    uint64_t *n = zhash_lookup(hash, key);
    if (!n) {
        n = calloc(1, sizeof *n);
        zhash_insert(hash, key, n);
        zhash_freefn(hash, key, free);
    }
    (*n)++;
}

static int s_stats_one(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_stats_t *s = arg;
    if (r->time_unix_us < s->from_us || r->time_unix_us > s->to_us)
        return 0;
    s_join_record(&s->join, r, seq);
    if (s_is_outcome(r))
        return 0; //  counted with its decision: one message
    s->total++;
    s_count(s->messages, r->message);
    s_count(s->institutions, r->sender_kbo);
    if (r->has_status && r->status == KP__STATUS__DENIED) {
        s->denied++;
        s_count(s->reasons, s_enum(&kp__reason__descriptor, r->has_reason ? (int)r->reason : 0));
    }
    return 0;
}

static void s_stats_print(zhash_t *hash, const char *title, kp_json_t *j)
{
    zlist_t *keys = zhash_keys(hash);
    zlist_sort(keys, NULL);
    if (j) {
        kp_json_key(j, title);
        kp_json_object_open(j);
    } else
        printf("%s:\n", title);
    for (char *k = zlist_first(keys); k; k = zlist_next(keys)) {
        uint64_t *n = zhash_lookup(hash, k);
        if (j)
            kp_json_kv_uint(j, k, *n);
        else
            printf("  %-40s %12" PRIu64 "\n", k, *n);
    }
    if (j)
        kp_json_object_close(j);
    zlist_destroy(&keys);
}

static int s_stats(s_args_t *a)
{
    s_stats_t s = {.messages = zhash_new(), .institutions = zhash_new(), .reasons = zhash_new()};
    s.from_us = a->have_from ? (uint64_t)a->from_day * 86400000000ull : 0;
    s.to_us = a->have_to ? ((uint64_t)a->to_day + 1) * 86400000000ull - 1 : UINT64_MAX;
    s_join_init(&s.join);
    char error[256];
    if (isatty(2) && !a->json)
        fprintf(stderr, "reading %s ...\n", a->data);
    int rc = kp_privlog_scan(a->data, a->from_day, a->to_day, s_stats_one, &s, error, sizeof error);
    if (rc)
        fprintf(stderr, "kpctl log stats: %s\n", error);
    else if (a->json) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_kv_uint(j, "records", s.total);
        kp_json_kv_uint(j, "denied", s.denied);
        kp_json_kv_uint(j, "outcome_unknown", s_join_unknown(&s.join));
        s_stats_print(s.messages, "messages", j);
        s_stats_print(s.institutions, "institutions", j);
        s_stats_print(s.reasons, "denials", j);
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
    } else {
        printf("%" PRIu64 " records, %" PRIu64 " denied, %" PRIu64 " with outcome unknown\n",
               s.total, s.denied, s_join_unknown(&s.join));
        s_stats_print(s.messages, "messages per type", NULL);
        s_stats_print(s.institutions, "messages per institution", NULL);
        s_stats_print(s.reasons, "denials per reason", NULL);
    }
    zhash_destroy(&s.messages);
    zhash_destroy(&s.institutions);
    zhash_destroy(&s.reasons);
    s_join_destroy(&s.join);
    return rc ? 1 : 0;
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
    s_join_t join;
    s_join_init(&join);
    int rc =
        kp_privlog_scan(argv[optind], INT32_MIN, INT32_MAX, s_join_one, &join, error, sizeof error);
    uint64_t unknown = s_join_unknown(&join);
    s_join_destroy(&join);
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
