/* broker — lifecycle, connections, framing, waits, signals; see broker.h. */
#include "broker.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_int.h"
#include "broker_raft.h"
#include "bytes.h"

/* A frame's read buffer grows by at least this much at a time, and small
 * frames share one buffer of IN_INITIAL_BYTES. Accepts per listener event. */
#define READ_CHUNK (256u << 10)
#define READ_TURN_BYTES (2u << 20)
#define IN_INITIAL_BYTES (16u << 10)
#define ACCEPTS_PER_EVENT 64
/* A compaction of the output buffer is worth it past this many sent bytes;
 * an empty one bigger than OUT_KEEP_BYTES is given back. */
#define OUT_COMPACT_BYTES (1u << 20)
#define OUT_KEEP_BYTES (16u << 10)
#define SEND_EVENT_BYTES (1u << 20)
#define SCRATCH_BYTES (1u << 20)
/* A connection with this many file ranges queued is not read until some go. */
#define FILES_PER_CONN_MAX 256
/* An unfinished frame younger than this does not make its connection a
 * candidate for eviction at the connection limit. */
#define EVICT_PARTIAL_MIN_MS 1000
/* A connection keeps its buffers between frames; idle this long, or when
 * memory is short (then at most every TRIM_PRESSURE_MS), it gives them back. */
#define TRIM_IDLE_MS 1000
#define TRIM_PRESSURE_MS 100

static void conn_update_interest(struct elog_conn *c);
static void conn_pump(struct elog_conn *c);
static int conn_frame_ready(const struct elog_conn *c);
static int big_oldest(const struct elog_conn *c);

/* ---------------------------------------------------------------- logging */

