/*  local.c - a throw-away Kruispunt on loopback for kpbench --local. */
#include "local.h"

#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "curve.h"
#include "proc.h"
#include "relay.h"
#include "workload.h"

#define S_MAX_NODES 9 //  8 voters and a witness
#define S_MAX_PROVIDERS 32
#define S_MAX_PORTS (8 * S_MAX_NODES * S_MAX_NODES)

typedef struct {
    char name[32];
    char site[32];
    bool witness;
    char data[PATH_MAX + 64];
    char config[PATH_MAX + 64]; //  its own cluster file (the relay's ports)
    char client[64];
    int client_port, worker_port, admin_port, peer_port, mirror_port;
    pid_t pid;
} s_node_t;

struct _kp_local_t {
    kp_local_options_t options;
    char dir[PATH_MAX - 128]; //  room for the names of files inside
    char cluster[PATH_MAX + 64];
    char kpnode[PATH_MAX];
    char kpctl[PATH_MAX];
    size_t node_count; //  the witness included, last
    s_node_t nodes[S_MAX_NODES];
    bool replicated;
    kp_relay_t *relay;                      //  when options.wan_delay_ms >= 0
    int links[S_MAX_NODES][S_MAX_NODES][2]; //  relay ports: [from][to][peer, mirror]
    size_t port_count;
    int ports[S_MAX_PORTS]; //  every port handed out, each once
    size_t provider_count;
    pid_t providers[S_MAX_PROVIDERS];
    char provider_logs[S_MAX_PROVIDERS][PATH_MAX + 128];
    char keys[PATH_MAX]; //  the certificates, unless insecure
    char client_cert[PATH_MAX + 32];
    char server_key[KP_CURVE_Z85];
};

//  The certificate keys/NAME.cert (made now), and its key record as a
//  directory line on out. 0, or -1 with err filled.
static int s_cert(kp_local_t *self, const char *name, const char *kind, const char *identity,
                  FILE *out, char *key_out, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s.cert", self->keys, name);
    zcert_t *cert = NULL;
    if (kp_curve_cert_new(path, err, errlen) ||
        !(cert = kp_curve_cert_load(path, true, err, errlen)))
        return -1;
    if (key_out)
        snprintf(key_out, KP_CURVE_Z85, "%s", zcert_public_txt(cert));
    if (out && kind)
        fprintf(out,
                "{\"table\":\"key\",\"key\":\"%s\",\"kind\":\"%s\",\"identity\":\"%s\","
                "\"from\":\"2000-01-01\"}\n",
                zcert_public_txt(cert), kind, identity);
    zcert_destroy(&cert);
    return 0;
}

//  Unless insecure: the nodes' certificate, the bench application's and
//  each provider's, with their key records on out.
static int s_make_keys(kp_local_t *self, FILE *out, char *err, size_t errlen)
{
    if (self->options.insecure)
        return 0;
    snprintf(self->keys, sizeof self->keys, "%s/keys", self->dir);
    snprintf(self->client_cert, sizeof self->client_cert, "%s/app.cert", self->keys);
    //  The nodes' key is a node key of the directory too: members take
    //  each other's peer handshakes on it.
    return s_cert(self, "cluster", "node", "kpbench-nodes", out, self->server_key, err, errlen) ||
                   s_cert(self, "app", "application", "bench-app", out, NULL, err, errlen) ||
                   s_cert(self, "provider-1", "provider", KP_BENCH_PROVIDER_1, out, NULL, err,
                          errlen) ||
                   s_cert(self, "provider-2", "provider", KP_BENCH_PROVIDER_2, out, NULL, err,
                          errlen)
               ? -1
               : 0;
}

const char *kp_local_client_cert(kp_local_t *self)
{
    return self->options.insecure ? NULL : self->client_cert;
}

const char *kp_local_server_key(kp_local_t *self)
{
    return self->options.insecure ? NULL : self->server_key;
}

int kp_local_cert_keys(const char *path, uint8_t public_key[32], uint8_t secret_key[32], char *err,
                       size_t errlen)
{
    zcert_t *cert = kp_curve_cert_load(path, true, err, errlen);
    if (!cert)
        return -1;
    memcpy(public_key, zcert_public_key(cert), 32);
    memcpy(secret_key, zcert_secret_key(cert), 32);
    zcert_destroy(&cert);
    return 0;
}

