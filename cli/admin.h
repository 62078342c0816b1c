/*  admin.h - kpctl's connection to a node's admin socket.

    One request, one reply (proto/PROTOCOL.md, "Operators"). The node is
    named by the cluster file and, optionally, its name in it.
*/
#ifndef KPCTL_ADMIN_H_INCLUDED
#define KPCTL_ADMIN_H_INCLUDED

#include <stddef.h>

#include "kruispunt.pb-c.h"

typedef struct _kpctl_admin_t kpctl_admin_t;

//  Connects to the admin endpoint of node (the first node when NULL) of
//  the cluster file. NULL with the problem and its fix in err.
kpctl_admin_t *kpctl_admin_new(const char *cluster_file, const char *node, int timeout_ms,
                               char *err, size_t errlen);
void kpctl_admin_destroy(kpctl_admin_t **self_p);

//  Sends request and waits for the reply. Returns it (free it with
//  kp__admin_reply__free_unpacked) when the node said OK; NULL with the
//  node's error, or the reason there was no answer, in err.
Kp__AdminReply *kpctl_admin_call(kpctl_admin_t *self, const Kp__AdminRequest *request, char *err,
                                 size_t errlen);

//  The same for a command with at most one argument and no update.
Kp__AdminReply *kpctl_admin_command(kpctl_admin_t *self, const char *command, const char *arg,
                                    char *err, size_t errlen);

const char *kpctl_admin_endpoint(kpctl_admin_t *self);

#endif
