/* json — validation, spans, string codec, base64 and integers for JSON lines; see json.h. */
#include "json.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

#define XX 0xff

/*
 * A byte inside a string literal: PLAIN copies through, QUOTE closes the
 * literal, BACKSLASH starts an escape, CONTROL must have been escaped, HIGH
 * starts or continues a multi-byte UTF-8 sequence (checked separately).
 */
enum { PLAIN = 0, QUOTE = 1, BACKSLASH = 2, CONTROL = 3, HIGH = 4 };

static const uint8_t string_class[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 00 */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* 50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 80 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 90 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* a0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* b0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* c0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* d0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* e0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* f0 */
};

/* Bytes elog_json_buf_add_string writes for one input byte: c, \n, \u001f. */
static const uint8_t escaped_len[256] = {
	6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6, /* 00 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 10 */
	1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 30 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, /* 50 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 70 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 90 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* a0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* b0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* c0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* d0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* e0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* f0 */
};

static const uint8_t hex_value[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 00 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 10 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 20 */
	 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, XX, XX, XX, XX, XX, XX, /* 30 */
	XX, 10, 11, 12, 13, 14, 15, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 40 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 50 */
	XX, 10, 11, 12, 13, 14, 15, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 60 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 70 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 80 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 90 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* a0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* b0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* c0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* d0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* e0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* f0 */
};

static const char base64_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const uint8_t base64_value[256] = {
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 00 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 10 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63, /* 20 */
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, XX, XX, XX, /* 30 */
	XX,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, /* 40 */
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX, /* 50 */
	XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 60 */
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX, /* 70 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 80 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 90 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* a0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* b0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* c0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* d0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* e0 */
	XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* f0 */
};

static const bool is_space[256] = { [' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true };

static const char *const type_names[] = {
	[ELOG_JSON_NONE] = "none",
	[ELOG_JSON_STRING] = "string",
	[ELOG_JSON_NUMBER] = "number",
	[ELOG_JSON_OBJECT] = "object",
	[ELOG_JSON_ARRAY] = "array",
	[ELOG_JSON_TRUE] = "true",
	[ELOG_JSON_FALSE] = "false",
	[ELOG_JSON_NULL] = "null",
};

const char *elog_json_type_name(enum elog_json_type type)
{
	if ((unsigned)type >= sizeof(type_names) / sizeof(type_names[0]))
		return "unknown";
	return type_names[type];
}

/* ---- small scanners shared by everything below ---- */

static inline bool is_digit(uint8_t c)
{
	return (unsigned)(c - '0') < 10;
}

static inline const uint8_t *skip_space(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_space[*p])
		p++;
	return p;
}

static inline const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_digit(*p))
		p++;
	return p;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* High bit set in each byte of w that is zero; exact up to the lowest one. */
static inline uint64_t zero_bytes(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/*
 * Skip string bytes that need no attention (class PLAIN), eight at a time.
 * A byte needs attention if it is below 0x20, a quote, a backslash or has
 * its high bit set; the word tests below can flag bytes above the first
 * such byte by borrow, never below it, so the lowest flag is exact.
 */
static inline const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end)
{
	while (end - p >= 8) {
		uint64_t w, special;

		memcpy(&w, p, sizeof(w));
		special = (((w - 0x20 * ONES) | w) & HIGHS) | zero_bytes(w ^ ('"' * ONES)) |
			  zero_bytes(w ^ ('\\' * ONES));
		if (special) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return p + (__builtin_ctzll(special) >> 3);
#else
			break;
#endif
		}
		p += 8;
	}
	while (p < end && string_class[*p] == PLAIN)
		p++;
	return p;
}

/* ---- UTF-8 ---- */

/*
 * Length of the well-formed UTF-8 sequence starting at p (Unicode Table 3-7),
 * or 0. The second byte's range is what rules out overlongs (C0, C1, E0
 * 80..9F, F0 80..8F), UTF-16 surrogates (ED A0..BF) and code points above
 * U+10FFFF (F4 90..BF, F5..FF).
 */
