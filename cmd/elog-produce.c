/*
 * elog-produce — append lines from stdin or files to a topic; see
 * elog-produce(1).
 *
 * The read loop: lineread hands out lines as spans of its block buffer;
 * lineconv (libcore) checks each and turns it into a record (strict JSON
 * unless --raw, an envelope with --json; key by -k or -K, headers by -H,
 * size limits) and the producer copies it into a batch. This file is the
 * options and the wiring: inputs, rejects, progress, the final report.
 * Nothing is allocated and no
 * system call is made per line: the reader reads large blocks, the
 * producer sends whole batches.
 *
 * Every record carries a tag, (input index << 40) | line number, and the
 * producer reports every batch as delivered or failed with its records'
 * tags, so the lowest failed tag names the first line that was not
 * delivered. A rejected line is reported ("line 12: invalid JSON: ..."),
 * copied to --reject exactly as read, and the run goes on. A delivery
 * failure (the broker unreachable past --timeout, or a final error) stops
 * the reading; what is in flight is settled, and one line says how many
 * lines were not delivered and which was the first.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "client.h"
#include "lineconv.h"
#include "lineread.h"
#include "proto.h"

#define INPUTS_MAX 256
#define TAG_LINE_BITS 40
#define TAG_LINE_MASK ((UINT64_C(1) << TAG_LINE_BITS) - 1)
/* Longest line when neither --max-record-bytes nor the topic says. */
#define RECORD_BYTES_FALLBACK (1u << 20)
#define TIMEOUT_DEFAULT_MS 30000
#define REQUEST_TIMEOUT_MAX_MS 30000
#define LINGER_MAX_MS (60 * 1000)
#define PROGRESS_INTERVAL_MS 500
/* Look at the clock for the progress line every this many lines. */
#define PROGRESS_LINES_MASK 1023u
#define POLL_FDS_MAX 64
#define CONNECT_BACKOFF_MS 200
#define CONNECT_BACKOFF_MAX_MS 2000

enum {
	OPT_JSON = 256,
	OPT_RAW,
	OPT_KEEP_PARTITION,
	OPT_REJECT,
	OPT_LINGER,
	OPT_BATCH_SIZE,
	OPT_MAX_RECORD_BYTES,
	OPT_NO_IDEMPOTENCE,
	OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_VERSION,
};

