/* Unit tests: envelope — docs/json.md's JSON line per record, both ways. */
#include "t.h"
#include "envelope.h"
#include "json.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static struct elog_buf out;
static struct elog_envelope env;

static void setup(void)
{
	elog_buf_reset(&out);
}

/* A view of plain C strings (NULL for null); header pairs in hdr, n of them. */
static void view_set(struct elog_record_view *v, int64_t offset, int64_t ts, const char *key,
		     const char *value, const char *const *hdr, uint32_t n)
{
	memset(v, 0, sizeof(*v));
	v->offset = offset;
	v->timestamp_ms = ts;
	v->key = (const uint8_t *)key;
	v->key_len = key ? (int32_t)strlen(key) : -1;
	v->value = (const uint8_t *)value;
	v->value_len = value ? (int32_t)strlen(value) : -1;
	v->header_count = n;
	for (uint32_t i = 0; i < n; i++) {
		v->headers[i].name = (const uint8_t *)hdr[2 * i];
		v->headers[i].name_len = (uint32_t)strlen(hdr[2 * i]);
		v->headers[i].value = (const uint8_t *)hdr[2 * i + 1];
		v->headers[i].value_len = hdr[2 * i + 1] ? (int32_t)strlen(hdr[2 * i + 1]) : -1;
	}
}

static int out_is(const char *want)
{
	size_t n = strlen(want);

	if (out.len == n && memcmp(out.data, want, n) == 0)
		return 1;
	fprintf(stderr, "  got:  %.*s  want: %s\n", (int)out.len, (const char *)out.data, want);
	return 0;
}

static int bytes_eq(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	if (alen != blen)
		return 0;
	return alen <= 0 || memcmp(a, b, (size_t)alen) == 0;
}

/* The decoded record equals the view (key, value, headers; timestamp given). */
static int same_record(const struct elog_envelope *e, const struct elog_record_view *v)
{
	const struct elog_record *r = &e->record;

	if (!e->has_timestamp || r->timestamp_ms != v->timestamp_ms)
		return 0;
	if (!bytes_eq(r->key, r->key_len, v->key, v->key_len) ||
	    !bytes_eq(r->value, r->value_len, v->value, v->value_len) ||
	    r->header_count != v->header_count)
		return 0;
	for (uint32_t i = 0; i < v->header_count; i++)
		if (!bytes_eq(r->headers[i].name, r->headers[i].name_len, v->headers[i].name,
			      v->headers[i].name_len) ||
		    !bytes_eq(r->headers[i].value, r->headers[i].value_len, v->headers[i].value,
			      v->headers[i].value_len))
			return 0;
	return 1;
}

/* Encode v, decode the line back, compare. */
static int roundtrip(const struct elog_record_view *v, struct elog_err *err)
{
	elog_buf_reset(&out);
	if (elog_envelope_encode(&out, "t", 1, 5, v, err) < 0)
		return -1;
	if (elog_envelope_decode(&env, (const char *)out.data, out.len, err) < 0)
		return -1;
	if (!env.has_partition || env.partition != 5 || !same_record(&env, v))
		return elog_err_set(err, ELOG_E_INVAL, "decoded record differs: %.*s",
				    (int)(out.len < 200 ? out.len : 200), (const char *)out.data);
	return 0;
}

static int decode_str(const char *line, struct elog_err *err)
{
	return elog_envelope_decode(&env, line, strlen(line), err);
}

/* ---------------------------------------------------------------- encoding */

static void test_encode_doc_example(void)
{
	static const char *const hdr[] = {"trace", "ab12", "retry", NULL};
	struct elog_record_view v;
	struct elog_err err;

	setup();
	view_set(&v, 42, 1700000000123, "user-7", "{\"id\":7,\"total\":12.5}", hdr, 2);
	T_OK(elog_envelope_encode(&out, "orders", 6, 3, &v, &err), &err);
	T_CHECK(out_is("{\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
		       "\"timestamp\":1700000000123,\"key\":\"user-7\","
		       "\"headers\":[[\"trace\",\"ab12\"],[\"retry\",null]],"
		       "\"value\":{\"id\":7,\"total\":12.5}}\n"));
}

