/* store_meta — the metadata log: the changes it records and their replay; see store.h. */
#include "store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "json.h"
#include "logfmt.h"
#include "store_int.h"

/* The largest metadata batch replay reads. */
#define META_READ_BYTES (1u << 20)

/* ---------------------------------------------------------------- writing */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append one record (key may be NULL) as its own batch, durably; in a
 * cluster, propose it through store->propose instead. *offset (may be
 * NULL) gets its offset. */
static int meta_append(struct elog_store *store, const char *key, const struct elog_buf *value,
		       int64_t *offset, struct elog_err *err)
{
	struct elog_batch_builder b;
	struct elog_record r = {0};
	const uint8_t *out;
	uint8_t *copy = NULL;
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	r.timestamp_ms = wall_ms();
	r.key = (const uint8_t *)key;
	r.key_len = key ? (int32_t)strlen(key) : -1;
	r.value = value->data;
	r.value_len = (int32_t)value->len;
	if (elog_batch_builder_add(&b, &r, err) < 0 ||
	    elog_batch_builder_finish(&b, &out, &len, err) < 0)
		goto out;
	copy = malloc(len);
	if (!copy) {
		elog_err_set(err, ELOG_E_NOMEM, "metadata log: out of memory");
		goto out;
	}
	memcpy(copy, out, len);
	if (store->propose) {
		rc = store->propose(store->propose_ctx, copy, len, offset, err);
		goto out;
	}
	/* No room is ELOG_E_NOSPACE with the log usable; anything else fails it (logged once). */
	rc = elog_partlog_append(store->meta, copy, len, 0, offset, err);
	if (rc < 0) {
		elog_store_meta_check(store);
		elog_err_prefix(err, "metadata log");
	}
out:
	free(copy);
	elog_batch_builder_release(&b);
	return rc;
}

static int add(struct elog_buf *b, const char *s, struct elog_err *err)
{
	return elog_buf_add(b, s, strlen(s), err);
}

/* ,"replicas":[[1,2,3],[2,3,1]] */
static int replicas_record(struct elog_buf *b, uint32_t partitions, uint32_t rf,
			   const int32_t *replicas, struct elog_err *err)
{
	if (add(b, ",\"replicas\":[", err) < 0)
		return -1;
	for (uint32_t i = 0; i < partitions; i++) {
		if (add(b, i ? ",[" : "[", err) < 0)
			return -1;
		for (uint32_t k = 0; k < rf; k++)
			if ((k && add(b, ",", err) < 0) ||
			    elog_json_buf_add_int64(b, replicas[i * rf + k], err) < 0)
				return -1;
		if (add(b, "]", err) < 0)
			return -1;
	}
	return add(b, "]", err);
}

/* {"op":"<op>","partitions":N,"config":{...}[,"replicas":[[...],...]]} */
static int topic_record(struct elog_buf *b, const char *op, uint32_t partitions,
			const struct elog_topic_config *c, uint32_t rf, const int32_t *replicas,
			struct elog_err *err)
{
	char value[ELOG_TOPIC_CONFIG_VALUE_MAX];

	if (add(b, "{\"op\":", err) < 0 || elog_json_buf_add_string(b, op, strlen(op), err) < 0 ||
	    add(b, ",\"partitions\":", err) < 0 ||
	    elog_json_buf_add_int64(b, partitions, err) < 0 || add(b, ",\"config\":{", err) < 0)
		return -1;
	for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++) {
		const char *key = elog_topic_config_key(i);
		elog_topic_config_get(c, i, value, sizeof(value));
		if ((i > 0 && add(b, ",", err) < 0) ||
		    elog_json_buf_add_string(b, key, strlen(key), err) < 0 || add(b, ":", err) < 0 ||
		    elog_json_buf_add_string(b, value, strlen(value), err) < 0)
			return -1;
	}
	if (add(b, "}", err) < 0 ||
	    (replicas && replicas_record(b, partitions, rf, replicas, err) < 0))
		return -1;
	return add(b, "}", err);
}

static int record_topic_placed(struct elog_store *store, const char *name, const char *op,
			       uint32_t partitions, const struct elog_topic_config *c, uint32_t rf,
			       const int32_t *replicas, int64_t *offset, struct elog_err *err)
{
	struct elog_buf b;
	int rc;

	elog_buf_init(&b, ELOG_STORE_META_RECORD_MAX);
	rc = c ? topic_record(&b, op, partitions, c, rf, replicas, err)
	       : add(&b, "{\"op\":\"delete\"}", err);
	if (rc == 0)
		rc = meta_append(store, name, &b, offset, err);
	elog_buf_release(&b);
	return rc;
}

static int record_topic(struct elog_store *store, const char *name, const char *op,
			uint32_t partitions, const struct elog_topic_config *c, struct elog_err *err)
{
	return record_topic_placed(store, name, op, partitions, c, 0, NULL, NULL, err);
}

/* ---------------------------------------------------------------- changes */

/* Whether DIR/<name> exists (a directory the metadata log does not account for). */
static int dir_exists(const struct elog_store *store, const char *name, size_t len)
{
	char path[4096], n[ELOG_TOPIC_NAME_MAX + 1];
	struct stat st;

	if (len > ELOG_TOPIC_NAME_MAX)
		return 0;
	memcpy(n, name, len);
	n[len] = '\0';
	return elog_store_path(store, path, "%s", n) == 0 && stat(path, &st) == 0;
}

