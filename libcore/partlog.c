/* partlog — a partition's segment log: open, append, roll, flush; see partlog.h. */
#include "partlog.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "partlog_int.h"

void elog_partlog_config_default(struct elog_partlog_config *c)
{
	memset(c, 0, sizeof(*c));
	c->segment_bytes = 128u << 20;
	c->segment_ms = 0;
	c->retention_ms = -1;
	c->retention_bytes = -1;
	c->index_interval_bytes = 4096;
	c->flush = ELOG_FLUSH_INTERVAL;
	c->flush_interval_ms = 1000;
	c->batch_bytes_max = 16u << 20;
	c->clock_ms = NULL;
	c->clock_ctx = NULL;
}

static int config_check(const struct elog_partlog_config *c, struct elog_err *err)
{
	if (c->segment_bytes < ELOG_BATCH_HEADER_SIZE || c->segment_bytes > ELOG_SEGMENT_BYTES_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "segment size %llu is outside [%d, %llu]",
				    (unsigned long long)c->segment_bytes, ELOG_BATCH_HEADER_SIZE,
				    (unsigned long long)ELOG_SEGMENT_BYTES_MAX);
	if (c->batch_bytes_max < ELOG_BATCH_HEADER_SIZE || c->batch_bytes_max > ELOG_BATCH_SIZE_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "batch size limit %u is outside [%d, %u]",
				    c->batch_bytes_max, ELOG_BATCH_HEADER_SIZE, ELOG_BATCH_SIZE_MAX);
	if (c->flush != ELOG_FLUSH_ALWAYS && c->flush != ELOG_FLUSH_INTERVAL &&
	    c->flush != ELOG_FLUSH_NEVER)
		return elog_err_set(err, ELOG_E_INVAL, "unknown flush policy %d", (int)c->flush);
	if (c->flush == ELOG_FLUSH_INTERVAL && c->flush_interval_ms <= 0)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %lld ms is not positive",
				    (long long)c->flush_interval_ms);
	if (c->segment_ms < 0 || c->retention_ms < -1 || c->retention_bytes < -1)
		return elog_err_set(err, ELOG_E_INVAL, "negative segment age or retention");
	return 0;
}

/* ---------------------------------------------------------------- helpers */

int64_t elog_partlog_now_ms(const struct elog_partlog *log)
{
	struct timespec ts;

	if (log->config.clock_ms)
		return log->config.clock_ms(log->config.clock_ctx);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Record the first write or sync failure; err keeps the original code for
 * this call, later calls get ELOG_E_FAILED with the same text.
 */
int elog_partlog_fail(struct elog_partlog *log, struct elog_err *err)
{
	pthread_mutex_lock(&log->mutex);
	if (!atomic_load(&log->failed)) {
		if (err)
			log->failure = *err;
		else
			elog_err_set(&log->failure, ELOG_E_IO, "%s: write or sync failed", log->dir);
		log->failure.code = ELOG_E_FAILED;
		atomic_store(&log->failed, 1);
	}
	pthread_mutex_unlock(&log->mutex);
	return -1;
}

int elog_partlog_check_usable(const struct elog_partlog *log, struct elog_err *err)
{
	if (!atomic_load(&log->failed))
		return 0;
	if (err)
		*err = log->failure;
	return -1;
}

int elog_partlog_failed(const struct elog_partlog *log, struct elog_err *err)
{
	return elog_partlog_check_usable(log, err) < 0;
}

int elog_partlog_sync_dir(struct elog_partlog *log, struct elog_err *err)
{
	if (fsync(log->dir_fd) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync directory", log->dir);
		return elog_partlog_fail(log, err);
	}
	return 0;
}

enum elog_errcode elog_partlog_errno_code(int errnum)
{
	return errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG ? ELOG_E_NOSPACE : ELOG_E_IO;
}

/*
 * Write all of buf at position, retrying short writes; no failure marking.
 * A short write that ran out of room ends in the error of the write after
 * it (ENOSPC), so it is reported as ELOG_E_NOSPACE too.
 */
int elog_partlog_write_at(int fd, const uint8_t *buf, size_t len, uint64_t position,
			  const char *what, struct elog_err *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(position + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			return elog_err_errno(err, elog_partlog_errno_code(e), e,
					      "%s: cannot write %zu bytes at byte %llu", what,
					      len - done, (unsigned long long)(position + done));
		}
		done += (size_t)n;
	}
	return 0;
}

