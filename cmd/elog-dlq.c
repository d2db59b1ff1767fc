/*
 * elog-dlq — dead-letter and retry topics (docs/processing.md, issue 9);
 * see elog-dlq(1).
 *
 *   list            the topics named *.dlq or *.retry.*: records, those the
 *                   replay group has not decided, oldest and newest age, the
 *                   top failure reasons (elog.verdict)
 *   show TOPIC      its records with their failure story (on a terminal), or
 *                   the JSON envelopes elog-consume --json prints
 *   stats TOPIC     counts by reason, by original topic and partition, by hour
 *   replay TOPIC    each dead letter back to its elog.topic (or --to), to its
 *                   elog.partition when the target has it, else by key; key,
 *                   value, timestamp and its own headers kept, the elog.*
 *                   ones replaced by elog.replay.{topic,partition,offset}
 *                   (where the dead letter is) and elog.replay.count
 *   purge TOPIC     DELETE_RECORDS before an offset, a time, or the replay
 *                   group's position
 *
 * replay decides each record once: replayed (its copy acknowledged,
 * acks=all), left at --max-replays, or left undecided (a filter skipped it,
 * it cannot be replayed now). The replay group elog-dlq.TOPIC holds, per
 * partition, the position before which every record is decided and, in the
 * commit's metadata (libcore/dlq.h), the decided offsets past it; a record
 * enters either only once its copy is acknowledged. So a rerun never
 * replays what a commit recorded, and skips nothing; a run killed (SIGKILL)
 * between an acknowledgement and the next commit replays those records
 * again. The metadata is bounded (1 KiB): before sending a record the run
 * makes sure its commit could record it even if every copy in flight
 * failed, waiting for acknowledgements, and stops when it could not.
 *
 * Exit: 0 done (or nothing to do; records a filter or --max left are not
 * failures), 1 records left that could not be replayed (max replays, no or
 * unknown original topic, refused) or another failure, 2 usage, 3 the
 * brokers could not be reached.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "copy.h"
#include "dlq.h"
#include "format.h"
#include "json.h"
#include "partition.h"
#include "proto.h"
#include "table.h"

#define TIMEOUT_DEFAULT_MS 30000
#define COMMIT_INTERVAL_DEFAULT_MS 1000
#define EXIT_UNREACHABLE 3
#define WAIT_SLICE_MS 50
#define REASON_KEY_MAX 1024          /* reasons are told apart by their first 1 KiB */
#define REASON_MATCH_MAX (64u << 10) /* --reason looks at the first 64 KiB */
#define KEYS_MAX 10000               /* distinct reasons, origins, hours counted */
#define TOP_REASONS 3
#define NAMED_MAX 10                 /* records not replayed named on stderr */
#define TARGETS_MAX 256
#define POLLFDS_MAX 256
#define SHOW_BYTES_MAX 200           /* of a key, value or header on a terminal */
#define SHOW_STDERR_BYTES 1024
#define JSON_OUT_MAX (64u << 20)
#define HOUR_MS INT64_C(3600000)

enum {
	OPT_TO = 256,
	OPT_OLDER_THAN,
	OPT_REASON,
	OPT_MAX,
	OPT_RATE,
	OPT_MAX_REPLAYS,
	OPT_DRY_RUN,
	OPT_COMMIT_INTERVAL,
	OPT_BEFORE,
	OPT_TIMEOUT,
	OPT_VERSION,
	OPT__END,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'j', "json", NULL, "list, stats, purge: print JSON; show: envelopes (docs/json.md)"},
	{'n', "count", "N", "show: at most N records"},
	{OPT_TO, "to", "TOPIC", "replay: into TOPIC (default: each record's elog.topic)"},
	{OPT_OLDER_THAN, "older-than", "DURATION", "replay: only dead letters older than this"},
	{OPT_REASON, "reason", "REGEX", "replay: only dead letters whose elog.verdict matches"},
	{OPT_MAX, "max", "N", "replay: at most N records this run"},
	{OPT_RATE, "rate", "N/s", "replay: at most N records a second (or N/m, N/h)"},
	{OPT_MAX_REPLAYS, "max-replays", "N",
	 "replay: leave records replayed N times already (default 3)"},
	{OPT_DRY_RUN, "dry-run", NULL, "replay, purge: say what would be done, change nothing"},
	{OPT_COMMIT_INTERVAL, "commit-interval", "DURATION",
	 "replay: commit the position this often (default 1s)"},
	{OPT_BEFORE, "before", "POSITION", "purge: the records before OFFSET, @TIME or replayed"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 30s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

#define SYNOPSIS_INDENT "\n       elog-dlq "
static const struct elog_cli_program program = {
	.synopsis = "[-b brokers] list [-j]"
		    SYNOPSIS_INDENT "[-b brokers] show [-j] [-n count] topic"
		    SYNOPSIS_INDENT "[-b brokers] stats [-j] topic"
		    SYNOPSIS_INDENT "[-b brokers] replay [--to topic] [--older-than duration]"
		    " [--reason regex]\n                [--max n] [--rate n/s] [--max-replays n]"
		    " [--commit-interval duration]\n                [--dry-run] topic"
		    SYNOPSIS_INDENT "[-b brokers] purge [-j] --before offset|@time|replayed"
		    " [--dry-run] topic"
		    SYNOPSIS_INDENT "-h | --version",
	.summary = "Look into dead-letter and retry topics, replay their records where they "
		   "came from,\nat most once each, and purge what was handled.",
	.options = options,
};

enum command { CMD_LIST, CMD_SHOW, CMD_STATS, CMD_REPLAY, CMD_PURGE, CMD__COUNT };

static const char *const command_names[CMD__COUNT] = {"list", "show", "stats", "replay", "purge"};

struct options {
	const char *brokers;
	enum command command;
	const char *topic;
	int json, dry_run;
	uint64_t count;                 /* show -n; 0: all */
	const char *to;                 /* replay --to */
	int64_t older_than_ms;          /* -1: any age */
	regex_t reason;                 /* valid when reason_text */
	const char *reason_text;
	uint64_t max;                   /* 0: no limit */
	double rate_per_ms;             /* 0: no limit */
	uint64_t max_replays;
	int64_t commit_interval_ms;
	struct elog_pos before;         /* purge --before; kind LATEST: "replayed" */
	int64_t timeout_ms;
	char group[ELOG_DLQ_GROUP_MAX + 1];
	char given[OPT__END];
};

/* ---------------------------------------------------------------- options */

/* The commands an option applies to (-b, --timeout, -h, --version: all). */
static unsigned option_commands(int id)
{
	switch (id) {
	case 'j': return 1u << CMD_LIST | 1u << CMD_SHOW | 1u << CMD_STATS | 1u << CMD_PURGE;
	case 'n': return 1u << CMD_SHOW;
	case OPT_DRY_RUN: return 1u << CMD_REPLAY | 1u << CMD_PURGE;
	case OPT_BEFORE: return 1u << CMD_PURGE;
	case OPT_TO:
	case OPT_OLDER_THAN:
	case OPT_REASON:
	case OPT_MAX:
	case OPT_RATE:
	case OPT_MAX_REPLAYS:
	case OPT_COMMIT_INTERVAL: return 1u << CMD_REPLAY;
	default: return ~0u;
	}
}

static const char *option_name(int id)
{
	for (const struct elog_cli_option *o = options; o->id; o++)
		if (o->id == id)
			return o->long_name;
	return "?";
}

/* --before OFFSET, @TIME or "replayed" (kind LATEST stands for it). */
static int before_option(struct options *o, const char *arg)
{
	struct elog_err err;

	if (strcmp(arg, "replayed") == 0) {
		o->before.kind = ELOG_POS_LATEST;
		return -1;
	}
	if (elog_pos_parse(arg, &o->before, &err) < 0)
		return elog_cli_usage_error(&program, "--before: %s", err.msg);
	if (o->before.kind != ELOG_POS_OFFSET && o->before.kind != ELOG_POS_TIMESTAMP)
		return elog_cli_usage_error(&program, "--before: \"%s\": an offset, @TIME or replayed",
					    arg);
	return -1;
}

static int reason_option(struct options *o, const char *arg)
{
	char why[256];
	int rc = regcomp(&o->reason, arg, REG_EXTENDED | REG_NOSUB);

	if (rc != 0) {
		regerror(rc, &o->reason, why, sizeof(why));
		return elog_cli_usage_error(&program, "--reason: invalid regular expression \"%s\": %s",
					    arg, why);
	}
	o->reason_text = arg;
	return -1;
}

static int count_option(const char *name, const char *arg, uint64_t min, uint64_t max,
			uint64_t *out)
{
	struct elog_err err;

	if (elog_cli_parse_u64(arg, min, max, out, &err) < 0)
		return elog_cli_usage_error(&program, "%s: %s", name, err.msg);
	return -1;
}

static int parse_value(struct options *o, int id, const char *arg)
{
	struct elog_err err;

	switch (id) {
	case 'b': o->brokers = arg; return -1;
	case 'j': o->json = 1; return -1;
	case 'n': return count_option("--count", arg, 1, UINT64_MAX, &o->count);
	case OPT_TO:
		if (elog_topic_name_check(arg, strlen(arg), 0, &err) < 0)
			return elog_cli_usage_error(&program, "--to: %s", err.msg);
		o->to = arg;
		return -1;
	case OPT_OLDER_THAN:
		return elog_cli_duration_option(&program, "--older-than", arg, 0, INT64_MAX / 2,
						"0..292471y", &o->older_than_ms);
	case OPT_REASON:
		if (o->reason_text)
			regfree(&o->reason);
		o->reason_text = NULL;
		return reason_option(o, arg);
	case OPT_MAX: return count_option("--max", arg, 1, UINT64_MAX, &o->max);
	case OPT_RATE: return elog_cli_rate_option(&program, "--rate", arg, &o->rate_per_ms);
	case OPT_MAX_REPLAYS:
		return count_option("--max-replays", arg, 1, 1000000, &o->max_replays);
	case OPT_DRY_RUN: o->dry_run = 1; return -1;
	case OPT_COMMIT_INTERVAL:
		return elog_cli_duration_option(&program, "--commit-interval", arg, 1, INT32_MAX / 2,
						"1ms..12d", &o->commit_interval_ms);
	case OPT_BEFORE: return before_option(o, arg);
	case OPT_TIMEOUT:
		return elog_cli_duration_option(&program, "--timeout", arg, 1, INT32_MAX / 2,
						"1ms..12d", &o->timeout_ms);
	default: return elog_cli_usage_error(&program, NULL);
	}
}

/* The command and its topic; the options it does not take. */
static int parse_operands(struct options *o, int argc, char **argv, int first)
{
	struct elog_err err;
	int c;

	if (first >= argc)
		return elog_cli_usage_error(&program, "missing command: list, show, stats, replay "
					    "or purge");
	for (c = 0; c < CMD__COUNT; c++)
		if (strcmp(argv[first], command_names[c]) == 0)
			break;
	if (c == CMD__COUNT)
		return elog_cli_usage_error(&program, "unknown command \"%s\"", argv[first]);
	o->command = (enum command)c;
	for (int id = 1; id < OPT__END; id++)
		if (o->given[id] && !(option_commands(id) & 1u << c))
			return elog_cli_usage_error(&program, "--%s does not apply to %s",
						    option_name(id), command_names[c]);
	if (c == CMD_LIST) {
		if (argc - first > 1)
			return elog_cli_usage_error(&program, "list takes no topic");
		return -1;
	}
	if (argc - first != 2)
		return elog_cli_usage_error(&program, "%s: %s", command_names[c],
					    argc - first < 2 ? "missing the topic" : "one topic at a time");
	o->topic = argv[first + 1];
	if (elog_topic_name_check(o->topic, strlen(o->topic), 0, &err) < 0)
		return elog_cli_usage_error(&program, "%s", err.msg);
	if (elog_dlq_group_name(o->topic, o->group, sizeof(o->group), &err) < 0)
		return elog_cli_usage_error(&program, "%s", err.msg);
	if (c == CMD_PURGE && !o->given[OPT_BEFORE])
		return elog_cli_usage_error(&program, "purge: missing --before: an offset, @time or "
					    "replayed");
	if (c == CMD_REPLAY && o->to && strcmp(o->to, o->topic) == 0)
		return elog_cli_usage_error(&program, "--to: '%s' is the topic replayed", o->to);
	return -1;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	int id, rc;

	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	o->commit_interval_ms = COMMIT_INTERVAL_DEFAULT_MS;
	o->max_replays = ELOG_DLQ_REPLAYS_DEFAULT;
	o->older_than_ms = -1;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id == ELOG_CLI_DONE)
			return ELOG_EXIT_OK;
		if (id == ELOG_CLI_BAD)
			return elog_cli_usage_error(&program, NULL);
		if (id > 0 && id < OPT__END)
			o->given[id] = 1;
		if ((rc = parse_value(o, id, g.arg)) >= 0)
			return rc;
	}
	return parse_operands(o, argc, argv, g.index);
}

