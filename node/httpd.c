/*  httpd.c - the node's HTTP endpoint for metrics and health; see
    httpd.h. */
#include "httpd.h"

#include <assert.h>
#include <czmq.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/prctl.h>

#include "prom.h"

#define S_BACKLOG 4             //  snapshots waiting for the actor; more are dropped
#define S_CONNECTIONS 64        //  HTTP connections at once
#define S_CONNECTION_TIMEOUT 10 //  seconds of silence before a connection is closed

//  What the actor owns: the daemon, its end of the snapshot socket and
//  the latest snapshot.
typedef struct {
    struct MHD_Daemon *daemon;
    zsock_t *pull;
    kp_metrics_t *latest;
} s_server_t;

struct _kp_httpd_t {
    zsock_t *push;
    zactor_t *actor;
};

//  ---------------------------------------------------------------------
//  Answers (on the actor's thread, inside MHD_run)

static enum MHD_Result s_reply(struct MHD_Connection *connection, unsigned status, const char *type,
                               char *body, size_t size)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(size, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

//  A body written with stdio into memory.
typedef struct {
    char *text;
    size_t size;
    FILE *out;
} s_body_t;

static int s_body_open(s_body_t *body)
{
    body->text = NULL;
    body->size = 0;
    body->out = open_memstream(&body->text, &body->size);
    return body->out ? 0 : -1;
}

static enum MHD_Result s_body_send(s_body_t *body, struct MHD_Connection *connection,
                                   unsigned status, const char *type)
{
    fclose(body->out);
    return s_reply(connection, status, type, body->text, body->size);
}

//  How old the latest snapshot is, in ms; -1 when there is none.
static int64_t s_age_ms(const s_server_t *server)
{
    return server->latest ? zclock_mono() - kp_metrics_time(server->latest) : -1;
}

static void s_metrics(const s_server_t *server, FILE *out)
{
    if (server->latest)
        kp_metrics_write(server->latest, out);
    kp_prom_family(out, "kp_metrics_snapshot_age_seconds", "gauge",
                   "Age of the routing loop's latest snapshot that these figures come from.");
    kp_prom_double(out, "kp_metrics_snapshot_age_seconds", NULL,
                   server->latest ? (double)s_age_ms(server) / 1000.0 : -1);
    kp_metrics_write_process(out);
}

//  Writes why the node is not alive, or nothing; returns 200 or 503.
static unsigned s_health(const s_server_t *server, FILE *out)
{
    int64_t age = s_age_ms(server);
    if (age < 0)
        fprintf(out, "starting: the routing loop has not reported yet\n");
    else if (age > KP_HTTPD_STALE_MS)
        fprintf(out, "stuck: the routing loop has not reported for %lld ms\n", (long long)age);
    else {
        fprintf(out, "alive\n");
        return MHD_HTTP_OK;
    }
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}

static unsigned s_ready(const s_server_t *server, FILE *out)
{
    if (s_health(server, out) != MHD_HTTP_OK)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    bool ready = kp_metrics_ready(server->latest, out);
    fprintf(out, "%s\n", ready ? "ready" : "not ready");
    return ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version, (void)upload_data, (void)con_cls;
    const s_server_t *server = cls;
    s_body_t body;
    if (s_body_open(&body))
        return MHD_NO;
    const char *text = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        *upload_data_size = 0; //  a body is not read, only dropped
        fprintf(body.out, "only GET and HEAD\n");
        return s_body_send(&body, connection, MHD_HTTP_METHOD_NOT_ALLOWED, text);
    }
    if (!strcmp(url, "/metrics")) {
        s_metrics(server, body.out);
        return s_body_send(&body, connection, MHD_HTTP_OK, KP_PROM_CONTENT_TYPE);
    }
    if (!strcmp(url, "/healthz"))
        return s_body_send(&body, connection, s_health(server, body.out), text);
    if (!strcmp(url, "/readyz"))
        return s_body_send(&body, connection, s_ready(server, body.out), text);
    fprintf(body.out, "not found; this node serves /metrics, /healthz and /readyz\n");
    return s_body_send(&body, connection, MHD_HTTP_NOT_FOUND, text);
}

//  ---------------------------------------------------------------------
//  The actor

//  Takes every snapshot waiting; keeps the newest.
static void s_take(s_server_t *server)
{
    void *handle = zsock_resolve(server->pull);
    kp_metrics_t *metrics;
    while (zmq_recv(handle, &metrics, sizeof metrics, ZMQ_DONTWAIT) == (int)sizeof metrics) {
        kp_metrics_destroy(&server->latest);
        server->latest = metrics;
    }
}

