/*  logger.c - the privacy-log actor. */
#include <czmq.h>
#include <limits.h>
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kperr.h"
#include "logger.h"
#include "logindex.h"
#include "recpack.h"
#include "spare.h"

#define S_NOTICE_DURABLE 'D'
#define S_NOTICE_ERROR 'E'
#define S_NOTICE_UNAVAILABLE 'U' //  a write failed for want of space; retrying
#define S_RETRY_MS 100           //  how often an unavailable log tries again
#define S_MAX_GROUP 65536        //  records per group commit, to bound latency
#define S_INDEX_WAKE_MS 50       //  how often the indexer looks for synced records
#define S_INDEX_SYNC_MS 10000
//  The indexer catches up at most this often, or sooner when it lags
//  S_INDEX_LAG records. Each catch-up is one LMDB commit, which rewrites
//  (copy on write) every page its records touch and syncs them: the same
//  pages of the busy keys and buckets again at every commit. Once a
//  second instead of 20 times cut the indexer's CPU per record by about
//  two thirds, and its writes to the log's disk with it.
#define S_INDEX_EVERY_MS 1000
#define S_INDEX_LAG 100000
//  A record nobody waits for (kp_logger_log_later: a call's OUTCOME) is
//  synced with the next group someone waits for, or after this long: it
//  costs no fdatasync of its own under load. At one call in flight the
//  outcome's own sync came between every two calls and doubled the
//  log's CPU per call.
#define S_LATER_MS 10
//  A batch of records passed to the actor: repeated [size: u32 LE]
//  [flags: u8][body: size bytes]. The node hands over one per loop turn.
#define S_BATCH_HEADER 5
#define S_BATCH_WAITED 1    //  flags: a reply waits for this record
#define S_BATCH_MAX 262144  //  flushed at once when a turn logs more
#define S_BATCH_START 16384 //  a new batch's first allocation
//  Room kept free behind the batch before a record is encoded: a record
//  of the request path (about 150 bytes) fits in one walk.
#define S_BATCH_SLACK 1024

//  What the logger thread tells the indexer thread: how far the log is
//  synced. The indexer reads the records back from the segments (page
//  cache), so a slow index costs no memory and never delays a reply.
typedef struct {
    char dir[PATH_MAX];
    uint64_t map_size;
    _Atomic uint64_t durable;
    _Atomic uint64_t indexed; //  the durable seq the index has caught up with
} s_follow_t;

struct _kp_logger_t {
    zactor_t *actor;
    //  How far the log is durable, stored by the logger thread before it
    //  sends the notice, so that the node's loop learns it without
    //  waiting for its next poll: the loop is often in the middle of a
    //  turn when a notice comes (about 75 us of a group's 230 us at 32
    //  calls in flight, measured), and a reply held that long holds its
    //  client's next call too. The notices still come: they wake a loop
    //  that sleeps, and carry the commit times.
    _Atomic uint64_t shared_durable;
    //  The spare segment's state and counters (spare.h), published the
    //  same way by the spare's actor and the writer on the logger thread.
    kp_spare_stats_t spare_stats;
    zactor_t *indexer; //  NULL when the log keeps no index
    s_follow_t *follow;
    zsock_t *sock;  //  our end of the record socket
    uint8_t *batch; //  records not yet handed to the actor (kp_logger_flush)
    size_t batch_len, batch_cap;
    size_t batch_last;  //  where the batch's last record starts
    bool batch_waited;  //  a reply waits for one of its records
    int64_t held_since; //  when its first record came (mono ms), if none is waited for
    uint64_t next_seq;
    uint64_t durable;
    kp_buckets_t commit_us, commit_records; //  from the durable notices
    bool failed;
    bool unavailable; //  told by the actor: records wait for disk space
    char error[256];
};

typedef struct {
    kp_privlog_t *log;
    _Atomic uint64_t *durable; //  kp_logger_t's shared_durable
    zsock_t *sock;             //  the actor's end
    uint32_t tick_ms;
    s_follow_t *follow;            //  NULL: no indexer
    kp_spare_t *spare;             //  NULL: none; the logger thread's from its start
    kp_spare_stats_t *spare_stats; //  kp_logger_t's, where spares asked for are counted
    uint64_t spare_at; //  segment bytes past which the next segment's spare is asked for
    bool spare_asked;  //  for this segment
} s_args_t;

