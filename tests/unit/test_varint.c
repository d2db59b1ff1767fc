/* Unit tests: varint — round trips, boundaries, truncated and overlong input. */
#include "t.h"
#include "varint.h"

static void test_roundtrip_unsigned(void)
{
	uint64_t vals[] = {0, 1, 127, 128, 255, 16383, 16384, (1ull << 32) - 1, 1ull << 32,
			   UINT64_MAX - 1, UINT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[ELOG_VARINT_MAX];
		uint64_t back = 0;
		size_t n = elog_varint_put(buf, vals[i]);
		T_ASSERT(n == elog_varint_len(vals[i]));
		T_ASSERT(n <= ELOG_VARINT_MAX);
		T_ASSERT(elog_varint_get(buf, buf + n, &back) == n);
		T_ASSERT(back == vals[i]);
		/* one byte short is truncated */
		T_ASSERT(elog_varint_get(buf, buf + n - 1, &back) == 0);
	}
}

static void test_roundtrip_signed(void)
{
	int64_t vals[] = {0, -1, 1, -64, 63, -65, 64, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[ELOG_VARINT_MAX];
		int64_t back = 0;
		size_t n = elog_svarint_put(buf, vals[i]);
		T_ASSERT(elog_svarint_get(buf, buf + n, &back) == n);
		T_ASSERT(back == vals[i]);
	}
	T_EQ_INT(elog_svarint_len(-1), 1);
}

static void test_overlong_rejected(void)
{
	uint8_t eleven[11];
	uint8_t tenth_too_big[10];
	uint64_t v;

	memset(eleven, 0x80, sizeof(eleven));
	eleven[10] = 0;
	T_EQ_INT(elog_varint_get(eleven, eleven + 11, &v), 0);
	memset(tenth_too_big, 0xff, sizeof(tenth_too_big));
	tenth_too_big[9] = 0x02; /* would be bit 64 */
	T_EQ_INT(elog_varint_get(tenth_too_big, tenth_too_big + 10, &v), 0);
	T_EQ_INT(elog_varint_get(eleven, eleven, &v), 0);
}

int main(void)
{
	T_RUN(test_roundtrip_unsigned);
	T_RUN(test_roundtrip_signed);
	T_RUN(test_overlong_rejected);
	return t_finish();
}
