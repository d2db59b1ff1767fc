/* client_producer — the batching, pipelined, idempotent producer; see client.h. */
#include "client.h"
#include "client_int.h"
#include "partition.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * State, per partition: an open batch (builder + tags) and a queue of closed
 * batches in sequence order. A closed batch is either queued (waiting to be
 * sent, or re-sent) or in flight (inside one request on one connection). A
 * request (struct preq) lists its batches; its tag on the connection is its
 * slot index, so a response finds its batches without a search.
 *
 *   send -> open batch --close--> queue --request--> in flight --ok--> reported, recycled
 *                                   ^                    |
 *                                   +---- retriable -----+--- final error --> reported
 */

#define PRODUCER_CONNS_MAX 256
/* A produce unanswered this long may be stuck at a leader that stopped or
 * was cut off: metadata is asked (at most this often) whether it moved. */
#define PRODUCER_STALL_MS 1000
#define PRODUCER_SERVICE_RECORDS 1024   /* check timers at least every N sends */

struct ppart;

struct pbatch {
	struct pbatch *prev, *next;
	struct ppart *part;
	uint32_t record_count;
	int32_t base_sequence;
	int in_flight;
	int done;              /* appended, reported once the batches before it are */
	int64_t done_offset;   /* where it was appended (done) */
	uint32_t sends;        /* times it went out in a request */
	int maybe_written;     /* a send went unanswered (or timed out at the broker): it
	                          may be in the log under its producer id and sequence */
	uint32_t attempts;
	int64_t deadline_ms;
	uint8_t *data;
	size_t len, cap;
	uint64_t *tags;
	size_t tags_cap;
};

struct ppart {
	uint32_t id;
	int32_t leader_id;
	int32_t in_flight_broker;      /* where its in-flight batches went (in_flight > 0) */
	struct elog_batch_builder builder;
	uint64_t *tags;                /* tags of the open batch */
	size_t tags_cap;
	int64_t open_since_ms;
	size_t open_bytes;             /* counted in buffered_bytes */
	struct pbatch *head, *tail;
	uint32_t batches;              /* in the queue, in flight or not */
	uint32_t in_flight;
	uint32_t done;                 /* appended, waiting for an earlier batch's report */
	int64_t producer_id;
	int16_t epoch;
	int32_t next_sequence;
	int retrying;                  /* wait for in-flight batches to return, then resend in order */
	int needs_reset;               /* new producer id and renumbering before sending again */
	int64_t retry_at_ms;
	uint32_t retry_attempt;
	char last_error[160];
};

static void last_error_set(struct ppart *pp, const char *why);

struct preq {
	int used;
	uint32_t count, cap;
	struct pbatch **batches;
};

struct pconn {
	int32_t broker_id;
	struct elog_conn conn;
	int64_t reconnect_at_ms;
	uint32_t reconnect_attempt;
	struct preq *reqs;
	uint32_t reqs_used;
};

struct elog_producer {
	struct elog_client *client;
	struct elog_producer_config cfg;
	char *topic;
	struct ppart **parts;
	uint32_t part_count;           /* partitions of the topic as known (>= 1) */
	int final;                     /* a final error: nothing more can be sent */
	struct elog_err final_err;
	uint32_t sticky;               /* keyless records go here until its batch closes */
	int idempotent;
	int64_t producer_id;
	int16_t epoch;
	struct pconn *conns[PRODUCER_CONNS_MAX];
	size_t conn_count;
	struct pbatch *free_batches;
	size_t free_count;
	uint64_t buffered_bytes;
	int metadata_stale;
	int64_t metadata_at_ms;
	uint32_t metadata_attempt;
	struct elog_response resp;
	struct elog_producer_stats stats;
	int64_t last_service_ms;
	uint32_t sends_since_service;
	int reported;                  /* something was reported during this service round */
	int in_service;
};

static int producer_service(struct elog_producer *p, int timeout_ms, struct elog_err *err);

static void last_error_set(struct ppart *pp, const char *why)
{
	size_t n = strlen(why);

	if (n >= sizeof(pp->last_error))
		n = sizeof(pp->last_error) - 1;
	memcpy(pp->last_error, why, n);
	pp->last_error[n] = '\0';
}

/* ------------------------------------------------------------ config */

void elog_producer_config_init(struct elog_producer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->acks = -1;
	cfg->linger_ms = 5;
	cfg->batch_bytes = 256u << 10;
	cfg->request_bytes = 4u << 20;
	cfg->compression = ELOG_COMPRESS_NONE;
	cfg->max_in_flight = 5;
	cfg->retries = UINT32_MAX;
	cfg->retry_backoff_ms = 50;
	cfg->retry_backoff_max_ms = 1000;
	cfg->request_timeout_ms = 30000;
	cfg->delivery_timeout_ms = 120000;
	cfg->buffer_bytes = 64u << 20;
	cfg->idempotence = 1;
}

int elog_producer_should_close(const struct elog_producer_config *cfg, size_t batch_bytes,
			       uint32_t record_count, int64_t open_since_ms, int64_t now_ms)
{
	if (record_count == 0)
		return 0;
	if (batch_bytes >= cfg->batch_bytes)
		return 1;
	return now_ms - open_since_ms >= (int64_t)cfg->linger_ms;
}

static int config_check(struct elog_producer_config *c, struct elog_err *err)
{
	if (c->acks != 0 && c->acks != 1 && c->acks != -1)
		return elog_err_set(err, ELOG_E_INVAL, "acks must be 0, 1 or -1 (all), not %d", c->acks);
	if (c->batch_bytes < 1024)
		c->batch_bytes = 1024;
	if (c->batch_bytes > ELOG_BATCH_SIZE_MAX - ELOG_BATCH_HEADER_SIZE)
		c->batch_bytes = ELOG_BATCH_SIZE_MAX - ELOG_BATCH_HEADER_SIZE;
	if (c->request_bytes < c->batch_bytes + ELOG_BATCH_HEADER_SIZE)
		c->request_bytes = c->batch_bytes + ELOG_BATCH_HEADER_SIZE;
	if (c->request_bytes > ELOG_BATCH_SIZE_MAX)
		c->request_bytes = ELOG_BATCH_SIZE_MAX;
	if (c->max_in_flight == 0)
		c->max_in_flight = 1;
	if (c->max_in_flight > 64)
		c->max_in_flight = 64;
	if (!c->retry_backoff_ms)
		c->retry_backoff_ms = 1;
	if (c->retry_backoff_max_ms < c->retry_backoff_ms)
		c->retry_backoff_max_ms = c->retry_backoff_ms;
	if (!c->request_timeout_ms)
		c->request_timeout_ms = 30000;
	if (!c->delivery_timeout_ms)
		c->delivery_timeout_ms = 120000;
	if (c->buffer_bytes < 2 * (uint64_t)c->request_bytes)
		c->buffer_bytes = 2 * (uint64_t)c->request_bytes;
	if ((int)c->compression < 0 || c->compression > ELOG_COMPRESS_ZLIB)
		return elog_err_set(err, ELOG_E_INVAL, "unknown compression %d", (int)c->compression);
	return 0;
}

