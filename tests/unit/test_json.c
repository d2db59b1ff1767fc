/* Unit tests: json — RFC 8259 edges, error positions, spans, string codec, base64, int64. */
#include "t.h"
#include "json.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A document with an explicit length, so tests can hold NUL bytes. */
struct doc {
	const char *text;
	size_t len;     /* 0: strlen(text) */
};

static size_t doc_len(const struct doc *d)
{
	return d->len ? d->len : strlen(d->text);
}

static int validate(const char *text, size_t len, size_t *pos, struct elog_err *err)
{
	return elog_json_validate(text, len, ELOG_JSON_DEPTH_DEFAULT, pos, err);
}

static void test_valid_documents(void)
{
	static const struct doc docs[] = {
		{"0", 0}, {"-0", 0}, {"1", 0}, {"-1", 0}, {"1e5", 0}, {"1E+5", 0}, {"1e-5", 0},
		{"0.5", 0}, {"-0.0e0", 0}, {"123456789012345678901234567890", 0},
		{"1.7976931348623157e308", 0}, {"1E400", 0}, {"0e0", 0}, {"10", 0},
		{"true", 0}, {"false", 0}, {"null", 0},
		{"\"\"", 0}, {"\"abc\"", 0}, {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0},
		{"\"\\u0000\"", 0}, {"\"\\u00e9\\u00E9\"", 0}, {"\"\\ud83d\\ude00\"", 0},
		{"\"\\uDBFF\\uDFFF\"", 0}, {"\"\\uffff\"", 0},
		{"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"", 0},
		{"\"\x7f\"", 0}, {"\"/\"", 0},
		{"[]", 0}, {"{}", 0}, {"[ ]", 0}, {"{ }", 0}, {"[[]]", 0}, {"[{}]", 0},
		{"[1,2,3]", 0}, {"[1, \"a\", true, false, null, {}, []]", 0},
		{"{\"a\":1}", 0}, {"{\"a\":1,\"b\":[1,{\"c\":null}]}", 0}, {"{\"\":0}", 0},
		{"{\"a\":1,\"a\":2}", 0}, {" \t\r\n{ \"a\" : [ 1 , 2 ] } \t\r\n", 0},
		{" 1 ", 0}, {"\n\"x\"\n", 0}, {"{\"\\u0000\":\"\\u0000\"}", 0},
	};

	for (size_t i = 0; i < N_ELEMS(docs); i++) {
		struct elog_err err;
		size_t pos = 99;
		if (validate(docs[i].text, doc_len(&docs[i]), &pos, &err) < 0) {
			char m[ELOG_ERR_MSG_MAX + 256];
			snprintf(m, sizeof(m), "valid doc %zu (%s) rejected: %s", i, docs[i].text,
				 err.msg);
			t_fail(__FILE__, __LINE__, m);
		}
	}
}

struct invalid {
	const char *text;
	size_t len;             /* 0: strlen(text) */
	size_t pos;             /* expected error position */
	const char *msg;        /* expected message */
};

static const struct invalid invalid_docs[] = {
	/* empty and whitespace */
	{"", 0, 0, "empty input"},
	{" \t\r\n", 0, 0, "only whitespace"},
	/* numbers */
	{"01", 0, 0, "invalid number at byte 0 (leading zero)"},
	{"-01", 0, 0, "invalid number at byte 0 (leading zero)"},
	{"1.", 0, 0, "invalid number at byte 0 (no digits after '.')"},
	{"[1.]", 0, 1, "invalid number at byte 1 (no digits after '.')"},
	{".5", 0, 0, "unexpected '.' at byte 0, expected a value"},
	{"-", 0, 0, "invalid number at byte 0 (no digits)"},
	{"-a", 0, 0, "invalid number at byte 0 (no digits)"},
	{"+1", 0, 0, "unexpected '+' at byte 0, expected a value"},
	{"1e", 0, 0, "invalid number at byte 0 (no digits in exponent)"},
	{"1e+", 0, 0, "invalid number at byte 0 (no digits in exponent)"},
	{"1.5.3", 0, 3, "trailing data at byte 3"},
	{"0x10", 0, 1, "trailing data at byte 1"},
	{"NaN", 0, 0, "unexpected 'N' at byte 0, expected a value"},
	{"Infinity", 0, 0, "unexpected 'I' at byte 0, expected a value"},
	{"-Infinity", 0, 0, "invalid number at byte 0 (no digits)"},
	/* literals */
	{"tru", 0, 0, "invalid literal at byte 0"},
	{"nul", 0, 0, "invalid literal at byte 0"},
	{"True", 0, 0, "unexpected 'T' at byte 0, expected a value"},
	{"truex", 0, 4, "trailing data at byte 4"},
	{"[falsey]", 0, 6, "unexpected 'y' at byte 6, expected ',' or ']'"},
	/* structure */
	{"[1,]", 0, 3, "unexpected ']' at byte 3, expected a value"},
	{"{\"a\":1,}", 0, 7, "unexpected '}' at byte 7, expected a member name"},
	{"[1 2]", 0, 3, "unexpected '2' at byte 3, expected ',' or ']'"},
	{"{\"a\" 1}", 0, 5, "unexpected '1' at byte 5, expected ':'"},
	{"{\"a\":}", 0, 5, "unexpected '}' at byte 5, expected a value"},
	{"{1:2}", 0, 1, "unexpected '1' at byte 1, expected a member name"},
	{"{'a':1}", 0, 1, "unexpected ''' at byte 1, expected a member name"},
	{"{\"a\":1]", 0, 6, "unexpected ']' at byte 6, expected ',' or '}'"},
	{"[1}", 0, 2, "unexpected '}' at byte 2, expected ',' or ']'"},
	{"[", 0, 1, "unexpected end of input at byte 1, expected a value"},
	{"[1,", 0, 3, "unexpected end of input at byte 3, expected a value"},
	{"{", 0, 1, "unexpected end of input at byte 1, expected a member name"},
	{"{\"a\"", 0, 4, "unexpected end of input at byte 4, expected ':'"},
	{"{\"a\":1", 0, 6, "unexpected end of input at byte 6, expected ',' or '}'"},
	{"]", 0, 0, "unexpected ']' at byte 0, expected a value"},
	{"}", 0, 0, "unexpected '}' at byte 0, expected a value"},
	{"[1]]", 0, 3, "trailing data at byte 3"},
	{"{} {}", 0, 3, "trailing data at byte 3"},
	{"1 2", 0, 2, "trailing data at byte 2"},
	{"[1,,2]", 0, 3, "unexpected ',' at byte 3, expected a value"},
	{"[,1]", 0, 1, "unexpected ',' at byte 1, expected a value"},
	{"/* c */ 1", 0, 0, "unexpected '/' at byte 0, expected a value"},
	{"[1] // c", 0, 4, "trailing data at byte 4"},
	{"\x01", 0, 0, "unexpected control character 0x01 at byte 0, expected a value"},
	{"\xc3\xa9", 0, 0, "unexpected byte 0xc3 at byte 0, expected a value"},
	{"\xef\xbb\xbf{}", 0, 0, "unexpected byte 0xef at byte 0, expected a value"},
	{"[\v1]", 0, 1, "unexpected control character 0x0b at byte 1, expected a value"},
	{"1\0", 2, 1, "trailing data at byte 1"},
	/* strings */
	{"\"abc", 0, 0, "unterminated string at byte 0"},
	{"[\"abc", 0, 1, "unterminated string at byte 1"},
	{"{\"a\":\"b", 0, 5, "unterminated string at byte 5"},
	{"\"abc\\", 0, 0, "unterminated string at byte 0"},
	{"\"abc\\\"", 0, 0, "unterminated string at byte 0"},
	{"\"a\tb\"", 0, 2, "unescaped control character 0x09 in string at byte 2"},
	{"\"a\nb\"", 0, 2, "unescaped control character 0x0a in string at byte 2"},
	{"\"\0\"", 3, 1, "unescaped control character 0x00 in string at byte 1"},
	{"\"\\q\"", 0, 1, "invalid escape '\\q' at byte 1"},
	{"\"\\x41\"", 0, 1, "invalid escape '\\x' at byte 1"},
	{"\"\\U0041\"", 0, 1, "invalid escape '\\U' at byte 1"},
	{"\"\\\xc3\xa9\"", 0, 1, "invalid escape at byte 1"},
	{"\"\\u12\"", 0, 1, "invalid \\u escape at byte 1"},
	{"\"\\u12G4\"", 0, 1, "invalid \\u escape at byte 1"},
	{"\"\\u", 0, 1, "invalid \\u escape at byte 1"},
	{"\"\\ud800\"", 0, 1, "unpaired surrogate escape at byte 1"},
	{"\"\\udc00\"", 0, 1, "unpaired surrogate escape at byte 1"},
	{"\"\\ud800\\u0041\"", 0, 1, "unpaired surrogate escape at byte 1"},
	{"\"\\ud800\\ud800\"", 0, 1, "unpaired surrogate escape at byte 1"},
	{"\"\\ud800\\n\"", 0, 1, "unpaired surrogate escape at byte 1"},
	{"\"x\\ude00\\ud83d\"", 0, 2, "unpaired surrogate escape at byte 2"},
	/* UTF-8 inside strings */
	{"\"\xc0\x80\"", 0, 1, "invalid UTF-8 at byte 1"},          /* overlong NUL */
	{"\"\xc1\xbf\"", 0, 1, "invalid UTF-8 at byte 1"},          /* overlong 0x7f */
	{"\"\xe0\x80\x80\"", 0, 1, "invalid UTF-8 at byte 1"},      /* overlong 3-byte */
	{"\"\xe0\x9f\xbf\"", 0, 1, "invalid UTF-8 at byte 1"},      /* overlong U+07FF */
	{"\"\xf0\x80\x80\x80\"", 0, 1, "invalid UTF-8 at byte 1"},  /* overlong 4-byte */
	{"\"\xf0\x8f\xbf\xbf\"", 0, 1, "invalid UTF-8 at byte 1"},  /* overlong U+FFFF */
	{"\"\xed\xa0\x80\"", 0, 1, "invalid UTF-8 at byte 1"},      /* U+D800 */
	{"\"\xed\xbf\xbf\"", 0, 1, "invalid UTF-8 at byte 1"},      /* U+DFFF */
	{"\"\xf4\x90\x80\x80\"", 0, 1, "invalid UTF-8 at byte 1"},  /* U+110000 */
	{"\"\xf5\x80\x80\x80\"", 0, 1, "invalid UTF-8 at byte 1"},
	{"\"\xff\"", 0, 1, "invalid UTF-8 at byte 1"},
	{"\"\x80\"", 0, 1, "invalid UTF-8 at byte 1"},              /* lone continuation */
	{"\"ab\xc3\"", 0, 3, "invalid UTF-8 at byte 3"},            /* truncated 2-byte */
	{"\"\xe2\x82\"", 0, 1, "invalid UTF-8 at byte 1"},          /* truncated 3-byte */
	{"\"\xf0\x9f\x98\"", 0, 1, "invalid UTF-8 at byte 1"},      /* truncated 4-byte */
	{"\"\xf0\x9f\x98", 0, 1, "invalid UTF-8 at byte 1"},        /* truncated at end */
	{"\"\xc3\x28\"", 0, 1, "invalid UTF-8 at byte 1"},
	{"{\"k\xff\":1}", 0, 3, "invalid UTF-8 at byte 3"},
};

static void test_invalid_documents(void)
{
	for (size_t i = 0; i < N_ELEMS(invalid_docs); i++) {
		const struct invalid *d = &invalid_docs[i];
		size_t len = d->len ? d->len : strlen(d->text), pos = 999;
		struct elog_err err;
		char m[600];

		elog_err_clear(&err);
		if (validate(d->text, len, &pos, &err) == 0) {
			snprintf(m, sizeof(m), "invalid doc %zu accepted", i);
			t_fail(__FILE__, __LINE__, m);
			continue;
		}
		if (pos != d->pos || strcmp(err.msg, d->msg) != 0 || err.code != ELOG_E_INVAL) {
			snprintf(m, sizeof(m), "doc %zu: got pos %zu \"%s\", want pos %zu \"%s\"",
				 i, pos, err.msg, d->pos, d->msg);
			t_fail(__FILE__, __LINE__, m);
		}
	}
}

/* Every proper prefix of a valid document is invalid, and no check reads past len. */
static void test_prefixes_invalid(void)
{
	const char *docs[] = {
		"{\"key\":\"k1\",\"value\":{\"a\":[1,2.5e-3,true,null]},\"ts\":1700000000000}",
		"[\"\\ud83d\\ude00\",\"\xf0\x9f\x98\x80\",-0.0]",
		"\"\\u00e9\"",
	};

	for (size_t i = 0; i < N_ELEMS(docs); i++) {
		size_t n = strlen(docs[i]);
		T_ASSERT(validate(docs[i], n, NULL, NULL) == 0);
		for (size_t cut = 0; cut < n; cut++) {
			char *copy = malloc(cut ? cut : 1);   /* exact size: ASan sees overreads */
			T_ASSERT(copy);
			memcpy(copy, docs[i], cut);
			T_CHECK(validate(copy, cut, NULL, NULL) < 0);
			free(copy);
		}
	}
}

static char *nested(size_t depth, const char *open, const char *middle, const char *close)
{
	size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
	char *s = malloc(depth * (lo + lc) + lm + 1), *w = s;

	if (!s)
		return NULL;
	for (size_t i = 0; i < depth; i++, w += lo)
		memcpy(w, open, lo);
	memcpy(w, middle, lm);
	w += lm;
	for (size_t i = 0; i < depth; i++, w += lc)
		memcpy(w, close, lc);
	*w = '\0';
	return s;
}

static void test_depth_limit(void)
{
	struct elog_err err;
	size_t pos;
	char *at = nested(64, "[", "1", "]"), *over = nested(65, "[", "1", "]");
	char *obj_at = nested(64, "{\"a\":", "{}", "}"), *obj_over = nested(65, "{\"a\":", "0", "}");
	char *deep = nested(100000, "[", "", "]");

	T_ASSERT(at && over && obj_at && obj_over && deep);
	T_OK(validate(at, strlen(at), &pos, &err), &err);
	T_CHECK(validate(over, strlen(over), &pos, &err) < 0);
	T_CHECK(strcmp(err.msg, "nesting deeper than 64 at byte 64") == 0);
	T_CHECK(err.code == ELOG_E_LIMIT && pos == 64);
	/* 64 object levels plus the empty {} inside is 65 */
	T_CHECK(validate(obj_at, strlen(obj_at), &pos, &err) < 0 && pos == 64 * 5);
	T_CHECK(elog_json_validate(obj_at, strlen(obj_at), 65, NULL, NULL) == 0);
	T_CHECK(validate(obj_over, strlen(obj_over), &pos, &err) < 0 && pos == 64 * 5);
	T_CHECK(validate(deep, strlen(deep), &pos, &err) < 0 && pos == 64);
	T_CHECK(elog_json_validate(deep, strlen(deep), ELOG_JSON_DEPTH_LIMIT, &pos, &err) < 0);
	T_CHECK(pos == ELOG_JSON_DEPTH_LIMIT);
	/* exactly ELOG_JSON_DEPTH_LIMIT levels, alternating kinds across word boundaries */
	free(deep);
	deep = nested(ELOG_JSON_DEPTH_LIMIT / 2, "[{\"k\":", "0", "}]");
	T_ASSERT(deep);
	T_OK(elog_json_validate(deep, strlen(deep), ELOG_JSON_DEPTH_LIMIT, NULL, &err), &err);
	/* depth 0: scalars only */
	T_CHECK(elog_json_validate("1", 1, 0, NULL, NULL) == 0);
	T_CHECK(elog_json_validate("[]", 2, 0, NULL, &err) < 0);
	T_CHECK(strcmp(err.msg, "nesting deeper than 0 at byte 0") == 0);
	free(at);
	free(over);
	free(obj_at);
	free(obj_over);
	free(deep);
}

/* The eight-byte string scan must stop exactly at the first special byte. */
static void test_special_byte_every_offset(void)
{
	static const char specials[] = { '"', '\\', '\x1f', '\x00', '\x80' };
	char buf[64];

	for (size_t s = 0; s < sizeof(specials); s++) {
		for (size_t at = 1; at < 40; at++) {
			size_t pos = 0;
			int rc;
			memset(buf, 'a', sizeof(buf));
			buf[0] = '"';
			buf[at] = specials[s];
			buf[50] = '"';
			rc = validate(buf, 51, &pos, NULL);
			T_CHECK(rc < 0);
			if (specials[s] == '"')
				T_CHECK(pos == at + 1);   /* trailing data after the short string */
			else
				T_CHECK(pos == at);
		}
	}
}

static void test_utf8_span(void)
{
	uint8_t buf[80];

	T_CHECK(elog_json_utf8_span(NULL, 0) == 0);
	T_CHECK(elog_json_utf8_span("abc", 3) == 3);
	T_CHECK(elog_json_utf8_span("\xc3\xa9", 2) == 2);
	T_CHECK(elog_json_utf8_span("\xf4\x8f\xbf\xbf", 4) == 4);
	T_CHECK(elog_json_utf8_span("a\xf4\x90\x80\x80", 5) == 1);
	T_CHECK(elog_json_utf8_span("ab\xed\xa0\x80", 5) == 2);
	T_CHECK(elog_json_utf8_span("\xc0\x80", 2) == 0);
	T_CHECK(elog_json_utf8_span("\xe2\x82\xac\xe2\x82", 5) == 3);
	T_CHECK(elog_json_utf8_span("\0\0", 2) == 2);
	/* a bad byte at every offset of a long ASCII run, and a good sequence too */
	for (size_t at = 0; at < 70; at++) {
		memset(buf, 'x', sizeof(buf));
		buf[at] = 0xff;
		T_CHECK(elog_json_utf8_span(buf, sizeof(buf)) == at);
		buf[at] = 0xc3;
		buf[at + 1] = 0xa9;
		T_CHECK(elog_json_utf8_span(buf, sizeof(buf)) == sizeof(buf));
		T_CHECK(elog_json_utf8_span(buf, at + 1) == at);   /* truncated at the end */
	}
}

static void test_object_get(void)
{
	const char *line = " {\"id\":42, \"user\" : \"al\\u0069ce\", \"a\\\"b\":true,"
			   "\"nested\":{\"id\":\"inner\",\"x\":[{\"id\":0}]},"
			   "\"\\u0069d2\":null, \"arr\":[1,2], \"neg\":-1.5e3} ";
	struct elog_json_value v;
	struct elog_err err;
	size_t n = strlen(line);

	T_OK(validate(line, n, NULL, &err), &err);
	T_EQ_INT(elog_json_object_get(line, n, "id", 2, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_NUMBER && v.len == 2 && memcmp(v.ptr, "42", 2) == 0);
	T_EQ_INT(elog_json_object_get(line, n, "user", 4, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_STRING && v.len == 12);
	T_EQ_INT(elog_json_object_get(line, n, "a\"b", 3, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_TRUE && v.len == 4);
	T_EQ_INT(elog_json_object_get(line, n, "id2", 3, &v, &err), 1);   /* escaped name */
	T_CHECK(v.type == ELOG_JSON_NULL);
	T_EQ_INT(elog_json_object_get(line, n, "nested", 6, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_OBJECT && v.ptr[0] == '{' && v.ptr[v.len - 1] == '}');
	T_CHECK(v.len == strlen("{\"id\":\"inner\",\"x\":[{\"id\":0}]}"));
	T_EQ_INT(elog_json_object_get(line, n, "arr", 3, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_ARRAY && v.len == 5);
	T_EQ_INT(elog_json_object_get(line, n, "neg", 3, &v, &err), 1);
	T_CHECK(v.type == ELOG_JSON_NUMBER && v.len == 6);
	/* nested members are not top-level members */
	T_EQ_INT(elog_json_object_get(line, n, "x", 1, &v, &err), 0);
	T_EQ_INT(elog_json_object_get(line, n, "inner", 5, &v, &err), 0);
	T_EQ_INT(elog_json_object_get(line, n, "i", 1, &v, &err), 0);
	T_EQ_INT(elog_json_object_get(line, n, "", 0, &v, &err), 0);
	/* duplicates: the last wins, as in jq */
	T_EQ_INT(elog_json_object_get("{\"k\":1,\"k\":2}", 13, "k", 1, &v, &err), 1);
	T_CHECK(v.len == 1 && v.ptr[0] == '2');
	T_EQ_INT(elog_json_object_get("{\"\":7}", 6, "", 0, &v, &err), 1);
	T_EQ_INT(elog_json_object_get("{\"\\u0000\":7}", 12, "\0", 1, &v, &err), 1);
	T_EQ_INT(elog_json_object_get("{}", 2, "k", 1, &v, &err), 0);
	T_EQ_INT(elog_json_object_get("[{\"k\":1}]", 9, "k", 1, &v, &err), -1);
	T_CHECK(strcmp(err.msg, "not an object") == 0);
	T_EQ_INT(elog_json_object_get("\"k\"", 3, "k", 1, &v, &err), -1);
	T_EQ_INT(elog_json_object_get("", 0, "k", 1, &v, &err), -1);
	/* malformed input fails without reading outside it */
	T_EQ_INT(elog_json_object_get("{\"k\":\"abc", 9, "k", 1, &v, &err), -1);
	T_EQ_INT(elog_json_object_get("{\"k\":[1,2", 9, "k", 1, &v, &err), -1);
	T_EQ_INT(elog_json_object_get("{\"k\" 1}", 7, "k", 1, &v, &err), -1);
}

static void test_string_equal(void)
{
	T_CHECK(elog_json_string_equal("\"abc\"", 5, "abc", 3));
	T_CHECK(!elog_json_string_equal("\"abc\"", 5, "ab", 2));
	T_CHECK(!elog_json_string_equal("\"abc\"", 5, "abcd", 4));
	T_CHECK(elog_json_string_equal("\"\"", 2, "", 0));
	T_CHECK(elog_json_string_equal("\"a\\nb\"", 6, "a\nb", 3));
	T_CHECK(!elog_json_string_equal("\"a\\nb\"", 6, "a\\nb", 4));
	T_CHECK(elog_json_string_equal("\"\\u00e9\"", 8, "\xc3\xa9", 2));
	T_CHECK(elog_json_string_equal("\"\\ud83d\\ude00!\"", 15, "\xf0\x9f\x98\x80!", 5));
	T_CHECK(!elog_json_string_equal("\"\\ud83d\\ude00\"", 14, "\xf0\x9f\x98", 3));
	T_CHECK(!elog_json_string_equal("\"\\ud83d\"", 8, "\xed\xa0\xbd", 3));
}

static void test_iterate_envelope(void)
{
	const char *line = "{\"topic\":\"t\",\"key\":\"k\\u00e9\",\"headers\":{\"h1\":\"v1\",\"h1\":\"v2\"},"
			   "\"value\":{\"a\":[1,{\"b\":\"}]\"}]},\"timestamp\":1700000000000,"
			   "\"partition\":-1}";
	static const char *const names[] = {"topic", "key", "headers", "value", "timestamp",
					    "partition"};
	static const enum elog_json_type types[] = {ELOG_JSON_STRING, ELOG_JSON_STRING,
		ELOG_JSON_OBJECT, ELOG_JSON_OBJECT, ELOG_JSON_NUMBER, ELOG_JSON_NUMBER};
	struct elog_json_iter it, hit;
	struct elog_json_member m;
	struct elog_err err;
	size_t count = 0;
	int rc;

	T_OK(validate(line, strlen(line), NULL, &err), &err);
	T_OK(elog_json_iter_init(&it, line, strlen(line), &err), &err);
	T_CHECK(it.is_object);
	while ((rc = elog_json_iter_next(&it, &m, &err)) == 1) {
		T_ASSERT(count < N_ELEMS(names));
		T_CHECK(elog_json_string_equal(m.name.ptr, m.name.len, names[count],
					       strlen(names[count])));
		T_CHECK(m.name.type == ELOG_JSON_STRING && m.value.type == types[count]);
		T_OK(validate(m.value.ptr, m.value.len, NULL, &err), &err);
		if (count == 2) {
			struct elog_json_member h;
			size_t hn = 0;
			T_OK(elog_json_iter_init(&hit, m.value.ptr, m.value.len, &err), &err);
			while (elog_json_iter_next(&hit, &h, &err) == 1) {
				T_CHECK(elog_json_string_equal(h.name.ptr, h.name.len, "h1", 2));
				T_CHECK(h.value.len == 4 && h.value.ptr[2] == (hn ? '2' : '1'));
				hn++;
			}
			T_EQ_INT(hn, 2);
		}
		if (count == 4) {
			int64_t ts;
			T_OK(elog_json_int64_parse(m.value.ptr, m.value.len, &ts, &err), &err);
			T_CHECK(ts == 1700000000000);
		}
		count++;
	}
	T_EQ_INT(rc, 0);
	T_EQ_INT(count, N_ELEMS(names));
	T_EQ_INT(elog_json_iter_next(&it, &m, &err), 0);   /* stays at the end */
}

static void test_iterate_arrays_and_empty(void)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	struct elog_err err;
	const char *arr = "[ 1 , \"two\" , [3] , {\"4\":4} , true , null ]";
	static const enum elog_json_type types[] = {ELOG_JSON_NUMBER, ELOG_JSON_STRING,
		ELOG_JSON_ARRAY, ELOG_JSON_OBJECT, ELOG_JSON_TRUE, ELOG_JSON_NULL};
	size_t count = 0;

	T_OK(elog_json_iter_init(&it, arr, strlen(arr), &err), &err);
	T_CHECK(!it.is_object);
	while (elog_json_iter_next(&it, &m, &err) == 1) {
		T_ASSERT(count < N_ELEMS(types));
		T_CHECK(m.value.type == types[count] && m.name.type == ELOG_JSON_NONE);
		count++;
	}
	T_EQ_INT(count, N_ELEMS(types));
	T_OK(elog_json_iter_init(&it, " {} ", 4, &err), &err);
	T_EQ_INT(elog_json_iter_next(&it, &m, &err), 0);
	T_OK(elog_json_iter_init(&it, "[]", 2, &err), &err);
	T_EQ_INT(elog_json_iter_next(&it, &m, &err), 0);
	T_CHECK(elog_json_iter_init(&it, "42", 2, &err) < 0);
	T_CHECK(strcmp(err.msg, "not an object or array") == 0);
	T_CHECK(elog_json_iter_init(&it, "", 0, &err) < 0);
	T_OK(elog_json_iter_init(&it, "[1 2]", 5, &err), &err);
	T_EQ_INT(elog_json_iter_next(&it, &m, &err), 1);
	T_EQ_INT(elog_json_iter_next(&it, &m, &err), -1);
	T_CHECK(strcmp(err.msg, "malformed JSON at byte 3") == 0);
}

static void test_type_names(void)
{
	T_CHECK(strcmp(elog_json_type_name(ELOG_JSON_STRING), "string") == 0);
	T_CHECK(strcmp(elog_json_type_name(ELOG_JSON_NULL), "null") == 0);
	T_CHECK(strcmp(elog_json_type_name((enum elog_json_type)99), "unknown") == 0);
}

static void check_decode(const char *lit, const char *want, size_t want_len)
{
	char out[64];
	size_t n = 99;
	struct elog_err err;

	T_OK(elog_json_string_decode(lit, strlen(lit), out, sizeof(out), &n, &err), &err);
	T_EQ_INT(n, want_len);
	T_CHECK(memcmp(out, want, n) == 0);
}

static void test_string_decode(void)
{
	struct elog_err err;
	char out[16];
	size_t n;

	check_decode("\"\"", "", 0);
	check_decode("\"plain text\"", "plain text", 10);
	check_decode("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
	check_decode("\"a\\u0000b\"", "a\0b", 3);
	check_decode("\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5);
	check_decode("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
	check_decode("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
	check_decode("\"\xc3\xa9t\xc3\xa9\"", "\xc3\xa9t\xc3\xa9", 5);
	/* exactly lit_len - 2 bytes of room always suffices */
	T_OK(elog_json_string_decode("\"0123456789abcd\"", 16, out, 14, &n, &err), &err);
	T_CHECK(n == 14);
	T_CHECK(elog_json_string_decode("\"0123456789abcd\"", 16, out, 13, &n, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	T_CHECK(elog_json_string_decode("\"\\u00e9\"", 8, out, 1, &n, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	T_OK(elog_json_string_decode("\"\\u00e9\"", 8, out, 2, &n, &err), &err);
	/* malformed literals */
	T_CHECK(elog_json_string_decode("abc", 3, out, sizeof(out), &n, &err) < 0);
	T_CHECK(strcmp(err.msg, "not a string literal") == 0);
	T_CHECK(elog_json_string_decode("\"", 1, out, sizeof(out), &n, &err) < 0);
	T_CHECK(elog_json_string_decode("\"\\\"", 3, out, sizeof(out), &n, &err) < 0);
	T_CHECK(elog_json_string_decode("\"\\ud800\"", 8, out, sizeof(out), &n, &err) < 0);
	T_CHECK(strcmp(err.msg, "invalid escape at byte 1") == 0);
	T_CHECK(elog_json_string_decode("\"a\xff\"", 4, out, sizeof(out), &n, &err) < 0);
	T_CHECK(strcmp(err.msg, "invalid UTF-8 at byte 2") == 0);
	T_CHECK(elog_json_string_decode("\"a\nb\"", 5, out, sizeof(out), &n, &err) < 0);
	T_CHECK(elog_json_string_decode("\"a\"b\"", 5, out, sizeof(out), &n, &err) < 0);
}

static void test_encode_escapes(void)
{
	struct elog_buf b;
	struct elog_err err;
	const char in[] = "\"\\\b\f\n\r\t\x01\x1f/\x7f\xc3\xa9 x";
	const char want[] = "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\x7f\xc3\xa9 x\"";

	elog_buf_init(&b, 1024);
	T_OK(elog_json_buf_add_string(&b, in, sizeof(in) - 1, &err), &err);
	T_EQ_INT(b.len, sizeof(want) - 1);
	T_CHECK(memcmp(b.data, want, b.len) == 0);
	elog_buf_reset(&b);
	T_OK(elog_json_buf_add_string(&b, "", 0, &err), &err);
	T_CHECK(b.len == 2 && memcmp(b.data, "\"\"", 2) == 0);
	/* not UTF-8: refused, nothing appended */
	T_CHECK(elog_json_buf_add_string(&b, "ab\xc0\x80", 4, &err) < 0);
	T_CHECK(strcmp(err.msg, "not UTF-8 at byte 2") == 0 && b.len == 2);
	T_CHECK(elog_json_buf_add_string(&b, "\xed\xa0\x80", 3, &err) < 0);
	T_CHECK(elog_json_buf_add_string(&b, "\xf4\x90\x80\x80", 4, &err) < 0);
	T_CHECK(b.len == 2);
	elog_buf_release(&b);
}

/* Encode, validate, decode: the bytes come back, for every byte value that UTF-8 allows. */
static void roundtrip(const uint8_t *bytes, size_t n)
{
	struct elog_buf b;
	struct elog_err err;
	char *back = malloc(n + 1);
	size_t back_len = 0;

	T_ASSERT(back);
	elog_buf_init(&b, 1 << 20);
	T_OK(elog_json_buf_add_string(&b, bytes, n, &err), &err);
	T_OK(validate((const char *)b.data, b.len, NULL, &err), &err);
	T_OK(elog_json_string_decode((const char *)b.data, b.len, back, n, &back_len, &err), &err);
	T_CHECK(back_len == n && (n == 0 || memcmp(back, bytes, n) == 0));
	T_CHECK(elog_json_string_equal((const char *)b.data, b.len, bytes, n));
	elog_buf_reset(&b);
	T_OK(elog_json_buf_add_decoded(&b, "\"\\ud83d\\ude00\"", 14, &err), &err);
	T_CHECK(b.len == 4);
	elog_buf_release(&b);
	free(back);
}

static void test_roundtrip_all_bytes(void)
{
	uint8_t buf[1024];
	size_t n = 0;

	/* every ASCII byte, 0x00..0x7f, alone and together */
	for (unsigned c = 0; c < 0x80; c++) {
		uint8_t one = (uint8_t)c;
		roundtrip(&one, 1);
		buf[n++] = (uint8_t)c;
	}
	/* every lead byte C2..F4 and every continuation byte 80..BF in a valid sequence */
	for (unsigned c = 0x80; c <= 0xBF; c++) {
		buf[n++] = 0xC2;
		buf[n++] = (uint8_t)c;
	}
	for (unsigned c = 0xC2; c <= 0xDF; c++) {
		buf[n++] = (uint8_t)c;
		buf[n++] = 0x80;
	}
	for (unsigned c = 0xE0; c <= 0xEF; c++) {
		buf[n++] = (uint8_t)c;
		buf[n++] = c == 0xE0 ? 0xA0 : c == 0xED ? 0x9F : 0xBF;
		buf[n++] = 0xBF;
	}
	for (unsigned c = 0xF0; c <= 0xF4; c++) {
		buf[n++] = (uint8_t)c;
		buf[n++] = c == 0xF0 ? 0x90 : 0x8F;
		buf[n++] = 0x80;
		buf[n++] = 0xBF;
	}
	T_ASSERT(n <= sizeof(buf));
	T_CHECK(elog_json_utf8_span(buf, n) == n);
	roundtrip(buf, n);
	roundtrip(buf, 0);
}

struct b64_vector {
	const char *plain, *encoded;
};

static void test_base64_vectors(void)
{
	static const struct b64_vector v[] = {  /* RFC 4648 §10 */
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	struct elog_err err;

	for (size_t i = 0; i < N_ELEMS(v); i++) {
		char enc[16], dec[16];
		size_t pn = strlen(v[i].plain), n = 99;

		T_EQ_INT(elog_json_base64_encoded_len(pn), strlen(v[i].encoded));
		T_EQ_INT(elog_json_base64_encode(v[i].plain, pn, enc), strlen(v[i].encoded));
		T_CHECK(memcmp(enc, v[i].encoded, strlen(v[i].encoded)) == 0);
		T_OK(elog_json_base64_decode(v[i].encoded, strlen(v[i].encoded), dec, sizeof(dec),
					     &n, &err), &err);
		T_CHECK(n == pn && memcmp(dec, v[i].plain, n) == 0);
	}
}

static void test_base64_invalid(void)
{
	static const struct { const char *text; const char *msg; } bad[] = {
		{"Zg=", "base64 length 3 is not a multiple of 4"},
		{"Zm9vY", "base64 length 5 is not a multiple of 4"},
		{"Zh==", "non-zero base64 padding bits at byte 1"},
		{"Zm9=", "non-zero base64 padding bits at byte 2"},
		{"Zg=a", "misplaced base64 padding at byte 2"},
		{"Z===", "misplaced base64 padding at byte 1"},
		{"====", "misplaced base64 padding at byte 0"},
		{"Zg==Zg==", "misplaced base64 padding at byte 2"},
		{"Zm-v", "invalid base64 character at byte 2"},
		{"Zm_v", "invalid base64 character at byte 2"},
		{" Zm9", "invalid base64 character at byte 0"},
		{"Zm9v\n\n\n\n", "invalid base64 character at byte 4"},
		{"Zm\0v", "invalid base64 character at byte 2"},
	};
	struct elog_err err;
	uint8_t out[16];
	size_t n;

	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		size_t len = strlen(bad[i].text);
		if (i == N_ELEMS(bad) - 1)
			len = 4;
		T_CHECK(elog_json_base64_decode(bad[i].text, len, out, sizeof(out), &n, &err) < 0);
		if (strcmp(err.msg, bad[i].msg) != 0) {
			char m[ELOG_ERR_MSG_MAX + 64];
			snprintf(m, sizeof(m), "base64 %zu: got \"%s\"", i, err.msg);
			t_fail(__FILE__, __LINE__, m);
		}
	}
	T_CHECK(elog_json_base64_decode("Zm9vYmFy", 8, out, 5, &n, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	T_OK(elog_json_base64_decode("Zm9vYmFy", 8, out, 6, &n, &err), &err);
	T_OK(elog_json_base64_decode("Zm9vYg==", 8, out, 4, &n, &err), &err);
	T_CHECK(n == 4);
}

static void test_base64_roundtrip(void)
{
	uint8_t in[300], out[300];
	char enc[404];
	struct elog_err err;
	uint32_t seed = 7;

	for (size_t i = 0; i < sizeof(in); i++) {
		seed = seed * 1103515245u + 12345u;
		in[i] = (uint8_t)(seed >> 16);
	}
	for (size_t n = 0; n <= sizeof(in); n++) {
		size_t e = elog_json_base64_encode(in, n, enc), d = 0;
		T_ASSERT(e == elog_json_base64_encoded_len(n) && e <= sizeof(enc));
		T_OK(elog_json_base64_decode(enc, e, out, sizeof(out), &d, &err), &err);
		T_ASSERT(d == n && (n == 0 || memcmp(in, out, n) == 0));
	}
}

static void test_int64_parse(void)
{
	static const struct { const char *text; int64_t want; } good[] = {
		{"0", 0}, {"-0", 0}, {"1", 1}, {"-1", -1}, {"1700000000000", 1700000000000},
		{"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
		{"-9223372036854775807", -INT64_MAX},
	};
	static const struct { const char *text; const char *msg; } bad[] = {
		{"9223372036854775808", "integer out of range: 9223372036854775808"},
		{"-9223372036854775809", "integer out of range: -9223372036854775809"},
		{"99999999999999999999", "integer out of range: 99999999999999999999"},
		{"1.0", "not an integer: 1.0"}, {"1e3", "not an integer: 1e3"},
		{"-0.5", "not an integer: -0.5"},
		{"01", "not a number"}, {"", "not a number: empty"}, {"-", "not a number"},
		{"+1", "not a number"}, {" 1", "not a number"}, {"1 ", "not a number"},
		{"0x10", "not a number"}, {"\"1\"", "not a number"}, {"1a", "not a number"},
		{"1234567890123456789012345678901234567890",
		 "integer out of range: 12345678901234567890123456789012..."},
	};
	struct elog_err err;
	int64_t v;

	for (size_t i = 0; i < N_ELEMS(good); i++) {
		T_OK(elog_json_int64_parse(good[i].text, strlen(good[i].text), &v, &err), &err);
		T_CHECK(v == good[i].want);
	}
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		T_CHECK(elog_json_int64_parse(bad[i].text, strlen(bad[i].text), &v, &err) < 0);
		if (strcmp(err.msg, bad[i].msg) != 0) {
			char m[ELOG_ERR_MSG_MAX + 64];
			snprintf(m, sizeof(m), "int64 %zu: got \"%s\"", i, err.msg);
			t_fail(__FILE__, __LINE__, m);
		}
	}
}

static void test_buf_limits(void)
{
	struct elog_buf b;
	struct elog_err err;
	char big[100];

	memset(big, 'x', sizeof(big));
	elog_buf_init(&b, 10);
	T_CHECK(b.data == NULL && b.len == 0);
	T_OK(elog_buf_add(&b, "{", 1, &err), &err);
	T_CHECK(elog_json_buf_add_int64(&b, INT64_MIN, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT && b.len == 1);   /* 20 bytes do not fit */
	T_OK(elog_json_buf_add_int64(&b, -12345, &err), &err);
	T_CHECK(b.len == 7 && memcmp(b.data, "{-12345", 7) == 0);
	T_CHECK(elog_json_buf_add_string(&b, "abc", 3, &err) < 0 && b.len == 7);
	T_OK(elog_json_buf_add_string(&b, "a", 1, &err), &err);
	T_CHECK(b.len == 10 && b.cap <= 10);
	T_CHECK(elog_buf_add(&b, "}", 1, &err) < 0 && b.len == 10);
	T_CHECK(strcmp(err.msg, "buffer would exceed its limit of 10 bytes") == 0);
	elog_buf_reset(&b);
	T_CHECK(b.len == 0 && b.data != NULL);
	T_OK(elog_json_buf_add_base64(&b, "foo", 3, &err), &err);
	T_CHECK(b.len == 6 && memcmp(b.data, "\"Zm9v\"", 6) == 0);
	T_CHECK(elog_json_buf_add_base64(&b, "foo", 3, &err) < 0 && b.len == 6);
	elog_buf_reset(&b);
	T_CHECK(elog_json_buf_add_decoded(&b, "\"0123456789ab\"", 14, &err) < 0 && b.len == 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	T_OK(elog_json_buf_add_decoded(&b, "\"\\u00e9\\u00e9\"", 14, &err), &err);
	T_CHECK(b.len == 4);
	elog_buf_release(&b);
	T_CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.len_max == 10);
	elog_buf_release(&b);   /* twice is fine */
	/* growth past the initial capacity up to a large cap */
	elog_buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		T_OK(elog_buf_add(&b, big, sizeof(big), &err), &err);
	T_CHECK(b.len == 100000 && b.cap >= b.len && b.cap <= b.len_max);
	elog_buf_release(&b);
}

int main(void)
{
	T_RUN(test_valid_documents);
	T_RUN(test_invalid_documents);
	T_RUN(test_prefixes_invalid);
	T_RUN(test_depth_limit);
	T_RUN(test_special_byte_every_offset);
	T_RUN(test_utf8_span);
	T_RUN(test_object_get);
	T_RUN(test_string_equal);
	T_RUN(test_iterate_envelope);
	T_RUN(test_iterate_arrays_and_empty);
	T_RUN(test_type_names);
	T_RUN(test_string_decode);
	T_RUN(test_encode_escapes);
	T_RUN(test_roundtrip_all_bytes);
	T_RUN(test_base64_vectors);
	T_RUN(test_base64_invalid);
	T_RUN(test_base64_roundtrip);
	T_RUN(test_int64_parse);
	T_RUN(test_buf_limits);
	return t_finish();
}
