/*
 * Unit tests: batch — round trips for every compression, every single-bit
 * flip and every truncation rejected, builder limits, leader assignment,
 * strict record decoding of hand-made malformed batches, the GAPS rules
 * one by one and the empty batch, rewriting stored records
 * (elog_batch_write), and a million records through lz4 and zlib.
 */
#include "t.h"
#include "batch.h"
#include "bytes.h"
#include "crc32c.h"
#include "varint.h"

#include <time.h>

#include <lz4.h>
#include <zlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const enum elog_compression all_compressions[] = {
	ELOG_COMPRESS_NONE, ELOG_COMPRESS_LZ4, ELOG_COMPRESS_ZLIB,
};

static uint32_t rng_next(uint32_t *state)
{
	/* xorshift32: deterministic, good enough for test data */
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void fill_random(uint8_t *p, size_t n, uint32_t *state)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(state);
}

/* Text that compresses, but not trivially: words drawn from a small list. */
static void fill_text(uint8_t *p, size_t n, uint32_t *state)
{
	static const char *const words[] = {
		"offset ", "segment ", "replica ", "leader ", "term ", "batch ", "record ", "fsync ",
	};
	size_t i = 0;

	while (i < n) {
		const char *w = words[rng_next(state) % ARRAY_SIZE(words)];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
	}
}

static int bytes_equal(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	if (alen != blen)
		return 0;
	if (alen == -1)
		return b == NULL;
	return alen == 0 || memcmp(a, b, (size_t)alen) == 0;
}

static int record_matches(const struct elog_record *want, const struct elog_record_view *got)
{
	if (got->timestamp_ms != want->timestamp_ms || got->header_count != want->header_count)
		return 0;
	if (!bytes_equal(want->key, want->key_len, got->key, got->key_len) ||
	    !bytes_equal(want->value, want->value_len, got->value, got->value_len))
		return 0;
	for (uint32_t i = 0; i < want->header_count; i++) {
		const struct elog_header *w = &want->headers[i], *g = &got->headers[i];
		if (!bytes_equal(w->name, w->name_len, g->name, g->name_len) ||
		    !bytes_equal(w->value, w->value_len, g->value, g->value_len))
			return 0;
	}
	return 1;
}

/* Walk a batch and compare it with the records it should hold; 0 if equal. */
static int verify_batch(struct elog_batch_reader *reader, const uint8_t *buf, size_t len,
			const struct elog_record *recs, size_t n, int64_t base_offset)
{
	static struct elog_record_view view;
	struct elog_err err;
	size_t i = 0;
	int rc;

	if (elog_batch_reader_open(reader, buf, len, &err) < 0) {
		fprintf(stderr, "# open: %s\n", err.msg);
		return -1;
	}
	while ((rc = elog_batch_reader_next(reader, &view, &err)) == 1) {
		if (i >= n || view.offset != base_offset + (int64_t)i || !record_matches(&recs[i], &view)) {
			fprintf(stderr, "# record %zu differs\n", i);
			return -1;
		}
		i++;
	}
	if (rc < 0)
		fprintf(stderr, "# next: %s\n", err.msg);
	return rc == 0 && i == n ? 0 : -1;
}

/* Open and walk a batch; 1 if the check or the reader rejects it. */
static int batch_rejected(struct elog_batch_reader *reader, const uint8_t *buf, size_t len,
			  struct elog_err *err)
{
	static struct elog_record_view view;
	int rc;

	if (elog_batch_check(buf, len, NULL, err) < 0)
		return 1;
	if (elog_batch_reader_open(reader, buf, len, err) < 0)
		return 1;
	while ((rc = elog_batch_reader_next(reader, &view, err)) == 1)
		;
	return rc < 0;
}

static int build(struct elog_batch_builder *b, const struct elog_record *recs, size_t n,
		 const uint8_t **out, size_t *out_len, struct elog_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (elog_batch_builder_add(b, &recs[i], err) < 0)
			return -1;
	return elog_batch_builder_finish(b, out, out_len, err);
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

/* ------------------------------------------------------------ fixtures */

static const uint8_t binary_bytes[] = {0x00, 0x01, 0xff, 0x80, 0x7f, 0x00, 0xfe, 0x00};
static uint8_t big_value[4096];
static struct elog_header many_headers[ELOG_RECORD_HEADERS_MAX];

#define U8(s) ((const uint8_t *)(s))

static const struct elog_header some_headers[] = {
	{U8("trace-id"), 8, U8("abc123"), 6},
	{U8(""), 0, NULL, -1},                       /* empty name, null value */
	{U8("bin"), 3, binary_bytes, sizeof(binary_bytes)},
	{U8("empty"), 5, U8(""), 0},                 /* empty value */
};

/* Null, empty and binary keys and values, headers, timestamps that go back. */
static size_t sample_records(struct elog_record *out)
{
	uint32_t seed = 99;
	size_t n = 0;

	fill_text(big_value, sizeof(big_value), &seed);
	for (int i = 0; i < ELOG_RECORD_HEADERS_MAX; i++)
		many_headers[i] = (struct elog_header){U8("h"), 1, binary_bytes, i % 9 - 1};
	out[n++] = (struct elog_record){.timestamp_ms = 1700000000000, .key = NULL, .key_len = -1,
					.value = U8("hello"), .value_len = 5};
	out[n++] = (struct elog_record){.timestamp_ms = 1699999999000, .key = U8(""), .key_len = 0,
					.value = NULL, .value_len = -1};
	out[n++] = (struct elog_record){.timestamp_ms = 1700000000500, .key = binary_bytes,
					.key_len = sizeof(binary_bytes), .value = binary_bytes,
					.value_len = sizeof(binary_bytes), .headers = some_headers,
					.header_count = ARRAY_SIZE(some_headers)};
	out[n++] = (struct elog_record){.timestamp_ms = INT64_MAX, .key = U8("k"), .key_len = 1,
					.value = U8(""), .value_len = 0};
	out[n++] = (struct elog_record){.timestamp_ms = INT64_MIN, .key = NULL, .key_len = -1,
					.value = NULL, .value_len = -1, .headers = many_headers,
					.header_count = ELOG_RECORD_HEADERS_MAX};
	out[n++] = (struct elog_record){.timestamp_ms = 1700000000001, .key = U8("big"), .key_len = 3,
					.value = big_value, .value_len = sizeof(big_value)};
	return n;
}

/* ------------------------------------------------------------ tests */

static void test_compression_names(void)
{
	T_EQ_INT(elog_compression_parse("none"), ELOG_COMPRESS_NONE);
	T_EQ_INT(elog_compression_parse("lz4"), ELOG_COMPRESS_LZ4);
	T_EQ_INT(elog_compression_parse("zlib"), ELOG_COMPRESS_ZLIB);
	T_EQ_INT(elog_compression_parse("gzip"), -1);
	T_EQ_INT(elog_compression_parse(""), -1);
	T_EQ_INT(elog_compression_parse("LZ4"), -1);
	T_EQ_INT(elog_compression_parse(NULL), -1);
	T_CHECK(!strcmp(elog_compression_name(ELOG_COMPRESS_NONE), "none"));
	T_CHECK(!strcmp(elog_compression_name(ELOG_COMPRESS_LZ4), "lz4"));
	T_CHECK(!strcmp(elog_compression_name(ELOG_COMPRESS_ZLIB), "zlib"));
	T_CHECK(!strcmp(elog_compression_name((enum elog_compression)7), "unknown"));
}

static void roundtrip(enum elog_compression c)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs);
	struct elog_batch_builder b;
	struct elog_batch_reader reader;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;

	elog_batch_builder_init(&b, c, 0);
	elog_batch_reader_init(&reader);
	b.producer_id = 42;
	b.producer_epoch = 3;
	b.base_sequence = 1000;
	T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
	T_EQ_INT(elog_batch_builder_count(&b), n);
	T_OK(elog_batch_check(out, out_len, &h, &err), &err);
	T_EQ_INT(elog_batch_total_size(&h), out_len);
	T_EQ_INT(h.attributes, c);                     /* compressible: compression kept */
	T_EQ_INT(h.magic, ELOG_BATCH_MAGIC);
	T_EQ_INT(h.base_offset, 0);
	T_EQ_INT(h.leader_term, 0);
	T_EQ_INT(h.record_count, n);
	T_EQ_INT(h.last_offset_delta, n - 1);
	T_EQ_INT(h.first_timestamp, recs[0].timestamp_ms);
	T_EQ_INT(h.max_timestamp, INT64_MAX);
	T_EQ_INT(h.producer_id, 42);
	T_EQ_INT(h.producer_epoch, 3);
	T_EQ_INT(h.base_sequence, 1000);
	if (c != ELOG_COMPRESS_NONE)
		T_CHECK(out_len < ELOG_BATCH_HEADER_SIZE + elog_batch_builder_bytes(&b));
	T_ASSERT(verify_batch(&reader, out, out_len, recs, n, 0) == 0);

	/* _add after _finish extends the same batch; a second _finish covers all. */
	T_OK(elog_batch_builder_add(&b, &recs[0], &err), &err);
	recs[n++] = recs[0];
	T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
	T_ASSERT(verify_batch(&reader, out, out_len, recs, n, 0) == 0);

	/* After _reset the builder starts a new batch with the same settings. */
	elog_batch_builder_reset(&b);
	T_EQ_INT(elog_batch_builder_count(&b), 0);
	T_OK(build(&b, &recs[2], 1, &out, &out_len, &err), &err);
	T_OK(elog_batch_check(out, out_len, &h, &err), &err);
	T_EQ_INT(h.producer_id, 42);
	T_EQ_INT(h.first_timestamp, recs[2].timestamp_ms);
	T_EQ_INT(h.max_timestamp, recs[2].timestamp_ms);
	T_ASSERT(verify_batch(&reader, out, out_len, &recs[2], 1, 0) == 0);

	elog_batch_reader_release(&reader);
	elog_batch_builder_release(&b);
}

static void test_roundtrip_none(void)
{
	roundtrip(ELOG_COMPRESS_NONE);
}

static void test_roundtrip_lz4(void)
{
	roundtrip(ELOG_COMPRESS_LZ4);
}

static void test_roundtrip_zlib(void)
{
	roundtrip(ELOG_COMPRESS_ZLIB);
}