static const struct elog_cli_option options[] = {
	{'a', "acks", "ACKS", "0 (none), 1 (the leader) or all (the commit; default)"},
	{'b', "brokers", "BROKERS", "host:port,... (default $ELOG_BROKERS or 127.0.0.1:7411)"},
	{'H', "header", "NAME=VALUE", "add a header to every record; repeatable"},
	{'i', "input", "FILE", "read FILE ('-': stdin) instead of stdin; repeatable"},
	{'k', "key-field", "FIELD", "key from the top-level field FIELD of JSON lines"},
	{'K', "key-delimiter", "DELIM", "each line is KEY DELIM VALUE"},
	{'p', "partition", "N", "send every record to partition N"},
	{'q', "quiet", NULL, "no progress line on a terminal"},
	{'z', "compression", "CODEC", "none, lz4 or zlib (default none)"},
	{OPT_JSON, "json", NULL, "lines are elog-consume --json envelopes"},
	{OPT_RAW, "raw", NULL, "lines are any bytes, not checked as JSON"},
	{OPT_KEEP_PARTITION, "keep-partition", NULL,
	 "with --json: send each record to its envelope's partition"},
	{OPT_BATCH_SIZE, "batch-size", "SIZE", "close a batch at this many bytes (default 256k)"},
	{OPT_LINGER, "linger", "DURATION", "wait this long to fill a batch (default 5ms)"},
	{OPT_MAX_RECORD_BYTES, "max-record-bytes", "SIZE",
	 "reject longer lines (default: the topic's limit)"},
	{OPT_NO_IDEMPOTENCE, "no-idempotence", NULL, "let retries duplicate records"},
	{OPT_REJECT, "reject", "FILE", "write rejected lines to FILE, exactly as read"},
	{OPT_TIMEOUT, "timeout", "DURATION", "give up on unacknowledged records (default 30s)"},
	{OPT_CONNECT_TIMEOUT, "connect-timeout", "DURATION", "wait this long for a connection to a broker (default 3s)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-hq] [-a acks] [-b brokers] [-H name=value] [-i file] [-k field | -K delim]"
		    " [-p partition] [-z codec] [--json [--keep-partition] | --raw] [--batch-size size]"
		    " [--linger duration] [--max-record-bytes size] [--no-idempotence]"
		    " [--reject file] [--timeout duration] [--version] topic",
	.summary = "Append each input line to TOPIC as one record. Lines must be JSON unless\n"
		   "--raw; invalid lines are reported and skipped, and the exit status is 1.",
	.options = options,
};

struct options {
	const char *brokers;
	const char *topic;
	const char *inputs[INPUTS_MAX];
	size_t input_count;             /* 0: stdin */
	const char *key_field;          /* -k */
	const char *key_delimiter;      /* -K */
	size_t key_delimiter_len;
	int32_t partition;              /* -p; -1: chosen per record */
	struct elog_header headers[ELOG_RECORD_HEADERS_MAX];
	uint32_t header_count;
	enum elog_lineconv_mode mode;
	int keep_partition;             /* --keep-partition */
	const char *reject_path;
	int acks;                       /* 0, 1, -1 */
	enum elog_compression compression;
	int64_t linger_ms;              /* -1: the producer's default */
	uint64_t batch_bytes;           /* 0: the producer's default */
	uint64_t record_bytes_max;      /* 0: the topic's max.record.bytes */
	int64_t timeout_ms;
	int64_t connect_timeout_ms;     /* 0: the library's default */
	int idempotence;
	int quiet;
};

/* One input: a file, or stdin. label is NULL when messages name no file. */
struct input {
	const char *label;
	int fd;
};

struct progress {
	int enabled;
	int shown;                      /* a progress line is on the terminal */
	int64_t last_ms;
	uint64_t last_records, last_bytes;
};

struct produce {
	struct options o;
	struct input inputs[INPUTS_MAX];
	size_t input_count;
	struct elog_client *client;
	struct elog_producer *producer;
	uint32_t partition_count;       /* as the producer knows it; 0: unknown */
	struct elog_lineread reader;
	int reader_open;
	struct elog_lineconv conv;      /* line -> record */
	int conv_ready;
	FILE *reject;
	int reject_failed;
	struct progress progress;

	/* counters */
	uint64_t lines;                 /* read, all inputs */
	uint64_t rejected;
	uint64_t sent;                  /* accepted by the producer */
	uint64_t sent_bytes;            /* value bytes of those */
	uint64_t long_line;             /* number of the too-long line being skipped, 0: none */
	int key_warned;
	int read_failed;
	int input_done;                 /* every input was read to its end */
	uint64_t last_tag;              /* of the last line read */

	/* deliveries */
	int stopped;                    /* stop reading: a delivery failed */
	uint64_t undelivered;           /* records that failed or could not be sent */
	uint64_t first_undelivered_tag; /* lowest tag among them */
	char first_error[ELOG_ERR_MSG_MAX];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---------------------------------------------------------------- messages */

static int in_foreground(void);

/* Erase the progress line, unless the job went to the background meanwhile
 * (its line is no longer the terminal's current one: leave it). */
static void progress_clear(struct produce *p)
{
	if (p->progress.shown) {
		if (in_foreground()) {
			ssize_t n = write(STDERR_FILENO, "\r\033[K", 4);
			(void)n;
		}
		p->progress.shown = 0;
	}
}

/* "line 12" or "data.json: line 12", for the input and line of a tag. */
static void where(const struct produce *p, uint64_t tag, char *out, size_t cap)
{
	size_t index = (size_t)(tag >> TAG_LINE_BITS);
	const char *label = index < p->input_count ? p->inputs[index].label : NULL;

	snprintf(out, cap, "%s%sline %" PRIu64, label ? label : "", label ? ": " : "",
		 tag & TAG_LINE_MASK);
}

/* Line numbers past 2^40 would share tags; a trillion lines is far beyond a run. */
static uint64_t make_tag(size_t input, uint64_t line)
{
	assert(input < INPUTS_MAX);
	return ((uint64_t)input << TAG_LINE_BITS) | (line & TAG_LINE_MASK);
}

/* ---------------------------------------------------------------- progress */

/*
 * The progress line is for a person watching the terminal, and must not
 * draw over anything else there: only when stderr is a terminal and stdin
 * is not (someone typing would be overwritten), and only while this process
 * is in the terminal's foreground (a background job would draw over the
 * shell's prompt; checked at every refresh, as a job can be moved).
 */
static int progress_wanted(int quiet)
{
	return !quiet && isatty(STDERR_FILENO) && !isatty(STDIN_FILENO);
}

static int in_foreground(void)
{
	pid_t fg = tcgetpgrp(STDERR_FILENO);

	return fg >= 0 && fg == getpgrp();
}

static void progress_show(struct produce *p, int64_t now_ms)
{
	struct progress *g = &p->progress;
	double seconds = (double)(now_ms - g->last_ms) / 1000.0;
	char line[160];
	int n;

	if (seconds <= 0)
		seconds = 0.001;
	if (!in_foreground()) {
		g->shown = 0;
		n = 0;
	} else {
		n = snprintf(line, sizeof(line), "\r%s: %" PRIu64 " record%s, %.0f records/s, "
			     "%.1f MB/s\033[K", elog_cli_prog(), p->sent, p->sent == 1 ? "" : "s",
			     (double)(p->sent - g->last_records) / seconds,
			     (double)(p->sent_bytes - g->last_bytes) / seconds / 1e6);
	}
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) == n)
		g->shown = 1;
	g->last_ms = now_ms;
	g->last_records = p->sent;
	g->last_bytes = p->sent_bytes;
}

