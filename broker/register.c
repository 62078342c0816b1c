/*  register.c - the bis register and the register of the deleted.

    Entries are stored as packed RegisterEntry messages: they are read one
    at a time (a lookup, a search's few candidates of one birth date), so
    a compact encoding of our own would buy nothing. The birth-date index
    makes a search one dupsort range, whatever the register's size.
*/
#include "register.h"
#include "byteorder.h"
#include "validate.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Numbers

int kp_register_check_digits(const char nine[9], bool born_2000)
{
    uint64_t n = 0;
    for (int i = 0; i < 9; i++)
        n = n * 10 + (uint64_t)(nine[i] - '0');
    if (born_2000)
        n += 2000000000ULL;
    return (int)(97 - n % 97);
}

static int s_digits(const char *p, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++)
        value = value * 10 + (p[i] - '0');
    return value;
}

int kp_register_number_info(const char *number, int32_t *day, bool *bis, bool *gender_known)
{
    if (!number || !kp_insz_valid(number))
        return -1;
    bool born_2000 = kp_register_check_digits(number, true) == s_digits(number + 9, 2);
    int yy = s_digits(number, 2), mm = s_digits(number + 2, 2), dd = s_digits(number + 4, 2);
    *bis = mm >= 20;
    *gender_known = !(mm >= 20 && mm < 40);
    int month = mm % 20;
    *day = -1;
    if (month && dd) {
        char text[32];
        snprintf(text, sizeof text, "%04d-%02d-%02d", (born_2000 ? 2000 : 1900) + yy, month, dd);
        if (kp_date_parse(text, day))
            *day = -1;
    }
    return 0;
}

int kp_register_bis_number(int32_t day, char gender, unsigned seq, char out[12])
{
    char date[11];
    kp_date_format(day, date);
    int year = s_digits(date, 4);
    if (year < 1900 || year > 2099 || seq < 1 || seq > 998)
        return -1;
    if ((gender == 'M' && seq % 2 == 0) || (gender == 'F' && seq % 2 == 1))
        return -1;
    int month = s_digits(date + 5, 2) + (gender ? 40 : 20);
    char nine[32];
    snprintf(nine, sizeof nine, "%02d%02d%.2s%03u", year % 100, month, date + 8, seq);
    snprintf(out, 12, "%.9s%02d", nine, kp_register_check_digits(nine, year >= 2000));
    return 0;
}

//  ---------------------------------------------------------------------
//  Checks

static bool s_gender_valid(const char *g)
{
    return !strcmp(g, "M") || !strcmp(g, "F");
}

static bool s_nationality_valid(const char *n)
{
    if (strlen(n) != KP_REGISTER_MAX_NATIONALITY)
        return false;
    for (size_t i = 0; i < KP_REGISTER_MAX_NATIONALITY; i++)
        if (n[i] < 'A' || n[i] > 'Z')
            return false;
    return true;
}

//  Each field present is well-formed; empty optional fields mean "clear"
//  in a correction (clear true) and are refused elsewhere.
static int s_check_fields(const Kp__RegisterEntry *e, bool clear, char *err, size_t errlen)
{
    int32_t day;
    if (e->name && !kp_text_valid(e->name, KP_REGISTER_MAX_NAME))
        return kp_err(err, errlen, "register: invalid name (1-%d bytes of UTF-8)",
                      KP_REGISTER_MAX_NAME),
               -1;
    if (e->given_names && !kp_text_valid(e->given_names, KP_REGISTER_MAX_NAME))
        return kp_err(err, errlen, "register: invalid given_names (1-%d bytes of UTF-8)",
                      KP_REGISTER_MAX_NAME),
               -1;
    if (e->birth_date && kp_date_parse(e->birth_date, &day))
        return kp_err(err, errlen, "register: invalid birth_date '%.20s' (want YYYY-MM-DD)",
                      e->birth_date),
               -1;
    if (e->gender && !(clear && !*e->gender) && !s_gender_valid(e->gender))
        return kp_err(err, errlen, "register: invalid gender '%.8s' (M, F, or absent: unknown)",
                      e->gender),
               -1;
    if (e->nationality && !(clear && !*e->nationality) && !s_nationality_valid(e->nationality))
        return kp_err(err, errlen,
                      "register: invalid nationality '%.8s' (ISO 3166-1 alpha-3, e.g. BEL)",
                      e->nationality),
               -1;
    if (e->address && !(clear && !*e->address) &&
        !kp_text_valid(e->address, KP_REGISTER_MAX_ADDRESS))
        return kp_err(err, errlen, "register: invalid address (1-%d bytes of UTF-8)",
                      KP_REGISTER_MAX_ADDRESS),
               -1;
    if (e->death_date && !(clear && !*e->death_date) && kp_date_parse(e->death_date, &day))
        return kp_err(err, errlen, "register: invalid death_date '%.20s' (want YYYY-MM-DD)",
                      e->death_date),
               -1;
    if (e->changed_on && kp_date_parse(e->changed_on, &day))
        return kp_err(err, errlen, "register: invalid changed_on '%.20s' (want YYYY-MM-DD)",
                      e->changed_on),
               -1;
    if (e->changed_by && !kp_text_valid(e->changed_by, KP_REGISTER_MAX_NAME))
        return kp_err(err, errlen, "register: invalid changed_by"), -1;
    if (e->proposal && !kp_text_valid(e->proposal, KP_REGISTER_MAX_PROPOSAL))
        return kp_err(err, errlen, "register: invalid proposal key"), -1;
    return 0;
}

