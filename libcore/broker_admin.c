/* broker_admin — metadata, topic administration, producer ids, list offsets,
 * delete records (docs/protocol.md, apis 1-6, 9 and 10); see broker.h. */
#include "broker.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "broker_raft.h"

#define CONFIGS_MAX 64
#define CONFIG_KEY_MAX 64
#define CONFIG_VALUE_MAX 256

/* Write the frame begun on w, or kill the connection when it cannot be. */
void elog_broker_finish(struct elog_conn *c, struct elog_wire_w *w)
{
	struct elog_err err;

	if (elog_wire_frame_end(w, &err) < 0) {
		elog_broker_logf(c->broker, ELOG_LOG_ERROR, "response too large",
				 "conn=%" PRIu64 " limit=%zu", c->id, c->out.len_max);
		elog_conn_kill(c, "response too large");
	}
}

/* Read every string of an array<string>; pass 1 of two (the body is read
 * again to answer). 0 if the body parsed exactly. */
static int skim_names(struct elog_wire_r *r, uint32_t *count)
{
	const char *s;
	size_t len;

	elog_wire_r_field(r, "topics");
	*count = elog_wire_get_count(r, 2);
	for (uint32_t i = 0; i < *count; i++)
		elog_wire_get_string(r, &s, &len);
	return elog_wire_r_end(r, NULL);
}

/* ---------------------------------------------------------------- auto-creation */

struct elog_topic *elog_broker_auto_create(struct elog_conn *c, const char *name, size_t len,
					   int16_t *code, char *msg, size_t cap)
{
	struct elog_broker *b = c->broker;
	struct elog_topic *t = elog_store_find(b->store, name, len);
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];

	if (t)
		return t;
	if (elog_topic_name_check(name, len, 0, &err) < 0) {
		*code = ELOG_PE_INVALID_TOPIC;
		snprintf(msg, cap, "%s", err.msg);
		return NULL;
	}
	if (!b->config.auto_create_topics) {
		*code = ELOG_PE_UNKNOWN_TOPIC;
		snprintf(msg, cap, "no such topic (auto_create_topics is off)");
		return NULL;
	}
	if (b->cluster)
		return elog_broker_raft_auto_create(b, name, len, 0, &b->config.store.defaults, code,
						    msg, cap);
	if (elog_store_create(b->store, name, len, b->config.store.default_partitions,
			      &b->config.store.defaults, &t, &err) < 0) {
		*code = err.code == ELOG_E_LIMIT     ? ELOG_PE_RESOURCE_LIMIT
			: err.code == ELOG_E_NOSPACE ? ELOG_PE_STORAGE_FULL
						     : ELOG_PE_STORAGE_ERROR;
		snprintf(msg, cap, "cannot create the topic: %s", err.msg);
		return NULL;
	}
	assert(t && t->partition_count > 0);
	elog_broker_logf(b, ELOG_LOG_INFO, "topic created", "topic=%s partitions=%u reason=auto conn=%" PRIu64,
			 elog_logfmt_value(v, sizeof(v), t->name), t->partition_count, c->id);
	return t;
}

/* ---------------------------------------------------------------- metadata */

static void put_partition_meta(struct elog_broker *b, struct elog_wire_w *w,
			       const struct elog_topic *t, uint32_t i)
{
	struct elog_route route;
	uint32_t in_sync = 0;

	elog_broker_route(b, t, i, &route);
	elog_wire_put_u32(w, t->partitions[i]->id);
	elog_wire_put_i16(w, route.leader_id < 0 ? ELOG_PE_LEADER_UNKNOWN : ELOG_PE_NONE);
	elog_wire_put_i32(w, route.leader_id);
	elog_wire_put_i64(w, (int64_t)route.leader_term);
	elog_wire_put_u32(w, route.replica_count);
	for (uint32_t k = 0; k < route.replica_count; k++)
		elog_wire_put_i32(w, route.replicas[k]);
	for (uint32_t k = 0; k < route.replica_count; k++)
		in_sync += route.in_sync[k] != 0;
	elog_wire_put_u32(w, in_sync);
	for (uint32_t k = 0; k < route.replica_count; k++)
		if (route.in_sync[k])
			elog_wire_put_i32(w, route.replicas[k]);
}

static void put_topic_meta(struct elog_broker *b, struct elog_wire_w *w, const char *name,
			   size_t len, const struct elog_topic *t, int16_t missing_code)
{
	elog_wire_put_string(w, name, len);
	elog_wire_put_i16(w, t ? ELOG_PE_NONE : missing_code);
	elog_wire_put_u32(w, t ? t->partition_count : 0);
	for (uint32_t i = 0; t && i < t->partition_count; i++)
		put_partition_meta(b, w, t, i);
}

