/*  mirror.c - the shipper: sends the log's durable frames to the mirror
    (see mirror.h). The keeper is in mirrorkeep.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kperr.h"
#include "mirror.h"
#include "privlog_impl.h"

#define S_HELLO_RETRY_MS 100 //  no answer to a HELLO yet: sent again
#define S_ANCHOR_MS 500      //  how often the log's prune anchor is looked at

//  A place in the log: segment name and byte offset, and the seq of the
//  last record before it. Names sort by first seq, so (name, off) orders.
typedef struct {
    char seg[64];
    uint64_t off;
    uint64_t seq;
} s_pos_t;

typedef struct {
    char node[64];
    char dir[PRIVLOG_PATH];
    uint32_t timeout_ms;
    zsock_t *pipe;
    zsock_t *link;
    uint64_t durable;
    uint64_t epoch;
    bool have_pos; //  the keeper told where the copy ends
    s_pos_t sent, acked;
    s_pos_t ring[KP_MIRROR_WINDOW]; //  ends of the messages in flight
    size_t ring_count;
    int64_t last_ack_ms, last_hello_ms, last_list_ms, last_anchor_ms;
    uint64_t anchored;     //  the copy's prune anchor, as the keeper last said
    int64_t wait_since_ms; //  durable records have waited for an ack since
    uint64_t catch_up;     //  degraded until the copy reaches this seq
    bool degraded;
    uint64_t degradations;
    uint64_t told_acked; //  last news sent to the node
    bool told_degraded;
    int fd;
    char fd_seg[64];
    uint8_t *buf;
    size_t buf_size;
} s_shipper_t;

struct _kp_mirror_t {
    zactor_t *actor;
    s_shipper_t *actor_state;
    uint64_t acked;
    bool degraded;
    uint64_t degradations;
    uint64_t told_durable;
    bool no_quorum; //  the node has lost its majority (kp_mirror_quorum)
    //  LOG_MIRROR records due (kp_mirror_mark), oldest first
    struct {
        uint64_t from, to;
    } marks[8];
    size_t mark_count;
    uint64_t local_from;    //  the open range's first record (0: none)
    uint64_t start_durable; //  the log's end when the node started
    bool synced;            //  the start's catch-up record is written or not needed
    bool told_once;         //  kp_mirror_durable was called
    uint64_t mark_seq;      //  the open range's first record in the log (UINT64_MAX: not yet)
};

static int s_pos_cmp(const s_pos_t *a, const s_pos_t *b)
{
    int c = strcmp(a->seg, b->seg);
    if (c)
        return c;
    return a->off < b->off ? -1 : a->off > b->off;
}

static void s_send(s_shipper_t *self, const char *cmd, zmsg_t *tail)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, cmd);
    zmsg_addstr(msg, self->node);
    uint8_t e[8];
    kp_le64_put(e, self->epoch);
    zmsg_addmem(msg, e, 8);
    if (tail) {
        zframe_t *f;
        while ((f = zmsg_pop(tail)))
            zmsg_append(msg, &f);
        zmsg_destroy(&tail);
    }
    //  Never blocks: a message that cannot leave now is sent again after
    //  the next resume (go-back-N).
    zmq_msg_t part;
    size_t n = zmsg_size(msg);
    for (size_t i = 0; i < n; i++) {
        zframe_t *f = zmsg_pop(msg);
        zmq_msg_init_size(&part, zframe_size(f));
        memcpy(zmq_msg_data(&part), zframe_data(f), zframe_size(f));
        zframe_destroy(&f);
        if (zmq_msg_send(&part, zsock_resolve(self->link),
                         ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0) {
            zmq_msg_close(&part);
            break;
        }
    }
    zmsg_destroy(&msg);
}

//  Starts again from where the copy ends: asks the keeper.
static void s_resume(s_shipper_t *self, int64_t now)
{
    self->epoch++;
    self->have_pos = false;
    self->anchored = 0; //  asked again: the keeper says where its copy's anchor is
    self->ring_count = 0;
    self->last_hello_ms = now;
    s_send(self, "HELLO", NULL);
}

static void s_tell(s_shipper_t *self)
{
    if (self->told_acked == self->acked.seq && self->told_degraded == self->degraded)
        return;
    self->told_acked = self->acked.seq;
    self->told_degraded = self->degraded;
    zmsg_t *msg = zmsg_new();
    zmsg_addstrf(msg, "%" PRIu64, self->acked.seq);
    zmsg_addstr(msg, self->degraded ? "1" : "0");
    zmsg_addstrf(msg, "%" PRIu64, self->degradations);
    zmsg_send(&msg, self->pipe);
}

static bool s_read_pos(zmsg_t *msg, s_pos_t *pos)
{
    char *seg = zmsg_popstr(msg);
    zframe_t *off = zmsg_pop(msg), *seq = zmsg_pop(msg);
    bool ok = seg && strlen(seg) < sizeof pos->seg && off && zframe_size(off) == 8 && seq &&
              zframe_size(seq) == 8;
    if (ok) {
        snprintf(pos->seg, sizeof pos->seg, "%s", seg);
        pos->off = kp_le64_get(zframe_data(off));
        pos->seq = kp_le64_get(zframe_data(seq));
    }
    free(seg);
    zframe_destroy(&off);
    zframe_destroy(&seq);
    return ok;
}

static void s_on_answer(s_shipper_t *self, int64_t now)
{
    zmsg_t *msg = zmsg_recv(self->link);
    if (!msg)
        return;
    char *cmd = zmsg_popstr(msg);
    zframe_t *epoch = zmsg_pop(msg);
    bool current =
        epoch && zframe_size(epoch) == 8 && kp_le64_get(zframe_data(epoch)) == self->epoch;
    s_pos_t pos;
    if (!cmd || !current) {
        //  from before a resume: ignored
    } else if (streq(cmd, "POS") && s_read_pos(msg, &pos)) {
        self->sent = self->acked = pos;
        self->have_pos = true;
        self->last_ack_ms = now;
        self->catch_up = self->durable;
    } else if (streq(cmd, "ACK") && s_read_pos(msg, &pos)) {
        if (s_pos_cmp(&pos, &self->acked) >= 0)
            self->acked = pos;
        size_t keep = 0;
        for (size_t i = 0; i < self->ring_count; i++)
            if (s_pos_cmp(&self->ring[i], &pos) > 0)
                self->ring[keep++] = self->ring[i];
        self->ring_count = keep;
        self->last_ack_ms = now;
    } else if (streq(cmd, "ANCHORED")) {
        zframe_t *seq = zmsg_pop(msg);
        if (seq && zframe_size(seq) == 8 && kp_le64_get(zframe_data(seq)) > self->anchored)
            self->anchored = kp_le64_get(zframe_data(seq));
        zframe_destroy(&seq);
    } else if (streq(cmd, "ERR")) {
        char *code = zmsg_popstr(msg), *detail = zmsg_popstr(msg);
        zsys_warning("log mirror of %s: the copy refused a message: %s %s; resuming where it ends",
                     self->node, code ? code : "?", detail ? detail : "");
        free(code);
        free(detail);
        s_resume(self, now);
    }
    free(cmd);
    zframe_destroy(&epoch);
    zmsg_destroy(&msg);
}

static int s_open_seg(s_shipper_t *self, const char *seg)
{
    if (self->fd >= 0 && streq(self->fd_seg, seg))
        return 0;
    if (self->fd >= 0)
        close(self->fd);
    char path[PRIVLOG_PATH];
    privlog_path(path, self->dir, seg);
    self->fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(self->fd_seg, sizeof self->fd_seg, "%s", seg);
    return self->fd >= 0 ? 0 : -1;
}

//  The segment after seg ("" for the first), if there is one.
static bool s_next_seg(s_shipper_t *self, const char *seg, char out[64])
{
    kp_privlog_segment_t *list = NULL;
    char err[256];
    int n = kp_privlog_segments(self->dir, &list, err, sizeof err);
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        if (strcmp(list[i].name, seg) > 0) {
            snprintf(out, 64, "%s", list[i].name);
            found = true;
        }
    free(list);
    return found;
}

//  Sends the header of segment seg.
static bool s_ship_header(s_shipper_t *self, const char *seg)
{
    uint8_t header[KP_PRIVLOG_SEGMENT_HEADER];
    if (s_open_seg(self, seg) ||
        pread(self->fd, header, sizeof header, 0) != (ssize_t)sizeof header)
        return false;
    zmsg_t *tail = zmsg_new();
    zmsg_addstr(tail, seg);
    zmsg_addmem(tail, header, sizeof header);
    s_send(self, "SEG", tail);
    snprintf(self->sent.seg, sizeof self->sent.seg, "%s", seg);
    self->sent.off = KP_PRIVLOG_SEGMENT_HEADER;
    self->sent.seq = kp_le64_get(header + 8) - 1;
    return true;
}

//  Reads the whole frames at the sent position whose seq is durable and
//  sends them; false if there was nothing to send.
static bool s_ship_frames(s_shipper_t *self)
{
    if (s_open_seg(self, self->sent.seg))
        return false;
    ssize_t got = pread(self->fd, self->buf, KP_MIRROR_CHUNK, (off_t)self->sent.off);
    size_t used = 0;
    uint64_t seq = self->sent.seq;
    while (got > 0) {
        privlog_frame_t frame;
        int rc = privlog_frame_parse(self->buf + used, (size_t)got - used, &frame);
        if (rc == PRIVLOG_FRAME_SHORT && used == 0 && (size_t)got >= KP_PRIVLOG_FRAME_HEADER) {
            //  one frame larger than a chunk: read it whole
            size_t need = KP_PRIVLOG_FRAME_HEADER + kp_le32_get(self->buf);
            if (need > self->buf_size || need <= (size_t)got)
                break;
            got = pread(self->fd, self->buf, need, (off_t)self->sent.off);
            continue;
        }
        if (rc != PRIVLOG_FRAME_OK || frame.seq > self->durable)
            break;
        if (frame.kind == KP_PRIVLOG_KIND_RECORD)
            seq = frame.seq;
        used += KP_PRIVLOG_FRAME_HEADER + frame.len;
    }
    if (!used)
        return false;
    zmsg_t *tail = zmsg_new();
    zmsg_addstr(tail, self->sent.seg);
    uint8_t off[8];
    kp_le64_put(off, self->sent.off);
    zmsg_addmem(tail, off, 8);
    zmsg_addmem(tail, self->buf, used);
    s_send(self, "FRAMES", tail);
    self->sent.off += used;
    self->sent.seq = seq;
    return true;
}

//  The log was pruned past what the copy's anchor says (kpctl log prune
//  wrote LOG/anchor): the anchor goes to the keeper, which prunes its
//  copy the same way. Looked at every S_ANCHOR_MS; sent until the keeper
//  says its copy is anchored there.
static void s_ship_anchor(s_shipper_t *self, int64_t now)
{
    if (!self->have_pos || now - self->last_anchor_ms < S_ANCHOR_MS)
        return;
    self->last_anchor_ms = now;
    char path[PRIVLOG_PATH];
    privlog_path(path, self->dir, "anchor");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 512];
    ssize_t got = read(fd, frame, sizeof frame);
    close(fd);
    privlog_frame_t f;
    if (got <= 0 || privlog_frame_parse(frame, (size_t)got, &f) != PRIVLOG_FRAME_OK ||
        f.kind != KP_PRIVLOG_KIND_CHECKPOINT || f.seq <= self->anchored)
        return;
    zmsg_t *tail = zmsg_new();
    zmsg_addmem(tail, frame, KP_PRIVLOG_FRAME_HEADER + f.len);
    s_send(self, "ANCHOR", tail);
}

//  Sends what the window allows.
static void s_pump(s_shipper_t *self, int64_t now)
{
    while (self->have_pos && self->ring_count < KP_MIRROR_WINDOW) {
        bool sent = false;
        if (*self->sent.seg)
            sent = s_ship_frames(self);
        if (!sent) {
            //  At the end of this segment: a later one means it is closed
            //  (listed before reading it once more, so nothing is missed).
            if (now - self->last_list_ms < 20 && *self->sent.seg)
                return;
            self->last_list_ms = now;
            char next[64];
            if (!s_next_seg(self, self->sent.seg, next))
                return;
            if (*self->sent.seg && s_ship_frames(self)) {
                //  more came in meanwhile
            } else if (!s_ship_header(self, next))
                return;
        }
        self->ring[self->ring_count++] = self->sent;
    }
}

static void s_check(s_shipper_t *self, int64_t now)
{
    bool waiting = self->durable > self->acked.seq;
    int64_t since =
        self->last_ack_ms > self->wait_since_ms ? self->last_ack_ms : self->wait_since_ms;
    if (waiting && now - since > self->timeout_ms) {
        if (!self->degraded) {
            self->degraded = true;
            self->degradations++;
            zsys_warning("log mirror of %s: no acknowledgement for %u ms (copy at seq %" PRIu64
                         ", log at %" PRIu64 "): degraded, responses leave on local durability",
                         self->node, self->timeout_ms, self->acked.seq, self->durable);
            s_resume(self, now);
        } else if (now - self->last_hello_ms > self->timeout_ms)
            s_resume(self, now);
    } else if (!self->have_pos && now - self->last_hello_ms > S_HELLO_RETRY_MS)
        //  A HELLO sent before the link's (CURVE) handshake ended did not
        //  leave (ZMQ_IMMEDIATE): asked again, without degrading.
        s_resume(self, now);
    if (self->degraded && self->have_pos && self->acked.seq >= self->catch_up) {
        self->degraded = false;
        zsys_info("log mirror of %s: the copy has caught up (seq %" PRIu64 ")", self->node,
                  self->acked.seq);
    }
}

static void s_shipper_actor(zsock_t *pipe, void *arg)
{
    s_shipper_t *self = (s_shipper_t *)arg;
    self->pipe = pipe;
    zsock_signal(pipe, 0);
    int64_t now = zclock_mono();
    self->last_ack_ms = now;
    s_resume(self, now);
    zpoller_t *poller = zpoller_new(pipe, self->link, NULL);
    bool done = false;
    while (!done) {
        void *which = zpoller_wait(poller, 10);
        now = zclock_mono();
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            char *cmd = msg ? zmsg_popstr(msg) : NULL;
            if (!cmd || streq(cmd, "$TERM"))
                done = true;
            else if (streq(cmd, "DURABLE")) {
                char *n = zmsg_popstr(msg);
                uint64_t d = n ? strtoull(n, NULL, 10) : 0;
                if (self->durable <= self->acked.seq && d > self->acked.seq)
                    self->wait_since_ms = now;
                if (d > self->durable)
                    self->durable = d;
                free(n);
            }
            free(cmd);
            zmsg_destroy(&msg);
        } else if (which == self->link) {
            for (int i = 0; i < 256 && (zsock_events(self->link) & ZMQ_POLLIN); i++)
                s_on_answer(self, now);
        } else if (zpoller_terminated(poller))
            done = true;
        s_pump(self, now);
        s_ship_anchor(self, now);
        s_check(self, now);
        s_tell(self);
    }
    zpoller_destroy(&poller);
}

//  CURVE client options on the link, before it connects. 0, or -1.
static int s_secure_link(zsock_t *link, const kp_mirror_curve_t *curve)
{
    if (!curve || !curve->cert)
        return 0;
    uint8_t server[32];
    if (!curve->server_key || strlen(curve->server_key) != 40 ||
        !zmq_z85_decode(server, curve->server_key))
        return -1;
    void *handle = zsock_resolve(link);
    return zmq_setsockopt(handle, ZMQ_CURVE_SERVERKEY, server, 32) ||
                   zmq_setsockopt(handle, ZMQ_CURVE_PUBLICKEY, zcert_public_key(curve->cert), 32) ||
                   zmq_setsockopt(handle, ZMQ_CURVE_SECRETKEY, zcert_secret_key(curve->cert), 32)
               ? -1
               : 0;
}

kp_mirror_t *kp_mirror_new(const char *node, const char *dir, const char *endpoint,
                           uint32_t timeout_ms, const kp_mirror_curve_t *curve)
{
    s_shipper_t *shipper = (s_shipper_t *)zmalloc(sizeof *shipper);
    snprintf(shipper->node, sizeof shipper->node, "%s", node);
    snprintf(shipper->dir, sizeof shipper->dir, "%s", dir);
    shipper->timeout_ms = timeout_ms;
    shipper->fd = -1;
    shipper->buf_size = KP_PRIVLOG_FRAME_HEADER + KP_PRIVLOG_MAX_BODY + KP_MIRROR_CHUNK;
    shipper->buf = (uint8_t *)malloc(shipper->buf_size);
    shipper->link = zsock_new(ZMQ_DEALER);
    kp_mirror_t *self = (kp_mirror_t *)zmalloc(sizeof *self);
    if (shipper->buf && shipper->link && s_secure_link(shipper->link, curve) == 0) {
        zsock_set_sndhwm(shipper->link, KP_MIRROR_WINDOW * 2);
        zsock_set_rcvhwm(shipper->link, 1000);
        zsock_set_immediate(shipper->link, 1);
        zsock_set_linger(shipper->link, 0);
        if (zsock_connect(shipper->link, "%s", endpoint) == 0)
            self->actor = zactor_new(s_shipper_actor, shipper);
    }
    if (!self->actor) {
        zsock_destroy(&shipper->link);
        free(shipper->buf);
        free(shipper);
        free(self);
        return NULL;
    }
    //  The shipper's state is the actor's from here; it is freed when the
    //  actor has stopped (kp_mirror_destroy).
    zsock_set_sndtimeo(self->actor, 0);
    self->actor_state = shipper;
    self->synced = true; //  until a first notice says the log had records
    return self;
}

void kp_mirror_destroy(kp_mirror_t **self_p)
{
    kp_mirror_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->actor);
    s_shipper_t *shipper = self->actor_state;
    if (shipper->fd >= 0)
        close(shipper->fd);
    zsock_destroy(&shipper->link);
    free(shipper->buf);
    free(shipper);
    free(self);
    *self_p = NULL;
}

void kp_mirror_durable(kp_mirror_t *self, uint64_t seq)
{
    if (!self->told_once) {
        //  the first notice, at the start: records were there before
        self->told_once = true;
        self->start_durable = seq;
        self->synced = seq == 0;
    }
    if (seq <= self->told_durable)
        return;
    //  Never blocks the node: a notice that cannot go now is carried by
    //  the next one (only the highest matters).
    if (zstr_sendm(self->actor, "DURABLE") == 0 && zstr_sendf(self->actor, "%" PRIu64, seq) == 0)
        self->told_durable = seq;
}

zsock_t *kp_mirror_sock(kp_mirror_t *self)
{
    return zactor_sock(self->actor);
}

static void s_mark(kp_mirror_t *self, uint64_t from, uint64_t to)
{
    if (self->mark_count == sizeof self->marks / sizeof self->marks[0]) {
        //  the node has not written them yet: the last one is made to
        //  cover the new one (a range only grows)
        if (to)
            self->marks[self->mark_count - 1].to = to;
        return;
    }
    self->marks[self->mark_count].from = from;
    self->marks[self->mark_count].to = to;
    self->mark_count++;
}

//  The news changed the degraded state or the copy's end: the LOG_MIRROR
//  records it calls for.
static void s_news(kp_mirror_t *self, uint64_t acked, bool degraded)
{
    if (degraded && !self->degraded) {
        self->mark_seq = UINT64_MAX;
        self->local_from = acked + 1;
        self->synced = true; //  its catch-up closes whatever is open
        s_mark(self, self->local_from, 0);
    } else if (!degraded && self->degraded) {
        s_mark(self, self->local_from, acked);
        self->local_from = 0;
    } else if (!degraded && !self->synced && acked >= self->start_durable) {
        self->synced = true;
        s_mark(self, 0, acked);
    }
}

bool kp_mirror_mark(kp_mirror_t *self, uint64_t *from, uint64_t *to)
{
    if (!self->mark_count)
        return false;
    *from = self->marks[0].from;
    *to = self->marks[0].to;
    memmove(self->marks, self->marks + 1, --self->mark_count * sizeof self->marks[0]);
    return true;
}

void kp_mirror_marked(kp_mirror_t *self, uint64_t seq)
{
    self->mark_seq = seq;
}

uint64_t kp_mirror_local_from(const kp_mirror_t *self)
{
    return self->local_from;
}

void kp_mirror_recv(kp_mirror_t *self)
{
    while (zsock_events(self->actor) & ZMQ_POLLIN) {
        char *acked = NULL, *degraded = NULL, *count = NULL;
        if (zstr_recvx(self->actor, &acked, &degraded, &count, NULL) == 3) {
            uint64_t seq = strtoull(acked, NULL, 10);
            bool now = streq(degraded, "1");
            s_news(self, seq, now);
            self->acked = seq;
            self->degraded = now;
            self->degradations = strtoull(count, NULL, 10);
        }
        zstr_free(&acked);
        zstr_free(&degraded);
        zstr_free(&count);
    }
}

uint64_t kp_mirror_acked(const kp_mirror_t *self)
{
    return self->acked;
}

bool kp_mirror_degraded(const kp_mirror_t *self)
{
    return self->degraded;
}

uint64_t kp_mirror_degradations(const kp_mirror_t *self)
{
    return self->degradations;
}

void kp_mirror_quorum(kp_mirror_t *self, bool quorum)
{
    self->no_quorum = !quorum;
}

bool kp_mirror_held(const kp_mirror_t *self)
{
    return self->degraded && self->no_quorum;
}

uint64_t kp_mirror_release(const kp_mirror_t *self, uint64_t durable)
{
    if (self->acked >= durable || (self->degraded && !self->no_quorum && durable >= self->mark_seq))
        return durable;
    return self->acked;
}
