/*
 * fuzz_batch — libFuzzer target for batch validation and decoding (batch.h).
 *
 * Each input is tried three ways:
 *   1. as it is: header decode, check, the validator and the reader; almost
 *      every input stops at the CRC, which is the point of this pass;
 *   2. with the CRC recomputed over the input's own batch_length, when the
 *      input holds that much, so the fuzzer reaches the records and any
 *      bytes after the batch are ignored as a next batch would be;
 *   3. with batch_length set to the input's size and the CRC recomputed, so
 *      the fuzzer only has to find the magic to walk its bytes as records.
 *
 * Round trip, every time: elog_batch_validate and elog_batch_reader_open
 * agree (same verdict, same message) under the dense rules and under the
 * GAPS rules, and a batch valid dense is valid with gaps allowed. When the
 * validator accepts, the reader decodes exactly record_count records
 * without an error, at dense offsets (or strictly increasing ones ending at
 * last_offset_delta, with gaps), max.record.bytes set to the largest
 * record still passes and one byte less fails with ELOG_E_LIMIT; the
 * records are then rebuilt with the builder, and the rebuilt batch must be
 * valid and read back to the same records. When the validator refuses, the
 * reader refuses too.
 *
 * With ELOG_FUZZ_SEEDS=<dir> in the environment, LLVMFuzzerInitialize
 * writes a few well-formed batches into <dir> first (tests/fuzz/run does
 * this with the corpus directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "bytes.h"
#include "crc32c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct elog_batch_reader reader, reader_again, reader_rebuilt, reader_gaps;
static struct elog_batch_validator validator;
static struct elog_batch_builder builder;
static struct elog_record_view view, view_again;

#define REQUIRE(cond) do { if (!(cond)) { \
		fprintf(stderr, "fuzz_batch: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

static int bytes_equal(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	if (alen != blen)
		return 0;
	if (alen == -1)
		return a == NULL && b == NULL;
	return alen == 0 || memcmp(a, b, (size_t)alen) == 0;
}

static int views_equal(const struct elog_record_view *a, const struct elog_record_view *b)
{
	if (a->timestamp_ms != b->timestamp_ms || a->header_count != b->header_count ||
	    !bytes_equal(a->key, a->key_len, b->key, b->key_len) ||
	    !bytes_equal(a->value, a->value_len, b->value, b->value_len))
		return 0;
	for (uint32_t i = 0; i < a->header_count; i++)
		if (!bytes_equal(a->headers[i].name, a->headers[i].name_len, b->headers[i].name,
				 b->headers[i].name_len) ||
		    !bytes_equal(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
				 b->headers[i].value_len))
			return 0;
	return 1;
}

/* Compare the accepted batch, walked again, with its rebuilt copy. */
static void compare_rebuilt(const uint8_t *buf, size_t len, const uint8_t *rebuilt, size_t rebuilt_len)
{
	struct elog_batch_header h;
	int a, b;

	REQUIRE(elog_batch_check(rebuilt, rebuilt_len, &h, NULL) == 0);
	REQUIRE(elog_batch_validate(&validator, rebuilt, rebuilt_len, NULL, NULL) == 0);
	REQUIRE(h.record_count == reader.header.record_count);
	REQUIRE(h.producer_id == reader.header.producer_id);
	REQUIRE(h.producer_epoch == reader.header.producer_epoch);
	REQUIRE(h.base_sequence == reader.header.base_sequence);
	REQUIRE((h.attributes & ELOG_BATCH_ATTR_CONTROL) == (reader.header.attributes & ELOG_BATCH_ATTR_CONTROL));
	REQUIRE(elog_batch_reader_open(&reader_again, buf, len, NULL) == 0);
	REQUIRE(elog_batch_reader_open(&reader_rebuilt, rebuilt, rebuilt_len, NULL) == 0);
	do {
		a = elog_batch_reader_next(&reader_again, &view, NULL);
		b = elog_batch_reader_next(&reader_rebuilt, &view_again, NULL);
		REQUIRE(a == b);
		REQUIRE(a != 1 || (views_equal(&view, &view_again) &&
				   view_again.offset == view.offset - reader.header.base_offset));
	} while (a == 1);
	REQUIRE(a == 0);
}