int elog_partlog_replace_file(struct elog_partlog *log, const char *name, const void *bytes,
			      size_t len, struct elog_err *err)
{
	return elog_partlog_replace_file_sync(log, name, bytes, len, 1, err);
}

int elog_partlog_replace_file_sync(struct elog_partlog *log, const char *name, const void *bytes,
				   size_t len, int sync, struct elog_err *err)
{
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(log->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno, "%s: cannot create",
				      tmp);
	if (elog_partlog_write_at(fd, bytes, len, 0, tmp, err) < 0) {
		close(fd);
		/* No room: leave no half-written file behind (name is untouched). */
		unlinkat(log->dir_fd, tmp, 0);
		return -1;
	}
	if (sync && fsync(fd) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", tmp);
		close(fd);
		return -1;
	}
	close(fd);
	if (renameat(log->dir_fd, tmp, log->dir_fd, name) < 0) {
		int e = errno;
		unlinkat(log->dir_fd, tmp, 0);
		return elog_err_errno(err, elog_partlog_errno_code(e), e,
				      "%s: cannot rename into place", name);
	}
	if (sync && fsync(log->dir_fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync the directory", name);
	return 0;
}

int elog_partlog_open_indexes(struct elog_partlog *log, int64_t base_offset, int flags,
			      struct elog_err *err)
{
	static const char *const exts[2] = {"idx", "tix"};
	int *fds[2] = {&log->idx_fd, &log->tix_fd};
	char name[32];

	for (int k = 0; k < 2; k++) {
		elog_segment_name(name, sizeof(name), base_offset, exts[k]);
		if (*fds[k] >= 0)
			close(*fds[k]);
		*fds[k] = openat(log->dir_fd, name, O_RDWR | O_CLOEXEC | flags, 0644);
		if (*fds[k] < 0)
			return elog_err_errno(err, elog_partlog_errno_code(errno), errno,
					      "%s: cannot open", name);
	}
	if (flags & O_TRUNC) {
		log->idx_written = log->tix_written = 0;
	} else {
		log->idx_written = elog_partlog_active(log)->ix.idx.count;
		log->tix_written = elog_partlog_active(log)->ix.tix.count;
	}
	return 0;
}

/* Append entries [*written, count) of ix to its file, which holds the ones before. */
static int index_tail_write(int fd, const struct elog_segindex *ix, size_t *written,
			    int64_t base_offset, const char *ext, struct elog_err *err)
{
	char name[32];

	if (*written > ix->count)
		return elog_err_set(err, ELOG_E_INVAL, "index file ahead of memory (%zu > %zu)",
				    *written, ix->count);
	if (*written == ix->count)
		return 0;
	elog_segment_name(name, sizeof(name), base_offset, ext);
	if (elog_partlog_write_at(fd, elog_segindex_at(ix, *written),
				  (ix->count - *written) * ix->entry_size,
				  (uint64_t)*written * ix->entry_size, name, err) < 0)
		return -1;
	*written = ix->count;
	return 0;
}

int elog_partlog_write_active_indexes(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);

	if (index_tail_write(log->idx_fd, &a->ix.idx, &log->idx_written, a->base_offset, "idx",
			     err) < 0 ||
	    index_tail_write(log->tix_fd, &a->ix.tix, &log->tix_written, a->base_offset, "tix",
			     err) < 0)
		return -1;
	return 0;
}

void elog_partlog_segment_release(struct elog_partlog *log, struct elog_partlog_segment *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		log->segment_fds--;
	}
	s->fd = -1;
	elog_segindex_pair_release(&s->ix);
	elog_partlog_extents_release(log, s);
}

/* ---------------------------------------------------------------- open, close */

static struct elog_partlog *partlog_new(const char *dir, const struct elog_partlog_config *config,
					struct elog_err *err)
{
	struct elog_partlog *log = calloc(1, sizeof(*log));

