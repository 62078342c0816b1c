/*  wire.h - what the client stub and the provider worker both do on their
    DEALER socket: the clock, opening the socket, reading one message.

    Internal to libkpclient: not installed, and hidden from the shared
    library's exported symbols (the public contract is kp_client.h and
    kp_worker.h). Plain libzmq, no CZMQ sockets (see kp_client.c).
*/
#ifndef KP_WIRE_H_INCLUDED
#define KP_WIRE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define KP_WIRE_INTERNAL __attribute__((visibility("hidden")))

//  What kp_wire_recv found.
typedef enum {
    KP_WIRE_FRAME,     //  one frame, in msg
    KP_WIRE_MULTIPART, //  a message of several frames, read to its end and void
    KP_WIRE_EMPTY,     //  nothing waiting
    KP_WIRE_EINTR,     //  a signal interrupted the read
    KP_WIRE_ESOCKET,   //  ZeroMQ failed (errno tells more)
} kp_wire_recv_t;

//  A new DEALER socket that does not linger on close, with ZeroMQ's
//  message size limit set to max_frame when that is not 0. NULL when
//  ZeroMQ cannot make one.
KP_WIRE_INTERNAL void *kp_wire_dealer(void *ctx, size_t max_frame);

//  A CURVE certificate as the client side needs it.
typedef struct {
    bool on; //  false: plain text
    uint8_t public_key[32];
    uint8_t secret_key[32];
} kp_wire_cert_t;

//  Loads a CZMQ certificate pair (path names either file; the secret one
//  must exist) into cert. 0, or -1 when it cannot be read.
KP_WIRE_INTERNAL int kp_wire_cert_load(const char *path, kp_wire_cert_t *cert);

//  Decodes the Z85 key of len characters at text (40). 0, or -1.
KP_WIRE_INTERNAL int kp_wire_z85(const char *text, size_t len, uint8_t out[32]);

//  Makes sock a CURVE client of the server whose public key is server,
//  with cert; nothing when cert->on is false. Before connect. 0, or -1.
KP_WIRE_INTERNAL int kp_wire_curve(void *sock, const kp_wire_cert_t *cert,
                                   const uint8_t server[32]);

//  Fills out with size bytes from the kernel's CSPRNG. 0, or -1.
KP_WIRE_INTERNAL int kp_wire_random(void *out, size_t size);

//  Reads one message from sock without waiting. msg is initialised and
//  closed by the caller, whatever this returns. Every message of the
//  protocol is one frame: a longer one is drained (KP_WIRE_MULTIPART)
//  so that the next read starts at the next message.
KP_WIRE_INTERNAL kp_wire_recv_t kp_wire_recv(void *sock, zmq_msg_t *msg);

#endif
