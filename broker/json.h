/*  json.h - the project's one JSON writer, for --json outputs, admin
    replies, reports and JSON Lines export. (JSON is read with jansson,
    except the directory import's JSON Lines parser: see jsonl.h.)

    Builds one document into a growing buffer; commas and string escapes
    are handled here so that callers only say what goes where. Keys are
    given with kp_json_key before each value of an object.
*/
#ifndef KP_JSON_H_INCLUDED
#define KP_JSON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _kp_json_t kp_json_t;

kp_json_t *kp_json_new(void);
void kp_json_destroy(kp_json_t **self_p);

void kp_json_object_open(kp_json_t *self);
void kp_json_object_close(kp_json_t *self);
void kp_json_array_open(kp_json_t *self);
void kp_json_array_close(kp_json_t *self);
void kp_json_key(kp_json_t *self, const char *key);
void kp_json_string(kp_json_t *self, const char *value); //  NULL writes null
void kp_json_string_len(kp_json_t *self, const char *value, size_t len);
void kp_json_int(kp_json_t *self, int64_t value);
void kp_json_uint(kp_json_t *self, uint64_t value);
void kp_json_double(kp_json_t *self, double value); //  NaN, infinity: null
void kp_json_bool(kp_json_t *self, bool value);
void kp_json_null(kp_json_t *self);
//  Inserts an already-encoded JSON value as is.
void kp_json_raw(kp_json_t *self, const char *json);

//  Shorthands for "key": value inside an object.
void kp_json_kv_string(kp_json_t *self, const char *key, const char *value);
void kp_json_kv_int(kp_json_t *self, const char *key, int64_t value);
void kp_json_kv_uint(kp_json_t *self, const char *key, uint64_t value);

//  The document so far, NUL-terminated; owned by self.
const char *kp_json_text(kp_json_t *self);
size_t kp_json_length(kp_json_t *self);
//  Hands the buffer to the caller (free it with free) and empties self.
char *kp_json_take(kp_json_t *self);

//  The escape of byte c inside a JSON string (\n, \u007f, ...) in
//  buf or a constant, or NULL when c stands for itself. The one escaper:
//  control bytes, 0x7F, quote and backslash are escaped; UTF-8 passes.
const char *kp_json_escape(unsigned char c, char buf[8]);

#endif
