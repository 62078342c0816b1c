/*  options.h - option values shared by kpctl's sub-commands.

    Command-line text is input like any other: a bad value is named on
    stderr with the sub-command and the option, never taken as 0.
*/
#ifndef KPCTL_OPTIONS_H_INCLUDED
#define KPCTL_OPTIONS_H_INCLUDED

#include <stdint.h>

//  Parses text as a decimal number from 0 to UINT32_MAX into out. On bad
//  text prints "kpctl <command>: <name> '<text>' is not a number ..." and
//  returns -1 (out untouched); 0 otherwise.
int kpctl_uint32(const char *command, const char *name, const char *text, uint32_t *out);

#endif
