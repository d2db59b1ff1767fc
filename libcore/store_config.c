/* store_config — topic configuration keys: parse, check, format; see store.h. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "segment.h"

/* Sorted: describe lists keys in this order. */
static const char *const keys[ELOG_TOPIC_CONFIG_KEYS] = {
	"cleanup.policy", "delete.retention.ms", "flush", "max.batch.bytes",
	"max.record.bytes", "retention.bytes", "retention.ms", "segment.bytes",
	"segment.ms",
};

/* The keys' places in keys[]. */
enum {
	K_CLEANUP, K_DELETE_RETENTION, K_FLUSH, K_BATCH_BYTES, K_RECORD_BYTES,
	K_RETENTION_BYTES, K_RETENTION_MS, K_SEGMENT_BYTES, K_SEGMENT_MS,
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
	c->cleanup = ELOG_CLEANUP_DELETE;
	c->delete_retention_ms = ELOG_DELETE_RETENTION_MS_DEFAULT;
}

const char *elog_topic_config_key(size_t i)
{
	return i < ELOG_TOPIC_CONFIG_KEYS ? keys[i] : NULL;
}

size_t elog_topic_config_find(const char *key)
{
	size_t i = 0;

	while (i < ELOG_TOPIC_CONFIG_KEYS && strcmp(keys[i], key) != 0)
		i++;
	return i;
}

void elog_format_duration_ms(int64_t ms, char *out, size_t cap)
{
	elog_cli_format_duration(ms, 0, out, cap);
}

/* Only decimal digits (and at least one). */
static int plain_digits(const char *s)
{
	return s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s);
}

/*
 * A key named *.ms: plain digits are milliseconds, as the name says (and as
 * Kafka users write them); otherwise a duration with units, whose unit is
 * kept for display. "-1" when allowed.
 */
