/*
 * lineconv — one input line into one record: the rules elog-produce applies
 * to each line it reads, in one place, so that every tool that turns lines
 * into records (elog-produce today; elog-replay and elog-dlq next) takes the
 * same input the same way. docs/json.md is the contract for envelopes;
 * elog-produce(1) describes the modes, keys and limits to users.
 *
 * Modes:
 *   ELOG_LINECONV_JSON      the line is one JSON document (RFC 8259, checked
 *                           strictly: elog_json_validate) and is the value;
 *   ELOG_LINECONV_RAW       the line is the value, any bytes;
 *   ELOG_LINECONV_ENVELOPE  the line is an elog-consume --json envelope
 *                           (elog_envelope_decode): key, headers, value,
 *                           timestamp and partition come from it.
 * Outside RAW a carriage return before the end of the line is dropped, so
 * CRLF files work.
 *
 * Keys (JSON and RAW modes): key_field takes the key from a top-level member
 * of the JSON line (a string gives its unescaped text, a number its text as
 * written; a missing or null member, or a line that is not an object, gives
 * a null key with a warning; another type rejects the line). key_delimiter
 * splits "KEY DELIM VALUE" at the first DELIM (no DELIM: null key, warning);
 * the value part is then what the mode checks.
 *
 * Headers: the config's headers are added to every record, after an
 * envelope's own (at most ELOG_RECORD_HEADERS_MAX in all).
 *
 * Partition: a record's partition is -1 (the producer chooses: by key, or
 * spread) unless keep_partition is set and an envelope names one. Copying a
 * topic into one with another partition count must work by default, so the
 * source partition is honoured only when asked (an exact replay).
 *
 * Limits: record_bytes_max bounds what a broker counts against
 * max.record.bytes (key + value + header names and values); a bigger record
 * is rejected here, alone, rather than failing its whole batch at the
 * broker. elog_lineconv_line_bytes_max() gives the longest line worth
 * reading for a mode (an envelope carries base64, so it may be longer than
 * its record).
 *
 * Outcome of elog_lineconv_convert: 0 and out->record ready for the
 * producer, or -1: the line is rejected and err->msg is the reason, a
 * phrase made to follow "line N: " ("invalid JSON: unexpected '}' at byte
 * 7", "invalid envelope: unknown member \"valu\"", "record too large: ...").
 * Rejection codes: ELOG_E_INVAL (the line's content), ELOG_E_LIMIT (too
 * large). On success out->warning may be a phrase for a line accepted with
 * a null key ("no field \"id\""); callers report the first one.
 *
 * Memory: init allocates, once, a key buffer (key_field) or an envelope
 * arena (ENVELOPE) sized by the line limit; convert allocates nothing. The
 * record's pointers point into those buffers, the config's headers and the
 * caller's line, and are valid until the next convert or release while the
 * line is unchanged.
 *
 * Calling sequence:
 *   struct elog_lineconv_config cfg;
 *   elog_lineconv_config_init(&cfg);
 *   cfg.mode = ELOG_LINECONV_ENVELOPE; cfg.record_bytes_max = limit; ...
 *   elog_lineconv_init(&lc, &cfg, &err);
 *   for each line (at most elog_lineconv_line_bytes_max(mode, limit) bytes):
 *           if (elog_lineconv_convert(&lc, line, len, &out, &err) < 0)
 *                   report "line %d: %s", n, err.msg; continue;
 *           send out.record to out.partition
 *   elog_lineconv_release(&lc);
 */
#ifndef ELOG_LINECONV_H
#define ELOG_LINECONV_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "envelope.h"
#include "err.h"

/* An envelope line carries its value base64-encoded (4/3) plus key and
 * headers: it may be this many times its record, plus the slack. */
#define ELOG_LINECONV_ENVELOPE_FACTOR 2
#define ELOG_LINECONV_ENVELOPE_SLACK (64u << 10)

enum elog_lineconv_mode {
	ELOG_LINECONV_JSON,
	ELOG_LINECONV_RAW,
	ELOG_LINECONV_ENVELOPE,
};

struct elog_lineconv_config {
	enum elog_lineconv_mode mode;      /* default JSON */
	const char *key_field;             /* NULL: none; not with ENVELOPE or RAW */
	const char *key_delimiter;         /* NULL: none; not with ENVELOPE */
	size_t key_delimiter_len;
	const struct elog_header *headers; /* added to every record (borrowed) */
	uint32_t header_count;
	int keep_partition;                /* honour an envelope's "partition" */
	uint32_t partition_count;          /* of the target topic, 0: unknown (not checked) */
	uint64_t record_bytes_max;         /* key + value + headers; required, > 0 */
	int64_t timestamp_default;         /* timestamp_ms of records that give none */
};

struct elog_lineconv_result {
	struct elog_record record;
	int32_t partition;                 /* -1: the producer chooses */
	const char *warning;               /* NULL, or accepted with a null key because ... */
};

struct elog_lineconv {
	struct elog_lineconv_config config;
	size_t line_bytes_max;
	char *key_buf;                     /* a decoded key_field string (key_field only) */
	struct elog_envelope envelope;     /* ENVELOPE only ... */
	int envelope_ready;                /* ... once initialised */
	struct elog_header headers[ELOG_RECORD_HEADERS_MAX];  /* an envelope's + config's */
	char warning[160];
};

void elog_lineconv_config_init(struct elog_lineconv_config *cfg);

/* The longest line worth reading for records of record_bytes_max in mode
 * (at most 1 GiB). */
size_t elog_lineconv_line_bytes_max(enum elog_lineconv_mode mode, uint64_t record_bytes_max);

/* Check the config (combinations, record_bytes_max) and allocate the
 * buffers; -1 with ELOG_E_INVAL or ELOG_E_NOMEM. Release in either case. */
int elog_lineconv_init(struct elog_lineconv *lc, const struct elog_lineconv_config *cfg,
		       struct elog_err *err);
void elog_lineconv_release(struct elog_lineconv *lc);

/* The partition count of the target topic, once known (for the check of
 * an envelope's partition with keep_partition). */
void elog_lineconv_set_partition_count(struct elog_lineconv *lc, uint32_t partition_count);

/* One line, text[0..len) without its '\n', into out; see the header. */
int elog_lineconv_convert(struct elog_lineconv *lc, const char *text, size_t len,
			  struct elog_lineconv_result *out, struct elog_err *err);

/* What a broker counts against max.record.bytes. */
uint64_t elog_lineconv_record_bytes(const struct elog_record *rec);

#endif