static void s_notice(zsock_t *sock, char tag, const void *data, size_t size)
{
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, 1 + size);
    uint8_t *p = zmq_msg_data(&msg);
    p[0] = (uint8_t)tag;
    memcpy(p + 1, data, size);
    if (zmq_msg_send(&msg, zsock_resolve(sock), ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&msg);
}

//  What s_drain found: records appended, and how many a reply waits for.
typedef struct {
    int records;
    int waited;
} s_drained_t;

//  Appends the records of one batch. -1 if the log refused one (or the
//  batch is malformed: a bug on the node's side).
static int s_append_batch(kp_privlog_t *log, const uint8_t *p, size_t size, s_drained_t *drained)
{
    while (size >= S_BATCH_HEADER) {
        uint32_t len =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint8_t flags = p[4];
        if (len > size - S_BATCH_HEADER || !kp_privlog_append_packed(log, p + S_BATCH_HEADER, len))
            return -1;
        drained->records++;
        drained->waited += (flags & S_BATCH_WAITED) != 0;
        p += S_BATCH_HEADER + len;
        size -= S_BATCH_HEADER + len;
    }
    return size ? -1 : 0;
}

//  Appends the batch that woke the actor (first: NULL if none) and every
//  batch waiting behind it on the socket, up to a group's worth of
//  records; an empty message is kp_logger_destroy's stop (*stop set, and
//  nothing after it is taken). 0, or -1 if the log refused one.
static int s_drain(kp_privlog_t *log, zsock_t *sock, zmq_msg_t *first, s_drained_t *drained,
                   bool *stop)
{
    void *handle = zsock_resolve(sock);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (first)
        zmq_msg_move(&msg, first);
    int rc = 0;
    while (rc == 0 && !*stop && drained->records < S_MAX_GROUP &&
           (first || zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) >= 0)) {
        first = NULL;
        if (zmq_msg_size(&msg) == 0)
            *stop = true;
        else
            rc = s_append_batch(log, zmq_msg_data(&msg), zmq_msg_size(&msg), drained);
    }
    zmq_msg_close(&msg);
    return rc;
}

//  A durable notice's body, in host order (it never leaves the process):
//  how far the log is durable, how long the group took, how many records
//  it held.
typedef struct {
    uint64_t seq;
    uint64_t commit_us;
    uint64_t records;
} s_durable_t;

//  Asks for the next segment's spare once this one is half full: once
//  per segment, and never for a log that writes little.
static void s_spare_due(s_args_t *args)
{
    bool half = kp_privlog_segment_bytes(args->log) >= args->spare_at;
    if (half && !args->spare_asked && args->spare) {
        atomic_fetch_add(&args->spare_stats->asked, 1);
        kp_spare_want(args->spare);
    }
    args->spare_asked = half;
}

#define S_GROUP_FAILED -1      //  the log refuses all further work
#define S_GROUP_UNAVAILABLE -2 //  no space to write: records wait, retry later

//  Sync what was appended, tell the node, let the indexer follow: the
//  reply waits only for the sync. retry: sync what waits from a failed
//  group. start_us: when the group's first record was taken. The number
//  of records now durable, or S_GROUP_*.
static int s_commit(s_args_t *args, bool retry, int64_t start_us)
{
    kp_privlog_t *log = args->log;
    zsock_t *sock = args->sock;
    uint64_t before = kp_privlog_durable_seq(log);
    if (kp_privlog_sync(log)) {
        int n = kp_privlog_failed(log) ? S_GROUP_FAILED : S_GROUP_UNAVAILABLE;
        const char *e = kp_privlog_error(log);
        if (n == S_GROUP_FAILED)
            s_notice(sock, S_NOTICE_ERROR, e, strlen(e));
        else if (!retry) //  tell the node once, not at every retry
            s_notice(sock, S_NOTICE_UNAVAILABLE, e, strlen(e));
        return n;
    }
    uint64_t durable = kp_privlog_durable_seq(log);
    if (durable > before) {
        s_durable_t notice = {durable, (uint64_t)(zclock_usecs() - start_us), durable - before};
        atomic_store(args->durable, durable);
        s_notice(sock, S_NOTICE_DURABLE, &notice, sizeof notice);
        kp_privlog_index_flush(log); //  the writer keeps no index: frees the buffer
        if (args->follow)
            atomic_store(&args->follow->durable, durable);
        //  The notice is out: now is the time for the zeros ahead, which
        //  inside the next group's sync would make its replies wait.
        kp_privlog_zero_ahead(log);
        s_spare_due(args);
    }
    return (int)(durable - before);
}

