/*
 * Unit tests: raft — targeted scenarios in the manner of etcd's
 * raft_paper_test: elections and vote rules, pre-vote and check quorum,
 * log repair by term hint, commit of own-term durable records only,
 * retention resets, transfer, quiescence, restriction, malformed input.
 *
 * A small in-memory cluster drives the cores: messages wait in one FIFO
 * queue until net_run delivers them, a driver carries out outboxes (log
 * ops, appends read from the log, term start batches), and durability is
 * reported at once unless a node holds it back (manual_durable).
 */
#include "t.h"
#include "raft.h"

#define N_MAX 5
#define LOG_MAX 512
#define Q_MAX 2048
#define BATCHES_PER_APPEND 16

struct tbatch {
	int64_t base, last;
	uint64_t term;
};

struct tnode {
	struct elog_raft r;
	struct tbatch log[LOG_MAX];
	uint32_t count;
	int64_t start, durable;
	struct elog_raft_hard_state hs;
	int manual_durable;       /* report durability only when the test says */
	int64_t commit;           /* as last reported */
	int restricted_reported;  /* last restriction report: 1 on, 0 lifted, -1 none */
	uint32_t truncations, resets;
};

struct tmsg {
	struct elog_raft_msg m;
	struct elog_raft_batch b[BATCHES_PER_APPEND];
};

struct tnet {
	uint32_t n;
	struct tnode node[N_MAX];
	struct tmsg q[Q_MAX];
	uint32_t head, tail;
	uint8_t cut[N_MAX][N_MAX];
	uint32_t sent[ELOG_RAFT_MSG_TIMEOUT_NOW + 1]; /* messages sent, by type */
	uint32_t delivered;
};

static struct tnet net; /* large: static, re-initialised per test */

static int64_t log_end(const struct tnode *n)
{
	return n->count ? n->log[n->count - 1].last + 1 : n->start;
}

static int find(const struct tnode *n, int64_t offset)
{
	for (uint32_t i = 0; i < n->count; i++)
		if (n->log[i].base <= offset && offset <= n->log[i].last)
			return (int)i;
	return -1;
}

static void drive(struct tnet *t, int i, struct elog_raft_outbox *out, const struct tmsg *stepped);

static void report_durable(struct tnet *t, int i)
{
	struct elog_raft_outbox out;
	struct tnode *n = &t->node[i];

	n->durable = log_end(n);
	elog_raft_log_durable(&n->r, n->durable, &out);
	drive(t, i, &out, NULL);
}

static void driver_append(struct tnet *t, int i, int64_t records)
{
	struct elog_raft_outbox out;
	struct tnode *n = &t->node[i];
	struct tbatch b = {log_end(n), log_end(n) + records - 1, elog_raft_term(&n->r)};

	n->log[n->count++] = b;
	elog_raft_leader_appended(&n->r, b.base, b.last, &out);
	drive(t, i, &out, NULL);
	if (!n->manual_durable)
		report_durable(t, i);
}

static void apply_ops(struct tnet *t, int i, const struct elog_raft_outbox *out,
		      const struct tmsg *stepped)
{
	struct tnode *n = &t->node[i];
	int appended = 0;

	for (uint32_t k = 0; k < out->op_count; k++) {
		const struct elog_raft_log_op *op = &out->ops[k];
		if (op->type == ELOG_RAFT_OP_TRUNCATE) {
			int at = find(n, op->offset);
			if (at >= 0)
				n->count = (uint32_t)at;
			if (n->durable > op->offset)
				n->durable = op->offset;
			n->truncations++;
		} else if (op->type == ELOG_RAFT_OP_RESET) {
			n->count = 0;
			n->start = n->durable = op->offset;
			n->resets++;
		} else {
			for (uint32_t j = op->batch_first; j < op->batch_first + op->batch_count; j++) {
				struct tbatch b = {stepped->b[j].base, stepped->b[j].last, stepped->b[j].term};
				n->log[n->count++] = b;
			}
			appended = 1;
		}
	}
	if (appended) {
		struct elog_raft_outbox w;
		elog_raft_log_written(&n->r, log_end(n), &w);
		drive(t, i, &w, NULL);
		if (!n->manual_durable)
			report_durable(t, i);
	}
}

/* The leader's driver: batches from prev_end on, then append_sent. */
static void send_append(struct tnet *t, int i, struct tmsg *msg)
{
	struct elog_raft_outbox out;
	struct tnode *n = &t->node[i];
	int64_t from = msg->m.append.prev_end, end = from;
	int at = from < log_end(n) ? find(n, from) : -1;
	uint32_t k = 0;

	for (; at >= 0 && at < (int)n->count && k < BATCHES_PER_APPEND; at++, k++) {
		msg->b[k].base = n->log[at].base;
		msg->b[k].last = n->log[at].last;
		msg->b[k].term = n->log[at].term;
		end = n->log[at].last + 1;
	}
	msg->m.append.batch_count = k;
	t->q[t->tail++ % Q_MAX] = *msg;
	t->sent[ELOG_RAFT_MSG_APPEND]++;
	elog_raft_append_sent(&n->r, msg->m.to, from, end, &out);
	drive(t, i, &out, NULL);
}

