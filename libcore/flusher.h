/*
 * flusher — the background fsync thread (group commit) behind every
 * partition whose data must reach the disk: flush=interval, and
 * flush=always too, so that the event loop never waits for a disk.
 *
 * A log is added with elog_flusher_add and an interval: > 0 for
 * flush=interval (its unflushed data is synced at most that long after it
 * was written), 0 for flush=always (synced at the next round). The flusher
 * only ever visits logs with unflushed data: the owner calls
 * elog_flusher_dirty after writing to a log (the store does it from the
 * partlog's `written` callback), which puts the log on the dirty list the
 * first time (an atomic flag makes later calls free until the flusher has
 * taken the log off the list). A round takes the due logs off the dirty
 * list and calls elog_partlog_flush on each, without the flusher's mutex
 * held: one fdatasync per log however many appends it covers. So 30,000
 * idle logs cost nothing per round, and adding or removing a log is O(1).
 *
 * When rounds run:
 *   - elog_flusher_kick asks for a round of every dirty log now (never
 *     blocking: it sets a flag and signals if the thread sleeps). The broker
 *     kicks when a produce waits for its fsync (acks=all on an interval
 *     topic, acks=1 and acks=all on a flush=always topic).
 *   - After a round the thread looks at once for logs that became due
 *     meanwhile: flush=always logs written while a round ran are synced
 *     by the next round straight away, so under load fsyncs run back to
 *     back, each covering every append that arrived during the one
 *     before (group commit), and the loop only appends.
 *   - A flush=interval log becomes due interval_ms after it became dirty;
 *     elog_flusher_dirty signals the thread when that is earlier than it
 *     was going to wake. A flush=always log does not signal (the owner
 *     kicks once per batch of appends instead); the thread never sleeps
 *     longer than the flusher's interval_ms, so it is synced then at the
 *     latest even without a kick.
 *
 * Which logs' flushed offsets moved: every flush that raised a log's
 * elog_partlog_flushed_offset puts the log's registration on the moved list
 * (once, however many rounds pass) before the notify callback runs. The
 * owner thread drains it with elog_flusher_moved, which calls fn(ctx,
 * owner, log) for each such log, `owner` being what was given to
 * elog_flusher_add (the store gives its struct elog_partition): the way to
 * learn what became durable without scanning every partition (a cluster's
 * broker drains it after every round and feeds each moved log's durable
 * end to its Raft group; a broker alone re-checks its few produce waiters
 * after each round and does not drain it, which costs nothing: a log is on
 * the list once at most). fn
 * runs without the flusher's mutex and must not
 * call elog_flusher_remove; reading elog_partlog_flushed_offset there gives
 * at least the moved value.
 *
 * The notify callback (elog_flusher_set_notify, after _start, before any
 * log is added) runs on the flusher thread after every round that flushed
 * at least one log (also when a flush failed), without the mutex held: the
 * broker uses it to wake its event loop. It must be quick and must not
 * call back into the flusher.
 *
 * elog_flusher_remove waits for a round that is flushing that very log
 * (one fsync at most), then forgets it; when it returns the thread no longer
 * touches the log and the owner may close it. A flush that fails leaves the
 * log failed (see partlog.h); the flusher counts it and carries on with the
 * others. The owner learns of it from elog_flusher_failures, which never
 * waits (the broker then logs the failed partition, once).
 *
 * Deleting a big segment can take long on some filesystems: retention
 * unlinks its names on the loop (quick) and hands its last fd to
 * elog_flusher_close_later; the thread closes it, which is when the
 * file's blocks are freed.
 *
 * Threads: _add, _remove, _dirty, _kick, _moved and _close_later are called by the owner
 * thread (the event loop); the flusher thread runs the rounds. The mutex
 * guards the lists and is never held across a flush.
 *
 * Calling sequence:
 *   elog_flusher_start(&f, interval_ms, err)
 *   elog_flusher_add(&f, log, interval_ms, owner, &reg, err)
 *     ... elog_flusher_dirty(&f, reg) after writes, elog_flusher_kick(&f) ...
 *   elog_flusher_remove(&f, reg)
 *   elog_flusher_stop(&f)         joins the thread; frees registrations left
 */
#ifndef ELOG_FLUSHER_H
#define ELOG_FLUSHER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "err.h"
#include "partlog.h"