/*
 * What a create must pass, here and when a cluster's metadata leader
 * proposes one. check_dir: a directory in the way refuses it (a broker
 * alone); a cluster's apply moves it aside to DIR/.kept instead.
 */
static int create_checks(struct elog_store *store, const char *name, size_t len,
			 uint32_t partitions, const struct elog_topic_config *config,
			 int check_dir, struct elog_err *err)
{
	if (elog_store_name_check(name, len, err) < 0)
		return -1;
	if (elog_store_find(store, name, len))
		return elog_err_set(err, ELOG_E_BUSY, "topic \"%.*s\" exists", (int)len, name);
	if (partitions == 0 || partitions > store->options.topic_partitions_max)
		return elog_err_set(err, ELOG_E_INVAL, "partition count %u is outside [1, %u]",
				    partitions, store->options.topic_partitions_max);
	if (store->topic_count >= store->options.topics_max)
		return elog_err_set(err, ELOG_E_LIMIT, "the broker holds its limit of %u topics",
				    store->options.topics_max);
	if (check_dir && dir_exists(store, name, len))
		return elog_err_set(err, ELOG_E_BUSY,
				    "topic \"%.*s\": its directory exists, but the metadata log has no "
				    "record of it (see docs/operations.md)", (int)len, name);
	if (partitions > store->options.partitions_max - store->partition_total)
		return elog_err_set(err, ELOG_E_LIMIT,
				    "%u more partitions would pass the broker's limit of %u",
				    partitions, store->options.partitions_max);
	return elog_topic_config_check(config, err);
}

static struct elog_topic *topic_new(const char *name, size_t len,
				    const struct elog_topic_config *config, struct elog_err *err)
{
	struct elog_topic *t = calloc(1, sizeof(*t));

	if (!t) {
		elog_err_set(err, ELOG_E_NOMEM, "topic: out of memory");
		return NULL;
	}
	memcpy(t->name, name, len);
	t->name[len] = 0;
	t->config = *config;
	return t;
}

int elog_store_create(struct elog_store *store, const char *name, size_t len,
		      uint32_t partitions, const struct elog_topic_config *config,
		      struct elog_topic **out, struct elog_err *err)
{
	struct elog_topic *t;
	struct elog_err undo;

	if (create_checks(store, name, len, partitions, config, 1, err) < 0 ||
	    elog_store_space_room_for_new(store, err) < 0)
		return -1;
	t = topic_new(name, len, config, err);
	if (!t)
		return -1;
	if (record_topic(store, t->name, "create", partitions, config, err) < 0) {
		free(t);
		return -1;
	}
	if (elog_store_topic_insert(store, t, err) < 0) {
		free(t);
		return -1;
	}
	if (elog_store_topic_grow(store, t, partitions, err) < 0) {
		/* Undo: the topic must not come back half made at the next start.
		 * (name is not NUL-terminated: the record takes the topic's copy.) */
		char copy[ELOG_TOPIC_NAME_MAX + 1];
		memcpy(copy, t->name, sizeof(copy));
		elog_store_topic_remove(store, t);
		elog_store_topic_discard(store, t);
		if (record_topic(store, copy, "delete", 0, NULL, &undo) == 0)
			elog_store_trash(store, copy, &undo);
		return -1;
	}
	if (out)
		*out = t;
	return 0;
}

int elog_store_delete(struct elog_store *store, struct elog_topic *topic, struct elog_err *err)
{
	char name[ELOG_TOPIC_NAME_MAX + 1];

	if (record_topic(store, topic->name, "delete", 0, NULL, err) < 0)
		return -1;
	memcpy(name, topic->name, sizeof(name));
	elog_store_topic_remove(store, topic);
	elog_store_topic_discard(store, topic);
	if (elog_store_trash(store, name, err) < 0)
		return -1;
	elog_store_space_refresh(store, NULL); /* room may be back */
	return 0;
}

static int reconfigure(struct elog_store *store, struct elog_topic *t,
		       const struct elog_topic_config *config, struct elog_err *err)
{
	if (memcmp(&t->config, config, sizeof(*config)) == 0)
		return 0;
	t->config = *config;
	for (uint32_t i = 0; i < t->partition_count; i++)
		if (elog_store_partition_reopen(store, t->partitions[i], err) < 0)
			return -1;
	return 0;
}

int elog_store_alter_check(const struct elog_store *store, const struct elog_topic *topic,
			   uint32_t partitions, const struct elog_topic_config *config,
			   struct elog_err *err)
{
	if (partitions < topic->partition_count)
		return elog_err_set(err, ELOG_E_INVAL, "partitions can only grow: %u is fewer than %u",
				    partitions, topic->partition_count);
	if (partitions > store->options.topic_partitions_max)
		return elog_err_set(err, ELOG_E_INVAL, "partition count %u is outside [1, %u]",
				    partitions, store->options.topic_partitions_max);
	if (partitions - topic->partition_count >
	    store->options.partitions_max - store->partition_total)
		return elog_err_set(err, ELOG_E_LIMIT, "the broker holds its limit of %u partitions",
				    store->options.partitions_max);
	return elog_topic_config_check(config, err);
}

int elog_store_alter(struct elog_store *store, struct elog_topic *topic, uint32_t partitions,
		     const struct elog_topic_config *config, struct elog_err *err)
{
	if (partitions == 0)
		partitions = topic->partition_count;
	if (elog_store_alter_check(store, topic, partitions, config, err) < 0)
		return -1;
	if (partitions > topic->partition_count && elog_store_space_room_for_new(store, err) < 0)
		return -1;
	if (record_topic(store, topic->name, "alter", partitions, config, err) < 0)
		return -1;
	if (reconfigure(store, topic, config, err) < 0)
		return -1;
	return elog_store_topic_grow(store, topic, partitions, err);
}

