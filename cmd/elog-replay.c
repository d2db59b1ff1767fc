/*
 * elog-replay — move a consumer group's committed offsets (Kafka's
 * --reset-offsets done carefully), or replay a range of a topic's records
 * to stdout or into another topic; see elog-replay(1) and docs/groups.md.
 *
 *   elog-replay -g GROUP (--to-earliest | --to-latest | --to-time T |
 *               --to-offset N | --shift-by N) [--execute] [TOPIC[:P,...]]...
 *
 * Prints the plan, one line per partition (TSV: topic, partition, the
 * committed offset or -1, the new offset), and changes nothing unless
 * --execute, which commits the new offsets (a standalone commit) and says
 * so on stderr. New offsets are kept inside [log start, high watermark]:
 * a reset never points a group at offsets that do not exist. Without a
 * TOPIC, the topics the group has commits for.
 *
 *   elog-replay TOPIC[:P,...] [--from N|@TIME] [--to N|@TIME]
 *               [-J | -f FORMAT | --to-topic T [--resume-group G]] [--rate N/s]
 *
 * Range replay: each partition's records from --from (default its log
 * start) up to --to, exclusive (default its high watermark at the start,
 * so a replay ends), printed as elog-consume prints them (format.h), or
 * produced into T (acks=all, idempotent) with key, headers and timestamp
 * kept and elog.replay.{topic,partition,offset} headers naming the source.
 * Into a topic, the position is committed in group G (default
 * elog-replay.SRC.DST) as a standalone commit, per source partition, only
 * up to records every one of which is acknowledged, every --commit-interval,
 * at the end and on SIGINT/SIGTERM; a rerun starts at max(--from, the
 * commit), so an interrupted replay resumes without gaps, and without
 * duplicates unless it was killed (then only the records past the last
 * commit are copied again).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "copy.h"
#include "format.h"
#include "partition.h"

#define TIMEOUT_DEFAULT_MS 30000
#define TARGETS_MAX 1024
#define COMMIT_INTERVAL_DEFAULT_MS 1000
/* Output to stdout: written once this much is buffered; the buffer's cap
 * lets one record rendered alone fit (--json of a batch-sized value of
 * control bytes, each escaped as \u00XX). */
#define OUT_FLUSH_BYTES (1u << 20)
#define OUT_BYTES_MAX ((size_t)ELOG_BATCH_SIZE_MAX * 6 + (1u << 20))
/* Longest wait before looking at signals, the producer and commits. */
#define WAIT_SLICE_MS 50
/* Tags of produced records: source partition index above, sequence below. */
#define TAG_SEQ_BITS 40
#define TAG_SEQ_MASK ((UINT64_C(1) << TAG_SEQ_BITS) - 1)
#define GROUP_NAME_MAX 255

enum {
	OPT_TO_EARLIEST = 256,
	OPT_TO_LATEST,
	OPT_TO_TIME,
	OPT_TO_OFFSET,
	OPT_SHIFT_BY,
	OPT_EXECUTE,
	OPT_DELETE,
	OPT_FROM,
	OPT_TO,
	OPT_TO_TOPIC,
	OPT_RESUME_GROUP,
	OPT_RATE,
	OPT_COMMIT_INTERVAL,
	OPT_TIMEOUT,
	OPT_VERSION,
};

enum how { HOW_NONE, HOW_EARLIEST, HOW_LATEST, HOW_TIME, HOW_OFFSET, HOW_SHIFT, HOW_DELETE };

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'g', "group", "GROUP", "the consumer group whose offsets move"},
	{OPT_TO_EARLIEST, "to-earliest", NULL, "to each partition's log start"},
	{OPT_TO_LATEST, "to-latest", NULL, "to each partition's high watermark"},
	{OPT_TO_TIME, "to-time", "TIME", "to the first record at or after TIME (RFC 3339 or epoch ms)"},
	{OPT_TO_OFFSET, "to-offset", "N", "to offset N"},
	{OPT_SHIFT_BY, "shift-by", "N", "the committed offset plus N (negative: back)"},
	{OPT_DELETE, "delete", NULL, "delete the group: its commits and its record (no members)"},
	{OPT_EXECUTE, "execute", NULL, "commit the plan (without it nothing changes)"},
	{OPT_FROM, "from", "N|@TIME", "replay from offset N or TIME (default: the log start)"},
	{OPT_TO, "to", "N|@TIME", "up to offset N or TIME, exclusive (default: the high watermark)"},
	{'J', "json", NULL, "print one JSON envelope per record (docs/json.md)"},
	{'f', "format", "FORMAT", "print records as FORMAT, as elog-consume -f does"},
	{OPT_TO_TOPIC, "to-topic", "TOPIC", "produce the records into TOPIC instead of printing them"},
	{OPT_RESUME_GROUP, "resume-group", "GROUP", "commit the position in GROUP (default "
						    "elog-replay.SOURCE.TOPIC)"},
	{OPT_COMMIT_INTERVAL, "commit-interval", "DURATION", "commit the position this often "
							     "(default 1s)"},
	{OPT_RATE, "rate", "N/s", "at most N records a second (or N/m, N/h)"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 30s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "-g group (--to-earliest | --to-latest | --to-time time | --to-offset n |\n"
		    "                   --shift-by n | --delete) [--execute] [-b brokers] [topic[:partition,...]] ...\n"
		    "       elog-replay [--from n|@time] [--to n|@time] [-J | -f format |\n"
		    "                   --to-topic topic [--resume-group group]] [--rate n/s]\n"
		    "                   [-b brokers] topic[:partition,...]",
	.summary = "Move a consumer group's committed offsets: print the plan, commit it with "
		   "--execute.\nOr replay a range of a topic's records to standard output or into "
		   "another topic.",
	.options = options,
};

