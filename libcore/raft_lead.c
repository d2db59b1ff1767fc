/* raft_lead — a leader: followers' progress, sending, commit, quiescence,
 * transfer; see raft.h and docs/raft.md. */
#include <assert.h>
#include <string.h>

#include "raft_int.h"

#define FOR_EACH_PEER(r, pr) \
	for (struct elog_raft_progress *pr = (r)->peers; pr < (r)->peers + (r)->config.voter_count; pr++) \
		if (pr != &(r)->peers[(r)->self_index])

/* ---- in-flight APPENDs (the ends they carried, oldest first) ------------- */

static void inflight_add(const struct elog_raft *r, struct elog_raft_progress *pr, int64_t end)
{
	assert(pr->inflight_count < r->config.inflight_max);
	pr->inflight_end[(pr->inflight_head + pr->inflight_count) % ELOG_RAFT_INFLIGHT_MAX] = end;
	pr->inflight_count++;
}

static void inflight_free_to(struct elog_raft_progress *pr, int64_t end)
{
	while (pr->inflight_count > 0 && pr->inflight_end[pr->inflight_head] <= end) {
		pr->inflight_head = (pr->inflight_head + 1) % ELOG_RAFT_INFLIGHT_MAX;
		pr->inflight_count--;
	}
}

static void become_probe(struct elog_raft_progress *pr, int64_t next)
{
	pr->state = ELOG_RAFT_PROBE;
	pr->probe_sent = 0;
	pr->inflight_count = pr->inflight_head = 0;
	pr->next_end = next;
}

static void become_replicate(struct elog_raft_progress *pr)
{
	pr->state = ELOG_RAFT_REPLICATE;
	pr->probe_sent = 0;
	pr->inflight_count = pr->inflight_head = 0;
	pr->next_end = pr->match_end;
}

/* ---- taking office --------------------------------------------------------- */

void raft_become_leader(struct elog_raft *r)
{
	assert(r->role == ELOG_RAFT_CANDIDATE && r->vote == r->config.self);
	assert(raft_term_room(r));
	r->role = ELOG_RAFT_LEADER;
	r->leader = r->config.self;
	r->transfer_target = ELOG_RAFT_NONE;
	r->heartbeat_elapsed = 0;
	r->quiesced = 0;
	r->response_pending = 0;
	FOR_EACH_PEER(r, pr) {
		int32_t id = pr->id;
		memset(pr, 0, sizeof(*pr));
		pr->id = id;
		pr->sent_commit = -1;
		become_probe(pr, r->end);
	}
	/* Only an entry of our own term commits by counting (Raft §5.4.2); the
	 * driver appends one now, and leader_appended sends it. */
	r->term_start_pending = 1;
}

/* ---- sending ----------------------------------------------------------------- */

static void send_heartbeat(struct elog_raft *r, struct elog_raft_progress *pr, int quiesce)
{
	struct elog_raft_msg *m = raft_msg(r, ELOG_RAFT_MSG_HEARTBEAT, pr->id);

	m->heartbeat.commit = r->commit;
	m->heartbeat.quiesce = (uint8_t)quiesce;
	pr->sent_commit = r->commit;
	pr->ticks_since_sent = 0;
}

/*
 * The offset to send from, and the term below it (UNKNOWN when we cannot
 * tell: at our log start, or below entries dropped from the term cache).
 * Below the cache only "prev_end <= your commit" can match: a probe starts
 * at the follower's commit; in replicate mode the APPENDs that follow
 * match too if they arrive in order (each one raises the follower's
 * commit to its end: the records are below ours); one that overtakes
 * another is refused, and probing starts again.
 */
static int64_t append_from(const struct elog_raft *r, const struct elog_raft_progress *pr,
			   uint64_t *prev_term)
{
	int64_t x = pr->next_end < r->start ? r->start : pr->next_end;

	assert(x <= r->end);
	*prev_term = x == r->start && x > 0 ? ELOG_RAFT_TERM_UNKNOWN : raft_term_at(r, x - 1);
	if (*prev_term == ELOG_RAFT_TERM_UNKNOWN && x != r->start && x > pr->commit &&
	    pr->state == ELOG_RAFT_PROBE) {
		x = pr->commit > r->start ? pr->commit : r->start;
		*prev_term = x == r->start && x > 0 ? ELOG_RAFT_TERM_UNKNOWN : raft_term_at(r, x - 1);
	}
	return x;
}

