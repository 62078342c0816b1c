/*  byteorder.h - fixed-width integers to and from bytes, in one place.

    Little-endian for the privacy log's frames and segment headers (the
    file format says so); big-endian for LMDB keys, whose byte order must
    be their numeric order. Byte by byte, so that no alignment and no host
    byte order is assumed; compilers turn these into single loads.
*/
#ifndef KP_BYTEORDER_H_INCLUDED
#define KP_BYTEORDER_H_INCLUDED

#include <stdint.h>

static inline void kp_le32_put(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline void kp_le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint32_t kp_le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t kp_le64_get(const uint8_t *p)
{
    return (uint64_t)kp_le32_get(p) | (uint64_t)kp_le32_get(p + 4) << 32;
}

static inline void kp_be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t kp_be16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void kp_be32_put(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline void kp_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint32_t kp_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t kp_be64_get(const uint8_t *p)
{
    return (uint64_t)kp_be32_get(p) << 32 | kp_be32_get(p + 4);
}

#endif
