/*  directory.h - the reference directory, kept in one LMDB environment.

    Tables (one LMDB database each), laid out so that every check of the
    preventive control is one or two B-tree descents:

      institution   kbo                                  -> name, sector, type
      inst_by_st    sector|type            (dupsort)     -> kbo
      user          id                                   -> kbo, sector, type, messages
      authorization sector|type|capacity|message         -> (empty)
      legal         'K'kbo|framework|message             -> (empty)
                    'S'sector|type|framework|message     -> (empty)
      availability  message|sector|type                 -> (empty)
      person        insz                   (dupsort, fixed-size values)
                    -> sector|type|capacity|kbo|from|to, sorted, so that
                       the entries of one (sector, type, capacity) are adjacent
      maintenance   id                                   -> Maintenance
      key           Z85 public key                       -> kind, from, to, identity
      register, register_birth, register_proposal, register_replaced: the
                    registers (register.h)
      meta          "seq"                                -> update sequence

    Integers in keys are big-endian so that byte order is numeric order.

    The only way to change the directory is kp_directory_apply: one
    DirectoryUpdate, one write transaction, one bump of the sequence. In a
    node, the cluster (node/cluster.h) applies committed raft entries with
    kp_directory_apply_at, so nothing else may write; kpctl applies with
    kp_directory_apply only to a stopped node's folder.

    Threading: a kp_directory_t may be shared by threads of one process;
    each thread opens its own read transactions. LMDB allows one writer at
    a time; kp_directory_apply serialises writers itself. In kpnode the
    cluster actor is the only writer and the routing loop only reads.
*/
#ifndef KP_DIRECTORY_H_INCLUDED
#define KP_DIRECTORY_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kperr.h"
#include "kruispunt.pb-c.h"
#include "register.h"
#include "validate.h"

typedef struct _kp_directory_t kp_directory_t;

//  Opens the directory in folder path, creating the folder and the LMDB
//  files if absent. On failure returns NULL and writes the reason to err.
kp_directory_t *kp_directory_new(const char *path, char *err, size_t errlen);

//  Opens the directory in folder path for reading only (kpctl beside a
//  running node: nothing created, nothing written; applying fails). NULL
//  with the reason in err when the folder, its files or one of its
//  tables (a directory of an older version) is missing.
kp_directory_t *kp_directory_open_read_only(const char *path, char *err, size_t errlen);

//  Makes folder path and any missing parent (0700 each), as
//  kp_directory_new does. 0, or -1 with errno.
int kp_directory_mkdir(const char *path);

//  Closes the directory and nulls the caller's pointer.
void kp_directory_destroy(kp_directory_t **self_p);

//  Limits of record fields, enforced by kp_directory_op_check. Message
//  types, user ids and frameworks are visible ASCII; names and reasons
//  UTF-8 without control characters.
#define KP_DIR_MAX_CODE 65535 //  sector, type, capacity
#define KP_DIR_MAX_ID 128
#define KP_DIR_MAX_MESSAGE 64
#define KP_DIR_MAX_FRAMEWORK 128
#define KP_DIR_MAX_TEXT 256 //  institution name, maintenance reason
#define KP_DIR_MAX_USER_MESSAGES 256

//  Checks one op as kp_directory_apply will (fields present and valid for
//  its kind), without touching the store. 0, or -1 with the reason in err.
int kp_directory_op_check(const Kp__DirectoryOp *op, char *err, size_t errlen);

//  Applies every op of update in one write transaction: all of it, or on
//  any error none of it. Each record is validated again here (INSZ, KBO,
//  dates, required fields), whatever its source. A PUT of an existing key
//  replaces it; a DELETE of an absent record is an error. A Maintenance
//  PUT with id 0 gets the next free id. On success returns 0 and, if seq_p
//  is not NULL, the new sequence number; on failure returns -1 and writes
//  "op N: reason" to err (N counts from 1).
int kp_directory_apply(kp_directory_t *self, const Kp__DirectoryUpdate *update, uint64_t *seq_p,
                       char *err, size_t errlen);

