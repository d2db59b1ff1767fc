/*
 * client_int — what the client's .c files (client_conn, client, client_producer,
 * client_fetcher) share, and what the unit tests reach into. Not for tools:
 * everything here may change.
 */
#ifndef ELOG_CLIENT_INT_H
#define ELOG_CLIENT_INT_H

#include "client.h"

/* ------------------------------------------------------------ helpers */

/* Coarse monotonic ms (a few ns, ~4 ms resolution) for hot-path timers. */
int64_t elog_client_coarse_ms(void);
/* Cheap non-cryptographic randomness for backoff jitter. */
uint32_t elog_client_random(void);
/*
 * When a producer or fetcher with requests in flight asks metadata whether
 * the leader holding the oldest one moved: stall_ms after that request was
 * due (oldest_ms, INT64_MAX: none in flight -> INT64_MAX), and never sooner
 * than max(stall_ms, backoff_max_ms) after the last refresh (metadata_at_ms),
 * so a leader that stays silent costs one refresh per interval, not a loop.
 */
int64_t elog_client_stall_check_at(int64_t oldest_ms, int64_t stall_ms, int64_t metadata_at_ms,
				   int64_t backoff_max_ms);
/* strerror, first letter lowercased ("connection refused"). */
void elog_client_strerror(char *out, size_t cap, int errnum);
/* "<fmt>: <lowercase strerror>" */
int elog_client_err_errno(struct elog_err *err, enum elog_errcode code, int errnum,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The elog_errcode a protocol error maps to (see client.h). */
enum elog_errcode elog_client_errcode(int proto_error);
/* "<what>: <broker message, or the code's text>" with the mapped code. */
int elog_client_err_proto(struct elog_err *err, int proto_error, const char *msg, size_t msg_len,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------ client */

#define ELOG_CLIENT_CONNS_MAX (2 * ELOG_BROKERS_MAX)

struct elog_client_conn {
	struct elog_broker_addr addr;
	struct elog_conn conn;
	int64_t retry_at_ms;          /* a connect failed: tried last until then */
	uint32_t failures;            /* connects failed in a row */
};

struct elog_client {
	struct elog_client_config config;
	char *brokers_text;
	struct elog_broker_addr bootstrap[ELOG_BROKERS_MAX];
	size_t bootstrap_count;
	struct elog_metadata md;       /* the cache */
	struct elog_client_conn *conns[ELOG_CLIENT_CONNS_MAX];
	size_t conn_count;
	struct elog_response resp;     /* reused by synchronous calls */
	int last_proto_error;
	int admin_in_doubt;          /* the last admin_call sent an attempt that may have
	                                taken effect unanswered (lost, timed out, moved) */
	struct elog_broker_addr last_good;  /* the broker that last answered METADATA */
	int has_last_good;
	/* client_group.c: the coordinator of coord_group, when has_coord */
	char coord_group[256];
	struct elog_broker_addr coord;
	int has_coord;
};

/* INIT_PRODUCER: a fresh producer id and epoch (controller, retried like admin calls). */
int elog_client_init_producer(struct elog_client *c, int64_t *producer_id, int16_t *epoch,
			      struct elog_err *err);

struct elog_conn_config;
void elog_client_conn_config(const struct elog_client *c, struct elog_conn_config *cfg);

/* The address of broker id from the cache; NULL if unknown. */
const struct elog_meta_broker *elog_client_broker(const struct elog_client *c, int32_t id);

/*
 * One synchronous request/response to the broker at addr (connecting when
 * needed): encode writes the body. On success resp holds the response and
 * its reader is positioned after error_code/error_message, which are
 * returned in *code, *msg, *msg_len (the top-level error is the caller's to
 * judge). -1 on connection failure or timeout.
 */
typedef void elog_client_encode_fn(struct elog_wire_w *w, const void *arg);
int elog_client_call_addr(struct elog_client *c, const struct elog_broker_addr *addr, uint16_t api,
			  elog_client_encode_fn *encode, const void *arg, struct elog_wire_r *r,
			  int16_t *code, const char **msg, size_t *msg_len, struct elog_err *err);

/* ------------------------------------------------------------ codec */

/* METADATA response body (after error_code, message) into md (allocated). */
int elog_metadata_decode(struct elog_wire_r *r, struct elog_metadata *md, struct elog_err *err);
/* DESCRIBE_TOPICS response body (after error_code, message). */
int elog_describe_decode(struct elog_wire_r *r, uint16_t version, struct elog_topic_descriptions *out,
			 struct elog_err *err);

/* Request bodies. */
struct elog_metadata_request {
	const char *const *topics;
	size_t count;
	int allow_auto_create;         /* version 2: create the named missing topics */
};
void elog_encode_metadata(struct elog_wire_w *w, const void *arg);

struct elog_list_offsets_request {
	const char *topic;
	const uint32_t *partitions;
	const int64_t *timestamps;
	const size_t *index;           /* the queries of this request: index[0..count) */
	size_t count;
};
void elog_encode_list_offsets(struct elog_wire_w *w, const void *arg);

/* One partition's part of a FETCH request. */
struct elog_fetch_request_part {
	const char *topic;             /* consecutive parts of one topic are grouped */
	uint32_t partition;
	int64_t offset;
	uint32_t max_bytes;
};
void elog_encode_fetch(struct elog_wire_w *w, uint32_t max_wait_ms, uint32_t min_bytes,
		       uint32_t max_bytes, const struct elog_fetch_request_part *parts, size_t n);

/* One partition's result in a FETCH response (spans into the frame). */
struct elog_fetch_result {
	const char *topic;
	size_t topic_len;
	uint32_t partition;
	int16_t error;
	const char *message;
	size_t message_len;
	int64_t high_watermark, log_start_offset;
	const uint8_t *batches;
	size_t batches_len;
};
/*
 * Walk a FETCH response body (after error_code, message): calls fn for each
 * partition result; fn returning -1 stops the walk with its err.
 */
typedef int elog_fetch_result_fn(void *ctx, const struct elog_fetch_result *res,
				 struct elog_err *err);
int elog_fetch_response_walk(struct elog_wire_r *r, elog_fetch_result_fn *fn, void *ctx,
			     struct elog_err *err);

/* One partition's result in a PRODUCE response. */
struct elog_produce_result {
	const char *topic;
	size_t topic_len;
	uint32_t partition;
	int16_t error;
	const char *message;
	size_t message_len;
	int64_t base_offset, log_start_offset;
};
typedef int elog_produce_result_fn(void *ctx, const struct elog_produce_result *res,
				   struct elog_err *err);
int elog_produce_response_walk(struct elog_wire_r *r, elog_produce_result_fn *fn, void *ctx,
			       struct elog_err *err);

/*
 * Rewrite an idempotent batch's producer id, epoch and base sequence and
 * recompute its CRC (a resend under a new producer id after a sequence
 * reset). buf holds the whole batch.
 */
void elog_batch_set_producer(uint8_t *buf, size_t len, int64_t producer_id, int16_t epoch,
			     int32_t base_sequence);

/* ------------------------------------------------------------ producer internals */

/* Would a producer with this config close an open batch now? (for tests) */
int elog_producer_should_close(const struct elog_producer_config *cfg, size_t batch_bytes,
			       uint32_t record_count, int64_t open_since_ms, int64_t now_ms);

#endif
