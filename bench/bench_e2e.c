/*
 * bench_e2e — end-to-end latency through a running broker: a producer
 * sending at a steady rate and a consumer following the same partition,
 * each record's latency being the time from its scheduled send to the
 * moment the consumer has it in hand.
 *
 * bench/e2e starts the broker and passes its address with -b; this program
 * does not start one (bench/run leaves it out of its program loop).
 *
 * One repetition:
 *
 *   1. create a fresh topic (1 partition, the broker's default config);
 *   2. fork the consumer: its own client and fetcher from offset 0, which
 *      says "ready" through a pipe once the fetcher is set up;
 *   3. the producer (acks 1, linger 0 by default) sends rate × (warm-up +
 *      duration) records on a deadline schedule: record i is due at
 *      start + i / rate, computed from i (no drift), and the value carries
 *      that due time (CLOCK_MONOTONIC ns, one clock for both processes)
 *      and i;
 *   4. the consumer writes receive − due time for each record into memory
 *      shared with the parent (indexed by i, so duplicates and losses are
 *      seen) and exits when it has every record;
 *   5. percentiles over the records after the warm-up.
 *
 * Latency counts from the due time, not from the moment send was called:
 * when the sender falls behind its schedule (a descheduled process, a full
 * pipeline), the delay is in the figures instead of hidden by it
 * (coordinated omission). "sender lag" reports how far behind it fell.
 *
 * Values are JSON objects of exactly -s bytes:
 *   {"seq":42          ,"due_ns":1234567890123       ,"pad":"......"}
 * numbers left-justified in fixed-width fields (blanks after a number are
 * valid JSON), so the consumer reads them at fixed positions.
 *
 * Output: a table on stdout, progress on stderr, and with -j one JSON
 * object per line (bench/run's contract). Targets (p50 <= 1 ms, p99 <= 3 ms)
 * are reported, never enforced.
 *
 * Exit status: 0 when every repetition ran (targets met or not), 1 when
 * something failed (no broker, a send or fetch error, a lost, duplicated or
 * garbled record), 2 for bad usage.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "client.h"
#include "err.h"

#include "bench_common.h"

#define PROG "bench_e2e"

#define E2E_REPS_MAX BENCH_STATS_VALUES_MAX
#define E2E_RECORDS_MAX 20000000u           /* per repetition: bounds the shared array */
#define E2E_RECORD_BYTES_MIN 64u
#define E2E_RECORD_BYTES_MAX 4096u
#define E2E_RATE_MAX 1000000u
#define E2E_SECONDS_MAX 600u
#define E2E_READY_TIMEOUT_MS 15000          /* consumer set up */
#define E2E_DRAIN_TIMEOUT_MS 30000          /* consumer done after the last send */
#define E2E_FLUSH_TIMEOUT_MS 30000
#define E2E_FETCH_SLICE_MS 100
#define E2E_POLLFDS_MAX 16
#define E2E_P50_TARGET_US 1000.0
#define E2E_P99_TARGET_US 3000.0
/* Field positions inside a value; see make_value. */
#define E2E_SEQ_AT 7u
#define E2E_SEQ_WIDTH 12u
#define E2E_DUE_AT (E2E_SEQ_AT + E2E_SEQ_WIDTH + 10u)
#define E2E_DUE_WIDTH 20u
#define E2E_PAD_AT (E2E_DUE_AT + E2E_DUE_WIDTH + 8u)

_Static_assert(E2E_PAD_AT + 2u <= E2E_RECORD_BYTES_MIN, "value template fits the smallest record");

struct options {
	const char *brokers;
	const char *dir;                    /* accepted for bench/run's contract; unused */
	const char *json_path;
	const char *topic_prefix;
	const char *dump_path;              /* -D: every record's latency, for plots */
	uint32_t reps;
	uint32_t rate_per_s;
	uint32_t seconds;
	uint32_t warmup_seconds;
	uint32_t record_bytes;
	int acks;
	uint32_t linger_ms;
};

/* Written by the consumer process, read by the parent after it exited. */
struct shared {
	uint64_t received;
	uint64_t duplicates;
	uint64_t garbled;                   /* wrong size, unparsable, seq out of range */
	uint64_t out_of_order;
	int failed;
	char error[ELOG_ERR_MSG_MAX + 64];
	uint64_t latency_ns[];              /* by seq; 0: not received */
};

