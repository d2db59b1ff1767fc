/*
 * raft_sim — deterministic simulation of the Raft core (libcore/raft*.c),
 * in the manner of TigerBeetle's VOPR and canonical/raft's fixture.
 *
 *   raft_sim [--seed N | --seeds COUNT [--first N]] [--nodes 3|5] [--ticks N]
 *            [--flush always|never] [--verbose]
 *
 * Each seed picks its own fault mix (swarm testing) and runs three phases:
 * chaos (drops, duplicates, delays and so reorders, symmetric and one-way
 * partitions, crashes losing unsynced writes with torn tails, damaged
 * synced batches on a minority, clock jumps, pauses, leadership
 * transfers, retention, client proposals), then healing (every node up,
 * the network reliable), then liveness: a leader must commit a new
 * proposal within a bound, every node must repair and catch up, and the
 * idle group must go quiet. Safety is checked after every event
 * (sim_check.c). A failure prints the command that replays it.
 *
 * Exit status: 0 every seed passed, 1 a seed failed, 2 usage.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static char replay[256];
static const char *prog = "raft_sim"; /* argv[0]'s base name */

static void on_abort(int sig)
{
	/* An assert in the core: say which seed, then die as asked. */
	ssize_t rc = write(2, replay, strlen(replay));
	(void)rc;
	signal(sig, SIG_DFL);
	raise(sig);
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: seed %llu, %u nodes, time %lld.%lld: ", prog,
		(unsigned long long)s->seed, s->p.nodes, (long long)(s->now / SIM_TICK_UNITS),
		(long long)(s->now % SIM_TICK_UNITS));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", replay);
	exit(1);
}

/* ---- randomness: one stream per seed ------------------------------------ */

uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t sim_below(struct sim *s, uint32_t n)
{
	return n ? (uint32_t)(sim_rand(s) % n) : 0;
}

int sim_chance(struct sim *s, uint32_t permille)
{
	return sim_below(s, 1000) < permille;
}

int sim_node_index(const struct sim *s, int32_t id)
{
	for (uint32_t i = 0; i < s->p.nodes; i++)
		if (s->nodes[i].id == id)
			return (int)i;
	return -1;
}

/* ---- the event queue: a binary heap on (time, seq) ------------------------ */