/* ------------------------------------------------------------ partitions */

static uint32_t parts_have(const struct elog_producer *p)
{
	uint32_t n = 0;
	while (p->parts && p->parts[n])
		n++;
	return n;
}

/* parts[] is indexed by partition id, NULL-terminated; make entries 0..n-1 exist. */
static int parts_ensure(struct elog_producer *p, uint32_t n, struct elog_err *err)
{
	uint32_t have = parts_have(p);
	struct ppart **grown;

	if (have >= n)
		return 0;
	grown = realloc(p->parts, ((size_t)n + 1) * sizeof(*grown));
	if (!grown)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for %u partitions", n);
	p->parts = grown;
	p->parts[have] = NULL;
	for (uint32_t i = have; i < n; i++) {
		struct ppart *pp = calloc(1, sizeof(*pp));
		if (!pp)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory for %u partitions", n);
		pp->id = i;
		pp->leader_id = -1;
		pp->producer_id = p->producer_id;
		pp->epoch = p->epoch;
		elog_batch_builder_init(&pp->builder, p->cfg.compression, p->cfg.request_bytes);
		p->parts[i] = pp;
		p->parts[i + 1] = NULL;
	}
	return 0;
}

/* Take leaders (and the partition count) from the client's metadata cache. */
static int producer_apply_metadata(struct elog_producer *p, const struct elog_metadata *md,
				   struct elog_err *err)
{
	const struct elog_meta_topic *t = elog_metadata_topic(md, p->topic);
	uint32_t count = 0;

	if (!t || t->error || t->partition_count == 0)
		return 0; /* keep what we knew: sends to old leaders get a definite answer */
	for (uint32_t i = 0; i < t->partition_count; i++)
		if (t->partitions[i].id + 1 > count)
			count = t->partitions[i].id + 1;
	if (parts_ensure(p, count, err) < 0)
		return -1;
	for (uint32_t i = 0; i < t->partition_count; i++) {
		struct ppart *pp = p->parts[t->partitions[i].id];
		int32_t leader = t->partitions[i].leader_id;
		/* A new leader is tried at once: the backoff was the old one's. */
		if (leader >= 0 && leader != pp->leader_id) {
			pp->retry_at_ms = 0;
			pp->retry_attempt = 0;
		}
		pp->leader_id = leader;
	}
	if (count > p->part_count)
		p->part_count = count;
	return 0;
}

static int producer_refresh(struct elog_producer *p, struct elog_err *err)
{
	const char *topics[1] = {p->topic};
	const struct elog_metadata *md;

	p->metadata_at_ms = elog_clock_ms();
	md = elog_client_metadata(p->client, topics, 1, err);
	if (!md)
		return -1;
	p->metadata_stale = 0;
	return producer_apply_metadata(p, md, err);
}

/* ------------------------------------------------------------ open / free */

struct elog_producer *elog_producer_new(struct elog_client *c, const char *topic,
					const struct elog_producer_config *cfg,
					struct elog_err *err)
{
	struct elog_producer *p;
	const struct elog_meta_topic *t;
	const char *topics[1] = {topic};
	const struct elog_metadata *md;
	int64_t deadline;

	if (elog_topic_name_check(topic, strlen(topic), 1, err) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a producer");
		return NULL;
	}
	p->client = c;
	if (cfg)
		p->cfg = *cfg;
	else
		elog_producer_config_init(&p->cfg);
	p->producer_id = -1;
	p->epoch = -1;
	p->topic = strdup(topic);
	elog_response_init(&p->resp, elog_client_config(c)->frame_bytes_max);
	if (!p->topic) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a producer");
		goto fail;
	}
	if (config_check(&p->cfg, err) < 0)
		goto fail;
	p->idempotent = p->cfg.idempotence && p->cfg.acks != 0;
	deadline = elog_clock_ms() + p->cfg.request_timeout_ms;
	/* The one time this producer may have the topic created: from here on
	 * it only ever sends PRODUCE v2, which never creates one. */
	md = elog_client_metadata_create(c, topics, 1, err);
	if (!md)
		goto fail;
	t = elog_metadata_topic(md, topic);
	/* In a cluster the controller creates it (NOT_LEADER elsewhere) and says
	 * LEADER_UNKNOWN until the create is committed and its partitions have
	 * leaders: ask again, at the controller, with backoff. */
	for (uint32_t attempt = 0;
	     t && (t->error == ELOG_PE_NOT_LEADER || t->error == ELOG_PE_LEADER_UNKNOWN); attempt++) {
		if (elog_clock_ms() >= deadline)
			break;
		usleep(1000u * elog_backoff_ms(attempt, p->cfg.retry_backoff_ms, p->cfg.retry_backoff_max_ms,
					       elog_client_random()));
		md = elog_client_metadata_create(c, topics, 1, err);
		if (!md)
			goto fail;
		t = elog_metadata_topic(md, topic);
	}
	if (!t || t->error == ELOG_PE_UNKNOWN_TOPIC) {
		static const char why[] = "no such topic, and the broker does not create topics "
					  "(auto_create_topics is off)";
		elog_client_err_proto(err, ELOG_PE_UNKNOWN_TOPIC, why, sizeof(why) - 1,
				      "produce to '%s'", topic);
		goto fail;
	}
	if (t->error || t->partition_count == 0) {
		elog_client_err_proto(err, t->error ? t->error : ELOG_PE_LEADER_UNKNOWN, NULL, 0,
				      "produce to '%s'", topic);
		goto fail;
	}
	if (producer_apply_metadata(p, md, err) < 0)
		goto fail;
	if (p->idempotent && elog_client_init_producer(c, &p->producer_id, &p->epoch, err) < 0)
		goto fail;
	for (uint32_t i = 0; i < p->part_count; i++) {
		p->parts[i]->producer_id = p->producer_id;
		p->parts[i]->epoch = p->epoch;
	}
	assert(p->part_count > 0);
	p->sticky = elog_client_random() % p->part_count;
	p->last_service_ms = elog_client_coarse_ms();
	return p;
fail:
	elog_producer_free(p);
	return NULL;
}

static void batch_free(struct pbatch *b)
{
	free(b->data);
	free(b->tags);
	free(b);
}

void elog_producer_free(struct elog_producer *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		struct pbatch *b = pp->head;
		while (b) {
			struct pbatch *next = b->next;
			batch_free(b);
			b = next;
		}
		elog_batch_builder_release(&pp->builder);
		free(pp->tags);
		free(pp);
	}
	free(p->parts);
	while (p->free_batches) {
		struct pbatch *b = p->free_batches;
		p->free_batches = b->next;
		batch_free(b);
	}
	for (size_t i = 0; i < p->conn_count; i++) {
		struct pconn *pc = p->conns[i];
		elog_conn_release(&pc->conn);
		for (uint32_t k = 0; k < p->cfg.max_in_flight; k++)
			free(pc->reqs[k].batches);
		free(pc->reqs);
		free(pc);
	}
	elog_response_release(&p->resp);
	free(p->topic);
	free(p);
}

