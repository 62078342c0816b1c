/*  hedge.c - hedge delays per institution. */
#include "hedge.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "validate.h"
#include "window.h"

typedef struct {
    char kbo[KP_KBO_LEN + 1];
    kp_window_t *window;
} s_institution_t;

struct _kp_hedge_t {
    uint32_t min_ms, max_ms;
    kp_idmap_t *by_kbo; //  kbo -> s_institution_t, owned
    s_institution_t **all;
    size_t count, capacity;
};

static bool s_kbo_match(const void *value, const void *key)
{
    return strcmp(((const s_institution_t *)value)->kbo, (const char *)key) == 0;
}

kp_hedge_t *kp_hedge_new(uint32_t min_ms, uint32_t max_ms)
{
    assert(min_ms >= 1 && max_ms >= min_ms);
    kp_hedge_t *self = calloc(1, sizeof *self);
    assert(self);
    self->min_ms = min_ms;
    self->max_ms = max_ms;
    self->by_kbo = kp_idmap_new(64);
    assert(self->by_kbo);
    return self;
}

void kp_hedge_destroy(kp_hedge_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_hedge_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        kp_window_destroy(&self->all[i]->window);
        free(self->all[i]);
    }
    free(self->all);
    kp_idmap_destroy(&self->by_kbo);
    free(self);
    *self_p = NULL;
}

static s_institution_t *s_find(kp_hedge_t *self, const char *kbo, bool create)
{
    uint64_t hash = kp_idmap_hash_str(kbo);
    s_institution_t *inst = kp_idmap_get(self->by_kbo, hash, kbo, s_kbo_match);
    if (inst || !create)
        return inst;
    //  Institutions come from the directory, not from the wire: few.
    inst = calloc(1, sizeof *inst);
    assert(inst);
    snprintf(inst->kbo, sizeof inst->kbo, "%s", kbo);
    inst->window = kp_window_new();
    assert(inst->window);
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? 2 * self->capacity : 16;
        self->all = realloc(self->all, self->capacity * sizeof *self->all);
        assert(self->all);
    }
    self->all[self->count++] = inst;
    (void)kp_idmap_insert(self->by_kbo, hash, inst); //  full: found no more, still freed
    return inst;
}

void kp_hedge_record(kp_hedge_t *self, const char *kbo, uint64_t latency_us)
{
    s_institution_t *inst = s_find(self, kbo, true);
    kp_window_add(inst->window, latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us);
}

uint32_t kp_hedge_delay_ms(kp_hedge_t *self, const char *kbo)
{
    s_institution_t *inst = s_find(self, kbo, false);
    if (!inst || kp_window_count(inst->window) < KP_HEDGE_MIN_SAMPLES)
        return self->max_ms;
    uint32_t ms = (kp_window_p99(inst->window) + 999) / 1000;
    return ms < self->min_ms ? self->min_ms : ms > self->max_ms ? self->max_ms : ms;
}
