/*  harness.c - real kpnode processes on loopback, for integration tests. */
#include "harness.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "curve.h"
#include "directory.h"
#include "jsonl.h"

#define S_START_CEILING_MS 60000   //  a started node answers status by then
#define S_WORKERS_CEILING_MS 30000 //  connected workers show in status by then

//  A port is held for the test process's lifetime by a lock on a file
//  named after it: meson runs tests side by side, and a port one test
//  picked, or freed by killing its node to restart it later, must not be
//  picked by another test meanwhile (both nodes would then race for its
//  bind). The kernel drops the locks when the process ends, however it ends.
static bool s_port_claim(int port)
{
    const char *tmp = getenv("TMPDIR");
    char path[300];
    snprintf(path, sizeof path, "%s/kp-harness-ports", tmp && *tmp ? tmp : "/tmp");
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return true; //  no shared folder: the bind check below is all there is
    char file[340];
    snprintf(file, sizeof file, "%s/%d", path, port);
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return true;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return false; //  another test holds it
    }
    return true; //  fd stays open: the lock lasts as long as this process
}

//  A loopback port nobody listens on right now, below the kernel's range
//  of ephemeral ports (32768 and up by default): the nodes' and the
//  relay's own outgoing connections take those, and one of them could
//  take a port picked here before its node binds it.
int harness_free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)zclock_usecs();
    for (;;) {
        int port = 20000 + (int)(rand_r(&seed) % 12000);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert(fd >= 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
        close(fd);
        if (rc == 0 && s_port_claim(port))
            return port;
    }
}

const char *harness_cert(harness_t *self, const char *name, char *key_out)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s.cert", self->keys, name);
    char err[256];
    if (access(path, R_OK) != 0 && kp_curve_cert_new(path, err, sizeof err) != 0) {
        fprintf(stderr, "harness: %s\n", err);
        assert(!"cannot make a certificate");
    }
    if (key_out) {
        zcert_t *cert = zcert_load(path);
        assert(cert);
        snprintf(key_out, 41, "%s", zcert_public_txt(cert));
        zcert_destroy(&cert);
    }
    return path;
}

static void s_key_line(harness_t *self, const char *name, const char *kind, const char *identity,
                       char *line, size_t size)
{
    char key[41];
    harness_cert(self, name, key);
    snprintf(line, size,
             "{\"table\":\"key\",\"key\":\"%s\",\"kind\":\"%s\",\"identity\":\"%s\","
             "\"from\":\"2000-01-01\"}",
             key, kind, identity);
}

//  Puts the keys of the certificates made so far (the operator's, and
//  the "app-USER" and "provider-KBO" ones harness_load makes) straight
//  into the directory of node index before it starts: the operator's is
//  the one key the admin socket needs before anything can be loaded
//  through it, and a worker started early finds its key there.
static void s_seed_keys(harness_t *self, size_t index)
{
    char path[400], err[256];
    if (*self->name[index])
        snprintf(path, sizeof path, "%s/%s/directory", self->dir, self->name[index]);
    else
        snprintf(path, sizeof path, "%s/node-%zu/directory", self->dir, index + 1);
    kp_directory_t *dir = kp_directory_new(path, err, sizeof err);
    assert(dir);
    harness_cert(self, "operator", NULL);
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    zdir_t *keys = zdir_new(self->keys, NULL);
    zlist_t *files = zdir_list(keys);
    for (zfile_t *file = zlist_first(files); file; file = zlist_next(files)) {
        const char *name = strrchr(zfile_filename(file, NULL), '/') + 1;
        char base[160], line[300];
        size_t len = strlen(name);
        if (len < 6 || len >= sizeof base || strcmp(name + len - 5, ".cert"))
            continue;
        snprintf(base, sizeof base, "%.*s", (int)(len - 5), name);
        if (!strcmp(base, "operator"))
            s_key_line(self, base, "operator", "harness", line, sizeof line);
        else if (!strncmp(base, "app-", 4))
            s_key_line(self, base, "application", base + 4, line, sizeof line);
        else if (!strncmp(base, "provider-", 9))
            s_key_line(self, base, "provider", base + 9, line, sizeof line);
        else
            continue;
        kp_jsonl_batch_add(batch, kp_jsonl_parse(line, strlen(line), err, sizeof err));
    }
    zlist_destroy(&files);
    zdir_destroy(&keys);
    int rc = kp_directory_apply(dir, kp_jsonl_batch_update(batch), NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "harness: %s\n", err);
    assert(rc == 0);
    kp_jsonl_batch_destroy(&batch);
    kp_directory_destroy(&dir);
}

