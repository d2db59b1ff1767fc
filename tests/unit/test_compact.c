/*
 * Unit tests: compact — the offset map (insert, update, lookup, full,
 * reset, limits), the scan (order, start offset, control batches, where
 * the map fills), the filter record by record (superseded, latest, null
 * keys, tombstones either side of their retention, the pass's end,
 * control and empty batches, byte-for-byte copies, errors), and a property
 * test over seeded random logs: after compaction exactly the latest record
 * of every key survives, every batch is valid under GAPS, a map too small
 * for the keys gives the same log in passes, and compacting again changes
 * nothing. Prints the filter's throughput on 100-byte records.
 */
#include "t.h"
#include "batch.h"
#include "bytes.h"
#include "compact.h"

#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define U8(s) ((const uint8_t *)(s))
#define T0 1700000000000

static uint32_t rng_next(uint32_t *state)
{
	/* xorshift32: deterministic, good enough for test data */
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static const struct elog_batch_rules gaps = {.offsets = ELOG_BATCH_OFFSETS_GAPS};

/* ------------------------------------------------------------ logs */

/* A log: whole batches in offset order, each in its own allocation. */
struct log {
	uint8_t **batch;
	size_t *len;
	size_t count, cap;
};

static int log_add(struct log *l, const uint8_t *bytes, size_t len)
{
	uint8_t *copy;

	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		uint8_t **b = realloc(l->batch, cap * sizeof(*b));
		size_t *n = b ? realloc(l->len, cap * sizeof(*n)) : NULL;
		if (b)
			l->batch = b;
		if (!n)
			return -1;
		l->len = n;
		l->cap = cap;
	}
	copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, bytes, len);
	l->batch[l->count] = copy;
	l->len[l->count++] = len;
	return 0;
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->batch[i]);
	free(l->batch);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

static int log_equal(const struct log *a, const struct log *b)
{
	if (a->count != b->count)
		return 0;
	for (size_t i = 0; i < a->count; i++)
		if (a->len[i] != b->len[i] || memcmp(a->batch[i], b->batch[i], a->len[i]))
			return 0;
	return 1;
}

static struct elog_batch_header header_of(const uint8_t *batch, size_t len)
{
	struct elog_batch_header h;

	memset(&h, 0, sizeof(h));
	elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL);
	return h;
}

/* Finish the builder's batch, set its offsets and term as a leader would, add it to l. */
static int log_append(struct log *l, struct elog_batch_builder *b, int64_t base_offset, uint64_t term,
		      struct elog_err *err)
{
	const uint8_t *out;
	size_t out_len;
	int rc;

	if (elog_batch_builder_finish(b, &out, &out_len, err) < 0)
		return -1;
	rc = log_add(l, out, out_len);
	if (rc == 0)
		elog_batch_assign(l->batch[l->count - 1], base_offset, term);
	elog_batch_builder_reset(b);
	return rc;
}

/* Is batch i the last of its producer in l? */
static int newest_of_producer(const struct log *l, size_t i)
{
	struct elog_batch_header h = header_of(l->batch[i], l->len[i]);

	if (h.producer_id < 0)
		return 0;
	for (size_t k = i + 1; k < l->count; k++)
		if (header_of(l->batch[k], l->len[k]).producer_id == h.producer_id)
			return 0;
	return 1;
}

/* What a compaction run saw. */
struct run_stats {
	int passes;
	size_t unchanged, rewritten, dropped;
};

/*
 * Compact l in place the way the driver will: passes of scan (from the
 * previous pass's end) and filter (every batch), until a scan reaches the
 * end of the log without filling the map. 0, or -1 with err.
 */
static int compact_log(struct log *l, size_t map_bytes, int64_t now_ms, int64_t retention_ms,
		       struct run_stats *stats, struct elog_err *err)
{
	struct elog_compact_map map;
	struct elog_compact_scan scan;
	struct elog_compact_filter filter;
	int64_t start = 0;
	uint8_t *out = NULL;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	if (elog_compact_map_init(&map, map_bytes, err) < 0)
		return -1;
	elog_compact_scan_init(&scan);
	elog_compact_filter_init(&filter);
	for (;;) {
		struct elog_compact_pass pass;
		struct log next = {0};
		if (stats->passes++ > 100000) {
			elog_err_set(err, ELOG_E_LIMIT, "no progress");
			goto out;
		}
		elog_compact_map_reset(&map);
		elog_compact_scan_start(&scan, start);
		for (size_t i = 0; i < l->count; i++) {
			struct elog_batch_header h = header_of(l->batch[i], l->len[i]);
			int s;
			if (elog_batch_last_offset(&h) < start)
				continue;
			s = elog_compact_scan_batch(&scan, &map, l->batch[i], l->len[i], err);
			if (s < 0)
				goto out;
			if (s == ELOG_COMPACT_MAP_FULL)
				break;
		}
		if (scan.full && scan.end_offset <= start) {
			elog_err_set(err, ELOG_E_LIMIT, "a pass from %" PRId64 " made no progress", start);
			goto out;
		}
		pass = (struct elog_compact_pass){&map, scan.end_offset, now_ms, retention_ms};
		for (size_t i = 0; i < l->count; i++) {
			size_t out_len = 0, cap = elog_compact_filter_bound(l->batch[i], l->len[i]);
			int f;
			free(out);
			out = malloc(cap);
			if (!out) {
				log_free(&next);
				goto out;
			}
			f = elog_compact_filter_batch(&filter, &pass, l->batch[i], l->len[i], newest_of_producer(l, i),
						      out, cap, &out_len, err);
			if (f < 0 || (f == ELOG_COMPACT_UNCHANGED && log_add(&next, l->batch[i], l->len[i]) < 0) ||
			    (f == ELOG_COMPACT_REWRITTEN && log_add(&next, out, out_len) < 0)) {
				log_free(&next);
				goto out;
			}
			stats->unchanged += f == ELOG_COMPACT_UNCHANGED;
			stats->rewritten += f == ELOG_COMPACT_REWRITTEN;
			stats->dropped += f == ELOG_COMPACT_DROPPED;
		}
		log_free(l);
		*l = next;
		if (!scan.full)
			break;
		start = scan.end_offset;
	}
	rc = 0;
out:
	free(out);
	elog_compact_filter_release(&filter);
	elog_compact_scan_release(&scan);
	elog_compact_map_release(&map);
	return rc;
}

/* ------------------------------------------------------------ the model */

/* A record as the test wrote it; keys and values are derived from ids and offsets. */
struct mrec {
	int64_t offset;
	int64_t timestamp_ms;
	int32_t key;            /* key id, -1: null key */
	int32_t value_len;      /* -1: tombstone */
	size_t batch;           /* index in the original log */
	int header;             /* carries one header */
};

