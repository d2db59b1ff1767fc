/*
 * store_int — what store.c (directory, lock, partitions) and store_meta.c
 * (the metadata log and the changes it records) share. Nothing else
 * includes this.
 */
#ifndef ELOG_STORE_INT_H
#define ELOG_STORE_INT_H

#include "store.h"

/* "<dir>/<fmt...>" into out (4096 bytes); -1 if too long. */
int elog_store_path(const struct elog_store *store, char *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int elog_store_sync_path(const char *path, struct elog_err *err);
int elog_store_topic_insert(struct elog_store *store, struct elog_topic *t, struct elog_err *err);
void elog_store_topic_remove(struct elog_store *store, struct elog_topic *t);
void elog_store_topic_free(struct elog_store *store, struct elog_topic *t);
/* The same for a deleted topic: its partitions closed without a flush. */
void elog_store_topic_discard(struct elog_store *store, struct elog_topic *t);
int elog_store_topic_grow(struct elog_store *store, struct elog_topic *t, uint32_t count,
			  struct elog_err *err);
int elog_store_trash(struct elog_store *store, const char *name, struct elog_err *err);
int elog_store_remove_tree(const char *path, struct elog_err *err);
/* Close and open the partition's log again with its topic's (new) config. */
int elog_store_partition_reopen(struct elog_store *store, struct elog_partition *p,
				struct elog_err *err);
int elog_store_meta_replay(struct elog_store *store, struct elog_err *err);
/* Open the partitions of every topic replayed (their counts set, none open). */
int elog_store_open_partitions(struct elog_store *store, struct elog_err *err);
/* Rebuild the metadata log from its intact records and the topic directories. */
int elog_store_meta_salvage(struct elog_store *store, struct elog_err *err);
/* Which of names[0..n) (sorted) the metadata log last recorded as deleted: deleted[i] = 1. */
int elog_store_meta_deleted(struct elog_store *store, char *const *names, size_t n,
			    unsigned char *deleted, struct elog_err *err);
/* Log a partition log's event (damage, an index rebuilt) for topic/partition. */
void elog_store_log_event(const struct elog_store *store, const char *topic, uint32_t partition,
			  const struct elog_partlog_event *e);
/* Open the metadata log (DIR/__meta/0) into store->meta, logging what recovery did. */
int elog_store_meta_open(struct elog_store *store, struct elog_err *err);
/* store_space.c: log the metadata log's failure, once. */
void elog_store_meta_check(struct elog_store *store);
/*
 * Room for new partitions? Measured now (creates are rare): below
 * ELOG_STORE_META_PREALLOCATE free, ELOG_E_NOSPACE before anything is
 * recorded, so that failed creates (a producer retrying an auto-create)
 * cannot eat the room the metadata log keeps for deletes.
 */
int elog_store_space_room_for_new(struct elog_store *store, struct elog_err *err);

#endif