static harness_t *s_new(size_t node_count, int heartbeat_ms, int deadline_ms, int max_frame,
                        bool secure)
{
    assert(node_count >= 1 && node_count <= HARNESS_MAX_NODES);
    harness_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->dir, sizeof self->dir, "/tmp/kp-test-XXXXXX");
    assert(mkdtemp(self->dir));
    snprintf(self->config, sizeof self->config, "%s/cluster.cfg", self->dir);
    snprintf(self->keys, sizeof self->keys, "%s/keys", self->dir);
    assert(mkdir(self->keys, 0700) == 0);
    self->node_count = node_count;
    self->secure = secure;
    if (secure) {
        harness_cert(self, "cluster", self->server_key);
        //  Worker processes find their certificates here.
        setenv("KP_HARNESS_KEYS", self->keys, 1);
    } else
        unsetenv("KP_HARNESS_KEYS");
    FILE *file = fopen(self->config, "w");
    assert(file);
    fprintf(file,
            "cluster\n    name = \"test\"\n    heartbeat = %d\n    deadline = %d\n"
            "    max-frame = %d\n    kbo = \"" HARNESS_KBO "\"\n%snode\n",
            heartbeat_ms, deadline_ms, max_frame, secure ? "" : "    insecure = true\n");
    for (size_t i = 0; i < node_count; i++) {
        snprintf(self->client[i], 64, "tcp://127.0.0.1:%d", harness_free_port());
        snprintf(self->worker[i], 64, "tcp://127.0.0.1:%d", harness_free_port());
        snprintf(self->admin[i], 64, "tcp://127.0.0.1:%d", harness_free_port());
        snprintf(self->metrics[i], 64, "127.0.0.1:%d", harness_free_port());
        fprintf(file,
                "    node-%zu\n        site = \"site-%zu\"\n        data = \"%s/node-%zu\"\n"
                "        client = \"%s\"\n        worker = \"%s\"\n        admin = \"%s\"\n"
                "        metrics = \"%s\"\n",
                i + 1, i % 2 + 1, self->dir, i + 1, self->client[i], self->worker[i],
                self->admin[i], self->metrics[i]);
        if (secure)
            fprintf(file, "        cert = \"%s/cluster.cert\"\n", self->keys);
    }
    fclose(file);
    return self;
}

void harness_limits(harness_t *self, const char *lines)
{
    FILE *file = fopen(self->config, "a");
    assert(file);
    fprintf(file, "limits\n%s", lines);
    fclose(file);
}

//  Rewrites the cluster file path with text inserted at the first place
//  where marker is: before it, or else after the end of its line.
static void s_file_insert(const char *path, const char *marker, bool before, const char *text)
{
    FILE *file = fopen(path, "r");
    assert(file);
    static char config[16384];
    size_t size = fread(config, 1, sizeof config - 1, file);
    fclose(file);
    config[size] = 0;
    char *at = strstr(config, marker);
    assert(at);
    if (!before)
        at += strcspn(at, "\n") + (at[strcspn(at, "\n")] == '\n');
    file = fopen(path, "w");
    assert(file);
    fprintf(file, "%.*s%s%s", (int)(at - config), config, text, at);
    fclose(file);
}

static void s_config_insert(harness_t *self, const char *marker, bool before, const char *text)
{
    s_file_insert(self->config, marker, before, text);
}

void harness_cluster_line(harness_t *self, const char *line)
{
    char text[512];
    snprintf(text, sizeof text, "\n    %s", line);
    s_config_insert(self, "\nnode\n", true, text);
    for (size_t i = 0; i < self->node_count; i++)
        if (*self->node_config[i]) //  sites.h: each node's own file too
            s_file_insert(self->node_config[i], "\nnode\n", true, text);
}

void harness_node_line(harness_t *self, size_t index, const char *line)
{
    char marker[96], text[512];
    snprintf(marker, sizeof marker, "metrics = \"%s\"", self->metrics[index]);
    snprintf(text, sizeof text, "        %s\n", line);
    s_config_insert(self, marker, false, text);
}

