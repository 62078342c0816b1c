/*  test_mutation.c - mutations, their fan-out and the queues, on real
    LMDB files with the sample directory (cluster-config/).

    Sample persons: 85073003328 is held by OCMW Gent (31/0, capacity 1),
    RSZ (25/0, capacity 2), RVA (17/0, 1), ACV (17/1, 1) and CM (6/1, 1);
    U1 is authorized for (31/0/1), (6/1/1) and (25/0/2), not for RVA's
    (17/0/1). 62110528769 is held by CM from 1980 and by RSZ until
    2022-12-31.
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
#include "jsonl.h"
#include "mutation.h"
#include "oldtable.h"
#include "testdir.h"

#define ACV "0411702543"
#define CM "0411766483"
#define RSZ "0206731645"
#define GENT "0207437468"
#define RVA "0206737484"

typedef struct {
    char path[64];
    kp_directory_t *dir;
} s_fixture_t;

static void s_load_sample(kp_directory_t *dir)
{
    char file[4096], err[512];
    const char *root = getenv("KP_SOURCE_ROOT");
    snprintf(file, sizeof file, "%s/cluster-config/sample-directory.jsonl", root ? root : ".");
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    kp_jsonl_reader_t *reader = kp_jsonl_reader_new(f);
    kp_directory_writer_t *writer = kp_directory_writer_new(dir, err, sizeof err);
    assert_non_null(writer);
    Kp__DirectoryOp *op;
    kp_jsonl_status_t status;
    while ((status = kp_jsonl_reader_next(reader, &op, err, sizeof err)) != KP_JSONL_END) {
        assert_int_equal(status, KP_JSONL_RECORD);
        assert_int_equal(kp_directory_writer_apply(writer, op, err, sizeof err), 0);
        kp_jsonl_op_free(&op);
    }
    assert_int_equal(kp_directory_writer_commit(&writer, NULL, err, sizeof err), 0);
    kp_jsonl_reader_destroy(&reader);
    fclose(f);
}

static int s_setup(void **state)
{
    s_fixture_t *self = calloc(1, sizeof *self);
    if (!self || kp_test_dir_open(self->path, sizeof self->path, "kp-mut", &self->dir)) {
        free(self);
        return -1;
    }
    s_load_sample(self->dir);
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

static Kp__Mutation s_mutation(const char *id, const char *person, const char *message,
                               const char *date, uint64_t time_ms)
{
    Kp__Mutation m = KP__MUTATION__INIT;
    m.id = (char *)id;
    m.person = (char *)person;
    m.message = (char *)message;
    m.date = (char *)date;
    m.origin = ACV;
    m.has_payload = true;
    m.payload.data = (uint8_t *)"changed";
    m.payload.len = 7;
    m.has_time_unix_ms = true;
    m.time_unix_ms = time_ms;
    return m;
}

//  Applies one update carrying mutations, acks and replays. 0 or apply's rc.
static int s_apply(kp_directory_t *dir, Kp__Mutation **mutations, size_t n,
                   Kp__MutationQueueAck **acks, size_t n_acks, Kp__MutationReplay **replays,
                   size_t n_replays)
{
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.mutations = mutations;
    update.n_mutations = n;
    update.acks = acks;
    update.n_acks = n_acks;
    update.replays = replays;
    update.n_replays = n_replays;
    char err[512] = "";
    int rc = kp_directory_apply(dir, &update, NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "apply: %s\n", err);
    return rc;
}

static kp_mutation_queue_t s_queue(kp_directory_t *dir, const char *kbo)
{
    kp_mutation_queue_t q;
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    assert_non_null(txn);
    if (kp_mutation_queue(dir, txn, kbo, &q))
        memset(&q, 0, sizeof q);
    kp_directory_read_end(&txn);
    return q;
}

static void s_ack(kp_directory_t *dir, const char *kbo, uint64_t *seqs, size_t n)
{
    Kp__MutationQueueAck ack = KP__MUTATION_QUEUE_ACK__INIT;
    ack.kbo = (char *)kbo;
    ack.seqs = seqs;
    ack.n_seqs = n;
    Kp__MutationQueueAck *acks[] = {&ack};
    assert_int_equal(s_apply(dir, NULL, 0, acks, 1, NULL, 0), 0);
}

static void test_fanout(void **state)
{
    s_fixture_t *self = *state;
    Kp__Mutation m = s_mutation("c1", "85073003328", "U1", "2024-01-01", 1000);
    Kp__Mutation *list[] = {&m};
    assert_int_equal(s_apply(self->dir, list, 1, NULL, 0, NULL, 0), 0);
    //  Authorized capacity: OCMW Gent, CM, RSZ; RVA's capacity is not
    //  authorized for U1; ACV is the origin.
    assert_int_equal(s_queue(self->dir, GENT).pending, 1);
    assert_int_equal(s_queue(self->dir, CM).pending, 1);
    assert_int_equal(s_queue(self->dir, RSZ).pending, 1);
    assert_int_equal(s_queue(self->dir, RVA).enqueued, 0);
    assert_int_equal(s_queue(self->dir, ACV).enqueued, 0);
    //  The same id again: a duplicate, not queued twice.
    assert_int_equal(s_apply(self->dir, list, 1, NULL, 0, NULL, 0), 0);
    assert_int_equal(s_queue(self->dir, CM).enqueued, 1);
    //  An entry that ended before the change date: RSZ receives nothing.
    Kp__Mutation late = s_mutation("c2", "62110528769", "U1", "2023-06-01", 2000);
    Kp__Mutation early = s_mutation("c3", "62110528769", "U1", "2020-06-01", 3000);
    Kp__Mutation *two[] = {&late, &early};
    assert_int_equal(s_apply(self->dir, two, 2, NULL, 0, NULL, 0), 0);
    assert_int_equal(s_queue(self->dir, CM).enqueued, 3);
    assert_int_equal(s_queue(self->dir, RSZ).enqueued, 2);
    //  A person nobody holds: nobody.
    Kp__Mutation none = s_mutation("c4", "90010100123", "U1", "2024-01-01", 4000);
    Kp__Mutation *one[] = {&none};
    assert_int_equal(s_apply(self->dir, one, 1, NULL, 0, NULL, 0), 0);
    assert_int_equal(s_queue(self->dir, CM).enqueued, 3);
}

static void test_refused(void **state)
{
    s_fixture_t *self = *state;
    Kp__Reason reason;
    char err[256];
    Kp__Mutation m = s_mutation("", "85073003328", "U1", "2024-01-01", 1);
    assert_int_equal(kp_mutation_check(&m, 100, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__INVALID_MUTATION_ID);
    m = s_mutation("id with space", "85073003328", "U1", "2024-01-01", 1);
    assert_int_equal(kp_mutation_check(&m, 100, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__INVALID_MUTATION_ID);
    m = s_mutation("x", "85073003329", "U1", "2024-01-01", 1);
    assert_int_equal(kp_mutation_check(&m, 100, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__INVALID_INSZ);
    m = s_mutation("x", "85073003328", "U1", "2024-13-01", 1);
    assert_int_equal(kp_mutation_check(&m, 100, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__INVALID_DATE);
    m = s_mutation("x", "85073003328", "U1", "2024-01-01", 1);
    assert_int_equal(kp_mutation_check(&m, 3, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__PAYLOAD_TOO_LARGE);
    m.origin = "0411702544";
    assert_int_equal(kp_mutation_check(&m, 100, &reason, err, sizeof err), -1);
    assert_int_equal(reason, KP__REASON__INVALID_KBO);
    //  Refused when applied too, and nothing of the update is kept.
    Kp__Mutation good = s_mutation("g", "85073003328", "U1", "2024-01-01", 1);
    Kp__Mutation *list[] = {&good, &m};
    assert_int_equal(s_apply(self->dir, list, 2, NULL, 0, NULL, 0), -1);
    assert_int_equal(s_queue(self->dir, CM).enqueued, 0);
}

typedef struct {
    uint64_t seqs[64];
    bool acked[64];
    char ids[64][16];
    size_t count;
} s_items_t;

static int s_collect(const kp_mutation_item_t *item, void *arg)
{
    s_items_t *items = arg;
    items->seqs[items->count] = item->seq;
    items->acked[items->count] = item->acked;
    snprintf(items->ids[items->count], 16, "%s", item->entry->mutation->id);
    items->count++;
    return 0;
}

static s_items_t s_items(kp_directory_t *dir, const char *kbo)
{
    s_items_t items = {0};
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    assert_int_equal(kp_mutation_items_each(dir, txn, kbo, 1, s_collect, &items), 0);
    kp_directory_read_end(&txn);
    return items;
}

static void test_acks_and_replay(void **state)
{
    s_fixture_t *self = *state;
    char ids[5][8];
    Kp__Mutation m[5], *list[5];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "m%d", i + 1);
        m[i] = s_mutation(ids[i], "85073003328", "U1", "2024-01-01", 1000 * (uint64_t)(i + 1));
        list[i] = &m[i];
    }
    assert_int_equal(s_apply(self->dir, list, 5, NULL, 0, NULL, 0), 0);
    s_items_t items = s_items(self->dir, CM);
    assert_int_equal(items.count, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(items.seqs[i], i + 1);
        assert_string_equal(items.ids[i], ids[i]);
        assert_false(items.acked[i]);
    }
    //  Out of order: 2 and 3 first; the head stays at 1.
    uint64_t a[] = {2, 3, 3, 99};
    s_ack(self->dir, CM, a, 4);
    kp_mutation_queue_t q = s_queue(self->dir, CM);
    assert_int_equal(q.head, 1);
    assert_int_equal(q.acked, 2);
    assert_int_equal(q.pending, 3);
    //  1 moves the head over 1, 2, 3; acking 2 again counts nothing.
    uint64_t b[] = {1, 2};
    s_ack(self->dir, CM, b, 2);
    q = s_queue(self->dir, CM);
    assert_int_equal(q.head, 4);
    assert_int_equal(q.acked, 3);
    assert_int_equal(q.pending, 2);
    items = s_items(self->dir, CM);
    assert_true(items.acked[0] && items.acked[2] && !items.acked[3]);
    uint64_t c[] = {5};
    s_ack(self->dir, CM, c, 1);
    //  Replay from the time of m2: 2, 3 and 5 come back (4 is pending).
    Kp__MutationReplay replay = KP__MUTATION_REPLAY__INIT;
    replay.kbo = CM;
    replay.has_from_unix_ms = true;
    replay.from_unix_ms = 2000;
    Kp__MutationReplay *replays[] = {&replay};
    assert_int_equal(s_apply(self->dir, NULL, 0, NULL, 0, replays, 1), 0);
    q = s_queue(self->dir, CM);
    assert_int_equal(q.head, 2);
    assert_int_equal(q.pending, 4);
    assert_int_equal(q.replays, 3);
    items = s_items(self->dir, CM);
    assert_true(items.acked[0]);
    for (int i = 1; i < 5; i++)
        assert_false(items.acked[i]);
    //  Other queues untouched.
    assert_int_equal(s_queue(self->dir, GENT).pending, 5);
}

static void s_prune(kp_directory_t *dir, uint64_t before, uint32_t max)
{
    Kp__MutationPrune prune = KP__MUTATION_PRUNE__INIT;
    prune.has_before_unix_ms = prune.has_max = true;
    prune.before_unix_ms = before;
    prune.max = max;
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.prune = &prune;
    char err[512] = "";
    assert_int_equal(kp_directory_apply(dir, &update, NULL, err, sizeof err), 0);
}

static bool s_prunable(kp_directory_t *dir, uint64_t before)
{
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    bool prunable = kp_mutation_prunable(dir, txn, before);
    kp_directory_read_end(&txn);
    return prunable;
}

static bool s_published(kp_directory_t *dir, const char *id)
{
    MDB_txn *txn = kp_directory_read_begin(dir, NULL, 0);
    bool published = kp_mutation_published(dir, txn, ACV, id, NULL) == 0;
    kp_directory_read_end(&txn);
    return published;
}

//  A prune removes the acknowledged entries and the ids queued before its
//  cutoff, oldest first, at most max of each; never an unacknowledged
//  entry; a replay then starts at the first entry kept; an id pruned is
//  a new change when published again, one kept is still a duplicate.
static void test_prune(void **state)
{
    s_fixture_t *self = *state;
    char ids[6][8];
    Kp__Mutation m[6], *list[6];
    for (int i = 0; i < 6; i++) {
        snprintf(ids[i], sizeof ids[i], "m%d", i + 1);
        m[i] = s_mutation(ids[i], "85073003328", "U1", "2024-01-01", 1000 * (uint64_t)(i + 1));
        list[i] = &m[i];
    }
    assert_int_equal(s_apply(self->dir, list, 6, NULL, 0, NULL, 0), 0);
    assert_false(s_prunable(self->dir, 1000)); //  nothing queued before 1000
    assert_true(s_prunable(self->dir, 3500));  //  ids m1..m3
    uint64_t a[] = {1, 2, 3, 4};
    s_ack(self->dir, CM, a, 4);
    //  max 1: one entry (CM's first) and one id (m1).
    s_prune(self->dir, 3500, 1);
    kp_mutation_queue_t q = s_queue(self->dir, CM);
    assert_int_equal(q.pruned, 1);
    assert_false(s_published(self->dir, "m1"));
    assert_true(s_published(self->dir, "m2"));
    s_prune(self->dir, 3500, 100);
    q = s_queue(self->dir, CM);
    assert_int_equal(q.pruned, 3); //  1, 2, 3: acknowledged and before 3500
    assert_int_equal(q.head, 5);
    assert_int_equal(q.pending, 2);
    s_items_t items = s_items(self->dir, CM);
    assert_int_equal(items.count, 3);
    assert_int_equal(items.seqs[0], 4);
    //  GENT acknowledged nothing: all six kept, whatever their age.
    assert_int_equal(s_queue(self->dir, GENT).pruned, 0);
    assert_int_equal(s_items(self->dir, GENT).count, 6);
    assert_false(s_published(self->dir, "m3"));
    assert_true(s_published(self->dir, "m4"));
    //  Only GENT's and RSZ's old unacknowledged entries are left before
    //  3500: nothing to prune.
    assert_false(s_prunable(self->dir, 3500));
    //  m4 again: a duplicate (kept); m1 again: pruned, so a new change.
    Kp__Mutation again[] = {s_mutation("m4", "85073003328", "U1", "2024-01-01", 7000),
                            s_mutation("m1", "85073003328", "U1", "2024-01-01", 7000)};
    Kp__Mutation *again_list[] = {&again[0], &again[1]};
    assert_int_equal(s_apply(self->dir, again_list, 2, NULL, 0, NULL, 0), 0);
    q = s_queue(self->dir, CM);
    assert_int_equal(q.next, 8);
    assert_int_equal(q.enqueued, 7);
    //  A replay from before the window: from the first entry kept (4).
    Kp__MutationReplay replay = KP__MUTATION_REPLAY__INIT;
    replay.kbo = CM;
    replay.has_from_unix_ms = true;
    replay.from_unix_ms = 0;
    Kp__MutationReplay *replays[] = {&replay};
    assert_int_equal(s_apply(self->dir, NULL, 0, NULL, 0, replays, 1), 0);
    q = s_queue(self->dir, CM);
    assert_int_equal(q.head, 4);
    assert_int_equal(q.pending, 4); //  4 again, 5, 6 and the new m1
}

//  Ids queued before pruning existed have no row in mut_id_time (the
//  code no longer writes such a state: it is made by emptying the table
//  of a closed directory). Opening the directory gives each its row at
//  the time it was queued, so a prune removes the old ones and keeps
//  those inside the window; without that, nothing is ever prunable here.
static void test_prune_old_ids(void **state)
{
    s_fixture_t *self = *state;
    Kp__Mutation m[] = {s_mutation("old-1", "85073003328", "U1", "2024-01-01", 1000),
                        s_mutation("old-2", "85073003328", "U1", "2024-01-01", 2000),
                        s_mutation("recent", "85073003328", "U1", "2024-01-01", 9000)};
    Kp__Mutation *list[] = {&m[0], &m[1], &m[2]};
    assert_int_equal(s_apply(self->dir, list, 3, NULL, 0, NULL, 0), 0);
    kp_directory_destroy(&self->dir);
    assert_int_equal(kp_test_old_table(self->path, "mut_id_time", true), 0);
    char err[256];
    self->dir = kp_directory_new(self->path, err, sizeof err);
    assert_non_null(self->dir);
    assert_true(s_prunable(self->dir, 3000));
    s_prune(self->dir, 3000, 100);
    assert_false(s_published(self->dir, "old-1"));
    assert_false(s_published(self->dir, "old-2"));
    assert_true(s_published(self->dir, "recent")); //  inside the window: still a duplicate
    assert_false(s_prunable(self->dir, 3000));
    //  Opened again: nothing to add, the same answers.
    kp_directory_destroy(&self->dir);
    self->dir = kp_directory_new(self->path, err, sizeof err);
    assert_non_null(self->dir);
    assert_true(s_published(self->dir, "recent"));
    s_prune(self->dir, 10000, 100);
    assert_false(s_published(self->dir, "recent"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fanout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_acks_and_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune_old_ids, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
