/*  test_recpack.c - kp_recpack writes protobuf-c's bytes for a log record.

    Every field alone, all of them together, the records the node builds,
    lengths and values at the varint boundaries, a negative enum, a buffer
    too small (measured, nothing written past it) and a record with an
    unknown field: each compared byte for byte with kp__log_record__pack.
    A field added to LogRecord or LogPart fails test_fields_known until
    recpack.c writes it.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recpack.h"

//  recpack's bytes against protobuf-c's, with a canary behind the record.
static void s_same(const Kp__LogRecord *record)
{
    size_t want = kp__log_record__get_packed_size(record);
    uint8_t *expected = malloc(want + 1);
    uint8_t *got = malloc(want + 1);
    assert_non_null(expected);
    assert_non_null(got);
    kp__log_record__pack(record, expected);
    memset(got, 0xa5, want + 1);
    assert_int_equal(kp_recpack(record, got, want), want);
    assert_memory_equal(got, expected, want);
    assert_int_equal(got[want], 0xa5);
    //  Too small by one: measured, and nothing written past the end.
    if (want > 0) {
        memset(got, 0xa5, want + 1);
        assert_int_equal(kp_recpack(record, got, want - 1), want);
        assert_int_equal(got[want - 1], 0xa5);
    }
    //  Nothing at all: measured only.
    assert_int_equal(kp_recpack(record, NULL, 0), want);
    free(expected);
    free(got);
}

static Kp__LogPart s_parts[3];
static Kp__LogPart *s_part_list[3];

//  A record with every field set.
static void s_full(Kp__LogRecord *r)
{
    kp__log_record__init(r);
    r->request_id = "3f2b8c1e-1234-4d5e-9abc-0123456789ab";
    r->has_time_unix_us = true;
    r->time_unix_us = 1796030978123456ULL;
    r->message = "person.address";
    r->user = "app-12";
    r->sender_kbo = "0123456789";
    r->has_sector = true;
    r->sector = 300;
    r->has_type = true;
    r->type = 2;
    r->legal_framework = "KB-2019-12";
    r->person = "85073003328";
    r->has_capacity = true;
    r->capacity = 70000;
    r->has_status = true;
    r->status = KP__STATUS__DENIED;
    r->has_reason = true;
    r->reason = KP__REASON__LOG_UNAVAILABLE;
    for (int i = 0; i < 3; i++) {
        kp__log_part__init(&s_parts[i]);
        s_part_list[i] = &s_parts[i];
    }
    s_parts[0].kbo = "0987654321";
    s_parts[0].has_status = true;
    s_parts[0].status = KP__STATUS__OK;
    s_parts[1].kbo = ""; //  present but empty: written
    s_parts[2].has_status = true;
    s_parts[2].status = KP__STATUS__UNAVAILABLE;
    r->n_parts = 3;
    r->parts = s_part_list;
    r->has_latency_us = true;
    r->latency_us = 127;
    r->node = "node-1";
    r->action = "directory apply";
    r->has_kind = true;
    r->kind = KP__LOG_KIND__LOG_OUTCOME;
    r->has_decision_seq = true;
    r->decision_seq = UINT64_MAX;
    r->has_mirror_local_from = true;
    r->mirror_local_from = 128;
    r->has_mirror_local_to = true;
    r->mirror_local_to = 16384;
}

static void test_fields_known(void **state)
{
    (void)state;
    //  recpack.c writes exactly these: a new field must be added there.
    assert_int_equal(kp__log_record__descriptor.n_fields, 20);
    assert_int_equal(kp__log_part__descriptor.n_fields, 2);
}

static void test_empty_and_full(void **state)
{
    (void)state;
    Kp__LogRecord r = KP__LOG_RECORD__INIT;
    s_same(&r);
    s_full(&r);
    s_same(&r);
    //  Decoded back: the same record.
    uint8_t buf[1024];
    size_t size = kp_recpack(&r, buf, sizeof buf);
    Kp__LogRecord *back = kp__log_record__unpack(NULL, size, buf);
    assert_non_null(back);
    assert_string_equal(back->person, r.person);
    assert_int_equal(back->n_parts, 3);
    assert_int_equal(back->decision_seq, UINT64_MAX);
    kp__log_record__free_unpacked(back, NULL);
}

//  Each field alone: a field written in the wrong place or with the
//  wrong tag shows here even when the full record hides it.
static void test_each_field(void **state)
{
    (void)state;
    Kp__LogRecord full;
    s_full(&full);
    const ProtobufCMessageDescriptor *d = &kp__log_record__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        Kp__LogRecord r = KP__LOG_RECORD__INIT;
        //  Copy one field (and its has_ or count) from the full record.
        size_t size = f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *)
                      : f->type == PROTOBUF_C_TYPE_STRING   ? sizeof(char *)
                      : f->type == PROTOBUF_C_TYPE_UINT64   ? sizeof(uint64_t)
                                                            : sizeof(uint32_t);
        memcpy((char *)&r + f->offset, (const char *)&full + f->offset, size);
        if (f->quantifier_offset)
            memcpy((char *)&r + f->quantifier_offset, (const char *)&full + f->quantifier_offset,
                   f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(size_t)
                                                         : sizeof(protobuf_c_boolean));
        s_same(&r);
    }
}

//  The records the node builds: a DECISION, an OUTCOME, a COMPLETE.
static void test_node_records(void **state)
{
    (void)state;
    Kp__LogRecord r;
    s_full(&r);
    r.action = NULL;
    r.has_decision_seq = r.has_mirror_local_from = r.has_mirror_local_to = false;
    r.kind = KP__LOG_KIND__LOG_DECISION;
    r.n_parts = 1;
    s_same(&r);
    Kp__LogRecord o = KP__LOG_RECORD__INIT;
    o.request_id = r.request_id;
    o.has_time_unix_us = true;
    o.time_unix_us = r.time_unix_us + 900;
    o.node = r.node;
    o.message = r.message;
    o.has_kind = true;
    o.kind = KP__LOG_KIND__LOG_OUTCOME;
    o.has_decision_seq = true;
    o.decision_seq = 41;
    o.has_status = true;
    o.status = KP__STATUS__OK;
    o.has_latency_us = true;
    o.latency_us = 812;
    o.n_parts = 1;
    o.parts = s_part_list;
    s_same(&o);
}

//  Lengths and values where a varint grows a byte; a negative enum (ten
//  bytes on the wire, as protobuf-c writes it).
static void test_boundaries(void **state)
{
    (void)state;
    static const size_t lengths[] = {0, 1, 127, 128, 16383, 16384, 65535};
    static const uint64_t values[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};
    char *text = malloc(65536);
    assert_non_null(text);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        memset(text, 'x', lengths[i]);
        text[lengths[i]] = '\0';
        Kp__LogRecord r;
        s_full(&r);
        r.person = text;
        s_parts[0].kbo = text;
        s_same(&r);
    }
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        Kp__LogRecord r;
        s_full(&r);
        r.time_unix_us = r.latency_us = r.decision_seq = values[i];
        r.sector = r.capacity = (uint32_t)values[i];
        s_same(&r);
    }
    Kp__LogRecord r;
    s_full(&r);
    r.status = (Kp__Status)-1;
    s_parts[0].status = (Kp__Status)-2;
    s_same(&r);
    free(text);
}

//  A record that carries unknown fields is protobuf-c's to write.
static void test_unknown_fields(void **state)
{
    (void)state;
    Kp__LogRecord r;
    s_full(&r);
    uint8_t extra[] = {0x03};
    ProtobufCMessageUnknownField unknown = {
        .tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = extra};
    r.base.n_unknown_fields = 1;
    r.base.unknown_fields = &unknown;
    s_same(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_known), cmocka_unit_test(test_empty_and_full),
        cmocka_unit_test(test_each_field),   cmocka_unit_test(test_node_records),
        cmocka_unit_test(test_boundaries),   cmocka_unit_test(test_unknown_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
