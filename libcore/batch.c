/* batch — encode, check, assign and decode record batches; see batch.h. */
#include "batch.h"

#include <assert.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#define ZLIB_CONST  /* next_in is const */
#include <zlib.h>

#include "bytes.h"
#include "crc32c.h"
#include "varint.h"

/*
 * Fixed header, 64 bytes, little-endian (the full table is in batch.h and
 * docs/format.md):
 *
 *   0 base_offset:8  8 batch_length:4  12 crc:4 | 16 magic:1  17 attributes:1
 *   18 producer_epoch:2  20 last_offset_delta:4  24 leader_term:8
 *   32 first_timestamp:8  40 max_timestamp:8  48 producer_id:8
 *   56 base_sequence:4  60 record_count:4 | 64 records ...
 *                                         ^ crc covers [16, end)
 */
enum {
	OFF_BASE_OFFSET = 0,
	OFF_BATCH_LENGTH = 8,
	OFF_CRC = 12,
	OFF_MAGIC = 16,
	OFF_ATTRIBUTES = 17,
	OFF_PRODUCER_EPOCH = 18,
	OFF_LAST_OFFSET_DELTA = 20,
	OFF_LEADER_TERM = 24,
	OFF_FIRST_TIMESTAMP = 32,
	OFF_MAX_TIMESTAMP = 40,
	OFF_PRODUCER_ID = 48,
	OFF_BASE_SEQUENCE = 56,
	OFF_RECORD_COUNT = 60,
};

_Static_assert(OFF_RECORD_COUNT + 4 == ELOG_BATCH_HEADER_SIZE, "header fields fill 64 bytes");
_Static_assert(OFF_BATCH_LENGTH == ELOG_BATCH_LENGTH_OFFSET, "batch_length position");
_Static_assert(OFF_CRC == ELOG_BATCH_PREFIX_SIZE, "crc follows the prefix");
_Static_assert(OFF_MAGIC == ELOG_BATCH_CRC_START, "crc covers magic onwards");
_Static_assert(ELOG_BATCH_SIZE_MAX <= INT32_MAX, "sizes fit the int lz4 takes");

#define BATCH_LENGTH_MIN ((uint32_t)(ELOG_BATCH_HEADER_SIZE - ELOG_BATCH_PREFIX_SIZE))
#define BATCH_LENGTH_MAX ((uint32_t)(ELOG_BATCH_SIZE_MAX - ELOG_BATCH_PREFIX_SIZE))
/* A compressed records area starts with the u32 uncompressed length. */
#define PLAIN_LENGTH_SIZE 4
/* First allocation of a growing buffer. */
#define BUFFER_SIZE_MIN 4096

static const char *const compression_names[] = {
	[ELOG_COMPRESS_NONE] = "none",
	[ELOG_COMPRESS_LZ4] = "lz4",
	[ELOG_COMPRESS_ZLIB] = "zlib",
};
#define COMPRESSION_COUNT (sizeof(compression_names) / sizeof(compression_names[0]))

int elog_compression_parse(const char *name)
{
	if (!name)
		return -1;
	for (size_t c = 0; c < COMPRESSION_COUNT; c++)
		if (!strcmp(name, compression_names[c]))
			return (int)c;
	return -1;
}

const char *elog_compression_name(enum elog_compression c)
{
	if ((unsigned)c >= COMPRESSION_COUNT)
		return "unknown";
	return compression_names[c];
}

/*
 * Grow *buf to hold at least `need` bytes, doubling, never beyond
 * ELOG_BATCH_SIZE_MAX (callers bound `need` by it). On failure nothing changes.
 */
static int buffer_reserve(uint8_t **buf, size_t *cap, size_t need, struct elog_err *err)
{
	size_t new_cap;
	uint8_t *p;

	assert(need <= ELOG_BATCH_SIZE_MAX);
	if (need <= *cap)
		return 0;
	new_cap = *cap ? *cap : BUFFER_SIZE_MIN;
	while (new_cap < need)
		new_cap *= 2;
	if (new_cap > ELOG_BATCH_SIZE_MAX)
		new_cap = ELOG_BATCH_SIZE_MAX;
	p = realloc(*buf, new_cap);
	if (!p)
		return elog_err_set(err, ELOG_E_NOMEM, "cannot allocate %zu bytes for a batch", new_cap);
	*buf = p;
	*cap = new_cap;
	return 0;
}

/* ---------------------------------------------------------------- header */

/* The header rules; allow_empty: the GAPS mode's empty batch (batch.h). */
static int header_validate(const struct elog_batch_header *h, int allow_empty, struct elog_err *err)
{
	unsigned compression = h->attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK;
	unsigned known_bits = ELOG_BATCH_ATTR_COMPRESSION_MASK | ELOG_BATCH_ATTR_CONTROL;

	/* 0 was never written: treat it as damage, not as a format we cannot read. */
	if (h->magic > ELOG_BATCH_MAGIC)
		return elog_err_set(err, ELOG_E_VERSION, "batch magic %u is newer than this build reads (%d)",
				    h->magic, ELOG_BATCH_MAGIC);
	if (h->magic != ELOG_BATCH_MAGIC)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch magic %u invalid", h->magic);
	if (compression >= COMPRESSION_COUNT)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch attributes 0x%02x: unknown compression %u",
				    h->attributes, compression);
	if (h->attributes & ~known_bits)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch attributes 0x%02x: reserved bits set",
				    h->attributes);
	if (h->batch_length < BATCH_LENGTH_MIN || h->batch_length > BATCH_LENGTH_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch length %" PRIu32 " outside [%" PRIu32 ", %" PRIu32 "]",
				    h->batch_length, BATCH_LENGTH_MIN, BATCH_LENGTH_MAX);
	if (h->record_count == 0 && !allow_empty)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count 0, expected at least 1");
	if (h->record_count == 0 && compression != ELOG_COMPRESS_NONE)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count 0 with compression %s (an empty batch has none)",
				    compression_names[compression]);
	if (h->record_count == 0 && h->batch_length != BATCH_LENGTH_MIN)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count 0 with batch length %" PRIu32
				    " (an empty batch is %" PRIu32 ": no records area)", h->batch_length, BATCH_LENGTH_MIN);
	if (h->record_count > 0 && h->record_count - 1 > h->last_offset_delta)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "batch record count %" PRIu32 " exceeds its last offset delta %" PRIu32 " + 1",
				    h->record_count, h->last_offset_delta);
	if (h->base_offset < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch base offset %" PRId64 " is negative",
				    h->base_offset);
	if (h->base_offset > INT64_MAX - (int64_t)h->last_offset_delta)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch base offset %" PRId64 " + last offset delta %"
				    PRIu32 " overflows", h->base_offset, h->last_offset_delta);
	return 0;
}