static size_t utf8_sequence_len(const uint8_t *p, const uint8_t *end)
{
	uint8_t lead = p[0], lo = 0x80, hi = 0xBF;
	size_t need;

	if (lead < 0x80)
		return 1;
	if (lead < 0xC2)
		return 0;
	if (lead < 0xE0) {
		need = 2;
	} else if (lead < 0xF0) {
		need = 3;
		lo = lead == 0xE0 ? 0xA0 : 0x80;
		hi = lead == 0xED ? 0x9F : 0xBF;
	} else if (lead < 0xF5) {
		need = 4;
		lo = lead == 0xF0 ? 0x90 : 0x80;
		hi = lead == 0xF4 ? 0x8F : 0xBF;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

/* Encode a code point (not a surrogate, at most U+10FFFF) into out; returns 1..4. */
static size_t utf8_encode(uint32_t cp, uint8_t out[4])
{
	assert(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

size_t elog_json_utf8_span(const void *bytes, size_t n)
{
	const uint8_t *start = bytes, *p, *end;

	assert(bytes || n == 0);
	if (n == 0)
		return 0;
	p = start;
	end = start + n;
	while (p < end) {
		if (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, sizeof(w));
			if (!(w & HIGHS)) {
				p += 8;
				continue;
			}
		}
		size_t k = utf8_sequence_len(p, end);
		if (k == 0)
			break;
		p += k;
	}
	return (size_t)(p - start);
}

/* ---- escapes ---- */

enum escape_result { ESCAPE_OK, ESCAPE_BAD, ESCAPE_BAD_HEX, ESCAPE_LONE_SURROGATE };

/* Four hex digits at p as a value, or UINT32_MAX; the caller checked the length. */
static uint32_t hex4(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		uint8_t h = hex_value[p[i]];
		if (h == XX)
			return UINT32_MAX;
		v = v << 4 | h;
	}
	return v;
}

/*
 * The escape at p (a backslash) as a code point, and where it ends. A high
 * surrogate \uD800..\uDBFF must be followed at once by a low one; a low
 * surrogate on its own is an error too.
 */
static enum escape_result parse_escape(const uint8_t *p, const uint8_t *end, uint32_t *cp,
				       const uint8_t **next)
{
	static const char simple_from[] = "\"\\/bfnrt";
	static const char simple_to[] = "\"\\/\b\f\n\r\t";
	uint32_t u, low;

	assert(p < end && *p == '\\');
	if (end - p < 2)
		return ESCAPE_BAD;
	if (p[1] != 'u') {
		const char *hit = p[1] ? strchr(simple_from, p[1]) : NULL;
		if (!hit)
			return ESCAPE_BAD;
		*cp = (uint8_t)simple_to[hit - simple_from];
		*next = p + 2;
		return ESCAPE_OK;
	}
	if (end - p < 6 || (u = hex4(p + 2)) == UINT32_MAX)
		return ESCAPE_BAD_HEX;
	*next = p + 6;
	if (u >= 0xDC00 && u <= 0xDFFF)
		return ESCAPE_LONE_SURROGATE;
	if (u >= 0xD800 && u <= 0xDBFF) {
		if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
			return ESCAPE_LONE_SURROGATE;
		low = hex4(p + 8);
		if (low < 0xDC00 || low > 0xDFFF)
			return ESCAPE_LONE_SURROGATE;
		u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
		*next = p + 12;
	}
	*cp = u;
	return ESCAPE_OK;
}

/* ---- numbers ---- */

/*
 * End of the number at p by RFC 8259's grammar
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * or NULL with *why. *integer says whether it had neither fraction nor exponent.
 */
static const uint8_t *number_end(const uint8_t *p, const uint8_t *end, const char **why,
				 bool *integer)
{
	*integer = true;
	if (p < end && *p == '-')
		p++;
	if (p == end || !is_digit(*p)) {
		*why = "no digits";
		return NULL;
	}
	if (*p == '0') {
		if (++p < end && is_digit(*p)) {
			*why = "leading zero";
			return NULL;
		}
	} else {
		p = skip_digits(p, end);
	}
	if (p < end && *p == '.') {
		*integer = false;
		if (++p == end || !is_digit(*p)) {
			*why = "no digits after '.'";
			return NULL;
		}
		p = skip_digits(p, end);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*integer = false;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p)) {
			*why = "no digits in exponent";
			return NULL;
		}
		p = skip_digits(p, end);
	}
	return p;
}

/* ---- validation ---- */

