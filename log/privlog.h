/*  privlog.h - the privacy log: append-only, hash-chained, signed, indexed.

    One record per message (Kp__LogRecord; payloads are never logged) is
    appended to segment files in a directory:

        DIR/<first seq, 20 digits>-<YYYYMMDD>.kplog   the segments
        DIR/anchor                                   after a prune: the
                                                     signed end of the
                                                     removed part
        DIR/index/                                   LMDB query index
        DIR/LOCK                                     one writer at a time
        DIR/spare-segment                            the next segment, written
                                                     ahead (spare.h); no reader
                                                     sees it

    A segment starts with a 64-byte header (magic, first seq, UTC day,
    hash of the record before it, CRC32C) and holds frames:

        u32 length | u32 crc32c | u8 kind | u64 seq | 32-byte hash | body

    all little-endian; the CRC covers everything but itself. A record frame
    (kind 1) carries the record's protobuf encoding and its chain hash
    SHA-256(prev hash || kind || seq || body), chained across segments. A
    checkpoint frame (kind 2) repeats the (seq, hash) of the record before
    it and carries a Kp__LogCheckpoint signed with Ed25519.

    Durability is split in two so that callers can commit in groups:
    kp_privlog_append buffers a record and gives it its sequence number;
    kp_privlog_sync writes everything buffered with one durable write
    (O_DIRECT | O_DSYNC, whole blocks from the one that holds the end of
    the data, padded with zeros; or pwrite and fdatasync where the
    filesystem takes no direct I/O). Only after the sync that covers a
    record returns may the reply it describes leave the node.

    Threading: a kp_privlog_t belongs to one thread at a time (logger.h runs
    one on its own thread). The file-level functions (verify, prune,
    export, scan) open their own files and may run in any thread or
    process, also while a writer is running; they see the log as it was
    synced.
*/
#ifndef KP_PRIVLOG_H_INCLUDED
#define KP_PRIVLOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

typedef struct _kp_privlog_t kp_privlog_t;
typedef struct _kp_spare_stats_t kp_spare_stats_t; //  spare.h

#define KP_PRIVLOG_HASH_LEN 32
#define KP_PRIVLOG_FRAME_HEADER 49
#define KP_PRIVLOG_SEGMENT_HEADER 64
//  Largest record body accepted, on append and on read.
#define KP_PRIVLOG_MAX_BODY (1u << 20)
#define KP_PRIVLOG_KIND_RECORD 1
#define KP_PRIVLOG_KIND_CHECKPOINT 2

typedef struct {
    uint64_t segment_max;          //  bytes; a segment rolls over past it (64 MiB)
    uint32_t checkpoint_every;     //  records between checkpoints (1000)
    uint32_t checkpoint_secs;      //  seconds between checkpoints (10)
    const char *key_file;          //  Ed25519 private key (PEM); NULL: unsigned
    bool index;                    //  keep the LMDB index (true)
    uint64_t index_map_size;       //  bytes of address space for it (1 TiB)
    bool direct;                   //  O_DIRECT | O_DSYNC appends where the
                                   //  filesystem takes them (false: see privlog.c)
    kp_spare_stats_t *spare_stats; //  where segments made with and without a
                                   //  spare are counted (spare.h); NULL: nowhere
} kp_privlog_options_t;

//  What kp_privlog_open found at the end of the last segment.
typedef struct {
    bool torn;        //  a cut record was found and cut off
    char segment[64]; //  its segment file name
    uint64_t offset;  //  where it started (file size after repair)
    uint64_t bytes_dropped;
    uint64_t indexed; //  records added to the index on catch-up
} kp_privlog_recovery_t;

//  Fills options with the defaults given beside each field.
void kp_privlog_options_default(kp_privlog_options_t *options);

//  CRC32C (Castagnoli); crc is 0 to start, or a previous result to
//  continue. The CPU's CRC32C instruction where there is one, else
//  kp_privlog_crc32c_portable (slicing-by-8 tables), which tests hold
//  against it.
uint32_t kp_privlog_crc32c(uint32_t crc, const void *data, size_t size);
uint32_t kp_privlog_crc32c_portable(uint32_t crc, const void *data, size_t size);

