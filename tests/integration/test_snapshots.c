/*  test_snapshots.c - the raft snapshot rule on real kpnode processes
    (issue 15): past snapshot-threshold entries, a snapshot waits until
    the entries since the last one are worth snapshot-share % of its size,
    on every node; a follower that was down while the log was compacted
    catches up from the snapshot. Counted through `kpctl cluster status
    --json`, as an operator sees it. */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "sites.h"

#define S_SHARE 10  //  % of the last snapshot's size
#define S_BULK 5000 //  persons in a bulk update (about 300 kB of entry)

//  What `kpctl cluster status --json` says of one node.
typedef struct {
    uint64_t snapshots, restores, snapshot_bytes, since_snapshot_bytes, seq;
} s_node_t;

static bool s_node(sites_t *sites, size_t index, s_node_t *out)
{
    static char text[1 << 16];
    //  Exit 1 while a node is down: its entry says so, the others answer.
    sites_kpctl(sites, text, sizeof text, "cluster status --json --timeout 500");
    json_t *root = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *node;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(root, "nodes"), i, node)
    {
        if (strcmp(json_string_value(json_object_get(node, "node")), sites_name(sites, index)) ||
            !json_is_true(json_object_get(node, "answered")))
            continue;
        out->snapshots = (uint64_t)json_integer_value(json_object_get(node, "snapshots"));
        out->restores = (uint64_t)json_integer_value(json_object_get(node, "restores"));
        out->snapshot_bytes = (uint64_t)json_integer_value(json_object_get(node, "snapshot_bytes"));
        out->since_snapshot_bytes =
            (uint64_t)json_integer_value(json_object_get(node, "since_snapshot_bytes"));
        out->seq = (uint64_t)json_integer_value(json_object_get(node, "directory_seq"));
        found = true;
    }
    json_decref(root);
    return found;
}

//  count persons from first in one update, through the leader.
static void s_apply(sites_t *sites, size_t leader, unsigned first, unsigned count)
{
    Kp__DirectoryUpdate **ones = calloc(count, sizeof *ones);
    Kp__DirectoryOp **ops = calloc(count, sizeof *ops);
    assert_true(ones && ops);
    for (unsigned k = 0; k < count; k++) {
        ones[k] = sites_update_new(first + k);
        ops[k] = ones[k]->ops[0];
    }
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.ops = ops;
    update.n_ops = count;
    Kp__AdminReply *reply = sites_apply(sites, leader, &update, 20000);
    assert_non_null(reply);
    assert_int_equal(reply->status, KP__STATUS__OK);
    kp__admin_reply__free_unpacked(reply, NULL);
    for (unsigned k = 0; k < count; k++)
        sites_update_free(&ones[k]);
    free(ones);
    free(ops);
}

//  A node's status once its snapshot count has settled (a snapshot is
//  taken in a thread of its own: the count moves after the apply).
static s_node_t s_settled(sites_t *sites, size_t index)
{
    s_node_t now, before;
    assert_true(s_node(sites, index, &now));
    do {
        before = now;
        usleep(200 * 1000);
        assert_true(s_node(sites, index, &now));
    } while (now.snapshots != before.snapshots || now.seq != before.seq);
    return now;
}

static void test_snapshot_waits_for_bytes(void **state)
{
    (void)state;
    sites_t *sites = sites_new(3, false, 300);
    //  snapshot-threshold 16 and -trailing 4 (sites.c); no small-snapshot
    //  exemption and a memory bound far away, so only the share decides.
    sites_cluster_lines(sites, "    snapshot-share = 10\n    snapshot-small-mib = 0\n"
                               "    snapshot-mib = 64\n");
    sites_start_all(sites);
    int at = sites_leader(sites, NULL, 10000);
    assert_true(at >= 0);
    size_t leader = (size_t)at, follower = (leader + 1) % 3, victim = (leader + 2) % 3;
    //  A directory worth a snapshot: bulk entries, then small ones past
    //  the threshold; the first snapshot comes.
    s_apply(sites, leader, 1000000, S_BULK);
    s_apply(sites, leader, 1000000 + S_BULK, S_BULK);
    s_node_t first;
    unsigned n = 1;
    for (int i = 0; i < 40; i++) {
        s_apply(sites, leader, n++, 1);
        assert_true(s_node(sites, leader, &first));
        if (first.snapshots)
            break;
    }
    first = s_settled(sites, leader);
    assert_int_equal(first.snapshots, 1);
    assert_true(first.snapshot_bytes > 0);
    printf("# first snapshot: %llu bytes\n", (unsigned long long)first.snapshot_bytes);
    //  The victim misses what follows, past the trailing entries.
    sites_kill(sites, victim);
    //  Two thresholds' worth of small entries: each alone would have
    //  been a snapshot by count; their bytes are far below the share.
    for (int i = 0; i < 34; i++)
        s_apply(sites, leader, n++, 1);
    s_node_t small = s_settled(sites, leader);
    printf("# after 34 small entries: %llu snapshots, %llu bytes since\n",
           (unsigned long long)small.snapshots, (unsigned long long)small.since_snapshot_bytes);
    assert_int_equal(small.snapshots, 1);
    assert_true(small.since_snapshot_bytes * 100 < small.snapshot_bytes * S_SHARE);
    s_node_t other = s_settled(sites, follower);
    assert_int_equal(other.snapshots, 1); //  the same rule on every node
    //  Bulk entries past the share: the next snapshot comes, here and on
    //  the other follower.
    s_apply(sites, leader, 2000000, S_BULK);
    s_node_t big = s_settled(sites, leader);
    printf("# after a bulk entry: %llu snapshots, last %llu bytes\n",
           (unsigned long long)big.snapshots, (unsigned long long)big.snapshot_bytes);
    assert_int_equal(big.snapshots, 2);
    assert_int_equal(s_settled(sites, follower).snapshots, 2);
    //  The victim's entries were compacted away: it needs the snapshot.
    sites_start(sites, victim);
    assert_true(sites_converged(sites, NULL, big.seq, 20000));
    s_node_t back;
    assert_true(s_node(sites, victim, &back));
    printf("# %s back: %llu snapshots installed, seq %llu\n", sites_name(sites, victim),
           (unsigned long long)back.restores, (unsigned long long)back.seq);
    assert_true(back.restores >= 1);
    sites_destroy(&sites);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_waits_for_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
