/*
 * elog-consume — write a topic's records to stdout; see elog-consume(1).
 *
 * Follows the selected partitions like tail -f until interrupted, or with
 * -e stops at the end offsets they had at the start, or with -n after COUNT
 * records. Every record goes through one large output buffer (an elog_buf)
 * that is written out when it fills up, whenever the fetcher has nothing
 * ready (so a follower's output appears at once), and at exit: no
 * allocation and no system call per record.
 *
 * A closed stdout (EPIPE, e.g. `| head -n 3`) is a normal end, exit 0; so is
 * SIGINT or SIGTERM, after the buffered output is written. While idle, the
 * wait for new records is cut into slices so that a signal or a reader that
 * went away is noticed within WAIT_SLICE_MS even when no data arrives.
 *
 * A broker that does not answer: at the start, the partitions are added
 * again with backoff until --timeout; afterwards the fetcher retries on its
 * own, for ever when following (saying once that the broker was lost, and
 * once that it answers again), for --timeout with -e or -n.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "buf.h"
#include "cli.h"
#include "client.h"
#include "envelope.h"
#include "format.h"
#include "processor.h"
#include "proto.h"

/* Output is written once this much is buffered. */
#define OUT_FLUSH_BYTES (1u << 20)
/*
 * Hard cap of the output buffer: one record rendered alone must fit. The
 * worst case is --json of a batch-sized value of control bytes, each
 * escaped as \u00XX (6 bytes).
 */
#define OUT_BYTES_MAX ((size_t)ELOG_BATCH_SIZE_MAX * 6 + (1u << 20))
/* Longest idle wait before checking for signals and a closed stdout. */
#define WAIT_SLICE_MS 100
/* Topic/partition pairs on one command line. */
#define SELECTIONS_MAX 1024
/* --timeout's default: how long a broker may not answer. */
#define TIMEOUT_DEFAULT_MS 30000
#define CONNECT_BACKOFF_MS 200
#define CONNECT_BACKOFF_MAX_MS 2000

