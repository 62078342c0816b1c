/*  cmd_register.c - kpctl register: the bis register and the register of
    the deleted (broker/register.h) as operators see them.

      show N        an entry, what replaced it, what it replaced, who holds it
      merge         --keep N --replace M: M becomes replaced_by N
      import FILE   register lines of the directory's JSON Lines format

    Changes are directory updates ("directory.apply", one consensus entry
    each, followed to the leader by cli/admin); reads are the node's
    "register.show". With --data DIR they go to a stopped node's folder.
*/
#include <errno.h>
#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "commands.h"
#include "dirreport.h"
#include "directory.h"
#include "jsonl.h"
#include "options.h"
#include "register.h"

#define S_ERR 1024
//  Register lines per update (each at most a few hundred bytes: an update
//  stays far under the node's 8 MiB entry).
#define S_BATCH 2000

typedef struct {
    const char *cluster, *node, *data, *keep, *replace;
    bool json, skip_bad;
    int timeout_ms;
} s_options_t;

static const char *s_target_help =
    "target (one of):\n"
    "  -c, --cluster FILE  a cluster file: through a node's admin socket (default: $KP_CLUSTER)\n"
    "  -n, --node NAME     the node of the cluster file (default: the first; updates go on\n"
    "                      to the leader)\n"
    "  -d, --data DIR      a stopped node's data folder\n"
    "      --timeout MS    how long to wait for the node (default 30000)\n"
    "  -j, --json          print JSON\n"
    "  -h, --help          this help\n";

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: kpctl register COMMAND [OPTIONS]\n\n"
            "The Crossroads Bank's own registers: the bis register and the register of the\n"
            "deleted. Institutions read and change them with the message types\n"
            "register.lookup, register.search, register.propose and register.correct.\n\n"
            "commands:\n"
            "  show NUMBER                          an entry, its state, who holds the person\n"
            "  merge --keep N --replace M           M was a duplicate of N: M is replaced_by N\n"
            "  import FILE [--skip-bad]             register entries from JSON Lines\n\n"
            "%s\n"
            "'kpctl register COMMAND --help' tells more about each.\n",
            s_target_help);
}

static const char *s_help_show =
    "usage: kpctl register show NUMBER (-c CLUSTER-FILE | --data DIR) [--json]\n\n"
    "Prints the register entry of NUMBER (an INSZ: national or bis number), its state\n"
    "(active, or replaced_by another number after a merge), the number that stands for\n"
    "it now, the numbers merged into it, and the person directory entries of that\n"
    "number. Exit status 1 when the register does not hold NUMBER.\n";

static const char *s_help_merge =
    "usage: kpctl register merge --keep N --replace M (-c CLUSTER-FILE | --data DIR) [--json]\n\n"
    "M and N are the same person registered twice. M becomes replaced_by N in one\n"
    "replicated update: the person directory entries of M move to N, a request about M\n"
    "is routed (and a register.lookup of M answered) for N, and the privacy log keeps\n"
    "the records of both numbers ('kpctl log query --person' of either finds them all).\n"
    "Both must be active entries of the register.\n\n"
    "  --keep N            the number that stays\n"
    "  --replace M         the number that goes\n";

static const char *s_help_import =
    "usage: kpctl register import FILE (-c CLUSTER-FILE | --data DIR) [--skip-bad] [--json]\n\n"
    "Reads FILE, one register entry per line, in the directory's JSON Lines format:\n"
    "  {\"table\":\"register\",\"number\":\"85073003328\",\"name\":\"Peeters\","
    "\"given_names\":\"Jan\",\n"
    "   \"birth_date\":\"1985-07-30\",\"gender\":\"M\",\"nationality\":\"BEL\","
    "\"address\":\"...\",\n"
    "   \"death_date\":\"2020-02-02\",\"replaced_by\":\"...\",\"changed_on\":\"2026-11-30\"}\n"
    "number and name are required; the number's birth date and gender must agree with\n"
    "the fields (month + 20: bis, gender unknown; + 40: bis, gender known; odd sequence\n"
    "M, even F). changed_on, the date of the change (its mutation's date), is today when\n"
    "the line gives none. A line of another table is a bad line. Each line replaces the entry of\n"
    "its number whole (a merged entry stays merged).\n\n"
    "The whole file is checked before anything is sent. By default a file with any bad\n"
    "line changes nothing, and every bad line is listed; --skip-bad applies the good\n"
    "lines and lists the bad ones. A file of up to 2000 lines is one update: applied\n"
    "whole or not at all. A longer one goes in updates of 2000 lines, each whole or not\n"
    "at all; if one is refused, kpctl says how many lines went in before it.\n\n"
    "  -s, --skip-bad      apply the good lines, list the bad ones\n";

