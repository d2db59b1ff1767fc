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
 * A batch is one append to the broker's raft.journal and one fdatasync,
 * whatever its size (raftjournal.h): a leadership moving, and an election
 * of every group the broker holds, alike. A group whose raft.state file
 * is missing (made now, or its directory lost) or damaged has it written
 * in the same batch (the anchor: raftjournal.h), one syncfs for all of
 * them before the append. A failure silences its group (a failed append:
 * every group of the batch) and drops every peer's unsent frames (none of
 * them may leave).
 *
 * Start-up and a clean stop write on the loop (raft_states_write_now):
 * nothing is served then.
 */

struct state_job {
	struct raft_group *g;       /* NULL once the group is gone */
	char *dir;                  /* its raft.state is written too (the anchor) */
	char *topic;                /* the id's topic, the job's own */
	struct elog_raftwire_group id;
	struct elog_raftstate s;    /* what is written, its sequence set */
	int failed;
	int forgotten;              /* its topic was deleted meanwhile: no record kept */
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
	struct elog_raftjournal *journal;
	char *sync_dir;             /* the metadata group's: syncfs names a filesystem */
	struct elog_loop *loop;     /* woken when a batch is written */
};

static int batch_back(struct elog_cluster *k, int wait);

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

int raft_states_open(struct elog_cluster *k, struct elog_err *err)
{
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/%s", k->b->config.data_dir, ELOG_STORE_META_DIR);
	if (elog_raftjournal_open(dir, &k->journal, &k->journal_new, err) < 0) {
		char why[ELOG_ERR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		return elog_err_set(err, err->code,
				    "%.400s: see \"Damaged raft state\" in docs/operations.md", why);
	}
	return 0;
}

struct prune {
	const struct elog_store *store;
	int64_t applied;
};

/* A record of a topic incarnation whose create this broker applied, and
 * that is not live any more: its delete was applied too. */
static int prune_drop(void *ctx, const struct elog_raftwire_group *id)
{
	const struct prune *p = ctx;
	const struct elog_topic *t;

	if (id->topic_len == 0 || id->incarnation >= p->applied)
		return 0; /* the metadata group; a create not applied yet */
	t = elog_store_find(p->store, id->topic, id->topic_len);
	return !t || t->incarnation != id->incarnation;
}

void raft_states_prune(struct elog_cluster *k, int64_t applied)
{
	struct prune p = {k->b->store, applied};
	uint32_t n = elog_raftjournal_forget_if(k->journal, prune_drop, &p);

	if (n)
		elog_logf(k->b->log, ELOG_LOG_INFO, "raft journal: records of deleted topics dropped",
			  "records=%u", n);
}

int raft_state_load(struct raft_group *g, struct elog_raftstate *s, int *found, int *anchored,
		    struct elog_err *err)
{
	struct elog_cluster *k = g->k;
	struct elog_raftstate f, r;
	struct elog_err ferr;
	int in_file, in_journal, damaged = 0;

	if (elog_raftjournal_find(k->journal, &g->id, &r, &in_journal, err) < 0)
		return -1;
	if (elog_raftstate_load(g->dir, &f, &in_file, &ferr) < 0) {
		if (ferr.code != ELOG_E_CORRUPT || !in_journal) {
			*err = ferr;
			return -1;
		}
		/* The journal holds its latest state: the file is written again. */
		raft_group_log(g, ELOG_LOG_WARN, "raft state: raft.state damaged, the journal's record used",
			       "file=%s/%s", g->dir, ELOG_RAFTSTATE_NAME);
		elog_raftstate_init(&f);
		in_file = 0;
		damaged = 1;
	} else if (f.copy_damaged) {
		raft_group_log(g, ELOG_LOG_WARN, "raft state: one copy damaged, the other used",
			       "file=%s/%s", g->dir, ELOG_RAFTSTATE_NAME);
	}
	if (in_file && (f.flags & ELOG_RAFTSTATE_JOURNALED) && k->journal_new && !in_journal)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s/%s: its later states are in %s/%s/%s, which is missing",
				    g->dir, ELOG_RAFTSTATE_NAME, k->b->config.data_dir,
				    ELOG_STORE_META_DIR, ELOG_RAFTJOURNAL_NAME);
	*s = in_journal && (!in_file || r.seq >= f.seq) ? r : f;
	s->flags &= (uint16_t)~ELOG_RAFTSTATE_JOURNALED;
	s->copy_damaged = 0;
	/* Written again: a file missing or damaged; one from before the
	 * journal (so that it says the journal exists: a journal lost later
	 * is then noticed); and into the journal, a file newer than its
	 * record (a crash between the two writes of a batch), so that the
	 * journal alone holds the latest state once more. */
	g->anchor_due = !in_file || f.copy_damaged || damaged ||
			!(f.flags & ELOG_RAFTSTATE_JOURNALED);
	g->journal_due = in_file && (!in_journal || f.seq > r.seq);
	*found = in_file || in_journal;
	*anchored = in_file;
	return 0;
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

void raft_state_forget(struct raft_group *g)
{
	struct raft_state_writer *w = g->k->writer;
	int anchor = 0;

	if (w && w->busy)
		for (uint32_t i = 0; i < w->count; i++)
			if (w->jobs[i].g == g) {
				w->jobs[i].forgotten = 1; /* its record is put back by the append */
				anchor |= w->jobs[i].dir != NULL;
			}
	/* A raft.state being written by path must land before the directory
	 * goes: a topic made again under the name would find it in its own. */
	if (anchor)
		batch_back(g->k, 1);
	elog_raftjournal_forget(g->k->journal, &g->id);
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

static void job_free(struct state_job *j)
{
	free(j->dir);
	free(j->topic);
	j->dir = j->topic = NULL;
}

/* g's job (its state built, its sequence one more than the last written):
 * 0; 1 when nothing changed and no anchor is due; -1 out of memory. */
static int job_build(struct raft_group *g, struct state_job *j)
{
	memset(j, 0, sizeof(*j));
	state_build(g, state_flags(g), &j->s);
	if (elog_raftstate_equal(&j->s, &g->saved) && !g->anchor_due && !g->journal_due)
		return 1;
	j->s.seq = g->saved.seq + 1;
	j->topic = malloc(g->id.topic_len + 1);
	if (!j->topic || (g->anchor_due && !(j->dir = strdup(g->dir)))) {
		job_free(j);
		return -1;
	}
	memcpy(j->topic, g->id.topic, g->id.topic_len);
	j->topic[g->id.topic_len] = '\0';
	j->id = g->id;
	j->id.topic = j->topic;
	j->g = g;
	return 0;
}

/* The marked groups whose state differs from what was written, as jobs;
 * the marks cleared. -1 when out of memory for the list (the marks stay). */
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
		int rc;
		next = g->state_next;
		g->state_next = NULL;
		g->state_dirty = 0;
		rc = job_build(g, &w->jobs[w->count]);
		if (rc < 0)
			state_failed(g, &(struct elog_err){ELOG_E_NOMEM, "out of memory"});
		else if (rc == 0)
			w->count++;
	}
	k->state_dirty = NULL;
	return 0;
}