uint32_t elog_producer_partition_count(const struct elog_producer *p)
{
	return p->part_count;
}

void elog_producer_stats(const struct elog_producer *p, struct elog_producer_stats *st)
{
	*st = p->stats;
}

/* ------------------------------------------------------------ batches */

static struct pbatch *batch_get(struct elog_producer *p)
{
	struct pbatch *b = p->free_batches;

	if (b) {
		p->free_batches = b->next;
		p->free_count--;
		b->prev = b->next = NULL;
		return b;
	}
	return calloc(1, sizeof(*b));
}

static void batch_put(struct elog_producer *p, struct pbatch *b)
{
	/* Keep a few for reuse (bounded), free the rest. */
	if (p->free_count >= 64 || b->cap > 2 * (size_t)p->cfg.request_bytes) {
		batch_free(b);
		return;
	}
	b->next = p->free_batches;
	p->free_batches = b;
	p->free_count++;
}

static void queue_append(struct ppart *pp, struct pbatch *b)
{
	pp->batches++;
	b->prev = pp->tail;
	b->next = NULL;
	if (pp->tail)
		pp->tail->next = b;
	else
		pp->head = b;
	pp->tail = b;
}

static void queue_unlink(struct ppart *pp, struct pbatch *b)
{
	assert(pp->batches > 0);
	pp->batches--;
	if (b->prev)
		b->prev->next = b->next;
	else
		pp->head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		pp->tail = b->prev;
	b->prev = b->next = NULL;
}

/* Report one batch (delivered when error == 0) and recycle it. */
static void batch_report_one(struct elog_producer *p, struct pbatch *b, int64_t base_offset, int error,
			     const char *message)
{
	struct ppart *pp = b->part;
	struct elog_delivery d;

	d.topic = p->topic;
	d.partition = pp->id;
	d.base_offset = error ? -1 : base_offset;
	d.record_count = b->record_count;
	d.tags = b->tags;
	d.error = error;
	d.message = error ? message : "";
	if (error) {
		uint64_t min_tag = UINT64_MAX;
		for (uint32_t i = 0; i < b->record_count; i++)
			if (b->tags[i] < min_tag)
				min_tag = b->tags[i];
		if (p->stats.records_failed == 0 || min_tag < p->stats.first_failed_tag)
			p->stats.first_failed_tag = min_tag;
		if (!p->stats.first_error[0])
			snprintf(p->stats.first_error, sizeof(p->stats.first_error), "%s", message);
		p->stats.records_failed += b->record_count;
		p->stats.batches_failed++;
	} else {
		p->stats.records_delivered += b->record_count;
		p->stats.batches_delivered++;
		p->stats.bytes_delivered += b->len;
	}
	if (p->cfg.on_delivery)
		p->cfg.on_delivery(p->cfg.ctx, &d);
	p->reported = 1;
	queue_unlink(pp, b);
	assert(p->buffered_bytes >= b->len);
	p->buffered_bytes -= b->len;
	batch_put(p, b);
}

/*
 * Report a batch, in its partition's order: a producer's reports for one
 * partition come in the order it sent the records, with increasing
 * offsets. A batch appended while an earlier one of its partition is still
 * unreported is held (done) until that one is reported: an earlier batch can
 * be answered with a retriable error although it was appended (a leader's
 * acks=all or fsync wait timed out, or the connection was lost after the
 * append), and its resend, answered as a duplicate, comes back after the
 * later batch's answer.
 */
static void batch_report(struct elog_producer *p, struct pbatch *b, int64_t base_offset, int error,
			 const char *message)
{
	struct ppart *pp = b->part;

	if (error == 0 && b->prev) {
		assert(!b->done && !b->in_flight);
		b->done = 1;
		b->done_offset = base_offset;
		pp->done++;
		return;
	}
	batch_report_one(p, b, base_offset, error, message);
	while (pp->head && pp->head->done) {
		b = pp->head;
		b->done = 0;
		pp->done--;
		batch_report_one(p, b, b->done_offset, 0, "");
	}
}

static void batch_fail(struct elog_producer *p, struct pbatch *b, int error, const char *why)
{
	char msg[ELOG_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "produce to '%s' partition %u: %s", p->topic, b->part->id, why);
	/* With idempotence a hole in the sequence must not reach the broker: later
	 * batches of the partition are renumbered under a new producer id. */
	if (p->idempotent) {
		b->part->needs_reset = 1;
		b->part->retrying = 1;
	}
	batch_report(p, b, -1, error, msg);
}

/* Close the open batch of a partition into its queue. */
static int batch_close(struct elog_producer *p, struct ppart *pp, struct elog_err *err)
{
	struct elog_batch_builder *bb = &pp->builder;
	uint32_t count = elog_batch_builder_count(bb);
	const uint8_t *out;
	size_t out_len;
	struct pbatch *b;
	uint64_t *tags;
	size_t tags_cap;

	if (count == 0)
		return 0;
	if (p->idempotent) {
		bb->producer_id = pp->producer_id;
		bb->producer_epoch = pp->epoch;
		if (pp->next_sequence > INT32_MAX - (int32_t)count) {
			/* Sequence space used up: renumber under a new producer id first. */
			pp->needs_reset = 1;
			pp->next_sequence = 0;
		}
		bb->base_sequence = pp->next_sequence;
	}
	if (elog_batch_builder_finish(bb, &out, &out_len, err) < 0)
		return elog_err_prefix(err, "produce to '%s' partition %u", p->topic, pp->id);
	b = batch_get(p);
	if (!b)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a batch");
	if (b->cap < out_len) {
		uint8_t *d = realloc(b->data, out_len);
		if (!d) {
			batch_put(p, b);
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a batch");
		}
		b->data = d;
		b->cap = out_len;
	}
	memcpy(b->data, out, out_len);
	b->len = out_len;
	/* The open batch's tags become the batch's; the batch's old array is reused. */
	tags = b->tags;
	tags_cap = b->tags_cap;
	b->tags = pp->tags;
	b->tags_cap = pp->tags_cap;
	pp->tags = tags;
	pp->tags_cap = tags_cap;
	b->part = pp;
	b->record_count = count;
	b->base_sequence = p->idempotent ? pp->next_sequence : -1;
	b->in_flight = 0;
	b->done = 0;
	b->attempts = 0;
	b->sends = 0;
	b->maybe_written = 0;
	/* From its first record: a batch kept open while its partition was
	 * blocked does not extend its records' delivery timeout. */
	b->deadline_ms = pp->open_since_ms + p->cfg.delivery_timeout_ms;
	if (p->idempotent)
		pp->next_sequence += (int32_t)count;
	queue_append(pp, b);
	p->buffered_bytes = p->buffered_bytes - pp->open_bytes + out_len;
	pp->open_bytes = 0;
	elog_batch_builder_reset(bb);
	if (pp->id == p->sticky && p->part_count > 1)
		p->sticky = (p->sticky + 1) % p->part_count;
	return 0;
}

