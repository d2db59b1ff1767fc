/*
 * broker_int — what the broker's files share: broker.c (lifecycle,
 * connections, framing, the memory budget, waits), broker_stream.c (the
 * output side of a connection: bytes and segment-file ranges, sent as the
 * socket drains, checked on the way out), broker_admin.c (metadata, topics,
 * producer ids, list offsets, delete records), broker_produce.c and
 * broker_fetch.c.
 * Nothing outside them includes this.
 *
 * Lifetimes. A connection is freed only in the before-sleep hook
 * (conn_kill marks it dead, closes its socket and cancels its waiters at
 * once), so a handler may kill the connection it runs for and return
 * without it disappearing under its feet. A waiter belongs to one
 * connection and sits on two lists (the broker's and its connection's);
 * it points at partitions, so deleting a topic first answers every waiter
 * that points into it (elog_broker_forget_topic), and forgets the
 * partition of every file range still queued for sending (the ranges keep
 * their own dup of the segment's fd, so their bytes stay readable).
 *
 * Memory. b->mem_used counts the bytes the broker holds for requests and
 * responses beyond each connection's free share (CONN_FREE_BYTES of input,
 * output and streaming buffers together) plus every parked waiter larger
 * than WAITER_FREE_BYTES. Its bound is config.max_buffered_bytes:
 * a connection whose frame would take more waits (it is not read) until
 * memory comes back. Big frames (read buffers past IN_INITIAL_BYTES) are
 * served oldest first, and the oldest may finish past the bound, so the
 * waiters can never deadlock each other (broker.c, big_insert).
 * elog_conn_account brings a connection's share up to date after its
 * buffers changed.
 *
 * Output. A connection's answers are one byte stream: c->out holds the
 * bytes built in memory, and each queued struct out_file is a range of a
 * segment file that goes at stream position `at` (positions count from the
 * connection's first byte: c->out_base is the position of out.data[0]).
 * Every byte of a file range is checked (framing, offsets, CRC) before it
 * is sent.
 */
#ifndef ELOG_BROKER_INT_H
#define ELOG_BROKER_INT_H

#include "broker.h"
#include "batch.h"
#include "buf.h"
#include "compactor.h"
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
struct elog_cluster;

enum waiter_kind {
	WAIT_FETCH = 1,
	WAIT_PRODUCE = 2,
	WAIT_META = 3,  /* a cluster's admin request */
	WAIT_PURGE = 4, /* a cluster's DELETE_RECORDS */
	WAIT_COMMIT = 5, /* OFFSET_COMMIT: parts as asked, then the append (broker_group.c) */
};

/* One partition of a parked fetch or produce. */
struct wait_part {
	uint32_t topic_index;        /* into waiter.topics */
	uint32_t id;
	struct elog_partition *p;    /* NULL once an error is final */
	int16_t error;
	char message[BROKER_MSG_MAX];
	int64_t offset;              /* fetch: from; produce: base offset given */
	uint32_t max_bytes;          /* fetch */
	int64_t need_offset;         /* produce: flushed offset needed for acks=all;
	                                purge: the start asked for */
	int64_t log_start;           /* produce; purge: the start before */
	int64_t meta_offset;         /* WAIT_META: the proposed record's offset */
};

struct wait_topic {
	char name[ELOG_TOPIC_NAME_MAX + 1];
	uint32_t first_part, part_count;  /* its parts in waiter.parts */
};

struct elog_waiter {
	enum waiter_kind kind;
	int acks_one;                       /* produce with acks=1 */
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
	uint64_t bytes;                     /* allocated for it */
	uint64_t charged;                   /* bytes of b->mem_used it holds while parked */
};

/* Batches of one partition sent from its segment file (a FETCH answer). */
struct out_file {
	uint64_t at;              /* stream position where its bytes go */
	int fd;                   /* a dup of the segment's fd: retention may delete the file */
	uint64_t position;        /* in the file */
	uint32_t len;
	uint32_t read;            /* bytes read and checked so far (they may be sent) */
	uint32_t sent;            /* bytes sent so far, <= read */
	int64_t base_offset;      /* of its first batch */
	struct elog_partition *p; /* for a damage report; NULL once its topic is gone */
	struct out_file *next;
};

/*
 * Checks the batches of a file range as they stream by, a chunk at a time:
 * each batch's header, its base offset (continuing the one before), its
 * length (inside the range) and its CRC. The bytes of a chunk are accepted
 * only once every batch that ends in it matched its CRC, so a damaged
 * batch is never sent whole.
 */
struct served_check {
	int64_t next_offset;      /* the base offset the next batch must have */
	int64_t batch_offset;     /* base offset of the batch being checked */
	uint32_t batch_left;      /* its bytes not seen yet; 0 at a batch boundary */
	uint32_t crc, crc_want;
};