//  The actor's state between turns: records appended but not synced.
typedef struct {
    int waited;          //  of them, records a reply waits for
    int64_t later_since; //  when the first unsynced one came (ms), or 0
    int64_t start_us;    //  the group's start, for the commit time
} s_pending_t;

//  Takes first (if not NULL) and what waits on the socket; commits when a
//  reply waits for a record, when records nobody waits for have waited
//  S_LATER_MS, or when retrying or ending (force). The number of records made durable, or
//  S_GROUP_*.
static int s_group(s_args_t *args, s_pending_t *pending, bool force, bool retry, zmq_msg_t *first,
                   bool *stop)
{
    kp_privlog_t *log = args->log;
    zsock_t *sock = args->sock;
    s_drained_t drained = {0, 0};
    int64_t now_us = zclock_usecs();
    if (s_drain(log, sock, first, &drained, stop)) {
        const char *e = kp_privlog_error(log);
        s_notice(sock, S_NOTICE_ERROR, e, strlen(e));
        return S_GROUP_FAILED;
    }
    if (drained.records && !pending->later_since) {
        pending->later_since = zclock_mono();
        pending->start_us = now_us;
    }
    pending->waited += drained.waited;
    bool due = pending->waited > 0 ||
               (pending->later_since && zclock_mono() - pending->later_since >= S_LATER_MS);
    if (!due && !force && !retry)
        return 0;
    int n = s_commit(args, retry, pending->start_us ? pending->start_us : now_us);
    if (n >= 0)
        *pending = (s_pending_t){0, 0, 0};
    return n;
}

//  How long the actor may sleep: until records nobody waits for are due.
static int s_wait_ms(const s_pending_t *pending, bool unavailable, uint32_t tick_ms)
{
    if (unavailable)
        return S_RETRY_MS;
    if (!pending->later_since)
        return (int)tick_ms;
    int64_t left = pending->later_since + S_LATER_MS - zclock_mono();
    return left > 0 ? (int)left : 0;
}

