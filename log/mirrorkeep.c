/*  mirrorkeep.c - the keeper: copies of other nodes' logs (see mirror.h).

    Every message is checked before a byte of it is written: it must start
    where the copy ends, its frames must be whole with good CRCs, records
    must follow the last seq and continue its chain, checkpoints must
    repeat the (seq, hash) before them. A refused message changes nothing
    and is answered with a named error and where the copy ends. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kperr.h"
#include "mirror.h"
#include "privlog_impl.h"

#define S_GROUP 256 //  messages per fsync group at most

//  libzmq 4.3 knows the option whether or not its draft API was built:
//  with it, a handshake that no ZAP handler answers is refused instead of
//  let in with any key.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef struct {
    char name[64];
    char dir[PRIVLOG_PATH];
    bool loaded;
    int fd;
    char seg[64]; //  "" while the copy is empty
    uint64_t off; //  where the copy ends in seg
    uint64_t seq; //  last record
    uint8_t hash[KP_PRIVLOG_HASH_LEN];
    uint64_t anchor_seq; //  the copy's prune anchor (0: none): records up to it are gone
    bool dirty, dir_dirty;
    zframe_t *peer; //  routing id of the last message
    uint64_t epoch;
    char key[41]; //  the only CURVE key its messages may come with; "" plain text
} s_copy_t;

typedef struct {
    char dir[PRIVLOG_PATH];
    zsock_t *pipe;
    zsock_t *router;
    s_copy_t *copies;
    size_t count;
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
    bool secure;
    uint64_t refused, not_its_log;
} s_keeper_t;

struct _kp_mirror_keeper_t {
    zactor_t *actor;
    s_keeper_t *state;
};

//  Reads where the copy's last segment ends; cuts a torn tail off.
static int s_load_last(s_copy_t *copy, const char *name, char *err, size_t errlen)
{
    privlog_map_t map = {.fd = -1};
    if (privlog_segment_map(copy->dir, name, &map, err, errlen))
        return -1;
    if (!map.header_ok) {
        privlog_segment_unmap(&map);
        kp_err(err, errlen, "copy %s: segment %s has a damaged header", copy->dir, name);
        return -1;
    }
    copy->seq = map.first_seq - 1;
    memcpy(copy->hash, map.prev_hash, KP_PRIVLOG_HASH_LEN);
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    privlog_frame_t frame;
    while (privlog_frame_parse(map.data + off, map.size - off, &frame) == PRIVLOG_FRAME_OK) {
        if (frame.kind == KP_PRIVLOG_KIND_RECORD) {
            copy->seq = frame.seq;
            memcpy(copy->hash, frame.hash, KP_PRIVLOG_HASH_LEN);
        }
        off += KP_PRIVLOG_FRAME_HEADER + frame.len;
    }
    size_t size = map.size;
    privlog_segment_unmap(&map);
    char path[PRIVLOG_PATH];
    privlog_path(path, copy->dir, name);
    copy->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (copy->fd < 0 || (size > off && ftruncate(copy->fd, (off_t)off))) {
        kp_err(err, errlen, "copy %s: cannot open %s: %s", copy->dir, name, strerror(errno));
        return -1;
    }
    snprintf(copy->seg, sizeof copy->seg, "%s", name);
    copy->off = off;
    return 0;
}

static int s_load(s_copy_t *copy, char *err, size_t errlen)
{
    if (copy->loaded)
        return 0;
    if (mkdir(copy->dir, 0700) && errno != EEXIST) {
        kp_err(err, errlen, "cannot create %s: %s", copy->dir, strerror(errno));
        return -1;
    }
    kp_privlog_segment_t *list = NULL;
    int n = kp_privlog_segments(copy->dir, &list, err, errlen);
    if (n < 0)
        return -1;
    //  A segment cut before its header was whole (a crash while it was
    //  made) holds nothing acknowledged: it is made again.
    while (n > 0) {
        char path[PRIVLOG_PATH];
        struct stat st;
        privlog_path(path, copy->dir, list[n - 1].name);
        if (stat(path, &st) || st.st_size >= KP_PRIVLOG_SEGMENT_HEADER)
            break;
        unlink(path);
        n--;
    }
    int rc = n > 0 ? s_load_last(copy, list[n - 1].name, err, errlen) : 0;
    free(list);
    //  A pruned copy starts after its anchor (and is only that when all
    //  its segments went).
    Kp__LogCheckpoint *cp = NULL;
    if (rc == 0 && privlog_anchor_read(copy->dir, &cp) == 0) {
        copy->anchor_seq = cp->seq;
        if (n == 0) {
            copy->seq = cp->seq;
            memcpy(copy->hash, cp->hash.data, KP_PRIVLOG_HASH_LEN);
        }
    }
    kp__log_checkpoint__free_unpacked(cp, NULL);
    copy->loaded = rc == 0;
    return rc;
}

static s_copy_t *s_copy(s_keeper_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq(self->copies[i].name, name))
            return &self->copies[i];
    return NULL;
}

static void s_answer(s_keeper_t *self, zframe_t *peer, const char *cmd, uint64_t epoch,
                     const char *code, const char *detail, const s_copy_t *copy)
{
    zmsg_t *msg = zmsg_new();
    zframe_t *to = zframe_dup(peer);
    zmsg_append(msg, &to);
    zmsg_addstr(msg, cmd);
    uint8_t num[8];
    kp_le64_put(num, epoch);
    zmsg_addmem(msg, num, 8);
    if (code) {
        zmsg_addstr(msg, code);
        zmsg_addstr(msg, detail);
    }
    zmsg_addstr(msg, copy ? copy->seg : "");
    kp_le64_put(num, copy ? copy->off : 0);
    zmsg_addmem(msg, num, 8);
    kp_le64_put(num, copy ? copy->seq : 0);
    zmsg_addmem(msg, num, 8);
    if (self->router)
        zmsg_send(&msg, self->router);
    else
        zmsg_destroy(&msg); //  kp_mirror_keeper_offline: nobody to answer
}

//  A new segment: header must continue the copy. NULL, or the error code.
static const char *s_on_seg(s_copy_t *copy, zmsg_t *msg, char *detail, size_t detaillen)
{
    char *name = zmsg_popstr(msg);
    zframe_t *header = zmsg_pop(msg);
    const char *code = NULL;
    kp_privlog_segment_t seg;
    const uint8_t *h = header ? zframe_data(header) : NULL;
    if (!name || !header || zframe_size(header) != KP_PRIVLOG_SEGMENT_HEADER ||
        !privlog_segment_name(name, &seg) || memcmp(h, PRIVLOG_MAGIC, 8) ||
        kp_le32_get(h + 60) != kp_privlog_crc32c(0, h, 60) || kp_le64_get(h + 8) != seg.first_seq) {
        code = "BAD_SEGMENT";
        snprintf(detail, detaillen, "not a segment header with a matching name");
    } else if (*copy->seg && strcmp(name, copy->seg) <= 0) {
        code = "GAP";
        snprintf(detail, detaillen, "segment %s is not after %s", name, copy->seg);
    } else if ((*copy->seg || copy->anchor_seq) &&
               (seg.first_seq != copy->seq + 1 || memcmp(h + 24, copy->hash, 32))) {
        code = seg.first_seq != copy->seq + 1 ? "GAP" : "FORK";
        snprintf(detail, detaillen, "segment %s does not continue seq %" PRIu64, name, copy->seq);
    } else {
        char path[PRIVLOG_PATH];
        privlog_path(path, copy->dir, name);
        if (copy->fd >= 0 && fdatasync(copy->fd))
            code = "IO";
        int fd = code ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || privlog_pwrite_all(fd, h, KP_PRIVLOG_SEGMENT_HEADER, 0)) {
            code = "IO";
            snprintf(detail, detaillen, "cannot write %s: %s", name, strerror(errno));
            if (fd >= 0)
                close(fd);
        } else {
            if (copy->fd >= 0)
                close(copy->fd);
            copy->fd = fd;
            snprintf(copy->seg, sizeof copy->seg, "%s", name);
            copy->off = KP_PRIVLOG_SEGMENT_HEADER;
            copy->seq = seg.first_seq - 1;
            memcpy(copy->hash, h + 24, 32);
            copy->dirty = copy->dir_dirty = true;
        }
    }
    free(name);
    zframe_destroy(&header);
    return code;
}

//  Removes the copy's segments before the one that starts after seq (the
//  anchor frame's, whose chain hash is hash), after writing the anchor.
//  NULL, or the error code.
static const char *s_prune_copy(s_copy_t *copy, const uint8_t *frame, size_t len, uint64_t seq,
                                const uint8_t *hash, char *detail, size_t detaillen)
{
    kp_privlog_segment_t *list = NULL;
    char err[256];
    int n = kp_privlog_segments(copy->dir, &list, err, sizeof err);
    int k = 0;
    while (k < n && list[k].first_seq != seq + 1)
        k++;
    const char *code = NULL;
    if (n < 0) {
        code = "IO";
        snprintf(detail, detaillen, "%s", err);
    } else if (k < n) {
        //  the segment after the anchor must continue its chain
        privlog_map_t map = {.fd = -1};
        if (privlog_segment_map(copy->dir, list[k].name, &map, err, sizeof err) || !map.header_ok ||
            memcmp(map.prev_hash, hash, 32)) {
            code = "FORK";
            snprintf(detail, detaillen, "segment %s does not continue the anchor at seq %" PRIu64,
                     list[k].name, seq);
        }
        privlog_segment_unmap(&map);
    } else if (copy->seq > seq || (copy->seq == seq && memcmp(copy->hash, hash, 32))) {
        code = "FORK";
        snprintf(detail, detaillen,
                 "the anchor at seq %" PRIu64 " is not at a segment's end in the copy", seq);
    }
    if (!code && privlog_anchor_write(copy->dir, frame, len, err, sizeof err)) {
        code = "IO";
        snprintf(detail, detaillen, "%s", err);
    }
    for (int i = 0; i < k && !code; i++) {
        char path[PRIVLOG_PATH];
        privlog_path(path, copy->dir, list[i].name);
        if (unlink(path) && errno != ENOENT) {
            code = "IO";
            kp_err(detail, detaillen, "cannot remove %s: %s", list[i].name, strerror(errno));
        }
    }
    if (!code) {
        if (k == n) { //  nothing of the copy remains: it continues from the anchor
            if (copy->fd >= 0)
                close(copy->fd);
            copy->fd = -1;
            copy->seg[0] = '\0';
            copy->off = 0;
            copy->seq = seq;
            memcpy(copy->hash, hash, 32);
            copy->dirty = false;
        }
        copy->anchor_seq = seq;
        privlog_fsync_dir(copy->dir);
    }
    free(list);
    return code;
}

//  Frames at the end of the copy. NULL, or the error code.
static const char *s_on_frames(s_keeper_t *self, s_copy_t *copy, zmsg_t *msg, char *detail,
                               size_t detaillen)
{
    char *name = zmsg_popstr(msg);
    zframe_t *off = zmsg_pop(msg), *data = zmsg_pop(msg);
    const char *code = NULL;
    if (!name || !off || zframe_size(off) != 8 || !data || !zframe_size(data)) {
        code = "BAD_FRAME";
        snprintf(detail, detaillen, "FRAMES needs segment, offset and frames");
    } else if (!streq(name, copy->seg) || kp_le64_get(zframe_data(off)) != copy->off) {
        code = "GAP";
        snprintf(detail, detaillen, "frames at %s+%" PRIu64 ", the copy ends at %s+%" PRIu64, name,
                 kp_le64_get(zframe_data(off)), copy->seg, copy->off);
    }
    const uint8_t *p = data ? zframe_data(data) : NULL;
    size_t size = data ? zframe_size(data) : 0, used = 0;
    uint64_t seq = copy->seq;
    uint8_t hash[32];
    memcpy(hash, copy->hash, 32);
    while (!code && used < size) {
        privlog_frame_t frame;
        if (privlog_frame_parse(p + used, size - used, &frame) != PRIVLOG_FRAME_OK) {
            code = "BAD_FRAME";
            snprintf(detail, detaillen, "a frame after seq %" PRIu64 " is cut or fails its CRC",
                     seq);
            break;
        }
        if (frame.kind == KP_PRIVLOG_KIND_RECORD) {
            uint8_t want[32];
            privlog_chain_hash(self->ctx, self->md, hash, frame.kind, frame.seq, frame.body,
                               frame.len, want);
            if (frame.seq != seq + 1) {
                code = "GAP";
                snprintf(detail, detaillen, "record %" PRIu64 " after %" PRIu64, frame.seq, seq);
            } else if (memcmp(want, frame.hash, 32)) {
                code = "FORK";
                snprintf(detail, detaillen, "record %" PRIu64 " does not continue the chain",
                         frame.seq);
            }
            seq = frame.seq;
            memcpy(hash, frame.hash, 32);
        } else if (frame.seq != seq || memcmp(frame.hash, hash, 32)) {
            code = "FORK";
            snprintf(detail, detaillen, "checkpoint at %" PRIu64 " does not match the chain",
                     frame.seq);
        }
        used += KP_PRIVLOG_FRAME_HEADER + frame.len;
    }
    if (!code && privlog_pwrite_all(copy->fd, p, size, copy->off)) {
        code = "IO";
        snprintf(detail, detaillen, "cannot write %s: %s", copy->seg, strerror(errno));
    }
    if (!code) {
        copy->off += size;
        copy->seq = seq;
        memcpy(copy->hash, hash, 32);
        copy->dirty = true;
    }
    free(name);
    zframe_destroy(&off);
    zframe_destroy(&data);
    return code;
}

//  The node's prune anchor (log/prune.c): a checkpoint frame closing the
//  records it removed. Checked, then applied to the copy as kpctl log
//  prune did to the log: the anchor written, then the segments before the
//  one that continues it removed. A copy that ends at or before the
//  anchor (its mirror was away during the prune) keeps no segment and
//  waits for the log's first remaining one. Answered ANCHORED with the
//  copy's anchor seq. NULL, or the error code.
static const char *s_on_anchor(s_keeper_t *self, s_copy_t *copy, zframe_t *peer, uint64_t epoch,
                               zmsg_t *msg, char *detail, size_t detaillen)
{
    zframe_t *data = zmsg_pop(msg);
    privlog_frame_t f;
    Kp__LogCheckpoint *cp = NULL;
    const char *code = NULL;
    if (!data ||
        privlog_frame_parse(zframe_data(data), zframe_size(data), &f) != PRIVLOG_FRAME_OK ||
        f.kind != KP_PRIVLOG_KIND_CHECKPOINT ||
        KP_PRIVLOG_FRAME_HEADER + f.len != zframe_size(data) ||
        !(cp = kp__log_checkpoint__unpack(NULL, f.len, f.body)) || !cp->has_seq ||
        cp->seq != f.seq || !cp->has_hash || cp->hash.len != 32 ||
        memcmp(cp->hash.data, f.hash, 32)) {
        code = "BAD_FRAME";
        snprintf(detail, detaillen, "ANCHOR needs one checkpoint frame");
    } else if (f.seq > copy->anchor_seq)
        code = s_prune_copy(copy, zframe_data(data), zframe_size(data), f.seq, f.hash, detail,
                            detaillen);
    kp__log_checkpoint__free_unpacked(cp, NULL);
    zframe_destroy(&data);
    if (!code) {
        zmsg_t *answer = zmsg_new();
        zframe_t *to = zframe_dup(peer);
        zmsg_append(answer, &to);
        zmsg_addstr(answer, "ANCHORED");
        uint8_t num[8];
        kp_le64_put(num, epoch);
        zmsg_addmem(answer, num, 8);
        kp_le64_put(num, copy->anchor_seq);
        zmsg_addmem(answer, num, 8);
        if (self->router)
            zmsg_send(&answer, self->router);
        else
            zmsg_destroy(&answer);
    }
    return code;
}

//  Whether the message came with the key of the node whose copy it
//  names: a node ships only its own log. Logged for the first refusals,
//  then every 1000th.
static bool s_sender_ok(s_keeper_t *self, const s_copy_t *copy, zframe_t *received)
{
    if (!self->secure)
        return true;
    const char *key = zframe_meta(received, "User-Id");
    if (key && !strcmp(key, copy->key))
        return true;
    if (++self->not_its_log <= 20 || self->not_its_log % 1000 == 0)
        zsys_warning("log mirror: refused a message for the copy of %s that came with key %s, "
                     "not %s's (%" PRIu64 " refused so)",
                     copy->name, key ? key : "(none)", copy->name, self->not_its_log);
    return false;
}

//  One message from a shipping node: HELLO, SEG or FRAMES for its copy,
//  answered POS or ERR (code and detail); every bad one is counted.
static void s_on_message(s_keeper_t *self, zmsg_t *msg)
{
    zframe_t *peer = zmsg_pop(msg);
    char *cmd = zmsg_popstr(msg), *node = zmsg_popstr(msg);
    zframe_t *epoch_f = zmsg_pop(msg);
    uint64_t epoch = epoch_f && zframe_size(epoch_f) == 8 ? kp_le64_get(zframe_data(epoch_f)) : 0;
    s_copy_t *copy = node ? s_copy(self, node) : NULL;
    char detail[256] = "";
    const char *code = NULL;
    if (!peer || !cmd || !epoch_f || zframe_size(epoch_f) != 8) {
        code = "BAD_FRAME";
        snprintf(detail, sizeof detail, "a message needs command, node and epoch");
        copy = NULL;
    } else if (!copy) {
        code = "UNKNOWN_NODE";
        snprintf(detail, sizeof detail, "no copy is kept here for that node (see log-mirror)");
    } else if (!s_sender_ok(self, copy, epoch_f)) {
        code = "NOT_ITS_LOG";
        snprintf(detail, sizeof detail,
                 "this connection's key is not %s's: a node ships only its own log", copy->name);
        copy = NULL; //  nothing said of the copy to a stranger
    } else if (s_load(copy, detail, sizeof detail))
        code = "IO";
    else if (streq(cmd, "HELLO"))
        s_answer(self, peer, "POS", epoch, NULL, NULL, copy);
    else if (streq(cmd, "SEG"))
        code = s_on_seg(copy, msg, detail, sizeof detail);
    else if (streq(cmd, "FRAMES"))
        code = s_on_frames(self, copy, msg, detail, sizeof detail);
    else if (streq(cmd, "ANCHOR"))
        code = s_on_anchor(self, copy, peer, epoch, msg, detail, sizeof detail);
    else {
        code = "BAD_FRAME";
        snprintf(detail, sizeof detail, "unknown command");
    }
    if (code && peer) {
        self->refused++;
        s_answer(self, peer, "ERR", epoch, code, detail, copy);
    } else if (copy && !streq(cmd, "HELLO")) {
        zframe_destroy(&copy->peer);
        copy->peer = zframe_dup(peer);
        copy->epoch = epoch;
    }
    zframe_destroy(&peer);
    zframe_destroy(&epoch_f);
    free(cmd);
    free(node);
}

//  One fsync per copy that changed, then the acknowledgement.
static void s_commit(s_keeper_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        s_copy_t *copy = &self->copies[i];
        if (!copy->dirty)
            continue;
        if (fdatasync(copy->fd) || (copy->dir_dirty && privlog_fsync_dir(copy->dir))) {
            zsys_error("log mirror: cannot sync the copy in %s: %s", copy->dir, strerror(errno));
            continue; //  not acknowledged: the shipper sends again
        }
        copy->dirty = copy->dir_dirty = false;
        if (copy->peer)
            s_answer(self, copy->peer, "ACK", copy->epoch, NULL, NULL, copy);
    }
}

static void s_keeper_actor(zsock_t *pipe, void *arg)
{
    s_keeper_t *self = (s_keeper_t *)arg;
    self->pipe = pipe;
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, self->router, NULL);
    while (true) {
        void *which = zpoller_wait(poller, -1);
        if (!which)
            break;
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool stop = !command || streq(command, "$TERM");
            if (command && streq(command, "COUNTS"))
                zsock_send(pipe, "88", self->refused, self->not_its_log);
            zstr_free(&command);
            if (stop)
                break;
            continue;
        }
        for (int i = 0; i < S_GROUP && (zsock_events(self->router) & ZMQ_POLLIN); i++) {
            zmsg_t *msg = zmsg_recv(self->router);
            if (!msg)
                break;
            s_on_message(self, msg);
            zmsg_destroy(&msg);
        }
        s_commit(self);
    }
    zpoller_destroy(&poller);
}

static void s_keeper_free(s_keeper_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        if (self->copies[i].fd >= 0)
            close(self->copies[i].fd);
        zframe_destroy(&self->copies[i].peer);
    }
    free(self->copies);
    zsock_destroy(&self->router);
    if (self->ctx)
        EVP_MD_CTX_free(self->ctx);
    free(self);
}

//  The keeper's ROUTER as a CURVE server on ZAP domain "peer". 0, or -1.
static int s_secure_router(zsock_t *router, zcert_t *cert)
{
    void *handle = zsock_resolve(router);
    int one = 1;
    return zmq_setsockopt(handle, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) ||
                   zmq_setsockopt(handle, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                   zmq_setsockopt(handle, ZMQ_CURVE_SECRETKEY, zcert_secret_key(cert), 32) ||
                   zmq_setsockopt(handle, ZMQ_CURVE_PUBLICKEY, zcert_public_key(cert), 32) ||
                   zmq_setsockopt(handle, ZMQ_ZAP_DOMAIN, "peer", 4)
               ? -1
               : 0;
}

//  The copies of names in dir, not loaded yet, and no socket. When secure
//  (CURVE), keys[i] is the only key names[i]'s messages may come with.
static s_keeper_t *s_keeper_state(const char *dir, const char *const *names,
                                  const char *const *keys, size_t count, bool secure, char *err,
                                  size_t errlen)
{
    if (mkdir(dir, 0700) && errno != EEXIST) {
        kp_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    s_keeper_t *state = (s_keeper_t *)zmalloc(sizeof *state);
    snprintf(state->dir, sizeof state->dir, "%s", dir);
    state->copies = (s_copy_t *)calloc(count ? count : 1, sizeof *state->copies);
    state->count = count;
    for (size_t i = 0; i < count; i++) {
        s_copy_t *copy = &state->copies[i];
        snprintf(copy->name, sizeof copy->name, "%s", names[i]);
        privlog_path(copy->dir, dir, names[i]);
        copy->fd = -1;
        if (secure)
            snprintf(copy->key, sizeof copy->key, "%s", keys[i]);
    }
    state->secure = secure;
    state->ctx = EVP_MD_CTX_new();
    state->md = EVP_sha256();
    return state;
}

kp_mirror_keeper_t *kp_mirror_keeper_new(const char *dir, const char *bind,
                                         const char *const *names, const char *const *keys,
                                         size_t count, zcert_t *cert, char *err, size_t errlen)
{
    s_keeper_t *state = s_keeper_state(dir, names, keys, count, cert != NULL, err, errlen);
    if (!state)
        return NULL;
    state->router = zsock_new(ZMQ_ROUTER);
    if (state->router) {
        zsock_set_rcvhwm(state->router, 4 * KP_MIRROR_WINDOW * (int)(count ? count : 1));
        zsock_set_maxmsgsize(state->router, (int64_t)(KP_PRIVLOG_FRAME_HEADER +
                                                      KP_PRIVLOG_MAX_BODY + KP_MIRROR_CHUNK));
        zsock_set_linger(state->router, 0);
    }
    if (state->router && cert && s_secure_router(state->router, cert)) {
        kp_err(err, errlen, "log mirror: cannot make %s a CURVE server: %s", bind,
               zmq_strerror(zmq_errno()));
        s_keeper_free(state);
        return NULL;
    }
    if (!state->router || !state->ctx || zsock_bind(state->router, "%s", bind) < 0) {
        kp_err(err, errlen, "log mirror: cannot bind %s: %s (is the port in use?)", bind,
               zmq_strerror(zmq_errno()));
        s_keeper_free(state);
        return NULL;
    }
    kp_mirror_keeper_t *self = (kp_mirror_keeper_t *)zmalloc(sizeof *self);
    self->state = state;
    self->actor = zactor_new(s_keeper_actor, state);
    return self;
}

void kp_mirror_keeper_counts(kp_mirror_keeper_t *self, uint64_t *refused, uint64_t *not_its_log)
{
    *refused = *not_its_log = 0;
    if (zstr_send(self->actor, "COUNTS") == 0)
        zsock_recv(self->actor, "88", refused, not_its_log);
}

void kp_mirror_keeper_destroy(kp_mirror_keeper_t **self_p)
{
    kp_mirror_keeper_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->actor);
    s_keeper_free(self->state);
    free(self);
    *self_p = NULL;
}

kp_mirror_keeper_t *kp_mirror_keeper_offline(const char *dir, const char *const *names,
                                             size_t count, char *err, size_t errlen)
{
    s_keeper_t *state = s_keeper_state(dir, names, NULL, count, false, err, errlen);
    if (!state)
        return NULL;
    kp_mirror_keeper_t *self = (kp_mirror_keeper_t *)zmalloc(sizeof *self);
    self->state = state;
    return self;
}

void kp_mirror_keeper_feed(kp_mirror_keeper_t *self, zmsg_t **msg_p)
{
    assert(!self->actor);
    s_on_message(self->state, *msg_p);
    zmsg_destroy(msg_p);
    s_commit(self->state);
}

uint64_t kp_mirror_keeper_refused(const kp_mirror_keeper_t *self)
{
    assert(!self->actor);
    return self->state->refused;
}
