/*
 * store — the broker's data directory: its lock, the metadata log, and the
 * topics and partitions it holds.
 *
 * Layout (docs/operations.md):
 *   DIR/.lock                 flock()ed by the broker that owns DIR; holds its pid
 *   DIR/__meta/0/             the metadata log: a partition log like any other
 *   DIR/<topic>/<partition>/  a partition log (docs/format.md)
 *   DIR/.trash/               deleted topics on their way out
 *
 * The metadata log (everything is a log) holds one record per change, in
 * one batch each, appended with flush=always, so a change is durable
 * before it is acknowledged or acted on:
 *
 *   key "<topic>"  value {"op":"create","partitions":N,"config":{"flush":"1s",...}}
 *   key "<topic>"  value {"op":"alter","partitions":N,"config":{...}}
 *   key "<topic>"  value {"op":"delete"}
 *   key null       value {"op":"producer_ids","limit":N}
 *
 * "config" holds every topic key with its effective value at that time
 * (not just overrides), so changing the broker's defaults later does not
 * change existing topics. elog_store_open replays the log from its start;
 * an op that does not apply (create of an existing topic, a config key this
 * build does not know) makes open fail rather than guess (in a cluster,
 * where the log is what a majority committed, elog_store_meta_load skips
 * it with a warning as the live apply does), and so does any
 * damage in the metadata log (a torn tail after a crash is cut: that record
 * was never acted on). With options.salvage_metadata open instead keeps the
 * damaged log beside a new one rebuilt from its intact records and the
 * topic directories on disk (docs/operations.md, "Damaged metadata log").
 *
 * Producer ids are handed out from blocks: the store records "limit" (the
 * first id it may not hand out) before handing out ids below it, so ids
 * are never reused, even after a crash (the ids between the last one
 * handed out and the limit are skipped).
 *
 * Order of effects, for crash safety:
 *   create: record, then directories (a crash in between: open creates
 *           the missing partition directories);
 *   delete: record, then rename DIR/<topic> to DIR/.trash/<topic>.<n>, then
 *           remove it (a crash in between: open removes what is in .trash,
 *           and moves there the directory of a topic whose last record is
 *           its delete). A topic directory the metadata log does not account
 *           for that way (never named, or its log was cut at this open) is
 *           left alone with a warning, and a create of that name refused:
 *           data is never removed because metadata went missing.
 *
 * Topic names starting with '.' are refused here (INVALID_TOPIC) although
 * docs/protocol.md allows them: they would collide with DIR/.lock and
 * DIR/.trash.
 *
 * Threads: everything runs on the owner (the broker's loop thread); the
 * flusher given in the options gets every flush=interval and flush=always
 * partition registered and unregistered as topics come and go, is told of
 * every write (elog_flusher_dirty, from the partlog's `written` callback),
 * and syncs flush=always partitions too (their logs open with
 * sync_deferred): the owner learns what became durable from
 * elog_flusher_moved, whose `owner` is the struct elog_partition (the Raft
 * driver drains it after every round). Without a
 * flusher, flush=always logs sync on every append, and flush=interval ones
 * only at close.
 *
 * Bounds: topics_max topics, partitions_max partitions in all (default
 * ELOG_STORE_PARTITIONS_MAX_DEFAULT, at most ELOG_STORE_PARTITIONS_LIMIT),
 * topic_partitions_max per topic.
 *
 * A full disk (docs/operations.md, "A full disk"). The store measures the
 * free space of DIR's filesystem with statvfs (f_bavail: what a writer
 * that is not root may use), keeps the figure, and subtracts what produce
 * reserves after it, so a produce costs no system call. It turns "low"
 * when that estimate is below min_free_bytes (measured again at the
 * crossing, to be sure), or when a write found no room whatever the
 * estimate; it is ok again once a measurement finds min_free_bytes plus a
 * margin (ELOG_STORE_SPACE_MARGIN), so a disk at the line does not flap
 * (after a write found no room with more than that free, as with inodes,
 * quotas or a file size limit: once the free space grew by the margin).
 * Each change of state is one log line at level=warn. Only produce asks
 * (elog_store_space_reserve): metadata records, topic creation, deletes
 * and retention are not refused for the reserve; they fail only at a real
 * ENOSPC, which the reserve keeps away, and the metadata log keeps
 * ELOG_STORE_META_PREALLOCATE bytes allocated past its end, so that even
 * then a delete, which frees room, can be recorded.
 *
 * Failures: a partition whose log failed (partlog.h: an fsync error, a
 * write error other than a full disk) is logged once, at level=error,
 * when the owner reports or looks for it (elog_store_partition_check,
 * elog_store_failures_log); so is the metadata log.
 */
