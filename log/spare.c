/*  spare.c - the spare segment's actor; see spare.h. */
#include "spare.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privlog_impl.h"

#define S_NICE 10 //  as a snapshot's copy: it must finish, but after the log

//  Written once by kp_spare_new, then only read by the actor.
struct _kp_spare_t {
    zactor_t *actor;
    char dir[PRIVLOG_PATH];
    uint64_t size;
    int64_t test_free;       //  test builds: the free bytes to believe; -1: ask the disk
    kp_spare_stats_t *stats; //  the caller's, or own_stats
    kp_spare_stats_t own_stats;
};

#define S_MADE 0
#define S_FAILED -1 //  errno says why
#define S_TERM 1    //  kp_spare_destroy came meanwhile

static uint64_t s_free(const kp_spare_t *self)
{
    if (self->test_free >= 0)
        return (uint64_t)self->test_free;
    struct statvfs st;
    return statvfs(self->dir, &st) ? 0 : (uint64_t)st.f_bavail * st.f_frsize;
}

//  True if path is a regular file of the segment's size: a spare the
//  writer can take. One of another size was made for another
//  log-segment-mib and is of no use.
static bool s_fits(const kp_spare_t *self, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == self->size;
}

//  The actor's state: what it was told.
typedef struct {
    const kp_spare_t *spare;
    zsock_t *pipe;
    bool term;      //  $TERM, or the pipe broke
    bool want;      //  a spare was asked for
    bool sync_owed; //  kp_spare_sync waits for a signal
    bool said;      //  the lack of room was told
    uint64_t heard; //  WANTs received
} s_actor_t;

//  The state goes from `from` to `to` unless someone changed it meanwhile
//  (the writer took or removed the spare).
static void s_state_swap(kp_spare_stats_t *stats, kp_spare_state_t from, kp_spare_state_t to)
{
    int expected = (int)from;
    atomic_compare_exchange_strong(&stats->state, &expected, (int)to);
}

static void s_command(s_actor_t *a)
{
    char *command = zstr_recv(a->pipe);
    if (!command) { //  a signal goes to the node; the end of the context ends us
        a->term = zmq_errno() != EINTR;
        return;
    }
    a->term = streq(command, "$TERM");
    if (streq(command, "WANT")) {
        a->want = true;
        a->heard++;
    }
    a->sync_owed |= streq(command, "SYNC");
    zstr_free(&command);
}

//  Rests up to ms, taking commands; true if the actor must end.
static bool s_rest(s_actor_t *a, int ms)
{
    zmq_pollitem_t item = {zsock_resolve(a->pipe), 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&item, 1, ms);
    if (rc < 0)
        a->term = zmq_errno() == ETERM;
    else if (rc > 0)
        s_command(a);
    return a->term;
}

//  Writes one step of zeros at off and waits for its write-back.
//  Microseconds the write-back took, or -1 (errno). The pages stay in the
//  page cache: the log's appends write parts of pages, and a page that is
//  not cached is read from the disk first. Dropped, they made each group
//  wait for a read (logbench, 3M records at window 32: about 15% fewer
//  records a second than without a spare, in 7 alternated rounds).
static int64_t s_step(int fd, uint64_t off, uint64_t n)
{
    for (uint64_t k = 0; k < n; k += sizeof privlog_zeros) {
        size_t m = n - k < sizeof privlog_zeros ? (size_t)(n - k) : sizeof privlog_zeros;
        if (privlog_pwrite_all(fd, privlog_zeros, m, off + k))
            return -1;
    }
    int64_t start = zclock_usecs();
    if (sync_file_range(fd, (off_t)off, (off_t)n,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER))
        return -1;
    return zclock_usecs() - start;
}

