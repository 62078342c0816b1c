/*  relay.c - a TCP forwarder that can delay, cut and heal; see relay.h.

    One thread, one zmq_poll over the actor's pipe and plain file
    descriptors: the listeners and both sockets of every connection. Bytes
    read from one side become chunks stamped with the time they were read;
    a chunk is written to the other side once its side is not cut and its
    delay has passed, in order.
*/
#include "relay.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_NAME 64
#define S_READ 65536 //  bytes read at once
#define S_UP 0       //  from the connecting side to the target
#define S_DOWN 1     //  back

typedef struct _s_chunk_t s_chunk_t;
struct _s_chunk_t {
    s_chunk_t *next;
    int64_t read_ms;
    size_t size, sent;
    char data[];
};

//  One side of a connection: bytes read from one socket, not yet written
//  to the other.
typedef struct {
    s_chunk_t *head, *tail;
    size_t held;
    bool eof; //  the source closed: close the connection once drained
} s_flow_t;

typedef struct {
    char name[2 * S_NAME + 2];
    char from[S_NAME], to[S_NAME];
    int listen_fd;
    int port;
    struct sockaddr_storage target;
    socklen_t target_len;
    int delay_ms[2];
    bool cut[2];
    uint64_t bytes[2]; //  forwarded
    size_t open;       //  connections
    uint64_t accepted; //  connections ever accepted
} s_link_t;

typedef struct {
    s_link_t *link;
    int fd[2];      //  [S_UP] the connecting side, [S_DOWN] the target
    bool connected; //  the connect to the target has finished
    s_flow_t flow[2];
    bool closing;
} s_conn_t;

typedef struct {
    zsock_t *pipe;
    zlistx_t *links; //  s_link_t *
    zlistx_t *conns; //  s_conn_t *
    bool terminated;
} s_relay_t;

struct _kp_relay_t {
    zactor_t *actor;
};

//  ---------------------------------------------------------------------
//  Endpoints

static int s_address(const char *endpoint, bool passive, struct sockaddr_storage *out,
                     socklen_t *out_len, char *err, size_t errlen)
{
    if (!strncmp(endpoint, "tcp://", 6))
        endpoint += 6;
    char host[256];
    const char *colon = strrchr(endpoint, ':');
    if (!colon || colon == endpoint || (size_t)(colon - endpoint) >= sizeof host) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", endpoint);
        return -1;
    }
    memcpy(host, endpoint, (size_t)(colon - endpoint));
    host[colon - endpoint] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    if (passive)
        hints.ai_flags = AI_PASSIVE;
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(strcmp(host, "*") ? host : NULL, colon + 1, &hints, &found);
    if (rc || !found) {
        snprintf(err, errlen, "cannot resolve '%s': %s", endpoint, gai_strerror(rc));
        return -1;
    }
    memcpy(out, found->ai_addr, found->ai_addrlen);
    *out_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

//  Every socket of the relay is close-on-exec: a node that a test starts
//  (fork and exec) must not inherit them, or a connection the relay
//  closes stays open in the node and its peer never sees it end.
static void s_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

//  ---------------------------------------------------------------------
//  Links

static void s_link_destroy(s_link_t **link_p)
{
    if (*link_p) {
        if ((*link_p)->listen_fd >= 0)
            close((*link_p)->listen_fd);
        free(*link_p);
        *link_p = NULL;
    }
}

static s_link_t *s_link_new(const char *name, const char *listen_at, const char *target, char *err,
                            size_t errlen)
{
    const char *arrow = strchr(name, '>');
    if (!arrow || arrow == name || !arrow[1] || strlen(name) >= 2 * S_NAME ||
        (size_t)(arrow - name) >= S_NAME || strlen(arrow + 1) >= S_NAME) {
        snprintf(err, errlen, "link name '%s' is not FROM>TO (node names, < %d characters)", name,
                 S_NAME);
        return NULL;
    }
    s_link_t *link = calloc(1, sizeof *link);
    assert(link);
    link->listen_fd = -1;
    snprintf(link->name, sizeof link->name, "%s", name);
    memcpy(link->from, name, (size_t)(arrow - name));
    snprintf(link->to, sizeof link->to, "%s", arrow + 1);
    struct sockaddr_storage at;
    socklen_t at_len;
    if (s_address(target, false, &link->target, &link->target_len, err, errlen) ||
        s_address(listen_at, true, &at, &at_len, err, errlen)) {
        s_link_destroy(&link);
        return NULL;
    }
    link->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(link->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (link->listen_fd < 0 || bind(link->listen_fd, (struct sockaddr *)&at, at_len) ||
        listen(link->listen_fd, 64)) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen_at, strerror(errno));
        s_link_destroy(&link);
        return NULL;
    }
    s_nonblocking(link->listen_fd);
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof bound;
    getsockname(link->listen_fd, (struct sockaddr *)&bound, &bound_len);
    link->port = ntohs(bound.sin_port);
    return link;
}

