/*
 * partlog_sync — durability: elog_partlog_flush, the closed segments a roll
 * leaves for it to sync (the pending list), and the recovery point file.
 * The locking is described in partlog_int.h, the contract in partlog.h and
 * docs/format.md (Recovery, Durability).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "partlog_int.h"

static const char *const pending_exts[3] = {"log", "idx", "tix"};

/* ---------------------------------------------------------------- pending list */

/* Take entry i off the list and close its files; mutex held. */
static void pending_remove_at(struct elog_partlog *log, uint32_t i)
{
	struct elog_partlog_pending *p = &log->pending[i];

	for (int k = 0; k < 3; k++)
		if (p->fds[k] >= 0)
			close(p->fds[k]);
	memmove(p, p + 1, (log->pending_count - i - 1) * sizeof(*p));
	log->pending_count--;
}

/* min(offset, base of every pending segment); mutex held. */
static int64_t pending_floor(const struct elog_partlog *log, int64_t offset)
{
	for (uint32_t i = 0; i < log->pending_count; i++)
		if (log->pending[i].base_offset < offset)
			offset = log->pending[i].base_offset;
	return offset;
}

int elog_partlog_pending_add(struct elog_partlog *log, int64_t base_offset, int log_fd,
			     int idx_fd, int tix_fd, struct elog_err *err)
{
	struct elog_partlog_pending *p;
	int fd = dup(log_fd);

	if (fd < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot keep segment %" PRId64 " open",
			       log->dir, base_offset);
		close(idx_fd);
		close(tix_fd);
		return -1;
	}
	pthread_mutex_lock(&log->mutex);
	assert(log->pending_count < ELOG_PARTLOG_PENDING_MAX);
	p = &log->pending[log->pending_count++];
	p->id = log->pending_next_id++;
	p->base_offset = base_offset;
	p->fds[0] = fd;
	p->fds[1] = idx_fd;
	p->fds[2] = tix_fd;
	pthread_mutex_unlock(&log->mutex);
	return 0;
}

void elog_partlog_pending_drop(struct elog_partlog *log, int64_t lo, int64_t hi)
{
	for (uint32_t i = log->pending_count; i-- > 0;)
		if (log->pending[i].base_offset >= lo && log->pending[i].base_offset < hi)
			pending_remove_at(log, i);
}

/* ---------------------------------------------------------------- sync sets */

/*
 * Dups of the files one sync covers: the oldest pending segments and maybe
 * the active .log. Taken under the mutex, synced and closed outside it.
 */
struct sync_set {
	uint32_t count;
	uint64_t ids[ELOG_PARTLOG_PENDING_MAX];
	int64_t bases[ELOG_PARTLOG_PENDING_MAX];
	int fds[ELOG_PARTLOG_PENDING_MAX][3];
	int active_fd; /* -1 when the active segment is not part of it */
};

/* Close the dups; count and ids stay, for sync_set_forget. */
static void sync_set_close(struct sync_set *set)
{
	for (uint32_t i = 0; i < set->count; i++)
		for (int k = 0; k < 3; k++)
			if (set->fds[i][k] >= 0) {
				close(set->fds[i][k]);
				set->fds[i][k] = -1;
			}
	if (set->active_fd >= 0)
		close(set->active_fd);
	set->active_fd = -1;
}

/* Dup the fds of up to max pending segments (and the active .log); mutex held. */
static int sync_set_take(struct elog_partlog *log, struct sync_set *set, uint32_t max,
			 int with_active, struct elog_err *err)
{
	int failed = 0;

	set->count = 0;
	set->active_fd = -1;
	for (uint32_t i = 0; i < log->pending_count && i < max && !failed; i++) {
		set->ids[i] = log->pending[i].id;
		set->bases[i] = log->pending[i].base_offset;
		for (int k = 0; k < 3; k++) {
			set->fds[i][k] = dup(log->pending[i].fds[k]);
			if (set->fds[i][k] < 0 && !failed)
				failed = errno;
		}
		set->count++;
	}
	if (with_active && !failed) {
		set->active_fd = dup(log->active_fd);
		if (set->active_fd < 0)
			failed = errno;
	}
	if (!failed)
		return 0;
	sync_set_close(set);
	return elog_err_errno(err, ELOG_E_IO, failed, "%s: cannot flush", log->dir);
}

