/*
 * Unit tests: loop — timers fire in deadline order and once, stop/restart
 * of armed timers keeps the heap sound, fd events and removal, the wake-up
 * from another thread, the before-sleep hook, and the bounds.
 */
#include "t.h"
#include "loop.h"

#include <pthread.h>
#include <sys/socket.h>

struct rec {
	int order[64];
	int count;
};

struct tctx {
	struct rec *rec;
	int id;
};

static void fire(struct elog_loop *loop, void *ctx)
{
	struct tctx *t = ctx;

	(void)loop;
	if (t->rec->count < 64)
		t->rec->order[t->rec->count++] = t->id;
}

static void stop_fn(struct elog_loop *loop, void *ctx)
{
	(void)ctx;
	elog_loop_stop(loop);
}

static void test_timers_in_order(void)
{
	struct elog_loop loop;
	struct elog_err err;
	struct elog_timer t[8], stop;
	struct tctx ctx[8];
	struct rec rec = {{0}, 0};
	const int64_t offsets[8] = {30, 10, 50, 20, 40, 5, 25, 15};

	T_OK(elog_loop_init(&loop, 64, 16, &err), &err);
	int64_t now = elog_loop_now_ms(&loop);
	for (int i = 0; i < 8; i++) {
		ctx[i] = (struct tctx){&rec, i};
		elog_timer_init(&t[i], fire, &ctx[i]);
		T_OK(elog_loop_timer_start(&loop, &t[i], now + offsets[i], &err), &err);
	}
	/* stop one, move one later, stop a stopped one */
	elog_loop_timer_stop(&loop, &t[2]);
	elog_loop_timer_stop(&loop, &t[2]);
	T_OK(elog_loop_timer_start(&loop, &t[5], now + 45, &err), &err);
	elog_timer_init(&stop, stop_fn, NULL);
	T_OK(elog_loop_timer_start(&loop, &stop, now + 80, &err), &err);
	T_OK(elog_loop_run(&loop, &err), &err);
	T_EQ_INT(rec.count, 7);
	{
		const int want[7] = {1, 7, 3, 6, 0, 4, 5};
		for (int i = 0; i < 7; i++)
			T_EQ_INT(rec.order[i], want[i]);
	}
	for (int i = 0; i < 8; i++)
		T_CHECK(!elog_timer_armed(&t[i]));
	T_CHECK(elog_loop_now_ms(&loop) >= now + 80);
	elog_loop_release(&loop);
}

static void test_timer_bound(void)
{
	struct elog_loop loop;
	struct elog_err err;
	struct elog_timer t[3];

	T_OK(elog_loop_init(&loop, 64, 2, &err), &err);
	for (int i = 0; i < 3; i++)
		elog_timer_init(&t[i], stop_fn, NULL);
	T_OK(elog_loop_timer_start(&loop, &t[0], 1, &err), &err);
	T_OK(elog_loop_timer_start(&loop, &t[1], 2, &err), &err);
	T_CHECK(elog_loop_timer_start(&loop, &t[2], 3, &err) < 0 && err.code == ELOG_E_LIMIT);
	/* re-arming an armed timer needs no extra room */
	T_OK(elog_loop_timer_start(&loop, &t[1], 5, &err), &err);
	elog_loop_timer_stop(&loop, &t[0]);
	elog_loop_timer_stop(&loop, &t[1]);
	T_EQ_INT(loop.timer_count, 0);
	elog_loop_release(&loop);
}

struct fdctx {
	int reads;
	char got[16];
};

static void on_read(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct fdctx *f = ctx;
	ssize_t n;

	T_CHECK(events & ELOG_LOOP_READ);
	n = read(fd, f->got, sizeof(f->got) - 1);
	if (n > 0)
		f->got[n] = 0;
	f->reads++;
	elog_loop_remove(loop, fd);
	elog_loop_stop(loop);
}

static void test_fd_events(void)
{
	struct elog_loop loop;
	struct elog_err err;
	struct fdctx f = {0, {0}};
	int sv[2];

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_OK(elog_loop_init(&loop, 64, 4, &err), &err);
	T_OK(elog_loop_add(&loop, sv[0], ELOG_LOOP_READ, on_read, &f, &err), &err);
	T_CHECK(elog_loop_add(&loop, 64, ELOG_LOOP_READ, on_read, &f, &err) < 0 &&
		err.code == ELOG_E_LIMIT);
	T_ASSERT(write(sv[1], "hello", 5) == 5);
	T_OK(elog_loop_run(&loop, &err), &err);
	T_EQ_INT(f.reads, 1);
	T_CHECK(strcmp(f.got, "hello") == 0);
	T_CHECK(loop.fds[sv[0]].fn == NULL);
	/* modify to nothing: no more events even with data waiting */
	T_OK(elog_loop_add(&loop, sv[0], ELOG_LOOP_READ, on_read, &f, &err), &err);
	T_OK(elog_loop_modify(&loop, sv[0], 0, &err), &err);
	elog_loop_remove(&loop, sv[0]);
	elog_loop_remove(&loop, sv[0]);
	close(sv[0]);
	close(sv[1]);
	elog_loop_release(&loop);
}

struct wakectx {
	struct elog_loop *loop;
	int wakes, sleeps;
};

static void on_wake(struct elog_loop *loop, void *ctx)
{
	struct wakectx *w = ctx;

	w->wakes++;
	elog_loop_stop(loop);
}

static void before(struct elog_loop *loop, void *ctx)
{
	struct wakectx *w = ctx;

	(void)loop;
	w->sleeps++;
}

static void *waker(void *arg)
{
	struct wakectx *w = arg;

	for (int i = 0; i < 100; i++)
		elog_loop_wake(w->loop);
	return NULL;
}

static void test_wake_from_thread(void)
{
	struct elog_loop loop;
	struct elog_err err;
	struct wakectx w = {&loop, 0, 0};
	pthread_t th;

	T_OK(elog_loop_init(&loop, 64, 4, &err), &err);
	elog_loop_set_on_wake(&loop, on_wake, &w);
	elog_loop_set_before_sleep(&loop, before, &w);
	T_ASSERT(pthread_create(&th, NULL, waker, &w) == 0);
	T_OK(elog_loop_run(&loop, &err), &err);
	pthread_join(th, NULL);
	/* many wakes become few callbacks; the loop slept at least once */
	T_CHECK(w.wakes >= 1 && w.wakes <= 100);
	T_CHECK(w.sleeps >= 1);
	elog_loop_release(&loop);
}

int main(void)
{
	T_RUN(test_timers_in_order);
	T_RUN(test_timer_bound);
	T_RUN(test_fd_events);
	T_RUN(test_wake_from_thread);
	return t_finish();
}
