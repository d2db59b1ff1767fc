/*
 * varint — LEB128 variable-length integers, as used inside records.
 *
 * Unsigned values take 7 bits per byte, low group first, high bit set on all
 * but the last byte; at most ELOG_VARINT_MAX bytes for 64 bits. Signed values
 * are zigzag-mapped first (0,-1,1,-2,... -> 0,1,2,3,...), so -1 (a null key)
 * costs one byte.
 *
 * Decoders never read past `end`; they return the number of bytes consumed,
 * or 0 when the input is truncated or longer than ELOG_VARINT_MAX bytes or
 * overflows 64 bits. Encoders write at most ELOG_VARINT_MAX bytes and return
 * the count.
 */
#ifndef ELOG_VARINT_H
#define ELOG_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define ELOG_VARINT_MAX 10

static inline uint64_t elog_zigzag_encode(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t elog_zigzag_decode(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

size_t elog_varint_put(uint8_t *out, uint64_t v);
size_t elog_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v);
size_t elog_varint_len(uint64_t v);

static inline size_t elog_svarint_put(uint8_t *out, int64_t v)
{
	return elog_varint_put(out, elog_zigzag_encode(v));
}

static inline size_t elog_svarint_get(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	uint64_t u;
	size_t n = elog_varint_get(p, end, &u);
	if (n)
		*v = elog_zigzag_decode(u);
	return n;
}

static inline size_t elog_svarint_len(int64_t v)
{
	return elog_varint_len(elog_zigzag_encode(v));
}

#endif
