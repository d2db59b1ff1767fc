/*
 * elog-topic — create, alter, delete, purge, list and describe topics over
 * the protocol; see elog-topic(1).
 *
 * Config options are spellings of the broker's topic config keys
 * (--retention is retention.ms, ...). Every value, theirs and -c's, is
 * checked here with the broker's own parser (libcore's store_config), so a
 * bad one is a usage error (exit 2) before anything is sent; it goes to the
 * broker as typed, which checks it again and keeps the unit it was given in.
 * The options follow the command line's rule (elog(7) VALUES): --retention
 * needs a unit, where -c retention.ms=604800000 is milliseconds by its name.
 *
 * purge moves partitions' log starts up (DELETE_RECORDS): --before is an
 * offset, "end", -N or @TIME, resolved here per partition (LIST_OFFSETS)
 * except "end", which the broker takes as its high watermark.
 *
 * Output (list, describe, purge): an aligned table with sizes and
 * durations for a person when stdout is a terminal, TSV lines otherwise,
 * JSON with --json; the TSV and JSON forms carry plain numbers (ms, bytes),
 * are documented in the man page and stable: fields are only ever added.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "json.h"
#include "proto.h"
#include "store.h"
#include "table.h"

#define CONFIGS_MAX 32
#define TIMEOUT_DEFAULT_MS 30000
/* describe on a terminal wraps its config line here */
#define SCREEN_COLUMNS 80
#define JSON_OUT_MAX (64u << 20)
/* Topic/partition operands of one purge. */
#define PURGE_TARGETS_MAX 1024

