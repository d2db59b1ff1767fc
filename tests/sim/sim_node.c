/* sim_node — one simulated node: storage, and a driver that carries out the
 * core's outboxes the way the broker will (raft.h, "Calling sequence"). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define CONTROL_PAYLOAD (1ull << 62) /* term start batches */

int64_t node_end(const struct sim_node *n)
{
	return n->st.count ? n->st.b[n->st.count - 1].last + 1 : n->st.start;
}

int64_t node_durable_end(const struct sim_node *n)
{
	return n->st.durable ? n->st.b[n->st.durable - 1].last + 1 : n->st.start;
}

int node_find(const struct sim_node *n, int64_t offset)
{
	int lo = 0, hi = (int)n->st.count;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (n->st.b[mid].last < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < (int)n->st.count && n->st.b[lo].base <= offset ? lo : -1;
}

static void storage_append(struct sim *s, struct sim_node *n, const struct sim_batch *b)
{
	if (n->st.count == SIM_BATCHES_MAX)
		sim_fail(s, "node %d: simulated log full (%d batches)", n->id, SIM_BATCHES_MAX);
	if (b->base != node_end(n))
		sim_fail(s, "node %d: append at %lld, log ends at %lld", n->id, (long long)b->base,
			 (long long)node_end(n));
	n->st.b[n->st.count++] = *b;
}

/* ---- booting and crashing -------------------------------------------------- */

static void fill_config(const struct sim *s, const struct sim_node *n, struct elog_raft_config *c)
{
	elog_raft_config_default(c);
	c->self = n->id;
	c->voter_count = s->p.nodes;
	for (uint32_t i = 0; i < s->p.nodes; i++)
		c->voters[i] = s->nodes[i].id;
	c->election_ticks = s->p.election_ticks;
	c->heartbeat_ticks = s->p.heartbeat_ticks;
	c->inflight_max = s->p.inflight_max;
	c->uncommitted_offsets_max = s->p.backlog_max;
	c->seed = s->seed * 1000003u + (uint64_t)n->id * 7919u + n->incarnation;
}

static void boot_damaged(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;

	for (uint32_t i = 0; i < n->st.count; i++) {
		if (!n->st.b[i].corrupt)
			continue;
		/* The driver found damage while opening the log: the core
		 * persists the restriction (hard state) before the cut. */
		sim_trace(s, "node %d: damage found at %lld while opening", n->id,
			  (long long)n->st.b[i].base);
		n->cut_expected = 1;
		elog_raft_restrict(&n->raft, ELOG_RAFT_RESTRICT_DAMAGED, n->st.b[i].base, &out);
		node_handle(s, n, &out, NULL);
		return;
	}
}

void node_boot(struct sim *s, struct sim_node *n, enum elog_raft_restriction why)
{
	struct elog_raft_config config;
	struct elog_raft_log_view view;
	struct elog_raft_outbox out;
	struct elog_err err;
	uint32_t t = 0;

	fill_config(s, n, &config);
	n->st.durable = n->st.count; /* what survived is on disk */
	view.start = n->st.start;
	view.end = view.durable_end = node_end(n);
	while (t < n->st.term_count && n->st.terms[t].start < view.end)
		t++;
	n->st.term_count = t;
	view.terms = n->st.terms;
	view.term_count = t;
	if (elog_raft_init(&n->raft, &config, &n->st.hs, &view, n->commit_checkpoint, why, &out,
			   &err) < 0)
		sim_fail(s, "node %d: init: %s", n->id, err.msg);
	n->alive = 1;
	n->paused_until = 0;
	n->pending_count = 0;
	n->sync_scheduled = n->written_scheduled = 0;
	n->durable_pending = 0;
	n->durable_reported = view.durable_end;
	n->ticks = 0;
	memset(n->heard_tick, 0, sizeof(n->heard_tick));
	n->last_commit = elog_raft_commit(&n->raft);
	n->checked_commit = n->st.start;
	sim_trace(s, "node %d: boot #%u: log [%lld, %lld) term %llu commit %lld%s%s", n->id,
		  n->incarnation, (long long)view.start, (long long)view.end,
		  (unsigned long long)n->st.hs.term, (long long)n->last_commit,
		  why ? " restricted (lost unsynced writes)" : "",
		  n->st.hs.restricted_term ? " (still restricted)" : "");
	check_commit(s, n, n->last_commit);
	node_handle(s, n, &out, NULL); /* a restriction is persisted first */
	if (sim_chance(s, 500))
		boot_damaged(s, n);
	sim_schedule(s, s->now + 1 + sim_below(s, SIM_TICK_UNITS), EV_TICK, (int)(n - s->nodes), -1);
}

void node_crash(struct sim *s, struct sim_node *n, int clean)
{
	uint32_t keep = n->st.durable;

	if (clean) {
		keep = n->st.count; /* close flushes */
	} else if (n->st.count > keep && sim_chance(s, 400)) {
		keep += sim_below(s, n->st.count - keep + 1); /* a torn prefix survives */
	}
	sim_trace(s, "node %d: %s, keeps %u of %u batches (%u synced)", n->id,
		  clean ? "clean shutdown" : "crash", keep, n->st.count, n->st.durable);
	n->st.count = n->st.durable = keep;
	n->alive = 0;
	n->incarnation++;
	n->commit_checkpoint = sim_chance(s, 500) ? n->last_commit : 0;
	n->boot_restriction = !clean && s->p.flush == SIM_FLUSH_NEVER ? ELOG_RAFT_RESTRICT_UNCLEAN
								       : ELOG_RAFT_RESTRICT_NONE;
	s->stat_crashes++;
}

/* ---- carrying out an outbox ---------------------------------------------- */

enum followup_type { FU_APPEND_SENT, FU_WRITTEN, FU_DURABLE, FU_TERM_START, FU_RESTRICT };

struct followup {
	enum followup_type type;
	int32_t peer;
	int64_t from, end;
};

struct followups {
	uint32_t count;
	struct followup f[ELOG_RAFT_OUTBOX_MSGS_MAX + 8];
};

static void add(struct followups *fu, enum followup_type type, int32_t peer, int64_t from,
		int64_t end)
{
	assert(fu->count < sizeof(fu->f) / sizeof(fu->f[0]));
	fu->f[fu->count].type = type;
	fu->f[fu->count].peer = peer;
	fu->f[fu->count].from = from;
	fu->f[fu->count].end = end;
	fu->count++;
}

static void persist_hard_state(struct sim *s, struct sim_node *n, const struct elog_raft_hard_state *hs)
{
	const struct elog_raft_hard_state *old = &n->st.hs;

	if (hs->term < old->term)
		sim_fail(s, "node %d: term went back from %llu to %llu", n->id,
			 (unsigned long long)old->term, (unsigned long long)hs->term);
	if (hs->term == old->term && old->vote != ELOG_RAFT_NONE && hs->vote != old->vote)
		sim_fail(s, "node %d: voted for %d and then %d in term %llu", n->id, old->vote,
			 hs->vote, (unsigned long long)hs->term);
	n->st.hs = *hs;
}

static void apply_op(struct sim *s, struct sim_node *n, const struct elog_raft_log_op *op,
		     const struct sim_msg *stepped)
{
	int i;

	switch (op->type) {
	case ELOG_RAFT_OP_TRUNCATE:
		if (op->offset == node_end(n))
			break;
		i = node_find(n, op->offset);
		if (i < 0 || n->st.b[i].base != op->offset)
			sim_fail(s, "node %d: truncate at %lld: not a batch start", n->id,
				 (long long)op->offset);
		n->st.count = (uint32_t)i;
		if (n->st.durable > n->st.count)
			n->st.durable = n->st.count;
		if (n->durable_reported > op->offset)
			n->durable_reported = op->offset;
		s->stat_truncations++;
		break;
	case ELOG_RAFT_OP_RESET:
		n->st.start = op->offset;
		n->st.count = n->st.durable = 0;
		n->durable_reported = op->offset;
		s->stat_resets++;
		break;
	case ELOG_RAFT_OP_APPEND:
		if (!stepped || op->batch_first + op->batch_count > stepped->batch_count)
			sim_fail(s, "node %d: append of batches the message does not hold", n->id);
		for (uint32_t j = op->batch_first; j < op->batch_first + op->batch_count; j++) {
			struct sim_batch b = {stepped->batches[j].base, stepped->batches[j].last,
					      stepped->batches[j].term, stepped->payloads[j], 0};
			uint32_t first = n->st.count;
			storage_append(s, n, &b);
			check_appended(s, n, first);
		}
		if (op->end != node_end(n))
			sim_fail(s, "node %d: append op says end %lld, log ends at %lld", n->id,
				 (long long)op->end, (long long)node_end(n));
		break;
	}
}

/* The leader's driver builds an APPEND: batches from prev_end, to a budget. */
static void build_append(struct sim *s, struct sim_node *n, struct sim_msg *msg,
			 struct followups *fu)
{
	int64_t from = msg->m.append.prev_end, end = from;
	uint32_t budget = 1 + sim_below(s, SIM_APPEND_BATCHES);
	int i = from < node_end(n) ? node_find(n, from) : -1;

	msg->batch_count = 0;
	for (; i >= 0 && i < (int)n->st.count && msg->batch_count < budget; i++) {
		const struct sim_batch *b = &n->st.b[i];
		if (b->corrupt) {
			/* The read fails its CRC check: damage. Nothing read, nothing
			 * sent (an empty APPEND would say our log ends here). */
			add(fu, FU_RESTRICT, 0, b->base, 0);
			if (msg->batch_count == 0)
				msg->suppressed = 1;
			break;
		}
		msg->batches[msg->batch_count].base = b->base;
		msg->batches[msg->batch_count].last = b->last;
		msg->batches[msg->batch_count].term = b->term;
		msg->payloads[msg->batch_count] = b->payload;
		msg->batch_count++;
		end = b->last + 1;
	}
	msg->m.append.batches = msg->batches;
	msg->m.append.batch_count = msg->batch_count;
	add(fu, FU_APPEND_SENT, msg->m.to, from, end);
}

static void after_log_ops(struct sim *s, struct sim_node *n, int appended, struct followups *fu)
{
	int idx = (int)(n - s->nodes);

	if (!appended)
		return;
	if (s->p.flush == SIM_FLUSH_ALWAYS && !n->sync_scheduled) {
		n->sync_scheduled = 1;
		sim_schedule(s, s->now + 1 + sim_below(s, 4 * SIM_TICK_UNITS), EV_SYNC, idx, -1);
	}
	if (sim_chance(s, 600))
		add(fu, FU_WRITTEN, 0, 0, 0);
	else if (!n->written_scheduled) {
		n->written_scheduled = 1;
		sim_schedule(s, s->now + 1 + sim_below(s, 2 * SIM_TICK_UNITS), EV_WRITTEN, idx, -1);
	}
}

static void ack_pending(struct sim *s, struct sim_node *n, int64_t commit)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < n->pending_count; i++) {
		if (n->pending[i].last < commit)
			check_acked(s, n, &n->pending[i]);
		else
			n->pending[kept++] = n->pending[i];
	}
	n->pending_count = kept;
}

