/*  test_privlog.c - the privacy log: CRC32C, framing, chain, signatures,
    torn tails, tampering, index queries, prune, export, the logger actor.
    Real files in a mkdtemp folder; nothing mocked. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "logger.h"
#include "logindex.h"
#include "privlog.h"
#include "privlog_impl.h"
#include "spare.h"
#include "tmpdir.h"

#define DAY_US (86400ull * 1000000ull)

typedef struct {
    char dir[256];
    char log[300];
    char key[300];
    char pub[310];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (kp_test_tmpdir(f->dir, sizeof f->dir, "kp-privlog")) {
        free(f);
        return -1;
    }
    snprintf(f->log, sizeof f->log, "%s/log", f->dir);
    snprintf(f->key, sizeof f->key, "%s/log.key", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s.pub", f->key);
    char error[256];
    if (kp_privlog_keygen(f->key, error, sizeof error)) {
        kp_test_rmtree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    kp_test_rmtree(f->dir);
    free(f);
    return 0;
}

static const char *s_people[] = {"85073003328", "90020199713", "00010112345", "71061523105",
                                 "60112503118"};
static const char *s_kbos[] = {"0200065765", "0212344876", "0206731645", "0240683202"};
static const char *s_messages[] = {"wage", "unemployment", "family", "pension"};

//  Record i, deterministic: person, sender, provider, message from i.
static void s_record(Kp__LogRecord *r, Kp__LogPart *part, Kp__LogPart **parts, unsigned i,
                     uint64_t time_us, char *id)
{
    kp__log_record__init(r);
    kp__log_part__init(part);
    sprintf(id, "req-%u", i);
    r->request_id = id;
    r->has_time_unix_us = 1;
    r->time_unix_us = time_us;
    r->message = (char *)s_messages[i % 4];
    r->user = "app";
    r->sender_kbo = (char *)s_kbos[i % 3];
    r->person = (char *)s_people[i % 5];
    r->has_capacity = 1;
    r->capacity = i % 7;
    r->has_status = 1;
    r->status = i % 11 == 0 ? KP__STATUS__DENIED : KP__STATUS__OK;
    part->kbo = (char *)s_kbos[3 - i % 2];
    part->has_status = 1;
    part->status = KP__STATUS__OK;
    parts[0] = part;
    r->n_parts = 1;
    r->parts = parts;
}

//  Writes n records, committing every `group`, times starting at t0.
static void s_fill(const char *dir, const kp_privlog_options_t *opt, unsigned from, unsigned n,
                   unsigned group, uint64_t t0, uint64_t step_us)
{
    char error[256];
    kp_privlog_t *log = kp_privlog_open(dir, opt, NULL, error, sizeof error);
    assert_non_null(log);
    for (unsigned i = from; i < from + n; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, i, t0 + (uint64_t)(i - from) * step_us, id);
        assert_int_equal(kp_privlog_append(log, &r), i + 1);
        if ((i + 1) % group == 0)
            assert_int_equal(kp_privlog_commit(log), 0);
    }
    kp_privlog_destroy(&log);
    assert_null(log);
}

//  The wall clock in microseconds, as the records carry it.
static uint64_t s_now_us(void)
{
    return (uint64_t)zclock_time() * 1000u;
}

static void s_options(kp_privlog_options_t *opt, const fixture_t *f)
{
    kp_privlog_options_default(opt);
    //  KP_TEST_LOG_DIRECT=1: every test on O_DIRECT appends (meson's
    //  privlog_direct), the node's default being buffered.
    const char *direct = getenv("KP_TEST_LOG_DIRECT");
    opt->direct = direct && streq(direct, "1");
    opt->key_file = f->key;
    opt->index_map_size = 64u << 20;
}

//  The single segment's path.
static void s_only_segment(const char *dir, char *path)
{
    kp_privlog_segment_t *segs;
    char error[256];
    int n = kp_privlog_segments(dir, &segs, error, sizeof error);
    assert_true(n >= 1);
    sprintf(path, "%s/%s", dir, segs[n - 1].name);
    free(segs);
}

static uint8_t *s_slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(*size + 1);
    assert_int_equal(fread(data, 1, *size, f), *size);
    fclose(f);
    return data;
}

static void s_spit(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

//  Offsets of the first frames of a segment.
static size_t s_frames(const uint8_t *data, size_t size, size_t *offs, size_t max)
{
    size_t n = 0, off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off + KP_PRIVLOG_FRAME_HEADER <= size && n < max) {
        offs[n++] = off;
        uint32_t len = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                       (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
        off += KP_PRIVLOG_FRAME_HEADER + len;
    }
    return n;
}

// ---------------------------------------------------------------------------

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(kp_privlog_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, 32);
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    //  RFC 3720 B.4 vectors.
    assert_int_equal(kp_privlog_crc32c(0, zeros, 32), 0x8A9136AAu);
    assert_int_equal(kp_privlog_crc32c(0, ones, 32), 0x62A8AB43u);
    assert_int_equal(kp_privlog_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(kp_privlog_crc32c(0, "", 0), 0);
    //  Continuation and unaligned starts give the same answer.
    uint32_t c = kp_privlog_crc32c(0, "1234", 4);
    assert_int_equal(kp_privlog_crc32c(c, "56789", 5), 0xE3069283u);
    char buf[16];
    memcpy(buf + 3, "123456789", 9);
    assert_int_equal(kp_privlog_crc32c(0, buf + 3, 9), 0xE3069283u);
    //  The same vectors through the tables (the fallback of CPUs without
    //  a CRC32C instruction).
    assert_int_equal(kp_privlog_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(kp_privlog_crc32c_portable(0, inc, 32), 0x46DD794Eu);
}

//  The instruction and the tables agree on random buffers of every
//  length, alignment and starting value.
static void test_crc32c_paths_agree(void **state)
{
    (void)state;
    uint8_t buf[300];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t start = x % 8, size = (x >> 8) % (sizeof buf - 8);
        for (size_t i = 0; i < size; i++)
            buf[start + i] = (uint8_t)((x >> (i % 56)) + i * 131);
        uint32_t seed = (uint32_t)(x >> 32);
        assert_int_equal(kp_privlog_crc32c(seed, buf + start, size),
                         kp_privlog_crc32c_portable(seed, buf + start, size));
    }
}

static void test_chain_and_signature(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.checkpoint_every = 100;
    s_fill(f->log, &opt, 0, 1000, 10, s_now_us(), 1000);
    //  Reopen and continue: the chain goes on.
    s_fill(f->log, &opt, 1000, 500, 7, s_now_us(), 1000);
    kp_privlog_verify_t v;
    char error[256];
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_true(v.ok);
    assert_int_equal(v.records, 1500);
    assert_int_equal(v.last_seq, 1500);
    assert_true(v.checkpoints >= 15);
    assert_int_equal(v.unsigned_tail, 0); //  close writes a final checkpoint
    //  Another key: every signature is refused.
    char other[320];
    snprintf(other, sizeof other, "%s/other.key", f->dir);
    assert_int_equal(kp_privlog_keygen(other, error, sizeof error), 0);
    strcat(other, ".pub");
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, other, &v, error, sizeof error), 1);
    assert_string_equal(v.problem, "signature");
    //  The key file is private.
    struct stat st;
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    //  keygen does not overwrite.
    assert_int_equal(kp_privlog_keygen(f->key, error, sizeof error), -1);
}

static void test_segments_roll(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 16 * 1024;
    uint64_t t0 = 20000 * DAY_US;
    s_fill(f->log, &opt, 0, 2000, 50, t0, 60000000); //  a record a minute: 1.4 days
    kp_privlog_segment_t *segs;
    char error[256];
    int n = kp_privlog_segments(f->log, &segs, error, sizeof error);
    assert_true(n > 5);
    assert_int_equal(segs[0].first_seq, 1);
    assert_int_equal(segs[0].day, 20000);
    assert_int_equal(segs[n - 1].day, 20001);
    free(segs);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, 2000);
    assert_int_equal(v.segments, (uint64_t)n);
    //  One day only: starts mid-log, still verifies.
    assert_int_equal(kp_privlog_verify(f->log, 20001, 20001, f->pub, &v, error, sizeof error), 0);
    assert_true(v.records > 0 && v.records < 2000);
}

static void test_torn_tail(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.checkpoint_every = 50;
    s_fill(f->log, &opt, 0, 300, 10, s_now_us(), 1000);
    char path[600];
    s_only_segment(f->log, path);
    size_t size;
    uint8_t *data = s_slurp(path, &size);
    srand(7);
    for (int round = 0; round < 25; round++) {
        size_t cut =
            KP_PRIVLOG_SEGMENT_HEADER + (size_t)rand() % (size - KP_PRIVLOG_SEGMENT_HEADER);
        s_spit(path, data, cut);
        kp_privlog_recovery_t rec;
        char error[256];
        kp_privlog_t *log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
        assert_non_null(log);
        uint64_t last = kp_privlog_last_seq(log);
        assert_true(last <= 300);
        //  What survives is whole: appending goes on after it.
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, (unsigned)last, s_now_us(), id);
        assert_int_equal(kp_privlog_append(log, &r), last + 1);
        assert_int_equal(kp_privlog_commit(log), 0);
        kp_privlog_destroy(&log);
        kp_privlog_verify_t v;
        assert_int_equal(
            kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
        assert_int_equal(v.records, last + 1);
        assert_false(v.torn_tail);
        //  Every record the index knows can be read back.
        s_spit(path, data, size);
    }
    //  A cut inside a record is reported.
    size_t offs[4];
    s_frames(data, size, offs, 4);
    s_spit(path, data, offs[2] + 10);
    kp_privlog_recovery_t rec;
    char error[256];
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
    assert_non_null(log);
    assert_true(rec.torn);
    assert_int_equal(rec.offset, offs[2]);
    assert_int_equal(rec.bytes_dropped, 10);
    assert_int_equal(kp_privlog_last_seq(log), 2);
    kp_privlog_destroy(&log);
    //  Damage with intact records behind it is not a torn tail.
    data[offs[1] + 60] ^= 1;
    s_spit(path, data, size);
    assert_null(kp_privlog_open(f->log, &opt, NULL, error, sizeof error));
    assert_non_null(strstr(error, "not a torn tail"));
    free(data);
}

//  Writes a small unsigned-in-the-middle log, applies edit, verifies.
static void s_tamper(fixture_t *f, void (*edit)(uint8_t *, size_t *, const size_t *),
                     const char *expect, uint64_t expect_seq)
{
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.checkpoint_every = 1000;
    s_fill(f->log, &opt, 0, 20, 20, s_now_us(), 1000);
    char path[600];
    s_only_segment(f->log, path);
    size_t size;
    uint8_t *data = s_slurp(path, &size);
    uint8_t *grown = realloc(data, size * 2);
    assert_non_null(grown);
    data = grown;
    size_t offs[32];
    assert_true(s_frames(data, size, offs, 32) >= 20);
    edit(data, &size, offs);
    s_spit(path, data, size);
    kp_privlog_verify_t v;
    char error[256];
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 1);
    assert_false(v.ok);
    assert_string_equal(v.problem, expect);
    assert_int_equal(v.seq, expect_seq);
    assert_true(v.offset >= KP_PRIVLOG_SEGMENT_HEADER);
    free(data);
}

static void s_change_byte(uint8_t *data, size_t *size, const size_t *offs)
{
    (void)size;
    data[offs[5] + KP_PRIVLOG_FRAME_HEADER + 3] ^= 0x20;
}

static void s_remove_record(uint8_t *data, size_t *size, const size_t *offs)
{
    memmove(data + offs[7], data + offs[8], *size - offs[8]);
    *size -= offs[8] - offs[7];
}

static void s_insert_record(uint8_t *data, size_t *size, const size_t *offs)
{
    //  A copy of record 3 slipped in after record 10.
    size_t len = offs[3] - offs[2];
    memmove(data + offs[10] + len, data + offs[10], *size - offs[10]);
    memcpy(data + offs[10], data + offs[2], len);
    *size += len;
}

static void s_reorder_records(uint8_t *data, size_t *size, const size_t *offs)
{
    (void)size;
    size_t a = offs[4], b = offs[5], c = offs[6];
    uint8_t tmp[4096];
    memcpy(tmp, data + a, c - a);
    memcpy(data + a, tmp + (b - a), c - b);
    memcpy(data + a + (c - b), tmp, b - a);
}

static void test_tamper_changed(void **state)
{
    s_tamper(*state, s_change_byte, "changed", 6);
}

static void test_tamper_removed(void **state)
{
    s_tamper(*state, s_remove_record, "removed", 8);
}

static void test_tamper_inserted(void **state)
{
    s_tamper(*state, s_insert_record, "inserted", 11);
}

static void test_tamper_reordered(void **state)
{
    s_tamper(*state, s_reorder_records, "reordered", 5);
}

static void test_tamper_rehashed(void **state)
{
    //  A record changed and the chain recomputed: CRC and hashes hold,
    //  the signed checkpoint does not.
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    s_fill(f->log, &opt, 0, 10, 10, s_now_us(), 1000);
    char path[600];
    s_only_segment(f->log, path);
    kp_privlog_options_t plain;
    kp_privlog_options_default(&plain);
    plain.index = false;
    //  Rewrite the log without a key, with record 4 changed.
    char copy[400];
    snprintf(copy, sizeof copy, "%s/forged", f->dir);
    char error[256];
    kp_privlog_t *log = kp_privlog_open(copy, &plain, NULL, error, sizeof error);
    for (unsigned i = 0; i < 10; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, i, 1000, id);
        if (i == 3)
            r.person = "85073003328";
        kp_privlog_append(log, &r);
    }
    kp_privlog_commit(log);
    kp_privlog_destroy(&log);
    //  Splice: forged records, then the original checkpoint frame.
    size_t fs, os;
    char forged[600];
    s_only_segment(copy, forged);
    uint8_t *fd = s_slurp(forged, &fs), *od = s_slurp(path, &os);
    size_t offs[16];
    size_t n = s_frames(od, os, offs, 16);
    assert_int_equal(n, 11); //  10 records and the closing checkpoint
    uint8_t *joined = realloc(fd, fs + os);
    assert_non_null(joined);
    fd = joined;
    memcpy(fd + fs, od + offs[10], os - offs[10]);
    s_spit(path, fd, fs + os - offs[10]);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 1);
    assert_string_equal(v.problem, "changed");
    assert_int_equal(v.seq, 1); //  somewhere after the last good checkpoint
    free(fd);
    free(od);
}

typedef struct {
    uint64_t seqs[4096];
    size_t n;
} s_hits_t;

static int s_collect(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    (void)segment, (void)offset;
    s_hits_t *h = arg;
    h->seqs[h->n++] = seq;
    return 0;
}

static void test_index_queries(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 32 * 1024;
    uint64_t t0 = 20000 * DAY_US;
    s_fill(f->log, &opt, 0, 3000, 100, t0, 1000000);
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    assert_non_null(index);
    kp_privlog_reader_t *reader = kp_privlog_reader_new(f->log, error, sizeof error);
    assert_non_null(reader);
    //  Person, with a time window: the reference is the generator.
    uint64_t from = t0 + 500 * 1000000ull, to = t0 + 2500 * 1000000ull;
    for (int p = 0; p < 5; p++) {
        s_hits_t hits = {.n = 0};
        assert_true(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], from, to, s_collect,
                                      &hits) >= 0);
        size_t expect = 0;
        for (unsigned i = 500; i <= 2500; i++)
            if (i % 5 == (unsigned)p) {
                assert_true(expect < hits.n);
                assert_int_equal(hits.seqs[expect++], i + 1);
            }
        assert_int_equal(hits.n, expect);
    }
    //  Institutions: as sender and as provider.
    s_hits_t hits = {.n = 0};
    kp_logindex_query(index, KP_LOGINDEX_INSTITUTION, s_kbos[3], 0, UINT64_MAX, s_collect, &hits);
    assert_int_equal(hits.n, 1500); //  provider of every even record
    hits.n = 0;
    kp_logindex_query(index, KP_LOGINDEX_INSTITUTION, s_kbos[1], 0, UINT64_MAX, s_collect, &hits);
    assert_int_equal(hits.n, 1000); //  sender of i%3==1
    hits.n = 0;
    kp_logindex_query(index, KP_LOGINDEX_INSTITUTION, s_kbos[2], 0, UINT64_MAX, s_collect, &hits);
    assert_int_equal(hits.n, 2000); //  sender of i%3==2 or provider of odd i, once each
    hits.n = 0;
    kp_logindex_query(index, KP_LOGINDEX_MESSAGE, "pension", 0, UINT64_MAX, s_collect, &hits);
    assert_int_equal(hits.n, 750);
    //  The record behind an entry is the one the index promises.
    s_hits_t one = {.n = 0};
    kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[2], 0, UINT64_MAX, s_collect, &one);
    assert_int_equal(one.n, 600);
    kp_logindex_destroy(&index);
    //  Delete the index: it is rebuilt from the segments on open.
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s/data.mdb", path);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/lock.mdb", path);
    unlink(cmd);
    kp_privlog_recovery_t rec;
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
    assert_non_null(log);
    assert_int_equal(rec.indexed, 3000);
    kp_privlog_destroy(&log);
    kp_privlog_reader_destroy(&reader);
}

//  A key with one value only (a person seen once in a bucket, a message
//  type called once): LMDB keeps it without a page of duplicates, which
//  the query read as empty (a 3-node cluster's first call was not found).
static void test_index_single_value(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    uint64_t t0 = 20000 * DAY_US;
    s_fill(f->log, &opt, 0, 4, 4, t0, 1000000); //  people 0..3 once, "pension" once
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    assert_non_null(index);
    for (int p = 0; p < 4; p++) {
        s_hits_t hits = {.n = 0};
        assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], 0, UINT64_MAX,
                                           s_collect, &hits),
                         1);
        assert_int_equal(hits.n, 1);
        assert_int_equal(hits.seqs[0], (uint64_t)p + 1);
    }
    s_hits_t hits = {.n = 0};
    assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_MESSAGE, s_messages[3], 0, UINT64_MAX,
                                       s_collect, &hits),
                     1);
    assert_int_equal(hits.seqs[0], 4);
    kp_logindex_destroy(&index);
}

static int s_find_one(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    kp_privlog_reader_t *reader = arg;
    char error[256];
    uint64_t got;
    Kp__LogRecord *r = kp_privlog_reader_get(reader, segment, offset, &got, error, sizeof error);
    assert_non_null(r);
    assert_int_equal(got, seq);
    assert_string_equal(r->person, s_people[(seq - 1) % 5]);
    kp__log_record__free_unpacked(r, NULL);
    return 0;
}

//  The index checked against the log: one that does not match is rebuilt;
//  a catch-up with a budget stops and says so; a drop forgets records.
static int64_t s_person_hits(kp_logindex_t *index, int p)
{
    s_hits_t hits = {.n = 0};
    assert_true(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], 0, UINT64_MAX, s_collect,
                                  &hits) >= 0);
    for (size_t i = 1; i < hits.n; i++)
        assert_true(hits.seqs[i] > hits.seqs[i - 1]);
    return (int64_t)hits.n;
}

static void test_index_rebuild(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 32 * 1024;
    s_fill(f->log, &opt, 0, 3000, 100, 20000 * DAY_US, 1000000);
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, false, 64u << 20, error, sizeof error);
    assert_non_null(index);
    assert_int_equal(s_person_hits(index, 2), 600);
    uint64_t seq, segment, offset;
    assert_int_equal(kp_logindex_position(index, &seq, &segment, &offset), 0);
    assert_int_equal(seq, 3000);
    //  Where the index says its last record is, the log has it.
    kp_privlog_reader_t *reader = kp_privlog_reader_new(f->log, error, sizeof error);
    assert_int_equal(kp_logindex_locate(index, 3000, &segment, &offset), 0);
    uint64_t got = 0;
    Kp__LogRecord *r = kp_privlog_reader_get(reader, segment, offset, &got, error, sizeof error);
    assert_non_null(r);
    assert_int_equal(got, 3000);
    kp__log_record__free_unpacked(r, NULL);
    kp_privlog_reader_destroy(&reader);
    //  An index whose last record is not in the segment it names (as
    //  after a crash that kept a stale position): rebuilt whole.
    kp_logindex_t *view = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    assert_true(segment > 1);
    assert_int_equal(kp_logindex_set_position(index, 2999, 1, 64), 0);
    assert_int_equal(kp_logindex_commit(index), 0);
    kp_privlog_index_job_t job = {.upto_seq = UINT64_MAX};
    assert_int_equal(kp_privlog_index_run(f->log, index, &job, error, sizeof error), 3000);
    assert_true(job.rebuilt && job.complete);
    assert_non_null(strstr(job.why, "2999"));
    assert_int_equal(s_person_hits(view, 2), 600);
    //  A budget: the catch-up stops early, says so, and goes on later.
    kp_privlog_index_job_t slow = {
        .upto_seq = UINT64_MAX, .rebuild = true, .budget_ms = 1, .batch = 10};
    int64_t first = kp_privlog_index_run(f->log, index, &slow, error, sizeof error);
    assert_true(first > 0 && first < 3000);
    assert_false(slow.complete);
    kp_privlog_index_job_t rest = {.upto_seq = UINT64_MAX};
    assert_int_equal(kp_privlog_index_run(f->log, index, &rest, error, sizeof error), 3000 - first);
    assert_true(rest.complete && !rest.rebuilt);
    assert_int_equal(s_person_hits(view, 2), 600);
    //  Dropping records 1..1000 (a prune) forgets them, and only them.
    assert_int_equal(kp_logindex_drop(index, 1, 1000), 0);
    assert_int_equal(s_person_hits(view, 2), 400);
    assert_int_equal(kp_logindex_locate(index, 1000, &segment, &offset), 1);
    assert_int_equal(kp_logindex_locate(index, 1001, &segment, &offset), 0);
    kp_logindex_destroy(&view);
    kp_logindex_destroy(&index);
}

//  A call's OUTCOME is found through its DECISION, never under keys of
//  its own (it may repeat them or not), and goes with a drop of its
//  decision: 100 calls of person 0, each a DECISION then an OUTCOME.
static void test_index_outcomes(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256], path[400];
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    for (unsigned i = 0; i < 100; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, 0, 20000 * DAY_US + i, id);
        r.has_kind = true;
        r.kind = KP__LOG_KIND__LOG_DECISION;
        uint64_t decision = kp_privlog_append(log, &r);
        r.kind = KP__LOG_KIND__LOG_OUTCOME;
        r.has_decision_seq = true;
        r.decision_seq = decision;
        if (i % 2) //  half of them repeat no key of the decision
            r.person = r.message = r.sender_kbo = NULL;
        assert_int_equal(kp_privlog_append(log, &r), decision + 1);
    }
    assert_int_equal(kp_privlog_commit(log), 0);
    kp_privlog_destroy(&log);
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, false, 64u << 20, error, sizeof error);
    assert_non_null(index);
    assert_int_equal(s_person_hits(index, 0), 100); //  the decisions only
    uint64_t seq = 0, segment, offset;
    for (uint64_t d = 1; d <= 200; d += 2) {
        assert_int_equal(kp_logindex_outcome(index, d, &seq, &segment, &offset), 0);
        assert_int_equal(seq, d + 1);
        assert_int_equal(kp_logindex_outcome(index, d + 1, &seq, &segment, &offset), 1);
    }
    assert_int_equal(kp_logindex_drop(index, 1, 99), 0);
    assert_int_equal(kp_logindex_outcome(index, 99, &seq, &segment, &offset), 1);
    assert_int_equal(kp_logindex_outcome(index, 101, &seq, &segment, &offset), 0);
    assert_int_equal(seq, 102);
    kp_logindex_destroy(&index);
}

//  The people in sorted runs, merged as they come: 3000 records indexed in
//  commits of 10 make 300 runs, merged eight by eight, and every person
//  is found whole and in order; a cut tail leaves the runs without the
//  records cut, a prune drops the runs it covers whole.
static void test_index_runs(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.index = false;
    s_fill(f->log, &opt, 0, 3000, 100, 20000 * DAY_US, 1000000);
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, false, 64u << 20, error, sizeof error);
    assert_non_null(index);
    kp_privlog_index_job_t job = {.upto_seq = UINT64_MAX, .batch = 10};
    assert_int_equal(kp_privlog_index_run(f->log, index, &job, error, sizeof error), 3000);
    uint64_t runs, entries;
    assert_int_equal(kp_logindex_runs(index, &runs, &entries), 0);
    assert_int_equal(entries, 3000);
    assert_true(runs >= 3 && runs < 30); //  300 commits; without merges 300 runs
    for (int p = 0; p < 5; p++)
        assert_int_equal(s_person_hits(index, p), 600);
    //  A window of one person: exact to the second.
    s_hits_t hits = {0};
    uint64_t t0 = 20000 * DAY_US;
    assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[1], t0 + 1000000000ull,
                                       t0 + 1099000000ull, s_collect, &hits),
                     20); //  records 1001..1100 (seconds 1000..1099), one in five
    //  The log's tail cut behind the index (records 2001 on).
    assert_int_equal(kp_logindex_drop(index, 2001, UINT64_MAX), 0);
    assert_int_equal(kp_logindex_runs(index, &runs, &entries), 0);
    assert_int_equal(entries, 2000);
    assert_int_equal(s_person_hits(index, 2), 400);
    //  A prune of records 1..1000: the runs within go whole.
    assert_int_equal(kp_logindex_drop(index, 1, 1000), 0);
    assert_int_equal(kp_logindex_runs(index, &runs, &entries), 0);
    assert_true(entries >= 1000 && entries < 2000);
    assert_int_equal(s_person_hits(index, 2), 200);
    kp_logindex_destroy(&index);
}

//  People that are no number of 1 to 18 digits (a text, 19 digits) are
//  kept under the keys, not in the runs, and found the same.
static void test_index_other_people(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256], path[400];
    const char *people[] = {"bis:A-17", "1234567890123456789", "0", "000000000000000001"};
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    for (unsigned i = 0; i < 40; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, i, 20000 * DAY_US + i * 1000000ull, id);
        r.person = (char *)people[i % 4];
        assert_int_equal(kp_privlog_append(log, &r), i + 1);
    }
    assert_int_equal(kp_privlog_commit(log), 0);
    kp_privlog_destroy(&log);
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    assert_non_null(index);
    for (int p = 0; p < 4; p++) {
        s_hits_t hits = {0};
        assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_PERSON, people[p], 0, UINT64_MAX,
                                           s_collect, &hits),
                         10);
        for (size_t k = 0; k < hits.n; k++)
            assert_int_equal((hits.seqs[k] - 1) % 4, p);
    }
    s_hits_t none = {0};
    assert_int_equal(
        kp_logindex_query(index, KP_LOGINDEX_PERSON, "00", 0, UINT64_MAX, s_collect, &none),
        0); //  not "0"
    kp_logindex_destroy(&index);
}

//  Institution and message queries start at the first record of their
//  window, found through the positions' latest times, also when the clock
//  went back: every seventh record is stamped 1000 s early. Each window's
//  answer is what a scan of the records finds.
static void test_index_windows(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256], path[400];
    uint64_t t0 = 20000 * DAY_US;
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    for (unsigned i = 0; i < 3000; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        uint64_t t = t0 + i * 1000000ull - (i % 7 == 0 && i >= 1000 ? 1000000000ull : 0);
        s_record(&r, &part, parts, i, t, id);
        assert_int_equal(kp_privlog_append(log, &r), i + 1);
        if (i % 500 == 499)
            assert_int_equal(kp_privlog_commit(log), 0);
    }
    kp_privlog_destroy(&log);
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    assert_non_null(index);
    uint64_t windows[][2] = {{0, 100}, {500, 700}, {1200, 1300}, {2500, 2999}, {1000, 1000}};
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
        uint64_t from = t0 + windows[w][0] * 1000000ull, to = t0 + windows[w][1] * 1000000ull;
        int64_t want_kbo = 0, want_message = 0;
        for (unsigned i = 0; i < 3000; i++) {
            uint64_t t = t0 + i * 1000000ull - (i % 7 == 0 && i >= 1000 ? 1000000000ull : 0);
            if (t < from || t > to)
                continue;
            want_kbo += !strcmp(s_kbos[i % 3], s_kbos[0]) || !strcmp(s_kbos[3 - i % 2], s_kbos[0]);
            want_message += !strcmp(s_messages[i % 4], "family");
        }
        s_hits_t hits = {0};
        assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_INSTITUTION, s_kbos[0], from,
                                           to + 999999, s_collect, &hits),
                         want_kbo);
        hits.n = 0;
        assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_MESSAGE, "family", from, to + 999999,
                                           s_collect, &hits),
                         want_message);
    }
    kp_logindex_destroy(&index);
}

//  After the first batch of a catch-up, another process catches the
//  index up all the way (as kpctl or a test beside the node's indexer).
typedef struct {
    const char *dir;
    bool done;
} s_other_t;

static void s_other_catch_up(uint64_t records, uint64_t done, uint64_t total, void *arg)
{
    (void)records;
    (void)done;
    (void)total;
    s_other_t *other = arg;
    if (other->done)
        return;
    other->done = true;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char error[256];
        _exit(kp_privlog_index_catch_up(other->dir, 64u << 20, error, sizeof error) == 2500 ? 0
                                                                                            : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

//  Two catch-ups of one index: the one that was overtaken between its
//  commits does not add the other's records again (it did: "record 501:
//  segment 1 does not follow from the records before"), and the index
//  stays whole.
static void test_index_two_catch_ups(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    s_fill(f->log, &opt, 0, 3000, 100, 20000 * DAY_US, 1000000);
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, false, 64u << 20, error, sizeof error);
    assert_non_null(index);
    s_other_t other = {f->log, false};
    kp_privlog_index_job_t job = {.upto_seq = UINT64_MAX,
                                  .rebuild = true,
                                  .batch = 500,
                                  .progress = s_other_catch_up,
                                  .arg = &other};
    int64_t added = kp_privlog_index_run(f->log, index, &job, error, sizeof error);
    if (added < 0)
        fail_msg("%s", error);
    assert_int_equal(added, 500);
    assert_false(job.complete);
    kp_privlog_index_job_t rest = {.upto_seq = UINT64_MAX};
    assert_int_equal(kp_privlog_index_run(f->log, index, &rest, error, sizeof error), 0);
    assert_true(rest.complete && !rest.rebuilt);
    uint64_t seq, segment, offset;
    assert_int_equal(kp_logindex_position(index, &seq, &segment, &offset), 0);
    assert_int_equal(seq, 3000);
    assert_int_equal(s_person_hits(index, 2), 600);
    kp_logindex_destroy(&index);
}

static void test_reader(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 8 * 1024;
    s_fill(f->log, &opt, 0, 500, 25, s_now_us(), 1000);
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    kp_privlog_reader_t *reader = kp_privlog_reader_new(f->log, error, sizeof error);
    for (int p = 0; p < 5; p++)
        assert_int_equal(kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], 0, UINT64_MAX,
                                           s_find_one, reader),
                         100);
    kp_privlog_reader_destroy(&reader);
    kp_logindex_destroy(&index);
}

static void test_prune_and_export(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    uint64_t t0 = 20000 * DAY_US;
    //  Four days, 100 records a day.
    s_fill(f->log, &opt, 0, 400, 10, t0, 864000000);
    kp_privlog_segment_t *segs;
    char error[256];
    assert_int_equal(kp_privlog_segments(f->log, &segs, error, sizeof error), 4);
    free(segs);
    int32_t today = (int32_t)(s_now_us() / DAY_US);
    //  Young segments are refused under the default retention.
    assert_int_equal(kp_privlog_prune(f->log, 20002, 3653, today, error, sizeof error), -1);
    assert_non_null(strstr(error, "retention"));
    assert_int_equal(kp_privlog_segments(f->log, &segs, error, sizeof error), 4);
    free(segs);
    //  With a retention that allows it, whole days go and the rest verifies.
    assert_int_equal(kp_privlog_prune(f->log, 20002, 30, today, error, sizeof error), 2);
    assert_int_equal(kp_privlog_segments(f->log, &segs, error, sizeof error), 2);
    assert_int_equal(segs[0].first_seq, 201);
    free(segs);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_true(v.anchored);
    assert_int_equal(v.first_seq, 201);
    assert_int_equal(v.records, 200);
    //  The index no longer knows the removed records.
    char path[400];
    snprintf(path, sizeof path, "%s/index", f->log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    s_hits_t hits = {.n = 0};
    kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[0], 0, UINT64_MAX, s_collect, &hits);
    assert_int_equal(hits.n, 40);
    kp_logindex_destroy(&index);
    //  Export the last day: the copy verifies on its own.
    char out[300];
    snprintf(out, sizeof out, "%s/export", f->dir);
    assert_int_equal(kp_privlog_export(f->log, 20003, 20003, out, error, sizeof error), 1);
    assert_int_equal(kp_privlog_verify(out, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error),
                     0);
    assert_int_equal(v.first_seq, 301);
    assert_int_equal(v.records, 100);
    //  Removing the anchor is noticed.
    snprintf(path, sizeof path, "%s/anchor", out);
    unlink(path);
    assert_int_equal(kp_privlog_verify(out, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error),
                     1);
    assert_string_equal(v.problem, "removed");
    //  A whole segment removed from the middle is noticed.
    assert_int_equal(kp_privlog_segments(f->log, &segs, error, sizeof error), 2);
    free(segs);
}

static void test_lock(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256];
    kp_privlog_t *a = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(a);
    assert_null(kp_privlog_open(f->log, &opt, NULL, error, sizeof error));
    assert_non_null(strstr(error, "another node"));
    kp_privlog_destroy(&a);
    //  A key that is not there is named.
    opt.key_file = "/nonexistent/log.key";
    assert_null(kp_privlog_open(f->log, &opt, NULL, error, sizeof error));
    assert_non_null(strstr(error, "kpctl keys"));
}

//  arg: count, last seq, seqs out of order.
static int s_count_ordered(uint64_t seq, uint64_t segment, uint64_t offset, void *arg)
{
    (void)segment, (void)offset;
    uint64_t *c = arg;
    c[2] += seq <= c[1];
    c[1] = seq;
    c[0]++;
    return 0;
}

//  Records in the index under the five people, in a read-only open: 0
//  when it is not made yet, -1 when a query fails or gives them out of
//  order. Plain checks, no cmocka asserts: it also runs in a forked
//  child, where a failed assert (or a signal caught by cmocka) would jump
//  back into the copy of the test runner, which would go on with the
//  teardown and remove the log the parent's indexer is writing.
static int64_t s_indexed(const char *log)
{
    char path[400], error[256];
    snprintf(path, sizeof path, "%s/index", log);
    kp_logindex_t *index = kp_logindex_open(path, true, 64u << 20, error, sizeof error);
    if (!index)
        return 0; //  not made yet
    int64_t total = 0;
    for (int p = 0; p < 5 && total >= 0; p++) {
        uint64_t c[3] = {0, 0, 0};
        if (kp_logindex_query(index, KP_LOGINDEX_PERSON, s_people[p], 0, UINT64_MAX,
                              s_count_ordered, c) < 0 ||
            c[2])
            total = -1;
        else
            total += (int64_t)c[0];
    }
    kp_logindex_destroy(&index);
    return total;
}

//  s_indexed in a child (LMDB wants one open of an environment per
//  process), with the default action for a crash so that it shows as one:
//  1 when it saw all n records, 0 fewer, -1 when the reader failed.
static int s_indexed_child(const char *log, int64_t n)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        int64_t seen = s_indexed(log);
        _exit(seen == n ? 0 : seen < 0 ? 2 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "the index reader died of signal %d\n", WTERMSIG(status));
    else if (WEXITSTATUS(status) == 2)
        fprintf(stderr, "the index reader failed\n");
    return WIFEXITED(status) && WEXITSTATUS(status) < 2 ? WEXITSTATUS(status) == 0 : -1;
}

static void test_logger(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256];
    kp_logger_t *logger = kp_logger_new(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(logger);
    uint64_t last = 0;
    zpoller_t *poller = zpoller_new(kp_logger_sock(logger), NULL);
    //  19,900 records replies wait for, then 100 that no reply waits for
    //  (a call's OUTCOME): nothing comes after them, so only the clock
    //  makes them durable.
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = round ? 19900 : 0; i < (round ? 20000u : 19900u); i++) {
            Kp__LogRecord r;
            Kp__LogPart part, *parts[1];
            char id[32];
            s_record(&r, &part, parts, i, s_now_us(), id);
            last = round ? kp_logger_log_later(logger, &r) : kp_logger_log(logger, &r);
            assert_int_equal(last, i + 1);
        }
        //  As the node's loop: a flush each turn, and sleep no longer
        //  than the logger holds records nobody waits for.
        for (int i = 0; i < 1000 && kp_logger_durable(logger) < last; i++) {
            assert_int_equal(kp_logger_flush(logger), 0);
            long held = kp_logger_flush_in_ms(logger);
            zpoller_wait(poller, held >= 0 && held < 100 ? (int)held : 100);
            assert_int_equal(kp_logger_recv(logger), 0);
        }
        assert_int_equal(kp_logger_durable(logger), last);
    }
    assert_int_equal(kp_logger_durable(logger), 20000);
    //  The indexer follows the synced log while the logger runs, and a
    //  reader (read-only, from a child) looks at the index while it is
    //  written: it never fails. The indexer runs only on an idle core
    //  (SCHED_IDLE): under load it lags, so the wait is for the reader to
    //  see every record, bounded by a minute, not by a count of tries.
    int followed = 0;
    for (int64_t until = zclock_mono() + 60000; !followed && zclock_mono() < until;) {
        followed = s_indexed_child(f->log, 20000);
        assert_true(followed >= 0);
        if (!followed)
            usleep(10000);
    }
    zpoller_destroy(&poller);
    assert_true(followed);
    kp_logger_destroy(&logger);
    assert_null(logger);
    assert_int_equal(s_indexed(f->log), 20000);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, 20000);
    //  A second logger goes on where the first stopped.
    logger = kp_logger_new(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(logger);
    assert_int_equal(kp_logger_durable(logger), 20000);
    kp_logger_destroy(&logger);
}

//  The node's loop learns how far the log is durable between its polls:
//  kp_logger_durable moves without kp_logger_recv, and the notice still
//  comes (it wakes a loop that sleeps).
static void test_logger_durable_unread(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    char error[256];
    kp_logger_t *logger = kp_logger_new(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(logger);
    Kp__LogRecord r;
    Kp__LogPart part, *parts[1];
    char id[32];
    s_record(&r, &part, parts, 0, s_now_us(), id);
    uint64_t seq = kp_logger_log(logger, &r);
    assert_int_equal(seq, 1);
    assert_int_equal(kp_logger_durable(logger), 0);
    assert_int_equal(kp_logger_flush(logger), 0);
    for (int64_t until = zclock_mono() + 30000;
         kp_logger_durable(logger) < seq && zclock_mono() < until;)
        usleep(1000);
    assert_int_equal(kp_logger_durable(logger), seq);
    zpoller_t *poller = zpoller_new(kp_logger_sock(logger), NULL);
    assert_non_null(zpoller_wait(poller, 30000));
    assert_int_equal(kp_logger_recv(logger), 0);
    assert_int_equal(kp_logger_durable(logger), seq);
    zpoller_destroy(&poller);
    kp_logger_destroy(&logger);
}

//  Where the frames of a segment end: the first frame of zeros (the
//  preallocated tail) or the end of the file.
static size_t s_data_end(const uint8_t *data, size_t size)
{
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off + KP_PRIVLOG_FRAME_HEADER <= size && data[off + 8]) {
        uint32_t len = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                       (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
        off += KP_PRIVLOG_FRAME_HEADER + len;
    }
    return off;
}

//  A child writes n records in groups and dies without closing the log:
//  its segment keeps the preallocated zeros behind the data.
static void s_crash_after(const char *dir, const kp_privlog_options_t *opt, unsigned n)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char error[256];
        kp_privlog_t *log = kp_privlog_open(dir, opt, NULL, error, sizeof error);
        if (!log)
            _exit(2);
        for (unsigned i = 0; i < n; i++) {
            Kp__LogRecord r;
            Kp__LogPart part, *parts[1];
            char id[32];
            s_record(&r, &part, parts, i, s_now_us(), id);
            if (kp_privlog_append(log, &r) != i + 1)
                _exit(3);
            if ((i + 1) % 10 == 0 && kp_privlog_commit(log))
                _exit(4);
        }
        _exit(kp_privlog_commit(log) ? 5 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

//  Appends one record, closes, verifies: n + 1 records, nothing torn, and
//  the closed segment is cut to its data.
static void s_append_and_verify(fixture_t *f, const kp_privlog_options_t *opt, uint64_t n)
{
    char error[256];
    kp_privlog_t *log = kp_privlog_open(f->log, opt, NULL, error, sizeof error);
    assert_non_null(log);
    assert_int_equal(kp_privlog_last_seq(log), n);
    Kp__LogRecord r;
    Kp__LogPart part, *parts[1];
    char id[32];
    s_record(&r, &part, parts, (unsigned)n, s_now_us(), id);
    assert_int_equal(kp_privlog_append(log, &r), n + 1);
    assert_int_equal(kp_privlog_commit(log), 0);
    kp_privlog_destroy(&log);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, n + 1);
    assert_false(v.torn_tail);
    char path[600];
    s_only_segment(f->log, path);
    size_t size;
    uint8_t *data = s_slurp(path, &size);
    assert_int_equal(s_data_end(data, size), size);
    free(data);
}

static void test_preallocated_crash(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.checkpoint_every = 40;
    opt.segment_max = 1 << 20;
    s_crash_after(f->log, &opt, 95);
    char path[600];
    s_only_segment(f->log, path);
    size_t size;
    uint8_t *data = s_slurp(path, &size);
    assert_int_equal(size, opt.segment_max); //  preallocated
    size_t end = s_data_end(data, size);
    assert_true(end > KP_PRIVLOG_SEGMENT_HEADER && end < size);
    //  Readers take the zeros for the end of the log, not for damage.
    kp_privlog_verify_t v;
    char error[256];
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, 95);
    assert_false(v.torn_tail);
    assert_true(kp_privlog_index_catch_up(f->log, 64u << 20, error, sizeof error) >= 0);
    //  Reopen: nothing torn, nothing dropped; append; verify.
    kp_privlog_recovery_t rec;
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
    assert_non_null(log);
    assert_false(rec.torn);
    assert_int_equal(rec.bytes_dropped, 0);
    kp_privlog_destroy(&log);
    s_append_and_verify(f, &opt, 95);
    assert_int_equal(s_indexed(f->log), 96);
    //  A record zeroed in the middle, with records behind it, is damage.
    free(data);
    data = s_slurp(path, &size);
    size_t offs[8];
    assert_int_equal(s_frames(data, size, offs, 8), 8);
    memset(data + offs[3], 0, offs[4] - offs[3]);
    s_spit(path, data, size);
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 1);
    assert_string_equal(v.problem, "changed");
    assert_int_equal(v.offset, offs[3]);
    free(data);
}

static void test_preallocated_torn(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.checkpoint_every = 1000;
    opt.segment_max = 1 << 20;
    s_crash_after(f->log, &opt, 30);
    char path[600];
    s_only_segment(f->log, path);
    size_t size;
    uint8_t *data = s_slurp(path, &size);
    assert_int_equal(size, opt.segment_max);
    size_t end = s_data_end(data, size);
    size_t offs[32];
    assert_int_equal(s_frames(data, end, offs, 32), 30);
    size_t frame = end - offs[29];
    srand(11);
    for (int round = 0; round < 20; round++) {
        //  The start of a record written into the zeros, then a crash.
        size_t cut = 1 + (size_t)rand() % (frame - 1);
        uint8_t *torn = malloc(size);
        assert_non_null(torn);
        memcpy(torn, data, size);
        memcpy(torn + end, data + offs[29], cut);
        s_spit(path, torn, size);
        kp_privlog_verify_t v;
        char error[256];
        assert_int_equal(
            kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
        assert_true(v.torn_tail);
        assert_int_equal(v.records, 30);
        kp_privlog_recovery_t rec;
        kp_privlog_t *log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
        assert_non_null(log);
        assert_true(rec.torn);
        assert_int_equal(rec.offset, end);
        assert_true(rec.bytes_dropped >= 1 && rec.bytes_dropped <= cut);
        kp_privlog_destroy(&log);
        s_append_and_verify(f, &opt, 30);
        //  A damaged record with an intact one behind it is not a tear.
        memcpy(torn + end, data + offs[29], frame);
        torn[offs[28] + KP_PRIVLOG_FRAME_HEADER + 2] ^= 1;
        s_spit(path, torn, size);
        assert_null(kp_privlog_open(f->log, &opt, NULL, error, sizeof error));
        assert_non_null(strstr(error, "not a torn tail"));
        free(torn);
        s_spit(path, data, size);
    }
    free(data);
}

//  The alignment the filesystem of path reports for direct I/O, 0 if it
//  reports none.
static unsigned s_fs_direct_align(const char *path)
{
    struct statx st;
    if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &st) || !(st.stx_mask & STATX_DIOALIGN))
        return 0;
    return st.stx_dio_offset_align > st.stx_dio_mem_align ? st.stx_dio_offset_align
                                                          : st.stx_dio_mem_align;
}

//  Readers see what a direct write put on disk: the page-cache pages a
//  reader holds (a mapping made before the write, touched past the end of
//  the data, and a kept descriptor read with pread) are dropped by the
//  write, and every new record is read back at once, from both. Then the
//  same buffered (options.direct off), and both logs verify.
static void test_direct_readers(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 1 << 20;
    opt.checkpoint_every = 50;
    for (int buffered = 0; buffered < 2; buffered++) {
        char dir[320], lock[340], error[256];
        snprintf(dir, sizeof dir, "%s/%s", f->dir, buffered ? "buffered" : "direct");
        snprintf(lock, sizeof lock, "%s/LOCK", dir);
        opt.direct = !buffered;
        kp_privlog_t *log = kp_privlog_open(dir, &opt, NULL, error, sizeof error);
        assert_non_null(log);
        //  Direct wherever the filesystem says it can (not on tmpfs).
        unsigned align = buffered ? 0 : s_fs_direct_align(lock);
        assert_int_equal(kp_privlog_direct_align(log), align);
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, 0, s_now_us(), id);
        assert_int_equal(kp_privlog_append(log, &r), 1);
        assert_int_equal(kp_privlog_commit(log), 0);
        kp_privlog_segment_t *segs;
        assert_int_equal(kp_privlog_segments(dir, &segs, error, sizeof error), 1);
        privlog_map_t map;
        assert_int_equal(privlog_segment_map(dir, segs[0].name, &map, error, sizeof error), 0);
        assert_int_equal(map.size, opt.segment_max); //  preallocated: the mapping covers it all
        kp_privlog_reader_t *reader = kp_privlog_reader_new(dir, error, sizeof error);
        assert_non_null(reader);
        privlog_frame_t fr;
        size_t off = KP_PRIVLOG_SEGMENT_HEADER;
        assert_int_equal(privlog_frame_parse(map.data + off, map.size - off, &fr),
                         PRIVLOG_FRAME_OK);
        off += KP_PRIVLOG_FRAME_HEADER + fr.len;
        uint64_t seq;
        for (unsigned i = 1; i < 300; i++) {
            //  The reader caches the zeros where the next frame goes.
            assert_true(privlog_zero(map.data + off, KP_PRIVLOG_FRAME_HEADER));
            assert_null(
                kp_privlog_reader_get(reader, segs[0].first_seq, off, &seq, error, sizeof error));
            s_record(&r, &part, parts, i, s_now_us(), id);
            assert_int_equal(kp_privlog_append(log, &r), i + 1);
            assert_int_equal(kp_privlog_commit(log), 0);
            assert_int_equal(privlog_frame_parse(map.data + off, map.size - off, &fr),
                             PRIVLOG_FRAME_OK);
            assert_int_equal(fr.kind, KP_PRIVLOG_KIND_RECORD);
            assert_int_equal(fr.seq, i + 1);
            Kp__LogRecord *back =
                kp_privlog_reader_get(reader, segs[0].first_seq, off, &seq, error, sizeof error);
            assert_non_null(back);
            assert_int_equal(seq, i + 1);
            assert_string_equal(back->request_id, id);
            kp__log_record__free_unpacked(back, NULL);
            off += KP_PRIVLOG_FRAME_HEADER + fr.len;
            //  Every 50 records a checkpoint follows its record.
            while (privlog_frame_parse(map.data + off, map.size - off, &fr) == PRIVLOG_FRAME_OK &&
                   fr.kind == KP_PRIVLOG_KIND_CHECKPOINT)
                off += KP_PRIVLOG_FRAME_HEADER + fr.len;
        }
        kp_privlog_reader_destroy(&reader);
        privlog_segment_unmap(&map); //  the writer shrinks the segment on close
        free(segs);
        kp_privlog_destroy(&log);
        //  Reopened (the tail block read back), appended to, verified.
        s_fill(dir, &opt, 300, 7, 3, s_now_us(), 1);
        kp_privlog_verify_t v;
        assert_int_equal(
            kp_privlog_verify(dir, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
        assert_int_equal(v.records, 307);
    }
}

// ---------------------------------------------------------------------------
// The spare segment (spare.h)

//  Appends records from .. from + n - 1 (seq = i + 1), committing every 10.
static void s_append_some(kp_privlog_t *log, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        Kp__LogRecord r;
        Kp__LogPart part, *parts[1];
        char id[32];
        s_record(&r, &part, parts, i, s_now_us(), id);
        assert_int_equal(kp_privlog_append(log, &r), i + 1);
        if ((i + 1) % 10 == 0)
            assert_int_equal(kp_privlog_commit(log), 0);
    }
    assert_int_equal(kp_privlog_commit(log), 0);
}

static int s_segment_count(const char *dir)
{
    kp_privlog_segment_t *segs;
    char error[256];
    int n = kp_privlog_segments(dir, &segs, error, sizeof error);
    free(segs);
    return n;
}

//  Has the actor make a spare of size bytes in dir, believing free bytes
//  free (-1: the disk's own), its state in stats (NULL: its own); its
//  inode, or 0 if none was made.
static ino_t s_make_spare_counted(const char *dir, uint64_t size, long long free,
                                  kp_spare_stats_t *stats)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", free);
    if (free >= 0)
        setenv("KP_TEST_SPARE_FREE", text, 1);
    kp_spare_t *spare = kp_spare_new(dir, size, stats);
    unsetenv("KP_TEST_SPARE_FREE");
    assert_non_null(spare);
    kp_spare_want(spare);
    kp_spare_sync(spare);
    kp_spare_destroy(&spare);
    assert_null(spare);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, KP_SPARE_READY);
    struct stat st;
    if (stat(path, &st))
        return 0;
    assert_int_equal(st.st_size, size);
    assert_int_equal(st.st_mode & 0777, 0600);
    return st.st_ino;
}

static ino_t s_make_spare(const char *dir, uint64_t size, long long free)
{
    return s_make_spare_counted(dir, size, free, NULL);
}

//  A copy of stats.
static kp_spare_counts_t s_spare_counts(kp_spare_stats_t *stats)
{
    kp_spare_counts_t counts;
    kp_spare_counts(stats, &counts);
    return counts;
}

//  A roll takes the ready spare: the new segment is the spare's file, the
//  spare is gone, and the log reads and verifies. Until then no reader
//  sees the spare.
static void test_spare_roll(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 64 * 1024;
    kp_spare_stats_t stats;
    memset(&stats, 0, sizeof stats);
    opt.spare_stats = &stats;
    char error[256];
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    s_append_some(log, 0, 20);
    ino_t spare = s_make_spare_counted(f->log, opt.segment_max, -1, &stats);
    assert_true(spare != 0);
    kp_spare_counts_t counts = s_spare_counts(&stats);
    assert_int_equal(counts.state, KP_SPARE_STATE_READY);
    assert_int_equal(counts.written, 1);
    assert_int_equal(counts.made, 1); //  the first segment
    assert_int_equal(counts.taken, 0);
    //  Readers: list, verify, scan, export and index see segments only.
    assert_int_equal(s_segment_count(f->log), 1);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, 20);
    char out[300];
    snprintf(out, sizeof out, "%s/export", f->dir);
    assert_int_equal(kp_privlog_export(f->log, INT32_MIN, INT32_MAX, out, error, sizeof error), 1);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", out, KP_SPARE_READY);
    assert_int_equal(access(path, F_OK), -1);
    //  Past the segment's size: the roll takes the spare.
    unsigned n = 20;
    while (s_segment_count(f->log) < 2) {
        s_append_some(log, n, 10);
        n += 10;
    }
    snprintf(path, sizeof path, "%s/%s", f->log, KP_SPARE_READY);
    assert_int_equal(access(path, F_OK), -1);
    s_only_segment(f->log, path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_ino, spare);
    //  Taken: counted, and none is ready now.
    counts = s_spare_counts(&stats);
    assert_int_equal(counts.taken, 1);
    assert_int_equal(counts.made, 1);
    assert_int_equal(counts.state, KP_SPARE_STATE_NONE);
    s_append_some(log, n, 10);
    n += 10;
    kp_privlog_destroy(&log);
    //  Closed, the segment is cut to its data; all of it verifies and reads.
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < (off_t)opt.segment_max);
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, n);
    assert_int_equal(v.segments, 2);
    assert_true(kp_privlog_index_catch_up(f->log, 64u << 20, error, sizeof error) >= 0);
    assert_int_equal(s_indexed(f->log), n);
}

//  A crash between the spare's rename and its header on disk leaves an
//  all-zero segment: recovery removes it. A crash between the header
//  written into the spare and the rename leaves a spare with a header:
//  the next roll writes its own.
static void test_spare_crash(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 64 * 1024;
    char error[256];
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    s_append_some(log, 0, 30);
    kp_privlog_destroy(&log);
    assert_true(s_make_spare(f->log, opt.segment_max, -1) != 0);
    char spare[600], seg[600], day[9];
    snprintf(spare, sizeof spare, "%s/%s", f->log, KP_SPARE_READY);
    privlog_day_text(privlog_day_of(s_now_us()), day);
    snprintf(seg, sizeof seg, "%s/%020llu-%s.kplog", f->log, 31ull, day);
    assert_int_equal(rename(spare, seg), 0);
    assert_int_equal(s_segment_count(f->log), 2);
    kp_privlog_recovery_t rec;
    log = kp_privlog_open(f->log, &opt, &rec, error, sizeof error);
    assert_non_null(log);
    assert_true(rec.torn);
    assert_int_equal(rec.bytes_dropped, 0);
    assert_int_equal(access(seg, F_OK), -1);
    assert_int_equal(kp_privlog_last_seq(log), 30);
    //  A spare that holds a header already (of another seq) is taken too.
    ino_t ino = s_make_spare(f->log, opt.segment_max, -1);
    assert_true(ino != 0);
    int fd = open(spare, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t header[KP_PRIVLOG_SEGMENT_HEADER], zero[32] = {0};
    privlog_header_encode(header, 999, 20000, zero);
    assert_int_equal(pwrite(fd, header, sizeof header, 0), sizeof header);
    close(fd);
    unsigned n = 30;
    while (s_segment_count(f->log) < 2) {
        s_append_some(log, n, 10);
        n += 10;
    }
    assert_int_equal(access(spare, F_OK), -1);
    s_only_segment(f->log, seg);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    assert_int_equal(st.st_ino, ino);
    kp_privlog_destroy(&log);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, n);
}

//  A partial spare left by a crash is removed when the actor starts; a
//  spare of another segment size is replaced; none is made when the disk
//  would keep less than two segments and the margin.
static void test_spare_stale_and_room(void **state)
{
    fixture_t *f = *state;
    uint64_t size = 64 * 1024;
    assert_int_equal(mkdir(f->log, 0700), 0);
    char part[600], ready[600];
    snprintf(part, sizeof part, "%s/%s", f->log, KP_SPARE_PARTIAL);
    snprintf(ready, sizeof ready, "%s/%s", f->log, KP_SPARE_READY);
    s_spit(part, (const uint8_t *)"cut", 3);
    kp_spare_t *spare = kp_spare_new(f->log, size, NULL);
    assert_non_null(spare);
    assert_int_equal(access(part, F_OK), -1);
    kp_spare_destroy(&spare);
    //  The rule: three segments and the margin free before it is made.
    long long enough = (long long)(3 * size + KP_SPARE_MARGIN);
    kp_spare_stats_t stats;
    memset(&stats, 0, sizeof stats);
    assert_int_equal(s_make_spare_counted(f->log, size, enough - 1, &stats), 0);
    assert_int_equal(access(ready, F_OK), -1);
    assert_int_equal(access(part, F_OK), -1);
    //  Operators see why: the bytes free and the bytes needed.
    kp_spare_counts_t counts = s_spare_counts(&stats);
    assert_int_equal(counts.state, KP_SPARE_STATE_NO_ROOM);
    assert_int_equal(counts.room_free, enough - 1);
    assert_int_equal(counts.room_needed, enough);
    assert_int_equal(counts.written, 0);
    char why[256];
    kp_spare_state_why(&counts, why, sizeof why);
    assert_non_null(strstr(why, "not made: the disk has"));
    assert_string_equal(kp_spare_state_name(counts.state), "no-room");
    assert_true(s_make_spare_counted(f->log, size, enough, &stats) != 0);
    counts = s_spare_counts(&stats);
    assert_int_equal(counts.state, KP_SPARE_STATE_READY);
    assert_int_equal(counts.written, 1);
    //  One made for 64 KiB segments is no use for 128 KiB ones.
    ino_t other = s_make_spare(f->log, 2 * size, -1);
    assert_true(other != 0);
    struct stat st;
    assert_int_equal(stat(ready, &st), 0);
    assert_int_equal(st.st_size, 2 * size);
}

//  A write that fails for want of space removes the spare first, so that
//  its space serves the log; the log resumes when space returns.
static void test_spare_disk_full(void **state)
{
#ifdef KP_TEST_HOOKS
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 64 * 1024;
    char full[300], error[256];
    snprintf(full, sizeof full, "%s/full", f->dir);
    kp_spare_stats_t stats;
    memset(&stats, 0, sizeof stats);
    opt.spare_stats = &stats;
    setenv("KP_TEST_WRITE_FAIL", full, 1);
    kp_privlog_t *log = kp_privlog_open(f->log, &opt, NULL, error, sizeof error);
    unsetenv("KP_TEST_WRITE_FAIL");
    assert_non_null(log);
    s_append_some(log, 0, 10);
    assert_true(s_make_spare_counted(f->log, opt.segment_max, -1, &stats) != 0);
    s_spit(full, (const uint8_t *)"", 0);
    Kp__LogRecord r;
    Kp__LogPart part, *parts[1];
    char id[32], ready[600];
    s_record(&r, &part, parts, 10, s_now_us(), id);
    assert_int_equal(kp_privlog_append(log, &r), 11);
    assert_int_equal(kp_privlog_sync(log), -1);
    assert_false(kp_privlog_failed(log));
    snprintf(ready, sizeof ready, "%s/%s", f->log, KP_SPARE_READY);
    assert_int_equal(access(ready, F_OK), -1);
    kp_spare_counts_t counts = s_spare_counts(&stats);
    assert_int_equal(counts.removed, 1);
    assert_int_equal(counts.state, KP_SPARE_STATE_REMOVED);
    unlink(full);
    assert_int_equal(kp_privlog_commit(log), 0);
    assert_int_equal(kp_privlog_durable_seq(log), 11);
    kp_privlog_destroy(&log);
#else
    (void)state;
    skip();
#endif
}

//  Logs record n through the logger and waits until it is durable; n + 1.
static unsigned s_log_durable(kp_logger_t *logger, zpoller_t *poller, unsigned n)
{
    Kp__LogRecord r;
    Kp__LogPart part, *parts[1];
    char id[32];
    s_record(&r, &part, parts, n, s_now_us(), id);
    assert_int_equal(kp_logger_log(logger, &r), ++n);
    assert_int_equal(kp_logger_flush(logger), 0);
    while (kp_logger_durable(logger) < n) {
        zpoller_wait(poller, 100);
        assert_int_equal(kp_logger_recv(logger), 0);
    }
    return n;
}

//  The node's logger asks for a spare once its segment is half full, and
//  the log rolls on through the spares it gets.
static void test_spare_logger(void **state)
{
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 64 * 1024;
    opt.index = false;
    char error[256], ready[600];
    snprintf(ready, sizeof ready, "%s/%s", f->log, KP_SPARE_READY);
    kp_logger_t *logger = kp_logger_new(f->log, &opt, NULL, error, sizeof error);
    assert_non_null(logger);
    zpoller_t *poller = zpoller_new(kp_logger_sock(logger), NULL);
    unsigned n = 0;
    //  Records until a spare is there (bounded: a minute).
    for (int64_t until = zclock_mono() + 60000;
         access(ready, F_OK) && zclock_mono() < until && n < 100000;) {
        n = s_log_durable(logger, poller, n);
    }
    zpoller_destroy(&poller);
    assert_int_equal(access(ready, F_OK), 0);
    //  What operators see: asked for, and ready (stored before the rename).
    kp_spare_counts_t counts;
    kp_logger_spare(logger, &counts);
    assert_true(counts.asked >= 1);
    assert_int_equal(counts.state, KP_SPARE_STATE_READY);
    assert_true(counts.made >= 1); //  the first segment, and any roll before the spare
    kp_logger_destroy(&logger);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, n);
}

//  A spare that cannot be written leaves the state FAILED, with no file
//  behind; the next ask, once the cause is gone, makes it.
static void test_spare_failed(void **state)
{
    fixture_t *f = *state;
    char part[600], why[300];
    assert_int_equal(mkdir(f->log, 0700), 0);
    snprintf(part, sizeof part, "%s/%s", f->log, KP_SPARE_PARTIAL);
    assert_int_equal(mkdir(part, 0700), 0); //  in the way of the partial file
    kp_spare_stats_t stats;
    memset(&stats, 0, sizeof stats);
    assert_int_equal(s_make_spare_counted(f->log, 64 * 1024, -1, &stats), 0);
    kp_spare_counts_t counts = s_spare_counts(&stats);
    assert_int_equal(counts.state, KP_SPARE_STATE_FAILED);
    assert_int_equal(counts.written, 0);
    assert_string_equal(kp_spare_state_name(counts.state), "failed");
    kp_spare_state_why(&counts, why, sizeof why);
    assert_non_null(strstr(why, "could not be written"));
    assert_int_equal(rmdir(part), 0);
    assert_true(s_make_spare_counted(f->log, 64 * 1024, -1, &stats) != 0);
    counts = s_spare_counts(&stats);
    assert_int_equal(counts.state, KP_SPARE_STATE_READY);
    assert_int_equal(counts.written, 1);
}

//  A logger whose spare writer cannot start says OFF, asks for nothing,
//  and makes its segments itself.
static void test_spare_off(void **state)
{
#ifdef KP_TEST_HOOKS
    fixture_t *f = *state;
    kp_privlog_options_t opt;
    s_options(&opt, f);
    opt.segment_max = 64 * 1024;
    opt.index = false;
    char error[256], why[300];
    setenv("KP_TEST_SPARE_OFF", "1", 1);
    kp_logger_t *logger = kp_logger_new(f->log, &opt, NULL, error, sizeof error);
    unsetenv("KP_TEST_SPARE_OFF");
    assert_non_null(logger);
    zpoller_t *poller = zpoller_new(kp_logger_sock(logger), NULL);
    unsigned n = 0;
    while (s_segment_count(f->log) < 3) { //  about 300 records a segment
        n = s_log_durable(logger, poller, n);
        assert_true(n < 100000);
    }
    zpoller_destroy(&poller);
    kp_spare_counts_t counts;
    kp_logger_spare(logger, &counts);
    assert_int_equal(counts.state, KP_SPARE_STATE_OFF);
    assert_int_equal(counts.asked, 0);
    assert_int_equal(counts.taken, 0);
    assert_int_equal(counts.made, 3);
    kp_spare_state_why(&counts, why, sizeof why);
    assert_non_null(strstr(why, "could not start"));
    kp_logger_destroy(&logger);
    kp_privlog_verify_t v;
    assert_int_equal(
        kp_privlog_verify(f->log, INT32_MIN, INT32_MAX, f->pub, &v, error, sizeof error), 0);
    assert_int_equal(v.records, n);
#else
    (void)state;
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_crc32c_paths_agree),
        cmocka_unit_test_setup_teardown(test_chain_and_signature, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_segments_roll, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_changed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_removed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_inserted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_reordered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_rehashed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_queries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_single_value, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_rebuild, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_outcomes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_runs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_other_people, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_windows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_index_two_catch_ups, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reader, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune_and_export, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_logger, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_logger_durable_unread, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preallocated_crash, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preallocated_torn, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_direct_readers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_roll, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_crash, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_stale_and_room, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_disk_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_logger, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_failed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spare_off, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
