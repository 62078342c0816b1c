/*  regmut.c - register changes as mutations (see regmut.h). */
#include "regmut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mutation.h"

struct _kp_regmut_t {
    kp_directory_t *dir;
    char kbo[KP_KBO_LEN + 1];
    uint64_t count;
};

static int s_hook(void *arg, MDB_txn *txn, kp_register_event_t event,
                  const Kp__RegisterEntry *before, const Kp__RegisterEntry *after, char *err,
                  size_t errlen)
{
    (void)before;
    kp_regmut_t *self = arg;
    char id[64], date[11];
    snprintf(id, sizeof id, "register:%s:%llu", after->number, (unsigned long long)after->version);
    int32_t day = 0;
    kp_date_parse(after->changed_on, &day); //  checked before it was applied
    kp_date_format(day, date);
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "event", kp_register_event_name(event));
    if (event == KP_REGISTER_MERGED)
        kp_json_kv_string(json, "replaced", after->number);
    kp_json_key(json, "entry");
    kp_register_json(json, after);
    kp_json_object_close(json);
    Kp__Mutation m = KP__MUTATION__INIT;
    m.id = id;
    m.person = event == KP_REGISTER_MERGED ? after->replaced_by : after->number;
    m.message = KP_REGMUT_MESSAGE;
    m.date = date;
    m.has_payload = true;
    m.payload.data = (uint8_t *)kp_json_text(json);
    m.payload.len = kp_json_length(json);
    m.origin = self->kbo;
    m.has_time_unix_ms = true;
    m.time_unix_ms =
        after->has_changed_unix_ms ? after->changed_unix_ms : (uint64_t)day * 86400 * 1000;
    kp_mutation_result_t out;
    int rc = kp_mutation_enqueue(self->dir, txn, &m, &out, err, errlen);
    kp_json_destroy(&json);
    if (rc == 0)
        self->count++;
    //  Refused (it cannot be, the entry was checked) or not stored: the
    //  change is refused with it, so that no change goes without its
    //  mutation.
    return rc ? -1 : 0;
}

kp_regmut_t *kp_regmut_new(kp_directory_t *dir, const char *kbo)
{
    if (!kbo || !kp_kbo_valid(kbo))
        return NULL;
    kp_regmut_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = dir;
    memcpy(self->kbo, kbo, KP_KBO_LEN + 1);
    if (kp_directory_on_register_change(dir, s_hook, self)) {
        free(self);
        return NULL;
    }
    return self;
}

void kp_regmut_destroy(kp_regmut_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

uint64_t kp_regmut_count(const kp_regmut_t *self)
{
    return self->count;
}