//  The whole entry agrees with itself: the number's birth date and
//  gender with the fields, death after birth.
static int s_check_consistent(const Kp__RegisterEntry *e, char *err, size_t errlen)
{
    int32_t day, birth = -1, death;
    bool bis, gender_known;
    if (kp_register_number_info(e->number, &day, &bis, &gender_known))
        return kp_err(err, errlen, "register: invalid number '%.20s' (11 digits, mod-97 check)",
                      e->number),
               -1;
    if (e->birth_date && !kp_date_parse(e->birth_date, &birth) && day >= 0 && birth != day)
        return kp_err(err, errlen, "register: birth_date %s does not match number %s",
                      e->birth_date, e->number),
               -1;
    if (e->gender && *e->gender && gender_known &&
        (s_digits(e->number + 6, 3) % 2 == 1) != (e->gender[0] == 'M'))
        return kp_err(err, errlen,
                      "register: gender %s does not match number %s (odd sequence: M, even: F)",
                      e->gender, e->number),
               -1;
    if (birth >= 0 && e->death_date && *e->death_date && !kp_date_parse(e->death_date, &death) &&
        death < birth)
        return kp_err(err, errlen, "register: death_date %s is before birth_date %s", e->death_date,
                      e->birth_date),
               -1;
    return 0;
}

int kp_register_entry_check(const Kp__RegisterEntry *e, bool allocate, char *err, size_t errlen)
{
    if (!e)
        return kp_err(err, errlen, "register: no entry"), -1;
    if (allocate && (e->has_version || e->replaced_by))
        return kp_err(err, errlen,
                      "register: version and replaced_by are set by the node (a merge replaces)"),
               -1;
    if (e->replaced_by &&
        (!kp_insz_valid(e->replaced_by) || !e->number || !strcmp(e->replaced_by, e->number)))
        return kp_err(err, errlen, "register: invalid replaced_by '%.20s' (another valid INSZ)",
                      e->replaced_by),
               -1;
    if (s_check_fields(e, false, err, errlen))
        return -1;
    if (!e->name)
        return kp_err(err, errlen, "register: missing field 'name'"), -1;
    if (allocate) {
        if (e->number)
            return kp_err(err, errlen, "register: a bis proposal has no number (it is allocated)"),
                   -1;
        if (!e->birth_date)
            return kp_err(err, errlen, "register: missing field 'birth_date'"), -1;
        return 0;
    }
    if (!e->number)
        return kp_err(err, errlen, "register: missing field 'number'"), -1;
    return s_check_consistent(e, err, errlen);
}

int kp_register_change_check(const Kp__RegisterChange *c, char *err, size_t errlen)
{
    if (!c || !c->entry)
        return kp_err(err, errlen, "register change: missing field 'entry'"), -1;
    Kp__RegisterChange__Kind kind = c->has_kind ? c->kind : KP__REGISTER_CHANGE__KIND__BIS;
    const Kp__RegisterEntry *e = c->entry;
    switch (kind) {
    case KP__REGISTER_CHANGE__KIND__BIS:
        return kp_register_entry_check(e, true, err, errlen);
    case KP__REGISTER_CHANGE__KIND__CORRECTION:
        if (e->has_version || e->replaced_by || e->proposal)
            return kp_err(err, errlen,
                          "register correction: version, replaced_by and proposal "
                          "are not corrected"),
                   -1;
        if (!e->number || !kp_insz_valid(e->number))
            return kp_err(err, errlen, "register correction: invalid or missing number"), -1;
        return s_check_fields(e, true, err, errlen);
    case KP__REGISTER_CHANGE__KIND__MERGE:
        if (!e->number || !kp_insz_valid(e->number) || !c->keep || !kp_insz_valid(c->keep))
            return kp_err(err, errlen, "register merge: number and keep must be valid INSZ"), -1;
        if (!strcmp(e->number, c->keep))
            return kp_err(err, errlen, "register merge: a number cannot replace itself"), -1;
        return 0;
    default:
        return kp_err(err, errlen, "register change: unknown kind %d", (int)kind), -1;
    }
}

