/*  json.c - the one JSON writer (and its one string escaper). */
#include "json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KP_JSON_DEPTH 32

struct _kp_json_t {
    char *buf;
    size_t len, cap;
    int depth;
    bool first[KP_JSON_DEPTH]; //  no value yet at this depth
    bool after_key;
};

kp_json_t *kp_json_new(void)
{
    kp_json_t *self = calloc(1, sizeof *self);
    assert(self);
    self->cap = 256;
    self->buf = malloc(self->cap);
    assert(self->buf);
    self->buf[0] = '\0';
    self->first[0] = true;
    return self;
}

void kp_json_destroy(kp_json_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->buf);
        free(*self_p);
        *self_p = NULL;
    }
}

static void s_put(kp_json_t *self, const char *text, size_t len)
{
    if (self->len + len + 1 > self->cap) {
        while (self->len + len + 1 > self->cap)
            self->cap *= 2;
        self->buf = realloc(self->buf, self->cap);
        assert(self->buf);
    }
    memcpy(self->buf + self->len, text, len);
    self->len += len;
    self->buf[self->len] = '\0';
}

//  Writes the comma that separates this value from the one before.
static void s_value_start(kp_json_t *self)
{
    if (self->after_key) {
        self->after_key = false;
        return;
    }
    if (!self->first[self->depth])
        s_put(self, ",", 1);
    self->first[self->depth] = false;
}

static void s_open(kp_json_t *self, const char *bracket)
{
    s_value_start(self);
    s_put(self, bracket, 1);
    assert(self->depth + 1 < KP_JSON_DEPTH);
    self->first[++self->depth] = true;
}

static void s_close(kp_json_t *self, const char *bracket)
{
    assert(self->depth > 0);
    self->depth--;
    s_put(self, bracket, 1);
}

void kp_json_object_open(kp_json_t *self)
{
    s_open(self, "{");
}

void kp_json_object_close(kp_json_t *self)
{
    s_close(self, "}");
}

void kp_json_array_open(kp_json_t *self)
{
    s_open(self, "[");
}

void kp_json_array_close(kp_json_t *self)
{
    s_close(self, "]");
}

const char *kp_json_escape(unsigned char c, char buf[8])
{
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F)
        return NULL;
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        snprintf(buf, 8, "\\u%04x", c);
        return buf;
    }
}

static void s_quoted(kp_json_t *self, const char *value, size_t len)
{
    s_put(self, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        char buf[8];
        const char *esc = kp_json_escape((unsigned char)value[i], buf);
        if (!esc)
            continue;
        s_put(self, value + start, i - start);
        s_put(self, esc, strlen(esc));
        start = i + 1;
    }
    s_put(self, value + start, len - start);
    s_put(self, "\"", 1);
}

void kp_json_key(kp_json_t *self, const char *key)
{
    s_value_start(self);
    s_quoted(self, key, strlen(key));
    s_put(self, ":", 1);
    self->after_key = true;
}

void kp_json_string_len(kp_json_t *self, const char *value, size_t len)
{
    s_value_start(self);
    s_quoted(self, value, len);
}

void kp_json_string(kp_json_t *self, const char *value)
{
    if (!value)
        kp_json_null(self);
    else
        kp_json_string_len(self, value, strlen(value));
}

void kp_json_raw(kp_json_t *self, const char *json)
{
    s_value_start(self);
    s_put(self, json, strlen(json));
}

static void s_printf_value(kp_json_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void s_printf_value(kp_json_t *self, const char *format, ...)
{
    char text[64];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    s_value_start(self);
    s_put(self, text, (size_t)n);
}

void kp_json_int(kp_json_t *self, int64_t value)
{
    s_printf_value(self, "%" PRId64, value);
}

void kp_json_uint(kp_json_t *self, uint64_t value)
{
    s_printf_value(self, "%" PRIu64, value);
}

void kp_json_double(kp_json_t *self, double value)
{
    if (isfinite(value))
        s_printf_value(self, "%.6g", value);
    else
        kp_json_null(self); //  JSON has no NaN or infinity
}

void kp_json_bool(kp_json_t *self, bool value)
{
    s_printf_value(self, "%s", value ? "true" : "false");
}

void kp_json_null(kp_json_t *self)
{
    s_printf_value(self, "null");
}

void kp_json_kv_string(kp_json_t *self, const char *key, const char *value)
{
    kp_json_key(self, key);
    kp_json_string(self, value);
}

void kp_json_kv_int(kp_json_t *self, const char *key, int64_t value)
{
    kp_json_key(self, key);
    kp_json_int(self, value);
}

void kp_json_kv_uint(kp_json_t *self, const char *key, uint64_t value)
{
    kp_json_key(self, key);
    kp_json_uint(self, value);
}

const char *kp_json_text(kp_json_t *self)
{
    return self->buf;
}

size_t kp_json_length(kp_json_t *self)
{
    return self->len;
}

char *kp_json_take(kp_json_t *self)
{
    char *text = self->buf;
    self->cap = 256;
    self->buf = malloc(self->cap);
    assert(self->buf);
    self->buf[0] = '\0';
    self->len = 0;
    self->depth = 0;
    self->first[0] = true;
    self->after_key = false;
    return text;
}