/*
 * Version 1: array<string> topics. Version 2 adds bool allow_auto_create:
 * the named topics that do not exist are created first (when
 * auto_create_topics is on), so the answer lists their partitions. A
 * topic that cannot be created comes back with the reason's code.
 */
void elog_broker_metadata(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again = *r;
	struct elog_wire_w w;
	const char *host = b->config.advertise_host[0] ? b->config.advertise_host
						       : b->config.listen_host;
	uint32_t count;
	int allow_auto_create = 0;

	if (rq->version >= 2) {
		const char *s;
		size_t len;

		elog_wire_r_field(r, "topics");
		count = elog_wire_get_count(r, 2);
		for (uint32_t i = 0; i < count; i++)
			elog_wire_get_string(r, &s, &len);
		elog_wire_r_field(r, "allow_auto_create");
		allow_auto_create = elog_wire_get_u8(r);
		if (allow_auto_create > 1)
			r->failed = 1;
		if (elog_wire_r_end(r, NULL) < 0)
			MALFORMED(c, rq, r);
	} else if (skim_names(r, &count) < 0) {
		MALFORMED(c, rq, r);
	}
	if (elog_broker_check_names(c, rq, &again) < 0)
		return;
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	if (b->cluster) {
		/* Every member as --cluster names it; the controller is the
		 * metadata group's leader (-1 while there is none). */
		const struct elog_cluster_config *cl = &b->config.cluster;
		elog_wire_put_i32(&w, elog_broker_raft_controller(b));
		elog_wire_put_u32(&w, cl->count);
		for (uint32_t i = 0; i < cl->count; i++) {
			elog_wire_put_i32(&w, cl->members[i].id);
			elog_wire_put_cstring(&w, cl->members[i].host);
			elog_wire_put_u16(&w, cl->members[i].port);
		}
	} else {
		elog_wire_put_i32(&w, b->config.broker_id);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_i32(&w, b->config.broker_id);
		elog_wire_put_cstring(&w, host);
		elog_wire_put_u16(&w, b->port);
	}
	elog_wire_get_count(&again, 2);
	elog_wire_put_u32(&w, count ? count : b->store->topic_count);
	for (uint32_t i = 0; i < count; i++) {
		const char *name;
		size_t len;
		int16_t code = ELOG_PE_UNKNOWN_TOPIC;
		char msg[BROKER_MSG_MAX];
		const struct elog_topic *t;

		elog_wire_get_string(&again, &name, &len);
		t = allow_auto_create ? elog_broker_auto_create(c, name, len, &code, msg, sizeof(msg))
				      : elog_store_find(b->store, name, len);
		put_topic_meta(b, &w, name, len, t, code);
	}
	for (uint32_t i = 0; count == 0 && i < b->store->topic_count; i++) {
		const struct elog_topic *t = b->store->topics[i];
		put_topic_meta(b, &w, t->name, strlen(t->name), t, ELOG_PE_UNKNOWN_TOPIC);
	}
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- configs */

/* Apply array<config> to *cfg; on a bad key or value fill msg and return -1.
 * r must be positioned at the array; the caller checks r_end afterwards. */
static int read_configs(struct elog_wire_r *r, struct elog_topic_config *cfg, char *msg,
			size_t cap)
{
	uint32_t n;
	int rc = 0;

	elog_wire_r_field(r, "configs");
	n = elog_wire_get_count(r, 4);
	for (uint32_t i = 0; i < n; i++) {
		const char *k, *v;
		size_t kl, vl;
		char key[CONFIG_KEY_MAX], value[CONFIG_VALUE_MAX];
		struct elog_err err;
		elog_wire_get_string(r, &k, &kl);
		elog_wire_get_string(r, &v, &vl);
		if (rc < 0 || r->failed)
			continue;
		if (kl >= sizeof(key) || vl >= sizeof(value) || n > CONFIGS_MAX) {
			snprintf(msg, cap, "config key or value too long, or too many keys");
			rc = -1;
			continue;
		}
		memcpy(key, k, kl);
		key[kl] = 0;
		memcpy(value, v, vl);
		value[vl] = 0;
		if (elog_topic_config_set(cfg, key, value, &err) < 0) {
			snprintf(msg, cap, "%s", err.msg);
			rc = -1;
		}
	}
	if (rc == 0 && elog_topic_config_check(cfg, NULL) < 0) {
		struct elog_err err;
		elog_topic_config_check(cfg, &err);
		snprintf(msg, cap, "%s", err.msg);
		rc = -1;
	}
	return rc;
}

/* The protocol code for a store failure of create/alter/delete (broker_int.h). */
int elog_broker_store_error(const struct elog_err *err)
{
	switch (err->code) {
	case ELOG_E_BUSY: return ELOG_PE_TOPIC_EXISTS;
	case ELOG_E_INVAL: return ELOG_PE_INVALID_REQUEST;
	case ELOG_E_LIMIT: return ELOG_PE_RESOURCE_LIMIT;
	case ELOG_E_NOSPACE: return ELOG_PE_STORAGE_FULL;
	default: return ELOG_PE_STORAGE_ERROR;
	}
}

static void log_topic(struct elog_conn *c, const char *what, const struct elog_topic *t)
{
	char v[ELOG_LOG_VALUE_MAX], flush[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_topic_config_get(&t->config, elog_topic_config_find("flush"), flush, sizeof(flush));
	elog_broker_logf(c->broker, ELOG_LOG_INFO, what, "topic=%s partitions=%u flush=%s conn=%" PRIu64,
			 elog_logfmt_value(v, sizeof(v), t->name), t->partition_count, flush, c->id);
}

/* ---------------------------------------------------------------- create */

void elog_broker_create_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_topic_config cfg = b->config.store.defaults;
	struct elog_topic *t;
	struct elog_err err;
	char msg[BROKER_MSG_MAX] = "";
	const char *name;
	size_t len;
	uint32_t partitions;
	uint16_t replication;
	int bad_config;

	elog_wire_r_field(r, "name");
	elog_wire_get_string(r, &name, &len);
	elog_wire_r_field(r, "partitions");
	partitions = elog_wire_get_u32(r);
	elog_wire_r_field(r, "replication_factor");
	replication = elog_wire_get_u16(r);
	bad_config = read_configs(r, &cfg, msg, sizeof(msg));
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_topic_name_check(name, len, 0, &err) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_TOPIC, err.msg);
		return;
	}
	if (bad_config < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_CONFIG, msg);
		return;
	}
	if (b->cluster &&
	    elog_broker_raft_create_topic(c, rq, name, len, partitions, replication, &cfg))
		return;
	if (replication > 1) {
		snprintf(msg, sizeof(msg), "replication factor %u is more than the 1 broker there is",
			 replication);
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (partitions == 0)
		partitions = b->config.store.default_partitions;
	if (elog_store_create(b->store, name, len, partitions, &cfg, &t, &err) < 0) {
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return;
	}
	log_topic(c, "topic created", t);
	elog_broker_reply_error(c, rq, ELOG_PE_NONE, NULL);
}

