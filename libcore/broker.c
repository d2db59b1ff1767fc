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

/* Bytes read per read(2) at most, and accepts per listener event. */
#define READ_CHUNK (256u << 10)
#define ACCEPTS_PER_EVENT 64
/* A compaction of the output buffer is worth it past this many sent bytes. */
#define OUT_COMPACT_BYTES (1u << 20)
#define SCRATCH_BYTES (1u << 20)

static void conn_update_interest(struct elog_conn *c);
static void conn_pump(struct elog_conn *c);

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
	/* One broker: everything appended is committed. Raft's commit index goes here. */
	return elog_partlog_next_offset(p->log);
}

/* ---------------------------------------------------------------- waiters */

static void waiter_fire(struct elog_loop *loop, void *ctx)
{
	struct elog_waiter *w = ctx;

	(void)loop;
	if (w->kind == WAIT_FETCH)
		elog_broker_fetch_answer(w);
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
	if (elog_loop_timer_start(&b->loop, &w->timer, deadline_ms, err) < 0)
		return -1;
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

	elog_broker_answering(b, 1);
	for (w = b->waiters; w; w = next) {
		int touched = 0;
		next = w->next;
		for (uint32_t i = 0; i < w->part_count; i++) {
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
		else
			elog_broker_produce_answer(w);
	}
	elog_broker_answering(b, 0);
}

/* ---------------------------------------------------------------- connections */

static void conn_free(struct elog_conn *c)
{
	elog_buf_release(&c->in);
	elog_buf_release(&c->out);
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

static size_t conn_unsent(const struct elog_conn *c)
{
	return c->out.len - c->out_sent;
}

static int conn_may_read(const struct elog_conn *c)
{
	const struct elog_broker *b = c->broker;

	return !c->dead && !c->closing && !b->stopping &&
	       conn_unsent(c) < b->config.connection_buffer_bytes &&
	       c->inflight < b->config.max_inflight_per_connection;
}

/* A whole frame (or a header that must be refused) is buffered. */
static int conn_frame_ready(const struct elog_conn *c)
{
	uint32_t length;

	if (c->in.len < ELOG_FRAME_HEADER_SIZE)
		return 0;
	length = (uint32_t)c->in.data[0] | (uint32_t)c->in.data[1] << 8 |
		 (uint32_t)c->in.data[2] << 16 | (uint32_t)c->in.data[3] << 24;
	return length > c->broker->config.max_frame_bytes || length < 8 ||
	       c->in.len >= (size_t)length + ELOG_FRAME_PREFIX_SIZE;
}

static void conn_update_interest(struct elog_conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (conn_may_read(c))
		ev |= ELOG_LOOP_READ;
	if (conn_unsent(c) > 0)
		ev |= ELOG_LOOP_WRITE;
	/* MOD of a registered fd does not fail short of a kernel bug; killing
	 * here would free waiters under a caller's feet, so it is not done. */
	elog_loop_modify(&c->broker->loop, c->fd, ev, NULL);
}

void elog_conn_answered(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	if (b->answering) {
		c->flush_pending = 1;
		b->flush_pending = 1;
		return;
	}
	elog_conn_flush(c);
}

void elog_broker_answering(struct elog_broker *b, int on)
{
	struct elog_conn *c, *next;

	if (on) {
		b->answering = 1;
		return;
	}
	b->answering = 0;
	if (!b->flush_pending)
		return;
	b->flush_pending = 0;
	/* A flush may kill a connection (moved to the zombies, still valid). */
	for (c = b->conns; c; c = next) {
		next = c->next;
		if (c->flush_pending) {
			c->flush_pending = 0;
			elog_conn_flush(c);
		}
	}
}

void elog_conn_flush(struct elog_conn *c)
{
	struct elog_broker *b = c->broker;

	while (!c->dead && conn_unsent(c) > 0) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, conn_unsent(c), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			elog_conn_kill(c, n < 0 ? strerror(errno) : "send returned 0");
			return;
		}
		c->out_sent += (size_t)n;
		c->progress_ms = elog_loop_now_ms(&b->loop);
	}
	if (c->out_sent == c->out.len) {
		c->out.len = c->out_sent = 0;
		/* Give back a big buffer once it is empty. */
		if (c->out.cap > 2 * b->config.connection_buffer_bytes)
			elog_buf_release(&c->out);
	} else if (c->out_sent > OUT_COMPACT_BYTES && c->out_sent > c->out.len / 2) {
		elog_buf_consume(&c->out, c->out_sent);
		c->out_sent = 0;
	}
	if (c->closing && conn_unsent(c) == 0) {
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

/* Handle the complete frames in c->in while the connection may go on;
 * returns how many bytes were consumed. */
static size_t pump_once(struct elog_conn *c)
{
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
	if (pos > 0)
		elog_buf_consume(&c->in, pos);
	/* A big frame's buffer goes back once it was handled. */
	if (c->in.len == 0 && c->in.cap > 4 * READ_CHUNK)
		elog_buf_release(&c->in);
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

/* How much to read next: the rest of the current frame, or a chunk. */
static size_t read_want(const struct elog_conn *c)
{
	size_t frame = 0;

	if (c->in.len >= ELOG_FRAME_PREFIX_SIZE) {
		uint32_t length = (uint32_t)c->in.data[0] | (uint32_t)c->in.data[1] << 8 |
				  (uint32_t)c->in.data[2] << 16 | (uint32_t)c->in.data[3] << 24;
		if (length <= c->broker->config.max_frame_bytes)
			frame = (size_t)length + ELOG_FRAME_PREFIX_SIZE;
	}
	if (frame > c->in.len && frame - c->in.len > READ_CHUNK)
		return frame - c->in.len;
	return READ_CHUNK;
}

static void conn_read(struct elog_conn *c)
{
	struct elog_err err;
	size_t want = read_want(c);
	ssize_t n;

	if (want > c->in.len_max - c->in.len)
		want = c->in.len_max - c->in.len;
	if (want == 0 || elog_buf_reserve(&c->in, want, &err) < 0) {
		/* Only when the frame header was not judged yet: judge it now. */
		conn_pump(c);
		return;
	}
	n = recv(c->fd, c->in.data + c->in.len, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		elog_conn_kill(c, n == 0 ? "peer closed" : strerror(errno));
		return;
	}
	c->in.len += (size_t)n;
	c->progress_ms = elog_loop_now_ms(&c->broker->loop);
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
	c->progress_ms = elog_loop_now_ms(&b->loop);
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
	elog_broker_logf(b, ELOG_LOG_DEBUG, "connection", "conn=%" PRIu64 " peer=%s", c->id, c->peer);
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

static void on_listen(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct elog_broker *b = ctx;

	(void)loop;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int cfd;
		if (b->conn_count >= b->config.max_connections) {
			/* At the limit: leave the rest in the backlog until one closes. */
			listener_pause(b, 0);
			return;
		}
		cfd = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
				elog_broker_logf(b, ELOG_LOG_WARN, "cannot accept", "reason=%s",
						 elog_logfmt_value((char[128]){0}, 128, strerror(errno)));
				listener_pause(b, 100);
			}
			return;
		}
		accept_one(b, cfd, &sa);
	}
}

/* ---------------------------------------------------------------- timers */

static void on_idle_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	int64_t now = elog_loop_now_ms(loop), period = b->config.idle_timeout_ms / 4;
	struct elog_conn *c, *next;

	for (c = b->conns; c; c = next) {
		next = c->next;
		/* Waiting for a parked answer with nothing to send is not idle. */
		if (c->inflight > 0 && conn_unsent(c) == 0)
			continue;
		if (now - c->progress_ms >= b->config.idle_timeout_ms)
			elog_conn_kill(c, conn_unsent(c) ? "stalled: the client does not read"
							  : "idle");
	}
	elog_loop_timer_start(loop, &b->idle_timer, now + (period < 50 ? 50 : period), NULL);
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
	if (b->stopping) {
		int drained = b->waiter_count == 0;
		for (struct elog_conn *c = b->conns; c && drained; c = c->next)
			drained = conn_unsent(c) == 0;
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

	if (elog_loop_init(&b->loop, fd_table_size(),
			   (size_t)b->config.max_waiting_requests + 16, err) < 0)
		return -1;
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
	return elog_store_open(b->config.data_dir, &so, &b->store, err);
}

int elog_broker_open(const struct elog_broker_config *c, const struct elog_logger *log,
		     struct elog_broker **out, struct elog_err *err)
{
	struct elog_broker *b;

	*out = NULL;
	if (elog_broker_config_check(c, err) < 0)
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
	return 0;
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
	/* The store unregisters its logs from the flusher before the flusher stops. */
	elog_store_close(b->store);
	if (b->flusher_started)
		elog_flusher_stop(&b->flusher);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->signal_fd >= 0)
		close(b->signal_fd);
	if (b->loop_ready)
		elog_loop_release(&b->loop);
	elog_buf_release(&b->scratch);
	elog_batch_reader_release(&b->reader);
	free(b);
}
