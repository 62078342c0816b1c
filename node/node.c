/*  node.c - the Kruispunt node's event loop.

    One thread, one zmq_poll over three ROUTER sockets. Each turn of the
    loop renews one LMDB read transaction, drains what arrived (a bounded
    number of messages per socket, so that no side starves the others),
    then runs the timers: deadlines, heartbeats, dead workers.

    Identity. Unless the cluster is insecure, every socket is CURVE and the
    ZAP handler (zap.h) lets in only keys of the directory's key table. The
    key comes with every frame ("User-Id", see curve.h) and is looked up
    again in the turn's read transaction: a key deleted or past its `to`
    is refused at its next frame (KEY_REVOKED). The key's identity is the
    only identity: a request naming another user is refused
    (IDENTITY_MISMATCH), one naming none takes the key's; a worker's hello
    must name the key's KBO. Calls in flight, held responses and the
    replay memory are found by "identity US request id", so that an id
    names a call only together with who sent it: the same id from another
    identity is another request, and nobody else's answer is ever sent.

    Closing a revoked key's connections. A ROUTER cannot close one peer.
    The node notes, per peer, the file descriptor its frames came in on
    (ZMQ_SRCFD) with both ends' addresses; each second, when the directory
    or the date changed, it checks the key of every peer seen in the last
    KP_PEER_IDLE_MS, drops the state of those whose key is no longer valid
    (a worker is told KEY_REVOKED and its requests go elsewhere) and shuts
    their TCP connection down, after checking that the descriptor still
    joins the same two addresses (so a descriptor reused by a newer
    connection is never touched). libzmq then sees the connection end and
    closes it. A peer silent for longer is forgotten; its key is checked
    again at its next frame anyway.
*/
#include "node.h"

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "admin.h"
#include "arena.h"
#include "cluster.h"
#include "conns.h"
#include "control.h"
#include "curve.h"
#include "dirscan.h"
#include "directory.h"
#include "flight.h"
#include "forward.h"
#include "frames.h"
#include "httpd.h"
#include "inflight.h"
#include "mutation.h"
#include "notify.h"
#include "prom.h"
#include "logger.h"
#include "localonly.h"
#include "mirror.h"
#include "outbox.h"
#include "regmut.h"
#include "regsvc.h"
#include "sendq.h"
#include "service.h"
#include "replay.h"
#include "stats.h"
#include "registry.h"
#include "waiting.h"
#include "zap.h"

#define KP_BATCH 256 //  messages per socket per turn
//  Messages sent at once. One wake-up of the I/O thread (and of the peer)
//  per message costs CPU; holding a whole turn's worth leaves the workers
//  idle while the loop works (measured: README, Benchmarks).
#define KP_BURST 32
#define KP_ID_MAX 256      //  routing identities are at most this long
#define KP_REPLAY_MS 60000 //  retried ids are answered from memory this long
#define KP_REPLAY_MAX 1000000
#define KP_GRACE_MS 2000  //  on shutdown, in-flight calls get this long
#define KP_PUBLISH_MS 250 //  a snapshot for the metrics endpoint this often
//  Admin frames are bounded: kpctl sends a large import as batches of at
//  most 8 MiB of records (cli/cmd_directory.c), one update each.
#define KP_ADMIN_MAX_FRAME ((size_t)16 << 20)
#define KP_PEER_IDLE_MS 300000 //  peers silent this long are forgotten
#define KP_PEER_CHECK_MS 1000  //  how often revoked keys are looked for

//  The sockets, as peers are noted.
enum { S_CLIENTS, S_WORKERS, S_ADMIN };

//  Who sent a frame: its key and what the directory says the key is.
//  Insecure clusters have no keys: secure false, identity "".
typedef struct {
    bool secure;
    kp_key_kind_t kind;
    char key[KP_KEY_Z85_LEN + 1];
    char identity[KP_DIR_MAX_ID + 1];
} s_auth_t;

//  A peer seen on a CURVE socket: its key, and the TCP connection its
//  frames came in on (see the comment at the top).
typedef struct {
    int socket; //  S_CLIENTS, S_WORKERS or S_ADMIN
    unsigned char identity[256];
    size_t identity_size;
    char key[KP_KEY_Z85_LEN + 1];
    int fd;
    struct sockaddr_storage local, remote;
    socklen_t local_size, remote_size;
    int64_t seen_ms;
} s_peer_t;

//  An operator's command waiting for the cluster's result.
typedef struct {
    uint64_t token;
    unsigned char identity[256];
    size_t identity_size;
} s_pending_t;

//  A register change (regsvc.h) waiting for the cluster's result: the
//  call it answers is found again by its key (it may have expired).
typedef struct {
    uint64_t token;
    char *key;
    char *proposal;
} s_regwait_t;

struct _kp_node_t {
    kp_cluster_config_t cluster;
    kp_node_config_t me;
    kp_directory_t *directory;
    MDB_txn *txn;
    zsock_t *clients;
    zsock_t *workers;
    zsock_t *admin;
    kp_registry_t *registry;
    kp_flight_t *flight;
    kp_replay_t *replay;
    kp_stats_t *stats;
    kp_logger_t *logger;        //  the privacy log; NULL only when run unlogged
    kp_mirror_t *mirror;        //  ships it to the other site (NULL: no mirror)
    kp_mirror_keeper_t *keeper; //  keeps other nodes' copies (NULL: no mirror endpoint)
    const char *mirror_name;
    kp_outbox_t *outbox;
    kp_sendq_t *sendq;   //  what a turn sends, sent in bursts
    kp_notify_t *notify; //  mutations: publishes in, notifies out (notify.h)
    //  The directory's consensus (node/cluster.h): updates are proposed
    //  to it and answered when its result comes; reads never wait on it.
    kp_cluster_t *raft;
    kp_cluster_status_t raft_status; //  as the actor last pushed it
    bool replacing;                  //  a snapshot replaces the directory: no reads
    zlistx_t *pending;               //  s_pending_t: admin requests waiting for a result
    zlistx_t *regwait;               //  s_regwait_t: register changes waiting for a result
    kp_regmut_t *regmut;             //  register changes as mutations (NULL: no kbo)
    uint64_t next_token;
    kp_arena_t *scratch; //  worker frames are decoded here, one at a time
    bool log_failed;
    bool log_unavailable;    //  the log cannot write for want of space
    bool log_space_low;      //  its disk's free space is under the alarm
    uint64_t log_free_bytes; //  free space on the log's disk, last look
    int64_t next_space_check_ms;
    bool warming;            //  in the warm-up after start (see s_warming_up)
    kp_waiting_t *waiting;   //  parts waiting for a busy institution, per institution
    kp_inflight_t *inflight; //  calls in flight per client, bounded
    kp_conns_t *conns;       //  counts connections, closes those past the maximum
    int64_t started_ms;
    int64_t next_heartbeat_ms;
    int64_t next_dead_check_ms;
    bool stopping;
    kp_httpd_t *httpd;     //  /metrics, /healthz, /readyz; NULL without "metrics"
    kp_service_t *service; //  systemd readiness and watchdog
    int64_t next_publish_ms;
    int64_t started_unix;
    //  The clocks, read once per turn of the loop (a turn lasts well under
    //  a millisecond): deadlines, heartbeats, maintenance windows and the
    //  date of the control need no finer grain, and ten clock reads per
    //  request were 4% of the loop. Latencies still read the clock.
    int64_t now_ms;   //  monotonic
    int64_t now_unix; //  seconds
    int32_t today;    //  days since 1970-01-01, UTC
    //  Identity (see the comment at the top); all unused when insecure.
    bool secure;
    zcert_t *cert;
    kp_zap_t *zap;
    char node_keys[KP_CONFIG_MAX_NODES][KP_CURVE_Z85]; //  per node of the file; "" unknown
    kp_dirscan_t *dirscan;                             //  checksum and export, off the loop
    bool mirror_no_quorum; //  told the mirror that the node lost its majority
    zhashx_t *peers;       //  socket and routing id, in hex -> s_peer_t
    int64_t next_peer_check_ms;
    uint64_t peers_seq; //  directory sequence and day of the last check
    int32_t peers_day;
    uint64_t admin_count; //  admin commands, for their log records' ids
    uint64_t revoked;     //  connections closed for a revoked key
};

//  A frame as received from a ROUTER: who sent it, and its one body.
typedef struct {
    unsigned char identity[KP_ID_MAX];
    size_t identity_size;
    zmq_msg_t body;
    int frames; //  body frames, not counting the identity
    s_auth_t auth;
} s_input_t;

//  Memory and strings that live as long as request (in its arena).
static char *s_request_strdup(Kp__Request *request, const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = kp_frames_request_alloc(request, size);
    assert(copy);
    memcpy(copy, text, size);
    return copy;
}

//  The key a request's call, response and replay entry are found by: the
//  request id alone in an insecure cluster, else the caller's identity, a
//  unit separator, and the id. Lives as long as the request.
static const char *s_owner_key(Kp__Request *request, const s_auth_t *auth)
{
    if (!auth->secure)
        return request->request_id;
    size_t ilen = strlen(auth->identity), size = ilen + 1 + strlen(request->request_id) + 1;
    char *key = kp_frames_request_alloc(request, size);
    assert(key);
    memcpy(key, auth->identity, ilen);
    key[ilen] = '\x1f';
    memcpy(key + ilen + 1, request->request_id, size - ilen - 1);
    return key;
}

//  Whom a call counts against for limits/max-in-flight: the
//  authenticated identity when secure (the part of its owner key before
//  the separator), so that a client that reconnects or opens more
//  connections stays within its bound; the connection's routing id when
//  insecure (anyone may claim any user then).
static void s_inflight_client(const kp_node_t *self, const kp_call_t *call, const void **client,
                              size_t *size)
{
    const char *separator = self->secure ? strchr(call->key, '\x1f') : NULL;
    if (separator) {
        *client = call->key;
        *size = (size_t)(separator - call->key);
    } else {
        *client = call->client;
        *size = call->client_size;
    }
}

static void s_inflight_release(kp_node_t *self, const kp_call_t *call)
{
    const void *client;
    size_t size;
    s_inflight_client(self, call, &client, &size);
    kp_inflight_release(self->inflight, client, size);
}

static void s_dispatch_part(kp_node_t *self, kp_call_t *call, size_t index);
static void s_complete(kp_node_t *self, kp_call_t *call);

//  ---------------------------------------------------------------------
//  Construction

