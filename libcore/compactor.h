/*
 * compactor — the broker's compaction thread: runs one
 * elog_partlog_compact_run at a time (partlog.h, "compaction") off the
 * event loop, with one offset map of map_bytes (compact.h) reused by every
 * job, so compaction's memory is that map plus a job's buffers whatever
 * the number of partitions.
 *
 * The owner (the event loop) prepares a job, submits it, and later takes
 * it back once done (polling: elog_compactor_take never waits), then
 * finishes it on its own thread. Stop cancels a job being run (it stops
 * at its next batch) and joins the thread.
 *
 * Calling sequence:
 *   elog_compactor_start(&c, map_bytes, err)
 *   elog_compactor_submit(&c, job) ... elog_compactor_take(&c, &rc, &err) ...
 *   elog_compactor_stop(&c)      frees a job not taken back
 */
#ifndef ELOG_COMPACTOR_H
#define ELOG_COMPACTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "compact.h"
#include "err.h"
#include "partlog.h"

enum elog_compactor_state {
	ELOG_COMPACTOR_IDLE = 0,    /* no job: submit one */
	ELOG_COMPACTOR_RUNNING = 1, /* a job is queued or being run */
	ELOG_COMPACTOR_DONE = 2,    /* take it back */
};

struct elog_compactor {
	pthread_t thread;
	pthread_mutex_t mutex;
	pthread_cond_t wake;
	int started, stopping;
	_Atomic int cancel;
	size_t map_bytes;
	struct elog_compact_map map;      /* the thread's; made on the first job */
	int map_ready;
	enum elog_compactor_state state;  /* under mutex */
	struct elog_partlog_compact_job *job;
	int rc;                           /* of the job's run */
	struct elog_err err;
	uint64_t runs;                    /* jobs run, for tests and metrics */
};

/* Start the thread; map_bytes: the offset map's size (>= 384 bytes: 16 slots). */
int elog_compactor_start(struct elog_compactor *c, size_t map_bytes, struct elog_err *err);
/* Cancel a job being run, join, free what is left. Safe on a compactor never started. */
void elog_compactor_stop(struct elog_compactor *c);
/* Hand over a job when IDLE (else ELOG_E_BUSY, the job still the caller's). */
int elog_compactor_submit(struct elog_compactor *c, struct elog_partlog_compact_job *job,
			  struct elog_err *err);
enum elog_compactor_state elog_compactor_state(struct elog_compactor *c);
/* The job once DONE (NULL otherwise), with its run's result in *rc and err;
 * the compactor is IDLE again and the job the caller's. */
struct elog_partlog_compact_job *elog_compactor_take(struct elog_compactor *c, int *rc,
						     struct elog_err *err);

#endif
