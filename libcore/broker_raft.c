/* broker_raft — Raft groups of a cluster broker: start-up, inputs and their
 * outboxes, ticks, durability, shutdown; see broker_raft.h. */
#include "broker_raft.h"

#include <sodium.h>

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "crc32c.h"
#include "raftterms.h"

/* ---------------------------------------------------------------- helpers */

void raft_group_log(struct raft_group *g, enum elog_log_level level, const char *msg,
		    const char *fmt, ...)
{
	char tail[1024], name[ELOG_LOG_VALUE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (g->topic)
		elog_logf(g->k->b->log, level, msg, "group=%s/%u %s",
			  elog_logfmt_value(name, sizeof(name), g->topic->name), g->id.partition, tail);
	else
		elog_logf(g->k->b->log, level, msg, "group=metadata %s", tail);
}

struct elog_raft_outbox *raft_outbox_take(struct elog_cluster *k)
{
	assert(k->depth < RAFT_OUTBOX_DEPTH);
	return &k->outbox[k->depth++];
}

#define INPUT(g, call) \
	do { \
		struct elog_raft_outbox *o_ = raft_outbox_take((g)->k); \
		call; \
		raft_outbox_done((g), o_); \
	} while (0)

/* A read buffer of at least n bytes. */
static int read_room(struct elog_cluster *k, size_t n, struct elog_err *err)
{
	if (k->read.cap >= n)
		return 0;
	return elog_buf_set_cap(&k->read, n, err);
}

/* ---------------------------------------------------------------- log ops */

static void pstate_rebuild(struct raft_group *g)
{
	struct elog_partition *p = g->p;
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];
	uint64_t batches = 0;

	if (!p)
		return;
	elog_pstate_release(&p->pstate);
	elog_pstate_init(&p->pstate, p->store->options.producers_max);
	if (elog_pstate_rebuild(&p->pstate, p->log, &batches, &err) < 0)
		raft_group_log(g, ELOG_LOG_ERROR, "producer state not rebuilt", "error=%s",
			       elog_logfmt_value(v, sizeof(v), err.msg));
}

static void pstate_note(struct raft_group *g, const uint8_t *batch, size_t len)
{
	struct elog_batch_header h;

	if (!g->p ||
	    elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0 ||
	    h.producer_id < 0)
		return;
	elog_pstate_update(&g->p->pstate, h.producer_id, h.producer_epoch, h.base_sequence,
			   h.last_offset_delta + 1u, h.base_offset, NULL);
}

/* Carry out the outbox's log ops; 1 if anything was appended. */
static int do_ops(struct raft_group *g, const struct elog_raft_outbox *out)
{
	struct elog_cluster *k = g->k;
	char v[ELOG_LOG_VALUE_MAX];
	int appended = 0;

	for (uint32_t i = 0; i < out->op_count; i++) {
		const struct elog_raft_log_op *op = &out->ops[i];
		struct elog_err err;
		switch (op->type) {
		case ELOG_RAFT_OP_TRUNCATE:
			raft_group_log(g, ELOG_LOG_INFO, "log truncated to the leader's",
				       "from=%" PRId64 " end=%" PRId64, op->offset,
				       elog_partlog_next_offset(g->log));
			if (elog_partlog_truncate(g->log, op->offset, &err) < 0)
				raft_group_log(g, ELOG_LOG_ERROR, "truncate failed", "error=%s",
					       elog_logfmt_value(v, sizeof(v), err.msg));
			pstate_rebuild(g);
			raft_purges_cut(g, op->offset);
			if (g->durable_reported > op->offset)
				g->durable_reported = op->offset;
			break;
		case ELOG_RAFT_OP_RESET:
			/* The leader's log starts past all we could match (retention
			 * deleted it there; or this replica is new): start over there. */
			raft_group_log(g, ELOG_LOG_WARN, "log reset to the leader's start",
				       "offset=%" PRId64 " end=%" PRId64, op->offset,
				       elog_partlog_next_offset(g->log));
			if (elog_partlog_reset(g->log, op->offset, &err) < 0)
				raft_group_log(g, ELOG_LOG_ERROR, "reset failed", "error=%s",
					       elog_logfmt_value(v, sizeof(v), err.msg));
			pstate_rebuild(g);
			raft_purges_cut(g, 0); /* every batch is gone */
			g->durable_reported = op->offset;
			break;
		case ELOG_RAFT_OP_APPEND:
			for (uint32_t j = op->batch_first; j < op->batch_first + op->batch_count; j++) {
				const uint8_t *bytes = k->batch_bytes + k->batch_pos[j];
				uint32_t len = elog_get32(bytes + ELOG_BATCH_LENGTH_OFFSET) +
					       ELOG_BATCH_PREFIX_SIZE;
				if (elog_partlog_append_at(g->log, bytes, len, &err) < 0) {
					raft_group_log(g, ELOG_LOG_ERROR, "replicated append failed",
						       "offset=%" PRId64 " error=%s", k->batches[j].base,
						       elog_logfmt_value(v, sizeof(v), err.msg));
					break;
				}
				pstate_note(g, bytes, len);
				raft_purge_appended(g, bytes, len, k->batches[j].base);
				appended = 1;
			}
			break;
		}
	}
	return appended;
}

/* ---------------------------------------------------------------- messages */

