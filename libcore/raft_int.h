/*
 * raft_int.h — what the raft*.c files share; not for other modules.
 *
 *   raft.c         init, accessors, the outbox, tick, step (checks, terms)
 *   raft_log.c     the log view and the term cache
 *   raft_elect.c   roles, pre-vote and vote, restriction
 *   raft_follow.c  a follower: APPEND, HEARTBEAT, log write/durable reports
 *   raft_lead.c    a leader: progress, sending, commit, quiescence, transfer
 *
 * Every function here runs inside one input: r->out is the outbox being
 * filled.
 */
#ifndef ELOG_RAFT_INT_H
#define ELOG_RAFT_INT_H

#include "raft.h"

/* raft.c */
void raft_out_begin(struct elog_raft *r, struct elog_raft_outbox *out);
void raft_out_end(struct elog_raft *r);
struct elog_raft_msg *raft_msg(struct elog_raft *r, enum elog_raft_msg_type type, int32_t to);
struct elog_raft_log_op *raft_op(struct elog_raft *r, enum elog_raft_log_op_type type);
uint32_t raft_majority(const struct elog_raft *r);
int raft_voter_index(const struct elog_raft *r, int32_t id);
struct elog_raft_progress *raft_peer(struct elog_raft *r, int32_t id);
void raft_randomize_timeout(struct elog_raft *r);

/* raft_log.c */
uint64_t raft_term_at(const struct elog_raft *r, int64_t offset);
uint64_t raft_last_term(const struct elog_raft *r);
int raft_last_term_known(const struct elog_raft *r);
int raft_term_room(const struct elog_raft *r);
int raft_push_term(struct elog_raft *r, uint64_t term, int64_t start);
void raft_trim_terms(struct elog_raft *r);
int64_t raft_end_for_term(const struct elog_raft *r, uint64_t term);
void raft_hint(const struct elog_raft *r, int64_t prev_end, uint64_t prev_term,
	       uint64_t *hint_term, int64_t *hint_end);
void raft_view_truncate(struct elog_raft *r, int64_t offset);
void raft_view_reset(struct elog_raft *r, int64_t start, uint64_t start_term);
void raft_view_trim(struct elog_raft *r, int64_t start);
void raft_check_view(const struct elog_raft *r);

/* raft_elect.c */
void raft_become_follower(struct elog_raft *r, uint64_t term, int32_t leader);
void raft_election_timeout(struct elog_raft *r);
void raft_become_candidate(struct elog_raft *r, int transfer);
void raft_step_vote(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_step_vote_resp(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_step_timeout_now(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_maybe_lift(struct elog_raft *r);
int raft_in_lease(const struct elog_raft *r);

/* raft_follow.c */
void raft_step_append(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_step_heartbeat(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_follower_written(struct elog_raft *r);
void raft_follower_durable(struct elog_raft *r);
void raft_learn_commit(struct elog_raft *r, int64_t leader_commit);
int64_t raft_durable_matched(const struct elog_raft *r);
void raft_wake(struct elog_raft *r);

/* raft_lead.c */
void raft_become_leader(struct elog_raft *r);
void raft_tick_leader(struct elog_raft *r);
void raft_send_append(struct elog_raft *r, struct elog_raft_progress *pr);
void raft_step_append_resp(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_step_heartbeat_resp(struct elog_raft *r, const struct elog_raft_msg *m);
void raft_maybe_commit(struct elog_raft *r);
void raft_unquiesce(struct elog_raft *r);
void raft_leader_heard_from(struct elog_raft *r, struct elog_raft_progress *pr);

#endif