static s_link_t *s_link_find(s_relay_t *self, const char *name)
{
    for (s_link_t *link = zlistx_first(self->links); link; link = zlistx_next(self->links))
        if (!strcmp(link->name, name))
            return link;
    return NULL;
}

//  ---------------------------------------------------------------------
//  Connections

static void s_flow_clear(s_flow_t *flow)
{
    while (flow->head) {
        s_chunk_t *next = flow->head->next;
        free(flow->head);
        flow->head = next;
    }
    flow->tail = NULL;
    flow->held = 0;
}

static void s_conn_destroy(s_conn_t **conn_p)
{
    s_conn_t *conn = *conn_p;
    if (!conn)
        return;
    for (int side = 0; side < 2; side++) {
        if (conn->fd[side] >= 0)
            close(conn->fd[side]);
        s_flow_clear(&conn->flow[side]);
    }
    conn->link->open--;
    free(conn);
    *conn_p = NULL;
}

static void s_accept(s_relay_t *self, s_link_t *link)
{
    int fd;
    while ((fd = accept4(link->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        link->accepted++;
        s_nonblocking(fd);
        int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (target < 0) {
            close(fd);
            continue;
        }
        s_nonblocking(target);
        int rc = connect(target, (struct sockaddr *)&link->target, link->target_len);
        if (rc && errno != EINPROGRESS) {
            //  Nobody at the target: the caller sees a refusal, as it
            //  would without the relay.
            close(target);
            close(fd);
            continue;
        }
        s_conn_t *conn = calloc(1, sizeof *conn);
        assert(conn);
        conn->link = link;
        conn->fd[S_UP] = fd;
        conn->fd[S_DOWN] = target;
        conn->connected = rc == 0;
        link->open++;
        zlistx_add_end(self->conns, conn);
    }
}

//  Reads what the source of flow direction has (the connecting side for
//  S_UP) into the flow, up to the hold limit.
static void s_read(s_conn_t *conn, int direction, int64_t now_ms)
{
    s_flow_t *flow = &conn->flow[direction];
    while (!flow->eof && flow->held < KP_RELAY_HOLD) {
        s_chunk_t *chunk = malloc(sizeof *chunk + S_READ);
        assert(chunk);
        ssize_t got = recv(conn->fd[direction], chunk->data, S_READ, 0);
        if (got <= 0) {
            free(chunk);
            if (got == 0)
                flow->eof = true;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                conn->closing = true;
            return;
        }
        chunk->next = NULL;
        chunk->read_ms = now_ms;
        chunk->size = (size_t)got;
        chunk->sent = 0;
        if (flow->tail)
            flow->tail->next = chunk;
        else
            flow->head = chunk;
        flow->tail = chunk;
        flow->held += (size_t)got;
    }
}

//  Writes the flow's due chunks to the other side, in order.
static void s_write(s_conn_t *conn, int direction, int64_t now_ms)
{
    s_link_t *link = conn->link;
    s_flow_t *flow = &conn->flow[direction];
    int sink = conn->fd[1 - direction];
    while (flow->head && !link->cut[direction] &&
           flow->head->read_ms + link->delay_ms[direction] <= now_ms) {
        s_chunk_t *chunk = flow->head;
        ssize_t put = send(sink, chunk->data + chunk->sent, chunk->size - chunk->sent,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (put < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                conn->closing = true;
            return;
        }
        chunk->sent += (size_t)put;
        flow->held -= (size_t)put;
        link->bytes[direction] += (uint64_t)put;
        if (chunk->sent < chunk->size)
            return;
        flow->head = chunk->next;
        if (!flow->head)
            flow->tail = NULL;
        free(chunk);
    }
    //  A side that closed and whose bytes all went through closes the
    //  connection: ZeroMQ does not half-close, and a restarted node opens
    //  a new one.
    if (flow->eof && !flow->head)
        conn->closing = true;
}

static void s_finish_connect(s_conn_t *conn)
{
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(conn->fd[S_DOWN], SOL_SOCKET, SO_ERROR, &error, &len) || error)
        conn->closing = true;
    else
        conn->connected = true;
}

//  ---------------------------------------------------------------------
//  Commands

static bool s_matches(const char *patterns, const char *name)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", patterns);
    char *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (fnmatch(p, name, 0) == 0)
            return true;
    return false;
}

typedef enum { S_DELAY, S_CUT, S_HEAL, S_RESET } s_verb_t;

static void s_close_link(s_relay_t *self, const s_link_t *link)
{
    for (s_conn_t *conn = zlistx_first(self->conns); conn; conn = zlistx_next(self->conns))
        if (conn->link == link)
            conn->closing = true;
}

//  Applies verb to the traffic from 'from' to 'to'; returns the number of
//  link sides changed.
static int s_apply(s_relay_t *self, s_verb_t verb, const char *from, const char *to, int ms)
{
    int changed = 0;
    for (s_link_t *link = zlistx_first(self->links); link; link = zlistx_next(self->links)) {
        for (int direction = 0; direction < 2; direction++) {
            const char *source = direction == S_UP ? link->from : link->to;
            const char *sink = direction == S_UP ? link->to : link->from;
            if (!s_matches(from, source) || !s_matches(to, sink))
                continue;
            changed++;
            if (verb == S_DELAY)
                link->delay_ms[direction] = ms;
            else if (verb == S_CUT || verb == S_HEAL)
                link->cut[direction] = verb == S_CUT;
            else
                s_close_link(self, link);
        }
    }
    return changed;
}

static char *s_status(s_relay_t *self)
{
    size_t size = 64 + zlistx_size(self->links) * 256;
    char *text = malloc(size);
    assert(text);
    size_t used = (size_t)snprintf(text, size, "ok %zu links\n", zlistx_size(self->links));
    for (s_link_t *link = zlistx_first(self->links); link; link = zlistx_next(self->links)) {
        size_t held[2] = {0, 0};
        for (s_conn_t *conn = zlistx_first(self->conns); conn; conn = zlistx_next(self->conns))
            if (conn->link == link)
                for (int d = 0; d < 2; d++)
                    held[d] += conn->flow[d].held;
        used += (size_t)snprintf(
            text + used, size - used,
            "%s port %d open %zu accepted %llu up %llu held %zu %s delay %d down %llu held %zu %s "
            "delay %d\n",
            link->name, link->port, link->open, (unsigned long long)link->accepted,
            (unsigned long long)link->bytes[S_UP], held[S_UP], link->cut[S_UP] ? "cut" : "open",
            link->delay_ms[S_UP], (unsigned long long)link->bytes[S_DOWN], held[S_DOWN],
            link->cut[S_DOWN] ? "cut" : "open", link->delay_ms[S_DOWN]);
    }
    text[used - 1] = '\0'; //  no newline after the last line
    return text;
}

static const char *s_help = "ok commands: link NAME LISTEN TARGET | delay FROM TO MS [both] | "
                            "cut FROM TO [both] | heal FROM TO [both] | reset FROM TO | status";

static char *s_command_link(s_relay_t *self, char **words, int count)
{
    if (count != 4)
        return strdup("error usage: link FROM>TO LISTEN TARGET");
    if (s_link_find(self, words[1]))
        return zsys_sprintf("error link %s exists already", words[1]);
    char err[512];
    s_link_t *link = s_link_new(words[1], words[2], words[3], err, sizeof err);
    if (!link)
        return zsys_sprintf("error %s", err);
    zlistx_add_end(self->links, link);
    return zsys_sprintf("ok %d", link->port);
}

static char *s_command(s_relay_t *self, char *line)
{
    char *words[6];
    int count = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r\n", &save); w && count < 6;
         w = strtok_r(NULL, " \t\r\n", &save))
        words[count++] = w;
    if (count == 0 || !strcmp(words[0], "help"))
        return strdup(s_help);
    if (!strcmp(words[0], "status"))
        return s_status(self);
    if (!strcmp(words[0], "link"))
        return s_command_link(self, words, count);
    s_verb_t verb = !strcmp(words[0], "delay")   ? S_DELAY
                    : !strcmp(words[0], "cut")   ? S_CUT
                    : !strcmp(words[0], "heal")  ? S_HEAL
                    : !strcmp(words[0], "reset") ? S_RESET
                                                 : (s_verb_t)-1;
    if ((int)verb < 0)
        return zsys_sprintf("error unknown command '%s'; try help", words[0]);
    int want = verb == S_DELAY ? 4 : 3;
    bool both = count == want + 1 && !strcmp(words[want], "both");
    if (count != want && !both)
        return zsys_sprintf("error usage: %s FROM TO%s [both]", words[0],
                            verb == S_DELAY ? " MS" : "");
    int ms = 0;
    if (verb == S_DELAY) {
        char *end;
        long value = strtol(words[3], &end, 10);
        if (*end || value < 0 || value > 600000)
            return zsys_sprintf("error delay wants 0..600000 ms, not '%s'", words[3]);
        ms = (int)value;
    }
    int changed = s_apply(self, verb, words[1], words[2], ms);
    if (both)
        changed += s_apply(self, verb, words[2], words[1], ms);
    return zsys_sprintf("ok %d", changed);
}

