/*  progress.c - a progress line on stderr; see progress.h. */
#include "progress.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#define S_TTY_EVERY_MS 500
#define S_LOG_EVERY_MS 5000

void kpctl_progress_init(kpctl_progress_t *self, const char *what, const char *unit, bool on,
                         uint64_t total)
{
    self->what = what;
    self->unit = unit;
    self->on = on;
    self->tty = on && isatty(STDERR_FILENO);
    self->total = total;
    self->start_ms = self->last_ms = zclock_mono();
}

static void s_print(kpctl_progress_t *self, uint64_t count, uint64_t done, int64_t now)
{
    double seconds = (double)(now - self->start_ms) / 1000.0;
    double rate = seconds > 0 ? (double)count / seconds : 0;
    fprintf(stderr, "%s%s: %" PRIu64 " %s, %.0f %s/s", self->tty ? "\r\033[K" : "", self->what,
            count, self->unit, rate, self->unit);
    if (self->total && done <= self->total) {
        double share = (double)done / (double)self->total;
        fprintf(stderr, ", %.0f%%", share * 100);
        if (share > 0.001)
            fprintf(stderr, ", ETA %.0f s", seconds / share - seconds);
    }
    fputs(self->tty ? "" : "\n", stderr);
    fflush(stderr);
}

void kpctl_progress_update(kpctl_progress_t *self, uint64_t count, uint64_t done)
{
    if (!self->on)
        return;
    int64_t now = zclock_mono();
    if (now - self->last_ms < (self->tty ? S_TTY_EVERY_MS : S_LOG_EVERY_MS))
        return;
    self->last_ms = now;
    s_print(self, count, done, now);
}

void kpctl_progress_end(kpctl_progress_t *self, uint64_t count)
{
    if (!self->on)
        return;
    if (self->tty)
        fputs("\r\033[K", stderr);
    else
        s_print(self, count, self->total, zclock_mono());
}