static void handle_changes(struct sim *s, struct sim_node *n, const struct elog_raft_outbox *out,
			   struct followups *fu)
{
	if (out->commit_changed) {
		check_commit(s, n, out->commit);
		if (elog_raft_role(&n->raft) == ELOG_RAFT_LEADER)
			ack_pending(s, n, out->commit);
	}
	if (out->role_changed) {
		if (out->role == ELOG_RAFT_LEADER)
			check_became_leader(s, n);
		else
			n->pending_count = 0; /* a real broker answers NOT_LEADER */
	}
	if (out->term_start)
		add(fu, FU_TERM_START, 0, 0, 0);
	if (out->restriction_changed) {
		if (out->restriction == ELOG_RAFT_RESTRICT_NONE) {
			s->stat_lifts++;
			n->repairing = 0;
		} else {
			s->stat_restrictions++;
			n->repairing = out->restriction == ELOG_RAFT_RESTRICT_DAMAGED;
		}
	}
	if (out->terms_changed) {
		uint32_t count;
		const struct elog_raft_term_start *t = elog_raft_terms(&n->raft, &count);
		memcpy(n->st.terms, t, count * sizeof(*t));
		n->st.term_count = count;
	}
}

static void run_followups(struct sim *s, struct sim_node *n, const struct followups *fu);

