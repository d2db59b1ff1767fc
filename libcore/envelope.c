/*
 * envelope — records as JSON lines; see envelope.h and docs/json.md.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "envelope.h"
#include "json.h"

/* Longest piece of a member name or literal quoted in an error message. */
#define QUOTE_MAX 40

/* ---------------------------------------------------------------- encoding */

static int add_literal(struct elog_buf *out, const char *s, struct elog_err *err)
{
	return elog_buf_add(out, s, strlen(s), err);
}

/* Decimal integers without printf: the encoder writes three per record. */
static int add_int64(struct elog_buf *out, int64_t v, struct elog_err *err)
{
	char text[24], *p = text + sizeof(text);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return elog_buf_add(out, p, (size_t)(text + sizeof(text) - p), err);
}

/* Can a JSON document start / end with this byte? A quick filter that
 * spares plain text the validator, and refuses surrounding whitespace. */
static int json_can_start(uint8_t c)
{
	return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') ||
	       c == 't' || c == 'f' || c == 'n';
}

static int json_can_end(uint8_t c)
{
	return c == '}' || c == ']' || c == '"' || (c >= '0' && c <= '9') || c == 'e' ||
	       c == 'l';
}

int elog_envelope_value_is_embeddable(const uint8_t *value, size_t len)
{
	assert(value || len == 0);
	if (len == 0 || !json_can_start(value[0]) || !json_can_end(value[len - 1]))
		return 0;
	/* A value that is exactly "null" would read back as a tombstone. */
	if (len == 4 && memcmp(value, "null", 4) == 0)
		return 0;
	if (memchr(value, '\n', len) || memchr(value, '\r', len))
		return 0;
	return elog_json_validate((const char *)value, len, ELOG_ENVELOPE_VALUE_DEPTH_MAX, NULL,
				  NULL) == 0;
}

/* Key or header bytes: null, a string when UTF-8, else {"base64":"..."}. */
static int add_bytes(struct elog_buf *out, const uint8_t *p, int64_t len, struct elog_err *err)
{
	if (len < 0)
		return add_literal(out, "null", err);
	if (elog_json_utf8_span(p, (size_t)len) == (size_t)len)
		return elog_json_buf_add_string(out, p, (size_t)len, err);
	if (add_literal(out, "{\"base64\":", err) < 0 ||
	    elog_json_buf_add_base64(out, p, (size_t)len, err) < 0)
		return -1;
	return add_literal(out, "}", err);
}

static int add_headers(struct elog_buf *out, const struct elog_record_view *rec,
		       struct elog_err *err)
{
	assert(rec->header_count <= ELOG_RECORD_HEADERS_MAX);
	if (add_literal(out, "[", err) < 0)
		return -1;
	for (uint32_t i = 0; i < rec->header_count; i++) {
		const struct elog_header *h = &rec->headers[i];

		if (add_literal(out, i == 0 ? "[" : ",[", err) < 0 ||
		    add_bytes(out, h->name, h->name_len, err) < 0 ||
		    add_literal(out, ",", err) < 0 ||
		    add_bytes(out, h->value, h->value_len, err) < 0 ||
		    add_literal(out, "]", err) < 0)
			return -1;
	}
	return add_literal(out, "]", err);
}

/* "value": embedded JSON, text or base64 (with value_encoding), or null. */
static int add_value(struct elog_buf *out, const uint8_t *p, int64_t len, struct elog_err *err)
{
	if (len < 0)
		return add_literal(out, "null", err);
	if (elog_envelope_value_is_embeddable(p, (size_t)len))
		return elog_buf_add(out, p, (size_t)len, err);
	if (elog_json_utf8_span(p, (size_t)len) == (size_t)len) {
		if (elog_json_buf_add_string(out, p, (size_t)len, err) < 0)
			return -1;
		return add_literal(out, ",\"value_encoding\":\"text\"", err);
	}
	if (elog_json_buf_add_base64(out, p, (size_t)len, err) < 0)
		return -1;
	return add_literal(out, ",\"value_encoding\":\"base64\"", err);
}

int elog_envelope_encode(struct elog_buf *out, const char *topic, size_t topic_len,
			 uint32_t partition, const struct elog_record_view *rec,
			 struct elog_err *err)
{
	size_t start;