/* One repetition's figures. */
struct rep_result {
	double p50_us, p90_us, p99_us, p999_us, max_us;
	double achieved_per_s;              /* measured records / their send span */
	double sender_lag_max_us;           /* worst send behind its due time */
	uint64_t sends_late_1ms;            /* sends more than 1 ms behind */
	uint64_t measured;
};

/* ------------------------------------------------------------ helpers */

/* The consumer process while it runs, so that die() stops it. */
static pid_t consumer_pid;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (consumer_pid > 0) {
		kill(consumer_pid, SIGKILL);
		waitpid(consumer_pid, NULL, 0);
	}
	exit(1);
}

/* Nearest-rank percentile (per mille, 1..1000) of n sorted latencies, in µs. */
static double permille_us(const uint64_t *sorted_ns, uint64_t n, uint32_t permille)
{
	uint64_t rank;

	if (n == 0 || permille == 0 || permille > 1000)
		die("percentile %u/1000 of %" PRIu64 " values", permille, n);
	rank = (n * permille + 999) / 1000;
	return (double)sorted_ns[rank - 1] / 1e3;
}

static uint64_t records_per_rep(const struct options *opt)
{
	return (uint64_t)opt->rate_per_s * (opt->seconds + opt->warmup_seconds);
}

static uint64_t warmup_records(const struct options *opt)
{
	return (uint64_t)opt->rate_per_s * opt->warmup_seconds;
}

/* ------------------------------------------------------------ values */

/* {"seq":<seq>,"due_ns":<due>,"pad":"....."} of exactly opt->record_bytes. */
static void make_value(char *out, uint32_t size, uint64_t seq, uint64_t due_ns)
{
	int n;

	if (size < E2E_RECORD_BYTES_MIN || size > E2E_RECORD_BYTES_MAX)
		die("record size %u outside %u..%u", size, E2E_RECORD_BYTES_MIN, E2E_RECORD_BYTES_MAX);
	n = snprintf(out, size, "{\"seq\":%-12" PRIu64 ",\"due_ns\":%-20" PRIu64 ",\"pad\":\"",
		     seq, due_ns);
	if (n != (int)E2E_PAD_AT)
		die("value template is %d bytes, expected %u", n, E2E_PAD_AT);
	memset(out + E2E_PAD_AT, '.', size - E2E_PAD_AT - 2);
	out[size - 2] = '"';
	out[size - 1] = '}';
	assert(out[E2E_SEQ_AT] >= '0' && out[E2E_SEQ_AT] <= '9');
	assert(out[E2E_DUE_AT] >= '0' && out[E2E_DUE_AT] <= '9');
}

/* A number in a fixed-width, blank-padded field; -1 when it is not one. */
static int field_u64(const uint8_t *at, uint32_t width, uint64_t *out)
{
	char text[32];
	char *end;

	if (width >= sizeof(text))
		die("field width %u", width);
	memcpy(text, at, width);
	text[width] = '\0';
	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(text, &end, 10);
	if (errno)
		return -1;
	while (*end == ' ')
		end++;
	return *end ? -1 : 0;
}

/* ------------------------------------------------------------ consumer */

static void consumer_fail(struct shared *sh, const char *what, const struct elog_err *err)
{
	sh->failed = 1;
	snprintf(sh->error, sizeof(sh->error), "consumer: %s: %s", what, err->msg);
}

/* Account one fetched record: its latency by seq. */
static void consumer_take(struct shared *sh, const struct elog_record_view *rec,
			  const struct options *opt, uint64_t total, uint64_t *last_seq)
{
	uint64_t received_ns = now_ns(), seq, due_ns;

	if ((uint32_t)rec->value_len != opt->record_bytes || !rec->value ||
	    field_u64(rec->value + E2E_SEQ_AT, E2E_SEQ_WIDTH, &seq) < 0 ||
	    field_u64(rec->value + E2E_DUE_AT, E2E_DUE_WIDTH, &due_ns) < 0 || seq >= total) {
		sh->garbled++;
		return;
	}
	if (sh->latency_ns[seq]) {
		sh->duplicates++;
		return;
	}
	if (sh->received && seq < *last_seq)
		sh->out_of_order++;
	*last_seq = seq;
	/* 0 marks "not received": a record can not arrive before it was due, but
	 * keep the mark unambiguous anyway. */
	sh->latency_ns[seq] = received_ns > due_ns ? received_ns - due_ns : 1;
	sh->received++;
	assert(sh->received <= total);
}

