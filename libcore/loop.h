/*
 * loop — the broker's event loop: one thread, epoll, file descriptor
 * events, timers, a before-sleep hook and a thread-safe wake-up.
 *
 * What it owns:
 *   - fd events. A registered fd has a callback and an interest set
 *     (ELOG_LOOP_READ | ELOG_LOOP_WRITE, level-triggered). Registrations
 *     live in a table indexed by fd, sized at init (fd_max): registering
 *     an fd >= fd_max fails with ELOG_E_LIMIT instead of growing.
 *   - timers. A struct elog_timer is owned by the caller (embedded in a
 *     connection or a parked request) and sits in the loop's binary heap
 *     while armed; the heap holds at most timers_max timers (ELOG_E_LIMIT
 *     past it). Arming an armed timer moves it; stopping a stopped one is
 *     a no-op. A timer fires once, in deadline order, on the loop thread.
 *   - the before-sleep hook, run once per iteration after events and
 *     timers, before epoll_wait: where the broker flushes replies and
 *     re-checks parked requests (redis's beforeSleep).
 *   - wake-up. elog_loop_wake may be called from any thread (the flusher);
 *     it writes an eventfd, and the loop thread then runs the wake
 *     callback. Many wakes before the loop runs become one callback.
 *
 * Time is CLOCK_MONOTONIC in ms (elog_loop_now_ms), cached once per
 * iteration so that everything handled in one iteration sees one "now".
 *
 * Callbacks may register, modify and remove fds (their own included) and
 * arm and stop timers; a removed fd's pending event in the same iteration
 * is dropped.
 *
 * Calling sequence:
 *   elog_loop_init(&loop, fd_max, timers_max, err)
 *   elog_loop_add(...), elog_timer_init + elog_loop_timer_start(...) ...
 *   elog_loop_run(&loop, err)       returns after elog_loop_stop
 *   elog_loop_release(&loop)
 */
#ifndef ELOG_LOOP_H
#define ELOG_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ELOG_LOOP_READ 1u
#define ELOG_LOOP_WRITE 2u
/* Reported with READ/WRITE when the peer hung up or the fd failed. */
#define ELOG_LOOP_ERROR 4u
/* Events handled per epoll_wait. */
#define ELOG_LOOP_EVENTS_BATCH 256

struct elog_loop;

typedef void elog_loop_fd_fn(struct elog_loop *loop, int fd, uint32_t events, void *ctx);
typedef void elog_loop_fn(struct elog_loop *loop, void *ctx);

struct elog_timer {
	int64_t at_ms;          /* deadline, loop clock */
	size_t heap_index;      /* position in the heap; SIZE_MAX when not armed */
	elog_loop_fn *fn;
	void *ctx;
};

struct elog_loop_fd {
	elog_loop_fd_fn *fn;    /* NULL: slot free */
	void *ctx;
	uint32_t events;
};

struct elog_loop {
	int epoll_fd;
	int wake_fd;            /* eventfd */
	int stopping;
	int64_t now_ms;
	struct elog_loop_fd *fds;
	uint32_t fd_max;
	struct elog_timer **heap;
	size_t timer_count, timers_max;
	elog_loop_fn *before_sleep;
	void *before_sleep_ctx;
	elog_loop_fn *on_wake;
	void *on_wake_ctx;
	uint64_t iterations;    /* for tests and metrics */
};

int elog_loop_init(struct elog_loop *loop, uint32_t fd_max, size_t timers_max,
		   struct elog_err *err);
/* Close the epoll and eventfd; registered fds are not closed (they are the caller's). */
void elog_loop_release(struct elog_loop *loop);

int elog_loop_add(struct elog_loop *loop, int fd, uint32_t events, elog_loop_fd_fn *fn,
		  void *ctx, struct elog_err *err);
/* Change the interest set of a registered fd (a no-op if unchanged). */
int elog_loop_modify(struct elog_loop *loop, int fd, uint32_t events, struct elog_err *err);
/* Forget fd (before the caller closes it). Unknown fds: no-op. */
void elog_loop_remove(struct elog_loop *loop, int fd);

void elog_timer_init(struct elog_timer *t, elog_loop_fn *fn, void *ctx);
static inline int elog_timer_armed(const struct elog_timer *t)
{
	return t->heap_index != SIZE_MAX;
}
int elog_loop_timer_start(struct elog_loop *loop, struct elog_timer *t, int64_t at_ms,
			  struct elog_err *err);
void elog_loop_timer_stop(struct elog_loop *loop, struct elog_timer *t);

void elog_loop_set_before_sleep(struct elog_loop *loop, elog_loop_fn *fn, void *ctx);
void elog_loop_set_on_wake(struct elog_loop *loop, elog_loop_fn *fn, void *ctx);

/* Any thread: make the loop run its wake callback soon. Async-signal-safe. */
void elog_loop_wake(struct elog_loop *loop);

/* Run until elog_loop_stop; -1 only if epoll itself fails. */
int elog_loop_run(struct elog_loop *loop, struct elog_err *err);
/* Loop thread: return from elog_loop_run after this iteration. */
void elog_loop_stop(struct elog_loop *loop);

int64_t elog_loop_now_ms(const struct elog_loop *loop);
/* CLOCK_MONOTONIC now, uncached. */
int64_t elog_loop_clock_ms(void);

#endif
