/*  fuzz_admin.c - an operator's request, as the node reads it: the frame
    checks, the decoder, then the command itself against the sample
    directory (directory.apply included: its update is checked op by op
    before anything is written). */
#include <stdint.h>
#include <stdlib.h>

#include "admin.h"
#include "frames.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kp_registry_t *registry;
    static kp_flight_t *flight;
    static kp_stats_t *stats;
    static kp_cluster_config_t cluster;
    if (!registry) {
        registry = kp_registry_new(1000);
        flight = kp_flight_new();
        stats = kp_stats_new();
        cluster.node_count = 1;
    }
    kp_refusal_t refusal;
    //  The node's own reading: the update left packed.
    kp_frames_admin_t split;
    if (kp_frames_admin_split(data, size, 1, &split, &refusal) == 0)
        kp__admin_request__free_unpacked(split.request, NULL);
    Kp__AdminRequest *request = kp_frames_admin(data, size, 1, &refusal);
    if (!request)
        return 0;
    static const kp_cluster_status_t raft; //  a node that has not heard from its cluster yet
    kp_admin_context_t context = {.directory = fuzz_directory(),
                                  .workers = registry,
                                  .flight = flight,
                                  .stats = stats,
                                  .cluster = &cluster,
                                  .me = &cluster.nodes[0],
                                  .raft = &raft};
    uint64_t seq;
    char err[512];
    free(kp_admin_handle(&context, request, &seq, err, sizeof err));
    kp__admin_request__free_unpacked(request, NULL);
    return 0;
}
