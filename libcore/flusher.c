/* flusher — background fsync thread (group commit); see flusher.h. */
#include "flusher.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timespec_at(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* ---------------------------------------------------------------- lists (mutex held) */

static void dirty_unlink(struct elog_flusher *f, struct elog_flusher_log *e)
{
	assert(e->on_dirty);
	if (e->dirty_prev)
		e->dirty_prev->dirty_next = e->dirty_next;
	else
		f->dirty = e->dirty_next;
	if (e->dirty_next)
		e->dirty_next->dirty_prev = e->dirty_prev;
	e->dirty_prev = e->dirty_next = NULL;
	e->on_dirty = 0;
	f->dirty_count--;
}

static void dirty_push(struct elog_flusher *f, struct elog_flusher_log *e)
{
	assert(!e->on_dirty);
	e->dirty_prev = NULL;
	e->dirty_next = f->dirty;
	if (f->dirty)
		f->dirty->dirty_prev = e;
	f->dirty = e;
	e->on_dirty = 1;
	f->dirty_count++;
}

static void moved_push(struct elog_flusher *f, struct elog_flusher_log *e)
{
	if (e->on_moved)
		return;
	e->moved_prev = NULL;
	e->moved_next = f->moved;
	if (f->moved)
		f->moved->moved_prev = e;
	f->moved = e;
	e->on_moved = 1;
}

static void moved_unlink(struct elog_flusher *f, struct elog_flusher_log *e)
{
	assert(e->on_moved);
	if (e->moved_prev)
		e->moved_prev->moved_next = e->moved_next;
	else
		f->moved = e->moved_next;
	if (e->moved_next)
		e->moved_next->moved_prev = e->moved_prev;
	e->moved_prev = e->moved_next = NULL;
	e->on_moved = 0;
}

/* ---------------------------------------------------------------- rounds */

/*
 * Take the due dirty logs (every dirty log when kicked) off the dirty list
 * into a round; their dirty flags are cleared before their flushes read
 * next_offset, so an append after that puts them back on the list.
 * *next_due gets the earliest due time of the logs left.
 */
static struct elog_flusher_log *round_collect(struct elog_flusher *f, int64_t now_ms, int all,
					      int64_t *next_due)
{
	struct elog_flusher_log *round = NULL, *e, *next;

	*next_due = INT64_MAX;
	for (e = f->dirty; e; e = next) {
		next = e->dirty_next;
		if (!all && e->due_ms > now_ms) {
			if (e->due_ms < *next_due)
				*next_due = e->due_ms;
			continue;
		}
		dirty_unlink(f, e);
		atomic_store(&e->dirty, 0);
		e->in_round = 1;
		e->round_next = round;
		round = e;
	}
	return round;
}

/*
 * Flush the logs of a round, without the mutex (each is marked in_round, so
 * _remove waits for it); round_moved says whose flushed offset moved.
 * Returns the number of flushes.
 */
static uint32_t round_flush(struct elog_flusher *f, struct elog_flusher_log *round)
{
	uint32_t flushed = 0;

	for (struct elog_flusher_log *e = round; e; e = e->round_next) {
		int64_t before = elog_partlog_flushed_offset(e->log);
		struct elog_err err;
		/* A failed log stays failed: counted once, then left alone. */
		if (!elog_partlog_failed(e->log, NULL)) {
			if (elog_partlog_flush(e->log, &err) < 0)
				atomic_fetch_add(&f->failures, 1);
			flushed++;
		}
		e->round_moved = elog_partlog_flushed_offset(e->log) != before;
	}
	return flushed;
}

/* Back under the mutex: the moved logs on the moved list, the round over. */
static void round_finish(struct elog_flusher *f, struct elog_flusher_log *round, uint32_t flushed)
{
	for (struct elog_flusher_log *e = round, *next; e; e = next) {
		next = e->round_next;
		e->round_next = NULL;
		if (e->round_moved)
			moved_push(f, e);
		e->in_round = 0;
	}
	f->rounds++;
	f->flushes += flushed;
	pthread_cond_broadcast(&f->idle);
}

/* Close the queued fds without the mutex (a close may free a big file's blocks). */
static void close_pending(struct elog_flusher *f)
{
	uint32_t n = f->close_count;
	int fds[64];

	if (n > 64)
		n = 64;
	f->close_count -= n;
	memcpy(fds, f->closes + f->close_count, n * sizeof(*fds));
	pthread_mutex_unlock(&f->mutex);
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	pthread_mutex_lock(&f->mutex);
	f->closed += n;
}