harness_t *harness_new(size_t node_count, int heartbeat_ms, int deadline_ms, int max_frame)
{
    return s_new(node_count, heartbeat_ms, deadline_ms, max_frame, true);
}

harness_t *harness_new_insecure(size_t node_count, int heartbeat_ms, int deadline_ms, int max_frame)
{
    return s_new(node_count, heartbeat_ms, deadline_ms, max_frame, false);
}

//  The public key of the node that serves endpoint.
static const char *s_server_key(harness_t *self, const char *endpoint)
{
    for (size_t i = 0; i < self->node_count; i++)
        if (*self->node_key[i] &&
            (!strcmp(endpoint, self->client[i]) || !strcmp(endpoint, self->worker[i]) ||
             !strcmp(endpoint, self->admin[i])))
            return self->node_key[i];
    return self->server_key;
}

//  Rewrites the cert lines of file: node i's names its own certificate.
static void s_own_certs_in(harness_t *self, const char *path)
{
    FILE *file = fopen(path, "r");
    assert(file);
    static char text[32768];
    size_t size = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[size] = '\0';
    file = fopen(path, "w");
    assert(file);
    int node = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        for (size_t i = 0; i < self->node_count; i++)
            if (!strncmp(line, "    ", 4) && !strcmp(line + 4, self->name[i]))
                node = (int)i;
        if (node >= 0 && strstr(line, "cert = ") && strstr(line, "/cluster.cert"))
            fprintf(file, "        cert = \"%s/%s.cert\"\n", self->keys, self->name[node]);
        else
            fprintf(file, "%s\n", line);
    }
    fclose(file);
}

void harness_own_certs(harness_t *self)
{
    assert(self->secure);
    for (size_t i = 0; i < self->node_count; i++)
        if (!*self->name[i])
            snprintf(self->name[i], sizeof self->name[i], "node-%zu", i + 1);
    for (size_t i = 0; i < self->node_count; i++) {
        harness_cert(self, self->name[i], self->node_key[i]);
        if (*self->node_config[i])
            s_own_certs_in(self, self->node_config[i]);
    }
    s_own_certs_in(self, self->config);
}

zsock_t *harness_dealer(harness_t *self, const char *endpoint, const char *name)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert(sock);
    zsock_set_linger(sock, 0);
    if (self->secure) {
        char err[256];
        zcert_t *cert = kp_curve_cert_load(harness_cert(self, name, NULL), true, err, sizeof err);
        assert(cert);
        int rc = kp_curve_client(zsock_resolve(sock), cert, s_server_key(self, endpoint), err,
                                 sizeof err);
        assert(rc == 0);
        (void)rc;
        zcert_destroy(&cert);
    }
    int rc = zsock_connect(sock, "%s", endpoint);
    assert(rc == 0);
    (void)rc;
    return sock;
}

zsock_t *harness_client_as(harness_t *self, size_t index, const char *name)
{
    return harness_dealer(self, self->client[index], name);
}

void harness_grant(harness_t *self, size_t index, const char *name, const char *kind,
                   const char *identity)
{
    char line[300];
    s_key_line(self, name, kind, identity, line, sizeof line);
    harness_load(self, index, line);
}

static void s_kill_wait(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

void harness_destroy(harness_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    harness_t *self = *self_p;
    for (size_t i = 0; i < self->proc_count; i++)
        s_kill_wait(self->procs[i], SIGKILL);
    for (size_t i = 0; i < self->node_count; i++)
        s_kill_wait(self->node[i], SIGKILL);
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", self->dir);
    if (system(command) != 0)
        fprintf(stderr, "harness: could not remove %s\n", self->dir);
    free(self);
    *self_p = NULL;
}

pid_t harness_spawn(harness_t *self, char *const argv[])
{
    assert(self->proc_count < HARNESS_MAX_PROCS);
    pid_t pid = fork();
    assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); //  no orphans when a test dies
        execv(argv[0], argv);
        fprintf(stderr, "harness: cannot run %s\n", argv[0]);
        _exit(127);
    }
    self->procs[self->proc_count++] = pid;
    return pid;
}

