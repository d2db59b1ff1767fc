/* broker_fetch — FETCH (docs/protocol.md, api 8): stored batches served as
 * they are, and the long-poll; see broker.h. */
#include "broker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker_int.h"

/* Room kept in a response for everything but the batches. */
#define FETCH_OVERHEAD_BYTES (64u << 10)

static int fetch_range_error(struct wait_part *part)
{
	int64_t start, hw;

	if (part->error || !part->p)
		return 1;
	start = elog_partlog_start_offset(part->p->log);
	hw = elog_broker_high_watermark(part->p);
	if (part->offset < start || part->offset > hw) {
		part->error = ELOG_PE_OFFSET_OUT_OF_RANGE;
		snprintf(part->message, sizeof(part->message),
			 "offset %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", part->offset, start, hw);
		return 1;
	}
	return 0;
}

/* Whether the fetch should be answered now: an error, or min_bytes there. */
static int fetch_ready(struct elog_waiter *w)
{
	uint64_t available = 0;

	for (uint32_t i = 0; i < w->part_count; i++) {
		struct wait_part *part = &w->parts[i];
		struct elog_partlog_slice s;
		struct elog_err err;
		if (fetch_range_error(part))
			return 1;
		if (elog_partlog_locate(part->p->log, part->offset,
					part->max_bytes ? part->max_bytes : 1, &s, &err) < 0) {
			part->error = (int16_t)elog_broker_storage_error(&err);
			snprintf(part->message, sizeof(part->message), "%s", err.msg);
			return 1;
		}
		available += s.len;
	}
	return available >= w->min_bytes;
}

/*
 * pread a slice into the response as a bytes field, checking every batch
 * (CRC, offsets): a bad one is recorded as damage and only the good batches
 * before it are sent; -1 when none are (part->error says why). 0 bytes
 * when reading fails.
 */
static int put_slice(struct wait_part *part, struct elog_wire_w *wr, struct elog_partlog_slice *s,
		     uint32_t *sent)
{
	struct elog_buf *buf = wr->buf;
	size_t pos = elog_wire_put_count(wr, 0), done = 0;
	struct elog_err err;
	uint32_t good;

	*sent = 0;
	if (wr->failed || s->len == 0 || elog_buf_reserve(buf, s->len, NULL) < 0)
		return 0;
	/* Bounded: every pass reads at least one byte or stops. */
	while (done < s->len) {
		ssize_t n = pread(s->fd, buf->data + buf->len + done, s->len - done,
				  (off_t)(s->position + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(part->message, sizeof(part->message), "cannot read the log: %s",
				 n < 0 ? strerror(errno) : "short read");
			return 0;
		}
		done += (size_t)n;
	}
	if (elog_partlog_check_slice(part->p->log, s, buf->data + buf->len, &good, &err) < 0) {
		if (good == 0) {
			part->error = (int16_t)elog_broker_storage_error(&err);
			snprintf(part->message, sizeof(part->message), "%s", err.msg);
			return -1;
		}
		s->len = good;
	}
	buf->len += s->len;
	elog_wire_patch_count(wr, pos, s->len);
	*sent = s->len;
	return 0;
}

/* The result fields before the batches. */
static void put_part_head(struct elog_wire_w *wr, const struct wait_part *part)
{
	elog_wire_put_u32(wr, part->id);
	elog_wire_put_i16(wr, part->error);
	elog_wire_put_cstring(wr, part->error ? part->message : "");
	elog_wire_put_i64(wr, part->p ? elog_broker_high_watermark(part->p) : -1);
	elog_wire_put_i64(wr, part->p ? elog_partlog_start_offset(part->p->log) : -1);
}

/* One partition's result; *used counts the batch bytes of the response. */
static void put_fetch_part(struct elog_waiter *w, struct elog_wire_w *wr, struct wait_part *part,
			   uint64_t *used)
{
	struct elog_partlog_slice s = {0};
	struct elog_err err;
	uint64_t budget = w->max_bytes > *used ? w->max_bytes - *used : 0;
	int ok = !fetch_range_error(part);

	if (ok && part->max_bytes < budget)
		budget = part->max_bytes;
	/* The first batch of the response goes whole even past max_bytes: progress. */
	if (ok && (budget > 0 || *used == 0) &&
	    elog_partlog_locate(part->p->log, part->offset, budget ? (uint32_t)budget : 1, &s, &err) < 0) {
		part->error = (int16_t)elog_broker_storage_error(&err);
		snprintf(part->message, sizeof(part->message), "%s", err.msg);
		ok = 0;
	}
	size_t part_start = wr->buf->len;
	uint32_t sent;

	put_part_head(wr, part);
	if (!ok) {
		elog_wire_put_u32(wr, 0);
		return;
	}
	if (put_slice(part, wr, &s, &sent) < 0) {
		/* The slice's first batch is damaged: answer the error instead. */
		wr->buf->len = part_start;
		put_part_head(wr, part);
		elog_wire_put_u32(wr, 0);
		return;
	}
	*used += sent;
}

void elog_broker_fetch_answer(struct elog_waiter *w)
{
	struct elog_conn *c = w->conn;
	struct elog_wire_w wr;
	struct elog_err err;
	uint64_t used = 0;

	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&wr, w->topic_count);
	for (uint32_t i = 0; i < w->topic_count; i++) {
		const struct wait_topic *wt = &w->topics[i];
		elog_wire_put_cstring(&wr, wt->name);
		elog_wire_put_u32(&wr, wt->part_count);
		for (uint32_t k = wt->first_part; k < wt->first_part + wt->part_count; k++)
			put_fetch_part(w, &wr, &w->parts[k], &used);
	}
	if (elog_wire_frame_end(&wr, &err) < 0)
		c->closing = 1;
	elog_waiter_free(w);
	elog_conn_answered(c);
}

