/* Unit tests: buf — growth, the hard cap (all or nothing), consume. */
#include "t.h"
#include "buf.h"

static void test_grow_to_cap_exactly(void)
{
	struct elog_buf b;
	struct elog_err err;
	uint8_t chunk[100];

	memset(chunk, 'x', sizeof(chunk));
	elog_buf_init(&b, 1000);
	for (int i = 0; i < 10; i++)
		T_OK(elog_buf_add(&b, chunk, sizeof(chunk), &err), &err);
	T_EQ_INT(b.len, 1000);
	T_CHECK(b.cap == 1000);
	T_CHECK(elog_buf_add(&b, chunk, 1, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_EQ_INT(b.len, 1000);
	elog_buf_release(&b);
	T_CHECK(b.data == NULL && b.len == 0 && b.len_max == 1000);
}

static void test_failed_add_leaves_contents(void)
{
	struct elog_buf b;
	struct elog_err err;

	elog_buf_init(&b, 8);
	T_OK(elog_buf_add(&b, "abcde", 5, &err), &err);
	T_CHECK(elog_buf_add(&b, "fghij", 5, &err) == -1);
	T_EQ_INT(b.len, 5);
	T_CHECK(memcmp(b.data, "abcde", 5) == 0);
	elog_buf_release(&b);
}

static void test_consume(void)
{
	struct elog_buf b;
	struct elog_err err;

	elog_buf_init(&b, 64);
	T_OK(elog_buf_add(&b, "0123456789", 10, &err), &err);
	elog_buf_consume(&b, 4);
	T_EQ_INT(b.len, 6);
	T_CHECK(memcmp(b.data, "456789", 6) == 0);
	elog_buf_consume(&b, 6);
	T_EQ_INT(b.len, 0);
	elog_buf_reset(&b);
	T_OK(elog_buf_add(&b, "z", 1, &err), &err);
	T_EQ_INT(b.len, 1);
	elog_buf_release(&b);
}

static void test_set_cap(void)
{
	struct elog_buf b;
	struct elog_err err;

	elog_buf_init(&b, 100);
	T_OK(elog_buf_set_cap(&b, 10, &err), &err);
	T_CHECK(b.data && b.cap == 10 && b.len == 0);
	T_OK(elog_buf_add(&b, "0123456789", 10, &err), &err);
	T_CHECK(b.cap == 10);
	T_OK(elog_buf_set_cap(&b, 70, &err), &err);
	T_CHECK(b.cap == 70 && memcmp(b.data, "0123456789", 10) == 0);
	/* never below len, never past len_max */
	T_OK(elog_buf_set_cap(&b, 3, &err), &err);
	T_CHECK(b.cap == 10 && memcmp(b.data, "0123456789", 10) == 0);
	T_CHECK(elog_buf_set_cap(&b, 101, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_CHECK(b.cap == 10);
	elog_buf_reset(&b);
	T_OK(elog_buf_set_cap(&b, 0, &err), &err);
	T_CHECK(b.data == NULL && b.cap == 0 && b.len_max == 100);
	elog_buf_release(&b);
}

int main(void)
{
	T_RUN(test_set_cap);
	T_RUN(test_grow_to_cap_exactly);
	T_RUN(test_failed_add_leaves_contents);
	T_RUN(test_consume);
	return t_finish();
}
