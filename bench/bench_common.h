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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#endif