/*
 * An APPEND carries at most ELOG_RAFT_APPEND_BATCHES_MAX batches (a
 * follower refuses more): cut whole batches off the end of what was read,
 * moving *end back to the first offset cut. The bytes were checked whole by
 * elog_partlog_read.
 */
static size_t cap_batches(const uint8_t *buf, size_t len, int64_t *end)
{
	struct elog_batch_header h;
	size_t at = 0;

	for (uint32_t n = 0; at < len; n++) {
		if (elog_batch_header_decode_as(buf + at, len - at, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0)
			break;
		if (n == ELOG_RAFT_APPEND_BATCHES_MAX) {
			*end = h.base_offset;
			return at;
		}
		at += elog_batch_total_size(&h);
	}
	return len;
}

/* Batches from `from` on, as stored, into k->read: its length, and *end. */
static size_t read_batches(struct raft_group *g, int64_t from, int64_t *end, int *damaged)
{
	struct elog_cluster *k = g->k;
	struct elog_partlog_slice s;
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];

	*end = from;
	if (from >= elog_partlog_next_offset(g->log))
		return 0;
	if (read_room(k, RAFT_APPEND_BYTES, &err) < 0)
		return 0;
	if (elog_partlog_read(g->log, from, k->read.data, k->read.cap, &s, &err) < 0 &&
	    (err.code != ELOG_E_LIMIT || read_room(k, ELOG_BATCH_SIZE_MAX, &err) < 0 ||
	     elog_partlog_read(g->log, from, k->read.data, k->read.cap, &s, &err) < 0)) {
		raft_group_log(g, ELOG_LOG_WARN, "append not readable", "offset=%" PRId64 " error=%s",
			       from, elog_logfmt_value(v, sizeof(v), err.msg));
		*damaged = err.code == ELOG_E_DAMAGED;
		return 0;
	}
	*end = s.next_offset;
	return cap_batches(k->read.data, s.len, end);
}

/* Note the purge batches from `from` to the log's end (start-up: the ones
 * raft.state says may not be applied lie past its commit). */
static void purges_rescan(struct raft_group *g, int64_t from)
{
	int64_t end;
	int damaged = 0;
	size_t len;

	if (from < elog_partlog_start_offset(g->log))
		from = elog_partlog_start_offset(g->log);
	/* Bounded: every pass moves from past at least one batch. Past damage
	 * nothing is read: the group is restricted and cut there (group_new). */
	while ((len = read_batches(g, from, &end, &damaged)) > 0 && end > from) {
		/* read_batches may have grown the buffer (a large batch): read it now. */
		const uint8_t *data = g->k->read.data;
		for (size_t pos = 0; pos < len;) {
			uint32_t n = elog_get32(data + pos + ELOG_BATCH_LENGTH_OFFSET) + ELOG_BATCH_PREFIX_SIZE;
			raft_purge_appended(g, data + pos, n, (int64_t)elog_get64(data + pos));
			pos += n;
		}
		from = end;
	}
	raft_group_log(g, ELOG_LOG_INFO, "purges not yet applied, noted again", "count=%" PRIu32
		       " commit=%" PRId64, g->purge_count, elog_raft_commit(&g->raft));
	/* The commit the core starts from may already pass them. */
	if (g->purge_count)
		raft_purges_apply(g);
}

/* Restrict the group at its first damaged offset, if its log knows of damage. */
static void damage_restrict(struct raft_group *g)
{
	struct elog_partlog_damage d;
	char v[ELOG_LOG_VALUE_MAX];

	if (elog_partlog_damage_list(g->log, &d, 1) == 0)
		return;
	raft_group_log(g, ELOG_LOG_WARN, "damaged replica: cut and repaired from the leader",
		       "from=%" PRId64 " to=%" PRId64 " why=%s", d.offset, d.end_offset,
		       elog_logfmt_value(v, sizeof(v), d.why));
	INPUT(g, elog_raft_restrict(&g->raft, ELOG_RAFT_RESTRICT_DAMAGED, d.offset, o_));
	pstate_rebuild(g);
}

static void send_msgs(struct raft_group *g, const struct elog_raft_outbox *out)
{
	struct elog_cluster *k = g->k;
	int damaged = 0;

	for (uint32_t i = 0; i < out->msg_count; i++) {
		const struct elog_raft_msg *m = &out->msgs[i];
		int64_t from, end;
		size_t len;
		if (m->type != ELOG_RAFT_MSG_APPEND) {
			if (!g->state_failed)
				raft_peer_queue(k, m->to, g, m, NULL, 0);
			continue;
		}
		from = m->append.prev_end;
		len = read_batches(g, from, &end, &damaged);
		if (!g->state_failed && !damaged)
			raft_peer_queue(k, m->to, g, m, k->read.data, len);
		INPUT(g, elog_raft_append_sent(&g->raft, m->to, from, end, o_));
		if (damaged) {
			/* Our copy is damaged there: step down, cut it, and catch up from
			 * a healthy replica (docs/raft.md, "Restriction"). */
			damage_restrict(g);
			return;
		}
	}
}

/* ---------------------------------------------------------------- retention */

/* Retention keeps what is not committed: a truncation may still cut it. */
static int64_t retain_limit(void *ctx, struct elog_partition *p)
{
	struct raft_group *g = p->replication;

	(void)ctx;
	return elog_raft_commit(&g->raft);
}

/* Retention moved the log start: the core learns it, so that a follower
 * behind it is reset to it (docs/raft.md) rather than sent what is gone. */
