/*
 * bench_common.h — what every bench program shares: the clock, the order
 * statistics (so that they all measure and summarise the same way) and
 * option parsing through libcore's cli parsers. Header-only: each bench
 * program is a file of its own, linked alone.
 */
#ifndef ELOG_BENCH_COMMON_H
#define ELOG_BENCH_COMMON_H

#include <stdio.h>

#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

/* Repetitions a summary may take (REPS is bounded by each program below this). */
#define BENCH_STATS_VALUES_MAX 99u

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* "prog: <message>" on stderr, exit 1. Each program defines
 * `#define die(...) bench_die(PROG, __VA_ARGS__)`. */
static inline void bench_die(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static inline void bench_die(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Serve a producer's sockets and timers until due_ns (now_ns's clock).
 * -1 (err set) when the producer or ppoll fails. */
static inline int bench_producer_wait_until(struct elog_producer *p, uint64_t due_ns,
					    struct elog_err *err)
{
	struct pollfd fds[64];

	for (;;) {
		uint64_t now = now_ns(), wait_ns;
		int timer_ms;
		size_t n;
		struct timespec ts;

		if (now >= due_ns)
			return 0;
		wait_ns = due_ns - now;
		timer_ms = elog_producer_timeout_ms(p);
		if (timer_ms >= 0 && (uint64_t)timer_ms * 1000000ull < wait_ns)
			wait_ns = (uint64_t)timer_ms * 1000000ull;
		n = elog_producer_pollfds(p, fds, sizeof(fds) / sizeof(fds[0]));
		ts.tv_sec = (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long)(wait_ns % 1000000000ull);
		if (ppoll(fds, n, &ts, NULL) < 0 && errno != EINTR)
			return elog_err_set(err, ELOG_E_IO, "ppoll: %s", strerror(errno));
		if (elog_producer_poll(p, 0, err) < 0)
			return elog_err_prefix(err, "producer");
	}
}

/* Median of n values (1 <= n <= BENCH_STATS_VALUES_MAX); v is not changed. */
static inline double median(const double *v, uint32_t n)
{
	double tmp[BENCH_STATS_VALUES_MAX];

	assert(n >= 1 && n <= BENCH_STATS_VALUES_MAX);
	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* The integer argument of option -opt, in [lo, hi]; a bad one is a usage error (exit 2). */
static inline uint64_t bench_option_u64(const char *prog, int opt, const char *s, uint64_t lo,
					uint64_t hi)
{
	struct elog_err err;
	uint64_t v;

	if (elog_cli_parse_u64(s, lo, hi, &v, &err) < 0) {
		fprintf(stderr, "%s: -%c: %s\n", prog, opt, err.msg);
		exit(2);
	}
	return v;
}

/* xorshift64: the workloads' deterministic randomness. */
static inline uint64_t bench_rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/*
 * A JSON object of exactly `size` bytes, like an application event:
 * {"id":42,"user":"u-004217","event":"click","amount":12.34,"note":"... words ..."}
 * -1 when size is too small for the template.
 */
static inline int bench_json_value(char *out, uint32_t size, uint64_t id, uint64_t *rng)
{
	static const char *const events[] = { "click", "page_view", "signup", "purchase", "logout" };
	static const char *const words[] = { "order", "shipped", "to", "warehouse", "north",
		"customer", "requested", "refund", "via", "mobile", "app", "session", "expired",
		"retry", "queued", "payment", "accepted", "cart", "updated", "item" };
	uint64_t r = bench_rng_next(rng);
	int n = snprintf(out, size, "{\"id\":%" PRIu64 ",\"user\":\"u-%06u\",\"event\":\"%s\","
			 "\"amount\":%u.%02u,\"note\":\"", id, (unsigned)(r % 1000000),
			 events[(r >> 20) % 5], (unsigned)((r >> 24) % 1000), (unsigned)((r >> 34) % 100));
	uint32_t len, end = size - 2;

	if (n < 0 || (uint32_t)n + 2 > size)
		return -1;
	len = (uint32_t)n;
	for (uint32_t k = 0; k < size && len < end; k++) {
		const char *w = words[bench_rng_next(rng) % 20];
		size_t wl = strlen(w);

		if (len + wl + 1 > end)
			break;
		if (k > 0)
			out[len++] = ' ';
		memcpy(out + len, w, wl);
		len += (uint32_t)wl;
	}
	while (len < end)
		out[len++] = '.';
	out[len++] = '"';
	out[len++] = '}';
	return 0;
}

#endif