static int s_parse(int argc, char **argv, const char *help, s_options_t *o)
{
    memset(o, 0, sizeof *o);
    kpctl_options_t common = {.timeout_ms = 30000};
    const kpctl_option_t own[] = {{"data", 'd', &o->data, NULL},
                                  {"keep", 0, &o->keep, NULL},
                                  {"replace", 0, &o->replace, NULL},
                                  {"skip-bad", 's', NULL, &o->skip_bad}};
    int rc = kpctl_options_parse(argc, argv, argv[0], help, own, 4, &common);
    if (rc >= 0)
        return rc;
    o->cluster = common.cluster;
    o->node = common.node;
    o->json = common.json;
    o->timeout_ms = common.timeout_ms;
    if (!o->data)
        o->cluster = kpctl_cluster_file(o->cluster);
    if (o->data && o->cluster)
        return kpctl_usage_error(argv[0], "give either --data DIR or -c CLUSTER-FILE, not both");
    if (!o->data && !o->cluster)
        return kpctl_usage_error(argv[0], "no target: give -c CLUSTER-FILE (or KP_CLUSTER) or "
                                          "--data DIR (a stopped node's data folder)");
    return -1;
}

//  The local directory of --data DIR, or NULL after naming the problem.
static kp_directory_t *s_local(const char *command, const char *data)
{
    char path[PATH_MAX], err[S_ERR];
    snprintf(path, sizeof path, "%s/directory", data);
    kp_directory_t *dir = kp_directory_new(path, err, sizeof err);
    if (!dir)
        fprintf(stderr, "kpctl %s: %s\n", command, err);
    return dir;
}

//  Applies update to the target: 0 (sequence in *seq), or 1 with the
//  reason on stderr.
static int s_update(const s_options_t *o, const char *command, const Kp__DirectoryUpdate *update,
                    uint64_t *seq)
{
    char err[S_ERR] = "";
    int rc = 1;
    if (o->data) {
        kp_directory_t *dir = s_local(command, o->data);
        if (!dir)
            return 1;
        rc = kp_directory_apply(dir, update, seq, err, sizeof err) ? 1 : 0;
        kp_directory_destroy(&dir);
    } else {
        kpctl_admin_t *admin = kpctl_admin_new(o->cluster, o->node, o->timeout_ms, err, sizeof err);
        Kp__Reason reason;
        kpctl_update_t outcome =
            admin ? kpctl_admin_update(admin, update, seq, &reason, err, sizeof err)
                  : KPCTL_UPDATE_REFUSED;
        kpctl_admin_destroy(&admin);
        rc = outcome == KPCTL_UPDATE_OK ? 0 : 1;
        if (outcome == KPCTL_UPDATE_UNKNOWN)
            fprintf(stderr,
                    "kpctl %s: no answer in time: the change may have been applied; "
                    "check with 'kpctl register show'\n",
                    command);
    }
    if (rc && *err)
        fprintf(stderr, "kpctl %s: %s\n", command, err);
    return rc;
}

//  ---------------------------------------------------------------------
//  show

