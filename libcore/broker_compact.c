/*
 * broker_compact — when and which partitions of cleanup.policy=compact
 * topics are compacted (issue 8). The work itself runs on the compaction
 * thread (compactor.h), one partition at a time; the event loop only
 * prepares a job and swaps its result in (partlog.h, "compaction"), both
 * without reading segment bytes.
 *
 * The timer runs every compaction_interval_ms, and every
 * ELOG_BROKER_COMPACT_POLL_MS while a job runs. Each time it:
 *   1. takes back a finished job and finishes it on the loop: its
 *      segments are swapped in, and "partition compacted" logged (level=info,
 *      with the segments, bytes and records removed) when any was;
 *   2. when the thread is idle, looks for the next partition (round robin)
 *      that is due: one whose compactable end (closed segments below the
 *      recovery point and, replicated, below the commit) passed where its
 *      next pass starts (compact_from: new closed segments, or the rest of
 *      a pass whose map filled), or whose oldest kept tombstone fell due
 *      (then the pass starts at the log's start again), and whose last
 *      pass ended compaction_interval_ms ago or more (unless the map
 *      filled: the rest follows at once). It prepares a job and submits it.
 * A pass that fails (a damaged batch, an I/O error) is logged and tried
 * again only once more segments close (or after a restart), not every
 * interval. So passes run back to back over the partitions that are due,
 * a partition gets at most one pass per interval (its passes over more
 * keys than the map holds aside), and a new closed
 * segment is compacted within about two intervals once it is synced. After
 * a restart compact_from is 0: the first pass covers the whole log.
 *
 * Each replica compacts its own log (Kafka does the same): the leader's
 * and a follower's compacted segments may differ, offsets never do.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker_int.h"

/* How often the timer looks for the end of a running job. */
#define ELOG_BROKER_COMPACT_POLL_MS 100

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int compacted(const struct elog_topic *t)
{
	return (t->config.cleanup & ELOG_CLEANUP_COMPACT) != 0;
}

static int64_t limit_of(struct elog_broker *b, struct elog_partition *p)
{
	struct elog_store *s = b->store;

	return s->retain_limit && p->replication ? s->retain_limit(s->retain_ctx, p) : INT64_MAX;
}

/* ---------------------------------------------------------------- finishing */

static void finish(struct elog_broker *b, struct elog_partlog_compact_job *job, int rc,
		   const struct elog_err *run_err)
{
	const struct elog_partlog_compact_stats *st = elog_partlog_compact_job_stats(job);
	struct elog_partition *p = elog_store_partition(b->store, b->compact_topic,
						       strlen(b->compact_topic),
						       b->compact_partition);
	char v[ELOG_LOG_VALUE_MAX];
	struct elog_err err;

	elog_logfmt_value(v, sizeof(v), b->compact_topic);
	if (rc < 0) {
		if (run_err->code == ELOG_E_BUSY)
			return; /* stopped */
		elog_broker_logf(b, ELOG_LOG_WARN, "compaction failed",
				 "topic=%s partition=%u error=\"%s\"", v, b->compact_partition,
				 run_err->msg);
		/* Not again every interval (a bad batch fails every pass): once
		 * more segments close, or after a restart. */
		if (p && p->log) {
			p->compact_from = elog_partlog_compact_end(p->log, limit_of(b, p));
			p->compact_due_ms = 0;
		}
		return;
	}
	if (!p || !p->log)
		return; /* deleted meanwhile: job_free removes the temp files */
	p->compact_next_ms = elog_loop_now_ms(&b->loop) + b->config.compaction_interval_ms;
	if (elog_partlog_compact_finish(p->log, job, &err) < 0) {
		/* A segment changed under the pass (retention, a truncation): next time. */
		elog_broker_logf(b, err.code == ELOG_E_RANGE ? ELOG_LOG_DEBUG : ELOG_LOG_WARN,
				 "compaction not applied", "topic=%s partition=%u error=\"%s\"", v,
				 b->compact_partition, err.msg);
		elog_store_partition_check(b->store, p);
		return;
	}
	p->compact_from = st->end_offset;
	if (st->full)
		p->compact_next_ms = 0; /* the rest of the keys at once */
	if (st->tombstone_due_ms != INT64_MAX &&
	    (p->compact_due_ms == 0 || st->tombstone_due_ms < p->compact_due_ms))
		p->compact_due_ms = st->tombstone_due_ms;
	if (st->segments)
		elog_broker_logf(b, ELOG_LOG_INFO, "partition compacted",
				 "topic=%s partition=%u segments=%u bytes_before=%" PRIu64
				 " bytes_after=%" PRIu64 " records_removed=%" PRIu64
				 " end_offset=%" PRId64 " full=%d ms=%" PRId64,
				 v, b->compact_partition, st->segments, st->bytes_before,
				 st->bytes_after, st->records_removed, st->end_offset, st->full,
				 elog_loop_now_ms(&b->loop) - b->compact_started_ms);
}