void elog_broker_logf(struct elog_broker *b, enum elog_log_level level, const char *msg,
		      const char *fmt, ...)
{
	char tail[ELOG_LOG_LINE_MAX];
	va_list ap;

	if (!fmt) {
		elog_logf(b->log, level, msg, NULL);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	elog_logf(b->log, level, msg, "%s", tail);
}

int elog_broker_storage_error(const struct elog_err *err)
{
	switch (err->code) {
	case ELOG_E_LIMIT:
		return ELOG_PE_BATCH_TOO_LARGE;
	case ELOG_E_CORRUPT:
		return ELOG_PE_CORRUPT_BATCH;
	case ELOG_E_RANGE:
		return ELOG_PE_OFFSET_OUT_OF_RANGE;
	case ELOG_E_IO:
	case ELOG_E_FAILED:
		return ELOG_PE_STORAGE_ERROR;
	case ELOG_E_DAMAGED:
		return ELOG_PE_DATA_DAMAGED;
	case ELOG_E_NOSPACE:
		return ELOG_PE_STORAGE_FULL;
	default:
		return ELOG_PE_UNKNOWN_SERVER_ERROR;
	}
}

int64_t elog_broker_high_watermark(const struct elog_partition *p)
{
	/* In a cluster, the commit offset of the partition's group. */
	if (p->store->options.replicated)
		return elog_broker_raft_high_watermark(p);
	/* One broker: everything appended is committed. */
	return elog_partlog_next_offset(p->log);
}

/* ---------------------------------------------------------------- waiters */

static void waiter_fire(struct elog_loop *loop, void *ctx)
{
	struct elog_waiter *w = ctx;

	(void)loop;
	if (w->kind == WAIT_FETCH)
		elog_broker_fetch_answer(w);
	else if (w->kind == WAIT_META)
		elog_broker_raft_meta_timeout(w);
	else if (w->kind == WAIT_PURGE)
		elog_broker_purge_answer(w, PURGE_END_TIMEOUT);
	else if (w->kind == WAIT_COMMIT)
		elog_broker_commit_timeout(w);
	else
		elog_broker_produce_timeout(w);
}

struct elog_waiter *elog_waiter_new(struct elog_conn *c, enum waiter_kind kind,
				    const struct elog_frame_header *rq, uint32_t topics, uint32_t parts)
{
	struct elog_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->topics = calloc(topics ? topics : 1, sizeof(*w->topics));
	w->parts = calloc(parts ? parts : 1, sizeof(*w->parts));
	if (!w->topics || !w->parts) {
		free(w->topics);
		free(w->parts);
		free(w);
		return NULL;
	}
	elog_timer_init(&w->timer, waiter_fire, w);
	w->bytes = sizeof(*w) + (uint64_t)(topics ? topics : 1) * sizeof(*w->topics) +
		   (uint64_t)(parts ? parts : 1) * sizeof(*w->parts);
	w->kind = kind;
	w->broker = c->broker;
	w->conn = c;
	w->request = *rq;
	return w;
}

int elog_waiter_park(struct elog_waiter *w, int64_t deadline_ms, struct elog_err *err)
{
	struct elog_broker *b = w->broker;
	struct elog_conn *c = w->conn;

	if (b->waiter_count >= b->config.max_waiting_requests)
		return elog_err_set(err, ELOG_E_LIMIT, "%u requests are waiting already",
				    b->waiter_count);
	/* Small waiters are bounded by their count; big ones by the budget. */
	if (w->bytes > WAITER_FREE_BYTES &&
	    b->mem_used + w->bytes > b->config.max_buffered_bytes)
		return elog_err_set(err, ELOG_E_LIMIT, "the broker's memory budget is spent");
	if (elog_loop_timer_start(&b->loop, &w->timer, deadline_ms, err) < 0)
		return -1;
	if (w->bytes > WAITER_FREE_BYTES) {
		w->charged = w->bytes;
		b->mem_used += w->charged;
	}
	w->next = b->waiters;
	if (b->waiters)
		b->waiters->prev = w;
	b->waiters = w;
	w->cnext = c->waiters;
	if (c->waiters)
		c->waiters->cprev = w;
	c->waiters = w;
	b->waiter_count++;
	c->inflight++;
	return 0;
}

static int waiter_parked(const struct elog_waiter *w)
{
	return elog_timer_armed(&w->timer) || w->prev || w->broker->waiters == w;
}

void elog_waiter_free(struct elog_waiter *w)
{
	struct elog_broker *b = w->broker;
	struct elog_conn *c = w->conn;

	if (waiter_parked(w)) {
		elog_loop_timer_stop(&b->loop, &w->timer);
		if (w->prev)
			w->prev->next = w->next;
		else
			b->waiters = w->next;
		if (w->next)
			w->next->prev = w->prev;
		if (w->cprev)
			w->cprev->cnext = w->cnext;
		else
			c->waiters = w->cnext;
		if (w->cnext)
			w->cnext->cprev = w->cprev;
		b->waiter_count--;
		c->inflight--;
		assert(b->mem_used >= w->charged);
		b->mem_used -= w->charged;
		w->charged = 0;
		/* A connection held back by its in-flight bound may read again. */
		if (!c->dead)
			conn_update_interest(c);
	}
	free(w->topics);
	free(w->parts);
	free(w);
}

void elog_broker_forget_topic(struct elog_broker *b, struct elog_topic *t)
{
	struct elog_waiter *w, *next;

	elog_broker_forget_topic_files(b, t);
	elog_broker_answering(b, 1);
	for (w = b->waiters; w; w = next) {
		int touched = 0;
		next = w->next;
		/* A commit's append to __groups is the part after its own. */
		for (uint32_t i = 0; i < w->part_count + (w->kind == WAIT_COMMIT); i++) {
			struct wait_part *part = &w->parts[i];
			if (part->p && part->p->topic == t) {
				part->p = NULL;
				part->error = ELOG_PE_UNKNOWN_TOPIC;
				snprintf(part->message, sizeof(part->message), "topic was deleted");
				touched = 1;
			}
		}
		if (!touched)
			continue;
		/* While answering, an answer frees w alone: next stays valid. */
		if (w->kind == WAIT_FETCH)
			elog_broker_fetch_answer(w);
		else if (w->kind == WAIT_PURGE)
			elog_broker_purge_answer(w, 0);
		else if (w->kind == WAIT_COMMIT)
			elog_broker_commit_timeout(w);
		else
			elog_broker_produce_answer(w);
	}
	elog_broker_answering(b, 0);
}

/* ---------------------------------------------------------------- memory */

static uint64_t conn_held(const struct elog_conn *c)
{
	return (uint64_t)c->in.cap + c->out.cap + c->chunk.cap;
}

void elog_conn_account(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;
	uint64_t held = conn_held(c);
	uint64_t charge = held > CONN_FREE_BYTES ? held - CONN_FREE_BYTES : 0;

	assert(b->mem_used >= c->charged);
	b->mem_used = b->mem_used - c->charged + charge;
	c->charged = charge;
}

uint64_t elog_conn_mem_room(const struct elog_conn *c)
{
	const struct elog_broker *b = c->broker;
	uint64_t held = conn_held(c), room = 0;

	if (held < CONN_FREE_BYTES)
		room = CONN_FREE_BYTES - held;
	if (b->mem_used < b->config.max_buffered_bytes)
		room += b->config.max_buffered_bytes - b->mem_used;
	return room;
}

/* The budget is spent and c's answers hold more than its free share: c
 * gets no new requests read until its client reads or memory comes back. */
static int conn_out_blocked(const struct elog_conn *c)
{
	const struct elog_broker *b = c->broker;

	return b->mem_used >= b->config.max_buffered_bytes && !(c->big && big_oldest(c)) &&
	       (uint64_t)c->out.cap + c->chunk.cap > CONN_FREE_BYTES;
}

/*
 * Connections whose read buffer grew past IN_INITIAL_BYTES (a big frame
 * on its way) are listed by the age of that frame, oldest first. The
 * oldest may always grow, to its frame's end, past max_buffered_bytes if
 * need be (so the frames that wait can never deadlock each other: at most
 * one frame is past the budget, and it is the one that has waited
 * longest); the others grow while the budget has room and no older frame
 * waits for memory (no overtaking).
 */
static void big_insert(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;
	struct elog_conn *after = b->big_tail;

	if (c->big)
		return;
	/* Bounded by the list's length; a new frame is usually the youngest. */
	while (after && after->frame_start_ms > c->frame_start_ms)
		after = after->bprev;
	c->big = 1;
	c->bprev = after;
	c->bnext = after ? after->bnext : b->big_head;
	if (c->bnext)
		c->bnext->bprev = c;
	else
		b->big_tail = c;
	if (after)
		after->bnext = c;
	else
		b->big_head = c;
}

static void big_remove(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	if (!c->big)
		return;
	if (c->bprev)
		c->bprev->bnext = c->bnext;
	else
		b->big_head = c->bnext;
	if (c->bnext)
		c->bnext->bprev = c->bprev;
	else
		b->big_tail = c->bprev;
	c->bnext = c->bprev = NULL;
	c->big = 0;
	if (c->mem_waiting) {
		c->mem_waiting = 0;
		b->mem_waiting_count--;
	}
}

/* c's frame is the oldest big one still arriving: it may pass the budget.
 * (A whole frame held back for its connection's answers does not count.) */
static int big_oldest(const struct elog_conn *c)
{
	/* Bounded by the list's length. */
	for (const struct elog_conn *o = c->broker->big_head; o; o = o->bnext)
		if (!conn_frame_ready(o))
			return o == c;
	return 0;
}

/* Whether c may grow its read buffer by `need` bytes now. */
static int big_may_grow(const struct elog_conn *c, size_t need)
{
	const struct elog_broker *b = c->broker;

	if (big_oldest(c))
		return 1;
	if (need > elog_conn_mem_room(c))
		return 0;
	/* Bounded by the list's length: no older frame may be waiting. */
	for (const struct elog_conn *o = b->big_head; o && o != c && b->mem_waiting_count; o = o->bnext)
		if (o->mem_waiting)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- connections */

/* Unlink c from the list of connections by last progress. */
static void lru_unlink(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	if (c->lru_newer)
		c->lru_newer->lru_older = c->lru_older;
	else if (b->lru_newest == c)
		b->lru_newest = c->lru_older;
	if (c->lru_older)
		c->lru_older->lru_newer = c->lru_newer;
	else if (b->lru_oldest == c)
		b->lru_oldest = c->lru_newer;
	c->lru_newer = c->lru_older = NULL;
}

void elog_conn_progress(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	c->progress_ms = elog_loop_now_ms(&b->loop);
	if (b->lru_newest == c)
		return;
	lru_unlink(c);
	c->lru_older = b->lru_newest;
	if (b->lru_newest)
		b->lru_newest->lru_newer = c;
	b->lru_newest = c;
	if (!b->lru_oldest)
		b->lru_oldest = c;
}

static void conn_free(struct elog_conn *c)
{
	elog_conn_release_files(c);
	elog_buf_release(&c->in);
	elog_buf_release(&c->out);
	elog_buf_release(&c->chunk);
	elog_conn_account(c);
	assert(c->charged == 0 && c->file_count == 0);
	free(c);
}

void elog_conn_kill(struct elog_conn *c, const char *why)
{
	struct elog_broker *b = c->broker;
	char v[ELOG_LOG_VALUE_MAX];

	if (c->dead)
		return;
	c->dead = 1;
	while (c->waiters)
		elog_waiter_free(c->waiters);
	big_remove(c);
	lru_unlink(c);
	elog_loop_remove(&b->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	/* A client hanging up is routine; anything else is worth a line. */
	if (why)
		elog_broker_logf(b, strcmp(why, "peer closed") ? ELOG_LOG_INFO : ELOG_LOG_DEBUG,
				 "connection closed", "conn=%" PRIu64 " peer=%s reason=%s",
				 c->id, c->peer, elog_logfmt_value(v, sizeof(v), why));
	/* Move from the live list to the zombies, freed before the loop sleeps. */
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = b->zombies;
	b->zombies = c;
	b->conn_count--;
	if (!b->listening && !b->stopping && b->listen_fd >= 0 &&
	    b->conn_count < b->config.max_connections &&
	    elog_loop_modify(&b->loop, b->listen_fd, ELOG_LOOP_READ, NULL) == 0)
		b->listening = 1;
}

/* Whether c's requests are read and handled now. When not, what it waits
 * for: its client to read (answers past connection_buffer_bytes, or too
 * many file ranges queued), parked answers, or memory. */
static int conn_may_read(const struct elog_conn *c)
{
	const struct elog_broker *b = c->broker;

	/* While stopping, a peer broker's RAFT traffic is still read (leadership transfers). */
	return !c->dead && !c->closing && (!b->stopping || c->raft_peer) && !c->mem_waiting &&
	       !conn_out_blocked(c) &&
	       elog_conn_unsent(c) < b->config.connection_buffer_bytes &&
	       c->file_count < FILES_PER_CONN_MAX &&
	       c->inflight < b->config.max_inflight_per_connection;
}

/* Bytes of the frame at the front of c->in, length field included; 0
 * while its length is not in, or is out of bounds (pump judges those). */
static size_t frame_total(const struct elog_conn *c)
{
	uint32_t length;

	if (c->in.len < ELOG_FRAME_PREFIX_SIZE)
		return 0;
	length = elog_get32(c->in.data);
	if (length > c->broker->config.max_frame_bytes || length < 8)
		return 0;
	return (size_t)length + ELOG_FRAME_PREFIX_SIZE;
}

/* A whole frame (or a header that must be refused) is buffered. */
static int conn_frame_ready(const struct elog_conn *c)
{
	size_t total = frame_total(c);

	if (c->in.len < ELOG_FRAME_HEADER_SIZE)
		return 0;
	return total == 0 || c->in.len >= total;
}

static void conn_update_interest(struct elog_conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (conn_may_read(c))
		ev |= ELOG_LOOP_READ;
	else if (conn_out_blocked(c))
		c->broker->out_blocked = 1; /* before-sleep looks again when memory is back */
	if (elog_conn_unsent(c) > 0)
		ev |= ELOG_LOOP_WRITE;
	/* MOD of a registered fd does not fail short of a kernel bug; killing
	 * here would free waiters under a caller's feet, so it is not done. */
	elog_loop_modify(&c->broker->loop, c->fd, ev, NULL);
}

void elog_conn_answered(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	if (b->answering) {
		if (!c->flush_pending) {
			c->flush_pending = 1;
			c->flush_next = b->flush_list;
			b->flush_list = c;
		}
		return;
	}
	elog_conn_flush(c);
}

void elog_broker_answering(struct elog_broker *b, int on)
{
	struct elog_conn *c;

	if (on) {
		b->answering = 1;
		return;
	}
	b->answering = 0;
	/* A flush may kill a connection: it is a zombie then, still valid
	 * until before-sleep frees it, after every bracket is closed. */
	while ((c = b->flush_list)) {
		b->flush_list = c->flush_next;
		c->flush_next = NULL;
		c->flush_pending = 0;
		elog_conn_flush(c);
	}
}

/* After a send: forget what was written, give back big buffers. */
static void out_compact(struct elog_conn *c)
{
	if (c->out_sent == c->out.len) {
		c->out_base += c->out.len;
		c->out.len = c->out_sent = 0;
		if (c->out.cap > OUT_KEEP_BYTES)
			elog_buf_release(&c->out);
	} else if (c->out_sent > OUT_COMPACT_BYTES && c->out_sent > c->out.len / 2) {
		elog_buf_consume(&c->out, c->out_sent);
		c->out_base += c->out_sent;
		c->out_sent = 0;
	}
	elog_conn_account(c);
}

/* Send the stream: memory bytes up to the next file range, the range, and
 * on; at most SEND_EVENT_BYTES of ranges per call, so that one fast reader
 * of big answers does not hold up the others (the loop comes back while
 * the socket is writable). */
static void conn_send(struct elog_conn *c)
{
	uint64_t unsent_before = elog_conn_unsent(c);

	/* Bounded: every pass sends bytes, finishes a range, or leaves. */
	while (!c->dead && elog_conn_unsent(c) > 0 &&
	       unsent_before - elog_conn_unsent(c) < SEND_EVENT_BYTES) {
		size_t end = c->files ? (size_t)(c->files->at - c->out_base) : c->out.len;
		ssize_t n;
		if (c->out_sent == end) {
			if (elog_conn_send_file(c) <= 0)
				return;
			continue;
		}
		n = send(c->fd, c->out.data + c->out_sent, end - c->out_sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			elog_conn_kill(c, n < 0 ? strerror(errno) : "send returned 0");
			return;
		}
		c->out_sent += (size_t)n;
		elog_conn_progress(c);
	}
}

void elog_conn_flush(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	conn_send(c);
	if (c->dead)
		return;
	out_compact(c);
	if (c->closing && elog_conn_unsent(c) == 0) {
		elog_conn_kill(c, "closed after an error");
		return;
	}
	conn_update_interest(c);
	/* Frames left in the buffer when the connection was held back; not
	 * while waiters are being answered (a frame could free the next one). */
	if (!c->pumping && conn_may_read(c) && conn_frame_ready(c)) {
		if (b->answering)
			b->pump_pending = 1;
		else
			conn_pump(c);
	}
}

int elog_broker_reply_error(struct elog_conn *c, const struct elog_frame_header *rq,
			    int code, const char *message)
{
	struct elog_wire_w w;
	struct elog_err err;

	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, code, message);
	if (elog_wire_frame_end(&w, &err) < 0) {
		elog_conn_kill(c, err.msg);
		return -1;
	}
	return 0;
}

void elog_broker_malformed(struct elog_conn *c, const struct elog_frame_header *rq,
			   struct elog_wire_r *r)
{
	struct elog_err err;

	elog_wire_r_end(r, &err);
	elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, err.msg);
	c->closing = 1;
}

/* ---------------------------------------------------------------- partitions named */

struct part_ref {
	const char *name;
	size_t len;
	uint32_t id;
};

static int part_ref_cmp(const void *x, const void *y)
{
	const struct part_ref *a = x, *b = y;
	int d = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);

	if (d == 0 && a->len != b->len)
		d = a->len < b->len ? -1 : 1;
	if (d == 0 && a->id != b->id)
		d = a->id < b->id ? -1 : 1;
	return d;
}

