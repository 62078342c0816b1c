/*  cmd_call.c - kpctl call: one request through a node, and its answer.

    The nodes of the cluster file that serve clients (not a witness) are
    the failover endpoints, in order (or just the one named by --node);
    with --site, that site's nodes first (kp_client_set_site). The stub
    moves on to the next node
    as soon as it knows the current one is lost (kp_client.h, "Failover":
    a dropped connection, missed heartbeats, an attempt timeout from the
    node's answer times and the request's deadline); the whole call waits
    at most the deadline plus a second per node, or --timeout-ms.
*/
#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "commands.h"
#include "config.h"
#include "curve.h"
#include "control.h"
#include "json.h"
#include "kp_client.h"
#include "options.h"

typedef struct {
    const char *config;
    const char *node;
    const char *site;
    const char *user;
    const char *message;
    const char *person;
    const char *date;
    const char *payload;
    const char *kbo;
    const char *legal;
    bool has_sector, has_type, has_capacity, has_deadline, has_timeout;
    uint32_t sector, type, capacity, deadline_ms, timeout_ms;
    bool json;
} s_args_t;

static void s_usage(FILE *out)
{
    fprintf(out, "usage: kpctl call -c FILE --user U --sector S --type T --message M\n"
                 "                  --person INSZ --capacity C [OPTIONS]\n"
                 "       kpctl call -c FILE --user U --kbo K --legal F --message M\n"
                 "                  [--person INSZ] [--capacity C] [OPTIONS]\n"
                 "\n"
                 "Sends one request through a node and prints the answer.\n"
                 "\n"
                 "  -c, --config FILE   cluster file (its nodes are the failover endpoints)\n"
                 "                      (default: $KP_CLUSTER)\n"
                 "      --node NAME     use this node only (default: every node, in order)\n"
                 "      --site NAME     prefer the nodes of this site of the cluster file:\n"
                 "                      another site's only when they are down\n"
                 "      --user U        user or application id\n"
                 "      --sector S      requester's sector     } initiated on (sector, type)\n"
                 "      --type T        requester's type       }\n"
                 "      --kbo K         requester's KBO        } initiated on a legal framework\n"
                 "      --legal F       legal framework        }  (--sector/--type may name the\n"
                 "                                                 initiator instead of --kbo)\n"
                 "      --message M     message type\n"
                 "      --person INSZ   the person asked about\n"
                 "      --capacity C    capacity code\n"
                 "      --date D        reference date YYYY-MM-DD (default: today)\n"
                 "      --payload TEXT  request payload\n"
                 "      --deadline-ms N time the node may spend (default: the cluster's)\n"
                 "      --timeout-ms N  time the client waits in all (default: the deadline\n"
                 "                      plus 1000 ms, per node)\n"
                 "      --json          print one JSON object\n"
                 "  -h, --help          this text\n"
                 "\n"
                 "Exit status: 0 when the status is OK, 1 for any other status\n"
                 "(TIMEOUT when no node answers), 2 for a usage error.\n");
}

