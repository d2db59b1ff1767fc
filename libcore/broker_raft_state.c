/* broker_raft_state — writing the groups' raft.state files off the event
 * loop, and holding the frames that depend on them; see broker_raft.h. */
#include "broker_raft.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * Raft's rule: a vote, a term, a term cache entry is durable before any
 * message that depends on it leaves (raft.h). Every group whose state
 * changed in a loop turn is marked (raft_state_save); at the end of the
 * turn the marked groups are handed, as one batch, to the state writer
 * thread, and every peer's frames closed so far are held back (each
 * peer's hold mark) until the thread says the batch is durable. The loop
 * goes on meanwhile: it reads, appends, answers clients and builds more
 * frames; only sending to peers waits. One batch is written at a time;
 * groups marked while it is written go in the next, and the frames built
 * meanwhile wait for that one.
 *
 * A batch of a few groups (RAFT_STATE_EACH_MAX) is written by the thread,
 * one by one (two copies, an fdatasync each): the everyday case, a
 * leadership moving, a metadata commit. More (an election of many
 * groups, a topic of many partitions created) are written on the loop as
 * before, sharing two syncfs calls: copy 1 of every file, syncfs, copy 0
 * of every file, syncfs (raftstate.h); see raft_states_write for why. A
 * failure silences its group and drops every peer's unsent frames (none
 * of them may leave).
 *
 * Start-up and a clean stop write on the loop (raft_state_save_now,
 * raft_states_write_now): nothing is served then.
 */

struct state_job {
	struct raft_group *g;       /* NULL once the group is gone */
	char *dir;
	struct elog_raftstate s;    /* what is written, its sequence set */
	int failed;
	struct elog_err err;
};

struct raft_state_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int busy;                   /* a batch is the thread's (loop: set; thread: never) */
	int given, done;            /* under mu: the batch handed over / written */
	struct state_job *jobs;
	uint32_t count, cap;
	char *sync_dir;             /* the metadata group's: syncfs names a filesystem */
	struct elog_loop *loop;     /* woken when a batch is written */
};

/* ---------------------------------------------------------------- one group */

static void state_build(const struct raft_group *g, uint16_t flags, struct elog_raftstate *s)
{
	const struct elog_raft_term_start *terms;
	uint32_t n;

	elog_raftstate_init(s);
	s->hard = elog_raft_hard_state(&g->raft);
	s->commit = elog_raft_commit(&g->raft);
	s->flags = flags | (g->purge_count ? ELOG_RAFTSTATE_PURGING : 0) |
		   (g->empty && elog_partlog_next_offset(g->log) == 0 ? ELOG_RAFTSTATE_GUARDED : 0);
	/* A checkpoint may be lower than the commit known: with purges noted,
	 * no higher than the first, so that a restart reads them again from
	 * there (broker_raft_purge.c). */
	if (g->purge_count && g->purges[0].at < s->commit)
		s->commit = g->purges[0].at;
	terms = elog_raft_terms(&g->raft, &n);
	assert(n <= ELOG_RAFT_TERMS_MAX);
	s->term_count = n;
	memcpy(s->terms, terms, n * sizeof(*terms));
}

/* The flags a batched write gives g's state: CLEAN for a flush=never group
 * written by a clean close (elog_broker_raft_close), else none. */
static uint16_t state_flags(const struct raft_group *g)
{
	return g->k->closing && g->flush_never ? ELOG_RAFTSTATE_CLEAN : 0;
}

static void state_failed(struct raft_group *g, const struct elog_err *err)
{
	char v[ELOG_LOG_VALUE_MAX];

	if (!g->state_failed)
		raft_group_log(g, ELOG_LOG_ERROR, "raft state not written: group silent", "error=%s",
			       elog_logfmt_value(v, sizeof(v), err->msg));
	g->state_failed = 1;
}

void raft_state_unmark(struct raft_group *g)
{
	struct raft_group **at = &g->k->state_dirty;
	struct raft_state_writer *w = g->k->writer;

	if (w && w->busy)
		for (uint32_t i = 0; i < w->count; i++)
			if (w->jobs[i].g == g)
				w->jobs[i].g = NULL; /* written all the same; nobody to tell */
	if (!g->state_dirty)
		return;
	while (*at != g)
		at = &(*at)->state_next;
	*at = g->state_next;
	g->state_next = NULL;
	g->state_dirty = 0;
}

