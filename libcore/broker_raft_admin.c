/* broker_raft_admin — what the apis do in a cluster: metadata proposals and
 * their parked answers, the produce and fetch hooks of partition groups,
 * and where partitions are led (route); see broker_raft.h. */
#include "broker_raft.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"

/* Admin answers wait at most this long for their record to commit. */
#define META_WAIT_MS (30 * 1000)

enum meta_kind { META_CREATE = 1, META_DELETE = 2, META_ALTER = 3, META_PRODUCER = 4 };

/* NOT_LEADER naming the leader, or LEADER_UNKNOWN: the code, message in msg. */
static int not_leader(const struct raft_group *g, const char *what, char *msg, size_t cap)
{
	int32_t leader = elog_raft_leader(&g->raft);

	if (leader == ELOG_RAFT_NONE) {
		snprintf(msg, cap, "no leader of %s is known now", what);
		return ELOG_PE_LEADER_UNKNOWN;
	}
	snprintf(msg, cap, "not the leader of %s: leader is broker %d", what, leader);
	return ELOG_PE_NOT_LEADER;
}

/* ---------------------------------------------------------------- metadata */

int elog_broker_raft_meta_propose(void *ctx, uint8_t *batch, size_t len, int64_t *offset,
				  struct elog_err *err)
{
	struct elog_cluster *k = ctx;
	struct raft_group *g = k->meta;
	struct elog_batch_header h;
	int64_t base;

	switch (elog_raft_propose_check(&g->raft)) {
	case ELOG_RAFT_PROPOSE_OK:
		break;
	case ELOG_RAFT_REFUSE_NOT_LEADER:
		return elog_err_set(err, ELOG_E_BUSY, "not the metadata leader");
	case ELOG_RAFT_REFUSE_TRANSFERRING:
		return elog_err_set(err, ELOG_E_BUSY, "metadata leadership is being handed over");
	case ELOG_RAFT_REFUSE_BACKLOG:
		return elog_err_set(err, ELOG_E_LIMIT, "too many metadata changes wait to commit");
	}
	if (elog_partlog_append(g->log, batch, len, elog_raft_term(&g->raft), &base, err) < 0)
		return -1;
	elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL);
	if (offset)
		*offset = base;
	raft_leader_appended(g, base, base + (int64_t)h.last_offset_delta);
	return 0;
}

/* 0 when this broker leads the metadata group; else answered and -1. */
static int meta_leader(struct elog_conn *c, const struct elog_frame_header *rq)
{
	struct raft_group *g = c->broker->cluster->meta;
	char msg[BROKER_MSG_MAX];
	int code;

	if (elog_raft_role(&g->raft) == ELOG_RAFT_LEADER)
		return 0;
	code = not_leader(g, "the cluster metadata", msg, sizeof(msg));
	elog_broker_reply_error(c, rq, code, msg);
	return -1;
}

/* Park the request until its record at `offset` is applied. */
static void meta_park(struct elog_conn *c, const struct elog_frame_header *rq, enum meta_kind kind,
		      const char *name, size_t len, int64_t offset)
{
	struct elog_broker *b = c->broker;
	struct elog_waiter *w = elog_waiter_new(c, WAIT_META, rq, 1, 1);
	struct elog_err err;

	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	w->topic_count = w->part_count = 1;
	snprintf(w->topics[0].name, sizeof(w->topics[0].name), "%.*s", (int)len, name);
	w->parts[0].id = kind;
	w->parts[0].meta_offset = offset;
	if (elog_waiter_park(w, elog_loop_now_ms(&b->loop) + META_WAIT_MS, &err) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, err.msg);
		elog_waiter_free(w);
		return;
	}
	b->cluster->check_meta = 1;
}

static void meta_reply(struct elog_waiter *w, int code, const char *msg)
{
	struct elog_conn *c = w->conn;

	elog_broker_reply_error(c, &w->request, code, msg);
	elog_waiter_free(w);
	elog_conn_answered(c);
}

