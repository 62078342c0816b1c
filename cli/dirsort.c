/*  dirsort.c - kpctl's external sort of a directory import; see
    dirsort.h. */
#include "dirsort.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "directory.h"

//  A record, in the chunk and in a run: op size (u32), key size (u16),
//  line (u64), all big-endian, then the key and the packed op.
#define S_HEAD 14
//  A packed op is never larger: a line is at most KP_JSONL_MAX_LINE.
#define S_OP_MAX (1u << 20)
#define S_RUN_PREFIX "run-"
#define S_WRITE_BUFFER (1u << 20)
#define S_READ_BUFFER_MIN (64u << 10)
#define S_READ_BUFFER_MAX (1u << 20)

//  A record of the chunk: its key's first 16 bytes as two big-endian
//  numbers (most comparisons end there) and where it is.
typedef struct {
    uint64_t p0, p1;
    size_t at;
} s_entry_t;

//  A run being merged, and its current record.
typedef struct {
    FILE *file;
    char *buffer;
    unsigned char *record; //  head, key, op
    size_t cap;
    bool done;
} s_run_t;

struct _kp_dirsort_t {
    char folder[PATH_MAX];
    size_t chunk; //  budget: data plus entries
    unsigned char *data;
    size_t data_size, data_cap;
    s_entry_t *entries;
    size_t count, entries_cap;
    size_t records, runs;
    bool folder_made, finished;
    //  Reading back: from the chunk (runs == 0) or from the runs' heap.
    size_t next;
    s_run_t *merge;
    size_t *heap, heap_size;
    Kp__DirectoryOp *op;
};

static void s_run_path(char *out, size_t size, const char *folder, size_t n)
{
    snprintf(out, size, "%s/" S_RUN_PREFIX "%06zu", folder, n);
}

//  Removes the run files of folder and the folder; -1 if it holds
//  anything else (then nothing else is removed).
static int s_clear(const char *folder)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    char path[PATH_MAX + 300];
    while ((e = readdir(dir))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (strncmp(e->d_name, S_RUN_PREFIX, strlen(S_RUN_PREFIX))) {
            rc = -1;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        unlink(path);
    }
    closedir(dir);
    return rc == 0 && rmdir(folder) && errno != ENOENT ? -1 : rc;
}

kp_dirsort_t *kp_dirsort_new(const char *folder, size_t chunk, char *err, size_t errlen)
{
    if (s_clear(folder)) {
        snprintf(err, errlen,
                 "cannot use %s for the import's sorted runs: it holds files other than runs "
                 "(remove it)",
                 folder);
        return NULL;
    }
    kp_dirsort_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->folder, sizeof self->folder, "%s", folder);
    self->chunk = chunk < KP_DIRSORT_CHUNK_MIN ? KP_DIRSORT_CHUNK_MIN : chunk;
    return self;
}

static void s_merge_free(kp_dirsort_t *self)
{
    for (size_t i = 0; self->merge && i < self->runs; i++) {
        if (self->merge[i].file)
            fclose(self->merge[i].file);
        free(self->merge[i].buffer);
        free(self->merge[i].record);
    }
    free(self->merge);
    free(self->heap);
    self->merge = NULL;
    self->heap = NULL;
}