//  Parses argv into args; returns 0, 1 for --help, -1 on a usage error.
static int s_parse(int argc, char **argv, s_args_t *args)
{
    enum {
        O_NODE = 256,
        O_SITE,
        O_USER,
        O_SECTOR,
        O_TYPE,
        O_MESSAGE,
        O_PERSON,
        O_CAPACITY,
        O_DATE,
        O_PAYLOAD,
        O_DEADLINE,
        O_TIMEOUT,
        O_JSON,
        O_KBO,
        O_LEGAL
    };
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"node", required_argument, NULL, O_NODE},
                                            {"site", required_argument, NULL, O_SITE},
                                            {"user", required_argument, NULL, O_USER},
                                            {"sector", required_argument, NULL, O_SECTOR},
                                            {"type", required_argument, NULL, O_TYPE},
                                            {"message", required_argument, NULL, O_MESSAGE},
                                            {"person", required_argument, NULL, O_PERSON},
                                            {"capacity", required_argument, NULL, O_CAPACITY},
                                            {"date", required_argument, NULL, O_DATE},
                                            {"payload", required_argument, NULL, O_PAYLOAD},
                                            {"deadline-ms", required_argument, NULL, O_DEADLINE},
                                            {"timeout-ms", required_argument, NULL, O_TIMEOUT},
                                            {"json", no_argument, NULL, O_JSON},
                                            {"kbo", required_argument, NULL, O_KBO},
                                            {"legal", required_argument, NULL, O_LEGAL},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    optind = 0; //  GNU: full re-initialisation
    int opt;
    int rc = 0;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1 && rc == 0) {
        switch (opt) {
        case 'c':
            args->config = optarg;
            break;
        case 'h':
            return 1;
        case O_NODE:
            args->node = optarg;
            break;
        case O_SITE:
            args->site = optarg;
            break;
        case O_USER:
            args->user = optarg;
            break;
        case O_MESSAGE:
            args->message = optarg;
            break;
        case O_PERSON:
            args->person = optarg;
            break;
        case O_DATE:
            args->date = optarg;
            break;
        case O_PAYLOAD:
            args->payload = optarg;
            break;
        case O_KBO:
            args->kbo = optarg;
            break;
        case O_LEGAL:
            args->legal = optarg;
            break;
        case O_JSON:
            args->json = true;
            break;
        case O_SECTOR:
            args->has_sector = true;
            rc = kpctl_uint32("call", "--sector", optarg, &args->sector);
            break;
        case O_TYPE:
            args->has_type = true;
            rc = kpctl_uint32("call", "--type", optarg, &args->type);
            break;
        case O_CAPACITY:
            args->has_capacity = true;
            rc = kpctl_uint32("call", "--capacity", optarg, &args->capacity);
            break;
        case O_DEADLINE:
            args->has_deadline = true;
            rc = kpctl_uint32("call", "--deadline-ms", optarg, &args->deadline_ms);
            break;
        case O_TIMEOUT:
            args->has_timeout = true;
            rc = kpctl_uint32("call", "--timeout-ms", optarg, &args->timeout_ms);
            break;
        default:
            return -1;
        }
    }
    return rc;
}

