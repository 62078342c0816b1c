/*  dirstage.h - kpctl's staged import into a node's data folder.

    `kpctl directory import FILE --data DATA` (its records sorted first,
    cli/dirsort.h: the default when the file takes several chunks) and
    `... --in-parts` (file order) fill a copy of the directory beside it,
    DATA/directory.import (a compacted copy of DATA/directory, or an
    empty one), in transactions of at most KP_DIRSTAGE_PART ops, and then
    put it in place with one rename of its data.mdb over
    DATA/directory/data.mdb. So:

    - memory stays bounded whatever the file's size: LMDB keeps a write
      transaction's dirty pages in memory (up to 512 MiB), and a part's
      are those of its ops only (the pages of the file it reads are let go
      as the writer goes, see kp_directory_writer_t);
    - the import is still all or nothing: the directory is untouched until
      the rename, which is atomic; a bad line (without --skip-bad) or any
      error removes the copy, and the file changes nothing. The whole file
      still counts as one update (one sequence number);
    - with --in-parts it is resumable: each part's transaction records
      the last line the copy holds, and the copy's `source` file names
      what it is a copy of (the file's size and modification time, the
      directory's sequence).
      The same import run again after an interruption (a kill, a crash, a
      full disk) goes on after that line; another file, or a directory
      changed meanwhile, starts afresh.

    The price depends on the file's order. In key order (an export, a
    sorted extract) a part dirties a few pages at the tree's right edge:
    5M records went in with a peak of 9 MB (286 MB in one transaction),
    the same file size, one fsync a part. In random key order (gendir) a
    part rewrites nearly a page per op and frees the old ones, which LMDB
    reuses only a transaction later: several times the writes, and a
    larger file (246 MB against 156 MB for 2M persons; the node reuses
    the free pages for later updates). A compacting copy at the end would
    read the whole file through the map, and the resident set would grow
    with the file again. kpctl's default import sorts the records in
    bounded runs first (cli/dirsort.h), which makes every file an ordered
    one, and appends them (kp_dirstage_sorted).

    A process that holds DATA/directory open (a running kpnode) would go on
    with the file the rename replaced: kp_dirstage_new says so (busy), and
    the caller imports in one transaction instead, or through the node.
*/
#ifndef KPCTL_DIRSTAGE_H_INCLUDED
#define KPCTL_DIRSTAGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kruispunt.pb-c.h"

//  Ops per transaction of the copy.
#define KP_DIRSTAGE_PART 16384

typedef struct _kp_dirstage_t kp_dirstage_t;

//  Starts (or resumes) the staged import into folder (DATA/directory) of
//  the file described by source (NULL: not a regular file, never
//  resumed). *resume_line: every line up to it is in the copy already (0:
//  none). NULL with err on failure; *busy true (and nothing made) when
//  another process holds the directory open.
kp_dirstage_t *kp_dirstage_new(const char *folder, const struct stat *source, size_t *resume_line,
                               bool *busy, char *err, size_t errlen);

//  Applies op, read at line, to the copy: 0; 1 refused (err says why; the
//  copy is as before the op); -1 on a storage error (then abandon).
int kp_dirstage_apply(kp_dirstage_t *self, const Kp__DirectoryOp *op, size_t line, char *err,
                      size_t errlen);

//  The ops come in the directory's key order (a sorted import,
//  cli/dirsort.h): person entries past the copy's end are appended
//  (kp_directory_writer_sorted).
void kp_dirstage_sorted(kp_dirstage_t *self);

//  Parts committed by this run.
size_t kp_dirstage_parts(const kp_dirstage_t *self);

//  Commits the last part with one new sequence (*seq), makes the copy
//  durable and puts it in place. 0, or -1 with err (the directory is
//  unchanged; the copy is kept for a later run). Destroys the stage.
int kp_dirstage_commit(kp_dirstage_t **self_p, uint64_t *seq, char *err, size_t errlen);

//  Removes the copy: the directory is as before. Nulls *self_p.
void kp_dirstage_abandon(kp_dirstage_t **self_p);

//  Leaves the copy as far as its last part, for a later run to resume.
void kp_dirstage_destroy(kp_dirstage_t **self_p);

#endif
