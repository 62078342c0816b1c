/*  fuzz_mirrorkeep.c - messages to the log mirror's keeper (log/mirror.h),
    as its ROUTER receives them from the network: HELLO, SEG and FRAMES
    with their segment names, offsets, headers and frames, checked against
    the copy and written into a folder of the harness's own.

    Input: frames, each a 16-bit little-endian length and its bytes; the
    length 0xffff ends a message (the next frames make the next one). A
    routing id goes in front of every message, as the ROUTER adds it. The
    keeper keeps one copy, of "node-1", new for every input. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "mirror.h"
#include "privlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_END 0xffffu
#define S_MESSAGES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *names[] = {"node-1"};
    char err[256];
    kp_mirror_keeper_t *keeper = kp_mirror_keeper_offline(fuzz_folder(), names, 1, err, sizeof err);
    if (!keeper)
        abort();
    size_t used = 0;
    for (int m = 0; m < S_MESSAGES && used < size; m++) {
        zmsg_t *msg = zmsg_new();
        zmsg_addstr(msg, "fuzz");
        while (used + 2 <= size) {
            size_t len = (size_t)data[used] | (size_t)data[used + 1] << 8;
            used += 2;
            if (len == S_END)
                break;
            if (len > size - used)
                len = size - used;
            zmsg_addmem(msg, data + used, len);
            used += len;
        }
        kp_mirror_keeper_feed(keeper, &msg);
        if (used + 2 > size)
            break;
    }
    kp_mirror_keeper_destroy(&keeper);
    fuzz_folder_empty();
    return 0;
}