//  The same for the cluster: update is the raft log entry index (> 0).
//  The directory remembers the last raft index it applied, in the same
//  transaction as the update, so that a replay after a crash never
//  applies an entry twice: returns 1 (and *seq_p the current sequence)
//  without touching anything if index was applied already. A refused
//  update returns -1 and records nothing (its replay fails the same way);
//  KP_STORAGE_FAILED (kperr.h) when LMDB itself failed (nothing applied: the caller must retry or
//  stop, not go on).
//  Both recognise a batch of an import applied already (the update's
//  import_id and batch, see kruispunt.proto): nothing is applied, *seq_p
//  is the sequence the import's last batch was applied at (this batch's
//  when it is sent again before the next), and kp_directory_apply_at
//  returns 2 (kp_directory_apply 0). A batch applied is noted in its
//  transaction.
int kp_directory_apply_at(kp_directory_t *self, const Kp__DirectoryUpdate *update, uint64_t index,
                          uint64_t *seq_p, char *err, size_t errlen);

//  A batch: the updates applied (kp_directory_apply, kp_directory_apply_at,
//  writers) between begin and commit, by the thread that began it, share
//  one LMDB transaction and one fsync. Each update stays all or nothing (a
//  nested transaction of the batch); none is durable, nor visible to
//  readers, before the commit. The batch holds the write lock throughout.
//  The cluster applies each turn's committed raft entries in one batch:
//  the raft log, durable on a majority, is what makes them durable.
int kp_directory_batch_begin(kp_directory_t *self, char *err, size_t errlen);
bool kp_directory_batch_open(kp_directory_t *self);
int kp_directory_batch_commit(kp_directory_t *self, char *err, size_t errlen);

//  The directory is a replica of a raft log that is durable on a majority
//  (node/cluster.h): its commits skip the flush of LMDB's meta page
//  (MDB_NOMETASYNC, one fsync instead of two). A system crash may then
//  undo its last commit, never break it; raft applies it again.
void kp_directory_replicated(kp_directory_t *self);

//  The tables of the mutation queues (broker/mutation.c), kept in this
//  environment so that they are replicated, copied and loaded with the
//  directory, and changed in the same transactions.
typedef enum {
    KP_DIR_MUT_QUEUE = 0, //  kbo | seq -> MutationEntry
    KP_DIR_MUT_INST,      //  kbo -> queue counters
    KP_DIR_MUT_ACKED,     //  kbo | seq -> time acknowledged (entries past the head)
    KP_DIR_MUT_IDS,       //  origin | change id -> time queued
    KP_DIR_MUT_ID_TIME,   //  time queued | origin | change id (pruning, oldest first)
} kp_dir_mut_table_t;
MDB_dbi kp_directory_mutation_table(kp_directory_t *self, kp_dir_mut_table_t table);

//  The last raft index applied (0: none, or never in a cluster). txn may
//  be NULL (a read transaction of its own).
uint64_t kp_directory_applied(kp_directory_t *self, MDB_txn *txn);

//  The raft index and sequence recorded in an LMDB file made by
//  kp_directory_copy (opened read-only, apart from any open directory).
int kp_directory_file_applied(const char *file, uint64_t *applied, uint64_t *seq, char *err,
                              size_t errlen);

//  Writes a compacted copy of the directory (mdb_env_copyfd2 with
//  MDB_CP_COMPACT) to fd, as of one read transaction. May run in any
//  thread, beside readers and the writer.
int kp_directory_copy(kp_directory_t *self, int fd, char *err, size_t errlen);

//  Replaces the whole content of the directory by that of the LMDB file
//  file (a copy made by kp_directory_copy) in one write transaction:
//  every table emptied and refilled in key order. Readers go on beside it
//  and see the old content until the commit, the new one after: nobody
//  lets go of anything. Fsynced before it returns.
int kp_directory_load(kp_directory_t *self, const char *file, char *err, size_t errlen);

//  Replaces the whole directory by the LMDB file file (a copy made by
//  kp_directory_copy): copied aside, fsynced, renamed over the data file,
//  and the environment reopened. The caller guarantees that no thread
//  holds a transaction of this directory meanwhile (in kpnode: the
//  cluster actor asks the routing loop to release its own first).
int kp_directory_replace(kp_directory_t *self, const char *file, char *err, size_t errlen);

