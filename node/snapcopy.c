/*  snapcopy.c - a raft snapshot's copy of the directory, written to its
    file in paced steps; see snapcopy.h. */
#include "snapcopy.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kperr.h"

//  The copy's side: LMDB's compacting copy into the pipe's write end.
typedef struct {
    kp_directory_t *directory;
    int fd;
    int rc;
    char err[256];
} s_copier_t;

static void s_copier(zsock_t *pipe, void *arg)
{
    s_copier_t *self = (s_copier_t *)arg;
    //  LMDB's own writer thread, started by the copy, inherits this.
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), KP_SNAPCOPY_NICE);
    zsock_signal(pipe, 0);
    self->rc = kp_directory_copy(self->directory, self->fd, self->err, sizeof self->err);
    close(self->fd); //  the reader's end of file
    zsock_signal(pipe, 0);
    char *command = zstr_recv(pipe); //  $TERM
    zstr_free(&command);
}

//  The file's side: one step at a time.
typedef struct {
    int fd;
    EVP_MD_CTX *sha;
    kp_snapcopy_result_t *out;
} s_writer_t;

static void s_rest(int64_t us)
{
    struct timespec rest = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&rest, &rest) && errno == EINTR)
        ;
}

//  Hashes and writes len bytes, waits for their write-back, drops them
//  from the page cache, then rests. 0, or -1 with errno.
static int s_step(s_writer_t *self, const uint8_t *data, size_t len)
{
    EVP_DigestUpdate(self->sha, data, len);
    off_t at = (off_t)self->out->size;
    for (size_t done = 0; done < len;) {
        ssize_t put = write(self->fd, data + done, len - done);
        if (put < 0 && errno != EINTR)
            return -1;
        done += put > 0 ? (size_t)put : 0;
    }
    int64_t start = zclock_usecs();
    if (sync_file_range(self->fd, at, (off_t)len,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER))
        return -1;
    int64_t took = zclock_usecs() - start;
    //  Written back: the pages are clean, and of no use to anyone here.
    posix_fadvise(self->fd, at, (off_t)len, POSIX_FADV_DONTNEED);
    self->out->size += len;
    self->out->steps++;
    self->out->sync_us += (uint64_t)took;
    int64_t rest = took * KP_SNAPCOPY_REST;
    if (rest > KP_SNAPCOPY_MAX_REST_MS * 1000)
        rest = KP_SNAPCOPY_MAX_REST_MS * 1000;
    s_rest(rest);
    self->out->rest_us += (uint64_t)rest;
    return 0;
}

//  Reads the pipe to its end, writing it to the file in steps. After a
//  failure it goes on reading (and drops what it reads), so that the copy
//  never waits on a full pipe. 0, or -1 with err.
static int s_pump(s_writer_t *self, int from, char *err, size_t errlen)
{
    uint8_t *buf = malloc(KP_SNAPCOPY_STEP);
    if (!buf)
        return kp_err(err, errlen, "cannot write the snapshot: out of memory");
    int rc = 0;
    size_t fill = 0;
    while (true) {
        ssize_t got = read(from, buf + fill, KP_SNAPCOPY_STEP - fill);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = kp_err(err, errlen, "cannot read the directory's copy: %s", strerror(errno));
            break; //  the caller closes the pipe: the copy fails, and ends
        }
        fill = rc ? 0 : fill + (size_t)got;
        if (rc == 0 && (fill == KP_SNAPCOPY_STEP || (got == 0 && fill > 0))) {
            if (s_step(self, buf, fill))
                rc = kp_err(err, errlen, "cannot write the snapshot: %s", strerror(errno));
            fill = 0;
        }
        if (got == 0)
            break;
    }
    free(buf);
    return rc;
}

int kp_snapcopy_write(kp_directory_t *directory, int fd, kp_snapcopy_result_t *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    int64_t start = zclock_usecs();
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC))
        return kp_err(err, errlen, "cannot copy the directory: pipe: %s", strerror(errno));
    //  A pipe of one step (best effort: 64 KiB otherwise, only slower).
    fcntl(pipefd[1], F_SETPIPE_SZ, (int)KP_SNAPCOPY_STEP);
    s_copier_t copier = {directory, pipefd[1], 0, ""};
    zactor_t *actor = zactor_new(s_copier, &copier);
    if (!actor) {
        close(pipefd[0]);
        close(pipefd[1]);
        return kp_err(err, errlen, "cannot copy the directory: no thread for it");
    }
    s_writer_t writer = {fd, EVP_MD_CTX_new(), out};
    int rc = writer.sha && EVP_DigestInit_ex(writer.sha, EVP_sha256(), NULL) == 1
                 ? s_pump(&writer, pipefd[0], err, errlen)
                 : kp_err(err, errlen, "cannot hash the snapshot: out of memory");
    //  Closed before the wait: a copy still writing fails (EPIPE; LMDB
    //  blocks SIGPIPE in its writer) instead of waiting for a reader.
    close(pipefd[0]);
    zsock_wait(actor);
    if (copier.rc && rc == 0)
        rc = kp_err(err, errlen, "%s", copier.err);
    zactor_destroy(&actor);
    unsigned len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(writer.sha, out->sha256, &len) != 1 || len != 32))
        rc = kp_err(err, errlen, "cannot hash the snapshot");
    EVP_MD_CTX_free(writer.sha);
    out->elapsed_us = (uint64_t)(zclock_usecs() - start);
    return rc;
}
