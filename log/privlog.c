/*  privlog.c - the privacy log's writer (kp_privlog_t): open and
    recovery, append, group sync, index flush, timed checkpoints.

    The writer keeps one buffer of encoded frames: append adds to it, sync
    writes the unsynced part durably, and index_flush hands the synced
    records to the LMDB index and empties the buffer.

    How a group is made durable depends on the filesystem. Where it takes
    direct I/O (statx STATX_DIOALIGN), the segment is opened O_DIRECT |
    O_DSYNC and a group is one aligned write that is durable when it
    returns: it starts at the block that holds the end of the data (the
    partial tail block, kept in memory, is written again with the new bytes
    behind it) and is padded with zeros to the next block boundary, where
    the file holds zeros already (zero-ahead). That costs the logger about
    a third less CPU per group than a buffered pwrite and fdatasync, which
    stay the way elsewhere (tmpfs). Readers map the segments: the kernel
    drops the page-cache pages a direct write covers, so that they read the
    new bytes (test_direct_readers).

    Direct appends are off by default (options.direct): those dropped
    pages are what the log's readers need next. The mirror's shipper then
    reads each group back from the disk before it ships it, and a
    two-sites node answered 20-30% fewer calls a second with them (three
    alternated runs of kpbench --nodes 2 --two-sites); the indexer reads
    every record back too. On one node the CPU saved did not show beside
    the buffered way in the same minutes.
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kperr.h"
#include "logindex.h"
#include "privlog_impl.h"
#include "spare.h"

typedef struct {
    uint64_t seq;
    size_t buf_off;    //  where its frame starts in the buffer
    uint64_t segment;  //  set by sync: the segment's first seq
    uint64_t file_off; //  set by sync: the frame's offset in the file
} s_entry_t;

struct _kp_privlog_t {
    char dir[PRIVLOG_PATH];
    kp_privlog_options_t options;
    int lock_fd;
    int seg_fd; //  -1 until the first sync makes a segment
    kp_privlog_segment_t seg;
    uint64_t seg_size;     //  its data
    bool seg_allocated;    //  preallocation tried (the file may be longer)
    uint64_t seg_zeroed;   //  bytes of it written, with data or zeros
    size_t align;          //  direct I/O: offset and memory alignment; 0: buffered
    uint8_t *wbuf;         //  direct I/O, aligned: starts with the partial tail
    size_t wbuf_cap;       //  block, [0, seg_size % align)
    uint8_t *zeros;        //  direct I/O: S_ZERO_CHUNK aligned zeros
    int closing_fd;        //  a closed segment still to be shrunk, or -1
    uint64_t closing_size; //  its data
    uint64_t seg_records;
    uint64_t last_seq; //  appended
    uint8_t last_hash[32];
    uint64_t durable_seq; //  synced
    uint8_t durable_hash[32];
    uint64_t uncovered;     //  appended records not under a checkpoint yet
    uint64_t checkpoint_us; //  when the last checkpoint was written
    bool checkpointed;      //  since the last index sync
    bool tail_checkpoint;   //  the segment ends with a checkpoint
    EVP_PKEY *key;
    uint8_t pub[32];
    EVP_MD *md;
    EVP_MD_CTX *md_ctx;
    uint8_t *buf; //  [0, synced) awaits the index; [synced, len) awaits sync
    size_t len, cap, synced;
    s_entry_t *entries; //  one per record in buf
    size_t n_entries, entries_cap, entries_synced;
    kp_logindex_t *index;
    bool failed;
    char error[256];
#ifdef KP_TEST_HOOKS
    //  Test builds only (meson option test_hooks), from the environment:
    //  KP_TEST_SYNC_DELAY_MS  sleep this long before each group's write
    //  KP_TEST_SYNC_TRACE     append "start_us end_us durable_seq" (monotonic
    //                         clock) per group sync to this file
    //  KP_TEST_WRITE_FAIL     while this file exists, writes fail as on a
    //                         full disk (ENOSPC)
    int test_delay_ms;
    const char *test_trace, *test_fail;
#endif
};

void kp_privlog_options_default(kp_privlog_options_t *options)
{
    memset(options, 0, sizeof *options);
    options->segment_max = 64u << 20;
    options->checkpoint_every = 1000;
    options->checkpoint_secs = 10;
    options->index = true;
}

static int s_fail(kp_privlog_t *self, const char *what)
{
    kp_err(self->error, sizeof self->error, "privacy log %s: %s: %s", self->dir, what,
           strerror(errno));
    self->failed = true;
    return -1;
}

//  The alignment direct I/O needs on the filesystem of fd: what statx
//  reports (Linux 6.1 on; 0 where the filesystem has no direct I/O, as
//  tmpfs), else, on an older kernel, the logical block size of the
//  device under it. 0: buffered writes.
static size_t s_direct_align(int fd)
{
    struct statx st;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st))
        return 0;
    unsigned a = 0;
    if (st.stx_mask & STATX_DIOALIGN) {
        a = st.stx_dio_offset_align > st.stx_dio_mem_align ? st.stx_dio_offset_align
                                                           : st.stx_dio_mem_align;
    } else {
        char path[128];
        const char *where[] = {"", "/.."}; //  a whole disk, or a partition of one
        for (int i = 0; i < 2 && !a; i++) {
            snprintf(path, sizeof path, "/sys/dev/block/%u:%u%s/queue/logical_block_size",
                     st.stx_dev_major, st.stx_dev_minor, where[i]);
            FILE *f = fopen(path, "r");
            if (f) {
                if (fscanf(f, "%u", &a) != 1)
                    a = 0;
                fclose(f);
            }
        }
    }
    //  A power of two no larger than the buffers' first size (64 KiB).
    return a >= 512 && a <= 65536 && !(a & (a - 1)) ? a : 0;
}

//  Opens a segment for appending (flags: O_WRONLY and the like): with
//  O_DIRECT | O_DSYNC where the log writes directly; where the open
//  refuses them, the log goes on with buffered writes.
static int s_segment_open(kp_privlog_t *self, const char *path, int flags)
{
    if (self->align) {
        int fd = open(path, flags | O_DIRECT | O_DSYNC, 0600);
        if (fd >= 0 || errno != EINVAL)
            return fd;
        zsys_warning("privacy log %s: the filesystem refuses O_DIRECT; appends are buffered "
                     "(pwrite + fdatasync)",
                     self->dir);
        self->align = 0;
    }
    return open(path, flags, 0600);
}

//  Makes wbuf (aligned) hold size bytes, keeping its first keep.
static int s_wbuf_reserve(kp_privlog_t *self, size_t size, size_t keep)
{
    if (size <= self->wbuf_cap)
        return 0;
    size_t cap = self->wbuf_cap ? self->wbuf_cap : 1 << 16;
    while (cap < size)
        cap *= 2;
    void *p;
    if (posix_memalign(&p, self->align, cap))
        return -1;
    if (keep)
        memcpy(p, self->wbuf, keep);
    free(self->wbuf);
    self->wbuf = p;
    self->wbuf_cap = cap;
    return 0;
}

#define S_ZERO_CHUNK (256u * 1024) //  zeros written ahead at a time (s_zero_ahead)

#define S_PUT_WRITE -1 //  the write failed (errno): no space, or the disk
#define S_PUT_SYNC -2  //  buffered: the fdatasync failed (errno)

//  Writes n bytes behind the segment's data and makes them durable;
//  seg_size grows by n. 0, or S_PUT_*: then seg_size and the tail block
//  are as before, and writing the same bytes again is safe.
static int s_put(kp_privlog_t *self, const uint8_t *data, size_t n)
{
    if (!self->align) {
        if (privlog_pwrite_all(self->seg_fd, data, n, self->seg_size))
            return S_PUT_WRITE;
        if (fdatasync(self->seg_fd))
            return S_PUT_SYNC;
        self->seg_size += n;
        return 0;
    }
    //  One aligned write from the start of the partial tail block, padded
    //  with zeros: the file holds zeros there already.
    size_t a = self->align;
    uint64_t start = self->seg_size / a * a;
    size_t head = (size_t)(self->seg_size - start);
    size_t total = (head + n + a - 1) / a * a;
    if (s_wbuf_reserve(self, total, head)) {
        errno = ENOMEM;
        return S_PUT_WRITE;
    }
    memcpy(self->wbuf + head, data, n);
    memset(self->wbuf + head + n, 0, total - head - n);
    if (privlog_pwrite_all(self->seg_fd, self->wbuf, total, start))
        return S_PUT_WRITE;
    size_t keep = (head + n) % a;
    memmove(self->wbuf, self->wbuf + head + n - keep, keep);
    self->seg_size += n;
    return 0;
}

//  Scans the last segment: finds its end, cuts off a torn tail, and
//  restores seq, hash and checkpoint state from it. 1 if the segment was
//  only a cut header and has been removed; 0 ok; -1 error.
static int s_recover_last(kp_privlog_t *self, const kp_privlog_segment_t *seg,
                          kp_privlog_recovery_t *recovery, char *err, size_t errlen)
{
    privlog_map_t map;
    if (privlog_segment_map(self->dir, seg->name, &map, err, errlen))
        return -1;
    char path[PRIVLOG_PATH];
    privlog_path(path, self->dir, seg->name);
    if (!map.header_ok || map.first_seq != seg->first_seq) {
        //  Cut, or preallocated with the header not yet on disk.
        bool cut = map.size < KP_PRIVLOG_SEGMENT_HEADER || privlog_zero(map.data, map.size);
        privlog_segment_unmap(&map);
        if (!cut) {
            kp_err(err, errlen,
                   "segment %s has a damaged header: not a torn tail; run 'kpctl log verify'",
                   path);
            return -1;
        }
        //  A crash while the segment was being made: nothing in it.
        if (unlink(path) || privlog_fsync_dir(self->dir)) {
            kp_err(err, errlen, "cannot remove cut segment %s: %s", path, strerror(errno));
            return -1;
        }
        if (recovery) {
            recovery->torn = true;
            snprintf(recovery->segment, sizeof recovery->segment, "%s", seg->name);
            recovery->bytes_dropped += map.size < KP_PRIVLOG_SEGMENT_HEADER ? map.size : 0;
        }
        return 1;
    }
    self->seg = *seg;
    self->seg.day = map.day;
    memcpy(self->last_hash, map.prev_hash, 32);
    self->last_seq = map.first_seq - 1;
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off < map.size) {
        privlog_frame_t f;
        int rc = privlog_frame_parse(map.data + off, map.size - off, &f);
        if (rc == PRIVLOG_FRAME_BAD) {
            //  A bad frame followed by a good one is damage, not a cut.
            uint32_t len = kp_le32_get(map.data + off);
            privlog_frame_t next;
            size_t after = off + KP_PRIVLOG_FRAME_HEADER + (size_t)len;
            if (len <= KP_PRIVLOG_MAX_BODY && after < map.size &&
                privlog_frame_parse(map.data + after, map.size - after, &next) ==
                    PRIVLOG_FRAME_OK) {
                kp_err(err, errlen,
                       "segment %s: damaged record at offset %zu (after seq %llu) with intact "
                       "records behind it: not a torn tail; run 'kpctl log verify'",
                       path, off, (unsigned long long)self->last_seq);
                privlog_segment_unmap(&map);
                return -1;
            }
        }
        if (rc != PRIVLOG_FRAME_OK)
            break;
        if (f.kind == KP_PRIVLOG_KIND_RECORD) {
            if (f.seq != self->last_seq + 1) {
                kp_err(err, errlen,
                       "segment %s: offset %zu holds seq %llu where %llu was due; run 'kpctl "
                       "log verify'",
                       path, off, (unsigned long long)f.seq,
                       (unsigned long long)self->last_seq + 1);
                privlog_segment_unmap(&map);
                return -1;
            }
            self->last_seq = f.seq;
            memcpy(self->last_hash, f.hash, 32);
            self->uncovered++;
            self->seg_records++;
            self->tail_checkpoint = false;
        } else {
            self->uncovered = 0;
            self->tail_checkpoint = true;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    size_t size = map.size;
    //  Behind the data: the zeros of a preallocated segment (a crash left
    //  it open), perhaps with a cut record in front of them.
    size_t used = privlog_data_end(map.data, off, size);
    self->seg_fd = s_segment_open(self, path, O_WRONLY | O_CLOEXEC);
    //  Direct writes start at the block that holds the end of the data.
    size_t tail = self->align ? off % self->align : 0;
    if (self->seg_fd >= 0 && tail) {
        if (s_wbuf_reserve(self, self->align, 0)) {
            privlog_segment_unmap(&map);
            kp_err(err, errlen, "out of memory");
            return -1;
        }
        memcpy(self->wbuf, map.data + off - tail, tail);
    }
    privlog_segment_unmap(&map);
    if (self->seg_fd < 0) {
        kp_err(err, errlen, "cannot open segment %s: %s", path, strerror(errno));
        return -1;
    }
    //  Cut to the data (zeros too: the first sync preallocates again), so
    //  that index catch-up sees where the log ends.
    if (off < size) {
        if (privlog_flock(self->seg_fd, LOCK_EX) || ftruncate(self->seg_fd, (off_t)off) ||
            fsync(self->seg_fd) || privlog_flock(self->seg_fd, LOCK_UN)) {
            kp_err(err, errlen, "cannot cut the torn tail of %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (off < used) {
        if (recovery) {
            recovery->torn = true;
            snprintf(recovery->segment, sizeof recovery->segment, "%s", seg->name);
            recovery->offset = off;
            recovery->bytes_dropped += used - off;
        }
    }
    self->seg_size = off;
    return 0;
}

//  Opens the log for appending: lock, key, recovery of the last segment
//  (a torn tail cut off), then the index caught up. NULL with error.
kp_privlog_t *kp_privlog_open(const char *dir, const kp_privlog_options_t *options,
                              kp_privlog_recovery_t *recovery, char *err, size_t errlen)
{
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    if (strlen(dir) > PRIVLOG_PATH - 64) {
        kp_err(err, errlen, "log folder name too long: %s", dir);
        return NULL;
    }
    if (mkdir(dir, 0700) && errno != EEXIST) {
        kp_err(err, errlen, "cannot make log folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    kp_privlog_t *self = calloc(1, sizeof *self);
    if (!self) {
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    kp_privlog_options_t defaults;
    kp_privlog_options_default(&defaults);
    self->options = options ? *options : defaults;
    self->options.key_file = NULL;
    if (!self->options.segment_max)
        self->options.segment_max = defaults.segment_max;
    if (!self->options.checkpoint_every)
        self->options.checkpoint_every = defaults.checkpoint_every;
    if (!self->options.checkpoint_secs)
        self->options.checkpoint_secs = defaults.checkpoint_secs;
    self->seg_fd = -1;
    self->closing_fd = -1;
#ifdef KP_TEST_HOOKS
    const char *delay = getenv("KP_TEST_SYNC_DELAY_MS");
    self->test_delay_ms = delay ? atoi(delay) : 0;
    self->test_trace = getenv("KP_TEST_SYNC_TRACE");
    self->test_fail = getenv("KP_TEST_WRITE_FAIL");
#endif
    self->checkpoint_us = privlog_now_us();
    self->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    self->md_ctx = EVP_MD_CTX_new();

    char path[PRIVLOG_PATH];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0 || flock(self->lock_fd, LOCK_EX | LOCK_NB)) {
        kp_err(err, errlen, "cannot lock %s: %s%s", path, strerror(errno),
               errno == EWOULDBLOCK ? " (another node has this log open: stop it, or give each "
                                      "node its own data folder)"
                                    : "");
        goto fail;
    }
    self->align = self->options.direct ? s_direct_align(self->lock_fd) : 0;
    if (self->align) {
        //  The zero-ahead's source: a direct write reads aligned memory.
        void *zeros;
        if (posix_memalign(&zeros, self->align, S_ZERO_CHUNK)) {
            self->align = 0;
        } else {
            memset(zeros, 0, S_ZERO_CHUNK);
            self->zeros = zeros;
        }
    }
    if (!self->md || !self->md_ctx) {
        kp_err(err, errlen, "OpenSSL has no SHA-256");
        goto fail;
    }
    if (options && options->key_file) {
        if (!(self->key = privlog_key_load(options->key_file, true, err, errlen)))
            goto fail;
        size_t n = 32;
        EVP_PKEY_get_raw_public_key(self->key, self->pub, &n);
    }
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0)
        goto fail;
    int rc = 1;
    while (n > 0 && rc == 1)
        rc = s_recover_last(self, &segs[--n], recovery, err, errlen);
    free(segs);
    if (rc < 0)
        goto fail;
    if (rc == 1) { //  no segment: a new log, or one whose every segment was cut
        self->last_seq = 0;
        memset(self->last_hash, 0, 32);
    }
    self->durable_seq = self->last_seq;
    memcpy(self->durable_hash, self->last_hash, 32);
    if (self->options.index) {
        snprintf(path, sizeof path, "%s/index", dir);
        self->index = kp_logindex_open(path, false, self->options.index_map_size, err, errlen);
        if (!self->index)
            goto fail;
        int64_t added = privlog_catch_up(self->index, dir, UINT64_MAX, err, errlen);
        if (added < 0)
            goto fail;
        if (recovery)
            recovery->indexed = (uint64_t)added;
    }
    return self;
fail:
    if (self->seg_fd >= 0)
        close(self->seg_fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    kp_logindex_destroy(&self->index);
    EVP_PKEY_free(self->key);
    EVP_MD_free(self->md);
    EVP_MD_CTX_free(self->md_ctx);
    free(self->wbuf);
    free(self->zeros);
    free(self);
    return NULL;
}

static int s_reserve(kp_privlog_t *self, size_t more);

//  Every checkpoint_every records a signed checkpoint goes into the
//  buffer right behind the record, also inside one large group.
static void s_checkpoint_due(kp_privlog_t *self)
{
    if (!self->key || self->uncovered < self->options.checkpoint_every)
        return;
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + 256))
        return; //  sync will try again
    size_t n = privlog_checkpoint_frame(self->key, self->pub, self->last_seq, self->last_hash,
                                        self->buf + self->len);
    if (n) {
        self->len += n;
        self->uncovered = 0;
        self->checkpoint_us = privlog_now_us();
        self->checkpointed = true;
    }
}

static int s_reserve(kp_privlog_t *self, size_t more)
{
    if (self->len + more > self->cap) {
        size_t cap = self->cap ? self->cap : 1 << 16;
        while (cap < self->len + more)
            cap *= 2;
        uint8_t *buf = realloc(self->buf, cap);
        if (!buf)
            return -1;
        self->buf = buf;
        self->cap = cap;
    }
    if (self->n_entries == self->entries_cap) {
        size_t cap = self->entries_cap ? self->entries_cap * 2 : 1024;
        s_entry_t *e = realloc(self->entries, cap * sizeof *e);
        if (!e)
            return -1;
        self->entries = e;
        self->entries_cap = cap;
    }
    return 0;
}

uint64_t kp_privlog_append_packed(kp_privlog_t *self, const uint8_t *data, size_t size)
{
    if (self->failed || size > KP_PRIVLOG_MAX_BODY)
        return 0;
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + size)) {
        kp_err(self->error, sizeof self->error, "out of memory");
        return 0;
    }
    uint64_t seq = self->last_seq + 1;
    uint8_t hash[32];
    privlog_chain_hash(self->md_ctx, self->md, self->last_hash, KP_PRIVLOG_KIND_RECORD, seq, data,
                       size, hash);
    s_entry_t *e = &self->entries[self->n_entries++];
    e->seq = seq;
    e->buf_off = self->len;
    self->len +=
        privlog_frame_encode(self->buf + self->len, KP_PRIVLOG_KIND_RECORD, seq, hash, data, size);
    self->last_seq = seq;
    memcpy(self->last_hash, hash, 32);
    self->uncovered++;
    s_checkpoint_due(self);
    return seq;
}

uint64_t kp_privlog_append(kp_privlog_t *self, const Kp__LogRecord *record)
{
    size_t size = kp__log_record__get_packed_size(record);
    if (self->failed || size > KP_PRIVLOG_MAX_BODY) {
        kp_err(self->error, sizeof self->error, "record of %zu bytes is over the limit of %u", size,
               KP_PRIVLOG_MAX_BODY);
        return 0;
    }
    //  Encode straight into the buffer, then frame it in place.
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + size)) {
        kp_err(self->error, sizeof self->error, "out of memory");
        return 0;
    }
    uint8_t *body = self->buf + self->len + KP_PRIVLOG_FRAME_HEADER;
    kp__log_record__pack(record, body);
    uint64_t seq = self->last_seq + 1;
    uint8_t hash[32];
    privlog_chain_hash(self->md_ctx, self->md, self->last_hash, KP_PRIVLOG_KIND_RECORD, seq, body,
                       size, hash);
    uint8_t *out = self->buf + self->len;
    kp_le32_put(out, (uint32_t)size);
    out[8] = KP_PRIVLOG_KIND_RECORD;
    kp_le64_put(out + 9, seq);
    memcpy(out + 17, hash, 32);
    uint32_t crc = kp_privlog_crc32c(0, out, 4);
    kp_le32_put(out + 4, kp_privlog_crc32c(crc, out + 8, KP_PRIVLOG_FRAME_HEADER - 8 + size));
    s_entry_t *e = &self->entries[self->n_entries++];
    e->seq = seq;
    e->buf_off = self->len;
    self->len += KP_PRIVLOG_FRAME_HEADER + size;
    self->last_seq = seq;
    memcpy(self->last_hash, hash, 32);
    self->uncovered++;
    s_checkpoint_due(self);
    return seq;
}

//  Gives the segment its full size at once, so that appends fill blocks
//  the file already has and fdatasync writes data, not the file size.
//  Best effort: where fallocate is missing or the disk is nearly full,
//  the file grows as it is written.
static void s_preallocate(kp_privlog_t *self)
{
    self->seg_allocated = true;
    if (self->seg_size < self->options.segment_max &&
        fallocate(self->seg_fd, 0, 0, (off_t)self->options.segment_max))
        errno = 0;
}

//  Writes zeros ahead of the appends, a chunk at a time, so that each
//  group lands on blocks already written: over preallocated blocks never
//  written, fdatasync must also record them as written (ext4 converts the
//  extent: one more metadata write, and under a hypervisor one more exit,
//  on every sync). Best effort: a failure here shows in the append.
//  Direct writes: whole blocks, from an aligned chunk of zeros, each
//  chunk durable at once (the appends' own sync covers no other range).
//  Zeros are written when fewer than slack bytes of them lie past upto.
static void s_zero_ahead(kp_privlog_t *self, uint64_t upto, uint64_t slack)
{
    uint64_t a = self->align ? self->align : 1;
    //  Never behind the data (checkpoints are written past it too), nor,
    //  when writing directly, inside the block a group rewrites anyway.
    uint64_t data_end = (self->seg_size + a - 1) / a * a;
    if (self->seg_zeroed < data_end)
        self->seg_zeroed = data_end;
    uint64_t max = self->options.segment_max / a * a;
    if (upto + slack <= self->seg_zeroed || self->seg_zeroed >= max)
        return;
    uint64_t end = ((upto > self->seg_zeroed ? upto : self->seg_zeroed) + S_ZERO_CHUNK) / a * a;
    if (end > max)
        end = max;
    const uint8_t *zeros = self->align ? self->zeros : privlog_zeros;
    uint64_t chunk = self->align ? S_ZERO_CHUNK : sizeof privlog_zeros;
    while (self->seg_zeroed < end) {
        uint64_t n = end - self->seg_zeroed < chunk ? end - self->seg_zeroed : chunk;
        if (privlog_pwrite_all(self->seg_fd, zeros, n, self->seg_zeroed))
            return;
        self->seg_zeroed += n;
    }
}

//  Shrinks a closed segment to its data, so that closed segments have no
//  preallocated tail. Not while a reader has it mapped (SIGBUS): then it
//  is kept and tried again later (wait: destroy). 0, or -1 on failure.
static int s_shrink(kp_privlog_t *self, bool wait)
{
    if (self->closing_fd < 0)
        return 0;
    if (privlog_flock(self->closing_fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB))
        return errno == EWOULDBLOCK ? 0 : s_fail(self, "cannot lock a closed segment");
    struct stat st;
    if (fstat(self->closing_fd, &st) ||
        ((uint64_t)st.st_size != self->closing_size &&
         (ftruncate(self->closing_fd, (off_t)self->closing_size) || fsync(self->closing_fd))))
        return s_fail(self, "cannot cut a closed segment to its data");
    close(self->closing_fd);
    self->closing_fd = -1;
    return 0;
}

//  Closes the current segment; it is shrunk to its data as soon as no
//  reader has it mapped.
static int s_segment_close(kp_privlog_t *self, bool wait)
{
    if (self->seg_fd < 0)
        return 0;
    if (self->closing_fd >= 0 && s_shrink(self, true))
        return -1;
    self->closing_fd = self->seg_fd;
    self->closing_size = self->seg_size;
    self->seg_fd = -1;
    return s_shrink(self, wait);
}

static int s_write_failed(kp_privlog_t *self);

//  Makes the ready spare (spare.h) the segment at path, if it has the
//  segment's size: the header is written into it first, so that a reader
//  that lists the segment finds it there, then it is renamed (never over
//  a file). Its blocks are written and synced already: no zeros ahead,
//  no preallocation. 0 if it was taken (seg_fd open; the folder is still
//  to be synced), -1 if not (nothing changed but a header in the spare,
//  which the next taker writes again).
static int s_take_spare(kp_privlog_t *self, const char *path, const uint8_t *header)
{
    char spare[PRIVLOG_PATH];
    privlog_path(spare, self->dir, KP_SPARE_READY);
    self->seg_fd = s_segment_open(self, spare, O_WRONLY | O_CLOEXEC);
    if (self->seg_fd < 0)
        return -1;
    struct stat st;
    if (fstat(self->seg_fd, &st) || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != self->options.segment_max ||
        s_put(self, header, KP_PRIVLOG_SEGMENT_HEADER) ||
        renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_NOREPLACE)) {
        close(self->seg_fd);
        self->seg_fd = -1;
        self->seg_size = 0;
        return -1;
    }
    self->seg_zeroed = self->options.segment_max;
    self->seg_allocated = true;
    return 0;
}

//  Makes the segment that the next record (durable_seq + 1) starts: from
//  the spare if one is ready, else a new file.
static int s_segment_create(kp_privlog_t *self, int32_t day)
{
    char text[9];
    privlog_day_text(day, text);
    snprintf(self->seg.name, sizeof self->seg.name, "%020llu-%s.kplog",
             (unsigned long long)self->durable_seq + 1, text);
    self->seg.first_seq = self->durable_seq + 1;
    self->seg.day = day;
    char path[PRIVLOG_PATH];
    privlog_path(path, self->dir, self->seg.name);
    uint8_t header[KP_PRIVLOG_SEGMENT_HEADER];
    privlog_header_encode(header, self->seg.first_seq, day, self->durable_hash);
    self->seg_size = 0;
    self->seg_zeroed = 0;
    self->seg_records = 0;
    self->seg_allocated = false;
    if (s_take_spare(self, path, header) == 0) {
        kp_spare_count_segment(self->options.spare_stats, true);
        return privlog_fsync_dir(self->dir) ? s_fail(self, "cannot sync the log folder") : 0;
    }
    self->seg_fd = s_segment_open(self, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
    if (self->seg_fd < 0)
        return errno == ENOSPC || errno == EDQUOT ? s_write_failed(self)
                                                  : s_fail(self, "cannot create a segment");
    if (s_put(self, header, sizeof header)) {
        //  No room for the header: no segment, and the next sync tries again.
        int e = errno;
        close(self->seg_fd);
        self->seg_fd = -1;
        unlink(path);
        errno = e;
        return s_write_failed(self);
    }
    s_preallocate(self);
    if (fdatasync(self->seg_fd) || privlog_fsync_dir(self->dir))
        return s_fail(self, "cannot write a segment header");
    kp_spare_count_segment(self->options.spare_stats, false);
    return 0;
}

//  Ends the current segment: a signed checkpoint over what it holds (if
//  it is not covered yet), then close. The next sync makes the next one.
static int s_roll(kp_privlog_t *self)
{
    if (self->key && self->seg_records && !self->tail_checkpoint) {
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n = privlog_checkpoint_frame(self->key, self->pub, self->durable_seq,
                                            self->durable_hash, frame);
        if (!n) {
            kp_err(self->error, sizeof self->error, "cannot sign a checkpoint (OpenSSL)");
            self->failed = true;
            return -1;
        }
        if (s_put(self, frame, n))
            return s_fail(self, "cannot write a checkpoint");
        self->uncovered = self->last_seq - self->durable_seq;
        self->checkpoint_us = privlog_now_us();
        self->checkpointed = true;
    }
    self->tail_checkpoint = false;
    return s_segment_close(self, false);
}

//  Reads a varint at *p (before end); false if it is cut or too long.
static bool s_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        *value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

//  The record's time_unix_us (field 2, a varint), read from its protobuf
//  encoding without unpacking it (an unpack per group allocated the whole
//  record to read one number); 0 if it has none.
static uint64_t s_record_time(const uint8_t *body, size_t len)
{
    const uint8_t *p = body, *end = body + len;
    uint64_t time = 0, key, value;
    while (p < end && s_varint(&p, end, &key)) {
        switch (key & 7) {
        case 0: //  varint; the last occurrence wins, as in an unpack
            if (!s_varint(&p, end, &value))
                return time;
            if (key >> 3 == 2)
                time = value;
            break;
        case 1: //  64 bits
            if (end - p < 8)
                return time;
            p += 8;
            break;
        case 2: //  length-delimited
            if (!s_varint(&p, end, &value) || value > (uint64_t)(end - p))
                return time;
            p += value;
            break;
        case 5: //  32 bits
            if (end - p < 4)
                return time;
            p += 4;
            break;
        default:
            return time;
        }
    }
    return time;
}

static int32_t s_entry_day(kp_privlog_t *self, const s_entry_t *e)
{
    const uint8_t *frame = self->buf + e->buf_off;
    uint64_t t = s_record_time(frame + KP_PRIVLOG_FRAME_HEADER, kp_le32_get(frame));
    return privlog_day_of(t ? t : privlog_now_us());
}

//  A write that failed for want of space (ENOSPC, EDQUOT) leaves the
//  segment as it was up to seg_size and the records in the buffer: the
//  next sync writes them again at the same offset, so the log resumes by
//  itself when space returns. Any other failure is final.
static int s_write_failed(kp_privlog_t *self)
{
    if (errno != ENOSPC && errno != EDQUOT)
        return s_fail(self, "cannot write (disk failing?)");
    int e = errno;
    if (kp_spare_remove(self->dir, self->options.spare_stats))
        zsys_warning("privacy log %s: no space left: the spare segment was removed, so that its "
                     "space serves the log",
                     self->dir);
    errno = e;
    kp_err(self->error, sizeof self->error,
           "privacy log %s: cannot write: %s (the records wait in memory; writing resumes when "
           "there is space)",
           self->dir, strerror(errno));
    return -1;
}

#ifdef KP_TEST_HOOKS
static uint64_t s_test_start(kp_privlog_t *self)
{
    return self->test_trace ? (uint64_t)zclock_usecs() : 0;
}

static bool s_test_write_fails(kp_privlog_t *self)
{
    if (!self->test_fail || access(self->test_fail, F_OK))
        return false;
    errno = ENOSPC;
    return true;
}

static void s_test_delay(kp_privlog_t *self)
{
    if (self->test_delay_ms > 0)
        zclock_sleep(self->test_delay_ms);
}

static void s_test_trace(kp_privlog_t *self, uint64_t start_us)
{
    if (!self->test_trace)
        return;
    FILE *f = fopen(self->test_trace, "a");
    if (f) {
        fprintf(f, "%llu %llu %llu\n", (unsigned long long)start_us,
                (unsigned long long)zclock_usecs(), (unsigned long long)self->durable_seq);
        fclose(f);
    }
}
#else
#define s_test_start(self) 0
#define s_test_write_fails(self) false
#define s_test_delay(self)
#define s_test_trace(self, start_us) (void)(start_us)
#endif

//  Writes what was appended since the last sync (with a checkpoint when
//  due) in one pwrite and one fdatasync, rolling the segment by day or
//  size. 0; -1 with the error (retryable when the disk was full).
int kp_privlog_sync(kp_privlog_t *self)
{
    if (self->failed)
        return -1;
    if (self->synced == self->len)
        return 0;
    //  Roll by day: the first waiting record says which day we are in.
    if (self->entries_synced < self->n_entries) {
        int32_t day = s_entry_day(self, &self->entries[self->entries_synced]);
        if (self->seg_fd >= 0 && day > self->seg.day) {
            if (self->seg_records) {
                if (s_roll(self))
                    return -1;
            } else { //  an empty segment of a past day: replace it
                char path[PRIVLOG_PATH];
                privlog_path(path, self->dir, self->seg.name);
                close(self->seg_fd);
                self->seg_fd = -1;
                unlink(path);
            }
        }
        if (self->seg_fd < 0 && s_segment_create(self, day))
            return -1;
    }
    uint64_t now = privlog_now_us();
    if (self->key && self->uncovered &&
        (self->uncovered >= self->options.checkpoint_every ||
         now - self->checkpoint_us >= (uint64_t)self->options.checkpoint_secs * 1000000u)) {
        if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + 256))
            return s_fail(self, "out of memory");
        size_t n = privlog_checkpoint_frame(self->key, self->pub, self->last_seq, self->last_hash,
                                            self->buf + self->len);
        if (!n) {
            kp_err(self->error, sizeof self->error, "cannot sign a checkpoint (OpenSSL)");
            self->failed = true;
            return -1;
        }
        self->len += n;
        self->uncovered = 0;
        self->checkpoint_us = now;
        self->checkpointed = true;
    }
    if (self->seg_fd < 0 && s_segment_create(self, privlog_day_of(now)))
        return -1;
    for (size_t i = self->entries_synced; i < self->n_entries; i++) {
        s_entry_t *e = &self->entries[i];
        e->segment = self->seg.first_seq;
        e->file_off = self->seg_size + (e->buf_off - self->synced);
    }
    bool ends_with_checkpoint = self->uncovered == 0;
    size_t size = self->len - self->synced;
    if (!self->seg_allocated)
        s_preallocate(self); //  a segment reopened after a restart
    //  Only what this group needs: the zeros ahead are written between
    //  groups (kp_privlog_zero_ahead), not in a group's time.
    s_zero_ahead(self, self->seg_size + size, self->align ? self->align : 1);
    uint64_t start_us = s_test_start(self);
    if (s_test_write_fails(self))
        return s_write_failed(self);
    s_test_delay(self);
    int put = s_put(self, self->buf + self->synced, size);
    if (put == S_PUT_WRITE)
        return s_write_failed(self);
    if (put == S_PUT_SYNC)
        return s_fail(self, "cannot sync (disk failing?)");
    self->seg_records += self->n_entries - self->entries_synced;
    self->synced = self->len;
    self->entries_synced = self->n_entries;
    self->tail_checkpoint = ends_with_checkpoint;
    self->durable_seq = self->last_seq;
    memcpy(self->durable_hash, self->last_hash, 32);
    s_test_trace(self, start_us);
    if (self->seg_size >= self->options.segment_max)
        return s_roll(self);
    return s_shrink(self, false);
}

//  Hands the synced records to the index and drops them from the buffer.
//  0, or -1 when the index lags (it catches up on open).
int kp_privlog_index_flush(kp_privlog_t *self)
{
    int rc = 0;
    if (self->index && self->entries_synced) {
        for (size_t i = 0; i < self->entries_synced && !rc; i++) {
            s_entry_t *e = &self->entries[i];
            const uint8_t *frame = self->buf + e->buf_off;
            Kp__LogRecord *r =
                kp__log_record__unpack(NULL, kp_le32_get(frame), frame + KP_PRIVLOG_FRAME_HEADER);
            rc = r ? kp_logindex_add(self->index, r, e->seq, e->segment, e->file_off) : -1;
            kp__log_record__free_unpacked(r, NULL);
        }
        s_entry_t *last = &self->entries[self->entries_synced - 1];
        uint64_t next =
            last->file_off + KP_PRIVLOG_FRAME_HEADER + kp_le32_get(self->buf + last->buf_off);
        if (!rc)
            rc = kp_logindex_set_position(self->index, last->seq, last->segment, next);
        if (!rc)
            rc = kp_logindex_commit(self->index);
        else
            kp_logindex_abort(self->index);
        if (!rc && self->checkpointed) {
            rc = kp_logindex_sync(self->index);
            self->checkpointed = false;
        }
        if (rc)
            kp_err(self->error, sizeof self->error, "%s (the index lags; it catches up on open)",
                   kp_logindex_error(self->index));
    }
    //  Drop what is synced from the buffer; keep what waits for a sync.
    if (!self->buf)
        return rc;
    memmove(self->buf, self->buf + self->synced, self->len - self->synced);
    self->len -= self->synced;
    size_t keep = self->n_entries - self->entries_synced;
    if (keep)
        memmove(self->entries, self->entries + self->entries_synced, keep * sizeof *self->entries);
    for (size_t i = 0; i < keep; i++)
        self->entries[i].buf_off -= self->synced;
    self->n_entries = keep;
    self->entries_synced = 0;
    self->synced = 0;
    return rc;
}

int kp_privlog_commit(kp_privlog_t *self)
{
    if (kp_privlog_sync(self))
        return -1;
    return kp_privlog_index_flush(self);
}

int kp_privlog_tick(kp_privlog_t *self)
{
    if (self->failed || s_shrink(self, false))
        return -1;
    if (!self->key || !self->uncovered ||
        privlog_now_us() - self->checkpoint_us < (uint64_t)self->options.checkpoint_secs * 1000000u)
        return 0;
    //  Force the checkpoint: sync checks the same clock.
    if (self->synced == self->len) {
        if (self->seg_fd < 0)
            return 0;
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n = privlog_checkpoint_frame(self->key, self->pub, self->durable_seq,
                                            self->durable_hash, frame);
        if (!n || s_put(self, frame, n))
            return s_fail(self, "cannot write a checkpoint");
        self->uncovered = 0;
        self->checkpoint_us = privlog_now_us();
        self->checkpointed = true;
        self->tail_checkpoint = true;
        return 0;
    }
    return kp_privlog_commit(self);
}

void kp_privlog_zero_ahead(kp_privlog_t *self)
{
    if (!self->failed && self->seg_fd >= 0 && self->seg_allocated)
        s_zero_ahead(self, self->seg_size, S_ZERO_CHUNK / 2);
}

uint64_t kp_privlog_last_seq(kp_privlog_t *self)
{
    return self->last_seq;
}

uint64_t kp_privlog_segment_bytes(kp_privlog_t *self)
{
    return self->seg_fd >= 0 ? self->seg_size : 0;
}

uint64_t kp_privlog_durable_seq(kp_privlog_t *self)
{
    return self->durable_seq;
}

bool kp_privlog_failed(kp_privlog_t *self)
{
    return self->failed;
}

uint32_t kp_privlog_direct_align(kp_privlog_t *self)
{
    return (uint32_t)self->align;
}

const char *kp_privlog_error(kp_privlog_t *self)
{
    return self->error;
}

void kp_privlog_destroy(kp_privlog_t **self_p)
{
    if (!*self_p)
        return;
    kp_privlog_t *self = *self_p;
    if (!self->failed && kp_privlog_commit(self) == 0 && self->seg_fd >= 0 && self->key &&
        self->uncovered) {
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n = privlog_checkpoint_frame(self->key, self->pub, self->durable_seq,
                                            self->durable_hash, frame);
        if (n)
            s_put(self, frame, n);
    }
    //  Closed segments have no preallocated tail; after a failed sync the
    //  cut also drops whatever of the failed write reached the file.
    s_segment_close(self, true);
    s_shrink(self, true);
    kp_logindex_destroy(&self->index);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    EVP_PKEY_free(self->key);
    EVP_MD_free(self->md);
    EVP_MD_CTX_free(self->md_ctx);
    free(self->buf);
    free(self->entries);
    free(self->wbuf);
    free(self->zeros);
    free(self);
    *self_p = NULL;
}