static void skip(struct elog_wire_r *r, size_t n)
{
	r->pos += n <= elog_wire_r_left(r) ? n : elog_wire_r_left(r);
}

/* Walk the (parsed) body: check the counts; with refs, collect the pairs.
 * 0, or -1 with msg. */
static int parts_walk(struct elog_broker *b, struct elog_wire_r *r,
		      const struct elog_part_layout *l, struct part_ref *refs, uint32_t *n,
		      char *msg, size_t cap)
{
	uint64_t unknown = 0, total = 0;
	uint32_t topics;

	skip(r, l->head_bytes);
	topics = elog_wire_get_count(r, 6);
	/* Topics of no partitions cost nothing to name, and a waiter per
	 * named topic: bounded as METADATA's names are. */
	if (topics > (uint64_t)b->store->topic_count + ELOG_BROKER_UNKNOWN_PARTS_MAX) {
		snprintf(msg, cap, "%u topics named; the broker has %u", topics,
			 b->store->topic_count);
		return -1;
	}
	for (uint32_t i = 0; i < topics && !r->failed; i++) {
		const char *name;
		const uint8_t *data;
		size_t len, dlen;
		uint32_t count;
		struct elog_topic *t;
		elog_wire_get_string(r, &name, &len);
		count = elog_wire_get_count(r, 4 + l->entry_bytes + (l->entry_has_bytes ? 4 : 0) +
						       (l->entry_has_string ? 2 : 0));
		t = elog_store_find(b->store, name, len);
		if (t && count > t->partition_count) {
			snprintf(msg, cap, "topic \"%.*s\" is named with %u partitions; it has %u",
				 (int)(len < 64 ? len : 64), name, count, t->partition_count);
			return -1;
		}
		if (!t && (unknown += count) > ELOG_BROKER_UNKNOWN_PARTS_MAX) {
			snprintf(msg, cap, "more than %d partitions of unknown topics",
				 ELOG_BROKER_UNKNOWN_PARTS_MAX);
			return -1;
		}
		if ((total += count) > (uint64_t)b->store->partition_total + ELOG_BROKER_UNKNOWN_PARTS_MAX) {
			snprintf(msg, cap, "more partitions named than the broker has (%u)",
				 b->store->partition_total);
			return -1;
		}
		for (uint32_t k = 0; k < count; k++) {
			uint32_t id = elog_wire_get_u32(r);
			skip(r, l->entry_bytes);
			if (l->entry_has_bytes)
				elog_wire_get_bytes(r, &data, &dlen);
			if (l->entry_has_string) {
				const char *s;
				size_t slen;
				elog_wire_get_string(r, &s, &slen);
			}
			if (refs)
				refs[*n] = (struct part_ref){name, len, id};
			(*n)++;
		}
	}
	return 0;
}

