/*  format.c - the privacy log's bytes: frames, segment headers, segment
    files and their names, and the small file helpers the rest shares.

    Everything that reads files (recovery, verify, scan, prune, export,
    index catch-up) goes through privlog_segment_map and
    privlog_frame_parse, so that a hostile file is judged in one place.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kperr.h"
#include "privlog_impl.h"

//  Our own: CZMQ has a wall clock only in milliseconds (zclock_time) and
//  record times are in microseconds.
uint64_t privlog_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int32_t privlog_day_of(uint64_t time_us)
{
    return (int32_t)(time_us / 1000000u / 86400u);
}

void privlog_day_text(int32_t day, char out[9])
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 9, "%04u%02u%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

int privlog_path(char out[PRIVLOG_PATH], const char *dir, const char *name)
{
    int n = snprintf(out, PRIVLOG_PATH, "%s/%s", dir, name);
    return n < 0 || n >= PRIVLOG_PATH ? -1 : 0;
}

int privlog_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int privlog_write_all(int fd, const uint8_t *data, size_t size)
{
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

//  Segments are written at an offset: a preallocated file is longer than
//  its data, so O_APPEND would write past the zeros.
int privlog_pwrite_all(int fd, const uint8_t *data, size_t size, uint64_t offset)
{
    while (size) {
        ssize_t n = pwrite(fd, data, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

//  Zeros to compare with and to write ahead of the appends.
const uint8_t privlog_zeros[64 * 1024];

bool privlog_zero(const uint8_t *p, size_t size)
{
    while (size) {
        size_t k = size < sizeof privlog_zeros ? size : sizeof privlog_zeros;
        if (memcmp(p, privlog_zeros, k))
            return false;
        p += k;
        size -= k;
    }
    return true;
}

//  Where the bytes of data[from..size) end: the offset after the last one
//  that is not zero, or from. Reads forward, a page at a time: the tail
//  of a segment left open by a crash is tens of megabytes of zeros, and
//  read backwards a byte at a time it defeated readahead and took most of
//  a second of every restart.
size_t privlog_data_end(const uint8_t *data, size_t from, size_t size)
{
    size_t end = from;
    for (size_t at = from; at < size;) {
        size_t k = size - at < 4096 ? size - at : 4096;
        if (!privlog_zero(data + at, k))
            end = at + k;
        at += k;
    }
    while (end > from && !data[end - 1])
        end--;
    return end;
}

int privlog_flock(int fd, int how)
{
    int rc;
    while ((rc = flock(fd, how)) && errno == EINTR)
        ;
    return rc;
}

//  SHA-256(prev || kind || seq || body): the chain hash of a frame.
void privlog_chain_hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t prev[32], uint8_t kind,
                        uint64_t seq, const uint8_t *body, size_t len, uint8_t out[32])
{
    uint8_t head[9];
    head[0] = kind;
    kp_le64_put(head + 1, seq);
    unsigned int n = 32;
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, prev, 32);
    EVP_DigestUpdate(ctx, head, 9);
    EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, out, &n);
}

size_t privlog_frame_encode(uint8_t *out, uint8_t kind, uint64_t seq, const uint8_t hash[32],
                            const uint8_t *body, size_t len)
{
    kp_le32_put(out, (uint32_t)len);
    out[8] = kind;
    kp_le64_put(out + 9, seq);
    memcpy(out + 17, hash, 32);
    memcpy(out + KP_PRIVLOG_FRAME_HEADER, body, len);
    uint32_t crc = kp_privlog_crc32c(0, out, 4);
    crc = kp_privlog_crc32c(crc, out + 8, KP_PRIVLOG_FRAME_HEADER - 8 + len);
    kp_le32_put(out + 4, crc);
    return KP_PRIVLOG_FRAME_HEADER + len;
}

int privlog_frame_parse(const uint8_t *p, size_t avail, privlog_frame_t *frame)
{
    if (avail < KP_PRIVLOG_FRAME_HEADER)
        return PRIVLOG_FRAME_SHORT;
    uint32_t len = kp_le32_get(p);
    if (len > KP_PRIVLOG_MAX_BODY)
        return PRIVLOG_FRAME_BAD;
    if (avail - KP_PRIVLOG_FRAME_HEADER < len)
        return PRIVLOG_FRAME_SHORT;
    uint32_t crc = kp_privlog_crc32c(0, p, 4);
    crc = kp_privlog_crc32c(crc, p + 8, KP_PRIVLOG_FRAME_HEADER - 8 + len);
    if (crc != kp_le32_get(p + 4))
        return PRIVLOG_FRAME_BAD;
    frame->kind = p[8];
    if (frame->kind != KP_PRIVLOG_KIND_RECORD && frame->kind != KP_PRIVLOG_KIND_CHECKPOINT)
        return PRIVLOG_FRAME_BAD;
    frame->seq = kp_le64_get(p + 9);
    frame->hash = p + 17;
    frame->body = p + KP_PRIVLOG_FRAME_HEADER;
    frame->len = len;
    return PRIVLOG_FRAME_OK;
}

//  A segment is preallocated (zeros) beyond its data, so the end of the
//  data is where a frame of zeros would start. A write in flight, or cut
//  by a crash, shows a frame whose claimed extent holds every non-zero
//  byte left; anything else behind the frame is damage.
int privlog_end_kind(const uint8_t *data, size_t size, size_t off)
{
    size_t avail = size - off;
    if (privlog_zero(data + off, avail))
        return PRIVLOG_END_CLEAN;
    if (avail < KP_PRIVLOG_FRAME_HEADER)
        return PRIVLOG_END_TORN;
    uint32_t len = kp_le32_get(data + off);
    if (len > KP_PRIVLOG_MAX_BODY)
        return PRIVLOG_END_DAMAGE;
    size_t end = off + KP_PRIVLOG_FRAME_HEADER + len;
    return end >= size || privlog_zero(data + end, size - end) ? PRIVLOG_END_TORN
                                                               : PRIVLOG_END_DAMAGE;
}

void privlog_header_encode(uint8_t out[KP_PRIVLOG_SEGMENT_HEADER], uint64_t first_seq, int32_t day,
                           const uint8_t prev[32])
{
    memset(out, 0, KP_PRIVLOG_SEGMENT_HEADER);
    memcpy(out, PRIVLOG_MAGIC, 8);
    kp_le64_put(out + 8, first_seq);
    kp_le32_put(out + 16, (uint32_t)day);
    memcpy(out + 24, prev, 32);
    kp_le32_put(out + 60, kp_privlog_crc32c(0, out, 60));
}

int privlog_segment_map(const char *dir, const char *name, privlog_map_t *map, char *err,
                        size_t errlen)
{
    char path[PRIVLOG_PATH];
    privlog_path(path, dir, name);
    memset(map, 0, sizeof *map);
    map->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || privlog_flock(fd, LOCK_SH) || fstat(fd, &st)) {
        kp_err(err, errlen, "cannot read segment %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    map->size = (size_t)st.st_size;
    if (map->size) {
        map->data = mmap(NULL, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map->data == MAP_FAILED) {
            kp_err(err, errlen, "cannot map segment %s: %s", path, strerror(errno));
            close(fd);
            map->data = NULL;
            return -1;
        }
        madvise(map->data, map->size, MADV_SEQUENTIAL);
    }
    map->fd = fd; //  closing it drops the lock
    if (map->size >= KP_PRIVLOG_SEGMENT_HEADER && !memcmp(map->data, PRIVLOG_MAGIC, 8) &&
        kp_le32_get(map->data + 60) == kp_privlog_crc32c(0, map->data, 60)) {
        map->header_ok = true;
        map->first_seq = kp_le64_get(map->data + 8);
        map->day = (int32_t)kp_le32_get(map->data + 16);
        map->prev_hash = map->data + 24;
    }
    return 0;
}

void privlog_segment_unmap(privlog_map_t *map)
{
    if (map->data)
        munmap(map->data, map->size);
    map->data = NULL;
    if (map->fd >= 0)
        close(map->fd);
    map->fd = -1;
}

static int s_segment_cmp(const void *a, const void *b)
{
    const kp_privlog_segment_t *x = a, *y = b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

//  Parses "<20 digits>-<YYYYMMDD>.kplog"; other names are not segments.
static bool s_segment_name(const char *name, kp_privlog_segment_t *seg)
{
    if (strlen(name) != 35 || strcmp(name + 29, ".kplog") || name[20] != '-')
        return false;
    uint64_t seq = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        seq = seq * 10 + (uint64_t)(name[i] - '0');
    }
    int y, m, d;
    char tail;
    if (sscanf(name + 21, "%4d%2d%2d%c", &y, &m, &d, &tail) != 4 || tail != '.')
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    snprintf(seg->name, sizeof seg->name, "%s", name);
    seg->first_seq = seq;
    seg->day = (int32_t)(t / 86400);
    return true;
}

int kp_privlog_segments(const char *dir, kp_privlog_segment_t **list, char *err, size_t errlen)
{
    *list = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        kp_err(err, errlen, "cannot open log folder %s: %s (is --data the node's log folder?)", dir,
               strerror(errno));
        return -1;
    }
    int count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        kp_privlog_segment_t seg;
        if (!s_segment_name(e->d_name, &seg))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            kp_privlog_segment_t *more = realloc(*list, (size_t)cap * sizeof *more);
            if (!more) {
                closedir(d);
                free(*list);
                *list = NULL;
                kp_err(err, errlen, "out of memory");
                return -1;
            }
            *list = more;
        }
        (*list)[count++] = seg;
    }
    closedir(d);
    if (count)
        qsort(*list, (size_t)count, sizeof **list, s_segment_cmp);
    return count;
}

bool privlog_segment_name(const char *name, kp_privlog_segment_t *seg)
{
    return s_segment_name(name, seg);
}
