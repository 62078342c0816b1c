/*  conns.c - the connection guard. */
#include "conns.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

struct _kp_conns_t {
    zactor_t *actor;
    int watched;
};

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    zlistx_t *monitors; //  zsock_t *, one per watched socket
    uint32_t max;
    uint64_t open, refused;
} s_guard_t;

//  One monitor event: [u16 event, u32 value] then the endpoint.
static void s_on_event(s_guard_t *guard, zsock_t *monitor)
{
    zframe_t *head = zframe_recv(monitor);
    char *endpoint = zstr_recv(monitor);
    if (head && zframe_size(head) == 6) {
        //  libzmq writes both in the host's byte order.
        uint16_t event;
        uint32_t value;
        memcpy(&event, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
        int fd = (int)value;
        if (event == ZMQ_EVENT_ACCEPTED) {
            guard->open++;
            if (guard->open > guard->max) {
                shutdown(fd, SHUT_RDWR);
                guard->refused++;
            }
        } else if (event == ZMQ_EVENT_DISCONNECTED && guard->open > 0)
            guard->open--;
    }
    zframe_destroy(&head);
    zstr_free(&endpoint);
}

//  WATCH endpoint: connect a monitor there; COUNTS: the two counters.
static bool s_on_command(s_guard_t *guard)
{
    zmsg_t *msg = zmsg_recv(guard->pipe);
    if (!msg) //  interrupted: only $TERM ends the guard
        return true;
    char *command = zmsg_popstr(msg);
    bool go_on = command && strcmp(command, "$TERM");
    if (go_on && !strcmp(command, "WATCH")) {
        char *endpoint = zmsg_popstr(msg);
        //  No high-water mark on the events: libzmq drops an event that
        //  finds the pipe full, and a lost DISCONNECTED would count a
        //  connection forever (inproc: 0 on either side means no limit).
        zsock_t *monitor = endpoint ? zsock_new(ZMQ_PAIR) : NULL;
        if (monitor)
            zsock_set_rcvhwm(monitor, 0);
        if (monitor && zsock_connect(monitor, "%s", endpoint)) {
            zsock_destroy(&monitor);
        }
        if (monitor) {
            zlistx_add_end(guard->monitors, monitor);
            zpoller_add(guard->poller, monitor);
        }
        zsock_signal(guard->pipe, monitor ? 0 : 1);
        zstr_free(&endpoint);
    } else if (go_on && !strcmp(command, "COUNTS"))
        zsock_send(guard->pipe, "88", guard->open, guard->refused);
    zstr_free(&command);
    zmsg_destroy(&msg);
    return go_on;
}

static void s_guard(zsock_t *pipe, void *args)
{
    s_guard_t guard = {pipe, zpoller_new(pipe, NULL), zlistx_new(), *(uint32_t *)args, 0, 0};
    //  The guard ends when the node destroys it, not at SIGINT or SIGTERM:
    //  the node goes on (its grace period) and still asks for the counts.
    zpoller_set_nonstop(guard.poller, true);
    zsock_signal(pipe, 0);
    bool go_on = true;
    while (go_on) {
        zsock_t *which = (zsock_t *)zpoller_wait(guard.poller, -1);
        if (which == pipe)
            go_on = s_on_command(&guard);
        else if (which)
            s_on_event(&guard, which);
    }
    for (zsock_t *m = (zsock_t *)zlistx_first(guard.monitors); m;
         m = (zsock_t *)zlistx_next(guard.monitors))
        zsock_destroy(&m);
    zlistx_destroy(&guard.monitors);
    zpoller_destroy(&guard.poller);
}

kp_conns_t *kp_conns_new(uint32_t max)
{
    kp_conns_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = zactor_new(s_guard, &max);
    if (!self->actor)
        kp_conns_destroy(&self);
    else //  never wait forever on the guard
        zsock_set_rcvtimeo(zactor_sock(self->actor), 2000);
    return self;
}

void kp_conns_destroy(kp_conns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy(&(*self_p)->actor);
    free(*self_p);
    *self_p = NULL;
}

int kp_conns_watch(kp_conns_t *self, zsock_t *sock, char *err, size_t errlen)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://kp-conns-%p-%d", (void *)self, self->watched++);
    if (zmq_socket_monitor(zsock_resolve(sock), endpoint,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) ||
        zstr_sendx(self->actor, "WATCH", endpoint, NULL) || zsock_wait(self->actor) != 0) {
        snprintf(err, errlen, "cannot watch the connections of a socket: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void kp_conns_counts(kp_conns_t *self, uint64_t *open, uint64_t *refused)
{
    *open = *refused = 0;
    if (zstr_send(self->actor, "COUNTS") == 0)
        zsock_recv(self->actor, "88", open, refused);
}

uint64_t kp_conns_raise_file_limit(uint64_t *before)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit)) {
        *before = 0;
        return 0;
    }
    *before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        //  An unlimited hard limit is not a number setrlimit takes for files.
        rlim_t want = limit.rlim_max == RLIM_INFINITY ? 1048576 : limit.rlim_max;
        limit.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
            return want;
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}
