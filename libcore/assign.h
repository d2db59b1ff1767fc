/*
 * assign — the partition assignor of a consumer group (issue 8), in the
 * manner of Kafka's KIP-848 server-side assignment: the group coordinator
 * computes every member's TARGET assignment, and hands it over to the
 * members step by step (reconciliation). Pure: no I/O, no globals, no
 * clock; the same input gives the same output.
 *
 * Input (struct elog_assign_group): the topics with their partition
 * counts, and the members, each with a member id, an optional static
 * instance id, the names of the topics it subscribes to, and its current
 * target (what the previous assignment gave it; empty for a new member).
 * Partitions in the input are named by topic name (struct elog_assign_ref),
 * so that a target naming a deleted topic can still be given; in the output
 * they are (index into the topics given, partition) (struct elog_assign_tp).
 *
 * Member order. Where a strategy needs an order of members, static members
 * (those with an instance id) come first, by instance id, then the others
 * by member id (byte order): Kafka's rule, so that a static member that
 * restarts with a new member id keeps its place. Topics are ordered by name.
 * Every decision depends on ids and names only, never on the order of the
 * arrays given: permuting the members (or the topics) permutes the output
 * and changes nothing else.
 *
 * Strategies:
 *
 *   RANGE       per topic, its subscribers in member order each get a
 *               contiguous range of partitions; with n partitions and m
 *               subscribers the first n % m get one more. Targets ignored.
 *   ROUNDROBIN  every partition of a subscribed topic, by (topic name,
 *               partition), dealt in turn to the members in member order,
 *               skipping a member not subscribed to its topic. Targets
 *               ignored.
 *   STICKY      the default. Guarantees, always:
 *     1. Exclusive and complete: every partition of a topic that some
 *        member subscribes to has exactly one owner, a subscriber of it.
 *     2. One-step balance: no member owns a partition of a topic that
 *        another subscriber of that topic could take while having two or
 *        more partitions fewer. Hence members with identical subscriptions
 *        differ by at most one partition.
 *     3. Sticky: a partition stays with the member whose current target has
 *        it while that member is still in the group and still subscribes to
 *        its topic, unless balance (2, and 4 below) needs it elsewhere.
 *        When all members that subscribe to anything subscribe to the same
 *        topics, movement is minimal: with P partitions over n members
 *        (q = P / n, r = P % n) the r members holding the most (then in
 *        member order) get q + 1, the others q, and each keeps as many of
 *        its partitions as that allows, lowest first; nothing else moves.
 *        A member joining thus takes partitions only from members above
 *        the new share; one leaving hands out only its own. With mixed
 *        subscriptions, new and orphaned partitions go first to the least
 *        loaded subscribers, and kept ones move only to restore 2 and 4,
 *        along the shortest chains: few moves, not proven the fewest.
 *        Either way an unchanged group gets the identical assignment back.
 *   and, when result.balanced is 1 (always, unless the search for it ran
 *   out of its budget of ELOG_ASSIGN_BALANCE_STEPS, which takes a large and
 *   oddly shaped group with mixed subscriptions):
 *     4. Balanced as the subscriptions allow: there is no chain of members
 *        m0, m1, ..., mk, each owning a partition of a topic the next
 *        subscribes to, with m0 owning two or more partitions more than mk.
 *        Such an assignment has the smallest possible largest count, and
 *        the smallest sum of squared counts (an optimal semi-matching).
 *        Guarantee 2 is the case k = 1.
 *
 * Input rules. A target entry is dropped (not kept, counted in
 * result.dropped) when its topic is not among the topics (deleted), its
 * partition is at or beyond the topic's count (shrunk), or the member no
 * longer subscribes to its topic. A partition in the targets of two members
 * stays with the one first in member order and is dropped from the other's.
 * Subscribed names that are not topics are ignored (a topic that does not
 * exist yet); a name or target entry given twice counts once. Topics may
 * have 0 partitions. Member ids, instance ids and topic names must be
 * unique and non-empty; anything else is refused with ELOG_E_INVAL, and a
 * limit exceeded with ELOG_E_LIMIT, never a crash.
 *
 * Reconciliation (elog_assign_reconcile): the new targets and, for each
 * member, what it OWNS (its last heartbeat, which lags its target). A member
 * may own now its target minus the partitions some other member still
 * owns; a partition it owns already and that stays in its target it keeps
 * (even if another member also reports it; that one releases it). It must
 * release what it owns outside its target. So a partition is released by
 * its old owner before it is given to the new one. A member that owns
 * exactly its target is untouched; a group whose members are all untouched
 * is stable (elog_assign_stable).
 *
 * Memory. All input is caller-owned and only read. elog_assign_compute and
 * elog_assign_reconcile allocate working memory in proportion to the input
 * (members + topics + partitions + subscriptions) and free it before they
 * return; their output holds three allocations at most, freed by
 * elog_assign_result_release / elog_assign_handover_release (safe on a
 * zeroed or already released struct, and after a failure).
 *
 * Cost: the range, round-robin and identical-subscription sticky cases
 * are O(S + P + (n + T) log (n + T)) for S subscriptions, P partitions, n
 * members and T topics, no sorting per member: 1,000 members each
 * subscribed to 100 topics of 100 partitions take about 5 ms (17 ms cold)
 * on a 2-core machine, most of it reading the 100,000 subscribed names.
 * Mixed subscriptions add the balancing: a few ms at that size, a few
 * hundred at the limits (millions of subscriptions), its chain search
 * bounded by ELOG_ASSIGN_BALANCE_STEPS.
 */