struct scanner {
	const uint8_t *start, *end;
	size_t depth, depth_max;
	uint64_t objects[ELOG_JSON_DEPTH_LIMIT / 64];   /* bit per open level: 1 = object */
	size_t error_pos;
	struct elog_err *err;
};

/* Record "<what> at byte N<detail>"; returns NULL so scanners can `return fail(...)`. */
static const uint8_t *fail(struct scanner *s, const uint8_t *at, enum elog_errcode code,
			   const char *what, const char *detail)
{
	s->error_pos = (size_t)(at - s->start);
	elog_err_set(s->err, code, "%s at byte %zu%s", what, s->error_pos, detail);
	return NULL;
}

/* "unexpected '}'", "unexpected control character 0x01", "unexpected end of input". */
static const uint8_t *fail_unexpected(struct scanner *s, const uint8_t *at, const char *expected)
{
	char what[48], detail[48];

	if (at == s->end)
		snprintf(what, sizeof(what), "unexpected end of input");
	else if (*at < 0x20)
		snprintf(what, sizeof(what), "unexpected control character 0x%02x", *at);
	else if (*at >= 0x7F)
		snprintf(what, sizeof(what), "unexpected byte 0x%02x", *at);
	else
		snprintf(what, sizeof(what), "unexpected '%c'", *at);
	snprintf(detail, sizeof(detail), ", expected %s", expected);
	return fail(s, at, ELOG_E_INVAL, what, detail);
}

static const uint8_t *scan_escape(struct scanner *s, const uint8_t *p, const uint8_t *open)
{
	const uint8_t *next = NULL;
	uint32_t cp;
	char what[48];

	if (s->end - p < 2)
		return fail(s, open, ELOG_E_INVAL, "unterminated string", "");
	switch (parse_escape(p, s->end, &cp, &next)) {
	case ESCAPE_OK:
		return next;
	case ESCAPE_BAD:
		if (p[1] > 0x20 && p[1] < 0x7F)
			snprintf(what, sizeof(what), "invalid escape '\\%c'", p[1]);
		else
			snprintf(what, sizeof(what), "invalid escape");
		return fail(s, p, ELOG_E_INVAL, what, "");
	case ESCAPE_BAD_HEX:
		return fail(s, p, ELOG_E_INVAL, "invalid \\u escape", "");
	case ESCAPE_LONE_SURROGATE:
		return fail(s, p, ELOG_E_INVAL, "unpaired surrogate escape", "");
	}
	return fail(s, p, ELOG_E_INVAL, "invalid escape", "");
}

/* p at the opening quote; returns the byte after the closing one. */
static const uint8_t *scan_string(struct scanner *s, const uint8_t *p)
{
	const uint8_t *open = p++, *end = s->end;
	char what[64];
	size_t k;

	for (;;) {
		p = skip_plain(p, end);
		if (p == end)
			return fail(s, open, ELOG_E_INVAL, "unterminated string", "");
		switch (string_class[*p]) {
		case QUOTE:
			return p + 1;
		case BACKSLASH:
			p = scan_escape(s, p, open);
			if (!p)
				return NULL;
			break;
		case CONTROL:
			snprintf(what, sizeof(what), "unescaped control character 0x%02x in string", *p);
			return fail(s, p, ELOG_E_INVAL, what, "");
		default:
			k = utf8_sequence_len(p, end);
			if (k == 0)
				return fail(s, p, ELOG_E_INVAL, "invalid UTF-8", "");
			p += k;
			break;
		}
	}
}

static const uint8_t *scan_number(struct scanner *s, const uint8_t *p)
{
	const char *why = "";
	char detail[48];
	bool integer;
	const uint8_t *q = number_end(p, s->end, &why, &integer);

	if (q)
		return q;
	snprintf(detail, sizeof(detail), " (%s)", why);
	return fail(s, p, ELOG_E_INVAL, "invalid number", detail);
}

static const uint8_t *scan_literal(struct scanner *s, const uint8_t *p, const char *word, size_t n)
{
	if ((size_t)(s->end - p) >= n && memcmp(p, word, n) == 0)
		return p + n;
	return fail(s, p, ELOG_E_INVAL, "invalid literal", "");
}

