/*
 * Unit tests: the segment-level compaction driver (partlog_compact.c):
 * prepare, run and finish over a real partition log; the latest record of
 * each key survives at its offset, every batch boundary stays (an emptied
 * batch becomes an empty filler), the active segment and segments past the recovery
 * point are left alone, passes with a small map give the same log as one
 * large map, a reopen validates and reads the same, a temp file a crash
 * left is removed on open, a segment that changed under a pass is not
 * swapped, recovery validating every segment finds no damage in compacted
 * ones, and the producer state rebuilt from an emptied batch is right.
 */
#include "t.h"
#include "batch.h"
#include "compact.h"
#include "partlog.h"
#include "pstate.h"
#include "segment.h"

#include <fcntl.h>
#include <sys/stat.h>

#define KEYS_MAX 64
#define NOW_MS 10000000

/* Append one batch: records for keys [k0, k0 + n) with value "<key>=<round>",
 * from producer pid (-1: none); null values when round < 0. */
static int append_keys(struct elog_partlog *log, int64_t pid, int k0, int n, int round,
		       int64_t ts, struct elog_err *err)
{
	struct elog_batch_builder b;
	const uint8_t *out;
	static uint8_t copy[1 << 16];
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	if (pid >= 0) {
		b.producer_id = pid;
		b.producer_epoch = 0;
		b.base_sequence = 0;
	}
	for (int i = 0; i < n; i++) {
		char key[16], value[32];
		int kl = snprintf(key, sizeof(key), "k%d", k0 + i);
		int vl = snprintf(value, sizeof(value), "k%d=%d", k0 + i, round);
		struct elog_record r = {ts, (const uint8_t *)key, kl, (const uint8_t *)value,
					round < 0 ? -1 : vl, NULL, 0};
		if (elog_batch_builder_add(&b, &r, err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, &len, err) < 0)
		goto out;
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, 1, NULL, err);
out:
	elog_batch_builder_release(&b);
	return rc;
}

static void config_small(struct elog_partlog_config *c)
{
	elog_partlog_config_default(c);
	c->segment_bytes = 1024;
	c->index_interval_bytes = 200;
	c->flush = ELOG_FLUSH_NEVER;
}

/* What a read of the whole log finds: per key its latest value (-2: none,
 * -1: a tombstone) and how many records it has; batches and empty ones. */
struct seen {
	int latest[KEYS_MAX];
	int64_t latest_offset[KEYS_MAX];
	int count[KEYS_MAX];
	uint32_t records, batches, empty;
	int64_t bases[512];          /* of the first 512 batches */
};

static int read_all(struct elog_partlog *log, struct seen *s, struct elog_err *err)
{
	static uint8_t buf[1 << 16];
	struct elog_partlog_slice sl;
	struct elog_batch_reader r;
	struct elog_record_view *v = malloc(sizeof(*v));
	int64_t o = elog_partlog_start_offset(log), end = elog_partlog_next_offset(log);
	int rc = -1;

	memset(s, 0, sizeof(*s));
	for (int k = 0; k < KEYS_MAX; k++)
		s->latest[k] = -2;
	elog_batch_reader_init(&r);
	r.rules.offsets = ELOG_BATCH_OFFSETS_GAPS;
	while (o < end) {
		uint32_t pos = 0;
		if (elog_partlog_read(log, o, buf, sizeof(buf), &sl, err) < 0)
			goto out;
		while (pos < sl.len) {
			struct elog_batch_header h;
			if (elog_batch_header_decode_as(buf + pos, sl.len - pos, ELOG_BATCH_OFFSETS_GAPS,
							&h, err) < 0)
				goto out;
			/* The first batch may begin below a purged start. */
			if (h.base_offset != o &&
			    !(o == elog_partlog_start_offset(log) && h.base_offset < o)) {
				elog_err_set(err, ELOG_E_CORRUPT, "batch at %lld, expected %lld",
					     (long long)h.base_offset, (long long)o);
				goto out;
			}
			if (elog_batch_reader_open(&r, buf + pos, elog_batch_total_size(&h), err) < 0)
				goto out;
			if (s->batches < 512)
				s->bases[s->batches] = h.base_offset;
			s->batches++;
			s->empty += h.record_count == 0;
			while (elog_batch_reader_next(&r, v, err) == 1) {
				int k = atoi((const char *)v->key + 1);
				s->records++;
				s->count[k]++;
				s->latest_offset[k] = v->offset;
				s->latest[k] = v->value_len < 0
						       ? -1
						       : atoi(strchr((const char *)v->value, '=') + 1);
			}
			o = elog_batch_last_offset(&h) + 1;
			pos += elog_batch_total_size(&h);
		}
	}
	rc = 0;
out:
	elog_batch_reader_release(&r);
	free(v);
	return rc;
}