//  A ROUTER bound to endpoint; CURVE with cert (NULL: plain text), its
//  ZAP domain named what.
static zsock_t *s_bind(kp_node_t *self, const char *endpoint, const char *what, size_t max_msg,
                       zcert_t *cert, char *err, size_t errlen)
{
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (!sock) {
        snprintf(err, errlen, "cannot make the %s socket: %s", what, zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (cert && kp_curve_server(zsock_resolve(sock), cert, what, err, errlen)) {
        zsock_destroy(&sock);
        return NULL;
    }
    zsock_set_sndhwm(sock, 100000);
    zsock_set_rcvhwm(sock, 100000);
    zsock_set_linger(sock, 0);
    //  libzmq drops a peer that sends more than this; between max-frame and
    //  this, the node still reads the frame and answers FRAME_TOO_LARGE.
    zsock_set_maxmsgsize(sock, (int)(max_msg > INT32_MAX ? INT32_MAX : max_msg));
    //  A connection that has not finished its handshake by then is closed:
    //  idle TCP connections cannot hold the node's places for long.
    zsock_set_handshake_ivl(sock, (int)self->cluster.limits.handshake_ms);
    //  Operators' connections are not counted: a flood of clients must not
    //  lock out the operator who comes to look at it.
    if (strcmp(what, "admin") && kp_conns_watch(self->conns, sock, err, errlen)) {
        zsock_destroy(&sock);
        return NULL;
    }
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        snprintf(err, errlen, "cannot bind the %s endpoint %s: %s; is another node running there?",
                 what, endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
    }
    return sock;
}

//  The log's signing key must be the node's alone: one that others can
//  read could sign a forged log. No key: the log is unsigned, said at
//  every start.
static int s_check_log_key(kp_node_t *self, char *err, size_t errlen)
{
    const char *key = self->cluster.log_key;
    if (!*key) {
        zsys_warning("kpnode %s: the cluster file names no log-key: the privacy log's "
                     "checkpoints are not signed (make a key with 'kpctl keys --out FILE' and "
                     "name it with log-key under cluster)",
                     self->me.name);
        return 0;
    }
    struct stat st;
    if (stat(key, &st) == 0 && (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "the log key %s is readable by others (mode %03o): 'chmod 600 %s', and make a "
                 "new key if others may have read it",
                 key, (unsigned)(st.st_mode & 0777), key);
        return -1;
    }
    return 0;
}

static kp_logger_t *s_open_log(kp_node_t *self, char *err, size_t errlen)
{
    char path[KP_CONFIG_TEXT + 16];
    snprintf(path, sizeof path, "%s/log", self->me.data);
    if (s_check_log_key(self, err, errlen))
        return NULL;
    kp_privlog_options_t options;
    kp_privlog_options_default(&options);
    options.key_file = *self->cluster.log_key ? self->cluster.log_key : NULL;
    options.segment_max = (uint64_t)self->cluster.log_segment_mib << 20;
    kp_privlog_recovery_t recovery;
    char error[256];
    kp_logger_t *logger = kp_logger_new(path, &options, &recovery, error, sizeof error);
    if (!logger) {
        snprintf(err, errlen, "privacy log %s: %s", path, error);
        return NULL;
    }
    if (recovery.torn)
        zsys_warning("privacy log: a torn record at the end of %s (offset %llu, %llu bytes) "
                     "was cut off; it described no response that was sent",
                     recovery.segment, (unsigned long long)recovery.offset,
                     (unsigned long long)recovery.bytes_dropped);
    return logger;
}

//  The privacy log on two sites (log/mirror.h): keep other nodes' copies
//  if this node has a mirror endpoint, ship this node's log to its mirror.
//  CURVE unless insecure: the node's certificate on both ends, the
//  keeper's node key trusted by the shipper, and each copy written only
//  from the key of the node it copies.
static int s_open_mirror(kp_node_t *self, char *err, size_t errlen)
{
    char path[KP_CONFIG_TEXT + 16];
    if (*self->me.mirror) {
        char error[256];
        const char *names[KP_CONFIG_MAX_NODES], *keys[KP_CONFIG_MAX_NODES];
        size_t count = 0;
        for (size_t i = 0; i < self->cluster.node_count; i++)
            if (strcmp(self->cluster.nodes[i].name, self->me.name)) {
                keys[count] = self->node_keys[i];
                names[count++] = self->cluster.nodes[i].name;
            }
        snprintf(path, sizeof path, "%s/mirror", self->me.data);
        self->keeper = kp_mirror_keeper_new(path, self->me.mirror, names, keys, count, self->cert,
                                            error, sizeof error);
        if (!self->keeper) {
            snprintf(err, errlen, "%s", error);
            return -1;
        }
    }
    const kp_node_config_t *mirror = kp_config_log_mirror(&self->cluster, &self->me);
    if (!self->logger || !mirror)
        return 0;
    snprintf(path, sizeof path, "%s/log", self->me.data);
    kp_mirror_curve_t curve = {self->cert, self->node_keys[mirror - self->cluster.nodes]};
    self->mirror = kp_mirror_new(self->me.name, path, mirror->mirror,
                                 self->cluster.log_mirror_timeout_ms, &curve);
    if (!self->mirror) {
        snprintf(err, errlen, "log mirror: cannot connect to %s (%s)", mirror->mirror,
                 mirror->name);
        return -1;
    }
    self->mirror_name = mirror->name;
    if (self->cluster.log_two_sites) {
        kp_outbox_set_mirror(self->outbox, self->mirror);
        kp_notify_set_mirror(self->notify, self->mirror);
    }
    kp_mirror_durable(self->mirror, kp_logger_durable(self->logger));
    return 0;
}

static void s_pending_destroy(s_pending_t **pending_p)
{
    free(*pending_p);
    *pending_p = NULL;
}

static void s_regwait_destroy(s_regwait_t **wait_p)
{
    if (*wait_p) {
        free((*wait_p)->key);
        free((*wait_p)->proposal);
        free(*wait_p);
        *wait_p = NULL;
    }
}

static void s_peer_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

//  The node keys of the cluster file, the members' only credential on
//  the peer and mirror links: each node's `public-key`, or the public
//  file of its `cert`. A node whose key cannot be read is left out; that
//  is an error when this node talks to peers (a cluster, a log mirror).
static int s_node_keys(kp_node_t *self, char *err, size_t errlen)
{
    bool needed = self->cluster.clustered || *self->me.mirror ||
                  kp_config_log_mirror(&self->cluster, &self->me);
    for (size_t i = 0; i < self->cluster.node_count; i++) {
        char reason[400];
        if (kp_curve_node_key(&self->cluster.nodes[i], self->node_keys[i], reason, sizeof reason) ==
            0)
            continue;
        self->node_keys[i][0] = '\0';
        if (needed) {
            snprintf(err, errlen,
                     "%s; the peer and log mirror links accept only the node keys of the cluster "
                     "file",
                     reason);
            return -1;
        }
    }
    return 0;
}

//  CURVE unless the cluster is insecure: the node's certificate, the ZAP
//  handler, the table of peers. Plain text only when asked for. Before
//  any socket of the node binds (the cluster's peer socket included), so
//  that every handshake meets the handler.
static int s_secure_start(kp_node_t *self, char *err, size_t errlen)
{
    if (self->cluster.insecure) {
        zsys_warning("kpnode %s: insecure = true: plain text on every socket, no keys checked, "
                     "any caller may claim any user",
                     self->me.name);
        return 0;
    }
    if (!*self->me.cert) {
        snprintf(err, errlen,
                 "node %s has no certificate: make one with 'kpctl keys new keys/%s.cert', name "
                 "it in the cluster file (cert = \"keys/%s.cert\" under the node) and add its "
                 "public key to the directory; or, for a test, say insecure = true under cluster",
                 self->me.name, self->me.name, self->me.name);
        return -1;
    }
    char reason[512];
    self->cert = kp_curve_cert_load(self->me.cert, true, reason, sizeof reason);
    if (!self->cert) {
        snprintf(err, errlen, "node %s: %s", self->me.name, reason);
        return -1;
    }
    if (s_node_keys(self, err, errlen))
        return -1;
    const char *keys[KP_CONFIG_MAX_NODES];
    size_t count = 0;
    for (size_t i = 0; i < self->cluster.node_count; i++)
        if (*self->node_keys[i])
            keys[count++] = self->node_keys[i];
    self->zap = kp_zap_new(self->directory, keys, count, err, errlen);
    if (!self->zap)
        return -1;
    self->peers = zhashx_new();
    assert(self->peers);
    zhashx_set_destructor(self->peers, s_peer_destroy);
    self->secure = true;
    return 0;
}

kp_node_t *kp_node_new(const kp_cluster_config_t *cluster, const kp_node_config_t *me,
                       const char *data_dir, bool unlogged, char *err, size_t errlen)
{
    kp_node_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cluster = *cluster;
    self->me = *me;
    if (data_dir)
        snprintf(self->me.data, sizeof self->me.data, "%s", data_dir);
    char path[KP_CONFIG_TEXT + 16];
    snprintf(path, sizeof path, "%s/directory", self->me.data);
    self->directory = kp_directory_new(path, err, errlen);
    //  Every register change becomes a mutation from the broker's own
    //  institution (regmut.h), before the cluster applies anything.
    if (self->directory && *cluster->kbo)
        self->regmut = kp_regmut_new(self->directory, cluster->kbo);
    self->conns = kp_conns_new(cluster->limits.max_connections);
    size_t client_max = cluster->max_frame * 4;
    //  The ZAP handler before the cluster's peer socket binds; the cluster
    //  before the node's read transaction (starting it may load the
    //  directory from an install a crash cut short).
    bool secured = self->directory && self->conns && s_secure_start(self, err, errlen) == 0;
    if (secured)
        self->raft = kp_cluster_new(cluster, &self->me, self->directory, err, errlen);
    if (self->raft) {
        //  The log is read where the node writes it (s_open_log), if it
        //  keeps one; the scanner opens it only when asked.
        char log_dir[KP_CONFIG_TEXT + 8];
        snprintf(log_dir, sizeof log_dir, "%s/log", self->me.data);
        bool logged = me->role != KP_ROLE_WITNESS && !unlogged;
        char copies_dir[KP_CONFIG_TEXT + 8];
        snprintf(copies_dir, sizeof copies_dir, "%s/mirror", self->me.data);
        self->dirscan = kp_dirscan_new(self->directory, logged ? log_dir : NULL,
                                       *self->me.mirror ? copies_dir : NULL);
        assert(self->dirscan);
        self->txn = kp_directory_read_begin(self->directory, err, errlen);
        if (self->txn)
            kp_directory_read_reset(self->txn);
    }
    //  A witness votes and keeps the raft log; it serves no client or
    //  worker and so keeps no privacy log.
    bool serves = me->role != KP_ROLE_WITNESS;
    secured = secured && self->txn;
    if (secured && serves)
        self->clients = s_bind(self, me->client, "client", client_max, self->cert, err, errlen);
    if (self->clients)
        self->workers = s_bind(self, me->worker, "worker", client_max, self->cert, err, errlen);
    if (self->workers || (secured && !serves))
        self->admin = s_bind(self, me->admin, "admin", KP_ADMIN_MAX_FRAME, self->cert, err, errlen);
    if (self->admin && serves && !unlogged)
        self->logger = s_open_log(self, err, errlen);
    if (self->admin && (!serves || unlogged || self->logger) && *me->metrics)
        self->httpd = kp_httpd_new(me->metrics, err, errlen);
    if (!self->admin || (serves && !unlogged && !self->logger) || (*me->metrics && !self->httpd)) {
        kp_node_destroy(&self);
        return NULL;
    }
    self->registry = kp_registry_new(cluster->heartbeat_ms);
    self->flight = kp_flight_new();
    kp_flight_set_request_free(self->flight, kp_frames_request_free);
    kp_flight_set_hedging(self->flight, cluster->hedge_min_ms, cluster->hedge_max_ms);
    self->scratch = kp_arena_new(64 * 1024);
    assert(self->scratch);
    self->replay = kp_replay_new(KP_REPLAY_MS, KP_REPLAY_MAX);
    self->stats = kp_stats_new();
    self->sendq = kp_sendq_new(KP_BURST);
    assert(self->sendq);
    self->outbox = kp_outbox_new(self->clients, self->sendq, self->logger, self->replay);
    kp_notify_options_t notify = {.node = self->me.name,
                                  .ack_timeout_ms = cluster->mutation_ack_timeout_ms,
                                  .max_backoff_ms = cluster->mutation_max_backoff_ms,
                                  .window = cluster->mutation_window,
                                  .batch_ms = cluster->mutation_batch_ms,
                                  .replay_window_ms = cluster->mutation_replay_window_s * 1000,
                                  .retention_days = cluster->mutation_retention_days,
                                  .retention_ms = cluster->mutation_retention_s * 1000,
                                  .max_payload = cluster->mutation_max_payload};
    self->notify = kp_notify_new(self->directory, self->logger, &notify);
    if (s_open_mirror(self, err, errlen)) {
        kp_node_destroy(&self);
        return NULL;
    }
    self->waiting = kp_waiting_new(cluster->limits.max_waiting);
    self->inflight = kp_inflight_new(cluster->limits.max_in_flight);
    assert(self->waiting && self->inflight);
    self->pending = zlistx_new();
    zlistx_set_destructor(self->pending, (zlistx_destructor_fn *)s_pending_destroy);
    self->regwait = zlistx_new();
    zlistx_set_destructor(self->regwait, (zlistx_destructor_fn *)s_regwait_destroy);
    kp_cluster_status(self->raft, &self->raft_status);
    self->started_ms = zclock_mono();
    self->started_unix = (int64_t)time(NULL);
    self->service = kp_service_new();
    self->warming = true;
    return self;
}

void kp_node_destroy(kp_node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_node_t *self = *self_p;
    kp_httpd_destroy(&self->httpd);
    kp_service_destroy(&self->service);
    //  The cluster first: it writes the directory, and answers what is
    //  pending (nobody reads those answers any more).
    kp_cluster_destroy(&self->raft);
    zlistx_destroy(&self->pending);
    zlistx_destroy(&self->regwait);
    kp_flight_destroy(&self->flight);
    kp_arena_destroy(&self->scratch);
    kp_outbox_destroy(&self->outbox);
    kp_notify_destroy(&self->notify);
    kp_sendq_destroy(&self->sendq); //  before the sockets it sends on
    kp_mirror_destroy(&self->mirror);
    kp_mirror_keeper_destroy(&self->keeper);
    kp_logger_destroy(&self->logger);
    kp_registry_destroy(&self->registry);
    kp_replay_destroy(&self->replay);
    kp_stats_destroy(&self->stats);
    kp_waiting_destroy(&self->waiting);
    kp_inflight_destroy(&self->inflight);
    zsock_destroy(&self->clients);
    zsock_destroy(&self->workers);
    zsock_destroy(&self->admin);
    kp_conns_destroy(&self->conns); //  after the sockets it watches
    kp_zap_destroy(&self->zap);     //  before the directory it reads
    kp_dirscan_destroy(&self->dirscan);
    zcert_destroy(&self->cert);
    zhashx_destroy(&self->peers);
    kp_directory_read_end(&self->txn);
    kp_directory_destroy(&self->directory);
    kp_regmut_destroy(&self->regmut); //  after the directory that calls it
    free(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Sockets

//  Receives one routed message without blocking. Returns 0, or -1 when
//  nothing is waiting. Frames past the first body frame are counted and
//  dropped.
static int s_recv(zsock_t *sock, s_input_t *input)
{
    void *handle = zsock_resolve(sock);
    zmq_msg_t identity;
    zmq_msg_init(&identity);
    if (zmq_msg_recv(&identity, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&identity);
        return -1;
    }
    size_t size = zmq_msg_size(&identity);
    input->identity_size = size < KP_ID_MAX ? size : KP_ID_MAX;
    memcpy(input->identity, zmq_msg_data(&identity), input->identity_size);
    bool more = zmq_msg_more(&identity);
    zmq_msg_close(&identity);
    zmq_msg_init(&input->body);
    input->frames = 0;
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_t *target = input->frames == 0 ? &input->body : &extra;
        if (zmq_msg_recv(target, handle, 0) < 0)
            break;
        input->frames++;
        more = zmq_msg_more(target);
        zmq_msg_close(&extra);
    }
    return 0;
}

static void s_send_worker(kp_node_t *self, const void *identity, size_t identity_size,
                          const Kp__WorkerFrame *frame)
{
    size_t size = kp__worker_frame__get_packed_size(frame);
    uint8_t *body = kp_sendq_reserve(self->sendq, self->workers, identity, identity_size, size);
    if (body)
        kp__worker_frame__pack(frame, body);
}

//  kp_notify_send_fn: a packed WorkerFrame to a worker.
static void s_send_packed(void *arg, const void *identity, size_t identity_size,
                          const uint8_t *data, size_t len)
{
    kp_node_t *self = (kp_node_t *)arg;
    uint8_t *body = kp_sendq_reserve(self->sendq, self->workers, identity, identity_size, len);
    if (body)
        memcpy(body, data, len);
}

//  ---------------------------------------------------------------------
//  Answers

//  Who asked what about whom: the part of a log record that the control
//  knows when it decides. Never the payload.
static void s_record_who(kp_node_t *self, const Kp__Request *request, const kp_decision_t *decision,
                         char *request_id, Kp__LogRecord *record)
{
    kp__log_record__init(record);
    record->request_id = request_id;
    record->has_time_unix_us = true;
    record->time_unix_us = (uint64_t)zclock_time() * 1000;
    record->node = self->me.name;
    if (request) {
        record->message = request->message;
        record->user = request->user;
        record->has_sector = request->has_sector;
        record->sector = request->sector;
        record->has_type = request->has_type;
        record->type = request->type;
        record->legal_framework = request->legal_framework;
        record->person = request->person;
        record->has_capacity = request->has_capacity;
        record->capacity = request->capacity;
    }
    if (decision && *decision->requester_kbo)
        record->sender_kbo = (char *)decision->requester_kbo;
    else if (request && request->legal_framework)
        record->sender_kbo = request->kbo;
}

//  The parts of a response as log parts: who answered, and how.
static void s_record_parts(const Kp__Response *response, Kp__LogRecord *record, Kp__LogPart *parts,
                           Kp__LogPart **part_list)
{
    for (size_t i = 0; i < response->n_parts; i++) {
        kp__log_part__init(&parts[i]);
        parts[i].kbo = response->parts[i]->kbo;
        parts[i].has_status = true;
        parts[i].status = response->parts[i]->status;
        part_list[i] = &parts[i];
    }
    record->n_parts = response->n_parts;
    record->parts = part_list;
}

//  The one COMPLETE record of an answer without providers (a refusal,
//  NO_DATA, an invalid request): the decision and its outcome.
static void s_record(kp_node_t *self, const Kp__Request *request, const kp_decision_t *decision,
                     const Kp__Response *response, Kp__LogRecord *record, Kp__LogPart *parts,
                     Kp__LogPart **part_list)
{
    s_record_who(self, request, decision, response->request_id, record);
    record->has_status = true;
    record->status = response->status;
    record->has_reason = response->has_reason;
    record->reason = response->reason;
    record->has_latency_us = true;
    record->latency_us = response->latency_us;
    s_record_parts(response, record, parts, part_list);
}

//  Appends the DECISION record of a call the control allowed: everything
//  the law asks the log to hold, destinations included, known before any
//  provider is asked. Its sequence number, or 0 if it cannot be logged.
static uint64_t s_log_decision(kp_node_t *self, const kp_call_t *call)
{
    Kp__LogRecord record;
    Kp__LogPart parts[KP_MAX_PROVIDERS];
    Kp__LogPart *part_list[KP_MAX_PROVIDERS];
    s_record_who(self, call->request, &call->decision, call->request_id, &record);
    record.has_kind = true;
    record.kind = KP__LOG_KIND__LOG_DECISION;
    record.has_status = true;
    record.status = KP__STATUS__OK;
    record.has_reason = call->decision.reason != KP__REASON__REASON_NONE;
    record.reason = call->decision.reason;
    for (size_t i = 0; i < call->part_count; i++) {
        kp__log_part__init(&parts[i]);
        parts[i].kbo = (char *)call->parts[i].kbo;
        part_list[i] = &parts[i];
    }
    record.n_parts = call->part_count;
    record.parts = part_list;
    return kp_logger_log(self->logger, &record);
}

//  Appends the OUTCOME record of a completed call: its DECISION's seq,
//  each part's status and the latency. Made durable by the next group
//  commit; nobody waits for it.
static int s_log_outcome(kp_node_t *self, const kp_call_t *call, const Kp__Response *response)
{
    Kp__LogRecord record;
    Kp__LogPart parts[KP_MAX_PROVIDERS];
    Kp__LogPart *part_list[KP_MAX_PROVIDERS];
    kp__log_record__init(&record);
    record.request_id = call->request_id;
    record.has_time_unix_us = true;
    record.time_unix_us = (uint64_t)zclock_time() * 1000;
    record.node = self->me.name;
    //  The message type stays (kpctl report counts service levels per
    //  type from the OUTCOME); the person and the sender are in the
    //  DECISION, which the index finds the OUTCOME through.
    record.message = call->request->message;
    record.has_kind = true;
    record.kind = KP__LOG_KIND__LOG_OUTCOME;
    record.has_decision_seq = true;
    record.decision_seq = call->decision_seq;
    record.has_status = true;
    record.status = response->status;
    record.has_latency_us = true;
    record.latency_us = response->latency_us;
    s_record_parts(response, &record, parts, part_list);
    return kp_logger_log_later(self->logger, &record) ? 0 : -1;
}

//  The log has failed: from now on nothing more is answered.
static void s_log_failed(kp_node_t *self)
{
    if (!self->log_failed)
        zsys_error("kpnode %s: privacy log failed (%s); no more answers leave this node",
                   self->me.name, kp_logger_error(self->logger));
    self->log_failed = true;
}

//  Hands the records logged since the last flush to the logger.
static void s_log_flush(kp_node_t *self)
{
    if (self->logger && kp_logger_flush(self->logger))
        s_log_failed(self);
}

//  The answer while the log cannot make a record durable: nothing was
//  decided or asked, so it needs no record (and none could be written);
//  the client goes to another node.
static void s_answer_log_unavailable(kp_node_t *self, const void *identity, size_t identity_size,
                                     const char *request_id, int64_t start_us)
{
    Kp__Response response = KP__RESPONSE__INIT;
    response.request_id = (char *)(request_id ? request_id : "");
    response.has_status = true;
    response.status = KP__STATUS__UNAVAILABLE;
    response.has_reason = true;
    response.reason = KP__REASON__LOG_UNAVAILABLE;
    response.detail = "this node's privacy log cannot write (disk full?); send the request to "
                      "another node";
    response.has_latency_us = true;
    response.latency_us = (uint64_t)(zclock_usecs() - start_us);
    kp_outbox_send_unlogged(self->outbox, identity, identity_size, &response);
    kp_stats_request(self->stats, response.status, response.reason, NULL, 0, response.latency_us);
}

//  Sends response once its log record is durable; counts it.
//  key: what a retry finds it by (s_owner_key), or NULL: not remembered.
static void s_respond(kp_node_t *self, const void *identity, size_t identity_size, const char *key,
                      const Kp__Request *request, const kp_decision_t *decision,
                      const Kp__Response *response)
{
    if (self->log_unavailable) {
        s_answer_log_unavailable(self, identity, identity_size, response->request_id,
                                 zclock_usecs() - (int64_t)response->latency_us);
        return;
    }
    Kp__LogRecord record;
    Kp__LogPart parts[KP_MAX_PROVIDERS];
    Kp__LogPart *part_list[KP_MAX_PROVIDERS];
    s_record(self, request, decision, response, &record, parts, part_list);
    if (kp_outbox_send(self->outbox, identity, identity_size, key, response, &record))
        s_log_failed(self);
    //  An invalid request's message type may be anything a caller sent.
    const char *message =
        request && response->status != KP__STATUS__INVALID ? request->message : NULL;
    kp_stats_request(self->stats, response->status, response->reason, message, response->n_parts,
                     response->latency_us);
}

//  Answers at once, without any provider: refusals, NO_DATA, bad frames.
static void s_answer(kp_node_t *self, const void *identity, size_t identity_size, const char *key,
                     const Kp__Request *request, const kp_decision_t *decision, Kp__Status status,
                     Kp__Reason reason, const char *detail, int64_t start_us)
{
    Kp__Response response = KP__RESPONSE__INIT;
    response.request_id = request && request->request_id ? request->request_id : "";
    response.has_status = true;
    response.status = status;
    response.has_reason = reason != KP__REASON__REASON_NONE;
    response.reason = reason;
    response.detail = (char *)detail;
    response.has_latency_us = true;
    response.latency_us = (uint64_t)(zclock_usecs() - start_us);
    s_respond(self, identity, identity_size, key, request, decision, &response);
}

//  Every part of call is in: builds the response and sends it once its
//  DECISION record is durable (kp_outbox_send_after), logs the OUTCOME,
//  and frees the call.
static void s_complete(kp_node_t *self, kp_call_t *call)
{
    Kp__Part parts[KP_MAX_PROVIDERS];
    Kp__Part *part_list[KP_MAX_PROVIDERS];
    for (size_t i = 0; i < call->part_count; i++) {
        kp__part__init(&parts[i]);
        kp_part_t *part = &call->parts[i];
        parts[i].kbo = part->kbo;
        parts[i].has_status = true;
        parts[i].status = part->status;
        parts[i].has_payload = part->payload_size > 0;
        parts[i].payload.data = part->payload;
        parts[i].payload.len = part->payload_size;
        parts[i].until = *part->until ? part->until : NULL;
        parts[i].has_reason = part->reason != KP__REASON__REASON_NONE;
        parts[i].reason = part->reason;
        part_list[i] = &parts[i];
    }
    Kp__Response response = KP__RESPONSE__INIT;
    response.request_id = call->request_id;
    response.has_status = true;
    response.status = kp_call_status(call);
    response.reason = kp_call_reason(call);
    response.has_reason = response.reason != KP__REASON__REASON_NONE;
    response.n_parts = call->part_count;
    response.parts = part_list;
    response.has_latency_us = true;
    response.latency_us = (uint64_t)(zclock_usecs() - call->start_us);
    if (!self->logger)
        s_respond(self, call->client, call->client_size, call->key, call->request, &call->decision,
                  &response);
    else {
        //  The DECISION was logged before the providers were asked: the
        //  answer leaves as soon as that record is durable (perhaps at
        //  once); the OUTCOME follows in the next group commit.
        if (self->log_unavailable && call->decision_seq > kp_logger_durable(self->logger)) {
            //  Its decision cannot be made durable now: the client hears
            //  LOG_UNAVAILABLE, and the outcome says so.
            s_answer_log_unavailable(self, call->client, call->client_size, call->request_id,
                                     call->start_us);
            response.status = KP__STATUS__UNAVAILABLE;
            response.has_reason = true;
            response.reason = KP__REASON__LOG_UNAVAILABLE;
        } else {
            kp_outbox_send_after(self->outbox, call->client, call->client_size, call->key,
                                 &response, call->decision_seq);
            kp_stats_request(self->stats, response.status, response.reason, call->request->message,
                             response.n_parts, response.latency_us);
        }
        if (s_log_outcome(self, call, &response))
            s_log_failed(self);
    }
    s_inflight_release(self, call);
    kp_flight_finish(self->flight, &call);
}

//  ---------------------------------------------------------------------
//  Dispatch to workers

typedef struct {
    const char *message;
    int64_t now_s;
    bool found;
    char until[24]; //  copied: the record lives only during the callback
} s_window_t;

static int s_window_check(const Kp__DirectoryRecord *record, void *arg)
{
    s_window_t *window = (s_window_t *)arg;
    const Kp__Maintenance *m = record->maintenance;
    int64_t from, to;
    if (!m || (m->message && *m->message && strcmp(m->message, window->message)))
        return 0;
    if (kp_time_parse(m->from, &from) || kp_time_parse(m->to, &to))
        return 0;
    if (from <= window->now_s && window->now_s <= to) {
        snprintf(window->until, sizeof window->until, "%s", m->to);
        window->found = true;
        return 1;
    }
    return 0;
}

//  The end of a maintenance window of kbo for message covering now, or NULL.
static bool s_in_maintenance(kp_node_t *self, const char *kbo, const char *message, char until[24])
{
    s_window_t window = {message, self->now_unix, false, ""};
    kp_directory_maintenance_each(self->directory, self->txn, kbo, s_window_check, &window);
    if (window.found)
        memcpy(until, window.until, sizeof window.until);
    return window.found;
}

//  Sends part index of call to worker under ticket.
static void s_send_work(kp_node_t *self, kp_call_t *call, kp_registry_worker_t *worker,
                        uint64_t ticket)
{
    const Kp__Request *request = call->request;
    Kp__WorkerRequest work = KP__WORKER_REQUEST__INIT;
    work.request_id = call->request_id;
    work.message = request->message;
    work.person = request->person;
    work.has_capacity = request->has_capacity;
    work.capacity = request->capacity;
    work.has_payload = request->has_payload;
    work.payload = request->payload;
    work.requester_kbo = call->decision.requester_kbo;
    work.user = request->user;
    work.has_deadline_unix_ms = true;
    work.deadline_unix_ms = (uint64_t)(self->now_unix * 1000 + (call->deadline_ms - self->now_ms));
    work.has_ticket = true;
    work.ticket = ticket;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_REQUEST;
    frame.request = &work;
    size_t size;
    const void *identity = kp_registry_worker_identity(worker, &size);
    s_send_worker(self, identity, size, &frame);
}

//  Hands part index of call to worker, under a new ticket.
static void s_send_request(kp_node_t *self, kp_call_t *call, size_t index,
                           kp_registry_worker_t *worker)
{
    s_send_work(self, call, worker, kp_flight_dispatch(self->flight, call, index, worker));
}

//  Just after a start, workers have not had time to (re)connect: for three
//  heartbeat intervals (the time in which a worker notices a lost node), a
//  part whose institution has no live worker waits for one instead of
//  being answered UNAVAILABLE at once.
static bool s_warming_up(kp_node_t *self)
{
    return self->now_ms - self->started_ms < 3 * (int64_t)self->cluster.heartbeat_ms;
}

static bool s_still_waiting(uint64_t ticket, void *arg)
{
    size_t index;
    kp_call_t *call = kp_flight_by_ticket(((kp_node_t *)arg)->flight, ticket, &index);
    return call && call->parts[index].waiting;
}

static void s_dispatch_part(kp_node_t *self, kp_call_t *call, size_t index)
{
    kp_part_t *part = &call->parts[index];
    const char *message = call->request->message;
    if (s_in_maintenance(self, part->kbo, message, part->until)) {
        kp_flight_refuse_part(self->flight, call, index, KP__REASON__MAINTENANCE);
        return;
    }
    bool served;
    kp_registry_worker_t *worker = kp_registry_pick(self->registry, part->kbo, message, &served);
    if (!served && !s_warming_up(self)) {
        kp_flight_refuse_part(self->flight, call, index, KP__REASON__NO_LIVE_WORKER);
        return;
    }
    if (worker) {
        s_send_request(self, call, index, worker);
        return;
    }
    //  A waiting part still gets a ticket: its institution's queue names it.
    uint64_t ticket = kp_flight_dispatch(self->flight, call, index, NULL);
    if (kp_waiting_add(self->waiting, part->kbo, message, ticket, s_still_waiting, self)) {
        kp_stats_refused(self->stats, KP_LIMIT_WAITING);
        kp_flight_refuse_part(self->flight, call, index, KP__REASON__QUEUE_FULL);
    }
}

//  Gives the parts waiting in one queue (one institution, one message
//  type) to its workers while they have room; past the warm-up, a part
//  whose institution has no live worker is answered UNAVAILABLE. Stops at
//  the first part that finds every worker busy: the parts behind it need
//  the same workers, and a walk past them on every reply would cost the
//  loop (and every other institution) time in proportion to the queue.
static void s_drain_queue(kp_node_t *self, zlistx_t *queue)
{
    void *item = zlistx_first(queue);
    while (item) {
        void *cursor = zlistx_cursor(queue);
        item = zlistx_next(queue);
        size_t index;
        uint64_t ticket = (uint64_t)(uintptr_t)zlistx_handle_item(cursor);
        kp_call_t *call = kp_flight_by_ticket(self->flight, ticket, &index);
        if (!call || !call->parts[index].waiting) {
            zlistx_delete(queue, cursor);
            continue;
        }
        bool served;
        kp_registry_worker_t *worker = kp_registry_pick(self->registry, call->parts[index].kbo,
                                                        call->request->message, &served);
        if ((served && !worker) || (!served && s_warming_up(self)))
            break; //  busy for this message, or its workers may yet come
        zlistx_delete(queue, cursor);
        if (!served)
            kp_flight_refuse_part(self->flight, call, index, KP__REASON__NO_LIVE_WORKER);
        else
            s_send_request(self, call, index, worker);
        if (call->open_parts == 0)
            s_complete(self, call);
    }
}

//  Drains the queues of kbo, or every institution's when kbo is NULL.
static void s_drain_waiting(kp_node_t *self, const char *kbo)
{
    for (zlistx_t *queue = kp_waiting_first(self->waiting, kbo); queue;
         queue = kp_waiting_next(self->waiting))
        s_drain_queue(self, queue);
}

//  ---------------------------------------------------------------------
//  Clients

static int64_t s_deadline(kp_node_t *self, const Kp__Request *request)
{
    //  A longer deadline than the cluster's max-deadline was refused
    //  (kp_frames_request_check).
    uint32_t ms = request->has_deadline_ms && request->deadline_ms ? request->deadline_ms
                                                                   : self->cluster.deadline_ms;
    return self->now_ms + ms;
}

static void s_refuse_frame(kp_node_t *self, s_input_t *input, Kp__Reason reason, const char *detail,
                           int64_t start_us)
{
    kp_stats_bad_frame(self->stats, "client", reason);
    s_answer(self, input->identity, input->identity_size, NULL, NULL, NULL, KP__STATUS__INVALID,
             reason, detail, start_us);
}

//  Answers a request whose key (its sender and id) is known: from memory
//  if it was answered, by waiting if it is in flight. Returns true if it
//  was known.
static bool s_known_request(kp_node_t *self, s_input_t *input, const char *key)
{
    size_t size;
    const void *data = kp_replay_get(self->replay, key, &size);
    if (data) {
        kp_sendq_add(self->sendq, self->clients, input->identity, input->identity_size, data, size);
        return true;
    }
    if (kp_outbox_redirect(self->outbox, key, input->identity, input->identity_size))
        return true;
    kp_call_t *call = kp_flight_find(self->flight, key);
    if (!call)
        return false;
    //  The retry may come over a new connection: answer there (and, when
    //  insecure, count the call against that connection).
    if (!self->secure)
        kp_inflight_move(self->inflight, call->client, call->client_size, input->identity,
                         input->identity_size);
    memcpy(call->client, input->identity, input->identity_size);
    call->client_size = input->identity_size;
    return true;
}

//  How long this node's directory may have missed updates: the time since
//  its last sign of a majority (0 for a leader), counted from the start at
//  most. 0 when the node is a cluster of one.
static int64_t s_stale_ms(kp_node_t *self)
{
    if (!self->cluster.clustered)
        return 0;
    int64_t stale = kp_cluster_stale_ms(&self->raft_status, self->now_ms);
    int64_t up = self->now_ms - self->started_ms;
    return stale < up ? stale : up;
}

//  What a node removed from the membership says, to a client (what =
//  "request") or an operator (what = "update").
static void s_removed_text(kp_node_t *self, const char *what, char *text, size_t size)
{
    const kp_cluster_status_t *raft = &self->raft_status;
    snprintf(text, size,
             "node %s (site %s) was removed from the cluster (by %s, term %llu): it serves "
             "nothing and takes no update; send the %s to another node of the cluster",
             self->me.name, self->me.site, *raft->removed_by ? raft->removed_by : "the leader",
             (unsigned long long)raft->removed_term, what);
}

//  What a node without a majority says, to a client (what = "request")
//  or an operator (what = "update"): the last leader it knew, or that it
//  knows none, and where to go instead.
static void s_no_quorum_advice(kp_node_t *self, const char *last_leader, const char *what,
                               char *out, size_t outlen)
{
    const kp_node_config_t *leader =
        last_leader && *last_leader ? kp_config_node(&self->cluster, last_leader) : NULL;
    bool client = !strcmp(what, "request");
    if (!leader)
        snprintf(out, outlen,
                 "It knows no leader: none was elected since it started. Send the %s to a node "
                 "of another site%s, or wait until this node reaches the majority again",
                 what, client ? "" : " (kpctl --node NAME)");
    else if (!strcmp(leader->name, self->me.name))
        snprintf(out, outlen,
                 "It was the leader itself until it lost its majority. Send the %s to a node of "
                 "another site%s, where a new leader is elected, or wait until this node reaches "
                 "the majority again",
                 what, client ? "" : " (kpctl --node NAME)");
    else if (!strcmp(leader->site, self->me.site))
        snprintf(out, outlen,
                 "The last leader it knew is %s, of its own site %s, probably cut off with it. "
                 "Send the %s to a node of another site%s, or wait until this node reaches the "
                 "majority again",
                 leader->name, leader->site, what, client ? "" : " (kpctl --node NAME)");
    else if (client)
        snprintf(out, outlen,
                 "The last leader it knew is %s (site %s, client %s): send the request there or "
                 "to another node of the majority",
                 leader->name, leader->site, *leader->client ? leader->client : "none");
    else
        snprintf(out, outlen,
                 "The last leader it knew is %s (site %s): send the update there (kpctl --node "
                 "%s) or to another node of the majority, or wait until this node reaches the "
                 "majority again",
                 leader->name, leader->site, leader->name);
}

//  Starts the call of a request the control allowed (NO_DATA too when
//  nobody_ok: the node itself answers), or answers it at once (refused,
//  invalid, no data, too many in flight) and returns NULL.
static kp_call_t *s_admit(kp_node_t *self, s_input_t *input, Kp__Request *request, const char *key,
                          const kp_decision_t *decision, bool nobody_ok, int64_t start_us)
{
    Kp__Status status = KP__STATUS__OK;
    Kp__Reason reason = decision->reason;
    if (decision->verdict != KP_VERDICT_INVALID &&
        !kp_directory_message_known(self->directory, self->txn, request->message)) {
        status = KP__STATUS__INVALID;
        reason = KP__REASON__UNKNOWN_MESSAGE_TYPE;
    } else if (decision->verdict == KP_VERDICT_DENY)
        status = KP__STATUS__DENIED;
    else if (decision->verdict == KP_VERDICT_INVALID)
        status = KP__STATUS__INVALID;
    else if (decision->verdict == KP_VERDICT_NO_DATA && !nobody_ok)
        status = KP__STATUS__NO_DATA;
    if (status != KP__STATUS__OK) {
        s_answer(self, input->identity, input->identity_size, key, request, decision, status,
                 reason, NULL, start_us);
        kp_frames_request_free(request);
        return NULL;
    }
    bool by_identity = input->auth.secure;
    if (!kp_inflight_take(self->inflight,
                          by_identity ? (const void *)input->auth.identity : input->identity,
                          by_identity ? strlen(input->auth.identity) : input->identity_size)) {
        kp_stats_refused(self->stats, KP_LIMIT_IN_FLIGHT);
        s_answer(self, input->identity, input->identity_size, NULL, request, decision,
                 KP__STATUS__UNAVAILABLE, KP__REASON__TOO_MANY_IN_FLIGHT,
                 "this client (its key's user over all its connections; this connection when "
                 "insecure) has limits/max-in-flight calls in flight already; wait for their "
                 "answers",
                 start_us);
        kp_frames_request_free(request);
        return NULL;
    }
    kp_call_t *call = kp_flight_start(self->flight, request, input->identity, input->identity_size,
                                      key, decision, start_us, s_deadline(self, request));
    //  Write ahead of the providers: the DECISION record starts its way to
    //  disk now, and the providers work while it does.
    if (self->logger && !(call->decision_seq = s_log_decision(self, call))) {
        s_log_failed(self);
        s_inflight_release(self, call);
        kp_flight_finish(self->flight, &call);
        return NULL;
    }
    return call;
}

//  After the control's decision: answers a refusal (logged first), or
//  logs the DECISION and sends the parts to the providers.
static void s_route(kp_node_t *self, s_input_t *input, Kp__Request *request, const char *key,
                    const kp_decision_t *decision, int64_t start_us)
{
    kp_call_t *call = s_admit(self, input, request, key, decision, false, start_us);
    if (!call)
        return;
    for (size_t i = 0; i < call->part_count; i++)
        s_dispatch_part(self, call, i);
    if (call->open_parts == 0)
        s_complete(self, call);
}

//  ---------------------------------------------------------------------
//  The register message types (regsvc.h): the node is their provider

//  Closes the node's one part of a register call with answer and
//  completes the call.
static void s_builtin_answer(kp_node_t *self, kp_call_t *call, kp_regsvc_answer_t *answer,
                             Kp__Reason reason)
{
    call->parts[0].reason = reason;
    kp_flight_close_part(self->flight, call, 0, answer->status, (const uint8_t *)answer->payload,
                         strlen(answer->payload));
    free(answer->payload);
    answer->payload = NULL;
    s_complete(self, call);
}

//  The proposal key of a register change: who asked, and the request id,
//  so that a retry of the same request allocates nothing twice.
static char *s_proposal_key(const kp_call_t *call)
{
    const Kp__Request *request = call->request;
    char *key =
        zsys_sprintf("%s/%s/%s", call->decision.requester_kbo, request->user ? request->user : "",
                     request->request_id ? request->request_id : "");
    assert(key);
    for (char *p = key; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
    char *copy = strdup(key);
    zstr_free(&key);
    assert(copy);
    return copy;
}

//  Proposes the change of a register call; its answer comes with the
//  cluster's result (s_builtin_result).
static void s_builtin_write(kp_node_t *self, kp_call_t *call)
{
    kp_regsvc_answer_t answer = {0};
    char *proposal = s_proposal_key(call);
    uint8_t *packed = NULL;
    size_t size = 0;
    char error[512];
    if (kp_regsvc_update(call->request, proposal, call->decision.requester_kbo, self->today,
                         &packed, &size, &answer)) {
        free(proposal);
        s_builtin_answer(self, call, &answer, KP__REASON__REASON_NONE);
        return;
    }
    uint64_t token = ++self->next_token;
    if (kp_cluster_propose(self->raft, token, packed, size, error, sizeof error)) {
        free(proposal);
        free(packed);
        kp_regsvc_error(KP__STATUS__ERROR, error, NULL, &answer);
        s_builtin_answer(self, call, &answer, KP__REASON__REASON_NONE);
        return;
    }
    free(packed);
    s_regwait_t *wait = calloc(1, sizeof *wait);
    assert(wait);
    wait->token = token;
    wait->key = strdup(call->key ? call->key : call->request_id);
    wait->proposal = proposal;
    assert(wait->key);
    zlistx_add_end(self->regwait, wait);
}

//  A register request the control allowed: answered by the node, as the
//  provider the cluster file names (kbo). asked: the number the request
//  named before a merge's redirect, or NULL.
static void s_builtin(kp_node_t *self, s_input_t *input, Kp__Request *request, const char *key,
                      const kp_decision_t *decision, const char *asked, int64_t start_us)
{
    kp_decision_t own = *decision;
    if (own.verdict == KP_VERDICT_ALLOW || own.verdict == KP_VERDICT_NO_DATA) {
        own.verdict = KP_VERDICT_ALLOW;
        own.provider_count = 1;
        own.truncated = false;
        memcpy(own.providers[0], self->cluster.kbo, KP_KBO_LEN); //  a valid KBO (config.c)
        own.providers[0][KP_KBO_LEN] = '\0';
    }
    kp_call_t *call = s_admit(self, input, request, key, &own, true, start_us);
    if (!call)
        return;
    if (kp_regsvc_kind(request->message) == KP_REGSVC_WRITE) {
        s_builtin_write(self, call);
        return;
    }
    kp_regsvc_answer_t answer;
    kp_regsvc_read(self->directory, self->txn, call->request, asked, &answer);
    s_builtin_answer(self, call, &answer, KP__REASON__REASON_NONE);
}

//  The cluster's result for a register change; false if token is not one.
static bool s_builtin_result(kp_node_t *self, const kp_cluster_event_t *event)
{
    s_regwait_t *wait = zlistx_first(self->regwait);
    while (wait && wait->token != event->token)
        wait = zlistx_next(self->regwait);
    if (!wait)
        return false;
    kp_call_t *call = kp_flight_find(self->flight, wait->key);
    if (call && call->open_parts) {
        kp_regsvc_answer_t answer;
        Kp__Reason reason = KP__REASON__REASON_NONE;
        char error[256];
        //  The turn's read transaction may predate the commit: a new one.
        MDB_txn *txn = event->result == KP_CLUSTER_OK
                           ? kp_directory_read_begin(self->directory, error, sizeof error)
                           : NULL;
        if (txn) {
            kp_regsvc_committed(self->directory, txn, call->request, wait->proposal, &answer);
            kp_directory_read_end(&txn);
        } else if (event->result == KP_CLUSTER_OK)
            kp_regsvc_error(KP__STATUS__ERROR, error, NULL, &answer);
        else if (event->result == KP_CLUSTER_FAILED)
            kp_regsvc_error(KP__STATUS__INVALID, event->text, NULL, &answer);
        else {
            reason = event->result == KP_CLUSTER_NOT_LEADER  ? KP__REASON__NOT_LEADER
                     : event->result == KP_CLUSTER_NO_QUORUM ? KP__REASON__NO_QUORUM
                                                             : KP__REASON__OUTCOME_UNKNOWN;
            kp_regsvc_error(KP__STATUS__UNAVAILABLE,
                            reason == KP__REASON__OUTCOME_UNKNOWN
                                ? "the leader changed before the change was known committed; "
                                  "send the request again (same request id)"
                                : "this node cannot make the change; send it to the leader",
                            reason == KP__REASON__OUTCOME_UNKNOWN ? NULL : event->text, &answer);
        }
        s_builtin_answer(self, call, &answer, reason);
    }
    zlistx_delete(self->regwait, zlistx_cursor(self->regwait));
    return true;
}

//  A client's liveness probe: answered at once, from the loop itself, so
//  that the answer shows the loop turns (the I/O thread answers ZMTP
//  pings even when it does not). No control, no log record: it names no
//  one and asks nothing. UNAVAILABLE, with the reason, while the node
//  would refuse requests: a client coming back to its site (kp_client.h,
//  kp_client_set_site) waits for OK.

static void s_pong(kp_node_t *self, s_input_t *input, const Kp__Request *request)
{
    Kp__Response pong = KP__RESPONSE__INIT;
    pong.request_id = request->request_id;
    pong.has_status = true;
    pong.status = KP__STATUS__OK;
    Kp__Reason reason = self->log_unavailable ? KP__REASON__LOG_UNAVAILABLE
                        : self->stopping      ? KP__REASON__SHUTTING_DOWN
                        : self->raft_status.removed ||
                                s_stale_ms(self) > (int64_t)self->cluster.stale_limit_s * 1000
                            ? KP__REASON__NO_QUORUM
                            : KP__REASON__REASON_NONE;
    if (reason != KP__REASON__REASON_NONE) {
        pong.status = KP__STATUS__UNAVAILABLE;
        pong.has_reason = true;
        pong.reason = reason;
    }
    size_t size = kp__response__get_packed_size(&pong);
    uint8_t *body =
        kp_sendq_reserve(self->sendq, self->clients, input->identity, input->identity_size, size);
    if (body)
        kp__response__pack(&pong, body);
}

//  The checks of a request before the control: its id (frames.h), and
//  the key's user as the only user (taken when the request names none).
//  Sets *key (s_owner_key). Answers and returns -1 when one fails.
static int s_check_request(kp_node_t *self, s_input_t *input, Kp__Request *request,
                           const char **key, int64_t start_us)
{
    kp_refusal_t refusal;
    if (kp_frames_request_check(request, &self->cluster.limits, &refusal)) {
        if (refusal.reason == KP__REASON__REQUEST_ID_TOO_LONG)
            request->request_id = NULL; //  neither echoed nor logged
        kp_stats_bad_frame(self->stats, "client", refusal.reason);
        if (refusal.reason == KP__REASON__DEADLINE_TOO_LONG)
            kp_stats_refused(self->stats, KP_LIMIT_DEADLINE);
        s_answer(self, input->identity, input->identity_size, NULL, request, NULL,
                 KP__STATUS__INVALID, refusal.reason, refusal.detail, start_us);
        return -1;
    }
    *key = s_owner_key(request, &input->auth);
    if (!input->auth.secure)
        return 0;
    if (request->user && strcmp(request->user, input->auth.identity)) {
        //  The log names who really asked: the key's user.
        request->user = s_request_strdup(request, input->auth.identity);
        kp_stats_bad_frame(self->stats, "client", KP__REASON__IDENTITY_MISMATCH);
        s_answer(self, input->identity, input->identity_size, *key, request, NULL,
                 KP__STATUS__DENIED, KP__REASON__IDENTITY_MISMATCH,
                 "the request names another user than the one its key belongs to", start_us);
        return -1;
    }
    if (!request->user)
        request->user = s_request_strdup(request, input->auth.identity);
    return 0;
}

//  One client frame: decoded and checked (identity, fields), a ping
//  answered, a known request id answered from the replay memory, else
//  decided by the control and routed.
static void s_on_client(kp_node_t *self, s_input_t *input)
{
    int64_t start_us = zclock_usecs();
    kp_refusal_t refusal;
    Kp__Request *request = kp_frames_request(zmq_msg_data(&input->body), zmq_msg_size(&input->body),
                                             input->frames, self->cluster.max_frame, &refusal);
    if (!request) {
        s_refuse_frame(self, input, refusal.reason, refusal.detail, start_us);
        return;
    }
    const char *key = NULL;
    if (s_check_request(self, input, request, &key, start_us)) {
        kp_frames_request_free(request);
        return;
    }
    if (request->has_ping && request->ping) {
        s_pong(self, input, request);
        kp_frames_request_free(request);
        return;
    }
    //  The control decides before the replay memory is asked: a new id's
    //  lookup there is a cache miss, which the directory reads overlap.
    //  The decision is wasted only on a retry, and it changes nothing.
    kp_replay_prefetch(self->replay, key);
    //  A number a merge replaced stands for its replacement (register.h):
    //  the control, the providers and the log see the number that is.
    const char *asked = NULL;
    char replacement[12];
    if (request->person &&
        kp_regsvc_redirect(self->directory, self->txn, request->person, replacement)) {
        asked = request->person;
        request->person = s_request_strdup(request, replacement);
    }
    kp_decision_t decision;
    kp_control_decide(self->directory, self->txn, request, self->today, &decision);
    if (s_known_request(self, input, key)) {
        kp_frames_request_free(request);
        return;
    }
    if (self->log_unavailable) {
        s_answer_log_unavailable(self, input->identity, input->identity_size, request->request_id,
                                 start_us);
        kp_frames_request_free(request);
        return;
    }
    if (self->stopping) {
        s_answer(self, input->identity, input->identity_size, key, request, NULL,
                 KP__STATUS__UNAVAILABLE, KP__REASON__SHUTTING_DOWN,
                 "this node is stopping; send the request to another node", start_us);
        kp_frames_request_free(request);
        return;
    }
    if (self->raft_status.removed) {
        char detail[400];
        s_removed_text(self, "request", detail, sizeof detail);
        s_answer(self, input->identity, input->identity_size, key, request, NULL,
                 KP__STATUS__UNAVAILABLE, KP__REASON__NO_QUORUM, detail, start_us);
        kp_frames_request_free(request);
        return;
    }
    int64_t stale_ms = s_stale_ms(self);
    if (stale_ms > (int64_t)self->cluster.stale_limit_s * 1000) {
        char advice[512], detail[800];
        s_no_quorum_advice(self, self->raft_status.last_leader, "request", advice, sizeof advice);
        snprintf(detail, sizeof detail,
                 "node %s (site %s) has been cut off from the cluster's majority for %lld s, "
                 "longer than its stale-limit (%u s): its directory may be out of date. %s",
                 self->me.name, self->me.site, (long long)(stale_ms / 1000),
                 self->cluster.stale_limit_s, advice);
        s_answer(self, input->identity, input->identity_size, key, request, NULL,
                 KP__STATUS__UNAVAILABLE, KP__REASON__NO_QUORUM, detail, start_us);
        kp_frames_request_free(request);
        return;
    }
    if (*self->cluster.kbo && kp_regsvc_kind(request->message))
        s_builtin(self, input, request, key, &decision, asked, start_us);
    else
        s_route(self, input, request, key, &decision, start_us);
}

//  ---------------------------------------------------------------------
//  Workers

typedef struct {
    kp_node_t *node;
    const kp_registry_worker_t *worker;
    zlistx_t *tickets;
} s_lost_t;

//  Takes a part off a lost worker, keeping it open under a new ticket,
//  unless another worker holds it too (hedged): then that one goes on.
static int s_detach_part(kp_call_t *call, size_t index, void *arg)
{
    s_lost_t *lost = (s_lost_t *)arg;
    if (kp_flight_drop_worker(lost->node->flight, call, index, lost->worker))
        return 0;
    uint64_t ticket = kp_flight_dispatch(lost->node->flight, call, index, NULL);
    call->parts[index].waiting = false;
    zlistx_add_end(lost->tickets, (void *)(uintptr_t)ticket);
    return 0;
}

//  A worker died, left, or was thrown out: what it held goes once more to
//  another live worker of the same institution, with the same request id.
static void s_worker_lost(kp_node_t *self, kp_registry_worker_t *worker)
{
    s_lost_t lost = {self, worker, zlistx_new()};
    kp_flight_each_on_worker(self->flight, worker, s_detach_part, &lost);
    char kbo[KP_KBO_LEN + 1];
    snprintf(kbo, sizeof kbo, "%s", kp_registry_worker_kbo(worker));
    size_t identity_size;
    const void *identity = kp_registry_worker_identity(worker, &identity_size);
    kp_notify_worker_gone(self->notify, identity, identity_size);
    kp_registry_remove(self->registry, &worker);
    for (void *item = zlistx_first(lost.tickets); item; item = zlistx_next(lost.tickets)) {
        size_t index;
        kp_call_t *call = kp_flight_by_ticket(self->flight, (uint64_t)(uintptr_t)item, &index);
        if (!call)
            continue;
        if (call->parts[index].redispatched)
            kp_flight_refuse_part(self->flight, call, index, KP__REASON__WORKER_LOST);
        else {
            call->parts[index].redispatched = true;
            s_dispatch_part(self, call, index);
        }
        if (call->open_parts == 0)
            s_complete(self, call);
    }
    zlistx_destroy(&lost.tickets);
    s_drain_waiting(self, kbo);
}

static void s_worker_error(kp_node_t *self, s_input_t *input, Kp__Reason reason, const char *detail)
{
    kp_stats_bad_frame(self->stats, "worker", reason);
    Kp__WorkerError error = KP__WORKER_ERROR__INIT;
    error.has_reason = true;
    error.reason = reason;
    error.detail = (char *)detail;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_ERROR;
    frame.error = &error;
    s_send_worker(self, input->identity, input->identity_size, &frame);
    kp_registry_worker_t *worker =
        kp_registry_lookup(self->registry, input->identity, input->identity_size);
    if (worker)
        s_worker_lost(self, worker);
}

static void s_send_heartbeat(kp_node_t *self, const void *identity, size_t size)
{
    Kp__Heartbeat heartbeat = KP__HEARTBEAT__INIT;
    heartbeat.has_time_unix_ms = true;
    heartbeat.time_unix_ms = (uint64_t)zclock_time();
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HEARTBEAT;
    frame.heartbeat = &heartbeat;
    s_send_worker(self, identity, size, &frame);
}

typedef struct {
    const char *kbo;
    const void *identity; //  the worker saying hello, not counted
    size_t identity_size;
    uint32_t count;
} s_kbo_count_t;

static int s_count_kbo(kp_registry_worker_t *worker, void *arg)
{
    s_kbo_count_t *count = (s_kbo_count_t *)arg;
    size_t size;
    const void *identity = kp_registry_worker_identity(worker, &size);
    if (!strcmp(kp_registry_worker_kbo(worker), count->kbo) &&
        (size != count->identity_size || memcmp(identity, count->identity, size)))
        count->count++;
    return 0;
}

//  Refuses a hello over the limits (and counts it); true if it did.
static bool s_hello_refused(kp_node_t *self, s_input_t *input, const Kp__WorkerHello *hello)
{
    kp_refusal_t refusal;
    const kp_limits_config_t *limits = &self->cluster.limits;
    if (kp_frames_hello_check(hello, zmq_msg_size(&input->body), limits, &refusal)) {
        if (refusal.reason == KP__REASON__HELLO_TOO_LARGE)
            kp_stats_refused(self->stats, KP_LIMIT_HELLO);
        else if (refusal.reason == KP__REASON__CONCURRENCY_TOO_HIGH)
            kp_stats_refused(self->stats, KP_LIMIT_CONCURRENCY);
        s_worker_error(self, input, refusal.reason, refusal.detail);
        return true;
    }
    s_kbo_count_t count = {hello->kbo, input->identity, input->identity_size, 0};
    kp_registry_each(self->registry, s_count_kbo, &count);
    if (count.count >= limits->max_workers) {
        kp_stats_refused(self->stats, KP_LIMIT_WORKERS);
        s_worker_error(self, input, KP__REASON__TOO_MANY_WORKERS,
                       "hello: this institution has limits/max-workers workers connected already");
        return true;
    }
    if (input->auth.secure && strcmp(hello->kbo, input->auth.identity)) {
        s_worker_error(self, input, KP__REASON__KEY_NOT_AUTHORIZED,
                       "hello: the KBO is not the one this connection's key belongs to");
        return true;
    }
    return false;
}

static void s_on_hello(kp_node_t *self, s_input_t *input, const Kp__WorkerHello *hello)
{
    if (s_hello_refused(self, input, hello))
        return;
    kp_registry_worker_t *old =
        kp_registry_lookup(self->registry, input->identity, input->identity_size);
    if (old)
        s_worker_lost(self, old);
    kp_registry_hello(self->registry, input->identity, input->identity_size, hello->kbo,
                      hello->messages, hello->n_messages,
                      hello->has_concurrency ? hello->concurrency : 1, self->now_ms);
    if (hello->has_notifications && hello->notifications)
        kp_notify_worker_hello(self->notify, hello->kbo, input->identity, input->identity_size);
    s_send_heartbeat(self, input->identity, input->identity_size);
    s_drain_waiting(self, hello->kbo);
}

static void s_on_reply(kp_node_t *self, s_input_t *input, const kp_registry_worker_t *worker,
                       const Kp__WorkerReply *reply)
{
    size_t index;
    kp_call_t *call =
        reply->has_ticket ? kp_flight_by_ticket(self->flight, reply->ticket, &index) : NULL;
    if (!call) {
        if (reply->has_ticket && reply->ticket &&
            reply->ticket <= kp_flight_last_ticket(self->flight))
            return; //  late: its call has ended
        s_worker_error(self, input, KP__REASON__INVALID_REQUEST,
                       "reply for a request this worker was not given");
        return;
    }
    if (kp_flight_ticket_worker(call, index, reply->ticket) != worker) {
        s_worker_error(self, input, KP__REASON__INVALID_REQUEST,
                       "reply for a request this worker was not given");
        return;
    }
    Kp__Status status =
        reply->has_status && reply->status == KP__STATUS__OK ? KP__STATUS__OK : KP__STATUS__ERROR;
    char kbo[KP_KBO_LEN + 1];
    snprintf(kbo, sizeof kbo, "%s", call->parts[index].kbo);
    size_t open =
        kp_flight_answer(self->flight, call, index, reply->ticket, status, reply->payload.data,
                         reply->has_payload ? reply->payload.len : 0);
    if (open == 0)
        s_complete(self, call);
    s_drain_waiting(self, kbo);
}

static void s_on_worker(kp_node_t *self, s_input_t *input)
{
    kp_arena_reset(self->scratch);
    kp_refusal_t refusal;
    Kp__WorkerFrame *frame =
        kp_frames_worker(self->scratch, zmq_msg_data(&input->body), zmq_msg_size(&input->body),
                         input->frames, self->cluster.max_frame, &refusal);
    if (!frame) {
        s_worker_error(self, input, refusal.reason, refusal.detail);
        return;
    }
    kp_registry_worker_t *worker =
        kp_registry_lookup(self->registry, input->identity, input->identity_size);
    if (worker)
        kp_registry_touch(worker, self->now_ms);
    if (frame->body_case == KP__WORKER_FRAME__BODY_HELLO)
        s_on_hello(self, input, frame->hello);
    else if (!worker) {
        if (frame->body_case != KP__WORKER_FRAME__BODY_BYE)
            s_worker_error(self, input, KP__REASON__INVALID_REQUEST, "say hello first");
    } else if (frame->body_case == KP__WORKER_FRAME__BODY_REPLY)
        s_on_reply(self, input, worker, frame->reply);
    else if (frame->body_case == KP__WORKER_FRAME__BODY_BYE)
        s_worker_lost(self, worker);
    else if (frame->body_case == KP__WORKER_FRAME__BODY_PUBLISH)
        kp_notify_publish(self->notify, self->txn, kp_registry_worker_kbo(worker), input->identity,
                          input->identity_size, frame->publish, zclock_time(), s_send_packed, self);
    else if (frame->body_case == KP__WORKER_FRAME__BODY_ACK)
        kp_notify_ack(self->notify, kp_registry_worker_kbo(worker), frame->ack);
    else if (frame->body_case != KP__WORKER_FRAME__BODY_HEARTBEAT)
        s_worker_error(self, input, KP__REASON__INVALID_REQUEST,
                       "a worker sends hello, heartbeat, reply, publish, ack or bye");
    //  The frame goes with the next reset of the scratch arena.
}

//  ---------------------------------------------------------------------
//  Operators

//  The connection guard's counts into the stats (status and metrics).
static void s_count_connections(kp_node_t *self)
{
    uint64_t open, refused;
    kp_conns_counts(self->conns, &open, &refused);
    kp_stats_connections(self->stats, open, refused);
}

//  Every operator's command goes into the privacy log: who (the key's
//  operator), what (message "admin.<command>", and in action its
//  arguments and the size of an update), when; logged as the command
//  arrives, before it is carried out (an update's outcome comes later,
//  from the cluster), without a status. The reply does not wait for the
//  record to be durable. Not "status": it shows no directory data, and
//  monitoring asks it every few seconds.
static void s_log_admin(kp_node_t *self, const s_input_t *input, const Kp__AdminRequest *request,
                        const kp_frames_admin_t *admin)
{
    if (!self->logger || (request && request->command && !strcmp(request->command, "status")))
        return;
    char id[48], message[80], action[512];
    snprintf(id, sizeof id, "admin-%" PRId64 "-%" PRIu64, (int64_t)self->started_ms,
             ++self->admin_count);
    snprintf(message, sizeof message, "admin.%.64s",
             request && request->command ? request->command : "(malformed)");
    size_t used = 0;
    action[0] = '\0';
    for (size_t i = 0; request && i < request->n_args && used < sizeof action; i++)
        used += (size_t)snprintf(action + used, sizeof action - used, "%s%s", i ? " " : "",
                                 request->args[i]);
    if (admin && admin->update && used < sizeof action)
        snprintf(action + used, sizeof action - used, "%s%zu ops", used ? "; " : "",
                 admin->update_ops);
    Kp__LogRecord record = KP__LOG_RECORD__INIT;
    record.request_id = id;
    record.has_time_unix_us = true;
    record.time_unix_us = (uint64_t)zclock_time() * 1000;
    record.node = self->me.name;
    record.message = message;
    record.user = input->auth.secure ? (char *)input->auth.identity : "(insecure)";
    record.action = action;
    if (kp_logger_log(self->logger, &record) == 0) {
        zsys_error("kpnode %s: privacy log failed (%s); no more answers leave this node",
                   self->me.name, kp_logger_error(self->logger));
        self->log_failed = true;
    }
}

typedef struct {
    Kp__Status status;
    Kp__Reason reason; //  REASON_NONE: none
    const char *error; //  NULL when OK
    const char *json;
    const char *leader;
    uint64_t seq;
} s_admin_answer_t;

static void s_admin_reply(kp_node_t *self, const void *identity, size_t identity_size,
                          const s_admin_answer_t *answer)
{
    Kp__AdminReply reply = KP__ADMIN_REPLY__INIT;
    reply.has_status = true;
    reply.status = answer->status;
    reply.has_reason = answer->reason != KP__REASON__REASON_NONE;
    reply.reason = answer->reason;
    reply.error = (char *)answer->error;
    reply.json = (char *)answer->json;
    reply.leader = (char *)answer->leader;
    reply.has_seq = true;
    reply.seq = answer->seq;
    size_t size = kp__admin_reply__get_packed_size(&reply);
    uint8_t *body = kp_sendq_reserve(self->sendq, self->admin, identity, identity_size, size);
    if (body)
        kp__admin_reply__pack(&reply, body);
}

static void s_admin_error(kp_node_t *self, s_input_t *input, Kp__Reason reason, const char *error)
{
    s_admin_answer_t answer = {
        KP__STATUS__ERROR, reason, error, NULL, NULL, self->raft_status.directory_seq};
    s_admin_reply(self, input->identity, input->identity_size, &answer);
}

//  Remembers who waits for the result of token.
static void s_pend(kp_node_t *self, s_input_t *input, uint64_t token)
{
    s_pending_t *pending = calloc(1, sizeof *pending);
    assert(pending);
    pending->token = token;
    pending->identity_size = input->identity_size;
    memcpy(pending->identity, input->identity, input->identity_size);
    zlistx_add_end(self->pending, pending);
}

//  A directory update goes to the cluster: answered when it is committed
//  on a majority and applied here (s_on_result), never by this turn.
//  The update goes as it came, packed: an import batch of thousands of
//  ops is decoded by the cluster actor, not on this loop (issue 13: a
//  decode and a re-encode here held every call for 10-15 ms a batch).
static void s_propose(kp_node_t *self, s_input_t *input, const kp_frames_admin_t *admin)
{
    if (!admin->update) {
        s_admin_error(self, input, KP__REASON__INVALID_REQUEST, "directory.apply needs an update");
        return;
    }
    uint64_t token = ++self->next_token;
    char error[512];
    if (kp_cluster_propose(self->raft, token, admin->update, admin->update_size, error,
                           sizeof error))
        s_admin_error(self, input, KP__REASON__UPDATE_FAILED, error);
    else
        s_pend(self, input, token);
}

//  directory.checksum, directory.export, log.query, log.stats: read on
//  the scanner's thread, answered by s_on_scans; the loop routes
//  meanwhile.
static void s_scan(kp_node_t *self, s_input_t *input, const Kp__AdminRequest *request)
{
    uint64_t token = ++self->next_token;
    char error[512];
    if (kp_dirscan_ask(self->dirscan, token, request->command, request->args, request->n_args,
                       error, sizeof error))
        s_admin_error(self, input, KP__REASON__REASON_NONE, error);
    else
        s_pend(self, input, token);
}

//  An update made here (not an operator's packed one) goes to the cluster.
static void s_propose_update(kp_node_t *self, s_input_t *input, const Kp__DirectoryUpdate *update)
{
    size_t size = kp__directory_update__get_packed_size(update);
    uint8_t *packed = malloc(size ? size : 1);
    assert(packed);
    kp__directory_update__pack(update, packed);
    uint64_t token = ++self->next_token;
    char error[512];
    if (kp_cluster_propose(self->raft, token, packed, size, error, sizeof error))
        s_admin_error(self, input, KP__REASON__UPDATE_FAILED, error);
    else
        s_pend(self, input, token);
    free(packed);
}

//  mutations.replay KBO FROM_UNIX_MS: the institution's mutations queued
//  since then are delivered again (a replicated update, like any change).
static void s_mutations_replay(kp_node_t *self, s_input_t *input, const Kp__AdminRequest *request)
{
    char *end = NULL;
    unsigned long long from = request->n_args == 2 ? strtoull(request->args[1], &end, 10) : 0;
    if (request->n_args != 2 || !kp_kbo_valid(request->args[0]) || !end || *end ||
        end == request->args[1]) {
        s_admin_error(self, input, KP__REASON__INVALID_REQUEST,
                      "mutations.replay needs a valid KBO and a time in ms since 1970");
        return;
    }
    Kp__MutationReplay replay = KP__MUTATION_REPLAY__INIT;
    replay.kbo = request->args[0];
    replay.has_from_unix_ms = true;
    replay.from_unix_ms = from;
    Kp__MutationReplay *replays[] = {&replay};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.replays = replays;
    update.n_replays = 1;
    update.origin = "mutations.replay";
    s_propose_update(self, input, &update);
}

static void s_mutations_status(kp_node_t *self, s_input_t *input)
{
    kp_directory_read_renew(self->txn);
    char *json = kp_notify_status_json(self->notify, self->txn,
                                       self->raft_status.state == KP_CLUSTER_STATE_LEADER,
                                       zclock_time(), &self->raft_status.forward);
    s_admin_answer_t answer = {KP__STATUS__OK, KP__REASON__REASON_NONE,        NULL, json,
                               NULL,           self->raft_status.directory_seq};
    s_admin_reply(self, input->identity, input->identity_size, &answer);
    free(json);
}

//  cluster.transfer [NODE], cluster.add NODE, cluster.remove NODE: the
//  node must be in the cluster file (its raft id is its place there).
static void s_membership(kp_node_t *self, s_input_t *input, const Kp__AdminRequest *request)
{
    const char *command = request->command;
    bool transfer = !strcmp(command, "cluster.transfer");
    const char *name = request->n_args == 1 ? request->args[0] : NULL;
    const kp_node_config_t *node = name ? kp_config_node(&self->cluster, name) : NULL;
    if ((!transfer && !name) || request->n_args > 1 || (name && !node)) {
        char error[512];
        snprintf(error, sizeof error,
                 "%s needs one node of the cluster file%s%s; add the node to the file first "
                 "(at the end: raft ids are places in the file)",
                 command, name ? ", not " : "", name ? name : "");
        s_admin_error(self, input, KP__REASON__INVALID_REQUEST, error);
        return;
    }
    if (transfer && node && self->raft_status.state == KP_CLUSTER_STATE_LEADER &&
        !strcmp(node->name, self->me.name)) {
        s_admin_answer_t answer = {KP__STATUS__OK, KP__REASON__REASON_NONE,
                                   NULL,           "{\"leads\":true}",
                                   NULL,           self->raft_status.directory_seq};
        s_admin_reply(self, input->identity, input->identity_size, &answer);
        return; //  it leads already
    }
    uint64_t token = ++self->next_token;
    int rc = transfer ? kp_cluster_transfer(self->raft, token, node ? node->raft_id : 0)
             : !strcmp(command, "cluster.add")
                 ? kp_cluster_add(self->raft, token, node->raft_id, node->name, node->role)
                 : kp_cluster_remove(self->raft, token, node->raft_id);
    if (rc)
        s_admin_error(self, input, KP__REASON__UPDATE_FAILED, "the cluster refused the command");
    else
        s_pend(self, input, token);
}

//  One admin frame: directory updates and membership go to the cluster
//  actor, checksums and exports to the scanner thread, the rest is
//  answered here (node/admin.c).
static void s_on_admin(kp_node_t *self, s_input_t *input)
{
    kp_refusal_t refusal;
    kp_frames_admin_t admin;
    if (kp_frames_admin_split(zmq_msg_data(&input->body), zmq_msg_size(&input->body), input->frames,
                              &admin, &refusal)) {
        s_admin_error(self, input, refusal.reason, refusal.detail);
        return;
    }
    Kp__AdminRequest *request = admin.request;
    const char *command = request->command ? request->command : "";
    s_log_admin(self, input, request, &admin);
    if (!strcmp(command, "directory.apply"))
        s_propose(self, input, &admin);
    else if (!strcmp(command, "mutations.replay"))
        s_mutations_replay(self, input, request);
    else if (!strcmp(command, "mutations.status"))
        s_mutations_status(self, input);
    else if (!strcmp(command, "cluster.transfer") || !strcmp(command, "cluster.add") ||
             !strcmp(command, "cluster.remove"))
        s_membership(self, input, request);
    else if (kp_dirscan_handles(command))
        s_scan(self, input, request);
    else {
        s_count_connections(self);
        kp_admin_context_t context = {.directory = self->directory,
                                      .workers = self->registry,
                                      .flight = self->flight,
                                      .stats = self->stats,
                                      .cluster = &self->cluster,
                                      .me = &self->me,
                                      .started_ms = self->started_ms,
                                      .stopping = self->stopping,
                                      .raft = &self->raft_status,
                                      .stale_ms = s_stale_ms(self)};
        context.log_state = !self->logger           ? "off"
                            : self->log_failed      ? "failed"
                            : self->log_unavailable ? "unavailable"
                                                    : "ok";
        context.log_error = self->logger && (self->log_failed || self->log_unavailable)
                                ? kp_logger_error(self->logger)
                                : NULL;
        context.log_free_bytes = self->log_free_bytes;
        context.log_space_low = self->log_space_low;
        kp_spare_counts_t spare;
        if (self->logger) {
            kp_logger_spare(self->logger, &spare);
            context.log_spare = &spare;
        }
        if (self->mirror) {
            context.log_mirror = self->mirror_name;
            context.log_durable = kp_logger_durable(self->logger);
            context.log_mirror_acked = kp_mirror_acked(self->mirror);
            context.log_mirror_degraded = kp_mirror_degraded(self->mirror);
            context.log_mirror_held = kp_mirror_held(self->mirror);
            context.log_mirror_degradations = kp_mirror_degradations(self->mirror);
            if (self->cluster.log_two_sites)
                context.log_mirror_local_from = kp_mirror_local_from(self->mirror);
        }
        kp_zap_counts_t zap;
        if (self->zap && !strcmp(command, "status")) {
            kp_zap_counts(self->zap, &zap);
            context.zap = &zap;
            context.revoked = self->revoked;
        }
        if (self->keeper && !strcmp(command, "status")) {
            context.keeper = true;
            kp_mirror_keeper_counts(self->keeper, &context.keeper_refused,
                                    &context.keeper_not_its_log);
        }
        char error[512] = "";
        s_admin_answer_t answer = {KP__STATUS__OK, KP__REASON__REASON_NONE, NULL, NULL, NULL, 0};
        char *json = kp_admin_handle(&context, request, &answer.seq, error, sizeof error);
        if (*error) {
            answer.status = KP__STATUS__ERROR;
            answer.error = error;
        }
        answer.json = json;
        s_admin_reply(self, input->identity, input->identity_size, &answer);
        free(json);
    }
    kp__admin_request__free_unpacked(request, NULL);
}

//  ---------------------------------------------------------------------
//  The cluster's events

//  The admin request waiting under token, or NULL; the list's cursor is
//  left on it (delete it with zlistx_delete at the cursor).
static s_pending_t *s_pending(kp_node_t *self, uint64_t token)
{
    s_pending_t *pending = zlistx_first(self->pending);
    while (pending && pending->token != token)
        pending = zlistx_next(self->pending);
    return pending;
}

//  Results of the directory scanner (directory.checksum, .export).
static void s_on_scans(kp_node_t *self)
{
    kp_dirscan_result_t result;
    while (kp_dirscan_recv(self->dirscan, &result)) {
        s_pending_t *pending = s_pending(self, result.token);
        if (pending) {
            s_admin_answer_t answer = {
                KP__STATUS__OK, KP__REASON__REASON_NONE, NULL, result.json, NULL, result.seq};
            if (!result.json) {
                answer.status = KP__STATUS__ERROR;
                answer.error = result.err;
            }
            s_admin_reply(self, pending->identity, pending->identity_size, &answer);
            zlistx_delete(self->pending, zlistx_cursor(self->pending));
        }
        free(result.json);
    }
}

static void s_on_result(kp_node_t *self, const kp_cluster_event_t *event)
{
    kp_directory_read_renew(self->txn);
    bool ours = kp_notify_result(self->notify, event, self->txn, s_send_packed, self);
    kp_directory_read_reset(self->txn);
    if (ours)
        return;
    if (s_builtin_result(self, event))
        return;
    s_pending_t *pending = s_pending(self, event->token);
    if (!pending)
        return; //  its asker is gone (or it was never ours)
    char json[64];
    snprintf(json, sizeof json, "{\"seq\":%" PRIu64 "}", event->seq);
    s_admin_answer_t answer = {KP__STATUS__OK, KP__REASON__REASON_NONE, NULL, json, NULL,
                               event->seq};
    char error[800];
    if (event->result != KP_CLUSTER_OK) {
        answer.status = KP__STATUS__ERROR;
        answer.json = NULL;
        answer.error = event->text;
    }
    if (event->result == KP_CLUSTER_NOT_LEADER) {
        answer.reason = KP__REASON__NOT_LEADER;
        answer.leader = event->text;
        answer.error = "this node is not the cluster's leader; send the update to the leader";
    } else if (event->result == KP_CLUSTER_NO_QUORUM) {
        char advice[512];
        s_no_quorum_advice(self, event->text, "update", advice, sizeof advice);
        snprintf(error, sizeof error,
                 "node %s (site %s) cannot reach a majority of the cluster's voters: nothing "
                 "changed. %s",
                 self->me.name, self->me.site, advice);
        if (self->raft_status.removed)
            s_removed_text(self, "update", error, sizeof error);
        answer.reason = KP__REASON__NO_QUORUM;
        answer.leader = event->text;
        answer.error = error;
    } else if (event->result == KP_CLUSTER_UNKNOWN) {
        answer.reason = KP__REASON__OUTCOME_UNKNOWN;
        answer.error = "the leader changed before the update was known committed: it may or "
                       "may not be applied; check the directory's sequence";
    } else if (event->result == KP_CLUSTER_FAILED)
        answer.reason = KP__REASON__UPDATE_FAILED;
    s_admin_reply(self, pending->identity, pending->identity_size, &answer);
    zlistx_delete(self->pending, zlistx_cursor(self->pending));
}

//  A snapshot replaces the directory: the loop lets go of it (no reads
//  until it is back; clients and workers wait in their queues a few ms).
static void s_on_cluster(kp_node_t *self)
{
    kp_cluster_event_t event;
    while (kp_cluster_recv(self->raft, &event)) {
        if (event.type == KP_CLUSTER_EVENT_RESULT)
            s_on_result(self, &event);
        else if (event.type == KP_CLUSTER_EVENT_STATUS)
            kp_cluster_status(self->raft, &self->raft_status);
        else if (event.type == KP_CLUSTER_EVENT_REPLACE) {
            kp_directory_read_end(&self->txn);
            self->replacing = true;
            kp_cluster_released(self->raft);
        } else if (event.type == KP_CLUSTER_EVENT_REPLACED) {
            char error[256];
            self->txn = kp_directory_read_begin(self->directory, error, sizeof error);
            if (!self->txn) {
                zsys_error("kpnode %s: the replaced directory cannot be read: %s", self->me.name,
                           error);
                zsys_interrupted = 1; //  stop: nothing can be decided any more
            } else
                kp_directory_read_reset(self->txn);
            self->replacing = !self->txn;
        }
    }
    kp_sendq_flush(self->sendq);
}

//  ---------------------------------------------------------------------
//  Metrics: a snapshot for the HTTP thread, handed over, never waited on

static int s_worker_metrics(kp_registry_worker_t *worker, void *arg)
{
    kp_metrics_worker((kp_metrics_t *)arg, kp_registry_worker_kbo(worker),
                      kp_registry_worker_concurrency(worker),
                      kp_registry_worker_outstanding(worker));
    return 0;
}

//  Mutations: what expired (counted by the delivering node) and the
//  backlogs, the largest S_METRICS_QUEUES by institution and the rest
//  summed under institution="other" (a bounded number of series).
#define S_METRICS_QUEUES 10
static void s_mutation_metrics(kp_node_t *self, kp_metrics_t *m)
{
    kp_notify_stats_t stats;
    kp_notify_stats(self->notify, &stats);
    kp_metrics_counter(m, "kp_mutations_expired_total",
                       "Changes found undelivered past mutation-retention (kept queued).", NULL,
                       (double)stats.expired);
    kp_notify_backlog_t top[S_METRICS_QUEUES];
    uint64_t others;
    size_t n = kp_notify_backlogs(self->notify, top, S_METRICS_QUEUES, &others);
    const char *help = "Changes queued for an institution and not acknowledged (the largest "
                       "backlogs; the rest summed as institution=\"other\").";
    char labels[96];
    for (size_t i = 0; i < n; i++) {
        labels[0] = '\0';
        kp_prom_label(labels, sizeof labels, "institution", top[i].kbo);
        kp_metrics_gauge(m, "kp_mutations_backlog", help, labels, (double)top[i].backlog);
    }
    labels[0] = '\0';
    kp_prom_label(labels, sizeof labels, "institution", "other");
    kp_metrics_gauge(m, "kp_mutations_backlog", help, labels, (double)others);
}

//  The privacy log's spare segment (log/spare.h): a state set (1 for the
//  state it is in) and where the segments came from.
static void s_spare_metrics(kp_node_t *self, kp_metrics_t *m)
{
    kp_spare_counts_t spare;
    kp_logger_spare(self->logger, &spare);
    for (int state = KP_SPARE_STATE_NONE; state <= KP_SPARE_STATE_OFF; state++) {
        char labels[KP_PROM_LABELS] = "";
        kp_prom_label(labels, sizeof labels, "state", kp_spare_state_name(state));
        kp_metrics_gauge(m, "kp_log_spare_state",
                         "1 for the state the log's spare segment is in: none (not asked for "
                         "yet), making, ready, no-room (the disk has too little free), removed "
                         "(the disk was full), failed, off.",
                         labels, spare.state == (kp_spare_state_t)state ? 1 : 0);
    }
    kp_metrics_counter(m, "kp_log_segments_from_spare_total",
                       "Log segments made from a spare written ahead.", NULL, (double)spare.taken);
    kp_metrics_counter(m, "kp_log_segments_without_spare_total",
                       "Log segments made when they were needed, without a spare (the first of "
                       "a fresh log, or no spare was ready).",
                       NULL, (double)spare.made);
    kp_metrics_counter(m, "kp_log_spares_removed_total",
                       "Spare segments removed because the log's disk was full.", NULL,
                       (double)spare.removed);
    kp_metrics_counter(m, "kp_log_spares_written_total", "Spare segments written ahead.", NULL,
                       (double)spare.written);
}

//  Publishes a snapshot of the metrics (counters, gauges, the log's and
//  the cluster's state) to the HTTP endpoint's thread.
static void s_publish(kp_node_t *self)
{
    if (!self->httpd)
        return;
    kp_metrics_t *m = kp_metrics_new(self->me.name, zclock_mono());
    s_count_connections(self);
    kp_stats_t *stats = kp_stats_copy(self->stats);
    kp_metrics_set_stats(m, &stats);
    kp_registry_each(self->registry, s_worker_metrics, m);
    kp_metrics_gauge(m, "kp_in_flight", "Calls in flight (waiting for providers).", NULL,
                     (double)kp_flight_size(self->flight));
    kp_metrics_gauge(m, "kp_responses_held", "Responses waiting for their log record.", NULL,
                     (double)kp_outbox_held(self->outbox));
    kp_metrics_gauge(m, "kp_directory_seq", "The directory's sequence number.", NULL,
                     (double)kp_directory_seq(self->directory, self->txn));
    kp_metrics_gauge(m, "kp_start_time_seconds", "When the node started (Unix time).", NULL,
                     (double)self->started_unix);
    if (self->logger) {
        kp_buckets_t commit_us, records;
        kp_logger_commits(self->logger, &commit_us, &records);
        kp_metrics_set_log(m, &commit_us, &records);
        uint64_t durable = kp_logger_durable(self->logger);
        uint64_t indexed = kp_logger_indexed(self->logger);
        kp_metrics_gauge(m, "kp_log_durable_seq", "The privacy log's last durable record.", NULL,
                         (double)durable);
        kp_metrics_gauge(m, "kp_log_index_lag_records",
                         "Durable log records not yet in the query index.", NULL,
                         (double)(durable > indexed ? durable - indexed : 0));
        s_spare_metrics(self, m);
    }
    if (self->mirror) {
        uint64_t durable = kp_logger_durable(self->logger), acked = kp_mirror_acked(self->mirror);
        kp_metrics_gauge(m, "kp_log_mirror_acked_seq",
                         "The last log record the mirror (other site) holds durable.", NULL,
                         (double)acked);
        kp_metrics_gauge(m, "kp_log_mirror_lag_records",
                         "Durable log records the mirror has not acknowledged yet.", NULL,
                         (double)(durable > acked ? durable - acked : 0));
        kp_metrics_gauge(m, "kp_log_mirror_degraded",
                         "1 while responses leave on local durability alone (mirror silent).", NULL,
                         kp_mirror_degraded(self->mirror) ? 1 : 0);
        kp_metrics_gauge(m, "kp_log_mirror_held",
                         "1 while responses wait for the mirror: degraded without a majority.",
                         NULL, kp_mirror_held(self->mirror) ? 1 : 0);
        kp_metrics_gauge(m, "kp_log_mirror_degradations_total",
                         "Times the log went from two sites to local durability.", NULL,
                         (double)kp_mirror_degradations(self->mirror));
    }
    s_mutation_metrics(self, m);
    const kp_cluster_status_t *raft = &self->raft_status;
    kp_metrics_gauge(m, "kp_cluster_term", "The cluster's raft term as this node knows it.", NULL,
                     (double)raft->term);
    kp_metrics_gauge(m, "kp_cluster_leader", "1 while this node leads the cluster.", NULL,
                     raft->state == KP_CLUSTER_STATE_LEADER ? 1 : 0);
    kp_metrics_gauge(m, "kp_cluster_commit_index", "The raft log's commit index here.", NULL,
                     (double)raft->commit_index);
    kp_metrics_gauge(m, "kp_cluster_applied_index", "The raft index the directory holds.", NULL,
                     (double)raft->applied_index);
    kp_metrics_gauge(m, "kp_cluster_removed",
                     "1 when this node was removed from the cluster's membership (it serves "
                     "nothing until it is added again).",
                     NULL, raft->removed ? 1 : 0);
    kp_forward_counter_t forward[KP_FORWARD_COUNTERS];
    for (size_t i = 0, n = kp_forward_counters(&raft->forward, forward); i < n; i++)
        kp_metrics_counter(m, forward[i].metric, forward[i].help, NULL, (double)forward[i].value);
    kp_metrics_gauge(m, "kp_cluster_contact_age_seconds",
                     "Since this node last heard from a majority (0 for the leader).", NULL,
                     (double)s_stale_ms(self) / 1000.0);
    kp_metrics_condition(m, "quorum",
                         s_stale_ms(self) <= (int64_t)self->cluster.stale_limit_s * 1000);
    kp_metrics_condition(m, "directory", self->directory != NULL);
    kp_metrics_condition(m, "log", self->logger && !self->log_failed && !self->log_unavailable);
    kp_metrics_condition(m, "not_stopping", !self->stopping);
    //  Later parts add theirs here: see the hook in metrics.h.
    kp_httpd_publish(self->httpd, &m);
}

//  ---------------------------------------------------------------------
//  Timers

static void s_expire_calls(kp_node_t *self, int64_t now_ms)
{
    kp_call_t *call;
    while ((call = kp_flight_next_expired(self->flight, now_ms))) {
        for (size_t i = 0; i < call->part_count; i++)
            if (call->parts[i].status == KP__STATUS__STATUS_UNSPECIFIED)
                kp_flight_close_part(self->flight, call, i, KP__STATUS__TIMEOUT, NULL, 0);
        s_complete(self, call);
    }
}

static int s_heartbeat_one(kp_registry_worker_t *worker, void *arg)
{
    size_t size;
    const void *identity = kp_registry_worker_identity(worker, &size);
    s_send_heartbeat((kp_node_t *)arg, identity, size);
    return 0;
}

//  Parts their worker holds past the hedge delay go to a sibling too.
static void s_hedge_overdue(kp_node_t *self)
{
    kp_call_t *call;
    size_t index;
    kp_registry_worker_t *holder;
    while ((call = kp_flight_next_overdue(self->flight, &index, &holder))) {
        bool served;
        kp_registry_worker_t *other = kp_registry_pick_except(
            self->registry, call->parts[index].kbo, call->request->message, holder, &served);
        if (other)
            s_send_work(self, call, other, kp_flight_hedge(self->flight, call, index, other));
    }
}

//  Follows the logger's notices: when the log cannot write, every held
//  answer becomes LOG_UNAVAILABLE at once and new requests get it too;
//  when it writes again (space returned), the node answers as before.
static void s_log_state(kp_node_t *self)
{
    bool unavailable = kp_logger_unavailable(self->logger);
    if (unavailable == self->log_unavailable)
        return;
    self->log_unavailable = unavailable;
    if (!unavailable) {
        zsys_info("kpnode %s: privacy log writing again; answering as before", self->me.name);
        return;
    }
    Kp__Response refusal = KP__RESPONSE__INIT;
    refusal.has_status = refusal.has_reason = true;
    refusal.status = KP__STATUS__UNAVAILABLE;
    refusal.reason = KP__REASON__LOG_UNAVAILABLE;
    refusal.detail = "this node's privacy log cannot write (disk full?); send the request to "
                     "another node";
    size_t refused = kp_outbox_refuse_held(self->outbox, &refusal);
    zsys_error("kpnode %s: %s; answering LOG_UNAVAILABLE (%zu held answers refused) until it "
               "can write again",
               self->me.name, kp_logger_error(self->logger), refused);
}

//  Looks at the free space of the log's disk now and then: under the
//  cluster's log-free-warn-mb it raises an alarm while there is still room.
static void s_check_space(kp_node_t *self, int64_t now_ms)
{
    if (!self->logger || now_ms < self->next_space_check_ms)
        return;
    self->next_space_check_ms = now_ms + 1000;
    char path[KP_CONFIG_TEXT + 16];
    snprintf(path, sizeof path, "%s/log", self->me.data);
    struct statvfs st;
    if (statvfs(path, &st))
        return;
    self->log_free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    bool low = self->log_free_bytes < (uint64_t)self->cluster.log_free_warn_mb << 20;
    if (low && !self->log_space_low)
        zsys_warning("kpnode %s: the privacy log's disk has %llu MB free, under log-free-warn-mb "
                     "(%u): make room before it fills and the node answers LOG_UNAVAILABLE",
                     self->me.name, (unsigned long long)(self->log_free_bytes >> 20),
                     self->cluster.log_free_warn_mb);
    self->log_space_low = low;
}

static void s_on_timers(kp_node_t *self, int64_t now_ms)
{
    s_check_space(self, now_ms);
    s_expire_calls(self, now_ms);
    s_hedge_overdue(self);
    kp_service_tick(self->service, now_ms);
    if (now_ms >= self->next_publish_ms) {
        s_publish(self);
        self->next_publish_ms = now_ms + KP_PUBLISH_MS;
    }
    if (self->warming && !s_warming_up(self)) {
        self->warming = false;
        s_drain_waiting(self, NULL); //  those with no worker by now: UNAVAILABLE
    }
    if (now_ms >= self->next_dead_check_ms) {
        //  Four looks an interval: a dead worker is found within a quarter
        //  interval of its limit, not within a whole one.
        self->next_dead_check_ms = now_ms + (self->cluster.heartbeat_ms + 3) / 4;
        kp_registry_worker_t *dead;
        while ((dead = kp_registry_next_dead(self->registry, now_ms))) {
            zsys_warning("kpnode %s: a worker of %s silent for %" PRId64 " ms: lost", self->me.name,
                         kp_registry_worker_kbo(dead), now_ms - kp_registry_worker_last_seen(dead));
            s_worker_lost(self, dead);
        }
    }
    if (now_ms < self->next_heartbeat_ms)
        return;
    self->next_heartbeat_ms = now_ms + self->cluster.heartbeat_ms;
    kp_registry_each(self->registry, s_heartbeat_one, self);
    kp_replay_expire(self->replay, now_ms);
}

//  ---------------------------------------------------------------------
//  Keys of peers

static void s_peer_name(int socket, const void *identity, size_t size, char *out)
{
    static const char hex[] = "0123456789abcdef";
    *out++ = (char)('0' + socket);
    const unsigned char *p = identity;
    for (size_t i = 0; i < size; i++) {
        *out++ = hex[p[i] >> 4];
        *out++ = hex[p[i] & 15];
    }
    *out = '\0';
}

//  Notes the peer a frame came from (see the comment at the top).
static void s_peer_note(kp_node_t *self, int socket, s_input_t *input)
{
    char name[2 * KP_ID_MAX + 2];
    s_peer_name(socket, input->identity, input->identity_size, name);
    s_peer_t *peer = zhashx_lookup(self->peers, name);
    if (peer && !strcmp(peer->key, input->auth.key)) {
        peer->seen_ms = self->now_ms;
        return;
    }
    if (!peer) {
        peer = calloc(1, sizeof *peer);
        assert(peer);
        zhashx_insert(self->peers, name, peer);
    }
    peer->socket = socket;
    memcpy(peer->identity, input->identity, input->identity_size);
    peer->identity_size = input->identity_size;
    memcpy(peer->key, input->auth.key, sizeof peer->key);
    peer->seen_ms = self->now_ms;
    peer->fd = zmq_msg_get(&input->body, ZMQ_SRCFD);
    peer->local_size = peer->remote_size = sizeof peer->local;
    if (peer->fd < 0 || getsockname(peer->fd, (struct sockaddr *)&peer->local, &peer->local_size) ||
        getpeername(peer->fd, (struct sockaddr *)&peer->remote, &peer->remote_size))
        peer->fd = -1;
}

//  Shuts the peer's TCP connection down if its descriptor still joins the
//  same two addresses; libzmq then closes it.
static void s_peer_close(kp_node_t *self, const s_peer_t *peer)
{
    struct sockaddr_storage local, remote;
    socklen_t local_size = sizeof local, remote_size = sizeof remote;
    if (peer->fd < 0 || getsockname(peer->fd, (struct sockaddr *)&local, &local_size) ||
        getpeername(peer->fd, (struct sockaddr *)&remote, &remote_size) ||
        local_size != peer->local_size || remote_size != peer->remote_size ||
        memcmp(&local, &peer->local, local_size) || memcmp(&remote, &peer->remote, remote_size))
        return;
    shutdown(peer->fd, SHUT_RDWR);
    self->revoked++;
}

//  The key of a frame, as the directory holds it now. False when the
//  frame came without a key the directory accepts today for this socket.
static bool s_authenticate(kp_node_t *self, int socket, s_input_t *input)
{
    s_auth_t *auth = &input->auth;
    auth->secure = self->secure;
    auth->identity[0] = '\0';
    if (!self->secure)
        return true;
    static const kp_key_kind_t kinds[] = {KP_KEY_APPLICATION, KP_KEY_PROVIDER, KP_KEY_OPERATOR};
    const char *key = kp_curve_peer_key(&input->body);
    kp_key_view_t view;
    if (!key || kp_directory_key(self->directory, self->txn, key, &view) ||
        !kp_key_valid_on(&view, self->today) || view.kind != kinds[socket])
        return false;
    auth->kind = view.kind;
    memcpy(auth->key, key, sizeof auth->key);
    memcpy(auth->identity, view.identity, sizeof auth->identity);
    s_peer_note(self, socket, input);
    return true;
}

//  A frame whose key is no longer valid: a named refusal, the peer's
//  state dropped, its connection closed.
static void s_refuse_key(kp_node_t *self, int socket, s_input_t *input, int64_t start_us)
{
    static const char detail[] = "this connection's key is unknown, revoked or not valid today";
    if (socket == S_CLIENTS) {
        kp_stats_bad_frame(self->stats, "client", KP__REASON__KEY_REVOKED);
        s_answer(self, input->identity, input->identity_size, NULL, NULL, NULL, KP__STATUS__DENIED,
                 KP__REASON__KEY_REVOKED, detail, start_us);
    } else if (socket == S_WORKERS)
        s_worker_error(self, input, KP__REASON__KEY_REVOKED, detail);
    else {
        Kp__AdminReply reply = KP__ADMIN_REPLY__INIT;
        reply.has_status = true;
        reply.status = KP__STATUS__ERROR;
        reply.error = (char *)detail;
        size_t size = kp__admin_reply__get_packed_size(&reply);
        uint8_t *body =
            kp_sendq_reserve(self->sendq, self->admin, input->identity, input->identity_size, size);
        if (body)
            kp__admin_reply__pack(&reply, body);
    }
    char name[2 * KP_ID_MAX + 2];
    s_peer_name(socket, input->identity, input->identity_size, name);
    s_peer_t *peer = zhashx_lookup(self->peers, name);
    if (peer) {
        kp_sendq_flush(self->sendq); //  the refusal first, then the close
        s_peer_close(self, peer);
        zhashx_delete(self->peers, name);
    }
}

//  Each second, when the directory or the date changed: drops the peers
//  whose key is no longer valid, and forgets those long silent.
static void s_check_peers(kp_node_t *self)
{
    if (!self->secure || self->now_ms < self->next_peer_check_ms)
        return;
    self->next_peer_check_ms = self->now_ms + KP_PEER_CHECK_MS;
    uint64_t seq = kp_directory_seq(self->directory, self->txn);
    if (seq == self->peers_seq && self->today == self->peers_day && zhashx_size(self->peers) == 0)
        return;
    bool changed = seq != self->peers_seq || self->today != self->peers_day;
    self->peers_seq = seq;
    self->peers_day = self->today;
    zlistx_t *gone = zlistx_new();
    zlistx_set_destructor(gone, (zlistx_destructor_fn *)zstr_free);
    for (s_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        kp_key_view_t view;
        bool valid =
            !changed || (kp_directory_key(self->directory, self->txn, peer->key, &view) == 0 &&
                         kp_key_valid_on(&view, self->today));
        if (valid && self->now_ms - peer->seen_ms <= KP_PEER_IDLE_MS)
            continue;
        if (!valid) {
            kp_registry_worker_t *worker =
                peer->socket == S_WORKERS
                    ? kp_registry_lookup(self->registry, peer->identity, peer->identity_size)
                    : NULL;
            if (worker) {
                s_input_t input = {.identity_size = peer->identity_size};
                memcpy(input.identity, peer->identity, peer->identity_size);
                s_worker_error(self, &input, KP__REASON__KEY_REVOKED,
                               "this connection's key was revoked");
                kp_sendq_flush(self->sendq);
            }
            s_peer_close(self, peer);
        }
        zlistx_add_end(gone, strdup(zhashx_cursor(self->peers)));
    }
    for (char *name = zlistx_first(gone); name; name = zlistx_next(gone))
        zhashx_delete(self->peers, name);
    zlistx_destroy(&gone);
}

//  ---------------------------------------------------------------------
//  The loop

typedef void(s_handler_fn)(kp_node_t *self, s_input_t *input);

//  What the turn sends leaves in bursts that double: after the first
//  message handled, the second, the fourth, and so on (the sendq sends
//  itself when full). Sending all at the turn's end kept the workers, and
//  the other core, idle while the loop routed the rest of a batch; one
//  burst per message woke the I/O thread per message at saturation.
static bool s_burst_due(int handled)
{
    return (handled & (handled - 1)) == 0;
}

static void s_drain(kp_node_t *self, zsock_t *sock, int socket, s_handler_fn *handler)
{
    s_input_t input;
    for (int i = 0; i < KP_BATCH && s_recv(sock, &input) == 0; i++) {
        if (s_authenticate(self, socket, &input))
            handler(self, &input);
        else
            s_refuse_key(self, socket, &input, zclock_usecs());
        zmq_msg_close(&input.body);
        kp_outbox_release_durable(self->outbox);
        if (s_burst_due(i + 1))
            kp_sendq_flush(self->sendq);
    }
    kp_sendq_flush(self->sendq);
}

static void s_clock(kp_node_t *self)
{
    self->now_ms = zclock_mono();
    kp_flight_set_now(self->flight, self->now_ms);
    self->now_unix = (int64_t)time(NULL);
    self->today = (int32_t)(self->now_unix / 86400);
}

//  A loop that wakes later than it asked was not running (a loaded
//  machine did not schedule it): the workers' heartbeats of that time
//  wait unread in libzmq, whose I/O thread may not have run either. That
//  time is not the workers' silence, or one stall of three heartbeat
//  intervals would declare every worker dead at once.
static void s_overslept(kp_node_t *self, int64_t asleep_ms, long timeout_ms)
{
    if (timeout_ms < 0)
        return;
    int64_t late = self->now_ms - asleep_ms - timeout_ms;
    if (late > (int64_t)self->cluster.heartbeat_ms / 4)
        kp_registry_pause(self->registry, late);
}

static long s_poll_timeout(kp_node_t *self, int64_t now_ms)
{
    int64_t next = kp_flight_next_deadline(self->flight);
    if (self->next_heartbeat_ms < next)
        next = self->next_heartbeat_ms;
    if (self->next_dead_check_ms < next)
        next = self->next_dead_check_ms;
    int64_t warm = self->started_ms + 3 * (int64_t)self->cluster.heartbeat_ms;
    if (self->warming && warm < next)
        next = warm;
    if (self->httpd && self->next_publish_ms < next)
        next = self->next_publish_ms;
    if (kp_service_next_ms(self->service) < next)
        next = kp_service_next_ms(self->service);
    if (kp_notify_next_ms(self->notify) < next)
        next = kp_notify_next_ms(self->notify);
    //  OUTCOMEs held for the next record a reply waits for (logger.h).
    long held = self->logger ? kp_logger_flush_in_ms(self->logger) : -1;
    if (held >= 0 && now_ms + held < next)
        next = now_ms + held;
    return next <= now_ms ? 0 : (long)(next - now_ms);
}

//  Fails whatever is still in flight when the grace period is over, and
//  waits (a bounded time) for the log to release every held response.
static void s_finish(kp_node_t *self)
{
    if (self->txn)
        kp_directory_read_renew(self->txn);
    s_expire_calls(self, INT64_MAX);
    if (self->txn)
        kp_directory_read_reset(self->txn);
    s_log_flush(self);
    kp_sendq_flush(self->sendq);
    zsock_t *notices = kp_outbox_sock(self->outbox);
    int64_t give_up = zclock_mono() + 10000;
    while (notices && kp_outbox_held(self->outbox) && !self->log_failed &&
           zclock_mono() < give_up) {
        zmq_pollitem_t item = {zsock_resolve(notices), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) > 0 && kp_outbox_release(self->outbox))
            self->log_failed = true;
        kp_sendq_flush(self->sendq);
    }
    if (kp_outbox_held(self->outbox))
        zsys_error("kpnode %s: %zu responses not sent: their log records are not durable",
                   self->me.name, kp_outbox_held(self->outbox));
}

static bool s_should_stop(kp_node_t *self, int64_t now_ms, int64_t *stop_at)
{
    if ((zsys_interrupted || self->log_failed) && !self->stopping) {
        self->stopping = true;
        *stop_at = now_ms + (self->log_failed ? 0 : KP_GRACE_MS);
        zsys_info("kpnode %s: stopping; %zu calls in flight", self->me.name,
                  kp_flight_size(self->flight));
        kp_service_stopping(self->service, "stopping: finishing the calls in flight");
        self->next_publish_ms = now_ms; //  /readyz says so at once
    }
    return self->stopping && (kp_flight_size(self->flight) == 0 || now_ms >= *stop_at);
}

//  In two-sites durability, the LOG_MIRROR records the mirror asks for
//  (log/localonly.h): which records' responses left on this site only.
//  Written like any record, so the chain and its checkpoints sign them.
static void s_mirror_marks(kp_node_t *self)
{
    uint64_t from, to;
    while (kp_mirror_mark(self->mirror, &from, &to)) {
        if (!self->cluster.log_two_sites || !self->logger) {
            kp_mirror_marked(self->mirror, 0); //  responses never wait for it
            continue;
        }
        char action[200];
        if (!to)
            snprintf(action, sizeof action,
                     "mirror %s silent: records from seq %" PRIu64 " on leave on local durability",
                     self->mirror_name, from);
        else if (from)
            snprintf(action, sizeof action,
                     "mirror %s caught up: records %" PRIu64 "-%" PRIu64
                     " left on local durability",
                     self->mirror_name, from, to);
        else
            snprintf(action, sizeof action, "mirror %s holds the log up to seq %" PRIu64,
                     self->mirror_name, to);
        Kp__LogRecord record = KP__LOG_RECORD__INIT;
        record.has_time_unix_us = true;
        record.time_unix_us = (uint64_t)zclock_time() * 1000;
        record.node = self->me.name;
        record.action = action;
        kp_localonly_marker(&record, from, to);
        uint64_t seq = kp_logger_log(self->logger, &record);
        if (!to)
            kp_mirror_marked(self->mirror, seq ? seq : UINT64_MAX);
        if (seq == 0) {
            zsys_error("kpnode %s: privacy log failed (%s); no more answers leave this node",
                       self->me.name, kp_logger_error(self->logger));
            self->log_failed = true;
        }
    }
}

//  Tells the mirror whether the node has its majority (heard from it
//  within two election timeouts): degraded without it, responses wait for
//  the mirror (log/mirror.h). True when the majority came back, so that
//  the responses held meanwhile are released now.
static bool s_mirror_quorum(kp_node_t *self)
{
    if (!self->mirror)
        return false;
    bool lost = s_stale_ms(self) > 2 * (int64_t)self->cluster.election_timeout_ms;
    if (lost == self->mirror_no_quorum)
        return false;
    self->mirror_no_quorum = lost;
    kp_mirror_quorum(self->mirror, !lost);
    if (lost)
        zsys_warning("kpnode %s: no majority for %" PRId64 " ms: if its log mirror is silent too, "
                     "responses wait until their records are on two sites",
                     self->me.name, s_stale_ms(self));
    return !lost;
}

//  The sockets the loop polls; a witness has no client or worker socket.
typedef struct {
    zmq_pollitem_t items[7];
    int count;
    int clients, workers, admin, notices, raft, mirror, scans; //  their indices, or -1
} s_poll_t;

static int s_poll_add(s_poll_t *poll, zsock_t *sock)
{
    if (!sock)
        return -1;
    poll->items[poll->count] = (zmq_pollitem_t){zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    return poll->count++;
}

static bool s_ready(const s_poll_t *poll, int index)
{
    return index >= 0 && (poll->items[index].revents & ZMQ_POLLIN);
}

//  Asks one socket for its events: true if it has input. -1: the
//  context is ending.
static int s_poll_events(zmq_pollitem_t *item)
{
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt(item->socket, ZMQ_EVENTS, &events, &size))
        return -1;
    item->revents = (short)(events & ZMQ_POLLIN);
    return item->revents != 0;
}

//  What zmq_poll does for sockets, with fewer system calls: zmq_poll
//  polls the sockets' descriptors once without waiting and asks every
//  socket for its events (a system call for each idle one), then sleeps
//  and asks every socket again. Asking first means that any socket
//  without input will signal its descriptor when input comes (ZMQ_FD is
//  edge-triggered and nothing touches the sockets in between); after the
//  sleep only the sockets whose descriptor fired are asked. The number of
//  sockets with input (0 also when a descriptor fired for a command that
//  brought none: the caller's turn finds nothing), or -1 (errno: EINTR,
//  or ETERM).
static int s_poll_wait(s_poll_t *poll_set, long timeout_ms)
{
    zmq_pollitem_t *items = poll_set->items;
    int count = poll_set->count, ready = 0;
    for (int i = 0; i < count; i++) {
        int rc = s_poll_events(&items[i]);
        if (rc < 0)
            return -1;
        ready += rc;
    }
    if (ready || timeout_ms == 0)
        return ready;
    struct pollfd fds[sizeof poll_set->items / sizeof poll_set->items[0]];
    for (int i = 0; i < count; i++) {
        size_t size = sizeof fds[i].fd;
        if (zmq_getsockopt(items[i].socket, ZMQ_FD, &fds[i].fd, &size))
            return -1;
        fds[i].events = POLLIN;
        fds[i].revents = 0;
    }
    if (poll(fds, (nfds_t)count, timeout_ms < 0 ? -1 : (int)timeout_ms) < 0)
        return -1;
    for (int i = 0; i < count; i++) {
        if (!fds[i].revents)
            continue;
        int rc = s_poll_events(&items[i]);
        if (rc < 0)
            return -1;
        ready += rc;
    }
    return ready;
}

//  Mutations: what waits is proposed (one update a turn at most), what
//  is due is delivered.
static void s_mutations(kp_node_t *self)
{
    size_t size;
    uint64_t token = self->next_token + 1;
    uint8_t *packed = kp_notify_proposal(self->notify, token, self->now_ms, zclock_time(), &size);
    if (packed) {
        self->next_token = token;
        char error[512];
        if (kp_cluster_propose(self->raft, token, packed, size, error, sizeof error)) {
            kp_cluster_event_t event = {
                .type = KP_CLUSTER_EVENT_RESULT, .token = token, .result = KP_CLUSTER_FAILED};
            snprintf(event.text, sizeof event.text, "%s", error);
            kp_notify_result(self->notify, &event, self->txn, s_send_packed, self);
        }
        free(packed);
    }
    bool leader = self->raft_status.state == KP_CLUSTER_STATE_LEADER;
    kp_notify_pump(self->notify, self->txn, leader, self->now_ms, zclock_time(), s_send_packed,
                   self);
    kp_notify_report(self->notify, self->txn, leader, self->now_ms, zclock_time());
}

//  One turn's work on what arrived; none of it while a snapshot replaces
//  the directory.
static void s_turn(kp_node_t *self, const s_poll_t *poll)
{
    if (self->replacing)
        return;
    kp_directory_read_renew(self->txn);
    if (s_ready(poll, poll->workers))
        s_drain(self, self->workers, S_WORKERS, s_on_worker);
    if (s_ready(poll, poll->clients))
        s_drain(self, self->clients, S_CLIENTS, s_on_client);
    if (s_ready(poll, poll->admin))
        s_drain(self, self->admin, S_ADMIN, s_on_admin);
    s_on_timers(self, self->now_ms);
    s_check_peers(self);
    s_mutations(self);
    s_log_flush(self); //  the turn's records on their way before its sends
    kp_sendq_flush(self->sendq);
    kp_directory_read_reset(self->txn);
}

int kp_node_run(kp_node_t *self)
{
    zsock_t *notices = kp_outbox_sock(self->outbox);
    s_poll_t poll = {.count = 0};
    poll.clients = s_poll_add(&poll, self->clients);
    poll.workers = s_poll_add(&poll, self->workers);
    poll.admin = s_poll_add(&poll, self->admin);
    poll.notices = s_poll_add(&poll, notices);
    poll.raft = s_poll_add(&poll, kp_cluster_sock(self->raft));
    poll.mirror = s_poll_add(&poll, self->mirror ? kp_mirror_sock(self->mirror) : NULL);
    poll.scans = s_poll_add(&poll, kp_dirscan_sock(self->dirscan));
    int64_t stop_at = INT64_MAX;
    self->next_heartbeat_ms = zclock_mono();
    s_clock(self);
    //  The sockets are bound and the log is open: from here on it answers.
    char status[KP_CONFIG_TEXT + 64];
    snprintf(status, sizeof status, "serving clients on %s", self->me.client);
    kp_service_ready(self->service, status);
    while (!s_should_stop(self, zclock_mono(), &stop_at)) {
        s_log_flush(self); //  whatever else logged since (never sleep on records)
        int64_t asleep_ms = zclock_mono();
        long timeout = s_poll_timeout(self, asleep_ms);
        if (self->stopping && timeout > 50)
            timeout = 50;
        if (s_poll_wait(&poll, timeout) < 0 && zmq_errno() != EINTR)
            break;
        s_clock(self);
        s_overslept(self, asleep_ms, timeout);
        //  Durable records first: their responses have waited longest.
        if (s_ready(&poll, poll.mirror)) {
            kp_mirror_recv(self->mirror);
            s_mirror_marks(self);
        }
        if (s_ready(&poll, poll.notices) || s_ready(&poll, poll.mirror) || s_mirror_quorum(self)) {
            if (kp_outbox_release(self->outbox))
                self->log_failed = true;
            s_log_state(self);
            if (self->mirror)
                kp_mirror_durable(self->mirror, kp_logger_durable(self->logger));
        }
        kp_sendq_flush(self->sendq);
        if (s_ready(&poll, poll.raft))
            s_on_cluster(self);
        if (s_ready(&poll, poll.scans))
            s_on_scans(self);
        s_turn(self, &poll);
    }
    s_finish(self);
    if (self->zap) {
        kp_zap_counts_t counts;
        kp_zap_counts(self->zap, &counts);
        uint64_t accepted = 0, refused = 0;
        for (int i = 0; i < KP_ZAP_DOMAINS; i++) {
            accepted += counts.accepted[i];
            refused += counts.refused[i];
        }
        zsys_info("kpnode %s: CURVE handshakes accepted %" PRIu64 ", refused %" PRIu64
                  "; connections closed for a revoked key %" PRIu64,
                  self->me.name, accepted, refused, self->revoked);
    }
    zsys_info("kpnode %s: stopped after %" PRId64 " s", self->me.name,
              (zclock_mono() - self->started_ms) / 1000);
    return self->log_failed ? 1 : 0;
}