static void test_encode_value_kinds(void)
{
	static const struct {
		const char *value;
		const char *want;    /* the text after "value": */
	} cases[] = {
		{"{\"a\" : [1, 2 ,\t3]}", "{\"a\" : [1, 2 ,\t3]}}\n"},
		{"42", "42}\n"},
		{"-1.5e3", "-1.5e3}\n"},
		{"\"quoted\"", "\"quoted\"}\n"},
		{"true", "true}\n"},
		{"[]", "[]}\n"},
		{"null", "\"null\",\"value_encoding\":\"text\"}\n"},
		{"hello world", "\"hello world\",\"value_encoding\":\"text\"}\n"},
		{" 42", "\" 42\",\"value_encoding\":\"text\"}\n"},
		{"42 ", "\"42 \",\"value_encoding\":\"text\"}\n"},
		{"{\"a\":\n1}", "\"{\\\"a\\\":\\n1}\",\"value_encoding\":\"text\"}\n"},
		{"{\"a\":1,}", "\"{\\\"a\\\":1,}\",\"value_encoding\":\"text\"}\n"},
		{"01", "\"01\",\"value_encoding\":\"text\"}\n"},
		{"", "\"\",\"value_encoding\":\"text\"}\n"},
		{"caf\xc3\xa9", "\"caf\xc3\xa9\",\"value_encoding\":\"text\"}\n"},
		{"\xff\xfe", "\"//4=\",\"value_encoding\":\"base64\"}\n"},
		{NULL, "null}\n"},
	};
	const char *prefix = "{\"topic\":\"t\",\"partition\":0,\"offset\":0,\"timestamp\":0,"
			     "\"key\":null,\"headers\":[],\"value\":";
	struct elog_record_view v;
	struct elog_err err;
	char want[256];

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		setup();
		view_set(&v, 0, 0, NULL, cases[i].value, NULL, 0);
		T_OK(elog_envelope_encode(&out, "t", 1, 0, &v, &err), &err);
		snprintf(want, sizeof(want), "%s%s", prefix, cases[i].want);
		T_CHECK(out_is(want));
		/* and back, byte for byte */
		T_OK(roundtrip(&v, &err), &err);
	}
}

static void test_encode_bytes_kinds(void)
{
	static const char *const hdr[] = {"a\"b", "x\ny", "\xc3\x28", "\x80", "n", ""};
	struct elog_record_view v;
	struct elog_err err;

	setup();
	view_set(&v, 7, -5, "\x01\xff", "v", hdr, 3);
	T_OK(elog_envelope_encode(&out, "t", 1, 1, &v, &err), &err);
	T_CHECK(out_is("{\"topic\":\"t\",\"partition\":1,\"offset\":7,\"timestamp\":-5,"
		       "\"key\":{\"base64\":\"Af8=\"},"
		       "\"headers\":[[\"a\\\"b\",\"x\\ny\"],[{\"base64\":\"wyg=\"},{\"base64\":\"gA==\"}],"
		       "[\"n\",\"\"]],\"value\":\"v\",\"value_encoding\":\"text\"}\n"));
	T_OK(roundtrip(&v, &err), &err);
	/* an empty key is not a null key */
	view_set(&v, 0, 0, "", "1", NULL, 0);
	T_OK(roundtrip(&v, &err), &err);
	T_CHECK(env.record.key_len == 0);
}