	assert(out && (topic || topic_len == 0) && rec);
	assert(rec->key_len >= -1 && rec->value_len >= -1);
	start = out->len;
	if (add_literal(out, "{\"topic\":", err) < 0 ||
	    elog_json_buf_add_string(out, topic, topic_len, err) < 0 ||
	    add_literal(out, ",\"partition\":", err) < 0 ||
	    add_int64(out, partition, err) < 0 ||
	    add_literal(out, ",\"offset\":", err) < 0 ||
	    add_int64(out, rec->offset, err) < 0 ||
	    add_literal(out, ",\"timestamp\":", err) < 0 ||
	    add_int64(out, rec->timestamp_ms, err) < 0 ||
	    add_literal(out, ",\"key\":", err) < 0 ||
	    add_bytes(out, rec->key, rec->key_len, err) < 0 ||
	    add_literal(out, ",\"headers\":", err) < 0 ||
	    add_headers(out, rec, err) < 0 ||
	    add_literal(out, ",\"value\":", err) < 0 ||
	    add_value(out, rec->value, rec->value_len, err) < 0 ||
	    add_literal(out, "}\n", err) < 0) {
		out->len = start;
		return -1;
	}
	assert(out->len > start && out->data[out->len - 1] == '\n');
	return 0;
}

/* ---------------------------------------------------------------- decoding */

enum member {
	M_TOPIC, M_PARTITION, M_OFFSET, M_TIMESTAMP, M_KEY, M_HEADERS, M_VALUE, M_VALUE_ENCODING,
	M__COUNT
};

static const char *const member_names[M__COUNT] = {
	"topic", "partition", "offset", "timestamp", "key", "headers", "value", "value_encoding",
};

void elog_envelope_init(struct elog_envelope *env, size_t line_bytes_max)
{
	assert(env);
	if (line_bytes_max == 0)
		line_bytes_max = ELOG_ENVELOPE_LINE_BYTES_DEFAULT;
	/* Every decoded length must fit the record's int32 lengths. */
	assert(line_bytes_max <= INT32_MAX);
	memset(env, 0, sizeof(*env));
	env->line_bytes_max = line_bytes_max;
	elog_buf_init(&env->arena, line_bytes_max);
	env->record.key_len = -1;
	env->record.value_len = -1;
	env->record.headers = env->headers;
}

void elog_envelope_release(struct elog_envelope *env)
{
	assert(env);
	elog_buf_release(&env->arena);
	env->record.key = NULL;
	env->record.key_len = -1;
	env->record.value = NULL;
	env->record.value_len = -1;
	env->record.header_count = 0;
}

static void record_clear(struct elog_envelope *env)
{
	memset(&env->record, 0, sizeof(env->record));
	env->record.key_len = -1;
	env->record.value_len = -1;
	env->record.headers = env->headers;
	env->has_partition = 0;
	env->partition = 0;
	env->has_timestamp = 0;
}

/* Room left in the arena: the decode reserved the line's length up front. */
static uint8_t *arena_tail(struct elog_envelope *env, size_t *room)
{
	*room = env->arena.cap - env->arena.len;
	return env->arena.data + env->arena.len;
}

/* Unescape a string literal into the arena. */
static int decode_string(struct elog_envelope *env, const struct elog_json_value *v,
			 const uint8_t **p, int32_t *len, struct elog_err *err)
{
	size_t room, n;
	uint8_t *w = arena_tail(env, &room);

	assert(v->type == ELOG_JSON_STRING && v->len >= 2 && room >= v->len - 2);
	if (elog_json_string_decode(v->ptr, v->len, (char *)w, room, &n, err) < 0)
		return -1;
	env->arena.len += n;
	*p = w;
	*len = (int32_t)n;
	return 0;
}

/*
 * Base64 in a string literal into the arena. A literal without escapes is
 * decoded straight from the line; one with escapes (some encoders write
 * "\/") is unescaped first, then decoded in place group by group: each
 * 4-character group becomes at most 3 bytes written no further than it.
 */