static void producer_reply(struct elog_waiter *w, int64_t id)
{
	struct elog_conn *c = w->conn;
	struct elog_wire_w wr;
	struct elog_err err;

	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_i64(&wr, id);
	elog_wire_put_i16(&wr, 0);
	if (elog_wire_frame_end(&wr, &err) < 0)
		c->closing = 1;
	elog_waiter_free(w);
	elog_conn_answered(c);
}

/* A parked admin request whose record is applied (or that must give up). */
static void meta_answer(struct elog_cluster *k, struct elog_waiter *w, int timeout)
{
	struct elog_store *store = k->b->store;
	struct wait_part *part = &w->parts[0];
	const char *name = w->topics[0].name;
	struct elog_topic *t = elog_store_find(store, name, strlen(name));
	char msg[BROKER_MSG_MAX];
	struct elog_err err;
	int64_t id, offset;
	int rc;

	if (store->meta_applied <= part->meta_offset) {
		if (timeout) {
			meta_reply(w, ELOG_PE_TIMEOUT, "the change did not commit in time");
		} else if (elog_raft_role(&k->meta->raft) != ELOG_RAFT_LEADER) {
			rc = not_leader(k->meta, "the cluster metadata", msg, sizeof(msg));
			meta_reply(w, rc, msg);
		}
		return;
	}
	switch (part->id) {
	case META_CREATE:
		if (t && t->incarnation == part->meta_offset)
			meta_reply(w, ELOG_PE_NONE, NULL);
		else
			meta_reply(w, ELOG_PE_TOPIC_EXISTS, "topic exists");
		break;
	case META_DELETE:
	case META_ALTER:
		/* Applied past its offset, the record there is ours only if we
		 * still lead: a leader deposed in the turn that replaced its
		 * uncommitted record and applied the new leader's past it must
		 * not say done (the client retries at the new controller; a
		 * topic already gone is a delete done). */
		if (elog_raft_role(&k->meta->raft) == ELOG_RAFT_LEADER ||
		    (part->id == META_DELETE && !t)) {
			meta_reply(w, ELOG_PE_NONE, NULL);
		} else {
			rc = not_leader(k->meta, "the cluster metadata", msg, sizeof(msg));
			meta_reply(w, rc, msg);
		}
		break;
	case META_PRODUCER:
		if (elog_raft_role(&k->meta->raft) != ELOG_RAFT_LEADER) {
			rc = not_leader(k->meta, "the cluster metadata", msg, sizeof(msg));
			meta_reply(w, rc, msg);
			break;
		}
		rc = elog_store_propose_producer_id(store, &id, &offset, &err);
		if (rc == 1)
			producer_reply(w, id);
		else if (rc == 0)
			part->meta_offset = offset;
		else
			meta_reply(w, elog_broker_store_error(&err), err.msg);
		break;
	}
}

void raft_meta_check_waiters(struct elog_cluster *k, int force)
{
	struct elog_broker *b = k->b;
	struct elog_waiter *w, *next;

	elog_broker_answering(b, 1);
	for (w = b->waiters; w; w = next) {
		next = w->next;
		if (w->kind == WAIT_META)
			meta_answer(k, w, force);
	}
	elog_broker_answering(b, 0);
}

void elog_broker_raft_meta_timeout(struct elog_waiter *w)
{
	meta_answer(w->broker->cluster, w, 1);
}

/* Placement: partition i's replicas start at broker (i + topics) mod n and
 * go round the sorted list, so leaders and replicas spread evenly. */
static void place(const struct elog_broker *b, uint32_t partitions, uint32_t rf, int32_t *out)
{
	const struct elog_cluster_config *cc = &b->config.cluster;
	uint32_t shift = b->store->topic_count;

	for (uint32_t i = 0; i < partitions; i++)
		for (uint32_t j = 0; j < rf; j++)
			out[i * rf + j] = cc->members[(i + shift + j) % cc->count].id;
}