char *harness_http(harness_t *self, size_t index, const char *method, const char *path, int *status)
{
    int port = atoi(strrchr(self->metrics[index], ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert(fd >= 0);
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
    char request[512];
    int size = snprintf(request, sizeof request, "%s %s HTTP/1.0\r\nHost: %s\r\n\r\n", method, path,
                        self->metrics[index]);
    if (write(fd, request, (size_t)size) != size) {
        close(fd);
        return NULL;
    }
    size_t used = 0, cap = 65536;
    char *reply = malloc(cap + 1);
    assert(reply);
    ssize_t n;
    while ((n = read(fd, reply + used, cap - used)) > 0)
        if ((used += (size_t)n) == cap) {
            char *bigger = realloc(reply, (cap *= 2) + 1);
            assert(bigger);
            reply = bigger;
        }
    close(fd);
    reply[used] = '\0';
    char *body = strstr(reply, "\r\n\r\n");
    if (sscanf(reply, "HTTP/1.%*d %d", status) != 1 || !body) {
        free(reply);
        return NULL;
    }
    memmove(reply, body + 4, strlen(body + 4) + 1);
    return reply;
}

double harness_metric(harness_t *self, size_t index, const char *series)
{
    int status = 0;
    char *body = harness_http(self, index, "GET", "/metrics", &status);
    double value = -1;
    for (char *at = body ? strstr(body, series) : NULL; at; at = strstr(at + 1, series))
        if ((at == body || at[-1] == '\n') && at[strlen(series)] == ' ') {
            value = strtod(at + strlen(series), NULL);
            break;
        }
    free(body);
    return value;
}

int64_t harness_now_ms(void)
{
    return zclock_mono();
}

void harness_start_node(harness_t *self, size_t index)
{
    const char *kpnode = getenv("KPNODE");
    assert(kpnode && "KPNODE must name the kpnode program");
    char name[32];
    if (*self->name[index])
        snprintf(name, sizeof name, "%s", self->name[index]);
    else
        snprintf(name, sizeof name, "node-%zu", index + 1);
    const char *config = *self->node_config[index] ? self->node_config[index] : self->config;
    if (self->secure && !self->seeded[index])
        s_seed_keys(self, index);
    self->seeded[index] = self->seed_once;
    pid_t pid = fork();
    assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = *self->node_log[index]
                     ? open(self->node_log[index], O_WRONLY | O_CREAT | O_APPEND, 0600)
                     : -1;
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(kpnode, kpnode, "--config", config, "--name", name, (char *)NULL);
        _exit(127);
    }
    self->node[index] = pid;
    //  A ceiling, not a wait: a quiet machine answers in milliseconds, but a
    //  node under AddressSanitizer on a loaded machine (replaying its log,
    //  taking a snapshot) took more than 10 s. A node that exited fails now.
    int64_t deadline = zclock_mono() + S_START_CEILING_MS;
    while (zclock_mono() < deadline) {
        Kp__AdminReply *reply = harness_admin(self, index, "status", NULL, 1000);
        if (reply) {
            kp__admin_reply__free_unpacked(reply, NULL);
            return;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            self->node[index] = 0;
            fprintf(stderr, "harness: %s exited (status %d) before it answered\n", name, status);
            assert(!"node exited before it answered status");
        }
    }
    fprintf(stderr, "harness: %s did not answer status within %d s\n", name,
            S_START_CEILING_MS / 1000);
    assert(!"node did not answer status");
}

int harness_stop_node(harness_t *self, size_t index, int sig)
{
    int status = -1;
    if (self->node[index] > 0) {
        kill(self->node[index], sig);
        waitpid(self->node[index], &status, 0);
        self->node[index] = 0;
    }
    return status;
}

static zmsg_t *s_exchange(harness_t *self, const char *endpoint, const void *data, size_t size,
                          int timeout_ms)
{
    zsock_t *sock = harness_dealer(self, endpoint, "operator");
    zsock_set_rcvtimeo(sock, timeout_ms);
    zframe_t *frame = zframe_new(data, size);
    zframe_send(&frame, sock, 0);
    zmsg_t *msg = zmsg_recv(sock);
    zsock_destroy(&sock);
    return msg;
}

Kp__AdminReply *harness_admin(harness_t *self, size_t index, const char *command,
                              Kp__DirectoryUpdate *update, int timeout_ms)
{
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = (char *)command;
    request.update = update;
    size_t size = kp__admin_request__get_packed_size(&request);
    uint8_t *buffer = malloc(size + 1);
    assert(buffer);
    kp__admin_request__pack(&request, buffer);
    zmsg_t *msg = s_exchange(self, self->admin[index], buffer, size, timeout_ms);
    free(buffer);
    if (!msg)
        return NULL;
    zframe_t *frame = zmsg_first(msg);
    Kp__AdminReply *reply = kp__admin_reply__unpack(NULL, zframe_size(frame), zframe_data(frame));
    zmsg_destroy(&msg);
    return reply;
}

//  The key record a secure harness adds for a user or an institution
//  line: "" when the line is neither.
static void s_auto_key(harness_t *self, const Kp__DirectoryOp *op, char *line, size_t size)
{
    *line = '\0';
    bool put = !op->has_kind || op->kind == KP__DIRECTORY_OP__KIND__PUT;
    const Kp__DirectoryRecord *r = op->record;
    char name[160];
    if (!self->secure || !put)
        return;
    if (r->record_case == KP__DIRECTORY_RECORD__RECORD_USER) {
        snprintf(name, sizeof name, "app-%s", r->user->id);
        s_key_line(self, name, "application", r->user->id, line, size);
    } else if (r->record_case == KP__DIRECTORY_RECORD__RECORD_INSTITUTION) {
        snprintf(name, sizeof name, "provider-%s", r->institution->kbo);
        s_key_line(self, name, "provider", r->institution->kbo, line, size);
    }
}

void harness_load(harness_t *self, size_t index, const char *jsonl)
{
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    const char *line = jsonl;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0) {
            char err[256];
            Kp__DirectoryOp *op = kp_jsonl_parse(line, len, err, sizeof err);
            if (!op)
                fprintf(stderr, "harness: bad line %.*s: %s\n", (int)len, line, err);
            assert(op);
            char key[300];
            s_auto_key(self, op, key, sizeof key);
            kp_jsonl_batch_add(batch, op);
            if (*key)
                kp_jsonl_batch_add(batch, kp_jsonl_parse(key, strlen(key), err, sizeof err));
        }
        line += len + (end ? 1 : 0);
    }
    Kp__AdminReply *reply =
        harness_admin(self, index, "directory.apply", kp_jsonl_batch_update(batch), 5000);
    assert(reply);
    if (reply->status != KP__STATUS__OK)
        fprintf(stderr, "harness: load refused: %s\n", reply->error);
    assert(reply->status == KP__STATUS__OK);
    kp__admin_reply__free_unpacked(reply, NULL);
    kp_jsonl_batch_destroy(&batch);
}

