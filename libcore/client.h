/*
 * client — what every elog tool links to talk to brokers: broker lists,
 * connections with pipelined requests, metadata and administration, the
 * producer pipeline and the fetcher. docs/protocol.md is the wire contract.
 *
 * Layers, bottom up (each usable on its own):
 *
 *   elog_brokers_*   parse "host:port,host:port" (-b / ELOG_BROKERS).
 *   elog_conn        one TCP connection: connect with a timeout, many
 *                    requests in flight, responses matched by correlation
 *                    id (they may arrive out of order), bounded buffers,
 *                    non-blocking I/O driven by poll().
 *   elog_client      a broker list, a metadata cache and one connection
 *                    for synchronous calls: metadata, create / delete /
 *                    describe / alter topic, list offsets, delete records.
 *   elog_producer    batches records per partition and keeps several
 *                    produce requests in flight; retries with backoff;
 *                    idempotent by default; reports every record as
 *                    delivered or failed, with the caller's tag.
 *   elog_fetcher     long-poll fetch over a set of (topic, partition,
 *                    start[, end]) and a record iterator over the batches.
 *
 * Threads: none. Every object is used by one thread; the tools are
 * single-threaded and block only inside these calls, always with a bound
 * (connect, request and delivery timeouts).
 *
 * Ownership: an elog_client outlives the producers and fetchers made from
 * it. Producers and fetchers open their own connections (so their responses
 * never mix with the client's synchronous calls) and use the client for
 * metadata and its configuration.
 *
 * Errors: as everywhere in libcore (err.h) — -1 / NULL and a one-line
 * message naming the broker, topic and partition:
 *   "cannot connect to 127.0.0.1:7411: connection refused"
 *   "produce to 'orders' partition 3: not the leader for this partition"
 *   "fetch 'orders' partition 0 at offset 500: offset out of range (the log holds
 *    offsets 0 to 119; its next offset is 120)"
 * Broker error codes map to err codes: OFFSET_OUT_OF_RANGE -> ELOG_E_RANGE,
 * CORRUPT_BATCH -> ELOG_E_CORRUPT, BATCH_TOO_LARGE / FRAME_TOO_LARGE /
 * RESOURCE_LIMIT -> ELOG_E_LIMIT, STORAGE_ERROR / UNKNOWN_SERVER_ERROR ->
 * ELOG_E_FAILED, every other refusal -> ELOG_E_INVAL; network failures and
 * timeouts -> ELOG_E_IO; a malformed response -> ELOG_E_CORRUPT. The exact
 * protocol code of the last failed call is elog_client_proto_error(). libcore
 * never prints and never exits.
 *
 * Calling sequences:
 *
 *   struct elog_client_config cc;  elog_client_config_init(&cc);
 *   cc.brokers = opt_b;            (NULL: $ELOG_BROKERS, then 127.0.0.1:7411)
 *   c = elog_client_new(&cc, &err);
 *
 *   producer:  struct elog_producer_config pc; elog_producer_config_init(&pc);
 *              pc.on_delivery = cb; pc.ctx = me;
 *              p = elog_producer_new(c, "orders", &pc, &err);
 *              while (line) elog_producer_send(p, &rec, -1, lineno, &err);
 *              (optionally elog_producer_poll(p, ms, &err) while idle)
 *              elog_producer_flush(p, timeout_ms, &err);
 *              elog_producer_stats(p, &st);   st.failed > 0: report, exit 1
 *              elog_producer_free(p);
 *
 *   fetcher:   struct elog_fetcher_config fc; elog_fetcher_config_init(&fc);
 *              f = elog_fetcher_new(c, &fc, &err);
 *              elog_pos_parse("-10", &start, &err);
 *              elog_fetcher_add(f, "orders", -1, &start, NULL, &err);
 *              while ((rc = elog_fetcher_next(f, &rec, timeout_ms, &err)) > 0)
 *                  use rec.topic, rec.partition, rec.record->offset/value ...;
 *              rc == 0: timeout or elog_fetcher_done(f); rc < 0: err
 *              elog_fetcher_free(f);
 *
 *   elog_client_free(c);
 */
#ifndef ELOG_CLIENT_H
#define ELOG_CLIENT_H

#include <poll.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"
#include "err.h"
#include "proto.h"

/* ------------------------------------------------------------ brokers */

#define ELOG_BROKERS_MAX 64
#define ELOG_HOST_MAX 255
#define ELOG_BROKERS_DEFAULT "127.0.0.1:7411"
#define ELOG_BROKERS_ENV "ELOG_BROKERS"

struct elog_broker_addr {
	char host[ELOG_HOST_MAX + 1];  /* name or address, without brackets */
	uint16_t port;
};

/*
 * Parse a comma-separated broker list: "host:port", "host" (port 7411),
 * "[v6addr]:port", "[v6addr]"; blanks around entries are ignored. Fails
 * with ELOG_E_INVAL quoting the bad entry ("invalid broker \"x:99999\": port
 * out of range"), or for an empty list, or more than max entries.
 */
int elog_brokers_parse(const char *list, struct elog_broker_addr *out, size_t max, size_t *n,
		       struct elog_err *err);

/* The list to use: opt when non-NULL and non-empty, else $ELOG_BROKERS when
 * set and non-empty, else ELOG_BROKERS_DEFAULT. Never NULL. */
const char *elog_brokers_choose(const char *opt);

/* "host:port", or "[v6]:port", into out (cap >= ELOG_HOST_MAX + 9). */
void elog_broker_addr_format(const struct elog_broker_addr *a, char *out, size_t cap);

/* ------------------------------------------------------------ connection */