/* Write the jobs (either thread): the anchors due, one syncfs for them,
 * then every state as one journal append. */
static void batch_run(struct elog_raftjournal *journal, struct state_job *jobs, uint32_t n,
		      const char *sync_dir)
{
	struct elog_raftjournal_entry *e;
	struct elog_err err;
	uint32_t anchors = 0, m = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct elog_raftstate a;
		if (!jobs[i].dir)
			continue;
		/* The journal exists before a file says it does: a crash between
		 * the two must not leave files pointing at no journal. */
		if (elog_raftjournal_make(journal, &err) < 0)
			goto failed;
		a = jobs[i].s;
		a.flags |= ELOG_RAFTSTATE_JOURNALED;
		if (elog_raftstate_store_copy(jobs[i].dir, &a, 1, &jobs[i].err) < 0 ||
		    elog_raftstate_store_copy(jobs[i].dir, &a, 0, &jobs[i].err) < 0)
			jobs[i].failed = 1;
		else
			anchors++;
	}
	if (anchors && elog_raftstate_syncfs(sync_dir, &err) < 0)
		for (uint32_t i = 0; i < n; i++)
			if (jobs[i].dir && !jobs[i].failed) {
				jobs[i].failed = 1;
				jobs[i].err = err;
			}
	if (!(e = malloc((n ? n : 1) * sizeof(*e)))) {
		err = (struct elog_err){ELOG_E_NOMEM, "out of memory"};
		goto failed;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!jobs[i].failed)
			e[m++] = (struct elog_raftjournal_entry){&jobs[i].id, &jobs[i].s};
	if (m && elog_raftjournal_append(journal, e, m, &err) < 0) {
		free(e);
		goto failed;
	}
	free(e);
	return;
