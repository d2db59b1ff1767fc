/*
 * partlog_fds — the fd budget shared by many logs (struct elog_partlog_fds
 * in partlog.h): a least-recently-used list of the logs whose files are
 * open, parking (closing every file of) the oldest when the budget is
 * passed, and reopening a parked log on its next use.
 *
 * Under a budget only the active segment's .log is kept open; a closed
 * segment's opens when a read, scan or truncation needs it (then stays
 * open while the log is), so a log of many segments costs a few files,
 * and open's recovery closes what it opened to check them.
 *
 * A log is parked only when it is clean: flushed to its end, no closed
 * segment waiting for its sync, the recovery point at the active segment,
 * the directory synced; then elog_partlog_flush returns before touching a
 * file, so the flusher thread never needs the fds parking closes (it
 * reads `parked` under the mutex too). A log that is not clean is flushed
 * first, on the owner's thread; a failed log is never parked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partlog_int.h"

/* Logs looked at from the least recent end for a clean one to park. */
#define ELOG_PARTLOG_EVICT_LOOKS 32u

void elog_partlog_fds_init(struct elog_partlog_fds *fds, uint32_t budget)
{
	memset(fds, 0, sizeof(*fds));
	fds->budget = budget;
}

int elog_partlog_parked(const struct elog_partlog *log)
{
	return log->parked;
}

/* Files an open log holds: its directory, the active indexes, each open
 * segment's .log, and three for each closed segment waiting for its sync. */
static uint32_t files_held(struct elog_partlog *log)
{
	uint32_t pending;

	if (log->parked)
		return 0;
	pthread_mutex_lock(&log->mutex);
	pending = log->pending_count;
	pthread_mutex_unlock(&log->mutex);
	return 3 + log->segment_fds + 3 * pending;
}

static void lru_unlink(struct elog_partlog_fds *fds, struct elog_partlog *log)
{
	if (!log->in_lru)
		return;
	if (log->lru_prev)
		log->lru_prev->lru_next = log->lru_next;
	else
		fds->lru_head = log->lru_next;
	if (log->lru_next)
		log->lru_next->lru_prev = log->lru_prev;
	else
		fds->lru_tail = log->lru_prev;
	log->lru_prev = log->lru_next = NULL;
	log->in_lru = 0;
	fds->open_logs--;
	fds->open_files -= log->fds_held;
	log->fds_held = 0;
}

static void lru_push(struct elog_partlog_fds *fds, struct elog_partlog *log)
{
	log->lru_prev = NULL;
	log->lru_next = fds->lru_head;
	if (fds->lru_head)
		fds->lru_head->lru_prev = log;
	else
		fds->lru_tail = log;
	fds->lru_head = log;
	log->in_lru = 1;
	fds->open_logs++;
	log->fds_held = files_held(log);
	log->fds_counted_segments = log->segment_fds;
	fds->open_files += log->fds_held;
}

