/*  cmd_directory.c - kpctl directory: import, export and inspect the
    reference directory.

    Every sub-command works on a target: a local directory folder
    (--data DIR) or a node's admin socket (-c CLUSTER-FILE [--node NAME]).
    The target is the one seam: it applies an update, or answers a read
    ("directory.stats", "directory.person", "directory.export") with the
    text that broker/dirreport builds, locally or on the node.
*/
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "commands.h"
#include "config.h"
#include "directory.h"
#include "dirreport.h"
#include "dirsort.h"
#include "dirstage.h"
#include "json.h"
#include "jsonl.h"
#include "options.h"
#include "progress.h"

#define S_ERR 1024
#define S_DEFAULT_TIMEOUT_MS 120000
//  An import's batch: one update, one consensus entry. A million lines are
//  about 64 entries of 1 MiB. With 4 MiB entries, applying one held the
//  leader's raft thread long enough, on a loaded machine, for a follower
//  to start an election in the middle of a 1M-line import.
#define S_BATCH_BYTES (1u << 20)
#define S_BATCH_BYTES_MAX (8u << 20) //  the node's admin frames are bounded
#define S_CHUNK_MAX (64ULL << 30)

typedef struct {
    const char *data;    //  --data DIR
    const char *cluster; //  -c CLUSTER-FILE
    const char *node;    //  --node NAME
    bool json;
    bool skip_bad;
    const char *output; //  export --output FILE
    int timeout_ms;
    size_t batch_bytes; //  import: bytes of records per update
    bool batch_given;   //  import: --batch-bytes given (into --data too)
    size_t from_line;   //  import: lines before this one are skipped
    bool progress;      //  import: a progress line even when stderr is no terminal
    bool in_parts;      //  import --data: staged, in parts, file order (cli/dirstage.h)
    bool one_txn;       //  import --data: file order, one transaction
    size_t chunk;       //  import --data: bytes of records sorted in memory (cli/dirsort.h)
} s_options_t;

//  ---------------------------------------------------------------------
//  The target: a local folder or a node's admin socket

typedef struct {
    kp_directory_t *dir;  //  local
    kpctl_admin_t *admin; //  remote
} s_target_t;

static bool s_is_directory_folder(const char *path)
{
    char file[PATH_MAX + 16];
    struct stat st;
    snprintf(file, sizeof file, "%s/data.mdb", path);
    return stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

//  create: an import may make a new folder; reads need an existing one.
static int s_target_open(s_target_t *self, const s_options_t *options, bool create, char *err,
                         size_t errlen)
{
    memset(self, 0, sizeof *self);
    if (options->data && options->cluster) {
        snprintf(err, errlen, "give either --data DIR or -c CLUSTER-FILE, not both");
        return 2;
    }
    if (options->data) {
        //  --data names the node's data folder, as for kpnode.
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/directory", options->data);
        if (!create && !s_is_directory_folder(path)) {
            snprintf(err, errlen,
                     "no directory in %.400s (no data.mdb there); check the path, or make one "
                     "with 'kpctl directory import FILE --data %.400s'",
                     path, options->data);
            return 1;
        }
        self->dir = kp_directory_new(path, err, errlen);
        return self->dir ? 0 : 1;
    }
    if (!options->cluster) {
        snprintf(
            err, errlen,
            "no target: use --data DIR (a node's data folder) or -c CLUSTER-FILE [--node NAME] "
            "(or set KP_CLUSTER)");
        return 2;
    }
    self->admin =
        kpctl_admin_new(options->cluster, options->node, options->timeout_ms, err, errlen);
    return self->admin ? 0 : 1;
}

static void s_target_close(s_target_t *self)
{
    kp_directory_destroy(&self->dir);
    kpctl_admin_destroy(&self->admin);
}

//  A read command's answer as malloc'd text.
static char *s_target_read(s_target_t *self, const char *command, const char *arg, char *err,
                           size_t errlen)
{
    if (self->dir) {
        MDB_txn *txn = kp_directory_read_begin(self->dir, err, errlen);
        if (!txn)
            return NULL;
        char *text =
            !strcmp(command, "directory.stats")      ? kp_dirreport_stats(self->dir, txn)
            : !strcmp(command, "directory.checksum") ? kp_dirreport_checksum(self->dir, txn)
            : !strcmp(command, "directory.person")   ? kp_dirreport_person(self->dir, txn, arg)
                                                     : kp_dirreport_export(self->dir, txn);
        kp_directory_read_end(&txn);
        if (!text)
            snprintf(err, errlen, "cannot read the directory for %s", command);
        return text;
    }
    Kp__AdminReply *reply = kpctl_admin_command(self->admin, command, arg, err, errlen);
    if (!reply)
        return NULL;
    char *text = strdup(reply->json ? reply->json : "");
    kp__admin_reply__free_unpacked(reply, NULL);
    return text;
}

//  ---------------------------------------------------------------------
//  Options

static const char *s_target_help =
    "target (one of):\n"
    "  -d, --data DIR           a node's data folder (the directory is DIR/directory)\n"
    "  -c, --cluster FILE       a cluster file: go through a node's admin socket\n"
    "                           (default without --data: $KP_CLUSTER)\n"
    "  -n, --node NAME          the node of the cluster file (default: the first)\n"
    "      --timeout MS         how long to wait for the node (default 120000)\n"
    "  -h, --help               this help\n";

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: kpctl directory COMMAND [OPTIONS]\n\n"
            "commands:\n"
            "  import FILE [--skip-bad] [--json]   add or delete records from a JSON Lines file\n"
            "  export [--output FILE]              every record as JSON Lines\n"
            "  stats [--json]                      counts per table, persons per sector\n"
            "  person INSZ [--json]                every entry of one person\n"
            "  checksum                            sequence and SHA-256 of the content (JSON)\n\n"
            "%s\n"
            "'kpctl directory COMMAND --help' tells more about each.\n",
            s_target_help);
}