struct mbatch {
	int64_t base_offset;
	int64_t max_timestamp;
	int control;
	int64_t producer_id;
	size_t first, count;    /* its records in the model's array */
};

struct model {
	struct mrec *rec;
	size_t nrec;
	struct mbatch *batch;
	size_t nbatch;
};

static void model_free(struct model *m)
{
	free(m->rec);
	free(m->batch);
	memset(m, 0, sizeof(*m));
}

static size_t key_bytes(int32_t id, uint8_t *out)
{
	/* Lengths vary with the id; "key-7" and "key-7x" are different keys. */
	int n = snprintf((char *)out, 40, "key-%d%.*s", (int)id, (int)(id % 5), "xxxxx");
	return (size_t)n;
}

static void value_bytes(int64_t offset, int32_t len, uint8_t *out)
{
	static const char text[] = "compaction keeps the latest record of every key; ";
	for (int32_t i = 0; i < len; i++)
		out[i] = (uint8_t)text[(size_t)(offset * 7 + i) % (sizeof(text) - 1)];
	if (len >= 8)
		elog_put64(out, (uint64_t)offset);
}

/*
 * A random log of `batches` batches: codecs none, lz4 and zlib; keys from
 * key_space ids, some null; tombstones; timestamps 1 s apart per batch,
 * going back inside a batch; three idempotent producers and plain batches;
 * now and then a control batch; leader terms that grow. 0 or -1.
 */
static int make_log(uint32_t seed, uint32_t key_space, size_t batches, struct log *l, struct model *m)
{
	static uint8_t key[64], value[256];
	struct elog_batch_builder b;
	struct elog_err err;
	int32_t sequence[3] = {0, 0, 0};
	int64_t next_offset = 0;
	uint64_t term = 1;
	int rc = 0;

	memset(l, 0, sizeof(*l));
	memset(m, 0, sizeof(*m));
	m->batch = calloc(batches, sizeof(*m->batch));
	m->rec = calloc(batches * 40, sizeof(*m->rec));
	if (!m->batch || !m->rec)
		return -1;
	for (size_t bi = 0; bi < batches && rc == 0; bi++) {
		enum elog_compression codec = (enum elog_compression)(rng_next(&seed) % 3);
		int control = rng_next(&seed) % 20 == 0;
		int producer = control || rng_next(&seed) % 2 ? -1 : (int)(rng_next(&seed) % 3);
		uint32_t count = 1 + rng_next(&seed) % 40;
		struct mbatch *mb = &m->batch[m->nbatch++];

		elog_batch_builder_init(&b, codec, 0);
		b.attributes_extra = control ? ELOG_BATCH_ATTR_CONTROL : 0;
		if (producer >= 0) {
			b.producer_id = 1000 + producer;
			b.producer_epoch = 0;
			b.base_sequence = sequence[producer];
			sequence[producer] += (int32_t)count;
		}
		*mb = (struct mbatch){next_offset, INT64_MIN, control, producer >= 0 ? 1000 + producer : -1, m->nrec, count};
		for (uint32_t i = 0; i < count && rc == 0; i++) {
			struct mrec *r = &m->rec[m->nrec++];
			struct elog_header h = {U8("trace"), 5, value, 4};
			struct elog_record er;
			r->offset = next_offset + i;
			r->timestamp_ms = T0 + (int64_t)bi * 1000 + (int64_t)(rng_next(&seed) % 900) - 100;
			r->key = rng_next(&seed) % 8 == 0 ? -1 : (int32_t)(rng_next(&seed) % key_space);
			r->value_len = rng_next(&seed) % 6 == 0 ? -1 : (int32_t)(rng_next(&seed) % 200);
			r->batch = bi;
			r->header = rng_next(&seed) % 4 == 0;
			value_bytes(r->offset, r->value_len, value);
			er = (struct elog_record){
				.timestamp_ms = r->timestamp_ms,
				.key = r->key >= 0 ? key : NULL,
				.key_len = r->key >= 0 ? (int32_t)key_bytes(r->key, key) : -1,
				.value = r->value_len >= 0 ? value : NULL, .value_len = r->value_len,
				.headers = r->header ? &h : NULL, .header_count = r->header ? 1 : 0,
			};
			if (r->value_len < 4) {
				h.value = NULL;
				h.value_len = -1;
			}
			if (r->timestamp_ms > mb->max_timestamp)
				mb->max_timestamp = r->timestamp_ms;
			rc = elog_batch_builder_add(&b, &er, &err);
		}
		if (rc == 0)
			rc = log_append(l, &b, next_offset, term, &err);
		if (rc < 0)
			fprintf(stderr, "# make_log: %s\n", err.msg);
		elog_batch_builder_release(&b);
		next_offset += count;
		term += rng_next(&seed) % 10 == 0;
	}
	return rc;
}

/* Whether each record of the model survives, by compact.h's rule applied to the whole log at once. */
static int *model_survivors(const struct model *m, uint32_t key_space, int64_t now_ms, int64_t retention_ms)
{
	int64_t *latest = malloc(key_space * sizeof(*latest));
	int *survives = calloc(m->nrec ? m->nrec : 1, sizeof(*survives));

	if (!latest || !survives) {
		free(latest);
		free(survives);
		return NULL;
	}
	for (uint32_t k = 0; k < key_space; k++)
		latest[k] = -1;
	for (size_t i = 0; i < m->nrec; i++)
		if (m->rec[i].key >= 0 && !m->batch[m->rec[i].batch].control)
			latest[m->rec[i].key] = m->rec[i].offset;
	for (size_t i = 0; i < m->nrec; i++) {
		const struct mrec *r = &m->rec[i];
		const struct mbatch *b = &m->batch[r->batch];
		int due = b->max_timestamp < now_ms - retention_ms;
		survives[i] = b->control || r->key < 0 || (latest[r->key] == r->offset && !(r->value_len < 0 && due));
	}
	free(latest);
	return survives;
}

/* Is the record view the model's record r, byte for byte? */
static int record_is(const struct elog_record_view *v, const struct mrec *r)
{
	uint8_t key[64], value[256];
	size_t key_len;

	if (v->offset != r->offset || v->timestamp_ms != r->timestamp_ms || v->value_len != r->value_len ||
	    v->header_count != (uint32_t)r->header)
		return 0;
	if (r->key < 0) {
		if (v->key_len != -1 || v->key != NULL)
			return 0;
	} else {
		key_len = key_bytes(r->key, key);
		if (v->key_len != (int32_t)key_len || memcmp(v->key, key, key_len))
			return 0;
	}
	value_bytes(r->offset, r->value_len, value);
	if (r->value_len > 0 && memcmp(v->value, value, (size_t)r->value_len))
		return 0;
	if (r->value_len < 0 && v->value != NULL)
		return 0;
	if (r->header && (v->headers[0].name_len != 5 || memcmp(v->headers[0].name, "trace", 5) ||
			  v->headers[0].value_len != (r->value_len < 4 ? -1 : 4) ||
			  (r->value_len >= 4 && memcmp(v->headers[0].value, value, 4))))
		return 0;
	return 1;
}

