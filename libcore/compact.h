/*
 * compact — the pure layers of log compaction (cleanup.policy=compact,
 * issue 8): an offset map from key to latest offset, a scan that fills it
 * from stored batches, and a filter that rewrites one stored batch without
 * the records the map shows superseded. No files, no threads, no clock:
 * the segment-level driver (choosing segments, writing and swapping
 * segment files, running off the event loop) sits on top and owns all of
 * that.
 *
 * What survives. The filter keeps a record when
 *   - its offset is at or past the pass's end (the map knows nothing of it), or
 *   - its key is null (a record without a key is never compacted), or
 *   - its key is not in the map (nothing in this pass's range supersedes it), or
 *   - the map's offset for its key is its own: it is the latest;
 * except a latest record whose value is null (a tombstone), which is
 * removed once its batch's max_timestamp is more than delete_retention_ms
 * before now. Any other record is removed: a later one of the same key
 * exists. A tombstone is kept delete_retention_ms after the newest record
 * of its batch, so that consumers behind by less than that see the delete;
 * the clock is the record timestamps (producer's or broker's, whichever
 * the topic uses), the only time a batch carries.
 *
 * What a compacted batch is (docs/format.md, "Compaction"): the batch with
 * records left out. base_offset, last_offset_delta, leader_term, the
 * producer fields, attributes (codec and control bit), first_timestamp and
 * max_timestamp stay as they were; the kept records are copied byte for
 * byte (their offset and timestamp deltas are against fields that did not
 * change), recompressed with the batch's own codec, and the CRC is
 * computed anew. The result follows the GAPS rules of batch.h, and the
 * filter runs the GAPS validator on it before handing it out. A batch
 * whose records were all removed is dropped, unless the caller says it is
 * the newest batch of its idempotent producer (producer_id >= 0): that one
 * stays as an empty batch (record_count 0, no records, compression none),
 * because the broker rebuilds producer state from batch headers
 * (pstate.h) and would otherwise forget the producer's last sequence.
 * Control batches (broker markers) are never compacted: the scan leaves
 * their records out of the map and the filter keeps them whole.
 *
 * Keys. The map holds a 16-byte BLAKE2b hash of each key
 * (crypto_generichash, 16-byte output), never the key. Two keys with the
 * same hash would make the older key's latest record look superseded and
 * delete it, a live record lost; with 128-bit hashes the chance is about
 * n^2 / 2^129 for n keys, below 10^-20 for a billion keys, astronomically
 * unlikely. The hash is unkeyed, so it is the same in every pass and on
 * every broker; finding a collision on purpose takes about 2^64 hash
 * computations, and would only let a producer delete a record of a
 * partition it can already write to.
 *
 * Memory. The map is one array of 24-byte slots (hash and offset) sized by
 * the caller in bytes, open addressing with linear probing. It takes new
 * keys until three quarters of the slots are used (its load limit; probes
 * stay short: about 2.5 for a key present, 8.5 for one absent), then
 * elog_compact_map_put says ELOG_COMPACT_MAP_FULL: ELOG_COMPACT_MAP_BYTES_PER_KEY
 * bytes per key at the limit. When the keys do not fit, compaction runs in
 * passes, each covering the offsets the map could take.
 *
 * Calling sequence of a compaction, pass after pass:
 *
 *   elog_compact_map_init(map, bytes) -> elog_compact_scan_init(scan)
 *   -> elog_compact_filter_init(filter); start = the first offset to compact
 *   each pass:
 *     elog_compact_map_reset(map); elog_compact_scan_start(scan, start);
 *     elog_compact_scan_batch(scan, map, batch) for each batch in log order
 *       from the one holding start, until it returns ELOG_COMPACT_MAP_FULL
 *       or the range to compact ends;
 *     pass = {map, scan->end_offset, now_ms, delete_retention_ms};
 *     elog_compact_filter_batch(filter, &pass, batch, ...) for every batch
 *       from the log's start (earlier passes' output included);
 *     done unless scan->full; else start = scan->end_offset.
 *   -> _release each.
 * A pass always covers at least one keyed record (the map starts empty),
 * so passes make progress. Two passes give the same log as one map large
 * enough for every key (tests/unit/test_compact.c checks it), and
 * compacting a compacted log with the same now changes nothing.
 */
#ifndef ELOG_COMPACT_H
#define ELOG_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

#define ELOG_COMPACT_HASH_SIZE 16
/* The smallest map: 16 slots, 12 keys. */
#define ELOG_COMPACT_MAP_SLOTS_MIN 16
#define ELOG_COMPACT_MAP_SLOT_SIZE 24
/* Bytes of map per key at the load limit (24-byte slots, 3/4 used). */
#define ELOG_COMPACT_MAP_BYTES_PER_KEY 32

/* What put and the scan say when the map is at its load limit. */
#define ELOG_COMPACT_MAP_FULL 1

/* ---------------------------------------------------------------- map */

struct elog_compact_slot;   /* compact.c */

struct elog_compact_map {
	struct elog_compact_slot *slots;
	size_t slot_count;
	size_t used;                /* keys held */
	size_t used_max;            /* the load limit: slot_count - slot_count / 4 */
};

/*
 * A map of bytes_max bytes at most (bytes_max / 24 slots, at least
 * ELOG_COMPACT_MAP_SLOTS_MIN of them, else ELOG_E_INVAL), empty.
 * ELOG_E_NOMEM when the slots cannot be allocated, ELOG_E_IO when
 * libsodium cannot start.
 */
