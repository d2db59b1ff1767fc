/*
 * fuzz_json — libFuzzer target for libcore/json.
 *
 * Every input is validated twice: by elog_json_validate and by the small,
 * obviously-correct recursive reference parser below; the two must agree.
 * A valid document is then taken apart the way the filters will: members
 * iterated (recursively), names found again with elog_json_object_get,
 * strings decoded and re-encoded (encode(decode(s)) must validate and decode
 * to the same bytes), integers parsed and re-printed. The raw input also goes
 * through the UTF-8 scanner, base64 both ways (a strict decoder accepts only
 * the canonical encoding, so decode success means encode gives the input
 * back) and the int64 parser. Any disagreement aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define DEPTH 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- reference parser: recursive descent, written from RFC 8259 alone ---- */

struct ref {
	const uint8_t *p, *end;
};

static bool ref_value(struct ref *r, int depth);

static void ref_ws(struct ref *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool ref_eat(struct ref *r, char c)
{
	if (r->p < r->end && *r->p == (uint8_t)c) {
		r->p++;
		return true;
	}
	return false;
}

/* Decode one UTF-8 scalar value the long way: by its bits, then by range. */
static bool ref_utf8(struct ref *r)
{
	uint8_t b = *r->p;
	int n = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : -1;
	uint32_t cp;
	static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};

	if (n < 0 || b >= 0xF8 || r->end - r->p <= n)
		return false;
	cp = b & (0x3F >> n);
	for (int i = 1; i <= n; i++) {
		if ((r->p[i] & 0xC0) != 0x80)
			return false;
		cp = cp << 6 | (r->p[i] & 0x3F);
	}
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return false;
	r->p += n + 1;
	return true;
}

static int ref_hex4(struct ref *r)
{
	int v = 0;

	if (r->end - r->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = (char)r->p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	r->p += 4;
	return v;
}

static bool ref_string(struct ref *r)
{
	if (!ref_eat(r, '"'))
		return false;
	while (r->p < r->end) {
		uint8_t c = *r->p;
		if (c == '"') {
			r->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!ref_utf8(r))
				return false;
			continue;
		}
		r->p++;
		if (c != '\\')
			continue;
		if (r->p == r->end)
			return false;
		c = *r->p++;
		if (c != 'u') {
			if (!strchr("\"\\/bfnrt", c) || c == 0)
				return false;
			continue;
		}
		int u = ref_hex4(r);
		if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
			return false;
		if (u >= 0xD800 && u <= 0xDBFF) {
			int lo;
			if (!ref_eat(r, '\\') || !ref_eat(r, 'u'))
				return false;
			lo = ref_hex4(r);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return false;
		}
	}
	return false;
}

static bool ref_digits(struct ref *r)
{
	const uint8_t *start = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > start;
}

static bool ref_number(struct ref *r)
{
	ref_eat(r, '-');
	if (ref_eat(r, '0')) {
		/* a digit after a leading zero ends the number; the caller then fails */
	} else if (!ref_digits(r)) {
		return false;
	}
	if (ref_eat(r, '.') && !ref_digits(r))
		return false;
	if (ref_eat(r, 'e') || ref_eat(r, 'E')) {
		if (!ref_eat(r, '+'))
			ref_eat(r, '-');
		if (!ref_digits(r))
			return false;
	}
	return true;
}

static bool ref_word(struct ref *r, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return false;
	r->p += n;
	return true;
}

static bool ref_container(struct ref *r, int depth, bool object)
{
	if (depth >= DEPTH)
		return false;
	r->p++;
	ref_ws(r);
	if (ref_eat(r, object ? '}' : ']'))
		return true;
	for (;;) {
		if (object) {
			ref_ws(r);
			if (!ref_string(r))
				return false;
			ref_ws(r);
			if (!ref_eat(r, ':'))
				return false;
		}
		if (!ref_value(r, depth + 1))
			return false;
		ref_ws(r);
		if (ref_eat(r, object ? '}' : ']'))
			return true;
		if (!ref_eat(r, ','))
			return false;
	}
}