/* A string, number or literal at p (not end); returns the byte after it. */
static const uint8_t *scan_scalar(struct scanner *s, const uint8_t *p)
{
	switch (*p) {
	case '"':
		return scan_string(s, p);
	case 't':
		return scan_literal(s, p, "true", 4);
	case 'f':
		return scan_literal(s, p, "false", 5);
	case 'n':
		return scan_literal(s, p, "null", 4);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return scan_number(s, p);
	default:
		return fail_unexpected(s, p, "a value");
	}
}

/* A member name and its colon; returns where the member's value starts. */
static const uint8_t *scan_name(struct scanner *s, const uint8_t *p)
{
	p = skip_space(p, s->end);
	if (p == s->end || *p != '"')
		return fail_unexpected(s, p, "a member name");
	p = scan_string(s, p);
	if (!p)
		return NULL;
	p = skip_space(p, s->end);
	if (p == s->end || *p != ':')
		return fail_unexpected(s, p, "':'");
	return p + 1;
}

static inline bool top_is_object(const struct scanner *s)
{
	size_t level = s->depth - 1;

	return (s->objects[level >> 6] >> (level & 63)) & 1;
}

static const uint8_t *push(struct scanner *s, const uint8_t *p, bool object)
{
	char what[48];
	size_t level = s->depth;

	if (level == s->depth_max) {
		snprintf(what, sizeof(what), "nesting deeper than %zu", s->depth_max);
		return fail(s, p, ELOG_E_LIMIT, what, "");
	}
	assert(level < ELOG_JSON_DEPTH_LIMIT);
	if (object)
		s->objects[level >> 6] |= 1ull << (level & 63);
	else
		s->objects[level >> 6] &= ~(1ull << (level & 63));
	s->depth++;
	return p + 1;
}

/*
 * After a value: close as many containers as the input closes, then either
 * the document is over (depth 0: only whitespace may follow) or a comma
 * leads to the next value, which is where the returned pointer is.
 */
static const uint8_t *scan_after_value(struct scanner *s, const uint8_t *p)
{
	for (;;) {
		p = skip_space(p, s->end);
		if (s->depth == 0) {
			if (p != s->end)
				return fail(s, p, ELOG_E_INVAL, "trailing data", "");
			return p;
		}
		bool object = top_is_object(s);
		if (p < s->end && *p == ',')
			return object ? scan_name(s, p + 1) : p + 1;
		if (p == s->end || *p != (object ? '}' : ']'))
			return fail_unexpected(s, p, object ? "',' or '}'" : "',' or ']'");
		s->depth--;
		p++;
	}
}

static int scan_document(struct scanner *s)
{
	const uint8_t *p = s->start;

	for (;;) {
		p = skip_space(p, s->end);
		if (p == s->end) {
			fail_unexpected(s, p, "a value");
			return -1;
		}
		if (*p == '{' || *p == '[') {
			uint8_t close = *p == '{' ? '}' : ']';
			p = push(s, p, *p == '{');
			if (!p)
				return -1;
			p = skip_space(p, s->end);
			if (p == s->end || *p != close) {
				if (close == '}' && !(p = scan_name(s, p)))
					return -1;
				continue;
			}
			s->depth--;
			p++;
		} else if (!(p = scan_scalar(s, p))) {
			return -1;
		}
		p = scan_after_value(s, p);
		if (!p)
			return -1;
		if (s->depth == 0)
			return 0;
	}
}

int elog_json_validate(const char *text, size_t len, size_t depth_max,
		       size_t *error_pos, struct elog_err *err)
{
	struct scanner s;
	const uint8_t *first;
	int rc;

	assert(text || len == 0);
	assert(depth_max <= ELOG_JSON_DEPTH_LIMIT);
	if (error_pos)
		*error_pos = 0;
	if (len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "empty input");
	s.start = (const uint8_t *)text;
	s.end = s.start + len;
	s.depth = 0;
	s.depth_max = depth_max;
	s.error_pos = 0;
	s.err = err;
	first = skip_space(s.start, s.end);
	if (first == s.end)
		return elog_err_set(err, ELOG_E_INVAL, "only whitespace");
	rc = scan_document(&s);
	assert(rc == 0 ? s.depth == 0 : s.error_pos <= len);
	if (rc < 0 && error_pos)
		*error_pos = s.error_pos;
	return rc;
}

/* ---- spans ---- */

