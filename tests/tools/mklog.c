/*
 * mklog — test-only writer: appends generated records to a partition
 * directory through elog_partlog, so the bats tests get real logs.
 *
 *   mklog [-x] [-b per_batch] [-c none|lz4|zlib] [-i index_interval] [-n count]
 *         [-p producer_id] [-s segment_bytes] [-t first_timestamp] [-T term]
 *         [-V value_bytes] dir
 *
 * Record at offset N: timestamp first_timestamp + N, key "key-N", value
 * "value-N" (padded with '.' to value_bytes when given), one header
 * "seq" = "N". Running it again on the same directory appends after the
 * existing records. -x then appends one batch of unusual records (null and
 * empty keys, binary bytes, a tombstone, odd header names) for the escaping
 * tests. Exit 0, or 1 with a message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "partlog.h"

#define VALUE_BYTES_MAX (1u << 20)

struct mklog {
	struct elog_partlog_config config;
	enum elog_compression compression;
	uint64_t count, per_batch, value_bytes, term;
	int64_t first_timestamp, producer_id;
	int extras;
};

static int append_batch(struct elog_partlog *log, struct elog_batch_builder *b, uint64_t term,
			struct elog_err *err)
{
	const uint8_t *out;
	uint8_t *copy;
	size_t len;
	int64_t base;
	int rc;

	if (elog_batch_builder_finish(b, &out, &len, err) < 0)
		return -1;
	copy = malloc(len);
	if (!copy)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, term, &base, err);
	free(copy);
	elog_batch_builder_reset(b);
	return rc;
}

static int add_generated(struct mklog *m, struct elog_batch_builder *b, int64_t offset,
			 char *value, struct elog_err *err)
{
	char key[32], seq[24];
	struct elog_header h = {(const uint8_t *)"seq", 3, (const uint8_t *)seq, 0};
	struct elog_record r = {0};
	int n = snprintf(value, VALUE_BYTES_MAX + 1, "value-%" PRId64, offset);

	if ((uint64_t)n < m->value_bytes) {
		memset(value + n, '.', m->value_bytes - (uint64_t)n);
		n = (int)m->value_bytes;
	}
	snprintf(key, sizeof(key), "key-%" PRId64, offset);
	h.value_len = snprintf(seq, sizeof(seq), "%" PRId64, offset);
	r.timestamp_ms = m->first_timestamp + offset;
	r.key = (const uint8_t *)key;
	r.key_len = (int32_t)strlen(key);
	r.value = (const uint8_t *)value;
	r.value_len = n;
	r.headers = &h;
	r.header_count = 1;
	return elog_batch_builder_add(b, &r, err);
}

static int append_generated(struct mklog *m, struct elog_partlog *log, struct elog_err *err)
{
	struct elog_batch_builder b;
	char *value = malloc(VALUE_BYTES_MAX + 1);
	int64_t offset = elog_partlog_next_offset(log);
	int rc = 0;

	if (!value)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	elog_batch_builder_init(&b, m->compression, 0);
	for (uint64_t i = 0; i < m->count && rc == 0; i++, offset++) {
		if (elog_batch_builder_count(&b) == 0 && m->producer_id >= 0) {
			b.producer_id = m->producer_id;
			b.producer_epoch = 0;
			b.base_sequence = (int32_t)offset;
		}
		rc = add_generated(m, &b, offset, value, err);
		if (rc == 0 && (elog_batch_builder_count(&b) == m->per_batch || i + 1 == m->count))
			rc = append_batch(log, &b, m->term, err);
	}
	elog_batch_builder_release(&b);
	free(value);
	return rc;
}

/* One batch of records that exercise the dump's escaping. */
static int append_extras(struct mklog *m, struct elog_partlog *log, struct elog_err *err)
{
	static const uint8_t binary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '\\', '\n', '\r',
					 '\t', ' ', '=', 'a'};
	static const struct elog_header odd[] = {
		{(const uint8_t *)"a b=c", 5, NULL, -1},
		{(const uint8_t *)"utf8", 4, (const uint8_t *)"\xc3\xa9", 2},
		{(const uint8_t *)"", 0, (const uint8_t *)"", 0},
	};
	struct elog_record r[5] = {
		{0, NULL, -1, (const uint8_t *)"null key", 8, NULL, 0},
		{0, (const uint8_t *)"", 0, (const uint8_t *)"", 0, NULL, 0},
		{0, (const uint8_t *)"bin", 3, binary, (int32_t)sizeof(binary), NULL, 0},
		{0, (const uint8_t *)"tomb", 4, NULL, -1, NULL, 0},
		{0, (const uint8_t *)"hdr", 3, (const uint8_t *)"v", 1, odd, 3},
	};
	struct elog_batch_builder b;
	int64_t offset = elog_partlog_next_offset(log);
	int rc = 0;

	elog_batch_builder_init(&b, m->compression, 0);
	for (int i = 0; i < 5 && rc == 0; i++) {
		r[i].timestamp_ms = m->first_timestamp + offset + i;
		rc = elog_batch_builder_add(&b, &r[i], err);
	}
	if (rc == 0)
		rc = append_batch(log, &b, m->term, err);
	elog_batch_builder_release(&b);
	return rc;
}