/*
 * The child: follow topic partition 0 from offset 0 until every record is
 * in or the bound passes. Signals readiness by writing one byte to
 * ready_fd; exits 0 (the parent reads sh->failed for the verdict).
 */
static void consumer_run(const struct options *opt, const char *topic, struct shared *sh,
			 int ready_fd)
{
	struct elog_client_config cc;
	struct elog_fetcher_config fc;
	struct elog_client *c;
	struct elog_fetcher *f;
	struct elog_pos start = {ELOG_POS_OFFSET, 0};
	struct elog_fetched got;
	struct elog_err err;
	uint64_t total = records_per_rep(opt), last_seq = 0;
	uint64_t bound_ns = now_ns() + ((uint64_t)opt->seconds + opt->warmup_seconds) * 1000000000ull +
			    (uint64_t)(E2E_READY_TIMEOUT_MS + E2E_DRAIN_TIMEOUT_MS) * 1000000ull;
	int rc;

	elog_client_config_init(&cc);
	cc.brokers = opt->brokers;
	elog_fetcher_config_init(&fc);
	if (!(c = elog_client_new(&cc, &err))) {
		consumer_fail(sh, "client", &err);
		return;
	}
	if (!(f = elog_fetcher_new(c, &fc, &err))) {
		elog_client_free(c);
		consumer_fail(sh, "fetcher", &err);
		return;
	}
	if (elog_fetcher_add(f, topic, 0, &start, NULL, &err) < 0) {
		consumer_fail(sh, "add partition", &err);
		goto out;
	}
	if (write(ready_fd, "R", 1) != 1) {
		sh->failed = 1;
		snprintf(sh->error, sizeof(sh->error), "consumer: cannot signal readiness");
		goto out;
	}
	while (sh->received < total && now_ns() < bound_ns) {
		rc = elog_fetcher_next(f, &got, E2E_FETCH_SLICE_MS, &err);
		if (rc < 0) {
			consumer_fail(sh, "fetch", &err);
			break;
		}
		if (rc > 0)
			consumer_take(sh, got.record, opt, total, &last_seq);
	}
out:
	elog_fetcher_free(f);
	elog_client_free(c);
}

/*
 * Fork the consumer; returns its pid once it said it is ready (it then
 * fetches on its own). *done_fd is the pipe end that reads EOF when the
 * child has exited.
 */
static pid_t consumer_start(const struct options *opt, const char *topic, struct shared *sh,
			    int *done_fd)
{
	int fds[2];
	pid_t pid;
	char byte;
	struct pollfd pfd;

	if (pipe(fds) < 0)
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Never outlive the parent (killed by a timeout, say). */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
		close(fds[0]);
		consumer_run(opt, topic, sh, fds[1]);
		_exit(0);
	}
	consumer_pid = pid;
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, E2E_READY_TIMEOUT_MS) <= 0 || read(fds[0], &byte, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		consumer_pid = 0;
		die("%s", sh->error[0] ? sh->error : "consumer: not ready in time");
	}
	*done_fd = fds[0];
	return pid;
}

/* Wait (bounded) for the consumer to exit; kill it past the bound. */
static void consumer_wait(pid_t pid, int done_fd, struct shared *sh)
{
	struct pollfd pfd = {done_fd, POLLIN, 0};
	int64_t deadline_ms = elog_clock_ms() + E2E_DRAIN_TIMEOUT_MS;
	char byte;
	int status;

	for (;;) {
		int64_t left_ms = deadline_ms - elog_clock_ms();
		int rc;

		if (left_ms <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		rc = poll(&pfd, 1, (int)left_ms);
		if (rc < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (rc > 0 && read(done_fd, &byte, 1) <= 0)
			break; /* EOF: the child is gone */
	}
	close(done_fd);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid: %s", strerror(errno));
	consumer_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!sh->failed)
			snprintf(sh->error, sizeof(sh->error), "consumer: killed or crashed (status %d)",
				 status);
		sh->failed = 1;
	}
}

/* ------------------------------------------------------------ producer */

struct producer_ctx {
	uint64_t failed;
	char first_error[ELOG_ERR_MSG_MAX];
};

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct producer_ctx *pc = ctx;

	if (d->error == 0)
		return;
	if (!pc->failed)
		snprintf(pc->first_error, sizeof(pc->first_error), "%s", d->message);
	pc->failed += d->record_count;
}

