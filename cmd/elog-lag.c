/*
 * elog-lag — how far consumer groups are behind, and whether they keep up;
 * see elog-lag(1).
 *
 * Per group, topic and partition: the committed offset, the high watermark,
 * the lag in records, the time lag (the age of the oldest unconsumed record,
 * read from its own timestamp: exact, no interpolation) and a status judged
 * from the commits before the newest (the window each commit carries,
 * docs/groups.md), Burrow's statuses without its false alarms:
 *
 *   OK      keeping up, or at the end of the log (an idle topic is OK)
 *   WARN    the lag grew at every commit of the window
 *   STALL   committing the same offset, again and again, with lag
 *   STOP    no commit for longer than the window spans (at least
 *           --stop-after), with lag
 *   REWIND  an offset moved backwards within the window
 *
 * Output: an aligned table on a terminal, TSV lines otherwise, --json, or
 * --prometheus (the text exposition format, for node_exporter's textfile
 * collector). Exit: 0 ok, 1 warning, 2 critical, 3 unknown (the Nagios
 * convention, a bad command line included; elog-lag(1) says which status
 * and threshold is which).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "json.h"

#define TIMEOUT_DEFAULT_MS 10000
#define GROUPS_MAX 256
#define TOPICS_MAX 256
#define STOP_AFTER_DEFAULT_MS (5 * 60 * 1000)

enum { EXIT_WARN = 1, EXIT_CRIT = 2, EXIT_UNKNOWN = 3 };

enum status { ST_OK, ST_WARN, ST_STALL, ST_STOP, ST_REWIND };
static const char *const status_names[] = {"OK", "WARN", "STALL", "STOP", "REWIND"};

enum {
	OPT_JSON = 256,
	OPT_PROMETHEUS,
	OPT_WARN,
	OPT_CRIT,
	OPT_STOP_AFTER,
	OPT_TIMEOUT,
	OPT_MEMBERS,
	OPT_VERSION,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'g', "group", "GROUP", "a consumer group (repeatable; default: every group)"},
	{'t', "topic", "TOPIC", "only these topics (repeatable)"},
	{OPT_JSON, "json", NULL, "print JSON"},
	{OPT_PROMETHEUS, "prometheus", NULL, "print the Prometheus text exposition format"},
	{OPT_WARN, "warn", "LIMIT", "exit 1 past LIMIT: records (N) or time lag (5m)"},
	{OPT_CRIT, "crit", "LIMIT", "exit 2 past LIMIT: records (N) or time lag (1h)"},
	{OPT_STOP_AFTER, "stop-after", "DURATION",
	 "STOP needs at least this long without a commit (default 5m)"},
	{OPT_MEMBERS, "members", NULL, "list each group's members and what they own instead"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on the brokers after this (default 10s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-g group ...] [-t topic ...] [--json | --prometheus] [--warn limit] "
		    "[--crit limit]\n"
		    "                [--stop-after duration] [--members] [-b brokers]",
	.summary = "Show how far consumer groups are behind, and whether they keep up.",
	.options = options,
};

struct limit {
	int set;
	int64_t records;            /* -1: not a record limit */
	int64_t ms;                 /* -1: not a time limit */
};

struct options {
	const char *brokers;
	const char *groups[GROUPS_MAX];
	size_t group_count;
	const char *topics[TOPICS_MAX];
	size_t topic_count;
	int json, prometheus, members;
	struct limit warn, crit;
	int64_t stop_after_ms, timeout_ms;
};

static int parse_limit(const char *name, const char *arg, struct limit *l)
{
	struct elog_err err;
	uint64_t n;

	l->set = 1;
	l->records = l->ms = -1;
	if (elog_cli_parse_u64(arg, 0, INT64_MAX, &n, &err) == 0) {
		l->records = (int64_t)n;
		return -1;
	}
	if (elog_cli_parse_duration_ms(arg, &l->ms, &err) == 0)
		return -1;
	return elog_cli_usage_error(&program, "%s: expected records (1000) or a time lag (5m): %s",
				    name, arg);
}

