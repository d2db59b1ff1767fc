/* Unit tests: lineconv — a line into a record, in every mode, with keys,
 * headers, partitions and limits, and the reasons lines are rejected. */
#include "t.h"
#include "lineconv.h"

static struct elog_lineconv lc;
static struct elog_lineconv_result out;
static struct elog_err err;

static int conv_open(const struct elog_lineconv_config *cfg)
{
	return elog_lineconv_init(&lc, cfg, &err);
}

static int conv(const char *line)
{
	return elog_lineconv_convert(&lc, line, strlen(line), &out, &err);
}

static int span_is(const uint8_t *p, int32_t len, const char *want)
{
	if (!want)
		return len == -1;
	return len == (int32_t)strlen(want) && memcmp(p, want, (size_t)len) == 0;
}

static void config(struct elog_lineconv_config *cfg, enum elog_lineconv_mode mode)
{
	elog_lineconv_config_init(cfg);
	cfg->mode = mode;
	cfg->record_bytes_max = 1024;
	cfg->timestamp_default = -7;
}

static void test_json_lines(void)
{
	struct elog_lineconv_config cfg;

	config(&cfg, ELOG_LINECONV_JSON);
	T_OK(conv_open(&cfg), &err);
	T_OK(conv("{\"a\":1}"), &err);
	T_CHECK(span_is(out.record.value, out.record.value_len, "{\"a\":1}"));
	T_CHECK(out.record.key_len == -1 && out.partition == -1 && !out.warning);
	T_CHECK(out.record.timestamp_ms == -7 && out.record.header_count == 0);
	/* CRLF: the CR is not the value's */
	T_OK(conv("[1]\r"), &err);
	T_CHECK(span_is(out.record.value, out.record.value_len, "[1]"));
	T_CHECK(conv("{\"a\":1,}") == -1 && err.code == ELOG_E_INVAL);
	T_CHECK(strncmp(err.msg, "invalid JSON: ", 14) == 0);
	T_CHECK(conv("") == -1 && strcmp(err.msg, "invalid JSON: empty input") == 0);
	elog_lineconv_release(&lc);
}

static void test_raw_lines(void)
{
	struct elog_lineconv_config cfg;

	config(&cfg, ELOG_LINECONV_RAW);
	T_OK(conv_open(&cfg), &err);
	T_OK(conv("not json\r"), &err);
	T_CHECK(span_is(out.record.value, out.record.value_len, "not json\r"));
	T_OK(conv(""), &err);
	T_CHECK(out.record.value_len == 0);
	elog_lineconv_release(&lc);
}

static void test_key_field(void)
{
	struct elog_lineconv_config cfg;

	config(&cfg, ELOG_LINECONV_JSON);
	cfg.key_field = "id";
	T_OK(conv_open(&cfg), &err);
	T_OK(conv("{\"id\":\"b\\u0041\",\"v\":1}"), &err);
	T_CHECK(span_is(out.record.key, out.record.key_len, "bA") && !out.warning);
	T_OK(conv("{\"id\":21}"), &err);
	T_CHECK(span_is(out.record.key, out.record.key_len, "21"));
	T_OK(conv("{\"v\":2}"), &err);
	T_CHECK(out.record.key_len == -1 && out.warning && strcmp(out.warning, "no field \"id\"") == 0);
	T_OK(conv("{\"id\":null}"), &err);
	T_CHECK(out.warning && strcmp(out.warning, "null field \"id\"") == 0);
	T_OK(conv("[1]"), &err);
	T_CHECK(out.warning && strcmp(out.warning, "not an object, so no field \"id\"") == 0);
	T_CHECK(conv("{\"id\":{\"x\":1}}") == -1);
	T_CHECK(strcmp(err.msg, "key field \"id\" is an object, not a string or a number") == 0);
	T_CHECK(conv("{\"id\":true}") == -1 && strstr(err.msg, "a boolean") != NULL);
	elog_lineconv_release(&lc);
}

static void test_key_delimiter(void)
{
	struct elog_lineconv_config cfg;

	config(&cfg, ELOG_LINECONV_JSON);
	cfg.key_delimiter = "::";
	cfg.key_delimiter_len = 2;
	T_OK(conv_open(&cfg), &err);
	T_OK(conv("k1::{\"a\":1}"), &err);
	T_CHECK(span_is(out.record.key, out.record.key_len, "k1"));
	T_CHECK(span_is(out.record.value, out.record.value_len, "{\"a\":1}"));
	T_OK(conv("::[2]"), &err);
	T_CHECK(out.record.key_len == 0);
	T_OK(conv("{\"no\":1}"), &err);
	T_CHECK(out.record.key_len == -1 && out.warning && strcmp(out.warning, "no key delimiter") == 0);
	T_CHECK(conv("k3::bad") == -1);
	T_CHECK(strcmp(err.msg, "invalid JSON value: unexpected 'b' at byte 0, expected a value") == 0);
	elog_lineconv_release(&lc);
}