#ifndef ELOG_STORE_H
#define ELOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "flusher.h"
#include "logfmt.h"
#include "partlog.h"
#include "proto.h"
#include "pstate.h"

#define ELOG_STORE_META_DIR "__meta"
#define ELOG_STORE_LOCK_NAME ".lock"
#define ELOG_STORE_TRASH_NAME ".trash"
/* In a cluster: directories a create found in its way, kept for the operator. */
#define ELOG_STORE_KEPT_NAME ".kept"
#define ELOG_STORE_PRODUCER_ID_BLOCK 1000
#define ELOG_STORE_META_RECORD_MAX (64u << 10)
/* The metadata log's own reserve: allocated past its end (fallocate). */
#define ELOG_STORE_META_PREALLOCATE (1u << 20)
/* 1 GiB: room for a few max_frame_bytes requests, index files of rolls and
 * the operator's own tools, and about 1% of a 100 GiB data disk. */
#define ELOG_STORE_MIN_FREE_DEFAULT (1ull << 30)
/* Partition logs per broker: the default bound, and the most it may be set to. */
#define ELOG_STORE_PARTITIONS_MAX_DEFAULT 100000u
#define ELOG_STORE_PARTITIONS_LIMIT 1000000u
/* Free space must pass min_free_bytes by this much to leave the low state. */
#define ELOG_STORE_SPACE_MARGIN(min_free) ((min_free) / 8 > (1u << 20) ? (min_free) / 8 : (1u << 20))

/* ------------------------------------------------------------ topic config */

/* cleanup.policy, as bits: delete (retention by time and size applies),
 * compact (libcore/compactor.h keeps the latest record of each key). */
enum elog_cleanup_policy {
	ELOG_CLEANUP_DELETE = 1,
	ELOG_CLEANUP_COMPACT = 2,
};
/* delete.retention.ms: how long a compacted topic keeps a tombstone (24h). */
#define ELOG_DELETE_RETENTION_MS_DEFAULT 86400000LL

struct elog_topic_config {
	uint64_t segment_bytes;        /* segment.bytes */
	int64_t segment_ms;            /* segment.ms, 0: no age roll */
	int64_t retention_ms;          /* retention.ms, -1: keep */
	int64_t retention_bytes;       /* retention.bytes, -1: keep */
	enum elog_flush_policy flush;  /* flush: always | never | <interval> */
	int64_t flush_interval_ms;
	uint32_t batch_bytes_max;      /* max.batch.bytes */
	uint32_t record_bytes_max;     /* max.record.bytes */
	unsigned cleanup;              /* cleanup.policy: ELOG_CLEANUP_* bits, at least one */
	int64_t delete_retention_ms;   /* delete.retention.ms, >= 0 */
	/*
	 * The unit each duration was set in, in ms (86400000 for "7d"), so that
	 * it is shown again in that unit; 0: set as plain milliseconds
	 * ("604800000", as Kafka users write retention.ms), or never set.
	 */
	int64_t segment_unit_ms, retention_unit_ms, flush_unit_ms, delete_retention_unit_ms;
};

#define ELOG_TOPIC_CONFIG_KEYS 9
#define ELOG_TOPIC_CONFIG_VALUE_MAX 32

/* 128 MiB segments, no age roll, keep forever, flush every 1s, 16 MiB
 * batches, 16 MiB records (the defaults of partlog.h); cleanup.policy
 * delete, delete.retention.ms 24h. */
void elog_topic_config_default(struct elog_topic_config *c);
/*
 * Set one key from its text ("retention.ms", "7d"); ELOG_E_INVAL naming the
 * key for an unknown key or a bad value. A key whose name carries its unit
 * takes plain digits in that unit (retention.ms=604800000, segment.bytes=
 * 1048576) or a value with units (7d, 1M); flush, whose name has none,
 * takes always, never or an interval with its unit (250ms, 1s).
 */
int elog_topic_config_set(struct elog_topic_config *c, const char *key, const char *value,
			  struct elog_err *err);
/* Rules between keys: max.record.bytes <= max.batch.bytes. */
int elog_topic_config_check(const struct elog_topic_config *c, struct elog_err *err);
/* Key i (0 <= i < ELOG_TOPIC_CONFIG_KEYS), in sorted order, and its value as text. */
const char *elog_topic_config_key(size_t i);
/* The i of a key, or ELOG_TOPIC_CONFIG_KEYS when there is no such key. */
size_t elog_topic_config_find(const char *key);