static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	int id, rc = -1;

	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	o->stop_after_ms = STOP_AFTER_DEFAULT_MS;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while (rc < 0 && (id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		switch (id) {
		case ELOG_CLI_DONE: return ELOG_EXIT_OK;
		case ELOG_CLI_BAD: return elog_cli_usage_error(&program, NULL);
		case 'b': o->brokers = g.arg; break;
		case 'g':
			if (o->group_count == GROUPS_MAX)
				return elog_cli_usage_error(&program, "more than %d groups", GROUPS_MAX);
			if (!g.arg[0] || strlen(g.arg) > 255)
				return elog_cli_usage_error(&program, "-g: a group name is 1 to 255 bytes");
			o->groups[o->group_count++] = g.arg;
			break;
		case 't':
			if (o->topic_count == TOPICS_MAX)
				return elog_cli_usage_error(&program, "more than %d topics", TOPICS_MAX);
			o->topics[o->topic_count++] = g.arg;
			break;
		case OPT_JSON: o->json = 1; break;
		case OPT_PROMETHEUS: o->prometheus = 1; break;
		case OPT_MEMBERS: o->members = 1; break;
		case OPT_WARN: rc = parse_limit("--warn", g.arg, &o->warn); break;
		case OPT_CRIT: rc = parse_limit("--crit", g.arg, &o->crit); break;
		case OPT_STOP_AFTER:
			rc = elog_cli_duration_option(&program, "--stop-after", g.arg, 1, INT64_MAX / 4,
						      "1ms or more", &o->stop_after_ms);
			break;
		case OPT_TIMEOUT:
			rc = elog_cli_duration_option(&program, "--timeout", g.arg, 1, INT32_MAX / 2,
						      "1ms..12d", &o->timeout_ms);
			break;
		default:
			return elog_cli_usage_error(&program, NULL);
		}
	}
	if (rc >= 0)
		return rc;
	if (o->json && o->prometheus)
		return elog_cli_usage_error(&program, "--json and --prometheus: give one");
	if (o->members && (o->prometheus || o->warn.set || o->crit.set || o->topic_count))
		return elog_cli_usage_error(&program, "--members lists members: no --prometheus, "
					    "--warn, --crit or -t");
	if (g.index < argc)
		return elog_cli_usage_error(&program, "unexpected operand '%s'", argv[g.index]);
	return -1;
}

/* ---------------------------------------------------------------- rows */

struct row {
	const char *group;
	const struct elog_committed *c;
	int64_t high_watermark;     /* now */
	int64_t lag;                /* records */
	int64_t time_lag_ms;        /* -1: unknown */
	int pass;                   /* time_lags' pass that asked for its record; 0: none */
	enum status status;
};

/*
 * The status of one partition from its commits, newest first: sample 0 the
 * newest commit, then its window. A lag at a commit is the high watermark
 * the consumer saw then minus the offset it committed (unknown when it did
 * not say).
 */
static enum status judge(const struct row *r, int64_t now, int64_t stop_after_ms)
{
	const struct elog_committed *c = r->c;
	int64_t off[1 + ELOG_COMMIT_WINDOW_MAX], at[1 + ELOG_COMMIT_WINDOW_MAX];
	int64_t hw[1 + ELOG_COMMIT_WINDOW_MAX];
	uint32_t n = 1 + c->window_count, grow = 0, known = 0;
	int64_t span;

	off[0] = c->offset, at[0] = c->commit_time_ms, hw[0] = c->high_watermark;
	for (uint32_t i = 0; i < c->window_count; i++) {
		off[i + 1] = c->window[i][0];
		at[i + 1] = c->window[i][1];
		hw[i + 1] = c->window[i][2];
	}
	for (uint32_t i = 0; i + 1 < n; i++)
		if (off[i] < off[i + 1])
			return ST_REWIND;
	/* At the end of the log: nothing to consume, however old the commit. */
	if (r->lag <= 0)
		return ST_OK;
	span = n > 1 ? at[0] - at[n - 1] : 0;
	if (span < stop_after_ms)
		span = stop_after_ms;
	/* No commit for that long, and records waiting that long: a consumer
	 * that commits only when it reads, idle until a burst came a moment
	 * ago, is not stopped. */
	if (now - at[0] > span && (r->time_lag_ms < 0 || r->time_lag_ms > span))
		return ST_STOP;
	/* A commit of the window that saw no lag: it was keeping up (Burrow's
	 * first rule); what it has not read yet came since. */
	for (uint32_t i = 0; i < n; i++)
		if (hw[i] >= 0 && hw[i] <= off[i])
			return ST_OK;
	if (n >= 2 && off[n - 1] == off[0])
		return ST_STALL;
	for (uint32_t i = 0; i + 1 < n; i++) {
		if (hw[i] < 0 || hw[i + 1] < 0)
			continue;
		known++;
		grow += hw[i] - off[i] > hw[i + 1] - off[i + 1];
	}
	if (known >= 2 && grow == known)
		return ST_WARN;
	return ST_OK;
}