void kp_dirsort_destroy(kp_dirsort_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_dirsort_t *self = *self_p;
    s_merge_free(self);
    if (self->op)
        kp__directory_op__free_unpacked(self->op, NULL);
    free(self->data);
    free(self->entries);
    if (self->folder_made)
        s_clear(self->folder);
    free(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Records

static uint32_t s_op_size(const unsigned char *r)
{
    return kp_be32_get(r);
}

static size_t s_key_size(const unsigned char *r)
{
    return kp_be16_get(r + 4);
}

static uint64_t s_line(const unsigned char *r)
{
    return kp_be64_get(r + 6);
}

static const unsigned char *s_key(const unsigned char *r)
{
    return r + S_HEAD;
}

static size_t s_record_size(const unsigned char *r)
{
    return S_HEAD + s_key_size(r) + s_op_size(r);
}

//  Order of two records: key bytes, then the shorter key, then the line.
static int s_record_cmp(const unsigned char *a, const unsigned char *b)
{
    size_t ka = s_key_size(a), kb = s_key_size(b);
    int c = memcmp(s_key(a), s_key(b), ka < kb ? ka : kb);
    if (c == 0 && ka != kb)
        c = ka < kb ? -1 : 1;
    if (c == 0) {
        uint64_t la = s_line(a), lb = s_line(b);
        c = la < lb ? -1 : la > lb;
    }
    return c;
}

static uint64_t s_prefix(const unsigned char *key, size_t size, size_t from)
{
    uint64_t v = 0;
    for (size_t i = from; i < from + 8; i++)
        v = v << 8 | (i < size ? key[i] : 0);
    return v;
}

//  The sort's comparison: the prefixes, then the whole records (arg: the
//  chunk's data).
static int s_entry_cmp(const void *a, const void *b, void *arg)
{
    const unsigned char *data = arg;
    const s_entry_t *x = a, *y = b;
    if (x->p0 != y->p0)
        return x->p0 < y->p0 ? -1 : 1;
    if (x->p1 != y->p1)
        return x->p1 < y->p1 ? -1 : 1;
    return s_record_cmp(data + x->at, data + y->at);
}

static void s_sort_chunk(kp_dirsort_t *self)
{
    if (self->count == 0)
        return;
    qsort_r(self->entries, self->count, sizeof *self->entries, s_entry_cmp, self->data);
}

static int s_io_err(const char *what, const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot %s %s: %s", what, path, strerror(errno ? errno : EIO));
    return -1;
}

//  The chunk, sorted, into the next run file; the chunk is emptied.
static int s_spill(kp_dirsort_t *self, char *err, size_t errlen)
{
    if (!self->folder_made) {
        if (mkdir(self->folder, 0700) && errno != EEXIST)
            return s_io_err("make", self->folder, err, errlen);
        self->folder_made = true;
    }
    s_sort_chunk(self);
    char path[PATH_MAX + 32];
    s_run_path(path, sizeof path, self->folder, self->runs + 1);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *file = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!file) {
        if (fd >= 0)
            close(fd);
        return s_io_err("write", path, err, errlen);
    }
    self->runs++; //  made: destroy removes it
    char *buffer = malloc(S_WRITE_BUFFER);
    assert(buffer);
    setvbuf(file, buffer, _IOFBF, S_WRITE_BUFFER);
    errno = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < self->count; i++) {
        const unsigned char *r = self->data + self->entries[i].at;
        ok = fwrite(r, 1, s_record_size(r), file) == s_record_size(r);
    }
    //  Temporary: not synced. A crash leaves runs that the next import
    //  removes; it sorts the file again.
    ok = fclose(file) == 0 && ok;
    free(buffer);
    if (!ok)
        return s_io_err("write", path, err, errlen);
    self->count = 0;
    self->data_size = 0;
    return 0;
}

static void s_grow(void **p, size_t *cap, size_t need, size_t unit, size_t first)
{
    if (need <= *cap)
        return;
    size_t cap_new = *cap ? *cap : first;
    while (cap_new < need)
        cap_new *= 2;
    void *grown = realloc(*p, cap_new * unit);
    assert(grown);
    *p = grown;
    *cap = cap_new;
}

int kp_dirsort_add(kp_dirsort_t *self, const Kp__DirectoryOp *op, size_t line, char *err,
                   size_t errlen)
{
    assert(!self->finished);
    unsigned char key[KP_DIR_ORDER_MAX];
    size_t key_size = kp_directory_op_order(op, key);
    size_t op_size = kp__directory_op__get_packed_size(op);
    if (op_size > S_OP_MAX) {
        snprintf(err, errlen, "line %zu: a record of %zu bytes", line, op_size);
        return -1;
    }
    size_t size = S_HEAD + key_size + op_size;
    size_t used = self->data_size + self->count * sizeof(s_entry_t);
    if (self->count && used + size + sizeof(s_entry_t) > self->chunk && s_spill(self, err, errlen))
        return -1;
    s_grow((void **)&self->data, &self->data_cap, self->data_size + size, 1, 1u << 20);
    s_grow((void **)&self->entries, &self->entries_cap, self->count + 1, sizeof(s_entry_t), 8192);
    unsigned char *r = self->data + self->data_size;
    kp_be32_put(r, (uint32_t)op_size);
    kp_be16_put(r + 4, (uint16_t)key_size);
    kp_be64_put(r + 6, line);
    memcpy(r + S_HEAD, key, key_size);
    kp__directory_op__pack(op, r + S_HEAD + key_size);
    self->entries[self->count++] =
        (s_entry_t){s_prefix(key, key_size, 0), s_prefix(key, key_size, 8), self->data_size};
    self->data_size += size;
    self->records++;
    return 0;
}

//  ---------------------------------------------------------------------
//  Merge