static const char *s_help_import =
    "usage: kpctl directory import FILE (--data DIR | -c CLUSTER-FILE) [--skip-bad] [--json]\n"
    "                               [--batch-bytes N] [--from-line N] [--progress]\n"
    "                               [--chunk SIZE | --one-transaction | --in-parts]\n\n"
    "Reads FILE ('-': standard input), one JSON object per line, e.g.\n"
    "  {\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
    "\"type\":1,\n"
    "   \"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}\n"
    "\"op\":\"delete\" deletes a record. Tables: institution, user, authorization, legal,\n"
    "availability, person, maintenance, key. By default a file with any bad line changes\n"
    "nothing and every bad line is listed (the file is checked before anything is sent);\n"
    "--skip-bad applies the good lines and lists the skipped ones.\n\n"
    "Into --data (a stopped node's folder) the file is read once, every line checked,\n"
    "and its records sorted in chunks of --chunk bytes, written as runs to\n"
    "DATA/directory.sort; they are then merged in the directory's key order into a copy,\n"
    "DATA/directory.import, committed in parts and renamed into place at the end: memory\n"
    "bounded by the chunk whatever the file's size or order, a bad line anywhere changes\n"
    "nothing, readers see it only once it is all in, as one update. A file that fits in\n"
    "one chunk goes into one transaction, sorted. Killed, the same command starts again\n"
    "from the file (what the killed run left is removed). Disk: the runs take 0.85\n"
    "of the file's size while the import runs.\n"
    "--one-transaction: in file order into one transaction (memory: LMDB's dirty pages,\n"
    "up to about 650 MB). --in-parts: in file order through the copy, resumable after\n"
    "a kill; fast only for a file in key order (an export).\n"
    "Give --batch-bytes to import into --data in batches, as through a node.\n\n"
    "Through a node the file is streamed in batches of about --batch-bytes of records;\n"
    "each batch is one update (in a cluster, one consensus entry, acknowledged once\n"
    "committed on a\n"
    "majority and applied), with a progress line. A batch is applied whole or not at all;\n"
    "the file as a whole is not: if an import stops half-way (a delete of an absent\n"
    "record, no quorum, a node lost), the batches before are applied, and kpctl says up\n"
    "to which line and at which directory sequence. Re-running with --from-line N goes\n"
    "on from there; puts replace, so a line applied twice changes nothing.\n"
    "Each batch carries this run's id and its number: a node applies it once however\n"
    "often it comes, so a batch whose outcome is unknown (the leader lost, no quorum,\n"
    "no answer) is sent again, to the next node of the cluster file if its node does\n"
    "not answer, for up to --timeout; only then does kpctl stop and say what to check.\n"
    "Sent to a follower, batches go to the leader it names.\n\n"
    "  -s, --skip-bad           apply the good lines, list the bad ones\n"
    "  -j, --json               print the outcome as JSON\n"
    "  -b, --batch-bytes N      bytes of records per batch (default 1 MiB, at most 8 MiB)\n"
    "  -f, --from-line N        skip the lines before N (to go on after a stop)\n"
    "      --chunk SIZE         (--data) bytes sorted in memory (default 64M; K, M, G)\n"
    "      --one-transaction    (--data) in file order, in one transaction\n"
    "      --in-parts           (--data) in file order, staged in parts, resumable\n"
    "  -p, --progress           a progress line on stderr (lines, lines/s, ETA) even\n"
    "                           when stderr is not a terminal (it is one by default)\n";

static const char *s_help_export =
    "usage: kpctl directory export (--data DIR | -c CLUSTER-FILE) [--output FILE]\n\n"
    "Writes every record as JSON Lines, in the format that import reads, so that\n"
    "export then import into an empty folder gives the same directory.\n\n"
    "  -o, --output FILE        write to FILE instead of standard output\n";

static const char *s_help_stats =
    "usage: kpctl directory stats (--data DIR | -c CLUSTER-FILE) [--json]\n\n"
    "Counts the records of each table, and the persons held per sector.\n\n"
    "  -j, --json               print JSON\n";

static const char *s_help_checksum =
    "usage: kpctl directory checksum (--data DIR | -c CLUSTER-FILE)\n\n"
    "Prints {\"seq\":N,\"records\":R,\"sha256\":\"...\"}: the directory's sequence and the\n"
    "SHA-256 of its export (the same as `kpctl directory export | sha256sum`). Nodes of\n"
    "a cluster that applied the same updates show the same checksum.\n";

static const char *s_help_person =
    "usage: kpctl directory person INSZ (--data DIR | -c CLUSTER-FILE) [--json]\n\n"
    "Lists every entry of the person directory for INSZ: who holds a file on the\n"
    "person, in which capacity, and when.\n\n"
    "  -j, --json               print JSON\n";

//  "64M", "512K", "1G", "65536": bytes in *out. 0, or -1 if not a size.
static int s_size_arg(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    unsigned shift = *end == 'K' || *end == 'k'   ? 10
                     : *end == 'M' || *end == 'm' ? 20
                     : *end == 'G' || *end == 'g' ? 30
                                                  : 0;
    if (shift)
        end++;
    if (errno || end == text || *end || *text == '-' || n > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)(n << shift);
    return 0;
}