/* Batches log_matches found emptied and kept (the newest of a producer). */
static size_t empties_seen;

/*
 * Check a compacted log against the model: the batches that must stay
 * (with a survivor, control, or the newest of an idempotent producer) and
 * no other, each valid under GAPS with its original header fields, and
 * exactly the surviving records, in order, identical to what was written.
 * 0, or -1 with the first difference on stderr.
 */
static int log_matches(const struct log *l, const struct log *original, const struct model *m, const int *survives)
{
	static struct elog_record_view view;
	struct elog_batch_validator v;
	struct elog_batch_reader reader;
	struct elog_err err;
	size_t at = 0, rec_at = 0;
	int rc = -1;

	elog_batch_validator_init(&v);
	elog_batch_reader_init(&reader);
	reader.rules = gaps;
	for (size_t bi = 0; bi < m->nbatch; bi++) {
		const struct mbatch *mb = &m->batch[bi];
		struct elog_batch_header want = header_of(original->batch[bi], original->len[bi]), got;
		size_t kept = 0;
		int newest = newest_of_producer(original, bi), n;
		for (size_t i = mb->first; i < mb->first + mb->count; i++)
			kept += (size_t)survives[i];
		if (kept == 0 && !mb->control && !newest) {
			rec_at += mb->count;
			continue;   /* dropped */
		}
		if (at == l->count) {
			fprintf(stderr, "# batch at %" PRId64 " missing\n", mb->base_offset);
			goto out;
		}
		if (elog_batch_validate(&v, l->batch[at], l->len[at], &gaps, &err) < 0 ||
		    elog_batch_reader_open(&reader, l->batch[at], l->len[at], &err) < 0) {
			fprintf(stderr, "# batch at %" PRId64 ": %s\n", mb->base_offset, err.msg);
			goto out;
		}
		got = reader.header;
		if (kept == 0 && !mb->control) {   /* the producer's newest, emptied: no codec */
			want.attributes &= (uint8_t)~ELOG_BATCH_ATTR_COMPRESSION_MASK;
			empties_seen++;
		}
		if (got.base_offset != want.base_offset || got.last_offset_delta != want.last_offset_delta ||
		    got.leader_term != want.leader_term || got.attributes != want.attributes ||
		    got.producer_id != want.producer_id || got.producer_epoch != want.producer_epoch ||
		    got.base_sequence != want.base_sequence || got.first_timestamp != want.first_timestamp ||
		    got.max_timestamp != want.max_timestamp || got.record_count != kept) {
			fprintf(stderr, "# batch at %" PRId64 ": header differs (records %u, want %zu)\n",
				mb->base_offset, got.record_count, kept);
			goto out;
		}
		while ((n = elog_batch_reader_next(&reader, &view, &err)) == 1) {
			while (rec_at < mb->first + mb->count && !survives[rec_at])
				rec_at++;
			if (rec_at == mb->first + mb->count || !record_is(&view, &m->rec[rec_at])) {
				fprintf(stderr, "# batch at %" PRId64 ": record at %" PRId64 " is not the one expected\n",
					mb->base_offset, view.offset);
				goto out;
			}
			rec_at++;
		}
		if (n < 0)
			goto out;
		rec_at = mb->first + mb->count;
		at++;
	}
	if (at != l->count) {
		fprintf(stderr, "# %zu batches more than expected\n", l->count - at);
		goto out;
	}
	rc = 0;
out:
	elog_batch_reader_release(&reader);
	elog_batch_validator_release(&v);
	return rc;
}

/* ------------------------------------------------------------ the map */

static size_t key_of(uint32_t i, uint8_t *out)
{
	return (size_t)snprintf((char *)out, 32, "k%u", i);
}

