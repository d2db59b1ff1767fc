/* flusher — background fsync thread (group commit); see flusher.h. */
#include "flusher.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

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

/* One round: flush every due log, with the mutex held (see flusher.h).
 * Returns the number of logs flushed. */
static uint32_t flusher_round(struct elog_flusher *f, int64_t now_ms, int all)
{
	uint32_t flushed = 0;

	for (uint32_t i = 0; i < f->count; i++) {
		struct elog_flusher_entry *e = &f->logs[i];
		struct elog_err err;
		if (!all && e->due_ms > now_ms)
			continue;
		/* The next due time counts from the round's start, so logs keep time. */
		e->due_ms = now_ms + e->interval_ms;
		/* A failed log stays failed: counted once, then left alone. */
		if (elog_partlog_failed(e->log, NULL))
			continue;
		if (elog_partlog_flush(e->log, &err) < 0)
			atomic_fetch_add(&f->failures, 1);
		flushed++;
	}
	f->rounds++;
	return flushed;
}

/* The earliest due time, or now + interval_ms with no logs. */
static int64_t next_due(const struct elog_flusher *f, int64_t now_ms)
{
	int64_t due = now_ms + f->interval_ms;

	for (uint32_t i = 0; i < f->count; i++)
		if (f->logs[i].due_ms < due)
			due = f->logs[i].due_ms;
	return due;
}

static void *flusher_main(void *arg)
{
	struct elog_flusher *f = arg;
	struct timespec deadline;

	pthread_mutex_lock(&f->mutex);
	while (!f->stopping) {
		int64_t now = monotonic_ms(), due = next_due(f, now);
		int kicked = atomic_exchange(&f->kick_pending, 0);
		uint32_t flushed;
		if (due > now && !kicked) {
			timespec_at(&deadline, due);
			/* Woken early by register/kick/stop, or on time: look again. */
			pthread_cond_timedwait(&f->wake, &f->mutex, &deadline);
			continue;
		}
		flushed = flusher_round(f, now, kicked);
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

int elog_flusher_start(struct elog_flusher *f, int64_t interval_ms, struct elog_err *err)
{
	pthread_condattr_t attr;
	int rc;

	memset(f, 0, sizeof(*f));
	if (interval_ms <= 0)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %lld ms is not positive",
				    (long long)interval_ms);
	f->interval_ms = interval_ms;
	pthread_mutex_init(&f->mutex, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&f->thread, NULL, flusher_main, f);
	if (rc != 0) {
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->mutex);
		return elog_err_errno(err, ELOG_E_IO, rc, "cannot start the flusher thread");
	}
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
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->mutex);
	f->running = 0;
	f->count = 0;
}

void elog_flusher_set_notify(struct elog_flusher *f, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&f->mutex);
	f->notify = fn;
	f->notify_ctx = ctx;
	pthread_mutex_unlock(&f->mutex);
}

int elog_flusher_register_every(struct elog_flusher *f, struct elog_partlog *log,
				int64_t interval_ms, struct elog_err *err)
{
	int rc = 0;

	if (interval_ms <= 0)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %lld ms is not positive",
				    (long long)interval_ms);
	pthread_mutex_lock(&f->mutex);
	for (uint32_t i = 0; i < f->count && rc == 0; i++)
		if (f->logs[i].log == log)
			rc = elog_err_set(err, ELOG_E_INVAL, "%s: already registered with the flusher",
					  elog_partlog_dir(log));
	if (rc == 0 && f->count == ELOG_FLUSHER_LOGS_MAX)
		rc = elog_err_set(err, ELOG_E_LIMIT, "%s: the flusher already has %d logs",
				  elog_partlog_dir(log), ELOG_FLUSHER_LOGS_MAX);
	if (rc == 0) {
		f->logs[f->count++] = (struct elog_flusher_entry){
			log, interval_ms, monotonic_ms() + interval_ms};
		pthread_cond_signal(&f->wake);
	}
	pthread_mutex_unlock(&f->mutex);
	return rc;
}

int elog_flusher_register(struct elog_flusher *f, struct elog_partlog *log, struct elog_err *err)
{
	return elog_flusher_register_every(f, log, f->interval_ms, err);
}

void elog_flusher_kick(struct elog_flusher *f)
{
	atomic_store(&f->kick_pending, 1);
	/* Busy: the thread is in a round (or about to sleep) and reads the flag. */
	if (pthread_mutex_trylock(&f->mutex) == 0) {
		pthread_cond_signal(&f->wake);
		pthread_mutex_unlock(&f->mutex);
	}
}

void elog_flusher_unregister(struct elog_flusher *f, struct elog_partlog *log)
{
	pthread_mutex_lock(&f->mutex);
	for (uint32_t i = 0; i < f->count; i++) {
		if (f->logs[i].log == log) {
			f->logs[i] = f->logs[--f->count];
			break;
		}
	}
	pthread_mutex_unlock(&f->mutex);
}

uint64_t elog_flusher_rounds(struct elog_flusher *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->mutex);
	n = f->rounds;
	pthread_mutex_unlock(&f->mutex);
	return n;
}

uint64_t elog_flusher_failures(struct elog_flusher *f)
{
	return atomic_load(&f->failures);
}
