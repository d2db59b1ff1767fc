/*
 * broker_group.c — consumer groups' committed offsets (docs/groups.md):
 * FIND_COORDINATOR, OFFSET_COMMIT, OFFSET_FETCH, and the table each broker
 * keeps of every __groups partition it holds.
 *
 * The table is the partition, read: the newest value of every key in the
 * committed log (records of a null value delete their key), caught up
 * before the loop sleeps at most GROUP_READ_TURN_BYTES a turn. A commit is
 * one batch appended to the group's partition through the produce path
 * (broker_produce.c: the same checks, the same acks=all wait) and answered
 * once it is committed and the table has read it. So the table never holds
 * what the log does not, a new leader serves nothing before its own term
 * committed (it may not have read what its predecessor acknowledged yet),
 * and what was acknowledged survives restarts and failovers with the log.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "broker_int.h"
#include "broker_raft.h"
#include "bytes.h"
#include "crc32c.h"
#include "logfmt.h"
#include "partlog.h"
#include "broker_group.h"

#define GROUP_NAME_MAX 255
#define GROUP_METADATA_MAX 1024
#define GROUP_WINDOW_MAX 15
#define GROUP_COMMIT_PARTS_MAX 10000
#define GROUP_READ_TURN_BYTES (4u << 20)
#define GROUP_READ_FIRST_BYTES (256u << 10)
#define GROUP_VALUE_VERSION 1
/* Keys of every table held here: commits that would add keys past it are
 * refused (RESOURCE_LIMIT); what the log holds is always read. */
#define GROUP_KEYS_MAX 4000000u

/* ---------------------------------------------------------------- table */

static uint32_t kv_hash(const uint8_t *key, size_t len)
{
	return elog_crc32c(0, key, len);
}

static struct kv **kv_slot(const struct group_table *tb, const uint8_t *key, size_t len,
			   uint32_t h)
{
	struct kv **at = &tb->slots[h & (tb->slot_count - 1)];

	for (; *at; at = &(*at)->next)
		if ((*at)->hash == h && (*at)->key_len == len && memcmp((*at)->data, key, len) == 0)
			break;
	return at;
}

const struct kv *elog_group_kv_get(const struct group_table *tb, const uint8_t *key, size_t len)
{
	if (!tb->slot_count)
		return NULL;
	return *kv_slot(tb, key, len, kv_hash(key, len));
}

static int kv_grow(struct group_table *tb)
{
	uint32_t n = tb->slot_count ? tb->slot_count * 2 : 64;
	struct kv **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t i = 0; i < tb->slot_count; i++)
		while (tb->slots[i]) {
			struct kv *e = tb->slots[i];
			tb->slots[i] = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
		}
	free(tb->slots);
	tb->slots = slots;
	tb->slot_count = n;
	return 0;
}

/* The newest value of key (value_len -1: deleted). -1 out of memory. */
static int kv_put(struct elog_groups *gs, struct group_table *tb, const uint8_t *key,
		  size_t key_len, const uint8_t *value, int32_t value_len)
{
	uint32_t h = kv_hash(key, key_len);
	struct kv **at, *e;

	if (tb->count >= tb->slot_count && tb->count < UINT32_MAX / 2 && kv_grow(tb) < 0)
		return -1;
	at = kv_slot(tb, key, key_len, h);
	if (value_len < 0) {
		if ((e = *at) != NULL) {
			*at = e->next;
			free(e);
			tb->count--;
			gs->keys--;
		}
		return 0;
	}
	e = malloc(sizeof(*e) + key_len + (size_t)value_len);
	if (!e)
		return -1;
	e->hash = h;
	e->key_len = (uint32_t)key_len;
	e->value_len = (uint32_t)value_len;
	memcpy(e->data, key, key_len);
	if (value_len)
		memcpy(e->data + key_len, value, (size_t)value_len);
	if (*at) {
		e->next = (*at)->next;
		free(*at);
	} else {
		e->next = NULL;
		tb->count++;
		gs->keys++;
	}
	*at = e;
	return 0;
}

static void table_clear(struct elog_groups *gs, struct group_table *tb)
{
	for (uint32_t i = 0; i < tb->slot_count; i++)
		while (tb->slots[i]) {
			struct kv *e = tb->slots[i];
			tb->slots[i] = e->next;
			free(e);
		}
	free(tb->slots);
	gs->keys -= tb->count;
	tb->slots = NULL;
	tb->slot_count = tb->count = 0;
	tb->applied = -1;
}

static void tables_drop(struct elog_groups *gs)
{
	elog_member_forget_all(gs->broker);
	for (uint32_t i = 0; i < gs->table_count; i++)
		table_clear(gs, &gs->tables[i]);
	free(gs->tables);
	gs->tables = NULL;
	gs->table_count = 0;
}

static struct elog_groups *groups_get(struct elog_broker *b)
{
	if (!b->groups) {
		struct elog_groups *gs = calloc(1, sizeof(*gs));
		if (!gs)
			return NULL;
		elog_buf_init(&gs->read, ELOG_BATCH_SIZE_MAX + GROUP_READ_FIRST_BYTES);
		elog_batch_reader_init(&gs->reader);
		gs->reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS; /* compacted partitions (docs/format.md) */
		elog_batch_builder_init(&gs->builder, ELOG_COMPRESS_NONE, 0);
		gs->broker = b;
		elog_timer_init(&gs->member_timer, elog_member_on_timer, b);
		b->groups = gs;
	}
	return b->groups;
}

void elog_broker_groups_free(struct elog_broker *b)
{
	struct elog_groups *gs = b->groups;

	if (!gs)
		return;
	tables_drop(gs);
	elog_buf_release(&gs->read);
	elog_batch_reader_release(&gs->reader);
	elog_batch_builder_release(&gs->builder);
	free(gs);
	b->groups = NULL;
}

/* The tables of topic t (__groups), made afresh for a new incarnation or
 * partition count; NULL out of memory. */
