/*
 * partlog_trim — removing batches: truncation from the end (a follower
 * whose log diverged from its leader's) and retention from the start
 * (by age, by size, and the segments a purge left wholly below the log
 * start).
 *
 * Truncation first forgets the newer segments in memory (a flush from then
 * on sees the shortened log), lowers the recovery point to the cut
 * segment's base and syncs the closed segments still pending below it, so
 * that everything below the target is durable when it returns; only then
 * does it touch files.
 *
 * Both delete whole segment files, .log first: a crash between unlinks
 * leaves index files without a .log, which the next open removes, never a
 * .log without the segments around it. Truncation deletes newest first and
 * cuts the surviving segment last, so a crash midway leaves a log that ends
 * at a batch boundary at or after the target, which is what the log held
 * before the call; retention deletes oldest first, so what survives is
 * always a contiguous run of offsets.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partlog_int.h"

/* Unlink a segment's files; only the .log matters, strays are cleaned on open. */
static int segment_unlink(struct elog_partlog *log, int64_t base_offset, struct elog_err *err)
{
	char name[32];

	elog_segment_name(name, sizeof(name), base_offset, "log");
	if (unlinkat(log->dir_fd, name, 0) < 0 && errno != ENOENT)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot remove", name);
	elog_segment_name(name, sizeof(name), base_offset, "idx");
	unlinkat(log->dir_fd, name, 0);
	elog_segment_name(name, sizeof(name), base_offset, "tix");
	unlinkat(log->dir_fd, name, 0);
	return 0;
}

/* ---------------------------------------------------------------- truncate */

/* Byte position of the batch starting at offset in segment i; INVAL inside a batch. */
static int truncate_position(struct elog_partlog *log, uint32_t i, int64_t offset,
			     uint64_t *cut, struct elog_err *err)
{
	const struct elog_partlog_segment *s = &log->segments[i];
	size_t k = elog_segindex_floor_offset(&s->ix.idx, (uint32_t)(offset - s->base_offset));
	const struct elog_partlog_damage *d = elog_partlog_extent_at(s, offset);
	struct elog_partlog_walker w;
	struct elog_batch_header h;
	int64_t at;

	/* A damaged extent's first offset is a boundary; the inside of one is not. */
	if (d && d->offset != offset)
		return elog_partlog_damage_error(log, d, err);
	elog_partlog_walk_start(s, &s->ix.idx, k, offset, cut, &at);
	elog_partlog_walker_init(&w, log, s);
	/* offset < the segment's end, so a batch or an extent starts at it: the walk stops there. */
	while (at != offset) {
		if (elog_partlog_extent_skip(s, cut, &at))
			continue;
		if (elog_partlog_walker_header(&w, *cut, at, &h, err) < 0)
			return -1;
		if (elog_batch_last_offset(&h) >= offset)
			return elog_err_set(err, ELOG_E_INVAL,
					    "offset %" PRId64 " is inside the batch of offsets %" PRId64
					    "-%" PRId64 ", not at a batch boundary",
					    offset, h.base_offset, elog_batch_last_offset(&h));
		*cut += elog_batch_total_size(&h);
		at = elog_batch_last_offset(&h) + 1;
	}
	return 0;
}

/*
 * Make segment i the active one in memory, in one step a flush sees whole:
 * the generation moves (a flush that started before raises nothing), and
 * the newer segments leave the pending list unsynced.
 */
static void truncate_forget_newer(struct elog_partlog *log, uint32_t i, int64_t offset)
{
	pthread_mutex_lock(&log->mutex);
	log->generation++;
	log->next_offset = offset;
	log->segment_count = i + 1;
	log->active_fd = log->segments[i].fd;
	log->active_base = log->segments[i].base_offset;
	elog_partlog_pending_drop(log, log->segments[i].base_offset + 1, INT64_MAX);
	atomic_store(&log->flushed_offset, offset < atomic_load(&log->flushed_offset)
						   ? offset : atomic_load(&log->flushed_offset));
	pthread_mutex_unlock(&log->mutex);
}

/*
 * Lower the recovery point to segment i (and drop a durable end the cut
 * goes below), then forget the newer segments, with rp_mutex held across
 * both: a flush in between cannot raise the point again (it finds the
 * generation moved). No room for the new recovery.point is ELOG_E_NOSPACE
 * with nothing changed; any other failure to write it fails the log.
 */
static int truncate_lower_and_forget(struct elog_partlog *log, uint32_t i, int64_t offset,
				     struct elog_err *err)
{
	int64_t base = log->segments[i].base_offset, rp;
	int keep, rc = 0;

