/* raft — init, accessors, the outbox, tick and step; see raft.h and docs/raft.md. */
#include "raft.h"

#include <assert.h>
#include <string.h>

#include "raft_int.h"

void elog_raft_config_default(struct elog_raft_config *c)
{
	memset(c, 0, sizeof(*c));
	c->self = 0;
	c->voters[0] = 0;
	c->voter_count = 1;
	c->election_ticks = 10;
	c->heartbeat_ticks = 1;
	c->inflight_max = 4;
	c->uncommitted_offsets_max = 0;
	c->seed = 1;
}

/* ---- helpers shared by the raft files ------------------------------------ */

uint32_t raft_majority(const struct elog_raft *r)
{
	return r->config.voter_count / 2 + 1;
}

int raft_voter_index(const struct elog_raft *r, int32_t id)
{
	for (uint32_t i = 0; i < r->config.voter_count; i++)
		if (r->config.voters[i] == id)
			return (int)i;
	return -1;
}

struct elog_raft_progress *raft_peer(struct elog_raft *r, int32_t id)
{
	int i = raft_voter_index(r, id);

	assert(i >= 0 && (uint32_t)i != r->self_index);
	return &r->peers[i];
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void raft_randomize_timeout(struct elog_raft *r)
{
	uint32_t t = r->config.election_ticks;

	r->election_timeout = t + (uint32_t)(rng_next(&r->rng) % t);
	assert(r->election_timeout >= t && r->election_timeout < 2 * t);
}

struct elog_raft_msg *raft_msg(struct elog_raft *r, enum elog_raft_msg_type type, int32_t to)
{
	struct elog_raft_outbox *out = r->out;
	struct elog_raft_msg *m;

	assert(out != NULL);
	assert(out->msg_count < ELOG_RAFT_OUTBOX_MSGS_MAX);
	assert(to != r->config.self && raft_voter_index(r, to) >= 0);
	m = &out->msgs[out->msg_count++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = r->config.self;
	m->to = to;
	m->term = r->term;
	return m;
}

struct elog_raft_log_op *raft_op(struct elog_raft *r, enum elog_raft_log_op_type type)
{
	struct elog_raft_outbox *out = r->out;
	struct elog_raft_log_op *op;

