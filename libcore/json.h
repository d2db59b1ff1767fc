/*
 * json — the JSON primitives the line filters are built on: elog-produce
 * reads JSON lines, elog-consume --json writes them, and what one writes the
 * other takes back unchanged.
 *
 * The module owns five things, none of which builds a tree:
 *
 *   1. Validation. elog_json_validate() checks that a buffer holds exactly one
 *      RFC 8259 value, optionally surrounded by whitespace, strictly: no
 *      trailing commas, comments, NaN, leading zeros or unpaired surrogate
 *      escapes; strings are well-formed UTF-8 without raw control characters.
 *      It makes one pass, never allocates and never recurses: containers are
 *      tracked on a bit stack, and nesting beyond depth_max (at most
 *      ELOG_JSON_DEPTH_LIMIT) is an error, not a crash. On failure the
 *      message reads "unexpected '}' at byte 17"; byte positions are 0-based
 *      offsets into the buffer, and *error_pos receives the same number.
 *
 *   2. Spans. A value inside a buffer is a struct elog_json_value: its type
 *      and the exact bytes of its text (a string keeps its quotes). Spans
 *      point into the caller's buffer and live as long as it does.
 *      elog_json_iter walks the members of one object (or the elements of
 *      one array) without descending into them; elog_json_object_get finds a
 *      member by name, comparing names after unescaping. Both expect a buffer
 *      that passed validation: on anything else they stay inside the buffer
 *      and fail or return spans of unspecified content, but never misbehave.
 *
 *   3. Strings. elog_json_string_decode() turns a string literal span into
 *      UTF-8 bytes in a caller buffer; the decoded text is never longer than
 *      the literal minus its two quotes, so that much room always suffices.
 *      elog_json_buf_add_string() appends bytes as a literal, escaping '"',
 *      '\' and control characters; the bytes must be UTF-8 (check with
 *      elog_json_utf8_span() first, and fall back to base64 when they are
 *      not). Decoding then encoding a valid literal yields a valid literal.
 *
 *   4. Bytes. elog_json_utf8_span() measures the well-formed UTF-8 prefix of
 *      arbitrary bytes; base64 (RFC 4648 standard alphabet, padded) carries
 *      bytes that are not UTF-8. The decoder is strict: length a multiple of
 *      four, padding only at the end, no whitespace, zero unused bits.
 *
 *   5. Integers. elog_json_int64_parse() reads an integer number span
 *      (offsets, timestamps, partitions); fractions, exponents and values
 *      outside int64 are errors.
 *
 * Output goes into a struct elog_buf, a growable byte buffer with a hard
 * cap. Its functions follow git's meanings: _init makes an empty buffer that
 * owns nothing, _reset empties it and keeps the memory for reuse, _release
 * frees the memory and leaves it as _init did. Every append is all or
 * nothing: on failure (cap reached, allocation failed, bad input) len is
 * unchanged. data is not NUL-terminated and is NULL until the first append.
 *
 * A typical produce loop:
 *
 *   if (elog_json_validate(line, n, ELOG_JSON_DEPTH_DEFAULT, NULL, &err) < 0)
 *           report "line %zu: invalid JSON: %s", lineno, err.msg
 *   rc = elog_json_object_get(line, n, "id", 2, &key, &err);
 *   if (rc == 1 && key.type == ELOG_JSON_STRING)
 *           elog_json_string_decode(key.ptr, key.len, kbuf, sizeof(kbuf), &klen, &err);
 *
 * and a consume loop: elog_buf_reset(&out), then elog_buf_add() the
 * punctuation and elog_json_buf_add_string() / _add_int64() / _add_base64()
 * the fields, then write out.data, out.len.
 *
 * Failures return -1 and fill struct elog_err (ELOG_E_INVAL for bad input,
 * ELOG_E_LIMIT for a full buffer or depth, ELOG_E_NOMEM). Passing NULL
 * pointers or an out-of-range depth_max is a programmer error (assert).
 */
#ifndef ELOG_JSON_H
#define ELOG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Hard ceiling for depth_max (the validator's bit stack is sized for it). */
#define ELOG_JSON_DEPTH_LIMIT 1024
/* What the tools use unless told otherwise. */
#define ELOG_JSON_DEPTH_DEFAULT 64

