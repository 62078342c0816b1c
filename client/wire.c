/*  wire.c - the socket helpers that kp_client.c and kp_worker.c share.
 */
#include "wire.h"

#include <errno.h>
#include <time.h>

int64_t kp_wire_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *kp_wire_dealer(void *ctx, size_t max_frame)
{
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!sock)
        return NULL;
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (max_frame) {
        int64_t limit = (int64_t)max_frame;
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &limit, sizeof limit);
    }
    return sock;
}

kp_wire_recv_t kp_wire_recv(void *sock, zmq_msg_t *msg)
{
    if (zmq_msg_recv(msg, sock, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            return KP_WIRE_EMPTY;
        return errno == EINTR ? KP_WIRE_EINTR : KP_WIRE_ESOCKET;
    }
    if (!zmq_msg_more(msg))
        return KP_WIRE_FRAME;
    while (zmq_msg_more(msg) && zmq_msg_recv(msg, sock, 0) >= 0)
        ;
    return KP_WIRE_MULTIPART;
}
