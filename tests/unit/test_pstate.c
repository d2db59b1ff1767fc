/*
 * Unit tests: pstate — duplicates, gaps, fencing, unknown producers,
 * sequence wrap, the remembered window of 5 batches, eviction, and the
 * rebuild from batch headers on disk.
 */
#include "t.h"
#include "batch.h"
#include "partlog.h"
#include "pstate.h"

static void test_sequences(void)
{
	struct elog_pstate ps;
	struct elog_err err;
	int64_t base = -1;

	elog_pstate_init(&ps, 0);
	T_EQ_INT(elog_pstate_check(&ps, -1, -1, -1, 3, NULL), ELOG_PSTATE_APPEND);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 5, 3, NULL), ELOG_PSTATE_UNKNOWN);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, -1, 3, NULL), ELOG_PSTATE_INVALID);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 0, 3, NULL), ELOG_PSTATE_APPEND);
	T_OK(elog_pstate_update(&ps, 7, 0, 0, 3, 100, &err), &err);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 0, 3, &base), ELOG_PSTATE_DUPLICATE);
	T_EQ_INT(base, 100);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 3, 2, NULL), ELOG_PSTATE_APPEND);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 4, 2, NULL), ELOG_PSTATE_OUT_OF_ORDER);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 0, 2, NULL), ELOG_PSTATE_OUT_OF_ORDER);
	/* epochs: lower fenced, higher must restart at 0 */
	T_EQ_INT(elog_pstate_check(&ps, 7, 1, 3, 1, NULL), ELOG_PSTATE_OUT_OF_ORDER);
	T_EQ_INT(elog_pstate_check(&ps, 7, 1, 0, 1, NULL), ELOG_PSTATE_APPEND);
	T_OK(elog_pstate_update(&ps, 7, 1, 0, 1, 103, &err), &err);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 3, 1, NULL), ELOG_PSTATE_FENCED);
	T_EQ_INT(elog_pstate_check(&ps, 7, 1, 0, 1, &base), ELOG_PSTATE_DUPLICATE);
	T_EQ_INT(base, 103);
	/* another producer is independent */
	T_EQ_INT(elog_pstate_check(&ps, 3, 0, 0, 1, NULL), ELOG_PSTATE_APPEND);
	elog_pstate_release(&ps);
}

static void test_window_and_wrap(void)
{
	struct elog_pstate ps;
	struct elog_err err;
	int64_t base;

	elog_pstate_init(&ps, 0);
	for (int i = 0; i < 7; i++)
		T_OK(elog_pstate_update(&ps, 1, 0, i * 2, 2, 10 * i, &err), &err);
	/* the last 5 batches are remembered, older ones are not */
	for (int i = 2; i < 7; i++) {
		T_EQ_INT(elog_pstate_check(&ps, 1, 0, i * 2, 2, &base), ELOG_PSTATE_DUPLICATE);
		T_EQ_INT(base, 10 * i);
	}
	T_EQ_INT(elog_pstate_check(&ps, 1, 0, 0, 2, NULL), ELOG_PSTATE_OUT_OF_ORDER);
	T_EQ_INT(elog_pstate_check(&ps, 1, 0, 14, 1, NULL), ELOG_PSTATE_APPEND);
	/* sequences wrap from INT32_MAX to 0 */
	T_EQ_INT(elog_pstate_last_seq(INT32_MAX - 1, 3), 0);
	T_OK(elog_pstate_update(&ps, 2, 0, 0, 1, 0, &err), &err);
	T_OK(elog_pstate_update(&ps, 2, 0, INT32_MAX - 1, 2, 5, &err), &err);
	T_EQ_INT(elog_pstate_check(&ps, 2, 0, 0, 4, NULL), ELOG_PSTATE_APPEND);
	elog_pstate_release(&ps);
}

static void test_eviction(void)
{
	struct elog_pstate ps;
	struct elog_err err;

	elog_pstate_init(&ps, 4);
	for (int64_t id = 10; id < 16; id++)
		T_OK(elog_pstate_update(&ps, id, 0, 0, 1, id * 100, &err), &err);
	T_EQ_INT(ps.count, 4);
	/* the two oldest went; the others are kept sorted */
	T_CHECK(elog_pstate_find(&ps, 10) == NULL && elog_pstate_find(&ps, 11) == NULL);
	for (int64_t id = 12; id < 16; id++)
		T_CHECK(elog_pstate_find(&ps, id) != NULL);
	for (uint32_t i = 1; i < ps.count; i++)
		T_CHECK(ps.producers[i - 1].id < ps.producers[i].id);
	elog_pstate_release(&ps);
}

static int append(struct elog_partlog *log, int64_t pid, int16_t epoch, int32_t seq, uint32_t n,
		  struct elog_err *err)
{
	struct elog_batch_builder b;
	const uint8_t *out;
	static uint8_t copy[1 << 16];
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	b.producer_id = pid;
	b.producer_epoch = epoch;
	b.base_sequence = seq;
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {1000 + i, NULL, -1, (const uint8_t *)"0123456789", 10, NULL, 0};
		if (elog_batch_builder_add(&b, &r, err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, &len, err) < 0 || len > sizeof(copy))
		goto out;
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, 1, NULL, err);
out:
	elog_batch_builder_release(&b);
	return rc;
}