static int s_show_text(const char *text)
{
    json_t *root = json_loads(text, 0, NULL);
    json_t *entry = json_object_get(root, "entry");
    if (!json_is_object(entry)) {
        json_decref(root);
        return 1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(entry, key, value)
    {
        if (json_is_string(value))
            printf("%-12s %s\n", key, json_string_value(value));
        else if (json_is_integer(value))
            printf("%-12s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value(value));
        else if (json_is_boolean(value))
            printf("%-12s %s\n", key, json_is_true(value) ? "yes" : "no");
    }
    printf("%-12s %s\n", "current", json_string_value(json_object_get(root, "current")));
    size_t i;
    json_array_foreach(json_object_get(root, "replaces"), i, value)
    {
        printf("%-12s %s\n", i ? "" : "replaces", json_string_value(value));
    }
    json_array_foreach(json_object_get(root, "persons"), i, value)
    {
        printf("%-12s kbo %s sector %" JSON_INTEGER_FORMAT " type %" JSON_INTEGER_FORMAT
               " capacity %" JSON_INTEGER_FORMAT " %s..%s\n",
               i ? "" : "held by", json_string_value(json_object_get(value, "kbo")),
               json_integer_value(json_object_get(value, "sector")),
               json_integer_value(json_object_get(value, "type")),
               json_integer_value(json_object_get(value, "capacity")),
               json_string_value(json_object_get(value, "from")),
               json_string_value(json_object_get(value, "to")));
    }
    json_decref(root);
    return 0;
}

static int s_show(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_show, &o);
    if (rc >= 0)
        return rc;
    if (optind + 1 != argc || !kp_insz_valid(argv[optind]))
        return kpctl_usage_error("register show", "give one NUMBER (11 digits, mod-97 check)");
    const char *number = argv[optind];
    char err[S_ERR] = "";
    char *text = NULL;
    if (o.data) {
        kp_directory_t *dir = s_local("register show", o.data);
        if (!dir)
            return 1;
        MDB_txn *txn = kp_directory_read_begin(dir, err, sizeof err);
        text = txn ? kp_dirreport_register(dir, txn, number) : NULL;
        kp_directory_read_end(&txn);
        kp_directory_destroy(&dir);
    } else {
        kpctl_admin_t *admin = kpctl_admin_new(o.cluster, o.node, o.timeout_ms, err, sizeof err);
        Kp__AdminReply *reply =
            admin ? kpctl_admin_command(admin, "register.show", number, err, sizeof err) : NULL;
        text = reply && reply->json ? strdup(reply->json) : NULL;
        if (reply)
            kp__admin_reply__free_unpacked(reply, NULL);
        kpctl_admin_destroy(&admin);
    }
    if (!text) {
        fprintf(stderr, "kpctl register show: %s\n", *err ? err : "cannot read the register");
        return 1;
    }
    json_t *root = json_loads(text, 0, NULL);
    bool found = json_is_object(json_object_get(root, "entry"));
    json_decref(root);
    if (o.json)
        printf("%s\n", text);
    else if (found)
        s_show_text(text);
    else
        fprintf(stderr, "kpctl register show: the register does not hold %s\n", number);
    free(text);
    return found ? 0 : 1;
}

//  ---------------------------------------------------------------------
//  merge

static int s_merge(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_merge, &o);
    if (rc >= 0)
        return rc;
    if (optind != argc || !o.keep || !o.replace)
        return kpctl_usage_error("register merge", "give --keep N and --replace M, nothing else");
    if (!kp_insz_valid(o.keep) || !kp_insz_valid(o.replace) || !strcmp(o.keep, o.replace))
        return kpctl_usage_error("register merge",
                                 "--keep and --replace are two different valid numbers "
                                 "(11 digits, mod-97 check)");
    Kp__RegisterEntry entry = KP__REGISTER_ENTRY__INIT;
    entry.number = (char *)o.replace;
    entry.changed_by = "operator";
    char today[11];
    kp_date_format(kp_date_today(), today);
    entry.changed_on = today;
    entry.has_changed_unix_ms = true;
    entry.changed_unix_ms = (uint64_t)zclock_time();
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.kind = KP__REGISTER_CHANGE__KIND__MERGE;
    change.entry = &entry;
    change.keep = (char *)o.keep;
    kp_register_update_t update;
    kp_register_update_init(&update, &change, "kpctl register merge");
    uint64_t seq = 0;
    if (s_update(&o, "register merge", &update.update, &seq))
        return 1;
    if (o.json)
        printf("{\"merged\":true,\"replaced\":\"%s\",\"replaced_by\":\"%s\",\"seq\":%" PRIu64 "}\n",
               o.replace, o.keep, seq);
    else
        printf("%s is now replaced by %s (directory sequence %" PRIu64 ")\n", o.replace, o.keep,
               seq);
    return 0;
}

//  ---------------------------------------------------------------------
//  import

typedef struct {
    size_t line;
    char why[256];
} s_bad_t;

typedef struct {
    kp_jsonl_batch_t *all; //  every good line, in file order
    s_bad_t *bad;
    size_t bad_count, bad_cap;
    char today[11];  //  the date of the changes whose line gives none
    uint64_t now_ms; //  and their time
} s_file_t;

//  A line without changed_on is a change of today (its mutation's date).
static void s_date(Kp__RegisterEntry *entry, s_file_t *f)
{
    if (entry->changed_on)
        return;
    entry->changed_on = f->today; //  the op's block does not own it: never freed
    entry->has_changed_unix_ms = true;
    entry->changed_unix_ms = f->now_ms;
}

static void s_bad(s_file_t *f, size_t line, const char *why)
{
    if (f->bad_count == f->bad_cap) {
        size_t cap = f->bad_cap ? 2 * f->bad_cap : 16;
        s_bad_t *more = realloc(f->bad, cap * sizeof *more);
        if (!more)
            return; //  the count below still says how many
        f->bad = more;
        f->bad_cap = cap;
    }
    f->bad[f->bad_count].line = line;
    snprintf(f->bad[f->bad_count].why, sizeof f->bad[0].why, "%s", why);
    f->bad_count++;
}