	pthread_mutex_lock(&log->rp_mutex);
	rp = atomic_load(&log->rp_offset);
	keep = log->durable.base >= 0 && offset >= log->durable.next;
	if ((rp > base || (log->durable.base >= 0 && !keep)) &&
	    elog_partlog_rp_store(log, rp > base ? base : rp, keep ? &log->durable : NULL, 1, err) < 0)
		rc = elog_err_prefix(err, "%s", log->dir);
	if (rc == 0)
		truncate_forget_newer(log, i, offset);
	pthread_mutex_unlock(&log->rp_mutex);
	if (rc < 0 && err->code != ELOG_E_NOSPACE)
		return elog_partlog_fail(log, err);
	return rc;
}

/* Recompute what the active segment's appends carry on from, after a cut. */
static int truncate_restate(struct elog_partlog *log, uint32_t i, struct elog_err *err)
{
	struct elog_partlog_segment *s = &log->segments[i];
	struct elog_batch_header last;
	int64_t max_ts;
	int found;
	size_t n = s->ix.idx.count;

	s->ix.bytes_since_entry = n ? s->size - elog_segindex_pos(&s->ix.idx, n - 1) : s->size;
	if (elog_partlog_walk_to_end(log, i, s->size, &last, &max_ts, &found, err) < 0)
		return -1;
	s->ix.max_timestamp = found ? max_ts : INT64_MIN;
	log->last_term = found ? last.leader_term : 0;
	if (!found && i > 0) {
		if (elog_partlog_walk_to_end(log, i - 1, log->segments[i - 1].size, &last, &max_ts,
					     &found, err) < 0)
			return -1;
		log->last_term = found ? last.leader_term : 0;
	}
	log->size_bytes = 0;
	for (uint32_t j = 0; j < log->segment_count; j++)
		log->size_bytes += log->segments[j].size;
	log->active_first_append_ms = s->size ? elog_partlog_now_ms(log) : -1;
	return 0;
}

/* Cut segment i at byte `cut`, keep the index entries before it, rewrite them. */
static int truncate_cut(struct elog_partlog *log, uint32_t i, uint64_t cut,
			struct elog_err *err)
{
	struct elog_partlog_segment *s = &log->segments[i];
	char name[32];

	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (ftruncate(s->fd, (off_t)cut) < 0 || fdatasync(s->fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot truncate to %llu bytes",
				      name, (unsigned long long)cut);
	s->size = cut;
	elog_partlog_extents_cut(log, s, cut);
	if (elog_segindex_keep(&s->ix.idx, elog_segindex_floor_position(&s->ix.idx, cut) + 1,
			       err) < 0 ||
	    elog_segindex_keep(&s->ix.tix, elog_segindex_floor_position(&s->ix.tix, cut) + 1,
			       err) < 0)
		return -1;
	/*
	 * The indexes are the active segment's now: written whole, not synced.
	 * Without room for them the files are emptied instead, and roll or
	 * close writes them (they are hints, rebuilt on open).
	 */
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &s->ix.idx, 0, err) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &s->ix.tix, 0, err) < 0) {
		if (err->code != ELOG_E_NOSPACE ||
		    elog_partlog_open_indexes(log, s->base_offset, O_CREAT | O_TRUNC, err) < 0)
			return -1;
	} else if (elog_partlog_open_indexes(log, s->base_offset, 0, err) < 0) {
		return -1;
	}
	log->preallocated_end = 0;
	return truncate_restate(log, i, err);
}

/*
 * A cut below the log start brings the start down to it, in log.start
 * too. Done after the cut: a crash before it leaves a start past the end,
 * which open brings down the same way. Without room for the file it is
 * removed instead (no start then hides a record appended from now on).
 */
static int truncate_lower_start(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	if (log->start_offset <= offset)
		return 0;
	log->start_offset = offset;
	if (elog_partlog_start_store(log, offset, err) == 0)
		return 0;
	if (err->code != ELOG_E_NOSPACE)
		return elog_partlog_fail(log, err);
	if (unlinkat(log->dir_fd, ELOG_PARTLOG_START_NAME, 0) < 0 && errno != ENOENT) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: " ELOG_PARTLOG_START_NAME ": cannot remove",
			       log->dir);
		return elog_partlog_fail(log, err);
	}
	log->start_offset = log->segments[0].base_offset;
	return elog_partlog_sync_dir(log, err);
}