/*
 * These walk text that passed validation, so they only find ends: of a
 * string (the next quote not escaped by an odd run of backslashes), of a
 * container (brackets balanced outside strings), of a number or literal.
 * On other input they stop at `end` and report failure; they never look
 * outside [p, end).
 */

/* p just after an opening quote; returns the byte after the closing quote. */
static const char *string_end(const char *p, const char *end)
{
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		size_t backslashes = 0;

		if (!q)
			return NULL;
		while (q - backslashes > p && q[-1 - (ptrdiff_t)backslashes] == '\\')
			backslashes++;
		if (backslashes % 2 == 0)
			return q + 1;
		p = q + 1;
	}
}

/* p at '{' or '['; returns the byte after its matching close. */
static const char *container_end(const char *p, const char *end)
{
	size_t depth = 0;

	while (p < end) {
		char c = *p++;
		if (c == '"') {
			p = string_end(p, end);
			if (!p)
				return NULL;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return p;
		}
	}
	return NULL;
}

static const char *word_end(const char *p, const char *end, const char *word, size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* The value at p (not end) as a span; returns the byte after it or NULL. */
static const char *span_value(const char *p, const char *end, struct elog_json_value *value)
{
	const char *q = p;

	value->ptr = p;
	switch (*p) {
	case '"': value->type = ELOG_JSON_STRING; q = string_end(p + 1, end); break;
	case '{': value->type = ELOG_JSON_OBJECT; q = container_end(p, end); break;
	case '[': value->type = ELOG_JSON_ARRAY; q = container_end(p, end); break;
	case 't': value->type = ELOG_JSON_TRUE; q = word_end(p, end, "true", 4); break;
	case 'f': value->type = ELOG_JSON_FALSE; q = word_end(p, end, "false", 5); break;
	case 'n': value->type = ELOG_JSON_NULL; q = word_end(p, end, "null", 4); break;
	default:
		value->type = ELOG_JSON_NUMBER;
		while (q < end && (is_digit((uint8_t)*q) || *q == '-' || *q == '+' || *q == '.' ||
				   *q == 'e' || *q == 'E'))
			q++;
		if (q == p)
			q = NULL;
		break;
	}
	value->len = q ? (size_t)(q - p) : 0;
	return q;
}

static const char *skip_space_char(const char *p, const char *end)
{
	return (const char *)skip_space((const uint8_t *)p, (const uint8_t *)end);
}

int elog_json_iter_init(struct elog_json_iter *it, const char *text, size_t len,
			struct elog_err *err)
{
	const char *p;

	assert(it && (text || len == 0));
	memset(it, 0, sizeof(*it));
	if (len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "not an object or array");
	p = skip_space_char(text, text + len);
	if (p == text + len || (*p != '{' && *p != '['))
		return elog_err_set(err, ELOG_E_INVAL, "not an object or array");
	it->start = text;
	it->end = text + len;
	it->is_object = *p == '{';
	it->close = it->is_object ? '}' : ']';
	it->pos = p + 1;
	return 0;
}

static int malformed(const struct elog_json_iter *it, const char *at, struct elog_err *err)
{
	return elog_err_set(err, ELOG_E_INVAL, "malformed JSON at byte %zu",
			    (size_t)(at - it->start));
}

int elog_json_iter_next(struct elog_json_iter *it, struct elog_json_member *member,
			struct elog_err *err)
{
	const char *p, *q, *end = it->end;

	assert(it && member && it->start && it->pos <= it->end);
	memset(member, 0, sizeof(*member));
	p = skip_space_char(it->pos, end);
	if (p < end && *p == it->close) {
		it->pos = p;
		return 0;
	}
	if (it->count > 0) {
		if (p == end || *p != ',')
			return malformed(it, p, err);
		p = skip_space_char(p + 1, end);
	}
	if (it->is_object) {
		if (p == end || *p != '"' || !(q = string_end(p + 1, end)))
			return malformed(it, p, err);
		member->name = (struct elog_json_value){ ELOG_JSON_STRING, p, (size_t)(q - p) };
		p = skip_space_char(q, end);
		if (p == end || *p != ':')
			return malformed(it, p, err);
		p = skip_space_char(p + 1, end);
	}
	if (p == end || !(q = span_value(p, end, &member->value)))
		return malformed(it, p, err);
	it->pos = q;
	it->count++;
	return 1;
}

int elog_json_object_get(const char *text, size_t len, const char *name, size_t name_len,
			 struct elog_json_value *value, struct elog_err *err)
{
	struct elog_json_iter it;
	struct elog_json_member member;
	int rc, found = 0;

	assert(value && (name || name_len == 0));
	memset(value, 0, sizeof(*value));
	if (elog_json_iter_init(&it, text, len, NULL) < 0 || !it.is_object)
		return elog_err_set(err, ELOG_E_INVAL, "not an object");
	while ((rc = elog_json_iter_next(&it, &member, err)) == 1) {
		if (elog_json_string_equal(member.name.ptr, member.name.len, name, name_len)) {
			*value = member.value;
			found = 1;
		}
	}
	return rc < 0 ? -1 : found;
}

int elog_json_string_equal(const char *lit, size_t lit_len, const void *bytes, size_t n)
{
	const uint8_t *p, *end, *want = bytes, *want_end;

	assert(lit && (bytes || n == 0));
	if (lit_len < 2)
		return 0;
	p = (const uint8_t *)lit + 1;
	end = (const uint8_t *)lit + lit_len - 1;
	if (!memchr(p, '\\', lit_len - 2))
		return lit_len - 2 == n && (n == 0 || memcmp(p, bytes, n) == 0);
	want_end = want + n;
	while (p < end) {
		uint8_t unit[4];
		size_t k = 1;
		uint32_t cp;

		unit[0] = *p;
		if (*p != '\\')
			p++;
		else if (parse_escape(p, end, &cp, &p) == ESCAPE_OK)
			k = utf8_encode(cp, unit);
		else
			return 0;
		if ((size_t)(want_end - want) < k || memcmp(want, unit, k) != 0)
			return 0;
		want += k;
	}
	return want == want_end;
}

/* ---- strings ---- */

static int put(char *out, size_t out_cap, size_t *n, const void *src, size_t k,
	       struct elog_err *err)
{
	if (k > out_cap - *n)
		return elog_err_set(err, ELOG_E_LIMIT, "decoded string longer than %zu bytes",
				    out_cap);
	memcpy(out + *n, src, k);
	*n += k;
	return 0;
}

/* One escape or UTF-8 sequence at p, into unit; returns its length or 0 with err. */
static size_t decode_special(const uint8_t **pp, const uint8_t *end, const char *lit,
			     uint8_t unit[4], struct elog_err *err)
{
	const uint8_t *p = *pp;
	size_t at = (size_t)(p - (const uint8_t *)lit), k;
	uint32_t cp;

	switch (string_class[*p]) {
	case BACKSLASH:
		if (parse_escape(p, end, &cp, pp) != ESCAPE_OK) {
			elog_err_set(err, ELOG_E_INVAL, "invalid escape at byte %zu", at);
			return 0;
		}
		return utf8_encode(cp, unit);
	case HIGH:
		k = utf8_sequence_len(p, end);
		if (k == 0) {
			elog_err_set(err, ELOG_E_INVAL, "invalid UTF-8 at byte %zu", at);
			return 0;
		}
		memcpy(unit, p, k);
		*pp = p + k;
		return k;
	default:
		elog_err_set(err, ELOG_E_INVAL, "unescaped byte 0x%02x in string at byte %zu",
			     *p, at);
		return 0;
	}
}

int elog_json_string_decode(const char *lit, size_t lit_len, char *out, size_t out_cap,
			    size_t *out_len, struct elog_err *err)
{
	const uint8_t *p, *end;
	size_t n = 0;

	assert(lit && out_len && (out || out_cap == 0));
	*out_len = 0;
	if (lit_len < 2 || lit[0] != '"' || lit[lit_len - 1] != '"')
		return elog_err_set(err, ELOG_E_INVAL, "not a string literal");
	p = (const uint8_t *)lit + 1;
	end = (const uint8_t *)lit + lit_len - 1;
	while (p < end) {
		const uint8_t *run = skip_plain(p, end);
		uint8_t unit[4];
		size_t k;

		if (run > p) {
			if (put(out, out_cap, &n, p, (size_t)(run - p), err) < 0)
				return -1;
			p = run;
			continue;
		}
		k = decode_special(&p, end, lit, unit, err);
		if (k == 0 || put(out, out_cap, &n, unit, k, err) < 0)
			return -1;
	}
	assert(n <= lit_len - 2);
	*out_len = n;
	return 0;
}

/* ---- base64 ---- */

size_t elog_json_base64_encoded_len(size_t n)
{
	assert(n / 3 < SIZE_MAX / 4 - 1);
	return (n / 3 + (n % 3 != 0)) * 4;
}

size_t elog_json_base64_encode(const void *bytes, size_t n, char *out)
{
	const uint8_t *p = bytes;
	char *w = out;
	size_t i = 0;

	assert((bytes || n == 0) && out);
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = base64_alphabet[v >> 18];
		*w++ = base64_alphabet[v >> 12 & 63];
		*w++ = base64_alphabet[v >> 6 & 63];
		*w++ = base64_alphabet[v & 63];
	}
	if (n - i > 0) {
		uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
		*w++ = base64_alphabet[v >> 18];
		*w++ = base64_alphabet[v >> 12 & 63];
		*w++ = n - i == 2 ? base64_alphabet[v >> 6 & 63] : '=';
		*w++ = '=';
	}
	assert((size_t)(w - out) == elog_json_base64_encoded_len(n));
	return (size_t)(w - out);
}

