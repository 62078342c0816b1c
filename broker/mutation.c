/*  mutation.c - mutations, their fan-out and the per-institution queues.

    Layout (tables of the directory's environment, see directory.h):
      mut_queue  kbo(10) | seq(8, big-endian) -> packed MutationEntry
      mut_inst   kbo(10) -> head, next, enqueued, acked, replays, pending,
                            pruned (big-endian u64; pruned absent in
                            rows written before pruning: 0)
      mut_acked  kbo(10) | seq(8) -> time acknowledged (ms, u64): only for
                 entries at or past the head; the head moves over them
                 (and deletes them) as soon as they form a prefix
      mut_ids    origin(10) | id -> time queued (ms): a publish retried
                 with the same id is not queued twice
      mut_id_time  time queued (8) | origin(10) | id -> nothing: the ids
                 oldest first, for pruning. Derived from mut_ids (whose
                 value starts with the same time): a directory written
                 before this table existed gets its rows when it is
                 opened or loaded (kp_mutation_reindex_ids), so its old
                 ids are pruned like the others

    Pruning (MutationPrune): the acknowledged prefix of each queue (seq
    below the head) queued before the cutoff, and the ids queued before
    it, oldest first, at most max of each.
*/
#include "mutation.h"
#include "byteorder.h"
#include "control.h"
#include "validate.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_LEN (KP_KBO_LEN + 8)
#define S_INST_FIELDS 6 //  at least (pruned, the 7th, came later)
#define S_INST_SIZE 56

//  ---------------------------------------------------------------------
//  Checks

static bool s_visible(const char *text, size_t max)
{
    size_t len = text ? strnlen(text, max + 1) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] <= ' ' || text[i] > '~')
            return false;
    return true;
}

int kp_mutation_check(const Kp__Mutation *m, size_t max_payload, Kp__Reason *reason, char *err,
                      size_t errlen)
{
    Kp__Reason why = KP__REASON__REASON_NONE;
    int32_t day;
    if (!m) {
        why = KP__REASON__INVALID_REQUEST;
        kp_err(err, errlen, "no mutation");
    } else if (!s_visible(m->id, KP_MUTATION_MAX_ID)) {
        why = KP__REASON__INVALID_MUTATION_ID;
        kp_err(err, errlen, "id: 1 to %d visible ASCII characters", KP_MUTATION_MAX_ID);
    } else if (!m->person || !kp_insz_valid(m->person)) {
        why = KP__REASON__INVALID_INSZ;
        kp_err(err, errlen, "person: not a valid INSZ or bis number");
    } else if (!s_visible(m->message, KP_DIR_MAX_MESSAGE)) {
        why = KP__REASON__INVALID_REQUEST;
        kp_err(err, errlen, "message: 1 to %d visible ASCII characters", KP_DIR_MAX_MESSAGE);
    } else if (!m->date || kp_date_parse(m->date, &day)) {
        why = KP__REASON__INVALID_DATE;
        kp_err(err, errlen, "date: not a date YYYY-MM-DD");
    } else if (m->has_payload && m->payload.len > max_payload) {
        why = KP__REASON__PAYLOAD_TOO_LARGE;
        kp_err(err, errlen, "payload: %zu bytes, over the limit of %zu", m->payload.len,
               max_payload);
    } else if (!m->origin || !kp_kbo_valid(m->origin)) {
        why = KP__REASON__INVALID_KBO;
        kp_err(err, errlen, "origin: not a valid KBO");
    }
    if (reason)
        *reason = why;
    return why == KP__REASON__REASON_NONE ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Building updates

static char *s_strdup(const char *text)
{
    return text ? strdup(text) : NULL;
}

static void s_mutation_free(Kp__Mutation *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->person);
    free(m->message);
    free(m->date);
    free(m->origin);
    free(m->payload.data);
    free(m);
}