static void drive(struct tnet *t, int i, struct elog_raft_outbox *out, const struct tmsg *stepped)
{
	struct tnode *n = &t->node[i];
	struct elog_raft_outbox copy = *out; /* the calls below reuse nothing of it */

	if (copy.hard_state_changed)
		n->hs = copy.hard_state;
	apply_ops(t, i, &copy, stepped);
	for (uint32_t k = 0; k < copy.msg_count; k++) {
		struct tmsg msg;
		memset(&msg, 0, sizeof(msg));
		msg.m = copy.msgs[k];
		if (msg.m.type == ELOG_RAFT_MSG_APPEND) {
			send_append(t, i, &msg);
		} else {
			t->q[t->tail++ % Q_MAX] = msg;
			t->sent[msg.m.type]++;
		}
	}
	if (copy.role_changed && getenv("T_RAFT_TRACE"))
		fprintf(stderr, "node %d: %s term %llu leader %d\n", i + 1,
			elog_raft_role_name(copy.role), (unsigned long long)copy.term, copy.leader);
	if (copy.commit_changed)
		n->commit = copy.commit;
	if (copy.restriction_changed)
		n->restricted_reported = copy.restriction != ELOG_RAFT_RESTRICT_NONE;
	if (copy.term_start && elog_raft_role(&n->r) == ELOG_RAFT_LEADER)
		driver_append(t, i, 1);
}

/* A client batch of `records` records on node i (its leader). */
static void propose(int i, int64_t records)
{
	driver_append(&net, i, records);
}

static void net_init(uint32_t nodes)
{
	memset(&net, 0, sizeof(net));
	net.n = nodes;
	for (uint32_t i = 0; i < nodes; i++) {
		struct elog_raft_config c;
		struct elog_raft_hard_state hs = {0, ELOG_RAFT_NONE, 0};
		struct elog_raft_log_view v = {0, 0, 0, NULL, 0};
		struct elog_raft_outbox out;
		struct elog_err err;
		elog_raft_config_default(&c);
		c.self = (int32_t)i + 1;
		c.voter_count = nodes;
		for (uint32_t k = 0; k < nodes; k++)
			c.voters[k] = (int32_t)k + 1;
		c.seed = 1000 + i;
		net.node[i].hs = hs;
		net.node[i].restricted_reported = -1;
		if (elog_raft_init(&net.node[i].r, &c, &hs, &v, 0, ELOG_RAFT_RESTRICT_NONE, &out, &err) < 0)
			abort();
	}
}

/* Deliver queued messages (and what they cause) until none is left. */
static void net_run(void)
{
	for (uint32_t guard = 0; net.head != net.tail && guard < 100000; guard++) {
		struct tmsg msg = net.q[net.head++ % Q_MAX];
		struct elog_raft_outbox out;
		struct elog_err err;
		int to = msg.m.to - 1, from = msg.m.from - 1;
		if (getenv("T_RAFT_TRACE"))
			fprintf(stderr, "%s %d->%d %s t%llu\n", net.cut[from][to] ? "drop" : "recv",
				msg.m.from, msg.m.to, elog_raft_msg_type_name(msg.m.type),
				(unsigned long long)msg.m.term);
		if (net.cut[from][to])
			continue;
		if (msg.m.type == ELOG_RAFT_MSG_APPEND) /* (a union: only an APPEND has batches) */
			msg.m.append.batches = msg.b;
		if (elog_raft_step(&net.node[to].r, &msg.m, &out, &err) < 0)
			abort();
		net.delivered++;
		drive(&net, to, &out, &msg);
	}
}

static void tick(int i, uint32_t times)
{
	for (uint32_t k = 0; k < times; k++) {
		struct elog_raft_outbox out;
		elog_raft_tick(&net.node[i].r, &out);
		drive(&net, i, &out, NULL);
	}
}

static void tick_all_and_run(uint32_t times)
{
	for (uint32_t k = 0; k < times; k++) {
		for (uint32_t i = 0; i < net.n; i++)
			tick((int)i, 1);
		net_run();
	}
}

/* Node i stops hearing from its leader for an election timeout, so its
 * lease is over; what its ticks send is lost. */
static void lease_expire(int i)
{
	tick(i, 10);
	net.head = net.tail;
}

static void campaign(int i)
{
	struct elog_raft_outbox out;

	elog_raft_campaign(&net.node[i].r, &out);
	drive(&net, i, &out, NULL);
	net_run();
}

static void isolate(int i, int cut)
{
	for (uint32_t k = 0; k < net.n; k++)
		net.cut[i][k] = net.cut[k][i] = (uint8_t)cut;
}

static enum elog_raft_role role(int i)
{
	return elog_raft_role(&net.node[i].r);
}

/* ---- elections ------------------------------------------------------------ */

static void test_single_voter(void)
{
	net_init(1);
	campaign(0);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	T_EQ_INT(elog_raft_term(&net.node[0].r), 1);
	/* the term start batch went in and, once durable, committed */
	T_EQ_INT(log_end(&net.node[0]), 1);
	T_EQ_INT(net.node[0].commit, 1);
	propose(0, 3);
	T_EQ_INT(net.node[0].commit, 4);
}

static void test_election_and_replication(void)
{
	net_init(3);
	campaign(0);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	T_EQ_INT(role(1), ELOG_RAFT_FOLLOWER);
	T_EQ_INT(elog_raft_leader(&net.node[1].r), 1);
	/* votes were persisted: followers hold term 1, vote 1 */
	T_EQ_INT(net.node[1].hs.term, 1);
	T_EQ_INT(net.node[1].hs.vote, 1);
	propose(0, 5);
	net_run();
	tick_all_and_run(2); /* heartbeats carry the commit */
	for (int i = 0; i < 3; i++) {
		T_EQ_INT(log_end(&net.node[i]), 6);
		T_EQ_INT(net.node[i].commit, 6);
	}
}

