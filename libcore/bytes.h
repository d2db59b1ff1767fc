/*
 * bytes — fixed-width little-endian loads and stores.
 *
 * Every fixed-width integer elog writes to disk or to the wire is
 * little-endian; these helpers are the only place that knows it. They work
 * on unaligned pointers.
 */
#ifndef ELOG_BYTES_H
#define ELOG_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t elog_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t elog_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t elog_get64(const uint8_t *p)
{
	return (uint64_t)elog_get32(p) | (uint64_t)elog_get32(p + 4) << 32;
}

static inline void elog_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void elog_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void elog_put64(uint8_t *p, uint64_t v)
{
	elog_put32(p, (uint32_t)v);
	elog_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