static int earlier(const struct sim_event *a, const struct sim_event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_schedule(struct sim *s, int64_t time, enum sim_event_type type, int node, int msg)
{
	struct sim_event ev = {time, s->event_seq++, type, node, 0, msg};
	uint32_t i = s->event_count;

	if (s->event_count == SIM_EVENTS_MAX)
		sim_fail(s, "event queue full");
	if (node >= 0)
		ev.incarnation = s->nodes[node].incarnation;
	s->events[s->event_count++] = ev;
	while (i > 0 && earlier(&s->events[i], &s->events[(i - 1) / 2])) {
		struct sim_event t = s->events[i];
		s->events[i] = s->events[(i - 1) / 2];
		s->events[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct sim_event pop_event(struct sim *s)
{
	struct sim_event top = s->events[0];
	uint32_t i = 0;

	s->events[0] = s->events[--s->event_count];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->event_count && earlier(&s->events[l], &s->events[m]))
			m = l;
		if (r < s->event_count && earlier(&s->events[r], &s->events[m]))
			m = r;
		if (m == i)
			break;
		struct sim_event t = s->events[i];
		s->events[i] = s->events[m];
		s->events[m] = t;
		i = m;
	}
	return top;
}

/* ---- the network ---------------------------------------------------------- */

static int msg_alloc(struct sim *s)
{
	int i = s->msg_free;

	s->msgs_in_flight++;
	if (i >= 0) {
		s->msg_free = s->msgs[i].next_free;
		return i;
	}
	if (s->msg_high == SIM_MSGS_MAX)
		sim_fail(s, "network full");
	return s->msg_high++;
}

static void msg_release(struct sim *s, int i)
{
	s->msgs[i].next_free = s->msg_free;
	s->msg_free = i;
	s->msgs_in_flight--;
}

void sim_send(struct sim *s, int from, const struct sim_msg *msg)
{
	int to = sim_node_index(s, msg->m.to);
	int copies = 1;
	uint32_t delay_max = s->p.delay_max_units;

	s->stat_msgs++;
	if (s->link_down[from][to] || (!s->healed && sim_chance(s, s->p.drop_permille))) {
		trace_msg(s, "drop", msg);
		return;
	}
	if (!s->healed && sim_chance(s, s->p.dup_permille))
		copies = 2;
	if (s->healed && delay_max > 2 * SIM_TICK_UNITS)
		delay_max = 2 * SIM_TICK_UNITS;
	trace_msg(s, "send", msg);
	while (copies--) {
		int i = msg_alloc(s);
		s->msgs[i] = *msg;
		sim_schedule(s, s->now + 1 + sim_below(s, delay_max), EV_DELIVER, to, i);
	}
}

/* ---- faults ---------------------------------------------------------------- */

static struct sim_node *random_alive(struct sim *s)
{
	uint32_t start = sim_below(s, s->p.nodes);

	for (uint32_t k = 0; k < s->p.nodes; k++) {
		struct sim_node *n = &s->nodes[(start + k) % s->p.nodes];
		if (n->alive && n->paused_until <= s->now)
			return n;
	}
	return NULL;
}

static struct sim_node *some_leader(struct sim *s)
{
	uint32_t start = sim_below(s, s->p.nodes);

	for (uint32_t k = 0; k < s->p.nodes; k++) {
		struct sim_node *n = &s->nodes[(start + k) % s->p.nodes];
		if (n->alive && n->paused_until <= s->now &&
		    elog_raft_role(&n->raft) == ELOG_RAFT_LEADER)
			return n;
	}
	return NULL;
}

static int64_t ticks(uint32_t t)
{
	return (int64_t)t * SIM_TICK_UNITS;
}

static void fault_partition(struct sim *s)
{
	uint32_t n = s->p.nodes;

	if (s->p.one_way && sim_chance(s, 500)) {
		uint32_t a = sim_below(s, n), b = (a + 1 + sim_below(s, n - 1)) % n;
		s->link_down[a][b] = 1;
		sim_trace(s, "partition: %d -> %d cut (one way)", s->nodes[a].id, s->nodes[b].id);
	} else {
		uint32_t mask = 1 + sim_below(s, (1u << n) - 2);
		for (uint32_t a = 0; a < n; a++)
			for (uint32_t b = 0; b < n; b++)
				if (((mask >> a) & 1) != ((mask >> b) & 1))
					s->link_down[a][b] = 1;
		sim_trace(s, "partition: group %#x cut off", mask);
	}
	sim_schedule(s, s->now + ticks(2 + sim_below(s, 5 * s->p.election_ticks)), EV_HEAL, -1, -1);
}

/* One node cut off from everyone for several election timeouts: it falls
 * far behind, and the others may delete by retention what it lacks. */
static void fault_isolate(struct sim *s)
{
	struct sim_node *l = sim_chance(s, 500) ? some_leader(s) : NULL;
	uint32_t a = l ? (uint32_t)(l - s->nodes) : sim_below(s, s->p.nodes);

	for (uint32_t b = 0; b < s->p.nodes; b++)
		s->link_down[a][b] = s->link_down[b][a] = a != b;
	sim_trace(s, "partition: node %d isolated", s->nodes[a].id);
	sim_schedule(s, s->now + ticks((5 + sim_below(s, 15)) * s->p.election_ticks), EV_HEAL,
		     -1, -1);
}

static int damaged_count(const struct sim *s)
{
	int c = 0;

	for (uint32_t i = 0; i < s->p.nodes; i++)
		c += node_damaged(&s->nodes[i]) || s->nodes[i].repairing;
	return c;
}

static void fault_corrupt(struct sim *s)
{
	struct sim_node *n = &s->nodes[sim_below(s, s->p.nodes)];

	if (damaged_count(s) < (int)s->damaged_nodes_max && !node_damaged(n) && !n->repairing)
		node_corrupt(s, n);
	else if (n->alive && sim_chance(s, 300))
		node_scrub(s, n);
}

static void fault_crash(struct sim *s)
{
	/* Leaders die young more often than others: elections with half-
	 * replicated logs are where Raft's subtle cases are (Figure 8). */
	struct sim_node *n = sim_chance(s, 500) ? some_leader(s) : NULL;
	uint32_t out = 0;

	if (!n)
		n = random_alive(s);
	for (uint32_t i = 0; i < s->p.nodes; i++)
		out += !s->nodes[i].alive || elog_raft_restricted(&s->nodes[i].raft);
	if (!n || (s->p.crash_minority && out >= (s->p.nodes - 1) / 2))
		return;
	node_crash(s, n, s->p.clean_restart && sim_chance(s, 300));
	sim_schedule(s, s->now + ticks(2 + sim_below(s, 6 * s->p.election_ticks)), EV_RESTART,
		     (int)(n - s->nodes), -1);
}

static void fault_clock_jump(struct sim *s)
{
	struct sim_node *n = random_alive(s);
	uint32_t k = 2 + sim_below(s, 3 * s->p.election_ticks);

	if (!n)
		return;
	sim_trace(s, "node %d: clock jumps %u ticks", n->id, k);
	for (uint32_t i = 0; i < k && n->alive; i++)
		node_tick(s, n);
}

static void fault_transfer(struct sim *s)
{
	struct sim_node *n = some_leader(s);
	struct elog_raft_outbox out;
	int32_t target;

	if (!n)
		return;
	target = s->nodes[(n - s->nodes + 1 + sim_below(s, s->p.nodes - 1)) % s->p.nodes].id;
	sim_trace(s, "node %d: transfer leadership to %d", n->id, target);
	if (elog_raft_transfer_leadership(&n->raft, target, &out, NULL) < 0)
		sim_fail(s, "node %d: transfer refused while leader", n->id);
	node_handle(s, n, &out, NULL);
}

static void fault(struct sim *s)
{
	uint8_t kinds[16];
	uint32_t count = 0;
	struct sim_node *n;

	if (s->p.crash) kinds[count++] = 0;
	if (s->p.partition) kinds[count++] = 1;
	if (s->p.corrupt) kinds[count++] = 2;
	if (s->p.clock_jump) kinds[count++] = 3;
	if (s->p.transfer) kinds[count++] = 4;
	if (s->p.pause) kinds[count++] = 5;
	if (s->p.trim) kinds[count++] = 6, kinds[count++] = 6, kinds[count++] = 6;
	if (s->p.isolate) kinds[count++] = 7, kinds[count++] = 7;
	if (!count)
		return;
	switch (kinds[sim_below(s, count)]) {
	case 0: fault_crash(s); break;
	case 1: fault_partition(s); break;
	case 2: fault_corrupt(s); break;
	case 3: fault_clock_jump(s); break;
	case 4: fault_transfer(s); break;
	case 5:
		if ((n = random_alive(s)) != NULL) {
			n->paused_until = s->now + ticks(1 + sim_below(s, 3 * s->p.election_ticks));
			sim_trace(s, "node %d: paused (SIGSTOP) until %lld", n->id,
				  (long long)(n->paused_until / SIM_TICK_UNITS));
		}
		break;
	case 6:
		if ((n = random_alive(s)) != NULL)
			node_trim(s, n);
		break;
	case 7:
		fault_isolate(s);
		break;
	}
}

static void propose(struct sim *s)
{
	struct sim_node *n = sim_chance(s, 800) ? some_leader(s) : random_alive(s);
	uint64_t payload;

	if (n && s->healed && node_end(n) - elog_raft_commit(&n->raft) > 500)
		return; /* healed: the client waits for the followers */
	if (n && node_propose(s, n, &payload) == 0 && !s->live_payload && s->healed)
		s->live_payload = payload;
}

/* ---- events ---------------------------------------------------------------- */

static int node_event(enum sim_event_type t)
{
	return t == EV_TICK || t == EV_SYNC || t == EV_DURABLE || t == EV_WRITTEN ||
	       t == EV_TERM_START;
}

static void handle_event(struct sim *s, const struct sim_event *ev)
{
	struct sim_node *n = ev->node >= 0 ? &s->nodes[ev->node] : NULL;

	if (n && node_event(ev->type) && (!n->alive || ev->incarnation != n->incarnation))
		return; /* of an earlier life */
	if (n && (node_event(ev->type) || ev->type == EV_DELIVER) && ev->type != EV_SYNC &&
	    n->paused_until > s->now) {
		/* SIGSTOP: it runs nothing and reads nothing until it is continued. */
		sim_schedule(s, n->paused_until, ev->type, ev->node, ev->msg);
		return;
	}
	switch (ev->type) {
	case EV_TICK:
		node_tick(s, n);
		if (n->alive && n->incarnation == ev->incarnation)
			sim_schedule(s, s->now + SIM_TICK_UNITS, EV_TICK, ev->node, -1);
		break;
	case EV_DELIVER: {
		struct sim_msg *msg = &s->msgs[ev->msg];
		int from = sim_node_index(s, msg->m.from);
		if (n->alive && !s->link_down[from][ev->node]) {
			trace_msg(s, "recv", msg);
			node_heard(s, n, from);
			node_deliver(s, n, msg);
		}
		msg_release(s, ev->msg);
		break;
	}
	case EV_SYNC:
		n->sync_scheduled = 0;
		node_sync(s, n);
		break;
	case EV_DURABLE:
		n->durable_pending--;
		node_durable(s, n);
		break;
	case EV_WRITTEN:
		n->written_scheduled = 0;
		node_written(s, n);
		break;
	case EV_PROPOSE:
		if (s->live_acked)
			break; /* liveness shown: let the group go idle */
		propose(s);
		if (!s->live_acked)
			sim_schedule(s, s->now + 1 + sim_below(s, s->p.propose_every_units),
				     EV_PROPOSE, -1, -1);
		break;
	case EV_FAULT:
		if (s->healed)
			break;
		fault(s);
		sim_schedule(s, s->now + ticks(1 + sim_below(s, 2 * s->p.fault_every_ticks)),
			     EV_FAULT, -1, -1);
		break;
	case EV_RESTART:
		if (!n->alive)
			node_boot(s, n, n->boot_restriction);
		break;
	case EV_HEAL:
		memset(s->link_down, 0, sizeof(s->link_down));
		sim_trace(s, "partitions healed");
		break;
	case EV_TERM_START:
		if (n->alive && ev->incarnation == n->incarnation)
			node_term_start(s, n, (uint64_t)ev->msg);
		break;
	}
}

/* ---- the phases ------------------------------------------------------------- */

static void heal(struct sim *s)
{
	s->healed = 1;
	s->healed_at = s->now;
	memset(s->link_down, 0, sizeof(s->link_down));
	sim_trace(s, "=== healed: every node up, the network reliable ===");
	for (uint32_t i = 0; i < s->p.nodes; i++) {
		struct sim_node *n = &s->nodes[i];
		n->paused_until = 0;
		if (!n->alive)
			node_boot(s, n, n->boot_restriction);
	}
}

static uint32_t unrestricted(const struct sim *s)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < s->p.nodes; i++)
		c += s->nodes[i].alive && !elog_raft_restricted(&s->nodes[i].raft);
	return c;
}