/* fdatasync everything in the set, then close it; the first failure is reported. */
static int sync_set_sync(struct elog_partlog *log, struct sync_set *set, struct elog_err *err)
{
	char name[32];
	int rc = 0;

	for (uint32_t i = 0; i < set->count && rc == 0; i++)
		for (int k = 0; k < 3 && rc == 0; k++)
			if (fdatasync(set->fds[i][k]) < 0) {
				elog_segment_name(name, sizeof(name), set->bases[i], pending_exts[k]);
				rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: %s: cannot sync",
						    log->dir, name);
			}
	if (rc == 0 && set->active_fd >= 0 && fdatasync(set->active_fd) < 0)
		rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync segment", log->dir);
	sync_set_close(set);
	return rc;
}

/* Take the synced segments off the list (a truncation may have taken some already). */
static void sync_set_forget(struct elog_partlog *log, const uint64_t *ids, uint32_t count)
{
	pthread_mutex_lock(&log->mutex);
	for (uint32_t i = log->pending_count; i-- > 0;)
		for (uint32_t j = 0; j < count; j++)
			if (log->pending[i].id == ids[j]) {
				pending_remove_at(log, i);
				break;
			}
	pthread_mutex_unlock(&log->mutex);
}

int elog_partlog_pending_sync(struct elog_partlog *log, uint32_t max_entries,
			      struct elog_err *err)
{
	struct sync_set set;
	int rc;

	pthread_mutex_lock(&log->mutex);
	rc = sync_set_take(log, &set, max_entries, 0, err);
	pthread_mutex_unlock(&log->mutex);
	if (rc < 0)
		return -1;
	if (set.count == 0)
		return 0;
	if (sync_set_sync(log, &set, err) < 0)
		return elog_partlog_fail(log, err);
	sync_set_forget(log, set.ids, set.count);
	return 0;
}

int elog_partlog_pending_reserve(struct elog_partlog *log, struct elog_err *err)
{
	int full;

	pthread_mutex_lock(&log->mutex);
	full = log->pending_count >= ELOG_PARTLOG_PENDING_MAX;
	pthread_mutex_unlock(&log->mutex);
	return full ? elog_partlog_pending_sync(log, 1, err) : 0;
}

/* ---------------------------------------------------------------- flush */

void elog_partlog_flushed_raise(struct elog_partlog *log, int64_t offset, uint64_t generation)
{
	pthread_mutex_lock(&log->mutex);
	/* A truncation since `generation` may have cut what the sync covered. */
	if (log->generation == generation) {
		offset = pending_floor(log, offset);
		if (offset > atomic_load(&log->flushed_offset))
			atomic_store(&log->flushed_offset, offset);
	}
	pthread_mutex_unlock(&log->mutex);
}

/*
 * After a flush synced every segment before active_base (as of its
 * snapshot), move the recovery point up to it, unless a truncation came
 * in between or a segment before it is still pending. No room for the
 * new recovery.point is not an error: the point stays lower, which only
 * makes the next open validate the segments above it batch by batch, and
 * the next flush tries again.
 */
static int rp_advance(struct elog_partlog *log, int64_t active_base, uint64_t generation,
		      struct elog_err *err)
{
	int64_t to;
	int same, rc = 0;

	if (atomic_load(&log->rp_offset) >= active_base)
		return 0;
	pthread_mutex_lock(&log->rp_mutex);
	pthread_mutex_lock(&log->mutex);
	same = log->generation == generation;
	to = pending_floor(log, active_base);
	pthread_mutex_unlock(&log->mutex);
	/* The durable end stays only while it lies in a segment at or past the point. */
	if (same && to > atomic_load(&log->rp_offset) &&
	    elog_partlog_rp_store(log, to, log->durable.base >= to ? &log->durable : NULL, 1, err) < 0 &&
	    err->code != ELOG_E_NOSPACE)
		rc = elog_err_prefix(err, "%s", log->dir);
	pthread_mutex_unlock(&log->rp_mutex);
	return rc;
}

