/*  raftfix.h - a raft_io in front of another one, to work around a bug of
    libraft 0.15 that its own deterministic fixture shows.

    The bug: a follower answers a successful AppendEntries with its whole
    log length (last_stored), and the leader takes that as the follower's
    match index (replicationUpdate clips it to the leader's last index and
    no more). Entries left over from an older term, past what the leader
    sent, then count as replicated though they differ from the leader's:
    the leader may commit an entry that no majority holds, and from then on
    it ignores the follower's rejections ("match index is up to date"), so
    the follower never catches up. test_dirfsm's seeds find it in seconds
    without this shim.

    The fix, on the follower's side: while raft handles an AppendEntries of
    prev_log_index P and n entries, and while it completes the append it
    asked for that message, the highest index known to match the leader is
    P + n; a successful result sent then reports at most P + n. Reporting
    less than the truth is always safe (the leader sends again).

    kp_raftfix_wrap is called after raft_init (any io: ours or the
    fixture's): raft then talks to the shim, which hands everything else on
    unchanged.
*/
#ifndef KP_RAFTFIX_H_INCLUDED
#define KP_RAFTFIX_H_INCLUDED

#include <raft.h>

typedef struct _kp_raftfix_t kp_raftfix_t;

//  Puts a shim between raft (initialised with raft_init, not started) and
//  its io. NULL if out of memory.
kp_raftfix_t *kp_raftfix_wrap(struct raft *raft);

//  Frees the shim after raft_close's callback has fired.
void kp_raftfix_destroy(kp_raftfix_t **self_p);

//  Successful results clamped so far (for tests and status).
unsigned long long kp_raftfix_clamped(kp_raftfix_t *self);

#endif