//  The partial file, its blocks, zeros in paced steps, fdatasync, the
//  ready name, the folder synced. S_MADE, S_FAILED or S_TERM; on failure
//  nothing is left behind.
static int s_make(s_actor_t *a)
{
    const kp_spare_t *self = a->spare;
    char part[PRIVLOG_PATH], ready[PRIVLOG_PATH];
    privlog_path(part, self->dir, KP_SPARE_PARTIAL);
    privlog_path(ready, self->dir, KP_SPARE_READY);
    unlink(part);
    atomic_store(&self->stats->state, KP_SPARE_STATE_MAKING);
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return S_FAILED;
    int rc = S_FAILED;
    //  The blocks at once: the space is taken now, or the spare is not made.
    if (fallocate(fd, 0, 0, (off_t)self->size) && errno != EOPNOTSUPP)
        goto done;
    for (uint64_t off = 0; off < self->size;) {
        uint64_t n = self->size - off < KP_SPARE_STEP ? self->size - off : KP_SPARE_STEP;
        int64_t took = s_step(fd, off, n);
        if (took < 0)
            goto done;
        off += n;
        struct stat st;
        if (fstat(fd, &st) || st.st_nlink == 0) { //  the log wanted the space
            s_state_swap(self->stats, KP_SPARE_STATE_MAKING, KP_SPARE_STATE_REMOVED);
            errno = ENOSPC;
            goto done;
        }
        int64_t rest_ms = (took * KP_SPARE_REST + 999) / 1000;
        if (s_rest(a, rest_ms < KP_SPARE_MAX_REST_MS ? (int)rest_ms : KP_SPARE_MAX_REST_MS)) {
            rc = S_TERM;
            goto done;
        }
    }
    if (fdatasync(fd))
        goto done;
    //  READY before the name, so that a writer that finds the spare finds
    //  READY too (and leaves NONE when it takes it).
    s_state_swap(self->stats, KP_SPARE_STATE_MAKING, KP_SPARE_STATE_READY);
    if (renameat2(AT_FDCWD, part, AT_FDCWD, ready, RENAME_NOREPLACE)) {
        s_state_swap(self->stats, KP_SPARE_STATE_READY, KP_SPARE_STATE_MAKING); //  failed below
        goto done;
    }
    close(fd);
    atomic_fetch_add(&self->stats->written, 1);
    privlog_fsync_dir(self->dir); //  if it fails the spare may be lost in a crash: no harm
    return S_MADE;
done:;
    int e = errno;
    close(fd);
    unlink(part);
    errno = e;
    return rc;
}

//  A spare was asked for: unless one is ready, make one if the disk has
//  room.
static void s_want(s_actor_t *a)
{
    const kp_spare_t *self = a->spare;
    a->want = false;
    uint64_t heard = a->heard; //  what this turn answers
    char ready[PRIVLOG_PATH];
    privlog_path(ready, self->dir, KP_SPARE_READY);
    if (s_fits(self, ready)) {
        atomic_store(&self->stats->answered, heard);
        return;
    }
    unlink(ready); //  if any: made for another segment size
    uint64_t free = s_free(self), need = 3 * self->size + KP_SPARE_MARGIN;
    if (free < need) {
        atomic_store(&self->stats->room_free, free);
        atomic_store(&self->stats->room_needed, need);
        atomic_store(&self->stats->state, KP_SPARE_STATE_NO_ROOM);
        atomic_store(&self->stats->answered, heard);
        if (!a->said)
            zsys_warning("privacy log %s: no spare segment: the disk has %llu MB free, under "
                         "three segments and %llu MB (the log makes its segments itself)",
                         self->dir, (unsigned long long)(free >> 20),
                         (unsigned long long)(KP_SPARE_MARGIN >> 20));
        a->said = true;
        return;
    }
    a->said = false;
    if (s_make(a) == S_FAILED) {
        s_state_swap(self->stats, KP_SPARE_STATE_MAKING, KP_SPARE_STATE_FAILED);
        zsys_warning("privacy log %s: cannot write a spare segment: %s (the log makes its "
                     "segments itself)",
                     self->dir, strerror(errno));
    }
    atomic_store(&self->stats->answered, heard);
}

static void s_actor(zsock_t *pipe, void *arg)
{
    s_actor_t a = {.spare = arg, .pipe = pipe};
    prctl(PR_SET_NAME, "kp-spare");
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), S_NICE);
    zsock_signal(pipe, 0);
    while (!a.term) {
        s_command(&a);
        while (a.want && !a.term)
            s_want(&a);
        if (a.sync_owed && !a.term)
            zsock_signal(pipe, 0);
        a.sync_owed = false;
    }
}

//  What a start finds: a partial spare left by a crash is removed; a
//  ready one of the right size is READY. On the caller's thread, before
//  the logger's can take it.
static void s_start_state(kp_spare_t *self)
{
    char path[PRIVLOG_PATH];
    privlog_path(path, self->dir, KP_SPARE_PARTIAL);
    unlink(path);
    privlog_path(path, self->dir, KP_SPARE_READY);
    atomic_store(&self->stats->state,
                 s_fits(self, path) ? KP_SPARE_STATE_READY : KP_SPARE_STATE_NONE);
}

