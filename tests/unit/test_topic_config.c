/*
 * Unit tests: topic config values (store_config.c) — which keys take plain
 * numbers, the unit a duration was set in and how each form writes it back.
 */
#include "t.h"
#include "store.h"

/* Key i of c, written as how. */
static const char *text(const struct elog_topic_config *c, const char *key,
			enum elog_topic_config_text how)
{
	static char out[ELOG_TOPIC_CONFIG_VALUE_MAX];

	for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++)
		if (strcmp(elog_topic_config_key(i), key) == 0) {
			elog_topic_config_format(c, i, how, out, sizeof(out));
			return out;
		}
	return "?";
}

/* Keys named with a unit take plain digits in it; flush needs a unit. */
static void test_plain_numbers(void)
{
	struct elog_topic_config c;
	struct elog_err err;

	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "604800000", &err), &err);
	T_EQ_INT(c.retention_ms, 604800000);
	T_OK(elog_topic_config_set(&c, "segment.ms", "3600000", &err), &err);
	T_EQ_INT(c.segment_ms, 3600000);
	T_OK(elog_topic_config_set(&c, "segment.bytes", "1048576", &err), &err);
	T_EQ_INT(c.segment_bytes, 1048576);
	T_OK(elog_topic_config_set(&c, "retention.bytes", "-1", &err), &err);
	T_OK(elog_topic_config_set(&c, "retention.ms", "-1", &err), &err);
	T_CHECK(elog_topic_config_set(&c, "segment.ms", "-1", &err) < 0);
	T_CHECK(elog_topic_config_set(&c, "flush", "5", &err) < 0);
	T_CHECK(strcmp(err.msg, "flush: expected always, never or an interval: invalid duration "
			       "\"5\": missing or unknown unit (ms, s, m, h, d)") == 0);
	T_CHECK(elog_topic_config_set(&c, "flush", "1000", &err) < 0);
	T_OK(elog_topic_config_set(&c, "flush", "1000ms", &err), &err);
	T_EQ_INT(c.flush_interval_ms, 1000);
	T_CHECK(elog_topic_config_set(&c, "retention.ms", "7x", &err) < 0);
	T_CHECK(strncmp(err.msg, "retention.ms: invalid duration \"7x\"", 35) == 0);
}

/* A duration is written back in the unit it was set in, except in RAW. */
static void test_units_kept(void)
{
	struct elog_topic_config c;
	struct elog_err err;

	elog_topic_config_default(&c);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_AS_SET), "-1") == 0);
	T_CHECK(strcmp(text(&c, "flush", ELOG_TOPIC_CONFIG_AS_SET), "1s") == 0);
	T_CHECK(strcmp(text(&c, "segment.bytes", ELOG_TOPIC_CONFIG_AS_SET), "134217728") == 0);
	T_CHECK(strcmp(text(&c, "segment.bytes", ELOG_TOPIC_CONFIG_HUMAN), "128M") == 0);
	T_CHECK(strcmp(text(&c, "retention.bytes", ELOG_TOPIC_CONFIG_HUMAN), "-1") == 0);

	T_OK(elog_topic_config_set(&c, "retention.ms", "7d", &err), &err);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_AS_SET), "7d") == 0);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_HUMAN), "7d") == 0);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_RAW), "604800000") == 0);
	T_OK(elog_topic_config_set(&c, "retention.ms", "168h", &err), &err);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_AS_SET), "168h") == 0);
	/* plain milliseconds: kept plain, shown to a person in the largest unit */
	T_OK(elog_topic_config_set(&c, "retention.ms", "604800000", &err), &err);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_AS_SET), "604800000") == 0);
	T_CHECK(strcmp(text(&c, "retention.ms", ELOG_TOPIC_CONFIG_HUMAN), "7d") == 0);
	T_OK(elog_topic_config_set(&c, "segment.ms", "1h30m", &err), &err);
	T_CHECK(strcmp(text(&c, "segment.ms", ELOG_TOPIC_CONFIG_AS_SET), "90m") == 0);
	T_CHECK(strcmp(text(&c, "segment.ms", ELOG_TOPIC_CONFIG_RAW), "5400000") == 0);
	T_OK(elog_topic_config_set(&c, "flush", "1000ms", &err), &err);
	T_CHECK(strcmp(text(&c, "flush", ELOG_TOPIC_CONFIG_AS_SET), "1000ms") == 0);
	T_CHECK(strcmp(text(&c, "flush", ELOG_TOPIC_CONFIG_RAW), "1s") == 0);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "1536", &err), &err);
	T_CHECK(strcmp(text(&c, "max.record.bytes", ELOG_TOPIC_CONFIG_HUMAN), "1536") == 0);
}