void elog_served_check_init(struct served_check *k, int64_t base_offset);
/*
 * Check the next n bytes of a range that has range_left bytes from here
 * on (n included). Returns the bytes that may be sent: n, or fewer when
 * the chunk ends inside a batch header (the caller reads them again with
 * the next chunk); -1 with ELOG_E_CORRUPT in err naming the batch's offset
 * when a batch is damaged (then nothing of the chunk may be sent).
 */
long elog_served_check_feed(struct served_check *k, const uint8_t *p, size_t n,
			    uint64_t range_left, struct elog_err *err);

struct elog_conn {
	struct elog_broker *broker;
	int fd;
	int dead;                 /* socket closed; freed in before-sleep */
	int closing;              /* close once the output is written */
	int pumping;              /* inside conn_pump: no re-entry */
	int flush_pending;        /* answered while the broker was answering */
	int raft_peer;            /* a peer broker's RAFT connection (accepted frames came) */
	int raft_authed;          /* it said a good HELLO (raftauth.h) as broker raft_from */
	int32_t raft_from;
	struct elog_conn *flush_next; /* b->flush_list */
	uint64_t id;
	char peer[64];
	struct elog_buf in;       /* the frame being received (and any after it) */
	int64_t frame_start_ms;   /* when in's first byte arrived (in.len > 0) */
	struct elog_buf out;      /* answers built in memory; out_sent bytes of it written */
	size_t out_sent;
	uint64_t out_base;        /* stream position of out.data[0] */
	struct out_file *files, *files_tail; /* file ranges to send, in stream order */
	uint32_t file_count;
	uint64_t file_unsent;     /* bytes of them not sent yet */
	struct elog_buf chunk;    /* where the head range's bytes are read to be checked */
	struct served_check check; /* of the head range */
	uint64_t charged;         /* this connection's part of b->mem_used */
	int big;                  /* on the broker's list of big frames */
	int mem_waiting;          /* and waits for memory to grow */
	struct elog_conn *bnext, *bprev;
	uint32_t inflight;        /* parked requests */
	int64_t progress_ms;      /* last byte read or written */
	struct elog_conn *lru_newer, *lru_older; /* by progress_ms */
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
	struct elog_conn *lru_newest, *lru_oldest; /* live connections by last progress */
	uint32_t conn_count;
	uint64_t conn_seq;
	struct elog_waiter *waiters;
	uint32_t waiter_count;
	int appended;             /* an append since the parked fetches were checked */
	int answering;            /* answering waiters: connections must not pump */
	int pump_pending;         /* a pump was put off while answering */
	struct elog_conn *flush_list; /* connections with flush_pending */
	struct elog_batch_reader reader; /* produce: its validator checks every batch */
	int stopping;
	int64_t stop_deadline_ms;
	struct elog_timer idle_timer, retention_timer, accept_timer, space_timer;
	uint64_t flusher_failures_seen; /* elog_flusher_failures when last looked at */
	struct elog_buf scratch;  /* per-request temporary */
	uint64_t mem_used;        /* charged bytes (see "Memory" above) */
	struct elog_conn *big_head, *big_tail; /* big frames being received, oldest first */
	uint32_t mem_waiting_count; /* of them, waiting for memory */
	int out_blocked;          /* a connection was held back for its answers' memory */
	uint64_t turn_read_bytes; /* read this turn of the loop */
	int64_t trimmed_ms;       /* when every connection last gave back its kept buffers */
	uint32_t stream_fds, stream_fds_max; /* dup'ed segment fds held by queued file ranges */
	struct elog_cluster *cluster; /* NULL: a broker alone (broker_raft.h) */
	struct elog_groups *groups;   /* consumer groups' tables (broker_group.c); NULL: none yet */
	/* Compaction (broker_compact.c): the thread, its timer, and the partition of
	 * the job it holds (by name: the topic may go meanwhile). */
	struct elog_compactor compactor;
	struct elog_timer compaction_timer;
	char compact_topic[ELOG_TOPIC_NAME_MAX + 1];
	uint32_t compact_partition;
	int64_t compact_started_ms;       /* the running job's submission (loop clock) */
	uint64_t compact_cursor;      /* round robin over the partitions */
};

/* Free share of every connection, outside the budget, and the size of a
 * parked waiter that is not charged either. */
#define CONN_FREE_BYTES (64u << 10)
#define WAITER_FREE_BYTES (4u << 10)
/* A file range is checked a chunk at a time (what one pread brings in:
 * the big one when the budget has room, else the small one), up to
 * STREAM_CHECK_AHEAD_BYTES ahead of what was sent, and the checked bytes go
 * out with sendfile(2): one call sends what the socket takes. */