//  ---------------------------------------------------------------------
//  The actor

//  The poll items of one turn: the pipe, every listener, both sockets of
//  connection socket that waits for something.
typedef struct {
    zmq_pollitem_t *items;
    void **owner; //  s_link_t * for listeners, s_conn_t * for sockets
    int *side;    //  S_UP, S_DOWN, or -1 for listeners
    size_t count, cap;
} s_items_t;

static void s_items_add(s_items_t *set, void *socket, int fd, short events, void *owner, int side)
{
    if (set->count == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->items = realloc(set->items, set->cap * sizeof *set->items);
        set->owner = realloc(set->owner, set->cap * sizeof *set->owner);
        set->side = realloc(set->side, set->cap * sizeof *set->side);
        assert(set->items && set->owner && set->side);
    }
    set->items[set->count] = (zmq_pollitem_t){socket, fd, events, 0};
    set->owner[set->count] = owner;
    set->side[set->count] = side;
    set->count++;
}

//  What a socket of conn waits for: reading while its flow has room and
//  is not cut, writing while the other flow has due bytes.
static short s_events(const s_conn_t *conn, int side, int64_t now_ms)
{
    if (side == S_DOWN && !conn->connected)
        return ZMQ_POLLOUT;
    short events = 0;
    const s_flow_t *in = &conn->flow[side];
    if (!in->eof && in->held < KP_RELAY_HOLD && conn->connected)
        events |= ZMQ_POLLIN;
    const s_flow_t *out = &conn->flow[1 - side];
    const s_link_t *link = conn->link;
    if (out->head && !link->cut[1 - side] &&
        out->head->read_ms + link->delay_ms[1 - side] <= now_ms)
        events |= ZMQ_POLLOUT;
    return events;
}