failed:
	/* None of the batch is known durable: every group in it fails (and
	 * its next write goes over the same sequence again). */
	for (uint32_t i = 0; i < n; i++)
		if (!jobs[i].failed) {
			jobs[i].failed = 1;
			jobs[i].err = err;
		}
}

/* The loop takes written jobs back: what was written is what is saved.
 * -1 when one failed. */
static int jobs_finish(struct elog_cluster *k, struct state_job *jobs, uint32_t n)
{
	int failed = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct state_job *j = &jobs[i];
		if (j->forgotten) {
			/* Its topic was deleted meanwhile: no record kept, and a
			 * failure (its directory gone) concerns nobody. */
			elog_raftjournal_forget(k->journal, &j->id);
			j->failed = 0;
			j->g = NULL;
		}
		if (j->failed) {
			if (j->g)
				state_failed(j->g, &j->err);
			failed = 1;
		} else if (j->g) {
			j->g->saved = j->s;
			j->g->state_failed = 0;
			j->g->journal_due = 0;
			if (j->dir)
				j->g->anchor_due = 0;
		}
		job_free(j);
	}
	if (failed)
		raft_peers_drop(k, "raft state not written");
	return failed ? -1 : 0;
}

static int batch_finish(struct elog_cluster *k, struct raft_state_writer *w)
{
	int rc = jobs_finish(k, w->jobs, w->count);

	w->count = 0;
	if (w->cap > 256) {
		/* An election of thousands of groups is rare: give the memory back. */
		free(w->jobs);
		w->jobs = NULL;
		w->cap = 0;
	}
	return rc;
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
		batch_run(w->journal, w->jobs, w->count, w->sync_dir);
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
	w->journal = k->journal;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w->sync_dir);
		free(w);
		return elog_err_set(err, ELOG_E_IO, "cluster: cannot start the raft state writer");
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

	if (w) {
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
	elog_raftjournal_close(k->journal);
	k->journal = NULL;
}

/* ---------------------------------------------------------------- the loop's side */

int raft_states_write_now(struct elog_cluster *k)
{
	struct raft_state_writer local = {0}, *w = k->writer ? k->writer : &local;
	int rc = 0;

	batch_back(k, 1);
	if (batch_build(k, w) < 0) {
		/* Out of memory for the list: one by one. */
		while (k->state_dirty) {
			struct raft_group *g = k->state_dirty;
			struct state_job j;
			int built;
			raft_state_unmark(g);
			built = job_build(g, &j);
			if (built < 0) {
				state_failed(g, &(struct elog_err){ELOG_E_NOMEM, "out of memory"});
				rc = -1;
			} else if (built == 0) {
				batch_run(k->journal, &j, 1, k->meta->dir);
				rc |= jobs_finish(k, &j, 1);
			}
		}
	} else {
		batch_run(k->journal, w->jobs, w->count, k->meta->dir);
		rc = batch_finish(k, w);
	}
	if (w == &local)
		free(local.jobs);
	raft_peers_release(k, 1);
	return rc;
}

void raft_states_write(struct elog_cluster *k)
{
	struct raft_state_writer *w = k->writer;

	if (!w) {
		(void)raft_states_write_now(k);
		return;
	}
	if (w->busy)
		return; /* the frames past the hold marks wait for it, and the next */
	if (!k->state_dirty) {
		raft_peers_release(k, 1);
		return;
	}
	if (batch_build(k, w) < 0) {
		(void)raft_states_write_now(k);
		return;
	}
	if (w->count == 0) {
		raft_peers_release(k, 1);
		return;
	}
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
