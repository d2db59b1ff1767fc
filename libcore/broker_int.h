/*
 * broker_int — what the broker's files share: broker.c (lifecycle,
 * connections, framing, waits), broker_admin.c (metadata, topics,
 * producer ids, list offsets, delete records), broker_produce.c and broker_fetch.c.
 * Nothing outside them includes this.
 *
 * Lifetimes. A connection is freed only in the before-sleep hook
 * (conn_kill marks it dead, closes its socket and cancels its waiters at
 * once), so a handler may kill the connection it runs for and return
 * without it disappearing under its feet. A waiter belongs to one
 * connection and sits on two lists (the broker's and its connection's);
 * it points at partitions, so deleting a topic first answers every waiter
 * that points into it (elog_broker_forget_topic).
 */
#ifndef ELOG_BROKER_INT_H
#define ELOG_BROKER_INT_H

#include "broker.h"
#include "batch.h"
#include "buf.h"
#include "flusher.h"
#include "loop.h"
#include "proto.h"
#include "store.h"

#define BROKER_MSG_MAX ELOG_ERR_MSG_MAX
/* How often free space is measured (store.h, "A full disk"). */
#define ELOG_BROKER_SPACE_CHECK_MS 1000

/* A body that did not parse: answer, close, leave the handler. */
#define MALFORMED(c, rq, r) \
	do { elog_broker_malformed(c, rq, r); return; } while (0)

struct elog_conn;

enum waiter_kind { WAIT_FETCH = 1, WAIT_PRODUCE = 2 };

/* One partition of a parked fetch or produce. */
struct wait_part {
	uint32_t topic_index;        /* into waiter.topics */
	uint32_t id;
	struct elog_partition *p;    /* NULL once an error is final */
	int16_t error;
	char message[BROKER_MSG_MAX];
	int64_t offset;              /* fetch: from; produce: base offset given */
	uint32_t max_bytes;          /* fetch */
	int64_t need_offset;         /* produce: flushed offset needed for acks=all */
	int64_t log_start;           /* produce */
};

struct wait_topic {
	char name[ELOG_TOPIC_NAME_MAX + 1];
	uint32_t first_part, part_count;  /* its parts in waiter.parts */
};

struct elog_waiter {
	enum waiter_kind kind;
	struct elog_broker *broker;
	struct elog_conn *conn;
	struct elog_frame_header request; /* api, version, correlation id to answer */
	struct elog_timer timer;
	struct elog_waiter *next, *prev;    /* broker list */
	struct elog_waiter *cnext, *cprev;  /* connection list */
	uint32_t min_bytes, max_bytes;      /* fetch */
	uint32_t topic_count, part_count;
	struct wait_topic *topics;
	struct wait_part *parts;
};

struct elog_conn {
	struct elog_broker *broker;
	int fd;
	int dead;                 /* socket closed; freed in before-sleep */
	int closing;              /* close once the output is written */
	int pumping;              /* inside conn_pump: no re-entry */
	int flush_pending;        /* answered while the broker was answering */
	uint64_t id;
	char peer[64];
	struct elog_buf in;       /* at most one frame */
	struct elog_buf out;      /* responses; out_sent bytes of it written */
	size_t out_sent;
	uint32_t inflight;        /* parked requests */
	int64_t progress_ms;      /* last byte read or written */
	struct elog_waiter *waiters;
	struct elog_conn *next, *prev;
};

