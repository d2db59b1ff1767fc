/*
 * Unit tests: store — topic config keys (parse, check, format, round
 * trip), the directory lock, topics created/altered/deleted and replayed
 * from the metadata log, producer ids never reused, and the leftovers a
 * crash between a metadata record and its directory change leaves.
 */
#include "t.h"
#include "store.h"

#include <sys/stat.h>

static void test_config_keys(void)
{
	struct elog_topic_config c, d;
	struct elog_err err;
	char v[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "7d", &err), &err);
	T_EQ_INT(c.retention_ms, 7 * 86400000LL);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1500", &err), &err);
	T_EQ_INT(c.retention_ms, 1500);
	T_OK(elog_topic_config_set(&c, "retention.bytes", "1G", &err), &err);
	T_EQ_INT(c.retention_bytes, 1LL << 30);
	T_OK(elog_topic_config_set(&c, "flush", "250ms", &err), &err);
	T_CHECK(c.flush == ELOG_FLUSH_INTERVAL && c.flush_interval_ms == 250);
	T_OK(elog_topic_config_set(&c, "flush", "always", &err), &err);
	T_CHECK(c.flush == ELOG_FLUSH_ALWAYS);
	T_OK(elog_topic_config_set(&c, "segment.bytes", "1M", &err), &err);
	T_CHECK(elog_topic_config_set(&c, "segment.bytes", "12", &err) < 0);
	T_CHECK(strncmp(err.msg, "segment.bytes: ", 15) == 0);
	T_CHECK(elog_topic_config_set(&c, "flush", "0", &err) < 0);
	T_CHECK(elog_topic_config_set(&c, "colour", "blue", &err) < 0);
	T_CHECK(strcmp(err.msg, "unknown config key \"colour\"") == 0);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "32M", &err), &err);
	T_CHECK(elog_topic_config_check(&c, &err) < 0);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "1k", &err), &err);
	T_OK(elog_topic_config_check(&c, &err), &err);
	/* every key formats to text that parses back to the same value */
	elog_topic_config_default(&d);
	for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++) {
		char w[ELOG_TOPIC_CONFIG_VALUE_MAX];
		elog_topic_config_get(&c, i, v, sizeof(v));
		T_OK(elog_topic_config_set(&d, elog_topic_config_key(i), v, &err), &err);
		elog_topic_config_get(&d, i, w, sizeof(w));
		T_CHECK(strcmp(v, w) == 0);
	}
	T_CHECK(d.flush == ELOG_FLUSH_ALWAYS && d.retention_bytes == 1LL << 30);
	elog_format_duration_ms(90000, v, sizeof(v));
	T_CHECK(strcmp(v, "90s") == 0);
	elog_format_duration_ms(7200000, v, sizeof(v));
	T_CHECK(strcmp(v, "2h") == 0);
}

static struct elog_store *open_store(const char *dir, struct elog_err *err)
{
	struct elog_store_options o;
	struct elog_store *s = NULL;

	elog_store_options_default(&o);
	o.topic_partitions_max = 8;
	o.partitions_max = 12;
	if (elog_store_open(dir, &o, &s, err) < 0)
		return NULL;
	return s;
}

static void test_lock(void)
{
	char dir[4200];
	struct elog_store *a, *b;
	struct elog_err err;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	a = open_store(dir, &err);
	T_ASSERT(a);
	b = open_store(dir, &err);
	T_CHECK(!b && err.code == ELOG_E_BUSY);
	T_CHECK(strstr(err.msg, "in use by another broker (pid ") != NULL);
	elog_store_close(a);
	b = open_store(dir, &err);
	T_CHECK(b != NULL);
	elog_store_close(b);
}

static void test_topics_replay(void)
{
	char dir[4200], path[4300];
	struct elog_store *s;
	struct elog_topic *t;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;
	int64_t id1, id2;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1h", &err), &err);
	T_OK(elog_store_create(s, "a", 1, 2, &c, &t, &err), &err);
	T_CHECK(elog_store_create(s, "a", 1, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_BUSY);
	T_CHECK(elog_store_create(s, ".x", 2, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_CHECK(elog_store_create(s, "__x", 3, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_CHECK(elog_store_create(s, "big", 3, 9, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_OK(elog_store_create(s, "b", 1, 8, &c, NULL, &err), &err);
	T_CHECK(elog_store_create(s, "c", 1, 3, &c, NULL, &err) < 0 && err.code == ELOG_E_LIMIT);
	T_OK(elog_store_create(s, "c", 1, 1, &c, NULL, &err), &err);
	T_OK(elog_topic_config_set(&c, "flush", "never", &err), &err);
	T_OK(elog_store_alter(s, t, 3, &c, &err), &err);
	T_CHECK(elog_store_alter(s, t, 2, &c, &err) < 0 && err.code == ELOG_E_INVAL);
	T_OK(elog_store_delete(s, elog_store_find(s, "c", 1), &err), &err);
	T_OK(elog_store_producer_id(s, &id1, &err), &err);
	elog_store_close(s);

	T_ASSERT((s = open_store(dir, &err)) != NULL);
	T_EQ_INT(s->topic_count, 2);
	t = elog_store_find(s, "a", 1);
	T_ASSERT(t);
	T_EQ_INT(t->partition_count, 3);
	T_CHECK(t->config.flush == ELOG_FLUSH_NEVER && t->config.retention_ms == 3600000);
	T_CHECK(elog_store_find(s, "c", 1) == NULL);
	T_CHECK(elog_store_partition(s, "a", 1, 2) != NULL);
	T_CHECK(elog_store_partition(s, "a", 1, 3) == NULL);
	snprintf(path, sizeof(path), "%s/c", dir);
	T_CHECK(stat(path, &st) < 0);
	T_OK(elog_store_producer_id(s, &id2, &err), &err);
	T_CHECK(id2 > id1);
	elog_store_close(s);
}

/* A delete recorded whose directory is still there, and a stale .trash:
 * both are gone after the next open. */
static void test_leftovers(void)
{
	char dir[4200], path[4300];
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "keep", 4, 1, &c, NULL, &err), &err);
	elog_store_close(s);
	/* a topic directory the metadata does not know, as if the delete's
	 * rename never happened */
	snprintf(path, sizeof(path), "%s/ghost", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/ghost/0", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/.trash", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/.trash/old.1", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	snprintf(path, sizeof(path), "%s/ghost", dir);
	T_CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/.trash/old.1", dir);
	T_CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/keep/0/log.meta", dir);
	T_CHECK(stat(path, &st) == 0);
	elog_store_close(s);
}

int main(void)
{
	T_RUN(test_config_keys);
	T_RUN(test_lock);
	T_RUN(test_topics_replay);
	T_RUN(test_leftovers);
	return t_finish();
}