kp_spare_t *kp_spare_new(const char *dir, uint64_t size, kp_spare_stats_t *stats)
{
    kp_spare_t *self = calloc(1, sizeof *self);
    if (!self || !size || strlen(dir) > PRIVLOG_PATH - 64) {
        free(self);
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->size = size;
    self->test_free = -1;
    self->stats = stats ? stats : &self->own_stats;
    s_start_state(self);
#ifdef KP_TEST_HOOKS
    const char *test_free = getenv("KP_TEST_SPARE_FREE");
    if (test_free)
        self->test_free = strtoll(test_free, NULL, 10);
    if (getenv("KP_TEST_SPARE_OFF")) {
        free(self);
        return NULL;
    }
#endif
    self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void kp_spare_destroy(kp_spare_t **self_p)
{
    if (!*self_p)
        return;
    zactor_destroy(&(*self_p)->actor);
    free(*self_p);
    *self_p = NULL;
}

void kp_spare_want(kp_spare_t *self)
{
    if (self)
        zmq_send(zsock_resolve(self->actor), "WANT", 4, ZMQ_DONTWAIT);
}

void kp_spare_sync(kp_spare_t *self)
{
    if (self && zstr_send(self->actor, "SYNC") == 0)
        zsock_wait(self->actor);
}

bool kp_spare_remove(const char *dir, kp_spare_stats_t *stats)
{
    char path[PRIVLOG_PATH];
    privlog_path(path, dir, KP_SPARE_PARTIAL);
    bool removed = unlink(path) == 0; //  its writer sees it gone after its step, and stops
    privlog_path(path, dir, KP_SPARE_READY);
    removed |= unlink(path) == 0;
    if (removed && stats) {
        atomic_fetch_add(&stats->removed, 1);
        atomic_store(&stats->state, KP_SPARE_STATE_REMOVED);
    }
    return removed;
}

void kp_spare_count_segment(kp_spare_stats_t *stats, bool taken)
{
    if (!stats)
        return;
    if (taken) {
        atomic_fetch_add(&stats->taken, 1);
        s_state_swap(stats, KP_SPARE_STATE_READY, KP_SPARE_STATE_NONE);
    } else
        atomic_fetch_add(&stats->made, 1);
}

void kp_spare_counts(const kp_spare_stats_t *stats, kp_spare_counts_t *out)
{
    memset(out, 0, sizeof *out);
    out->state = KP_SPARE_STATE_OFF;
    if (!stats)
        return;
    //  A cast: C11's atomic_load takes no pointer to const.
    kp_spare_stats_t *s = (kp_spare_stats_t *)stats;
    out->state = (kp_spare_state_t)atomic_load(&s->state);
    out->room_free = atomic_load(&s->room_free);
    out->room_needed = atomic_load(&s->room_needed);
    out->asked = atomic_load(&s->asked);
    out->answered = atomic_load(&s->answered);
    out->written = atomic_load(&s->written);
    out->taken = atomic_load(&s->taken);
    out->made = atomic_load(&s->made);
    out->removed = atomic_load(&s->removed);
}

//  Each state's name and, but for NO_ROOM (which gives the numbers), why.
static const struct {
    const char *name, *why;
} s_states[] = {
    {"none", "not asked for yet: one is asked for when the segment being written is half full"},
    {"making", "being written, for the next segment"},
    {"ready", "ready: the next segment is made from it"},
    {"no-room", NULL},
    {"removed", "removed: the log found its disk full and took the space back"},
    {"failed", "could not be written (the node's log says why); the log makes its segments itself"},
    {"off", "no spare writer (it could not start); the log makes its segments itself"},
};

#define S_STATES (sizeof s_states / sizeof s_states[0])

const char *kp_spare_state_name(kp_spare_state_t state)
{
    return (size_t)state < S_STATES ? s_states[state].name : "unknown";
}

void kp_spare_state_why(const kp_spare_counts_t *counts, char *text, size_t size)
{
    if (counts->state == KP_SPARE_STATE_NO_ROOM)
        snprintf(text, size,
                 "not made: the disk has %llu MiB free, under the %llu MiB the spare needs (three "
                 "segments and %llu MiB); the log makes its segments itself",
                 (unsigned long long)(counts->room_free >> 20),
                 (unsigned long long)(counts->room_needed >> 20),
                 (unsigned long long)(KP_SPARE_MARGIN >> 20));
    else
        snprintf(text, size, "%s",
                 (size_t)counts->state < S_STATES ? s_states[counts->state].why : "unknown");
}
