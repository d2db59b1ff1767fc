/*
 * processor — the records a group member took, run through a command
 * (runner.h) with retries, retry tiers, dead letters and a circuit breaker
 * (docs/processing.md). elog-consume -g --exec / --coproc drives it: it
 * adds the records it fetches while there is room, polls, and commits each
 * partition's position: the offset of its oldest record not done yet (done:
 * succeeded, or acknowledged in a retry or dead-letter topic).
 *
 * Records of one key in one partition are started one at a time, in
 * order; null keys have no order. A record from a retry topic is not
 * started before its elog.not_before; elog_processor_add returns that time
 * so that the caller stops fetching the partition meanwhile.
 *
 * Records are copied in; a partition given up (elog_processor_drop) loses
 * what it queued, and the verdicts and acknowledgements of its records
 * still running or being handed on are ignored when they come.
 */
#ifndef ELOG_PROCESSOR_H
#define ELOG_PROCESSOR_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "err.h"
#include "runner.h"

#define ELOG_PROCESSOR_TIERS_MAX 8
#define ELOG_PROCESSOR_TOPICS_MAX 64      /* main topics of one processor */

struct elog_processor_config {
	struct elog_runner_config runner;
	const char *group;
	const char *member_host;             /* elog.host */
	uint32_t retries;                    /* in-place tries after the first; default 3 */
	uint32_t backoff_min_ms, backoff_max_ms;   /* default 200, 30000 */
	uint32_t tier_count;
	int64_t tier_ms[ELOG_PROCESSOR_TIERS_MAX];
	const char *tier_name[ELOG_PROCESSOR_TIERS_MAX];  /* as written: "1m" */
	const char *dlq_topic;               /* NULL: <topic>.dlq */
	uint32_t breaker;                    /* consecutive retry verdicts that open it; 0 off */
	uint32_t queue_max;                  /* records held at once; default 4 x slots + 64 */
	void (*say)(void *ctx, const char *line);  /* breaker changes, hand-on trouble */
	void *say_ctx;
};

struct elog_processor_stats {
	uint64_t done, retried, dead, failed_tries, breaker_opened;
	uint32_t queued, running, sending;
	int breaker_state;                   /* 0 closed, 1 open, 2 half-open */
};

struct elog_processor;

void elog_processor_config_init(struct elog_processor_config *cfg);
/* topics: the main topics (not retry topics). Checks names and limits. */
struct elog_processor *elog_processor_new(struct elog_client *c,
					  const struct elog_processor_config *cfg,
					  const char *const *topics, size_t topic_count,
					  struct elog_err *err);
/* Create the retry and dead-letter topics that do not exist (the main
 * topic's partition count and replication). 0, or -1 with err. */
int elog_processor_prepare(struct elog_processor *p, struct elog_err *err);
/* Every topic a member must subscribe to: the main topics, then their
 * retry topics. Valid for the processor's life. */
const char *const *elog_processor_subscription(const struct elog_processor *p, size_t *count);

/* There is room for one more record. */
int elog_processor_room(const struct elog_processor *p);
/* Take a record (copied). Returns 0, or the ms since the epoch before
 * which it may not start (a retry tier's): the caller pauses the
 * partition until then; -1 with err (out of memory, not a subscribed
 * topic). */
int64_t elog_processor_add(struct elog_processor *p, const struct elog_fetched *rec,
			   struct elog_err *err);
/* Start what may start, drive the runner and the producers, hand records
 * on. Waits up to timeout_ms for something to happen (0: only what is
 * ready). -1 with err on a failure that must stop the member (a record
 * that cannot be handed on: refused for good by the retry or dead-letter
 * topic). */
int elog_processor_poll(struct elog_processor *p, int timeout_ms, struct elog_err *err);
size_t elog_processor_pollfds(const struct elog_processor *p, struct pollfd *fds, size_t max);
int elog_processor_timeout_ms(const struct elog_processor *p);   /* -1: none */
/* The offset up to which everything taken of (topic, partition) is done;
 * -1 when nothing was taken of it. */
int64_t elog_processor_position(const struct elog_processor *p, const char *topic,
				uint32_t partition);
/* Forget a partition (given up). */
void elog_processor_drop(struct elog_processor *p, const char *topic, uint32_t partition);
/* Stop starting records (stopping): what runs or is being handed on
 * finishes; what waits stays undone. */
void elog_processor_stop_starting(struct elog_processor *p);
/* Nothing running and nothing being handed on. */
int elog_processor_quiet(const struct elog_processor *p);
/* Nothing queued that may still run: quiet, and every record left waits
 * for a time (a retry tier's, or a backoff) or was dropped. With -e. */
int elog_processor_drained(const struct elog_processor *p);
void elog_processor_stats(const struct elog_processor *p, struct elog_processor_stats *st);
/* The commit metadata: "elog-proc member=ID done=N retried=N dead=N
 * breaker=closed|open|half-open opened=N" (counts for the process's life). */
void elog_processor_metadata(const struct elog_processor *p, const char *member, char *out,
			     size_t cap);
void elog_processor_free(struct elog_processor *p);

#endif