static int decode_base64(struct elog_envelope *env, const struct elog_json_value *v,
			 const uint8_t **p, int32_t *len, struct elog_err *err)
{
	size_t room, n, text_len, w = 0;
	uint8_t *out = arena_tail(env, &room);

	assert(v->type == ELOG_JSON_STRING && v->len >= 2 && room >= v->len - 2);
	if (!memchr(v->ptr + 1, '\\', v->len - 2)) {
		if (elog_json_base64_decode(v->ptr + 1, v->len - 2, out, room, &n, err) < 0)
			return -1;
	} else {
		if (elog_json_string_decode(v->ptr, v->len, (char *)out, room, &text_len, err) < 0)
			return -1;
		if (text_len % 4 != 0)
			return elog_err_set(err, ELOG_E_INVAL,
					    "base64 length %zu is not a multiple of 4", text_len);
		for (size_t i = 0; i < text_len; i += 4) {
			uint8_t group[3];
			size_t k;

			if (elog_json_base64_decode((const char *)out + i, 4, group, sizeof(group), &k,
						    err) < 0)
				return elog_err_prefix(err, "at character %zu", i);
			if (k < 3 && i + 4 < text_len)
				return elog_err_set(err, ELOG_E_INVAL,
						    "padding before the end at character %zu", i);
			memcpy(out + w, group, k);
			w += k;
		}
		n = w;
	}
	assert(n <= room);
	env->arena.len += n;
	*p = out;
	*len = (int32_t)n;
	return 0;
}

static const char *article_type(enum elog_json_type type)
{
	switch (type) {
	case ELOG_JSON_ARRAY:
		return "an array";
	case ELOG_JSON_OBJECT:
		return "an object";
	case ELOG_JSON_NUMBER:
		return "a number";
	case ELOG_JSON_STRING:
		return "a string";
	case ELOG_JSON_NULL:
		return "null";
	case ELOG_JSON_TRUE:
		return "true";
	case ELOG_JSON_FALSE:
		return "false";
	default:
		return "nothing";
	}
}

/* {"base64":"..."}: exactly that one member. */
static int decode_base64_object(struct elog_envelope *env, const struct elog_json_value *v,
				const uint8_t **p, int32_t *len, struct elog_err *err)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	struct elog_json_value text = {0};
	int rc, count = 0;

	if (elog_json_iter_init(&it, v->ptr, v->len, err) < 0)
		return -1;
	while ((rc = elog_json_iter_next(&it, &m, err)) == 1) {
		if (!elog_json_string_equal(m.name.ptr, m.name.len, "base64", 6) || count > 0)
			return elog_err_set(err, ELOG_E_INVAL,
					    "an object must be exactly {\"base64\":\"...\"}");
		text = m.value;
		count++;
	}
	if (rc < 0)
		return -1;
	if (count == 0)
		return elog_err_set(err, ELOG_E_INVAL, "an object must be exactly {\"base64\":\"...\"}");
	if (text.type != ELOG_JSON_STRING)
		return elog_err_set(err, ELOG_E_INVAL, "base64 must be a string, not %s",
				    article_type(text.type));
	if (decode_base64(env, &text, p, len, err) < 0)
		return elog_err_prefix(err, "bad base64");
	return 0;
}

enum bytes_kind { BYTES_KEY, BYTES_HEADER_NAME, BYTES_HEADER_VALUE };

/* A key, header name or header value: string, null, {"base64":...}, or (keys) a number. */
static int decode_bytes(struct elog_envelope *env, const struct elog_json_value *v,
			enum bytes_kind kind, const uint8_t **p, int32_t *len, struct elog_err *err)
{
	switch (v->type) {
	case ELOG_JSON_STRING:
		return decode_string(env, v, p, len, err);
	case ELOG_JSON_OBJECT:
		return decode_base64_object(env, v, p, len, err);
	case ELOG_JSON_NULL:
		if (kind == BYTES_HEADER_NAME)
			break;
		*p = NULL;
		*len = -1;
		return 0;
	case ELOG_JSON_NUMBER:
		if (kind != BYTES_KEY)
			break;
		*p = (const uint8_t *)v->ptr;
		*len = (int32_t)v->len;
		return 0;
	default:
		break;
	}
	return elog_err_set(err, ELOG_E_INVAL, "expected %s, not %s",
			    kind == BYTES_KEY ? "a string, number, null or {\"base64\":\"...\"}" :
			    kind == BYTES_HEADER_NAME ? "a string or {\"base64\":\"...\"}" :
			    "a string, null or {\"base64\":\"...\"}",
			    article_type(v->type));
}

