/*  jsonl.h - directory records as JSON Lines, the import/export format.

    One record per line, a flat JSON object:
      {"table":"person","insz":"85073003328","kbo":"0411702543",
       "sector":17,"type":1,"capacity":1,"from":"2020-01-01","to":"9999-12-31"}
    "op" is "put" (default) or "delete". Tables: institution, user,
    authorization, legal, availability, person, maintenance, key, register
    (register.h: {"table":"register","number":"...","name":"...",
    "given_names":..., "birth_date":..., "gender":..., "nationality":...,
    "address":..., "death_date":..., "replaced_by":..., "changed_by":...};
    put only). Unknown tables
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
#include <stdint.h>
#include <stdio.h>

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

//  ---------------------------------------------------------------------
//  Streaming: a file read one record at a time, in memory bounded by
//  KP_JSONL_MAX_LINE whatever the file's size. A line longer than that is
//  a bad line (it is skipped up to its newline, never held whole).

typedef struct _kp_jsonl_reader_t kp_jsonl_reader_t;

typedef enum {
    KP_JSONL_RECORD, //  a good line: *op_p is the caller's
    KP_JSONL_BAD,    //  a bad line: err says why; reading may go on
    KP_JSONL_END,    //  the end of the file
    KP_JSONL_ERROR   //  the file cannot be read: err says why; stop
} kp_jsonl_status_t;

//  Reads file from where it stands; the caller keeps and closes file.
kp_jsonl_reader_t *kp_jsonl_reader_new(FILE *file);
void kp_jsonl_reader_destroy(kp_jsonl_reader_t **self_p);

//  The next record, blank lines skipped. *op_p is set only for
//  KP_JSONL_RECORD (free it with kp_jsonl_op_free or give it to a batch).
kp_jsonl_status_t kp_jsonl_reader_next(kp_jsonl_reader_t *self, Kp__DirectoryOp **op_p, char *err,
                                       size_t errlen);

//  The number (from 1) of the line that next last returned.
size_t kp_jsonl_reader_line(const kp_jsonl_reader_t *self);

//  Bytes consumed so far: with the file's size, how far along we are.
uint64_t kp_jsonl_reader_offset(const kp_jsonl_reader_t *self);

//  ---------------------------------------------------------------------
//  Batches: an update being built from lines. A batch owns its ops and
//  remembers the line each came from, to name it when apply refuses it.

typedef struct _kp_jsonl_batch_t kp_jsonl_batch_t;
kp_jsonl_batch_t *kp_jsonl_batch_new(void);
void kp_jsonl_batch_destroy(kp_jsonl_batch_t **self_p);
//  Takes ownership of op (line unknown: 0).
void kp_jsonl_batch_add(kp_jsonl_batch_t *self, Kp__DirectoryOp *op);
//  Takes ownership of op, read from line line of its file.
void kp_jsonl_batch_add_line(kp_jsonl_batch_t *self, Kp__DirectoryOp *op, size_t line);
//  The update of all ops held; borrowed, valid until the batch changes.
Kp__DirectoryUpdate *kp_jsonl_batch_update(kp_jsonl_batch_t *self);
size_t kp_jsonl_batch_size(kp_jsonl_batch_t *self);
//  The line of op index (from 0), as given to add_line.
size_t kp_jsonl_batch_line(kp_jsonl_batch_t *self, size_t index);
//  Frees op index and closes the gap: what --skip-bad does to an op that
//  apply refused, before trying the rest again.
void kp_jsonl_batch_remove(kp_jsonl_batch_t *self, size_t index);
//  Frees every op; the batch is empty and keeps its arrays for reuse.
void kp_jsonl_batch_clear(kp_jsonl_batch_t *self);

//  Called with each bad line that kp_jsonl_batch_fill meets; non-zero
//  stops the fill (it then returns KP_JSONL_BAD).
typedef int(kp_jsonl_bad_fn)(size_t line, const char *reason, void *arg);

//  Reads records from reader into self until it holds max_ops ops (then
//  KP_JSONL_RECORD: more may follow), or the file ends (KP_JSONL_END), or
//  reading fails (KP_JSONL_ERROR, err filled). How a cluster import sends
//  a file of any size in batches of bounded size.
kp_jsonl_status_t kp_jsonl_batch_fill(kp_jsonl_batch_t *self, kp_jsonl_reader_t *reader,
                                      size_t max_ops, kp_jsonl_bad_fn *bad_fn, void *arg, char *err,
                                      size_t errlen);

#endif