struct send_stats {
	uint64_t first_measured_ns, last_ns;
	uint64_t lag_max_ns;
	uint64_t late_1ms;
};

/* Send every record on its schedule: record i is due at start + i / rate. */
static void producer_send_all(struct elog_producer *p, const struct options *opt,
			      struct send_stats *st)
{
	uint64_t total = records_per_rep(opt), warm = warmup_records(opt);
	uint64_t start_ns = now_ns() + 1000000ull;
	char value[E2E_RECORD_BYTES_MAX];
	struct elog_record rec;
	struct elog_err err;

	memset(st, 0, sizeof(*st));
	memset(&rec, 0, sizeof(rec));
	rec.timestamp_ms = ELOG_TIMESTAMP_NOW;
	rec.value = (const uint8_t *)value;
	rec.value_len = (int32_t)opt->record_bytes;
	for (uint64_t i = 0; i < total; i++) {
		uint64_t due_ns = start_ns + i * 1000000000ull / opt->rate_per_s, sent_ns;

		if (bench_producer_wait_until(p, due_ns, &err) < 0)
			die("%s", err.msg);
		make_value(value, opt->record_bytes, i, due_ns);
		sent_ns = now_ns();
		if (elog_producer_send(p, &rec, 0, i, &err) < 0)
			die("producer: record %" PRIu64 ": %s", i, err.msg);
		if (elog_producer_poll(p, 0, &err) < 0) /* linger 0: out now */
			die("producer: %s", err.msg);
		if (sent_ns - due_ns > st->lag_max_ns)
			st->lag_max_ns = sent_ns - due_ns;
		if (sent_ns - due_ns > 1000000ull)
			st->late_1ms++;
		if (i == warm)
			st->first_measured_ns = sent_ns;
		st->last_ns = sent_ns;
	}
}

/* ------------------------------------------------------------ one repetition */

static struct elog_producer *producer_open(struct elog_client *c, const char *topic,
					   const struct options *opt, struct producer_ctx *ctx)
{
	struct elog_producer_config pc;
	struct elog_producer *p;
	struct elog_err err;

	elog_producer_config_init(&pc);
	pc.acks = opt->acks;
	pc.linger_ms = opt->linger_ms;
	pc.on_delivery = on_delivery;
	pc.ctx = ctx;
	p = elog_producer_new(c, topic, &pc, &err);
	if (!p)
		die("producer for '%s': %s", topic, err.msg);
	return p;
}

/* -D: "rep seq latency_ns" per record (warm-up included), appended. */
static void dump_latencies(const struct options *opt, uint32_t rep, const struct shared *sh)
{
	FILE *f = fopen(opt->dump_path, rep == 0 ? "w" : "a");

	if (!f)
		die("cannot create %s: %s", opt->dump_path, strerror(errno));
	for (uint64_t i = 0; i < records_per_rep(opt); i++)
		fprintf(f, "%u %" PRIu64 " %" PRIu64 "\n", rep + 1, i, sh->latency_ns[i]);
	if (fclose(f) != 0)
		die("cannot write %s: %s", opt->dump_path, strerror(errno));
}

/* Sort the measured latencies into scratch and take the figures. */
static void rep_figures(const struct shared *sh, const struct options *opt, uint64_t *scratch,
			const struct send_stats *st, struct rep_result *r)
{
	uint64_t total = records_per_rep(opt), warm = warmup_records(opt), n = 0;

	for (uint64_t i = warm; i < total; i++) {
		assert(sh->latency_ns[i] > 0); /* rep_check saw every record */
		scratch[n++] = sh->latency_ns[i];
	}
	if (n == 0)
		die("no records measured (raise -t)");
	qsort(scratch, n, sizeof(*scratch), cmp_u64);
	r->measured = n;
	r->p50_us = permille_us(scratch, n, 500);
	r->p90_us = permille_us(scratch, n, 900);
	r->p99_us = permille_us(scratch, n, 990);
	r->p999_us = permille_us(scratch, n, 999);
	r->max_us = (double)scratch[n - 1] / 1e3;
	r->achieved_per_s = st->last_ns > st->first_measured_ns ?
		(double)(n - 1) * 1e9 / (double)(st->last_ns - st->first_measured_ns) : 0;
	r->sender_lag_max_us = (double)st->lag_max_ns / 1e3;
	r->sends_late_1ms = st->late_1ms;
}

