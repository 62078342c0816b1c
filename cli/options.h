/*  options.h - option values shared by kpctl's sub-commands, and the
    dispatch of a command word (kpctl COMMAND, kpctl directory COMMAND).

    Command-line text is input like any other: a bad value is named on
    stderr with the sub-command and the option, never taken as 0.
*/
#ifndef KPCTL_OPTIONS_H_INCLUDED
#define KPCTL_OPTIONS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  Parses text as a decimal number from 0 to UINT32_MAX into out. On bad
//  text prints "kpctl <command>: <name> '<text>' is not a number ..." and
//  returns -1 (out untouched); 0 otherwise.
int kpctl_uint32(const char *command, const char *name, const char *text, uint32_t *out);

//  The options every kpctl command that asks a node shares: -c/--config/
//  --cluster FILE, -n/--node NAME, -j/--json, --timeout MS (at least 1),
//  -h/--help. The caller sets timeout_ms to its default before parsing.
typedef struct {
    const char *cluster; //  as given: kpctl_cluster_file() adds KP_CLUSTER
    const char *node;
    bool json;
    int timeout_ms;
} kpctl_options_t;

//  One option of a command's own: --name, and -short_name when not 0.
//  With value, it takes one (*value = it); else it is a flag (*flag = true).
typedef struct {
    const char *name;
    char short_name;
    const char **value;
    bool *flag;
} kpctl_option_t;

#define KPCTL_OPTIONS_MAX 8 //  a command's own options at most

//  Parses argv (argv[0] the command word) with the shared options and the
//  command's own (extra[0..n_extra)); optind is left on the first operand.
//  Errors name "kpctl <command>: ...". Returns -1 to go on, 0 after
//  printing help on stdout (-h/--help), 2 after naming a usage error.
int kpctl_options_parse(int argc, char **argv, const char *command, const char *help,
                        const kpctl_option_t *extra, size_t n_extra, kpctl_options_t *o);

//  One entry of a command table.
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); //  gets argv from the command word on
    const char *summary;               //  for the caller's usage text; may be NULL
} kpctl_command_t;

//  Runs the command of commands[0..count) named by argv[1] and returns its
//  exit status. No argv[1]: usage(stderr) and 2; "--help", "-h" or "help":
//  usage(stdout) and 0; another option first: "<prefix>: a command is
//  missing before '<option>'" and 2; any other word: "<prefix>: unknown command
//  '<word>'; '<prefix> --help' lists them" and 2.
int kpctl_dispatch(const char *prefix, const kpctl_command_t *commands, size_t count,
                   void (*usage)(FILE *out), int argc, char **argv);

//  kpctl's global options: -c/--config/--cluster FILE and --node NAME may
//  come before the command word, as in "kpctl -c FILE status". Returns a
//  new argument vector (NULL-terminated; the caller frees the array, not
//  the strings) in which they follow the command's own arguments (ahead
//  of a "--"), where every command's parser takes them, and sets *out_argc.
//  Options after the command word stay where they are. --cert FILE, the
//  caller's CURVE certificate, may stand anywhere (before a "--"): it is
//  taken out and put in the environment as KP_CERT. A global option
//  without its value: "kpctl: <option> needs a value" on stderr and NULL.
char **kpctl_globals(int argc, char **argv, int *out_argc);

//  Prints "kpctl <command>: <problem>" (printf-style) and where the help
//  is, on stderr; returns 2, the exit status of a usage error.
int kpctl_usage_error(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  The cluster file a command uses: given (from -c) when not NULL, else
//  the environment's KP_CLUSTER when set and not empty, else NULL.
const char *kpctl_cluster_file(const char *given);

#endif
