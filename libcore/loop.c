/* loop — epoll event loop, timers, before-sleep hook, wake-up; see loop.h. */
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int64_t elog_loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t elog_loop_now_ms(const struct elog_loop *loop)
{
	return loop->now_ms;
}

static void on_wake_fd(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	uint64_t n;

	(void)events;
	(void)ctx;
	/* Drain the counter; EAGAIN means another read already did. */
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN && errno != EINTR)
		return;
	if (loop->on_wake)
		loop->on_wake(loop, loop->on_wake_ctx);
}

int elog_loop_init(struct elog_loop *loop, uint32_t fd_max, size_t timers_max,
		   struct elog_err *err)
{
	memset(loop, 0, sizeof(*loop));
	loop->epoll_fd = loop->wake_fd = -1;
	loop->fd_max = fd_max;
	loop->timers_max = timers_max;
	loop->fds = calloc(fd_max, sizeof(*loop->fds));
	loop->heap = calloc(timers_max ? timers_max : 1, sizeof(*loop->heap));
	if (!loop->fds || !loop->heap) {
		elog_err_set(err, ELOG_E_NOMEM, "event loop: out of memory");
		goto fail;
	}
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "epoll_create1");
		goto fail;
	}
	loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_fd < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "eventfd");
		goto fail;
	}
	if (elog_loop_add(loop, loop->wake_fd, ELOG_LOOP_READ, on_wake_fd, NULL, err) < 0)
		goto fail;
	loop->now_ms = elog_loop_clock_ms();
	return 0;
fail:
	elog_loop_release(loop);
	return -1;
}

void elog_loop_release(struct elog_loop *loop)
{
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	free(loop->fds);
	free(loop->heap);
	loop->fds = NULL;
	loop->heap = NULL;
	loop->epoll_fd = loop->wake_fd = -1;
	loop->timer_count = 0;
}

/* ---------------------------------------------------------------- fds */

static uint32_t to_epoll(uint32_t events)
{
	return ((events & ELOG_LOOP_READ) ? EPOLLIN : 0) | ((events & ELOG_LOOP_WRITE) ? EPOLLOUT : 0);
}

int elog_loop_add(struct elog_loop *loop, int fd, uint32_t events, elog_loop_fd_fn *fn,
		  void *ctx, struct elog_err *err)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};

	assert(fn && fd >= 0);
	if ((uint32_t)fd >= loop->fd_max)
		return elog_err_set(err, ELOG_E_LIMIT, "fd %d is past the event loop's table of %u",
				    fd, loop->fd_max);
	assert(!loop->fds[fd].fn);
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "epoll_ctl add fd %d", fd);
	loop->fds[fd] = (struct elog_loop_fd){fn, ctx, events};
	return 0;
}

int elog_loop_modify(struct elog_loop *loop, int fd, uint32_t events, struct elog_err *err)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};

	assert(fd >= 0 && (uint32_t)fd < loop->fd_max && loop->fds[fd].fn);
	if (loop->fds[fd].events == events)
		return 0;
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "epoll_ctl modify fd %d", fd);
	loop->fds[fd].events = events;
	return 0;
}

void elog_loop_remove(struct elog_loop *loop, int fd)
{
	if (fd < 0 || (uint32_t)fd >= loop->fd_max || !loop->fds[fd].fn)
		return;
	epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd] = (struct elog_loop_fd){NULL, NULL, 0};
}

/* ---------------------------------------------------------------- timers */

void elog_timer_init(struct elog_timer *t, elog_loop_fn *fn, void *ctx)
{
	t->at_ms = 0;
	t->heap_index = SIZE_MAX;
	t->fn = fn;
	t->ctx = ctx;
}

static void heap_set(struct elog_loop *loop, size_t i, struct elog_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void heap_up(struct elog_loop *loop, size_t i)
{
	struct elog_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->at_ms <= t->at_ms)
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct elog_loop *loop, size_t i)
{
	struct elog_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->timer_count)
			break;
		if (child + 1 < loop->timer_count &&
		    loop->heap[child + 1]->at_ms < loop->heap[child]->at_ms)
			child++;
		if (loop->heap[child]->at_ms >= t->at_ms)
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

