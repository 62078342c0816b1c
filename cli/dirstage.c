/*  dirstage.c - kpctl's staged import into a node's data folder; see
    dirstage.h. */
#include "dirstage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "directory.h"

//  The mark of a copy whose last part is committed: only the rename is left.
#define S_COMPLETE UINT64_MAX

struct _kp_dirstage_t {
    char folder[PATH_MAX];     //  DATA/directory
    char stage[PATH_MAX + 16]; //  DATA/directory.import
    kp_directory_t *copy;
    kp_directory_writer_t *writer;
    size_t since; //  ops since the last part was committed
    size_t parts; //  committed by this run
    bool complete;
};

static void s_path(char *out, size_t size, const char *folder, const char *name)
{
    snprintf(out, size, "%s/%s", folder, name);
}

static bool s_exists(const char *folder, const char *name)
{
    char path[PATH_MAX + 32];
    struct stat st;
    s_path(path, sizeof path, folder, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void s_fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

//  What the copy is a copy of: the source file and the directory's sequence.
static void s_source_text(char *out, size_t size, const struct stat *source, uint64_t seq)
{
    snprintf(out, size, "size %lld mtime %lld.%09ld seq %" PRIu64 "\n", (long long)source->st_size,
             (long long)source->st_mtim.tv_sec, source->st_mtim.tv_nsec, seq);
}

static void s_remove_stage(const char *stage)
{
    static const char *names[] = {"data.mdb", "lock.mdb", "source"};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        s_path(path, sizeof path, stage, names[i]);
        unlink(path);
    }
    rmdir(stage);
}

//  True if stage holds a copy of source at seq (its `source` file says so).
static bool s_resumable(const char *stage, const struct stat *source, uint64_t seq)
{
    if (!source || !s_exists(stage, "data.mdb"))
        return false;
    char path[PATH_MAX + 32], want[128], have[128] = "";
    s_path(path, sizeof path, stage, "source");
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool read = fgets(have, sizeof have, f) != NULL;
    fclose(f);
    s_source_text(want, sizeof want, source, seq);
    return read && !strcmp(have, want);
}

//  A fresh copy: the directory's content (compacted), or nothing. 0, or
//  -1 with err.
static int s_fresh(kp_dirstage_t *self, kp_directory_t *live, char *err, size_t errlen)
{
    s_remove_stage(self->stage);
    //  Without a directory, the copy starts empty (kp_directory_new makes
    //  its folders); with one, DATA is there for the copy's folder.
    if (!live)
        return 0;
    char path[PATH_MAX + 32];
    if (mkdir(self->stage, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", self->stage, strerror(errno));
        return -1;
    }
    s_path(path, sizeof path, self->stage, "data.mdb");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = kp_directory_copy(live, fd, err, errlen);
    if (rc == 0 && fsync(fd)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

//  The copy's `source` file: what it is a copy of. 0, or -1 with err.
static int s_write_source(kp_dirstage_t *self, const struct stat *source, uint64_t seq, char *err,
                          size_t errlen)
{
    if (!source)
        return 0; //  not a regular file: never resumed
    char path[PATH_MAX + 32], text[128];
    s_source_text(text, sizeof text, source, seq);
    s_path(path, sizeof path, self->stage, "source");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && !fsync(fd);
    if (fd >= 0)
        close(fd);
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

kp_dirstage_t *kp_dirstage_new(const char *folder, const struct stat *source, size_t *resume_line,
                               bool *busy, char *err, size_t errlen)
{
    *resume_line = 0;
    *busy = false;
    kp_dirstage_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->folder, sizeof self->folder, "%s", folder);
    snprintf(self->stage, sizeof self->stage, "%s.import", folder);
    //  The directory as it is: its sequence, and whether anyone holds it.
    kp_directory_t *live = NULL;
    uint64_t seq = 0;
    if (s_exists(folder, "data.mdb")) {
        live = kp_directory_new(folder, err, errlen);
        if (!live) {
            free(self);
            return NULL;
        }
        if (kp_directory_other_readers(live) != 0) {
            *busy = true;
            snprintf(err, errlen, "another process (a running kpnode?) holds %s open", folder);
            kp_directory_destroy(&live);
            free(self);
            return NULL;
        }
        seq = kp_directory_seq(live, NULL);
    }
    int rc = 0;
    bool resumed = s_resumable(self->stage, source, seq);
    if (!resumed)
        rc = s_fresh(self, live, err, errlen);
    kp_directory_destroy(&live);
    if (rc == 0)
        self->copy = kp_directory_new(self->stage, err, errlen);
    if (self->copy && !resumed && s_write_source(self, source, seq, err, errlen))
        kp_directory_destroy(&self->copy);
    if (self->copy && resumed) {
        uint64_t mark = kp_directory_stage_mark(self->copy);
        self->complete = mark == S_COMPLETE;
        *resume_line = self->complete ? SIZE_MAX : (size_t)mark;
    }
    if (self->copy && !self->complete)
        self->writer = kp_directory_writer_new(self->copy, err, errlen);
    if (!self->copy || (!self->complete && !self->writer)) {
        kp_dirstage_abandon(&self);
        return NULL;
    }
    return self;
}

int kp_dirstage_apply(kp_dirstage_t *self, const Kp__DirectoryOp *op, size_t line, char *err,
                      size_t errlen)
{
    if (self->complete)
        return 0; //  the copy holds every line already
    int rc = kp_directory_writer_apply(self->writer, op, err, errlen);
    if (rc == 0 && ++self->since >= KP_DIRSTAGE_PART) {
        self->since = 0;
        if (kp_directory_writer_checkpoint(self->writer, line, err, errlen))
            return -1;
        self->parts++;
    }
    return rc;
}

void kp_dirstage_sorted(kp_dirstage_t *self)
{
    if (self->writer)
        kp_directory_writer_sorted(self->writer);
}

size_t kp_dirstage_parts(const kp_dirstage_t *self)
{
    return self->parts;
}

int kp_dirstage_commit(kp_dirstage_t **self_p, uint64_t *seq, char *err, size_t errlen)
{
    kp_dirstage_t *self = *self_p;
    int rc = 0;
    if (!self->complete) {
        kp_directory_writer_mark(self->writer, S_COMPLETE);
        rc = kp_directory_writer_commit(&self->writer, seq, err, errlen);
    } else
        *seq = kp_directory_seq(self->copy, NULL);
    kp_directory_destroy(&self->copy); //  commits are synced: the copy is durable
    char from[PATH_MAX + 32], to[PATH_MAX + 32];
    s_path(from, sizeof from, self->stage, "data.mdb");
    s_path(to, sizeof to, self->folder, "data.mdb");
    if (rc == 0 && mkdir(self->folder, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", self->folder, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(from, to)) {
        snprintf(err, errlen, "cannot put %s in place of %s: %s", from, to, strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        s_fsync_path(self->folder, O_RDONLY | O_DIRECTORY);
        s_remove_stage(self->stage);
    }
    free(self);
    *self_p = NULL;
    return rc;
}

void kp_dirstage_abandon(kp_dirstage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_dirstage_t *self = *self_p;
    kp_directory_writer_destroy(&self->writer);
    kp_directory_destroy(&self->copy);
    s_remove_stage(self->stage);
    free(self);
    *self_p = NULL;
}

void kp_dirstage_destroy(kp_dirstage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_directory_writer_destroy(&(*self_p)->writer);
    kp_directory_destroy(&(*self_p)->copy);
    free(*self_p);
    *self_p = NULL;
}