/*
 * A connection owns one socket, an output buffer of encoded requests not yet
 * written, an input buffer of bytes read, and a table of requests in flight
 * (correlation id, api, caller's tag, deadline).
 *
 * Invariants: at most in_flight_max requests await a response; the output
 * buffer never holds more than send_buffer_bytes plus one request; the
 * input buffer never exceeds frame_bytes_max + header. A response whose
 * correlation id is not in flight, an oversized or malformed frame, or an
 * in-flight request past its deadline breaks the connection: the socket is
 * closed, every in-flight request is lost, and the next call reports it.
 * Callers then resend what they still need (the producer and fetcher do).
 *
 * Request sequence (no copy: the body is encoded into the output buffer):
 *   elog_conn_request_begin(c, &w, ELOG_API_FETCH, &err)    -> correlation id
 *   elog_wire_put_...(&w, ...)
 *   elog_conn_request_end(c, &w, expect_response, tag, timeout_ms, &err)
 * then drive I/O with elog_conn_wait() (this connection only) or
 * elog_conn_events()+poll()+elog_conn_io() (many connections), and take
 * responses with elog_conn_recv() until it returns 0.
 */

#define ELOG_CONNECT_TIMEOUT_DEFAULT_MS 3000
#define ELOG_CONN_ADDRS_MAX 8          /* resolved addresses tried per connect */

struct elog_conn_config {
	int connect_timeout_ms;        /* default ELOG_CONNECT_TIMEOUT_DEFAULT_MS */
	uint32_t frame_bytes_max;      /* largest response accepted; default ELOG_FRAME_BYTES_DEFAULT */
	size_t send_buffer_bytes;      /* output backlog before request_begin refuses; default 64 MiB */
	uint32_t in_flight_max;        /* requests awaiting responses; default 64, max 1024 */
};

struct elog_conn_pending {
	uint32_t correlation_id;
	uint16_t api;
	uint16_t version;              /* the request's; its response must echo it */
	uint64_t tag;
	int64_t sent_ms;               /* monotonic: when it was queued */
	int64_t deadline_ms;           /* monotonic; 0: none */
};

struct elog_conn {
	struct elog_conn_config config;
	int fd;                        /* -1 when closed */
	char name[ELOG_HOST_MAX + 12]; /* "host:port" for messages */
	struct elog_buf out;
	size_t out_sent;               /* bytes of out already written */
	struct elog_buf in;
	size_t in_off;                 /* bytes of in already taken by elog_conn_recv */
	struct elog_conn_pending *pending;
	uint32_t pending_count;
	uint32_t next_correlation_id;
	int broken;                    /* an I/O failure, EOF or deadline: recv reports it
	                                  once the complete frames read before are taken */
	struct elog_err broken_err;    /* why */
	/* A connect under way (elog_conn_connect_start): fd is the socket of
	 * addrs[addr_next - 1]; the others are tried in turn on failure, all
	 * within connect_deadline_ms. */
	int connecting;
	int64_t connect_deadline_ms;
	int connect_errno;             /* the last address's failure */
	uint32_t addr_count, addr_next;
	struct sockaddr_storage *addrs;
	uint32_t *addr_lens;
};

/* A response taken from a connection; the frame buffer is reused across calls. */
struct elog_response {
	uint16_t api;                  /* request api (response bit cleared) */
	uint16_t version;              /* the version the request was sent in */
	uint32_t correlation_id;
	uint64_t tag;                  /* as given to request_end */
	struct elog_buf frame;         /* the whole frame, header included */
	const uint8_t *body;           /* frame.data + 12: starts with error_code, error_message */
	size_t body_len;
};

void elog_conn_config_init(struct elog_conn_config *cfg);
void elog_conn_init(struct elog_conn *c, const struct elog_conn_config *cfg);
/* Close (if open) and free buffers; the connection can be connected again. */
void elog_conn_release(struct elog_conn *c);
/* Resolve (getaddrinfo), connect with the timeout (non-blocking connect +
 * poll, every address in turn), TCP_NODELAY. Blocks at most connect_timeout_ms
 * in all. Fails "cannot connect to host:port: <reason>". */
int elog_conn_connect(struct elog_conn *c, const char *host, uint16_t port, struct elog_err *err);
/*
 * The same without waiting: resolve, start a non-blocking connect and
 * return. Requests may be queued at once; they go out once the connection
 * is up. elog_conn_events asks for POLLOUT meanwhile, and elog_conn_io
 * finishes the connect (or moves on to the next address). A connect that
 * fails on every address, or is not up within connect_timeout_ms, breaks
 * the connection: elog_conn_recv reports "cannot connect to host:port:
 * <reason>" (or "...: timed out after N ms"). -1 only when no attempt
 * could start (the name does not resolve, every address refused at once).
 */
int elog_conn_connect_start(struct elog_conn *c, const char *host, uint16_t port,
			    struct elog_err *err);
/* A connect started and not finished yet? */
static inline int elog_conn_is_connecting(const struct elog_conn *c) { return c->connecting; }
/* Milliseconds until this connection's next deadline (connect or request),
 * for a poll timeout; -1: none. */
int elog_conn_timeout_ms(const struct elog_conn *c, int64_t now_ms);
/* When the oldest request awaiting its response was queued; INT64_MAX: none. */
int64_t elog_conn_oldest_ms(const struct elog_conn *c);
/* Close the socket, drop buffers' contents and everything in flight. */
void elog_conn_close(struct elog_conn *c);
/* Open, connecting, or broken with a failure elog_conn_recv has yet to report. */
static inline int elog_conn_is_open(const struct elog_conn *c) { return c->fd >= 0 || c->broken; }
/* Room for one more request (connected, in-flight and output limits)? */
int elog_conn_can_send(const struct elog_conn *c);

/* Start a request frame in the output buffer; returns 0 and the correlation
 * id through *correlation_id, or -1 (closed, ELOG_E_LIMIT when full). */
int elog_conn_request_begin(struct elog_conn *c, struct elog_wire_w *w, uint16_t api,
			    uint32_t *correlation_id, struct elog_err *err);
/* Finish it. expect_response 0 (produce with acks=0) sends and forgets.
 * timeout_ms > 0 sets the deadline for the response. On failure (the
 * encoder hit a limit) the frame is removed and nothing is in flight. */
int elog_conn_request_end(struct elog_conn *c, struct elog_wire_w *w, int expect_response,
			  uint64_t tag, int timeout_ms, struct elog_err *err);

