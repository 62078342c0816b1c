/*  relay.h - a TCP forwarder between cluster nodes that can delay, cut
    and heal their links: sites and partitions without root.

    A relay holds links. A link listens on one TCP endpoint and forwards
    every connection made there to a target endpoint, byte for byte. A
    link is named "FROM>TO": the node FROM reaches the node TO through it
    (FROM's view of TO's peer endpoint is the link's listening endpoint).
    Bytes sent by the connecting side travel "up" the link, their answers
    "down"; so traffic from node A to node B is the up side of link "A>B"
    plus the down side of link "B>A", whatever the protocol on top does.

    Commands (the same text for kp_relay_command and the kprelay program):

      link NAME LISTEN TARGET   add a link; LISTEN may have port 0 (any
                                free port); answers "ok PORT"
      delay FROM TO MS [both]   bytes from FROM to TO wait MS ms first
      cut FROM TO [both]        bytes from FROM to TO are held, not lost:
                                read (up to the hold limit) but not
                                written until a heal, as in a partition
                                shorter than TCP's own timeouts
      heal FROM TO [both]       ends a cut (the delay stays)
      reset FROM TO             closes the open connections of the links
                                between them (both directions)
      status                    one line per link: name, listening port,
                                open connections, bytes forwarded up and
                                down, held bytes, the cut and delay of
                                each side
      help

    FROM and TO are comma-separated lists of fnmatch(3) patterns over node
    names: "cut node-3,node-4 * both" cuts a whole site off. "both" also
    applies the command from TO to FROM. Answers start with "ok" (and, for
    cut, delay, heal and reset, the number of link sides changed) or
    "error" and the problem.

    Endpoints are "tcp://HOST:PORT" or "HOST:PORT", HOST an IPv4 address
    or a name. Nothing is queued without bound: each side of a connection
    holds at most KP_RELAY_HOLD bytes, then stops reading (TCP's own flow
    control pushes back on the sender).

    The relay runs in a thread of its own (a CZMQ actor); the calls below
    are its pipe, and may come from one thread at a time.
*/
#ifndef KP_RELAY_H_INCLUDED
#define KP_RELAY_H_INCLUDED

#include <stddef.h>

#define KP_RELAY_HOLD (1 << 20)

typedef struct _kp_relay_t kp_relay_t;

//  Starts a relay with no links. NULL if its thread cannot start.
kp_relay_t *kp_relay_new(void);

//  Closes every connection and listener; nulls the caller's pointer.
void kp_relay_destroy(kp_relay_t **self_p);

//  Runs one command (see above). Returns its answer, to be freed.
char *kp_relay_command(kp_relay_t *self, const char *command);

//  Adds link name; returns the port it listens on, or -1 with the
//  problem in err.
int kp_relay_link(kp_relay_t *self, const char *name, const char *listen, const char *target,
                  char *err, size_t errlen);

#endif