static int leader_index(const struct sim *s)
{
	int best = -1;

	for (uint32_t i = 0; i < s->p.nodes; i++)
		if (s->nodes[i].alive && elog_raft_role(&s->nodes[i].raft) == ELOG_RAFT_LEADER &&
		    (best < 0 || elog_raft_term(&s->nodes[i].raft) > elog_raft_term(&s->nodes[best].raft)))
			best = (int)i;
	return best;
}

/* Every node repaired, caught up with one leader, and the group quiesced. */
static int converged(const struct sim *s)
{
	int l = leader_index(s);
	const struct sim_node *ln;

	if (l < 0 || s->msgs_in_flight > 0)
		return 0; /* (old messages still in the network would wake it) */
	ln = &s->nodes[l];
	if (elog_raft_commit(&ln->raft) != node_end(ln) || !elog_raft_quiesced(&ln->raft))
		return 0;
	for (uint32_t i = 0; i < s->p.nodes; i++) {
		const struct sim_node *n = &s->nodes[i];
		if (!n->alive || elog_raft_restricted(&n->raft) || !elog_raft_quiesced(&n->raft) ||
		    node_end(n) != node_end(ln) || elog_raft_commit(&n->raft) != node_end(ln) ||
		    elog_raft_leader(&n->raft) != ln->id || node_damaged(n) ||
		    n->durable_reported != node_end(n) || n->written_scheduled ||
		    n->sync_scheduled || n->durable_pending)
			return 0;
	}
	return 1;
}