/* A vote in a term goes to one candidate only, and the hard state that
 * records it is in the same outbox as the answer. */
static void test_vote_once_per_term(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 5};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	T_OK(elog_raft_step(&net.node[0].r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 1);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
	T_CHECK(out.hard_state_changed && out.hard_state.vote == 2 && out.hard_state.term == 5);
	m.from = 3;
	T_OK(elog_raft_step(&net.node[0].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
	m.from = 2; /* the same candidate again: granted again (a retry) */
	T_OK(elog_raft_step(&net.node[0].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
	/* a vote in the term we are already in is persisted too */
	net_init(3);
	m.term = 7;
	m.vote.last_term = 0;
	m.vote.last_end = 0;
	net.node[0].r.term = 7; /* (as after a refused vote request of term 7) */
	T_OK(elog_raft_step(&net.node[0].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
	T_CHECK(out.hard_state_changed && out.hard_state.vote == 2 && out.hard_state.term == 7);
}

/* A candidate whose log is behind (lower last term, or same term and
 * shorter) gets no vote. */
static void test_vote_requires_up_to_date_log(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 9};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	propose(0, 4);
	net_run();
	T_EQ_INT(log_end(&net.node[1]), 5);
	lease_expire(1);
	m.vote.last_term = 1;
	m.vote.last_end = 3; /* same last term, shorter */
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
	m.term = 10;
	m.vote.last_term = 0;
	m.vote.last_end = 50; /* longer, but an older last term */
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
	m.term = 11;
	m.vote.last_term = 1;
	m.vote.last_end = 5;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
}

/* Pre-vote: a node cut off from the others times out again and again
 * without its term moving, and on rejoining does not depose the leader. */
static void test_prevote_keeps_partitioned_node_harmless(void)
{
	net_init(3);
	campaign(0);
	isolate(2, 1);
	for (int k = 0; k < 10; k++) {
		tick(2, 25);
		tick(0, 1);
		tick(1, 1);
		net_run();
	}
	T_EQ_INT(elog_raft_term(&net.node[2].r), 1);
	isolate(2, 0);
	tick_all_and_run(30);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	T_EQ_INT(elog_raft_term(&net.node[0].r), 1);
	T_EQ_INT(elog_raft_leader(&net.node[2].r), 1);
}

/* A follower that heard from its leader within the election timeout
 * ignores a (pre-)vote request for a later term: the lease. */
static void test_leader_lease(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_PREVOTE, .from = 3, .to = 2, .term = 2};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	m.vote.last_term = 1;
	m.vote.last_end = 100;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 0);
	m.type = ELOG_RAFT_MSG_VOTE;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 0);
	T_EQ_INT(elog_raft_term(&net.node[1].r), 1);
	/* ... but a transfer's VOTE is answered */
	m.vote.transfer = 1;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 1);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
}

/* Check quorum: a leader that hears from no majority steps down within an
 * election timeout (then the others elect a new leader). */
static void test_check_quorum_steps_down(void)
{
	net_init(3);
	campaign(0);
	isolate(0, 1);
	tick(0, 10);
	T_EQ_INT(role(0), ELOG_RAFT_FOLLOWER);
	T_EQ_INT(elog_raft_leader(&net.node[0].r), ELOG_RAFT_NONE);
	tick_all_and_run(40);
	T_CHECK(role(1) == ELOG_RAFT_LEADER || role(2) == ELOG_RAFT_LEADER);
}

/*
 * A busy (not quiesced) leader whose followers' answers are late but whose
 * followers' brokers are heard (peer_heard each tick) keeps leading: on a
 * loaded broker, replies queued behind thousands of groups' work must not
 * depose every leader (the start-up storm of 12,000 groups on two cores).
 * Once the brokers are silent too, it steps down within an election timeout.
 */
static void test_check_quorum_counts_heard_brokers(void)
{
	struct elog_raft_outbox out;

	net_init(3);
	campaign(0);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	for (int i = 1; i < 3; i++) /* answers to the leader are lost */
		net.cut[i][0] = 1;
	propose(0, 1);
	net_run();
	T_CHECK(!elog_raft_quiesced(&net.node[0].r));
	for (int k = 0; k < 30; k++) { /* three election timeouts */
		tick(0, 1);
		net_run();
		elog_raft_peer_heard(&net.node[0].r, 2, &out);
		drive(&net, 0, &out, NULL);
		T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	}
	tick(0, 10);
	T_EQ_INT(role(0), ELOG_RAFT_FOLLOWER);
}

/* ---- commit --------------------------------------------------------------- */

/* acks=all: commit counts durable ends, the leader's included. */
static void test_commit_counts_durable(void)
{
	net_init(3);
	campaign(0);
	for (int i = 0; i < 3; i++)
		net.node[i].manual_durable = 1;
	propose(0, 2);
	net_run();
	T_EQ_INT(net.node[0].commit, 1);
	report_durable(&net, 1); /* one follower synced, the leader not: 1 of 3 */
	net_run();
	T_EQ_INT(net.node[0].commit, 1);
	report_durable(&net, 0); /* now 2 of 3 */
	net_run();
	T_EQ_INT(net.node[0].commit, 3);
}

/*
 * Raft §5.4.2 (Figure 8): a new leader does not commit an older term's
 * records by counting; only once a record of its own term is durable on a
 * majority does the commit move (over both).
 */
static void test_commit_own_term_only(void)
{
	net_init(3);
	campaign(0);
	net_run();
	/* node 1 appends in term 1 while cut off from node 3; node 2 gets it */
	net.cut[0][2] = net.cut[2][0] = 1;
	net.node[1].manual_durable = 1;
	propose(0, 3); /* [1, 3] term 1 */
	net_run();
	T_EQ_INT(net.node[0].commit, 1); /* node 2 has not synced it */
	/* node 2 becomes leader of term 2 with node 3's vote; its term start
	 * batch waits on its disk (manual), the old records do not. */
	isolate(0, 1);
	report_durable(&net, 1);
	lease_expire(2);
	campaign(1);
	T_EQ_INT(role(1), ELOG_RAFT_LEADER);
	net.node[2].manual_durable = 1;
	tick(1, 1);
	net_run();
	/* node 3 holds [0, 5): term 1's [1, 3] and term 2's [4, 4] */
	T_EQ_INT(log_end(&net.node[2]), 5);
	T_EQ_INT(elog_raft_commit(&net.node[1].r), 1);
	/* node 3 syncs all, the leader only up to 4: a majority holds [1, 3]
	 * durably, but it is of term 1 — it does not commit by counting */
	report_durable(&net, 2);
	net_run();
	T_EQ_INT(elog_raft_commit(&net.node[1].r), 1);
	/* the leader syncs its term 2 batch: both commit together */
	report_durable(&net, 1);
	net_run();
	T_EQ_INT(elog_raft_commit(&net.node[1].r), 5);
}

/* A follower never takes a commit past what it verified matches. */
static void test_follower_commit_capped(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 1};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	net_run();
	m.heartbeat.commit = 1000;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(elog_raft_commit(&net.node[1].r), 1);
}