int elog_broker_check_parts(struct elog_conn *c, const struct elog_frame_header *rq,
			    const struct elog_wire_r *body, const struct elog_part_layout *layout)
{
	struct elog_broker *b = c->broker;
	struct part_ref few[16], *refs = few;
	struct elog_wire_r r = *body;
	char msg[BROKER_MSG_MAX];
	uint32_t n = 0;
	int rc = 0;

	if (parts_walk(b, &r, layout, NULL, &n, msg, sizeof(msg)) < 0)
		goto refuse;
	if (n > sizeof(few) / sizeof(few[0]) && !(refs = malloc((size_t)n * sizeof(*refs)))) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return -1;
	}
	r = *body;
	n = 0;
	parts_walk(b, &r, layout, refs, &n, msg, sizeof(msg));
	qsort(refs, n, sizeof(*refs), part_ref_cmp);
	for (uint32_t i = 1; i < n && rc == 0; i++)
		if (part_ref_cmp(&refs[i - 1], &refs[i]) == 0) {
			snprintf(msg, sizeof(msg), "topic \"%.*s\" partition %u is named twice",
				 (int)(refs[i].len < 64 ? refs[i].len : 64), refs[i].name, refs[i].id);
			rc = -1;
		}
	if (refs != few)
		free(refs);
	if (rc == 0)
		return 0;
refuse:
	elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
	return -1;
}

int elog_broker_check_names(struct elog_conn *c, const struct elog_frame_header *rq,
			    const struct elog_wire_r *body)
{
	struct elog_broker *b = c->broker;
	struct part_ref few[16], *refs = few;
	struct elog_wire_r r = *body;
	char msg[BROKER_MSG_MAX] = "";
	uint32_t n = elog_wire_get_count(&r, 2), unknown = 0;

	if (n > (uint64_t)b->store->topic_count + ELOG_BROKER_UNKNOWN_PARTS_MAX) {
		snprintf(msg, sizeof(msg), "%u topics named; the broker has %u", n,
			 b->store->topic_count);
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return -1;
	}
	if (n > sizeof(few) / sizeof(few[0]) && !(refs = malloc((size_t)n * sizeof(*refs)))) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n && !msg[0]; i++) {
		elog_wire_get_string(&r, &refs[i].name, &refs[i].len);
		refs[i].id = 0;
		if (!elog_store_find(b->store, refs[i].name, refs[i].len) &&
		    ++unknown > ELOG_BROKER_UNKNOWN_PARTS_MAX)
			snprintf(msg, sizeof(msg), "more than %d unknown topics named",
				 ELOG_BROKER_UNKNOWN_PARTS_MAX);
	}
	if (!msg[0]) {
		qsort(refs, n, sizeof(*refs), part_ref_cmp);
		for (uint32_t i = 1; i < n && !msg[0]; i++)
			if (part_ref_cmp(&refs[i - 1], &refs[i]) == 0)
				snprintf(msg, sizeof(msg), "topic \"%.*s\" is named twice",
					 (int)(refs[i].len < 64 ? refs[i].len : 64), refs[i].name);
	}
	if (refs != few)
		free(refs);
	if (!msg[0])
		return 0;
	elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
	return -1;
}

/* ---------------------------------------------------------------- framing */

static void dispatch(struct elog_conn *c, const struct elog_frame_header *h, uint8_t *body,
		     size_t len)
{
	struct elog_wire_r r;

	elog_wire_r_init(&r, body, len);
	switch (h->api) {
	case ELOG_API_METADATA: elog_broker_metadata(c, h, &r); break;
	case ELOG_API_CREATE_TOPIC: elog_broker_create_topic(c, h, &r); break;
	case ELOG_API_DELETE_TOPIC: elog_broker_delete_topic(c, h, &r); break;
	case ELOG_API_DESCRIBE_TOPICS: elog_broker_describe_topics(c, h, &r); break;
	case ELOG_API_ALTER_TOPIC: elog_broker_alter_topic(c, h, &r); break;
	case ELOG_API_INIT_PRODUCER: elog_broker_init_producer(c, h, &r); break;
	case ELOG_API_PRODUCE: elog_broker_produce(c, h, &r); break;
	case ELOG_API_FETCH: elog_broker_fetch(c, h, &r); break;
	case ELOG_API_LIST_OFFSETS: elog_broker_list_offsets(c, h, &r); break;
	case ELOG_API_DELETE_RECORDS: elog_broker_delete_records(c, h, &r); break;
	case ELOG_API_FIND_COORDINATOR: elog_broker_find_coordinator(c, h, &r); break;
	case ELOG_API_OFFSET_COMMIT: elog_broker_offset_commit(c, h, &r); break;
	case ELOG_API_OFFSET_FETCH: elog_broker_offset_fetch(c, h, &r); break;
	case ELOG_API_LIST_GROUPS: elog_broker_list_groups(c, h, &r); break;
	case ELOG_API_GROUP_HEARTBEAT: elog_broker_group_heartbeat(c, h, &r); break;
	case ELOG_API_DESCRIBE_GROUP: elog_broker_describe_group(c, h, &r); break;
	case ELOG_API_DELETE_GROUP: elog_broker_delete_group(c, h, &r); break;
	case ELOG_API_RAFT:
		elog_broker_raft_frame(c, h, body, len);
		break;
	default: assert(0);
	}
}

/* A header that cannot be a frame: answer and close. -1 then. */
static int frame_header(struct elog_conn *c, const uint8_t *p, size_t n,
			struct elog_frame_header *h)
{
	struct elog_err err;

	if (elog_frame_header_decode(p, n, c->broker->config.max_frame_bytes, h, &err) == 0)
		return 0;
	elog_broker_reply_error(c, h,
				err.code == ELOG_E_LIMIT ? ELOG_PE_FRAME_TOO_LARGE
							 : ELOG_PE_INVALID_REQUEST,
				err.msg);
	c->closing = 1;
	return -1;
}