const char *kp_register_event_name(kp_register_event_t event)
{
    switch (event) {
    case KP_REGISTER_CREATED:
        return "created";
    case KP_REGISTER_REPLACED:
        return "replaced";
    case KP_REGISTER_CORRECTED:
        return "corrected";
    case KP_REGISTER_MERGED:
        return "merged";
    }
    return "unknown";
}

//  ---------------------------------------------------------------------
//  Store

static MDB_val s_number_val(const char *number)
{
    return (MDB_val){.mv_size = KP_INSZ_LEN, .mv_data = (void *)number};
}

static int s_lmdb(int rc, char *err, size_t errlen)
{
    kp_err(err, errlen, "storage error: %s", mdb_strerror(rc));
    return KP_STORAGE_FAILED;
}

Kp__RegisterEntry *kp_register_get(const kp_register_tables_t *t, MDB_txn *txn, const char *number)
{
    if (!number || strlen(number) != KP_INSZ_LEN)
        return NULL;
    MDB_val k = s_number_val(number), v;
    if (mdb_get(txn, t->entries, &k, &v))
        return NULL;
    return kp__register_entry__unpack(NULL, v.mv_size, v.mv_data);
}

static int s_birth_key(const Kp__RegisterEntry *e, unsigned char key[4])
{
    int32_t day;
    if (!e->birth_date || kp_date_parse(e->birth_date, &day))
        return -1;
    kp_be32_put(key, (uint32_t)day ^ 0x80000000u);
    return 0;
}

static bool s_is_number(const char *number)
{
    return number && strlen(number) == KP_INSZ_LEN;
}

//  Keeps the reverse index (kept number -> the numbers it replaced) in
//  step with e's replaced_by, in the same transaction as the entry: what
//  raft, snapshots and the export's re-import carry with it.
static int s_store_replaced(const kp_register_tables_t *t, MDB_txn *txn,
                            const Kp__RegisterEntry *before, const Kp__RegisterEntry *e)
{
    const char *was = before && s_is_number(before->replaced_by) ? before->replaced_by : NULL;
    const char *now = s_is_number(e->replaced_by) ? e->replaced_by : NULL;
    if (was && now && !strcmp(was, now))
        return 0;
    MDB_val n = s_number_val(e->number);
    int rc = 0;
    if (was) {
        MDB_val k = s_number_val(was);
        rc = mdb_del(txn, t->replaced, &k, &n);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0 && now) {
        MDB_val k = s_number_val(now);
        rc = mdb_put(txn, t->replaced, &k, &n, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST)
            rc = 0;
    }
    return rc;
}

//  Writes e (with e->number) and its birth-date index entry; removes
//  before's index entry when the birth date changed.
static int s_store(const kp_register_tables_t *t, MDB_txn *txn, const Kp__RegisterEntry *before,
                   const Kp__RegisterEntry *e, char *err, size_t errlen)
{
    unsigned char old_key[4], new_key[4];
    bool had = before && !s_birth_key(before, old_key), has = !s_birth_key(e, new_key);
    MDB_val n = s_number_val(e->number);
    int rc = 0;
    if (had && (!has || memcmp(old_key, new_key, 4))) {
        MDB_val k = {4, old_key};
        rc = mdb_del(txn, t->by_birth, &k, &n);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0 && has) {
        MDB_val k = {4, new_key};
        rc = mdb_put(txn, t->by_birth, &k, &n, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST)
            rc = 0;
    }
    if (rc == 0)
        rc = s_store_replaced(t, txn, before, e);
    size_t size = kp__register_entry__get_packed_size(e);
    MDB_val v = {size, NULL};
    if (rc == 0)
        rc = mdb_put(txn, t->entries, &n, &v, MDB_RESERVE);
    if (rc)
        return s_lmdb(rc, err, errlen);
    kp__register_entry__pack(e, v.mv_data);
    return 0;
}

