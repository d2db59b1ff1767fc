/*
 * envelope — one record as one JSON line, both ways (docs/json.md is the
 * contract; this is its one implementation).
 *
 * elog-consume --json encodes every record it prints with
 * elog_envelope_encode(); elog-produce --json decodes every input line with
 * elog_envelope_decode(). What the encoder writes, the decoder takes back
 * unchanged: key, headers (order and repeats kept), value and timestamp
 * survive byte for byte, whatever the bytes are.
 *
 *   {"topic":"t","partition":3,"offset":42,"timestamp":1700000000123,
 *    "key":"k","headers":[["h","v"]],"value":{"id":7}}
 *
 * Bytes (key, header names, header values) are written as a JSON string when
 * they are valid UTF-8, as {"base64":"..."} otherwise, and null when absent.
 * The value is embedded as is when its bytes are one strict JSON document on
 * one line with no whitespace before or after it and are not exactly
 * "null" (which would read back as a tombstone); otherwise it is a string
 * with "value_encoding":"text" (UTF-8) or "base64". A null value (tombstone)
 * is written as null.
 *
 * Decoding is strict and never builds a tree: the line must be one JSON
 * object (surrounding whitespace and a trailing newline are fine) with only
 * the members of the envelope, each at most once and of the right type. The
 * reason for a rejection is a short lowercase phrase meant to follow
 * "line N: invalid envelope: ", e.g. "unknown member \"valu\"",
 * "missing member \"value\"", "key: bad base64: ...".
 *
 * Memory: a decoder owns an arena (an elog_buf) that holds the decoded bytes
 * of one line; it is reserved once per line at the line's length (decoded
 * bytes are never longer than their text), so pointers into it stay valid
 * for the whole line. After a successful decode, env->record is ready for
 * elog_batch_builder_add(); its pointers point into the arena and, for an
 * embedded value or a numeric key, into the caller's line itself. They are
 * valid until the next decode or release, and only while the line is
 * unchanged.
 *
 * Calling sequence for a producer:
 *
 *   struct elog_envelope env;
 *   elog_envelope_init(&env, 0);
 *   for each line:
 *           if (elog_envelope_decode(&env, line, len, &err) < 0)
 *                   report "line %zu: invalid envelope: %s", lineno, err.msg
 *           if (!env.has_timestamp) env.record.timestamp_ms = now;
 *           partition = env.has_partition ? env.partition : choose();
 *           elog_batch_builder_add(&builder, &env.record, &err);
 *   elog_envelope_release(&env);
 *
 * and for a consumer (one line per record, newline included):
 *
 *   elog_envelope_encode(&out, topic, topic_len, partition, &view, &err);
 *
 * Failures return -1 with err filled: ELOG_E_INVAL for a line that is not a
 * valid envelope, ELOG_E_LIMIT for a line longer than the decoder's limit or
 * an output buffer at its cap, ELOG_E_NOMEM. NULL pointers are programmer
 * errors (assert).
 */
#ifndef ELOG_ENVELOPE_H
#define ELOG_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"
#include "err.h"

/* Longest line elog_envelope_decode takes when the caller passes 0: a record
 * of the largest batch size, base64-encoded, with room for the rest. */
#define ELOG_ENVELOPE_LINE_BYTES_DEFAULT ((size_t)ELOG_BATCH_SIZE_MAX / 3 * 4 + (1u << 20))

/* Embedded values are checked with this nesting limit (the envelope adds one
 * level, and the decoder accepts exactly one more). */
#define ELOG_ENVELOPE_VALUE_DEPTH_MAX 64

/* One decoded input line. */
struct elog_envelope {
	/* Key, value (-1 lengths for null), headers and timestamp, ready for
	 * elog_batch_builder_add. timestamp_ms is 0 unless has_timestamp. */
	struct elog_record record;
	int has_partition;      /* "partition" was given ... */
	uint32_t partition;     /* ... and this is it */
	int has_timestamp;      /* "timestamp" was given (record.timestamp_ms) */
	struct elog_header headers[ELOG_RECORD_HEADERS_MAX]; /* record.headers points here */
	struct elog_buf arena;  /* decoded bytes of the current line */
	size_t line_bytes_max;
};

/* line_bytes_max bounds the lines decode accepts (and so the arena);
 * 0 means ELOG_ENVELOPE_LINE_BYTES_DEFAULT. Allocates nothing. */
void elog_envelope_init(struct elog_envelope *env, size_t line_bytes_max);
/* Free the arena; env can be used again as after _init. */
void elog_envelope_release(struct elog_envelope *env);

/*
 * Decode the line text[0..len) (a trailing "\n" or "\r\n" is allowed) into
 * env. On failure env->record is empty (null key and value, no headers) and
 * err holds the reason.
 */
int elog_envelope_decode(struct elog_envelope *env, const char *text, size_t len,
			 struct elog_err *err);

/*
 * Append the envelope of one record, followed by "\n", to out. topic is the
 * topic name, topic_len bytes of UTF-8 (topic names are ASCII). All or
 * nothing: on failure out->len is unchanged.
 */
int elog_envelope_encode(struct elog_buf *out, const char *topic, size_t topic_len,
			 uint32_t partition, const struct elog_record_view *rec,
			 struct elog_err *err);

/*
 * 1 if value[0..len) would be embedded as raw JSON by elog_envelope_encode,
 * else 0 (exposed for tests and for tools that want to know).
 */
int elog_envelope_value_is_embeddable(const uint8_t *value, size_t len);

#endif