int kp_mutation_attach(Kp__DirectoryUpdate *update, const Kp__Mutation *mutation)
{
    Kp__Mutation *copy = calloc(1, sizeof *copy);
    Kp__Mutation **list =
        realloc(update->mutations, (update->n_mutations + 1) * sizeof *update->mutations);
    if (!copy || !list) {
        free(copy);
        return -1;
    }
    update->mutations = list;
    kp__mutation__init(copy);
    copy->id = s_strdup(mutation->id);
    copy->person = s_strdup(mutation->person);
    copy->message = s_strdup(mutation->message);
    copy->date = s_strdup(mutation->date);
    copy->origin = s_strdup(mutation->origin);
    copy->has_time_unix_ms = mutation->has_time_unix_ms;
    copy->time_unix_ms = mutation->time_unix_ms;
    copy->has_payload = mutation->has_payload;
    if (mutation->has_payload && mutation->payload.len) {
        copy->payload.data = malloc(mutation->payload.len);
        if (copy->payload.data) {
            memcpy(copy->payload.data, mutation->payload.data, mutation->payload.len);
            copy->payload.len = mutation->payload.len;
        }
    }
    update->mutations[update->n_mutations++] = copy;
    if ((mutation->id && !copy->id) || (mutation->person && !copy->person) ||
        (mutation->message && !copy->message) || (mutation->date && !copy->date) ||
        (mutation->origin && !copy->origin) ||
        (mutation->has_payload && mutation->payload.len && !copy->payload.data))
        return -1;
    return 0;
}

void kp_mutation_update_free(Kp__DirectoryUpdate *update)
{
    for (size_t i = 0; i < update->n_mutations; i++)
        s_mutation_free(update->mutations[i]);
    free(update->mutations);
    update->mutations = NULL;
    update->n_mutations = 0;
}

//  ---------------------------------------------------------------------
//  Storage helpers

typedef struct {
    kp_directory_t *dir;
    MDB_txn *txn;
} s_db_t;

static MDB_dbi s_dbi(const s_db_t *db, kp_dir_mut_table_t table)
{
    return kp_directory_mutation_table(db->dir, table);
}

static void s_key(unsigned char key[S_KEY_LEN], const char *kbo, uint64_t seq)
{
    memcpy(key, kbo, KP_KBO_LEN);
    kp_be64_put(key + KP_KBO_LEN, seq);
}

static int s_inst_get(const s_db_t *db, const char *kbo, kp_mutation_queue_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->kbo, sizeof out->kbo, "%s", kbo);
    MDB_val k = {KP_KBO_LEN, (void *)kbo}, v;
    if (mdb_get(db->txn, s_dbi(db, KP_DIR_MUT_INST), &k, &v) || v.mv_size < S_INST_FIELDS * 8) {
        out->head = out->next = 1;
        return -1;
    }
    const unsigned char *p = v.mv_data;
    out->head = kp_be64_get(p);
    out->next = kp_be64_get(p + 8);
    out->enqueued = kp_be64_get(p + 16);
    out->acked = kp_be64_get(p + 24);
    out->replays = kp_be64_get(p + 32);
    out->pending = kp_be64_get(p + 40);
    out->pruned = v.mv_size >= S_INST_SIZE ? kp_be64_get(p + 48) : 0;
    return 0;
}

static int s_inst_put(const s_db_t *db, const kp_mutation_queue_t *q)
{
    unsigned char p[S_INST_SIZE];
    kp_be64_put(p, q->head);
    kp_be64_put(p + 8, q->next);
    kp_be64_put(p + 16, q->enqueued);
    kp_be64_put(p + 24, q->acked);
    kp_be64_put(p + 32, q->replays);
    kp_be64_put(p + 40, q->pending);
    kp_be64_put(p + 48, q->pruned);
    MDB_val k = {KP_KBO_LEN, (void *)q->kbo}, v = {sizeof p, p};
    return mdb_put(db->txn, s_dbi(db, KP_DIR_MUT_INST), &k, &v, 0);
}

