/*
 * fuzz_compact — libFuzzer target for the scan and filter of compaction
 * (compact.h).
 *
 * Each input is tried as a batch twice: as it is, and with batch_length
 * set to the input's size less the last 5 bytes and the CRC recomputed,
 * so the fuzzer reaches the records. The last 5 bytes choose the pass:
 * the clock (now, in seconds from the batch's max_timestamp), the
 * tombstone retention, whether the batch is the newest of its producer,
 * and how far the pass reaches.
 *
 * Every time: the scan and the filter refuse exactly what the GAPS
 * validator refuses, with its message. When it accepts:
 *   - the scan puts every keyed record of a non-control batch (or fills
 *     the map, where the pass then ends);
 *   - the filter's verdict follows the rules: UNCHANGED when nothing was
 *     removed, DROPPED only when everything was and the batch is not the
 *     newest of an idempotent producer, REWRITTEN otherwise;
 *   - a rewritten batch is valid under GAPS, keeps the header fields, and
 *     holds exactly the records that survive by the rule, byte for byte
 *     and at their offsets, in order; filtering it again in the same pass
 *     removes nothing;
 *   - with a map that holds every key, compacting the result again from
 *     scratch changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "bytes.h"
#include "compact.h"
#include "crc32c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) do { if (!(cond)) { \
		fprintf(stderr, "fuzz_compact: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define PASS_BYTES 5

static struct elog_compact_map big_map, small_map;
static struct elog_compact_scan scan;
static struct elog_compact_filter filter, filter_again;
static struct elog_batch_validator validator;
static struct elog_batch_reader reader_in, reader_out;
static struct elog_record_view view_in, view_out;
static uint8_t *out, *out_again;
static size_t out_cap;

static const struct elog_batch_rules gaps = {.offsets = ELOG_BATCH_OFFSETS_GAPS};

static int same_bytes(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen)
{
	return alen == blen && (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

/* The rule of compact.h for one record of the input. */
static int survives(const struct elog_compact_pass *pass, const struct elog_record_view *r, int due)
{
	int64_t latest;

	if (r->offset >= pass->end_offset || r->key_len < 0 ||
	    !elog_compact_map_get(pass->map, r->key, (size_t)r->key_len, &latest))
		return 1;
	if (latest != r->offset)
		return latest < r->offset;
	return !(r->value_len < 0 && due);
}

/* Scan buf into m from offset 0; the pass's end offset, or -1 when refused (with err). */
static int64_t scan_into(struct elog_compact_map *m, const uint8_t *buf, size_t len, struct elog_err *err)
{
	int rc;

	elog_compact_map_reset(m);
	elog_compact_scan_start(&scan, 0);
	rc = elog_compact_scan_batch(&scan, m, buf, len, err);
	if (rc < 0)
		return -1;
	REQUIRE(rc == 0 || (rc == ELOG_COMPACT_MAP_FULL && scan.full && m->used == m->used_max));
	return scan.end_offset;
}