/*
 * Propose the create of a topic: partitions (0: the default), replication
 * factor (0: the default), placed by place(); logged as proposed when a
 * reason is given (a create on first use). *offset is its record's;
 * -1 with err (ELOG_E_INVAL for a replication factor past the cluster or a
 * partition count out of range; the store's checks otherwise).
 */
static int propose_create(struct elog_broker *b, const char *name, size_t len, uint32_t partitions,
			  uint32_t rf, const struct elog_topic_config *cfg, const char *reason,
			  int64_t *offset, struct elog_err *err)
{
	uint32_t n = b->config.cluster.count;
	int32_t *replicas;
	int rc;

	if (rf == 0)
		rf = b->config.default_replication_factor ? b->config.default_replication_factor
							  : (n < 3 ? n : 3);
	if (rf > n)
		return elog_err_set(err, ELOG_E_INVAL,
				    "replication factor %u is more than the %u brokers there are", rf, n);
	if (partitions == 0)
		partitions = b->config.store.default_partitions;
	if (partitions > b->store->options.topic_partitions_max)
		return elog_err_set(err, ELOG_E_INVAL, "partition count %u is outside [1, %u]",
				    partitions, b->store->options.topic_partitions_max);
	replicas = calloc((size_t)partitions * rf, sizeof(*replicas));
	if (!replicas)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	place(b, partitions, rf, replicas);
	rc = elog_store_propose_create(b->store, name, len, partitions, cfg, rf, replicas, offset, err);
	free(replicas);
	if (rc == 0 && reason)
		elog_logf(b->log, ELOG_LOG_INFO, "topic proposed",
			  "topic=%.*s partitions=%u replicas=%u reason=%s", (int)len, name, partitions,
			  rf, reason);
	return rc;
}

struct elog_topic *elog_broker_raft_auto_create(struct elog_broker *b, const char *name,
						size_t len, uint32_t partitions,
						const struct elog_topic_config *cfg, int16_t *code,
						char *msg, size_t cap)
{
	struct elog_cluster *k = b->cluster;
	int free_slot = -1;
	struct elog_err err;
	int64_t offset;

	if (elog_raft_role(&k->meta->raft) != ELOG_RAFT_LEADER) {
		*code = (int16_t)not_leader(k->meta, "the cluster metadata (topics are created there)",
					    msg, cap);
		return NULL;
	}
	for (int i = 0; i < RAFT_AUTO_CREATING_MAX; i++) {
		if (!k->auto_creating[i].name[0] || k->auto_creating[i].offset < b->store->meta_applied) {
			k->auto_creating[i].name[0] = 0; /* applied (or never used): free */
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strlen(k->auto_creating[i].name) == len &&
		    memcmp(k->auto_creating[i].name, name, len) == 0) {
			*code = ELOG_PE_LEADER_UNKNOWN;
			snprintf(msg, cap, "topic being created");
			return NULL;
		}
	}
	*code = ELOG_PE_LEADER_UNKNOWN;
	if (free_slot < 0) {
		snprintf(msg, cap, "too many topics being created at once: try again");
		return NULL;
	}
	if (propose_create(b, name, len, partitions, 0, cfg, "auto", &offset, &err) < 0) {
		*code = (int16_t)elog_broker_store_error(&err);
		snprintf(msg, cap, "cannot create the topic: %s", err.msg);
		return NULL;
	}
	snprintf(k->auto_creating[free_slot].name, sizeof(k->auto_creating[free_slot].name), "%.*s",
		 (int)len, name);
	k->auto_creating[free_slot].offset = offset;
	snprintf(msg, cap, "topic being created");
	return NULL;
}

int elog_broker_raft_create_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				  const char *name, size_t len, uint32_t partitions,
				  uint16_t replication, const struct elog_topic_config *cfg)
{
	struct elog_err err;
	int64_t offset;

	if (meta_leader(c, rq) < 0)
		return 1;
	if (propose_create(c->broker, name, len, partitions, replication, cfg, NULL, &offset,
			   &err) < 0)
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
	else
		meta_park(c, rq, META_CREATE, name, len, offset);
	return 1;
}