enum {
	OPT_BEFORE = 256,
	OPT_FLUSH,
	OPT_IF_EXISTS,
	OPT_IF_NOT_EXISTS,
	OPT_MAX_RECORD_BYTES,
	OPT_RETENTION,
	OPT_RETENTION_BYTES,
	OPT_SEGMENT_BYTES,
	OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_VERSION,
	OPT__END,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'c', "config", "KEY=VALUE", "set a topic config key (create, alter); repeatable"},
	{'j', "json", NULL, "print JSON (list, describe, purge)"},
	{'n', "dry-run", NULL, "purge: print what would be purged, change nothing"},
	{'p', "partitions", "N", "partitions (create: the broker's default.partitions; alter: grow to N)"},
	{'r', "replication-factor", "N", "replicas of each partition (create; default: the broker's)"},
	{OPT_FLUSH, "flush", "POLICY", "flush: always, never or an interval like 1s"},
	{OPT_MAX_RECORD_BYTES, "max-record-bytes", "SIZE", "max.record.bytes: largest record"},
	{OPT_RETENTION, "retention", "DURATION", "retention.ms: drop segments older, e.g. 7d (-1: keep)"},
	{OPT_RETENTION_BYTES, "retention-bytes", "SIZE",
	 "retention.bytes: partition size kept (-1: all)"},
	{OPT_SEGMENT_BYTES, "segment-bytes", "SIZE", "segment.bytes: roll segments at this size"},
	{OPT_BEFORE, "before", "POSITION",
	 "purge: the records before OFFSET, @TIME or end (-N: all but the last N)"},
	{OPT_IF_EXISTS, "if-exists", NULL, "delete: a missing topic is not an error"},
	{OPT_IF_NOT_EXISTS, "if-not-exists", NULL, "create: an existing topic is not an error"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 30s)"},
	{OPT_CONNECT_TIMEOUT, "connect-timeout", "DURATION", "wait this long for a connection to a broker (default 3s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

/* The synopsis has one line per command, like the man page's. */
#define SYNOPSIS_INDENT "\n       elog-topic "
static const struct elog_cli_program program = {
	.synopsis = "[-b brokers] create [-p partitions] [-r replicas] [-c key=value]"
		    " [--if-not-exists] [config-options] topic ..."
		    SYNOPSIS_INDENT "[-b brokers] alter [-p partitions] [-c key=value]"
		    " [config-options] topic ..."
		    SYNOPSIS_INDENT "[-b brokers] delete [--if-exists] topic ..."
		    SYNOPSIS_INDENT "[-b brokers] purge [-jn] --before position"
		    " topic[:partition[,partition...]] ..."
		    SYNOPSIS_INDENT "[-b brokers] list [-j]"
		    SYNOPSIS_INDENT "[-b brokers] describe [-j] [topic ...]"
		    SYNOPSIS_INDENT "-h | --version",
	.summary = "Administer topics. config-options are --flush, --max-record-bytes,\n"
		   "--retention, --retention-bytes and --segment-bytes.",
	.options = options,
};

enum command { CMD_CREATE, CMD_ALTER, CMD_DELETE, CMD_PURGE, CMD_LIST, CMD_DESCRIBE, CMD__COUNT };

static const char *const command_names[CMD__COUNT] = {
	"create", "alter", "delete", "purge", "list", "describe",
};

/* Options each command takes, besides -b, --timeout, -h, --version. */
static const char *const command_options[CMD__COUNT] = {
	[CMD_CREATE] = "pcr" "F" "M" "R" "B" "S" "N",
	[CMD_ALTER] = "pc" "F" "M" "R" "B" "S",
	[CMD_DELETE] = "E",
	[CMD_PURGE] = "jnW",
	[CMD_LIST] = "j",
	[CMD_DESCRIBE] = "j",
};

/* One purge operand's topic and partition (-1: every partition). */

struct options {
	const char *brokers;
	enum command command;
	char *const *topics;
	size_t topic_count;
	uint32_t partitions;            /* 0: not given */
	uint16_t replication_factor;    /* 0: not given */
	struct elog_config_entry configs[CONFIGS_MAX];
	size_t config_count;
	char config_text[CONFIGS_MAX][2][ELOG_TOPIC_NAME_MAX + 1]; /* -c KEY=VALUE, split */
	int json;
	int if_exists, if_not_exists;
	int dry_run;                    /* purge -n */
	struct elog_pos before;         /* purge --before */
	struct elog_cli_target targets[PURGE_TARGETS_MAX];
	size_t target_count;
	int64_t timeout_ms;
	int64_t connect_timeout_ms;     /* 0: the library's default */
	char given[OPT__END];           /* which options were given, by id */
};

/* ---------------------------------------------------------------- options */

/* The letter command_options uses for an option id. */
static char option_letter(int id)
{
	switch (id) {
	case OPT_FLUSH: return 'F';
	case OPT_MAX_RECORD_BYTES: return 'M';
	case OPT_RETENTION: return 'R';
	case OPT_RETENTION_BYTES: return 'B';
	case OPT_SEGMENT_BYTES: return 'S';
	case OPT_IF_NOT_EXISTS: return 'N';
	case OPT_IF_EXISTS: return 'E';
	case OPT_BEFORE: return 'W';
	default: return (char)id;
	}
}

static const char *option_name(int id)
{
	for (const struct elog_cli_option *o = options; o->id; o++)
		if (o->id == id)
			return o->long_name;
	return "?";
}

/*
 * Check value as the broker will (a usage error, exit 2, when it is bad),
 * then set key to it, replacing an earlier value of the same key. option
 * names the option that spells the key (--flush), whose message then leaves
 * the key out; NULL for -c, whose message names the key.
 */
static int config_set(struct options *o, const char *option, const char *key, const char *value)
{
	struct elog_topic_config scratch;
	struct elog_err err;
	size_t i, key_len = strlen(key);

	elog_topic_config_default(&scratch);
	if (elog_topic_config_set(&scratch, key, value, &err) < 0) {
		const char *why = err.msg;
		if (option && strncmp(why, key, key_len) == 0 && strncmp(why + key_len, ": ", 2) == 0)
			why += key_len + 2;
		return elog_cli_usage_error(&program, "%s: %s", option ? option : "--config", why);
	}
	for (i = 0; i < o->config_count; i++)
		if (strcmp(o->configs[i].key, key) == 0)
			break;
	if (i == CONFIGS_MAX)
		return elog_cli_usage_error(&program, "more than %d config keys", CONFIGS_MAX);
	o->configs[i].key = key;
	o->configs[i].value = value;
	if (i == o->config_count)
		o->config_count++;
	return -1;
}

static int config_option(struct options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t key_len = eq ? (size_t)(eq - arg) : 0;
	size_t i = o->config_count;

	if (!eq || key_len == 0)
		return elog_cli_usage_error(&program, "--config: expected KEY=VALUE, not \"%s\"", arg);
	if (key_len > ELOG_TOPIC_NAME_MAX || strlen(eq + 1) > ELOG_TOPIC_NAME_MAX)
		return elog_cli_usage_error(&program, "--config: \"%s\" is too long", arg);
	if (i == CONFIGS_MAX)
		return elog_cli_usage_error(&program, "more than %d config keys", CONFIGS_MAX);
	memcpy(o->config_text[i][0], arg, key_len);
	o->config_text[i][0][key_len] = '\0';
	snprintf(o->config_text[i][1], sizeof(o->config_text[i][1]), "%s", eq + 1);
	return config_set(o, NULL, o->config_text[i][0], o->config_text[i][1]);
}

/* --retention: a duration with its unit (7d), or -1; never a bare number of ms. */
static int retention_option(struct options *o, const char *arg)
{
	struct elog_err err;
	int64_t ms;

	if (strcmp(arg, "-1") != 0 && elog_cli_parse_duration_ms(arg, &ms, &err) < 0)
		return elog_cli_usage_error(&program, "--retention: %s", err.msg);
	return config_set(o, "--retention", "retention.ms", arg);
}

static int parse_value(struct options *o, int id, const char *arg)
{
	struct elog_err err;
	uint64_t u;

	switch (id) {
	case 'b':
		o->brokers = arg;
		return -1;
	case 'c':
		return config_option(o, arg);
	case 'p':
	case 'r':
		if (elog_cli_parse_u64(arg, 1, id == 'p' ? UINT32_MAX : UINT16_MAX, &u, &err) < 0)
			return elog_cli_usage_error(&program, "--%s: %s", option_name(id), err.msg);
		if (id == 'p')
			o->partitions = (uint32_t)u;
		else
			o->replication_factor = (uint16_t)u;
		return -1;
	case OPT_FLUSH: return config_set(o, "--flush", "flush", arg);
	case OPT_MAX_RECORD_BYTES: return config_set(o, "--max-record-bytes", "max.record.bytes", arg);
	case OPT_RETENTION: return retention_option(o, arg);
	case OPT_RETENTION_BYTES: return config_set(o, "--retention-bytes", "retention.bytes", arg);
	case OPT_SEGMENT_BYTES: return config_set(o, "--segment-bytes", "segment.bytes", arg);
	case OPT_BEFORE:
		if (elog_pos_parse(arg, &o->before, &err) < 0)
			return elog_cli_usage_error(&program, "--before: %s", err.msg);
		return -1;
	case OPT_TIMEOUT:
		return elog_cli_duration_option(&program, "--timeout", arg, 1, INT32_MAX / 2, "1ms..12d",
						&o->timeout_ms);
	case OPT_CONNECT_TIMEOUT:
		return elog_cli_duration_option(&program, "--connect-timeout", arg, 1, 600000, "1ms..10m",
						&o->connect_timeout_ms);
	}
	return elog_cli_usage_error(&program, NULL);
}

/* purge's TOPIC[:PARTITION[,PARTITION...]], split in place; -1 to go on. */
static int parse_target(struct options *o, char *operand)
{
	return elog_cli_target_operand(&program, "purge: ", operand, o->targets, &o->target_count,
				       PURGE_TARGETS_MAX);
}

/* The command and its topics from the operands; options it does not take. */
static int parse_operands(struct options *o, int argc, char **argv, int first)
{
	struct elog_err err;
	int c, rc;

	if (first >= argc)
		return elog_cli_usage_error(&program, "missing command: create, alter, delete, purge, "
					    "list or describe");
	for (c = 0; c < CMD__COUNT; c++)
		if (strcmp(argv[first], command_names[c]) == 0)
			break;
	if (c == CMD__COUNT)
		return elog_cli_usage_error(&program, "unknown command \"%s\"", argv[first]);
	o->command = (enum command)c;
	o->topics = argv + first + 1;
	o->topic_count = (size_t)(argc - first - 1);
	for (int id = 1; id < OPT__END; id++)
		if (o->given[id] && id != 'b' && id != OPT_TIMEOUT && id != OPT_CONNECT_TIMEOUT &&
		    !strchr(command_options[c], option_letter(id)))
			return elog_cli_usage_error(&program, "--%s does not apply to %s",
						    option_name(id), command_names[c]);
	if (c == CMD_LIST && o->topic_count > 0)
		return elog_cli_usage_error(&program, "list takes no topic");
	if (c != CMD_LIST && c != CMD_DESCRIBE && o->topic_count == 0)
		return elog_cli_usage_error(&program, "%s: missing topic", command_names[c]);
	if (c == CMD_ALTER && o->partitions == 0 && o->config_count == 0)
		return elog_cli_usage_error(&program, "alter: nothing to change: give --partitions "
					    "or a config option");
	if (c == CMD_PURGE && !o->given[OPT_BEFORE])
		return elog_cli_usage_error(&program, "purge: missing --before: an offset, @time, -N "
					    "or end");
	for (size_t i = 0; c == CMD_PURGE && i < o->topic_count; i++)
		if ((rc = parse_target(o, o->topics[i])) >= 0)
			return rc;
	for (size_t i = 0; c != CMD_PURGE && i < o->topic_count; i++)
		if (elog_topic_name_check(o->topics[i], strlen(o->topics[i]), c == CMD_DESCRIBE,
					  &err) < 0)
			return elog_cli_usage_error(&program, "%s", err.msg);
	return -1;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	int id, rc;

	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id > 0 && id < OPT__END)
			o->given[id] = 1;
		switch (id) {
		case ELOG_CLI_DONE:
			return ELOG_EXIT_OK;
		case 'j':
			o->json = 1;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case OPT_IF_EXISTS:
			o->if_exists = 1;
			break;
		case OPT_IF_NOT_EXISTS:
			o->if_not_exists = 1;
			break;
		case ELOG_CLI_BAD:
			return elog_cli_usage_error(&program, NULL);
		default:
			if ((rc = parse_value(o, id, g.arg)) >= 0)
				return rc;
		}
	}
	return parse_operands(o, argc, argv, g.index);
}

