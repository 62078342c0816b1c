/*  recpack.h - a log record encoded in one pass, into a bounded buffer.

    The node encodes two records per routed call (its DECISION and its
    OUTCOME). protobuf-c needs two walks of a record for that: one for its
    size (kp__log_record__get_packed_size), so that the buffer can be made
    large enough, and one to pack it. kp_recpack writes the same bytes as
    kp__log_record__pack (fields in number order, the same varints), in
    one walk into a buffer of a given size, and says how large the record
    is: like snprintf, a record that does not fit is only measured, and
    the caller grows its buffer and calls again.

    The log's format does not change: the bytes are protobuf-c's
    (test_recpack compares them for every field). A record with unknown
    fields (never built by the node) is handed to protobuf-c.
*/
#ifndef KP_RECPACK_H_INCLUDED
#define KP_RECPACK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kruispunt.pb-c.h"

//  Encodes record into out (cap bytes) if it fits. Returns its encoded
//  size: when that is more than cap, out holds nothing usable.
size_t kp_recpack(const Kp__LogRecord *record, uint8_t *out, size_t cap);

#endif