static int s_hooks(const kp_register_hooks_t *hooks, MDB_txn *txn, kp_register_event_t event,
                   const Kp__RegisterEntry *before, const Kp__RegisterEntry *after, char *err,
                   size_t errlen)
{
    for (size_t i = 0; hooks && i < hooks->count; i++)
        if (hooks->fn[i](hooks->arg[i], txn, event, before, after, err, errlen))
            return KP_STORAGE_FAILED;
    return 0;
}

//  Stores after in place of before (NULL: new) and tells the hooks.
static int s_change(const kp_register_tables_t *t, MDB_txn *txn, const kp_register_hooks_t *hooks,
                    kp_register_event_t event, const Kp__RegisterEntry *before,
                    Kp__RegisterEntry *after, char *err, size_t errlen)
{
    after->has_version = true;
    after->version = before && before->has_version ? before->version + 1 : 1;
    int rc = s_store(t, txn, before, after, err, errlen);
    return rc ? rc : s_hooks(hooks, txn, event, before, after, err, errlen);
}

//  A change is dated by whoever proposes it (the node, kpctl): applying
//  reads no clock, so that every node makes the same mutation of it.
static int s_dated(const Kp__RegisterEntry *e, char *err, size_t errlen)
{
    if (e->changed_on)
        return 0;
    kp_err(err, errlen,
           "register: missing field 'changed_on' (the date of the change; kpctl register "
           "import and the node set it)");
    return -1;
}

int kp_register_apply_put(const kp_register_tables_t *t, MDB_txn *txn,
                          const kp_register_hooks_t *hooks, const Kp__RegisterEntry *entry,
                          char *err, size_t errlen)
{
    if (kp_register_entry_check(entry, false, err, errlen) || s_dated(entry, err, errlen))
        return -1;
    Kp__RegisterEntry *before = kp_register_get(t, txn, entry->number);
    Kp__RegisterEntry after = *entry;
    if (!after.replaced_by && before)
        after.replaced_by = before->replaced_by; //  a merge is not undone by a PUT
    if (before && !after.proposal)
        after.proposal = before->proposal;
    int rc = s_change(t, txn, hooks, before ? KP_REGISTER_REPLACED : KP_REGISTER_CREATED, before,
                      &after, err, errlen);
    if (before)
        kp__register_entry__free_unpacked(before, NULL);
    return rc;
}

int kp_register_proposed(const kp_register_tables_t *t, MDB_txn *txn, const char *proposal,
                         char out[12])
{
    MDB_val k = {strlen(proposal), (void *)proposal}, v;
    if (!*proposal || mdb_get(txn, t->proposals, &k, &v) || v.mv_size != KP_INSZ_LEN)
        return -1;
    memcpy(out, v.mv_data, KP_INSZ_LEN);
    out[KP_INSZ_LEN] = '\0';
    return 0;
}

//  The next free bis number: sequences in order, odd for men, even for
//  women, any when the gender is unknown (its month + 20 is a range of
//  its own).
static int s_allocate(const kp_register_tables_t *t, MDB_txn *txn, int32_t day, char gender,
                      char out[12], char *err, size_t errlen)
{
    unsigned first = gender == 'F' ? 2 : 1, step = gender ? 2 : 1;
    for (unsigned seq = first; seq <= 998; seq += step) {
        if (kp_register_bis_number(day, gender, seq, out))
            break;
        MDB_val k = s_number_val(out), v;
        int rc = mdb_get(txn, t->entries, &k, &v);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return s_lmdb(rc, err, errlen);
    }
    char date[11];
    kp_date_format(day, date);
    kp_err(err, errlen, "register: no free bis number left for birth date %s", date);
    return -1;
}

static int s_apply_bis(const kp_register_tables_t *t, MDB_txn *txn,
                       const kp_register_hooks_t *hooks, const Kp__RegisterEntry *entry, char *err,
                       size_t errlen)
{
    char number[12];
    if (entry->proposal && !kp_register_proposed(t, txn, entry->proposal, number))
        return 0; //  this proposal was applied already: one number per proposal
    int32_t day;
    kp_date_parse(entry->birth_date, &day);
    char gender = entry->gender && *entry->gender ? entry->gender[0] : 0;
    int rc = s_allocate(t, txn, day, gender, number, err, errlen);
    if (rc)
        return rc;
    Kp__RegisterEntry after = *entry;
    after.number = number;
    if (entry->gender && !*entry->gender)
        after.gender = NULL;
    rc = s_change(t, txn, hooks, KP_REGISTER_CREATED, NULL, &after, err, errlen);
    if (rc == 0 && entry->proposal) {
        MDB_val k = {strlen(entry->proposal), entry->proposal}, v = s_number_val(number);
        rc = mdb_put(txn, t->proposals, &k, &v, 0);
        if (rc)
            return s_lmdb(rc, err, errlen);
    }
    return rc;
}

