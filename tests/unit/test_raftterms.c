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

/* The saved cache {t, n} fitted to log: how many entries it dropped as
 * contradicted (-1 when the fit failed, which fails the test). */
static int fit(struct elog_partlog *log, const struct elog_raft_term_start *t, uint32_t n,
	       struct elog_raftstate *s)
{
	struct elog_err err;
	uint32_t dropped = 0;

	elog_raftstate_init(s);
	s->term_count = n;
	memcpy(s->terms, t, n * sizeof(*t));
	if (elog_raftterms_fit(log, s, scratch, sizeof(scratch), &dropped, &err) < 0) {
		t_fail(__FILE__, __LINE__, err.msg);
		return -1;
	}
	return (int)dropped;
}

static const struct elog_raft_term_start saved[] = {{1, 0}, {2, 10}};

static void test_cache_that_matches(void)
{
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;

	T_ASSERT((log = two_terms(&err)) != NULL);
	T_EQ_INT(fit(log, saved, 2, &s), 0);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[1].term, 2);
	T_EQ_INT(s.terms[1].start, 10);
	elog_partlog_close(log);
}

/* The cache lags the log: the later term is read from the batch headers. */
static void test_terms_the_log_gained(void)
{
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;

	T_ASSERT((log = two_terms(&err)) != NULL);
	T_EQ_INT(fit(log, saved, 1, &s), 0);
	T_EQ_INT(s.term_count, 2);
	T_EQ_INT(s.terms[1].term, 2);
	T_EQ_INT(s.terms[1].start, 10);
	elog_partlog_close(log);
}

/* Truncated at 10 and nothing written since: term 2 is gone, not contradicted. */
static void test_terms_the_log_lost(void)
{
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;

	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(elog_partlog_truncate(log, 10, &err), &err);
	T_EQ_INT(fit(log, saved, 2, &s), 0);
	T_EQ_INT(s.term_count, 1);
	T_EQ_INT(s.terms[0].term, 1);
	elog_partlog_close(log);
}

/*
 * A follower truncated at `at` and took `records` of a later `term` from
 * there in one turn; the crash came before raft.state recorded it. The
 * saved entry (2, 10) is contradicted by the log: dropped, and (term, at)
 * read back. Kept, the cache would have been (1,0) (2,10) (term,at): out of
 * order, and the group refused to start.
 */
static void test_entry_written_over(void)
{
	const struct {
		int64_t at;
		uint64_t term;
		uint32_t records;
	} cases[] = {
		{5, 3, 20}, /* offset 10 now inside a term-3 batch starting at 5 */
		{10, 4, 5}, /* a term-4 batch starting exactly at 10 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct elog_partlog *log;
		struct elog_raftstate s;
		struct elog_err err;

		T_ASSERT((log = two_terms(&err)) != NULL);
		T_OK(elog_partlog_truncate(log, cases[i].at, &err), &err);
		T_OK(append(log, cases[i].term, cases[i].records, &err), &err);
		T_EQ_INT(fit(log, saved, 2, &s), 1);
		T_EQ_INT(s.term_count, 2);
		T_EQ_INT(s.terms[0].term, 1);
		T_EQ_INT(s.terms[0].start, 0);
		T_EQ_INT(s.terms[1].term, cases[i].term);
		T_EQ_INT(s.terms[1].start, cases[i].at);
		elog_partlog_close(log);
	}
}

/*
 * Damage (lost synced bytes, a flipped byte) in the log where the fit
 * reads: the fit does not fail (it failed the group, and so the broker's
 * start, found by the torture run's lose-tail fault); what lies at or past
 * the damage is left out, as the group's damage restriction then cuts it.
 */
static void test_damage_where_it_reads(void)
{
	struct elog_partlog *log;
	struct elog_raftstate s;
	struct elog_err err;

	/* The scan for terms past the saved cache meets the damage. */
	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(elog_partlog_mark_damaged(log, 10, "test", &err), &err);
	T_EQ_INT(fit(log, saved, 1, &s), 0);
	T_EQ_INT(s.term_count, 1);
	T_EQ_INT(s.terms[0].term, 1);
	elog_partlog_close(log);
	/* A saved entry that starts in the damage, checked because the log's
	 * last term is another: dropped. */
	T_ASSERT((log = two_terms(&err)) != NULL);
	T_OK(append(log, 3, 5, &err), &err);
	T_OK(elog_partlog_mark_damaged(log, 10, "test", &err), &err);
	T_EQ_INT(fit(log, saved, 2, &s), 1);
	T_EQ_INT(s.term_count, 1);
	T_EQ_INT(s.terms[0].term, 1);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_cache_that_matches);
	T_RUN(test_terms_the_log_gained);
	T_RUN(test_terms_the_log_lost);
	T_RUN(test_entry_written_over);
	T_RUN(test_damage_where_it_reads);
	return t_finish();
}