static void progress_tick(struct produce *p)
{
	int64_t now_ms;

	if (!p->progress.enabled)
		return;
	now_ms = elog_clock_ms();
	if (now_ms - p->progress.last_ms >= PROGRESS_INTERVAL_MS)
		progress_show(p, now_ms);
}

/* Milliseconds until the progress line is due; -1 when there is none. */
static int progress_due_ms(const struct produce *p)
{
	int64_t due;

	if (!p->progress.enabled)
		return -1;
	due = p->progress.last_ms + PROGRESS_INTERVAL_MS - elog_clock_ms();
	return due < 0 ? 0 : (int)due;
}

/* ---------------------------------------------------------------- deliveries */

static void note_undelivered(struct produce *p, uint64_t tag, const char *why)
{
	if (p->undelivered == 0 || tag < p->first_undelivered_tag)
		p->first_undelivered_tag = tag;
	if (p->undelivered == 0 && p->first_error[0] == '\0')
		snprintf(p->first_error, sizeof(p->first_error), "%s", why);
	p->undelivered++;
}

/* A final error: stop reading; the first reason is the one reported. */
static void stop(struct produce *p, const char *why)
{
	if (p->first_error[0] == '\0')
		snprintf(p->first_error, sizeof(p->first_error), "%s", why);
	p->stopped = 1;
}

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct produce *p = ctx;

	if (d->error == 0)
		return;
	for (uint32_t i = 0; i < d->record_count; i++)
		note_undelivered(p, d->tags[i], d->message && d->message[0] ? d->message :
				 "delivery failed");
	stop(p, "delivery failed");
}

/* ---------------------------------------------------------------- rejects */

/* Copy bytes of a rejected line to --reject, exactly as read. */
static void reject_copy(struct produce *p, const char *bytes, size_t len, int newline)
{
	if (!p->reject || p->reject_failed)
		return;
	if (fwrite(bytes, 1, len, p->reject) != len || (newline && putc('\n', p->reject) == EOF)) {
		progress_clear(p);
		elog_cli_error_errno(errno, "%s: cannot write", p->o.reject_path);
		p->reject_failed = 1;
	}
}

static void reject_line(struct produce *p, uint64_t tag, const struct elog_line *line,
			const char *what, const char *why)
{
	char at[96];

	where(p, tag, at, sizeof(at));
	progress_clear(p);
	elog_cli_error("%s: %s%s%s", at, what, why ? ": " : "", why ? why : "");
	reject_copy(p, line->ptr, line->len, line->newline);
	p->rejected++;
}

/* ---------------------------------------------------------------- lines */

static void warn_null_key(struct produce *p, uint64_t tag, const char *what)
{
	char at[96];

	if (p->key_warned)
		return;
	p->key_warned = 1;
	where(p, tag, at, sizeof(at));
	progress_clear(p);
	elog_cli_warn("%s: %s: sent with a null key (reported once)", at, what);
}