#ifndef ELOG_ASSIGN_H
#define ELOG_ASSIGN_H

#include <stdint.h>

#include "err.h"
#include "proto.h"

#define ELOG_ASSIGN_MEMBERS_MAX 4096
#define ELOG_ASSIGN_TOPICS_MAX 10000
/* Partitions of all topics together; also the most entries of all members'
 * targets together, and of all members' owned lists together. */
#define ELOG_ASSIGN_PARTITIONS_MAX 100000
/* (member, topic name) pairs of all subscriptions together. */
#define ELOG_ASSIGN_SUBSCRIPTIONS_MAX 4000000
/* Bytes of a member id or an instance id (topic names: ELOG_TOPIC_NAME_MAX). */
#define ELOG_ASSIGN_ID_MAX 255
/* Work (edges looked at; about 0.2 s) the sticky strategy may spend
 * searching for chains (guarantee 4) before it settles for guarantee 2. */
#define ELOG_ASSIGN_BALANCE_STEPS 50000000u

enum elog_assign_strategy {
	ELOG_ASSIGN_STICKY = 0,
	ELOG_ASSIGN_RANGE,
	ELOG_ASSIGN_ROUNDROBIN,
	ELOG_ASSIGN__COUNT
};

struct elog_assign_topic {
	const char *name;             /* 1..ELOG_TOPIC_NAME_MAX bytes, NUL-terminated */
	uint32_t partitions;          /* its partition count now; 0 allowed */
};

/* A partition named by its topic's name. */
struct elog_assign_ref {
	const char *topic;
	uint32_t partition;
};

struct elog_assign_member {
	const char *id;               /* 1..ELOG_ASSIGN_ID_MAX bytes */
	const char *instance_id;      /* static member: 1..ELOG_ASSIGN_ID_MAX bytes; else NULL */
	const char *const *topics;    /* names of the topics it subscribes to */
	uint32_t topic_count;
	const struct elog_assign_ref *target; /* its current target; may be stale */
	uint32_t target_count;
};

struct elog_assign_group {
	const struct elog_assign_topic *topics;
	uint32_t topic_count;
	const struct elog_assign_member *members;
	uint32_t member_count;
	uint64_t balance_steps_max;   /* sticky's search budget; 0: ELOG_ASSIGN_BALANCE_STEPS */
};