//  Reads run i's next record: 0 (or done at its end), -1 with err.
static int s_run_read(kp_dirsort_t *self, size_t i, char *err, size_t errlen)
{
    s_run_t *run = &self->merge[i];
    unsigned char head[S_HEAD];
    size_t got = fread(head, 1, S_HEAD, run->file);
    if (got == 0 && feof(run->file)) {
        run->done = true;
        return 0;
    }
    size_t rest = got == S_HEAD ? kp_be16_get(head + 4) + (size_t)kp_be32_get(head) : 0;
    if (got != S_HEAD || kp_be16_get(head + 4) > KP_DIR_ORDER_MAX || kp_be32_get(head) > S_OP_MAX) {
        snprintf(err, errlen, "run %zu of the sort (in %s) is damaged", i + 1, self->folder);
        return -1;
    }
    s_grow((void **)&run->record, &run->cap, S_HEAD + rest, 1, 4096);
    memcpy(run->record, head, S_HEAD);
    if (fread(run->record + S_HEAD, 1, rest, run->file) != rest) {
        snprintf(err, errlen, "run %zu of the sort (in %s) is cut short", i + 1, self->folder);
        return -1;
    }
    return 0;
}

static bool s_heap_less(kp_dirsort_t *self, size_t a, size_t b)
{
    return s_record_cmp(self->merge[self->heap[a]].record, self->merge[self->heap[b]].record) < 0;
}

static void s_heap_down(kp_dirsort_t *self, size_t i)
{
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < self->heap_size && s_heap_less(self, l, least))
            least = l;
        if (r < self->heap_size && s_heap_less(self, r, least))
            least = r;
        if (least == i)
            return;
        size_t t = self->heap[i];
        self->heap[i] = self->heap[least];
        self->heap[least] = t;
        i = least;
    }
}

static int s_merge_start(kp_dirsort_t *self, char *err, size_t errlen)
{
    self->merge = calloc(self->runs, sizeof *self->merge);
    self->heap = calloc(self->runs, sizeof *self->heap);
    assert(self->merge && self->heap);
    size_t buffer = self->chunk / self->runs;
    buffer = buffer < S_READ_BUFFER_MIN   ? S_READ_BUFFER_MIN
             : buffer > S_READ_BUFFER_MAX ? S_READ_BUFFER_MAX
                                          : buffer;
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < self->runs; i++) {
        s_run_t *run = &self->merge[i];
        s_run_path(path, sizeof path, self->folder, i + 1);
        run->file = fopen(path, "re");
        if (!run->file)
            return s_io_err("read", path, err, errlen);
        run->buffer = malloc(buffer);
        assert(run->buffer);
        setvbuf(run->file, run->buffer, _IOFBF, buffer);
        if (s_run_read(self, i, err, errlen))
            return -1;
        if (!run->done)
            self->heap[self->heap_size++] = i;
    }
    for (size_t i = self->heap_size; i-- > 0;)
        s_heap_down(self, i);
    return 0;
}

int kp_dirsort_finish(kp_dirsort_t *self, char *err, size_t errlen)
{
    assert(!self->finished);
    self->finished = true;
    if (self->runs == 0) {
        s_sort_chunk(self);
        return 0;
    }
    if (self->count && s_spill(self, err, errlen))
        return -1;
    //  The chunk's memory goes to the merge's buffers.
    free(self->data);
    free(self->entries);
    self->data = NULL;
    self->entries = NULL;
    self->data_cap = self->entries_cap = 0;
    return s_merge_start(self, err, errlen);
}

size_t kp_dirsort_records(const kp_dirsort_t *self)
{
    return self->records;
}

size_t kp_dirsort_runs(const kp_dirsort_t *self)
{
    return self->runs;
}

//  The record that comes next, NULL at the end; from the chunk or the
//  heap's top. The heap's top is advanced on the following call.
static const unsigned char *s_next_record(kp_dirsort_t *self, char *err, size_t errlen, int *rc)
{
    *rc = 0;
    if (self->runs == 0)
        return self->next < self->count ? self->data + self->entries[self->next++].at : NULL;
    if (self->next++ && self->heap_size) {
        size_t top = self->heap[0];
        if ((*rc = s_run_read(self, top, err, errlen)))
            return NULL;
        if (self->merge[top].done)
            self->heap[0] = self->heap[--self->heap_size];
        s_heap_down(self, 0);
    }
    return self->heap_size ? self->merge[self->heap[0]].record : NULL;
}

int kp_dirsort_next(kp_dirsort_t *self, const Kp__DirectoryOp **op_p, size_t *line_p, char *err,
                    size_t errlen)
{
    assert(self->finished);
    if (self->op)
        kp__directory_op__free_unpacked(self->op, NULL);
    self->op = NULL;
    int rc;
    const unsigned char *r = s_next_record(self, err, errlen, &rc);
    if (!r)
        return rc;
    self->op = kp__directory_op__unpack(NULL, s_op_size(r), s_key(r) + s_key_size(r));
    if (!self->op) {
        snprintf(err, errlen, "a record of the sort (line %" PRIu64 ") cannot be read back",
                 s_line(r));
        return -1;
    }
    *op_p = self->op;
    *line_p = (size_t)s_line(r);
    return 1;
}
