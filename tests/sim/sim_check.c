/* sim_check — what must hold after every step of the simulation, and the trace. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_trace(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->verbose)
		return;
	printf("%8lld.%lld  ", (long long)(s->now / SIM_TICK_UNITS), (long long)(s->now % SIM_TICK_UNITS));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The committed log: every batch any node ever reported committed. */
static int committed_find(const struct sim *s, int64_t base)
{
	uint32_t lo = 0, hi = s->committed_count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->committed[mid].base < base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->committed_count && s->committed[lo].base == base ? (int)lo : -1;
}

static int64_t committed_end(const struct sim *s)
{
	return s->committed_count ? s->committed[s->committed_count - 1].last + 1 : -1;
}

static int same_batch(const struct sim_batch *a, const struct sim_batch *b)
{
	return a->base == b->base && a->last == b->last && a->term == b->term &&
	       a->payload == b->payload;
}

/*
 * State machine safety and "commit never goes back": the batches a node
 * reports committed are the ones every other node reported at those
 * offsets; the first node to commit an offset defines it.
 */
void check_commit(struct sim *s, struct sim_node *n, int64_t commit)
{
	int i;

	if (commit < n->last_commit && !n->cut_expected)
		sim_fail(s, "node %d: commit went back from %lld to %lld", n->id,
			 (long long)n->last_commit, (long long)commit);
	if (commit > node_end(n))
		sim_fail(s, "node %d: commit %lld past its log end %lld", n->id, (long long)commit,
			 (long long)node_end(n));
	if (commit < n->checked_commit)
		n->checked_commit = commit < n->st.start ? n->st.start : commit;
	i = n->checked_commit < node_end(n) ? node_find(n, n->checked_commit) : (int)n->st.count;
	for (; i >= 0 && i < (int)n->st.count && n->st.b[i].last < commit; i++) {
		const struct sim_batch *b = &n->st.b[i];
		int c = committed_find(s, b->base);
		if (c >= 0) {
			if (!same_batch(b, &s->committed[c]))
				sim_fail(s, "node %d commits [%lld, %lld] term %llu payload %llu where "
					 "[%lld, %lld] term %llu payload %llu was committed", n->id,
					 (long long)b->base, (long long)b->last,
					 (unsigned long long)b->term, (unsigned long long)b->payload,
					 (long long)s->committed[c].base, (long long)s->committed[c].last,
					 (unsigned long long)s->committed[c].term,
					 (unsigned long long)s->committed[c].payload);
			continue;
		}
		if (s->committed_count > 0 && b->base != committed_end(s))
			sim_fail(s, "node %d commits [%lld, %lld], the committed log ends at %lld",
				 n->id, (long long)b->base, (long long)b->last,
				 (long long)committed_end(s));
		if (s->committed_count == SIM_COMMITTED_MAX)
			sim_fail(s, "committed log full");
		s->committed_acked[s->committed_count] = 0;
		s->committed_term[s->committed_count] = elog_raft_term(&n->raft);
		s->committed[s->committed_count++] = *b;
	}
	if (commit > n->checked_commit)
		n->checked_commit = commit;
	n->last_commit = commit;
	n->cut_expected = 0;
}

/* Election safety, and leader completeness: a batch committed in a term is
 * in the log of every leader of a later term (a leader of an earlier term
 * can still win late — its votes were delayed — and can commit nothing). */
void check_became_leader(struct sim *s, struct sim_node *n)
{
	uint64_t term = elog_raft_term(&n->raft);

	if (elog_raft_restricted(&n->raft))
		sim_fail(s, "node %d: leader of term %llu while restricted", n->id,
			 (unsigned long long)term);
	if (term >= s->leader_of_term_cap) {
		uint64_t cap = s->leader_of_term_cap ? s->leader_of_term_cap : 1024;
		while (cap <= term)
			cap *= 2;
		s->leader_of_term = realloc(s->leader_of_term, cap * sizeof(int32_t));
		if (!s->leader_of_term)
			sim_fail(s, "out of memory");
		memset(s->leader_of_term + s->leader_of_term_cap, 0,
		       (cap - s->leader_of_term_cap) * sizeof(int32_t));
		s->leader_of_term_cap = cap;
	}
	if (s->leader_of_term[term] && s->leader_of_term[term] != n->id)
		sim_fail(s, "election safety: nodes %d and %d both lead term %llu",
			 s->leader_of_term[term], n->id, (unsigned long long)term);
	s->leader_of_term[term] = n->id;
	s->stat_elections++;
	for (uint32_t k = 0; k < s->p.nodes; k++)
		n->heard_tick[k] = n->ticks; /* check quorum counts from here */
	for (uint32_t c = 0; c < s->committed_count; c++) {
		const struct sim_batch *b = &s->committed[c];
		int i;
		if (b->base < n->st.start || s->committed_term[c] >= term)
			continue; /* deleted by retention; committed later */
		i = node_find(n, b->base);
		if (i < 0 || !same_batch(&n->st.b[i], b))
			sim_fail(s, "leader completeness: node %d leads term %llu without committed "
				 "[%lld, %lld] term %llu%s", n->id, (unsigned long long)term,
				 (long long)b->base, (long long)b->last, (unsigned long long)b->term,
				 s->committed_acked[c] ? " (acknowledged to a client)" : "");
	}
}