int elog_batch_header_decode(const uint8_t *buf, size_t len, struct elog_batch_header *h,
			     struct elog_err *err)
{
	return elog_batch_header_decode_as(buf, len, ELOG_BATCH_OFFSETS_DENSE, h, err);
}

int elog_batch_header_decode_as(const uint8_t *buf, size_t len, enum elog_batch_offsets offsets,
				struct elog_batch_header *h, struct elog_err *err)
{
	struct elog_batch_header local;

	if (!h)
		h = &local;
	if (len < ELOG_BATCH_HEADER_SIZE)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch header truncated: %zu of %d bytes", len,
				    ELOG_BATCH_HEADER_SIZE);
	h->base_offset = (int64_t)elog_get64(buf + OFF_BASE_OFFSET);
	h->batch_length = elog_get32(buf + OFF_BATCH_LENGTH);
	h->crc = elog_get32(buf + OFF_CRC);
	h->magic = buf[OFF_MAGIC];
	h->attributes = buf[OFF_ATTRIBUTES];
	h->producer_epoch = (int16_t)elog_get16(buf + OFF_PRODUCER_EPOCH);
	h->last_offset_delta = elog_get32(buf + OFF_LAST_OFFSET_DELTA);
	h->leader_term = elog_get64(buf + OFF_LEADER_TERM);
	h->first_timestamp = (int64_t)elog_get64(buf + OFF_FIRST_TIMESTAMP);
	h->max_timestamp = (int64_t)elog_get64(buf + OFF_MAX_TIMESTAMP);
	h->producer_id = (int64_t)elog_get64(buf + OFF_PRODUCER_ID);
	h->base_sequence = (int32_t)elog_get32(buf + OFF_BASE_SEQUENCE);
	h->record_count = elog_get32(buf + OFF_RECORD_COUNT);
	return header_validate(h, offsets == ELOG_BATCH_OFFSETS_GAPS, err);
}

static void header_encode(uint8_t *buf, const struct elog_batch_header *h)
{
	elog_put64(buf + OFF_BASE_OFFSET, (uint64_t)h->base_offset);
	elog_put32(buf + OFF_BATCH_LENGTH, h->batch_length);
	elog_put32(buf + OFF_CRC, h->crc);
	buf[OFF_MAGIC] = h->magic;
	buf[OFF_ATTRIBUTES] = h->attributes;
	elog_put16(buf + OFF_PRODUCER_EPOCH, (uint16_t)h->producer_epoch);
	elog_put32(buf + OFF_LAST_OFFSET_DELTA, h->last_offset_delta);
	elog_put64(buf + OFF_LEADER_TERM, h->leader_term);
	elog_put64(buf + OFF_FIRST_TIMESTAMP, (uint64_t)h->first_timestamp);
	elog_put64(buf + OFF_MAX_TIMESTAMP, (uint64_t)h->max_timestamp);
	elog_put64(buf + OFF_PRODUCER_ID, (uint64_t)h->producer_id);
	elog_put32(buf + OFF_BASE_SEQUENCE, (uint32_t)h->base_sequence);
	elog_put32(buf + OFF_RECORD_COUNT, h->record_count);
}

static uint32_t batch_crc(const uint8_t *buf, uint32_t batch_length)
{
	return elog_crc32c(0, buf + ELOG_BATCH_CRC_START,
			   (size_t)batch_length + ELOG_BATCH_PREFIX_SIZE - ELOG_BATCH_CRC_START);
}

int elog_batch_check(const uint8_t *buf, size_t len, struct elog_batch_header *h,
		     struct elog_err *err)
{
	return elog_batch_check_as(buf, len, ELOG_BATCH_OFFSETS_DENSE, h, err);
}

int elog_batch_check_as(const uint8_t *buf, size_t len, enum elog_batch_offsets offsets,
			struct elog_batch_header *h, struct elog_err *err)
{
	struct elog_batch_header local;
	uint32_t total, computed;

	if (!h)
		h = &local;
	if (elog_batch_header_decode_as(buf, len, offsets, h, err) < 0)
		return -1;
	total = elog_batch_total_size(h);
	if (len < total)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch truncated: %" PRIu32 " bytes long, %zu present",
				    total, len);
	computed = batch_crc(buf, h->batch_length);
	if (computed != h->crc)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "batch crc mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32,
				    h->crc, computed);
	return 0;
}

void elog_batch_assign(uint8_t *buf, int64_t base_offset, uint64_t leader_term)
{
	uint32_t batch_length = elog_get32(buf + OFF_BATCH_LENGTH);
	uint32_t last_offset_delta = elog_get32(buf + OFF_LAST_OFFSET_DELTA);

	/* The caller ran elog_batch_check on these bytes. */
	assert(buf[OFF_MAGIC] == ELOG_BATCH_MAGIC);
	assert(batch_length >= BATCH_LENGTH_MIN && batch_length <= BATCH_LENGTH_MAX);
	assert(base_offset >= 0 && base_offset <= INT64_MAX - (int64_t)last_offset_delta);
	uint8_t term_before[8], term_after[8];
	size_t crc_end = ELOG_BATCH_PREFIX_SIZE + (size_t)batch_length;
	uint32_t crc = elog_get32(buf + OFF_CRC);

	elog_put64(buf + OFF_BASE_OFFSET, (uint64_t)base_offset);
	/*
	 * The CRC covers leader_term but not base_offset. Patching it for the 8
	 * changed bytes costs the same for any batch size, where recomputing
	 * would read the whole batch a second time (elog_batch_check just did).
	 */
	memcpy(term_before, buf + OFF_LEADER_TERM, 8);
	elog_put64(term_after, leader_term);
	crc = elog_crc32c_patch(crc, term_before, term_after, 8, crc_end - (OFF_LEADER_TERM + 8));
	memcpy(buf + OFF_LEADER_TERM, term_after, 8);
	elog_put32(buf + OFF_CRC, crc);
}

/* ---------------------------------------------------------------- writer */

void elog_batch_builder_init(struct elog_batch_builder *b, enum elog_compression c,
			     uint32_t size_max)
{
	assert((unsigned)c < COMPRESSION_COUNT);
	assert(size_max == 0 || (size_max > ELOG_BATCH_HEADER_SIZE && size_max <= ELOG_BATCH_SIZE_MAX));
	memset(b, 0, sizeof(*b));
	b->compression = c;
	b->size_max = size_max ? size_max : ELOG_BATCH_SIZE_MAX;
	b->producer_id = -1;
	b->producer_epoch = -1;
	b->base_sequence = -1;
}

void elog_batch_builder_release(struct elog_batch_builder *b)
{
	free(b->records);
	free(b->out);
	memset(b, 0, sizeof(*b));
}

