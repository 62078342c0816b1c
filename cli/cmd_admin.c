/*  cmd_admin.c - placeholder until implemented. */
#include <stdio.h>

#include "commands.h"

int kpctl_status(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "kpctl %s: not implemented yet\n", argv[0]);
    return 1;
}

int kpctl_maintenance(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "kpctl %s: not implemented yet\n", argv[0]);
    return 1;
}
