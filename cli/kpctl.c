/*  kpctl - the operators' command line of Kruispunt. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "options.h"

static const kpctl_command_t s_commands[] = {
    {"directory", kpctl_directory, "import, export and inspect the reference directory"},
    {"cluster", kpctl_cluster, "the consensus over the directory: status, leadership, members"},
    {"call", kpctl_call, "send one request through a node and print the answer"},
    {"provider", kpctl_provider, "run a demo provider worker"},
    {"status", kpctl_status, "show a node's workers, counters and latencies"},
    {"maintenance", kpctl_maintenance, "add, list and remove planned maintenance windows"},
    {"register", kpctl_register, "the bis register and the register of the deleted"},
    {"log", kpctl_log, "verify, query, export and prune the privacy log"},
    {"report", kpctl_report, "service-level and access-control reports, with charts"},
    {"mutations", kpctl_mutations, "change notifications: queues, backlog, replay"},
    {"keys", kpctl_keys, "make and show CURVE certificates; the log's signing key"},
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: kpctl [-c FILE] [--node NAME] [--cert FILE] COMMAND [OPTIONS]\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-12s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out, "\nglobal options (before or after the command):\n"
                 "  -c, --config FILE    the cluster file (default: $KP_CLUSTER)\n"
                 "      --node NAME      which node of the cluster file\n"
                 "      --cert FILE      your CURVE certificate for a secure cluster (default:\n"
                 "                       $KP_CERT): an operator's for the admin commands, an\n"
                 "                       application's for call, a provider's for provider\n"
                 "\n'kpctl COMMAND --help' tells more about each.\n");
}

int main(int argc, char **argv)
{
    int count;
    char **args = kpctl_globals(argc, argv, &count);
    if (!args)
        return 2;
    int rc = kpctl_dispatch("kpctl", s_commands, sizeof s_commands / sizeof s_commands[0], s_usage,
                            count, args);
    free(args);
    return rc;
}
