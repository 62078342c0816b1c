/*  fuzz_peer.c - a frame of the cluster's own traffic (PeerFrame), as a
    member reads it: the sender's checks (kp_raftwire_unpack), a raft RPC
    into libraft's message (kp_raftwire_to_message), and a snapshot offer,
    grant or chunk through the snapshot transfer, which writes its files
    into a folder of the harness's own; a forwarded proposal as the leader
    reads it (its age, its update), a forward's result as the follower
    that sent forward 1 to that member takes it. */
#include <raft.h>
#include <stdint.h>
#include <stdlib.h>

#include "forward.h"
#include "fuzz_common.h"
#include "raftwire.h"
#include "snapxfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_send(void *arg, raft_id id, const char *address, Kp__PeerFrame *frame)
{
    (void)arg, (void)id, (void)address, (void)frame;
    return 0;
}

static void s_deliver(void *arg, struct raft_message *message)
{
    (void)arg;
    raft_configuration_close(&message->install_snapshot.conf);
    raft_free(message->install_snapshot.data.base);
}

static void s_message_free(struct raft_message *message)
{
    if (message->type == RAFT_IO_APPEND_ENTRIES && message->append_entries.n_entries) {
        raft_free(message->append_entries.entries[0].batch);
        raft_free(message->append_entries.entries);
    }
}

//  What node/cluster.c and node/raftio.c read of the node-level frames.
static void s_node_level(const Kp__PeerFrame *frame)
{
    if (frame->body_case == KP__PEER_FRAME__BODY_FORWARD && frame->forward) {
        int64_t age_ms;
        (void)kp_forward_stale(frame->forward, 0, &age_ms);
        Kp__DirectoryUpdate *update =
            frame->forward->has_update
                ? kp__directory_update__unpack(NULL, frame->forward->update.len,
                                               frame->forward->update.data)
                : NULL;
        kp__directory_update__free_unpacked(update, NULL);
    } else if (frame->body_case == KP__PEER_FRAME__BODY_FORWARD_RESULT && frame->forward_result) {
        kp_forward_t *forward = kp_forward_new();
        Kp__ForwardProposal body;
        if (kp_forward_start(forward, 1, frame->from_id, frame->from, (const uint8_t *)"", 0, 0, 0,
                             &body))
            abort();
        (void)kp_forward_answer(forward, frame->from_id, frame->forward_result);
        kp_forward_destroy(&forward);
    }
    //  A MemberRemoved is read whole by kp_raftwire_unpack; raftio only
    //  checks that term and conf_index are present.
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Kp__PeerFrame *frame = NULL;
    if (kp_raftwire_unpack("fuzz", data, size, 4u << 20, &frame) != KP_RAFTWIRE_OK)
        return 0;
    s_node_level(frame);
    struct raft_message message;
    if (kp_raftwire_to_message(frame, &message) == KP_RAFTWIRE_OK)
        s_message_free(&message);
    if (frame->body_case == KP__PEER_FRAME__BODY_SNAPSHOT_OFFER ||
        frame->body_case == KP__PEER_FRAME__BODY_SNAPSHOT_GRANT ||
        frame->body_case == KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK) {
        char err[256];
        kp_snapxfer_t *xfer =
            kp_snapxfer_new(fuzz_folder(), "fuzz", s_send, s_deliver, NULL, err, sizeof err);
        if (!xfer)
            abort();
        kp_snapxfer_on_frame(xfer, frame);
        kp_snapxfer_destroy(&xfer);
        fuzz_folder_empty();
    }
    kp__peer_frame__free_unpacked(frame, NULL);
    return 0;
}
