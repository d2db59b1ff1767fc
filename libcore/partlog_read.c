/*
 * partlog_read — finding batches: locate/read by offset, find_time by
 * timestamp, and the header walker they share with truncation and recovery.
 *
 * Lookups start at the index entry at or before the target and walk batch
 * headers from there, checking that each one continues the offsets of the
 * last: an index entry that does not point where it claims is caught here
 * rather than followed into the middle of a batch. Every header of a slice
 * is checked, so a slice never holds a batch under the wrong offset.
 *
 * Damaged extents (partlog_damage.c) are walked around: a walk that reaches
 * one's first byte at its first offset continues at its end, index entries
 * inside one are not used, a slice ends before one, and an offset inside
 * one is ELOG_E_DAMAGED. A walk that finds a bad header, or a read a bad
 * CRC, where no damage is known scans that segment whole once (recording
 * what it finds, rebuilding an index that pointed wrong) and tries again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partlog_int.h"

uint32_t elog_partlog_segment_find(const struct elog_partlog *log, int64_t offset)
{
	uint32_t lo = 0, hi = log->segment_count; /* last segment with base <= offset */

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (log->segments[mid].base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

/* ---------------------------------------------------------------- walker */

void elog_partlog_walker_init(struct elog_partlog_walker *w, struct elog_partlog *log,
			      const struct elog_partlog_segment *segment)
{
	/* A closed segment's file may be closed under a budget: a failure to
	 * open it shows as the first read's error (EBADF). */
	elog_partlog_segment_open(log, &log->segments[segment - log->segments], NULL);
	w->segment = segment;
	w->buf = log->scratch;
	w->buf_pos = 0;
	w->buf_len = 0;
	w->last_batch = 0;
}

/*
 * Bytes read for one header when batches are large (over WALK_LARGE_BATCH):
 * the rest of a window would be payload.
 */
#define WALK_SMALL_READ 256u
#define WALK_LARGE_BATCH (8u << 10)

static int walker_fill(struct elog_partlog_walker *w, uint64_t position, struct elog_err *err)
{
	size_t want = ELOG_PARTLOG_WALK_WINDOW, got = 0;

	if (position >= w->buf_pos && position + ELOG_BATCH_HEADER_SIZE <= w->buf_pos + w->buf_len)
		return 0;
	/*
	 * A window holds about window / B headers of B-byte batches, so it
	 * costs B bytes copied per header; a small read costs a system call,
	 * about what copying a few KiB costs. After a batch over
	 * WALK_LARGE_BATCH a small read is cheaper (a 64 KiB window per header
	 * of 34 KiB batches copied twice the log to send it once).
	 */
	if (w->last_batch > WALK_LARGE_BATCH)
		want = WALK_SMALL_READ;
	if (want > w->segment->size - position)
		want = (size_t)(w->segment->size - position);
	w->buf_pos = position;
	w->buf_len = 0;
	while (got < want) {
		ssize_t n = pread(w->segment->fd, w->buf + got, want - got, (off_t)(position + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char name[32];
			elog_segment_name(name, sizeof(name), w->segment->base_offset, "log");
			return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
					      "%s: cannot read byte %llu", name,
					      (unsigned long long)(position + got));
		}
		got += (size_t)n;
	}
	w->buf_len = got;
	return 0;
}

int elog_partlog_walker_header(struct elog_partlog_walker *w, uint64_t position,
			       int64_t expected_offset, struct elog_batch_header *h,
			       struct elog_err *err)
{
	const struct elog_partlog_segment *s = w->segment;
	char name[32];

	/* The segment's name only when something is wrong: this runs per batch. */
	if (position + ELOG_BATCH_HEADER_SIZE > s->size) {
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: no batch header before the end (%llu bytes)", name,
				    (unsigned long long)position, (unsigned long long)s->size);
	}
	if (walker_fill(w, position, err) < 0)
		return -1;
	if (elog_batch_header_decode_as(w->buf + (position - w->buf_pos), ELOG_BATCH_HEADER_SIZE,
					ELOG_BATCH_OFFSETS_GAPS, h, err) < 0) {
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		if (err)
			err->code = ELOG_E_CORRUPT; /* a newer magic without its CRC is damage too */
		return elog_err_prefix(err, "%s: byte %llu", name, (unsigned long long)position);
	}
	w->last_batch = elog_batch_total_size(h);
	if (position + elog_batch_total_size(h) > s->size) {
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: batch of %u bytes runs past the end (%llu bytes)",
				    name, (unsigned long long)position, elog_batch_total_size(h),
				    (unsigned long long)s->size);
	}
	if (h->base_offset != expected_offset) {
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: batch base offset %" PRId64 ", expected %" PRId64,
				    name, (unsigned long long)position, h->base_offset,
				    expected_offset);
	}
	return 0;
}

