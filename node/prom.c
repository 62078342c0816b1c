/*  prom.c - the Prometheus text exposition format; see prom.h. */
#include "prom.h"

#include <string.h>

void kp_prom_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_name(FILE *out, const char *name, const char *labels)
{
    if (labels && *labels)
        fprintf(out, "%s{%s} ", name, labels);
    else
        fprintf(out, "%s ", name);
}

void kp_prom_uint(FILE *out, const char *name, const char *labels, uint64_t value)
{
    s_name(out, name, labels);
    fprintf(out, "%llu\n", (unsigned long long)value);
}

void kp_prom_double(FILE *out, const char *name, const char *labels, double value)
{
    s_name(out, name, labels);
    //  Whole numbers (sequence numbers, Unix times) in full, not as 1.79e+09.
    if (value == (double)(int64_t)value && value < 9007199254740992.0 &&
        value > -9007199254740992.0)
        fprintf(out, "%lld\n", (long long)value);
    else
        fprintf(out, "%.9g\n", value);
}

void kp_prom_label(char *buf, size_t size, const char *key, const char *value)
{
    size_t used = strnlen(buf, size);
    //  Worst case per character: two bytes; stop while the closing quote fits.
    int n = snprintf(buf + used, size - used, "%s%s=\"", used ? "," : "", key);
    if (n < 0 || (size_t)n >= size - used)
        return;
    used += (size_t)n;
    for (const char *p = value ? value : ""; *p && used + 4 < size; p++) {
        char c = *p;
        if (c == '\\' || c == '"' || c == '\n') {
            buf[used++] = '\\';
            c = c == '\n' ? 'n' : c;
        }
        buf[used++] = c;
    }
    if (used + 2 <= size) {
        buf[used++] = '"';
        buf[used] = '\0';
    }
}

void kp_prom_histogram(FILE *out, const char *name, const char *labels, const kp_buckets_t *b,
                       double scale)
{
    char series[KP_PROM_LABELS + 64];
    char sample[256];
    snprintf(sample, sizeof sample, "%s_bucket", name);
    for (size_t i = 0; i <= b->n; i++) {
        char le[32];
        if (i < b->n)
            snprintf(le, sizeof le, "%.9g", (double)b->bounds[i] * scale);
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(series, sizeof series, "%s", labels ? labels : "");
        kp_prom_label(series, sizeof series, "le", le);
        kp_prom_uint(out, sample, series, kp_buckets_cumulative(b, i));
    }
    snprintf(sample, sizeof sample, "%s_sum", name);
    kp_prom_double(out, sample, labels, (double)b->sum * scale);
    snprintf(sample, sizeof sample, "%s_count", name);
    kp_prom_uint(out, sample, labels, b->count);
}