int elog_broker_raft_delete_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				  struct elog_topic *t)
{
	struct elog_err err;
	int64_t offset;

	if (meta_leader(c, rq) < 0)
		return 1;
	if (elog_store_propose_delete(c->broker->store, t, &offset, &err) < 0)
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
	else
		meta_park(c, rq, META_DELETE, t->name, strlen(t->name), offset);
	return 1;
}

int elog_broker_raft_alter_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				 struct elog_topic *t, uint32_t partitions,
				 const struct elog_topic_config *cfg)
{
	struct elog_err err;
	int64_t offset;
	int32_t *replicas = NULL;
	uint32_t rf = t->replication_factor;

	if (meta_leader(c, rq) < 0)
		return 1;
	if (partitions == 0)
		partitions = t->partition_count;
	if (elog_store_alter_check(c->broker->store, t, partitions, cfg, &err) < 0) {
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return 1;
	}
	if (partitions > t->partition_count && !t->replicas) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST,
					"the topic has no placement to grow (created before its cluster)");
		return 1;
	}
	if (partitions > t->partition_count) {
		/* The existing partitions keep their replicas; the new ones are
		 * placed as a create places them. */
		replicas = calloc((size_t)partitions * rf, sizeof(*replicas));
		if (!replicas) {
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
			return 1;
		}
		place(c->broker, partitions, rf, replicas);
		memcpy(replicas, t->replicas, (size_t)t->partition_count * rf * sizeof(*replicas));
	}
	if (elog_store_propose_alter(c->broker->store, t, partitions, replicas, cfg, &offset, &err) < 0)
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
	else
		meta_park(c, rq, META_ALTER, t->name, strlen(t->name), offset);
	free(replicas);
	return 1;
}

