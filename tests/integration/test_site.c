/*  test_site.c - the client stub's site preference over real nodes: it
    talks to its own site, fails over to the other site only when its own
    node is down, and comes back once that node answers again
    (kp_client_set_site). Who answered is read from each node's provider's
    log, never guessed from time.

    node-1 is in site-1 and node-2 in site-2 (the harness's cluster file);
    the client lives in site-1 and is given node-2 first, so that it is the
    preference, not the order of the list, that takes it to node-1.
*/
#include <assert.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "kp_client.h"

//  Generous: the stub comes back within about its settle time (1 s) and
//  a probe after the node answers; a loaded machine stretches both.
#define S_BACK_CEILING_MS 30000

//  Calls id; asserts OK; returns the node (0, 1) whose provider answered
//  it, from their logs (a line may be written just after the answer).
static int s_call(kp_client_t *client, const char *id, char logs[2][300])
{
    Kp__Request request = harness_a1_request(id);
    Kp__Response *response = NULL;
    assert_int_equal(kp_client_call(client, &request, 10000, &response), 0);
    if (response->status != KP__STATUS__OK)
        fail_msg("%s answered %s %s: %s", id, kp_client_status_name(response->status),
                 kp_client_reason_name(response->reason), response->detail ? response->detail : "");
    kp_client_response_destroy(&response);
    for (int64_t until = harness_now_ms() + 10000; harness_now_ms() < until; usleep(5000))
        for (int node = 0; node < 2; node++)
            if (harness_answered_by(logs[node], id))
                return node;
    fail_msg("%s: in neither provider's log", id);
    return -1;
}

static void test_site_preference_and_fail_back(void **state)
{
    (void)state;
    harness_t *harness = harness_new(2, 500, 3000, 65536);
    char logs[2][300];
    for (size_t i = 0; i < 2; i++)
        if (!harness_start_served(harness, i, logs[i], sizeof logs[i]))
            fail_msg("no provider registered on node %zu", i + 1);
    const char *endpoints[] = {harness->client[1], harness->client[0]};
    const char *sites[] = {"site-2", "site-1"};
    kp_client_t *client = kp_client_new_secure(
        endpoints, 2, harness_cert(harness, "app-rsz-app", NULL), harness->server_key);
    assert_non_null(client);
    assert_int_equal(kp_client_set_site(client, "", sites), KP_CLIENT_EINVAL);
    assert_int_equal(kp_client_set_site(client, "site-1", sites), 0);

    //  Its own site's node answers.
    assert_int_equal(s_call(client, "home-1", logs), 0);
    assert_string_equal(kp_client_endpoint(client), harness->client[0]);

    //  Its own site's node dies: the other site answers.
    harness_stop_node(harness, 0, SIGKILL);
    assert_int_equal(s_call(client, "away-1", logs), 1);
    assert_int_equal(s_call(client, "away-2", logs), 1);
    assert_string_equal(kp_client_endpoint(client), harness->client[1]);

    //  It comes back: once it answers probes for the settle time, calls go
    //  to it again. Calls keep going meanwhile (probes run while it works).
    harness_start_node(harness, 0);
    if (!harness_wait_workers(harness, 0, 1))
        fail_msg("node-1's provider did not come back");
    int64_t back = harness_now_ms();
    int calls = 0;
    bool home = false;
    while (!home && harness_now_ms() - back < S_BACK_CEILING_MS) {
        char id[32];
        snprintf(id, sizeof id, "back-%d", calls++);
        home = s_call(client, id, logs) == 0;
        usleep(20000);
    }
    kp_client_stats_t stats;
    kp_client_stats(client, &stats);
    print_message("back on its own site %lld ms after its node's provider was back, after %d "
                  "calls; failovers %llu, failbacks %llu\n",
                  (long long)(harness_now_ms() - back), calls, (unsigned long long)stats.failovers,
                  (unsigned long long)stats.failbacks);
    assert_true(home);
    assert_string_equal(kp_client_endpoint(client), harness->client[0]);
    assert_int_equal(stats.failbacks, 1);
    //  And it stays there.
    assert_int_equal(s_call(client, "home-2", logs), 0);
    kp_client_destroy(&client);
    harness_destroy(&harness);
}

int main(void)
{
    zsys_init();
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_site_preference_and_fail_back),
    };
    return cmocka_run_group_tests_name("site", tests, NULL, NULL);
}