//  An empty string clears an optional field; absent leaves it.
static char *s_corrected(char *old, char *given, bool clears)
{
    if (!given)
        return old;
    return clears && !*given ? NULL : given;
}

static int s_apply_correction(const kp_register_tables_t *t, MDB_txn *txn,
                              const kp_register_hooks_t *hooks, const Kp__RegisterEntry *c,
                              char *err, size_t errlen)
{
    Kp__RegisterEntry *before = kp_register_get(t, txn, c->number);
    if (!before)
        return kp_err(err, errlen, "register: cannot correct %s: not in the register", c->number),
               -1;
    int rc = -1;
    if (before->replaced_by)
        kp_err(err, errlen, "register: %s was replaced by %s: correct that number", c->number,
               before->replaced_by);
    else {
        Kp__RegisterEntry after = *before;
        after.name = s_corrected(before->name, c->name, false);
        after.given_names = s_corrected(before->given_names, c->given_names, false);
        after.birth_date = s_corrected(before->birth_date, c->birth_date, false);
        after.gender = s_corrected(before->gender, c->gender, true);
        after.nationality = s_corrected(before->nationality, c->nationality, true);
        after.address = s_corrected(before->address, c->address, true);
        after.death_date = s_corrected(before->death_date, c->death_date, true);
        after.changed_by = c->changed_by ? c->changed_by : before->changed_by;
        after.changed_on = c->changed_on ? c->changed_on : before->changed_on;
        after.has_changed_unix_ms = c->has_changed_unix_ms;
        after.changed_unix_ms = c->changed_unix_ms;
        rc = s_check_consistent(&after, err, errlen);
        if (rc == 0)
            rc = s_change(t, txn, hooks, KP_REGISTER_CORRECTED, before, &after, err, errlen);
    }
    kp__register_entry__free_unpacked(before, NULL);
    return rc;
}

