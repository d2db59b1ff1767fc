/*
 * sim.h — the deterministic simulator of the Raft core (raft_sim).
 *
 * N nodes, each an elog_raft core over simulated storage, driven by a
 * simulated driver that carries out outboxes as the broker will (hard
 * state persisted before any message of the outbox; log ops in order;
 * durability reported later, after a random delay). A seeded schedule of
 * events — ticks, message deliveries, storage completions, client
 * proposals and faults — runs in simulated time; every event is checked
 * (sim_check.c). Same seed, same run: nothing reads a clock, an address
 * or the environment.
 *
 *   raft_sim.c    options, the seed loop, the event queue, faults, phases
 *   sim_node.c    storage and the driver of one node
 *   sim_check.c   the safety and liveness checks, the trace
 */
#ifndef ELOG_SIM_H
#define ELOG_SIM_H

#include <stdint.h>

#include "raft.h"

#define SIM_NODES_MAX 7
#define SIM_BATCHES_MAX 4096       /* per node log */
#define SIM_APPEND_BATCHES 8       /* batches one APPEND carries, at most */
#define SIM_MSGS_MAX 16384         /* messages in the network */
#define SIM_EVENTS_MAX 65536
#define SIM_PENDING_MAX 256        /* proposals waiting for their ack, per node */
#define SIM_TICK_UNITS 10          /* simulated time units per tick */
#define SIM_COMMITTED_MAX 16384    /* batches ever committed in one run */

enum sim_flush { SIM_FLUSH_ALWAYS = 0, SIM_FLUSH_NEVER = 1 };

/* A batch as storage holds it: what the batch header says, plus the
 * "bytes" (a payload id) and whether they are damaged. */
struct sim_batch {
	int64_t base, last;
	uint64_t term;
	uint64_t payload;   /* unique per proposal; control batches too */
	uint8_t corrupt;
};

struct sim_storage {
	int64_t start;                 /* log start offset */
	uint32_t count;                /* batches held, from start */
	uint32_t durable;              /* of them, the first `durable` are on disk */
	struct sim_batch b[SIM_BATCHES_MAX];
	struct elog_raft_hard_state hs; /* written (durably) before any message leaves */
	uint32_t term_count;           /* the term cache, saved after each outbox's log ops */
	struct elog_raft_term_start terms[ELOG_RAFT_TERMS_MAX];
};

struct sim_pending {
	int64_t base, last;
	uint64_t term, payload;
};

struct sim_node {
	int32_t id;
	int alive;
	uint32_t incarnation;          /* events of an earlier life are ignored */
	int64_t paused_until;          /* SIGSTOP: nothing happens to it before this time */
	struct elog_raft raft;
	struct sim_storage st;
	int64_t last_commit;           /* commit as last reported, this life */
	int64_t checked_commit;        /* batches below were checked against the committed log */
	int64_t commit_checkpoint;     /* what a driver might have saved for a restart */
	int sync_scheduled, written_scheduled;
	uint32_t durable_pending;      /* EV_DURABLE reports scheduled, this life */
	int64_t durable_reported;      /* last durable end given to the core */
	uint64_t ticks;                /* ticks this life (its own clock) */
	uint64_t heard_tick[SIM_NODES_MAX]; /* its tick when it last heard from each node */
	int cut_expected;              /* a restrict cut may move commit back now */
	enum elog_raft_restriction boot_restriction; /* why the next boot is restricted */
	int repairing;                 /* restricted for damage, not lifted yet */
	uint32_t pending_count;
	struct sim_pending pending[SIM_PENDING_MAX];
};

/* A message in the network, with the bytes an APPEND carries. */
struct sim_msg {
	struct elog_raft_msg m;
	uint32_t batch_count;
	struct elog_raft_batch batches[SIM_APPEND_BATCHES];
	uint64_t payloads[SIM_APPEND_BATCHES];
	int next_free;
	int suppressed;                /* the driver could not build it: not sent */
};

enum sim_event_type {
	EV_TICK, EV_DELIVER, EV_SYNC, EV_DURABLE, EV_WRITTEN, EV_PROPOSE, EV_FAULT,
	EV_RESTART, EV_HEAL, EV_TERM_START,
};

struct sim_event {
	int64_t time;
	uint64_t seq;                  /* ties broken by scheduling order */
	enum sim_event_type type;
	int node;
	uint32_t incarnation;
	int msg;                       /* EV_DELIVER: index into msgs */
};