/* Record (or, in a cluster, propose: offset) a new producer id limit. */
static int record_producer_ids(struct elog_store *store, int64_t limit, int64_t *offset,
			       struct elog_err *err)
{
	struct elog_buf b;
	int rc;

	elog_buf_init(&b, 128);
	rc = add(&b, "{\"op\":\"producer_ids\",\"limit\":", err);
	if (rc == 0)
		rc = elog_json_buf_add_int64(&b, limit, err);
	if (rc == 0)
		rc = add(&b, "}", err);
	if (rc == 0)
		rc = meta_append(store, NULL, &b, offset, err);
	elog_buf_release(&b);
	return rc;
}

int elog_store_producer_id(struct elog_store *store, int64_t *id, struct elog_err *err)
{
	if (store->producer_id_next >= store->producer_id_limit) {
		int64_t limit = store->producer_id_next + ELOG_STORE_PRODUCER_ID_BLOCK;
		if (record_producer_ids(store, limit, NULL, err) < 0)
			return -1;
		store->producer_id_limit = limit;
	}
	*id = store->producer_id_next++;
	return 0;
}

/* ---------------------------------------------------------------- replay */

struct meta_op {
	char op[16];
	int64_t partitions, limit;
	int has_config;
	struct elog_topic_config config;
	uint32_t replication_factor;
	int32_t *replicas;        /* malloc'ed; whoever keeps it sets it NULL */
};

/*
 * "replicas":[[1,2,3],[2,3,1]] (already valid JSON): one array per
 * partition, each of the same length (1..ELOG_REPLICAS_PER_PARTITION_MAX),
 * ids >= 0.
 */
#define REPLICAS_PER_PARTITION_MAX 7
static int parse_replicas(const char *s, size_t len, int64_t partitions, struct meta_op *op,
			  struct elog_err *err)
{
	size_t i = 0, n = 0, cap;
	uint32_t rf = 0, in_row = 0;

	if (partitions < 1 || partitions > (1 << 20))
		return elog_err_set(err, ELOG_E_CORRUPT, "replicas without partitions");
	cap = (size_t)partitions * REPLICAS_PER_PARTITION_MAX;
	op->replicas = malloc(cap * sizeof(*op->replicas));
	if (!op->replicas)
		return elog_err_set(err, ELOG_E_NOMEM, "replicas: out of memory");
	for (int depth = 0; i < len; i++) {
		char ch = s[i];
		if (ch == '[') {
			if (++depth > 2)
				break;
			in_row = 0;
		} else if (ch == ']') {
			if (depth == 2) {
				if (rf == 0)
					rf = in_row;
				if (in_row != rf || rf == 0 || rf > REPLICAS_PER_PARTITION_MAX)
					return elog_err_set(err, ELOG_E_CORRUPT, "uneven replicas");
			}
			depth--;
		} else if (ch >= '0' && ch <= '9' && depth == 2) {
			int64_t v = 0;
			while (i < len && s[i] >= '0' && s[i] <= '9' && v <= INT32_MAX)
				v = v * 10 + (s[i++] - '0');
			i--;
			if (v > INT32_MAX || n == cap || in_row == REPLICAS_PER_PARTITION_MAX)
				return elog_err_set(err, ELOG_E_CORRUPT, "bad replica id");
			op->replicas[n++] = (int32_t)v;
			in_row++;
		} else if (ch == '-') {
			return elog_err_set(err, ELOG_E_CORRUPT, "bad replica id");
		}
	}
	if (rf == 0 || n != (size_t)partitions * rf)
		return elog_err_set(err, ELOG_E_CORRUPT, "replicas do not cover the partitions");
	op->replication_factor = rf;
	return 0;
}

static int json_string(const struct elog_json_value *v, char *out, size_t cap,
		       struct elog_err *err)
{
	size_t n;

	if (v->type != ELOG_JSON_STRING || v->len - 2 >= cap)
		return elog_err_set(err, ELOG_E_CORRUPT, "expected a short string");
	if (elog_json_string_decode(v->ptr, v->len, out, cap - 1, &n, err) < 0)
		return -1;
	out[n] = 0;
	return 0;
}

static int parse_config(const struct elog_json_value *obj, struct elog_topic_config *c,
			struct elog_err *err)
{
	struct elog_json_iter it;
	struct elog_json_member m;
	int rc;

	if (obj->type != ELOG_JSON_OBJECT || elog_json_iter_init(&it, obj->ptr, obj->len, err) < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "config is not an object");
	while ((rc = elog_json_iter_next(&it, &m, err)) == 1) {
		char key[64], value[ELOG_TOPIC_CONFIG_VALUE_MAX];
		if (json_string(&m.name, key, sizeof(key), err) < 0 ||
		    json_string(&m.value, value, sizeof(value), err) < 0 ||
		    elog_topic_config_set(c, key, value, err) < 0)
			return -1;
	}
	return rc;
}