static bool s_acked_row(const s_db_t *db, const char *kbo, uint64_t seq)
{
    unsigned char key[S_KEY_LEN];
    s_key(key, kbo, seq);
    MDB_val k = {sizeof key, key}, v;
    return mdb_get(db->txn, s_dbi(db, KP_DIR_MUT_ACKED), &k, &v) == 0;
}

//  ---------------------------------------------------------------------
//  Queueing

typedef struct {
    s_db_t db;
    const Kp__Mutation *mutation;
    uint32_t recipients;
    int rc; //  LMDB error, if any
} s_fanout_t;

static int s_queue_one(const kp_person_entry_t *grounds, void *arg)
{
    s_fanout_t *f = arg;
    kp_mutation_queue_t q;
    s_inst_get(&f->db, grounds->kbo, &q);
    Kp__MutationEntry entry = KP__MUTATION_ENTRY__INIT;
    entry.mutation = (Kp__Mutation *)f->mutation;
    entry.has_sector = entry.has_type = entry.has_capacity = true;
    entry.sector = grounds->sector;
    entry.type = grounds->type;
    entry.capacity = grounds->capacity;
    unsigned char key[S_KEY_LEN];
    s_key(key, grounds->kbo, q.next);
    MDB_val k = {sizeof key, key}, v = {kp__mutation_entry__get_packed_size(&entry), NULL};
    int rc = mdb_put(f->db.txn, s_dbi(&f->db, KP_DIR_MUT_QUEUE), &k, &v, MDB_RESERVE);
    if (rc == 0) {
        kp__mutation_entry__pack(&entry, v.mv_data);
        q.next++;
        q.enqueued++;
        q.pending++;
        rc = s_inst_put(&f->db, &q);
    }
    if (rc) {
        f->rc = rc;
        return 1;
    }
    f->recipients++;
    return 0;
}

//  The id's row in mut_id_time: time | origin | id.
static int s_id_time_put(const s_db_t *db, uint64_t time_unix_ms, const unsigned char *idkey,
                         size_t len)
{
    unsigned char key[8 + KP_KBO_LEN + KP_MUTATION_MAX_ID];
    kp_be64_put(key, time_unix_ms);
    memcpy(key + 8, idkey, len);
    MDB_val k = {8 + len, key}, v = {0, NULL};
    return mdb_put(db->txn, s_dbi(db, KP_DIR_MUT_ID_TIME), &k, &v, 0);
}

int kp_mutation_enqueue(kp_directory_t *dir, MDB_txn *txn, const Kp__Mutation *mutation,
                        kp_mutation_result_t *out, char *err, size_t errlen)
{
    kp_mutation_result_t result = {0, false};
    if (kp_mutation_check(mutation, SIZE_MAX, NULL, err, errlen))
        return -1;
    s_db_t db = {dir, txn};
    unsigned char idkey[KP_KBO_LEN + KP_MUTATION_MAX_ID];
    size_t idlen = strlen(mutation->id);
    memcpy(idkey, mutation->origin, KP_KBO_LEN);
    memcpy(idkey + KP_KBO_LEN, mutation->id, idlen);
    MDB_val k = {KP_KBO_LEN + idlen, idkey}, v;
    int rc = mdb_get(txn, s_dbi(&db, KP_DIR_MUT_IDS), &k, &v);
    if (rc == 0) {
        result.duplicate = true;
        if (out)
            *out = result;
        return 0;
    }
    int32_t day = 0;
    kp_date_parse(mutation->date, &day);
    s_fanout_t fanout = {db, mutation, 0, 0};
    if (kp_control_recipients(dir, txn, mutation->person, mutation->message, day, mutation->origin,
                              s_queue_one, &fanout) < 0)
        fanout.rc = ENOMEM;
    unsigned char when[12];
    kp_be64_put(when, mutation->time_unix_ms);
    kp_be32_put(when + 8, fanout.recipients);
    v = (MDB_val){sizeof when, when};
    if (fanout.rc == 0)
        fanout.rc = mdb_put(txn, s_dbi(&db, KP_DIR_MUT_IDS), &k, &v, 0);
    if (fanout.rc == 0)
        fanout.rc = s_id_time_put(&db, mutation->time_unix_ms, idkey, KP_KBO_LEN + idlen);
    if (fanout.rc) {
        kp_err(err, errlen, "cannot queue mutation %s: %s", mutation->id, mdb_strerror(fanout.rc));
        return KP_STORAGE_FAILED;
    }
    result.recipients = fanout.recipients;
    if (out)
        *out = result;
    return 0;
}