struct elog_broker {
	struct elog_broker_config config;
	const struct elog_logger *log;
	struct elog_store *store;
	struct elog_flusher flusher;
	int flusher_started;
	struct elog_loop loop;
	int loop_ready;
	int listen_fd, listening, signal_fd;
	char address[ELOG_BROKER_HOST_MAX + 16];
	uint16_t port;
	struct elog_conn *conns, *zombies;
	uint32_t conn_count;
	uint64_t conn_seq;
	struct elog_waiter *waiters;
	uint32_t waiter_count;
	int appended;             /* an append since the parked fetches were checked */
	int answering;            /* answering waiters: connections must not pump */
	int pump_pending;         /* a pump was put off while answering */
	int flush_pending;        /* some connection has flush_pending */
	struct elog_batch_reader reader; /* produce: its validator checks every batch */
	int stopping;
	int64_t stop_deadline_ms;
	struct elog_timer idle_timer, retention_timer, accept_timer, space_timer;
	uint64_t flusher_failures_seen; /* elog_flusher_failures when last looked at */
	struct elog_buf scratch;  /* per-request temporary */
};

/* broker.c */
void elog_conn_kill(struct elog_conn *c, const char *why);
/* After writing responses into c->out: send what the socket takes now. */
void elog_conn_flush(struct elog_conn *c);
/* After answering a waiter: flush now, or after the answering loop. */
void elog_conn_answered(struct elog_conn *c);
/*
 * Loops over waiters bracket themselves with _answering(b, 1) ... (b, 0):
 * in between, answers only fill output buffers (no send, so no connection
 * dies and frees waiters the loop still holds); (b, 0) sends them.
 */
void elog_broker_answering(struct elog_broker *b, int on);
/* Log at level with "conn=N peer=... " prefixed to the kv tail. */
void elog_broker_logf(struct elog_broker *b, enum elog_log_level level, const char *msg,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A response with only an error (code 0 and "" for an empty success). */
int elog_broker_reply_error(struct elog_conn *c, const struct elog_frame_header *rq,
			    int code, const char *message);
struct elog_waiter *elog_waiter_new(struct elog_conn *c, enum waiter_kind kind,
				    const struct elog_frame_header *rq, uint32_t topics, uint32_t parts);
int elog_waiter_park(struct elog_waiter *w, int64_t deadline_ms, struct elog_err *err);
/* Unlink (if parked) and free. */
void elog_waiter_free(struct elog_waiter *w);
/* Answer every waiter that points into a topic about to go. */
void elog_broker_forget_topic(struct elog_broker *b, struct elog_topic *t);
/* The protocol error for a libcore failure of a partition log. */
int elog_broker_storage_error(const struct elog_err *err);
/* High watermark of a partition (the seam for replication: the commit index). */
int64_t elog_broker_high_watermark(const struct elog_partition *p);

/* broker_admin.c */
void elog_broker_metadata(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_create_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_delete_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_describe_topics(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_alter_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_init_producer(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_list_offsets(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_delete_records(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
/*
 * The topic name[0..len) for a produce (PRODUCE v1) or a metadata request
 * that allows auto-creation (METADATA v2): the existing one, or one created
 * now with the broker's defaults when auto_create_topics is on. NULL when
 * it cannot be: *code (UNKNOWN_TOPIC, INVALID_TOPIC, RESOURCE_LIMIT,
 * STORAGE_ERROR) and msg[0..cap) say why.
 */
struct elog_topic *elog_broker_auto_create(struct elog_conn *c, const char *name, size_t len,
					   int16_t *code, char *msg, size_t cap);
/* Body did not parse: INVALID_REQUEST naming the field, then close. */
void elog_broker_malformed(struct elog_conn *c, const struct elog_frame_header *rq,
			   struct elog_wire_r *r);

/* broker_produce.c */
void elog_broker_produce(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
/* Answer produce waiters whose offsets are flushed (force: fsync them now). */
void elog_broker_check_produces(struct elog_broker *b, int force);
void elog_broker_produce_timeout(struct elog_waiter *w);
void elog_broker_produce_answer(struct elog_waiter *w);

/* broker_fetch.c */
void elog_broker_fetch(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
/* Re-check parked fetches (force: answer all now). */
void elog_broker_check_fetches(struct elog_broker *b, int force);
void elog_broker_fetch_answer(struct elog_waiter *w);

#endif
