/*  test_config.c - the cluster file's keys (node/config.h): the privacy
    log's segment size (log-segment-mib), its default, its bounds and the
    error that names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

//  A one-node cluster file with line (if any) on line 3. 0 or -1 from
//  kp_config_parse, its problem in err.
static int s_parse(const char *line, kp_cluster_config_t *config, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text,
             "cluster\n"
             "    name = \"t\"\n"
             "    %s\n"
             "node\n"
             "    node-1\n"
             "        site = \"brussels\"\n"
             "        data = \"var/node-1\"\n"
             "        client = \"tcp://127.0.0.1:1\"\n"
             "        worker = \"tcp://127.0.0.1:2\"\n"
             "        admin = \"tcp://127.0.0.1:3\"\n",
             line ? line : "deadline = 3000");
    return kp_config_parse(text, config, err, errlen);
}

static void test_segment_default(void **state)
{
    (void)state;
    kp_cluster_config_t config;
    char err[KP_CONFIG_ERR] = "";
    if (s_parse(NULL, &config, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(config.log_segment_mib, 64);
}

static void test_segment_bounds(void **state)
{
    (void)state;
    kp_cluster_config_t config;
    char err[KP_CONFIG_ERR] = "";
    assert_int_equal(s_parse("log-segment-mib = 1", &config, err, sizeof err), 0);
    assert_int_equal(config.log_segment_mib, 1);
    assert_int_equal(s_parse("log-segment-mib = 1024", &config, err, sizeof err), 0);
    assert_int_equal(config.log_segment_mib, 1024);
}

static void test_segment_out_of_range(void **state)
{
    (void)state;
    kp_cluster_config_t config;
    static const char *refused[] = {"0", "1025", "4294967297", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char line[64], err[KP_CONFIG_ERR] = "";
        snprintf(line, sizeof line, "log-segment-mib = %s", refused[i]);
        assert_int_equal(s_parse(line, &config, err, sizeof err), -1);
        printf("# %s: %s\n", refused[i], err);
        if (!strstr(err, "line 3: cluster/log-segment-mib = ") || !strstr(err, "out of range"))
            fail_msg("'%s' refused without naming the key and the line: %s", line, err);
        //  Also past 64 bits, the error says what the key is and its bounds.
        if (!strstr(err, "segments are whole MiB from 1 to 1024"))
            fail_msg("'%s': the error gives no bounds: %s", line, err);
    }
    char err[KP_CONFIG_ERR] = "";
    assert_int_equal(s_parse("log-segment-mib = 64M", &config, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a number"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_default),
        cmocka_unit_test(test_segment_bounds),
        cmocka_unit_test(test_segment_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
