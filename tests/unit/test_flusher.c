/*
 * Unit tests: flusher — under ELOG_FLUSH_INTERVAL the background thread
 * brings flushed_offset up to next_offset, also while appends and
 * truncations run concurrently; flush=always with sync_deferred: appends
 * (and rolls) return unsynced and a round syncs them; only dirty logs are
 * visited, however many are registered; the moved list names the logs
 * whose flushed offset moved; stop joins; a failed flush counted once, the
 * failed log left alone afterwards.
 * Waiting is a poll loop with a deadline, never a bare sleep.
 */
#include "t.h"
#include "batch.h"
#include "flusher.h"
#include "partlog.h"
#include "partlog_int.h"
#include "segment.h" /* test_failure_counted_once swaps a segment's descriptor */

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll until the log's flushed offset reaches its next offset; 0 on time. */
static int wait_flushed(struct elog_partlog *log, int64_t deadline_ms)
{
	const struct timespec tick = {0, 1000000};

	while (elog_partlog_flushed_offset(log) < elog_partlog_next_offset(log)) {
		if (monotonic_ms() > deadline_ms)
			return -1;
		nanosleep(&tick, NULL);
	}
	return 0;
}

static int append_one(struct elog_partlog *log, uint32_t n, struct elog_err *err)
{
	struct elog_batch_builder b;
	const uint8_t *out;
	uint8_t *copy;
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {1000 + i, NULL, -1, (const uint8_t *)"value", 5, NULL, 0};
		if (elog_batch_builder_add(&b, &r, err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, &len, err) < 0)
		goto out;
	copy = malloc(len);
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, 1, NULL, err);
	free(copy);
out:
	elog_batch_builder_release(&b);
	return rc;
}

/* A log's registration, for the partlog's `written` callback. */
struct reg {
	struct elog_flusher *f;
	struct elog_flusher_log *r;
};

static void written(void *ctx)
{
	struct reg *g = ctx;

	if (g->r)
		elog_flusher_dirty(g->f, g->r);
}

static void config_interval(struct elog_partlog_config *c, struct reg *g)
{
	elog_partlog_config_default(c);
	c->segment_bytes = 8192;
	c->flush = ELOG_FLUSH_INTERVAL;
	c->flush_interval_ms = 5;
	c->written = written;
	c->written_ctx = g;
}

static void test_interval_catches_up(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_flusher f;
	struct elog_err err;
	struct reg g = {&f, NULL};

	config_interval(&c, &g);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_flusher_start(&f, 1000, &err), &err);
	T_OK(elog_flusher_add(&f, log, c.flush_interval_ms, NULL, &g.r, &err), &err);
	for (int i = 0; i < 50; i++)
		T_OK(append_one(log, 3, &err), &err);
	/* appends do not wait for the disk: nothing forces flushed up yet */
	T_CHECK(elog_partlog_flushed_offset(log) <= elog_partlog_next_offset(log));
	T_CHECK(wait_flushed(log, monotonic_ms() + 10000) == 0);
	T_EQ_INT(elog_partlog_flushed_offset(log), 150);
	T_CHECK(elog_flusher_rounds(&f) > 0);
	T_EQ_INT(elog_flusher_failures(&f), 0);
	elog_flusher_remove(&f, g.r);
	elog_flusher_stop(&f);
	elog_partlog_close(log);
}

/* Appends, rolls and truncations racing with a 1 ms flusher keep flushed <= next. */
static void test_concurrent_appends_and_truncates(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c[2];
	struct elog_partlog *logs[2];
	struct elog_flusher f;
	struct elog_err err;
	struct reg g[2] = {{&f, NULL}, {&f, NULL}};

	T_OK(elog_flusher_start(&f, 1, &err), &err);
	for (int k = 0; k < 2; k++) {
		char sub[4200];
		config_interval(&c[k], &g[k]);
		c[k].segment_bytes = 2048;
		c[k].flush_interval_ms = 1;
		if (k == 1) { /* the other one as the broker opens flush=always */
			c[k].flush = ELOG_FLUSH_ALWAYS;
			c[k].sync_deferred = 1;
		}
		if (snprintf(sub, sizeof(sub), "%s/p%d", dir, k) >= (int)sizeof(sub))
			abort();
		T_OK(elog_partlog_open(sub, &c[k], &logs[k], NULL, &err), &err);
		T_OK(elog_flusher_add(&f, logs[k], k == 1 ? 0 : 1, NULL, &g[k].r, &err), &err);
	}
	for (int i = 0; i < 400; i++) {
		struct elog_partlog *log = logs[i % 2];
		int64_t last_base = elog_partlog_next_offset(log), flushed;
		T_OK(append_one(log, (uint32_t)(i % 4) + 1, &err), &err);
		if (i % 7 == 0)
			elog_flusher_kick(&f);
		if (i % 37 == 36) /* cut the batch just written */
			T_OK(elog_partlog_truncate(log, last_base, &err), &err);
		flushed = elog_partlog_flushed_offset(log);
		T_ASSERT(flushed <= elog_partlog_next_offset(log));
	}
	elog_flusher_kick(&f);
	for (int k = 0; k < 2; k++) {
		T_CHECK(wait_flushed(logs[k], monotonic_ms() + 10000) == 0);
		elog_flusher_remove(&f, g[k].r);
		elog_partlog_close(logs[k]);
	}
	elog_flusher_stop(&f);
}