/* Size of a record for max.record.bytes: key, value, header names and values. */
static uint64_t record_bytes(const struct elog_record_view *v)
{
	uint64_t n = (uint64_t)(v->key_len > 0 ? v->key_len : 0) + (uint64_t)(v->value_len > 0 ? v->value_len : 0);

	for (uint32_t i = 0; i < v->header_count; i++)
		n += v->headers[i].name_len + (uint64_t)(v->headers[i].value_len > 0 ? v->headers[i].value_len : 0);
	return n;
}

/*
 * The validator and a reader with the same rules must give the same
 * verdict and message; returns the verdict (0 or -1).
 */
static int validate_both(struct elog_batch_reader *r, const uint8_t *buf, size_t len,
			 const struct elog_batch_rules *rules)
{
	struct elog_err verr, rerr;
	int v, o;

	r->rules = *rules;
	v = elog_batch_validate(&validator, buf, len, rules, &verr);
	o = elog_batch_reader_open(r, buf, len, &rerr);
	REQUIRE(v == o);
	REQUIRE(v == 0 || (verr.code == rerr.code && strcmp(verr.msg, rerr.msg) == 0));
	REQUIRE(v == 0 || validator.records == NULL);
	return v;
}

/* With gaps allowed: records at strictly increasing offsets, the last at last_offset_delta. */
static void walk_gaps(const struct elog_batch_header *h)
{
	int64_t previous = -1;
	uint32_t count = 0;
	int rc;

	while ((rc = elog_batch_reader_next(&reader_gaps, &view_again, NULL)) == 1) {
		REQUIRE(view_again.offset > previous);
		previous = view_again.offset;
		count++;
	}
	REQUIRE(rc == 0 && count == h->record_count);
	/* Compaction may have removed the records after the last one kept. */
	REQUIRE(previous <= elog_batch_last_offset(h));
}

/* Walk one candidate batch; if it is accepted, check it and rebuild it. */
static void walk(const uint8_t *buf, size_t len)
{
	static const struct elog_batch_rules dense = {.offsets = ELOG_BATCH_OFFSETS_DENSE};
	static const struct elog_batch_rules gaps = {.offsets = ELOG_BATCH_OFFSETS_GAPS};
	struct elog_batch_rules limited = dense;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *rebuilt;
	size_t rebuilt_len;
	uint32_t count = 0;
	uint64_t largest = 0;
	int rc, check, valid, valid_gaps, rebuild = 1;

	elog_batch_header_decode(buf, len, &h, NULL);
	check = elog_batch_check(buf, len, &h, NULL);
	valid_gaps = validate_both(&reader_gaps, buf, len, &gaps);
	if (valid_gaps == 0)
		walk_gaps(&reader_gaps.header);
	valid = validate_both(&reader, buf, len, &dense);
	if (valid < 0)
		return;
	REQUIRE(check == 0 && valid_gaps == 0);
	elog_batch_builder_reset(&builder);
	builder.compression = (enum elog_compression)(h.attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK);
	builder.producer_id = h.producer_id;
	builder.producer_epoch = h.producer_epoch;
	builder.base_sequence = h.base_sequence;
	builder.attributes_extra = h.attributes & ELOG_BATCH_ATTR_CONTROL;
	while ((rc = elog_batch_reader_next(&reader, &view, &err)) == 1) {
		struct elog_record r = {
			.timestamp_ms = view.timestamp_ms, .key = view.key, .key_len = view.key_len,
			.value = view.value, .value_len = view.value_len,
			.headers = view.headers, .header_count = view.header_count,
		};
		REQUIRE(view.offset == h.base_offset + (int64_t)count);
		if (record_bytes(&view) > largest)
			largest = record_bytes(&view);
		count++;
		if (rebuild && elog_batch_builder_add(&builder, &r, &err) < 0) {
			REQUIRE(err.code == ELOG_E_LIMIT);  /* re-encoding may grow timestamp deltas */
			rebuild = 0;
		}
	}
	/* Validated, so every record decodes. */
	REQUIRE(rc == 0);
	REQUIRE(count == h.record_count);
	REQUIRE(elog_batch_reader_next(&reader, &view, NULL) == 0);
	/* max.record.bytes is checked in the same pass, exactly. */
	if (largest > 0 && largest <= UINT32_MAX) {
		limited.record_bytes_max = (uint32_t)largest;
		REQUIRE(elog_batch_validate(&validator, buf, len, &limited, NULL) == 0);
		limited.record_bytes_max = (uint32_t)largest - 1;
		if (limited.record_bytes_max > 0) {
			REQUIRE(elog_batch_validate(&validator, buf, len, &limited, &err) == -1);
			REQUIRE(err.code == ELOG_E_LIMIT);
		}
	}
	if (rebuild && elog_batch_builder_finish(&builder, &rebuilt, &rebuilt_len, NULL) == 0)
		compare_rebuilt(buf, len, rebuilt, rebuilt_len);
}