/* Some node cannot take a new term: its cache is full of terms above its
 * commit (a liveness limit of the bounded cache, docs/raft.md). */
static int cache_full(const struct sim *s)
{
	for (uint32_t i = 0; i < s->p.nodes; i++) {
		uint32_t count;
		const struct elog_raft_term_start *t = elog_raft_terms(&s->nodes[i].raft, &count);
		if (s->nodes[i].alive && count == ELOG_RAFT_TERMS_MAX &&
		    t[1].start > elog_raft_commit(&s->nodes[i].raft))
			return 1;
	}
	return 0;
}

/* Where each node stands, for a liveness failure. */
static void print_nodes(const struct sim *s)
{
	for (uint32_t i = 0; i < s->p.nodes; i++) {
		const struct sim_node *n = &s->nodes[i];
		uint32_t terms;
		elog_raft_terms(&n->raft, &terms);
		fprintf(stderr, "node %d: %s%s term %llu leader %d end %lld commit %lld durable %lld, "
			"%u cached terms%s%s%s\n",
			n->id, n->alive ? "" : "dead ", elog_raft_role_name(elog_raft_role(&n->raft)),
			(unsigned long long)elog_raft_term(&n->raft), elog_raft_leader(&n->raft),
			(long long)node_end(n), (long long)elog_raft_commit(&n->raft),
			(long long)n->durable_reported, terms,
			elog_raft_restricted(&n->raft) ? " restricted" : "",
			elog_raft_quiesced(&n->raft) ? " quiesced" : "", node_damaged(n) ? " damaged" : "");
	}
}