static void test_control_and_defaults(void)
{
	struct elog_record rec = {.timestamp_ms = 5, .key_len = -1, .value = U8("x"), .value_len = 1};
	struct elog_batch_builder b;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	T_EQ_INT(b.size_max, ELOG_BATCH_SIZE_MAX);
	T_EQ_INT(b.producer_id, -1);
	T_EQ_INT(b.producer_epoch, -1);
	T_EQ_INT(b.base_sequence, -1);
	b.attributes_extra = ELOG_BATCH_ATTR_CONTROL;
	T_OK(build(&b, &rec, 1, &out, &out_len, &err), &err);
	T_OK(elog_batch_check(out, out_len, &h, &err), &err);
	T_EQ_INT(h.attributes, ELOG_BATCH_ATTR_CONTROL);
	T_EQ_INT(h.producer_id, -1);
	T_EQ_INT(h.base_sequence, -1);

	b.attributes_extra = 0x10;
	T_ASSERT(elog_batch_builder_finish(&b, &out, &out_len, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	elog_batch_builder_release(&b);
}

static void test_builder_rejects_invalid_records(void)
{
	struct elog_header bad_header = {U8("n"), 1, U8("v"), -2};
	struct elog_record recs[] = {
		{.key_len = -2, .value_len = -1},
		{.key_len = -1, .value_len = -7},
		{.key_len = 3, .key = NULL, .value_len = -1},
		{.key_len = -1, .value_len = -1, .headers = many_headers,
		 .header_count = ELOG_RECORD_HEADERS_MAX + 1},
		{.key_len = -1, .value_len = -1, .headers = &bad_header, .header_count = 1},
		{.key_len = -1, .value_len = -1, .headers = NULL, .header_count = 2},
	};
	struct elog_record good = {.key_len = -1, .value = U8("ok"), .value_len = 2};
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;

	elog_batch_builder_init(&b, ELOG_COMPRESS_LZ4, 0);
	T_ASSERT(elog_batch_builder_finish(&b, &out, &out_len, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	T_CHECK(strstr(err.msg, "no records") != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
		elog_err_clear(&err);
		T_ASSERT(elog_batch_builder_add(&b, &recs[i], &err) == -1);
		T_EQ_INT(err.code, ELOG_E_INVAL);
		T_EQ_INT(elog_batch_builder_count(&b), 0);
		T_EQ_INT(elog_batch_builder_bytes(&b), 0);
	}
	T_OK(elog_batch_builder_add(&b, &good, &err), &err);
	T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
	elog_batch_builder_release(&b);
}

static void size_limit(enum elog_compression c)
{
	enum { LIMIT = 1024 };
	uint8_t value[50];
	struct elog_record recs[64];
	struct elog_batch_builder b;
	struct elog_batch_reader reader;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len, n = 0, bytes_before;
	uint32_t seed = 7;

	fill_text(value, sizeof(value), &seed);
	for (size_t i = 0; i < ARRAY_SIZE(recs); i++)
		recs[i] = (struct elog_record){.timestamp_ms = (int64_t)i, .key_len = -1, .value = value,
					       .value_len = sizeof(value)};
	elog_batch_builder_init(&b, c, LIMIT);
	elog_batch_reader_init(&reader);
	while (elog_batch_builder_add(&b, &recs[n], &err) == 0)
		T_ASSERT(++n < ARRAY_SIZE(recs));
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_ASSERT(n > 10);
	T_EQ_INT(elog_batch_builder_count(&b), n);
	bytes_before = elog_batch_builder_bytes(&b);
	T_ASSERT(bytes_before + ELOG_BATCH_HEADER_SIZE <= LIMIT);
	/* Failing again changes nothing either. */
	T_ASSERT(elog_batch_builder_add(&b, &recs[n], &err) == -1);
	T_EQ_INT(elog_batch_builder_bytes(&b), bytes_before);
	T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
	T_ASSERT(out_len <= LIMIT);
	T_ASSERT(verify_batch(&reader, out, out_len, recs, n, 0) == 0);

	/* The record that did not fit starts the next batch. */
	elog_batch_builder_reset(&b);
	T_OK(elog_batch_builder_add(&b, &recs[n], &err), &err);
	T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
	T_ASSERT(verify_batch(&reader, out, out_len, &recs[n], 1, 0) == 0);

	/* A record bigger than any batch is refused even into an empty builder. */
	elog_batch_builder_reset(&b);
	recs[0].value = big_value;
	recs[0].value_len = LIMIT;
	T_ASSERT(elog_batch_builder_add(&b, &recs[0], &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_CHECK(strstr(err.msg, "exceeds the batch limit") != NULL);
	T_EQ_INT(elog_batch_builder_count(&b), 0);
	recs[0].value_len = LIMIT - ELOG_BATCH_HEADER_SIZE - 10; /* just fits */
	T_OK(elog_batch_builder_add(&b, &recs[0], &err), &err);
	T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
	T_ASSERT(out_len <= LIMIT);
	T_ASSERT(verify_batch(&reader, out, out_len, recs, 1, 0) == 0);
	elog_batch_reader_release(&reader);
	elog_batch_builder_release(&b);
}

static void test_size_limit_none(void)
{
	size_limit(ELOG_COMPRESS_NONE);
}

static void test_size_limit_lz4(void)
{
	size_limit(ELOG_COMPRESS_LZ4);
}

static void test_assign(void)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs);
	struct elog_batch_builder b;
	struct elog_batch_reader reader;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;
	uint8_t *buf;
	uint32_t crc_before;

	elog_batch_builder_init(&b, ELOG_COMPRESS_ZLIB, 0);
	elog_batch_reader_init(&reader);
	T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
	buf = copy_of(out, out_len);
	T_ASSERT(buf);
	crc_before = elog_get32(buf + 12);
	elog_batch_assign(buf, 1000000, 7);
	T_OK(elog_batch_check(buf, out_len, &h, &err), &err);
	T_EQ_INT(h.base_offset, 1000000);
	T_EQ_INT(h.leader_term, 7);
	T_EQ_INT(elog_batch_last_offset(&h), 1000000 + (int64_t)n - 1);
	T_CHECK(h.crc != crc_before);    /* the term is covered by the CRC */
	T_CHECK(verify_batch(&reader, buf, out_len, recs, n, 1000000) == 0);

	/* Re-assigning (a new leader) works the same way. */
	elog_batch_assign(buf, INT64_MAX - (int64_t)n + 1, UINT64_MAX);
	T_OK(elog_batch_check(buf, out_len, &h, &err), &err);
	T_EQ_INT(elog_batch_last_offset(&h), INT64_MAX);
	T_CHECK(verify_batch(&reader, buf, out_len, recs, n, INT64_MAX - (int64_t)n + 1) == 0);

	/*
	 * base_offset sits before the CRC: rewriting it by hand still passes
	 * the check. The partition log catches a wrong one by offset continuity.
	 */
	elog_put64(buf, 5);
	T_OK(elog_batch_check(buf, out_len, &h, &err), &err);
	T_EQ_INT(h.base_offset, 5);
	/* ... while the term is covered. */
	buf[24] ^= 1;
	T_CHECK(elog_batch_check(buf, out_len, &h, &err) == -1);
	T_CHECK(strstr(err.msg, "crc mismatch") != NULL);
	free(buf);
	elog_batch_reader_release(&reader);
	elog_batch_builder_release(&b);
}

/*
 * Flip bits [0, bit_end) of a finished batch, each in turn, every one or
 * a random sample with gaps below `stride`. Bits of base_offset (bytes 0-7) are
 * outside the CRC: the batch must then either be rejected (a negative
 * offset) or read back with a different base offset, which the storage
 * layer's offset continuity check refuses. Every other bit must be caught.
 */
static int flip_bits(const uint8_t *batch, size_t len, size_t bit_end, size_t stride)
{
	struct elog_batch_reader reader;
	struct elog_batch_header h;
	struct elog_err err;
	uint8_t *buf = copy_of(batch, len);
	uint32_t seed = 1234;
	int failures = 0;

	elog_batch_reader_init(&reader);
	for (size_t bit = 0; buf && bit < bit_end; bit += stride == 1 ? 1 : 1 + rng_next(&seed) % stride) {
		size_t byte = bit / 8;
		buf[byte] ^= (uint8_t)(1u << (bit % 8));
		if (byte < 8) {
			if (elog_batch_check(buf, len, &h, &err) == 0 && h.base_offset == 0) {
				fprintf(stderr, "# bit %zu: base offset flip unnoticed\n", bit);
				failures++;
			}
		} else if (!batch_rejected(&reader, buf, len, &err)) {
			fprintf(stderr, "# bit %zu (byte %zu) flipped and not detected\n", bit, byte);
			failures++;
		}
		buf[byte] ^= (uint8_t)(1u << (bit % 8));
	}
	T_CHECK(batch_rejected(&reader, buf, len, &err) == 0);
	elog_batch_reader_release(&reader);
	free(buf);
	return buf ? failures : -1;
}

static void test_bitflip_every_position(void)
{
	struct elog_record recs[3] = {
		{.timestamp_ms = 10, .key = U8("key"), .key_len = 3, .value = U8("value value value value"),
		 .value_len = 23, .headers = some_headers, .header_count = 2},
		{.timestamp_ms = 11, .key_len = -1, .value = U8("value value value value"), .value_len = 23},
		{.timestamp_ms = 9, .key = U8(""), .key_len = 0, .value_len = -1},
	};

	for (size_t i = 0; i < ARRAY_SIZE(all_compressions); i++) {
		struct elog_batch_builder b;
		struct elog_err err;
		const uint8_t *out;
		size_t out_len;

		elog_batch_builder_init(&b, all_compressions[i], 0);
		T_OK(build(&b, recs, ARRAY_SIZE(recs), &out, &out_len, &err), &err);
		T_EQ_INT(out[17], all_compressions[i]);
		T_EQ_INT(flip_bits(out, out_len, out_len * 8, 1), 0);
		elog_batch_builder_release(&b);
	}
}

/* A ~16 KiB compressed batch: every bit of the header, a sample of the rest. */
static void test_bitflip_sample_large_compressed(void)
{
	enum elog_compression codecs[] = {ELOG_COMPRESS_LZ4, ELOG_COMPRESS_ZLIB};
	uint8_t *data = malloc(1 << 16);
	uint32_t seed = 77;

	T_ASSERT(data);
	fill_text(data, 1 << 16, &seed);
	for (size_t k = 0; k < 1 << 16; k += 1 + rng_next(&seed) % 64)
		data[k] = (uint8_t)rng_next(&seed); /* noise keeps the ratio modest */
	for (size_t i = 0; i < ARRAY_SIZE(codecs); i++) {
		struct elog_batch_builder b;
		struct elog_err err;
		const uint8_t *out;
		size_t out_len;

		elog_batch_builder_init(&b, codecs[i], 0);
		for (size_t off = 0; off + 200 <= 1 << 16; off += 200) {
			struct elog_record r = {.timestamp_ms = (int64_t)off, .key = data + off, .key_len = 8,
						.value = data + off, .value_len = 200 - 8};
			T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		}
		T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
		T_EQ_INT(out[17], codecs[i]);
		T_ASSERT(out_len > 8000 && out_len < 40000);
		T_EQ_INT(flip_bits(out, out_len, (ELOG_BATCH_HEADER_SIZE + 8) * 8, 1), 0);
		T_EQ_INT(flip_bits(out, out_len, out_len * 8, 40), 0);
		elog_batch_builder_release(&b);
	}
	free(data);
}

/*
 * The same flips with the CRC recomputed afterwards, as a buggy or hostile
 * writer would produce them: the reader must reject the batch or decode it
 * cleanly, and never read outside it (run under ASan and valgrind).
 */
static void test_bitflip_with_fixed_crc(void)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs) - 1;  /* without the 4 KiB value: keeps it quick */
	struct elog_batch_reader reader;

	elog_batch_reader_init(&reader);
	for (size_t i = 0; i < ARRAY_SIZE(all_compressions); i++) {
		struct elog_batch_builder b;
		struct elog_err err;
		const uint8_t *out;
		size_t out_len, rejected = 0;
		uint8_t *buf;

		elog_batch_builder_init(&b, all_compressions[i], 0);
		T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
		buf = copy_of(out, out_len);
		T_ASSERT(buf);
		for (size_t bit = 16 * 8; bit < out_len * 8; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			elog_put32(buf + 12, elog_crc32c(0, buf + 16, out_len - 16));
			rejected += (size_t)batch_rejected(&reader, buf, out_len, &err);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		T_CHECK(rejected > 0);
		free(buf);
		elog_batch_builder_release(&b);
	}
	elog_batch_reader_release(&reader);
}

/* Every prefix of a batch is rejected; each lives in an exactly sized buffer. */
static void test_truncated_every_length(void)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs);
	struct elog_batch_reader reader;

	elog_batch_reader_init(&reader);
	for (size_t i = 0; i < ARRAY_SIZE(all_compressions); i++) {
		struct elog_batch_builder b;
		struct elog_batch_header h;
		struct elog_err err;
		const uint8_t *out;
		size_t out_len;

		elog_batch_builder_init(&b, all_compressions[i], 0);
		T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
		for (size_t len = 0; len < out_len; len++) {
			uint8_t *buf = copy_of(out, len);
			T_ASSERT(buf);
			T_CHECK((elog_batch_header_decode(buf, len, &h, &err) == 0) == (len >= ELOG_BATCH_HEADER_SIZE));
			T_CHECK(elog_batch_check(buf, len, &h, &err) == -1);
			T_CHECK(err.code == ELOG_E_CORRUPT);
			T_CHECK(elog_batch_reader_open(&reader, buf, len, &err) == -1);
			free(buf);
		}
		elog_batch_builder_release(&b);
	}
	elog_batch_reader_release(&reader);
}

/* --------------------------------------------- hand-made malformed batches */

struct wbuf {
	uint8_t b[2048];
	size_t n;
};

static void w_u8(struct wbuf *w, uint8_t v)
{
	w->b[w->n++] = v;
}

static void w_varint(struct wbuf *w, uint64_t v)
{
	w->n += elog_varint_put(w->b + w->n, v);
}

static void w_svarint(struct wbuf *w, int64_t v)
{
	w->n += elog_svarint_put(w->b + w->n, v);
}

static void w_raw(struct wbuf *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

/* A record body with the given offset delta, a key of key_len (filled with 'k') and no headers. */
static void w_body(struct wbuf *w, uint64_t offset_delta, int64_t key_len)
{
	w_u8(w, 0);
	w_svarint(w, 0);
	w_varint(w, offset_delta);
	w_svarint(w, key_len);
	for (int64_t i = 0; i < key_len; i++)
		w_u8(w, 'k');
	w_svarint(w, -1);
	w_varint(w, 0);
}

/* Append a record: its length prefix (the body's real size + length_adjust) and its body. */
static void w_record(struct wbuf *w, const struct wbuf *body, int64_t length_adjust)
{
	w_svarint(w, (int64_t)body->n + length_adjust);
	w_raw(w, body->b, body->n);
}

/* A well-formed record with the given offset delta. */
static void w_simple(struct wbuf *w, uint64_t offset_delta)
{
	struct wbuf body = {.n = 0};
	w_body(&body, offset_delta, 1);
	w_record(w, &body, 0);
}

/* Wrap a records area in a header with a correct CRC; returns the batch size. */
static size_t craft(uint8_t *out, uint8_t attributes, uint32_t count, uint32_t last_delta,
		    const uint8_t *area, size_t area_len)
{
	memset(out, 0, ELOG_BATCH_HEADER_SIZE);
	elog_put32(out + 8, (uint32_t)(ELOG_BATCH_HEADER_SIZE - 12 + area_len));
	out[16] = ELOG_BATCH_MAGIC;
	out[17] = attributes;
	elog_put16(out + 18, 0xffff);
	elog_put32(out + 20, last_delta);
	elog_put64(out + 32, 1000);
	elog_put64(out + 40, 1000);
	elog_put64(out + 48, UINT64_MAX);
	elog_put32(out + 56, UINT32_MAX);
	elog_put32(out + 60, count);
	memcpy(out + ELOG_BATCH_HEADER_SIZE, area, area_len);
	elog_put32(out + 12, elog_crc32c(0, out + 16, ELOG_BATCH_HEADER_SIZE - 16 + area_len));
	return ELOG_BATCH_HEADER_SIZE + area_len;
}

/* Open and walk the batch; 0 if it fails with code and a message containing want. */
static int expect_reader_error(const uint8_t *buf, size_t len, enum elog_errcode code, const char *want)
{
	struct elog_batch_reader reader;
	struct elog_err err;
	int rejected;
	uint8_t *copy = copy_of(buf, len);   /* exact size, so ASan sees overreads */

	elog_batch_reader_init(&reader);
	elog_err_clear(&err);
	rejected = batch_rejected(&reader, copy, len, &err);
	elog_batch_reader_release(&reader);
	free(copy);
	if (rejected && err.code == code && strstr(err.msg, want))
		return 0;
	fprintf(stderr, "# wanted \"%s\" (%s), got %s: \"%s\"\n", want, elog_errcode_name(code),
		rejected ? elog_errcode_name(err.code) : "accepted", err.msg);
	return -1;
}

static uint8_t crafted[4096];
static const struct elog_batch_rules gaps_rules = {.offsets = ELOG_BATCH_OFFSETS_GAPS};

static void test_reader_rejects_bad_lengths(void)
{
	struct wbuf area = {.n = 0}, body = {.n = 0};
	size_t len;

	/* key length 900 with 12 bytes after it */
	w_body(&body, 0, 0);
	body.n = 3;                          /* attributes, timestamp, offset */
	w_svarint(&body, 900);
	w_raw(&body, "0123456789ab", 12);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 68): key length 900 exceeds the 12 bytes left") == 0);

	/* record length beyond the records area */
	area.n = body.n = 0;
	w_simple(&area, 0);
	w_body(&body, 1, 1);
	w_record(&area, &body, 100);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 1 (byte 72): length 107 exceeds the 7 bytes left") == 0);

	/* record length larger than its fields, bytes to spare in the area */
	area.n = body.n = 0;
	w_body(&body, 0, 1);
	w_record(&area, &body, 2);
	w_raw(&area, "\0\0", 2);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "but its fields take") == 0);

	/* record length smaller than its fields: the last field runs out */
	area.n = body.n = 0;
	w_body(&body, 0, 1);
	w_record(&area, &body, -1);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 71): header count truncated") == 0);

	/* negative record length, negative key length other than -1 */
	area.n = 0;
	w_svarint(&area, -3);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 64): length -3 is negative") == 0);
	area.n = body.n = 0;
	w_body(&body, 0, -2);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 68): key length -2 is negative (-1 means null)") == 0);

	/* a varint that never ends inside the record */
	area.n = body.n = 0;
	w_u8(&body, 0);
	w_raw(&body, "\x80\x80\x80", 3);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 66): timestamp delta truncated") == 0);

	/* non-zero record attributes */
	area.n = body.n = 0;
	w_body(&body, 0, 1);
	body.b[0] = 4;
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 65): attributes 0x04, expected 0") == 0);
}

