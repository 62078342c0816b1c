/*  options.c - option values and command dispatch shared by kpctl's
    sub-commands; see options.h. */
#include "options.h"

#include <assert.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kpctl_uint32(const char *command, const char *name, const char *text, uint32_t *out)
{
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    //  strtoull takes "-1" as a huge number and "" as 0: both are refused.
    if (!*text || *end || *text == '-' || value > UINT32_MAX) {
        fprintf(stderr, "kpctl %s: %s '%s' is not a number from 0 to %u\n", command, name, text,
                UINT32_MAX);
        return -1;
    }
    *out = (uint32_t)value;
    return 0;
}

int kpctl_options_parse(int argc, char **argv, const char *command, const char *help,
                        const kpctl_option_t *extra, size_t n_extra, kpctl_options_t *o)
{
    enum { S_TIMEOUT = 256, S_EXTRA = 257 }; //  getopt's codes beyond any char
    struct option longs[8 + KPCTL_OPTIONS_MAX] = {
        {"config", required_argument, NULL, 'c'},        {"cluster", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},          {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, S_TIMEOUT}, {"help", no_argument, NULL, 'h'}};
    char shorts[8 + 2 * KPCTL_OPTIONS_MAX] = ":c:n:jh";
    size_t n_longs = 6, n_shorts = strlen(shorts);
    assert(n_extra <= KPCTL_OPTIONS_MAX);
    for (size_t i = 0; i < n_extra; i++) {
        int arg = extra[i].value ? required_argument : no_argument;
        longs[n_longs++] = (struct option){extra[i].name, arg, NULL, S_EXTRA + (int)i};
        if (extra[i].short_name) {
            shorts[n_shorts++] = extra[i].short_name;
            if (arg == required_argument)
                shorts[n_shorts++] = ':';
        }
    }
    shorts[n_shorts] = '\0';
    longs[n_longs] = (struct option){NULL, 0, NULL, 0};
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        size_t i = 0;
        while (c < S_EXTRA && i < n_extra && c != extra[i].short_name)
            i++; //  a command's own short option: its entry
        if (c >= S_EXTRA)
            i = (size_t)(c - S_EXTRA);
        uint32_t ms;
        if (i < n_extra && extra[i].value)
            *extra[i].value = optarg;
        else if (i < n_extra)
            *extra[i].flag = true;
        else if (c == 'c')
            o->cluster = optarg;
        else if (c == 'n')
            o->node = optarg;
        else if (c == 'j')
            o->json = true;
        else if (c == S_TIMEOUT) {
            if (kpctl_uint32(command, "--timeout", optarg, &ms))
                return 2;
            if (ms == 0)
                return kpctl_usage_error(command, "--timeout must be at least 1 ms");
            o->timeout_ms = (int)ms;
        } else if (c == 'h') {
            fputs(help, stdout);
            return 0;
        } else
            return kpctl_usage_error(command, "unknown option or missing value '%s'",
                                     argv[optind - 1]);
    }
    return -1;
}

int kpctl_dispatch(const char *prefix, const kpctl_command_t *commands, size_t count,
                   void (*usage)(FILE *out), int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (argv[1][0] == '-') {
        fprintf(stderr, "%s: a command is missing before '%s'; '%s --help' lists them\n", prefix,
                argv[1], prefix);
        return 2;
    }
    for (size_t i = 0; i < count; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'; '%s --help' lists them\n", prefix, argv[1], prefix);
    return 2;
}

//  Is arg a global option? Sets *is_node for --node, and *value to the
//  value inside arg ("-cFILE", "--node=N") or NULL when the value is the
//  next argument.
static bool s_global(const char *arg, bool *is_node, const char **value)
{
    static const char *cluster_longs[] = {"--config", "--cluster"};
    *value = NULL;
    *is_node = false;
    if (!strncmp(arg, "-c", 2)) {
        *value = arg[2] ? arg + 2 : NULL;
        return true;
    }
    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(cluster_longs[i]);
        if (!strncmp(arg, cluster_longs[i], len) && (arg[len] == '\0' || arg[len] == '=')) {
            *value = arg[len] ? arg + len + 1 : NULL;
            return true;
        }
    }
    if (!strncmp(arg, "--node", 6) && (arg[6] == '\0' || arg[6] == '=')) {
        *is_node = true;
        *value = arg[6] ? arg + 7 : NULL;
        return true;
    }
    return false;
}

char **kpctl_globals(int argc, char **argv, int *out_argc)
{
    //  "-cFILE" becomes "-c" "FILE": at most twice as many arguments.
    char **out = calloc(2 * (size_t)argc + 1, sizeof *out);
    char **moved = calloc(2 * (size_t)argc + 1, sizeof *moved);
    if (!out || !moved) {
        fprintf(stderr, "kpctl: out of memory\n");
        free(out);
        free(moved);
        return NULL;
    }
    int n = 0, m = 0, i = 1;
    out[n++] = argv[0];
    //  --cert FILE (anywhere before a "--") becomes KP_CERT, which every
    //  command that connects reads: no command parses it itself.
    int kept = 1;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--"))
            for (; k < argc; k++)
                argv[kept++] = argv[k];
        else if (!strncmp(argv[k], "--cert=", 7))
            setenv("KP_CERT", argv[k] + 7, 1);
        else if (!strcmp(argv[k], "--cert") && k + 1 < argc)
            setenv("KP_CERT", argv[++k], 1);
        else if (!strcmp(argv[k], "--cert")) {
            fprintf(stderr, "kpctl: --cert needs a value; 'kpctl --help' tells more\n");
            free(out);
            free(moved);
            return NULL;
        } else
            argv[kept++] = argv[k];
    }
    argc = kept;
    for (; i < argc; i++) {
        bool is_node;
        const char *value;
        if (!s_global(argv[i], &is_node, &value))
            break;
        if (!value && i + 1 >= argc) {
            fprintf(stderr, "kpctl: %s needs a value; 'kpctl --help' tells more\n", argv[i]);
            free(out);
            free(moved);
            return NULL;
        }
        moved[m++] = is_node ? "--node" : "-c";
        moved[m++] = value ? (char *)value : argv[++i];
    }
    //  The command word and its arguments up to a "--", then the moved options.
    for (; i < argc && strcmp(argv[i], "--"); i++)
        out[n++] = argv[i];
    for (int k = 0; k < m; k++)
        out[n++] = moved[k];
    for (; i < argc; i++)
        out[n++] = argv[i];
    free(moved);
    *out_argc = n;
    return out;
}

const char *kpctl_cluster_file(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("KP_CLUSTER");
    return env && *env ? env : NULL;
}

int kpctl_usage_error(const char *command, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "kpctl %s: ", command);
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n'kpctl %s --help' tells the options\n", command);
    va_end(args);
    return 2;
}