static void test_envelope_partition_and_headers(void)
{
	static const struct elog_header extra[1] = {{(const uint8_t *)"h", 1, (const uint8_t *)"v", 1}};
	struct elog_lineconv_config cfg;
	const char *line = "{\"partition\":5,\"timestamp\":9,\"key\":\"k\",\"headers\":[[\"a\",null]],"
			   "\"value\":{\"x\":1}}";

	config(&cfg, ELOG_LINECONV_ENVELOPE);
	cfg.headers = extra;
	cfg.header_count = 1;
	T_OK(conv_open(&cfg), &err);
	/* By default the envelope's partition is not honoured: the key decides. */
	T_OK(conv(line), &err);
	T_EQ_INT(out.partition, -1);
	T_CHECK(span_is(out.record.key, out.record.key_len, "k"));
	T_CHECK(span_is(out.record.value, out.record.value_len, "{\"x\":1}"));
	T_EQ_INT(out.record.timestamp_ms, 9);
	T_EQ_INT(out.record.header_count, 2);
	T_CHECK(span_is(out.record.headers[0].name, (int32_t)out.record.headers[0].name_len, "a"));
	T_CHECK(out.record.headers[0].value_len == -1);
	T_CHECK(span_is(out.record.headers[1].value, out.record.headers[1].value_len, "v"));
	/* no timestamp: the default */
	T_OK(conv("{\"value\":1}"), &err);
	T_EQ_INT(out.record.timestamp_ms, -7);
	T_CHECK(conv("{\"valu\":1}") == -1);
	T_CHECK(strcmp(err.msg, "invalid envelope: unknown member \"valu\"") == 0);
	elog_lineconv_release(&lc);

	/* keep_partition: honoured, and checked once the partition count is known. */
	cfg.keep_partition = 1;
	T_OK(conv_open(&cfg), &err);
	T_OK(conv(line), &err);
	T_EQ_INT(out.partition, 5);
	elog_lineconv_set_partition_count(&lc, 3);
	T_CHECK(conv(line) == -1 && strcmp(err.msg, "partition 5 out of range: the topic has 3") == 0);
	T_OK(conv("{\"value\":1}"), &err);
	T_EQ_INT(out.partition, -1);
	elog_lineconv_release(&lc);
}

static void test_limits(void)
{
	struct elog_lineconv_config cfg;
	static const struct elog_header pad[1] = {{(const uint8_t *)"pad", 3,
						   (const uint8_t *)"0123456789", 10}};

	config(&cfg, ELOG_LINECONV_JSON);
	cfg.record_bytes_max = 20;
	cfg.headers = pad;
	cfg.header_count = 1;
	T_OK(conv_open(&cfg), &err);
	T_EQ_INT(lc.line_bytes_max, 20);
	T_OK(conv("1234567"), &err);
	T_CHECK(conv("{\"a\":12345678}") == -1 && err.code == ELOG_E_LIMIT);
	T_CHECK(strcmp(err.msg, "record too large: 27 bytes with key and headers, the limit is 20") == 0);
	T_CHECK(conv("{\"a\":123456789012345678}") == -1);
	T_CHECK(strcmp(err.msg, "line longer than 20 bytes") == 0);
	elog_lineconv_release(&lc);

	T_EQ_INT(elog_lineconv_line_bytes_max(ELOG_LINECONV_ENVELOPE, 100), 200 + (64 << 10));
	T_EQ_INT(elog_lineconv_line_bytes_max(ELOG_LINECONV_RAW, UINT64_C(1) << 40), 1u << 30);
}

static void test_bad_configs(void)
{
	struct elog_lineconv_config cfg;

	config(&cfg, ELOG_LINECONV_ENVELOPE);
	cfg.key_field = "id";
	T_CHECK(conv_open(&cfg) == -1 && err.code == ELOG_E_INVAL);
	elog_lineconv_release(&lc);
	config(&cfg, ELOG_LINECONV_RAW);
	cfg.key_field = "id";
	T_CHECK(conv_open(&cfg) == -1);
	elog_lineconv_release(&lc);
	config(&cfg, ELOG_LINECONV_JSON);
	cfg.record_bytes_max = 0;
	T_CHECK(conv_open(&cfg) == -1);
	elog_lineconv_release(&lc);
}

int main(void)
{
	T_RUN(test_json_lines);
	T_RUN(test_raw_lines);
	T_RUN(test_key_field);
	T_RUN(test_key_delimiter);
	T_RUN(test_envelope_partition_and_headers);
	T_RUN(test_limits);
	T_RUN(test_bad_configs);
	return t_finish();
}