void node_handle(struct sim *s, struct sim_node *n, struct elog_raft_outbox *out,
		 const struct sim_msg *stepped)
{
	struct followups fu = {0};
	int appended = 0;

	trace_outbox(s, n, out);
	if (out->hard_state_changed)
		persist_hard_state(s, n, &out->hard_state);
	for (uint32_t i = 0; i < out->op_count; i++) {
		apply_op(s, n, &out->ops[i], stepped);
		appended |= out->ops[i].type == ELOG_RAFT_OP_APPEND;
	}
	after_log_ops(s, n, appended, &fu);
	for (uint32_t i = 0; i < out->msg_count; i++) {
		struct sim_msg msg;
		memset(&msg, 0, sizeof(msg));
		msg.m = out->msgs[i];
		if (msg.m.type == ELOG_RAFT_MSG_APPEND)
			build_append(s, n, &msg, &fu);
		if (!msg.suppressed)
			sim_send(s, (int)(n - s->nodes), &msg);
	}
	handle_changes(s, n, out, &fu);
	check_node(s, n);
	run_followups(s, n, &fu);
}

static void leader_append(struct sim *s, struct sim_node *n, uint64_t payload, int records,
			  struct sim_pending *p)
{
	struct elog_raft_outbox out;
	struct sim_batch b;
	struct followups fu = {0};