static int parse_op(const uint8_t *text, size_t len, struct meta_op *op, struct elog_err *err)
{
	const char *s = (const char *)text;
	struct elog_json_value v;

	memset(op, 0, sizeof(*op));
	elog_topic_config_default(&op->config);
	if (elog_json_validate(s, len, ELOG_JSON_DEPTH_DEFAULT, NULL, err) < 0)
		return -1;
	if (elog_json_object_get(s, len, "op", 2, &v, err) != 1 ||
	    json_string(&v, op->op, sizeof(op->op), err) < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "record without an op");
	if (elog_json_object_get(s, len, "partitions", 10, &v, err) == 1 &&
	    elog_json_int64_parse(v.ptr, v.len, &op->partitions, err) < 0)
		return -1;
	if (elog_json_object_get(s, len, "limit", 5, &v, err) == 1 &&
	    elog_json_int64_parse(v.ptr, v.len, &op->limit, err) < 0)
		return -1;
	if (elog_json_object_get(s, len, "config", 6, &v, err) == 1) {
		op->has_config = 1;
		if (parse_config(&v, &op->config, err) < 0)
			return -1;
	}
	if (elog_json_object_get(s, len, "replicas", 8, &v, err) == 1 &&
	    parse_replicas(v.ptr, v.len, op->partitions, op, err) < 0) {
		free(op->replicas);
		op->replicas = NULL;
		return -1;
	}
	return 0;
}

static int apply_topic_op(struct elog_store *store, const char *name, size_t len,
			  struct meta_op *op, int64_t offset, struct elog_err *err)
{
	struct elog_topic *t = elog_store_find(store, name, len);
	int is_create = strcmp(op->op, "create") == 0, is_alter = strcmp(op->op, "alter") == 0;

	if (strcmp(op->op, "delete") == 0) {
		if (!t)
			return elog_err_set(err, ELOG_E_CORRUPT, "delete of an unknown topic");
		elog_store_topic_remove(store, t);
		elog_store_topic_discard(store, t);
		return 0;
	}
	if (!is_create && !is_alter)
		return elog_err_set(err, ELOG_E_CORRUPT, "unknown op \"%s\"", op->op);
	if (is_create ? t != NULL : t == NULL)
		return elog_err_set(err, ELOG_E_CORRUPT, "%s of %s topic", op->op,
				    is_create ? "an existing" : "an unknown");
	/* An alter proposed before another that added partitions carries the
	 * count it saw: it changes the config, and the count stays. (Fewer
	 * partitions are refused when an alter is proposed.) */
	if (is_alter && t && op->partitions >= 1 && op->partitions < t->partition_count) {
		op->partitions = t->partition_count;
		free(op->replicas);
		op->replicas = NULL;
	}
	if (!op->has_config || op->partitions < 1 || op->partitions > UINT32_MAX ||
	    (t && op->partitions < t->partition_count))
		return elog_err_set(err, ELOG_E_CORRUPT, "bad partitions or config");
	if (!t) {
		if (len > ELOG_TOPIC_NAME_MAX || !(t = topic_new(name, len, &op->config, err)))
			return elog_err_set(err, ELOG_E_CORRUPT, "bad topic name");
		if (elog_store_topic_insert(store, t, err) < 0) {
			free(t);
			return -1;
		}
		t->incarnation = offset;
		if (op->replicas) {
			t->replicas = op->replicas;
			t->replication_factor = op->replication_factor;
			op->replicas = NULL;
		}
	} else if (op->replicas && t->replicas && op->partitions > t->partition_count) {
		/* Partitions added in a cluster: the placement of all of them,
		 * the existing ones' unchanged. */
		if (op->replication_factor != t->replication_factor ||
		    memcmp(op->replicas, t->replicas,
			   (size_t)t->partition_count * t->replication_factor * sizeof(*t->replicas)) != 0)
			return elog_err_set(err, ELOG_E_CORRUPT, "placement of existing partitions changed");
		free(t->replicas);
		t->replicas = op->replicas;
		op->replicas = NULL;
	} else if (t->replicas && op->partitions > t->partition_count) {
		return elog_err_set(err, ELOG_E_CORRUPT, "partitions added without their placement");
	}
	/* Partitions are opened after replay; only the count is kept here. */
	t->config = op->config;
	t->partition_count = (uint32_t)op->partitions;
	return 0;
}

static int apply_record(struct elog_store *store, const struct elog_record_view *r,
			struct elog_err *err)
{
	struct meta_op op;
	int rc = 0;

