/*  handshake.h - whether a CURVE handshake with a real server succeeds,
    as the client's own socket monitor says (no waiting for an answer that
    may never come).
*/
#ifndef KP_TEST_HANDSHAKE_H_INCLUDED
#define KP_TEST_HANDSHAKE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  Connects a DEALER to endpoint, a CURVE client with cert trusting
//  server_key (Z85), or plain text when cert is NULL, and waits for the
//  first of: the handshake succeeded (true), it failed, or the server
//  closed the connection (false). timeout_ms is a ceiling (asserted).
//  With sock_out, the connected socket is handed over (destroy it), else
//  destroyed.
bool kp_test_handshake(const char *endpoint, zcert_t *cert, const char *server_key, int timeout_ms,
                       zsock_t **sock_out);

#endif