struct totals {
	uint64_t seeds, elections, acked, crashes, corruptions, restrictions, lifts,
		truncations, resets, msgs, steps, exempt, stalled, quiesced_ticks;
	int64_t worst_live_ticks;
};

static void run_phases(struct sim *s, struct totals *t)
{
	int64_t chaos_end = ticks(s->p.chaos_ticks), live_deadline = 0, converge_deadline = 0;
	int64_t quiet_end = 0;
	int scrubbed = 0, is_converged = 0;
	uint32_t majority = s->p.nodes / 2 + 1;

	while (s->event_count > 0) {
		struct sim_event ev = pop_event(s);
		s->now = ev.time;
		s->steps++;
		handle_event(s, &ev);
		if (!s->healed && s->now >= chaos_end) {
			heal(s);
			live_deadline = s->now + ticks(40 * s->p.election_ticks);
			sim_schedule(s, s->now + 1, EV_PROPOSE, -1, -1);
		}
		if (!s->healed)
			continue;
		if (!s->exempt && unrestricted(s) < majority) {
			s->exempt = 1; /* restricted majority: unavailable by design */
			sim_trace(s, "=== a majority is restricted: no leader possible; stop ===");
		}
		if (s->exempt)
			break;
		if (!s->live_acked) {
			if (s->now > live_deadline && cache_full(s)) {
				s->stalled = 1; /* the documented limit (docs/raft.md) */
				sim_trace(s, "=== no leader: term caches full of uncommitted terms ===");
				break;
			}
			if (s->now > live_deadline) {
				print_nodes(s);
				sim_fail(s, "liveness: no new proposal committed within %u ticks of healing",
					 40 * s->p.election_ticks);
			}
		} else if (!scrubbed) {
			int64_t took = (s->now - s->healed_at) / SIM_TICK_UNITS;
			if (took > t->worst_live_ticks)
				t->worst_live_ticks = took;
			sim_trace(s, "=== committed after healing (%lld ticks); scrub every node ===",
				  (long long)took);
			for (uint32_t i = 0; i < s->p.nodes; i++)
				node_scrub(s, &s->nodes[i]);
			scrubbed = 1;
			converge_deadline = s->now + ticks(60 * s->p.election_ticks);
		} else if (!is_converged) {
			if (converged(s)) {
				is_converged = 1;
				s->msgs_at_quiet = s->stat_msgs;
				quiet_end = s->now + ticks(4 * s->p.election_ticks);
				sim_trace(s, "=== converged and quiesced; the group must stay quiet ===");
			} else if (s->now > converge_deadline) {
				print_nodes(s);
				sim_fail(s, "liveness: nodes did not repair, catch up and quiesce within %u ticks",
					 60 * s->p.election_ticks);
			}
		} else if (s->now >= quiet_end) {
			if (s->stat_msgs != s->msgs_at_quiet)
				sim_fail(s, "a quiesced idle group sent %llu messages",
					 (unsigned long long)(s->stat_msgs - s->msgs_at_quiet));
			check_final(s, leader_index(s));
			break;
		}
	}
	if (!s->exempt && !s->stalled && !is_converged)
		sim_fail(s, "simulation stopped before the end");
}

