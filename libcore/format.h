/*
 * format — how the tools print records: kcat-style output formats
 * (elog-consume -f FORMAT) and the three output modes the record printers
 * share (elog-consume, elog-replay without --to-topic): the value alone, a
 * JSON envelope (envelope.h), a format.
 *
 * A format is text with tokens, compiled once and rendered per record:
 *
 *   %t topic            %p partition          %o offset
 *   %k key              %K key length (-1 for a null key)
 *   %s value            %S value length (-1 for a null value, a tombstone)
 *   %R value length as a 4-byte big-endian signed integer (-1: ff ff ff ff),
 *      for length-prefixed binary output
 *   %h headers, name=value joined by ',' (a null value prints as the bare
 *      name, so it differs from an empty value "name="; kcat prints
 *      "name=NULL", which cannot be told from the value "NULL")
 *   %T timestamp, ms since the epoch
 *   %D timestamp as RFC 3339 in UTC with milliseconds, 2024-01-02T03:04:05.123Z
 *      (not in kcat)
 *   %% a '%'
 *   \n \r \t newline, carriage return, tab (as kcat); \\ a backslash;
 *   \xHH the byte of two hex digits; \NNN the byte of one to three octal
 *   digits (at most \377), so \0 is a NUL (for xargs -0)
 *
 * Keys, values and headers are printed as raw bytes (a null key or value
 * prints nothing), exactly as kcat does: a format is for people and simple
 * scripts, --json is for data that must survive.
 *
 * Any other character after '%' or '\', or a '%' or '\' at the very end, is
 * a compile error that names it and its position ("unknown token %x at
 * character 4"); the tools report it as a usage error.
 *
 * A compiled format is a fixed-size value: no allocation, no release.
 * Rendering appends to an elog_buf and is all or nothing (on failure, only
 * the buffer's cap, the buffer is unchanged), with no allocation of its own
 * and no system call, so it can run once per record at full speed.
 */
#ifndef ELOG_FORMAT_H
#define ELOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"
#include "err.h"

/* Bounds on a format: its text and the number of pieces it compiles to. */
#define ELOG_FORMAT_TEXT_MAX 4096
#define ELOG_FORMAT_ITEMS_MAX 256

enum elog_format_field {
	ELOG_FORMAT_LITERAL = 0,
	ELOG_FORMAT_TOPIC,
	ELOG_FORMAT_PARTITION,
	ELOG_FORMAT_OFFSET,
	ELOG_FORMAT_KEY,
	ELOG_FORMAT_KEY_LENGTH,
	ELOG_FORMAT_VALUE,
	ELOG_FORMAT_VALUE_LENGTH,
	ELOG_FORMAT_VALUE_LENGTH_BE32,
	ELOG_FORMAT_HEADERS,
	ELOG_FORMAT_TIMESTAMP,
	ELOG_FORMAT_DATE,
};

/* One piece: a field, or literal[literal_start, +literal_len). */
struct elog_format_item {
	enum elog_format_field field;
	uint32_t literal_start;
	uint32_t literal_len;
};

struct elog_format {
	size_t item_count;
	struct elog_format_item items[ELOG_FORMAT_ITEMS_MAX];
	size_t literal_len;
	char literal[ELOG_FORMAT_TEXT_MAX];  /* literal text, escapes resolved */
};

/* Compile the NUL-terminated text into f; -1 with ELOG_E_INVAL (bad token
 * or escape) or ELOG_E_LIMIT (too long) and a reason. */
int elog_format_compile(struct elog_format *f, const char *text, struct elog_err *err);

/* Append one record rendered with f to out (all or nothing). */
int elog_format_render(const struct elog_format *f, struct elog_buf *out, const char *topic,
		       size_t topic_len, uint32_t partition, const struct elog_record_view *rec,
		       struct elog_err *err);

/* How a tool prints each record. */
enum elog_output_mode {
	ELOG_OUTPUT_VALUE = 0,         /* the value's bytes and a newline (default) */
	ELOG_OUTPUT_JSON,              /* one JSON envelope a line (-J, docs/json.md) */
	ELOG_OUTPUT_FORMAT,            /* a compiled format (-f) */
};

/*
 * Append one record to out in mode (f: the compiled format, used only with
 * ELOG_OUTPUT_FORMAT). All or nothing, like elog_format_render: on failure
 * (ELOG_E_LIMIT: the buffer's cap) out is unchanged, so a caller can write
 * out what it holds and render again.
 */
int elog_output_render(enum elog_output_mode mode, const struct elog_format *f,
		       struct elog_buf *out, const char *topic, size_t topic_len,
		       uint32_t partition, const struct elog_record_view *rec,
		       struct elog_err *err);

#endif
