/*  sites.c - a cluster of real kpnode processes on emulated sites. */
#include "sites.h"

#include <assert.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

//  Raft timing of the tests' clusters: quick elections, so that a test
//  that kills leaders stays within its time.
#define S_ELECTION_MS 400
#define S_RAFT_HEARTBEAT_MS 50
//  Snapshots every few entries: every test that makes a few dozen
//  updates also takes snapshots and compacts the log.
#define S_SNAPSHOT_THRESHOLD 16
#define S_SNAPSHOT_TRAILING 4

//  Ports handed out so far: a port picked free and released may be
//  picked again by the kernel for the next bind to port 0, so the relay's
//  ports are picked here too, each different from every other.
typedef struct {
    int ports[8 * SITES_MAX * SITES_MAX];
    size_t count;
} s_ports_t;

static int s_port_of(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    return colon ? atoi(colon + 1) : 0;
}

static int s_unique_port(s_ports_t *taken)
{
    for (;;) {
        int port = harness_free_port();
        bool used = false;
        for (size_t i = 0; i < taken->count && !used; i++)
            used = taken->ports[i] == port;
        if (!used) {
            assert(taken->count < sizeof taken->ports / sizeof taken->ports[0]);
            taken->ports[taken->count++] = port;
            return port;
        }
    }
}

static bool s_is_witness(sites_t *self, size_t index)
{
    return !strcmp(self->harness->name[index], "witness");
}

static const char *s_site(sites_t *self, size_t index, size_t voters)
{
    if (s_is_witness(self, index))
        return "namur";
    return index < (voters + 1) / 2 ? "brussels" : "charleroi";
}

//  Joining nodes come last in the file (raft ids are places in it).
static bool s_is_joining(sites_t *self, size_t index)
{
    return index >= self->count - self->joining;
}

//  Node viewer's cluster file: every other node's peer is the relay port
//  of link "viewer>other". viewer == count: kpctl's file (peers real).
static void s_write_config(sites_t *self, size_t viewer, size_t voters, int stale_limit_s,
                           int ports[SITES_MAX][SITES_MAX], const char *path)
{
    harness_t *h = self->harness;
    FILE *file = fopen(path, "w");
    assert(file);
    fprintf(file,
            "cluster\n    name = \"sites\"\n    heartbeat = 200\n    deadline = 3000\n"
            "%s    kbo = \"" HARNESS_KBO "\"\n"
            "    max-frame = 1048576\n    stale-limit = %d\n    election-timeout = %d\n"
            "    raft-heartbeat = %d\n    snapshot-threshold = %d\n    snapshot-trailing = %d\n"
            "node\n",
            h->secure ? "" : "    insecure = true\n", stale_limit_s, S_ELECTION_MS,
            S_RAFT_HEARTBEAT_MS, S_SNAPSHOT_THRESHOLD, S_SNAPSHOT_TRAILING);
    for (size_t i = 0; i < self->count; i++) {
        char peer[64];
        if (viewer == i || viewer == self->count || getenv("SITES_DIRECT"))
            snprintf(peer, sizeof peer, "%s", self->peer_bind[i]);
        else
            snprintf(peer, sizeof peer, "tcp://127.0.0.1:%d", ports[viewer][i]);
        fprintf(file, "    %s\n        role = \"%s\"\n        site = \"%s\"\n", h->name[i],
                s_is_witness(self, i) ? "witness" : "voter", s_site(self, i, voters));
        fprintf(file,
                "        data = \"%s/%s\"\n        admin = \"%s\"\n        metrics = \"%s\"\n",
                h->dir, h->name[i], h->admin[i], h->metrics[i]);
        if (!s_is_witness(self, i))
            fprintf(file, "        client = \"%s\"\n        worker = \"%s\"\n", h->client[i],
                    h->worker[i]);
        fprintf(file, "        peer = \"%s\"\n        peer-bind = \"%s\"\n", peer,
                self->peer_bind[i]);
        if (s_is_joining(self, i))
            fprintf(file, "        join = \"true\"\n");
        if (h->secure)
            fprintf(file, "        cert = \"%s/%s.cert\"\n", h->keys, h->name[i]);
        if (*self->mirror[i])
            fprintf(file, "        mirror = \"%s\"\n", self->mirror[i]);
    }
    fclose(file);
}