static struct group_table *tables_for(struct elog_groups *gs, const struct elog_topic *t)
{
	if (gs->tables && gs->incarnation == t->incarnation && gs->table_count == t->partition_count)
		return gs->tables;
	tables_drop(gs);
	gs->tables = calloc(t->partition_count, sizeof(*gs->tables));
	if (!gs->tables)
		return NULL;
	gs->table_count = t->partition_count;
	gs->incarnation = t->incarnation;
	for (uint32_t i = 0; i < t->partition_count; i++) {
		gs->tables[i].applied = -1;
		gs->tables[i].failed_hw = -1;
	}
	return gs->tables;
}

static int apply_batch(struct elog_groups *gs, struct group_table *tb, const uint8_t *batch,
		       size_t len, int64_t hw, struct elog_err *err)
{
	struct elog_record_view rec;
	struct elog_batch_header h;
	int rc;

	if (elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0)
		return -1;
	if (h.attributes & ELOG_BATCH_ATTR_CONTROL) {
		if (elog_batch_last_offset(&h) < hw)
			tb->applied = elog_batch_last_offset(&h) + 1;
		return 0;
	}
	if (elog_batch_reader_open(&gs->reader, batch, len, err) < 0)
		return -1;
	while ((rc = elog_batch_reader_next(&gs->reader, &rec, err)) == 1) {
		if (rec.offset < tb->applied)
			continue;
		if (rec.offset >= hw)
			return 0;
		if (rec.key_len > 0 &&
		    kv_put(gs, tb, rec.key, (size_t)rec.key_len, rec.value, rec.value_len) < 0)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		if (rec.key_len > 0 && rec.key[0] == GROUP_KEY_GROUP)
			elog_member_record_read(gs->broker, (uint32_t)(tb - gs->tables), rec.key,
						(size_t)rec.key_len, rec.value, rec.value_len);
		tb->applied = rec.offset + 1;
	}
	if (rc < 0)
		return -1;
	if (elog_batch_last_offset(&h) + 1 <= hw)
		tb->applied = elog_batch_last_offset(&h) + 1;
	return 0;
}

/*
 * Read partition p into its table, at most `budget` bytes: 1 when it has
 * read up to the high watermark, 0 when there is more, -1 on a failure
 * (logged; the table starts again from the log's start next time).
 */
static int table_read(struct elog_broker *b, struct elog_groups *gs, struct group_table *tb,
		      struct elog_partition *p, size_t budget)
{
	int64_t hw = elog_broker_high_watermark(p), start = elog_partlog_start_offset(p->log);
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];

	/* Damaged data (or no memory) failed the last read: nothing new to try
	 * until the log moves, and the error is logged once, not every turn. */
	if (tb->failed_hw == hw)
		return -1;
	/* Behind the log's start, or past a high watermark that moved back (a
	 * damaged replica cut below it): read everything again. */
	if (tb->applied < start || tb->applied > hw) {
		table_clear(gs, tb);
		elog_member_record_read(b, (uint32_t)(tb - gs->tables), NULL, 0, NULL, -1);
		tb->applied = start;
	}
	while (tb->applied < hw && budget > 0) {
		struct elog_partlog_slice s;
		size_t cap = GROUP_READ_FIRST_BYTES;
		for (;;) {
			if (elog_buf_reserve(&gs->read, cap, &err) < 0)
				goto failed;
			if (elog_partlog_read(p->log, tb->applied, gs->read.data, cap, &s, &err) == 0)
				break;
			if (err.code != ELOG_E_LIMIT || cap >= ELOG_BATCH_SIZE_MAX + 64)
				goto failed;
			cap = ELOG_BATCH_SIZE_MAX + 64;
		}
		if (s.len == 0)
			break;
		for (size_t pos = 0; pos < s.len && tb->applied < hw;) {
			struct elog_batch_header h;
			if (elog_batch_header_decode_as(gs->read.data + pos, s.len - pos,
							ELOG_BATCH_OFFSETS_GAPS, &h, &err) < 0 ||
			    apply_batch(gs, tb, gs->read.data + pos, elog_batch_total_size(&h), hw,
					&err) < 0)
				goto failed;
			pos += elog_batch_total_size(&h);
		}
		gs->moved = 1;
		budget = s.len < budget ? budget - s.len : 0;
	}
	return tb->applied >= hw;
failed:
	elog_broker_logf(b, ELOG_LOG_ERROR, "group offsets not read",
			 "topic=%s partition=%u offset=%" PRId64 " error=%s", ELOG_GROUPS_TOPIC, p->id,
			 tb->applied, elog_logfmt_value(v, sizeof(v), err.msg));
	table_clear(gs, tb);
	elog_member_record_read(b, (uint32_t)(tb - gs->tables), NULL, 0, NULL, -1);
	tb->failed_hw = hw;
	return -1;
}

void elog_broker_groups_read(struct elog_broker *b)
{
	struct elog_groups *gs = b->groups;
	const struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
						     strlen(ELOG_GROUPS_TOPIC));
	struct group_table *tables;
	size_t budget = GROUP_READ_TURN_BYTES;

	if (!t || !(gs = groups_get(b)) || !(tables = tables_for(gs, t)))
		return;
	for (uint32_t i = 0; i < t->partition_count && budget > 0; i++) {
		struct elog_partition *p = t->partitions[i];
		if (p->log && table_read(b, gs, &tables[i], p, budget) == 0)
			budget = 0; /* the rest next turn */
	}
	if (gs->moved) {
		gs->moved = 0;
		elog_broker_check_produces(b, 0);
	}
}

/* ---------------------------------------------------------------- coordinator */