int kp_local_nodes_key(const kp_cluster_config_t *config, size_t count, char key[41], char *err,
                       size_t errlen)
{
    char other[KP_CURVE_Z85] = "";
    for (size_t i = 0; i < count && i < config->node_count; i++) {
        if (kp_curve_node_key(&config->nodes[i], i ? other : key, err, errlen))
            return -1;
        if (i && strcmp(other, key)) {
            snprintf(err, errlen, "the nodes have different keys: kpbench needs one key for all");
            return -1;
        }
    }
    return 0;
}

//  A free loopback port that nothing of ours has been given yet: a port
//  picked free and released may be picked again by the kernel.
static int s_port(kp_local_t *self)
{
    for (int tries = 0; tries < 1000; tries++) {
        int port = kp_free_port();
        if (port < 0)
            return -1;
        bool used = false;
        for (size_t i = 0; i < self->port_count && !used; i++)
            used = self->ports[i] == port;
        if (!used && self->port_count < S_MAX_PORTS) {
            self->ports[self->port_count++] = port;
            return port;
        }
    }
    return -1;
}

//  Names, sites, roles and ports of every member.
static int s_plan(kp_local_t *self, size_t voters, char *err, size_t errlen)
{
    const kp_local_options_t *o = &self->options;
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *n = &self->nodes[i];
        n->witness = i == voters;
        if (n->witness)
            snprintf(n->name, sizeof n->name, "witness");
        else
            snprintf(n->name, sizeof n->name, "node-%zu", i + 1);
        const char *site = n->witness             ? "namur"
                           : !self->replicated    ? (i % 2 ? "site-2" : "site-1")
                           : i < (voters + 1) / 2 ? "brussels"
                                                  : "charleroi";
        snprintf(n->site, sizeof n->site, "%s", site);
        snprintf(n->data, sizeof n->data, "%s/%s", self->dir, n->name);
        snprintf(n->config, sizeof n->config, "%s/%s.cfg", self->dir, n->name);
        n->admin_port = s_port(self);
        n->client_port = n->witness ? 0 : s_port(self);
        n->worker_port = n->witness ? 0 : s_port(self);
        n->peer_port = self->replicated ? s_port(self) : 0;
        n->mirror_port = o->two_sites && !n->witness ? s_port(self) : 0;
        if (n->admin_port < 0 || n->client_port < 0 || n->worker_port < 0 || n->peer_port < 0 ||
            n->mirror_port < 0) {
            snprintf(err, errlen, "cannot find free loopback ports: %s", strerror(errno));
            return -1;
        }
        snprintf(n->client, sizeof n->client, "tcp://127.0.0.1:%d", n->client_port);
    }
    return 0;
}