//  Moves the person directory entries of from to to (values are moved
//  as they are: the person table's values do not name the person).
static int s_move_persons(const kp_register_tables_t *t, MDB_txn *txn, const char *from,
                          const char *to, char *err, size_t errlen)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, t->persons, &cursor);
    if (rc)
        return s_lmdb(rc, err, errlen);
    MDB_val k = s_number_val(from), v, nk = s_number_val(to);
    int op = MDB_SET_KEY;
    while (rc == 0 && (rc = mdb_cursor_get(cursor, &k, &v, op)) == 0) {
        unsigned char copy[64];
        if (v.mv_size > sizeof copy) {
            rc = MDB_BAD_VALSIZE;
            break;
        }
        memcpy(copy, v.mv_data, v.mv_size);
        MDB_val nv = {v.mv_size, copy};
        rc = mdb_put(txn, t->persons, &nk, &nv, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST)
            rc = 0;
        op = MDB_NEXT_DUP;
    }
    mdb_cursor_close(cursor);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0) {
        k = s_number_val(from);
        rc = mdb_del(txn, t->persons, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc ? s_lmdb(rc, err, errlen) : 0;
}

static int s_apply_merge(const kp_register_tables_t *t, MDB_txn *txn,
                         const kp_register_hooks_t *hooks, const Kp__RegisterChange *change,
                         char *err, size_t errlen)
{
    const char *replace = change->entry->number, *keep = change->keep;
    Kp__RegisterEntry *old = kp_register_get(t, txn, replace);
    Kp__RegisterEntry *kept = kp_register_get(t, txn, keep);
    int rc = -1;
    if (!old || !kept)
        kp_err(err, errlen, "register: cannot merge: %s is not in the register",
               old ? keep : replace);
    else if (old->replaced_by || kept->replaced_by)
        kp_err(err, errlen, "register: cannot merge: %s was replaced by %s already",
               old->replaced_by ? replace : keep,
               old->replaced_by ? old->replaced_by : kept->replaced_by);
    else {
        Kp__RegisterEntry after = *old;
        after.replaced_by = (char *)keep;
        if (change->entry->changed_by)
            after.changed_by = change->entry->changed_by;
        if (change->entry->changed_on)
            after.changed_on = change->entry->changed_on;
        after.has_changed_unix_ms = change->entry->has_changed_unix_ms;
        after.changed_unix_ms = change->entry->changed_unix_ms;
        rc = s_move_persons(t, txn, replace, keep, err, errlen);
        if (rc == 0)
            rc = s_change(t, txn, hooks, KP_REGISTER_MERGED, old, &after, err, errlen);
    }
    if (old)
        kp__register_entry__free_unpacked(old, NULL);
    if (kept)
        kp__register_entry__free_unpacked(kept, NULL);
    return rc;
}

int kp_register_apply_change(const kp_register_tables_t *t, MDB_txn *txn,
                             const kp_register_hooks_t *hooks, const Kp__RegisterChange *change,
                             char *err, size_t errlen)
{
    if (kp_register_change_check(change, err, errlen) || s_dated(change->entry, err, errlen))
        return -1;
    switch (change->has_kind ? change->kind : KP__REGISTER_CHANGE__KIND__BIS) {
    case KP__REGISTER_CHANGE__KIND__CORRECTION:
        return s_apply_correction(t, txn, hooks, change->entry, err, errlen);
    case KP__REGISTER_CHANGE__KIND__MERGE:
        return s_apply_merge(t, txn, hooks, change, err, errlen);
    default:
        return s_apply_bis(t, txn, hooks, change->entry, err, errlen);
    }
}

int kp_register_resolve(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                        char out[12])
{
    if (!number || strlen(number) != KP_INSZ_LEN)
        return -1;
    snprintf(out, 12, "%s", number);
    for (int i = 0; i <= KP_REGISTER_MAX_CHAIN; i++) {
        Kp__RegisterEntry *e = kp_register_get(t, txn, out);
        if (!e)
            return -1;
        bool next = e->replaced_by && strlen(e->replaced_by) == KP_INSZ_LEN;
        if (next)
            memcpy(out, e->replaced_by, 12);
        kp__register_entry__free_unpacked(e, NULL);
        if (!next)
            return 0;
    }
    return -1;
}

size_t kp_register_replaced(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                            char (*out)[12], size_t max)
{
    MDB_cursor *cursor;
    if (!s_is_number(number) || mdb_cursor_open(txn, t->replaced, &cursor))
        return 0;
    size_t count = 0;
    MDB_val k = s_number_val(number), v;
    for (int op = MDB_SET_KEY; mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT_DUP) {
        if (v.mv_size != KP_INSZ_LEN)
            continue;
        if (count < max) {
            memcpy(out[count], v.mv_data, KP_INSZ_LEN);
            out[count][KP_INSZ_LEN] = '\0';
        }
        count++;
    }
    mdb_cursor_close(cursor);
    return count;
}

static bool s_listed(char (*list)[12], size_t count, const char *number)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(list[i], number))
            return true;
    return false;
}

//  Appends to list (count used of max) every number the ones from
//  list[first] on replaced, transitively: breadth first over the
//  reverse index, each number once however the merges were chained.
static size_t s_replaced_all(const kp_register_tables_t *t, MDB_txn *txn, char (*list)[12],
                             size_t first, size_t count, size_t max)
{
    for (size_t next = first; next < count; next++) {
        char found[KP_REGISTER_MAX_FAMILY][12];
        size_t n = kp_register_replaced(t, txn, list[next], found, KP_REGISTER_MAX_FAMILY);
        for (size_t i = 0; i < n && i < KP_REGISTER_MAX_FAMILY && count < max; i++)
            if (!s_listed(list, count, found[i]))
                snprintf(list[count++], 12, "%s", found[i]);
    }
    return count;
}

size_t kp_register_replaced_all(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                                char (*out)[12], size_t max)
{
    char list[KP_REGISTER_MAX_FAMILY + 1][12];
    if (!s_is_number(number))
        return 0;
    snprintf(list[0], 12, "%s", number);
    size_t count = s_replaced_all(t, txn, list, 0, 1, KP_REGISTER_MAX_FAMILY + 1);
    for (size_t i = 1; i < count && i <= max; i++)
        memcpy(out[i - 1], list[i], 12);
    return count - 1 < max ? count - 1 : max;
}