/* ---- log repair ----------------------------------------------------------- */

static void test_divergent_tail_truncated(void)
{
	uint32_t rejects_before;

	net_init(3);
	campaign(0);
	net_run();
	tick_all_and_run(1);
	/* node 1 (leader, term 1) appends five batches only it holds */
	isolate(0, 1);
	for (int k = 0; k < 5; k++)
		propose(0, 2);
	T_EQ_INT(log_end(&net.node[0]), 11);
	/* nodes 2 and 3 elect node 2 (term 2), which appends two batches */
	tick(0, 10); /* node 1 steps down, check quorum */
	lease_expire(2);
	campaign(1);
	T_EQ_INT(role(1), ELOG_RAFT_LEADER);
	propose(1, 1);
	net_run();
	T_EQ_INT(log_end(&net.node[1]), 3);
	/* node 1 rejoins: its [1, 11) conflicts with term 2's [1, 4) */
	isolate(0, 0);
	rejects_before = net.node[0].truncations;
	tick_all_and_run(3);
	T_EQ_INT(net.node[0].truncations, rejects_before + 1);
	T_EQ_INT(log_end(&net.node[0]), log_end(&net.node[1]));
	T_EQ_INT(net.node[0].log[1].term, 2);
	T_EQ_INT(net.node[0].commit, log_end(&net.node[1]));
}

/* One rejection is enough: a follower that is behind by many batches of
 * an old term, and holds other terms' records past them. */
static void test_one_round_trip_hint(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 7};
	struct elog_raft_outbox out;
	struct elog_err err;
	struct elog_raft_term_start terms[] = {{1, 0}, {3, 100}, {5, 150}};
	struct elog_raft_log_view v = {0, 200, 200, terms, 3};
	struct elog_raft_hard_state hs = {6, ELOG_RAFT_NONE, 0};
	struct elog_raft_config c;
	struct elog_raft r;

	elog_raft_config_default(&c);
	c.self = 2;
	c.voter_count = 3;
	c.voters[0] = 1, c.voters[1] = 2, c.voters[2] = 3;
	T_OK(elog_raft_init(&r, &c, &hs, &v, 50, ELOG_RAFT_RESTRICT_NONE, &out, &err), &err);
	/* the leader of term 7 has term 1 to 120, then term 4 to 300 */
	m.append.prev_end = 300;
	m.append.prev_term = 4;
	m.append.commit = 120;
	T_OK(elog_raft_step(&r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 1);
	T_EQ_INT(out.msgs[0].append_resp.success, 0);
	T_EQ_INT(out.msgs[0].append_resp.hint_term, 3); /* our largest term <= 4 ... */
	T_EQ_INT(out.msgs[0].append_resp.hint_end, 150); /* ... ends at 150 */
	T_EQ_INT(out.msgs[0].append_resp.commit, 50);
	/* The leader would probe at min(150, its end for terms <= 3 = 120) = 120:
	 * the follower's term 1 records end at 100, so 120 - 1 is term 3 here,
	 * term 1 there: one more rejection, whose hint is (1, 100); then a match. */
	m.append.prev_end = 120;
	m.append.prev_term = 1;
	T_OK(elog_raft_step(&r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].append_resp.success, 0);
	T_EQ_INT(out.msgs[0].append_resp.hint_term, 1);
	T_EQ_INT(out.msgs[0].append_resp.hint_end, 100);
	m.append.prev_end = 100;
	T_OK(elog_raft_step(&r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].append_resp.success, 1);
	T_EQ_INT(out.msgs[0].append_resp.end, 100);
}