int elog_broker_raft_init_producer(struct elog_conn *c, const struct elog_frame_header *rq)
{
	struct elog_wire_w w;
	struct elog_err err;
	int64_t id, offset;
	int rc;

	if (meta_leader(c, rq) < 0)
		return 1;
	rc = elog_store_propose_producer_id(c->broker->store, &id, &offset, &err);
	if (rc < 0) {
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return 1;
	}
	if (rc == 0) {
		meta_park(c, rq, META_PRODUCER, "", 0, offset);
		return 1;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_i64(&w, id);
	elog_wire_put_i16(&w, 0);
	if (elog_wire_frame_end(&w, &err) < 0)
		c->closing = 1;
	return 1;
}

/* ---------------------------------------------------------------- partitions */

int elog_broker_raft_leader_check(struct elog_broker *b, const struct elog_partition *p,
				  char *msg, size_t cap)
{
	const struct raft_group *g = p->replication;

	if (!g) {
		snprintf(msg, cap, "broker %d holds no replica of this partition",
			 b->config.broker_id);
		return ELOG_PE_NOT_LEADER;
	}
	if (elog_raft_role(&g->raft) == ELOG_RAFT_LEADER)
		return 0;
	return not_leader(g, "this partition", msg, cap);
}

int elog_broker_raft_produce_check(struct elog_broker *b, struct elog_partition *p,
				   struct wait_part *part)
{
	struct raft_group *g = p->replication;
	int code = 0;

	if (!g) {
		code = elog_broker_raft_leader_check(b, p, part->message, sizeof(part->message));
	} else {
		switch (elog_raft_propose_check(&g->raft)) {
		case ELOG_RAFT_PROPOSE_OK:
			p->leader_term = elog_raft_term(&g->raft);
			return 0;
		case ELOG_RAFT_REFUSE_NOT_LEADER:
			code = not_leader(g, "this partition", part->message, sizeof(part->message));
			break;
		case ELOG_RAFT_REFUSE_TRANSFERRING:
			code = ELOG_PE_NOT_LEADER;
			snprintf(part->message, sizeof(part->message),
				 "leadership of this partition is being handed over");
			break;
		case ELOG_RAFT_REFUSE_BACKLOG:
			code = ELOG_PE_TIMEOUT;
			snprintf(part->message, sizeof(part->message),
				 "too many records wait for replication");
			break;
		}
	}
	part->error = (int16_t)code;
	part->p = NULL;
	part->need_offset = 0;
	return -1;
}

void elog_broker_raft_produced(struct elog_broker *b, struct elog_partition *p, int64_t base,
			       int64_t last)
{
	(void)b;
	if (p->replication)
		raft_leader_appended(p->replication, base, last);
}

int elog_broker_raft_produce_done(struct elog_broker *b, struct wait_part *part, int acks_one)
{
	struct raft_group *g = part->p->replication;
	int code;

	(void)b;
	/*
	 * Only a leader answers: one deposed in the same step that cut its
	 * uncommitted tail and took the new leader's records at those offsets
	 * (one APPEND does all of that) would otherwise see the commit pass its
	 * waiters' offsets and acknowledge records it no longer holds. A leader
	 * never cuts its own log, and the waiters of an earlier leadership were
	 * answered NOT_LEADER when it stepped down (the role change makes the
	 * loop check every waiter), before it could be elected again.
	 */
	if (g && elog_raft_role(&g->raft) == ELOG_RAFT_LEADER)
		return (acks_one ? elog_partlog_flushed_offset(part->p->log)
				 : elog_raft_commit(&g->raft)) >= part->need_offset;
	code = g ? not_leader(g, "this partition", part->message, sizeof(part->message))
		 : ELOG_PE_NOT_LEADER;
	if (!g)
		snprintf(part->message, sizeof(part->message), "no replica here");
	/* The records may still commit under the next leader: a retry is deduplicated. */
	part->error = (int16_t)code;
	part->p = NULL;
	part->need_offset = 0;
	return -1;
}

int elog_broker_raft_leads(const struct elog_partition *p)
{
	const struct raft_group *g = p->replication;

	return g && elog_raft_role(&g->raft) == ELOG_RAFT_LEADER;
}

uint64_t elog_broker_raft_leader_term(const struct elog_partition *p)
{
	const struct raft_group *g = p->replication;

	if (!g)
		return 1;
	return elog_raft_role(&g->raft) == ELOG_RAFT_LEADER ? elog_raft_term(&g->raft) : 0;
}

int elog_broker_raft_leader_current(const struct elog_partition *p)
{
	const struct raft_group *g = p->replication;
	const struct elog_raft_term_start *terms;
	uint32_t n;

	if (!elog_broker_raft_leads(p))
		return 0;
	terms = elog_raft_terms(&g->raft, &n);
	return n > 0 && terms[n - 1].term == elog_raft_term(&g->raft) &&
	       elog_raft_commit(&g->raft) > terms[n - 1].start;
}

int64_t elog_broker_raft_high_watermark(const struct elog_partition *p)
{
	const struct raft_group *g = p->replication;

	return g ? elog_raft_commit(&g->raft) : elog_partlog_start_offset(p->log);
}

/* Cut a slice of whole batches so that none reaches past hw. */
void elog_broker_raft_slice_cap(struct elog_partlog_slice *s, int64_t hw)
{
	uint64_t pos = s->position, end = s->position + s->len;

	if (s->next_offset <= hw)
		return;
	/* Bounded: every pass moves past one batch. */
	while (pos < end) {
		uint8_t h[24];
		int64_t base, last;
		if (pread(s->fd, h, sizeof(h), (off_t)pos) != (ssize_t)sizeof(h))
			break;
		base = (int64_t)elog_get64(h);
		last = base + (int64_t)elog_get32(h + 20);
		if (last >= hw) {
			s->len = (uint32_t)(pos - s->position);
			s->next_offset = base;
			return;
		}
		pos += ELOG_BATCH_PREFIX_SIZE + elog_get32(h + ELOG_BATCH_LENGTH_OFFSET);
	}
	s->len = (uint32_t)(pos - s->position);
}