size_t kp_register_family(const kp_register_tables_t *t, MDB_txn *txn, const char *number,
                          char (*out)[12], size_t max)
{
    if (!s_is_number(number) || max == 0)
        return 0;
    if (kp_register_resolve(t, txn, number, out[0]))
        snprintf(out[0], 12, "%s", number); //  not in the register: itself alone
    return s_replaced_all(t, txn, out, 0, 1, max);
}

typedef struct {
    const kp_register_tables_t *t;
    MDB_txn *txn;
    int rc;
} s_reindex_t;

static int s_reindex_one(const Kp__RegisterEntry *entry, void *arg)
{
    s_reindex_t *self = arg;
    self->rc = s_store_replaced(self->t, self->txn, NULL, entry);
    return self->rc;
}

int kp_register_reindex(const kp_register_tables_t *t, MDB_txn *txn, char *err, size_t errlen)
{
    int rc = mdb_drop(txn, t->replaced, 0);
    s_reindex_t self = {t, txn, 0};
    if (rc == 0)
        kp_register_each(t, txn, s_reindex_one, &self);
    rc = rc ? rc : self.rc;
    return rc ? s_lmdb(rc, err, errlen) : 0;
}

int kp_register_each(const kp_register_tables_t *t, MDB_txn *txn, kp_register_each_fn *fn,
                     void *arg)
{
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, t->entries, &cursor))
        return 0;
    MDB_val k, v;
    int rc = 0;
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        Kp__RegisterEntry *e = kp__register_entry__unpack(NULL, v.mv_size, v.mv_data);
        if (e) {
            rc = fn(e, arg);
            kp__register_entry__free_unpacked(e, NULL);
        }
    }
    mdb_cursor_close(cursor);
    return rc;
}

//  ---------------------------------------------------------------------
//  Names

//  Latin-1 Supplement and Latin Extended-A (U+00C0 to U+017F) folded to
//  a base letter; '.' stands for a character that is not a letter, and
//  Æ, ß, Œ are spelled out below.
static const char s_fold_c0[] = "aaaaaaaceeeeiiiidnooooo.ouuuuyts"
                                "aaaaaaaceeeeiiiidnooooo.ouuuuyty";
static const char s_fold_100[] = "aaaaaaccccccccdd"
                                 "ddeeeeeeeeeegggg"
                                 "gggghhhhiiiiiiii"
                                 "iiiijjkkklllllll"
                                 "lllnnnnnnnnnoooo"
                                 "oooorrrrrrssssss"
                                 "ssttttttuuuuuuuu"
                                 "uuuuwwyyyzzzzzzs";

static size_t s_put(char *out, size_t size, size_t used, const char *text)
{
    for (; *text && used + 1 < size; text++)
        out[used++] = *text;
    return used;
}

void kp_register_fold(const char *name, char *out, size_t size)
{
    assert(size > 0);
    const unsigned char *p = (const unsigned char *)(name ? name : "");
    size_t used = 0;
    while (*p && used + 1 < size) {
        unsigned c = *p++;
        if (c < 0x80) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                out[used++] = (char)(c | 0x20);
            continue;
        }
        if ((c & 0xE0) != 0xC0 || (*p & 0xC0) != 0x80) {
            while ((*p & 0xC0) == 0x80)
                p++; //  another script: skipped whole
            continue;
        }
        unsigned cp = ((c & 0x1F) << 6) | (*p++ & 0x3F);
        if (cp == 0xC6 || cp == 0xE6)
            used = s_put(out, size, used, "ae");
        else if (cp == 0xDF)
            used = s_put(out, size, used, "ss");
        else if (cp == 0x152 || cp == 0x153)
            used = s_put(out, size, used, "oe");
        else if (cp >= 0xC0 && cp < 0x100 && s_fold_c0[cp - 0xC0] != '.')
            out[used++] = s_fold_c0[cp - 0xC0];
        else if (cp >= 0x100 && cp < 0x180)
            out[used++] = s_fold_100[cp - 0x100];
    }
    out[used] = '\0';
}