void elog_batch_builder_reset(struct elog_batch_builder *b)
{
	b->records_len = 0;
	b->out_len = 0;
	b->count = 0;
	b->first_timestamp = 0;
	b->max_timestamp = 0;
}

static int bytes_validate(const char *what, const uint8_t *data, int64_t len, struct elog_err *err)
{
	if (len < -1)
		return elog_err_set(err, ELOG_E_INVAL, "%s length %" PRId64 " invalid (-1 means null)", what, len);
	if (len > 0 && !data)
		return elog_err_set(err, ELOG_E_INVAL, "%s of length %" PRId64 " has no data", what, len);
	return 0;
}

static int record_validate(const struct elog_record *r, struct elog_err *err)
{
	if (bytes_validate("key", r->key, r->key_len, err) < 0 ||
	    bytes_validate("value", r->value, r->value_len, err) < 0)
		return -1;
	if (r->header_count > ELOG_RECORD_HEADERS_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "%" PRIu32 " headers exceed the limit of %d",
				    r->header_count, ELOG_RECORD_HEADERS_MAX);
	if (r->header_count > 0 && !r->headers)
		return elog_err_set(err, ELOG_E_INVAL, "%" PRIu32 " headers but no header array",
				    r->header_count);
	for (uint32_t i = 0; i < r->header_count; i++) {
		const struct elog_header *h = &r->headers[i];
		if (bytes_validate("header name", h->name, h->name_len, err) < 0 ||
		    bytes_validate("header value", h->value, h->value_len, err) < 0)
			return -1;
	}
	return 0;
}

static uint64_t bytes_size(int64_t len)
{
	return elog_svarint_len(len) + (uint64_t)(len > 0 ? len : 0);
}

/* Bytes of the record after its length field; cannot overflow (64 headers of < 8 GiB). */
static uint64_t record_body_size(const struct elog_record *r, int64_t timestamp_delta,
				 uint32_t offset_delta)
{
	uint64_t n = 1 + elog_svarint_len(timestamp_delta) + elog_varint_len(offset_delta);

	n += bytes_size(r->key_len) + bytes_size(r->value_len) + elog_varint_len(r->header_count);
	for (uint32_t i = 0; i < r->header_count; i++) {
		const struct elog_header *h = &r->headers[i];
		n += elog_varint_len(h->name_len) + h->name_len + bytes_size(h->value_len);
	}
	return n;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *data, int64_t len)
{
	p += elog_svarint_put(p, len);
	if (len > 0) {
		memcpy(p, data, (size_t)len);
		p += len;
	}
	return p;
}

/*
 * One record (see batch.h):
 *   svarint length | u8 attributes | svarint timestamp_delta | varint offset_delta
 *   | svarint key_length, key | svarint value_length, value | varint header_count
 *   | header_count x (varint name_length, name, svarint value_length, value)
 */
static size_t record_encode(uint8_t *out, const struct elog_record *r, int64_t timestamp_delta,
			    uint32_t offset_delta, uint64_t body_size)
{
	uint8_t *p = out, *body;

	p += elog_svarint_put(p, (int64_t)body_size);
	body = p;
	*p++ = 0;
	p += elog_svarint_put(p, timestamp_delta);
	p += elog_varint_put(p, offset_delta);
	p = put_bytes(p, r->key, r->key_len);
	p = put_bytes(p, r->value, r->value_len);
	p += elog_varint_put(p, r->header_count);
	for (uint32_t i = 0; i < r->header_count; i++) {
		const struct elog_header *h = &r->headers[i];
		p += elog_varint_put(p, h->name_len);
		if (h->name_len) {
			memcpy(p, h->name, h->name_len);
			p += h->name_len;
		}
		p = put_bytes(p, h->value, h->value_len);
	}
	assert((uint64_t)(p - body) == body_size);
	return (size_t)(p - out);
}

int elog_batch_builder_add(struct elog_batch_builder *b, const struct elog_record *r,
			   struct elog_err *err)
{
	size_t records_max = b->size_max - ELOG_BATCH_HEADER_SIZE;
	int64_t first = b->count ? b->first_timestamp : r->timestamp_ms;
	/* Wrapping difference: the reader adds it back the same way, so any pair round-trips. */
	int64_t timestamp_delta = (int64_t)((uint64_t)r->timestamp_ms - (uint64_t)first);
	uint64_t body_size, size;

	assert(b->size_max > ELOG_BATCH_HEADER_SIZE && b->size_max <= ELOG_BATCH_SIZE_MAX);
	assert(b->records_len <= records_max);
	if (record_validate(r, err) < 0)
		return -1;
	body_size = record_body_size(r, timestamp_delta, b->count);
	size = elog_svarint_len((int64_t)body_size) + body_size;
	if (size > records_max - b->records_len) {
		if (b->count == 0)
			return elog_err_set(err, ELOG_E_LIMIT, "record of %" PRIu64 " bytes exceeds the batch limit of %"
					    PRIu32 " bytes", size, b->size_max);
		return elog_err_set(err, ELOG_E_LIMIT, "record of %" PRIu64 " bytes does not fit: batch holds %zu of %zu record bytes",
				    size, b->records_len, records_max);
	}
	if (buffer_reserve(&b->records, &b->records_cap, b->records_len + (size_t)size, err) < 0)
		return -1;
	b->records_len += record_encode(b->records + b->records_len, r, timestamp_delta, b->count, body_size);
	if (b->count == 0 || r->timestamp_ms > b->max_timestamp)
		b->max_timestamp = r->timestamp_ms;
	b->first_timestamp = first;
	b->count++;
	b->out_len = 0;
	assert(b->records_len <= records_max && b->count > 0);
	return 0;
}

/*
 * Compress src[0, len) (len <= ELOG_BATCH_SIZE_MAX) with codec c, lz4 or
 * zlib, into dst[0, room): returns the compressed size, 0 when the result
 * does not fit room (both codecs stop there), or -1.
 */
static int64_t codec_compress(enum elog_compression c, const uint8_t *src, size_t len, uint8_t *dst,
			      size_t room, struct elog_err *err)
{
	assert(c == ELOG_COMPRESS_LZ4 || c == ELOG_COMPRESS_ZLIB);
	assert(len <= ELOG_BATCH_SIZE_MAX);
	if (room > ELOG_BATCH_SIZE_MAX)
		room = ELOG_BATCH_SIZE_MAX;   /* nothing larger is ever written; fits lz4's int */
	if (c == ELOG_COMPRESS_LZ4) {
		int n = LZ4_compress_default((const char *)src, (char *)dst, (int)len, (int)room);
		return n > 0 ? n : 0;
	} else {
		uLongf n = room;
		int rc = compress2(dst, &n, src, len, Z_DEFAULT_COMPRESSION);
		if (rc == Z_MEM_ERROR)
			return elog_err_set(err, ELOG_E_NOMEM, "zlib: out of memory compressing a batch");
		return rc == Z_OK ? (int64_t)n : 0;
	}
}

