/*
 * raft — the pure Raft core of one replication group (a partition, or the
 * cluster metadata). No I/O, no clock, no allocation: the caller (the
 * driver) feeds it inputs and carries out what it asks for. The simulator
 * (tests/sim/raft_sim.c) drives it the same way. docs/raft.md explains the
 * protocol, the safety arguments and the driver's duties at length.
 *
 * The log is elog's partition log. Positions are record OFFSETS; entries
 * are batches [base, last] carrying a term (the batch header's
 * leader_term). The core never sees record bytes. It knows the local log
 * as a view: start offset, end offset (next offset), written end, durable
 * end, and a bounded term cache — (term, first offset of that term) pairs,
 * Kafka's leader-epoch cache — from which term_at(offset) is answered.
 * A leader assigns offsets densely within its term, so two logs holding a
 * record at the same offset with the same term are identical up to it
 * (log matching).
 *
 * Invariants (asserted):
 *   - start <= commit <= end; durable_end <= written_end <= end. Every
 *     record below start was committed (retention only deletes below the
 *     commit offset; a reset starts at a leader's log start).
 *   - The term cache is strictly increasing in term and in first offset;
 *     its last entry starts below end. An entry is only dropped once the
 *     next one starts at or below start (retention) or at or below the
 *     commit offset (the cache is full), or by a cut: term_at is UNKNOWN
 *     only for committed offsets. A node that does not know the term of
 *     its last record neither votes nor campaigns.
 *   - commit never moves back, except through elog_raft_restrict with a
 *     cut below it (the node lost data; it reports that).
 *   - No record below commit is ever truncated; a leader never truncates
 *     or overwrites its own log; a follower truncates only records that
 *     conflict with the current leader's log.
 *   - Votes are granted at most once per term; the hard state is handed to
 *     the driver to persist before any message that depends on it.
 *   - A leader's commit only moves by counting durable ends (leader
 *     included) of a majority, and only to an offset whose last record is
 *     of the leader's term. A follower reports its durable end only as
 *     far as its log is known to match the leader's.
 *
 * Calling sequence (one group; everything on one thread):
 *   elog_raft_init(&r, &config, &hard_state, &log_view, commit, restriction, &out, err)
 *   then any number of inputs, each filling a caller-owned outbox:
 *     elog_raft_tick              every tick (the driver's clock)
 *     elog_raft_step              every message received for the group
 *     elog_raft_propose_check     before a leader appends a client batch
 *     elog_raft_leader_appended   after the leader appended a batch
 *     elog_raft_append_sent       for every APPEND of the outbox, once built
 *     elog_raft_log_written       after the log operations were carried out
 *     elog_raft_log_durable       when the durable end moved
 *     elog_raft_log_trimmed       after retention deleted segments
 *     elog_raft_transfer_leadership, elog_raft_restrict, elog_raft_campaign
 *     elog_raft_peer_heard, elog_raft_leader_heard   (quiescence)
 *   After every input the driver handles the outbox, in this order:
 *     1. hard_state: make it durable (fsync) before sending any message of
 *        this outbox or a later one;
 *     2. ops, in order: truncate / reset must be done (and durable)
 *        before the group's next input; appends may complete later, in
 *        order, reported by elog_raft_log_written;
 *     3. msgs: send them; for each APPEND, read batches from prev_end (the
 *        batch holding prev_end first) up to a byte budget — at least one
 *        batch unless prev_end is the log end — then call
 *        elog_raft_append_sent before the group's next other input (if
 *        the first batch cannot be read, send nothing, report end =
 *        prev_end, and call elog_raft_restrict);
 *     4. commit, role, term_start, restriction and terms changes.
 *   elog_raft_release(&r) when done (nothing to free; it poisons the struct).
 *
 * Untrusted input: elog_raft_step checks every field a peer controls and
 * returns -1 (with err) for a malformed message, which it ignores.
 * Programmer errors (a wrong call order, an offset the core never asked
 * for) are asserts.
 */