/* fsync the directory if rolls created files since the last one did; count them synced. */
static int flush_dir(struct elog_partlog *log, uint64_t rolls, struct elog_err *err)
{
	if (fsync(log->dir_fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync directory", log->dir);
	pthread_mutex_lock(&log->mutex);
	if (rolls > log->dir_rolls_synced)
		log->dir_rolls_synced = rolls;
	pthread_mutex_unlock(&log->mutex);
	return 0;
}

/*
 * Sync the pending closed segments, the active one and the directory, then
 * advance the recovery point, and only then raise flushed_offset: an
 * acknowledgement that waits for flushed_offset never covers data open
 * would cut.
 */
int elog_partlog_flush(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_err local;
	struct sync_set set;
	int64_t target, active_base;
	uint64_t generation, rolls;
	int rc, active, dir;

	if (!err)
		err = &local; /* a failure must still record its reason */
	pthread_mutex_lock(&log->mutex);
	if (atomic_load(&log->failed)) {
		*err = log->failure;
		pthread_mutex_unlock(&log->mutex);
		return -1;
	}
	if (log->parked) {
		pthread_mutex_unlock(&log->mutex);
		return 0; /* parked only when clean, and writes reopen it first */
	}
	target = log->next_offset;
	generation = log->generation;
	active_base = log->active_base;
	active = target > atomic_load(&log->flushed_offset);
	rolls = log->dir_rolls;
	dir = rolls > log->dir_rolls_synced;
	if (!active && !dir && log->pending_count == 0 &&
	    atomic_load(&log->rp_offset) >= active_base) {
		pthread_mutex_unlock(&log->mutex);
		return 0; /* nothing written since the last flush */
	}
	rc = sync_set_take(log, &set, ELOG_PARTLOG_PENDING_MAX, active, err);
	pthread_mutex_unlock(&log->mutex);
	if (rc < 0)
		return -1;
	if (sync_set_sync(log, &set, err) < 0 || (dir && flush_dir(log, rolls, err) < 0))
		return elog_partlog_fail(log, err);
	sync_set_forget(log, set.ids, set.count);
	if (rp_advance(log, active_base, generation, err) < 0)
		return elog_partlog_fail(log, err);
	elog_partlog_flushed_raise(log, target, generation);
	return 0;
}

/* ---------------------------------------------------------------- recovery.point */

/*
 * recovery.point, one line of ASCII:
 *
 *   "elog-recovery-point " <offset> [" durable " <base> " " <bytes> " " <next>] " " <crc> "\n"
 *
 * Numbers are decimal; crc is the CRC-32C of the bytes before its space, as
 * 8 lowercase hex digits. The durable part (docs/format.md) is optional: a
 * line without it says nothing more than the point. Written whole through a
 * temporary file and a rename, so it is the old line or the new.
 */
int elog_partlog_rp_store(struct elog_partlog *log, int64_t offset,
			  const struct elog_partlog_durable *durable, int sync, struct elog_err *err)
{
	char text[ELOG_PARTLOG_RP_MAX];
	int n = snprintf(text, sizeof(text), "elog-recovery-point %" PRId64, offset);
	uint32_t crc;

	assert(offset >= 0);
	if (durable && durable->base >= 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " durable %" PRId64 " %" PRIu64
			      " %" PRId64, durable->base, durable->bytes, durable->next);
	crc = elog_crc32c(0, text, (size_t)n);
	n += snprintf(text + n, sizeof(text) - (size_t)n, " %08" PRIx32 "\n", crc);
	assert((size_t)n < sizeof(text));
	if (elog_partlog_replace_file_sync(log, ELOG_PARTLOG_RP_NAME, text, (size_t)n, sync, err) < 0)
		return -1;
	atomic_store(&log->rp_offset, offset);
	if (durable && durable->base >= 0)
		log->durable = *durable;
	else
		log->durable = (struct elog_partlog_durable){-1, 0, -1};
	return 0;
}

int elog_partlog_durable_record(struct elog_partlog *log, struct elog_err *err)
{
	const struct elog_partlog_segment *a = elog_partlog_active(log);
	struct elog_partlog_durable end = {a->base_offset, a->size, log->next_offset};
	int64_t rp = atomic_load(&log->rp_offset);
	int rc = 0;

	pthread_mutex_lock(&log->rp_mutex);
	/* No room: the file keeps an older durable end, a lower bound still. */
	if ((log->durable.base != end.base || log->durable.bytes != end.bytes ||
	     log->durable.next != end.next || rp != a->base_offset) &&
	    elog_partlog_rp_store(log, a->base_offset, &end, !log->config.hints_unsynced, err) < 0 &&
	    err->code != ELOG_E_NOSPACE)
		rc = -1;
	pthread_mutex_unlock(&log->rp_mutex);
	return rc;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A decimal number of at most INT64_MAX at buf[*i], which moves past it; -1 if none. */
static int rp_number(const char *buf, size_t len, size_t *i, int64_t *out)
{
	uint64_t v = 0;
	size_t start = *i;

	for (; *i < len && buf[*i] >= '0' && buf[*i] <= '9'; (*i)++) {
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(buf[*i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(buf[*i] - '0');
	}
	if (*i == start)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Parse the line; -1 with why set when it is not one or its crc is wrong. */
static int rp_parse(const char *buf, size_t len, int64_t *offset,
		    struct elog_partlog_durable *durable, struct elog_err *why)
{
	static const char magic[] = "elog-recovery-point ", word[] = " durable ";
	size_t i = sizeof(magic) - 1, end;
	int64_t base, bytes, next;
	uint32_t stored = 0, crc;

	durable->base = -1;
	if (len <= i || memcmp(buf, magic, i) != 0)
		return elog_err_set(why, ELOG_E_CORRUPT, "not a recovery point line");
	if (rp_number(buf, len, &i, offset) < 0)
		return elog_err_set(why, ELOG_E_CORRUPT, "offset missing or out of range");
	if (len - i > sizeof(word) - 1 && memcmp(buf + i, word, sizeof(word) - 1) == 0) {
		i += sizeof(word) - 1;
		if (rp_number(buf, len, &i, &base) < 0 || i >= len || buf[i++] != ' ' ||
		    rp_number(buf, len, &i, &bytes) < 0 || i >= len || buf[i++] != ' ' ||
		    rp_number(buf, len, &i, &next) < 0)
			return elog_err_set(why, ELOG_E_CORRUPT, "durable end unreadable");
		*durable = (struct elog_partlog_durable){base, (uint64_t)bytes, next};
	}
	end = i;
	if (len != end + 10 || buf[end] != ' ' || buf[len - 1] != '\n')
		return elog_err_set(why, ELOG_E_CORRUPT, "not a recovery point line");
	for (i = end + 1; i < end + 9; i++) {
		int d = hex_digit(buf[i]);
		if (d < 0)
			return elog_err_set(why, ELOG_E_CORRUPT, "not a recovery point line");
		stored = stored << 4 | (uint32_t)d;
	}
	crc = elog_crc32c(0, buf, end);
	if (crc != stored) {
		durable->base = -1;
		return elog_err_set(why, ELOG_E_CORRUPT, "crc %08" PRIx32 ", the line's bytes give %08"
				    PRIx32, stored, crc);
	}
	return 0;
}

int elog_partlog_rp_load(struct elog_partlog *log, int64_t *offset,
			 struct elog_partlog_durable *durable, struct elog_err *why)
{
	char buf[ELOG_PARTLOG_RP_MAX + 1];
	ssize_t n;
	int fd;

	*offset = 0;
	durable->base = -1;
	/* A write that crashed before its rename leaves this; the next write redoes it. */
	unlinkat(log->dir_fd, ELOG_PARTLOG_RP_NAME ".tmp", 0);
	fd = openat(log->dir_fd, ELOG_PARTLOG_RP_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return elog_err_errno(why, ELOG_E_IO, errno, ELOG_PARTLOG_RP_NAME ": cannot open");
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return elog_err_errno(why, ELOG_E_IO, errno, ELOG_PARTLOG_RP_NAME ": cannot read");
	if (rp_parse(buf, (size_t)n, offset, durable, why) < 0) {
		durable->base = -1;
		return elog_err_prefix(why, ELOG_PARTLOG_RP_NAME);
	}
	return 1;
}