/*
 * Write the records area at area: compressed as [u32 plain length][bytes]
 * when that is strictly smaller than the plain records, else plain. Returns
 * the compression used and sets *area_len, or -1.
 */
static int records_compress(const struct elog_batch_builder *b, uint8_t *area, size_t *area_len,
			    struct elog_err *err)
{
	size_t plain_len = b->records_len, packed_len = 0;

	if (b->compression != ELOG_COMPRESS_NONE && plain_len > PLAIN_LENGTH_SIZE + 1) {
		/* Room for a result that is worth it; both codecs fail when it does not fit. */
		size_t room = plain_len - PLAIN_LENGTH_SIZE - 1;
		int64_t n = codec_compress(b->compression, b->records, plain_len, area + PLAIN_LENGTH_SIZE, room, err);
		if (n < 0)
			return -1;
		packed_len = (size_t)n;
	}
	if (packed_len) {
		assert(packed_len + PLAIN_LENGTH_SIZE < plain_len);
		elog_put32(area, (uint32_t)plain_len);
		*area_len = PLAIN_LENGTH_SIZE + packed_len;
		return (int)b->compression;
	}
	memcpy(area, b->records, plain_len);
	*area_len = plain_len;
	return ELOG_COMPRESS_NONE;
}

int elog_batch_builder_finish(struct elog_batch_builder *b, const uint8_t **out, size_t *out_len,
			      struct elog_err *err)
{
	struct elog_batch_header h;
	size_t area_len = 0;
	int compression;

	assert((unsigned)b->compression < COMPRESSION_COUNT);
	if (b->count == 0)
		return elog_err_set(err, ELOG_E_INVAL, "batch has no records");
	if (b->attributes_extra & ~ELOG_BATCH_ATTR_CONTROL)
		return elog_err_set(err, ELOG_E_INVAL, "batch attributes 0x%02x: only the control bit may be added",
				    b->attributes_extra);
	if (buffer_reserve(&b->out, &b->out_cap, ELOG_BATCH_HEADER_SIZE + b->records_len, err) < 0)
		return -1;
	compression = records_compress(b, b->out + ELOG_BATCH_HEADER_SIZE, &area_len, err);
	if (compression < 0)
		return -1;
	memset(&h, 0, sizeof(h));
	h.batch_length = (uint32_t)(ELOG_BATCH_HEADER_SIZE + area_len - ELOG_BATCH_PREFIX_SIZE);
	h.magic = ELOG_BATCH_MAGIC;
	h.attributes = (uint8_t)(compression | b->attributes_extra);
	h.producer_epoch = b->producer_epoch;
	h.last_offset_delta = b->count - 1;
	h.first_timestamp = b->first_timestamp;
	h.max_timestamp = b->max_timestamp;
	h.producer_id = b->producer_id;
	h.base_sequence = b->base_sequence;
	h.record_count = b->count;
	header_encode(b->out, &h);
	elog_put32(b->out + OFF_CRC, batch_crc(b->out, h.batch_length));
	b->out_len = elog_batch_total_size(&h);
	assert(b->out_len <= b->size_max);
	assert(elog_batch_check(b->out, b->out_len, NULL, NULL) == 0);
	*out = b->out;
	*out_len = b->out_len;
	return 0;
}

/* ---------------------------------------------------------------- rewriter */

size_t elog_batch_write_bound(enum elog_compression c, size_t records_len)
{
	if (records_len > ELOG_BATCH_SIZE_MAX)
		records_len = ELOG_BATCH_SIZE_MAX;  /* elog_batch_write refuses more */
	switch (c) {
	case ELOG_COMPRESS_LZ4:
		return ELOG_BATCH_HEADER_SIZE + PLAIN_LENGTH_SIZE + (size_t)LZ4_compressBound((int)records_len);
	case ELOG_COMPRESS_ZLIB:
		return ELOG_BATCH_HEADER_SIZE + PLAIN_LENGTH_SIZE + (size_t)compressBound(records_len);
	case ELOG_COMPRESS_NONE:
		break;
	}
	return ELOG_BATCH_HEADER_SIZE + records_len;
}

/*
 * The records area at out + 64, plain or [u32 records_len][compressed], as
 * the codec says; its size in *area_len. out_cap is at least the header.
 */
static int area_write(enum elog_compression c, const uint8_t *records, size_t records_len, uint8_t *out,
		      size_t out_cap, size_t *area_len, struct elog_err *err)
{
	size_t room = out_cap - ELOG_BATCH_HEADER_SIZE;
	int64_t n;

	if (c == ELOG_COMPRESS_NONE) {
		if (records_len > room)
			return elog_err_set(err, ELOG_E_LIMIT, "batch of %zu bytes does not fit a buffer of %zu",
					    ELOG_BATCH_HEADER_SIZE + records_len, out_cap);
		if (records_len)
			memcpy(out + ELOG_BATCH_HEADER_SIZE, records, records_len);
		*area_len = records_len;
		return 0;
	}
	n = room > PLAIN_LENGTH_SIZE ? codec_compress(c, records, records_len, out + ELOG_BATCH_HEADER_SIZE + PLAIN_LENGTH_SIZE,
						       room - PLAIN_LENGTH_SIZE, err) : 0;
	if (n < 0)
		return -1;
	if (n == 0 && out_cap >= ELOG_BATCH_SIZE_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "%s batch of %zu record bytes compresses past the batch limit of %u bytes",
				    compression_names[c], records_len, ELOG_BATCH_SIZE_MAX);
	if (n == 0)
		return elog_err_set(err, ELOG_E_LIMIT, "%s batch of %zu record bytes does not fit a buffer of %zu (it may take %zu)",
				    compression_names[c], records_len, out_cap, elog_batch_write_bound(c, records_len));
	elog_put32(out + ELOG_BATCH_HEADER_SIZE, (uint32_t)records_len);
	*area_len = PLAIN_LENGTH_SIZE + (size_t)n;
	return 0;
}

