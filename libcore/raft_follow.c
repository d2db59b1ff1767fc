/* raft_follow — a follower's side of replication; see raft.h and docs/raft.md. */
#include <assert.h>

#include "raft_int.h"

/* Followers take the leader's commit only as far as they know their log
 * matches the leader's. */
void raft_learn_commit(struct elog_raft *r, int64_t leader_commit)
{
	int64_t c = leader_commit < r->verified_end ? leader_commit : r->verified_end;

	assert(r->verified_end <= r->end);
	if (c > r->commit) {
		r->commit = c;
		raft_trim_terms(r);
		raft_maybe_lift(r);
	}
}

/*
 * What we tell the leader is durable: only as far as our log is known to
 * match its log. Durable records past that may be ones the leader will
 * have us truncate; a durable end counted over them, paired later with a
 * match over new records, would count records that are not on disk.
 */
int64_t raft_durable_matched(const struct elog_raft *r)
{
	return r->durable_end < r->verified_end ? r->durable_end : r->verified_end;
}

static void send_success(struct elog_raft *r)
{
	struct elog_raft_msg *m = raft_msg(r, ELOG_RAFT_MSG_APPEND_RESP, r->leader);

	m->append_resp.success = 1;
	m->append_resp.end = r->verified_end < r->written_end ? r->verified_end : r->written_end;
	m->append_resp.durable_end = raft_durable_matched(r);
	m->append_resp.commit = r->commit;
}

static void send_reject(struct elog_raft *r, const struct elog_raft_append *a)
{
	struct elog_raft_msg *m = raft_msg(r, ELOG_RAFT_MSG_APPEND_RESP, r->leader);

	m->append_resp.success = 0;
	m->append_resp.end = a->prev_end;
	m->append_resp.durable_end = raft_durable_matched(r);
	m->append_resp.commit = r->commit;
	if (a->prev_term != ELOG_RAFT_TERM_UNKNOWN)
		raft_hint(r, a->prev_end, a->prev_term, &m->append_resp.hint_term,
			  &m->append_resp.hint_end);
}

/*
 * Does our log match the leader's below prev_end? *reset is set when we
 * must drop everything and start at the leader's log start instead.
 */
static int append_matches(const struct elog_raft *r, const struct elog_raft_append *a, int *reset)
{
	int64_t x = a->prev_end;

	*reset = 0;
	if (x <= r->commit)
		return 1; /* our committed prefix is every leader's prefix */
	if (a->prev_term != ELOG_RAFT_TERM_UNKNOWN)
		return x <= r->end && raft_term_at(r, x - 1) == a->prev_term;
	/* The leader cannot name the term below prev_end: only allowed at its
	 * log start, below which everything was committed and deleted. */
	if (x != a->leader_start || (a->batch_count > 0 && a->batches[0].base != x))
		return 0;
	if (a->batch_count > 0 && r->end > x && raft_term_at(r, x) == a->batches[0].term)
		return 1; /* we hold its first record: log matching below it */
	/* We hold nothing at or past x, or something that is not the leader's
	 * (and so was never committed): what we hold below x the leader
	 * deleted by retention. */
	*reset = 1;
	return 1;
}

/* Make room for a batch's new term; the records below base match the leader. */
static int take_term(struct elog_raft *r, const struct elog_raft_append *a,
		     const struct elog_raft_batch *b)
{
	if (r->verified_end < b->base)
		r->verified_end = b->base;
	raft_learn_commit(r, a->commit);
	return raft_push_term(r, b->term, b->base);
}

/*
 * The batches of a matching APPEND: skip what we hold, truncate at the
 * first conflict, append the rest. Returns the end up to which our log now
 * matches the leader's.
 */
