/*  test_register.c - the bis register and the register of the deleted on
    real LMDB (a directory in a fresh folder), through the directory's one
    update path: numbers, checks, bis allocation, corrections, merges,
    name search.

    Numbers are checked against a mod-97 of the test's own: digit by
    digit over the decimal text (the code under test works on a 64-bit
    integer), both centuries.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "directory.h"
#include "dirreport.h"
#include "jsonl.h"
#include "mutation.h"
#include "regmut.h"
#include "register.h"
#include "oldtable.h"
#include "testdir.h"

typedef struct {
    char path[64];
    kp_directory_t *dir;
    kp_register_tables_t tables;
    int hook_calls;
    kp_register_event_t last_event;
    char last_number[12];
} s_fixture_t;

static int s_hook(void *arg, MDB_txn *txn, kp_register_event_t event,
                  const Kp__RegisterEntry *before, const Kp__RegisterEntry *after, char *err,
                  size_t errlen)
{
    (void)txn, (void)before, (void)err, (void)errlen;
    s_fixture_t *self = arg;
    self->hook_calls++;
    self->last_event = event;
    snprintf(self->last_number, sizeof self->last_number, "%s", after->number);
    return 0;
}

static int s_setup(void **state)
{
    s_fixture_t *self = calloc(1, sizeof *self);
    if (!self || kp_test_dir_open(self->path, sizeof self->path, "kp-reg", &self->dir)) {
        free(self);
        return -1;
    }
    kp_directory_register_tables(self->dir, &self->tables);
    kp_directory_on_register_change(self->dir, s_hook, self);
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

//  The test's own mod 97: long division over the text.
static int s_mod97(const char *digits)
{
    int rest = 0;
    for (const char *p = digits; *p; p++)
        rest = (rest * 10 + (*p - '0')) % 97;
    return rest;
}

//  True if number is a valid INSZ for someone born in the given century.
static bool s_valid_for(const char *number, bool born_2000)
{
    char body[16];
    snprintf(body, sizeof body, "%s%.9s", born_2000 ? "2" : "", number);
    int check = (number[9] - '0') * 10 + (number[10] - '0');
    return 97 - s_mod97(body) == check;
}

//  Applies one JSON line as an update; 0 or -1 with err.
static int s_apply_line(s_fixture_t *self, const char *line, char *err, size_t errlen)
{
    Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(line), err, errlen);
    if (!op)
        return -1;
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = 1;
    update.ops = &op;
    int rc = kp_directory_apply(self->dir, &update, NULL, err, errlen);
    kp_jsonl_op_free(&op);
    return rc;
}

static int s_apply_change(s_fixture_t *self, Kp__RegisterChange *change, char *err, size_t errlen)
{
    kp_register_update_t update;
    kp_register_update_init(&update, change, "test");
    return kp_directory_apply(self->dir, &update.update, NULL, err, errlen);
}

//  Proposes a bis number; the number allocated into out, or -1.
static int s_bis(s_fixture_t *self, const char *name, const char *birth, const char *gender,
                 const char *proposal, char out[12])
{
    Kp__RegisterEntry entry = KP__REGISTER_ENTRY__INIT;
    entry.name = (char *)name;
    entry.given_names = "Jan";
    entry.birth_date = (char *)birth;
    entry.gender = (char *)gender;
    entry.proposal = (char *)proposal;
    entry.changed_on = "2026-11-30";
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.kind = KP__REGISTER_CHANGE__KIND__BIS;
    change.entry = &entry;
    char err[256];
    if (s_apply_change(self, &change, err, sizeof err)) {
        fprintf(stderr, "bis: %s\n", err);
        return -1;
    }
    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    int rc = kp_register_proposed(&self->tables, txn, proposal, out);
    kp_directory_read_end(&txn);
    return rc;
}

static void test_check_digits_both_centuries(void **state)
{
    (void)state;
    //  Every valid number the allocator can make checks out with the
    //  test's own arithmetic, for the century of its birth date.
    const char *dates[] = {"1931-02-28", "1999-12-31", "2000-01-01", "2024-02-29", "2099-06-15"};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        int32_t day;
        assert_int_equal(kp_date_parse(dates[i], &day), 0);
        bool born_2000 = dates[i][0] == '2';
        for (unsigned seq = 1; seq <= 998; seq += 37) {
            char number[12];
            char gender = seq % 2 ? 'M' : 'F';
            assert_int_equal(kp_register_bis_number(day, gender, seq, number), 0);
            assert_true(s_valid_for(number, born_2000));
            assert_true(kp_insz_valid(number));
            assert_int_equal((number[2] - '0') * 10 + (number[3] - '0'),
                             (dates[i][5] - '0') * 10 + (dates[i][6] - '0') + 40);
            assert_int_equal(kp_register_bis_number(day, 0, seq, number), 0);
            assert_true(s_valid_for(number, born_2000));
            int32_t back;
            bool bis, known;
            assert_int_equal(kp_register_number_info(number, &back, &bis, &known), 0);
            assert_int_equal(back, day);
            assert_true(bis);
            assert_false(known);
        }
    }
    int32_t day;
    kp_date_parse("1990-01-01", &day);
    char number[12];
    assert_int_equal(kp_register_bis_number(day, 'M', 2, number), -1); //  even: a woman's
    assert_int_equal(kp_register_bis_number(day, 'F', 999, number), -1);
}

static void test_put_checks(void **state)
{
    s_fixture_t *self = *state;
    char err[256];
    //  85073003328: born 1985-07-30, sequence 033 (a man).
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003328\",\"name\":"
                                  "\"Peeters\",\"given_names\":\"Jan\",\"birth_date\":"
                                  "\"1985-07-30\",\"gender\":\"M\",\"nationality\":\"BEL\"}",
                                  err, sizeof err),
                     0);
    assert_int_equal(self->hook_calls, 1);
    assert_int_equal(self->last_event, KP_REGISTER_CREATED);
    //  Refused: a birth date the number does not say, a gender its
    //  sequence does not say, a bad checksum, a bad nationality.
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003328\",\"name\":"
                                  "\"Peeters\",\"birth_date\":\"1985-07-31\"}",
                                  err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "does not match"));
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003328\",\"name\":"
                                  "\"Peeters\",\"gender\":\"F\"}",
                                  err, sizeof err),
                     -1);
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003329\",\"name\":"
                                  "\"Peeters\"}",
                                  err, sizeof err),
                     -1);
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003328\",\"name\":"
                                  "\"Peeters\",\"nationality\":\"be\"}",
                                  err, sizeof err),
                     -1);
    assert_int_equal(
        s_apply_line(
            self,
            "{\"table\":\"register\",\"changed_on\":\"2026-11-30\",\"op\":\"delete\",\"number\":"
            "\"85073003328\",\"name\":\"Peeters\"}",
            err, sizeof err),
        -1);
    //  Undated: refused when applied (the apply reads no clock).
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"number\":\"85073003328\","
                                  "\"name\":\"Peeters\"}",
                                  err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "changed_on"));
    assert_int_equal(self->hook_calls, 1);
    //  A PUT over it replaces it; its version goes on.
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"register\",\"changed_on\":\"2026-11-30\","
                                  "\"number\":\"85073003328\",\"name\":"
                                  "\"Peeters\",\"given_names\":\"Jan Karel\"}",
                                  err, sizeof err),
                     0);
    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    Kp__RegisterEntry *e = kp_register_get(&self->tables, txn, "85073003328");
    assert_non_null(e);
    assert_string_equal(e->given_names, "Jan Karel");
    assert_int_equal(e->version, 2);
    kp__register_entry__free_unpacked(e, NULL);
    kp_directory_read_end(&txn);
    assert_int_equal(self->last_event, KP_REGISTER_REPLACED);
}

static void test_bis_allocation(void **state)
{
    s_fixture_t *self = *state;
    char a[12], b[12], c[12], d[12], again[12];
    assert_int_equal(s_bis(self, "Dupont", "2003-04-05", "M", "p1", a), 0);
    assert_int_equal(s_bis(self, "Durand", "2003-04-05", "M", "p2", b), 0);
    assert_int_equal(s_bis(self, "Dumas", "2003-04-05", "F", "p3", c), 0);
    assert_int_equal(s_bis(self, "Dufour", "2003-04-05", NULL, "p4", d), 0);
    //  men odd (001, 003), a woman even (002), unknown gender month + 20
    assert_memory_equal(a, "034405001", 9);
    assert_memory_equal(b, "034405003", 9);
    assert_memory_equal(c, "034405002", 9);
    assert_memory_equal(d, "032405001", 9);
    const char *all[] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        assert_true(s_valid_for(all[i], true));
    //  The same proposal again (a retry): no second number.
    int calls = self->hook_calls;
    assert_int_equal(s_bis(self, "Dupont", "2003-04-05", "M", "p1", again), 0);
    assert_string_equal(again, a);
    assert_int_equal(self->hook_calls, calls);
}

static void test_correction_and_merge(void **state)
{
    s_fixture_t *self = *state;
    char keep[12], replace[12], err[256];
    assert_int_equal(s_bis(self, "Janssens", "1970-03-03", "F", "k", keep), 0);
    assert_int_equal(s_bis(self, "Jansens", "1970-03-03", "F", "r", replace), 0);
    //  replace is held by an institution: the merge moves its entry.
    char line[512];
    snprintf(line, sizeof line,
             "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"0411702543\",\"sector\":17,"
             "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
             replace);
    assert_int_equal(s_apply_line(self, line, err, sizeof err), 0);

    Kp__RegisterEntry fix = KP__REGISTER_ENTRY__INIT;
    fix.number = replace;
    fix.address = "Wetstraat 1, 1000 Brussel";
    fix.changed_on = "2026-11-30";
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.kind = KP__REGISTER_CHANGE__KIND__CORRECTION;
    change.entry = &fix;
    assert_int_equal(s_apply_change(self, &change, err, sizeof err), 0);
    assert_int_equal(self->last_event, KP_REGISTER_CORRECTED);
    //  A correction of the birth date the number does not say: refused.
    fix.address = NULL;
    fix.birth_date = "1970-03-04";
    assert_int_equal(s_apply_change(self, &change, err, sizeof err), -1);

    Kp__RegisterEntry which = KP__REGISTER_ENTRY__INIT;
    which.number = replace;
    which.changed_on = "2026-11-30";
    change.kind = KP__REGISTER_CHANGE__KIND__MERGE;
    change.entry = &which;
    change.keep = keep;
    assert_int_equal(s_apply_change(self, &change, err, sizeof err), 0);
    assert_int_equal(self->last_event, KP_REGISTER_MERGED);
    //  Twice: refused (it is replaced already); a correction of it too.
    assert_int_equal(s_apply_change(self, &change, err, sizeof err), -1);
    assert_non_null(strstr(err, "replaced"));

    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    char now[12];
    assert_int_equal(kp_register_resolve(&self->tables, txn, replace, now), 0);
    assert_string_equal(now, keep);
    assert_true(kp_directory_person_held(self->dir, txn, keep, 17, 1, 1, 20000));
    assert_false(kp_directory_person_held(self->dir, txn, replace, 17, 1, 1, 20000));
    Kp__RegisterEntry *e = kp_register_get(&self->tables, txn, replace);
    assert_string_equal(e->replaced_by, keep);
    assert_string_equal(e->address, "Wetstraat 1, 1000 Brussel");
    kp__register_entry__free_unpacked(e, NULL);
    //  A search no longer offers the replaced one.
    kp_register_candidate_t found[4];
    int32_t day;
    kp_date_parse("1970-03-03", &day);
    size_t n = kp_register_search(&self->tables, txn, "Janssens", NULL, day, 0.5, found, 4);
    assert_int_equal(n, 1);
    assert_string_equal(found[0].number, keep);
    kp_directory_read_end(&txn);
}

//  Merges replace into keep; 0 or -1 (with the reason on stderr).
static int s_merge(s_fixture_t *self, const char *replace, const char *keep)
{
    Kp__RegisterEntry which = KP__REGISTER_ENTRY__INIT;
    which.number = (char *)replace;
    which.changed_on = "2026-11-30";
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.kind = KP__REGISTER_CHANGE__KIND__MERGE;
    change.entry = &which;
    change.keep = (char *)keep;
    char err[256];
    int rc = s_apply_change(self, &change, err, sizeof err);
    if (rc)
        fprintf(stderr, "merge: %s\n", err);
    return rc;
}

static bool s_has(char (*list)[12], size_t count, const char *number)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(list[i], number))
            return true;
    return false;
}

static int s_copy_line(const char *line, size_t len, void *arg)
{
    s_fixture_t *copy = arg;
    char text[1024], err[256];
    snprintf(text, sizeof text, "%.*s", (int)len, line);
    int rc = s_apply_line(copy, text, err, sizeof err);
    if (rc)
        fprintf(stderr, "import of the export: %s\n", err);
    return rc;
}

//  The reverse index of replaced_by: two merges into n, then a chain
//  m2 -> m3 -> n; kept by the merge's own transaction, read by
//  kp_register_replaced/_all/_family and 'register show', and rebuilt by
//  an import of the export (what a fresh node or a restore gets).
static void test_replaced_reverse_index(void **state)
{
    s_fixture_t *self = *state;
    char n[12], m1[12], m2[12], m3[12], m4[12], err[256];
    assert_int_equal(s_bis(self, "Peeters", "1980-05-05", "M", "n", n), 0);
    assert_int_equal(s_bis(self, "Peters", "1980-05-05", "M", "m1", m1), 0);
    assert_int_equal(s_bis(self, "Pieters", "1980-05-05", "M", "m2", m2), 0);
    assert_int_equal(s_bis(self, "Peetres", "1980-05-05", "M", "m3", m3), 0);
    assert_int_equal(s_bis(self, "Peeter", "1980-05-05", "M", "m4", m4), 0);
    assert_int_equal(s_merge(self, m1, n), 0);
    assert_int_equal(s_merge(self, m4, n), 0);
    assert_int_equal(s_merge(self, m2, m3), 0);
    assert_int_equal(s_merge(self, m3, n), 0);

    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    char found[KP_REGISTER_MAX_FAMILY][12];
    //  Directly into n: m1, m3, m4 (number order); m2 only through m3.
    assert_int_equal(kp_register_replaced(&self->tables, txn, n, found, 8), 3);
    assert_false(s_has(found, 3, m2));
    assert_int_equal(kp_register_replaced(&self->tables, txn, m3, found, 8), 1);
    assert_string_equal(found[0], m2);
    assert_int_equal(kp_register_replaced(&self->tables, txn, m1, found, 8), 0);
    size_t all = kp_register_replaced_all(&self->tables, txn, n, found, KP_REGISTER_MAX_FAMILY);
    assert_int_equal(all, 4);
    const char *numbers[] = {m1, m2, m3, m4};
    for (size_t i = 0; i < 4; i++)
        assert_true(s_has(found, all, numbers[i]));
    //  The family of any of them: n first, then all five.
    size_t family = kp_register_family(&self->tables, txn, m2, found, KP_REGISTER_MAX_FAMILY);
    assert_int_equal(family, 5);
    assert_string_equal(found[0], n);
    //  A number the register does not hold: itself alone.
    assert_int_equal(kp_register_family(&self->tables, txn, "85073003328", found, 4), 1);
    assert_string_equal(found[0], "85073003328");
    //  register show: the replaced numbers, chain included.
    char *text = kp_dirreport_register(self->dir, txn, n);
    assert_non_null(text);
    for (size_t i = 0; i < 4; i++)
        assert_non_null(strstr(text, numbers[i]));
    free(text);
    text = kp_dirreport_register(self->dir, txn, m3);
    assert_non_null(strstr(text, "\"replaces\":[\""));
    assert_non_null(strstr(text, m2));
    free(text);

    //  An import of the export builds the same index.
    s_fixture_t *copy = NULL;
    assert_int_equal(s_setup((void **)&copy), 0);
    assert_int_equal(kp_dirreport_export_each(self->dir, txn, s_copy_line, copy), 0);
    kp_directory_read_end(&txn);
    txn = kp_directory_read_begin(copy->dir, err, sizeof err);
    assert_int_equal(kp_register_replaced_all(&copy->tables, txn, n, found, 8), 4);
    kp_directory_read_end(&txn);
    s_teardown((void **)&copy);

    //  A directory of a version before the index: built when opened.
    kp_directory_destroy(&self->dir);
    assert_int_equal(kp_test_old_table(self->path, "register_replaced", false), 0);
    self->dir = kp_directory_new(self->path, err, sizeof err);
    assert_non_null(self->dir);
    kp_directory_register_tables(self->dir, &self->tables);
    txn = kp_directory_read_begin(self->dir, err, sizeof err);
    assert_int_equal(kp_register_replaced_all(&self->tables, txn, n, found, 8), 4);
    kp_directory_read_end(&txn);
}

static void test_search_accents_typos(void **state)
{
    s_fixture_t *self = *state;
    char a[12], b[12], c[12];
    assert_int_equal(s_bis(self, "Müller-Lüdenscheidt", "1980-05-05", "M", "a", a), 0);
    assert_int_equal(s_bis(self, "Van den Berghe", "1980-05-05", "M", "b", b), 0);
    assert_int_equal(s_bis(self, "Økland", "1980-05-05", "M", "c", c), 0);
    char err[128];
    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    int32_t day;
    kp_date_parse("1980-05-05", &day);
    kp_register_candidate_t found[4];
    //  Case and accents do not count; one typo costs a little.
    size_t n =
        kp_register_search(&self->tables, txn, "MULLER LUDENSCHEIDT", NULL, day, 0.7, found, 4);
    assert_int_equal(n, 1);
    assert_string_equal(found[0].number, a);
    assert_true(found[0].score > 0.99);
    n = kp_register_search(&self->tables, txn, "vandenbreghe", NULL, day, 0.7, found, 4);
    assert_int_equal(n, 1);
    assert_string_equal(found[0].number, b);
    assert_true(found[0].score < 1 && found[0].score > 0.85);
    n = kp_register_search(&self->tables, txn, "okland", NULL, day, 0.7, found, 4);
    assert_int_equal(n, 1);
    assert_string_equal(found[0].number, c);
    //  Another birth date finds nobody.
    n = kp_register_search(&self->tables, txn, "okland", NULL, day + 1, 0.1, found, 4);
    assert_int_equal(n, 0);
    kp_directory_read_end(&txn);
    assert_true(kp_register_similarity("Éloïse", "eloise") > 0.99);
    assert_true(kp_register_similarity("Peeters", "Peteers") > 0.8); //  a transposition
}

//  Each change becomes a mutation for the institutions that hold the
//  person in a capacity authorized for register.change.
static void test_changes_become_mutations(void **state)
{
    s_fixture_t *self = *state;
    kp_regmut_t *regmut = kp_regmut_new(self->dir, "0367303762");
    assert_non_null(regmut);
    char err[256], keep[12], replace[12];
    assert_int_equal(s_apply_line(self,
                                  "{\"table\":\"authorization\",\"sector\":17,\"type\":1,"
                                  "\"capacity\":1,\"message\":\"register.change\"}",
                                  err, sizeof err),
                     0);
    assert_int_equal(s_bis(self, "Claes", "1961-01-01", "M", "m1", keep), 0);
    assert_int_equal(s_bis(self, "Claeys", "1961-01-01", "M", "m2", replace), 0);
    assert_int_equal(kp_regmut_count(regmut), 2); //  nobody held them yet: queued for none
    char line[512];
    snprintf(line, sizeof line,
             "{\"table\":\"person\",\"insz\":\"%s\",\"kbo\":\"0411702543\",\"sector\":17,"
             "\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}",
             replace);
    assert_int_equal(s_apply_line(self, line, err, sizeof err), 0);
    Kp__RegisterEntry which = KP__REGISTER_ENTRY__INIT;
    which.number = replace;
    which.changed_on = "2026-11-30";
    Kp__RegisterChange change = KP__REGISTER_CHANGE__INIT;
    change.has_kind = true;
    change.kind = KP__REGISTER_CHANGE__KIND__MERGE;
    change.entry = &which;
    change.keep = keep;
    assert_int_equal(s_apply_change(self, &change, err, sizeof err), 0);
    assert_int_equal(kp_regmut_count(regmut), 3);
    MDB_txn *txn = kp_directory_read_begin(self->dir, err, sizeof err);
    kp_mutation_queue_t queue;
    assert_int_equal(kp_mutation_queue(self->dir, txn, "0411702543", &queue), 0);
    assert_int_equal(queue.pending, 1);
    kp_directory_read_end(&txn);
    kp_directory_destroy(&self->dir); //  before the hook it calls
    kp_regmut_destroy(&regmut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_digits_both_centuries),
        cmocka_unit_test_setup_teardown(test_put_checks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bis_allocation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_correction_and_merge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replaced_reverse_index, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_search_accents_typos, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changes_become_mutations, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