static void rep_check(const struct shared *sh, uint64_t total, const struct producer_ctx *ctx)
{
	if (ctx->failed)
		die("producer: %" PRIu64 " records failed, first: %s", ctx->failed, ctx->first_error);
	if (sh->failed)
		die("%s", sh->error);
	if (sh->garbled || sh->duplicates)
		die("consumer: %" PRIu64 " garbled and %" PRIu64 " duplicated records",
		    sh->garbled, sh->duplicates);
	if (sh->received != total)
		die("consumer: %" PRIu64 " of %" PRIu64 " records arrived within %d ms of the last "
		    "send", sh->received, total, E2E_DRAIN_TIMEOUT_MS);
	if (sh->out_of_order)
		die("consumer: %" PRIu64 " records out of order", sh->out_of_order);
}

static void run_rep(const struct options *opt, uint32_t rep, struct shared *sh, size_t shared_bytes,
		    uint64_t *scratch, struct rep_result *r)
{
	struct elog_client_config cc;
	struct elog_client *c;
	struct elog_producer *p;
	struct producer_ctx ctx;
	struct send_stats st;
	struct elog_err err;
	char topic[128];
	uint64_t total = records_per_rep(opt);
	int done_fd;
	pid_t pid;

	memset(sh, 0, shared_bytes);
	memset(&ctx, 0, sizeof(ctx));
	snprintf(topic, sizeof(topic), "%s-%ld-%u", opt->topic_prefix, (long)getpid(), rep + 1);
	elog_client_config_init(&cc);
	cc.brokers = opt->brokers;
	if (!(c = elog_client_new(&cc, &err)))
		die("%s", err.msg);
	if (elog_admin_create_topic(c, topic, 1, 1, NULL, 0, &err) < 0)
		die("create topic '%s': %s", topic, err.msg);
	p = producer_open(c, topic, opt, &ctx);
	pid = consumer_start(opt, topic, sh, &done_fd);
	producer_send_all(p, opt, &st);
	if (elog_producer_flush(p, E2E_FLUSH_TIMEOUT_MS, &err) < 0)
		die("producer: %s", err.msg);
	consumer_wait(pid, done_fd, sh);
	rep_check(sh, total, &ctx);
	if (opt->dump_path)
		dump_latencies(opt, rep, sh);
	rep_figures(sh, opt, scratch, &st, r);
	elog_producer_free(p);
	if (elog_admin_delete_topic(c, topic, &err) < 0)
		fprintf(stderr, PROG ": note: delete topic '%s': %s\n", topic, err.msg);
	elog_client_free(c);
}

/* ------------------------------------------------------------ report */

#define FIGURES 8

static void figures_of(const struct rep_result *r, uint32_t reps, double out[FIGURES][E2E_REPS_MAX])
{
	for (uint32_t i = 0; i < reps; i++) {
		out[0][i] = r[i].p50_us;
		out[1][i] = r[i].p90_us;
		out[2][i] = r[i].p99_us;
		out[3][i] = r[i].p999_us;
		out[4][i] = r[i].max_us;
		out[5][i] = r[i].achieved_per_s;
		out[6][i] = r[i].sender_lag_max_us;
		out[7][i] = (double)r[i].sends_late_1ms;
	}
}

