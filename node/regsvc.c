/*  regsvc.c - the register message types the node answers itself.

    Payloads are read with jansson (not the hot path: a register request
    is one of many thousands) and written with the project's JSON writer.
*/
#include "regsvc.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "register.h"

kp_regsvc_kind_t kp_regsvc_kind(const char *message)
{
    if (!message || strncmp(message, "register.", 9))
        return KP_REGSVC_NONE;
    if (!strcmp(message, KP_REGSVC_LOOKUP) || !strcmp(message, KP_REGSVC_SEARCH))
        return KP_REGSVC_READ;
    if (!strcmp(message, KP_REGSVC_PROPOSE) || !strcmp(message, KP_REGSVC_CORRECT))
        return KP_REGSVC_WRITE;
    return KP_REGSVC_NONE;
}

static void s_answer(kp_json_t *json, Kp__Status status, kp_regsvc_answer_t *out)
{
    out->status = status;
    out->payload = kp_json_take(json);
    kp_json_destroy(&json);
}

void kp_regsvc_error(Kp__Status status, const char *why, const char *leader,
                     kp_regsvc_answer_t *out)
{
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "error", why);
    if (leader && *leader)
        kp_json_kv_string(json, "leader", leader);
    kp_json_object_close(json);
    s_answer(json, status, out);
}

bool kp_regsvc_redirect(kp_directory_t *dir, MDB_txn *txn, const char *number, char out[12])
{
    kp_register_tables_t tables;
    kp_directory_register_tables(dir, &tables);
    return kp_register_resolve(&tables, txn, number, out) == 0 && strcmp(out, number) != 0;
}

//  The request's payload as a JSON object, or NULL (*why says why).
static json_t *s_payload(const Kp__Request *request, const char **why)
{
    if (!request->has_payload || request->payload.len == 0) {
        *why = "the payload must be a JSON object (see README, Registers)";
        return NULL;
    }
    json_error_t error;
    json_t *root = json_loadb((const char *)request->payload.data, request->payload.len,
                              JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(root)) {
        json_decref(root);
        *why = "the payload is not a JSON object";
        return NULL;
    }
    return root;
}

static const char *s_str(json_t *root, const char *key)
{
    return json_string_value(json_object_get(root, key));
}

static void s_candidates(kp_json_t *json, const kp_register_tables_t *t, MDB_txn *txn,
                         const kp_register_candidate_t *found, size_t n, const char *skip)
{
    kp_json_key(json, "candidates");
    kp_json_array_open(json);
    for (size_t i = 0; i < n; i++) {
        if (skip && !strcmp(found[i].number, skip))
            continue;
        Kp__RegisterEntry *e = kp_register_get(t, txn, found[i].number);
        if (!e)
            continue;
        kp_json_object_open(json);
        kp_json_kv_string(json, "number", e->number);
        kp_json_key(json, "score");
        kp_json_double(json, (double)(int)(found[i].score * 1000 + 0.5) / 1000);
        kp_json_kv_string(json, "name", e->name);
        if (e->given_names)
            kp_json_kv_string(json, "given_names", e->given_names);
        if (e->birth_date)
            kp_json_kv_string(json, "birth_date", e->birth_date);
        kp_json_object_close(json);
        kp__register_entry__free_unpacked(e, NULL);
    }
    kp_json_array_close(json);
}

static void s_lookup(const kp_register_tables_t *t, MDB_txn *txn, const Kp__Request *request,
                     const char *asked, kp_regsvc_answer_t *out)
{
    Kp__RegisterEntry *e = kp_register_get(t, txn, request->person);
    kp_json_t *json = kp_json_new();
    if (!e) {
        kp_json_object_open(json);
        kp_json_kv_string(json, "number", asked ? asked : request->person);
        kp_json_key(json, "found");
        kp_json_bool(json, false);
        kp_json_object_close(json);
        s_answer(json, KP__STATUS__NO_DATA, out);
        return;
    }
    kp_register_json(json, e);
    kp__register_entry__free_unpacked(e, NULL);
    if (asked && strcmp(asked, request->person)) {
        //  The entry that replaces the number asked: say which was asked.
        char *text = kp_json_take(json);
        kp_json_object_open(json);
        kp_json_kv_string(json, "asked", asked);
        kp_json_key(json, "replacement");
        kp_json_raw(json, text);
        kp_json_object_close(json);
        free(text);
    }
    s_answer(json, KP__STATUS__OK, out);
}

static void s_search(const kp_register_tables_t *t, MDB_txn *txn, const Kp__Request *request,
                     kp_regsvc_answer_t *out)
{
    const char *why = NULL;
    json_t *root = s_payload(request, &why);
    const char *name = root ? s_str(root, "name") : NULL;
    const char *birth = root ? s_str(root, "birth_date") : NULL;
    json_t *min = root ? json_object_get(root, "min_score") : NULL;
    int32_t day;
    if (root && (!name || !*name || !birth || kp_date_parse(birth, &day)))
        why = "search needs \"name\" and \"birth_date\" (YYYY-MM-DD)";
    else if (min &&
             (!json_is_number(min) || json_number_value(min) < 0 || json_number_value(min) > 1))
        why = "\"min_score\" is a number from 0 to 1";
    if (why) {
        json_decref(root);
        kp_regsvc_error(KP__STATUS__INVALID, why, NULL, out);
        return;
    }
    kp_register_candidate_t found[KP_REGISTER_MAX_SEARCH];
    size_t n =
        kp_register_search(t, txn, name, s_str(root, "given_names"), day,
                           min ? json_number_value(min) : 0.6, found, KP_REGISTER_MAX_SEARCH);
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    s_candidates(json, t, txn, found, n, NULL);
    kp_json_object_close(json);
    json_decref(root);
    s_answer(json, KP__STATUS__OK, out);
}

