/* flusher — background fsync thread (group commit); see flusher.h. */
#include "flusher.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static void deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* One round: flush every registered log, with the mutex held (see flusher.h). */
static void flusher_round(struct elog_flusher *f)
{
	for (uint32_t i = 0; i < f->count; i++) {
		struct elog_err err;
		if (elog_partlog_flush(f->logs[i], &err) < 0)
			f->failures++;
	}
	f->rounds++;
}

static void *flusher_main(void *arg)
{
	struct elog_flusher *f = arg;
	struct timespec deadline;

	pthread_mutex_lock(&f->mutex);
	deadline_after(&deadline, f->interval_ms);
	while (!f->stopping) {
		int rc = pthread_cond_timedwait(&f->wake, &f->mutex, &deadline);
		if (f->stopping)
			break;
		if (rc != ETIMEDOUT)
			continue; /* spurious wake-up: keep the same deadline */
		/* The next deadline counts from the round's start, so rounds keep time. */
		deadline_after(&deadline, f->interval_ms);
		flusher_round(f);
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

int elog_flusher_register(struct elog_flusher *f, struct elog_partlog *log, struct elog_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&f->mutex);
	for (uint32_t i = 0; i < f->count && rc == 0; i++)
		if (f->logs[i] == log)
			rc = elog_err_set(err, ELOG_E_INVAL, "%s: already registered with the flusher",
					  elog_partlog_dir(log));
	if (rc == 0 && f->count == ELOG_FLUSHER_LOGS_MAX)
		rc = elog_err_set(err, ELOG_E_LIMIT, "%s: the flusher already has %d logs",
				  elog_partlog_dir(log), ELOG_FLUSHER_LOGS_MAX);
	if (rc == 0)
		f->logs[f->count++] = log;
	pthread_mutex_unlock(&f->mutex);
	return rc;
}

void elog_flusher_unregister(struct elog_flusher *f, struct elog_partlog *log)
{
	pthread_mutex_lock(&f->mutex);
	for (uint32_t i = 0; i < f->count; i++) {
		if (f->logs[i] == log) {
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
	uint64_t n;

	pthread_mutex_lock(&f->mutex);
	n = f->failures;
	pthread_mutex_unlock(&f->mutex);
	return n;
}