/*
 * One group of four characters at t into 1..3 bytes; 0 with err. Padding is
 * allowed only in the last group, and the bits it leaves unused must be zero
 * (RFC 4648 §3.5), so every byte string has exactly one accepted encoding.
 */
static size_t base64_group(const uint8_t *t, size_t at, bool last, uint8_t out[3],
			   struct elog_err *err)
{
	uint8_t v[4];
	size_t chars = 4;

	if (last && t[3] == '=')
		chars = t[2] == '=' ? 2 : 3;
	for (size_t i = 0; i < 4; i++) {
		v[i] = i < chars ? base64_value[t[i]] : 0;
		if (v[i] == XX) {
			elog_err_set(err, ELOG_E_INVAL, "%s at byte %zu", t[i] == '=' ?
				     "misplaced base64 padding" : "invalid base64 character", at + i);
			return 0;
		}
	}
	if ((chars == 2 && (v[1] & 0x0F)) || (chars == 3 && (v[2] & 0x03))) {
		elog_err_set(err, ELOG_E_INVAL, "non-zero base64 padding bits at byte %zu",
			     at + chars - 1);
		return 0;
	}
	out[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	out[1] = (uint8_t)(v[1] << 4 | v[2] >> 2);
	out[2] = (uint8_t)(v[2] << 6 | v[3]);
	return chars - 1;
}

int elog_json_base64_decode(const char *text, size_t len, void *out, size_t out_cap,
			    size_t *out_len, struct elog_err *err)
{
	const uint8_t *t = (const uint8_t *)text;
	uint8_t *w = out;
	size_t n = 0;

	assert((text || len == 0) && (out || out_cap == 0) && out_len);
	*out_len = 0;
	if (len % 4 != 0)
		return elog_err_set(err, ELOG_E_INVAL,
				    "base64 length %zu is not a multiple of 4", len);
	for (size_t i = 0; i < len; i += 4) {
		uint8_t group[3];
		size_t k = base64_group(t + i, i, i + 4 == len, group, err);

		if (k == 0)
			return -1;
		if (k > out_cap - n)
			return elog_err_set(err, ELOG_E_LIMIT,
					    "decoded base64 longer than %zu bytes", out_cap);
		memcpy(w + n, group, k);
		n += k;
	}
	assert(n <= len / 4 * 3);
	*out_len = n;
	return 0;
}

/* ---- integers ---- */

int elog_json_int64_parse(const char *text, size_t len, int64_t *value, struct elog_err *err)
{
	const uint8_t *p = (const uint8_t *)text, *end;
	const char *why = "";
	bool integer, negative;
	uint64_t limit, acc = 0;
	int shown = (int)(len < 32 ? len : 32);

	assert((text || len == 0) && value);
	*value = 0;
	if (len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "not a number: empty");
	end = p + len;
	if (number_end(p, end, &why, &integer) != end)
		return elog_err_set(err, ELOG_E_INVAL, "not a number");
	if (!integer)
		return elog_err_set(err, ELOG_E_INVAL, "not an integer: %.*s", shown, text);
	negative = *p == '-';
	p += negative;
	limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < end; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (acc > (limit - digit) / 10)
			return elog_err_set(err, ELOG_E_INVAL, "integer out of range: %.*s%s",
					    shown, text, len > 32 ? "..." : "");
		acc = acc * 10 + digit;
	}
	if (negative)
		*value = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
	else
		*value = (int64_t)acc;
	return 0;
}