static sites_t *s_new(size_t voters, bool witness, size_t joining, int stale_limit_s, bool secure)
{
    size_t count = voters + (witness ? 1 : 0) + joining;
    assert(voters >= 2 && count <= SITES_MAX);
    sites_t *self = calloc(1, sizeof *self);
    assert(self);
    self->count = count;
    self->joining = joining;
    self->harness = secure ? harness_new(count, 200, 3000, 1048576)
                           : harness_new_insecure(count, 200, 3000, 1048576);
    self->relay = kp_relay_new();
    assert(self->relay);
    harness_t *h = self->harness;
    static s_ports_t taken;
    taken.count = 0;
    for (size_t i = 0; i < count; i++) {
        taken.ports[taken.count++] = s_port_of(h->client[i]);
        taken.ports[taken.count++] = s_port_of(h->worker[i]);
        taken.ports[taken.count++] = s_port_of(h->admin[i]);
        taken.ports[taken.count++] = s_port_of(h->metrics[i]);
    }
    for (size_t i = 0, voter = 0; i < count; i++) {
        if (witness && i == voters)
            snprintf(h->name[i], sizeof h->name[i], "witness");
        else
            snprintf(h->name[i], sizeof h->name[i], "node-%zu", ++voter);
        snprintf(self->peer_bind[i], sizeof self->peer_bind[i], "tcp://127.0.0.1:%d",
                 s_unique_port(&taken));
        if (secure && !(witness && i == voters))
            snprintf(self->mirror[i], sizeof self->mirror[i], "tcp://127.0.0.1:%d",
                     s_unique_port(&taken));
        if (secure)
            harness_cert(h, h->name[i], h->node_key[i]);
    }
    h->seed_once = secure;
    static int ports[SITES_MAX][SITES_MAX];
    for (size_t from = 0; from < count; from++)
        for (size_t to = 0; to < count; to++) {
            if (from == to)
                continue;
            char name[80], err[256];
            snprintf(name, sizeof name, "%s>%s", h->name[from], h->name[to]);
            ports[from][to] = kp_relay_link(self->relay, name, "127.0.0.1:0", self->peer_bind[to],
                                            err, sizeof err);
            assert(ports[from][to] > 0);
        }
    for (size_t i = 0; i < count; i++) {
        snprintf(h->node_config[i], sizeof h->node_config[i], "%s/%s.cfg", h->dir, h->name[i]);
        s_write_config(self, i, voters, stale_limit_s, ports, h->node_config[i]);
    }
    s_write_config(self, count, voters, stale_limit_s, ports, h->config);
    return self;
}

sites_t *sites_new(size_t voters, bool witness, int stale_limit_s)
{
    return s_new(voters, witness, 0, stale_limit_s, false);
}

sites_t *sites_new_joining(size_t voters, bool witness, size_t joining, int stale_limit_s)
{
    return s_new(voters, witness, joining, stale_limit_s, false);
}

sites_t *sites_new_secure(size_t voters, bool witness, int stale_limit_s)
{
    return s_new(voters, witness, 0, stale_limit_s, true);
}

sites_t *sites_new_secure_joining(size_t voters, bool witness, size_t joining, int stale_limit_s)
{
    return s_new(voters, witness, joining, stale_limit_s, true);
}

void sites_destroy(sites_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_destroy(&(*self_p)->harness);
    kp_relay_destroy(&(*self_p)->relay);
    free(*self_p);
    *self_p = NULL;
}

//  Puts lines after the first line ("cluster") of the file at path.
static void s_insert_after_first_line(const char *path, const char *lines)
{
    FILE *file = fopen(path, "r");
    assert(file);
    char text[16384];
    size_t size = fread(text, 1, sizeof text - 1, file);
    assert(feof(file)); //  the whole file was read
    fclose(file);
    text[size] = '\0';
    char *rest = strchr(text, '\n');
    assert(rest && !strncmp(text, "cluster\n", 8));
    file = fopen(path, "w");
    assert(file);
    fprintf(file, "%.*s%s%s", (int)(rest + 1 - text), text, lines, rest + 1);
    fclose(file);
}

void sites_cluster_lines(sites_t *self, const char *lines)
{
    for (size_t i = 0; i < self->count; i++)
        s_insert_after_first_line(self->harness->node_config[i], lines);
    s_insert_after_first_line(self->harness->config, lines);
}

void sites_start(sites_t *self, size_t index)
{
    harness_start_node(self->harness, index);
}

void sites_start_all(sites_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        sites_start(self, i);
}

void sites_kill(sites_t *self, size_t index)
{
    harness_stop_node(self->harness, index, SIGKILL);
}

void sites_wipe(sites_t *self, size_t index)
{
    assert(self->harness->node[index] == 0);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s/%s'", self->harness->dir,
             self->harness->name[index]);
    int rc = system(command);
    assert(rc == 0);
    (void)rc;
}

const char *sites_name(sites_t *self, size_t index)
{
    return self->harness->name[index];
}