//  ---------------------------------------------------------------------
//  Acknowledgements and replays

static int s_ack(const s_db_t *db, const Kp__MutationQueueAck *ack)
{
    kp_mutation_queue_t q;
    if (!ack->kbo || !kp_kbo_valid(ack->kbo) || s_inst_get(db, ack->kbo, &q))
        return 0; //  nothing queued for it: nothing to acknowledge
    unsigned char when[8], key[S_KEY_LEN];
    kp_be64_put(when, ack->time_unix_ms);
    int rc = 0;
    bool changed = false;
    for (size_t i = 0; rc == 0 && i < ack->n_seqs; i++) {
        uint64_t seq = ack->seqs[i];
        if (seq < q.head || seq >= q.next || s_acked_row(db, ack->kbo, seq))
            continue; //  acknowledged before, or never queued: not counted
        s_key(key, ack->kbo, seq);
        MDB_val k = {sizeof key, key}, v = {sizeof when, when};
        rc = mdb_put(db->txn, s_dbi(db, KP_DIR_MUT_ACKED), &k, &v, 0);
        q.acked++;
        q.pending--;
        changed = true;
    }
    //  The head moves over the acknowledged prefix.
    while (rc == 0 && q.head < q.next && s_acked_row(db, ack->kbo, q.head)) {
        s_key(key, ack->kbo, q.head);
        MDB_val k = {sizeof key, key};
        rc = mdb_del(db->txn, s_dbi(db, KP_DIR_MUT_ACKED), &k, NULL);
        q.head++;
    }
    return rc ? rc : changed ? s_inst_put(db, &q) : 0;
}

//  The time an entry was queued (0 if it does not decode).
static uint64_t s_entry_time(const MDB_val *v)
{
    Kp__MutationEntry *entry = kp__mutation_entry__unpack(NULL, v->mv_size, v->mv_data);
    uint64_t time = entry && entry->mutation ? entry->mutation->time_unix_ms : 0;
    kp__mutation_entry__free_unpacked(entry, NULL);
    return time;
}

//  Every entry of the queue queued at or after from_unix_ms becomes
//  unacknowledged again: the head goes back to the first of them, and
//  acknowledgements past the old head are forgotten.
static int s_replay(const s_db_t *db, const Kp__MutationReplay *replay)
{
    kp_mutation_queue_t q;
    if (!replay->kbo || !kp_kbo_valid(replay->kbo) || s_inst_get(db, replay->kbo, &q))
        return 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(db->txn, s_dbi(db, KP_DIR_MUT_QUEUE), &cursor);
    if (rc)
        return rc;
    unsigned char key[S_KEY_LEN];
    s_key(key, replay->kbo, 0);
    MDB_val k = {sizeof key, key}, v;
    uint64_t first = q.next;
    for (int op = MDB_SET_RANGE; mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        if (k.mv_size != S_KEY_LEN || memcmp(k.mv_data, replay->kbo, KP_KBO_LEN))
            break;
        if (s_entry_time(&v) >= replay->from_unix_ms) {
            first = kp_be64_get((unsigned char *)k.mv_data + KP_KBO_LEN);
            break;
        }
    }
    mdb_cursor_close(cursor);
    uint64_t again = first < q.head ? q.head - first : 0;
    for (uint64_t seq = first > q.head ? first : q.head; rc == 0 && seq < q.next; seq++) {
        s_key(key, replay->kbo, seq);
        k = (MDB_val){sizeof key, key};
        rc = mdb_del(db->txn, s_dbi(db, KP_DIR_MUT_ACKED), &k, NULL);
        if (rc == 0)
            again++;
        else if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc)
        return rc;
    if (first < q.head)
        q.head = first;
    q.replays += again;
    q.pending += again;
    return s_inst_put(db, &q);
}