static int close_all(struct elog_producer *p, struct elog_err *err)
{
	for (uint32_t i = 0; p->parts && p->parts[i]; i++)
		if (batch_close(p, p->parts[i], err) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ connections */

static struct pconn *pconn_get(struct elog_producer *p, int32_t broker_id, struct elog_err *err)
{
	struct elog_conn_config cfg;
	struct pconn *pc;

	for (size_t i = 0; i < p->conn_count; i++)
		if (p->conns[i]->broker_id == broker_id)
			return p->conns[i];
	if (p->conn_count == PRODUCER_CONNS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "more than %d brokers", PRODUCER_CONNS_MAX);
		return NULL;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc)
		pc->reqs = calloc(p->cfg.max_in_flight, sizeof(*pc->reqs));
	if (!pc || !pc->reqs) {
		free(pc);
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a connection");
		return NULL;
	}
	pc->broker_id = broker_id;
	elog_client_conn_config(p->client, &cfg);
	cfg.in_flight_max = p->cfg.max_in_flight;
	cfg.send_buffer_bytes = (size_t)p->cfg.request_bytes * 2;
	elog_conn_init(&pc->conn, &cfg);
	p->conns[p->conn_count++] = pc;
	return pc;
}

/* Every batch of every request on a broken connection goes back to its queue. */
static void pconn_lost(struct elog_producer *p, struct pconn *pc, const struct elog_err *why)
{
	int64_t now = elog_clock_ms();

	for (uint32_t k = 0; k < p->cfg.max_in_flight; k++) {
		struct preq *rq = &pc->reqs[k];
		if (!rq->used)
			continue;
		for (uint32_t i = 0; i < rq->count; i++) {
			struct pbatch *b = rq->batches[i];
			struct ppart *pp = b->part;
			b->in_flight = 0;
			b->maybe_written = 1;
			pp->in_flight--;
			pp->retrying = 1;
			if (pp->retry_at_ms < now)
				pp->retry_at_ms = now + elog_backoff_ms(pp->retry_attempt++, p->cfg.retry_backoff_ms,
									p->cfg.retry_backoff_max_ms,
									elog_client_random());
			last_error_set(pp, why->msg);
			p->stats.retries++;
		}
		rq->used = 0;
		rq->count = 0;
	}
	pc->reqs_used = 0;
	pc->reconnect_at_ms = now + elog_backoff_ms(pc->reconnect_attempt++, p->cfg.retry_backoff_ms,
						    p->cfg.retry_backoff_max_ms, elog_client_random());
	p->metadata_stale = 1;
	elog_conn_close(&pc->conn);
}

/*
 * After a metadata refresh: a partition whose leader moved while batches
 * are in flight to its old leader. Waiting for the old leader's answer
 * keeps the order (part_sendable), but a leader that died or was cut off
 * may not answer before the request timeout. With idempotence the old
 * connection is dropped instead, as if it had been lost: its batches go
 * back to their queues and are resent, in order, with the same producer id
 * and sequences, to the leaders named now. A batch the old leader did
 * append is either in the new leader's log (it answers with the original
 * offset) or never commits. Without idempotence a resend could store a
 * batch twice: the answer is awaited.
 */
static void abandon_moved(struct elog_producer *p)
{
	for (uint32_t i = 0; p->idempotent && p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		struct elog_err why;

		if (!pp->in_flight || pp->in_flight_broker == pp->leader_id)
			continue;
		for (size_t k = 0; k < p->conn_count; k++) {
			struct pconn *pc = p->conns[k];
			if (pc->broker_id != pp->in_flight_broker || !pc->reqs_used)
				continue;
			/* Every partition in flight there is resent: the reason is the
			 * connection's, not this partition's alone. */
			elog_err_set(&why, ELOG_E_IO,
				     "requests to broker %d abandoned: a partition's leader moved away from it",
				     (int)pp->in_flight_broker);
			pconn_lost(p, pc, &why);
		}
		assert(pp->in_flight == 0);
	}
}

/* ------------------------------------------------------------ responses */

struct produce_ctx {
	struct elog_producer *p;
	struct preq *rq;
};

static int is_retriable(struct elog_producer *p, struct pbatch *b, int code)
{
	if (elog_proto_error_retriable(code))
		return 1;
	if (!p->idempotent)
		return 0;
	/* An earlier batch of the partition is unacknowledged (being retried):
	 * the broker refuses the later ones until it is in; resend them in order. */
	if (code == ELOG_PE_OUT_OF_ORDER_SEQUENCE && b->prev)
		return 1;
	/* The broker lost this producer's state (e.g. its log was trimmed): the
	 * batch was not appended; resend under a new producer id. */
	if (code == ELOG_PE_UNKNOWN_PRODUCER) {
		b->part->needs_reset = 1;
		return 1;
	}
	return 0;
}

static void batch_result(struct elog_producer *p, struct pbatch *b, int code, const char *msg,
			 size_t msg_len, int64_t base_offset)
{
	struct ppart *pp = b->part;
	char why[ELOG_ERR_MSG_MAX];
	int64_t now;
	int retriable;

	assert(b->in_flight);
	b->in_flight = 0;
	pp->in_flight--;
	if (code == 0) {
		pp->retry_attempt = 0;
		batch_report(p, b, base_offset, 0, "");
		return;
	}
	if (msg_len > 160)
		msg_len = 160;
	if (msg_len)
		snprintf(why, sizeof(why), "%.*s", (int)msg_len, msg);
	else
		snprintf(why, sizeof(why), "%s", elog_proto_error_text(code));
	now = elog_clock_ms();
	if (code == ELOG_PE_TIMEOUT)
		b->maybe_written = 1;
	retriable = is_retriable(p, b, code);
	if (retriable && b->attempts < p->cfg.retries && now < b->deadline_ms) {
		b->attempts++;
		p->stats.retries++;
		pp->retrying = 1;
		if (pp->retry_at_ms < now)
			pp->retry_at_ms = now + elog_backoff_ms(pp->retry_attempt++, p->cfg.retry_backoff_ms,
								p->cfg.retry_backoff_max_ms, elog_client_random());
		last_error_set(pp, why);
		/* The leader may have moved (or be moving: an acks=all timeout
		 * is what a leader that lost its followers answers). */
		if (code == ELOG_PE_NOT_LEADER || code == ELOG_PE_LEADER_UNKNOWN ||
		    code == ELOG_PE_SHUTTING_DOWN || code == ELOG_PE_TIMEOUT)
			p->metadata_stale = 1;
		return;
	}
	if (retriable) {
		/* Given up on an error worth retrying: an earlier send of this
		 * batch may have been appended (and committed later: a lost
		 * answer, a leader that moved), and an acks=all TIMEOUT means this
		 * one was. Its fate is unknown, not refused: -1, as a batch that
		 * expires in its queue. */
		char lost[ELOG_ERR_MSG_MAX];
		if (now >= b->deadline_ms)
			snprintf(lost, sizeof(lost), "not delivered within %u ms (last error: %.160s)",
				 p->cfg.delivery_timeout_ms, why);
		else
			snprintf(lost, sizeof(lost), "not delivered after %u retries (last error: %.160s)",
				 b->attempts, why);
		batch_fail(p, b, -1, lost);
		return;
	}
	if (code == ELOG_PE_UNKNOWN_TOPIC || code == ELOG_PE_PRODUCER_FENCED) {
		if (!p->final) {
			p->final = 1;
			elog_client_err_proto(&p->final_err, code, msg, msg_len, "produce to '%s'", p->topic);
		}
	}
	batch_fail(p, b, code, why);
}

static int produce_result(void *ctx, const struct elog_produce_result *res, struct elog_err *err)
{
	struct produce_ctx *pc = ctx;
	struct elog_producer *p = pc->p;
	int64_t offset = res->base_offset;

	(void)err;
	if (res->topic_len != strlen(p->topic) || memcmp(res->topic, p->topic, res->topic_len) != 0)
		return 0; /* not ours: ignored (a request names one topic) */
	for (uint32_t i = 0; i < pc->rq->count; i++) {
		struct pbatch *b = pc->rq->batches[i];
		uint32_t count;
		if (!b || b->part->id != res->partition)
			continue;
		pc->rq->batches[i] = NULL;
		count = b->record_count; /* b is recycled by batch_result */
		/* Batches of one partition in one request were appended back to
		 * back (a resent one, maybe a duplicate, goes alone: send_request). */
		batch_result(p, b, res->error, res->message, res->message_len, offset);
		if (res->error == 0 && offset >= 0)
			offset += count;
	}
	return 0;
}

static void produce_response(struct elog_producer *p, struct pconn *pc, struct elog_response *resp)
{
	struct preq *rq = &pc->reqs[resp->tag];
	struct produce_ctx ctx = {p, rq};
	struct elog_wire_r r;
	struct elog_err e;
	const char *msg;
	size_t msg_len;
	int16_t code;

	assert(resp->tag < p->cfg.max_in_flight && rq->used);
	elog_wire_r_init(&r, resp->body, resp->body_len);
	code = elog_wire_get_response_error(&r, &msg, &msg_len);
	if (r.failed) {
		code = ELOG_PE_INVALID_REQUEST;
		msg = "malformed produce response";
		msg_len = strlen(msg);
	} else if (code == 0 && elog_produce_response_walk(&r, produce_result, &ctx, &e) < 0) {
		/* What was not answered is treated as lost and retried. */
		code = ELOG_PE_TIMEOUT;
		msg = e.msg;
		msg_len = strlen(e.msg);
	}
	for (uint32_t i = 0; i < rq->count; i++) {
		struct pbatch *b = rq->batches[i];
		if (!b)
			continue;
		if (code == 0) {
			/* A partition the broker did not answer for: retry it. */
			batch_result(p, b, ELOG_PE_TIMEOUT, "no result for this partition in the response",
				     44, -1);
		} else {
			batch_result(p, b, code, msg, msg_len, -1);
		}
	}
	rq->used = 0;
	rq->count = 0;
	pc->reqs_used--;
	pc->reconnect_attempt = 0;
}

/* ------------------------------------------------------------ sending */

static int part_sendable(const struct elog_producer *p, const struct ppart *pp, int64_t now)
{
	if (pp->batches == pp->in_flight + pp->done || pp->needs_reset || now < pp->retry_at_ms)
		return 0; /* nothing waiting to go */
	if (pp->retrying && pp->in_flight)
		return 0; /* drain first, then resend in order */
	/* The leader moved while batches are in flight to the old one: they are
	 * in doubt until answered (or their connection is lost). A later batch
	 * sent to the new leader now could land before them: wait. */
	if (pp->in_flight && pp->in_flight_broker != pp->leader_id)
		return 0;
	if (p->idempotent && pp->in_flight >= ELOG_PRODUCER_PARTITION_IN_FLIGHT_MAX)
		return 0;
	/* A resent batch goes alone (send_request) and, while it is in flight,
	 * nothing after it goes: it may fail again where a later batch would
	 * not (a disk below its reserve takes a small batch and refuses a big
	 * one), and the later one, landing first, would be out of sequence. */
	if (pp->head && pp->head->in_flight && pp->head->sends > 1)
		return 0;
	return 1;
}

/*
 * Renumber a partition's queued batches under a new producer id. A batch
 * that may already be in the log (a send of it went unanswered) is not
 * renumbered: under a new producer id no broker could tell it from a new
 * batch, and it would be stored twice. It is reported instead, its fate
 * unknown (-1).
 */
static int part_reset(struct elog_producer *p, struct ppart *pp, struct elog_err *err)
{
	int64_t id;
	int16_t epoch;
	int32_t seq = 0;
	struct pbatch *b;

	assert(pp->in_flight == 0);
	if (elog_client_init_producer(p->client, &id, &epoch, err) < 0)
		return -1;
	/* (A report may also report the appended batches after it: look
	 * again from the head each time.) */
	for (;;) {
		char msg[ELOG_ERR_MSG_MAX];
		for (b = pp->head; b && (!b->maybe_written || b->done); b = b->next)
			;
		if (!b)
			break;
		snprintf(msg, sizeof(msg),
			 "produce to '%s' partition %u: not delivered: sent, unanswered, and an "
			 "earlier batch failed (last error: %.160s)",
			 p->topic, pp->id, pp->last_error[0] ? pp->last_error : "none");
		batch_report(p, b, -1, -1, msg);
	}
	pp->producer_id = id;
	pp->epoch = epoch;
	for (b = pp->head; b; b = b->next) {
		if (b->done)
			continue; /* appended under the old id: never sent again */
		elog_batch_set_producer(b->data, b->len, id, epoch, seq);
		b->base_sequence = seq;
		seq += (int32_t)b->record_count;
	}
	pp->next_sequence = seq;
	pp->needs_reset = 0;
	pp->retrying = 0;
	return 0;
}

static int request_add(struct preq *rq, struct pbatch *b)
{
	if (rq->count == rq->cap) {
		uint32_t cap = rq->cap ? rq->cap * 2 : 16;
		struct pbatch **grown = realloc(rq->batches, cap * sizeof(*grown));
		if (!grown)
			return -1;
		rq->batches = grown;
		rq->cap = cap;
	}
	rq->batches[rq->count++] = b;
	return 0;
}

/* Build and queue one PRODUCE request on pc from the sendable batches it leads. */
static int send_request(struct elog_producer *p, struct pconn *pc, int64_t now, struct elog_err *err)
{
	struct preq *rq = NULL;
	struct elog_wire_w w;
	uint32_t cid, slot = 0, parts_in = 0;
	size_t bytes = 0, parts_pos, topic_pos;
	int acks = p->cfg.acks;

	if (acks != 0) {
		for (slot = 0; slot < p->cfg.max_in_flight && pc->reqs[slot].used; slot++)
			;
		if (slot == p->cfg.max_in_flight)
			return 0;
		rq = &pc->reqs[slot];
		rq->count = 0;
	}
	/* Is there anything to send? */
	{
		int any = 0;
		for (uint32_t i = 0; p->parts && p->parts[i] && !any; i++)
			any = p->parts[i]->leader_id == pc->broker_id && part_sendable(p, p->parts[i], now);
		if (!any)
			return 0;
	}
	if (elog_conn_request_begin(&pc->conn, &w, ELOG_API_PRODUCE, &cid, err) < 0)
		return err->code == ELOG_E_LIMIT ? 0 : -1;
	elog_wire_put_i8(&w, (int8_t)acks);
	elog_wire_put_u32(&w, p->cfg.request_timeout_ms);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, p->topic);
	topic_pos = elog_wire_put_count(&w, 0);
	(void)topic_pos;
	parts_pos = topic_pos;
	for (uint32_t i = 0; p->parts[i] && bytes < p->cfg.request_bytes; i++) {
		struct ppart *pp = p->parts[i];
		size_t len_pos, part_bytes = 0;

		if (pp->leader_id != pc->broker_id || !part_sendable(p, pp, now))
			continue;
		pp->retrying = 0;
		elog_wire_put_u32(&w, pp->id);
		len_pos = elog_wire_put_count(&w, 0);
		for (struct pbatch *b = pp->head, *next; b; b = next) {
			next = b->next;
			if (b->in_flight || b->done)
				continue;
			if (p->idempotent && pp->in_flight >= ELOG_PRODUCER_PARTITION_IN_FLIGHT_MAX)
				break;
			if (bytes && bytes + b->len > p->cfg.request_bytes)
				break;
			/* A batch sent before may be a duplicate, answered with the
			 * offset it first got, so the partition's one base offset
			 * would not say where a batch after it went: a resent batch
			 * goes alone. */
			if (part_bytes && b->sends)
				break;
			if (rq && request_add(rq, b) < 0)
				break;
			elog_wire_put_raw(&w, b->data, b->len);
			b->in_flight = 1;
			pp->in_flight++;
			pp->in_flight_broker = pc->broker_id;
			bytes += b->len;
			part_bytes += b->len;
			if (b->sends++)
				break;
			if (!rq) {
				/* acks=0: nothing will come back; it is delivered once queued. */
				b->in_flight = 0;
				pp->in_flight--;
				batch_report(p, b, -1, 0, "");
			}
		}
		elog_wire_patch_count(&w, len_pos, (uint32_t)part_bytes);
		parts_in++;
	}
	elog_wire_patch_count(&w, parts_pos, parts_in);
	if (elog_conn_request_end(&pc->conn, &w, rq != NULL, slot,
				  (int)p->cfg.request_timeout_ms + 5000, err) < 0) {
		/* Encoding failed (a limit): put the batches back. */
		for (uint32_t i = 0; rq && i < rq->count; i++) {
			rq->batches[i]->in_flight = 0;
			rq->batches[i]->part->in_flight--;
		}
		if (rq)
			rq->count = 0;
		return -1;
	}
	p->stats.requests++;
	if (rq) {
		rq->used = 1;
		pc->reqs_used++;
	}
	return 1;
}

