/*  handshake.c - whether a CURVE handshake succeeds. */
#include "handshake.h"

#include <assert.h>
#include <string.h>

bool kp_test_handshake(const char *endpoint, zcert_t *cert, const char *server_key, int timeout_ms,
                       zsock_t **sock_out)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert(dealer);
    zsock_set_linger(dealer, 0);
    if (cert) {
        zcert_apply(cert, dealer);
        zsock_set_curve_serverkey(dealer, server_key);
    }
    zactor_t *monitor = zactor_new(zmonitor, dealer);
    assert(monitor);
    zstr_sendx(monitor, "LISTEN", "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_NO_DETAIL",
               "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", "DISCONNECTED", NULL);
    zstr_send(monitor, "START");
    zsock_wait(monitor);
    int rc = zsock_connect(dealer, "%s", endpoint);
    assert(rc == 0);
    (void)rc;
    zsock_set_rcvtimeo(monitor, timeout_ms);
    char *event = zstr_recv(monitor);
    assert(event && "no handshake outcome within the ceiling");
    bool through = event && !strcmp(event, "HANDSHAKE_SUCCEEDED");
    zstr_free(&event);
    zactor_destroy(&monitor);
    if (sock_out)
        *sock_out = dealer;
    else
        zsock_destroy(&dealer);
    return through;
}
