/*
 * batch — the record batch: the unit elog stores on disk, sends on the wire
 * and replicates, byte-identical in all three places.
 *
 * Layout (all fixed-width integers little-endian; see docs/format.md):
 *
 *   off size field
 *     0    8 base_offset        offset of the first record (set by the leader)
 *     8    4 batch_length       bytes that follow this field (total size - 12)
 *    12    4 crc                CRC-32C of bytes [16, 12 + batch_length)
 *    16    1 magic              format version, ELOG_BATCH_MAGIC
 *    17    1 attributes         bits 0-2 compression, bit 3 control, 4-7 zero
 *    18    2 producer_epoch     int16, -1 when not idempotent
 *    20    4 last_offset_delta  offset of the last record - base_offset
 *    24    8 leader_term        Raft term of the leader that appended it
 *    32    8 first_timestamp    ms since the epoch, of the first record
 *    40    8 max_timestamp      largest record timestamp in the batch
 *    48    8 producer_id        int64, -1 when not idempotent
 *    56    4 base_sequence      int32, sequence of the first record, or -1
 *    60    4 record_count       number of records
 *    64    . records            plain, or when compressed:
 *                               [u32 uncompressed_length][compressed bytes]
 *
 * Each record (varints are LEB128, "s" ones zigzag-signed):
 *
 *   svarint length              bytes of the record after this field
 *   u8      attributes          0 (reserved)
 *   svarint timestamp_delta     record timestamp - first_timestamp
 *   varint  offset_delta        record offset - base_offset
 *   svarint key_length          -1 for a null key
 *   bytes   key
 *   svarint value_length        -1 for a null value (a tombstone)
 *   bytes   value
 *   varint  header_count
 *   header_count times:
 *     varint  name_length, bytes name
 *     svarint value_length (-1 null), bytes value
 *
 * The CRC covers everything after itself, including leader_term, so the
 * leader re-computes it after assigning base_offset and term
 * (elog_batch_assign). base_offset and batch_length sit before the CRC and
 * are checked structurally instead: offsets must continue the log exactly,
 * and a wrong length breaks the CRC or the next batch's framing.
 *
 * What a valid batch is has one definition, elog_batch_validate: the
 * header, the CRC, then every record's framing, decompressing a compressed
 * batch into the validator's bounded scratch buffer to walk it. The
 * broker runs it on every produced batch before it assigns offsets, the
 * reader runs it when it opens a batch (so a consumer never hands out a
 * record of a batch that is not valid as a whole), and a follower will run
 * it on every replicated batch before appending (issue 7: keep one
 * elog_batch_validator per replication stream, or per broker thread, for
 * its buffer). The reader and the validator decode records with the same
 * code and cannot disagree.
 *
 * Calling sequence for writers:
 *   elog_batch_builder_init -> _add ... -> _finish -> (use bytes) -> _reset
 *   -> _add ... -> _finish -> ... -> _release
 *   or, to rewrite stored records (compaction), elog_batch_write.
 * For checkers:
 *   elog_batch_check (header + crc, no decompression) for storage paths
 *   that only need framing; elog_batch_validator_init ->
 *   elog_batch_validate(batch) ... -> _release for everything else.
 * For readers:
 *   elog_batch_reader_init -> _open(batch) -> _next ... -> _open(next) ...
 *   -> _release  to walk records (validates on open; decompresses once,
 *   into a reused buffer).
 */
#ifndef ELOG_BATCH_H
#define ELOG_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

#define ELOG_BATCH_MAGIC 1
#define ELOG_BATCH_HEADER_SIZE 64
#define ELOG_BATCH_LENGTH_OFFSET 8   /* where batch_length sits */
#define ELOG_BATCH_PREFIX_SIZE 12    /* base_offset + batch_length */
#define ELOG_BATCH_CRC_START 16      /* CRC covers [16, end) */

/* Hard limit on one batch, compressed or not; configurable limits sit below it. */
#define ELOG_BATCH_SIZE_MAX (64u << 20)
/* Hard limit on headers per record, so readers can use a fixed array. */
#define ELOG_RECORD_HEADERS_MAX 64

enum elog_compression {
	ELOG_COMPRESS_NONE = 0,
	ELOG_COMPRESS_LZ4 = 1,
	ELOG_COMPRESS_ZLIB = 2,
};
#define ELOG_BATCH_ATTR_COMPRESSION_MASK 0x07
#define ELOG_BATCH_ATTR_CONTROL 0x08

/* Parse "none", "lz4", "zlib"; -1 if unknown. */
int elog_compression_parse(const char *name);
const char *elog_compression_name(enum elog_compression c);

/* The decoded fixed header. */
struct elog_batch_header {
	int64_t base_offset;
	uint32_t batch_length;
	uint32_t crc;
	uint8_t magic;
	uint8_t attributes;
	int16_t producer_epoch;
	uint32_t last_offset_delta;
	uint64_t leader_term;
	int64_t first_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int32_t base_sequence;
	uint32_t record_count;
};

