/*
 * broker — elog-serve's engine: the TCP protocol of docs/protocol.md over
 * a store (store.h), on one event-loop thread (loop.h) plus the flusher
 * thread (flusher.h).
 *
 * Threads. Everything — accepting, reading and parsing frames, appending,
 * answering, retention — runs on the loop thread. The flusher thread only
 * fsyncs flush=interval logs and, after each round, wakes the loop, which
 * then answers the acks=all produces whose offsets the round made durable.
 * No thread per connection, no locks in the broker itself.
 *
 * Waits. Two kinds of request are parked instead of answered at once,
 * each with a timer in the loop:
 *   - a fetch whose partitions hold fewer than min_bytes: re-checked in
 *     the loop's before-sleep hook after any append, answered as soon as
 *     enough data is there or when max_wait_ms passes;
 *   - a produce with acks=all on a flush=interval topic: answered when
 *     every partition's flushed offset passed its batches (the flusher is
 *     kicked, so that is about one fsync later), or with TIMEOUT for the
 *     ones that did not make it within timeout_ms. An ack never goes out
 *     ahead of the fsync.
 * At most max_waiting_requests are parked broker-wide (RESOURCE_LIMIT
 * past it) and max_inflight_per_connection per connection (the broker
 * stops reading that connection until one is answered).
 *
 * Bounds. A frame may be at most max_frame_bytes (checked before anything
 * is allocated for it); its read buffer grows as its bytes arrive. All
 * connections together hold at most max_buffered_bytes for requests and
 * answers beyond a free share each (broker_int.h, "Memory"); past it a
 * connection that needs more is not read until memory comes back. FETCH
 * answers stream from the segment files, checked batch by batch, instead
 * of being built in memory. When the unsent responses of a connection
 * exceed connection_buffer_bytes the broker stops reading from it (and so
 * stops answering it) until the client reads. A frame must arrive within
 * request_timeout_ms of its first byte; a connection with no progress in
 * either direction for idle_timeout_ms is closed, unless it only waits for
 * a parked request. At max_connections a new connection makes room by
 * closing the one idle the longest (or whose frame is slowest); when none
 * qualifies the listener is paused. A request naming a partition or topic
 * twice, or more than exist, is refused before any work is done, and no
 * answer exceeds max_frame_bytes. docs/operations.md, "Limits", is the
 * operator's account of all this.
 *
 * Malformed input closes only the connection it came on: an oversized or
 * too short frame header, or a body that does not parse, is answered with
 * FRAME_TOO_LARGE / INVALID_REQUEST and the connection is closed after the
 * answer is written. Unknown apis and versions are answered and the
 * connection stays open.
 *
 * Shutdown (SIGTERM, SIGINT): stop accepting and reading, answer parked
 * fetches now, fsync and answer pending acks=all produces, write out every
 * answer (bounded by shutdown_timeout_ms), close the store (every log
 * flushed), return 0. SIGHUP: log it (the log is stderr: nothing to reopen).
 *
 * Calling sequence (cmd/elog-serve.c):
 *   elog_broker_config_default(&c); elog_broker_config_load(&c, file, err) ...
 *   block the signals in `signals` in every thread (before _open starts the flusher)
 *   elog_broker_open(&c, &logger, &b, err)    lock, recover, bind
 *   elog_broker_run(b, &signals, err)         logs "ready", serves until a signal
 *   elog_broker_close(b)
 */
#ifndef ELOG_BROKER_H
#define ELOG_BROKER_H

#include <signal.h>
#include <stdint.h>

#include "cluster.h"
#include "err.h"
#include "logfmt.h"
#include "store.h"

#define ELOG_BROKER_HOST_MAX 255
#define ELOG_BROKER_DIR_DEFAULT "./elog-data"
#define ELOG_BROKER_LISTEN_DEFAULT "127.0.0.1:7411"

struct elog_broker_config {
	char data_dir[4096];
	char listen_host[ELOG_BROKER_HOST_MAX + 1];
	uint16_t listen_port;                   /* 0: any free port */
	char advertise_host[ELOG_BROKER_HOST_MAX + 1]; /* "": the listen host */
	char cluster_secret_file[1024];         /* "": RAFT traffic not authenticated */
	int32_t broker_id;
	uint32_t max_frame_bytes;
	uint64_t connection_buffer_bytes;
	uint64_t max_buffered_bytes;            /* requests and answers, broker-wide */
	uint32_t max_connections;
	int64_t idle_timeout_ms;
	int64_t request_timeout_ms;             /* a frame's first byte to its last */
	uint32_t max_inflight_per_connection;
	uint32_t max_waiting_requests;
	int64_t max_wait_ms;                    /* cap on a fetch's max_wait_ms */
	int64_t produce_timeout_max_ms;         /* cap on a produce's timeout_ms */
	int64_t retention_check_interval_ms;
	int64_t compaction_interval_ms;         /* how often compaction looks for work */
	uint64_t compaction_map_bytes;          /* its offset map (compact.h): keys per pass */
	int64_t shutdown_timeout_ms;
	int auto_create_topics;
	struct elog_cluster_config cluster;     /* count 0: a broker alone, no Raft */
	uint32_t default_replication_factor;    /* 0: min(3, brokers) */
	uint32_t groups_partitions;             /* __groups, when it is created (docs/groups.md) */
	int64_t raft_tick_ms;                   /* the Raft clock (docs/raft.md, Ticks) */
	uint32_t raft_election_ticks;           /* election timeout in ticks: [T, 2T) */
	int64_t leader_balance_interval_ms;     /* 0: leaders stay where elections put them */
	uint32_t raft_heartbeat_ticks;
	struct elog_store_options store;        /* topic defaults and limits */
};

void elog_broker_config_default(struct elog_broker_config *c);
/* One key = value. Broker keys are snake_case (docs/operations.md); topic
 * defaults are "default.<topic key>" (default.retention.ms = 7d) and
 * default.partitions. ELOG_E_INVAL naming the key on a bad key or value. */
int elog_broker_config_set(struct elog_broker_config *c, const char *key, const char *value,
			   struct elog_err *err);
/* "HOST:PORT" (IPv4 address or name; "[v6]:PORT"). */
int elog_broker_config_listen(struct elog_broker_config *c, const char *hostport,
			      struct elog_err *err);
/* Read a config file: "key = value" lines, blank lines and # comments.
 * Errors name "file:line: ...". Rules between keys are checked too. */
int elog_broker_config_load(struct elog_broker_config *c, const char *path, struct elog_err *err);
/* Cross-key rules (called by _load and _open). */
int elog_broker_config_check(const struct elog_broker_config *c, struct elog_err *err);
/* The cluster list against broker_id and the listen port (cluster.h), and
 * the Raft keys between them; called by _open, and by elog-serve once the
 * options are applied (the file and the command line may each give part). */
int elog_broker_config_check_cluster(const struct elog_broker_config *c, struct elog_err *err);

struct elog_broker;

int elog_broker_open(const struct elog_broker_config *c, const struct elog_logger *log,
		     struct elog_broker **out, struct elog_err *err);
/* "host:port" actually bound (the real port when 0 was asked for). */
const char *elog_broker_address(const struct elog_broker *b);
int elog_broker_run(struct elog_broker *b, const sigset_t *signals, struct elog_err *err);
void elog_broker_close(struct elog_broker *b);

#endif