/* --from / --to: an offset or a time; kind ELOG_POS_EARLIEST / _LATEST when not given. */
struct range_pos {
	struct elog_pos pos;
	const char *text;              /* as typed, for messages */
};

struct options {
	const char *brokers, *group;
	enum how how;
	int64_t value;              /* time, offset or shift */
	int execute;
	int64_t timeout_ms;
	struct elog_cli_target targets[TARGETS_MAX];
	size_t target_count;
	/* range replay */
	struct range_pos from, to;
	const char *range_option;   /* the first range replay option given, for messages */
	enum elog_output_mode mode;
	struct elog_format format;
	const char *to_topic, *resume_group;
	char default_group[GROUP_NAME_MAX + 1];
	int64_t commit_interval_ms;
	double rate_per_ms;         /* 0: no limit */
};

static int set_how(struct options *o, enum how how, const char *arg)
{
	struct elog_err err;

	if (o->how != HOW_NONE)
		return elog_cli_usage_error(&program, "give one of --to-earliest, --to-latest, "
					    "--to-time, --to-offset and --shift-by");
	o->how = how;
	if (how == HOW_TIME && elog_cli_parse_timestamp_ms(arg, &o->value, &err) < 0)
		return elog_cli_usage_error(&program, "--to-time: %s", err.msg);
	if (how == HOW_OFFSET && elog_cli_parse_i64(arg, 0, INT64_MAX, &o->value, &err) < 0)
		return elog_cli_usage_error(&program, "--to-offset: %s", err.msg);
	if (how == HOW_SHIFT && elog_cli_parse_i64(arg, INT64_MIN / 2, INT64_MAX / 2, &o->value,
						   &err) < 0)
		return elog_cli_usage_error(&program, "--shift-by: %s", err.msg);
	return -1;
}

/* --from / --to: "N" or "@TIME". -1 when good, else the usage error's status. */
static int set_range_pos(struct range_pos *p, const char *name, const char *arg)
{
	struct elog_err err;

	p->text = arg;
	if (arg[0] == '@') {
		p->pos.kind = ELOG_POS_TIMESTAMP;
		if (elog_cli_parse_timestamp_ms(arg + 1, &p->pos.value, &err) < 0)
			return elog_cli_usage_error(&program, "%s: %s", name, err.msg);
		return -1;
	}
	p->pos.kind = ELOG_POS_OFFSET;
	if (elog_cli_parse_i64(arg, 0, INT64_MAX, &p->pos.value, &err) < 0)
		return elog_cli_usage_error(&program, "%s: %s (an offset, or @TIME)", name, err.msg);
	return -1;
}

static int parse_option(struct options *o, int id, const char *arg)
{
	switch (id) {
	case 'b': o->brokers = arg; return -1;
	case 'g': o->group = arg; return -1;
	case OPT_TO_EARLIEST: return set_how(o, HOW_EARLIEST, NULL);
	case OPT_TO_LATEST: return set_how(o, HOW_LATEST, NULL);
	case OPT_TO_TIME: return set_how(o, HOW_TIME, arg);
	case OPT_TO_OFFSET: return set_how(o, HOW_OFFSET, arg);
	case OPT_SHIFT_BY: return set_how(o, HOW_SHIFT, arg);
	case OPT_EXECUTE: o->execute = 1; return -1;
	case OPT_DELETE: return set_how(o, HOW_DELETE, NULL);
	case OPT_TIMEOUT:
		return elog_cli_duration_option(&program, "--timeout", arg, 1, INT32_MAX / 2,
						"1ms..12d", &o->timeout_ms);
	default: break;
	}
	/* The rest are range replay's. */
	if (!o->range_option)
		o->range_option = id == 'J' ? "--json" : id == 'f' ? "--format" :
				  id == OPT_FROM ? "--from" : id == OPT_TO ? "--to" :
				  id == OPT_TO_TOPIC ? "--to-topic" :
				  id == OPT_RESUME_GROUP ? "--resume-group" :
				  id == OPT_RATE ? "--rate" : "--commit-interval";
	switch (id) {
	case OPT_FROM: return set_range_pos(&o->from, "--from", arg);
	case OPT_TO: return set_range_pos(&o->to, "--to", arg);
	case 'J':
		if (o->mode == ELOG_OUTPUT_FORMAT)
			return elog_cli_usage_error(&program, "--json and -f exclude each other");
		o->mode = ELOG_OUTPUT_JSON;
		return -1;
	case 'f': {
		struct elog_err err;
		if (o->mode == ELOG_OUTPUT_JSON)
			return elog_cli_usage_error(&program, "--json and -f exclude each other");
		if (elog_format_compile(&o->format, arg, &err) < 0)
			return elog_cli_usage_error(&program, "-f: %s", err.msg);
		o->mode = ELOG_OUTPUT_FORMAT;
		return -1;
	}
	case OPT_TO_TOPIC: o->to_topic = arg; return -1;
	case OPT_RESUME_GROUP: o->resume_group = arg; return -1;
	case OPT_RATE: return elog_cli_rate_option(&program, "--rate", arg, &o->rate_per_ms);
	case OPT_COMMIT_INTERVAL:
		return elog_cli_duration_option(&program, "--commit-interval", arg, 1, INT32_MAX / 2,
						"1ms..12d", &o->commit_interval_ms);
	default: return elog_cli_usage_error(&program, NULL);
	}
}

