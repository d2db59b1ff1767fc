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

static int header_validate(const struct elog_batch_header *h, struct elog_err *err)
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
	if (h->record_count == 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count 0, expected at least 1");
	if (h->record_count - 1 > h->last_offset_delta)
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
	return header_validate(h, err);
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
	struct elog_batch_header local;
	uint32_t total, computed;

	if (!h)
		h = &local;
	if (elog_batch_header_decode(buf, len, h, err) < 0)
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
		uint8_t *dst = area + PLAIN_LENGTH_SIZE;
		if (b->compression == ELOG_COMPRESS_LZ4) {
			int n = LZ4_compress_default((const char *)b->records, (char *)dst, (int)plain_len, (int)room);
			packed_len = n > 0 ? (size_t)n : 0;
		} else {
			uLongf n = room;
			int rc = compress2(dst, &n, b->records, plain_len, Z_DEFAULT_COMPRESSION);
			if (rc == Z_MEM_ERROR)
				return elog_err_set(err, ELOG_E_NOMEM, "zlib: out of memory compressing a batch");
			packed_len = rc == Z_OK ? n : 0;
		}
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
 * record of a batch once) and the reader (which hands them out). A cursor
 * reads plain records; every read is bounded by `end`. `field` is where the
 * field being read starts, for messages only; names are formatted only when
 * there is an error to report.
 */
struct cursor {
	const uint8_t *p, *end;
	const uint8_t *field;
	const struct elog_batch_validator *v;  /* records, records_byte, compressed */
	uint32_t index;                        /* record number */
	struct elog_err *err;
};

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

#define NO_HEADER (-1)

static int cursor_fail_at(struct cursor *c, const uint8_t *at, const char *what, int header,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int cursor_fail_at(struct cursor *c, const uint8_t *at, const char *what, int header,
			  const char *fmt, ...)
{
	char detail[160], where[80];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "record %" PRIu32 " (%sbyte %" PRIu64 ")", c->index,
		 c->v->compressed ? "uncompressed " : "",
		 (uint64_t)c->v->records_byte + (uint64_t)(at - c->v->records));
	if (header == NO_HEADER)
		return elog_err_set(c->err, ELOG_E_CORRUPT, "%s: %s %s", where, what, detail);
	return elog_err_set(c->err, ELOG_E_CORRUPT, "%s: header %d %s %s", where, header, what, detail);
}

#define cursor_fail(c, ...) cursor_fail_at((c), (c)->field, __VA_ARGS__)

/* Why a varint at p could not be read: it runs past end, or past 64 bits. */
static const char *varint_problem(const uint8_t *p, const uint8_t *end)
{
	for (size_t i = 0; i < ELOG_VARINT_MAX; i++)
		if (p + i >= end)
			return "truncated";
		else if (!(p[i] & 0x80))
			break;
	return "malformed: more than 64 bits";
}

/* Almost every varint in a record is one byte: decode those inline. */
static inline size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && *p < 0x80) {
		*v = *p;
		return 1;
	}
	return elog_varint_get(p, end, v);
}

static int cursor_varint(struct cursor *c, const char *what, int header, uint64_t *v)
{
	size_t n;

	c->field = c->p;
	n = varint_get(c->p, c->end, v);
	if (!n)
		return cursor_fail(c, what, header, "%s", varint_problem(c->p, c->end));
	c->p += n;
	return 0;
}

static int cursor_svarint(struct cursor *c, const char *what, int header, int64_t *v)
{
	uint64_t u;

	if (cursor_varint(c, what, header, &u) < 0)
		return -1;
	*v = elog_zigzag_decode(u);
	return 0;
}

/* Take `len` bytes of field `what`; len was read from the input and is checked here. */
static int cursor_take(struct cursor *c, const char *what, int header, uint64_t len, const uint8_t **data)
{
	size_t left = (size_t)(c->end - c->p);

	if (len > left)
		return cursor_fail(c, what, header, "length %" PRIu64 " exceeds the %zu bytes left", len, left);
	*data = c->p;
	c->p += len;
	return 0;
}

/* svarint length (-1 null) and bytes: a key, a value or a header value. */
static int cursor_bytes(struct cursor *c, const char *what_length, const char *what, int header,
			const uint8_t **data, int32_t *len)
{
	int64_t n;

	if (cursor_svarint(c, what_length, header, &n) < 0)
		return -1;
	if (n == -1) {
		*data = NULL;
		*len = -1;
		return 0;
	}
	if (n < 0)
		return cursor_fail(c, what, header, "length %" PRId64 " is negative (-1 means null)", n);
	if (cursor_take(c, what, header, (uint64_t)n, data) < 0)
		return -1;
	*len = (int32_t)n; /* bounded by the records area, <= ELOG_BATCH_SIZE_MAX */
	return 0;
}

