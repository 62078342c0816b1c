/*  nats.c - a minimal NATS text-protocol client. */
#include "nats.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  Larger than any payload kpbench sends (the server's default max_payload
//  is 1 MiB); a longer MSG is refused as hostile.
#define S_MAX_MESSAGE (8 * 1024 * 1024)
#define S_MAX_LINE 4096
#define S_WRITE_FLUSH (64 * 1024)

struct _kp_nats_t {
    int fd;
    char *in;
    size_t in_len, in_pos, in_cap;
    char *out;
    size_t out_len, out_cap;
    char subject[S_MAX_LINE];
    char reply[S_MAX_LINE];
    char error[256];
};

static int s_fail(kp_nats_t *self, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, args);
    va_end(args);
    return -1;
}

static void s_out_reserve(kp_nats_t *self, size_t more)
{
    if (self->out_len + more <= self->out_cap)
        return;
    size_t cap = self->out_cap ? self->out_cap : 4096;
    while (cap < self->out_len + more)
        cap *= 2;
    self->out = realloc(self->out, cap);
    assert(self->out);
    self->out_cap = cap;
}

static void s_out(kp_nats_t *self, const void *data, size_t size)
{
    s_out_reserve(self, size);
    memcpy(self->out + self->out_len, data, size);
    self->out_len += size;
}

int kp_nats_flush(kp_nats_t *self)
{
    size_t done = 0;
    while (done < self->out_len) {
        ssize_t n = send(self->fd, self->out + done, self->out_len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return s_fail(self, "NATS write failed: %s", strerror(errno));
        done += (size_t)n;
    }
    self->out_len = 0;
    return 0;
}

//  Reads what the socket has (waiting up to timeout_ms). 1 read, 0 timeout.
static int s_fill(kp_nats_t *self, int timeout_ms)
{
    struct pollfd p = {.fd = self->fd, .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR)
        return 0;
    if (rc < 0)
        return s_fail(self, "poll failed: %s", strerror(errno));
    if (rc == 0)
        return 0;
    if (self->in_pos > 0) { //  compact: keep only unread bytes
        memmove(self->in, self->in + self->in_pos, self->in_len - self->in_pos);
        self->in_len -= self->in_pos;
        self->in_pos = 0;
    }
    if (self->in_cap - self->in_len < 65536) {
        self->in_cap = self->in_cap ? self->in_cap * 2 : 131072;
        self->in = realloc(self->in, self->in_cap);
        assert(self->in);
    }
    ssize_t n = recv(self->fd, self->in + self->in_len, self->in_cap - self->in_len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n < 0)
        return s_fail(self, "NATS read failed: %s", strerror(errno));
    if (n == 0)
        return s_fail(self, "NATS server closed the connection");
    self->in_len += (size_t)n;
    return 1;
}

//  A complete line at in_pos: its length without CRLF, or -1 if none yet.
static long s_line(kp_nats_t *self)
{
    const char *start = self->in + self->in_pos;
    size_t avail = self->in_len - self->in_pos;
    if (avail == 0)
        return -1; //  (and in may still be NULL)
    const char *nl = memchr(start, '\n', avail);
    if (!nl)
        return avail > S_MAX_LINE ? -2 : -1;
    size_t len = (size_t)(nl - start);
    if (len > 0 && start[len - 1] == '\r')
        len--;
    return (long)len;
}

static size_t s_line_end(kp_nats_t *self)
{
    const char *start = self->in + self->in_pos;
    const char *nl = memchr(start, '\n', self->in_len - self->in_pos);
    return (size_t)(nl - start) + 1;
}

//  Parses "MSG subject sid [reply] bytes". Returns 0 or -1.
static int s_parse_msg(kp_nats_t *self, char *line, size_t *size)
{
    char *words[5];
    int count = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (count == 5)
            return s_fail(self, "malformed MSG line from NATS: too many fields");
        words[count++] = w;
    }
    if (count != 4 && count != 5)
        return s_fail(self, "malformed MSG line from NATS: %d fields", count);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(words[count - 1], &end, 10);
    if (*end || errno || n > S_MAX_MESSAGE)
        return s_fail(self, "malformed or oversized MSG size from NATS: '%s'", words[count - 1]);
    snprintf(self->subject, sizeof self->subject, "%s", words[1]);
    snprintf(self->reply, sizeof self->reply, "%s", count == 5 ? words[3] : "");
    *size = (size_t)n;
    return 0;
}