/*
 * Where to start walking segment s for offset: an index entry at or before
 * it (from ix; NULL: none), unless damage makes it untrusted, or the end of
 * an extent closer to it.
 */
void elog_partlog_walk_start(const struct elog_partlog_segment *s, const struct elog_segindex *ix,
			     size_t k, int64_t offset, uint64_t *position, int64_t *at)
{
	*position = 0;
	*at = s->base_offset;
	if (ix && k != SIZE_MAX && !elog_partlog_extent_covers(s, elog_segindex_pos(ix, k))) {
		*position = elog_segindex_pos(ix, k);
		*at = s->base_offset + elog_segindex_rel(ix, k);
	}
	for (uint32_t i = 0; i < s->damage_count; i++)
		if (s->damage[i].end_offset <= offset && s->damage[i].end_position > *position) {
			*position = s->damage[i].end_position;
			*at = s->damage[i].end_offset;
		}
}

int elog_partlog_walk_to_end(struct elog_partlog *log, uint32_t i, uint64_t end,
			     struct elog_batch_header *last, int64_t *max_timestamp,
			     int *found, struct elog_err *err)
{
	const struct elog_partlog_segment *s = &log->segments[i];
	size_t k = elog_segindex_floor_position(&s->ix.tix, end);
	struct elog_partlog_walker w;
	uint64_t position = 0;
	int64_t offset = s->base_offset;

	*found = 0;
	*max_timestamp = INT64_MIN;
	if (k != SIZE_MAX && !elog_partlog_extent_covers(s, elog_segindex_pos(&s->ix.tix, k))) {
		position = elog_segindex_pos(&s->ix.tix, k);
		offset += elog_segindex_rel(&s->ix.tix, k);
		*max_timestamp = elog_segindex_ts(&s->ix.tix, k);
	}
	elog_partlog_walker_init(&w, log, s);
	/* Each step moves position forward by a batch, or past an extent. */
	for (;;) {
		if (elog_partlog_extent_skip(s, &position, &offset))
			continue;
		if (position >= end)
			break;
		if (elog_partlog_walker_header(&w, position, offset, last, err) < 0)
			return -1;
		*found = 1;
		if (last->max_timestamp > *max_timestamp)
			*max_timestamp = last->max_timestamp;
		position += elog_batch_total_size(last);
		offset = elog_batch_last_offset(last) + 1;
	}
	if (position != end)
		return elog_err_set(err, ELOG_E_CORRUPT, "segment %" PRId64 ": byte %llu is not a batch boundary",
				    s->base_offset, (unsigned long long)end);
	return 0;
}

/* ---------------------------------------------------------------- locate, read */

/* Walk segment s from the best starting point to the batch holding offset. */
static int locate_first(struct elog_partlog_walker *w, int64_t offset, uint64_t *position,
			struct elog_batch_header *h, struct elog_err *err)
{
	const struct elog_partlog_segment *s = w->segment;
	size_t k = elog_segindex_floor_offset(&s->ix.idx, (uint32_t)(offset - s->base_offset));
	int64_t at;

	elog_partlog_walk_start(s, &s->ix.idx, k, offset, position, &at);
	/* Each step moves forward by a batch or an extent; the segment bounds it. */
	for (;;) {
		if (elog_partlog_extent_skip(s, position, &at))
			continue;
		if (elog_partlog_walker_header(w, *position, at, h, err) < 0)
			return -1;
		if (elog_batch_last_offset(h) >= offset)
			return 0;
		*position += elog_batch_total_size(h);
		at = elog_batch_last_offset(h) + 1;
	}
}

/* One attempt; *bad is the segment a walk failed in (for a rescan). */
static int locate_once(struct elog_partlog *log, int64_t offset, uint32_t max_bytes,
		       struct elog_partlog_slice *slice, uint32_t *bad, struct elog_err *err)
{
	uint32_t i = elog_partlog_segment_find(log, offset);
	struct elog_partlog_segment *s = &log->segments[i];
	const struct elog_partlog_damage *d = elog_partlog_extent_at(s, offset), *stop;
	struct elog_partlog_walker w;
	struct elog_batch_header h;
	uint64_t position, len, limit;

	*bad = i;
	if (d)
		return elog_partlog_damage_error(log, d, err);
	elog_partlog_walker_init(&w, log, s);
	if (locate_first(&w, offset, &position, &h, err) < 0)
		return -1;
	len = elog_batch_total_size(&h);
	slice->fd = s->fd;
	slice->position = position;
	slice->base_offset = h.base_offset;
	slice->next_offset = elog_batch_last_offset(&h) + 1;
	/* A slice ends before the next damage, if any. */
	stop = elog_partlog_extent_from(s, position + len);
	limit = stop ? stop->position : s->size;
	/* Whole batches while they fit, every header checked; each step consumes one. */
	while (position + len < limit) {
		if (elog_partlog_walker_header(&w, position + len, slice->next_offset, &h, err) < 0)
			return -1;
		if (len + elog_batch_total_size(&h) > max_bytes)
			break;
		len += elog_batch_total_size(&h);
		slice->next_offset = elog_batch_last_offset(&h) + 1;
	}
	slice->len = (uint32_t)len;
	return 0;
}