int elog_partlog_truncate(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	struct elog_err local;
	uint32_t i, old_count;
	uint64_t cut;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local; /* a failure must still record its reason */
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (offset < log->segments[0].base_offset || offset > log->next_offset)
		return elog_err_set(err, ELOG_E_RANGE,
				    "cannot truncate to offset %" PRId64 ", outside the log [%" PRId64
				    ", %" PRId64 "]", offset, log->segments[0].base_offset,
				    log->next_offset);
	if (offset == log->next_offset)
		return 0;
	i = elog_partlog_segment_find(log, offset);
	if (elog_partlog_segment_open(log, &log->segments[i], err) < 0 ||
	    truncate_position(log, i, offset, &cut, err) < 0)
		return -1;
	old_count = log->segment_count;
	if (truncate_lower_and_forget(log, i, offset, err) < 0)
		return -1;
	/* From here on a failure leaves disk and memory apart: the log fails. */
	/* Released, their entries keep the base offsets the unlinks below need. */
	for (uint32_t j = i + 1; j < old_count; j++)
		elog_partlog_segment_release(log, &log->segments[j]);
	if (elog_partlog_pending_sync(log, ELOG_PARTLOG_PENDING_MAX, err) < 0)
		return -1;
	for (uint32_t j = old_count - 1; j > i; j--)
		if (segment_unlink(log, log->segments[j].base_offset, err) < 0)
			return elog_partlog_fail(log, err);
	if (old_count - 1 > i && elog_partlog_sync_dir(log, err) < 0)
		return -1;
	if (truncate_cut(log, i, cut, err) < 0)
		return elog_partlog_fail(log, err);
	if (elog_partlog_sync_dir(log, err) < 0)
		return -1;
	/* The cut segment was fsynced whole: everything below offset is durable. */
	pthread_mutex_lock(&log->mutex);
	atomic_store(&log->flushed_offset, offset);
	pthread_mutex_unlock(&log->mutex);
	return truncate_lower_start(log, offset, err);
}

/* ---------------------------------------------------------------- retention */

/*
 * Whether the oldest segment is due for deletion: it lies wholly below
 * `below` (the log start: nothing in it can be read any more), or, with
 * by_time_size, retention by age or size wants it.
 */
static int retain_due(const struct elog_partlog *log, int64_t now_ms, int by_time_size,
		      int64_t below)
{
	const struct elog_partlog_segment *s = &log->segments[0];
	int64_t ms = log->config.retention_ms, bytes = log->config.retention_bytes;

	if (log->segments[1].base_offset <= below)
		return 1;
	if (!by_time_size)
		return 0;
	if (ms >= 0 && now_ms >= INT64_MIN + ms && s->ix.max_timestamp < now_ms - ms)
		return 1;
	return bytes >= 0 && log->size_bytes > (uint64_t)bytes;
}

static int retain_run(struct elog_partlog *log, int64_t now_ms, int by_time_size, int64_t below,
		      int64_t limit, uint32_t *deleted, struct elog_err *err)
{
	struct elog_err local;
	uint32_t n = 0;
	int rc = 0;
	/*
	 * Retention proper hands the files' last fds to the owner (config.discard)
	 * and leaves the directory sync to the next flush; a purge's deletions
	 * are done whole before it is answered, so the space they free is
	 * measured with its answer.
	 */
	int defer = by_time_size && log->config.discard;

	if (!err)
		err = &local; /* a failure must still record its reason */
	if (deleted)
		*deleted = 0;
	if (elog_partlog_use(log, err) < 0 || elog_partlog_check_usable(log, err) < 0)
		return -1;
	/*
	 * Oldest first, and only while the oldest is due: deleting from the
	 * middle would leave a hole in the offsets. Never the active segment.
	 */
	while (log->segment_count > 1 && log->segments[1].base_offset <= limit &&
	       retain_due(log, now_ms, by_time_size, below)) {
		struct elog_partlog_segment *s = &log->segments[0];
		/* Open (under a budget it may not be), so that the close frees it
		 * off this thread; without it the unlink does. */
		if (defer)
			elog_partlog_segment_open(log, s, NULL);
		/* Deleted unsynced, if a flush has not got to it yet. */
		pthread_mutex_lock(&log->mutex);
		elog_partlog_pending_drop(log, s->base_offset, s->base_offset + 1);
		pthread_mutex_unlock(&log->mutex);
		if (segment_unlink(log, s->base_offset, err) < 0) {
			rc = -1;
			break;
		}
		log->size_bytes -= s->size;
		if (defer && s->fd >= 0) {
			log->config.discard(log->config.discard_ctx, s->fd);
			s->fd = -1;
			log->segment_fds--;
		}
		elog_partlog_segment_release(log, s);
		memmove(&log->segments[0], &log->segments[1],
			(log->segment_count - 1) * sizeof(*log->segments));
		log->segment_count--;
		n++;
	}
	/* Age and size move the start up with the segments (log.start may lag: open raises it). */
	if (log->start_offset < log->segments[0].base_offset)
		log->start_offset = log->segments[0].base_offset;
	if (n && defer && log->config.written) {
		/* The owner's flusher syncs the directory with its next flush of the log. */
		pthread_mutex_lock(&log->mutex);
		log->dir_rolls++;
		pthread_mutex_unlock(&log->mutex);
		log->config.written(log->config.written_ctx);
	} else if (n && elog_partlog_sync_dir(log, err) < 0) {
		rc = -1;
	}
	if (deleted)
		*deleted = n;
	return rc;
}