int elog_batch_write(const struct elog_batch_header *h, const uint8_t *records, size_t records_len,
		     uint8_t *out, size_t out_cap, size_t *out_len, struct elog_err *err)
{
	struct elog_batch_header w = *h;
	unsigned compression = h->attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK;
	size_t area_len = 0, total;

	if (records_len > ELOG_BATCH_SIZE_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "cannot write a batch of %zu record bytes: the limit is %u",
				    records_len, ELOG_BATCH_SIZE_MAX);
	if ((h->record_count == 0) != (records_len == 0))
		return elog_err_set(err, ELOG_E_INVAL, "cannot write a batch of %" PRIu32 " records in %zu bytes",
				    h->record_count, records_len);
	if (compression >= COMPRESSION_COUNT)
		return elog_err_set(err, ELOG_E_INVAL, "cannot write a batch: attributes 0x%02x: unknown compression %u",
				    h->attributes, compression);
	if (out_cap < ELOG_BATCH_HEADER_SIZE)
		return elog_err_set(err, ELOG_E_LIMIT, "a buffer of %zu bytes cannot hold a batch header", out_cap);
	if (area_write((enum elog_compression)compression, records, records_len, out, out_cap, &area_len, err) < 0)
		return -1;
	total = ELOG_BATCH_HEADER_SIZE + area_len;
	if (total > ELOG_BATCH_SIZE_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "batch of %zu bytes exceeds the batch limit of %u bytes",
				    total, ELOG_BATCH_SIZE_MAX);
	w.magic = ELOG_BATCH_MAGIC;
	w.batch_length = (uint32_t)(total - ELOG_BATCH_PREFIX_SIZE);
	/* What the header alone can tell, before anything is written over it. */
	if (header_validate(&w, 1, err) < 0) {
		if (err)
			err->code = ELOG_E_INVAL;   /* the caller's header, not stored bytes */
		return elog_err_prefix(err, "cannot write a batch");
	}
	header_encode(out, &w);
	elog_put32(out + OFF_CRC, batch_crc(out, w.batch_length));
	*out_len = total;
	assert(elog_batch_check_as(out, total, ELOG_BATCH_OFFSETS_GAPS, NULL, NULL) == 0);
	return 0;
}

/* ---------------------------------------------------------------- validator */

void elog_batch_validator_init(struct elog_batch_validator *v)
{
	memset(v, 0, sizeof(*v));
}

void elog_batch_validator_release(struct elog_batch_validator *v)
{
	free(v->plain);
	if (v->inflate) {
		inflateEnd(v->inflate);
		free(v->inflate);
	}
	memset(v, 0, sizeof(*v));
}

/* lz4: one block that decodes to exactly plain_len bytes, using all of its input. */
static int decompress_lz4(struct elog_batch_validator *v, const uint8_t *packed, size_t packed_len,
			  uint32_t plain_len, struct elog_err *err)
{
	int n = LZ4_decompress_safe((const char *)packed, (char *)v->plain, (int)packed_len, (int)plain_len);

	if (n < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length %" PRIu32
				    ": the lz4 records are malformed or decompress to more", plain_len);
	if ((uint32_t)n != plain_len)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length %" PRIu32
				    ": the lz4 records decompress to %d bytes", plain_len, n);
	return 0;
}

/* zlib: one stream that ends exactly at the end of the input and of plain_len bytes. */
static int decompress_zlib(struct elog_batch_validator *v, const uint8_t *packed, size_t packed_len,
			   uint32_t plain_len, struct elog_err *err)
{
	z_stream *z = v->inflate;
	uint8_t beyond;
	int rc;

	if (!z) {
		z = calloc(1, sizeof(*z));
		if (!z || inflateInit(z) != Z_OK) {
			free(z);
			return elog_err_set(err, ELOG_E_NOMEM, "zlib: out of memory for an inflate state");
		}
		v->inflate = z;
	} else if (inflateReset(z) != Z_OK) {
		return elog_err_set(err, ELOG_E_NOMEM, "zlib: cannot reset the inflate state");
	}
	z->next_in = packed;
	z->avail_in = (uInt)packed_len;   /* both below ELOG_BATCH_SIZE_MAX */
	z->next_out = v->plain;
	z->avail_out = plain_len;
	rc = inflate(z, Z_FINISH);
	if (rc == Z_BUF_ERROR && z->avail_out == 0) {
		/* Full: is there more data, or only the end of the stream still to come? */
		z->next_out = &beyond;
		z->avail_out = 1;
		rc = inflate(z, Z_FINISH);
		if (z->avail_out == 0)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length %" PRIu32
					    ": the zlib records decompress to more", plain_len);
	}
	if (rc == Z_MEM_ERROR)
		return elog_err_set(err, ELOG_E_NOMEM, "zlib: out of memory decompressing a batch");
	if (rc == Z_STREAM_END) {
		if (z->total_out != plain_len)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length %" PRIu32
					    ": the zlib records decompress to %lu bytes", plain_len,
					    (unsigned long)z->total_out);
		if (z->avail_in)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch zlib records: %u bytes after the end of the stream (byte %zu)",
					    z->avail_in, ELOG_BATCH_HEADER_SIZE + PLAIN_LENGTH_SIZE + packed_len - z->avail_in);
		return 0;
	}
	if (rc == Z_BUF_ERROR)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch zlib records: the stream is cut short after %lu bytes",
				    (unsigned long)z->total_out);
	return elog_err_set(err, ELOG_E_CORRUPT, "batch zlib records: malformed at or before byte %zu: %s",
			    ELOG_BATCH_HEADER_SIZE + PLAIN_LENGTH_SIZE + packed_len - z->avail_in,
			    z->msg ? z->msg : "bad data");
}

/*
 * Decompress the records area [u32 uncompressed length][data] of a checked
 * batch into v->plain and point v->records at it.
 */
static int records_decompress(struct elog_batch_validator *v, unsigned compression, const uint8_t *area,
			      size_t area_len, struct elog_err *err)
{
	const char *name = elog_compression_name((enum elog_compression)compression);
	const uint8_t *packed;
	size_t packed_len;
	uint32_t plain_len;
	uint64_t ratio_max;

	if (area_len < PLAIN_LENGTH_SIZE)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length: missing, the %s records area holds %zu bytes",
				    name, area_len);
	packed = area + PLAIN_LENGTH_SIZE;
	packed_len = area_len - PLAIN_LENGTH_SIZE;
	plain_len = elog_get32(area);
	if (plain_len == 0 || plain_len > ELOG_BATCH_SIZE_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch uncompressed length %" PRIu32 " outside [1, %u]",
				    plain_len, ELOG_BATCH_SIZE_MAX);
	/*
	 * Neither codec can expand by more than its format allows (an lz4 byte
	 * yields at most 255 output bytes, a deflate bit pattern at most 1032:1),
	 * so a tiny batch claiming a huge length is refused before we allocate
	 * for it: scratch memory stays proportional to what was sent.
	 */
	ratio_max = compression == ELOG_COMPRESS_LZ4 ? 255 : 1032;
	if (plain_len > (uint64_t)packed_len * ratio_max + 64)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "batch uncompressed length %" PRIu32 " impossible from %zu bytes of %s data",
				    plain_len, packed_len, name);
	if (buffer_reserve(&v->plain, &v->plain_cap, plain_len, err) < 0)
		return -1;
	if ((compression == ELOG_COMPRESS_LZ4 ? decompress_lz4 : decompress_zlib)(v, packed, packed_len, plain_len, err) < 0)
		return -1;
	v->records = v->plain;
	v->records_end = v->plain + plain_len;
	v->records_byte = 0;
	v->compressed = 1;
	return 0;
}