/* What range replay needs on top of the options each parsed alone. */
static int check_range(struct options *o)
{
	struct elog_err err;
	const char *src;

	if (o->how != HOW_NONE || o->execute)
		return elog_cli_usage_error(&program, "--to-earliest, --to-latest, --to-time, "
					    "--to-offset, --shift-by and --execute move a group's "
					    "offsets: they need -g GROUP");
	if (o->target_count == 0)
		return elog_cli_usage_error(&program, "missing the topic to replay (or -g GROUP to "
					    "move a group's offsets)");
	src = o->targets[0].topic;
	for (size_t i = 1; i < o->target_count; i++)
		if (strcmp(o->targets[i].topic, src) != 0)
			return elog_cli_usage_error(&program, "replay one topic at a time ('%s' and "
						    "'%s' named)", src, o->targets[i].topic);
	if (o->from.pos.kind == o->to.pos.kind && o->from.pos.kind != ELOG_POS_EARLIEST &&
	    o->from.pos.value > o->to.pos.value)
		return elog_cli_usage_error(&program, "--from %s is after --to %s", o->from.text,
					    o->to.text);
	if (o->to_topic) {
		if (o->mode != ELOG_OUTPUT_VALUE)
			return elog_cli_usage_error(&program, "--to-topic produces the records: -J "
						    "and -f are for printing them");
		if (elog_topic_name_check(o->to_topic, strlen(o->to_topic), 0, &err) < 0)
			return elog_cli_usage_error(&program, "--to-topic: %s", err.msg);
		if (!o->resume_group) {
			int n = snprintf(o->default_group, sizeof(o->default_group),
					 "elog-replay.%s.%s", src, o->to_topic);
			if (n < 0 || (size_t)n >= sizeof(o->default_group))
				return elog_cli_usage_error(&program, "elog-replay.%s.%s is longer "
							    "than a group name may be: name one "
							    "with --resume-group", src, o->to_topic);
			o->resume_group = o->default_group;
		}
	} else if (o->resume_group || o->commit_interval_ms) {
		return elog_cli_usage_error(&program, "%s needs --to-topic (printed records have "
					    "no position to resume from)",
					    o->resume_group ? "--resume-group" : "--commit-interval");
	}
	if (!o->commit_interval_ms)
		o->commit_interval_ms = COMMIT_INTERVAL_DEFAULT_MS;
	return -1;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	int id, rc;

	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	o->from.pos.kind = ELOG_POS_EARLIEST;
	o->to.pos.kind = ELOG_POS_LATEST;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id == ELOG_CLI_DONE)
			return ELOG_EXIT_OK;
		if (id == ELOG_CLI_BAD)
			return elog_cli_usage_error(&program, NULL);
		if ((rc = parse_option(o, id, g.arg)) >= 0)
			return rc;
	}
	for (int i = g.index; i < argc; i++)
		if ((rc = elog_cli_target_operand(&program, "", argv[i], o->targets,
						  &o->target_count, TARGETS_MAX)) >= 0)
			return rc;
	if (!o->group)
		return check_range(o);
	if (o->range_option)
		return elog_cli_usage_error(&program, "-g moves a group's offsets: %s is for range "
					    "replay (elog-replay TOPIC --from ... --to ...)",
					    o->range_option);
	if (o->how == HOW_NONE)
		return elog_cli_usage_error(&program, "missing the new position: --to-earliest, "
					    "--to-latest, --to-time, --to-offset or --shift-by "
					    "(or --delete)");
	if (o->how == HOW_DELETE && o->target_count)
		return elog_cli_usage_error(&program, "--delete deletes the whole group: no topics");
	return -1;
}

/* ---------------------------------------------------------------- plan */

struct row {
	const char *topic;
	uint32_t partition;
	int64_t old, now;
};

struct plan {
	struct row *rows;
	size_t count, cap;
};

static int plan_add(struct plan *p, const char *topic, uint32_t partition, struct elog_err *err)
{
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct row *grown = realloc(p->rows, cap * sizeof(*grown));
		if (!grown)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		p->rows = grown;
		p->cap = cap;
	}
	p->rows[p->count++] = (struct row){topic, partition, -1, -1};
	return 0;
}

/* The rows of one topic: partition `only` (-1: all of them). */
static int plan_topic(struct elog_client *c, struct plan *p, const char *topic, int32_t only,
		      int named, struct elog_err *err)
{
	const char *names[1] = {topic};
	const struct elog_metadata *md = elog_client_metadata(c, names, 1, err);
	const struct elog_meta_topic *t;

	if (!md)
		return -1;
	t = elog_metadata_topic(md, topic);
	if ((!t || t->error) && !named) {
		/* A deleted topic's commits stay until the group goes. */
		elog_cli_warn("topic '%s' does not exist now: its commits are left as they are",
			      topic);
		return 0;
	}
	if (!t || t->error)
		return elog_err_set(err, ELOG_E_INVAL, "topic '%s': no such topic", topic);
	if (only >= 0) {
		if ((uint32_t)only >= t->partition_count)
			return elog_err_set(err, ELOG_E_INVAL, "topic '%s' has %u partitions, no %d",
					    topic, t->partition_count, only);
		return plan_add(p, topic, (uint32_t)only, err);
	}
	for (uint32_t i = 0; i < t->partition_count; i++)
		if (plan_add(p, topic, i, err) < 0)
			return -1;
	return 0;
}

/* The offsets of rows[0..n) (one topic) for one query (list offsets). */
static int query(struct elog_client *c, const struct row *rows, size_t n, int64_t at,
		 int64_t *out, struct elog_err *err)
{
	uint32_t *parts = malloc(n * sizeof(*parts));
	int64_t *ats = malloc(n * sizeof(*ats));
	int rc = -1;

	if (!parts || !ats) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	} else {
		for (size_t i = 0; i < n; i++) {
			parts[i] = rows[i].partition;
			ats[i] = at;
		}
		rc = elog_client_list_offsets(c, rows[0].topic, parts, ats, out, n, err);
	}
	free(parts);
	free(ats);
	return rc;
}

