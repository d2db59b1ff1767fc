/*
 * elog-history — a Jepsen-style workload and history checker for elog
 * (docs/testing.md, "Proving it").
 *
 *   elog-history run [-b brokers] [-t topic] [-p partitions] [-R replicas]
 *                    [-P producers] [-C consumers] [-d duration] [-r rate] [--flush policy]
 *                    [--timeout duration] [--final-timeout duration] dir
 *   elog-history check file
 *
 * run creates the topic when it does not exist (with --flush), forks P
 * producers and C consumers for the duration, then reads every partition
 * in full from offset 0 (retrying until --final-timeout, so a nemesis can
 * heal its faults meanwhile), writes dir/history and checks it as check
 * does. Producers use acks=all and the idempotent producer; every value is
 * unique, the JSON string "p<producer>-<seq>". Consumers read every
 * partition from the earliest offset, following, and restart (from where
 * they were) when their fetcher gives up.
 *
 * The history is text, one event a line, ms since start_ms first:
 *
 *   # elog-history 1 topic=T partitions=N producers=P consumers=C start_ms=E
 *   T pI invoke SEQ                   producer I sends value pI-SEQ
 *   T pI ok SEQ PARTITION OFFSET      acknowledged there
 *   T pI fail SEQ CODE REASON...      refused (CODE > 0: the broker's error)
 *   T pI info SEQ REASON...           indeterminate: timed out, connection lost,
 *                                     or never reported before the end
 *   T cI poll PARTITION OFFSET VALUE  consumer I saw VALUE there ('-': not ours)
 *   T cI restart REASON...            consumer I started a new fetcher
 *   T final PARTITION OFFSET VALUE    the final read
 *   T final-end PARTITION LOG_START END   the final read covered [LOG_START, END)
 *
 * Each producer's and consumer's lines are in the order they happened;
 * workers write their own files (dir/history.pI, dir/history.cI) which run
 * joins after the final read, so lines of different workers are not
 * interleaved by time.
 *
 * The checker reads the file twice: the first pass takes sends,
 * acknowledgements and the final read; the second checks every poll
 * against the final read. Anomalies (Jepsen's Kafka workload):
 *   lost-write            acknowledged, or seen by a poll, and absent from
 *                         the final read
 *   duplicate             one value at two offsets (final read, or a poll
 *                         elsewhere than the final read has it)
 *   inconsistent-offsets  one offset, two values (a poll disagrees with the
 *                         final read, or a lost write's acknowledged offset
 *                         holds another value)
 *   nonmonotonic-poll     a consumer's offsets in a partition not increasing,
 *                         without a restart between
 *   poll-skip             a consumer went from offset a to b > a + 1 while the
 *                         final read holds a record between them
 *   nonmonotonic-send     a producer's acknowledged offsets in a partition
 *                         not increasing
 *   ack-offset-mismatch   acknowledged at one offset, found at another
 *   phantom               a value read that no producer ever sent
 *
 * Availability figures, not anomalies: how long acknowledged sends took
 * (invoke to ok: p50, p99, max), and the windows in which a partition went
 * GAP_MS or more between two of its acknowledgements (a failover, a paused
 * or cut-off leader), with their count and p50, p99, max, total.
 *
 * Memory: 32 bytes per send (struct send), 8 bytes per offset of the final
 * read (uint64_t) and 8 per acknowledgement (its time and its latency), so
 * about 48 MB per million records, plus 8 bytes
 * per (producer or consumer) x partition. Polls are checked as they are read
 * and not kept.
 *
 * --allow KINDS reports those kinds but does not fail on them (a known bug
 * being fixed elsewhere; see docs/testing.md).
 *
 * Exit: 0 no anomaly, 1 anomalies found (or the run failed), 2 could not run
 * or check (usage, unreadable or malformed history, no final read).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define WORKERS_MAX 64
#define PARTITIONS_MAX 65535u
#define SEQ_MAX (UINT64_C(1) << 40)
#define EXAMPLES_MAX 5
#define LINE_MAX_BYTES 4096
#define VALUE_NONE UINT64_C(0)          /* final read: no record at this offset */
#define VALUE_FOREIGN UINT64_MAX         /* final read: a record not from a history */
#define GAP_MS 250u                      /* a partition this long without an ack: unavailable */

enum {
	OPT_FLUSH = 256,
	OPT_TIMEOUT,
	OPT_FINAL_TIMEOUT,
	OPT_REQUEST_TIMEOUT,
	OPT_ALLOW,
	OPT_VERSION,
};

static const struct elog_cli_option options[] = {
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'t', "topic", "TOPIC", "topic to use, created when missing (default history)"},
	{'p', "partitions", "N", "partitions of a topic it creates (default 3)"},
	{'R', "replication-factor", "N",
	 "replication factor of a topic it creates (default 0: the brokers' default)"},
	{'P', "producers", "N", "producer processes (default 2)"},
	{'C', "consumers", "N", "consumer processes (default 2)"},
	{'d', "duration", "DURATION", "how long producers send (default 10s)"},
	{'r', "rate", "N", "records per second per producer (default 200)"},
	{OPT_FLUSH, "flush", "POLICY", "flush of a topic it creates (default always)"},
	{OPT_TIMEOUT, "timeout", "DURATION", "producer delivery timeout (default 10s)"},
	{OPT_REQUEST_TIMEOUT, "request-timeout", "DURATION",
	 "resend a produce request unanswered this long (default 1s)"},
	{OPT_ALLOW, "allow", "KINDS",
	 "report these anomaly kinds (comma-separated) but do not fail on them"},
	{OPT_FINAL_TIMEOUT, "final-timeout", "DURATION",
	 "keep trying the final read this long (default 60s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	"[-b brokers] [-t topic] [-p partitions] [-R replicas] [-P producers] [-C consumers] "
	"[-d duration] [-r rate] [--flush policy] [--timeout duration] [--request-timeout duration] "
	"[--final-timeout duration] [--allow kinds] run dir | [--allow kinds] check file",
	"Run producers and consumers against a topic and check the history for lost, "
	"duplicated and reordered records.",
	options,
};

