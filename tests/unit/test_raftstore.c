/*  test_raftstore.c - raft's persistent state in real LMDB: bootstrap,
    term and vote, append, truncate, load after reopen, snapshots with and
    without trailing entries, group commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raftstore.h"
#include "tmpdir.h"

typedef struct {
    char dir[128];
    char path[200];
    kp_raftstore_t *store;
} s_fixture_t;

static int s_setup(void **state)
{
    s_fixture_t *self = calloc(1, sizeof *self);
    if (!self)
        return -1;
    if (kp_test_tmpdir(self->dir, sizeof self->dir, "kp-raftstore") == 0) {
        char err[256];
        snprintf(self->path, sizeof self->path, "%s/raft", self->dir);
        self->store = kp_raftstore_new(self->path, err, sizeof err);
    }
    if (!self->store) {
        free(self);
        return -1;
    }
    *state = self;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *self = *state;
    kp_raftstore_destroy(&self->store);
    kp_test_rmtree(self->dir);
    free(self);
    return 0;
}

static void s_reopen(s_fixture_t *self)
{
    char err[256];
    kp_raftstore_destroy(&self->store);
    self->store = kp_raftstore_new(self->path, err, sizeof err);
    assert_non_null(self->store);
}

//  Appends entries first..last (term = index / 10 + 1, data "entry N").
static void s_append(s_fixture_t *self, unsigned first, unsigned last)
{
    char err[256], data[32];
    for (unsigned i = first; i <= last; i++) {
        snprintf(data, sizeof data, "entry %u", i);
        struct raft_entry entry = {
            .term = i / 10 + 1, .type = RAFT_COMMAND, .buf = {data, strlen(data)}};
        assert_int_equal(kp_raftstore_append(self->store, &entry, 1, err, sizeof err), 0);
    }
}

typedef struct {
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snapshot;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
} s_loaded_t;

static void s_load(s_fixture_t *self, s_loaded_t *out)
{
    char err[256];
    assert_int_equal(kp_raftstore_load(self->store, &out->term, &out->vote, &out->snapshot,
                                       &out->start, &out->entries, &out->n, err, sizeof err),
                     0);
}

static void s_loaded_free(s_loaded_t *loaded)
{
    if (loaded->n)
        raft_free(loaded->entries[0].batch);
    raft_free(loaded->entries);
    kp_raftstore_snapshot_free(&loaded->snapshot);
}

//  Entry i of a load holds "entry N" with N its index.
static void s_check_entries(const s_loaded_t *loaded, raft_index first, size_t n)
{
    assert_int_equal(loaded->start, first);
    assert_int_equal(loaded->n, n);
    char data[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(data, sizeof data, "entry %llu", first + i);
        assert_int_equal(loaded->entries[i].buf.len, strlen(data));
        assert_memory_equal(loaded->entries[i].buf.base, data, strlen(data));
        assert_int_equal(loaded->entries[i].term, (first + i) / 10 + 1);
        assert_non_null(loaded->entries[i].batch);
    }
}

static void test_bootstrap(void **state)
{
    s_fixture_t *self = *state;
    char err[256];
    assert_true(kp_raftstore_pristine(self->store));
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, "node-1", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&conf, 2, "node-2", RAFT_STANDBY), 0);
    assert_int_equal(kp_raftstore_bootstrap(self->store, &conf, err, sizeof err), 0);
    assert_false(kp_raftstore_pristine(self->store));
    assert_int_equal(kp_raftstore_bootstrap(self->store, &conf, err, sizeof err), -1);
    raft_configuration_close(&conf);
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    assert_int_equal(loaded.term, 1);
    assert_int_equal(loaded.vote, 0);
    assert_null(loaded.snapshot);
    assert_int_equal(loaded.start, 1);
    assert_int_equal(loaded.n, 1);
    assert_int_equal(loaded.entries[0].type, RAFT_CHANGE);
    assert_int_equal(kp_raftstore_next_index(self->store), 2);
    s_loaded_free(&loaded);
}

static void test_term_and_vote(void **state)
{
    s_fixture_t *self = *state;
    char err[256];
    assert_int_equal(kp_raftstore_set_term(self->store, 7, err, sizeof err), 0);
    assert_int_equal(kp_raftstore_set_vote(self->store, 3, err, sizeof err), 0);
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    assert_int_equal(loaded.term, 7);
    assert_int_equal(loaded.vote, 3);
    s_loaded_free(&loaded);
    //  A new term forgets the vote.
    assert_int_equal(kp_raftstore_set_term(self->store, 8, err, sizeof err), 0);
    s_reopen(self);
    s_load(self, &loaded);
    assert_int_equal(loaded.term, 8);
    assert_int_equal(loaded.vote, 0);
    s_loaded_free(&loaded);
}

static void test_append_truncate_reload(void **state)
{
    s_fixture_t *self = *state;
    char err[256];
    s_append(self, 1, 30);
    assert_int_equal(kp_raftstore_next_index(self->store), 31);
    assert_int_equal(kp_raftstore_truncate(self->store, 21, err, sizeof err), 0);
    assert_int_equal(kp_raftstore_next_index(self->store), 21);
    s_append(self, 21, 25);
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    s_check_entries(&loaded, 1, 25);
    s_loaded_free(&loaded);
    //  A truncation of everything.
    assert_int_equal(kp_raftstore_truncate(self->store, 1, err, sizeof err), 0);
    s_reopen(self);
    s_load(self, &loaded);
    assert_int_equal(loaded.n, 0);
    s_loaded_free(&loaded);
    assert_int_equal(kp_raftstore_next_index(self->store), 1);
}

static void test_group_commit(void **state)
{
    s_fixture_t *self = *state;
    char err[256];
    s_append(self, 1, 5);
    assert_int_equal(kp_raftstore_batch_begin(self->store, err, sizeof err), 0);
    s_append(self, 6, 10);
    assert_int_equal(kp_raftstore_truncate(self->store, 9, err, sizeof err), 0);
    s_append(self, 9, 12);
    assert_int_equal(kp_raftstore_set_term(self->store, 4, err, sizeof err), 0);
    assert_int_equal(kp_raftstore_batch_commit(self->store, err, sizeof err), 0);
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    s_check_entries(&loaded, 1, 12);
    assert_int_equal(loaded.term, 4);
    s_loaded_free(&loaded);
}

static void s_snapshot_put(s_fixture_t *self, raft_index index, unsigned trailing, const char *data)
{
    char err[256];
    struct raft_snapshot snapshot = {.index = index, .term = index / 10 + 1};
    raft_configuration_init(&snapshot.configuration);
    raft_configuration_add(&snapshot.configuration, 1, "node-1", RAFT_VOTER);
    raft_configuration_add(&snapshot.configuration, 2, "node-2@tcp://127.0.0.1:9", RAFT_VOTER);
    snapshot.configuration_index = 1;
    //  Two buffers: the store joins them.
    size_t half = strlen(data) / 2;
    struct raft_buffer bufs[2] = {{(void *)data, half},
                                  {(void *)(data + half), strlen(data) - half}};
    snapshot.bufs = bufs;
    snapshot.n_bufs = 2;
    assert_int_equal(kp_raftstore_snapshot_put(self->store, trailing, &snapshot, err, sizeof err),
                     0);
    raft_configuration_close(&snapshot.configuration);
}

static void test_snapshot_trailing(void **state)
{
    s_fixture_t *self = *state;
    s_append(self, 1, 40);
    s_snapshot_put(self, 30, 5, "manifest at thirty");
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    assert_non_null(loaded.snapshot);
    assert_int_equal(loaded.snapshot->index, 30);
    assert_int_equal(loaded.snapshot->term, 4);
    assert_int_equal(loaded.snapshot->configuration.n, 2);
    assert_string_equal(loaded.snapshot->configuration.servers[1].address,
                        "node-2@tcp://127.0.0.1:9");
    assert_int_equal(loaded.snapshot->n_bufs, 1);
    assert_int_equal(loaded.snapshot->bufs[0].len, strlen("manifest at thirty"));
    assert_memory_equal(loaded.snapshot->bufs[0].base, "manifest at thirty", 18);
    //  Five trailing entries before the snapshot stay, and those after it.
    s_check_entries(&loaded, 26, 15);
    s_loaded_free(&loaded);
    assert_int_equal(kp_raftstore_next_index(self->store), 41);
    struct raft_snapshot *got;
    char err[256];
    assert_int_equal(kp_raftstore_snapshot_get(self->store, &got, err, sizeof err), 0);
    assert_int_equal(got->index, 30);
    kp_raftstore_snapshot_free(&got);
}

static void test_snapshot_replaces_log(void **state)
{
    s_fixture_t *self = *state;
    s_append(self, 1, 12);
    //  An installed snapshot (trailing 0) ahead of the log replaces it all.
    s_snapshot_put(self, 50, 0, "installed");
    assert_int_equal(kp_raftstore_next_index(self->store), 51);
    s_append(self, 51, 53);
    s_reopen(self);
    s_loaded_t loaded;
    s_load(self, &loaded);
    assert_int_equal(loaded.snapshot->index, 50);
    s_check_entries(&loaded, 51, 3);
    s_loaded_free(&loaded);
    assert_false(kp_raftstore_pristine(self->store));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bootstrap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_term_and_vote, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_append_truncate_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_trailing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_replaces_log, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