static int parse_option(struct mklog *m, int c, const char *arg, struct elog_err *err)
{
	int64_t ts;
	int comp;

	switch (c) {
	case 'b': return elog_cli_parse_u64(arg, 1, UINT32_MAX, &m->per_batch, err);
	case 'n': return elog_cli_parse_u64(arg, 0, UINT32_MAX, &m->count, err);
	case 's': return elog_cli_parse_size(arg, &m->config.segment_bytes, err);
	case 'T': return elog_cli_parse_u64(arg, 0, INT64_MAX, &m->term, err);
	case 'V': return elog_cli_parse_u64(arg, 0, VALUE_BYTES_MAX, &m->value_bytes, err);
	case 'p': return elog_cli_parse_i64(arg, 0, INT64_MAX, &m->producer_id, err);
	case 'x': m->extras = 1; return 0;
	case 'i': {
		uint64_t v;
		if (elog_cli_parse_size(arg, &v, err) < 0)
			return -1;
		m->config.index_interval_bytes = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
		return 0;
	}
	case 't':
		if (elog_cli_parse_timestamp_ms(arg, &ts, err) < 0)
			return -1;
		m->first_timestamp = ts;
		return 0;
	case 'c':
		if ((comp = elog_compression_parse(arg)) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "unknown compression \"%s\"", arg);
		m->compression = (enum elog_compression)comp;
		return 0;
	}
	return elog_err_set(err, ELOG_E_INVAL, "usage: mklog [-x] [-b n] [-c codec] [-i size] "
			    "[-n count] [-p id] [-s size] [-t ts] [-T term] [-V bytes] dir");
}

int main(int argc, char **argv)
{
	struct mklog m = {.count = 10, .per_batch = 1, .term = 1,
			  .first_timestamp = 1700000000000, .producer_id = -1};
	struct elog_partlog_recovery report;
	struct elog_partlog *log;
	struct elog_err err;
	int c;

	elog_cli_init(argv[0]);
	elog_partlog_config_default(&m.config);
	m.config.segment_bytes = 1u << 20;
	m.config.flush = ELOG_FLUSH_NEVER;
	while ((c = getopt(argc, argv, "b:c:i:n:p:s:t:T:V:x")) != -1)
		if (parse_option(&m, c, optarg, &err) < 0) {
			elog_cli_error_err(&err, NULL);
			return ELOG_EXIT_USAGE;
		}
	if (optind + 1 != argc) {
		elog_cli_error("usage: mklog [options] dir");
		return ELOG_EXIT_USAGE;
	}
	if (elog_partlog_open(argv[optind], &m.config, &log, &report, &err) < 0) {
		elog_cli_error_err(&err, "%s", argv[optind]);
		return ELOG_EXIT_FAIL;
	}
	if (append_generated(&m, log, &err) < 0 || (m.extras && append_extras(&m, log, &err) < 0) ||
	    elog_partlog_flush(log, &err) < 0) {
		elog_cli_error_err(&err, "%s", argv[optind]);
		elog_partlog_close(log);
		return ELOG_EXIT_FAIL;
	}
	elog_partlog_close(log);
	return ELOG_EXIT_OK;
}
