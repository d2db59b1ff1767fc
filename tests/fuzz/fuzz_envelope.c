/*
 * fuzz_envelope — libFuzzer target for libcore/envelope.
 *
 * Each input is used twice:
 *
 *   1. as one input line for elog_envelope_decode. When the line is
 *      accepted, the record is encoded again; the output must be exactly one
 *      line of valid JSON, and decoding it must give the same record (key,
 *      value, headers, timestamp, partition), byte for byte.
 *   2. as a record: the bytes are cut into a key, a value and headers at
 *      positions taken from the input itself, encoded, and decoded again;
 *      the decoder must accept what the encoder wrote and give back exactly
 *      those bytes.
 *
 * Any disagreement aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct elog_envelope first, second;
static struct elog_buf out;
static struct elog_record_view view;

static int bytes_eq(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	return alen == blen && (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

static void check_same(const struct elog_record *r, const struct elog_record_view *v)
{
	CHECK(bytes_eq(r->key, r->key_len, v->key, v->key_len));
	CHECK(bytes_eq(r->value, r->value_len, v->value, v->value_len));
	CHECK(r->header_count == v->header_count);
	for (uint32_t i = 0; i < v->header_count; i++) {
		CHECK(bytes_eq(r->headers[i].name, r->headers[i].name_len, v->headers[i].name,
			       v->headers[i].name_len));
		CHECK(bytes_eq(r->headers[i].value, r->headers[i].value_len, v->headers[i].value,
			       v->headers[i].value_len));
	}
}

/* Encode the view, check the line's shape, decode it into `second`. */
static void encode_decode(uint32_t partition)
{
	struct elog_err err;
	const char *nl;

	elog_buf_reset(&out);
	CHECK(elog_envelope_encode(&out, "fuzz", 4, partition, &view, &err) == 0);
	CHECK(out.len >= 2 && out.data[out.len - 1] == '\n');
	nl = memchr(out.data, '\n', out.len);
	CHECK(nl == (const char *)out.data + out.len - 1);
	CHECK(elog_json_validate((const char *)out.data, out.len, ELOG_JSON_DEPTH_LIMIT, NULL,
				 &err) == 0);
	if (elog_envelope_decode(&second, (const char *)out.data, out.len, &err) < 0) {
		fprintf(stderr, "rejected own output: %s\n%.*s", err.msg, (int)out.len,
			(const char *)out.data);
		abort();
	}
	CHECK(second.has_partition && second.partition == partition);
	CHECK(second.has_timestamp && second.record.timestamp_ms == view.timestamp_ms);
	check_same(&second.record, &view);
}

static void view_from_record(const struct elog_record *r)
{
	memset(&view, 0, sizeof(view));
	view.offset = 1;
	view.timestamp_ms = r->timestamp_ms;
	view.key = r->key;
	view.key_len = r->key_len;
	view.value = r->value;
	view.value_len = r->value_len;
	view.header_count = r->header_count;
	memcpy(view.headers, r->headers, r->header_count * sizeof(r->headers[0]));
}

/* 1: a line in, and if accepted, its record out and in again. */
static void fuzz_line(const uint8_t *data, size_t size)
{
	struct elog_err err;

	if (elog_envelope_decode(&first, (const char *)data, size, &err) < 0) {
		CHECK(first.record.key_len == -1 && first.record.value_len == -1);
		CHECK(first.record.header_count == 0 && err.msg[0] != '\0');
		return;
	}
	CHECK(first.record.key_len >= -1 && first.record.value_len >= -1);
	CHECK(first.record.header_count <= ELOG_RECORD_HEADERS_MAX);
	view_from_record(&first.record);
	encode_decode(first.has_partition ? first.partition : 0);
}

/* 2: bytes cut into a record, out and in. */
static void fuzz_record(const uint8_t *data, size_t size)
{
	size_t pos = 0, cut;
	uint8_t ctl;

	if (size < 2)
		return;
	ctl = data[0];
	pos = 1;
	memset(&view, 0, sizeof(view));
	view.timestamp_ms = (int64_t)ctl * 1000 - 100000;
	/* key: the next data[pos] % 16 bytes, null when ctl bit 0 */
	cut = data[pos++] % 16;
	if (cut > size - pos)
		cut = size - pos;
	view.key = data + pos;
	view.key_len = (ctl & 1) ? -1 : (int32_t)cut;
	pos += cut;
	/* headers: ctl bits 1-3 many, each name and value up to 8 bytes */
	view.header_count = (ctl >> 1) & 7;
	for (uint32_t i = 0; i < view.header_count; i++) {
		size_t n = pos < size ? data[pos] % 8 : 0;
		if (pos < size)
			pos++;
		if (n > size - pos)
			n = size - pos;
		view.headers[i].name = data + pos;
		view.headers[i].name_len = (uint32_t)n;
		pos += n;
		n = pos < size ? data[pos] % 8 : 0;
		if (pos < size)
			pos++;
		if (n > size - pos)
			n = size - pos;
		view.headers[i].value = data + pos;
		view.headers[i].value_len = (ctl & 0x10) && i == 0 ? -1 : (int32_t)n;
		pos += n;
	}
	/* value: the rest, null when ctl bit 5 */
	view.value = data + pos;
	view.value_len = (ctl & 0x20) ? -1 : (int32_t)(size - pos);
	encode_decode(ctl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_line(data, size);
	fuzz_record(data, size);
	return 0;
}

/* ---------------------------------------------------------------- seeds */

static void write_seed(const char *dir, int i, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-envelope-%d", dir, i);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(text, 1, strlen(text), f);
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const seeds[] = {
		("{\"topic\":\"orders\",\"partition\":3,\"offset\":42,\"timestamp\":1700000000123,"
		 "\"key\":\"user-7\",\"headers\":[[\"trace\",\"ab12\"],[\"retry\",null]],"
		 "\"value\":{\"id\":7,\"total\":12.5}}\n"),
		("{\"key\":{\"base64\":\"Af8=\"},\"headers\":[[{\"base64\":\"/w==\"},\"\"]],"
		 "\"value\":\"//4=\",\"value_encoding\":\"base64\"}"),
		"{\"key\":42,\"value\":\"a\\u00e9\\n\",\"value_encoding\":\"text\"}",
		"{\"value\":null}",
		"{\"value\":\"\\/\\/4=\",\"value_encoding\":\"base64\"}",
		"{ \"value\" : [ 1 , { \"a\" : null } ] , \"timestamp\" : -1 }",
	};
	const char *dir = getenv("ELOG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	elog_envelope_init(&first, 1 << 20);
	elog_envelope_init(&second, 0);
	elog_buf_init(&out, 1 << 24);
	if (dir && *dir)
		for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
			write_seed(dir, (int)i, seeds[i]);
	return 0;
}