void sites_relay(sites_t *self, const char *command)
{
    char *answer = kp_relay_command(self->relay, command);
    bool ok = answer && !strncmp(answer, "ok", 2);
    if (!ok)
        fprintf(stderr, "sites: relay '%s': %s\n", command, answer ? answer : "(no answer)");
    assert(ok);
    free(answer);
}

//  The JSON answer of an admin command, or NULL.
static json_t *s_admin_json(sites_t *self, size_t index, const char *command, const char *arg,
                            int timeout_ms)
{
    if (self->harness->node[index] == 0)
        return NULL;
    Kp__AdminReply *reply = NULL;
    if (arg) {
        //  harness_admin sends no arguments: build the request here.
        Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
        request.command = (char *)command;
        char *args[1] = {(char *)arg};
        request.args = args;
        request.n_args = 1;
        size_t size = kp__admin_request__get_packed_size(&request);
        uint8_t *buffer = malloc(size + 1);
        assert(buffer);
        kp__admin_request__pack(&request, buffer);
        zsock_t *sock = harness_dealer(self->harness, self->harness->admin[index], "operator");
        zsock_set_rcvtimeo(sock, timeout_ms);
        zframe_t *frame = zframe_new(buffer, size);
        zframe_send(&frame, sock, 0);
        free(buffer);
        zframe_t *in = zframe_recv(sock);
        if (in)
            reply = kp__admin_reply__unpack(NULL, zframe_size(in), zframe_data(in));
        zframe_destroy(&in);
        zsock_destroy(&sock);
    } else
        reply = harness_admin(self->harness, index, command, NULL, timeout_ms);
    json_t *json = NULL;
    if (reply && reply->status == KP__STATUS__OK && reply->json)
        json = json_loads(reply->json, 0, NULL);
    if (reply)
        kp__admin_reply__free_unpacked(reply, NULL);
    return json;
}

static void s_copy(char *out, size_t size, json_t *value)
{
    snprintf(out, size, "%s", json_is_string(value) ? json_string_value(value) : "");
}

bool sites_status(sites_t *self, size_t index, int timeout_ms, sites_status_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *json = s_admin_json(self, index, "status", NULL, timeout_ms);
    if (!json)
        return false;
    out->seq = (uint64_t)json_integer_value(json_object_get(json, "directory_seq"));
    json_t *cluster = json_object_get(json, "raft");
    s_copy(out->role, sizeof out->role, json_object_get(cluster, "role"));
    s_copy(out->leader, sizeof out->leader, json_object_get(cluster, "leader"));
    out->term = (uint64_t)json_integer_value(json_object_get(cluster, "term"));
    out->commit = (uint64_t)json_integer_value(json_object_get(cluster, "commit_index"));
    out->applied = (uint64_t)json_integer_value(json_object_get(cluster, "applied_index"));
    out->stale = json_is_true(json_object_get(cluster, "stale"));
    out->snapshots = (uint64_t)json_integer_value(json_object_get(cluster, "snapshots"));
    out->restores = (uint64_t)json_integer_value(json_object_get(cluster, "restores"));
    out->members = (uint64_t)json_integer_value(json_object_get(cluster, "members"));
    out->voters = (uint64_t)json_integer_value(json_object_get(cluster, "voters"));
    const char *member = json_string_value(json_object_get(cluster, "member"));
    out->removed = member && !strcmp(member, "removed");
    out->frames_out = (uint64_t)json_integer_value(
        json_object_get(json_object_get(cluster, "peer_frames"), "out"));
    json_decref(json);
    return true;
}

int sites_leader(sites_t *self, const bool *among, int timeout_ms)
{
    int64_t give_up = harness_now_ms() + timeout_ms;
    do {
        int leader = -1;
        bool agreed = true;
        for (size_t i = 0; i < self->count && agreed; i++) {
            if ((among && !among[i]) || self->harness->node[i] == 0)
                continue;
            sites_status_t status;
            if (!sites_status(self, i, 500, &status) || !*status.leader) {
                agreed = false;
                break;
            }
            int named = -1;
            for (size_t j = 0; j < self->count; j++)
                if (!strcmp(status.leader, sites_name(self, j)))
                    named = (int)j;
            if (named < 0 || (leader >= 0 && named != leader))
                agreed = false;
            leader = named;
        }
        if (agreed && leader >= 0 && self->harness->node[leader]) {
            sites_status_t status;
            if (sites_status(self, (size_t)leader, 500, &status) && !strcmp(status.role, "leader"))
                return leader;
        }
        usleep(50000);
    } while (harness_now_ms() < give_up);
    return -1;
}

