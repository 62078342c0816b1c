/*  prune.c - removing old segments (kp_privlog_prune), copying days out
    (kp_privlog_export), and the signed anchor that lets what remains
    verify on its own.
*/
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

//  Reads DIR/anchor: 0 and the checkpoint, 1 if there is none, -1 bad.
int privlog_anchor_read(const char *dir, Kp__LogCheckpoint **cp)
{
    char path[PRIVLOG_PATH];
    snprintf(path, sizeof path, "%s/anchor", dir);
    *cp = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 1 : -1;
    uint8_t buf[KP_PRIVLOG_FRAME_HEADER + 512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    privlog_frame_t fr;
    if (privlog_frame_parse(buf, n, &fr) != PRIVLOG_FRAME_OK ||
        fr.kind != KP_PRIVLOG_KIND_CHECKPOINT)
        return -1;
    *cp = kp__log_checkpoint__unpack(NULL, fr.len, fr.body);
    if (!*cp || !(*cp)->has_seq || !(*cp)->has_hash || (*cp)->hash.len != 32) {
        kp__log_checkpoint__free_unpacked(*cp, NULL);
        *cp = NULL;
        return -1;
    }
    return 0;
}

//  The frame that closes seg: its final checkpoint if it ends with one,
//  otherwise an unsigned checkpoint for its last record. Also the size of
//  its intact part. 0, or -1 with error.
static int s_segment_end(const char *dir, const kp_privlog_segment_t *seg, uint8_t *out,
                         size_t *out_len, size_t *intact, uint64_t *last_seq, char *err,
                         size_t errlen)
{
    privlog_map_t map;
    if (privlog_segment_map(dir, seg->name, &map, err, errlen))
        return -1;
    if (!map.header_ok) {
        privlog_segment_unmap(&map);
        kp_err(err, errlen, "segment %s has a damaged header (run 'kpctl log verify')", seg->name);
        return -1;
    }
    uint64_t seq = map.first_seq - 1;
    uint8_t hash[32];
    memcpy(hash, map.prev_hash, 32);
    size_t off = KP_PRIVLOG_SEGMENT_HEADER, last_cp = 0, last_cp_len = 0;
    privlog_frame_t f;
    while (off < map.size &&
           privlog_frame_parse(map.data + off, map.size - off, &f) == PRIVLOG_FRAME_OK) {
        if (f.kind == KP_PRIVLOG_KIND_RECORD) {
            seq = f.seq;
            memcpy(hash, f.hash, 32);
            last_cp_len = 0;
        } else if (f.seq == seq && !memcmp(f.hash, hash, 32)) {
            last_cp = off;
            last_cp_len = KP_PRIVLOG_FRAME_HEADER + f.len;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    if (last_cp_len && last_cp_len <= KP_PRIVLOG_FRAME_HEADER + 256) {
        memcpy(out, map.data + last_cp, last_cp_len);
        *out_len = last_cp_len;
    } else {
        Kp__LogCheckpoint cp = KP__LOG_CHECKPOINT__INIT;
        cp.has_seq = cp.has_hash = 1;
        cp.seq = seq;
        cp.hash.data = hash;
        cp.hash.len = 32;
        uint8_t body[128];
        size_t len = kp__log_checkpoint__pack(&cp, body);
        *out_len = privlog_frame_encode(out, KP_PRIVLOG_KIND_CHECKPOINT, seq, hash, body, len);
    }
    *intact = off;
    *last_seq = seq;
    privlog_segment_unmap(&map);
    return 0;
}

static int s_file_write(const char *path, const uint8_t *data, size_t size, char *err,
                        size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || privlog_write_all(fd, data, size) || fsync(fd)) {
        kp_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int privlog_anchor_write(const char *dir, const uint8_t *frame, size_t len, char *err,
                         size_t errlen)
{
    char tmp[PRIVLOG_PATH], path[PRIVLOG_PATH];
    snprintf(tmp, sizeof tmp, "%s/anchor.tmp", dir);
    snprintf(path, sizeof path, "%s/anchor", dir);
    if (s_file_write(tmp, frame, len, err, errlen))
        return -1;
    if (rename(tmp, path) || privlog_fsync_dir(dir)) {
        kp_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

//  Removes the whole segments of days before before_day (never the last,
//  never inside the retention), after writing the anchor that signs where
//  the rest starts. Segments removed, or -1 with error.
int kp_privlog_prune(const char *dir, int32_t before_day, int32_t retention_days, int32_t today_day,
                     char *err, size_t errlen)
{
    int32_t keep_from = today_day - retention_days;
    if (before_day > keep_from) {
        char a[11], b[11];
        time_t t = (time_t)keep_from * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(a, sizeof a, "%Y-%m-%d", &tm);
        t = (time_t)before_day * 86400;
        gmtime_r(&t, &tm);
        strftime(b, sizeof b, "%Y-%m-%d", &tm);
        kp_err(err, errlen,
               "refused: --before %s would remove records younger than the retention of %d "
               "days; records from %s on must be kept (use --before %s or earlier)",
               b, retention_days, a, a);
        return -1;
    }
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0)
        return -1;
    int k = 0;
    while (k < n - 1 && segs[k].day < before_day)
        k++;
    if (k == 0) {
        free(segs);
        return 0;
    }
    uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
    size_t len, intact;
    uint64_t last_seq;
    int rc = s_segment_end(dir, &segs[k - 1], frame, &len, &intact, &last_seq, err, errlen);
    privlog_map_t next;
    if (!rc && !privlog_segment_map(dir, segs[k].name, &next, err, errlen)) {
        privlog_frame_t f;
        privlog_frame_parse(frame, len, &f);
        if (!next.header_ok || next.first_seq != last_seq + 1 ||
            memcmp(next.prev_hash, f.hash, 32)) {
            kp_err(err, errlen,
                   "refused: the chain does not continue from %s to %s; run 'kpctl log verify' "
                   "first",
                   segs[k - 1].name, segs[k].name);
            rc = -1;
        }
        privlog_segment_unmap(&next);
    } else
        rc = -1;
    if (!rc)
        rc = privlog_anchor_write(dir, frame, len, err, errlen);
    for (int i = 0; i < k && !rc; i++) {
        char path[PRIVLOG_PATH];
        privlog_path(path, dir, segs[i].name);
        if (unlink(path) && errno != ENOENT) {
            kp_err(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            rc = -1;
        }
    }
    free(segs);
    if (rc)
        return -1;
    privlog_fsync_dir(dir);
    //  The index forgets the removed records; should that fail, queries
    //  still skip them (their segments are gone).
    char path[PRIVLOG_PATH];
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    if (!stat(path, &st)) {
        char ignored[256];
        kp_logindex_t *index = kp_logindex_open(path, false, 0, ignored, sizeof ignored);
        if (index)
            kp_logindex_drop(index, 0, last_seq);
        kp_logindex_destroy(&index);
    }
    return k;
}

//  Copies the intact part of the segments of [from_day, to_day] and the
//  anchor that signs where they start into an empty outdir. Segments
//  copied, or -1 with error.
int kp_privlog_export(const char *dir, int32_t from_day, int32_t to_day, const char *outdir,
                      char *err, size_t errlen)
{
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0)
        return -1;
    int a = 0;
    while (a < n && segs[a].day < from_day)
        a++;
    int b = a;
    while (b < n && segs[b].day <= to_day)
        b++;
    if (a == b) {
        free(segs);
        kp_err(err, errlen, "no segments between those dates in %s", dir);
        return -1;
    }
    if (mkdir(outdir, 0700) && errno != EEXIST) {
        free(segs);
        kp_err(err, errlen, "cannot make %s: %s", outdir, strerror(errno));
        return -1;
    }
    kp_privlog_segment_t *there;
    int m = kp_privlog_segments(outdir, &there, err, errlen);
    free(there);
    if (m != 0) {
        free(segs);
        if (m > 0)
            kp_err(err, errlen, "%s already holds segments: export into an empty folder", outdir);
        return -1;
    }
    int rc = 0;
    uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
    size_t len, intact;
    uint64_t last_seq;
    if (a > 0) {
        rc = s_segment_end(dir, &segs[a - 1], frame, &len, &intact, &last_seq, err, errlen);
        if (!rc)
            rc = privlog_anchor_write(outdir, frame, len, err, errlen);
    } else {
        Kp__LogCheckpoint *cp;
        int have = privlog_anchor_read(dir, &cp);
        if (have == 0) {
            uint8_t body[256];
            size_t blen = kp__log_checkpoint__get_packed_size(cp);
            if (blen <= sizeof body) {
                kp__log_checkpoint__pack(cp, body);
                len = privlog_frame_encode(frame, KP_PRIVLOG_KIND_CHECKPOINT, cp->seq,
                                           cp->hash.data, body, blen);
                rc = privlog_anchor_write(outdir, frame, len, err, errlen);
            }
            kp__log_checkpoint__free_unpacked(cp, NULL);
        } else if (have < 0) {
            kp_err(err, errlen, "the anchor of %s is damaged (run 'kpctl log verify')", dir);
            rc = -1;
        }
    }
    for (int i = a; i < b && !rc; i++) {
        //  Copy only the intact part: the live segment may be growing.
        rc = s_segment_end(dir, &segs[i], frame, &len, &intact, &last_seq, err, errlen);
        privlog_map_t map;
        if (!rc && !(rc = privlog_segment_map(dir, segs[i].name, &map, err, errlen))) {
            char path[PRIVLOG_PATH];
            privlog_path(path, outdir, segs[i].name);
            rc = s_file_write(path, map.data, intact < map.size ? intact : map.size, err, errlen);
            privlog_segment_unmap(&map);
        }
    }
    free(segs);
    if (rc)
        return -1;
    privlog_fsync_dir(outdir);
    return b - a;
}