//  A writer applies ops one at a time in a single write transaction: an
//  update of any size (an import of fifty million lines) without holding
//  it in memory, and still all or nothing. Until commit no reader sees any
//  of it; destroy without commit leaves the directory as it was. A writer
//  holds the directory's write lock: other writers wait until it ends.
typedef struct _kp_directory_writer_t kp_directory_writer_t;

//  Begins the transaction. NULL and err filled on failure.
kp_directory_writer_t *kp_directory_writer_new(kp_directory_t *dir, char *err, size_t errlen);

//  Applies one op, with the rules of kp_directory_apply. 0; 1 when the op
//  is refused (invalid, or a delete of an absent record: err says why),
//  which leaves the transaction as it was before the op, so the caller may
//  skip it and go on; -1 on a storage error (a full map, a full disk),
//  after which only destroy is allowed.
int kp_directory_writer_apply(kp_directory_writer_t *self, const Kp__DirectoryOp *op, char *err,
                              size_t errlen);

//  Ops applied so far (refused ones not counted).
size_t kp_directory_writer_count(const kp_directory_writer_t *self);

//  Bumps the sequence once and commits everything applied. 0 and the new
//  sequence in *seq_p (if not NULL), or -1 and err filled (nothing
//  changed). Either way the writer is destroyed and *self_p nulled.
int kp_directory_writer_commit(kp_directory_writer_t **self_p, uint64_t *seq_p, char *err,
                               size_t errlen);

//  Aborts what was not committed and nulls the caller's pointer.
void kp_directory_writer_destroy(kp_directory_writer_t **self_p);

//  Sorting an import (kpctl's external sort, cli/dirsort.h): writes op's
//  place in the directory's key order to out (at most KP_DIR_ORDER_MAX
//  bytes: a table's rank, then the record's key in that table; for a
//  person entry, its key and value) and returns its length. The op must
//  have passed kp_directory_op_check. An op changes, and is refused by,
//  only what is under its own key (a PUT replaces that record, a DELETE
//  finds it or not), so applying a file's ops in this order, ops of equal
//  keys in file order, leaves the directory as applying them in file
//  order does, and refuses the same ops. Two tables do not fit that: a
//  maintenance window with id 0 takes the next free id, and a register
//  entry may take another's proposal key; all of their ops share one key,
//  so they keep their file order.
#define KP_DIR_ORDER_MAX 256
size_t kp_directory_op_order(const Kp__DirectoryOp *op, unsigned char *out);

//  The ops that follow come in kp_directory_op_order order (a sorted
//  import): person PUTs past the end of the person table are appended
//  (MDB_APPEND), without a descent from the root and leaving pages full,
//  not split in half: a bulk load into an empty table makes a compact
//  file. The others are applied as by kp_directory_writer_apply.
void kp_directory_writer_sorted(kp_directory_writer_t *self);

//  Bulk loading in bounded transactions, for a copy that nobody reads
//  while it is filled (kpctl's staged import, cli/dirstage.h): commits the
//  ops applied so far WITHOUT a new sequence, with mark (how far the
//  source is in: a line number) in the same transaction, and goes on in a
//  new transaction. The dirty pages of one transaction, which LMDB keeps
//  in memory (up to 512 MiB), are then those of the ops since the last
//  checkpoint. 0, or -1 with err (the writer may then only be destroyed).
int kp_directory_writer_checkpoint(kp_directory_writer_t *self, uint64_t mark, char *err,
                                   size_t errlen);

//  The mark the next commit (or checkpoint) records with it.
void kp_directory_writer_mark(kp_directory_writer_t *self, uint64_t mark);

//  The mark of the last commit or checkpoint that recorded one; 0 if none.
uint64_t kp_directory_stage_mark(kp_directory_t *self);

//  Reader slots of this directory held by other live processes (a
//  running kpnode holds one); -1 if LMDB cannot tell.
int kp_directory_other_readers(kp_directory_t *self);