	if (!log) {
		elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", dir);
		return NULL;
	}
	log->dir_fd = log->idx_fd = log->tix_fd = log->active_fd = -1;
	log->active_first_append_ms = -1;
	log->config = *config;
	pthread_mutex_init(&log->mutex, NULL);
	pthread_mutex_init(&log->rp_mutex, NULL);
	atomic_init(&log->flushed_offset, 0);
	atomic_init(&log->rp_offset, 0);
	log->durable = (struct elog_partlog_durable){-1, 0, -1};
	atomic_init(&log->failed, 0);
	log->dir = strdup(dir);
	log->scratch = malloc(ELOG_PARTLOG_WALK_WINDOW);
	if (!log->dir || !log->scratch) {
		elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", dir);
		elog_partlog_close(log);
		return NULL;
	}
	return log;
}

/* fsync the directory holding `path`, so a new entry in it survives a crash. */
static int sync_parent(const char *path, struct elog_err *err)
{
	char parent[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == path)
		snprintf(parent, sizeof(parent), "/");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open directory", parent);
	rc = fsync(fd);
	if (rc < 0)
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync directory", parent);
	close(fd);
	return rc;
}

/* Open the directory, creating it (and making that durable) when missing. */
static int partlog_open_dir(struct elog_partlog *log, struct elog_err *err)
{
	log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd >= 0)
		return 0;
	if (errno != ENOENT)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open directory", log->dir);
	if (mkdir(log->dir, 0755) < 0 && errno != EEXIST)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno,
				      "%s: cannot create directory", log->dir);
	log->fresh = 1;
	if (!log->config.create_unsynced && sync_parent(log->dir, err) < 0)
		return -1;
	log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open directory", log->dir);
	return 0;
}

int elog_partlog_open(const char *dir, const struct elog_partlog_config *config,
		      struct elog_partlog **out, struct elog_partlog_recovery *report,
		      struct elog_err *err)
{
	struct elog_partlog_recovery local;
	struct elog_partlog *log;
	int created;

	*out = NULL;
	if (!report)
		report = &local;
	memset(report, 0, sizeof(*report));
	if (config_check(config, err) < 0)
		return elog_err_prefix(err, "%s", dir);
	log = partlog_new(dir, config, err);
	if (!log)
		return -1;
	if (partlog_open_dir(log, err) < 0 ||
	    ((elog_partlog_meta_load(log, &created, err) < 0 ||
	      elog_partlog_recover(log, report, err) < 0 ||
	      elog_partlog_start_load(log, report, err) < 0) &&
	     elog_err_prefix(err, "%s", dir))) {
		atomic_store(&log->failed, 1); /* nothing to flush on the way out */
		elog_partlog_close(log);
		return -1;
	}
	report->created = log->fresh;
	log->fresh = 0;
	elog_partlog_preallocate(log);
	elog_partlog_segments_close_idle(log);
	elog_partlog_use(log, NULL); /* joins the fd budget; open already */
	*out = log;
	return 0;
}

/*
 * A parked log is clean (flushed to its end, indexes in their files): its
 * durable end only needs recording, with the directory open for that.
 */
static void parked_close_record(struct elog_partlog *log)
{
	struct elog_err err;

	if (atomic_load(&log->failed))
		return;
	log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0)
		return; /* the next open validates the active segment */
	elog_partlog_durable_record(log, &err);
	close(log->dir_fd);
	log->dir_fd = -1;
}

void elog_partlog_close_discard(struct elog_partlog *log)
{
	if (!log)
		return;
	log->discard = 1;
	elog_partlog_close(log);
}

void elog_partlog_close(struct elog_partlog *log)
{
	struct elog_err err;

	if (!log)
		return;
	elog_partlog_fds_leave(log);
	if (log->discard)
		goto release;
	/* A parked log is clean and its indexes are in their files: it only
	 * records its durable end (see parked_close_record). */
	if (log->parked) {
		parked_close_record(log);
		goto release;
	}
	/*
	 * The active indexes go to their files whole; they need no sync (open
	 * rebuilds them), so a disk without room for them costs only that
	 * rebuild, and the flush below still runs.
	 */
	if (!atomic_load(&log->failed) && log->segment_count && log->idx_fd >= 0 &&
	    elog_partlog_write_active_indexes(log, &err) < 0 && err.code != ELOG_E_NOSPACE)
		elog_partlog_fail(log, &err);
	/* Flushed, the log records where it ends: open then knows every byte below is synced. */
	if (!atomic_load(&log->failed) && log->segment_count && elog_partlog_flush(log, &err) == 0 &&
	    elog_partlog_durable_record(log, &err) < 0)
		elog_partlog_fail(log, &err);
release:
	pthread_mutex_lock(&log->mutex);
	elog_partlog_pending_drop(log, INT64_MIN, INT64_MAX);
	pthread_mutex_unlock(&log->mutex);
	for (uint32_t i = 0; i < log->segment_count; i++)
		elog_partlog_segment_release(log, &log->segments[i]);
	free(log->segments);
	if (log->idx_fd >= 0)
		close(log->idx_fd);
	if (log->tix_fd >= 0)
		close(log->tix_fd);
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	pthread_mutex_destroy(&log->mutex);
	pthread_mutex_destroy(&log->rp_mutex);
	free(log->scratch);
	free(log->dir);
	free(log);
}