static inline int64_t elog_batch_last_offset(const struct elog_batch_header *h)
{
	return h->base_offset + (int64_t)h->last_offset_delta;
}

static inline uint32_t elog_batch_total_size(const struct elog_batch_header *h)
{
	return h->batch_length + ELOG_BATCH_PREFIX_SIZE;
}

/* A header (name, value) of a record. value_len -1 means null. */
struct elog_header {
	const uint8_t *name;
	uint32_t name_len;
	const uint8_t *value;
	int32_t value_len;
};

/* A record to add (writer side). key_len/value_len -1 mean null. */
struct elog_record {
	int64_t timestamp_ms;
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
	const struct elog_header *headers;
	uint32_t header_count;
};

/* A decoded record (reader side); pointers point into the reader's buffers
 * and stay valid until the next elog_batch_reader_open or _release. */
struct elog_record_view {
	int64_t offset;             /* base_offset + the record's offset delta */
	int64_t timestamp_ms;
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
	uint32_t header_count;
	struct elog_header headers[ELOG_RECORD_HEADERS_MAX];
	const uint8_t *encoded;     /* the whole record as stored, length field first, */
	uint32_t encoded_len;       /* in the plain records (what compaction copies) */
};

/*
 * How the offset deltas of a batch's records may run.
 *
 * DENSE: record i has offset delta i and last_offset_delta is
 * record_count - 1. Every batch a producer sends must be dense (Kafka holds
 * produced batches to the same rule), and until compaction exists every
 * stored batch is, so it is the only mode used today.
 *
 * GAPS: deltas strictly increase and none exceeds last_offset_delta (so
 * record_count <= last_offset_delta + 1); the last record may lie before
 * last_offset_delta, where compaction removed the records after it.
 * Compaction (issue 8, compact.h) leaves batches like this, keeping each
 * batch's base_offset and last_offset_delta, so a batch still spans the
 * offsets it was appended with and the producer's last sequence is
 * base_sequence + last_offset_delta; readers and followers of compacted
 * partitions will switch to it. It relaxes the timestamp rules below in
 * the same way, since the records that set first_timestamp and
 * max_timestamp may be gone. And it accepts an empty batch: record_count
 * 0, no records area at all (batch_length 52) and compression none, every
 * other header field as the batch had it. Compaction keeps one as the
 * newest batch of an idempotent producer whose records were all removed,
 * because the producer state is rebuilt from batch headers (pstate.h), and
 * the segment driver (partlog_compact.c) writes one, without producer
 * fields, in place of every other batch that lost all its records, so
 * that batch boundaries stay where they were.
 */
enum elog_batch_offsets {
	ELOG_BATCH_OFFSETS_DENSE = 0,
	ELOG_BATCH_OFFSETS_GAPS,
};

/*
 * Decode the fixed header from `len` available bytes. Checks only what the
 * header alone can tell: enough bytes for a header, magic known (a higher
 * magic fails with ELOG_E_VERSION, everything else with ELOG_E_CORRUPT),
 * attributes valid, batch_length in [HEADER_SIZE - 12, ELOG_BATCH_SIZE_MAX - 12],
 * record_count >= 1, record_count <= last_offset_delta + 1 (no batch holds
 * more records than offsets; whether it may hold fewer is the validator's
 * offsets rule), base_offset >= 0 and base_offset + last_offset_delta
 * representable. Does not need the whole batch and does not check the CRC.
 * h may be NULL.
 */
int elog_batch_header_decode(const uint8_t *buf, size_t len, struct elog_batch_header *h,
			     struct elog_err *err);

/*
 * Framing check of one whole batch in buf[0, len): header as above,
 * len >= total size, CRC matches. Records are not decoded: this is what
 * storage recovery runs, where the bytes were validated when they arrived.
 * Whatever takes a batch from outside runs elog_batch_validate instead.
 */
int elog_batch_check(const uint8_t *buf, size_t len, struct elog_batch_header *h,
		     struct elog_err *err);

/*
 * The two above under the header rules of one offsets mode: DENSE is
 * exactly elog_batch_header_decode and elog_batch_check; GAPS also accepts
 * an empty batch (record_count 0, batch_length 52, compression none), and
 * refuses a record_count of 0 in any other shape. For the storage paths of
 * compacted partitions, which meet such batches.
 */
int elog_batch_header_decode_as(const uint8_t *buf, size_t len, enum elog_batch_offsets offsets,
				struct elog_batch_header *h, struct elog_err *err);
int elog_batch_check_as(const uint8_t *buf, size_t len, enum elog_batch_offsets offsets,
			struct elog_batch_header *h, struct elog_err *err);

