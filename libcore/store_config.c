/* store_config — topic configuration keys: parse, check, format; see store.h. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "segment.h"

/* Sorted: describe lists keys in this order. */
static const char *const keys[ELOG_TOPIC_CONFIG_KEYS] = {
	"flush", "max.batch.bytes", "max.record.bytes", "retention.bytes",
	"retention.ms", "segment.bytes", "segment.ms",
};

#define SEGMENT_BYTES_MIN 1024u
#define RECORD_BYTES_MIN 1u

void elog_topic_config_default(struct elog_topic_config *c)
{
	struct elog_partlog_config p;

	elog_partlog_config_default(&p);
	memset(c, 0, sizeof(*c));
	c->segment_bytes = p.segment_bytes;
	c->segment_ms = p.segment_ms;
	c->retention_ms = p.retention_ms;
	c->retention_bytes = p.retention_bytes;
	c->flush = p.flush;
	c->flush_interval_ms = p.flush_interval_ms;
	c->batch_bytes_max = p.batch_bytes_max;
	c->record_bytes_max = p.batch_bytes_max;
}

const char *elog_topic_config_key(size_t i)
{
	return i < ELOG_TOPIC_CONFIG_KEYS ? keys[i] : NULL;
}

void elog_format_duration_ms(int64_t ms, char *out, size_t cap)
{
	static const struct { int64_t ms; const char *unit; } units[] = {
		{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(out, cap, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
			return;
		}
	}
	snprintf(out, cap, "%" PRId64 "ms", ms);
}

/* Milliseconds: plain digits, or a duration with units; "-1" when allowed. */
static int parse_ms(const char *s, int allow_minus_one, int64_t *out, struct elog_err *err)
{
	if (allow_minus_one && strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s))
		return elog_cli_parse_i64(s, 0, INT64_MAX, out, err);
	return elog_cli_parse_duration_ms(s, out, err);
}

static int parse_bytes(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		       struct elog_err *err)
{
	if (elog_cli_parse_size(s, out, err) < 0)
		return -1;
	if (*out < min || *out > max)
		return elog_err_set(err, ELOG_E_INVAL, "%s is outside [%" PRIu64 ", %" PRIu64 "]", s,
				    min, max);
	return 0;
}

static int set_flush(struct elog_topic_config *c, const char *value, struct elog_err *err)
{
	int64_t ms;

	if (strcmp(value, "always") == 0) {
		c->flush = ELOG_FLUSH_ALWAYS;
		return 0;
	}
	if (strcmp(value, "never") == 0) {
		c->flush = ELOG_FLUSH_NEVER;
		return 0;
	}
	if (parse_ms(value, 0, &ms, err) < 0)
		return elog_err_prefix(err, "expected always, never or an interval");
	if (ms <= 0 || ms > 3600 * 1000)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %s is outside [1ms, 1h]", value);
	c->flush = ELOG_FLUSH_INTERVAL;
	c->flush_interval_ms = ms;
	return 0;
}

static int set_one(struct elog_topic_config *c, size_t i, const char *value, struct elog_err *err)
{
	uint64_t u;
	int64_t ms;

	switch (i) {
	case 0:
		return set_flush(c, value, err);
	case 1:
	case 2:
		if (parse_bytes(value, i == 1 ? ELOG_BATCH_HEADER_SIZE : RECORD_BYTES_MIN,
				ELOG_BATCH_SIZE_MAX, &u, err) < 0)
			return -1;
		*(i == 1 ? &c->batch_bytes_max : &c->record_bytes_max) = (uint32_t)u;
		return 0;
	case 3:
		if (strcmp(value, "-1") == 0) {
			c->retention_bytes = -1;
			return 0;
		}
		if (parse_bytes(value, 0, INT64_MAX, &u, err) < 0)
			return -1;
		c->retention_bytes = (int64_t)u;
		return 0;
	case 4:
	case 6:
		if (parse_ms(value, i == 4, &ms, err) < 0)
			return -1;
		*(i == 4 ? &c->retention_ms : &c->segment_ms) = ms;
		return 0;
	case 5:
		if (parse_bytes(value, SEGMENT_BYTES_MIN, ELOG_SEGMENT_BYTES_MAX, &u, err) < 0)
			return -1;
		c->segment_bytes = u;
		return 0;
	}
	return elog_err_set(err, ELOG_E_INVAL, "unknown config key");
}

int elog_topic_config_set(struct elog_topic_config *c, const char *key, const char *value,
			  struct elog_err *err)
{
	for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++) {
		if (strcmp(key, keys[i]) != 0)
			continue;
		if (set_one(c, i, value, err) < 0)
			return elog_err_prefix(err, "%s", key);
		return 0;
	}
	return elog_err_set(err, ELOG_E_INVAL, "unknown config key \"%s\"", key);
}

int elog_topic_config_check(const struct elog_topic_config *c, struct elog_err *err)
{
	if (c->record_bytes_max > c->batch_bytes_max)
		return elog_err_set(err, ELOG_E_INVAL,
				    "max.record.bytes %u is larger than max.batch.bytes %u",
				    c->record_bytes_max, c->batch_bytes_max);
	return 0;
}

void elog_topic_config_get(const struct elog_topic_config *c, size_t i, char *out, size_t cap)
{
	switch (i) {
	case 0:
		if (c->flush == ELOG_FLUSH_ALWAYS)
			snprintf(out, cap, "always");
		else if (c->flush == ELOG_FLUSH_NEVER)
			snprintf(out, cap, "never");
		else
			elog_format_duration_ms(c->flush_interval_ms, out, cap);
		return;
	case 1: snprintf(out, cap, "%u", c->batch_bytes_max); return;
	case 2: snprintf(out, cap, "%u", c->record_bytes_max); return;
	case 3: snprintf(out, cap, "%" PRId64, c->retention_bytes); return;
	case 4: snprintf(out, cap, "%" PRId64, c->retention_ms); return;
	case 5: snprintf(out, cap, "%" PRIu64, c->segment_bytes); return;
	case 6: snprintf(out, cap, "%" PRId64, c->segment_ms); return;
	}
	if (cap)
		out[0] = 0;
}

void elog_topic_config_to_partlog(const struct elog_topic_config *c,
				  struct elog_partlog_config *out)
{
	elog_partlog_config_default(out);
	out->segment_bytes = c->segment_bytes;
	out->segment_ms = c->segment_ms;
	out->retention_ms = c->retention_ms;
	out->retention_bytes = c->retention_bytes;
	out->flush = c->flush;
	out->flush_interval_ms = c->flush == ELOG_FLUSH_INTERVAL ? c->flush_interval_ms : 1000;
	out->batch_bytes_max = c->batch_bytes_max;
}