Kp__AdminReply *sites_apply(sites_t *self, size_t index, Kp__DirectoryUpdate *update,
                            int timeout_ms)
{
    if (self->harness->node[index] == 0)
        return NULL;
    return harness_admin(self->harness, index, "directory.apply", update, timeout_ms);
}

bool sites_checksum(sites_t *self, size_t index, uint64_t *seq, char sha256[65])
{
    json_t *json = s_admin_json(self, index, "directory.checksum", NULL, 5000);
    if (!json)
        return false;
    *seq = (uint64_t)json_integer_value(json_object_get(json, "seq"));
    s_copy(sha256, 65, json_object_get(json, "sha256"));
    json_decref(json);
    return true;
}

//  One pass: true if every running directory node of among shows the
//  same sequence (>= min_seq) and checksum.
static bool s_same(sites_t *self, const bool *among, uint64_t min_seq)
{
    uint64_t first_seq = 0;
    char first[65] = "";
    for (size_t i = 0; i < self->count; i++) {
        if ((among && !among[i]) || self->harness->node[i] == 0 || s_is_witness(self, i))
            continue;
        uint64_t seq;
        char sha[65];
        if (!sites_checksum(self, i, &seq, sha) || seq < min_seq)
            return false;
        if (!*first) {
            first_seq = seq;
            snprintf(first, sizeof first, "%s", sha);
        } else if (seq != first_seq || strcmp(sha, first))
            return false;
    }
    return true;
}

bool sites_converged(sites_t *self, const bool *among, uint64_t min_seq, int timeout_ms)
{
    int64_t give_up = harness_now_ms() + timeout_ms;
    while (!s_same(self, among, min_seq))
        if (harness_now_ms() > give_up)
            return false;
        else
            usleep(50000);
    return true;
}

//  The INSZ of update n: born 1980-MM-DD, serial from n, mod-97 check.
static void s_insz(unsigned n, char out[12])
{
    unsigned serial = n % 997 + 1, day = (n / 997) % 28 + 1, month = (n / (997 * 28)) % 12 + 1;
    unsigned long long first9 = 800000000ULL + month * 1000000ULL + day * 1000ULL + serial;
    snprintf(out, 12, "%09llu%02llu", first9, 97 - first9 % 97);
}

Kp__DirectoryUpdate *sites_update_new(unsigned n)
{
    Kp__DirectoryUpdate *update = calloc(1, sizeof *update);
    Kp__DirectoryOp *op = calloc(1, sizeof *op);
    Kp__DirectoryRecord *record = calloc(1, sizeof *record);
    Kp__PersonEntry *person = calloc(1, sizeof *person);
    assert(update && op && record && person);
    kp__directory_update__init(update);
    kp__directory_op__init(op);
    kp__directory_record__init(record);
    kp__person_entry__init(person);
    person->insz = malloc(12);
    assert(person->insz);
    s_insz(n, person->insz);
    person->kbo = strdup("0206731645");
    person->has_sector = person->has_type = person->has_capacity = true;
    person->sector = 25;
    person->type = 0;
    person->capacity = 1;
    person->from = strdup("2020-01-01");
    person->to = strdup("9999-12-31");
    record->record_case = KP__DIRECTORY_RECORD__RECORD_PERSON;
    record->person = person;
    op->has_kind = true;
    op->kind = KP__DIRECTORY_OP__KIND__PUT;
    op->record = record;
    update->ops = calloc(1, sizeof *update->ops);
    assert(update->ops);
    update->ops[0] = op;
    update->n_ops = 1;
    update->origin = strdup("test");
    return update;
}

void sites_update_free(Kp__DirectoryUpdate **update_p)
{
    if (*update_p) {
        //  Every part was malloc'd, as protobuf-c's own unpack does.
        kp__directory_update__free_unpacked(*update_p, NULL);
        *update_p = NULL;
    }
}

bool sites_has_update(sites_t *self, size_t index, unsigned n)
{
    char insz[12];
    s_insz(n, insz);
    json_t *json = s_admin_json(self, index, "directory.person", insz, 5000);
    bool found = json && json_array_size(json_object_get(json, "entries")) > 0;
    json_decref(json);
    return found;
}

int sites_kpctl(sites_t *self, char *out, size_t size, const char *format, ...)
{
    char args[512], cert[512] = "", command[1536];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof args, format, list);
    va_end(list);
    if (self->harness->secure)
        snprintf(cert, sizeof cert, " --cert '%s'", harness_cert(self->harness, "operator", NULL));
    snprintf(command, sizeof command, "'%s' %s -c '%s'%s 2>&1", getenv("KPCTL"), args,
             self->harness->config, cert);
    FILE *pipe = popen(command, "r");
    assert(pipe);
    size_t used = fread(out, 1, size - 1, pipe);
    out[used] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