static void test_reader_rejects_bad_offsets_and_counts(void)
{
	struct wbuf area = {.n = 0};
	size_t len;

	/* offsets must strictly increase */
	w_simple(&area, 0);
	w_simple(&area, 0);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 1 (byte 75): offset delta 0, expected 1 (a produced batch's offsets are dense)") == 0);

	/* and stay within last_offset_delta */
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 5);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 1 (byte 75): offset delta 5, expected 1") == 0);

	/* fewer records than record_count */
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 1);
	len = craft(crafted, 0, 3, 2, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch record count 3, but its records end after 2") == 0);

	/* more bytes after record_count records */
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 1);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch record count 1, but 8 more bytes follow its last record (byte 72)") == 0);

	/* an empty records area */
	len = craft(crafted, 0, 1, 0, area.b, 0);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch record count 1, but its records end after 0") == 0);

	/* well-formed control: the same helpers produce an accepted batch */
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 1);
	len = craft(crafted, ELOG_BATCH_ATTR_CONTROL, 2, 1, area.b, area.n);
	{
		struct elog_batch_reader reader;
		struct elog_err err;
		elog_batch_reader_init(&reader);
		T_CHECK(batch_rejected(&reader, crafted, len, &err) == 0);
		elog_batch_reader_release(&reader);
	}
}

static void test_reader_rejects_bad_headers(void)
{
	struct wbuf area = {.n = 0}, body = {.n = 0};
	size_t len;

	/* 65 headers */
	w_u8(&body, 0);
	w_svarint(&body, 0);
	w_varint(&body, 0);
	w_svarint(&body, -1);
	w_svarint(&body, -1);
	w_varint(&body, ELOG_RECORD_HEADERS_MAX + 1);
	for (int i = 0; i < ELOG_RECORD_HEADERS_MAX + 1; i++) {
		w_varint(&body, 1);
		w_u8(&body, 'h');
		w_svarint(&body, -1);
	}
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 71): header count 65 exceeds the limit of 64") == 0);

	/* exactly 64 are fine */
	area.n = 0;
	body.b[5] = ELOG_RECORD_HEADERS_MAX;
	body.n -= 3;
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	{
		struct elog_batch_reader reader;
		struct elog_err err;
		elog_batch_reader_init(&reader);
		T_CHECK(batch_rejected(&reader, crafted, len, &err) == 0);
		elog_batch_reader_release(&reader);
	}

	/* a header name running past the record */
	area.n = body.n = 0;
	w_u8(&body, 0);
	w_svarint(&body, 0);
	w_varint(&body, 0);
	w_svarint(&body, -1);
	w_svarint(&body, -1);
	w_varint(&body, 2);
	w_varint(&body, 1);
	w_u8(&body, 'a');
	w_svarint(&body, 0);
	w_varint(&body, 50);
	w_raw(&body, "abc", 3);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "record 0 (byte 74): header 1 name length 50 exceeds the 3 bytes left") == 0);
}