//  Opens (creating if needed) the log in dir for appending: takes the
//  lock, checks the last segment, cuts off a torn tail (told in recovery,
//  which may be NULL) and brings the index up to date. Returns NULL and
//  a message naming the problem in err (errlen bytes) on failure;
//  a damaged record that is not a torn tail makes open fail.
kp_privlog_t *kp_privlog_open(const char *dir, const kp_privlog_options_t *options,
                              kp_privlog_recovery_t *recovery, char *err, size_t errlen);

//  Syncs what is buffered, writes a final checkpoint and closes.
void kp_privlog_destroy(kp_privlog_t **self_p);

//  Buffers a record and returns its sequence number (>= 1), or 0 if it
//  cannot be encoded or is too large. No I/O.
uint64_t kp_privlog_append(kp_privlog_t *self, const Kp__LogRecord *record);
//  Same, for a record the caller has encoded itself (not re-checked here;
//  the index decodes it later).
uint64_t kp_privlog_append_packed(kp_privlog_t *self, const uint8_t *data, size_t size);

//  One write and one fdatasync covering everything appended so far (and a
//  checkpoint when one is due); rolls the segment over by size or day.
//  Returns 0, or -1 with kp_privlog_error set. When the write failed for
//  want of space the records stay buffered and a later sync writes them
//  (kp_privlog_failed is false: call it again now and then); after any
//  other failure the log refuses further work (kp_privlog_failed).
int kp_privlog_sync(kp_privlog_t *self);
//  Adds synced records to the index. 0, or -1 (the index lags; it is
//  caught up on the next open, the log itself is fine).
int kp_privlog_index_flush(kp_privlog_t *self);
//  kp_privlog_sync then kp_privlog_index_flush.
int kp_privlog_commit(kp_privlog_t *self);
//  Writes a timed checkpoint if one is due; call it now and then.
int kp_privlog_tick(kp_privlog_t *self);
//  Writes zeros ahead of the appends (256 KiB at a time, durable) when
//  fewer than 128 KiB of them are left, so that groups land on written
//  blocks. kp_privlog_sync writes only the zeros its own group needs:
//  call this between groups (after the durable notice) to keep that
//  write out of a group's time. Best effort (a failure shows in the next
//  sync).
void kp_privlog_zero_ahead(kp_privlog_t *self);

uint64_t kp_privlog_last_seq(kp_privlog_t *self);    //  last appended
uint64_t kp_privlog_durable_seq(kp_privlog_t *self); //  last synced
//  Bytes in the segment being written (0: none yet); a segment rolls
//  over past options.segment_max.
uint64_t kp_privlog_segment_bytes(kp_privlog_t *self);
const char *kp_privlog_error(kp_privlog_t *self);
//  How groups are written: with O_DIRECT | O_DSYNC in blocks of this many
//  bytes, or 0: buffered, pwrite and fdatasync (the filesystem takes no
//  direct I/O, or options.direct is off).
uint32_t kp_privlog_direct_align(kp_privlog_t *self);
//  True once the log refuses all further work (see kp_privlog_sync).
bool kp_privlog_failed(kp_privlog_t *self);

// ---------------------------------------------------------------------------
// Reading the files (any thread or process)

//  One segment file of a log directory.
typedef struct {
    char name[64];
    uint64_t first_seq;
    int32_t day; //  days since 1970-01-01 (UTC)
} kp_privlog_segment_t;

//  Lists the segments of dir, oldest first, into *list (free it).
//  Returns the count, or -1 with a message in err.
int kp_privlog_segments(const char *dir, kp_privlog_segment_t **list, char *err, size_t errlen);

//  Reads records at (segment, offset) as given by the index; keeps the
//  segment list and the last file open between calls.
typedef struct _privlog_reader_t kp_privlog_reader_t;
struct _kp_logindex_t;
kp_privlog_reader_t *kp_privlog_reader_new(const char *dir, char *err, size_t errlen);
void kp_privlog_reader_destroy(kp_privlog_reader_t **self_p);
//  The record (free with kp__log_record__free_unpacked(r, NULL)) and its
//  seq, or NULL with a message in err if it is gone (pruned) or damaged.
Kp__LogRecord *kp_privlog_reader_get(kp_privlog_reader_t *self, uint64_t segment, uint64_t offset,
                                     uint64_t *seq, char *err, size_t errlen);

//  Brings DIR/index up to date with the segments (what open does); for
//  readers such as kpctl. Returns records added, or -1 with a message in err.
int64_t kp_privlog_index_catch_up(const char *dir, uint64_t map_size, char *err, size_t errlen);