zsock_t *harness_client(harness_t *self, size_t index)
{
    return harness_client_as(self, index, "client");
}

Kp__Response *harness_recv(zsock_t *client, int timeout_ms)
{
    zsock_set_rcvtimeo(client, timeout_ms);
    zframe_t *frame = zframe_recv(client);
    if (!frame)
        return NULL;
    Kp__Response *response = kp__response__unpack(NULL, zframe_size(frame), zframe_data(frame));
    zframe_destroy(&frame);
    return response;
}

void harness_send(zsock_t *client, const Kp__Request *request)
{
    size_t size = kp__request__get_packed_size(request);
    uint8_t *buffer = malloc(size + 1);
    assert(buffer);
    kp__request__pack(request, buffer);
    zframe_t *frame = zframe_new(buffer, size);
    free(buffer);
    int rc = zframe_send(&frame, client, 0);
    assert(rc == 0);
    (void)rc;
}

Kp__Response *harness_call(zsock_t *client, const Kp__Request *request, int timeout_ms)
{
    harness_send(client, request);
    return harness_recv(client, timeout_ms);
}

//  ---------------------------------------------------------------------
//  A provider worker in a child process (see harness_worker_main).

typedef struct {
    Kp__WorkerRequest *request;
    int64_t due_ms;
} s_job_t;

void harness_worker_send(zsock_t *sock, Kp__WorkerFrame *frame)
{
    size_t size = kp__worker_frame__get_packed_size(frame);
    uint8_t *buffer = malloc(size + 1);
    assert(buffer);
    kp__worker_frame__pack(frame, buffer);
    zframe_t *out = zframe_new(buffer, size);
    zframe_send(&out, sock, 0);
    free(buffer);
}