int64_t elog_partlog_start_offset(const struct elog_partlog *log)
{
	return log->start_offset;
}

int64_t elog_partlog_next_offset(const struct elog_partlog *log)
{
	return log->next_offset;
}

int64_t elog_partlog_flushed_offset(const struct elog_partlog *log)
{
	return atomic_load(&log->flushed_offset);
}

uint64_t elog_partlog_last_term(const struct elog_partlog *log)
{
	return log->last_term;
}

uint64_t elog_partlog_size_bytes(const struct elog_partlog *log)
{
	return log->size_bytes;
}

uint32_t elog_partlog_segment_count(const struct elog_partlog *log)
{
	return log->segment_count;
}

const char *elog_partlog_dir(const struct elog_partlog *log)
{
	return log->dir;
}

/* ---------------------------------------------------------------- roll */

/* Whether the batch of `len` bytes ending at last_offset needs a fresh segment. */
static int roll_needed(struct elog_partlog *log, size_t len, int64_t last_offset)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);
	int64_t now;

	if (a->size == 0)
		return 0; /* a batch always fits an empty segment, even an oversized one */
	if (a->size + len > log->config.segment_bytes)
		return 1;
	if ((uint64_t)(last_offset + 1 - a->base_offset) > UINT32_MAX)
		return 1; /* relative offsets in the indexes are u32 */
	if (log->config.segment_ms <= 0 || log->active_first_append_ms < 0)
		return 0;
	now = elog_partlog_now_ms(log);
	return now - log->active_first_append_ms >= log->config.segment_ms;
}

/*
 * The index writes of roll_close_active found no room: take the closing
 * .tix entry back and cut both files to the entries they held before, so
 * the segment stays the active one exactly as it was.
 */
static int roll_close_undo(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);

	assert(log->tix_written < a->ix.tix.count); /* the closing entry was not written */
	a->ix.tix.count--;
	if (ftruncate(log->idx_fd, (off_t)(log->idx_written * ELOG_INDEX_ENTRY_SIZE)) < 0 ||
	    ftruncate(log->tix_fd, (off_t)(log->tix_written * ELOG_TIME_ENTRY_SIZE)) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot undo the closing index entries",
			       log->dir);
		return elog_partlog_fail(log, err);
	}
	return -1;
}

/*
 * Close the active segment: closing .tix entry, indexes written whole. Under
 * flush=always the log and indexes are synced here; otherwise the next
 * elog_partlog_flush syncs them (see roll). No room for the index entries
 * leaves the segment active (ELOG_E_NOSPACE); a sync error fails the log.
 */
static int roll_close_active(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);

	if (elog_segindex_push(&a->ix.tix, (uint32_t)(log->next_offset - a->base_offset),
			       (uint32_t)a->size, a->ix.max_timestamp, err) < 0)
		return -1;
	if (elog_partlog_write_active_indexes(log, err) < 0)
		return err->code == ELOG_E_NOSPACE ? roll_close_undo(log, err)
						   : elog_partlog_fail(log, err);
	if (log->config.flush == ELOG_FLUSH_ALWAYS && !log->config.sync_deferred) {
		if (fdatasync(a->fd) < 0 || fdatasync(log->idx_fd) < 0 || fdatasync(log->tix_fd) < 0) {
			elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync segment %" PRId64,
				       log->dir, a->base_offset);
			return elog_partlog_fail(log, err);
		}
	}
	return 0;
}