/* poll() events this connection wants: POLLIN, plus POLLOUT with output
 * pending; 0 when closed or broken (call elog_conn_recv to learn why). */
short elog_conn_events(const struct elog_conn *c);
/*
 * Non-blocking: read what the socket has, write what it takes, expire
 * deadlines (now_ms monotonic). Failures (EOF, reset, a deadline passed) do
 * not lose responses already read: they mark the connection broken and
 * elog_conn_recv reports them after the buffered responses. So after every
 * elog_conn_io or elog_conn_wait, call elog_conn_recv until it returns 0 or
 * -1. Returns -1 only when called on a closed connection.
 */
int elog_conn_io(struct elog_conn *c, short revents, int64_t now_ms, struct elog_err *err);
/* Block up to timeout_ms (-1: no bound) for I/O on this connection alone,
 * then elog_conn_io. Returns at once when a response is already buffered
 * or the connection is broken. */
int elog_conn_wait(struct elog_conn *c, int timeout_ms, struct elog_err *err);
/*
 * Take the next complete response: 1 (resp filled, its tag and api from the
 * in-flight table), 0 none buffered yet, -1 when the connection failed
 * (malformed or unexpected frame, EOF, I/O error, deadline): it is closed,
 * every request still in flight is lost, err says why.
 */
int elog_conn_recv(struct elog_conn *c, struct elog_response *resp, struct elog_err *err);

void elog_response_init(struct elog_response *r, uint32_t frame_bytes_max);
void elog_response_release(struct elog_response *r);

/* Monotonic milliseconds, for deadlines. */
int64_t elog_clock_ms(void);
/* Wall-clock milliseconds since the epoch, for times others read. */
int64_t elog_wall_ms(void);

/*
 * Exponential backoff with jitter: base_ms * 2^attempt, capped at max_ms,
 * then scaled into [0.8, 1.2) of itself by rnd (any 32-bit value; pass a
 * random one) and capped at max_ms again. attempt 0 is the first retry.
 */
uint32_t elog_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms, uint32_t rnd);

/* ------------------------------------------------------------ client */

struct elog_client_config {
	const char *brokers;           /* as for elog_brokers_choose(); copied */
	int connect_timeout_ms;        /* default ELOG_CONNECT_TIMEOUT_DEFAULT_MS (3 s);
	                                  at most request_timeout_ms (cut to it) */
	int request_timeout_ms;        /* default 30000: every synchronous call */
	uint32_t frame_bytes_max;      /* default ELOG_FRAME_BYTES_DEFAULT */
	uint32_t retry_backoff_ms;     /* default 50: retriable errors of synchronous calls */
	uint32_t retry_backoff_max_ms; /* default 1000 */
};

struct elog_meta_broker {
	int32_t id;
	char host[ELOG_HOST_MAX + 1];
	uint16_t port;
};

struct elog_meta_partition {
	uint32_t id;
	int16_t error;                 /* protocol error code, 0 normally */
	int32_t leader_id;             /* -1: none */
	int64_t leader_term;
	uint32_t replica_count, isr_count;
	int32_t *replicas, *isr;
};

struct elog_meta_topic {
	char *name;
	int16_t error;                 /* e.g. ELOG_PE_UNKNOWN_TOPIC, then no partitions */
	uint32_t partition_count;
	struct elog_meta_partition *partitions;  /* sorted by id; id == index when complete */
};

struct elog_metadata {
	int32_t controller_id;
	uint32_t broker_count, topic_count;
	struct elog_meta_broker *brokers;
	struct elog_meta_topic *topics;
};

struct elog_client;

void elog_client_config_init(struct elog_client_config *cfg);
/* Parses the broker list (fails on a bad one); connects lazily. */
struct elog_client *elog_client_new(const struct elog_client_config *cfg, struct elog_err *err);
void elog_client_free(struct elog_client *c);
const struct elog_client_config *elog_client_config(const struct elog_client *c);
/* Calls from now on give up after ms (e.g. a last commit on the way out). */
void elog_client_set_request_timeout(struct elog_client *c, int ms);
/* The protocol error code of the last failed call (0 when it failed locally). */
int elog_client_proto_error(const struct elog_client *c);

/*
 * Fetch metadata for topics[0..n) (n 0: every topic) from the first
 * broker that answers (the one that answered last, then the bootstrap list
 * in order, then brokers learned from earlier metadata; a broker whose
 * connect or call failed lately goes last, so a dead bootstrap broker
 * costs one connect timeout, not one per call), merge it into the client's
 * cache and return the cache. One broker gets at most the request timeout,
 * and no more than twice connect_timeout_ms, to answer. Topics that do not exist come back with error UNKNOWN_TOPIC and no
 * partitions (this call never creates one). When no broker can be reached
 * it fails at once with the first broker's reason ("cannot connect to
 * 127.0.0.1:7411: connection refused"); only broker-side retriable answers
 * (SHUTTING_DOWN, ...) are retried, until request_timeout_ms. The returned
 * pointer stays valid until the next metadata call or client_free.
 */
const struct elog_metadata *elog_client_metadata(struct elog_client *c, const char *const *topics,
						 size_t n, struct elog_err *err);
/*
 * The same, asking the broker to create the named topics that do not exist
 * (METADATA v2 allow_auto_create; the broker's auto_create_topics decides,
 * and a topic it may not create comes back UNKNOWN_TOPIC). Only a producer
 * resolving its topic for the first time asks this: a topic seen once is
 * never created again by a client, so a deleted topic stays deleted.
 */
const struct elog_metadata *elog_client_metadata_create(struct elog_client *c,
							const char *const *topics, size_t n,
							struct elog_err *err);
/* Lookups in a metadata snapshot; NULL when absent. */
const struct elog_meta_topic *elog_metadata_topic(const struct elog_metadata *md, const char *name);
const struct elog_meta_broker *elog_metadata_broker(const struct elog_metadata *md, int32_t id);
void elog_metadata_release(struct elog_metadata *md);

/* A topic configuration entry (input: borrowed strings). */
struct elog_config_entry {
	const char *key;
	const char *value;
};