static int64_t append_batches(struct elog_raft *r, const struct elog_raft_append *a)
{
	struct elog_raft_log_op *op = NULL;
	int64_t matched = a->prev_end;

	for (uint32_t i = 0; i < a->batch_count; i++) {
		const struct elog_raft_batch *b = &a->batches[i];
		if (b->base < r->end) {
			if (b->last < r->commit || raft_term_at(r, b->base) == b->term) {
				matched = b->last + 1; /* the leader's batch: held whole */
				continue;
			}
			/* Conflict: the records from here on are not the leader's,
			 * hence were never committed (leader completeness). A
			 * leader never contradicts what we verified with it. */
			if (b->base < r->commit || b->base < r->verified_end)
				break;
			op = raft_op(r, ELOG_RAFT_OP_TRUNCATE);
			op->offset = b->base;
			raft_view_truncate(r, b->base);
			op = NULL;
		}
		if (b->base != r->end || b->term < raft_last_term(r))
			break; /* not the leader's log: check_append lets nothing like it in */
		if (b->term > raft_last_term(r) && take_term(r, a, b) < 0)
			break; /* term cache full: take the rest once commit moves */
		if (!op) {
			op = raft_op(r, ELOG_RAFT_OP_APPEND);
			op->batch_first = i;
			op->offset = b->base;
		}
		op->batch_count++;
		op->end = r->end = b->last + 1;
		matched = r->end;
	}
	return matched;
}

void raft_step_append(struct elog_raft *r, const struct elog_raft_msg *m)
{
	const struct elog_raft_append *a = &m->append;
	int64_t matched;
	int reset;

	uint32_t ops = r->out->op_count;

	assert(r->role == ELOG_RAFT_FOLLOWER && r->leader == m->from);
	r->election_elapsed = 0;
	if (!append_matches(r, a, &reset)) {
		r->quiesced = 0;
		send_reject(r, a);
		return;
	}
	if (reset) {
		struct elog_raft_log_op *op = raft_op(r, ELOG_RAFT_OP_RESET);
		op->offset = a->prev_end;
		raft_view_reset(r, a->prev_end, a->start_term);
	}
	matched = append_batches(r, a);
	if (r->out->op_count != ops)
		r->quiesced = 0; /* news; an old APPEND, overtaken, is not */
	if (matched > r->verified_end)
		r->verified_end = matched;
	raft_learn_commit(r, a->commit);
	if (r->written_end < r->end)
		r->response_pending = 1; /* answer once the writes are reported */
	else
		send_success(r);
}

void raft_step_heartbeat(struct elog_raft *r, const struct elog_raft_msg *m)
{
	struct elog_raft_msg *resp;

	assert(r->role == ELOG_RAFT_FOLLOWER && r->leader == m->from);
	r->election_elapsed = 0;
	raft_learn_commit(r, m->heartbeat.commit);
	/* Quiesce only caught up: the leader saw us match its end, and we know
	 * its commit. A plain heartbeat does not wake us (it may be an old
	 * one, overtaken); an APPEND, a new term or our election timeout do. */
	if (m->heartbeat.quiesce && r->commit == m->heartbeat.commit && r->written_end == r->end)
		r->quiesced = 1;
	resp = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT_RESP, m->from);
	resp->heartbeat_resp.durable_end = raft_durable_matched(r);
	resp->heartbeat_resp.commit = r->commit;
}

/*
 * A quiesced follower that heard nothing, not even leader_heard, for half
 * an election timeout: the driver's liveness reports are missing. Rather
 * than campaign against a leader that may be fine, ask it for heartbeats.
 */
void raft_wake(struct elog_raft *r)
{
	struct elog_raft_msg *m;

	r->quiesced = 0;
	if (r->leader == ELOG_RAFT_NONE)
		return;
	m = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT_RESP, r->leader);
	m->heartbeat_resp.durable_end = raft_durable_matched(r);
	m->heartbeat_resp.commit = r->commit;
	m->heartbeat_resp.wake = 1;
}

void raft_follower_written(struct elog_raft *r)
{
	if (!r->response_pending || r->written_end < r->end)
		return;
	r->response_pending = 0;
	if (r->role == ELOG_RAFT_FOLLOWER && r->leader != ELOG_RAFT_NONE)
		send_success(r);
}

/* The leader counts durable ends: tell it ours moved. */
void raft_follower_durable(struct elog_raft *r)
{
	raft_maybe_lift(r);
	if (r->written_end == r->end)
		r->response_pending = 0; /* this answer is the one it waited for */
	if (r->role == ELOG_RAFT_FOLLOWER && r->leader != ELOG_RAFT_NONE)
		send_success(r);
}