/* ---------------------------------------------------------------- common */

static int stdout_gone;             /* show: the reader went away (EPIPE) */

/* The exit status a failure earns: the brokers unreachable, or another. */
static int failed(const struct elog_err *err)
{
	return err->code == ELOG_E_IO ? EXIT_UNREACHABLE : ELOG_EXIT_FAIL;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The partitions of topic; -1 and "no such topic" (ELOG_E_INVAL) when it
 * does not exist, ELOG_E_IO when it cannot be told now. */
static int topic_partitions(struct elog_client *c, const char *topic, uint32_t *n,
			    struct elog_err *err)
{
	const char *names[1] = {topic};
	const struct elog_metadata *md = elog_client_metadata(c, names, 1, err);
	const struct elog_meta_topic *t;

	if (!md)
		return -1;
	t = elog_metadata_topic(md, topic);
	if (!t || t->error == ELOG_PE_UNKNOWN_TOPIC)
		return elog_err_set(err, ELOG_E_INVAL, "topic '%s': no such topic", topic);
	if (t->error)
		return elog_err_set(err, ELOG_E_IO, "topic '%s': %s", topic,
				    elog_proto_error_text(t->error));
	*n = t->partition_count;
	return 0;
}

/* What the replay group holds of one partition. */
struct gpart {
	int64_t committed;              /* -1: nothing committed */
	char meta[ELOG_DLQ_META_MAX + 1];
	struct elog_offset_set decided; /* the offsets past it its metadata lists */
	int foreign;                    /* the metadata is not elog-dlq's */
	char why[ELOG_ERR_MSG_MAX];
};

/*
 * The replay group's commits of topic's partitions 0..n-1 into g (decided
 * sets added to); a metadata that is not elog-dlq's is marked foreign.
 */
static int read_group(struct elog_client *c, const char *group, const char *topic, uint32_t n,
		      struct gpart *g, struct elog_err *err)
{
	struct elog_committed_list have = {0};
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));

	if (!ids)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = i;
		g[i].committed = -1;
		g[i].meta[0] = '\0';
		g[i].foreign = 0;
	}
	if (elog_client_fetch_offsets(c, group, topic, ids, n, &have, err) < 0) {
		free(ids);
		return -1;
	}
	free(ids);
	for (size_t k = 0; k < have.count; k++) {
		const struct elog_committed *e = &have.items[k];
		struct gpart *p;
		if (strcmp(e->topic, topic) != 0 || e->partition >= n || e->offset < 0)
			continue;
		p = &g[e->partition];
		p->committed = e->offset;
		snprintf(p->meta, sizeof(p->meta), "%s", e->metadata ? e->metadata : "");
		if (elog_dlq_meta_parse(p->meta, &p->decided, err) < 0) {
			if (err->code == ELOG_E_NOMEM)
				break;
			p->foreign = 1;
			snprintf(p->why, sizeof(p->why), "%s", err->msg);
		}
	}
	elog_committed_release(&have);
	return 0;
}

/* Decided by the replay group: before its position, or listed past it. */
static int decided(const struct gpart *g, int64_t offset)
{
	return g->committed >= 0 &&
	       (offset < g->committed || elog_offset_set_has(&g->decided, offset));
}

/*
 * Every record topic holds now, from each partition's log start to its high
 * watermark as of the call, handed to fn until it returns 0 (stop) or -1
 * (failure).
 */
typedef int (*scan_fn)(void *ctx, const struct elog_fetched *rec, struct elog_err *err);

static int scan(struct elog_client *c, const struct options *o, const char *topic, scan_fn fn,
		void *ctx, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	struct elog_pos start = {ELOG_POS_EARLIEST, 0}, end = {ELOG_POS_LATEST, 0};
	struct elog_fetched rec;
	int rc;

	elog_fetcher_config_init(&fc);
	fc.retry_timeout_ms = (uint32_t)o->timeout_ms;
	if (!(f = elog_fetcher_new(c, &fc, err)))
		return -1;
	if (elog_fetcher_add(f, topic, -1, &start, &end, err) < 0) {
		elog_fetcher_free(f);
		return -1;
	}
	while ((rc = elog_fetcher_next(f, &rec, WAIT_SLICE_MS, err)) >= 0) {
		if (rc == 0) {
			if (elog_fetcher_done(f))
				break;
			continue;
		}
		if (rc == 1 && (rc = fn(ctx, &rec, err)) <= 0)
			break;
	}
	elog_fetcher_free(f);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ text */

/* Bytes for a person: UTF-8 text as it is, control characters and other
 * bytes as \n, \t, \xHH; at most max bytes, then how many there were. */
static void put_text(FILE *f, const uint8_t *p, size_t len, size_t max)
{
	size_t i = 0, shown = len > max ? max : len;

	while (i < shown) {
		uint8_t b = p[i];
		size_t clen = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
		if (b == '\n' || b == '\t' || b == '\r') {
			fprintf(f, "\\%c", b == '\n' ? 'n' : b == '\t' ? 't' : 'r');
			i++;
		} else if (b < 0x20 || b == 0x7f || clen == 0 || i + clen > len ||
			   (clen > 1 && elog_json_utf8_span(p + i, clen) != clen)) {
			fprintf(f, "\\x%02x", b);
			i++;
		} else {
			fwrite(p + i, 1, clen, f);
			i += clen;
		}
	}
	if (len > shown)
		fprintf(f, "... (%zu bytes)", len);
}

/* Bytes into a TSV or table cell: tabs, newlines and control bytes as '?',
 * at most max bytes. */
static char *cell_text(const uint8_t *p, size_t len, size_t max)
{
	size_t n = len > max ? max : len;
	char *s = malloc(n + 4);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
	if (len > max)
		memcpy(s + n, "...", 3), n += 3;
	s[n] = '\0';
	return s;
}

/* JSON: bytes as a string when UTF-8, else {"base64":...}, as envelopes do. */
static void json_bytes(struct elog_buf *b, const uint8_t *p, size_t len)
{
	if (elog_json_utf8_span(p, len) == len) {
		elog_json_buf_add_string(b, p, len, NULL);
		return;
	}
	elog_buf_add(b, "{\"base64\":", 10, NULL);
	elog_json_buf_add_base64(b, p, len, NULL);
	elog_buf_add(b, "}", 1, NULL);
}

/* JSON: literal text, then a member's name and an integer, or a string. */
static void json_lit(struct elog_buf *b, const char *s)
{
	elog_buf_add(b, s, strlen(s), NULL);
}

static void json_num(struct elog_buf *b, const char *member, int64_t v)
{
	json_lit(b, member);
	elog_json_buf_add_int64(b, v, NULL);
}

static void json_time(struct elog_buf *b, const char *member, int64_t ms)
{
	if (ms == ELOG_DLQ_NO_TIME) {
		json_lit(b, member);
		json_lit(b, "null");
	} else {
		json_num(b, member, ms);
	}
}

static int json_write(struct elog_buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ counting */

/* Counts by a key of bytes and a number. */
struct count_entry {
	uint8_t *key;
	size_t len;
	int64_t num;
	uint64_t n;
};

struct counter {
	struct count_entry *e;          /* open addressing; key NULL: free */
	size_t cap, used;
	uint64_t other;                 /* past KEYS_MAX distinct keys */
};

static uint64_t key_hash(const uint8_t *key, size_t len, int64_t num)
{
	uint64_t h = 1469598103934665603u ^ (uint64_t)num;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211u;
	return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9u;
}

static struct count_entry *slot_of(struct count_entry *e, size_t cap, const uint8_t *key,
				   size_t len, int64_t num)
{
	size_t i = (size_t)key_hash(key, len, num) & (cap - 1);

	while (e[i].key && (e[i].len != len || e[i].num != num ||
			    (len && memcmp(e[i].key, key, len) != 0)))
		i = (i + 1) & (cap - 1);
	return &e[i];
}

static int counter_add(struct counter *c, const uint8_t *key, size_t len, int64_t num,
		       struct elog_err *err)
{
	struct count_entry *s;

	if ((c->used + 1) * 2 > c->cap && c->used < KEYS_MAX) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct count_entry *e = calloc(cap, sizeof(*e));
		if (!e)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		for (size_t i = 0; i < c->cap; i++)
			if (c->e[i].key)
				*slot_of(e, cap, c->e[i].key, c->e[i].len, c->e[i].num) = c->e[i];
		free(c->e);
		c->e = e;
		c->cap = cap;
	}
	s = slot_of(c->e, c->cap, key, len, num);
	if (!s->key) {
		if (c->used >= KEYS_MAX) {
			c->other++;
			return 0;
		}
		if (!(s->key = malloc(len ? len : 1)))
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		if (len)
			memcpy(s->key, key, len);
		s->len = len;
		s->num = num;
		c->used++;
	}
	s->n++;
	return 0;
}

static void counter_release(struct counter *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->e[i].key);
	free(c->e);
	memset(c, 0, sizeof(*c));
}