int elog_group_name_check(const char *name, size_t len, char *msg, size_t cap)
{
	if (len == 0 || len > GROUP_NAME_MAX) {
		snprintf(msg, cap, "a group name is 1 to %d bytes", GROUP_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			snprintf(msg, cap, "group name has a control byte at position %zu", i);
			return -1;
		}
	return 0;
}

static uint32_t group_partition(const struct elog_topic *t, const char *group, size_t len)
{
	return elog_crc32c(0, group, len) % t->partition_count;
}

/* __groups, created on first use; NULL with a (retriable while it is
 * being created) code and message. */
static struct elog_topic *groups_topic(struct elog_broker *b, int16_t *code, char *msg,
				       size_t cap)
{
	struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
					       strlen(ELOG_GROUPS_TOPIC));
	struct elog_topic_config cfg = b->config.store.defaults;
	struct elog_err err;

	if (t)
		return t;
	cfg.flush = ELOG_FLUSH_ALWAYS;
	cfg.flush_interval_ms = 0;
	cfg.flush_unit_ms = 0;
	cfg.retention_ms = -1;
	cfg.retention_bytes = -1;
	cfg.retention_unit_ms = 0;
	cfg.cleanup = ELOG_CLEANUP_COMPACT; /* the latest commit of each key is what counts */
	/* A commit of 10,000 partitions with long names, metadata and windows
	 * is ~20 MB: its own limits, whatever the brokers' defaults are. */
	cfg.batch_bytes_max = ELOG_BATCH_SIZE_MAX;
	cfg.record_bytes_max = 1u << 20; /* a group record names every member's partitions */
	if (b->cluster)
		return elog_broker_raft_auto_create(b, ELOG_GROUPS_TOPIC, strlen(ELOG_GROUPS_TOPIC),
						    b->config.groups_partitions, &cfg, code, msg, cap);
	if (elog_store_create(b->store, ELOG_GROUPS_TOPIC, strlen(ELOG_GROUPS_TOPIC),
			      b->config.groups_partitions, &cfg, &t, &err) < 0) {
		*code = (int16_t)elog_broker_store_error(&err);
		snprintf(msg, cap, "cannot create __groups: %.400s", err.msg);
		return NULL;
	}
	elog_broker_logf(b, ELOG_LOG_INFO, "topic created", "topic=%s partitions=%u reason=groups",
			 ELOG_GROUPS_TOPIC, t->partition_count);
	return t;
}

struct elog_partition *elog_group_coordinated(struct elog_broker *b, const char *group,
					      size_t len, struct group_table **tb,
					      uint32_t *index, int16_t *code, char *msg,
					      size_t cap)
{
	struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
					       strlen(ELOG_GROUPS_TOPIC));
	struct elog_groups *gs = groups_get(b);
	struct group_table *tables;
	struct elog_partition *p;
	uint32_t i;

	*code = ELOG_PE_NOT_COORDINATOR;
	if (!t) {
		snprintf(msg, cap, "no group exists yet: ask FIND_COORDINATOR");
		return NULL;
	}
	i = group_partition(t, group, len);
	p = t->partitions[i];
	if (!p->log || (b->cluster && !elog_broker_raft_leads(p))) {
		snprintf(msg, cap, "%s/%u is not led here", ELOG_GROUPS_TOPIC, i);
		return NULL;
	}
	if (!gs || !(tables = tables_for(gs, t))) {
		*code = ELOG_PE_RESOURCE_LIMIT;
		snprintf(msg, cap, "out of memory");
		return NULL;
	}
	*code = ELOG_PE_COORDINATOR_LOADING;
	if (b->cluster && !elog_broker_raft_leader_current(p)) {
		snprintf(msg, cap, "%s/%u: a new leader, before its own term committed",
			 ELOG_GROUPS_TOPIC, i);
		return NULL;
	}
	switch (table_read(b, gs, &tables[i], p, GROUP_READ_TURN_BYTES)) {
	case 1:
		break;
	case 0:
		snprintf(msg, cap, "reading %s/%u", ELOG_GROUPS_TOPIC, i);
		return NULL;
	default:
		*code = ELOG_PE_STORAGE_ERROR;
		snprintf(msg, cap, "cannot read %s/%u (the broker log says why)", ELOG_GROUPS_TOPIC, i);
		return NULL;
	}
	*tb = &tables[i];
	if (index)
		*index = i;
	return p;
}