void kp_regsvc_read(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                    const char *asked, kp_regsvc_answer_t *out)
{
    kp_register_tables_t tables;
    kp_directory_register_tables(dir, &tables);
    if (!strcmp(request->message, KP_REGSVC_LOOKUP)) {
        if (!request->person)
            kp_regsvc_error(KP__STATUS__INVALID, "lookup needs the number as the person", NULL,
                            out);
        else
            s_lookup(&tables, txn, request, asked, out);
    } else
        s_search(&tables, txn, request, out);
}

//  ---------------------------------------------------------------------
//  Changes

//  Copies the payload's fields into entry (borrowed from root). Unknown
//  keys and non-strings are refused: a typo must not pass unnoticed.
static const char *s_fields(json_t *root, Kp__RegisterEntry *e)
{
    static const char *keys[] = {"name",        "given_names", "birth_date", "gender",
                                 "nationality", "address",     "death_date"};
    char **slots[] = {&e->name,        &e->given_names, &e->birth_date, &e->gender,
                      &e->nationality, &e->address,     &e->death_date};
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i], key))
            i++;
        if (i == sizeof keys / sizeof keys[0])
            return "unknown field in the payload (name, given_names, birth_date, gender, "
                   "nationality, address, death_date)";
        if (!json_is_string(value))
            return "every field of the payload is a string";
        *slots[i] = (char *)json_string_value(value);
    }
    return NULL;
}

int kp_regsvc_update(const Kp__Request *request, const char *proposal, const char *changed_by,
                     int32_t today, uint8_t **packed, size_t *size, kp_regsvc_answer_t *out)
{
    const char *why = NULL;
    json_t *root = s_payload(request, &why);
    Kp__RegisterEntry entry = KP__REGISTER_ENTRY__INIT;
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.entry = &entry;
    bool correct = !strcmp(request->message, KP_REGSVC_CORRECT);
    change.kind = correct ? KP__REGISTER_CHANGE__KIND__CORRECTION : KP__REGISTER_CHANGE__KIND__BIS;
    char date[11];
    kp_date_format(today, date);
    if (root)
        why = s_fields(root, &entry);
    if (!why && correct && !request->person)
        why = "correct needs the number as the person";
    entry.number = correct ? request->person : NULL;
    entry.proposal = correct ? NULL : (char *)proposal;
    entry.changed_by = (char *)changed_by;
    entry.changed_on = date;
    entry.has_changed_unix_ms = true;
    entry.changed_unix_ms = (uint64_t)zclock_time();
    char err[256];
    if (!why && kp_register_change_check(&change, err, sizeof err))
        why = err;
    if (why) {
        kp_regsvc_error(KP__STATUS__INVALID, why, NULL, out);
        json_decref(root);
        return -1;
    }
    kp_register_update_t update;
    kp_register_update_init(&update, &change, changed_by);
    *size = kp__directory_update__get_packed_size(&update.update);
    *packed = malloc(*size ? *size : 1);
    if (*packed)
        kp__directory_update__pack(&update.update, *packed);
    json_decref(root);
    if (!*packed) {
        kp_regsvc_error(KP__STATUS__ERROR, "out of memory", NULL, out);
        return -1;
    }
    return 0;
}

void kp_regsvc_committed(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                         const char *proposal, kp_regsvc_answer_t *out)
{
    kp_register_tables_t t;
    kp_directory_register_tables(dir, &t);
    bool correct = !strcmp(request->message, KP_REGSVC_CORRECT);
    char number[12];
    if (correct)
        snprintf(number, sizeof number, "%s", request->person);
    else if (kp_register_proposed(&t, txn, proposal, number)) {
        kp_regsvc_error(KP__STATUS__ERROR, "the proposal was applied but its number is not found",
                        NULL, out);
        return;
    }
    Kp__RegisterEntry *e = kp_register_get(&t, txn, number);
    if (!e) {
        kp_regsvc_error(KP__STATUS__ERROR, "the entry is not in the register", NULL, out);
        return;
    }
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "number", number);
    if (!correct) {
        int32_t day;
        kp_register_candidate_t found[KP_REGISTER_MAX_SEARCH];
        size_t n =
            kp_date_parse(e->birth_date, &day)
                ? 0
                : kp_register_search(&t, txn, e->name, e->given_names, day,
                                     KP_REGISTER_DUPLICATE_SCORE, found, KP_REGISTER_MAX_SEARCH);
        bool duplicate = n > 1 || (n == 1 && strcmp(found[0].number, number));
        kp_json_key(json, "duplicate");
        kp_json_bool(json, duplicate);
        s_candidates(json, &t, txn, found, n, number);
    }
    kp_json_key(json, "entry");
    kp_register_json(json, e);
    kp_json_object_close(json);
    kp__register_entry__free_unpacked(e, NULL);
    s_answer(json, KP__STATUS__OK, out);
}