/* Each row's new offset, from its committed one and the log's bounds. */
static int plan_resolve(struct elog_client *c, const struct options *o, struct plan *p,
			const struct elog_committed_list *have, struct elog_err *err)
{
	int64_t *first = malloc(p->count * sizeof(*first)), *end = malloc(p->count * sizeof(*end));
	int64_t *at = malloc(p->count * sizeof(*at));
	int rc = -1;

	if (!first || !end || !at) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		goto out;
	}
	/* A topic's rows are next to each other: three queries a topic. */
	for (size_t i = 0; i < p->count;) {
		size_t j = i;
		while (j < p->count && strcmp(p->rows[j].topic, p->rows[i].topic) == 0)
			j++;
		if (query(c, p->rows + i, j - i, ELOG_OFFSET_EARLIEST, first + i, err) < 0 ||
		    query(c, p->rows + i, j - i, ELOG_OFFSET_LATEST, end + i, err) < 0 ||
		    (o->how == HOW_TIME && query(c, p->rows + i, j - i, o->value, at + i, err) < 0))
			goto out;
		i = j;
	}
	for (size_t i = 0; i < p->count; i++) {
		struct row *r = &p->rows[i];
		for (size_t k = 0; k < have->count; k++)
			if (have->items[k].partition == r->partition &&
			    strcmp(have->items[k].topic, r->topic) == 0)
				r->old = have->items[k].offset;
		switch (o->how) {
		case HOW_EARLIEST: r->now = first[i]; break;
		case HOW_LATEST: r->now = end[i]; break;
		case HOW_TIME: r->now = at[i]; break;
		case HOW_OFFSET: r->now = o->value; break;
		case HOW_SHIFT:
			/* Any client may commit offsets up to INT64_MAX: saturate. */
			if (__builtin_add_overflow(r->old >= 0 ? r->old : first[i], o->value, &r->now))
				r->now = o->value < 0 ? INT64_MIN : INT64_MAX;
			break;
		case HOW_NONE:
		case HOW_DELETE: break;
		}
		if (r->now < first[i])
			r->now = first[i];
		if (r->now > end[i])
			r->now = end[i];
	}
	rc = 0;
out:
	free(first);
	free(end);
	free(at);
	return rc;
}

/* -g GROUP: print the plan, commit it with --execute. An exit code. */
static int reset_offsets(const struct options *o, struct elog_client *c)
{
	struct elog_committed_list have = {0};
	struct elog_offset_commit *commits = NULL;
	struct plan p = {0};
	struct elog_err err;
	int rc;

	rc = ELOG_EXIT_FAIL;
	if (elog_client_fetch_offsets(c, o->group, NULL, NULL, 0, &have, &err) < 0)
		goto failed;
	if (o->how == HOW_DELETE) {
		uint32_t deleted;
		if (!have.count) {
			elog_cli_error("group '%s' has no committed offsets: nothing to delete", o->group);
			goto done;
		}
		for (size_t i = 0; i < have.count; i++)
			printf("%s\t%u\t%" PRId64 "\t-1\n", have.items[i].topic, have.items[i].partition,
			       have.items[i].offset);
		if (!o->execute) {
			fprintf(stderr, "%s: a plan only: nothing changed (--execute deletes the group)\n",
				elog_cli_prog());
			rc = ELOG_EXIT_OK;
			goto done;
		}
		if (elog_client_delete_group(c, o->group, &deleted, &err) < 0)
			goto failed;
		fprintf(stderr, "%s: group '%s' deleted: %u commit%s\n", elog_cli_prog(), o->group,
			deleted, deleted == 1 ? "" : "s");
		rc = ELOG_EXIT_OK;
		goto done;
	}
	for (size_t i = 0; i < o->target_count; i++)
		if (plan_topic(c, &p, o->targets[i].topic, o->targets[i].partition, 1, &err) < 0)
			goto failed;
	/* No topic named: those the group has commits for. */
	for (size_t i = 0; !o->target_count && i < have.count; i++)
		if ((i == 0 || strcmp(have.items[i - 1].topic, have.items[i].topic) != 0) &&
		    plan_topic(c, &p, have.items[i].topic, -1, 0, &err) < 0)
			goto failed;
	if (!p.count) {
		elog_cli_error("group '%s' has no committed offsets: name the topics to move", o->group);
		goto done;
	}
	if (plan_resolve(c, o, &p, &have, &err) < 0)
		goto failed;
	for (size_t i = 0; i < p.count; i++)
		printf("%s\t%u\t%" PRId64 "\t%" PRId64 "\n", p.rows[i].topic, p.rows[i].partition,
		       p.rows[i].old, p.rows[i].now);
	if (!o->execute) {
		fprintf(stderr, "%s: a plan only: nothing changed (--execute commits it)\n",
			elog_cli_prog());
		rc = ELOG_EXIT_OK;
		goto done;
	}
	if (!(commits = calloc(p.count, sizeof(*commits)))) {
		elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
		goto failed;
	}
	for (size_t i = 0; i < p.count; i++)
		commits[i] = (struct elog_offset_commit){.topic = p.rows[i].topic,
							 .partition = p.rows[i].partition,
							 .offset = p.rows[i].now,
							 .high_watermark = -1};
	if (elog_client_commit_offsets(c, o->group, commits, p.count, &err) < 0)
		goto failed;
	fprintf(stderr, "%s: group '%s': %zu offsets committed\n", elog_cli_prog(), o->group,
		p.count);
	rc = ELOG_EXIT_OK;
	goto done;
failed:
	elog_cli_error_err(&err, "group '%s'", o->group);
done:
	free(commits);
	free(p.rows);
	elog_committed_release(&have);
	return rc;
}

/* ---------------------------------------------------------------- range replay */

/*
 * One source partition. Into a topic, the records sent and not all
 * acknowledged yet form a window in send order (= offset order): a ring of
 * (offset, acknowledged) indexed by the record's sequence number in its
 * partition, the low bits of its producer tag. `acked` is the position
 * before which every record is acknowledged: all that may be committed.
 */