/* ---------------------------------------------------------------- delete */

void elog_broker_delete_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_topic *t;
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX], name_copy[ELOG_TOPIC_NAME_MAX + 1];
	const char *name;
	size_t len;

	elog_wire_r_field(r, "name");
	elog_wire_get_string(r, &name, &len);
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	t = elog_store_find(b->store, name, len);
	if (!t) {
		elog_broker_reply_error(c, rq, ELOG_PE_UNKNOWN_TOPIC,
					"no such topic");
		return;
	}
	if (elog_store_internal_name(name, len)) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_TOPIC,
					"the broker's own topic cannot be deleted");
		return;
	}
	if (b->cluster && elog_broker_raft_delete_topic(c, rq, t))
		return;
	snprintf(name_copy, sizeof(name_copy), "%s", t->name);
	elog_broker_forget_topic(b, t);
	if (elog_store_delete(b->store, t, &err) < 0) {
		elog_broker_logf(b, ELOG_LOG_ERROR, "topic delete failed", "topic=%s error=%s", name_copy,
				 elog_logfmt_value(v, sizeof(v), err.msg));
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return;
	}
	elog_broker_logf(b, ELOG_LOG_INFO, "topic deleted", "topic=%s conn=%" PRIu64,
			 elog_logfmt_value(v, sizeof(v), name_copy), c->id);
	elog_broker_reply_error(c, rq, ELOG_PE_NONE, NULL);
}

/* ---------------------------------------------------------------- describe */

/*
 * Version 3 adds, per partition, where it lives (struct elog_route): the
 * leader, its term and each replica with the leader's view of its end and
 * lag; status 3 (unavailable) when no majority of replicas is reachable.
 */
