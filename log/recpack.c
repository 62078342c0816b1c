/*  recpack.c - a log record encoded in one pass, into a bounded buffer. */
#include "recpack.h"

#include <stdbool.h>
#include <string.h>

//  Where the encoding goes: bytes are written only while they fit, and
//  counted always.
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t size;
} s_out_t;

static void s_put(s_out_t *o, const void *data, size_t len)
{
    if (o->size + len <= o->cap)
        memcpy(o->out + o->size, data, len);
    o->size += len;
}

static size_t s_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void s_varint(s_out_t *o, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    s_put(o, tmp, n);
}

#define S_VARINT 0
#define S_LENGTH 2

static void s_tag(s_out_t *o, unsigned field, unsigned wire)
{
    s_varint(o, (uint64_t)field << 3 | wire);
}

//  An enum is an int32 on the wire: a negative one takes ten bytes.
static uint64_t s_enum(int value)
{
    return (uint64_t)(int64_t)value;
}

static void s_string(s_out_t *o, unsigned field, const char *text)
{
    if (!text)
        return;
    size_t len = strlen(text);
    s_tag(o, field, S_LENGTH);
    s_varint(o, len);
    s_put(o, text, len);
}

static void s_u64(s_out_t *o, unsigned field, bool has, uint64_t value)
{
    if (!has)
        return;
    s_tag(o, field, S_VARINT);
    s_varint(o, value);
}

static size_t s_part_size(const Kp__LogPart *part)
{
    size_t size = 0;
    if (part->kbo) {
        size_t len = strlen(part->kbo);
        size += 1 + s_varint_size(len) + len;
    }
    if (part->has_status)
        size += 1 + s_varint_size(s_enum(part->status));
    return size;
}

static void s_part(s_out_t *o, const Kp__LogPart *part)
{
    s_tag(o, 13, S_LENGTH);
    s_varint(o, s_part_size(part));
    s_string(o, 1, part->kbo);
    s_u64(o, 2, part->has_status, s_enum(part->status));
}

//  protobuf-c's own encoding, for what this file does not know.
static size_t s_fallback(const Kp__LogRecord *record, uint8_t *out, size_t cap)
{
    size_t size = kp__log_record__get_packed_size(record);
    if (size <= cap)
        kp__log_record__pack(record, out);
    return size;
}

//  The fields this file writes, field by field: a field added to
//  LogRecord or LogPart in the .proto goes through protobuf-c until it is
//  written here too (test_recpack fails meanwhile).
#define S_RECORD_FIELDS 20
#define S_PART_FIELDS 2

size_t kp_recpack(const Kp__LogRecord *r, uint8_t *out, size_t cap)
{
    bool unknown = r->base.n_unknown_fields > 0 ||
                   kp__log_record__descriptor.n_fields != S_RECORD_FIELDS ||
                   kp__log_part__descriptor.n_fields != S_PART_FIELDS;
    for (size_t i = 0; i < r->n_parts; i++)
        unknown = unknown || r->parts[i]->base.n_unknown_fields > 0;
    if (unknown)
        return s_fallback(r, out, cap);
    s_out_t o = {out, cap, 0};
    s_string(&o, 1, r->request_id);
    s_u64(&o, 2, r->has_time_unix_us, r->time_unix_us);
    s_string(&o, 3, r->message);
    s_string(&o, 4, r->user);
    s_string(&o, 5, r->sender_kbo);
    s_u64(&o, 6, r->has_sector, r->sector);
    s_u64(&o, 7, r->has_type, r->type);
    s_string(&o, 8, r->legal_framework);
    s_string(&o, 9, r->person);
    s_u64(&o, 10, r->has_capacity, r->capacity);
    s_u64(&o, 11, r->has_status, s_enum(r->status));
    s_u64(&o, 12, r->has_reason, s_enum(r->reason));
    for (size_t i = 0; i < r->n_parts; i++)
        s_part(&o, r->parts[i]);
    s_u64(&o, 14, r->has_latency_us, r->latency_us);
    s_string(&o, 15, r->node);
    s_string(&o, 16, r->action);
    s_u64(&o, 17, r->has_kind, s_enum(r->kind));
    s_u64(&o, 18, r->has_decision_seq, r->decision_seq);
    s_u64(&o, 19, r->has_mirror_local_from, r->mirror_local_from);
    s_u64(&o, 20, r->has_mirror_local_to, r->mirror_local_to);
    return o.size;
}