static void test_reader_rejects_bad_compression(void)
{
	struct wbuf plain = {.n = 0}, area = {.n = 0};
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	size_t len, out_len;

	for (uint32_t i = 0; i < 20; i++)
		w_simple(&plain, i);

	/* area too short for the length field, length 0, length over the limit */
	len = craft(crafted, ELOG_COMPRESS_LZ4, 20, 19, U8("\1\0"), 2);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length: missing, the lz4 records area holds 2 bytes") == 0);
	len = craft(crafted, ELOG_COMPRESS_ZLIB, 20, 19, U8("\0\0\0\0xx"), 6);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length 0 outside [1, 67108864]") == 0);
	len = craft(crafted, ELOG_COMPRESS_LZ4, 20, 19, U8("\1\0\0\4xx"), 6);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length 67108865 outside") == 0);

	/* a tiny batch claiming more than its codec could ever expand to (no 64 MiB allocation) */
	len = craft(crafted, ELOG_COMPRESS_LZ4, 20, 19, U8("\0\0\0\1xx"), 6);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length 16777216 impossible from 2 bytes of lz4 data") == 0);
	len = craft(crafted, ELOG_COMPRESS_ZLIB, 20, 19, U8("\0\0\1\0xx"), 6);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length 65536 impossible from 2 bytes of zlib data") == 0);

	/* garbage in place of compressed data */
	len = craft(crafted, ELOG_COMPRESS_LZ4, 20, 19, U8("\x40\0\0\0\xff\xff\xff\xff\xff\xff"), 10);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch uncompressed length 64: the lz4 records are malformed or decompress to more") == 0);
	len = craft(crafted, ELOG_COMPRESS_ZLIB, 20, 19, U8("\x40\0\0\0\xff\xff\xff\xff\xff\xff"), 10);
	T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch zlib records: malformed at or before byte 70: incorrect header check") == 0);

	/* real compressed data with a wrong length field, or trailing bytes */
	for (int c = ELOG_COMPRESS_LZ4; c <= ELOG_COMPRESS_ZLIB; c++) {
		struct elog_record r = {.key_len = -1, .value = big_value, .value_len = 1000};
		elog_batch_builder_init(&b, (enum elog_compression)c, 0);
		T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
		T_EQ_INT(out[17], c);
		area.n = 0;
		w_raw(&area, out + ELOG_BATCH_HEADER_SIZE, out_len - ELOG_BATCH_HEADER_SIZE);
		elog_put32(area.b, elog_get32(area.b) + 1);          /* claims one byte more */
		len = craft(crafted, (uint8_t)c, 1, 0, area.b, area.n);
		T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch") == 0);
		elog_put32(area.b, elog_get32(area.b) - 2);          /* one byte fewer */
		len = craft(crafted, (uint8_t)c, 1, 0, area.b, area.n);
		T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch") == 0);
		elog_put32(area.b, elog_get32(area.b) + 1);          /* right, plus trailing bytes */
		w_raw(&area, "zz", 2);
		len = craft(crafted, (uint8_t)c, 1, 0, area.b, area.n);
		T_CHECK(expect_reader_error(crafted, len, ELOG_E_CORRUPT, "batch") == 0);
		area.n -= 2;                                         /* and exactly right again */
		len = craft(crafted, (uint8_t)c, 1, 0, area.b, area.n);
		{
			struct elog_batch_reader reader;
			elog_batch_reader_init(&reader);
			T_CHECK(batch_rejected(&reader, crafted, len, &err) == 0);
			elog_batch_reader_release(&reader);
		}
		elog_batch_builder_release(&b);
	}
}

static void test_header_decode_checks(void)
{
	struct wbuf area = {.n = 0};
	struct elog_batch_header h;
	struct elog_err err;
	uint8_t buf[ELOG_BATCH_HEADER_SIZE + 64];
	size_t len;

	w_simple(&area, 0);
	len = craft(buf, 0, 1, 0, area.b, area.n);
	T_OK(elog_batch_check(buf, len, &h, &err), &err);
	T_OK(elog_batch_header_decode(buf, ELOG_BATCH_HEADER_SIZE, NULL, &err), &err);
	T_EQ_INT(h.producer_epoch, -1);
	T_EQ_INT(h.producer_id, -1);
	T_EQ_INT(h.base_sequence, -1);

#define EXPECT_HEADER_ERROR(mutate, code_, want) do { \
		uint8_t copy_[sizeof(buf)]; \
		memcpy(copy_, buf, sizeof(buf)); \
		{ uint8_t *b_ = copy_; mutate; } \
		elog_err_clear(&err); \
		T_CHECK(elog_batch_header_decode(copy_, len, &h, &err) == -1); \
		T_CHECK(err.code == (code_)); \
		T_CHECK(strstr(err.msg, (want)) != NULL); \
		T_CHECK(elog_batch_check(copy_, len, &h, &err) == -1); \
	} while (0)

	EXPECT_HEADER_ERROR(b_[16] = 2, ELOG_E_VERSION, "magic 2 is newer");
	EXPECT_HEADER_ERROR(b_[16] = 0, ELOG_E_CORRUPT, "magic 0 invalid");
	EXPECT_HEADER_ERROR(b_[17] = 3, ELOG_E_CORRUPT, "unknown compression 3");
	EXPECT_HEADER_ERROR(b_[17] = 7 | ELOG_BATCH_ATTR_CONTROL, ELOG_E_CORRUPT, "unknown compression 7");
	EXPECT_HEADER_ERROR(b_[17] = 0x10, ELOG_E_CORRUPT, "reserved bits");
	EXPECT_HEADER_ERROR(b_[17] = 0x81, ELOG_E_CORRUPT, "reserved bits");
	EXPECT_HEADER_ERROR(elog_put32(b_ + 8, 51), ELOG_E_CORRUPT, "batch length 51 outside");
	EXPECT_HEADER_ERROR(elog_put32(b_ + 8, ELOG_BATCH_SIZE_MAX - 11), ELOG_E_CORRUPT, "outside");
	EXPECT_HEADER_ERROR(elog_put32(b_ + 8, UINT32_MAX), ELOG_E_CORRUPT, "outside");
	EXPECT_HEADER_ERROR(elog_put32(b_ + 60, 0), ELOG_E_CORRUPT, "batch record count 0, expected at least 1");
	EXPECT_HEADER_ERROR(elog_put32(b_ + 60, 2), ELOG_E_CORRUPT, "batch record count 2 exceeds its last offset delta 0 + 1");
	EXPECT_HEADER_ERROR(elog_put64(b_, UINT64_MAX), ELOG_E_CORRUPT, "base offset -1 is negative");
	EXPECT_HEADER_ERROR((elog_put64(b_, INT64_MAX), elog_put32(b_ + 20, 1), elog_put32(b_ + 60, 2)),
			    ELOG_E_CORRUPT, "overflows");
#undef EXPECT_HEADER_ERROR

	/* The largest legal batch_length decodes; check then wants the bytes. */
	elog_put32(buf + 8, ELOG_BATCH_SIZE_MAX - 12);
	T_OK(elog_batch_header_decode(buf, len, &h, &err), &err);
	T_CHECK(elog_batch_check(buf, len, &h, &err) == -1);
	T_CHECK(strstr(err.msg, "batch truncated") != NULL);
	/* The CRC mismatch message names both values. */
	len = craft(buf, 0, 1, 0, area.b, area.n);
	buf[len - 1] ^= 0x20;
	T_CHECK(elog_batch_check(buf, len, &h, &err) == -1);
	T_CHECK(strncmp(err.msg, "batch crc mismatch: stored 0x", 29) == 0);
	T_CHECK(strstr(err.msg, ", computed 0x") != NULL);
	/* A NULL err is allowed. */
	T_CHECK(elog_batch_check(buf, len, NULL, NULL) == -1);
}

/* Truncating the records area of an otherwise consistent batch is caught by record decoding. */
static void test_records_area_truncated(void)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs) - 1;
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
	for (size_t cut = 0; cut < out_len - ELOG_BATCH_HEADER_SIZE; cut++) {
		struct elog_batch_reader reader;
		size_t len = ELOG_BATCH_HEADER_SIZE + cut;
		uint8_t *exact = copy_of(out, len);
		T_ASSERT(exact);
		elog_put32(exact + 8, (uint32_t)(len - 12));
		elog_put32(exact + 12, elog_crc32c(0, exact + 16, len - 16));
		elog_batch_reader_init(&reader);
		T_CHECK(elog_batch_check(exact, len, NULL, &err) == 0);
		T_CHECK(batch_rejected(&reader, exact, len, &err) == 1);
		elog_batch_reader_release(&reader);
		free(exact);
	}
	elog_batch_builder_release(&b);
}

/* ------------------------------------------------ the validator, case by case */

/*
 * Validate buf[0, len) (copied to an exactly sized buffer) with a fresh
 * validator and with a reader under the same rules: both must refuse it
 * with `code` and the same message, which must contain `want`; buf must
 * be left as it was. 0 if so.
 */
static int expect_invalid(const uint8_t *buf, size_t len, const struct elog_batch_rules *rules,
			  enum elog_errcode code, const char *want)
{
	struct elog_batch_validator v;
	struct elog_batch_reader reader;
	struct elog_err verr, rerr;
	uint8_t *copy = copy_of(buf, len);
	int vrc, rrc, ok;

	elog_batch_validator_init(&v);
	elog_batch_reader_init(&reader);
	if (rules)
		reader.rules = *rules;
	elog_err_clear(&verr);
	elog_err_clear(&rerr);
	vrc = elog_batch_validate(&v, copy, len, rules, &verr);
	rrc = elog_batch_reader_open(&reader, copy, len, &rerr);
	ok = vrc == -1 && rrc == -1 && verr.code == code && rerr.code == code && !strcmp(verr.msg, rerr.msg) &&
	     strstr(verr.msg, want) && !memcmp(copy, buf, len) && v.records == NULL;
	if (!ok)
		fprintf(stderr, "# wanted \"%s\" (%s), got %s: \"%s\" / reader %s: \"%s\"\n", want, elog_errcode_name(code),
			vrc ? elog_errcode_name(verr.code) : "accepted", verr.msg,
			rrc ? elog_errcode_name(rerr.code) : "accepted", rerr.msg);
	elog_batch_reader_release(&reader);
	elog_batch_validator_release(&v);
	free(copy);
	return ok ? 0 : -1;
}

/* Accepted by the validator and the reader; the reader yields `count` records. 0 if so. */
static int expect_valid(const uint8_t *buf, size_t len, const struct elog_batch_rules *rules, uint32_t count,
			int64_t *offsets_out)
{
	static struct elog_record_view view;
	struct elog_batch_validator v;
	struct elog_batch_reader reader;
	struct elog_err err;
	uint8_t *copy = copy_of(buf, len);
	uint32_t n = 0;
	int rc = -1;

	elog_batch_validator_init(&v);
	elog_batch_reader_init(&reader);
	if (rules)
		reader.rules = *rules;
	if (elog_batch_validate(&v, copy, len, rules, &err) < 0 || elog_batch_reader_open(&reader, copy, len, &err) < 0) {
		fprintf(stderr, "# refused: %s\n", err.msg);
		goto out;
	}
	while ((rc = elog_batch_reader_next(&reader, &view, &err)) == 1) {
		if (offsets_out && n < 16)
			offsets_out[n] = view.offset;
		n++;
	}
	if (rc == 0 && n != count)
		rc = -1;
out:
	elog_batch_reader_release(&reader);
	elog_batch_validator_release(&v);
	free(copy);
	return rc;
}

/* A record body written field by field: timestamp and offset deltas, key and value lengths (filled). */
static void w_fields(struct wbuf *w, int64_t ts_delta, uint64_t offset_delta, int64_t key_len, int64_t value_len)
{
	w_u8(w, 0);
	w_svarint(w, ts_delta);
	w_varint(w, offset_delta);
	w_svarint(w, key_len);
	for (int64_t i = 0; i < key_len; i++)
		w_u8(w, 'k');
	w_svarint(w, value_len);
	for (int64_t i = 0; i < value_len; i++)
		w_u8(w, 'v');
}

/* A whole record with no headers. */
static void w_plain_record(struct wbuf *w, int64_t ts_delta, uint64_t offset_delta)
{
	struct wbuf body = {.n = 0};
	w_fields(&body, ts_delta, offset_delta, 1, 3);
	w_varint(&body, 0);
	w_record(w, &body, 0);
}