static bool ref_value(struct ref *r, int depth)
{
	ref_ws(r);
	if (r->p == r->end)
		return false;
	switch (*r->p) {
	case '{': return ref_container(r, depth, true);
	case '[': return ref_container(r, depth, false);
	case '"': return ref_string(r);
	case 't': return ref_word(r, "true");
	case 'f': return ref_word(r, "false");
	case 'n': return ref_word(r, "null");
	default: return ref_number(r);
	}
}

static bool ref_validate(const uint8_t *data, size_t size)
{
	struct ref r = { data, data + size };

	if (size == 0 || !ref_value(&r, 0))
		return false;
	ref_ws(&r);
	/* "01": the number stopped after 0, so a digit follows: invalid either way */
	return r.p == r.end;
}

/* ---- checks on a valid document ---- */

static void check_string(const struct elog_json_value *v)
{
	struct elog_buf buf;
	struct elog_err err;
	char *out = malloc(v->len), *again = malloc(v->len);
	size_t n = 0, n2 = 0;

	CHECK(out && again && v->type == ELOG_JSON_STRING);
	CHECK(elog_json_string_decode(v->ptr, v->len, out, v->len - 2, &n, &err) == 0);
	CHECK(n <= v->len - 2);
	CHECK(elog_json_utf8_span(out, n) == n);
	CHECK(elog_json_string_equal(v->ptr, v->len, out, n));
	if (n > 0)
		CHECK(!elog_json_string_equal(v->ptr, v->len, out, n - 1));
	elog_buf_init(&buf, 6 * n + 2);
	CHECK(elog_json_buf_add_string(&buf, out, n, &err) == 0);
	CHECK(elog_json_validate((const char *)buf.data, buf.len, 0, NULL, &err) == 0);
	CHECK(elog_json_string_decode((const char *)buf.data, buf.len, again, v->len, &n2, &err) == 0);
	CHECK(n2 == n && memcmp(again, out, n) == 0);
	elog_buf_reset(&buf);
	CHECK(elog_json_buf_add_decoded(&buf, v->ptr, v->len, &err) == 0);
	CHECK(buf.len == n && (n == 0 || memcmp(buf.data, out, n) == 0));
	elog_buf_release(&buf);
	free(out);
	free(again);
}

static void check_number(const struct elog_json_value *v)
{
	struct elog_buf buf;
	int64_t x, y;

	if (elog_json_int64_parse(v->ptr, v->len, &x, NULL) < 0)
		return;
	elog_buf_init(&buf, 32);
	CHECK(elog_json_buf_add_int64(&buf, x, NULL) == 0);
	CHECK(elog_json_int64_parse((const char *)buf.data, buf.len, &y, NULL) == 0 && x == y);
	CHECK(buf.len == v->len || (v->len == 2 && memcmp(v->ptr, "-0", 2) == 0));
	elog_buf_release(&buf);
}

static void check_value(const struct elog_json_value *v, int depth);

/* m was just returned by it: its name decodes, and object_get finds the last member so named. */
static void check_name(const struct elog_json_value *object, const struct elog_json_iter *it,
		       const struct elog_json_member *m)
{
	struct elog_json_value found, last = m->value;
	struct elog_json_iter rest = *it;
	struct elog_json_member later;
	struct elog_err err;
	char name[256];
	size_t n;

	check_string(&m->name);
	if (m->name.len - 2 > sizeof(name))
		return;
	CHECK(elog_json_string_decode(m->name.ptr, m->name.len, name, sizeof(name), &n, &err) == 0);
	while (elog_json_iter_next(&rest, &later, NULL) == 1)
		if (elog_json_string_equal(later.name.ptr, later.name.len, name, n))
			last = later.value;
	CHECK(elog_json_object_get(object->ptr, object->len, name, n, &found, &err) == 1);
	CHECK(found.ptr == last.ptr && found.len == last.len);
}

static void check_container(const struct elog_json_value *v, int depth)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	struct elog_err err;
	int rc;

	CHECK(elog_json_iter_init(&it, v->ptr, v->len, &err) == 0);
	CHECK(it.is_object == (v->type == ELOG_JSON_OBJECT));
	while ((rc = elog_json_iter_next(&it, &m, &err)) == 1) {
		CHECK(m.value.ptr >= v->ptr && m.value.ptr + m.value.len <= v->ptr + v->len);
		CHECK(elog_json_validate(m.value.ptr, m.value.len, DEPTH, NULL, &err) == 0);
		if (it.is_object)
			check_name(v, &it, &m);
		else
			CHECK(m.name.type == ELOG_JSON_NONE);
		check_value(&m.value, depth + 1);
	}
	CHECK(rc == 0);
}