/* Header count and headers; stored in `headers` when it is not NULL. */
static int cursor_headers(struct cursor *c, struct record_fields *f, struct elog_header *headers)
{
	uint64_t count, name_len;

	if (cursor_varint(c, "header count", NO_HEADER, &count) < 0)
		return -1;
	if (count > ELOG_RECORD_HEADERS_MAX)
		return cursor_fail(c, "header count", NO_HEADER, "%" PRIu64 " exceeds the limit of %d", count,
				   ELOG_RECORD_HEADERS_MAX);
	f->header_count = (uint32_t)count;
	f->header_bytes = 0;
	for (int i = 0; i < (int)count; i++) {
		const uint8_t *name = NULL, *value = NULL;
		int32_t value_len = -1;
		if (cursor_varint(c, "name length", i, &name_len) < 0 ||
		    cursor_take(c, "name", i, name_len, &name) < 0 ||
		    cursor_bytes(c, "value length", "value", i, &value, &value_len) < 0)
			return -1;
		f->header_bytes += name_len + (uint64_t)(value_len > 0 ? value_len : 0);
		if (headers)
			headers[i] = (struct elog_header){name, (uint32_t)name_len, value, value_len};
	}
	return 0;
}

/*
 * One record at c->p: its length, then fields that must fill exactly that
 * many bytes (see batch.h). Leaves c->p after the record.
 */
static int record_parse(struct cursor *c, struct record_fields *f, struct elog_header *headers)
{
	const uint8_t *start = c->p, *outer_end = c->end, *body;
	int64_t length;

	if (cursor_svarint(c, "length", NO_HEADER, &length) < 0)
		return -1;
	if (length < 0)
		return cursor_fail(c, "length", NO_HEADER, "%" PRId64 " is negative", length);
	if ((uint64_t)length > (size_t)(c->end - c->p))
		return cursor_fail(c, "length", NO_HEADER, "%" PRId64 " exceeds the %td bytes left", length,
				   c->end - c->p);
	/* From here on every read is bounded by the record's own end. */
	body = c->p;
	c->end = c->p + length;
	c->field = c->p;
	if (c->p == c->end)
		return cursor_fail(c, "attributes", NO_HEADER, "truncated");
	if (*c->p != 0)
		return cursor_fail(c, "attributes", NO_HEADER, "0x%02x, expected 0", *c->p);
	c->p++;
	f->timestamp_at = c->p;
	if (cursor_svarint(c, "timestamp delta", NO_HEADER, &f->timestamp_delta) < 0)
		return -1;
	f->offset_at = c->p;
	if (cursor_varint(c, "offset delta", NO_HEADER, &f->offset_delta) < 0 ||
	    cursor_bytes(c, "key length", "key", NO_HEADER, &f->key, &f->key_len) < 0 ||
	    cursor_bytes(c, "value length", "value", NO_HEADER, &f->value, &f->value_len) < 0 ||
	    cursor_headers(c, f, headers) < 0)
		return -1;
	if (c->p != c->end)
		return cursor_fail_at(c, start, "length", NO_HEADER, "%" PRId64 " but its fields take %td bytes",
				      length, c->p - body);
	c->end = outer_end;
	return 0;
}

