/*  dirreport.h - reports on the reference directory, as text.

    The same builders serve kpctl on a local directory folder and a node
    answering "directory.stats", "directory.person" and "directory.export"
    on its admin socket, so that both give the same document. Each reads
    through the caller's read transaction and returns malloc'd text (free
    it with free), or NULL when the directory could not be read.
*/
#ifndef KP_DIRREPORT_H_INCLUDED
#define KP_DIRREPORT_H_INCLUDED

#include "directory.h"

//  {"seq":N,"file_size":B,"counts":{"institutions":N,...,"persons":N,...},
//   "distinct_persons":N,"persons_by_sector":[{"sector":S,"persons":P,
//   "entries":E},...]}   (persons: distinct INSZ; entries: rows)
char *kp_dirreport_stats(kp_directory_t *dir, MDB_txn *txn);

//  {"insz":"...","entries":[{"sector":S,"type":T,"capacity":C,"kbo":"...",
//   "name":"..." or null,"from":"YYYY-MM-DD","to":"YYYY-MM-DD"},...]}
//  NULL also when insz is not a valid INSZ.
char *kp_dirreport_person(kp_directory_t *dir, MDB_txn *txn, const char *insz);

//  {"number":"...","entry":{...} (kp_register_json; absent when the
//  register does not hold number),"current":"..." (the number that stands
//  for it now),"replaces":["...",...] (numbers merged into it, directly
//  or through a chain of merges: the reverse index),
//  "persons":[...] (as kp_dirreport_person's entries, of number)}.
//  NULL also when number is not a valid INSZ.
char *kp_dirreport_register(kp_directory_t *dir, MDB_txn *txn, const char *number);

//  Calls fn with every record as one JSON line (no newline), in the order
//  of kp_directory_each, until fn returns non-zero; returns that value, 0
//  at the end, or -1 if a line could not be built.
typedef int(kp_dirreport_line_fn)(const char *line, size_t len, void *arg);
int kp_dirreport_export_each(kp_directory_t *dir, MDB_txn *txn, kp_dirreport_line_fn *fn,
                             void *arg);

//  The whole export as one text, every line ending in '\n'.
char *kp_dirreport_export(kp_directory_t *dir, MDB_txn *txn);

//  {"seq":N,"records":R,"sha256":"64 hex digits"}: a checksum of the
//  directory's content, the SHA-256 of its export (every line with its
//  '\n'), so that `kpctl directory export | sha256sum` gives the same
//  digest. Nodes that applied the same updates show the same checksum.
char *kp_dirreport_checksum(kp_directory_t *dir, MDB_txn *txn);

#endif