/* Administration: sent to the controller (metadata's controller_id), retried
 * on retriable errors (NOT_LEADER: it moved) and on a connection lost
 * mid-call, after refreshing metadata, until request_timeout_ms. A connect
 * that fails is retried while another broker answers METADATA (the
 * controller died and another takes over), and fails at once when none
 * does. Messages read "create topic 'orders': topic already exists";
 * elog_client_proto_error() gives the code. */
int elog_admin_create_topic(struct elog_client *c, const char *name, uint32_t partitions,
			    uint16_t replication_factor, const struct elog_config_entry *configs,
			    size_t config_count, struct elog_err *err);
int elog_admin_delete_topic(struct elog_client *c, const char *name, struct elog_err *err);
/* partitions 0: unchanged (may only grow). */
int elog_admin_alter_topic(struct elog_client *c, const char *name, uint32_t partitions,
			   const struct elog_config_entry *configs, size_t config_count,
			   struct elog_err *err);

enum elog_partition_state {
	ELOG_PARTITION_STATE_OK = 0,
	ELOG_PARTITION_STATE_DAMAGED = 1, /* some offsets are unreadable; the rest is served */
	ELOG_PARTITION_STATE_FAILED = 2,  /* a write or sync failed; nothing is served */
	ELOG_PARTITION_STATE_UNAVAILABLE = 3, /* no majority of its replicas is reachable (v3) */
};

/* One replica of a partition, as its leader sees it (DESCRIBE_TOPICS v3). */
struct elog_replica_description {
	int32_t id;
	uint8_t in_sync;
	int64_t end_offset;   /* -1: unknown */
	int64_t lag;          /* leader's end - end_offset; -1: unknown */
};

struct elog_partition_description {
	uint32_t id;
	int64_t log_start_offset, high_watermark;
	uint64_t size_bytes;
	uint32_t segments;
	uint8_t status;       /* enum elog_partition_state (DESCRIBE_TOPICS v2) */
	char *status_detail;  /* "offsets 100-199 damaged", the failure; NULL when ok */
	/* DESCRIBE_TOPICS v3 (from an older broker: leader_id -1, no replicas) */
	int32_t leader_id;    /* -1: no leader now */
	uint64_t leader_term;
	uint32_t replica_count;
	struct elog_replica_description *replicas;  /* placement order */
};

/* "ok", "damaged", "failed", "unavailable" ("unknown" for a status this build does not know). */
const char *elog_partition_state_name(uint8_t status);

struct elog_topic_description {
	char *name;
	int16_t error;                 /* per topic: UNKNOWN_TOPIC when absent */
	uint32_t partition_count;
	size_t config_count;
	struct { char *key, *value; } *configs;
	size_t partition_desc_count;
	struct elog_partition_description *partitions;
};

struct elog_topic_descriptions {
	size_t count;
	struct elog_topic_description *topics;
};

/* names[0..n) (n 0: every topic). Release the result with
 * elog_topic_descriptions_release. */
int elog_admin_describe_topics(struct elog_client *c, const char *const *names, size_t n,
			       struct elog_topic_descriptions *out, struct elog_err *err);
void elog_topic_descriptions_release(struct elog_topic_descriptions *d);

/* ------------------------------------------------------------ groups
 * Consumer groups' committed offsets (docs/groups.md, client_group.c): the
 * group's coordinator is found (FIND_COORDINATOR) and asked; its
 * retriable answers (moved, loading) and lost connections are retried
 * until request_timeout_ms. */

/* One partition of a commit: the caller fills topic .. metadata; the call
 * fills error and message (0 and "" when committed). */
struct elog_offset_commit {
	const char *topic;
	uint32_t partition;
	int64_t offset;                /* the next record to consume */
	int64_t high_watermark;        /* as the consumer last saw it; -1: unknown */
	const char *metadata;          /* NULL: none; at most 1024 bytes */
	int16_t error;
	char message[208];
};
/* A standalone commit (no member) of entries[0..n); entries naming one
 * topic should be next to each other. 0 when every one was committed; -1
 * with err naming the first refused. More than ELOG_COMMIT_PARTITIONS_MAX
 * go in several requests (the broker's bound), in order. */
#define ELOG_COMMIT_PARTITIONS_MAX 10000
int elog_client_commit_offsets(struct elog_client *c, const char *group,
			       struct elog_offset_commit *entries, size_t n, struct elog_err *err);
/* The same by a member of the group (elog_client_group_heartbeat gave its
 * id and epoch): refused with UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH
 * (elog_client_proto_error) once it is no longer the member it was, and
 * per partition for one it does not own. */
int elog_client_commit_member(struct elog_client *c, const char *group, const char *member_id,
			      int32_t epoch, struct elog_offset_commit *entries, size_t n,
			      struct elog_err *err);

/* A partition of a group member's assignment (topic allocated). */
struct elog_group_tp {
	char *topic;
	uint32_t partition;
};
void elog_group_tps_release(struct elog_group_tp *tps, size_t n);

/*
 * One GROUP_HEARTBEAT (docs/groups.md, "Membership"): a join (member_id ""
 * and epoch 0), a heartbeat (the id and epoch the last one gave), or a
 * leave (epoch -1; -2 a static member's leave for a restart). The caller
 * fills the input; the call sets member_id and epoch, the interval to the
 * next heartbeat, and, when assigned is 1, the partitions the member may
 * own now (sorted, replacing what was there: release with
 * elog_group_tps_release). assigned 0: keep what it has. UNKNOWN_MEMBER_ID
 * and FENCED_MEMBER_EPOCH (elog_client_proto_error) mean the member must
 * give up every partition and join again.
 */