	assert(out != NULL);
	assert(out->op_count < ELOG_RAFT_OUTBOX_OPS_MAX);
	op = &out->ops[out->op_count++];
	memset(op, 0, sizeof(*op));
	op->type = type;
	return op;
}

/* ---- the outbox ------------------------------------------------------------ */

void raft_out_begin(struct elog_raft *r, struct elog_raft_outbox *out)
{
	assert(r->out == NULL);
	assert(out != NULL);
	out->hard_state_changed = 0;
	out->op_count = 0;
	out->msg_count = 0;
	out->commit_changed = 0;
	out->role_changed = 0;
	out->term_start = 0;
	out->restriction_changed = 0;
	out->terms_changed = 0;
	r->out = out;
}

/* Report what changed during the input, check the invariants, let go of the outbox. */
void raft_out_end(struct elog_raft *r)
{
	struct elog_raft_outbox *out = r->out;

	if (r->hard_state_dirty) {
		out->hard_state_changed = 1;
		out->hard_state = elog_raft_hard_state(r);
		r->hard_state_dirty = 0;
	}
	if (r->commit != r->reported_commit) {
		out->commit_changed = 1;
		out->commit = r->commit;
		r->reported_commit = r->commit;
	}
	if (r->role != r->reported_role || r->leader != r->reported_leader ||
	    r->term != r->reported_term) {
		out->role_changed = 1;
		out->role = r->reported_role = r->role;
		out->leader = r->reported_leader = r->leader;
		out->term = r->reported_term = r->term;
	}
	if (r->term_start_pending == 1) {
		out->term_start = 1;
		r->term_start_pending = 2; /* asked; cleared by leader_appended */
	}
	if (r->restriction_dirty) {
		out->restriction_changed = 1;
		out->restriction = r->restricted_term ? r->restriction : ELOG_RAFT_RESTRICT_NONE;
		r->restriction_dirty = 0;
	}
	if (r->terms_dirty) {
		out->terms_changed = 1;
		r->terms_dirty = 0;
	}
	raft_check_view(r);
	assert(r->role != ELOG_RAFT_LEADER || r->leader == r->config.self);
	assert(r->vote == ELOG_RAFT_NONE || raft_voter_index(r, r->vote) >= 0);
	r->out = NULL;
}

/* ---- init ------------------------------------------------------------------ */

static int check_config(const struct elog_raft_config *c, struct elog_err *err)
{
	int self_found = 0;

	if (c->voter_count < 1 || c->voter_count > ELOG_RAFT_VOTERS_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "raft: %u voters: want 1 to %d",
				    c->voter_count, ELOG_RAFT_VOTERS_MAX);
	for (uint32_t i = 0; i < c->voter_count; i++) {
		if (c->voters[i] < 0)
			return elog_err_set(err, ELOG_E_INVAL, "raft: voter id %d: negative",
					    c->voters[i]);
		for (uint32_t j = 0; j < i; j++)
			if (c->voters[j] == c->voters[i])
				return elog_err_set(err, ELOG_E_INVAL, "raft: voter %d listed twice",
						    c->voters[i]);
		self_found |= c->voters[i] == c->self;
	}
	if (!self_found)
		return elog_err_set(err, ELOG_E_INVAL, "raft: self %d: not a voter", c->self);
	if (c->election_ticks < 2 || c->election_ticks > (1u << 20) ||
	    c->heartbeat_ticks < 1 || c->heartbeat_ticks >= c->election_ticks)
		return elog_err_set(err, ELOG_E_INVAL,
				    "raft: election %u / heartbeat %u ticks: want 1 <= heartbeat < election",
				    c->election_ticks, c->heartbeat_ticks);
	if (c->inflight_max < 1 || c->inflight_max > ELOG_RAFT_INFLIGHT_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "raft: inflight_max %u: want 1 to %d",
				    c->inflight_max, ELOG_RAFT_INFLIGHT_MAX);
	if (c->uncommitted_offsets_max < 0)
		return elog_err_set(err, ELOG_E_INVAL, "raft: uncommitted_offsets_max: negative");
	return 0;
}

static int check_log_view(const struct elog_raft_log_view *v, struct elog_err *err)
{
	if (v->start < 0 || v->start > v->durable_end || v->durable_end > v->end ||
	    v->end == INT64_MAX)
		return elog_err_set(err, ELOG_E_INVAL,
				    "raft: log view start %lld durable %lld end %lld: out of order",
				    (long long)v->start, (long long)v->durable_end, (long long)v->end);
	if (v->term_count > ELOG_RAFT_TERMS_MAX || (v->term_count > 0 && !v->terms))
		return elog_err_set(err, ELOG_E_INVAL, "raft: %u term cache entries: want at most %d",
				    v->term_count, ELOG_RAFT_TERMS_MAX);
	for (uint32_t i = 0; i < v->term_count; i++) {
		const struct elog_raft_term_start *t = &v->terms[i];
		if (t->term == 0 || t->term == ELOG_RAFT_TERM_UNKNOWN || t->start < 0 ||
		    (i > 0 && (t->term <= t[-1].term || t->start <= t[-1].start)))
			return elog_err_set(err, ELOG_E_INVAL,
					    "raft: term cache entry %u (term %llu at %lld): out of order",
					    i, (unsigned long long)t->term, (long long)t->start);
	}
	if (v->term_count > 0 && v->terms[v->term_count - 1].start >= v->end)
		return elog_err_set(err, ELOG_E_INVAL, "raft: term cache entry past the log end");
	return 0;
}

static void init_state(struct elog_raft *r, const struct elog_raft_hard_state *hs,
		       const struct elog_raft_log_view *log, int64_t commit)
{
	r->self_index = (uint32_t)raft_voter_index(r, r->config.self);
	r->term = hs->term;
	r->vote = hs->vote;
	r->restricted_term = hs->restricted_term;
	r->restriction = hs->restricted_term ? ELOG_RAFT_RESTRICT_UNCLEAN : ELOG_RAFT_RESTRICT_NONE;
	r->role = ELOG_RAFT_FOLLOWER;
	r->leader = ELOG_RAFT_NONE;
	r->start = log->start;
	r->end = r->written_end = log->end;
	r->durable_end = log->durable_end;
	r->term_count = log->term_count;
	if (log->term_count)
		memcpy(r->terms, log->terms, log->term_count * sizeof(r->terms[0]));
	r->commit = commit < r->start ? r->start : commit > r->end ? r->end : commit;
	/* The core drops a cache entry (cache full, or a cut below it) only
	 * once the records it covered are committed: a cache starting above
	 * the log start, or empty over records, says so. */
	{
		int64_t floor = r->term_count > 0 ? r->terms[0].start : r->end;
		if (floor > r->start && floor > r->commit)
			r->commit = floor;
	}
	r->verified_end = r->commit;
	r->transfer_target = ELOG_RAFT_NONE;
	r->rng = r->config.seed ^ ((uint64_t)(uint32_t)r->config.self << 32);
	raft_randomize_timeout(r);
	r->reported_commit = r->commit;
	r->reported_role = r->role;
	r->reported_leader = r->leader;
	r->reported_term = r->term;
	for (uint32_t i = 0; i < r->config.voter_count; i++)
		r->peers[i].id = r->config.voters[i];
}

int elog_raft_init(struct elog_raft *r, const struct elog_raft_config *config,
		   const struct elog_raft_hard_state *hs, const struct elog_raft_log_view *log,
		   int64_t commit, enum elog_raft_restriction restriction,
		   struct elog_raft_outbox *out, struct elog_err *err)
{
	memset(r, 0, sizeof(*r));
	out->hard_state_changed = 0;
	out->op_count = out->msg_count = 0;
	out->commit_changed = out->role_changed = out->term_start = 0;
	out->restriction_changed = out->terms_changed = 0;
	if (check_config(config, err) < 0 || check_log_view(log, err) < 0)
		return -1;
	r->config = *config;
	if (hs->term == ELOG_RAFT_TERM_UNKNOWN || hs->restricted_term > hs->term ||
	    (hs->vote != ELOG_RAFT_NONE && raft_voter_index(r, hs->vote) < 0))
		return elog_err_set(err, ELOG_E_INVAL,
				    "raft: hard state term %llu vote %d restricted %llu: invalid",
				    (unsigned long long)hs->term, hs->vote,
				    (unsigned long long)hs->restricted_term);
	if (log->term_count > 0 && log->terms[log->term_count - 1].term > hs->term)
		return elog_err_set(err, ELOG_E_INVAL, "raft: log holds term %llu past term %llu",
				    (unsigned long long)log->terms[log->term_count - 1].term,
				    (unsigned long long)hs->term);
	init_state(r, hs, log, commit);
	raft_trim_terms(r);
	if (config->voter_count == 1) {
		r->restricted_term = 0;
	} else if (restriction != ELOG_RAFT_RESTRICT_NONE) {
		/* Same as a restriction at run time, minus the cut: a new term, so
		 * no acknowledgement from before the loss counts again. */
		r->term++;
		r->vote = ELOG_RAFT_NONE;
		r->restricted_term = r->term;
		r->restriction = restriction;
		r->hard_state_dirty = r->restriction_dirty = 1;
	}
	/* The outbox hands the restriction out at once: a clean shutdown
	 * before any other input must not lose it. */
	raft_out_begin(r, out);
	raft_out_end(r);
	return 0;
}

void elog_raft_release(struct elog_raft *r)
{
	memset(r, 0xa5, sizeof(*r));
}

/* ---- inputs ---------------------------------------------------------------- */

void elog_raft_tick(struct elog_raft *r, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	if (r->role == ELOG_RAFT_LEADER) {
		raft_tick_leader(r);
	} else {
		if (r->election_elapsed < UINT32_MAX)
			r->election_elapsed++;
		if (r->quiesced && r->election_elapsed > r->config.election_ticks / 2)
			raft_wake(r);
		if (r->election_elapsed >= r->election_timeout)
			raft_election_timeout(r);
	}
	raft_out_end(r);
}

void elog_raft_campaign(struct elog_raft *r, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	if (r->role != ELOG_RAFT_LEADER)
		raft_election_timeout(r);
	raft_out_end(r);
}

void elog_raft_leader_heard(struct elog_raft *r, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	if (r->role == ELOG_RAFT_FOLLOWER && r->quiesced && r->leader != ELOG_RAFT_NONE)
		r->election_elapsed = 0;
	raft_out_end(r);
}

void elog_raft_log_written(struct elog_raft *r, int64_t end, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	assert(end <= r->end && end >= r->written_end);
	r->written_end = end;
	if (r->role != ELOG_RAFT_LEADER)
		raft_follower_written(r);
	raft_out_end(r);
}

void elog_raft_log_durable(struct elog_raft *r, int64_t durable_end, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	assert(durable_end <= r->end);
	if (durable_end > r->durable_end) {
		r->durable_end = durable_end;
		if (r->written_end < durable_end)
			r->written_end = durable_end;
		if (r->role == ELOG_RAFT_LEADER)
			raft_maybe_commit(r);
		else
			raft_follower_durable(r);
	}
	raft_out_end(r);
}

void elog_raft_log_trimmed(struct elog_raft *r, int64_t start, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	assert(start >= r->start && start <= r->commit);
	raft_view_trim(r, start);
	raft_out_end(r);
}

/* ---- step ------------------------------------------------------------------ */

static int bad(struct elog_err *err, const struct elog_raft_msg *m, const char *why)
{
	return elog_err_set(err, ELOG_E_INVAL, "raft: %s from %d: %s",
			    elog_raft_msg_type_name(m->type), m->from, why);
}

static int check_append(const struct elog_raft_msg *m, struct elog_err *err)
{
	const struct elog_raft_append *a = &m->append;

	if (a->prev_end < 0 || a->commit < 0 || a->leader_start < 0 || a->prev_end == INT64_MAX)
		return bad(err, m, "negative offset");
	if ((a->prev_term != ELOG_RAFT_TERM_UNKNOWN && a->prev_term > m->term) ||
	    (a->start_term != ELOG_RAFT_TERM_UNKNOWN && a->start_term > m->term))
		return bad(err, m, "prev_term or start_term past the message term");
	if (a->batch_count > ELOG_RAFT_APPEND_BATCHES_MAX || (a->batch_count && !a->batches))
		return bad(err, m, "too many batches");
	for (uint32_t i = 0; i < a->batch_count; i++) {
		const struct elog_raft_batch *b = &a->batches[i];
		if (b->base < 0 || b->last < b->base || b->last == INT64_MAX)
			return bad(err, m, "batch offsets out of order");
		if (b->term == 0 || b->term > m->term)
			return bad(err, m, "batch term outside 1..message term");
		if (i > 0 && (b->base != b[-1].last + 1 || b->term < b[-1].term))
			return bad(err, m, "batches not contiguous");
	}
	if (a->batch_count > 0) {
		const struct elog_raft_batch *b = &a->batches[0];
		if (b->base > a->prev_end || b->last < a->prev_end)
			return bad(err, m, "first batch does not hold prev_end");
		if (b->base < a->prev_end && a->prev_term != ELOG_RAFT_TERM_UNKNOWN &&
		    a->prev_term != b->term)
			return bad(err, m, "prev_term differs from the batch holding it");
	}
	return 0;
}

static int check_msg(const struct elog_raft *r, const struct elog_raft_msg *m,
		     struct elog_err *err)
{
	if (m->type < ELOG_RAFT_MSG_APPEND || m->type > ELOG_RAFT_MSG_TIMEOUT_NOW)
		return elog_err_set(err, ELOG_E_INVAL, "raft: message type %d: unknown", (int)m->type);
	if (m->to != r->config.self)
		return bad(err, m, "addressed to another node");
	if (m->from == r->config.self || raft_voter_index(r, m->from) < 0)
		return bad(err, m, "sender is not another voter");
	if (m->term == 0 || m->term == ELOG_RAFT_TERM_UNKNOWN)
		return bad(err, m, "term 0");
	switch (m->type) {
	case ELOG_RAFT_MSG_APPEND:
		return check_append(m, err);
	case ELOG_RAFT_MSG_APPEND_RESP:
		if (m->append_resp.end < 0 || m->append_resp.durable_end < 0 ||
		    m->append_resp.commit < 0 || m->append_resp.hint_end < 0)
			return bad(err, m, "negative offset");
		return 0;
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		return m->vote.last_end < 0 ? bad(err, m, "negative offset") : 0;
	case ELOG_RAFT_MSG_HEARTBEAT:
		return m->heartbeat.commit < 0 ? bad(err, m, "negative offset") : 0;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		return m->heartbeat_resp.durable_end < 0 || m->heartbeat_resp.commit < 0
			? bad(err, m, "negative offset") : 0;
	default:
		return 0;
	}
}

/* A message from an older term. */
static void step_stale(struct elog_raft *r, const struct elog_raft_msg *m)
{
	struct elog_raft_msg *resp;

	switch (m->type) {
	case ELOG_RAFT_MSG_APPEND:
	case ELOG_RAFT_MSG_HEARTBEAT:
		/* A deposed leader: our term in the answer makes it step down. */
		resp = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT_RESP, m->from);
		resp->heartbeat_resp.durable_end = raft_durable_matched(r);
		resp->heartbeat_resp.commit = r->commit;
		break;
	case ELOG_RAFT_MSG_PREVOTE:
		resp = raft_msg(r, ELOG_RAFT_MSG_VOTE_RESP, m->from);
		resp->vote_resp.prevote = 1;
		break;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		/* A follower behind our term (restarted, or restricted and calling
		 * out): a heartbeat tells it the term and the leader. */
		if (r->role == ELOG_RAFT_LEADER) {
			resp = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT, m->from);
			resp->heartbeat.commit = r->commit;
		}
		break;
	default:
		break;
	}
}