static void send_record(struct produce *p, uint64_t tag, const struct elog_line *line,
			const struct elog_record *rec, int32_t partition)
{
	struct elog_err err;

	if (elog_producer_send(p->producer, rec, partition, tag, &err) == 0) {
		p->sent++;
		p->sent_bytes += rec->value_len > 0 ? (uint64_t)rec->value_len : 0;
		return;
	}
	/* A record the producer refuses on its own (too large for a batch, a
	 * bad partition) is this line's problem; anything else ends the run. */
	if (!p->stopped && (err.code == ELOG_E_INVAL || err.code == ELOG_E_LIMIT)) {
		reject_line(p, tag, line, "cannot send", err.msg);
		return;
	}
	note_undelivered(p, tag, err.msg);
	stop(p, err.msg);
}

static void handle_line(struct produce *p, size_t input, const struct elog_line *line)
{
	struct elog_lineconv_result out;
	uint64_t tag = make_tag(input, line->number);
	struct elog_err err;
	char why[64];

	assert(line->len <= p->conv.line_bytes_max);
	p->last_tag = tag;
	if (line->too_long) {
		if (p->long_line != line->number) {
			p->long_line = line->number;
			snprintf(why, sizeof(why), "line longer than %zu bytes", p->conv.line_bytes_max);
			reject_line(p, tag, line, why, NULL);
		} else {
			reject_copy(p, line->ptr, line->len, line->newline);
		}
		return;
	}
	if (elog_lineconv_convert(&p->conv, line->ptr, line->len, &out, &err) < 0) {
		reject_line(p, tag, line, err.msg, NULL);
		return;
	}
	if (out.warning)
		warn_null_key(p, tag, out.warning);
	/* Refused here, a record too large is rejected alone (lineconv); -p wins
	 * over an envelope's partition. */
	send_record(p, tag, line, &out.record, p->o.partition >= 0 ? p->o.partition : out.partition);
}

/* ---------------------------------------------------------------- reading */

/*
 * Block until the input is readable, running the producer's timers and
 * I/O meanwhile (a slow pipe must not hold back lingering batches).
 * -1 when reading should stop (a delivery failed, or a signal).
 */
static int wait_input(struct produce *p, int fd)
{
	struct pollfd fds[POLL_FDS_MAX + 1];
	struct elog_err err;

	for (;;) {
		int timeout = elog_producer_timeout_ms(p->producer), due = progress_due_ms(p);
		size_t n = 1 + elog_producer_pollfds(p->producer, fds + 1, POLL_FDS_MAX);
		int ready;

		if (p->stopped || interrupted)
			return -1;
		if (due >= 0 && (timeout < 0 || due < timeout))
			timeout = due;
		fds[0].fd = fd;
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		ready = poll(fds, (nfds_t)n, timeout);
		if (ready < 0 && errno != EINTR) {
			progress_clear(p);
			elog_cli_error_errno(errno, "poll");
			p->read_failed = 1;
			return -1;
		}
		if (ready > 0 && fds[0].revents)
			return 0;
		if (elog_producer_poll(p->producer, 0, &err) < 0)
			stop(p, err.msg);
		progress_tick(p);
	}
}

