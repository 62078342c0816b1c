/*  privlog_impl.h - what the privacy log's own files share; not for users
    of the library (they include privlog.h).

    The files of log/ by concern:

        crc32c.c   CRC32C, tables and the SSE4.2 instruction
        format.c   frames, segment headers, segment files, file helpers
        sign.c     Ed25519 keys and signed checkpoints
        privlog.c  the writer: open and recovery, append, sync, index flush
        reader.c   index catch-up, records by position, scans
        verify.c   kp_privlog_verify
        prune.c    prune, export and the prune anchor
        logindex.c the LMDB query index
        logger.c   the group-commit actor the node runs the writer in
        spare.c    the actor that writes the next segment ahead

    The byte layout itself is described in privlog.h.
*/
#ifndef KP_PRIVLOG_IMPL_H_INCLUDED
#define KP_PRIVLOG_IMPL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "byteorder.h"
#include "privlog.h"

#define PRIVLOG_MAGIC "KPLOGSG1"
#define PRIVLOG_PATH 4096

// ---------------------------------------------------------------------------
// Frames and segments as bytes (format.c)

//  One frame as it lies in a buffer or a mapped file; hash and body point
//  into it.
typedef struct {
    uint8_t kind;
    uint64_t seq;
    const uint8_t *hash;
    const uint8_t *body;
    uint32_t len;
} privlog_frame_t;

#define PRIVLOG_FRAME_OK 0
#define PRIVLOG_FRAME_SHORT 1 //  not enough bytes left: a cut frame
#define PRIVLOG_FRAME_BAD 2   //  CRC, kind or length wrong

//  What lies at an offset where no intact frame does.
#define PRIVLOG_END_CLEAN 0  //  zeros to the end of the file: the preallocated tail
#define PRIVLOG_END_TORN 1   //  a frame cut short, with only zeros (or nothing) behind
#define PRIVLOG_END_DAMAGE 2 //  neither: bytes were changed

//  A segment file mapped for reading. The mapping holds a shared flock on
//  the file: the writer shrinks a preallocated segment to its data when it
//  closes it, and only when no reader has it mapped (touching a page past
//  the end of a file raises SIGBUS).
typedef struct {
    uint8_t *data;
    size_t size;
    int fd;
    uint64_t first_seq;
    int32_t day;
    const uint8_t *prev_hash;
    bool header_ok;
} privlog_map_t;

//  Encodes a frame into out (KP_PRIVLOG_FRAME_HEADER + len bytes); returns
//  its size.
size_t privlog_frame_encode(uint8_t *out, uint8_t kind, uint64_t seq, const uint8_t hash[32],
                            const uint8_t *body, size_t len);
//  Judges the frame at p: PRIVLOG_FRAME_OK and frame filled in, or SHORT
//  or BAD.
int privlog_frame_parse(const uint8_t *p, size_t avail, privlog_frame_t *frame);
//  What lies at off where no intact frame does: PRIVLOG_END_*.
int privlog_end_kind(const uint8_t *data, size_t size, size_t off);
//  SHA-256(prev || kind || seq || body): the chain hash of a frame.
void privlog_chain_hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t prev[32], uint8_t kind,
                        uint64_t seq, const uint8_t *body, size_t len, uint8_t out[32]);
void privlog_header_encode(uint8_t out[KP_PRIVLOG_SEGMENT_HEADER], uint64_t first_seq, int32_t day,
                           const uint8_t prev[32]);
//  Maps DIR/name (see privlog_map_t); 0, or -1 with a message in err.
int privlog_segment_map(const char *dir, const char *name, privlog_map_t *map, char *err,
                        size_t errlen);
void privlog_segment_unmap(privlog_map_t *map);
//  True if name is a segment file's name; seg filled in.
bool privlog_segment_name(const char *name, kp_privlog_segment_t *seg);

//  Zeros to compare with and to write ahead of the appends.
extern const uint8_t privlog_zeros[64 * 1024];
bool privlog_zero(const uint8_t *p, size_t size);
//  Where the bytes of data[from..size) end: the offset after the last one
//  that is not zero, or from.
size_t privlog_data_end(const uint8_t *data, size_t from, size_t size);

//  The wall clock in microseconds: records and checkpoints carry it.
uint64_t privlog_now_us(void);
//  The UTC day (days since 1970-01-01) of a time in microseconds, and the
//  day as YYYYMMDD (a segment's name).
int32_t privlog_day_of(uint64_t time_us);
void privlog_day_text(int32_t day, char out[9]);
//  fsyncs the folder dir, so that a file made or renamed in it stays. 0 or -1.
int privlog_fsync_dir(const char *dir);
//  DIR/name into out; -1 if it does not fit (then out is cut, and opening
//  it fails with a name that shows the cut).
int privlog_path(char out[PRIVLOG_PATH], const char *dir, const char *name);
int privlog_write_all(int fd, const uint8_t *data, size_t size);
int privlog_pwrite_all(int fd, const uint8_t *data, size_t size, uint64_t offset);
int privlog_flock(int fd, int how);

// ---------------------------------------------------------------------------
// Keys and checkpoints (sign.c)

//  Loads an Ed25519 key (PEM); NULL with a message in err naming the fix.
EVP_PKEY *privlog_key_load(const char *path, bool private, char *err, size_t errlen);
//  True if cp is well formed and its signature holds for key (or, with
//  key NULL, for the public key it carries).
bool privlog_checkpoint_valid(const Kp__LogCheckpoint *cp, EVP_PKEY *key);
//  Encodes a checkpoint frame for (seq, hash) into out (which must hold
//  KP_PRIVLOG_FRAME_HEADER + 256 bytes). Returns its size, or 0.
size_t privlog_checkpoint_frame(EVP_PKEY *key, const uint8_t pub[32], uint64_t seq,
                                const uint8_t hash[32], uint8_t *out);

// ---------------------------------------------------------------------------
// Index catch-up (reader.c) and the prune anchor (prune.c)

//  Indexes the records after the index's position, up to upto_seq.
//  Records added, or -1 with a message in err.
int64_t privlog_catch_up(struct _kp_logindex_t *index, const char *dir, uint64_t upto_seq,
                         char *err, size_t errlen);
//  Reads DIR/anchor: 0 and the checkpoint, 1 if there is none, -1 bad.
int privlog_anchor_read(const char *dir, Kp__LogCheckpoint **cp);
//  Writes the anchor frame as DIR/anchor (aside, fsync, rename, fsync of
//  DIR). 0, or -1 with error.
int privlog_anchor_write(const char *dir, const uint8_t *frame, size_t len, char *err,
                         size_t errlen);

#endif