/* How elog_topic_config_format writes a value. */
enum elog_topic_config_text {
	/* durations in the unit they were set in ("7d"), else as RAW: what the
	 * metadata log keeps and DESCRIBE_TOPICS answers */
	ELOG_TOPIC_CONFIG_AS_SET,
	/* plain milliseconds and bytes; flush as always, never or its interval
	 * in the largest exact unit: elog-topic's TSV and JSON */
	ELOG_TOPIC_CONFIG_RAW,
	/* for a person: durations as AS_SET or in the largest exact unit, sizes
	 * in the largest exact binary unit ("16M") */
	ELOG_TOPIC_CONFIG_HUMAN,
};

/* Key i's value as text (cap >= ELOG_TOPIC_CONFIG_VALUE_MAX); every form
 * reads back with elog_topic_config_set to the same value. */
void elog_topic_config_format(const struct elog_topic_config *c, size_t i,
			      enum elog_topic_config_text how, char *out, size_t cap);
/* elog_topic_config_format(..., ELOG_TOPIC_CONFIG_AS_SET, ...) */
void elog_topic_config_get(const struct elog_topic_config *c, size_t i, char *out, size_t cap);
void elog_topic_config_to_partlog(const struct elog_topic_config *c,
				  struct elog_partlog_config *out);
/* "1s", "250ms", "2h": the largest unit that is exact. */
void elog_format_duration_ms(int64_t ms, char *out, size_t cap);

/* ------------------------------------------------------------------ store */

struct elog_topic;

struct elog_store;

struct elog_partition {
	struct elog_store *store;
	struct elog_topic *topic;
	uint32_t id;
	struct elog_partlog *log;
	struct elog_pstate pstate;
	uint64_t leader_term;          /* 0 until replication assigns terms */
	struct elog_flusher_log *flusher_log; /* NULL: not registered (flush=never) */
	int failure_logged;            /* its log failed and that was logged */
	void *replication;             /* the broker's Raft group for it (cluster only) */
	/* Cluster, no replica here: the leader another broker announced
	 * (broker_raft_net.c, leader hints); term 0: none known. */
	int32_t leader_hint;
	uint64_t leader_hint_term;
	/* Compaction (broker_compact.c), owner thread: where the next pass's
	 * map starts (the end of the last pass; 0: the log's start), and when
	 * the first tombstone a pass kept falls due (ms; 0: none), and the
	 * earliest its next pass may start (the loop's clock; 0: any time). */
	int64_t compact_from;
	int64_t compact_due_ms;
	int64_t compact_next_ms;
};

struct elog_topic {
	char name[ELOG_TOPIC_NAME_MAX + 1];
	uint32_t partition_count;
	struct elog_topic_config config;
	struct elog_partition **partitions;  /* partition_count entries */
	/* Cluster (store_meta.c, "Replicated metadata"); 0 and NULL alone. */
	int64_t incarnation;                 /* offset of its create record in the metadata log */
	uint32_t replication_factor;
	int32_t *replicas;                   /* partition_count * replication_factor broker ids,
	                                        each partition's in placement order */
};

struct elog_store_options {
	struct elog_topic_config defaults;
	uint32_t default_partitions;
	uint32_t topics_max;
	uint32_t partitions_max;        /* all topics together */
	uint32_t topic_partitions_max;
	uint32_t producers_max;         /* per partition, for pstate */
	uint64_t min_free_bytes;        /* produce is refused below this much free space; 0: only
	                                   when a write finds the disk full */
	struct elog_flusher *flusher;   /* NULL: flush=interval logs are never flushed */
	uint32_t fd_budget;             /* files the partition logs may keep open together
	                                   (struct elog_partlog_fds); 0: no limit */
	const struct elog_logger *log;  /* recovery reports, damage, removed leftovers */
	int salvage_metadata;           /* rebuild a damaged metadata log (see above) */
	int replicated;                 /* a cluster's broker: the metadata log is its Raft log,
	                                   applied only as far as it is committed (below) */
};

/*
 * Replicated metadata. A broker in a cluster opens its store with
 * options.replicated: elog_store_open then only locks DIR and opens the
 * metadata log. The driver (broker_raft.c) calls elog_store_meta_load with
 * the commit offset it knows from raft.state: records below it are
 * replayed as today (in memory) and the partitions opened. From then on
 * changes are proposed (elog_store_propose_*: checked and appended through
 * store->propose, which the driver points at the metadata group's leader
 * append) and take effect only when the metadata group commits them
 * (elog_store_meta_apply), on every broker alike, the leader included.
 * A broker alone never sets propose: elog_store_create and the others
 * record and apply at once, as they always did.
 */
