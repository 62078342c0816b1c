/*  test_sendq.c - the node's send queue, over real ZeroMQ sockets.

    A ROUTER (the node's side) and two DEALERs with known routing ids on
    inproc: nothing leaves before a flush, everything leaves in order
    after it, a full queue sends itself, and a message for a peer that is
    gone is dropped without disturbing the others.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sendq.h"

typedef struct {
    zsock_t *router;
    zsock_t *peer[2];
} s_pair_t;

static s_pair_t s_pair_new(const char *endpoint)
{
    s_pair_t pair;
    pair.router = zsock_new_router(endpoint);
    assert_non_null(pair.router);
    for (int i = 0; i < 2; i++) {
        pair.peer[i] = zsock_new(ZMQ_DEALER);
        assert_non_null(pair.peer[i]);
        zsock_set_identity(pair.peer[i], i == 0 ? "peer-0" : "peer-1");
        assert_int_equal(zsock_connect(pair.peer[i], "%s", endpoint), 0);
    }
    return pair;
}

static void s_pair_destroy(s_pair_t *pair)
{
    zsock_destroy(&pair->peer[0]);
    zsock_destroy(&pair->peer[1]);
    zsock_destroy(&pair->router);
}

//  The next message on peer, as a string, or NULL after timeout_ms.
static char *s_next(zsock_t *peer, int timeout_ms)
{
    zpoller_t *poller = zpoller_new(peer, NULL);
    char *text = zpoller_wait(poller, timeout_ms) == peer ? zstr_recv(peer) : NULL;
    zpoller_destroy(&poller);
    return text;
}

static void s_expect(zsock_t *peer, const char *text)
{
    char *got = s_next(peer, 1000);
    assert_non_null(got);
    assert_string_equal(got, text);
    zstr_free(&got);
}

static void test_nothing_before_flush_then_in_order(void **state)
{
    (void)state;
    s_pair_t pair = s_pair_new("inproc://test-sendq-order");
    kp_sendq_t *queue = kp_sendq_new(16);
    assert_non_null(queue);
    char text[16];
    for (int i = 0; i < 10; i++) {
        snprintf(text, sizeof text, "m%d", i);
        kp_sendq_add(queue, pair.router, i % 2 ? "peer-1" : "peer-0", 6, text, strlen(text));
    }
    assert_null(s_next(pair.peer[0], 100)); //  held until the flush
    kp_sendq_flush(queue);
    for (int i = 0; i < 10; i++) {
        snprintf(text, sizeof text, "m%d", i);
        s_expect(pair.peer[i % 2], text);
    }
    kp_sendq_flush(queue); //  nothing queued: sends nothing
    assert_null(s_next(pair.peer[0], 50));
    kp_sendq_destroy(&queue);
    assert_null(queue);
    s_pair_destroy(&pair);
}

static void test_full_queue_sends_itself(void **state)
{
    (void)state;
    s_pair_t pair = s_pair_new("inproc://test-sendq-full");
    kp_sendq_t *queue = kp_sendq_new(4);
    char text[16];
    for (int i = 0; i < 5; i++) { //  the fifth finds the queue full
        snprintf(text, sizeof text, "f%d", i);
        kp_sendq_add(queue, pair.router, "peer-0", 6, text, strlen(text));
    }
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "f%d", i);
        s_expect(pair.peer[0], text);
    }
    assert_null(s_next(pair.peer[0], 50)); //  the fifth waits for a flush
    kp_sendq_destroy(&queue);              //  which destroy does
    s_expect(pair.peer[0], "f4");
    s_pair_destroy(&pair);
}

static void test_reserve_and_unknown_peer(void **state)
{
    (void)state;
    s_pair_t pair = s_pair_new("inproc://test-sendq-reserve");
    kp_sendq_t *queue = kp_sendq_new(8);
    char *body = kp_sendq_reserve(queue, pair.router, "peer-1", 6, 5);
    assert_non_null(body);
    memcpy(body, "hello", 5);
    kp_sendq_add(queue, pair.router, "nobody", 6, "lost", 4); //  dropped
    kp_sendq_add(queue, pair.router, "peer-1", 6, "after", 5);
    kp_sendq_add(queue, pair.router, "peer-0", 6, "", 0); //  an empty body
    kp_sendq_flush(queue);
    s_expect(pair.peer[1], "hello");
    s_expect(pair.peer[1], "after");
    s_expect(pair.peer[0], "");
    kp_sendq_destroy(&queue);
    s_pair_destroy(&pair);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_before_flush_then_in_order),
        cmocka_unit_test(test_full_queue_sends_itself),
        cmocka_unit_test(test_reserve_and_unknown_peer),
    };
    return cmocka_run_group_tests_name("sendq", tests, NULL, NULL);
}