static void test_map_full_insert_lookup(void)
{
	struct elog_compact_map m;
	struct elog_err err;
	uint8_t key[32];
	int64_t offset = -7;

	T_CHECK(elog_compact_map_init(&m, ELOG_COMPACT_MAP_SLOTS_MIN * ELOG_COMPACT_MAP_SLOT_SIZE - 1, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	T_CHECK(strstr(err.msg, "compaction map of 383 bytes is below the minimum of 384") != NULL);
	T_CHECK(m.slots == NULL);
	/* 16 slots, 12 keys; a budget that is not a multiple of a slot rounds down */
	T_OK(elog_compact_map_init(&m, ELOG_COMPACT_MAP_SLOTS_MIN * ELOG_COMPACT_MAP_SLOT_SIZE + 23, &err), &err);
	T_EQ_INT(m.slot_count, 16);
	T_EQ_INT(m.used_max, 12);
	for (uint32_t i = 0; i < 12; i++)
		T_EQ_INT(elog_compact_map_put(&m, key, key_of(i, key), 100 + i), 0);
	T_EQ_INT(m.used, 12);
	T_EQ_INT(elog_compact_map_put(&m, key, key_of(12, key), 112), ELOG_COMPACT_MAP_FULL);
	T_EQ_INT(elog_compact_map_get(&m, key, key_of(12, key), &offset), 0);
	T_EQ_INT(offset, -7);
	T_EQ_INT(m.used, 12);
	/* a key present is updated even when full; a lower offset never replaces a higher */
	T_EQ_INT(elog_compact_map_put(&m, key, key_of(3, key), 500), 0);
	T_EQ_INT(elog_compact_map_put(&m, key, key_of(4, key), 50), 0);
	for (uint32_t i = 0; i < 12; i++) {
		T_EQ_INT(elog_compact_map_get(&m, key, key_of(i, key), &offset), 1);
		T_EQ_INT(offset, i == 3 ? 500 : 100 + i);
	}
	/* the empty key is a key like any other, and differs from "k1" cut short */
	T_EQ_INT(elog_compact_map_get(&m, U8(""), 0, &offset), 0);
	T_EQ_INT(elog_compact_map_get(&m, U8("k"), 1, &offset), 0);
	T_EQ_INT(elog_compact_map_put(&m, U8(""), 0, 9), ELOG_COMPACT_MAP_FULL);
	/* reset forgets everything and takes keys again */
	elog_compact_map_reset(&m);
	T_EQ_INT(m.used, 0);
	T_EQ_INT(elog_compact_map_get(&m, key, key_of(3, key), &offset), 0);
	T_EQ_INT(elog_compact_map_put(&m, U8(""), 0, 0), 0);
	T_EQ_INT(elog_compact_map_get(&m, U8(""), 0, &offset), 1);
	T_EQ_INT(offset, 0);
	T_EQ_INT(elog_compact_map_put(&m, U8("k12"), 3, INT64_MAX), 0);
	T_EQ_INT(elog_compact_map_get(&m, U8("k12"), 3, &offset), 1);
	T_CHECK(offset == INT64_MAX);
	elog_compact_map_release(&m);
	T_CHECK(m.slots == NULL && m.slot_count == 0);
}

/* Many keys, a map at its load limit: every key found, with its own offset; absent ones not. */
static void test_map_many_keys(void)
{
	enum { KEYS = 60000 };
	struct elog_compact_map m;
	struct elog_err err;
	uint8_t key[32];
	int64_t offset;
	uint32_t i, found = 0;

	T_OK(elog_compact_map_init(&m, (size_t)KEYS * ELOG_COMPACT_MAP_BYTES_PER_KEY, &err), &err);
	T_CHECK(m.used_max >= KEYS);
	for (i = 0; i < m.used_max; i++)
		T_EQ_INT(elog_compact_map_put(&m, key, key_of(i, key), i), 0);
	T_EQ_INT(elog_compact_map_put(&m, key, key_of(i, key), i), ELOG_COMPACT_MAP_FULL);
	for (i = 0; i < m.used_max; i++)
		found += elog_compact_map_get(&m, key, key_of(i, key), &offset) == 1 && offset == i;
	T_EQ_INT(found, m.used_max);
	found = 0;
	for (i = 0; i < 10000; i++)
		found += elog_compact_map_get(&m, key, key_of((uint32_t)m.used_max + i, key), &offset);
	T_EQ_INT(found, 0);
	elog_compact_map_release(&m);
}

/* ------------------------------------------------------------ scan and filter, case by case */

struct small_rec {
	const char *key;        /* NULL: null key */
	const char *value;      /* NULL: tombstone */
	int64_t timestamp_ms;
};

/* One batch of the given records at base_offset (dense); appended to l. */
static int small_batch(struct log *l, enum elog_compression c, int64_t base_offset, int64_t producer_id,
		       uint8_t extra_attributes, const struct small_rec *recs, size_t n)
{
	struct elog_batch_builder b;
	struct elog_err err;
	int rc = 0;

	elog_batch_builder_init(&b, c, 0);
	b.attributes_extra = extra_attributes;
	if (producer_id >= 0) {
		b.producer_id = producer_id;
		b.producer_epoch = 2;
		b.base_sequence = 40;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct elog_record r = {
			.timestamp_ms = recs[i].timestamp_ms,
			.key = U8(recs[i].key), .key_len = recs[i].key ? (int32_t)strlen(recs[i].key) : -1,
			.value = U8(recs[i].value), .value_len = recs[i].value ? (int32_t)strlen(recs[i].value) : -1,
		};
		rc = elog_batch_builder_add(&b, &r, &err);
	}
	if (rc == 0)
		rc = log_append(l, &b, base_offset, 3, &err);
	elog_batch_builder_release(&b);
	return rc;
}

/* The records of a batch as "offset:key=value" words ("-" for null), or NULL if it is not valid GAPS. */
static const char *describe(const uint8_t *batch, size_t len)
{
	static char text[1024];
	static struct elog_record_view view;
	struct elog_batch_reader r;
	size_t n = 0;

	elog_batch_reader_init(&r);
	r.rules = gaps;
	text[0] = '\0';
	if (elog_batch_reader_open(&r, batch, len, NULL) < 0) {
		elog_batch_reader_release(&r);
		return NULL;
	}
	while (elog_batch_reader_next(&r, &view, NULL) == 1 && n < sizeof(text) - 100)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%" PRId64 ":%.*s=%.*s", n ? " " : "", view.offset,
				      view.key_len < 0 ? 1 : view.key_len, view.key_len < 0 ? "-" : (const char *)view.key,
				      view.value_len < 0 ? 1 : view.value_len,
				      view.value_len < 0 ? "-" : (const char *)view.value);
	elog_batch_reader_release(&r);
	return text;
}

/* Scan every batch of l from 0 into m (which holds everything); end offset in *end. */
static int scan_all(const struct log *l, struct elog_compact_map *m, int64_t *end, struct elog_err *err)
{
	struct elog_compact_scan s;
	int rc = 0;

	elog_compact_scan_init(&s);
	for (size_t i = 0; i < l->count && rc == 0; i++)
		rc = elog_compact_scan_batch(&s, m, l->batch[i], l->len[i], err);
	*end = s.end_offset;
	elog_compact_scan_release(&s);
	return rc;
}

static uint8_t out[1 << 16];

/* Superseded records go, latest ones stay, null keys stay, offsets and timestamps are kept. */
static void test_filter_rules(void)
{
	const struct small_rec first[] = {
		{"a", "a0", T0}, {"b", "b0", T0 + 5}, {NULL, "n0", T0 - 3}, {"a", "a1", T0 + 1}, {"c", "c0", T0 + 2},
	};
	const struct small_rec second[] = {
		{"b", "b1", T0 + 10}, {NULL, NULL, T0 + 11}, {"c", NULL, T0 + 12},
	};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct log l = {0};
	struct elog_err err;
	size_t out_len;
	int64_t end;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	for (size_t c = 0; c < 3; c++) {
		struct elog_compact_pass pass = {&m, 0, T0 + 10, 1000};
		struct elog_batch_header h;
		log_free(&l);
		elog_compact_map_reset(&m);
		T_ASSERT(small_batch(&l, (enum elog_compression)c, 10, -1, 0, first, ARRAY_SIZE(first)) == 0);
		T_ASSERT(small_batch(&l, (enum elog_compression)c, 15, -1, 0, second, ARRAY_SIZE(second)) == 0);
		T_OK(scan_all(&l, &m, &end, &err), &err);
		T_EQ_INT(end, 18);
		pass.end_offset = end;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		T_EQ_INT(f.records_kept, 2);
		T_EQ_INT(f.records_removed, 3);
		T_CHECK(!strcmp(describe(out, out_len), "12:-=n0 13:a=a1"));
		h = header_of(out, out_len);
		T_EQ_INT(h.base_offset, 10);
		T_EQ_INT(h.last_offset_delta, 4);
		T_EQ_INT(h.first_timestamp, T0);
		T_EQ_INT(h.max_timestamp, T0 + 5);     /* its record (b0) is gone; the header keeps it */
		T_EQ_INT(h.leader_term, 3);
		T_EQ_INT(h.attributes, header_of(l.batch[0], l.len[0]).attributes);
		/* the tombstone of c is the latest, within its retention: it stays */
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[1], l.len[1], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
		T_EQ_INT(out_len, 0);
		T_EQ_INT(f.records_kept, 3);
		/* a pass that ends at 13: records from 13 on are kept whatever the map says (c0 at 14 too) */
		pass.end_offset = 13;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		T_CHECK(!strcmp(describe(out, out_len), "12:-=n0 13:a=a1 14:c=c0"));
		pass.end_offset = 10;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
	}
	log_free(&l);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* A map that says nothing about a record (its key's offset is older) never removes it. */
static void test_filter_only_what_the_map_proves(void)
{
	const struct small_rec recs[] = {{"a", "1", T0}, {"b", "1", T0}, {"b", NULL, T0}};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct log l = {0};
	struct elog_err err;
	size_t out_len;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 10, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_EQ_INT(elog_compact_map_put(&m, U8("a"), 1, 5), 0);     /* a map of another range */
	T_EQ_INT(elog_compact_map_put(&m, U8("b"), 1, 12), 0);
	{
		struct elog_compact_pass pass = {&m, 20, INT64_MAX, 0};
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		/* a stays; b at 11 is superseded; b's tombstone at 12 is the latest and due */
		T_CHECK(!strcmp(describe(out, out_len), "10:a=1"));
	}
	log_free(&l);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* A latest tombstone goes once its batch's max timestamp is more than the retention before now. */
static void test_filter_tombstone_retention(void)
{
	const struct small_rec recs[] = {{"k", NULL, T0}, {"j", "v", T0 - 50}};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct log l = {0};
	struct elog_err err;
	size_t out_len;
	int64_t end;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_LZ4, 0, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_OK(scan_all(&l, &m, &end, &err), &err);
	{
		struct elog_compact_pass pass = {&m, end, T0 + 1000, 1000};
		/* exactly the retention old: kept */
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
		/* one ms more: removed; the live record of j stays */
		pass.now_ms = T0 + 1001;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		T_CHECK(!strcmp(describe(out, out_len), "1:j=v"));
		T_EQ_INT(header_of(out, out_len).attributes, header_of(l.batch[0], l.len[0]).attributes);
		/* retention 0: gone as soon as now passes the batch */
		pass.delete_retention_ms = 0;
		pass.now_ms = T0;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
		pass.now_ms = T0 + 1;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		/* the extremes of the clock do not overflow */
		pass.delete_retention_ms = INT64_MAX;
		pass.now_ms = INT64_MAX;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
		pass.now_ms = INT64_MIN;
		pass.delete_retention_ms = 0;
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_UNCHANGED);
	}
	log_free(&l);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/*
 * A batch that loses every record is dropped, unless it is the newest of
 * an idempotent producer: then it stays empty, valid under GAPS only, with
 * its header; compacting it again leaves it alone.
 */
static void test_filter_empty_and_dropped(void)
{
	const struct small_rec old[] = {{"x", "1", T0}, {"y", "1", T0}};
	const struct small_rec newer[] = {{"x", "2", T0 + 1}, {"y", "2", T0 + 1}};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct elog_batch_validator v;
	struct log l = {0};
	struct elog_err err;
	size_t out_len;
	int64_t end;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	elog_batch_validator_init(&v);
	for (size_t c = 0; c < 3; c++) {
		struct elog_batch_header h, was;
		struct elog_compact_pass pass;
		log_free(&l);
		elog_compact_map_reset(&m);
		T_ASSERT(small_batch(&l, (enum elog_compression)c, 0, 77, 0, old, ARRAY_SIZE(old)) == 0);
		T_ASSERT(small_batch(&l, (enum elog_compression)c, 2, -1, 0, old, ARRAY_SIZE(old)) == 0);
		T_ASSERT(small_batch(&l, (enum elog_compression)c, 4, -1, 0, newer, ARRAY_SIZE(newer)) == 0);
		T_OK(scan_all(&l, &m, &end, &err), &err);
		pass = (struct elog_compact_pass){&m, end, T0, 0};
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_DROPPED);
		T_EQ_INT(f.records_removed, 2);
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[1], l.len[1], 1, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_DROPPED);  /* not idempotent: "newest" means nothing */
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 1, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
		T_EQ_INT(out_len, ELOG_BATCH_HEADER_SIZE);
		was = header_of(l.batch[0], l.len[0]);
		T_OK(elog_batch_check_as(out, out_len, ELOG_BATCH_OFFSETS_GAPS, &h, &err), &err);
		T_EQ_INT(h.record_count, 0);
		T_EQ_INT(h.attributes, 0);
		T_EQ_INT(h.base_offset, 0);
		T_EQ_INT(h.last_offset_delta, 1);
		T_EQ_INT(h.producer_id, 77);
		T_EQ_INT(h.producer_epoch, 2);
		T_EQ_INT(h.base_sequence, 40);
		T_EQ_INT(h.leader_term, was.leader_term);
		T_EQ_INT(h.first_timestamp, was.first_timestamp);
		T_EQ_INT(h.max_timestamp, was.max_timestamp);
		T_OK(elog_batch_validate(&v, out, out_len, &gaps, &err), &err);
		T_CHECK(elog_batch_validate(&v, out, out_len, NULL, &err) == -1);
		T_CHECK(strstr(err.msg, "batch record count 0, expected at least 1") != NULL);
		T_CHECK(elog_batch_check(out, out_len, NULL, NULL) == -1);
		T_CHECK(!strcmp(describe(out, out_len), ""));
		/* the empty batch again: scanned (nothing) and left as it is */
		{
			uint8_t empty[ELOG_BATCH_HEADER_SIZE];
			memcpy(empty, out, sizeof(empty));
			T_EQ_INT(elog_compact_filter_batch(&f, &pass, empty, sizeof(empty), 1, out, sizeof(out), &out_len, &err),
				 ELOG_COMPACT_UNCHANGED);
			T_EQ_INT(elog_compact_filter_batch(&f, &pass, empty, sizeof(empty), 0, out, sizeof(out), &out_len, &err),
				 ELOG_COMPACT_UNCHANGED);
			elog_compact_map_reset(&m);
			T_OK(scan_all(&(struct log){(uint8_t *[]){empty}, (size_t[]){sizeof(empty)}, 1, 1}, &m, &end, &err), &err);
			T_EQ_INT(end, 2);
			T_EQ_INT(m.used, 0);
		}
	}
	log_free(&l);
	elog_batch_validator_release(&v);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* Control batches are never compacted, and their keys do not supersede anything. */
static void test_control_batches(void)
{
	const struct small_rec data[] = {{"elog.purge", "data", T0}, {"k", "1", T0}};
	const struct small_rec marker[] = {{"elog.purge", "x", T0 + 1}, {"k", NULL, T0 + 1}};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct log l = {0};
	struct elog_err err;
	size_t out_len;
	int64_t end, offset;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 0, -1, 0, data, ARRAY_SIZE(data)) == 0);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 2, -1, ELOG_BATCH_ATTR_CONTROL, marker, ARRAY_SIZE(marker)) == 0);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 4, -1, ELOG_BATCH_ATTR_CONTROL, marker, ARRAY_SIZE(marker)) == 0);
	T_OK(scan_all(&l, &m, &end, &err), &err);
	T_EQ_INT(end, 6);
	T_EQ_INT(m.used, 2);
	T_EQ_INT(elog_compact_map_get(&m, U8("k"), 1, &offset), 1);
	T_EQ_INT(offset, 1);
	{
		struct elog_compact_pass pass = {&m, end, INT64_MAX, 0};
		for (size_t i = 0; i < l.count; i++)
			T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[i], l.len[i], 0, out, sizeof(out), &out_len, &err),
				 ELOG_COMPACT_UNCHANGED);
	}
	log_free(&l);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* Kept records are the original bytes: the compacted records area is the survivors' bytes back to back. */