#define STREAM_CHUNK_BYTES (256u << 10)
#define STREAM_CHUNK_MIN_BYTES (16u << 10)
#define STREAM_CHECK_AHEAD_BYTES (4u << 20)
/* Batches of one FETCH answer, up to this many bytes in all, are read and
 * checked when it is built and go out with its fields in one send. */
#define FETCH_INLINE_BYTES (32u << 10)

/* broker_compact.c */
/* Start the compaction thread and its timer (compaction_interval_ms). */
int elog_broker_compact_start(struct elog_broker *b, struct elog_err *err);
/* Stop the thread (a job running is cancelled; its temp files removed). */
void elog_broker_compact_stop(struct elog_broker *b);

/* broker.c */
void elog_conn_kill(struct elog_conn *c, const char *why);
/* A byte moved: c's progress_ms is now (and it is the most recently active). */
void elog_conn_progress(struct elog_conn *c);
/* Bring c's part of b->mem_used up to date with its buffers. */
void elog_conn_account(struct elog_conn *c);
/* Give back the buffers c keeps between frames and answers (its read
 * buffer when empty, its send chunk when no range waits): when it has been
 * idle a while, or when memory is short. */
void elog_conn_trim(struct elog_conn *c);
/* Bytes a connection could still take without passing the budget, from
 * its free share and then the shared budget. */
uint64_t elog_conn_mem_room(const struct elog_conn *c);
/* Unsent answer bytes, in memory and in file ranges. */
static inline uint64_t elog_conn_unsent(const struct elog_conn *c)
{
	return (c->out.len - c->out_sent) + c->file_unsent;
}
/*
 * The per-partition apis name (topic, partition) pairs. Refuse a body
 * (already parsed) that names one twice, a topic with more partitions than
 * it has, or more partitions of unknown topics than
 * ELOG_BROKER_UNKNOWN_PARTS_MAX: INVALID_REQUEST (the connection stays)
 * and -1; 0 when it may be served. `layout` says where the pairs are.
 */
struct elog_part_layout {
	size_t head_bytes;        /* fixed fields before the topics array */
	size_t entry_bytes;       /* fixed fields after each partition id */
	int entry_has_bytes;      /* then a bytes field (produce's batches) */
	int entry_has_string;     /* then a string field (OFFSET_COMMIT's metadata) */
};
#define ELOG_BROKER_UNKNOWN_PARTS_MAX 1024
int elog_broker_check_parts(struct elog_conn *c, const struct elog_frame_header *rq,
			    const struct elog_wire_r *body, const struct elog_part_layout *layout);
/* The same for a body that is an array<string> of topic names (METADATA,
 * DESCRIBE_TOPICS): a name twice, or more than ELOG_BROKER_UNKNOWN_PARTS_MAX
 * unknown ones, is refused; -1 then (answered). */
int elog_broker_check_names(struct elog_conn *c, const struct elog_frame_header *rq,
			    const struct elog_wire_r *body);
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

/* broker_id.c: claim the data directory dir for broker id in a cluster
 * (DIR/broker.id written on the first start); refused, saying why, when
 * it is another broker's or the file is damaged. */
int elog_broker_id_claim(const char *dir, int32_t id, struct elog_err *err);

/* broker_admin.c: the protocol error code for a store failure of a topic
 * create, alter or delete (TOPIC_EXISTS, INVALID_REQUEST, ...). */
int elog_broker_store_error(const struct elog_err *err);

/*
 * broker_route.c: where a partition lives, for the METADATA and
 * DESCRIBE_TOPICS encoders (the only callers). A single broker answers
 * itself: leader, the one replica, in sync, its end the next offset,
 * available. A broker in a cluster answers from its Raft state.
 */
#define ELOG_REPLICAS_MAX 7
struct elog_route {
	int32_t leader_id;          /* -1: no leader known now */
	uint64_t leader_term;
	uint32_t replica_count;
	int32_t replicas[ELOG_REPLICAS_MAX];    /* placement order; [0] preferred leader */
	uint8_t in_sync[ELOG_REPLICAS_MAX];     /* matched the leader within replica_lag_max */
	int64_t replica_end[ELOG_REPLICAS_MAX]; /* leader's view of each replica's end; -1 unknown */
	int available;              /* 0: no majority reachable: unavailable */
};
void elog_broker_route(struct elog_broker *b, const struct elog_topic *t, uint32_t partition,
		       struct elog_route *out);

/* broker_admin.c */
/* A cluster's purge: answered once every part settled (end 0), or now,
 * what has not settled answered TIMEOUT or SHUTTING_DOWN. */
