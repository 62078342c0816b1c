/*  snapxfer.c - snapshot files between members; see snapxfer.h. */
#include "snapxfer.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raftio.h"
#include "raftwire.h"

//  A snapshot on its way out, to one member.
typedef struct {
    uint64_t transfer;
    raft_id peer;
    char address[KP_RAFTWIRE_MAX_ADDRESS + 1];
    int fd;
    uint64_t size, sent;
    uint8_t sha256[32];
    int64_t last_grant;
} s_out_t;

//  A snapshot on its way in, from one member.
typedef struct {
    uint64_t transfer;
    raft_id from;
    char address[KP_RAFTWIRE_MAX_ADDRESS + 1];
    int fd;
    char path[600];
    uint64_t size, written;
    uint8_t sha256[32];
    EVP_MD_CTX *hash;
    raft_term term;
    raft_index last_index, conf_index;
    raft_term last_term;
    struct raft_configuration conf;
    int64_t last_chunk;
    int64_t last_ask; //  the last grant that asked again for lost chunks
} s_in_t;

struct _kp_snapxfer_t {
    char folder[512]; //  FOLDER/snapshots
    char cluster[64];
    kp_snapxfer_send_fn *send;
    kp_snapxfer_deliver_fn *deliver;
    void *arg;
    zlistx_t *outs, *ins;
    uint64_t next_transfer;
    uint64_t sent, refused, asked;
    uint8_t *chunk; //  one chunk's buffer
};

static void s_out_destroy(void **item)
{
    s_out_t *out = (s_out_t *)*item;
    if (out) {
        if (out->fd >= 0)
            close(out->fd);
        free(out);
        *item = NULL;
    }
}

static void s_in_destroy(void **item)
{
    s_in_t *in = (s_in_t *)*item;
    if (in) {
        if (in->fd >= 0) {
            close(in->fd);
            unlink(in->path);
        }
        EVP_MD_CTX_free(in->hash);
        raft_configuration_close(&in->conf);
        free(in);
        *item = NULL;
    }
}

//  Removes incoming files left by a run that stopped mid-transfer.
static void s_clean_incoming(const char *folder)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (!strncmp(entry->d_name, "incoming-", 9) || !strncmp(entry->d_name, "taking-", 7)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
            unlink(path);
        }
    closedir(dir);
}

kp_snapxfer_t *kp_snapxfer_new(const char *folder, const char *cluster, kp_snapxfer_send_fn *send,
                               kp_snapxfer_deliver_fn *deliver, void *arg, char *err, size_t errlen)
{
    kp_snapxfer_t *self = calloc(1, sizeof *self);
    if (!self || !(self->chunk = malloc(KP_RAFTIO_CHUNK))) {
        free(self);
        snprintf(err, errlen, "snapshots: out of memory");
        return NULL;
    }
    snprintf(self->folder, sizeof self->folder, "%s/snapshots", folder);
    if (mkdir(self->folder, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "snapshots: cannot create %s: %s", self->folder, strerror(errno));
        free(self->chunk);
        free(self);
        return NULL;
    }
    s_clean_incoming(self->folder);
    snprintf(self->cluster, sizeof self->cluster, "%s", cluster);
    self->send = send;
    self->deliver = deliver;
    self->arg = arg;
    self->outs = zlistx_new();
    zlistx_set_destructor(self->outs, s_out_destroy);
    self->ins = zlistx_new();
    zlistx_set_destructor(self->ins, s_in_destroy);
    self->next_transfer = (uint64_t)zclock_time() << 16;
    return self;
}

void kp_snapxfer_destroy(kp_snapxfer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_snapxfer_t *self = *self_p;
    zlistx_destroy(&self->outs);
    zlistx_destroy(&self->ins);
    free(self->chunk);
    free(self);
    *self_p = NULL;
}

int kp_snapxfer_path(kp_snapxfer_t *self, const char *name, char *path, size_t size)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return -1;
    return snprintf(path, size, "%s/%s", self->folder, name) < (int)size ? 0 : -1;
}

int kp_snapxfer_manifest(const char *file, uint64_t size, const uint8_t sha256[32],
                         struct raft_buffer *out)
{
    Kp__SnapshotManifest manifest = KP__SNAPSHOT_MANIFEST__INIT;
    manifest.file = (char *)file;
    manifest.has_size = manifest.has_sha256 = true;
    manifest.size = size;
    manifest.sha256.data = (uint8_t *)sha256;
    manifest.sha256.len = 32;
    out->len = kp__snapshot_manifest__get_packed_size(&manifest);
    out->base = raft_malloc(out->len);
    if (!out->base)
        return -1;
    kp__snapshot_manifest__pack(&manifest, out->base);
    return 0;
}