void elog_broker_find_coordinator(struct elog_conn *c, const struct elog_frame_header *rq,
				  struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_w w;
	struct elog_topic *t;
	struct elog_route route;
	char msg[BROKER_MSG_MAX];
	const char *group, *host;
	size_t len;
	uint16_t port;
	int16_t code;
	uint32_t i;

	elog_wire_r_field(r, "group");
	elog_wire_get_string(r, &group, &len);
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_group_name_check(group, len, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (!(t = groups_topic(b, &code, msg, sizeof(msg)))) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	i = group_partition(t, group, len);
	elog_broker_route(b, t, i, &route);
	if (route.leader_id < 0) {
		snprintf(msg, sizeof(msg), "%s/%u has no leader now", ELOG_GROUPS_TOPIC, i);
		elog_broker_reply_error(c, rq, ELOG_PE_LEADER_UNKNOWN, msg);
		return;
	}
	if (b->cluster) {
		const struct elog_cluster_member *m = elog_cluster_find(&b->config.cluster,
									 route.leader_id);
		host = m ? m->host : "";
		port = m ? m->port : 0;
	} else {
		host = b->config.advertise_host[0] ? b->config.advertise_host
						   : b->config.listen_host;
		port = b->port;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&w, i);
	elog_wire_put_i32(&w, route.leader_id);
	elog_wire_put_cstring(&w, host);
	elog_wire_put_u16(&w, port);
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- records */

static size_t offset_key(uint8_t *out, const char *group, size_t glen, const char *topic,
			 size_t tlen, uint32_t partition)
{
	uint8_t *p = out;

	*p++ = GROUP_KEY_OFFSET;
	elog_put16(p, (uint16_t)glen);
	memcpy(p + 2, group, glen);
	p += 2 + glen;
	elog_put16(p, (uint16_t)tlen);
	memcpy(p + 2, topic, tlen);
	p += 2 + tlen;
	elog_put32(p, partition);
	return (size_t)(p + 4 - out);
}

struct commit_value {
	int64_t offset, time_ms, high_watermark;
	const uint8_t *metadata;
	uint16_t metadata_len;
	uint8_t window_count;
	int64_t window[GROUP_WINDOW_MAX][3];
};

static int value_decode(const uint8_t *v, size_t len, struct commit_value *cv)
{
	size_t need = 1 + 24 + 2;

	memset(cv, 0, sizeof(*cv));
	if (len < need || v[0] != GROUP_VALUE_VERSION)
		return -1;
	cv->offset = (int64_t)elog_get64(v + 1);
	cv->time_ms = (int64_t)elog_get64(v + 9);
	cv->high_watermark = (int64_t)elog_get64(v + 17);
	cv->metadata_len = elog_get16(v + 25);
	if (cv->metadata_len > GROUP_METADATA_MAX || len < need + cv->metadata_len + 1)
		return -1;
	cv->metadata = v + need;
	need += cv->metadata_len;
	cv->window_count = v[need++];
	if (cv->window_count > GROUP_WINDOW_MAX || len != need + (size_t)cv->window_count * 24)
		return -1;
	for (uint32_t i = 0; i < cv->window_count; i++)
		for (int k = 0; k < 3; k++)
			cv->window[i][k] = (int64_t)elog_get64(v + need + i * 24 + (size_t)k * 8);
	return 0;
}

/* The new value: this commit, then the previous one and its window. */
static size_t value_encode(uint8_t *out, int64_t offset, int64_t now, int64_t hw,
			   const uint8_t *meta, size_t meta_len, const struct kv *prev)
{
	struct commit_value old;
	uint8_t *p = out;
	uint32_t n = 0;

	*p++ = GROUP_VALUE_VERSION;
	elog_put64(p, (uint64_t)offset);
	elog_put64(p + 8, (uint64_t)now);
	elog_put64(p + 16, (uint64_t)hw);
	elog_put16(p + 24, (uint16_t)meta_len);
	p += 26;
	memcpy(p, meta, meta_len);
	p += meta_len;
	if (prev && value_decode(prev->data + prev->key_len, prev->value_len, &old) == 0) {
		int64_t first[3] = {old.offset, old.time_ms, old.high_watermark};
		n = 1 + (old.window_count < GROUP_WINDOW_MAX - 1 ? old.window_count
								  : GROUP_WINDOW_MAX - 1);
		*p++ = (uint8_t)n;
		for (uint32_t i = 0; i < n; i++)
			for (int k = 0; k < 3; k++) {
				elog_put64(p, (uint64_t)(i == 0 ? first[k] : old.window[i - 1][k]));
				p += 8;
			}
	} else {
		*p++ = 0;
	}
	return (size_t)(p - out);
}

#define OFFSET_KEY_MAX (1 + 2 + GROUP_NAME_MAX + 2 + ELOG_TOPIC_NAME_MAX + 4)
#define COMMIT_VALUE_MAX (1 + 24 + 2 + GROUP_METADATA_MAX + 1 + GROUP_WINDOW_MAX * 24)

/* ---------------------------------------------------------------- OFFSET_COMMIT */

/* Pass 1: the body parses exactly; counts for the waiter. */
static int commit_skim(struct elog_wire_r *r, uint32_t *topics, uint32_t *parts)
{
	const char *s;
	size_t len;

	*topics = *parts = 0;
	elog_wire_get_string(r, &s, &len); /* group */
	elog_wire_get_string(r, &s, &len); /* member id */
	elog_wire_get_i32(r);              /* member epoch */
	elog_wire_get_u32(r);              /* timeout */
	*topics = elog_wire_get_count(r, 2 + 4);
	for (uint32_t i = 0; i < *topics && !r->failed; i++) {
		uint32_t n;
		elog_wire_get_string(r, &s, &len);
		n = elog_wire_get_count(r, 4 + 8 + 8 + 2);
		for (uint32_t k = 0; k < n && !r->failed; k++) {
			elog_wire_get_u32(r);
			elog_wire_get_i64(r);
			elog_wire_get_i64(r);
			elog_wire_get_string(r, &s, &len);
		}
		*parts += n;
	}
	return elog_wire_r_end(r, NULL);
}

static void commit_part_error(struct wait_part *part, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void commit_part_error(struct wait_part *part, int code, const char *fmt, ...)
{
	va_list ap;

	if (part->error)
		return;
	part->error = (int16_t)code;
	va_start(ap, fmt);
	vsnprintf(part->message, sizeof(part->message), fmt, ap);
	va_end(ap);
}

/*
 * The batch in the groups' builder appended to gp as a produce with
 * acks=all, and w answered once it is committed and read (now, or parked
 * until then or timeout_ms): OFFSET_COMMIT's and DELETE_GROUP's last step.
 * An empty builder, or an append part already refused, is answered at once.
 */
static void append_and_wait(struct elog_broker *b, struct elog_waiter *w,
			    struct wait_part *append, struct elog_partition *gp,
			    uint32_t timeout_ms)
{
	struct elog_groups *gs = b->groups;
	const uint8_t *batch;
	struct elog_err err;
	size_t blen;

	if (append->error || elog_batch_builder_count(&gs->builder) == 0) {
		elog_broker_commit_answer(w);
		return;
	}
	if (elog_batch_builder_finish(&gs->builder, &batch, &blen, &err) < 0) {
		commit_part_error(append, ELOG_PE_UNKNOWN_SERVER_ERROR, "%s", err.msg);
		elog_broker_commit_answer(w);
		return;
	}
	/* The builder's buffer: the append assigns offsets in place. */
	elog_broker_append_part(b, gp->topic, append, (uint8_t *)batch, blen);
	if (elog_broker_commit_done(w)) {
		elog_broker_commit_answer(w);
		return;
	}
	if (elog_waiter_park(w, elog_broker_write_deadline(b, timeout_ms), &err) < 0) {
		commit_part_error(append, ELOG_PE_RESOURCE_LIMIT, "%s", err.msg);
		elog_broker_commit_answer(w);
		return;
	}
	elog_flusher_kick(&b->flusher);
}

void elog_broker_offset_commit(struct elog_conn *c, const struct elog_frame_header *rq,
			       struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_groups *gs;
	struct elog_wire_r again = *r;
	struct group_table *tb = NULL;
	struct elog_partition *gp;
	struct elog_waiter *w;
	struct wait_part *append;
	struct elog_err err;
	char msg[BROKER_MSG_MAX];
	const char *group, *member;
	size_t glen, mlen;
	uint32_t topics, parts, timeout_ms, at = 0, index = 0;
	struct group_state *state = NULL;
	int32_t epoch;
	int16_t code;
	struct timespec ts;
	int64_t now;

	if (commit_skim(r, &topics, &parts) < 0)
		MALFORMED(c, rq, r);
	{
		/* Bounds and duplicates, as PRODUCE's: a partition named twice, more
		 * topics or partitions than the broker has, before any allocation. */
		static const struct elog_part_layout layout = {.entry_bytes = 16,
							       .entry_has_string = 1};
		struct elog_wire_r body = again;
		const char *s;
		size_t len;
		elog_wire_get_string(&body, &s, &len);
		elog_wire_get_string(&body, &s, &len);
		elog_wire_get_i32(&body);
		elog_wire_get_u32(&body);
		if (elog_broker_check_parts(c, rq, &body, &layout) < 0)
			return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	elog_wire_get_string(&again, &group, &glen);
	elog_wire_get_string(&again, &member, &mlen);
	epoch = elog_wire_get_i32(&again);
	timeout_ms = elog_wire_get_u32(&again);
	if (elog_group_name_check(group, glen, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if ((mlen == 0) != (epoch == -1)) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST,
					"a commit names a member and its epoch, or neither "
					"(member \"\", epoch -1)");
		return;
	}
	if (parts > GROUP_COMMIT_PARTS_MAX) {
		snprintf(msg, sizeof(msg), "%u partitions in one commit; at most %d", parts,
			 GROUP_COMMIT_PARTS_MAX);
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (!(gp = elog_group_coordinated(b, group, glen, &tb, &index, &code, msg, sizeof(msg))) ||
	    elog_member_commit_check(b, index, tb, group, glen, member, mlen, epoch, &state, &code,
				     msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	gs = b->groups;
	/* One more part than asked: the append to the group's partition. */
	w = elog_waiter_new(c, WAIT_COMMIT, rq, topics, parts + 1);
	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	w->topic_count = topics;
	w->part_count = parts;
	append = &w->parts[parts];
	elog_batch_builder_reset(&gs->builder);
	elog_wire_get_count(&again, 2 + 4);
	for (uint32_t i = 0; i < topics; i++) {
		struct wait_topic *wt = &w->topics[i];
		const char *topic;
		size_t tlen;
		elog_wire_get_string(&again, &topic, &tlen);
		wt->part_count = elog_wire_get_count(&again, 4 + 8 + 8 + 2);
		wt->first_part = at;
		snprintf(wt->name, sizeof(wt->name), "%.*s",
			 (int)(tlen < sizeof(wt->name) ? tlen : sizeof(wt->name) - 1), topic);
		for (uint32_t k = 0; k < wt->part_count; k++, at++) {
			struct wait_part *part = &w->parts[at];
			uint8_t key[OFFSET_KEY_MAX], value[COMMIT_VALUE_MAX];
			struct elog_record rec = {0};
			const char *meta;
			size_t meta_len, klen;
			int64_t offset, hw;
			part->topic_index = i;
			part->id = elog_wire_get_u32(&again);
			offset = elog_wire_get_i64(&again);
			hw = elog_wire_get_i64(&again);
			elog_wire_get_string(&again, &meta, &meta_len);
			if (elog_topic_name_check(topic, tlen, 1, &err) < 0) {
				commit_part_error(part, ELOG_PE_INVALID_TOPIC, "%s", err.msg);
				continue;
			}
			{
				/* Commits of what does not exist would only mislead elog-lag. */
				const struct elog_topic *ct = elog_store_find(b->store, topic, tlen);
				if (!ct) {
					commit_part_error(part, ELOG_PE_UNKNOWN_TOPIC, "no such topic");
					continue;
				}
				if (part->id >= ct->partition_count) {
					commit_part_error(part, ELOG_PE_UNKNOWN_PARTITION,
							  "topic has %u partitions", ct->partition_count);
					continue;
				}
			}
			if (state && !elog_member_may_commit_partition(state, member, mlen, topic, tlen,
								       part->id)) {
				commit_part_error(part, ELOG_PE_FENCED_MEMBER_EPOCH,
						  "the member does not own this partition now");
				continue;
			}
			if (offset < 0 || hw < -1) {
				commit_part_error(part, ELOG_PE_INVALID_REQUEST,
						  "offset %" PRId64 " or high watermark %" PRId64
						  " is negative",
						  offset, hw);
				continue;
			}
			if (meta_len > GROUP_METADATA_MAX) {
				commit_part_error(part, ELOG_PE_INVALID_REQUEST,
						  "metadata of %zu bytes; at most %d", meta_len,
						  GROUP_METADATA_MAX);
				continue;
			}
			klen = offset_key(key, group, glen, topic, tlen, part->id);
			{
				const struct kv *prev = elog_group_kv_get(tb, key, klen);
				if (!prev && gs->keys >= GROUP_KEYS_MAX) {
					commit_part_error(part, ELOG_PE_RESOURCE_LIMIT,
							  "the broker holds its limit of %u commits",
							  GROUP_KEYS_MAX);
					continue;
				}
				rec.value_len = (int32_t)value_encode(value, offset, now, hw,
								      (const uint8_t *)meta, meta_len,
								      prev);
			}
			rec.timestamp_ms = now;
			rec.key = key;
			rec.key_len = (int32_t)klen;
			rec.value = value;
			if (elog_batch_builder_add(&gs->builder, &rec, &err) < 0)
				commit_part_error(part, ELOG_PE_BATCH_TOO_LARGE, "%s", err.msg);
		}
	}
	append->id = gp->id;
	append_and_wait(b, w, append, gp, timeout_ms);
}

/* Committed (as an acks=all produce) and read into the table. */
int elog_broker_commit_done(struct elog_waiter *w)
{
	struct elog_broker *b = w->broker;
	struct wait_part *append = &w->parts[w->part_count];
	struct elog_groups *gs = b->groups;
	const struct elog_topic *t;
	struct group_table *tables;

	if (!append->p || append->error)
		return 1;
	if (!elog_broker_part_durable(b, w, append))
		return 0;
	if (append->error)
		return 1;
	t = append->p->topic;
	if (!gs || !(tables = tables_for(gs, t))) {
		commit_part_error(append, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return 1;
	}
	if (table_read(b, gs, &tables[append->id], append->p, GROUP_READ_TURN_BYTES) < 0) {
		commit_part_error(append, ELOG_PE_UNKNOWN_SERVER_ERROR,
				  "committed, but not read back: see the broker log");
		return 1;
	}
	return tables[append->id].applied >= append->need_offset;
}

void elog_broker_commit_timeout(struct elog_waiter *w)
{
	if (!elog_broker_commit_done(w))
		commit_part_error(&w->parts[w->part_count], ELOG_PE_TIMEOUT,
				  "not committed within the request's timeout");
	elog_broker_commit_answer(w);
}

void elog_broker_commit_shutdown(struct elog_waiter *w)
{
	commit_part_error(&w->parts[w->part_count], ELOG_PE_SHUTTING_DOWN,
			  "the broker is stopping; the commit may still be committed");
	elog_broker_commit_answer(w);
}

void elog_broker_commit_answer(struct elog_waiter *w)
{
	struct elog_conn *c = w->conn;
	const struct wait_part *append = &w->parts[w->part_count];
	struct elog_wire_w wr;
	struct elog_err err;
	int16_t code = append->error;

	/* The group's partition led elsewhere now: the client finds it again. */
	if (code == ELOG_PE_NOT_LEADER || code == ELOG_PE_LEADER_UNKNOWN)
		code = ELOG_PE_NOT_COORDINATOR;
	if ((w->request.api & ~ELOG_API_RESPONSE) == ELOG_API_DELETE_GROUP) {
		elog_wire_w_init(&wr, &c->out);
		elog_wire_response_begin(&wr, &w->request, code, code ? append->message : NULL);
		if (!code)
			elog_wire_put_u32(&wr, w->max_bytes);
		if (elog_wire_frame_end(&wr, &err) < 0)
			c->closing = 1;
		elog_waiter_free(w);
		elog_conn_answered(c);
		return;
	}
	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&wr, w->topic_count);
	for (uint32_t i = 0; i < w->topic_count; i++) {
		const struct wait_topic *wt = &w->topics[i];
		elog_wire_put_cstring(&wr, wt->name);
		elog_wire_put_u32(&wr, wt->part_count);
		for (uint32_t k = wt->first_part; k < wt->first_part + wt->part_count; k++) {
			const struct wait_part *part = &w->parts[k];
			elog_wire_put_u32(&wr, part->id);
			elog_wire_put_i16(&wr, part->error ? part->error : code);
			elog_wire_put_cstring(&wr, part->error ? part->message
							       : code ? append->message : "");
		}
	}
	if (elog_wire_frame_end(&wr, &err) < 0)
		c->closing = 1;
	elog_waiter_free(w);
	elog_conn_answered(c);
}

/* ---------------------------------------------------------------- OFFSET_FETCH */

struct fetched {
	const uint8_t *topic;
	size_t topic_len;
	uint32_t partition;
	const struct kv *e;
};

static int fetched_cmp(const void *a, const void *b)
{
	const struct fetched *x = a, *y = b;
	size_t n = x->topic_len < y->topic_len ? x->topic_len : y->topic_len;
	int c = memcmp(x->topic, y->topic, n);

	if (c)
		return c;
	if (x->topic_len != y->topic_len)
		return x->topic_len < y->topic_len ? -1 : 1;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int same_topic(const struct fetched *x, const struct fetched *y)
{
	return x->topic_len == y->topic_len && memcmp(x->topic, y->topic, x->topic_len) == 0;
}

static void put_committed(struct elog_wire_w *w, uint32_t partition, const struct kv *e)
{
	struct commit_value cv;

	elog_wire_put_u32(w, partition);
	if (!e || value_decode(e->data + e->key_len, e->value_len, &cv) < 0) {
		elog_wire_put_i16(w, ELOG_PE_NONE);
		elog_wire_put_cstring(w, "");
		elog_wire_put_i64(w, -1);
		elog_wire_put_i64(w, -1);
		elog_wire_put_i64(w, -1);
		elog_wire_put_string(w, "", 0);
		elog_wire_put_u32(w, 0);
		return;
	}
	elog_wire_put_i16(w, ELOG_PE_NONE);
	elog_wire_put_cstring(w, "");
	elog_wire_put_i64(w, cv.offset);
	elog_wire_put_i64(w, cv.time_ms);
	elog_wire_put_i64(w, cv.high_watermark);
	elog_wire_put_string(w, (const char *)cv.metadata, cv.metadata_len);
	elog_wire_put_u32(w, cv.window_count);
	for (uint32_t i = 0; i < cv.window_count; i++)
		for (int k = 0; k < 3; k++)
			elog_wire_put_i64(w, cv.window[i][k]);
}

/* Every commit of the group into *out (sorted by topic and partition; free
 * it); -1 out of memory. */
static int collect(const struct group_table *tb, const char *group, size_t glen,
		   struct fetched **out, size_t *count)
{
	struct fetched *all = NULL;
	size_t n = 0, cap = 0;

	for (uint32_t i = 0; i < tb->slot_count; i++)
		for (const struct kv *e = tb->slots[i]; e; e = e->next) {
			const uint8_t *k = e->data;
			size_t tl;
			if (e->key_len < 1 + 2 + glen + 2 + 4 || k[0] != GROUP_KEY_OFFSET ||
			    elog_get16(k + 1) != glen || memcmp(k + 3, group, glen) != 0)
				continue;
			tl = elog_get16(k + 3 + glen);
			if (e->key_len != 1 + 2 + glen + 2 + tl + 4)
				continue;
			if (n == cap) {
				struct fetched *grown;
				cap = cap ? cap * 2 : 64;
				grown = realloc(all, cap * sizeof(*all));
				if (!grown) {
					free(all);
					return -1;
				}
				all = grown;
			}
			all[n].topic = k + 5 + glen;
			all[n].topic_len = tl;
			all[n].partition = elog_get32(k + 5 + glen + tl);
			all[n].e = e;
			n++;
		}
	if (n)
		qsort(all, n, sizeof(*all), fetched_cmp);
	*out = all;
	*count = n;
	return 0;
}

/* Bytes put_all would write for all[0..n). */
static uint64_t all_bytes(const struct fetched *all, size_t n)
{
	uint64_t bytes = 4;

	for (size_t i = 0; i < n; i++) {
		const struct kv *e = all[i].e;
		bytes += 4 + 2 + 2 + 24 + 4 + e->value_len; /* the value holds metadata and window */
		if (i == 0 || !same_topic(&all[i - 1], &all[i]))
			bytes += 2 + all[i].topic_len + 4;
	}
	return bytes;
}

static void put_all(struct elog_wire_w *w, const struct fetched *all, size_t n)
{
	size_t topics = 0;

	for (size_t i = 0; i < n; i++)
		topics += i == 0 || !same_topic(&all[i - 1], &all[i]);
	elog_wire_put_u32(w, (uint32_t)topics);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && same_topic(&all[i], &all[j]))
			j++;
		elog_wire_put_string(w, (const char *)all[i].topic, all[i].topic_len);
		elog_wire_put_u32(w, (uint32_t)(j - i));
		for (; i < j; i++)
			put_committed(w, all[i].partition, all[i].e);
	}
}

int elog_group_put_offsets(struct elog_broker *b, struct elog_wire_w *w,
			   const struct group_table *tb, const char *group, size_t glen)
{
	struct fetched *all;
	size_t n, topics = 0;

	if (collect(tb, group, glen, &all, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		topics += i == 0 || !same_topic(&all[i - 1], &all[i]);
	elog_wire_put_u32(w, (uint32_t)topics);
	for (size_t i = 0; i < n;) {
		const struct elog_topic *t = elog_store_find(b->store, (const char *)all[i].topic,
							     all[i].topic_len);
		size_t j = i;
		while (j < n && same_topic(&all[i], &all[j]))
			j++;
		elog_wire_put_string(w, (const char *)all[i].topic, all[i].topic_len);
		elog_wire_put_u32(w, (uint32_t)(j - i));
		for (; i < j; i++) {
			const struct kv *e = all[i].e;
			struct commit_value cv;
			int64_t hw = -1, off = -1;
			if (value_decode(e->data + e->key_len, e->value_len, &cv) == 0)
				off = cv.offset;
			if (t && all[i].partition < t->partition_count &&
			    t->partitions[all[i].partition]->log)
				hw = elog_broker_high_watermark(t->partitions[all[i].partition]);
			elog_wire_put_u32(w, all[i].partition);
			elog_wire_put_i64(w, off);
			elog_wire_put_i64(w, hw);
			elog_wire_put_i64(w, hw >= 0 && off >= 0 ? (hw > off ? hw - off : 0) : -1);
		}
	}
	free(all);
	return 0;
}

void elog_broker_offset_fetch(struct elog_conn *c, const struct elog_frame_header *rq,
			      struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again;
	struct elog_wire_w w;
	struct group_table *tb = NULL;
	struct group_state *state;
	char msg[BROKER_MSG_MAX];
	const char *group, *s, *member = "";
	size_t glen, len, mlen = 0;
	uint32_t topics, parts = 0, index = 0;
	int32_t epoch = -1;
	int16_t code;

	elog_wire_r_field(r, "group");
	elog_wire_get_string(r, &group, &glen);
	if (rq->version >= 2) {
		elog_wire_r_field(r, "member_id");
		elog_wire_get_string(r, &member, &mlen);
		elog_wire_r_field(r, "member_epoch");
		epoch = elog_wire_get_i32(r);
	}
	again = *r;
	elog_wire_r_field(r, "topics");
	topics = elog_wire_get_count(r, 2 + 4);
	for (uint32_t i = 0; i < topics && !r->failed; i++) {
		uint32_t n;
		elog_wire_get_string(r, &s, &len);
		n = elog_wire_get_count(r, 4);
		for (uint32_t k = 0; k < n; k++)
			elog_wire_get_u32(r);
		parts += n;
	}
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_group_name_check(group, glen, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (parts > GROUP_COMMIT_PARTS_MAX) {
		snprintf(msg, sizeof(msg), "%u partitions asked; at most %d", parts,
			 GROUP_COMMIT_PARTS_MAX);
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (!elog_group_coordinated(b, group, glen, &tb, &index, &code, msg, sizeof(msg))) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	/* A member reads as it commits: a zombie is told so (a read of
	 * another's offsets would mislead it). Anyone else reads freely. */
	if (mlen && elog_member_commit_check(b, index, tb, group, glen, member, mlen, epoch,
					     &state, &code, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	topics = elog_wire_get_count(&again, 2 + 4);
	if (topics == 0) {
		struct fetched *all;
		size_t n;
		if (collect(tb, group, glen, &all, &n) < 0) {
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
			return;
		}
		/* Built and thrown away at every retry otherwise: refused, for good. */
		if (all_bytes(all, n) + 64 > b->config.max_frame_bytes) {
			char big[BROKER_MSG_MAX];
			snprintf(big, sizeof(big),
				 "the group's %zu commits take %" PRIu64 " bytes, more than one answer "
				 "(max_frame_bytes %u): ask for them by topic",
				 n, all_bytes(all, n), b->config.max_frame_bytes);
			free(all);
			elog_broker_reply_error(c, rq, ELOG_PE_FRAME_TOO_LARGE, big);
			return;
		}
		elog_wire_w_init(&w, &c->out);
		elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
		put_all(&w, all, n);
		free(all);
		elog_broker_finish(c, &w);
		return;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&w, topics);
	for (uint32_t i = 0; i < topics; i++) {
		const char *topic;
		size_t tlen;
		uint32_t n;
		elog_wire_get_string(&again, &topic, &tlen);
		n = elog_wire_get_count(&again, 4);
		elog_wire_put_string(&w, topic, tlen);
		elog_wire_put_u32(&w, n);
		for (uint32_t k = 0; k < n; k++) {
			uint8_t key[OFFSET_KEY_MAX];
			uint32_t id = elog_wire_get_u32(&again);
			if (tlen == 0 || tlen > ELOG_TOPIC_NAME_MAX) {
				elog_wire_put_u32(&w, id);
				elog_wire_put_i16(&w, ELOG_PE_INVALID_TOPIC);
				elog_wire_put_cstring(&w, "bad topic name");
				elog_wire_put_i64(&w, -1);
				elog_wire_put_i64(&w, -1);
				elog_wire_put_i64(&w, -1);
				elog_wire_put_string(&w, "", 0);
				elog_wire_put_u32(&w, 0);
				continue;
			}
			put_committed(&w, id,
				      elog_group_kv_get(tb, key, offset_key(key, group, glen, topic, tlen, id)));
		}
	}
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- DELETE_GROUP */

/*
 * A group without members goes: a null value for its group record and for
 * every commit of it, in one batch, answered once committed and read (as
 * OFFSET_COMMIT). Refused while it has members (GROUP_NOT_EMPTY).
 */
void elog_broker_delete_group(struct elog_conn *c, const struct elog_frame_header *rq,
			      struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_groups *gs;
	struct group_table *tb = NULL;
	struct elog_partition *gp;
	struct elog_waiter *w;
	struct wait_part *append;
	struct fetched *all = NULL;
	struct elog_err err;
	char msg[BROKER_MSG_MAX];
	const char *group;
	size_t glen, n = 0;
	uint32_t timeout_ms, index = 0, deleted = 0;
	int16_t code;
	uint8_t key[3 + GROUP_NAME_MAX];
	struct timespec ts;

	elog_wire_r_field(r, "group");
	elog_wire_get_string(r, &group, &glen);
	elog_wire_r_field(r, "timeout_ms");
	timeout_ms = elog_wire_get_u32(r);
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_group_name_check(group, glen, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (!(gp = elog_group_coordinated(b, group, glen, &tb, &index, &code, msg, sizeof(msg)))) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	if (elog_member_group_active(b, index, tb, group, glen, msg, sizeof(msg))) {
		elog_broker_reply_error(c, rq, ELOG_PE_GROUP_NOT_EMPTY, msg);
		return;
	}
	if (collect(tb, group, glen, &all, &n) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	gs = b->groups;
	if (!(w = elog_waiter_new(c, WAIT_COMMIT, rq, 0, 1))) {
		free(all);
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	append = &w->parts[0];
	append->id = index;
	clock_gettime(CLOCK_REALTIME, &ts);
	elog_batch_builder_reset(&gs->builder);
	key[0] = GROUP_KEY_GROUP;
	elog_put16(key + 1, (uint16_t)glen);
	memcpy(key + 3, group, glen);
	for (size_t i = 0; i <= n; i++) {
		struct elog_record rec = {0};
		if (i < n) {
			rec.key = all[i].e->data;
			rec.key_len = (int32_t)all[i].e->key_len;
		} else if (elog_group_kv_get(tb, key, 3 + glen)) {
			rec.key = key;
			rec.key_len = (int32_t)(3 + glen);
		} else {
			break;
		}
		rec.value_len = -1;
		rec.timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (elog_batch_builder_add(&gs->builder, &rec, &err) < 0) {
			commit_part_error(append, ELOG_PE_BATCH_TOO_LARGE, "%s", err.msg);
			break;
		}
		deleted += i < n;
	}
	free(all);
	w->max_bytes = deleted;
	append_and_wait(b, w, append, gp, timeout_ms);
}

/* ---------------------------------------------------------------- LIST_GROUPS */

struct name_ref {
	const uint8_t *name;
	size_t len;
};

static int name_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * The groups this broker coordinates: those with commits in the
 * __groups partitions it leads and has read, sorted, each once; and which
 * partitions those were (of how many), so that a client asking every
 * broker knows when the union is whole: every partition covered by the
 * broker that leads it, however many brokers did not answer.
 */
void elog_broker_list_groups(struct elog_conn *c, const struct elog_frame_header *rq,
			     struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
					       strlen(ELOG_GROUPS_TOPIC));
	struct elog_groups *gs = groups_get(b);
	struct group_table *tables = NULL;
	struct name_ref *names = NULL;
	size_t n = 0, cap = 0, out = 0;
	uint32_t covered = 0, *cover = NULL;
	struct elog_wire_w w;

	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (t && (!gs || !(tables = tables_for(gs, t)) ||
		  !(cover = malloc(t->partition_count * sizeof(*cover))))) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	for (uint32_t i = 0; t && i < t->partition_count; i++) {
		struct elog_partition *p = t->partitions[i];
		const struct group_table *tb = &tables[i];
		if (!p->log || (b->cluster && !elog_broker_raft_leads(p)))
			continue;
		if ((b->cluster && !elog_broker_raft_leader_current(p)) ||
		    table_read(b, gs, &tables[i], p, GROUP_READ_TURN_BYTES) != 1)
			continue;
		cover[covered++] = i;
		for (uint32_t k = 0; k < tb->slot_count; k++)
			for (const struct kv *e = tb->slots[k]; e; e = e->next) {
				size_t glen;
				if (e->key_len < 3 || (e->data[0] != GROUP_KEY_OFFSET &&
						       e->data[0] != GROUP_KEY_GROUP))
					continue;
				glen = elog_get16(e->data + 1);
				if (e->key_len < 3 + glen)
					continue;
				if (n == cap) {
					struct name_ref *grown;
					cap = cap ? cap * 2 : 64;
					if (!(grown = realloc(names, cap * sizeof(*names)))) {
						free(names);
						free(cover);
						elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT,
									"out of memory");
						return;
					}
					names = grown;
				}
				names[n++] = (struct name_ref){e->data + 3, glen};
			}
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++)
		out += i == 0 || name_cmp(&names[i - 1], &names[i]) != 0;
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&w, t ? t->partition_count : 0);
	elog_wire_put_u32(&w, covered);
	for (uint32_t i = 0; i < covered; i++)
		elog_wire_put_u32(&w, cover[i]);
	free(cover);
	elog_wire_put_u32(&w, (uint32_t)out);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || name_cmp(&names[i - 1], &names[i]) != 0)
			elog_wire_put_string(&w, (const char *)names[i].name, names[i].len);
	free(names);
	elog_broker_finish(c, &w);
}