static void *flusher_main(void *arg)
{
	struct elog_flusher *f = arg;
	struct timespec deadline;

	pthread_mutex_lock(&f->mutex);
	while (!f->stopping) {
		int64_t now, next_due;
		if (f->close_count > 0) {
			close_pending(f);
			continue;
		}
		now = monotonic_ms();
		int kicked = atomic_exchange(&f->kick_pending, 0);
		struct elog_flusher_log *round = round_collect(f, now, kicked, &next_due);
		uint32_t flushed;
		if (!round) {
			/* Kicks and dirty logs take the mutex: none is missed while asleep. */
			f->sleep_until_ms = next_due < now + f->interval_ms ? next_due
									   : now + f->interval_ms;
			timespec_at(&deadline, f->sleep_until_ms);
			pthread_cond_timedwait(&f->wake, &f->mutex, &deadline);
			f->sleep_until_ms = INT64_MIN;
			continue;
		}
		pthread_mutex_unlock(&f->mutex);
		flushed = round_flush(f, round);
		pthread_mutex_lock(&f->mutex);
		round_finish(f, round, flushed);
		if (flushed > 0 && f->notify) {
			void (*fn)(void *) = f->notify;
			void *ctx = f->notify_ctx;
			pthread_mutex_unlock(&f->mutex);
			fn(ctx);
			pthread_mutex_lock(&f->mutex);
		}
	}
	pthread_mutex_unlock(&f->mutex);
	return NULL;
}

/* ---------------------------------------------------------------- start, stop */

int elog_flusher_start(struct elog_flusher *f, int64_t interval_ms, struct elog_err *err)
{
	pthread_condattr_t attr;
	int rc;

	memset(f, 0, sizeof(*f));
	if (interval_ms <= 0)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %lld ms is not positive",
				    (long long)interval_ms);
	f->interval_ms = interval_ms;
	f->sleep_until_ms = INT64_MIN;
	atomic_init(&f->kick_pending, 0);
	atomic_init(&f->failures, 0);
	pthread_mutex_init(&f->mutex, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &attr);
	pthread_cond_init(&f->idle, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&f->thread, NULL, flusher_main, f);
	if (rc != 0) {
		pthread_cond_destroy(&f->wake);
		pthread_cond_destroy(&f->idle);
		pthread_mutex_destroy(&f->mutex);
		return elog_err_errno(err, ELOG_E_IO, rc, "cannot start the flusher thread");
	}
	/* Named, so that tools (and tests/tools/elog-threadhold) can find it. */
	pthread_setname_np(f->thread, "elog-flusher");
	f->running = 1;
	return 0;
}

void elog_flusher_stop(struct elog_flusher *f)
{
	if (!f->running)
		return;
	pthread_mutex_lock(&f->mutex);
	f->stopping = 1;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mutex);
	pthread_join(f->thread, NULL);
	while (f->all) {
		struct elog_flusher_log *e = f->all;
		f->all = e->all_next;
		free(e);
	}
	free(f->drain);
	f->drain = NULL;
	f->drain_cap = 0;
	for (uint32_t i = 0; i < f->close_count; i++)
		close(f->closes[i]);
	free(f->closes);
	f->closes = NULL;
	f->close_count = f->close_cap = 0;
	f->dirty = f->moved = NULL;
	f->count = f->dirty_count = 0;
	pthread_cond_destroy(&f->wake);
	pthread_cond_destroy(&f->idle);
	pthread_mutex_destroy(&f->mutex);
	f->running = 0;
}

void elog_flusher_set_notify(struct elog_flusher *f, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&f->mutex);
	f->notify = fn;
	f->notify_ctx = ctx;
	pthread_mutex_unlock(&f->mutex);
}

/* ---------------------------------------------------------------- registrations */