int raft_state_save_now(struct raft_group *g)
{
	struct elog_raftstate s;
	struct elog_err err;

	raft_state_unmark(g);
	state_build(g, 0, &s);
	if (elog_raftstate_equal(&s, &g->saved) && !g->saved.copy_damaged)
		return 0;
	s.seq = g->saved.seq;
	if (elog_raftstate_store(g->dir, &s, &err) < 0) {
		state_failed(g, &err);
		return -1;
	}
	g->saved = s;
	g->state_failed = 0;
	return 0;
}

void raft_state_save(struct raft_group *g)
{
	if (g->state_dirty)
		return;
	g->state_dirty = 1;
	g->state_next = g->k->state_dirty;
	g->k->state_dirty = g;
}

/* ---------------------------------------------------------------- batches */

/* The marked groups whose state differs from what was written, as jobs;
 * the marks cleared. -1 when out of memory (the marks stay). */
static int batch_build(struct elog_cluster *k, struct raft_state_writer *w)
{
	struct raft_group *g, *next;
	uint32_t n = 0;

	for (g = k->state_dirty; g; g = g->state_next)
		n++;
	if (n > w->cap) {
		struct state_job *jobs = realloc(w->jobs, n * sizeof(*jobs));
		if (!jobs)
			return -1;
		w->jobs = jobs;
		w->cap = n;
	}
	w->count = 0;
	for (g = k->state_dirty; g; g = next) {
		struct state_job *j = &w->jobs[w->count];
		next = g->state_next;
		g->state_next = NULL;
		g->state_dirty = 0;
		state_build(g, state_flags(g), &j->s);
		if (elog_raftstate_equal(&j->s, &g->saved))
			continue;
		j->dir = strdup(g->dir);
		if (!j->dir) {
			state_failed(g, &(struct elog_err){ELOG_E_NOMEM, "out of memory"});
			continue;
		}
		j->g = g;
		j->failed = 0;
		w->count++;
	}
	k->state_dirty = NULL;
	return 0;
}

/* Write the jobs (either thread). */
static void batch_run(struct state_job *jobs, uint32_t n, const char *sync_dir)
{
	struct elog_err err;

	if (n <= RAFT_STATE_EACH_MAX) {
		for (uint32_t i = 0; i < n; i++) {
			if (elog_raftstate_store(jobs[i].dir, &jobs[i].s, &jobs[i].err) < 0)
				jobs[i].failed = 1;
		}
		return;
	}
	for (int copy = 1; copy >= 0; copy--) {
		for (uint32_t i = 0; i < n; i++)
			if (!jobs[i].failed &&
			    elog_raftstate_store_copy(jobs[i].dir, &jobs[i].s, copy, &jobs[i].err) < 0)
				jobs[i].failed = 1;
		if (elog_raftstate_syncfs(sync_dir, &err) < 0) {
			/* None of the batch is known durable: every group in it fails
			 * (and its next write goes over the same sequence again). */
			for (uint32_t i = 0; i < n; i++)
				if (!jobs[i].failed) {
					jobs[i].failed = 1;
					jobs[i].err = err;
				}
			return;
		}
	}
}

/* Sequences: a batch of a few goes through elog_raftstate_store, which
 * numbers each write itself; a larger one writes copies of one more than
 * each group's last sequence. */
static void batch_number(struct raft_state_writer *w)
{
	for (uint32_t i = 0; i < w->count; i++)
		w->jobs[i].s.seq = w->jobs[i].g->saved.seq + (w->count > RAFT_STATE_EACH_MAX);
}

/* The loop takes a written batch back: what was written is what is saved. */
static void batch_finish(struct elog_cluster *k, struct raft_state_writer *w)
{
	int failed = 0;

	for (uint32_t i = 0; i < w->count; i++) {
		struct state_job *j = &w->jobs[i];
		if (j->g && j->failed) {
			state_failed(j->g, &j->err);
			failed = 1;
		} else if (j->g) {
			j->g->saved = j->s;
			j->g->state_failed = 0;
		}
		free(j->dir);
		j->dir = NULL;
	}
	w->count = 0;
	if (w->cap > 256) {
		/* An election of thousands of groups is rare: give the memory back. */
		free(w->jobs);
		w->jobs = NULL;
		w->cap = 0;
	}
	if (failed)
		raft_peers_drop(k, "raft state not written");
}