static void put_partition_route(struct elog_wire_w *w, const struct elog_route *route)
{
	int64_t leader_end = -1;

	for (uint32_t k = 0; k < route->replica_count; k++)
		if (route->replicas[k] == route->leader_id)
			leader_end = route->replica_end[k];
	elog_wire_put_i32(w, route->leader_id);
	elog_wire_put_u64(w, route->leader_term);
	elog_wire_put_u32(w, route->replica_count);
	for (uint32_t k = 0; k < route->replica_count; k++) {
		int64_t end = route->replica_end[k];
		elog_wire_put_i32(w, route->replicas[k]);
		elog_wire_put_u8(w, route->in_sync[k] ? 1 : 0);
		elog_wire_put_i64(w, end);
		elog_wire_put_i64(w, end >= 0 && leader_end >= end ? leader_end - end : -1);
	}
}

static void put_partition_description(struct elog_broker *b, struct elog_wire_w *w,
				      uint16_t version, const struct elog_topic *t, uint32_t i)
{
	const struct elog_partition *p = t->partitions[i];
	char detail[BROKER_MSG_MAX];
	struct elog_route route;
	int status;

	elog_wire_put_u32(w, p->id);
	elog_wire_put_i64(w, elog_partlog_start_offset(p->log));
	elog_wire_put_i64(w, elog_broker_high_watermark(p));
	elog_wire_put_u64(w, elog_partlog_size_bytes(p->log));
	elog_wire_put_u32(w, elog_partlog_segment_count(p->log));
	if (version < 2)
		return;
	/* 2: u8 status (0 ok, 1 damaged, 2 failed; 3 unavailable from 3 on), string detail */
	status = elog_store_partition_status(p, detail, sizeof(detail));
	elog_broker_route(b, t, i, &route);
	if (version >= 3 && !route.available && status != ELOG_PARTITION_FAILED) {
		status = ELOG_DESCRIBE_STATUS_UNAVAILABLE;
		snprintf(detail, sizeof(detail), "no majority of its %u replicas is reachable",
			 route.replica_count);
	}
	elog_wire_put_u8(w, (uint8_t)status);
	elog_wire_put_cstring(w, detail);
	if (version >= 3)
		put_partition_route(w, &route);
}

static void put_topic_description(struct elog_broker *b, struct elog_wire_w *w, uint16_t version,
				  const char *name, size_t len, const struct elog_topic *t)
{
	char value[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_wire_put_string(w, name, len);
	elog_wire_put_i16(w, t ? ELOG_PE_NONE : ELOG_PE_UNKNOWN_TOPIC);
	elog_wire_put_u32(w, t ? t->partition_count : 0);
	elog_wire_put_u32(w, t ? ELOG_TOPIC_CONFIG_KEYS : 0);
	for (size_t i = 0; t && i < ELOG_TOPIC_CONFIG_KEYS; i++) {
		elog_topic_config_get(&t->config, i, value, sizeof(value));
		elog_wire_put_cstring(w, elog_topic_config_key(i));
		elog_wire_put_cstring(w, value);
	}
	elog_wire_put_u32(w, t ? t->partition_count : 0);
	for (uint32_t i = 0; t && i < t->partition_count; i++)
		put_partition_description(b, w, version, t, i);
}

void elog_broker_describe_topics(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again = *r;
	struct elog_wire_w w;
	uint32_t count;

	if (skim_names(r, &count) < 0)
		MALFORMED(c, rq, r);
	if (elog_broker_check_names(c, rq, &again) < 0)
		return;
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_get_count(&again, 2);
	elog_wire_put_u32(&w, count ? count : b->store->topic_count);
	for (uint32_t i = 0; i < count; i++) {
		const char *name;
		size_t len;
		elog_wire_get_string(&again, &name, &len);
		put_topic_description(b, &w, rq->version, name, len, elog_store_find(b->store, name, len));
	}
	for (uint32_t i = 0; count == 0 && i < b->store->topic_count; i++) {
		const struct elog_topic *t = b->store->topics[i];
		put_topic_description(b, &w, rq->version, t->name, strlen(t->name), t);
	}
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- alter */

void elog_broker_alter_topic(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_topic_config cfg;
	struct elog_topic *t;
	struct elog_err err;
	char msg[BROKER_MSG_MAX] = "";
	const char *name;
	size_t len;
	uint32_t partitions;
	int bad_config;

	elog_wire_r_field(r, "name");
	elog_wire_get_string(r, &name, &len);
	elog_wire_r_field(r, "partitions");
	partitions = elog_wire_get_u32(r);
	t = elog_store_find(b->store, name, len);
	cfg = t ? t->config : b->config.store.defaults;
	bad_config = read_configs(r, &cfg, msg, sizeof(msg));
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (!t) {
		elog_broker_reply_error(c, rq, ELOG_PE_UNKNOWN_TOPIC,
					"no such topic");
		return;
	}
	if (elog_store_internal_name(name, len)) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_TOPIC,
					"the broker's own topic cannot be altered");
		return;
	}
	if (bad_config < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_CONFIG, msg);
		return;
	}
	if (b->cluster && elog_broker_raft_alter_topic(c, rq, t, partitions, &cfg))
		return;
	if (elog_store_alter(b->store, t, partitions, &cfg, &err) < 0) {
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return;
	}
	log_topic(c, "topic altered", t);
	elog_broker_reply_error(c, rq, ELOG_PE_NONE, NULL);
}