struct elog_group_heartbeat {
	const char *group;
	const char *instance_id;       /* static membership; NULL: none */
	const char *client_id;         /* names the member in messages; NULL: none */
	const char *assignor;          /* NULL: the group's (sticky for a new group) */
	uint32_t session_timeout_ms;   /* 1000..300000 */
	const char *const *topics;     /* subscription */
	size_t topic_count;
	const struct elog_group_tp *owned;  /* what it owns, sorted by topic */
	size_t owned_count;
	char member_id[64];
	int32_t epoch;
	uint32_t interval_ms;
	int assigned;
	struct elog_group_tp *assignment;
	size_t assignment_count;
	uint32_t waiting;              /* assigned: partitions of its target others still own */
};
int elog_client_group_heartbeat(struct elog_client *c, struct elog_group_heartbeat *hb,
				struct elog_err *err);

/* DESCRIBE_GROUP: the group's members as its coordinator holds them. */
struct elog_group_member_description {
	char *member_id, *instance_id, *client_id;   /* "" when none */
	int32_t epoch;
	uint32_t session_timeout_ms;
	int64_t last_heartbeat_ms;     /* ms since its last heartbeat; -1 not heard from
	                                  since this coordinator took over */
	struct elog_group_tp *target, *owned;        /* sorted */
	size_t target_count, owned_count;
};
struct elog_group_offset {
	char *topic;
	uint32_t partition;
	int64_t committed;
	int64_t high_watermark;        /* as the coordinator sees it; -1: no replica there */
	int64_t lag;                   /* -1: unknown */
};
struct elog_group_description {
	char *state;                   /* "empty", "assigning", "reconciling", "stable" */
	int32_t epoch;
	char *assignor;
	struct elog_group_member_description *members;
	size_t member_count;
	struct elog_group_offset *offsets;  /* every commit, sorted */
	size_t offset_count;
};
int elog_client_describe_group(struct elog_client *c, const char *group,
			       struct elog_group_description *out, struct elog_err *err);
void elog_group_description_release(struct elog_group_description *d);
/* DELETE_GROUP: a group without members, its commits and record; *deleted
 * the commits that went (0: the group had none). GROUP_NOT_EMPTY while it
 * has members. */
int elog_client_delete_group(struct elog_client *c, const char *group, uint32_t *deleted,
			     struct elog_err *err);

#define ELOG_COMMIT_WINDOW_MAX 15
struct elog_committed {
	char *topic;
	uint32_t partition;
	int64_t offset;                /* -1: nothing committed */
	int64_t commit_time_ms, high_watermark;
	char *metadata;
	uint32_t window_count;         /* the commits before, newest first */
	int64_t window[ELOG_COMMIT_WINDOW_MAX][3]; /* offset, commit_time_ms, high_watermark */
};
struct elog_committed_list {
	size_t count;
	struct elog_committed *items;
};
/* The group's commits of topic's partitions[0..n) (topic NULL: every
 * commit of the group, sorted). Release with elog_committed_release. */
int elog_client_fetch_offsets(struct elog_client *c, const char *group, const char *topic,
			      const uint32_t *partitions, size_t n, struct elog_committed_list *out,
			      struct elog_err *err);
/* The same read by a member of the group (OFFSET_FETCH v2): refused with
 * UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH once it is no longer the member
 * it was (elog_client_proto_error). */
int elog_client_fetch_offsets_member(struct elog_client *c, const char *group,
				     const char *member_id, int32_t epoch, const char *topic,
				     const uint32_t *partitions, size_t n,
				     struct elog_committed_list *out, struct elog_err *err);
void elog_committed_release(struct elog_committed_list *l);
/* Every group with commits, from every broker (each lists those it
 * coordinates), sorted, each once; into *names (release with
 * elog_group_names_release). Fails when a broker cannot be asked: a list
 * missing its groups would look complete. */
int elog_client_list_groups(struct elog_client *c, char ***names, size_t *count,
			    struct elog_err *err);
void elog_group_names_release(char **names, size_t n);

#define ELOG_OFFSET_LATEST (-1)     /* list offsets: the high watermark */
#define ELOG_OFFSET_EARLIEST (-2)   /* list offsets: the log start */

/*
 * For each i < n, offsets[i] = the offset of topic partition partitions[i]
 * for timestamps[i] (ELOG_OFFSET_LATEST, ELOG_OFFSET_EARLIEST, or ms: the
 * first offset whose timestamp >= it; the high watermark when none is).
 * Each query goes to its partition's leader; retriable errors refresh
 * metadata and retry until request_timeout_ms.
 */
int elog_client_list_offsets(struct elog_client *c, const char *topic, const uint32_t *partitions,
			     const int64_t *timestamps, int64_t *offsets, size_t n,
			     struct elog_err *err);

/*
 * One partition of a purge (DELETE_RECORDS): the caller fills in partition
 * and offset; the call fills in the rest.
 */
struct elog_purge_partition {
	uint32_t partition;
	int64_t offset;                /* the new log start; ELOG_OFFSET_LATEST: the high
	                                  watermark (every record there is) */
	int64_t start_before, start;   /* the log start before and after; -1 on error */
	int16_t error;                 /* protocol error code; 0 on success */
	char message[ELOG_ERR_MSG_MAX];/* on error: "purge topic 'x' partition 3: offset 500
	                                  is past the high watermark 120" */
};

/*
 * Purge the records of topic's partitions parts[0..n) below each one's
 * offset: move their log starts up (docs/protocol.md, DELETE_RECORDS). A
 * start already at or past the offset stays; an offset past the high
 * watermark fails that partition (OFFSET_OUT_OF_RANGE), as does an unknown
 * one; the others go on. With dry_run nothing changes, and the answer says
 * what would. Each partition's request goes to its leader; retriable
 * errors refresh metadata and are retried until request_timeout_ms.
 * Returns 0 once every partition has its answer (each with its own error
 * or none), -1 when the call as a whole failed (no broker, no such topic).
 * The records of a partition whose call failed midway may or may not be
 * purged: a purge is idempotent, run it again.
 */
int elog_admin_delete_records(struct elog_client *c, const char *topic,
			      struct elog_purge_partition *parts, size_t n, int dry_run,
			      struct elog_err *err);

