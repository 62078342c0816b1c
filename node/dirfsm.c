/*  dirfsm.c - the reference directory as libraft's state machine; see
    dirfsm.h. */
#include "dirfsm.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapcopy.h"

typedef struct {
    struct raft_fsm fsm; //  first: libraft's pointer is ours
    kp_dirfsm_options_t options;
    char snapshots[512];
    kp_dirfsm_result_t result;
    kp_dirfsm_stats_t stats;
    uint64_t bytes_at_taking; //  stats.bytes when the snapshot under way began
} s_fsm_t;

//  raft_fsm apply: one committed entry into the directory (in the turn's
//  batch). A refused update is a result, not an error; RAFT_IOERR when
//  LMDB failed, so that raft tries the entry again.
static int s_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    kp_dirfsm_result_t *out = &self->result;
    memset(out, 0, sizeof *out);
    //  libraft 0.15 sets last_applied after apply returns (pinned by
    //  test_dirfsm): the entry being applied is the next one.
    out->index = self->options.raft->last_applied + 1;
    *result = out;
    self->stats.bytes += buf->len;
    if (self->options.batch && !kp_directory_batch_open(self->options.directory) &&
        kp_directory_batch_begin(self->options.directory, out->error, sizeof out->error)) {
        zsys_error("cluster: cannot apply raft entry %llu: %s", (unsigned long long)out->index,
                   out->error);
        return RAFT_IOERR;
    }
    Kp__DirectoryUpdate *update = kp__directory_update__unpack(NULL, buf->len, buf->base);
    if (!update) {
        out->status = KP_DIRFSM_REFUSED;
        snprintf(out->error, sizeof out->error, "the entry is not a kp.DirectoryUpdate");
        self->stats.refused++;
        return 0;
    }
    int rc = kp_directory_apply_at(self->options.directory, update, out->index, &out->seq,
                                   out->error, sizeof out->error);
    kp__directory_update__free_unpacked(update, NULL);
    if (rc == KP_STORAGE_FAILED) {
        //  LMDB failed: nothing applied. Raft stops applying and tries
        //  again later; going on would lose this entry here.
        zsys_error("cluster: cannot apply raft entry %llu: %s", (unsigned long long)out->index,
                   out->error);
        return RAFT_IOERR;
    }
    out->status = rc < 0 ? KP_DIRFSM_REFUSED : KP_DIRFSM_OK;
    out->replayed = rc == 1;
    out->duplicate = rc == 2;
    if (rc < 0)
        self->stats.refused++;
    else if (rc == 1)
        self->stats.replayed++;
    else if (rc == 2)
        self->stats.duplicates++;
    else
        self->stats.applied++;
    if (self->options.applied)
        self->options.applied(self->options.replace_arg, out->index);
    return 0;
}

static int s_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs);

//  Raft asks in its own thread; the copy is made in snapshot_async, unless
//  snapshots are synchronous.
static int s_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    *bufs = NULL;
    *n_bufs = 0;
    //  The copy must hold every entry raft counts applied.
    char err[256];
    if (kp_dirfsm_flush(fsm, err, sizeof err))
        return RAFT_IOERR;
    self->bytes_at_taking = self->stats.bytes; //  the snapshot's index is the last applied
    return self->options.sync_snapshots ? s_snapshot_async(fsm, bufs, n_bufs) : 0;
}

static void s_fsync_dir(const char *path)
{
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
}

//  raft_fsm snapshot_async: a compact copy of the directory in a snapshot
//  file (fsynced, with its SHA-256); the buffer raft keeps is the file's
//  manifest (size, SHA-256, applied index), not the data.
static int s_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    unsigned long long index = self->options.raft->snapshot.pending.index;
    char taking[700], path[700], name[96], err[256] = "";
    snprintf(taking, sizeof taking, "%s/taking-%llu.tmp", self->snapshots, index);
    int fd = open(taking, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    kp_snapcopy_result_t copy;
    const uint8_t *sha256 = copy.sha256;
    int rc = fd < 0 ? -1 : kp_snapcopy_write(self->options.directory, fd, &copy, err, sizeof err);
    if (rc == 0 && fsync(fd))
        rc = -1;
    if (fd >= 0)
        close(fd);
    uint64_t applied = 0, seq = 0;
    if (rc == 0)
        rc = kp_directory_file_applied(taking, &applied, &seq, err, sizeof err);
    if (rc == 0) {
        snprintf(name, sizeof name, "snap-%llu-%02x%02x%02x%02x.mdb", index, sha256[0], sha256[1],
                 sha256[2], sha256[3]);
        snprintf(path, sizeof path, "%s/%s", self->snapshots, name);
        rc = rename(taking, path);
    }
    if (rc) {
        zsys_error("cluster: snapshot at %llu failed: %s", index, *err ? err : strerror(errno));
        unlink(taking);
        return RAFT_IOERR;
    }
    s_fsync_dir(self->snapshots);
    struct raft_buffer *list = raft_malloc(sizeof *list);
    Kp__SnapshotManifest manifest = KP__SNAPSHOT_MANIFEST__INIT;
    manifest.file = name;
    manifest.has_size = manifest.has_sha256 = manifest.has_applied = true;
    manifest.size = copy.size;
    manifest.sha256.data = copy.sha256;
    manifest.sha256.len = 32;
    manifest.applied = applied;
    if (list) {
        list->len = kp__snapshot_manifest__get_packed_size(&manifest);
        list->base = raft_malloc(list->len);
    }
    if (!list || !list->base) {
        raft_free(list);
        unlink(path);
        return RAFT_NOMEM;
    }
    kp__snapshot_manifest__pack(&manifest, list->base);
    *bufs = list;
    *n_bufs = 1;
    zsys_info("cluster: snapshot at raft index %llu (directory at %llu, seq %llu): %llu bytes "
              "in %.2f s (%llu steps: %.2f s writing back, %.2f s resting)",
              index, (unsigned long long)applied, (unsigned long long)seq,
              (unsigned long long)copy.size, copy.elapsed_us / 1e6, (unsigned long long)copy.steps,
              copy.sync_us / 1e6, copy.rest_us / 1e6);
    return 0;
}