static void test_encode_all_or_nothing(void)
{
	struct elog_record_view v;
	struct elog_buf small;
	struct elog_err err;
	char big[300];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	view_set(&v, 0, 0, NULL, big, NULL, 0);
	elog_buf_init(&small, 200);
	T_OK(elog_buf_add(&small, "abc", 3, &err), &err);
	T_CHECK(elog_envelope_encode(&small, "t", 1, 0, &v, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	T_CHECK(small.len == 3 && memcmp(small.data, "abc", 3) == 0);
	elog_buf_release(&small);
}

/* ---------------------------------------------------------------- round trips */

static void test_roundtrip_every_byte(void)
{
	uint8_t all[256], rev[256];
	struct elog_record_view v;
	struct elog_err err;

	for (int i = 0; i < 256; i++) {
		all[i] = (uint8_t)i;
		rev[i] = (uint8_t)(255 - i);
	}
	view_set(&v, 1, 2, NULL, NULL, NULL, 0);
	v.key = all;
	v.key_len = 256;
	v.value = rev;
	v.value_len = 256;
	v.header_count = 2;
	v.headers[0] = (struct elog_header){all, 256, rev, 256};
	v.headers[1] = (struct elog_header){all, 0, NULL, -1};
	T_OK(roundtrip(&v, &err), &err);
	/* each single byte value alone, as key, value and header */
	for (int i = 0; i < 256; i++) {
		v.key = all + i;
		v.key_len = 1;
		v.value = all + i;
		v.value_len = 1;
		v.header_count = 1;
		v.headers[0] = (struct elog_header){all + i, 1, all + i, 1};
		T_OK(roundtrip(&v, &err), &err);
	}
	/* ASCII control and printable: valid UTF-8 travels as strings */
	v.key = all;
	v.key_len = 128;
	v.value = all;
	v.value_len = 128;
	T_OK(roundtrip(&v, &err), &err);
	T_CHECK(memmem(out.data, out.len, "\"value_encoding\":\"text\"", 23) != NULL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Random bytes drawn to hit the interesting classes: JSON, UTF-8, binary. */
static size_t random_bytes(uint8_t *p, size_t cap)
{
	static const char *const json[] = {
		"{\"a\":1}", "[1, 2, 3]", "\"s\"", "0", "-0.5e-3", "{ \"k\" : [ true , false ] }",
		"null", "\"\\u00e9\\n\"", "{}",
	};
	size_t n = rng() % cap, i;

	switch (rng() % 4) {
	case 0:
		for (i = 0; i < n; i++)
			p[i] = (uint8_t)rng();
		return n;
	case 1:
		for (i = 0; i < n; i++)
			p[i] = (uint8_t)(0x20 + rng() % 0x5f);
		return n;
	case 2: {
		const char *s = json[rng() % N_ELEMS(json)];
		n = strlen(s) < cap ? strlen(s) : cap;
		memcpy(p, s, n);
		return n;
	}
	default:
		for (i = 0; i + 2 <= n; i += 2) {
			p[i] = 0xc3;
			p[i + 1] = (uint8_t)(0x80 + rng() % 0x40);
		}
		return i;
	}
}

static void test_roundtrip_random(void)
{
	static uint8_t pool[(ELOG_RECORD_HEADERS_MAX * 2 + 2) * 64];
	struct elog_record_view v;
	struct elog_err err;

	for (int iter = 0; iter < 20000; iter++) {
		uint8_t *p = pool;
		size_t n;

		memset(&v, 0, sizeof(v));
		v.timestamp_ms = (int64_t)((uint64_t)rng() << 32 | rng());
		v.offset = rng();
		n = random_bytes(p, 64);
		v.key = p;
		v.key_len = rng() % 8 == 0 ? -1 : (int32_t)n;
		p += 64;
		n = random_bytes(p, 64);
		v.value = p;
		v.value_len = rng() % 8 == 0 ? -1 : (int32_t)n;
		p += 64;
		v.header_count = rng() % 8 == 0 ? ELOG_RECORD_HEADERS_MAX : rng() % 4;
		for (uint32_t h = 0; h < v.header_count; h++) {
			v.headers[h].name = p;
			v.headers[h].name_len = (uint32_t)random_bytes(p, 64);
			p += 64;
			v.headers[h].value = p;
			n = random_bytes(p, 64);
			v.headers[h].value_len = rng() % 4 == 0 ? -1 : (int32_t)n;
			p += 64;
		}
		T_OK(roundtrip(&v, &err), &err);
	}
}

/* ---------------------------------------------------------------- decoding */

static void test_decode_minimal_and_optional(void)
{
	struct elog_err err;

	T_OK(decode_str("{\"value\":1}", &err), &err);
	T_CHECK(!env.has_partition && !env.has_timestamp);
	T_CHECK(env.record.key_len == -1 && env.record.key == NULL);
	T_CHECK(env.record.header_count == 0 && env.record.headers == env.headers);
	T_CHECK(bytes_eq(env.record.value, env.record.value_len, (const uint8_t *)"1", 1));
	T_CHECK(env.record.timestamp_ms == 0);

	T_OK(decode_str(" {\"timestamp\":-3, \"partition\" : 4294967295, \"value\" :\t\"x\" } \r\n",
			&err), &err);
	T_CHECK(env.has_timestamp && env.record.timestamp_ms == -3);
	T_CHECK(env.has_partition && env.partition == 4294967295u);
	/* an embedded string keeps its quotes; whitespace around the value does not count */
	T_CHECK(bytes_eq(env.record.value, env.record.value_len, (const uint8_t *)"\"x\"", 3));

	T_OK(decode_str("{\"topic\":\"other\",\"offset\":99,\"value\":null}", &err), &err);
	T_CHECK(env.record.value == NULL && env.record.value_len == -1);

	T_OK(decode_str("{\"value\":\"a\\u00e9\\n\",\"value_encoding\":\"text\"}", &err), &err);
	T_CHECK(bytes_eq(env.record.value, env.record.value_len, (const uint8_t *)"a\xc3\xa9\n", 4));
	T_OK(decode_str("{\"value_encoding\":\"base64\",\"value\":\"AP8=\"}", &err), &err);
	T_CHECK(bytes_eq(env.record.value, env.record.value_len, (const uint8_t *)"\0\xff", 2));
	/* base64 with escaped characters, as some encoders write '/' */
	T_OK(decode_str("{\"value\":\"\\/\\/4=\",\"value_encoding\":\"base64\"}", &err), &err);
	T_CHECK(bytes_eq(env.record.value, env.record.value_len, (const uint8_t *)"\xff\xfe", 2));
	T_OK(decode_str("{\"key\":{\"base64\":\"\\u0041\\u0041==\"},\"value\":0}", &err), &err);
	T_CHECK(bytes_eq(env.record.key, env.record.key_len, (const uint8_t *)"\0", 1));
	T_OK(decode_str("{\"value\":\"\",\"value_encoding\":\"base64\"}", &err), &err);
	T_CHECK(env.record.value_len == 0);
}

static void test_decode_number_keys(void)
{
	static const char *const keys[] = {"42", "-7", "0", "1.5", "-1.5e+10", "12345678901234567890123"};
	struct elog_err err;
	char line[128];

	for (size_t i = 0; i < N_ELEMS(keys); i++) {
		snprintf(line, sizeof(line), "{\"key\": %s ,\"value\":1}", keys[i]);
		T_OK(decode_str(line, &err), &err);
		T_CHECK(bytes_eq(env.record.key, env.record.key_len, (const uint8_t *)keys[i],
				 (int64_t)strlen(keys[i])));
	}
}

static void test_decode_duplicate_headers_in_order(void)
{
	struct elog_err err;
	const struct elog_header *h = env.headers;

	T_OK(decode_str("{\"headers\":[[\"a\",\"1\"],[\"b\",null],[\"a\",\"2\"],"
			"[{\"base64\":\"/w==\"},{\"base64\":\"\"}],[\"a\",\"3\"]],\"value\":1}", &err),
	     &err);
	T_EQ_INT(env.record.header_count, 5);
	T_CHECK(bytes_eq(h[0].name, h[0].name_len, (const uint8_t *)"a", 1));
	T_CHECK(bytes_eq(h[0].value, h[0].value_len, (const uint8_t *)"1", 1));
	T_CHECK(bytes_eq(h[1].name, h[1].name_len, (const uint8_t *)"b", 1));
	T_CHECK(h[1].value == NULL && h[1].value_len == -1);
	T_CHECK(bytes_eq(h[2].value, h[2].value_len, (const uint8_t *)"2", 1));
	T_CHECK(bytes_eq(h[3].name, h[3].name_len, (const uint8_t *)"\xff", 1));
	T_CHECK(h[3].value_len == 0);
	T_CHECK(bytes_eq(h[4].name, h[4].name_len, (const uint8_t *)"a", 1));
	T_CHECK(bytes_eq(h[4].value, h[4].value_len, (const uint8_t *)"3", 1));
}

static void test_decode_errors(void)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
		{"", "not JSON: "},
		{"plain text", "not JSON: "},
		{"[1,2]", "not a JSON object"},
		{"\"value\"", "not a JSON object"},
		{"{}", "missing member \"value\""},
		{"{\"key\":\"k\"}", "missing member \"value\""},
		{"{\"valu\":1}", "unknown member \"valu\""},
		{"{\"value\":1,\"Value\":2}", "unknown member \"Value\""},
		{"{\"value\":1,\"value\":2}", "duplicate member \"value\""},
		{"{\"key\":null,\"key\":null,\"value\":1}", "duplicate member \"key\""},
		{"{\"value\":1,\"topic\":3}", "topic: expected a string, not a number"},
		{"{\"value\":1,\"offset\":\"3\"}", "offset: expected an integer, not a string"},
		{"{\"value\":1,\"offset\":1.5}", "offset: "},
		{"{\"value\":1,\"partition\":-1}", "partition: -1 is out of range 0..4294967295"},
		{"{\"value\":1,\"partition\":4294967296}", "partition: 4294967296 is out of range"},
		{"{\"value\":1,\"timestamp\":1e3}", "timestamp: "},
		{"{\"value\":1,\"timestamp\":null}", "timestamp: expected an integer, not null"},
		{"{\"value\":1,\"key\":true}", "key: expected a string, number, null or {\"base64\""},
		{"{\"value\":1,\"key\":[]}", "key: expected a string, number, null or"},
		{"{\"value\":1,\"key\":{}}", "key: an object must be exactly {\"base64\":\"...\"}"},
		{"{\"value\":1,\"key\":{\"b64\":\"AA==\"}}", "key: an object must be exactly"},
		{"{\"value\":1,\"key\":{\"base64\":\"AA==\",\"x\":1}}", "key: an object must be exactly"},
		{"{\"value\":1,\"key\":{\"base64\":1}}", "key: base64 must be a string, not a number"},
		{"{\"value\":1,\"key\":{\"base64\":\"AA=\"}}", "key: bad base64: "},
		{"{\"value\":1,\"key\":{\"base64\":\"A===\"}}", "key: bad base64: "},
		{"{\"value\":1,\"key\":{\"base64\":\"AA==AA==\"}}", "key: bad base64: "},
		{"{\"value\":1,\"key\":{\"base64\":\"A\\u0041==AA==\"}}", "key: bad base64: "},
		{"{\"value\":1,\"key\":{\"base64\":\"AB==\"}}", "key: bad base64: "},
		{"{\"value\":1,\"headers\":{}}", "headers: expected an array of [name, value], not an object"},
		{"{\"value\":1,\"headers\":[\"a\"]}", "headers: header 1: expected a [name, value] array"},
		{"{\"value\":1,\"headers\":[[\"a\"]]}", "headers: header 1: expected [name, value], got 1 element"},
		{"{\"value\":1,\"headers\":[[]]}", "headers: header 1: expected [name, value], got 0 elements"},
		{"{\"value\":1,\"headers\":[[\"a\",\"b\",\"c\"]]}", "headers: header 1: more than [name, value]"},
		{"{\"value\":1,\"headers\":[[\"a\",\"b\"],[null,\"b\"]]}",
		 "headers: header 2: name: expected a string or {\"base64\":\"...\"}, not null"},
		{"{\"value\":1,\"headers\":[[1,\"b\"]]}", "headers: header 1: name: expected a string"},
		{"{\"value\":1,\"headers\":[[\"a\",2]]}",
		 "headers: header 1: value: expected a string, null or {\"base64\":\"...\"}, not a number"},
		{"{\"value\":1,\"headers\":[[\"a\",{\"base64\":\"!!!!\"}]]}", "headers: header 1: value: bad base64"},
		{"{\"value\":1,\"value_encoding\":\"text\"}", "value: value_encoding \"text\" needs a string, not a number"},
		{"{\"value\":{},\"value_encoding\":\"base64\"}", "value: value_encoding \"base64\" needs a string"},
		{"{\"value\":\"x\",\"value_encoding\":\"json\"}", "value_encoding: expected \"text\" or \"base64\", not \"json\""},
		{"{\"value\":\"x\",\"value_encoding\":1}", "value_encoding: expected \"text\" or \"base64\", not a number"},
		{"{\"value\":null,\"value_encoding\":\"text\"}", "value_encoding given for a null value"},
		{"{\"value\":\"x!\",\"value_encoding\":\"base64\"}", "value: bad base64: "},
		{"{\"value\":1}{}", "not JSON: "},
		{"{\"value\":1,}", "not JSON: "},
	};
	struct elog_err err;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		elog_err_clear(&err);
		if (decode_str(cases[i].line, &err) == 0) {
			fprintf(stderr, "  accepted: %s\n", cases[i].line);
			T_CHECK(0);
			continue;
		}
		if (strncmp(err.msg, cases[i].reason, strlen(cases[i].reason)) != 0) {
			fprintf(stderr, "  line: %s\n  got:  %s\n  want: %s\n", cases[i].line, err.msg,
				cases[i].reason);
			T_CHECK(0);
		}
		T_CHECK(err.code == ELOG_E_INVAL);
		/* a failed decode leaves an empty record */
		T_CHECK(env.record.key_len == -1 && env.record.value_len == -1 &&
			env.record.header_count == 0 && !env.has_partition && !env.has_timestamp);
	}
}

static void test_decode_header_limit(void)
{
	struct elog_buf line;
	struct elog_err err;

	elog_buf_init(&line, 1 << 16);
	T_OK(elog_buf_add(&line, "{\"value\":1,\"headers\":[", 22, &err), &err);
	for (int i = 0; i < ELOG_RECORD_HEADERS_MAX; i++)
		T_OK(elog_buf_add(&line, i ? ",[\"h\",\"v\"]" : "[\"h\",\"v\"]", i ? 10 : 9, &err), &err);
	T_OK(elog_buf_add(&line, "]}", 2, &err), &err);
	T_OK(elog_envelope_decode(&env, (const char *)line.data, line.len, &err), &err);
	T_EQ_INT(env.record.header_count, ELOG_RECORD_HEADERS_MAX);
	line.len -= 2;
	T_OK(elog_buf_add(&line, ",[\"h\",\"v\"]]}", 12, &err), &err);
	T_CHECK(elog_envelope_decode(&env, (const char *)line.data, line.len, &err) < 0);
	T_CHECK(strcmp(err.msg, "headers: more than 64 headers") == 0);
	elog_buf_release(&line);
}

static void test_decode_line_limit_and_depth(void)
{
	struct elog_envelope small;
	struct elog_err err;
	char deep[2 * ELOG_ENVELOPE_VALUE_DEPTH_MAX + 32];
	size_t n = 0;

	elog_envelope_init(&small, 16);
	T_OK(elog_envelope_decode(&small, "{\"value\":123456}", 16, &err), &err);
	T_CHECK(elog_envelope_decode(&small, "{\"value\":1234567}", 17, &err) < 0);
	T_CHECK(err.code == ELOG_E_LIMIT);
	elog_envelope_release(&small);

	/* a value nested exactly as deep as the encoder embeds is accepted ... */
	n += (size_t)snprintf(deep, sizeof(deep), "{\"value\":");
	for (int i = 0; i < ELOG_ENVELOPE_VALUE_DEPTH_MAX; i++)
		deep[n++] = '[';
	for (int i = 0; i < ELOG_ENVELOPE_VALUE_DEPTH_MAX; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	T_OK(elog_envelope_decode(&env, deep, n, &err), &err);
	T_CHECK(elog_envelope_value_is_embeddable(env.record.value, (size_t)env.record.value_len));
	/* ... one deeper is not (the encoder would have written it as text) */
	memmove(deep + 10, deep + 9, n - 9);
	deep[9] = '[';
	deep[n] = ']';
	deep[n + 1] = '}';
	T_CHECK(elog_envelope_decode(&env, deep, n + 2, &err) < 0);
	T_CHECK(!elog_envelope_value_is_embeddable((const uint8_t *)deep + 9, n - 8));
}

int main(void)
{
	elog_buf_init(&out, 1 << 24);
	elog_envelope_init(&env, 0);
	T_RUN(test_encode_doc_example);
	T_RUN(test_encode_value_kinds);
	T_RUN(test_encode_bytes_kinds);
	T_RUN(test_encode_all_or_nothing);
	T_RUN(test_roundtrip_every_byte);
	T_RUN(test_roundtrip_random);
	T_RUN(test_decode_minimal_and_optional);
	T_RUN(test_decode_number_keys);
	T_RUN(test_decode_duplicate_headers_in_order);
	T_RUN(test_decode_errors);
	T_RUN(test_decode_header_limit);
	T_RUN(test_decode_line_limit_and_depth);
	elog_envelope_release(&env);
	elog_buf_release(&out);
	return t_finish();
}
