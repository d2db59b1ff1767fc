/* varint — LEB128 and zigzag; see varint.h. */
#include "varint.h"

size_t elog_varint_put(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

size_t elog_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t result = 0;

	for (size_t i = 0; i < ELOG_VARINT_MAX; i++) {
		if (p + i >= end)
			return 0;
		uint64_t group = p[i] & 0x7f;
		/* The tenth byte may only carry the top bit of a 64-bit value. */
		if (i == ELOG_VARINT_MAX - 1 && group > 1)
			return 0;
		result |= group << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = result;
			return i + 1;
		}
	}
	return 0;
}

size_t elog_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}