static void s_worker_reply(zsock_t *sock, Kp__WorkerRequest *request, const char *kbo, FILE *log)
{
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"kbo\":\"%s\",\"message\":\"%s\",\"person\":\"%s\",\"pid\":%d}", kbo,
             request->message, request->person ? request->person : "", (int)getpid());
    Kp__WorkerReply reply = KP__WORKER_REPLY__INIT;
    reply.request_id = request->request_id;
    reply.has_status = true;
    reply.status = KP__STATUS__OK;
    reply.has_payload = true;
    reply.payload.data = (uint8_t *)payload;
    reply.payload.len = strlen(payload);
    reply.has_ticket = true;
    reply.ticket = request->ticket;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_REPLY;
    frame.reply = &reply;
    harness_worker_send(sock, &frame);
    //  The id, and when it was answered (monotonic µs, as the node's log
    //  test hooks write it): tests compare the two.
    fprintf(log, "%s %lld\n", request->request_id, (long long)zclock_usecs());
    fflush(log);
}

zsock_t *harness_worker_dealer(const char *endpoint, const char *kbo)
{
    //  A secure harness left its certificates in KP_HARNESS_KEYS.
    harness_t keys = {.secure = getenv("KP_HARNESS_KEYS") != NULL};
    char name[64];
    snprintf(name, sizeof name, "provider-%s", kbo);
    if (keys.secure) {
        snprintf(keys.keys, sizeof keys.keys, "%s", getenv("KP_HARNESS_KEYS"));
        harness_cert(&keys, "cluster", keys.server_key);
    }
    return harness_dealer(&keys, endpoint, name);
}

int harness_worker_main(int argc, char **argv)
{
    if (argc < 7)
        return 2;
    const char *endpoint = argv[2], *kbo = argv[3], *logfile = argv[5];
    int delay_ms = atoi(argv[4]);
    FILE *log = fopen(logfile, "a");
    zsock_t *sock = harness_worker_dealer(endpoint, kbo);
    if (!log || !sock)
        return 1;
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    hello.kbo = (char *)kbo;
    hello.messages = argv + 6;
    hello.n_messages = (size_t)(argc - 6);
    hello.has_concurrency = true;
    hello.concurrency = 8;
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    harness_worker_send(sock, &frame);
    s_job_t jobs[64];
    size_t job_count = 0;
    int64_t next_beat = zclock_mono();
    bool forgotten = false;
    while (!zsys_interrupted) {
        zsock_set_rcvtimeo(sock, 10);
        zframe_t *in = zframe_recv(sock);
        if (in) {
            Kp__WorkerFrame *got = kp__worker_frame__unpack(NULL, zframe_size(in), zframe_data(in));
            zframe_destroy(&in);
            //  A node that declared this worker dead (a loaded machine)
            //  answers its heartbeats with an error: the next beat is a
            //  hello, as kp_worker starts over.
            forgotten |= got && got->body_case == KP__WORKER_FRAME__BODY_ERROR;
            if (got && got->body_case == KP__WORKER_FRAME__BODY_REQUEST && job_count < 64) {
                jobs[job_count].request = got->request;
                jobs[job_count++].due_ms = zclock_mono() + delay_ms;
                got->request = NULL;
                got->body_case = KP__WORKER_FRAME__BODY__NOT_SET;
            }
            if (got)
                kp__worker_frame__free_unpacked(got, NULL);
        }
        for (size_t i = 0; i < job_count;)
            if (jobs[i].due_ms <= zclock_mono()) {
                s_worker_reply(sock, jobs[i].request, kbo, log);
                kp__worker_request__free_unpacked(jobs[i].request, NULL);
                jobs[i] = jobs[--job_count];
            } else
                i++;
        if (zclock_mono() >= next_beat) {
            Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
            Kp__WorkerFrame hb = KP__WORKER_FRAME__INIT;
            hb.body_case = KP__WORKER_FRAME__BODY_HEARTBEAT;
            hb.heartbeat = &beat;
            harness_worker_send(sock, forgotten ? &frame : &hb);
            forgotten = false;
            next_beat = zclock_mono() + 50;
        }
    }
    zsock_destroy(&sock);
    fclose(log);
    return 0;
}

