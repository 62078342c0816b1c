/*  directory.c - the reference directory in one LMDB environment.

    See directory.h for the table layout. Everything that is written goes
    through kp_directory_apply, which validates each record with
    kp_directory_op_check first, so a record from a file, the network or
    a replica is held to the same rules.
*/
#include "directory.h"
#include "byteorder.h"
#include "mutation.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zmq.h>
#include <unistd.h>

//  Sparse: the data file only grows as far as it is used, so a large map
//  costs nothing and a million-person import never hits MDB_MAP_FULL.
#define KP_DIR_MAP_SIZE (64ULL << 30)
//  Every request handler thread keeps a reader slot; leave ample room.
#define KP_DIR_MAX_READERS 1024
#define KP_DIR_PERSON_VALUE 24
//  Longest key: legal, 'K' kbo framework NUL message.
#define KP_DIR_MAX_KEY (1 + KP_KBO_LEN + KP_DIR_MAX_FRAMEWORK + 1 + KP_DIR_MAX_MESSAGE)

enum {
    S_INSTITUTION,
    S_INST_BY_ST,
    S_USER,
    S_AUTHORIZATION,
    S_LEGAL,
    S_AVAILABILITY,
    S_PERSON,
    S_MAINTENANCE,
    S_KEY,
    S_REGISTER,
    S_REGISTER_BIRTH,
    S_REGISTER_PROPOSAL,
    S_REGISTER_REPLACED,
    S_META,
    S_MUT_QUEUE, //  the mutation queues (mutation.h): replicated with the rest
    S_MUT_INST,
    S_MUT_ACKED,
    S_MUT_IDS,
    S_MUT_ID_TIME,
    S_TABLES
};

static const struct {
    const char *name;
    unsigned flags;
} s_tables[S_TABLES] = {
    {"institution", 0},
    {"inst_by_st", MDB_DUPSORT | MDB_DUPFIXED},
    {"user", 0},
    {"authorization", 0},
    {"legal", 0},
    {"availability", 0},
    {"person", MDB_DUPSORT | MDB_DUPFIXED},
    {"maintenance", 0},
    {"key", 0},
    {"register", 0},
    {"register_birth", MDB_DUPSORT | MDB_DUPFIXED},
    {"register_proposal", 0},
    {"register_replaced", MDB_DUPSORT | MDB_DUPFIXED},
    {"meta", 0},
    {"mut_queue", 0},
    {"mut_inst", 0},
    {"mut_acked", 0},
    {"mut_ids", 0},
    {"mut_id_time", 0},
};

struct _kp_directory_t {
    MDB_env *env;
    MDB_dbi dbi[S_TABLES];
    pthread_mutex_t write_lock;
    char path[PATH_MAX];
    MDB_txn *batch;     //  open batch (kp_directory_batch_begin): writers nest in it
    bool meta_unsynced; //  kp_directory_replicated: MDB_NOMETASYNC
    bool read_only;     //  kp_directory_open_read_only: no folder, table nor write made
    kp_register_hooks_t register_hooks;
};

//  ---------------------------------------------------------------------
//  Byte encodings: big-endian so that memcmp order is numeric order.

//  Signed day numbers biased so that unsigned order is signed order.
static void s_put_day(unsigned char *p, int32_t day)
{
    kp_be32_put(p, (uint32_t)day ^ 0x80000000u);
}

static int32_t s_get_day(const unsigned char *p)
{
    return (int32_t)(kp_be32_get(p) ^ 0x80000000u);
}

//  ---------------------------------------------------------------------
//  Validation of one op, shared with the JSON Lines parser.

//  Identifiers (user ids, message types, frameworks) are visible ASCII:
//  they end up in keys, logs and command lines.
static bool s_ident_valid(const char *text, size_t max)
{
    size_t len = 0;
    for (; text[len]; len++)
        if (text[len] < 0x21 || text[len] > 0x7E || len >= max)
            return false;
    return len > 0;
}

static bool s_text_valid(const char *text, size_t max)
{
    return kp_text_valid(text, max);
}

