/*  test_relay.c - the relay between cluster nodes over real loopback TCP:
    forwarding both ways, delay, cut and heal without loss, the hold
    limit, patterns, reset, and what it says to bad commands. */
#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "relay.h"

#define S_WAIT_MS 5000 //  a condition that does not come within this fails

//  A listening socket on a free loopback port; its port in *port.
static int s_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

static int s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static bool s_readable(int fd, int timeout_ms)
{
    struct pollfd item = {fd, POLLIN, 0};
    return poll(&item, 1, timeout_ms) > 0;
}

//  Reads exactly size bytes (asserts they come within S_WAIT_MS).
static void s_read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        assert_true(s_readable(fd, S_WAIT_MS));
        ssize_t n = recv(fd, buf + got, size - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
}

static void s_send_all(int fd, const char *buf, size_t size)
{
    size_t put = 0;
    while (put < size) {
        ssize_t n = send(fd, buf + put, size - put, MSG_NOSIGNAL);
        assert_true(n > 0);
        put += (size_t)n;
    }
}

typedef struct {
    kp_relay_t *relay;
    int server; //  the listening target
    int port;   //  the relay's port for link a>b
    int client; //  a's socket
    int peer;   //  b's accepted socket
} s_pair_t;

static void s_pair_open(s_pair_t *pair)
{
    pair->relay = kp_relay_new();
    assert_non_null(pair->relay);
    int target;
    pair->server = s_listener(&target);
    char to[64], err[256];
    snprintf(to, sizeof to, "tcp://127.0.0.1:%d", target);
    pair->port = kp_relay_link(pair->relay, "a>b", "tcp://127.0.0.1:0", to, err, sizeof err);
    assert_true(pair->port > 0);
    pair->client = s_connect(pair->port);
    assert_true(s_readable(pair->server, S_WAIT_MS));
    pair->peer = accept(pair->server, NULL, NULL);
    assert_true(pair->peer >= 0);
}

static void s_pair_close(s_pair_t *pair)
{
    close(pair->client);
    close(pair->peer);
    close(pair->server);
    kp_relay_destroy(&pair->relay);
}

static void s_expect_ok(kp_relay_t *relay, const char *command, const char *answer)
{
    char *got = kp_relay_command(relay, command);
    if (strcmp(got, answer))
        fail_msg("'%s' answered '%s', wanted '%s'", command, got, answer);
    free(got);
}

//  Bytes held on the up side of the first link, from its status line.
static size_t s_held_up(kp_relay_t *relay)
{
    char *status = kp_relay_command(relay, "status");
    const char *line = strchr(status, '\n');
    size_t held = 0;
    if (line) {
        const char *p = strstr(line, " held ");
        if (p)
            held = strtoull(p + 6, NULL, 10);
    }
    free(status);
    return held;
}

static void s_wait_held(kp_relay_t *relay, size_t at_least)
{
    int64_t give_up = zclock_mono() + S_WAIT_MS;
    while (s_held_up(relay) < at_least && zclock_mono() < give_up)
        zclock_sleep(5);
    assert_true(s_held_up(relay) >= at_least);
}

static void test_forwards_both_ways(void **state)
{
    (void)state;
    s_pair_t pair;
    s_pair_open(&pair);
    char buf[16] = "";
    s_send_all(pair.client, "hello", 5);
    s_read_all(pair.peer, buf, 5);
    assert_memory_equal(buf, "hello", 5);
    s_send_all(pair.peer, "world", 5);
    s_read_all(pair.client, buf, 5);
    assert_memory_equal(buf, "world", 5);
    //  The target closing closes the caller's connection too.
    close(pair.peer);
    pair.peer = -1;
    assert_true(s_readable(pair.client, S_WAIT_MS));
    assert_int_equal(recv(pair.client, buf, sizeof buf, 0), 0);
    s_pair_close(&pair);
}

static void test_delay(void **state)
{
    (void)state;
    s_pair_t pair;
    s_pair_open(&pair);
    s_expect_ok(pair.relay, "delay a b 300", "ok 1");
    int64_t sent = zclock_mono();
    s_send_all(pair.client, "late", 4);
    char buf[4];
    s_read_all(pair.peer, buf, 4);
    //  A lower bound: the relay cannot deliver before the delay.
    assert_true(zclock_mono() - sent >= 300);
    //  The other way has no delay of its own, and delay 0 ends it.
    s_expect_ok(pair.relay, "delay a b 0", "ok 1");
    s_send_all(pair.peer, "back", 4);
    s_read_all(pair.client, buf, 4);
    assert_memory_equal(buf, "back", 4);
    s_pair_close(&pair);
}

static void test_cut_holds_and_heal_delivers(void **state)
{
    (void)state;
    s_pair_t pair;
    s_pair_open(&pair);
    s_expect_ok(pair.relay, "cut a b", "ok 1");
    s_send_all(pair.client, "held", 4);
    s_wait_held(pair.relay, 4);
    assert_false(s_readable(pair.peer, 0)); //  read, but not forwarded
    //  b -> a still flows: the cut has a direction.
    char buf[4];
    s_send_all(pair.peer, "pong", 4);
    s_read_all(pair.client, buf, 4);
    assert_memory_equal(buf, "pong", 4);
    s_expect_ok(pair.relay, "heal a b", "ok 1");
    s_read_all(pair.peer, buf, 4);
    assert_memory_equal(buf, "held", 4);
    s_pair_close(&pair);
}