/* Filter buf in the pass and check the verdict and the result against the input. */
static void filter_checked(const struct elog_compact_pass *pass, const uint8_t *buf, size_t len, int newest)
{
	const struct elog_batch_header *h;
	struct elog_err err;
	size_t out_len = 0, again_len = 0, kept = 0, removed = 0;
	int rc, due, control, more;

	rc = elog_compact_filter_batch(&filter, pass, buf, len, newest, out, out_cap, &out_len, &err);
	REQUIRE(rc >= 0);
	REQUIRE(elog_batch_reader_open(&reader_in, buf, len, NULL) == 0);
	h = &reader_in.header;
	control = (h->attributes & ELOG_BATCH_ATTR_CONTROL) != 0;
	due = h->max_timestamp < pass->now_ms &&
	      (uint64_t)pass->now_ms - (uint64_t)h->max_timestamp > (uint64_t)pass->delete_retention_ms;
	if (rc == ELOG_COMPACT_REWRITTEN) {
		REQUIRE(elog_batch_validate(&validator, out, out_len, &gaps, NULL) == 0);
		REQUIRE(elog_batch_reader_open(&reader_out, out, out_len, NULL) == 0);
		REQUIRE(reader_out.header.base_offset == h->base_offset &&
			reader_out.header.last_offset_delta == h->last_offset_delta &&
			reader_out.header.leader_term == h->leader_term &&
			reader_out.header.producer_id == h->producer_id &&
			reader_out.header.producer_epoch == h->producer_epoch &&
			reader_out.header.base_sequence == h->base_sequence &&
			reader_out.header.first_timestamp == h->first_timestamp &&
			reader_out.header.max_timestamp == h->max_timestamp);
		REQUIRE(reader_out.header.attributes == h->attributes ||
			(reader_out.header.record_count == 0 &&
			 reader_out.header.attributes == (h->attributes & ELOG_BATCH_ATTR_CONTROL)));
	}
	more = rc == ELOG_COMPACT_REWRITTEN ? elog_batch_reader_next(&reader_out, &view_out, NULL) : 0;
	while (elog_batch_reader_next(&reader_in, &view_in, NULL) == 1) {
		if (control || survives(pass, &view_in, due)) {
			kept++;
			if (rc != ELOG_COMPACT_REWRITTEN)
				continue;
			REQUIRE(more == 1);
			REQUIRE(view_out.offset == view_in.offset && view_out.timestamp_ms == view_in.timestamp_ms &&
				same_bytes(view_out.encoded, view_out.encoded_len, view_in.encoded, view_in.encoded_len));
			more = elog_batch_reader_next(&reader_out, &view_out, NULL);
		} else {
			removed++;
		}
	}
	REQUIRE(more == 0);
	REQUIRE(filter.records_kept == kept && filter.records_removed == removed);
	if (control || removed == 0)
		REQUIRE(rc == ELOG_COMPACT_UNCHANGED);
	else if (kept == 0 && (h->producer_id < 0 || !newest))
		REQUIRE(rc == ELOG_COMPACT_DROPPED);
	else
		REQUIRE(rc == ELOG_COMPACT_REWRITTEN && reader_out.header.record_count == kept);
	/* the same pass over its own result removes nothing */
	if (rc == ELOG_COMPACT_REWRITTEN)
		REQUIRE(elog_compact_filter_batch(&filter_again, pass, out, out_len, newest, out_again, out_cap,
						  &again_len, NULL) == ELOG_COMPACT_UNCHANGED);
}

