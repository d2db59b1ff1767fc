/*
 * t.h — the unit-test harness: a test is a `static void test_x(void)`; main()
 * lists them with T_RUN. Output is one line per test, "ok - name" or
 * "not ok - name: file:line: failed check", then "N passed, N failed".
 * The exit status is 1 if any test failed.
 *
 *   T_CHECK(cond)   record a failure and go on
 *   T_ASSERT(cond)  record a failure and leave the test
 *   T_EQ_INT(a, b)  integers, printing both on failure (T_ASSERT semantics)
 *   T_OK(call)      call returns 0 (or >= 0), else print err.msg and leave
 *
 * Tests that need scratch space call t_tmpdir(), which makes a fresh
 * directory under $TMPDIR removed at exit (unless T_KEEP is set).
 */
#ifndef ELOG_T_H
#define ELOG_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

extern int t_failed_checks;
extern const char *t_current;
extern char t_first_failure[1024];

void t_fail(const char *file, int line, const char *what);
const char *t_tmpdir(void);
int t_run(const char *name, void (*fn)(void));
int t_finish(void);

#define T_CHECK(cond) \
	do { if (!(cond)) t_fail(__FILE__, __LINE__, #cond); } while (0)
#define T_ASSERT(cond) \
	do { if (!(cond)) { t_fail(__FILE__, __LINE__, #cond); return; } } while (0)
#define T_EQ_INT(a, b) \
	do { long long t_a_ = (long long)(a), t_b_ = (long long)(b); \
	     if (t_a_ != t_b_) { char t_m_[256]; \
	         snprintf(t_m_, sizeof(t_m_), "%s == %s (%lld != %lld)", #a, #b, t_a_, t_b_); \
	         t_fail(__FILE__, __LINE__, t_m_); return; } } while (0)
#define T_OK(call, errp) \
	do { if ((call) < 0) { char t_m_[1024]; \
	         snprintf(t_m_, sizeof(t_m_), "%s: %s", #call, (errp)->msg); \
	         t_fail(__FILE__, __LINE__, t_m_); return; } } while (0)
#define T_RUN(fn) t_run(#fn, fn)

#endif