//  A cut side stops reading at the hold limit; after the heal every byte
//  arrives, in order.
static void test_hold_is_bounded(void **state)
{
    (void)state;
    s_pair_t pair;
    s_pair_open(&pair);
    s_expect_ok(pair.relay, "cut a b", "ok 1");
    size_t size = 8 << 20;
    char *data = malloc(size);
    assert_non_null(data);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 7 + i / 4096);
    //  The sender is not blocked until the relay's hold and the kernel's
    //  buffers are full: send without blocking until it would block.
    size_t put = 0;
    while (put < size) {
        ssize_t n = send(pair.client, data + put, size - put, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) {
            if (s_held_up(pair.relay) >= KP_RELAY_HOLD)
                break;
            zclock_sleep(5);
            continue;
        }
        put += (size_t)n;
    }
    assert_true(put < size);
    assert_true(s_held_up(pair.relay) <= KP_RELAY_HOLD + 65536);
    s_expect_ok(pair.relay, "heal a b", "ok 1");
    char *got = malloc(size);
    assert_non_null(got);
    size_t received = 0;
    while (received < size) {
        if (put < size) {
            ssize_t n = send(pair.client, data + put, size - put, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                put += (size_t)n;
        }
        if (s_readable(pair.peer, put < size ? 10 : S_WAIT_MS)) {
            ssize_t n = recv(pair.peer, got + received, size - received, 0);
            assert_true(n > 0);
            received += (size_t)n;
        }
    }
    assert_memory_equal(got, data, size);
    free(got);
    free(data);
    s_pair_close(&pair);
}

static void test_patterns_and_both(void **state)
{
    (void)state;
    kp_relay_t *relay = kp_relay_new();
    char err[256];
    //  Targets need not listen for the commands to count link sides.
    const char *names[] = {"node-1>node-3", "node-3>node-1", "node-1>node-2", "node-4>witness"};
    for (size_t i = 0; i < 4; i++)
        assert_true(kp_relay_link(relay, names[i], "127.0.0.1:0", "127.0.0.1:9", err, sizeof err) >
                    0);
    //  Traffic from node-3: node-3>node-1 up, node-1>node-3 down.
    s_expect_ok(relay, "cut node-3 *", "ok 2");
    //  The charleroi site (3, 4) against the rest, both ways.
    s_expect_ok(relay, "cut node-3,node-4 node-1,node-2,witness both", "ok 6");
    s_expect_ok(relay, "heal * *", "ok 8");
    s_expect_ok(relay, "delay node-1 node-? 20", "ok 3");
    s_expect_ok(relay, "reset nobody *", "ok 0");
    kp_relay_destroy(&relay);
}

static void test_bad_commands(void **state)
{
    (void)state;
    kp_relay_t *relay = kp_relay_new();
    char err[256];
    const char *bad[] = {"frobnicate",
                         "cut a",
                         "delay a b soon",
                         "delay a b -1",
                         "link a 127.0.0.1:0",
                         "link nobody 127.0.0.1:0 127.0.0.1:9",
                         "link a>b nowhere x",
                         "cut a b sideways",
                         "link >b 127.0.0.1:0 127.0.0.1:9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *answer = kp_relay_command(relay, bad[i]);
        if (strncmp(answer, "error ", 6))
            fail_msg("'%s' answered '%s'", bad[i], answer);
        free(answer);
    }
    assert_true(kp_relay_link(relay, "a>b", "127.0.0.1:0", "127.0.0.1:9", err, sizeof err) > 0);
    assert_int_equal(kp_relay_link(relay, "a>b", "127.0.0.1:0", "127.0.0.1:9", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "exists"));
    char *help = kp_relay_command(relay, "help");
    assert_non_null(strstr(help, "cut FROM TO"));
    free(help);
    kp_relay_destroy(&relay);
}

//  Nobody at the target: the caller's connection is closed, as a refusal.
static void test_target_down(void **state)
{
    (void)state;
    kp_relay_t *relay = kp_relay_new();
    int port;
    int gone = s_listener(&port);
    close(gone);
    char to[64], err[256];
    snprintf(to, sizeof to, "127.0.0.1:%d", port);
    int at = kp_relay_link(relay, "a>b", "127.0.0.1:0", to, err, sizeof err);
    assert_true(at > 0);
    int fd = s_connect(at);
    assert_true(s_readable(fd, S_WAIT_MS));
    char buf[4];
    assert_true(recv(fd, buf, sizeof buf, 0) <= 0);
    close(fd);
    kp_relay_destroy(&relay);
}

static void test_reset(void **state)
{
    (void)state;
    s_pair_t pair;
    s_pair_open(&pair);
    s_expect_ok(pair.relay, "reset a b", "ok 1");
    char buf[4];
    assert_true(s_readable(pair.client, S_WAIT_MS));
    assert_true(recv(pair.client, buf, sizeof buf, 0) <= 0);
    assert_true(s_readable(pair.peer, S_WAIT_MS));
    assert_true(recv(pair.peer, buf, sizeof buf, 0) <= 0);
    s_pair_close(&pair);
}

int main(void)
{
    zsys_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forwards_both_ways),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_cut_holds_and_heal_delivers),
        cmocka_unit_test(test_hold_is_bounded),
        cmocka_unit_test(test_patterns_and_both),
        cmocka_unit_test(test_bad_commands),
        cmocka_unit_test(test_target_down),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