static void s_actor(zsock_t *pipe, void *arg)
{
    s_server_t *server = arg;
    prctl(PR_SET_NAME, "kp-httpd");
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    zsock_signal(pipe, 0);
    bool term = false;
    while (!term) {
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        long timeout = 1000;
        if (MHD_get_timeout(server->daemon, &mhd_ms) == MHD_YES && mhd_ms < (unsigned)timeout)
            timeout = (long)mhd_ms;
        zmq_pollitem_t items[] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve(server->pull), 0, ZMQ_POLLIN, 0},
                                  {NULL, info ? info->epoll_fd : -1, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, info ? 3 : 2, timeout) < 0 && zmq_errno() != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv(pipe);
            term = !command || streq(command, "$TERM");
            zstr_free(&command);
        }
        s_take(server);
        MHD_run(server->daemon);
    }
    MHD_stop_daemon(server->daemon);
    s_take(server); //  what was handed over before the end
    kp_metrics_destroy(&server->latest);
    zsock_destroy(&server->pull);
    free(server);
}

//  ---------------------------------------------------------------------
//  Construction (on the caller's thread, so that errors come back here)

//  Splits "HOST:PORT", "[V6]:PORT", ":PORT" or "*:PORT" and resolves it.
static struct addrinfo *s_resolve(const char *address, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    size_t host_len = colon ? (size_t)(colon - address) : 0;
    if (!colon || !colon[1] || host_len >= sizeof host) {
        snprintf(err, errlen, "metrics address '%s' is not HOST:PORT (e.g. \"127.0.0.1:7103\")",
                 address);
        return NULL;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    char *name = host;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host[host_len - 1] = '\0';
        name = host + 1;
    }
    bool any = !*name || !strcmp(name, "*");
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (any ? AI_PASSIVE : 0)};
    struct addrinfo *result = NULL;
    int rc = getaddrinfo(any ? NULL : name, colon + 1, &hints, &result);
    if (rc) {
        snprintf(err, errlen, "metrics address '%s': %s", address, gai_strerror(rc));
        return NULL;
    }
    return result;
}

kp_httpd_t *kp_httpd_new(const char *address, char *err, size_t errlen)
{
    struct addrinfo *where = s_resolve(address, err, errlen);
    if (!where)
        return NULL;
    unsigned flags = MHD_USE_EPOLL | (where->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *daemon = NULL;
    s_server_t *server = calloc(1, sizeof *server);
    kp_httpd_t *self = calloc(1, sizeof *self);
    assert(server && self);
    daemon = MHD_start_daemon(flags, 0, NULL, NULL, s_handler, server, MHD_OPTION_SOCK_ADDR,
                              where->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONNECTION_TIMEOUT,
                              MHD_OPTION_END);
    freeaddrinfo(where);
    if (!daemon) {
        snprintf(err, errlen,
                 "cannot serve metrics on %s (%s); is the port taken, or the address not "
                 "this machine's?",
                 address, strerror(errno));
        free(server);
        free(self);
        return NULL;
    }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://kp-httpd-%p", (void *)self);
    server->daemon = daemon;
    server->pull = zsock_new(ZMQ_PULL);
    self->push = zsock_new(ZMQ_PUSH);
    assert(server->pull && self->push);
    zsock_set_sndhwm(self->push, S_BACKLOG);
    zsock_set_rcvhwm(server->pull, S_BACKLOG);
    zsock_set_linger(self->push, 0);
    if (zsock_bind(server->pull, "%s", endpoint) || zsock_connect(self->push, "%s", endpoint) ||
        !(self->actor = zactor_new(s_actor, server))) {
        snprintf(err, errlen, "cannot start the metrics thread: %s", zmq_strerror(zmq_errno()));
        MHD_stop_daemon(daemon);
        zsock_destroy(&server->pull);
        zsock_destroy(&self->push);
        free(server);
        free(self);
        return NULL;
    }
    return self;
}

void kp_httpd_destroy(kp_httpd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kp_httpd_t *self = *self_p;
    zactor_destroy(&self->actor); //  takes and frees what was handed over
    zsock_destroy(&self->push);
    free(self);
    *self_p = NULL;
}

void kp_httpd_publish(kp_httpd_t *self, kp_metrics_t **metrics_p)
{
    kp_metrics_t *metrics = *metrics_p;
    *metrics_p = NULL;
    if (zmq_send(zsock_resolve(self->push), &metrics, sizeof metrics, ZMQ_DONTWAIT) < 0)
        kp_metrics_destroy(&metrics);
}