/* ---------------------------------------------------------------- records */

/*
 * The one decoder of records, used by the validator (which walks every
 * record of a batch once) and by the reader (which hands them out): they
 * cannot disagree. It works on local pointers, every read bounded by the
 * end of the records area and then of the record, and on a failure fills
 * a parse_error, which is formatted into a message only then (cold path).
 */

/* A record's fields; pointers into the records area. */
struct record_fields {
	int64_t timestamp_delta;
	uint64_t offset_delta;
	const uint8_t *key, *value;
	int32_t key_len, value_len;
	uint32_t header_count;
	uint64_t header_bytes;                 /* names and values of every header */
	const uint8_t *timestamp_at, *offset_at;
};

enum parse_problem {
	BAD_VARINT,          /* truncated, or more than 64 bits */
	BAD_NEGATIVE,        /* a record length below 0 */
	BAD_NEGATIVE_NULL,   /* a key, value or header value length below -1 */
	BAD_PAST_END,        /* a length running past the bytes left */
	BAD_COUNT,           /* header count over ELOG_RECORD_HEADERS_MAX */
	BAD_ATTRIBUTES,      /* record attributes not 0 */
	BAD_NO_ATTRIBUTES,   /* a record too short to hold them */
	BAD_FILL,            /* the fields do not fill the record's length */
};

#define NO_HEADER (-1)

struct parse_error {
	enum parse_problem problem;
	const uint8_t *at, *end;   /* the bad field; end of what was readable */
	const char *what;          /* field name: "length", "key length", "header count", ... */
	int header;                /* header number, or NO_HEADER */
	int64_t value;             /* the length or count read */
	int64_t other;             /* bytes left (BAD_PAST_END), bytes taken (BAD_FILL) */
};

static __attribute__((cold, noinline)) int parse_fail(struct parse_error *e, enum parse_problem problem,
						      const uint8_t *at, const uint8_t *end, const char *what,
						      int header, int64_t value, int64_t other)
{
	*e = (struct parse_error){problem, at, end, what, header, value, other};
	return -1;
}

/* Why the varint at p could not be read: it runs past end, or past 64 bits. */
static const char *varint_problem(const uint8_t *p, const uint8_t *end)
{
	for (size_t i = 0; i < ELOG_VARINT_MAX; i++)
		if (p + i >= end)
			return "truncated";
		else if (!(p[i] & 0x80))
			break;
	return "malformed: more than 64 bits";
}

/* "record N (byte B)" for a position in v's records area. */
static void record_where(char *out, size_t cap, const struct elog_batch_validator *v, uint32_t index,
			 const uint8_t *at)
{
	snprintf(out, cap, "record %" PRIu32 " (%sbyte %" PRIu64 ")", index, v->compressed ? "uncompressed " : "",
		 (uint64_t)v->records_byte + (uint64_t)(at - v->records));
}

static __attribute__((cold, noinline)) int parse_report(const struct elog_batch_validator *v, uint32_t index,
							 const struct parse_error *e, struct elog_err *err)
{
	char where[80], field[48], detail[120];

	record_where(where, sizeof(where), v, index, e->at);
	if (e->header == NO_HEADER)
		snprintf(field, sizeof(field), "%s", e->what);
	else
		snprintf(field, sizeof(field), "header %d %s", e->header, e->what);
	switch (e->problem) {
	case BAD_VARINT:
		snprintf(detail, sizeof(detail), "%s", varint_problem(e->at, e->end));
		break;
	case BAD_NEGATIVE:
		snprintf(detail, sizeof(detail), "%" PRId64 " is negative", e->value);
		break;
	case BAD_NEGATIVE_NULL:
		snprintf(detail, sizeof(detail), "%" PRId64 " is negative (-1 means null)", e->value);
		break;
	case BAD_PAST_END:
		snprintf(detail, sizeof(detail), "%" PRId64 " exceeds the %" PRId64 " bytes left", e->value, e->other);
		break;
	case BAD_COUNT:
		snprintf(detail, sizeof(detail), "%" PRId64 " exceeds the limit of %d", e->value, ELOG_RECORD_HEADERS_MAX);
		break;
	case BAD_ATTRIBUTES:
		snprintf(detail, sizeof(detail), "0x%02x, expected 0", (unsigned)e->value);
		break;
	case BAD_NO_ATTRIBUTES:
		snprintf(detail, sizeof(detail), "truncated");
		break;
	case BAD_FILL:
		snprintf(detail, sizeof(detail), "%" PRId64 " but its fields take %" PRId64 " bytes", e->value, e->other);
		break;
	}
	return elog_err_set(err, ELOG_E_CORRUPT, "%s: %s %s", where, field, detail);
}

/*
 * Almost every varint in a record is one or two bytes (lengths below 8 KiB,
 * deltas below 8192): decode those inline, the rest with elog_varint_get.
 */
static inline __attribute__((always_inline)) size_t varint_get(const uint8_t *p, const uint8_t *end,
							      uint64_t *v)
{
	if (end - p >= 2) {
		if (p[0] < 0x80) {
			*v = p[0];
			return 1;
		}
		if (p[1] < 0x80) {
			*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
			return 2;
		}
	} else if (p < end && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	return elog_varint_get(p, end, v);
}

/* Decoding steps of record_parse; each returns from it on a failure. */
#define PARSE_VARINT(what, header, out) do { \
		size_t used_ = varint_get(p, end, &(out)); \
		if (!used_) \
			return parse_fail(e, BAD_VARINT, p, end, (what), (header), 0, 0); \
		p += used_; \
	} while (0)

/* svarint length (-1: null) and that many bytes: a key, a value, a header value. */
#define PARSE_BYTES(what, header, data, len) do { \
		const uint8_t *at_ = p; \
		uint64_t u_; \
		int64_t n_; \
		PARSE_VARINT((what), (header), u_); \
		n_ = elog_zigzag_decode(u_); \
		if (n_ == -1) { \
			(data) = NULL; \
			(len) = -1; \
		} else if (n_ < 0) { \
			return parse_fail(e, BAD_NEGATIVE_NULL, at_, end, (what), (header), n_, 0); \
		} else if ((uint64_t)n_ > (uint64_t)(end - p)) { \
			return parse_fail(e, BAD_PAST_END, at_, end, (what), (header), n_, end - p); \
		} else { \
			(data) = p; \
			(len) = (int32_t)n_; /* bounded by the records area, <= ELOG_BATCH_SIZE_MAX */ \
			p += n_; \
		} \
	} while (0)

