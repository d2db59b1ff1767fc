/* lineconv — one input line into one record; see lineconv.h. */
#include "lineconv.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lineread.h"

void elog_lineconv_config_init(struct elog_lineconv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = ELOG_LINECONV_JSON;
}

size_t elog_lineconv_line_bytes_max(enum elog_lineconv_mode mode, uint64_t record_bytes_max)
{
	uint64_t n = record_bytes_max;

	if (mode == ELOG_LINECONV_ENVELOPE)
		n = record_bytes_max * ELOG_LINECONV_ENVELOPE_FACTOR + ELOG_LINECONV_ENVELOPE_SLACK;
	return n > ELOG_LINEREAD_LIMIT ? ELOG_LINEREAD_LIMIT : (size_t)n;
}

int elog_lineconv_init(struct elog_lineconv *lc, const struct elog_lineconv_config *cfg,
		       struct elog_err *err)
{
	memset(lc, 0, sizeof(*lc));
	lc->config = *cfg;
	if (cfg->record_bytes_max == 0)
		return elog_err_set(err, ELOG_E_INVAL, "record size limit of 0 bytes");
	if (cfg->header_count > ELOG_RECORD_HEADERS_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "more than %d headers", ELOG_RECORD_HEADERS_MAX);
	if (cfg->mode == ELOG_LINECONV_ENVELOPE && (cfg->key_field || cfg->key_delimiter))
		return elog_err_set(err, ELOG_E_INVAL, "an envelope has its own key: no key field "
				    "or delimiter");
	if (cfg->key_field && (cfg->key_delimiter || cfg->mode == ELOG_LINECONV_RAW))
		return elog_err_set(err, ELOG_E_INVAL, "a key field needs JSON lines without a key "
				    "delimiter");
	if ((cfg->key_field && !cfg->key_field[0]) ||
	    (cfg->key_delimiter && cfg->key_delimiter_len == 0))
		return elog_err_set(err, ELOG_E_INVAL, "empty key field or delimiter");
	lc->line_bytes_max = elog_lineconv_line_bytes_max(cfg->mode, cfg->record_bytes_max);
	if (cfg->mode == ELOG_LINECONV_ENVELOPE) {
		elog_envelope_init(&lc->envelope, lc->line_bytes_max);
		lc->envelope_ready = 1;
	}
	if (cfg->key_field && !(lc->key_buf = malloc(lc->line_bytes_max)))
		return elog_err_set(err, ELOG_E_NOMEM, "cannot allocate a %zu-byte key buffer",
				    lc->line_bytes_max);
	return 0;
}

void elog_lineconv_release(struct elog_lineconv *lc)
{
	if (lc->envelope_ready)
		elog_envelope_release(&lc->envelope);
	lc->envelope_ready = 0;
	free(lc->key_buf);
	lc->key_buf = NULL;
}

void elog_lineconv_set_partition_count(struct elog_lineconv *lc, uint32_t partition_count)
{
	lc->config.partition_count = partition_count;
}

uint64_t elog_lineconv_record_bytes(const struct elog_record *rec)
{
	uint64_t n = (rec->key_len > 0 ? (uint64_t)rec->key_len : 0) +
		     (rec->value_len > 0 ? (uint64_t)rec->value_len : 0);

	for (uint32_t i = 0; i < rec->header_count; i++)
		n += rec->headers[i].name_len +
		     (rec->headers[i].value_len > 0 ? (uint64_t)rec->headers[i].value_len : 0);
	return n;
}

/* ---------------------------------------------------------------- keys */

static const char *json_type_phrase(enum elog_json_type t)
{
	switch (t) {
	case ELOG_JSON_OBJECT: return "an object";
	case ELOG_JSON_ARRAY: return "an array";
	case ELOG_JSON_TRUE:
	case ELOG_JSON_FALSE: return "a boolean";
	default: return elog_json_type_name(t);
	}
}

/*
 * The key from a top-level member of a valid JSON line. A missing member, a
 * null, or a line that is not an object: null key and a warning. 0 ok, -1
 * rejected.
 */
static int key_from_field(struct elog_lineconv *lc, const char *text, size_t len,
			  struct elog_lineconv_result *out, struct elog_err *err)
{
	const char *field = lc->config.key_field;
	struct elog_json_value v;
	struct elog_err e;
	size_t key_len;
	int rc = elog_json_object_get(text, len, field, strlen(field), &v, &e);

	if (rc <= 0 || v.type == ELOG_JSON_NULL) {
		snprintf(lc->warning, sizeof(lc->warning), "%s \"%s\"",
			 rc < 0 ? "not an object, so no field" : rc == 0 ? "no field" : "null field",
			 field);
		out->warning = lc->warning;
		return 0;
	}
	if (v.type == ELOG_JSON_NUMBER) {
		out->record.key = (const uint8_t *)v.ptr;
		out->record.key_len = (int32_t)v.len;
		return 0;
	}
	if (v.type != ELOG_JSON_STRING)
		return elog_err_set(err, ELOG_E_INVAL, "key field \"%s\" is %s, not a string or a number",
				    field, json_type_phrase(v.type));
	if (elog_json_string_decode(v.ptr, v.len, lc->key_buf, lc->line_bytes_max, &key_len, &e) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "key field: %s", e.msg);
	out->record.key = (const uint8_t *)lc->key_buf;
	out->record.key_len = (int32_t)key_len;
	return 0;
}