/* One registered log; allocated by _add, freed by _remove or _stop. */
struct elog_flusher_log {
	struct elog_partlog *log;
	void *owner;
	int64_t interval_ms;      /* 0: flush=always */
	_Atomic int dirty;        /* on the dirty list, or being put there */
	/* Under the flusher's mutex: */
	int64_t due_ms;           /* CLOCK_MONOTONIC ms; while on the dirty list */
	int on_dirty, on_moved, in_round;
	struct elog_flusher_log *all_prev, *all_next;
	struct elog_flusher_log *dirty_prev, *dirty_next;
	struct elog_flusher_log *moved_prev, *moved_next;
	/* The flusher thread's while in_round: */
	struct elog_flusher_log *round_next;
	int round_moved;
};

struct elog_flusher {
	pthread_t thread;
	pthread_mutex_t mutex;    /* guards everything below but the atomics */
	pthread_cond_t wake;      /* signalled by stop, kick and dirty */
	pthread_cond_t idle;      /* broadcast after every round (for _remove) */
	int64_t interval_ms;      /* the longest sleep */
	int running, stopping;
	int64_t sleep_until_ms;   /* when the sleeping thread wakes; INT64_MIN: awake */
	struct elog_flusher_log *all;    /* every registration */
	struct elog_flusher_log *dirty;  /* those with unflushed data */
	struct elog_flusher_log *moved;  /* flushed_offset moved, not drained yet */
	uint32_t count;           /* registrations */
	uint32_t dirty_count;
	_Atomic int kick_pending;
	void (*notify)(void *ctx);
	void *notify_ctx;
	uint64_t rounds;          /* completed rounds, for tests and metrics */
	uint64_t flushes;         /* elog_partlog_flush calls, for tests */
	_Atomic uint64_t failures; /* flushes that failed; read without the mutex */
	struct elog_flusher_log **drain;  /* elog_flusher_moved's scratch (owner thread) */
	uint32_t drain_cap;
	int *closes;              /* fds to close (elog_flusher_close_later) */
	uint32_t close_count, close_cap;
	uint64_t closed;          /* fds closed so far, for tests */
};

/* Start the thread; interval_ms > 0 is the longest it sleeps. */
int elog_flusher_start(struct elog_flusher *f, int64_t interval_ms, struct elog_err *err);
/* Stop and join the thread (a last round is not run) and free what is still
 * registered. Safe on a stopped flusher. */
void elog_flusher_stop(struct elog_flusher *f);

/*
 * Register a log: flushed interval_ms (> 0) after it becomes dirty, or at
 * the next round (0: flush=always). owner is handed back by _moved. A log
 * must not be added twice. ELOG_E_NOMEM, ELOG_E_INVAL for a negative interval.
 */
int elog_flusher_add(struct elog_flusher *f, struct elog_partlog *log, int64_t interval_ms,
		     void *owner, struct elog_flusher_log **out, struct elog_err *err);
/* Forget a registration (NULL: no-op); waits for a flush of it in progress. */
void elog_flusher_remove(struct elog_flusher *f, struct elog_flusher_log *reg);
/* The log has unflushed data now. Cheap when it is already on the dirty list. */
void elog_flusher_dirty(struct elog_flusher *f, struct elog_flusher_log *reg);
/* Ask for a round of every dirty log now; never blocks on a running round. */
void elog_flusher_kick(struct elog_flusher *f);
/* Set the after-round callback; call after _start, before adding logs. */
void elog_flusher_set_notify(struct elog_flusher *f, void (*fn)(void *ctx), void *ctx);
/*
 * Drain the moved list: fn(ctx, owner, log) for each log whose flushed
 * offset moved since the last drain. Returns how many (0 also when there
 * was no room for the scratch array: the list is then kept for next time).
 */
uint32_t elog_flusher_moved(struct elog_flusher *f,
			    void (*fn)(void *ctx, void *owner, struct elog_partlog *log),
			    void *ctx);

/*
 * Close fd on the flusher thread, soon (it is signalled): the last fd of a
 * deleted segment, whose close frees the file's blocks. Closed at once
 * when there is no memory to queue it.
 */
void elog_flusher_close_later(struct elog_flusher *f, int fd);
/* fds closed by the thread so far, read under the mutex. */
uint64_t elog_flusher_closed(struct elog_flusher *f);

/* Completed rounds, read under the mutex. */
uint64_t elog_flusher_rounds(struct elog_flusher *f);
/* elog_partlog_flush calls so far (a round's dirty logs), read under the mutex. */
uint64_t elog_flusher_flushes(struct elog_flusher *f);
/* Failed flushes so far; never blocks. */
uint64_t elog_flusher_failures(struct elog_flusher *f);

#endif