static void retained(void *ctx, struct elog_partition *p)
{
	struct raft_group *g = p->replication;
	int64_t start = elog_partlog_start_offset(g->log), commit = elog_raft_commit(&g->raft);

	(void)ctx;
	if (start > commit)
		start = commit;
	if (start > g->raft.start)
		raft_log_trimmed(g, start);
}

void raft_log_trimmed(struct raft_group *g, int64_t start)
{
	INPUT(g, elog_raft_log_trimmed(&g->raft, start, o_));
}

/* ---------------------------------------------------------------- control batches */

/*
 * Append, as leader, a control batch of the one record r (clients skip
 * control batches: they are the log's, not the users'); *base is its
 * offset. 0, or -1 logged (what failed).
 */
int raft_control_append(struct raft_group *g, const struct elog_record *r, const char *what,
			int64_t *base)
{
	struct elog_batch_builder bb;
	struct elog_err err;
	const uint8_t *bytes;
	uint8_t copy[256];
	char v[ELOG_LOG_VALUE_MAX];
	size_t len;

	elog_batch_builder_init(&bb, ELOG_COMPRESS_NONE, 0);
	if (elog_batch_builder_add(&bb, r, &err) < 0 ||
	    elog_batch_builder_finish(&bb, &bytes, &len, &err) < 0 || len > sizeof(copy)) {
		elog_batch_builder_release(&bb);
		return -1;
	}
	memcpy(copy, bytes, len);
	elog_batch_builder_release(&bb);
	copy[17] |= ELOG_BATCH_ATTR_CONTROL;
	/* The CRC again, over the new attributes. */
	elog_put32(copy + 12, elog_crc32c(0, copy + ELOG_BATCH_CRC_START, len - ELOG_BATCH_CRC_START));
	if (elog_partlog_append(g->log, copy, len, elog_raft_term(&g->raft), base, &err) < 0) {
		raft_group_log(g, ELOG_LOG_ERROR, what, "error=%s",
			       elog_logfmt_value(v, sizeof(v), err.msg));
		return -1;
	}
	g->k->b->appended = 1;
	return 0;
}

/* One control batch of one empty record: the leader's first record of its term. */
static void term_start(struct raft_group *g)
{
	struct elog_record r = {0};
	int64_t base;

	r.timestamp_ms = (int64_t)time(NULL) * 1000;
	r.key_len = -1;
	r.value_len = 0;
	r.value = (const uint8_t *)"";
	if (raft_control_append(g, &r, "term start not appended", &base) == 0)
		raft_leader_appended(g, base, base);
}

/* ---------------------------------------------------------------- durability */

/*
 * Where durability comes from. A partition's log syncs on the flusher
 * thread (sync_deferred, store.c): appends here only write, the log goes on
 * the flusher's dirty list (the store's `written` callback), and the loop
 * asks for a round once per turn (flusher_want, then the kick in
 * before_sleep). After the round the flusher wakes the loop, which drains
 * the logs whose flushed offset moved (elog_flusher_moved) and tells each
 * one's group its new durable end: a follower answers the leader with it
 * (raft_follow.c: its durable end, never its written end), the leader
 * counts its own, and acks=all answers once the commit passes the batch.
 * The metadata log syncs each append itself, and flush=never counts written
 * as durable; both report right after the append. A tick also looks at
 * every group's flushed offset (two loads): it catches a sync no round
 * made (a log parked by the fd budget syncs on the loop) at the next tick.
 */
static void durability(struct raft_group *g)
{
	int64_t d = g->flush_never ? elog_partlog_next_offset(g->log)
				   : elog_partlog_flushed_offset(g->log);

	if (d > elog_partlog_next_offset(g->log))
		d = elog_partlog_next_offset(g->log);
	if (d == g->durable_reported)
		return;
	g->durable_reported = d;
	INPUT(g, elog_raft_log_durable(&g->raft, d, o_));
}

/* g's log was written and a produce or a leader waits for its sync: a
 * round at the end of this loop turn, one kick however many groups. */
static void flusher_want(struct raft_group *g)
{
	if (g->topic && !g->flush_never)
		g->k->kick_flusher = 1;
}

/* The flusher's moved list: a partition whose flushed offset moved. */
static void moved(void *ctx, void *owner, struct elog_partlog *log)
{
	struct elog_partition *p = owner;

	(void)ctx;
	(void)log;
	if (p->replication)
		durability(p->replication);
}

/* ---------------------------------------------------------------- outbox */

static void role_changed(struct raft_group *g, const struct elog_raft_outbox *out)
{
	struct elog_cluster *k = g->k;

	/* Leaders, the followers that learn of them, and a leader stepping
	 * down (leader=-1 when it knows no successor: it lost its majority);
	 * elections are quiet. */
	if (out->role == ELOG_RAFT_LEADER || out->leader != ELOG_RAFT_NONE || g->led)
		raft_group_log(g, ELOG_LOG_INFO, "raft role", "role=%s term=%" PRIu64 " leader=%d",
			       elog_raft_role_name(out->role), out->term, out->leader);
	if (out->role == ELOG_RAFT_LEADER && !g->led)
		g->led_since_ms = elog_loop_now_ms(&k->b->loop);
	g->led = out->role == ELOG_RAFT_LEADER;
	if (g->p && out->role == ELOG_RAFT_LEADER) {
		g->p->leader_term = out->term;
		raft_peers_announce(k, g, -1);
	}
	if (!g->p && out->role == ELOG_RAFT_LEADER)
		/* A new metadata leader hands out producer ids from a block of its own. */
		k->b->store->producer_id_next = k->b->store->producer_id_limit;
	k->check_produces = 1;
	k->check_meta = 1;
	if (out->role == ELOG_RAFT_LEADER || g->saved.hard.term != out->term)
		raft_state_save(g); /* a checkpoint of the commit now and then */
}