#ifndef ELOG_RAFT_H
#define ELOG_RAFT_H

#include <stdint.h>

#include "err.h"

#define ELOG_RAFT_VOTERS_MAX 7
#define ELOG_RAFT_NONE (-1)                  /* no node (no vote, no leader) */
#define ELOG_RAFT_TERM_UNKNOWN UINT64_MAX    /* prev_term the leader does not know */
#ifndef ELOG_RAFT_TERMS_MAX
#define ELOG_RAFT_TERMS_MAX 64               /* term cache entries */
#endif
#define ELOG_RAFT_INFLIGHT_MAX 16            /* bound of config.inflight_max */
#define ELOG_RAFT_APPEND_BATCHES_MAX 4096    /* batch descriptors in one APPEND */
#define ELOG_RAFT_OUTBOX_MSGS_MAX (4 * ELOG_RAFT_VOTERS_MAX)
#define ELOG_RAFT_OUTBOX_OPS_MAX 4

_Static_assert(ELOG_RAFT_TERMS_MAX >= 2, "the term cache holds at least two terms");

enum elog_raft_role {
	ELOG_RAFT_FOLLOWER = 0,
	ELOG_RAFT_PRECANDIDATE = 1, /* asking for pre-votes; term unchanged */
	ELOG_RAFT_CANDIDATE = 2,
	ELOG_RAFT_LEADER = 3,
};

/* Why a replica may not vote or campaign (see elog_raft_restrict). */
enum elog_raft_restriction {
	ELOG_RAFT_RESTRICT_NONE = 0,
	ELOG_RAFT_RESTRICT_UNCLEAN = 1, /* restart after a crash lost writes it had acknowledged
	                                   (a flush=never log reports appended as durable) */
	ELOG_RAFT_RESTRICT_DAMAGED = 2, /* stored data found damaged */
};

/* Why elog_raft_propose_check refuses. */
enum elog_raft_refusal {
	ELOG_RAFT_PROPOSE_OK = 0,
	ELOG_RAFT_REFUSE_NOT_LEADER = 1,   /* answer NOT_LEADER with elog_raft_leader() */
	ELOG_RAFT_REFUSE_TRANSFERRING = 2, /* leadership is being handed over: retry shortly */
	ELOG_RAFT_REFUSE_BACKLOG = 3,      /* end - commit >= config.uncommitted_offsets_max */
};

/*
 * What must be durable across restarts. `restricted_term` is not 0 while
 * the replica is restricted: it must survive a restart, or a damaged
 * replica whose driver cut the damage away would come back unrestricted.
 */
struct elog_raft_hard_state {
	uint64_t term;
	int32_t vote;             /* ELOG_RAFT_NONE or the node voted for in term */
	uint64_t restricted_term; /* 0, or the term the restriction began in */
};

/* One term cache entry: records from `start` on have `term` (until the next entry). */
struct elog_raft_term_start {
	uint64_t term;
	int64_t start;
};

/* The local log as the core sees it. */
struct elog_raft_log_view {
	int64_t start;       /* first offset held (log start) */
	int64_t end;         /* one past the last record */
	int64_t durable_end; /* records below are durable per the topic's flush policy */
	const struct elog_raft_term_start *terms; /* every term in [start, end), oldest first;
	                                             the first may start below `start` */
	uint32_t term_count;
};

struct elog_raft_config {
	int32_t self;                               /* this node's id (>= 0) */
	int32_t voters[ELOG_RAFT_VOTERS_MAX];       /* every voter, self included, no repeats */
	uint32_t voter_count;                       /* 1 .. ELOG_RAFT_VOTERS_MAX */
	uint32_t election_ticks;                    /* T: timeouts are drawn from [T, 2T) */
	uint32_t heartbeat_ticks;                   /* < election_ticks */
	uint32_t inflight_max;                      /* pipelined APPENDs per follower, 1..16 */
	int64_t uncommitted_offsets_max;            /* refuse proposals past this backlog; 0 = none */
	uint64_t seed;                              /* for the randomized election timeout */
};