//  Parses the options of a sub-command; positional arguments are left in
//  argv[optind..]. Returns 0, 2 on a usage error, or -1 after --help.
static int s_options(int argc, char **argv, const char *help, s_options_t *options)
{
    static const struct option longs[] = {
        {"data", required_argument, NULL, 'd'},
        {"cluster", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"skip-bad", no_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'},
        {"batch-bytes", required_argument, NULL, 'b'},
        {"from-line", required_argument, NULL, 'f'},
        {"progress", no_argument, NULL, 'p'},
        {"in-parts", no_argument, NULL, 'P'},
        {"one-transaction", no_argument, NULL, 'O'},
        {"chunk", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(options, 0, sizeof *options);
    options->timeout_ms = S_DEFAULT_TIMEOUT_MS;
    options->batch_bytes = S_BATCH_BYTES;
    options->chunk = KP_DIRSORT_CHUNK_DEFAULT;
    optind = 0; //  full reset: kpctl may parse more than once
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:c:n:jso:t:b:f:phP", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'd':
            options->data = optarg;
            break;
        case 'c':
            options->cluster = optarg;
            break;
        case 'n':
            options->node = optarg;
            break;
        case 'j':
            options->json = true;
            break;
        case 's':
            options->skip_bad = true;
            break;
        case 'o':
            options->output = optarg;
            break;
        case 't':
            errno = 0;
            long ms = strtol(optarg, &end, 10);
            if (errno || *end || ms <= 0 || ms > 24L * 3600 * 1000) {
                fprintf(stderr, "kpctl directory %s: --timeout wants milliseconds, not '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            options->timeout_ms = (int)ms;
            break;
        case 'b':
        case 'f':
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (errno || *end || *optarg == '-' || n == 0 ||
                (c == 'b' && (n < 1024 || n > S_BATCH_BYTES_MAX))) {
                fprintf(stderr, "kpctl directory %s: %s wants %s, not '%s'\n", argv[0],
                        c == 'b' ? "--batch-bytes" : "--from-line",
                        c == 'b' ? "1024..8388608 bytes" : "a line number from 1", optarg);
                return 2;
            }
            if (c == 'b') {
                options->batch_bytes = (size_t)n;
                options->batch_given = true;
            } else
                options->from_line = (size_t)n;
            break;
        case 'p':
            options->progress = true;
            break;
        case 'P':
            options->in_parts = true;
            break;
        case 'O':
            options->one_txn = true;
            break;
        case 'K':
            if (s_size_arg(optarg, &options->chunk) || options->chunk < KP_DIRSORT_CHUNK_MIN ||
                options->chunk > S_CHUNK_MAX) {
                fprintf(stderr,
                        "kpctl directory %s: --chunk wants a size from 64K to 64G (a number "
                        "with K, M or G), not '%s'\n",
                        argv[0], optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(help, stdout);
            fputs("\n", stdout);
            fputs(s_target_help, stdout);
            return -1;
        case ':':
            fprintf(stderr, "kpctl directory %s: %s needs a value; see --help\n", argv[0],
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "kpctl directory %s: unknown option '%s'; see --help\n", argv[0],
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!options->data)
        options->cluster = kpctl_cluster_file(options->cluster);
    return 0;
}

//  ---------------------------------------------------------------------
//  import

//  Bad lines listed at most; beyond that they are only counted, so that a
//  file of fifty million bad lines cannot fill memory.
#define S_BAD_LISTED 1000

typedef struct {
    size_t line;
    char *reason;
} s_bad_t;

typedef struct {
    s_bad_t *items;
    size_t count, cap;
    size_t total; //  listed or not
} s_bad_list_t;

static void s_bad_add(s_bad_list_t *list, size_t line, const char *reason)
{
    list->total++;
    if (list->count == S_BAD_LISTED)
        return;
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 64;
        list->items = realloc(list->items, list->cap * sizeof *list->items);
        assert(list->items);
    }
    list->items[list->count].line = line;
    list->items[list->count].reason = strdup(reason);
    list->count++;
}

static void s_bad_free(s_bad_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].reason);
    free(list->items);
}

static int s_bad_cmp(const void *a, const void *b)
{
    const s_bad_t *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

static void s_bad_sort(s_bad_list_t *bad)
{
    if (bad->count) //  qsort wants a real array, even of nothing
        qsort(bad->items, bad->count, sizeof *bad->items, s_bad_cmp);
}

static void s_print_bad(const s_bad_list_t *bad, FILE *out)
{
    for (size_t i = 0; i < bad->count; i++)
        fprintf(out, "line %zu: %s\n", bad->items[i].line, bad->items[i].reason);
    if (bad->total > bad->count)
        fprintf(out, "... and %zu more bad lines\n", bad->total - bad->count);
}

//  What an import made that was not there before, so that one that
//  applied nothing leaves no empty folder behind.
typedef struct {
    char data[PATH_MAX], folder[PATH_MAX];
    bool data_existed, folder_existed;
} s_made_t;

static void s_made_note(s_made_t *self, const char *data)
{
    struct stat st;
    snprintf(self->data, sizeof self->data, "%s", data);
    snprintf(self->folder, sizeof self->folder, "%s/directory", data);
    self->data_existed = stat(self->data, &st) == 0;
    self->folder_existed = stat(self->folder, &st) == 0;
}

static void s_made_undo(const s_made_t *self)
{
    if (!self->folder_existed) {
        char file[PATH_MAX + 16];
        snprintf(file, sizeof file, "%s/data.mdb", self->folder);
        unlink(file);
        snprintf(file, sizeof file, "%s/lock.mdb", self->folder);
        unlink(file);
        rmdir(self->folder);
    }
    if (!self->data_existed)
        rmdir(self->data);
}

//  An import streams the file through kp_jsonl_reader_t: one line at a
//  time, never the whole file. Into --data it goes into one write
//  transaction (s_import_local): all of it or, on a bad line, nothing.
//  Through a node, lines are parsed into a batch, and a batch is sent (one
//  update, one consensus entry in a cluster) when it reaches --batch-bytes.
//  Without --skip-bad, a file is then read twice: first to check every
//  line, so that a bad line still changes nothing; standard input cannot
//  be read twice, and its batches before a bad line are applied.
typedef struct {
    const s_options_t *options;
    const char *path;
    FILE *file;
    kp_jsonl_reader_t *reader;
    kp_jsonl_batch_t *batch; //  the batch being filled
    size_t batch_bytes;      //  packed size of the batch so far
    size_t applied;          //  records applied by earlier batches
    size_t batches;          //  batches applied
    size_t done_line;        //  every line up to this one is applied or skipped
    uint64_t seq;            //  the directory's sequence after the last batch
    bool seq_known;
    s_bad_list_t bad;
    kpctl_progress_t progress;
    uint64_t size; //  of the file, for the ETA; 0 if unknown
    char what[PATH_MAX + 16];
    //  Through a node: this run's id and the last batch number sent, so
    //  that a batch sent again (its outcome unknown) is applied once.
    uint8_t import_id[16];
    uint64_t batch_no;
} s_import_t;

static void s_import_progress_start(s_import_t *self, const char *verb)
{
    snprintf(self->what, sizeof self->what, "%s %s", verb, self->path);
    kpctl_progress_init(&self->progress, self->what, "lines",
                        self->options->progress || isatty(STDERR_FILENO), self->size);
}

static void s_import_progress(s_import_t *self)
{
    size_t line = kp_jsonl_reader_line(self->reader);
    if ((line & 0xFFF) == 0)
        kpctl_progress_update(&self->progress, line, kp_jsonl_reader_offset(self->reader));
}

static void s_import_add(s_import_t *self, Kp__DirectoryOp *op, size_t line)
{
    //  The op's bytes plus its tag and length in the update.
    self->batch_bytes += kp__directory_op__get_packed_size(op) + 6;
    kp_jsonl_batch_add_line(self->batch, op, line);
}

//  "op N: reason" from apply names the op; the user wants the line.
static bool s_failed_op(const char *err, size_t *index)
{
    size_t n;
    int used = 0;
    if (sscanf(err, "op %zu: %n", &n, &used) != 1 || used == 0 || n == 0)
        return false;
    *index = n - 1;
    return true;
}

static void s_import_json(s_import_t *self, bool ok, const char *outcome, const char *error)
{
    s_bad_sort(&self->bad);
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_key(json, "ok");
    kp_json_bool(json, ok);
    kp_json_kv_string(json, "outcome", outcome);
    kp_json_kv_string(json, "file", self->path);
    kp_json_kv_uint(json, "lines", kp_jsonl_reader_line(self->reader));
    kp_json_kv_uint(json, "applied", self->applied);
    kp_json_kv_uint(json, "batches", self->batches);
    kp_json_kv_uint(json, "done_line", self->done_line);
    if (self->seq_known)
        kp_json_kv_uint(json, "seq", self->seq);
    if (error)
        kp_json_kv_string(json, "error", error);
    kp_json_kv_uint(json, "bad_lines", self->bad.total);
    kp_json_key(json, ok ? "skipped" : "bad");
    kp_json_array_open(json);
    for (size_t i = 0; i < self->bad.count; i++) {
        kp_json_object_open(json);
        kp_json_kv_uint(json, "line", self->bad.items[i].line);
        kp_json_kv_string(json, "reason", self->bad.items[i].reason);
        kp_json_object_close(json);
    }
    kp_json_array_close(json);
    kp_json_object_close(json);
    puts(kp_json_text(json));
    kp_json_destroy(&json);
}

//  The bad lines of a file refused whole. Returns 1.
static int s_import_refused(s_import_t *self)
{
    if (self->options->json)
        s_import_json(self, false, "refused", "bad lines; nothing imported");
    s_bad_sort(&self->bad);
    s_print_bad(&self->bad, stderr);
    fprintf(stderr,
            "kpctl directory import: %zu bad line%s in %s; nothing imported. Fix them, "
            "or use --skip-bad to import the good ones.\n",
            self->bad.total, self->bad.total == 1 ? "" : "s", self->path);
    return 1;
}

//  What became of a batch.
typedef enum { S_APPLIED, S_REFUSED, S_UNKNOWN } s_outcome_t;

static s_outcome_t s_target_update(s_target_t *target, const Kp__DirectoryUpdate *update,
                                   uint64_t *seq, Kp__Reason *reason, char *err, size_t errlen)
{
    *reason = KP__REASON__REASON_NONE;
    if (target->dir)
        return kp_directory_apply(target->dir, update, seq, err, errlen) ? S_REFUSED : S_APPLIED;
    kpctl_update_t outcome = kpctl_admin_update(target->admin, update, seq, reason, err, errlen);
    return outcome == KPCTL_UPDATE_OK        ? S_APPLIED
           : outcome == KPCTL_UPDATE_REFUSED ? S_REFUSED
                                             : S_UNKNOWN;
}

//  Sends the batch. With --skip-bad an op that apply refuses (a delete of
//  an absent record) is dropped and the rest sent again.
static s_outcome_t s_import_flush(s_import_t *self, s_target_t *target, Kp__Reason *reason,
                                  char *err, size_t errlen)
{
    size_t count = kp_jsonl_batch_size(self->batch);
    if (count == 0)
        return S_APPLIED;
    size_t last_line = kp_jsonl_batch_line(self->batch, count - 1);
    Kp__DirectoryUpdate *update = kp_jsonl_batch_update(self->batch);
    update->origin = "kpctl directory import";
    uint64_t batch_no = ++self->batch_no;
    s_outcome_t outcome;
    uint64_t seq = 0;
    for (;;) {
        //  (kp_jsonl_batch_update builds the update afresh each time.)
        if (target->admin) {
            update->has_import_id = update->has_batch = true;
            update->import_id.data = self->import_id;
            update->import_id.len = sizeof self->import_id;
            update->batch = batch_no;
        }
        outcome = s_target_update(target, update, &seq, reason, err, errlen);
        if (outcome != S_REFUSED)
            break;
        size_t index;
        if (*reason == KP__REASON__NO_QUORUM || !s_failed_op(err, &index) || index >= update->n_ops)
            break;
        s_bad_add(&self->bad, kp_jsonl_batch_line(self->batch, index), strchr(err, ':') + 2);
        if (!self->options->skip_bad)
            break;
        kp_jsonl_batch_remove(self->batch, index);
        update = kp_jsonl_batch_update(self->batch);
        if (update->n_ops == 0) {
            outcome = S_APPLIED; //  nothing left of it
            seq = self->seq;
            break;
        }
    }
    if (outcome == S_APPLIED) {
        self->applied += update->n_ops;
        self->batches++;
        self->done_line = last_line;
        self->seq = seq;
        self->seq_known = true;
    }
    kp_jsonl_batch_clear(self->batch);
    self->batch_bytes = 0;
    return outcome;
}

//  Reads the records of the file (those from --from-line on). check: only
//  parse, collecting bad lines. Otherwise batches are sent to target as
//  they fill; a bad line without --skip-bad stops the import. Returns the
//  outcome of the last batch sent (S_APPLIED when all went through), or
//  S_REFUSED after a bad line or a read error (err says which).
static s_outcome_t s_import_lines(s_import_t *self, s_target_t *target, bool check,
                                  Kp__Reason *reason, char *err, size_t errlen)
{
    s_outcome_t outcome = S_APPLIED;
    kp_jsonl_status_t status;
    Kp__DirectoryOp *op;
    char why[512];
    while (outcome == S_APPLIED &&
           (status = kp_jsonl_reader_next(self->reader, &op, why, sizeof why)) != KP_JSONL_END) {
        size_t line = kp_jsonl_reader_line(self->reader);
        if (status == KP_JSONL_ERROR) {
            snprintf(err, errlen, "cannot read %s: %s", self->path, why);
            return S_REFUSED;
        }
        if (line < self->options->from_line || (op && check))
            kp_jsonl_op_free(&op);
        else if (status == KP_JSONL_BAD) {
            s_bad_add(&self->bad, line, why);
            if (!check && !self->options->skip_bad) {
                snprintf(err, errlen, "line %zu: %s", line, why);
                outcome = S_REFUSED;
            }
        } else {
            s_import_add(self, op, line);
            if (self->batch_bytes >= self->options->batch_bytes)
                outcome = s_import_flush(self, target, reason, err, errlen);
        }
        s_import_progress(self);
        //  Through a node CZMQ catches SIGINT and SIGTERM: stop before the
        //  next batch (what was applied is said, with the line to go on).
        if (!check && outcome == S_APPLIED && zsys_interrupted) {
            snprintf(err, errlen, "interrupted by a signal: no more batches sent");
            outcome = S_REFUSED;
        }
    }
    if (outcome == S_APPLIED && !check)
        outcome = s_import_flush(self, target, reason, err, errlen);
    kpctl_progress_end(&self->progress, kp_jsonl_reader_line(self->reader));
    return outcome;
}

//  One record into the local writer; a refusal is a bad line. -1 when the
//  import cannot go on (a storage error: err says why).
static int s_local_one(s_import_t *self, kp_directory_writer_t **writer_p, Kp__DirectoryOp *op,
                       char *err, size_t errlen)
{
    size_t line = kp_jsonl_reader_line(self->reader);
    char why[512];
    int rc = kp_directory_writer_apply(*writer_p, op, why, sizeof why);
    if (rc == 1) {
        s_bad_add(&self->bad, line, why);
        if (!self->options->skip_bad)
            kp_directory_writer_destroy(writer_p); //  nothing will be kept
    } else if (rc < 0)
        snprintf(err, errlen, "line %zu: %s", line, why);
    return rc < 0 ? -1 : 0;
}

//  A local import went in whole, as one update: applied records.
static s_outcome_t s_import_whole(s_import_t *self, size_t applied)
{
    self->applied = applied;
    self->batches = 1;
    self->done_line = kp_jsonl_reader_line(self->reader);
    self->seq_known = true;
    return S_APPLIED;
}

//  Streams the file into one write transaction of the local directory.
//  Without --skip-bad the first bad line drops the transaction, and the
//  rest of the file is still read to list every bad line at once.
static s_outcome_t s_import_local(s_import_t *self, kp_directory_t *dir, char *err, size_t errlen)
{
    kp_directory_writer_t *writer = kp_directory_writer_new(dir, err, errlen);
    if (!writer)
        return S_REFUSED;
    kp_jsonl_status_t status;
    Kp__DirectoryOp *op;
    char why[512];
    while ((status = kp_jsonl_reader_next(self->reader, &op, why, sizeof why)) != KP_JSONL_END) {
        size_t line = kp_jsonl_reader_line(self->reader);
        if (status == KP_JSONL_ERROR) {
            snprintf(err, errlen, "cannot read %s: %s", self->path, why);
            break;
        }
        bool wanted = line >= self->options->from_line;
        if (wanted && status == KP_JSONL_BAD) {
            s_bad_add(&self->bad, line, why);
            if (!self->options->skip_bad)
                kp_directory_writer_destroy(&writer);
        } else if (wanted && writer && s_local_one(self, &writer, op, err, errlen))
            break;
        kp_jsonl_op_free(&op);
        s_import_progress(self);
    }
    kp_jsonl_op_free(&op);
    kpctl_progress_end(&self->progress, kp_jsonl_reader_line(self->reader));
    if (status != KP_JSONL_END || !writer) {
        kp_directory_writer_destroy(&writer);
        return S_REFUSED;
    }
    size_t applied = kp_directory_writer_count(writer);
    if (kp_directory_writer_commit(&writer, &self->seq, err, errlen))
        return S_REFUSED;
    return s_import_whole(self, applied);
}

//  Streams the file into a staged copy of the local directory, in parts
//  of bounded size, swapped in at the end (cli/dirstage.h): bounded
//  memory, still all or nothing. Lines up to resume are in the copy
//  already (an earlier run was interrupted). A bad line (without
//  --skip-bad) drops the copy, and the rest of the file is still read to
//  list every bad line; a read or storage error keeps the copy up to its
//  last part for the same command to go on.
static s_outcome_t s_import_staged(s_import_t *self, kp_dirstage_t **stage_p, size_t resume,
                                   char *err, size_t errlen)
{
    kp_jsonl_status_t status;
    Kp__DirectoryOp *op;
    char why[512];
    size_t applied = 0;
    //  Test hook: an import killed after its first parts (the shell test's
    //  resume).
    const char *stop = getenv("KPCTL_TEST_STOP_AFTER_PARTS");
    size_t stop_after = stop ? (size_t)strtoul(stop, NULL, 10) : 0;
    while ((status = kp_jsonl_reader_next(self->reader, &op, why, sizeof why)) != KP_JSONL_END) {
        if (stop_after && *stage_p && kp_dirstage_parts(*stage_p) >= stop_after)
            _exit(3);
        size_t line = kp_jsonl_reader_line(self->reader);
        if (status == KP_JSONL_ERROR) {
            snprintf(err, errlen, "cannot read %s: %s", self->path, why);
            break;
        }
        bool wanted = line >= self->options->from_line && line > resume;
        int rc = wanted && status == KP_JSONL_BAD ? 1
                 : wanted && *stage_p ? kp_dirstage_apply(*stage_p, op, line, why, sizeof why)
                                      : 0;
        if (rc == 1) {
            s_bad_add(&self->bad, line, why);
            if (!self->options->skip_bad)
                kp_dirstage_abandon(stage_p); //  nothing will be kept
        } else if (rc < 0) {
            snprintf(err, errlen,
                     "line %zu: %s (the copy keeps what came before: run the same "
                     "command again to go on)",
                     line, why);
            break;
        } else
            applied += wanted && *stage_p;
        kp_jsonl_op_free(&op);
        s_import_progress(self);
    }
    kp_jsonl_op_free(&op);
    kpctl_progress_end(&self->progress, kp_jsonl_reader_line(self->reader));
    if (status != KP_JSONL_END || !*stage_p) {
        kp_dirstage_destroy(stage_p);
        return S_REFUSED;
    }
    if (kp_dirstage_commit(stage_p, &self->seq, err, errlen))
        return S_REFUSED;
    return s_import_whole(self, applied);
}

//  ---------------------------------------------------------------------
//  The sorted import: by default into --data (cli/dirsort.h). The file
//  is read once, every line checked, and its records sorted in chunks of
//  --chunk bytes; nothing is written before the whole file is read, so a
//  bad line (without --skip-bad) changes nothing. The records then go in
//  in the directory's key order: through a staged copy swapped in at the
//  end (cli/dirstage.h) when the file took several chunks, so that memory
//  is bounded whatever its size; in one transaction of the directory
//  itself when it fitted in one chunk (bounded by the chunk as well).

//  Set by SIGINT/SIGTERM during a sorted import (a handler can only set a
//  flag): the import stops, and removes its runs and its copy.
static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int signum)
{
    (void)signum;
    s_interrupted = 1;
}

static void s_signals(void (*handler)(int))
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

static bool s_stop_asked(char *err, size_t errlen)
{
    if (s_interrupted)
        snprintf(err, errlen, "interrupted: the import stopped before its end");
    return s_interrupted;
}

//  Where the sorted records go.
typedef struct {
    kp_dirstage_t *stage;
    kp_directory_t *dir;
    kp_directory_writer_t *writer;
} s_sink_t;

//  staged: through a copy; when a running node holds the directory,
//  into one transaction of it instead (said on stderr). 0, or -1 with err.
static int s_sink_open(s_import_t *self, s_sink_t *sink, bool staged, char *err, size_t errlen)
{
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s/directory", self->options->data);
    if (staged) {
        size_t resume;
        bool busy;
        //  No source: never resumed. A copy that a killed run left is
        //  made afresh (the runs are sorted again too).
        sink->stage = kp_dirstage_new(folder, NULL, &resume, &busy, err, errlen);
        if (sink->stage) {
            kp_dirstage_sorted(sink->stage);
            return 0;
        }
        if (!busy)
            return -1;
        fprintf(stderr,
                "kpctl directory import: %s; importing into it in one transaction (its memory "
                "is LMDB's up to 512 MiB of dirty pages)\n",
                err);
    }
    sink->dir = kp_directory_new(folder, err, errlen);
    sink->writer = sink->dir ? kp_directory_writer_new(sink->dir, err, errlen) : NULL;
    if (!sink->writer) {
        kp_directory_destroy(&sink->dir);
        return -1;
    }
    kp_directory_writer_sorted(sink->writer);
    return 0;
}

static int s_sink_apply(s_sink_t *sink, const Kp__DirectoryOp *op, size_t line, char *why,
                        size_t size)
{
    return sink->stage ? kp_dirstage_apply(sink->stage, op, line, why, size)
                       : kp_directory_writer_apply(sink->writer, op, why, size);
}

static int s_sink_commit(s_sink_t *sink, uint64_t *seq, char *err, size_t errlen)
{
    int rc = sink->stage ? kp_dirstage_commit(&sink->stage, seq, err, errlen)
                         : kp_directory_writer_commit(&sink->writer, seq, err, errlen);
    kp_directory_destroy(&sink->dir);
    return rc;
}

static void s_sink_abandon(s_sink_t *sink)
{
    kp_dirstage_abandon(&sink->stage);
    kp_directory_writer_destroy(&sink->writer);
    kp_directory_destroy(&sink->dir);
}

//  Phase 1: every line read and checked, the good ones sorted. 0; -1
//  when the file is refused (bad lines without --skip-bad; err empty) or
//  cannot be read or sorted (err says why).
static int s_sort_lines(s_import_t *self, kp_dirsort_t *sort, char *err, size_t errlen)
{
    kp_jsonl_status_t status;
    Kp__DirectoryOp *op = NULL;
    char why[512];
    int rc = 0;
    s_import_progress_start(self, "sorting");
    while (rc == 0 && !s_stop_asked(err, errlen) &&
           (status = kp_jsonl_reader_next(self->reader, &op, why, sizeof why)) != KP_JSONL_END) {
        size_t line = kp_jsonl_reader_line(self->reader);
        bool wanted = line >= self->options->from_line;
        //  After a bad line the file is refused: the rest is only checked.
        bool keep = self->options->skip_bad || self->bad.total == 0;
        if (status == KP_JSONL_ERROR) {
            snprintf(err, errlen, "cannot read %s: %s", self->path, why);
            rc = -1;
        } else if (wanted && status == KP_JSONL_BAD)
            s_bad_add(&self->bad, line, why);
        else if (wanted && keep)
            rc = kp_dirsort_add(sort, op, line, err, errlen);
        kp_jsonl_op_free(&op);
        s_import_progress(self);
    }
    kpctl_progress_end(&self->progress, kp_jsonl_reader_line(self->reader));
    return rc || s_interrupted || (self->bad.total && !self->options->skip_bad) ? -1 : 0;
}

//  Phase 2: the sorted records into the directory, one update.
static s_outcome_t s_write_sorted(s_import_t *self, kp_dirsort_t *sort, char *err, size_t errlen)
{
    s_sink_t sink = {0};
    if (s_sink_open(self, &sink, kp_dirsort_runs(sort) > 0, err, errlen))
        return S_REFUSED;
    snprintf(self->what, sizeof self->what, "writing %s", self->path);
    kpctl_progress_init(&self->progress, self->what, "records",
                        self->options->progress || isatty(STDERR_FILENO), kp_dirsort_records(sort));
    const Kp__DirectoryOp *op;
    size_t line, count = 0, applied = 0;
    char why[512];
    int rc = 0;
    while (!s_stop_asked(err, errlen) &&
           (rc = kp_dirsort_next(sort, &op, &line, err, errlen)) == 1) {
        int done = s_sink_apply(&sink, op, line, why, sizeof why);
        if (done < 0) {
            snprintf(err, errlen, "line %zu: %s", line, why);
            rc = -1;
            break;
        }
        if (done == 1) {
            s_bad_add(&self->bad, line, why);
            if (!self->options->skip_bad)
                break; //  refused whole: nothing is kept
        }
        applied += done == 0;
        if ((++count & 0xFFF) == 0)
            kpctl_progress_update(&self->progress, count, count);
    }
    kpctl_progress_end(&self->progress, count);
    if (rc || s_interrupted || (self->bad.total && !self->options->skip_bad)) {
        s_sink_abandon(&sink);
        return S_REFUSED;
    }
    if (s_sink_commit(&sink, &self->seq, err, errlen))
        return S_REFUSED;
    return s_import_whole(self, applied);
}

static s_outcome_t s_import_sorted(s_import_t *self, char *err, size_t errlen)
{
    //  The runs go beside the directory: DATA/directory.sort.
    const char *data = self->options->data;
    if (kp_directory_mkdir(data)) {
        snprintf(err, errlen, "cannot make %s: %s", data, strerror(errno));
        return S_REFUSED;
    }
    char folder[PATH_MAX + 16];
    snprintf(folder, sizeof folder, "%s/directory.sort", data);
    kp_dirsort_t *sort = kp_dirsort_new(folder, self->options->chunk, err, errlen);
    if (!sort)
        return S_REFUSED;
    s_outcome_t outcome = S_REFUSED;
    s_signals(s_on_signal);
    if (s_sort_lines(self, sort, err, errlen) == 0 && kp_dirsort_finish(sort, err, errlen) == 0) {
        //  Test hook: an import killed once its runs are written.
        if (getenv("KPCTL_TEST_STOP_AFTER_SORT") && kp_dirsort_runs(sort))
            _exit(3);
        outcome = s_write_sorted(self, sort, err, errlen);
    }
    kp_dirsort_destroy(&sort);
    s_signals(SIG_DFL);
    return outcome;
}

//  The staged copy for an import into --data; NULL when the directory is
//  held open by another process (*busy: then one transaction into it) or
//  on an error (reported).
static kp_dirstage_t *s_stage_new(s_import_t *self, size_t *resume, bool *busy)
{
    char folder[PATH_MAX], err[S_ERR];
    snprintf(folder, sizeof folder, "%s/directory", self->options->data);
    struct stat st;
    bool regular = fstat(fileno(self->file), &st) == 0 && S_ISREG(st.st_mode);
    kp_dirstage_t *stage =
        kp_dirstage_new(folder, regular ? &st : NULL, resume, busy, err, sizeof err);
    if (!stage)
        fprintf(stderr, "kpctl directory import: %s%s\n", err,
                *busy ? "; importing into it in one transaction (its memory is LMDB's up to "
                        "512 MiB of dirty pages)"
                      : "");
    else if (*resume == SIZE_MAX)
        fprintf(stderr,
                "kpctl directory import: %s.import holds all of %s already (an earlier "
                "run stopped before putting it in place): putting it in place\n",
                folder, self->path);
    else if (*resume)
        fprintf(stderr,
                "kpctl directory import: going on with the import of %s into %s after "
                "line %zu (an earlier run was interrupted)\n",
                self->path, folder, *resume);
    return stage;
}

//  What an operator needs after an import that stopped half-way: what
//  went in, and how to go on without applying anything twice.
static void s_import_stopped(const s_import_t *self, s_outcome_t outcome, const char *err)
{
    const char *cluster = self->options->cluster;
    if (outcome == S_UNKNOWN) {
        fprintf(stderr,
                "kpctl directory import: %s\n"
                "kpctl directory import: outcome unknown for the batch after line %zu: it may "
                "or may not have been applied. The directory's sequence was %" PRIu64
                " before it; check `kpctl directory stats%s%s` (a sequence above %" PRIu64
                " means updates were applied since), then re-run with --from-line %zu: puts "
                "replace, so lines applied twice change nothing (add --skip-bad if the file "
                "deletes records).\n",
                err, self->done_line, self->seq, cluster ? " -c " : "", cluster ? cluster : "",
                self->seq, self->done_line + 1);
        return;
    }
    if (self->batches == 0 && self->done_line == 0) {
        fprintf(stderr, "kpctl directory import: %s was not imported; nothing changed.\n",
                self->path);
        return;
    }
    fprintf(stderr,
            "kpctl directory import: stopped: lines up to %zu are applied (%zu records in %zu "
            "batches, directory seq %" PRIu64 "); nothing after. Fix the problem and re-run "
            "with --from-line %zu.\n",
            self->done_line, self->applied, self->batches, self->seq, self->done_line + 1);
}

//  The check pass: every line parsed, nothing sent. 0 (the file rewound
//  for the import), or 1 after reporting the bad lines (nothing changed).
static int s_import_check(s_import_t *self)
{
    char err[S_ERR] = "";
    Kp__Reason reason;
    s_import_progress_start(self, "checking");
    s_import_lines(self, NULL, true, &reason, err, sizeof err);
    if (self->bad.total)
        return s_import_refused(self);
    if (*err) {
        fprintf(stderr, "kpctl directory import: %s\n", err);
        return 1;
    }
    rewind(self->file);
    kp_jsonl_reader_destroy(&self->reader);
    self->reader = kp_jsonl_reader_new(self->file);
    assert(self->reader);
    return 0;
}

static void s_import_done(s_import_t *self, s_target_t *target)
{
    if (!self->seq_known && target->dir) {
        self->seq = kp_directory_seq(target->dir, NULL);
        self->seq_known = true;
    }
    if (self->options->json) {
        s_import_json(self, true, "applied", NULL);
        return;
    }
    if (self->bad.total) {
        s_bad_sort(&self->bad);
        s_print_bad(&self->bad, stderr);
        fprintf(stderr, "kpctl directory import: skipped %zu bad line%s\n", self->bad.total,
                self->bad.total == 1 ? "" : "s");
    }
    printf("imported %zu record%s from %s in %zu batch%s (directory seq %" PRIu64 ")\n",
           self->applied, self->applied == 1 ? "" : "s", self->path, self->batches,
           self->batches == 1 ? "" : "es", self->seq);
}

static void s_import_failed(s_import_t *self, s_outcome_t outcome, const char *err)
{
    bool refused_whole = self->bad.total && !self->options->skip_bad && self->batches == 0;
    if (refused_whole && !*err) {
        s_import_refused(self);
        return;
    }
    if (self->options->json)
        s_import_json(self, false, outcome == S_UNKNOWN ? "unknown" : "stopped", err);
    s_bad_sort(&self->bad);
    if (self->bad.total && !self->options->skip_bad)
        s_print_bad(&self->bad, stderr);
    else if (outcome != S_UNKNOWN)
        fprintf(stderr, "%s\n", err);
    s_import_stopped(self, outcome, err);
}

static int s_import_run(s_import_t *self, bool seekable)
{
    //  Into --data a bad file changes nothing anyway.
    bool local = self->options->data && !self->options->batch_given;
    bool sorted = local && !self->options->in_parts && !self->options->one_txn;
    //  Checked first, so that a bad file makes no folder and sends nothing.
    if (!local && seekable && !self->options->skip_bad && s_import_check(self))
        return 1;
    char err[S_ERR] = "";
    s_target_t target = {0};
    s_made_t made = {0};
    if (self->options->data)
        s_made_note(&made, self->options->data);
    kp_dirstage_t *stage = NULL;
    size_t resume = 0;
    bool busy = false;
    if (local && self->options->in_parts && !(stage = s_stage_new(self, &resume, &busy)) && !busy) {
        s_made_undo(&made);
        return 1;
    }
    int rc = stage || sorted ? 0 : s_target_open(&target, self->options, true, err, sizeof err);
    if (rc) {
        fprintf(stderr, "kpctl directory import: %s\n", err);
        return rc;
    }
    if (target.admin) {
        //  Each batch goes in once however often it is sent, so that a
        //  batch whose outcome is unknown is sent again (for up to
        //  --timeout), to another node if its node does not answer.
        zuuid_t *uuid = zuuid_new(); //  random (version 4)
        assert(uuid);
        memcpy(self->import_id, zuuid_data(uuid), sizeof self->import_id);
        zuuid_destroy(&uuid);
        kpctl_admin_set_retry(target.admin, self->options->timeout_ms, false);
        //  A bulk job: on a busy machine (kpctl beside a node) the node's
        //  calls come first.
        errno = 0;
        if (nice(10) == -1 && errno)
            fprintf(stderr, "kpctl directory import: cannot lower its priority: %s\n",
                    strerror(errno));
    }
    s_import_progress_start(self, "importing");
    Kp__Reason reason = KP__REASON__REASON_NONE;
    s_outcome_t outcome = sorted  ? s_import_sorted(self, err, sizeof err)
                          : stage ? s_import_staged(self, &stage, resume, err, sizeof err)
                          : local ? s_import_local(self, target.dir, err, sizeof err)
                                  : s_import_lines(self, &target, false, &reason, err, sizeof err);
    if (outcome == S_APPLIED)
        s_import_done(self, &target);
    else
        s_import_failed(self, outcome, err);
    s_target_close(&target);
    if (outcome != S_APPLIED && self->batches == 0 && self->options->data)
        s_made_undo(&made);
    return outcome == S_APPLIED ? 0 : 1;
}

static int s_import(int argc, char **argv)
{
    s_options_t options;
    int rc = s_options(argc, argv, s_help_import, &options);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind != argc - 1) {
        fprintf(stderr, "kpctl directory import: give one FILE (or '-' for standard input); "
                        "see --help\n");
        return 2;
    }
    const char *path = argv[optind];
    FILE *file = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!file) {
        fprintf(stderr, "kpctl directory import: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat st;
    bool seekable = file != stdin && fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode);
    s_import_t self = {.options = &options,
                       .path = path,
                       .file = file,
                       .reader = kp_jsonl_reader_new(file),
                       .batch = kp_jsonl_batch_new(),
                       .size = seekable ? (uint64_t)st.st_size : 0};
    assert(self.reader);
    rc = s_import_run(&self, seekable);
    if (file != stdin)
        fclose(file);
    kp_jsonl_reader_destroy(&self.reader);
    kp_jsonl_batch_destroy(&self.batch);
    s_bad_free(&self.bad);
    return rc;
}

//  ---------------------------------------------------------------------
//  export, stats, person

static int s_write_line(const char *line, size_t len, void *arg)
{
    FILE *out = arg;
    if (fwrite(line, 1, len, out) != len || putc('\n', out) == EOF)
        return -1;
    return 0;
}

//  kpctl directory export: the directory as JSON Lines, streamed from a
//  stopped node's folder or asked of a running node. Exit 0, 1, or 2 usage.
static int s_export(int argc, char **argv)
{
    s_options_t options;
    int rc = s_options(argc, argv, s_help_export, &options);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind != argc) {
        fprintf(stderr, "kpctl directory export: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    char err[S_ERR];
    s_target_t target;
    if ((rc = s_target_open(&target, &options, false, err, sizeof err))) {
        fprintf(stderr, "kpctl directory export: %s\n", err);
        return rc;
    }
    FILE *out = options.output ? fopen(options.output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "kpctl directory export: cannot write %s: %s\n", options.output,
                strerror(errno));
        s_target_close(&target);
        return 1;
    }
    if (target.dir) {
        //  Stream locally: a million persons need not sit in memory.
        MDB_txn *txn = kp_directory_read_begin(target.dir, err, sizeof err);
        if (txn) {
            rc = kp_dirreport_export_each(target.dir, txn, s_write_line, out);
            if (rc)
                snprintf(err, sizeof err, "%s", strerror(errno));
            kp_directory_read_end(&txn);
        } else
            rc = -1;
    } else {
        char *text = s_target_read(&target, "directory.export", NULL, err, sizeof err);
        rc = text && fputs(text, out) != EOF ? 0 : -1;
        if (text && rc)
            snprintf(err, sizeof err, "%s", strerror(errno));
        free(text);
    }
    if (fflush(out) || ferror(out)) {
        if (!rc)
            snprintf(err, sizeof err, "%s", strerror(errno));
        rc = -1;
    }
    if (out != stdout && fclose(out) && !rc) {
        snprintf(err, sizeof err, "%s", strerror(errno));
        rc = -1;
    }
    s_target_close(&target);
    if (rc) {
        fprintf(stderr, "kpctl directory export: %s\n", err);
        return 1;
    }
    return 0;
}

static void s_stats_text(kp_directory_t *dir)
{
    char err[S_ERR];
    MDB_txn *txn = kp_directory_read_begin(dir, err, sizeof err);
    kp_directory_counts_t c;
    if (!txn || kp_directory_counts(dir, txn, &c)) {
        kp_directory_read_end(&txn);
        fprintf(stderr, "kpctl directory stats: %s\n", err);
        return;
    }
    printf("sequence        %" PRIu64 "\n", kp_directory_seq(dir, txn));
    printf("file size       %.1f MiB\n", (double)kp_directory_file_size(dir) / (1 << 20));
    printf("institutions    %zu\nusers           %zu\nauthorizations  %zu\nlegal           "
           "%zu\navailability    %zu\npersons         %zu entries\nmaintenance     %zu\nkeys       "
           "     %zu\n",
           c.institutions, c.users, c.authorizations, c.legal, c.availability, c.persons,
           c.maintenance, c.keys);
    kp_directory_read_end(&txn);
}

//  The people per sector of the stats report (read with jansson), as text.
static void s_stats_sectors(const char *text)
{
    json_t *report = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_t *distinct = json_object_get(report, "distinct_persons");
    if (json_is_integer(distinct))
        printf("distinct people %" JSON_INTEGER_FORMAT "\n", json_integer_value(distinct));
    printf("persons by sector:\n");
    size_t i;
    json_t *sector;
    json_array_foreach(json_object_get(report, "persons_by_sector"), i, sector)
    {
        printf("  sector %-6" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
               " persons %10" JSON_INTEGER_FORMAT " entries\n",
               json_integer_value(json_object_get(sector, "sector")),
               json_integer_value(json_object_get(sector, "persons")),
               json_integer_value(json_object_get(sector, "entries")));
    }
    json_decref(report);
}

static int s_stats(int argc, char **argv)
{
    s_options_t options;
    int rc = s_options(argc, argv, s_help_stats, &options);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind != argc) {
        fprintf(stderr, "kpctl directory stats: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    char err[S_ERR];
    s_target_t target;
    if ((rc = s_target_open(&target, &options, false, err, sizeof err))) {
        fprintf(stderr, "kpctl directory stats: %s\n", err);
        return rc;
    }
    char *text = s_target_read(&target, "directory.stats", NULL, err, sizeof err);
    if (!text) {
        fprintf(stderr, "kpctl directory stats: %s\n", err);
        s_target_close(&target);
        return 1;
    }
    if (options.json || !target.dir)
        puts(text);
    else {
        s_stats_text(target.dir);
        s_stats_sectors(text);
    }
    free(text);
    s_target_close(&target);
    return 0;
}

static int s_checksum(int argc, char **argv)
{
    s_options_t options;
    int rc = s_options(argc, argv, s_help_checksum, &options);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind != argc) {
        fprintf(stderr, "kpctl directory checksum: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    char err[S_ERR];
    s_target_t target;
    if ((rc = s_target_open(&target, &options, false, err, sizeof err))) {
        fprintf(stderr, "kpctl directory checksum: %s\n", err);
        return rc;
    }
    char *text = s_target_read(&target, "directory.checksum", NULL, err, sizeof err);
    if (text)
        puts(text);
    else
        fprintf(stderr, "kpctl directory checksum: %s\n", err);
    free(text);
    s_target_close(&target);
    return text ? 0 : 1;
}

static int s_person_line(const kp_person_entry_t *entry, void *arg)
{
    void **ctx = arg;
    kp_directory_t *dir = ctx[0];
    MDB_txn *txn = ctx[1];
    char from[11], to[11];
    kp_date_format(entry->from, from);
    kp_date_format(entry->to, to);
    kp_institution_view_t inst;
    bool named = kp_directory_institution(dir, txn, entry->kbo, &inst) == 0;
    printf("  sector %-4u type %-4u capacity %-4u %s  %s..%s  %.*s\n", entry->sector, entry->type,
           entry->capacity, entry->kbo, from, to, named ? (int)inst.name_len : 9,
           named ? inst.name : "(unknown)");
    (*(size_t *)ctx[2])++;
    return 0;
}

static int s_person_text(kp_directory_t *dir, const char *insz)
{
    char err[S_ERR];
    MDB_txn *txn = kp_directory_read_begin(dir, err, sizeof err);
    if (!txn) {
        fprintf(stderr, "kpctl directory person: %s\n", err);
        return 1;
    }
    size_t count = 0;
    void *ctx[3] = {dir, txn, &count};
    printf("%s:\n", insz);
    kp_directory_person_each(dir, txn, insz, s_person_line, ctx);
    if (!count)
        printf("  no entries: nobody holds a file on this person\n");
    kp_directory_read_end(&txn);
    return 0;
}

static int s_person(int argc, char **argv)
{
    s_options_t options;
    int rc = s_options(argc, argv, s_help_person, &options);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (optind != argc - 1) {
        fprintf(stderr, "kpctl directory person: give one INSZ; see --help\n");
        return 2;
    }
    const char *insz = argv[optind];
    if (!kp_insz_valid(insz)) {
        fprintf(stderr,
                "kpctl directory person: invalid INSZ '%s': want 11 digits with a valid mod-97 "
                "check\n",
                insz);
        return 2;
    }
    char err[S_ERR];
    s_target_t target;
    if ((rc = s_target_open(&target, &options, false, err, sizeof err))) {
        fprintf(stderr, "kpctl directory person: %s\n", err);
        return rc;
    }
    if (target.dir && !options.json)
        rc = s_person_text(target.dir, insz);
    else {
        char *text = s_target_read(&target, "directory.person", insz, err, sizeof err);
        if (text)
            puts(text);
        else
            fprintf(stderr, "kpctl directory person: %s\n", err);
        rc = text ? 0 : 1;
        free(text);
    }
    s_target_close(&target);
    return rc;
}

int kpctl_directory(int argc, char **argv)
{
    static const kpctl_command_t commands[] = {{"import", s_import, NULL},
                                               {"export", s_export, NULL},
                                               {"stats", s_stats, NULL},
                                               {"person", s_person, NULL},
                                               {"checksum", s_checksum, NULL}};
    return kpctl_dispatch("kpctl directory", commands, sizeof commands / sizeof commands[0],
                          s_usage, argc, argv);
}
