/*
 * flusher — the background fsync thread behind ELOG_FLUSH_INTERVAL.
 *
 * One pthread wakes every interval_ms and calls elog_partlog_flush on each
 * registered log in turn: every append since the previous round becomes
 * durable with one fdatasync per log, however many appends there were
 * (group commit). Appends do not wait for it; flushed_offset tells the
 * owner (and acks=all) how far durability has reached.
 *
 * Each log has its own interval (elog_flusher_register_every; plain
 * _register uses the flusher's interval_ms) and is flushed when it is due;
 * the thread sleeps until the earliest due log. elog_flusher_kick asks for
 * a round of every log now (a log with nothing unflushed costs nothing):
 * the broker kicks when an acks=all produce waits, so a waiting producer
 * gets its fsync in about one fsync's time while every append that arrived
 * meanwhile still shares that one fsync. Kicking never blocks on a round in
 * progress (it sets a flag the thread reads before it sleeps again; a kick
 * that races with the thread going to sleep is served at the next due time
 * at the latest).
 *
 * An optional notify callback (elog_flusher_set_notify, after _start and before any log is
 * registered) runs on the flusher thread after every round that flushed
 * at least one log, without the mutex held: the broker uses it to wake its
 * event loop, which then answers the acks=all requests whose offsets are
 * now below flushed_offset. It must be quick and must not call back into
 * the flusher.
 *
 * The set of logs is a fixed array of ELOG_FLUSHER_LOGS_MAX entries;
 * registering more fails with ELOG_E_LIMIT. A round holds the flusher's
 * mutex while it flushes, so when elog_flusher_unregister returns the thread
 * no longer touches that log and the owner may close it. A flush that fails
 * leaves the log failed (see partlog.h); the flusher counts it, skips that
 * log from then on, and carries on with the others. The owner learns of it
 * from elog_flusher_failures, which never waits for a round in progress
 * (the broker then logs the failed partition, once).
 *
 * Calling sequence:
 *   elog_flusher_start(&f, interval_ms, err)
 *   elog_flusher_register(&f, log, err) ... elog_flusher_unregister(&f, log)
 *   elog_flusher_stop(&f)         joins the thread; every log must be
 *                                 unregistered or still open until then
 */
#ifndef ELOG_FLUSHER_H
#define ELOG_FLUSHER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "err.h"
#include "partlog.h"

#define ELOG_FLUSHER_LOGS_MAX 4096

struct elog_flusher_entry {
	struct elog_partlog *log;
	int64_t interval_ms;
	int64_t due_ms;         /* CLOCK_MONOTONIC ms */
};

struct elog_flusher {
	pthread_t thread;
	pthread_mutex_t mutex;  /* guards everything below */
	pthread_cond_t wake;    /* signalled by stop, register and kick */
	int64_t interval_ms;    /* for elog_flusher_register */
	int running, stopping;
	uint32_t count;
	struct elog_flusher_entry logs[ELOG_FLUSHER_LOGS_MAX];
	_Atomic int kick_pending;
	void (*notify)(void *ctx);
	void *notify_ctx;
	uint64_t rounds;        /* completed rounds, for tests and metrics */
	_Atomic uint64_t failures; /* flushes that failed (a log once: it is then
	                              skipped); read without the mutex */
};

/* Start the thread; interval_ms > 0. */
int elog_flusher_start(struct elog_flusher *f, int64_t interval_ms, struct elog_err *err);
/* Stop and join the thread (a last round is not run). Safe on a stopped flusher. */
void elog_flusher_stop(struct elog_flusher *f);

/* Add a log (ELOG_E_LIMIT when full, ELOG_E_INVAL if already there). */
int elog_flusher_register(struct elog_flusher *f, struct elog_partlog *log, struct elog_err *err);
/* Add a log flushed every interval_ms (> 0) instead of the flusher's interval. */
int elog_flusher_register_every(struct elog_flusher *f, struct elog_partlog *log,
				int64_t interval_ms, struct elog_err *err);
/* Ask for a round of every log now; never blocks on a running round. */
void elog_flusher_kick(struct elog_flusher *f);
/* Set the after-round callback; call after _start, before registering logs. */
void elog_flusher_set_notify(struct elog_flusher *f, void (*fn)(void *ctx), void *ctx);
/* Remove a log; after this returns the flusher no longer uses it. Absent: no-op. */
void elog_flusher_unregister(struct elog_flusher *f, struct elog_partlog *log);

/* Completed rounds, read under the mutex (so it waits for a round in progress). */
uint64_t elog_flusher_rounds(struct elog_flusher *f);
/* Failed flushes so far; never blocks. */
uint64_t elog_flusher_failures(struct elog_flusher *f);

#endif
