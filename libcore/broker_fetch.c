/* broker_fetch — FETCH (docs/protocol.md, api 8): stored batches served as
 * they are, and the long-poll; see broker.h. */
#include "broker.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker_int.h"
#include "broker_raft.h"
#include "bytes.h"

/* Where the (topic, partition) pairs sit in a FETCH body. */
static const struct elog_part_layout fetch_layout = {.head_bytes = 12, .entry_bytes = 12};

static int fetch_range_error(struct elog_broker *b, struct wait_part *part)
{
	int64_t start, hw;

	if (part->error || !part->p)
		return 1;
	/* In a cluster only the leader serves, up to the commit offset. */
	if (b->cluster &&
	    (part->error = (int16_t)elog_broker_raft_leader_check(b, part->p, part->message,
								   sizeof(part->message))) != 0) {
		part->p = NULL;
		return 1;
	}
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
		if (fetch_range_error(w->broker, part))
			return 1;
		if (elog_partlog_locate(part->p->log, part->offset,
					part->max_bytes ? part->max_bytes : 1, &s, &err) < 0) {
			part->error = (int16_t)elog_broker_storage_error(&err);
			snprintf(part->message, sizeof(part->message), "%s", err.msg);
			return 1;
		}
		if (w->broker->cluster)
			elog_broker_raft_slice_cap(&s, elog_broker_high_watermark(part->p));
		available += s.len;
	}
	return available >= w->min_bytes;
}

/*
 * Bytes of an answer other than its batches, at most: the frame header and
 * error fields, every topic's name and count, every partition's fields with
 * the longest message. The request is refused when this alone would not
 * fit in max_frame_bytes, so every answer does.
 */
static uint64_t fetch_overhead(const struct elog_waiter *w)
{
	uint64_t n = ELOG_FRAME_HEADER_SIZE + 2 + 2 + 4;

	for (uint32_t i = 0; i < w->topic_count; i++)
		n += 2 + strlen(w->topics[i].name) + 4;
	return n + (uint64_t)w->part_count * (4 + 2 + 2 + (BROKER_MSG_MAX - 1) + 8 + 8 + 4);
}

/* Batch bytes an answer holds so far, may hold in all (the frame), and may
 * still hold in memory (small slices, read when the answer is built). */
struct fetch_room {
	uint64_t used, frame_left, inline_left;
};

/*
 * The batches a partition adds to the answer: whole batches from its
 * offset, within the partition's and the request's max_bytes, except that
 * the answer's first batch goes whole even past them (a consumer always
 * makes progress); never past max_frame_bytes. 1 with s (len 0: nothing);
 * 0 with part->error set.
 */
static int fetch_slice(const struct elog_waiter *w, struct wait_part *part,
		       const struct fetch_room *room, struct elog_partlog_slice *s)
{
	uint64_t limit = part->max_bytes, left = w->max_bytes > room->used ? w->max_bytes - room->used : 0;
	struct elog_err err;

	if (fetch_range_error(w->broker, part))
		return 0;
	if (limit > left)
		limit = left;
	if (limit > room->frame_left - room->used)
		limit = room->frame_left - room->used;
	if (limit == 0 && room->used > 0)
		return 1;
	if (elog_partlog_locate(part->p->log, part->offset, limit ? (uint32_t)limit : 1, s, &err) < 0) {
		part->error = (int16_t)elog_broker_storage_error(&err);
		snprintf(part->message, sizeof(part->message), "%s", err.msg);
		return 0;
	}
	if (w->broker->cluster)
		elog_broker_raft_slice_cap(s, elog_broker_high_watermark(part->p));
	if (s->len <= limit || (room->used == 0 && s->len <= room->frame_left))
		return 1;
	if (room->used > 0) {
		s->len = 0; /* the next fetch starts with it */
		return 1;
	}
	part->error = ELOG_PE_BATCH_TOO_LARGE;
	snprintf(part->message, sizeof(part->message),
		 "batch at offset %" PRId64 " of %u bytes does not fit in max_frame_bytes beside "
		 "this request's other partitions", s->base_offset, s->len);
	return 0;
}

/*
 * A small slice read now (into the broker's scratch buffer) and checked by
 * the partition log (elog_partlog_check_slice): a bad batch is recorded as
 * damage and only the whole good batches before it are served. 1 when
 * some go inline (s->len cut to them); 0 with part->error set when none
 * can (DATA_DAMAGED naming the range, or the read failed).
 */