//  The size of the snapshot a manifest names: the snapshot rule weighs
//  the entries since against it (cluster.c).
static void s_snapshot_size(s_fsm_t *self, const struct raft_buffer *buf)
{
    Kp__SnapshotManifest *manifest = kp__snapshot_manifest__unpack(NULL, buf->len, buf->base);
    if (manifest && manifest->has_size)
        self->stats.snapshot_size = manifest->size;
    if (manifest)
        kp__snapshot_manifest__free_unpacked(manifest, NULL);
}

static int s_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    if (*bufs) {
        self->stats.snapshots++;
        self->stats.bytes_at_snapshot = self->bytes_at_taking;
        s_snapshot_size(self, &(*bufs)[0]);
        for (unsigned i = 0; i < *n_bufs; i++)
            raft_free((*bufs)[i].base);
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int s_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    char flush_err[256];
    if (kp_dirfsm_flush(fsm, flush_err, sizeof flush_err))
        return RAFT_IOERR;
    Kp__SnapshotManifest *manifest = kp__snapshot_manifest__unpack(NULL, buf->len, buf->base);
    int rc = 0;
    if (!manifest || !manifest->file || strchr(manifest->file, '/')) {
        zsys_error("cluster: the snapshot to restore has no usable manifest");
        rc = RAFT_CORRUPT;
    } else {
        char path[700], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", self->snapshots, manifest->file);
        uint64_t have = kp_directory_applied(self->options.directory, NULL);
        uint64_t applied = manifest->applied, seq = 0;
        if (!manifest->has_applied &&
            kp_directory_file_applied(path, &applied, &seq, err, sizeof err))
            rc = RAFT_CORRUPT;
        else if (have >= applied)
            zsys_info("cluster: the directory holds raft index %llu, the snapshot %llu: kept",
                      (unsigned long long)have, (unsigned long long)applied);
        else if (self->options.replace(self->options.replace_arg, path, err, sizeof err))
            rc = RAFT_IOERR;
        else {
            self->stats.restores++;
            zsys_info("cluster: directory replaced by the snapshot at raft index %llu",
                      (unsigned long long)applied);
        }
        if (rc)
            zsys_error("cluster: cannot restore snapshot %s: %s", path, err);
        else {
            self->stats.bytes_at_snapshot = self->stats.bytes;
            if (manifest->has_size)
                self->stats.snapshot_size = manifest->size;
        }
    }
    if (manifest)
        kp__snapshot_manifest__free_unpacked(manifest, NULL);
    if (rc == 0)
        raft_free(buf->base); //  ours on success (libraft's snapshotRestore)
    return rc;
}

struct raft_fsm *kp_dirfsm_new(const kp_dirfsm_options_t *options)
{
    s_fsm_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->options = *options;
    snprintf(self->snapshots, sizeof self->snapshots, "%s", options->snapshots);
    self->options.snapshots = self->snapshots;
    if (options->batch && options->directory)
        kp_directory_replicated(options->directory);
    self->fsm.version = options->sync_snapshots ? 2 : 3;
    self->fsm.data = self;
    self->fsm.apply = s_apply;
    self->fsm.snapshot = s_snapshot;
    self->fsm.restore = s_restore;
    self->fsm.snapshot_finalize = s_snapshot_finalize;
    self->fsm.snapshot_async = options->sync_snapshots ? NULL : s_snapshot_async;
    return &self->fsm;
}

void kp_dirfsm_destroy(struct raft_fsm **fsm_p)
{
    if (fsm_p && *fsm_p) {
        free(*fsm_p);
        *fsm_p = NULL;
    }
}

int kp_dirfsm_flush(struct raft_fsm *fsm, char *err, size_t errlen)
{
    s_fsm_t *self = (s_fsm_t *)fsm;
    if (!self->options.directory || !kp_directory_batch_open(self->options.directory))
        return 0;
    if (kp_directory_batch_commit(self->options.directory, err, errlen)) {
        zsys_error("cluster: %s", err);
        return -1;
    }
    return 0;
}

void kp_dirfsm_stats(struct raft_fsm *fsm, kp_dirfsm_stats_t *out)
{
    *out = ((s_fsm_t *)fsm)->stats;
}
