/* compactor — the compaction thread; see compactor.h. */
#include "compactor.h"

#include <string.h>

static void *compactor_main(void *arg)
{
	struct elog_compactor *c = arg;

	pthread_mutex_lock(&c->mutex);
	for (;;) {
		struct elog_partlog_compact_job *job;
		struct elog_err err;
		int rc;

		while (!c->stopping && c->state != ELOG_COMPACTOR_RUNNING)
			pthread_cond_wait(&c->wake, &c->mutex);
		if (c->stopping)
			break;
		job = c->job;
		pthread_mutex_unlock(&c->mutex);
		memset(&err, 0, sizeof(err));
		rc = 0;
		if (!c->map_ready) {
			rc = elog_compact_map_init(&c->map, c->map_bytes, &err);
			c->map_ready = rc == 0;
		}
		if (rc == 0)
			rc = elog_partlog_compact_run(job, &c->map, &c->cancel, &err);
		pthread_mutex_lock(&c->mutex);
		c->rc = rc;
		c->err = err;
		c->runs++;
		c->state = ELOG_COMPACTOR_DONE;
	}
	pthread_mutex_unlock(&c->mutex);
	return NULL;
}

int elog_compactor_start(struct elog_compactor *c, size_t map_bytes, struct elog_err *err)
{
	int e;

	memset(c, 0, sizeof(*c));
	c->map_bytes = map_bytes;
	pthread_mutex_init(&c->mutex, NULL);
	pthread_cond_init(&c->wake, NULL);
	e = pthread_create(&c->thread, NULL, compactor_main, c);
	if (e) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->mutex);
		return elog_err_errno(err, ELOG_E_IO, e, "cannot start the compaction thread");
	}
	c->started = 1;
	return 0;
}

void elog_compactor_stop(struct elog_compactor *c)
{
	if (!c->started)
		return;
	atomic_store(&c->cancel, 1);
	pthread_mutex_lock(&c->mutex);
	c->stopping = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mutex);
	pthread_join(c->thread, NULL);
	elog_partlog_compact_job_free(c->job);
	c->job = NULL;
	if (c->map_ready)
		elog_compact_map_release(&c->map);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->mutex);
	c->started = 0;
}

int elog_compactor_submit(struct elog_compactor *c, struct elog_partlog_compact_job *job,
			  struct elog_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&c->mutex);
	if (c->state != ELOG_COMPACTOR_IDLE || c->stopping) {
		rc = elog_err_set(err, ELOG_E_BUSY, "a compaction is running");
	} else {
		c->job = job;
		c->state = ELOG_COMPACTOR_RUNNING;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->mutex);
	return rc;
}

enum elog_compactor_state elog_compactor_state(struct elog_compactor *c)
{
	enum elog_compactor_state s;

	pthread_mutex_lock(&c->mutex);
	s = c->state;
	pthread_mutex_unlock(&c->mutex);
	return s;
}

struct elog_partlog_compact_job *elog_compactor_take(struct elog_compactor *c, int *rc,
						     struct elog_err *err)
{
	struct elog_partlog_compact_job *job = NULL;

	pthread_mutex_lock(&c->mutex);
	if (c->state == ELOG_COMPACTOR_DONE) {
		job = c->job;
		c->job = NULL;
		*rc = c->rc;
		if (err)
			*err = c->err;
		c->state = ELOG_COMPACTOR_IDLE;
	}
	pthread_mutex_unlock(&c->mutex);
	return job;
}
