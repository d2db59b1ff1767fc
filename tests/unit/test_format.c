/* Unit tests: format — kcat-style -f tokens, escapes, errors, rendering;
 * the output modes (elog_output_render). */
#include "t.h"
#include "format.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct elog_format fmt;
static struct elog_buf out;

static void record(struct elog_record_view *v)
{
	static const uint8_t key[] = "user-7", value[] = "{\"id\":7}";

	memset(v, 0, sizeof(*v));
	v->offset = 42;
	v->timestamp_ms = 1700000000123;
	v->key = key;
	v->key_len = 6;
	v->value = value;
	v->value_len = 8;
	v->header_count = 3;
	v->headers[0] = (struct elog_header){(const uint8_t *)"trace", 5, (const uint8_t *)"ab12", 4};
	v->headers[1] = (struct elog_header){(const uint8_t *)"retry", 5, NULL, -1};
	v->headers[2] = (struct elog_header){(const uint8_t *)"e", 1, (const uint8_t *)"", 0};
}

/* Render the record with text; 1 if the output is want (want_len bytes). */
static int renders(const char *text, const struct elog_record_view *v, const char *want,
		   size_t want_len)
{
	struct elog_err err;

	if (elog_format_compile(&fmt, text, &err) < 0) {
		fprintf(stderr, "  compile %s: %s\n", text, err.msg);
		return 0;
	}
	elog_buf_reset(&out);
	if (elog_format_render(&fmt, &out, "orders", 6, 3, v, &err) < 0) {
		fprintf(stderr, "  render %s: %s\n", text, err.msg);
		return 0;
	}
	if (out.len == want_len && memcmp(out.data, want, want_len) == 0)
		return 1;
	fprintf(stderr, "  format %s\n  got:  %.*s\n  want: %.*s\n", text, (int)out.len,
		(const char *)out.data, (int)want_len, want);
	return 0;
}

#define RENDERS(text, v, want) renders(text, v, want, sizeof(want) - 1)

static void test_every_token(void)
{
	struct elog_record_view v;

	record(&v);
	T_CHECK(RENDERS("%t", &v, "orders"));
	T_CHECK(RENDERS("%p", &v, "3"));
	T_CHECK(RENDERS("%o", &v, "42"));
	T_CHECK(RENDERS("%k", &v, "user-7"));
	T_CHECK(RENDERS("%K", &v, "6"));
	T_CHECK(RENDERS("%s", &v, "{\"id\":7}"));
	T_CHECK(RENDERS("%S", &v, "8"));
	T_CHECK(renders("%R", &v, "\0\0\0\x08", 4));
	T_CHECK(RENDERS("%h", &v, "trace=ab12,retry,e="));
	T_CHECK(RENDERS("%T", &v, "1700000000123"));
	T_CHECK(RENDERS("%D", &v, "2023-11-14T22:13:20.123Z"));
	T_CHECK(RENDERS("%%", &v, "%"));
	T_CHECK(RENDERS("", &v, ""));
	T_CHECK(RENDERS("%t/%p@%o %k=%s (%K/%S bytes) [%h] %T\n", &v,
			"orders/3@42 user-7={\"id\":7} (6/8 bytes) [trace=ab12,retry,e=] 1700000000123\n"));
	T_CHECK(RENDERS("100%% %s%%", &v, "100% {\"id\":7}%"));
}

static void test_escapes(void)
{
	struct elog_record_view v;

	record(&v);
	T_CHECK(RENDERS("a\\tb\\nc\\rd\\\\e", &v, "a\tb\nc\rd\\e"));
	T_CHECK(renders("%o\\0", &v, "42\0", 3));
	/* \xHH: two hex digits; \NNN: one to three octal digits, at most \377 */
	T_CHECK(RENDERS("\\x41\\x7e\\xFf", &v, "A~\xff"));
	T_CHECK(RENDERS("\\101\\60\\7|\\377", &v, "A0\a|\xff"));
	T_CHECK(RENDERS("\\1234\\x414", &v, "S4A4"));
	T_CHECK(renders("\\08", &v, "\0" "8", 2));
}

static void test_nulls_and_empties(void)
{
	struct elog_record_view v;

	record(&v);
	v.key = NULL;
	v.key_len = -1;
	v.value = NULL;
	v.value_len = -1;
	v.header_count = 0;
	T_CHECK(RENDERS("[%k][%K][%s][%S][%h]", &v, "[][-1][][-1][]"));
	T_CHECK(renders("%R", &v, "\xff\xff\xff\xff", 4));
	v.key = (const uint8_t *)"";
	v.key_len = 0;
	T_CHECK(RENDERS("[%k][%K]", &v, "[][0]"));
}

static void test_binary_bytes_raw(void)
{
	static const uint8_t bin[] = {0, 0xff, '\n', '%'};
	struct elog_record_view v;

	record(&v);
	v.value = bin;
	v.value_len = 4;
	v.key = bin;
	v.key_len = 1;
	T_CHECK(renders("%s|%k", &v, "\0\xff\n%|\0", 6));
}

static void test_numbers(void)
{
	struct elog_record_view v;

	record(&v);
	v.offset = 0;
	v.timestamp_ms = -1;
	T_CHECK(RENDERS("%o %T %D", &v, "0 -1 1969-12-31T23:59:59.999Z"));
	v.offset = INT64_MAX;
	v.timestamp_ms = INT64_MIN;
	T_CHECK(RENDERS("%o %T", &v, "9223372036854775807 -9223372036854775808"));
	v.timestamp_ms = 0;
	T_CHECK(RENDERS("%D", &v, "1970-01-01T00:00:00.000Z"));
}