/* Like craft, with the timestamps given. */
static size_t craft_ts(uint8_t *out, uint32_t count, uint32_t last_delta, int64_t first_ts, int64_t max_ts,
		       const uint8_t *area, size_t area_len)
{
	size_t len = craft(out, 0, count, last_delta, area, area_len);
	elog_put64(out + 32, (uint64_t)first_ts);
	elog_put64(out + 40, (uint64_t)max_ts);
	elog_put32(out + 12, elog_crc32c(0, out + 16, len - 16));
	return len;
}

/*
 * Compress a plain records area with codec c into out + 64 as
 * [u32 declared][compressed][trailing], declared = plain_len + declared_adjust,
 * and wrap it in a header; returns the batch size.
 */
static size_t craft_compressed(uint8_t *out, size_t cap, enum elog_compression c, uint32_t count,
			       const uint8_t *plain, size_t plain_len, int64_t declared_adjust,
			       const char *trailing)
{
	uint8_t *area = malloc(cap);
	size_t n = 0, len;

	if (!area)
		return 0;
	if (c == ELOG_COMPRESS_LZ4) {
		int k = LZ4_compress_default((const char *)plain, (char *)area + 4, (int)plain_len, (int)(cap - 4 - 16));
		n = k > 0 ? (size_t)k : 0;
	} else {
		uLongf k = cap - 4 - 16;
		n = compress2(area + 4, &k, plain, plain_len, Z_BEST_COMPRESSION) == Z_OK ? k : 0;
	}
	elog_put32(area, (uint32_t)((int64_t)plain_len + declared_adjust));
	memcpy(area + 4 + n, trailing, strlen(trailing));
	len = craft(out, (uint8_t)c, count, count - 1, area, 4 + n + strlen(trailing));
	free(area);
	return n ? len : 0;
}

static uint8_t big_crafted[1 << 20];

/* The six shapes the issue found stored with error 0 and then stopping every consumer. */
static void test_validate_issue_cases(void)
{
	struct wbuf area = {.n = 0}, plain = {.n = 0};
	size_t len;

	/* record count larger than the records present */
	for (uint32_t i = 0; i < 3; i++)
		w_simple(&area, i);
	len = craft(crafted, 0, 4, 3, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch record count 4, but its records end after 3") == 0);

	/* last offset delta that disagrees with the count, either way */
	len = craft(crafted, 0, 3, 5, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT,
			       "batch last offset delta 5 disagrees with its record count 3 (a produced batch's offsets are dense)") == 0);
	len = craft(crafted, 0, 3, 1, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch record count 3 exceeds its last offset delta 1 + 1") == 0);

	/* a record length of 2^30 */
	area.n = 0;
	w_svarint(&area, (int64_t)1 << 30);
	w_raw(&area, "\0\0\0\2k\6vvv\0", 10);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT,
			       "record 0 (byte 64): length 1073741824 exceeds the 10 bytes left") == 0);

	/* trailing bytes after the last record */
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 1);
	w_raw(&area, "xyz", 3);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT,
			       "batch record count 2, but 3 more bytes follow its last record (byte 80)") == 0);

	/* lz4 and zlib payloads that do not decompress */
	for (uint32_t i = 0; i < 40; i++)
		w_plain_record(&plain, 0, i);
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 40, plain.b, plain.n, 0, "");
	T_ASSERT(len > 0);
	memset(crafted + 68, 0xff, 8);   /* literal lengths running past the block */
	elog_put32(crafted + 12, elog_crc32c(0, crafted + 16, len - 16));
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "the lz4 records are malformed or decompress to more") == 0);
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, 0, "");
	T_ASSERT(len > 0);
	crafted[68] ^= 0x0f;     /* the zlib header */
	elog_put32(crafted + 12, elog_crc32c(0, crafted + 16, len - 16));
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch zlib records: malformed at or before byte 70: incorrect header check") == 0);

	/* a compressed payload whose real size differs from the declared one */
	{
		char want[160];
		snprintf(want, sizeof(want), "batch uncompressed length %zu: the lz4 records decompress to %zu bytes", plain.n + 1, plain.n);
		len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 40, plain.b, plain.n, 1, "");
		T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, want) == 0);
		snprintf(want, sizeof(want), "batch uncompressed length %zu: the lz4 records are malformed or decompress to more", plain.n - 1);
		len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 40, plain.b, plain.n, -1, "");
		T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, want) == 0);
		snprintf(want, sizeof(want), "batch uncompressed length %zu: the zlib records decompress to %zu bytes", plain.n + 1, plain.n);
		len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, 1, "");
		T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, want) == 0);
		snprintf(want, sizeof(want), "batch uncompressed length %zu: the zlib records decompress to more", plain.n - 1);
		len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, -1, "");
		T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, want) == 0);
	}
	/* ... and exactly right, both are accepted */
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 40, plain.b, plain.n, 0, "");
	T_CHECK(expect_valid(crafted, len, NULL, 40, NULL) == 0);
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, 0, "");
	T_CHECK(expect_valid(crafted, len, NULL, 40, NULL) == 0);
}

static void test_validate_compressed_trailing_and_bombs(void)
{
	struct wbuf plain = {.n = 0};
	struct elog_batch_validator v;
	struct elog_err err;
	uint8_t *zeros;
	size_t len;

	for (uint32_t i = 0; i < 40; i++)
		w_plain_record(&plain, 0, i);
	/* zlib trailing garbage after a stream that is right in itself */
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, 0, "zz");
	T_ASSERT(len > 0);
	{
		char want[120];
		snprintf(want, sizeof(want), "batch zlib records: 2 bytes after the end of the stream (byte %zu)", len - 2);
		T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, want) == 0);
	}
	/* lz4 trailing bytes are more block data: refused as well */
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 40, plain.b, plain.n, 0, "zz");
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "the lz4 records") == 0);
	/* a zlib stream cut short */
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 40, plain.b, plain.n, 0, "");
	elog_put32(crafted + 8, elog_get32(crafted + 8) - 3);
	elog_put32(crafted + 12, elog_crc32c(0, crafted + 16, len - 3 - 16));
	T_CHECK(expect_invalid(crafted, len - 3, NULL, ELOG_E_CORRUPT, "batch zlib records: the stream is cut short") == 0);

	/*
	 * Ratio bombs: 1 MiB of zeros compresses to about 1 KiB (zlib) or
	 * 4 KiB (lz4). Declared as 1 MiB they are legal; declared smaller, the
	 * codec stops at the declared size and the scratch buffer never grows
	 * past it.
	 */
	zeros = calloc(1, 1 << 20);
	T_ASSERT(zeros);
	elog_batch_validator_init(&v);
	for (int c = ELOG_COMPRESS_LZ4; c <= ELOG_COMPRESS_ZLIB; c++) {
		len = craft_compressed(big_crafted, sizeof(big_crafted), (enum elog_compression)c, 1, zeros, 1 << 20,
				       -(int64_t)((1 << 20) - 4096), "");
		T_ASSERT(len > 0 && len < 8192);
		T_CHECK(elog_batch_validate(&v, big_crafted, len, NULL, &err) == -1);
		T_CHECK(strstr(err.msg, "batch uncompressed length 4096: the") != NULL);
		T_CHECK(strstr(err.msg, "decompress to more") != NULL);
		T_CHECK(v.plain_cap <= 8192);
	}
	/* A declared length the codec cannot reach from so few bytes: nothing allocated for it. */
	elog_batch_validator_release(&v);
	elog_batch_validator_init(&v);
	len = craft(crafted, ELOG_COMPRESS_ZLIB, 1, 0, U8("\0\0\0\4\x78\x9c\3\0\0\0\0\1"), 12);
	T_CHECK(elog_batch_validate(&v, crafted, len, NULL, &err) == -1);
	T_CHECK(strstr(err.msg, "batch uncompressed length 67108864 impossible from 8 bytes of zlib data") != NULL);
	T_EQ_INT(v.plain_cap, 0);
	elog_batch_validator_release(&v);
	free(zeros);
}

static void test_validate_varints_and_lengths(void)
{
	struct wbuf area = {.n = 0}, body = {.n = 0};
	size_t len;

	/* an offset delta of 11 bytes, and one of 10 whose last byte overflows 64 bits */
	w_u8(&body, 0);
	w_svarint(&body, 0);
	w_raw(&body, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
	w_raw(&body, "\2k\6vvv\0", 7);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 67): offset delta malformed: more than 64 bits") == 0);
	area.n = body.n = 0;
	w_u8(&body, 0);
	w_svarint(&body, 0);
	w_raw(&body, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 10);
	w_raw(&body, "\2k\6vvv\0", 7);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 67): offset delta malformed: more than 64 bits") == 0);
	/* a record length varint that runs off the end of the records */
	area.n = 0;
	w_raw(&area, "\x80\x80", 2);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 64): length truncated") == 0);
	/* a key length of 2^40 */
	area.n = body.n = 0;
	w_u8(&body, 0);
	w_svarint(&body, 0);
	w_varint(&body, 0);
	w_svarint(&body, (int64_t)1 << 40);
	w_raw(&body, "k\6vvv\0", 6);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 68): key length 1099511627776 exceeds the 6 bytes left") == 0);
	/* a value length of -2, a header value length of -5 */
	area.n = body.n = 0;
	w_fields(&body, 0, 0, 1, 0);
	body.n--;
	w_svarint(&body, -2);
	w_varint(&body, 0);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 70): value length -2 is negative (-1 means null)") == 0);
	area.n = body.n = 0;
	w_fields(&body, 0, 0, 1, 1);
	w_varint(&body, 2);
	w_varint(&body, 1);
	w_u8(&body, 'a');
	w_svarint(&body, -1);              /* header 0: null value, fine */
	w_varint(&body, 1);
	w_u8(&body, 'b');
	w_svarint(&body, -5);
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 78): header 1 value length -5 is negative (-1 means null)") == 0);
	/* a header value running past the record */
	body.n--;
	w_svarint(&body, 9);
	w_raw(&body, "abc", 3);
	area.n = 0;
	w_record(&area, &body, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 78): header 1 value length 9 exceeds the 3 bytes left") == 0);
	/* a record whose length leaves no room for its attributes */
	area.n = 0;
	w_svarint(&area, 0);
	len = craft(crafted, 0, 1, 0, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 65): attributes truncated") == 0);
}