//  Reads and checks the whole file. 0, or 1 when it cannot be read.
static int s_read_file(const char *path, s_file_t *f)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "kpctl register import: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    kp_jsonl_reader_t *reader = kp_jsonl_reader_new(file);
    f->all = kp_jsonl_batch_new();
    kp_jsonl_status_t status;
    Kp__DirectoryOp *op = NULL;
    char why[512];
    while ((status = kp_jsonl_reader_next(reader, &op, why, sizeof why)) != KP_JSONL_END &&
           status != KP_JSONL_ERROR) {
        size_t line = kp_jsonl_reader_line(reader);
        if (status == KP_JSONL_BAD)
            s_bad(f, line, why);
        else if (op->record->record_case != KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY) {
            s_bad(f, line,
                  "not a register line (\"table\":\"register\"); directory records go "
                  "with 'kpctl directory import'");
            kp_jsonl_op_free(&op);
        } else {
            s_date(op->record->register_entry, f);
            kp_jsonl_batch_add_line(f->all, op, line);
        }
        op = NULL;
    }
    kp_jsonl_reader_destroy(&reader);
    fclose(file);
    if (status == KP_JSONL_ERROR) {
        fprintf(stderr, "kpctl register import: cannot read %s: %s\n", path, why);
        return 1;
    }
    return 0;
}

static void s_import_report(const s_options_t *o, const s_file_t *f, size_t applied, bool ok,
                            uint64_t seq)
{
    if (o->json) {
        kp_json_t *json = kp_json_new();
        kp_json_object_open(json);
        kp_json_key(json, "ok");
        kp_json_bool(json, ok);
        kp_json_kv_uint(json, "applied", applied);
        kp_json_kv_uint(json, "seq", seq);
        kp_json_key(json, "bad");
        kp_json_array_open(json);
        for (size_t i = 0; i < f->bad_count && i < f->bad_cap; i++) {
            kp_json_object_open(json);
            kp_json_kv_uint(json, "line", f->bad[i].line);
            kp_json_kv_string(json, "reason", f->bad[i].why);
            kp_json_object_close(json);
        }
        kp_json_array_close(json);
        kp_json_object_close(json);
        printf("%s\n", kp_json_text(json));
        kp_json_destroy(&json);
        return;
    }
    for (size_t i = 0; i < f->bad_count && i < f->bad_cap; i++)
        fprintf(stderr, "line %zu: %s\n", f->bad[i].line, f->bad[i].why);
    if (ok)
        printf("%zu register entries applied (directory sequence %" PRIu64 ")%s\n", applied, seq,
               f->bad_count ? "; bad lines skipped (above)" : "");
}

//  Sends the good lines in updates of S_BATCH; how many went in.
static size_t s_send(const s_options_t *o, s_file_t *f, uint64_t *seq, bool *ok)
{
    Kp__DirectoryUpdate *all = kp_jsonl_batch_update(f->all);
    size_t done = 0;
    *ok = true;
    while (done < all->n_ops) {
        size_t n = all->n_ops - done < S_BATCH ? all->n_ops - done : S_BATCH;
        Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
        update.ops = all->ops + done;
        update.n_ops = n;
        update.origin = "kpctl register import";
        if (s_update(o, "register import", &update, seq)) {
            *ok = false;
            if (done)
                fprintf(stderr,
                        "kpctl register import: stopped at line %zu; the %zu lines before it "
                        "are applied\n",
                        kp_jsonl_batch_line(f->all, done), done);
            break;
        }
        done += n;
        if (isatty(STDERR_FILENO) && all->n_ops > S_BATCH)
            fprintf(stderr, "\r%zu of %zu entries", done, all->n_ops);
    }
    if (isatty(STDERR_FILENO) && all->n_ops > S_BATCH)
        fputc('\n', stderr);
    return done;
}

static int s_import(int argc, char **argv)
{
    s_options_t o;
    int rc = s_parse(argc, argv, s_help_import, &o);
    if (rc >= 0)
        return rc;
    if (optind + 1 != argc)
        return kpctl_usage_error("register import", "give one FILE");
    s_file_t f = {0};
    kp_date_format(kp_date_today(), f.today);
    f.now_ms = (uint64_t)zclock_time();
    if (s_read_file(argv[optind], &f)) {
        kp_jsonl_batch_destroy(&f.all);
        return 1;
    }
    uint64_t seq = 0;
    size_t applied = 0;
    bool ok = true;
    if (f.bad_count && !o.skip_bad) {
        ok = false;
        if (!o.json)
            fprintf(stderr,
                    "kpctl register import: %zu bad lines; nothing was applied (fix them, or "
                    "give --skip-bad to apply the good lines):\n",
                    f.bad_count);
    } else if (kp_jsonl_batch_size(f.all))
        applied = s_send(&o, &f, &seq, &ok);
    s_import_report(&o, &f, applied, ok, seq);
    kp_jsonl_batch_destroy(&f.all);
    free(f.bad);
    return ok ? 0 : 1;
}

int kpctl_register(int argc, char **argv)
{
    static const kpctl_command_t commands[] = {
        {"show", s_show, NULL}, {"merge", s_merge, NULL}, {"import", s_import, NULL}};
    return kpctl_dispatch("kpctl register", commands, sizeof commands / sizeof commands[0], s_usage,
                          argc, argv);
}