/* Offset delta, timestamp and size of record c->index against the header and rules. */
static int record_check(struct cursor *c, const struct record_fields *f, const struct elog_batch_header *h,
			   const struct elog_batch_rules *rules, uint64_t previous_delta)
{
	uint32_t i = c->index;
	int64_t timestamp = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f->timestamp_delta);

	if (rules->offsets == ELOG_BATCH_OFFSETS_DENSE) {
		if (f->offset_delta != i)
			return cursor_fail_at(c, f->offset_at, "offset delta", NO_HEADER,
					      "%" PRIu64 ", expected %" PRIu32 " (a produced batch's offsets are dense)",
					      f->offset_delta, i);
		if (i == 0 && f->timestamp_delta != 0)
			return cursor_fail_at(c, f->timestamp_at, "timestamp delta", NO_HEADER,
					      "%" PRId64 ", expected 0 (the batch's first timestamp is its first record's)",
					      f->timestamp_delta);
	} else {
		if (i > 0 && f->offset_delta <= previous_delta)
			return cursor_fail_at(c, f->offset_at, "offset delta", NO_HEADER,
					      "%" PRIu64 " does not increase on the previous record's %" PRIu64,
					      f->offset_delta, previous_delta);
		if (f->offset_delta > h->last_offset_delta)
			return cursor_fail_at(c, f->offset_at, "offset delta", NO_HEADER,
					      "%" PRIu64 " beyond the batch's last offset delta %" PRIu32,
					      f->offset_delta, h->last_offset_delta);
	}
	if (timestamp > h->max_timestamp)
		return cursor_fail_at(c, f->timestamp_at, "timestamp delta", NO_HEADER,
				      "%" PRId64 " gives %" PRId64 ", after the batch's max timestamp %" PRId64,
				      f->timestamp_delta, timestamp, h->max_timestamp);
	if (rules->record_bytes_max) {
		uint64_t size = (uint64_t)(f->key_len > 0 ? f->key_len : 0) +
				(uint64_t)(f->value_len > 0 ? f->value_len : 0) + f->header_bytes;
		if (size > rules->record_bytes_max)
			return elog_err_set(c->err, ELOG_E_LIMIT, "record %" PRIu32 ": %" PRIu64
					    " bytes of key, value and headers exceed max.record.bytes %" PRIu32,
					    i, size, rules->record_bytes_max);
	}
	return 0;
}

/* Walk every record of v's plain records area once. */
static int records_validate(const struct elog_batch_validator *v, const struct elog_batch_rules *rules,
			    struct elog_err *err)
{
	const struct elog_batch_header *h = &v->header;
	struct cursor c = {.p = v->records, .end = v->records_end, .field = v->records, .v = v, .err = err};
	int64_t timestamp_max = INT64_MIN;
	uint64_t previous_delta = 0;

	/* Bounded by record_count; every pass consumes at least one byte or fails. */
	for (uint32_t i = 0; i < h->record_count; i++) {
		struct record_fields f;
		int64_t timestamp;
		c.index = i;
		if (c.p == c.end)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch record count %" PRIu32 ", but its records end after %" PRIu32,
					    h->record_count, i);
		if (record_parse(&c, &f, NULL) < 0 || record_check(&c, &f, h, rules, previous_delta) < 0)
			return -1;
		previous_delta = f.offset_delta;
		timestamp = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f.timestamp_delta);
		if (timestamp > timestamp_max)
			timestamp_max = timestamp;
	}
	if (c.p != c.end)
		return elog_err_set(err, ELOG_E_CORRUPT, "batch record count %" PRIu32 ", but %td more bytes follow its last record (%sbyte %" PRIu64 ")",
				    h->record_count, c.end - c.p, v->compressed ? "uncompressed " : "",
				    (uint64_t)v->records_byte + (uint64_t)(c.p - v->records));
	if (previous_delta != h->last_offset_delta)
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
	if (elog_batch_header_decode(buf, len, h, err) < 0)
		return -1;
	total = elog_batch_total_size(h);
	if (rules->batch_bytes_max && total > rules->batch_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "batch size %" PRIu32 " exceeds max.batch.bytes %" PRIu32,
				    total, rules->batch_bytes_max);
	if (elog_batch_check(buf, len, h, err) < 0)
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
	assert(v->records && v->records < v->records_end);
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
	struct cursor c = {.p = r->pos, .end = r->end, .field = r->pos, .v = &r->validator,
			   .index = r->next_index, .err = err};
	struct record_fields f;

	/* Calling _next without a successful _open is a programming error. */
	assert(r->pos && r->end && r->pos <= r->end);
	if (r->next_index == h->record_count) {
		assert(r->pos == r->end);  /* the validator saw to it */
		return 0;
	}
	if (record_parse(&c, &f, rec->headers) < 0)
		return elog_err_prefix(err, "batch changed after it was validated");
	rec->offset = h->base_offset + (int64_t)f.offset_delta;
	rec->timestamp_ms = (int64_t)((uint64_t)h->first_timestamp + (uint64_t)f.timestamp_delta);
	rec->key = f.key;
	rec->key_len = f.key_len;
	rec->value = f.value;
	rec->value_len = f.value_len;
	rec->header_count = f.header_count;
	r->pos = c.p;
	r->next_index++;
	assert(r->pos <= r->end && r->next_index <= h->record_count);
	return 1;
}