//  A relay link name -> target; its port, or -1.
static int s_link(kp_local_t *self, const char *name, int target, char *err, size_t errlen)
{
    for (int tries = 0; tries < 20; tries++) {
        int port = s_port(self);
        if (port < 0)
            break;
        char listen[64], to[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        snprintf(to, sizeof to, "127.0.0.1:%d", target);
        if (kp_relay_link(self->relay, name, listen, to, err, errlen) == port)
            return port;
    }
    snprintf(err, errlen, "the relay cannot listen for link %s", name);
    return -1;
}

//  With a WAN delay: a relay link for each ordered pair of members (peer
//  and mirror), and the delay on those between two sites, both ways.
static int s_relay(kp_local_t *self, char *err, size_t errlen)
{
    if (self->options.wan_delay_ms < 0 || self->node_count < 2)
        return 0;
    self->relay = kp_relay_new();
    if (!self->relay) {
        snprintf(err, errlen, "cannot start the relay");
        return -1;
    }
    for (size_t a = 0; a < self->node_count; a++)
        for (size_t b = 0; b < self->node_count; b++) {
            s_node_t *from = &self->nodes[a], *to = &self->nodes[b];
            if (a == b)
                continue;
            char name[80];
            if (to->peer_port) {
                snprintf(name, sizeof name, "%s>%s", from->name, to->name);
                if ((self->links[a][b][0] = s_link(self, name, to->peer_port, err, errlen)) < 0)
                    return -1;
            }
            if (to->mirror_port) {
                snprintf(name, sizeof name, "%s.log>%s", from->name, to->name);
                if ((self->links[a][b][1] = s_link(self, name, to->mirror_port, err, errlen)) < 0)
                    return -1;
            }
            if (!strcmp(from->site, to->site) || self->options.wan_delay_ms == 0)
                continue;
            //  One way (A's bytes to B, on A's links to B and on the answer
            //  side of B's links to A): the pair's other ordering does the
            //  other way.
            char command[160];
            snprintf(command, sizeof command, "delay %s,%s.log %s,%s.log %d", from->name,
                     from->name, to->name, to->name, self->options.wan_delay_ms);
            char *answer = kp_relay_command(self->relay, command);
            bool ok = answer && !strncmp(answer, "ok", 2);
            if (!ok)
                snprintf(err, errlen, "relay: %s: %s", command, answer ? answer : "no answer");
            free(answer);
            if (!ok)
                return -1;
        }
    return 0;
}

//  The cluster file as node viewer sees it (viewer == node_count: the
//  real endpoints, for kpctl and the providers).
static int s_write_cluster(kp_local_t *self, size_t viewer, const char *path, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "#   Written by kpbench --local.\ncluster\n    name = \"kpbench\"\n"
            "    heartbeat = 1000\n    max-frame = 1048576\n    deadline = 3000\n"
            "    log-retention-days = 3653\n%s%s",
            self->options.insecure ? "    insecure = true\n" : "",
            self->options.two_sites ? "    log-durability = \"two-sites\"\n" : "");
    if (self->options.segment_mib)
        fprintf(f, "    log-segment-mib = %u\n", self->options.segment_mib);
    fprintf(f, "node\n");
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *n = &self->nodes[i];
        fprintf(f, "    %s\n        role = \"%s\"\n        site = \"%s\"\n        data = \"%s\"\n",
                n->name, n->witness ? "witness" : "voter", n->site, n->data);
        if (!n->witness)
            fprintf(f, "        client = \"%s\"\n        worker = \"tcp://127.0.0.1:%d\"\n",
                    n->client, n->worker_port);
        fprintf(f, "        admin = \"tcp://127.0.0.1:%d\"\n", n->admin_port);
        bool relayed = self->relay && viewer < self->node_count && viewer != i;
        if (n->peer_port)
            fprintf(f,
                    "        peer = \"tcp://127.0.0.1:%d\"\n        peer-bind = "
                    "\"tcp://127.0.0.1:%d\"\n",
                    relayed ? self->links[viewer][i][0] : n->peer_port, n->peer_port);
        if (n->mirror_port)
            fprintf(f, "        mirror = \"tcp://127.0.0.1:%d\"\n",
                    relayed ? self->links[viewer][i][1] : n->mirror_port);
        if (!self->options.insecure)
            fprintf(f, "        cert = \"%s/cluster.cert\"\n", self->keys);
    }
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

//  Plans the members, starts the relay, writes the shared cluster file and
//  each node's own.
static int s_write_clusters(kp_local_t *self, size_t voters, char *err, size_t errlen)
{
    snprintf(self->cluster, sizeof self->cluster, "%s/cluster.cfg", self->dir);
    if (s_plan(self, voters, err, errlen) || s_relay(self, err, errlen) ||
        s_write_cluster(self, self->node_count, self->cluster, err, errlen))
        return -1;
    for (size_t i = 0; i < self->node_count; i++)
        if (s_write_cluster(self, i, self->nodes[i].config, err, errlen))
            return -1;
    return 0;
}

//  Runs a program to its end; 0 if it exited 0.
static int s_run(kp_local_t *self, char *const argv[], const char *what, char *err, size_t errlen)
{
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/%s.log", self->dir, what);
    pid_t pid = kp_proc_spawn(argv, log, err, errlen);
    if (pid < 0)
        return -1;
    int status;
    if (kp_proc_wait(pid, 600000, &status) != 0) {
        kp_proc_kill(pid);
        snprintf(err, errlen, "%s did not finish in 10 minutes; see %s", what, log);
        return -1;
    }
    if (status != 0) {
        snprintf(err, errlen, "%s failed (exit status %d); see %s%s", what, status, log,
                 self->options.keep ? "" : " (add --keep to keep it)");
        return -1;
    }
    return 0;
}

static int s_import(kp_local_t *self, char *err, size_t errlen)
{
    char jsonl[PATH_MAX + 64];
    snprintf(jsonl, sizeof jsonl, "%s/directory.jsonl", self->dir);
    FILE *f = fopen(jsonl, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", jsonl, strerror(errno));
        return -1;
    }
    int rc = kp_workload_write_directory(f, self->options.persons);
    if (rc == 0 && s_make_keys(self, f, err, errlen)) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0 || rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", jsonl, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < self->node_count; i++) {
        char what[64];
        snprintf(what, sizeof what, "import-%s", self->nodes[i].name);
        char *argv[] = {self->kpctl, "directory",         "import", jsonl,
                        "--data",    self->nodes[i].data, NULL};
        if (s_run(self, argv, what, err, errlen))
            return -1;
    }
    return 0;
}