/* A walk or a read found segment i bad where no damage is known: scan it, then retry once. */
static int locate_recheck(struct elog_partlog *log, uint32_t i, int *again, struct elog_err *err)
{
	struct elog_err first = *err;
	int changed;

	*again = 0;
	if (elog_partlog_rescan(log, i, &changed, err) < 0)
		return -1;
	if (!changed) {
		*err = first; /* nothing found on disk: the original error stands */
		return -1;
	}
	*again = 1;
	return 0;
}

int elog_partlog_locate(struct elog_partlog *log, int64_t offset, uint32_t max_bytes,
			struct elog_partlog_slice *slice, struct elog_err *err)
{
	struct elog_err local;
	uint32_t bad;
	int again = 1;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local;
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (offset < elog_partlog_start_offset(log) || offset > log->next_offset)
		return elog_err_set(err, ELOG_E_RANGE,
				    "offset %" PRId64 " is outside the log [%" PRId64 ", %" PRId64 "]",
				    offset, elog_partlog_start_offset(log), log->next_offset);
	if (offset == log->next_offset) {
		struct elog_partlog_segment *s = elog_partlog_active(log);
		*slice = (struct elog_partlog_slice){s->fd, s->size, 0, offset, offset};
		return 0;
	}
	/* At most two attempts: a rescan that changes nothing ends it. */
	for (int attempt = 0; again; attempt++) {
		if (locate_once(log, offset, max_bytes, slice, &bad, err) == 0)
			return 0;
		if (attempt > 0 || err->code != ELOG_E_CORRUPT ||
		    locate_recheck(log, bad, &again, err) < 0)
			return -1;
	}
	return -1;
}

int elog_partlog_read(struct elog_partlog *log, int64_t offset, uint8_t *buf, size_t cap,
		      struct elog_partlog_slice *slice, struct elog_err *err)
{
	struct elog_err local;
	uint32_t i, good;
	size_t got;
	char name[32];

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local;
	/* At most two passes: a bad batch is recorded as damage, which the second avoids. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (elog_partlog_locate(log, offset, (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap),
					slice, err) < 0)
			return -1;
		if (slice->len > cap)
			return elog_err_set(err, ELOG_E_LIMIT,
					    "offset %" PRId64 ": batch needs %u bytes, the buffer holds %zu",
					    offset, slice->len, cap);
		i = elog_partlog_segment_find(log, slice->base_offset);
		elog_segment_name(name, sizeof(name), log->segments[i].base_offset, "log");
		for (got = 0; got < slice->len;) {
			ssize_t n = pread(slice->fd, buf + got, slice->len - got,
					  (off_t)(slice->position + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
						      "%s: cannot read byte %llu", name,
						      (unsigned long long)(slice->position + got));
			got += (size_t)n;
		}
		if (elog_partlog_check_slice(log, slice, buf, &good, err) == 0)
			return 0;
		/* Damage recorded: the next locate ends the slice before it, or names it. */
		if (err->code != ELOG_E_DAMAGED)
			return -1;
	}
	return -1;
}

/* ---------------------------------------------------------------- find_time */

/* Decode the batch at position; *found and *offset_out for the first record
 * at or after `from` whose timestamp is >= ts. */
static int find_in_batch(const struct elog_partlog_segment *s, uint64_t position,
			 const struct elog_batch_header *h, int64_t ts, int64_t from, int *found,
			 int64_t *offset_out, struct elog_err *err)
{
	uint32_t len = elog_batch_total_size(h);
	uint8_t *buf = malloc(len);
	struct elog_batch_reader r;
	struct elog_record_view *rec = malloc(sizeof(*rec));
	size_t got = 0;
	int rc = -1, more;

	elog_batch_reader_init(&r);
	r.rules.offsets = ELOG_BATCH_OFFSETS_GAPS; /* compacted partitions (docs/format.md) */
	*found = 0;
	if (!buf || !rec) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a %u-byte batch", len);
		goto out;
	}
	while (got < len) {
		ssize_t n = pread(s->fd, buf + got, len - got, (off_t)(position + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO, "cannot read byte %llu",
				       (unsigned long long)(position + got));
			goto out;
		}
		got += (size_t)n;
	}
	if (elog_batch_check_as(buf, len, ELOG_BATCH_OFFSETS_GAPS, NULL, err) < 0 ||
	    elog_batch_reader_open(&r, buf, len, err) < 0)
		goto out;
	/* reader_next ends after record_count records, which the header bounds. */
	while ((more = elog_batch_reader_next(&r, rec, err)) == 1) {
		if (rec->offset >= from && rec->timestamp_ms >= ts) {
			*found = 1;
			*offset_out = rec->offset;
			break;
		}
	}
	rc = more < 0 ? -1 : 0;