//  Waits up to timeout_ms for the next batch on sock: true and the batch
//  in msg, or false (timed out, interrupted, or ETERM: the context ends).
//  One blocking receive on the one socket, not zmq_poll over the pipe
//  and the socket: such a poll asks each socket for its events before and
//  after it sleeps, and cost the thread about nine system calls per
//  group commit instead of two.
static bool s_wait(zsock_t *sock, int timeout_ms, zmq_msg_t *msg)
{
    void *handle = zsock_resolve(sock);
    zmq_setsockopt(handle, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    return zmq_msg_recv(msg, handle, 0) >= 0;
}

//  The logger thread: group commits of whatever records wait, retries
//  while the disk is full, timed checkpoints. It ends on the empty
//  message kp_logger_destroy sends after the last records (with a last
//  commit), or when the context ends; the actor's pipe is not watched
//  (see s_wait), and zactor_destroy's $TERM finds us gone or ending.
static void s_actor(zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    prctl(PR_SET_NAME, "kp-logger"); //  for top -H and perf: not "kpnode"
    kp_privlog_t *log = args->log;
    zsock_t *sock = args->sock;
    zsock_signal(pipe, 0);
    bool failed = false, unavailable = false, stop = false;
    s_pending_t pending = {0, 0, 0};
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (!stop) {
        bool ready = s_wait(sock, s_wait_ms(&pending, unavailable, args->tick_ms), &msg);
        if (!ready && zmq_errno() == ETERM)
            break;
        //  SIGINT/SIGTERM are the node's to handle: while it stops, it
        //  still logs (and waits for) the answers it gives (EINTR: go on).
        if (!failed && (ready || unavailable || pending.later_since)) {
            int rc = s_group(args, &pending, false, unavailable, ready ? &msg : NULL, &stop);
            failed = rc == S_GROUP_FAILED;
            unavailable = rc == S_GROUP_UNAVAILABLE;
        } else if (ready) //  failed: nothing more is written; only the stop matters
            stop = zmq_msg_size(&msg) == 0;
        //  Timed checkpoints only when nothing waits for a sync (a tick
        //  would sync it without telling the node).
        if (!failed && !unavailable && !pending.later_since && kp_privlog_tick(log)) {
            const char *e = kp_privlog_error(log);
            s_notice(sock, S_NOTICE_ERROR, e, strlen(e));
            failed = true;
        }
    }
    zmq_msg_close(&msg);
    //  Everything sent before the stop is taken already; commit it.
    while (!failed && !unavailable) {
        bool ignored = false;
        int n = s_group(args, &pending, true, false, NULL, &ignored);
        if (n <= 0)
            break;
    }
    kp_spare_destroy(&args->spare);
    kp_privlog_destroy(&args->log);
    if (args->follow) //  everything is synced now, the final checkpoint too
        atomic_store(&args->follow->durable, UINT64_MAX);
    zsock_destroy(&args->sock);
    free(args);
}

//  The first catch-up after an open may be long (a rebuild after a crash
//  or an upgrade): it says how far it is, every few seconds.
typedef struct {
    int64_t start_ms, said_ms;
} s_said_t;

static void s_index_progress(uint64_t records, uint64_t done, uint64_t total, void *arg)
{
    s_said_t *said = arg;
    int64_t now = zclock_mono();
    if (now - said->said_ms < 5000)
        return;
    said->said_ms = now;
    double secs = (double)(now - said->start_ms) / 1000.0;
    zsys_info("privacy log: indexing: %" PRIu64 " records in %.0f s (%.0f/s), %.0f%% of the "
              "segments",
              records, secs, secs > 0 ? (double)records / secs : 0,
              total ? 100.0 * (double)done / (double)total : 100.0);
}

//  The indexer: follows the synced log into the LMDB index, in batches.
static void s_indexer(zsock_t *pipe, void *arg)
{
    s_follow_t *follow = arg;
    prctl(PR_SET_NAME, "kp-indexer");
    //  The index is a view that can be rebuilt from the segments; answers
    //  wait for the log, never for it. It runs only when a core is idle
    //  (under nice alone its long batches still cost the request path a
    //  p99 of milliseconds), and catches up when the load drops; queries
    //  and restarts catch it up anyway.
    struct sched_param idle = {0};
    if (sched_setscheduler((pid_t)syscall(SYS_gettid), SCHED_IDLE, &idle) != 0)
        zsys_debug("privacy log: the indexer keeps its priority (%s)", strerror(errno));
    char path[PATH_MAX + 8], error[256];
    snprintf(path, sizeof path, "%s/index", follow->dir);
    kp_logindex_t *index = kp_logindex_open(path, false, follow->map_size, error, sizeof error);
    if (!index)
        zsys_error("privacy log: %s (the index lags; it catches up on the next open)", error);
    zsock_signal(pipe, 0);
    bool term = false, complained = false;
    uint64_t done = 0; //  durable seq the index has caught up with
    int64_t synced_at = zclock_mono(), ran_at = 0;
    while (!term) {
        zmq_pollitem_t item = {zsock_resolve(pipe), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, S_INDEX_WAKE_MS) == 1) {
            char *command = zstr_recv(pipe);
            term = !command || streq(command, "$TERM");
            zstr_free(&command);
        }
        uint64_t upto = atomic_load(&follow->durable);
        //  On $TERM the logger has stopped: index whatever it synced.
        //  Nothing new: no need to list the segments again.
        bool due = upto != done &&
                   (zclock_mono() - ran_at >= S_INDEX_EVERY_MS || upto - done >= S_INDEX_LAG);
        if (index && (due || term)) {
            ran_at = zclock_mono();
            s_said_t said = {zclock_mono(), zclock_mono()};
            kp_privlog_index_job_t job = {
                .upto_seq = upto, .progress = s_index_progress, .arg = &said};
            int64_t added = kp_privlog_index_run(follow->dir, index, &job, error, sizeof error);
            if (job.rebuilt)
                zsys_warning("privacy log: %s; the index was rebuilt from the segments", job.why);
            if (added >= 0) {
                if (zclock_mono() - said.start_ms >= 5000)
                    zsys_info("privacy log: indexed %" PRId64 " records in %.0f s", added,
                              (double)(zclock_mono() - said.start_ms) / 1000.0);
                done = upto;
                atomic_store(&follow->indexed, done);
            } else if (!complained) {
                zsys_error("privacy log: %s (the index lags; retrying)", error);
                complained = true;
            }
        }
        if (index && zclock_mono() - synced_at >= S_INDEX_SYNC_MS) {
            kp_logindex_sync(index);
            synced_at = zclock_mono();
        }
    }
    kp_logindex_destroy(&index);
}