/* Terms first (Raft §5.1, with the leader lease of pre-vote and check quorum). */
static int step_term(struct elog_raft *r, const struct elog_raft_msg *m)
{
	int vote_request = m->type == ELOG_RAFT_MSG_VOTE || m->type == ELOG_RAFT_MSG_PREVOTE;
	int from_leader = m->type == ELOG_RAFT_MSG_APPEND || m->type == ELOG_RAFT_MSG_HEARTBEAT ||
			  m->type == ELOG_RAFT_MSG_TIMEOUT_NOW;

	if (r->role == ELOG_RAFT_LEADER && r->quiesced && vote_request)
		raft_unquiesce(r);
	if (m->term < r->term) {
		step_stale(r, m);
		return 0;
	}
	if (m->term == r->term)
		return 1;
	if (vote_request && m->from == r->leader && r->role == ELOG_RAFT_FOLLOWER) {
		/* Our leader asks for votes in a later term: it stepped down
		 * (check quorum), though its broker lives. No lease to defend,
		 * and quiescence must end, or we would wait on it forever. */
		r->leader = ELOG_RAFT_NONE;
		r->quiesced = 0;
	}
	if (vote_request && !(m->type == ELOG_RAFT_MSG_VOTE && m->vote.transfer) &&
	    raft_in_lease(r))
		return 0; /* a leader is alive: neither the term nor the vote moves */
	if (m->type == ELOG_RAFT_MSG_PREVOTE)
		return 1; /* never changes our term */
	if (m->type == ELOG_RAFT_MSG_VOTE_RESP && m->vote_resp.prevote && m->vote_resp.granted)
		return 1; /* granted for the term we would campaign in */
	raft_become_follower(r, m->term, from_leader ? m->from : ELOG_RAFT_NONE);
	return 1;
}

