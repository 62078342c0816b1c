/*  options.c - option values and command dispatch shared by kpctl's
    sub-commands; see options.h. */
#include "options.h"

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
    for (size_t i = 0; i < count; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'; '%s --help' lists them\n", prefix, argv[1], prefix);
    return 2;
}
