/*  fuzz_client.c - a client's request frame, as the node reads it: the
    frame checks, the protobuf decoder in its arena, the request's own
    fields, then the preventive control against the sample directory. */
#include <stdint.h>

#include "control.h"
#include "frames.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kp_directory_t *directory = fuzz_directory();
    static kp_limits_config_t limits;
    if (!limits.max_deadline_ms)
        kp_config_limits_default(&limits);
    kp_refusal_t refusal;
    Kp__Request *request = kp_frames_request(data, size, 1, 1 << 20, &refusal);
    if (!request)
        return 0;
    if (kp_frames_request_check(request, &limits, &refusal) == 0) {
        char err[256];
        MDB_txn *txn = kp_directory_read_begin(directory, err, sizeof err);
        kp_decision_t decision;
        kp_control_decide(directory, txn, request, 20000, &decision);
        kp_directory_read_end(&txn);
    }
    kp_frames_request_free(request);
    return 0;
}