pid_t harness_provider(harness_t *self, size_t index, const char *log)
{
    const char *kpctl = getenv("KPCTL");
    assert(kpctl && "KPCTL must name the kpctl program");
    char cert[400], name[32];
    snprintf(cert, sizeof cert, "%s",
             self->secure ? harness_cert(self, "provider-" HARNESS_PROVIDER, NULL) : "");
    if (*self->name[index])
        snprintf(name, sizeof name, "%s", self->name[index]);
    else
        snprintf(name, sizeof name, "node-%zu", index + 1);
    char *argv[] = {
        "/bin/sh",
        "-c",
        "exec \"$0\" provider -c \"$1\" --node \"$2\" ${4:+--cert \"$4\"} --kbo " HARNESS_PROVIDER
        " --message A1 --echo --concurrency 8 > \"$3\"",
        (char *)kpctl,
        self->config,
        name,
        (char *)log,
        cert,
        NULL};
    return harness_spawn(self, argv);
}

bool harness_start_served(harness_t *self, size_t index, char *log, size_t loglen)
{
    harness_start_node(self, index);
    harness_load(self, index, harness_a1_directory);
    snprintf(log, loglen, "%s/provider-node-%zu.log", self->dir, index + 1);
    harness_provider(self, index, log);
    return harness_wait_workers(self, index, 1);
}

json_t *harness_kpctl_log(const char *dir, const char *args, int *status)
{
    const char *kpctl = getenv("KPCTL");
    assert(kpctl && "KPCTL must name the kpctl program");
    char command[2048];
    snprintf(command, sizeof command, "\"%s\" log %s --log \"%s\" --json", kpctl, args, dir);
    FILE *out = popen(command, "r");
    assert(out);
    json_t *doc = json_loadf(out, JSON_REJECT_DUPLICATES, NULL);
    int rc = pclose(out);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return doc;
}

bool harness_answered_by(const char *log, const char *id)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    char line[512];
    size_t len = strlen(id);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = !strncmp(line, id, len) && line[len] == ' ';
    fclose(f);
    return found;
}

bool harness_wait_workers(harness_t *self, size_t index, int count)
{
    //  A ceiling for a loaded machine; a quiet one sees the workers at once.
    int64_t deadline = zclock_mono() + S_WORKERS_CEILING_MS;
    while (zclock_mono() < deadline) {
        Kp__AdminReply *reply = harness_admin(self, index, "status", NULL, 5000);
        if (!reply)
            return false;
        json_t *status = json_loads(reply->json, JSON_REJECT_DUPLICATES, NULL);
        int seen = (int)json_array_size(json_object_get(status, "workers"));
        json_decref(status);
        kp__admin_reply__free_unpacked(reply, NULL);
        if (seen >= count)
            return true;
        usleep(20000);
    }
    return false;
}

//  The status's value at path as compact JSON (free it), or NULL.
static char *s_status_value(harness_t *self, size_t index, const char *path)
{
    Kp__AdminReply *reply = harness_admin(self, index, "status", NULL, 1000);
    if (!reply)
        return NULL;
    json_t *status = json_loads(reply->json, JSON_REJECT_DUPLICATES, NULL);
    kp__admin_reply__free_unpacked(reply, NULL);
    json_t *value = status;
    char key[64];
    for (const char *p = path; value && *p;) {
        size_t len = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        value = json_object_get(value, key);
        p += len + (p[len] == '.');
    }
    char *text = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(status);
    return text;
}

bool harness_wait_status(harness_t *self, size_t index, const char *path, const char *want,
                         int timeout_ms)
{
    int64_t until = harness_now_ms() + timeout_ms;
    while (true) {
        char *value = s_status_value(self, index, path);
        bool found = value && !strcmp(value, want);
        free(value);
        if (found)
            return true;
        if (harness_now_ms() >= until)
            return false;
        usleep(20000); //  polling a condition
    }
}