static void check_pair(struct sim *s, const struct sim_node *n, int i, const struct sim_node *o)
{
	int j = node_find(o, n->st.b[i].base);
	int64_t floor;

	if (j < 0 || o->st.b[j].base != n->st.b[i].base || o->st.b[j].term != n->st.b[i].term)
		return;
	/* Same offset, same term: identical down to where both are checked
	 * against the committed log. */
	floor = n->checked_commit < o->checked_commit ? n->checked_commit : o->checked_commit;
	for (; i >= 0 && j >= 0 && n->st.b[i].last >= floor; i--, j--) {
		if (!same_batch(&n->st.b[i], &o->st.b[j]))
			sim_fail(s, "log matching: nodes %d and %d share [%lld..] term %llu but differ "
				 "at %lld", n->id, o->id, (long long)n->st.b[i].base,
				 (unsigned long long)n->st.b[i].term, (long long)n->st.b[i].base);
	}
}

/* Log matching, for the batches a node just appended (first .. its end). */
void check_appended(struct sim *s, struct sim_node *n, uint32_t first)
{
	for (uint32_t i = first; i < n->st.count; i++)
		for (uint32_t k = 0; k < s->p.nodes; k++)
			if (&s->nodes[k] != n && s->nodes[k].st.count)
				check_pair(s, n, (int)i, &s->nodes[k]);
}

/*
 * Check quorum: a leader that has heard nothing at all from a majority
 * (itself included) for two election timeouts of its own clock must have
 * stepped down. The core's rule is tighter (an election timeout, counting
 * only answers in its term); this one needs no knowledge of its insides.
 */
void check_quorum_kept(struct sim *s, struct sim_node *n)
{
	uint32_t heard = 1, me = (uint32_t)(n - s->nodes);

	if (elog_raft_role(&n->raft) != ELOG_RAFT_LEADER)
		return;
	for (uint32_t k = 0; k < s->p.nodes; k++)
		if (k != me && n->ticks - n->heard_tick[k] < 2 * s->p.election_ticks)
			heard++;
	if (heard < s->p.nodes / 2 + 1)
		sim_fail(s, "check quorum: node %d still leads term %llu, having heard from %u of %u "
			 "nodes in %u ticks", n->id, (unsigned long long)elog_raft_term(&n->raft), heard,
			 s->p.nodes, 2 * s->p.election_ticks);
}

/* After every outbox: the driver kept the core's view and hard state. */
void check_node(struct sim *s, struct sim_node *n)
{
	struct elog_raft_hard_state hs = elog_raft_hard_state(&n->raft);

	if (!n->alive)
		return;
	if (hs.term != n->st.hs.term || hs.vote != n->st.hs.vote ||
	    hs.restricted_term != n->st.hs.restricted_term)
		sim_fail(s, "node %d: hard state changed without being handed out", n->id);
	if (elog_raft_commit(&n->raft) != n->last_commit)
		sim_fail(s, "node %d: commit moved without being reported", n->id);
}

/* An acknowledged batch is committed, once and for all. */
void check_acked(struct sim *s, struct sim_node *n, const struct sim_pending *p)
{
	int c = committed_find(s, p->base);
	int i = node_find(n, p->base);

	if (c < 0 || s->committed[c].payload != p->payload || s->committed[c].term != p->term)
		sim_fail(s, "node %d acknowledged [%lld, %lld] payload %llu, which is not what was "
			 "committed there", n->id, (long long)p->base, (long long)p->last,
			 (unsigned long long)p->payload);
	if (i < 0 || n->st.b[i].payload != p->payload)
		sim_fail(s, "node %d acknowledged a batch it no longer holds", n->id);
	s->committed_acked[c] = 1;
	s->acked_count++;
	if (s->live_payload && p->payload >= s->live_payload)
		s->live_acked = 1;
	s->stat_acked++;
	sim_trace(s, "node %d: acknowledges [%lld, %lld] payload %llu", n->id, (long long)p->base,
		  (long long)p->last, (unsigned long long)p->payload);
}