/* 1 if a whole frame's api and version are served, else 0 (answered). */
static int frame_supported(struct elog_conn *c, const struct elog_frame_header *h)
{
	char msg[BROKER_MSG_MAX];

	if (h->api == 0 || h->api >= ELOG_API__COUNT) {
		snprintf(msg, sizeof(msg), "unknown api %u", h->api);
		elog_broker_reply_error(c, h, ELOG_PE_UNSUPPORTED_API, msg);
		return 0;
	}
	if (h->version < ELOG_PROTO_VERSION || h->version > elog_api_version_max(h->api)) {
		uint16_t newest = elog_api_version_max(h->api);
		if (newest == ELOG_PROTO_VERSION)
			snprintf(msg, sizeof(msg), "version %u of %s is not supported (this broker speaks %d)",
				 h->version, elog_api_name(h->api), ELOG_PROTO_VERSION);
		else
			snprintf(msg, sizeof(msg),
				 "version %u of %s is not supported (this broker speaks %d to %u)",
				 h->version, elog_api_name(h->api), ELOG_PROTO_VERSION, newest);
		elog_broker_reply_error(c, h, ELOG_PE_UNSUPPORTED_VERSION, msg);
		return 0;
	}
	return 1;
}

/* After frames were taken from c->in: a big buffer goes back, or shrinks
 * to what is left, so that it holds no budget it does not need. */
/*
 * A connection keeps its read buffer from frame to frame (a producer sends
 * frames of similar sizes: no allocation, no page faults per frame) and its
 * send chunk from answer to answer. When it has been idle a while, or when
 * memory is short, it gives back what it does not use: the read buffer
 * down to what it holds (it grows again as bytes arrive), the chunk when no
 * range waits, an empty answer buffer.
 */
void elog_conn_trim(struct elog_conn *c)
{
	size_t keep = c->in.len > IN_INITIAL_BYTES ? c->in.len : IN_INITIAL_BYTES;

	if (c->in.len == 0 && c->in.cap > 0) {
		big_remove(c);
		elog_buf_release(&c->in);
	} else if (c->in.cap > 2 * keep) {
		elog_buf_set_cap(&c->in, keep, NULL);
	}
	if (!c->files && c->chunk.cap > 0)
		elog_buf_release(&c->chunk);
	if (c->out_sent == c->out.len && c->out.cap > 0) {
		c->out_base += c->out.len;
		c->out.len = c->out_sent = 0;
		elog_buf_release(&c->out);
	}
	elog_conn_account(c);
}

/* Memory is short: every connection gives back what it keeps unused (at
 * most every TRIM_PRESSURE_MS: it walks every connection). */
static void trim_all(struct elog_broker *b)
{
	int64_t now = elog_loop_now_ms(&b->loop);

	if (now - b->trimmed_ms < TRIM_PRESSURE_MS)
		return;
	b->trimmed_ms = now;
	for (struct elog_conn *c = b->conns; c; c = c->next)
		elog_conn_trim(c);
}

/* Handle the complete frames in c->in while the connection may go on;
 * returns how many bytes were consumed. */
static size_t pump_once(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;
	size_t pos = 0;

	/* Bounded: every pass consumes a whole frame. */
	while (conn_may_read(c) && c->in.len - pos >= ELOG_FRAME_HEADER_SIZE) {
		struct elog_frame_header h;
		uint8_t *frame = c->in.data + pos;
		size_t total;
		if (frame_header(c, frame, c->in.len - pos, &h) < 0)
			break;
		total = (size_t)h.length + ELOG_FRAME_PREFIX_SIZE;
		if (c->in.len - pos < total)
			break;
		if (frame_supported(c, &h))
			dispatch(c, &h, frame + ELOG_FRAME_HEADER_SIZE, total - ELOG_FRAME_HEADER_SIZE);
		if (c->dead)
			return pos;
		pos += total;
	}
	if (pos > 0) {
		elog_buf_consume(&c->in, pos);
		/* What is left came with the last read. */
		c->frame_start_ms = elog_loop_now_ms(&b->loop);
		/* Its place among the big frames was for the frame just handled;
		 * the buffer stays (elog_conn_trim). */
		big_remove(c);
		if (c->in.len > 0 && c->in.cap > IN_INITIAL_BYTES)
			big_insert(c);
	}
	return pos;
}

static void conn_pump(struct elog_conn *c)
{
	size_t consumed;

	c->pumping = 1;
	/* Again while writing made room for frames that were held back. */
	do {
		consumed = pump_once(c);
		if (c->dead)
			return;
		elog_conn_flush(c);
		if (c->dead)
			return;
	} while (consumed > 0 && conn_may_read(c) && conn_frame_ready(c));
	c->pumping = 0;
}

/* The capacity c->in grows to when it is full: small frames share one
 * IN_INITIAL_BYTES buffer; a bigger frame's buffer grows a step at a time
 * as its bytes arrive (never to the whole frame on the word of its header). */
static size_t in_target(const struct elog_conn *c)
{
	size_t total = frame_total(c), target;

	if (total <= c->in.len) {
		target = c->in.len + IN_INITIAL_BYTES;
	} else {
		target = c->in.len + READ_CHUNK;
		if (target < c->in.cap + c->in.cap / 4)
			target = c->in.cap + c->in.cap / 4;
		if (target > total)
			target = total;
		if (target < IN_INITIAL_BYTES)
			target = IN_INITIAL_BYTES;
	}
	return target < c->in.len_max ? target : c->in.len_max;
}

static int in_grow_to(struct elog_conn *c, size_t target)
{
	struct elog_err err;

	if (elog_buf_set_cap(&c->in, target, &err) < 0) {
		elog_conn_kill(c, err.msg);
		return -1;
	}
	elog_conn_account(c);
	return 0;
}

/* Room in a full c->in. 0: there is; -1: c waits for memory (queued), was
 * killed, or holds a frame to judge first (pumped). */
static int conn_in_grow(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;
	size_t target = in_target(c);

	if (target <= c->in.cap) {
		conn_pump(c);
		return -1;
	}
	if (target > IN_INITIAL_BYTES)
		big_insert(c);
	if (!c->big || big_may_grow(c, target - c->in.cap))
		return in_grow_to(c, target);
	if (!c->mem_waiting) {
		c->mem_waiting = 1;
		b->mem_waiting_count++;
	}
	conn_update_interest(c);
	return -1;
}

/* Before the loop sleeps: give memory that came back to the big frames
 * waiting for it, oldest first (the first that cannot have it holds up the
 * rest), and read again the connections held back for their answers'
 * memory. */