/*
 * One pass of time_lags: a fetcher reading the first unconsumed record of
 * each partition once (the first row of it still unknown; rows of other
 * groups at the same offset share the read). 1 when rows remain for
 * another pass (another group's offset in a partition read here).
 */
static int time_lag_pass(struct elog_client *c, struct row *rows, size_t n, int64_t now,
			 int pass, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	size_t want = 0;
	int rc = 0;

	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 100;
	fc.partition_max_bytes = 1024;
	fc.out_of_range = ELOG_OUT_OF_RANGE_EARLIEST;
	fc.report_caught_up = 1;
	if (!(f = elog_fetcher_new(c, &fc, err)))
		return -1;
	/*
	 * A topic is added whole, from its start (two LIST_OFFSETS for all its
	 * partitions, where one add a partition costs two each: 2,000 round
	 * trips for 1,000 partitions), then each partition wanted is moved to
	 * its offset and the others are removed.
	 */
	for (size_t i = 0; i < n; i++) {
		struct elog_pos from = {ELOG_POS_EARLIEST, 0};
		int topic_added = 0, partition_taken = 0;
		if (rows[i].time_lag_ms >= 0 || rows[i].pass)
			continue;
		for (size_t k = 0; k < i; k++)
			if (rows[k].pass == pass && strcmp(rows[k].c->topic, rows[i].c->topic) == 0) {
				topic_added = 1;
				partition_taken |= rows[k].c->partition == rows[i].c->partition;
			}
		if (partition_taken) {
			rc = 1; /* read at another offset in this pass: the next one */
			continue;
		}
		if (!topic_added &&
		    elog_fetcher_add(f, rows[i].c->topic, -1, &from, NULL, err) < 0) {
			rc = -1;
			goto out;
		}
		if (elog_fetcher_seek(f, rows[i].c->topic, rows[i].c->partition, rows[i].c->offset,
				      err) < 0) {
			rc = -1;
			goto out;
		}
		rows[i].pass = pass;
		want++;
	}
	for (size_t p = 0; p < elog_fetcher_partition_count(f); p++) {
		const struct elog_fetch_partition *fp = elog_fetcher_partition(f, p);
		int wanted = 0;
		for (size_t k = 0; k < n && !wanted; k++)
			wanted = rows[k].pass == pass && rows[k].c->partition == fp->id &&
				 strcmp(rows[k].c->topic, fp->topic) == 0;
		if (!wanted)
			(void)elog_fetcher_remove(f, fp->topic, fp->id, NULL);
	}
	while (want > 0) {
		struct elog_fetched out;
		int64_t at;
		int got = elog_fetcher_next(f, &out, 2000, err);
		if (got < 0) {
			rc = -1;
			goto out;
		}
		if (got == 0)
			break; /* the rest stay unknown (-1) */
		if (got == ELOG_FETCHER_CAUGHT_UP) {
			/* Read to the end and no record: only control batches (a new
			 * leader's term start) lie past the commit; nothing to consume. */
			for (size_t i = 0; i < n; i++)
				if (rows[i].pass == pass && rows[i].time_lag_ms < 0 &&
				    rows[i].c->partition == out.partition &&
				    strcmp(rows[i].c->topic, out.topic) == 0) {
					rows[i].time_lag_ms = 0;
					rows[i].lag = 0;
				}
			if (elog_fetcher_remove(f, out.topic, out.partition, NULL) == 0)
				want--;
			continue;
		}
		if (got != 1 || !out.record ||
		    elog_fetcher_remove(f, out.topic, out.partition, NULL) < 0)
			continue; /* removed already: a record fetched before the removal */
		want--;
		at = now > out.record->timestamp_ms ? now - out.record->timestamp_ms : 0;
		/* The record is the first at or after the offset asked (start), so
		 * the first unconsumed one of every row committed in [start, it]. */
		for (size_t i = 0; i < n; i++) {
			int64_t start = -1;
			if (rows[i].pass != pass || rows[i].c->partition != out.partition ||
			    strcmp(rows[i].c->topic, out.topic) != 0)
				continue;
			start = rows[i].c->offset;
			for (size_t k = 0; k < n; k++)
				if (rows[k].time_lag_ms < 0 && rows[k].c->partition == out.partition &&
				    rows[k].c->offset >= start && rows[k].c->offset <= out.record->offset &&
				    strcmp(rows[k].c->topic, out.topic) == 0)
					rows[k].time_lag_ms = at;
			break;
		}
	}
out:
	elog_fetcher_free(f);
	return rc;
}