//  Milliseconds until the next delayed chunk is due (-1: none).
static long s_timeout(s_relay_t *self, int64_t now_ms)
{
    long timeout = -1;
    for (s_conn_t *conn = zlistx_first(self->conns); conn; conn = zlistx_next(self->conns))
        for (int d = 0; d < 2; d++) {
            const s_flow_t *flow = &conn->flow[d];
            if (!flow->head || conn->link->cut[d])
                continue;
            int64_t due = flow->head->read_ms + conn->link->delay_ms[d];
            long wait = due <= now_ms ? 0 : (long)(due - now_ms);
            if (timeout < 0 || wait < timeout)
                timeout = wait;
        }
    return timeout;
}

static void s_build(s_relay_t *self, s_items_t *set, int64_t now_ms)
{
    set->count = 0;
    s_items_add(set, zsock_resolve(self->pipe), 0, ZMQ_POLLIN, NULL, -1);
    for (s_link_t *link = zlistx_first(self->links); link; link = zlistx_next(self->links))
        s_items_add(set, NULL, link->listen_fd, ZMQ_POLLIN, link, -1);
    for (s_conn_t *conn = zlistx_first(self->conns); conn; conn = zlistx_next(self->conns))
        for (int side = 0; side < 2; side++) {
            //  A socket with nothing to wait for stays out: a closed one
            //  would report its hang-up on every turn.
            short events = s_events(conn, side, now_ms);
            if (events)
                s_items_add(set, NULL, conn->fd[side], events, conn, side);
        }
}

