/*  nats.h - the few words of the NATS text protocol that kpbench needs.

    Just enough to compare Kruispunt with a NATS request-reply round trip:
    CONNECT, PUB, SUB, MSG, PING/PONG, over one blocking TCP socket with a
    buffered reader. No headers, no TLS, no reconnect. Everything read from
    the server is checked: a malformed line or an oversized message is an
    error that names what was wrong, never a crash.

    Not thread-safe: one connection per thread.
*/
#ifndef KP_NATS_H_INCLUDED
#define KP_NATS_H_INCLUDED

#include <stddef.h>

typedef struct _kp_nats_t kp_nats_t;

typedef struct {
    const char *subject; //  NUL-terminated, valid until the next kp_nats_next
    const char *reply;   //  "" when the message has no reply subject
    const char *data;
    size_t size;
} kp_nats_msg_t;

//  Connects to host:port, reads INFO, sends CONNECT and a PING and waits up
//  to timeout_ms for the PONG. NULL on failure, with the reason in err.
kp_nats_t *kp_nats_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen);
void kp_nats_destroy(kp_nats_t **self_p);

//  Queue SUB and PUB commands; they leave on kp_nats_flush (or when the
//  write buffer fills). Return 0, or -1 with kp_nats_error set.
int kp_nats_sub(kp_nats_t *self, const char *subject, unsigned sid);
int kp_nats_pub(kp_nats_t *self, const char *subject, const char *reply, const void *data,
                size_t size);
int kp_nats_flush(kp_nats_t *self);

//  Waits up to timeout_ms (0: do not wait, -1: forever) for the next MSG,
//  answering PINGs on the way. Returns 1 with msg filled, 0 on timeout,
//  -1 on error or a closed connection (kp_nats_error says which).
int kp_nats_next(kp_nats_t *self, int timeout_ms, kp_nats_msg_t *msg);

//  True if a whole message may already be buffered (no need to wait).
int kp_nats_buffered(kp_nats_t *self);

const char *kp_nats_error(kp_nats_t *self);

#endif
