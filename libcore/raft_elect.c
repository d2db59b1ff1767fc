/* raft_elect — roles, pre-vote and vote, the restriction; see raft.h and docs/raft.md. */
#include <assert.h>
#include <string.h>

#include "raft_int.h"

int raft_in_lease(const struct elog_raft *r)
{
	if (r->role == ELOG_RAFT_LEADER)
		return 1;
	return r->leader != ELOG_RAFT_NONE && r->election_elapsed < r->config.election_ticks;
}

void raft_become_follower(struct elog_raft *r, uint64_t term, int32_t leader)
{
	assert(term >= r->term);
	if (term > r->term) {
		r->term = term;
		r->vote = ELOG_RAFT_NONE;
		r->hard_state_dirty = 1;
		/* What matched the old leader proves nothing about the new one;
		 * the committed prefix matches every later leader. */
		r->verified_end = r->commit;
		r->response_pending = 0;
	}
	r->role = ELOG_RAFT_FOLLOWER;
	r->leader = leader;
	r->election_elapsed = 0;
	raft_randomize_timeout(r);
	r->quiesced = 0;
	r->transfer_target = ELOG_RAFT_NONE;
	r->term_start_pending = 0;
}

static void reset_votes(struct elog_raft *r)
{
	memset(r->answered, 0, sizeof(r->answered));
	memset(r->granted, 0, sizeof(r->granted));
	r->answered[r->self_index] = r->granted[r->self_index] = 1;
}

static void send_vote_requests(struct elog_raft *r, enum elog_raft_msg_type type, uint64_t term,
			       int transfer)
{
	for (uint32_t i = 0; i < r->config.voter_count; i++) {
		struct elog_raft_msg *m;
		if (i == r->self_index)
			continue;
		m = raft_msg(r, type, r->config.voters[i]);
		m->term = term;
		m->vote.last_end = r->end;
		m->vote.last_term = raft_last_term(r);
		m->vote.transfer = (uint8_t)transfer;
	}
}

static int votes_won(const struct elog_raft *r)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->config.voter_count; i++)
		n += r->answered[i] && r->granted[i];
	return n >= raft_majority(r);
}

static int votes_lost(const struct elog_raft *r)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->config.voter_count; i++)
		n += r->answered[i] && !r->granted[i];
	return n >= raft_majority(r);
}

void raft_become_candidate(struct elog_raft *r, int transfer)
{
	assert(r->restricted_term == 0 && raft_term_room(r) && raft_last_term_known(r));
	r->term++;
	r->vote = r->config.self;
	r->hard_state_dirty = 1;
	r->role = ELOG_RAFT_CANDIDATE;
	r->leader = ELOG_RAFT_NONE;
	r->verified_end = r->commit;
	r->response_pending = 0;
	r->quiesced = 0;
	r->election_elapsed = 0;
	raft_randomize_timeout(r);
	reset_votes(r);
	send_vote_requests(r, ELOG_RAFT_MSG_VOTE, r->term, transfer);
	if (votes_won(r))
		raft_become_leader(r);
}

/* Ask first whether we could win (Ongaro §9.6): the term only moves once a
 * majority would vote for us, so a node cut off from the others never
 * comes back with a term that deposes a healthy leader. */
static void become_precandidate(struct elog_raft *r)
{
	r->role = ELOG_RAFT_PRECANDIDATE;
	r->leader = ELOG_RAFT_NONE;
	r->quiesced = 0;
	reset_votes(r);
	send_vote_requests(r, ELOG_RAFT_MSG_PREVOTE, r->term + 1, 0);
	if (votes_won(r))
		raft_become_candidate(r, 0);
}

/* A restricted replica cannot campaign; it tells the others its term, so
 * that a leader from before its restriction steps down (raft.h). */
static void call_out(struct elog_raft *r)
{
	r->role = ELOG_RAFT_FOLLOWER;
	r->leader = ELOG_RAFT_NONE;
	for (uint32_t i = 0; i < r->config.voter_count; i++) {
		struct elog_raft_msg *m;
		if (i == r->self_index)
			continue;
		m = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT_RESP, r->config.voters[i]);
		m->heartbeat_resp.durable_end = raft_durable_matched(r);
		m->heartbeat_resp.commit = r->commit;
	}
}