/* A partition named by the index of its topic in the topics given. */
struct elog_assign_tp {
	uint32_t topic;
	uint32_t partition;
};

/* One member's partitions, sorted by (topic index, partition). */
struct elog_assign_set {
	const struct elog_assign_tp *tp;
	uint32_t count;
};

struct elog_assign_result {
	struct elog_assign_set *members;   /* member_count: the new target of
					      group->members[i] is members[i] */
	uint32_t member_count;
	uint32_t assigned;  /* partitions assigned in all */
	uint32_t kept;      /* sticky: of them, left with the member whose target had it */
	uint32_t moved;     /* sticky: taken for balance from a member that could keep it */
	uint32_t dropped;   /* sticky: target entries that could not stand ("Input rules") */
	int balanced;       /* sticky: guarantee 4 holds; 0 for range and round-robin */
	struct elog_assign_tp *pool_;      /* private: every set's storage */
};

/* A zeroed result: safe to release. */
void elog_assign_result_init(struct elog_assign_result *r);
void elog_assign_result_release(struct elog_assign_result *r);

/*
 * The new target of every member of group g under strategy s, into *out
 * (initialised first; release it even after a failure). -1 with
 * ELOG_E_INVAL (bad input: the message names it), ELOG_E_LIMIT (a limit
 * above) or ELOG_E_NOMEM.
 */
int elog_assign_compute(const struct elog_assign_group *g, enum elog_assign_strategy s,
			struct elog_assign_result *out, struct elog_err *err);

/* "sticky", "range", "roundrobin"; "unknown" out of range. */
const char *elog_assign_strategy_name(enum elog_assign_strategy s);
/* The strategy so named, into *out; -1 with ELOG_E_INVAL otherwise. */
int elog_assign_strategy_parse(const char *name, enum elog_assign_strategy *out,
			       struct elog_err *err);

/* --------------------------------------------------------- reconciliation */

/* What a member reported it owns. Entries naming an unknown topic or a
 * partition beyond its count are to be released, as given; repeats of a
 * partition count once. */
struct elog_assign_owned {
	const struct elog_assign_ref *partitions;
	uint32_t count;
};

struct elog_assign_handover_member {
	struct elog_assign_set now;   /* what it may own now: its target (in its order) less
					 what another member still owns */
	const struct elog_assign_ref *release; /* owned, outside its target: to release, in
						  the owned list's order; copies of its entries */
	uint32_t release_count;
	uint32_t waiting;             /* target partitions not in now: another still owns them */
	int untouched;                /* it owns exactly its target: nothing to tell it */
};

struct elog_assign_handover {
	struct elog_assign_handover_member *members; /* member_count, as the targets */
	uint32_t member_count;
	int stable;                   /* every member untouched */
	struct elog_assign_tp *now_pool_;            /* private */
	struct elog_assign_ref *release_pool_;       /* private */
};

void elog_assign_handover_init(struct elog_assign_handover *h);
void elog_assign_handover_release(struct elog_assign_handover *h);

/*
 * Reconcile: member i has target[i] (e.g. result.members[i]; topic indices
 * into topics, the same array the targets were computed with) and owns
 * owned[i]. Targets must be exclusive (a partition in one target at most)
 * and name existing partitions, else ELOG_E_INVAL. Into *out (initialised
 * first; release it even after a failure).
 */
int elog_assign_reconcile(const struct elog_assign_topic *topics, uint32_t topic_count,
			  const struct elog_assign_set *target, const struct elog_assign_owned *owned,
			  uint32_t member_count, struct elog_assign_handover *out,
			  struct elog_err *err);

/* 1 if every member owns exactly its target, 0 if not, -1 on invalid input
 * (as elog_assign_reconcile, whose working memory it allocates and frees). */
int elog_assign_stable(const struct elog_assign_topic *topics, uint32_t topic_count,
		       const struct elog_assign_set *target, const struct elog_assign_owned *owned,
		       uint32_t member_count, struct elog_err *err);

#endif