//  Opens the log on the caller's thread (errors come back here), starts
//  the logger actor and the indexer. NULL with err.
kp_logger_t *kp_logger_new(const char *dir, const kp_privlog_options_t *options,
                           kp_privlog_recovery_t *recovery, char *err, size_t errlen)
{
    kp_logger_t *self = calloc(1, sizeof *self);
    s_args_t *args = calloc(1, sizeof *args);
    if (!self || !args) {
        free(self);
        free(args);
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    //  The writer keeps no index of its own: the indexer thread follows
    //  it, so that the durable path never waits for LMDB.
    kp_privlog_options_t defaults, writer;
    kp_privlog_options_default(&defaults);
    writer = options ? *options : defaults;
    bool indexed = writer.index;
    writer.index = false;
    writer.spare_stats = &self->spare_stats;
    args->log = kp_privlog_open(dir, &writer, recovery, err, errlen);
    if (args->log) {
        uint32_t align = kp_privlog_direct_align(args->log);
        if (align)
            zsys_info("privacy log %s: appends with O_DIRECT | O_DSYNC in %u-byte blocks", dir,
                      align);
        else
            zsys_info("privacy log %s: appends buffered, pwrite + fdatasync (%s)", dir,
                      writer.direct ? "the filesystem takes no direct I/O" : "the default");
    }
    if (args->log && indexed) {
        //  The indexer catches up with what is on disk in the background:
        //  a restarted node serves at once (the index holds only durable
        //  records, so a repaired tail never leaves it ahead of the log),
        //  and queries catch the index up before they read.
        self->follow = calloc(1, sizeof *self->follow);
        if (self->follow && strlen(dir) < sizeof self->follow->dir) {
            snprintf(self->follow->dir, sizeof self->follow->dir, "%s", dir);
            self->follow->map_size = writer.index_map_size;
            atomic_init(&self->follow->durable, kp_privlog_durable_seq(args->log));
            atomic_init(&self->follow->indexed, 0);
            self->indexer = zactor_new(s_indexer, self->follow);
        }
        if (!self->indexer) {
            kp_err(err, errlen, "cannot start the log indexer");
            kp_privlog_destroy(&args->log);
            free(self->follow);
        }
        args->follow = self->follow;
    }
    if (!args->log) {
        free(self);
        free(args);
        return NULL;
    }
    uint32_t secs =
        options && options->checkpoint_secs ? options->checkpoint_secs : defaults.checkpoint_secs;
    args->tick_ms = secs * 1000 / 2 ? secs * 1000 / 2 : 500;
    self->next_seq = kp_privlog_last_seq(args->log) + 1;
    self->durable = kp_privlog_durable_seq(args->log);
    atomic_init(&self->shared_durable, self->durable);
    args->durable = &self->shared_durable;
    kp_buckets_init_latency(&self->commit_us);
    kp_buckets_init_sizes(&self->commit_records);
    //  The next segment is written ahead by an actor of its own
    //  (spare.h), which the logger thread alone uses from its start.
    uint64_t size = writer.segment_max ? writer.segment_max : defaults.segment_max;
    args->spare = kp_spare_new(dir, size, &self->spare_stats);
    args->spare_stats = &self->spare_stats;
    args->spare_at = size / 2;
    if (args->spare)
        zsys_info("privacy log %s: each next segment is written ahead as %s (removed first "
                  "when the disk is full)",
                  dir, KP_SPARE_READY);
    else {
        atomic_store(&self->spare_stats.state, KP_SPARE_STATE_OFF); //  nobody else writes it
        zsys_warning("privacy log %s: cannot start the spare segment's writer; segments are "
                     "made as they are needed",
                     dir);
    }
    //  No high-water mark on either end: kp_logger_log must never block.
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://kp-logger-%p", (void *)self);
    self->sock = zsock_new(ZMQ_PAIR);
    args->sock = zsock_new(ZMQ_PAIR);
    if (self->sock && args->sock) {
        zsock_set_sndhwm(self->sock, 0);
        zsock_set_rcvhwm(self->sock, 0);
        zsock_set_sndhwm(args->sock, 0);
        zsock_set_rcvhwm(args->sock, 0);
    }
    if (!self->sock || !args->sock || zsock_bind(self->sock, "%s", endpoint) ||
        zsock_connect(args->sock, "%s", endpoint) || !(self->actor = zactor_new(s_actor, args))) {
        kp_err(err, errlen, "cannot start the logger actor (ZeroMQ: %s)",
               zmq_strerror(zmq_errno()));
        zsock_destroy(&self->sock);
        zsock_destroy(&args->sock);
        kp_spare_destroy(&args->spare);
        kp_privlog_destroy(&args->log);
        zactor_destroy(&self->indexer);
        free(self->follow);
        free(args);
        free(self);
        return NULL;
    }
    return self;
}

static int s_flush(kp_logger_t *self, bool force);

void kp_logger_destroy(kp_logger_t **self_p)
{
    if (!*self_p)
        return;
    kp_logger_t *self = *self_p;
    s_flush(self, true);
    //  The stop, behind the last records: the actor commits them, writes
    //  the final checkpoint and ends (it does not watch its pipe).
    zmq_msg_t stop;
    zmq_msg_init(&stop);
    if (zmq_msg_send(&stop, zsock_resolve(self->sock), 0) < 0)
        zmq_msg_close(&stop);
    zactor_destroy(&self->actor);   //  waits for the end
    zactor_destroy(&self->indexer); //  then the index takes the rest
    free(self->follow);
    zsock_destroy(&self->sock);
    free(self->batch);
    free(self);
    *self_p = NULL;
}

//  Makes room for need bytes in the batch. False when memory is short.
static bool s_batch_room(kp_logger_t *self, size_t need)
{
    if (need <= self->batch_cap)
        return true;
    size_t cap = self->batch_cap ? self->batch_cap : S_BATCH_START;
    while (cap < need)
        cap *= 2;
    uint8_t *batch = realloc(self->batch, cap);
    if (!batch) {
        kp_err(self->error, sizeof self->error, "out of memory for a log record");
        return false;
    }
    self->batch = batch;
    self->batch_cap = cap;
    return true;
}

//  Appends record to the batch for the actor. Its seq, or 0. The record
//  is encoded straight into the batch in one walk (kp_recpack); only when
//  it does not fit in the room left is it encoded again, after the batch
//  has grown.
static uint64_t s_log(kp_logger_t *self, const Kp__LogRecord *record, uint8_t flags)
{
    if (self->failed)
        return 0;
    if (!s_batch_room(self, self->batch_len + S_BATCH_HEADER + S_BATCH_SLACK))
        return 0;
    size_t at = self->batch_len + S_BATCH_HEADER;
    size_t size = kp_recpack(record, self->batch + at, self->batch_cap - at);
    if (size > KP_PRIVLOG_MAX_BODY) {
        kp_err(self->error, sizeof self->error, "record of %zu bytes is over the limit of %u", size,
               KP_PRIVLOG_MAX_BODY);
        return 0;
    }
    if (size > self->batch_cap - at) {
        if (!s_batch_room(self, at + size))
            return 0;
        kp_recpack(record, self->batch + at, self->batch_cap - at);
    }
    uint8_t *p = self->batch + self->batch_len;
    self->batch_last = self->batch_len;
    if (flags & S_BATCH_WAITED)
        self->batch_waited = true;
    else if (!self->batch_len)
        self->held_since = zclock_mono();
    p[0] = (uint8_t)size;
    p[1] = (uint8_t)(size >> 8);
    p[2] = (uint8_t)(size >> 16);
    p[3] = (uint8_t)(size >> 24);
    p[4] = flags;
    self->batch_len = at + size;
    uint64_t seq = self->next_seq++;
    if (self->batch_len >= S_BATCH_MAX && s_flush(self, true))
        return 0;
    return seq;
}

uint64_t kp_logger_log(kp_logger_t *self, const Kp__LogRecord *record)
{
    return s_log(self, record, S_BATCH_WAITED);
}

uint64_t kp_logger_log_later(kp_logger_t *self, const Kp__LogRecord *record)
{
    return s_log(self, record, 0);
}

static void s_batch_free(void *data, void *hint)
{
    (void)hint;
    free(data);
}

//  Hands the batch to the actor. A batch of records nobody waits for
//  (OUTCOMEs) is held until a record somebody waits for joins it, or for
//  S_LATER_MS (unless force): each message wakes the actor's thread, and
//  a wake-up that only appends records is a context switch and a handful
//  of system calls on both threads for nothing. When the hold ends, its
//  last record is marked waited: the actor syncs it at once instead of
//  holding it for S_LATER_MS more.
static int s_flush(kp_logger_t *self, bool force)
{
    if (!self->batch_len)
        return self->failed ? -1 : 0;
    if (!self->batch_waited && !force) {
        if (zclock_mono() - self->held_since < S_LATER_MS)
            return self->failed ? -1 : 0;
        self->batch[self->batch_last + 4] |= S_BATCH_WAITED;
    }
    //  The buffer goes with the message (no copy); the next record
    //  allocates a new one.
    zmq_msg_t msg;
    uint8_t *batch = self->batch;
    size_t len = self->batch_len;
    self->batch = NULL;
    self->batch_len = self->batch_cap = 0;
    self->batch_waited = false;
    if (zmq_msg_init_data(&msg, batch, len, s_batch_free, NULL)) {
        free(batch);
    } else if (zmq_msg_send(&msg, zsock_resolve(self->sock), 0) >= 0)
        return 0;
    else
        zmq_msg_close(&msg); //  frees the batch
    kp_err(self->error, sizeof self->error, "cannot pass records to the logger: %s",
           zmq_strerror(zmq_errno()));
    self->failed = true;
    return -1;
}

int kp_logger_flush(kp_logger_t *self)
{
    return s_flush(self, false);
}

long kp_logger_flush_in_ms(const kp_logger_t *self)
{
    if (!self->batch_len)
        return -1;
    if (self->batch_waited)
        return 0;
    int64_t left = self->held_since + S_LATER_MS - zclock_mono();
    return left > 0 ? (long)left : 0;
}

bool kp_logger_unavailable(kp_logger_t *self)
{
    return self->unavailable;
}

zsock_t *kp_logger_sock(kp_logger_t *self)
{
    return self->sock;
}

int kp_logger_recv(kp_logger_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (zmq_msg_recv(&msg, zsock_resolve(self->sock), ZMQ_DONTWAIT) >= 0) {
        const uint8_t *p = zmq_msg_data(&msg);
        size_t size = zmq_msg_size(&msg);
        if (size == 1 + sizeof(s_durable_t) && p[0] == S_NOTICE_DURABLE) {
            s_durable_t notice;
            memcpy(&notice, p + 1, sizeof notice);
            uint64_t v = notice.seq;
            if (v > self->durable)
                self->durable = v;
            kp_buckets_record(&self->commit_us, notice.commit_us);
            kp_buckets_record(&self->commit_records, notice.records);
            self->unavailable = false; //  writing again
        } else if (size >= 1 && p[0] == S_NOTICE_UNAVAILABLE) {
            self->unavailable = true;
            kp_err(self->error, sizeof self->error, "%.*s", (int)(size - 1), (const char *)p + 1);
        } else if (size >= 1 && p[0] == S_NOTICE_ERROR) {
            self->failed = true;
            kp_err(self->error, sizeof self->error, "%.*s", (int)(size - 1), (const char *)p + 1);
        }
    }
    zmq_msg_close(&msg);
    return self->failed ? -1 : 0;
}

uint64_t kp_logger_durable(kp_logger_t *self)
{
    uint64_t durable = atomic_load(&self->shared_durable);
    if (durable > self->durable)
        self->durable = durable;
    return self->durable;
}

void kp_logger_commits(const kp_logger_t *self, kp_buckets_t *commit_us,
                       kp_buckets_t *commit_records)
{
    *commit_us = self->commit_us;
    *commit_records = self->commit_records;
}

void kp_logger_spare(kp_logger_t *self, kp_spare_counts_t *counts)
{
    kp_spare_counts(&self->spare_stats, counts);
}

uint64_t kp_logger_indexed(kp_logger_t *self)
{
    //  No indexer: nothing lags behind the log.
    return self->follow ? atomic_load(&self->follow->indexed) : self->durable;
}

uint64_t kp_logger_last(kp_logger_t *self)
{
    return self->next_seq - 1;
}

const char *kp_logger_error(kp_logger_t *self)
{
    return self->error;
}