/*
 * Leader side: set base_offset and leader_term in a checked batch and
 * recompute its CRC. buf must hold the whole batch.
 */
void elog_batch_assign(uint8_t *buf, int64_t base_offset, uint64_t leader_term);

/* ---------------------------------------------------------------- writer */

struct elog_batch_builder {
	enum elog_compression compression;
	uint32_t size_max;       /* finished batch may not exceed this (<= ELOG_BATCH_SIZE_MAX) */
	uint8_t *records;        /* encoded records, uncompressed */
	size_t records_len, records_cap;
	uint8_t *out;            /* finished batch */
	size_t out_len, out_cap;
	uint32_t count;
	int64_t first_timestamp, max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	uint8_t attributes_extra; /* e.g. ELOG_BATCH_ATTR_CONTROL */
};

/* size_max 0 means ELOG_BATCH_SIZE_MAX. Producer fields start as -1 (none). */
void elog_batch_builder_init(struct elog_batch_builder *b, enum elog_compression c,
			     uint32_t size_max);
/* Free buffers; the builder can be _init'ed again. */
void elog_batch_builder_release(struct elog_batch_builder *b);
/* Forget added records, keep buffers and settings. */
void elog_batch_builder_reset(struct elog_batch_builder *b);

/*
 * Append one record. Fails with ELOG_E_LIMIT, leaving the builder as it was,
 * when the uncompressed records would exceed size_max - HEADER_SIZE (so a
 * caller can finish the batch and add the record to the next one), or with
 * ELOG_E_INVAL for too many headers or negative lengths other than -1.
 */
int elog_batch_builder_add(struct elog_batch_builder *b, const struct elog_record *r,
			   struct elog_err *err);

/* Records added so far, and their uncompressed encoded size in bytes. */
static inline uint32_t elog_batch_builder_count(const struct elog_batch_builder *b)
{
	return b->count;
}

static inline size_t elog_batch_builder_bytes(const struct elog_batch_builder *b)
{
	return b->records_len;
}

/*
 * Compress (if asked), write header and CRC. base_offset 0 and term 0; the
 * leader assigns both. *out and *out_len stay valid until the next _reset,
 * _add or _release. Compression that does not shrink the records falls back
 * to none. Fails if there are no records.
 */
int elog_batch_builder_finish(struct elog_batch_builder *b, const uint8_t **out, size_t *out_len,
			      struct elog_err *err);

/*
 * Write one whole batch into out[0, out_cap) from a header and plain
 * records: what a batch rewritten from stored records (compaction) needs,
 * where the builder makes batches from new records. From h it takes
 * base_offset, attributes, producer_epoch, last_offset_delta, leader_term,
 * both timestamps, producer_id, base_sequence and record_count, and writes
 * magic, batch_length and the CRC. records[0, records_len) are the
 * records, encoded as in a records area and vouched for by the caller
 * (they come from a batch the validator accepted). They are compressed
 * with the codec of h->attributes, always: unlike the builder, no fallback
 * to none, so a rewritten batch keeps its attributes. An empty batch
 * (record_count 0, GAPS only) must have no records and compression none.
 * Fails with ELOG_E_LIMIT when the batch would not fit out_cap (the message
 * says how many bytes it could take: elog_batch_write_bound) or would
 * exceed ELOG_BATCH_SIZE_MAX, ELOG_E_INVAL for an empty batch that is not
 * one or records_len beyond ELOG_BATCH_SIZE_MAX, ELOG_E_NOMEM; out may be
 * partly written then. Records are not decoded here: run the validator
 * on the result to check them.
 */
int elog_batch_write(const struct elog_batch_header *h, const uint8_t *records, size_t records_len,
		     uint8_t *out, size_t out_cap, size_t *out_len, struct elog_err *err);

/* The most bytes elog_batch_write can take for records_len bytes of records under codec c. */
size_t elog_batch_write_bound(enum elog_compression c, size_t records_len);

/* ---------------------------------------------------------------- validator */

/* What elog_batch_validate requires beyond the format; zeroed means dense, no limits. */
struct elog_batch_rules {
	enum elog_batch_offsets offsets;
	uint32_t batch_bytes_max;      /* whole batch as stored; 0: ELOG_BATCH_SIZE_MAX */
	uint32_t record_bytes_max;     /* max.record.bytes: key + value + header names and
					  values of one record; 0: no limit */
};

/*
 * A validator owns the scratch buffer compressed batches are decompressed
 * into (at most ELOG_BATCH_SIZE_MAX bytes, reused, grown on demand) and a
 * zlib inflate state, so validating allocates nothing per record and, once
 * warm, nothing per batch. One validator serves one thread; keep it for as
 * long as batches arrive (a broker keeps one, a reader embeds one).
 *
 * After a successful elog_batch_validate, header holds the decoded header
 * and records..records_end the plain records area: inside buf for an
 * uncompressed batch (valid while buf is), else inside the scratch buffer
 * (valid until the next validate or _release). For an empty batch (GAPS)
 * the area is empty: records == records_end, both non-NULL.
 */
