/*
 * elog-topic — create, alter, delete, list and describe topics over the
 * protocol; see elog-topic(1).
 *
 * Config options are spellings of the broker's topic config keys
 * (--retention is retention.ms, ...): their values go to the broker as
 * typed, and the broker, which owns the rules, accepts or refuses them, so
 * this tool and the broker cannot disagree about what a valid value is.
 *
 * Output (list, describe): an aligned table when stdout is a terminal, TSV
 * lines otherwise, JSON with --json; the TSV and JSON forms are documented
 * in the man page and stable.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "json.h"
#include "proto.h"

#define CONFIGS_MAX 32
#define TIMEOUT_DEFAULT_MS 30000
#define CELL_MAX 128
#define TABLE_COLS_MAX 16
#define JSON_OUT_MAX (64u << 20)

enum {
	OPT_FLUSH = 256,
	OPT_IF_EXISTS,
	OPT_IF_NOT_EXISTS,
	OPT_MAX_RECORD_BYTES,
	OPT_RETENTION,
	OPT_RETENTION_BYTES,
	OPT_SEGMENT_BYTES,
	OPT_TIMEOUT,
	OPT_VERSION,
	OPT__END,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'c', "config", "KEY=VALUE", "set a topic config key (create, alter); repeatable"},
	{'j', "json", NULL, "print JSON (list, describe)"},
	{'p', "partitions", "N", "partitions (create: the broker's default.partitions; alter: grow to N)"},
	{'r', "replication-factor", "N", "replicas of each partition (create; default 1)"},
	{OPT_FLUSH, "flush", "POLICY", "flush: always, never or an interval like 1s"},
	{OPT_MAX_RECORD_BYTES, "max-record-bytes", "SIZE", "max.record.bytes: largest record"},
	{OPT_RETENTION, "retention", "DURATION", "retention.ms: drop segments older (-1: keep)"},
	{OPT_RETENTION_BYTES, "retention-bytes", "SIZE",
	 "retention.bytes: partition size kept (-1: all)"},
	{OPT_SEGMENT_BYTES, "segment-bytes", "SIZE", "segment.bytes: roll segments at this size"},
	{OPT_IF_EXISTS, "if-exists", NULL, "delete: a missing topic is not an error"},
	{OPT_IF_NOT_EXISTS, "if-not-exists", NULL, "create: an existing topic is not an error"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 30s)"},
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
		    SYNOPSIS_INDENT "[-b brokers] list [-j]"
		    SYNOPSIS_INDENT "[-b brokers] describe [-j] [topic ...]"
		    SYNOPSIS_INDENT "-h | --version",
	.summary = "Administer topics. config-options are --flush, --max-record-bytes,\n"
		   "--retention, --retention-bytes and --segment-bytes.",
	.options = options,
};

enum command { CMD_CREATE, CMD_ALTER, CMD_DELETE, CMD_LIST, CMD_DESCRIBE, CMD__COUNT };

static const char *const command_names[CMD__COUNT] = {
	"create", "alter", "delete", "list", "describe",
};

/* Options each command takes, besides -b, --timeout, -h, --version. */
static const char *const command_options[CMD__COUNT] = {
	[CMD_CREATE] = "pcr" "F" "M" "R" "B" "S" "N",
	[CMD_ALTER] = "pc" "F" "M" "R" "B" "S",
	[CMD_DELETE] = "E",
	[CMD_LIST] = "j",
	[CMD_DESCRIBE] = "j",
};

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
	int64_t timeout_ms;
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

/* Set key to value, replacing an earlier value of the same key. */
static int config_set(struct options *o, const char *key, const char *value)
{
	size_t i;

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
	return config_set(o, o->config_text[i][0], o->config_text[i][1]);
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
	case OPT_FLUSH: return config_set(o, "flush", arg);
	case OPT_MAX_RECORD_BYTES: return config_set(o, "max.record.bytes", arg);
	case OPT_RETENTION: return config_set(o, "retention.ms", arg);
	case OPT_RETENTION_BYTES: return config_set(o, "retention.bytes", arg);
	case OPT_SEGMENT_BYTES: return config_set(o, "segment.bytes", arg);
	case OPT_TIMEOUT:
		if (elog_cli_parse_duration_ms(arg, &o->timeout_ms, &err) < 0)
			return elog_cli_usage_error(&program, "--timeout: %s", err.msg);
		if (o->timeout_ms < 1 || o->timeout_ms > INT32_MAX / 2)
			return elog_cli_usage_error(&program, "--timeout: %s is outside 1ms..12d", arg);
		return -1;
	}
	return elog_cli_usage_error(&program, NULL);
}