//  ---------------------------------------------------------------------
//  Pruning

//  Deletes the acknowledged entries of one queue queued before before,
//  from its first, up to *budget of them.
static int s_prune_queue(const s_db_t *db, MDB_cursor *cursor, const char *kbo, uint64_t before,
                         uint32_t *budget)
{
    kp_mutation_queue_t q;
    if (s_inst_get(db, kbo, &q))
        return 0;
    unsigned char key[S_KEY_LEN];
    uint64_t pruned = 0;
    int rc = 0;
    while (rc == 0 && *budget > 0) {
        //  The queue's first entry each time: the one before is gone.
        s_key(key, kbo, 0);
        MDB_val k = {sizeof key, key}, v;
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
        if (rc || k.mv_size != S_KEY_LEN || memcmp(k.mv_data, kbo, KP_KBO_LEN) ||
            kp_be64_get((unsigned char *)k.mv_data + KP_KBO_LEN) >= q.head ||
            s_entry_time(&v) >= before)
            break;
        rc = mdb_cursor_del(cursor, 0);
        if (rc == 0) {
            pruned++;
            (*budget)--;
        }
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (!pruned)
        return 0;
    q.pruned += pruned;
    return s_inst_put(db, &q);
}

//  Forgets the ids queued before before, oldest first, up to max.
static int s_prune_ids(const s_db_t *db, uint64_t before, uint32_t max)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(db->txn, s_dbi(db, KP_DIR_MUT_ID_TIME), &cursor);
    if (rc)
        return rc;
    MDB_val k, v;
    for (uint32_t n = 0; rc == 0 && n < max; n++) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
        if (rc || k.mv_size <= 8 || kp_be64_get(k.mv_data) >= before)
            break;
        MDB_val id = {k.mv_size - 8, (unsigned char *)k.mv_data + 8};
        rc = mdb_del(db->txn, s_dbi(db, KP_DIR_MUT_IDS), &id, NULL);
        if (rc == 0 || rc == MDB_NOTFOUND)
            rc = mdb_cursor_del(cursor, 0);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int s_prune(const s_db_t *db, const Kp__MutationPrune *prune)
{
    uint64_t before = prune->before_unix_ms;
    uint32_t budget = prune->has_max ? prune->max : KP_MUTATION_PRUNE_MAX;
    MDB_cursor *insts, *queue;
    int rc = mdb_cursor_open(db->txn, s_dbi(db, KP_DIR_MUT_INST), &insts);
    if (rc)
        return rc;
    rc = mdb_cursor_open(db->txn, s_dbi(db, KP_DIR_MUT_QUEUE), &queue);
    if (rc) {
        mdb_cursor_close(insts);
        return rc;
    }
    MDB_val k, v;
    //  The rows of mut_inst change (pruned) but not their keys: the walk
    //  goes on over them.
    for (int op = MDB_FIRST; rc == 0 && budget > 0 && mdb_cursor_get(insts, &k, &v, op) == 0;
         op = MDB_NEXT) {
        if (k.mv_size != KP_KBO_LEN)
            continue;
        char kbo[KP_KBO_LEN + 1];
        memcpy(kbo, k.mv_data, KP_KBO_LEN);
        kbo[KP_KBO_LEN] = '\0';
        rc = s_prune_queue(db, queue, kbo, before, &budget);
    }
    mdb_cursor_close(queue);
    mdb_cursor_close(insts);
    uint32_t max = prune->has_max ? prune->max : KP_MUTATION_PRUNE_MAX;
    return rc ? rc : s_prune_ids(db, before, max);
}

typedef struct {
    s_db_t db;
    uint64_t before;
    bool found;
} s_prunable_t;

static int s_prunable_queue(const kp_mutation_queue_t *q, void *arg)
{
    s_prunable_t *p = arg;
    MDB_cursor *cursor;
    if (q->head <= 1 || mdb_cursor_open(p->db.txn, s_dbi(&p->db, KP_DIR_MUT_QUEUE), &cursor))
        return 0;
    unsigned char key[S_KEY_LEN];
    s_key(key, q->kbo, 0);
    MDB_val k = {sizeof key, key}, v;
    if (mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == S_KEY_LEN &&
        !memcmp(k.mv_data, q->kbo, KP_KBO_LEN) &&
        kp_be64_get((unsigned char *)k.mv_data + KP_KBO_LEN) < q->head &&
        s_entry_time(&v) < p->before)
        p->found = true;
    mdb_cursor_close(cursor);
    return p->found;
}

bool kp_mutation_prunable(kp_directory_t *dir, MDB_txn *txn, uint64_t before_unix_ms)
{
    s_prunable_t p = {{dir, txn}, before_unix_ms, false};
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, s_dbi(&p.db, KP_DIR_MUT_ID_TIME), &cursor) == 0) {
        MDB_val k, v;
        if (mdb_cursor_get(cursor, &k, &v, MDB_FIRST) == 0 && k.mv_size > 8 &&
            kp_be64_get(k.mv_data) < before_unix_ms)
            p.found = true;
        mdb_cursor_close(cursor);
    }
    if (!p.found)
        kp_mutation_queues_each(dir, txn, s_prunable_queue, &p);
    return p.found;
}