void raft_send_append(struct elog_raft *r, struct elog_raft_progress *pr)
{
	struct elog_raft_msg *m;
	uint64_t prev_term;
	int64_t x;

	if (pr->awaiting_sent)
		return;
	if (pr->state == ELOG_RAFT_PROBE ? pr->probe_sent
					 : pr->inflight_count >= r->config.inflight_max)
		return;
	x = append_from(r, pr, &prev_term);
	pr->next_end = x;
	m = raft_msg(r, ELOG_RAFT_MSG_APPEND, pr->id);
	m->append.prev_end = x;
	m->append.prev_term = prev_term;
	m->append.commit = r->commit;
	m->append.leader_start = r->start;
	m->append.start_term = r->start == 0 ? 0 : raft_term_at(r, r->start - 1);
	pr->awaiting_sent = 1;
	pr->sent_commit = r->commit;
	pr->ticks_since_sent = 0;
}

void elog_raft_append_sent(struct elog_raft *r, int32_t peer, int64_t from, int64_t end,
			   struct elog_raft_outbox *out)
{
	struct elog_raft_progress *pr;

	raft_out_begin(r, out);
	assert(from <= end);
	if (r->role == ELOG_RAFT_LEADER) {
		pr = raft_peer(r, peer);
		assert(pr->awaiting_sent && from == pr->next_end && end <= r->end);
		pr->awaiting_sent = 0;
		if (pr->state == ELOG_RAFT_PROBE) {
			pr->probe_sent = 1;
		} else {
			if (end > from)
				inflight_add(r, pr, end);
			pr->next_end = end;
			if (pr->next_end < r->end)
				raft_send_append(r, pr); /* pipeline the next one */
		}
	}
	raft_out_end(r);
}

/* ---- quiescence ---------------------------------------------------------------- */

/* Idle and every reachable follower caught up: heartbeats would say nothing new. */
static int can_quiesce(const struct elog_raft *r)
{
	uint32_t alive = 1;

	if (r->commit != r->end || r->transfer_target != ELOG_RAFT_NONE ||
	    raft_last_term(r) != r->term)
		return 0;
	for (uint32_t i = 0; i < r->config.voter_count; i++) {
		const struct elog_raft_progress *pr = &r->peers[i];
		if (i == r->self_index || pr->lost)
			continue;
		if (pr->match_end != r->end || pr->commit != r->commit || pr->awaiting_sent ||
		    pr->inflight_count || pr->state != ELOG_RAFT_REPLICATE)
			return 0;
		alive++;
	}
	return alive >= raft_majority(r);
}

void raft_unquiesce(struct elog_raft *r)
{
	if (!r->quiesced)
		return;
	r->quiesced = 0;
	r->heartbeat_elapsed = 0;
	FOR_EACH_PEER(r, pr)
		send_heartbeat(r, pr, 0);
}

static void heartbeat_round(struct elog_raft *r)
{
	if (r->quiesced)
		return;
	if (can_quiesce(r)) {
		FOR_EACH_PEER(r, pr)
			if (!pr->lost)
				send_heartbeat(r, pr, 1);
		r->quiesced = 1;
		return;
	}
	/* A peer that got an APPEND carrying our commit this interval needs no
	 * heartbeat (the busy groups of a broker pair stay out of its batch). */
	FOR_EACH_PEER(r, pr)
		if (pr->ticks_since_sent >= r->config.heartbeat_ticks || pr->sent_commit < r->commit)
			send_heartbeat(r, pr, 0);
}

void raft_leader_heard_from(struct elog_raft *r, struct elog_raft_progress *pr)
{
	pr->ticks_since_heard = 0;
	pr->lost = 0;
	(void)r;
}

static int quorum_active(const struct elog_raft *r)
{
	uint32_t n = 1;

	for (uint32_t i = 0; i < r->config.voter_count; i++)
		if (i != r->self_index && r->peers[i].ticks_since_heard < r->config.election_ticks)
			n++;
	return n >= raft_majority(r);
}

void raft_tick_leader(struct elog_raft *r)
{
	r->heartbeat_elapsed++;
	FOR_EACH_PEER(r, pr) {
		if (pr->ticks_since_heard < UINT32_MAX)
			pr->ticks_since_heard++;
		if (pr->ticks_since_sent < UINT32_MAX)
			pr->ticks_since_sent++;
		/* Quiesced, we hear from followers through peer_heard; half an
		 * election timeout without it, and heartbeats resume, so a
		 * driver that stopped reporting cannot cost us the quorum. */
		if (!pr->lost && pr->ticks_since_heard == r->config.election_ticks / 2 + 1)
			raft_unquiesce(r);
		if (!pr->lost && pr->ticks_since_heard >= r->config.election_ticks) {
			pr->lost = 1;
			raft_unquiesce(r);
		}
	}
	/* Check quorum: a leader cut off from a majority steps down within an
	 * election timeout, before the others elect a new one. */
	if (!quorum_active(r)) {
		raft_become_follower(r, r->term, ELOG_RAFT_NONE);
		return;
	}
	if (r->transfer_target != ELOG_RAFT_NONE && ++r->transfer_elapsed >= r->config.election_ticks)
		r->transfer_target = ELOG_RAFT_NONE;
	if (r->heartbeat_elapsed >= r->config.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		heartbeat_round(r);
	}
}