/* ---- output buffer ---- */

/* Write the escape for byte c (escaped_len[c] > 1) at w; returns the byte after. */
static char *write_escape(char *w, uint8_t c)
{
	static const char hex[] = "0123456789abcdef";

	*w++ = '\\';
	switch (c) {
	case '"': *w++ = '"'; break;
	case '\\': *w++ = '\\'; break;
	case '\b': *w++ = 'b'; break;
	case '\f': *w++ = 'f'; break;
	case '\n': *w++ = 'n'; break;
	case '\r': *w++ = 'r'; break;
	case '\t': *w++ = 't'; break;
	default:
		assert(c < 0x20);
		memcpy(w, "u00", 3);
		w[3] = hex[c >> 4];
		w[4] = hex[c & 15];
		w += 5;
		break;
	}
	return w;
}

int elog_json_buf_add_string(struct elog_buf *buf, const void *bytes, size_t n,
			     struct elog_err *err)
{
	const uint8_t *p = bytes;
	size_t valid = elog_json_utf8_span(bytes, n), out_len = 2, i = 0;
	char *w;

	if (valid != n)
		return elog_err_set(err, ELOG_E_INVAL, "not UTF-8 at byte %zu", valid);
	if (n > (SIZE_MAX - 2) / 6)
		return elog_err_set(err, ELOG_E_LIMIT, "JSON output longer than %zu bytes",
				    buf->len_max);
	for (size_t j = 0; j < n; j++)
		out_len += escaped_len[p[j]];
	if (elog_buf_reserve(buf, out_len, err) < 0)
		return -1;
	w = (char *)buf->data + buf->len;
	*w++ = '"';
	while (i < n) {
		size_t run = i;
		while (run < n && escaped_len[p[run]] == 1)
			run++;
		memcpy(w, p + i, run - i);
		w += run - i;
		if (run == n)
			break;
		w = write_escape(w, p[run]);
		i = run + 1;
	}
	*w++ = '"';
	assert((size_t)(w - (char *)buf->data) == buf->len + out_len);
	buf->len += out_len;
	return 0;
}