/* Returns 0 at the end of the input, -1 when reading stopped before it. */
static int read_input(struct produce *p, size_t index)
{
	struct input *in = &p->inputs[index];
	struct elog_line line;
	struct elog_err err;
	int rc;

	if (elog_lineread_init(&p->reader, in->fd, p->conv.line_bytes_max, 0, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		p->read_failed = 1;
		return -1;
	}
	p->long_line = 0;
	for (rc = -1; !p->stopped && !interrupted;) {
		rc = elog_lineread_try_next(&p->reader, &line, &err);
		if (rc == ELOG_LINEREAD_AGAIN) {
			if (wait_input(p, in->fd) < 0)
				break;
			rc = elog_lineread_fill(&p->reader, &err);
			if (rc == 0)
				continue;
		}
		if (rc < 0) {
			progress_clear(p);
			elog_cli_error_err(&err, "%s", in->label ? in->label : "stdin");
			p->read_failed = 1;
			break;
		}
		if (rc == 0) {
			if (index + 1 == p->input_count)
				p->input_done = 1;
			break;
		}
		if (!line.too_long || line.number != p->long_line)
			p->lines++;
		handle_line(p, index, &line);
		if ((p->lines & PROGRESS_LINES_MASK) == 0)
			progress_tick(p);
	}
	elog_lineread_release(&p->reader);
	return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- setup */

static int open_inputs(struct produce *p)
{
	size_t i;

	if (p->o.input_count == 0) {
		p->inputs[0].label = NULL;
		p->inputs[0].fd = STDIN_FILENO;
		p->input_count = 1;
	}
	for (i = 0; i < p->o.input_count; i++) {
		const char *path = p->o.inputs[i];
		int is_stdin = strcmp(path, "-") == 0;

		p->inputs[i].label = is_stdin ? "stdin" : path;
		p->inputs[i].fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
		if (p->inputs[i].fd < 0) {
			elog_cli_error_errno(errno, "%s: cannot open", path);
			p->input_count = i;
			return -1;
		}
		p->input_count = i + 1;
	}
#ifdef F_SETPIPE_SZ
	/* Fewer, larger reads from a pipe; a refusal costs nothing. */
	for (i = 0; i < p->input_count; i++) {
		struct stat st;
		if (fstat(p->inputs[i].fd, &st) == 0 && S_ISFIFO(st.st_mode))
			(void)fcntl(p->inputs[i].fd, F_SETPIPE_SZ, 1 << 20);
	}
#endif
	return 0;
}

static void close_inputs(struct produce *p)
{
	for (size_t i = 0; i < p->input_count; i++)
		if (p->inputs[i].fd != STDIN_FILENO)
			close(p->inputs[i].fd);
	p->input_count = 0;
}

/*
 * The longest line to accept: --max-record-bytes, else the topic's
 * max.record.bytes, else RECORD_BYTES_FALLBACK (a topic that does not exist
 * yet). -1 only when the broker could not be asked (for a retry).
 */
static int record_limit(struct produce *p, uint64_t *bytes, struct elog_err *err)
{
	struct elog_topic_descriptions d = {0};
	const char *names[1] = {p->o.topic};
	struct elog_err parse_err;

	*bytes = p->o.record_bytes_max ? p->o.record_bytes_max : RECORD_BYTES_FALLBACK;
	if (p->o.record_bytes_max)
		return 0;
	if (elog_admin_describe_topics(p->client, names, 1, &d, err) < 0)
		return err->code == ELOG_E_IO ? -1 : 0;
	for (size_t i = 0; i < d.count; i++) {
		const struct elog_topic_description *t = &d.topics[i];
		if (t->error != 0 || strcmp(t->name, p->o.topic) != 0)
			continue;
		for (size_t c = 0; c < t->config_count; c++)
			if (strcmp(t->configs[c].key, "max.record.bytes") == 0 &&
			    elog_cli_parse_size(t->configs[c].value, bytes, &parse_err) < 0)
				*bytes = RECORD_BYTES_FALLBACK;
	}
	elog_topic_descriptions_release(&d);
	if (*bytes == 0 || *bytes > ELOG_BATCH_SIZE_MAX)
		*bytes = RECORD_BYTES_FALLBACK;
	return 0;
}

static void producer_config(const struct produce *p, struct elog_producer_config *pc)
{
	elog_producer_config_init(pc);
	pc->acks = p->o.acks;
	if (p->o.linger_ms >= 0)
		pc->linger_ms = (uint32_t)p->o.linger_ms;
	if (p->o.batch_bytes)
		pc->batch_bytes = (uint32_t)p->o.batch_bytes;
	pc->compression = p->o.compression;
	pc->delivery_timeout_ms = (uint32_t)p->o.timeout_ms;
	if (pc->request_timeout_ms > (uint32_t)p->o.timeout_ms)
		pc->request_timeout_ms = (uint32_t)p->o.timeout_ms;
	pc->idempotence = p->o.idempotence && p->o.acks != 0;
	pc->on_delivery = on_delivery;
	pc->ctx = (void *)p;
}

/*
 * Connect: ask the topic's record limit and make the producer, retrying
 * while no broker answers, until --timeout. Returns an exit code, or -1 to
 * go on.
 */
static int connect_producer(struct produce *p, uint64_t *record_bytes)
{
	struct elog_client_config cc;
	struct elog_producer_config pc;
	struct elog_err err;
	int64_t deadline_ms = elog_clock_ms() + p->o.timeout_ms;

	elog_client_config_init(&cc);
	cc.brokers = p->o.brokers;
	if (p->o.connect_timeout_ms)
		cc.connect_timeout_ms = (int)p->o.connect_timeout_ms;
	cc.request_timeout_ms = p->o.timeout_ms < REQUEST_TIMEOUT_MAX_MS ? (int)p->o.timeout_ms :
				REQUEST_TIMEOUT_MAX_MS;
	p->client = elog_client_new(&cc, &err);
	if (!p->client)
		return elog_cli_usage_error(&program, "%s", err.msg);
	producer_config(p, &pc);
	for (uint32_t attempt = 0;; attempt++) {
		int64_t left_ms;
		uint32_t backoff;

		/* The producer first: it has the topic created when it is missing,
		 * and then the topic's own max.record.bytes can be read. */
		if (!p->producer)
			p->producer = elog_producer_new(p->client, p->o.topic, &pc, &err);
		if (p->producer && record_limit(p, record_bytes, &err) == 0)
			return -1;
		left_ms = deadline_ms - elog_clock_ms();
		if (err.code != ELOG_E_IO || left_ms <= 0 || interrupted) {
			elog_cli_error_err(&err, "nothing delivered");
			return ELOG_EXIT_FAIL;
		}
		backoff = elog_backoff_ms(attempt, CONNECT_BACKOFF_MS, CONNECT_BACKOFF_MAX_MS,
					  (uint32_t)rand());
		poll(NULL, 0, left_ms < backoff ? (int)left_ms : (int)backoff);
	}
}

/* Size the buffers by the line limit; check -p against the topic. */
static int prepare(struct produce *p, uint64_t record_bytes)
{
	struct elog_lineconv_config cfg;
	struct elog_err err;

	p->partition_count = elog_producer_partition_count(p->producer);
	if (p->o.partition >= 0 && p->partition_count > 0 &&
	    (uint32_t)p->o.partition >= p->partition_count) {
		elog_cli_error("partition %" PRId32 " out of range: topic '%s' has %" PRIu32
			       " partitions", p->o.partition, p->o.topic, p->partition_count);
		return -1;
	}
	elog_lineconv_config_init(&cfg);
	cfg.mode = p->o.mode;
	cfg.key_field = p->o.key_field;
	cfg.key_delimiter = p->o.key_delimiter;
	cfg.key_delimiter_len = p->o.key_delimiter_len;
	cfg.headers = p->o.headers;
	cfg.header_count = p->o.header_count;
	cfg.keep_partition = p->o.keep_partition;
	cfg.partition_count = p->partition_count;
	cfg.record_bytes_max = record_bytes;
	cfg.timestamp_default = ELOG_TIMESTAMP_NOW;
	if (elog_lineconv_init(&p->conv, &cfg, &err) < 0) {
		elog_lineconv_release(&p->conv);
		elog_cli_error_err(&err, NULL);
		return -1;
	}
	p->conv_ready = 1;
	return 0;
}

/* ---------------------------------------------------------------- the end */

/* Settle everything in flight, then say what was lost. Returns the exit code. */
static int finish(struct produce *p)
{
	struct elog_producer_stats st;
	struct elog_err err;
	uint64_t unreported, lost;
	char at[96], unread[128] = "";
	int rc = ELOG_EXIT_OK;

	if (elog_producer_flush(p->producer, (int)p->o.timeout_ms + REQUEST_TIMEOUT_MAX_MS, &err) < 0
	    && p->first_error[0] == '\0')
		snprintf(p->first_error, sizeof(p->first_error), "%s", err.msg);
	elog_producer_stats(p->producer, &st);
	assert(st.records_delivered + st.records_failed <= st.records_sent);
	unreported = st.records_sent - st.records_delivered - st.records_failed;
	lost = p->undelivered + unreported;
	progress_clear(p);
	if (p->rejected > 0) {
		elog_cli_error("%" PRIu64 " of %" PRIu64 " lines rejected", p->rejected, p->lines);
		rc = ELOG_EXIT_FAIL;
	}
	if (!p->input_done && p->lines > 0) {
		where(p, p->last_tag, at, sizeof(at));
		snprintf(unread, sizeof(unread), ", input not read past %s", at);
	}
	if (lost > 0) {
		if (p->undelivered > 0)
			where(p, p->first_undelivered_tag, at, sizeof(at));
		else
			snprintf(at, sizeof(at), "not known");
		elog_cli_error("%" PRIu64 " line%s not delivered (the first is %s)%s: %s", lost,
			       lost == 1 ? "" : "s", at, unread,
			       p->first_error[0] ? p->first_error : "no acknowledgement in time");
		rc = ELOG_EXIT_FAIL;
	} else if (p->stopped) {
		elog_cli_error("stopped%s: %s", unread, p->first_error);
		rc = ELOG_EXIT_FAIL;
	} else if (interrupted) {
		elog_cli_error("interrupted%s; every line read was delivered", unread);
		rc = ELOG_EXIT_FAIL;
	}
	if (p->read_failed || p->reject_failed)
		rc = ELOG_EXIT_FAIL;
	return rc;
}

/* ---------------------------------------------------------------- options */

static int parse_header(struct options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return elog_cli_usage_error(&program, "-H: expected NAME=VALUE, not \"%s\"", arg);
	if (o->header_count == ELOG_RECORD_HEADERS_MAX)
		return elog_cli_usage_error(&program, "-H: more than %d headers",
					    ELOG_RECORD_HEADERS_MAX);
	o->headers[o->header_count].name = (const uint8_t *)arg;
	o->headers[o->header_count].name_len = (uint32_t)(eq - arg);
	o->headers[o->header_count].value = (const uint8_t *)eq + 1;
	o->headers[o->header_count].value_len = (int32_t)strlen(eq + 1);
	o->header_count++;
	return -1;
}

/* One option with a value; returns -1 to go on, else the exit code. */
static int parse_value(struct options *o, int id, const char *arg)
{
	struct elog_err err;
	uint64_t u;
	int c;

	switch (id) {
	case 'a':
		if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0)
			o->acks = -1;
		else if (strcmp(arg, "0") == 0 || strcmp(arg, "1") == 0)
			o->acks = arg[0] - '0';
		else
			return elog_cli_usage_error(&program, "--acks: expected 0, 1 or all, not \"%s\"",
						    arg);
		return -1;
	case 'b':
		o->brokers = arg;
		return -1;
	case 'H':
		return parse_header(o, arg);
	case 'i':
		if (o->input_count == INPUTS_MAX)
			return elog_cli_usage_error(&program, "-i: more than %d inputs", INPUTS_MAX);
		o->inputs[o->input_count++] = arg;
		return -1;
	case 'k':
		if (!*arg)
			return elog_cli_usage_error(&program, "-k: empty field name");
		o->key_field = arg;
		return -1;
	case 'K':
		if (!*arg)
			return elog_cli_usage_error(&program, "-K: empty delimiter");
		o->key_delimiter = arg;
		o->key_delimiter_len = strlen(arg);
		return -1;
	case 'p':
		if (elog_cli_parse_u64(arg, 0, INT32_MAX, &u, &err) < 0)
			return elog_cli_usage_error(&program, "--partition: %s", err.msg);
		o->partition = (int32_t)u;
		return -1;
	case 'z':
		if ((c = elog_compression_parse(arg)) < 0)
			return elog_cli_usage_error(&program,
						    "--compression: expected none, lz4 or zlib, not \"%s\"",
						    arg);
		o->compression = (enum elog_compression)c;
		return -1;
	case OPT_REJECT:
		o->reject_path = arg;
		return -1;
	case OPT_LINGER:
		return elog_cli_duration_option(&program, "--linger", arg, 0, LINGER_MAX_MS, "0..1m",
						&o->linger_ms);
	case OPT_BATCH_SIZE:
	case OPT_MAX_RECORD_BYTES:
		if (elog_cli_parse_size(arg, &u, &err) < 0)
			return elog_cli_usage_error(&program, "--%s: %s", id == OPT_BATCH_SIZE ?
						    "batch-size" : "max-record-bytes", err.msg);
		if (u < 1 || u > ELOG_BATCH_SIZE_MAX)
			return elog_cli_usage_error(&program, "--%s: %s is outside 1..64M",
						    id == OPT_BATCH_SIZE ? "batch-size" :
						    "max-record-bytes", arg);
		*(id == OPT_BATCH_SIZE ? &o->batch_bytes : &o->record_bytes_max) = u;
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

/* Modes and keys that cannot go together. */
static int check_combinations(const struct options *o)
{
	if (o->mode == ELOG_LINECONV_ENVELOPE && (o->key_field || o->key_delimiter))
		return elog_cli_usage_error(&program, "--json takes the key from the envelope: "
					    "no -k or -K");
	if (o->key_field && o->key_delimiter)
		return elog_cli_usage_error(&program, "-k and -K exclude each other");
	if (o->key_field && o->mode == ELOG_LINECONV_RAW)
		return elog_cli_usage_error(&program, "-k needs JSON lines: not with --raw");
	if (o->keep_partition && o->mode != ELOG_LINECONV_ENVELOPE)
		return elog_cli_usage_error(&program, "--keep-partition needs --json");
	if (o->keep_partition && o->partition >= 0)
		return elog_cli_usage_error(&program, "-p and --keep-partition exclude each other");
	return -1;
}

/* Options into o; returns -1 to go on, else the exit code. */
static int parse_options(struct options *o, int argc, char **argv)
{
	struct elog_cli_getopt g;
	struct elog_err err;
	int id, rc, mode_set = 0;

	o->partition = -1;
	o->acks = -1;
	o->linger_ms = -1;
	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	o->idempotence = 1;
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		switch (id) {
		case ELOG_CLI_DONE:
			return ELOG_EXIT_OK;
		case 'q':
			o->quiet = 1;
			break;
		case OPT_NO_IDEMPOTENCE:
			o->idempotence = 0;
			break;
		case OPT_KEEP_PARTITION:
			o->keep_partition = 1;
			break;
		case OPT_JSON:
		case OPT_RAW:
			if (mode_set && o->mode != (id == OPT_JSON ? ELOG_LINECONV_ENVELOPE :
						    ELOG_LINECONV_RAW))
				return elog_cli_usage_error(&program, "--json and --raw exclude each other");
			o->mode = id == OPT_JSON ? ELOG_LINECONV_ENVELOPE : ELOG_LINECONV_RAW;
			mode_set = 1;
			break;
		case ELOG_CLI_BAD:
			return elog_cli_usage_error(&program, NULL);
		default:
			if ((rc = parse_value(o, id, g.arg)) >= 0)
				return rc;
		}
	}
	if (g.index >= argc)
		return elog_cli_usage_error(&program, "missing topic");
	if (g.index + 1 < argc)
		return elog_cli_usage_error(&program, "unexpected argument \"%s\" (files are read "
					    "with -i FILE)", argv[g.index + 1]);
	o->topic = argv[g.index];
	if (elog_topic_name_check(o->topic, strlen(o->topic), 0, &err) < 0)
		return elog_cli_usage_error(&program, "%s", err.msg);
	return check_combinations(o);
}

/* ---------------------------------------------------------------- main */

static void setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* The first INT or TERM stops the reading and settles what was sent;
	 * a second one kills (SA_RESETHAND). */
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int run(struct produce *p)
{
	uint64_t record_bytes;
	int rc;

	if (open_inputs(p) < 0)
		return ELOG_EXIT_FAIL;
	if (p->o.reject_path) {
		p->reject = fopen(p->o.reject_path, "we");
		if (!p->reject) {
			elog_cli_error_errno(errno, "%s: cannot open", p->o.reject_path);
			return ELOG_EXIT_FAIL;
		}
	}
	if ((rc = connect_producer(p, &record_bytes)) >= 0)
		return rc;
	if (prepare(p, record_bytes) < 0)
		return ELOG_EXIT_FAIL;
	p->progress.enabled = progress_wanted(p->o.quiet);
	p->progress.last_ms = elog_clock_ms();
	for (size_t i = 0; i < p->input_count && !p->stopped && !interrupted; i++)
		if (read_input(p, i) < 0)
			break;
	return finish(p);
}

int main(int argc, char **argv)
{
	static struct produce p;
	int rc;

	elog_cli_init(argv[0]);
	if ((rc = parse_options(&p.o, argc, argv)) >= 0)
		return rc;
	setup_signals();
	rc = run(&p);
	if (p.reject && fclose(p.reject) != 0) {
		elog_cli_error_errno(errno, "%s: cannot write", p.o.reject_path);
		rc = ELOG_EXIT_FAIL;
	}
	if (p.producer)
		elog_producer_free(p.producer);
	if (p.client)
		elog_client_free(p.client);
	if (p.conv_ready)
		elog_lineconv_release(&p.conv);
	close_inputs(&p);
	return rc;
}