int64_t harness_status_count(harness_t *self, size_t index, const char *what)
{
    Kp__AdminReply *reply = harness_admin(self, index, "status", NULL, 1000);
    if (!reply)
        return -1;
    json_t *status = json_loads(reply->json, JSON_REJECT_DUPLICATES, NULL);
    kp__admin_reply__free_unpacked(reply, NULL);
    int64_t count = -1;
    if (!strcmp(what, "outstanding")) {
        size_t i;
        json_t *worker;
        count = 0;
        json_array_foreach(json_object_get(status, "workers"), i, worker) count +=
            json_integer_value(json_object_get(worker, "outstanding"));
    } else if (!strcmp(what, "stopping"))
        count = json_is_true(json_object_get(status, what)) ? 1 : 0;
    else if (!strcmp(what, "log_unavailable") || !strcmp(what, "log_ok")) {
        const char *state =
            json_string_value(json_object_get(json_object_get(status, "log"), "state"));
        count = state && !strcmp(state, what + 4) ? 1 : 0;
    } else if (!strcmp(what, "log_space_low"))
        count = json_is_true(json_object_get(json_object_get(status, "log"), "space_low")) ? 1 : 0;
    else if (json_is_integer(json_object_get(status, what)))
        count = json_integer_value(json_object_get(status, what));
    json_decref(status);
    return count;
}

bool harness_wait_count(harness_t *self, size_t index, const char *what, int64_t at_least,
                        int timeout_ms)
{
    int64_t until = harness_now_ms() + timeout_ms;
    while (harness_status_count(self, index, what) < at_least) {
        if (harness_now_ms() >= until)
            return false;
        usleep(5000);
    }
    return true;
}

int harness_count_lines(const char *path, const char *text)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char line[256];
    int count = 0;
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, " \n")] = '\0'; //  the id, without the time after it
        count += !strcmp(line, text);
    }
    fclose(file);
    return count;
}

const char *harness_a1_directory =
    "{\"table\":\"institution\",\"kbo\":\"" HARNESS_REQUESTER
    "\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}\n"
    "{\"table\":\"institution\",\"kbo\":\"" HARNESS_PROVIDER
    "\",\"name\":\"C\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"" HARNESS_REQUESTER
    "\",\"sector\":25,\"type\":0,\"messages\":[\"A1\"]}\n"
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}\n"
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}\n"
    "{\"table\":\"person\",\"insz\":\"" HARNESS_PERSON "\",\"kbo\":\"" HARNESS_REQUESTER
    "\",\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n"
    "{\"table\":\"person\",\"insz\":\"" HARNESS_PERSON "\",\"kbo\":\"" HARNESS_PROVIDER
    "\",\"sector\":17,\"type\":1,\"capacity\":1,\"from\":\"2000-01-01\",\"to\":\"9999-12-31\"}\n";

Kp__Request harness_a1_request(const char *id)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = (char *)id;
    request.user = "rsz-app";
    request.message = "A1";
    request.person = HARNESS_PERSON;
    request.has_sector = request.has_type = request.has_capacity = true;
    request.sector = 25;
    request.type = 0;
    request.capacity = 1;
    return request;
}

int harness_take(zsock_t *client, harness_ids_t *ids, int timeout_ms)
{
    Kp__Response *response = harness_recv(client, timeout_ms);
    if (!response)
        return 0;
    assert(response->request_id);
    if (ids->count == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 65536;
        ids->ids = realloc(ids->ids, ids->cap * sizeof(char *));
        assert(ids->ids);
    }
    ids->ids[ids->count++] = strdup(response->request_id);
    kp__response__free_unpacked(response, NULL);
    return 1;
}

void harness_ids_free(harness_ids_t *ids)
{
    for (size_t i = 0; i < ids->count; i++)
        free(ids->ids[i]);
    free(ids->ids);
    *ids = (harness_ids_t){0};
}

int harness_a1_load(zsock_t *client, harness_ids_t *ids, const char *tag, const char *const *people,
                    size_t n_people, int in_flight, int run_ms)
{
    int64_t stop = harness_now_ms() + run_ms;
    int sent = 0, waiting = 0;
    while (harness_now_ms() < stop) {
        while (waiting < in_flight) {
            char id[64];
            snprintf(id, sizeof id, "%s-%d", tag, sent);
            Kp__Request request = harness_a1_request(id);
            request.person = (char *)people[(size_t)sent % n_people];
            harness_send(client, &request);
            sent++;
            waiting++;
        }
        waiting -= harness_take(client, ids, 5);
    }
    return sent;
}

int harness_main(int argc, char **argv)
{
    if (argc >= 7 && !strcmp(argv[1], "--worker"))
        return harness_worker_main(argc, argv);
    zsys_init();
    zsys_handler_set(NULL);
    return -1;
}