/* Defaults: election 10 ticks, heartbeat 1 tick, 4 in flight, no backlog bound. */
void elog_raft_config_default(struct elog_raft_config *c);

/* ---- messages ------------------------------------------------------------ */

enum elog_raft_msg_type {
	ELOG_RAFT_MSG_APPEND = 1,
	ELOG_RAFT_MSG_APPEND_RESP = 2,
	ELOG_RAFT_MSG_VOTE = 3,
	ELOG_RAFT_MSG_PREVOTE = 4,
	ELOG_RAFT_MSG_VOTE_RESP = 5,
	ELOG_RAFT_MSG_HEARTBEAT = 6,
	ELOG_RAFT_MSG_HEARTBEAT_RESP = 7,
	ELOG_RAFT_MSG_TIMEOUT_NOW = 8,
};

/* A batch as the receiving driver read it from the bytes of an APPEND. */
struct elog_raft_batch {
	int64_t base;  /* base_offset */
	int64_t last;  /* base_offset + last_offset_delta */
	uint64_t term; /* leader_term */
};

/*
 * APPEND, leader -> follower. The core fills prev_end, prev_term, commit
 * and leader_start; the sending driver adds the batches it read from
 * prev_end on; the receiving driver fills `batches` from them (contiguous,
 * the first one holding prev_end, or starting at it).
 */
struct elog_raft_append {
	int64_t prev_end;       /* the follower's log must match the leader's below this */
	uint64_t prev_term;     /* term of the record at prev_end - 1; 0 when prev_end is 0;
	                           ELOG_RAFT_TERM_UNKNOWN when the leader does not know it */
	int64_t commit;         /* the leader's commit offset */
	int64_t leader_start;   /* the leader's log start */
	uint64_t start_term;    /* term of its record at leader_start - 1 (0 when
	                           leader_start is 0; UNKNOWN if it cannot tell) */
	const struct elog_raft_batch *batches; /* received side only */
	uint32_t batch_count;
};

/*
 * APPEND_RESP, follower -> leader. Sent for every APPEND (after the log
 * writes it caused) and, unasked, whenever the durable end advances.
 */
struct elog_raft_append_resp {
	uint8_t success;
	int64_t end;         /* success: the follower's log matches the leader's below this;
	                        reject: the prev_end that was rejected */
	int64_t durable_end; /* the follower's durable end, counted only as far as its
	                        log is known to match the leader's (this term) */
	int64_t commit;      /* the follower's commit offset */
	uint64_t hint_term;  /* reject: the largest term <= prev_term the follower holds
	                        below prev_end (0: none) ... */
	int64_t hint_end;    /* ... and the end of its records with terms <= hint_term */
};

/* VOTE and PREVOTE, candidate -> voters. A PREVOTE's term is the candidate's term + 1. */
struct elog_raft_vote {
	int64_t last_end;    /* candidate's log end */
	uint64_t last_term;  /* term of its last record (0: none) */
	uint8_t transfer;    /* VOTE after TIMEOUT_NOW: voters skip the leader lease */
};

struct elog_raft_vote_resp {
	uint8_t granted;
	uint8_t prevote;
};

/* HEARTBEAT, leader -> follower. */
struct elog_raft_heartbeat {
	int64_t commit;
	uint8_t quiesce;     /* every follower is caught up: stop counting election
	                        ticks while the driver reports the leader alive */
};

/*
 * HEARTBEAT_RESP, follower -> leader. Also sent unasked by a restricted
 * replica whose election timeout passes (it cannot campaign, so it tells
 * the others its term, which makes a stale leader step down).
 */
struct elog_raft_heartbeat_resp {
	int64_t durable_end; /* as in APPEND_RESP */
	int64_t commit;
	uint8_t wake;        /* unasked, from a quiesced follower that heard nothing
	                        for half an election timeout: heartbeat again */
};