static void mem_wake(struct elog_broker *b)
{
	struct elog_conn *c, *next;

	if (b->mem_waiting_count || (b->out_blocked && b->mem_used >= b->config.max_buffered_bytes))
		trim_all(b);
	/* Bounded by the list's length. */
	for (c = b->big_head; c && b->mem_waiting_count; c = next) {
		size_t target;
		next = c->bnext;
		if (!c->mem_waiting)
			continue;
		target = in_target(c);
		if (target > c->in.cap && !big_may_grow(c, target - c->in.cap))
			break;
		c->mem_waiting = 0;
		b->mem_waiting_count--;
		if (target > c->in.cap && in_grow_to(c, target) < 0)
			continue;
		conn_update_interest(c);
	}
	if (!b->out_blocked || b->mem_used >= b->config.max_buffered_bytes)
		return;
	b->out_blocked = 0;
	for (c = b->conns; c; c = next) {
		next = c->next;
		conn_update_interest(c);
		if (!c->pumping && conn_may_read(c) && conn_frame_ready(c))
			conn_pump(c);
	}
}

static void conn_read(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;
	ssize_t n;
	size_t room;

	/* Big frames get a chunk per event and READ_TURN_BYTES between them per
	 * turn of the loop, so that many of them arriving at once do not hold
	 * up the small ones (a connection skipped now is readable next turn). */
	if (c->in.cap > IN_INITIAL_BYTES && b->turn_read_bytes >= READ_TURN_BYTES)
		return;
	if (c->in.len == c->in.cap && conn_in_grow(c) < 0)
		return;
	room = c->in.cap - c->in.len;
	n = recv(c->fd, c->in.data + c->in.len, room < READ_CHUNK ? room : READ_CHUNK, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		elog_conn_kill(c, n == 0 ? "peer closed" : strerror(errno));
		return;
	}
	if (c->in.len == 0)
		c->frame_start_ms = elog_loop_now_ms(&b->loop);
	c->in.len += (size_t)n;
	b->turn_read_bytes += (size_t)n;
	elog_conn_progress(c);
	conn_pump(c);
}

static void on_conn(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct elog_conn *c = ctx;

	(void)loop;
	(void)fd;
	if (!c->dead && (events & ELOG_LOOP_WRITE))
		elog_conn_flush(c);
	if (!c->dead && (events & ELOG_LOOP_READ) && conn_may_read(c))
		conn_read(c);
	else if (!c->dead && (events & ELOG_LOOP_ERROR) && !(events & ELOG_LOOP_WRITE))
		elog_conn_kill(c, "socket error");
}

static struct elog_conn *conn_new(struct elog_broker *b, int fd, const struct sockaddr_storage *sa)
{
	struct elog_conn *c = calloc(1, sizeof(*c));
	char host[INET6_ADDRSTRLEN] = "?";
	int one = 1;

	if (!c)
		return NULL;
	c->broker = b;
	c->fd = fd;
	c->id = ++b->conn_seq;
	elog_buf_init(&c->in, (size_t)b->config.max_frame_bytes + ELOG_FRAME_PREFIX_SIZE);
	elog_buf_init(&c->out, b->config.connection_buffer_bytes + b->config.max_frame_bytes + 4096);
	elog_buf_init(&c->chunk, STREAM_CHUNK_BYTES);
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(in6->sin6_port));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

static void accept_one(struct elog_broker *b, int fd, const struct sockaddr_storage *sa)
{
	struct elog_conn *c = conn_new(b, fd, sa);
	struct elog_err err;

	if (!c || elog_loop_add(&b->loop, fd, ELOG_LOOP_READ, on_conn, c, &err) < 0) {
		elog_broker_logf(b, ELOG_LOG_WARN, "connection refused", "reason=%s",
				 c ? "event loop full" : "out of memory");
		if (c)
			conn_free(c);
		close(fd);
		return;
	}
	c->next = b->conns;
	if (b->conns)
		b->conns->prev = c;
	b->conns = c;
	b->conn_count++;
	elog_conn_progress(c);
	elog_broker_logf(b, ELOG_LOG_DEBUG, "connection", "conn=%" PRIu64 " peer=%s", c->id, c->peer);
}

/*
 * At the connection limit (or out of file descriptors), the connection to
 * close for a new one: the one idle longest (nothing received, parked or
 * to send), else the one whose unfinished frame started earliest (at least
 * EVICT_PARTIAL_MIN_MS ago); NULL when every connection waits for answers
 * or is sending them. Walks from the least recently active connection,
 * so an idle one is usually found in a few steps.
 */
static struct elog_conn *eviction_victim(struct elog_broker *b)
{
	int64_t now = elog_loop_now_ms(&b->loop);
	struct elog_conn *partial = NULL;

	for (struct elog_conn *c = b->lru_oldest; c; c = c->lru_newer) {
		if (c->inflight > 0 || elog_conn_unsent(c) > 0 || c->closing)
			continue;
		if (c->in.len == 0)
			return c;
		if (!conn_frame_ready(c) && now - c->frame_start_ms >= EVICT_PARTIAL_MIN_MS &&
		    (!partial || c->frame_start_ms < partial->frame_start_ms))
			partial = c;
	}
	return partial;
}

static void evict(struct elog_conn *c, const char *limit)
{
	char why[128];

	snprintf(why, sizeof(why), "evicted at %s: %s", limit,
		 c->in.len ? "its request was the slowest to arrive" : "idle the longest");
	elog_conn_kill(c, why);
}

static void listener_pause(struct elog_broker *b, int64_t resume_after_ms)
{
	if (b->listening && elog_loop_modify(&b->loop, b->listen_fd, 0, NULL) == 0)
		b->listening = 0;
	if (resume_after_ms > 0)
		elog_loop_timer_start(&b->loop, &b->accept_timer,
				      elog_loop_now_ms(&b->loop) + resume_after_ms, NULL);
}

static void on_accept_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;

	if (!b->listening && !b->stopping && b->conn_count < b->config.max_connections &&
	    elog_loop_modify(loop, b->listen_fd, ELOG_LOOP_READ, NULL) == 0)
		b->listening = 1;
}

/* Accept one connection; at the limit, or out of fds, close a victim for
 * it (chosen before, so never the new one; closed only once the accept
 * worked). 0 when the backlog is empty or accepting must pause. */
static int accept_next(struct elog_broker *b, int fd)
{
	struct elog_conn *victim = NULL;
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int cfd;

	if (b->conn_count >= b->config.max_connections && !(victim = eviction_victim(b))) {
		/* Every connection is busy: leave the rest in the backlog until one closes. */
		listener_pause(b, 0);
		return 0;
	}
	cfd = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0 && (errno == EMFILE || errno == ENFILE) && !victim &&
	    (victim = eviction_victim(b))) {
		evict(victim, "the file descriptor limit");
		victim = NULL;
		len = sizeof(sa);
		cfd = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
			elog_broker_logf(b, ELOG_LOG_WARN, "cannot accept", "reason=%s",
					 elog_logfmt_value((char[128]){0}, 128, strerror(errno)));
			listener_pause(b, 100);
		}
		return 0;
	}
	if (victim)
		evict(victim, "max_connections");
	accept_one(b, cfd, &sa);
	return 1;
}

static void on_listen(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct elog_broker *b = ctx;

	(void)loop;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_EVENT && accept_next(b, fd); i++)
		;
}

/* ---------------------------------------------------------------- timers */

/* The broker, not the client, holds c back (its answers or parked
 * requests): the request timeout does not run meanwhile. */