void raft_outbox_done(struct raft_group *g, struct elog_raft_outbox *out)
{
	struct elog_cluster *k = g->k;
	int appended;

	assert(k->depth > 0 && out == &k->outbox[k->depth - 1]);
	if (out->hard_state_changed || out->terms_changed)
		raft_state_save(g);
	appended = do_ops(g, out);
	send_msgs(g, out);
	if (out->commit_changed) {
		if (g->p) {
			k->check_produces = 1;
			k->b->appended = 1;
			if (g->purge_count)
				raft_purges_apply(g);
		} else {
			k->check_meta = 1;
			raft_state_save(g);
		}
	}
	if (out->role_changed)
		role_changed(g, out);
	if (out->term_start)
		term_start(g);
	if (out->restriction_changed)
		raft_group_log(g, ELOG_LOG_WARN,
			       out->restriction ? "restricted: may not vote or lead until caught up"
						: "restriction lifted: caught up from the leader",
			       "reason=%s", g->restricted_empty && out->restriction ? "empty"
					    : out->restriction == ELOG_RAFT_RESTRICT_UNCLEAN ? "unclean"
					    : out->restriction == ELOG_RAFT_RESTRICT_DAMAGED ? "damaged"
											    : "none");
	if (out->restriction_changed && !out->restriction)
		g->restricted_empty = 0;
	if (out->terms_changed)
		raft_state_save(g);
	k->depth--;
	if (appended) {
		INPUT(g, elog_raft_log_written(&g->raft, elog_partlog_next_offset(g->log), o_));
		/* A follower's appends are synced by the flusher at once (flush=always
		 * and interval alike): the leader's acks=all waits on them. */
		flusher_want(g);
		durability(g);
	}
}

void raft_leader_appended(struct raft_group *g, int64_t base, int64_t last)
{
	INPUT(g, elog_raft_leader_appended(&g->raft, base, last, o_));
	flusher_want(g);
	durability(g);
}

/* ---------------------------------------------------------------- groups */

/* The saved term cache fitted to the log (raftterms.h), saying so when the
 * log contradicted it (a crash between a turn's log writes and its
 * raft.state write). */
static int terms_derive(struct raft_group *g, struct elog_raftstate *s, struct elog_err *err)
{
	uint32_t dropped = 0;

	if (read_room(g->k, RAFT_APPEND_BYTES, err) < 0 ||
	    elog_raftterms_fit(g->log, s, g->k->read.data, g->k->read.cap, &dropped, err) < 0)
		return -1;
	if (dropped)
		raft_group_log(g, ELOG_LOG_WARN, "raft state: term cache behind the log, refitted",
			       "dropped=%u", dropped);
	return 0;
}

static uint64_t seed_for(const struct elog_cluster *k, const struct raft_group *g)
{
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)k->self * 0x9e3779b97f4a7c15ull;
	x ^= (uint64_t)g->id.partition * 0xbf58476d1ce4e5b9ull ^ (uint64_t)g->id.incarnation;
	return x ? x : 1;
}