enum {
	OPT_VERSION = 256,
	OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_RESET,
	OPT_COMMIT_INTERVAL,
	OPT_AT_MOST_ONCE,
	OPT_SESSION_TIMEOUT,
	OPT_INSTANCE_ID,
	OPT_ASSIGNOR,
	OPT_EXEC,
	OPT_COPROC,
	OPT_EXEC_TIMEOUT,
	OPT_RETRY_ON,
	OPT_CONCURRENCY,
	OPT_RETRIES,
	OPT_BACKOFF,
	OPT_RETRY_TOPICS,
	OPT_DLQ_TOPIC,
	OPT_BREAKER,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "brokers to ask, host:port,... (default $ELOG_BROKERS or "
				    ELOG_BROKERS_DEFAULT ")"},
	{'o', "offset", "POSITION", "where to start: earliest (default), latest, OFFSET, -N "
				    "(N before the end) or @TIME"},
	{'e', "exit", NULL, "exit at the end offsets the partitions have at the start"},
	{'g', "group", "GROUP", "consume as a member of GROUP: its share of the topics, from its "
				"committed offsets"},
	{OPT_RESET, "reset", "POSITION", "group: where a partition without a committed offset starts: "
					 "earliest (default) or latest"},
	{OPT_COMMIT_INTERVAL, "commit-interval", "DURATION", "group: commit what was written out this "
							     "often (default 1s)"},
	{OPT_AT_MOST_ONCE, "at-most-once", NULL, "group: commit records before writing them out"},
	{OPT_SESSION_TIMEOUT, "session-timeout", "DURATION", "group: it gives my partitions "
							     "away after this silence (default 10s)"},
	{OPT_INSTANCE_ID, "instance-id", "ID", "group: a static member: a restart within the session "
					       "timeout keeps its partitions"},
	{OPT_ASSIGNOR, "assignor", "NAME", "group: sticky (default), range or roundrobin"},
	{OPT_EXEC, "exec", "CMD", "group: run CMD per record (value on stdin, metadata in ELOG_* "
				  "variables); its exit status is the verdict"},
	{OPT_COPROC, "coproc", "CMD", "group: start CMD once; a JSON line per record in, a verdict "
				      "line (ok, retry, fail) out"},
	{OPT_EXEC_TIMEOUT, "exec-timeout", "DURATION", "processing: a try running longer is killed "
						       "and retried (default 30s)"},
	{OPT_RETRY_ON, "retry-on", "LIST", "processing: exit statuses that mean retry: 75 (default), "
					   "N,N-M, all or none"},
	{OPT_CONCURRENCY, "concurrency", "N", "processing: records in processing at once, one per "
					      "key (default 1)"},
	{OPT_RETRIES, "retries", "N", "processing: tries again in place before the next tier "
				      "(default 3)"},
	{OPT_BACKOFF, "backoff", "MIN..MAX", "processing: waits between tries, exponential with "
					     "jitter (default 200ms..30s)"},
	{OPT_RETRY_TOPICS, "retry-topics", "DELAYS", "processing: retry tiers, e.g. 1m,10m,1h "
						     "(topics TOPIC.retry.1m, ...)"},
	{OPT_DLQ_TOPIC, "dlq-topic", "TOPIC", "processing: dead letters go there (default "
					      "TOPIC.dlq)"},
	{OPT_BREAKER, "breaker", "K", "processing: stop taking records after K failures in a row, "
				      "probe, resume (default off)"},
	{'n', "count", "COUNT", "exit after COUNT records"},
	{'J', "json", NULL, "print one JSON envelope per record (docs/json.md)"},
	{'f', "format", "FORMAT", "print records as FORMAT: %t %p %o %k %K %s %S %R %h %T %D %%"},
	{'q', "quiet", NULL, "no notice on a terminal when a partition is caught up"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on a broker that does not answer (default "
					     "30s; following: only at the start)"},
	{OPT_CONNECT_TIMEOUT, "connect-timeout", "DURATION", "wait this long for a connection to a broker (default 3s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-eJhq] [-b brokers] [-f format] [-g group [--exec cmd | --coproc cmd]] "
		    "[-n count] [-o position] [--timeout duration] [--version] "
		    "topic[:partition[,partition...]] ...",
	.summary = "Write the records of topics to standard output, one per line: the value\n"
		   "alone, a JSON envelope, or a format. Follows new records until interrupted.",
	.options = options,
};

/* One topic, or one partition of it (partition -1: every partition). */

struct consume {
	const char *brokers;
	struct elog_pos start;
	int exit_at_end;
	int has_count;
	uint64_t count;
	enum elog_output_mode mode;
	struct elog_format format;
	int notices;                 /* end-of-partition notices: stderr a terminal, no -q */
	int64_t timeout_ms;          /* --timeout */
	int64_t connect_timeout_ms;  /* --connect-timeout; 0: the library's default */
	int timeout_given;
	int broker_lost;             /* said that the broker was lost, not yet that it is back */
	struct elog_cli_target selections[SELECTIONS_MAX];
	size_t selection_count;

	const char *group;           /* -g */
	struct elog_pos reset;       /* --reset */
	int64_t commit_interval_ms;
	int at_most_once;
	int64_t session_timeout_ms;
	const char *instance_id, *assignor;
	int group_notices;           /* membership lines on stderr: not -q */
	int idle;                    /* the last fetch found nothing */

	struct elog_buf out;
	uint64_t printed;
	int stdout_closed;           /* EPIPE: the reader went away */
	int offset_given, reset_given;
	const char *group_only_given;  /* an option that needs -g */

	/* --exec / --coproc */
	struct elog_processor_config pc;
	const char *proc_only_given;   /* an option that needs --exec or --coproc */
	struct elog_processor *proc;
	char tier_text[ELOG_PROCESSOR_TIERS_MAX][32];
};

/* --exec / --coproc: the commits follow the processor, not the output. */
static int processing;

/*
 * SIGINT/SIGTERM. While following, a signal is the normal way to stop:
 * the loop sees elog_cli_stops, writes out what it holds and exits 0. With -e
 * or -n a signal before the end or the count means the output is
 * incomplete, and the exit status says so (1). Before the loop starts
 * (connecting, resolving positions, which may wait on retries), nothing is
 * buffered, so the handler ends the process itself with that status.
 */
static int bounded_run;          /* -e or -n */

/* ---------------------------------------------------------------- output */

/*
 * Write the buffered output. 0 when written (or stdout is closed: the rest
 * is dropped and stdout_closed set), -1 with a message on an I/O error. A
 * blocked write interrupted by a second SIGINT/SIGTERM gives up quietly.
 */
static int group_commit_first(struct consume *c);
static void group_written(void);

static int flush_out(struct consume *c)
{
	size_t done = 0;

	if (c->at_most_once && c->out.len && group_commit_first(c) < 0)
		return -1;
	while (done < c->out.len && !c->stdout_closed) {
		ssize_t n = write(STDOUT_FILENO, c->out.data + done, c->out.len - done);

		if (n >= 0) {
			done += (size_t)n;
		} else if (errno == EPIPE) {
			c->stdout_closed = 1;
		} else if (errno == EINTR) {
			if (elog_cli_stops >= 2)
				break;
		} else if (errno == EAGAIN) {
			struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
			if (poll(&p, 1, -1) < 0 && errno != EINTR) {
				elog_cli_error_errno(errno, "cannot write to stdout");
				return -1;
			}
		} else {
			elog_cli_error_errno(errno, "cannot write to stdout");
			return -1;
		}
	}
	/* Written whole: what the buffer held may be committed (-g). */
	if (!c->stdout_closed && done == c->out.len)
		group_written();
	elog_buf_reset(&c->out);
	return 0;
}

/* While idle: has the reader of a pipe or socket on stdout gone away? */
static int stdout_gone(void)
{
	struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

static int render(struct consume *c, const struct elog_fetched *rec, struct elog_err *err)
{
	return elog_output_render(c->mode, &c->format, &c->out, rec->topic, strlen(rec->topic),
				  rec->partition, rec->record, err);
}

/* Render one record into the output buffer, writing it out first if it is full. */
static int print_record(struct consume *c, const struct elog_fetched *rec)
{
	struct elog_err err;

	if (render(c, rec, &err) < 0) {
		if (err.code != ELOG_E_LIMIT || c->out.len == 0)
			goto fail;
		if (flush_out(c) < 0)
			return -1;
		if (render(c, rec, &err) < 0)
			goto fail;
	}
	if (c->out.len >= OUT_FLUSH_BYTES)
		return flush_out(c);
	return 0;
fail:
	elog_cli_error_err(&err, "'%s' partition %" PRIu32 " offset %" PRId64 ": cannot print",
			   rec->topic, rec->partition, rec->record->offset);
	return -1;
}

/*
 * kcat's "reached end" notice, for people watching a terminal: once per
 * partition, when it has been read up to the end it had at the start (the
 * fetcher's ELOG_FETCHER_CAUGHT_UP), before any record produced later.
 */
static int notice_end(struct consume *c, const struct elog_fetched *rec)
{
	/* After the records it comes after. */
	if (flush_out(c) < 0)
		return -1;
	/* A notice, not a warning: the plain "prog: text" line. */
	elog_cli_error("'%s' partition %" PRIu32 ": reached the end at offset %" PRId64
		      "; following", rec->topic, rec->partition, rec->high_watermark);
	return 0;
}

/* Following: say once that the broker is lost, and once that it is back. */
static void notice_broker(struct consume *c, struct elog_fetcher *f)
{
	struct elog_err why;
	int lost = elog_fetcher_unreachable(f, &why) > 0;

	if (bounded_run || lost == c->broker_lost)
		return;
	c->broker_lost = lost;
	if (flush_out(c) < 0)
		return;
	if (lost)
		elog_cli_warn("lost the broker: %s; reconnecting", why.msg);
	else
		elog_cli_error("the broker answers again; following");
}

/* ---------------------------------------------------------------- the loop */

static int count_reached(const struct consume *c)
{
	return c->has_count && c->printed >= c->count;
}

/*
 * Hand records to the output until the end (-e), the count (-n), a signal
 * or a closed stdout. Returns an exit code.
 */
static int consume_loop(struct consume *c, struct elog_fetcher *f)
{
	struct elog_fetched rec;
	struct elog_err err;
	int timeout_ms = 0, rc, done = 0;

	elog_cli_setup = 0;
	if (elog_cli_stops)
		return bounded_run ? ELOG_EXIT_FAIL : ELOG_EXIT_OK;
	while (!elog_cli_stops && !c->stdout_closed && !count_reached(c)) {
		rc = elog_fetcher_next(f, &rec, timeout_ms, &err);
		if (rc < 0) {
			flush_out(c);
			if (elog_cli_stops)
				break;   /* interrupted mid-wait: not a failure */
			elog_cli_error_err(&err, NULL);
			return ELOG_EXIT_FAIL;
		}
		if (rc == 0) {
			if ((done = elog_fetcher_done(f)))
				break;
			/* Nothing ready: show what we have, then wait in slices. */
			if (timeout_ms == 0 && flush_out(c) < 0)
				return ELOG_EXIT_FAIL;
			if (stdout_gone())
				c->stdout_closed = 1;
			notice_broker(c, f);
			timeout_ms = WAIT_SLICE_MS;
			continue;
		}
		if (c->broker_lost)
			notice_broker(c, f);
		if (rc == ELOG_FETCHER_CAUGHT_UP) {
			if (notice_end(c, &rec) < 0)
				return ELOG_EXIT_FAIL;
			continue;
		}
		timeout_ms = 0;
		if (print_record(c, &rec) < 0)
			return ELOG_EXIT_FAIL;
		c->printed++;
	}
	if (flush_out(c) < 0)
		return ELOG_EXIT_FAIL;
	if (elog_cli_stops && bounded_run && !done && !count_reached(c) && !c->stdout_closed) {
		elog_cli_error("interrupted before reaching the end");
		return ELOG_EXIT_FAIL;
	}
	return ELOG_EXIT_OK;
}

/*
 * -o OFFSET: a partition that does not hold it started at its nearest
 * offset (the fetcher's rule, kcat's per-partition reset): say so for
 * each. When no selected partition holds it, it is an error: the offset
 * was surely mistyped. 0, or -1 with err set.
 */
static int check_start_offset(const struct consume *c, const struct elog_fetcher *f,
			      struct elog_err *err)
{
	size_t n = elog_fetcher_partition_count(f), moved = 0;
	const struct elog_fetch_partition *first = NULL;
	char range[96];

	if (c->start.kind != ELOG_POS_OFFSET)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct elog_fetch_partition *p = elog_fetcher_partition(f, i);
		if (p->start != p->asked && moved++ == 0)
			first = p;
	}
	if (moved == 0)
		return 0;
	if (moved == n) {
		elog_offset_range_text(first->log_start, first->end, range, sizeof(range));
		return elog_err_set(err, ELOG_E_RANGE, "'%s' partition %" PRIu32 ": start offset %"
				    PRId64 " is out of range (%s)", first->topic, first->id,
				    first->asked, range);
	}
	for (size_t i = 0; i < n; i++) {
		const struct elog_fetch_partition *p = elog_fetcher_partition(f, i);
		if (p->start == p->asked)
			continue;
		elog_offset_range_text(p->log_start, p->end, range, sizeof(range));
		elog_cli_warn("'%s' partition %" PRIu32 ": no offset %" PRId64 " (%s): starting at %s, "
			      "offset %" PRId64, p->topic, p->id, p->asked, range,
			      p->asked > p->end ? "its end" : "its log start", p->start);
	}
	return 0;
}

/*
 * Add every selection, retrying while no broker answers, up to --timeout.
 * 0, or -1 with err set.
 */
static int add_selections(struct consume *c, struct elog_fetcher *f, struct elog_err *err)
{
	struct elog_pos end = {.kind = ELOG_POS_LATEST, .value = 0};
	int64_t deadline_ms = elog_clock_ms() + c->timeout_ms;
	uint32_t attempt = 0;

	for (size_t i = 0; i < c->selection_count;) {
		const struct elog_cli_target *s = &c->selections[i];
		int64_t left_ms;
		uint32_t backoff;

		if (elog_fetcher_add(f, s->topic, s->partition, &c->start,
				     c->exit_at_end ? &end : NULL, err) == 0) {
			i++;
			continue;
		}
		left_ms = deadline_ms - elog_clock_ms();
		if (err->code != ELOG_E_IO || left_ms <= 0)
			return -1;
		backoff = elog_backoff_ms(attempt++, CONNECT_BACKOFF_MS, CONNECT_BACKOFF_MAX_MS,
					  (uint32_t)rand());
		poll(NULL, 0, left_ms < backoff ? (int)left_ms : (int)backoff);
	}
	return check_start_offset(c, f, err);
}

/* ---------------------------------------------------------------- groups */


/*
 * -g GROUP: a member of the group (docs/groups.md). The broker decides
 * which partitions it owns; it heartbeats with what it owns, gives up what
 * it is told to give up (after writing out and committing what it printed
 * of it), and starts what it is given at the group's committed offset (or
 * --reset where there is none). Commits: at least once by default, the
 * offsets of what was written to stdout and flushed, every
 * --commit-interval, before giving a partition up and at the end;
 * --at-most-once commits what is about to be written before writing it.
 */
struct gpart {
	char *topic;
	uint32_t partition;
	int64_t rendered;      /* the offset after the last record put in the output buffer */
	int64_t next;          /* ... after the last one written out (the write returned);
				  -1 none yet */
	int64_t committed;     /* what the group has for it (-1 nothing) */
	int64_t hw;            /* as the last record printed saw it */
	int64_t paused_until;  /* processing: a retry tier's head not due until then (wall ms) */
	int64_t resume_at;     /* ... and where to fetch from after it */
};

struct member {
	struct elog_client *client;
	struct elog_fetcher *f;
	struct elog_processor *proc;     /* --exec / --coproc */
	struct elog_group_heartbeat hb;
	char client_id[128];
	struct gpart *parts;
	size_t count;
	struct elog_group_tp *owned;     /* parts as the heartbeat reports them */
	int64_t next_hb_ms, last_commit_ms;
	int64_t last_ok_ms;              /* the last heartbeat answered */
	size_t cached;                   /* the part of the last record printed */
	int commit_failed;               /* said so once */
	int answered;                    /* an assignment came at least once */
	int lost;                        /* said that the coordinator cannot be reached */
};

static struct member *the_member;

/* The last commit and the leave, at the end, wait at most this. */
#define LEAVE_TIMEOUT_MS 5000

static void group_written(void)
{
	struct member *m = the_member;

	if (processing)
		return;
	for (size_t i = 0; m && i < m->count; i++)
		m->parts[i].next = m->parts[i].rendered;
}

static void group_say_owned(struct consume *c, const struct member *m)
{
	char line[4096];
	size_t at = 0;

	if (!c->group_notices)
		return;
	for (size_t i = 0; i < m->count && at < sizeof(line) - 64; i++) {
		int same = i > 0 && strcmp(m->parts[i - 1].topic, m->parts[i].topic) == 0;
		at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s%s%" PRIu32,
				       i == 0 ? "" : same ? "," : " ", same ? "" : m->parts[i].topic,
				       same ? "" : ":", m->parts[i].partition);
	}
	if (at >= sizeof(line) - 64)
		snprintf(line + at, sizeof(line) - at, " ...");
	elog_cli_error("group '%s': member %s epoch %" PRId32 " owns %s [t=%" PRId64 "]", c->group,
		       m->hb.member_id, m->hb.epoch, m->count ? line : "nothing",
		       elog_wall_ms());
}