//  Indexes the records of dir up to upto_seq that index (a kp_logindex_t
//  opened by the caller on DIR/index) lacks; for a thread that follows a
//  writer and is told what it has synced (logger.h). Records added, or -1
//  with a message in err.
int64_t kp_privlog_index_follow(const char *dir, struct _kp_logindex_t *index, uint64_t upto_seq,
                                char *err, size_t errlen);

//  A catch-up or rebuild of DIR/index, as kpctl and the node's indexer
//  run it. The index is first checked against the log: its last record
//  must be in the log where the index says, with its seq; if not (an
//  index of another log, or one that lost pages in a crash) it is emptied
//  and rebuilt from the segments, and rebuilt and why say so.
typedef void(kp_privlog_progress_fn)(uint64_t records, uint64_t bytes_done, uint64_t bytes_total,
                                     void *arg);
typedef struct {
    uint64_t upto_seq;                //  index up to this seq (UINT64_MAX: all there is)
    int64_t budget_ms;                //  stop after about this long (0: no limit)
    size_t batch;                     //  records per commit (0: 1000000)
    bool rebuild;                     //  empty the index first, whatever it holds
    kp_privlog_progress_fn *progress; //  after each batch; may be NULL
    void *arg;
    bool complete; //  out: everything up to upto_seq is indexed
    bool rebuilt;  //  out: the index was emptied and built again
    char why[256]; //  out: why it was rebuilt
} kp_privlog_index_job_t;

//  Runs job on index (a kp_logindex_t opened by the caller on DIR/index).
//  Records added, or -1 with a message in err.
int64_t kp_privlog_index_run(const char *dir, struct _kp_logindex_t *index,
                             kp_privlog_index_job_t *job, char *err, size_t errlen);

//  Calls fn for every record in the segments whose day lies in [from_day,
//  to_day] (INT32_MIN/INT32_MAX for all); stops when fn returns non-zero.
//  Frames that fail their CRC stop the scan with an error (-1).
typedef int(kp_privlog_scan_fn)(const Kp__LogRecord *record, uint64_t seq, void *arg);
int kp_privlog_scan(const char *dir, int32_t from_day, int32_t to_day, kp_privlog_scan_fn *fn,
                    void *arg, char *err, size_t errlen);

//  What verify found. On failure, problem names the kind ("changed",
//  "removed", "inserted", "reordered", "signature", ...) and segment,
//  offset and seq the first record concerned.
typedef struct {
    bool ok;
    char problem[32];
    char detail[256];
    char segment[64];
    uint64_t offset;
    uint64_t seq;
    uint64_t segments, records, checkpoints;
    uint64_t first_seq, last_seq;
    uint64_t unsigned_tail; //  records after the last checkpoint
    bool torn_tail;         //  the last segment ends in a cut record
    bool key_from_log;      //  no trusted key given: checked with the log's own
    bool anchored;          //  the chain starts at a (signed) prune anchor
} kp_privlog_verify_t;

//  Checks CRCs, sequence, chain and checkpoint signatures of the segments
//  whose day lies in [from_day, to_day]. pub_file: trusted public key
//  (PEM), or NULL to check against the key recorded in the log. Returns 0
//  if the log verifies, 1 if it does not (result says where), -1 if it
//  cannot be read (a message in err).
int kp_privlog_verify(const char *dir, int32_t from_day, int32_t to_day, const char *pub_file,
                      kp_privlog_verify_t *result, char *err, size_t errlen);

//  Removes whole segments of days before before_day, never the last
//  segment, never one younger than retention_days before today_day.
//  Writes DIR/anchor (the signed checkpoint that closes the removed part)
//  first. Returns the number removed, or -1 with a message in err (saying why).
int kp_privlog_prune(const char *dir, int32_t before_day, int32_t retention_days, int32_t today_day,
                     char *err, size_t errlen);

//  Copies the segments of days [from_day, to_day] (and the anchor that
//  signs where they start) into outdir, so that verify works on the copy.
//  Returns the number of segments copied, or -1 with a message in err.
int kp_privlog_export(const char *dir, int32_t from_day, int32_t to_day, const char *outdir,
                      char *err, size_t errlen);

//  Makes an Ed25519 key pair: private key PEM in path (mode 0600) and the
//  public key PEM in path.pub. Refuses to overwrite. 0 or -1 with a
//  message in err (errlen bytes).
int kp_privlog_keygen(const char *path, char *err, size_t errlen);

#endif