enum elog_json_type {
	ELOG_JSON_NONE = 0,     /* no value: an array element's name */
	ELOG_JSON_STRING,
	ELOG_JSON_NUMBER,
	ELOG_JSON_OBJECT,
	ELOG_JSON_ARRAY,
	ELOG_JSON_TRUE,
	ELOG_JSON_FALSE,
	ELOG_JSON_NULL,
};

/* A value's text inside the caller's buffer; a string keeps its quotes. */
struct elog_json_value {
	enum elog_json_type type;
	const char *ptr;
	size_t len;
};

struct elog_json_member {
	struct elog_json_value name;    /* ELOG_JSON_NONE when iterating an array */
	struct elog_json_value value;
};

/* Members of one object or elements of one array, in order, duplicates kept. */
struct elog_json_iter {
	const char *start;              /* for byte positions in messages */
	const char *pos;                /* next unread byte */
	const char *end;
	char close;                     /* '}' or ']' */
	int is_object;
	size_t count;                   /* members returned so far */
};


/* "string", "number", "object", ... */
const char *elog_json_type_name(enum elog_json_type type);

/* ---- validation ---- */

/* 0 if text[0..len) is exactly one JSON value; -1 with a reason otherwise. */
int elog_json_validate(const char *text, size_t len, size_t depth_max,
		       size_t *error_pos, struct elog_err *err);

/* ---- spans (input must have passed elog_json_validate) ---- */

/* Start at the object or array whose text (surrounding whitespace allowed)
 * is text[0..len); -1 if it is neither. */
int elog_json_iter_init(struct elog_json_iter *it, const char *text, size_t len,
			struct elog_err *err);
/* 1 and the next member, 0 at the end, -1 on malformed input. */
int elog_json_iter_next(struct elog_json_iter *it, struct elog_json_member *member,
			struct elog_err *err);

/* Find a top-level member of the object text[0..len) by its unescaped name.
 * 1 and *value when found (the last one, if the name repeats, as jq does),
 * 0 when absent, -1 if text is not an object. */
int elog_json_object_get(const char *text, size_t len, const char *name, size_t name_len,
			 struct elog_json_value *value, struct elog_err *err);

/* 1 if the string literal lit[0..lit_len) unescapes to bytes[0..n), else 0. */
int elog_json_string_equal(const char *lit, size_t lit_len, const void *bytes, size_t n);

/* ---- strings ---- */

/* Unescape the literal lit[0..lit_len) (with its quotes) into out; out_cap >=
 * lit_len - 2 always suffices. -1 if the literal is malformed or out is too
 * small (ELOG_E_LIMIT). */
int elog_json_string_decode(const char *lit, size_t lit_len, char *out, size_t out_cap,
			    size_t *out_len, struct elog_err *err);

/* ---- bytes ---- */

/* Length of the longest well-formed UTF-8 prefix: n when all of it is. */
size_t elog_json_utf8_span(const void *bytes, size_t n);

/* Characters base64 needs for n bytes: 4 * ceil(n / 3). */
size_t elog_json_base64_encoded_len(size_t n);
/* Write elog_json_base64_encoded_len(n) characters to out; returns that count. */
size_t elog_json_base64_encode(const void *bytes, size_t n, char *out);
/* Strict decode of text[0..len) into out (out_cap >= len / 4 * 3 suffices). */
int elog_json_base64_decode(const char *text, size_t len, void *out, size_t out_cap,
			    size_t *out_len, struct elog_err *err);

/* ---- numbers ---- */

/* Parse an integer number span ("-12", "0"; not "1.0", "1e3", "01"). */
int elog_json_int64_parse(const char *text, size_t len, int64_t *value, struct elog_err *err);

/* ---- output buffer ---- */

/* Append bytes (UTF-8) as a quoted, escaped JSON string literal. */
int elog_json_buf_add_string(struct elog_buf *buf, const void *bytes, size_t n,
			     struct elog_err *err);
/* Append a decimal integer. */
int elog_json_buf_add_int64(struct elog_buf *buf, int64_t value, struct elog_err *err);
/* Append bytes base64-encoded, as a quoted JSON string literal. */
int elog_json_buf_add_base64(struct elog_buf *buf, const void *bytes, size_t n,
			     struct elog_err *err);
/* Append the unescaped bytes of the literal lit[0..lit_len). */
int elog_json_buf_add_decoded(struct elog_buf *buf, const char *lit, size_t lit_len,
			      struct elog_err *err);

#endif