static int fetch_inline(struct elog_waiter *w, struct wait_part *part,
			struct elog_partlog_slice *s, struct fetch_room *room)
{
	struct elog_broker *b = w->broker;
	struct elog_err err;
	uint32_t good = 0;

	if (elog_conn_read_slice(s, &b->scratch, &err) < 0 ||
	    (elog_partlog_check_slice(part->p->log, s, b->scratch.data, &good, &err) < 0 &&
	     good == 0)) {
		part->error = (int16_t)elog_broker_storage_error(&err);
		snprintf(part->message, sizeof(part->message), "%s", err.msg);
		return 0;
	}
	if (good > 0 && good < s->len)
		s->len = good;
	room->inline_left -= s->len;
	return 1;
}

/* One partition's result: fields in memory, then its batches, in memory
 * too when small, else queued to be sent from the file. */
static void put_fetch_part(struct elog_waiter *w, struct elog_wire_w *wr, struct wait_part *part,
			   struct fetch_room *room)
{
	struct elog_partlog_slice s = {0};
	struct elog_err err;
	int ok = fetch_slice(w, part, room, &s), in_memory = 0;
	size_t len_at;

	if (ok && s.len > 0 && s.len <= room->inline_left)
		ok = in_memory = fetch_inline(w, part, &s, room);
	elog_wire_put_u32(wr, part->id);
	elog_wire_put_i16(wr, part->error);
	elog_wire_put_cstring(wr, part->error ? part->message : "");
	elog_wire_put_i64(wr, part->p ? elog_broker_high_watermark(part->p) : -1);
	elog_wire_put_i64(wr, part->p ? elog_partlog_start_offset(part->p->log) : -1);
	if (in_memory) {
		elog_wire_put_bytes(wr, w->broker->scratch.data, s.len);
		room->used += s.len;
		return;
	}
	len_at = elog_wire_put_count(wr, 0);
	/* No fd to spare: nothing this time, the client asks again. */
	if (ok && s.len > 0 && !wr->failed && elog_conn_add_file(w->conn, part->p, &s, &err) == 0) {
		elog_wire_patch_count(wr, len_at, s.len);
		room->used += s.len;
	}
}

void elog_broker_fetch_answer(struct elog_waiter *w)
{
	struct elog_conn *c = w->conn;
	struct elog_wire_w wr;
	struct elog_err err;
	uint64_t frame_at = c->out_base + c->out.len, file_bytes = c->file_unsent;
	struct fetch_room room = {0,
				  (uint64_t)c->broker->config.max_frame_bytes + ELOG_FRAME_PREFIX_SIZE -
					  fetch_overhead(w),
				  FETCH_INLINE_BYTES};

	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&wr, w->topic_count);
	for (uint32_t i = 0; i < w->topic_count; i++) {
		const struct wait_topic *wt = &w->topics[i];
		elog_wire_put_cstring(&wr, wt->name);
		elog_wire_put_u32(&wr, wt->part_count);
		for (uint32_t k = wt->first_part; k < wt->first_part + wt->part_count; k++)
			put_fetch_part(w, &wr, &w->parts[k], &room);
	}
	if (elog_wire_frame_end(&wr, &err) < 0) {
		elog_conn_drop_files(c, frame_at);
		c->closing = 1;
	} else {
		/* The length counts the batches that go from the files too. */
		uint8_t *length = c->out.data + wr.frame_start;
		file_bytes = c->file_unsent - file_bytes;
		elog_put32(length, (uint32_t)(elog_get32(length) + file_bytes));
		assert(elog_get32(length) <= c->broker->config.max_frame_bytes);
	}
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
	char msg[BROKER_MSG_MAX];

	if (fetch_skim(r, &topics, &parts) < 0)
		MALFORMED(c, rq, r);
	if (elog_broker_check_parts(c, rq, &again, &fetch_layout) < 0)
		return;
	w = elog_waiter_new(c, WAIT_FETCH, rq, topics, parts);
	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	max_wait_ms = elog_wire_get_u32(&again);
	w->min_bytes = elog_wire_get_u32(&again);
	w->max_bytes = elog_wire_get_u32(&again);
	w->topic_count = elog_wire_get_count(&again, 6);
	w->part_count = parts;
	fetch_fill(b, &again, w);
	if (fetch_overhead(w) > (uint64_t)b->config.max_frame_bytes + ELOG_FRAME_PREFIX_SIZE) {
		snprintf(msg, sizeof(msg), "an answer for %u partitions may not fit in max_frame_bytes "
			 "%u: fetch fewer at once", parts, b->config.max_frame_bytes);
		elog_waiter_free(w);
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
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