struct spart {
	uint32_t id;
	int64_t from, to;              /* the range, resolved: [from, to) */
	int64_t start;                 /* where this run starts: max(from, the commit) */
	int64_t committed;             /* the group's position; -1: none */
	int64_t acked;
	uint64_t head, next;           /* the window: sequences [head, next) */
	size_t cap;                    /* the ring's size, a power of two (0: none yet) */
	int64_t *offsets;
	uint8_t *done;
	uint64_t records;              /* replayed by this run: printed, or acknowledged */
};

struct replay {
	const struct options *o;
	const char *topic;             /* the source */
	uint32_t src_partitions, dst_partitions;
	struct spart *parts;
	size_t part_count;
	int32_t *index_of;             /* source partition id -> index in parts, or -1 */
	struct elog_client *client;
	struct elog_fetcher *fetcher;
	struct elog_producer *producer;
	struct elog_offset_commit *commits;
	struct elog_buf out;           /* to stdout */
	int stdout_closed;
	struct elog_cli_rate rate;     /* --rate's bucket */
	int64_t last_commit_ms;
	size_t fetching;               /* partitions added to the fetcher (non-empty ranges) */
	int dropped;                   /* a record fetched was not handed on (stopped) */
	int failed;                    /* a delivery failed for good: stop */
	char first_error[ELOG_ERR_MSG_MAX];
	struct elog_copy_headers headers;   /* of the record being sent */
};

/* Every partition's range is fetched to its end and handed on. */
static int fetch_done(const struct replay *r)
{
	return !r->dropped && (r->fetching == 0 || elog_fetcher_done(r->fetcher));
}

/*
 * SIGINT/SIGTERM: the loop stops, what was sent is acknowledged (the
 * producer flushed) and committed, and the exit status says the replay is
 * incomplete (1). A second signal stops waiting for acknowledgements.
 * Before the loop (connecting, resolving the range) nothing was sent: the
 * handler ends the process itself (elog_cli_stop_signals).
 */

/* ------------------------------------------------------------ the window */

static int window_push(struct spart *sp, int64_t offset, uint64_t *seq, struct elog_err *err)
{
	if (sp->next - sp->head == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 1024;
		int64_t *offsets = malloc(cap * sizeof(*offsets));
		uint8_t *done = malloc(cap);
		if (!offsets || !done) {
			free(offsets);
			free(done);
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		}
		for (uint64_t s = sp->head; s < sp->next; s++) {
			offsets[s & (cap - 1)] = sp->offsets[s & (sp->cap - 1)];
			done[s & (cap - 1)] = sp->done[s & (sp->cap - 1)];
		}
		free(sp->offsets);
		free(sp->done);
		sp->offsets = offsets;
		sp->done = done;
		sp->cap = cap;
	}
	*seq = sp->next++;
	sp->offsets[*seq & (sp->cap - 1)] = offset;
	sp->done[*seq & (sp->cap - 1)] = 0;
	return 0;
}

/* Acknowledged records at the window's head move `acked` on. */
static void window_advance(struct spart *sp)
{
	while (sp->head < sp->next && sp->done[sp->head & (sp->cap - 1)]) {
		sp->acked = sp->offsets[sp->head & (sp->cap - 1)] + 1;
		sp->head++;
	}
}

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct replay *r = ctx;

	for (uint32_t i = 0; i < d->record_count; i++) {
		struct spart *sp = &r->parts[d->tags[i] >> TAG_SEQ_BITS];
		if (d->error)
			continue;   /* never done: the window stops before it */
		sp->done[(d->tags[i] & TAG_SEQ_MASK) & (sp->cap - 1)] = 1;
		sp->records++;
		window_advance(sp);
	}
	if (d->error && !r->failed) {
		r->failed = 1;
		snprintf(r->first_error, sizeof(r->first_error), "%s",
			 d->message && d->message[0] ? d->message : "delivery failed");
	}
}

/*
 * Commit each partition's acknowledged position that moved, when
 * --commit-interval has passed since the last commit or `force`.
 */
static int maybe_commit(struct replay *r, int force, struct elog_err *err)
{
	int64_t now = elog_clock_ms();
	size_t n = 0;

	if (!r->producer || (!force && now - r->last_commit_ms < r->o->commit_interval_ms))
		return 0;
	r->last_commit_ms = now;
	for (size_t i = 0; i < r->part_count; i++) {
		const struct spart *sp = &r->parts[i];
		if (sp->acked <= sp->committed)
			continue;
		r->commits[n++] = (struct elog_offset_commit){
			.topic = r->topic, .partition = sp->id, .offset = sp->acked,
			.high_watermark = r->fetcher ? elog_fetcher_high_watermark(r->fetcher, r->topic,
										    sp->id) : -1,
		};
	}
	if (n == 0)
		return 0;
	if (elog_client_commit_offsets(r->client, r->o->resume_group, r->commits, n, err) < 0)
		return elog_err_prefix(err, "commit the position in group '%s'", r->o->resume_group);
	for (size_t i = 0, k = 0; i < r->part_count && k < n; i++)
		if (r->parts[i].id == r->commits[k].partition)
			r->parts[i].committed = r->commits[k++].offset;
	return 0;
}

/* ------------------------------------------------------------ output */

/* Write the buffered output to stdout; a reader gone (EPIPE) is no error. */
static int flush_out(struct replay *r, struct elog_err *err)
{
	size_t done = 0;

	while (done < r->out.len && !r->stdout_closed) {
		ssize_t n = write(STDOUT_FILENO, r->out.data + done, r->out.len - done);
		if (n >= 0)
			done += (size_t)n;
		else if (errno == EPIPE)
			r->stdout_closed = 1;
		else if (errno != EINTR)
			return elog_err_errno(err, ELOG_E_IO, errno, "cannot write to stdout");
		else if (elog_cli_stops >= 2)
			break;
	}
	elog_buf_reset(&r->out);
	return 0;
}