int elog_partlog_retain(struct elog_partlog *log, int64_t now_ms, uint32_t *deleted,
			struct elog_err *err)
{
	return retain_run(log, now_ms, 1, log->start_offset, INT64_MAX, deleted, err);
}

int elog_partlog_retain_upto(struct elog_partlog *log, int64_t now_ms, int64_t limit,
			     uint32_t *deleted, struct elog_err *err)
{
	return retain_run(log, now_ms, 1, log->start_offset, limit, deleted, err);
}

int elog_partlog_retain_purged(struct elog_partlog *log, uint32_t *deleted, struct elog_err *err)
{
	return retain_run(log, 0, 0, log->start_offset, INT64_MAX, deleted, err);
}

int elog_partlog_retain_below(struct elog_partlog *log, int64_t offset, uint32_t *deleted,
			      struct elog_err *err)
{
	return retain_run(log, 0, 0, offset, INT64_MAX, deleted, err);
}

/* ---------------------------------------------------------------- reset */

/*
 * Reset (partlog.h). The truncation above first, to the first segment's
 * base: durable, and the log is then one empty segment. Then, to start
 * further on, the empty segment at `offset` is made (and its directory
 * entry synced) before the old one's files go, and log.start is written
 * last. A crash after the new segment is made and before the old one is
 * gone leaves two empty segments with the offsets between them lost,
 * which open reports as damage (a replica then repairs from its leader,
 * which resets it again); a crash after it leaves log.start below the only
 * segment, which open raises to it.
 */
int elog_partlog_reset(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	struct elog_err local;
	int64_t base;
	char name[32];
	int fd;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local; /* a failure must still record its reason */
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	base = log->segments[0].base_offset;
	if (offset < base)
		return elog_err_set(err, ELOG_E_RANGE,
				    "cannot reset to offset %" PRId64 ", below the first segment's %" PRId64,
				    offset, base);
	if (elog_partlog_truncate(log, base, err) < 0)
		return -1;
	if (offset == base)
		return 0;
	elog_segment_name(name, sizeof(name), offset, "log");
	fd = openat(log->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno, "%s: cannot create",
				      name);
	/* From here on a failure leaves disk and memory apart: the log fails. */
	if (elog_partlog_open_indexes(log, offset, O_CREAT | O_TRUNC, err) < 0 ||
	    elog_partlog_sync_dir(log, err) < 0) {
		close(fd);
		return elog_partlog_fail(log, err);
	}
	pthread_mutex_lock(&log->mutex);
	elog_partlog_pending_drop(log, base, base + 1);
	pthread_mutex_unlock(&log->mutex);
	elog_partlog_segment_release(log, &log->segments[0]);
	pthread_mutex_lock(&log->mutex);
	log->generation++;
	log->segment_count = 0;
	log->next_offset = offset;
	atomic_store(&log->flushed_offset, offset);
	pthread_mutex_unlock(&log->mutex);
	if (elog_partlog_segment_push(log, offset, fd, err) < 0) {
		close(fd);
		return elog_partlog_fail(log, err);
	}
	log->start_offset = offset;
	log->last_term = 0;
	log->size_bytes = 0;
	log->active_first_append_ms = -1;
	log->preallocated_end = 0;
	if (segment_unlink(log, base, err) < 0)
		return elog_partlog_fail(log, err);
	if (elog_partlog_sync_dir(log, err) < 0)
		return -1;
	/* Without room for log.start the old one stays: below the only
	 * segment, which open raises it to. */
	if (elog_partlog_start_store(log, offset, err) < 0 && err->code != ELOG_E_NOSPACE)
		return elog_partlog_fail(log, err);
	return 0;
}