void elog_raft_peer_heard(struct elog_raft *r, int32_t peer, struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	if (r->role == ELOG_RAFT_LEADER) {
		struct elog_raft_progress *pr = raft_peer(r, peer);
		int was_lost = pr->lost;
		raft_leader_heard_from(r, pr);
		if (was_lost)
			raft_unquiesce(r); /* it may have missed everything: look */
	}
	raft_out_end(r);
}

/* ---- commit ------------------------------------------------------------------ */

/*
 * The largest offset a majority holds durably (the leader's own durable end
 * counts; a follower's only as far as it matches us), if its last record is
 * of our term: an older term's record commits only under one of ours.
 */
void raft_maybe_commit(struct elog_raft *r)
{
	int64_t v[ELOG_RAFT_VOTERS_MAX];
	uint32_t n = r->config.voter_count;
	int64_t c;

	for (uint32_t i = 0; i < n; i++) {
		const struct elog_raft_progress *pr = &r->peers[i];
		if (i == r->self_index)
			v[i] = r->durable_end;
		else
			v[i] = pr->durable_end < pr->match_end ? pr->durable_end : pr->match_end;
	}
	for (uint32_t i = 1; i < n; i++) /* descending */
		for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			int64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	c = v[raft_majority(r) - 1];
	if (c > r->commit && raft_term_at(r, c - 1) == r->term) {
		r->commit = c;
		raft_trim_terms(r);
	}
}

/* ---- answers from followers -------------------------------------------------- */

static void maybe_timeout_now(struct elog_raft *r, struct elog_raft_progress *pr)
{
	if (r->transfer_target != pr->id || r->transfer_sent || pr->match_end != r->end)
		return;
	raft_msg(r, ELOG_RAFT_MSG_TIMEOUT_NOW, pr->id);
	r->transfer_sent = 1;
}

/* Where to probe after a rejection: one round trip finds the divergence
 * (KIP-101/279 truncation by term and end offset, etcd's hint). */
static int64_t probe_from_hint(const struct elog_raft *r, const struct elog_raft_progress *pr,
			       const struct elog_raft_append_resp *ar)
{
	int64_t next = ar->commit; /* matches whatever else we cannot tell */
	int64_t ours = raft_end_for_term(r, ar->hint_term);

	if (ours >= 0 && ar->hint_term != 0)
		next = ar->hint_end < ours ? ar->hint_end : ours;
	if (next < ar->commit)
		next = ar->commit;
	if (next < pr->match_end)
		next = pr->match_end;
	if (next > r->end)
		next = r->end;
	return next < r->start ? r->start : next;
}

static void append_resp_success(struct elog_raft *r, struct elog_raft_progress *pr,
				const struct elog_raft_append_resp *ar)
{
	if (ar->end > r->end)
		return; /* cannot match past our end */
	if (ar->commit > pr->commit)
		pr->commit = ar->commit;
	if (ar->durable_end > pr->durable_end)
		pr->durable_end = ar->durable_end;
	if (ar->end > pr->match_end)
		pr->match_end = ar->end;
	inflight_free_to(pr, pr->match_end);
	if (pr->state == ELOG_RAFT_PROBE) {
		pr->probe_sent = 0;
		if (pr->match_end >= pr->next_end)
			become_replicate(pr);
	} else if (pr->next_end < pr->match_end) {
		pr->next_end = pr->match_end;
	}
	raft_maybe_commit(r);
	maybe_timeout_now(r, pr);
	if (pr->next_end < r->end)
		raft_send_append(r, pr);
}

static void append_resp_reject(struct elog_raft *r, struct elog_raft_progress *pr,
			       const struct elog_raft_append_resp *ar)
{
	pr->commit = ar->commit; /* it may have restarted with less */
	if (pr->state == ELOG_RAFT_PROBE && ar->end != pr->next_end)
		return; /* not the probe we are waiting for */
	if (ar->end <= pr->match_end) {
		/* It matched past prev_end once. Either this answer is old and
		 * was overtaken, or the follower restarted and lost records it
		 * had not synced: only its committed prefix is sure to match. */
		if (ar->commit < pr->match_end)
			pr->match_end = ar->commit;
	}
	become_probe(pr, probe_from_hint(r, pr, ar));
	raft_send_append(r, pr);
}