	b.base = node_end(n);
	b.last = b.base + records - 1;
	b.term = elog_raft_term(&n->raft);
	b.payload = payload;
	b.corrupt = 0;
	storage_append(s, n, &b);
	check_appended(s, n, n->st.count - 1);
	if (p) {
		p->base = b.base;
		p->last = b.last;
		p->term = b.term;
		p->payload = payload;
	}
	sim_trace(s, "node %d: appends [%lld, %lld] term %llu payload %llu", n->id,
		  (long long)b.base, (long long)b.last, (unsigned long long)b.term,
		  (unsigned long long)(payload & ~CONTROL_PAYLOAD));
	elog_raft_leader_appended(&n->raft, b.base, b.last, &out);
	node_handle(s, n, &out, NULL);
	if (s->p.flush == SIM_FLUSH_NEVER) {
		add(&fu, FU_DURABLE, 0, 0, 0); /* flush=never reports appended as durable */
		run_followups(s, n, &fu);
	} else {
		after_log_ops(s, n, 1, &fu);
		run_followups(s, n, &fu);
	}
}

void node_term_start(struct sim *s, struct sim_node *n, uint64_t term)
{
	if (elog_raft_role(&n->raft) == ELOG_RAFT_LEADER && elog_raft_term(&n->raft) == term)
		leader_append(s, n, CONTROL_PAYLOAD | ++s->next_payload, 1, NULL);
}

