/*  fuzz_logsegment.c - one segment file of the privacy log, as verify
    (kpctl log verify), scan (kpctl log query and export) and the writer's
    recovery at start (kp_privlog_open) read it.

    Input: one mode byte, then the file. Mode bit 0 repairs the CRCs of
    the header and of every frame that fits, and bit 1 the chain hashes of
    the records, so that the fuzzer gets past them to what lies behind
    (record bodies, sequence, chain, checkpoint signatures); bit 2 opens
    the log for writing too (recovery cuts a torn tail). The file's name
    follows its header's first seq and day, as the writer names it. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "privlog_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_repair(uint8_t *file, size_t size, bool chain)
{
    if (size < KP_PRIVLOG_SEGMENT_HEADER)
        return;
    kp_le32_put(file + 60, kp_privlog_crc32c(0, file, 60));
    uint8_t prev[32];
    memcpy(prev, file + 24, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off + KP_PRIVLOG_FRAME_HEADER <= size) {
        uint8_t *p = file + off;
        uint32_t len = kp_le32_get(p);
        if (len > KP_PRIVLOG_MAX_BODY || len > size - off - KP_PRIVLOG_FRAME_HEADER)
            break;
        if (chain && p[8] == KP_PRIVLOG_KIND_RECORD) {
            privlog_chain_hash(ctx, EVP_sha256(), prev, p[8], kp_le64_get(p + 9),
                               p + KP_PRIVLOG_FRAME_HEADER, len, p + 17);
            memcpy(prev, p + 17, 32);
        }
        uint32_t crc = kp_privlog_crc32c(0, p, 4);
        crc = kp_privlog_crc32c(crc, p + 8, KP_PRIVLOG_FRAME_HEADER - 8 + len);
        kp_le32_put(p + 4, crc);
        off += KP_PRIVLOG_FRAME_HEADER + len;
    }
    EVP_MD_CTX_free(ctx);
}

//  The writer's name for a segment: first seq and UTC day of its header.
static void s_name(const uint8_t *file, size_t size, char name[64])
{
    uint64_t seq = 1;
    int32_t day = 20000;
    if (size >= KP_PRIVLOG_SEGMENT_HEADER) {
        seq = kp_le64_get(file + 8);
        day = (int32_t)kp_le32_get(file + 16);
    }
    if (day < 0 || day > 2900000) //  years 1970 to 9909
        day = 20000;
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(name, 64, "%020" PRIu64 "-%04d%02d%02d.kplog", seq, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
}

static int s_count(const Kp__LogRecord *record, uint64_t seq, void *arg)
{
    (void)record, (void)seq;
    (*(uint64_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 20)
        return 0;
    uint8_t mode = data[0];
    uint8_t *file = malloc(size);
    memcpy(file, data + 1, size - 1);
    size--;
    if (mode & 1)
        s_repair(file, size, mode & 2);
    const char *dir = fuzz_folder();
    char name[64];
    s_name(file, size, name);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (!out || fwrite(file, 1, size, out) != size)
        abort();
    fclose(out);
    free(file);

    char error[256];
    kp_privlog_verify_t result;
    kp_privlog_verify(dir, INT32_MIN, INT32_MAX, NULL, &result, error, sizeof error);
    uint64_t records = 0;
    kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_count, &records, error, sizeof error);
    if (mode & 4) {
        kp_privlog_options_t options;
        kp_privlog_options_default(&options);
        options.index = false;
        kp_privlog_recovery_t recovery;
        kp_privlog_t *log = kp_privlog_open(dir, &options, &recovery, error, sizeof error);
        kp_privlog_destroy(&log);
    }
    fuzz_folder_empty();
    return 0;
}