enum { PURGE_END_TIMEOUT = 1, PURGE_END_SHUTDOWN = 2 };
void elog_broker_purge_answer(struct elog_waiter *w, int end);
void elog_broker_metadata(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_create_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_delete_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_describe_topics(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_alter_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_init_producer(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_list_offsets(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
void elog_broker_delete_records(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
/* End an answer frame begun in c->out (a response too large kills c). */
void elog_broker_finish(struct elog_conn *c, struct elog_wire_w *w);
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
/* Answer produce waiters whose offsets are flushed (force, at the start of
 * a shutdown: kick the flusher first, and answer parked purges now). */
void elog_broker_check_produces(struct elog_broker *b, int force);
void elog_broker_produce_timeout(struct elog_waiter *w);
void elog_broker_produce_answer(struct elog_waiter *w);
/* Append a batch built here (OFFSET_COMMIT's) to t's partition part->id as
 * a produce does: part->error set on a refusal, part->need_offset the end
 * acks=all waits for. The batch is rewritten in place. */
void elog_broker_append_part(struct elog_broker *b, struct elog_topic *t, struct wait_part *part,
			     uint8_t *data, size_t len);
/* When a write asked to wait timeout_ms gives up (capped by
 * produce_timeout_max). */
int64_t elog_broker_write_deadline(const struct elog_broker *b, uint32_t timeout_ms);
/* Whether part's append is durable as acks=all wants it (or failed). */
int elog_broker_part_durable(struct elog_broker *b, const struct elog_waiter *w,
			     struct wait_part *part);

/* broker_group.c (docs/groups.md) */
#define ELOG_GROUPS_TOPIC "__groups"
void elog_broker_find_coordinator(struct elog_conn *c, const struct elog_frame_header *rq,
				  struct elog_wire_r *r);
void elog_broker_offset_commit(struct elog_conn *c, const struct elog_frame_header *rq,
			       struct elog_wire_r *r);
void elog_broker_offset_fetch(struct elog_conn *c, const struct elog_frame_header *rq,
			      struct elog_wire_r *r);
void elog_broker_list_groups(struct elog_conn *c, const struct elog_frame_header *rq,
			     struct elog_wire_r *r);
/* broker_member.c: membership (docs/groups.md) */
void elog_broker_group_heartbeat(struct elog_conn *c, const struct elog_frame_header *rq,
				 struct elog_wire_r *r);
void elog_broker_describe_group(struct elog_conn *c, const struct elog_frame_header *rq,
				struct elog_wire_r *r);
void elog_broker_delete_group(struct elog_conn *c, const struct elog_frame_header *rq,
			      struct elog_wire_r *r);
/* A commit is answered once committed and read into its table. */
int elog_broker_commit_done(struct elog_waiter *w);
void elog_broker_commit_answer(struct elog_waiter *w);
void elog_broker_commit_timeout(struct elog_waiter *w);
/* Shutting down: answered SHUTTING_DOWN (retriable), committed or not yet. */
void elog_broker_commit_shutdown(struct elog_waiter *w);
/* Before the loop sleeps, when something was appended or committed: every
 * __groups table held here reads on (bounded). */
void elog_broker_groups_read(struct elog_broker *b);
void elog_broker_groups_free(struct elog_broker *b);
/* 1..255 bytes, no control byte; -1 with msg. */
int elog_group_name_check(const char *name, size_t len, char *msg, size_t cap);

/* broker_stream.c */
/* Queue the slice's batches to be sent from its file at the current end
 * of c's stream (after every byte written to c->out so far). -1 (nothing
 * queued) when no fd can be spared. */
int elog_conn_add_file(struct elog_conn *c, struct elog_partition *p,
		       const struct elog_partlog_slice *s, struct elog_err *err);
/* Read a (small) slice into buf, for an answer whose batches go out with
 * its fields; the caller checks them. -1 with ELOG_E_IO when it cannot. */
int elog_conn_read_slice(const struct elog_partlog_slice *s, struct elog_buf *buf,
			 struct elog_err *err);
/* Drop the ranges queued after stream position `from` (a frame given up). */
void elog_conn_drop_files(struct elog_conn *c, uint64_t from);
/* Drop every range (the connection is going). */
void elog_conn_release_files(struct elog_conn *c);
/* Send a chunk of the head range, which starts at the stream's next byte:
 * 1 when it all went (or the range was done), 0 when the socket is full,
 * -1 when the connection was killed (damage, a read error, no memory). */
int elog_conn_send_file(struct elog_conn *c);
/* The topic is going: its ranges keep their bytes but lose their partition. */
void elog_broker_forget_topic_files(struct elog_broker *b, const struct elog_topic *t);

/* broker_fetch.c */
void elog_broker_fetch(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r);
/* Re-check parked fetches (force: answer all now). */
void elog_broker_check_fetches(struct elog_broker *b, int force);
void elog_broker_fetch_answer(struct elog_waiter *w);

#endif