static void fix_crc(uint8_t *buf, uint32_t batch_length)
{
	elog_put32(buf + ELOG_BATCH_PREFIX_SIZE,
		   elog_crc32c(0, buf + ELOG_BATCH_CRC_START, batch_length + ELOG_BATCH_PREFIX_SIZE - ELOG_BATCH_CRC_START));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	walk(data, size);
	if (size < ELOG_BATCH_HEADER_SIZE || size > ELOG_BATCH_SIZE_MAX)
		return 0;
	copy = malloc(size);  /* exactly sized, so ASan sees any overread */
	if (!copy)
		return 0;
	uint32_t own_length = elog_get32(data + ELOG_BATCH_LENGTH_OFFSET);
	if (own_length >= ELOG_BATCH_HEADER_SIZE - ELOG_BATCH_PREFIX_SIZE &&
	    own_length < size - ELOG_BATCH_PREFIX_SIZE) {
		memcpy(copy, data, size);
		fix_crc(copy, own_length);
		walk(copy, size);
	}
	memcpy(copy, data, size);
	elog_put32(copy + ELOG_BATCH_LENGTH_OFFSET, (uint32_t)(size - ELOG_BATCH_PREFIX_SIZE));
	fix_crc(copy, (uint32_t)(size - ELOG_BATCH_PREFIX_SIZE));
	walk(copy, size);
	free(copy);
	return 0;
}

/* ---------------------------------------------------------------- seeds */

static void write_seed(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(buf, 1, len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	static const uint8_t text[] = "replicated event log; replicated event log; offsets and terms";
	struct elog_header headers[] = {
		{(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
		{(const uint8_t *)"", 0, NULL, -1},
	};
	struct elog_record recs[] = {
		{.timestamp_ms = 1000, .key = NULL, .key_len = -1, .value = text, .value_len = sizeof(text)},
		{.timestamp_ms = 999, .key = text, .key_len = 0, .value = NULL, .value_len = -1,
		 .headers = headers, .header_count = 2},
		{.timestamp_ms = 1003, .key = text, .key_len = 8, .value = text, .value_len = sizeof(text)},
	};
	const char *names[] = {"none", "lz4", "zlib"};
	const uint8_t *out;
	size_t out_len;

	for (int c = 0; c < 3; c++) {
		elog_batch_builder_init(&builder, (enum elog_compression)c, 0);
		builder.attributes_extra = c == 0 ? ELOG_BATCH_ATTR_CONTROL : 0;
		for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
			elog_batch_builder_add(&builder, &recs[i], NULL);
		if (elog_batch_builder_finish(&builder, &out, &out_len, NULL) == 0)
			write_seed(dir, names[c], out, out_len);
		elog_batch_builder_release(&builder);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ELOG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	elog_batch_reader_init(&reader);
	elog_batch_reader_init(&reader_again);
	elog_batch_reader_init(&reader_rebuilt);
	elog_batch_reader_init(&reader_gaps);
	elog_batch_validator_init(&validator);
	if (dir && *dir)
		write_seeds(dir);
	elog_batch_builder_init(&builder, ELOG_COMPRESS_NONE, 0);
	return 0;
}