/* Whether pp has batches to send and no leader to send them to: none is
 * known, or its connection is down and backing off. */
static int leader_unreachable(const struct elog_producer *p, const struct ppart *pp, int64_t now)
{
	if (pp->batches == pp->in_flight + pp->done)
		return 0;
	if (pp->leader_id < 0)
		return 1;
	for (size_t k = 0; k < p->conn_count; k++)
		if (p->conns[k]->broker_id == pp->leader_id)
			return !elog_conn_is_open(&p->conns[k]->conn) &&
			       now < p->conns[k]->reconnect_at_ms;
	return 0;
}

/* Connect where needed and send what can be sent. */
static int send_ready(struct elog_producer *p, int64_t now, struct elog_err *err)
{
	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		struct pconn *pc;
		const struct elog_meta_broker *mb;
		struct elog_err e;

		/* Even while the partition's own retry backs off: a leader elected
		 * meanwhile is learnt, and tried at once (producer_apply_metadata). */
		if (leader_unreachable(p, pp, now))
			p->metadata_stale = 1;
		if (!part_sendable(p, pp, now))
			continue;
		if (pp->leader_id < 0) {
			p->metadata_stale = 1;
			continue;
		}
		pc = pconn_get(p, pp->leader_id, err);
		if (!pc)
			return -1;
		if (!elog_conn_is_open(&pc->conn)) {
			if (now < pc->reconnect_at_ms) {
				/* Its leader is unreachable: while reconnects to it back
				 * off, ask METADATA (at its own pace, retry_backoff_ms
				 * while it answers) whether another broker leads now, so a
				 * new leader is used once elected, not after the backoff. */
				p->metadata_stale = 1;
				continue;
			}
			mb = elog_client_broker(p->client, pp->leader_id);
			if (!mb) {
				p->metadata_stale = 1;
				continue;
			}
			/* Non-blocking: requests queue while it connects; a dead
			 * broker costs this partition, never the others. */
			if (elog_conn_connect_start(&pc->conn, mb->host, mb->port, &e) < 0) {
				pconn_lost(p, pc, &e);
				/* Nothing was in flight; note why for a later timeout message. */
				last_error_set(pp, e.msg);
				continue;
			}
		}
		while (elog_conn_can_send(&pc->conn)) {
			int rc = send_request(p, pc, now, &e);
			if (rc < 0) {
				/* A batch that cannot be encoded into a frame fails alone. */
				if (pp->head && !pp->head->in_flight)
					batch_fail(p, pp->head, -1, e.msg);
				break;
			}
			if (rc == 0)
				break;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ timers */

static void expire_batches(struct elog_producer *p, int64_t now)
{
	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		struct pbatch *b = pp->head;
		/* Deadlines grow along the queue (batches are queued as they close):
		 * stop at the first one not due, so this is O(expired) per round. */
		while (b && now >= b->deadline_ms) {
			char why[ELOG_ERR_MSG_MAX];
			if (b->in_flight || b->done) {
				b = b->next;
				continue;
			}
			snprintf(why, sizeof(why), "not delivered within %u ms%s%s%s", p->cfg.delivery_timeout_ms,
				 pp->last_error[0] ? " (last error: " : "", pp->last_error,
				 pp->last_error[0] ? ")" : "");
			/* Its report may report done batches after it too (batch_report):
			 * look again from the head, never at a pointer saved before. */
			batch_fail(p, b, -1, why);
			b = pp->head;
		}
	}
}

/*
 * Close open batches whose linger passed, except where closed batches of
 * the partition still wait to be sent (a leader being elected, a resend,
 * the in-flight limit): closing would not send it sooner, and records go
 * on filling it (up to batch_bytes) instead of queueing one small batch
 * each, which after a failover would drain a few batches per round trip.
 */
static void linger_expired(struct elog_producer *p, int64_t now, struct elog_err *err)
{
	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		if (pp->batches > pp->in_flight + pp->done)
			continue;
		if (elog_producer_should_close(&p->cfg, elog_batch_builder_bytes(&pp->builder),
					       elog_batch_builder_count(&pp->builder), pp->open_since_ms, now))
			(void)batch_close(p, pp, err);
	}
}

