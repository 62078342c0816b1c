/*  options.c - option values shared by kpctl's sub-commands; see options.h. */
#include "options.h"

#include <stdio.h>
#include <stdlib.h>

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