/* One header: a [name, value] array of exactly two elements. */
static int decode_header(struct elog_envelope *env, const struct elog_json_value *v,
			 struct elog_header *h, struct elog_err *err)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	const uint8_t *p;
	int32_t len;
	int rc;

	if (v->type != ELOG_JSON_ARRAY)
		return elog_err_set(err, ELOG_E_INVAL, "expected a [name, value] array, not %s",
				    article_type(v->type));
	if (elog_json_iter_init(&it, v->ptr, v->len, err) < 0)
		return -1;
	while ((rc = elog_json_iter_next(&it, &m, err)) == 1) {
		if (it.count > 2)
			return elog_err_set(err, ELOG_E_INVAL, "more than [name, value]");
		if (decode_bytes(env, &m.value, it.count == 1 ? BYTES_HEADER_NAME :
				 BYTES_HEADER_VALUE, &p, &len, err) < 0)
			return elog_err_prefix(err, "%s", it.count == 1 ? "name" : "value");
		if (it.count == 1) {
			h->name = p;
			h->name_len = (uint32_t)len;
		} else {
			h->value = p;
			h->value_len = len;
		}
	}
	if (rc < 0)
		return -1;
	if (it.count < 2)
		return elog_err_set(err, ELOG_E_INVAL, "expected [name, value], got %zu element%s",
				    it.count, it.count == 1 ? "" : "s");
	return 0;
}

static int decode_headers(struct elog_envelope *env, const struct elog_json_value *v,
			  struct elog_err *err)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	int rc;

	if (v->type != ELOG_JSON_ARRAY)
		return elog_err_set(err, ELOG_E_INVAL, "expected an array of [name, value], not %s",
				    article_type(v->type));
	if (elog_json_iter_init(&it, v->ptr, v->len, err) < 0)
		return -1;
	while ((rc = elog_json_iter_next(&it, &m, err)) == 1) {
		uint32_t i = env->record.header_count;

		if (i == ELOG_RECORD_HEADERS_MAX)
			return elog_err_set(err, ELOG_E_INVAL, "more than %d headers",
					    ELOG_RECORD_HEADERS_MAX);
		if (decode_header(env, &m.value, &env->headers[i], err) < 0)
			return elog_err_prefix(err, "header %" PRIu32, i + 1);
		env->record.header_count = i + 1;
	}
	return rc;
}

static int decode_integer(const struct elog_json_value *v, int64_t min, int64_t max,
			  int64_t *out, struct elog_err *err)
{
	if (v->type != ELOG_JSON_NUMBER)
		return elog_err_set(err, ELOG_E_INVAL, "expected an integer, not %s",
				    article_type(v->type));
	if (elog_json_int64_parse(v->ptr, v->len, out, err) < 0)
		return -1;
	if (*out < min || *out > max)
		return elog_err_set(err, ELOG_E_INVAL, "%" PRId64 " is out of range %" PRId64
				    "..%" PRId64, *out, min, max);
	return 0;
}

/* value, given value_encoding (NULL when absent). */
static int decode_value(struct elog_envelope *env, const struct elog_json_value *v,
			const struct elog_json_value *encoding, struct elog_err *err)
{
	struct elog_record *r = &env->record;

	if (!encoding) {
		if (v->type == ELOG_JSON_NULL) {
			r->value = NULL;
			r->value_len = -1;
		} else {
			r->value = (const uint8_t *)v->ptr;
			r->value_len = (int32_t)v->len;
		}
		return 0;
	}
	if (encoding->type != ELOG_JSON_STRING)
		return elog_err_set(err, ELOG_E_INVAL,
				    "value_encoding: expected \"text\" or \"base64\", not %s",
				    article_type(encoding->type));
	int text = elog_json_string_equal(encoding->ptr, encoding->len, "text", 4);
	int base64 = elog_json_string_equal(encoding->ptr, encoding->len, "base64", 6);

	if (!text && !base64)
		return elog_err_set(err, ELOG_E_INVAL,
				    "value_encoding: expected \"text\" or \"base64\", not %.*s",
				    (int)(encoding->len < QUOTE_MAX ? encoding->len : QUOTE_MAX),
				    encoding->ptr);
	if (v->type != ELOG_JSON_STRING)
		return elog_err_set(err, ELOG_E_INVAL,
				    "value: value_encoding \"%s\" needs a string, not %s",
				    text ? "text" : "base64", article_type(v->type));
	if (text)
		return decode_string(env, v, &r->value, &r->value_len, err);
	if (decode_base64(env, v, &r->value, &r->value_len, err) < 0)
		return elog_err_prefix(err, "value: bad base64");
	return 0;
}