/*
 * The offset each partition's start moves to for a purge --before POSITION
 * (elog_pos_parse): an offset as given (earliest: 0, which moves nothing),
 * "end" as the broker's high watermark (ELOG_OFFSET_LATEST, decided when
 * the broker purges), -N and @TIME resolved now with LIST_OFFSETS: the high
 * watermark less N (not below 0), the first record at or after TIME. Fills
 * parts[i].offset for each parts[i].partition.
 */
struct elog_pos;
int elog_purge_resolve(struct elog_client *c, const char *topic, const struct elog_pos *before,
		       struct elog_purge_partition *parts, size_t n, struct elog_err *err);

/* ------------------------------------------------------------ producer */

/*
 * The producer owns, per partition, one open batch (an elog_batch_builder
 * that records are encoded into as they are sent) and a queue of closed
 * batches waiting for, or in, a produce request. A batch closes when it
 * reaches batch_bytes, when linger_ms has passed since its first record, or
 * on flush. Closed batches of all partitions led by one broker are sent
 * together in one PRODUCE request (up to request_bytes), with up to
 * max_in_flight requests pipelined per connection.
 *
 * Ordering: per partition, batches are sent and acknowledged in order. With
 * idempotence (default; needs acks != 0) every batch carries the producer
 * id, epoch and its per-partition base sequence; at most 5 batches per
 * partition are in flight (the broker remembers the last 5), and a resend
 * after a retriable error or reconnect reuses the same sequence numbers, so
 * the broker answers a duplicate with the original offset: retries never
 * duplicate or reorder. Without idempotence retries may duplicate, and
 * ordering holds only with max_in_flight 1.
 *
 * Retries: NOT_LEADER, LEADER_UNKNOWN, TIMEOUT, SHUTTING_DOWN,
 * RESOURCE_LIMIT and connection loss put the partition's unacknowledged
 * batches back in its queue (in order) after a metadata refresh / reconnect
 * and an exponential backoff, until delivery_timeout_ms after the batch was
 * closed; then they fail. Other errors fail the batch at once with the
 * broker's message.
 *
 * Leader changes: batches go to each partition's leader from the client's
 * metadata, one connection per broker id, opened without blocking. No
 * batch goes to a new leader while earlier batches of its partition are
 * in flight to the old one. With idempotence, a metadata refresh that
 * moves a partition with batches in flight drops the old leader's
 * connection (as if lost): they are resent in order, same sequences, and
 * a stopped or cut-off old leader is not waited for.
 *
 * Partitioning: partition >= 0 is used as is (UNKNOWN_PARTITION if the topic
 * lacks it); -1 with a key: elog_partition_for_key (Kafka-compatible
 * murmur2); -1 without a key: the partition of the last keyless record until
 * its batch closes, then the next partition (round robin), so keyless records
 * fill whole batches.
 *
 * Unknown topics: elog_producer_new asks for the topic's metadata with
 * allow_auto_create (METADATA v2): the broker creates a missing topic with
 * its defaults when its auto_create_topics allows, and the producer learns
 * the partitions before the first record (so keys are placed right from
 * the first one). When the broker does not create it, elog_producer_new
 * fails (ELOG_E_INVAL, "produce to 'x': no such topic, and the broker does
 * not create topics ..."). That first look-up is the only one that may
 * create: produce requests (PRODUCE v2) and later metadata refreshes never
 * do, so a topic deleted while the producer runs stays deleted. Its batches
 * then fail with UNKNOWN_TOPIC, which is final: they are reported failed
 * through on_delivery, and every later send fails with "produce to 'x': no
 * such topic".
 *
 * Idempotence and failures: a batch that fails for good (a final error, or
 * its delivery timeout) leaves a hole in its partition's sequence; the
 * producer then waits for that partition's other requests to return, gets
 * a new producer id (INIT_PRODUCER) and renumbers the partition's
 * remaining batches from 0 under it before sending on. UNKNOWN_PRODUCER
 * (the broker lost the producer's state) is handled the same way, as a
 * retry. OUT_OF_ORDER_SEQUENCE for a batch behind an unacknowledged one is
 * the expected echo of that one's retry, and is retried too.
 *
 * Backpressure: send blocks (driving I/O) while the records queued and in
 * flight exceed buffer_bytes, at most until the oldest batch's delivery
 * timeout fails it. Sending never allocates per record: builders, tag
 * arrays and batch buffers are reused; time is read from the coarse clock.
 * I/O runs from inside send when a batch closes and about once per
 * millisecond otherwise, so a steady sender needs no poll calls; a caller
 * that may sit idle (waiting on stdin) should poll its fds with
 * elog_producer_pollfds / elog_producer_timeout_ms and call
 * elog_producer_poll, or linger-closed batches wait for the next send.
 *
 * Reports: on_delivery is called once per batch, from inside send / poll /
 * flush, with the tags of its records in send order. It must not call back
 * into the producer.
 */

#define ELOG_PRODUCER_PARTITION_IN_FLIGHT_MAX 5
#define ELOG_TIMESTAMP_NOW INT64_MIN   /* record timestamp_ms: the producer fills in now */

struct elog_delivery {
	const char *topic;
	uint32_t partition;
	int64_t base_offset;           /* offset of the first record; -1 when failed or acks=0 */
	uint32_t record_count;
	const uint64_t *tags;          /* record_count tags in send order */
	int error;                     /* 0: delivered; > 0: refused for good, the
	                                  protocol error code; -1: not delivered, outcome unknown
	                                  (delivery timeout or retries used up on a
	                                  retriable error, connection, limits) */
	const char *message;           /* "" on success, else one line naming topic/partition */
};

