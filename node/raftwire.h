/*  raftwire.h - libraft's messages as PeerFrames (proto/kruispunt.proto).

    Encoding packs a struct raft_message (all but InstallSnapshot, which
    travels as a snapshot transfer, see raftio.c) into one PeerFrame.
    Decoding is defensive: a frame from the network is hostile. Every
    field is bounded (entries per frame, bytes per entry, addresses,
    servers in a configuration), the cluster name must match, and a frame
    that fails any check is refused with a named reason, never half used.

    Memory of a decoded raft_message (entries and their one batch) is
    allocated with raft_malloc: libraft takes it over in its recv callback.
*/
#ifndef KP_RAFTWIRE_H_INCLUDED
#define KP_RAFTWIRE_H_INCLUDED

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

#define KP_RAFTWIRE_MAX_ENTRIES 4096
#define KP_RAFTWIRE_MAX_ADDRESS 255
#define KP_RAFTWIRE_MAX_SERVERS 64
#define KP_RAFTWIRE_MAX_CHUNK (1u << 20)

//  Why a frame was refused; counted per reason by the transport.
typedef enum {
    KP_RAFTWIRE_OK = 0,
    KP_RAFTWIRE_MALFORMED, //  not a PeerFrame
    KP_RAFTWIRE_TOO_LARGE, //  over the limit given to decode
    KP_RAFTWIRE_WRONG_CLUSTER,
    KP_RAFTWIRE_BAD_SENDER, //  no from_id, or a from address too long
    KP_RAFTWIRE_BAD_FIELD,  //  a field missing or out of bounds
    KP_RAFTWIRE_NO_MEMORY,
    KP_RAFTWIRE_NOT_ITS_KEY, //  from_id names a member whose key it was not sent with
    KP_RAFTWIRE_REASONS
} kp_raftwire_reason_t;

const char *kp_raftwire_reason_name(kp_raftwire_reason_t reason);

//  Packs message as sent by (from_id, from) in cluster into a malloc'd
//  buffer (*size bytes). NULL on failure.
uint8_t *kp_raftwire_encode(const char *cluster, raft_id from_id, const char *from,
                            const struct raft_message *message, size_t *size);

//  Packs an already filled frame (snapshot transfer frames), setting its
//  sender fields. NULL on failure.
uint8_t *kp_raftwire_pack(const char *cluster, raft_id from_id, const char *from,
                          Kp__PeerFrame *frame, size_t *size);

//  Unpacks and checks a frame. On KP_RAFTWIRE_OK, *frame is the decoded
//  frame (free with kp__peer_frame__free_unpacked). The sender's checks
//  (cluster, from_id, from) are done here; the body's by the functions
//  below.
kp_raftwire_reason_t kp_raftwire_unpack(const char *cluster, const uint8_t *data, size_t size,
                                        size_t max_size, Kp__PeerFrame **frame);

//  Converts a checked frame holding a raft RPC into message (server_id and
//  server_address point into frame). KP_RAFTWIRE_BAD_FIELD if the body
//  is not a raft RPC or a field is out of bounds.
kp_raftwire_reason_t kp_raftwire_to_message(const Kp__PeerFrame *frame,
                                            struct raft_message *message);

//  Configurations as repeated RaftServer, bounded.
int kp_raftwire_conf_encode(const struct raft_configuration *conf, Kp__RaftServer ***servers,
                            size_t *n);
void kp_raftwire_conf_free(Kp__RaftServer **servers, size_t n);
kp_raftwire_reason_t kp_raftwire_conf_decode(Kp__RaftServer *const *servers, size_t n,
                                             struct raft_configuration *conf);

#endif
