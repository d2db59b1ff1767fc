/* crc32c — CRC-32C with an SSE4.2 path and a portable slicing-by-8 path. */
#include "crc32c.h"

#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t table[8][256];
static int table_ready;

static uint32_t crc_shift(uint32_t crc, size_t zeros) __attribute__((unused));

static void table_build(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = table[0][n];
		for (int k = 1; k < 8; k++) {
			c = table[0][c & 0xff] ^ (c >> 8);
			table[k][n] = c;
		}
	}
	__atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t elog_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		table_build(); /* idempotent: racing builders write equal values */
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc; /* little-endian: low 32 bits meet the crc */
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		      table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		      table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		      table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
uint32_t elog_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	/* Three independent streams hide the instruction's 3-cycle latency. */
	while (len >= 3 * 256) {
		uint64_t c1 = 0, c2 = 0;
		const unsigned char *p1 = p + 256, *p2 = p + 512;
		for (int i = 0; i < 256; i += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p + i, 8);
			memcpy(&w1, p1 + i, 8);
			memcpy(&w2, p2 + i, 8);
			c = _mm_crc32_u64(c, w0);
			c1 = _mm_crc32_u64(c1, w1);
			c2 = _mm_crc32_u64(c2, w2);
		}
		/* Fold: shift c over 512 bytes and c1 over 256 bytes of zeros. */
		c = crc_shift((uint32_t)c, 512) ^ crc_shift((uint32_t)c1, 256) ^ c2;
		p += 768;
		len -= 768;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

int elog_crc32c_hw_available(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t elog_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return elog_crc32c_portable(crc, buf, len);
}

int elog_crc32c_hw_available(void)
{
	return 0;
}
#endif

/*
 * Shifting a raw (non-inverted) crc register over n zero bytes is a linear
 * map over GF(2). We only need n = 256 and n = 512, so the two 32x32 matrices
 * are built once, column by column, by running the portable byte loop on each
 * unit vector.
 */
static uint32_t shift_table[2][4][256]; /* [n=256|512][byte lane][byte] */
static int shift_ready;

static uint32_t raw_zero_shift(uint32_t c, size_t zeros)
{
	while (zeros--)
		c = table[0][c & 0xff] ^ (c >> 8);
	return c;
}

static void shift_build(void)
{
	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		table_build();
	for (int which = 0; which < 2; which++) {
		size_t zeros = which ? 512 : 256;
		for (int lane = 0; lane < 4; lane++)
			for (uint32_t b = 0; b < 256; b++)
				shift_table[which][lane][b] = raw_zero_shift(b << (8 * lane), zeros);
	}
	__atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_shift(uint32_t crc, size_t zeros)
{
	int which = zeros == 512;

	if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE))
		shift_build();
	return shift_table[which][0][crc & 0xff] ^ shift_table[which][1][(crc >> 8) & 0xff] ^
	       shift_table[which][2][(crc >> 16) & 0xff] ^ shift_table[which][3][crc >> 24];
}

uint32_t elog_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static int hw = -1; /* -1 unknown, 0 no, 1 yes */
	int use = __atomic_load_n(&hw, __ATOMIC_RELAXED);

	if (use < 0) {
		use = elog_crc32c_hw_available();
		__atomic_store_n(&hw, use, __ATOMIC_RELAXED);
	}
	return use ? elog_crc32c_hw(crc, buf, len) : elog_crc32c_portable(crc, buf, len);
}

/*
 * Arithmetic modulo the CRC polynomial, in the reflected bit order the
 * register uses (bit 31 is x^0). Multiplying a raw register by x^(8n) is
 * the same as feeding it n zero bytes.
 */
static uint32_t gf2_multiply_mod(uint32_t a, uint32_t b)
{
	uint32_t product = 0;

	for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
		if (a & bit)
			product ^= b;
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
	}
	return product;
}

/* x^(8 * n) mod P by square-and-multiply over the powers x^(2^k). */
static uint32_t x_pow_8n(size_t n)
{
	uint32_t result = 1u << 31;      /* x^0 */
	uint32_t square = 1u << 23;      /* x^8: one byte */

	while (n) {
		if (n & 1)
			result = gf2_multiply_mod(result, square);
		square = gf2_multiply_mod(square, square);
		n >>= 1;
	}
	return result;
}

uint32_t elog_crc32c_patch(uint32_t crc, const void *before, const void *after, size_t n,
			   size_t tail)
{
	const uint8_t *b = before, *a = after;
	uint32_t raw = 0;

	if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
		table_build();
	/* Raw register (no pre/post inversion) of the xor of the changed bytes. */
	for (size_t i = 0; i < n; i++)
		raw = table[0][(raw ^ (uint8_t)(b[i] ^ a[i])) & 0xff] ^ (raw >> 8);
	return crc ^ gf2_multiply_mod(raw, x_pow_8n(tail));
}
