/*  fuzz_config.c - a cluster file (ZPL), as kpnode, kpctl and kpbench
    read it. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > KP_CONFIG_MAX_FILE)
        return 0;
    char *text = fuzz_text(data, size);
    kp_cluster_config_t config;
    char err[KP_CONFIG_ERR];
    if (kp_config_parse(text, &config, err, sizeof err) == 0)
        kp_config_node(&config, NULL);
    free(text);
    return 0;
}
