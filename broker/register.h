/*  register.h - the Crossroads Bank's own registers: the bis register and
    the register of the deleted (issue 15), kept in the directory's LMDB
    environment and changed only through directory updates, so that they
    replicate, snapshot and replay with the directory (node/dirfsm.h).

    Tables (opened by the directory, see directory.h):
      register           number (11 digits)          -> packed RegisterEntry
      register_birth     birth day (4 bytes BE, dupsort) -> number
      register_proposal  proposal key                 -> number
      register_replaced  kept number (dupsort)        -> a number it replaced

    Numbers. An INSZ is YYMMDD (birth date; month + 20 for a bis number
    whose holder's gender is unknown, + 40 when it is known), a sequence
    of three digits (odd for men, even for women) and two check digits:
    97 - (the first nine digits mod 97), or for people born from 2000 on
    97 - ("2" followed by them mod 97).

    Changes (kp_register_apply_*) run inside the directory's write
    transaction: a refused change (-1) leaves the transaction as it was,
    KP_STORAGE_FAILED (kperr.h) is a storage error. Every change calls the hooks given to the
    directory (kp_directory_on_register_change) in that same transaction:
    what the change notifications (mutations) build on.

    Reads take any read transaction of the directory. Pure functions
    (checksums, names) are safe from any thread.
*/
#ifndef KP_REGISTER_H_INCLUDED
#define KP_REGISTER_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kperr.h"
#include "json.h"
#include "kruispunt.pb-c.h"

#define KP_REGISTER_MAX_NAME 128 //  name, given names (bytes of UTF-8)
#define KP_REGISTER_MAX_ADDRESS 256
#define KP_REGISTER_MAX_NATIONALITY 3
#define KP_REGISTER_MAX_PROPOSAL 400
#define KP_REGISTER_MAX_SEARCH 16 //  candidates a search returns at most
#define KP_REGISTER_MAX_CHAIN 16  //  replaced_by links followed at most
#define KP_REGISTER_MAX_FAMILY 64 //  numbers of one person followed at most

//  The check digits (0..97) of the first nine digits of an INSZ, for a
//  person born before 2000 (born_2000 false) or from 2000 on.
int kp_register_check_digits(const char nine[9], bool born_2000);

//  The birth date an INSZ encodes (both centuries tried: the valid
//  checksum says which), and whether it is a bis number (month + 20 or +
//  40). 0, or -1 if number is not a valid INSZ. *day is -1 when the
//  number's month or day is 0 (date unknown); *gender_known is true for
//  a national number or a bis number with month + 40.
int kp_register_number_info(const char *number, int32_t *day, bool *bis, bool *gender_known);

//  Makes the bis number of a person born on day (days since 1970) with
//  gender 'M', 'F' or 0 (unknown) and sequence seq (1..998; its parity
//  must match a known gender) into out. 0, or -1 if impossible.
int kp_register_bis_number(int32_t day, char gender, unsigned seq, char out[12]);

//  Checks an entry as a PUT stores it (number required, valid, and its
//  birth date and gender consistent with the number; replaced_by, if
//  given, another valid number: an import may bring merged entries;
//  version is ignored, the node counts it) or, with allocate, as a bis
//  proposal gives it (no number, version nor replaced_by; birth date
//  required). 0 or -1 with err.
int kp_register_entry_check(const Kp__RegisterEntry *entry, bool allocate, char *err,
                            size_t errlen);
int kp_register_change_check(const Kp__RegisterChange *change, char *err, size_t errlen);

//  The tables, as the directory opened them.
typedef struct {
    MDB_dbi entries, by_birth, proposals;
    MDB_dbi replaced; //  reverse index of replaced_by, kept by every change
    MDB_dbi persons;  //  the person directory (a merge moves its entries)
} kp_register_tables_t;

//  What a change did to an entry: the hooks' event.
typedef enum {
    KP_REGISTER_CREATED = 1, //  a new entry (PUT of a new number, or a bis allocation)
    KP_REGISTER_REPLACED,    //  a PUT over an existing entry
    KP_REGISTER_CORRECTED,   //  a correction
    KP_REGISTER_MERGED,      //  the entry was replaced by another (after->replaced_by)
} kp_register_event_t;

const char *kp_register_event_name(kp_register_event_t event);

//  Called in the write transaction of every change, with the entry before
//  (NULL when created) and after. Non-zero refuses the whole update (the
//  hook's storage failed); the hook writes why to err.
typedef int(kp_register_hook_fn)(void *arg, MDB_txn *txn, kp_register_event_t event,
                                 const Kp__RegisterEntry *before, const Kp__RegisterEntry *after,
                                 char *err, size_t errlen);

#define KP_REGISTER_MAX_HOOKS 4
typedef struct {
    kp_register_hook_fn *fn[KP_REGISTER_MAX_HOOKS];
    void *arg[KP_REGISTER_MAX_HOOKS];
    size_t count;
} kp_register_hooks_t;