//  ---------------------------------------------------------------------
//  Sender

static s_out_t *s_out_find(kp_snapxfer_t *self, raft_id peer)
{
    for (s_out_t *out = zlistx_first(self->outs); out; out = zlistx_next(self->outs))
        if (out->peer == peer)
            return out;
    return NULL;
}

static void s_out_drop(kp_snapxfer_t *self, s_out_t *out)
{
    void *handle = zlistx_find(self->outs, out);
    if (handle)
        zlistx_delete(self->outs, handle);
}

static int s_send_offer(kp_snapxfer_t *self, s_out_t *out, const struct raft_install_snapshot *args)
{
    Kp__SnapshotOffer offer = KP__SNAPSHOT_OFFER__INIT;
    offer.has_transfer = offer.has_term = offer.has_last_index = offer.has_last_term = true;
    offer.has_conf_index = offer.has_size = offer.has_sha256 = true;
    offer.transfer = out->transfer;
    offer.term = args->term;
    offer.last_index = args->last_index;
    offer.last_term = args->last_term;
    offer.conf_index = args->conf_index;
    offer.size = out->size;
    offer.sha256.data = out->sha256;
    offer.sha256.len = 32;
    if (kp_raftwire_conf_encode(&args->conf, &offer.conf, &offer.n_conf))
        return -1;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_OFFER;
    frame.snapshot_offer = &offer;
    int rc = self->send(self->arg, out->peer, out->address, &frame);
    kp_raftwire_conf_free(offer.conf, offer.n_conf);
    return rc;
}