static int print_record(struct replay *r, const struct elog_fetched *rec, struct elog_err *err)
{
	size_t topic_len = strlen(rec->topic);

	if (elog_output_render(r->o->mode, &r->o->format, &r->out, rec->topic, topic_len,
			       rec->partition, rec->record, err) < 0) {
		/* Full: write out what it holds, then render again. */
		if (err->code != ELOG_E_LIMIT || r->out.len == 0)
			goto fail;
		if (flush_out(r, err) < 0)
			return -1;
		if (elog_output_render(r->o->mode, &r->o->format, &r->out, rec->topic, topic_len,
				       rec->partition, rec->record, err) < 0)
			goto fail;
	}
	if (r->out.len >= OUT_FLUSH_BYTES)
		return flush_out(r, err);
	return 0;
fail:
	return elog_err_prefix(err, "'%s' partition %" PRIu32 " offset %" PRId64 ": cannot print",
			       rec->topic, rec->partition, rec->record->offset);
}

/* The destination partition: the same number when the destination has as
 * many partitions as the source, else by key (as any producer places a
 * keyed record), a keyless record by its source partition. */
static int32_t destination(const struct replay *r, const struct elog_record_view *v,
			   uint32_t partition)
{
	if (r->dst_partitions >= r->src_partitions)
		return (int32_t)partition;
	if (v->key && v->key_len >= 0)
		return (int32_t)elog_partition_for_key(v->key, (size_t)v->key_len, r->dst_partitions);
	return (int32_t)(partition % r->dst_partitions);
}

static int produce_record(struct replay *r, const struct elog_fetched *rec, struct elog_err *err)
{
	const struct elog_record_view *v = rec->record;
	struct spart *sp = &r->parts[r->index_of[rec->partition]];
	struct elog_copy_headers *h = &r->headers;
	uint64_t seq = 0;

	/* A replay of a replay names its own source: earlier elog.replay.* go. */
	if (elog_copy_headers(h, v, "elog.replay.", 0, rec->topic, rec->partition, err) < 0)
		return elog_err_prefix(err, "'%s' partition %" PRIu32 " offset %" PRId64,
				       rec->topic, rec->partition, v->offset);
	if (window_push(sp, v->offset, &seq, err) < 0)
		return -1;
	struct elog_record out = {
		.timestamp_ms = v->timestamp_ms, .key = v->key, .key_len = v->key_len,
		.value = v->value, .value_len = v->value_len, .headers = h->items,
		.header_count = h->count,
	};
	if (elog_producer_send(r->producer, &out, destination(r, v, rec->partition),
			       ((uint64_t)r->index_of[rec->partition] << TAG_SEQ_BITS) | seq, err) < 0) {
		sp->next--;   /* not queued: out of the window */
		return elog_err_prefix(err, "'%s' partition %" PRIu32 " offset %" PRId64, rec->topic,
				       rec->partition, v->offset);
	}
	return 0;
}

/* ------------------------------------------------------------ the loop */

/* Nothing to hand on for up to ms: drive the producer, or write out. */
static int idle_wait(struct replay *r, int ms, struct elog_err *err)
{
	if (r->producer)
		return elog_producer_poll(r->producer, ms, err);
	if (flush_out(r, err) < 0)
		return -1;
	if (ms > 0)
		poll(NULL, 0, ms);
	return 0;
}