static int conn_held_back(const struct elog_conn *c)
{
	const struct elog_broker *b = c->broker;

	return c->closing || elog_conn_unsent(c) >= b->config.connection_buffer_bytes ||
	       c->file_count >= FILES_PER_CONN_MAX ||
	       c->inflight >= b->config.max_inflight_per_connection;
}

/* A frame must arrive within request_timeout of its first byte. 1 if c
 * was closed; else *due moves down to its deadline, if it has one. */
static int request_timed_out(struct elog_conn *c, int64_t now, int64_t *due)
{
	const struct elog_broker *b = c->broker;
	char why[160];

	if (c->in.len == 0 || conn_frame_ready(c))
		return 0;
	if (conn_held_back(c)) {
		c->frame_start_ms = now;
		return 0;
	}
	if (now - c->frame_start_ms < b->config.request_timeout_ms) {
		if (c->frame_start_ms + b->config.request_timeout_ms < *due)
			*due = c->frame_start_ms + b->config.request_timeout_ms;
		return 0;
	}
	if (frame_total(c))
		snprintf(why, sizeof(why), "request timeout: %zu of the frame's %zu bytes in %" PRId64 "ms",
			 c->in.len, frame_total(c), now - c->frame_start_ms);
	else
		snprintf(why, sizeof(why), "request timeout: %zu bytes of a frame header in %" PRId64 "ms",
			 c->in.len, now - c->frame_start_ms);
	elog_conn_kill(c, why);
	return 1;
}

/*
 * The request and idle timeouts. The timer comes back at the next deadline
 * it saw (so a frame is closed when its time is up, not a period later),
 * and at least every quarter of the shorter timeout, for frames that start
 * meanwhile.
 */
static void on_idle_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	int64_t now = elog_loop_now_ms(loop);
	int64_t period = (b->config.idle_timeout_ms < b->config.request_timeout_ms
				  ? b->config.idle_timeout_ms
				  : b->config.request_timeout_ms) / 4;
	int64_t due;
	struct elog_conn *c, *next;

	period = period < 20 ? 20 : period > 1000 ? 1000 : period;
	due = now + period;
	for (c = b->conns; c; c = next) {
		next = c->next;
		if (request_timed_out(c, now, &due))
			continue;
		if (now - c->progress_ms >= TRIM_IDLE_MS)
			elog_conn_trim(c);
		/* Waiting for a parked answer with nothing to send is not idle. */
		if (c->inflight > 0 && elog_conn_unsent(c) == 0)
			continue;
		if (now - c->progress_ms >= b->config.idle_timeout_ms)
			elog_conn_kill(c, elog_conn_unsent(c) ? "stalled: the client does not read"
							       : "idle");
		else if (c->progress_ms + b->config.idle_timeout_ms < due)
			due = c->progress_ms + b->config.idle_timeout_ms;
	}
	/* Paused at the limit while every connection was busy: one may be idle now. */
	if (!b->listening && !b->stopping && b->listen_fd >= 0 && eviction_victim(b) &&
	    elog_loop_modify(loop, b->listen_fd, ELOG_LOOP_READ, NULL) == 0)
		b->listening = 1;
	elog_loop_timer_start(loop, &b->idle_timer, due > now + 10 ? due : now + 10, NULL);
}

static void on_retention_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	elog_store_retain(b->store, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, NULL);
	elog_loop_timer_start(loop, &b->retention_timer,
			      elog_loop_now_ms(loop) + b->config.retention_check_interval_ms, NULL);
}

/* Free space is measured again every ELOG_BROKER_SPACE_CHECK_MS (store.h). */
static void on_space_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;

	elog_store_space_refresh(b->store, NULL);
	elog_loop_timer_start(loop, &b->space_timer,
			      elog_loop_now_ms(loop) + ELOG_BROKER_SPACE_CHECK_MS, NULL);
}

/* ---------------------------------------------------------------- shutdown */

static void begin_shutdown(struct elog_broker *b, const char *signame)
{
	if (b->stopping)
		return;
	b->stopping = 1;
	b->stop_deadline_ms = elog_loop_now_ms(&b->loop) + b->config.shutdown_timeout_ms;
	elog_broker_logf(b, ELOG_LOG_INFO, "shutting down", "signal=%s connections=%u waiting=%u",
			 signame, b->conn_count, b->waiter_count);
	elog_loop_remove(&b->loop, b->listen_fd);
	close(b->listen_fd);
	b->listen_fd = -1;
	b->listening = 0;
	elog_broker_check_fetches(b, 1);
	elog_broker_check_produces(b, 1);
	for (struct elog_conn *c = b->conns; c; c = c->next)
		conn_update_interest(c);
}

static void on_signal(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct elog_broker *b = ctx;
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			elog_broker_logf(b, ELOG_LOG_INFO, "reopen logs", "signal=HUP output=stderr");
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			begin_shutdown(b, si.ssi_signo == SIGTERM ? "TERM" : "INT");
	}
}

static void before_sleep(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;

	if (b->cluster)
		elog_broker_raft_before_sleep(b);
	/* A table moves only with its log: an append, or a commit (which sets
	 * appended too, to wake fetches); a loop turn without either reads nothing. */
	if (b->groups && b->appended)
		elog_broker_groups_read(b);
	if (b->appended) {
		b->appended = 0;
		elog_broker_check_fetches(b, 0);
	}
	if (b->pump_pending) {
		struct elog_conn *c, *next;
		b->pump_pending = 0;
		for (c = b->conns; c; c = next) {
			next = c->next;
			if (conn_may_read(c) && conn_frame_ready(c))
				conn_pump(c);
		}
	}
	while (b->zombies) {
		struct elog_conn *c = b->zombies;
		b->zombies = c->next;
		conn_free(c);
	}
	mem_wake(b);
	b->turn_read_bytes = 0;
	if (b->stopping) {
		/* A cluster's leaderships go first (bounded), then the last answers. */
		int drained = b->waiter_count == 0 && !elog_broker_raft_shutting_down(b);
		for (struct elog_conn *c = b->conns; c && drained; c = c->next)
			drained = elog_conn_unsent(c) == 0;
		if (drained || elog_loop_clock_ms() >= b->stop_deadline_ms)
			elog_loop_stop(loop);
		else if (!elog_timer_armed(&b->accept_timer))
			/* Come back to look at the deadline even if no socket moves. */
			elog_loop_timer_start(loop, &b->accept_timer, b->stop_deadline_ms, NULL);
	}
}

static void on_wake(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	uint64_t failures = elog_flusher_failures(&b->flusher);

	(void)loop;
	/* A background flush failed: log the partition (once) from this thread. */
	if (failures != b->flusher_failures_seen) {
		b->flusher_failures_seen = failures;
		elog_store_failures_log(b->store);
	}
	if (b->cluster) {
		raft_states_done(b->cluster);
		elog_broker_raft_durability(b);
	}
	elog_broker_check_produces(b, 0);
}

static void flusher_notify(void *ctx)
{
	struct elog_broker *b = ctx;

	elog_loop_wake(&b->loop);
}

/* ---------------------------------------------------------------- open/run/close */