/* The command and its topics from the operands; options it does not take. */
static int parse_operands(struct options *o, int argc, char **argv, int first)
{
	struct elog_err err;
	int c;

	if (first >= argc)
		return elog_cli_usage_error(&program, "missing command: create, alter, delete, list "
					    "or describe");
	for (c = 0; c < CMD__COUNT; c++)
		if (strcmp(argv[first], command_names[c]) == 0)
			break;
	if (c == CMD__COUNT)
		return elog_cli_usage_error(&program, "unknown command \"%s\"", argv[first]);
	o->command = (enum command)c;
	o->topics = argv + first + 1;
	o->topic_count = (size_t)(argc - first - 1);
	for (int id = 1; id < OPT__END; id++)
		if (o->given[id] && id != 'b' && id != OPT_TIMEOUT &&
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
	for (size_t i = 0; i < o->topic_count; i++)
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

/* ---------------------------------------------------------------- tables */

/*
 * Rows of cells, printed as an aligned table (terminal: columns padded to
 * their widest cell, two spaces apart) or as TSV lines.
 */
struct table {
	size_t cols, rows, cap;
	char (*cells)[CELL_MAX];
};

static void table_init(struct table *t, size_t cols)
{
	assert(cols >= 1 && cols <= TABLE_COLS_MAX);
	memset(t, 0, sizeof(*t));
	t->cols = cols;
}

static void table_release(struct table *t)
{
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Start a row; -1 when out of memory. */
static int table_row(struct table *t)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		void *grown = realloc(t->cells, cap * t->cols * CELL_MAX);
		if (!grown)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	memset(t->cells[t->rows * t->cols], 0, t->cols * CELL_MAX);
	t->rows++;
	return 0;
}

static void table_set(struct table *t, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void table_set(struct table *t, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->cells[(t->rows - 1) * t->cols + col], CELL_MAX, fmt, ap);
	va_end(ap);
}

/* Rows from `from` on (a header row first, when aligned). */
static void table_print(const struct table *t, FILE *out, int aligned, size_t from)
{
	size_t width[TABLE_COLS_MAX] = {0};

	for (size_t r = from; aligned && r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(t->cells[r * t->cols + c]) > width[c])
				width[c] = strlen(t->cells[r * t->cols + c]);
	for (size_t r = from; r < t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *cell = t->cells[r * t->cols + c];
			if (c + 1 == t->cols)
				fprintf(out, "%s\n", cell);
			else if (aligned)
				fprintf(out, "%-*s  ", (int)width[c], cell);
			else
				fprintf(out, "%s\t", cell);
		}
	}
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
	return strcmp(*(char *const *)a, *(char *const *)b);
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

static int cmd_list(struct elog_client *c, const struct options *o)
{
	const struct elog_metadata *md;
	struct elog_err err;
	struct elog_buf json;
	struct table t;
	const char **names;
	size_t n = 0;
	int rc = ELOG_EXIT_OK, aligned = isatty(STDOUT_FILENO);

	if (!(md = elog_client_metadata(c, NULL, 0, &err))) {
		elog_cli_error_err(&err, "cannot list topics");
		return ELOG_EXIT_FAIL;
	}
	names = calloc(md->topic_count + 1, sizeof(*names));
	if (!names) {
		elog_cli_error("cannot list topics: out of memory");
		return ELOG_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < md->topic_count; i++)
		if (md->topics[i].error == 0)
			names[n++] = md->topics[i].name;
	qsort(names, n, sizeof(*names), compare_names);
	elog_buf_init(&json, JSON_OUT_MAX);
	table_init(&t, 3);
	if (table_row(&t) == 0) {
		table_set(&t, 0, "TOPIC");
		table_set(&t, 1, "PARTITIONS");
		table_set(&t, 2, "REPLICATION");
	}
	json_raw(&json, "[");
	for (size_t i = 0; i < n; i++) {
		const struct elog_meta_topic *mt = elog_metadata_topic(md, names[i]);
		if (table_row(&t) < 0) {
			elog_cli_error("cannot list topics: out of memory");
			rc = ELOG_EXIT_FAIL;
			break;
		}
		table_set(&t, 0, "%s", names[i]);
		table_set(&t, 1, "%" PRIu32, mt->partition_count);
		table_set(&t, 2, "%d", replication_of(mt));
		json_raw(&json, i ? ",{\"topic\":" : "{\"topic\":");
		json_string(&json, names[i]);
		json_raw(&json, ",\"partition_count\":");
		json_int(&json, mt->partition_count);
		json_raw(&json, ",\"replication_factor\":");
		json_int(&json, replication_of(mt));
		json_raw(&json, "}");
	}
	json_raw(&json, "]\n");
	if (o->json)
		write_json(&json);
	else if (n > 0 || aligned)
		table_print(&t, stdout, aligned, aligned ? 0 : 1);
	table_release(&t);
	elog_buf_release(&json);
	free(names);
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

/* describe --json: one topic as an object of the array. */
static void describe_json(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
			  struct elog_buf *json, int first)
{
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
		json_string(json, d->configs[i].value);
	}
	json_raw(json, "},\"partitions\":[");
	for (size_t i = 0; i < d->partition_desc_count; i++) {
		const struct elog_partition_description *pd = &d->partitions[i];
		const struct elog_meta_partition *mp = meta_partition(mt, pd->id);

		json_raw(json, i ? ",{\"partition\":" : "{\"partition\":");
		json_int(json, pd->id);
		json_raw(json, ",\"leader\":");
		json_int(json, mp ? mp->leader_id : -1);
		json_raw(json, ",\"replicas\":");
		json_ids(json, mp ? mp->replicas : NULL, mp ? mp->replica_count : 0);
		json_raw(json, ",\"isr\":");
		json_ids(json, mp ? mp->isr : NULL, mp ? mp->isr_count : 0);
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

/* describe: the topic and config lines, human (aligned) or TSV. */
static void describe_head(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
			  int aligned, int first)
{
	if (aligned) {
		printf("%s%s: %" PRIu32 " partition%s, replication factor %d\n", first ? "" : "\n",
		       d->name, d->partition_count, d->partition_count == 1 ? "" : "s",
		       replication_of(mt));
		for (size_t i = 0; i < d->config_count; i++)
			printf("%s%s=%s", i ? " " : "  ", d->configs[i].key, d->configs[i].value);
		if (d->config_count)
			putchar('\n');
		return;
	}
	printf("topic\t%s\t%" PRIu32 "\t%d\n", d->name, d->partition_count, replication_of(mt));
	for (size_t i = 0; i < d->config_count; i++)
		printf("config\t%s\t%s\t%s\n", d->name, d->configs[i].key, d->configs[i].value);
}

/* describe: one topic as human lines and a table, or as TSV lines. */
static int describe_text(const struct elog_topic_description *d, const struct elog_meta_topic *mt,
			 int first)
{
	static const char *const head[9] = {"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG_START",
					    "HIGH_WATERMARK", "SIZE_BYTES", "SEGMENTS", "STATUS"};
	int aligned = isatty(STDOUT_FILENO), rc = 0;
	char replicas[CELL_MAX], isr[CELL_MAX];
	struct table t;

	describe_head(d, mt, aligned, first);
	table_init(&t, aligned ? 9 : 11);
	if (aligned && (rc = table_row(&t)) == 0)
		for (size_t c = 0; c < 9; c++)
			table_set(&t, c, "%s", head[c]);
	for (size_t i = 0; i < d->partition_desc_count && rc == 0; i++) {
		const struct elog_partition_description *pd = &d->partitions[i];
		const struct elog_meta_partition *mp = meta_partition(mt, pd->id);
		size_t c = 0;

		if ((rc = table_row(&t)) < 0)
			break;
		id_list(replicas, sizeof(replicas), mp ? mp->replicas : NULL, mp ? mp->replica_count : 0);
		id_list(isr, sizeof(isr), mp ? mp->isr : NULL, mp ? mp->isr_count : 0);
		if (!aligned) {
			table_set(&t, c++, "partition");
			table_set(&t, c++, "%s", d->name);
		}
		table_set(&t, c++, "%" PRIu32, pd->id);
		table_set(&t, c++, "%" PRId32, mp ? mp->leader_id : -1);
		table_set(&t, c++, "%s", replicas);
		table_set(&t, c++, "%s", isr);
		table_set(&t, c++, "%" PRId64, pd->log_start_offset);
		table_set(&t, c++, "%" PRId64, pd->high_watermark);
		table_set(&t, c++, "%" PRIu64, pd->size_bytes);
		table_set(&t, c++, "%" PRIu32, pd->segments);
		table_set(&t, c++, "%s", elog_partition_state_name(pd->status));
	}
	if (rc == 0)
		table_print(&t, stdout, aligned, 0);
	else
		elog_cli_error("describe topic '%s': out of memory", d->name);
	table_release(&t);
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
						    o->replication_factor ? o->replication_factor : 1,
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
		/* The message names the call and the topic: "create topic 'x': ..." */
		elog_cli_error_err(&err, NULL);
		rc = ELOG_EXIT_FAIL;
	}
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
	cc.request_timeout_ms = (int)o.timeout_ms;
	if (cc.connect_timeout_ms > cc.request_timeout_ms)
		cc.connect_timeout_ms = cc.request_timeout_ms;
	if (!(c = elog_client_new(&cc, &err)))
		return elog_cli_usage_error(&program, "%s", err.msg);
	switch (o.command) {
	case CMD_LIST:
		rc = cmd_list(c, &o);
		break;
	case CMD_DESCRIBE:
		rc = cmd_describe(c, &o);
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
