/*  dirreport.c - reports on the reference directory, as text. */
#include "dirreport.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonl.h"

//  ---------------------------------------------------------------------
//  Statistics

typedef struct {
    size_t *persons; //  distinct INSZ per sector, KP_DIR_MAX_CODE + 1 slots
    size_t *entries; //  rows per sector
    size_t distinct; //  distinct INSZ overall
    char last_insz[KP_INSZ_LEN + 1];
    int64_t last_sector;
} s_stats_t;

static int s_count_person(const char *insz, const kp_person_entry_t *entry, void *arg)
{
    s_stats_t *stats = arg;
    bool new_person = strcmp(insz, stats->last_insz) != 0;
    //  Entries of one person are sorted by sector: a new sector or a new
    //  person starts a new (person, sector) pair.
    if (new_person || stats->last_sector != (int64_t)entry->sector)
        stats->persons[entry->sector]++;
    if (new_person) {
        stats->distinct++;
        memcpy(stats->last_insz, insz, sizeof stats->last_insz);
    }
    stats->last_sector = entry->sector;
    stats->entries[entry->sector]++;
    return 0;
}

char *kp_dirreport_stats(kp_directory_t *dir, MDB_txn *txn)
{
    kp_directory_counts_t counts;
    if (kp_directory_counts(dir, txn, &counts))
        return NULL;
    s_stats_t stats = {.last_sector = -1};
    stats.persons = calloc(KP_DIR_MAX_CODE + 1, sizeof(size_t));
    stats.entries = calloc(KP_DIR_MAX_CODE + 1, sizeof(size_t));
    if (!stats.persons || !stats.entries ||
        kp_directory_person_scan(dir, txn, s_count_person, &stats)) {
        free(stats.persons);
        free(stats.entries);
        return NULL;
    }
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_uint(json, "seq", kp_directory_seq(dir, txn));
    kp_json_kv_uint(json, "file_size", kp_directory_file_size(dir));
    kp_json_key(json, "counts");
    kp_json_object_open(json);
    kp_json_kv_uint(json, "institutions", counts.institutions);
    kp_json_kv_uint(json, "users", counts.users);
    kp_json_kv_uint(json, "authorizations", counts.authorizations);
    kp_json_kv_uint(json, "legal", counts.legal);
    kp_json_kv_uint(json, "availability", counts.availability);
    kp_json_kv_uint(json, "persons", counts.persons);
    kp_json_kv_uint(json, "maintenance", counts.maintenance);
    kp_json_kv_uint(json, "keys", counts.keys);
    kp_json_object_close(json);
    kp_json_kv_uint(json, "distinct_persons", stats.distinct);
    kp_json_key(json, "persons_by_sector");
    kp_json_array_open(json);
    for (size_t sector = 0; sector <= KP_DIR_MAX_CODE; sector++) {
        if (!stats.entries[sector])
            continue;
        kp_json_object_open(json);
        kp_json_kv_uint(json, "sector", sector);
        kp_json_kv_uint(json, "persons", stats.persons[sector]);
        kp_json_kv_uint(json, "entries", stats.entries[sector]);
        kp_json_object_close(json);
    }
    kp_json_array_close(json);
    kp_json_object_close(json);
    free(stats.persons);
    free(stats.entries);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}

//  ---------------------------------------------------------------------
//  One person

typedef struct {
    kp_directory_t *dir;
    MDB_txn *txn;
    kp_json_t *json;
} s_person_t;

static int s_person_entry(const kp_person_entry_t *entry, void *arg)
{
    s_person_t *self = arg;
    kp_json_t *json = self->json;
    char from[11], to[11];
    kp_date_format(entry->from, from);
    kp_date_format(entry->to, to);
    kp_json_object_open(json);
    kp_json_kv_uint(json, "sector", entry->sector);
    kp_json_kv_uint(json, "type", entry->type);
    kp_json_kv_uint(json, "capacity", entry->capacity);
    kp_json_kv_string(json, "kbo", entry->kbo);
    kp_institution_view_t institution;
    kp_json_key(json, "name");
    if (kp_directory_institution(self->dir, self->txn, entry->kbo, &institution) == 0)
        kp_json_string_len(json, institution.name, institution.name_len);
    else
        kp_json_null(json);
    kp_json_kv_string(json, "from", from);
    kp_json_kv_string(json, "to", to);
    kp_json_object_close(json);
    return 0;
}

char *kp_dirreport_person(kp_directory_t *dir, MDB_txn *txn, const char *insz)
{
    if (!kp_insz_valid(insz))
        return NULL;
    s_person_t self = {dir, txn, kp_json_new()};
    kp_json_object_open(self.json);
    kp_json_kv_string(self.json, "insz", insz);
    kp_json_key(self.json, "entries");
    kp_json_array_open(self.json);
    kp_directory_person_each(dir, txn, insz, s_person_entry, &self);
    kp_json_array_close(self.json);
    kp_json_object_close(self.json);
    char *text = kp_json_take(self.json);
    kp_json_destroy(&self.json);
    return text;
}