static int bind_listener(struct elog_broker *b, struct elog_err *err)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char port[8];
	int rc, one = 1, fd = -1;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", b->config.listen_port);
	rc = getaddrinfo(b->config.listen_host, port, &hints, &res);
	if (rc != 0)
		return elog_err_set(err, ELOG_E_IO, "%s: cannot resolve: %s", b->config.listen_host,
				    gai_strerror(rc));
	errno = EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot listen on %s:%u",
				      b->config.listen_host, b->config.listen_port);
	b->listen_fd = fd;
	return 0;
}

static void set_address(struct elog_broker *b)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	const char *host = b->config.listen_host;

	b->port = b->config.listen_port;
	if (getsockname(b->listen_fd, (struct sockaddr *)&sa, &len) == 0)
		b->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
							 : ((struct sockaddr_in *)&sa)->sin_port);
	snprintf(b->address, sizeof(b->address), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 b->port);
}

/* Segment fds the queued file ranges may hold: half of what the fd table
 * has beyond the connections. */
static uint32_t stream_fds_max(const struct elog_broker *b, uint32_t fd_table)
{
	uint64_t spare = (uint64_t)b->config.max_connections + 256;

	return fd_table > spare + 32 ? (uint32_t)((fd_table - spare) / 2) : 16;
}

/*
 * Files the partition logs may keep open together (store.h fd_budget): the
 * other half of what stream_fds_max leaves, but never below 32 (a log
 * holds at least 4: its directory, segment, and two index files).
 */
static uint32_t partition_fds_max(const struct elog_broker *b, uint32_t fd_table)
{
	uint64_t spare = (uint64_t)b->config.max_connections + 256;

	return fd_table > spare + 64 ? (uint32_t)((fd_table - spare) / 2) : 32;
}

/* Thousands of partitions want files: the soft limit goes up to the hard one. */
static void fd_limit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < (1u << 20)) {
		/* fd_table_size uses no more than 2^20 either. */
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20)
										      : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static uint32_t fd_table_size(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1u << 20))
		return 1u << 20;
	return (uint32_t)rl.rlim_cur;
}

static int start_parts(struct elog_broker *b, struct elog_err *err)
{
	struct elog_store_options so = b->config.store;

	fd_limit_raise();
	if (elog_loop_init(&b->loop, fd_table_size(),
			   (size_t)b->config.max_waiting_requests + 16, err) < 0)
		return -1;
	b->stream_fds_max = stream_fds_max(b, fd_table_size());
	so.fd_budget = partition_fds_max(b, fd_table_size());
	b->loop_ready = 1;
	if (elog_flusher_start(&b->flusher, 1000, err) < 0)
		return -1;
	b->flusher_started = 1;
	elog_flusher_set_notify(&b->flusher, flusher_notify, b);
	so.flusher = &b->flusher;
	so.log = b->log;
	/* The address first: a start that fails on a taken port must not leave
	 * a new data directory behind (the store creates it). */
	if (bind_listener(b, err) < 0)
		return -1;
	so.replicated = b->config.cluster.count > 0;
	if (elog_store_open(b->config.data_dir, &so, &b->store, err) < 0)
		return -1;
	return so.replicated ? elog_broker_raft_open(b, err) : 0;
}

int elog_broker_open(const struct elog_broker_config *c, const struct elog_logger *log,
		     struct elog_broker **out, struct elog_err *err)
{
	struct elog_broker *b;

	*out = NULL;
	if (elog_broker_config_check(c, err) < 0 || elog_broker_config_check_cluster(c, err) < 0)
		return -1;
	b = calloc(1, sizeof(*b));
	if (!b)
		return elog_err_set(err, ELOG_E_NOMEM, "broker: out of memory");
	b->config = *c;
	b->log = log;
	b->listen_fd = b->signal_fd = -1;
	elog_buf_init(&b->scratch, SCRATCH_BYTES);
	elog_batch_reader_init(&b->reader);
	elog_timer_init(&b->idle_timer, on_idle_timer, b);
	elog_timer_init(&b->retention_timer, on_retention_timer, b);
	elog_timer_init(&b->space_timer, on_space_timer, b);
	elog_timer_init(&b->accept_timer, on_accept_timer, b);
	if (start_parts(b, err) < 0) {
		elog_broker_close(b);
		return -1;
	}
	set_address(b);
	*out = b;
	return 0;
}

const char *elog_broker_address(const struct elog_broker *b)
{
	return b->address;
}

static int run_setup(struct elog_broker *b, const sigset_t *signals, struct elog_err *err)
{
	int64_t now = elog_loop_now_ms(&b->loop);

	b->signal_fd = signalfd(-1, signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (b->signal_fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "signalfd");
	if (elog_loop_add(&b->loop, b->signal_fd, ELOG_LOOP_READ, on_signal, b, err) < 0 ||
	    elog_loop_add(&b->loop, b->listen_fd, ELOG_LOOP_READ, on_listen, b, err) < 0)
		return -1;
	b->listening = 1;
	elog_loop_set_before_sleep(&b->loop, before_sleep, b);
	elog_loop_set_on_wake(&b->loop, on_wake, b);
	if (elog_loop_timer_start(&b->loop, &b->idle_timer, now + 50, err) < 0 ||
	    elog_loop_timer_start(&b->loop, &b->retention_timer,
				  now + b->config.retention_check_interval_ms, err) < 0 ||
	    elog_loop_timer_start(&b->loop, &b->space_timer, now + ELOG_BROKER_SPACE_CHECK_MS,
				  err) < 0)
		return -1;
	if (b->cluster && elog_broker_raft_start(b, err) < 0)
		return -1;
	return elog_broker_compact_start(b, err);
}

int elog_broker_run(struct elog_broker *b, const sigset_t *signals, struct elog_err *err)
{
	char dir[ELOG_LOG_VALUE_MAX];
	int rc;

	if (run_setup(b, signals, err) < 0)
		return -1;
	elog_broker_logf(b, ELOG_LOG_INFO, "ready", "listen=%s dir=%s topics=%u partitions=%u",
			 b->address, elog_logfmt_value(dir, sizeof(dir), b->config.data_dir),
			 b->store->topic_count, b->store->partition_total);
	rc = elog_loop_run(&b->loop, err);
	while (b->conns)
		elog_conn_kill(b->conns, NULL);
	before_sleep(&b->loop, b); /* frees the zombies */
	if (rc == 0)
		elog_broker_logf(b, ELOG_LOG_INFO, "stopped", NULL);
	return rc;
}

void elog_broker_close(struct elog_broker *b)
{
	if (!b)
		return;
	while (b->conns)
		elog_conn_kill(b->conns, NULL);
	while (b->zombies) {
		struct elog_conn *c = b->zombies;
		b->zombies = c->next;
		conn_free(c);
	}
	elog_broker_compact_stop(b); /* before the logs it works on close */
	elog_broker_raft_close(b); /* raft.state written clean first */
	/* The store unregisters its logs from the flusher before the flusher stops. */
	elog_store_close(b->store);
	if (b->flusher_started)
		elog_flusher_stop(&b->flusher);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->signal_fd >= 0)
		close(b->signal_fd);
	elog_broker_groups_free(b); /* stops its timer: before the loop goes */
	if (b->loop_ready)
		elog_loop_release(&b->loop);
	elog_buf_release(&b->scratch);
	elog_batch_reader_release(&b->reader);
	free(b);
}