	if (r->value_len < 0 || parse_op(r->value, (size_t)r->value_len, &op, err) < 0)
		return elog_err_prefix(err, "offset %lld", (long long)r->offset);
	if (strcmp(op.op, "producer_ids") == 0) {
		if (op.limit > store->producer_id_limit)
			store->producer_id_limit = store->producer_id_next = op.limit;
	} else if (r->key_len <= 0) {
		rc = elog_err_set(err, ELOG_E_CORRUPT, "offset %lld: topic op without a topic",
				  (long long)r->offset);
	} else if (apply_topic_op(store, (const char *)r->key, (size_t)r->key_len, &op, r->offset,
				  err) < 0) {
		rc = elog_err_prefix(err, "offset %lld: topic \"%.*s\"", (long long)r->offset,
				     r->key_len, (const char *)r->key);
	}
	free(op.replicas);
	return rc;
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Called with each record of the metadata log, in order. */
typedef int meta_record_fn(struct elog_store *store, const struct elog_record_view *r, void *ctx,
			   struct elog_err *err);

/*
 * Every record of the metadata log, in order. With skip (salvage), damaged
 * offsets are passed over and counted in *skipped; otherwise damage fails.
 */
static int meta_foreach_range(struct elog_store *store, int64_t offset, int64_t end, int skip,
			      uint64_t *skipped, meta_record_fn *fn, void *ctx, struct elog_err *err)
{
	struct elog_batch_reader reader;
	uint8_t *buf = malloc(META_READ_BYTES);
	int rc = 0;

	if (!buf)
		return elog_err_set(err, ELOG_E_NOMEM, "metadata log: out of memory");
	elog_batch_reader_init(&reader);
	/* Bounded: every pass moves offset past at least one batch or damaged range. */
	while (rc == 0 && offset < end) {
		struct elog_partlog_slice s;
		int64_t to;
		if (elog_partlog_read(store->meta, offset, buf, META_READ_BYTES, &s, err) < 0) {
			if (!skip || err->code != ELOG_E_DAMAGED ||
			    (to = elog_partlog_damage_end(store->meta, offset)) <= offset) {
				rc = -1;
				break;
			}
			*skipped += (uint64_t)(to - offset);
			offset = to;
			continue;
		}
		if (s.len == 0 || s.next_offset <= offset)
			break;
		for (size_t pos = 0; rc == 0 && pos < s.len;) {
			struct elog_record_view rec;
			int more;
			if (elog_batch_reader_open(&reader, buf + pos, s.len - pos, err) < 0) {
				rc = -1;
				break;
			}
			/* Control batches (a Raft leader's term start) hold no change. */
			while (rc == 0 && (more = elog_batch_reader_next(&reader, &rec, err)) == 1)
				if (!(reader.header.attributes & ELOG_BATCH_ATTR_CONTROL) &&
				    rec.offset >= offset && rec.offset < end)
					rc = fn(store, &rec, ctx, err);
			if (rc == 0 && more < 0)
				rc = -1;
			pos += elog_batch_total_size(&reader.header);
		}
		offset = s.next_offset;
	}
	elog_batch_reader_release(&reader);
	free(buf);
	return rc;
}

static int meta_foreach(struct elog_store *store, int skip, uint64_t *skipped, meta_record_fn *fn,
			void *ctx, struct elog_err *err)
{
	return meta_foreach_range(store, elog_partlog_start_offset(store->meta),
				  elog_partlog_next_offset(store->meta), skip, skipped, fn, ctx, err);
}

static int replay_record(struct elog_store *store, const struct elog_record_view *r, void *ctx,
			 struct elog_err *err)
{
	(void)ctx;
	return apply_record(store, r, err);
}

int elog_store_meta_replay(struct elog_store *store, struct elog_err *err)
{
	if (meta_foreach(store, 0, NULL, replay_record, NULL, err) < 0)
		return elog_err_prefix(err, "%s/%s/0: metadata log", store->dir, ELOG_STORE_META_DIR);
	return 0;
}

/* ---------------------------------------------------------------- leftovers */

struct deleted_query {
	char *const *names;
	size_t n;
	unsigned char *deleted;
};

static int deleted_record(struct elog_store *store, const struct elog_record_view *r, void *ctx,
			  struct elog_err *err)
{
	struct deleted_query *q = ctx;
	char name[ELOG_TOPIC_NAME_MAX + 1];
	const char *key = name;
	char *const *hit;
	struct meta_op op;

	(void)store;
	if (r->key_len <= 0 || r->key_len > ELOG_TOPIC_NAME_MAX || r->value_len < 0)
		return 0;
	memcpy(name, r->key, (size_t)r->key_len);
	name[r->key_len] = '\0';
	hit = bsearch(&key, q->names, q->n, sizeof(*q->names), name_compare);
	if (!hit || parse_op(r->value, (size_t)r->value_len, &op, err) < 0)
		return 0;
	q->deleted[hit - q->names] = strcmp(op.op, "delete") == 0;
	return 0;
}

int elog_store_meta_deleted(struct elog_store *store, char *const *names, size_t n,
			    unsigned char *deleted, struct elog_err *err)
{
	struct deleted_query q = {names, n, deleted};

	memset(deleted, 0, n);
	return meta_foreach(store, 0, NULL, deleted_record, &q, err);
}

/* ---------------------------------------------------------------- salvage */

struct salvage {
	uint64_t skipped_offsets; /* damaged: unreadable */
	uint64_t skipped_records; /* readable, but not a record this build can apply */
	uint32_t adopted, dropped;
};

/* A record applied as best it can be: what is intact is believed, nothing is refused. */
static int salvage_record(struct elog_store *store, const struct elog_record_view *r, void *ctx,
			  struct elog_err *err)
{
	struct salvage *sv = ctx;
	struct elog_topic *t;
	struct elog_err why;
	struct meta_op op;