static void run_followups(struct sim *s, struct sim_node *n, const struct followups *fu)
{
	struct elog_raft_outbox out;
	uint32_t incarnation = n->incarnation;

	for (uint32_t i = 0; i < fu->count && n->alive && n->incarnation == incarnation; i++) {
		const struct followup *f = &fu->f[i];
		switch (f->type) {
		case FU_APPEND_SENT:
			elog_raft_append_sent(&n->raft, f->peer, f->from, f->end, &out);
			node_handle(s, n, &out, NULL);
			break;
		case FU_WRITTEN:
			node_written(s, n);
			break;
		case FU_DURABLE:
			n->durable_reported = node_end(n);
			elog_raft_log_durable(&n->raft, node_end(n), &out);
			node_handle(s, n, &out, NULL);
			break;
		case FU_TERM_START:
			if (sim_chance(s, s->p.term_start_delay_permille))
				/* a slow disk: the leader serves old records meanwhile */
				sim_schedule(s, s->now + 1 + sim_below(s, 3 * s->p.election_ticks *
									  SIM_TICK_UNITS),
					     EV_TERM_START, (int)(n - s->nodes),
					     (int)elog_raft_term(&n->raft));
			else
				node_term_start(s, n, elog_raft_term(&n->raft));
			break;
		case FU_RESTRICT:
			sim_trace(s, "node %d: damage found reading %lld", n->id, (long long)f->from);
			n->cut_expected = 1;
			elog_raft_restrict(&n->raft, ELOG_RAFT_RESTRICT_DAMAGED, f->from, &out);
			node_handle(s, n, &out, NULL);
			break;
		}
	}
}

/* ---- inputs from the schedule -------------------------------------------- */

/* The broker pair's own heartbeat: a group hears about the brokers it
 * depends on without a message of its own. A leader hears of its
 * followers' brokers, quiesced or not (check quorum counts them); a
 * follower of its leader's only while quiesced. */
static void node_level_heartbeats(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;
	int me = (int)(n - s->nodes);

	if (elog_raft_quiesced(&n->raft))
		s->stat_quiesced_ticks++;
	for (uint32_t i = 0; i < s->p.nodes; i++) {
		struct sim_node *o = &s->nodes[i];
		int leading = elog_raft_role(&n->raft) == ELOG_RAFT_LEADER;
		if (!leading && !elog_raft_quiesced(&n->raft))
			return;
		if ((int)i == me || !o->alive || o->paused_until > s->now ||
		    s->link_down[me][i] || s->link_down[i][me])
			continue;
		if (leading) {
			node_heard(s, n, (int)i);
			elog_raft_peer_heard(&n->raft, o->id, &out);
			node_handle(s, n, &out, NULL);
		} else if (o->id == elog_raft_leader(&n->raft)) {
			elog_raft_leader_heard(&n->raft, &out);
			node_handle(s, n, &out, NULL);
		}
	}
}

void node_heard(struct sim *s, struct sim_node *n, int from)
{
	(void)s;
	n->heard_tick[from] = n->ticks;
}

void node_tick(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;
	uint32_t incarnation = n->incarnation;
	int was_leader = elog_raft_role(&n->raft) == ELOG_RAFT_LEADER;

	n->ticks++;
	elog_raft_tick(&n->raft, &out);
	node_handle(s, n, &out, NULL);
	if (!n->alive || n->incarnation != incarnation)
		return;
	if (was_leader)
		check_quorum_kept(s, n);
	node_level_heartbeats(s, n);
}

void node_deliver(struct sim *s, struct sim_node *n, const struct sim_msg *msg)
{
	struct elog_raft_outbox out;
	struct elog_raft_msg m = msg->m;
	struct elog_err err;

	if (m.type == ELOG_RAFT_MSG_APPEND) /* (a union: only an APPEND has batches) */
		m.append.batches = msg->batches;
	if (elog_raft_step(&n->raft, &m, &out, &err) < 0)
		sim_fail(s, "node %d: step rejected a message a correct peer sent: %s", n->id, err.msg);
	node_handle(s, n, &out, msg);
}

void node_written(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;

	elog_raft_log_written(&n->raft, node_end(n), &out);
	node_handle(s, n, &out, NULL);
	if (s->p.flush == SIM_FLUSH_NEVER && n->alive) {
		n->durable_reported = node_end(n);
		elog_raft_log_durable(&n->raft, node_end(n), &out);
		node_handle(s, n, &out, NULL);
	}
}