/* Commit the positions that moved. 0 (also when a refusal only lost
 * progress: said once), -1 when the member was fenced (it must rejoin). */
static int group_commit(struct consume *c, struct member *m)
{
	struct elog_offset_commit *e;
	struct elog_err err;
	char metadata[256];
	size_t n = 0;
	int rc = 0;

	m->last_commit_ms = elog_clock_ms();
	if (!m->count || !m->hb.member_id[0])
		return 0;
	if (!(e = calloc(m->count, sizeof(*e))))
		return 0;
	if (c->proc) {
		elog_processor_metadata(c->proc, m->hb.member_id, metadata, sizeof(metadata));
		for (size_t i = 0; i < m->count; i++) {
			int64_t pos = elog_processor_position(c->proc, m->parts[i].topic,
							      m->parts[i].partition);
			if (pos >= 0)
				m->parts[i].next = pos;
		}
	}
	/* At least once: what was written out; at most once: what is about to be. */
	for (size_t i = 0; i < m->count; i++) {
		const struct gpart *p = &m->parts[i];
		int64_t pos = c->at_most_once ? p->rendered : p->next;
		if (pos < 0 || pos == p->committed)
			continue;
		e[n].topic = p->topic;
		e[n].partition = p->partition;
		e[n].offset = pos;
		e[n].high_watermark = p->hw;
		e[n].metadata = c->proc ? metadata : NULL;
		n++;
	}
	if (n && elog_client_commit_member(m->client, c->group, m->hb.member_id, m->hb.epoch, e, n,
					   &err) < 0) {
		int code = elog_client_proto_error(m->client);
		if (code == ELOG_PE_UNKNOWN_MEMBER_ID || code == ELOG_PE_FENCED_MEMBER_EPOCH) {
			elog_cli_warn("%s; giving up my partitions and joining again", err.msg);
			rc = -1;
		} else if (!m->commit_failed++) {
			elog_cli_warn("%s (records may be read again after a restart)", err.msg);
		}
	} else if (n) {
		m->commit_failed = 0;
		for (size_t i = 0, k = 0; i < m->count && k < n; i++) {
			struct gpart *p = &m->parts[i];
			int64_t pos = c->at_most_once ? p->rendered : p->next;
			if (pos >= 0 && pos != p->committed) {
				p->committed = pos;
				k++;
			}
		}
	}
	free(e);
	return rc;
}

static void group_drop_all(struct member *m)
{
	struct elog_err err;

	for (size_t i = 0; i < m->count; i++) {
		elog_fetcher_remove(m->f, m->parts[i].topic, m->parts[i].partition, &err);
		if (m->proc)
			elog_processor_drop(m->proc, m->parts[i].topic, m->parts[i].partition);
		free(m->parts[i].topic);
	}
	m->count = 0;
	m->cached = 0;
}

static void group_say_owned(struct consume *c, const struct member *m);

static void group_rejoin(struct consume *c, struct member *m)
{
	/* Nothing more of partitions that may be another member's now: what
	 * is buffered is dropped (never committed: it is read again). */
	elog_buf_reset(&c->out);
	group_drop_all(m);
	group_say_owned(c, m);
	m->hb.member_id[0] = 0;
	m->hb.epoch = 0;
	m->next_hb_ms = 0;
}