struct elog_raft_msg {
	enum elog_raft_msg_type type;
	int32_t from, to;
	uint64_t term;
	union {
		struct elog_raft_append append;
		struct elog_raft_append_resp append_resp;
		struct elog_raft_vote vote;           /* VOTE and PREVOTE */
		struct elog_raft_vote_resp vote_resp;
		struct elog_raft_heartbeat heartbeat;
		struct elog_raft_heartbeat_resp heartbeat_resp;
	};
};

/* ---- the outbox ---------------------------------------------------------- */

enum elog_raft_log_op_type {
	ELOG_RAFT_OP_TRUNCATE = 1, /* drop every record >= offset (a batch boundary) */
	ELOG_RAFT_OP_RESET = 2,    /* drop everything; the log is empty, starting at offset */
	ELOG_RAFT_OP_APPEND = 3,   /* append batches [batch_first, +batch_count) of the message
	                              just stepped; they cover [offset, end) */
};

struct elog_raft_log_op {
	enum elog_raft_log_op_type type;
	int64_t offset;
	int64_t end;
	uint32_t batch_first;
	uint32_t batch_count;
};

struct elog_raft_outbox {
	uint8_t hard_state_changed;     /* persist hard_state before sending msgs */
	struct elog_raft_hard_state hard_state;
	uint32_t op_count;
	struct elog_raft_log_op ops[ELOG_RAFT_OUTBOX_OPS_MAX];
	uint32_t msg_count;
	struct elog_raft_msg msgs[ELOG_RAFT_OUTBOX_MSGS_MAX];
	uint8_t commit_changed;         /* commit moved (backwards only after a restrict cut) */
	int64_t commit;
	uint8_t role_changed;           /* role, leader or term changed */
	enum elog_raft_role role;
	int32_t leader;
	uint64_t term;
	uint8_t term_start;             /* new leader: append a control batch in this term now */
	uint8_t restriction_changed;    /* restricted or lifted (see restriction) */
	enum elog_raft_restriction restriction;
	uint8_t terms_changed;          /* the term cache changed (elog_raft_terms) */
};

/* ---- the group ----------------------------------------------------------- */

enum elog_raft_progress_state { ELOG_RAFT_PROBE = 0, ELOG_RAFT_REPLICATE = 1 };

/* A leader's view of one follower. Private: read it through elog_raft_peer. */
struct elog_raft_progress {
	int32_t id;
	uint8_t state;          /* enum elog_raft_progress_state */
	uint8_t probe_sent;     /* PROBE: an APPEND is out, wait for an answer */
	uint8_t awaiting_sent;  /* the last outbox holds an APPEND not reported sent yet */
	uint8_t lost;           /* not heard from within an election timeout */
	int64_t match_end;      /* its log matches ours below this (this term) */
	int64_t next_end;       /* the next APPEND's prev_end */
	int64_t durable_end;    /* as it reported, this term */
	int64_t commit;         /* its commit as it reported */
	int64_t sent_commit;    /* commit carried by the last message sent to it */
	uint32_t ticks_since_heard;
	uint32_t ticks_since_sent;
	uint32_t inflight_count, inflight_head;
	int64_t inflight_end[ELOG_RAFT_INFLIGHT_MAX];
};

