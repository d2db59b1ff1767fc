/* broker_route — where a partition lives, as METADATA and DESCRIBE_TOPICS
 * tell it (broker_int.h, struct elog_route). */
#include "broker.h"

#include <assert.h>
#include <string.h>

#include "broker_int.h"
#include "partlog.h"

/*
 * A broker alone is every partition's leader and only replica: in sync by
 * definition, its end the log's next offset, available while it runs. The
 * term is the last batch's (0 for a log written before terms existed).
 */
static void route_single(struct elog_broker *b, const struct elog_partition *p,
			 struct elog_route *out)
{
	out->leader_id = b->config.broker_id;
	out->leader_term = p->leader_term > elog_partlog_last_term(p->log)
				   ? p->leader_term
				   : elog_partlog_last_term(p->log);
	out->replica_count = 1;
	out->replicas[0] = b->config.broker_id;
	out->in_sync[0] = 1;
	out->replica_end[0] = elog_partlog_next_offset(p->log);
	out->available = 1;
}

void elog_broker_route(struct elog_broker *b, const struct elog_topic *t, uint32_t partition,
		       struct elog_route *out)
{
	assert(t && partition < t->partition_count);
	memset(out, 0, sizeof(*out));
	out->leader_id = -1;
	route_single(b, t->partitions[partition], out);
	assert(out->replica_count >= 1 && out->replica_count <= ELOG_REPLICAS_MAX);
}