/* Every form of every key reads back to the same config (units included for AS_SET). */
static void test_round_trip(void)
{
	static const enum elog_topic_config_text forms[] = {
		ELOG_TOPIC_CONFIG_AS_SET, ELOG_TOPIC_CONFIG_RAW, ELOG_TOPIC_CONFIG_HUMAN,
	};
	struct elog_topic_config c, d;
	struct elog_err err;
	char v[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "2d", &err), &err);
	T_OK(elog_topic_config_set(&c, "segment.ms", "90s", &err), &err);
	T_OK(elog_topic_config_set(&c, "flush", "250ms", &err), &err);
	T_OK(elog_topic_config_set(&c, "retention.bytes", "3G", &err), &err);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "1000", &err), &err);
	T_OK(elog_topic_config_set(&c, "cleanup.policy", "compact,delete", &err), &err);
	T_OK(elog_topic_config_set(&c, "delete.retention.ms", "1h", &err), &err);
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		elog_topic_config_default(&d);
		for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++) {
			elog_topic_config_format(&c, i, forms[f], v, sizeof(v));
			T_OK(elog_topic_config_set(&d, elog_topic_config_key(i), v, &err), &err);
		}
		T_CHECK(d.retention_ms == c.retention_ms && d.segment_ms == c.segment_ms &&
			d.flush_interval_ms == c.flush_interval_ms &&
			d.retention_bytes == c.retention_bytes &&
			d.record_bytes_max == c.record_bytes_max &&
			d.batch_bytes_max == c.batch_bytes_max && d.segment_bytes == c.segment_bytes &&
			d.cleanup == c.cleanup && d.delete_retention_ms == c.delete_retention_ms);
		if (forms[f] == ELOG_TOPIC_CONFIG_AS_SET)
			T_CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	}
}

/* cleanup.policy and delete.retention.ms (compaction, issue 8). */
static void test_cleanup_policy(void)
{
	struct elog_topic_config c;
	struct elog_partlog_config p;
	struct elog_err err;

	elog_topic_config_default(&c);
	T_EQ_INT(c.cleanup, ELOG_CLEANUP_DELETE);
	T_EQ_INT(c.delete_retention_ms, 86400000);
	T_CHECK(strcmp(text(&c, "cleanup.policy", ELOG_TOPIC_CONFIG_AS_SET), "delete") == 0);
	T_CHECK(strcmp(text(&c, "delete.retention.ms", ELOG_TOPIC_CONFIG_AS_SET), "86400000") == 0);
	T_CHECK(strcmp(text(&c, "delete.retention.ms", ELOG_TOPIC_CONFIG_HUMAN), "1d") == 0);
	T_OK(elog_topic_config_set(&c, "cleanup.policy", "delete,compact", &err), &err);
	T_EQ_INT(c.cleanup, ELOG_CLEANUP_DELETE | ELOG_CLEANUP_COMPACT);
	T_CHECK(strcmp(text(&c, "cleanup.policy", ELOG_TOPIC_CONFIG_RAW), "compact,delete") == 0);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1h", &err), &err);
	elog_topic_config_to_partlog(&c, &p);
	T_EQ_INT(p.retention_ms, 3600000);
	/* compact alone: retention deletes nothing, whatever retention.* say. */
	T_OK(elog_topic_config_set(&c, "cleanup.policy", "compact", &err), &err);
	T_EQ_INT(c.cleanup, ELOG_CLEANUP_COMPACT);
	elog_topic_config_to_partlog(&c, &p);
	T_EQ_INT(p.retention_ms, -1);
	T_EQ_INT(p.retention_bytes, -1);
	T_CHECK(elog_topic_config_set(&c, "cleanup.policy", "compacted", &err) < 0);
	T_CHECK(strcmp(err.msg, "cleanup.policy: expected delete, compact or compact,delete, "
			       "not \"compacted\"") == 0);
	T_CHECK(elog_topic_config_set(&c, "delete.retention.ms", "-1", &err) < 0);
	T_OK(elog_topic_config_set(&c, "delete.retention.ms", "0", &err), &err);
	T_EQ_INT(c.delete_retention_ms, 0);
	T_EQ_INT(elog_topic_config_find("flush"), 2);
	T_EQ_INT(elog_topic_config_find("nope"), ELOG_TOPIC_CONFIG_KEYS);
}

int main(void)
{
	T_RUN(test_cleanup_policy);
	T_RUN(test_plain_numbers);
	T_RUN(test_units_kept);
	T_RUN(test_round_trip);
	return t_finish();
}