/*
 * No limit on registrations, and rounds cost nothing for idle logs: 30,000
 * stand-ins (never dirty, so never touched) beside one real log, kicked
 * rounds flush only the one that was written.
 */
static void test_many_idle_logs(void)
{
	enum { STAND_INS = 30000 };
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	static struct elog_flusher f;
	static char stand_in[STAND_INS];
	static struct elog_flusher_log *regs[STAND_INS];
	struct elog_err err;
	struct reg g = {&f, NULL};

	config_interval(&c, &g);
	c.flush_interval_ms = 3600 * 1000;
	T_CHECK(elog_flusher_start(&f, 0, &err) < 0 && err.code == ELOG_E_INVAL);
	T_OK(elog_flusher_start(&f, 3600 * 1000, &err), &err);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_CHECK(elog_flusher_add(&f, log, -1, NULL, &g.r, &err) < 0 && err.code == ELOG_E_INVAL);
	for (uint32_t i = 0; i < STAND_INS; i++)
		T_OK(elog_flusher_add(&f, (struct elog_partlog *)&stand_in[i], 3600 * 1000, NULL,
				      &regs[i], &err),
		     &err);
	T_OK(elog_flusher_add(&f, log, 3600 * 1000, NULL, &g.r, &err), &err);
	T_EQ_INT(f.count, STAND_INS + 1);
	for (int round = 0; round < 3; round++) {
		uint64_t rounds = elog_flusher_rounds(&f);
		T_OK(append_one(log, 2, &err), &err);
		elog_flusher_kick(&f);
		T_CHECK(wait_flushed(log, monotonic_ms() + 10000) == 0);
		for (int64_t deadline = monotonic_ms() + 10000;
		     elog_flusher_rounds(&f) == rounds && monotonic_ms() < deadline;)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	T_EQ_INT(elog_flusher_flushes(&f), 3);
	/* removal in any order, and NULL is a no-op */
	for (uint32_t i = 0; i < STAND_INS; i += 2)
		elog_flusher_remove(&f, regs[i]);
	for (uint32_t i = 1; i < STAND_INS; i += 2)
		elog_flusher_remove(&f, regs[i]);
	elog_flusher_remove(&f, NULL);
	T_EQ_INT(f.count, 1);
	/* stop joins at once, not at the end of the interval; frees what is left; twice is fine */
	{
		int64_t t0 = monotonic_ms();
		elog_flusher_stop(&f);
		T_CHECK(monotonic_ms() - t0 < 5000);
		elog_flusher_stop(&f);
	}
	elog_partlog_close(log);
}

static void notified(void *ctx)
{
	atomic_fetch_add((_Atomic int *)ctx, 1);
}

static void wait_calls(_Atomic int *calls, int want)
{
	int64_t deadline = monotonic_ms() + 10000;
	const struct timespec tick = {0, 1000000};

	while (atomic_load(calls) < want && monotonic_ms() < deadline)
		nanosleep(&tick, NULL);
}

/* A log on an hour's interval is flushed at once when kicked, and the
 * notify callback runs after that round. */
static void test_kick_and_notify(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	static struct elog_flusher f;
	static _Atomic int calls;
	struct elog_err err;
	struct reg g = {&f, NULL};

	config_interval(&c, &g);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_flusher_start(&f, 3600 * 1000, &err), &err);
	elog_flusher_set_notify(&f, notified, (void *)&calls);
	T_OK(elog_flusher_add(&f, log, 3600 * 1000, NULL, &g.r, &err), &err);
	T_OK(append_one(log, 4, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), 0);
	elog_flusher_kick(&f);
	T_CHECK(wait_flushed(log, monotonic_ms() + 10000) == 0);
	wait_calls(&calls, 1);
	T_CHECK(atomic_load(&calls) >= 1);
	elog_flusher_remove(&f, g.r);
	elog_flusher_stop(&f);
	elog_partlog_close(log);
}