/* Most first, then by bytes. */
static int by_count(const void *a, const void *b)
{
	const struct count_entry *x = *(struct count_entry *const *)a;
	const struct count_entry *y = *(struct count_entry *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int d = n ? memcmp(x->key, y->key, n) : 0;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return d ? d : x->len < y->len ? -1 : x->len > y->len;
}

/* By bytes, then number. */
static int by_key(const void *a, const void *b)
{
	const struct count_entry *x = *(struct count_entry *const *)a;
	const struct count_entry *y = *(struct count_entry *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int d = n ? memcmp(x->key, y->key, n) : 0;

	if (d || x->len != y->len)
		return d ? d : x->len < y->len ? -1 : 1;
	return x->num < y->num ? -1 : x->num > y->num;
}

/* The entries, sorted; NULL when out of memory (or none: *n 0). */
static struct count_entry **counter_sorted(const struct counter *c,
					   int (*cmp)(const void *, const void *), size_t *n)
{
	struct count_entry **v = malloc((c->used ? c->used : 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < c->cap; i++)
		if (c->e[i].key)
			v[(*n)++] = &c->e[i];
	qsort(v, *n, sizeof(*v), cmp);
	return v;
}

/* What a scan of a dead-letter topic counts. */
struct tally {
	const char *topic;
	int64_t now;
	uint64_t records, pending;
	int64_t oldest, newest;         /* dead-letter times; NO_TIME while none */
	struct counter reasons, origins, hours;
	int by_origin;                  /* stats: origins and hours too */
	struct gpart *group;            /* NULL: no replay group to ask */
	uint32_t parts;
};

static int tally_record(void *ctx, const struct elog_fetched *rec, struct elog_err *err)
{
	struct tally *t = ctx;
	const struct elog_record_view *v = rec->record;
	struct elog_dead_letter dl;
	int64_t when, hour;
	size_t rlen;

	elog_dead_letter_read(v, &dl);
	when = elog_dead_letter_time(&dl, v);
	t->records++;
	if (t->oldest == ELOG_DLQ_NO_TIME || when < t->oldest)
		t->oldest = when;
	if (t->newest == ELOG_DLQ_NO_TIME || when > t->newest)
		t->newest = when;
	if (!t->group || rec->partition >= t->parts || !decided(&t->group[rec->partition], v->offset))
		t->pending++;
	rlen = dl.verdict.len > REASON_KEY_MAX ? REASON_KEY_MAX : dl.verdict.len;
	if (counter_add(&t->reasons, dl.verdict.ptr, rlen, 0, err) < 0)
		return -1;
	if (!t->by_origin)
		return 1;
	hour = when / HOUR_MS * HOUR_MS;
	if (hour > when)
		hour -= HOUR_MS;
	if (counter_add(&t->origins, dl.topic.ptr,
			dl.topic.len > ELOG_TOPIC_NAME_MAX ? ELOG_TOPIC_NAME_MAX + 1 : dl.topic.len,
			dl.partition, err) < 0 ||
	    counter_add(&t->hours, NULL, 0, hour, err) < 0)
		return -1;
	return 1;
}

static void tally_release(struct tally *t)
{
	counter_release(&t->reasons);
	counter_release(&t->origins);
	counter_release(&t->hours);
	if (t->group)
		for (uint32_t i = 0; i < t->parts; i++)
			elog_offset_set_release(&t->group[i].decided);
	free(t->group);
	t->group = NULL;
}

/*
 * Scan topic into t. The replay group is asked too, when with_group (a
 * group whose commits are not elog-dlq's counts everything as pending).
 */
static int tally_topic(struct elog_client *c, const struct options *o, const char *topic,
		       struct tally *t, struct elog_err *err)
{
	char group[ELOG_DLQ_GROUP_MAX + 1];
	uint32_t parts;

	t->topic = topic;
	t->now = wall_ms();
	t->oldest = t->newest = ELOG_DLQ_NO_TIME;
	if (topic_partitions(c, topic, &parts, err) < 0)
		return -1;
	if (elog_dlq_group_name(topic, group, sizeof(group), NULL) == 0) {
		if (!(t->group = calloc(parts ? parts : 1, sizeof(*t->group))))
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		t->parts = parts;
		if (read_group(c, group, topic, parts, t->group, err) < 0)
			return elog_err_prefix(err, "read group '%s'", group);
		for (uint32_t i = 0; i < parts; i++)
			if (t->group[i].foreign)
				t->group[i].committed = -1;
	}
	if (scan(c, o, topic, tally_record, t, err) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- list */

static int is_dlq_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && strcmp(name + n - 4, ".dlq") == 0) || strstr(name, ".retry.") != NULL;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The top reasons: "exit 3 (10), timeout (2)" into a table cell. */
static void reasons_cell(struct elog_table *t, size_t col, struct count_entry **top, size_t n)
{
	struct elog_buf b;

	elog_buf_init(&b, 1u << 20);
	for (size_t i = 0; i < n && i < TOP_REASONS; i++) {
		char *text = cell_text(top[i]->key, top[i]->len, 60);
		char count[32];
		if (i)
			elog_buf_add(&b, ", ", 2, NULL);
		if (text)
			elog_buf_add(&b, text[0] ? text : "-", text[0] ? strlen(text) : 1, NULL);
		snprintf(count, sizeof(count), " (%" PRIu64 ")", top[i]->n);
		elog_buf_add(&b, count, strlen(count), NULL);
		free(text);
	}
	elog_table_set(t, col, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
	elog_buf_release(&b);
}

static void list_row(const struct options *o, const struct tally *t, struct elog_table *table,
		     struct elog_buf *json, int first)
{
	size_t n = 0;
	struct count_entry **top = counter_sorted(&t->reasons, by_count, &n);
	int64_t oldest_age = t->oldest == ELOG_DLQ_NO_TIME ? -1 : t->now - t->oldest;
	int64_t newest_age = t->newest == ELOG_DLQ_NO_TIME ? -1 : t->now - t->newest;
	int aligned = !o->json && isatty(STDOUT_FILENO);
	char a[32], b[32];

	if (o->json) {
		json_lit(json, first ? "{\"topic\":" : ",{\"topic\":");
		elog_json_buf_add_string(json, t->topic, strlen(t->topic), NULL);
		json_num(json, ",\"records\":", (int64_t)t->records);
		json_num(json, ",\"pending\":", (int64_t)t->pending);
		json_time(json, ",\"oldest_ms\":", t->oldest);
		json_time(json, ",\"newest_ms\":", t->newest);
		json_time(json, ",\"oldest_age_ms\":", oldest_age < 0 ? ELOG_DLQ_NO_TIME : oldest_age);
		json_time(json, ",\"newest_age_ms\":", newest_age < 0 ? ELOG_DLQ_NO_TIME : newest_age);
		json_lit(json, ",\"reasons\":[");
		for (size_t i = 0; top && i < n && i < TOP_REASONS; i++) {
			json_lit(json, i ? ",{\"reason\":" : "{\"reason\":");
			json_bytes(json, top[i]->key, top[i]->len);
			json_num(json, ",\"records\":", (int64_t)top[i]->n);
			json_lit(json, "}");
		}
		json_lit(json, "]}");
		free(top);
		return;
	}
	if (elog_table_row(table) < 0) {
		free(top);
		return;
	}
	elog_table_set(table, 0, "%s", t->topic);
	elog_table_set(table, 1, "%" PRIu64, t->records);
	elog_table_set(table, 2, "%" PRIu64, t->pending);
	if (aligned) {
		elog_cli_format_age(oldest_age, a, sizeof(a));
		elog_cli_format_age(newest_age, b, sizeof(b));
	} else {
		snprintf(a, sizeof(a), "%" PRId64, oldest_age);
		snprintf(b, sizeof(b), "%" PRId64, newest_age);
	}
	elog_table_set(table, 3, "%s", a);
	elog_table_set(table, 4, "%s", b);
	if (top)
		reasons_cell(table, 5, top, n);
	else
		table->failed = 1;
	free(top);
}

static int cmd_list(struct elog_client *c, const struct options *o)
{
	static const char *const head[6] = {"TOPIC", "RECORDS", "PENDING", "OLDEST", "NEWEST",
					    "REASONS"};
	int aligned = !o->json && isatty(STDOUT_FILENO), rc = ELOG_EXIT_OK;
	const struct elog_metadata *md;
	struct elog_table table;
	struct elog_buf json;
	struct elog_err err;
	char **names = NULL;
	size_t n = 0, shown = 0;

	if (!(md = elog_client_metadata(c, NULL, 0, &err))) {
		elog_cli_error_err(&err, NULL);
		return failed(&err);
	}
	if (!(names = calloc(md->topic_count ? md->topic_count : 1, sizeof(*names)))) {
		elog_cli_error("out of memory");
		return ELOG_EXIT_FAIL;
	}
	for (uint32_t i = 0; i < md->topic_count; i++)
		if (!md->topics[i].error && is_dlq_name(md->topics[i].name) &&
		    !(names[n++] = strdup(md->topics[i].name))) {
			elog_cli_error("out of memory");
			rc = ELOG_EXIT_FAIL;
			goto out;
		}
	qsort(names, n, sizeof(*names), compare_names);
	elog_table_init(&table, 6);
	elog_buf_init(&json, JSON_OUT_MAX);
	if (aligned && elog_table_row(&table) == 0)
		for (size_t col = 0; col < 6; col++)
			elog_table_set(&table, col, "%s", head[col]);
	json_lit(&json, "[");
	for (size_t i = 0; i < n; i++) {
		struct tally t = {0};
		if (tally_topic(c, o, names[i], &t, &err) < 0) {
			elog_cli_error_err(&err, "topic '%s'", names[i]);
			if (rc != EXIT_UNREACHABLE)
				rc = failed(&err);
		} else {
			list_row(o, &t, &table, &json, shown++ == 0);
		}
		tally_release(&t);
	}
	json_lit(&json, "]\n");
	if (table.failed) {
		elog_cli_error("out of memory");
		rc = ELOG_EXIT_FAIL;
	} else if (o->json) {
		json_write(&json);
	} else {
		elog_table_print(&table, stdout, aligned, 0);
	}
	elog_table_release(&table);
	elog_buf_release(&json);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---------------------------------------------------------------- stats */

static void stats_json(const struct tally *t, struct count_entry **reasons, size_t nr,
		       struct count_entry **origins, size_t no, struct count_entry **hours,
		       size_t nh, struct elog_buf *b)
{
	char hour[ELOG_CLI_TIMESTAMP_MAX];

	json_lit(b, "{\"topic\":");
	elog_json_buf_add_string(b, t->topic, strlen(t->topic), NULL);
	json_num(b, ",\"records\":", (int64_t)t->records);
	json_num(b, ",\"pending\":", (int64_t)t->pending);
	json_lit(b, ",\"reasons\":[");
	for (size_t i = 0; i < nr; i++) {
		json_lit(b, i ? ",{\"reason\":" : "{\"reason\":");
		json_bytes(b, reasons[i]->key, reasons[i]->len);
		json_num(b, ",\"records\":", (int64_t)reasons[i]->n);
		json_lit(b, "}");
	}
	json_lit(b, "],\"origins\":[");
	for (size_t i = 0; i < no; i++) {
		json_lit(b, i ? ",{\"topic\":" : "{\"topic\":");
		if (origins[i]->len)
			json_bytes(b, origins[i]->key, origins[i]->len);
		else
			json_lit(b, "null");
		json_lit(b, ",\"partition\":");
		if (origins[i]->num < 0)
			json_lit(b, "null");
		else
			elog_json_buf_add_int64(b, origins[i]->num, NULL);
		json_num(b, ",\"records\":", (int64_t)origins[i]->n);
		json_lit(b, "}");
	}
	json_lit(b, "],\"hours\":[");
	for (size_t i = 0; i < nh; i++) {
		elog_cli_format_timestamp(hours[i]->num, hour, sizeof(hour));
		json_lit(b, i ? ",{\"hour\":" : "{\"hour\":");
		elog_json_buf_add_string(b, hour, strlen(hour), NULL);
		json_num(b, ",\"start_ms\":", hours[i]->num);
		json_num(b, ",\"records\":", (int64_t)hours[i]->n);
		json_lit(b, "}");
	}
	json_num(b, "],\"other_reasons\":", (int64_t)t->reasons.other);
	json_lit(b, "}\n");
}

/* One section: rows of (kind, keys..., records); a header row on a terminal. */
static void stats_rows(struct elog_table *tb, int aligned, const char *kind,
		       struct count_entry **v, size_t n, uint64_t other)
{
	char hour[ELOG_CLI_TIMESTAMP_MAX];
	int origin = strcmp(kind, "origin") == 0, by_hour = strcmp(kind, "hour") == 0;

	if (aligned && elog_table_row(tb) == 0) {
		elog_table_set(tb, 0, "%s", origin ? "TOPIC" : by_hour ? "HOUR" : "REASON");
		elog_table_set(tb, 1, "%s", origin ? "PARTITION" : "RECORDS");
		if (origin)
			elog_table_set(tb, 2, "RECORDS");
	}
	for (size_t i = 0; i <= n; i++) {
		size_t col = aligned ? 0 : 1;
		char *text;
		if (i == n && !other)
			break;
		if (elog_table_row(tb) < 0)
			return;
		if (!aligned)
			elog_table_set(tb, 0, "%s", kind);
		if (i == n) {
			elog_table_set(tb, col, "(other)");
			elog_table_set(tb, col + 1 + origin, "%" PRIu64, other);
			continue;
		}
		if (by_hour) {
			elog_cli_format_timestamp(v[i]->num, hour, sizeof(hour));
			elog_table_set(tb, col, "%s", hour);
		} else {
			text = cell_text(v[i]->key, v[i]->len, aligned ? 80 : REASON_KEY_MAX);
			if (!text) {
				tb->failed = 1;
				return;
			}
			elog_table_set(tb, col, "%s", text[0] ? text : "-");
			free(text);
		}
		if (origin) {
			if (v[i]->num < 0)
				elog_table_set(tb, col + 1, "-");
			else
				elog_table_set(tb, col + 1, "%" PRId64, v[i]->num);
		}
		elog_table_set(tb, col + 1 + origin, "%" PRIu64, v[i]->n);
	}
}

static int cmd_stats(struct elog_client *c, const struct options *o)
{
	int aligned = !o->json && isatty(STDOUT_FILENO), rc = ELOG_EXIT_OK;
	struct count_entry **reasons = NULL, **origins = NULL, **hours = NULL;
	size_t nr = 0, no = 0, nh = 0;
	struct tally t = {0};
	struct elog_err err;

	t.by_origin = 1;
	if (tally_topic(c, o, o->topic, &t, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		rc = failed(&err);
		goto out;
	}
	reasons = counter_sorted(&t.reasons, by_count, &nr);
	origins = counter_sorted(&t.origins, by_key, &no);
	hours = counter_sorted(&t.hours, by_key, &nh);
	if (!reasons || !origins || !hours) {
		elog_cli_error("out of memory");
		rc = ELOG_EXIT_FAIL;
	} else if (o->json) {
		struct elog_buf b;
		elog_buf_init(&b, JSON_OUT_MAX);
		stats_json(&t, reasons, nr, origins, no, hours, nh, &b);
		json_write(&b);
		elog_buf_release(&b);
	} else {
		struct elog_table tables[3];
		if (aligned)
			printf("%s: %" PRIu64 " records, %" PRIu64 " pending\n\n", o->topic, t.records,
			       t.pending);
		elog_table_init(&tables[0], aligned ? 2 : 3);
		elog_table_init(&tables[1], aligned ? 3 : 4);
		elog_table_init(&tables[2], aligned ? 2 : 3);
		stats_rows(&tables[0], aligned, "reason", reasons, nr, t.reasons.other);
		stats_rows(&tables[1], aligned, "origin", origins, no, t.origins.other);
		stats_rows(&tables[2], aligned, "hour", hours, nh, t.hours.other);
		for (int i = 0; i < 3; i++) {
			if (tables[i].failed)
				rc = ELOG_EXIT_FAIL;
			else
				elog_table_print(&tables[i], stdout, aligned, 0);
			if (aligned && i < 2)
				printf("\n");
			elog_table_release(&tables[i]);
		}
		if (rc != ELOG_EXIT_OK)
			elog_cli_error("out of memory");
	}
out:
	free(reasons);
	free(origins);
	free(hours);
	tally_release(&t);
	return rc;
}

/* ---------------------------------------------------------------- show */

struct show {
	const struct options *o;
	struct gpart *group;
	uint32_t parts;
	uint64_t shown;
	int envelopes;
	int64_t now;
	struct elog_buf out;
};

static void show_time(const char *label, int64_t ms, int64_t now)
{
	char ts[ELOG_CLI_TIMESTAMP_MAX], age[32];

	if (ms == ELOG_DLQ_NO_TIME)
		return;
	elog_cli_format_timestamp(ms, ts, sizeof(ts));
	elog_cli_format_age(now - ms, age, sizeof(age));
	printf("  %-11s %s (%s ago)\n", label, ts, age);
}

static void show_field(const char *label, const struct elog_dlq_text *t)
{
	if (!t->ptr)
		return;
	printf("  %-11s ", label);
	put_text(stdout, t->ptr, t->len, SHOW_BYTES_MAX * 2);
	printf("\n");
}

/* The failure story of one dead letter, for a person. */
static void show_story(struct show *s, const struct elog_fetched *rec)
{
	const struct elog_record_view *v = rec->record;
	struct elog_dead_letter dl;
	int pending = !s->group || rec->partition >= s->parts ||
		      !decided(&s->group[rec->partition], v->offset);

	elog_dead_letter_read(v, &dl);
	printf("%s%s partition %" PRIu32 " offset %" PRId64 " (%s)\n", s->shown ? "\n" : "",
	       rec->topic, rec->partition, v->offset, pending ? "pending" : "decided");
	show_field("reason", &dl.verdict);
	if (dl.topic.ptr) {
		printf("  %-11s ", "from");
		put_text(stdout, dl.topic.ptr, dl.topic.len, SHOW_BYTES_MAX);
		if (dl.partition >= 0)
			printf(" partition %" PRId64, dl.partition);
		if (dl.offset >= 0)
			printf(" offset %" PRId64, dl.offset);
		printf("\n");
	} else {
		printf("  %-11s (no elog.topic)\n", "from");
	}
	show_time("timestamp", v->timestamp_ms, s->now);
	show_time("first fail", dl.first_failure_ms, s->now);
	show_time("last fail", dl.last_failure_ms, s->now);
	show_time("not before", dl.not_before_ms, s->now);
	show_field("tier", &dl.tier);
	if (dl.attempts >= 0)
		printf("  %-11s %" PRId64 "\n", "attempts", dl.attempts);
	show_field("group", &dl.group);
	show_field("host", &dl.host);
	if (dl.replay_count < 0)
		printf("  %-11s (unreadable elog.replay.count)\n", "replays");
	else if (dl.replay_count > 0)
		printf("  %-11s %" PRId64 "\n", "replays", dl.replay_count);
	printf("  %-11s ", "key");
	if (v->key_len < 0)
		printf("(null)");
	else
		put_text(stdout, v->key, (size_t)v->key_len, SHOW_BYTES_MAX);
	printf("\n");
	for (uint32_t i = 0; i < v->header_count; i++) {
		const struct elog_header *h = &v->headers[i];
		if (h->name_len >= 5 && memcmp(h->name, "elog.", 5) == 0)
			continue;
		printf("  %-11s ", "header");
		put_text(stdout, h->name, h->name_len, SHOW_BYTES_MAX);
		if (h->value_len >= 0) {
			printf("=");
			put_text(stdout, h->value, (size_t)h->value_len, SHOW_BYTES_MAX);
		}
		printf("\n");
	}
	printf("  %-11s ", "value");
	if (v->value_len < 0)
		printf("(null: a tombstone)");
	else
		put_text(stdout, v->value, (size_t)v->value_len, SHOW_BYTES_MAX);
	printf("\n");
	if (dl.stderr_tail.ptr && dl.stderr_tail.len) {
		const uint8_t *p = dl.stderr_tail.ptr;
		size_t len = dl.stderr_tail.len;
		if (len > SHOW_STDERR_BYTES) {
			p += len - SHOW_STDERR_BYTES;
			len = SHOW_STDERR_BYTES;
		}
		while (len) {
			const uint8_t *nl = memchr(p, '\n', len);
			size_t line = nl ? (size_t)(nl - p) : len;
			printf("  %-11s | ", p == dl.stderr_tail.ptr || len == SHOW_STDERR_BYTES ?
			       "stderr" : "");
			put_text(stdout, p, line, SHOW_STDERR_BYTES);
			printf("\n");
			p += line + (nl ? 1 : 0);
			len -= line + (nl ? 1 : 0);
		}
	}
}

static int show_record(void *ctx, const struct elog_fetched *rec, struct elog_err *err)
{
	struct show *s = ctx;

	if (s->envelopes) {
		elog_buf_reset(&s->out);
		if (elog_output_render(ELOG_OUTPUT_JSON, NULL, &s->out, rec->topic, strlen(rec->topic),
				       rec->partition, rec->record, err) < 0)
			return elog_err_prefix(err, "'%s' partition %" PRIu32 " offset %" PRId64,
					       rec->topic, rec->partition, rec->record->offset);
		fwrite(s->out.data, 1, s->out.len, stdout);
	} else {
		show_story(s, rec);
	}
	s->shown++;
	if (ferror(stdout)) {
		stdout_gone = errno == EPIPE;
		return 0;   /* the reader went away: done */
	}
	return !s->o->count || s->shown < s->o->count;
}

static int cmd_show(struct elog_client *c, const struct options *o)
{
	struct show s = {.o = o, .now = wall_ms()};
	struct elog_err err;
	int rc = ELOG_EXIT_OK;

	signal(SIGPIPE, SIG_IGN);
	s.envelopes = o->json || !isatty(STDOUT_FILENO);
	elog_buf_init(&s.out, (size_t)ELOG_BATCH_SIZE_MAX * 6 + (1u << 20));
	if (topic_partitions(c, o->topic, &s.parts, &err) < 0)
		goto failed;
	if (!s.envelopes) {
		if (!(s.group = calloc(s.parts ? s.parts : 1, sizeof(*s.group)))) {
			elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
			goto failed;
		}
		if (read_group(c, o->group, o->topic, s.parts, s.group, &err) < 0)
			goto failed;
		for (uint32_t i = 0; i < s.parts; i++)
			if (s.group[i].foreign)
				s.group[i].committed = -1;
	}
	if (scan(c, o, o->topic, show_record, &s, &err) < 0)
		goto failed;
	goto out;
failed:
	elog_cli_error_err(&err, NULL);
	rc = failed(&err);
out:
	for (uint32_t i = 0; s.group && i < s.parts; i++)
		elog_offset_set_release(&s.group[i].decided);
	free(s.group);
	elog_buf_release(&s.out);
	return rc;
}

/* ---------------------------------------------------------------- purge */

static int cmd_purge(struct elog_client *c, const struct options *o)
{
	static const char *const head[5] = {"PARTITION", "START", "NEW_START", "PURGED",
					    "NOT_REPLAYED"};
	int aligned = !o->json && isatty(STDOUT_FILENO), rc = ELOG_EXIT_OK;
	struct elog_purge_partition *parts = NULL;
	struct gpart *group = NULL;
	int64_t *from = NULL;           /* where each partition's undecided records start */
	struct elog_table t;
	struct elog_buf json;
	struct elog_err err;
	uint32_t n = 0;

	elog_table_init(&t, 5);
	elog_buf_init(&json, JSON_OUT_MAX);
	if (topic_partitions(c, o->topic, &n, &err) < 0)
		goto failed;
	parts = calloc(n ? n : 1, sizeof(*parts));
	group = calloc(n ? n : 1, sizeof(*group));
	from = calloc(n ? n : 1, sizeof(*from));
	if (!parts || !group || !from) {
		elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
		goto failed;
	}
	for (uint32_t i = 0; i < n; i++)
		parts[i].partition = i;
	if (read_group(c, o->group, o->topic, n, group, &err) < 0) {
		elog_err_prefix(&err, "read group '%s'", o->group);
		goto failed;
	}
	/* A group whose commits are not elog-dlq's has decided nothing. */
	for (uint32_t i = 0; i < n; i++) {
		if (group[i].foreign)
			group[i].committed = -1;
		from[i] = group[i].committed;
	}
	if (o->before.kind == ELOG_POS_LATEST) {
		/* replayed: each partition's replay position (nothing where none). */
		for (uint32_t i = 0; i < n; i++)
			parts[i].offset = group[i].committed > 0 ? group[i].committed : 0;
	} else if (elog_purge_resolve(c, o->topic, &o->before, parts, n, &err) < 0) {
		goto failed;
	}
	if (elog_admin_delete_records(c, o->topic, parts, n, o->dry_run, &err) < 0)
		goto failed;
	if (aligned && elog_table_row(&t) == 0)
		for (size_t col = 0; col < 5; col++)
			elog_table_set(&t, col, "%s", head[col]);
	json_lit(&json, "[");
	for (uint32_t i = 0, shown = 0; i < n; i++) {
		const struct elog_purge_partition *p = &parts[i];
		int64_t lost = 0;
		if (p->error) {
			elog_cli_error("%s", p->message);
			rc = ELOG_EXIT_FAIL;
			continue;
		}
		/* Records purged that the replay group had not decided. */
		if (from[i] < p->start_before)
			from[i] = p->start_before;
		if (from[i] < p->start)
			lost = (p->start - from[i]) -
			       elog_offset_set_count(&group[i].decided, from[i], p->start);
		if (lost > 0)
			elog_cli_warn("'%s' partition %" PRIu32 ": %" PRId64 " of the records %s were "
				      "never replayed", o->topic, p->partition, lost,
				      o->dry_run ? "it would purge" : "purged");
		if (o->json) {
			json_lit(&json, shown++ ? ",{\"topic\":" : "{\"topic\":");
			elog_json_buf_add_string(&json, o->topic, strlen(o->topic), NULL);
			json_num(&json, ",\"partition\":", p->partition);
			json_num(&json, ",\"log_start_offset_before\":", p->start_before);
			json_num(&json, ",\"log_start_offset\":", p->start);
			json_num(&json, ",\"records_purged\":", p->start - p->start_before);
			json_num(&json, ",\"not_replayed\":", lost);
			json_lit(&json, o->dry_run ? ",\"dry_run\":true}" : ",\"dry_run\":false}");
		} else if (elog_table_row(&t) == 0) {
			int64_t cells[5] = {p->partition, p->start_before, p->start,
					    p->start - p->start_before, lost};
			for (size_t col = 0; col < 5; col++)
				elog_table_set(&t, col, "%" PRId64, cells[col]);
		}
	}
	json_lit(&json, "]\n");
	if (t.failed) {
		elog_cli_error("out of memory");
		rc = ELOG_EXIT_FAIL;
	} else if (o->json) {
		json_write(&json);
	} else {
		elog_table_print(&t, stdout, aligned, 0);
	}
	if (o->dry_run)
		fprintf(stderr, "%s: dry run: nothing was purged\n", elog_cli_prog());
	goto out;
failed:
	elog_cli_error_err(&err, NULL);
	rc = failed(&err);
out:
	for (uint32_t i = 0; group && i < n; i++)
		elog_offset_set_release(&group[i].decided);
	free(group);
	free(parts);
	free(from);
	elog_table_release(&t);
	elog_buf_release(&json);
	return rc;
}

/* ---------------------------------------------------------------- replay */

/* Why a record was not replayed. The first ones fail the run (exit 1). */
enum why {
	W_MAX_REPLAYS,
	W_NO_TOPIC,
	W_BAD_TOPIC,
	W_UNKNOWN_TOPIC,
	W_BAD_COUNT,
	W_REFUSED,
	W_UNACKED,
	W_REASON,                       /* from here on: a filter's choice, no failure */
	W_NEWER,
	W__COUNT,
};

static const char *const why_names[W__COUNT] = {
	"max replays", "no elog.topic", "bad elog.topic", "no such topic",
	"unreadable elog.replay.count", "refused", "unacknowledged",
	"not matching --reason", "newer than --older-than",
};

/* Why the run stopped before the end of the partitions. */
enum stop { STOP_NONE, STOP_MAX, STOP_FULL, STOP_SIGNAL, STOP_BROKEN, STOP_FAILED };

static const char *const stop_names[] = {
	"", "past --max",
	"not reached (the replay group's metadata is full: run without --reason, --older-than)",
	"not reached (interrupted)", "not reached (the brokers stopped answering)",
	"not reached (a failure)",
};

/* One partition of the dead-letter topic. */
struct rpart {
	uint32_t id;
	int64_t base, end;              /* this run's records: [base, end) */
	int64_t seen;                   /* the next offset to decide */
	struct gpart g;                 /* the group as this run last read or wrote it */
	struct elog_offset_set done;    /* decided: by earlier runs, or acknowledged, left at
	                                   --max-replays, absent (no record at the offset) */
	struct elog_offset_set claimed; /* done, and the records in flight */
	struct elog_offset_set solo;    /* refused with others in their batch: to send alone */
	uint32_t inflight;
	int past_end;                   /* the group is past its end: left alone */
	char meta[ELOG_DLQ_META_MAX + 1];   /* the commit being written */
};

/* A topic records are replayed into. */
struct target {
	char name[ELOG_TOPIC_NAME_MAX + 1];
	int exists;
	uint32_t partitions;
	struct elog_producer *producer; /* NULL in a dry run */
};

/* A record in flight: its producer tag is the slot's index. */
struct slot {
	uint32_t part;
	int64_t offset;
	int64_t count;                  /* its copy's elog.replay.count */
};

struct run {
	const struct options *o;
	struct elog_client *client;
	struct elog_fetcher *fetcher;
	struct rpart *parts;
	uint32_t part_count;
	struct target targets[TARGETS_MAX];
	size_t target_count;
	struct slot *slots;
	uint32_t *free_slots;
	size_t slot_count, free_count;
	struct elog_offset_commit *commits;
	struct elog_cli_rate rate;
	struct elog_copy_headers headers;
	int64_t now;                    /* wall clock at the start, for --older-than */
	int64_t last_commit_ms;
	size_t fetching;                /* partitions with records to decide */
	uint64_t handled, sent, resent, replayed, undelivered, why[W__COUNT], not_reached;
	enum stop stop;
	int nomem, past_end, changed, named;
	char broken[ELOG_ERR_MSG_MAX];
};

/* "partition offset outcome topic partition offset count why" on stdout. */
static void say(uint32_t part, int64_t offset, const char *outcome,
		const char *topic, int64_t tp, int64_t to, int64_t count, const char *why)
{
	printf("%" PRIu32 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t", part, offset, outcome,
	       topic && topic[0] ? topic : "-", tp, to);
	if (count >= 0)
		printf("%" PRId64, count);
	else
		printf("-");
	printf("\t%s\n", why ? why : "-");
}

/* A record not replayed for a reason that fails the run: named on stderr
 * (the first NAMED_MAX), counted. */
static void not_replayed(struct run *r, uint32_t part, int64_t offset, enum why why,
			 const char *detail)
{
	r->why[why]++;
	if (why >= W_REASON || r->named >= NAMED_MAX)
		return;
	elog_cli_error("'%s' partition %" PRIu32 " offset %" PRId64 ": not replayed: %s%s",
		       r->o->topic, part, offset, detail ? detail : why_names[why],
		       ++r->named == NAMED_MAX ? " (the summary counts the others)" : "");
}

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct run *r = ctx;

	for (uint32_t i = 0; i < d->record_count; i++) {
		struct slot *s = &r->slots[d->tags[i]];
		struct rpart *p = &r->parts[s->part];
		p->inflight--;
		if (!d->error) {
			if (elog_offset_set_add(&p->done, s->offset, s->offset + 1, NULL) < 0)
				r->nomem = 1;
			r->replayed++;
			say(p->id, s->offset, "replayed", d->topic, d->partition,
			    d->base_offset >= 0 ? d->base_offset + i : -1, s->count, NULL);
		} else if (d->error > 0 && d->record_count > 1) {
			/* The broker refuses a batch as a whole: each of its records
			 * gets its own try (solo_pass), so that one bad record does not
			 * keep its neighbours from ever being replayed. */
			if (elog_offset_set_remove(&p->claimed, s->offset, NULL) < 0 ||
			    elog_offset_set_add(&p->solo, s->offset, s->offset + 1, NULL) < 0)
				r->nomem = 1;
			r->undelivered++;
		} else {
			if (elog_offset_set_remove(&p->claimed, s->offset, NULL) < 0)
				r->nomem = 1;
			r->undelivered++;
			not_replayed(r, p->id, s->offset, W_REFUSED, d->message);
			say(p->id, s->offset, "refused", d->topic, d->partition, -1, s->count,
			    d->message && d->message[0] ? d->message : "refused");
			if (d->error < 0 && !r->broken[0])
				snprintf(r->broken, sizeof(r->broken), "%s",
					 d->message && d->message[0] ? d->message : "not delivered");
		}
		r->free_slots[r->free_count++] = (uint32_t)d->tags[i];
	}
}

/* Drive every producer for up to ms (0: what is ready). */
static int drive(struct run *r, int ms, struct elog_err *err)
{
	struct pollfd fds[POLLFDS_MAX];
	size_t n = 0;
	int wait = ms;

	for (size_t i = 0; i < r->target_count; i++) {
		struct elog_producer *p = r->targets[i].producer;
		int due;
		if (!p)
			continue;
		n += elog_producer_pollfds(p, fds + n, POLLFDS_MAX - n);
		due = elog_producer_timeout_ms(p);
		if (due >= 0 && due < wait)
			wait = due;
	}
	if (wait > 0 && poll(fds, n, wait) < 0 && errno != EINTR)
		return elog_err_errno(err, ELOG_E_IO, errno, "poll");
	for (size_t i = 0; i < r->target_count; i++)
		if (r->targets[i].producer && elog_producer_poll(r->targets[i].producer, 0, err) < 0)
			return -1;
	return 0;
}

/* The commit of partition p as it stands: its position, its metadata into p->meta. */
static int64_t position(struct rpart *p, struct elog_err *err)
{
	int64_t pos = elog_offset_set_gap(&p->done, p->base);

	if (elog_dlq_meta_format(&p->done, pos, p->meta, sizeof(p->meta), err) < 0)
		return -1;
	return pos;
}

/*
 * The group as this run last left it? Another run (or a reset) committed
 * meanwhile otherwise: this one must not write over it.
 */
static int group_unchanged(struct run *r, struct elog_err *err)
{
	struct gpart *now = calloc(r->part_count ? r->part_count : 1, sizeof(*now));
	int rc = 0;

	if (!now)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	if (read_group(r->client, r->o->group, r->o->topic, r->part_count, now, err) < 0) {
		rc = -1;
	} else {
		for (uint32_t i = 0; i < r->part_count && rc == 0; i++)
			if (now[i].committed != r->parts[i].g.committed ||
			    strcmp(now[i].meta, r->parts[i].g.meta) != 0) {
				r->changed = 1;
				rc = elog_err_set(err, ELOG_E_INVAL, "group '%s' partition %" PRIu32
						  ": committed by someone else since this run read it "
						  "(two runs at once?): not committing", r->o->group, i);
			}
	}
	for (uint32_t i = 0; i < r->part_count; i++)
		elog_offset_set_release(&now[i].decided);
	free(now);
	return rc;
}

/* Commit each partition whose position or metadata moved, when
 * --commit-interval has passed or force. */
static int commit(struct run *r, int force, struct elog_err *err)
{
	int64_t now = elog_clock_ms();
	size_t n = 0;

	if (r->o->dry_run || (!force && now - r->last_commit_ms < r->o->commit_interval_ms))
		return 0;
	r->last_commit_ms = now;
	for (uint32_t i = 0; i < r->part_count; i++) {
		struct rpart *p = &r->parts[i];
		int64_t pos;
		if (p->past_end)
			continue;
		if ((pos = position(p, err)) < 0)
			return elog_err_prefix(err, "'%s' partition %" PRIu32, r->o->topic, p->id);
		if (pos == p->g.committed && strcmp(p->meta, p->g.meta) == 0)
			continue;
		/* Never committed and nothing decided: leave the group alone. */
		if (p->g.committed < 0 && pos <= p->base &&
		    strcmp(p->meta, ELOG_DLQ_META_PREFIX) == 0)
			continue;
		r->commits[n++] = (struct elog_offset_commit){
			.topic = r->o->topic, .partition = p->id, .offset = pos,
			.high_watermark = p->end, .metadata = p->meta,
		};
	}
	if (n == 0)
		return 0;
	if (group_unchanged(r, err) < 0)
		return -1;
	if (elog_client_commit_offsets(r->client, r->o->group, r->commits, n, err) < 0)
		return elog_err_prefix(err, "commit the position in group '%s'", r->o->group);
	for (size_t k = 0; k < n; k++) {
		struct rpart *p = &r->parts[r->commits[k].partition];
		p->g.committed = r->commits[k].offset;
		snprintf(p->g.meta, sizeof(p->g.meta), "%s", p->meta);
	}
	return 0;
}

/* Digits of a non-negative number. */
static int digits(int64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/*
 * Could the commit record offset o as decided even if every record in flight
 * failed? Each failure may split a listed range, adding at most two numbers
 * and two separators.
 */
static int room_for(struct rpart *p, int64_t o, struct elog_err *err)
{
	int64_t pos;
	size_t need;

	if (elog_offset_set_add(&p->claimed, o, o + 1, err) < 0)
		return -1;
	pos = elog_offset_set_gap(&p->claimed, p->base);
	need = elog_dlq_meta_len(&p->claimed, pos) +
	       (size_t)(p->inflight + 1) * (size_t)(2 * digits(o) + 2);
	if (elog_offset_set_remove(&p->claimed, o, err) < 0)
		return -1;
	return need <= ELOG_DLQ_META_MAX;
}

/* Wait until offset o of p can be decided: 0, or 1 to stop (r->stop said why). */
static int wait_room(struct run *r, struct rpart *p, int64_t o, struct elog_err *err)
{
	int rc;

	while ((rc = room_for(p, o, err)) == 0) {
		if (p->inflight == 0) {
			r->stop = STOP_FULL;
			return 1;
		}
		if (elog_cli_stops || r->broken[0] || r->nomem) {
			r->stop = elog_cli_stops ? STOP_SIGNAL : STOP_BROKEN;
			return 1;
		}
		if (drive(r, WAIT_SLICE_MS, err) < 0 || commit(r, 0, err) < 0)
			return -1;
	}
	return rc < 0 ? -1 : 0;
}

/* --rate: wait for a token, committing meanwhile: 0, or 1 to stop. */
static int throttle(struct run *r, struct elog_err *err)
{
	int wait;

	while ((wait = elog_cli_rate_take(&r->rate, elog_clock_ms())) > 0) {
		if (elog_cli_stops) {
			r->stop = STOP_SIGNAL;
			return 1;
		}
		if (drive(r, wait > WAIT_SLICE_MS ? WAIT_SLICE_MS : wait, err) < 0 ||
		    commit(r, 0, err) < 0)
			return -1;
	}
	return 0;
}

/* The target named name: found, or looked up once (a producer made for it). */
static struct target *target(struct run *r, const char *name, struct elog_err *err)
{
	struct elog_producer_config pc;
	struct target *t;
	uint32_t parts;

	for (size_t i = 0; i < r->target_count; i++)
		if (strcmp(r->targets[i].name, name) == 0)
			return &r->targets[i];
	if (r->target_count == TARGETS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "more than %d topics to replay into in one run",
			     TARGETS_MAX);
		return NULL;
	}
	t = &r->targets[r->target_count];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	/* Never created here: a topic deleted since stays deleted. */
	if (topic_partitions(r->client, name, &parts, err) < 0) {
		if (err->code != ELOG_E_INVAL)
			return NULL;
		r->target_count++;
		return t;
	}
	t->exists = 1;
	t->partitions = parts;
	if (!r->o->dry_run) {
		elog_copy_producer_config(&pc, (uint32_t)r->o->timeout_ms);
		pc.on_delivery = on_delivery;
		pc.ctx = r;
		if (!(t->producer = elog_producer_new(r->client, name, &pc, err)))
			return NULL;
		t->partitions = elog_producer_partition_count(t->producer);
	}
	r->target_count++;
	return t;
}

/* Its elog.partition when the target has it, else by key (-1: the producer's choice). */
static int32_t destination(const struct target *t, const struct elog_dead_letter *dl,
			   const struct elog_record_view *v)
{
	if (dl->partition >= 0 && dl->partition < t->partitions)
		return (int32_t)dl->partition;
	if (v->key_len >= 0 && t->partitions)
		return (int32_t)elog_partition_for_key(v->key, (size_t)v->key_len, t->partitions);
	return -1;
}

static int reason_matches(const struct run *r, const struct elog_dead_letter *dl)
{
	size_t len = dl->verdict.len > REASON_MATCH_MAX ? REASON_MATCH_MAX : dl->verdict.len;
	char *text = malloc(len + 1);
	int match;

	if (!text)
		return -1;
	if (len)
		memcpy(text, dl->verdict.ptr, len);
	text[len] = '\0';   /* up to a NUL byte, if any */
	match = regexec(&r->o->reason, text, 0, NULL, 0) == 0;
	free(text);
	return match;
}

/* Send the copy of v; a record that cannot be sent is refused (left). */
static int send_copy(struct run *r, struct rpart *p, struct target *t,
		     const struct elog_fetched *rec, const struct elog_dead_letter *dl,
		     struct elog_err *err)
{
	const struct elog_record_view *v = rec->record;
	struct elog_copy_headers *h = &r->headers;
	char count_text[24];
	struct elog_err why;
	uint32_t tag;
	int32_t dest = destination(t, dl, v);

	if (elog_copy_headers(h, v, "elog.", 1, rec->topic, rec->partition, &why) < 0) {
		not_replayed(r, p->id, v->offset, W_REFUSED, why.msg);
		say(p->id, v->offset, "refused", t->name, dest, -1, dl->replay_count + 1, why.msg);
		return 0;
	}
	snprintf(count_text, sizeof(count_text), "%" PRId64, dl->replay_count + 1);
	h->items[h->count++] = (struct elog_header){(const uint8_t *)"elog.replay.count", 17,
						    (const uint8_t *)count_text,
						    (int32_t)strlen(count_text)};
	if (r->free_count == 0) {
		size_t cap = r->slot_count ? r->slot_count * 2 : 1024;
		struct slot *slots = realloc(r->slots, cap * sizeof(*slots));
		uint32_t *free_slots = slots ? realloc(r->free_slots, cap * sizeof(*free_slots)) : NULL;
		if (slots)
			r->slots = slots;
		if (!slots || !free_slots)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		r->free_slots = free_slots;
		for (size_t i = cap; i > r->slot_count; i--)
			r->free_slots[r->free_count++] = (uint32_t)(i - 1);
		r->slot_count = cap;
	}
	tag = r->free_slots[--r->free_count];
	r->slots[tag] = (struct slot){(uint32_t)(p - r->parts), v->offset, dl->replay_count + 1};
	if (elog_offset_set_add(&p->claimed, v->offset, v->offset + 1, err) < 0)
		return -1;
	p->inflight++;
	struct elog_record out = {
		.timestamp_ms = v->timestamp_ms, .key = v->key, .key_len = v->key_len,
		.value = v->value, .value_len = v->value_len, .headers = h->items,
		.header_count = h->count,
	};
	if (elog_producer_send(t->producer, &out, dest, tag, &why) < 0) {
		p->inflight--;
		r->free_slots[r->free_count++] = tag;
		if (elog_offset_set_remove(&p->claimed, v->offset, err) < 0)
			return -1;
		not_replayed(r, p->id, v->offset, W_REFUSED, why.msg);
		say(p->id, v->offset, "refused", t->name, dest, -1, dl->replay_count + 1, why.msg);
		return 0;
	}
	r->sent++;
	return 0;
}

/*
 * Decide one record: 0 when done with it, 1 to stop before it (r->stop
 * says why), -1 on a failure.
 */
static int handle(struct run *r, const struct elog_fetched *rec, struct elog_err *err)
{
	const struct elog_record_view *v = rec->record;
	struct rpart *p = &r->parts[rec->partition];
	struct elog_dead_letter dl;
	char name[ELOG_TOPIC_NAME_MAX + 1];
	struct target *t;
	int64_t o = v->offset;
	int rc;

	if (o < p->seen)
		return 0;
	/* Offsets without a record (compacted away) are decided. */
	if (o > p->seen && (elog_offset_set_add(&p->done, p->seen, o, err) < 0 ||
			    elog_offset_set_add(&p->claimed, p->seen, o, err) < 0))
		return -1;
	p->seen = o;
	if (elog_offset_set_has(&p->done, o)) {
		p->seen = o + 1;   /* decided by an earlier run */
		return 0;
	}
	elog_dead_letter_read(v, &dl);
	if (r->o->older_than_ms >= 0 && r->now - elog_dead_letter_time(&dl, v) < r->o->older_than_ms) {
		not_replayed(r, p->id, o, W_NEWER, NULL);
		say(p->id, o, "skipped", NULL, -1, -1, dl.replay_count, why_names[W_NEWER]);
		goto next;
	}
	if (r->o->reason_text && (rc = reason_matches(r, &dl)) <= 0) {
		if (rc < 0)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		not_replayed(r, p->id, o, W_REASON, NULL);
		say(p->id, o, "skipped", NULL, -1, -1, dl.replay_count, why_names[W_REASON]);
		goto next;
	}
	if (dl.replay_count < 0) {
		not_replayed(r, p->id, o, W_BAD_COUNT, NULL);
		say(p->id, o, "left", NULL, -1, -1, -1, why_names[W_BAD_COUNT]);
		goto next;
	}
	if ((uint64_t)dl.replay_count >= r->o->max_replays) {
		char detail[96];
		/* Decided: left for good, reported by this run only. */
		if ((rc = wait_room(r, p, o, err)) != 0)
			return rc;
		if (elog_offset_set_add(&p->done, o, o + 1, err) < 0 ||
		    elog_offset_set_add(&p->claimed, o, o + 1, err) < 0)
			return -1;
		snprintf(detail, sizeof(detail), "elog.replay.count %" PRId64 " reached "
			 "--max-replays %" PRIu64, dl.replay_count, r->o->max_replays);
		not_replayed(r, p->id, o, W_MAX_REPLAYS, detail);
		say(p->id, o, "left", NULL, -1, -1, dl.replay_count, why_names[W_MAX_REPLAYS]);
		goto next;
	}
	if (r->o->to) {
		snprintf(name, sizeof(name), "%s", r->o->to);
	} else if ((rc = elog_dead_letter_topic(&dl, name, sizeof(name))) <= 0 ||
		   strcmp(name, r->o->topic) == 0) {
		enum why why = rc == 0 ? W_NO_TOPIC : W_BAD_TOPIC;
		not_replayed(r, p->id, o, why, NULL);
		say(p->id, o, "left", NULL, -1, -1, dl.replay_count, why_names[why]);
		goto next;
	}
	if (!(t = target(r, name, err)))
		return -1;
	if (!t->exists) {
		char detail[ELOG_TOPIC_NAME_MAX + 32];
		snprintf(detail, sizeof(detail), "no such topic '%s'", name);
		not_replayed(r, p->id, o, W_UNKNOWN_TOPIC, detail);
		say(p->id, o, "left", name, -1, -1, dl.replay_count, why_names[W_UNKNOWN_TOPIC]);
		goto next;
	}
	if (r->o->max && r->sent - r->resent >= r->o->max) {
		r->stop = STOP_MAX;
		return 1;
	}
	if ((rc = wait_room(r, p, o, err)) != 0 || (rc = throttle(r, err)) != 0)
		return rc;
	if (r->o->dry_run) {
		if (elog_offset_set_add(&p->done, o, o + 1, err) < 0 ||
		    elog_offset_set_add(&p->claimed, o, o + 1, err) < 0)
			return -1;
		r->sent++;
		r->replayed++;
		say(p->id, o, "dry-run", name, destination(t, &dl, v), -1, dl.replay_count + 1,
		    NULL);
	} else if (send_copy(r, p, t, rec, &dl, err) < 0) {
		return -1;
	}
next:
	r->handled++;
	p->seen = o + 1;
	return 0;
}

/* A record refused with others in its batch, sent again alone and waited
 * for: 0, 1 to stop, -1 on a failure. */
static int resend(struct run *r, struct rpart *p, const struct elog_fetched *rec,
		  struct elog_err *err)
{
	struct elog_dead_letter dl;
	char name[ELOG_TOPIC_NAME_MAX + 1];
	struct target *t;
	int rc;

	elog_dead_letter_read(rec->record, &dl);
	if (r->o->to)
		snprintf(name, sizeof(name), "%s", r->o->to);
	else if (elog_dead_letter_topic(&dl, name, sizeof(name)) <= 0)
		return 0;   /* it was sent: it has one */
	if (!(t = target(r, name, err)))
		return -1;
	if ((rc = wait_room(r, p, rec->record->offset, err)) != 0 || (rc = throttle(r, err)) != 0)
		return rc;
	r->resent++;
	if (send_copy(r, p, t, rec, &dl, err) < 0 ||
	    elog_producer_flush(t->producer, (int)r->o->timeout_ms, err) < 0)
		return -1;
	return 0;
}

/* Each record refused with others in its batch, read again and sent alone. */
static int solo_pass(struct run *r, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_fetched rec;
	int rc = 0;

	elog_fetcher_config_init(&fc);
	fc.retry_timeout_ms = (uint32_t)r->o->timeout_ms;
	for (uint32_t i = 0; i < r->part_count && r->stop == STOP_NONE && rc >= 0; i++) {
		struct rpart *p = &r->parts[i];
		struct elog_fetcher *f;
		struct elog_pos from, to;
		if (!p->solo.n)
			continue;
		from = (struct elog_pos){ELOG_POS_OFFSET, p->solo.r[0].lo};
		to = (struct elog_pos){ELOG_POS_OFFSET, p->solo.r[p->solo.n - 1].hi};
		if (!(f = elog_fetcher_new(r->client, &fc, err)))
			return -1;
		rc = elog_fetcher_add(f, r->o->topic, (int32_t)p->id, &from, &to, err);
		while (rc >= 0 && p->solo.n && r->stop == STOP_NONE) {
			if (elog_cli_stops || r->broken[0] || r->nomem) {
				r->stop = elog_cli_stops ? STOP_SIGNAL : STOP_BROKEN;
				break;
			}
			rc = elog_fetcher_next(f, &rec, WAIT_SLICE_MS, err);
			if (rc == 0 && elog_fetcher_done(f))
				break;
			if (rc != 1 || !elog_offset_set_has(&p->solo, rec.record->offset))
				continue;
			if (elog_offset_set_remove(&p->solo, rec.record->offset, err) < 0 ||
			    (rc = resend(r, p, &rec, err)) < 0)
				rc = -1;
		}
		elog_fetcher_free(f);
	}
	return rc < 0 && !elog_cli_stops ? -1 : 0;
}

/* Fetch and decide until every partition's end, or a stop. */
static int replay_loop(struct run *r, struct elog_err *err)
{
	struct elog_fetched rec;
	int wait = 0, rc;

	elog_cli_setup = 0;
	while (r->stop == STOP_NONE) {
		if (elog_cli_stops) {
			r->stop = STOP_SIGNAL;
			break;
		}
		if (r->broken[0] || r->nomem) {
			r->stop = STOP_BROKEN;
			break;
		}
		if (commit(r, 0, err) < 0)
			return -1;
		if (!r->fetching || elog_fetcher_done(r->fetcher))
			break;
		rc = elog_fetcher_next(r->fetcher, &rec, wait, err);
		if (rc < 0) {
			if (elog_cli_stops)
				continue;
			return -1;
		}
		if (rc == 0) {
			if (drive(r, 0, err) < 0)
				return -1;
			wait = WAIT_SLICE_MS;
			continue;
		}
		wait = 0;
		if (rc == 1 && (rc = handle(r, &rec, err)) < 0)
			return -1;
	}
	return 0;
}

/* Each partition's range, and where the group says this run starts. */
static int replay_setup(struct run *r, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	uint32_t n;
	uint32_t *ids = NULL;
	int64_t *first = NULL, *end = NULL, *ts = NULL;
	struct gpart *g = NULL;
	int rc = -1;

	if (topic_partitions(r->client, r->o->topic, &n, err) < 0)
		return -1;
	r->part_count = n;
	r->parts = calloc(n ? n : 1, sizeof(*r->parts));
	r->commits = calloc(n ? n : 1, sizeof(*r->commits));
	ids = malloc((n ? n : 1) * sizeof(*ids));
	first = malloc((n ? n : 1) * sizeof(*first));
	end = malloc((n ? n : 1) * sizeof(*end));
	ts = malloc((n ? n : 1) * sizeof(*ts));
	g = calloc(n ? n : 1, sizeof(*g));
	if (!r->parts || !r->commits || !ids || !first || !end || !ts || !g) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = i;
		ts[i] = ELOG_OFFSET_EARLIEST;
	}
	if (elog_client_list_offsets(r->client, r->o->topic, ids, ts, first, n, err) < 0)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		ts[i] = ELOG_OFFSET_LATEST;
	if (elog_client_list_offsets(r->client, r->o->topic, ids, ts, end, n, err) < 0)
		goto out;
	if (read_group(r->client, r->o->group, r->o->topic, n, g, err) < 0) {
		elog_err_prefix(err, "read group '%s'", r->o->group);
		goto out;
	}
	elog_fetcher_config_init(&fc);
	fc.retry_timeout_ms = (uint32_t)r->o->timeout_ms;
	if (!(r->fetcher = elog_fetcher_new(r->client, &fc, err)))
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		struct rpart *p = &r->parts[i];
		struct elog_pos from, to;
		if (g[i].foreign) {
			elog_err_set(err, ELOG_E_INVAL, "group '%s' partition %" PRIu32 ": %s: not "
				     "replaying (elog-replay -g %s --delete --execute starts over)",
				     r->o->group, i, g[i].why, r->o->group);
			goto out;
		}
		/* The decided offsets move from g into p->done. */
		p->id = i;
		p->g = g[i];
		p->done = g[i].decided;
		elog_offset_set_init(&p->g.decided);
		elog_offset_set_init(&g[i].decided);
		elog_offset_set_init(&p->claimed);
		p->base = p->g.committed > first[i] ? p->g.committed : first[i];
		p->end = end[i];
		if (p->base > p->end) {
			/* Recreated? Its records were never replayed: not skipped
			 * either, the operator decides (and is told each run). */
			elog_cli_error("'%s' partition %" PRIu32 ": group '%s' is at %" PRId64 ", past "
				       "the partition's end %" PRId64 " (was the topic recreated?): left "
				       "alone; elog-replay -g %s --to-earliest --execute starts it over",
				       r->o->topic, i, r->o->group, p->base, p->end, r->o->group);
			r->past_end = 1;
			p->past_end = 1;
			p->base = p->end;
		}
		p->seen = p->base;
		for (size_t k = 0; k < p->done.n; k++)
			if (elog_offset_set_add(&p->claimed, p->done.r[k].lo, p->done.r[k].hi, err) < 0)
				goto out;
		if (elog_offset_set_gap(&p->done, p->base) >= p->end)
			continue;
		from = (struct elog_pos){ELOG_POS_OFFSET, p->base};
		to = (struct elog_pos){ELOG_POS_OFFSET, p->end};
		if (elog_fetcher_add(r->fetcher, r->o->topic, (int32_t)i, &from, &to, err) < 0)
			goto out;
		r->fetching++;
	}
	rc = 0;
out:
	for (uint32_t i = 0; g && i < n; i++)
		elog_offset_set_release(&g[i].decided);
	free(g);
	free(ids);
	free(first);
	free(end);
	free(ts);
	return rc;
}

/* "replayed 120 of 130; 10 left: max replays" (a dry run: what it would do). */
static void summary(const struct run *r)
{
	uint64_t left[W__COUNT + 1], all = 0;
	int kinds = 0;
	char line[1024];
	size_t used;

	memcpy(left, r->why, sizeof(r->why));
	left[W__COUNT] = r->not_reached;
	for (int i = 0; i <= W__COUNT; i++) {
		kinds += left[i] != 0;
		all += left[i];
	}
	used = (size_t)snprintf(line, sizeof(line), "%s %" PRIu64 " of %" PRIu64,
				r->o->dry_run ? "dry run: would replay" : "replayed", r->replayed,
				r->handled + r->not_reached);
	if (kinds)
		used += (size_t)snprintf(line + used, sizeof(line) - used, "; %" PRIu64 " left: ", all);
	for (int i = 0, k = 0; i <= W__COUNT && used < sizeof(line); i++) {
		const char *name = i < W__COUNT ? why_names[i] : stop_names[r->stop];
		if (!left[i])
			continue;
		if (kinds == 1)
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s", name);
		else
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%" PRIu64 " %s",
						 k++ ? ", " : "", left[i], name);
	}
	fprintf(stderr, "%s: '%s': %s%s\n", elog_cli_prog(), r->o->topic, line,
		r->o->dry_run ? "; nothing changed" : "");
}

static int cmd_replay(struct elog_client *c, const struct options *o)
{
	static struct run r;
	struct elog_err err, e;
	int rc = ELOG_EXIT_OK, loop_rc = 0, fatal = 0;

	r.o = o;
	r.client = c;
	r.now = wall_ms();
	r.last_commit_ms = elog_clock_ms();
	elog_cli_rate_init(&r.rate, o->rate_per_ms, elog_clock_ms());
	elog_cli_stop_signals(ELOG_EXIT_FAIL, "interrupted before replaying anything");
	if (replay_setup(&r, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		rc = failed(&err);
		goto out;
	}
	loop_rc = replay_loop(&r, &err);
	if (loop_rc < 0) {
		elog_cli_error_err(&err, NULL);
		rc = failed(&err);
		fatal = 1;
		if (r.stop == STOP_NONE)
			r.stop = STOP_FAILED;
	}
	/* Every record to its end: what follows the last one is decided too. */
	if (r.stop == STOP_NONE)
		for (uint32_t i = 0; i < r.part_count; i++)
			if (r.parts[i].seen < r.parts[i].end &&
			    elog_offset_set_add(&r.parts[i].done, r.parts[i].seen, r.parts[i].end,
						&e) == 0)
				r.parts[i].seen = r.parts[i].end;
	for (size_t i = 0; i < r.target_count; i++) {
		struct elog_producer *p = r.targets[i].producer;
		if (p && elog_cli_stops < 2 && elog_producer_flush(p, (int)o->timeout_ms, &e) < 0) {
			if (!fatal)
				elog_cli_error_err(&e, NULL);
			fatal = 1;
			rc = EXIT_UNREACHABLE;
		}
	}
	if (!fatal && (r.stop == STOP_NONE || r.stop == STOP_MAX)) {
		enum stop stop = r.stop;
		r.stop = STOP_NONE;
		if (solo_pass(&r, &e) < 0) {
			elog_cli_error_err(&e, NULL);
			rc = failed(&e);
			fatal = 1;
		}
		if (r.stop == STOP_NONE)
			r.stop = stop;
	}
	/* Refused with their batch and not tried alone: refused all the same. */
	for (uint32_t i = 0; i < r.part_count; i++)
		r.why[W_REFUSED] += (uint64_t)elog_offset_set_count(&r.parts[i].solo, 0, INT64_MAX);
	if (r.broken[0] && !fatal) {
		elog_cli_error("%s", r.broken);
		rc = EXIT_UNREACHABLE;
		fatal = 1;
	}
	if (r.nomem && !fatal) {
		elog_cli_error("out of memory");
		rc = ELOG_EXIT_FAIL;
		fatal = 1;
	}
	r.why[W_UNACKED] = r.sent - r.replayed - r.undelivered;
	for (uint32_t i = 0; i < r.part_count; i++) {
		const struct rpart *p = &r.parts[i];
		if (p->seen < p->end)
			r.not_reached += (uint64_t)(p->end - p->seen -
						    elog_offset_set_count(&p->done, p->seen, p->end));
	}
	if (commit(&r, 1, &e) < 0) {
		if (!fatal)
			elog_cli_error_err(&e, NULL);
		rc = fatal ? rc : failed(&e);
		fatal = 1;
	}
	if (fatal && r.stop == STOP_NONE)
		r.stop = STOP_FAILED;
	summary(&r);
	if (rc == ELOG_EXIT_OK) {
		for (int i = 0; i < W_REASON; i++)
			if (r.why[i])
				rc = ELOG_EXIT_FAIL;
		if (r.past_end || (r.not_reached && r.stop != STOP_MAX))
			rc = ELOG_EXIT_FAIL;
	}
out:
	for (size_t i = 0; i < r.target_count; i++)
		if (r.targets[i].producer)
			elog_producer_free(r.targets[i].producer);
	if (r.fetcher)
		elog_fetcher_free(r.fetcher);
	for (uint32_t i = 0; r.parts && i < r.part_count; i++) {
		elog_offset_set_release(&r.parts[i].done);
		elog_offset_set_release(&r.parts[i].claimed);
		elog_offset_set_release(&r.parts[i].solo);
		elog_offset_set_release(&r.parts[i].g.decided);
	}
	free(r.parts);
	free(r.commits);
	free(r.slots);
	free(r.free_slots);
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
	if (!(c = elog_client_new(&cc, &err)))
		return elog_cli_usage_error(&program, "%s", err.msg);
	switch (o.command) {
	case CMD_LIST: rc = cmd_list(c, &o); break;
	case CMD_SHOW: rc = cmd_show(c, &o); break;
	case CMD_STATS: rc = cmd_stats(c, &o); break;
	case CMD_REPLAY: rc = cmd_replay(c, &o); break;
	case CMD_PURGE: rc = cmd_purge(c, &o); break;
	case CMD__COUNT: break;
	}
	elog_client_free(c);
	if (o.reason_text)
		regfree(&o.reason);
	if ((fflush(stdout) != 0 || ferror(stdout)) && !stdout_gone && errno != EPIPE) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		rc = ELOG_EXIT_FAIL;
	}
	return rc;
}
