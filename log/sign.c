/*  sign.c - Ed25519 keys and signed checkpoints of the privacy log.

    A checkpoint signs the statement "KPLOGCP1 || seq || chain hash ||
    time": whoever holds the public key can check that the log up to seq
    is the one the node wrote.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>

#include "kperr.h"
#include "privlog_impl.h"

#define S_CP_MAGIC "KPLOGCP1"
#define S_CP_STATEMENT 56

//  Writes a new Ed25519 key pair: path (0600) and path.pub; refuses to
//  overwrite either. 0, or -1 with err.
int kp_privlog_keygen(const char *path, char *err, size_t errlen)
{
    char pub[PRIVLOG_PATH];
    snprintf(pub, sizeof pub, "%s.pub", path);
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        kp_err(err, errlen, "cannot make an Ed25519 key (OpenSSL failed)");
        return -1;
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = -1;
    FILE *f = NULL, *g = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        kp_err(err, errlen, "cannot create %s: %s%s", path, strerror(errno),
               errno == EEXIST ? " (remove it first, or choose another --out)" : "");
        goto done;
    }
    f = fdopen(fd, "w");
    int pfd = open(pub, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (pfd < 0) {
        kp_err(err, errlen, "cannot create %s: %s%s", pub, strerror(errno),
               errno == EEXIST ? " (remove it first, or choose another --out)" : "");
        fclose(f);
        unlink(path);
        f = NULL;
        goto done;
    }
    g = fdopen(pfd, "w");
    if (!f || !g || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_PUBKEY(g, key) || fflush(f) || fflush(g) || fsync(fileno(f)) ||
        fsync(fileno(g))) {
        kp_err(err, errlen, "cannot write the key files %s and %s", path, pub);
        unlink(path);
        unlink(pub);
        goto done;
    }
    rc = 0;
done:
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    EVP_PKEY_free(key);
    return rc;
}

EVP_PKEY *privlog_key_load(const char *path, bool private, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        kp_err(err, errlen, "cannot read key %s: %s (make one with 'kpctl keys --out %s')", path,
               strerror(errno), path);
        return NULL;
    }
    EVP_PKEY *key =
        private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        kp_err(err, errlen, "%s is not an Ed25519 %s key in PEM (make one with 'kpctl keys')", path,
               private ? "private" : "public");
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

static void s_statement(uint8_t out[S_CP_STATEMENT], uint64_t seq, const uint8_t hash[32],
                        uint64_t time_us)
{
    memcpy(out, S_CP_MAGIC, 8);
    kp_le64_put(out + 8, seq);
    memcpy(out + 16, hash, 32);
    kp_le64_put(out + 48, time_us);
}

//  True if cp is well formed and its signature holds for key (or, with
//  key NULL, for the public key it carries).
bool privlog_checkpoint_valid(const Kp__LogCheckpoint *cp, EVP_PKEY *key)
{
    if (!cp->has_seq || !cp->has_hash || cp->hash.len != 32 || !cp->has_signature ||
        !cp->has_public_key || cp->public_key.len != 32)
        return false;
    EVP_PKEY *own = NULL;
    if (!key) {
        own = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, cp->public_key.data, 32);
        if (!own)
            return false;
        key = own;
    }
    uint8_t msg[S_CP_STATEMENT];
    s_statement(msg, cp->seq, cp->hash.data, cp->time_unix_us);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, cp->signature.data, cp->signature.len, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(own);
    return ok;
}

//  Encodes a checkpoint frame for (seq, hash) into out (which must hold
//  KP_PRIVLOG_FRAME_HEADER + 256 bytes). Returns its size, or 0.
size_t privlog_checkpoint_frame(EVP_PKEY *key, const uint8_t pub[32], uint64_t seq,
                                const uint8_t hash[32], uint8_t *out)
{
    uint8_t msg[S_CP_STATEMENT], sig[64];
    uint64_t now = privlog_now_us();
    s_statement(msg, seq, hash, now);
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return 0;
    Kp__LogCheckpoint cp = KP__LOG_CHECKPOINT__INIT;
    cp.has_seq = cp.has_hash = cp.has_time_unix_us = cp.has_public_key = cp.has_signature = 1;
    cp.seq = seq;
    cp.hash.data = (uint8_t *)hash;
    cp.hash.len = 32;
    cp.time_unix_us = now;
    cp.public_key.data = (uint8_t *)pub;
    cp.public_key.len = 32;
    cp.signature.data = sig;
    cp.signature.len = siglen;
    uint8_t body[256];
    size_t len = kp__log_checkpoint__get_packed_size(&cp);
    if (len > sizeof body)
        return 0;
    kp__log_checkpoint__pack(&cp, body);
    return privlog_frame_encode(out, KP_PRIVLOG_KIND_CHECKPOINT, seq, hash, body, len);
}
