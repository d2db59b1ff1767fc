/* broker_raft_route — where a partition is led, in a cluster: the cluster
 * side of elog_broker_route (CONTRACTS7.md; broker_route.c calls it when
 * the broker is in a cluster). From the partition's Raft group on this
 * broker: its leader and term; its replicas in placement order; and, on
 * the leader, each follower's end as the leader last matched it, in sync
 * when it is within a heartbeat of the leader's end and not lost. */
#include "broker_raft.h"

#include <string.h>

void elog_broker_raft_route(struct elog_broker *b, const struct elog_topic *t,
			    uint32_t partition, struct elog_route *out)
{
	const struct elog_partition *p = partition < t->partition_count ? t->partitions[partition]
									 : NULL;
	const struct raft_group *g = p ? p->replication : NULL;
	const int32_t *replicas = elog_topic_replicas(t, partition);
	int64_t end = p ? elog_partlog_next_offset(p->log) : -1;
	uint32_t reachable = 0;

	memset(out, 0, sizeof(*out));
	out->leader_id = ELOG_RAFT_NONE;
	out->replica_count = replicas ? t->replication_factor : 0;
	if (out->replica_count > ELOG_REPLICAS_MAX)
		out->replica_count = ELOG_REPLICAS_MAX;
	for (uint32_t i = 0; i < out->replica_count; i++) {
		out->replicas[i] = replicas[i];
		out->replica_end[i] = -1;
	}
	if (!g) {
		/* Not a replica here: the leader's own hint, when one came. */
		if (p && p->leader_hint_term) {
			out->leader_id = p->leader_hint;
			out->leader_term = p->leader_hint_term;
		}
		out->available = 1;
		return;
	}
	out->leader_id = elog_raft_leader(&g->raft);
	out->leader_term = elog_raft_term(&g->raft);
	for (uint32_t i = 0; i < out->replica_count; i++) {
		struct elog_raft_peer_status st;
		if (out->replicas[i] == b->config.broker_id) {
			out->replica_end[i] = end;
			out->in_sync[i] = elog_raft_role(&g->raft) == ELOG_RAFT_LEADER;
			reachable++;
			continue;
		}
		if (elog_raft_peer(&g->raft, out->replicas[i], &st) < 0)
			continue;
		out->replica_end[i] = st.match_end;
		out->in_sync[i] = !st.lost && st.match_end >= elog_raft_commit(&g->raft);
		reachable += !st.lost;
	}
	/* A leader sees whether a majority answers; anyone else trusts a known leader. */
	out->available = elog_raft_role(&g->raft) == ELOG_RAFT_LEADER
				 ? reachable * 2 > out->replica_count
				 : out->leader_id != ELOG_RAFT_NONE;
}

int32_t elog_broker_raft_controller(const struct elog_broker *b)
{
	return b->cluster ? elog_raft_leader(&b->cluster->meta->raft) : b->config.broker_id;
}