static struct raft_group *group_new(struct elog_cluster *k, struct elog_topic *t,
				    struct elog_partition *p, const int32_t *voters,
				    uint32_t voter_count, struct elog_err *err)
{
	struct elog_broker *b = k->b;
	struct raft_group *g = calloc(1, sizeof(*g));
	struct elog_raftstate s;
	struct elog_raft_config cfg;
	struct elog_raft_log_view view;
	enum elog_raft_restriction restriction = ELOG_RAFT_RESTRICT_NONE;
	int found, anchored;

	if (!g) {
		elog_err_set(err, ELOG_E_NOMEM, "raft group: out of memory");
		return NULL;
	}
	g->k = k;
	g->topic = t;
	g->p = p;
	g->log = p ? p->log : b->store->meta;
	g->id.topic = t ? t->name : "";
	g->id.topic_len = t ? strlen(t->name) : 0;
	g->id.partition = p ? p->id : 0;
	g->id.incarnation = t ? t->incarnation : 0;
	g->flush_never = t && t->config.flush == ELOG_FLUSH_NEVER;
	g->dir = strdup(elog_partlog_dir(g->log));
	if (!g->dir) {
		free(g);
		elog_err_set(err, ELOG_E_NOMEM, "raft group: out of memory");
		return NULL;
	}
	if (raft_state_load(g, &s, &found, &anchored, err) < 0) {
		char why[ELOG_ERR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		elog_err_set(err, err->code, "%.400s: see \"Damaged raft state\" in docs/operations.md",
			     why);
		free(g->dir);
		free(g);
		return NULL;
	}
	if (terms_derive(g, &s, err) < 0)
		goto fail;
	if (found && g->flush_never && !(s.flags & ELOG_RAFTSTATE_CLEAN))
		restriction = ELOG_RAFT_RESTRICT_UNCLEAN;
	elog_raft_config_default(&cfg);
	cfg.self = k->self;
	memcpy(cfg.voters, voters, voter_count * sizeof(*voters));
	cfg.voter_count = voter_count;
	cfg.election_ticks = b->config.raft_election_ticks;
	/* The metadata group waits longer before it elects: a loop stalled for
	 * a second (a topic of a thousand partitions made, an election of
	 * thousands of groups) must not cost the cluster its controller, and
	 * no produce waits for it (partitions elect on their own timeouts). */
	if (!p)
		cfg.election_ticks *= RAFT_META_ELECTION_FACTOR;
	cfg.heartbeat_ticks = b->config.raft_heartbeat_ticks;
	cfg.uncommitted_offsets_max = RAFT_UNCOMMITTED_MAX;
	cfg.seed = seed_for(k, g);
	view.start = elog_partlog_start_offset(g->log);
	view.end = elog_partlog_next_offset(g->log);
	view.durable_end = g->flush_never ? view.end : elog_partlog_flushed_offset(g->log);
	if (view.durable_end > view.end)
		view.durable_end = view.end;
	view.terms = s.terms;
	view.term_count = s.term_count;
	g->durable_reported = view.durable_end;
	/*
	 * The empty-replica guard (broker_raft_net.c, empty_behind), armed for
	 * an empty log that may have lost records: one without a raft.state
	 * (its directory was lost, or the group never ran; a record in the
	 * journal does not stand for the directory), or whose state was
	 * written while the guard was armed (a replaced broker restarted
	 * before it caught up). An empty log beside a raft.state written
	 * unguarded never held a record it acknowledged: an acknowledgement
	 * follows the record's sync (and flush=never's unsynced ones are the
	 * unclean restriction's), and damage that cut a log is the damaged
	 * restriction's. Guarded, two such replicas of a new topic whose first
	 * leader was deposed before its term start reached them restricted
	 * themselves at a restart on that leader's next campaign, for good. A
	 * group made for the first time for a create (topic_groups) is
	 * disarmed too.
	 */
	g->empty = view.end == 0 && (!anchored || (s.flags & ELOG_RAFTSTATE_GUARDED));
	g->state_new = !found;
	g->saved = s;
	{
		struct elog_raft_outbox *o = raft_outbox_take(k);
		if (elog_raft_init(&g->raft, &cfg, &s.hard, &view, s.commit, restriction, o, err) < 0) {
			k->depth--;
			goto fail;
		}
		raft_outbox_done(g, o);
	}
	if (found && p && (s.flags & ELOG_RAFTSTATE_PURGING))
		purges_rescan(g, s.commit);
	if (t && t->replication_factor > 1)
		damage_restrict(g);
	/* flush=never: not clean until a clean shutdown says so again (the flag
	 * means nothing to other groups, which so write nothing here). */
	if (g->flush_never)
		g->saved.flags = ELOG_RAFTSTATE_CLEAN;
	/* Written by the writer thread when serving (a topic created: its
	 * frames wait for it as any group's do, and the loop goes on); at
	 * start-up, every group's in one batch before the broker listens
	 * (elog_broker_raft_open). */
	raft_state_save(g);
	if (p)
		p->replication = g;
	return g;
fail:
	elog_err_prefix(err, "%s", g->dir);
	free(g->dir);
	free(g);
	return NULL;
}

static void group_free(struct raft_group *g)
{
	if (!g)
		return;
	raft_state_unmark(g);
	if (g->p)
		g->p->replication = NULL;
	elog_raft_release(&g->raft);
	free(g->purges);
	free(g->dir);
	free(g);
}

/* Groups for the partitions of t this broker holds a replica of; a group
 * that cannot start (a damaged raft.state) is logged, and at start-up
 * (err given) stops the broker. */
static int topic_groups(struct elog_cluster *k, struct elog_topic *t, struct elog_err *start_err)
{
	char v[ELOG_LOG_VALUE_MAX];
	struct elog_err err;

	for (uint32_t i = 0; i < t->partition_count; i++) {
		struct elog_partition *p = t->partitions[i];
		const int32_t *replicas = elog_topic_replicas(t, i);
		int mine = 0;
		struct raft_group *g;
		if (!p || p->replication || !replicas)
			continue;
		for (uint32_t r = 0; r < t->replication_factor; r++)
			mine |= replicas[r] == k->self;
		if (!mine)
			continue;
		g = group_new(k, t, p, replicas, t->replication_factor, &err);
		if (!g && start_err) {
			*start_err = err;
			return -1;
		}
		if (!g) {
			elog_logf(k->b->log, ELOG_LOG_ERROR, "raft group not started",
				  "topic=%s partition=%u error=%s", t->name, i,
				  elog_logfmt_value(v, sizeof(v), err.msg));
			continue;
		}
		/* Made live, for the first time (no state yet), for a create
		 * this broker applied with its metadata intact: the group is new,
		 * it never acknowledged anything, and its empty log is no evidence
		 * of loss. Guarded, a new group whose
		 * first leader was deposed before its term start reached anyone
		 * had both other replicas restricted for good (the first leader's
		 * next campaign shows a record), and no leader ever again. A broker
		 * whose metadata rejoined empty (a replaced one) learns old topics
		 * this way: their groups stay guarded. */
		if (!start_err && !k->replaced && g->state_new)
			g->empty = 0;
		g->next = k->groups;
		k->groups = g;
		/* A new partition: its preferred leader stands at once, so a topic of
		 * many partitions is led without a storm of split elections. */
		if (!start_err && replicas[0] == k->self && t->replication_factor > 1)
			INPUT(g, elog_raft_campaign(&g->raft, o_));
	}
	return 0;
}

void elog_broker_raft_topic_change(void *ctx, enum elog_store_change what, struct elog_topic *t)
{
	struct elog_cluster *k = ctx;
	char v[ELOG_LOG_VALUE_MAX];

	if (what == ELOG_STORE_DELETING) {
		struct raft_group **at = &k->groups;
		elog_broker_forget_topic(k->b, t);
		while (*at) {
			struct raft_group *g = *at;
			if (g->topic == t) {
				*at = g->next;
				raft_state_forget(g);
				group_free(g);
			} else {
				at = &g->next;
			}
		}
		elog_logf(k->b->log, ELOG_LOG_INFO, "topic deleted", "topic=%s",
			  elog_logfmt_value(v, sizeof(v), t->name));
		return;
	}
	if (what == ELOG_STORE_ALTERED) {
		/* The partitions were reopened with the new config: new log handles. */
		for (struct raft_group *g = k->groups; g; g = g->next)
			if (g->topic == t) {
				g->log = g->p->log;
				g->flush_never = t->config.flush == ELOG_FLUSH_NEVER;
			}
	}
	if (what == ELOG_STORE_CREATED)
		elog_logf(k->b->log, ELOG_LOG_INFO, "topic created",
			  "topic=%s partitions=%u replication_factor=%u incarnation=%" PRId64,
			  elog_logfmt_value(v, sizeof(v), t->name), t->partition_count,
			  t->replication_factor, t->incarnation);
	topic_groups(k, t, NULL);
}

struct raft_group *raft_group_of(struct elog_cluster *k, const struct elog_raftwire_group *id)
{
	struct elog_topic *t;
	struct elog_partition *p;

	if (id->topic_len == 0)
		return id->partition == 0 && id->incarnation == 0 ? k->meta : NULL;
	t = elog_store_find(k->b->store, id->topic, id->topic_len);
	if (!t || t->incarnation != id->incarnation || id->partition >= t->partition_count)
		return NULL;
	p = t->partitions[id->partition];
	return p ? p->replication : NULL;
}

/* ---------------------------------------------------------------- lifecycle */

/* A group hears of the brokers it depends on through the broker pair's own
 * frames: a leader of its followers' always, a quiesced follower of its
 * leader's (docs/raft.md, "Quiescence"). */
static void brokers_heard(struct raft_group *g)
{
	const struct elog_raft_config *c = &g->raft.config;
	int32_t leader = elog_raft_leader(&g->raft);

	if (elog_raft_role(&g->raft) == ELOG_RAFT_LEADER) {
		for (uint32_t i = 0; i < c->voter_count; i++)
			if (c->voters[i] != c->self && raft_peer_heard(g->k, c->voters[i]))
				INPUT(g, elog_raft_peer_heard(&g->raft, c->voters[i], o_));
	} else if (elog_raft_quiesced(&g->raft) && leader != ELOG_RAFT_NONE &&
		   raft_peer_heard(g->k, leader)) {
		INPUT(g, elog_raft_leader_heard(&g->raft, o_));
	}
}

/* Quiesced, and every broker it depends on was heard this tick: a tick and
 * the heard calls would change nothing (docs/raft.md, "Quiescence"), so
 * 10,000 idle partitions cost no Raft work per tick. */
static int tick_skippable(const struct raft_group *g)
{
	const struct elog_raft_config *c = &g->raft.config;
	int32_t leader = elog_raft_leader(&g->raft);

	if (!elog_raft_quiesced(&g->raft))
		return 0;
	if (elog_raft_role(&g->raft) != ELOG_RAFT_LEADER)
		return leader != ELOG_RAFT_NONE && raft_peer_heard(g->k, leader);
	for (uint32_t i = 0; i < c->voter_count; i++)
		if (c->voters[i] != c->self && !raft_peer_heard(g->k, c->voters[i]))
			return 0;
	return 1;
}

static void group_tick(struct raft_group *g)
{
	if (!tick_skippable(g)) {
		INPUT(g, elog_raft_tick(&g->raft, o_));
		brokers_heard(g);
	}
	durability(g);
}

/* Whether g, led here, should go to its preferred replica (its first,
 * where placement put it): led here for a whole interval, the preferred
 * broker heard this tick, not shutting down, and holding all of the log. */
static int balance_due(const struct raft_group *g, int64_t now, int64_t interval)
{
	int32_t preferred = g->raft.config.voters[0];
	struct elog_raft_peer_status st;

	return g->p && g->raft.config.voter_count > 1 && preferred != g->k->self &&
	       elog_raft_role(&g->raft) == ELOG_RAFT_LEADER &&
	       g->raft.transfer_target == ELOG_RAFT_NONE && now - g->led_since_ms >= interval &&
	       raft_peer_heard(g->k, preferred) && !raft_peer_leaving(g->k, preferred) &&
	       elog_raft_peer(&g->raft, preferred, &st) == 0 &&
	       !st.lost && st.match_end == g->raft.end;
}

/* Leader balance (docs/operations.md, "Leader balance"): every
 * leader_balance_interval, the partitions led here that are due (above) are
 * handed to their preferred replicas, so leaders return to the spread that
 * placement chose after failures and restarts moved them. A leadership
 * younger than the interval stays, which keeps a broker that flaps from
 * pulling leaders back and forth. At most RAFT_BALANCE_BATCH a round, so a
 * restarted broker of thousands of partitions is not handed them in one
 * storm of elections; a round that stopped there is followed by the next a
 * second later. */
static void leaders_balance(struct elog_cluster *k)
{
	int64_t now = elog_loop_now_ms(&k->b->loop);
	int64_t interval = k->b->config.leader_balance_interval_ms;
	uint32_t moved = 0;

	if (interval <= 0 || k->transferring || now < k->balance_at_ms)
		return;
	k->balance_at_ms = now + interval;
	for (struct raft_group *g = k->groups; g; g = g->next) {
		if (!balance_due(g, now, interval))
			continue;
		if (moved == RAFT_BALANCE_BATCH) {
			k->balance_at_ms = now + 1000;
			break;
		}
		INPUT(g, elog_raft_transfer_leadership(&g->raft, g->raft.config.voters[0], o_, NULL));
		moved++;
	}
	if (moved)
		elog_logf(k->b->log, ELOG_LOG_INFO, "leaders handed to their preferred replicas",
			  "partitions=%u", moved);
}

static void on_tick(struct elog_loop *loop, void *ctx)
{
	struct elog_cluster *k = ctx;
	struct elog_broker *b = k->b;

	/* While a raft state batch is written this broker's messages are held:
	 * its groups' clocks stand still too, as they did when the loop itself
	 * waited for the disk. Ticking on, every election timeout that ran out
	 * while its votes and heartbeats were held started another election,
	 * and 10,000 groups electing at a start-up took three times as long. */
	if (!raft_states_busy(k)) {
		group_tick(k->meta);
		for (struct raft_group *g = k->groups; g; g = g->next)
			group_tick(g);
		leaders_balance(k);
		raft_peers_heard_reset(k);
	}
	raft_peers_tick(k);
	elog_loop_timer_start(loop, &k->tick_timer, elog_loop_now_ms(loop) + b->config.raft_tick_ms,
			      NULL);
}

int elog_broker_raft_open(struct elog_broker *b, struct elog_err *err)
{
	struct elog_cluster *k = calloc(1, sizeof(*k));
	const struct elog_cluster_config *cc = &b->config.cluster;
	int32_t voters[ELOG_CLUSTER_BROKERS_MAX];

	if (!k)
		return elog_err_set(err, ELOG_E_NOMEM, "cluster: out of memory");
	if (elog_broker_id_claim(b->config.data_dir, b->config.broker_id, err) < 0) {
		free(k);
		return -1;
	}
	if (b->config.cluster_secret_file[0]) {
		k->auth = malloc(sizeof(*k->auth));
		if (!k->auth || elog_raftauth_load(k->auth, b->config.cluster_secret_file, err) < 0) {
			if (!k->auth)
				elog_err_set(err, ELOG_E_NOMEM, "cluster: out of memory");
			free(k->auth);
			free(k);
			return elog_err_prefix(err, "cluster_secret_file");
		}
	}
	b->cluster = k;
	k->b = b;
	k->self = b->config.broker_id;
	elog_buf_init(&k->read, ELOG_BATCH_SIZE_MAX + (1u << 20));
	elog_batch_validator_init(&k->validator);
	elog_timer_init(&k->tick_timer, on_tick, k);
	for (uint32_t i = 0; i < cc->count; i++)
		voters[i] = cc->members[i].id;
	if (raft_states_open(k, err) < 0)
		return -1;
	k->meta = group_new(k, NULL, NULL, voters, cc->count, err);
	if (!k->meta)
		return -1;
	/* Restricted still (persisted): a replaced broker restarted before its
	 * metadata caught up; the topics it learns keep the empty guard. */
	k->replaced = elog_raft_restricted(&k->meta->raft);
	b->store->propose = elog_broker_raft_meta_propose;
	b->store->propose_ctx = k;
	b->store->retain_limit = retain_limit;
	b->store->retained = retained;
	b->store->retain_ctx = k;
	if (raft_states_start(k, err) < 0 ||
	    elog_store_meta_load(b->store, elog_raft_commit(&k->meta->raft), err) < 0)
		return -1;
	raft_states_prune(k, elog_raft_commit(&k->meta->raft));
	for (uint32_t i = 0; i < b->store->topic_count; i++)
		if (topic_groups(k, b->store->topics[i], err) < 0)
			return -1;
	/* Every group's state that changed as it started (and the anchors
	 * due), in one batch, before anything is sent. */
	if (raft_states_write_now(k) < 0)
		return elog_err_set(err, ELOG_E_IO,
				    "cluster: raft state not written (the log says which group)");
	return raft_peers_open(k, err);
}

int elog_broker_raft_start(struct elog_broker *b, struct elog_err *err)
{
	struct elog_cluster *k = b->cluster;

	k->serving = 1;
	if (!k->auth)
		elog_logf(b->log, ELOG_LOG_WARN, "cluster traffic is not authenticated",
			  "hint=%s", "set cluster_secret_file on every broker (docs/operations.md)");
	return elog_loop_timer_start(&b->loop, &k->tick_timer,
				     elog_loop_now_ms(&b->loop) + b->config.raft_tick_ms, err);
}

void elog_broker_raft_close(struct elog_broker *b)
{
	struct elog_cluster *k = b->cluster;

	if (!k)
		return;
	if (b->loop_ready)
		elog_loop_timer_stop(&b->loop, &k->tick_timer);
	raft_peers_close(k);
	/* Every group's state, clean, in one batched write: 10,000 groups
	 * written one by one cost 20,000 fdatasyncs (5 s) at each stop. */
	k->closing = 1;
	/* Not after a start that failed: a group refused for its state (the
	 * journal missing) must find it missing again at the next try, not
	 * made by the others' clean states. */
	for (struct raft_group *g = k->groups; g && k->serving; g = g->next)
		raft_state_save(g);
	if (k->meta && k->serving) {
		raft_state_save(k->meta);
		(void)raft_states_write_now(k);
	}
	raft_states_stop(k);
	while (k->groups) {
		struct raft_group *g = k->groups;
		k->groups = g->next;
		group_free(g);
	}
	group_free(k->meta);
	if (b->store) {
		b->store->propose = NULL;
		b->store->retain_limit = NULL;
		b->store->retained = NULL;
	}
	elog_buf_release(&k->read);
	elog_batch_validator_release(&k->validator);
	if (k->auth)
		sodium_memzero(k->auth, sizeof(*k->auth));
	free(k->auth);
	free(k);
	b->cluster = NULL;
}

void elog_broker_raft_durability(struct elog_broker *b)
{
	/* Only the logs a round moved: no walk over every partition. */
	elog_flusher_moved(&b->flusher, moved, b->cluster);
}

void elog_broker_raft_before_sleep(struct elog_broker *b)
{
	struct elog_cluster *k = b->cluster;
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];

	if (k->check_meta) {
		k->check_meta = 0;
		if (elog_store_meta_apply(b->store, elog_raft_commit(&k->meta->raft),
					  elog_broker_raft_topic_change, k, &err) < 0)
			elog_logf(b->log, ELOG_LOG_ERROR, "metadata not applied", "error=%s",
				  elog_logfmt_value(v, sizeof(v), err.msg));
		raft_meta_check_waiters(k, 0);
	}
	if (k->check_produces) {
		k->check_produces = 0;
		elog_broker_check_produces(b, 0);
	}
	if (k->kick_flusher) {
		k->kick_flusher = 0;
		elog_flusher_kick(&b->flusher);
	}
	/* The turn's frames are closed, the states it changed go to the writer
	 * (the frames wait for them), then what may leave is sent. */
	raft_peers_close_frames(k);
	raft_states_write(k);
	raft_peers_send(k);
}