struct run_config {
	const char *brokers;
	const char *topic;
	const char *flush;
	uint32_t partitions, producers, consumers, rate;
	uint16_t replication_factor;   /* 0: the brokers' default_replication_factor */
	int64_t duration_ms, timeout_ms, request_timeout_ms, final_timeout_ms;
	unsigned allowed;              /* bit per enum anomaly: reported, not failed on */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ================================================================ workers */

struct worker {
	FILE *out;
	int64_t start_ms;              /* wall clock, as in the header */
	uint32_t id;
};

static void event(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void event(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	fprintf(w->out, "%" PRId64 " ", wall_ms() - w->start_ms);
	va_start(ap, fmt);
	vfprintf(w->out, fmt, ap);
	va_end(ap);
	fputc('\n', w->out);
}

/* A reason on one line: newlines become blanks. */
static const char *one_line(char *s)
{
	for (char *c = s; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return s[0] ? s : "-";
}

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct worker *w = ctx;
	char why[ELOG_ERR_MSG_MAX];

	snprintf(why, sizeof why, "%s", d->message ? d->message : "");
	for (uint32_t i = 0; i < d->record_count; i++) {
		if (d->error == 0)
			event(w, "p%" PRIu32 " ok %" PRIu64 " %" PRIu32 " %" PRId64, w->id, d->tags[i],
			      d->partition, d->base_offset + (int64_t)i);
		else if (d->error > 0)
			event(w, "p%" PRIu32 " fail %" PRIu64 " %d %s", w->id, d->tags[i], d->error,
			      one_line(why));
		else
			event(w, "p%" PRIu32 " info %" PRIu64 " %s", w->id, d->tags[i],
			      one_line(why));
	}
}

static struct elog_client *client_open(const struct run_config *rc, struct elog_err *err)
{
	struct elog_client_config cc;

	elog_client_config_init(&cc);
	cc.brokers = rc->brokers;
	cc.connect_timeout_ms = 1000;
	cc.request_timeout_ms = (int)rc->timeout_ms;
	return elog_client_new(&cc, err);
}

/*
 * One producer process: sends pI-0, pI-1, ... at the rate until the
 * deadline, then flushes for at most the delivery timeout. A record never
 * reported (the producer was abandoned) is logged as info. When the
 * producer fails for good it is replaced by a new one (new producer id).
 */
static int produce_loop(const struct run_config *rc, struct worker *w, int64_t end_ms)
{
	struct elog_producer_config pc;
	struct elog_producer *p = NULL;
	struct elog_client *c = NULL;
	struct elog_err err;
	uint64_t seq = 0;
	int64_t first_ms = elog_clock_ms();
	char value[64];

	elog_producer_config_init(&pc);
	pc.acks = -1;
	pc.idempotence = 1;
	pc.linger_ms = 2;
	pc.delivery_timeout_ms = (uint32_t)rc->timeout_ms;
	pc.request_timeout_ms = (uint32_t)rc->request_timeout_ms;
	pc.retry_backoff_max_ms = 500;
	pc.on_delivery = on_delivery;
	pc.ctx = w;
	while (elog_clock_ms() < end_ms && !stop_requested) {
		if (!c && !(c = client_open(rc, &err)))
			goto fatal;
		if (!p) {
			p = elog_producer_new(c, rc->topic, &pc, &err);
			if (!p) {
				usleep(100 * 1000);
				continue;
			}
		}
		int64_t due = first_ms + (int64_t)(seq * 1000 / rc->rate);
		int64_t now = elog_clock_ms();
		if (now < due) {
			int wait = (int)(due - now < 50 ? due - now : 50);
			if (elog_producer_poll(p, wait, &err) < 0)
				goto replace;
			continue;
		}
		struct elog_record rec = {.timestamp_ms = ELOG_TIMESTAMP_NOW};
		int n = snprintf(value, sizeof value, "\"p%" PRIu32 "-%" PRIu64 "\"", w->id, seq);
		rec.value = (const uint8_t *)value;
		rec.value_len = n;
		event(w, "p%" PRIu32 " invoke %" PRIu64, w->id, seq);
		if (elog_producer_send(p, &rec, -1, seq, &err) < 0) {
			event(w, "p%" PRIu32 " fail %" PRIu64 " -1 %s", w->id, seq, one_line(err.msg));
			seq++;
			goto replace;
		}
		seq++;
		continue;
replace:
		/* A final error: report what is left, start a new producer. */
		elog_producer_flush(p, 1000, &err);
		elog_producer_free(p);
		p = NULL;
		fflush(w->out);
	}
	if (p) {
		if (elog_producer_flush(p, (int)rc->timeout_ms, &err) < 0)
			fprintf(stderr, "elog-history: producer %" PRIu32 ": %s\n", w->id, err.msg);
		elog_producer_free(p);
	}
	elog_client_free(c);
	return 0;
fatal:
	fprintf(stderr, "elog-history: producer %" PRIu32 ": %s\n", w->id, err.msg);
	return 1;
}

/* "pI-SEQ" from a value "\"pI-SEQ\"", or "-". */
static const char *value_text(const struct elog_record_view *r, char *out, size_t cap)
{
	int32_t n = r->value_len;

	if (!r->value || n < 5 || (size_t)n >= cap || r->value[0] != '"' || r->value[n - 1] != '"' ||
	    r->value[1] != 'p')
		return "-";
	for (int32_t i = 1; i < n - 1; i++)
		if (!((r->value[i] >= '0' && r->value[i] <= '9') || r->value[i] == '-' ||
		      (i == 1 && r->value[i] == 'p')))
			return "-";
	memcpy(out, r->value + 1, (size_t)n - 2);
	out[n - 2] = '\0';
	return out;
}

/*
 * One consumer process: every partition from the earliest offset,
 * following, until told to stop (SIGTERM). When the fetcher gives up (a
 * broker away longer than its retry timeout, an offset out of range after
 * data loss), a new one starts where the old one was.
 */
static int consume_loop(const struct run_config *rc, struct worker *w, uint32_t partitions)
{
	struct elog_fetcher_config fc;
	struct elog_fetcher *f = NULL;
	struct elog_client *c = NULL;
	struct elog_fetched rec;
	struct elog_err err;
	int64_t *next = calloc(partitions, sizeof *next);
	char value[64];

	if (!next)
		return 1;
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 200;
	fc.retry_timeout_ms = 5000;
	fc.retry_backoff_max_ms = 500;
	while (!stop_requested) {
		if (!c && !(c = client_open(rc, &err))) {
			fprintf(stderr, "elog-history: consumer %" PRIu32 ": %s\n", w->id, err.msg);
			free(next);
			return 1;
		}
		if (!f) {
			f = elog_fetcher_new(c, &fc, &err);
			uint32_t added = 0;
			for (; f && added < partitions; added++) {
				struct elog_pos pos = {ELOG_POS_OFFSET, next[added]};
				if (elog_fetcher_add(f, rc->topic, (int32_t)added, &pos, NULL, &err) < 0)
					break;
			}
			if (!f || added < partitions) {
				elog_fetcher_free(f);
				f = NULL;
				usleep(100 * 1000);
				continue;
			}
		}
		int n = elog_fetcher_next(f, &rec, 200, &err);
		if (n == 1) {
			event(w, "c%" PRIu32 " poll %" PRIu32 " %" PRId64 " %s", w->id, rec.partition,
			      rec.record->offset, value_text(rec.record, value, sizeof value));
			if (rec.partition < partitions)
				next[rec.partition] = rec.record->offset + 1;
		} else if (n < 0) {
			event(w, "c%" PRIu32 " restart %s", w->id, one_line(err.msg));
			elog_fetcher_free(f);
			f = NULL;
		}
	}
	elog_fetcher_free(f);
	elog_client_free(c);
	free(next);
	return 0;
}

/* ================================================================ run */

static int leaders_known(const struct elog_meta_topic *t)
{
	for (uint32_t i = 0; i < t->partition_count; i++)
		if (t->partitions[i].error || t->partitions[i].leader_id < 0)
			return 0;
	return 1;
}

static int topic_prepare(const struct run_config *rc, uint32_t *partitions, struct elog_err *err)
{
	struct elog_client *c = client_open(rc, err);
	struct elog_config_entry flush = {"flush", rc->flush};
	const struct elog_metadata *md;
	const struct elog_meta_topic *t;
	int ret = -1;

	if (!c)
		return -1;
	if (elog_admin_create_topic(c, rc->topic, rc->partitions, rc->replication_factor, &flush,
				    1, err) < 0 &&
	    elog_client_proto_error(c) != ELOG_PE_TOPIC_EXISTS)
		goto out;
	/* In a cluster the create is answered once committed, but the broker
	 * asked for metadata may not have applied it yet, and the partitions'
	 * first elections are still under way: wait (bounded) for every
	 * partition to name a leader. */
	int64_t deadline = elog_clock_ms() + rc->timeout_ms;
	for (;;) {
		md = elog_client_metadata(c, &rc->topic, 1, err);
		t = md ? elog_metadata_topic(md, rc->topic) : NULL;
		if (t && !t->error && t->partition_count && leaders_known(t))
			break;
		if (elog_clock_ms() >= deadline) {
			if (md)
				elog_err_set(err, ELOG_E_INVAL,
					     "topic '%s': %s after creating it", rc->topic,
					     t && !t->error && t->partition_count
						     ? "a partition without a leader"
						     : "not found");
			goto out;
		}
		usleep(100 * 1000);
	}
	if (t->partition_count > PARTITIONS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "topic '%s': %" PRIu32 " partitions, at most %u",
			     rc->topic, t->partition_count, PARTITIONS_MAX);
		goto out;
	}
	*partitions = t->partition_count;
	ret = 0;
out:
	elog_client_free(c);
	return ret;
}

/* One try at the final read: every partition from its log start to its
 * high watermark now. Writes into out; the caller starts over on failure. */
static int final_read_once(const struct run_config *rc, struct worker *w, uint32_t partitions,
			   struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_client *c = client_open(rc, err);
	struct elog_fetcher *f = NULL;
	struct elog_pos start = {ELOG_POS_EARLIEST, 0}, end = {ELOG_POS_LATEST, 0};
	struct elog_fetched rec;
	char value[64];
	int ret = -1, n;

	if (!c)
		return -1;
	elog_fetcher_config_init(&fc);
	fc.retry_timeout_ms = 5000;
	f = elog_fetcher_new(c, &fc, err);
	if (!f)
		goto out;
	for (uint32_t i = 0; i < partitions; i++)
		if (elog_fetcher_add(f, rc->topic, (int32_t)i, &start, &end, err) < 0)
			goto out;
	while ((n = elog_fetcher_next(f, &rec, 5000, err)) == 1)
		event(w, "final %" PRIu32 " %" PRId64 " %s", rec.partition, rec.record->offset,
		      value_text(rec.record, value, sizeof value));
	if (n < 0)
		goto out;
	if (!elog_fetcher_done(f)) {
		elog_err_set(err, ELOG_E_IO, "final read: no progress for 5 s");
		goto out;
	}
	for (size_t i = 0; i < elog_fetcher_partition_count(f); i++) {
		const struct elog_fetch_partition *fp = elog_fetcher_partition(f, i);
		event(w, "final-end %" PRIu32 " %" PRId64 " %" PRId64, fp->id, fp->log_start,
		      fp->end);
	}
	ret = 0;
out:
	elog_fetcher_free(f);
	elog_client_free(c);
	return ret;
}

static int final_read(const struct run_config *rc, const char *path, int64_t start_ms,
		      uint32_t partitions)
{
	int64_t deadline = elog_clock_ms() + rc->final_timeout_ms;
	struct worker w = {.start_ms = start_ms};
	struct elog_err err;

	for (;;) {
		if (!(w.out = fopen(path, "w"))) {
			elog_cli_error_errno(errno, "%s", path);
			return -1;
		}
		int rc2 = final_read_once(rc, &w, partitions, &err);
		if (fclose(w.out) != 0) {
			elog_cli_error_errno(errno, "%s", path);
			return -1;
		}
		if (rc2 == 0)
			return 0;
		if (elog_clock_ms() >= deadline) {
			elog_cli_error_err(&err, "final read gave up after %" PRId64 " ms",
					   rc->final_timeout_ms);
			return -1;
		}
		usleep(200 * 1000);
	}
}

static pid_t spawn_worker(const struct run_config *rc, const char *dir, char kind, uint32_t id,
			  int64_t start_ms, int64_t end_ms, uint32_t partitions)
{
	char path[4096];
	pid_t pid;

	snprintf(path, sizeof path, "%s/history.%c%" PRIu32, dir, kind, id);
	pid = fork();
	if (pid != 0)
		return pid;
	/* A worker must not outlive a run that was killed. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(2);
	struct worker w = {.start_ms = start_ms, .id = id};
	int ret;
	if (!(w.out = fopen(path, "w"))) {
		elog_cli_error_errno(errno, "%s", path);
		_exit(2);
	}
	if (kind == 'p')
		ret = produce_loop(rc, &w, end_ms);
	else
		ret = consume_loop(rc, &w, partitions);
	if (fclose(w.out) != 0)
		ret = 2;
	_exit(ret);
}

static int append_file(FILE *out, const char *path)
{
	char buf[65536];
	size_t n;
	FILE *in = fopen(path, "r");

	if (!in) {
		elog_cli_error_errno(errno, "%s", path);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	return 0;
}

/* DIR/history: the header, each worker's lines, the final read. Returns 0,
 * 1 when a worker's file was missing (the rest is joined), -1 on failure. */
static int join_history(const struct run_config *rc, const char *dir, const char *path,
			uint32_t partitions, int64_t start_ms)
{
	char part[4096];
	int missing = 0;
	FILE *out = fopen(path, "w");

	if (!out) {
		elog_cli_error_errno(errno, "%s", path);
		return -1;
	}
	fprintf(out,
		"# elog-history 1 topic=%s partitions=%" PRIu32 " producers=%" PRIu32
		" consumers=%" PRIu32 " start_ms=%" PRId64 "\n",
		rc->topic, partitions, rc->producers, rc->consumers, start_ms);
	for (uint32_t i = 0; i <= rc->producers + rc->consumers; i++) {
		if (i == rc->producers + rc->consumers)
			snprintf(part, sizeof part, "%s/history.final", dir);
		else if (i < rc->producers)
			snprintf(part, sizeof part, "%s/history.p%" PRIu32, dir, i);
		else
			snprintf(part, sizeof part, "%s/history.c%" PRIu32, dir, i - rc->producers);
		if (append_file(out, part) < 0)
			missing = 1;
		unlink(part);
	}
	if (fclose(out) != 0) {
		elog_cli_error_errno(errno, "%s", path);
		return -1;
	}
	return missing;
}

static int check_file(const char *path, unsigned allowed);

static int cmd_run(const struct run_config *rc, const char *dir)
{
	pid_t producers[WORKERS_MAX], consumers[WORKERS_MAX];
	struct sigaction sa = {.sa_handler = on_stop};
	char path[4096];
	struct elog_err err;
	uint32_t partitions = 0;
	int failed = 0, status;

	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		elog_cli_error_errno(errno, "%s", dir);
		return ELOG_EXIT_USAGE;
	}
	if (topic_prepare(rc, &partitions, &err) < 0) {
		elog_cli_error_err(&err, "topic '%s'", rc->topic);
		return ELOG_EXIT_USAGE;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int64_t start_ms = wall_ms();
	int64_t end_ms = elog_clock_ms() + rc->duration_ms;
	for (uint32_t i = 0; i < rc->consumers; i++)
		consumers[i] = spawn_worker(rc, dir, 'c', i, start_ms, end_ms, partitions);
	for (uint32_t i = 0; i < rc->producers; i++)
		producers[i] = spawn_worker(rc, dir, 'p', i, start_ms, end_ms, partitions);
	for (uint32_t i = 0; i < rc->producers; i++) {
		if (producers[i] < 0 || waitpid(producers[i], &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			elog_cli_error("producer %" PRIu32 " failed", i);
			failed = 1;
		}
	}
	/* Consumers keep following until the final read is done, so their
	 * polls overlap the healing. */
	snprintf(path, sizeof path, "%s/history.final", dir);
	if (final_read(rc, path, start_ms, partitions) < 0)
		failed = 2;
	for (uint32_t i = 0; i < rc->consumers; i++)
		if (consumers[i] > 0)
			kill(consumers[i], SIGTERM);
	for (uint32_t i = 0; i < rc->consumers; i++) {
		if (consumers[i] < 0 || waitpid(consumers[i], &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			elog_cli_error("consumer %" PRIu32 " failed", i);
			failed = 1;
		}
	}
	if (failed == 2)
		return ELOG_EXIT_USAGE;
	snprintf(path, sizeof path, "%s/history", dir);
	int joined = join_history(rc, dir, path, partitions, start_ms);
	if (joined < 0)
		return ELOG_EXIT_USAGE;
	if (joined > 0)
		failed = 1;
	int ret = check_file(path, rc->allowed);
	return ret == 0 && failed ? ELOG_EXIT_FAIL : ret;
}

/* ================================================================ check */

enum send_state {
	SEND_NONE = 0,                 /* never invoked (a phantom when read) */
	SEND_INVOKED,                  /* no outcome: indeterminate */
	SEND_OK,
	SEND_FAIL,
	SEND_INFO,
};

/* One value pI-SEQ; 32 bytes. */
struct send {
	int64_t ack_offset;
	int64_t read_offset;           /* -1: not in the final read */
	uint16_t ack_partition, read_partition;
	uint8_t state;                 /* enum send_state */
	uint8_t polled;                /* seen by a consumer */
	uint8_t reads;                 /* times in the final read, saturating */
	uint32_t invoke_ms;            /* when it was invoked (ms since start_ms) */
};
_Static_assert(sizeof(struct send) == 32, "struct send is 32 bytes");

/* A growing array of milliseconds. */
struct ms_list {
	uint32_t *v;
	size_t count, cap;
};

struct sends {
	struct send *v;
	uint64_t count, cap;
};

struct final_part {
	uint64_t *values;              /* offset -> value id (producer << 40 | seq) + 1 */
	int64_t cap;                   /* entries allocated (offsets 0 .. cap-1) */
	int64_t log_start, end;        /* from final-end; end -1: missing */
	struct ms_list acks;           /* when its sends were acknowledged */
};

enum anomaly {
	A_LOST, A_DUPLICATE, A_INCONSISTENT, A_NONMONOTONIC_POLL, A_POLL_SKIP,
	A_NONMONOTONIC_SEND, A_ACK_MISMATCH, A_PHANTOM, A_COUNT,
};

static const char *const anomaly_names[A_COUNT] = {
	"lost-write", "duplicate", "inconsistent-offsets", "nonmonotonic-poll", "poll-skip",
	"nonmonotonic-send", "ack-offset-mismatch", "phantom",
};

struct checker {
	const char *path;
	uint64_t line;
	uint32_t partitions, producers, consumers;
	struct sends *sends;           /* [producers] */
	struct final_part *final;      /* [partitions] */
	int64_t *send_last;            /* [producers * partitions] last acknowledged offset */
	int64_t *poll_last;            /* [consumers * partitions] last polled offset */
	uint64_t count[A_COUNT];
	char examples[A_COUNT][EXAMPLES_MAX][160];
	uint64_t invokes, oks, fails, infos, polls, restarts, final_records, foreign;
	uint64_t indeterminate, failed_read, indeterminate_read, below_start;
	uint32_t now_ms;               /* the time field of the line being read */
	struct ms_list latency;        /* invoke to ok of each acknowledged send */
	struct ms_list gaps;           /* windows without acknowledgements (GAP_MS) */
};

static void anomaly(struct checker *ck, enum anomaly a, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void anomaly(struct checker *ck, enum anomaly a, const char *fmt, ...)
{
	va_list ap;

	if (ck->count[a] < EXAMPLES_MAX) {
		va_start(ap, fmt);
		vsnprintf(ck->examples[a][ck->count[a]], sizeof ck->examples[a][0], fmt, ap);
		va_end(ap);
	}
	ck->count[a]++;
}

static int bad_line(struct checker *ck, const char *why)
{
	elog_cli_error("%s line %" PRIu64 ": %s", ck->path, ck->line, why);
	return -1;
}

/* "pI-SEQ" -> producer, seq. */
static int parse_value(const char *s, uint32_t *producer, uint64_t *seq)
{
	char *end;

	if (s[0] != 'p')
		return -1;
	errno = 0;
	unsigned long long p = strtoull(s + 1, &end, 10);
	if (end == s + 1 || *end != '-' || errno || p >= WORKERS_MAX)
		return -1;
	const char *q = end + 1;
	unsigned long long n = strtoull(q, &end, 10);
	if (end == q || *end || errno || n >= SEQ_MAX)
		return -1;
	*producer = (uint32_t)p;
	*seq = n;
	return 0;
}

static int ms_push(struct ms_list *l, uint32_t ms)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint32_t *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->count++] = ms;
	return 0;
}

static int ms_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-th percentile (0..100) of a sorted list, by nearest rank. */
static uint32_t ms_percentile(const struct ms_list *l, unsigned q)
{
	size_t rank;

	if (!l->count)
		return 0;
	rank = (l->count * q + 99) / 100;
	return l->v[rank ? rank - 1 : 0];
}

static struct send *send_get(struct checker *ck, uint32_t producer, uint64_t seq)
{
	struct sends *s;

	if (producer >= ck->producers)
		return NULL;
	s = &ck->sends[producer];
	if (seq >= s->cap) {
		uint64_t cap = s->cap ? s->cap : 1024;
		while (cap <= seq)
			cap *= 2;
		struct send *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return NULL;
		memset(v + s->cap, 0, (cap - s->cap) * sizeof *v);
		for (uint64_t i = s->cap; i < cap; i++)
			v[i].read_offset = -1;
		s->v = v;
		s->cap = cap;
	}
	if (seq >= s->count)
		s->count = seq + 1;
	return &s->v[seq];
}

static int final_set(struct checker *ck, uint32_t partition, int64_t offset, uint64_t id)
{
	struct final_part *fp = &ck->final[partition];

	if (offset >= fp->cap) {
		int64_t cap = fp->cap ? fp->cap : 1024;
		while (cap <= offset)
			cap *= 2;
		uint64_t *v = realloc(fp->values, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		memset(v + fp->cap, 0, (size_t)(cap - fp->cap) * sizeof *v);
		fp->values = v;
		fp->cap = cap;
	}
	fp->values[offset] = id;
	return 0;
}

static uint64_t final_at(const struct checker *ck, uint32_t partition, int64_t offset)
{
	const struct final_part *fp = &ck->final[partition];

	return offset >= 0 && offset < fp->cap ? fp->values[offset] : VALUE_NONE;
}

static int parse_header(struct checker *ck, const char *line)
{
	const char *s;

	if (strncmp(line, "# elog-history 1 ", 17) != 0)
		return bad_line(ck, "not an elog-history 1 file (no header line)");
	if (!(s = strstr(line, " partitions=")) ||
	    sscanf(s, " partitions=%" SCNu32, &ck->partitions) != 1 || !ck->partitions ||
	    ck->partitions > PARTITIONS_MAX)
		return bad_line(ck, "header: partitions= missing or out of range");
	if (!(s = strstr(line, " producers=")) ||
	    sscanf(s, " producers=%" SCNu32, &ck->producers) != 1 || ck->producers > WORKERS_MAX)
		return bad_line(ck, "header: producers= missing or out of range");
	if (!(s = strstr(line, " consumers=")) ||
	    sscanf(s, " consumers=%" SCNu32, &ck->consumers) != 1 || ck->consumers > WORKERS_MAX)
		return bad_line(ck, "header: consumers= missing or out of range");
	ck->sends = calloc(ck->producers + 1, sizeof *ck->sends);
	ck->final = calloc(ck->partitions, sizeof *ck->final);
	ck->send_last = malloc(((size_t)ck->producers + 1) * ck->partitions * sizeof(int64_t));
	ck->poll_last = malloc(((size_t)ck->consumers + 1) * ck->partitions * sizeof(int64_t));
	if (!ck->sends || !ck->final || !ck->send_last || !ck->poll_last)
		return bad_line(ck, "out of memory");
	for (size_t i = 0; i < (size_t)ck->producers * ck->partitions; i++)
		ck->send_last[i] = -1;
	for (size_t i = 0; i < (size_t)ck->consumers * ck->partitions; i++)
		ck->poll_last[i] = -1;
	for (uint32_t i = 0; i < ck->partitions; i++)
		ck->final[i].end = -1;
	return 0;
}

/* Split a line into at most max blank-separated fields (the last one keeps
 * the rest of the line). */
static int split(char *line, char **f, int max)
{
	int n = 0;
	char *s = line;

	while (n < max) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		f[n++] = s;
		if (n == max)
			break;
		while (*s && *s != ' ')
			s++;
		if (*s)
			*s++ = '\0';
	}
	return n;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

/* Worker name "pI" / "cI" -> I. */
static int parse_worker(const char *s, char kind, uint32_t max, uint32_t *id)
{
	int64_t v;

	if (s[0] != kind || parse_i64(s + 1, &v) < 0 || v < 0 || (uint64_t)v >= max)
		return -1;
	*id = (uint32_t)v;
	return 0;
}

static int parse_place(struct checker *ck, const char *ps, const char *os, uint32_t *partition,
		       int64_t *offset)
{
	int64_t p;

	if (parse_i64(ps, &p) < 0 || p < 0 || p >= ck->partitions)
		return bad_line(ck, "partition missing or out of range");
	if (parse_i64(os, offset) < 0 || *offset < 0 || *offset >= (INT64_C(1) << 40))
		return bad_line(ck, "offset missing or out of range");
	*partition = (uint32_t)p;
	return 0;
}

/* Pass 1: sends, acknowledgements, the final read. */
static int pass_sends(struct checker *ck, char **f, int n)
{
	uint32_t producer, partition;
	int64_t seq, offset;
	struct send *s;

	if (parse_worker(f[1], 'p', ck->producers, &producer) < 0)
		return bad_line(ck, "producer out of range");
	if (n < 4 || parse_i64(f[3], &seq) < 0 || seq < 0 || (uint64_t)seq >= SEQ_MAX)
		return bad_line(ck, "sequence number missing or out of range");
	if (!(s = send_get(ck, producer, (uint64_t)seq)))
		return bad_line(ck, "out of memory");
	if (strcmp(f[2], "invoke") == 0) {
		if (s->state != SEND_NONE)
			return bad_line(ck, "value invoked twice");
		s->state = SEND_INVOKED;
		s->invoke_ms = ck->now_ms;
		ck->invokes++;
		return 0;
	}
	if (s->state != SEND_INVOKED)
		return bad_line(ck, "outcome without an invoke, or a second outcome");
	if (strcmp(f[2], "ok") == 0) {
		if (n < 6 || parse_place(ck, f[4], f[5], &partition, &offset) < 0)
			return -1;
		s->state = SEND_OK;
		s->ack_partition = (uint16_t)partition;
		s->ack_offset = offset;
		ck->oks++;
		if (ms_push(&ck->latency, ck->now_ms >= s->invoke_ms ? ck->now_ms - s->invoke_ms : 0) <
			    0 ||
		    ms_push(&ck->final[partition].acks, ck->now_ms) < 0)
			return bad_line(ck, "out of memory");
		int64_t *last = &ck->send_last[(size_t)producer * ck->partitions + partition];
		if (offset <= *last)
			anomaly(ck, A_NONMONOTONIC_SEND,
				"p%" PRIu32 " acknowledged p%" PRIu32 "-%" PRId64 " at %" PRIu32
				":%" PRId64 " after an acknowledgement at %" PRIu32 ":%" PRId64,
				producer, producer, seq, partition, offset, partition, *last);
		*last = offset;
	} else if (strcmp(f[2], "fail") == 0) {
		s->state = SEND_FAIL;
		ck->fails++;
	} else if (strcmp(f[2], "info") == 0) {
		s->state = SEND_INFO;
		ck->infos++;
	} else {
		return bad_line(ck, "unknown producer event");
	}
	return 0;
}

static int pass_final(struct checker *ck, char **f, int n)
{
	uint32_t partition, producer;
	int64_t offset;
	uint64_t seq;

	if (strcmp(f[1], "final-end") == 0) {
		int64_t start, end;
		if (n < 5 || parse_place(ck, f[2], f[3], &partition, &start) < 0 ||
		    parse_i64(f[4], &end) < 0 || end < start)
			return bad_line(ck, "final-end: PARTITION LOG_START END expected");
		ck->final[partition].log_start = start;
		ck->final[partition].end = end;
		return 0;
	}
	if (n < 5 || parse_place(ck, f[2], f[3], &partition, &offset) < 0)
		return -1;
	if (final_at(ck, partition, offset) != VALUE_NONE)
		return bad_line(ck, "final read: offset read twice");
	ck->final_records++;
	if (parse_value(f[4], &producer, &seq) < 0 || producer >= ck->producers) {
		ck->foreign++;
		return final_set(ck, partition, offset, VALUE_FOREIGN) < 0 ? bad_line(ck, "out of memory")
									      : 0;
	}
	struct send *s = send_get(ck, producer, seq);
	if (!s || final_set(ck, partition, offset, ((uint64_t)producer << 40 | seq) + 1) < 0)
		return bad_line(ck, "out of memory");
	if (s->reads) {
		anomaly(ck, A_DUPLICATE,
			"p%" PRIu32 "-%" PRIu64 " in the final read at %" PRIu32 ":%" PRId64
			" and at %" PRIu16 ":%" PRId64,
			producer, seq, partition, offset, s->read_partition, s->read_offset);
	} else {
		s->read_partition = (uint16_t)partition;
		s->read_offset = offset;
	}
	if (s->reads < UINT8_MAX)
		s->reads++;
	return 0;
}

static void value_name(uint64_t id, char *out, size_t cap)
{
	if (id == VALUE_FOREIGN)
		snprintf(out, cap, "a foreign value");
	else
		snprintf(out, cap, "p%" PRIu64 "-%" PRIu64, (id - 1) >> 40,
			 (id - 1) & (SEQ_MAX - 1));
}

/* Pass 2: each poll against the final read. */
static int pass_poll(struct checker *ck, char **f, int n)
{
	uint32_t consumer, partition, producer;
	int64_t offset;
	uint64_t seq, id = VALUE_FOREIGN;
	char name[64];

	if (parse_worker(f[1], 'c', ck->consumers, &consumer) < 0)
		return bad_line(ck, "consumer out of range");
	int64_t *last = &ck->poll_last[(size_t)consumer * ck->partitions];
	if (strcmp(f[2], "restart") == 0) {
		for (uint32_t i = 0; i < ck->partitions; i++)
			last[i] = -1;
		ck->restarts++;
		return 0;
	}
	if (strcmp(f[2], "poll") != 0)
		return bad_line(ck, "unknown consumer event");
	if (n < 6 || parse_place(ck, f[3], f[4], &partition, &offset) < 0)
		return -1;
	ck->polls++;
	if (parse_value(f[5], &producer, &seq) == 0 && producer < ck->producers) {
		struct send *s = send_get(ck, producer, seq);
		if (!s)
			return bad_line(ck, "out of memory");
		s->polled = 1;
		id = ((uint64_t)producer << 40 | seq) + 1;
		if (s->reads && (s->read_partition != partition || s->read_offset != offset))
			anomaly(ck, A_DUPLICATE,
				"c%" PRIu32 " polled p%" PRIu32 "-%" PRIu64 " at %" PRIu32 ":%" PRId64
				"; the final read has it at %" PRIu16 ":%" PRId64,
				consumer, producer, seq, partition, offset, s->read_partition,
				s->read_offset);
	}
	uint64_t there = final_at(ck, partition, offset);
	if (there != VALUE_NONE && there != id) {
		value_name(there, name, sizeof name);
		anomaly(ck, A_INCONSISTENT,
			"c%" PRIu32 " polled %s at %" PRIu32 ":%" PRId64 "; the final read has %s",
			consumer, f[5], partition, offset, name);
	}
	if (last[partition] >= 0 && offset <= last[partition])
		anomaly(ck, A_NONMONOTONIC_POLL,
			"c%" PRIu32 " polled %" PRIu32 ":%" PRId64 " after %" PRIu32 ":%" PRId64,
			consumer, partition, offset, partition, last[partition]);
	if (last[partition] >= 0 && offset > last[partition] + 1) {
		for (int64_t o = last[partition] + 1; o < offset; o++) {
			if (final_at(ck, partition, o) == VALUE_NONE)
				continue;
			anomaly(ck, A_POLL_SKIP,
				"c%" PRIu32 " went from %" PRIu32 ":%" PRId64 " to %" PRId64
				", skipping %" PRId64 " which the final read holds",
				consumer, partition, last[partition], offset, o);
			break;
		}
	}
	last[partition] = offset;
	return 0;
}

static int read_pass(struct checker *ck, int pass)
{
	char line[LINE_MAX_BYTES];
	char *f[6];
	FILE *in = fopen(ck->path, "r");
	int ret = 0;

	if (!in) {
		elog_cli_error_errno(errno, "%s", ck->path);
		return -1;
	}
	ck->line = 0;
	while (ret == 0 && fgets(line, sizeof line, in)) {
		size_t len = strlen(line);
		ck->line++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(in)) {
			ret = bad_line(ck, "line too long");
			break;
		}
		if (ck->line == 1) {
			if (pass == 1)
				ret = parse_header(ck, line);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		int n = split(line, f, 6);
		int64_t t;
		if (n < 3 || parse_i64(f[0], &t) < 0) {
			ret = bad_line(ck, "expected: MS WORKER EVENT ...");
			break;
		}
		ck->now_ms = t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		if (pass == 1 && f[1][0] == 'p')
			ret = pass_sends(ck, f, n);
		else if (pass == 1 && strncmp(f[1], "final", 5) == 0)
			ret = pass_final(ck, f, n);
		else if (pass == 2 && f[1][0] == 'c')
			ret = pass_poll(ck, f, n);
		else if (f[1][0] != 'p' && f[1][0] != 'c' && strncmp(f[1], "final", 5) != 0)
			ret = bad_line(ck, "unknown worker");
	}
	if (ret == 0 && ferror(in))
		ret = bad_line(ck, "read error");
	if (ret == 0 && ck->line == 0) {
		elog_cli_error("%s: empty history", ck->path);
		ret = -1;
	}
	fclose(in);
	return ret;
}

/* After both passes: what each send came to. */
static void verdicts(struct checker *ck)
{
	char name[64];

	for (uint32_t p = 0; p < ck->producers; p++) {
		for (uint64_t seq = 0; seq < ck->sends[p].count; seq++) {
			struct send *s = &ck->sends[p].v[seq];
			int read = s->reads > 0;
			if (s->state == SEND_NONE && (read || s->polled)) {
				anomaly(ck, A_PHANTOM, "p%" PRIu32 "-%" PRIu64 " was read but never sent",
					p, seq);
				continue;
			}
			if (s->state == SEND_INVOKED)
				ck->indeterminate++;
			if (s->state == SEND_FAIL && read)
				ck->failed_read++;
			if ((s->state == SEND_INFO || s->state == SEND_INVOKED) && read)
				ck->indeterminate_read++;
			if (s->state == SEND_OK && !read &&
			    s->ack_offset < ck->final[s->ack_partition].log_start) {
				ck->below_start++;
				continue;
			}
			if ((s->state == SEND_OK || s->polled) && !read) {
				anomaly(ck, A_LOST,
					"p%" PRIu32 "-%" PRIu64 " %s%s, not in the final read", p, seq,
					s->state == SEND_OK ? "acknowledged" : "polled",
					s->state == SEND_OK ? " at" : "");
				if (s->state == SEND_OK && ck->count[A_LOST] <= EXAMPLES_MAX) {
					char *ex = ck->examples[A_LOST][ck->count[A_LOST] - 1];
					snprintf(ex, sizeof ck->examples[0][0],
						 "p%" PRIu32 "-%" PRIu64 " acknowledged at %" PRIu16
						 ":%" PRId64 ", not in the final read",
						 p, seq, s->ack_partition, s->ack_offset);
				}
			}
			if (s->state != SEND_OK)
				continue;
			if (read && (s->read_partition != s->ack_partition ||
				     s->read_offset != s->ack_offset))
				anomaly(ck, A_ACK_MISMATCH,
					"p%" PRIu32 "-%" PRIu64 " acknowledged at %" PRIu16 ":%" PRId64
					", the final read has it at %" PRIu16 ":%" PRId64,
					p, seq, s->ack_partition, s->ack_offset, s->read_partition,
					s->read_offset);
			/* A value found elsewhere is an ack-offset-mismatch (the answer
			 * was wrong); one found nowhere is lost, and whatever sits at
			 * its acknowledged offset is a second value for that offset. */
			uint64_t there = final_at(ck, s->ack_partition, s->ack_offset);
			uint64_t id = ((uint64_t)p << 40 | seq) + 1;
			if (!read && there != VALUE_NONE && there != id) {
				value_name(there, name, sizeof name);
				anomaly(ck, A_INCONSISTENT,
					"p%" PRIu32 "-%" PRIu64 " acknowledged at %" PRIu16 ":%" PRId64
					"; the final read has %s there",
					p, seq, s->ack_partition, s->ack_offset, name);
			}
		}
	}
}

/* Sorted latencies, and each partition's gaps of GAP_MS or more between
 * two acknowledgements. */
static int availability(struct checker *ck)
{
	qsort(ck->latency.v, ck->latency.count, sizeof(uint32_t), ms_cmp);
	for (uint32_t i = 0; i < ck->partitions; i++) {
		struct ms_list *a = &ck->final[i].acks;
		qsort(a->v, a->count, sizeof(uint32_t), ms_cmp);
		for (size_t j = 1; j < a->count; j++)
			if (a->v[j] - a->v[j - 1] >= GAP_MS &&
			    ms_push(&ck->gaps, a->v[j] - a->v[j - 1]) < 0)
				return -1;
	}
	qsort(ck->gaps.v, ck->gaps.count, sizeof(uint32_t), ms_cmp);
	return 0;
}

static void print_availability(const struct checker *ck)
{
	uint64_t total = 0;

	for (size_t i = 0; i < ck->gaps.count; i++)
		total += ck->gaps.v[i];
	printf("acknowledged in ms: p50 %" PRIu32 " p99 %" PRIu32 " max %" PRIu32 "\n",
	       ms_percentile(&ck->latency, 50), ms_percentile(&ck->latency, 99),
	       ms_percentile(&ck->latency, 100));
	printf("unavailable (a partition %u ms or more without an acknowledgement): %zu times, "
	       "ms p50 %" PRIu32 " p99 %" PRIu32 " max %" PRIu32 " total %" PRIu64 "\n",
	       GAP_MS, ck->gaps.count, ms_percentile(&ck->gaps, 50), ms_percentile(&ck->gaps, 99),
	       ms_percentile(&ck->gaps, 100), total);
}

static void checker_release(struct checker *ck)
{
	if (ck->sends)
		for (uint32_t i = 0; i <= ck->producers; i++)
			free(ck->sends[i].v);
	if (ck->final)
		for (uint32_t i = 0; i < ck->partitions; i++) {
			free(ck->final[i].values);
			free(ck->final[i].acks.v);
		}
	free(ck->latency.v);
	free(ck->gaps.v);
	free(ck->sends);
	free(ck->final);
	free(ck->send_last);
	free(ck->poll_last);
}

static int check_file(const char *path, unsigned allowed)
{
	struct checker *ck = calloc(1, sizeof *ck);
	uint64_t total = 0, tolerated = 0;
	int ret = ELOG_EXIT_USAGE;

	if (!ck) {
		elog_cli_error("out of memory");
		return ELOG_EXIT_USAGE;
	}
	ck->path = path;
	if (read_pass(ck, 1) < 0)
		goto out;
	for (uint32_t i = 0; i < ck->partitions; i++) {
		if (ck->final[i].end < 0) {
			elog_cli_error("%s: no final read of partition %" PRIu32
				       " (final-end line): cannot check",
				       path, i);
			goto out;
		}
	}
	if (read_pass(ck, 2) < 0)
		goto out;
	verdicts(ck);
	if (availability(ck) < 0) {
		elog_cli_error("%s: out of memory", path);
		goto out;
	}
	printf("sends %" PRIu64 " ok %" PRIu64 " failed %" PRIu64 " indeterminate %" PRIu64
	       " (failed but read %" PRIu64 ", indeterminate but read %" PRIu64 ")\n",
	       ck->invokes, ck->oks, ck->fails, ck->infos + ck->indeterminate, ck->failed_read,
	       ck->indeterminate_read);
	printf("polls %" PRIu64 " consumer restarts %" PRIu64 " final read %" PRIu64
	       " records (%" PRIu64 " foreign)",
	       ck->polls, ck->restarts, ck->final_records, ck->foreign);
	if (ck->below_start)
		printf(", %" PRIu64 " acknowledged below a log start (unchecked)", ck->below_start);
	printf("\n");
	print_availability(ck);
	for (int a = 0; a < A_COUNT; a++) {
		int allow = (allowed >> a) & 1;
		printf("%-21s %" PRIu64 "%s\n", anomaly_names[a], ck->count[a],
		       allow && ck->count[a] ? " (allowed)" : "");
		for (uint64_t i = 0; i < ck->count[a] && i < EXAMPLES_MAX; i++)
			printf("  %s\n", ck->examples[a][i]);
		if (allow)
			tolerated += ck->count[a];
		else
			total += ck->count[a];
	}
	if (total)
		printf("anomalies found\n");
	else if (tolerated)
		printf("no anomalies but the allowed ones\n");
	else
		printf("no anomalies\n");
	ret = total ? ELOG_EXIT_FAIL : ELOG_EXIT_OK;
out:
	fflush(stdout);
	checker_release(ck);
	free(ck);
	return ret;
}

/* ================================================================ main */

/* "kind,kind" -> bits of enum anomaly. */
static int parse_allow(const char *arg, unsigned *bits)
{
	const char *s = arg;

	while (*s) {
		size_t n = strcspn(s, ",");
		int a = 0;
		while (a < A_COUNT && (strlen(anomaly_names[a]) != n ||
				       strncmp(anomaly_names[a], s, n) != 0))
			a++;
		if (a == A_COUNT) {
			elog_cli_error("--allow: unknown anomaly kind \"%.*s\"", (int)n, s);
			return -1;
		}
		*bits |= 1u << a;
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}

/* A duration of at least 1 ms and at most INT32_MAX ms. */
static int duration(const char *arg, const char *name, int64_t *ms)
{
	struct elog_err err;

	if (elog_cli_parse_duration_ms(arg, ms, &err) < 0 || *ms < 1 || *ms > INT32_MAX) {
		elog_cli_error("%s: invalid duration \"%s\"", name, arg);
		return ELOG_EXIT_USAGE;
	}
	return -1;
}

static int option(struct run_config *rc, int id, const char *arg)
{
	struct elog_err err;
	uint64_t v;

	switch (id) {
	case 'b': rc->brokers = arg; return -1;
	case 't': rc->topic = arg; return -1;
	case OPT_FLUSH: rc->flush = arg; return -1;
	case 'd': return duration(arg, "--duration", &rc->duration_ms);
	case OPT_TIMEOUT: return duration(arg, "--timeout", &rc->timeout_ms);
	case OPT_REQUEST_TIMEOUT:
		return duration(arg, "--request-timeout", &rc->request_timeout_ms);
	case OPT_FINAL_TIMEOUT: return duration(arg, "--final-timeout", &rc->final_timeout_ms);
	case OPT_ALLOW: return parse_allow(arg, &rc->allowed) < 0 ? ELOG_EXIT_USAGE : -1;
	}
	uint64_t max = id == 'p' ? 1024 : id == 'r' ? 1000000 : id == 'R' ? 7 : WORKERS_MAX;
	if (elog_cli_parse_u64(arg, id == 'C' || id == 'R' ? 0 : 1, max, &v, &err) < 0) {
		elog_cli_error_err(&err, "-%c", id);
		return ELOG_EXIT_USAGE;
	}
	switch (id) {
	case 'p': rc->partitions = (uint32_t)v; break;
	case 'P': rc->producers = (uint32_t)v; break;
	case 'R': rc->replication_factor = (uint16_t)v; break;
	case 'C': rc->consumers = (uint32_t)v; break;
	case 'r': rc->rate = (uint32_t)v; break;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct run_config rc = {
		.brokers = NULL, .topic = "history", .flush = "always",
		.partitions = 3, .producers = 2, .consumers = 2, .rate = 200,
		.duration_ms = 10000, .timeout_ms = 10000, .request_timeout_ms = 1000,
		.final_timeout_ms = 60000,
	};
	struct elog_cli_getopt g;
	int id, ret;

	elog_cli_init(argv[0]);
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id == ELOG_CLI_DONE)
			return 0;
		if (id == ELOG_CLI_BAD || (ret = option(&rc, id, g.arg)) >= 0)
			return ELOG_EXIT_USAGE;
	}
	if (argc - g.index != 2)
		return elog_cli_usage_error(&program, "expected: run DIR, or check FILE");
	if (strcmp(argv[g.index], "check") == 0)
		return check_file(argv[g.index + 1], rc.allowed);
	if (strcmp(argv[g.index], "run") == 0)
		return cmd_run(&rc, argv[g.index + 1]);
	return elog_cli_usage_error(&program, "unknown command \"%s\"", argv[g.index]);
}