/* One pass; *stats copied out. */
static int compact_once(struct elog_partlog *log, struct elog_compact_map *map, int64_t from,
			int64_t retention_ms, struct elog_partlog_compact_stats *stats,
			struct elog_err *err)
{
	struct elog_partlog_compact_job *job = NULL;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	stats->end_offset = from;
	if (elog_partlog_compact_prepare(log, from, INT64_MAX, NOW_MS, retention_ms, &job, err) < 0)
		return -1;
	if (!job)
		return 0;
	if (elog_partlog_compact_run(job, map, NULL, err) == 0 &&
	    elog_partlog_compact_finish(log, job, err) == 0)
		rc = 0;
	*stats = *elog_partlog_compact_job_stats(job);
	elog_partlog_compact_job_free(job);
	return rc;
}

/* Passes until one covers the rest. */
static int compact_all(struct elog_partlog *log, size_t map_bytes, int64_t retention_ms,
		       uint32_t *passes, struct elog_err *err)
{
	struct elog_compact_map map;
	struct elog_partlog_compact_stats st;
	int64_t from = 0;
	int rc = 0;

	*passes = 0;
	if (elog_compact_map_init(&map, map_bytes, err) < 0)
		return -1;
	do {
		rc = compact_once(log, &map, from, retention_ms, &st, err);
		(*passes)++;
		from = st.end_offset;
	} while (rc == 0 && st.full && *passes < 100);
	elog_compact_map_release(&map);
	return rc;
}

/* 40 keys, 6 rounds of batches from several producers, split unevenly. */
static int fill(struct elog_partlog *log, struct elog_err *err)
{
	int64_t pid = 0;

	for (int round = 1; round <= 6; round++)
		for (int k = 0; k < 40;) {
			int n = 1 + (k + round) % 7;
			if (k + n > 40)
				n = 40 - k;
			if (append_keys(log, round % 3 ? pid++ % 4 : -1, k, n, round, NOW_MS - 1000, err) < 0)
				return -1;
			k += n;
		}
	return 0;
}

static struct elog_partlog *open_log(const char *dir, struct elog_err *err)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log = NULL;

	config_small(&c);
	if (elog_partlog_open(dir, &c, &log, &rep, err) < 0)
		return NULL;
	return log;
}

static void check_latest(const struct seen *s, int round_min, int64_t compacted_end)
{
	for (int k = 0; k < 40; k++) {
		T_EQ_INT(s->latest[k], 6);
		/* At most one record below the compacted end: the latest, or none. */
		T_CHECK(s->count[k] >= 1);
	}
	(void)round_min;
	(void)compacted_end;
}