	if (r->value_len < 0 || parse_op(r->value, (size_t)r->value_len, &op, &why) < 0) {
		sv->skipped_records++;
		return 0;
	}
	if (strcmp(op.op, "producer_ids") == 0) {
		if (op.limit > store->producer_id_limit)
			store->producer_id_limit = store->producer_id_next = op.limit;
		return 0;
	}
	if (r->key_len <= 0 || r->key_len > ELOG_TOPIC_NAME_MAX ||
	    elog_store_name_check((const char *)r->key, (size_t)r->key_len, NULL) < 0) {
		sv->skipped_records++;
		return 0;
	}
	t = elog_store_find(store, (const char *)r->key, (size_t)r->key_len);
	if (strcmp(op.op, "delete") == 0) {
		if (t) {
			elog_store_topic_remove(store, t);
			elog_store_topic_free(store, t);
		}
		return 0;
	}
	if ((strcmp(op.op, "create") && strcmp(op.op, "alter")) || !op.has_config ||
	    op.partitions < 1 || op.partitions > store->options.topic_partitions_max) {
		sv->skipped_records++;
		return 0;
	}
	/* An alter of a topic whose create was lost carries all a create would. */
	if (!t) {
		if (!(t = topic_new((const char *)r->key, (size_t)r->key_len, &op.config, err)))
			return -1;
		if (elog_store_topic_insert(store, t, err) < 0) {
			free(t);
			return -1;
		}
	}
	t->config = op.config;
	if (strcmp(op.op, "create") == 0 || (uint32_t)op.partitions > t->partition_count)
		t->partition_count = (uint32_t)op.partitions;
	return 0;
}

/* Partitions a topic directory holds: one past the highest numbered subdirectory. */
static uint32_t partitions_on_disk(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	uint32_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long id = strtoul(e->d_name, &end, 10);
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end || id >= UINT32_MAX)
			continue;
		if (id + 1 > n)
			n = (uint32_t)id + 1;
	}
	closedir(d);
	return n;
}

/* Topic directories on disk: adopt those the records do not know, grow those they undercount. */
static int salvage_adopt(struct elog_store *store, struct salvage *sv, struct elog_err *err)
{
	char path[4096], v[ELOG_LOG_VALUE_MAX];
	DIR *d = opendir(store->dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot list", store->dir);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		struct elog_topic *t;
		uint32_t parts;
		if (n[0] == '.' || strcmp(n, ELOG_STORE_META_DIR) == 0 ||
		    elog_store_name_check(n, strlen(n), NULL) < 0 ||
		    elog_store_path(store, path, "%s", n) < 0)
			continue;
		parts = partitions_on_disk(path);
		if (parts > store->options.topic_partitions_max)
			parts = store->options.topic_partitions_max;
		t = elog_store_find(store, n, strlen(n));
		if (t) {
			if (parts > t->partition_count)
				t->partition_count = parts;
			continue;
		}
		if (!(t = topic_new(n, strlen(n), &store->options.defaults, err))) {
			rc = -1;
			break;
		}
		t->partition_count = parts ? parts : 1;
		if (elog_store_topic_insert(store, t, err) < 0) {
			free(t);
			rc = -1;
			break;
		}
		sv->adopted++;
		elog_logf(store->options.log, ELOG_LOG_WARN,
			  "topic adopted from its directory, with the default config",
			  "topic=%s partitions=%u", elog_logfmt_value(v, sizeof(v), n), t->partition_count);
	}
	closedir(d);
	return rc;
}

/* Topics the records know but whose directory is gone: a damaged delete, or a create that never made it. */
static int salvage_drop(struct elog_store *store, struct salvage *sv)
{
	char path[4096], v[ELOG_LOG_VALUE_MAX];
	struct stat st;

	for (uint32_t i = store->topic_count; i-- > 0;) {
		struct elog_topic *t = store->topics[i];
		if (elog_store_path(store, path, "%s", t->name) == 0 && stat(path, &st) == 0)
			continue;
		elog_logf(store->options.log, ELOG_LOG_WARN,
			  "topic dropped: the metadata log names it but its directory is gone", "topic=%s",
			  elog_logfmt_value(v, sizeof(v), t->name));
		elog_store_topic_remove(store, t);
		elog_store_topic_free(store, t);
		sv->dropped++;
	}
	return 0;
}

