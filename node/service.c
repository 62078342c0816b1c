/*  service.c - readiness and watchdog for systemd; see service.h. */
#include "service.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

struct _kp_service_t {
    int64_t interval_ms; //  half the watchdog's; 0 without one
    int64_t next_ms;
};

kp_service_t *kp_service_new(void)
{
    kp_service_t *self = calloc(1, sizeof *self);
    assert(self);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
        self->interval_ms = (int64_t)(usec / 2000);
    self->next_ms = self->interval_ms ? 0 : INT64_MAX;
    return self;
}

void kp_service_destroy(kp_service_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void kp_service_ready(kp_service_t *self, const char *status)
{
    (void)self;
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void kp_service_stopping(kp_service_t *self, const char *status)
{
    (void)self;
    sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

void kp_service_tick(kp_service_t *self, int64_t now_ms)
{
    if (!self->interval_ms || now_ms < self->next_ms)
        return;
    sd_notify(0, "WATCHDOG=1");
    self->next_ms = now_ms + self->interval_ms;
}

int64_t kp_service_next_ms(const kp_service_t *self)
{
    return self->next_ms;
}