/* ---------------------------------------------------------------- init producer */

void elog_broker_init_producer(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_wire_w w;
	struct elog_err err;
	int64_t id;

	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (c->broker->cluster && elog_broker_raft_init_producer(c, rq))
		return;
	if (elog_store_producer_id(c->broker->store, &id, &err) < 0) {
		elog_broker_reply_error(c, rq, elog_broker_store_error(&err), err.msg);
		return;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_i64(&w, id);
	elog_wire_put_i16(&w, 0);
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- list offsets */

static void put_offset(struct elog_broker *b, struct elog_wire_w *w, struct elog_partition *p,
		       uint32_t id, int64_t ts)
{
	struct elog_err err;
	int64_t offset = -1;
	int code = ELOG_PE_NONE;

	if (!p) {
		code = ELOG_PE_UNKNOWN_PARTITION;
		snprintf(err.msg, sizeof(err.msg), "no such topic or partition");
	} else if (b->cluster &&
		   (code = elog_broker_raft_leader_check(b, p, err.msg, sizeof(err.msg))) != 0) {
		/* only the leader answers */
	} else if (ts == -1) {
		offset = elog_broker_high_watermark(p);
	} else if (ts == -2) {
		offset = elog_partlog_start_offset(p->log);
	} else if (ts < 0) {
		code = ELOG_PE_INVALID_REQUEST;
		snprintf(err.msg, sizeof(err.msg), "timestamp %" PRId64 " is not -1, -2 or >= 0", ts);
	} else if (elog_partlog_find_time(p->log, ts, &offset, &err) < 0) {
		code = elog_broker_storage_error(&err);
		offset = -1;
	}
	elog_wire_put_u32(w, id);
	elog_wire_put_i16(w, (int16_t)code);
	elog_wire_put_cstring(w, code ? err.msg : "");
	elog_wire_put_i64(w, offset);
}

/* Walk the request; with w NULL only parse it. */
static void list_offsets_walk(struct elog_broker *b, struct elog_wire_r *r, struct elog_wire_w *w)
{
	uint32_t topics;

	elog_wire_r_field(r, "topics");
	topics = elog_wire_get_count(r, 6);
	if (w)
		elog_wire_put_u32(w, topics);
	for (uint32_t i = 0; i < topics; i++) {
		const char *name;
		size_t len;
		uint32_t queries;
		struct elog_topic *t;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &len);
		elog_wire_r_field(r, "queries");
		queries = elog_wire_get_count(r, 12);
		t = w ? elog_store_find(b->store, name, len) : NULL;
		if (w) {
			elog_wire_put_string(w, name, len);
			elog_wire_put_u32(w, queries);
		}
		for (uint32_t k = 0; k < queries; k++) {
			uint32_t id = elog_wire_get_u32(r);
			int64_t ts = elog_wire_get_i64(r);
			if (w)
				put_offset(b, w, t && id < t->partition_count ? t->partitions[id] : NULL, id,
					   ts);
		}
	}
}

void elog_broker_list_offsets(struct elog_conn *c, const struct elog_frame_header *rq, struct elog_wire_r *r)
{
	struct elog_wire_r again = *r;
	struct elog_wire_w w;

	static const struct elog_part_layout layout = {.entry_bytes = 8};

	list_offsets_walk(c->broker, r, NULL);
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_broker_check_parts(c, rq, &again, &layout) < 0)
		return;
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	list_offsets_walk(c->broker, &again, &w);
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- delete records */

/*
 * DELETE_RECORDS, version 1:
 *
 *   request:  u32 timeout_ms, bool dry_run,
 *             array<topic: string name, array<partition: u32 id, i64 offset>>
 *   response: array<topic: string name,
 *             array<result: u32 id, i16 error_code, string error_message,
 *                           i64 previous_log_start_offset, i64 log_start_offset>>
 *
 * offset -1 is the high watermark. The request is checked whole before
 * anything moves: it parses, names no partition twice, and names no more
 * partitions (nor topics) than the broker has. One broker answers at once;
 * a cluster waits up to timeout_ms (0: the most, PURGE_WAIT_MAX_MS) for
 * the purges to commit (purge_cluster).
 */

struct purge_entry {
	const char *name;
	size_t len;
	uint32_t id;
};

static int purge_entry_cmp(const void *a, const void *b)
{
	const struct purge_entry *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);

	if (c == 0)
		c = (x->len > y->len) - (x->len < y->len);
	return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* A request refused as a whole: msg says why; returns 1. */
static int purge_refuse(char *msg, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int purge_refuse(char *msg, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	return 1;
}

/*
 * Pass 1: parse the request (r) and check it as a whole. 0 to go on; -1
 * when it is malformed (r->failed); 1 when it was refused (msg says why).
 */
static int purge_check(struct elog_broker *b, struct elog_wire_r *r, int *dry_run,
		       uint32_t *topics_out, uint32_t *parts_out, char *msg, size_t cap)
{
	struct purge_entry *entries = NULL;
	uint32_t topics, count = 0, max = b->store->partition_total;
	int rc = 0;

	elog_wire_r_field(r, "timeout_ms");
	(void)elog_wire_get_u32(r); /* how long a cluster waits for the purge to commit */
	elog_wire_r_field(r, "dry_run");
	*dry_run = elog_wire_get_u8(r);
	if (*dry_run > 1)
		r->failed = 1;
	elog_wire_r_field(r, "topics");
	topics = elog_wire_get_count(r, 2 + 4);
	if (max && !(entries = malloc(max * sizeof(*entries))))
		rc = purge_refuse(msg, cap, "out of memory");
	for (uint32_t i = 0; i < topics && !r->failed; i++) {
		const char *name;
		size_t len;
		uint32_t n;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &len);
		if (rc == 0 && !r->failed && elog_store_internal_name(name, len))
			rc = purge_refuse(msg, cap, "'%.*s' is the broker's own topic: not purged",
					  (int)len, name);
		elog_wire_r_field(r, "partitions");
		n = elog_wire_get_count(r, 4 + 8);
		for (uint32_t k = 0; k < n && !r->failed; k++) {
			uint32_t id = elog_wire_get_u32(r);
			(void)elog_wire_get_i64(r);
			if (rc == 0 && count < max)
				entries[count] = (struct purge_entry){name, len, id};
			count++;
		}
	}
	if (elog_wire_r_end(r, NULL) < 0) {
		free(entries);
		return -1;
	}
	if (rc == 0 && topics > max)
		rc = purge_refuse(msg, cap, "the request names %" PRIu32 " topics, more than the %"
				  PRIu32 " partitions this broker has", topics, max);
	if (rc == 0 && count > max)
		rc = purge_refuse(msg, cap, "the request names %" PRIu32 " partitions, more than the %"
				  PRIu32 " this broker has", count, max);
	if (rc == 0 && count > 1)
		qsort(entries, count, sizeof(*entries), purge_entry_cmp);
	for (uint32_t i = 1; rc == 0 && i < count; i++)
		if (purge_entry_cmp(&entries[i - 1], &entries[i]) == 0)
			rc = purge_refuse(msg, cap, "partition %" PRIu32 " of '%.*s' is named twice",
					  entries[i].id,
					  (int)(entries[i].len > 200 ? 200 : entries[i].len),
					  entries[i].name);
	free(entries);
	*topics_out = topics;
	*parts_out = count;
	return rc;
}

/*
 * Check one partition of a purge: 0 with *pp, *before and *target (the new
 * start asked for, at most the high watermark) when it may go on; else
 * the protocol error, err saying why. In a cluster only p's leader purges.
 */
static int purge_target(struct elog_broker *b, struct elog_topic *t, uint32_t id, int64_t offset,
			struct elog_partition **pp, int64_t *before, int64_t *target,
			struct elog_err *err)
{
	struct elog_partition *p = t && id < t->partition_count ? t->partitions[id] : NULL;
	int64_t hw;
	int code;

	if (!t) {
		snprintf(err->msg, sizeof(err->msg), "no such topic");
		return ELOG_PE_UNKNOWN_TOPIC;
	}
	if (!p) {
		snprintf(err->msg, sizeof(err->msg), "no such partition");
		return ELOG_PE_UNKNOWN_PARTITION;
	}
	if (offset < -1) {
		snprintf(err->msg, sizeof(err->msg), "offset %" PRId64 " is not -1 or >= 0", offset);
		return ELOG_PE_INVALID_REQUEST;
	}
	if (b->cluster && (code = elog_broker_raft_leader_check(b, p, err->msg, sizeof(err->msg))))
		return code;
	if (elog_partlog_failed(p->log, err))
		return ELOG_PE_STORAGE_ERROR;
	*before = elog_partlog_start_offset(p->log);
	hw = elog_broker_high_watermark(p);
	*target = offset == -1 ? hw : offset;
	if (*target > hw) {
		snprintf(err->msg, sizeof(err->msg),
			 "offset %" PRId64 " is past the high watermark %" PRId64, *target, hw);
		return ELOG_PE_OFFSET_OUT_OF_RANGE;
	}
	*pp = p;
	return ELOG_PE_NONE;
}

/* One partition's result on the wire. */
static void purge_put(struct elog_wire_w *w, uint32_t id, int code, const char *msg,
		      int64_t before, int64_t after)
{
	elog_wire_put_u32(w, id);
	elog_wire_put_i16(w, (int16_t)code);
	elog_wire_put_cstring(w, code ? msg : "");
	elog_wire_put_i64(w, code ? -1 : before);
	elog_wire_put_i64(w, code ? -1 : after);
}

/* One partition's result, one broker: check, then move its start (unless dry_run). */
static void purge_one(struct elog_broker *b, struct elog_wire_w *w, struct elog_topic *t,
		      uint32_t id, int64_t offset, int dry_run)
{
	struct elog_partition *p = NULL;
	int64_t before = -1, after = -1, target = -1;
	struct elog_err err;
	int code = purge_target(b, t, id, offset, &p, &before, &target, &err);

	if (code == 0 && dry_run)
		after = target > before ? target : before;
	else if (code == 0 && elog_store_purge(b->store, p, target, &err) < 0)
		code = elog_broker_storage_error(&err);
	else if (code == 0)
		after = elog_partlog_start_offset(p->log);
	purge_put(w, id, code, err.msg, before, after);
}

/*
 * A purge in a cluster: each partition's leader appends a purge batch
 * (broker_raft_purge.c) and the request waits until every one of them has
 * moved its start, lost its leadership, or the request's timeout passed.
 * A part waits while part->p is set: need_offset is the start asked for,
 * log_start the start before; offset the start after, once done.
 */
#define PURGE_WAIT_MAX_MS (5 * 60 * 1000)

static void purge_cluster_one(struct elog_broker *b, struct wait_part *part, struct elog_topic *t,
			      int64_t offset, int dry_run)
{
	struct elog_partition *p = NULL;
	int64_t before = -1, target = -1;
	struct elog_err err;
	int code = purge_target(b, t, part->id, offset, &p, &before, &target, &err);

	part->p = NULL;
	part->log_start = before;
	part->offset = target > before ? target : before;
	if (code == 0 && !dry_run && target > before) {
		code = elog_broker_raft_purge(b, p, target, err.msg, sizeof(err.msg));
		if (code == 0) {
			part->p = p;
			part->need_offset = target;
		}
	}
	part->error = (int16_t)code;
	if (code)
		snprintf(part->message, sizeof(part->message), "%s", err.msg);
}

/* A waiting part: 1 once final (done, or failed with its error set). */
static int purge_settled(struct elog_broker *b, struct wait_part *part)
{
	struct elog_partition *p = part->p;

	if (!p)
		return 1;
	if (elog_partlog_start_offset(p->log) >= part->need_offset) {
		part->offset = elog_partlog_start_offset(p->log);
	} else if ((part->error = (int16_t)elog_broker_raft_leader_check(
			    b, p, part->message, sizeof(part->message))) == 0) {
		return 0;
	}
	/* A leader deposed before its purge committed: the new one may still
	 * apply it; the client asks that one again (a purge is idempotent). */
	part->p = NULL;
	return 1;
}

void elog_broker_purge_answer(struct elog_waiter *w, int end)
{
	struct elog_conn *c = w->conn;
	struct elog_wire_w wr;
	struct elog_err err;
	uint32_t i;

	for (i = 0; i < w->part_count; i++)
		if (!purge_settled(w->broker, &w->parts[i]) && !end)
			return;
	elog_wire_w_init(&wr, &c->out);
	elog_wire_response_begin(&wr, &w->request, ELOG_PE_NONE, NULL);
	elog_wire_put_u32(&wr, w->topic_count);
	for (uint32_t t = 0; t < w->topic_count; t++) {
		elog_wire_put_cstring(&wr, w->topics[t].name);
		elog_wire_put_u32(&wr, w->topics[t].part_count);
		for (i = w->topics[t].first_part; i < w->topics[t].first_part + w->topics[t].part_count;
		     i++) {
			struct wait_part *part = &w->parts[i];
			if (part->p && end == PURGE_END_SHUTDOWN) {
				part->error = ELOG_PE_SHUTTING_DOWN;
				snprintf(part->message, sizeof(part->message),
					 "the broker is shutting down: the purge may still commit");
			} else if (part->p) {
				part->error = ELOG_PE_TIMEOUT;
				snprintf(part->message, sizeof(part->message),
					 "the purge did not commit within the request's timeout");
			}
			purge_put(&wr, part->id, part->error, part->message, part->log_start,
				  part->offset);
		}
	}
	if (elog_wire_frame_end(&wr, &err) < 0)
		c->closing = 1;
	elog_waiter_free(w);
	elog_conn_answered(c);
}

static void purge_cluster(struct elog_conn *c, const struct elog_frame_header *rq,
			  struct elog_wire_r *r, uint32_t topics, uint32_t parts)
{
	struct elog_broker *b = c->broker;
	struct elog_waiter *w = elog_waiter_new(c, WAIT_PURGE, rq, topics, parts);
	uint32_t timeout_ms, at = 0;
	struct elog_err err;
	int dry_run, waiting = 0;

	if (!w) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	timeout_ms = elog_wire_get_u32(r);
	dry_run = elog_wire_get_u8(r);
	(void)elog_wire_get_count(r, 2 + 4);
	w->topic_count = topics;
	w->part_count = parts;
	for (uint32_t i = 0; i < topics; i++) {
		struct wait_topic *wt = &w->topics[i];
		const char *name;
		size_t len;
		struct elog_topic *t;
		elog_wire_get_string(r, &name, &len);
		wt->part_count = elog_wire_get_count(r, 4 + 8);
		wt->first_part = at;
		/* Topic names are at most ELOG_TOPIC_NAME_MAX where they exist;
		 * a longer one names no topic and is answered cut. */
		snprintf(wt->name, sizeof(wt->name), "%.*s",
			 (int)(len < sizeof(wt->name) ? len : sizeof(wt->name) - 1), name);
		t = elog_store_find(b->store, name, len);
		for (uint32_t k = 0; k < wt->part_count; k++, at++) {
			struct wait_part *part = &w->parts[at];
			int64_t offset;
			part->topic_index = i;
			part->id = elog_wire_get_u32(r);
			offset = elog_wire_get_i64(r);
			purge_cluster_one(b, part, t, offset, dry_run);
			waiting |= part->p != NULL;
		}
	}
	if (!waiting) {
		elog_broker_purge_answer(w, 0);
		return;
	}
	if (timeout_ms == 0 || timeout_ms > PURGE_WAIT_MAX_MS)
		timeout_ms = PURGE_WAIT_MAX_MS;
	if (elog_waiter_park(w, elog_loop_now_ms(&b->loop) + timeout_ms, &err) < 0) {
		/* The purge batches are in the logs and will apply; only the wait failed. */
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, err.msg);
		elog_waiter_free(w);
	}
}