/*
 * Create the files of a segment based at next_offset; nothing changes in
 * memory. On failure none of them is left behind (roll_undo closes the
 * index fds).
 */
static int roll_create(struct elog_partlog *log, int *fd, struct elog_err *err)
{
	static const char *const exts[3] = {"log", "idx", "tix"};
	char name[32];

	elog_segment_name(name, sizeof(name), log->next_offset, "log");
	*fd = openat(log->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd < 0)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno, "%s: cannot create",
				      name);
	if (elog_partlog_open_indexes(log, log->next_offset, O_CREAT | O_TRUNC, err) < 0) {
		close(*fd);
		for (int k = 0; k < 3; k++) {
			elog_segment_name(name, sizeof(name), log->next_offset, exts[k]);
			unlinkat(log->dir_fd, name, 0);
		}
		return -1;
	}
	return 0;
}

static int segments_reserve(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *s;
	uint32_t cap;

	if (log->segment_count < log->segment_cap)
		return 0;
	if (log->segment_count >= ELOG_PARTLOG_SEGMENTS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "%s: more than %u segments", log->dir,
				    ELOG_PARTLOG_SEGMENTS_MAX);
	cap = log->segment_cap ? log->segment_cap * 2 : 16;
	if (cap > ELOG_PARTLOG_SEGMENTS_MAX)
		cap = ELOG_PARTLOG_SEGMENTS_MAX;
	s = realloc(log->segments, cap * sizeof(*s));
	if (!s)
		return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", log->dir);
	log->segments = s;
	log->segment_cap = cap;
	return 0;
}

/* Append an empty segment entry; it becomes the active one. */
int elog_partlog_segment_push(struct elog_partlog *log, int64_t base_offset, int fd,
			      struct elog_err *err)
{
	struct elog_partlog_segment *s;

	if (segments_reserve(log, err) < 0)
		return -1;
	s = &log->segments[log->segment_count];
	memset(s, 0, sizeof(*s));
	s->base_offset = base_offset;
	s->fd = fd;
	if (fd >= 0)
		log->segment_fds++;
	elog_segindex_pair_init(&s->ix);
	pthread_mutex_lock(&log->mutex);
	log->segment_count++;
	log->active_fd = fd;
	log->active_base = base_offset;
	pthread_mutex_unlock(&log->mutex);
	return 0;
}

/* roll_create failed (no room, say): drop the closing entry and stay on the old segment. */
static int roll_undo(struct elog_partlog *log, int old_idx_fd, int old_tix_fd,
		     struct elog_err *err)
{
	struct elog_partlog_segment *old = elog_partlog_active(log);

	if (log->idx_fd >= 0)
		close(log->idx_fd);
	if (log->tix_fd >= 0)
		close(log->tix_fd);
	old->ix.tix.count--;
	log->idx_fd = old_idx_fd;
	log->tix_fd = old_tix_fd;
	log->idx_written = old->ix.idx.count;
	log->tix_written = old->ix.tix.count;
	if (ftruncate(old_tix_fd, (off_t)(old->ix.tix.count * ELOG_TIME_ENTRY_SIZE)) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot undo the closing entry", log->dir);
		return elog_partlog_fail(log, err);
	}
	return -1;
}

/*
 * Roll. Under flush=always (unless sync_deferred) the old segment is durable
 * before the new file exists, and the new file's entry before the roll
 * returns: the only syncs a roll makes itself. Otherwise the
 * old segment goes on the pending list for elog_partlog_flush to sync
 * (and the directory with it), before the new segment becomes the active
 * one, so that a flush in between never counts the old segment as synced;
 * open validates every segment past the recovery point, so a crash before
 * that flush is repaired.
 */
