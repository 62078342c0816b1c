/*  proxy.c - the ZeroMQ proxy and NATS baselines of --compare. */
#include "proxy.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "nats.h"
#include "proc.h"
#include "workload.h"

#define S_MAX_WORKERS 32

struct _kp_zproxy_t {
    char endpoint[64];
    char public_key[41]; //  Z85, or "" when the proxy speaks plain text
    pid_t proxy;         //  the proxy process, or 0
    size_t worker_count;
    pid_t workers[S_MAX_WORKERS];
};

//  ---------------------------------------------------------------------
//  The proxy process (kpbench --serve-proxy)

//  Waits until `workers` peers have completed their handshake on backend,
//  so that the run does not start on fewer. 0, or -1 after 10 s.
static int s_await_workers(void *zctx, void *backend, unsigned workers)
{
    const char *monitor = "inproc://kpbench-proxy-monitor";
    if (zmq_socket_monitor(backend, monitor, ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        return -1;
    void *events = zmq_socket(zctx, ZMQ_PAIR);
    zmq_connect(events, monitor);
    //  Each handshake is two frames on the monitor: event and endpoint.
    unsigned connected = 0;
    for (int waited = 0; connected < workers && waited < 10000; waited += 100) {
        zmq_pollitem_t item = {events, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        while (zmq_msg_recv(&msg, events, ZMQ_DONTWAIT) >= 0)
            if (!zmq_msg_more(&msg))
                connected++;
        zmq_msg_close(&msg);
    }
    zmq_socket_monitor(backend, NULL, 0);
    zmq_close(events);
    return connected < workers ? -1 : 0;
}

//  Reads the proxy's secret key (Z85) from path into secret[41]. 0 or -1.
static int s_read_secret(const char *path, char *secret)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(secret, 1, 40, f);
    fclose(f);
    secret[n] = '\0';
    uint8_t key[32];
    return n == 40 && zmq_z85_decode(key, secret) ? 0 : -1;
}

//  Both sides CURVE servers with the one key, as a node's client and
//  worker sockets are; no ZAP handler, so any client key is let in.
static int s_curve_server(void *sock, const char *secret)
{
    int one = 1;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, 41)
               ? -1
               : 0;
}

int kp_zproxy_serve(const char *frontend_endpoint, const char *backend_endpoint, unsigned workers,
                    const char *key_file)
{
    char secret[41];
    if (key_file && s_read_secret(key_file, secret)) {
        fprintf(stderr, "kpbench proxy: cannot read a Z85 secret key from %s\n", key_file);
        return 1;
    }
    void *zctx = zmq_ctx_new();
    void *frontend = zmq_socket(zctx, ZMQ_ROUTER);
    void *backend = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(frontend, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(backend, ZMQ_LINGER, &zero, sizeof zero);
    int rc = 1;
    if (key_file && (s_curve_server(frontend, secret) || s_curve_server(backend, secret)))
        fprintf(stderr, "kpbench proxy: cannot set CURVE: %s\n", zmq_strerror(zmq_errno()));
    else if (zmq_bind(backend, backend_endpoint))
        fprintf(stderr, "kpbench proxy: cannot bind %s: %s\n", backend_endpoint,
                zmq_strerror(zmq_errno()));
    else if (s_await_workers(zctx, backend, workers))
        fprintf(stderr, "kpbench proxy: fewer than %u echo workers connected in 10 s\n", workers);
    //  The frontend opens last: kpbench takes an open port as "ready".
    else if (zmq_bind(frontend, frontend_endpoint))
        fprintf(stderr, "kpbench proxy: cannot bind %s: %s\n", frontend_endpoint,
                zmq_strerror(zmq_errno()));
    else
        rc = zmq_proxy(frontend, backend, NULL) == 0 ? 0 : 1;
    zmq_close(frontend);
    zmq_close(backend);
    zmq_ctx_term(zctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  kpbench's side

//  Starts the echo worker processes (kpctl provider --raw-echo) on the
//  proxy's backend, the institutions alternating as in --local.
static int s_start_workers(kp_zproxy_t *self, const char *backend, unsigned workers,
                           const char *dir, const char *service_time, char *err, size_t errlen)
{
    char kpctl[4096];
    if (kp_find_program("kpctl", "KPCTL", kpctl, sizeof kpctl, err, errlen))
        return -1;
    static const char *kbos[] = {KP_BENCH_PROVIDER_1, KP_BENCH_PROVIDER_2};
    for (unsigned i = 0; i < workers && i < S_MAX_WORKERS; i++) {
        char log[4200];
        snprintf(log, sizeof log, "%s/raw-echo-%u.log", dir, i);
        char *argv[11] = {kpctl,           "provider", "--raw-echo",
                          (char *)backend, "--kbo",    (char *)kbos[i % 2]};
        size_t argc = 6;
        if (service_time) {
            argv[argc++] = "--service-time";
            argv[argc++] = (char *)service_time;
        }
        if (self->public_key[0]) {
            argv[argc++] = "--server-key";
            argv[argc++] = self->public_key;
        }
        pid_t pid = kp_proc_spawn(argv, log, err, errlen);
        if (pid < 0)
            return -1;
        self->workers[self->worker_count++] = pid;
    }
    return 0;
}

//  The proxy runs in a process of its own, as a broker does: with its own
//  ZeroMQ I/O thread, not sharing kpbench's with the load.
static int s_start_proxy(kp_zproxy_t *self, const char *backend, unsigned workers, const char *dir,
                         char *err, size_t errlen)
{
    char program[4096], count[16], log[4200], key_file[4200];
    //  CURVE: a throw-away key pair; the secret goes in a file of ours.
    snprintf(key_file, sizeof key_file, "%s/zmq-proxy.key", dir);
    if (self->public_key[0]) {
        char secret[41];
        if (zmq_curve_keypair(self->public_key, secret)) {
            snprintf(err, errlen, "cannot make a CURVE key pair: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        int fd = open(key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, secret, 40) != 40) {
            snprintf(err, errlen, "cannot write %s: %s", key_file, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
    }
    ssize_t n = readlink("/proc/self/exe", program, sizeof program - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot find kpbench itself to start the proxy: %s", strerror(errno));
        return -1;
    }
    program[n] = '\0';
    snprintf(count, sizeof count, "%u", workers);
    snprintf(log, sizeof log, "%s/zmq-proxy.log", dir);
    char *argv[] = {program,
                    "--serve-proxy",
                    self->endpoint,
                    (char *)backend,
                    count,
                    self->public_key[0] ? key_file : NULL,
                    NULL};
    self->proxy = kp_proc_spawn(argv, log, err, errlen);
    return self->proxy < 0 ? -1 : 0;
}

//  The last line the proxy process wrote to dir/zmq-proxy.log ("" if none):
//  the folder goes when kpbench ends, so the error carries it.
static void s_last_line(const char *dir, char *line, size_t size)
{
    char path[4200], text[4096];
    snprintf(path, sizeof path, "%s/zmq-proxy.log", dir);
    *line = '\0';
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    while (fgets(text, sizeof text, file))
        if (*text != '\n')
            snprintf(line, size, "%.*s", (int)strcspn(text, "\n"), text);
    fclose(file);
}

static int s_await_proxy(kp_zproxy_t *self, int port, const char *dir, char *err, size_t errlen)
{
    for (int waited = 0; waited < 12000; waited += 20) {
        int status;
        if (kp_proc_wait(self->proxy, 0, &status) == 0) {
            self->proxy = 0;
            char line[512];
            s_last_line(dir, line, sizeof line);
            snprintf(err, errlen, "the ZeroMQ proxy stopped (status %d): %s", status,
                     *line ? line : "it said nothing");
            return -1;
        }
        if (kp_port_open(port))
            return 0;
        usleep(20000);
    }
    snprintf(err, errlen, "the ZeroMQ proxy was not ready in 12 s; see %s", dir);
    return -1;
}

static kp_zproxy_t *s_zproxy_try(unsigned workers, const char *dir, const char *service_time,
                                 bool curve, char *err, size_t errlen)
{
    kp_zproxy_t *self = calloc(1, sizeof *self);
    assert(self);
    if (curve) //  s_start_proxy makes the key pair
        self->public_key[0] = '?';
    int front_port = kp_free_port(), back_port = kp_free_port();
    if (front_port < 0 || back_port < 0 || front_port == back_port) {
        snprintf(err, errlen, "no free TCP port on loopback for the ZeroMQ proxy");
        free(self);
        return NULL;
    }
    char backend[64];
    snprintf(self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", front_port);
    snprintf(backend, sizeof backend, "tcp://127.0.0.1:%d", back_port);
    if (s_start_proxy(self, backend, workers, dir, err, errlen) ||
        s_start_workers(self, backend, workers, dir, service_time, err, errlen) ||
        s_await_proxy(self, front_port, dir, err, errlen))
        kp_zproxy_destroy(&self);
    return self;
}

//  A free port is found before the proxy binds it, which it does only
//  once its workers are in: meanwhile another process may take it (an
//  outgoing connection's source port comes from the same range). Such a
//  start is tried again on new ports, twice at most.
kp_zproxy_t *kp_zproxy_new(unsigned workers, const char *dir, const char *service_time, bool curve,
                           char *err, size_t errlen)
{
    kp_zproxy_t *self = NULL;
    for (int attempt = 0; !self && attempt < 3; attempt++) {
        if (attempt && !strstr(err, "cannot bind"))
            break;
        self = s_zproxy_try(workers, dir, service_time, curve, err, errlen);
    }
    return self;
}

const char *kp_zproxy_endpoint(kp_zproxy_t *self)
{
    return self->endpoint;
}

const char *kp_zproxy_public_key(kp_zproxy_t *self)
{
    return self->public_key[0] ? self->public_key : NULL;
}

pid_t kp_zproxy_pid(kp_zproxy_t *self)
{
    return self->proxy > 0 ? self->proxy : 0;
}

size_t kp_zproxy_worker_count(kp_zproxy_t *self)
{
    return self->worker_count;
}

pid_t kp_zproxy_worker_pid(kp_zproxy_t *self, size_t index)
{
    return index < self->worker_count ? self->workers[index] : 0;
}

void kp_zproxy_destroy(kp_zproxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_zproxy_t *self = *self_p;
    for (size_t i = 0; i < self->worker_count; i++)
        kp_proc_stop(self->workers[i], 2000);
    if (self->proxy > 0)
        kp_proc_stop(self->proxy, 2000);
    free(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------

struct _kp_natsd_t {
    pid_t pid;
    int port;
    pthread_t thread;
    atomic_bool stop;
    kp_nats_t *conn; //  the responder's connection
};

static void *s_responder_run(void *arg)
{
    kp_natsd_t *self = arg;
    kp_nats_msg_t msg;
    while (!atomic_load(&self->stop)) {
        int rc = kp_nats_next(self->conn, 100, &msg);
        if (rc < 0) {
            if (!atomic_load(&self->stop))
                fprintf(stderr, "kpbench: NATS echo responder: %s\n", kp_nats_error(self->conn));
            break;
        }
        if (rc == 0)
            continue;
        if (*msg.reply)
            kp_nats_pub(self->conn, msg.reply, NULL, msg.data, msg.size);
        //  Flush once nothing more is waiting: batches under load.
        if (!kp_nats_buffered(self->conn) && kp_nats_flush(self->conn) < 0)
            break;
    }
    return NULL;
}

kp_natsd_t *kp_natsd_new(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (kp_find_program("nats-server", "NATS_SERVER", path, sizeof path, err, errlen) != 0) {
        snprintf(err, errlen,
                 "cannot find nats-server for --compare; install the Debian package "
                 "nats-server or set NATS_SERVER to its path");
        return NULL;
    }
    kp_natsd_t *self = calloc(1, sizeof *self);
    assert(self);
    self->port = kp_free_port();
    char port[16], log[4096];
    snprintf(port, sizeof port, "%d", self->port);
    snprintf(log, sizeof log, "%s/nats-server.log", dir);
    char *argv[] = {path, "-a", "127.0.0.1", "-p", port, NULL};
    self->pid = kp_proc_spawn(argv, log, err, errlen);
    if (self->pid < 0) {
        free(self);
        return NULL;
    }
    for (int i = 0; i < 500 && !kp_port_open(self->port); i++) {
        int status;
        if (kp_proc_wait(self->pid, 10, &status) == 0) {
            snprintf(err, errlen, "nats-server exited with status %d; see %s", status, log);
            free(self);
            return NULL;
        }
    }
    char cerr[256];
    self->conn = kp_nats_connect("127.0.0.1", self->port, 5000, cerr, sizeof cerr);
    if (!self->conn || kp_nats_sub(self->conn, KP_NATS_SUBJECT, 1) || kp_nats_flush(self->conn)) {
        snprintf(err, errlen, "NATS echo responder: %s (server log: %s)", cerr, log);
        kp_nats_destroy(&self->conn);
        kp_proc_stop(self->pid, 1000);
        free(self);
        return NULL;
    }
    pthread_create(&self->thread, NULL, s_responder_run, self);
    return self;
}

int kp_natsd_port(kp_natsd_t *self)
{
    return self->port;
}

pid_t kp_natsd_pid(kp_natsd_t *self)
{
    return self->pid > 0 ? self->pid : 0;
}

void kp_natsd_destroy(kp_natsd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_natsd_t *self = *self_p;
    atomic_store(&self->stop, true);
    pthread_join(self->thread, NULL);
    kp_nats_destroy(&self->conn);
    kp_proc_stop(self->pid, 2000);
    free(self);
    *self_p = NULL;
}