char *kp_dirreport_register(kp_directory_t *dir, MDB_txn *txn, const char *number)
{
    if (!kp_insz_valid(number))
        return NULL;
    kp_register_tables_t tables;
    kp_directory_register_tables(dir, &tables);
    s_person_t self = {dir, txn, kp_json_new()};
    kp_json_object_open(self.json);
    kp_json_kv_string(self.json, "number", number);
    Kp__RegisterEntry *entry = kp_register_get(&tables, txn, number);
    if (entry) {
        kp_json_key(self.json, "entry");
        kp_register_json(self.json, entry);
        kp__register_entry__free_unpacked(entry, NULL);
        char current[12];
        if (kp_register_resolve(&tables, txn, number, current) == 0)
            kp_json_kv_string(self.json, "current", current);
        //  From the reverse index: every number it replaced, transitively.
        char replaced[KP_REGISTER_MAX_FAMILY][12];
        size_t n = kp_register_replaced_all(&tables, txn, number, replaced, KP_REGISTER_MAX_FAMILY);
        kp_json_key(self.json, "replaces");
        kp_json_array_open(self.json);
        for (size_t i = 0; i < n; i++)
            kp_json_string(self.json, replaced[i]);
        kp_json_array_close(self.json);
    }
    kp_json_key(self.json, "persons");
    kp_json_array_open(self.json);
    kp_directory_person_each(dir, txn, number, s_person_entry, &self);
    kp_json_array_close(self.json);
    kp_json_object_close(self.json);
    char *text = kp_json_take(self.json);
    kp_json_destroy(&self.json);
    return text;
}

//  ---------------------------------------------------------------------
//  Export

typedef struct {
    kp_dirreport_line_fn *fn;
    void *arg;
    char *buf;
    size_t size;
    bool failed;
} s_export_t;

static int s_export_record(const Kp__DirectoryRecord *record, void *arg)
{
    s_export_t *self = arg;
    size_t need = kp_jsonl_format(record, self->buf, self->size);
    if (need >= self->size) {
        //  A long user record: grow and format again.
        char *bigger = realloc(self->buf, need + 1);
        if (!bigger) {
            self->failed = true;
            return -1;
        }
        self->buf = bigger;
        self->size = need + 1;
        kp_jsonl_format(record, self->buf, self->size);
    }
    return self->fn(self->buf, need, self->arg);
}

int kp_dirreport_export_each(kp_directory_t *dir, MDB_txn *txn, kp_dirreport_line_fn *fn, void *arg)
{
    s_export_t self = {fn, arg, malloc(1024), 1024, false};
    if (!self.buf)
        return -1;
    int rc = kp_directory_each(dir, txn, s_export_record, &self);
    free(self.buf);
    return self.failed ? -1 : rc;
}

typedef struct {
    char *text;
    size_t len, cap;
} s_text_t;

static int s_append_line(const char *line, size_t len, void *arg)
{
    s_text_t *self = arg;
    if (self->len + len + 2 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (self->len + len + 2 > cap)
            cap *= 2;
        char *bigger = realloc(self->text, cap);
        if (!bigger)
            return -1;
        self->text = bigger;
        self->cap = cap;
    }
    memcpy(self->text + self->len, line, len);
    self->len += len;
    self->text[self->len++] = '\n';
    self->text[self->len] = '\0';
    return 0;
}

char *kp_dirreport_export(kp_directory_t *dir, MDB_txn *txn)
{
    s_text_t text = {NULL, 0, 0};
    if (kp_dirreport_export_each(dir, txn, s_append_line, &text)) {
        free(text.text);
        return NULL;
    }
    return text.text ? text.text : strdup("");
}

typedef struct {
    EVP_MD_CTX *sha;
    size_t records;
} s_checksum_t;

static int s_checksum_line(const char *line, size_t len, void *arg)
{
    s_checksum_t *sum = (s_checksum_t *)arg;
    EVP_DigestUpdate(sum->sha, line, len);
    EVP_DigestUpdate(sum->sha, "\n", 1);
    sum->records++;
    return 0;
}

char *kp_dirreport_checksum(kp_directory_t *dir, MDB_txn *txn)
{
    s_checksum_t sum = {EVP_MD_CTX_new(), 0};
    unsigned char digest[32];
    unsigned int size = 0;
    bool ok = sum.sha && EVP_DigestInit_ex(sum.sha, EVP_sha256(), NULL) == 1 &&
              kp_dirreport_export_each(dir, txn, s_checksum_line, &sum) == 0 &&
              EVP_DigestFinal_ex(sum.sha, digest, &size) == 1 && size == sizeof digest;
    EVP_MD_CTX_free(sum.sha);
    if (!ok)
        return NULL;
    char hex[2 * sizeof digest + 1];
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_uint(json, "seq", kp_directory_seq(dir, txn));
    kp_json_kv_uint(json, "records", sum.records);
    kp_json_kv_string(json, "sha256", hex);
    kp_json_object_close(json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    return text;
}