static void test_validate_offsets_dense_and_gaps(void)
{
	const struct elog_batch_rules gaps = {.offsets = ELOG_BATCH_OFFSETS_GAPS};
	struct wbuf area = {.n = 0};
	int64_t offsets[16];
	size_t len;

	/* dense: record i has offset delta i */
	w_simple(&area, 1);
	w_simple(&area, 2);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 0 (byte 67): offset delta 1, expected 0") == 0);
	area.n = 0;
	w_simple(&area, 0);
	w_simple(&area, 2);
	len = craft(crafted, 0, 2, 1, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 1 (byte 75): offset delta 2, expected 1") == 0);
	T_CHECK(expect_invalid(crafted, len, &gaps, ELOG_E_CORRUPT, "record 1 (byte 75): offset delta 2 beyond the batch's last offset delta 1") == 0);
	/* A batch with a gap (what compaction leaves): refused dense, accepted in GAPS mode. */
	len = craft(crafted, 0, 2, 2, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch last offset delta 2 disagrees with its record count 2") == 0);
	elog_put64(crafted, 100);          /* base offset: outside the crc */
	T_CHECK(expect_valid(crafted, len, &gaps, 2, offsets) == 0);
	T_EQ_INT(offsets[0], 100);
	T_EQ_INT(offsets[1], 102);
	/* GAPS: strictly increasing, none beyond last_offset_delta */
	area.n = 0;
	w_simple(&area, 1);
	w_simple(&area, 1);
	len = craft(crafted, 0, 2, 3, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps, ELOG_E_CORRUPT, "record 1 (byte 75): offset delta 1 does not increase on the previous record's 1") == 0);
	/* the last record before last_offset_delta: compaction removed the ones after it */
	area.n = 0;
	w_simple(&area, 1);
	w_simple(&area, 2);
	len = craft(crafted, 0, 2, 3, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch last offset delta 3 disagrees with its record count 2") == 0);
	T_CHECK(expect_valid(crafted, len, &gaps, 2, offsets) == 0);
	T_EQ_INT(offsets[0], 1);
	T_EQ_INT(offsets[1], 2);
}

static void test_validate_timestamps(void)
{
	const struct elog_batch_rules gaps = {.offsets = ELOG_BATCH_OFFSETS_GAPS};
	struct wbuf area = {.n = 0};
	size_t len;

	/* timestamps that go back are fine; the first is first_timestamp, the max is max_timestamp */
	w_plain_record(&area, 0, 0);
	w_plain_record(&area, -10, 1);
	w_plain_record(&area, 7, 2);
	len = craft_ts(crafted, 3, 2, 1000, 1007, area.b, area.n);
	T_CHECK(expect_valid(crafted, len, NULL, 3, NULL) == 0);
	len = craft_ts(crafted, 3, 2, 1000, 1008, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch max timestamp 1008, but its largest record timestamp is 1007") == 0);
	T_CHECK(expect_valid(crafted, len, &gaps, 3, NULL) == 0);    /* the record holding it may be compacted away */
	len = craft_ts(crafted, 3, 2, 1000, 1006, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps, ELOG_E_CORRUPT,
			       "record 2 (byte 88): timestamp delta 7 gives 1007, after the batch's max timestamp 1006") == 0);
	area.n = 0;
	w_plain_record(&area, 5, 0);
	len = craft_ts(crafted, 1, 0, 1000, 1005, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT,
			       "record 0 (byte 66): timestamp delta 5, expected 0 (the batch's first timestamp is its first record's)") == 0);
	/* wrapping: INT64_MIN as first, a delta that wraps round to INT64_MAX */
	area.n = 0;
	w_plain_record(&area, 0, 0);
	w_plain_record(&area, -1, 1);
	len = craft_ts(crafted, 2, 1, INT64_MIN, INT64_MAX, area.b, area.n);
	T_CHECK(expect_valid(crafted, len, NULL, 2, NULL) == 0);
}

/* Set a crafted batch's last_offset_delta (or record_count) and fix its CRC. */
static void patch32(uint8_t *buf, size_t len, size_t at, uint32_t v)
{
	elog_put32(buf + at, v);
	elog_put32(buf + 12, elog_crc32c(0, buf + 16, len - 16));
}

/* The GAPS rules one at a time: what compaction leaves is accepted, each broken rule refused. */
static void test_validate_gaps_rules(void)
{
	struct wbuf area = {.n = 0}, plain = {.n = 0};
	int64_t offsets[16];
	size_t len;

	/* accepted: a gap before the first record, between records, and after the last */
	w_plain_record(&area, 0, 2);
	w_plain_record(&area, 3, 5);
	w_plain_record(&area, -4, 6);
	len = craft_ts(crafted, 3, 9, 1000, 1003, area.b, area.n);
	elog_put64(crafted, 40);
	T_CHECK(expect_valid(crafted, len, &gaps_rules, 3, offsets) == 0);
	T_EQ_INT(offsets[0], 42);
	T_EQ_INT(offsets[1], 45);
	T_EQ_INT(offsets[2], 46);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch last offset delta 9 disagrees with its record count 3") == 0);
	/* accepted: first_timestamp and max_timestamp of records that are gone (record 0's delta not 0) */
	len = craft_ts(crafted, 3, 9, 990, 1500, area.b, area.n);
	T_CHECK(expect_valid(crafted, len, &gaps_rules, 3, NULL) == 0);
	/* accepted: gaps in lz4 and zlib batches */
	for (uint32_t i = 0; i < 30; i++)
		w_plain_record(&plain, 0, 3 * i + 1);
	for (int c = ELOG_COMPRESS_LZ4; c <= ELOG_COMPRESS_ZLIB; c++) {
		len = craft_compressed(crafted, sizeof(crafted), (enum elog_compression)c, 30, plain.b, plain.n, 0, "");
		T_ASSERT(len > 0);
		patch32(crafted, len, 20, 3 * 29 + 1);
		T_CHECK(expect_valid(crafted, len, &gaps_rules, 30, offsets) == 0);
		T_EQ_INT(offsets[15], 46);
		patch32(crafted, len, 20, 3 * 29 + 5);
		T_CHECK(expect_valid(crafted, len, &gaps_rules, 30, NULL) == 0);
		/* refused: the last record beyond last_offset_delta */
		patch32(crafted, len, 20, 3 * 29);
		T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
				       "record 29 (uncompressed byte 322): offset delta 88 beyond the batch's last offset delta 87") == 0);
	}
	/* refused: an offset delta equal to the previous one */
	area.n = 0;
	w_plain_record(&area, 0, 2);
	w_plain_record(&area, 0, 2);
	len = craft_ts(crafted, 2, 4, 1000, 1000, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "record 1 (byte 78): offset delta 2 does not increase on the previous record's 2") == 0);
	/* refused: an offset delta going back */
	area.n = 0;
	w_plain_record(&area, 0, 3);
	w_plain_record(&area, 0, 1);
	len = craft_ts(crafted, 2, 4, 1000, 1000, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "record 1 (byte 78): offset delta 1 does not increase on the previous record's 3") == 0);
	/* refused: an offset delta past last_offset_delta, first record or not */
	area.n = 0;
	w_plain_record(&area, 0, 5);
	len = craft_ts(crafted, 1, 4, 1000, 1000, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "record 0 (byte 67): offset delta 5 beyond the batch's last offset delta 4") == 0);
	/* refused: more records than offsets (a header rule, in every mode) */
	area.n = 0;
	w_plain_record(&area, 0, 0);
	w_plain_record(&area, 0, 1);
	w_plain_record(&area, 0, 2);
	len = craft_ts(crafted, 3, 1, 1000, 1000, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "batch record count 3 exceeds its last offset delta 1 + 1") == 0);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT,
			       "batch record count 3 exceeds its last offset delta 1 + 1") == 0);
	/* refused: a record timestamp after max_timestamp, the one timestamp rule kept */
	area.n = 0;
	w_plain_record(&area, 0, 0);
	w_plain_record(&area, 11, 3);
	len = craft_ts(crafted, 2, 3, 1000, 1010, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "record 1 (byte 77): timestamp delta 11 gives 1011, after the batch's max timestamp 1010") == 0);
	/* the rest of the format holds under GAPS too: bytes after the last record */
	area.n = 0;
	w_plain_record(&area, 0, 1);
	w_raw(&area, "\0", 1);
	len = craft_ts(crafted, 1, 1, 1000, 1000, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "batch record count 1, but 1 more bytes follow its last record (byte 75)") == 0);
}

/*
 * The empty batch: GAPS only, in its one shape (no records area,
 * compression none); the header functions and the reader agree; dense
 * callers still refuse it as before.
 */