/* Public for embedding (no allocation); the fields are private. */
struct elog_raft {
	struct elog_raft_config config;
	uint32_t self_index;
	/* hard state */
	uint64_t term;
	int32_t vote;
	uint64_t restricted_term;
	enum elog_raft_restriction restriction;
	uint8_t hard_state_dirty, terms_dirty, restriction_dirty;
	/* role */
	enum elog_raft_role role;
	int32_t leader;
	/* log view */
	int64_t start, end, written_end, durable_end, commit;
	uint32_t term_count;
	struct elog_raft_term_start terms[ELOG_RAFT_TERMS_MAX];
	/* follower */
	int64_t verified_end;   /* log matches the current leader's below this (this term) */
	uint8_t response_pending; /* answer the leader once the log writes are reported */
	uint8_t quiesced;
	/* timers */
	uint32_t election_elapsed, election_timeout, heartbeat_elapsed;
	/* leader */
	uint8_t term_start_pending;
	int32_t transfer_target;
	uint8_t transfer_sent;  /* TIMEOUT_NOW went out */
	uint32_t transfer_elapsed;
	struct elog_raft_progress peers[ELOG_RAFT_VOTERS_MAX]; /* by voter index; self unused */
	/* elections */
	uint8_t answered[ELOG_RAFT_VOTERS_MAX], granted[ELOG_RAFT_VOTERS_MAX];
	/* what the last outbox reported, to report changes */
	int64_t reported_commit;
	enum elog_raft_role reported_role;
	int32_t reported_leader;
	uint64_t reported_term;
	uint64_t rng;
	struct elog_raft_outbox *out; /* the outbox of the input being handled */
};

/*
 * Start a group from persisted state. `commit` is a commit offset the node
 * knew (e.g. a checkpoint), or 0; it is clamped to [start, end]. The term
 * cache must be what elog_raft_terms() last returned, less entries at or
 * past the end: one whose first entry starts above the log start (or an
 * empty one over records) says the records it does not cover are
 * committed, because the core drops entries only then. A
 * `restriction` other than NONE means this start lost data the node may
 * have acknowledged (see elog_raft_restrict); a restricted_term in the hard
 * state keeps an earlier restriction. In a group of one voter restrictions
 * are ignored: there is no replica to catch up from, and a single broker
 * keeps serving what its disk holds. Fails (ELOG_E_INVAL) on an invalid
 * config, hard state or log view. The node starts as a follower. Like
 * every input it fills `out`, which the driver handles at once: with a
 * restriction it holds the new hard state, which must be durable before
 * anything else happens (a clean shutdown right after must not lose it).
 */
int elog_raft_init(struct elog_raft *r, const struct elog_raft_config *config,
		   const struct elog_raft_hard_state *hard_state,
		   const struct elog_raft_log_view *log, int64_t commit,
		   enum elog_raft_restriction restriction, struct elog_raft_outbox *out,
		   struct elog_err *err);
void elog_raft_release(struct elog_raft *r);

/* One tick of the driver's clock. */
void elog_raft_tick(struct elog_raft *r, struct elog_raft_outbox *out);

/*
 * A message for this group. A received APPEND's batches stay the driver's:
 * an OP_APPEND in the outbox refers to them by index, and the driver keeps
 * their bytes until it has carried the op out. -1 for a malformed message
 * (ignored; err says why).
 */
int elog_raft_step(struct elog_raft *r, const struct elog_raft_msg *m,
		   struct elog_raft_outbox *out, struct elog_err *err);

/* May a client batch be appended now? Pure: no outbox. */
enum elog_raft_refusal elog_raft_propose_check(const struct elog_raft *r);

/*
 * The leader appended records [base, last] (base = the previous end) in the
 * current term: a client batch after propose_check said yes, or the term
 * start batch the outbox asked for.
 */
void elog_raft_leader_appended(struct elog_raft *r, int64_t base, int64_t last,
			       struct elog_raft_outbox *out);

/* The APPEND to `peer` with prev_end `from` carried the records [from', end) —
 * end == from when it carried none. May ask for the next APPEND at once. */
void elog_raft_append_sent(struct elog_raft *r, int32_t peer, int64_t from, int64_t end,
			   struct elog_raft_outbox *out);

/* Every log op handed out so far is carried out up to `end` (the log's end). */
void elog_raft_log_written(struct elog_raft *r, int64_t end, struct elog_raft_outbox *out);

/* The log is durable below `durable_end` (its current durable end; never an
 * offset from before a truncation the driver already carried out). */
void elog_raft_log_durable(struct elog_raft *r, int64_t durable_end,
			   struct elog_raft_outbox *out);