int kp_local_start_node(kp_local_t *self, size_t index, char *err, size_t errlen)
{
    s_node_t *n = &self->nodes[index];
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/%s.log", self->dir, n->name);
    char *argv[] = {self->kpnode, "--config", n->config, "--name", n->name,
                    "--data",     n->data,    NULL,      NULL};
    if (self->options.unlogged)
        argv[7] = "--unlogged";
    n->pid = kp_proc_spawn(argv, log, err, errlen);
    if (n->pid < 0)
        return -1;
    int port = n->witness ? n->admin_port : n->client_port;
    for (int waited = 0; !kp_port_open(port); waited += 10) {
        int status;
        if (kp_proc_wait(n->pid, 10, &status) == 0) {
            n->pid = 0;
            snprintf(err, errlen, "kpnode %s exited with status %d at start; see %s", n->name,
                     status, log);
            return -1;
        }
        if (waited > 15000) {
            snprintf(err, errlen, "kpnode %s does not listen on port %d after 15 s; see %s",
                     n->name, port, log);
            return -1;
        }
    }
    return 0;
}

int kp_local_kill_node(kp_local_t *self, size_t index)
{
    if (index >= self->node_count || self->nodes[index].pid <= 0)
        return -1;
    kp_proc_kill(self->nodes[index].pid);
    self->nodes[index].pid = 0;
    return 0;
}

int kp_local_signal_node(kp_local_t *self, size_t index, int sig)
{
    if (index >= self->node_count || self->nodes[index].pid <= 0)
        return -1;
    return kill(self->nodes[index].pid, sig);
}

//  Echo workers for each provider institution on every node: a worker
//  serves the node it is connected to.
static int s_start_providers(kp_local_t *self, char *err, size_t errlen)
{
    static const struct {
        const char *kbo;
        int messages; //  1: wage and career, 2: career
    } institutions[] = {{KP_BENCH_PROVIDER_1, 1}, {KP_BENCH_PROVIDER_2, 2}};
    for (size_t n = 0; n < self->node_count; n++)
        for (size_t i = 0; i < 2 && !self->nodes[n].witness; i++)
            for (unsigned w = 0; w < self->options.providers; w++) {
                if (self->provider_count == S_MAX_PROVIDERS)
                    return 0;
                char *log = self->provider_logs[self->provider_count];
                snprintf(log, sizeof self->provider_logs[0], "%s/provider-%s-%s-%u.log", self->dir,
                         self->nodes[n].name, institutions[i].kbo, w);
                char *argv[24];
                int a = 0;
                argv[a++] = self->kpctl;
                argv[a++] = "provider";
                argv[a++] = "-c";
                argv[a++] = self->cluster;
                argv[a++] = "--node";
                argv[a++] = self->nodes[n].name;
                argv[a++] = "--kbo";
                argv[a++] = (char *)institutions[i].kbo;
                if (institutions[i].messages == 1) {
                    argv[a++] = "--message";
                    argv[a++] = "wage";
                }
                argv[a++] = "--message";
                argv[a++] = "career";
                argv[a++] = "--echo";
                argv[a++] = "--concurrency";
                argv[a++] = "64";
                argv[a++] = "--quiet";
                if (self->options.service_time) {
                    argv[a++] = "--service-time";
                    argv[a++] = (char *)self->options.service_time;
                }
                char cert[PATH_MAX + 32];
                snprintf(cert, sizeof cert, "%s/provider-%zu.cert", self->keys, i + 1);
                if (!self->options.insecure) {
                    argv[a++] = "--cert";
                    argv[a++] = cert;
                }
                argv[a] = NULL;
                pid_t pid = kp_proc_spawn(argv, log, err, errlen);
                if (pid < 0)
                    return -1;
                self->providers[self->provider_count++] = pid;
                int status;
                if (kp_proc_wait(pid, 50, &status) == 0) {
                    self->providers[--self->provider_count] = 0;
                    snprintf(err, errlen, "kpctl provider exited with status %d at start; see %s",
                             status, log);
                    return -1;
                }
            }
    return 0;
}

