/*  regmut.h - every change of a register entry becomes a mutation.

    Installed on a directory (kp_directory_on_register_change), it turns
    each register change, inside the change's own write transaction, into
    a mutation queued through kp_mutation_enqueue (mutation.h): applied,
    replicated and made durable with the change, on every node alike.

      id       "register:NUMBER:VERSION" (unique: a version is never reused)
      person   the number changed; for a merge, the number kept (the
               replaced number's holders were moved to it)
      message  "register.change": institutions receive it where the
               authorization table allows that message type for a
               capacity in which they hold the person
      date     the change's changed_on (the proposing node's date)
      time     its changed_unix_ms (else midnight of the date)
      payload  {"event":"created|replaced|corrected|merged",
                "entry":{...} (kp_register_json), "replaced":"M" (merge)}
      origin   the broker's own KBO (the cluster file's kbo)
*/
#ifndef KP_REGMUT_H_INCLUDED
#define KP_REGMUT_H_INCLUDED

#include "directory.h"

#define KP_REGMUT_MESSAGE "register.change"

typedef struct _kp_regmut_t kp_regmut_t;

//  Installs the hook on dir with origin kbo (a valid KBO). NULL if kbo is
//  invalid or dir has no room for another hook. It must outlive every
//  apply of dir: destroy it after the directory.
kp_regmut_t *kp_regmut_new(kp_directory_t *dir, const char *kbo);
void kp_regmut_destroy(kp_regmut_t **self_p);

//  Mutations made so far by this process's applies (for tests, metrics).
uint64_t kp_regmut_count(const kp_regmut_t *self);

#endif
