/*  reader.c - reading the privacy log's files: index catch-up, records
    by position (kp_privlog_reader_t), and scans by day.

    Any thread or process may call these, also while a writer appends:
    they read only what the writer has synced.
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kperr.h"
#include "logindex.h"
#include "privlog_impl.h"

//  Records per commit of a catch-up. A commit copies every leaf of the
//  person tree it touches, and random people touch most of them, so the
//  bytes written fall with the batch: 3M records in batches of 100000
//  wrote 1.68 GB for a 0.25 GB index, in batches of a million 0.26 GB, at
//  about 240 MB more memory (the batch's entries, sorted).
#define S_CATCH_UP_BATCH 1000000

//  Does the index's last record sit in the log where the index says,
//  with its seq? 0 yes (or nothing to check), 1 no (why says how), -1 on
//  an error. A log whose tail was cut behind the index is no mismatch:
//  the catch-up drops the entries past the cut.
static int s_index_matches(kp_logindex_t *index, const char *dir, const kp_privlog_segment_t *segs,
                           int n, uint64_t pos_seq, uint64_t pos_seg, char *why, size_t whylen)
{
    if (!pos_seq || (n > 0 && pos_seg < segs[0].first_seq))
        return 0; //  empty, or its position was pruned away: all after is new
    int at = -1;
    for (int i = 0; i < n; i++)
        if (segs[i].first_seq == pos_seg)
            at = i;
    if (at < 0) {
        kp_err(why, whylen, "the index stops in segment %llu, which the log does not have",
               (unsigned long long)pos_seg);
        return 1;
    }
    uint64_t segment, offset;
    int rc = kp_logindex_locate(index, pos_seq, &segment, &offset);
    if (rc < 0) {
        kp_err(why, whylen, "%s", kp_logindex_error(index));
        return -1;
    }
    if (rc == 1 || segment != pos_seg) {
        kp_err(why, whylen, "the index does not know where its last record %llu is",
               (unsigned long long)pos_seq);
        return 1;
    }
    privlog_map_t map;
    if (privlog_segment_map(dir, segs[at].name, &map, why, whylen))
        return -1;
    privlog_frame_t f;
    int result = 0;
    if (offset < map.size &&
        (privlog_frame_parse(map.data + offset, map.size - offset, &f) != PRIVLOG_FRAME_OK ||
         f.kind != KP_PRIVLOG_KIND_RECORD || f.seq != pos_seq)) {
        kp_err(why, whylen, "record %llu is not where the index says (segment %llu, offset %llu)",
               (unsigned long long)pos_seq, (unsigned long long)segment,
               (unsigned long long)offset);
        result = 1;
    }
    privlog_segment_unmap(&map);
    return result;
}

//  Bytes of the segments from index first on, for the progress.
static uint64_t s_bytes_from(const char *dir, const kp_privlog_segment_t *segs, int n, int first)
{
    uint64_t total = 0;
    for (int i = first < 0 ? 0 : first; i < n; i++) {
        char path[PRIVLOG_PATH];
        struct stat st;
        privlog_path(path, dir, segs[i].name);
        if (stat(path, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    return total;
}

typedef struct {
    kp_logindex_t *index;
    kp_privlog_index_job_t *job;
    uint64_t bytes_done, bytes_total;
    int64_t start_ms;
    uint64_t last_seq, last_seg, last_off;
    int64_t added, batch;
} s_catch_t;

//  Commits a batch with the position after it. 0, or -1.
static int s_catch_commit(s_catch_t *c)
{
    int rc = 0;
    if (c->last_seq)
        rc = kp_logindex_set_position(c->index, c->last_seq, c->last_seg, c->last_off);
    if (!rc)
        rc = kp_logindex_commit(c->index);
    c->batch = 0;
    if (!rc && c->job->progress)
        c->job->progress((uint64_t)c->added, c->bytes_done, c->bytes_total, c->job->arg);
    return rc;
}

//  Back in a write transaction after a commit within the catch-up: 0 if
//  the index is still where we left it, 1 if another catch-up moved it
//  in between (it goes on from there; we stop without touching it), -1.
static int s_catch_resume(s_catch_t *c)
{
    uint64_t seq, segment, offset;
    if (kp_logindex_begin(c->index) || kp_logindex_position(c->index, &seq, &segment, &offset))
        return -1;
    if (!c->last_seq || (seq == c->last_seq && segment == c->last_seg && offset == c->last_off))
        return 0;
    c->last_seq = 0; //  the position is the other's now
    return 1;
}

//  Indexes the records of one mapped segment from off on. 1 when the
//  budget ran out, 0 at its end, -1 on an error.
static int s_catch_segment(s_catch_t *c, const privlog_map_t *map, uint64_t first_seq, size_t off,
                           uint64_t pos_seq)
{
    kp_privlog_index_job_t *job = c->job;
    while (off < map->size) {
        privlog_frame_t f;
        if (privlog_frame_parse(map->data + off, map->size - off, &f) != PRIVLOG_FRAME_OK)
            break;
        if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq > job->upto_seq)
            break;
        if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq > pos_seq) {
            if (kp_logindex_add_packed(c->index, f.body, f.len, f.seq, first_seq, off) < 0)
                return -1;
            c->added++;
            c->batch++;
            c->last_seq = f.seq;
        }
        size_t size = KP_PRIVLOG_FRAME_HEADER + f.len;
        off += size;
        c->bytes_done += size;
        c->last_seg = first_seq;
        c->last_off = off;
        if ((uint64_t)c->batch >= (job->batch ? job->batch : S_CATCH_UP_BATCH)) {
            int resumed = s_catch_commit(c) ? -1 : s_catch_resume(c);
            if (resumed)
                return resumed;
            if (job->budget_ms && zclock_mono() - c->start_ms >= job->budget_ms)
                return 1;
        }
    }
    return 0;
}

//  Where the catch-up starts: the index's position, checked against the
//  log; an index that does not match is emptied and rebuilt whole. Both
//  are read in the write transaction the catch-up then fills (left open):
//  LMDB lets one writer in at a time across processes, so a second
//  catch-up (the node's indexer beside kpctl or a test) waits for this
//  one and starts where it ended. A position read before that could be
//  older than what the other had committed meanwhile, and the records in
//  between went in twice ("does not follow from the records before").
static int s_catch_start(kp_logindex_t *index, const char *dir, kp_privlog_segment_t *segs, int n,
                         kp_privlog_index_job_t *job, uint64_t pos[3], char *err, size_t errlen)
{
    bool rebuild = job->rebuild;
    //  After a clear (its own commit) another catch-up may have filled
    //  the index before we are back in: check what it made, a few times.
    for (int attempt = 0; attempt < 3; attempt++) {
        if (kp_logindex_begin(index) || kp_logindex_position(index, &pos[0], &pos[1], &pos[2])) {
            kp_err(err, errlen, "%s", kp_logindex_error(index));
            return -1;
        }
        int match = rebuild ? 1
                            : s_index_matches(index, dir, segs, n, pos[0], pos[1], job->why,
                                              sizeof job->why);
        if (match < 0) {
            kp_err(err, errlen, "%s", job->why);
            return -1;
        }
        if (match == 0)
            return 0;
        if (rebuild)
            kp_err(job->why, sizeof job->why, "a rebuild was asked for");
        if (kp_logindex_clear(index)) {
            kp_err(err, errlen, "%s", kp_logindex_error(index));
            return -1;
        }
        job->rebuilt = true;
        rebuild = false;
    }
    kp_err(err, errlen, "log index: another catch-up keeps changing it; try again when it is done");
    return -1;
}

//  Brings index up to the log (to upto_seq), rebuilding it from the
//  segments when it does not match the log. Records added, or -1.
int64_t kp_privlog_index_run(const char *dir, struct _kp_logindex_t *index,
                             kp_privlog_index_job_t *job, char *err, size_t errlen)
{
    err[0] = 0;
    job->complete = false;
    job->rebuilt = false;
    job->why[0] = 0;
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0)
        return -1;
    uint64_t pos[3];
    if (s_catch_start(index, dir, segs, n, job, pos, err, errlen)) {
        kp_logindex_abort(index);
        free(segs);
        return -1;
    }
    uint64_t pos_seq = pos[0], pos_seg = pos[1], pos_off = pos[2];
    s_catch_t c = {.index = index, .job = job, .start_ms = zclock_mono()};
    int first = 0;
    while (first + 1 < n && segs[first + 1].first_seq <= pos_seg)
        first++; //  wholly indexed already
    c.bytes_total = s_bytes_from(dir, segs, n, first);
    int rc = 0;
    for (int i = first; i < n && rc == 0; i++) {
        privlog_map_t map;
        if (privlog_segment_map(dir, segs[i].name, &map, err, errlen)) {
            rc = -1;
            break;
        }
        size_t off = KP_PRIVLOG_SEGMENT_HEADER;
        if (segs[i].first_seq == pos_seg && pos_off >= off)
            off = pos_off;
        if (!map.header_ok)
            off = map.size; //  the writer judges it; nothing to index here
        if (off > map.size && i == n - 1) {
            //  The index is ahead of a log whose tail was cut: forget the
            //  entries of records that are no longer there.
            //  The drop commits: back in, unless another catch-up went on.
            uint64_t at[3];
            if (kp_logindex_drop(index, segs[i].first_seq, UINT64_MAX) ||
                kp_logindex_begin(index) || kp_logindex_position(index, &at[0], &at[1], &at[2]))
                rc = -1;
            else if (at[0] != pos_seq || at[1] != pos_seg || at[2] != pos_off)
                rc = 1;
            off = KP_PRIVLOG_SEGMENT_HEADER;
            pos_seq = segs[i].first_seq - 1;
        }
        c.bytes_done += off < map.size ? off : map.size;
        if (rc == 0)
            rc = s_catch_segment(&c, &map, segs[i].first_seq, off, pos_seq);
        privlog_segment_unmap(&map);
    }
    free(segs);
    if (rc >= 0 && s_catch_commit(&c))
        rc = -1;
    if (rc < 0) {
        kp_logindex_abort(index);
        if (!*err)
            kp_err(err, errlen, "%s", kp_logindex_error(index));
        return -1;
    }
    job->complete = rc == 0;
    return c.added;
}

int64_t privlog_catch_up(kp_logindex_t *index, const char *dir, uint64_t upto_seq, char *err,
                         size_t errlen)
{
    kp_privlog_index_job_t job = {.upto_seq = upto_seq};
    return kp_privlog_index_run(dir, index, &job, err, errlen);
}

int64_t kp_privlog_index_catch_up(const char *dir, uint64_t map_size, char *err, size_t errlen)
{
    char path[PRIVLOG_PATH];
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        kp_err(err, errlen, "no log folder %s (is --data the node's log folder?)", dir);
        return -1;
    }
    kp_logindex_t *index = kp_logindex_open(path, false, map_size, err, errlen);
    if (!index)
        return -1;
    err[0] = 0;
    int64_t added = privlog_catch_up(index, dir, UINT64_MAX, err, errlen);
    kp_logindex_destroy(&index);
    return added;
}

int64_t kp_privlog_index_follow(const char *dir, struct _kp_logindex_t *index, uint64_t upto_seq,
                                char *err, size_t errlen)
{
    err[0] = 0;
    return privlog_catch_up(index, dir, upto_seq, err, errlen);
}

// ---------------------------------------------------------------------------
// Reading records

struct _privlog_reader_t {
    char dir[PRIVLOG_PATH];
    kp_privlog_segment_t *segs;
    int n_segs;
    int fd;
    uint64_t fd_segment;
    uint8_t *buf;
};

kp_privlog_reader_t *kp_privlog_reader_new(const char *dir, char *err, size_t errlen)
{
    kp_privlog_reader_t *self = calloc(1, sizeof *self);
    if (!self || !(self->buf = malloc(KP_PRIVLOG_FRAME_HEADER + KP_PRIVLOG_MAX_BODY))) {
        free(self);
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->fd = -1;
    self->n_segs = kp_privlog_segments(dir, &self->segs, err, errlen);
    if (self->n_segs < 0) {
        free(self->buf);
        free(self);
        return NULL;
    }
    return self;
}

void kp_privlog_reader_destroy(kp_privlog_reader_t **self_p)
{
    if (!*self_p)
        return;
    kp_privlog_reader_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    free(self->segs);
    free(self->buf);
    free(self);
    *self_p = NULL;
}

static const kp_privlog_segment_t *s_find(kp_privlog_reader_t *self, uint64_t segment)
{
    int lo = 0, hi = self->n_segs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (self->segs[mid].first_seq == segment)
            return &self->segs[mid];
        if (self->segs[mid].first_seq < segment)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int s_pread_all(int fd, uint8_t *buf, size_t size, uint64_t offset)
{
    while (size) {
        ssize_t n = pread(fd, buf, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

//  The record at (segment, offset), read and checked; NULL with error if
//  it is gone or damaged.
Kp__LogRecord *kp_privlog_reader_get(kp_privlog_reader_t *self, uint64_t segment, uint64_t offset,
                                     uint64_t *seq, char *err, size_t errlen)
{
    if (self->fd < 0 || self->fd_segment != segment) {
        const kp_privlog_segment_t *seg = s_find(self, segment);
        if (!seg) { //  a segment made since we listed?
            free(self->segs);
            self->n_segs = kp_privlog_segments(self->dir, &self->segs, err, errlen);
            if (self->n_segs < 0)
                return NULL;
            seg = s_find(self, segment);
        }
        if (!seg) {
            kp_err(err, errlen, "segment %llu is gone (pruned)", (unsigned long long)segment);
            return NULL;
        }
        if (self->fd >= 0)
            close(self->fd);
        char path[PRIVLOG_PATH];
        privlog_path(path, self->dir, seg->name);
        self->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (self->fd < 0) {
            kp_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return NULL;
        }
        self->fd_segment = segment;
    }
    privlog_frame_t f;
    if (s_pread_all(self->fd, self->buf, KP_PRIVLOG_FRAME_HEADER, offset) ||
        kp_le32_get(self->buf) > KP_PRIVLOG_MAX_BODY ||
        s_pread_all(self->fd, self->buf + KP_PRIVLOG_FRAME_HEADER, kp_le32_get(self->buf),
                    offset + KP_PRIVLOG_FRAME_HEADER) ||
        privlog_frame_parse(self->buf, KP_PRIVLOG_FRAME_HEADER + kp_le32_get(self->buf), &f) !=
            PRIVLOG_FRAME_OK ||
        f.kind != KP_PRIVLOG_KIND_RECORD) {
        kp_err(err, errlen, "no intact record at segment %llu offset %llu (run 'kpctl log verify')",
               (unsigned long long)segment, (unsigned long long)offset);
        return NULL;
    }
    Kp__LogRecord *r = kp__log_record__unpack(NULL, f.len, f.body);
    if (!r)
        kp_err(err, errlen, "record at segment %llu offset %llu does not decode",
               (unsigned long long)segment, (unsigned long long)offset);
    *seq = f.seq;
    return r;
}

//  Calls fn for every record of the segments of [from_day, to_day], in
//  order; a damaged frame (not a torn tail) ends the scan with -1.
int kp_privlog_scan(const char *dir, int32_t from_day, int32_t to_day, kp_privlog_scan_fn *fn,
                    void *arg, char *err, size_t errlen)
{
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        //  A segment holds one day, so whole segments can be skipped.
        if (segs[i].day > to_day)
            break;
        if (segs[i].day < from_day && i + 1 < n && segs[i + 1].day < from_day)
            continue;
        privlog_map_t map;
        if (privlog_segment_map(dir, segs[i].name, &map, err, errlen)) {
            rc = -1;
            break;
        }
        size_t off = KP_PRIVLOG_SEGMENT_HEADER;
        while (map.header_ok && off < map.size && !rc) {
            privlog_frame_t f;
            int p = privlog_frame_parse(map.data + off, map.size - off, &f);
            int end = p == PRIVLOG_FRAME_OK ? PRIVLOG_END_DAMAGE
                                            : privlog_end_kind(map.data, map.size, off);
            if (end == PRIVLOG_END_CLEAN || (end == PRIVLOG_END_TORN && i == n - 1))
                break; //  the preallocated tail; or being written, or torn
            if (p != PRIVLOG_FRAME_OK) {
                kp_err(err, errlen,
                       "segment %s: damaged record at offset %zu (run 'kpctl log verify')",
                       segs[i].name, off);
                rc = -1;
                break;
            }
            if (f.kind == KP_PRIVLOG_KIND_RECORD) {
                Kp__LogRecord *r = kp__log_record__unpack(NULL, f.len, f.body);
                if (r)
                    rc = fn(r, f.seq, arg) ? 1 : 0;
                kp__log_record__free_unpacked(r, NULL);
            }
            off += KP_PRIVLOG_FRAME_HEADER + f.len;
        }
        privlog_segment_unmap(&map);
    }
    free(segs);
    return rc < 0 ? -1 : 0;
}