static void s_on_pipe(s_relay_t *self)
{
    char *line = zstr_recv(self->pipe);
    if (!line || !strcmp(line, "$TERM")) {
        self->terminated = true;
        zstr_free(&line);
        return;
    }
    char *answer = s_command(self, line);
    zstr_send(self->pipe, answer);
    free(answer);
    zstr_free(&line);
}

static void s_sweep(s_relay_t *self)
{
    s_conn_t *conn = zlistx_first(self->conns);
    while (conn) {
        void *cursor = zlistx_cursor(self->conns);
        s_conn_t *next = zlistx_next(self->conns);
        if (conn->closing) {
            zlistx_delete(self->conns, cursor);
            s_conn_destroy(&conn);
        }
        conn = next;
    }
}

static void s_turn(s_relay_t *self, s_items_t *set)
{
    int64_t now_ms = zclock_mono();
    for (size_t i = 1; i < set->count; i++) {
        short revents = set->items[i].revents;
        if (!revents)
            continue;
        if (set->side[i] < 0) {
            s_accept(self, (s_link_t *)set->owner[i]);
            continue;
        }
        s_conn_t *conn = (s_conn_t *)set->owner[i];
        int side = set->side[i];
        if (side == S_DOWN && !conn->connected) {
            s_finish_connect(conn);
            continue;
        }
        if (revents & (ZMQ_POLLIN | ZMQ_POLLERR))
            s_read(conn, side, now_ms);
    }
    for (s_conn_t *conn = zlistx_first(self->conns); conn; conn = zlistx_next(self->conns))
        if (conn->connected)
            for (int d = 0; d < 2; d++)
                s_write(conn, d, now_ms);
    s_sweep(self);
}

static void s_actor(zsock_t *pipe, void *arg)
{
    (void)arg;
    s_relay_t self = {pipe, zlistx_new(), zlistx_new(), false};
    zlistx_set_destructor(self.links, (zlistx_destructor_fn *)s_link_destroy);
    s_items_t set = {0};
    zsock_signal(pipe, 0);
    while (!self.terminated) {
        int64_t now_ms = zclock_mono();
        s_build(&self, &set, now_ms);
        if (zmq_poll(set.items, (int)set.count, s_timeout(&self, now_ms)) < 0 &&
            zmq_errno() != EINTR)
            break;
        if (set.items[0].revents & ZMQ_POLLIN)
            s_on_pipe(&self);
        if (!self.terminated)
            s_turn(&self, &set);
    }
    for (s_conn_t *conn = zlistx_first(self.conns); conn; conn = zlistx_next(self.conns))
        conn->closing = true;
    s_sweep(&self);
    zlistx_destroy(&self.conns);
    zlistx_destroy(&self.links);
    free(set.items);
    free(set.owner);
    free(set.side);
}

//  ---------------------------------------------------------------------
//  The API

kp_relay_t *kp_relay_new(void)
{
    kp_relay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = zactor_new(s_actor, NULL);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void kp_relay_destroy(kp_relay_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy(&(*self_p)->actor);
        free(*self_p);
        *self_p = NULL;
    }
}

char *kp_relay_command(kp_relay_t *self, const char *command)
{
    if (zstr_send(self->actor, command))
        return strdup("error the relay's thread is gone");
    char *answer = zstr_recv(self->actor);
    char *copy = strdup(answer ? answer : "error the relay's thread is gone");
    zstr_free(&answer);
    return copy;
}

int kp_relay_link(kp_relay_t *self, const char *name, const char *listen, const char *target,
                  char *err, size_t errlen)
{
    char *command = zsys_sprintf("link %s %s %s", name, listen, target);
    char *answer = kp_relay_command(self, command);
    zstr_free(&command);
    int port = -1;
    if (sscanf(answer, "ok %d", &port) != 1) {
        snprintf(err, errlen, "%s", strncmp(answer, "error ", 6) ? answer : answer + 6);
        port = -1;
    }
    free(answer);
    return port;
}