/* A follower behind the leader's log start (retention) starts over there. */
static void test_reset_past_retention(void)
{
	struct elog_raft_outbox out;

	net_init(3);
	campaign(0);
	net_run();
	isolate(2, 1);
	for (int k = 0; k < 6; k++)
		propose(0, 3);
	net_run();
	tick_all_and_run(2);
	T_EQ_INT(net.node[0].commit, 19);
	/* retention on the leader deletes below 10 */
	elog_raft_log_trimmed(&net.node[0].r, 10, &out);
	drive(&net, 0, &out, NULL);
	while (net.node[0].count && net.node[0].log[0].last < 10)
		memmove(&net.node[0].log[0], &net.node[0].log[1], --net.node[0].count * sizeof(struct tbatch));
	net.node[0].start = 10;
	isolate(2, 0);
	tick_all_and_run(5);
	T_EQ_INT(net.node[2].resets, 1);
	T_EQ_INT(net.node[2].start, 10);
	T_EQ_INT(log_end(&net.node[2]), 19);
	T_EQ_INT(net.node[2].commit, 19);
}

/*
 * An empty log at offset S (after a reset) is as up to date as the record
 * at S - 1: it must not vote for a candidate that ends before S, which
 * would hand out offsets again. Found by raft_sim (seed 26334).
 */
static void test_reset_log_keeps_its_last_term(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 4};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	m.append.prev_end = 36;
	m.append.prev_term = ELOG_RAFT_TERM_UNKNOWN;
	m.append.leader_start = 36;
	m.append.start_term = 3;
	m.append.commit = 36;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.op_count, 1);
	T_EQ_INT(out.ops[0].type, ELOG_RAFT_OP_RESET);
	T_EQ_INT(elog_raft_commit(&net.node[1].r), 36);
	lease_expire(1);
	memset(&m, 0, sizeof(m));
	m.type = ELOG_RAFT_MSG_VOTE, m.from = 3, m.to = 2, m.term = 9;
	m.vote.last_term = 2; /* ends at 11 with term 2: behind offset 36 */
	m.vote.last_end = 11;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
	m.term = 10;
	m.vote.last_term = 3;
	m.vote.last_end = 36;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 1);
	/* a leader that cannot name the term: no votes until a record arrives */
	net_init(3);
	m.type = ELOG_RAFT_MSG_APPEND, m.from = 1, m.to = 2, m.term = 4;
	memset(&m.append, 0, sizeof(m.append));
	m.append.prev_end = m.append.leader_start = m.append.commit = 36;
	m.append.prev_term = m.append.start_term = ELOG_RAFT_TERM_UNKNOWN;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	lease_expire(1);
	memset(&m, 0, sizeof(m));
	m.type = ELOG_RAFT_MSG_VOTE, m.from = 3, m.to = 2, m.term = 9;
	m.vote.last_term = 2;
	m.vote.last_end = 11;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
}

/* At the leader's log start, a follower whose record there has another
 * term holds nothing of the leader's: it resets, keeping nothing below. */
static void test_reset_when_first_record_differs(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 4};
	struct elog_raft_batch b = {15, 16, 3};
	struct elog_raft_term_start terms[] = {{1, 0}, {2, 10}};
	struct elog_raft_log_view v = {0, 20, 20, terms, 2};
	struct elog_raft_hard_state hs = {2, ELOG_RAFT_NONE, 0};
	struct elog_raft_outbox out;
	struct elog_raft_config c;
	struct elog_raft r;
	struct elog_err err;

	elog_raft_config_default(&c);
	c.self = 2;
	c.voter_count = 3;
	c.voters[0] = 1, c.voters[1] = 2, c.voters[2] = 3;
	T_OK(elog_raft_init(&r, &c, &hs, &v, 5, ELOG_RAFT_RESTRICT_NONE, &out, &err), &err);
	m.append.prev_end = m.append.leader_start = 15;
	m.append.prev_term = ELOG_RAFT_TERM_UNKNOWN;
	m.append.start_term = 3;
	m.append.commit = 17;
	m.append.batches = &b;
	m.append.batch_count = 1;
	T_OK(elog_raft_step(&r, &m, &out, &err), &err);
	T_EQ_INT(out.op_count, 2);
	T_EQ_INT(out.ops[0].type, ELOG_RAFT_OP_RESET);
	T_EQ_INT(out.ops[0].offset, 15);
	T_EQ_INT(out.ops[1].type, ELOG_RAFT_OP_APPEND);
	T_EQ_INT(elog_raft_commit(&r), 17);
}

/* ---- transfer, quiescence ------------------------------------------------- */

static void test_transfer_leadership(void)
{
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	net_run();
	T_OK(elog_raft_transfer_leadership(&net.node[0].r, 3, &out, &err), &err);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_REFUSE_TRANSFERRING);
	drive(&net, 0, &out, NULL);
	net_run();
	T_EQ_INT(role(2), ELOG_RAFT_LEADER);
	T_EQ_INT(role(0), ELOG_RAFT_FOLLOWER);
	T_EQ_INT(elog_raft_term(&net.node[2].r), 2);
	T_CHECK(elog_raft_transfer_leadership(&net.node[0].r, 2, &out, &err) < 0);
}