struct elog_producer_config {
	int acks;                      /* 0, 1 or -1 (all); default -1 */
	uint32_t linger_ms;            /* default 5 */
	uint32_t batch_bytes;          /* close a batch at this many record bytes; default 256 KiB,
	                                  at most ELOG_BATCH_SIZE_MAX */
	uint32_t request_bytes;        /* most batch bytes in one request; default 4 MiB */
	enum elog_compression compression;  /* default none */
	uint32_t max_in_flight;        /* produce requests in flight per connection; default 5 */
	uint32_t retries;              /* attempts after the first; default UINT32_MAX (the
	                                  delivery timeout decides) */
	uint32_t retry_backoff_ms;     /* default 50 */
	uint32_t retry_backoff_max_ms; /* default 1000 */
	uint32_t request_timeout_ms;   /* wait for one response (and the broker's acks=all
	                                  timeout); default 30000 */
	uint32_t delivery_timeout_ms;  /* a closed batch is acknowledged or failed within
	                                  this; default 120000 */
	uint64_t buffer_bytes;         /* queued + in flight before send blocks; default 64 MiB */
	int idempotence;               /* default 1; ignored (off) with acks 0 */
	void (*on_delivery)(void *ctx, const struct elog_delivery *d);  /* may be NULL */
	void *ctx;
};

struct elog_producer_stats {
	uint64_t records_sent;         /* accepted by elog_producer_send */
	uint64_t records_delivered;    /* acknowledged (acks 0: written to the socket) */
	uint64_t records_failed;
	uint64_t batches_delivered, batches_failed, requests, retries;
	uint64_t bytes_delivered;      /* batch bytes */
	uint64_t first_failed_tag;     /* smallest tag of a failed record (e.g. the first
	                                  failed line), valid when records_failed > 0 */
	char first_error[ELOG_ERR_MSG_MAX];  /* message of the first failure */
};

struct elog_producer;

void elog_producer_config_init(struct elog_producer_config *cfg);
/* Checks the topic name, fetches metadata, and with idempotence gets a
 * producer id (INIT_PRODUCER). Fails when no broker answers. */
struct elog_producer *elog_producer_new(struct elog_client *c, const char *topic,
					const struct elog_producer_config *cfg,
					struct elog_err *err);
/*
 * Queue one record (copied into a batch; the caller's buffers are free on
 * return). partition -1: choose as described above. tag is returned in the
 * record's delivery report. Fails (record not queued) on an invalid record,
 * a record larger than batch_bytes allows, an out-of-range partition, a
 * blocked backpressure wait that timed out, or after a final error of the
 * topic (UNKNOWN_TOPIC, PRODUCER_FENCED).
 */
int elog_producer_send(struct elog_producer *p, const struct elog_record *rec, int32_t partition,
		       uint64_t tag, struct elog_err *err);
/* Drive I/O and timers for up to timeout_ms (0: only what is ready now);
 * returns early after something was reported. -1 only on a final error
 * once nothing is left to report (or on a local failure such as poll()). */
int elog_producer_poll(struct elog_producer *p, int timeout_ms, struct elog_err *err);
/* Milliseconds until the producer has timed work (linger, backoff,
 * deadlines): the timeout to use when polling other fds; -1: none. */
int elog_producer_timeout_ms(const struct elog_producer *p);
/* Its sockets, for a caller's own poll(); returns how many were written
 * (<= max). Call elog_producer_poll(p, 0, ...) when any is ready. */
size_t elog_producer_pollfds(const struct elog_producer *p, struct pollfd *fds, size_t max);
/* Close open batches and drive I/O until every record sent so far is
 * reported (0), or timeout_ms passes (-1, ELOG_E_IO "flush timed out with N
 * records undelivered"). Records that failed are counted in the stats. */
int elog_producer_flush(struct elog_producer *p, int timeout_ms, struct elog_err *err);
void elog_producer_stats(const struct elog_producer *p, struct elog_producer_stats *st);
/* Partitions of the topic as currently known (0 before an unknown topic exists). */
uint32_t elog_producer_partition_count(const struct elog_producer *p);
/* Free everything; records not yet reported are dropped without reports. */
void elog_producer_free(struct elog_producer *p);

/* ------------------------------------------------------------ fetcher */

/*
 * A position in a partition, as users write it (elog_pos_parse):
 *   "earliest" / "beginning"    the log start
 *   "latest" / "end"            the high watermark (only new records)
 *   "123"                       absolute offset
 *   "-N"                        N records before the high watermark
 *   "@<timestamp>"              first record at/after an RFC 3339 time or epoch ms
 */
enum elog_pos_kind {
	ELOG_POS_EARLIEST,
	ELOG_POS_LATEST,
	ELOG_POS_OFFSET,
	ELOG_POS_FROM_END,             /* value = N >= 0 */
	ELOG_POS_TIMESTAMP,            /* value = ms since the epoch */
};

struct elog_pos {
	enum elog_pos_kind kind;
	int64_t value;
};

int elog_pos_parse(const char *s, struct elog_pos *pos, struct elog_err *err);

/* What a log from log_start up to end (exclusive: the next offset) holds,
 * for messages: "the log holds offsets 0 to 9; its next offset is 10",
 * "the log holds no records; its next offset is 0". */
void elog_offset_range_text(int64_t log_start, int64_t end, char *out, size_t cap);

/*
 * The fetcher owns one connection per partition leader and keeps one FETCH
 * in flight on each: as soon as a response arrives, the next fetch for its
 * partitions is sent (from the offset after the last batch received), and
 * only then are the received records handed out, so the network works while
 * the caller writes records out.
 *
 * Per partition it keeps a position (the next offset to hand out) and
 * optionally an end offset (exclusive). Records below the position (a
 * fetched batch may start before it) are skipped; records at or past the
 * end are not handed out and the partition stops being fetched. Each batch
 * is validated whole (elog_batch_validate, through elog_batch_reader)
 * before any of its records is handed out, and offsets must continue: the
 * first batch of a response holds the offset asked for, every next batch
 * starts where the one before it ended. A batch that fails either check is
 * a final ELOG_E_CORRUPT error naming topic, partition and offset; records
 * are never handed out under a wrong offset nor skipped.
 *
 * Start positions: an absolute offset a partition does not hold starts at
 * the nearest one it does (its end when past it, its log start when before
 * it), as kcat's reset policy does per partition; elog_fetcher_partition()
 * tells where each partition started, what was asked, and its log start and
 * end at that moment, so a caller can warn or refuse.
 *
 * Errors: NOT_LEADER / LEADER_UNKNOWN / SHUTTING_DOWN / TIMEOUT /
 * RESOURCE_LIMIT and connection loss refresh metadata, reconnect and retry
 * with backoff; once a partition has had no answer for retry_timeout_ms the
 * error becomes final ("no answer for N ms: <why>"), never with
 * ELOG_FETCHER_RETRY_FOREVER (a follower that waits out a broker restart).
 * elog_fetcher_unreachable() says meanwhile whether a broker is lost and
 * why. OFFSET_OUT_OF_RANGE is final (ELOG_E_RANGE) unless out_of_range says
 * otherwise, and names the valid range. UNKNOWN_TOPIC / UNKNOWN_PARTITION,
 * invalid batches and malformed responses are final.
 *
 * Caught up: with report_caught_up, elog_fetcher_next also reports, once
 * per partition, that it has been read up to its end as of elog_fetcher_add
 * (the high watermark then): ELOG_FETCHER_CAUGHT_UP with out->record NULL
 * and out->high_watermark that end. The report comes right after the record
 * that reaches the end, at once for a partition that starts at its end
 * (empty, or "latest"), and always before any record at or past that end
 * (records produced later), so a caller can say "what follows is new".
 *
 * elog_fetcher_next returns one record at a time; the record view points
 * into the fetcher's buffers and stays valid until the next call. Partitions
 * are served in turn, one response's worth at a time, in offset order within
 * each partition.
 */

