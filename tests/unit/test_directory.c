/*  test_directory.c - the reference directory on real LMDB files.

    Each test gets a fresh folder from mkdtemp. Updates are built from
    JSON Lines (the parser has its own test), so the records read like the
    import files they stand for.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "directory.h"
#include "jsonl.h"
#include "testdir.h"
#include "tmpdir.h"

typedef struct {
    char path[64];
    kp_directory_t *dir;
} s_fixture_t;

static int s_setup(void **state)
{
    s_fixture_t *self = calloc(1, sizeof *self);
    if (!self || kp_test_dir_open(self->path, sizeof self->path, "kp-dir", &self->dir)) {
        free(self);
        return -1;
    }
    *state = self;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *self = *state;
    kp_test_dir_close(self->path, &self->dir);
    free(self);
    return 0;
}

//  Applies one hand-built op as an update of its own; returns apply's result.
static int s_apply_op(kp_directory_t *dir, Kp__DirectoryOp *op, char *err, size_t errlen)
{
    Kp__DirectoryOp *ops[] = {op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.ops = ops;
    update.n_ops = 1;
    return kp_directory_apply(dir, &update, NULL, err, errlen);
}

//  Applies the given lines as one update. Returns apply's result; err
//  gets its reason.
static int s_apply_lines(kp_directory_t *dir, const char **lines, size_t count, uint64_t *seq,
                         char *err, size_t errlen)
{
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    for (size_t i = 0; i < count; i++) {
        Kp__DirectoryOp *op = kp_jsonl_parse(lines[i], strlen(lines[i]), err, errlen);
        if (!op)
            fail_msg("test line %zu does not parse: %s", i, err);
        kp_jsonl_batch_add(batch, op);
    }
    int rc = kp_directory_apply(dir, kp_jsonl_batch_update(batch), seq, err, errlen);
    kp_jsonl_batch_destroy(&batch);
    return rc;
}

#define APPLY_OK(dir, ...)                                                                         \
    do {                                                                                           \
        const char *lines_[] = {__VA_ARGS__};                                                      \
        char err_[512];                                                                            \
        if (s_apply_lines(dir, lines_, sizeof lines_ / sizeof lines_[0], NULL, err_, sizeof err_)) \
            fail_msg("apply failed: %s", err_);                                                    \
    } while (0)

//  Two CURVE public keys (the example keys of the ZeroMQ documentation).
#define KEY_APP "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define KEY_PROVIDER "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static const char *s_base[] = {
    "{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}",
    "{\"table\":\"institution\",\"kbo\":\"0411702543\",\"name\":\"ACV\",\"sector\":17,\"type\":1}",
    "{\"table\":\"institution\",\"kbo\":\"0206732437\",\"name\":\"HVW\",\"sector\":17,\"type\":1}",
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"0206731645\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"A2\"]}",
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}",
    "{\"table\":\"legal\",\"kbo\":\"0206731645\",\"framework\":\"IVC-23-001\",\"message\":\"B1\"}",
    "{\"table\":\"legal\",\"sector\":25,\"type\":0,\"framework\":\"IVC-23-002\",\"message\":"
    "\"B2\"}",
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}",
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":6,\"type\":1}",
    "{\"table\":\"availability\",\"message\":\"A10\",\"sector\":9,\"type\":9}",
    "{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"2020-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0206732437\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2022-03-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0206731645\",\"sector\":25,"
    "\"type\":0,\"capacity\":2,\"from\":\"2008-09-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"person\",\"insz\":\"01010100126\",\"kbo\":\"0411702543\",\"sector\":17,"
    "\"type\":1,\"capacity\":1,\"from\":\"2019-01-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"maintenance\",\"id\":0,\"kbo\":\"0411702543\",\"message\":\"A1\","
    "\"from\":\"2026-11-28T22:00:00Z\",\"to\":\"2026-11-29T02:00:00Z\",\"reason\":\"upgrade\"}",
    "{\"table\":\"key\",\"key\":\"" KEY_APP "\",\"kind\":\"application\","
    "\"identity\":\"rsz-app\",\"from\":\"2020-01-01\",\"to\":\"2030-12-31\"}",
    "{\"table\":\"key\",\"key\":\"" KEY_PROVIDER "\",\"kind\":\"provider\","
    "\"identity\":\"0411702543\",\"from\":\"2020-01-01\"}",
};
#define S_BASE (sizeof s_base / sizeof s_base[0])

static void s_load_base(kp_directory_t *dir)
{
    char err[512];
    uint64_t seq = 0;
    if (s_apply_lines(dir, s_base, S_BASE, &seq, err, sizeof err))
        fail_msg("base update failed: %s", err);
    assert_int_equal(seq, 1);
}

static int32_t s_day(const char *date)
{
    int32_t day;
    assert_int_equal(kp_date_parse(date, &day), 0);
    return day;
}

static void test_counts_and_seq(void **state)
{
    s_fixture_t *self = *state;
    assert_int_equal(kp_directory_seq(self->dir, NULL), 0);
    s_load_base(self->dir);
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    assert_non_null(txn);
    kp_directory_counts_t counts;
    assert_int_equal(kp_directory_counts(self->dir, txn, &counts), 0);
    assert_int_equal(counts.institutions, 3);
    assert_int_equal(counts.users, 1);
    assert_int_equal(counts.authorizations, 1);
    assert_int_equal(counts.legal, 2);
    assert_int_equal(counts.availability, 3);
    assert_int_equal(counts.persons, 4);
    assert_int_equal(counts.maintenance, 1);
    assert_int_equal(counts.keys, 2);
    assert_int_equal(kp_directory_seq(self->dir, txn), 1);
    kp_directory_read_end(&txn);
    assert_null(txn);
    //  Each update bumps the sequence once, whatever its size.
    uint64_t seq = 0;
    char err[256];
    const char *one[] = {
        "{\"table\":\"availability\",\"message\":\"A2\",\"sector\":17,\"type\":1}"};
    assert_int_equal(s_apply_lines(self->dir, one, 1, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(kp_directory_seq(self->dir, NULL), 2);
    assert_true(kp_directory_file_size(self->dir) > 0);
}

static void test_all_or_nothing(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    //  Three good ops, then a delete of an absent record: nothing stays.
    const char *lines[] = {
        "{\"table\":\"availability\",\"message\":\"Z1\",\"sector\":1,\"type\":1}",
        "{\"op\":\"delete\",\"table\":\"institution\",\"kbo\":\"0206731645\"}",
        "{\"table\":\"person\",\"insz\":\"75123199921\",\"kbo\":\"0411702543\",\"sector\":17,"
        "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
        "{\"op\":\"delete\",\"table\":\"availability\",\"message\":\"NOPE\",\"sector\":1,"
        "\"type\":1}",
    };
    char err[512];
    uint64_t seq = 77;
    assert_int_equal(s_apply_lines(self->dir, lines, 4, &seq, err, sizeof err), -1);
    assert_int_equal(seq, 77);
    assert_non_null(strstr(err, "op 4: "));
    assert_non_null(strstr(err, "not in the directory"));
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    assert_false(kp_directory_provides(self->dir, txn, "Z1", 1, 1));
    kp_institution_view_t inst;
    assert_int_equal(kp_directory_institution(self->dir, txn, "0206731645", &inst), 0);
    assert_false(
        kp_directory_person_held(self->dir, txn, "75123199921", 17, 1, 1, s_day("2021-01-01")));
    assert_int_equal(kp_directory_seq(self->dir, txn), 1);
    kp_directory_read_end(&txn);

    //  A record that fails validation in apply (built by hand, as from the
    //  network) also stops the whole update and is named.
    Kp__PersonEntry person = KP__PERSON_ENTRY__INIT;
    person.insz = "85073003327";
    person.kbo = "0411702543";
    person.has_sector = person.has_type = person.has_capacity = true;
    person.from = "2020-01-01";
    person.to = "9999-12-31";
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_PERSON;
    record.person = &person;
    Kp__DirectoryOp op = KP__DIRECTORY_OP__INIT;
    op.record = &record;
    assert_int_equal(s_apply_op(self->dir, &op, err, sizeof err), -1);
    assert_non_null(strstr(err, "op 1: invalid INSZ"));
    person.insz = "85073003328";
    person.to = "2019-01-01";
    assert_int_equal(s_apply_op(self->dir, &op, err, sizeof err), -1);
    assert_non_null(strstr(err, "is after"));
    Kp__DirectoryOp empty = KP__DIRECTORY_OP__INIT;
    assert_int_equal(s_apply_op(self->dir, &empty, err, sizeof err), -1);
    assert_non_null(strstr(err, "op 1: op without a record"));
    assert_int_equal(kp_directory_seq(self->dir, NULL), 1);
}

static void test_delete_semantics(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    char err[512];
    //  Deleting a person entry needs the whole entry; another period of the
    //  same person is a different entry.
    const char *wrong[] = {"{\"op\":\"delete\",\"table\":\"person\",\"insz\":\"85073003328\","
                           "\"kbo\":\"0411702543\",\"sector\":17,\"type\":1,\"capacity\":1,"
                           "\"from\":\"2020-01-01\",\"to\":\"2021-12-31\"}"};
    assert_int_equal(s_apply_lines(self->dir, wrong, 1, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot delete person 85073003328"));
    APPLY_OK(self->dir,
             "{\"op\":\"delete\",\"table\":\"person\",\"insz\":\"85073003328\","
             "\"kbo\":\"0411702543\",\"sector\":17,\"type\":1,\"capacity\":1,"
             "\"from\":\"2020-01-01\",\"to\":\"2020-12-31\"}",
             "{\"op\":\"delete\",\"table\":\"institution\",\"kbo\":\"0206732437\"}",
             "{\"op\":\"delete\",\"table\":\"user\",\"id\":\"rsz-app\"}",
             "{\"op\":\"delete\",\"table\":\"legal\",\"sector\":25,\"type\":0,"
             "\"framework\":\"IVC-23-002\",\"message\":\"B2\"}",
             "{\"op\":\"delete\",\"table\":\"maintenance\",\"id\":1}");
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    kp_directory_counts_t counts;
    kp_directory_counts(self->dir, txn, &counts);
    assert_int_equal(counts.persons, 3);
    assert_int_equal(counts.institutions, 2);
    assert_int_equal(counts.users, 0);
    assert_int_equal(counts.legal, 1);
    assert_int_equal(counts.maintenance, 0);
    //  The (sector, type) index lost the deleted institution too.
    kp_user_view_t user;
    assert_int_equal(kp_directory_user(self->dir, txn, "rsz-app", &user), -1);
    assert_false(kp_directory_legal(self->dir, txn, NULL, 25, 0, "IVC-23-002", "B2"));
    kp_directory_read_end(&txn);
    //  Deleting again is an error, for every table.
    const char *again[] = {
        "{\"op\":\"delete\",\"table\":\"institution\",\"kbo\":\"0206732437\"}",
        "{\"op\":\"delete\",\"table\":\"user\",\"id\":\"rsz-app\"}",
        "{\"op\":\"delete\",\"table\":\"maintenance\",\"id\":1}",
        "{\"op\":\"delete\",\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":2,"
        "\"message\":\"A1\"}",
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(s_apply_lines(self->dir, again + i, 1, NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "not in the directory"));
    }
    assert_int_equal(kp_directory_seq(self->dir, NULL), 2);
}

static int s_collect_kbo(const char *kbo, void *arg)
{
    char *out = arg;
    strcat(out, kbo);
    strcat(out, " ");
    return 0;
}

static int s_first_only(const char *kbo, void *arg)
{
    (void)kbo;
    (*(int *)arg)++;
    return 7;
}

static void test_lookups(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);

    kp_user_view_t user;
    assert_int_equal(kp_directory_user(self->dir, txn, "rsz-app", &user), 0);
    assert_string_equal(user.kbo, "0206731645");
    assert_int_equal(user.sector, 25);
    assert_int_equal(user.type, 0);
    assert_true(kp_user_may_send(&user, "A1"));
    assert_true(kp_user_may_send(&user, "A2"));
    assert_false(kp_user_may_send(&user, "A"));
    assert_false(kp_user_may_send(&user, "A12"));
    assert_int_equal(kp_directory_user(self->dir, txn, "nobody", &user), -1);
    assert_int_equal(kp_directory_user(self->dir, txn, "", &user), -1);

    assert_true(kp_directory_authorized(self->dir, txn, 25, 0, 1, "A1"));
    assert_false(kp_directory_authorized(self->dir, txn, 25, 0, 2, "A1"));
    assert_false(kp_directory_authorized(self->dir, txn, 25, 1, 1, "A1"));
    assert_false(kp_directory_authorized(self->dir, txn, 25, 0, 1, "A2"));
    assert_false(kp_directory_authorized(self->dir, txn, 70000, 0, 1, "A1"));

    assert_true(kp_directory_legal(self->dir, txn, "0206731645", 0, 0, "IVC-23-001", "B1"));
    assert_false(kp_directory_legal(self->dir, txn, "0206731645", 0, 0, "IVC-23-002", "B1"));
    assert_false(kp_directory_legal(self->dir, txn, "0411702543", 0, 0, "IVC-23-001", "B1"));
    assert_true(kp_directory_legal(self->dir, txn, NULL, 25, 0, "IVC-23-002", "B2"));
    assert_false(kp_directory_legal(self->dir, txn, NULL, 25, 1, "IVC-23-002", "B2"));
    assert_false(kp_directory_legal(self->dir, txn, NULL, 25, 0, "IVC-23-001", "B1"));

    assert_true(kp_directory_provides(self->dir, txn, "A1", 17, 1));
    assert_true(kp_directory_provides(self->dir, txn, "A1", 6, 1));
    assert_false(kp_directory_provides(self->dir, txn, "A1", 25, 0));
    assert_true(kp_directory_message_known(self->dir, txn, "A1"));
    assert_true(kp_directory_message_known(self->dir, txn, "A10"));
    assert_false(kp_directory_message_known(self->dir, txn, "A"));
    assert_false(kp_directory_message_known(self->dir, txn, "A2"));
    assert_false(kp_directory_message_known(self->dir, txn, "Z9"));

    char kbos[128] = "";
    assert_int_equal(kp_directory_institutions_of(self->dir, txn, 17, 1, s_collect_kbo, kbos), 0);
    assert_string_equal(kbos, "0206732437 0411702543 ");
    kbos[0] = '\0';
    kp_directory_institutions_of(self->dir, txn, 17, 2, s_collect_kbo, kbos);
    assert_string_equal(kbos, "");
    int calls = 0;
    assert_int_equal(kp_directory_institutions_of(self->dir, txn, 17, 1, s_first_only, &calls), 7);
    assert_int_equal(calls, 1);

    kp_institution_view_t inst;
    assert_int_equal(kp_directory_institution(self->dir, txn, "0411702543", &inst), 0);
    assert_int_equal(inst.sector, 17);
    assert_int_equal(inst.name_len, 3);
    assert_memory_equal(inst.name, "ACV", 3);
    assert_int_equal(kp_directory_institution(self->dir, txn, "0411702", &inst), -1);
    kp_directory_read_end(&txn);
}

static void test_person_held_boundaries(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    const char *p = "85073003328";
    //  17/1/1 held 2020-01-01..2020-12-31 (ACV) and from 2022-03-01 (HVW).
    assert_false(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2019-12-31")));
    assert_true(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2020-01-01")));
    assert_true(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2020-12-31")));
    assert_false(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2021-01-01")));
    assert_false(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2022-02-28")));
    assert_true(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("2022-03-01")));
    assert_true(kp_directory_person_held(self->dir, txn, p, 17, 1, 1, s_day("9999-12-31")));
    //  Another capacity, type or sector is not held.
    assert_false(kp_directory_person_held(self->dir, txn, p, 17, 1, 2, s_day("2020-06-01")));
    assert_false(kp_directory_person_held(self->dir, txn, p, 17, 0, 1, s_day("2020-06-01")));
    assert_false(kp_directory_person_held(self->dir, txn, p, 25, 0, 1, s_day("2020-06-01")));
    assert_true(kp_directory_person_held(self->dir, txn, p, 25, 0, 2, s_day("2020-06-01")));
    assert_false(kp_directory_person_held(self->dir, txn, p, 25, 0, 2, s_day("2008-08-31")));
    //  Unknown and malformed INSZ.
    assert_false(
        kp_directory_person_held(self->dir, txn, "75123199921", 17, 1, 1, s_day("2020-06-01")));
    assert_false(
        kp_directory_person_held(self->dir, txn, "8507300332", 17, 1, 1, s_day("2020-06-01")));
    assert_false(
        kp_directory_person_held(self->dir, txn, "850730033289", 17, 1, 1, s_day("2020-06-01")));
    //  A date before 1970 works with the biased encoding.
    APPLY_OK(self->dir, "{\"table\":\"person\",\"insz\":\"75123199921\",\"kbo\":\"0411702543\","
                        "\"sector\":17,\"type\":1,\"capacity\":3,\"from\":\"1901-01-01\","
                        "\"to\":\"1969-12-31\"}");
    kp_directory_read_reset(txn);
    assert_int_equal(kp_directory_read_renew(txn), 0); //  renewed: sees the new entry
    assert_true(
        kp_directory_person_held(self->dir, txn, "75123199921", 17, 1, 3, s_day("1950-05-05")));
    assert_false(
        kp_directory_person_held(self->dir, txn, "75123199921", 17, 1, 3, s_day("1970-01-01")));
    kp_directory_read_end(&txn);
}

typedef struct {
    kp_person_entry_t entries[8];
    size_t count;
} s_entries_t;

static int s_collect_entry(const kp_person_entry_t *entry, void *arg)
{
    s_entries_t *out = arg;
    if (out->count < 8)
        out->entries[out->count++] = *entry;
    return 0;
}

static void test_person_each(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    s_entries_t got = {0};
    assert_int_equal(kp_directory_person_each(self->dir, txn, "85073003328", s_collect_entry, &got),
                     0);
    assert_int_equal(got.count, 3);
    //  Key order: sector, type, capacity, kbo.
    assert_int_equal(got.entries[0].sector, 17);
    assert_string_equal(got.entries[0].kbo, "0206732437");
    assert_int_equal(got.entries[0].from, s_day("2022-03-01"));
    assert_string_equal(got.entries[1].kbo, "0411702543");
    assert_int_equal(got.entries[1].to, s_day("2020-12-31"));
    assert_int_equal(got.entries[2].sector, 25);
    assert_int_equal(got.entries[2].capacity, 2);
    got.count = 0;
    assert_int_equal(kp_directory_person_each(self->dir, txn, "75123199921", s_collect_entry, &got),
                     0);
    assert_int_equal(got.count, 0);
    kp_directory_read_end(&txn);
}

typedef struct {
    char text[4096];
    size_t count;
} s_lines_t;

static int s_maintenance_line(const Kp__DirectoryRecord *record, void *arg)
{
    s_lines_t *out = arg;
    char line[64];
    snprintf(line, sizeof line, "%llu %s|", (unsigned long long)record->maintenance->id,
             record->maintenance->kbo);
    strcat(out->text, line);
    out->count++;
    return 0;
}

static void test_replace_and_maintenance_ids(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    //  A PUT of an existing institution replaces it, index included.
    APPLY_OK(self->dir,
             "{\"table\":\"institution\",\"kbo\":\"0206732437\",\"name\":\"HVW-CAPAC\","
             "\"sector\":17,\"type\":2}",
             "{\"table\":\"maintenance\",\"kbo\":\"0206731645\",\"from\":\"2026-01-01\","
             "\"to\":\"2026-01-02\",\"reason\":\"move\"}",
             "{\"table\":\"maintenance\",\"id\":10,\"kbo\":\"0206731645\",\"from\":\"2026-02-01\","
             "\"to\":\"2026-02-02\",\"reason\":\"x\"}",
             "{\"table\":\"maintenance\",\"id\":0,\"kbo\":\"0411702543\",\"from\":\"2026-03-01\","
             "\"to\":\"2026-03-02\",\"reason\":\"y\"}");
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    char kbos[128] = "";
    kp_directory_institutions_of(self->dir, txn, 17, 1, s_collect_kbo, kbos);
    assert_string_equal(kbos, "0411702543 ");
    kbos[0] = '\0';
    kp_directory_institutions_of(self->dir, txn, 17, 2, s_collect_kbo, kbos);
    assert_string_equal(kbos, "0206732437 ");
    kp_institution_view_t inst;
    kp_directory_institution(self->dir, txn, "0206732437", &inst);
    assert_int_equal(inst.name_len, 9);
    kp_directory_read_end(&txn);
    //  ids: base had 1; then 2 (auto), 10 (given), 11 (auto after 10).
    s_lines_t ids = {"", 0};
    txn = kp_directory_read_begin(self->dir, NULL, 0);
    kp_directory_maintenance_each(self->dir, txn, NULL, s_maintenance_line, &ids);
    assert_string_equal(ids.text, "1 0411702543|2 0206731645|10 0206731645|11 0411702543|");
    kp_directory_counts_t counts;
    kp_directory_counts(self->dir, txn, &counts);
    assert_int_equal(counts.maintenance, 4);
    kp_directory_read_end(&txn);
}

static void test_maintenance_each(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    APPLY_OK(self->dir,
             "{\"table\":\"maintenance\",\"kbo\":\"0206731645\",\"from\":\"2026-01-01\","
             "\"to\":\"2026-01-02\",\"reason\":\"move\"}",
             "{\"table\":\"maintenance\",\"id\":10,\"kbo\":\"0206731645\",\"from\":\"2026-02-01\","
             "\"to\":\"2026-02-02\",\"reason\":\"x\"}",
             "{\"table\":\"maintenance\",\"kbo\":\"0411702543\",\"from\":\"2026-03-01\","
             "\"to\":\"2026-03-02\",\"reason\":\"y\"}");
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    s_lines_t all = {"", 0}, one = {"", 0};
    kp_directory_maintenance_each(self->dir, txn, NULL, s_maintenance_line, &all);
    assert_string_equal(all.text, "1 0411702543|2 0206731645|10 0206731645|11 0411702543|");
    kp_directory_maintenance_each(self->dir, txn, "0206731645", s_maintenance_line, &one);
    assert_string_equal(one.text, "2 0206731645|10 0206731645|");
    kp_directory_read_end(&txn);
}

//  each() gives every record; its lines, imported into a fresh folder,
//  give the same lines back.
static int s_format_line(const Kp__DirectoryRecord *record, void *arg)
{
    kp_jsonl_batch_t *batch = arg;
    char line[1024], err[256];
    size_t len = kp_jsonl_format(record, line, sizeof line);
    assert_true(len < sizeof line);
    Kp__DirectoryOp *op = kp_jsonl_parse(line, len, err, sizeof err);
    if (!op)
        fail_msg("each() gave a line that does not parse: %s (%s)", line, err);
    kp_jsonl_batch_add(batch, op);
    return 0;
}

static int s_text_line(const Kp__DirectoryRecord *record, void *arg)
{
    char **text = arg;
    char line[1024];
    kp_jsonl_format(record, line, sizeof line);
    size_t old = strlen(*text);
    *text = realloc(*text, old + strlen(line) + 2);
    strcpy(*text + old, line);
    strcat(*text, "\n");
    return 0;
}

static char *s_dump(kp_directory_t *dir)
{
    char *text = calloc(1, 1);
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    assert_int_equal(kp_directory_each(dir, txn, s_text_line, &text), 0);
    kp_directory_read_end(&txn);
    return text;
}

static void test_each_round_trip(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    assert_int_equal(kp_directory_each(self->dir, txn, s_format_line, batch), 0);
    kp_directory_read_end(&txn);
    assert_int_equal(kp_jsonl_batch_size(batch), S_BASE);

    char path[64], err[256];
    assert_int_equal(kp_test_tmpdir(path, sizeof path, "kp-dir2"), 0);
    kp_directory_t *copy = kp_directory_new(path, err, sizeof err);
    assert_non_null(copy);
    assert_int_equal(kp_directory_apply(copy, kp_jsonl_batch_update(batch), NULL, err, sizeof err),
                     0);
    char *a = s_dump(self->dir), *b = s_dump(copy);
    assert_string_equal(a, b);
    //  Every table shows up, in the documented order.
    const char *order[] = {"institution",  "user",   "authorization", "legal",
                           "availability", "person", "maintenance",   "key"};
    const char *at = a;
    for (size_t i = 0; i < 8; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "{\"table\":\"%s\"", order[i]);
        const char *found = strstr(at, needle);
        assert_non_null(found);
        at = found;
    }
    free(a);
    free(b);
    kp_jsonl_batch_destroy(&batch);
    kp_directory_destroy(&copy);
    kp_test_rmtree(path);
}

//  The key table: lookups, validity dates, the checks of a key record and
//  revocation by delete.
static void test_keys(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    MDB_txn *txn = kp_directory_read_begin(self->dir, NULL, 0);
    kp_key_view_t key;
    assert_int_equal(kp_directory_key(self->dir, txn, KEY_APP, &key), 0);
    assert_int_equal(key.kind, KP_KEY_APPLICATION);
    assert_string_equal(key.identity, "rsz-app");
    assert_true(kp_key_valid_on(&key, s_day("2020-01-01")));
    assert_true(kp_key_valid_on(&key, s_day("2030-12-31")));
    assert_false(kp_key_valid_on(&key, s_day("2019-12-31")));
    assert_false(kp_key_valid_on(&key, s_day("2031-01-01")));
    assert_int_equal(kp_directory_key(self->dir, txn, KEY_PROVIDER, &key), 0);
    assert_int_equal(key.kind, KP_KEY_PROVIDER);
    assert_string_equal(key.identity, "0411702543");
    assert_true(kp_key_valid_on(&key, s_day("9999-12-31"))); //  no `to`: no end
    assert_int_equal(kp_directory_key(self->dir, txn, "short", &key), -1);
    assert_int_equal(kp_directory_key(self->dir, txn, NULL, &key), -1);
    kp_directory_read_end(&txn);

    const char *bad[] = {
        //  not Z85 (a quote is not in its alphabet), too short
        "{\"table\":\"key\",\"key\":\"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\\\"\","
        "\"kind\":\"operator\",\"identity\":\"ops\",\"from\":\"2020-01-01\"}",
        "{\"table\":\"key\",\"key\":\"Yne@$w\",\"kind\":\"operator\",\"identity\":\"ops\","
        "\"from\":\"2020-01-01\"}",
        //  unknown kind, provider with no KBO, missing from, from after to
        "{\"table\":\"key\",\"key\":\"" KEY_APP "\",\"kind\":\"root\",\"identity\":\"ops\","
        "\"from\":\"2020-01-01\"}",
        "{\"table\":\"key\",\"key\":\"" KEY_APP "\",\"kind\":\"provider\",\"identity\":\"ops\","
        "\"from\":\"2020-01-01\"}",
        "{\"table\":\"key\",\"key\":\"" KEY_APP "\",\"kind\":\"operator\",\"identity\":\"ops\"}",
        "{\"table\":\"key\",\"key\":\"" KEY_APP "\",\"kind\":\"operator\",\"identity\":\"ops\","
        "\"from\":\"2021-01-01\",\"to\":\"2020-01-01\"}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Kp__DirectoryOp *op = kp_jsonl_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (op)
            fail_msg("bad key line %zu was accepted", i);
        assert_true(*err != 0);
    }

    //  revocation: a delete, after which the key is unknown
    APPLY_OK(self->dir, "{\"table\":\"key\",\"op\":\"delete\",\"key\":\"" KEY_APP "\"}");
    txn = kp_directory_read_begin(self->dir, NULL, 0);
    assert_int_equal(kp_directory_key(self->dir, txn, KEY_APP, &key), -1);
    kp_directory_read_end(&txn);
    assert_string_equal(kp_key_kind_name(KP_KEY_NODE), "node");
    assert_int_equal(kp_key_kind_from_name("operator"), KP_KEY_OPERATOR);
    assert_int_equal(kp_key_kind_from_name("nobody"), -1);
}

//  A writer: ops one at a time in one transaction; a refused op is skipped
//  and the rest kept; readers see nothing until commit; destroy without
//  commit leaves the directory as it was.
static Kp__DirectoryOp *s_op(const char *line)
{
    char err[256];
    Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(line), err, sizeof err);
    if (!op)
        fail_msg("test line does not parse: %s", err);
    return op;
}

static size_t s_persons(kp_directory_t *dir)
{
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    kp_directory_counts_t counts;
    assert_int_equal(kp_directory_counts(dir, txn, &counts), 0);
    kp_directory_read_end(&txn);
    return counts.persons;
}

static void test_writer(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    char err[256];
    kp_directory_writer_t *writer = kp_directory_writer_new(self->dir, err, sizeof err);
    assert_non_null(writer);
    Kp__DirectoryOp *put = s_op("{\"table\":\"person\",\"insz\":\"01010100225\",\"kbo\":"
                                "\"0411702543\",\"sector\":17,\"type\":1,\"capacity\":1,"
                                "\"from\":\"2019-01-01\",\"to\":\"9999-12-31\"}");
    Kp__DirectoryOp *absent = s_op("{\"op\":\"delete\",\"table\":\"user\",\"id\":\"nobody\"}");
    assert_int_equal(kp_directory_writer_apply(writer, put, err, sizeof err), 0);
    assert_int_equal(kp_directory_writer_apply(writer, absent, err, sizeof err), 1);
    assert_non_null(strstr(err, "cannot delete user 'nobody'"));
    assert_int_equal(kp_directory_writer_count(writer), 1);
    assert_int_equal(s_persons(self->dir), 4); //  not yet committed
    uint64_t seq = 0;
    assert_int_equal(kp_directory_writer_commit(&writer, &seq, err, sizeof err), 0);
    assert_null(writer);
    assert_int_equal(seq, 2);
    assert_int_equal(s_persons(self->dir), 5);
    //  Destroyed without commit: nothing of it stays, the lock is free.
    writer = kp_directory_writer_new(self->dir, err, sizeof err);
    Kp__DirectoryOp *del = s_op("{\"op\":\"delete\",\"table\":\"person\",\"insz\":\"01010100225\","
                                "\"kbo\":\"0411702543\",\"sector\":17,\"type\":1,\"capacity\":1,"
                                "\"from\":\"2019-01-01\",\"to\":\"9999-12-31\"}");
    assert_int_equal(kp_directory_writer_apply(writer, del, err, sizeof err), 0);
    kp_directory_writer_destroy(&writer);
    assert_null(writer);
    assert_int_equal(s_persons(self->dir), 5);
    assert_int_equal(kp_directory_seq(self->dir, NULL), 2);
    assert_int_equal(s_apply_op(self->dir, del, err, sizeof err), 0);
    assert_int_equal(s_persons(self->dir), 4);
    kp_jsonl_op_free(&put);
    kp_jsonl_op_free(&absent);
    kp_jsonl_op_free(&del);
}

//  A person entry of insz whose period ends on to, as a PUT or a DELETE.
static Kp__DirectoryOp *s_person_op(bool put, const char *insz, const char *to)
{
    char line[512];
    snprintf(line, sizeof line,
             "{%s\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"0411702543\",\"sector\":17,"
             "\"type\":1,\"capacity\":1,\"from\":\"2019-01-01\",\"to\":\"%s\"}",
             put ? "" : "\"op\":\"delete\",", insz, to);
    return s_op(line);
}

static int s_count_entry(const kp_person_entry_t *entry, void *arg)
{
    (void)entry;
    (*(size_t *)arg)++;
    return 0;
}

static size_t s_entries_of(kp_directory_t *dir, const char *insz)
{
    size_t count = 0;
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    kp_directory_person_each(dir, txn, insz, s_count_entry, &count);
    kp_directory_read_end(&txn);
    return count;
}

//  A sorted writer (a sorted import): entries in key order are appended
//  past the table's end; one before the end (the base's persons go on
//  past it), the same entry again, a delete of the last entry appended
//  and a later entry of the same person all still give what the ordinary
//  writer gives. kp_directory_op_order puts persons in (insz, entry)
//  order, after the institutions and before the keys.
static void test_sorted_writer(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    char err[256];
    struct {
        bool put;
        const char *insz, *to;
        int rc;
    } steps[] = {
        {true, "50010100156", "2030-01-01", 0},  //  before the base's persons: no append
        {true, "99123100168", "2030-01-01", 0},  //  past the end: appended
        {true, "99123100168", "2031-01-01", 0},  //  a later entry of the same person
        {true, "99123100168", "2031-01-01", 0},  //  the same entry again: nothing new
        {false, "99123100168", "2031-01-01", 0}, // the last appended, deleted
        {true, "99123100168", "2032-01-01", 0},  // after it again
        {false, "99123100366", "2030-01-01", 1}, // a delete of what is not there
        {true, "99123100564", "2030-01-01", 0},
    };
    size_t n = sizeof steps / sizeof steps[0];
    kp_directory_writer_t *writer = kp_directory_writer_new(self->dir, err, sizeof err);
    assert_non_null(writer);
    kp_directory_writer_sorted(writer);
    unsigned char key[KP_DIR_ORDER_MAX], before[KP_DIR_ORDER_MAX];
    size_t before_size = 0;
    for (size_t i = 0; i < n; i++) {
        Kp__DirectoryOp *op = s_person_op(steps[i].put, steps[i].insz, steps[i].to);
        size_t size = kp_directory_op_order(op, key);
        assert_true(size > 1 + 11 && size <= KP_DIR_ORDER_MAX);
        if (before_size) //  the steps are in key order
            assert_true(memcmp(before, key, size < before_size ? size : before_size) <= 0);
        memcpy(before, key, size);
        before_size = size;
        assert_int_equal(kp_directory_writer_apply(writer, op, err, sizeof err), steps[i].rc);
        kp_jsonl_op_free(&op);
    }
    uint64_t seq = 0;
    assert_int_equal(kp_directory_writer_commit(&writer, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(s_persons(self->dir), 4 + 4);
    assert_int_equal(s_entries_of(self->dir, "50010100156"), 1);
    assert_int_equal(s_entries_of(self->dir, "99123100168"), 2);
    assert_int_equal(s_entries_of(self->dir, "99123100564"), 1);
    //  Tables in order: an institution, then persons, then keys.
    Kp__DirectoryOp *inst =
        s_op("{\"table\":\"institution\",\"kbo\":\"0411702543\",\"name\":\"x\",\"sector\":1,"
             "\"type\":1}");
    Kp__DirectoryOp *person = s_person_op(true, "50010100156", "2030-01-01");
    unsigned char a[KP_DIR_ORDER_MAX], b[KP_DIR_ORDER_MAX];
    kp_directory_op_order(inst, a);
    kp_directory_op_order(person, b);
    assert_true(a[0] < b[0]);
    kp_jsonl_op_free(&inst);
    kp_jsonl_op_free(&person);
}

//  An import's batch applied once: sent again (its outcome unknown), it
//  is answered with the sequence it went in at and changes nothing; its
//  delete is not refused the second time; through the raft path too
//  (apply_at returns 2); another import's batch 1 is its own.
static void test_import_batch_once(void **state)
{
    s_fixture_t *self = *state;
    s_load_base(self->dir);
    Kp__DirectoryOp *del = s_op("{\"op\":\"delete\",\"table\":\"person\",\"insz\":\"01010100126\","
                                "\"kbo\":\"0411702543\",\"sector\":17,\"type\":1,\"capacity\":1,"
                                "\"from\":\"2019-01-01\",\"to\":\"9999-12-31\"}");
    Kp__DirectoryOp *ops[] = {del};
    uint8_t id[16] = {1, 2, 3}, other[16] = {9};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.ops = ops;
    update.n_ops = 1;
    update.has_import_id = update.has_batch = true;
    update.import_id = (ProtobufCBinaryData){sizeof id, id};
    update.batch = 1;
    char err[256];
    uint64_t seq = 0;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(s_persons(self->dir), 3);
    seq = 0;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(kp_directory_seq(self->dir, NULL), 2);
    assert_int_equal(kp_directory_apply_at(self->dir, &update, 7, &seq, err, sizeof err), 2);
    assert_int_equal(seq, 2);
    //  Batch 2 of it goes in; batch 1 after it is still not applied again.
    update.n_ops = 0;
    update.batch = 2;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 3);
    update.n_ops = 1;
    update.batch = 1;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 3); //  the import's last batch's
    assert_int_equal(kp_directory_seq(self->dir, NULL), 3);
    //  Another import's batch 1: its own, and refused (the record is gone).
    update.import_id.data = other;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), -1);
    assert_non_null(strstr(err, "op 1"));
    //  An id longer than 32 bytes is no id: the update is applied as any.
    uint8_t long_id[33] = {0};
    update.import_id = (ProtobufCBinaryData){sizeof long_id, long_id};
    update.n_ops = 0;
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(kp_directory_apply(self->dir, &update, &seq, err, sizeof err), 0);
    assert_int_equal(seq, 5);
    kp_jsonl_op_free(&del);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(kp_directory_new("/proc/version/dir", err, sizeof err));
    assert_non_null(strstr(err, "/proc/version/dir"));
    assert_null(kp_directory_new("", err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_and_seq, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_delete_semantics, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lookups, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_person_held_boundaries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_person_each, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replace_and_maintenance_ids, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_maintenance_each, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_writer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sorted_writer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_import_batch_once, s_setup, s_teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