/* A transfer given up (its target is shutting down) takes proposals again
 * at once, and this leader keeps its term; one not yet started is nothing. */
static void test_transfer_abort(void)
{
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	net_run();
	elog_raft_transfer_abort(&net.node[0].r);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_PROPOSE_OK);
	T_OK(elog_raft_transfer_leadership(&net.node[0].r, 2, &out, &err), &err);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_REFUSE_TRANSFERRING);
	elog_raft_transfer_abort(&net.node[0].r);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_PROPOSE_OK);
	/* Its TIMEOUT_NOW refused (not driven): the leader leads on. */
	T_CHECK(out.msg_count == 1 && out.msgs[0].type == ELOG_RAFT_MSG_TIMEOUT_NOW);
	net_run();
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	T_EQ_INT(elog_raft_term(&net.node[0].r), 1);
	/* A transfer asked again afterwards starts afresh and completes. */
	T_OK(elog_raft_transfer_leadership(&net.node[0].r, 2, &out, &err), &err);
	drive(&net, 0, &out, NULL);
	net_run();
	T_EQ_INT(role(1), ELOG_RAFT_LEADER);
}

static uint32_t total_sent(void)
{
	uint32_t s = 0;

	for (int k = 0; k <= ELOG_RAFT_MSG_TIMEOUT_NOW; k++)
		s += net.sent[k];
	return s;
}

/* An idle group goes quiet: no messages while the brokers say they are
 * alive; a proposal wakes it; a silent leader broker lets followers elect. */
static void test_quiescence(void)
{
	struct elog_raft_outbox out;
	uint32_t before;

	net_init(3);
	campaign(0);
	tick_all_and_run(5);
	T_CHECK(elog_raft_quiesced(&net.node[0].r));
	T_CHECK(elog_raft_quiesced(&net.node[1].r) && elog_raft_quiesced(&net.node[2].r));
	before = total_sent();
	for (int k = 0; k < 100; k++) { /* 10 election timeouts */
		tick_all_and_run(1);
		elog_raft_peer_heard(&net.node[0].r, 2, &out);
		drive(&net, 0, &out, NULL);
		elog_raft_peer_heard(&net.node[0].r, 3, &out);
		drive(&net, 0, &out, NULL);
		for (int i = 1; i < 3; i++) {
			elog_raft_leader_heard(&net.node[i].r, &out);
			drive(&net, i, &out, NULL);
		}
	}
	T_EQ_INT(total_sent(), before);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	/* a proposal wakes everyone */
	propose(0, 1);
	net_run();
	T_CHECK(!elog_raft_quiesced(&net.node[0].r) && !elog_raft_quiesced(&net.node[1].r));
	tick_all_and_run(5);
	T_CHECK(elog_raft_quiesced(&net.node[1].r));
	/* the leader's broker dies: no more leader_heard; followers elect */
	isolate(0, 1);
	for (int k = 0; k < 60; k++) {
		tick(1, 1);
		tick(2, 1);
		net_run();
	}
	T_CHECK(role(1) == ELOG_RAFT_LEADER || role(2) == ELOG_RAFT_LEADER);
}

/* A driver that never reports broker liveness costs messages, not the
 * leader: quiesced nodes wake each other after half an election timeout. */
static void test_quiescence_without_liveness_reports(void)
{
	net_init(3);
	campaign(0);
	tick_all_and_run(5);
	T_CHECK(elog_raft_quiesced(&net.node[0].r));
	tick_all_and_run(300);
	T_EQ_INT(role(0), ELOG_RAFT_LEADER);
	T_EQ_INT(elog_raft_term(&net.node[1].r), 1);
	T_EQ_INT(elog_raft_term(&net.node[2].r), 1);
}

/* ---- restriction ---------------------------------------------------------- */

/*
 * A replica that lost data it acknowledged: a new term (hard state with
 * restricted_term), no votes, no campaign; it lifts itself once it holds
 * durably a commit of a later leader's own term.
 */
static void test_restriction(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_PREVOTE, .from = 1, .to = 3};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	campaign(0);
	propose(0, 4);
	net_run();
	tick_all_and_run(2);
	T_EQ_INT(net.node[2].commit, 5);
	/* node 3: damage found from offset 3 on, below its commit */
	elog_raft_restrict(&net.node[2].r, ELOG_RAFT_RESTRICT_DAMAGED, 1, &out);
	T_CHECK(out.hard_state_changed);
	T_EQ_INT(out.hard_state.term, 2);
	T_EQ_INT(out.hard_state.restricted_term, 2);
	T_EQ_INT(out.op_count, 1);
	T_EQ_INT(out.ops[0].type, ELOG_RAFT_OP_TRUNCATE);
	T_EQ_INT(out.ops[0].offset, 1);
	T_CHECK(out.commit_changed && out.commit == 1); /* the data is gone here */
	T_CHECK(out.restriction_changed && out.restriction == ELOG_RAFT_RESTRICT_DAMAGED);
	drive(&net, 2, &out, NULL);
	T_CHECK(elog_raft_restricted(&net.node[2].r));
	/* it refuses pre-votes and votes, whatever the logs */
	m.term = 3;
	m.vote.last_term = 9;
	m.vote.last_end = 1000;
	tick(2, 30); /* out of any lease */
	T_OK(elog_raft_step(&net.node[2].r, &m, &out, &err), &err);
	T_EQ_INT(out.msg_count, 1);
	T_EQ_INT(out.msgs[0].vote_resp.granted, 0);
	/* and never campaigns: on its timeout it calls out instead */
	net.head = net.tail;
	tick(2, 25);
	T_EQ_INT(role(2), ELOG_RAFT_FOLLOWER);
	T_EQ_INT(elog_raft_term(&net.node[2].r), 2);
	/* the others elect a leader in term >= 2, which repairs node 3 */
	tick_all_and_run(60);
	T_CHECK(role(0) == ELOG_RAFT_LEADER || role(1) == ELOG_RAFT_LEADER);
	T_CHECK(!elog_raft_restricted(&net.node[2].r));
	T_EQ_INT(net.node[2].restricted_reported, 0);
	T_EQ_INT(net.node[2].hs.restricted_term, 0);
	T_EQ_INT(log_end(&net.node[2]), log_end(&net.node[0]));
}