void raft_step_append_resp(struct elog_raft *r, const struct elog_raft_msg *m)
{
	struct elog_raft_progress *pr = raft_peer(r, m->from);

	raft_leader_heard_from(r, pr);
	if (m->append_resp.success)
		append_resp_success(r, pr, &m->append_resp);
	else
		append_resp_reject(r, pr, &m->append_resp);
	if (r->quiesced && !can_quiesce(r))
		raft_unquiesce(r);
}

void raft_step_heartbeat_resp(struct elog_raft *r, const struct elog_raft_msg *m)
{
	struct elog_raft_progress *pr = raft_peer(r, m->from);
	const struct elog_raft_heartbeat_resp *hr = &m->heartbeat_resp;

	raft_leader_heard_from(r, pr);
	if (hr->durable_end > pr->durable_end && hr->durable_end <= r->end)
		pr->durable_end = hr->durable_end;
	pr->commit = hr->commit;
	pr->probe_sent = 0;
	if (hr->wake)
		raft_unquiesce(r);
	/* A heartbeat goes only to a follower that got no APPEND for a
	 * heartbeat interval: what it did not answer since is lost or late.
	 * Let APPENDs out again (a late one answered twice costs nothing). */
	if (pr->state == ELOG_RAFT_REPLICATE && pr->match_end < r->end)
		pr->inflight_count = pr->inflight_head = 0;
	raft_maybe_commit(r);
	/* Behind on records, or on the commit (it may have restarted and lost
	 * what it had not synced): an APPEND finds out. */
	if (pr->match_end < r->end || hr->commit < r->commit)
		raft_send_append(r, pr);
	if (r->quiesced && !can_quiesce(r))
		raft_unquiesce(r);
}

/* ---- proposals and transfer -------------------------------------------------- */

enum elog_raft_refusal elog_raft_propose_check(const struct elog_raft *r)
{
	if (r->role != ELOG_RAFT_LEADER)
		return ELOG_RAFT_REFUSE_NOT_LEADER;
	if (r->transfer_target != ELOG_RAFT_NONE)
		return ELOG_RAFT_REFUSE_TRANSFERRING;
	if (r->config.uncommitted_offsets_max > 0 &&
	    r->end - r->commit >= r->config.uncommitted_offsets_max)
		return ELOG_RAFT_REFUSE_BACKLOG;
	return ELOG_RAFT_PROPOSE_OK;
}

void elog_raft_leader_appended(struct elog_raft *r, int64_t base, int64_t last,
			       struct elog_raft_outbox *out)
{
	raft_out_begin(r, out);
	assert(r->role == ELOG_RAFT_LEADER);
	assert(base == r->end && last >= base && last < INT64_MAX);
	if (raft_last_term(r) != r->term) {
		int rc = raft_push_term(r, r->term, base);
		assert(rc == 0); /* room was checked before campaigning */
		(void)rc;
	}
	if (r->written_end == r->end)
		r->written_end = last + 1;
	r->end = last + 1;
	r->term_start_pending = 0;
	r->quiesced = 0; /* the APPENDs below wake the followers */
	FOR_EACH_PEER(r, pr)
		raft_send_append(r, pr);
	raft_maybe_commit(r);
	raft_out_end(r);
}

int elog_raft_transfer_leadership(struct elog_raft *r, int32_t target,
				  struct elog_raft_outbox *out, struct elog_err *err)
{
	struct elog_raft_progress *pr;
	int rc = 0;

	raft_out_begin(r, out);
	if (r->role != ELOG_RAFT_LEADER) {
		rc = elog_err_set(err, ELOG_E_INVAL, "raft: transfer to %d: not the leader", target);
	} else if (target == r->config.self || raft_voter_index(r, target) < 0) {
		rc = elog_err_set(err, ELOG_E_INVAL, "raft: transfer to %d: not another voter", target);
	} else if (r->transfer_target != target) {
		pr = raft_peer(r, target);
		r->transfer_target = target;
		r->transfer_elapsed = 0;
		r->transfer_sent = 0;
		r->quiesced = 0;
		maybe_timeout_now(r, pr);
		if (!r->transfer_sent)
			raft_send_append(r, pr);
	}
	raft_out_end(r);
	return rc;
}

void elog_raft_transfer_abort(struct elog_raft *r)
{
	r->transfer_target = ELOG_RAFT_NONE;
}