static int step_from_leader(struct elog_raft *r, const struct elog_raft_msg *m,
			    struct elog_err *err)
{
	if (r->role == ELOG_RAFT_LEADER)
		return bad(err, m, "a second leader in our term");
	if (r->leader != ELOG_RAFT_NONE && r->leader != m->from)
		return bad(err, m, "a second leader in our term");
	if (r->role != ELOG_RAFT_FOLLOWER || r->leader == ELOG_RAFT_NONE)
		raft_become_follower(r, r->term, m->from);
	if (m->type == ELOG_RAFT_MSG_APPEND)
		raft_step_append(r, m);
	else
		raft_step_heartbeat(r, m);
	return 0;
}

static int step_checked(struct elog_raft *r, const struct elog_raft_msg *m, struct elog_err *err)
{
	int rc = 0;

	if (!step_term(r, m))
		return 0;
	switch (m->type) {
	case ELOG_RAFT_MSG_APPEND:
	case ELOG_RAFT_MSG_HEARTBEAT:
		rc = step_from_leader(r, m, err);
		break;
	case ELOG_RAFT_MSG_APPEND_RESP:
		if (r->role == ELOG_RAFT_LEADER)
			raft_step_append_resp(r, m);
		break;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == ELOG_RAFT_LEADER)
			raft_step_heartbeat_resp(r, m);
		break;
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		raft_step_vote(r, m);
		break;
	case ELOG_RAFT_MSG_VOTE_RESP:
		raft_step_vote_resp(r, m);
		break;
	case ELOG_RAFT_MSG_TIMEOUT_NOW:
		raft_step_timeout_now(r, m);
		break;
	}
	return rc;
}