//  Entries of table in txn (0 when it cannot be read).
static size_t s_entries(const s_db_t *db, kp_dir_mut_table_t table)
{
    MDB_stat st;
    return mdb_stat(db->txn, s_dbi(db, table), &st) ? 0 : st.ms_entries;
}

int kp_mutation_reindex_ids(kp_directory_t *dir, MDB_txn *txn, uint64_t *added)
{
    s_db_t db = {dir, txn};
    if (added)
        *added = 0;
    //  Every id has its row once both tables count the same.
    if (s_entries(&db, KP_DIR_MUT_IDS) == s_entries(&db, KP_DIR_MUT_ID_TIME))
        return 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, s_dbi(&db, KP_DIR_MUT_IDS), &cursor);
    if (rc)
        return rc;
    MDB_val k, v;
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        if (k.mv_size <= KP_KBO_LEN || k.mv_size > KP_KBO_LEN + KP_MUTATION_MAX_ID || v.mv_size < 8)
            continue; //  not an id row this code wrote
        unsigned char key[8 + KP_KBO_LEN + KP_MUTATION_MAX_ID];
        memcpy(key, v.mv_data, 8); //  the time it was queued
        memcpy(key + 8, k.mv_data, k.mv_size);
        MDB_val row = {8 + k.mv_size, key}, none = {0, NULL};
        rc = mdb_put(txn, s_dbi(&db, KP_DIR_MUT_ID_TIME), &row, &none, MDB_NOOVERWRITE);
        if (rc == 0 && added)
            (*added)++;
        else if (rc == MDB_KEYEXIST)
            rc = 0;
    }
    mdb_cursor_close(cursor);
    return rc;
}