/* The follower with the largest match, not shutting down too, or NONE. */
static int32_t transfer_target(const struct raft_group *g)
{
	const struct elog_raft_config *c = &g->raft.config;
	int64_t best = -1;
	int32_t target = ELOG_RAFT_NONE;

	for (uint32_t i = 0; i < c->voter_count; i++) {
		struct elog_raft_peer_status st;
		if (c->voters[i] == c->self || elog_raft_peer(&g->raft, c->voters[i], &st) < 0 ||
		    st.lost || raft_peer_leaving(g->k, c->voters[i]))
			continue;
		if (st.match_end > best) {
			best = st.match_end;
			target = c->voters[i];
		}
	}
	return target;
}

static int group_transfer(struct raft_group *g)
{
	int32_t target;

	if (elog_raft_role(&g->raft) != ELOG_RAFT_LEADER || g->raft.config.voter_count < 2)
		return 0;
	target = transfer_target(g);
	/* Nobody to hand it to (every other replica lost): nothing to wait for. */
	if (target == ELOG_RAFT_NONE)
		return 0;
	if (g->raft.transfer_target == ELOG_RAFT_NONE) {
		raft_group_log(g, ELOG_LOG_INFO, "handing leadership over", "to=%d", target);
		INPUT(g, elog_raft_transfer_leadership(&g->raft, target, o_, NULL));
	}
	return 1;
}