//  Optimal string alignment distance: insertions, deletions,
//  substitutions and transpositions of neighbours count 1.
static size_t s_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][KP_REGISTER_MAX_NAME + 1];
    size_t *two = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                two[j - 2] + 1 < best)
                best = two[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = two;
        two = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

double kp_register_similarity(const char *a, const char *b)
{
    char fa[KP_REGISTER_MAX_NAME + 1], fb[KP_REGISTER_MAX_NAME + 1];
    kp_register_fold(a, fa, sizeof fa);
    kp_register_fold(b, fb, sizeof fb);
    size_t n = strlen(fa), m = strlen(fb), longer = n > m ? n : m;
    if (longer == 0)
        return 0;
    return 1.0 - (double)s_distance(fa, n, fb, m) / (double)longer;
}

//  The best of the given names as given, and of each one alone: "Marie"
//  finds "Marie Louise".
static double s_given_score(const char *given, const char *names)
{
    if (!names)
        return 0;
    double best = kp_register_similarity(given, names);
    char word[KP_REGISTER_MAX_NAME + 1];
    const char *p = names;
    while (*p) {
        size_t len = strcspn(p, " -");
        if (len && len < sizeof word) {
            memcpy(word, p, len);
            word[len] = '\0';
            double s = kp_register_similarity(given, word);
            if (s > best)
                best = s;
        }
        p += len;
        p += strspn(p, " -");
    }
    return best;
}

static double s_score(const Kp__RegisterEntry *e, const char *name, const char *given)
{
    double s = kp_register_similarity(name, e->name);
    if (given && *given) {
        double swapped = 0.7 * kp_register_similarity(name, e->given_names) +
                         0.3 * kp_register_similarity(given, e->name);
        s = 0.7 * s + 0.3 * s_given_score(given, e->given_names);
        if (swapped > s)
            s = swapped; //  name and given names swapped
    }
    return s;
}

static void s_insert(kp_register_candidate_t *out, size_t *count, size_t max, const char *number,
                     double score)
{
    size_t i = *count < max ? (*count)++ : max;
    while (i > 0 && out[i - 1].score < score) {
        if (i < max)
            out[i] = out[i - 1];
        i--;
    }
    if (i < max) {
        snprintf(out[i].number, sizeof out[i].number, "%s", number);
        out[i].score = score;
    }
}

size_t kp_register_search(const kp_register_tables_t *t, MDB_txn *txn, const char *name,
                          const char *given, int32_t day, double min_score,
                          kp_register_candidate_t *out, size_t max)
{
    unsigned char key[4];
    kp_be32_put(key, (uint32_t)day ^ 0x80000000u);
    MDB_cursor *cursor;
    if (!name || max == 0 || mdb_cursor_open(txn, t->by_birth, &cursor))
        return 0;
    size_t count = 0;
    MDB_val k = {4, key}, v;
    for (int op = MDB_SET_KEY; mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT_DUP) {
        char number[12];
        if (v.mv_size != KP_INSZ_LEN)
            continue;
        memcpy(number, v.mv_data, KP_INSZ_LEN);
        number[KP_INSZ_LEN] = '\0';
        Kp__RegisterEntry *e = kp_register_get(t, txn, number);
        if (!e)
            continue;
        double score = e->replaced_by ? -1 : s_score(e, name, given);
        kp__register_entry__free_unpacked(e, NULL);
        if (score >= min_score)
            s_insert(out, &count, max, number, score);
    }
    mdb_cursor_close(cursor);
    return count;
}

void kp_register_json(kp_json_t *json, const Kp__RegisterEntry *e)
{
    int32_t day;
    bool bis = false, known;
    kp_register_number_info(e->number, &day, &bis, &known);
    kp_json_object_open(json);
    kp_json_kv_string(json, "number", e->number);
    kp_json_key(json, "bis");
    kp_json_bool(json, bis);
    kp_json_kv_string(json, "state", e->replaced_by ? "replaced_by" : "active");
    const char *keys[] = {"replaced_by", "name",    "given_names", "birth_date", "gender",
                          "nationality", "address", "death_date",  "changed_on", "changed_by"};
    const char *values[] = {e->replaced_by, e->name,        e->given_names, e->birth_date,
                            e->gender,      e->nationality, e->address,     e->death_date,
                            e->changed_on,  e->changed_by};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (values[i])
            kp_json_kv_string(json, keys[i], values[i]);
    kp_json_kv_uint(json, "version", e->version);
    kp_json_object_close(json);
}

void kp_register_update_init(kp_register_update_t *self, Kp__RegisterChange *change,
                             const char *origin)
{
    kp__directory_record__init(&self->record);
    self->record.record_case = KP__DIRECTORY_RECORD__RECORD_REGISTER_CHANGE;
    self->record.register_change = change;
    kp__directory_op__init(&self->op);
    self->op.record = &self->record;
    self->ops[0] = &self->op;
    kp__directory_update__init(&self->update);
    self->update.n_ops = 1;
    self->update.ops = self->ops;
    self->update.origin = (char *)origin;
}