/* Retention deleted everything below `start` (which must be <= commit). */
void elog_raft_log_trimmed(struct elog_raft *r, int64_t start, struct elog_raft_outbox *out);

/* Hand leadership to `target` (a voter, not self): catch it up, then
 * TIMEOUT_NOW. Proposals are refused meanwhile; gives up after an election
 * timeout. -1 when not leader or target is not another voter. */
int elog_raft_transfer_leadership(struct elog_raft *r, int32_t target,
				  struct elog_raft_outbox *out, struct elog_err *err);

/* Give a transfer in progress up now (its target cannot take the lead:
 * it is shutting down): proposals are taken again. Nothing when there is
 * none. A TIMEOUT_NOW already sent may still make the target campaign. */
void elog_raft_transfer_abort(struct elog_raft *r);

/*
 * This replica lost data it may have acknowledged: records from lost_from
 * on are gone or damaged (lost_from >= end when nothing needs cutting).
 * The core moves to a new term (so no acknowledgement it sent before the
 * loss can be counted again), steps down, cuts the log at lost_from (commit
 * follows it down if needed), and refuses to vote, pre-vote or campaign
 * until it holds durably a commit offset whose last record is of the
 * current leader's term (that new term or a later one); it then lifts the
 * restriction itself and reports it. A no-op in a group of one voter.
 */
void elog_raft_restrict(struct elog_raft *r, enum elog_raft_restriction reason,
			int64_t lost_from, struct elog_raft_outbox *out);

/* Start an election now (pre-vote first), as if the election timeout had passed. */
void elog_raft_campaign(struct elog_raft *r, struct elog_raft_outbox *out);

/*
 * Liveness from the broker pair. The driver calls peer_heard, on a leader,
 * for each follower whose broker answered the broker pair's own heartbeat
 * this tick: check quorum counts the follower as heard (a loaded broker's
 * group answers may lag its broker's heartbeat by seconds; they must not
 * depose every leader it follows), and a quiesced leader needs it to stay
 * quiet. A quiesced follower calls leader_heard when the leader's broker
 * answered; leader_heard is ignored unless quiesced (a follower of a live
 * broker whose group went silent must still time out). For a quiesced
 * group, tick followed by these calls changes nothing observable, so a
 * driver may skip both while every broker involved is alive (docs/raft.md,
 * "Quiescence").
 */
void elog_raft_peer_heard(struct elog_raft *r, int32_t peer, struct elog_raft_outbox *out);
void elog_raft_leader_heard(struct elog_raft *r, struct elog_raft_outbox *out);

/* ---- reading the state --------------------------------------------------- */

enum elog_raft_role elog_raft_role(const struct elog_raft *r);
uint64_t elog_raft_term(const struct elog_raft *r);
int32_t elog_raft_leader(const struct elog_raft *r);    /* ELOG_RAFT_NONE if unknown */
int64_t elog_raft_commit(const struct elog_raft *r);    /* the high watermark */
int elog_raft_restricted(const struct elog_raft *r);
int elog_raft_quiesced(const struct elog_raft *r);
struct elog_raft_hard_state elog_raft_hard_state(const struct elog_raft *r);
/* Term of the record at offset (0 for offset -1; UNKNOWN below the cache). */
uint64_t elog_raft_term_at(const struct elog_raft *r, int64_t offset);
/* The term cache, oldest first, for the driver to persist. */
const struct elog_raft_term_start *elog_raft_terms(const struct elog_raft *r, uint32_t *count);

/* A leader's view of a follower, for describe (in-sync replicas, lag). */
struct elog_raft_peer_status {
	int32_t id;
	int64_t match_end, durable_end;
	enum elog_raft_progress_state state;
	int lost;
};
/* 0 and *st for a peer while leader; -1 otherwise. */
int elog_raft_peer(const struct elog_raft *r, int32_t peer, struct elog_raft_peer_status *st);

const char *elog_raft_role_name(enum elog_raft_role role);
const char *elog_raft_msg_type_name(enum elog_raft_msg_type type);

#endif