enum elog_out_of_range {
	ELOG_OUT_OF_RANGE_FAIL,        /* default */
	ELOG_OUT_OF_RANGE_EARLIEST,    /* restart at the log start */
	ELOG_OUT_OF_RANGE_LATEST,      /* restart at the high watermark */
};

struct elog_fetcher_config {
	uint32_t max_wait_ms;          /* long-poll; default 500 */
	uint32_t min_bytes;            /* default 1 */
	uint32_t max_bytes;            /* per response; default 16 MiB */
	uint32_t partition_max_bytes;  /* per partition per response; default 4 MiB */
	uint32_t retry_backoff_ms;     /* default 50 */
	uint32_t retry_backoff_max_ms; /* default 1000 */
	uint32_t retry_timeout_ms;     /* give up after no answer this long; default 60000;
	                                  ELOG_FETCHER_RETRY_FOREVER: never */
	enum elog_out_of_range out_of_range;
	int report_caught_up;          /* ELOG_FETCHER_CAUGHT_UP reports; default 0 */
};

#define ELOG_FETCHER_RETRY_FOREVER UINT32_MAX
/* elog_fetcher_next: a partition reached its end as of its start (record NULL). */
#define ELOG_FETCHER_CAUGHT_UP 2

/* A partition as it was added: where it started and the log at that moment. */
struct elog_fetch_partition {
	const char *topic;
	uint32_t id;
	int64_t start;                 /* where it started */
	int64_t asked;                 /* the absolute offset asked for (start otherwise);
	                                  != start when the partition did not hold it */
	int64_t log_start, end;        /* its log start and end (high watermark) then */
};

struct elog_fetched {
	const char *topic;
	uint32_t partition;
	int64_t high_watermark;        /* as of the response that carried the record */
	const struct elog_record_view *record;
};

struct elog_fetcher;

void elog_fetcher_config_init(struct elog_fetcher_config *cfg);
struct elog_fetcher *elog_fetcher_new(struct elog_client *c, const struct elog_fetcher_config *cfg,
				      struct elog_err *err);
/*
 * Add topic partition (-1: every partition of the topic, from metadata),
 * starting at start and, when end is not NULL, ending before end (resolved
 * now: "latest" means the high watermark at this call, so a non-following
 * read stops there). Resolves positions with LIST_OFFSETS; "-N" is clamped
 * at the log start, an absolute offset to the log (see above). Fails for an
 * unknown topic or partition, or a partition already added; nothing is
 * added then, so a failure to reach the broker can be retried.
 */
int elog_fetcher_add(struct elog_fetcher *f, const char *topic, int32_t partition,
		     const struct elog_pos *start, const struct elog_pos *end,
		     struct elog_err *err);
/* Move a partition's position (drops what was fetched beyond it). */
int elog_fetcher_seek(struct elog_fetcher *f, const char *topic, uint32_t partition,
		      int64_t offset, struct elog_err *err);
/* Stop fetching a partition. */
int elog_fetcher_remove(struct elog_fetcher *f, const char *topic, uint32_t partition,
			struct elog_err *err);
/*
 * The next record: 1 (out filled), 0 when timeout_ms passed without one or
 * every partition reached its end (see elog_fetcher_done), -1 on a final
 * error, ELOG_FETCHER_CAUGHT_UP (only with report_caught_up) for a
 * partition caught up. timeout_ms -1 waits without a bound (a following
 * consumer); 0 does what is ready without waiting (sends fetches, reads
 * answers), for a caller that polls elog_fetcher_pollfds with its own.
 */
int elog_fetcher_next(struct elog_fetcher *f, struct elog_fetched *out, int timeout_ms,
		      struct elog_err *err);
/* Every partition has an end and has reached it. */
int elog_fetcher_done(const struct elog_fetcher *f);
/* The partitions added, in order (0 <= i < count); NULL past the end. */
size_t elog_fetcher_partition_count(const struct elog_fetcher *f);
const struct elog_fetch_partition *elog_fetcher_partition(const struct elog_fetcher *f, size_t i);
/* Brokers that cannot be reached right now (a connection lost or refused,
 * no answer since), with the latest reason in why; 0 once each answers. */
int elog_fetcher_unreachable(const struct elog_fetcher *f, struct elog_err *why);
/* Next offset to hand out, and the last high watermark seen (-1 before the
 * first response); -1 for a partition not in the fetcher. */
int64_t elog_fetcher_position(const struct elog_fetcher *f, const char *topic, uint32_t partition);
int64_t elog_fetcher_high_watermark(const struct elog_fetcher *f, const char *topic,
				    uint32_t partition);
size_t elog_fetcher_pollfds(const struct elog_fetcher *f, struct pollfd *fds, size_t max);
void elog_fetcher_free(struct elog_fetcher *f);

#endif