int kp_mutation_apply(kp_directory_t *dir, MDB_txn *txn, const Kp__DirectoryUpdate *update,
                      char *err, size_t errlen)
{
    char reason[256];
    for (size_t i = 0; i < update->n_mutations; i++) {
        int rc = kp_mutation_enqueue(dir, txn, update->mutations[i], NULL, reason, sizeof reason);
        if (rc) {
            kp_err(err, errlen, "mutation %zu: %s", i + 1, reason);
            return rc;
        }
    }
    s_db_t db = {dir, txn};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < update->n_acks; i++)
        rc = s_ack(&db, update->acks[i]);
    for (size_t i = 0; rc == 0 && i < update->n_replays; i++)
        rc = s_replay(&db, update->replays[i]);
    if (rc == 0 && update->prune)
        rc = s_prune(&db, update->prune);
    if (rc) {
        kp_err(err, errlen, "cannot change the mutation queues: %s", mdb_strerror(rc));
        return KP_STORAGE_FAILED;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Reading

int kp_mutation_published(kp_directory_t *dir, MDB_txn *txn, const char *origin, const char *id,
                          uint32_t *recipients)
{
    size_t idlen = id ? strnlen(id, KP_MUTATION_MAX_ID + 1) : 0;
    if (!origin || strlen(origin) != KP_KBO_LEN || idlen == 0 || idlen > KP_MUTATION_MAX_ID)
        return -1;
    s_db_t db = {dir, txn};
    unsigned char idkey[KP_KBO_LEN + KP_MUTATION_MAX_ID];
    memcpy(idkey, origin, KP_KBO_LEN);
    memcpy(idkey + KP_KBO_LEN, id, idlen);
    MDB_val k = {KP_KBO_LEN + idlen, idkey}, v;
    if (mdb_get(txn, s_dbi(&db, KP_DIR_MUT_IDS), &k, &v))
        return -1;
    if (recipients)
        *recipients = v.mv_size >= 12 ? kp_be32_get((unsigned char *)v.mv_data + 8) : 0;
    return 0;
}

uint64_t kp_mutation_backlog(const kp_mutation_queue_t *queue)
{
    return queue->pending;
}

int kp_mutation_queue(kp_directory_t *dir, MDB_txn *txn, const char *kbo, kp_mutation_queue_t *out)
{
    s_db_t db = {dir, txn};
    if (!kbo || strlen(kbo) != KP_KBO_LEN) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return s_inst_get(&db, kbo, out);
}

int kp_mutation_queues_each(kp_directory_t *dir, MDB_txn *txn, kp_mutation_queue_fn *fn, void *arg)
{
    s_db_t db = {dir, txn};
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, s_dbi(&db, KP_DIR_MUT_INST), &cursor))
        return 0;
    MDB_val k, v;
    int rc = 0;
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        if (k.mv_size != KP_KBO_LEN)
            continue;
        char kbo[KP_KBO_LEN + 1];
        memcpy(kbo, k.mv_data, KP_KBO_LEN);
        kbo[KP_KBO_LEN] = '\0';
        kp_mutation_queue_t q;
        if (s_inst_get(&db, kbo, &q) == 0)
            rc = fn(&q, arg);
    }
    mdb_cursor_close(cursor);
    return rc;
}

int kp_mutation_items_each(kp_directory_t *dir, MDB_txn *txn, const char *kbo, uint64_t from,
                           kp_mutation_item_fn *fn, void *arg)
{
    s_db_t db = {dir, txn};
    kp_mutation_queue_t q;
    if (kp_mutation_queue(dir, txn, kbo, &q))
        return 0;
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, s_dbi(&db, KP_DIR_MUT_QUEUE), &cursor))
        return -1;
    unsigned char key[S_KEY_LEN];
    s_key(key, kbo, from);
    MDB_val k = {sizeof key, key}, v;
    int rc = 0;
    for (int op = MDB_SET_RANGE; rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0;
         op = MDB_NEXT) {
        if (k.mv_size != S_KEY_LEN || memcmp(k.mv_data, kbo, KP_KBO_LEN))
            break;
        kp_mutation_item_t item;
        item.seq = kp_be64_get((unsigned char *)k.mv_data + KP_KBO_LEN);
        item.acked = item.seq < q.head || s_acked_row(&db, kbo, item.seq);
        Kp__MutationEntry *entry = kp__mutation_entry__unpack(NULL, v.mv_size, v.mv_data);
        if (!entry || !entry->mutation) {
            kp__mutation_entry__free_unpacked(entry, NULL);
            rc = -1;
            break;
        }
        item.entry = entry;
        rc = fn(&item, arg);
        kp__mutation_entry__free_unpacked(entry, NULL);
    }
    mdb_cursor_close(cursor);
    return rc;
}
