/*
 * Unit tests: raftterms — a saved term cache fitted to its log at start:
 * terms the log gained are read back, entries it lost are dropped, and an
 * entry a later leader's records overwrote (truncated and appended over in
 * one loop turn, then a crash before raft.state was written) is dropped
 * instead of leaving the cache out of order.
 */
#include "t.h"
#include "batch.h"
#include "partlog.h"
#include "raftterms.h"

static uint8_t scratch[1 << 20];

/* One batch of n records of `term`. */
static int append(struct elog_partlog *log, uint64_t term, uint32_t n, struct elog_err *err)
{
	struct elog_batch_builder b;
	const uint8_t *out;
	static uint8_t copy[1 << 16];
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {1000 + i, NULL, -1, (const uint8_t *)"0123456789", 10, NULL, 0};
		if (elog_batch_builder_add(&b, &r, err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, &len, err) < 0 || len > sizeof(copy))
		goto out;
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, term, NULL, err);
out:
	elog_batch_builder_release(&b);
	return rc;
}

/* A log of term 1 at [0, 10) and term 2 at [10, 20), five records a batch. */
static struct elog_partlog *two_terms(struct elog_err *err)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;

	elog_partlog_config_default(&c);
	c.flush = ELOG_FLUSH_NEVER;
	if (elog_partlog_open(t_tmpdir(), &c, &log, NULL, err) < 0)
		return NULL;
	for (int i = 0; i < 4; i++)
		if (append(log, i < 2 ? 1 : 2, 5, err) < 0)
			return NULL;
	return log;
}

static void cache(struct elog_raftstate *s, uint32_t n, const struct elog_raft_term_start *t)
{
	elog_raftstate_init(s);
	s->term_count = n;
	memcpy(s->terms, t, n * sizeof(*t));
}

static void test_cache_that_matches(void)
{
	const struct elog_raft_term_start t[] = {{1, 0}, {2, 10}};
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;
	uint32_t dropped = 99;

	T_ASSERT((log = two_terms(&err)) != NULL);
	cache(&s, 2, t);
	T_OK(elog_raftterms_fit(log, &s, scratch, sizeof(scratch), &dropped, &err), &err);
	T_EQ_INT(dropped, 0);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[1].term, 2);
	T_EQ_INT(s.terms[1].start, 10);
	elog_partlog_close(log);
}

/* The cache lags the log: the later term is read from the batch headers. */
static void test_terms_the_log_gained(void)
{
	const struct elog_raft_term_start t[] = {{1, 0}};
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;

	T_ASSERT((log = two_terms(&err)) != NULL);
	cache(&s, 1, t);
	T_OK(elog_raftterms_fit(log, &s, scratch, sizeof(scratch), NULL, &err), &err);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[1].term, 2);
	T_EQ_INT(s.terms[1].start, 10);
	elog_partlog_close(log);
}

/* Truncated at 10 and nothing written since: term 2 is gone, not contradicted. */
static void test_terms_the_log_lost(void)
{
	const struct elog_raft_term_start t[] = {{1, 0}, {2, 10}};
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;
	uint32_t dropped = 99;

	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(elog_partlog_truncate(log, 10, &err), &err);
	cache(&s, 2, t);
	T_OK(elog_raftterms_fit(log, &s, scratch, sizeof(scratch), &dropped, &err), &err);
	T_EQ_INT(dropped, 0);
	T_EQ_INT(s.term_count, 1);
	T_EQ_INT(s.terms[0].term, 1);
	elog_partlog_close(log);
}

/*
 * A follower truncated at 5 and took term 3's records from there in one
 * turn; the crash came before raft.state recorded it. The saved entry
 * (2, 10) is contradicted by the log (offset 10 is inside a term-3 batch
 * starting at 5): dropped, and (3, 5) read back. Kept, it would have made
 * the cache (1,0) (2,10) (3,5): out of order, and the group refused.
 */
static void test_entry_written_over(void)
{
	const struct elog_raft_term_start t[] = {{1, 0}, {2, 10}};
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;
	uint32_t dropped = 0;

	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(elog_partlog_truncate(log, 5, &err), &err);
	T_OK(append(log, 3, 20, &err), &err);
	cache(&s, 2, t);
	T_OK(elog_raftterms_fit(log, &s, scratch, sizeof(scratch), &dropped, &err), &err);
	T_EQ_INT(dropped, 1);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[0].term, 1);
	T_EQ_INT(s.terms[0].start, 0);
	T_EQ_INT(s.terms[1].term, 3);
	T_EQ_INT(s.terms[1].start, 5);
	elog_partlog_close(log);
	/* the same when the later term starts exactly where the stale one did */
	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(elog_partlog_truncate(log, 10, &err), &err);
	T_OK(append(log, 4, 5, &err), &err);
	cache(&s, 2, t);
	T_OK(elog_raftterms_fit(log, &s, scratch, sizeof(scratch), &dropped, &err), &err);
	T_EQ_INT(dropped, 1);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[1].term, 4);
	T_EQ_INT(s.terms[1].start, 10);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_cache_that_matches);
	T_RUN(test_terms_the_log_gained);
	T_RUN(test_terms_the_log_lost);
	T_RUN(test_entry_written_over);
	return t_finish();
}