/* The end: every acknowledged batch is on every node, intact (after repair). */
void check_final(struct sim *s, int leader)
{
	const struct sim_node *l = &s->nodes[leader];

	for (uint32_t c = 0; c < s->committed_count; c++) {
		const struct sim_batch *b = &s->committed[c];
		if (!s->committed_acked[c])
			continue;
		if (b->last >= elog_raft_commit(&l->raft))
			sim_fail(s, "acknowledged [%lld, %lld] is past the final leader's commit %lld",
				 (long long)b->base, (long long)b->last,
				 (long long)elog_raft_commit(&l->raft));
		for (uint32_t k = 0; k < s->p.nodes; k++) {
			const struct sim_node *n = &s->nodes[k];
			int i;
			if (b->base < n->st.start)
				continue;
			i = node_find(n, b->base);
			if (i < 0 || !same_batch(&n->st.b[i], b) || n->st.b[i].corrupt)
				sim_fail(s, "acknowledged [%lld, %lld] payload %llu is %s on node %d",
					 (long long)b->base, (long long)b->last,
					 (unsigned long long)b->payload,
					 i < 0 || !same_batch(&n->st.b[i], b) ? "lost" : "damaged",
					 n->id);
		}
	}
}

/* ---- the trace ------------------------------------------------------------ */

void trace_msg(struct sim *s, const char *what, const struct sim_msg *msg)
{
	const struct elog_raft_msg *m = &msg->m;
	char detail[160] = "";

	if (!s->verbose)
		return;
	switch (m->type) {
	case ELOG_RAFT_MSG_APPEND:
		snprintf(detail, sizeof(detail), "prev %lld/%lld commit %lld start %lld batches %u [%lld, %lld)",
			 (long long)m->append.prev_end,
			 m->append.prev_term == ELOG_RAFT_TERM_UNKNOWN ? -1LL : (long long)m->append.prev_term,
			 (long long)m->append.commit, (long long)m->append.leader_start,
			 msg->batch_count, msg->batch_count ? (long long)msg->batches[0].base : 0LL,
			 msg->batch_count ? (long long)msg->batches[msg->batch_count - 1].last + 1 : 0LL);
		break;
	case ELOG_RAFT_MSG_APPEND_RESP:
		snprintf(detail, sizeof(detail), "%s end %lld durable %lld commit %lld hint %llu/%lld",
			 m->append_resp.success ? "ok" : "REJECT", (long long)m->append_resp.end,
			 (long long)m->append_resp.durable_end, (long long)m->append_resp.commit,
			 (unsigned long long)m->append_resp.hint_term, (long long)m->append_resp.hint_end);
		break;
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		snprintf(detail, sizeof(detail), "last %lld/%llu%s", (long long)m->vote.last_end,
			 (unsigned long long)m->vote.last_term, m->vote.transfer ? " transfer" : "");
		break;
	case ELOG_RAFT_MSG_VOTE_RESP:
		snprintf(detail, sizeof(detail), "%s%s", m->vote_resp.granted ? "granted" : "refused",
			 m->vote_resp.prevote ? " (pre-vote)" : "");
		break;
	case ELOG_RAFT_MSG_HEARTBEAT:
		snprintf(detail, sizeof(detail), "commit %lld%s", (long long)m->heartbeat.commit,
			 m->heartbeat.quiesce ? " quiesce" : "");
		break;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		snprintf(detail, sizeof(detail), "durable %lld commit %lld",
			 (long long)m->heartbeat_resp.durable_end, (long long)m->heartbeat_resp.commit);
		break;
	case ELOG_RAFT_MSG_TIMEOUT_NOW:
		break;
	}
	sim_trace(s, "%s %d->%d %s t%llu %s", what, m->from, m->to, elog_raft_msg_type_name(m->type),
		  (unsigned long long)m->term, detail);
}

void trace_outbox(struct sim *s, const struct sim_node *n, const struct elog_raft_outbox *out)
{
	static const char *op_names[] = {"?", "truncate", "reset", "append"};

	if (!s->verbose)
		return;
	if (out->hard_state_changed)
		sim_trace(s, "node %d: persist term %llu vote %d%s", n->id,
			  (unsigned long long)out->hard_state.term, out->hard_state.vote,
			  out->hard_state.restricted_term ? " restricted" : "");
	for (uint32_t i = 0; i < out->op_count; i++)
		sim_trace(s, "node %d: log %s %lld..%lld", n->id, op_names[out->ops[i].type],
			  (long long)out->ops[i].offset, (long long)out->ops[i].end);
	if (out->role_changed)
		sim_trace(s, "node %d: %s, term %llu, leader %d", n->id, elog_raft_role_name(out->role),
			  (unsigned long long)out->term, out->leader);
	if (out->commit_changed)
		sim_trace(s, "node %d: commit %lld", n->id, (long long)out->commit);
	if (out->restriction_changed)
		sim_trace(s, "node %d: %s", n->id,
			  out->restriction ? "RESTRICTED: may not vote or lead" : "restriction lifted");
	if (out->term_start)
		sim_trace(s, "node %d: asked for a term start batch", n->id);
}
