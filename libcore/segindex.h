/*
 * segindex — a segment's sparse offset (.idx) and time (.tix) index held in
 * memory in their on-disk byte layout (see segment.h), private to segment.c
 * and partlog*.c.
 *
 * An index is either on the heap (the active segment: it grows as batches
 * are appended, and partlog writes it to its file at roll and close) or a
 * read-only mapping of its file (closed segments: immutable, so the page
 * cache holds them and a log of thousands of segments costs no private
 * memory).
 * Keeping the disk layout in memory means a rebuilt index is written out
 * byte for byte, and comparing a file with what it should be is a memcmp.
 *
 * When an entry is made (elog_segindex_note): for a batch at byte position
 * P > 0 of its segment, once at least `interval` log bytes were appended
 * since the previous entry (or the segment start). The same batch then gets
 * both an .idx and a .tix entry; the .tix timestamp is the max timestamp of
 * every batch before P. Recovery replays exactly this rule, so an index
 * rebuilt from the log equals the one written while appending.
 *
 * Lookups binary-search: elog_segindex_floor_offset finds the last entry at
 * or below a relative offset, elog_segindex_floor_time the last entry whose
 * prefix-max timestamp is below a target (nothing before that entry's batch
 * can hold a record at or after the target).
 */
#ifndef ELOG_SEGINDEX_H
#define ELOG_SEGINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "bytes.h"
#include "err.h"
#include "segment.h"

/* Entries a segment can need: one per batch at most, batches >= a header. */
#define ELOG_SEGINDEX_ENTRIES_MAX (ELOG_SEGMENT_BYTES_MAX / ELOG_BATCH_HEADER_SIZE + 2)

struct elog_segindex {
	uint8_t *bytes;
	size_t count;        /* entries */
	size_t cap_bytes;    /* heap capacity; 0 when mapped or empty */
	size_t map_len;      /* bytes mapped; 0 when on the heap */
	uint32_t entry_size; /* ELOG_INDEX_ENTRY_SIZE or ELOG_TIME_ENTRY_SIZE */
};

/* Both indexes of one segment plus what the entry rule needs to go on. */
struct elog_segindex_pair {
	struct elog_segindex idx, tix;
	uint64_t bytes_since_entry; /* log bytes since the last entry or the segment start */
	int64_t max_timestamp;      /* max over the batches seen; INT64_MIN when none */
};

void elog_segindex_init(struct elog_segindex *ix, uint32_t entry_size);
void elog_segindex_release(struct elog_segindex *ix);
void elog_segindex_pair_init(struct elog_segindex_pair *p);
void elog_segindex_pair_release(struct elog_segindex_pair *p);

static inline const uint8_t *elog_segindex_at(const struct elog_segindex *ix, size_t i)
{
	return ix->bytes + i * ix->entry_size;
}

/* Field accessors; for .tix the timestamp comes first. */
static inline uint32_t elog_segindex_rel(const struct elog_segindex *ix, size_t i)
{
	return elog_get32(elog_segindex_at(ix, i) + ix->entry_size - 8);
}

static inline uint32_t elog_segindex_pos(const struct elog_segindex *ix, size_t i)
{
	return elog_get32(elog_segindex_at(ix, i) + ix->entry_size - 4);
}

static inline int64_t elog_segindex_ts(const struct elog_segindex *ix, size_t i)
{
	return (int64_t)elog_get64(elog_segindex_at(ix, i));
}

/* Append one entry to a heap index (ts ignored for .idx). */
int elog_segindex_push(struct elog_segindex *ix, uint32_t rel_offset, uint32_t position,
		       int64_t timestamp, struct elog_err *err);
/* Keep the first `count` entries (copying a mapped index to the heap). */
int elog_segindex_keep(struct elog_segindex *ix, size_t count, struct elog_err *err);

/*
 * Account one batch at `position` of a segment based at seg_base, adding an
 * entry pair when the rule above says so; *added tells whether it did.
 */
int elog_segindex_note(struct elog_segindex_pair *p, uint32_t interval, int64_t seg_base,
		       const struct elog_batch_header *h, uint64_t position, int *added,
		       struct elog_err *err);

/* Last entry with rel_offset <= rel, timestamp < ts, or position < pos;
 * SIZE_MAX when none. */
size_t elog_segindex_floor_offset(const struct elog_segindex *ix, uint32_t rel);
size_t elog_segindex_floor_time(const struct elog_segindex *ix, int64_t ts);
size_t elog_segindex_floor_position(const struct elog_segindex *ix, uint64_t pos);

/*
 * Structural check of index bytes: whole entries, strictly increasing
 * rel_offset and position, non-decreasing .tix timestamps. With
 * log_size != UINT64_MAX also: positions below log_size and rel_offsets
 * below rel_end, except that a .tix must end with the closing entry
 * (rel_end, log_size). Messages read "entry N at byte M: why".
 */
int elog_segindex_validate(const uint8_t *bytes, size_t len, uint32_t entry_size,
			   uint64_t log_size, uint64_t rel_end, struct elog_err *err);

/* Read a whole index file into a heap buffer (bounded by the entry maximum). */
int elog_segindex_read_file(const char *path, uint32_t entry_size, uint8_t **bytes,
			    size_t *len, struct elog_err *err);

/* Map an index file read-only into ix (empty file: no mapping). */
int elog_segindex_map(struct elog_segindex *ix, int fd, size_t len, struct elog_err *err);

#endif
