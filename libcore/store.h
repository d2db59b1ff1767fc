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
 * build does not know) makes open fail rather than guess, and so does any
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
 * flusher given in the options gets every flush=interval partition
 * registered and unregistered as topics come and go.
 *
 * Bounds: topics_max topics, partitions_max partitions in all (the
 * flusher's ELOG_FLUSHER_LOGS_MAX caps it), topic_partitions_max per topic.
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
#define ELOG_STORE_PRODUCER_ID_BLOCK 1000
#define ELOG_STORE_META_RECORD_MAX (64u << 10)

/* ------------------------------------------------------------ topic config */

struct elog_topic_config {
	uint64_t segment_bytes;        /* segment.bytes */
	int64_t segment_ms;            /* segment.ms, 0: no age roll */
	int64_t retention_ms;          /* retention.ms, -1: keep */
	int64_t retention_bytes;       /* retention.bytes, -1: keep */
	enum elog_flush_policy flush;  /* flush: always | never | <interval> */
	int64_t flush_interval_ms;
	uint32_t batch_bytes_max;      /* max.batch.bytes */
	uint32_t record_bytes_max;     /* max.record.bytes */
};

#define ELOG_TOPIC_CONFIG_KEYS 7
#define ELOG_TOPIC_CONFIG_VALUE_MAX 32

/* 128 MiB segments, no age roll, keep forever, flush every 1s, 16 MiB
 * batches, 16 MiB records (the defaults of partlog.h). */
void elog_topic_config_default(struct elog_topic_config *c);
/* Set one key from its text ("retention.ms", "7d"); ELOG_E_INVAL naming the
 * key for an unknown key or a bad value. Sizes take 64k/16M units, times
 * take 250ms/7d units or plain milliseconds. */
int elog_topic_config_set(struct elog_topic_config *c, const char *key, const char *value,
			  struct elog_err *err);
/* Rules between keys: max.record.bytes <= max.batch.bytes. */
int elog_topic_config_check(const struct elog_topic_config *c, struct elog_err *err);
/* Key i (0 <= i < ELOG_TOPIC_CONFIG_KEYS), in sorted order, and its value as text. */
const char *elog_topic_config_key(size_t i);
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
	int flusher_registered;
};

struct elog_topic {
	char name[ELOG_TOPIC_NAME_MAX + 1];
	uint32_t partition_count;
	struct elog_topic_config config;
	struct elog_partition **partitions;  /* partition_count entries */
};

struct elog_store_options {
	struct elog_topic_config defaults;
	uint32_t default_partitions;
	uint32_t topics_max;
	uint32_t partitions_max;        /* all topics together */
	uint32_t topic_partitions_max;
	uint32_t producers_max;         /* per partition, for pstate */
	struct elog_flusher *flusher;   /* NULL: flush=interval logs are never flushed */
	const struct elog_logger *log;  /* recovery reports, damage, removed leftovers */
	int salvage_metadata;           /* rebuild a damaged metadata log (see above) */
};

struct elog_store {
	char *dir;
	int lock_fd;
	struct elog_store_options options;
	struct elog_partlog *meta;
	struct elog_topic **topics;     /* sorted by name */
	uint32_t topic_count, topic_cap;
	uint32_t partition_total;
	int64_t producer_id_next, producer_id_limit;
	uint64_t trash_seq;
	int meta_cut;                   /* open cut a torn tail off the metadata log */
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

/* Name checks for a new topic: protocol rules plus no leading '.'. */
int elog_store_name_check(const char *name, size_t len, struct elog_err *err);

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

#endif
