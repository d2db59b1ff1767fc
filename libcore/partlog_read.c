/*
 * partlog_read — finding batches: locate/read by offset, find_time by
 * timestamp, and the header walker they share with truncation and recovery.
 *
 * Lookups start at the index entry at or before the target and walk batch
 * headers from there, checking that each one continues the offsets of the
 * last: an index entry that does not point where it claims is caught here
 * as corruption rather than followed into the middle of a batch.
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
	w->segment = segment;
	w->buf = log->scratch;
	w->buf_pos = 0;
	w->buf_len = 0;
}

static int walker_fill(struct elog_partlog_walker *w, uint64_t position, const char *name,
		       struct elog_err *err)
{
	size_t want = ELOG_PARTLOG_WALK_WINDOW, got = 0;

	if (position >= w->buf_pos && position + ELOG_BATCH_HEADER_SIZE <= w->buf_pos + w->buf_len)
		return 0;
	if (want > w->segment->size - position)
		want = (size_t)(w->segment->size - position);
	w->buf_pos = position;
	w->buf_len = 0;
	while (got < want) {
		ssize_t n = pread(w->segment->fd, w->buf + got, want - got, (off_t)(position + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
					      "%s: cannot read byte %llu", name,
					      (unsigned long long)(position + got));
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

	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (position + ELOG_BATCH_HEADER_SIZE > s->size)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: no batch header before the end (%llu bytes)", name,
				    (unsigned long long)position, (unsigned long long)s->size);
	if (walker_fill(w, position, name, err) < 0)
		return -1;
	if (elog_batch_header_decode(w->buf + (position - w->buf_pos), ELOG_BATCH_HEADER_SIZE, h,
				     err) < 0)
		return elog_err_prefix(err, "%s: byte %llu", name, (unsigned long long)position);
	if (position + elog_batch_total_size(h) > s->size)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: batch of %u bytes runs past the end (%llu bytes)",
				    name, (unsigned long long)position, elog_batch_total_size(h),
				    (unsigned long long)s->size);
	if (h->base_offset != expected_offset)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte %llu: batch base offset %" PRId64 ", expected %" PRId64,
				    name, (unsigned long long)position, h->base_offset,
				    expected_offset);
	return 0;
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
	if (k != SIZE_MAX) {
		position = elog_segindex_pos(&s->ix.tix, k);
		offset += elog_segindex_rel(&s->ix.tix, k);
		*max_timestamp = elog_segindex_ts(&s->ix.tix, k);
	}
	elog_partlog_walker_init(&w, log, s);
	/* Each header moves position forward by at least its own size. */
	while (position < end) {
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

/* Walk segment s from its index entry to the batch holding offset. */
static int locate_first(struct elog_partlog_walker *w, int64_t offset, uint64_t *position,
			struct elog_batch_header *h, struct elog_err *err)
{
	const struct elog_partlog_segment *s = w->segment;
	size_t k = elog_segindex_floor_offset(&s->ix.idx, (uint32_t)(offset - s->base_offset));
	int64_t at = s->base_offset;

	*position = 0;
	if (k != SIZE_MAX) {
		*position = elog_segindex_pos(&s->ix.idx, k);
		at += elog_segindex_rel(&s->ix.idx, k);
	}
	for (;;) {
		if (elog_partlog_walker_header(w, *position, at, h, err) < 0)
			return -1;
		if (elog_batch_last_offset(h) >= offset)
			return 0;
		*position += elog_batch_total_size(h);
		at = elog_batch_last_offset(h) + 1;
	}
}

/*
 * Jump over the batches between the first one and the last index entry that
 * still fits max_bytes: index entries are batch starts, so everything
 * before one is whole batches. The walk then checks the batch it lands on.
 */
static void locate_skip(const struct elog_partlog_segment *s, uint32_t max_bytes,
			struct elog_partlog_slice *slice, uint64_t *len)
{
	size_t k = elog_segindex_floor_position(&s->ix.idx, slice->position + max_bytes + 1);
	uint64_t to;

	if (k == SIZE_MAX)
		return;
	to = elog_segindex_pos(&s->ix.idx, k);
	if (to <= slice->position + *len || to > s->size)
		return;
	*len = to - slice->position;
	slice->next_offset = s->base_offset + elog_segindex_rel(&s->ix.idx, k);
}

int elog_partlog_locate(struct elog_partlog *log, int64_t offset, uint32_t max_bytes,
			struct elog_partlog_slice *slice, struct elog_err *err)
{
	struct elog_partlog_segment *s;
	struct elog_partlog_walker w;
	struct elog_batch_header h;
	uint64_t position, len;

	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (offset < elog_partlog_start_offset(log) || offset > log->next_offset)
		return elog_err_set(err, ELOG_E_RANGE,
				    "offset %" PRId64 " is outside the log [%" PRId64 ", %" PRId64 "]",
				    offset, elog_partlog_start_offset(log), log->next_offset);
	if (offset == log->next_offset) {
		s = elog_partlog_active(log);
		*slice = (struct elog_partlog_slice){s->fd, s->size, 0, offset, offset};
		return 0;
	}
	s = &log->segments[elog_partlog_segment_find(log, offset)];
	elog_partlog_walker_init(&w, log, s);
	if (locate_first(&w, offset, &position, &h, err) < 0)
		return -1;
	len = elog_batch_total_size(&h);
	slice->fd = s->fd;
	slice->position = position;
	slice->base_offset = h.base_offset;
	slice->next_offset = elog_batch_last_offset(&h) + 1;
	locate_skip(s, max_bytes, slice, &len);
	/* Whole batches while they fit; each step consumes at least a header. */
	while (position + len < s->size) {
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

/* Check every batch that read() returns: CRC and offsets, as consumers will. */
static int read_verify(const struct elog_partlog_slice *slice, const uint8_t *buf,
		       struct elog_err *err)
{
	struct elog_batch_header h;
	int64_t expected = slice->base_offset;
	uint32_t at = 0;

	while (at < slice->len) {
		if (elog_batch_check(buf + at, slice->len - at, &h, err) < 0)
			goto bad;
		if (h.base_offset != expected) {
			elog_err_set(err, ELOG_E_CORRUPT, "batch base offset %" PRId64
				     ", expected %" PRId64, h.base_offset, expected);
			goto bad;
		}
		expected = elog_batch_last_offset(&h) + 1;
		at += elog_batch_total_size(&h);
	}
	return 0;
bad:
	if (err)
		err->code = ELOG_E_CORRUPT;
	return elog_err_prefix(err, "byte %llu", (unsigned long long)(slice->position + at));
}

int elog_partlog_read(struct elog_partlog *log, int64_t offset, uint8_t *buf, size_t cap,
		      struct elog_partlog_slice *slice, struct elog_err *err)
{
	uint32_t i;
	size_t got = 0;
	char name[32];

	if (elog_partlog_locate(log, offset, (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap), slice,
				err) < 0)
		return -1;
	if (slice->len > cap)
		return elog_err_set(err, ELOG_E_LIMIT,
				    "offset %" PRId64 ": batch needs %u bytes, the buffer holds %zu",
				    offset, slice->len, cap);
	i = elog_partlog_segment_find(log, slice->base_offset);
	elog_segment_name(name, sizeof(name), log->segments[i].base_offset, "log");
	while (got < slice->len) {
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
	if (read_verify(slice, buf, err) < 0)
		return elog_err_prefix(err, "%s", name);
	return 0;
}

/* ---------------------------------------------------------------- find_time */

/* Decode the batch at position; *found and *offset_out for the first record >= ts. */
static int find_in_batch(const struct elog_partlog_segment *s, uint64_t position,
			 const struct elog_batch_header *h, int64_t ts, int *found,
			 int64_t *offset_out, struct elog_err *err)
{
	uint32_t len = elog_batch_total_size(h);
	uint8_t *buf = malloc(len);
	struct elog_batch_reader r;
	struct elog_record_view *rec = malloc(sizeof(*rec));
	size_t got = 0;
	int rc = -1, more;

	elog_batch_reader_init(&r);
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
	if (elog_batch_reader_open(&r, buf, len, err) < 0)
		goto out;
	/* reader_next ends after record_count records, which the header bounds. */
	while ((more = elog_batch_reader_next(&r, rec, err)) == 1) {
		if (rec->timestamp_ms >= ts) {
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
		elog_err_prefix(err, "%s: byte %llu", name, (unsigned long long)position);
	}
	elog_batch_reader_release(&r);
	free(rec);
	free(buf);
	return rc;
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
	if (k != SIZE_MAX && elog_segindex_pos(&s->ix.tix, k) < s->size) {
		position = elog_segindex_pos(&s->ix.tix, k);
		at += elog_segindex_rel(&s->ix.tix, k);
	}
	elog_partlog_walker_init(&w, log, s);
	/* Batches whose max timestamp is below ts hold no answer: skip them unread. */
	while (!*found && position < s->size) {
		if (elog_partlog_walker_header(&w, position, at, &h, err) < 0)
			return -1;
		if (h.max_timestamp >= ts &&
		    find_in_batch(s, position, &h, ts, found, offset_out, err) < 0)
			return -1;
		position += elog_batch_total_size(&h);
		at = elog_batch_last_offset(&h) + 1;
	}
	return 0;
}

int elog_partlog_find_time(struct elog_partlog *log, int64_t ts_ms, int64_t *offset_out,
			   struct elog_err *err)
{
	int found = 0;

	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	*offset_out = log->next_offset;
	for (uint32_t i = 0; i < log->segment_count && !found; i++) {
		const struct elog_partlog_segment *s = &log->segments[i];
		if (s->ix.max_timestamp < ts_ms)
			continue; /* nothing in this segment reaches ts_ms */
		if (find_in_segment(log, s, ts_ms, &found, offset_out, err) < 0)
			return -1;
	}
	if (!found)
		*offset_out = log->next_offset;
	return 0;
}