/* ---------------------------------------------------------------- request */

static int fetch_skim(struct elog_wire_r *r, uint32_t *topics, uint32_t *parts)
{
	elog_wire_r_field(r, "max_wait_ms");
	elog_wire_get_u32(r);
	elog_wire_r_field(r, "min_bytes");
	elog_wire_get_u32(r);
	elog_wire_r_field(r, "max_bytes");
	elog_wire_get_u32(r);
	elog_wire_r_field(r, "topics");
	*topics = elog_wire_get_count(r, 6);
	*parts = 0;
	for (uint32_t i = 0; i < *topics && !r->failed; i++) {
		const char *name;
		size_t len;
		uint32_t n;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &len);
		elog_wire_r_field(r, "partitions");
		n = elog_wire_get_count(r, 16);
		for (uint32_t k = 0; k < n; k++) {
			elog_wire_get_u32(r);
			elog_wire_get_i64(r);
			elog_wire_get_u32(r);
		}
		*parts += n;
	}
	return elog_wire_r_end(r, NULL);
}

static void fetch_fill(struct elog_broker *b, struct elog_wire_r *r, struct elog_waiter *w)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < w->topic_count; i++) {
		struct wait_topic *wt = &w->topics[i];
		const char *name;
		size_t len;
		struct elog_topic *t;
		elog_wire_get_string(r, &name, &len);
		wt->part_count = elog_wire_get_count(r, 16);
		wt->first_part = k;
		snprintf(wt->name, sizeof(wt->name), "%.*s", (int)(len < 249 ? len : 249), name);
		t = elog_store_find(b->store, name, len);
		for (uint32_t j = 0; j < wt->part_count; j++, k++) {
			struct wait_part *part = &w->parts[k];
			part->topic_index = i;
			part->id = elog_wire_get_u32(r);
			part->offset = elog_wire_get_i64(r);
			part->max_bytes = elog_wire_get_u32(r);
			if (!t || part->id >= t->partition_count) {
				part->error = t ? ELOG_PE_UNKNOWN_PARTITION : ELOG_PE_UNKNOWN_TOPIC;
				snprintf(part->message, sizeof(part->message), "%s",
					 t ? "no such partition" : "no such topic");
				continue;
			}
			part->p = t->partitions[part->id];
		}
	}
}

void elog_broker_fetch(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again = *r;
	struct elog_waiter *w;
	struct elog_err err;
	uint32_t topics, parts, max_wait_ms;
	uint64_t frame_room = b->config.max_frame_bytes > 2 * FETCH_OVERHEAD_BYTES
				      ? b->config.max_frame_bytes - FETCH_OVERHEAD_BYTES
				      : b->config.max_frame_bytes / 2;

	if (fetch_skim(r, &topics, &parts) < 0)
		MALFORMED(c, rq, r);
	w = elog_waiter_new(c, WAIT_FETCH, rq, topics, parts);
	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	max_wait_ms = elog_wire_get_u32(&again);
	w->min_bytes = elog_wire_get_u32(&again);
	w->max_bytes = elog_wire_get_u32(&again);
	if (w->max_bytes > frame_room)
		w->max_bytes = (uint32_t)frame_room;
	w->topic_count = elog_wire_get_count(&again, 6);
	w->part_count = parts;
	fetch_fill(b, &again, w);
	if (max_wait_ms == 0 || b->stopping || fetch_ready(w) ||
	    elog_waiter_park(w, elog_loop_now_ms(&b->loop) +
					(max_wait_ms < b->config.max_wait_ms ? (int64_t)max_wait_ms
									     : b->config.max_wait_ms),
			     &err) < 0)
		elog_broker_fetch_answer(w);
}

void elog_broker_check_fetches(struct elog_broker *b, int force)
{
	struct elog_waiter *w, *next;

	elog_broker_answering(b, 1);
	for (w = b->waiters; w; w = next) {
		next = w->next;
		if (w->kind == WAIT_FETCH && (force || fetch_ready(w)))
			elog_broker_fetch_answer(w);
	}
	elog_broker_answering(b, 0);
}