int elog_raft_step(struct elog_raft *r, const struct elog_raft_msg *m,
		   struct elog_raft_outbox *out, struct elog_err *err)
{
	int rc;

	raft_out_begin(r, out);
	rc = check_msg(r, m, err);
	if (rc == 0)
		rc = step_checked(r, m, err);
	raft_out_end(r);
	return rc;
}

/* ---- reading the state ----------------------------------------------------- */

enum elog_raft_role elog_raft_role(const struct elog_raft *r) { return r->role; }
uint64_t elog_raft_term(const struct elog_raft *r) { return r->term; }
int32_t elog_raft_leader(const struct elog_raft *r) { return r->leader; }
int64_t elog_raft_commit(const struct elog_raft *r) { return r->commit; }
int elog_raft_restricted(const struct elog_raft *r) { return r->restricted_term != 0; }
int elog_raft_quiesced(const struct elog_raft *r) { return r->quiesced; }

struct elog_raft_hard_state elog_raft_hard_state(const struct elog_raft *r)
{
	struct elog_raft_hard_state hs = {r->term, r->vote, r->restricted_term};
	return hs;
}

uint64_t elog_raft_term_at(const struct elog_raft *r, int64_t offset)
{
	return raft_term_at(r, offset);
}

const struct elog_raft_term_start *elog_raft_terms(const struct elog_raft *r, uint32_t *count)
{
	*count = r->term_count;
	return r->terms;
}