struct seen {
	int count;
	void *owner;
	struct elog_partlog *log;
	int64_t flushed;
};

static void on_moved(void *ctx, void *owner, struct elog_partlog *log)
{
	struct seen *s = ctx;

	s->count++;
	s->owner = owner;
	s->log = log;
	s->flushed = elog_partlog_flushed_offset(log);
}

/*
 * flush=always as the broker opens it (sync_deferred): an append returns
 * with flushed_offset where it was, rolls included (no fsync on the
 * caller's thread); a kicked round moves it past every append, and the
 * moved list names that log (with its owner) once, the other log not.
 */
static void test_always_deferred(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log, *idle;
	static struct elog_flusher f;
	static _Atomic int calls;
	struct elog_err err;
	struct reg g = {&f, NULL}, gi = {&f, NULL};
	struct seen seen = {0};
	char sub[4200];
	int owner, owner_idle;

	config_interval(&c, &g);
	c.flush = ELOG_FLUSH_ALWAYS;
	c.sync_deferred = 1;
	c.segment_bytes = 1024; /* rolls among the appends */
	snprintf(sub, sizeof(sub), "%s/a", dir);
	T_OK(elog_partlog_open(sub, &c, &log, NULL, &err), &err);
	c.written_ctx = &gi;
	snprintf(sub, sizeof(sub), "%s/b", dir);
	T_OK(elog_partlog_open(sub, &c, &idle, NULL, &err), &err);
	T_OK(elog_flusher_start(&f, 3600 * 1000, &err), &err);
	elog_flusher_set_notify(&f, notified, (void *)&calls);
	T_OK(elog_flusher_add(&f, log, 0, &owner, &g.r, &err), &err);
	T_OK(elog_flusher_add(&f, idle, 0, &owner_idle, &gi.r, &err), &err);
	/* Asleep: an awake thread would sync them without a kick (group commit). */
	for (int64_t deadline = monotonic_ms() + 10000, asleep = 0; !asleep;) {
		pthread_mutex_lock(&f.mutex);
		asleep = f.sleep_until_ms != INT64_MIN;
		pthread_mutex_unlock(&f.mutex);
		T_ASSERT(asleep || monotonic_ms() < deadline);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	for (int i = 0; i < 30; i++)
		T_OK(append_one(log, 3, &err), &err);
	T_CHECK(elog_partlog_segment_count(log) > 1);
	T_EQ_INT(elog_partlog_next_offset(log), 90);
	T_EQ_INT(elog_partlog_flushed_offset(log), 0);
	T_EQ_INT(elog_flusher_moved(&f, on_moved, &seen), 0);
	elog_flusher_kick(&f);
	T_CHECK(wait_flushed(log, monotonic_ms() + 10000) == 0);
	wait_calls(&calls, 1);
	T_EQ_INT(elog_flusher_moved(&f, on_moved, &seen), 1);
	T_EQ_INT(seen.count, 1);
	T_CHECK(seen.owner == &owner && seen.log == log);
	T_EQ_INT(seen.flushed, 90);
	T_EQ_INT(elog_flusher_moved(&f, on_moved, &seen), 0);
	T_EQ_INT(elog_partlog_flushed_offset(idle), 0);
	T_EQ_INT(elog_flusher_failures(&f), 0);
	elog_flusher_remove(&f, g.r);
	elog_flusher_remove(&f, gi.r);
	elog_flusher_stop(&f);
	elog_partlog_close(log);
	elog_partlog_close(idle);
}

/*
 * A flush that fails (fdatasync on a descriptor that cannot be synced: the
 * segment's is swapped for a pipe) fails the log, counts once, and the log
 * is left alone from then on while the others are still flushed.
 */
static void test_failure_counted_once(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *bad, *good;
	struct elog_flusher f;
	struct elog_err err;
	const struct timespec tick = {0, 1000000};
	struct reg gb = {&f, NULL}, gg = {&f, NULL};
	char sub[4200];
	int pipe_fds[2];

	config_interval(&c, &gb);
	snprintf(sub, sizeof(sub), "%s/bad", dir);
	T_OK(elog_partlog_open(sub, &c, &bad, NULL, &err), &err);
	c.written_ctx = &gg;
	snprintf(sub, sizeof(sub), "%s/good", dir);
	T_OK(elog_partlog_open(sub, &c, &good, NULL, &err), &err);
	T_OK(append_one(bad, 2, &err), &err);
	T_ASSERT(pipe(pipe_fds) == 0);
	T_ASSERT(dup2(pipe_fds[0], bad->segments[0].fd) >= 0);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	T_OK(elog_flusher_start(&f, 1000, &err), &err);
	T_OK(elog_flusher_add(&f, bad, c.flush_interval_ms, NULL, &gb.r, &err), &err);
	T_OK(elog_flusher_add(&f, good, c.flush_interval_ms, NULL, &gg.r, &err), &err);
	elog_flusher_dirty(&f, gb.r); /* written before it was added */
	for (int64_t deadline = monotonic_ms() + 10000;
	     elog_flusher_failures(&f) == 0 && monotonic_ms() < deadline;)
		nanosleep(&tick, NULL);
	T_EQ_INT(elog_flusher_failures(&f), 1);
	T_CHECK(elog_partlog_failed(bad, &err) && strstr(err.msg, "cannot sync") != NULL);
	/* more rounds: the good log is flushed, the failed one not counted again */
	for (int i = 0; i < 5; i++) {
		T_OK(append_one(good, 3, &err), &err);
		elog_flusher_dirty(&f, gb.r);
		T_CHECK(wait_flushed(good, monotonic_ms() + 10000) == 0);
	}
	T_EQ_INT(elog_flusher_failures(&f), 1);
	elog_flusher_stop(&f);
	elog_partlog_close(bad);
	elog_partlog_close(good);
}

static void discard(void *ctx, int fd)
{
	elog_flusher_close_later(((struct reg *)ctx)->f, fd);
}

/* Open descriptors of this process. */
static int open_fd_count(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/*
 * Retention with a discard callback: the deleted segments' names are gone
 * when retain returns, their last fds are closed by the flusher thread,
 * and the directory's sync is left to the next flush (the log is dirty).
 */
static void test_retention_closes_off_thread(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	static struct elog_flusher f;
	struct elog_err err;
	struct reg g = {&f, NULL};
	uint32_t deleted = 0;
	int fds_before;

	config_interval(&c, &g);
	c.segment_bytes = 1024;
	c.retention_bytes = 2048;
	c.flush_interval_ms = 3600 * 1000;
	c.discard = discard;
	c.discard_ctx = &g;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_flusher_start(&f, 3600 * 1000, &err), &err);
	T_OK(elog_flusher_add(&f, log, 3600 * 1000, NULL, &g.r, &err), &err);
	for (int i = 0; i < 200; i++)
		T_OK(append_one(log, 3, &err), &err);
	elog_flusher_kick(&f);
	T_CHECK(wait_flushed(log, monotonic_ms() + 10000) == 0);
	T_CHECK(elog_partlog_segment_count(log) > 4);
	fds_before = open_fd_count();
	T_OK(elog_partlog_retain(log, 0, &deleted, &err), &err);
	T_CHECK(deleted > 0);
	{
		char name[32], path[4200];
		struct stat st;
		elog_segment_name(name, sizeof(name), 0, "log");
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		T_CHECK(stat(path, &st) < 0 && errno == ENOENT);
	}
	for (int64_t deadline = monotonic_ms() + 10000;
	     elog_flusher_closed(&f) < deleted && monotonic_ms() < deadline;)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	T_EQ_INT(elog_flusher_closed(&f), deleted);
	T_CHECK(open_fd_count() <= fds_before - (int)deleted);
	/* the directory sync waits for the next flush: the log is on the dirty list */
	T_CHECK(atomic_load(&g.r->dirty));
	elog_flusher_remove(&f, g.r);
	elog_flusher_stop(&f);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_interval_catches_up);
	T_RUN(test_concurrent_appends_and_truncates);
	T_RUN(test_kick_and_notify);
	T_RUN(test_many_idle_logs);
	T_RUN(test_always_deferred);
	T_RUN(test_retention_closes_off_thread);
	T_RUN(test_failure_counted_once);
	return t_finish();
}
