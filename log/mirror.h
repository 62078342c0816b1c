/*  mirror.h - the privacy log kept on two sites: a node ships its log's
    frames to a node of the other site (its mirror), which keeps them as a
    copy of that log, byte for byte (same segments, same chain, same
    checkpoints: kp_privlog_verify works on the copy).

    Two actors, both on their own thread, talking over one ZeroMQ link
    (the shipper's DEALER to the keeper's ROUTER):

        kp_mirror_t         on the node that writes the log: reads frames
                            that are durable locally (it is told up to
                            which seq) from the segment files and sends
                            them, at most KP_MIRROR_WINDOW messages not
                            yet acknowledged (go-back-N: on a timeout or a
                            refused message it asks where the copy ends and
                            resumes from there).
        kp_mirror_keeper_t  on the mirror: DIR/<node name>/ per node it
                            keeps. It knows the last seq and hash of each
                            copy (read back from the files when it starts),
                            appends a message's frames only if they start
                            exactly where the copy ends and continue its
                            chain, fsyncs each copy once per group of
                            messages and then acknowledges where it ends.

    Wire (every message: command, node name, epoch u64le, ...):
        HELLO                                 -> POS seg off seq
        SEG    name header(64 bytes)          a new segment starts
        FRAMES seg off(u64le) frames          -> ACK seg off seq (after fsync)
        ANCHOR frame                          -> ANCHORED seq(u64le)
                the log's prune anchor (a checkpoint frame, written by
                kpctl log prune): the keeper prunes the copy the same way
                (writes the anchor, removes the segments before the one
                that continues it; a copy that ends before it keeps no
                segment and resumes from the anchor), so the copy still
                verifies; sent every half second while the log's anchor is
                past the copy's
        errors: ERR code detail seg off seq   the copy's end; code GAP
                (not where the copy ends), FORK (chain differs), BAD_FRAME,
                BAD_SEGMENT, UNKNOWN_NODE, IO
    The epoch is the shipper's resume count: answers to an older one are
    ignored, so messages still in flight from before a resume cannot make
    it resume again.

    Security: unless the cluster is insecure the link is CURVE. The
    keeper's ROUTER is a CURVE server with its node's certificate on ZAP
    domain "peer" (the node's ZAP handler lets in the node keys of the
    cluster file, and only those); the shipper's DEALER is a CURVE client
    with its own node's certificate, trusting the keeper node's key. The
    keeper then checks every message against the key it came with: a
    node ships only its own log, so a message naming node N must come
    with N's key; any other is refused (ERR NOT_ITS_LOG, without the
    copy's position), logged and counted, and changes nothing.

    Degraded mode: when no acknowledgement has come for timeout_ms while
    durable records wait for one, the shipper says it is degraded (the node
    then releases responses on local durability alone) until the copy has
    caught up with what was durable when it came back.

    Threading: each object is used by one thread (the node's loop); the
    actors own their sockets and files.
*/
#ifndef KP_MIRROR_H_INCLUDED
#define KP_MIRROR_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define KP_MIRROR_WINDOW 16            //  FRAMES messages in flight
#define KP_MIRROR_CHUNK (256u * 1024u) //  bytes of frames per message (or one whole frame)

typedef struct _kp_mirror_t kp_mirror_t;

//  CURVE on the link: this node's certificate (borrowed: the caller keeps
//  it until the object is destroyed) and, for the shipper, the keeper
//  node's public key (Z85). A NULL cert means plain text.
typedef struct {
    zcert_t *cert;
    const char *server_key;
} kp_mirror_curve_t;

//  Ships the log in dir (written by node) to endpoint. timeout_ms bounds
//  the wait for an acknowledgement before it degrades; curve NULL or
//  without cert: plain text. NULL on failure.
kp_mirror_t *kp_mirror_new(const char *node, const char *dir, const char *endpoint,
                           uint32_t timeout_ms, const kp_mirror_curve_t *curve);
void kp_mirror_destroy(kp_mirror_t **self_p);