/* A log without flushes, segments of segment_bytes (0: the default). */
static int open_log(const char *dir, uint64_t segment_bytes, struct elog_partlog **log,
		    struct elog_err *err)
{
	struct elog_partlog_config c;

	elog_partlog_config_default(&c);
	if (segment_bytes)
		c.segment_bytes = segment_bytes;
	c.flush = ELOG_FLUSH_NEVER;
	return elog_partlog_open(dir, &c, log, NULL, err);
}

static void test_rebuild(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog *log;
	struct elog_pstate ps;
	struct elog_err err;
	uint64_t read = 0;
	int64_t base = -1;

	T_OK(open_log(dir, 1024, &log, &err), &err);
	/* producer 5: early batches only, rolled out of the last two segments */
	T_OK(append(log, 5, 0, 0, 2, &err), &err);
	for (int i = 0; i < 40; i++)
		T_OK(append(log, 9, 0, i * 3, 3, &err), &err);
	T_OK(append(log, -1, -1, -1, 1, &err), &err);
	T_CHECK(elog_partlog_segment_count(log) > 3);
	elog_partlog_close(log);
	T_OK(open_log(dir, 1024, &log, &err), &err);
	elog_pstate_init(&ps, 0);
	T_OK(elog_pstate_rebuild(&ps, log, &read, &err), &err);
	/* bounded: far fewer batches than the log holds */
	T_CHECK(read > 0 && read < 41);
	T_EQ_INT(elog_pstate_check(&ps, 9, 0, 39 * 3, 3, &base), ELOG_PSTATE_DUPLICATE);
	T_EQ_INT(base, 2 + 39 * 3);
	T_EQ_INT(elog_pstate_check(&ps, 9, 0, 40 * 3, 3, NULL), ELOG_PSTATE_APPEND);
	T_EQ_INT(elog_pstate_check(&ps, 5, 0, 2, 1, NULL), ELOG_PSTATE_UNKNOWN);
	elog_pstate_release(&ps);
	elog_partlog_close(log);
}

/*
 * The rebuild reads headers through a buffer: small batches many to a
 * read, and batches larger than the buffer (and ones straddling its end)
 * each found at their place. Every producer's last batch is known after.
 */
static void test_rebuild_across_buffers(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog *log;
	struct elog_pstate ps;
	struct elog_err err;
	uint64_t read = 0;
	int batches = 0;

	T_OK(open_log(dir, 64 << 20, &log, &err), &err);
	for (int round = 0; round < 4; round++) {
		for (int pid = 0; pid < 300; pid++, batches++)
			T_OK(append(log, pid, 0, round, 1, &err), &err);
		/* ~25 KB each: larger than the 16 KiB buffer */
		T_OK(append(log, 1000, 0, round * 1200, 1200, &err), &err);
		batches++;
	}
	elog_partlog_close(log);
	T_OK(open_log(dir, 64 << 20, &log, &err), &err);
	elog_pstate_init(&ps, 0);
	T_OK(elog_pstate_rebuild(&ps, log, &read, &err), &err);
	T_EQ_INT(read, batches);
	for (int pid = 0; pid < 300; pid++) {
		T_EQ_INT(elog_pstate_check(&ps, pid, 0, 3, 1, NULL), ELOG_PSTATE_DUPLICATE);
		T_EQ_INT(elog_pstate_check(&ps, pid, 0, 4, 1, NULL), ELOG_PSTATE_APPEND);
	}
	T_EQ_INT(elog_pstate_check(&ps, 1000, 0, 3 * 1200, 1200, NULL), ELOG_PSTATE_DUPLICATE);
	T_EQ_INT(elog_pstate_check(&ps, 1000, 0, 4 * 1200, 1, NULL), ELOG_PSTATE_APPEND);
	elog_pstate_release(&ps);
	elog_partlog_close(log);
}

/*
 * After a purge the rebuild starts at the log start: a producer whose
 * batches all lie below it is forgotten (as one silent for two segments),
 * one whose batch holds the start is remembered.
 */
static void test_rebuild_after_purge(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog *log;
	struct elog_pstate ps;
	struct elog_err err;
	int64_t base = -1;

	T_OK(open_log(dir, 0, &log, &err), &err);
	T_OK(append(log, 5, 0, 0, 2, &err), &err);  /* offsets 0-1 */
	T_OK(append(log, 7, 0, 0, 3, &err), &err);  /* offsets 2-4 */
	T_OK(append(log, 9, 0, 0, 3, &err), &err);  /* offsets 5-7 */
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_OK(elog_partlog_start_set(log, 3, &err), &err);
	elog_partlog_close(log);
	T_OK(open_log(dir, 0, &log, &err), &err);
	elog_pstate_init(&ps, 0);
	T_OK(elog_pstate_rebuild(&ps, log, NULL, &err), &err);
	T_EQ_INT(elog_pstate_check(&ps, 5, 0, 2, 1, NULL), ELOG_PSTATE_UNKNOWN);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 0, 3, &base), ELOG_PSTATE_DUPLICATE);
	T_EQ_INT(base, 2);
	T_EQ_INT(elog_pstate_check(&ps, 9, 0, 3, 1, NULL), ELOG_PSTATE_APPEND);
	elog_pstate_release(&ps);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_sequences);
	T_RUN(test_window_and_wrap);
	T_RUN(test_eviction);
	T_RUN(test_rebuild);
	T_RUN(test_rebuild_across_buffers);
	T_RUN(test_rebuild_after_purge);
	return t_finish();
}