/* --rate: wait until a record may go (or a signal), committing meanwhile. */
static int throttle(struct replay *r, struct elog_err *err)
{
	int wait;

	while ((wait = elog_cli_rate_take(&r->rate, elog_clock_ms())) > 0) {
		if (elog_cli_stops || r->failed)
			return 0;
		if (idle_wait(r, wait > WAIT_SLICE_MS ? WAIT_SLICE_MS : wait, err) < 0 ||
		    maybe_commit(r, 0, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Hand each record of the range on until every partition reached its end
 * (0), a signal, a failed delivery or a closed stdout (0 as well: the
 * caller looks at which), or a failure (-1).
 */
static int replay_loop(struct replay *r, struct elog_err *err)
{
	struct elog_fetched rec;
	int wait = 0, rc;

	elog_cli_setup = 0;
	while (!elog_cli_stops && !r->failed && !r->stdout_closed && !fetch_done(r)) {
		if (maybe_commit(r, 0, err) < 0)
			return -1;
		rc = elog_fetcher_next(r->fetcher, &rec, wait, err);
		if (rc < 0)
			return elog_cli_stops ? 0 : -1;   /* interrupted mid-wait: no failure */
		if (rc == 0) {
			if (fetch_done(r))
				return 0;
			if (idle_wait(r, 0, err) < 0)
				return -1;
			wait = WAIT_SLICE_MS;
			if (r->producer) {
				int due = elog_producer_timeout_ms(r->producer);
				if (due >= 0 && due < wait)
					wait = due;
			}
			continue;
		}
		wait = 0;
		if (rc != 1)
			continue;
		if (throttle(r, err) < 0)
			return -1;
		if (elog_cli_stops || r->failed) {
			r->dropped = 1;   /* not handed on: the position is before it */
			break;
		}
		if (r->producer) {
			if (produce_record(r, &rec, err) < 0)
				return -1;
		} else {
			if (print_record(r, &rec, err) < 0)
				return -1;
			r->parts[r->index_of[rec.partition]].records++;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ setup */

/* offsets[i] for each partition at ts (one list offsets call). */
static int list_all(struct replay *r, const uint32_t *ids, int64_t ts, int64_t *offsets,
		    struct elog_err *err)
{
	int64_t *tss = malloc(r->part_count * sizeof(*tss));
	int rc;

	if (!tss)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	for (size_t i = 0; i < r->part_count; i++)
		tss[i] = ts;
	rc = elog_client_list_offsets(r->client, r->topic, ids, tss, offsets, r->part_count, err);
	free(tss);
	return rc;
}

/* A --from / --to position at ts: a time before the epoch is before every record. */
static int64_t list_ts(const struct range_pos *p)
{
	return p->pos.value < 0 ? ELOG_OFFSET_EARLIEST : p->pos.value;
}

/*
 * Each partition's range, kept inside its records as they are now: from
 * its log start at the earliest (older records are gone), to its high
 * watermark at the latest (a replay never waits for new records).
 */
static int resolve_ranges(struct replay *r, struct elog_err *err)
{
	size_t n = r->part_count;
	uint32_t *ids = malloc(n * sizeof(*ids));
	int64_t *first = malloc(n * sizeof(*first)), *end = malloc(n * sizeof(*end));
	int64_t *at_from = malloc(n * sizeof(*at_from)), *at_to = malloc(n * sizeof(*at_to));
	const struct range_pos *from = &r->o->from, *to = &r->o->to;
	int rc = -1;

	if (!ids || !first || !end || !at_from || !at_to) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = r->parts[i].id;
	if (list_all(r, ids, ELOG_OFFSET_EARLIEST, first, err) < 0 ||
	    list_all(r, ids, ELOG_OFFSET_LATEST, end, err) < 0 ||
	    (from->pos.kind == ELOG_POS_TIMESTAMP && list_all(r, ids, list_ts(from), at_from, err) < 0) ||
	    (to->pos.kind == ELOG_POS_TIMESTAMP && list_all(r, ids, list_ts(to), at_to, err) < 0))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct spart *sp = &r->parts[i];
		sp->from = from->pos.kind == ELOG_POS_OFFSET ? from->pos.value :
			   from->pos.kind == ELOG_POS_TIMESTAMP ? at_from[i] : first[i];
		sp->to = to->pos.kind == ELOG_POS_OFFSET ? to->pos.value :
			 to->pos.kind == ELOG_POS_TIMESTAMP ? at_to[i] : end[i];
		if (sp->from < first[i]) {
			if (from->pos.kind == ELOG_POS_OFFSET)
				elog_cli_warn("'%s' partition %" PRIu32 ": no offset %" PRId64 " (the log "
					      "starts at %" PRId64 "): replaying from there", r->topic,
					      sp->id, sp->from, first[i]);
			sp->from = first[i];
		}
		if (sp->to > end[i])
			sp->to = end[i];
		if (sp->from > sp->to)
			sp->from = sp->to;
	}
	rc = 0;
out:
	free(ids);
	free(first);
	free(end);
	free(at_from);
	free(at_to);
	return rc;
}

/* Into a topic: start each partition at max(from, the group's commit). */
static int resume(struct replay *r, struct elog_err *err)
{
	struct elog_committed_list have = {0};
	uint32_t *ids = malloc(r->part_count * sizeof(*ids));
	uint64_t skipped = 0;
	int rc = 0;

	if (!ids)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	for (size_t i = 0; i < r->part_count; i++)
		ids[i] = r->parts[i].id;
	if (r->producer)
		rc = elog_client_fetch_offsets(r->client, r->o->resume_group, r->topic, ids,
					       r->part_count, &have, err);
	free(ids);
	if (rc < 0)
		return elog_err_prefix(err, "read the position in group '%s'", r->o->resume_group);
	for (size_t i = 0; i < r->part_count; i++) {
		struct spart *sp = &r->parts[i];
		sp->start = sp->from;
		sp->committed = -1;
		for (size_t k = 0; k < have.count; k++)
			if (have.items[k].partition == sp->id && strcmp(have.items[k].topic, r->topic) == 0)
				sp->committed = have.items[k].offset;
		if (sp->committed > sp->start)
			sp->start = sp->committed < sp->to ? sp->committed : sp->to;
		skipped += (uint64_t)(sp->start - sp->from);
		sp->acked = sp->start;
	}
	elog_committed_release(&have);
	if (skipped)
		fprintf(stderr, "%s: resuming: group '%s' has the first %" PRIu64 " offsets of the "
			"range replayed already\n", elog_cli_prog(), r->o->resume_group, skipped);
	return 0;
}

/* The source partitions the operands name (all of them for a bare topic). */
static int select_partitions(struct replay *r, struct elog_err *err)
{
	const char *names[1] = {r->topic};
	const struct elog_metadata *md = elog_client_metadata(r->client, names, 1, err);
	const struct elog_meta_topic *t;
	const struct options *o = r->o;

	if (!md)
		return -1;
	t = elog_metadata_topic(md, r->topic);
	if (!t || t->error)
		return elog_err_set(err, ELOG_E_INVAL, "topic '%s': no such topic", r->topic);
	r->src_partitions = t->partition_count;
	r->parts = calloc(t->partition_count ? t->partition_count : 1, sizeof(*r->parts));
	r->index_of = malloc((t->partition_count ? t->partition_count : 1) * sizeof(*r->index_of));
	r->commits = calloc(t->partition_count ? t->partition_count : 1, sizeof(*r->commits));
	if (!r->parts || !r->index_of || !r->commits)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	for (uint32_t i = 0; i < t->partition_count; i++)
		r->index_of[i] = -1;
	for (size_t k = 0; k < o->target_count; k++) {
		int32_t p = o->targets[k].partition;
		if (p >= 0 && (uint32_t)p >= t->partition_count)
			return elog_err_set(err, ELOG_E_INVAL, "topic '%s' has %u partitions, no %d",
					    r->topic, t->partition_count, p);
		for (uint32_t i = 0; i < t->partition_count; i++)
			if ((p < 0 || (uint32_t)p == i) && r->index_of[i] < 0) {
				r->index_of[i] = (int32_t)r->part_count;
				r->parts[r->part_count++].id = i;
			}
	}
	return 0;
}

static int open_producer(struct replay *r, struct elog_err *err)
{
	struct elog_producer_config pc;

	/* (the destination's broker may still refuse a record the source holds) */
	elog_copy_producer_config(&pc, (uint32_t)r->o->timeout_ms);
	pc.on_delivery = on_delivery;
	pc.ctx = r;
	if (!(r->producer = elog_producer_new(r->client, r->o->to_topic, &pc, err)))
		return -1;
	r->dst_partitions = elog_producer_partition_count(r->producer);
	if (r->dst_partitions == 0)
		return elog_err_set(err, ELOG_E_INVAL, "produce to '%s': no such topic",
				    r->o->to_topic);
	return 0;
}

static int open_fetcher(struct replay *r, struct elog_err *err)
{
	struct elog_fetcher_config fc;

	elog_fetcher_config_init(&fc);
	fc.retry_timeout_ms = (uint32_t)r->o->timeout_ms;
	if (!(r->fetcher = elog_fetcher_new(r->client, &fc, err)))
		return -1;
	for (size_t i = 0; i < r->part_count; i++) {
		const struct spart *sp = &r->parts[i];
		struct elog_pos start = {ELOG_POS_OFFSET, sp->start}, end = {ELOG_POS_OFFSET, sp->to};
		if (sp->start >= sp->to)
			continue;
		if (elog_fetcher_add(r->fetcher, r->topic, (int32_t)sp->id, &start, &end, err) < 0)
			return -1;
		r->fetching++;
	}
	return 0;
}


static uint64_t replayed(const struct replay *r)
{
	uint64_t n = 0;

	for (size_t i = 0; i < r->part_count; i++)
		n += r->parts[i].records;
	return n;
}

/*
 * After the loop: into a topic, wait for every record sent to be
 * acknowledged (unless a second signal says not to) and commit; on stdout,
 * write out. An exit code; the loop's failure (loop_rc -1, err) is said
 * first.
 */
static int finish(struct replay *r, int loop_rc, struct elog_err *err)
{
	struct elog_err e;
	int complete = loop_rc == 0 && !r->failed && !r->stdout_closed && fetch_done(r);
	int rc = ELOG_EXIT_OK;

	if (loop_rc < 0) {
		elog_cli_error_err(err, NULL);
		rc = ELOG_EXIT_FAIL;
	}
	if (!r->producer) {
		if (flush_out(r, &e) < 0) {
			if (rc == ELOG_EXIT_OK)
				elog_cli_error_err(&e, NULL);
			return ELOG_EXIT_FAIL;
		}
		if (rc == ELOG_EXIT_OK && elog_cli_stops && !complete && !r->stdout_closed) {
			elog_cli_error("interrupted before reaching the end");
			rc = ELOG_EXIT_FAIL;
		}
		return rc;
	}
	if (elog_cli_stops < 2 && elog_producer_flush(r->producer, (int)r->o->timeout_ms, &e) < 0) {
		if (rc == ELOG_EXIT_OK)
			elog_cli_error_err(&e, NULL);
		rc = ELOG_EXIT_FAIL;
		complete = 0;
	}
	if (r->failed) {
		if (rc == ELOG_EXIT_OK)
			elog_cli_error("%s", r->first_error);
		rc = ELOG_EXIT_FAIL;
		complete = 0;
	}
	/* Done: the end of each range is committed, even past records it lacks. */
	for (size_t i = 0; complete && i < r->part_count; i++)
		if (r->parts[i].acked < r->parts[i].to)
			r->parts[i].acked = r->parts[i].to;
	if (maybe_commit(r, 1, &e) < 0) {
		if (rc == ELOG_EXIT_OK)
			elog_cli_error_err(&e, NULL);
		return ELOG_EXIT_FAIL;
	}
	if (rc != ELOG_EXIT_OK)
		return rc;
	if (!complete) {
		elog_cli_error("interrupted: %" PRIu64 " records replayed into '%s', the position "
			       "committed in group '%s': run the same command again to resume",
			       replayed(r), r->o->to_topic, r->o->resume_group);
		return ELOG_EXIT_FAIL;
	}
	fprintf(stderr, "%s: '%s' into '%s': %" PRIu64 " records replayed; group '%s' is at the "
		"end of the range\n", elog_cli_prog(), r->topic, r->o->to_topic, replayed(r),
		r->o->resume_group);
	return ELOG_EXIT_OK;
}

static int range_replay(const struct options *o, struct elog_client *c)
{
	static struct replay r;
	struct elog_err err;
	int rc = ELOG_EXIT_FAIL, loop_rc;

	r.o = o;
	r.topic = o->targets[0].topic;
	r.client = c;
	elog_cli_rate_init(&r.rate, o->rate_per_ms, elog_clock_ms());
	r.last_commit_ms = elog_clock_ms();
	elog_buf_init(&r.out, OUT_BYTES_MAX);
	if (select_partitions(&r, &err) < 0 || resolve_ranges(&r, &err) < 0 ||
	    (o->to_topic && open_producer(&r, &err) < 0) || resume(&r, &err) < 0 ||
	    open_fetcher(&r, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		goto out;
	}
	loop_rc = replay_loop(&r, &err);
	rc = finish(&r, loop_rc, &err);
out:
	if (r.fetcher)
		elog_fetcher_free(r.fetcher);
	if (r.producer)
		elog_producer_free(r.producer);
	for (size_t i = 0; i < r.part_count; i++) {
		free(r.parts[i].offsets);
		free(r.parts[i].done);
	}
	free(r.parts);
	free(r.index_of);
	free(r.commits);
	elog_buf_release(&r.out);
	return rc;
}

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
	if (o.group) {
		rc = reset_offsets(&o, c);
	} else {
		elog_cli_stop_signals(ELOG_EXIT_FAIL, "interrupted before replaying anything");
		rc = range_replay(&o, c);
	}
	elog_client_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		rc = ELOG_EXIT_FAIL;
	}
	return rc;
}