//  Tells the shipper that the log is durable up to seq (cheap; call on
//  every durability notice).
void kp_mirror_durable(kp_mirror_t *self, uint64_t seq);

//  Readable when the shipper has news (acknowledged seq, degraded state).
zsock_t *kp_mirror_sock(kp_mirror_t *self);
//  Reads the news without blocking.
void kp_mirror_recv(kp_mirror_t *self);

uint64_t kp_mirror_acked(const kp_mirror_t *self);        //  highest seq durable on the mirror
bool kp_mirror_degraded(const kp_mirror_t *self);         //  going on with local durability
uint64_t kp_mirror_degradations(const kp_mirror_t *self); //  times it became degraded

//  Whether the node has a majority of the cluster (true until told). The
//  degraded mode is for a node that lost its mirror, not its majority
//  (issue 12): a node cut off from both may be on the site that is lost,
//  so its responses wait until their records are on two sites (the
//  clients' deadlines send them to the majority) rather than leave with
//  evidence on one site only.
void kp_mirror_quorum(kp_mirror_t *self, bool quorum);
//  Degraded without a majority: responses are held for the mirror.
bool kp_mirror_held(const kp_mirror_t *self);

//  The records that left on one site only (log/localonly.h): after
//  kp_mirror_recv, each LOG_MIRROR record the node should write, oldest
//  first: true with from (0: none) and to (0: the range stays open). On a
//  degradation, from is the first record the mirror had not acknowledged;
//  on the catch-up, to is the last; and once after a start with records
//  in the log, when the copy first holds them all, a record with to alone
//  (closing a range a node that died degraded left open).
bool kp_mirror_mark(kp_mirror_t *self, uint64_t *from, uint64_t *to);
//  The node wrote the record that opens a range (a from without to) at
//  seq: responses leave on local durability only once it is durable too,
//  so that no response leaves unmirrored before the log says so. Until
//  the node tells it (after a degradation), none leave unmirrored.
void kp_mirror_marked(kp_mirror_t *self, uint64_t seq);
//  The first record of the range still open (degraded), or 0.
uint64_t kp_mirror_local_from(const kp_mirror_t *self);

//  Up to which seq responses may leave, given the local durable seq: the
//  lower of both, or durable alone while degraded with a majority (once
//  the range's opening record is durable, kp_mirror_marked).
uint64_t kp_mirror_release(const kp_mirror_t *self, uint64_t durable);

typedef struct _kp_mirror_keeper_t kp_mirror_keeper_t;

//  Keeps copies in dir/<name>/ for the nodes named in names (count of
//  them), receiving on bind. With a cert (CURVE), keys[i] is the public
//  key (Z85) of names[i], the only key its messages may come with; keys
//  is unused when cert is NULL (plain text). NULL and a message in err
//  (errlen bytes).
kp_mirror_keeper_t *kp_mirror_keeper_new(const char *dir, const char *bind,
                                         const char *const *names, const char *const *keys,
                                         size_t count, zcert_t *cert, char *err, size_t errlen);

//  Messages the keeper refused so far, and of them those that came with
//  another node's key (NOT_ITS_LOG).
void kp_mirror_keeper_counts(kp_mirror_keeper_t *self, uint64_t *refused, uint64_t *not_its_log);
void kp_mirror_keeper_destroy(kp_mirror_keeper_t **self_p);

//  The keeper's checks and writes without socket or thread, for the
//  fuzzer (tests/fuzz/fuzz_mirrorkeep.c): messages are fed as the ROUTER
//  delivers them (routing id first), each followed by the group's fsync;
//  answers are dropped. Destroy it with kp_mirror_keeper_destroy.
kp_mirror_keeper_t *kp_mirror_keeper_offline(const char *dir, const char *const *names,
                                             size_t count, char *err, size_t errlen);
void kp_mirror_keeper_feed(kp_mirror_keeper_t *self, zmsg_t **msg_p);
//  Messages refused so far (offline keepers only).
uint64_t kp_mirror_keeper_refused(const kp_mirror_keeper_t *self);

#endif
