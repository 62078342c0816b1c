/*  jsonl.h - directory records as JSON Lines, the import/export format.

    One record per line, a flat JSON object:
      {"table":"person","insz":"85073003328","kbo":"0411702543",
       "sector":17,"type":1,"capacity":1,"from":"2020-01-01","to":"9999-12-31"}
    "op" is "put" (default) or "delete". Tables: institution, user,
    authorization, legal, availability, person, maintenance. Unknown tables
    and unknown or missing fields are errors; so are bad INSZ/KBO numbers,
    bad dates and from > to.

    The parser is hand-written, the one place that reads JSON without
    jansson, because it is several times faster than parsing with jansson
    and building the op from a json_t (an import reads millions of lines;
    the figures and the command that measures them are in README.md,
    "Benchmarks"). Like jansson it rejects duplicate keys, bad escapes and
    out-of-range numbers. It is defensive: it reads at most len bytes, never
    recurses, and names the first problem. The record itself is checked
    with kp_directory_op_check, as apply will. Lines are written with the
    one JSON writer (json.h).
*/
#ifndef KP_JSONL_H_INCLUDED
#define KP_JSONL_H_INCLUDED

#include <stddef.h>

#include "kruispunt.pb-c.h"

//  Longest line accepted, in bytes.
#define KP_JSONL_MAX_LINE 65536

//  Parses one line into a newly allocated DirectoryOp (free it with
//  kp_jsonl_op_free). Returns NULL and writes the reason to err on error.
//  A blank line is an error with reason "empty line"; callers skip those.
Kp__DirectoryOp *kp_jsonl_parse(const char *line, size_t len, char *err, size_t errlen);

//  Frees an op made by kp_jsonl_parse and nulls the caller's pointer.
void kp_jsonl_op_free(Kp__DirectoryOp **op_p);

//  Writes record as one JSON line (no newline) into buf. Returns the length
//  it needs, as snprintf does; the output is cut if that is >= size.
size_t kp_jsonl_format(const Kp__DirectoryRecord *record, char *buf, size_t size);

//  An update being built from lines: owns the ops it holds.
typedef struct _kp_jsonl_batch_t kp_jsonl_batch_t;
kp_jsonl_batch_t *kp_jsonl_batch_new(void);
void kp_jsonl_batch_destroy(kp_jsonl_batch_t **self_p);
//  Takes ownership of op.
void kp_jsonl_batch_add(kp_jsonl_batch_t *self, Kp__DirectoryOp *op);
//  The update of all ops added so far; borrowed, valid until the next add.
Kp__DirectoryUpdate *kp_jsonl_batch_update(kp_jsonl_batch_t *self);
size_t kp_jsonl_batch_size(kp_jsonl_batch_t *self);

#endif