//  What must be there for each kind of request.
static int s_check(s_args_t *args, int argc, char **argv)
{
    const char *missing = NULL;
    if (optind < argc) {
        fprintf(stderr, "kpctl call: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    args->config = kpctl_cluster_file(args->config);
    if (!args->config)
        missing = "-c FILE (or KP_CLUSTER)";
    else if (!args->user)
        missing = "--user";
    else if (!args->message)
        missing = "--message";
    else if (args->legal) {
        if (!args->kbo && !(args->has_sector && args->has_type))
            missing = "--kbo (or --sector and --type) with --legal";
    } else if (args->kbo)
        missing = "--legal (--kbo names the initiator of a legal-framework request)";
    else if (!args->has_sector || !args->has_type)
        missing = "--sector and --type (or --kbo and --legal)";
    else if (!args->person)
        missing = "--person";
    else if (!args->has_capacity)
        missing = "--capacity";
    if (missing) {
        fprintf(stderr, "kpctl call: missing %s; 'kpctl call --help' tells more\n", missing);
        return -1;
    }
    if (args->has_timeout && args->timeout_ms == 0) {
        fprintf(stderr, "kpctl call: --timeout-ms must be above 0\n");
        return -1;
    }
    return 0;
}

static Kp__Request s_request(const s_args_t *args)
{
    Kp__Request req = KP__REQUEST__INIT;
    req.user = (char *)args->user;
    req.message = (char *)args->message;
    req.person = (char *)args->person;
    req.date = (char *)args->date;
    req.kbo = (char *)args->kbo;
    req.legal_framework = (char *)args->legal;
    req.has_sector = args->has_sector;
    req.sector = args->sector;
    req.has_type = args->has_type;
    req.type = args->type;
    req.has_capacity = args->has_capacity;
    req.capacity = args->capacity;
    req.has_deadline_ms = args->has_deadline;
    req.deadline_ms = args->deadline_ms;
    if (args->payload) {
        req.has_payload = true;
        req.payload.data = (uint8_t *)args->payload;
        req.payload.len = strlen(args->payload);
    }
    return req;
}

static void s_print_json(const Kp__Response *resp, uint64_t latency_us, const char *endpoint)
{
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "request_id", resp->request_id);
    kp_json_kv_string(json, "status", kp_status_name(resp->status));
    kp_json_kv_string(json, "reason", kp_reason_name(resp->reason));
    if (resp->detail)
        kp_json_kv_string(json, "detail", resp->detail);
    kp_json_key(json, "parts");
    kp_json_array_open(json);
    for (size_t i = 0; i < resp->n_parts; i++) {
        const Kp__Part *part = resp->parts[i];
        kp_json_object_open(json);
        kp_json_kv_string(json, "kbo", part->kbo);
        kp_json_kv_string(json, "status", kp_status_name(part->status));
        kp_json_key(json, "payload");
        if (part->has_payload)
            kp_json_string_len(json, (const char *)part->payload.data, part->payload.len);
        else
            kp_json_null(json);
        if (part->until)
            kp_json_kv_string(json, "until", part->until);
        if (part->detail)
            kp_json_kv_string(json, "detail", part->detail);
        kp_json_object_close(json);
    }
    kp_json_array_close(json);
    kp_json_kv_uint(json, "latency_us", latency_us);
    if (resp->has_latency_us)
        kp_json_kv_uint(json, "node_latency_us", resp->latency_us);
    kp_json_kv_string(json, "endpoint", endpoint);
    kp_json_object_close(json);
    printf("%s\n", kp_json_text(json));
    kp_json_destroy(&json);
}

static void s_print_text(const Kp__Response *resp, uint64_t latency_us)
{
    printf("%s", kp_status_name(resp->status));
    if (resp->reason != KP__REASON__REASON_NONE)
        printf(" %s", kp_reason_name(resp->reason));
    printf("  request %s  %.3f ms", resp->request_id ? resp->request_id : "?",
           (double)latency_us / 1000.0);
    if (resp->detail)
        printf("\n  %s", resp->detail);
    printf("\n");
    for (size_t i = 0; i < resp->n_parts; i++) {
        const Kp__Part *part = resp->parts[i];
        printf("  %s %s", part->kbo ? part->kbo : "?", kp_status_name(part->status));
        if (part->until)
            printf(" until %s", part->until);
        if (part->detail)
            printf(" (%s)", part->detail);
        if (part->has_payload)
            printf(": %.*s", (int)part->payload.len, (const char *)part->payload.data);
        printf("\n");
    }
}

//  A client of endpoints, CURVE unless the cluster is insecure: the
//  caller's certificate and the public key of every node it may talk to.
static kp_client_t *s_client_new(const char **endpoints, size_t count, const s_args_t *args,
                                 const kp_cluster_config_t *config)
{
    if (config->insecure) {
        kp_client_t *client = kp_client_new(endpoints, count);
        if (!client)
            fprintf(stderr, "kpctl call: cannot connect to the nodes of %s\n", args->config);
        return client;
    }
    const char *cert = kpctl_cert("call");
    if (!cert)
        return NULL;
    char keys[KP_CONFIG_MAX_NODES * KP_CURVE_Z85], err[512];
    size_t used = 0;
    for (size_t i = 0; i < config->node_count; i++) {
        const kp_node_config_t *node = &config->nodes[i];
        if ((args->node && strcmp(node->name, args->node)) || !*node->client)
            continue;
        if (kp_curve_node_key(node, keys + used, err, sizeof err)) {
            fprintf(stderr, "kpctl call: %s\n", err);
            return NULL;
        }
        used += KP_CURVE_Z85 - 1;
        keys[used++] = ',';
    }
    keys[used ? used - 1 : 0] = '\0';
    kp_client_t *client = kp_client_new_secure(endpoints, count, cert, keys);
    if (!client)
        fprintf(stderr,
                "kpctl call: cannot use the certificate %s (a CZMQ certificate with its "
                "_secret file, as 'kpctl keys new' writes)\n",
                cert);
    return client;
}

//  The client over the chosen nodes, with its timeouts set; NULL on error.
static kp_client_t *s_client(const s_args_t *args, const kp_cluster_config_t *config,
                             int *timeout_ms)
{
    const char *endpoints[KP_CONFIG_MAX_NODES], *sites[KP_CONFIG_MAX_NODES];
    size_t count = 0;
    bool site_known = false;
    for (size_t i = 0; i < config->node_count; i++) {
        const kp_node_config_t *node = &config->nodes[i];
        site_known |= args->site && !strcmp(node->site, args->site);
        if (*node->client && (!args->node || !strcmp(node->name, args->node))) {
            sites[count] = node->site;
            endpoints[count++] = node->client;
        }
    }
    if (args->node && !kpctl_cluster_node("call", config, args->config, args->node))
        return NULL;
    if (!count) {
        fprintf(stderr, "kpctl call: %s names no node with a client endpoint%s%s\n", args->config,
                args->node ? ": " : "", args->node ? args->node : "");
        return NULL;
    }
    if (args->site && !site_known) {
        fprintf(stderr, "kpctl call: no node of %s is in site '%s'; give a site of its nodes\n",
                args->config, args->site);
        return NULL;
    }
    kp_client_t *client = s_client_new(endpoints, count, args, config);
    if (!client)
        return NULL;
    if (args->site && kp_client_set_site(client, args->site, sites) != 0) {
        fprintf(stderr, "kpctl call: cannot prefer site '%s'\n", args->site);
        kp_client_destroy(&client);
        return NULL;
    }
    uint32_t deadline = args->has_deadline ? args->deadline_ms : config->deadline_ms;
    int attempt = (int)(deadline + 1000 > INT32_MAX / 16 ? INT32_MAX / 16 : deadline + 1000);
    if (args->has_timeout)
        *timeout_ms = args->timeout_ms > INT32_MAX ? INT32_MAX : (int)args->timeout_ms;
    else
        *timeout_ms = attempt * (int)count;
    return client;
}

//  kpctl call: one request through a node of the cluster file, its answer
//  printed (--json). Exit 0 ok, 1 not answered or not OK, 2 usage.
int kpctl_call(int argc, char **argv)
{
    s_args_t args = {0};
    int rc = s_parse(argc, argv, &args);
    if (rc == 1) {
        s_usage(stdout);
        return 0;
    }
    if (rc != 0 || s_check(&args, argc, argv) != 0)
        return 2;
    kp_cluster_config_t *config = kpctl_cluster_load("call", args.config);
    if (!config)
        return 2;
    int timeout_ms = 0;
    kp_client_t *client = s_client(&args, config, &timeout_ms);
    uint32_t cluster_deadline_ms = config->deadline_ms;
    free(config);
    if (!client)
        return 2;
    Kp__Request req = s_request(&args);
    if (!req.has_deadline_ms) {
        //  The node would apply it anyway; the stub, knowing it, bounds
        //  each attempt by it.
        req.has_deadline_ms = true;
        req.deadline_ms = cluster_deadline_ms;
    }
    Kp__Response *resp = NULL;
    uint64_t start = (uint64_t)zclock_usecs();
    rc = kp_client_call(client, &req, timeout_ms, &resp);
    uint64_t latency_us = (uint64_t)zclock_usecs() - start;
    if (rc != 0) {
        fprintf(stderr, "kpctl call: %s\n", kp_client_strerror(rc));
        kp_client_destroy(&client);
        return 1;
    }
    if (args.json)
        s_print_json(resp, latency_us, kp_client_endpoint(client));
    else
        s_print_text(resp, latency_us);
    int status = resp->status == KP__STATUS__OK ? 0 : 1;
    kp_client_response_destroy(&resp);
    kp_client_destroy(&client);
    return status;
}
