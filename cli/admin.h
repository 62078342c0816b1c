/*  admin.h - kpctl's connection to a node's admin socket.

    One request, one reply (proto/PROTOCOL.md, "Operators"). The node is
    named by the cluster file and, optionally, its name in it. In a
    cluster, a directory update sent to a follower is answered NOT_LEADER
    with the leader's name; kpctl_admin_call and kpctl_admin_update then
    send it again to the leader (the update was not proposed: no risk of
    applying it twice), so that every command works through any node.
*/
#ifndef KPCTL_ADMIN_H_INCLUDED
#define KPCTL_ADMIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

typedef struct _kpctl_admin_t kpctl_admin_t;

//  Connects to the admin endpoint of node (the first node when NULL) of
//  the cluster file. NULL with the problem and its fix in err.
kpctl_admin_t *kpctl_admin_new(const char *cluster_file, const char *node, int timeout_ms,
                               char *err, size_t errlen);
void kpctl_admin_destroy(kpctl_admin_t **self_p);

//  Sends request and waits for the reply, following NOT_LEADER to the
//  leader. Returns it (free it with kp__admin_reply__free_unpacked) when
//  the node said OK; NULL with the node's error, or the reason there was
//  no answer, in err.
Kp__AdminReply *kpctl_admin_call(kpctl_admin_t *self, const Kp__AdminRequest *request, char *err,
                                 size_t errlen);

//  The same for a command with at most one argument and no update.
Kp__AdminReply *kpctl_admin_command(kpctl_admin_t *self, const char *command, const char *arg,
                                    char *err, size_t errlen);

//  What became of a directory update.
typedef enum {
    KPCTL_UPDATE_OK = 0,  //  committed and applied: *seq is its sequence
    KPCTL_UPDATE_REFUSED, //  not applied (an op refused, no quorum, ...)
    KPCTL_UPDATE_UNKNOWN, //  no answer in time: it may have been applied
} kpctl_update_t;

//  Sends update as "directory.apply", following NOT_LEADER to the leader
//  and waiting out an election (leader not known yet) within the timeout.
//  err names the problem; *reason is the node's reason when refused.
kpctl_update_t kpctl_admin_update(kpctl_admin_t *self, const Kp__DirectoryUpdate *update,
                                  uint64_t *seq, Kp__Reason *reason, char *err, size_t errlen);

//  Updates that carry an import's batch id (DirectoryUpdate.import_id and
//  batch) are sent again, for up to retry_ms in all, when their outcome is
//  unknown (no answer, OUTCOME_UNKNOWN) or the node has no quorum: the
//  directory applies a batch once, however often it comes. A node that
//  does not answer within an attempt (8 times the slowest batch so far, 2 s
//  at least) or answers NO_QUORUM is left for the next node of the file.
//  Each retry is told on stderr unless quiet. 0 (the default): no retry.
void kpctl_admin_set_retry(kpctl_admin_t *self, int retry_ms, bool quiet);

//  The admin endpoint and node name kpctl talks to now (after redirects).
const char *kpctl_admin_endpoint(kpctl_admin_t *self);
const char *kpctl_admin_node(kpctl_admin_t *self);

#endif