static int roll(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *old;
	int old_idx_fd, old_tix_fd, fd;
	int always = log->config.flush == ELOG_FLUSH_ALWAYS && !log->config.sync_deferred;

	if (segments_reserve(log, err) < 0 || (!always && elog_partlog_pending_reserve(log, err) < 0))
		return -1;
	if (roll_close_active(log, err) < 0)
		return -1;
	old = elog_partlog_active(log);
	old_idx_fd = log->idx_fd;
	old_tix_fd = log->tix_fd;
	log->idx_fd = log->tix_fd = -1;
	if (roll_create(log, &fd, err) < 0)
		return roll_undo(log, old_idx_fd, old_tix_fd, err);
	/* Closed indexes are immutable: map them and give their heap copies back. */
	if (elog_segindex_map(&old->ix.idx, old_idx_fd,
			      old->ix.idx.count * ELOG_INDEX_ENTRY_SIZE, err) < 0 ||
	    elog_segindex_map(&old->ix.tix, old_tix_fd,
			      old->ix.tix.count * ELOG_TIME_ENTRY_SIZE, err) < 0) {
		close(old_idx_fd);
		close(old_tix_fd);
		close(fd);
		return elog_partlog_fail(log, err);
	}
	if (always) {
		close(old_idx_fd);
		close(old_tix_fd);
	} else if (elog_partlog_pending_add(log, old->base_offset, old->fd, old_idx_fd, old_tix_fd,
					    err) < 0) {
		close(fd);
		return elog_partlog_fail(log, err);
	}
	if (elog_partlog_segment_push(log, log->next_offset, fd, err) < 0) {
		close(fd);
		return elog_partlog_fail(log, err);
	}
	log->active_first_append_ms = -1;
	log->preallocated_end = 0;
	if (!always) {
		/* The new file's directory entry is made durable by the next flush, too. */
		pthread_mutex_lock(&log->mutex);
		log->dir_rolls++;
		pthread_mutex_unlock(&log->mutex);
		if (log->config.written)
			log->config.written(log->config.written_ctx);
		return 0;
	}
	/* The closed segment was synced: everything before it is durable. */
	elog_partlog_flushed_raise(log, log->next_offset, log->generation);
	return elog_partlog_sync_dir(log, err);
}

int elog_partlog_roll(struct elog_partlog *log, struct elog_err *err)
{
	assert(elog_partlog_active(log)->size > 0);
	return roll(log, err);
}

/* ---------------------------------------------------------------- append */

/*
 * Checks shared by both appends; fills *h. The leader's append checks the
 * header only: the caller validated the whole batch (partlog.h), and
 * checking its CRC again here cost a tenth of the broker's produce CPU. A
 * follower's batch has its CRC checked again (crc): it came over the
 * network and is written as it came.
 */
static int append_check(struct elog_partlog *log, const uint8_t *buf, size_t len, int crc,
			struct elog_batch_header *h, struct elog_err *err)
{
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (len > log->config.batch_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "batch of %zu bytes exceeds the limit of %u",
				    len, log->config.batch_bytes_max);
	if ((crc ? elog_batch_check_as(buf, len, ELOG_BATCH_OFFSETS_GAPS, h, err)
		 : elog_batch_header_decode_as(buf, len, ELOG_BATCH_OFFSETS_GAPS, h, err)) < 0)
		return -1;
	if (elog_batch_total_size(h) != len)
		return elog_err_set(err, ELOG_E_INVAL, "buffer of %zu bytes holds a %u-byte batch",
				    len, elog_batch_total_size(h));
	if (log->next_offset > INT64_MAX - (int64_t)h->last_offset_delta - 1)
		return elog_err_set(err, ELOG_E_LIMIT, "offset %" PRId64 " would overflow",
				    log->next_offset);
	return 0;
}

/* Note the batch in the active indexes: memory only, the files follow at roll and close. */
static int append_index(struct elog_partlog *log, const struct elog_batch_header *h,
			uint64_t position, struct elog_err *err)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);
	int added;

	if (elog_segindex_note(&a->ix, log->config.index_interval_bytes, a->base_offset, h,
			       position, &added, err) < 0)
		return elog_partlog_fail(log, err);
	return 0;
}

/*
 * The write of a batch failed. Without room (ELOG_E_NOSPACE) that is not a
 * failure of the log: the batch was not acknowledged and nothing in memory
 * counts it yet, so the file is cut back to where it began and the log
 * stays usable. Any other write error fails the log.
 */
static int append_cut_back(struct elog_partlog *log, struct elog_partlog_segment *a,
			   uint64_t position, const char *name, struct elog_err *err)
{
	if (err->code != ELOG_E_NOSPACE)
		return elog_partlog_fail(log, err);
	if (ftruncate(a->fd, (off_t)position) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno,
			       "%s: cannot cut back to byte %llu after a write found no room", name,
			       (unsigned long long)position);
		return elog_partlog_fail(log, err);
	}
	log->preallocated_end = 0; /* the cut may have given the allocation back */
	return -1;
}

