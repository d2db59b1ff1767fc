/*
 * elog-replay — move a consumer group's committed offsets (Kafka's
 * --reset-offsets done carefully); see elog-replay(1) and docs/groups.md.
 *
 *   elog-replay -g GROUP (--to-earliest | --to-latest | --to-time T |
 *               --to-offset N | --shift-by N) [--execute] [TOPIC[:P,...]]...
 *
 * Prints the plan, one line per partition (TSV: topic, partition, the
 * committed offset or -1, the new offset), and changes nothing unless
 * --execute, which commits the new offsets (a standalone commit) and says
 * so on stderr. New offsets are kept inside [log start, high watermark]:
 * a reset never points a group at offsets that do not exist. Without a
 * TOPIC, the topics the group has commits for. Range replay of records
 * (elog-replay TOPIC --from --to) is not built yet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#define TIMEOUT_DEFAULT_MS 30000
#define TARGETS_MAX 1024

enum {
	OPT_TO_EARLIEST = 256,
	OPT_TO_LATEST,
	OPT_TO_TIME,
	OPT_TO_OFFSET,
	OPT_SHIFT_BY,
	OPT_EXECUTE,
	OPT_TIMEOUT,
	OPT_VERSION,
};

enum how { HOW_NONE, HOW_EARLIEST, HOW_LATEST, HOW_TIME, HOW_OFFSET, HOW_SHIFT };

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'g', "group", "GROUP", "the consumer group whose offsets move"},
	{OPT_TO_EARLIEST, "to-earliest", NULL, "to each partition's log start"},
	{OPT_TO_LATEST, "to-latest", NULL, "to each partition's high watermark"},
	{OPT_TO_TIME, "to-time", "TIME", "to the first record at or after TIME (RFC 3339 or epoch ms)"},
	{OPT_TO_OFFSET, "to-offset", "N", "to offset N"},
	{OPT_SHIFT_BY, "shift-by", "N", "the committed offset plus N (negative: back)"},
	{OPT_EXECUTE, "execute", NULL, "commit the plan (without it nothing changes)"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 30s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "-g group (--to-earliest | --to-latest | --to-time time | --to-offset n |\n"
		    "                   --shift-by n) [--execute] [-b brokers] [topic[:partition,...]] ...",
	.summary = "Move a consumer group's committed offsets: print the plan, commit it with "
		   "--execute.",
	.options = options,
};

struct options {
	const char *brokers, *group;
	enum how how;
	int64_t value;              /* time, offset or shift */
	int execute;
	int64_t timeout_ms;
	struct elog_cli_target targets[TARGETS_MAX];
	size_t target_count;
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

static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	int id, rc = -1;

	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while (rc < 0 && (id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		switch (id) {
		case ELOG_CLI_DONE: return ELOG_EXIT_OK;
		case ELOG_CLI_BAD: return elog_cli_usage_error(&program, NULL);
		case 'b': o->brokers = g.arg; break;
		case 'g': o->group = g.arg; break;
		case OPT_TO_EARLIEST: rc = set_how(o, HOW_EARLIEST, NULL); break;
		case OPT_TO_LATEST: rc = set_how(o, HOW_LATEST, NULL); break;
		case OPT_TO_TIME: rc = set_how(o, HOW_TIME, g.arg); break;
		case OPT_TO_OFFSET: rc = set_how(o, HOW_OFFSET, g.arg); break;
		case OPT_SHIFT_BY: rc = set_how(o, HOW_SHIFT, g.arg); break;
		case OPT_EXECUTE: o->execute = 1; break;
		case OPT_TIMEOUT:
			rc = elog_cli_duration_option(&program, "--timeout", g.arg, 1, INT32_MAX / 2,
						      "1ms..12d", &o->timeout_ms);
			break;
		default: return elog_cli_usage_error(&program, NULL);
		}
	}
	if (rc >= 0)
		return rc;
	if (!o->group)
		return elog_cli_usage_error(&program, "missing -g GROUP (range replay of records "
					    "is not built yet)");
	if (o->how == HOW_NONE)
		return elog_cli_usage_error(&program, "missing the new position: --to-earliest, "
					    "--to-latest, --to-time, --to-offset or --shift-by");
	for (int i = g.index; i < argc; i++)
		if ((rc = elog_cli_target_operand(&program, "", argv[i], o->targets,
						  &o->target_count, TARGETS_MAX)) >= 0)
			return rc;
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
		case HOW_NONE: break;
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

int main(int argc, char **argv)
{
	static struct options o;
	struct elog_client_config cc;
	struct elog_committed_list have = {0};
	struct elog_offset_commit *commits = NULL;
	struct plan p = {0};
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
	rc = ELOG_EXIT_FAIL;
	if (elog_client_fetch_offsets(c, o.group, NULL, NULL, 0, &have, &err) < 0)
		goto failed;
	for (size_t i = 0; i < o.target_count; i++)
		if (plan_topic(c, &p, o.targets[i].topic, o.targets[i].partition, 1, &err) < 0)
			goto failed;
	/* No topic named: those the group has commits for. */
	for (size_t i = 0; !o.target_count && i < have.count; i++)
		if ((i == 0 || strcmp(have.items[i - 1].topic, have.items[i].topic) != 0) &&
		    plan_topic(c, &p, have.items[i].topic, -1, 0, &err) < 0)
			goto failed;
	if (!p.count) {
		elog_cli_error("group '%s' has no committed offsets: name the topics to move", o.group);
		goto done;
	}
	if (plan_resolve(c, &o, &p, &have, &err) < 0)
		goto failed;
	for (size_t i = 0; i < p.count; i++)
		printf("%s\t%u\t%" PRId64 "\t%" PRId64 "\n", p.rows[i].topic, p.rows[i].partition,
		       p.rows[i].old, p.rows[i].now);
	if (!o.execute) {
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
	if (elog_client_commit_offsets(c, o.group, commits, p.count, &err) < 0)
		goto failed;
	fprintf(stderr, "%s: group '%s': %zu offsets committed\n", elog_cli_prog(), o.group,
		p.count);
	rc = ELOG_EXIT_OK;
	goto done;
failed:
	elog_cli_error_err(&err, "group '%s'", o.group);
done:
	free(commits);
	free(p.rows);
	elog_committed_release(&have);
	elog_client_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		rc = ELOG_EXIT_FAIL;
	}
	return rc;
}
