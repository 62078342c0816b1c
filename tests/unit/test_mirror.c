/*  test_mirror.c - the log mirror's shipper (log/mirror.h) with a keeper
    that never answers: it degrades after its timeout, and responses are
    released on local durability only while the node has a majority. A
    node cut off from its majority and from its mirror holds them until
    the majority (or the mirror) is back. Real actor, real ZeroMQ. */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror.h"
#include "tmpdir.h"

//  Waits (reading the shipper's news) until it says it is degraded.
static bool s_wait_degraded(kp_mirror_t *mirror, int timeout_ms)
{
    int64_t until = zclock_mono() + timeout_ms;
    while (zclock_mono() < until) {
        zsock_t *sock = kp_mirror_sock(mirror);
        if (zsock_events(sock) & ZMQ_POLLIN)
            kp_mirror_recv(mirror);
        else {
            zpoller_t *poller = zpoller_new(sock, NULL);
            zpoller_wait(poller, 50);
            zpoller_destroy(&poller);
        }
        if (kp_mirror_degraded(mirror))
            return true;
    }
    return false;
}

static void test_degraded_only_with_a_majority(void **state)
{
    (void)state;
    char dir[256];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-mirror"), 0);
    //  Nobody listens there: no acknowledgement ever comes.
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d",
             1 + (int)(zclock_mono() % 1000) + 30000);
    kp_mirror_t *mirror = kp_mirror_new("node-1", dir, endpoint, 100, NULL);
    assert_non_null(mirror);
    //  Before the timeout: nothing leaves before the mirror has it.
    kp_mirror_durable(mirror, 5);
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    //  Without a majority the node holds its responses, degraded or not.
    kp_mirror_quorum(mirror, false);
    assert_true(s_wait_degraded(mirror, 5000));
    assert_true(kp_mirror_held(mirror));
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    //  The majority back: they leave on local durability.
    kp_mirror_quorum(mirror, true);
    assert_false(kp_mirror_held(mirror));
    assert_int_equal(kp_mirror_release(mirror, 5), 5);
    assert_true(kp_mirror_degradations(mirror) >= 1);
    kp_mirror_destroy(&mirror);
    kp_test_rmtree(dir);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degraded_only_with_a_majority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