static void print_table(const struct options *opt, const struct rep_result *r)
{
	static double v[FIGURES][E2E_REPS_MAX];
	double p50, p99;

	figures_of(r, opt->reps, v);
	printf("\n%-8s %8s %9s %9s %9s %9s %9s %11s %9s\n", "rep", "rate/s", "p50 µs", "p90 µs",
	       "p99 µs", "p99.9 µs", "max µs", "lag max µs", "late>1ms");
	for (uint32_t i = 0; i < opt->reps; i++)
		printf("%-8u %8.0f %9.0f %9.0f %9.0f %9.0f %9.0f %11.0f %9" PRIu64 "\n", i + 1,
		       r[i].achieved_per_s, r[i].p50_us, r[i].p90_us, r[i].p99_us, r[i].p999_us,
		       r[i].max_us, r[i].sender_lag_max_us, r[i].sends_late_1ms);
	p50 = median(v[0], opt->reps);
	p99 = median(v[2], opt->reps);
	printf("%-8s %8.0f %9.0f %9.0f %9.0f %9.0f %9.0f %11.0f %9.0f\n", "median",
	       median(v[5], opt->reps), p50, median(v[1], opt->reps), p99, median(v[3], opt->reps),
	       median(v[4], opt->reps), median(v[6], opt->reps), median(v[7], opt->reps));
	printf("\nlatency = consumer has the record − its due time on the send schedule "
	       "(%u records/s, %u B values,\nacks=%s, linger %u ms, %u s measured after %u s "
	       "warm-up, 1 partition); medians of %u reps.\nlag: how far the sender fell behind "
	       "its schedule; late>1ms: sends more than 1 ms behind it.\n",
	       opt->rate_per_s, opt->record_bytes, opt->acks < 0 ? "all" : opt->acks ? "1" : "0",
	       opt->linger_ms, opt->seconds, opt->warmup_seconds, opt->reps);
	printf("target p50 <= %.0f µs: %s; p99 <= %.0f µs: %s\n", E2E_P50_TARGET_US,
	       p50 <= E2E_P50_TARGET_US ? "met" : "NOT MET", E2E_P99_TARGET_US,
	       p99 <= E2E_P99_TARGET_US ? "met" : "NOT MET");
}

static void json_array(FILE *f, const char *name, const double *v, uint32_t n)
{
	fprintf(f, "\"%s\":[", name);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%.1f", i ? "," : "", v[i]);
	fprintf(f, "]");
}

static void write_json(const struct options *opt, const struct rep_result *r)
{
	static double v[FIGURES][E2E_REPS_MAX];
	static const char *const names[FIGURES] = { "p50_us", "p90_us", "p99_us", "p999_us",
		"max_us", "achieved_per_s", "sender_lag_max_us", "sends_late_1ms" };
	FILE *f = fopen(opt->json_path, "w");
	double p50, p99;

	if (!f)
		die("cannot create %s: %s", opt->json_path, strerror(errno));
	figures_of(r, opt->reps, v);
	p50 = median(v[0], opt->reps);
	p99 = median(v[2], opt->reps);
	fprintf(f, "{\"type\":\"result\",\"program\":\"" PROG "\",\"benchmark\":\"latency\","
		"\"record_bytes\":%u,\"rate_per_s\":%u,\"seconds\":%u,\"warmup_seconds\":%u,"
		"\"acks\":%d,\"linger_ms\":%u,\"partitions\":1,\"reps\":%u,\"records_measured\":%"
		PRIu64 ",\"elog\":{", opt->record_bytes, opt->rate_per_s, opt->seconds,
		opt->warmup_seconds, opt->acks, opt->linger_ms, opt->reps, r[0].measured);
	for (uint32_t k = 0; k < FIGURES; k++)
		fprintf(f, "\"%s\":%.1f,", names[k], median(v[k], opt->reps));
	fprintf(f, "\"per_rep\":{");
	for (uint32_t k = 0; k < FIGURES; k++) {
		json_array(f, names[k], v[k], opt->reps);
		fputs(k + 1 < FIGURES ? "," : "", f);
	}
	fprintf(f, "}},\"target\":{\"what\":\"p50 <= %.0f us and p99 <= %.0f us\",\"p50_met\":%s,"
		"\"p99_met\":%s,\"met\":%s}}\n", E2E_P50_TARGET_US, E2E_P99_TARGET_US,
		p50 <= E2E_P50_TARGET_US ? "true" : "false", p99 <= E2E_P99_TARGET_US ? "true" : "false",
		p50 <= E2E_P50_TARGET_US && p99 <= E2E_P99_TARGET_US ? "true" : "false");
	if (fclose(f) != 0)
		die("cannot write %s: %s", opt->json_path, strerror(errno));
}

/* ------------------------------------------------------------ main */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " -b brokers [-d dir] [-j json] [-r reps] [-R rate] [-t seconds]\n"
		"                 [-w seconds] [-s bytes] [-a acks] [-l linger_ms] [-T topic_prefix]\n"
		"                 [-D file]\n"
		"  -b brokers      a running broker, host:port (bench/e2e starts one)\n"
		"  -d dir          scratch directory (bench/run's contract; nothing is written there)\n"
		"  -j json         write one JSON object to this file\n"
		"  -r reps         repetitions, medians reported (default 3)\n"
		"  -R rate         records per second (default 10000)\n"
		"  -t seconds      measured time per repetition (default 15)\n"
		"  -w seconds      warm-up before it, not measured (default 2)\n"
		"  -s bytes        value size (default 100)\n"
		"  -a acks         0, 1 or all (default 1)\n"
		"  -l linger_ms    producer linger (default 0)\n"
		"  -T prefix       topic name prefix (default e2e-latency); a fresh topic per rep\n"
		"  -D file         write \"rep seq latency_ns\" for every record to file\n");
	exit(status);
}

