/*  cmd_call.c - placeholder until implemented. */
#include <stdio.h>

#include "commands.h"

int kpctl_call(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "kpctl %s: not implemented yet\n", argv[0]);
    return 1;
}