/* ---------------------------------------------------------------- the thread */

static void *writer_main(void *arg)
{
	struct raft_state_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->given && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->given)
			break;
		w->given = 0;
		pthread_mutex_unlock(&w->mu);
		batch_run(w->jobs, w->count, w->sync_dir);
		pthread_mutex_lock(&w->mu);
		w->done = 1;
		pthread_cond_broadcast(&w->cv);
		elog_loop_wake(w->loop);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int raft_states_start(struct elog_cluster *k, struct elog_err *err)
{
	struct raft_state_writer *w = calloc(1, sizeof(*w));

	if (!w || !(w->sync_dir = strdup(k->meta->dir))) {
		free(w);
		return elog_err_set(err, ELOG_E_NOMEM, "cluster: out of memory");
	}
	w->loop = &k->b->loop;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w->sync_dir);
		free(w);
		return elog_err_set(err, ELOG_E_IO, "cluster: cannot start the raft.state writer");
	}
	pthread_setname_np(w->thread, "elog-raftstate");
	k->writer = w;
	return 0;
}

/* A batch handed over: back once written (waiting for it when `wait`). */
static int batch_back(struct elog_cluster *k, int wait)
{
	struct raft_state_writer *w = k->writer;
	int done;

	if (!w || !w->busy)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (wait && !w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	done = w->done;
	w->done = 0;
	pthread_mutex_unlock(&w->mu);
	if (!done)
		return 0;
	w->busy = 0;
	batch_finish(k, w);
	return 1;
}

void raft_states_stop(struct elog_cluster *k)
{
	struct raft_state_writer *w = k->writer;

	if (!w)
		return;
	batch_back(k, 1);
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->jobs);
	free(w->sync_dir);
	free(w);
	k->writer = NULL;
}

/* ---------------------------------------------------------------- the loop's side */

/* A built batch written on the loop thread, and taken back. */
static void batch_write_here(struct elog_cluster *k, struct raft_state_writer *w)
{
	batch_number(w);
	batch_run(w->jobs, w->count, k->meta->dir);
	batch_finish(k, w);
}

void raft_states_write_now(struct elog_cluster *k)
{
	struct raft_state_writer local = {0}, *w = k->writer ? k->writer : &local;

	batch_back(k, 1);
	if (batch_build(k, w) < 0) {
		/* Out of memory for the list: one by one, as at start-up. */
		while (k->state_dirty)
			(void)raft_state_save_now(k->state_dirty);
	} else {
		batch_write_here(k, w);
	}
	if (w == &local)
		free(local.jobs);
	raft_peers_release(k, 1);
}

void raft_states_write(struct elog_cluster *k)
{
	struct raft_state_writer *w = k->writer;

	if (!w) {
		raft_states_write_now(k);
		return;
	}
	if (w->busy)
		return; /* the frames past the hold marks wait for it, and the next */
	if (!k->state_dirty) {
		raft_peers_release(k, 1);
		return;
	}
	if (batch_build(k, w) < 0) {
		raft_states_write_now(k);
		return;
	}
	if (w->count == 0) {
		raft_peers_release(k, 1);
		return;
	}
	if (w->count > RAFT_STATE_EACH_MAX) {
		/* Many groups at once (a start-up's or a failover's elections, a
		 * topic of many partitions): written here, as one syncfs pair,
		 * the loop waiting. On the thread, 10,000 groups electing took
		 * 1.5-3 times as long (bench/cluster's idle section: start-up
		 * 16.8 s against 10.7 s, creation 54 s against 32 s): the loop
		 * went on appending while syncfs ran (more for it to write) and
		 * every frame waited for a second batch. */
		batch_write_here(k, w);
		raft_peers_release(k, 1);
		return;
	}
	batch_number(w);
	raft_peers_hold(k);
	w->busy = 1;
	pthread_mutex_lock(&w->mu);
	w->given = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int raft_states_busy(const struct elog_cluster *k)
{
	return k->writer && k->writer->busy;
}

void raft_states_done(struct elog_cluster *k)
{
	if (!batch_back(k, 0))
		return;
	/* The frames held for it go; the later ones too unless a group was
	 * marked since (they may depend on it: they wait for the next batch). */
	raft_peers_release(k, k->state_dirty == NULL);
}