/* The age of the first unconsumed record of each row with lag, from its
 * timestamp: a fetcher per pass, one record a partition. */
static int time_lags(struct elog_client *c, struct row *rows, size_t n, int64_t now,
		     struct elog_err *err)
{
	int rc, pass = 1;

	for (size_t i = 0; i < n; i++)
		rows[i].time_lag_ms = rows[i].lag > 0 ? -1 : 0;
	while ((rc = time_lag_pass(c, rows, n, now, pass++, err)) == 1)
		;
	return rc;
}

/* ---------------------------------------------------------------- output */

static void json_str(struct elog_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (elog_json_utf8_span(s, n) == n)
		elog_json_buf_add_string(b, s, n, NULL);
	else
		elog_json_buf_add_string(b, "", 0, NULL);
}

static void print_json(const struct row *rows, size_t n)
{
	struct elog_buf b;

	elog_buf_init(&b, 1u << 30);
	elog_buf_add(&b, "[", 1, NULL);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char num[200];
		elog_buf_add(&b, i ? ",{\"group\":" : "{\"group\":", i ? 10 : 9, NULL);
		json_str(&b, r->group);
		elog_buf_add(&b, ",\"topic\":", 9, NULL);
		json_str(&b, r->c->topic);
		snprintf(num, sizeof(num),
			 ",\"partition\":%u,\"committed\":%" PRId64 ",\"high_watermark\":%" PRId64
			 ",\"lag\":%" PRId64 ",\"time_lag_ms\":%" PRId64
			 ",\"commit_time_ms\":%" PRId64 ",\"status\":\"%s\"}",
			 r->c->partition, r->c->offset, r->high_watermark, r->lag, r->time_lag_ms,
			 r->c->commit_time_ms, status_names[r->status]);
		elog_buf_add(&b, num, strlen(num), NULL);
	}
	elog_buf_add(&b, "]\n", 2, NULL);
	fwrite(b.data, 1, b.len, stdout);
	elog_buf_release(&b);
}

/* A label value in the exposition format: backslash, quote and newline escaped. */
static void prom_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
}

static void prom_metric(const struct row *rows, size_t n, const char *name, const char *help,
			int which)
{
	printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		int64_t v = which == 0   ? r->c->offset
			    : which == 1 ? r->high_watermark
			    : which == 2 ? r->lag
			    : which == 3 ? r->time_lag_ms
					 : (int64_t)r->status;
		if (which == 3 && v < 0)
			continue;
		printf("%s{group=\"", name);
		prom_label(r->group);
		printf("\",topic=\"");
		prom_label(r->c->topic);
		if (which == 3)
			printf("\",partition=\"%u\"} %.3f\n", r->c->partition, (double)v / 1000.0);
		else
			printf("\",partition=\"%u\"} %" PRId64 "\n", r->c->partition, v);
	}
}

/*
 * Processing members (elog-consume --exec/--coproc) commit with metadata
 * "elog-proc member=ID done=N retried=N dead=N breaker=STATE opened=N":
 * per group and member, the newest such commit's counts.
 */
struct proc_row {
	const char *group;
	char member[64], breaker[16];
	uint64_t done, retried, dead, opened;
	int64_t time_ms;
};

static int proc_parse(const char *meta, struct proc_row *p)
{
	return meta && sscanf(meta, "elog-proc member=%63s done=%" SCNu64 " retried=%" SCNu64
			      " dead=%" SCNu64 " breaker=%15s opened=%" SCNu64, p->member,
			      &p->done, &p->retried, &p->dead, p->breaker, &p->opened) == 6;
}

