/*
 * dlq — dead letters as elog-dlq reads them (docs/processing.md is the
 * contract): the elog.* headers a dead letter carries, and the record its
 * replay group keeps of what was decided.
 *
 * Headers. A dead letter's failure story is in text headers (numbers in
 * decimal): elog.topic, elog.partition, elog.offset, elog.timestamp,
 * elog.group, elog.attempts, elog.first_failure, elog.last_failure,
 * elog.verdict, elog.stderr, elog.host, elog.not_before, elog.tier and
 * elog.replay.count. elog_dead_letter_read takes them from a record
 * without copying and without trusting them: a number that does not read
 * as one is "absent" (its field -1 or ELOG_DLQ_NO_TIME), a text is kept as
 * the bytes it is (the printers escape it). When a name repeats the last
 * one counts, except elog.replay.count, where the largest does (a second
 * header never resets a loop) and one that does not read makes the whole
 * count unreadable (-1: elog-dlq refuses to replay it).
 *
 * The replay group. `elog-dlq replay` commits, per DLQ partition, the
 * position before which every record is decided (replayed, or left at
 * --max-replays), and in the commit's metadata the decided offsets past
 * it:
 *
 *     elog-dlq decided=17-40,45,50-52
 *
 * (ranges inclusive, ascending, disjoint, each past the position). The
 * metadata is at most ELOG_DLQ_META_MAX bytes (the broker's bound on a
 * commit's metadata); the tool stops before it would need more. Empty
 * metadata (a commit elog-replay -g made, say) is a position alone;
 * anything else is refused, so that a group written by another tool is
 * never taken for a record of what was replayed.
 *
 * The offsets are an elog_offset_set: sorted disjoint half-open ranges
 * [lo, hi), few of them (the metadata bound keeps the ranges past the
 * position few; the one before it is one).
 */
#ifndef ELOG_DLQ_H
#define ELOG_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

#define ELOG_DLQ_GROUP_PREFIX "elog-dlq."
#define ELOG_DLQ_GROUP_MAX 255
#define ELOG_DLQ_META_MAX 1024
#define ELOG_DLQ_META_PREFIX "elog-dlq decided="
#define ELOG_DLQ_REPLAYS_DEFAULT 3
#define ELOG_DLQ_NO_TIME INT64_MIN

/* A header value: absent when ptr is NULL (a null value reads as absent too). */
struct elog_dlq_text {
	const uint8_t *ptr;
	size_t len;
};

struct elog_dead_letter {
	struct elog_dlq_text topic, verdict, stderr_tail, group, host, tier;
	int64_t partition;             /* elog.partition; -1: absent or not a partition */
	int64_t offset;                /* elog.offset; -1 */
	int64_t attempts;              /* elog.attempts; -1 */
	int64_t timestamp_ms, first_failure_ms, last_failure_ms, not_before_ms;  /* or NO_TIME */
	int64_t replay_count;          /* 0 when absent; -1 unreadable */
};

/* The headers of v (pointers into v's buffers). */
void elog_dead_letter_read(const struct elog_record_view *v, struct elog_dead_letter *dl);
/* When it became a dead letter: elog.last_failure, else the record's timestamp. */
int64_t elog_dead_letter_time(const struct elog_dead_letter *dl, const struct elog_record_view *v);
/* The original topic as a topic name: 1 and name (NUL-terminated, cap >=
 * ELOG_TOPIC_NAME_MAX + 1) when elog.topic is one, 0 when absent, -1 when it
 * is not a valid topic name. */
int elog_dead_letter_topic(const struct elog_dead_letter *dl, char *name, size_t cap);

/* "elog-dlq.<topic>" into out (cap >= ELOG_DLQ_GROUP_MAX + 1); -1 when longer
 * than a group name may be. */
int elog_dlq_group_name(const char *topic, char *out, size_t cap, struct elog_err *err);

/* ------------------------------------------------------------ offset sets */

struct elog_offset_range {
	int64_t lo, hi;                /* [lo, hi) */
};

struct elog_offset_set {
	struct elog_offset_range *r;
	size_t n, cap;
};

void elog_offset_set_init(struct elog_offset_set *s);
void elog_offset_set_release(struct elog_offset_set *s);
/* Add [lo, hi) (lo < hi), merging. -1 only when out of memory. */
int elog_offset_set_add(struct elog_offset_set *s, int64_t lo, int64_t hi, struct elog_err *err);
/* Take one offset out (splitting its range). -1 only when out of memory. */
int elog_offset_set_remove(struct elog_offset_set *s, int64_t o, struct elog_err *err);
int elog_offset_set_has(const struct elog_offset_set *s, int64_t o);
/* The first offset >= from that is not in s. */
int64_t elog_offset_set_gap(const struct elog_offset_set *s, int64_t from);
/* How many of [lo, hi) are in s. */
int64_t elog_offset_set_count(const struct elog_offset_set *s, int64_t lo, int64_t hi);

/* --------------------------------------------------- the replay group's record */

/* Bytes of the metadata for s past position (no NUL). */
size_t elog_dlq_meta_len(const struct elog_offset_set *s, int64_t position);
/* Write it into out (NUL-terminated); -1 with ELOG_E_LIMIT when it needs more
 * than ELOG_DLQ_META_MAX bytes or cap. */
int elog_dlq_meta_format(const struct elog_offset_set *s, int64_t position, char *out, size_t cap,
			 struct elog_err *err);
/* Add the offsets a commit's metadata lists to s; -1 with ELOG_E_INVAL and
 * why when it is not elog-dlq's record. */
int elog_dlq_meta_parse(const char *text, struct elog_offset_set *s, struct elog_err *err);

#endif
