/*  cmd_keys.c - kpctl keys: CURVE certificates (new, show) and, as
    before, the privacy log's signing key (kpctl keys --out FILE).

    A certificate is a CZMQ certificate pair: FILE holds the public key
    (give it to whoever must know it), FILE_secret both keys (mode 0600:
    keep it where the program that uses it runs). The public key goes into
    the directory as a key record; `show --kind K --identity I` prints that
    record as a JSON line for 'kpctl directory import'.
*/
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "curve.h"
#include "directory.h"
#include "json.h"

static const char *s_usage =
    "usage: kpctl keys new FILE [--json]\n"
    "       kpctl keys show FILE [--kind KIND --identity ID [--from DATE] [--to DATE]] [--json]\n"
    "       kpctl keys --out FILE [--json]      (the privacy log's signing key)\n\n"
    "new writes a CURVE certificate pair, as the nodes, kpctl, kp_client and kp_worker\n"
    "use them: FILE (the public key) and FILE_secret (both keys, mode 0600). It never\n"
    "overwrites. show prints a certificate's public key (Z85); with --kind (application,\n"
    "provider, operator or node) and --identity (a user id, a KBO, an operator's or a\n"
    "node's name) it prints the directory record that lets the key in, valid from --from\n"
    "(default today) to --to (default: no end), for 'kpctl directory import'.\n";

typedef struct {
    const char *file, *kind, *identity, *from, *to;
    bool json;
} s_args_t;

//  Parses the options of kpctl keys into args. 0, 1 after --help, 2 on a
//  usage error (said on stderr).
static int s_parse(int argc, char **argv, s_args_t *args)
{
    static const struct option options[] = {
        {"kind", required_argument, NULL, 'k'},
        {"identity", required_argument, NULL, 'i'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'k')
            args->kind = optarg;
        else if (c == 'i')
            args->identity = optarg;
        else if (c == 'f')
            args->from = optarg;
        else if (c == 't')
            args->to = optarg;
        else if (c == 'j')
            args->json = true;
        else if (c == 'h') {
            fputs(s_usage, stdout);
            return 1;
        } else {
            fprintf(stderr, "kpctl keys %s: unknown or incomplete option '%s'; see --help\n",
                    argv[0], argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "kpctl keys %s: give one FILE; e.g. kpctl keys %s keys/ocmw-app.cert\n",
                argv[0], argv[0]);
        return 2;
    }
    args->file = argv[optind];
    return 0;
}

static int s_new(const s_args_t *args)
{
    char secret[4200], err[512];
    snprintf(secret, sizeof secret, "%s_secret", args->file);
    if (access(args->file, F_OK) == 0 || access(secret, F_OK) == 0) {
        fprintf(stderr, "kpctl keys new: %s or %s exists already; never overwritten\n", args->file,
                secret);
        return 1;
    }
    char key[KP_CURVE_Z85];
    zcert_t *cert = NULL;
    if (kp_curve_cert_new(args->file, err, sizeof err) ||
        !(cert = kp_curve_cert_load(args->file, true, err, sizeof err))) {
        fprintf(stderr, "kpctl keys new: %s\n", err);
        return 1;
    }
    snprintf(key, sizeof key, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    if (args->json) {
        kp_json_t *j = kp_json_new();
        kp_json_object_open(j);
        kp_json_kv_string(j, "public", args->file);
        kp_json_kv_string(j, "secret", secret);
        kp_json_kv_string(j, "key", key);
        kp_json_object_close(j);
        printf("%s\n", kp_json_text(j));
        kp_json_destroy(&j);
    } else
        printf("wrote %s (public key %s) and %s (secret, 0600)\n", args->file, key, secret);
    return 0;
}

//  kpctl keys show: a certificate's public key; with --kind and --identity
//  the directory's key record for it, checked. Exit 0, 1 unreadable, 2 usage.
static int s_show(const s_args_t *args)
{
    char err[512], today[11];
    zcert_t *cert = kp_curve_cert_load(args->file, false, err, sizeof err);
    if (!cert) {
        fprintf(stderr, "kpctl keys show: %s\n", err);
        return 1;
    }
    char key[KP_CURVE_Z85];
    snprintf(key, sizeof key, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    if (!!args->kind != !!args->identity) {
        fprintf(stderr, "kpctl keys show: give --kind and --identity together\n");
        return 2;
    }
    kp_date_format((int32_t)(time(NULL) / 86400), today);
    kp_json_t *j = kp_json_new();
    kp_json_object_open(j);
    if (args->kind) { //  the record, checked as the directory will check it
        kp_json_kv_string(j, "table", "key");
        kp_json_kv_string(j, "key", key);
        kp_json_kv_string(j, "kind", args->kind);
        kp_json_kv_string(j, "identity", args->identity);
        kp_json_kv_string(j, "from", args->from ? args->from : today);
        if (args->to)
            kp_json_kv_string(j, "to", args->to);
        Kp__Key record = KP__KEY__INIT;
        record.public_key = key;
        record.kind = (char *)args->kind;
        record.identity = (char *)args->identity;
        record.from = (char *)(args->from ? args->from : today);
        record.to = (char *)args->to;
        Kp__DirectoryRecord r = KP__DIRECTORY_RECORD__INIT;
        r.record_case = KP__DIRECTORY_RECORD__RECORD_KEY;
        r.key = &record;
        Kp__DirectoryOp op = KP__DIRECTORY_OP__INIT;
        op.record = &r;
        if (kp_directory_op_check(&op, err, sizeof err)) {
            fprintf(stderr, "kpctl keys show: %s\n", err);
            kp_json_destroy(&j);
            return 2;
        }
    } else {
        kp_json_kv_string(j, "file", args->file);
        kp_json_kv_string(j, "key", key);
    }
    kp_json_object_close(j);
    if (args->json || args->kind)
        printf("%s\n", kp_json_text(j));
    else
        printf("%s\n", key);
    kp_json_destroy(&j);
    return 0;
}

int kpctl_keys(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "new") || !strcmp(argv[1], "show"))) {
        s_args_t args = {0};
        int rc = s_parse(argc - 1, argv + 1, &args);
        if (rc)
            return rc == 1 ? 0 : rc;
        return !strcmp(argv[1], "new") ? s_new(&args) : s_show(&args);
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (argc >= 2 && argv[1][0] == '-')
        return kpctl_log_keys(argc, argv);
    fprintf(stderr, "kpctl keys: say new, show, or --out FILE for the log's key; see --help\n");
    return 2;
}
