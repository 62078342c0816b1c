/*  kperr.c - error messages into the caller's buffer. */
#include "kperr.h"

#include <stdarg.h>
#include <stdio.h>

int kp_err(char *err, size_t errlen, const char *format, ...)
{
    if (!err || !errlen)
        return -1;
    va_list args;
    va_start(args, format);
    vsnprintf(err, errlen, format, args);
    va_end(args);
    return -1;
}
