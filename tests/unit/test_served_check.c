/*
 * Unit tests: the broker's check of the batches it serves from segment
 * files (broker_int.h, struct served_check): good ranges pass in chunks of
 * every size, and a flipped byte, a wrong base offset or a cut range is
 * caught before the damaged batch's last byte would be sent.
 */
#include "t.h"
#include "batch.h"
#include "broker_int.h"

#define BATCHES 5
#define RANGE_MAX (64u << 10)

/* BATCHES batches of 1..5 records back to back, offsets from `base`. */
static size_t make_range(uint8_t *out, int64_t base)
{
	struct elog_batch_builder b;
	struct elog_err err;
	size_t len = 0;
	int64_t offset = base;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (int k = 0; k < BATCHES; k++) {
		const uint8_t *batch;
		size_t n;
		elog_batch_builder_reset(&b);
		for (int i = 0; i <= k; i++) {
			char value[300];
			struct elog_record rec = {.key_len = -1, .value = (const uint8_t *)value};
			memset(value, 'a' + k, sizeof(value));
			rec.value_len = (int32_t)(100 + 50 * i);
			rec.timestamp_ms = 1700000000000 + i;
			if (elog_batch_builder_add(&b, &rec, &err) < 0)
				abort();
		}
		if (elog_batch_builder_finish(&b, &batch, &n, &err) < 0 || len + n > RANGE_MAX)
			abort();
		memcpy(out + len, batch, n);
		elog_batch_assign(out + len, offset, 1);
		offset += k + 1;
		len += n;
	}
	elog_batch_builder_release(&b);
	return len;
}

/* Feed the range in chunks of `chunk` bytes, as broker_stream.c does
 * (what is not accepted is fed again). Bytes accepted, or -1. */
static long feed(const uint8_t *p, size_t len, int64_t base, size_t chunk, struct elog_err *err)
{
	struct served_check k;
	size_t at = 0;

	elog_served_check_init(&k, base);
	while (at < len) {
		size_t n = len - at < chunk ? len - at : chunk;
		long ok = elog_served_check_feed(&k, p + at, n, len - at, err);
		if (ok < 0)
			return at;
		if (ok == 0)
			return -2; /* no progress: the caller could loop */
		at += (size_t)ok;
	}
	return (long)at;
}

static void test_good_range_every_chunk_size(void)
{
	static uint8_t range[RANGE_MAX];
	struct elog_err err;
	size_t len = make_range(range, 1000);

	/* The broker's chunks are at least 16 KiB; smaller ones must still work
	 * from two batch headers up. */
	for (size_t chunk = 2 * ELOG_BATCH_HEADER_SIZE; chunk <= len + 1; chunk += 7)
		T_EQ_INT(feed(range, len, 1000, chunk, &err), (long)len);
}

static void test_flipped_byte_caught_before_batch_end(void)
{
	static uint8_t range[RANGE_MAX];
	struct elog_err err;
	size_t len = make_range(range, 0);
	struct elog_batch_header h;

	/* Every byte the CRC covers, in every batch: a flip is caught, and the
	 * bytes accepted stop before the damaged batch's end. */
	for (size_t pos = 0; pos < len;) {
		size_t end;
		T_OK(elog_batch_check(range + pos, len - pos, &h, &err), &err);
		end = pos + elog_batch_total_size(&h);
		for (size_t at = pos + ELOG_BATCH_CRC_START; at < end; at += 13) {
			long got;
			range[at] ^= 0x10;
			got = feed(range, len, 0, 4096, &err);
			range[at] ^= 0x10;
			T_ASSERT(got >= 0 && (size_t)got < end);
			T_EQ_INT(err.code, ELOG_E_CORRUPT);
		}
		pos = end;
	}
}

static void test_offsets_and_framing(void)
{
	static uint8_t range[RANGE_MAX];
	struct elog_err err;
	size_t len = make_range(range, 50);

	/* a range that does not start where the log says */
	T_CHECK(feed(range, len, 51, 4096, &err) == 0);
	T_CHECK(strstr(err.msg, "base offset 50, expected 51") != NULL);
	/* cut inside the last batch, or inside a header */
	T_CHECK(feed(range, len - 1, 50, 4096, &err) >= 0 && err.code == ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, "runs past") != NULL);
	len = make_range(range, 50);
	{
		struct elog_batch_header h;
		size_t first;
		T_OK(elog_batch_check(range, len, &h, &err), &err);
		first = elog_batch_total_size(&h);
		T_CHECK(feed(range, first + 10, 50, first, &err) == (long)first);
		T_CHECK(strstr(err.msg, "cut short") != NULL);
	}
}

int main(void)
{
	T_RUN(test_good_range_every_chunk_size);
	T_RUN(test_flipped_byte_caught_before_batch_end);
	T_RUN(test_offsets_and_framing);
	return t_finish();
}