static void test_compile_errors(void)
{
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
		{"%x", "unknown token %x at character 1"},
		{"ab%", "lone % at the end"},
		{"ab\\", "lone \\ at the end"},
		{"ab\\x", "unknown escape \\x at character 3"},
		{"\\x4", "unknown escape \\x at character 1"},
		{"\\xg0", "unknown escape \\x at character 1"},
		{"a\\400", "unknown escape \\4 at character 2"},
		{"\\8", "unknown escape \\8 at character 1"},
		{"\\%", "unknown escape \\% at character 1"},
		{"% ", "unknown token %\\x20 at character 1"},
		{"%s%\x01", "unknown token %\\x01 at character 3"},
		{"%d", "unknown token %d at character 1"},
	};
	struct elog_err err;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		T_CHECK(elog_format_compile(&fmt, cases[i].text, &err) < 0);
		if (strcmp(err.msg, cases[i].reason) != 0) {
			fprintf(stderr, "  format %s\n  got:  %s\n  want: %s\n", cases[i].text, err.msg,
				cases[i].reason);
			T_CHECK(0);
		}
		T_CHECK(err.code == ELOG_E_INVAL);
	}
}

static void test_limits(void)
{
	static char text[ELOG_FORMAT_TEXT_MAX + 2];
	struct elog_record_view v;
	struct elog_buf small;
	struct elog_err err;

	/* the longest format is fine, one more byte is not */
	memset(text, 'a', ELOG_FORMAT_TEXT_MAX);
	text[ELOG_FORMAT_TEXT_MAX] = '\0';
	T_OK(elog_format_compile(&fmt, text, &err), &err);
	T_EQ_INT(fmt.item_count, 1);
	text[ELOG_FORMAT_TEXT_MAX] = 'a';
	T_CHECK(elog_format_compile(&fmt, text, &err) < 0 && err.code == ELOG_E_LIMIT);
	/* too many tokens */
	for (size_t i = 0; i + 1 < ELOG_FORMAT_TEXT_MAX; i += 2)
		memcpy(text + i, "%o", 2);
	text[ELOG_FORMAT_TEXT_MAX] = '\0';
	T_CHECK(elog_format_compile(&fmt, text, &err) < 0 && err.code == ELOG_E_LIMIT);
	T_CHECK(strcmp(err.msg, "more than 256 tokens") == 0);
	/* rendering into a full buffer changes nothing */
	record(&v);
	T_OK(elog_format_compile(&fmt, "%t %s %h\n", &err), &err);
	elog_buf_init(&small, 20);
	T_OK(elog_buf_add(&small, "0123456789", 10, &err), &err);
	T_CHECK(elog_format_render(&fmt, &small, "orders", 6, 0, &v, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT && small.len == 10);
	elog_buf_release(&small);
}

static void test_output_modes(void)
{
	static const char json[] = "{\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
				   "\"timestamp\":1700000000123,\"key\":\"user-7\",\"headers\":"
				   "[[\"trace\",\"ab12\"],[\"retry\",null],[\"e\",\"\"]],"
				   "\"value\":{\"id\":7}}\n";
	struct elog_record_view v;
	struct elog_buf small;
	struct elog_err err;

	record(&v);
	elog_buf_reset(&out);
	T_OK(elog_output_render(ELOG_OUTPUT_VALUE, NULL, &out, "orders", 6, 3, &v, &err), &err);
	T_CHECK(out.len == 9 && memcmp(out.data, "{\"id\":7}\n", 9) == 0);
	/* A tombstone: an empty line. */
	v.value = NULL;
	v.value_len = -1;
	elog_buf_reset(&out);
	T_OK(elog_output_render(ELOG_OUTPUT_VALUE, NULL, &out, "orders", 6, 3, &v, &err), &err);
	T_CHECK(out.len == 1 && out.data[0] == '\n');
	record(&v);
	elog_buf_reset(&out);
	T_OK(elog_output_render(ELOG_OUTPUT_JSON, NULL, &out, "orders", 6, 3, &v, &err), &err);
	T_CHECK(out.len == sizeof(json) - 1 && memcmp(out.data, json, out.len) == 0);
	T_OK(elog_format_compile(&fmt, "%p:%o", &err), &err);
	elog_buf_reset(&out);
	T_OK(elog_output_render(ELOG_OUTPUT_FORMAT, &fmt, &out, "orders", 6, 3, &v, &err), &err);
	T_CHECK(out.len == 4 && memcmp(out.data, "3:42", 4) == 0);
	/* All or nothing in every mode. */
	elog_buf_init(&small, 12);
	T_OK(elog_buf_add(&small, "0123456789", 10, &err), &err);
	T_CHECK(elog_output_render(ELOG_OUTPUT_VALUE, NULL, &small, "orders", 6, 3, &v, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT && small.len == 10);
	T_CHECK(elog_output_render(ELOG_OUTPUT_JSON, NULL, &small, "orders", 6, 3, &v, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT && small.len == 10);
	elog_buf_release(&small);
}

int main(void)
{
	elog_buf_init(&out, 1 << 20);
	T_RUN(test_every_token);
	T_RUN(test_escapes);
	T_RUN(test_nulls_and_empties);
	T_RUN(test_binary_bytes_raw);
	T_RUN(test_numbers);
	T_RUN(test_compile_errors);
	T_RUN(test_limits);
	T_RUN(test_output_modes);
	elog_buf_release(&out);
	return t_finish();
}