//  Handles one complete protocol item if buffered: 1 MSG, 2 another line
//  (handled), 0 need more bytes, -1 error.
static int s_step(kp_nats_t *self, kp_nats_msg_t *msg)
{
    long len = s_line(self);
    if (len == -2)
        return s_fail(self, "NATS sent a line longer than %d bytes", S_MAX_LINE);
    if (len < 0)
        return 0;
    char line[S_MAX_LINE + 1];
    memcpy(line, self->in + self->in_pos, (size_t)len);
    line[len] = '\0';
    size_t head = s_line_end(self);
    if (!strncmp(line, "MSG ", 4)) {
        size_t size = 0;
        if (s_parse_msg(self, line, &size))
            return -1;
        if (self->in_len - self->in_pos < head + size + 2)
            return 0; //  payload not all here yet
        const char *data = self->in + self->in_pos + head;
        if (data[size] != '\r' || data[size + 1] != '\n')
            return s_fail(self, "NATS message payload not followed by CRLF");
        msg->subject = self->subject;
        msg->reply = self->reply;
        msg->data = data;
        msg->size = size;
        self->in_pos += head + size + 2;
        return 1;
    }
    self->in_pos += head;
    if (!strcmp(line, "PING")) {
        s_out(self, "PONG\r\n", 6);
        return kp_nats_flush(self) ? -1 : 2;
    }
    if (!strcmp(line, "PONG") || !strcmp(line, "+OK") || !strncmp(line, "INFO ", 5) || !len)
        return 2;
    if (!strncmp(line, "-ERR", 4))
        return s_fail(self, "NATS server error: %s", line + 4);
    return s_fail(self, "unexpected line from NATS: '%.40s'", line);
}

int kp_nats_next(kp_nats_t *self, int timeout_ms, kp_nats_msg_t *msg)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (1) {
        int rc;
        while ((rc = s_step(self, msg)) == 2)
            ; //  a control line: look at the next one
        if (rc != 0)
            return rc;
        int wait = timeout_ms;
        if (timeout_ms > 0) {
            struct timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
            wait = spent >= timeout_ms ? 0 : timeout_ms - (int)spent;
        }
        rc = s_fill(self, wait);
        if (rc <= 0)
            return rc;
    }
}

int kp_nats_buffered(kp_nats_t *self)
{
    return s_line(self) >= 0;
}

int kp_nats_sub(kp_nats_t *self, const char *subject, unsigned sid)
{
    char line[S_MAX_LINE];
    int n = snprintf(line, sizeof line, "SUB %s %u\r\n", subject, sid);
    if (n < 0 || (size_t)n >= sizeof line)
        return s_fail(self, "NATS subject too long");
    s_out(self, line, (size_t)n);
    return 0;
}

int kp_nats_pub(kp_nats_t *self, const char *subject, const char *reply, const void *data,
                size_t size)
{
    char line[S_MAX_LINE];
    int n = reply && *reply ? snprintf(line, sizeof line, "PUB %s %s %zu\r\n", subject, reply, size)
                            : snprintf(line, sizeof line, "PUB %s %zu\r\n", subject, size);
    if (n < 0 || (size_t)n >= sizeof line)
        return s_fail(self, "NATS subject too long");
    s_out(self, line, (size_t)n);
    s_out(self, data, size);
    s_out(self, "\r\n", 2);
    return self->out_len >= S_WRITE_FLUSH ? kp_nats_flush(self) : 0;
}

static int s_tcp_connect(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to NATS at %s:%d: %s (is nats-server running?)", host,
                 port, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

kp_nats_t *kp_nats_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    int fd = s_tcp_connect(host, port, err, errlen);
    if (fd < 0)
        return NULL;
    kp_nats_t *self = calloc(1, sizeof *self);
    assert(self);
    self->fd = fd;
    const char *connect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"kpbench\","
                          "\"lang\":\"c\",\"version\":\"0.1\",\"protocol\":0}\r\nPING\r\n";
    s_out(self, connect, strlen(connect));
    if (kp_nats_flush(self))
        goto failed;
    //  Wait for the PONG that answers our PING: the server has taken CONNECT.
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (1) {
        long len = s_line(self);
        if (len >= 0) {
            int pong = len == 4 && !memcmp(self->in + self->in_pos, "PONG", 4);
            int bad = len >= 4 && !memcmp(self->in + self->in_pos, "-ERR", 4);
            if (bad) {
                s_fail(self, "NATS refused the connection: %.*s", (int)len,
                       self->in + self->in_pos);
                goto failed;
            }
            self->in_pos += s_line_end(self);
            if (pong)
                break;
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= timeout_ms) {
            s_fail(self, "NATS server did not answer PING within %d ms", timeout_ms);
            goto failed;
        }
        if (s_fill(self, (int)(timeout_ms - spent)) < 0)
            goto failed;
    }
    return self;
failed:
    snprintf(err, errlen, "%s", self->error);
    kp_nats_destroy(&self);
    return NULL;
}

void kp_nats_destroy(kp_nats_t **self_p)
{
    if (self_p && *self_p) {
        kp_nats_t *self = *self_p;
        if (self->fd >= 0)
            close(self->fd);
        free(self->in);
        free(self->out);
        free(self);
        *self_p = NULL;
    }
}

const char *kp_nats_error(kp_nats_t *self)
{
    return self->error;
}