/*
 * One record at *pp, before end (see batch.h for its layout): its length,
 * then fields that must fill exactly that many bytes. Headers are stored
 * in `headers` when it is not NULL (the reader); the validator only needs
 * their sizes. On success *pp moves past the record.
 */
static inline __attribute__((always_inline)) int record_parse(const uint8_t **pp, const uint8_t *end,
							     struct record_fields *f, struct elog_header *headers,
							     struct parse_error *e)
{
	const uint8_t *p = *pp, *start = p, *body;
	uint64_t u, count;
	int64_t length;

	PARSE_VARINT("length", NO_HEADER, u);
	length = elog_zigzag_decode(u);
	if (length < 0)
		return parse_fail(e, BAD_NEGATIVE, start, end, "length", NO_HEADER, length, 0);
	if ((uint64_t)length > (uint64_t)(end - p))
		return parse_fail(e, BAD_PAST_END, start, end, "length", NO_HEADER, length, end - p);
	/* From here on every read is bounded by the record's own end. */
	body = p;
	end = p + length;
	if (p == end)
		return parse_fail(e, BAD_NO_ATTRIBUTES, p, end, "attributes", NO_HEADER, 0, 0);
	if (*p != 0)
		return parse_fail(e, BAD_ATTRIBUTES, p, end, "attributes", NO_HEADER, *p, 0);
	p++;
	f->timestamp_at = p;
	PARSE_VARINT("timestamp delta", NO_HEADER, u);
	f->timestamp_delta = elog_zigzag_decode(u);
	f->offset_at = p;
	PARSE_VARINT("offset delta", NO_HEADER, f->offset_delta);
	PARSE_BYTES("key length", NO_HEADER, f->key, f->key_len);
	PARSE_BYTES("value length", NO_HEADER, f->value, f->value_len);
	PARSE_VARINT("header count", NO_HEADER, count);
	if (count > ELOG_RECORD_HEADERS_MAX)
		return parse_fail(e, BAD_COUNT, p - 1, end, "header count", NO_HEADER, (int64_t)count, 0);
	f->header_count = (uint32_t)count;
	f->header_bytes = 0;
	for (int i = 0; i < (int)count; i++) {
		const uint8_t *name, *value, *at = p;
		uint64_t name_len;
		int32_t value_len;
		PARSE_VARINT("name length", i, name_len);
		if (name_len > (uint64_t)(end - p))
			return parse_fail(e, BAD_PAST_END, at, end, "name length", i, (int64_t)name_len, end - p);
		name = p;
		p += name_len;
		PARSE_BYTES("value length", i, value, value_len);
		f->header_bytes += name_len + (uint64_t)(value_len > 0 ? value_len : 0);
		if (headers)
			headers[i] = (struct elog_header){name, (uint32_t)name_len, value, value_len};
	}
	if (p != end)
		return parse_fail(e, BAD_FILL, start, end, "length", NO_HEADER, length, p - body);
	*pp = p;
	return 0;
}

/* Which rule record_check found broken; reported by record_check_report. */
enum record_problem {
	RECORD_OFFSET_NOT_DENSE,
	RECORD_FIRST_TIMESTAMP,
	RECORD_OFFSET_NOT_INCREASING,
	RECORD_OFFSET_BEYOND_LAST,
	RECORD_TIMESTAMP_AFTER_MAX,
	RECORD_TOO_LARGE,
};

static __attribute__((cold, noinline)) int record_check_report(const struct elog_batch_validator *v, uint32_t i,
								const struct record_fields *f,
								enum record_problem problem,
								uint64_t previous_delta, uint64_t size,
								uint32_t size_max, struct elog_err *err)
{
	const struct elog_batch_header *h = &v->header;
	int64_t timestamp = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f->timestamp_delta);
	char where[80];

	record_where(where, sizeof(where), v, i, problem == RECORD_FIRST_TIMESTAMP ||
		     problem == RECORD_TIMESTAMP_AFTER_MAX ? f->timestamp_at : f->offset_at);
	switch (problem) {
	case RECORD_OFFSET_NOT_DENSE:
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: offset delta %" PRIu64 ", expected %" PRIu32
				    " (a produced batch's offsets are dense)", where, f->offset_delta, i);
	case RECORD_FIRST_TIMESTAMP:
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: timestamp delta %" PRId64
				    ", expected 0 (the batch's first timestamp is its first record's)",
				    where, f->timestamp_delta);
	case RECORD_OFFSET_NOT_INCREASING:
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: offset delta %" PRIu64
				    " does not increase on the previous record's %" PRIu64,
				    where, f->offset_delta, previous_delta);
	case RECORD_OFFSET_BEYOND_LAST:
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: offset delta %" PRIu64
				    " beyond the batch's last offset delta %" PRIu32,
				    where, f->offset_delta, h->last_offset_delta);
	case RECORD_TIMESTAMP_AFTER_MAX:
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: timestamp delta %" PRId64 " gives %" PRId64
				    ", after the batch's max timestamp %" PRId64,
				    where, f->timestamp_delta, timestamp, h->max_timestamp);
	case RECORD_TOO_LARGE:
		break;
	}
	return elog_err_set(err, ELOG_E_LIMIT, "record %" PRIu32 ": %" PRIu64
			    " bytes of key, value and headers exceed max.record.bytes %" PRIu32, i, size, size_max);
}

/* Offset delta, timestamp and size of record i against the header and rules. */
static inline __attribute__((always_inline)) int record_check(const struct elog_batch_validator *v, uint32_t i,
							     const struct record_fields *f,
							     const struct elog_batch_rules *rules,
							     uint64_t previous_delta, int64_t timestamp,
							     struct elog_err *err)
{
	const struct elog_batch_header *h = &v->header;
	enum record_problem problem;
	uint64_t size = 0;

	if (rules->offsets == ELOG_BATCH_OFFSETS_DENSE) {
		if (__builtin_expect(f->offset_delta != i, 0)) {
			problem = RECORD_OFFSET_NOT_DENSE;
			goto fail;
		}
		if (__builtin_expect(i == 0 && f->timestamp_delta != 0, 0)) {
			problem = RECORD_FIRST_TIMESTAMP;
			goto fail;
		}
	} else {
		if (i > 0 && f->offset_delta <= previous_delta) {
			problem = RECORD_OFFSET_NOT_INCREASING;
			goto fail;
		}
		if (f->offset_delta > h->last_offset_delta) {
			problem = RECORD_OFFSET_BEYOND_LAST;
			goto fail;
		}
	}
	if (__builtin_expect(timestamp > h->max_timestamp, 0)) {
		problem = RECORD_TIMESTAMP_AFTER_MAX;
		goto fail;
	}
	if (rules->record_bytes_max) {
		size = (uint64_t)(f->key_len > 0 ? f->key_len : 0) + (uint64_t)(f->value_len > 0 ? f->value_len : 0) +
		       f->header_bytes;
		if (__builtin_expect(size > rules->record_bytes_max, 0)) {
			problem = RECORD_TOO_LARGE;
			goto fail;
		}
	}
	return 0;
fail:
	return record_check_report(v, i, f, problem, previous_delta, size, rules->record_bytes_max, err);
}