static void test_filter_copies_bytes(void)
{
	static struct elog_record_view view;
	const struct small_rec recs[] = {
		{"a", "first", T0 + 100}, {"b", "x", T0 - 100000}, {"a", "second", INT64_MIN}, {"c", "", T0 + 7},
	};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct elog_batch_reader r;
	struct log l = {0};
	struct elog_err err;
	uint8_t expect[512];
	const uint8_t *at;
	size_t expect_len = 0, out_len;
	int64_t end;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	elog_batch_reader_init(&r);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 1000, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_OK(scan_all(&l, &m, &end, &err), &err);
	T_OK(elog_batch_reader_open(&r, l.batch[0], l.len[0], &err), &err);
	at = l.batch[0] + ELOG_BATCH_HEADER_SIZE;
	while (elog_batch_reader_next(&r, &view, &err) == 1) {
		/* the reader hands out the records area record after record */
		T_CHECK(view.encoded == at);
		at += view.encoded_len;
		if (view.offset != 1000) {
			memcpy(expect + expect_len, view.encoded, view.encoded_len);
			expect_len += view.encoded_len;
		}
	}
	T_CHECK(at == l.batch[0] + l.len[0]);
	{
		struct elog_compact_pass pass = {&m, end, T0, 0};
		T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err),
			 ELOG_COMPACT_REWRITTEN);
	}
	T_EQ_INT(out_len, ELOG_BATCH_HEADER_SIZE + expect_len);
	T_CHECK(!memcmp(out + ELOG_BATCH_HEADER_SIZE, expect, expect_len));
	T_CHECK(!memcmp(out + 16, l.batch[0] + 16, 44));       /* magic .. base_sequence */
	T_CHECK(!memcmp(out, l.batch[0], 8));                  /* base_offset */
	T_CHECK(!strcmp(describe(out, out_len), "1001:b=x 1002:a=second 1003:c="));
	elog_batch_reader_release(&r);
	log_free(&l);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* The scan: log order enforced, start offset honoured, where the map fills, malformed batches refused. */
