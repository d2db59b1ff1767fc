/* compact — offset map, scan and filter of log compaction; see compact.h. */
#include "compact.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"

/* ---------------------------------------------------------------- map */

/*
 * A slot: the key's 16-byte hash as two words, and the latest offset, or
 * SLOT_EMPTY. 24 bytes, so a map of B bytes holds B / 24 slots.
 */
struct elog_compact_slot {
	uint64_t hash_low, hash_high;
	int64_t offset;
};

#define SLOT_EMPTY (-1)

_Static_assert(sizeof(struct elog_compact_slot) == ELOG_COMPACT_MAP_SLOT_SIZE, "24-byte slots");
_Static_assert(ELOG_COMPACT_HASH_SIZE == 16 && ELOG_COMPACT_HASH_SIZE >= crypto_generichash_BYTES_MIN,
	       "a 16-byte hash is one crypto_generichash can make");
/* At the load limit (3/4 of the slots) a key costs 24 * 4 / 3 bytes. */
_Static_assert(ELOG_COMPACT_MAP_BYTES_PER_KEY * 3 == ELOG_COMPACT_MAP_SLOT_SIZE * 4, "bytes per key");

struct key_hash {
	uint64_t low, high;
};

static struct key_hash key_hash(const uint8_t *key, size_t key_len)
{
	uint8_t out[ELOG_COMPACT_HASH_SIZE];
	struct key_hash h;

	/* Unkeyed BLAKE2b; cannot fail for these sizes. */
	crypto_generichash(out, sizeof(out), key, key_len, NULL, 0);
	h.low = elog_get64(out);
	h.high = elog_get64(out + 8);
	return h;
}

int elog_compact_map_init(struct elog_compact_map *m, size_t bytes_max, struct elog_err *err)
{
	size_t slot_count = bytes_max / sizeof(struct elog_compact_slot);

	memset(m, 0, sizeof(*m));
	if (slot_count < ELOG_COMPACT_MAP_SLOTS_MIN)
		return elog_err_set(err, ELOG_E_INVAL, "compaction map of %zu bytes is below the minimum of %zu",
				    bytes_max, (size_t)ELOG_COMPACT_MAP_SLOTS_MIN * sizeof(struct elog_compact_slot));
	if (sodium_init() < 0)
		return elog_err_set(err, ELOG_E_IO, "libsodium cannot start");
	m->slots = malloc(slot_count * sizeof(struct elog_compact_slot));
	if (!m->slots)
		return elog_err_set(err, ELOG_E_NOMEM, "cannot allocate %zu bytes for a compaction map",
				    slot_count * sizeof(struct elog_compact_slot));
	m->slot_count = slot_count;
	/* Never full: at least a quarter of the slots stay empty, so every probe ends. */
	m->used_max = slot_count - slot_count / 4;
	assert(m->used_max >= 1 && m->used_max < m->slot_count);
	elog_compact_map_reset(m);
	return 0;
}

