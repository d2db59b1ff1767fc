/* Unit tests: crc32c — RFC 3720 B.4 vectors, both implementations agree. */
#include "t.h"
#include "crc32c.h"

static void check_vector(const void *buf, size_t len, uint32_t want)
{
	T_EQ_INT(elog_crc32c_portable(0, buf, len), want);
	if (elog_crc32c_hw_available())
		T_EQ_INT(elog_crc32c_hw(0, buf, len), want);
	T_EQ_INT(elog_crc32c(0, buf, len), want);
}

static void test_published_vectors(void)
{
	uint8_t buf[32];

	check_vector("123456789", 9, 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	check_vector(buf, 32, 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	check_vector(buf, 32, 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	check_vector(buf, 32, 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	check_vector(buf, 32, 0x113FDB5Cu);
	check_vector("", 0, 0);
}

/* Every length and alignment up to a few KiB (covers the 3-stream path). */
static void test_hw_equals_portable(void)
{
	static uint8_t buf[5000];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; start + len <= sizeof(buf); len += (len < 64 ? 1 : 97)) {
			uint32_t a = elog_crc32c_portable(0, buf + start, len);
			T_ASSERT(elog_crc32c(0, buf + start, len) == a);
		}
}

static void test_incremental(void)
{
	const char *s = "the quick brown fox jumps over the lazy dog, again and again";
	size_t n = strlen(s);
	uint32_t whole = elog_crc32c(0, s, n);

	for (size_t cut = 0; cut <= n; cut++)
		T_ASSERT(elog_crc32c(elog_crc32c(0, s, cut), s + cut, n - cut) == whole);
}

/* Patching changed bytes gives the CRC a full recomputation gives. */
static void test_patch(void)
{
	static uint8_t buf[70000];
	uint32_t seed = 99;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t len = 1; len < sizeof(buf); len = len * 3 + 1) {
		for (size_t n = 1; n <= 9 && n <= len; n += 4) {
			size_t at = (len - n) / 2;
			uint8_t before[16], after[16];
			uint32_t crc = elog_crc32c(0, buf, len);

			memcpy(before, buf + at, n);
			for (size_t i = 0; i < n; i++)
				after[i] = (uint8_t)(before[i] ^ (0x5a + i));
			memcpy(buf + at, after, n);
			T_ASSERT(elog_crc32c_patch(crc, before, after, n, len - at - n) ==
				 elog_crc32c(0, buf, len));
			memcpy(buf + at, before, n);
		}
	}
}

int main(void)
{
	T_RUN(test_patch);
	T_RUN(test_published_vectors);
	T_RUN(test_hw_equals_portable);
	T_RUN(test_incremental);
	return t_finish();
}