static void test_scan(void)
{
	const struct small_rec recs[] = {{"a", "1", T0}, {"b", "1", T0}, {NULL, "1", T0}, {"c", "1", T0}};
	struct elog_compact_map m;
	struct elog_compact_scan s;
	struct elog_batch_validator v;
	struct log l = {0};
	struct elog_err err, verr;
	int64_t offset;
	uint8_t *bad;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_scan_init(&s);
	elog_batch_validator_init(&v);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_ZLIB, 0, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 4, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_LZ4, 20, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	/* from offset 5: the first batch and the a of the second are skipped */
	elog_compact_scan_start(&s, 5);
	T_EQ_INT(s.end_offset, 5);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), 0);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[1], l.len[1], &err), 0);
	T_EQ_INT(s.end_offset, 8);
	T_EQ_INT(s.records_put, 2);
	T_EQ_INT(elog_compact_map_get(&m, U8("a"), 1, &offset), 0);
	T_EQ_INT(elog_compact_map_get(&m, U8("c"), 1, &offset), 1);
	T_EQ_INT(offset, 7);
	/* a batch before the one fed last */
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	T_CHECK(strstr(err.msg, "compaction scan: batch at offset 0 comes before offset 8") != NULL);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[1], l.len[1], &err), -1);
	/* a gap between batches (a batch compaction dropped) is fine */
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[2], l.len[2], &err), 0);
	T_EQ_INT(s.end_offset, 24);
	/* malformed: refused with the validator's own message, nothing put */
	bad = malloc(l.len[2]);
	T_ASSERT(bad);
	memcpy(bad, l.batch[2], l.len[2]);
	bad[l.len[2] - 1] ^= 1;
	elog_compact_map_reset(&m);
	elog_compact_scan_start(&s, 0);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, bad, l.len[2], &err), -1);
	T_CHECK(elog_batch_validate(&v, bad, l.len[2], &gaps, &verr) == -1);
	T_CHECK(err.code == verr.code && !strcmp(err.msg, verr.msg));
	T_CHECK(strstr(err.msg, "crc mismatch") != NULL);
	T_EQ_INT(m.used, 0);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, bad, ELOG_BATCH_HEADER_SIZE - 1, &err), -1);
	T_CHECK(strstr(err.msg, "batch header truncated") != NULL);
	free(bad);
	elog_compact_map_release(&m);
	/* where a map of 12 keys fills: the 13th key, mid-batch */
	T_OK(elog_compact_map_init(&m, ELOG_COMPACT_MAP_SLOTS_MIN * ELOG_COMPACT_MAP_SLOT_SIZE, &err), &err);
	{
		struct elog_batch_builder b;
		uint8_t key[32];
		log_free(&l);
		elog_batch_builder_init(&b, ELOG_COMPRESS_LZ4, 0);
		for (uint32_t i = 0; i < 30; i++) {
			struct elog_record r = {.timestamp_ms = T0, .key = key, .key_len = (int32_t)key_of(i / 2 * (i % 2), key),
						.value_len = -1};
			T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		}
		T_OK(log_append(&l, &b, 100, 1, &err), &err);
		elog_batch_builder_release(&b);
	}
	/* keys k0 k0 k0 k1 k0 k2 k0 k3 ...: k11 at offset 123, k12 at 125 does not fit */
	elog_compact_scan_start(&s, 0);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), ELOG_COMPACT_MAP_FULL);
	T_EQ_INT(s.full, 1);
	T_EQ_INT(s.end_offset, 125);
	T_EQ_INT(m.used, 12);
	T_EQ_INT(elog_compact_map_get(&m, U8("k0"), 2, &offset), 1);
	T_EQ_INT(offset, 124);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), ELOG_COMPACT_MAP_FULL);
	/* a pass over a map not reset would take nothing, again and again */
	elog_compact_scan_start(&s, 125);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), -1);
	T_CHECK(err.code == ELOG_E_INVAL && strstr(err.msg, "the map is full before the pass from offset 125 takes a record"));
	/* the next pass starts there and takes the rest */
	elog_compact_map_reset(&m);
	elog_compact_scan_start(&s, 125);
	T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[0], l.len[0], &err), 0);
	T_EQ_INT(s.end_offset, 130);
	T_EQ_INT(m.used, 4);            /* k12, k0, k13, k14 */
	T_EQ_INT(elog_compact_map_get(&m, U8("k0"), 2, &offset), 1);
	T_EQ_INT(offset, 128);
	log_free(&l);
	elog_batch_validator_release(&v);
	elog_compact_scan_release(&s);
	elog_compact_map_release(&m);
}