//  Applying needs the change's date (changed_on; a change without one is
//  refused): the one who proposes it sets it, never the apply's clock.

//  PUT of a whole entry (checked with kp_register_entry_check): created,
//  or replacing the entry of that number (its version goes on; a
//  replaced entry stays replaced). 0, KP_REFUSED, KP_STORAGE_FAILED.
int kp_register_apply_put(const kp_register_tables_t *t, MDB_txn *txn,
                          const kp_register_hooks_t *hooks, const Kp__RegisterEntry *entry,
                          char *err, size_t errlen);

//  A RegisterChange: a bis allocation (the next free sequence for the
//  birth date and gender; a proposal key seen before allocates nothing
//  again), a correction, or a merge (the replaced entry's person
//  directory entries move to the kept number). 0, KP_REFUSED, KP_STORAGE_FAILED.
int kp_register_apply_change(const kp_register_tables_t *t, MDB_txn *txn,
                             const kp_register_hooks_t *hooks, const Kp__RegisterChange *change,
                             char *err, size_t errlen);

//  A DirectoryUpdate of one RegisterChange, as the node and kpctl
//  propose it: init points update at change (borrowed) and origin.
typedef struct {
    Kp__DirectoryUpdate update;
    Kp__DirectoryOp op;
    Kp__DirectoryOp *ops[1];
    Kp__DirectoryRecord record;
} kp_register_update_t;
void kp_register_update_init(kp_register_update_t *self, Kp__RegisterChange *change,
                             const char *origin);

//  The entry of number, unpacked (free with kp__register_entry__free_unpacked),
//  or NULL if there is none (or the stored bytes do not decode).
Kp__RegisterEntry *kp_register_get(const kp_register_tables_t *t, MDB_txn *txn, const char *number);

//  The number proposal allocated, into out (12 bytes). 0, -1 if none.
int kp_register_proposed(const kp_register_tables_t *t, MDB_txn *txn, const char *proposal,
                         char out[12]);

//  The number that stands for number now: itself when active, the end of
//  its replaced_by chain when merged. 0, or -1 if number is not in the
//  register (or the chain is longer than KP_REGISTER_MAX_CHAIN).
int kp_register_resolve(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                        char out[12]);

//  The numbers whose replaced_by is number (merged into it directly), in
//  number order, from the reverse index: at most max written to out.
//  Returns how many there are (more than max when out was too short).
size_t kp_register_replaced(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                            char (*out)[12], size_t max);

//  Every number number replaced, transitively (M1 merged into M2, then
//  M2 into N: N replaced M2 and M1), breadth first, each once: at most
//  max (and KP_REGISTER_MAX_FAMILY) written; returns how many.
size_t kp_register_replaced_all(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                                char (*out)[12], size_t max);

//  Builds the reverse index again from the entries (a directory or a
//  snapshot of a version before it), in txn, a write transaction. 0 or
//  KP_STORAGE_FAILED.
int kp_register_reindex(const kp_register_tables_t *t, MDB_txn *txn, char *err, size_t errlen);

//  Every number of one person: out[0] the number that stands for number
//  now (kp_register_resolve; number itself when the register does not
//  hold it), then every number it replaced, transitively (breadth first,
//  each once). At most max written; returns how many (0 for an invalid
//  number).
size_t kp_register_family(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                          char (*out)[12], size_t max);

//  Name matching: accent- and case-insensitive, letters only (spaces,
//  hyphens and apostrophes dropped: "Van den Berghe" is "vandenberghe").
//  Writes the folded name into out (NUL-terminated, cut to size).
void kp_register_fold(const char *name, char *out, size_t size);

//  Similarity of two names in [0, 1]: 1 - (edit distance of their folds,
//  transpositions counted once) / the longer fold's length.
double kp_register_similarity(const char *a, const char *b);

typedef struct {
    char number[12];
    double score;
} kp_register_candidate_t;

//  The active entries born on day whose name is close to name (and given
//  names to given, when given is not NULL or empty), best first: at most
//  max, each with a score in [0, 1] (at least min_score). Returns how
//  many were written.
size_t kp_register_search(const kp_register_tables_t *t, MDB_txn *txn, const char *name,
                          const char *given, int32_t day, double min_score,
                          kp_register_candidate_t *out, size_t max);

//  Score above which a search candidate is a likely duplicate.
#define KP_REGISTER_DUPLICATE_SCORE 0.85

//  Writes entry as a JSON object: its fields, "state" ("active" or
//  "replaced_by"), "bis" (month + 20 or + 40) and "version".
void kp_register_json(kp_json_t *json, const Kp__RegisterEntry *entry);

//  Calls fn with every entry (number order) until it returns non-zero.
typedef int(kp_register_each_fn)(const Kp__RegisterEntry *entry, void *arg);
int kp_register_each(const kp_register_tables_t *t, MDB_txn *txn, kp_register_each_fn *fn,
                     void *arg);

#endif