static void test_validate_empty_batch(void)
{
	static struct elog_record_view view;
	struct elog_batch_reader reader;
	struct elog_batch_header h;
	struct elog_err err;
	struct wbuf area = {.n = 0};
	size_t len;

	len = craft(crafted, 0, 0, 6, U8(""), 0);
	T_EQ_INT(len, ELOG_BATCH_HEADER_SIZE);
	elog_put64(crafted, 70);
	T_CHECK(expect_valid(crafted, len, &gaps_rules, 0, NULL) == 0);
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "batch record count 0, expected at least 1") == 0);
	T_CHECK(elog_batch_header_decode(crafted, len, &h, &err) == -1);
	T_CHECK(elog_batch_check(crafted, len, &h, &err) == -1);
	T_CHECK(elog_batch_header_decode_as(crafted, len, ELOG_BATCH_OFFSETS_DENSE, &h, &err) == -1);
	T_CHECK(elog_batch_check_as(crafted, len, ELOG_BATCH_OFFSETS_DENSE, &h, &err) == -1);
	T_OK(elog_batch_header_decode_as(crafted, len, ELOG_BATCH_OFFSETS_GAPS, &h, &err), &err);
	T_OK(elog_batch_check_as(crafted, len, ELOG_BATCH_OFFSETS_GAPS, &h, &err), &err);
	T_EQ_INT(h.record_count, 0);
	T_EQ_INT(elog_batch_last_offset(&h), 76);
	T_EQ_INT(elog_batch_total_size(&h), ELOG_BATCH_HEADER_SIZE);
	/* the reader: open, then no record, again and again */
	elog_batch_reader_init(&reader);
	reader.rules = gaps_rules;
	T_OK(elog_batch_reader_open(&reader, crafted, len, &err), &err);
	T_EQ_INT(elog_batch_reader_next(&reader, &view, &err), 0);
	T_EQ_INT(elog_batch_reader_next(&reader, &view, &err), 0);
	T_CHECK(reader.validator.records == reader.validator.records_end && reader.validator.records != NULL);
	elog_batch_reader_release(&reader);
	/* a control batch may be empty too */
	len = craft(crafted, ELOG_BATCH_ATTR_CONTROL, 0, 0, U8(""), 0);
	T_CHECK(expect_valid(crafted, len, &gaps_rules, 0, NULL) == 0);
	/* refused: compression bits on an empty batch, or a records area */
	len = craft(crafted, ELOG_COMPRESS_LZ4, 0, 6, U8(""), 0);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "batch record count 0 with compression lz4 (an empty batch has none)") == 0);
	len = craft(crafted, ELOG_COMPRESS_ZLIB, 0, 6, U8("\1\0\0\0\0"), 5);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT, "batch record count 0 with compression zlib") == 0);
	w_plain_record(&area, 0, 0);
	len = craft(crafted, 0, 0, 6, area.b, area.n);
	T_CHECK(expect_invalid(crafted, len, &gaps_rules, ELOG_E_CORRUPT,
			       "batch record count 0 with batch length 63 (an empty batch is 52: no records area)") == 0);
	T_CHECK(elog_batch_header_decode_as(crafted, len, ELOG_BATCH_OFFSETS_GAPS, &h, &err) == -1);
	/* every bit flip of an empty batch is refused, but those of base_offset (outside the crc) */
	len = craft(crafted, 0, 0, 6, U8(""), 0);
	for (size_t bit = 8 * 8; bit < 8 * len; bit++) {
		crafted[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		T_CHECK(elog_batch_check_as(crafted, len, ELOG_BATCH_OFFSETS_GAPS, NULL, NULL) == -1);
		crafted[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/*
 * elog_batch_write rewrites stored records: every other record of a
 * builder's batch, for each codec, gives a batch valid under GAPS that
 * reads back to exactly those records with their offsets, keeping the
 * header and its codec; the reader hands out each record's bytes.
 */
static void test_batch_write(void)
{
	static struct elog_record_view view;
	static uint8_t kept[1 << 16], out_buf[1 << 16];
	struct elog_record recs[8];
	size_t n = sample_records(recs);
	struct elog_batch_reader reader;
	struct elog_err err;

	elog_batch_reader_init(&reader);
	for (size_t c = 0; c < ARRAY_SIZE(all_compressions); c++) {
		struct elog_batch_builder b;
		struct elog_batch_header h, got;
		const uint8_t *out, *at;
		size_t out_len, kept_len = 0, written;
		uint32_t count = 0;
		uint8_t *stored;

		elog_batch_builder_init(&b, all_compressions[c], 0);
		b.producer_id = 9;
		b.producer_epoch = 1;
		b.base_sequence = 100;
		T_OK(build(&b, recs, n, &out, &out_len, &err), &err);
		stored = copy_of(out, out_len);
		T_ASSERT(stored);
		elog_batch_assign(stored, 500, 7);
		reader.rules.offsets = ELOG_BATCH_OFFSETS_DENSE;
		T_OK(elog_batch_reader_open(&reader, stored, out_len, &err), &err);
		h = reader.header;
		at = reader.validator.records;
		while (elog_batch_reader_next(&reader, &view, &err) == 1) {
			T_CHECK(view.encoded == at);
			at += view.encoded_len;
			if (view.offset % 2 == 0)
				continue;
			memcpy(kept + kept_len, view.encoded, view.encoded_len);
			kept_len += view.encoded_len;
			count++;
		}
		T_CHECK(at == reader.validator.records_end);
		h.record_count = count;
		T_OK(elog_batch_write(&h, kept, kept_len, out_buf, sizeof(out_buf), &written, &err), &err);
		T_CHECK(written <= elog_batch_write_bound(all_compressions[c], kept_len));
		reader.rules = gaps_rules;
		T_OK(elog_batch_reader_open(&reader, out_buf, written, &err), &err);
		got = reader.header;
		T_CHECK(got.base_offset == 500 && got.leader_term == 7 && got.last_offset_delta == n - 1);
		T_CHECK(got.attributes == h.attributes && got.producer_id == 9 && got.producer_epoch == 1 &&
			got.base_sequence == 100 && got.first_timestamp == h.first_timestamp &&
			got.max_timestamp == h.max_timestamp && got.record_count == count);
		for (size_t i = 1; i < n; i += 2) {
			T_EQ_INT(elog_batch_reader_next(&reader, &view, &err), 1);
			T_EQ_INT(view.offset, 500 + (int64_t)i);
			T_CHECK(record_matches(&recs[i], &view));
		}
		T_EQ_INT(elog_batch_reader_next(&reader, &view, &err), 0);
		/* one byte short of what it takes */
		T_CHECK(elog_batch_write(&h, kept, kept_len, out_buf, written - 1, &out_len, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_LIMIT);
		free(stored);
		elog_batch_builder_release(&b);
	}
	/* the codec is kept even when it does not pay (the builder would fall back to none) */
	{
		struct elog_batch_header h = {.attributes = ELOG_COMPRESS_LZ4, .last_offset_delta = 4, .record_count = 1,
					      .producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
		struct wbuf area = {.n = 0};
		size_t written;
		w_plain_record(&area, 0, 3);
		T_OK(elog_batch_write(&h, area.b, area.n, out_buf, sizeof(out_buf), &written, &err), &err);
		T_EQ_INT(out_buf[17], ELOG_COMPRESS_LZ4);
		T_CHECK(written > ELOG_BATCH_HEADER_SIZE + area.n);
		T_CHECK(expect_valid(out_buf, written, &gaps_rules, 1, NULL) == 0);
		T_CHECK(elog_batch_write(&h, area.b, area.n, out_buf, ELOG_BATCH_HEADER_SIZE + 6, &written, &err) == -1);
		T_CHECK(err.code == ELOG_E_LIMIT && strstr(err.msg, "lz4 batch of 11 record bytes does not fit a buffer of 70 (it may take"));
		/* an empty batch: no records, no codec */
		h.record_count = 0;
		T_CHECK(elog_batch_write(&h, NULL, 0, out_buf, sizeof(out_buf), &written, &err) == -1);
		T_CHECK(err.code == ELOG_E_INVAL && !strcmp(err.msg, "cannot write a batch: batch record count 0 with compression lz4 (an empty batch has none)"));
		h.attributes = ELOG_BATCH_ATTR_CONTROL;
		T_OK(elog_batch_write(&h, NULL, 0, out_buf, ELOG_BATCH_HEADER_SIZE, &written, &err), &err);
		T_EQ_INT(written, ELOG_BATCH_HEADER_SIZE);
		T_CHECK(expect_valid(out_buf, written, &gaps_rules, 0, NULL) == 0);
		T_CHECK(elog_batch_write(&h, area.b, area.n, out_buf, sizeof(out_buf), &written, &err) == -1);
		T_CHECK(err.code == ELOG_E_INVAL && !strcmp(err.msg, "cannot write a batch of 0 records in 11 bytes"));
		h.record_count = 2;
		T_CHECK(elog_batch_write(&h, area.b, 0, out_buf, sizeof(out_buf), &written, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_INVAL);
		h.record_count = 6;   /* more records than offsets */
		T_CHECK(elog_batch_write(&h, area.b, area.n, out_buf, sizeof(out_buf), &written, &err) == -1);
		T_CHECK(err.code == ELOG_E_INVAL && strstr(err.msg, "cannot write a batch: batch record count 6 exceeds"));
		T_CHECK(elog_batch_write(&h, area.b, (size_t)ELOG_BATCH_SIZE_MAX + 1, out_buf, sizeof(out_buf), &written, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_INVAL);
		T_EQ_INT(elog_batch_write_bound(ELOG_COMPRESS_NONE, 100), ELOG_BATCH_HEADER_SIZE + 100);
		T_CHECK(elog_batch_write_bound(ELOG_COMPRESS_LZ4, 100) >= ELOG_BATCH_HEADER_SIZE + 4 + 100);
		T_CHECK(elog_batch_write_bound(ELOG_COMPRESS_ZLIB, 100) >= ELOG_BATCH_HEADER_SIZE + 4 + 100);
	}
	elog_batch_reader_release(&reader);
}

static void test_validate_limits(void)
{
	struct elog_header hs[] = {{U8("ab"), 2, U8("wxyz"), 4}, {U8("n"), 1, NULL, -1}};
	struct elog_record recs[] = {
		{.timestamp_ms = 1, .key = U8("k"), .key_len = 1, .value = U8("0123456789"), .value_len = 10},
		{.timestamp_ms = 2, .key = U8("key"), .key_len = 3, .value = U8("0123456789"), .value_len = 10,
		 .headers = hs, .header_count = 2},    /* 3 + 10 + 2 + 4 + 1 = 20 */
		{.timestamp_ms = 3, .key_len = -1, .value_len = -1},
	};
	struct elog_batch_rules rules = {.offsets = ELOG_BATCH_OFFSETS_DENSE};
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;

	for (size_t i = 0; i < ARRAY_SIZE(all_compressions); i++) {
		elog_batch_builder_init(&b, all_compressions[i], 0);
		T_OK(build(&b, recs, ARRAY_SIZE(recs), &out, &out_len, &err), &err);
		rules.record_bytes_max = 20;
		T_CHECK(expect_valid(out, out_len, &rules, 3, NULL) == 0);
		rules.record_bytes_max = 19;
		T_CHECK(expect_invalid(out, out_len, &rules, ELOG_E_LIMIT,
				       "record 1: 20 bytes of key, value and headers exceed max.record.bytes 19") == 0);
		rules.record_bytes_max = 0;
		rules.batch_bytes_max = (uint32_t)out_len;
		T_CHECK(expect_valid(out, out_len, &rules, 3, NULL) == 0);
		rules.batch_bytes_max = (uint32_t)out_len - 1;
		{
			char want[80];
			snprintf(want, sizeof(want), "batch size %zu exceeds max.batch.bytes %zu", out_len, out_len - 1);
			T_CHECK(expect_invalid(out, out_len, &rules, ELOG_E_LIMIT, want) == 0);
		}
		rules.batch_bytes_max = 0;
		elog_batch_builder_release(&b);
	}
}

/* Messages of a compressed batch count bytes of the uncompressed records. */
static void test_validate_positions_in_compressed(void)
{
	struct wbuf plain = {.n = 0}, body = {.n = 0};
	size_t len;

	for (uint32_t i = 0; i < 30; i++)
		w_plain_record(&plain, 0, i);
	w_fields(&body, 0, 30, 1, 3);
	body.b[0] = 0x20;
	w_varint(&body, 0);
	w_record(&plain, &body, 0);
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_LZ4, 31, plain.b, plain.n, 0, "");
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 30 (uncompressed byte 331): attributes 0x20, expected 0") == 0);
	len = craft_compressed(crafted, sizeof(crafted), ELOG_COMPRESS_ZLIB, 31, plain.b, plain.n, 0, "");
	T_CHECK(expect_invalid(crafted, len, NULL, ELOG_E_CORRUPT, "record 30 (uncompressed byte 331): attributes 0x20, expected 0") == 0);
}

/* Random records of every shape: whatever the builder makes, the validator accepts. */
static void test_builder_batches_validate(void)
{
	static uint8_t data[8192];
	static struct elog_header hs[ELOG_RECORD_HEADERS_MAX];
	struct elog_batch_validator v;
	struct elog_batch_reader reader;
	uint32_t seed = 2024;
	size_t checked = 0;

	fill_text(data, sizeof(data), &seed);
	elog_batch_validator_init(&v);
	elog_batch_reader_init(&reader);
	for (int round = 0; round < 300; round++) {
		enum elog_compression c = all_compressions[round % 3];
		uint32_t size_max = (uint32_t)(ELOG_BATCH_HEADER_SIZE + 256 + rng_next(&seed) % 60000);
		struct elog_record recs[64];
		struct elog_batch_builder b;
		struct elog_batch_rules rules = {0};
		struct elog_err err;
		const uint8_t *out;
		size_t out_len, n = 0;
		uint64_t largest = 0;

		elog_batch_builder_init(&b, c, size_max);
		for (; n < ARRAY_SIZE(recs); n++) {
			struct elog_record *r = &recs[n];
			uint32_t hc = rng_next(&seed) % 4 == 0 ? rng_next(&seed) % (ELOG_RECORD_HEADERS_MAX + 1) : 0;
			uint64_t size = 0;
			memset(r, 0, sizeof(*r));
			r->timestamp_ms = rng_next(&seed) % 8 == 0 ? (int64_t)((uint64_t)rng_next(&seed) << 40) * -1
								   : 1700000000000 + (int64_t)(rng_next(&seed) % 100000);
			r->key_len = (int32_t)(rng_next(&seed) % 40) - 1;
			r->key = r->key_len > 0 ? data + rng_next(&seed) % 4096 : r->key_len == 0 ? data : NULL;
			r->value_len = (int32_t)(rng_next(&seed) % 3000) - 1;
			r->value = r->value_len > 0 ? data + rng_next(&seed) % 4096 : r->value_len == 0 ? data : NULL;
			for (uint32_t k = 0; k < hc; k++)
				hs[k] = (struct elog_header){data + k, k % 7, k % 5 ? data + k : NULL, k % 5 ? (int32_t)(k % 13) : -1};
			r->headers = hc ? hs : NULL;
			r->header_count = hc;
			if (elog_batch_builder_add(&b, r, &err) < 0) {
				T_EQ_INT(err.code, ELOG_E_LIMIT);
				break;
			}
			size = (uint64_t)(r->key_len > 0 ? r->key_len : 0) + (uint64_t)(r->value_len > 0 ? r->value_len : 0);
			for (uint32_t k = 0; k < hc; k++)
				size += hs[k].name_len + (uint64_t)(hs[k].value_len > 0 ? hs[k].value_len : 0);
			if (size > largest)
				largest = size;
		}
		if (n == 0) {
			elog_batch_builder_release(&b);
			continue;
		}
		T_OK(elog_batch_builder_finish(&b, &out, &out_len, &err), &err);
		T_OK(elog_batch_validate(&v, out, out_len, NULL, &err), &err);
		T_EQ_INT(v.header.record_count, n);
		rules.record_bytes_max = (uint32_t)largest;
		rules.batch_bytes_max = (uint32_t)out_len;
		T_OK(elog_batch_validate(&v, out, out_len, &rules, &err), &err);
		rules.record_bytes_max = (uint32_t)largest - 1;
		if (largest > 0) {
			T_CHECK(elog_batch_validate(&v, out, out_len, &rules, &err) == -1);
			T_EQ_INT(err.code, ELOG_E_LIMIT);
		}
		T_ASSERT(verify_batch(&reader, out, out_len, recs, n, 0) == 0);
		checked++;
		elog_batch_builder_release(&b);
	}
	T_CHECK(checked > 250);
	elog_batch_reader_release(&reader);
	elog_batch_validator_release(&v);
}

/* One validator for many batches: buffers reused, records point where they should. */
static void test_validator_reuse(void)
{
	struct elog_record recs[8];
	size_t n = sample_records(recs);
	struct elog_batch_validator v;
	struct elog_err err;
	const uint8_t *outs[3];
	size_t lens[3];
	struct elog_batch_builder b[3];
	uint8_t *plain_before = NULL;

	elog_batch_validator_init(&v);
	for (size_t i = 0; i < 3; i++) {
		elog_batch_builder_init(&b[i], all_compressions[i], 0);
		T_OK(build(&b[i], recs, n, &outs[i], &lens[i], &err), &err);
	}
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < 3; i++) {
			T_OK(elog_batch_validate(&v, outs[i], lens[i], NULL, &err), &err);
			if (i == 0) {
				T_CHECK(v.records == outs[0] + ELOG_BATCH_HEADER_SIZE);
				T_CHECK(v.records_end == outs[0] + lens[0]);
				T_CHECK(!v.compressed);
			} else {
				T_CHECK(v.records == v.plain && v.compressed);
				T_EQ_INT(v.records_end - v.records, elog_batch_builder_bytes(&b[i]));
				if (plain_before)
					T_CHECK(v.plain == plain_before);  /* warm: no new allocation */
				plain_before = v.plain;
			}
		}
	/* A failure leaves no records to look at. */
	T_CHECK(elog_batch_validate(&v, outs[1], lens[1] - 1, NULL, &err) == -1);
	T_CHECK(v.records == NULL && v.records_end == NULL);
	for (size_t i = 0; i < 3; i++)
		elog_batch_builder_release(&b[i]);
	elog_batch_validator_release(&v);
}

static void test_incompressible_falls_back(void)
{
	/* Few, large random values: the record framing is too little to compress. */
	enum { N = 8, SIZE = 2000 };
	static uint8_t noise[N * SIZE];
	struct elog_record recs[N];
	uint32_t seed = 4242;

	fill_random(noise, sizeof(noise), &seed);
	for (size_t i = 0; i < N; i++)
		recs[i] = (struct elog_record){.timestamp_ms = (int64_t)i, .key = noise + i * SIZE, .key_len = 4,
					       .value = noise + i * SIZE + 4, .value_len = SIZE - 4};
	for (size_t i = 0; i < ARRAY_SIZE(all_compressions); i++) {
		struct elog_batch_builder b;
		struct elog_batch_reader reader;
		struct elog_err err;
		const uint8_t *out;
		size_t out_len;

		elog_batch_builder_init(&b, all_compressions[i], 0);
		elog_batch_reader_init(&reader);
		T_OK(build(&b, recs, N, &out, &out_len, &err), &err);
		T_EQ_INT(out[17] & ELOG_BATCH_ATTR_COMPRESSION_MASK, ELOG_COMPRESS_NONE);
		T_EQ_INT(out_len, ELOG_BATCH_HEADER_SIZE + elog_batch_builder_bytes(&b));
		T_ASSERT(verify_batch(&reader, out, out_len, recs, N, 0) == 0);

		/* A tiny record does not compress either. */
		elog_batch_builder_reset(&b);
		T_OK(build(&b, &(struct elog_record){.key_len = -1, .value_len = 0, .value = U8("")}, 1,
			   &out, &out_len, &err), &err);
		T_EQ_INT(out[17], ELOG_COMPRESS_NONE);
		elog_batch_reader_release(&reader);
		elog_batch_builder_release(&b);
	}
}

/* ------------------------------------------------------------ a million records */

enum { MILLION = 1000000, VALUE_SIZE = 100, BATCH_BYTES = 16 << 10 };

static void million_value(uint8_t *v, uint32_t i)
{
	/* Compressible but varying: a counter, then text chosen by the counter. */
	static const char text[] = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";
	elog_put32(v, i);
	for (size_t k = 4; k < VALUE_SIZE; k++)
		v[k] = (uint8_t)text[(k + i % 7) % (sizeof(text) - 1)];
}

/* Finish, copy, assign offsets as a leader would, read back and compare. */
static int million_flush(struct elog_batch_builder *b, struct elog_batch_reader *reader, uint8_t *scratch,
			 int64_t *next_offset, size_t *compressed)
{
	static struct elog_record_view view;
	uint8_t expect[VALUE_SIZE], key[4];
	struct elog_err err;
	const uint8_t *out;
	size_t out_len;
	int rc;

	if (elog_batch_builder_finish(b, &out, &out_len, &err) < 0)
		return -1;
	memcpy(scratch, out, out_len);
	elog_batch_assign(scratch, *next_offset, 1);
	*compressed += (scratch[17] & ELOG_BATCH_ATTR_COMPRESSION_MASK) != ELOG_COMPRESS_NONE;
	if (elog_batch_reader_open(reader, scratch, out_len, &err) < 0)
		return -1;
	while ((rc = elog_batch_reader_next(reader, &view, &err)) == 1) {
		uint32_t i = (uint32_t)view.offset;
		million_value(expect, i);
		elog_put32(key, i);
		if (view.offset != *next_offset || view.timestamp_ms != 1700000000000 + (int64_t)i / 10 ||
		    view.value_len != VALUE_SIZE || memcmp(view.value, expect, VALUE_SIZE) ||
		    view.key_len != 4 || memcmp(view.key, key, 4) || view.header_count != 0)
			return -1;
		(*next_offset)++;
	}
	elog_batch_builder_reset(b);
	return rc;
}

static int million(enum elog_compression c, size_t *batches, size_t *compressed)
{
	static uint8_t scratch[BATCH_BYTES];
	struct elog_batch_builder b;
	struct elog_batch_reader reader;
	struct elog_err err;
	uint8_t value[VALUE_SIZE], key[4];
	int64_t next_offset = 0;
	int rc = 0;

	elog_batch_builder_init(&b, c, BATCH_BYTES);
	elog_batch_reader_init(&reader);
	for (uint32_t i = 0; i < MILLION && rc == 0; i++) {
		struct elog_record r = {.timestamp_ms = 1700000000000 + (int64_t)i / 10, .key = key, .key_len = 4,
					.value = value, .value_len = VALUE_SIZE};
		million_value(value, i);
		elog_put32(key, i);
		if (elog_batch_builder_add(&b, &r, &err) == 0)
			continue;
		if (err.code != ELOG_E_LIMIT || elog_batch_builder_count(&b) == 0)
			rc = -1;
		else if (million_flush(&b, &reader, scratch, &next_offset, compressed) < 0)
			rc = -1;
		else
			rc = elog_batch_builder_add(&b, &r, &err);
		*batches += rc == 0;
	}
	if (rc == 0 && million_flush(&b, &reader, scratch, &next_offset, compressed) < 0)
		rc = -1;
	*batches += rc == 0;
	elog_batch_reader_release(&reader);
	elog_batch_builder_release(&b);
	return rc == 0 && next_offset == MILLION ? 0 : -1;
}

static void test_million_records(void)
{
	enum elog_compression codecs[] = {ELOG_COMPRESS_LZ4, ELOG_COMPRESS_ZLIB};

	for (size_t i = 0; i < ARRAY_SIZE(codecs); i++) {
		size_t batches = 0, compressed = 0;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		T_ASSERT(million(codecs[i], &batches, &compressed) == 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fprintf(stderr, "# %s: %zu batches (%zu compressed), %.2f s\n", elog_compression_name(codecs[i]),
			batches, compressed, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		T_ASSERT(batches > MILLION / (BATCH_BYTES / VALUE_SIZE));
		T_EQ_INT(compressed, batches);
	}
}

int main(void)
{
	T_RUN(test_compression_names);
	T_RUN(test_roundtrip_none);
	T_RUN(test_roundtrip_lz4);
	T_RUN(test_roundtrip_zlib);
	T_RUN(test_control_and_defaults);
	T_RUN(test_builder_rejects_invalid_records);
	T_RUN(test_size_limit_none);
	T_RUN(test_size_limit_lz4);
	T_RUN(test_assign);
	T_RUN(test_bitflip_every_position);
	T_RUN(test_bitflip_sample_large_compressed);
	T_RUN(test_bitflip_with_fixed_crc);
	T_RUN(test_truncated_every_length);
	T_RUN(test_reader_rejects_bad_lengths);
	T_RUN(test_reader_rejects_bad_offsets_and_counts);
	T_RUN(test_reader_rejects_bad_headers);
	T_RUN(test_reader_rejects_bad_compression);
	T_RUN(test_header_decode_checks);
	T_RUN(test_records_area_truncated);
	T_RUN(test_validate_issue_cases);
	T_RUN(test_validate_compressed_trailing_and_bombs);
	T_RUN(test_validate_varints_and_lengths);
	T_RUN(test_validate_offsets_dense_and_gaps);
	T_RUN(test_validate_timestamps);
	T_RUN(test_validate_gaps_rules);
	T_RUN(test_validate_empty_batch);
	T_RUN(test_batch_write);
	T_RUN(test_validate_limits);
	T_RUN(test_validate_positions_in_compressed);
	T_RUN(test_builder_batches_validate);
	T_RUN(test_validator_reuse);
	T_RUN(test_incompressible_falls_back);
	T_RUN(test_million_records);
	return t_finish();
}
