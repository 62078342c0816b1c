/*  curve.c - CURVE on a ZeroMQ socket, from CZMQ certificate files. */
#include "curve.h"

#include <string.h>
#include <sys/stat.h>

//  A draft option in libzmq 4.3's header, understood by its library
//  whether or not drafts were built: without a ZAP handler, refuse every
//  handshake rather than accept any key.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

//  The public file of a pair named by either of its files.
static void s_public_path(const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s", path);
    size_t len = strlen(out), tail = strlen("_secret");
    if (len > tail && !strcmp(out + len - tail, "_secret"))
        out[len - tail] = '\0';
}

zcert_t *kp_curve_cert_load(const char *path, bool need_secret, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "no certificate given; make one with 'kpctl keys new FILE'");
        return NULL;
    }
    char public_path[KP_CONFIG_TEXT + 16], secret_path[KP_CONFIG_TEXT + 32];
    s_public_path(path, public_path, sizeof public_path);
    snprintf(secret_path, sizeof secret_path, "%s_secret", public_path);
    struct stat st;
    if (need_secret) {
        if (stat(secret_path, &st)) {
            snprintf(err, errlen,
                     "certificate %s: no secret file %s; make a pair with 'kpctl keys new %s'",
                     path, secret_path, public_path);
            return NULL;
        }
        if (st.st_mode & 077) {
            snprintf(err, errlen,
                     "certificate %s is readable by others (mode %03o); 'chmod 600 %s', and make "
                     "a new pair if others may have read it",
                     secret_path, (unsigned)(st.st_mode & 0777), secret_path);
            return NULL;
        }
    }
    zcert_t *cert = zcert_load(public_path);
    if (!cert) {
        snprintf(err, errlen,
                 "cannot read the certificate %s (a CZMQ certificate, as 'kpctl keys "
                 "new' writes)",
                 public_path);
        return NULL;
    }
    static const char zero_z85[] = "0000000000000000000000000000000000000000";
    if (need_secret && !strcmp(zcert_secret_txt(cert), zero_z85)) {
        snprintf(err, errlen, "certificate %s has no secret key", secret_path);
        zcert_destroy(&cert);
    }
    return cert;
}

//  Makes the folders above file, private (0700) where it makes them.
static void s_make_parents(const char *file)
{
    char buf[KP_CONFIG_TEXT + 16];
    snprintf(buf, sizeof buf, "%s", file);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
}

int kp_curve_cert_new(const char *path, char *err, size_t errlen)
{
    zcert_t *cert = zcert_new();
    if (!cert) {
        snprintf(err, errlen, "cannot make a key pair");
        return -1;
    }
    char public_path[KP_CONFIG_TEXT + 16];
    s_public_path(path, public_path, sizeof public_path);
    s_make_parents(public_path);
    //  zcert writes the secret file with the private file mode (0600).
    int rc = zcert_save(cert, public_path);
    zcert_destroy(&cert);
    if (rc)
        snprintf(err, errlen, "cannot write %s and %s_secret", public_path, public_path);
    return rc ? -1 : 0;
}

int kp_curve_node_key(const kp_node_config_t *node, char out[KP_CURVE_Z85], char *err,
                      size_t errlen)
{
    if (*node->public_key) {
        snprintf(out, KP_CURVE_Z85, "%s", node->public_key);
        return 0;
    }
    if (!*node->cert) {
        snprintf(err, errlen,
                 "node %s has no 'cert' (nor 'public-key') in the cluster file; without it a "
                 "client cannot know the node's key",
                 node->name);
        return -1;
    }
    zcert_t *cert = kp_curve_cert_load(node->cert, false, err, errlen);
    if (!cert)
        return -1;
    snprintf(out, KP_CURVE_Z85, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return 0;
}

static int s_set(void *sock, int option, const void *value, size_t size, const char *what,
                 char *err, size_t errlen)
{
    if (zmq_setsockopt(sock, option, value, size) == 0)
        return 0;
    snprintf(err, errlen, "cannot set %s: %s", what, zmq_strerror(zmq_errno()));
    return -1;
}

int kp_curve_server(void *sock, zcert_t *cert, const char *domain, char *err, size_t errlen)
{
    int one = 1;
    //  The node starts its ZAP handler before any socket binds; should the
    //  handler be gone, libzmq must refuse rather than let any key in.
    return s_set(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one, "ZAP enforcement", err, errlen) ||
                   s_set(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "CURVE server", err, errlen) ||
                   s_set(sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key(cert), 32, "the secret key",
                         err, errlen) ||
                   s_set(sock, ZMQ_CURVE_PUBLICKEY, zcert_public_key(cert), 32, "the public key",
                         err, errlen) ||
                   s_set(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain), "the ZAP domain", err,
                         errlen)
               ? -1
               : 0;
}

int kp_curve_client(void *sock, zcert_t *cert, const char *server_key, char *err, size_t errlen)
{
    uint8_t server[32];
    if (!server_key || strlen(server_key) != 40 || !zmq_z85_decode(server, server_key)) {
        snprintf(err, errlen, "the node's public key '%.50s' is not 40 characters of Z85",
                 server_key ? server_key : "");
        return -1;
    }
    return s_set(sock, ZMQ_CURVE_SERVERKEY, server, 32, "the node's key", err, errlen) ||
                   s_set(sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key(cert), 32, "the secret key",
                         err, errlen) ||
                   s_set(sock, ZMQ_CURVE_PUBLICKEY, zcert_public_key(cert), 32, "the public key",
                         err, errlen)
               ? -1
               : 0;
}

const char *kp_curve_peer_key(zmq_msg_t *msg)
{
    const char *key = zmq_msg_gets(msg, "User-Id");
    return key && strlen(key) == 40 ? key : NULL;
}
