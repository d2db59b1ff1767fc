/* partition — Kafka-compatible murmur2 key partitioner; see partition.h. */
#include "partition.h"

#include <assert.h>

#include "bytes.h"

/*
 * Kafka's Utils.murmur2: 4-byte little-endian blocks (Kafka assembles them
 * from bytes with & 0xff, i.e. little-endian), the seed mixed with the
 * length, the 1-3 trailing bytes folded in from the highest, and the final
 * avalanche (>>> 13, * m, >>> 15). Java's int arithmetic wraps, as uint32_t
 * does here.
 */
uint32_t elog_murmur2(const void *key, size_t len)
{
	const uint32_t m = 0x5bd1e995u;
	const int r = 24;
	const uint8_t *p = key;
	uint32_t h = ELOG_MURMUR2_SEED ^ (uint32_t)len;
	size_t blocks = len / 4;

	assert(key || len == 0);
	for (size_t i = 0; i < blocks; i++) {
		uint32_t k = elog_get32(p + 4 * i);
		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	p += 4 * blocks;
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)p[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)p[1] << 8;
		/* fall through */
	case 1:
		h ^= p[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

uint32_t elog_partition_for_key(const void *key, size_t len, uint32_t partitions)
{
	assert(partitions > 0);
	return (elog_murmur2(key, len) & 0x7fffffffu) % partitions;
}
