/*  fuzz_peer.c - a frame of the cluster's own traffic (PeerFrame), as a
    member reads it: the sender's checks (kp_raftwire_unpack), a raft RPC
    into libraft's message (kp_raftwire_to_message), and a snapshot offer,
    grant or chunk through the snapshot transfer, which writes its files
    into a folder of the harness's own. */
#include <raft.h>
#include <stdint.h>
#include <stdlib.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Kp__PeerFrame *frame = NULL;
    if (kp_raftwire_unpack("fuzz", data, size, 4u << 20, &frame) != KP_RAFTWIRE_OK)
        return 0;
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