/* "1,2,3" */
static void id_list(char *out, size_t cap, const int32_t *ids, uint32_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t i = 0; i < n && used < cap; i++) {
		int w = snprintf(out + used, cap - used, "%s%" PRId32, i ? "," : "", ids[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* ---------------------------------------------------------------- values */

/*
 * The broker answers each config value as it was set ("7d"); the TSV and
 * JSON forms print plain numbers (RAW) and a terminal a person's form
 * (HUMAN), both made by libcore's own parser and formatter. A key this
 * build does not know is printed as the broker sent it.
 */
static void config_text(const char *key, const char *value, enum elog_topic_config_text how,
			char *out, size_t cap)
{
	struct elog_topic_config c;

	elog_topic_config_default(&c);
	if (elog_topic_config_set(&c, key, value, NULL) == 0)
		for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++)
			if (strcmp(elog_topic_config_key(i), key) == 0) {
				elog_topic_config_format(&c, i, how, out, cap);
				return;
			}
	snprintf(out, cap, "%s", value);
}

/* The topic's config as the broker described it (defaults for keys it left out). */
static void config_of(const struct elog_topic_description *d, struct elog_topic_config *c)
{
	elog_topic_config_default(c);
	for (size_t i = 0; i < d->config_count; i++)
		(void)elog_topic_config_set(c, d->configs[i].key, d->configs[i].value, NULL);
}

/* Records the topic holds: the offsets between each partition's start and end. */
static int64_t records_of(const struct elog_topic_description *d)
{
	int64_t n = 0;

	for (size_t i = 0; i < d->partition_desc_count; i++)
		if (d->partitions[i].high_watermark > d->partitions[i].log_start_offset)
			n += d->partitions[i].high_watermark - d->partitions[i].log_start_offset;
	return n;
}

static uint64_t bytes_of(const struct elog_topic_description *d)
{
	uint64_t n = 0;

	for (size_t i = 0; i < d->partition_desc_count; i++)
		n += d->partitions[i].size_bytes;
	return n;
}

/* list's RETENTION cell: "7d", "10G", "7d or 10G", "forever", or "compacted"
 * (cleanup.policy=compact alone: retention deletes nothing). */
static void retention_cell(const struct elog_topic_config *c, char *out, size_t cap)
{
	char time[ELOG_TOPIC_CONFIG_VALUE_MAX], size[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_topic_config_format(c, elog_topic_config_find("retention.ms"), ELOG_TOPIC_CONFIG_HUMAN,
				 time, sizeof(time));
	elog_topic_config_format(c, elog_topic_config_find("retention.bytes"),
				 ELOG_TOPIC_CONFIG_HUMAN, size, sizeof(size));
	if (!(c->cleanup & ELOG_CLEANUP_DELETE))
		snprintf(out, cap, "compacted");
	else if (c->retention_ms < 0 && c->retention_bytes < 0)
		snprintf(out, cap, "forever");
	else if (c->retention_bytes < 0)
		snprintf(out, cap, "%s", time);
	else if (c->retention_ms < 0)
		snprintf(out, cap, "%s", size);
	else
		snprintf(out, cap, "%s or %s", time, size);
}

/* ---------------------------------------------------------------- JSON */

static void json_string(struct elog_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (elog_json_utf8_span(s, n) == n)
		elog_json_buf_add_string(b, s, n, NULL);
	else
		elog_json_buf_add_string(b, "", 0, NULL);
}

static void json_raw(struct elog_buf *b, const char *s)
{
	elog_buf_add(b, s, strlen(s), NULL);
}

static void json_int(struct elog_buf *b, int64_t v)
{
	elog_json_buf_add_int64(b, v, NULL);
}

static void json_ids(struct elog_buf *b, const int32_t *ids, uint32_t n)
{
	json_raw(b, "[");
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			json_raw(b, ",");
		json_int(b, ids[i]);
	}
	json_raw(b, "]");
}

/* ---------------------------------------------------------------- commands */

static int replication_of(const struct elog_meta_topic *t)
{
	return t && t->partition_count > 0 ? (int)t->partitions[0].replica_count : 0;
}

static int compare_names(const void *a, const void *b)
{
	const struct elog_meta_topic *x = *(const struct elog_meta_topic *const *)a;
	const struct elog_meta_topic *y = *(const struct elog_meta_topic *const *)b;

	return strcmp(x->name, y->name);
}

static int compare_descriptions(const void *a, const void *b)
{
	const struct elog_topic_description *x = *(const struct elog_topic_description *const *)a;
	const struct elog_topic_description *y = *(const struct elog_topic_description *const *)b;

	return strcmp(x->name, y->name);
}

static int write_json(struct elog_buf *b)
{
	if (fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	return 0;
}

/*
 * Every topic the broker describes, by name, in *order (free it); topics
 * with an error (gone meanwhile) are left out. Returns the count, -1 on
 * failure (reported).
 */
static ssize_t describe_all(struct elog_client *c, struct elog_topic_descriptions *d,
			    const struct elog_topic_description ***order)
{
	struct elog_err err;
	size_t n = 0;

	if (elog_admin_describe_topics(c, NULL, 0, d, &err) < 0) {
		elog_cli_error_err(&err, "cannot list topics");
		return -1;
	}
	*order = calloc(d->count + 1, sizeof(**order));
	if (!*order) {
		elog_cli_error("cannot list topics: out of memory");
		return -1;
	}
	for (size_t i = 0; i < d->count; i++)
		if (d->topics[i].error == 0)
			(*order)[n++] = &d->topics[i];
	qsort(*order, n, sizeof(**order), compare_descriptions);
	return (ssize_t)n;
}

/* list --json: name, counts, and what is kept (plain numbers). */
static void list_json(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
		      struct elog_buf *json, int first)
{
	struct elog_topic_config cfg;

	config_of(d, &cfg);
	json_raw(json, first ? "{\"topic\":" : ",{\"topic\":");
	json_string(json, d->name);
	json_raw(json, ",\"partition_count\":");
	json_int(json, d->partition_count);
	json_raw(json, ",\"replication_factor\":");
	json_int(json, replication_of(mt));
	json_raw(json, ",\"records\":");
	json_int(json, records_of(d));
	json_raw(json, ",\"size_bytes\":");
	json_int(json, (int64_t)bytes_of(d));
	json_raw(json, ",\"retention_ms\":");
	json_int(json, cfg.retention_ms);
	json_raw(json, ",\"retention_bytes\":");
	json_int(json, cfg.retention_bytes);
	json_raw(json, "}");
}

/* list on a terminal: one row per topic, sizes and durations for a person. */
static void list_row(struct elog_table *t, const struct elog_topic_description *d,
		     const struct elog_meta_topic *mt)
{
	struct elog_topic_config cfg;
	char size[ELOG_CLI_VALUE_MAX], retention[2 * ELOG_TOPIC_CONFIG_VALUE_MAX + 8];

	config_of(d, &cfg);
	elog_cli_format_size_human(bytes_of(d), size, sizeof(size));
	retention_cell(&cfg, retention, sizeof(retention));
	if (elog_table_row(t) < 0)
		return;
	elog_table_set(t, 0, "%s", d->name);
	elog_table_set(t, 1, "%" PRIu32, d->partition_count);
	elog_table_set(t, 2, "%d", replication_of(mt));
	elog_table_set(t, 3, "%" PRId64, records_of(d));
	elog_table_set(t, 4, "%s", size);
	elog_table_set(t, 5, "%s", retention);
}

/* list, TSV: names and counts from the metadata alone (completion runs it). */
static int list_tsv(struct elog_client *c)
{
	const struct elog_metadata *md;
	struct elog_err err;
	struct elog_table t;
	const struct elog_meta_topic **sorted;
	size_t n = 0;
	int rc = ELOG_EXIT_OK;

	if (!(md = elog_client_metadata(c, NULL, 0, &err))) {
		elog_cli_error_err(&err, "cannot list topics");
		return ELOG_EXIT_FAIL;
	}
	sorted = calloc(md->topic_count + 1, sizeof(*sorted));
	if (!sorted) {
		elog_cli_error("cannot list topics: out of memory");
		return ELOG_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < md->topic_count; i++)
		if (md->topics[i].error == 0)
			sorted[n++] = &md->topics[i];
	qsort(sorted, n, sizeof(*sorted), compare_names);
	elog_table_init(&t, 3);
	for (size_t i = 0; i < n && !t.failed; i++) {
		if (elog_table_row(&t) < 0)
			break;
		elog_table_set(&t, 0, "%s", sorted[i]->name);
		elog_table_set(&t, 1, "%" PRIu32, sorted[i]->partition_count);
		elog_table_set(&t, 2, "%d", replication_of(sorted[i]));
	}
	if (t.failed) {
		elog_cli_error("cannot list topics: out of memory");
		rc = ELOG_EXIT_FAIL;
	} else {
		elog_table_print(&t, stdout, 0, 0);
	}
	elog_table_release(&t);
	free(sorted);
	return rc;
}

static int cmd_list(struct elog_client *c, const struct options *o)
{
	static const char *const head[6] = {"TOPIC", "PARTITIONS", "REPLICATION", "RECORDS",
					    "SIZE", "RETENTION"};
	struct elog_topic_descriptions d = {0};
	const struct elog_topic_description **order = NULL;
	const struct elog_metadata *md;
	struct elog_err err;
	struct elog_buf json;
	struct elog_table t;
	ssize_t n;
	int rc = ELOG_EXIT_OK;

	if (!o->json && !isatty(STDOUT_FILENO))
		return list_tsv(c);
	/* describe first: a metadata answer is only valid until the next call */
	if ((n = describe_all(c, &d, &order)) < 0 ||
	    !(md = elog_client_metadata(c, NULL, 0, &err))) {
		if (n >= 0)
			elog_cli_error_err(&err, "cannot list topics");
		free(order);
		elog_topic_descriptions_release(&d);
		return ELOG_EXIT_FAIL;
	}
	elog_buf_init(&json, JSON_OUT_MAX);
	elog_table_init(&t, 6);
	if (elog_table_row(&t) == 0)
		for (size_t col = 0; col < 6; col++)
			elog_table_set(&t, col, "%s", head[col]);
	json_raw(&json, "[");
	for (ssize_t i = 0; i < n; i++) {
		const struct elog_meta_topic *mt = elog_metadata_topic(md, order[i]->name);
		if (o->json)
			list_json(order[i], mt, &json, i == 0);
		else
			list_row(&t, order[i], mt);
	}
	json_raw(&json, "]\n");
	if (t.failed) {
		elog_cli_error("cannot list topics: out of memory");
		rc = ELOG_EXIT_FAIL;
	} else if (o->json) {
		if (write_json(&json) < 0)
			rc = ELOG_EXIT_FAIL;
	} else {
		elog_table_print(&t, stdout, 1, 0);
	}
	elog_table_release(&t);
	elog_buf_release(&json);
	free(order);
	elog_topic_descriptions_release(&d);
	return rc;
}

/* The metadata of partition id, or NULL. */
static const struct elog_meta_partition *meta_partition(const struct elog_meta_topic *mt,
							 uint32_t id)
{
	for (uint32_t k = 0; mt && k < mt->partition_count; k++)
		if (mt->partitions[k].id == id)
			return &mt->partitions[k];
	return NULL;
}

/*
 * Where a partition lives: from its description (DESCRIBE_TOPICS v3, the
 * leader's own view) when the broker sent it, else from metadata.
 */
struct placement {
	int32_t leader;
	uint32_t replica_count, isr_count;
	int32_t replicas[ELOG_BROKERS_MAX], isr[ELOG_BROKERS_MAX];
};

static void placement_of(const struct elog_partition_description *pd,
			 const struct elog_meta_partition *mp, struct placement *out)
{
	memset(out, 0, sizeof(*out));
	out->leader = -1;
	if (pd->replica_count > 0) {
		out->leader = pd->leader_id;
		for (uint32_t k = 0; k < pd->replica_count && k < ELOG_BROKERS_MAX; k++) {
			out->replicas[out->replica_count++] = pd->replicas[k].id;
			if (pd->replicas[k].in_sync)
				out->isr[out->isr_count++] = pd->replicas[k].id;
		}
	} else if (mp) {
		out->leader = mp->leader_id;
		for (uint32_t k = 0; k < mp->replica_count && k < ELOG_BROKERS_MAX; k++)
			out->replicas[out->replica_count++] = mp->replicas[k];
		for (uint32_t k = 0; k < mp->isr_count && k < ELOG_BROKERS_MAX; k++)
			out->isr[out->isr_count++] = mp->isr[k];
	}
}

/* describe --json: each replica with the leader's view of its end and lag. */
static void json_replica_status(struct elog_buf *json, const struct elog_partition_description *pd)
{
	json_raw(json, ",\"replica_status\":[");
	for (uint32_t k = 0; k < pd->replica_count; k++) {
		const struct elog_replica_description *r = &pd->replicas[k];
		json_raw(json, k ? ",{\"id\":" : "{\"id\":");
		json_int(json, r->id);
		json_raw(json, r->in_sync ? ",\"in_sync\":true" : ",\"in_sync\":false");
		json_raw(json, ",\"end_offset\":");
		json_int(json, r->end_offset);
		json_raw(json, ",\"lag\":");
		json_int(json, r->lag);
		json_raw(json, "}");
	}
	json_raw(json, "]");
}

/* describe --json: one topic as an object of the array. */
static void describe_json(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
			  struct elog_buf *json, int first)
{
	char value[ELOG_TOPIC_CONFIG_VALUE_MAX];

	json_raw(json, first ? "{\"topic\":" : ",{\"topic\":");
	json_string(json, d->name);
	json_raw(json, ",\"partition_count\":");
	json_int(json, d->partition_count);
	json_raw(json, ",\"replication_factor\":");
	json_int(json, replication_of(mt));
	json_raw(json, ",\"config\":{");
	for (size_t i = 0; i < d->config_count; i++) {
		json_raw(json, i ? "," : "");
		json_string(json, d->configs[i].key);
		json_raw(json, ":");
		config_text(d->configs[i].key, d->configs[i].value, ELOG_TOPIC_CONFIG_RAW, value,
			    sizeof(value));
		json_string(json, value);
	}
	json_raw(json, "},\"partitions\":[");
	for (size_t i = 0; i < d->partition_desc_count; i++) {
		const struct elog_partition_description *pd = &d->partitions[i];
		struct placement pl;

		placement_of(pd, meta_partition(mt, pd->id), &pl);
		json_raw(json, i ? ",{\"partition\":" : "{\"partition\":");
		json_int(json, pd->id);
		json_raw(json, ",\"leader\":");
		json_int(json, pl.leader);
		json_raw(json, ",\"leader_term\":");
		json_int(json, (int64_t)pd->leader_term);
		json_raw(json, ",\"replicas\":");
		json_ids(json, pl.replicas, pl.replica_count);
		json_raw(json, ",\"isr\":");
		json_ids(json, pl.isr, pl.isr_count);
		json_replica_status(json, pd);
		json_raw(json, ",\"log_start_offset\":");
		json_int(json, pd->log_start_offset);
		json_raw(json, ",\"high_watermark\":");
		json_int(json, pd->high_watermark);
		json_raw(json, ",\"size_bytes\":");
		json_int(json, (int64_t)pd->size_bytes);
		json_raw(json, ",\"segments\":");
		json_int(json, pd->segments);
		json_raw(json, ",\"status\":");
		json_string(json, elog_partition_state_name(pd->status));
		json_raw(json, ",\"status_detail\":");
		json_string(json, pd->status_detail ? pd->status_detail : "");
		json_raw(json, "}");
	}
	json_raw(json, "]}");
}

/*
 * describe on a terminal: a line naming the topic and what it holds, then
 * its config as key=value, wrapped to stay inside SCREEN_COLUMNS.
 */
static void describe_head_human(const struct elog_topic_description *d,
				const struct elog_meta_topic *mt, int first)
{
	char size[ELOG_CLI_VALUE_MAX], value[ELOG_TOPIC_CONFIG_VALUE_MAX];
	int64_t records = records_of(d);
	size_t column = 0;

	elog_cli_format_size_human(bytes_of(d), size, sizeof(size));
	printf("%s%s: %" PRIu32 " partition%s, replication factor %d, %" PRId64 " record%s, "
	       "size %s\n", first ? "" : "\n", d->name, d->partition_count,
	       d->partition_count == 1 ? "" : "s", replication_of(mt), records,
	       records == 1 ? "" : "s", size);
	for (size_t i = 0; i < d->config_count; i++) {
		size_t len;

		config_text(d->configs[i].key, d->configs[i].value, ELOG_TOPIC_CONFIG_HUMAN, value,
			    sizeof(value));
		len = strlen(d->configs[i].key) + 1 + strlen(value);
		if (column > 0 && column + 1 + len > SCREEN_COLUMNS) {
			putchar('\n');
			column = 0;
		}
		column += (size_t)printf("%s%s=%s", column ? " " : "  ", d->configs[i].key, value);
	}
	if (column)
		putchar('\n');
}

/* describe, TSV: the topic line and a config line per key, plain numbers. */
static void describe_head_tsv(const struct elog_topic_description *d,
			      const struct elog_meta_topic *mt)
{
	char value[ELOG_TOPIC_CONFIG_VALUE_MAX];

	printf("topic\t%s\t%" PRIu32 "\t%d\n", d->name, d->partition_count, replication_of(mt));
	for (size_t i = 0; i < d->config_count; i++) {
		config_text(d->configs[i].key, d->configs[i].value, ELOG_TOPIC_CONFIG_RAW, value,
			    sizeof(value));
		printf("config\t%s\t%s\t%s\n", d->name, d->configs[i].key, value);
	}
}

/* describe: one topic as human lines and a table, or as TSV lines. */
static int describe_text(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
			 int first)
{
	static const char *const head[9] = {"PARTITION", "LEADER", "REPLICAS", "ISR", "START",
					    "END", "SIZE", "SEGMENTS", "STATUS"};
	int aligned = isatty(STDOUT_FILENO), rc = 0;
	char replicas[256], isr[256], size[ELOG_CLI_VALUE_MAX];
	struct elog_table t;

	if (aligned)
		describe_head_human(d, mt, first);
	else
		describe_head_tsv(d, mt);
	elog_table_init(&t, aligned ? 9 : 11);
	if (aligned && elog_table_row(&t) == 0)
		for (size_t c = 0; c < 9; c++)
			elog_table_set(&t, c, "%s", head[c]);
	for (size_t i = 0; i < d->partition_desc_count && !t.failed; i++) {
		const struct elog_partition_description *pd = &d->partitions[i];
		struct placement pl;
		size_t c = 0;

		if (elog_table_row(&t) < 0)
			break;
		placement_of(pd, meta_partition(mt, pd->id), &pl);
		id_list(replicas, sizeof(replicas), pl.replicas, pl.replica_count);
		id_list(isr, sizeof(isr), pl.isr, pl.isr_count);
		if (!aligned) {
			elog_table_set(&t, c++, "partition");
			elog_table_set(&t, c++, "%s", d->name);
		}
		elog_table_set(&t, c++, "%" PRIu32, pd->id);
		if (pl.leader >= 0)
			elog_table_set(&t, c++, "%" PRId32, pl.leader);
		else
			elog_table_set(&t, c++, "%s", aligned ? "none" : "-1");
		elog_table_set(&t, c++, "%s", replicas);
		elog_table_set(&t, c++, "%s", isr);
		elog_table_set(&t, c++, "%" PRId64, pd->log_start_offset);
		elog_table_set(&t, c++, "%" PRId64, pd->high_watermark);
		if (aligned) {
			elog_cli_format_size_human(pd->size_bytes, size, sizeof(size));
			elog_table_set(&t, c++, "%s", size);
		} else {
			elog_table_set(&t, c++, "%" PRIu64, pd->size_bytes);
		}
		elog_table_set(&t, c++, "%" PRIu32, pd->segments);
		elog_table_set(&t, c++, "%s", elog_partition_state_name(pd->status));
	}
	if (!t.failed) {
		elog_table_print(&t, stdout, aligned, 0);
	} else {
		elog_cli_error("describe topic '%s': out of memory", d->name);
		rc = -1;
	}
	elog_table_release(&t);
	/* What is wrong with a partition that is not ok, one line each. */
	for (size_t i = 0; i < d->partition_desc_count && rc == 0; i++) {
		const struct elog_partition_description *pd = &d->partitions[i];
		if (!pd->status_detail)
			continue;
		if (aligned)
			printf("  partition %" PRIu32 " %s: %s\n", pd->id,
			       elog_partition_state_name(pd->status), pd->status_detail);
		else
			printf("status\t%s\t%" PRIu32 "\t%s\n", d->name, pd->id, pd->status_detail);
	}
	return rc;
}

static int cmd_describe(struct elog_client *c, const struct options *o)
{
	struct elog_topic_descriptions d = {0};
	const struct elog_metadata *md;
	struct elog_err err;
	struct elog_buf json;
	struct elog_topic_description **order;
	int rc = ELOG_EXIT_OK, shown = 0;

	if (elog_admin_describe_topics(c, (const char *const *)o->topics, o->topic_count, &d,
				       &err) < 0) {
		elog_cli_error_err(&err, "cannot describe topics");
		return ELOG_EXIT_FAIL;
	}
	if (!(md = elog_client_metadata(c, (const char *const *)o->topics, o->topic_count, &err))) {
		elog_topic_descriptions_release(&d);
		elog_cli_error_err(&err, "cannot describe topics");
		return ELOG_EXIT_FAIL;
	}
	order = calloc(d.count + 1, sizeof(*order));
	if (!order) {
		elog_topic_descriptions_release(&d);
		elog_cli_error("cannot describe topics: out of memory");
		return ELOG_EXIT_FAIL;
	}
	for (size_t i = 0; i < d.count; i++)
		order[i] = &d.topics[i];
	/* Every topic: by name. Named topics: in the order given (as answered). */
	if (o->topic_count == 0)
		qsort(order, d.count, sizeof(*order), compare_descriptions);
	elog_buf_init(&json, JSON_OUT_MAX);
	json_raw(&json, "[");
	for (size_t i = 0; i < d.count; i++) {
		const struct elog_topic_description *t = order[i];
		if (t->error != 0) {
			elog_cli_error("describe topic '%s': %s", t->name,
				       elog_proto_error_text(t->error));
			rc = ELOG_EXIT_FAIL;
			continue;
		}
		if (o->json)
			describe_json(t, elog_metadata_topic(md, t->name), &json, !shown);
		else if (describe_text(t, elog_metadata_topic(md, t->name), !shown) < 0)
			rc = ELOG_EXIT_FAIL;
		shown = 1;
	}
	json_raw(&json, "]\n");
	if (o->json && write_json(&json) < 0)
		rc = ELOG_EXIT_FAIL;
	elog_buf_release(&json);
	free(order);
	elog_topic_descriptions_release(&d);
	return rc;
}

/* create, alter, delete: each topic in turn; a failure does not stop the rest. */
static int cmd_change(struct elog_client *c, const struct options *o)
{
	int rc = ELOG_EXIT_OK;

	for (size_t i = 0; i < o->topic_count; i++) {
		const char *name = o->topics[i];
		struct elog_err err;
		int r, code;

		switch (o->command) {
		case CMD_CREATE:
			r = elog_admin_create_topic(c, name, o->partitions,
						    o->replication_factor, /* 0: the broker's default */
						    o->configs, o->config_count, &err);
			break;
		case CMD_ALTER:
			r = elog_admin_alter_topic(c, name, o->partitions, o->configs,
						   o->config_count, &err);
			break;
		default:
			r = elog_admin_delete_topic(c, name, &err);
			break;
		}
		if (r == 0)
			continue;
		code = elog_client_proto_error(c);
		if ((code == ELOG_PE_TOPIC_EXISTS && o->if_not_exists) ||
		    (code == ELOG_PE_UNKNOWN_TOPIC && o->if_exists))
			continue;
		/* "create topic 'x': ...": for these two, in the words the man page
		 * uses, and with the whole name (err.msg may cut a long one). */
		if (code == ELOG_PE_TOPIC_EXISTS || code == ELOG_PE_UNKNOWN_TOPIC)
			elog_cli_error("%s topic '%s': %s", command_names[o->command], name,
				       elog_proto_error_text(code));
		else
			elog_cli_error_err(&err, NULL);
		rc = ELOG_EXIT_FAIL;
	}
	return rc;
}

/* ---------------------------------------------------------------- purge */

/* The partitions a purge of targets[first]'s topic names, into *parts (free it). */
static ssize_t purge_partitions(struct elog_client *c, const struct options *o, size_t first,
				struct elog_purge_partition **parts, struct elog_err *err)
{
	const char *topic = o->targets[first].topic;
	const struct elog_meta_topic *mt = NULL;
	const struct elog_metadata *md;
	size_t n = 0;

	if (o->targets[first].partition < 0) {
		if (!(md = elog_client_metadata(c, &topic, 1, err)))
			return elog_err_prefix(err, "purge topic '%s'", topic);
		mt = elog_metadata_topic(md, topic);
		if (!mt || mt->error)
			return elog_err_set(err, ELOG_E_INVAL, "purge topic '%s': %s", topic,
					    elog_proto_error_text(mt ? mt->error : ELOG_PE_UNKNOWN_TOPIC));
		n = mt->partition_count;
	} else {
		for (size_t i = first; i < o->target_count; i++)
			n += strcmp(o->targets[i].topic, topic) == 0;
	}
	*parts = calloc(n ? n : 1, sizeof(**parts));
	if (!*parts)
		return elog_err_set(err, ELOG_E_NOMEM, "purge topic '%s': out of memory", topic);
	for (size_t k = 0; mt && k < n; k++)
		(*parts)[k].partition = mt->partitions[k].id;
	for (size_t i = first, k = 0; !mt && i < o->target_count; i++)
		if (strcmp(o->targets[i].topic, topic) == 0)
			(*parts)[k++].partition = (uint32_t)o->targets[i].partition;
	return (ssize_t)n;
}

/* One purged partition as a row of the table (terminal or TSV) or a JSON object. */
static void purge_row(const struct options *o, const char *topic,
		      const struct elog_purge_partition *p, struct elog_table *t, struct elog_buf *json,
		      int first)
{
	if (o->json) {
		json_raw(json, first ? "{\"topic\":" : ",{\"topic\":");
		json_string(json, topic);
		json_raw(json, ",\"partition\":");
		json_int(json, p->partition);
		json_raw(json, ",\"log_start_offset_before\":");
		json_int(json, p->start_before);
		json_raw(json, ",\"log_start_offset\":");
		json_int(json, p->start);
		json_raw(json, ",\"records_purged\":");
		json_int(json, p->start - p->start_before);
		json_raw(json, o->dry_run ? ",\"dry_run\":true}" : ",\"dry_run\":false}");
		return;
	}
	if (elog_table_row(t) < 0)
		return;
	elog_table_set(t, 0, "%s", topic);
	elog_table_set(t, 1, "%" PRIu32, p->partition);
	elog_table_set(t, 2, "%" PRId64, p->start_before);
	elog_table_set(t, 3, "%" PRId64, p->start);
	elog_table_set(t, 4, "%" PRId64, p->start - p->start_before);
}

/* Purge targets[first]'s topic (every target naming it); failures reported, -1. */
static int purge_topic(struct elog_client *c, const struct options *o, size_t first,
		       struct elog_table *t, struct elog_buf *json, size_t *shown)
{
	const char *topic = o->targets[first].topic;
	struct elog_purge_partition *parts = NULL;
	struct elog_err err;
	ssize_t n = purge_partitions(c, o, first, &parts, &err);
	int rc = 0;

	if (n < 0 || elog_purge_resolve(c, topic, &o->before, parts, (size_t)n, &err) < 0 ||
	    elog_admin_delete_records(c, topic, parts, (size_t)n, o->dry_run, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		free(parts);
		return -1;
	}
	for (ssize_t k = 0; k < n; k++) {
		if (parts[k].error) {
			elog_cli_error("%s", parts[k].message);
			rc = -1;
			continue;
		}
		purge_row(o, topic, &parts[k], t, json, *shown == 0);
		(*shown)++;
	}
	free(parts);
	return rc;
}

static int cmd_purge(struct elog_client *c, const struct options *o)
{
	static const char *const head[5] = {"TOPIC", "PARTITION", "START", "NEW_START", "PURGED"};
	int aligned = !o->json && isatty(STDOUT_FILENO), rc = ELOG_EXIT_OK;
	struct elog_buf json;
	struct elog_table t;
	size_t shown = 0;

	elog_buf_init(&json, JSON_OUT_MAX);
	elog_table_init(&t, 5);
	if (aligned && elog_table_row(&t) == 0)
		for (size_t col = 0; col < 5; col++)
			elog_table_set(&t, col, "%s", head[col]);
	json_raw(&json, "[");
	for (size_t i = 0; i < o->target_count; i++) {
		int seen = 0;
		/* A topic's first operand stands for all of its operands. */
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(o->targets[k].topic, o->targets[i].topic) == 0;
		if (!seen && purge_topic(c, o, i, &t, &json, &shown) < 0)
			rc = ELOG_EXIT_FAIL;
	}
	json_raw(&json, "]\n");
	if (t.failed) {
		elog_cli_error("purge: out of memory");
		rc = ELOG_EXIT_FAIL;
	} else if (o->json) {
		if (write_json(&json) < 0)
			rc = ELOG_EXIT_FAIL;
	} else if (!aligned || shown) {
		elog_table_print(&t, stdout, aligned, 0);
	}
	if (aligned && o->dry_run)
		printf("dry run: nothing was purged\n");
	elog_table_release(&t);
	elog_buf_release(&json);
	return rc;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static struct options o;
	struct elog_client_config cc;
	struct elog_client *c;
	struct elog_err err;
	int rc;

	elog_cli_init(argv[0]);
	if ((rc = parse_options(&o, argc, argv)) >= 0)
		return rc;
	elog_client_config_init(&cc);
	cc.brokers = o.brokers;
	if (o.connect_timeout_ms)
		cc.connect_timeout_ms = (int)o.connect_timeout_ms;
	cc.request_timeout_ms = (int)o.timeout_ms;
	if (!(c = elog_client_new(&cc, &err)))
		return elog_cli_usage_error(&program, "%s", err.msg);
	switch (o.command) {
	case CMD_LIST:
		rc = cmd_list(c, &o);
		break;
	case CMD_DESCRIBE:
		rc = cmd_describe(c, &o);
		break;
	case CMD_PURGE:
		rc = cmd_purge(c, &o);
		break;
	default:
		rc = cmd_change(c, &o);
		break;
	}
	elog_client_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		rc = ELOG_EXIT_FAIL;
	}
	return rc;
}