/* Whether flush has nothing to do (its early return); mutex held. */
static int clean_locked(const struct elog_partlog *log)
{
	return log->next_offset <= atomic_load(&log->flushed_offset) && log->pending_count == 0 &&
	       log->dir_rolls <= log->dir_rolls_synced &&
	       atomic_load(&log->rp_offset) >= log->active_base;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Close every file of a clean log; -1 (still open) when it cannot be made clean. */
static int park(struct elog_partlog *log)
{
	struct elog_err err;
	int clean;

	if (log->parked || atomic_load(&log->failed) || log->segment_count == 0)
		return -1;
	/* The files then hold the active indexes exactly, as a reopen vouches. */
	if (elog_partlog_write_active_indexes(log, &err) < 0 || elog_partlog_flush(log, &err) < 0)
		return -1;
	pthread_mutex_lock(&log->mutex);
	clean = clean_locked(log);
	if (clean) {
		log->parked = 1;
		log->active_fd = -1;
	}
	pthread_mutex_unlock(&log->mutex);
	if (!clean)
		return -1;
	close_fd(&log->idx_fd);
	close_fd(&log->tix_fd);
	for (uint32_t i = 0; i < log->segment_count; i++)
		close_fd(&log->segments[i].fd);
	log->segment_fds = 0;
	close_fd(&log->dir_fd);
	/* The walk window goes too: 64 KiB a log is most of an idle log's memory. */
	free(log->scratch);
	log->scratch = NULL;
	return 0;
}

int elog_partlog_unpark(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_segment *a;

	if (!log->parked)
		return 0;
	log->scratch = malloc(ELOG_PARTLOG_WALK_WINDOW);
	if (!log->scratch)
		return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", log->dir);
	log->dir_fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open directory", log->dir);
		goto fail;
	}
	/* The active segment only: closed ones open when a read needs them. */
	a = elog_partlog_active(log);
	if (elog_partlog_segment_open(log, a, err) < 0 ||
	    elog_partlog_open_indexes(log, a->base_offset, 0, err) < 0) {
		elog_err_prefix(err, "%s", log->dir);
		goto fail;
	}
	pthread_mutex_lock(&log->mutex);
	log->parked = 0;
	log->active_fd = a->fd;
	pthread_mutex_unlock(&log->mutex);
	if (log->config.fds)
		log->config.fds->reopens++;
	return 0;
fail:
	free(log->scratch);
	log->scratch = NULL;
	close_fd(&log->idx_fd);
	close_fd(&log->tix_fd);
	for (uint32_t i = 0; i < log->segment_count; i++)
		close_fd(&log->segments[i].fd);
	log->segment_fds = 0;
	close_fd(&log->dir_fd);
	return -1;
}

int elog_partlog_segment_open(struct elog_partlog *log, struct elog_partlog_segment *s,
			      struct elog_err *err)
{
	char name[32];

	if (s->fd >= 0)
		return 0;
	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	s->fd = openat(log->dir_fd, name, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s/%s: cannot open", log->dir, name);
	log->segment_fds++;
	return 0;
}

void elog_partlog_segments_close_idle(struct elog_partlog *log)
{
	if (!log->config.fds)
		return;
	for (uint32_t i = 0; i + 1 < log->segment_count; i++)
		if (log->segments[i].fd >= 0) {
			close_fd(&log->segments[i].fd);
			log->segment_fds--;
		}
}

/*
 * Park from the least recent end while past the budget, never `keep`.
 * Clean logs first (no fsync); then, if still past it, the oldest ones
 * whatever it costs. Each pass looks at every open log at most once.
 */
static void evict(struct elog_partlog_fds *fds, struct elog_partlog *keep)
{
	for (int pass = 0; pass < 2 && fds->open_files > fds->budget; pass++) {
		struct elog_partlog *log = fds->lru_tail, *prev;
		/* The clean ones among the oldest few; then any, oldest first. */
		uint32_t looks = pass == 0 ? ELOG_PARTLOG_EVICT_LOOKS : UINT32_MAX;
		for (; log && fds->open_files > fds->budget && looks > 0; log = prev, looks--) {
			prev = log->lru_prev;
			if (log == keep)
				continue;
			if (pass == 0) {
				int clean;
				pthread_mutex_lock(&log->mutex);
				clean = clean_locked(log);
				pthread_mutex_unlock(&log->mutex);
				if (!clean)
					continue;
			}
			if (park(log) == 0) {
				lru_unlink(fds, log);
				fds->parks++;
			}
		}
	}
}

int elog_partlog_use(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_partlog_fds *fds = log->config.fds;

	if (!fds)
		return 0;
	if (log->parked && elog_partlog_unpark(log, err) < 0)
		return -1;
	/* Recounted when it moves to the front or opened a segment (a roll): the
	 * pending list's share may lag until then, by 48 files at most. */
	if (fds->lru_head != log || log->fds_counted_segments != log->segment_fds) {
		lru_unlink(fds, log);
		lru_push(fds, log);
	}
	if (fds->budget && fds->open_files > fds->budget)
		evict(fds, log);
	return 0;
}

void elog_partlog_fds_leave(struct elog_partlog *log)
{
	if (log->config.fds)
		lru_unlink(log->config.fds, log);
}