/*
 * With config.preallocate_bytes, keep at least half of it allocated past
 * the active segment's end (FALLOC_FL_KEEP_SIZE: the file's size and what
 * readers see do not change), so that appends of that much never need new
 * room on the disk. Best effort: on a full disk, or a filesystem without
 * fallocate, appends simply need room as usual.
 */
void elog_partlog_preallocate(struct elog_partlog *log)
{
	struct elog_partlog_segment *a = elog_partlog_active(log);
	uint64_t want = log->config.preallocate_bytes;

	if (want == 0 || a->size + want / 2 < log->preallocated_end)
		return;
	if (fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->size, (off_t)want) == 0)
		log->preallocated_end = a->size + want;
}

/* Roll if needed, write the (offset-assigned) batch, index it, flush per policy. */
static int append_write(struct elog_partlog *log, const uint8_t *buf, size_t len,
			const struct elog_batch_header *h, struct elog_err *err)
{
	struct elog_partlog_segment *a;
	uint64_t position;
	char name[32];

	if (roll_needed(log, len, elog_batch_last_offset(h)) && roll(log, err) < 0)
		return -1;
	a = elog_partlog_active(log);
	position = a->size;
	elog_segment_name(name, sizeof(name), a->base_offset, "log");
	if (elog_partlog_write_at(a->fd, buf, len, position, name, err) < 0)
		return append_cut_back(log, a, position, name, err);
	if (append_index(log, h, position, err) < 0)
		return -1;
	if (log->active_first_append_ms < 0)
		log->active_first_append_ms = elog_partlog_now_ms(log);
	a->size += len;
	log->size_bytes += len;
	log->last_term = h->leader_term;
	pthread_mutex_lock(&log->mutex);
	log->next_offset = elog_batch_last_offset(h) + 1;
	pthread_mutex_unlock(&log->mutex);
	elog_partlog_preallocate(log);
	if (log->config.flush == ELOG_FLUSH_ALWAYS && !log->config.sync_deferred)
		return elog_partlog_flush(log, err);
	if (log->config.written)
		log->config.written(log->config.written_ctx);
	return 0;
}

int elog_partlog_append(struct elog_partlog *log, uint8_t *buf, size_t len, uint64_t term,
			int64_t *base_offset_out, struct elog_err *err)
{
	struct elog_batch_header h;
	struct elog_err local;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local; /* a failure must still record its reason */
	if (append_check(log, buf, len, 0, &h, err) < 0)
		return -1;
	if (term < log->last_term)
		return elog_err_set(err, ELOG_E_INVAL, "term %llu is below the log's last term %llu",
				    (unsigned long long)term, (unsigned long long)log->last_term);
	elog_batch_assign(buf, log->next_offset, term);
	h.base_offset = log->next_offset;
	h.leader_term = term;
	if (append_write(log, buf, len, &h, err) < 0)
		return -1;
	if (base_offset_out)
		*base_offset_out = h.base_offset;
	return 0;
}

int elog_partlog_append_at(struct elog_partlog *log, const uint8_t *buf, size_t len,
			   struct elog_err *err)
{
	struct elog_batch_header h;
	struct elog_err local;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local; /* a failure must still record its reason */
	if (append_check(log, buf, len, 1, &h, err) < 0)
		return -1;
	if (h.base_offset < log->next_offset)
		return elog_err_set(err, ELOG_E_OVERLAP,
				    "batch at offsets %" PRId64 "-%" PRId64
				    " overlaps the log, which ends before %" PRId64,
				    h.base_offset, elog_batch_last_offset(&h), log->next_offset);
	if (h.base_offset > log->next_offset)
		return elog_err_set(err, ELOG_E_GAP,
				    "batch at offset %" PRId64 " leaves a gap after the log's end %" PRId64,
				    h.base_offset, log->next_offset);
	if (h.leader_term < log->last_term)
		return elog_err_set(err, ELOG_E_INVAL,
				    "batch term %llu is below the log's last term %llu",
				    (unsigned long long)h.leader_term,
				    (unsigned long long)log->last_term);
	return append_write(log, buf, len, &h, err);
}