/* Every limit is an error: the pass, the output buffer, malformed input. */
static void test_filter_errors(void)
{
	const struct small_rec recs[] = {{"a", "1", T0}, {"a", "2", T0}};
	struct elog_compact_map m;
	struct elog_compact_filter f;
	struct elog_batch_validator v;
	struct log l = {0};
	struct elog_err err, verr;
	struct elog_compact_pass pass;
	size_t out_len, bound;
	int64_t end;
	uint8_t *bad;

	T_OK(elog_compact_map_init(&m, 4096, &err), &err);
	elog_compact_filter_init(&f);
	elog_batch_validator_init(&v);
	T_ASSERT(small_batch(&l, ELOG_COMPRESS_NONE, 0, -1, 0, recs, ARRAY_SIZE(recs)) == 0);
	T_OK(scan_all(&l, &m, &end, &err), &err);
	pass = (struct elog_compact_pass){NULL, end, T0, 0};
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err), -1);
	T_CHECK(err.code == ELOG_E_INVAL && !strcmp(err.msg, "compaction pass: no map"));
	pass.map = &m;
	pass.end_offset = -1;
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err), -1);
	T_CHECK(err.code == ELOG_E_INVAL && !strcmp(err.msg, "compaction pass: end offset is negative"));
	pass.end_offset = end;
	pass.delete_retention_ms = -1;
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, sizeof(out), &out_len, &err), -1);
	T_CHECK(err.code == ELOG_E_INVAL && !strcmp(err.msg, "compaction pass: delete retention is negative"));
	pass.delete_retention_ms = 0;
	/* the bound is enough, the result's size is enough, one byte less is not */
	bound = elog_compact_filter_bound(l.batch[0], l.len[0]);
	T_EQ_INT(bound, l.len[0]);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, bound, &out_len, &err),
		 ELOG_COMPACT_REWRITTEN);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, out_len, &out_len, &err),
		 ELOG_COMPACT_REWRITTEN);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, out_len - 1, &out_len, &err), -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_CHECK(strstr(err.msg, "compacted batch at offset 0: batch of 73 bytes does not fit a buffer of 72") != NULL);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, 10, &out_len, &err), -1);
	T_CHECK(strstr(err.msg, "cannot hold a batch header") != NULL);
	/* compressed: too small a buffer for what lz4 makes */
	log_free(&l);
	elog_compact_map_reset(&m);
	{
		static char big[3000];
		struct small_rec r2[] = {{"a", big, T0}, {"a", big, T0}};
		memset(big, 'q', sizeof(big) - 1);
		T_ASSERT(small_batch(&l, ELOG_COMPRESS_LZ4, 0, -1, 0, r2, ARRAY_SIZE(r2)) == 0);
	}
	T_OK(scan_all(&l, &m, &end, &err), &err);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, ELOG_BATCH_HEADER_SIZE + 8, &out_len, &err), -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_CHECK(strstr(err.msg, "lz4 batch of") != NULL);
	bound = elog_compact_filter_bound(l.batch[0], l.len[0]);
	T_CHECK(bound >= ELOG_BATCH_HEADER_SIZE + 4 + 3000);
	T_EQ_INT(elog_compact_filter_batch(&f, &pass, l.batch[0], l.len[0], 0, out, bound, &out_len, &err),
		 ELOG_COMPACT_REWRITTEN);
	/* every single-byte change of a batch is refused with the validator's message, or makes a valid batch */
	bad = malloc(l.len[0]);
	T_ASSERT(bad);
	for (size_t i = 0; i < l.len[0]; i++) {
		int rc;
		memcpy(bad, l.batch[0], l.len[0]);
		bad[i] ^= 0x40;
		rc = elog_compact_filter_batch(&f, &pass, bad, l.len[0], 0, out, sizeof(out), &out_len, &err);
		if (elog_batch_validate(&v, bad, l.len[0], &gaps, &verr) < 0) {
			T_EQ_INT(rc, -1);
			T_CHECK(err.code == verr.code && !strcmp(err.msg, verr.msg));
		} else {
			T_CHECK(rc >= 0);   /* base_offset is outside the crc */
		}
	}
	free(bad);
	log_free(&l);
	elog_batch_validator_release(&v);
	elog_compact_filter_release(&f);
	elog_compact_map_release(&m);
}

/* ------------------------------------------------------------ the property test */

/*
 * For seeded random logs over a small and a large key space: compact with
 * a map big enough for every key, check the result against the model,
 * compact it again (nothing changes), and compact the original with a
 * map far too small: the passes give byte for byte the same log.
 */