void elog_compact_map_release(struct elog_compact_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

void elog_compact_map_reset(struct elog_compact_map *m)
{
	/* All bits set is offset -1 (SLOT_EMPTY) in every slot; one memset for any size. */
	memset(m->slots, 0xff, m->slot_count * sizeof(struct elog_compact_slot));
	m->used = 0;
	assert(m->slot_count == 0 || m->slots[0].offset == SLOT_EMPTY);
}

/* The slot holding hash h, or the empty slot where it would go. */
static struct elog_compact_slot *slot_find(const struct elog_compact_map *m, struct key_hash h)
{
	size_t i = (size_t)(h.low % m->slot_count);

	assert(m->used < m->slot_count);
	/* Bounded: an empty slot exists (used <= used_max < slot_count) and the walk wraps. */
	for (size_t probes = 0; probes < m->slot_count; probes++) {
		struct elog_compact_slot *s = &m->slots[i];
		if (s->offset == SLOT_EMPTY || (s->hash_low == h.low && s->hash_high == h.high))
			return s;
		i = i + 1 == m->slot_count ? 0 : i + 1;
	}
	assert(!"a compaction map with no empty slot");
	return NULL;
}

int elog_compact_map_put(struct elog_compact_map *m, const uint8_t *key, size_t key_len, int64_t offset)
{
	struct key_hash h = key_hash(key, key_len);
	struct elog_compact_slot *s;

	assert(m->slots && offset >= 0);
	s = slot_find(m, h);
	if (s->offset == SLOT_EMPTY) {
		if (m->used == m->used_max)
			return ELOG_COMPACT_MAP_FULL;
		s->hash_low = h.low;
		s->hash_high = h.high;
		s->offset = offset;
		m->used++;
	} else if (offset > s->offset) {
		s->offset = offset;
	}
	assert(m->used <= m->used_max);
	return 0;
}

int elog_compact_map_get(const struct elog_compact_map *m, const uint8_t *key, size_t key_len,
			 int64_t *offset)
{
	const struct elog_compact_slot *s;

	assert(m->slots);
	s = slot_find(m, key_hash(key, key_len));
	if (s->offset == SLOT_EMPTY)
		return 0;
	*offset = s->offset;
	return 1;
}

/* ---------------------------------------------------------------- scan */

void elog_compact_scan_init(struct elog_compact_scan *s)
{
	memset(s, 0, sizeof(*s));
	elog_batch_reader_init(&s->reader);
	s->reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS;
	elog_compact_scan_start(s, 0);
}

void elog_compact_scan_release(struct elog_compact_scan *s)
{
	elog_batch_reader_release(&s->reader);
	memset(s, 0, sizeof(*s));
}

void elog_compact_scan_start(struct elog_compact_scan *s, int64_t start_offset)
{
	assert(start_offset >= 0);
	s->start_offset = start_offset;
	s->end_offset = start_offset;
	s->full = 0;
	s->next_offset = -1;
	s->records_put = 0;
}

/* One past a batch's last offset; a batch ending at INT64_MAX has no "past". */
static int64_t offset_after(const struct elog_batch_header *h)
{
	int64_t last = elog_batch_last_offset(h);

	return last == INT64_MAX ? INT64_MAX : last + 1;
}

int elog_compact_scan_batch(struct elog_compact_scan *s, struct elog_compact_map *m, const uint8_t *batch,
			    size_t len, struct elog_err *err)
{
	struct elog_record_view *rec = &s->record;
	const struct elog_batch_header *h = &s->reader.header;
	int rc = 0;

	assert(m->slots && s->reader.rules.offsets == ELOG_BATCH_OFFSETS_GAPS);
	if (s->full)
		return ELOG_COMPACT_MAP_FULL;
	if (elog_batch_reader_open(&s->reader, batch, len, err) < 0)
		return -1;
	if (h->base_offset < s->next_offset)
		return elog_err_set(err, ELOG_E_INVAL, "compaction scan: batch at offset %" PRId64
				    " comes before offset %" PRId64 ", past the batch fed before it",
				    h->base_offset, s->next_offset);
	/* Control batches are the broker's, never compacted: their keys stay out of the map. */
	if (!(h->attributes & ELOG_BATCH_ATTR_CONTROL)) {
		/* Bounded by record_count; the reader validated every record on open. */
		while ((rc = elog_batch_reader_next(&s->reader, rec, err)) == 1) {
			if (rec->offset < s->start_offset || rec->key_len < 0)
				continue;
			if (elog_compact_map_put(m, rec->key, (size_t)rec->key_len, rec->offset) == ELOG_COMPACT_MAP_FULL) {
				/* An empty map takes at least one key: a pass that takes none would be repeated forever. */
				if (s->records_put == 0)
					return elog_err_set(err, ELOG_E_INVAL, "compaction scan: the map is full before the pass"
							    " from offset %" PRId64 " takes a record (reset it between passes)",
							    s->start_offset);
				s->full = 1;
				s->end_offset = rec->offset;
				assert(s->end_offset > s->start_offset);
				return ELOG_COMPACT_MAP_FULL;
			}
			s->records_put++;
		}
		if (rc < 0)
			return -1;
	}
	s->next_offset = offset_after(h);
	if (s->next_offset > s->end_offset)
		s->end_offset = s->next_offset;
	return 0;
}

/* ---------------------------------------------------------------- filter */

void elog_compact_filter_init(struct elog_compact_filter *f)
{
	memset(f, 0, sizeof(*f));
	elog_batch_reader_init(&f->reader);
	f->reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS;
}

void elog_compact_filter_release(struct elog_compact_filter *f)
{
	elog_batch_reader_release(&f->reader);
	free(f->kept);
	memset(f, 0, sizeof(*f));
}

/* Grow f->kept to need bytes (<= ELOG_BATCH_SIZE_MAX: one batch's plain records). */
static int kept_reserve(struct elog_compact_filter *f, size_t need, struct elog_err *err)
{
	size_t cap = f->kept_cap ? f->kept_cap : 4096;
	uint8_t *p;

	assert(need <= ELOG_BATCH_SIZE_MAX);
	if (need <= f->kept_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > ELOG_BATCH_SIZE_MAX)
		cap = ELOG_BATCH_SIZE_MAX;
	p = realloc(f->kept, cap);
	if (!p)
		return elog_err_set(err, ELOG_E_NOMEM, "cannot allocate %zu bytes for compacted records", cap);
	f->kept = p;
	f->kept_cap = cap;
	return 0;
}

/* A tombstone in a batch whose max_timestamp is more than retention_ms before now is due. */
static int tombstones_due(int64_t max_timestamp, int64_t now_ms, int64_t retention_ms)
{
	assert(retention_ms >= 0);
	if (max_timestamp >= now_ms)
		return 0;
	/* now_ms > max_timestamp, so the difference fits a uint64 exactly. */
	return (uint64_t)now_ms - (uint64_t)max_timestamp > (uint64_t)retention_ms;
}

/* The rule of compact.h, record by record. */
static int record_survives(const struct elog_compact_pass *pass, const struct elog_record_view *rec,
			   int tombstone_due)
{
	int64_t latest;

	if (rec->offset >= pass->end_offset || rec->key_len < 0)
		return 1;
	if (!elog_compact_map_get(pass->map, rec->key, (size_t)rec->key_len, &latest))
		return 1;
	if (latest > rec->offset)
		return 0;               /* superseded */
	if (latest < rec->offset)
		return 1;               /* a record the scan never saw: nothing proves it old */
	return !(rec->value_len < 0 && tombstone_due);
}

/*
 * Walk the opened batch, gathering the records that survive in f->kept (a
 * run of survivors at a time, so a batch that loses nothing costs no copy).
 * Returns the bytes gathered, or -1.
 */
static int64_t records_filter(struct elog_compact_filter *f, const struct elog_compact_pass *pass,
			      struct elog_err *err)
{
	struct elog_record_view *rec = &f->record;
	struct elog_batch_reader *r = &f->reader;
	const uint8_t *run = r->validator.records, *end = r->validator.records_end;
	int due = tombstones_due(r->header.max_timestamp, pass->now_ms, pass->delete_retention_ms);
	size_t kept_len = 0;
	int rc;

	if (kept_reserve(f, (size_t)(end - run), err) < 0)
		return -1;
	/* Bounded by record_count. */
	while ((rc = elog_batch_reader_next(r, rec, err)) == 1) {
		if (record_survives(pass, rec, due)) {
			f->records_kept++;
			continue;
		}
		f->records_removed++;
		memcpy(f->kept + kept_len, run, (size_t)(rec->encoded - run));
		kept_len += (size_t)(rec->encoded - run);
		run = rec->encoded + rec->encoded_len;
	}
	if (rc < 0)
		return -1;
	if (f->records_removed && end > run) {
		memcpy(f->kept + kept_len, run, (size_t)(end - run));
		kept_len += (size_t)(end - run);
	}
	assert(kept_len <= f->kept_cap && f->records_kept + f->records_removed == r->header.record_count);
	return (int64_t)kept_len;
}

/*
 * The compacted batch, read back before anyone writes it anywhere: valid
 * under GAPS, and the header the filter meant. A failure is a bug here.
 */
static int output_check(struct elog_compact_filter *f, const struct elog_batch_header *want,
			const uint8_t *out, size_t out_len, struct elog_err *err)
{
	const struct elog_batch_header *got = &f->reader.validator.header;

	if (elog_batch_validate(&f->reader.validator, out, out_len, &f->reader.rules, err) < 0)
		return elog_err_prefix(err, "compacted batch at offset %" PRId64 " fails its check",
				       want->base_offset);
	if (got->record_count != want->record_count || got->base_offset != want->base_offset ||
	    got->last_offset_delta != want->last_offset_delta || got->attributes != want->attributes ||
	    got->producer_id != want->producer_id || got->base_sequence != want->base_sequence ||
	    got->max_timestamp != want->max_timestamp || elog_batch_total_size(got) != out_len)
		return elog_err_set(err, ELOG_E_CORRUPT, "compacted batch at offset %" PRId64
				    " reads back with another header", want->base_offset);
	return 0;
}

int elog_compact_filter_batch(struct elog_compact_filter *f, const struct elog_compact_pass *pass,
			      const uint8_t *batch, size_t len, int newest_of_producer, uint8_t *out,
			      size_t out_cap, size_t *out_len, struct elog_err *err)
{
	struct elog_batch_header w;
	int64_t kept_len;

	assert(f->reader.rules.offsets == ELOG_BATCH_OFFSETS_GAPS);
	f->records_kept = f->records_removed = 0;
	*out_len = 0;
	if (!pass->map || !pass->map->slots || pass->end_offset < 0 || pass->delete_retention_ms < 0)
		return elog_err_set(err, ELOG_E_INVAL, "compaction pass: %s", !pass->map || !pass->map->slots ? "no map" :
				    pass->end_offset < 0 ? "end offset is negative" : "delete retention is negative");
	if (elog_batch_reader_open(&f->reader, batch, len, err) < 0)
		return -1;
	w = f->reader.header;
	/* Control batches are kept whole; an empty one has nothing left to remove. */
	if ((w.attributes & ELOG_BATCH_ATTR_CONTROL) || w.record_count == 0) {
		f->records_kept = w.record_count;
		return ELOG_COMPACT_UNCHANGED;
	}
	kept_len = records_filter(f, pass, err);
	if (kept_len < 0)
		return -1;
	if (f->records_removed == 0)
		return ELOG_COMPACT_UNCHANGED;
	if (f->records_kept == 0) {
		if (w.producer_id < 0 || !newest_of_producer)
			return ELOG_COMPACT_DROPPED;
		/* The producer's newest batch stays, empty: nothing to compress. */
		w.attributes &= (uint8_t)~ELOG_BATCH_ATTR_COMPRESSION_MASK;
	}
	w.record_count = f->records_kept;
	if (elog_batch_write(&w, f->kept, (size_t)kept_len, out, out_cap, out_len, err) < 0)
		return elog_err_prefix(err, "compacted batch at offset %" PRId64, w.base_offset);
	if (output_check(f, &w, out, *out_len, err) < 0) {
		*out_len = 0;
		return -1;
	}
	return ELOG_COMPACT_REWRITTEN;
}

size_t elog_compact_filter_bound(const uint8_t *batch, size_t len)
{
	struct elog_batch_header h;
	enum elog_compression c;
	uint32_t plain_len;
	size_t bound;

	/* A batch that does not decode is refused before anything is written. */
	if (elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0)
		return ELOG_BATCH_HEADER_SIZE;
	c = (enum elog_compression)(h.attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK);
	/* Uncompressed, the records kept are a part of the records there. */
	if (c == ELOG_COMPRESS_NONE)
		return elog_batch_total_size(&h);
	plain_len = len >= ELOG_BATCH_HEADER_SIZE + 4 ? elog_get32(batch + ELOG_BATCH_HEADER_SIZE) : 0;
	bound = elog_batch_write_bound(c, plain_len);
	return bound < ELOG_BATCH_SIZE_MAX ? bound : ELOG_BATCH_SIZE_MAX;
}
