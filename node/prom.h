/*  prom.h - the Prometheus text exposition format (version 0.0.4).

    Writes metric families to a stdio stream (open_memstream for a buffer):
    a "# HELP" and a "# TYPE" line, then the samples. Label values are
    escaped here (backslash, double quote, newline), so names that come
    from the directory or from the network can go in as they are.
*/
#ifndef KP_PROM_H_INCLUDED
#define KP_PROM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buckets.h"

//  The content type of the format, for the HTTP answer.
#define KP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

//  Room for a label set of two or three values of the longest names.
#define KP_PROM_LABELS 1200

//  Starts a family: type is "counter", "gauge" or "histogram".
void kp_prom_family(FILE *out, const char *name, const char *type, const char *help);

//  One sample, name{labels} value; labels may be "" or NULL.
void kp_prom_uint(FILE *out, const char *name, const char *labels, uint64_t value);
void kp_prom_double(FILE *out, const char *name, const char *labels, double value);

//  Appends key="value" (value escaped) to the label set in buf, with a
//  comma when buf is not empty. A value that does not fit is cut.
void kp_prom_label(char *buf, size_t size, const char *key, const char *value);

//  The _bucket (cumulative, with le="+Inf"), _sum and _count samples of
//  a histogram; scale turns bounds and sum into the family's unit (1e-6
//  for microseconds to seconds, 1 for sizes).
void kp_prom_histogram(FILE *out, const char *name, const char *labels, const kp_buckets_t *b,
                       double scale);

#endif