kp_local_t *kp_local_new(const kp_local_options_t *options, char *err, size_t errlen)
{
    kp_local_t *self = calloc(1, sizeof *self);
    assert(self);
    self->options = *options;
    size_t voters = options->nodes < 1 ? 1 : options->nodes;
    self->replicated = voters >= 2 && !options->independent;
    //  An even number of votes cannot outlive the loss of one site.
    self->node_count = voters + (self->replicated && voters % 2 == 0);
    if (voters > 8) {
        snprintf(err, errlen, "--nodes: at most 8 local nodes");
        free(self);
        return NULL;
    }
    if (kp_find_program("kpnode", "KPNODE", self->kpnode, sizeof self->kpnode, err, errlen) ||
        kp_find_program("kpctl", "KPCTL", self->kpctl, sizeof self->kpctl, err, errlen)) {
        free(self);
        return NULL;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/kpbench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(self->dir)) {
        snprintf(err, errlen, "cannot make a temporary folder %s: %s (set TMPDIR)", self->dir,
                 strerror(errno));
        free(self);
        return NULL;
    }
    if (options->verbose)
        fprintf(stderr, "kpbench: local cluster in %s\n", self->dir);
    //  The keys are made by s_import (they go into the directory), and
    //  the cluster file names the nodes' one: name the folder first.
    snprintf(self->keys, sizeof self->keys, "%s/keys", self->dir);
    if (s_write_clusters(self, voters, err, errlen) || s_import(self, err, errlen))
        goto failed;
    for (size_t i = 0; i < self->node_count; i++)
        if (kp_local_start_node(self, i, err, errlen))
            goto failed;
    if (s_start_providers(self, err, errlen))
        goto failed;
    return self;
failed:
    self->options.keep = true; //  the logs explain the failure
    kp_local_destroy(&self);
    return NULL;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

//  The counts of the provider's last stop line in log; 0, or -1 if none.
static int s_provider_counts(const char *log, uint64_t *served, uint64_t *again)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return -1;
    char line[512];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long n, r;
        if (sscanf(line, "provider %*s served %llu requests, %llu request ids more than once", &n,
                   &r) == 2) {
            *served = n;
            *again = r;
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

int kp_local_stop_providers(kp_local_t *self, uint64_t *served, uint64_t *again)
{
    *served = *again = 0;
    int rc = self->provider_count ? 0 : -1;
    for (size_t i = 0; i < self->provider_count; i++) {
        kp_proc_stop(self->providers[i], 2000);
        uint64_t n, r;
        if (s_provider_counts(self->provider_logs[i], &n, &r) == 0) {
            *served += n;
            *again += r;
        } else
            rc = -1;
    }
    self->provider_count = 0;
    return rc;
}

void kp_local_destroy(kp_local_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_local_t *self = *self_p;
    uint64_t served, again;
    kp_local_stop_providers(self, &served, &again);
    for (size_t i = 0; i < self->node_count; i++)
        if (self->nodes[i].pid > 0)
            kp_proc_stop(self->nodes[i].pid, 5000);
    kp_relay_destroy(&self->relay);
    if (self->options.keep)
        fprintf(stderr, "kpbench: kept the local cluster's folder %s\n", self->dir);
    else
        nftw(self->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    free(self);
    *self_p = NULL;
}

const char *kp_local_dir(kp_local_t *self)
{
    return self->dir;
}

const char *kp_local_cluster_file(kp_local_t *self)
{
    return self->cluster;
}

size_t kp_local_node_count(kp_local_t *self)
{
    return self->node_count;
}

const char *kp_local_node_name(kp_local_t *self, size_t index)
{
    return index < self->node_count ? self->nodes[index].name : NULL;
}

const char *kp_local_client_endpoint(kp_local_t *self, size_t index)
{
    return index < self->node_count && !self->nodes[index].witness ? self->nodes[index].client
                                                                   : NULL;
}

const char *kp_local_node_site(kp_local_t *self, size_t index)
{
    return index < self->node_count ? self->nodes[index].site : NULL;
}

bool kp_local_replicated(kp_local_t *self)
{
    return self->replicated;
}

int kp_local_node_index(kp_local_t *self, const char *name)
{
    for (size_t i = 0; i < self->node_count; i++)
        if (!strcmp(self->nodes[i].name, name))
            return (int)i;
    return -1;
}

pid_t kp_local_node_pid(kp_local_t *self, size_t index)
{
    return index < self->node_count && self->nodes[index].pid > 0 ? self->nodes[index].pid : 0;
}

size_t kp_local_provider_count(kp_local_t *self)
{
    return self->provider_count;
}

pid_t kp_local_provider_pid(kp_local_t *self, size_t index)
{
    return index < self->provider_count ? self->providers[index] : 0;
}