/* Walk every record of v's plain records area once. */
static int records_validate(const struct elog_batch_validator *v, const struct elog_batch_rules *rules,
			    struct elog_err *err)
{
	const struct elog_batch_header *h = &v->header;
	const uint8_t *p = v->records, *end = v->records_end;
	int64_t timestamp_max = INT64_MIN;
	uint64_t previous_delta = 0;

	/* Bounded by record_count; every pass consumes at least one byte or fails. */
	for (uint32_t i = 0; i < h->record_count; i++) {
		struct record_fields f;
		struct parse_error e;
		int64_t timestamp;
		if (p == end)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch record count %" PRIu32 ", but its records end after %" PRIu32,
					    h->record_count, i);
		if (record_parse(&p, end, &f, NULL, &e) < 0)
			return parse_report(v, i, &e, err);
		timestamp = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f.timestamp_delta);
		if (record_check(v, i, &f, rules, previous_delta, timestamp, err) < 0)
			return -1;
		previous_delta = f.offset_delta;
		if (timestamp > timestamp_max)
			timestamp_max = timestamp;
	}
	if (p != end)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count %" PRIu32 ", but %td more bytes follow its last record (%sbyte %" PRIu64 ")",
				    h->record_count, end - p, v->compressed ? "uncompressed " : "",
				    (uint64_t)v->records_byte + (uint64_t)(p - v->records));
	/* Dense, this follows from the rules above; with gaps the records after the last one kept were removed. */
	if (rules->offsets == ELOG_BATCH_OFFSETS_DENSE && previous_delta != h->last_offset_delta)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch last offset delta %" PRIu32 ", but its last record's is %" PRIu64,
				    h->last_offset_delta, previous_delta);
	if (rules->offsets == ELOG_BATCH_OFFSETS_DENSE && timestamp_max != h->max_timestamp)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch max timestamp %" PRId64 ", but its largest record timestamp is %" PRId64,
				    h->max_timestamp, timestamp_max);
	return 0;
}

int elog_batch_validate(struct elog_batch_validator *v, const uint8_t *buf, size_t len,
			const struct elog_batch_rules *rules, struct elog_err *err)
{
	static const struct elog_batch_rules dense_unlimited = {ELOG_BATCH_OFFSETS_DENSE, 0, 0};
	struct elog_batch_header *h = &v->header;
	const uint8_t *area;
	uint32_t total;
	unsigned compression;

	v->records = v->records_end = NULL;
	v->compressed = 0;
	if (!rules)
		rules = &dense_unlimited;
	if (elog_batch_header_decode_as(buf, len, rules->offsets, h, err) < 0)
		return -1;
	total = elog_batch_total_size(h);
	if (rules->batch_bytes_max && total > rules->batch_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "batch size %" PRIu32 " exceeds max.batch.bytes %" PRIu32,
				    total, rules->batch_bytes_max);
	if (elog_batch_check_as(buf, len, rules->offsets, h, err) < 0)
		return -1;
	if (rules->offsets == ELOG_BATCH_OFFSETS_DENSE && h->last_offset_delta != h->record_count - 1)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch last offset delta %" PRIu32 " disagrees with its record count %" PRIu32
				    " (a produced batch's offsets are dense)", h->last_offset_delta, h->record_count);
	area = buf + ELOG_BATCH_HEADER_SIZE;
	compression = h->attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK;
	if (compression == ELOG_COMPRESS_NONE) {
		v->records = area;
		v->records_end = buf + total;
		v->records_byte = ELOG_BATCH_HEADER_SIZE;
	} else if (records_decompress(v, compression, area, total - ELOG_BATCH_HEADER_SIZE, err) < 0) {
		return -1;
	}
	if (records_validate(v, rules, err) < 0) {
		v->records = v->records_end = NULL;
		return -1;
	}
	/* An empty records area only for an empty batch (GAPS), which the header rules keep uncompressed. */
	assert(v->records && (v->records < v->records_end || h->record_count == 0));
	return 0;
}

/* ---------------------------------------------------------------- reader */

void elog_batch_reader_init(struct elog_batch_reader *r)
{
	memset(r, 0, sizeof(*r));
	elog_batch_validator_init(&r->validator);
	r->rules.offsets = ELOG_BATCH_OFFSETS_DENSE;
}

void elog_batch_reader_release(struct elog_batch_reader *r)
{
	elog_batch_validator_release(&r->validator);
	memset(r, 0, sizeof(*r));
}

int elog_batch_reader_open(struct elog_batch_reader *r, const uint8_t *buf, size_t len,
			   struct elog_err *err)
{
	r->pos = r->end = NULL;
	r->next_index = 0;
	if (elog_batch_validate(&r->validator, buf, len, &r->rules, err) < 0)
		return -1;
	r->header = r->validator.header;
	r->pos = r->validator.records;
	r->end = r->validator.records_end;
	return 0;
}

int elog_batch_reader_next(struct elog_batch_reader *r, struct elog_record_view *rec,
			   struct elog_err *err)
{
	const struct elog_batch_header *h = &r->header;
	const uint8_t *start = r->pos;
	struct record_fields f;
	struct parse_error e;

	/* Calling _next without a successful _open is a programming error. */
	assert(r->pos && r->end && r->pos <= r->end);
	if (r->next_index == h->record_count) {
		assert(r->pos == r->end);  /* the validator saw to it */
		return 0;
	}
	if (record_parse(&r->pos, r->end, &f, rec->headers, &e) < 0) {
		parse_report(&r->validator, r->next_index, &e, err);
		return elog_err_prefix(err, "batch changed after it was validated");
	}
	rec->offset = h->base_offset + (int64_t)f.offset_delta;
	rec->timestamp_ms = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f.timestamp_delta);
	rec->key = f.key;
	rec->key_len = f.key_len;
	rec->value = f.value;
	rec->value_len = f.value_len;
	rec->header_count = f.header_count;
	rec->encoded = start;
	rec->encoded_len = (uint32_t)(r->pos - start);  /* inside one batch's records */
	r->next_index++;
	assert(r->pos <= r->end && r->next_index <= h->record_count);
	return 1;
}
