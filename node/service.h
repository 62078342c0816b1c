/*  service.h - the node as a systemd service: readiness, watchdog and
    stopping, told through sd_notify (libsystemd).

    Outside systemd (no NOTIFY_SOCKET) every call does nothing. Under a
    unit with Type=notify, kp_service_ready tells systemd that the node
    answers; with WatchdogSec=, kp_service_tick sends WATCHDOG=1 every half
    interval from the routing loop, so that a loop that hangs is killed
    and restarted, while one that turns is not.

    One thread: the node's loop.
*/
#ifndef KP_SERVICE_H_INCLUDED
#define KP_SERVICE_H_INCLUDED

#include <stdint.h>

typedef struct _kp_service_t kp_service_t;

kp_service_t *kp_service_new(void);
void kp_service_destroy(kp_service_t **self_p);

//  READY=1, with status as the unit's status line.
void kp_service_ready(kp_service_t *self, const char *status);

//  STOPPING=1, with status.
void kp_service_stopping(kp_service_t *self, const char *status);

//  Sends WATCHDOG=1 when half the watchdog interval has passed since the
//  last one (now_ms: zclock_mono).
void kp_service_tick(kp_service_t *self, int64_t now_ms);

//  When kp_service_tick must run next; INT64_MAX without a watchdog.
int64_t kp_service_next_ms(const kp_service_t *self);

#endif