/* ---- one seed ---------------------------------------------------------------- */

static void choose_params(struct sim *s, uint32_t nodes, int flush, uint32_t ticks_scale)
{
	static const uint32_t drops[] = {0, 10, 50, 200}, dups[] = {0, 20, 100};
	struct sim_params *p = &s->p;

	memset(p, 0, sizeof(*p));
	p->nodes = nodes;
	p->flush = flush >= 0 ? (enum sim_flush)flush : sim_chance(s, 500) ? SIM_FLUSH_NEVER
								       : SIM_FLUSH_ALWAYS;
	p->election_ticks = 10;
	p->heartbeat_ticks = 1 + sim_below(s, 3);
	p->inflight_max = 1 + sim_below(s, 4);
	/* Clients wait when followers lag; in some seeds not during the chaos:
	 * a leader cut off with a long tail of old records is how Figure 8
	 * happens (after healing, the clients hold back by themselves). */
	p->backlog_max = sim_chance(s, 400) ? 0 : 100 + sim_below(s, 900);
	p->drop_permille = drops[sim_below(s, 4)];
	p->dup_permille = dups[sim_below(s, 3)];
	p->delay_max_units = 1 + sim_below(s, 6 * SIM_TICK_UNITS);
	p->fault_every_ticks = 3 + sim_below(s, 30);
	p->crash = sim_chance(s, 600);
	p->crash_minority = sim_chance(s, 700);
	p->partition = sim_chance(s, 600);
	p->one_way = sim_chance(s, 500);
	p->corrupt = sim_chance(s, 500);
	p->clock_jump = sim_chance(s, 500);
	p->transfer = sim_chance(s, 500);
	p->pause = sim_chance(s, 500);
	p->trim = sim_chance(s, 400);
	p->clean_restart = sim_chance(s, 500);
	p->isolate = sim_chance(s, 400);
	p->term_start_delay_permille = sim_chance(s, 500) ? 300 : 0;
	p->chaos_ticks = (100 + sim_below(s, 300)) * ticks_scale;
	p->propose_every_units = 3 + sim_below(s, 4 * SIM_TICK_UNITS);
	s->damaged_nodes_max = (nodes - 1) / 2;
}

