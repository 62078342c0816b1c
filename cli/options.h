/*  options.h - option values shared by kpctl's sub-commands, and the
    dispatch of a command word (kpctl COMMAND, kpctl directory COMMAND).

    Command-line text is input like any other: a bad value is named on
    stderr with the sub-command and the option, never taken as 0.
*/
#ifndef KPCTL_OPTIONS_H_INCLUDED
#define KPCTL_OPTIONS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  Parses text as a decimal number from 0 to UINT32_MAX into out. On bad
//  text prints "kpctl <command>: <name> '<text>' is not a number ..." and
//  returns -1 (out untouched); 0 otherwise.
int kpctl_uint32(const char *command, const char *name, const char *text, uint32_t *out);

//  One entry of a command table.
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); //  gets argv from the command word on
    const char *summary;               //  for the caller's usage text; may be NULL
} kpctl_command_t;

//  Runs the command of commands[0..count) named by argv[1] and returns its
//  exit status. No argv[1]: usage(stderr) and 2; "--help", "-h" or "help":
//  usage(stdout) and 0; any other word: "<prefix>: unknown command
//  '<word>'; '<prefix> --help' lists them" and 2.
int kpctl_dispatch(const char *prefix, const kpctl_command_t *commands, size_t count,
                   void (*usage)(FILE *out), int argc, char **argv);

#endif