typedef int elog_store_propose_fn(void *ctx, uint8_t *batch, size_t len, int64_t *offset,
				  struct elog_err *err);
enum elog_store_change { ELOG_STORE_CREATED = 1, ELOG_STORE_ALTERED = 2, ELOG_STORE_DELETING = 3 };
/* Told of each applied topic change: after a create or alter, before a delete. */
typedef void elog_store_change_fn(void *ctx, enum elog_store_change what, struct elog_topic *t);

/* Replicated partitions: retention deletes only below the offset this
 * returns (the group's commit), and after it deleted any, retained is told. */
typedef int64_t elog_store_retain_limit_fn(void *ctx, struct elog_partition *p);
typedef void elog_store_retained_fn(void *ctx, struct elog_partition *p);

struct elog_store {
	char *dir;
	int lock_fd;
	struct elog_store_options options;
	struct elog_partlog *meta;
	struct elog_partlog_fds fds;    /* the partition logs' fd budget (not the metadata log's) */
	struct elog_topic **topics;     /* sorted by name */
	uint32_t topic_count, topic_cap;
	uint32_t partition_total;
	uint32_t created_unsynced;      /* logs made since the last syncfs (create_unsynced) */
	int64_t producer_id_next, producer_id_limit;
	uint64_t trash_seq;
	int meta_cut;                   /* open cut a torn tail off the metadata log */
	elog_store_propose_fn *propose; /* replicated: append a metadata batch (leader only) */
	void *propose_ctx;
	elog_store_retain_limit_fn *retain_limit; /* replicated: see its typedef */
	elog_store_retained_fn *retained;
	void *retain_ctx;
	int64_t meta_applied;           /* replicated: records below this offset are applied */
	int meta_failure_logged;
	struct {
		uint64_t free_bytes;      /* at the last measurement */
		uint64_t reserved_bytes;  /* produce since it */
		int low;                  /* produce refused */
		uint64_t exhausted_resume_bytes; /* after a write found no room: the free
		                                    space that ends the low state too */
	} space;
};

void elog_store_options_default(struct elog_store_options *o);

/*
 * Lock DIR (creating it if missing; its parent must exist), replay the
 * metadata log, clear .trash and unknown topic directories, open every
 * partition (recovering it) and rebuild its producer state. ELOG_E_BUSY
 * when another process holds the lock.
 */
int elog_store_open(const char *dir, const struct elog_store_options *options,
		    struct elog_store **out, struct elog_err *err);
/* Unregister from the flusher, close every log (flushing it), unlock, free. */
void elog_store_close(struct elog_store *store);

struct elog_topic *elog_store_find(const struct elog_store *store, const char *name, size_t len);
struct elog_partition *elog_store_partition(const struct elog_store *store, const char *name,
					    size_t len, uint32_t id);

/* Name checks for a stored topic: protocol rules plus no leading '.';
 * of the names starting with "__", only the broker's own topics. */
int elog_store_name_check(const char *name, size_t len, struct elog_err *err);
/* Whether name is one of the broker's own topics ("__groups"): clients
 * may read it, not create, alter, delete, purge or produce to it. */
int elog_store_internal_name(const char *name, size_t len);

/*
 * Create a topic. ELOG_E_INVAL for a bad name or partition count,
 * ELOG_E_BUSY if it exists, ELOG_E_LIMIT past a bound, ELOG_E_IO/FAILED when
 * the disk fails (then nothing was created).
 */
int elog_store_create(struct elog_store *store, const char *name, size_t len,
		      uint32_t partitions, const struct elog_topic_config *config,
		      struct elog_topic **out, struct elog_err *err);
/* Delete a topic: durable in the metadata log first, then its directory
 * goes. The topic pointer and its partitions are freed. */
int elog_store_delete(struct elog_store *store, struct elog_topic *topic, struct elog_err *err);
/* Grow to `partitions` (0 or the current count: unchanged; fewer: ELOG_E_INVAL)
 * and/or set the whole config (the partitions are reopened with it). */
int elog_store_alter(struct elog_store *store, struct elog_topic *topic, uint32_t partitions,
		     const struct elog_topic_config *config, struct elog_err *err);