void elog_broker_delete_records(struct elog_conn *c, const struct elog_frame_header *rq,
				struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct elog_wire_r again = *r;
	struct elog_wire_w w;
	char msg[BROKER_MSG_MAX];
	uint32_t topics, parts;
	int dry_run, rc = purge_check(b, r, &dry_run, &topics, &parts, msg, sizeof(msg));

	if (rc < 0)
		MALFORMED(c, rq, r);
	if (rc > 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (b->cluster) {
		purge_cluster(c, rq, &again, topics, parts);
		return;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	(void)elog_wire_get_u32(&again);
	(void)elog_wire_get_u8(&again);
	topics = elog_wire_get_count(&again, 2 + 4);
	elog_wire_put_u32(&w, topics);
	for (uint32_t i = 0; i < topics; i++) {
		const char *name;
		size_t len;
		uint32_t n;
		struct elog_topic *t;
		elog_wire_get_string(&again, &name, &len);
		n = elog_wire_get_count(&again, 4 + 8);
		t = elog_store_find(b->store, name, len);
		elog_wire_put_string(&w, name, len);
		elog_wire_put_u32(&w, n);
		for (uint32_t k = 0; k < n; k++) {
			uint32_t id = elog_wire_get_u32(&again);
			int64_t offset = elog_wire_get_i64(&again);
			purge_one(b, &w, t, id, offset, dry_run);
		}
	}
	elog_broker_finish(c, &w);
}