/* NAME{group="G",member="M" — the caller closes the braces. */
static void proc_series(const char *name, const struct proc_row *p)
{
	printf("%s{group=\"", name);
	prom_label(p->group);
	printf("\",member=\"");
	prom_label(p->member);
	putchar('"');
}

static void print_processors(const struct row *rows, size_t n)
{
	struct proc_row *ps = calloc(n ? n : 1, sizeof(*ps));
	size_t np = 0;
	static const char *const outcome[] = {"done", "retried", "dead"};

	if (!ps)
		return;
	for (size_t i = 0; i < n; i++) {
		struct proc_row p = {.group = rows[i].group, .time_ms = rows[i].c->commit_time_ms};
		size_t k;
		if (!proc_parse(rows[i].c->metadata, &p))
			continue;
		for (k = 0; k < np; k++)
			if (strcmp(ps[k].group, p.group) == 0 && strcmp(ps[k].member, p.member) == 0)
				break;
		if (k == np)
			ps[np++] = p;
		else if (p.time_ms > ps[k].time_ms)
			ps[k] = p;
	}
	if (np) {
		printf("# HELP elog_processor_records_total Records a processing member finished, by "
		       "outcome: done, retried (to a retry topic), dead (to the dead-letter topic).\n"
		       "# TYPE elog_processor_records_total counter\n");
		for (size_t k = 0; k < np; k++)
			for (int o = 0; o < 3; o++) {
				proc_series("elog_processor_records_total", &ps[k]);
				printf(",outcome=\"%s\"} %" PRIu64 "\n", outcome[o],
				       o == 0 ? ps[k].done : o == 1 ? ps[k].retried : ps[k].dead);
			}
		printf("# HELP elog_processor_breaker_state The member's circuit breaker: 0 closed, "
		       "1 open, 2 half-open.\n# TYPE elog_processor_breaker_state gauge\n");
		for (size_t k = 0; k < np; k++) {
			proc_series("elog_processor_breaker_state", &ps[k]);
			printf("} %d\n", strcmp(ps[k].breaker, "open") == 0        ? 1
					: strcmp(ps[k].breaker, "half-open") == 0 ? 2 : 0);
		}
		printf("# HELP elog_processor_breaker_opened_total Times the member's circuit breaker "
		       "opened.\n# TYPE elog_processor_breaker_opened_total counter\n");
		for (size_t k = 0; k < np; k++) {
			proc_series("elog_processor_breaker_opened_total", &ps[k]);
			printf("} %" PRIu64 "\n", ps[k].opened);
		}
	}
	free(ps);
}

static void print_prometheus(const struct row *rows, size_t n)
{
	prom_metric(rows, n, "elog_group_committed_offset",
		    "The offset the group committed: the next record it will consume.", 0);
	prom_metric(rows, n, "elog_group_high_watermark",
		    "The partition's high watermark: one past its last committed record.", 1);
	prom_metric(rows, n, "elog_group_lag_records",
		    "Records the group has not consumed: high watermark minus committed offset.", 2);
	prom_metric(rows, n, "elog_group_lag_seconds",
		    "Age of the oldest record the group has not consumed, from its timestamp.", 3);
	prom_metric(rows, n, "elog_group_status",
		    "0 OK, 1 WARN (lag growing), 2 STALL (same offset committed with lag), "
		    "3 STOP (no commits with lag), 4 REWIND (offset moved back).",
		    4);
	print_processors(rows, n);
}

static void print_table(const struct row *rows, size_t n, int aligned)
{
	size_t wg = 5, wt = 5;

	if (!aligned) {
		for (size_t i = 0; i < n; i++)
			printf("%s\t%s\t%u\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\n",
			       rows[i].group, rows[i].c->topic, rows[i].c->partition,
			       rows[i].c->offset, rows[i].high_watermark, rows[i].lag,
			       rows[i].time_lag_ms, status_names[rows[i].status]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strlen(rows[i].group) > wg)
			wg = strlen(rows[i].group);
		if (strlen(rows[i].c->topic) > wt)
			wt = strlen(rows[i].c->topic);
	}
	printf("%-*s  %-*s  %9s  %12s  %12s  %10s  %8s  %s\n", (int)wg, "GROUP", (int)wt, "TOPIC",
	       "PARTITION", "COMMITTED", "END", "LAG", "TIME LAG", "STATUS");
	for (size_t i = 0; i < n; i++) {
		char d[32];
		elog_cli_format_age(rows[i].time_lag_ms, d, sizeof(d));
		printf("%-*s  %-*s  %9u  %12" PRId64 "  %12" PRId64 "  %10" PRId64 "  %8s  %s\n",
		       (int)wg, rows[i].group, (int)wt, rows[i].c->topic, rows[i].c->partition,
		       rows[i].c->offset, rows[i].high_watermark, rows[i].lag, d,
		       status_names[rows[i].status]);
	}
}