static void parse_options(int argc, char **argv, struct options *opt)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->reps = 3;
	opt->rate_per_s = 10000;
	opt->seconds = 15;
	opt->warmup_seconds = 2;
	opt->record_bytes = 100;
	opt->acks = 1;
	opt->topic_prefix = "e2e-latency";
	while ((c = getopt(argc, argv, "b:d:j:r:R:t:w:s:a:l:T:D:h")) != -1) {
		switch (c) {
		case 'b': opt->brokers = optarg; break;
		case 'd': opt->dir = optarg; break;
		case 'j': opt->json_path = optarg; break;
		case 'r': opt->reps = (uint32_t)bench_option_u64(PROG, c, optarg, 1, E2E_REPS_MAX); break;
		case 'R': opt->rate_per_s = (uint32_t)bench_option_u64(PROG, c, optarg, 1, E2E_RATE_MAX); break;
		case 't': opt->seconds = (uint32_t)bench_option_u64(PROG, c, optarg, 1, E2E_SECONDS_MAX); break;
		case 'w': opt->warmup_seconds = (uint32_t)bench_option_u64(PROG, c, optarg, 0, E2E_SECONDS_MAX); break;
		case 's': opt->record_bytes = (uint32_t)bench_option_u64(PROG, c, optarg, E2E_RECORD_BYTES_MIN,
								  E2E_RECORD_BYTES_MAX); break;
		case 'a':
			if (strcmp(optarg, "all") == 0 || strcmp(optarg, "-1") == 0)
				opt->acks = -1;
			else
				opt->acks = (int)bench_option_u64(PROG, c, optarg, 0, 1);
			break;
		case 'l': opt->linger_ms = (uint32_t)bench_option_u64(PROG, c, optarg, 0, 60000); break;
		case 'T': opt->topic_prefix = optarg; break;
		case 'D': opt->dump_path = optarg; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !opt->brokers)
		usage(2);
	if (records_per_rep(opt) > E2E_RECORDS_MAX) {
		fprintf(stderr, PROG ": rate × (seconds + warm-up) is over %u records\n",
			E2E_RECORDS_MAX);
		usage(2);
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	struct rep_result r[E2E_REPS_MAX];
	struct shared *sh;
	uint64_t *scratch;
	size_t shared_bytes;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_options(argc, argv, &opt);
	signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* wake on the schedule, not 50 µs late */
	shared_bytes = sizeof(*sh) + records_per_rep(&opt) * sizeof(uint64_t);
	sh = mmap(NULL, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap %zu bytes: %s", shared_bytes, strerror(errno));
	scratch = malloc(records_per_rep(&opt) * sizeof(*scratch));
	if (!scratch)
		die("out of memory");
	printf(PROG ": broker %s, %u records/s of %u B for %u s (+%u s warm-up), acks=%s, "
	       "linger %u ms, %u reps\n", opt.brokers, opt.rate_per_s, opt.record_bytes, opt.seconds,
	       opt.warmup_seconds, opt.acks < 0 ? "all" : opt.acks ? "1" : "0", opt.linger_ms,
	       opt.reps);
	for (uint32_t i = 0; i < opt.reps; i++) {
		fprintf(stderr, PROG ": rep %u/%u\n", i + 1, opt.reps);
		run_rep(&opt, i, sh, shared_bytes, scratch, &r[i]);
		fprintf(stderr, PROG ": rep %u: p50 %.0f µs, p99 %.0f µs, max %.0f µs, %.0f records/s\n",
			i + 1, r[i].p50_us, r[i].p99_us, r[i].max_us, r[i].achieved_per_s);
	}
	print_table(&opt, r);
	if (opt.json_path) {
		write_json(&opt, r);
		printf("json: %s\n", opt.json_path);
	}
	free(scratch);
	munmap(sh, shared_bytes);
	return 0;
}