/* Split at the first delimiter; without one the whole line is the value. */
static void key_from_delimiter(struct elog_lineconv *lc, const char **text, size_t *len,
			       struct elog_lineconv_result *out)
{
	const char *d = memmem(*text, *len, lc->config.key_delimiter, lc->config.key_delimiter_len);
	size_t skip;

	if (!d) {
		snprintf(lc->warning, sizeof(lc->warning), "no key delimiter");
		out->warning = lc->warning;
		return;
	}
	out->record.key = (const uint8_t *)*text;
	out->record.key_len = (int32_t)(d - *text);
	skip = (size_t)(d - *text) + lc->config.key_delimiter_len;
	*text += skip;
	*len -= skip;
}

/* ---------------------------------------------------------------- lines */

/* An envelope into out; the config's headers go after its own. */
static int from_envelope(struct elog_lineconv *lc, const char *text, size_t len,
			 struct elog_lineconv_result *out, struct elog_err *err)
{
	struct elog_envelope *env = &lc->envelope;
	const struct elog_lineconv_config *cfg = &lc->config;
	struct elog_err e;

	if (elog_envelope_decode(env, text, len, &e) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "invalid envelope: %s", e.msg);
	out->record = env->record;
	if (!env->has_timestamp)
		out->record.timestamp_ms = cfg->timestamp_default;
	if (cfg->header_count > 0) {
		uint32_t own = out->record.header_count;

		if (own + cfg->header_count > ELOG_RECORD_HEADERS_MAX)
			return elog_err_set(err, ELOG_E_INVAL, "more than %d headers with the added ones",
					    ELOG_RECORD_HEADERS_MAX);
		memcpy(lc->headers, out->record.headers, own * sizeof(lc->headers[0]));
		memcpy(lc->headers + own, cfg->headers, cfg->header_count * sizeof(lc->headers[0]));
		out->record.headers = lc->headers;
		out->record.header_count = own + cfg->header_count;
	}
	if (cfg->keep_partition && env->has_partition) {
		if (cfg->partition_count > 0 && env->partition >= cfg->partition_count)
			return elog_err_set(err, ELOG_E_INVAL, "partition %" PRIu32 " out of range: "
					    "the topic has %" PRIu32, env->partition,
					    cfg->partition_count);
		if (env->partition > INT32_MAX)
			return elog_err_set(err, ELOG_E_INVAL, "partition %" PRIu32 " out of range",
					    env->partition);
		out->partition = (int32_t)env->partition;
	}
	return 0;
}

/* A JSON or raw line, with its key, into out. */
static int from_line(struct elog_lineconv *lc, const char *text, size_t len,
		     struct elog_lineconv_result *out, struct elog_err *err)
{
	const struct elog_lineconv_config *cfg = &lc->config;
	struct elog_err e;

	if (cfg->key_delimiter)
		key_from_delimiter(lc, &text, &len, out);
	if (cfg->mode == ELOG_LINECONV_JSON &&
	    elog_json_validate(text, len, ELOG_JSON_DEPTH_DEFAULT, NULL, &e) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: %s",
				    cfg->key_delimiter ? "invalid JSON value" : "invalid JSON", e.msg);
	if (cfg->key_field && key_from_field(lc, text, len, out, err) < 0)
		return -1;
	out->record.value = (const uint8_t *)text;
	out->record.value_len = (int32_t)len;
	return 0;
}

int elog_lineconv_convert(struct elog_lineconv *lc, const char *text, size_t len,
			  struct elog_lineconv_result *out, struct elog_err *err)
{
	const struct elog_lineconv_config *cfg = &lc->config;
	uint64_t size;
	int rc;

	assert(text || len == 0);
	memset(out, 0, sizeof(*out));
	out->record.timestamp_ms = cfg->timestamp_default;
	out->record.key_len = -1;
	out->record.value_len = -1;
	out->record.headers = cfg->headers;
	out->record.header_count = cfg->header_count;
	out->partition = -1;
	if (len > lc->line_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "line longer than %zu bytes", lc->line_bytes_max);
	if (cfg->mode != ELOG_LINECONV_RAW && len > 0 && text[len - 1] == '\r')
		len--;
	if (cfg->mode == ELOG_LINECONV_ENVELOPE)
		rc = from_envelope(lc, text, len, out, err);
	else
		rc = from_line(lc, text, len, out, err);
	if (rc < 0) {
		out->warning = NULL;
		return -1;
	}
	size = elog_lineconv_record_bytes(&out->record);
	if (size > cfg->record_bytes_max) {
		out->warning = NULL;
		return elog_err_set(err, ELOG_E_LIMIT, "record too large: %" PRIu64 " bytes with key "
				    "and headers, the limit is %" PRIu64, size, cfg->record_bytes_max);
	}
	assert(out->partition >= -1);
	return 0;
}