int elog_json_buf_add_int64(struct elog_buf *buf, int64_t value, struct elog_err *err)
{
	char text[24];
	int n = snprintf(text, sizeof(text), "%" PRId64, value);

	assert(n > 0 && (size_t)n < sizeof(text));
	return elog_buf_add(buf, text, (size_t)n, err);
}

int elog_json_buf_add_base64(struct elog_buf *buf, const void *bytes, size_t n,
			     struct elog_err *err)
{
	size_t chars;

	if (n / 3 >= SIZE_MAX / 4 - 2)
		return elog_err_set(err, ELOG_E_LIMIT, "JSON output longer than %zu bytes",
				    buf->len_max);
	chars = elog_json_base64_encoded_len(n);
	if (elog_buf_reserve(buf, chars + 2, err) < 0)
		return -1;
	buf->data[buf->len] = '"';
	elog_json_base64_encode(bytes, n, (char *)buf->data + buf->len + 1);
	buf->data[buf->len + 1 + chars] = '"';
	buf->len += chars + 2;
	return 0;
}

int elog_json_buf_add_decoded(struct elog_buf *buf, const char *lit, size_t lit_len,
			      struct elog_err *err)
{
	size_t room = lit_len >= 2 ? lit_len - 2 : 0, n = 0;

	assert(buf && lit);
	if (room > buf->len_max - buf->len)
		room = buf->len_max - buf->len;
	if (elog_buf_reserve(buf, room, err) < 0)
		return -1;
	if (elog_json_string_decode(lit, lit_len, (char *)buf->data + buf->len, room, &n, err) < 0) {
		if (err && err->code == ELOG_E_LIMIT)
			elog_err_set(err, ELOG_E_LIMIT, "JSON output longer than %zu bytes",
				     buf->len_max);
		return -1;
	}
	buf->len += n;
	return 0;
}
