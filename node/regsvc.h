/*  regsvc.h - the register message types the node answers itself.

    The registers (broker/register.h) are a service like any other, whose
    provider is the broker's own institution (the cluster file's `kbo`):
    a request for one of these message types passes the same validation,
    preventive control and privacy log as every message, and then, where
    a provider's worker would be asked, the node answers. How they are
    declared in the directory (README, "Registers"): the broker's
    institution is an institution record whose (sector, type) provides the
    four message types in the availability table; requesters are
    authorized in the access authorization table (per capacity) or by a
    legal framework, and their users list the types, as for any message.

      register.lookup   person = the number. The entry; for a number that
                        a merge replaced, the entry that replaces it
                        ("asked" names the number asked). NO_DATA when
                        the register does not hold it.
      register.search   no person (a legal-framework request); payload
                        {"name", "given_names"?, "birth_date",
                        "min_score"?}: candidates born that day, best
                        first, with a score in [0, 1].
      register.propose  no person (legal framework); payload the new
                        person's {"name", "given_names"?, "birth_date",
                        "gender"?, "nationality"?, "address"?}: a bis
                        number is allocated (a replicated update); the
                        answer {"number", "duplicate", "candidates"} says
                        whether a likely duplicate exists.
      register.correct  person = the number; payload the fields to change
                        (an empty string clears gender, nationality,
                        address or death_date).

    Answers are JSON payloads of the node's part. Reads answer at once;
    changes are proposed to the cluster (one update each) and answered
    when committed, like an operator's directory update: a follower
    answers UNAVAILABLE / NOT_LEADER with the leader's name in the
    payload. A retried proposal (same caller, same request id) is one
    proposal key: it allocates one number, never two.

    Pure functions of (request, directory read transaction): no sockets.
*/
#ifndef KP_REGSVC_H_INCLUDED
#define KP_REGSVC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory.h"

#define KP_REGSVC_LOOKUP "register.lookup"
#define KP_REGSVC_SEARCH "register.search"
#define KP_REGSVC_PROPOSE "register.propose"
#define KP_REGSVC_CORRECT "register.correct"

typedef enum {
    KP_REGSVC_NONE = 0, //  not a register message type
    KP_REGSVC_READ,     //  lookup, search: answered from the directory
    KP_REGSVC_WRITE,    //  propose, correct: a replicated update first
} kp_regsvc_kind_t;

kp_regsvc_kind_t kp_regsvc_kind(const char *message);

typedef struct {
    Kp__Status status; //  of the node's part: OK, NO_DATA, INVALID, ERROR
    char *payload;     //  JSON, malloc'd (the caller frees it); never NULL
} kp_regsvc_answer_t;

//  The number a request about number is routed for: the end of its
//  replaced_by chain when a merge replaced it (true, into out), else
//  false (active, or not in the register).
bool kp_regsvc_redirect(kp_directory_t *dir, MDB_txn *txn, const char *number, char out[12]);

//  Answers a lookup or a search. asked: the number the request named
//  before a redirect (NULL: none).
void kp_regsvc_read(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                    const char *asked, kp_regsvc_answer_t *out);

//  The update a propose or correct asks for, packed into *packed (malloc'd,
//  *size bytes): 0. Or -1 and out filled (an INVALID answer: a bad payload).
//  proposal: the proposal key (caller and request id); changed_by: the
//  requester's KBO; today: the change's date.
int kp_regsvc_update(const Kp__Request *request, const char *proposal, const char *changed_by,
                     int32_t today, uint8_t **packed, size_t *size, kp_regsvc_answer_t *out);

//  The answer once the update is committed and applied here: the number
//  allocated and any likely duplicate (propose), or the corrected entry.
void kp_regsvc_committed(kp_directory_t *dir, MDB_txn *txn, const Kp__Request *request,
                         const char *proposal, kp_regsvc_answer_t *out);

//  An answer saying why (status, and {"error": why, "leader"?: name}).
void kp_regsvc_error(Kp__Status status, const char *why, const char *leader,
                     kp_regsvc_answer_t *out);

#endif