static void property(uint32_t seed, uint32_t key_space, size_t batches, size_t small_map_bytes)
{
	struct log original = {0}, once = {0}, again = {0}, passes = {0};
	struct model m = {0};
	struct run_stats stats;
	struct elog_err err;
	int64_t retention_ms = 20000;
	int64_t now_ms = T0 + (int64_t)batches * 1000 / 2 + retention_ms;   /* the first half's tombstones are due */
	int *survives = NULL;

	T_ASSERT(make_log(seed, key_space, batches, &original, &m) == 0);
	T_ASSERT((survives = model_survivors(&m, key_space, now_ms, retention_ms)) != NULL);
	for (size_t i = 0; i < original.count; i++) {
		T_ASSERT(log_add(&once, original.batch[i], original.len[i]) == 0);
		T_ASSERT(log_add(&passes, original.batch[i], original.len[i]) == 0);
	}
	T_OK(compact_log(&once, 1 << 20, now_ms, retention_ms, &stats, &err), &err);
	T_EQ_INT(stats.passes, 1);
	T_CHECK(stats.rewritten > 0 && stats.unchanged > 0);
	T_ASSERT(log_matches(&once, &original, &m, survives) == 0);
	/* idempotent: a compacted log compacts to itself */
	for (size_t i = 0; i < once.count; i++)
		T_ASSERT(log_add(&again, once.batch[i], once.len[i]) == 0);
	T_OK(compact_log(&again, 1 << 20, now_ms, retention_ms, &stats, &err), &err);
	T_EQ_INT(stats.rewritten + stats.dropped, 0);
	T_CHECK(log_equal(&again, &once));
	/* a map too small: several passes, the same log */
	T_OK(compact_log(&passes, small_map_bytes, now_ms, retention_ms, &stats, &err), &err);
	T_CHECK(stats.passes > 1);
	if (!log_equal(&passes, &once)) {
		T_CHECK(log_matches(&passes, &original, &m, survives) == 0);
		T_CHECK(!"passes and one map give the same log");
	}
	fprintf(stderr, "# seed %u, %u keys: %zu records in %zu batches -> %zu batches; %d passes with a %zu-byte map\n",
		seed, key_space, m.nrec, original.count, once.count, stats.passes, small_map_bytes);
	free(survives);
	log_free(&original);
	log_free(&once);
	log_free(&again);
	log_free(&passes);
	model_free(&m);
}

static void test_property_small_key_space(void)
{
	empties_seen = 0;
	for (uint32_t seed = 1; seed <= 8; seed++)
		property(seed * 2654435761u, 20, 120, ELOG_COMPACT_MAP_SLOTS_MIN * ELOG_COMPACT_MAP_SLOT_SIZE);
	/* the idempotent producers' newest batches, emptied and kept, were met and checked */
	T_CHECK(empties_seen > 0);
}

static void test_property_large_key_space(void)
{
	for (uint32_t seed = 1; seed <= 4; seed++)
		property(seed * 40503u + 7, 2000, 150, 512 * ELOG_COMPACT_MAP_SLOT_SIZE);
}

/* ------------------------------------------------------------ throughput */

enum { BENCH_RECORDS = 200000, BENCH_KEYS = 50000, BENCH_RECORD_BYTES = 100, BENCH_BATCH_BYTES = 16 << 10 };

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 100-byte records (16-byte key, 84-byte value) over 50,000 keys, 16 KiB batches: scan, then filter, timed. */
static void throughput(enum elog_compression c)
{
	struct log l = {0};
	struct elog_batch_builder b;
	struct elog_compact_map m;
	struct elog_compact_scan s;
	struct elog_compact_filter f;
	struct elog_compact_pass pass;
	struct elog_err err;
	struct timespec t0;
	uint8_t key[16], value[BENCH_RECORD_BYTES - 16];
	uint32_t seed = 12345;
	int64_t base = 0;
	size_t stored = 0, written = 0, out_len;
	double scan_s, filter_s;
	uint64_t kept = 0;

	elog_batch_builder_init(&b, c, BENCH_BATCH_BYTES);
	for (uint32_t i = 0; i < BENCH_RECORDS; i++) {
		struct elog_record r = {.timestamp_ms = T0 + i, .key = key, .key_len = sizeof(key),
					.value = value, .value_len = sizeof(value)};
		snprintf((char *)key, sizeof(key), "user-%010u", rng_next(&seed) % BENCH_KEYS);
		value_bytes(i, sizeof(value), value);
		if (elog_batch_builder_add(&b, &r, &err) < 0) {
			uint32_t n = elog_batch_builder_count(&b);
			T_EQ_INT(err.code, ELOG_E_LIMIT);
			T_OK(log_append(&l, &b, base, 1, &err), &err);
			base += n;
			T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		}
	}
	T_OK(log_append(&l, &b, base, 1, &err), &err);
	elog_batch_builder_release(&b);
	for (size_t i = 0; i < l.count; i++)
		stored += l.len[i];

	T_OK(elog_compact_map_init(&m, (size_t)BENCH_KEYS * 2 * ELOG_COMPACT_MAP_BYTES_PER_KEY, &err), &err);
	elog_compact_scan_init(&s);
	elog_compact_filter_init(&f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < l.count; i++)
		T_EQ_INT(elog_compact_scan_batch(&s, &m, l.batch[i], l.len[i], &err), 0);
	scan_s = seconds_since(&t0);
	pass = (struct elog_compact_pass){&m, s.end_offset, T0, 0};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < l.count; i++) {
		int rc = elog_compact_filter_batch(&f, &pass, l.batch[i], l.len[i], 0, out, sizeof(out), &out_len, &err);
		T_ASSERT(rc >= 0);
		written += rc == ELOG_COMPACT_REWRITTEN ? out_len : rc == ELOG_COMPACT_UNCHANGED ? l.len[i] : 0;
		kept += f.records_kept;
	}
	filter_s = seconds_since(&t0);
	T_EQ_INT(kept, m.used);
	/* MB/s of records: the 100 bytes of key and value each; "stored": the batches as read. */
	fprintf(stderr, "# %s: %d records, %.1f MB stored -> %.1f MB; scan %.0f MB/s of records; filter %.0f MB/s"
		" of records (%.0f MB/s stored, %.2f M records/s)\n", elog_compression_name(c), BENCH_RECORDS,
		stored / 1e6, written / 1e6, BENCH_RECORDS * (double)BENCH_RECORD_BYTES / 1e6 / scan_s,
		BENCH_RECORDS * (double)BENCH_RECORD_BYTES / 1e6 / filter_s, stored / 1e6 / filter_s,
		BENCH_RECORDS / 1e6 / filter_s);
	elog_compact_filter_release(&f);
	elog_compact_scan_release(&s);
	elog_compact_map_release(&m);
	log_free(&l);
}

static void test_filter_throughput(void)
{
	throughput(ELOG_COMPRESS_NONE);
	throughput(ELOG_COMPRESS_LZ4);
	throughput(ELOG_COMPRESS_ZLIB);
}

int main(void)
{
	T_RUN(test_map_full_insert_lookup);
	T_RUN(test_map_many_keys);
	T_RUN(test_filter_rules);
	T_RUN(test_filter_only_what_the_map_proves);
	T_RUN(test_filter_tombstone_retention);
	T_RUN(test_filter_empty_and_dropped);
	T_RUN(test_control_batches);
	T_RUN(test_filter_copies_bytes);
	T_RUN(test_scan);
	T_RUN(test_filter_errors);
	T_RUN(test_property_small_key_space);
	T_RUN(test_property_large_key_space);
	T_RUN(test_filter_throughput);
	return t_finish();
}