//  Read transactions. begin returns NULL on error (err filled). A reader
//  that loops may reset and renew one transaction instead of beginning
//  a new one each time.
MDB_txn *kp_directory_read_begin(kp_directory_t *self, char *err, size_t errlen);
int kp_directory_read_renew(MDB_txn *txn);
void kp_directory_read_reset(MDB_txn *txn);
void kp_directory_read_end(MDB_txn **txn_p);

//  The sequence number of the last applied update (0: empty directory).
uint64_t kp_directory_seq(kp_directory_t *self, MDB_txn *txn);

//  ---------------------------------------------------------------------
//  Lookups for the preventive control. Each takes a read transaction; any
//  pointer it returns points into the map and stays valid until the
//  transaction ends or is reset.

typedef struct {
    char kbo[KP_KBO_LEN + 1];
    uint32_t sector;
    uint32_t type;
    const char *messages; //  message types, each NUL-terminated, back to back
    size_t messages_size; //  bytes in messages
} kp_user_view_t;

//  0 and *out filled if user id exists, -1 if not.
int kp_directory_user(kp_directory_t *self, MDB_txn *txn, const char *id, kp_user_view_t *out);

//  True if the user may send message type message.
bool kp_user_may_send(const kp_user_view_t *user, const char *message);

typedef struct {
    uint32_t sector;
    uint32_t type;
    const char *name; //  not NUL-terminated: name_len bytes, in the map
    size_t name_len;
} kp_institution_view_t;

//  0 and *out filled if institution kbo exists, -1 if not.
int kp_directory_institution(kp_directory_t *self, MDB_txn *txn, const char *kbo,
                             kp_institution_view_t *out);

//  True if (sector, type, capacity) may request message.
bool kp_directory_authorized(kp_directory_t *self, MDB_txn *txn, uint32_t sector, uint32_t type,
                             uint32_t capacity, const char *message);

//  True if the legal framework authorizes kbo (when kbo is not NULL) or
//  (sector, type) (when kbo is NULL) for message.
bool kp_directory_legal(kp_directory_t *self, MDB_txn *txn, const char *kbo, uint32_t sector,
                        uint32_t type, const char *framework, const char *message);

//  True if institutions of (sector, type) provide message.
bool kp_directory_provides(kp_directory_t *self, MDB_txn *txn, const char *message, uint32_t sector,
                           uint32_t type);

//  True if any (sector, type) provides message.
bool kp_directory_message_known(kp_directory_t *self, MDB_txn *txn, const char *message);

//  Calls fn for every (sector, type) that provides message (availability
//  table, key order) until fn returns non-zero; returns that value or 0.
//  Used by the control to route a legal-framework request without person.
typedef int(kp_sector_type_fn)(uint32_t sector, uint32_t type, void *arg);
int kp_directory_providers_of(kp_directory_t *self, MDB_txn *txn, const char *message,
                              kp_sector_type_fn *fn, void *arg);

typedef struct {
    uint32_t sector;
    uint32_t type;
    uint32_t capacity;
    char kbo[KP_KBO_LEN + 1];
    int32_t from; //  days since 1970-01-01, inclusive
    int32_t to;   //  inclusive
} kp_person_entry_t;

//  Calls fn for every entry of person insz, in key order (sector, type,
//  capacity, kbo, from, to), until fn returns non-zero. Returns that value,
//  or 0 after the last entry (also when there is none).
typedef int(kp_person_fn)(const kp_person_entry_t *entry, void *arg);
int kp_directory_person_each(kp_directory_t *self, MDB_txn *txn, const char *insz, kp_person_fn *fn,
                             void *arg);

//  True if the person directory holds insz for (sector, type, capacity)
//  with a validity period that contains date: check 3 of the control, one
//  cursor positioning and a short scan of adjacent duplicates.
bool kp_directory_person_held(kp_directory_t *self, MDB_txn *txn, const char *insz, uint32_t sector,
                              uint32_t type, uint32_t capacity, int32_t date);