int elog_raft_peer(const struct elog_raft *r, int32_t peer, struct elog_raft_peer_status *st)
{
	int i = raft_voter_index(r, peer);
	const struct elog_raft_progress *pr;

	if (r->role != ELOG_RAFT_LEADER || i < 0 || (uint32_t)i == r->self_index)
		return -1;
	pr = &r->peers[i];
	st->id = peer;
	st->match_end = pr->match_end;
	st->durable_end = pr->durable_end < pr->match_end ? pr->durable_end : pr->match_end;
	st->state = (enum elog_raft_progress_state)pr->state;
	st->lost = pr->lost;
	return 0;
}

const char *elog_raft_role_name(enum elog_raft_role role)
{
	switch (role) {
	case ELOG_RAFT_FOLLOWER: return "follower";
	case ELOG_RAFT_PRECANDIDATE: return "precandidate";
	case ELOG_RAFT_CANDIDATE: return "candidate";
	case ELOG_RAFT_LEADER: return "leader";
	}
	return "?";
}

const char *elog_raft_msg_type_name(enum elog_raft_msg_type type)
{
	switch (type) {
	case ELOG_RAFT_MSG_APPEND: return "append";
	case ELOG_RAFT_MSG_APPEND_RESP: return "append_resp";
	case ELOG_RAFT_MSG_VOTE: return "vote";
	case ELOG_RAFT_MSG_PREVOTE: return "prevote";
	case ELOG_RAFT_MSG_VOTE_RESP: return "vote_resp";
	case ELOG_RAFT_MSG_HEARTBEAT: return "heartbeat";
	case ELOG_RAFT_MSG_HEARTBEAT_RESP: return "heartbeat_resp";
	case ELOG_RAFT_MSG_TIMEOUT_NOW: return "timeout_now";
	}
	return "?";
}
