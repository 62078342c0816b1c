/*  wire.c - the socket helpers that kp_client.c and kp_worker.c share.
 */
#include "wire.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

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

int kp_wire_cert_load(const char *path, kp_wire_cert_t *cert)
{
    memset(cert, 0, sizeof *cert);
    if (!path || !*path)
        return -1;
    char public_path[4096];
    snprintf(public_path, sizeof public_path, "%s", path);
    size_t len = strlen(public_path), tail = strlen("_secret");
    if (len > tail && !strcmp(public_path + len - tail, "_secret"))
        public_path[len - tail] = '\0';
    zcert_t *loaded = zcert_load(public_path);
    if (!loaded)
        return -1;
    memcpy(cert->public_key, zcert_public_key(loaded), 32);
    memcpy(cert->secret_key, zcert_secret_key(loaded), 32);
    zcert_destroy(&loaded);
    static const uint8_t zero[32];
    if (!memcmp(cert->secret_key, zero, 32))
        return -1; //  a public file alone
    cert->on = true;
    return 0;
}

int kp_wire_z85(const char *text, size_t len, uint8_t out[32])
{
    char key[41];
    if (!text || len != 40)
        return -1;
    memcpy(key, text, 40);
    key[40] = '\0';
    return zmq_z85_decode(out, key) ? 0 : -1;
}

int kp_wire_curve(void *sock, const kp_wire_cert_t *cert, const uint8_t server[32])
{
    if (!cert->on)
        return 0;
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, 32) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, cert->public_key, 32) ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cert->secret_key, 32)
               ? -1
               : 0;
}

int kp_wire_random(void *out, size_t size)
{
    unsigned char *p = out;
    while (size > 0) {
        ssize_t got = getrandom(p, size, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        size -= (size_t)got;
    }
    return 0;
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
