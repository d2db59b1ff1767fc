/*
 * pstate — a partition's idempotent-producer state: for each producer id
 * that wrote to the partition recently, its epoch and its last
 * ELOG_PSTATE_BATCHES batches (first and last sequence, base offset).
 *
 * The leader asks elog_pstate_check before appending a batch whose
 * producer_id >= 0, and calls elog_pstate_update after the append
 * succeeded:
 *
 *   - a batch whose sequence range equals a remembered batch of the same
 *     epoch is a retry: ELOG_PSTATE_DUPLICATE, with the offset the first
 *     time got, and it is not appended again;
 *   - otherwise its base_sequence must be the last sequence + 1
 *     (wrapping from INT32_MAX to 0), else ELOG_PSTATE_OUT_OF_ORDER;
 *   - a lower epoch than the remembered one is ELOG_PSTATE_FENCED; a
 *     higher one starts over and must start at sequence 0;
 *   - an unknown producer must start at sequence 0, else
 *     ELOG_PSTATE_UNKNOWN.
 *
 * Persistence: none of its own. Every batch header on disk carries
 * producer_id, producer_epoch and base_sequence, so the state is rebuilt at
 * open by reading the batch headers (not the records) of the active
 * segment and the one before it (elog_pstate_rebuild). The work is bounded
 * by two segments; a producer silent for longer than that is forgotten and
 * its next batch, unless it starts a new epoch or sequence 0, gets
 * ELOG_PSTATE_UNKNOWN (the client re-initialises its producer id).
 *
 * Bounds: at most producers_max producers per partition; a new one past it
 * evicts the producer whose last batch is the oldest (same effect as
 * above). Producers are kept sorted by id (binary search).
 */
#ifndef ELOG_PSTATE_H
#define ELOG_PSTATE_H

#include <stdint.h>

#include "err.h"
#include "partlog.h"

#define ELOG_PSTATE_BATCHES 5
#define ELOG_PSTATE_PRODUCERS_DEFAULT 1024

struct elog_pstate_batch {
	int32_t first_seq, last_seq;
	int64_t base_offset;
};

struct elog_pstate_producer {
	int64_t id;
	int16_t epoch;
	uint8_t count;              /* remembered batches, <= ELOG_PSTATE_BATCHES */
	uint8_t newest;             /* index of the newest in batches[] */
	struct elog_pstate_batch batches[ELOG_PSTATE_BATCHES];
};

struct elog_pstate {
	struct elog_pstate_producer *producers; /* sorted by id */
	uint32_t count, cap, producers_max;
};

enum elog_pstate_verdict {
	ELOG_PSTATE_APPEND = 0,
	ELOG_PSTATE_DUPLICATE,
	ELOG_PSTATE_OUT_OF_ORDER,
	ELOG_PSTATE_FENCED,
	ELOG_PSTATE_UNKNOWN,
	ELOG_PSTATE_INVALID,        /* producer id set but a negative sequence or epoch */
};

void elog_pstate_init(struct elog_pstate *ps, uint32_t producers_max);
void elog_pstate_release(struct elog_pstate *ps);

/* The last sequence of a batch of `count` records starting at first (wraps). */
int32_t elog_pstate_last_seq(int32_t first, uint32_t count);

/*
 * What to do with a batch. Non-idempotent batches (producer_id < 0) are
 * always ELOG_PSTATE_APPEND. For ELOG_PSTATE_DUPLICATE *base_offset gets
 * the original base offset.
 */
enum elog_pstate_verdict elog_pstate_check(const struct elog_pstate *ps, int64_t producer_id,
					   int16_t epoch, int32_t first_seq, uint32_t count,
					   int64_t *base_offset);

/* Remember an appended batch (producer_id >= 0). Only fails on ELOG_E_NOMEM. */
int elog_pstate_update(struct elog_pstate *ps, int64_t producer_id, int16_t epoch,
		       int32_t first_seq, uint32_t count, int64_t base_offset, struct elog_err *err);

/* Forget everything and read the batch headers of the log's last two
 * segments; *batches_read (may be NULL) gets how many were read. */
int elog_pstate_rebuild(struct elog_pstate *ps, struct elog_partlog *log,
			uint64_t *batches_read, struct elog_err *err);

/* The producer's state, or NULL. */
const struct elog_pstate_producer *elog_pstate_find(const struct elog_pstate *ps,
						     int64_t producer_id);

#endif