/* fsync completes: everything written so far is on disk; the report comes later. */
void node_sync(struct sim *s, struct sim_node *n)
{
	n->st.durable = n->st.count;
	if (s->p.flush == SIM_FLUSH_ALWAYS) {
		n->durable_pending++;
		sim_schedule(s, s->now + sim_below(s, 3 * SIM_TICK_UNITS), EV_DURABLE,
			     (int)(n - s->nodes), -1);
	}
}

/* The driver reads the log's durable end now, not at fsync time: a
 * truncation in between lowered it (partlog's flushed offset does so). */
void node_durable(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;

	n->durable_reported = node_durable_end(n);
	elog_raft_log_durable(&n->raft, node_durable_end(n), &out);
	node_handle(s, n, &out, NULL);
}

int node_propose(struct sim *s, struct sim_node *n, uint64_t *payload)
{
	struct sim_pending p;

	if (elog_raft_propose_check(&n->raft) != ELOG_RAFT_PROPOSE_OK ||
	    n->pending_count == SIM_PENDING_MAX)
		return -1;
	/* This client waits for the term start batch (the driver could too). */
	if (elog_raft_term_at(&n->raft, node_end(n) - 1) != elog_raft_term(&n->raft))
		return -1;
	*payload = ++s->next_payload;
	leader_append(s, n, *payload, 1 + (int)sim_below(s, 4), &p);
	if (n->alive && elog_raft_role(&n->raft) == ELOG_RAFT_LEADER &&
	    n->pending_count < SIM_PENDING_MAX) {
		if (p.last < elog_raft_commit(&n->raft))
			check_acked(s, n, &p); /* a group of one: committed at once */
		else
			n->pending[n->pending_count++] = p;
	}
	return 0;
}

/* ---- damage, scrub, retention --------------------------------------------- */

int node_damaged(const struct sim_node *n)
{
	for (uint32_t i = 0; i < n->st.count; i++)
		if (n->st.b[i].corrupt)
			return 1;
	return 0;
}

/* A synced batch rots (or a write below the durable point was torn). */
void node_corrupt(struct sim *s, struct sim_node *n)
{
	uint32_t i;

	if (n->st.durable == 0)
		return;
	i = sim_below(s, n->st.durable);
	n->st.b[i].corrupt = 1;
	s->stat_corruptions++;
	sim_trace(s, "node %d: batch at %lld damaged on disk", n->id, (long long)n->st.b[i].base);
}

void node_scrub(struct sim *s, struct sim_node *n)
{
	struct followups fu = {0};

	for (uint32_t i = 0; i < n->st.count; i++) {
		if (n->st.b[i].corrupt) {
			add(&fu, FU_RESTRICT, 0, n->st.b[i].base, 0);
			run_followups(s, n, &fu);
			return;
		}
	}
}

/* Retention deletes the oldest batches, never at or past the commit offset. */
void node_trim(struct sim *s, struct sim_node *n)
{
	struct elog_raft_outbox out;
	int64_t commit = elog_raft_commit(&n->raft);
	uint32_t eligible = 0, drop;

	while (eligible < n->st.count && n->st.b[eligible].last < commit)
		eligible++;
	if (eligible == 0)
		return;
	drop = 1 + sim_below(s, eligible);
	n->st.start = n->st.b[drop - 1].last + 1;
	memmove(&n->st.b[0], &n->st.b[drop], (n->st.count - drop) * sizeof(n->st.b[0]));
	n->st.count -= drop;
	n->st.durable = n->st.durable > drop ? n->st.durable - drop : 0;
	if (n->checked_commit < n->st.start)
		n->checked_commit = n->st.start;
	sim_trace(s, "node %d: retention deletes below %lld", n->id, (long long)n->st.start);
	elog_raft_log_trimmed(&n->raft, n->st.start, &out);
	node_handle(s, n, &out, NULL);
}