static void check_value(const struct elog_json_value *v, int depth)
{
	CHECK(depth <= DEPTH);
	switch (v->type) {
	case ELOG_JSON_STRING: check_string(v); break;
	case ELOG_JSON_NUMBER: check_number(v); break;
	case ELOG_JSON_OBJECT: case ELOG_JSON_ARRAY: check_container(v, depth); break;
	case ELOG_JSON_TRUE: CHECK(v->len == 4); break;
	case ELOG_JSON_FALSE: CHECK(v->len == 5); break;
	case ELOG_JSON_NULL: CHECK(v->len == 4); break;
	case ELOG_JSON_NONE: CHECK(0); break;
	}
}

/* The document's one value, as a span, the way the filters would see it. */
static void check_document(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct elog_json_value v = { ELOG_JSON_NONE, NULL, 0 };
	struct elog_json_iter it;
	struct elog_json_member m;

	while (p < end && strchr(" \t\r\n", *p) && *p)
		p++;
	while (end > p && strchr(" \t\r\n", end[-1]) && end[-1])
		end--;
	v.ptr = p;
	v.len = (size_t)(end - p);
	switch (*p) {
	case '"': v.type = ELOG_JSON_STRING; break;
	case '{': v.type = ELOG_JSON_OBJECT; break;
	case '[': v.type = ELOG_JSON_ARRAY; break;
	case 't': v.type = ELOG_JSON_TRUE; break;
	case 'f': v.type = ELOG_JSON_FALSE; break;
	case 'n': v.type = ELOG_JSON_NULL; break;
	default: v.type = ELOG_JSON_NUMBER; break;
	}
	check_value(&v, 0);
	if (v.type == ELOG_JSON_OBJECT || v.type == ELOG_JSON_ARRAY) {
		/* the whole line, surrounding whitespace included, iterates the same */
		CHECK(elog_json_iter_init(&it, (const char *)data, size, NULL) == 0);
		while (elog_json_iter_next(&it, &m, NULL) == 1)
			;
		CHECK(it.pos == end - 1);
	}
}

/* ---- checks on any bytes ---- */

static void check_bytes(const uint8_t *data, size_t size)
{
	struct elog_buf buf;
	struct elog_err err;
	size_t valid = elog_json_utf8_span(data, size), n = 0;
	char *enc = malloc(elog_json_base64_encoded_len(size) + 1);
	uint8_t *dec = malloc(size + 1);
	int64_t x;

	CHECK(enc && dec && valid <= size);
	elog_buf_init(&buf, 6 * size + 2);
	CHECK((elog_json_buf_add_string(&buf, data, size, &err) == 0) == (valid == size));
	if (valid == size)
		CHECK(elog_json_validate((const char *)buf.data, buf.len, 0, NULL, &err) == 0);
	elog_buf_release(&buf);
	n = elog_json_base64_encode(data, size, enc);
	CHECK(elog_json_base64_decode(enc, n, dec, size, &n, &err) == 0);
	CHECK(n == size && (size == 0 || memcmp(dec, data, size) == 0));
	if (elog_json_base64_decode((const char *)data, size, dec, size, &n, NULL) == 0) {
		CHECK(elog_json_base64_encode(dec, n, enc) == size);
		CHECK(size == 0 || memcmp(enc, data, size) == 0);
	}
	if (elog_json_int64_parse((const char *)data, size, &x, NULL) == 0)
		CHECK(elog_json_validate((const char *)data, size, 0, NULL, NULL) == 0);
	free(enc);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elog_err err;
	size_t pos = 0;
	int rc = elog_json_validate((const char *)data, size, DEPTH, &pos, &err);
	bool ref = ref_validate(data, size);

	if ((rc == 0) != ref) {
		fprintf(stderr, "validate %d (%s at %zu), reference %d\n", rc,
			rc ? err.msg : "ok", pos, ref);
		abort();
	}
	if (rc < 0)
		CHECK(pos <= size && err.msg[0] != '\0');
	else
		check_document(data, size);
	check_bytes(data, size);
	return 0;
}