static int parse_ms_key(const char *s, int allow_minus_one, int64_t *ms, int64_t *unit_ms,
			struct elog_err *err)
{
	*unit_ms = 0;
	if (allow_minus_one && strcmp(s, "-1") == 0) {
		*ms = -1;
		return 0;
	}
	if (plain_digits(s))
		return elog_cli_parse_i64(s, 0, INT64_MAX, ms, err);
	return elog_cli_parse_duration(s, ms, unit_ms, err);
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

/* flush: its name carries no unit, so an interval needs one (a bare "5" is refused). */
static int set_flush(struct elog_topic_config *c, const char *value, struct elog_err *err)
{
	int64_t ms, unit_ms;

	if (strcmp(value, "always") == 0) {
		c->flush = ELOG_FLUSH_ALWAYS;
		return 0;
	}
	if (strcmp(value, "never") == 0) {
		c->flush = ELOG_FLUSH_NEVER;
		return 0;
	}
	if (elog_cli_parse_duration(value, &ms, &unit_ms, err) < 0)
		return elog_err_prefix(err, "expected always, never or an interval");
	if (ms <= 0 || ms > 3600 * 1000)
		return elog_err_set(err, ELOG_E_INVAL, "flush interval %s is outside [1ms, 1h]", value);
	c->flush = ELOG_FLUSH_INTERVAL;
	c->flush_interval_ms = ms;
	c->flush_unit_ms = unit_ms;
	return 0;
}

/* cleanup.policy: delete, compact, or both (either order, comma between). */
static int set_cleanup(struct elog_topic_config *c, const char *value, struct elog_err *err)
{
	if (strcmp(value, "delete") == 0)
		c->cleanup = ELOG_CLEANUP_DELETE;
	else if (strcmp(value, "compact") == 0)
		c->cleanup = ELOG_CLEANUP_COMPACT;
	else if (strcmp(value, "compact,delete") == 0 || strcmp(value, "delete,compact") == 0)
		c->cleanup = ELOG_CLEANUP_DELETE | ELOG_CLEANUP_COMPACT;
	else
		return elog_err_set(err, ELOG_E_INVAL,
				    "expected delete, compact or compact,delete, not \"%s\"", value);
	return 0;
}

static int set_one(struct elog_topic_config *c, size_t i, const char *value, struct elog_err *err)
{
	uint64_t u;
	int64_t ms, unit_ms;

	switch (i) {
	case K_CLEANUP:
		return set_cleanup(c, value, err);
	case K_DELETE_RETENTION:
		if (parse_ms_key(value, 0, &ms, &unit_ms, err) < 0)
			return -1;
		c->delete_retention_ms = ms;
		c->delete_retention_unit_ms = unit_ms;
		return 0;
	case K_FLUSH:
		return set_flush(c, value, err);
	case K_BATCH_BYTES:
	case K_RECORD_BYTES:
		if (parse_bytes(value, i == K_BATCH_BYTES ? ELOG_BATCH_HEADER_SIZE : RECORD_BYTES_MIN,
				ELOG_BATCH_SIZE_MAX, &u, err) < 0)
			return -1;
		*(i == K_BATCH_BYTES ? &c->batch_bytes_max : &c->record_bytes_max) = (uint32_t)u;
		return 0;
	case K_RETENTION_BYTES:
		if (strcmp(value, "-1") == 0) {
			c->retention_bytes = -1;
			return 0;
		}
		if (parse_bytes(value, 0, INT64_MAX, &u, err) < 0)
			return -1;
		c->retention_bytes = (int64_t)u;
		return 0;
	case K_RETENTION_MS:
	case K_SEGMENT_MS:
		if (parse_ms_key(value, i == K_RETENTION_MS, &ms, &unit_ms, err) < 0)
			return -1;
		*(i == K_RETENTION_MS ? &c->retention_ms : &c->segment_ms) = ms;
		*(i == K_RETENTION_MS ? &c->retention_unit_ms : &c->segment_unit_ms) = unit_ms;
		return 0;
	case K_SEGMENT_BYTES:
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

/* A size key's value: bytes, or in its largest exact unit for a person. */
static void format_bytes(int64_t bytes, enum elog_topic_config_text how, char *out, size_t cap)
{
	if (how == ELOG_TOPIC_CONFIG_HUMAN && bytes > 0)
		elog_cli_format_size((uint64_t)bytes, out, cap);
	else
		snprintf(out, cap, "%" PRId64, bytes);
}

/* A duration key's value: plain ms (RAW, or AS_SET when it was set so), else with units. */
static void format_ms(int64_t ms, int64_t unit_ms, enum elog_topic_config_text how, char *out,
		      size_t cap)
{
	if (how == ELOG_TOPIC_CONFIG_RAW || (how == ELOG_TOPIC_CONFIG_AS_SET && unit_ms == 0))
		snprintf(out, cap, "%" PRId64, ms);
	else
		elog_cli_format_duration(ms, unit_ms, out, cap);
}

void elog_topic_config_format(const struct elog_topic_config *c, size_t i,
			      enum elog_topic_config_text how, char *out, size_t cap)
{
	switch (i) {
	case K_CLEANUP:
		snprintf(out, cap, "%s",
			 c->cleanup == ELOG_CLEANUP_COMPACT ? "compact"
			 : c->cleanup == (ELOG_CLEANUP_COMPACT | ELOG_CLEANUP_DELETE) ? "compact,delete"
										       : "delete");
		return;
	case K_DELETE_RETENTION:
		format_ms(c->delete_retention_ms, c->delete_retention_unit_ms, how, out, cap);
		return;
	case K_FLUSH:
		if (c->flush == ELOG_FLUSH_ALWAYS)
			snprintf(out, cap, "always");
		else if (c->flush == ELOG_FLUSH_NEVER)
			snprintf(out, cap, "never");
		else
			elog_cli_format_duration(c->flush_interval_ms,
						 how == ELOG_TOPIC_CONFIG_RAW ? 0 : c->flush_unit_ms,
						 out, cap);
		return;
	case K_BATCH_BYTES: format_bytes(c->batch_bytes_max, how, out, cap); return;
	case K_RECORD_BYTES: format_bytes(c->record_bytes_max, how, out, cap); return;
	case K_RETENTION_BYTES: format_bytes(c->retention_bytes, how, out, cap); return;
	case K_RETENTION_MS: format_ms(c->retention_ms, c->retention_unit_ms, how, out, cap); return;
	case K_SEGMENT_BYTES: format_bytes((int64_t)c->segment_bytes, how, out, cap); return;
	case K_SEGMENT_MS: format_ms(c->segment_ms, c->segment_unit_ms, how, out, cap); return;
	}
	if (cap)
		out[0] = 0;
}

void elog_topic_config_get(const struct elog_topic_config *c, size_t i, char *out, size_t cap)
{
	elog_topic_config_format(c, i, ELOG_TOPIC_CONFIG_AS_SET, out, cap);
}

void elog_topic_config_to_partlog(const struct elog_topic_config *c,
				  struct elog_partlog_config *out)
{
	elog_partlog_config_default(out);
	out->segment_bytes = c->segment_bytes;
	out->segment_ms = c->segment_ms;
	/* cleanup.policy=compact alone: time and size retention delete nothing. */
	out->retention_ms = c->cleanup & ELOG_CLEANUP_DELETE ? c->retention_ms : -1;
	out->retention_bytes = c->cleanup & ELOG_CLEANUP_DELETE ? c->retention_bytes : -1;
	out->flush = c->flush;
	out->flush_interval_ms = c->flush == ELOG_FLUSH_INTERVAL ? c->flush_interval_ms : 1000;
	out->batch_bytes_max = c->batch_bytes_max;
}
