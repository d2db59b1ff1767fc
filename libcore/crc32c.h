/*
 * crc32c — CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78),
 * the checksum on every batch on disk and on the wire.
 *
 * On x86-64 CPUs with SSE4.2 the crc32 instruction is used (chosen once, at
 * first call); elsewhere a portable slicing-by-8 table. Both give identical
 * results and are checked against RFC 3720 test vectors in the unit tests.
 *
 * Incremental use: crc = elog_crc32c(0, a, na); crc = elog_crc32c(crc, b, nb);
 * equals elog_crc32c(0, ab, na + nb). Pre- and post-inversion are done inside.
 */
#ifndef ELOG_CRC32C_H
#define ELOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t elog_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Patch a CRC after bytes inside the covered range changed, without reading
 * the rest: `crc` is the CRC of a message in which the bytes at `at`, of
 * length n, held `before`; the result is the CRC of the same message with
 * `after` there. `tail` is the number of message bytes after the changed
 * ones. Costs O(n + log tail), independent of the message size. (CRC is
 * linear: the difference of two equal-length messages' CRCs is the raw CRC
 * of their xor, and the xor is zero outside the changed bytes.)
 */
uint32_t elog_crc32c_patch(uint32_t crc, const void *before, const void *after, size_t n,
			   size_t tail);

/* The two implementations, exposed so tests can compare them directly. */
uint32_t elog_crc32c_portable(uint32_t crc, const void *buf, size_t len);
uint32_t elog_crc32c_hw(uint32_t crc, const void *buf, size_t len); /* only if elog_crc32c_hw_available() */
int elog_crc32c_hw_available(void);

#endif