static void reset(struct sim *s, uint64_t seed, int verbose)
{
	s->seed = seed;
	s->verbose = verbose;
	s->rng = seed * 0x2545f4914f6cdd1dull + 1;
	s->now = 0;
	s->event_seq = 0;
	s->event_count = 0;
	s->msg_free = -1;
	s->msg_high = 0;
	s->msgs_in_flight = 0;
	memset(s->link_down, 0, sizeof(s->link_down));
	s->healed = 0;
	s->healed_at = 0;
	s->live_payload = 0;
	s->live_acked = 0;
	s->exempt = 0;
	s->stalled = 0;
	s->next_payload = 0;
	s->committed_count = 0;
	if (s->leader_of_term)
		memset(s->leader_of_term, 0, s->leader_of_term_cap * sizeof(int32_t));
	s->acked_count = 0;
	s->steps = 0;
	s->stat_elections = s->stat_acked = s->stat_crashes = s->stat_corruptions = 0;
	s->stat_restrictions = s->stat_lifts = s->stat_truncations = s->stat_resets = 0;
	s->stat_msgs = s->stat_quiesced_ticks = 0;
}

static void run_seed(struct sim *s, uint64_t seed, uint32_t nodes, int flush, uint32_t ticks_scale,
		     int verbose, struct totals *t)
{
	reset(s, seed, verbose);
	snprintf(replay, sizeof(replay), "replay: build/tests/%s --seed %llu --nodes %u%s%s --verbose\n",
		 prog, (unsigned long long)seed, nodes, flush < 0 ? "" : " --flush ",
		 flush < 0 ? "" : flush ? "never" : "always");
	if (ticks_scale != 1)
		snprintf(replay, sizeof(replay),
			 "replay: build/tests/%s --seed %llu --nodes %u --ticks %u%s%s --verbose\n",
			 prog, (unsigned long long)seed, nodes, ticks_scale, flush < 0 ? "" : " --flush ",
			 flush < 0 ? "" : flush ? "never" : "always");
	choose_params(s, nodes, flush, ticks_scale);
	if (verbose)
		printf("seed %llu: %u nodes, flush=%s, heartbeat %u, inflight %u, drop %u‰, dup %u‰, "
		       "delay <= %u, faults every ~%u ticks:%s%s%s%s%s%s%s%s%s%s, chaos %u ticks\n",
		       (unsigned long long)seed, nodes, s->p.flush ? "never" : "always",
		       s->p.heartbeat_ticks, s->p.inflight_max, s->p.drop_permille, s->p.dup_permille,
		       s->p.delay_max_units, s->p.fault_every_ticks, s->p.crash ? " crash" : "",
		       s->p.partition ? " partition" : "", s->p.one_way ? " one-way" : "",
		       s->p.corrupt ? " corrupt" : "", s->p.clock_jump ? " clock-jump" : "",
		       s->p.transfer ? " transfer" : "", s->p.pause ? " pause" : "",
		       s->p.trim ? " retention" : "", s->p.isolate ? " isolate" : "",
		       s->p.term_start_delay_permille ? " slow-term-start" : "", s->p.chaos_ticks);
	for (uint32_t i = 0; i < nodes; i++) {
		struct sim_node *n = &s->nodes[i];
		n->id = (int32_t)(i + 1);
		n->alive = 0;
		n->incarnation = 0;
		n->paused_until = 0;
		n->commit_checkpoint = 0;
		n->cut_expected = 0;
		n->repairing = 0;
		n->boot_restriction = ELOG_RAFT_RESTRICT_NONE;
		memset(&n->st.hs, 0, sizeof(n->st.hs));
		n->st.hs.vote = ELOG_RAFT_NONE;
		n->st.start = 0;
		n->st.count = n->st.durable = 0;
		n->st.term_count = 0;
	}
	for (uint32_t i = 0; i < nodes; i++)
		node_boot(s, &s->nodes[i], ELOG_RAFT_RESTRICT_NONE);
	sim_schedule(s, 1 + sim_below(s, s->p.propose_every_units), EV_PROPOSE, -1, -1);
	if (s->p.fault_every_ticks)
		sim_schedule(s, ticks(s->p.fault_every_ticks), EV_FAULT, -1, -1);
	run_phases(s, t);
	t->seeds++;
	t->elections += s->stat_elections;
	t->acked += s->stat_acked;
	t->crashes += s->stat_crashes;
	t->corruptions += s->stat_corruptions;
	t->restrictions += s->stat_restrictions;
	t->lifts += s->stat_lifts;
	t->truncations += s->stat_truncations;
	t->resets += s->stat_resets;
	t->msgs += s->stat_msgs;
	t->steps += s->steps;
	t->exempt += s->exempt;
	t->stalled += s->stalled;
	t->quiesced_ticks += s->stat_quiesced_ticks;
	if (verbose)
		printf("seed %llu: ok%s: %llu steps, %llu elections, %llu acknowledged\n",
		       (unsigned long long)seed, s->exempt ? " (a majority restricted: unavailable)" : "",
		       (unsigned long long)s->steps, (unsigned long long)s->stat_elections,
		       (unsigned long long)s->stat_acked);
}

