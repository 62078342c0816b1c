/*  progress.h - a progress line on stderr for kpctl's long commands
    (a directory import, a log reindex): how many, how fast, how far, and
    how long still to go.

    On a terminal the line is redrawn in place; otherwise (--progress into
    a file or a pipe) one line is written every few seconds. It never goes
    to stdout, so --json output stays one clean document.
*/
#ifndef KPCTL_PROGRESS_H_INCLUDED
#define KPCTL_PROGRESS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *what; //  "importing FILE"
    const char *unit; //  "lines", "records"
    bool on, tty;
    uint64_t total; //  the amount that done counts up to; 0 if unknown
    int64_t start_ms, last_ms;
} kpctl_progress_t;

//  on false: every call does nothing.
void kpctl_progress_init(kpctl_progress_t *self, const char *what, const char *unit, bool on,
                         uint64_t total);

//  count units done so far (for the rate), and done of total (for the
//  share and the ETA: bytes of a file, records of a log). Cheap to call
//  often: it prints at most twice a second.
void kpctl_progress_update(kpctl_progress_t *self, uint64_t count, uint64_t done);

//  Clears the line (terminal) or writes the last one (otherwise).
void kpctl_progress_end(kpctl_progress_t *self, uint64_t count);

#endif