void raft_election_timeout(struct elog_raft *r)
{
	assert(r->role != ELOG_RAFT_LEADER);
	r->election_elapsed = 0;
	raft_randomize_timeout(r);
	r->quiesced = 0;
	if (r->restricted_term)
		call_out(r);
	else if (raft_term_room(r) && raft_last_term_known(r))
		become_precandidate(r);
	/* else: the term cache is full of uncommitted terms; a new term would
	 * not fit. Only a leader that commits them can free it (docs/raft.md). */
}

static int up_to_date(const struct elog_raft *r, const struct elog_raft_vote *v)
{
	uint64_t last = raft_last_term(r);

	return v->last_term > last || (v->last_term == last && v->last_end >= r->end);
}

void raft_step_vote(struct elog_raft *r, const struct elog_raft_msg *m)
{
	int prevote = m->type == ELOG_RAFT_MSG_PREVOTE;
	int grant = 0;
	struct elog_raft_msg *resp;

	if (!r->restricted_term && raft_last_term_known(r)) {
		int can;
		if (prevote)
			can = m->term > r->term;
		else
			can = r->vote == m->from ||
			      (r->vote == ELOG_RAFT_NONE && r->leader == ELOG_RAFT_NONE);
		grant = can && up_to_date(r, &m->vote);
	}
	if (grant && !prevote) {
		assert(m->term == r->term);
		r->vote = m->from;
		r->hard_state_dirty = 1;
		r->election_elapsed = 0;
	}
	resp = raft_msg(r, ELOG_RAFT_MSG_VOTE_RESP, m->from);
	/* A granted pre-vote answers in the term asked about, which is ahead of ours. */
	resp->term = grant ? m->term : r->term;
	resp->vote_resp.granted = (uint8_t)grant;
	resp->vote_resp.prevote = (uint8_t)prevote;
}

void raft_step_vote_resp(struct elog_raft *r, const struct elog_raft_msg *m)
{
	const struct elog_raft_vote_resp *v = &m->vote_resp;
	int i = raft_voter_index(r, m->from);

	if (v->prevote) {
		if (r->role != ELOG_RAFT_PRECANDIDATE || (v->granted && m->term != r->term + 1))
			return;
	} else if (r->role != ELOG_RAFT_CANDIDATE || m->term != r->term) {
		return;
	}
	if (r->answered[i])
		return;
	r->answered[i] = 1;
	r->granted[i] = v->granted;
	if (votes_won(r)) {
		if (r->role == ELOG_RAFT_PRECANDIDATE)
			raft_become_candidate(r, 0);
		else
			raft_become_leader(r);
	} else if (votes_lost(r)) {
		raft_become_follower(r, r->term, ELOG_RAFT_NONE);
	}
}

void raft_step_timeout_now(struct elog_raft *r, const struct elog_raft_msg *m)
{
	(void)m;
	if (r->role == ELOG_RAFT_LEADER || r->restricted_term || !raft_term_room(r) ||
	    !raft_last_term_known(r))
		return;
	raft_become_candidate(r, 1);
}

/*
 * Lift the restriction once we hold durably a commit offset whose last
 * record is of the current term, that term being the one the restriction
 * began in (restricted_term, entered at the restriction) or a later one.
 * Everything we may have acknowledged and lost was acknowledged in an
 * earlier term; a leader's first record of its term follows every record
 * committed before it, so we hold all of them again (docs/raft.md,
 * "Restriction").
 */
void raft_maybe_lift(struct elog_raft *r)
{
	if (!r->restricted_term || r->term < r->restricted_term || r->commit <= r->start)
		return;
	if (raft_term_at(r, r->commit - 1) != r->term || r->durable_end < r->commit)
		return;
	r->restricted_term = 0;
	r->hard_state_dirty = 1;
	r->restriction_dirty = 1;
}

void elog_raft_restrict(struct elog_raft *r, enum elog_raft_restriction reason,
			int64_t lost_from, struct elog_raft_outbox *out)
{
	struct elog_raft_log_op *op;

	assert(reason != ELOG_RAFT_RESTRICT_NONE);
	assert(lost_from >= r->start);
	raft_out_begin(r, out);
	if (r->config.voter_count > 1) {
		raft_become_follower(r, r->term + 1, ELOG_RAFT_NONE);
		r->restricted_term = r->term;
		r->restriction = reason;
		r->hard_state_dirty = r->restriction_dirty = 1;
		if (lost_from < r->end) {
			if (r->commit > lost_from)
				r->commit = lost_from; /* the data is gone from this node */
			op = raft_op(r, ELOG_RAFT_OP_TRUNCATE);
			op->offset = lost_from;
			raft_view_truncate(r, lost_from);
		}
	}
	raft_out_end(r);
}
