/*
 * broker_group.h — what broker_group.c (committed offsets, the __groups
 * tables) and broker_member.c (membership, GROUP_HEARTBEAT) share; private
 * to the broker.
 */
#ifndef ELOG_BROKER_GROUP_H
#define ELOG_BROKER_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"
#include "loop.h"

struct elog_broker;
struct elog_partition;
struct group_state;

#define GROUP_KEY_OFFSET 1
#define GROUP_KEY_GROUP 2

struct kv {
	struct kv *next;
	uint32_t hash;
	uint32_t key_len, value_len;
	uint8_t data[]; /* key, then value */
};

struct group_table {
	int64_t applied;     /* the next offset to read */
	int64_t failed_hw;   /* a read failed at this high watermark: not again until it moves */
	struct kv **slots;
	uint32_t slot_count, count;
};

struct elog_groups {
	struct elog_broker *broker;
	struct group_state *states; /* groups with members held in memory (broker_member.c) */
	struct elog_timer member_timer; /* their sessions (broker_member.c) */
	int64_t incarnation;  /* of the __groups topic the tables were read from */
	uint32_t table_count;
	struct group_table *tables;
	uint64_t keys;        /* in all tables */
	struct elog_buf read;
	struct elog_batch_reader reader;
	struct elog_batch_builder builder;
	int moved;            /* a table read more since the commits were checked */
};

/* The newest value of key in tb; NULL when none. */
const struct kv *elog_group_kv_get(const struct group_table *tb, const uint8_t *key, size_t len);
/*
 * The group's __groups partition if this broker coordinates it and its
 * table is read (*tb, *index); else NULL with the code (NOT_COORDINATOR,
 * COORDINATOR_LOADING, STORAGE_ERROR) and a message.
 */
struct elog_partition *elog_group_coordinated(struct elog_broker *b, const char *group,
					      size_t len, struct group_table **tb,
					      uint32_t *index, int16_t *code, char *msg,
					      size_t cap);

/* The group's commits as DESCRIBE_GROUP answers them: array<topic>, each
 * string name, array<u32 partition, i64 committed, i64 high watermark as
 * this broker sees it (-1: no replica here), i64 lag (-1: unknown)>. -1 out
 * of memory (nothing written). */
struct elog_wire_w;
int elog_group_put_offsets(struct elog_broker *b, struct elog_wire_w *w,
			   const struct group_table *tb, const char *group, size_t glen);

/* broker_member.c */
/* The table of __groups partition `index` read a record of key type 2 (or
 * was cleared: key NULL, every group of it forgotten). */
void elog_member_record_read(struct elog_broker *b, uint32_t index, const uint8_t *key,
			     size_t key_len, const uint8_t *value, int32_t value_len);
/* The sessions' timer (gs->member_timer's function). */
void elog_member_on_timer(struct elog_loop *loop, void *ctx);
/* Every group held in memory forgotten (tables dropped, broker stopping). */
void elog_member_forget_all(struct elog_broker *b);
/*
 * A commit by member (member "" epoch -1: standalone) of group: 0 when it
 * may commit; else -1 with the code (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH,
 * GROUP_NOT_EMPTY) and a message. Its partitions are checked by
 * elog_member_may_commit_partition.
 */
int elog_member_commit_check(struct elog_broker *b, uint32_t index, const struct group_table *tb,
			     const char *group, size_t glen, const char *member, size_t mlen,
			     int32_t epoch, struct group_state **gsout, int16_t *code, char *msg,
			     size_t cap);
/* The group has members (msg names them, as GROUP_NOT_EMPTY says). */
int elog_member_group_active(struct elog_broker *b, uint32_t index, const struct group_table *tb,
			     const char *group, size_t glen, char *msg, size_t cap);
int elog_member_may_commit_partition(const struct group_state *g, const char *member,
				     size_t mlen, const char *topic, size_t tlen,
				     uint32_t partition);

/* For tests/fuzz/fuzz_group_record: decode a group record's value (-1
 * when it does not decode), encode it again (-2 when that fails), *same
 * when the bytes are those given. */
int elog_member_record_roundtrip(const uint8_t *v, size_t len, int *same);

#endif