/* When to ask metadata whether a leader with a request stuck on it moved;
 * INT64_MAX: nothing is in flight. */
static int64_t stall_check_at(const struct elog_producer *p)
{
	int64_t oldest = INT64_MAX;

	for (size_t i = 0; i < p->conn_count; i++) {
		int64_t o = elog_conn_oldest_ms(&p->conns[i]->conn);
		if (o < oldest)
			oldest = o;
	}
	return elog_client_stall_check_at(oldest, PRODUCER_STALL_MS, p->metadata_at_ms,
					  p->cfg.retry_backoff_max_ms);
}

int elog_producer_timeout_ms(const struct elog_producer *p)
{
	int64_t now = elog_clock_ms(), next = stall_check_at(p);

	if (p->metadata_stale) {
		int64_t at = p->metadata_at_ms + (int64_t)elog_backoff_ms(p->metadata_attempt,
									 p->cfg.retry_backoff_ms,
									 p->cfg.retry_backoff_max_ms, 0);
		if (at < next)
			next = at;
	}

	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		const struct ppart *pp = p->parts[i];
		/* A partition with closed batches waiting keeps its open batch open
		 * (linger_expired): no linger timer for it. */
		if (elog_batch_builder_count(&pp->builder) && pp->batches <= pp->in_flight + pp->done &&
		    pp->open_since_ms + p->cfg.linger_ms < next)
			next = pp->open_since_ms + p->cfg.linger_ms;
		/* Batches waiting for a request slot are woken by their connection's
		 * fd (a response frees a slot), not by a timer: no entry here. */
		if (pp->head) {
			if (pp->retry_at_ms > now && pp->retry_at_ms < next)
				next = pp->retry_at_ms;
			if (pp->head->deadline_ms < next)
				next = pp->head->deadline_ms;
		}
	}
	for (size_t i = 0; i < p->conn_count; i++) {
		int left = elog_conn_timeout_ms(&p->conns[i]->conn, now);
		if (!elog_conn_is_open(&p->conns[i]->conn) && p->conns[i]->reconnect_at_ms > now &&
		    p->conns[i]->reconnect_at_ms < next)
			next = p->conns[i]->reconnect_at_ms;
		/* A connect or request deadline: noticed by elog_conn_io. */
		if (left >= 0 && now + left < next)
			next = now + left;
	}
	if (next == INT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > INT32_MAX ? INT32_MAX : next - now);
}