/* ---------------------------------------------------------------- starting */

/* Start a pass on p if it is due: 1 started, 0 not due, -1 failed (logged). */
static int start_one(struct elog_broker *b, struct elog_topic *t, struct elog_partition *p,
		     int64_t now)
{
	struct elog_partlog_compact_job *job = NULL;
	struct elog_err err;
	int64_t end, from = p->compact_from;
	char v[ELOG_LOG_VALUE_MAX];

	if (!p->log || elog_partlog_failed(p->log, NULL) ||
	    elog_loop_now_ms(&b->loop) < p->compact_next_ms)
		return 0;
	end = elog_partlog_compact_end(p->log, limit_of(b, p));
	if (end <= from) {
		if (!p->compact_due_ms || now < p->compact_due_ms)
			return 0;
		from = 0; /* tombstones fell due: a pass over the whole log */
	}
	if (from <= elog_partlog_start_offset(p->log))
		p->compact_due_ms = 0; /* this pass sees every tombstone again */
	if (elog_partlog_compact_prepare(p->log, from, limit_of(b, p), now,
					 t->config.delete_retention_ms, &job, &err) < 0 ||
	    (job && elog_compactor_submit(&b->compactor, job, &err) < 0)) {
		elog_partlog_compact_job_free(job);
		elog_broker_logf(b, ELOG_LOG_WARN, "compaction not started",
				 "topic=%s partition=%u error=\"%s\"",
				 elog_logfmt_value(v, sizeof(v), t->name), p->id, err.msg);
		elog_store_partition_check(b->store, p);
		return -1;
	}
	if (!job) {
		p->compact_from = end;
		return 0;
	}
	snprintf(b->compact_topic, sizeof(b->compact_topic), "%s", t->name);
	b->compact_partition = p->id;
	b->compact_started_ms = elog_loop_now_ms(&b->loop);
	return 1;
}

/* The next due partition after the cursor, round robin. */
static void start_next(struct elog_broker *b, int64_t now)
{
	struct elog_store *s = b->store;
	uint64_t total = 0, k = 0;

	for (uint32_t i = 0; i < s->topic_count; i++)
		total += s->topics[i]->partition_count;
	if (!total)
		return;
	for (int round = 0; round < 2; round++) {
		k = 0;
		for (uint32_t i = 0; i < s->topic_count; i++) {
			struct elog_topic *t = s->topics[i];
			if (!compacted(t)) {
				k += t->partition_count;
				continue;
			}
			for (uint32_t j = 0; j < t->partition_count; j++, k++) {
				/* First round: after the cursor; second: up to it. */
				int after = k > b->compact_cursor % total;
				if (round == 0 ? !after : after)
					continue;
				if (start_one(b, t, t->partitions[j], now) != 0) {
					b->compact_cursor = k;
					return;
				}
			}
		}
	}
}

/* The interval; while a job runs, the poll when it is shorter. */
static int64_t next_tick_ms(struct elog_broker *b)
{
	int64_t ms = b->config.compaction_interval_ms;

	if (elog_compactor_state(&b->compactor) != ELOG_COMPACTOR_IDLE &&
	    ms > ELOG_BROKER_COMPACT_POLL_MS)
		ms = ELOG_BROKER_COMPACT_POLL_MS;
	return ms;
}

static void on_compaction_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	struct elog_partlog_compact_job *job;
	struct elog_err err;
	int rc = 0;

	memset(&err, 0, sizeof(err));
	job = elog_compactor_take(&b->compactor, &rc, &err);
	if (job) {
		finish(b, job, rc, &err);
		elog_partlog_compact_job_free(job);
	}
	if (!b->stopping && elog_compactor_state(&b->compactor) == ELOG_COMPACTOR_IDLE)
		start_next(b, wall_ms());
	elog_loop_timer_start(loop, &b->compaction_timer, elog_loop_now_ms(loop) + next_tick_ms(b),
			      NULL);
}

int elog_broker_compact_start(struct elog_broker *b, struct elog_err *err)
{
	elog_timer_init(&b->compaction_timer, on_compaction_timer, b);
	if (elog_compactor_start(&b->compactor, (size_t)b->config.compaction_map_bytes, err) < 0)
		return -1;
	return elog_loop_timer_start(&b->loop, &b->compaction_timer,
				     elog_loop_now_ms(&b->loop) + b->config.compaction_interval_ms,
				     err);
}

void elog_broker_compact_stop(struct elog_broker *b)
{
	elog_compactor_stop(&b->compactor);
}