struct elog_batch_validator {
	struct elog_batch_header header;
	const uint8_t *records, *records_end;
	uint32_t records_byte;      /* byte number of records[0] in messages (64, or 0 when
				       the numbers count uncompressed bytes) */
	int compressed;
	uint8_t *plain;             /* scratch for decompression */
	size_t plain_cap;
	void *inflate;              /* zlib state, made on first use */
};

void elog_batch_validator_init(struct elog_batch_validator *v);
void elog_batch_validator_release(struct elog_batch_validator *v);

/*
 * Validate the one batch that starts at buf (len bytes available; bytes
 * after the batch are not looked at), in this order, stopping at the first
 * failure:
 *   1. the header (elog_batch_header_decode_as with rules->offsets: an
 *      empty batch only under GAPS);
 *   2. its size against rules->batch_bytes_max (ELOG_E_LIMIT);
 *   3. len holds the whole batch, and the CRC matches;
 *   4. offsets (dense): last_offset_delta == record_count - 1;
 *   5. a compressed records area: [u32 uncompressed length][data], the
 *      length in [1, ELOG_BATCH_SIZE_MAX] and possible for the codec's best
 *      ratio (a bomb is refused before anything is allocated for it), the
 *      data decompressing to exactly that length, using every byte;
 *   6. each of record_count records: its length varint non-negative and
 *      inside the records area, then attributes 0, timestamp delta, offset
 *      delta, key and value (length -1 or >= 0, inside the record), header
 *      count <= ELOG_RECORD_HEADERS_MAX, each header's name and value inside
 *      the record, and the fields filling the record's length exactly;
 *      every varint at most 10 bytes and within 64 bits;
 *   7. offset deltas by rules->offsets (an empty batch has none to check);
 *      timestamps: record timestamps are
 *      first_timestamp + delta (wrapping) and none exceeds max_timestamp;
 *      dense also requires record 0's delta to be 0 and max_timestamp to be
 *      the largest record timestamp (what the builder writes);
 *   8. rules->record_bytes_max per record (ELOG_E_LIMIT);
 *   9. no bytes after the last record.
 * Returns 0, or -1 with ELOG_E_CORRUPT (ELOG_E_VERSION for a newer magic,
 * ELOG_E_LIMIT for 2 and 8, ELOG_E_NOMEM) and a message naming the first
 * bad field: header fields by name, records as "record N (byte B): field
 * ...", where B is the field's byte in the batch, or in the uncompressed
 * records when the batch is compressed ("uncompressed byte B"). rules may
 * be NULL (dense, no limits). Nothing in buf is changed.
 */
int elog_batch_validate(struct elog_batch_validator *v, const uint8_t *buf, size_t len,
			const struct elog_batch_rules *rules, struct elog_err *err);

/*
 * A validator message without its leading "batch ", for callers that name
 * the batch themselves ("batch 3: crc mismatch: ...").
 */
static inline const char *elog_batch_err_detail(const char *msg)
{
	return strncmp(msg, "batch ", 6) == 0 ? msg + 6 : msg;
}

/* ---------------------------------------------------------------- reader */

/*
 * The reader validates a batch on _open with its rules (dense by default;
 * set rules before _open to change them), then hands out its records one
 * at a time. It decodes records with the validator's own decoder, so it
 * never meets a record the validator did not accept.
 */
struct elog_batch_reader {
	struct elog_batch_validator validator;
	struct elog_batch_rules rules;
	struct elog_batch_header header;
	const uint8_t *pos, *end;   /* records still to decode */
	uint32_t next_index;        /* records decoded so far */
};

void elog_batch_reader_init(struct elog_batch_reader *r);
void elog_batch_reader_release(struct elog_batch_reader *r);

/*
 * Validate (elog_batch_validate with r->rules) the batch in buf[0, len) and
 * prepare to walk its records; a compressed batch is decompressed once,
 * into the reader's buffer. buf must stay valid while walking an
 * uncompressed batch.
 */
int elog_batch_reader_open(struct elog_batch_reader *r, const uint8_t *buf, size_t len,
			   struct elog_err *err);

/*
 * Decode the next record: returns 1 and fills *rec, 0 after record_count
 * records (at once for an empty batch). rec->offset comes from the record's
 * offset delta, never from its position, so it is right in a batch with
 * gaps. _open validated every record, so -1 (ELOG_E_CORRUPT) only means
 * the bytes changed under the reader since. Calling it without a
 * successful _open is a programming error.
 */
int elog_batch_reader_next(struct elog_batch_reader *r, struct elog_record_view *rec,
			   struct elog_err *err);

#endif
