/*  proxy.c - the ZeroMQ proxy and NATS baselines of --compare. */
#include "proxy.h"

#include <assert.h>
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
    void *zctx;
    void *frontend, *backend;
    char endpoint[128];
    char control[64];
    void *control_sock; //  our end of the pipe that stops the proxy
    pthread_t proxy_thread;
    char backend_endpoint[128];
    bool started; //  proxy_thread runs
    size_t worker_count;
    pid_t workers[S_MAX_WORKERS];
};

static void *s_proxy_run(void *arg)
{
    kp_zproxy_t *self = arg;
    void *control = zmq_socket(self->zctx, ZMQ_PAIR);
    zmq_connect(control, self->control);
    zmq_proxy_steerable(self->frontend, self->backend, NULL, control);
    zmq_close(control);
    return NULL;
}

//  Starts the echo worker processes (kpctl provider --raw-echo), the
//  institutions alternating as in --local, and waits until each has
//  connected to the backend, so that the run does not start on fewer.
static int s_start_workers(kp_zproxy_t *self, unsigned workers, const char *dir, char *err,
                           size_t errlen)
{
    char kpctl[4096];
    if (kp_find_program("kpctl", "KPCTL", kpctl, sizeof kpctl, err, errlen))
        return -1;
    char monitor[64];
    snprintf(monitor, sizeof monitor, "inproc://kpbench-proxy-monitor-%p", (void *)self);
    if (zmq_socket_monitor(self->backend, monitor, ZMQ_EVENT_HANDSHAKE_SUCCEEDED)) {
        snprintf(err, errlen, "cannot monitor the proxy backend: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    void *events = zmq_socket(self->zctx, ZMQ_PAIR);
    zmq_connect(events, monitor);
    static const char *kbos[] = {KP_BENCH_PROVIDER_1, KP_BENCH_PROVIDER_2};
    int rc = 0;
    for (unsigned i = 0; i < workers && i < S_MAX_WORKERS && rc == 0; i++) {
        char log[4200];
        snprintf(log, sizeof log, "%s/raw-echo-%u.log", dir, i);
        char *argv[] = {kpctl,   "provider",          "--raw-echo", self->backend_endpoint,
                        "--kbo", (char *)kbos[i % 2], NULL};
        pid_t pid = kp_proc_spawn(argv, log, err, errlen);
        if (pid < 0)
            rc = -1;
        else
            self->workers[self->worker_count++] = pid;
    }
    //  Each handshake is two frames on the monitor: event and endpoint.
    size_t connected = 0;
    for (int waited = 0; rc == 0 && connected < self->worker_count; waited += 100) {
        zmq_pollitem_t item = {events, 0, ZMQ_POLLIN, 0};
        if (waited >= 10000) {
            snprintf(err, errlen, "%zu of %zu echo workers connected to the proxy in 10 s; see %s",
                     connected, self->worker_count, dir);
            rc = -1;
        } else if (zmq_poll(&item, 1, 100) > 0) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            while (zmq_msg_recv(&msg, events, ZMQ_DONTWAIT) >= 0)
                if (!zmq_msg_more(&msg))
                    connected++;
            zmq_msg_close(&msg);
        }
    }
    zmq_socket_monitor(self->backend, NULL, 0);
    zmq_close(events);
    return rc;
}

static int s_bind_any(void *sock, char *endpoint, size_t size)
{
    if (zmq_bind(sock, "tcp://127.0.0.1:*") != 0)
        return -1;
    return zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &size);
}

kp_zproxy_t *kp_zproxy_new(void *zctx, unsigned workers, const char *dir, char *err, size_t errlen)
{
    kp_zproxy_t *self = calloc(1, sizeof *self);
    assert(self);
    self->zctx = zctx;
    self->frontend = zmq_socket(zctx, ZMQ_ROUTER);
    self->backend = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(self->frontend, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->backend, ZMQ_LINGER, &zero, sizeof zero);
    if (s_bind_any(self->frontend, self->endpoint, sizeof self->endpoint) ||
        s_bind_any(self->backend, self->backend_endpoint, sizeof self->backend_endpoint)) {
        snprintf(err, errlen, "cannot bind the ZeroMQ proxy on loopback: %s",
                 zmq_strerror(zmq_errno()));
        zmq_close(self->frontend);
        zmq_close(self->backend);
        free(self);
        return NULL;
    }
    snprintf(self->control, sizeof self->control, "inproc://kpbench-proxy-%p", (void *)self);
    self->control_sock = zmq_socket(zctx, ZMQ_PAIR);
    zmq_bind(self->control_sock, self->control);
    if (s_start_workers(self, workers, dir, err, errlen)) {
        kp_zproxy_destroy(&self);
        return NULL;
    }
    pthread_create(&self->proxy_thread, NULL, s_proxy_run, self);
    self->started = true;
    return self;
}

const char *kp_zproxy_endpoint(kp_zproxy_t *self)
{
    return self->endpoint;
}

void kp_zproxy_destroy(kp_zproxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_zproxy_t *self = *self_p;
    if (self->started) {
        zmq_send(self->control_sock, "TERMINATE", 9, 0);
        pthread_join(self->proxy_thread, NULL);
    }
    for (size_t i = 0; i < self->worker_count; i++)
        kp_proc_stop(self->workers[i], 2000);
    zmq_close(self->control_sock);
    zmq_close(self->frontend);
    zmq_close(self->backend);
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