int elog_flusher_add(struct elog_flusher *f, struct elog_partlog *log, int64_t interval_ms,
		     void *owner, struct elog_flusher_log **out, struct elog_err *err)
{
	struct elog_flusher_log *e;

	*out = NULL;
	if (interval_ms < 0)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %lld ms is negative",
				    (long long)interval_ms);
	e = calloc(1, sizeof(*e));
	if (!e)
		return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory for the flusher",
				    elog_partlog_dir(log));
	e->log = log;
	e->owner = owner;
	e->interval_ms = interval_ms;
	atomic_init(&e->dirty, 0);
	pthread_mutex_lock(&f->mutex);
	e->all_next = f->all;
	if (f->all)
		f->all->all_prev = e;
	f->all = e;
	f->count++;
	pthread_mutex_unlock(&f->mutex);
	*out = e;
	return 0;
}

void elog_flusher_remove(struct elog_flusher *f, struct elog_flusher_log *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&f->mutex);
	while (e->in_round)
		pthread_cond_wait(&f->idle, &f->mutex);
	if (e->on_dirty)
		dirty_unlink(f, e);
	if (e->on_moved)
		moved_unlink(f, e);
	if (e->all_prev)
		e->all_prev->all_next = e->all_next;
	else
		f->all = e->all_next;
	if (e->all_next)
		e->all_next->all_prev = e->all_prev;
	f->count--;
	pthread_mutex_unlock(&f->mutex);
	free(e);
}

void elog_flusher_dirty(struct elog_flusher *f, struct elog_flusher_log *e)
{
	/* Already on the list (or being put there): nothing to do, no lock. */
	if (atomic_load(&e->dirty) || atomic_exchange(&e->dirty, 1))
		return;
	pthread_mutex_lock(&f->mutex);
	if (!e->on_dirty) {
		e->due_ms = e->interval_ms > 0 ? monotonic_ms() + e->interval_ms : 0;
		dirty_push(f, e);
		/* flush=always waits for the owner's kick; an interval may need an earlier wake-up. */
		if (e->interval_ms > 0 && e->due_ms < f->sleep_until_ms)
			pthread_cond_signal(&f->wake);
	}
	pthread_mutex_unlock(&f->mutex);
}

void elog_flusher_kick(struct elog_flusher *f)
{
	/* The mutex is never held across a flush, so this waits for list work at most. */
	pthread_mutex_lock(&f->mutex);
	atomic_store(&f->kick_pending, 1);
	if (f->sleep_until_ms != INT64_MIN)
		pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mutex);
}

uint32_t elog_flusher_moved(struct elog_flusher *f,
			    void (*fn)(void *ctx, void *owner, struct elog_partlog *log),
			    void *ctx)
{
	uint32_t n = 0;

	pthread_mutex_lock(&f->mutex);
	if (!f->moved) {
		pthread_mutex_unlock(&f->mutex);
		return 0;
	}
	/* Copied out, so fn runs without the mutex while the thread goes on. */
	if (f->drain_cap < f->count) {
		uint32_t cap = f->count + f->count / 2 + 16;
		struct elog_flusher_log **d = realloc(f->drain, cap * sizeof(*d));
		if (!d) {
			pthread_mutex_unlock(&f->mutex);
			return 0;
		}
		f->drain = d;
		f->drain_cap = cap;
	}
	while (f->moved) {
		struct elog_flusher_log *e = f->moved;
		assert(n < f->drain_cap);
		moved_unlink(f, e);
		f->drain[n++] = e;
	}
	pthread_mutex_unlock(&f->mutex);
	for (uint32_t i = 0; i < n; i++)
		fn(ctx, f->drain[i]->owner, f->drain[i]->log);
	return n;
}

void elog_flusher_close_later(struct elog_flusher *f, int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&f->mutex);
	if (f->close_count == f->close_cap) {
		uint32_t cap = f->close_cap ? f->close_cap * 2 : 16;
		int *c = realloc(f->closes, cap * sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&f->mutex);
			close(fd);
			return;
		}
		f->closes = c;
		f->close_cap = cap;
	}
	f->closes[f->close_count++] = fd;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mutex);
}

uint64_t elog_flusher_closed(struct elog_flusher *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->mutex);
	n = f->closed;
	pthread_mutex_unlock(&f->mutex);
	return n;
}

uint64_t elog_flusher_rounds(struct elog_flusher *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->mutex);
	n = f->rounds;
	pthread_mutex_unlock(&f->mutex);
	return n;
}

uint64_t elog_flusher_flushes(struct elog_flusher *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->mutex);
	n = f->flushes;
	pthread_mutex_unlock(&f->mutex);
	return n;
}

uint64_t elog_flusher_failures(struct elog_flusher *f)
{
	return atomic_load(&f->failures);
}