static void try_batch(const uint8_t *buf, size_t len, const uint8_t *knobs)
{
	struct elog_err verr, err;
	struct elog_compact_pass pass;
	size_t out_len;
	int64_t end;
	int valid = elog_batch_validate(&validator, buf, len, &gaps, &verr), newest = knobs[4] & 1;
	int64_t max_timestamp = valid == 0 ? validator.header.max_timestamp : 0;

	/* Refusals are the validator's, word for word. */
	end = scan_into(&big_map, buf, len, &err);
	REQUIRE((end < 0) == (valid < 0));
	if (valid < 0) {
		REQUIRE(err.code == verr.code && strcmp(err.msg, verr.msg) == 0);
		pass = (struct elog_compact_pass){&big_map, 0, 0, 0};
		REQUIRE(elog_compact_filter_batch(&filter, &pass, buf, len, newest, out, out_cap, &out_len, &err) == -1);
		REQUIRE(err.code == verr.code && strcmp(err.msg, verr.msg) == 0);
		return;
	}
	pass = (struct elog_compact_pass){
		.map = &big_map,
		.end_offset = end,
		/* now: from 128 s before the batch's newest record to 127 s after, wrapping */
		.now_ms = (int64_t)((uint64_t)max_timestamp + (uint64_t)(int64_t)(int8_t)knobs[0] * 1000),
		.delete_retention_ms = (int64_t)knobs[1] * 1000,
	};
	filter_checked(&pass, buf, len, newest);
	/* compacted from scratch again: nothing changes (this map holds every key) */
	if (!scan.full) {
		size_t first_len = 0, again_len = 0;
		int rc = elog_compact_filter_batch(&filter, &pass, buf, len, newest, out, out_cap, &first_len, NULL);
		if (rc == ELOG_COMPACT_REWRITTEN) {
			int64_t end_again = scan_into(&big_map, out, first_len, NULL);
			REQUIRE(end_again == end);
			REQUIRE(elog_compact_filter_batch(&filter_again, &pass, out, first_len, newest, out_again, out_cap,
							  &again_len, NULL) == ELOG_COMPACT_UNCHANGED);
		}
	}
	/* a map of 12 keys that fills; the pass may end anywhere, even before the batch */
	pass.map = &small_map;
	pass.end_offset = scan_into(&small_map, buf, len, NULL);
	REQUIRE(pass.end_offset >= 0);
	if (knobs[2] & 1)
		pass.end_offset = knobs[3] % 2 ? 0 : pass.end_offset / 2;
	filter_checked(&pass, buf, len, newest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t no_knobs[PASS_BYTES];
	uint8_t *copy;
	size_t len;

	try_batch(data, size, no_knobs);
	if (size < ELOG_BATCH_HEADER_SIZE + PASS_BYTES || size > ELOG_BATCH_SIZE_MAX)
		return 0;
	len = size - PASS_BYTES;
	copy = malloc(len);   /* exactly sized, so ASan sees any overread */
	if (!copy)
		return 0;
	memcpy(copy, data, len);
	elog_put32(copy + ELOG_BATCH_LENGTH_OFFSET, (uint32_t)(len - ELOG_BATCH_PREFIX_SIZE));
	elog_put32(copy + ELOG_BATCH_PREFIX_SIZE, elog_crc32c(0, copy + ELOG_BATCH_CRC_START, len - ELOG_BATCH_CRC_START));
	try_batch(copy, len, data + len);
	free(copy);
	return 0;
}

/* ---------------------------------------------------------------- seeds */

static void write_seed(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	static const uint8_t knobs[PASS_BYTES] = {10, 2, 0, 0, 1};
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(buf, 1, len, f);
	fwrite(knobs, 1, sizeof(knobs), f);
	fclose(f);
}

/* Batches with repeated keys, null keys and tombstones, one per codec, an idempotent producer's. */
static void write_seeds(const char *dir)
{
	/* Values long and alike enough that lz4 and zlib pay (else the builder stores them plain). */
	static const char *const keys[] = {"a", "b", NULL, "a", "c", "b", "c", ""};
	static const char *const values[] = {
		"1111111111111111111111111111111111111111", NULL, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		"2222222222222222222222222222222222222222", NULL, "3333333333333333333333333333333333333333",
		"4444444444444444444444444444444444444444", NULL,
	};
	const char *names[] = {"none", "lz4", "zlib"};
	struct elog_batch_builder b;
	const uint8_t *bytes;
	size_t len;

	for (int c = 0; c < 3; c++) {
		elog_batch_builder_init(&b, (enum elog_compression)c, 0);
		b.producer_id = c;
		b.producer_epoch = 0;
		b.base_sequence = 0;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			struct elog_record r = {
				.timestamp_ms = 1700000000000 + (int64_t)i,
				.key = (const uint8_t *)keys[i], .key_len = keys[i] ? (int32_t)strlen(keys[i]) : -1,
				.value = (const uint8_t *)values[i], .value_len = values[i] ? (int32_t)strlen(values[i]) : -1,
			};
			elog_batch_builder_add(&b, &r, NULL);
		}
		if (elog_batch_builder_finish(&b, &bytes, &len, NULL) == 0)
			write_seed(dir, names[c], bytes, len);
		elog_batch_builder_release(&b);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ELOG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (elog_compact_map_init(&big_map, 1 << 20, NULL) < 0 ||
	    elog_compact_map_init(&small_map, ELOG_COMPACT_MAP_SLOTS_MIN * ELOG_COMPACT_MAP_SLOT_SIZE, NULL) < 0)
		abort();
	elog_compact_scan_init(&scan);
	elog_compact_filter_init(&filter);
	elog_compact_filter_init(&filter_again);
	elog_batch_validator_init(&validator);
	elog_batch_reader_init(&reader_in);
	elog_batch_reader_init(&reader_out);
	reader_in.rules = gaps;
	reader_out.rules = gaps;
	out_cap = ELOG_BATCH_SIZE_MAX;
	out = malloc(out_cap);
	out_again = malloc(out_cap);
	if (!out || !out_again)
		abort();
	if (dir && *dir)
		write_seeds(dir);
	return 0;
}