/*
 * The restriction lifts only on a commit whose last record is of the
 * current leader's term: a commit over older records, however durable, may
 * stop short of records this replica acknowledged and lost.
 */
static void test_restriction_lifts_on_own_term_commit_only(void)
{
	struct elog_raft_outbox out;
	int l;

	net_init(3);
	campaign(0);
	propose(0, 4);
	net_run();
	tick_all_and_run(2);
	elog_raft_restrict(&net.node[2].r, ELOG_RAFT_RESTRICT_DAMAGED, 1, &out);
	drive(&net, 2, &out, NULL);
	/* nodes 1 and 2 elect a leader of a later term; its term start batch
	 * is synced nowhere but on node 3, so the commit it can offer stays at
	 * the term 1 records, which node 3 gets back durably */
	net.node[1].manual_durable = net.node[0].manual_durable = 1;
	tick_all_and_run(60);
	l = role(0) == ELOG_RAFT_LEADER ? 0 : 1;
	T_EQ_INT(role(l), ELOG_RAFT_LEADER);
	T_EQ_INT(log_end(&net.node[2]), log_end(&net.node[l]));
	T_EQ_INT(net.node[2].durable, log_end(&net.node[l]));
	T_EQ_INT(elog_raft_commit(&net.node[2].r), 5);
	T_CHECK(elog_raft_restricted(&net.node[2].r)); /* commit 5 is of term 1 */
	report_durable(&net, l);
	tick_all_and_run(3);
	T_EQ_INT(elog_raft_commit(&net.node[2].r), log_end(&net.node[l]));
	T_CHECK(!elog_raft_restricted(&net.node[2].r));
}

/* A restriction given at init (unclean restart) survives as hard state. */
static void test_restriction_at_init(void)
{
	struct elog_raft_config c;
	struct elog_raft_hard_state hs = {4, 2, 0};
	struct elog_raft_log_view v = {0, 0, 0, NULL, 0};
	struct elog_raft_outbox out;
	struct elog_raft r;
	struct elog_err err;

	elog_raft_config_default(&c);
	c.self = 1;
	c.voter_count = 3;
	c.voters[0] = 1, c.voters[1] = 2, c.voters[2] = 3;
	T_OK(elog_raft_init(&r, &c, &hs, &v, 0, ELOG_RAFT_RESTRICT_UNCLEAN, &out, &err), &err);
	T_CHECK(elog_raft_restricted(&r));
	T_CHECK(out.hard_state_changed); /* at once, not at the first tick */
	T_CHECK(out.restriction_changed && out.restriction == ELOG_RAFT_RESTRICT_UNCLEAN);
	T_EQ_INT(out.hard_state.term, 5);
	T_EQ_INT(out.hard_state.vote, ELOG_RAFT_NONE);
	T_EQ_INT(out.hard_state.restricted_term, 5);
	/* a group of one ignores it: there is nobody to catch up from */
	c.voter_count = 1;
	hs.vote = ELOG_RAFT_NONE;
	T_OK(elog_raft_init(&r, &c, &hs, &v, 0, ELOG_RAFT_RESTRICT_UNCLEAN, &out, &err), &err);
	T_CHECK(!elog_raft_restricted(&r));
}

/* ---- proposals, input checks, term cache ---------------------------------- */

static void test_propose_refusals(void)
{
	net_init(3);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_REFUSE_NOT_LEADER);
	campaign(0);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_PROPOSE_OK);
	net.node[0].r.config.uncommitted_offsets_max = 4; /* (a config the test shrinks) */
	isolate(0, 1);
	propose(0, 4);
	T_EQ_INT(elog_raft_propose_check(&net.node[0].r), ELOG_RAFT_REFUSE_BACKLOG);
}

static void test_malformed_messages_refused(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1};
	struct elog_raft_batch b[2] = {{0, 4, 1}, {6, 7, 1}};
	struct elog_raft_outbox out;
	struct elog_err err;

	net_init(3);
	m.from = 9;
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0); /* not a voter */
	m.from = 2;
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0); /* from self */
	m.from = 1;
	m.term = 0;
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0);
	m.term = 1;
	m.append.batches = b;
	m.append.batch_count = 2; /* a gap between the batches */
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0);
	b[1].base = 5;
	b[1].term = 2; /* past the message term */
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0);
	b[1].term = 1;
	m.append.prev_end = 9; /* the first batch does not hold prev_end */
	T_CHECK(elog_raft_step(&net.node[1].r, &m, &out, &err) < 0);
	m.append.prev_end = 0;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.op_count, 1);
	T_EQ_INT(out.ops[0].type, ELOG_RAFT_OP_APPEND);
	T_EQ_INT(out.ops[0].end, 8);
}