int elog_compact_map_init(struct elog_compact_map *m, size_t bytes_max, struct elog_err *err);
/* Free the slots; the map can be _init'ed again. */
void elog_compact_map_release(struct elog_compact_map *m);
/* Forget every key, keep the slots: the next pass. */
void elog_compact_map_reset(struct elog_compact_map *m);

/*
 * Record that key[0, key_len) (not null: null keys are never compacted)
 * has a record at offset (>= 0). The map keeps the highest offset given
 * for a key. Returns 0, or ELOG_COMPACT_MAP_FULL, changing nothing, when
 * the key is new and the map holds used_max keys already; a key present is
 * always updated.
 */
int elog_compact_map_put(struct elog_compact_map *m, const uint8_t *key, size_t key_len, int64_t offset);

/* 1 and *offset when the key is in the map, else 0. */
int elog_compact_map_get(const struct elog_compact_map *m, const uint8_t *key, size_t key_len,
			 int64_t *offset);

/* ---------------------------------------------------------------- scan */

/*
 * The scan puts the offset of every keyed record of the batches it is fed
 * into the map, from start_offset on. Batches come in log order (each
 * base_offset past the previous batch's last offset, else ELOG_E_INVAL),
 * are validated under the GAPS rules (a bad one is refused with the
 * validator's message and puts nothing), and may be compressed, compacted
 * or empty. Records below start_offset (in the batch that holds it) are
 * skipped, and so are control batches.
 *
 * end_offset is the end of the pass: the offset of the first record the
 * map had no room for when full, else one past the last batch fed (and
 * start_offset before any). Every keyed record in [start_offset,
 * end_offset) is in the map; the filter keeps every record from
 * end_offset on.
 */
struct elog_compact_scan {
	struct elog_batch_reader reader;   /* GAPS rules */
	int64_t start_offset;
	int64_t end_offset;
	int full;                          /* the map filled at end_offset */
	int64_t next_offset;               /* past the last batch fed; -1 before any */
	uint64_t records_put;              /* in this pass */
	struct elog_record_view record;    /* scratch */
};

void elog_compact_scan_init(struct elog_compact_scan *s);
void elog_compact_scan_release(struct elog_compact_scan *s);
/* Begin a pass at start_offset (>= 0); the map should be empty (_reset). */
void elog_compact_scan_start(struct elog_compact_scan *s, int64_t start_offset);

/*
 * Put the batch's keyed records. Returns 0 when the whole batch went in
 * (feed the next), ELOG_COMPACT_MAP_FULL when the map filled (full and
 * end_offset set, past start_offset: the pass ends there; feeding more
 * returns it again), or -1; ELOG_E_INVAL when the map is full before the
 * pass took a record (it was not reset: the pass could never progress).
 */
int elog_compact_scan_batch(struct elog_compact_scan *s, struct elog_compact_map *m, const uint8_t *batch,
			    size_t len, struct elog_err *err);

/* ---------------------------------------------------------------- filter */

/* One pass, as the filter sees it. */
struct elog_compact_pass {
	const struct elog_compact_map *map;
	int64_t end_offset;                /* the scan's end_offset */
	int64_t now_ms;
	int64_t delete_retention_ms;       /* >= 0 */
};

/* What became of a batch. */
enum elog_compact_result {
	ELOG_COMPACT_UNCHANGED = 0,        /* nothing removed: keep the batch as it is */
	ELOG_COMPACT_REWRITTEN = 1,        /* out holds the compacted batch, to take its place */
	ELOG_COMPACT_DROPPED = 2,          /* every record removed: leave the batch out */
};

/*
 * The filter owns a reader (its validator decompresses the input, and
 * checks the output) and the buffer kept records gather in before they
 * are compressed, both reused and bounded by ELOG_BATCH_SIZE_MAX. One
 * filter per thread.
 */
struct elog_compact_filter {
	struct elog_batch_reader reader;   /* GAPS rules */
	uint8_t *kept;
	size_t kept_cap;
	uint32_t records_kept, records_removed;   /* of the last batch filtered */
	struct elog_record_view record;    /* scratch */
};

void elog_compact_filter_init(struct elog_compact_filter *f);
void elog_compact_filter_release(struct elog_compact_filter *f);

/*
 * Filter one stored batch by the rules at the top. newest_of_producer: the
 * caller's word that no later batch of the same producer_id is in the log
 * (ignored when producer_id < 0). Returns an elog_compact_result; for
 * ELOG_COMPACT_REWRITTEN the compacted batch is out[0, *out_len), valid
 * under the GAPS rules, never larger than ELOG_BATCH_SIZE_MAX. -1 for a
 * batch the GAPS validator refuses (its message), a pass that makes no
 * sense (ELOG_E_INVAL: no map, end_offset or delete_retention_ms
 * negative), out_cap too small (ELOG_E_LIMIT; elog_compact_filter_bound
 * is always enough) or a compressed result past the batch limit
 * (ELOG_E_LIMIT: keep the batch as it is), ELOG_E_NOMEM.
 */
int elog_compact_filter_batch(struct elog_compact_filter *f, const struct elog_compact_pass *pass,
			      const uint8_t *batch, size_t len, int newest_of_producer, uint8_t *out,
			      size_t out_cap, size_t *out_len, struct elog_err *err);

/*
 * Bytes of out enough for any result of filtering the batch at batch[0,
 * len): from its header and, compressed, its uncompressed length; at most
 * ELOG_BATCH_SIZE_MAX, which is always enough.
 */
size_t elog_compact_filter_bound(const uint8_t *batch, size_t len);

#endif