static int in_assignment(const struct elog_group_heartbeat *hb, const char *topic, uint32_t p)
{
	for (size_t i = 0; i < hb->assignment_count; i++)
		if (hb->assignment[i].partition == p && strcmp(hb->assignment[i].topic, topic) == 0)
			return 1;
	return 0;
}

static int gpart_cmp(const void *a, const void *b)
{
	const struct gpart *x = a, *y = b;
	int k = strcmp(x->topic, y->topic);

	return k ? k : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Start partition (topic, p) at committed (-1: --reset). */
static int group_start(struct consume *c, struct member *m, const char *topic, uint32_t p,
		       int64_t committed, struct elog_err *err)
{
	struct elog_pos end = {.kind = ELOG_POS_LATEST, .value = 0};
	struct elog_pos pos = c->reset;
	struct gpart *gp;

	if (committed >= 0)
		pos = (struct elog_pos){.kind = ELOG_POS_OFFSET, .value = committed};
	if (elog_fetcher_add(m->f, topic, (int32_t)p, &pos, c->exit_at_end ? &end : NULL, err) < 0)
		return -1;
	gp = &m->parts[m->count++];
	gp->topic = strdup(topic);
	gp->partition = p;
	gp->committed = committed;
	gp->next = gp->rendered = -1;
	gp->hw = -1;
	gp->paused_until = 0;
	if (!gp->topic)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	return 0;
}

/* Start the partitions of one topic given now (assignment[from..to), sorted),
 * with one OFFSET_FETCH for their committed offsets. 0, -1 failed, 1 the
 * member was fenced (err says so). */
static int group_start_topic(struct consume *c, struct member *m, size_t from, size_t to,
			     struct elog_err *err)
{
	const struct elog_group_tp *a = m->hb.assignment;
	struct elog_committed_list got = {0};
	uint32_t *ids = malloc((to - from) * sizeof(*ids));
	size_t n = 0;
	int rc = -1;

	if (!ids)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	for (size_t i = from; i < to; i++) {
		int have = 0;
		for (size_t k = 0; k < m->count && !have; k++)
			have = m->parts[k].partition == a[i].partition &&
			       strcmp(m->parts[k].topic, a[i].topic) == 0;
		if (!have)
			ids[n++] = a[i].partition;
	}
	if (n == 0) {
		free(ids);
		return 0;
	}
	if (elog_client_fetch_offsets_member(m->client, c->group, m->hb.member_id, m->hb.epoch,
					     a[from].topic, ids, n, &got, err) < 0) {
		int code = elog_client_proto_error(m->client);
		if (code == ELOG_PE_UNKNOWN_MEMBER_ID || code == ELOG_PE_FENCED_MEMBER_EPOCH)
			rc = 1;   /* fenced: the caller joins again */
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t committed = -1;
		for (size_t k = 0; k < got.count; k++)
			if (got.items[k].partition == ids[i])
				committed = got.items[k].offset;
		if (group_start(c, m, a[from].topic, ids[i], committed, err) < 0)
			goto out;
	}
	rc = 0;
out:
	elog_committed_release(&got);
	free(ids);
	return rc;
}

/* The new assignment: give up what left it (committed first), start what
 * came. 1 when something was given up (tell the coordinator at once), 0,
 * -1 fenced (rejoin), -2 failed (err). */
static int group_apply(struct consume *c, struct member *m, struct elog_err *err)
{
	const struct elog_group_heartbeat *hb = &m->hb;
	size_t kept = 0, before = m->count;
	int released = 0;
	struct gpart *grown;

	for (size_t i = 0; i < m->count; i++)
		released |= !in_assignment(hb, m->parts[i].topic, m->parts[i].partition);
	if (released) {
		/* What was printed of them is written out and committed before
		 * anyone else may read them. */
		if (flush_out(c) < 0)
			return -2;
		if (group_commit(c, m) < 0)
			return -1;
		for (size_t i = 0; i < m->count; i++) {
			if (in_assignment(hb, m->parts[i].topic, m->parts[i].partition)) {
				m->parts[kept++] = m->parts[i];
				continue;
			}
			elog_fetcher_remove(m->f, m->parts[i].topic, m->parts[i].partition, err);
			if (m->proc)
				elog_processor_drop(m->proc, m->parts[i].topic,
						    m->parts[i].partition);
			free(m->parts[i].topic);
		}
		m->count = kept;
		m->cached = 0;
	}
	if (!(grown = realloc(m->parts, (m->count + hb->assignment_count + 1) * sizeof(*grown))))
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory"), -2;
	m->parts = grown;
	for (size_t i = 0; i < hb->assignment_count;) {
		size_t j = i;
		while (j < hb->assignment_count &&
		       strcmp(hb->assignment[j].topic, hb->assignment[i].topic) == 0)
			j++;
		int rc = group_start_topic(c, m, i, j, err);
		if (rc == 1) {
			elog_cli_warn("%s; giving up my partitions and joining again", err->msg);
			return -1;
		}
		if (rc < 0)
			return -2;
		i = j;
	}
	if (m->count > 1)
		qsort(m->parts, m->count, sizeof(*m->parts), gpart_cmp);
	m->cached = 0;
	if (released || m->count != before)
		group_say_owned(c, m);
	return released;
}

/* One heartbeat (a join when there is no member id). 0, -1 failed (err). */
static int group_heartbeat(struct consume *c, struct member *m, struct elog_err *err)
{
	struct elog_group_tp *owned;
	int64_t sent;
	int rc;

	if (!(owned = realloc(m->owned, (m->count + 1) * sizeof(*owned))))
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	m->owned = owned;
	for (size_t i = 0; i < m->count; i++)
		owned[i] = (struct elog_group_tp){m->parts[i].topic, m->parts[i].partition};
	m->hb.owned = owned;
	m->hb.owned_count = m->count;
	sent = elog_clock_ms();
	if (elog_client_group_heartbeat(m->client, &m->hb, err) < 0) {
		int code = elog_client_proto_error(m->client);
		if (code == ELOG_PE_UNKNOWN_MEMBER_ID || code == ELOG_PE_FENCED_MEMBER_EPOCH) {
			elog_cli_warn("%s; giving up my partitions and joining again", err->msg);
			group_rejoin(c, m);
			return 0;
		}
		/* -e, -n and --timeout give up; a follower waits the coordinator
		 * out, owning nothing meanwhile (its session ran out long ago). */
		if (bounded_run || c->timeout_given)
			return -1;
		if (!m->lost++)
			elog_cli_warn("%s; giving up my partitions, trying again", err->msg);
		if (m->count || m->hb.member_id[0])
			group_rejoin(c, m);
		m->next_hb_ms = elog_clock_ms() + 1000;
		return 0;
	}
	if (m->lost) {
		elog_cli_error("group '%s': the coordinator answers again", c->group);
		m->lost = 0;
	}
	/* The session counts from when the request left, as the broker's does
	 * from when it arrived, or later. */
	m->last_ok_ms = sent;
	m->next_hb_ms = elog_clock_ms() + (m->hb.interval_ms ? m->hb.interval_ms : 500);
	if (!m->hb.assigned)
		return 0;
	m->answered = 1;
	rc = group_apply(c, m, err);
	if (rc == -1) {
		group_rejoin(c, m);
		return 0;
	}
	if (rc == -2)
		return -1;
	if (rc == 1)
		m->next_hb_ms = 0;   /* say at once what was given up */
	return 0;
}

/* The part of a record printed (the last one's, most often). */
static struct gpart *group_part(struct member *m, const struct elog_fetched *rec)
{
	if (m->cached < m->count && m->parts[m->cached].partition == rec->partition &&
	    strcmp(m->parts[m->cached].topic, rec->topic) == 0)
		return &m->parts[m->cached];
	for (size_t i = 0; i < m->count; i++)
		if (m->parts[i].partition == rec->partition && strcmp(m->parts[i].topic, rec->topic) == 0)
			return &m->parts[m->cached = i];
	return NULL;
}

/* At the end: what was printed written out and committed, the group left. */
static void group_leave(struct consume *c, struct member *m)
{
	struct elog_err err;

	flush_out(c);
	/* Stopping: a coordinator that is gone too gets a few seconds, not
	 * the whole --timeout. */
	if (c->timeout_ms > LEAVE_TIMEOUT_MS)
		elog_client_set_request_timeout(m->client, LEAVE_TIMEOUT_MS);
	if (m->hb.member_id[0] && group_commit(c, m) == 0) {
		group_drop_all(m);
		group_say_owned(c, m);
		m->hb.epoch = c->instance_id ? -2 : -1;
		m->hb.owned_count = 0;
		if (elog_client_group_heartbeat(m->client, &m->hb, &err) < 0)
			elog_cli_warn("%s", err.msg);
	}
}

/* Records handed out between two looks at the clock (heartbeat, commit,
 * silence): a look costs little, but not nothing at millions a second. */
#define GROUP_CLOCK_EVERY 256

static int group_loop(struct consume *c, struct member *m)
{
	struct elog_fetched rec;
	struct elog_err err;
	uint32_t tick = 0;
	int64_t wait = 0;
	int rc;

	elog_cli_setup = 0;
	while (!elog_cli_stops && !c->stdout_closed && !count_reached(c)) {
		if (c->idle || !m->count || ++tick % GROUP_CLOCK_EVERY == 0) {
			int64_t now = elog_clock_ms();
			/* Due, or silent longer than a session (stopped, or starved:
			 * it may have been replaced): it asks before printing more. */
			if (now >= m->next_hb_ms || now - m->last_ok_ms >= c->session_timeout_ms) {
				if (group_heartbeat(c, m, &err) < 0) {
					flush_out(c);
					if (elog_cli_stops)
						break;
					elog_cli_error_err(&err, NULL);
					return ELOG_EXIT_FAIL;
				}
				continue;
			}
			if (now - m->last_commit_ms >= c->commit_interval_ms && group_commit(c, m) < 0) {
				group_rejoin(c, m);
				continue;
			}
			/* -e: what it was given is read to its end, and nothing more
			 * is on its way to it. */
			if (c->exit_at_end && m->answered && !m->hb.waiting &&
			    (!m->count || elog_fetcher_done(m->f)))
				break;
			wait = m->next_hb_ms - now;
			if (wait > WAIT_SLICE_MS)
				wait = WAIT_SLICE_MS;
		}
		if (!m->count) {
			if (flush_out(c) < 0)
				return ELOG_EXIT_FAIL;
			poll(NULL, 0, (int)wait);
			continue;
		}
		rc = elog_fetcher_next(m->f, &rec, c->idle ? (int)wait : 0, &err);
		if (rc < 0) {
			flush_out(c);
			if (elog_cli_stops)
				break;
			elog_cli_error_err(&err, NULL);
			return ELOG_EXIT_FAIL;
		}
		if (rc == 0) {
			/* Nothing ready: write out what we have, then wait in slices. */
			if (!c->idle && flush_out(c) < 0)
				return ELOG_EXIT_FAIL;
			if (stdout_gone())
				c->stdout_closed = 1;
			c->idle = 1;
			continue;
		}
		if (c->idle) {
			/* It waited: it may have been stopped meanwhile. */
			c->idle = 0;
			if (elog_clock_ms() - m->last_ok_ms >= c->session_timeout_ms &&
			    group_heartbeat(c, m, &err) < 0) {
				flush_out(c);
				if (elog_cli_stops)
					break;
				elog_cli_error_err(&err, NULL);
				return ELOG_EXIT_FAIL;
			}
		}
		if (rc == ELOG_FETCHER_CAUGHT_UP) {
			if (notice_end(c, &rec) < 0)
				return ELOG_EXIT_FAIL;
			continue;
		}
		{
			struct gpart *gp = group_part(m, &rec);
			if (!gp)
				continue;   /* given up a moment ago */
			gp->rendered = rec.record->offset + 1;
			gp->hw = rec.high_watermark;
			if (print_record(c, &rec) < 0)
				return ELOG_EXIT_FAIL;
			c->printed++;
		}
	}
	group_leave(c, m);
	return ELOG_EXIT_OK;
}

/*
 * --exec / --coproc: records go to the processor while it has room, and
 * the commits follow what it finished. A retry tier's partition whose
 * head is not due is taken out of the fetcher until it is. Stopping
 * (signal, -n, -e): nothing new starts; what runs finishes (at most
 * LEAVE_TIMEOUT_MS), then the last commit and the leave.
 */
static int proc_resume(struct member *m, int64_t wall, int exit_at_end)
{
	struct elog_pos end = {.kind = ELOG_POS_LATEST, .value = 0};
	int64_t next = 0;

	for (size_t i = 0; i < m->count; i++) {
		struct gpart *gp = &m->parts[i];
		struct elog_pos pos = {.kind = ELOG_POS_OFFSET, .value = gp->resume_at};
		struct elog_err err;
		if (!gp->paused_until)
			continue;
		if (wall >= gp->paused_until) {
			if (elog_fetcher_add(m->f, gp->topic, (int32_t)gp->partition, &pos,
					     exit_at_end ? &end : NULL, &err) == 0) {
				gp->paused_until = 0;
				continue;
			}
			gp->paused_until = wall + 500;   /* the broker: again soon */
		}
		if (!next || gp->paused_until < next)
			next = gp->paused_until;
	}
	return next ? next - wall : -1;
}

/* Every record taken is done (-n waits for a retry tier's records too). */
static int proc_empty(const struct elog_processor *p)
{
	struct elog_processor_stats st;

	elog_processor_stats(p, &st);
	return st.queued == 0;
}

static void proc_say(void *ctx, const char *line)
{
	(void)ctx;
	elog_cli_error("%s", line);
}

static int proc_loop(struct consume *c, struct member *m)
{
	struct elog_processor *p = c->proc;
	struct elog_fetched rec;
	struct elog_err err;
	uint64_t taken = 0;
	int64_t stop_by = 0;
	int rc, ended = 0, status = ELOG_EXIT_OK;

	elog_cli_setup = 0;
	for (;;) {
		int64_t now = elog_clock_ms(), wall = elog_wall_ms(), wait, resume;
		int took = 0;

		if (!stop_by && elog_cli_stops) {
			elog_processor_stop_starting(p);
			stop_by = now + LEAVE_TIMEOUT_MS;
		}
		if (stop_by && (elog_processor_quiet(p) || now >= stop_by))
			break;
		if (now >= m->next_hb_ms || now - m->last_ok_ms >= c->session_timeout_ms) {
			if (group_heartbeat(c, m, &err) < 0) {
				if (elog_cli_stops)
					break;
				elog_cli_error_err(&err, NULL);
				status = ELOG_EXIT_FAIL;
				break;
			}
			continue;
		}
		if (now - m->last_commit_ms >= c->commit_interval_ms && group_commit(c, m) < 0) {
			group_rejoin(c, m);
			continue;
		}
		resume = proc_resume(m, wall, c->exit_at_end);
		/* -n: COUNT taken and done; -e: what it was given read to its end,
		 * nothing more on its way, and everything taken done (records a
		 * retry tier holds stay there). */
		if (!stop_by && elog_processor_drained(p) &&
		    ((c->has_count && taken >= c->count && proc_empty(p)) ||
		     (c->exit_at_end && m->answered && !m->hb.waiting &&
		      (!m->count || elog_fetcher_done(m->f))))) {
			ended = 1;
			break;
		}
		while (!stop_by && m->count && elog_processor_room(p) && took < 256 &&
		       !(c->has_count && taken >= c->count)) {
			struct gpart *gp;
			int64_t not_before;
			rc = elog_fetcher_next(m->f, &rec, 0, &err);
			if (rc < 0) {
				elog_cli_error_err(&err, NULL);
				status = ELOG_EXIT_FAIL;
				goto out;
			}
			if (rc == 0)
				break;
			if (rc == ELOG_FETCHER_CAUGHT_UP)
				continue;
			if (!(gp = group_part(m, &rec)) || gp->paused_until)
				continue;
			if ((not_before = elog_processor_add(p, &rec, &err)) < 0) {
				elog_cli_error_err(&err, NULL);
				status = ELOG_EXIT_FAIL;
				goto out;
			}
			took++;
			taken++;
			gp->rendered = rec.record->offset + 1;
			gp->hw = rec.high_watermark;
			if (not_before > 0) {
				/* Not due: nothing more of it until then. */
				elog_fetcher_remove(m->f, gp->topic, gp->partition, &err);
				gp->paused_until = not_before;
				gp->resume_at = rec.record->offset + 1;
				if (resume < 0 || not_before - wall < resume)
					resume = not_before - wall;
			}
		}
		wait = took ? 0 : elog_processor_timeout_ms(p);
		if (!took) {
			int64_t hb = m->next_hb_ms - now;
			if (wait < 0 || wait > WAIT_SLICE_MS)
				wait = WAIT_SLICE_MS;
			if (hb < wait)
				wait = hb < 0 ? 0 : hb;
			if (resume >= 0 && resume < wait)
				wait = resume;
			if (wait > 0) {
				struct pollfd fds[512];
				size_t n = elog_processor_pollfds(p, fds, 256);
				if (m->count && elog_processor_room(p) && !stop_by)
					n += elog_fetcher_pollfds(m->f, fds + n, 512 - n);
				poll(fds, (nfds_t)n, (int)wait);
			}
		}
		if (elog_processor_poll(p, 0, &err) < 0) {
			elog_cli_error_err(&err, "cannot hand a record on");
			status = ELOG_EXIT_FAIL;
			break;
		}
	}
out:
	group_leave(c, m);
	if (status == ELOG_EXIT_OK && elog_cli_stops && bounded_run && !ended) {
		elog_cli_error("interrupted before reaching the end");
		status = ELOG_EXIT_FAIL;
	}
	return status;
}

static int group_run(struct consume *c, struct elog_client *client, struct elog_fetcher *f)
{
	static struct member m;
	const char **topics;
	struct elog_err err;
	char host[64];
	int rc;

	if (!(topics = calloc(c->selection_count, sizeof(*topics)))) {
		elog_cli_error("out of memory");
		return ELOG_EXIT_FAIL;
	}
	for (size_t i = 0; i < c->selection_count; i++)
		topics[i] = c->selections[i].topic;
	/* A topic that does not exist is an error, as without -g (the group
	 * would wait for it for ever). */
	{
		const struct elog_metadata *md = NULL;
		int64_t deadline = elog_clock_ms() + c->timeout_ms;
		uint32_t attempt = 0;
		while (!(md = elog_client_metadata(client, topics, c->selection_count, &err)) &&
		       err.code == ELOG_E_IO && elog_clock_ms() < deadline && !elog_cli_stops)
			poll(NULL, 0, (int)elog_backoff_ms(attempt++, CONNECT_BACKOFF_MS,
							   CONNECT_BACKOFF_MAX_MS, (uint32_t)rand()));
		for (size_t i = 0; md && i < c->selection_count; i++) {
			const struct elog_meta_topic *t = elog_metadata_topic(md, topics[i]);
			if (!t || t->error) {
				elog_err_set(&err, ELOG_E_INVAL, "topic '%s': %s", topics[i],
					     elog_proto_error_text(t ? t->error : ELOG_PE_UNKNOWN_TOPIC));
				md = NULL;
			}
		}
		if (!md) {
			elog_cli_error_err(&err, NULL);
			free(topics);
			return ELOG_EXIT_FAIL;
		}
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = 0;
	m.client = client;
	m.f = f;
	snprintf(m.client_id, sizeof(m.client_id), "elog-consume@%s:%ld", host, (long)getpid());
	m.hb.group = c->group;
	m.hb.instance_id = c->instance_id;
	m.hb.client_id = m.client_id;
	m.hb.assignor = c->assignor;
	m.hb.session_timeout_ms = (uint32_t)c->session_timeout_ms;
	m.hb.topics = topics;
	m.hb.topic_count = c->selection_count;
	m.last_commit_ms = elog_clock_ms();
	if (c->pc.runner.command) {
		size_t count;
		c->pc.group = c->group;
		c->pc.member_host = host;
		/* A co-process that died is started again after --backoff too. */
		c->pc.runner.restart_backoff_min_ms = c->pc.backoff_min_ms;
		c->pc.runner.restart_backoff_max_ms = c->pc.backoff_max_ms;
		c->pc.say = proc_say;
		if (!(c->proc = elog_processor_new(client, &c->pc, topics, c->selection_count, &err)) ||
		    elog_processor_prepare(c->proc, &err) < 0) {
			elog_cli_error_err(&err, NULL);
			elog_processor_free(c->proc);
			c->proc = NULL;
			free(topics);
			return ELOG_EXIT_FAIL;
		}
		processing = 1;
		m.proc = c->proc;
		m.hb.topics = elog_processor_subscription(c->proc, &count);
		m.hb.topic_count = count;
	}
	the_member = &m;
	rc = c->proc ? proc_loop(c, &m) : group_loop(c, &m);
	the_member = NULL;
	group_drop_all(&m);
	if (c->proc) {
		elog_processor_free(c->proc);
		c->proc = NULL;
		m.proc = NULL;
	}
	free(m.parts);
	free(m.owned);
	elog_group_tps_release(m.hb.assignment, m.hb.assignment_count);
	free(topics);
	return rc;
}

/* --at-most-once: what is about to be written is committed first; when
 * that fails it is not written (it may be read again, by another member). */
static int group_commit_first(struct consume *c)
{
	if (!the_member)
		return 0;
	if (group_commit(c, the_member) < 0) {
		elog_buf_reset(&c->out);
		group_rejoin(c, the_member);
		return 0;
	}
	if (the_member->commit_failed) {
		elog_cli_error("--at-most-once: nothing is written that was not committed first");
		return -1;
	}
	return 0;
}

static int run(struct consume *c)
{
	struct elog_client_config cc;
	struct elog_fetcher_config fc;
	struct elog_client *client = NULL;
	struct elog_fetcher *f = NULL;
	struct elog_err err;
	int rc = ELOG_EXIT_FAIL;

	elog_client_config_init(&cc);
	cc.brokers = c->brokers;
	if (c->connect_timeout_ms)
		cc.connect_timeout_ms = (int)c->connect_timeout_ms;
	if (c->timeout_ms < cc.request_timeout_ms)
		cc.request_timeout_ms = (int)c->timeout_ms;
	elog_fetcher_config_init(&fc);
	/* -e and -n give up on a broker after --timeout; a follower waits it out
	 * unless --timeout was given. */
	fc.retry_timeout_ms = bounded_run || c->timeout_given ? (uint32_t)c->timeout_ms
							       : ELOG_FETCHER_RETRY_FOREVER;
	fc.report_caught_up = c->notices;
	if (!(client = elog_client_new(&cc, &err)) || !(f = elog_fetcher_new(client, &fc, &err)) ||
	    (!c->group && add_selections(c, f, &err) < 0)) {
		elog_cli_error_err(&err, NULL);
		goto out;
	}
	rc = c->group ? group_run(c, client, f) : consume_loop(c, f);
out:
	if (f)
		elog_fetcher_free(f);
	if (client)
		elog_client_free(client);
	return rc;
}

/* ---------------------------------------------------------------- options */

/* TOPIC[:PARTITION[,PARTITION...]]; the operand is split in place. -1 to go on. */
static int parse_operand(struct consume *c, char *operand)
{
	return elog_cli_target_operand(&program, "", operand, c->selections, &c->selection_count,
				       SELECTIONS_MAX);
}

/* --retry-on: "75", "75,1-3", "all", "none". */
static int parse_retry_on(uint8_t *set, const char *arg, struct elog_err *err)
{
	memset(set, 0, 256);
	if (strcmp(arg, "none") == 0)
		return 0;
	if (strcmp(arg, "all") == 0) {
		memset(set + 1, 1, 255);
		return 0;
	}
	for (const char *at = arg; *at;) {
		char *end;
		long lo = strtol(at, &end, 10), hi = lo;
		if (end == at)
			return elog_err_set(err, ELOG_E_INVAL, "'%s': exit statuses N or N-M, comma "
					    "separated, or all or none", arg);
		if (*end == '-') {
			at = end + 1;
			hi = strtol(at, &end, 10);
			if (end == at)
				return elog_err_set(err, ELOG_E_INVAL, "'%s': a range N-M", arg);
		}
		if (lo < 1 || hi > 255 || lo > hi)
			return elog_err_set(err, ELOG_E_INVAL, "'%s': statuses are 1..255", arg);
		for (long s = lo; s <= hi; s++)
			set[s] = 1;
		if (*end != ',' && *end)
			return elog_err_set(err, ELOG_E_INVAL, "'%s': exit statuses N or N-M, comma "
					    "separated", arg);
		at = end + (*end == ',');
	}
	return 0;
}

static int parse_option(struct consume *c, int id, const char *arg)
{
	struct elog_broker_addr addrs[ELOG_BROKERS_MAX];
	struct elog_err err;
	size_t n;
	int rc;

	switch (id) {
	case 'b':
		if (elog_brokers_parse(arg, addrs, ELOG_BROKERS_MAX, &n, &err) < 0)
			return elog_cli_usage_error(&program, "-b: %s", err.msg);
		c->brokers = arg;
		return -1;
	case 'o':
		if (elog_pos_parse(arg, &c->start, &err) < 0)
			return elog_cli_usage_error(&program, "-o: %s", err.msg);
		c->offset_given = 1;
		return -1;
	case 'e':
		c->exit_at_end = 1;
		return -1;
	case 'n':
		if (elog_cli_parse_u64(arg, 0, UINT64_MAX, &c->count, &err) < 0)
			return elog_cli_usage_error(&program, "-n: %s", err.msg);
		c->has_count = 1;
		return -1;
	case 'J':
		if (c->mode == ELOG_OUTPUT_FORMAT)
			return elog_cli_usage_error(&program, "--json and -f exclude each other");
		c->mode = ELOG_OUTPUT_JSON;
		return -1;
	case 'f':
		if (c->mode == ELOG_OUTPUT_JSON)
			return elog_cli_usage_error(&program, "--json and -f exclude each other");
		if (elog_format_compile(&c->format, arg, &err) < 0)
			return elog_cli_usage_error(&program, "-f: %s", err.msg);
		c->mode = ELOG_OUTPUT_FORMAT;
		return -1;
	case 'q':
		c->notices = 0;
		c->group_notices = 0;
		c->pc.runner.quiet = 1;
		return -1;
	case 'g':
		if (!arg[0] || strlen(arg) > 255)
			return elog_cli_usage_error(&program, "-g: a group name is 1 to 255 bytes");
		c->group = arg;
		return -1;
	case OPT_RESET:
		if (strcmp(arg, "earliest") == 0)
			c->reset.kind = ELOG_POS_EARLIEST;
		else if (strcmp(arg, "latest") == 0)
			c->reset.kind = ELOG_POS_LATEST;
		else
			return elog_cli_usage_error(&program, "--reset: earliest or latest, not '%s'", arg);
		c->reset_given = 1;
		return -1;
	case OPT_COMMIT_INTERVAL:
		c->group_only_given = "--commit-interval";
		return elog_cli_duration_option(&program, "--commit-interval", arg, 0, 3600000, "0..1h",
						&c->commit_interval_ms);
	case OPT_AT_MOST_ONCE:
		c->group_only_given = "--at-most-once";
		c->at_most_once = 1;
		return -1;
	case OPT_SESSION_TIMEOUT:
		c->group_only_given = "--session-timeout";
		return elog_cli_duration_option(&program, "--session-timeout", arg, 1000, 300000,
						"1s..5m", &c->session_timeout_ms);
	case OPT_INSTANCE_ID:
		if (!arg[0] || strlen(arg) > 255)
			return elog_cli_usage_error(&program, "--instance-id: 1 to 255 bytes");
		c->group_only_given = "--instance-id";
		c->instance_id = arg;
		return -1;
	case OPT_ASSIGNOR:
		if (strcmp(arg, "sticky") && strcmp(arg, "range") && strcmp(arg, "roundrobin"))
			return elog_cli_usage_error(&program, "--assignor: sticky, range or roundrobin, "
						    "not '%s'", arg);
		c->group_only_given = "--assignor";
		c->assignor = arg;
		return -1;
	case OPT_EXEC:
	case OPT_COPROC:
		if (c->pc.runner.command)
			return elog_cli_usage_error(&program, "--exec and --coproc exclude each other, "
						    "and each is given once");
		if (!arg[0])
			return elog_cli_usage_error(&program, "%s: an empty command",
						    id == OPT_EXEC ? "--exec" : "--coproc");
		c->pc.runner.command = arg;
		c->pc.runner.mode = id == OPT_EXEC ? ELOG_RUNNER_EXEC : ELOG_RUNNER_COPROC;
		c->group_only_given = id == OPT_EXEC ? "--exec" : "--coproc";
		return -1;
	case OPT_EXEC_TIMEOUT: {
		int64_t ms;
		c->proc_only_given = "--exec-timeout";
		if ((rc = elog_cli_duration_option(&program, "--exec-timeout", arg, 1, 86400000,
						   "1ms..1d", &ms)) >= 0)
			return rc;
		c->pc.runner.timeout_ms = (uint32_t)ms;
		return -1;
	}
	case OPT_RETRY_ON:
		c->proc_only_given = "--retry-on";
		if (parse_retry_on(c->pc.runner.retry_status, arg, &err) < 0)
			return elog_cli_usage_error(&program, "--retry-on: %s", err.msg);
		return -1;
	case OPT_CONCURRENCY:
	case OPT_RETRIES:
	case OPT_BREAKER: {
		const char *name = id == OPT_CONCURRENCY ? "--concurrency" : id == OPT_RETRIES
				   ? "--retries" : "--breaker";
		uint64_t v;
		c->proc_only_given = name;
		if (elog_cli_parse_u64(arg, id == OPT_CONCURRENCY ? 1 : 0,
				       id == OPT_CONCURRENCY ? ELOG_RUNNER_SLOTS_MAX : 1000, &v, &err) < 0)
			return elog_cli_usage_error(&program, "%s: %s", name, err.msg);
		if (id == OPT_CONCURRENCY)
			c->pc.runner.slots = (uint32_t)v;
		else if (id == OPT_RETRIES)
			c->pc.retries = (uint32_t)v;
		else
			c->pc.breaker = (uint32_t)v;
		return -1;
	}
	case OPT_BACKOFF: {
		const char *dots = strstr(arg, "..");
		char lo[32];
		int64_t min_ms, max_ms;
		c->proc_only_given = "--backoff";
		if (!dots || (size_t)(dots - arg) >= sizeof(lo))
			return elog_cli_usage_error(&program, "--backoff: MIN..MAX, e.g. 200ms..30s, "
						    "not '%s'", arg);
		memcpy(lo, arg, (size_t)(dots - arg));
		lo[dots - arg] = 0;
		if (elog_cli_parse_duration_ms(lo, &min_ms, &err) < 0 ||
		    elog_cli_parse_duration_ms(dots + 2, &max_ms, &err) < 0)
			return elog_cli_usage_error(&program, "--backoff: %s", err.msg);
		if (min_ms < 1 || max_ms < min_ms || max_ms > 86400000)
			return elog_cli_usage_error(&program, "--backoff: 1ms <= MIN <= MAX <= 1d");
		c->pc.backoff_min_ms = (uint32_t)min_ms;
		c->pc.backoff_max_ms = (uint32_t)max_ms;
		return -1;
	}
	case OPT_RETRY_TOPICS: {
		const char *at = arg;
		c->proc_only_given = "--retry-topics";
		c->pc.tier_count = 0;
		while (*at) {
			size_t len = strcspn(at, ",");
			char *t;
			int64_t ms;
			if (c->pc.tier_count == ELOG_PROCESSOR_TIERS_MAX)
				return elog_cli_usage_error(&program, "--retry-topics: at most %d",
							    ELOG_PROCESSOR_TIERS_MAX);
			t = c->tier_text[c->pc.tier_count];
			if (len == 0 || len >= sizeof(c->tier_text[0]))
				return elog_cli_usage_error(&program, "--retry-topics: DELAY,DELAY,..., "
							    "e.g. 1m,10m,1h");
			memcpy(t, at, len);
			t[len] = 0;
			if (elog_cli_parse_duration_ms(t, &ms, &err) < 0 || ms < 1)
				return elog_cli_usage_error(&program, "--retry-topics: '%s': %s", t,
							    ms < 1 ? "must be positive" : err.msg);
			for (char *q = t; *q; q++)
				if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
					return elog_cli_usage_error(&program, "--retry-topics: '%s': "
								    "digits and a unit only", t);
			c->pc.tier_name[c->pc.tier_count] = t;
			c->pc.tier_ms[c->pc.tier_count++] = ms;
			at += len + (at[len] == ',');
		}
		return -1;
	}
	case OPT_DLQ_TOPIC:
		c->proc_only_given = "--dlq-topic";
		if (elog_topic_name_check(arg, strlen(arg), 0, &err) < 0)
			return elog_cli_usage_error(&program, "--dlq-topic: %s", err.msg);
		c->pc.dlq_topic = arg;
		return -1;
	case OPT_TIMEOUT:
		c->timeout_given = 1;
		return elog_cli_duration_option(&program, "--timeout", arg, 1, INT32_MAX / 2, "1ms..12d",
						&c->timeout_ms);
	case OPT_CONNECT_TIMEOUT:
		return elog_cli_duration_option(&program, "--connect-timeout", arg, 1, 600000, "1ms..10m",
						&c->connect_timeout_ms);
	case ELOG_CLI_DONE:
		return ELOG_EXIT_OK;
	default:
		return elog_cli_usage_error(&program, NULL);
	}
}

/* Options and operands into c; returns -1 to go on, else the exit code. */
static int parse_args(struct consume *c, int argc, char **argv)
{
	struct elog_broker_addr addrs[ELOG_BROKERS_MAX];
	struct elog_cli_getopt g;
	struct elog_err err;
	size_t n;
	int id, rc;

	c->start = (struct elog_pos){.kind = ELOG_POS_EARLIEST, .value = 0};
	c->mode = ELOG_OUTPUT_VALUE;
	c->timeout_ms = TIMEOUT_DEFAULT_MS;
	c->notices = isatty(STDERR_FILENO);
	c->group_notices = 1;
	c->reset = (struct elog_pos){.kind = ELOG_POS_EARLIEST, .value = 0};
	c->commit_interval_ms = 1000;
	c->session_timeout_ms = 10000;
	elog_processor_config_init(&c->pc);
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END)
		if ((rc = parse_option(c, id, g.arg)) >= 0)
			return rc;
	if (!c->group && (c->group_only_given || c->reset_given))
		return elog_cli_usage_error(&program, "%s needs -g GROUP",
					    c->group_only_given ? c->group_only_given : "--reset");
	if (c->pc.breaker > c->pc.retries + 1)
		return elog_cli_usage_error(&program, "--breaker %" PRIu32 ": at most --retries + 1 "
					    "(%" PRIu32 "), so that an outage opens it before a record "
					    "used up its tries", c->pc.breaker, c->pc.retries + 1);
	if (c->proc_only_given && !c->pc.runner.command)
		return elog_cli_usage_error(&program, "%s needs --exec or --coproc", c->proc_only_given);
	if (c->pc.runner.command && (c->at_most_once || c->mode != ELOG_OUTPUT_VALUE))
		return elog_cli_usage_error(&program, "%s: the command's verdicts decide the commits "
					    "and nothing is printed: not with %s",
					    c->pc.runner.mode == ELOG_RUNNER_EXEC ? "--exec" : "--coproc",
					    c->at_most_once ? "--at-most-once" : "--json or -f");
	if (c->group && c->offset_given)
		return elog_cli_usage_error(&program, "-o and -g exclude each other: a group starts "
					    "at its committed offsets (--reset where it has none; "
					    "elog-replay -g moves them)");
	if (c->exit_at_end)
		c->notices = 0;   /* the end is where it stops: nothing to announce */
	if (g.index >= argc)
		return elog_cli_usage_error(&program, "missing topic");
	for (int i = g.index; i < argc; i++)
		if ((rc = parse_operand(c, argv[i])) >= 0)
			return rc;
	if (c->pc.runner.command && c->selection_count > ELOG_PROCESSOR_TOPICS_MAX)
		return elog_cli_usage_error(&program, "%s: at most %d topics",
					    c->pc.runner.mode == ELOG_RUNNER_EXEC ? "--exec" : "--coproc",
					    ELOG_PROCESSOR_TOPICS_MAX);
	for (size_t i = 0; c->group && i < c->selection_count; i++)
		if (c->selections[i].partition >= 0)
			return elog_cli_usage_error(&program, "-g: name topics, not partitions (%s:%d): "
						    "the group decides who reads which",
						    c->selections[i].topic, (int)c->selections[i].partition);
	if (!c->brokers &&
	    elog_brokers_parse(elog_brokers_choose(NULL), addrs, ELOG_BROKERS_MAX, &n, &err) < 0)
		return elog_cli_usage_error(&program, "%s: %s", ELOG_BROKERS_ENV, err.msg);
	return -1;
}

int main(int argc, char **argv)
{
	static struct consume c;
	int rc;

	elog_cli_init(argv[0]);
	if ((rc = parse_args(&c, argc, argv)) >= 0)
		return rc;
	bounded_run = c.exit_at_end || c.has_count;
	elog_cli_stop_signals(bounded_run ? ELOG_EXIT_FAIL : ELOG_EXIT_OK,
			      bounded_run ? "interrupted before reaching the end" : NULL);
	elog_buf_init(&c.out, OUT_BYTES_MAX);
	if (elog_buf_reserve(&c.out, OUT_FLUSH_BYTES + (64u << 10), NULL) < 0) {
		elog_cli_error("cannot allocate the output buffer");
		return ELOG_EXIT_FAIL;
	}
	rc = run(&c);
	elog_buf_release(&c.out);
	return rc;
}