/* ---------------------------------------------------------------- main */

static int past(const struct limit *l, const struct row *r)
{
	return l->set && ((l->records >= 0 && r->lag > l->records) ||
			  (l->ms >= 0 && r->time_lag_ms > l->ms));
}

/*
 * Whether a commit's topic and partition exist now. Commits of a deleted
 * topic stay until the group is deleted: left out, said once, so that one
 * stale commit does not make every check of the group unknown.
 */
static int topic_exists(struct elog_client *c, const char *group, const struct elog_committed *e)
{
	static char said_group[256], said_topic[ELOG_TOPIC_NAME_MAX + 1];
	static char known[ELOG_TOPIC_NAME_MAX + 1];
	static int64_t known_partitions = -2; /* of `known`; -1: no such topic */

	/* A group's commits come sorted by topic: one metadata call a topic. */
	if (known_partitions == -2 || strcmp(known, e->topic) != 0) {
		const char *names[1] = {e->topic};
		const struct elog_metadata *md = elog_client_metadata(c, names, 1, NULL);
		const struct elog_meta_topic *t = md ? elog_metadata_topic(md, e->topic) : NULL;
		if (!md)
			return 1; /* unreachable: the next call says so */
		snprintf(known, sizeof(known), "%s", e->topic);
		known_partitions = t && !t->error ? (int64_t)t->partition_count : -1;
	}
	if ((int64_t)e->partition < known_partitions)
		return 1;
	if (strcmp(said_group, group) != 0 || strcmp(said_topic, e->topic) != 0) {
		elog_cli_warn("group '%s': topic '%s'%s does not exist now: its commits are left out",
			      group, e->topic, known_partitions >= 0 ? " (a partition of it)" : "");
		snprintf(said_group, sizeof(said_group), "%s", group);
		snprintf(said_topic, sizeof(said_topic), "%s", e->topic);
	}
	return 0;
}