/* Which envelope member a name literal is; M__COUNT if none. */
static enum member member_lookup(const struct elog_json_value *name)
{
	for (int i = 0; i < M__COUNT; i++)
		if (elog_json_string_equal(name->ptr, name->len, member_names[i],
					   strlen(member_names[i])))
			return (enum member)i;
	return M__COUNT;
}

/* One member that is decoded in place (everything but value and value_encoding). */
static int decode_member(struct elog_envelope *env, enum member which,
			 const struct elog_json_value *v, struct elog_err *err)
{
	int64_t n;

	switch (which) {
	case M_TOPIC:
		if (v->type != ELOG_JSON_STRING)
			return elog_err_set(err, ELOG_E_INVAL, "expected a string, not %s",
					    article_type(v->type));
		return 0;
	case M_PARTITION:
		if (decode_integer(v, 0, UINT32_MAX, &n, err) < 0)
			return -1;
		env->has_partition = 1;
		env->partition = (uint32_t)n;
		return 0;
	case M_OFFSET:
		return decode_integer(v, INT64_MIN, INT64_MAX, &n, err);
	case M_TIMESTAMP:
		if (decode_integer(v, INT64_MIN, INT64_MAX, &env->record.timestamp_ms, err) < 0)
			return -1;
		env->has_timestamp = 1;
		return 0;
	case M_KEY:
		return decode_bytes(env, v, BYTES_KEY, &env->record.key, &env->record.key_len, err);
	case M_HEADERS:
		return decode_headers(env, v, err);
	default:
		assert(0 && "value members are decoded after the loop");
		return -1;
	}
}

/* The members of the validated object text[0..len). */
static int decode_object(struct elog_envelope *env, const char *text, size_t len,
			 struct elog_err *err)
{
	struct elog_json_value seen[M__COUNT];
	struct elog_json_iter it;
	struct elog_json_member m;
	unsigned present = 0;
	int rc;

	if (elog_json_iter_init(&it, text, len, NULL) < 0 || !it.is_object)
		return elog_err_set(err, ELOG_E_INVAL, "not a JSON object");
	while ((rc = elog_json_iter_next(&it, &m, err)) == 1) {
		enum member which = member_lookup(&m.name);

		if (which == M__COUNT)
			return elog_err_set(err, ELOG_E_INVAL, "unknown member %.*s%s",
					    (int)(m.name.len < QUOTE_MAX ? m.name.len : QUOTE_MAX),
					    m.name.ptr, m.name.len > QUOTE_MAX ? "..." : "");
		if (present & (1u << which))
			return elog_err_set(err, ELOG_E_INVAL, "duplicate member \"%s\"",
					    member_names[which]);
		present |= 1u << which;
		seen[which] = m.value;
		if (which == M_VALUE || which == M_VALUE_ENCODING)
			continue;
		if (decode_member(env, which, &m.value, err) < 0)
			return elog_err_prefix(err, "%s", member_names[which]);
	}
	if (rc < 0)
		return -1;
	if (!(present & (1u << M_VALUE)))
		return elog_err_set(err, ELOG_E_INVAL, "missing member \"value\"");
	if ((present & (1u << M_VALUE_ENCODING)) && seen[M_VALUE].type == ELOG_JSON_NULL)
		return elog_err_set(err, ELOG_E_INVAL, "value_encoding given for a null value");
	return decode_value(env, &seen[M_VALUE],
			    present & (1u << M_VALUE_ENCODING) ? &seen[M_VALUE_ENCODING] : NULL, err);
}

int elog_envelope_decode(struct elog_envelope *env, const char *text, size_t len,
			 struct elog_err *err)
{
	struct elog_err json_err;

	assert(env && (text || len == 0) && env->line_bytes_max > 0);
	record_clear(env);
	elog_buf_reset(&env->arena);
	if (len > env->line_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "line of %zu bytes is longer than %zu bytes",
				    len, env->line_bytes_max);
	if (elog_json_validate(text, len, ELOG_ENVELOPE_VALUE_DEPTH_MAX + 1, NULL, &json_err) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "not JSON: %s", json_err.msg);
	/* Decoded bytes are never longer than the text they come from. */
	if (elog_buf_reserve(&env->arena, len, err) < 0)
		return -1;
	if (decode_object(env, text, len, err) < 0) {
		record_clear(env);
		elog_buf_reset(&env->arena);
		return -1;
	}
	assert(env->record.key_len >= -1 && env->record.value_len >= -1);
	assert(env->arena.len <= len);
	return 0;
}
