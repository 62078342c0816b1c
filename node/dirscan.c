/*  dirscan.c - the directory's long reads on a thread of their own. */
#include "dirscan.h"

#include <assert.h>
#include <string.h>

#include "dirreport.h"

struct _kp_dirscan_t {
    zactor_t *actor;
    unsigned waiting; //  asked, not yet answered
};

bool kp_dirscan_handles(const char *command)
{
    return command &&
           (!strcmp(command, "directory.checksum") || !strcmp(command, "directory.export"));
}

//  One scan: token, command -> token, seq, json ("" when it failed), error.
static void s_scan(kp_directory_t *directory, zsock_t *pipe, zmsg_t *msg)
{
    zframe_t *token = zmsg_pop(msg);
    char *command = zmsg_popstr(msg);
    char err[256] = "";
    uint64_t seq = 0;
    char *json = NULL;
    MDB_txn *txn = kp_directory_read_begin(directory, err, sizeof err);
    if (txn) {
        seq = kp_directory_seq(directory, txn);
        json = !strcmp(command, "directory.checksum") ? kp_dirreport_checksum(directory, txn)
                                                      : kp_dirreport_export(directory, txn);
        if (!json)
            snprintf(err, sizeof err, "the directory could not be read; see the node's log");
        kp_directory_read_end(&txn);
    }
    zmsg_t *out = zmsg_new();
    zmsg_append(out, &token);
    zmsg_addmem(out, &seq, sizeof seq);
    zmsg_addstr(out, json ? json : "");
    zmsg_addstr(out, err);
    zmsg_send(&out, pipe);
    free(json);
    zstr_free(&command);
}

static void s_actor(zsock_t *pipe, void *args)
{
    kp_directory_t *directory = (kp_directory_t *)args;
    zsock_signal(pipe, 0);
    for (;;) {
        zmsg_t *msg = zmsg_recv(pipe);
        if (!msg)
            break;
        char *command = zmsg_popstr(msg);
        bool term = !command || !strcmp(command, "$TERM");
        if (!term && !strcmp(command, "SCAN"))
            s_scan(directory, pipe, msg);
        zstr_free(&command);
        zmsg_destroy(&msg);
        if (term)
            break;
    }
}

kp_dirscan_t *kp_dirscan_new(kp_directory_t *directory)
{
    kp_dirscan_t *self = calloc(1, sizeof *self);
    assert(self);
    self->actor = zactor_new(s_actor, directory);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void kp_dirscan_destroy(kp_dirscan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy(&(*self_p)->actor);
    free(*self_p);
    *self_p = NULL;
}

int kp_dirscan_ask(kp_dirscan_t *self, uint64_t token, const char *command, char *err,
                   size_t errlen)
{
    if (self->waiting >= KP_DIRSCAN_QUEUE) {
        snprintf(err, errlen,
                 "%s: %u directory scans are waiting already (checksum, export: about a "
                 "second per million records each); ask again when they are done",
                 command, self->waiting);
        return -1;
    }
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "SCAN");
    zmsg_addmem(msg, &token, sizeof token);
    zmsg_addstr(msg, command);
    if (zmsg_send(&msg, self->actor)) {
        zmsg_destroy(&msg);
        snprintf(err, errlen, "%s: the directory scanner is gone", command);
        return -1;
    }
    self->waiting++;
    return 0;
}

zsock_t *kp_dirscan_sock(kp_dirscan_t *self)
{
    return zactor_sock(self->actor);
}

bool kp_dirscan_recv(kp_dirscan_t *self, kp_dirscan_result_t *result)
{
    memset(result, 0, sizeof *result);
    zsock_t *sock = zactor_sock(self->actor);
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return false;
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg)
        return false;
    self->waiting--;
    zframe_t *token = zmsg_pop(msg), *seq = zmsg_pop(msg);
    char *json = zmsg_popstr(msg), *err = zmsg_popstr(msg);
    assert(token && zframe_size(token) == sizeof result->token && seq &&
           zframe_size(seq) == sizeof result->seq && json && err);
    memcpy(&result->token, zframe_data(token), sizeof result->token);
    memcpy(&result->seq, zframe_data(seq), sizeof result->seq);
    snprintf(result->err, sizeof result->err, "%s", err);
    if (*json && !*err)
        result->json = json;
    else
        zstr_free(&json);
    zstr_free(&err);
    zframe_destroy(&token);
    zframe_destroy(&seq);
    zmsg_destroy(&msg);
    return true;
}