size_t elog_producer_pollfds(const struct elog_producer *p, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->conn_count && n < max; i++) {
		short ev = elog_conn_events(&p->conns[i]->conn);
		if (!ev)
			continue;
		fds[n].fd = p->conns[i]->conn.fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ the engine */

static void drain_conn(struct elog_producer *p, struct pconn *pc)
{
	struct elog_err e;
	int rc;

	while ((rc = elog_conn_recv(&pc->conn, &p->resp, &e)) > 0)
		produce_response(p, pc, &p->resp);
	if (rc < 0)
		pconn_lost(p, pc, &e);
}

/*
 * One round: timers, metadata, resets, sends, then poll up to timeout_ms
 * for responses. Returns -1 only for failures the caller must see (out of
 * memory); broker trouble is handled per batch.
 */
static int producer_service(struct elog_producer *p, int timeout_ms, struct elog_err *err)
{
	struct pollfd fds[PRODUCER_CONNS_MAX];
	struct pconn *owners[PRODUCER_CONNS_MAX];
	size_t n = 0;
	int64_t now = elog_clock_ms();
	int wait;

	assert(!p->in_service);
	p->in_service = 1;
	/* Only what this round reports cuts its wait short: a report of an
	 * earlier round, never taken by elog_producer_poll (the backpressure
	 * and flush loops do not), would turn every later wait into a spin. */
	p->reported = 0;
	/* Responses read while pushing requests out are taken first. */
	for (size_t i = 0; i < p->conn_count; i++)
		if (elog_conn_is_open(&p->conns[i]->conn))
			drain_conn(p, p->conns[i]);
	p->last_service_ms = elog_client_coarse_ms();
	p->sends_since_service = 0;
	linger_expired(p, now, err);
	expire_batches(p, now);
	if (now >= stall_check_at(p))
		p->metadata_stale = 1;
	if (p->metadata_stale &&
	    now - p->metadata_at_ms >= (int64_t)elog_backoff_ms(p->metadata_attempt, p->cfg.retry_backoff_ms,
								p->cfg.retry_backoff_max_ms, 0)) {
		struct elog_err e;
		if (producer_refresh(p, &e) < 0) {
			p->metadata_attempt++;
		} else {
			p->metadata_attempt = 0;
			abandon_moved(p);
		}
		now = elog_clock_ms();
	}
	for (uint32_t i = 0; p->parts && p->parts[i]; i++) {
		struct ppart *pp = p->parts[i];
		struct elog_err e;
		if (pp->needs_reset && pp->in_flight == 0 && now >= pp->retry_at_ms) {
			if (part_reset(p, pp, &e) < 0) {
				last_error_set(pp, e.msg);
				pp->retry_at_ms = now + elog_backoff_ms(pp->retry_attempt++, p->cfg.retry_backoff_ms,
									p->cfg.retry_backoff_max_ms,
									elog_client_random());
			}
		}
	}
	if (send_ready(p, now, err) < 0) {
		p->in_service = 0;
		return -1;
	}
	for (size_t i = 0; i < p->conn_count; i++) {
		short ev = elog_conn_events(&p->conns[i]->conn);
		if (!ev)
			continue;
		fds[n].fd = p->conns[i]->conn.fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		owners[n++] = p->conns[i];
	}
	wait = elog_producer_timeout_ms(p);
	if (wait < 0 || (timeout_ms >= 0 && timeout_ms < wait))
		wait = timeout_ms;
	if (p->reported)
		wait = 0;
	if (n) {
		int rc = poll(fds, (nfds_t)n, wait);
		if (rc < 0 && errno != EINTR) {
			p->in_service = 0;
			return elog_client_err_errno(err, ELOG_E_IO, errno, "produce: poll");
		}
		now = elog_clock_ms();
		for (size_t i = 0; i < n; i++) {
			if (fds[i].revents || owners[i]->conn.pending_count ||
			    elog_conn_is_connecting(&owners[i]->conn))
				(void)elog_conn_io(&owners[i]->conn, fds[i].revents, now, NULL);
			drain_conn(p, owners[i]);
		}
		/* Responses may have made more sendable: send now, not a round later. */
		if (send_ready(p, now, err) < 0) {
			p->in_service = 0;
			return -1;
		}
		/* Push out what was just queued without waiting for the next poll. */
		for (size_t i = 0; i < p->conn_count; i++)
			if (elog_conn_events(&p->conns[i]->conn) & POLLOUT)
				(void)elog_conn_io(&p->conns[i]->conn, POLLOUT, now, NULL);
	} else if (wait > 0) {
		struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	p->in_service = 0;
	return 0;
}

static uint64_t unreported(const struct elog_producer *p)
{
	return p->stats.records_sent - p->stats.records_delivered - p->stats.records_failed;
}

int elog_producer_poll(struct elog_producer *p, int timeout_ms, struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	/* Each round clears p->reported first: set after one, it is that round's. */
	for (;;) {
		int64_t left = deadline - elog_clock_ms();
		if (producer_service(p, left > 0 ? (int)left : 0, err) < 0)
			return -1;
		if (p->reported || left <= 0)
			break;
	}
	if (p->final && unreported(p) == 0) {
		if (err)
			*err = p->final_err;
		return -1;
	}
	return 0;
}

/* Room for the tag of record number index of the open batch. */
static int tags_reserve(struct ppart *pp, uint32_t index)
{
	if (index >= pp->tags_cap) {
		size_t cap = pp->tags_cap ? pp->tags_cap * 2 : 256;
		uint64_t *grown = realloc(pp->tags, cap * sizeof(*grown));
		if (!grown)
			return -1;
		pp->tags = grown;
		pp->tags_cap = cap;
	}
	return 0;
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no syscall; ms precision */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t record_estimate(const struct elog_record *r)
{
	size_t n = 32;

	n += r->key_len > 0 ? (size_t)r->key_len : 0;
	n += r->value_len > 0 ? (size_t)r->value_len : 0;
	for (uint32_t i = 0; i < r->header_count; i++)
		n += 16 + r->headers[i].name_len + (r->headers[i].value_len > 0 ? (size_t)r->headers[i].value_len : 0);
	return n;
}

int elog_producer_send(struct elog_producer *p, const struct elog_record *rec, int32_t partition,
		       uint64_t tag, struct elog_err *err)
{
	struct elog_record copy;
	struct ppart *pp;
	uint32_t id, count;
	size_t before;

	if (p->final) {
		if (err)
			*err = p->final_err;
		return -1;
	}
	if (partition < -1)
		return elog_err_set(err, ELOG_E_INVAL, "produce to '%s': invalid partition %d", p->topic,
				    (int)partition);
	if (partition >= 0) {
		if ((uint32_t)partition >= p->part_count)
			return elog_err_set(err, ELOG_E_INVAL, "produce to '%s' partition %d: no such partition (the topic has %u)",
					    p->topic, (int)partition, p->part_count);
		id = (uint32_t)partition;
	} else if (rec->key && rec->key_len >= 0) {
		id = elog_partition_for_key(rec->key, (size_t)rec->key_len, p->part_count);
	} else {
		id = p->sticky < p->part_count ? p->sticky : 0;
	}
	pp = p->parts[id];
	count = elog_batch_builder_count(&pp->builder);
	/* A record that would take the batch past batch_bytes goes into the next one. */
	if (count && elog_batch_builder_bytes(&pp->builder) + record_estimate(rec) > p->cfg.batch_bytes) {
		if (batch_close(p, pp, err) < 0)
			return -1;
		count = 0;
		if (partition < 0 && !(rec->key && rec->key_len >= 0) && p->sticky != id) {
			id = p->sticky; /* keyless: move on with the sticky partition */
			pp = p->parts[id];
			count = elog_batch_builder_count(&pp->builder);
		}
	}
	copy = *rec;
	if (copy.timestamp_ms == ELOG_TIMESTAMP_NOW)
		copy.timestamp_ms = realtime_ms();
	/* The tag's slot first: once the record is in the builder nothing may fail. */
	if (tags_reserve(pp, count) < 0)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for record tags");
	before = elog_batch_builder_bytes(&pp->builder);
	if (elog_batch_builder_add(&pp->builder, &copy, err) < 0) {
		if (err && err->code == ELOG_E_LIMIT)
			elog_err_set(err, ELOG_E_LIMIT, "produce to '%s': record of about %zu bytes exceeds the limit of %u",
				     p->topic, record_estimate(rec), p->cfg.request_bytes - ELOG_BATCH_HEADER_SIZE);
		else
			elog_err_prefix(err, "produce to '%s'", p->topic);
		return -1;
	}
	pp->tags[count] = tag;
	if (count == 0)
		pp->open_since_ms = elog_client_coarse_ms();
	p->stats.records_sent++;
	pp->open_bytes += elog_batch_builder_bytes(&pp->builder) - before;
	p->buffered_bytes += elog_batch_builder_bytes(&pp->builder) - before;
	if (elog_batch_builder_bytes(&pp->builder) >= p->cfg.batch_bytes) {
		if (batch_close(p, pp, err) < 0)
			return -1;
		if (producer_service(p, 0, err) < 0)
			return -1;
	} else if (++p->sends_since_service >= PRODUCER_SERVICE_RECORDS ||
		   elog_client_coarse_ms() != p->last_service_ms) {
		if (producer_service(p, 0, err) < 0)
			return -1;
	}
	/* Backpressure: wait for acknowledgements while over the buffer bound. */
	while (p->buffered_bytes > p->cfg.buffer_bytes) {
		if (producer_service(p, 100, err) < 0)
			return -1;
		if (p->final)
			break;
	}
	return 0;
}

int elog_producer_flush(struct elog_producer *p, int timeout_ms, struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + (timeout_ms >= 0 ? timeout_ms : INT32_MAX);

	if (close_all(p, err) < 0)
		return -1;
	for (;;) {
		int out_pending = 0;
		int64_t left;

		for (size_t i = 0; i < p->conn_count; i++)
			out_pending |= (elog_conn_events(&p->conns[i]->conn) & POLLOUT) != 0;
		if (unreported(p) == 0 && !out_pending)
			return 0;
		left = deadline - elog_clock_ms();
		if (left <= 0)
			return elog_err_set(err, ELOG_E_IO, "produce to '%s': flush timed out with %llu records undelivered",
					    p->topic, (unsigned long long)unreported(p));
		if (producer_service(p, left > 100 ? 100 : (int)left, err) < 0)
			return -1;
	}
}