/* Move DIR/__meta/0 aside (kept for the operator) as DIR/__meta/0.damaged-N. */
static int salvage_keep_old(struct elog_store *store, char *kept, struct elog_err *err)
{
	char from[4096], meta[4096];

	if (elog_store_path(store, from, "%s/0", ELOG_STORE_META_DIR) < 0 ||
	    elog_store_path(store, meta, "%s", ELOG_STORE_META_DIR) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", store->dir);
	for (uint32_t n = 1;; n++) {
		struct stat st;
		if (n > 1000)
			return elog_err_set(err, ELOG_E_LIMIT, "%s: too many damaged metadata logs kept", meta);
		if (elog_store_path(store, kept, "%s/0.damaged-%u", ELOG_STORE_META_DIR, n) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", store->dir);
		if (stat(kept, &st) < 0)
			break;
	}
	if (rename(from, kept) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot move to %s", from, kept);
	return elog_store_sync_path(meta, err);
}

int elog_store_meta_salvage(struct elog_store *store, struct elog_err *err)
{
	struct salvage sv = {0};
	char kept[4096], v[ELOG_LOG_VALUE_MAX];
	struct elog_buf b;
	int rc;

	/* Whatever a failed replay built is dropped; the records are read again, leniently. */
	while (store->topic_count) {
		struct elog_topic *t = store->topics[store->topic_count - 1];
		elog_store_topic_remove(store, t);
		elog_store_topic_free(store, t);
	}
	store->producer_id_next = store->producer_id_limit = 0;
	if (meta_foreach(store, 1, &sv.skipped_offsets, salvage_record, &sv, err) < 0 ||
	    salvage_adopt(store, &sv, err) < 0 || salvage_drop(store, &sv) < 0)
		return elog_err_prefix(err, "salvaging the metadata log");
	/* A lost producer_ids record may have handed out a block: skip one per lost record. */
	store->producer_id_limit += (int64_t)ELOG_STORE_PRODUCER_ID_BLOCK *
				    (int64_t)(sv.skipped_offsets + sv.skipped_records + 1);
	store->producer_id_next = store->producer_id_limit;
	elog_partlog_close(store->meta);
	store->meta = NULL;
	if (salvage_keep_old(store, kept, err) < 0 || elog_store_meta_open(store, err) < 0)
		return elog_err_prefix(err, "salvaging the metadata log");
	for (uint32_t i = 0; i < store->topic_count; i++) {
		struct elog_topic *t = store->topics[i];
		if (record_topic(store, t->name, "create", t->partition_count, &t->config, err) < 0)
			return elog_err_prefix(err, "salvaging the metadata log");
	}
	elog_buf_init(&b, 128);
	rc = add(&b, "{\"op\":\"producer_ids\",\"limit\":", err);
	if (rc == 0)
		rc = elog_json_buf_add_int64(&b, store->producer_id_limit, err);
	if (rc == 0)
		rc = add(&b, "}", err);
	if (rc == 0)
		rc = meta_append(store, NULL, &b, NULL, err);
	elog_buf_release(&b);
	if (rc < 0)
		return elog_err_prefix(err, "salvaging the metadata log");
	elog_logf(store->options.log, ELOG_LOG_WARN, "metadata log salvaged",
		  "topics=%u adopted=%u dropped=%u damaged_offsets=%" PRIu64
		  " skipped_records=%" PRIu64 " kept=%s",
		  store->topic_count, sv.adopted, sv.dropped, sv.skipped_offsets, sv.skipped_records,
		  elog_logfmt_value(v, sizeof(v), kept));
	return 0;
}

/* ---------------------------------------------------------------- replicated */

/*
 * A committed record that does not apply (a create proposed twice before
 * the first was applied, say) is skipped at start-up as the live apply
 * skips it (live_record), so that every broker, and every restart, ends
 * with the same topics; damage still fails the load.
 */
static int replay_committed(struct elog_store *store, const struct elog_record_view *r, void *ctx,
			    struct elog_err *err)
{
	char v[ELOG_LOG_VALUE_MAX];

	(void)ctx;
	if (apply_record(store, r, err) < 0)
		elog_logf(store->options.log, ELOG_LOG_WARN, "metadata record not applied",
			  "offset=%" PRId64 " reason=%s", r->offset,
			  elog_logfmt_value(v, sizeof(v), err->msg));
	return 0;
}

int elog_store_meta_load(struct elog_store *store, int64_t commit, struct elog_err *err)
{
	char trash[4096];
	int64_t start = elog_partlog_start_offset(store->meta);

	assert(store->options.replicated && store->topic_count == 0);
	if (commit > elog_partlog_next_offset(store->meta))
		commit = elog_partlog_next_offset(store->meta);
	if (commit > start &&
	    meta_foreach_range(store, start, commit, 0, NULL, replay_committed, NULL, err) < 0)
		return elog_err_prefix(err, "%s/%s/0: metadata log", store->dir, ELOG_STORE_META_DIR);
	store->meta_applied = commit > start ? commit : start;
	if (elog_store_open_partitions(store, err) < 0)
		return -1;
	if (elog_store_path(store, trash, "%s", ELOG_STORE_TRASH_NAME) == 0)
		return elog_store_remove_tree(trash, err);
	return 0;
}

/* Move DIR/<name> to DIR/.kept/<name>.<n>, saying so. */
static int keep_aside(struct elog_store *store, const char *name, struct elog_err *err)
{
	char from[4096], kept[4096], to[4096], v[ELOG_LOG_VALUE_MAX], tv[ELOG_LOG_VALUE_MAX];

	if (elog_store_path(store, from, "%s", name) < 0 ||
	    elog_store_path(store, kept, "%s", ELOG_STORE_KEPT_NAME) < 0 ||
	    elog_store_path(store, to, "%s/%.200s.%" PRIu64, ELOG_STORE_KEPT_NAME, name,
			    ++store->trash_seq) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", name);
	if ((mkdir(kept, 0755) < 0 && errno != EEXIST) || rename(from, to) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot move to %s", from, kept);
	elog_logf(store->options.log, ELOG_LOG_WARN, "topic directory kept aside",
		  "topic=%s kept=%s", elog_logfmt_value(v, sizeof(v), name),
		  elog_logfmt_value(tv, sizeof(tv), to));
	return elog_store_sync_path(store->dir, err);
}

struct live_apply {
	elog_store_change_fn *fn;
	void *ctx;
};

/* A record's effects now: directories made or moved to the trash, partitions opened. */
static int live_record(struct elog_store *store, const struct elog_record_view *r, void *ctx,
		       struct elog_err *err)
{
	struct live_apply *la = ctx;
	char v[ELOG_LOG_VALUE_MAX], name[ELOG_TOPIC_NAME_MAX + 1];
	struct elog_topic *t = NULL, *before = NULL;
	struct elog_topic_config old;
	uint32_t old_count = 0;
	struct meta_op op;
	int is_delete = 0;

	store->meta_applied = r->offset + 1;
	if (r->key_len < 0 && r->value_len >= 0 &&
	    parse_op(r->value, (size_t)r->value_len, &op, NULL) == 0) {
		free(op.replicas);
		/* A block [limit - BLOCK, limit) proposed by the leader: it hands
		 * ids out from it (a new leader starts a block of its own). */
		if (strcmp(op.op, "producer_ids") == 0 && op.limit > store->producer_id_limit) {
			store->producer_id_limit = op.limit;
			if (store->producer_id_next < op.limit - ELOG_STORE_PRODUCER_ID_BLOCK)
				store->producer_id_next = op.limit - ELOG_STORE_PRODUCER_ID_BLOCK;
		}
		return 0;
	}
	if (r->key_len > 0 && r->key_len <= ELOG_TOPIC_NAME_MAX && r->value_len >= 0 &&
	    parse_op(r->value, (size_t)r->value_len, &op, NULL) == 0) {
		memcpy(name, r->key, (size_t)r->key_len);
		name[r->key_len] = 0;
		before = elog_store_find(store, name, (size_t)r->key_len);
		is_delete = strcmp(op.op, "delete") == 0;
		free(op.replicas);
		if (before && is_delete) {
			la->fn(la->ctx, ELOG_STORE_DELETING, before);
		} else if (!before && strcmp(op.op, "create") == 0 &&
			   dir_exists(store, name, (size_t)r->key_len)) {
			/* A directory no applied record explains: kept aside, never
			 * removed because metadata went missing. */
			if (keep_aside(store, name, err) < 0)
				return -1;
		}
		if (before) {
			old = before->config;
			old_count = before->partition_count;
		}
	}
	if (apply_record(store, r, err) < 0) {
		/* Every broker applies the same records the same way: skip it alike. */
		elog_logf(store->options.log, ELOG_LOG_WARN, "metadata record not applied",
			  "offset=%" PRId64 " reason=%s", r->offset,
			  elog_logfmt_value(v, sizeof(v), err->msg));
		return 0;
	}
	if (r->key_len <= 0)
		return 0;
	if (is_delete)
		return elog_store_trash(store, name, err);
	t = elog_store_find(store, name, (size_t)r->key_len);
	if (!t)
		return 0;
	if (before && memcmp(&old, &t->config, sizeof(old)) != 0) {
		/* The partitions there were before: an alter that also adds some
		 * has set partition_count already, and the array grows below. */
		for (uint32_t i = 0; i < old_count && t->partitions; i++)
			if (t->partitions[i] &&
			    elog_store_partition_reopen(store, t->partitions[i], err) < 0)
				return -1;
	}
	if (!t->partitions || !before) {
		uint32_t count = t->partition_count;
		t->partition_count = 0;
		if (elog_store_topic_grow(store, t, count, err) < 0)
			return -1;
	} else if (t->partition_count > old_count) {
		/* Partitions added: open the new ones. */
		uint32_t count = t->partition_count;
		t->partition_count = old_count;
		if (elog_store_topic_grow(store, t, count, err) < 0)
			return -1;
	}
	la->fn(la->ctx, before ? ELOG_STORE_ALTERED : ELOG_STORE_CREATED, t);
	return 0;
}

int elog_store_meta_apply(struct elog_store *store, int64_t commit, elog_store_change_fn *fn,
			  void *ctx, struct elog_err *err)
{
	struct live_apply la = {fn, ctx};

	assert(store->options.replicated);
	if (commit <= store->meta_applied)
		return 0;
	if (meta_foreach_range(store, store->meta_applied, commit, 0, NULL, live_record, &la,
			       err) < 0)
		return elog_err_prefix(err, "%s/%s/0: metadata log", store->dir, ELOG_STORE_META_DIR);
	if (store->meta_applied < commit)
		store->meta_applied = commit; /* control batches hold no record to apply */
	return 0;
}

int elog_store_propose_create(struct elog_store *store, const char *name, size_t len,
			      uint32_t partitions, const struct elog_topic_config *config,
			      uint32_t replication_factor, const int32_t *replicas,
			      int64_t *offset, struct elog_err *err)
{
	char n[ELOG_TOPIC_NAME_MAX + 1];

	assert(store->propose);
	if (create_checks(store, name, len, partitions, config, 0, err) < 0)
		return -1;
	memcpy(n, name, len);
	n[len] = 0;
	return record_topic_placed(store, n, "create", partitions, config, replication_factor,
				   replicas, offset, err);
}

int elog_store_propose_delete(struct elog_store *store, const struct elog_topic *topic,
			      int64_t *offset, struct elog_err *err)
{
	assert(store->propose);
	return record_topic_placed(store, topic->name, "delete", 0, NULL, 0, NULL, offset, err);
}

int elog_store_propose_alter(struct elog_store *store, const struct elog_topic *topic,
			     uint32_t partitions, const int32_t *replicas,
			     const struct elog_topic_config *config, int64_t *offset,
			     struct elog_err *err)
{
	assert(store->propose);
	if (elog_store_alter_check(store, topic, partitions, config, err) < 0)
		return -1;
	/* New partitions need their placement (the caller's), after the old ones'. */
	assert(partitions == topic->partition_count || (replicas && topic->replicas));
	return record_topic_placed(store, topic->name, "alter", partitions, config,
				   partitions > topic->partition_count ? topic->replication_factor : 0,
				   partitions > topic->partition_count ? replicas : NULL, offset, err);
}

int elog_store_propose_producer_id(struct elog_store *store, int64_t *id, int64_t *offset,
				   struct elog_err *err)
{
	int64_t limit;

	assert(store->propose);
	if (store->producer_id_next < store->producer_id_limit) {
		*id = store->producer_id_next++;
		return 1;
	}
	limit = store->producer_id_next + ELOG_STORE_PRODUCER_ID_BLOCK;
	return record_producer_ids(store, limit, offset, err) < 0 ? -1 : 0;
}
