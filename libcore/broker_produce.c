/* broker_produce — PRODUCE (docs/protocol.md, api 7): validation,
 * idempotence, append, and the acks=all wait; see broker.h. */
#include "broker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "broker_raft.h"
#include "bytes.h"

static void part_error(struct wait_part *part, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void part_error(struct wait_part *part, int code, const char *fmt, ...)
{
	va_list ap;

	part->error = (int16_t)code;
	part->p = NULL;
	part->need_offset = 0;
	va_start(ap, fmt);
	vsnprintf(part->message, sizeof(part->message), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- checks */

/*
 * Every batch of the entry validated whole (elog_batch_validate: header,
 * crc, every record's framing, compressed contents, dense offsets, the
 * topic's max.batch.bytes and max.record.bytes) before anything of the
 * partition is appended. The message names the batch and its first bad field.
 */
static int check_batches(struct elog_broker *b, const struct elog_topic *t, const uint8_t *data,
			 size_t len, struct wait_part *part)
{
	struct elog_batch_validator *v = &b->reader.validator;
	const struct elog_batch_rules rules = {
		.offsets = ELOG_BATCH_OFFSETS_DENSE,
		.batch_bytes_max = t->config.batch_bytes_max,
		.record_bytes_max = t->config.record_bytes_max,
	};
	size_t pos = 0;
	uint32_t n = 0;

	if (len == 0) {
		part_error(part, ELOG_PE_CORRUPT_BATCH, "no batches");
		return -1;
	}
	/* Bounded: every pass moves past one whole batch of at least 64 bytes. */
	while (pos < len) {
		struct elog_err err;
		if (elog_batch_validate(v, data + pos, len - pos, &rules, &err) < 0) {
			int code = err.code == ELOG_E_VERSION ? ELOG_PE_UNSUPPORTED_VERSION
				 : err.code == ELOG_E_LIMIT   ? ELOG_PE_BATCH_TOO_LARGE
				 : err.code == ELOG_E_NOMEM   ? ELOG_PE_RESOURCE_LIMIT
							      : ELOG_PE_CORRUPT_BATCH;
			part_error(part, code, "batch %u: %s", n, elog_batch_err_detail(err.msg));
			return -1;
		}
		/* Control batches (term starts, markers) are the broker's own to write. */
		if (v->header.attributes & ELOG_BATCH_ATTR_CONTROL) {
			part_error(part, ELOG_PE_CORRUPT_BATCH,
				   "batch %u: attributes: the control bit is reserved for the broker", n);
			return -1;
		}
		pos += elog_batch_total_size(&v->header);
		n++;
	}
	return 0;
}

static int verdict_error(struct wait_part *part, enum elog_pstate_verdict v,
			 const struct elog_batch_header *h)
{
	switch (v) {
	case ELOG_PSTATE_APPEND:
	case ELOG_PSTATE_DUPLICATE:
		return 0;
	case ELOG_PSTATE_OUT_OF_ORDER:
		part_error(part, ELOG_PE_OUT_OF_ORDER_SEQUENCE,
			   "producer %" PRId64 " epoch %d: sequence %" PRId32 " is out of order",
			   h->producer_id, h->producer_epoch, h->base_sequence);
		return -1;
	case ELOG_PSTATE_FENCED:
		part_error(part, ELOG_PE_PRODUCER_FENCED,
			   "producer %" PRId64 ": epoch %d is fenced by a newer one", h->producer_id,
			   h->producer_epoch);
		return -1;
	case ELOG_PSTATE_UNKNOWN:
		part_error(part, ELOG_PE_UNKNOWN_PRODUCER,
			   "producer %" PRId64 " is unknown here and sequence %" PRId32 " is not 0",
			   h->producer_id, h->base_sequence);
		return -1;
	case ELOG_PSTATE_INVALID:
		part_error(part, ELOG_PE_CORRUPT_BATCH, "producer id set but no sequence or epoch");
		return -1;
	}
	return -1;
}

/*
 * Idempotence for the whole entry before anything is appended: each batch
 * is judged as if the ones before it in the entry had been appended.
 */
static int check_sequences(const struct elog_partition *p, const uint8_t *data, size_t len,
			   struct wait_part *part)
{
	int64_t sim_id = -1;
	int16_t sim_epoch = 0;
	int32_t sim_next = 0;

	for (size_t pos = 0; pos < len;) {
		struct elog_batch_header h;
		enum elog_pstate_verdict v;
		elog_batch_header_decode(data + pos, len - pos, &h, NULL);
		if (h.producer_id >= 0 && h.producer_id == sim_id)
			v = h.producer_epoch == sim_epoch && h.base_sequence == sim_next
				    ? ELOG_PSTATE_APPEND
				    : ELOG_PSTATE_OUT_OF_ORDER;
		else
			v = elog_pstate_check(&p->pstate, h.producer_id, h.producer_epoch,
					      h.base_sequence, h.record_count, NULL);
		if (verdict_error(part, v, &h) < 0)
			return -1;
		if (v == ELOG_PSTATE_APPEND && h.producer_id >= 0) {
			int32_t last = elog_pstate_last_seq(h.base_sequence, h.record_count);
			sim_id = h.producer_id;
			sim_epoch = h.producer_epoch;
			sim_next = last == INT32_MAX ? 0 : last + 1;
		}
		pos += elog_batch_total_size(&h);
	}
	return 0;
}

/*
 * The free-space reserve (docs/operations.md, "A full disk"): while the
 * disk is low, STORAGE_FULL (retriable) before anything is written. The
 * store's estimate makes this free of system calls.
 */
static int check_space(struct elog_broker *b, size_t len, struct wait_part *part)
{
	struct elog_err err;

	if (elog_store_space_reserve(b->store, len, &err) == 0)
		return 0;
	part_error(part, ELOG_PE_STORAGE_FULL, "%s", err.msg);
	return -1;
}

/* ---------------------------------------------------------------- append */

/* An append failed: say why, and tell the store what it means for the disk or the log. */
static void append_failed(struct elog_broker *b, struct elog_partition *p,
			  const struct elog_err *err, struct wait_part *part)
{
	if (err->code == ELOG_E_NOSPACE) {
		/* Nothing was written and the log is usable: retriable, like the reserve. */
		elog_store_space_exhausted(b->store, err);
		part_error(part, ELOG_PE_STORAGE_FULL, "broker storage is full: %s", err->msg);
		return;
	}
	elog_store_partition_check(b->store, p);
	part_error(part, elog_broker_storage_error(err), "%s", err->msg);
}

static int append_one(struct elog_broker *b, struct elog_partition *p, uint8_t *batch,
		      const struct elog_batch_header *h, struct wait_part *part, int first)
{
	struct elog_err err;
	int64_t base;
	enum elog_pstate_verdict v = elog_pstate_check(&p->pstate, h->producer_id, h->producer_epoch,
						       h->base_sequence, h->record_count, &base);

	if (verdict_error(part, v, h) < 0)
		return -1;
	if (v == ELOG_PSTATE_APPEND) {
		if (elog_partlog_append(p->log, batch, elog_batch_total_size(h), p->leader_term, &base,
					&err) < 0) {
			append_failed(b, p, &err, part);
			return -1;
		}
		b->appended = 1;
		if (b->cluster)
			elog_broker_raft_produced(b, p, base, base + (int64_t)h->last_offset_delta);
		if (h->producer_id >= 0 &&
		    elog_pstate_update(&p->pstate, h->producer_id, h->producer_epoch, h->base_sequence,
				       h->record_count, base, &err) < 0) {
			part_error(part, ELOG_PE_UNKNOWN_SERVER_ERROR, "%s", err.msg);
			return -1;
		}
	}
	if (first)
		part->offset = base;
	/* A retried batch may still be waiting for its fsync too. */
	if (base + (int64_t)h->last_offset_delta + 1 > part->need_offset)
		part->need_offset = base + (int64_t)h->last_offset_delta + 1;
	return 0;
}

static void produce_partition(struct elog_broker *b, struct elog_topic *t, struct wait_part *part,
			      uint8_t *data, size_t len)
{
	struct elog_partition *p;
	struct elog_err err;

	if (part->error)
		return;
	if (part->id >= t->partition_count) {
		part_error(part, ELOG_PE_UNKNOWN_PARTITION, "topic has %u partitions",
			   t->partition_count);
		return;
	}
	p = part->p = t->partitions[part->id];
	if (elog_partlog_failed(p->log, &err)) {
		part_error(part, ELOG_PE_STORAGE_ERROR, "%s", err.msg);
		return;
	}
	if (b->cluster && elog_broker_raft_produce_check(b, p, part) < 0)
		return;
	if (check_batches(b, t, data, len, part) < 0 || check_sequences(p, data, len, part) < 0 ||
	    check_space(b, len, part) < 0)
		return;
	for (size_t pos = 0; pos < len;) {
		struct elog_batch_header h;
		elog_batch_header_decode(data + pos, len - pos, &h, NULL);
		if (append_one(b, p, data + pos, &h, part, pos == 0) < 0)
			return;
		pos += elog_batch_total_size(&h);
	}
	part->log_start = elog_partlog_start_offset(p->log);
	/* flush=never: acks=all means what acks=1 does (docs/operations.md);
	 * in a cluster it waits for the commit all the same. */
	if (t->config.flush == ELOG_FLUSH_NEVER && !b->cluster)
		part->need_offset = 0;
}

int64_t elog_broker_write_deadline(const struct elog_broker *b, uint32_t timeout_ms)
{
	return elog_loop_now_ms(&b->loop) + (timeout_ms < b->config.produce_timeout_max_ms
						     ? (int64_t)timeout_ms
						     : b->config.produce_timeout_max_ms);
}

void elog_broker_append_part(struct elog_broker *b, struct elog_topic *t, struct wait_part *part,
			     uint8_t *data, size_t len)
{
	produce_partition(b, t, part, data, len);
}

/* ---------------------------------------------------------------- request */

/* The topic for a produce; NULL with the part's error set. Version 1
 * creates a missing topic when auto-creation is on (old clients rely on
 * it); version 2 never does: a producer asks for creation with METADATA v2
 * when it first resolves the topic, so its retries cannot bring back a
 * deleted topic. */
static struct elog_topic *produce_topic(struct elog_conn *c, uint16_t version, const char *name,
					size_t len, struct wait_part *part)
{
	struct elog_broker *b = c->broker;
	struct elog_topic *t = elog_store_find(b->store, name, len);
	struct elog_err err;
	char msg[BROKER_MSG_MAX];
	int16_t code;

	if (t && elog_store_internal_name(name, len)) {
		part_error(part, ELOG_PE_INVALID_TOPIC, "%s is the broker's own topic", t->name);
		return NULL;
	}
	if (t)
		return t;
	if (version >= 2) {
		if (elog_topic_name_check(name, len, 0, &err) < 0)
			part_error(part, ELOG_PE_INVALID_TOPIC, "%s", err.msg);
		else
			part_error(part, ELOG_PE_UNKNOWN_TOPIC, "no such topic");
		return NULL;
	}
	t = elog_broker_auto_create(c, name, len, &code, msg, sizeof(msg));
	if (!t)
		part_error(part, code, "%s", msg);
	return t;
}

/* Where the (topic, partition) pairs sit in a PRODUCE body. */
static const struct elog_part_layout produce_layout = {.head_bytes = 5, .entry_has_bytes = 1};

/* Pass 1: parse the whole body; counts for the waiter. 0 if it parsed exactly. */
static int produce_skim(struct elog_wire_r *r, int8_t *acks, uint32_t *timeout_ms,
			uint32_t *topics, uint32_t *parts)
{
	elog_wire_r_field(r, "acks");
	*acks = elog_wire_get_i8(r);
	elog_wire_r_field(r, "timeout_ms");
	*timeout_ms = elog_wire_get_u32(r);
	elog_wire_r_field(r, "topics");
	*topics = elog_wire_get_count(r, 6);
	*parts = 0;
	for (uint32_t i = 0; i < *topics && !r->failed; i++) {
		const char *name;
		const uint8_t *data;
		size_t len;
		uint32_t n;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &len);
		elog_wire_r_field(r, "partitions");
		n = elog_wire_get_count(r, 8);
		for (uint32_t k = 0; k < n; k++) {
			elog_wire_r_field(r, "partition");
			elog_wire_get_u32(r);
			elog_wire_r_field(r, "batches");
			elog_wire_get_bytes(r, &data, &len);
		}
		*parts += n;
	}
	return elog_wire_r_end(r, NULL);
}

/* Pass 2: act on every partition, filling the waiter's parts. */
static void produce_walk(struct elog_conn *c, struct elog_wire_r *r, struct elog_waiter *w)
{
	uint32_t k = 0;

	elog_wire_get_i8(r);
	elog_wire_get_u32(r);
	elog_wire_get_count(r, 6);
	for (uint32_t i = 0; i < w->topic_count; i++) {
		struct wait_topic *wt = &w->topics[i];
		struct elog_topic *t = NULL;
		const char *name;
		size_t len;
		uint32_t n;
		elog_wire_get_string(r, &name, &len);
		n = elog_wire_get_count(r, 8);
		snprintf(wt->name, sizeof(wt->name), "%.*s", (int)(len < 249 ? len : 249), name);
		wt->first_part = k;
		wt->part_count = n;
		for (uint32_t j = 0; j < n; j++, k++) {
			struct wait_part *part = &w->parts[k];
			const uint8_t *data;
			size_t dlen;
			part->topic_index = i;
			part->id = elog_wire_get_u32(r);
			part->offset = -1;
			elog_wire_get_bytes(r, &data, &dlen);
			if (j == 0)
				t = produce_topic(c, w->request.version, name, len, part);
			if (!t) {
				const struct wait_part *first = &w->parts[wt->first_part];
				if (j > 0)
					part_error(part, first->error, "%s", first->message);
				continue;
			}
			/* The frame is the broker's own buffer: batches are rewritten in place. */
			produce_partition(c->broker, t, part, (uint8_t *)data, dlen);
		}
	}
}

/*
 * Whether the part's batches are durable enough to answer: flushed_offset
 * has passed them (the flusher thread syncs; nothing here touches the
 * disk), or the part needs no fsync (need_offset 0), or its log failed.
 */
static int produce_flushed(struct elog_broker *b, const struct elog_waiter *w,
			   struct wait_part *part)
{
	struct elog_err err;

	if (!part->p || part->error || part->need_offset == 0)
		return 1;
	/* In a cluster acks=all waits for the commit (a majority durable, per the
	 * flush policy); acks=1 for the leader's own fsync (flush=always). */
	if (b->cluster)
		return elog_broker_raft_produce_done(b, part, w->acks_one) != 0;
	if (elog_partlog_failed(part->p->log, &err)) {
		elog_store_partition_check(b->store, part->p);
		part_error(part, ELOG_PE_STORAGE_ERROR, "%s", err.msg);
		return 1;
	}
	return elog_partlog_flushed_offset(part->p->log) >= part->need_offset;
}

int elog_broker_part_durable(struct elog_broker *b, const struct elog_waiter *w,
			     struct wait_part *part)
{
	return produce_flushed(b, w, part);
}

static int produce_done(struct elog_waiter *w)
{
	int done = 1;

	for (uint32_t i = 0; i < w->part_count; i++)
		if (!produce_flushed(w->broker, w, &w->parts[i]))
			done = 0;
	return done;
}

/*
 * acks=1 waits only where the topic promises durability per append
 * (flush=always: docs/operations.md, "Durability"); acks=all waits on every
 * topic but flush=never (produce_partition cleared those).
 */
static void produce_acks_one(struct elog_waiter *w)
{
	w->acks_one = 1;
	for (uint32_t i = 0; i < w->part_count; i++) {
		struct wait_part *part = &w->parts[i];
		if (part->p && part->p->topic->config.flush != ELOG_FLUSH_ALWAYS)
			part->need_offset = 0;
	}
}

/*
 * Whether an older produce of w's connection is still parked: answers to
 * one connection go out in the order of its requests, or a producer's
 * acknowledgements for a partition could go backwards (a later request
 * whose partitions one round synced, answered before an earlier one that
 * also waits for another partition's round). The connection's list is
 * newest first and holds at most max_inflight_per_connection waiters.
 */
static int produce_behind(const struct elog_waiter *w, int parked)
{
	/* Parked: the older ones follow it; not yet: all the connection's are older. */
	const struct elog_waiter *o = parked ? w->cnext : w->conn->waiters;

	for (; o; o = o->cnext)
		if (o->kind == WAIT_PRODUCE && o != w)
			return 1;
	return 0;
}

void elog_broker_produce(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again = *r;
	struct elog_waiter *w;
	struct elog_err err;
	uint32_t timeout_ms, topics, parts;
	int8_t acks;

	if (produce_skim(r, &acks, &timeout_ms, &topics, &parts) < 0)
		MALFORMED(c, rq, r);
	if (elog_broker_check_parts(c, rq, &again, &produce_layout) < 0)
		return;
	if (acks != 0 && acks != 1 && acks != -1) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST,
					"acks must be 0, 1 or -1");
		return;
	}
	w = elog_waiter_new(c, WAIT_PRODUCE, rq, topics, parts);
	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	w->topic_count = topics;
	w->part_count = parts;
	produce_walk(c, &again, w);
	if (acks == 0) {
		elog_waiter_free(w);
		return;
	}
	if (acks == 1)
		produce_acks_one(w);
	/* Behind a parked produce of the same connection it waits its turn. */
	if (produce_done(w) && !produce_behind(w, 0)) {
		elog_broker_produce_answer(w);
		return;
	}
	if (elog_waiter_park(w, elog_broker_write_deadline(b, timeout_ms), &err) < 0) {
		for (uint32_t i = 0; i < w->part_count; i++)
			if (!produce_flushed(w->broker, w, &w->parts[i]))
				part_error(&w->parts[i], ELOG_PE_RESOURCE_LIMIT, "%s", err.msg);
		elog_broker_produce_answer(w);
		return;
	}
	/*
	 * Group commit: ask the flusher for a round now rather than at its next
	 * tick. While it syncs, the loop goes on appending; the round after it
	 * covers all of that at once.
	 */
	elog_flusher_kick(&b->flusher);
}