void elog_loop_timer_stop(struct elog_loop *loop, struct elog_timer *t)
{
	size_t i = t->heap_index;

	if (i == SIZE_MAX)
		return;
	assert(i < loop->timer_count && loop->heap[i] == t);
	t->heap_index = SIZE_MAX;
	loop->timer_count--;
	if (i == loop->timer_count)
		return;
	struct elog_timer *moved = loop->heap[loop->timer_count];
	heap_set(loop, i, moved);
	heap_up(loop, i);
	heap_down(loop, moved->heap_index);
}

int elog_loop_timer_start(struct elog_loop *loop, struct elog_timer *t, int64_t at_ms,
			  struct elog_err *err)
{
	elog_loop_timer_stop(loop, t);
	if (loop->timer_count == loop->timers_max)
		return elog_err_set(err, ELOG_E_LIMIT, "event loop: %zu timers armed already",
				    loop->timers_max);
	t->at_ms = at_ms;
	heap_set(loop, loop->timer_count++, t);
	heap_up(loop, t->heap_index);
	return 0;
}

static void run_timers(struct elog_loop *loop)
{
	/* Bounded: only timers due now; a timer re-armed for "now" waits a turn. */
	size_t budget = loop->timer_count;

	while (budget-- > 0 && loop->timer_count > 0 && loop->heap[0]->at_ms <= loop->now_ms) {
		struct elog_timer *t = loop->heap[0];
		elog_loop_timer_stop(loop, t);
		t->fn(loop, t->ctx);
	}
}

/* ---------------------------------------------------------------- running */

void elog_loop_set_before_sleep(struct elog_loop *loop, elog_loop_fn *fn, void *ctx)
{
	loop->before_sleep = fn;
	loop->before_sleep_ctx = ctx;
}

void elog_loop_set_on_wake(struct elog_loop *loop, elog_loop_fn *fn, void *ctx)
{
	loop->on_wake = fn;
	loop->on_wake_ctx = ctx;
}

void elog_loop_wake(struct elog_loop *loop)
{
	uint64_t one = 1;
	int saved = errno;

	/* EAGAIN: the counter is saturated, the loop will wake anyway. */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0) {
		/* nothing to do */
	}
	errno = saved;
}

void elog_loop_stop(struct elog_loop *loop)
{
	loop->stopping = 1;
}

static int wait_timeout_ms(const struct elog_loop *loop)
{
	int64_t d;

	if (loop->stopping)
		return 0;
	if (loop->timer_count == 0)
		return -1;
	d = loop->heap[0]->at_ms - elog_loop_clock_ms();
	if (d <= 0)
		return 0;
	return d > 60000 ? 60000 : (int)d;
}

static void dispatch(struct elog_loop *loop, const struct epoll_event *ev)
{
	int fd = ev->data.fd;
	uint32_t events = 0;
	struct elog_loop_fd *slot;

	if (fd < 0 || (uint32_t)fd >= loop->fd_max)
		return;
	slot = &loop->fds[fd];
	if (!slot->fn)
		return; /* removed by an earlier callback in this batch */
	if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		events |= ELOG_LOOP_READ;
	if (ev->events & EPOLLOUT)
		events |= ELOG_LOOP_WRITE;
	if (ev->events & (EPOLLHUP | EPOLLERR))
		events |= ELOG_LOOP_ERROR;
	slot->fn(loop, fd, events, slot->ctx);
}

int elog_loop_run(struct elog_loop *loop, struct elog_err *err)
{
	struct epoll_event events[ELOG_LOOP_EVENTS_BATCH];

	loop->stopping = 0;
	while (!loop->stopping) {
		int n;

		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_ctx);
		n = epoll_wait(loop->epoll_fd, events, ELOG_LOOP_EVENTS_BATCH, wait_timeout_ms(loop));
		if (n < 0 && errno != EINTR)
			return elog_err_errno(err, ELOG_E_IO, errno, "epoll_wait");
		loop->now_ms = elog_loop_clock_ms();
		loop->iterations++;
		for (int i = 0; i < n; i++)
			dispatch(loop, &events[i]);
		run_timers(loop);
	}
	return 0;
}