out:
	if (rc < 0 && err) {
		char name[32];
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		if (err->code != ELOG_E_IO && err->code != ELOG_E_NOMEM)
			err->code = ELOG_E_CORRUPT;
		elog_err_prefix(err, "%s: byte %llu", name, (unsigned long long)position);
	}
	elog_batch_reader_release(&r);
	free(rec);
	free(buf);
	return rc;
}

/*
 * A damaged extent starting at (position, at), or NULL; one wholly below
 * the log start moves both past it instead (a purge left it behind).
 */
static const struct elog_partlog_damage *find_damage(const struct elog_partlog *log,
						     const struct elog_partlog_segment *s,
						     uint64_t *position, int64_t *at)
{
	const struct elog_partlog_damage *d = elog_partlog_extent_from(s, *position);

	if (!d || d->position != *position || d->offset != *at)
		return NULL;
	if (d->end_offset > log->start_offset)
		return d;
	*position = d->end_position;
	*at = d->end_offset;
	return NULL;
}

/* Search one segment from its time index hint; *found says whether it held one. */
static int find_in_segment(struct elog_partlog *log, const struct elog_partlog_segment *s,
			   int64_t ts, int *found, int64_t *offset_out, struct elog_err *err)
{
	size_t k = elog_segindex_floor_time(&s->ix.tix, ts);
	struct elog_partlog_walker w;
	struct elog_batch_header h;
	uint64_t position = 0;
	int64_t at = s->base_offset;

	*found = 0;
	if (k != SIZE_MAX && elog_segindex_pos(&s->ix.tix, k) < s->size &&
	    !elog_partlog_extent_covers(s, elog_segindex_pos(&s->ix.tix, k))) {
		position = elog_segindex_pos(&s->ix.tix, k);
		at += elog_segindex_rel(&s->ix.tix, k);
	}
	elog_partlog_walker_init(&w, log, s);
	/*
	 * Batches whose max timestamp is below ts, or that end below the log
	 * start, hold no answer: skip them unread. Each step moves past a
	 * batch or an extent.
	 */
	while (!*found && position < s->size) {
		const struct elog_partlog_damage *d = find_damage(log, s, &position, &at);
		if (d)
			/* The answer may be among the damaged records: say so rather than skip them. */
			return elog_partlog_damage_error(log, d, err);
		if (position >= s->size)
			break;
		if (elog_partlog_walker_header(&w, position, at, &h, err) < 0)
			return -1;
		if (h.max_timestamp >= ts && elog_batch_last_offset(&h) >= log->start_offset &&
		    find_in_batch(s, position, &h, ts, log->start_offset, found, offset_out, err) < 0)
			return -1;
		position += elog_batch_total_size(&h);
		at = elog_batch_last_offset(&h) + 1;
	}
	if (!*found) {
		/* A gap or a bad tail at the very end of the segment. */
		const struct elog_partlog_damage *d = find_damage(log, s, &position, &at);
		if (d)
			return elog_partlog_damage_error(log, d, err);
	}
	return 0;
}

static int find_time_once(struct elog_partlog *log, int64_t ts_ms, int64_t *offset_out,
			  uint32_t *bad, struct elog_err *err)
{
	int found = 0;

	*offset_out = log->next_offset;
	/* Segments wholly below the log start hold no answer. */
	for (uint32_t i = elog_partlog_segment_find(log, log->start_offset);
	     i < log->segment_count && !found; i++) {
		const struct elog_partlog_segment *s = &log->segments[i];
		*bad = i;
		if (s->ix.max_timestamp < ts_ms)
			continue; /* nothing in this segment reaches ts_ms */
		if (find_in_segment(log, s, ts_ms, &found, offset_out, err) < 0)
			return -1;
	}
	if (!found)
		*offset_out = log->next_offset;
	return 0;
}

int elog_partlog_find_time(struct elog_partlog *log, int64_t ts_ms, int64_t *offset_out,
			   struct elog_err *err)
{
	struct elog_err local;
	uint32_t bad = 0;
	int again = 1;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local;
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	/* At most two attempts, as for locate. */
	for (int attempt = 0; again; attempt++) {
		if (find_time_once(log, ts_ms, offset_out, &bad, err) == 0)
			return 0;
		if (attempt > 0 || err->code != ELOG_E_CORRUPT ||
		    locate_recheck(log, bad, &again, err) < 0)
			return -1;
	}
	return -1;
}