/* ---------------------------------------------------------------- answers */

void elog_broker_produce_answer(struct elog_waiter *w)
{
	struct elog_conn *c = w->conn;
	struct elog_wire_w wr;
	struct elog_err err;

	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&wr, w->topic_count);
	for (uint32_t i = 0; i < w->topic_count; i++) {
		const struct wait_topic *wt = &w->topics[i];
		elog_wire_put_cstring(&wr, wt->name);
		elog_wire_put_u32(&wr, wt->part_count);
		for (uint32_t k = wt->first_part; k < wt->first_part + wt->part_count; k++) {
			const struct wait_part *part = &w->parts[k];
			elog_wire_put_u32(&wr, part->id);
			elog_wire_put_i16(&wr, part->error);
			elog_wire_put_cstring(&wr, part->error ? part->message : "");
			elog_wire_put_i64(&wr, part->error ? -1 : part->offset);
			elog_wire_put_i64(&wr, part->error ? -1 : part->log_start);
		}
	}
	if (elog_wire_frame_end(&wr, &err) < 0)
		c->closing = 1;
	elog_waiter_free(w);
	elog_conn_answered(c);
}

void elog_broker_produce_timeout(struct elog_waiter *w)
{
	for (uint32_t i = 0; i < w->part_count; i++)
		if (!produce_flushed(w->broker, w, &w->parts[i]))
			part_error(&w->parts[i], ELOG_PE_TIMEOUT,
				   "not flushed within the request's timeout");
	elog_broker_produce_answer(w);
}

void elog_broker_check_produces(struct elog_broker *b, int force)
{
	struct elog_waiter *w, *next;

	/* Shutting down: the waits are answered by a round now, not a tick later. */
	if (force)
		elog_flusher_kick(&b->flusher);
	elog_broker_answering(b, 1);
	/*
	 * Oldest first (the list is newest first): produces that one round made
	 * durable are answered in the order they came, so a producer's
	 * acknowledgements for one partition come in offset order.
	 */
	for (w = b->waiters; w && w->next; w = w->next)
		;
	for (; w; w = next) {
		next = w->prev;
		/* Older done ones were answered (and freed) already in this pass. */
		if (w->kind == WAIT_PRODUCE && produce_done(w) && !produce_behind(w, 1))
			elog_broker_produce_answer(w);
		else if (w->kind == WAIT_COMMIT && elog_broker_commit_done(w))
			elog_broker_commit_answer(w);
		else if (w->kind == WAIT_COMMIT && force)
			elog_broker_commit_shutdown(w);
		else if (w->kind == WAIT_PURGE) /* when every part settled, or shutting down */
			elog_broker_purge_answer(w, force ? PURGE_END_SHUTDOWN : 0);
	}
	elog_broker_answering(b, 0);
}