int kp_snapxfer_offer(kp_snapxfer_t *self, const struct raft_message *message)
{
    const struct raft_install_snapshot *args = &message->install_snapshot;
    Kp__SnapshotManifest *manifest =
        kp__snapshot_manifest__unpack(NULL, args->data.len, args->data.base);
    char path[700];
    if (!manifest || !manifest->has_sha256 || manifest->sha256.len != 32 ||
        kp_snapxfer_path(self, manifest->file, path, sizeof path)) {
        if (manifest)
            kp__snapshot_manifest__free_unpacked(manifest, NULL);
        zsys_error("snapshots: raft's snapshot data is not a manifest; nothing sent");
        return -1;
    }
    s_out_t *out = s_out_find(self, message->server_id);
    if (out && !memcmp(out->sha256, manifest->sha256.data, 32)) {
        kp__snapshot_manifest__free_unpacked(manifest, NULL);
        return 0; //  still on its way
    }
    if (out)
        s_out_drop(self, out);
    out = calloc(1, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (!out || fd < 0 || fstat(fd, &st) || (uint64_t)st.st_size != manifest->size) {
        zsys_error("snapshots: cannot send %s: %s", path,
                   fd < 0 ? strerror(errno) : "its size is not the manifest's");
        if (fd >= 0)
            close(fd);
        free(out);
        kp__snapshot_manifest__free_unpacked(manifest, NULL);
        return -1;
    }
    out->transfer = ++self->next_transfer;
    out->peer = message->server_id;
    snprintf(out->address, sizeof out->address, "%s", message->server_address);
    out->fd = fd;
    out->size = manifest->size;
    memcpy(out->sha256, manifest->sha256.data, 32);
    out->last_grant = zclock_mono();
    kp__snapshot_manifest__free_unpacked(manifest, NULL);
    zlistx_add_end(self->outs, out);
    zsys_info("snapshots: offering %llu bytes (index %llu) to member %llu",
              (unsigned long long)out->size, args->last_index, message->server_id);
    return s_send_offer(self, out, args);
}

static int s_send_chunk(kp_snapxfer_t *self, s_out_t *out)
{
    uint64_t len =
        out->size - out->sent < KP_RAFTIO_CHUNK ? out->size - out->sent : KP_RAFTIO_CHUNK;
    ssize_t got = pread(out->fd, self->chunk, len, (off_t)out->sent);
    if (got != (ssize_t)len)
        return -1;
    Kp__SnapshotChunk chunk = KP__SNAPSHOT_CHUNK__INIT;
    chunk.has_transfer = chunk.has_offset = chunk.has_data = true;
    chunk.transfer = out->transfer;
    chunk.offset = out->sent;
    chunk.data.data = self->chunk;
    chunk.data.len = len;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK;
    frame.snapshot_chunk = &chunk;
    if (self->send(self->arg, out->peer, out->address, &frame))
        return -1;
    out->sent += len;
    return 0;
}

static int s_on_grant(kp_snapxfer_t *self, raft_id from, const Kp__SnapshotGrant *grant)
{
    s_out_t *out = s_out_find(self, from);
    if (!grant->has_transfer || !grant->has_offset || !out || out->transfer != grant->transfer)
        return out ? -1 : 0; //  an old transfer's grant is no fault
    if (grant->error) {
        zsys_warning("snapshots: member %llu refused the snapshot: %.200s", from, grant->error);
        self->refused++;
        s_out_drop(self, out);
        return 0;
    }
    if (grant->offset > out->size || (grant->has_credit && grant->credit > 64))
        return -1;
    out->last_grant = zclock_mono();
    if (grant->offset == out->size) {
        self->sent++;
        s_out_drop(self, out);
        return 0;
    }
    if (grant->resend || grant->offset > out->sent)
        out->sent = grant->offset;
    uint64_t limit = grant->offset + (uint64_t)grant->credit * KP_RAFTIO_CHUNK;
    while (out->sent < out->size && out->sent < limit)
        if (s_send_chunk(self, out))
            break; //  the receiver will ask again
    return 0;
}

//  ---------------------------------------------------------------------
//  Receiver

static s_in_t *s_in_find(kp_snapxfer_t *self, raft_id from)
{
    for (s_in_t *in = zlistx_first(self->ins); in; in = zlistx_next(self->ins))
        if (in->from == from)
            return in;
    return NULL;
}

static void s_in_drop(kp_snapxfer_t *self, s_in_t *in)
{
    void *handle = zlistx_find(self->ins, in);
    if (handle)
        zlistx_delete(self->ins, handle);
}

static void s_grant(kp_snapxfer_t *self, s_in_t *in, uint32_t credit, bool resend,
                    const char *error)
{
    Kp__SnapshotGrant grant = KP__SNAPSHOT_GRANT__INIT;
    grant.has_transfer = grant.has_offset = grant.has_credit = true;
    grant.transfer = in->transfer;
    grant.offset = in->written;
    grant.credit = credit;
    grant.has_resend = resend;
    grant.resend = resend;
    grant.error = (char *)error;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_GRANT;
    frame.snapshot_grant = &grant;
    self->send(self->arg, in->from, in->address, &frame);
}

//  A member offers a snapshot: checks the offer, and grants credit to
//  receive it (again, when the same file is offered anew). -1 when the
//  offer is malformed.
static int s_on_offer(kp_snapxfer_t *self, const Kp__PeerFrame *frame)
{
    const Kp__SnapshotOffer *offer = frame->snapshot_offer;
    if (!offer->has_transfer || !offer->has_term || !offer->has_last_index ||
        !offer->has_last_term || !offer->has_conf_index || !offer->has_size || !offer->has_sha256 ||
        offer->sha256.len != 32 || offer->size > KP_SNAPXFER_MAX_SIZE || offer->last_index == 0)
        return -1;
    s_in_t *in = s_in_find(self, frame->from_id);
    if (in && in->size == offer->size && !memcmp(in->sha256, offer->sha256.data, 32)) {
        in->transfer = offer->transfer; //  the same file offered again
        in->term = offer->term;
        s_grant(self, in, KP_RAFTIO_CREDIT, true, NULL);
        return 0;
    }
    if (in)
        s_in_drop(self, in);
    in = calloc(1, sizeof *in);
    if (!in)
        return 0;
    in->fd = -1;
    if (kp_raftwire_conf_decode(offer->conf, offer->n_conf, &in->conf)) {
        free(in);
        return -1;
    }
    in->transfer = offer->transfer;
    in->from = frame->from_id;
    snprintf(in->address, sizeof in->address, "%s", frame->from);
    in->size = offer->size;
    memcpy(in->sha256, offer->sha256.data, 32);
    in->term = offer->term;
    in->last_index = offer->last_index;
    in->last_term = offer->last_term;
    in->conf_index = offer->conf_index;
    in->last_chunk = zclock_mono();
    snprintf(in->path, sizeof in->path, "%s/incoming-%llu.tmp", self->folder, in->from);
    in->fd = open(in->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    in->hash = EVP_MD_CTX_new();
    zlistx_add_end(self->ins, in);
    if (in->fd < 0 || !in->hash || EVP_DigestInit_ex(in->hash, EVP_sha256(), NULL) != 1) {
        char why[900];
        snprintf(why, sizeof why, "cannot write %s: %s", in->path, strerror(errno));
        zsys_error("snapshots: %s", why);
        s_grant(self, in, 0, false, why);
        s_in_drop(self, in);
        return 0;
    }
    zsys_info("snapshots: receiving %llu bytes (index %llu) from member %llu",
              (unsigned long long)in->size, in->last_index, in->from);
    s_grant(self, in, KP_RAFTIO_CREDIT, false, NULL);
    return 0;
}

//  The whole file is in: check, make durable, name it, hand it to raft.
static void s_in_complete(kp_snapxfer_t *self, s_in_t *in)
{
    uint8_t sha256[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(in->hash, sha256, &len);
    if (len != 32 || memcmp(sha256, in->sha256, 32)) {
        zsys_error("snapshots: the snapshot from member %llu does not match its SHA-256; "
                   "dropped",
                   in->from);
        self->refused++;
        s_grant(self, in, 0, false, "sha256 mismatch");
        s_in_drop(self, in);
        return;
    }
    char name[64], path[700];
    snprintf(name, sizeof name, "snap-%llu-%02x%02x%02x%02x.mdb", in->last_index, sha256[0],
             sha256[1], sha256[2], sha256[3]);
    kp_snapxfer_path(self, name, path, sizeof path);
    struct raft_message message = {.type = RAFT_IO_INSTALL_SNAPSHOT};
    if (fsync(in->fd) || rename(in->path, path) ||
        kp_snapxfer_manifest(name, in->size, sha256, &message.install_snapshot.data)) {
        zsys_error("snapshots: cannot keep %s: %s", path, strerror(errno));
        s_grant(self, in, 0, false, "cannot store the snapshot");
        s_in_drop(self, in);
        return;
    }
    close(in->fd);
    in->fd = -1;
    int dir = open(self->folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    s_grant(self, in, 0, false, NULL); //  offset = size: done
    message.server_id = in->from;
    message.install_snapshot.term = in->term;
    message.install_snapshot.last_index = in->last_index;
    message.install_snapshot.last_term = in->last_term;
    message.install_snapshot.conf = in->conf; //  raft takes it
    message.install_snapshot.conf_index = in->conf_index;
    raft_configuration_init(&in->conf);
    char address[sizeof in->address];
    snprintf(address, sizeof address, "%s", in->address);
    message.server_address = address;
    s_in_drop(self, in);
    self->deliver(self->arg, &message);
}

static int s_on_chunk(kp_snapxfer_t *self, const Kp__PeerFrame *frame)
{
    const Kp__SnapshotChunk *chunk = frame->snapshot_chunk;
    s_in_t *in = s_in_find(self, frame->from_id);
    if (!chunk->has_transfer || !chunk->has_offset || !chunk->has_data ||
        chunk->data.len > KP_RAFTIO_CHUNK || chunk->data.len == 0)
        return -1;
    if (!in || in->transfer != chunk->transfer)
        return 0; //  a chunk of a transfer given up
    if (chunk->offset != in->written || in->written + chunk->data.len > in->size) {
        if (chunk->offset < in->written)
            return 0; //  a duplicate, already written
        s_grant(self, in, KP_RAFTIO_CREDIT, true, NULL);
        return 0;
    }
    for (size_t done = 0; done < chunk->data.len;) {
        ssize_t put = write(in->fd, chunk->data.data + done, chunk->data.len - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            char why[900];
            snprintf(why, sizeof why, "cannot write %s: %s", in->path, strerror(errno));
            s_grant(self, in, 0, false, why);
            s_in_drop(self, in);
            return 0;
        }
        done += (size_t)put;
    }
    EVP_DigestUpdate(in->hash, chunk->data.data, chunk->data.len);
    in->written += chunk->data.len;
    in->last_chunk = zclock_mono();
    if (in->written == in->size)
        s_in_complete(self, in);
    else
        s_grant(self, in, KP_RAFTIO_CREDIT, false, NULL);
    return 0;
}

int kp_snapxfer_on_frame(kp_snapxfer_t *self, const Kp__PeerFrame *frame)
{
    switch (frame->body_case) {
    case KP__PEER_FRAME__BODY_SNAPSHOT_OFFER:
        return s_on_offer(self, frame);
    case KP__PEER_FRAME__BODY_SNAPSHOT_GRANT:
        return s_on_grant(self, frame->from_id, frame->snapshot_grant);
    case KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK:
        return s_on_chunk(self, frame);
    default:
        return -1;
    }
}

//  ---------------------------------------------------------------------
//  Storage and timers

//  The file a snapshot's manifest names ("" if none). The data may come
//  in several buffers: they are joined first.
static void s_manifest_file(const struct raft_snapshot *snapshot, char *name, size_t size)
{
    *name = '\0';
    size_t len = 0;
    for (unsigned i = 0; i < snapshot->n_bufs; i++)
        len += snapshot->bufs[i].len;
    uint8_t *data = malloc(len ? len : 1);
    if (!data)
        return;
    for (unsigned i = 0, at = 0; i < snapshot->n_bufs; at += snapshot->bufs[i].len, i++)
        memcpy(data + at, snapshot->bufs[i].base, snapshot->bufs[i].len);
    Kp__SnapshotManifest *manifest = kp__snapshot_manifest__unpack(NULL, len, data);
    if (manifest && manifest->file)
        snprintf(name, size, "%s", manifest->file);
    if (manifest)
        kp__snapshot_manifest__free_unpacked(manifest, NULL);
    free(data);
}

//  Deletes every snapshot file but keep: the one the store names now. A
//  transfer still sending an old one has it open; files raft refused (it
//  was busy) go too.
static void s_prune(kp_snapxfer_t *self, const char *keep)
{
    DIR *dir = opendir(self->folder);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (!strncmp(entry->d_name, "snap-", 5) && strcmp(entry->d_name, keep)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", self->folder, entry->d_name);
            unlink(path);
        }
    closedir(dir);
}

int kp_snapxfer_put(kp_snapxfer_t *self, kp_raftstore_t *store, unsigned trailing,
                    const struct raft_snapshot *snapshot, char *err, size_t errlen)
{
    if (kp_raftstore_snapshot_put(store, trailing, snapshot, err, errlen))
        return -1;
    //  The store's transaction is not committed yet: the name comes from
    //  the snapshot itself.
    char now[256];
    s_manifest_file(snapshot, now, sizeof now);
    if (*now)
        s_prune(self, now);
    return 0;
}

static s_out_t *s_out_stalled(kp_snapxfer_t *self, int64_t now)
{
    for (s_out_t *out = zlistx_first(self->outs); out; out = zlistx_next(self->outs))
        if (now - out->last_grant > KP_SNAPXFER_STALL_MS)
            return out;
    return NULL;
}

static s_in_t *s_in_stalled(kp_snapxfer_t *self, int64_t now)
{
    for (s_in_t *in = zlistx_first(self->ins); in; in = zlistx_next(self->ins))
        if (now - in->last_chunk > KP_SNAPXFER_STALL_MS)
            return in;
    return NULL;
}

void kp_snapxfer_tick(kp_snapxfer_t *self)
{
    int64_t now = zclock_mono();
    s_out_t *out;
    while ((out = s_out_stalled(self, now))) {
        zsys_warning("snapshots: member %llu stopped asking for chunks; transfer dropped",
                     out->peer);
        s_out_drop(self, out);
    }
    s_in_t *in;
    while ((in = s_in_stalled(self, now)))
        s_in_drop(self, in);
    //  Chunks lost on the way (a connection reset between the members)
    //  leave no gap to see: without a chunk for a while, ask again from
    //  the last byte written. A receiver that only stalls is asked for
    //  nothing more than its credit, so the leader sends nothing more.
    for (in = zlistx_first(self->ins); in; in = zlistx_next(self->ins))
        if (now - in->last_chunk >= KP_SNAPXFER_ASK_MS &&
            now - in->last_ask >= KP_SNAPXFER_ASK_MS) {
            zsys_info("snapshots: no chunk from member %llu for %lld ms; asking again from byte "
                      "%llu",
                      (unsigned long long)in->from, (long long)(now - in->last_chunk),
                      (unsigned long long)in->written);
            in->last_ask = now;
            self->asked++;
            s_grant(self, in, KP_RAFTIO_CREDIT, true, NULL);
        }
}

long kp_snapxfer_timeout(kp_snapxfer_t *self)
{
    return zlistx_size(self->outs) || zlistx_size(self->ins) ? 1000 : 60000;
}

uint64_t kp_snapxfer_asked(kp_snapxfer_t *self)
{
    return self->asked;
}

void kp_snapxfer_counts(kp_snapxfer_t *self, uint64_t *sent, uint64_t *refused)
{
    *sent = self->sent;
    *refused = self->refused;
}
