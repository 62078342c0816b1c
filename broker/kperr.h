/*  kperr.h - the project's one way to return an error: a message naming
    the problem and its fix, written into the caller's buffer.

    Functions that can fail take (char *err, size_t errlen) as their last
    parameters and return -1 or NULL; the message is cut to fit errlen on
    purpose (a path may be longer than the buffer), so kp_err takes the
    place of snprintf for them. Negative codes are kept for the public
    client API only (client/kp_client.h).
*/
#ifndef KP_KPERR_H_INCLUDED
#define KP_KPERR_H_INCLUDED

#include <stddef.h>

//  Formats the message into err (errlen bytes, always NUL-terminated when
//  errlen > 0), cutting it to fit. Returns -1, so that a failing function
//  can end with: return kp_err(err, errlen, "...", ...);
int kp_err(char *err, size_t errlen, const char *format, ...) __attribute__((format(printf, 3, 4)));

//  Where a caller must tell a refusal (nothing changed) from a failure of
//  storage (stop, or retry later), a function returns one of these, with
//  its message in err either way (the directory's, the registers' and the
//  mutations' apply functions).
enum { KP_REFUSED = -1, KP_STORAGE_FAILED = -2 };

#endif