static void transfer_abort_to(struct raft_group *g, int32_t id)
{
	if (elog_raft_role(&g->raft) == ELOG_RAFT_LEADER && g->raft.transfer_target == id) {
		raft_group_log(g, ELOG_LOG_INFO, "leadership kept",
			       "to=%d reason=%s", id, "it is shutting down");
		elog_raft_transfer_abort(&g->raft);
	}
}

void raft_groups_peer_leaving(struct elog_cluster *k, int32_t id)
{
	for (struct raft_group *g = k->groups; g; g = g->next)
		transfer_abort_to(g, id);
	transfer_abort_to(k->meta, id);
}

int elog_broker_raft_shutting_down(struct elog_broker *b)
{
	struct elog_cluster *k = b->cluster;
	int leading = 0;

	if (!k)
		return 0;
	if (!k->transferring) {
		k->transferring = 1;
		k->transfer_deadline_ms = elog_loop_now_ms(&b->loop) +
					  3 * (int64_t)b->config.raft_election_ticks *
						  b->config.raft_tick_ms;
	}
	if (elog_loop_now_ms(&b->loop) >= k->transfer_deadline_ms)
		return 0;
	for (struct raft_group *g = k->groups; g; g = g->next)
		leading |= group_transfer(g);
	leading |= group_transfer(k->meta);
	return leading;
}