#define S_NEED(present, field)                                                                     \
    do {                                                                                           \
        if (!(present)) {                                                                          \
            kp_err(err, errlen, "%s: missing field '%s'", table, field);                           \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static int s_check_small(const char *table, const char *field, bool has, uint32_t value, char *err,
                         size_t errlen)
{
    S_NEED(has, field);
    if (value > KP_DIR_MAX_CODE) {
        kp_err(err, errlen, "%s: %s %u out of range (0-%u)", table, field, value, KP_DIR_MAX_CODE);
        return -1;
    }
    return 0;
}

static int s_check_kbo(const char *table, const char *kbo, char *err, size_t errlen)
{
    S_NEED(kbo, "kbo");
    if (!kp_kbo_valid(kbo)) {
        kp_err(err, errlen, "invalid KBO '%.20s' (10 digits, mod-97 check)", kbo);
        return -1;
    }
    return 0;
}

static int s_check_ident(const char *table, const char *field, const char *value, size_t max,
                         char *err, size_t errlen)
{
    S_NEED(value, field);
    if (!s_ident_valid(value, max)) {
        kp_err(err, errlen, "%s: invalid %s '%.40s' (1-%zu visible ASCII characters)", table, field,
               value, max);
        return -1;
    }
    return 0;
}

static int s_check_text(const char *table, const char *field, const char *value, size_t max,
                        char *err, size_t errlen)
{
    S_NEED(value, field);
    if (!s_text_valid(value, max)) {
        kp_err(err, errlen, "%s: invalid %s (1-%zu bytes of UTF-8, no control characters)", table,
               field, max);
        return -1;
    }
    return 0;
}

static int s_check_dates(const char *table, const char *from, const char *to, int32_t *from_day,
                         int32_t *to_day, char *err, size_t errlen)
{
    S_NEED(from, "from");
    S_NEED(to, "to");
    if (kp_date_parse(from, from_day)) {
        kp_err(err, errlen, "invalid date from '%.20s' (want YYYY-MM-DD)", from);
        return -1;
    }
    if (kp_date_parse(to, to_day)) {
        kp_err(err, errlen, "invalid date to '%.20s' (want YYYY-MM-DD)", to);
        return -1;
    }
    if (*from_day > *to_day) {
        kp_err(err, errlen, "from %s is after to %s", from, to);
        return -1;
    }
    return 0;
}

static int s_check_times(const Kp__Maintenance *m, int64_t *from, int64_t *to, char *err,
                         size_t errlen)
{
    const char *table = "maintenance";
    S_NEED(m->from, "from");
    S_NEED(m->to, "to");
    if (kp_time_parse(m->from, from)) {
        kp_err(err, errlen, "invalid time from '%.30s' (want YYYY-MM-DDTHH:MM:SSZ)", m->from);
        return -1;
    }
    if (kp_time_parse(m->to, to)) {
        kp_err(err, errlen, "invalid time to '%.30s' (want YYYY-MM-DDTHH:MM:SSZ)", m->to);
        return -1;
    }
    if (*from > *to) {
        kp_err(err, errlen, "from %s is after to %s", m->from, m->to);
        return -1;
    }
    return 0;
}

static int s_check_person(const Kp__PersonEntry *p, char *err, size_t errlen)
{
    const char *table = "person";
    S_NEED(p->insz, "insz");
    if (!kp_insz_valid(p->insz)) {
        kp_err(err, errlen, "invalid INSZ '%.20s' (11 digits, mod-97 check)", p->insz);
        return -1;
    }
    int32_t from, to;
    if (s_check_kbo(table, p->kbo, err, errlen) ||
        s_check_small(table, "sector", p->has_sector, p->sector, err, errlen) ||
        s_check_small(table, "type", p->has_type, p->type, err, errlen) ||
        s_check_small(table, "capacity", p->has_capacity, p->capacity, err, errlen))
        return -1;
    return s_check_dates(table, p->from, p->to, &from, &to, err, errlen);
}

static int s_check_legal(const Kp__LegalAuthorization *l, char *err, size_t errlen)
{
    const char *table = "legal";
    bool st = l->has_sector || l->has_type;
    if (l->kbo && st) {
        kp_err(err, errlen, "legal: give either kbo or sector and type, not both");
        return -1;
    }
    if (!l->kbo && !st) {
        kp_err(err, errlen, "legal: missing field 'kbo' (or 'sector' and 'type')");
        return -1;
    }
    if (l->kbo ? s_check_kbo(table, l->kbo, err, errlen)
               : (s_check_small(table, "sector", l->has_sector, l->sector, err, errlen) ||
                  s_check_small(table, "type", l->has_type, l->type, err, errlen)))
        return -1;
    return s_check_ident(table, "framework", l->framework, KP_DIR_MAX_FRAMEWORK, err, errlen) ||
           s_check_ident(table, "message", l->message, KP_DIR_MAX_MESSAGE, err, errlen);
}

static int s_check_user(const Kp__User *u, bool put, char *err, size_t errlen)
{
    const char *table = "user";
    if (s_check_ident(table, "id", u->id, KP_DIR_MAX_ID, err, errlen))
        return -1;
    if (!put)
        return 0;
    if (s_check_kbo(table, u->kbo, err, errlen) ||
        s_check_small(table, "sector", u->has_sector, u->sector, err, errlen) ||
        s_check_small(table, "type", u->has_type, u->type, err, errlen))
        return -1;
    if (u->n_messages > KP_DIR_MAX_USER_MESSAGES) {
        kp_err(err, errlen, "user: too many messages (%zu, at most %d)", u->n_messages,
               KP_DIR_MAX_USER_MESSAGES);
        return -1;
    }
    for (size_t i = 0; i < u->n_messages; i++)
        if (s_check_ident(table, "message", u->messages[i], KP_DIR_MAX_MESSAGE, err, errlen))
            return -1;
    return 0;
}

static int s_check_maintenance(const Kp__Maintenance *m, bool put, char *err, size_t errlen)
{
    const char *table = "maintenance";
    if (!put) {
        S_NEED(m->has_id && m->id > 0, "id");
        return 0;
    }
    int64_t from, to;
    if (s_check_kbo(table, m->kbo, err, errlen) || s_check_times(m, &from, &to, err, errlen))
        return -1;
    if (m->message && s_check_ident(table, "message", m->message, KP_DIR_MAX_MESSAGE, err, errlen))
        return -1;
    return s_check_text(table, "reason", m->reason, KP_DIR_MAX_TEXT, err, errlen);
}

static const char *s_key_kinds[] = {NULL, "application", "provider", "operator", "node"};

const char *kp_key_kind_name(kp_key_kind_t kind)
{
    return kind >= KP_KEY_APPLICATION && kind <= KP_KEY_NODE ? s_key_kinds[kind] : "unknown";
}

int kp_key_kind_from_name(const char *name)
{
    for (int kind = KP_KEY_APPLICATION; name && kind <= KP_KEY_NODE; kind++)
        if (!strcmp(name, s_key_kinds[kind]))
            return kind;
    return -1;
}

bool kp_key_z85_valid(const char *key)
{
    uint8_t raw[32];
    return key && strnlen(key, KP_KEY_Z85_LEN + 1) == KP_KEY_Z85_LEN &&
           zmq_z85_decode(raw, key) != NULL;
}

static int s_check_key(const Kp__Key *k, bool put, char *err, size_t errlen)
{
    const char *table = "key";
    S_NEED(k->public_key, "key");
    if (!kp_key_z85_valid(k->public_key)) {
        kp_err(err, errlen, "key: invalid public key '%.50s' (40 characters of Z85)",
               k->public_key);
        return -1;
    }
    if (!put)
        return 0;
    S_NEED(k->kind, "kind");
    int kind = kp_key_kind_from_name(k->kind);
    if (kind < 0) {
        kp_err(err, errlen, "key: unknown kind '%.20s' (application, provider, operator or node)",
               k->kind);
        return -1;
    }
    if (kind == KP_KEY_PROVIDER
            ? s_check_kbo(table, k->identity, err, errlen)
            : s_check_ident(table, "identity", k->identity, KP_DIR_MAX_ID, err, errlen))
        return -1;
    int32_t from, to;
    return s_check_dates(table, k->from, k->to ? k->to : "9999-12-31", &from, &to, err, errlen);
}

int kp_directory_op_check(const Kp__DirectoryOp *op, char *err, size_t errlen)
{
    if (!op || !op->record) {
        kp_err(err, errlen, "op without a record");
        return -1;
    }
    if (op->has_kind && op->kind != KP__DIRECTORY_OP__KIND__PUT &&
        op->kind != KP__DIRECTORY_OP__KIND__DELETE) {
        kp_err(err, errlen, "unknown op kind %d", (int)op->kind);
        return -1;
    }
    bool put = !op->has_kind || op->kind == KP__DIRECTORY_OP__KIND__PUT;
    const Kp__DirectoryRecord *r = op->record;
    const char *table;
    switch (r->record_case) {
    case KP__DIRECTORY_RECORD__RECORD_INSTITUTION:
        table = "institution";
        if (s_check_kbo(table, r->institution->kbo, err, errlen))
            return -1;
        if (!put)
            return 0;
        return s_check_text(table, "name", r->institution->name, KP_DIR_MAX_TEXT, err, errlen) ||
               s_check_small(table, "sector", r->institution->has_sector, r->institution->sector,
                             err, errlen) ||
               s_check_small(table, "type", r->institution->has_type, r->institution->type, err,
                             errlen);
    case KP__DIRECTORY_RECORD__RECORD_USER:
        return s_check_user(r->user, put, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION:
        table = "authorization";
        return s_check_small(table, "sector", r->authorization->has_sector,
                             r->authorization->sector, err, errlen) ||
               s_check_small(table, "type", r->authorization->has_type, r->authorization->type, err,
                             errlen) ||
               s_check_small(table, "capacity", r->authorization->has_capacity,
                             r->authorization->capacity, err, errlen) ||
               s_check_ident(table, "message", r->authorization->message, KP_DIR_MAX_MESSAGE, err,
                             errlen);
    case KP__DIRECTORY_RECORD__RECORD_LEGAL:
        return s_check_legal(r->legal, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_AVAILABILITY:
        table = "availability";
        return s_check_ident(table, "message", r->availability->message, KP_DIR_MAX_MESSAGE, err,
                             errlen) ||
               s_check_small(table, "sector", r->availability->has_sector, r->availability->sector,
                             err, errlen) ||
               s_check_small(table, "type", r->availability->has_type, r->availability->type, err,
                             errlen);
    case KP__DIRECTORY_RECORD__RECORD_PERSON:
        return s_check_person(r->person, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_MAINTENANCE:
        return s_check_maintenance(r->maintenance, put, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_KEY:
        return s_check_key(r->key, put, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY:
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_CHANGE:
        if (!put) {
            kp_err(err, errlen, "register entries are never deleted: merge a duplicate instead");
            return -1;
        }
        if (r->record_case == KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY)
            return kp_register_entry_check(r->register_entry, false, err, errlen);
        return kp_register_change_check(r->register_change, err, errlen);
    default:
        kp_err(err, errlen, "record without a table");
        return -1;
    }
}

//  ---------------------------------------------------------------------
//  Open and close

int kp_directory_mkdir(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(buf, &st))
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

//  Whether txn's environment has no table name: one a newer version added.
static bool s_lacks(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    return mdb_dbi_open(txn, name, 0, &dbi) == MDB_NOTFOUND;
}

//  The register's reverse index, built from its entries when the
//  directory (or the copy loaded into it) is of a version before it.
static int s_reindex_register(kp_directory_t *self, MDB_txn *txn, bool lacked)
{
    if (!lacked)
        return 0;
    kp_register_tables_t tables;
    kp_directory_register_tables(self, &tables);
    char err[256];
    return kp_register_reindex(&tables, txn, err, sizeof err) ? MDB_PANIC : 0;
}

static int s_open_tables(kp_directory_t *self, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    unsigned create = self->read_only ? 0 : MDB_CREATE;
    int rc = mdb_txn_begin(self->env, NULL, self->read_only ? MDB_RDONLY : 0, &txn);
    bool lacked = rc == 0 && !self->read_only && s_lacks(txn, "register_replaced");
    for (int i = 0; rc == 0 && i < S_TABLES; i++)
        rc = mdb_dbi_open(txn, s_tables[i].name, create | s_tables[i].flags, &self->dbi[i]);
    if (rc == 0)
        rc = s_reindex_register(self, txn, lacked);
    if (rc == 0 && !self->read_only)
        rc = kp_mutation_reindex_ids(self, txn, NULL);
    if (rc == 0)
        return mdb_txn_commit(txn) ? (kp_err(err, errlen, "cannot create tables"), -1) : 0;
    if (txn)
        mdb_txn_abort(txn);
    kp_err(err, errlen, "cannot open directory tables in %s: %s%s", self->path, mdb_strerror(rc),
           self->read_only && rc == MDB_NOTFOUND
               ? " (a directory of an older version: start its node once to bring it up to date)"
               : "");
    return -1;
}

static int s_env_open(kp_directory_t *self, char *err, size_t errlen)
{
    int rc = mdb_env_create(&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(self->env, S_TABLES);
    if (rc == 0)
        rc = mdb_env_set_mapsize(self->env, (size_t)KP_DIR_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(self->env, KP_DIR_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_open(self->env, self->path,
                          MDB_NOTLS | (self->meta_unsynced ? MDB_NOMETASYNC : 0) |
                              (self->read_only ? MDB_RDONLY : 0),
                          0600);
    if (rc) {
        kp_err(err, errlen, "cannot open directory in %s: %s%s", self->path, mdb_strerror(rc),
               rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
                   ? " (is it an LMDB directory folder?)"
                   : "");
        mdb_env_close(self->env);
        self->env = NULL;
        return -1;
    }
    //  Free reader slots left behind by processes that died.
    int dead;
    mdb_reader_check(self->env, &dead);
    return s_open_tables(self, err, errlen);
}

static kp_directory_t *s_open(const char *path, bool read_only, char *err, size_t errlen)
{
    if (!path || !*path) {
        kp_err(err, errlen, "no directory folder given");
        return NULL;
    }
    if (!read_only && kp_directory_mkdir(path)) {
        kp_err(err, errlen, "cannot create folder %s: %s", path, strerror(errno));
        return NULL;
    }
    kp_directory_t *self = calloc(1, sizeof *self);
    if (!self) {
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    self->read_only = read_only;
    pthread_mutex_init(&self->write_lock, NULL);
    if (s_env_open(self, err, errlen)) {
        kp_directory_destroy(&self);
        return NULL;
    }
    return self;
}

kp_directory_t *kp_directory_new(const char *path, char *err, size_t errlen)
{
    return s_open(path, false, err, errlen);
}

kp_directory_t *kp_directory_open_read_only(const char *path, char *err, size_t errlen)
{
    return s_open(path, true, err, errlen);
}

void kp_directory_destroy(kp_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_directory_t *self = *self_p;
    if (self->env)
        mdb_env_close(self->env);
    pthread_mutex_destroy(&self->write_lock);
    free(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Keys and values

typedef struct {
    unsigned char data[KP_DIR_MAX_KEY];
    size_t size;
} s_buf_t;

static void s_buf_bytes(s_buf_t *b, const void *data, size_t size)
{
    //  Callers have validated lengths, so this always fits.
    if (b->size + size > sizeof b->data)
        size = sizeof b->data - b->size;
    memcpy(b->data + b->size, data, size);
    b->size += size;
}

static void s_buf_str0(s_buf_t *b, const char *text)
{
    s_buf_bytes(b, text, strlen(text) + 1);
}

static void s_buf_16(s_buf_t *b, uint32_t v)
{
    unsigned char p[2];
    kp_be16_put(p, (uint16_t)v);
    s_buf_bytes(b, p, 2);
}

static MDB_val s_val(const s_buf_t *b)
{
    return (MDB_val){.mv_size = b->size, .mv_data = (void *)b->data};
}

static void s_auth_key(s_buf_t *b, uint32_t s, uint32_t t, uint32_t c, const char *message)
{
    b->size = 0;
    s_buf_16(b, s);
    s_buf_16(b, t);
    s_buf_16(b, c);
    s_buf_bytes(b, message, strlen(message));
}

static void s_legal_key(s_buf_t *b, const char *kbo, uint32_t s, uint32_t t, const char *framework,
                        const char *message)
{
    b->size = 0;
    if (kbo) {
        s_buf_bytes(b, "K", 1);
        s_buf_bytes(b, kbo, KP_KBO_LEN);
    } else {
        s_buf_bytes(b, "S", 1);
        s_buf_16(b, s);
        s_buf_16(b, t);
    }
    s_buf_str0(b, framework);
    s_buf_bytes(b, message, strlen(message));
}

static void s_avail_key(s_buf_t *b, const char *message, uint32_t s, uint32_t t)
{
    b->size = 0;
    s_buf_str0(b, message);
    s_buf_16(b, s);
    s_buf_16(b, t);
}

static void s_person_value(unsigned char v[KP_DIR_PERSON_VALUE], uint32_t s, uint32_t t, uint32_t c,
                           const char *kbo, int32_t from, int32_t to)
{
    kp_be16_put(v, (uint16_t)s);
    kp_be16_put(v + 2, (uint16_t)t);
    kp_be16_put(v + 4, (uint16_t)c);
    if (kbo)
        memcpy(v + 6, kbo, KP_KBO_LEN);
    else
        memset(v + 6, 0, KP_KBO_LEN);
    s_put_day(v + 16, from);
    s_put_day(v + 20, to);
}

static void s_person_decode(const unsigned char *v, kp_person_entry_t *e)
{
    e->sector = kp_be16_get(v);
    e->type = kp_be16_get(v + 2);
    e->capacity = kp_be16_get(v + 4);
    memcpy(e->kbo, v + 6, KP_KBO_LEN);
    e->kbo[KP_KBO_LEN] = '\0';
    e->from = s_get_day(v + 16);
    e->to = s_get_day(v + 20);
}

static MDB_val s_str_val(const char *text, size_t len)
{
    return (MDB_val){.mv_size = len, .mv_data = (void *)text};
}

//  ---------------------------------------------------------------------
//  Apply

//  KP_STORAGE_FAILED, not KP_REFUSED: a storage error may leave the
//  transaction half done, where a refusal never does (see kp_directory_writer_apply).
static int s_lmdb_err(int rc, char *err, size_t errlen)
{
    kp_err(err, errlen, "storage error: %s", mdb_strerror(rc));
    return KP_STORAGE_FAILED;
}

//  PUT or DELETE of a key with an empty value (authorization, legal,
//  availability): the key is the whole record.
static int s_put_or_del_key(kp_directory_t *self, MDB_txn *txn, int table, bool put,
                            const s_buf_t *key, const char *what, char *err, size_t errlen)
{
    MDB_val k = s_val(key), v = {0, (void *)""};
    int rc =
        put ? mdb_put(txn, self->dbi[table], &k, &v, 0) : mdb_del(txn, self->dbi[table], &k, NULL);
    if (rc == MDB_NOTFOUND) {
        kp_err(err, errlen, "cannot delete %s: not in the directory", what);
        return -1;
    }
    return rc ? s_lmdb_err(rc, err, errlen) : 0;
}

static int s_apply_institution(kp_directory_t *self, MDB_txn *txn, bool put,
                               const Kp__Institution *r, char *err, size_t errlen)
{
    MDB_val k = s_str_val(r->kbo, KP_KBO_LEN), old;
    int rc = mdb_get(txn, self->dbi[S_INSTITUTION], &k, &old);
    if (rc && rc != MDB_NOTFOUND)
        return s_lmdb_err(rc, err, errlen);
    if (rc == MDB_NOTFOUND && !put) {
        kp_err(err, errlen, "cannot delete institution %s: not in the directory", r->kbo);
        return -1;
    }
    if (rc == 0) {
        //  Unlink the (sector, type) index entry of the old record.
        unsigned char st[4];
        memcpy(st, old.mv_data, 4);
        MDB_val sk = {4, st}, sv = s_str_val(r->kbo, KP_KBO_LEN);
        rc = mdb_del(txn, self->dbi[S_INST_BY_ST], &sk, &sv);
        if (rc && rc != MDB_NOTFOUND)
            return s_lmdb_err(rc, err, errlen);
    }
    if (!put) {
        rc = mdb_del(txn, self->dbi[S_INSTITUTION], &k, NULL);
        return rc ? s_lmdb_err(rc, err, errlen) : 0;
    }
    size_t name_len = strlen(r->name);
    unsigned char value[4 + KP_DIR_MAX_TEXT];
    kp_be16_put(value, (uint16_t)r->sector);
    kp_be16_put(value + 2, (uint16_t)r->type);
    memcpy(value + 4, r->name, name_len);
    MDB_val v = {4 + name_len, value};
    rc = mdb_put(txn, self->dbi[S_INSTITUTION], &k, &v, 0);
    MDB_val sk = {4, value}, sv = s_str_val(r->kbo, KP_KBO_LEN);
    if (rc == 0)
        rc = mdb_put(txn, self->dbi[S_INST_BY_ST], &sk, &sv, MDB_NODUPDATA);
    return rc && rc != MDB_KEYEXIST ? s_lmdb_err(rc, err, errlen) : 0;
}

static int s_apply_user(kp_directory_t *self, MDB_txn *txn, bool put, const Kp__User *r, char *err,
                        size_t errlen)
{
    MDB_val k = s_str_val(r->id, strlen(r->id));
    int rc;
    if (!put) {
        rc = mdb_del(txn, self->dbi[S_USER], &k, NULL);
        if (rc == MDB_NOTFOUND) {
            kp_err(err, errlen, "cannot delete user '%s': not in the directory", r->id);
            return -1;
        }
        return rc ? s_lmdb_err(rc, err, errlen) : 0;
    }
    size_t size = KP_KBO_LEN + 4;
    for (size_t i = 0; i < r->n_messages; i++)
        size += strlen(r->messages[i]) + 1;
    MDB_val v = {size, NULL};
    rc = mdb_put(txn, self->dbi[S_USER], &k, &v, MDB_RESERVE);
    if (rc)
        return s_lmdb_err(rc, err, errlen);
    unsigned char *p = v.mv_data;
    memcpy(p, r->kbo, KP_KBO_LEN);
    kp_be16_put(p + KP_KBO_LEN, (uint16_t)r->sector);
    kp_be16_put(p + KP_KBO_LEN + 2, (uint16_t)r->type);
    p += KP_KBO_LEN + 4;
    for (size_t i = 0; i < r->n_messages; i++) {
        size_t len = strlen(r->messages[i]) + 1;
        memcpy(p, r->messages[i], len);
        p += len;
    }
    return 0;
}

static int s_apply_person(kp_directory_t *self, MDB_txn *txn, bool put, const Kp__PersonEntry *r,
                          char *err, size_t errlen)
{
    int32_t from, to;
    kp_date_parse(r->from, &from);
    kp_date_parse(r->to, &to);
    unsigned char value[KP_DIR_PERSON_VALUE];
    s_person_value(value, r->sector, r->type, r->capacity, r->kbo, from, to);
    MDB_val k = s_str_val(r->insz, KP_INSZ_LEN), v = {sizeof value, value};
    int rc = put ? mdb_put(txn, self->dbi[S_PERSON], &k, &v, MDB_NODUPDATA)
                 : mdb_del(txn, self->dbi[S_PERSON], &k, &v);
    if (rc == MDB_KEYEXIST)
        return 0; //  the same entry again: nothing to replace
    if (rc == MDB_NOTFOUND) {
        kp_err(err, errlen,
               "cannot delete person %s (sector %u, type %u, capacity %u, kbo %s, %s..%s): not in "
               "the directory",
               r->insz, r->sector, r->type, r->capacity, r->kbo, r->from, r->to);
        return -1;
    }
    return rc ? s_lmdb_err(rc, err, errlen) : 0;
}

static uint64_t s_meta_get(kp_directory_t *self, MDB_txn *txn, const char *name)
{
    MDB_val k = s_str_val(name, strlen(name)), v;
    if (mdb_get(txn, self->dbi[S_META], &k, &v) || v.mv_size != 8)
        return 0;
    return kp_be64_get(v.mv_data);
}

static int s_meta_set(kp_directory_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    unsigned char bytes[8];
    kp_be64_put(bytes, value);
    MDB_val k = s_str_val(name, strlen(name)), v = {8, bytes};
    return mdb_put(txn, self->dbi[S_META], &k, &v, 0);
}

static int s_apply_maintenance(kp_directory_t *self, MDB_txn *txn, bool put,
                               const Kp__Maintenance *r, char *err, size_t errlen)
{
    uint64_t id = r->has_id ? r->id : 0;
    uint64_t last = s_meta_get(self, txn, "maintenance.last");
    unsigned char key[8];
    int rc;
    if (!put) {
        kp_be64_put(key, id);
        MDB_val k = {8, key};
        rc = mdb_del(txn, self->dbi[S_MAINTENANCE], &k, NULL);
        if (rc == MDB_NOTFOUND) {
            kp_err(err, errlen,
                   "cannot delete maintenance window %" PRIu64 ": not in the directory", id);
            return -1;
        }
        return rc ? s_lmdb_err(rc, err, errlen) : 0;
    }
    if (id == 0)
        id = last + 1;
    if (id > last && (rc = s_meta_set(self, txn, "maintenance.last", id)))
        return s_lmdb_err(rc, err, errlen);
    int64_t from, to;
    kp_time_parse(r->from, &from);
    kp_time_parse(r->to, &to);
    const char *message = r->message ? r->message : "";
    size_t mlen = strlen(message) + 1, rlen = strlen(r->reason) + 1;
    unsigned char value[KP_KBO_LEN + 16 + KP_DIR_MAX_MESSAGE + 1 + KP_DIR_MAX_TEXT + 1];
    memcpy(value, r->kbo, KP_KBO_LEN);
    kp_be64_put(value + KP_KBO_LEN, (uint64_t)from ^ (1ULL << 63));
    kp_be64_put(value + KP_KBO_LEN + 8, (uint64_t)to ^ (1ULL << 63));
    memcpy(value + KP_KBO_LEN + 16, message, mlen);
    memcpy(value + KP_KBO_LEN + 16 + mlen, r->reason, rlen);
    kp_be64_put(key, id);
    MDB_val k = {8, key}, v = {KP_KBO_LEN + 16 + mlen + rlen, value};
    rc = mdb_put(txn, self->dbi[S_MAINTENANCE], &k, &v, 0);
    return rc ? s_lmdb_err(rc, err, errlen) : 0;
}

//  key: Z85 public key -> kind (1 byte), from, to (biased days), identity.
static int s_apply_key(kp_directory_t *self, MDB_txn *txn, bool put, const Kp__Key *r, char *err,
                       size_t errlen)
{
    MDB_val k = s_str_val(r->public_key, KP_KEY_Z85_LEN);
    int rc;
    if (!put) {
        rc = mdb_del(txn, self->dbi[S_KEY], &k, NULL);
        if (rc == MDB_NOTFOUND) {
            kp_err(err, errlen, "cannot delete key %s: not in the directory", r->public_key);
            return -1;
        }
        return rc ? s_lmdb_err(rc, err, errlen) : 0;
    }
    int32_t from, to = INT32_MAX;
    kp_date_parse(r->from, &from);
    if (r->to)
        kp_date_parse(r->to, &to);
    size_t ilen = strlen(r->identity);
    unsigned char value[9 + KP_DIR_MAX_ID];
    value[0] = (unsigned char)kp_key_kind_from_name(r->kind);
    s_put_day(value + 1, from);
    s_put_day(value + 5, to);
    memcpy(value + 9, r->identity, ilen);
    MDB_val v = {9 + ilen, value};
    rc = mdb_put(txn, self->dbi[S_KEY], &k, &v, 0);
    return rc ? s_lmdb_err(rc, err, errlen) : 0;
}

//  Validates op and applies it in txn. 0; -1 refused (nothing written,
//  the reason in err); KP_STORAGE_FAILED when LMDB failed (the transaction may be half
//  done: abort it).
static int s_apply_op(kp_directory_t *self, MDB_txn *txn, const Kp__DirectoryOp *op, char *err,
                      size_t errlen)
{
    if (kp_directory_op_check(op, err, errlen))
        return -1;
    bool put = !op->has_kind || op->kind == KP__DIRECTORY_OP__KIND__PUT;
    const Kp__DirectoryRecord *r = op->record;
    s_buf_t key;
    char what[KP_DIR_MAX_KEY + 64];
    switch (r->record_case) {
    case KP__DIRECTORY_RECORD__RECORD_INSTITUTION:
        return s_apply_institution(self, txn, put, r->institution, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_USER:
        return s_apply_user(self, txn, put, r->user, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION: {
        const Kp__Authorization *a = r->authorization;
        s_auth_key(&key, a->sector, a->type, a->capacity, a->message);
        snprintf(what, sizeof what, "authorization (sector %u, type %u, capacity %u, message %s)",
                 a->sector, a->type, a->capacity, a->message);
        return s_put_or_del_key(self, txn, S_AUTHORIZATION, put, &key, what, err, errlen);
    }
    case KP__DIRECTORY_RECORD__RECORD_LEGAL: {
        const Kp__LegalAuthorization *l = r->legal;
        s_legal_key(&key, l->kbo, l->sector, l->type, l->framework, l->message);
        if (l->kbo)
            snprintf(what, sizeof what, "legal (kbo %s, framework %s, message %s)", l->kbo,
                     l->framework, l->message);
        else
            snprintf(what, sizeof what, "legal (sector %u, type %u, framework %s, message %s)",
                     l->sector, l->type, l->framework, l->message);
        return s_put_or_del_key(self, txn, S_LEGAL, put, &key, what, err, errlen);
    }
    case KP__DIRECTORY_RECORD__RECORD_AVAILABILITY: {
        const Kp__Availability *a = r->availability;
        s_avail_key(&key, a->message, a->sector, a->type);
        snprintf(what, sizeof what, "availability (message %s, sector %u, type %u)", a->message,
                 a->sector, a->type);
        return s_put_or_del_key(self, txn, S_AVAILABILITY, put, &key, what, err, errlen);
    }
    case KP__DIRECTORY_RECORD__RECORD_PERSON:
        return s_apply_person(self, txn, put, r->person, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_MAINTENANCE:
        return s_apply_maintenance(self, txn, put, r->maintenance, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_KEY:
        return s_apply_key(self, txn, put, r->key, err, errlen);
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY:
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_CHANGE: {
        kp_register_tables_t tables;
        kp_directory_register_tables(self, &tables);
        if (r->record_case == KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY)
            return kp_register_apply_put(&tables, txn, &self->register_hooks, r->register_entry,
                                         err, errlen);
        return kp_register_apply_change(&tables, txn, &self->register_hooks, r->register_change,
                                        err, errlen);
    }
    default:
        kp_err(err, errlen, "record without a table");
        return -1;
    }
}

//  Ranks of the tables in kp_directory_op_order: one byte before the key.
enum {
    S_ORDER_INSTITUTION = 1,
    S_ORDER_USER,
    S_ORDER_AUTHORIZATION,
    S_ORDER_LEGAL,
    S_ORDER_AVAILABILITY,
    S_ORDER_PERSON,
    S_ORDER_KEY,
    S_ORDER_MAINTENANCE, //  file order (no key: see directory.h)
    S_ORDER_REGISTER,    //  file order
    S_ORDER_OTHER,       //  file order
};

static size_t s_order_bytes(unsigned char *out, unsigned rank, const void *key, size_t size)
{
    out[0] = (unsigned char)rank;
    if (size > KP_DIR_ORDER_MAX - 1)
        size = KP_DIR_ORDER_MAX - 1; //  checked records never get here
    memcpy(out + 1, key, size);
    return 1 + size;
}

size_t kp_directory_op_order(const Kp__DirectoryOp *op, unsigned char *out)
{
    const Kp__DirectoryRecord *r = op->record;
    s_buf_t key = {.size = 0};
    switch (r ? r->record_case : KP__DIRECTORY_RECORD__RECORD__NOT_SET) {
    case KP__DIRECTORY_RECORD__RECORD_INSTITUTION:
        return s_order_bytes(out, S_ORDER_INSTITUTION, r->institution->kbo,
                             strlen(r->institution->kbo));
    case KP__DIRECTORY_RECORD__RECORD_USER:
        return s_order_bytes(out, S_ORDER_USER, r->user->id, strlen(r->user->id));
    case KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION: {
        const Kp__Authorization *a = r->authorization;
        s_auth_key(&key, a->sector, a->type, a->capacity, a->message);
        return s_order_bytes(out, S_ORDER_AUTHORIZATION, key.data, key.size);
    }
    case KP__DIRECTORY_RECORD__RECORD_LEGAL: {
        const Kp__LegalAuthorization *l = r->legal;
        s_legal_key(&key, l->kbo, l->sector, l->type, l->framework, l->message);
        return s_order_bytes(out, S_ORDER_LEGAL, key.data, key.size);
    }
    case KP__DIRECTORY_RECORD__RECORD_AVAILABILITY: {
        const Kp__Availability *a = r->availability;
        s_avail_key(&key, a->message, a->sector, a->type);
        return s_order_bytes(out, S_ORDER_AVAILABILITY, key.data, key.size);
    }
    case KP__DIRECTORY_RECORD__RECORD_PERSON: {
        //  The table's key and its value: the order of the person table.
        const Kp__PersonEntry *p = r->person;
        int32_t from = 0, to = 0;
        kp_date_parse(p->from, &from);
        kp_date_parse(p->to, &to);
        s_buf_bytes(&key, p->insz, strlen(p->insz));
        s_person_value(key.data + key.size, p->sector, p->type, p->capacity, p->kbo, from, to);
        key.size += KP_DIR_PERSON_VALUE;
        return s_order_bytes(out, S_ORDER_PERSON, key.data, key.size);
    }
    case KP__DIRECTORY_RECORD__RECORD_KEY:
        return s_order_bytes(out, S_ORDER_KEY, r->key->public_key, strlen(r->key->public_key));
    case KP__DIRECTORY_RECORD__RECORD_MAINTENANCE:
        return s_order_bytes(out, S_ORDER_MAINTENANCE, "", 0);
    case KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY:
        return s_order_bytes(out, S_ORDER_REGISTER, "", 0);
    default:
        return s_order_bytes(out, S_ORDER_OTHER, "", 0);
    }
}

struct _kp_directory_writer_t {
    kp_directory_t *dir;
    MDB_txn *txn;
    size_t count;
    bool failed;         //  a storage error: the transaction is unusable
    uint64_t raft_index; //  recorded at commit when not 0 (s_apply)
    bool nested;         //  a child of the directory's batch: no lock of its own
    void *map;           //  LMDB's map of the file, for s_writer_release
    size_t map_len;
    uint64_t mark; //  recorded as "stage.mark" at commit when not 0
    //  kp_directory_writer_sorted: person puts past the table's end are
    //  appended through cursor; last is the greatest entry appended so far.
    bool sorted, appended;
    MDB_cursor *cursor;
    unsigned char last[KP_INSZ_LEN + KP_DIR_PERSON_VALUE];
};

//  Ops between two releases of the map's pages (see s_writer_release).
#define S_RELEASE_EVERY (1u << 12)

//  Where LMDB mapped our data.mdb: LMDB does not say (mdb_env_info gives
//  an address only for MDB_FIXEDMAP), the kernel does. 0 if found.
static int s_map_find(kp_directory_t *dir, void **addr, size_t *len)
{
    char real[PATH_MAX], want[PATH_MAX + 16], line[PATH_MAX + 128];
    if (!realpath(dir->path, real))
        return -1;
    snprintf(want, sizeof want, "%s/data.mdb", real);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return -1;
    int rc = -1;
    while (rc && fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        int path_at = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &path_at) == 2 && path_at &&
            !strcmp(line + path_at, want)) {
            *addr = (void *)start;
            *len = end - start;
            rc = 0;
        }
    }
    fclose(maps);
    return rc;
}

//  A transaction bigger than LMDB's dirty-page limit (131071 pages, 512
//  MiB) spills pages to the file and reads them back through the map; so
//  does every descent into a tree that has outgrown that. Left alone,
//  those mapped pages make the importer's resident set as big as the
//  file. They are clean (the map is read-only: LMDB writes with pwrite),
//  so dropping them from our page tables loses nothing: they stay in the
//  page cache, and a later touch maps them again. Only big transactions
//  get here, so the map is looked up lazily.
static void s_writer_release(kp_directory_writer_t *self)
{
    if (!self->map_len && s_map_find(self->dir, &self->map, &self->map_len))
        return; //  then the resident set grows; nothing breaks
    madvise(self->map, self->map_len, MADV_DONTNEED);
}

//  Before the writer's transaction ends (a cursor of a write transaction
//  must not outlive it).
static void s_writer_cursor_close(kp_directory_writer_t *self)
{
    if (self->cursor)
        mdb_cursor_close(self->cursor);
    self->cursor = NULL;
}

kp_directory_writer_t *kp_directory_writer_new(kp_directory_t *dir, char *err, size_t errlen)
{
    assert(dir);
    kp_directory_writer_t *self = calloc(1, sizeof *self);
    if (!self) {
        kp_err(err, errlen, "out of memory");
        return NULL;
    }
    self->dir = dir;
    self->nested = dir->batch != NULL;
    if (!self->nested)
        pthread_mutex_lock(&dir->write_lock);
    int rc = mdb_txn_begin(dir->env, dir->batch, 0, &self->txn);
    if (rc) {
        if (!self->nested)
            pthread_mutex_unlock(&dir->write_lock);
        free(self);
        kp_err(err, errlen, "cannot begin write transaction: %s", mdb_strerror(rc));
        return NULL;
    }
    return self;
}

void kp_directory_writer_destroy(kp_directory_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_directory_writer_t *self = *self_p;
    s_writer_cursor_close(self);
    if (self->txn) {
        mdb_txn_abort(self->txn);
        if (!self->nested)
            pthread_mutex_unlock(&self->dir->write_lock);
    }
    free(self);
    *self_p = NULL;
}

//  Every refusal in s_apply_op happens before its first write (checks,
//  lookups, a put or delete that LMDB refuses whole), so a refused op
//  leaves the transaction untouched. An LMDB error other than "not found"
//  or "exists" may leave it half done: that one ends the writer.
//  What s_append_person returns for an op it leaves to s_apply_op.
#define S_NOT_APPENDED 1

//  A person PUT in a sorted writer, past the end of the person table:
//  appended (MDB_APPEND, or MDB_APPENDDUP after the last entry of the
//  same person), with no descent from the root, and the pages it fills
//  are left full instead of split in half. Entries arrive in the table's
//  order (kp_directory_op_order), so after the first one past the end,
//  every new entry is. Anything else: S_NOT_APPENDED.
static int s_append_person(kp_directory_writer_t *self, const Kp__DirectoryOp *op, char *err,
                           size_t errlen)
{
    const Kp__DirectoryRecord *r = op->record;
    bool put = !op->has_kind || op->kind == KP__DIRECTORY_OP__KIND__PUT;
    if (!put || !r || r->record_case != KP__DIRECTORY_RECORD__RECORD_PERSON)
        return S_NOT_APPENDED;
    if (kp_directory_op_check(op, err, errlen))
        return -1;
    const Kp__PersonEntry *p = r->person;
    unsigned char entry[KP_INSZ_LEN + KP_DIR_PERSON_VALUE];
    int32_t from, to;
    kp_date_parse(p->from, &from);
    kp_date_parse(p->to, &to);
    memcpy(entry, p->insz, KP_INSZ_LEN);
    s_person_value(entry + KP_INSZ_LEN, p->sector, p->type, p->capacity, p->kbo, from, to);
    int person = self->appended ? memcmp(entry, self->last, KP_INSZ_LEN) : 1;
    unsigned flags = person > 0 ? MDB_APPEND : MDB_APPENDDUP;
    if (person < 0 || (person == 0 && memcmp(entry + KP_INSZ_LEN, self->last + KP_INSZ_LEN,
                                             KP_DIR_PERSON_VALUE) <= 0))
        return S_NOT_APPENDED;
    int rc = self->cursor ? 0 : mdb_cursor_open(self->txn, self->dir->dbi[S_PERSON], &self->cursor);
    MDB_val k = {KP_INSZ_LEN, entry}, v = {KP_DIR_PERSON_VALUE, entry + KP_INSZ_LEN};
    if (rc == 0)
        rc = mdb_cursor_put(self->cursor, &k, &v, flags);
    if (rc == MDB_KEYEXIST)
        return S_NOT_APPENDED; //  the table goes on past it (what was there before)
    if (rc)
        return s_lmdb_err(rc, err, errlen);
    memcpy(self->last, entry, sizeof entry);
    self->appended = true;
    return 0;
}

void kp_directory_writer_sorted(kp_directory_writer_t *self)
{
    assert(self && !self->nested);
    self->sorted = true;
}

int kp_directory_writer_apply(kp_directory_writer_t *self, const Kp__DirectoryOp *op, char *err,
                              size_t errlen)
{
    assert(self && self->txn);
    if (self->failed) {
        kp_err(err, errlen, "the update failed earlier; nothing more can be applied");
        return -1;
    }
    int rc = self->sorted ? s_append_person(self, op, err, errlen) : S_NOT_APPENDED;
    if (rc == S_NOT_APPENDED)
        rc = s_apply_op(self->dir, self->txn, op, err, errlen);
    if (rc == 0 && ++self->count % S_RELEASE_EVERY == 0)
        s_writer_release(self);
    else if (rc == KP_STORAGE_FAILED)
        self->failed = true;
    return rc == 0 ? 0 : rc == KP_STORAGE_FAILED ? -1 : 1;
}

size_t kp_directory_writer_count(const kp_directory_writer_t *self)
{
    return self->count;
}

int kp_directory_writer_commit(kp_directory_writer_t **self_p, uint64_t *seq_p, char *err,
                               size_t errlen)
{
    kp_directory_writer_t *self = *self_p;
    assert(self && self->txn);
    int rc = MDB_BAD_TXN;
    uint64_t seq = 0;
    if (!self->failed) {
        seq = s_meta_get(self->dir, self->txn, "seq") + 1;
        rc = s_meta_set(self->dir, self->txn, "seq", seq);
        if (rc == 0 && self->raft_index)
            rc = s_meta_set(self->dir, self->txn, "raft.applied", self->raft_index);
        if (rc == 0 && self->mark)
            rc = s_meta_set(self->dir, self->txn, "stage.mark", self->mark);
        if (rc == 0) {
            s_writer_cursor_close(self);
            rc = mdb_txn_commit(self->txn);
            self->txn = NULL; //  committed or freed by LMDB either way
            if (!self->nested)
                pthread_mutex_unlock(&self->dir->write_lock);
        }
    }
    kp_directory_writer_destroy(self_p);
    if (rc) {
        kp_err(err, errlen, "cannot commit update: %s", mdb_strerror(rc));
        return -1;
    }
    if (seq_p)
        *seq_p = seq;
    return 0;
}

void kp_directory_writer_mark(kp_directory_writer_t *self, uint64_t mark)
{
    self->mark = mark;
}

int kp_directory_writer_checkpoint(kp_directory_writer_t *self, uint64_t mark, char *err,
                                   size_t errlen)
{
    assert(self && self->txn && !self->nested);
    int rc = self->failed ? MDB_BAD_TXN : s_meta_set(self->dir, self->txn, "stage.mark", mark);
    if (rc == 0) {
        s_writer_cursor_close(self);
        rc = mdb_txn_commit(self->txn);
        self->txn = NULL;
        if (rc == 0)
            rc = mdb_txn_begin(self->dir->env, NULL, 0, &self->txn);
        if (rc) {
            self->txn = NULL; //  nothing left for destroy to end: the lock goes here
            pthread_mutex_unlock(&self->dir->write_lock);
        }
    }
    if (rc) {
        self->failed = true;
        kp_err(err, errlen, "cannot commit a part of the import: %s", mdb_strerror(rc));
        return -1;
    }
    s_writer_release(self); //  the committed pages are clean now
    return 0;
}

uint64_t kp_directory_stage_mark(kp_directory_t *self)
{
    MDB_txn *txn;
    if (mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    uint64_t mark = s_meta_get(self, txn, "stage.mark");
    mdb_txn_abort(txn);
    return mark;
}

static int s_count_other(const char *msg, void *arg)
{
    int *count = arg;
    long pid;
    if (sscanf(msg, " %ld", &pid) == 1 && pid != (long)getpid())
        (*count)++;
    return 0;
}

int kp_directory_other_readers(kp_directory_t *self)
{
    int dead, count = 0;
    if (mdb_reader_check(self->env, &dead) || mdb_reader_list(self->env, s_count_other, &count) < 0)
        return -1;
    return count;
}

//  Imports' batches (DirectoryUpdate.import_id, .batch) in the meta
//  table: key "import" NUL id, value the last batch applied of that
//  import and the sequence it was applied at (big-endian u64 each). One
//  small record per run of kpctl, kept (a few MB after years of hourly
//  imports), so that a batch sent again however late is recognised.
#define S_IMPORT_ID_MAX 32
#define S_IMPORT_PREFIX "import"

static bool s_import_key(const Kp__DirectoryUpdate *update, unsigned char *key, MDB_val *k)
{
    if (!update->has_import_id || !update->import_id.len ||
        update->import_id.len > S_IMPORT_ID_MAX || !update->has_batch)
        return false;
    memcpy(key, S_IMPORT_PREFIX, sizeof S_IMPORT_PREFIX); //  its NUL too
    memcpy(key + sizeof S_IMPORT_PREFIX, update->import_id.data, update->import_id.len);
    *k = (MDB_val){sizeof S_IMPORT_PREFIX + update->import_id.len, key};
    return true;
}

//  1 (and *seq_p the sequence it was applied at) when update is a batch
//  its import has applied already, else 0.
static int s_import_seen(kp_directory_t *self, MDB_txn *txn, const Kp__DirectoryUpdate *update,
                         uint64_t *seq_p)
{
    unsigned char key[sizeof S_IMPORT_PREFIX + S_IMPORT_ID_MAX];
    MDB_val k, v;
    if (!s_import_key(update, key, &k) || mdb_get(txn, self->dbi[S_META], &k, &v) ||
        v.mv_size != 16 || kp_be64_get(v.mv_data) < update->batch)
        return 0;
    if (seq_p)
        *seq_p = kp_be64_get((const unsigned char *)v.mv_data + 8);
    return 1;
}

//  Records update's batch as its import's last, applied at seq.
static int s_import_note(kp_directory_t *self, MDB_txn *txn, const Kp__DirectoryUpdate *update,
                         uint64_t seq)
{
    unsigned char key[sizeof S_IMPORT_PREFIX + S_IMPORT_ID_MAX], value[16];
    MDB_val k, v = {sizeof value, value};
    if (!s_import_key(update, key, &k))
        return 0;
    kp_be64_put(value, update->batch);
    kp_be64_put(value + 8, seq);
    return mdb_put(txn, self->dbi[S_META], &k, &v, 0);
}

//  Applies update in one write transaction. index 0: no raft index (an
//  offline import). Otherwise the update is the raft entry index: skipped
//  (returns 1) if the directory has applied it or a later one, and the
//  index is recorded in the same transaction as the update.
static int s_apply(kp_directory_t *self, const Kp__DirectoryUpdate *update, uint64_t index,
                   uint64_t *seq_p, char *err, size_t errlen)
{
    assert(self);
    if (!update) {
        kp_err(err, errlen, "no update");
        return -1;
    }
    kp_directory_writer_t *writer = kp_directory_writer_new(self, err, errlen);
    if (!writer)
        return KP_STORAGE_FAILED;
    if (index && s_meta_get(self, writer->txn, "raft.applied") >= index) {
        if (seq_p)
            *seq_p = s_meta_get(self, writer->txn, "seq");
        kp_directory_writer_destroy(&writer);
        return 1;
    }
    if (s_import_seen(self, writer->txn, update, seq_p)) {
        kp_directory_writer_destroy(&writer);
        return 2;
    }
    writer->raft_index = index;
    char reason[512];
    for (size_t i = 0; i < update->n_ops; i++) {
        int rc = kp_directory_writer_apply(writer, update->ops[i], reason, sizeof reason);
        if (rc) {
            kp_directory_writer_destroy(&writer);
            kp_err(err, errlen, "op %zu: %s", i + 1, reason);
            return rc < 0 ? KP_STORAGE_FAILED : KP_REFUSED;
        }
    }
    int rc = kp_mutation_apply(self, writer->txn, update, err, errlen);
    if (rc) {
        kp_directory_writer_destroy(&writer);
        return rc;
    }
    rc = s_import_note(self, writer->txn, update, s_meta_get(self, writer->txn, "seq") + 1);
    if (rc) {
        kp_directory_writer_destroy(&writer);
        return s_lmdb_err(rc, err, errlen);
    }
    return kp_directory_writer_commit(&writer, seq_p, err, errlen) ? KP_STORAGE_FAILED : 0;
}

void kp_directory_replicated(kp_directory_t *self)
{
    self->meta_unsynced = true;
    mdb_env_set_flags(self->env, MDB_NOMETASYNC, 1);
}

int kp_directory_batch_begin(kp_directory_t *self, char *err, size_t errlen)
{
    assert(!self->batch);
    pthread_mutex_lock(&self->write_lock);
    int rc = mdb_txn_begin(self->env, NULL, 0, &self->batch);
    if (rc) {
        self->batch = NULL;
        pthread_mutex_unlock(&self->write_lock);
        kp_err(err, errlen, "cannot begin write transaction: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

bool kp_directory_batch_open(kp_directory_t *self)
{
    return self->batch != NULL;
}

int kp_directory_batch_commit(kp_directory_t *self, char *err, size_t errlen)
{
    if (!self->batch)
        return 0;
    int rc = mdb_txn_commit(self->batch);
    self->batch = NULL;
    pthread_mutex_unlock(&self->write_lock);
    if (rc) {
        kp_err(err, errlen, "cannot commit the batch of updates: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

int kp_directory_apply(kp_directory_t *self, const Kp__DirectoryUpdate *update, uint64_t *seq_p,
                       char *err, size_t errlen)
{
    return s_apply(self, update, 0, seq_p, err, errlen) < 0 ? -1 : 0;
}

int kp_directory_apply_at(kp_directory_t *self, const Kp__DirectoryUpdate *update, uint64_t index,
                          uint64_t *seq_p, char *err, size_t errlen)
{
    assert(index > 0);
    return s_apply(self, update, index, seq_p, err, errlen);
}

MDB_dbi kp_directory_mutation_table(kp_directory_t *self, kp_dir_mut_table_t table)
{
    assert(table >= KP_DIR_MUT_QUEUE && table <= KP_DIR_MUT_ID_TIME);
    return self->dbi[S_MUT_QUEUE + (int)table];
}

uint64_t kp_directory_applied(kp_directory_t *self, MDB_txn *txn)
{
    MDB_txn *own = NULL;
    if (!txn && mdb_txn_begin(self->env, NULL, MDB_RDONLY, &own))
        return 0;
    uint64_t index = s_meta_get(self, txn ? txn : own, "raft.applied");
    if (own)
        mdb_txn_abort(own);
    return index;
}

int kp_directory_file_applied(const char *file, uint64_t *applied, uint64_t *seq, char *err,
                              size_t errlen)
{
    MDB_env *env;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, S_TABLES);
    if (rc == 0)
        rc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == 0) {
        kp_directory_t view = {.env = env};
        view.dbi[S_META] = meta;
        *applied = s_meta_get(&view, txn, "raft.applied");
        *seq = s_meta_get(&view, txn, "seq");
    }
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (rc)
        kp_err(err, errlen, "%s is not a directory copy: %s", file, mdb_strerror(rc));
    return rc ? -1 : 0;
}

int kp_directory_copy(kp_directory_t *self, int fd, char *err, size_t errlen)
{
    int rc = mdb_env_copyfd2(self->env, fd, MDB_CP_COMPACT);
    if (rc) {
        kp_err(err, errlen, "cannot copy the directory: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

//  Copies file to path (created 0600), fsynced. 0, or -1 with errno set.
static int s_copy_file(const char *file, const char *path)
{
    int in = open(file, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    size_t size = 1 << 20;
    char *buf = malloc(size);
    ssize_t got;
    int rc = buf ? 0 : -1;
    while (rc == 0 && (got = read(in, buf, size)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        for (ssize_t done = 0; got > 0 && done < got;) {
            ssize_t put = write(out, buf + done, (size_t)(got - done));
            if (put < 0 && errno != EINTR) {
                rc = -1;
                break;
            }
            done += put > 0 ? put : 0;
        }
        if (got < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = fsync(out);
    int saved = errno;
    free(buf);
    close(in);
    close(out);
    errno = saved;
    return rc;
}

//  Copies table i of the source transaction into the (emptied) table of
//  the destination, in key order: appends only.
static int s_load_table(kp_directory_t *self, MDB_txn *dst, MDB_txn *src, int i)
{
    MDB_dbi from;
    int rc = mdb_dbi_open(src, s_tables[i].name, 0, &from);
    if (rc == MDB_NOTFOUND)
        return mdb_drop(dst, self->dbi[i], 0); //  a copy from before this table
    if (rc == 0)
        rc = mdb_drop(dst, self->dbi[i], 0);
    MDB_cursor *cursor = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(src, from, &cursor);
    MDB_val k, v;
    unsigned flags = (s_tables[i].flags & MDB_DUPSORT) ? MDB_APPENDDUP : MDB_APPEND;
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0; op = MDB_NEXT)
        rc = mdb_put(dst, self->dbi[i], &k, &v, flags);
    if (cursor)
        mdb_cursor_close(cursor);
    return rc;
}

int kp_directory_load(kp_directory_t *self, const char *file, char *err, size_t errlen)
{
    assert(!self->batch);
    MDB_env *env;
    MDB_txn *src = NULL, *dst = NULL;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, S_TABLES);
    if (rc == 0)
        rc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &src);
    if (rc) {
        kp_err(err, errlen, "%s is not a directory copy: %s", file, mdb_strerror(rc));
        if (src)
            mdb_txn_abort(src);
        mdb_env_close(env);
        return -1;
    }
    pthread_mutex_lock(&self->write_lock);
    rc = mdb_txn_begin(self->env, NULL, 0, &dst);
    for (int i = 0; rc == 0 && i < S_TABLES; i++)
        rc = s_load_table(self, dst, src, i);
    if (rc == 0)
        rc = s_reindex_register(self, dst, s_lacks(src, "register_replaced"));
    if (rc == 0)
        rc = kp_mutation_reindex_ids(self, dst, NULL);
    if (rc == 0)
        rc = mdb_txn_commit(dst);
    else if (dst)
        mdb_txn_abort(dst);
    if (rc == 0 && self->meta_unsynced)
        rc = mdb_env_sync(self->env, 1);
    pthread_mutex_unlock(&self->write_lock);
    mdb_txn_abort(src);
    mdb_env_close(env);
    if (rc) {
        kp_err(err, errlen, "cannot load %s into the directory: %s", file, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

int kp_directory_replace(kp_directory_t *self, const char *file, char *err, size_t errlen)
{
    assert(!self->batch);
    char aside[PATH_MAX + 16], data[PATH_MAX + 16];
    snprintf(aside, sizeof aside, "%s/data.mdb.new", self->path);
    snprintf(data, sizeof data, "%s/data.mdb", self->path);
    if (s_copy_file(file, aside)) {
        kp_err(err, errlen, "cannot copy %s to %s: %s", file, aside, strerror(errno));
        unlink(aside);
        return -1;
    }
    pthread_mutex_lock(&self->write_lock);
    mdb_env_close(self->env);
    self->env = NULL;
    int rc = rename(aside, data);
    int saved = errno;
    int dir = open(self->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    //  Reopen whatever is there now: the new file, or the old one if the
    //  rename failed, so that the directory stays usable either way.
    int reopened = s_env_open(self, err, errlen);
    pthread_mutex_unlock(&self->write_lock);
    if (rc) {
        kp_err(err, errlen, "cannot rename %s to %s: %s", aside, data, strerror(saved));
        return -1;
    }
    return reopened;
}

//  ---------------------------------------------------------------------
//  Read transactions

MDB_txn *kp_directory_read_begin(kp_directory_t *self, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        kp_err(err, errlen, "cannot begin read transaction: %s", mdb_strerror(rc));
        return NULL;
    }
    return txn;
}

int kp_directory_read_renew(MDB_txn *txn)
{
    return mdb_txn_renew(txn) ? -1 : 0;
}

void kp_directory_read_reset(MDB_txn *txn)
{
    mdb_txn_reset(txn);
}

void kp_directory_read_end(MDB_txn **txn_p)
{
    if (txn_p && *txn_p) {
        mdb_txn_abort(*txn_p);
        *txn_p = NULL;
    }
}

uint64_t kp_directory_seq(kp_directory_t *self, MDB_txn *txn)
{
    MDB_txn *own = NULL;
    if (!txn && mdb_txn_begin(self->env, NULL, MDB_RDONLY, &own))
        return 0;
    uint64_t seq = s_meta_get(self, txn ? txn : own, "seq");
    if (own)
        mdb_txn_abort(own);
    return seq;
}

//  ---------------------------------------------------------------------
//  Lookups

int kp_directory_user(kp_directory_t *self, MDB_txn *txn, const char *id, kp_user_view_t *out)
{
    if (!id || !*id)
        return -1;
    MDB_val k = s_str_val(id, strlen(id)), v;
    if (k.mv_size > KP_DIR_MAX_ID || mdb_get(txn, self->dbi[S_USER], &k, &v) ||
        v.mv_size < KP_KBO_LEN + 4)
        return -1;
    const unsigned char *p = v.mv_data;
    memcpy(out->kbo, p, KP_KBO_LEN);
    out->kbo[KP_KBO_LEN] = '\0';
    out->sector = kp_be16_get(p + KP_KBO_LEN);
    out->type = kp_be16_get(p + KP_KBO_LEN + 2);
    out->messages = (const char *)p + KP_KBO_LEN + 4;
    out->messages_size = v.mv_size - KP_KBO_LEN - 4;
    return 0;
}

int kp_directory_institution(kp_directory_t *self, MDB_txn *txn, const char *kbo,
                             kp_institution_view_t *out)
{
    MDB_val k, v;
    if (!kbo || strnlen(kbo, KP_KBO_LEN + 1) != KP_KBO_LEN)
        return -1;
    k = s_str_val(kbo, KP_KBO_LEN);
    if (mdb_get(txn, self->dbi[S_INSTITUTION], &k, &v) || v.mv_size < 4)
        return -1;
    out->sector = kp_be16_get(v.mv_data);
    out->type = kp_be16_get((unsigned char *)v.mv_data + 2);
    out->name = (const char *)v.mv_data + 4;
    out->name_len = v.mv_size - 4;
    return 0;
}

static int s_key_view(const MDB_val *v, kp_key_view_t *out)
{
    if (v->mv_size < 10 || v->mv_size > 9 + KP_DIR_MAX_ID)
        return -1;
    const unsigned char *p = v->mv_data;
    out->kind = (kp_key_kind_t)p[0];
    out->from = s_get_day(p + 1);
    out->to = s_get_day(p + 5);
    memcpy(out->identity, p + 9, v->mv_size - 9);
    out->identity[v->mv_size - 9] = '\0';
    return 0;
}

int kp_directory_key(kp_directory_t *self, MDB_txn *txn, const char *public_key, kp_key_view_t *out)
{
    if (!public_key || strnlen(public_key, KP_KEY_Z85_LEN + 1) != KP_KEY_Z85_LEN)
        return -1;
    MDB_val k = s_str_val(public_key, KP_KEY_Z85_LEN), v;
    if (mdb_get(txn, self->dbi[S_KEY], &k, &v))
        return -1;
    return s_key_view(&v, out);
}

bool kp_key_valid_on(const kp_key_view_t *key, int32_t day)
{
    return key->from <= day && day <= key->to;
}

bool kp_user_may_send(const kp_user_view_t *user, const char *message)
{
    size_t len = strlen(message);
    const char *p = user->messages, *end = user->messages + user->messages_size;
    while (p < end) {
        size_t here = strnlen(p, (size_t)(end - p));
        if (here == len && !memcmp(p, message, len))
            return true;
        p += here + 1;
    }
    return false;
}

static bool s_exists(kp_directory_t *self, MDB_txn *txn, int table, const s_buf_t *key)
{
    MDB_val k = s_val(key), v;
    return mdb_get(txn, self->dbi[table], &k, &v) == 0;
}

bool kp_directory_authorized(kp_directory_t *self, MDB_txn *txn, uint32_t sector, uint32_t type,
                             uint32_t capacity, const char *message)
{
    if (sector > KP_DIR_MAX_CODE || type > KP_DIR_MAX_CODE || capacity > KP_DIR_MAX_CODE ||
        !message || !s_ident_valid(message, KP_DIR_MAX_MESSAGE))
        return false;
    s_buf_t key;
    s_auth_key(&key, sector, type, capacity, message);
    return s_exists(self, txn, S_AUTHORIZATION, &key);
}

bool kp_directory_legal(kp_directory_t *self, MDB_txn *txn, const char *kbo, uint32_t sector,
                        uint32_t type, const char *framework, const char *message)
{
    if (!framework || !message || !s_ident_valid(framework, KP_DIR_MAX_FRAMEWORK) ||
        !s_ident_valid(message, KP_DIR_MAX_MESSAGE))
        return false;
    if (kbo ? strlen(kbo) != KP_KBO_LEN : sector > KP_DIR_MAX_CODE || type > KP_DIR_MAX_CODE)
        return false;
    s_buf_t key;
    s_legal_key(&key, kbo, sector, type, framework, message);
    return s_exists(self, txn, S_LEGAL, &key);
}

bool kp_directory_provides(kp_directory_t *self, MDB_txn *txn, const char *message, uint32_t sector,
                           uint32_t type)
{
    if (!message || !s_ident_valid(message, KP_DIR_MAX_MESSAGE) || sector > KP_DIR_MAX_CODE ||
        type > KP_DIR_MAX_CODE)
        return false;
    s_buf_t key;
    s_avail_key(&key, message, sector, type);
    return s_exists(self, txn, S_AVAILABILITY, &key);
}

bool kp_directory_message_known(kp_directory_t *self, MDB_txn *txn, const char *message)
{
    if (!message || !s_ident_valid(message, KP_DIR_MAX_MESSAGE))
        return false;
    size_t len = strlen(message) + 1; //  with the NUL that ends it in the key
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, self->dbi[S_AVAILABILITY], &cursor))
        return false;
    MDB_val k = s_str_val(message, len), v;
    bool known = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size > len &&
                 !memcmp(k.mv_data, message, len);
    mdb_cursor_close(cursor);
    return known;
}

int kp_directory_providers_of(kp_directory_t *self, MDB_txn *txn, const char *message,
                              kp_sector_type_fn *fn, void *arg)
{
    if (!message || !s_ident_valid(message, KP_DIR_MAX_MESSAGE))
        return 0;
    size_t len = strlen(message) + 1;
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, self->dbi[S_AVAILABILITY], &cursor))
        return 0;
    MDB_val k = s_str_val(message, len), v;
    int rc = 0;
    int op = MDB_SET_RANGE;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0 && k.mv_size == len + 4 &&
           !memcmp(k.mv_data, message, len)) {
        op = MDB_NEXT;
        const unsigned char *p = (const unsigned char *)k.mv_data + len;
        rc = fn(kp_be16_get(p), kp_be16_get(p + 2), arg);
    }
    mdb_cursor_close(cursor);
    return rc;
}

static bool s_insz_key(const char *insz, MDB_val *k)
{
    if (!insz || strnlen(insz, KP_INSZ_LEN + 1) != KP_INSZ_LEN)
        return false;
    *k = s_str_val(insz, KP_INSZ_LEN);
    return true;
}

int kp_directory_person_each(kp_directory_t *self, MDB_txn *txn, const char *insz, kp_person_fn *fn,
                             void *arg)
{
    MDB_val k, v;
    MDB_cursor *cursor;
    if (!s_insz_key(insz, &k) || mdb_cursor_open(txn, self->dbi[S_PERSON], &cursor))
        return 0;
    int rc = 0;
    int op = MDB_SET_KEY;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0) {
        op = MDB_NEXT_DUP;
        if (v.mv_size != KP_DIR_PERSON_VALUE)
            continue;
        kp_person_entry_t entry;
        s_person_decode(v.mv_data, &entry);
        rc = fn(&entry, arg);
    }
    mdb_cursor_close(cursor);
    return rc;
}

bool kp_directory_person_held(kp_directory_t *self, MDB_txn *txn, const char *insz, uint32_t sector,
                              uint32_t type, uint32_t capacity, int32_t date)
{
    MDB_val k, v;
    MDB_cursor *cursor;
    if (sector > KP_DIR_MAX_CODE || type > KP_DIR_MAX_CODE || capacity > KP_DIR_MAX_CODE)
        return false;
    if (!s_insz_key(insz, &k) || mdb_cursor_open(txn, self->dbi[S_PERSON], &cursor))
        return false;
    //  The lowest possible value of (sector, type, capacity): zero bytes
    //  sort before every KBO digit and the smallest biased day.
    unsigned char low[KP_DIR_PERSON_VALUE];
    s_person_value(low, sector, type, capacity, NULL, INT32_MIN, INT32_MIN);
    v = (MDB_val){sizeof low, low};
    bool held = false;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_GET_BOTH_RANGE);
    while (rc == 0 && !held && v.mv_size == KP_DIR_PERSON_VALUE && !memcmp(v.mv_data, low, 6)) {
        const unsigned char *p = v.mv_data;
        held = s_get_day(p + 16) <= date && date <= s_get_day(p + 20);
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(cursor);
    return held;
}

int kp_directory_institutions_of(kp_directory_t *self, MDB_txn *txn, uint32_t sector, uint32_t type,
                                 kp_kbo_fn *fn, void *arg)
{
    if (sector > KP_DIR_MAX_CODE || type > KP_DIR_MAX_CODE)
        return 0;
    unsigned char st[4];
    kp_be16_put(st, (uint16_t)sector);
    kp_be16_put(st + 2, (uint16_t)type);
    MDB_val k = {4, st}, v;
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, self->dbi[S_INST_BY_ST], &cursor))
        return 0;
    int rc = 0;
    int op = MDB_SET_KEY;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, op) == 0) {
        op = MDB_NEXT_DUP;
        char kbo[KP_KBO_LEN + 1];
        if (v.mv_size != KP_KBO_LEN)
            continue;
        memcpy(kbo, v.mv_data, KP_KBO_LEN);
        kbo[KP_KBO_LEN] = '\0';
        rc = fn(kbo, arg);
    }
    mdb_cursor_close(cursor);
    return rc;
}

//  ---------------------------------------------------------------------
//  Whole tables

//  Walks every entry of one table, decoding each into a record for fn.
typedef int(s_decode_fn)(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg);

static int s_walk(kp_directory_t *self, MDB_txn *txn, int table, s_decode_fn *decode,
                  kp_record_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, self->dbi[table], &cursor))
        return -1;
    MDB_val k, v;
    int rc = 0;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0)
        rc = decode(&k, &v, fn, arg);
    mdb_cursor_close(cursor);
    return rc;
}

//  Copies a key or value fragment into a NUL-terminated buffer.
static char *s_text(char *buf, size_t size, const void *data, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(buf, data, len);
    buf[len] = '\0';
    return buf;
}

static int s_decode_institution(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    if (k->mv_size != KP_KBO_LEN || v->mv_size < 4)
        return 0;
    char kbo[KP_KBO_LEN + 1], name[KP_DIR_MAX_TEXT + 1];
    Kp__Institution r = KP__INSTITUTION__INIT;
    r.kbo = s_text(kbo, sizeof kbo, k->mv_data, k->mv_size);
    r.name = s_text(name, sizeof name, (char *)v->mv_data + 4, v->mv_size - 4);
    r.has_sector = r.has_type = true;
    r.sector = kp_be16_get(v->mv_data);
    r.type = kp_be16_get((unsigned char *)v->mv_data + 2);
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_INSTITUTION;
    record.institution = &r;
    return fn(&record, arg);
}

static int s_decode_user(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    if (v->mv_size < KP_KBO_LEN + 4)
        return 0;
    char id[KP_DIR_MAX_ID + 1], kbo[KP_KBO_LEN + 1];
    char *messages[KP_DIR_MAX_USER_MESSAGES];
    Kp__User r = KP__USER__INIT;
    r.id = s_text(id, sizeof id, k->mv_data, k->mv_size);
    r.kbo = s_text(kbo, sizeof kbo, v->mv_data, KP_KBO_LEN);
    r.has_sector = r.has_type = true;
    const unsigned char *p = v->mv_data;
    r.sector = kp_be16_get(p + KP_KBO_LEN);
    r.type = kp_be16_get(p + KP_KBO_LEN + 2);
    //  The messages are NUL-terminated in the map; point straight at them.
    const char *m = (const char *)p + KP_KBO_LEN + 4, *end = (const char *)p + v->mv_size;
    while (m < end && r.n_messages < KP_DIR_MAX_USER_MESSAGES) {
        size_t len = strnlen(m, (size_t)(end - m));
        if (len == (size_t)(end - m))
            break; //  unterminated: damaged value, stop here
        messages[r.n_messages++] = (char *)m;
        m += len + 1;
    }
    r.messages = messages;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_USER;
    record.user = &r;
    return fn(&record, arg);
}

static int s_decode_authorization(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    (void)v;
    if (k->mv_size <= 6)
        return 0;
    const unsigned char *p = k->mv_data;
    char message[KP_DIR_MAX_MESSAGE + 1];
    Kp__Authorization r = KP__AUTHORIZATION__INIT;
    r.has_sector = r.has_type = r.has_capacity = true;
    r.sector = kp_be16_get(p);
    r.type = kp_be16_get(p + 2);
    r.capacity = kp_be16_get(p + 4);
    r.message = s_text(message, sizeof message, p + 6, k->mv_size - 6);
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION;
    record.authorization = &r;
    return fn(&record, arg);
}

static int s_decode_legal(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    (void)v;
    const char *p = k->mv_data, *end = p + k->mv_size;
    struct { //  the record's text, valid while fn runs
        char kbo[KP_KBO_LEN + 1], framework[KP_DIR_MAX_FRAMEWORK + 1];
        char message[KP_DIR_MAX_MESSAGE + 1];
    } text;
    Kp__LegalAuthorization r = KP__LEGAL_AUTHORIZATION__INIT;
    size_t head = p[0] == 'K' ? 1 + KP_KBO_LEN : 5;
    if (k->mv_size <= head || (p[0] != 'K' && p[0] != 'S'))
        return 0;
    if (p[0] == 'K')
        r.kbo = s_text(text.kbo, sizeof text.kbo, p + 1, KP_KBO_LEN);
    else {
        r.has_sector = r.has_type = true;
        r.sector = kp_be16_get((const unsigned char *)p + 1);
        r.type = kp_be16_get((const unsigned char *)p + 3);
    }
    p += head;
    size_t flen = strnlen(p, (size_t)(end - p));
    if (flen == (size_t)(end - p))
        return 0;
    r.framework = s_text(text.framework, sizeof text.framework, p, flen);
    p += flen + 1;
    r.message = s_text(text.message, sizeof text.message, p, (size_t)(end - p));
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_LEGAL;
    record.legal = &r;
    return fn(&record, arg);
}

static int s_decode_availability(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    (void)v;
    const char *p = k->mv_data;
    size_t mlen = strnlen(p, k->mv_size);
    if (mlen + 5 != k->mv_size)
        return 0;
    char message[KP_DIR_MAX_MESSAGE + 1];
    Kp__Availability r = KP__AVAILABILITY__INIT;
    r.message = s_text(message, sizeof message, p, mlen);
    r.has_sector = r.has_type = true;
    r.sector = kp_be16_get((const unsigned char *)p + mlen + 1);
    r.type = kp_be16_get((const unsigned char *)p + mlen + 3);
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_AVAILABILITY;
    record.availability = &r;
    return fn(&record, arg);
}

static int s_decode_person(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    if (k->mv_size != KP_INSZ_LEN || v->mv_size != KP_DIR_PERSON_VALUE)
        return 0;
    kp_person_entry_t e;
    s_person_decode(v->mv_data, &e);
    char insz[KP_INSZ_LEN + 1], from[11], to[11];
    Kp__PersonEntry r = KP__PERSON_ENTRY__INIT;
    r.insz = s_text(insz, sizeof insz, k->mv_data, k->mv_size);
    r.kbo = e.kbo;
    r.has_sector = r.has_type = r.has_capacity = true;
    r.sector = e.sector;
    r.type = e.type;
    r.capacity = e.capacity;
    kp_date_format(e.from, from);
    kp_date_format(e.to, to);
    r.from = from;
    r.to = to;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_PERSON;
    record.person = &r;
    return fn(&record, arg);
}

static int s_decode_maintenance(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    const char *p = v->mv_data, *end = p + v->mv_size;
    if (k->mv_size != 8 || v->mv_size < KP_KBO_LEN + 16 + 2 || end[-1] != '\0')
        return 0;
    char kbo[KP_KBO_LEN + 1], from[21], to[21];
    Kp__Maintenance r = KP__MAINTENANCE__INIT;
    r.has_id = true;
    r.id = kp_be64_get(k->mv_data);
    r.kbo = s_text(kbo, sizeof kbo, p, KP_KBO_LEN);
    kp_time_format((int64_t)(kp_be64_get((const unsigned char *)p + KP_KBO_LEN) ^ (1ULL << 63)),
                   from);
    kp_time_format((int64_t)(kp_be64_get((const unsigned char *)p + KP_KBO_LEN + 8) ^ (1ULL << 63)),
                   to);
    r.from = from;
    r.to = to;
    const char *message = p + KP_KBO_LEN + 16;
    size_t mlen = strnlen(message, (size_t)(end - message));
    if (message + mlen + 1 >= end)
        return 0;
    r.message = mlen ? (char *)message : NULL;
    r.reason = (char *)message + mlen + 1;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_MAINTENANCE;
    record.maintenance = &r;
    return fn(&record, arg);
}

static int s_decode_key(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    kp_key_view_t view;
    if (k->mv_size != KP_KEY_Z85_LEN || s_key_view(v, &view))
        return 0;
    char public_key[KP_KEY_Z85_LEN + 1], from[11], to[11];
    Kp__Key r = KP__KEY__INIT;
    r.public_key = s_text(public_key, sizeof public_key, k->mv_data, k->mv_size);
    r.kind = (char *)kp_key_kind_name(view.kind);
    r.identity = view.identity;
    kp_date_format(view.from, from);
    r.from = from;
    if (view.to != INT32_MAX) {
        kp_date_format(view.to, to);
        r.to = to;
    }
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_KEY;
    record.key = &r;
    return fn(&record, arg);
}

//  A register entry as an import gives it: version and proposal are the
//  node's own.
static int s_decode_register(const MDB_val *k, const MDB_val *v, kp_record_fn *fn, void *arg)
{
    (void)k;
    Kp__RegisterEntry *r = kp__register_entry__unpack(NULL, v->mv_size, v->mv_data);
    if (!r)
        return 0;
    r->has_version = false;
    char *proposal = r->proposal;
    r->proposal = NULL;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_REGISTER_ENTRY;
    record.register_entry = r;
    int rc = fn(&record, arg);
    r->proposal = proposal;
    kp__register_entry__free_unpacked(r, NULL);
    return rc;
}

int kp_directory_each(kp_directory_t *self, MDB_txn *txn, kp_record_fn *fn, void *arg)
{
    static const struct {
        int table;
        s_decode_fn *decode;
    } order[] = {
        {S_INSTITUTION, s_decode_institution},     {S_USER, s_decode_user},
        {S_AUTHORIZATION, s_decode_authorization}, {S_LEGAL, s_decode_legal},
        {S_AVAILABILITY, s_decode_availability},   {S_PERSON, s_decode_person},
        {S_MAINTENANCE, s_decode_maintenance},     {S_KEY, s_decode_key},
        {S_REGISTER, s_decode_register},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof order / sizeof order[0]; i++)
        rc = s_walk(self, txn, order[i].table, order[i].decode, fn, arg);
    return rc;
}

typedef struct {
    const char *kbo;
    kp_record_fn *fn;
    void *arg;
} s_maint_filter_t;

static int s_maint_filter(const Kp__DirectoryRecord *record, void *arg)
{
    s_maint_filter_t *filter = arg;
    if (filter->kbo && strcmp(record->maintenance->kbo, filter->kbo))
        return 0;
    return filter->fn(record, filter->arg);
}

int kp_directory_maintenance_each(kp_directory_t *self, MDB_txn *txn, const char *kbo,
                                  kp_record_fn *fn, void *arg)
{
    //  Asked for every part the node dispatches, and the table is nearly
    //  always empty: counting is a read of the txn's table header, while
    //  a walk opens (allocates) a cursor.
    MDB_stat st;
    if (mdb_stat(txn, self->dbi[S_MAINTENANCE], &st) == 0 && st.ms_entries == 0)
        return 0;
    s_maint_filter_t filter = {kbo, fn, arg};
    return s_walk(self, txn, S_MAINTENANCE, s_decode_maintenance, s_maint_filter, &filter);
}

int kp_directory_counts(kp_directory_t *self, MDB_txn *txn, kp_directory_counts_t *out)
{
    static const int tables[] = {S_INSTITUTION, S_USER,         S_AUTHORIZATION,
                                 S_LEGAL,       S_AVAILABILITY, S_PERSON,
                                 S_MAINTENANCE, S_KEY,          S_REGISTER};
    size_t *fields[] = {&out->institutions, &out->users,        &out->authorizations,
                        &out->legal,        &out->availability, &out->persons,
                        &out->maintenance,  &out->keys,         &out->registers};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        MDB_stat st;
        if (mdb_stat(txn, self->dbi[tables[i]], &st))
            return -1;
        *fields[i] = st.ms_entries;
    }
    return 0;
}

int kp_directory_person_scan(kp_directory_t *self, MDB_txn *txn, kp_person_scan_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    if (mdb_cursor_open(txn, self->dbi[S_PERSON], &cursor))
        return -1;
    MDB_val k, v;
    int rc = 0;
    while (rc == 0 && mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {
        if (k.mv_size != KP_INSZ_LEN || v.mv_size != KP_DIR_PERSON_VALUE)
            continue;
        kp_person_entry_t entry;
        s_person_decode(v.mv_data, &entry);
        char insz[KP_INSZ_LEN + 1];
        rc = fn(s_text(insz, sizeof insz, k.mv_data, k.mv_size), &entry, arg);
    }
    mdb_cursor_close(cursor);
    return rc;
}

size_t kp_directory_file_size(kp_directory_t *self)
{
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/data.mdb", self->path);
    struct stat st;
    return stat(file, &st) ? 0 : (size_t)st.st_size;
}

void kp_directory_register_tables(kp_directory_t *self, kp_register_tables_t *out)
{
    out->entries = self->dbi[S_REGISTER];
    out->by_birth = self->dbi[S_REGISTER_BIRTH];
    out->proposals = self->dbi[S_REGISTER_PROPOSAL];
    out->replaced = self->dbi[S_REGISTER_REPLACED];
    out->persons = self->dbi[S_PERSON];
}

int kp_directory_on_register_change(kp_directory_t *self, kp_register_hook_fn *fn, void *arg)
{
    kp_register_hooks_t *hooks = &self->register_hooks;
    if (hooks->count == KP_REGISTER_MAX_HOOKS)
        return -1;
    pthread_mutex_lock(&self->write_lock);
    hooks->fn[hooks->count] = fn;
    hooks->arg[hooks->count] = arg;
    hooks->count++;
    pthread_mutex_unlock(&self->write_lock);
    return 0;
}