/* The term cache keeps at most ELOG_RAFT_TERMS_MAX entries, dropping only
 * committed ranges; below them a follower still matches what it committed. */
static void test_term_cache_bounded(void)
{
	struct elog_raft_msg m = {.type = ELOG_RAFT_MSG_APPEND, .from = 1, .to = 2};
	struct elog_raft_batch b;
	struct elog_raft_outbox out;
	struct elog_err err;
	uint32_t count;

	net_init(3);
	for (uint64_t t = 1; t <= ELOG_RAFT_TERMS_MAX + 10; t++) {
		int64_t at = (int64_t)t - 1;
		m.term = t;
		m.append.prev_end = at;
		m.append.prev_term = t - 1;
		m.append.commit = at; /* everything before this batch is committed */
		b.base = b.last = at;
		b.term = t;
		m.append.batches = &b;
		m.append.batch_count = 1;
		T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
		T_EQ_INT(out.op_count, 1);
		T_EQ_INT(out.msg_count, 0); /* answered once written */
		elog_raft_log_written(&net.node[1].r, at + 1, &out);
		T_EQ_INT(out.msg_count, 1);
		T_EQ_INT(out.msgs[0].append_resp.success, 1);
		T_EQ_INT(out.msgs[0].append_resp.end, at + 1);
	}
	/* committed entries go once the cache is half full */
	elog_raft_terms(&net.node[1].r, &count);
	T_CHECK(count <= ELOG_RAFT_TERMS_MAX / 2 + 1);
	T_EQ_INT(elog_raft_term_at(&net.node[1].r, 0), ELOG_RAFT_TERM_UNKNOWN);
	T_EQ_INT(elog_raft_term_at(&net.node[1].r, ELOG_RAFT_TERMS_MAX + 9), ELOG_RAFT_TERMS_MAX + 10);
	/* a probe below the cache, at or below our commit, matches */
	m.append.prev_end = 3;
	m.append.prev_term = ELOG_RAFT_TERM_UNKNOWN;
	m.append.batch_count = 0;
	T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
	T_EQ_INT(out.msgs[0].append_resp.success, 1);
	/* nothing committed: the cache fills, and a record of one more term
	 * waits (the answer says how far it got) */
	net_init(3);
	for (uint64_t t = 1; t <= ELOG_RAFT_TERMS_MAX + 1; t++) {
		int64_t at = (int64_t)t - 1;
		m.term = t;
		m.append.prev_end = at;
		m.append.prev_term = t - 1;
		m.append.commit = 0;
		b.base = b.last = at;
		b.term = t;
		m.append.batch_count = 1;
		T_OK(elog_raft_step(&net.node[1].r, &m, &out, &err), &err);
		if (t <= ELOG_RAFT_TERMS_MAX) {
			T_EQ_INT(out.op_count, 1);
			elog_raft_log_written(&net.node[1].r, at + 1, &out);
		} else {
			T_EQ_INT(out.op_count, 0);
			T_EQ_INT(out.msgs[0].append_resp.success, 1);
			T_EQ_INT(out.msgs[0].append_resp.end, at);
		}
	}
	elog_raft_terms(&net.node[1].r, &count);
	T_EQ_INT(count, ELOG_RAFT_TERMS_MAX);
}

/* A deposed leader learns of the later term from any answer and steps down. */
static void test_stale_leader_steps_down(void)
{
	net_init(3);
	campaign(0);
	isolate(0, 1);
	lease_expire(2);
	campaign(1);
	T_EQ_INT(role(1), ELOG_RAFT_LEADER);
	isolate(0, 0);
	propose(0, 1); /* the old leader still thinks it leads */
	net_run();
	T_EQ_INT(role(0), ELOG_RAFT_FOLLOWER);
	T_EQ_INT(elog_raft_term(&net.node[0].r), 2);
}

int main(void)
{
	T_RUN(test_single_voter);
	T_RUN(test_election_and_replication);
	T_RUN(test_vote_once_per_term);
	T_RUN(test_vote_requires_up_to_date_log);
	T_RUN(test_prevote_keeps_partitioned_node_harmless);
	T_RUN(test_leader_lease);
	T_RUN(test_check_quorum_steps_down);
	T_RUN(test_check_quorum_counts_heard_brokers);
	T_RUN(test_commit_counts_durable);
	T_RUN(test_commit_own_term_only);
	T_RUN(test_follower_commit_capped);
	T_RUN(test_divergent_tail_truncated);
	T_RUN(test_one_round_trip_hint);
	T_RUN(test_reset_past_retention);
	T_RUN(test_reset_log_keeps_its_last_term);
	T_RUN(test_reset_when_first_record_differs);
	T_RUN(test_transfer_leadership);
	T_RUN(test_transfer_abort);
	T_RUN(test_quiescence);
	T_RUN(test_quiescence_without_liveness_reports);
	T_RUN(test_restriction);
	T_RUN(test_restriction_lifts_on_own_term_commit_only);
	T_RUN(test_restriction_at_init);
	T_RUN(test_propose_refusals);
	T_RUN(test_malformed_messages_refused);
	T_RUN(test_term_cache_bounded);
	T_RUN(test_stale_leader_steps_down);
	return t_finish();
}
