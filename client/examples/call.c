/*  call.c - the smallest complete client: one synchronous request.

    Usage: kp_client_example ENDPOINTS USER SECTOR TYPE MESSAGE INSZ CAPACITY
    e.g.   kp_client_example tcp://127.0.0.1:7100 app-1 17 1 wage-data 85073003328 1

    ENDPOINTS is a comma-separated list of node client endpoints; the
    first is used, the others take over if it does not answer. A secure
    cluster (the default) also needs the environment's KP_CERT (this
    application's certificate, from 'kpctl keys new') and KP_NODE_KEY (the
    nodes' public keys in Z85, comma-separated, one per endpoint). The
    program builds a Request (leaving request_id empty: the stub fills
    it), calls with a 5 s overall timeout, prints the outcome and each
    part, and exits 0 when the status is OK.

    Build against the library: cc call.c -lkpclient -lprotobuf-c -lzmq
    (plus -lczmq), with kp_client.h and kruispunt.pb-c.h on the path.
*/
#include <stdio.h>
#include <stdlib.h>

#include "kp_client.h"

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s ENDPOINTS USER SECTOR TYPE MESSAGE INSZ CAPACITY\n", argv[0]);
        return 2;
    }
    kp_client_t *client = kp_client_new_list(argv[1]);
    if (!client) {
        fprintf(stderr, "%s: cannot use endpoints '%s'\n", argv[0], argv[1]);
        return 2;
    }
    const char *cert = getenv("KP_CERT"), *keys = getenv("KP_NODE_KEY");
    if (cert && keys && kp_client_set_curve(client, cert, keys) != 0) {
        fprintf(stderr, "%s: cannot use the certificate %s with the node keys %s\n", argv[0], cert,
                keys);
        kp_client_destroy(&client);
        return 2;
    }
    Kp__Request req = KP__REQUEST__INIT;
    req.user = argv[2];
    req.has_sector = 1;
    req.sector = (uint32_t)strtoul(argv[3], NULL, 10);
    req.has_type = 1;
    req.type = (uint32_t)strtoul(argv[4], NULL, 10);
    req.message = argv[5];
    req.person = argv[6];
    req.has_capacity = 1;
    req.capacity = (uint32_t)strtoul(argv[7], NULL, 10);

    Kp__Response *resp = NULL;
    int rc = kp_client_call(client, &req, 5000, &resp);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], kp_client_strerror(rc));
        kp_client_destroy(&client);
        return 1;
    }
    printf("%s %s %s%s%s\n", resp->request_id, kp_client_status_name(resp->status),
           kp_client_reason_name(resp->reason), resp->detail ? ": " : "",
           resp->detail ? resp->detail : "");
    for (size_t i = 0; i < resp->n_parts; i++) {
        const Kp__Part *part = resp->parts[i];
        printf("  %s %s %.*s\n", part->kbo ? part->kbo : "?", kp_client_status_name(part->status),
               (int)part->payload.len, (const char *)part->payload.data);
    }
    int status = resp->status == KP__STATUS__OK ? 0 : 1;
    kp_client_response_destroy(&resp);
    kp_client_destroy(&client);
    return status;
}