static int topic_wanted(const struct options *o, const char *topic)
{
	if (!o->topic_count)
		return 1;
	for (size_t i = 0; i < o->topic_count; i++)
		if (strcmp(o->topics[i], topic) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- members */

static void tps_text(struct elog_buf *b, const struct elog_group_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int same = i > 0 && strcmp(tps[i - 1].topic, tps[i].topic) == 0;
		char num[16];
		if (!same && i > 0)
			elog_buf_add(b, " ", 1, NULL);
		if (!same) {
			elog_buf_add(b, tps[i].topic, strlen(tps[i].topic), NULL);
			elog_buf_add(b, ":", 1, NULL);
		} else {
			elog_buf_add(b, ",", 1, NULL);
		}
		snprintf(num, sizeof(num), "%u", tps[i].partition);
		elog_buf_add(b, num, strlen(num), NULL);
	}
}

/*
 * --members: per member of each group, TSV: group, state, member id,
 * instance id (- for none), client id, epoch, ms since its last heartbeat
 * (- not yet heard by this coordinator), what it owns. --json: one object
 * per group. 0, or -1 with err.
 */
static int print_members(struct elog_client *c, const char *const *groups, size_t n, int json,
			 struct elog_err *err)
{
	struct elog_buf b;

	elog_buf_init(&b, 1u << 30);
	if (json)
		fputs("[", stdout);
	for (size_t g = 0; g < n; g++) {
		struct elog_group_description d;
		if (elog_client_describe_group(c, groups[g], &d, err) < 0) {
			elog_buf_release(&b);
			return -1;
		}
		if (json) {
			elog_buf_reset(&b);
			elog_buf_add(&b, g ? "," : "", g ? 1 : 0, NULL);
			elog_buf_add(&b, "{\"group\":", 9, NULL);
			json_str(&b, groups[g]);
			elog_buf_add(&b, ",\"state\":", 9, NULL);
			json_str(&b, d.state);
			fwrite(b.data, 1, b.len, stdout);
			printf(",\"epoch\":%" PRId32 ",\"assignor\":\"%s\",\"members\":[", d.epoch,
			       d.assignor);
		}
		for (size_t i = 0; i < d.member_count; i++) {
			const struct elog_group_member_description *m = &d.members[i];
			elog_buf_reset(&b);
			if (json) {
				elog_buf_add(&b, i ? ",{\"member\":" : "{\"member\":", i ? 11 : 10, NULL);
				json_str(&b, m->member_id);
				elog_buf_add(&b, ",\"instance\":", 12, NULL);
				json_str(&b, m->instance_id);
				elog_buf_add(&b, ",\"client\":", 10, NULL);
				json_str(&b, m->client_id);
				fwrite(b.data, 1, b.len, stdout);
				printf(",\"epoch\":%" PRId32 ",\"last_heartbeat_ms\":%" PRId64
				       ",\"owns\":[", m->epoch, m->last_heartbeat_ms);
				for (size_t k = 0; k < m->owned_count; k++) {
					elog_buf_reset(&b);
					elog_buf_add(&b, k ? ",{\"topic\":" : "{\"topic\":", k ? 10 : 9, NULL);
					json_str(&b, m->owned[k].topic);
					fwrite(b.data, 1, b.len, stdout);
					printf(",\"partition\":%u}", m->owned[k].partition);
				}
				fputs("]}", stdout);
				continue;
			}
			tps_text(&b, m->owned, m->owned_count);
			printf("%s\t%s\t%s\t%s\t%s\t%" PRId32 "\t", groups[g], d.state, m->member_id,
			       m->instance_id[0] ? m->instance_id : "-",
			       m->client_id[0] ? m->client_id : "-", m->epoch);
			if (m->last_heartbeat_ms >= 0)
				printf("%" PRId64, m->last_heartbeat_ms);
			else
				fputs("-", stdout);
			printf("\t%.*s\n", (int)b.len, b.len ? (const char *)b.data : "");
		}
		if (json) {
			fputs("],\"offsets\":[", stdout);
			for (size_t k = 0; k < d.offset_count; k++) {
				const struct elog_group_offset *o = &d.offsets[k];
				elog_buf_reset(&b);
				elog_buf_add(&b, k ? ",{\"topic\":" : "{\"topic\":", k ? 10 : 9, NULL);
				json_str(&b, o->topic);
				fwrite(b.data, 1, b.len, stdout);
				printf(",\"partition\":%u,\"committed\":%" PRId64 ",\"high_watermark\":%" PRId64
				       ",\"lag\":%" PRId64 "}", o->partition, o->committed,
				       o->high_watermark, o->lag);
			}
			fputs("]}", stdout);
		}
		elog_group_description_release(&d);
	}
	if (json)
		fputs("]\n", stdout);
	elog_buf_release(&b);
	return 0;
}

int main(int argc, char **argv)
{
	static struct options o;
	struct elog_committed_list *lists = NULL;
	char **listed = NULL;
	const char **groups = NULL;
	size_t group_count = 0, listed_count = 0;
	struct elog_client_config cc;
	struct elog_client *c;
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	struct elog_err err;
	int64_t now;
	int rc;

	elog_cli_init(argv[0]);
	/* Nagios: a bad command line is UNKNOWN, not CRITICAL. */
	if ((rc = parse_options(&o, argc, argv)) >= 0)
		return rc == ELOG_EXIT_USAGE ? EXIT_UNKNOWN : rc;
	elog_client_config_init(&cc);
	cc.brokers = o.brokers;
	cc.request_timeout_ms = (int)o.timeout_ms;
	if (!(c = elog_client_new(&cc, &err))) {
		elog_cli_usage_error(&program, "%s", err.msg);
		return EXIT_UNKNOWN;
	}
	rc = EXIT_UNKNOWN;
	if (o.group_count) {
		groups = o.groups;
		group_count = o.group_count;
	} else {
		/* Every group: each broker lists those it coordinates. */
		if (elog_client_list_groups(c, &listed, &listed_count, &err) < 0)
			goto failed;
		groups = (const char **)listed;
		group_count = listed_count;
	}
	if (o.members) {
		if (print_members(c, groups, group_count, o.json, &err) < 0)
			goto failed;
		rc = ELOG_EXIT_OK;
		goto done;
	}
	if (group_count && !(lists = calloc(group_count, sizeof(*lists)))) {
		elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
		goto failed;
	}
	for (size_t g = 0; g < group_count; g++) {
		if (elog_client_fetch_offsets(c, groups[g], NULL, NULL, 0, &lists[g], &err) < 0)
			goto failed;
		/* Named and without commits: a typo in a cron line must not look OK. */
		if (!lists[g].count && o.group_count) {
			elog_err_set(&err, ELOG_E_INVAL, "group '%s' has no committed offsets",
				     groups[g]);
			goto failed;
		}
		size_t before = n;
		for (size_t i = 0; i < lists[g].count; i++) {
			if (!topic_wanted(&o, lists[g].items[i].topic) ||
			    !topic_exists(c, groups[g], &lists[g].items[i]))
				continue;
			if (n == cap) {
				struct row *grown;
				cap = cap ? cap * 2 : 64;
				if (!(grown = realloc(rows, cap * sizeof(*rows)))) {
					elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
					goto failed;
				}
				rows = grown;
			}
			rows[n++] = (struct row){.group = groups[g], .c = &lists[g].items[i]};
		}
		if (n == before && o.group_count && o.topic_count) {
			elog_err_set(&err, ELOG_E_INVAL, "group '%s' has no commits of the topics named",
				     groups[g]);
			goto failed;
		}
	}
	/* The high watermarks, a topic at a time (a group's rows are sorted). */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint32_t *parts;
		int64_t *q, *hw;
		while (j < n && rows[j].group == rows[i].group &&
		       strcmp(rows[j].c->topic, rows[i].c->topic) == 0)
			j++;
		parts = malloc((j - i) * sizeof(*parts));
		q = malloc((j - i) * sizeof(*q));
		hw = malloc((j - i) * sizeof(*hw));
		if (!parts || !q || !hw) {
			free(parts), free(q), free(hw);
			elog_err_set(&err, ELOG_E_NOMEM, "out of memory");
			goto failed;
		}
		for (size_t k = i; k < j; k++) {
			parts[k - i] = rows[k].c->partition;
			q[k - i] = ELOG_OFFSET_LATEST;
		}
		if (elog_client_list_offsets(c, rows[i].c->topic, parts, q, hw, j - i, &err) < 0) {
			free(parts), free(q), free(hw);
			goto failed;
		}
		for (size_t k = i; k < j; k++) {
			rows[k].high_watermark = hw[k - i];
			rows[k].lag = hw[k - i] > rows[k].c->offset ? hw[k - i] - rows[k].c->offset : 0;
		}
		free(parts), free(q), free(hw);
		i = j;
	}
	now = elog_wall_ms();
	if (time_lags(c, rows, n, now, &err) < 0)
		goto failed;
	rc = ELOG_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].time_lag_ms < 0 &&
		    ((o.warn.set && o.warn.ms >= 0) || (o.crit.set && o.crit.ms >= 0))) {
			elog_err_set(&err, ELOG_E_IO,
				     "group '%s': the time lag of '%s' partition %u could not be read",
				     rows[i].group, rows[i].c->topic, rows[i].c->partition);
			rc = EXIT_UNKNOWN;
			goto failed;
		}
		rows[i].status = judge(&rows[i], now, o.stop_after_ms);
		if (rows[i].status == ST_STOP || rows[i].status == ST_STALL ||
		    rows[i].status == ST_REWIND || past(&o.crit, &rows[i]))
			rc = EXIT_CRIT;
		else if ((rows[i].status == ST_WARN || past(&o.warn, &rows[i])) && rc < EXIT_WARN)
			rc = EXIT_WARN;
	}
	if (o.json)
		print_json(rows, n);
	else if (o.prometheus)
		print_prometheus(rows, n);
	else
		print_table(rows, n, isatty(STDOUT_FILENO));
	goto done;
failed:
	elog_cli_error("%s", err.msg);
done:
	free(rows);
	for (size_t g = 0; lists && g < group_count; g++)
		elog_committed_release(&lists[g]);
	free(lists);
	elog_group_names_release(listed, listed_count);
	elog_client_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		rc = EXIT_UNKNOWN;
	}
	return rc;
}