static void test_keeps_latest(void)
{
	char dir[4200];
	struct elog_partlog *log;
	struct elog_err err;
	struct seen before, after, again;
	uint32_t passes;
	uint64_t size_before;
	int64_t end;

	snprintf(dir, sizeof(dir), "%s/p", t_tmpdir());
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_OK(fill(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_ASSERT(elog_partlog_segment_count(log) > 4);
	T_OK(read_all(log, &before, &err), &err);
	end = elog_partlog_compact_end(log, INT64_MAX);
	T_CHECK(end > 0 && end < elog_partlog_next_offset(log));
	size_before = elog_partlog_size_bytes(log);
	T_OK(compact_all(log, 1 << 20, 3600000, &passes, &err), &err);
	T_EQ_INT(passes, 1);
	T_CHECK(elog_partlog_size_bytes(log) < size_before);
	T_OK(read_all(log, &after, &err), &err);
	check_latest(&after, 6, end);
	T_CHECK(after.records < before.records);
	T_CHECK(after.empty > 0);
	/* Every batch boundary stays: a follower's next offset, a truncation
	 * point, a term's first offset still fall on one. */
	T_EQ_INT(after.batches, before.batches);
	T_CHECK(memcmp(after.bases, before.bases, sizeof(before.bases)) == 0);
	/* Keys whose latest record lies below the compacted end have just that one. */
	for (int k = 0; k < 40; k++)
		if (after.latest_offset[k] < end)
			T_EQ_INT(after.count[k], 1);
	/* Again: nothing changes. */
	T_OK(compact_all(log, 1 << 20, 3600000, &passes, &err), &err);
	T_OK(read_all(log, &again, &err), &err);
	T_CHECK(memcmp(&after, &again, sizeof(after)) == 0);
	elog_partlog_close(log);
	/* Reopen: recovery accepts the compacted segments; the same records. */
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_OK(read_all(log, &again, &err), &err);
	T_CHECK(memcmp(&after, &again, sizeof(after)) == 0);
	elog_partlog_close(log);
	/* An unreadable recovery.point: every segment is validated batch by
	 * batch, the compacted ones too, and none is damage. */
	{
		char path[4300];
		struct elog_partlog_config c;
		struct elog_partlog_recovery rep;
		int fd;

		snprintf(path, sizeof(path), "%s/recovery.point", dir);
		T_ASSERT((fd = open(path, O_WRONLY | O_TRUNC)) >= 0);
		T_CHECK(write(fd, "garbage\n", 8) == 8);
		close(fd);
		config_small(&c);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(rep.recovery_point_state, ELOG_RECOVERY_POINT_BAD);
		T_EQ_INT(rep.segments_validated, rep.segments);
		T_EQ_INT(rep.damaged_extents, 0);
		T_EQ_INT(rep.truncated_bytes, 0);
		T_OK(read_all(log, &again, &err), &err);
		T_CHECK(memcmp(&after, &again, sizeof(after)) == 0);
		elog_partlog_close(log);
	}
}

/* A map of 16 slots (12 keys) takes several passes and ends where one large map does. */
static void test_passes(void)
{
	char a[4200], b[4200];
	struct elog_partlog *la, *lb;
	struct elog_err err;
	struct seen one, many;
	uint32_t passes;

	snprintf(a, sizeof(a), "%s/a", t_tmpdir());
	snprintf(b, sizeof(b), "%s/b", t_tmpdir());
	T_ASSERT((la = open_log(a, &err)) != NULL);
	T_ASSERT((lb = open_log(b, &err)) != NULL);
	T_OK(fill(la, &err), &err);
	T_OK(fill(lb, &err), &err);
	T_OK(elog_partlog_flush(la, &err), &err);
	T_OK(elog_partlog_flush(lb, &err), &err);
	T_OK(compact_all(la, 1 << 20, 3600000, &passes, &err), &err);
	T_EQ_INT(passes, 1);
	T_OK(compact_all(lb, 16 * ELOG_COMPACT_MAP_SLOT_SIZE, 3600000, &passes, &err), &err);
	T_CHECK(passes > 2);
	T_OK(read_all(la, &one, &err), &err);
	T_OK(read_all(lb, &many, &err), &err);
	T_CHECK(memcmp(&one, &many, sizeof(one)) == 0);
	T_EQ_INT(elog_partlog_size_bytes(la), elog_partlog_size_bytes(lb));
	elog_partlog_close(la);
	elog_partlog_close(lb);
}

/* Tombstones stay delete.retention.ms after their batch, then go with their key. */
static void test_tombstones(void)
{
	char dir[4200];
	struct elog_partlog *log;
	struct elog_err err;
	struct elog_compact_map map;
	struct elog_partlog_compact_stats st;
	struct seen s;

	snprintf(dir, sizeof(dir), "%s/t", t_tmpdir());
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_OK(elog_compact_map_init(&map, 1 << 16, &err), &err);
	for (int k = 0; k < 20; k += 5)
		T_OK(append_keys(log, -1, k, 5, 1, NOW_MS - 5000, &err), &err);
	T_OK(append_keys(log, -1, 0, 5, -1, NOW_MS - 5000, &err), &err);   /* tombstones k0-k4 */
	for (int i = 0; i < 12; i++)
		T_OK(append_keys(log, -1, 10, 10, 2, NOW_MS - 5000, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	/* Retention 10 s: not yet due (their batch is 5 s old). */
	T_OK(compact_once(log, &map, 0, 10000, &st, &err), &err);
	T_EQ_INT(st.tombstone_due_ms, NOW_MS - 5000 + 10000 + 1);
	T_OK(read_all(log, &s, &err), &err);
	for (int k = 0; k < 5; k++) {
		T_EQ_INT(s.latest[k], -1);
		T_EQ_INT(s.count[k], 1);
	}
	/* Retention 1 s: due; the keys are gone entirely. */
	T_OK(compact_once(log, &map, 0, 1000, &st, &err), &err);
	T_EQ_INT(st.tombstone_due_ms, INT64_MAX);
	T_OK(read_all(log, &s, &err), &err);
	for (int k = 0; k < 5; k++)
		T_EQ_INT(s.count[k], 0);
	for (int k = 5; k < 10; k++)
		T_EQ_INT(s.latest[k], 1);
	elog_compact_map_release(&map);
	elog_partlog_close(log);
}

/* The active segment and closed ones past the recovery point are not touched. */
static void test_only_synced_closed(void)
{
	char dir[4200];
	struct elog_partlog *log;
	struct elog_partlog_compact_job *job = NULL;
	struct elog_err err;

	snprintf(dir, sizeof(dir), "%s/u", t_tmpdir());
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_OK(fill(log, &err), &err);
	/* Nothing flushed: no recovery point past the first segment. */
	T_EQ_INT(elog_partlog_compact_end(log, INT64_MAX), 0);
	T_OK(elog_partlog_compact_prepare(log, 0, INT64_MAX, NOW_MS, 0, &job, &err), &err);
	T_CHECK(job == NULL);
	T_OK(elog_partlog_flush(log, &err), &err);
	/* A limit (a replica's commit) holds it back too. */
	T_EQ_INT(elog_partlog_compact_end(log, 1), 0);
	T_CHECK(elog_partlog_compact_end(log, INT64_MAX) > 0);
	elog_partlog_close(log);
}

/* A temp file a crash left is removed on open; a segment changed under a pass is not swapped. */
static void test_leftovers_and_races(void)
{
	char dir[4200], path[4300];
	struct elog_partlog *log;
	struct elog_partlog_compact_job *job = NULL;
	struct elog_compact_map map;
	struct elog_err err;
	struct seen before, after;
	struct stat st;
	uint32_t deleted;
	int fd;

	snprintf(dir, sizeof(dir), "%s/r", t_tmpdir());
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_OK(fill(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	elog_partlog_close(log);
	snprintf(path, sizeof(path), "%s/00000000000000000000.cleaned", dir);
	T_ASSERT((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
	T_CHECK(write(fd, "half", 4) == 4);
	close(fd);
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_CHECK(stat(path, &st) < 0);
	T_OK(read_all(log, &before, &err), &err);
	/* Run a pass, then let retention-like deletion change the log under it. */
	T_OK(elog_compact_map_init(&map, 1 << 20, &err), &err);
	T_OK(elog_partlog_compact_prepare(log, 0, INT64_MAX, NOW_MS, 0, &job, &err), &err);
	T_ASSERT(job != NULL);
	T_OK(elog_partlog_compact_run(job, &map, NULL, &err), &err);
	T_OK(elog_partlog_start_set(log, 1, &err), &err);
	T_OK(elog_partlog_retain_purged(log, &deleted, &err), &err);
	T_EQ_INT(deleted, 0); /* the first segment is not wholly below 1: still swappable */
	T_OK(elog_partlog_compact_finish(log, job, &err), &err);
	T_CHECK(elog_partlog_compact_job_stats(job)->segments > 0);
	elog_partlog_compact_job_free(job);
	T_OK(read_all(log, &after, &err), &err);
	for (int k = 0; k < 40; k++)
		T_EQ_INT(after.latest[k], 6);
	/* A job over segments that are gone: nothing swapped, temp files removed. */
	T_OK(fill(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_OK(elog_partlog_compact_prepare(log, 0, INT64_MAX, NOW_MS, 0, &job, &err), &err);
	T_ASSERT(job != NULL);
	T_OK(elog_partlog_compact_run(job, &map, NULL, &err), &err);
	T_OK(elog_partlog_truncate(log, 0, &err), &err);
	T_CHECK(elog_partlog_compact_finish(log, job, &err) < 0);
	T_EQ_INT(err.code, ELOG_E_RANGE);
	elog_partlog_compact_job_free(job);
	snprintf(path, sizeof(path), "%s/00000000000000000000.cleaned", dir);
	T_CHECK(stat(path, &st) < 0);
	/* Retention deleting the oldest segment meanwhile: the others are swapped. */
	T_OK(fill(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_OK(elog_partlog_compact_prepare(log, 0, INT64_MAX, NOW_MS, 0, &job, &err), &err);
	T_ASSERT(job != NULL);
	T_OK(elog_partlog_compact_run(job, &map, NULL, &err), &err);
	{
		uint32_t count0 = elog_partlog_segment_count(log);
		struct elog_partlog_slice sl;
		/* The second segment's base: where a read of offset 0's segment ends. */
		T_OK(elog_partlog_locate(log, elog_partlog_start_offset(log), UINT32_MAX, &sl, &err),
		     &err);
		T_OK(elog_partlog_start_set(log, sl.next_offset, &err), &err);
		T_OK(elog_partlog_retain_purged(log, &deleted, &err), &err);
		T_EQ_INT(deleted, 1);
		T_EQ_INT(elog_partlog_segment_count(log), count0 - 1);
	}
	T_OK(elog_partlog_compact_finish(log, job, &err), &err);
	T_CHECK(elog_partlog_compact_job_stats(job)->segments > 0);
	elog_partlog_compact_job_free(job);
	T_OK(read_all(log, &after, &err), &err);
	for (int k = 0; k < 40; k++)
		T_EQ_INT(after.latest[k], 6);
	/* A reopen between run and finish removes the temp files: nothing swapped. */
	T_OK(fill(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_OK(elog_partlog_compact_prepare(log, 0, INT64_MAX, NOW_MS, 0, &job, &err), &err);
	T_ASSERT(job != NULL);
	T_OK(elog_partlog_compact_run(job, &map, NULL, &err), &err);
	elog_partlog_close(log);
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	T_CHECK(elog_partlog_compact_finish(log, job, &err) < 0);
	T_EQ_INT(err.code, ELOG_E_RANGE);
	elog_partlog_compact_job_free(job);
	T_OK(read_all(log, &after, &err), &err);
	for (int k = 0; k < 40; k++)
		T_EQ_INT(after.latest[k], 6);
	elog_compact_map_release(&map);
	elog_partlog_close(log);
}

/* A producer whose newest batch lost every record: the empty batch keeps its
 * sequence range, and the producer state rebuilt from headers is right. */
static void test_producer_state(void)
{
	char dir[4200];
	struct elog_partlog *log;
	struct elog_compact_map map;
	struct elog_partlog_compact_stats st;
	struct elog_pstate ps;
	const struct elog_pstate_producer *pr;
	struct elog_err err;
	struct seen s;
	int64_t base;

	snprintf(dir, sizeof(dir), "%s/ps", t_tmpdir());
	T_ASSERT((log = open_log(dir, &err)) != NULL);
	/* Producer 7: sequences 0-4 then 5-9, keys k0-k4 twice. */
	T_OK(append_keys(log, 7, 0, 5, 1, NOW_MS, &err), &err);
	{
		struct elog_batch_builder b;
		const uint8_t *out;
		static uint8_t copy[1 << 16];
		size_t len;

		elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
		b.producer_id = 7;
		b.producer_epoch = 0;
		b.base_sequence = 5;
		for (int i = 0; i < 5; i++) {
			char key[8], value[16];
			int kl = snprintf(key, sizeof(key), "k%d", i);
			int vl = snprintf(value, sizeof(value), "k%d=2", i);
			struct elog_record r = {NOW_MS, (const uint8_t *)key, kl, (const uint8_t *)value,
						vl, NULL, 0};
			T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		}
		T_OK(elog_batch_builder_finish(&b, &out, &len, &err), &err);
		memcpy(copy, out, len);
		T_OK(elog_partlog_append(log, copy, len, 1, &base, &err), &err);
		elog_batch_builder_release(&b);
	}
	/* Keys k0-k4 again from no producer, in later segments. */
	for (int i = 0; i < 8; i++)
		T_OK(append_keys(log, -1, 0, 5, 3, NOW_MS, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_OK(elog_compact_map_init(&map, 1 << 16, &err), &err);
	T_OK(compact_once(log, &map, 0, 1000, &st, &err), &err);
	T_CHECK(st.segments > 0);
	T_OK(read_all(log, &s, &err), &err);
	T_EQ_INT(s.bases[1], base);   /* the producer's newest batch is still there, */
	T_CHECK(s.empty >= 2);        /* empty, as is its first */
	elog_pstate_init(&ps, 16);
	T_OK(elog_pstate_rebuild(&ps, log, NULL, &err), &err);
	T_ASSERT((pr = elog_pstate_find(&ps, 7)) != NULL);
	T_EQ_INT(pr->batches[pr->newest].first_seq, 5);
	T_EQ_INT(pr->batches[pr->newest].last_seq, 9);
	T_EQ_INT(pr->batches[pr->newest].base_offset, base);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 10, 1, NULL), ELOG_PSTATE_APPEND);
	T_EQ_INT(elog_pstate_check(&ps, 7, 0, 5, 5, NULL), ELOG_PSTATE_DUPLICATE);
	elog_pstate_release(&ps);
	elog_compact_map_release(&map);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_producer_state);
	T_RUN(test_keeps_latest);
	T_RUN(test_passes);
	T_RUN(test_tombstones);
	T_RUN(test_only_synced_closed);
	T_RUN(test_leftovers_and_races);
	return t_finish();
}