/* A producer id never handed out before (a metadata record every block of ids). */
int elog_store_producer_id(struct elog_store *store, int64_t *id, struct elog_err *err);

/* ---- replicated metadata (see "Replicated metadata" above) */

/* Replay the records below `commit` and open every partition. */
int elog_store_meta_load(struct elog_store *store, int64_t commit, struct elog_err *err);
/* Apply the committed records in [meta_applied, commit), with their effects
 * on disk; `fn` hears of each topic change. A record that does not apply is
 * logged and skipped (every broker skips it alike). */
int elog_store_meta_apply(struct elog_store *store, int64_t commit, elog_store_change_fn *fn,
			  void *ctx, struct elog_err *err);
/* Check and propose; *offset is the record's offset, done once applied. */
int elog_store_propose_create(struct elog_store *store, const char *name, size_t len,
			      uint32_t partitions, const struct elog_topic_config *config,
			      uint32_t replication_factor, const int32_t *replicas,
			      int64_t *offset, struct elog_err *err);
int elog_store_propose_delete(struct elog_store *store, const struct elog_topic *topic,
			      int64_t *offset, struct elog_err *err);
/* The checks of an alter to `partitions` (not fewer than now, within the
 * topic's and the broker's partition limits) and config, as a broker alone
 * and a cluster's controller make them. */
int elog_store_alter_check(const struct elog_store *store, const struct elog_topic *topic,
			   uint32_t partitions, const struct elog_topic_config *config,
			   struct elog_err *err);
/* partitions: the new count (at least the current one); replicas: the
 * placement of every partition, old and new (replication_factor each),
 * NULL when the count does not change. */
int elog_store_propose_alter(struct elog_store *store, const struct elog_topic *topic,
			     uint32_t partitions, const int32_t *replicas,
			     const struct elog_topic_config *config, int64_t *offset,
			     struct elog_err *err);
/* A producer id from a committed block: 1 and *id when there is one, 0 when
 * a new block was proposed (*offset: ask again once it is applied). */
int elog_store_propose_producer_id(struct elog_store *store, int64_t *id, int64_t *offset,
				   struct elog_err *err);
/* The replicas of partition `partition` (replication_factor of them). */
static inline const int32_t *elog_topic_replicas(const struct elog_topic *t, uint32_t partition)
{
	return t->replicas ? t->replicas + (size_t)partition * t->replication_factor : NULL;
}

enum elog_partition_status {
	ELOG_PARTITION_OK = 0,
	ELOG_PARTITION_DAMAGED = 1, /* damaged offsets are unreadable; the rest is served */
	ELOG_PARTITION_FAILED = 2,  /* a write or sync failed: nothing is served */
};
/* A partition's status and, unless ok, one line saying which offsets or why. */
enum elog_partition_status elog_store_partition_status(const struct elog_partition *p,
						       char *detail, size_t cap);

/* Retention on every partition; failures are logged, the count returned. */
uint32_t elog_store_retain(struct elog_store *store, int64_t now_ms, uint32_t *segments_deleted);

/*
 * Purge partition p's records below `offset` (elog_partlog_start_set: at or
 * below its start, nothing happens; past its end, ELOG_E_RANGE), then
 * delete at once the segments wholly below the new start and measure the
 * free space again. A move of the start is logged (level=info
 * msg="records purged", with the bytes deleted), and so is a failed log.
 * Not held back by the free-space reserve: it writes one small file and
 * frees room.
 */
int elog_store_purge(struct elog_store *store, struct elog_partition *p, int64_t offset,
		     struct elog_err *err);

/* ------------------------------------------------------------ disk space, failures */

/* Measure the free space now; logs a change of state. -1 when statvfs
 * fails (the state stays as it was). */
int elog_store_space_refresh(struct elog_store *store, struct elog_err *err);
/*
 * May produce append `bytes` more? 0, with the bytes counted against the
 * estimate; or ELOG_E_NOSPACE ("broker storage is full: ...", naming the
 * free space and where writes resume). Measures only at the crossing.
 */
int elog_store_space_reserve(struct elog_store *store, uint64_t bytes, struct elog_err *err);
/* A write found no room (why, for the log line): low until measured ok. */
void elog_store_space_exhausted(struct elog_store *store, const struct elog_err *why);
int elog_store_space_low(const struct elog_store *store);

/* If p's log has failed and that is not logged yet, log it (level=error). */
void elog_store_partition_check(struct elog_store *store, struct elog_partition *p);
/* The same for every partition and the metadata log. */
void elog_store_failures_log(struct elog_store *store);

#endif