//  Calls fn for every institution KBO of (sector, type) until fn returns
//  non-zero; returns that value or 0.
typedef int(kp_kbo_fn)(const char *kbo, void *arg);
int kp_directory_institutions_of(kp_directory_t *self, MDB_txn *txn, uint32_t sector, uint32_t type,
                                 kp_kbo_fn *fn, void *arg);

//  ---------------------------------------------------------------------
//  Whole-table access, for export, statistics and maintenance listings.

//  Calls fn with every record of every table (institutions, users,
//  authorizations, legal, availability, persons, maintenance, keys, in that
//  order) until fn returns non-zero; returns that value or 0. The record
//  is only valid during the call.
typedef int(kp_record_fn)(const Kp__DirectoryRecord *record, void *arg);
int kp_directory_each(kp_directory_t *self, MDB_txn *txn, kp_record_fn *fn, void *arg);

//  Calls fn with every maintenance window of kbo (all when kbo is NULL).
int kp_directory_maintenance_each(kp_directory_t *self, MDB_txn *txn, const char *kbo,
                                  kp_record_fn *fn, void *arg);

//  ---------------------------------------------------------------------
//  Keys: the CURVE public keys that may connect, and whom each stands for.
//  Read by the ZAP handler on its own thread, with its own read
//  transaction (LMDB allows any number of concurrent readers), and by the
//  node's loop on every frame.

#define KP_KEY_Z85_LEN 40

typedef enum {
    KP_KEY_APPLICATION = 1, //  identity: a user id; the institution is the user's
    KP_KEY_PROVIDER,        //  identity: the provider's KBO
    KP_KEY_OPERATOR,        //  identity: the operator's name
    KP_KEY_NODE,            //  identity: the node's name (recorded only: the peer
                            //  links trust the cluster file's node keys, zap.h)
} kp_key_kind_t;

typedef struct {
    kp_key_kind_t kind;
    int32_t from, to; //  days, inclusive; to is INT32_MAX when open-ended
    char identity[KP_DIR_MAX_ID + 1];
} kp_key_view_t;

//  0 and *out filled if public_key (Z85) is in the key table, -1 if not.
int kp_directory_key(kp_directory_t *self, MDB_txn *txn, const char *public_key,
                     kp_key_view_t *out);

//  True if day lies in the key's validity period.
bool kp_key_valid_on(const kp_key_view_t *key, int32_t day);

//  "application", "provider", "operator", "node"; "unknown" otherwise.
const char *kp_key_kind_name(kp_key_kind_t kind);
//  The kind named, or -1.
int kp_key_kind_from_name(const char *name);
//  True if key is 40 characters of Z85 that decode to 32 bytes.
bool kp_key_z85_valid(const char *key);

//  Calls fn with every person entry of the directory in key order (for
//  statistics) until fn returns non-zero; returns that value or 0.
typedef int(kp_person_scan_fn)(const char *insz, const kp_person_entry_t *entry, void *arg);
int kp_directory_person_scan(kp_directory_t *self, MDB_txn *txn, kp_person_scan_fn *fn, void *arg);

//  Entry counts of each table (persons: entries, not distinct people).
typedef struct {
    size_t institutions, users, authorizations, legal, availability, persons, maintenance, keys;
    size_t registers; //  register entries (active and replaced)
} kp_directory_counts_t;
int kp_directory_counts(kp_directory_t *self, MDB_txn *txn, kp_directory_counts_t *out);

//  Size in bytes of the LMDB data file.
size_t kp_directory_file_size(kp_directory_t *self);

//  ---------------------------------------------------------------------
//  Registers (register.h): RegisterEntry and RegisterChange records are
//  applied like every other record (PUT only), and read with
//  register.h's functions on these tables.
void kp_directory_register_tables(kp_directory_t *self, kp_register_tables_t *out);

//  Adds fn to the hooks every register change calls, in the update's
//  write transaction, on every node alike (before any update is applied:
//  at start). -1 when KP_REGISTER_MAX_HOOKS are set already.
int kp_directory_on_register_change(kp_directory_t *self, kp_register_hook_fn *fn, void *arg);

#endif