/* What the seed chose: which faults, how often (swarm testing). */
struct sim_params {
	uint32_t nodes;
	enum sim_flush flush;
	uint32_t election_ticks, heartbeat_ticks, inflight_max;
	int64_t backlog_max;           /* config.uncommitted_offsets_max */
	uint32_t drop_permille, dup_permille, delay_max_units;
	uint32_t fault_every_ticks;    /* mean ticks between faults; 0 = none */
	uint8_t crash_minority;        /* crash only while dead + restricted nodes are a minority */
	uint8_t crash, partition, one_way, corrupt, clock_jump, transfer, pause, trim, clean_restart;
	uint8_t isolate;               /* cut one node off for a long time */
	uint32_t term_start_delay_permille; /* the driver appends the term start late */
	uint32_t chaos_ticks;          /* faults stop after this */
	uint32_t propose_every_units;
};

struct sim {
	uint64_t seed;
	int verbose;
	uint64_t rng;
	struct sim_params p;
	int64_t now;
	uint64_t event_seq;
	uint32_t event_count;
	struct sim_event events[SIM_EVENTS_MAX]; /* binary heap on (time, seq) */
	struct sim_msg msgs[SIM_MSGS_MAX];
	int msg_free, msg_high;        /* free list; never used from msg_high on */
	uint32_t msgs_in_flight;
	uint8_t link_down[SIM_NODES_MAX][SIM_NODES_MAX]; /* [from][to] */
	struct sim_node nodes[SIM_NODES_MAX];
	int healed;                    /* chaos over: no faults, no drops */
	int64_t healed_at;
	uint64_t live_payload;         /* first payload proposed after healing */
	int live_acked;                /* a proposal made after healing was acknowledged */
	int exempt;                    /* a majority was restricted: no leader is possible */
	int stalled;                   /* no leader: term caches full of uncommitted terms */
	uint64_t msgs_at_quiet;        /* stat_msgs when the final quiet window began */
	uint64_t next_payload;
	/* the checks' memory */
	uint32_t committed_count;
	struct sim_batch committed[SIM_COMMITTED_MAX]; /* every batch ever committed, by offset */
	uint8_t committed_acked[SIM_COMMITTED_MAX];
	uint64_t committed_term[SIM_COMMITTED_MAX]; /* term of the node that first committed it */
	int32_t *leader_of_term;       /* term -> node id, or 0 */
	uint64_t leader_of_term_cap;
	uint32_t acked_count;
	uint64_t steps;
	/* statistics */
	uint64_t stat_elections, stat_acked, stat_crashes, stat_corruptions, stat_restrictions,
		stat_lifts, stat_truncations, stat_resets, stat_msgs, stat_quiesced_ticks;
	uint32_t damaged_nodes_max;    /* nodes that may carry damage at once */
};

/* raft_sim.c */
uint64_t sim_rand(struct sim *s);
uint32_t sim_below(struct sim *s, uint32_t n);     /* uniform in [0, n) */
int sim_chance(struct sim *s, uint32_t permille);
void sim_schedule(struct sim *s, int64_t time, enum sim_event_type type, int node, int msg);
void sim_send(struct sim *s, int from, const struct sim_msg *msg);
int sim_node_index(const struct sim *s, int32_t id);

/* sim_node.c */
void node_boot(struct sim *s, struct sim_node *n, enum elog_raft_restriction why);
void node_crash(struct sim *s, struct sim_node *n, int clean);
void node_handle(struct sim *s, struct sim_node *n, struct elog_raft_outbox *out,
		 const struct sim_msg *stepped);
void node_tick(struct sim *s, struct sim_node *n);
void node_deliver(struct sim *s, struct sim_node *n, const struct sim_msg *msg);
void node_written(struct sim *s, struct sim_node *n);
void node_sync(struct sim *s, struct sim_node *n);
void node_durable(struct sim *s, struct sim_node *n);
int node_propose(struct sim *s, struct sim_node *n, uint64_t *payload);
void node_corrupt(struct sim *s, struct sim_node *n);
int node_damaged(const struct sim_node *n);
void node_scrub(struct sim *s, struct sim_node *n);
void node_trim(struct sim *s, struct sim_node *n);
void node_term_start(struct sim *s, struct sim_node *n, uint64_t term);
void node_heard(struct sim *s, struct sim_node *n, int from);
int64_t node_end(const struct sim_node *n);
int64_t node_durable_end(const struct sim_node *n);
int node_find(const struct sim_node *n, int64_t offset);  /* batch index holding offset, -1 */

/* sim_check.c */
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void sim_trace(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_became_leader(struct sim *s, struct sim_node *n);
void check_commit(struct sim *s, struct sim_node *n, int64_t commit);
void check_appended(struct sim *s, struct sim_node *n, uint32_t first);
void check_node(struct sim *s, struct sim_node *n);
void check_quorum_kept(struct sim *s, struct sim_node *n);
void check_acked(struct sim *s, struct sim_node *n, const struct sim_pending *p);
void check_final(struct sim *s, int leader);
void trace_outbox(struct sim *s, const struct sim_node *n, const struct elog_raft_outbox *out);
void trace_msg(struct sim *s, const char *what, const struct sim_msg *msg);

#endif
