/*  dirsort.h - kpctl's external sort of a directory import: the records
    of a file of any size, given back in the directory's key order, in
    memory bounded by a chunk size whatever the file's size.

    kp_dirsort_add keeps each record (packed, with its sort key and line)
    in a chunk of at most `chunk` bytes. A full chunk is sorted by
    (kp_directory_op_order, line: records of one key keep their file
    order) and written to a run file, FOLDER/run-N (the folder 0700, made
    at the first run; the files 0600). After kp_dirsort_finish,
    kp_dirsort_next gives every record back in that order: straight from
    the chunk when the whole file fitted in it (no file written), else by a
    k-way merge of the runs, each read through a buffer of its own (the
    buffers share the chunk's budget, at least 64 KiB each). The runs hold
    about 0.85 byte of disk per byte of JSON.

    Applied in that order, the records leave the directory as in file
    order (see kp_directory_op_order), and person entries, the bulk of a
    big file, come in the person table's order: a sorted writer appends
    them (kp_directory_writer_sorted), which is what makes a staged import
    in parts as fast for a file in random order as for an export.

    kp_dirsort_destroy removes the runs and the folder. A process killed
    meanwhile leaves them; kp_dirsort_new removes what an earlier run left
    in FOLDER (its run files only: a folder holding anything else is
    refused).
*/
#ifndef KPCTL_DIRSORT_H_INCLUDED
#define KPCTL_DIRSORT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

//  Bounds of the chunk size (kpctl directory import --chunk).
#define KP_DIRSORT_CHUNK_MIN (64u << 10)
#define KP_DIRSORT_CHUNK_DEFAULT (64u << 20)

typedef struct _kp_dirsort_t kp_dirsort_t;

//  A sort whose runs go to folder (not made before the first run). NULL
//  with err when what an earlier run left there cannot be removed.
kp_dirsort_t *kp_dirsort_new(const char *folder, size_t chunk, char *err, size_t errlen);

//  Removes the runs and their folder; nulls *self_p.
void kp_dirsort_destroy(kp_dirsort_t **self_p);

//  Adds op (checked: kp_directory_op_check), read at line. 0, or -1 with
//  err (a run could not be written: a full disk).
int kp_dirsort_add(kp_dirsort_t *self, const Kp__DirectoryOp *op, size_t line, char *err,
                   size_t errlen);

//  No more records: sorts the last chunk (written as a run too when there
//  are runs already) and starts the merge. 0, or -1 with err.
int kp_dirsort_finish(kp_dirsort_t *self, char *err, size_t errlen);

//  Records added; run files written.
size_t kp_dirsort_records(const kp_dirsort_t *self);
size_t kp_dirsort_runs(const kp_dirsort_t *self);

//  The next record in order: 1 with *op_p (owned by the sort, valid until
//  the next call) and *line_p; 0 after the last; -1 with err when a run
//  cannot be read.
int kp_dirsort_next(kp_dirsort_t *self, const Kp__DirectoryOp **op_p, size_t *line_p, char *err,
                    size_t errlen);

#endif
