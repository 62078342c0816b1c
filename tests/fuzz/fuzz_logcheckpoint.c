/*  fuzz_logcheckpoint.c - a checkpoint of the privacy log: the prune
    anchor file (DIR/anchor, read by verify and by the next prune) and a
    checkpoint frame's body with its Ed25519 signature, checked against
    the public key it carries.

    Input: one mode byte, then the frame. Mode bit 0 repairs the frame's
    CRC so that the fuzzer reaches the protobuf and the signature. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "privlog_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t frame[4096];
    size_t len = size - 1;
    memcpy(frame, data + 1, len);
    if ((data[0] & 1) && len >= KP_PRIVLOG_FRAME_HEADER) {
        uint32_t body = kp_le32_get(frame);
        if (body <= len - KP_PRIVLOG_FRAME_HEADER) {
            uint32_t crc = kp_privlog_crc32c(0, frame, 4);
            crc = kp_privlog_crc32c(crc, frame + 8, KP_PRIVLOG_FRAME_HEADER - 8 + body);
            kp_le32_put(frame + 4, crc);
        }
    }
    privlog_frame_t parsed;
    if (privlog_frame_parse(frame, len, &parsed) == PRIVLOG_FRAME_OK) {
        Kp__LogCheckpoint *cp = kp__log_checkpoint__unpack(NULL, parsed.len, parsed.body);
        if (cp)
            privlog_checkpoint_valid(cp, NULL);
        kp__log_checkpoint__free_unpacked(cp, NULL);
    }
    const char *dir = fuzz_folder();
    char path[256];
    snprintf(path, sizeof path, "%s/anchor", dir);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(frame, 1, len, out) != len)
        abort();
    fclose(out);
    Kp__LogCheckpoint *anchor = NULL;
    if (privlog_anchor_read(dir, &anchor) == 0)
        privlog_checkpoint_valid(anchor, NULL);
    kp__log_checkpoint__free_unpacked(anchor, NULL);
    fuzz_folder_empty();
    return 0;
}
