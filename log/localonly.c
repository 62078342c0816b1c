/*  localonly.c - which records of a log left on one site only (see
    localonly.h). */
#include "localonly.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    uint64_t from, to; //  to 0: open
} s_range_t;

struct _kp_localonly_t {
    s_range_t *ranges;
    size_t count, cap;
    uint64_t last; //  the last seq fed
};

kp_localonly_t *kp_localonly_new(void)
{
    kp_localonly_t *self = calloc(1, sizeof *self);
    assert(self);
    return self;
}

void kp_localonly_destroy(kp_localonly_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ranges);
    free(*self_p);
    *self_p = NULL;
}

bool kp_localonly_is_marker(const Kp__LogRecord *r)
{
    return r->has_kind && r->kind == KP__LOG_KIND__LOG_MIRROR;
}

bool kp_localonly_open(const kp_localonly_t *self)
{
    return self->count && !self->ranges[self->count - 1].to;
}

static void s_add(kp_localonly_t *self, uint64_t from)
{
    if (self->count == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 8;
        self->ranges = realloc(self->ranges, self->cap * sizeof *self->ranges);
        assert(self->ranges);
    }
    self->ranges[self->count++] = (s_range_t){from, 0};
}

void kp_localonly_record(kp_localonly_t *self, const Kp__LogRecord *r, uint64_t seq)
{
    if (seq > self->last)
        self->last = seq;
    if (!kp_localonly_is_marker(r))
        return;
    uint64_t from = r->has_mirror_local_from ? r->mirror_local_from : 0;
    uint64_t to = r->has_mirror_local_to ? r->mirror_local_to : 0;
    //  A degradation opens a range (one already open stays as it is); a
    //  catch-up closes the open one, or adds the range it names when its
    //  opening was not fed (pruned, or before the part scanned).
    if (!to) {
        if (from && !kp_localonly_open(self))
            s_add(self, from);
    } else if (kp_localonly_open(self))
        self->ranges[self->count - 1].to = to >= self->ranges[self->count - 1].from ? to : seq;
    else if (from && from <= to) {
        s_add(self, from);
        self->ranges[self->count - 1].to = to;
    }
}

bool kp_localonly_has(const kp_localonly_t *self, uint64_t seq)
{
    for (size_t i = 0; i < self->count; i++)
        if (seq >= self->ranges[i].from && (!self->ranges[i].to || seq <= self->ranges[i].to))
            return true;
    return false;
}

static uint64_t s_end(const kp_localonly_t *self, const s_range_t *range)
{
    return range->to ? range->to : self->last;
}

uint64_t kp_localonly_count(const kp_localonly_t *self)
{
    uint64_t n = 0;
    for (size_t i = 0; i < self->count; i++) {
        uint64_t end = s_end(self, &self->ranges[i]);
        n += end >= self->ranges[i].from ? end - self->ranges[i].from + 1 : 0;
    }
    return n;
}

void kp_localonly_json(const kp_localonly_t *self, kp_json_t *j)
{
    kp_json_key(j, "local_only");
    kp_json_object_open(j);
    kp_json_kv_uint(j, "records", kp_localonly_count(self));
    kp_json_key(j, "ranges");
    kp_json_array_open(j);
    for (size_t i = 0; i < self->count; i++) {
        kp_json_object_open(j);
        kp_json_kv_uint(j, "from", self->ranges[i].from);
        kp_json_kv_uint(j, "to", s_end(self, &self->ranges[i]));
        if (!self->ranges[i].to) {
            kp_json_key(j, "open");
            kp_json_bool(j, true);
        }
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    kp_json_object_close(j);
}

void kp_localonly_text(const kp_localonly_t *self, char *out, size_t outlen)
{
    size_t used = 0;
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < self->count && used < outlen; i++) {
        const s_range_t *r = &self->ranges[i];
        int n = r->to ? snprintf(out + used, outlen - used, "%s%" PRIu64 "-%" PRIu64, i ? ", " : "",
                                 r->from, r->to)
                      : snprintf(out + used, outlen - used, "%s%" PRIu64 "- (open)", i ? ", " : "",
                                 r->from);
        used += n > 0 ? (size_t)n : 0;
    }
}

void kp_localonly_marker(Kp__LogRecord *record, uint64_t from, uint64_t to)
{
    record->has_kind = true;
    record->kind = KP__LOG_KIND__LOG_MIRROR;
    record->message = KP_LOCALONLY_MESSAGE;
    record->has_mirror_local_from = from != 0;
    record->mirror_local_from = from;
    record->has_mirror_local_to = to != 0;
    record->mirror_local_to = to;
}