/* ---- main ------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [--seed N | --seeds COUNT [--first N]] [--nodes 3|5] [--ticks SCALE]\n"
		   "                [--flush always|never] [--verbose]\n", prog);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t first = 1, count = 1, nodes = 3, scale = 1, v;
	int verbose = 0, flush = -1, single = 0;
	struct totals t = {0};
	static struct sim s;

	if (argc > 0 && argv[0]) {
		const char *slash = strrchr(argv[0], '/');
		prog = slash ? slash + 1 : argv[0];
	}

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			verbose = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--flush") && val && (!strcmp(val, "always") || !strcmp(val, "never"))) {
			flush = !strcmp(val, "never");
		} else if (parse_u64(val, &v) < 0) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--seed")) {
			first = v, count = 1, single = 1;
		} else if (!strcmp(a, "--seeds")) {
			count = v;
		} else if (!strcmp(a, "--first")) {
			first = v;
		} else if (!strcmp(a, "--nodes") && v >= 1 && v <= SIM_NODES_MAX) {
			nodes = v;
		} else if (!strcmp(a, "--ticks") && v >= 1 && v <= 1000) {
			scale = v;
		} else {
			usage(stderr);
			return 2;
		}
		i++;
	}
	(void)single;
	signal(SIGABRT, on_abort);
	for (uint64_t seed = first; seed < first + count; seed++)
		run_seed(&s, seed, (uint32_t)nodes, flush, (uint32_t)scale, verbose, &t);
	printf("%s: %llu seeds (%llu..%llu), %llu nodes: ok: %llu steps, %llu messages, %llu elections, "
	       "%llu acknowledged, %llu crashes, %llu damaged batches, %llu restrictions (%llu lifted), "
	       "%llu truncations, %llu resets, %llu quiesced node-ticks; "
	       "%llu seeds ended unavailable (a majority restricted), %llu with no leader (term "
	       "caches full); slowest commit after healing: %lld ticks\n",
	       prog, (unsigned long long)t.seeds, (unsigned long long)first,
	       (unsigned long long)(first + count - 1), (unsigned long long)nodes,
	       (unsigned long long)t.steps, (unsigned long long)t.msgs,
	       (unsigned long long)t.elections, (unsigned long long)t.acked,
	       (unsigned long long)t.crashes, (unsigned long long)t.corruptions,
	       (unsigned long long)t.restrictions, (unsigned long long)t.lifts,
	       (unsigned long long)t.truncations, (unsigned long long)t.resets,
	       (unsigned long long)t.quiesced_ticks, (unsigned long long)t.exempt,
	       (unsigned long long)t.stalled, (long long)t.worst_live_ticks);
	free(s.leader_of_term);
	return 0;
}
