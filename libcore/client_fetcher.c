/* client_fetcher — long-poll fetch with one request ahead, and the record iterator; see client.h. */
#include "client.h"
#include "client_int.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/*
 * Per partition: position (next offset to hand out) <= fetch_offset (next
 * offset to ask for; ahead of position while a fetched response waits to be
 * handed out) <= end. Per connection: at most one FETCH in flight, and at
 * most FETCHER_HELD responses from it held (queued or being handed out), so
 * memory is bounded by (FETCHER_HELD + 1) responses per leader.
 */

#define FETCHER_CONNS_MAX 256
#define FETCHER_HELD 2
#define FETCHER_PARTS_MAX 65536
/* A fetch unanswered this long past its long-poll wait may be stuck at a
 * leader that stopped or was cut off: metadata is asked (at most this
 * often) whether it moved. */
#define FETCHER_STALL_MS 1000

struct fpart {
	char *topic;
	uint32_t id;
	int64_t position, fetch_offset, end;   /* end INT64_MAX: follow */
	int64_t high_watermark, log_start;
	int32_t leader_id;
	int in_flight;
	uint32_t epoch;                        /* bumped by seek: older results are dropped */
	int64_t retry_at_ms;
	uint32_t retry_attempt;
	int64_t trouble_since_ms;              /* first failure since the last success; 0 none */
	int64_t answered_ms;                   /* last answer for it (or when it was added) */
	int removed;
	struct elog_fetch_partition info;      /* where it started, and the log then */
	enum { CAUGHT_UP_NOT_YET, CAUGHT_UP_REACHED, CAUGHT_UP_REPORTED } caught_up;
};

struct fresult {
	struct fpart *part;
	uint32_t epoch;
	int64_t high_watermark;
	int64_t requested;                     /* the offset the fetch asked for */
	const uint8_t *batches;
	size_t len;
};

struct fconn;

struct fresp {
	struct fresp *next;
	struct fconn *from;
	struct elog_response resp;
	struct fresult *results;
	size_t count, cap, cur;
	const uint8_t *pos, *end;              /* batches left in results[cur] */
	int64_t expect;                        /* where the next batch must start; -1: first */
	int started;                           /* pos/end set for results[cur] */
};

struct fconn {
	int32_t broker_id;
	struct elog_conn conn;
	int in_flight;
	struct fpart **req;                    /* partitions of the fetch in flight */
	uint32_t *req_epoch;
	size_t req_count, req_cap;
	int held;
	int64_t reconnect_at_ms;
	uint32_t reconnect_attempt;
	int failing;                           /* lost or refused, no answer since */
};

struct elog_fetcher {
	struct elog_client *client;
	struct elog_fetcher_config cfg;
	struct fpart **parts;
	size_t part_count, part_cap;
	struct fconn *conns[FETCHER_CONNS_MAX];
	size_t conn_count;
	struct fresp *queue_head, *queue_tail, *current, *free_resps;
	struct elog_batch_reader reader;
	int in_batch;
	int64_t batch_last_offset;
	struct elog_record_view view;
	int final;
	struct elog_err final_err;
	int metadata_stale;
	int64_t metadata_at_ms;
	uint32_t metadata_attempt;
	struct elog_fetch_request_part *req_parts;
	size_t req_parts_cap;
	/* with report_caught_up */
	size_t caught_up_pending;              /* partitions not yet CAUGHT_UP_REPORTED */
	size_t caught_up_ready;                /* of them, CAUGHT_UP_REACHED */
	struct elog_fetched stashed;           /* a record held back behind a caught-up report */
	int has_stashed;
	/* brokers that cannot be reached (fconn.failing), and why */
	uint32_t unreachable;
	struct elog_err unreachable_err;
};

static void caught_up_reached(struct elog_fetcher *f, struct fpart *fp);

/* ------------------------------------------------------------ positions */

int elog_pos_parse(const char *s, struct elog_pos *pos, struct elog_err *err)
{
	uint64_t u;

	if (!s || !*s)
		return elog_err_set(err, ELOG_E_INVAL, "empty position");
	if (strcmp(s, "earliest") == 0 || strcmp(s, "beginning") == 0) {
		*pos = (struct elog_pos){ELOG_POS_EARLIEST, 0};
		return 0;
	}
	if (strcmp(s, "latest") == 0 || strcmp(s, "end") == 0) {
		*pos = (struct elog_pos){ELOG_POS_LATEST, 0};
		return 0;
	}
	if (s[0] == '@') {
		int64_t ms;
		if (elog_cli_parse_timestamp_ms(s + 1, &ms, err) < 0)
			return elog_err_prefix(err, "invalid position \"%s\"", s);
		*pos = (struct elog_pos){ELOG_POS_TIMESTAMP, ms};
		return 0;
	}
	if (s[0] == '-') {
		if (elog_cli_parse_u64(s + 1, 0, INT64_MAX, &u, err) < 0)
			return elog_err_set(err, ELOG_E_INVAL,
					    "invalid position \"%s\": expected -N (records before the end)", s);
		*pos = (struct elog_pos){ELOG_POS_FROM_END, (int64_t)u};
		return 0;
	}
	if (elog_cli_parse_u64(s, 0, INT64_MAX, &u, err) < 0)
		return elog_err_set(err, ELOG_E_INVAL,
				    "invalid position \"%s\": expected earliest, latest, an offset, -N or @time",
				    s);
	*pos = (struct elog_pos){ELOG_POS_OFFSET, (int64_t)u};
	return 0;
}

void elog_offset_range_text(int64_t log_start, int64_t end, char *out, size_t cap)
{
	if (end <= log_start)
		snprintf(out, cap, "the log holds no records; its next offset is %lld", (long long)end);
	else if (end == log_start + 1)
		snprintf(out, cap, "the log holds offset %lld; its next offset is %lld",
			 (long long)log_start, (long long)end);
	else
		snprintf(out, cap, "the log holds offsets %lld to %lld; its next offset is %lld",
			 (long long)log_start, (long long)end - 1, (long long)end);
}

/* ------------------------------------------------------------ setup */

void elog_fetcher_config_init(struct elog_fetcher_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_wait_ms = 500;
	cfg->min_bytes = 1;
	cfg->max_bytes = 16u << 20;
	cfg->partition_max_bytes = 4u << 20;
	cfg->retry_backoff_ms = 50;
	cfg->retry_backoff_max_ms = 1000;
	cfg->retry_timeout_ms = 60000;
	cfg->out_of_range = ELOG_OUT_OF_RANGE_FAIL;
}

struct elog_fetcher *elog_fetcher_new(struct elog_client *c, const struct elog_fetcher_config *cfg,
				      struct elog_err *err)
{
	struct elog_fetcher *f = calloc(1, sizeof(*f));
	uint32_t frame_max = elog_client_config(c)->frame_bytes_max;

	if (!f) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a fetcher");
		return NULL;
	}
	f->client = c;
	if (cfg)
		f->cfg = *cfg;
	else
		elog_fetcher_config_init(&f->cfg);
	if (f->cfg.max_bytes < 1024)
		f->cfg.max_bytes = 1024;
	if (f->cfg.max_bytes > frame_max - 4096)
		f->cfg.max_bytes = frame_max - 4096;
	if (f->cfg.partition_max_bytes == 0 || f->cfg.partition_max_bytes > f->cfg.max_bytes)
		f->cfg.partition_max_bytes = f->cfg.max_bytes;
	if (!f->cfg.retry_backoff_ms)
		f->cfg.retry_backoff_ms = 1;
	if (f->cfg.retry_backoff_max_ms < f->cfg.retry_backoff_ms)
		f->cfg.retry_backoff_max_ms = f->cfg.retry_backoff_ms;
	if (!f->cfg.retry_timeout_ms)
		f->cfg.retry_timeout_ms = 60000;
	elog_batch_reader_init(&f->reader);
	f->reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS; /* compacted partitions (docs/format.md) */
	return f;
}

static void fresp_free(struct fresp *r)
{
	elog_response_release(&r->resp);
	free(r->results);
	free(r);
}

void elog_fetcher_free(struct elog_fetcher *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->part_count; i++) {
		free(f->parts[i]->topic);
		free(f->parts[i]);
	}
	free(f->parts);
	for (size_t i = 0; i < f->conn_count; i++) {
		elog_conn_release(&f->conns[i]->conn);
		free(f->conns[i]->req);
		free(f->conns[i]->req_epoch);
		free(f->conns[i]);
	}
	if (f->current)
		fresp_free(f->current);
	for (struct fresp *lists[2] = {f->queue_head, f->free_resps}, **l = lists; l < lists + 2; l++)
		while (*l) {
			struct fresp *next = (*l)->next;
			fresp_free(*l);
			*l = next;
		}
	elog_batch_reader_release(&f->reader);
	free(f->req_parts);
	free(f);
}

static struct fpart *part_find(const struct elog_fetcher *f, const char *topic, uint32_t id)
{
	for (size_t i = 0; i < f->part_count; i++)
		if (!f->parts[i]->removed && f->parts[i]->id == id && strcmp(f->parts[i]->topic, topic) == 0)
			return f->parts[i];
	return NULL;
}

static int64_t clamp_offset(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Resolve a position in n partitions: out[i] is where to start (or end) in
 * partition ids[i], earliest[i] and latest[i] its log start and end (high
 * watermark) now. An absolute offset a partition does not hold moves to the
 * nearest one it does: its end when past it, its log start when before it
 * (what kcat's reset policy does per partition; callers see it in
 * elog_fetcher_partition and may refuse it).
 */
static int resolve(struct elog_fetcher *f, const char *topic, const uint32_t *ids, size_t n,
		   const struct elog_pos *pos, int64_t *out, int64_t *earliest, int64_t *latest,
		   struct elog_err *err)
{
	int64_t *ts = calloc(n ? n : 1, sizeof(*ts));
	int rc = -1;

	if (!ts)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory resolving positions");
	for (size_t i = 0; i < n; i++)
		ts[i] = ELOG_OFFSET_EARLIEST;
	if (elog_client_list_offsets(f->client, topic, ids, ts, earliest, n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		ts[i] = ELOG_OFFSET_LATEST;
	if (elog_client_list_offsets(f->client, topic, ids, ts, latest, n, err) < 0)
		goto out;
	if (pos->kind == ELOG_POS_TIMESTAMP) {
		/* A time before the epoch is before every record: the log start. */
		for (size_t i = 0; i < n; i++)
			ts[i] = pos->value < 0 ? ELOG_OFFSET_EARLIEST : pos->value;
		if (elog_client_list_offsets(f->client, topic, ids, ts, out, n, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		switch (pos->kind) {
		case ELOG_POS_EARLIEST:
			out[i] = earliest[i];
			break;
		case ELOG_POS_LATEST:
			out[i] = latest[i];
			break;
		case ELOG_POS_FROM_END:
			out[i] = latest[i] - pos->value < earliest[i] ? earliest[i] : latest[i] - pos->value;
			break;
		case ELOG_POS_TIMESTAMP:
			out[i] = clamp_offset(out[i], earliest[i], latest[i]);
			break;
		case ELOG_POS_OFFSET:
			out[i] = clamp_offset(pos->value, earliest[i], latest[i]);
			break;
		}
		assert(out[i] >= earliest[i] && out[i] <= latest[i]);
	}
	rc = 0;
out:
	free(ts);
	return rc;
}

int elog_fetcher_add(struct elog_fetcher *f, const char *topic, int32_t partition,
		     const struct elog_pos *start, const struct elog_pos *end,
		     struct elog_err *err)
{
	const char *topics[1] = {topic};
	const struct elog_metadata *md;
	const struct elog_meta_topic *t;
	uint32_t *ids = NULL;
	int64_t *starts = NULL, *ends = NULL, *earliest = NULL, *latest = NULL, now;
	size_t n = 0, cap;
	int rc = -1;

	if (elog_topic_name_check(topic, strlen(topic), 1, err) < 0)
		return -1;
	md = elog_client_metadata(f->client, topics, 1, err);
	if (!md)
		return elog_err_prefix(err, "fetch '%s'", topic);
	t = elog_metadata_topic(md, topic);
	if (!t || t->error)
		return elog_client_err_proto(err, t ? t->error : ELOG_PE_UNKNOWN_TOPIC, NULL, 0,
					     "fetch '%s'", topic);
	cap = t->partition_count ? t->partition_count : 1;
	ids = malloc(cap * sizeof(*ids));
	starts = malloc(cap * sizeof(*starts));
	ends = malloc(cap * sizeof(*ends));
	earliest = malloc(cap * sizeof(*earliest));
	latest = malloc(cap * sizeof(*latest));
	if (!ids || !starts || !ends || !earliest || !latest) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory adding partitions");
		goto out;
	}
	for (uint32_t i = 0; i < t->partition_count; i++)
		if (partition < 0 || t->partitions[i].id == (uint32_t)partition)
			ids[n++] = t->partitions[i].id;
	if (n == 0) {
		elog_err_set(err, ELOG_E_INVAL, "fetch '%s' partition %d: no such partition (the topic has %u)",
			     topic, (int)partition, t->partition_count);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (part_find(f, topic, ids[i])) {
			elog_err_set(err, ELOG_E_INVAL, "fetch '%s' partition %u: added twice", topic, ids[i]);
			goto out;
		}
	if (f->part_count + n > FETCHER_PARTS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "fetch: more than %d partitions", FETCHER_PARTS_MAX);
		goto out;
	}
	if (end && resolve(f, topic, ids, n, end, ends, earliest, latest, err) < 0)
		goto out_prefix;
	/* The start last: its log start and end are those reported. */
	if (resolve(f, topic, ids, n, start, starts, earliest, latest, err) < 0)
		goto out_prefix;
	if (f->part_count + n > f->part_cap) {
		size_t grown_cap = f->part_cap ? f->part_cap : 16;
		struct fpart **grown;
		while (grown_cap < f->part_count + n)
			grown_cap *= 2;
		grown = realloc(f->parts, grown_cap * sizeof(*grown));
		if (!grown) {
			elog_err_set(err, ELOG_E_NOMEM, "out of memory adding partitions");
			goto out;
		}
		f->parts = grown;
		f->part_cap = grown_cap;
	}
	/* The leader of each partition comes from the metadata refreshed by resolve(). */
	md = elog_client_metadata(f->client, topics, 1, err);
	t = md ? elog_metadata_topic(md, topic) : NULL;
	now = elog_clock_ms();
	for (size_t i = 0; i < n; i++) {
		struct fpart *fp = calloc(1, sizeof(*fp));
		if (!fp || !(fp->topic = strdup(topic))) {
			free(fp);
			elog_err_set(err, ELOG_E_NOMEM, "out of memory adding partitions");
			goto out;
		}
		fp->id = ids[i];
		fp->position = fp->fetch_offset = starts[i];
		fp->end = end ? ends[i] : INT64_MAX;
		fp->high_watermark = -1;
		fp->log_start = -1;
		fp->leader_id = -1;
		fp->answered_ms = now;
		fp->info = (struct elog_fetch_partition){
			.topic = fp->topic, .id = ids[i], .start = starts[i],
			.asked = start->kind == ELOG_POS_OFFSET ? start->value : starts[i],
			.log_start = earliest[i], .end = latest[i],
		};
		/* Started at its end already (an empty partition, "latest"): caught up. */
		fp->caught_up = CAUGHT_UP_NOT_YET;
		f->caught_up_pending++;
		if (starts[i] >= latest[i])
			caught_up_reached(f, fp);
		for (uint32_t k = 0; t && k < t->partition_count; k++)
			if (t->partitions[k].id == ids[i])
				fp->leader_id = t->partitions[k].leader_id;
		f->parts[f->part_count++] = fp;
	}
	rc = 0;
	goto out;
out_prefix:
	if (!strstr(err->msg, topic))
		elog_err_prefix(err, "fetch '%s'", topic);
out:
	free(ids);
	free(starts);
	free(ends);
	free(earliest);
	free(latest);
	return rc;
}

size_t elog_fetcher_partition_count(const struct elog_fetcher *f)
{
	return f->part_count;
}

const struct elog_fetch_partition *elog_fetcher_partition(const struct elog_fetcher *f, size_t i)
{
	return i < f->part_count ? &f->parts[i]->info : NULL;
}

int elog_fetcher_seek(struct elog_fetcher *f, const char *topic, uint32_t partition,
		      int64_t offset, struct elog_err *err)
{
	struct fpart *fp = part_find(f, topic, partition);

	if (!fp)
		return elog_err_set(err, ELOG_E_INVAL, "seek '%s' partition %u: not being fetched", topic, partition);
	if (offset < 0)
		return elog_err_set(err, ELOG_E_INVAL, "seek '%s' partition %u: negative offset", topic, partition);
	fp->position = fp->fetch_offset = offset;
	fp->epoch++;
	return 0;
}

int elog_fetcher_remove(struct elog_fetcher *f, const char *topic, uint32_t partition,
			struct elog_err *err)
{
	struct fpart *fp = part_find(f, topic, partition);

	if (!fp)
		return elog_err_set(err, ELOG_E_INVAL, "remove '%s' partition %u: not being fetched", topic, partition);
	fp->removed = 1;
	fp->epoch++;
	return 0;
}

int elog_fetcher_done(const struct elog_fetcher *f)
{
	size_t live = 0;

	for (size_t i = 0; i < f->part_count; i++) {
		const struct fpart *fp = f->parts[i];
		if (fp->removed)
			continue;
		live++;
		if (fp->end == INT64_MAX || fp->position < fp->end)
			return 0;
	}
	return live > 0;
}

int64_t elog_fetcher_position(const struct elog_fetcher *f, const char *topic, uint32_t partition)
{
	const struct fpart *fp = part_find(f, topic, partition);
	return fp ? fp->position : -1;
}

int64_t elog_fetcher_high_watermark(const struct elog_fetcher *f, const char *topic,
				    uint32_t partition)
{
	const struct fpart *fp = part_find(f, topic, partition);
	return fp ? fp->high_watermark : -1;
}

size_t elog_fetcher_pollfds(const struct elog_fetcher *f, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < f->conn_count && n < max; i++) {
		short ev = elog_conn_events(&f->conns[i]->conn);
		if (!ev)
			continue;
		fds[n].fd = f->conns[i]->conn.fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ failures */

static void set_final(struct elog_fetcher *f, const struct elog_err *e)
{
	if (!f->final) {
		f->final = 1;
		f->final_err = *e;
	}
}

/*
 * A retriable failure of a partition: back off, and give up once it has had
 * no answer for retry_timeout_ms (never with ELOG_FETCHER_RETRY_FOREVER).
 */
static void part_trouble(struct elog_fetcher *f, struct fpart *fp, const char *why, int64_t now)
{
	if (!fp->trouble_since_ms)
		fp->trouble_since_ms = now;
	fp->retry_at_ms = now + elog_backoff_ms(fp->retry_attempt++, f->cfg.retry_backoff_ms,
						f->cfg.retry_backoff_max_ms, elog_client_random());
	f->metadata_stale = 1;
	if (f->cfg.retry_timeout_ms != ELOG_FETCHER_RETRY_FOREVER &&
	    now - fp->answered_ms >= (int64_t)f->cfg.retry_timeout_ms) {
		struct elog_err e;
		elog_err_set(&e, ELOG_E_IO, "fetch '%s' partition %u: no answer for %u ms: %s", fp->topic,
			     fp->id, f->cfg.retry_timeout_ms, why);
		set_final(f, &e);
	}
}

/* A broker's connection failed (lost, refused, timed out): it is unreachable
 * until it answers again. */
static void conn_failing(struct elog_fetcher *f, struct fconn *fc, const struct elog_err *why)
{
	if (!fc->failing) {
		fc->failing = 1;
		f->unreachable++;
	}
	f->unreachable_err = *why;
}

static void conn_answered(struct elog_fetcher *f, struct fconn *fc)
{
	if (fc->failing) {
		fc->failing = 0;
		assert(f->unreachable > 0);
		f->unreachable--;
	}
}

int elog_fetcher_unreachable(const struct elog_fetcher *f, struct elog_err *why)
{
	if (f->unreachable && why)
		*why = f->unreachable_err;
	return (int)f->unreachable;
}

static void conn_lost(struct elog_fetcher *f, struct fconn *fc, const struct elog_err *why)
{
	int64_t now = elog_clock_ms();

	conn_failing(f, fc, why);

	for (size_t i = 0; i < fc->req_count; i++) {
		fc->req[i]->in_flight = 0;
		part_trouble(f, fc->req[i], why->msg, now);
	}
	fc->req_count = 0;
	fc->in_flight = 0;
	fc->reconnect_at_ms = now + elog_backoff_ms(fc->reconnect_attempt++, f->cfg.retry_backoff_ms,
						    f->cfg.retry_backoff_max_ms, elog_client_random());
	elog_conn_close(&fc->conn);
}

/* ------------------------------------------------------------ responses */

struct walk_ctx {
	struct elog_fetcher *f;
	struct fconn *fc;
	struct fresp *r;
	int64_t now;
};

/*
 * Offset continuity of fetched batches (docs/protocol.md, FETCH): the first
 * batch for a partition holds the offset asked for (it may start before
 * it), every next one starts where the previous one ended. `expect` is that
 * end, or -1 for the first batch. 0 if h continues, else -1 and an error
 * naming topic, partition and offsets.
 */
static int batch_continues(const struct fpart *fp, int64_t requested, int64_t expect,
			   const struct elog_batch_header *h, struct elog_err *err)
{
	int64_t base = h->base_offset, last = elog_batch_last_offset(h);

	if (expect < 0) {
		if (base > requested)
			return elog_err_set(err, ELOG_E_CORRUPT, "fetch '%s' partition %u at offset %lld: the first batch "
					    "returned starts at offset %lld: offsets %lld..%lld missing", fp->topic, fp->id,
					    (long long)requested, (long long)base, (long long)requested, (long long)base - 1);
		if (last < requested)
			return elog_err_set(err, ELOG_E_CORRUPT, "fetch '%s' partition %u at offset %lld: the first batch "
					    "returned holds offsets %lld..%lld, below it", fp->topic, fp->id,
					    (long long)requested, (long long)base, (long long)last);
		return 0;
	}
	if (base > expect)
		return elog_err_set(err, ELOG_E_CORRUPT, "fetch '%s' partition %u: batch at offset %lld follows one "
				    "ending at offset %lld: offsets %lld..%lld missing", fp->topic, fp->id,
				    (long long)base, (long long)expect - 1, (long long)expect, (long long)base - 1);
	if (base < expect)
		return elog_err_set(err, ELOG_E_CORRUPT, "fetch '%s' partition %u: batch at offset %lld overlaps the "
				    "one before it, which ends at offset %lld", fp->topic, fp->id, (long long)base,
				    (long long)expect - 1);
	return 0;
}

/*
 * Where the next fetch of a partition starts: after the last batch that
 * continues the offsets from `requested` (a batch out of step stops the
 * walk, so the pipelined fetch never jumps over a hole; handing out the
 * records then reports it). -1 if no batch does.
 */
static int64_t next_offset_after(const struct fpart *fp, int64_t requested, const uint8_t *p, size_t len)
{
	int64_t next = -1;

	while (len >= ELOG_BATCH_HEADER_SIZE) {
		struct elog_batch_header h;
		size_t total;
		if (elog_batch_header_decode_as(p, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0 ||
		    batch_continues(fp, requested, next, &h, NULL) < 0)
			break;
		total = elog_batch_total_size(&h);
		if (total > len)
			break;
		next = elog_batch_last_offset(&h) + 1;
		p += total;
		len -= total;
	}
	return next;
}

static int fetch_result(void *ctx, const struct elog_fetch_result *res, struct elog_err *err)
{
	struct walk_ctx *w = ctx;
	struct elog_fetcher *f = w->f;
	struct fpart *fp = NULL;
	uint32_t epoch = 0;

	for (size_t i = 0; i < w->fc->req_count; i++) {
		struct fpart *q = w->fc->req[i];
		if (q->id == res->partition && strlen(q->topic) == res->topic_len &&
		    memcmp(q->topic, res->topic, res->topic_len) == 0) {
			fp = q;
			epoch = w->fc->req_epoch[i];
			break;
		}
	}
	if (!fp || fp->removed || epoch != fp->epoch)
		return 0; /* not asked for, or sought elsewhere since */
	if (res->error == ELOG_PE_NONE) {
		/* One fetch per partition is in flight, and whatever moves fetch_offset
		 * otherwise bumps the epoch: it is still the offset this fetch asked for. */
		int64_t requested = fp->fetch_offset;
		int64_t next = next_offset_after(fp, requested, res->batches, res->batches_len);
		fp->high_watermark = res->high_watermark;
		fp->log_start = res->log_start_offset;
		fp->trouble_since_ms = 0;
		fp->retry_attempt = 0;
		fp->answered_ms = w->now;
		if (next > fp->fetch_offset)
			fp->fetch_offset = next;
		if (res->batches_len) {
			struct fresult *fr;
			if (w->r->count == w->r->cap) {
				size_t cap = w->r->cap ? w->r->cap * 2 : 16;
				struct fresult *grown = realloc(w->r->results, cap * sizeof(*grown));
				if (!grown)
					return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a fetch response");
				w->r->results = grown;
				w->r->cap = cap;
			}
			fr = &w->r->results[w->r->count++];
			fr->part = fp;
			fr->epoch = fp->epoch;
			fr->high_watermark = res->high_watermark;
			fr->requested = requested;
			fr->batches = res->batches;
			fr->len = res->batches_len;
		} else if (fp->high_watermark >= 0 && fp->position >= fp->high_watermark &&
			   fp->end != INT64_MAX && fp->end > fp->high_watermark) {
			/* Nothing more to come below an end past the log's end: keep following. */
		}
		return 0;
	}
	if (res->error == ELOG_PE_OFFSET_OUT_OF_RANGE) {
		if (f->cfg.out_of_range != ELOG_OUT_OF_RANGE_FAIL) {
			int64_t to = f->cfg.out_of_range == ELOG_OUT_OF_RANGE_EARLIEST ? res->log_start_offset
										     : res->high_watermark;
			fp->position = fp->fetch_offset = to < 0 ? 0 : to;
			fp->epoch++;
			return 0;
		} else {
			struct elog_err e;
			char range[96];
			elog_offset_range_text(res->log_start_offset, res->high_watermark, range,
					       sizeof(range));
			elog_err_set(&e, ELOG_E_RANGE,
				     "fetch '%s' partition %u at offset %lld: offset out of range (%s)",
				     fp->topic, fp->id, (long long)fp->fetch_offset, range);
			set_final(f, &e);
			return 0;
		}
	}
	if (elog_proto_error_retriable(res->error)) {
		char why[200];
		snprintf(why, sizeof(why), "%.*s", (int)(res->message_len ? res->message_len : 0),
			 res->message_len ? res->message : "");
		part_trouble(f, fp, res->message_len ? why : elog_proto_error_text(res->error), w->now);
		return 0;
	}
	{
		struct elog_err e;
		elog_client_err_proto(&e, res->error, res->message, res->message_len,
				      "fetch '%s' partition %u at offset %lld", fp->topic, fp->id,
				      (long long)fp->fetch_offset);
		set_final(f, &e);
	}
	return 0;
}

static struct fresp *fresp_get(struct elog_fetcher *f)
{
	struct fresp *r = f->free_resps;

	if (r) {
		f->free_resps = r->next;
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		elog_response_init(&r->resp, elog_client_config(f->client)->frame_bytes_max);
	}
	r->next = NULL;
	r->count = r->cur = 0;
	r->started = 0;
	r->from = NULL;
	return r;
}

static void fresp_put(struct elog_fetcher *f, struct fresp *r)
{
	if (r->from)
		r->from->held--;
	r->from = NULL;
	/* Keep at most a couple of response buffers for reuse. */
	if (r->resp.frame.cap > (64u << 20)) {
		fresp_free(r);
		return;
	}
	r->next = f->free_resps;
	f->free_resps = r;
}

/* Take every response the connection has; queue those with records. */
static void drain_conn(struct elog_fetcher *f, struct fconn *fc)
{
	for (;;) {
		struct fresp *r = fresp_get(f);
		struct walk_ctx w;
		struct elog_wire_r rd;
		struct elog_err e;
		const char *msg;
		size_t msg_len;
		int16_t code;
		int rc;

		if (!r) {
			elog_err_set(&e, ELOG_E_NOMEM, "out of memory for a fetch response");
			set_final(f, &e);
			return;
		}
		rc = elog_conn_recv(&fc->conn, &r->resp, &e);
		if (rc <= 0) {
			fresp_put(f, r);
			if (rc < 0)
				conn_lost(f, fc, &e);
			return;
		}
		w = (struct walk_ctx){f, fc, r, elog_clock_ms()};
		elog_wire_r_init(&rd, r->resp.body, r->resp.body_len);
		code = elog_wire_get_response_error(&rd, &msg, &msg_len);
		if (rd.failed) {
			elog_err_set(&e, ELOG_E_CORRUPT, "%s: malformed FETCH response", fc->conn.name);
			fresp_put(f, r);
			conn_lost(f, fc, &e);
			return;
		}
		if (code) {
			if (elog_proto_error_retriable(code)) {
				for (size_t i = 0; i < fc->req_count; i++)
					part_trouble(f, fc->req[i], elog_proto_error_text(code), w.now);
			} else {
				elog_client_err_proto(&e, code, msg, msg_len, "fetch from %s", fc->conn.name);
				set_final(f, &e);
			}
		} else if (elog_fetch_response_walk(&rd, fetch_result, &w, &e) < 0) {
			elog_err_prefix(&e, "%s", fc->conn.name);
			r->count = 0;
			fresp_put(f, r);
			conn_lost(f, fc, &e);
			return;
		}
		for (size_t i = 0; i < fc->req_count; i++)
			fc->req[i]->in_flight = 0;
		fc->req_count = 0;
		fc->in_flight = 0;
		fc->reconnect_attempt = 0;
		conn_answered(f, fc);
		if (r->count == 0) {
			fresp_put(f, r);
			continue;
		}
		r->from = fc;
		fc->held++;
		if (f->queue_tail)
			f->queue_tail->next = r;
		else
			f->queue_head = r;
		f->queue_tail = r;
	}
}

/* ------------------------------------------------------------ requests */

static struct fconn *fconn_get(struct elog_fetcher *f, int32_t broker_id)
{
	struct elog_conn_config cfg;
	struct fconn *fc;

	for (size_t i = 0; i < f->conn_count; i++)
		if (f->conns[i]->broker_id == broker_id)
			return f->conns[i];
	if (f->conn_count == FETCHER_CONNS_MAX)
		return NULL;
	fc = calloc(1, sizeof(*fc));
	if (!fc)
		return NULL;
	fc->broker_id = broker_id;
	elog_client_conn_config(f->client, &cfg);
	cfg.in_flight_max = 2;
	elog_conn_init(&fc->conn, &cfg);
	f->conns[f->conn_count++] = fc;
	return fc;
}

static int part_fetchable(const struct fpart *fp, int64_t now)
{
	return !fp->removed && !fp->in_flight && fp->fetch_offset < fp->end && now >= fp->retry_at_ms &&
	       fp->leader_id >= 0;
}

static int fetch_send(struct elog_fetcher *f, struct fconn *fc, int64_t now)
{
	struct elog_wire_w w;
	struct elog_err e;
	uint32_t cid;
	size_t n = 0;

	for (size_t i = 0; i < f->part_count; i++) {
		struct fpart *fp = f->parts[i];
		if (fp->leader_id != fc->broker_id || !part_fetchable(fp, now))
			continue;
		if (n == f->req_parts_cap) {
			size_t cap = f->req_parts_cap ? f->req_parts_cap * 2 : 16;
			struct elog_fetch_request_part *g1 = realloc(f->req_parts, cap * sizeof(*g1));
			if (!g1)
				return -1;
			f->req_parts = g1;
			f->req_parts_cap = cap;
		}
		if (n == fc->req_cap) {
			size_t cap = fc->req_cap ? fc->req_cap * 2 : 16;
			struct fpart **g2 = realloc(fc->req, cap * sizeof(*g2));
			uint32_t *g3;
			if (!g2)
				return -1;
			fc->req = g2;
			g3 = realloc(fc->req_epoch, cap * sizeof(*g3));
			if (!g3)
				return -1;
			fc->req_epoch = g3;
			fc->req_cap = cap;
		}
		f->req_parts[n] = (struct elog_fetch_request_part){fp->topic, fp->id, fp->fetch_offset,
								  f->cfg.partition_max_bytes};
		fc->req[n] = fp;
		fc->req_epoch[n] = fp->epoch;
		n++;
	}
	if (n == 0)
		return 0;
	if (elog_conn_request_begin(&fc->conn, &w, ELOG_API_FETCH, &cid, &e) < 0) {
		conn_lost(f, fc, &e);
		return 0;
	}
	elog_encode_fetch(&w, f->cfg.max_wait_ms, f->cfg.min_bytes, f->cfg.max_bytes, f->req_parts, n);
	if (elog_conn_request_end(&fc->conn, &w, 1, 0,
				  (int)f->cfg.max_wait_ms + elog_client_config(f->client)->request_timeout_ms,
				  &e) < 0) {
		struct elog_err fe;
		elog_err_set(&fe, e.code, "fetch: %s", e.msg);
		set_final(f, &fe);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		fc->req[i]->in_flight = 1;
	fc->req_count = n;
	fc->in_flight = 1;
	(void)elog_conn_io(&fc->conn, POLLOUT, now, NULL); /* out now, not after the next poll */
	return 1;
}

/*
 * A fetch in flight to a broker that no longer leads one of its partitions
 * may never be answered (the old leader stopped, or is cut off): drop that
 * connection and ask the new leaders. A fetch is only a read: the answer,
 * had it come, would be asked for again from the same offsets.
 */
static void abandon_moved(struct elog_fetcher *f)
{
	for (size_t i = 0; i < f->conn_count; i++) {
		struct fconn *fc = f->conns[i];
		int moved = 0;

		for (size_t k = 0; k < fc->req_count && fc->in_flight; k++)
			moved |= fc->req[k]->leader_id != fc->broker_id;
		if (!moved)
			continue;
		for (size_t k = 0; k < fc->req_count; k++)
			fc->req[k]->in_flight = 0;
		fc->req_count = 0;
		fc->in_flight = 0;
		elog_conn_close(&fc->conn);
	}
}

static void refresh_metadata(struct elog_fetcher *f, int64_t now)
{
	const char *topics[64];
	size_t n = 0;
	const struct elog_metadata *md;

	if (now - f->metadata_at_ms < (int64_t)elog_backoff_ms(f->metadata_attempt, f->cfg.retry_backoff_ms,
							       f->cfg.retry_backoff_max_ms, 0))
		return;
	f->metadata_at_ms = now;
	for (size_t i = 0; i < f->part_count && n < 64; i++) {
		size_t k;
		for (k = 0; k < n && strcmp(topics[k], f->parts[i]->topic) != 0; k++)
			;
		if (k == n)
			topics[n++] = f->parts[i]->topic;
	}
	md = elog_client_metadata(f->client, topics, n, NULL);
	if (!md) {
		f->metadata_attempt++;
		return;
	}
	f->metadata_attempt = 0;
	f->metadata_stale = 0;
	for (size_t i = 0; i < f->part_count; i++) {
		struct fpart *fp = f->parts[i];
		const struct elog_meta_topic *t = elog_metadata_topic(md, fp->topic);
		for (uint32_t k = 0; t && k < t->partition_count; k++) {
			int32_t leader = t->partitions[k].leader_id;
			if (t->partitions[k].id != fp->id)
				continue;
			/* A new leader is tried at once: the backoff was the old one's. */
			if (leader >= 0 && leader != fp->leader_id) {
				fp->retry_at_ms = 0;
				fp->retry_attempt = 0;
			}
			fp->leader_id = leader;
		}
	}
	abandon_moved(f);
}

/* When to ask metadata whether a leader with a fetch stuck on it moved;
 * INT64_MAX: none is in flight. */
static int64_t stall_check_at(const struct elog_fetcher *f)
{
	int64_t oldest = INT64_MAX;

	for (size_t i = 0; i < f->conn_count; i++) {
		int64_t o = elog_conn_oldest_ms(&f->conns[i]->conn);
		if (o < oldest)
			oldest = o;
	}
	/* A fetch may wait max_wait_ms at the broker before it is late. */
	if (oldest != INT64_MAX)
		oldest += (int64_t)f->cfg.max_wait_ms;
	return elog_client_stall_check_at(oldest, FETCHER_STALL_MS, f->metadata_at_ms,
					  f->cfg.retry_backoff_max_ms);
}

/* Whether fp has records to fetch and no leader to fetch them from: none
 * is known, or its connection is down and backing off. */
static int leader_unreachable(const struct elog_fetcher *f, const struct fpart *fp, int64_t now)
{
	if (fp->removed || fp->in_flight || fp->fetch_offset >= fp->end)
		return 0;
	if (fp->leader_id < 0)
		return 1;
	for (size_t k = 0; k < f->conn_count; k++)
		if (f->conns[k]->broker_id == fp->leader_id)
			return !elog_conn_is_open(&f->conns[k]->conn) &&
			       now < f->conns[k]->reconnect_at_ms;
	return 0;
}

/* Fetch where nothing is in flight and the held responses leave room. */
static void fetch_ready(struct elog_fetcher *f, int64_t now)
{
	for (size_t i = 0; i < f->part_count; i++) {
		struct fpart *fp = f->parts[i];
		struct fconn *fc;
		const struct elog_meta_broker *mb;
		struct elog_err e;

		/* Even while the partition's own retry backs off: a leader elected
		 * meanwhile is learnt, and tried at once (refresh_metadata). */
		if (leader_unreachable(f, fp, now))
			f->metadata_stale = 1;
		if (!part_fetchable(fp, now))
			continue;
		fc = fconn_get(f, fp->leader_id);
		if (!fc || fc->in_flight || fc->held >= FETCHER_HELD)
			continue;
		if (!elog_conn_is_open(&fc->conn)) {
			if (now < fc->reconnect_at_ms)
				continue;
			mb = elog_client_broker(f->client, fc->broker_id);
			if (!mb) {
				f->metadata_stale = 1;
				continue;
			}
			/* Non-blocking: the fetch queues while it connects, and a dead
			 * broker holds up only the partitions it leads. */
			if (elog_conn_connect_start(&fc->conn, mb->host, mb->port, &e) < 0) {
				conn_failing(f, fc, &e);
				part_trouble(f, fp, e.msg, now);
				fc->reconnect_at_ms = now + elog_backoff_ms(fc->reconnect_attempt++,
									    f->cfg.retry_backoff_ms,
									    f->cfg.retry_backoff_max_ms,
									    elog_client_random());
				continue;
			}
		}
		(void)fetch_send(f, fc, now);
	}
}

/* Wait up to timeout_ms for responses; queue what arrives. */
static int fetcher_service(struct elog_fetcher *f, int timeout_ms, struct elog_err *err)
{
	struct pollfd fds[FETCHER_CONNS_MAX];
	struct fconn *owners[FETCHER_CONNS_MAX];
	int64_t now = elog_clock_ms(), next = INT64_MAX;
	size_t n = 0;
	int wait = timeout_ms;

	/* Responses read earlier (while pushing requests out) are taken first. */
	for (size_t i = 0; i < f->conn_count; i++)
		if (elog_conn_is_open(&f->conns[i]->conn))
			drain_conn(f, f->conns[i]);
	if (f->queue_head) {
		fetch_ready(f, now);
		return 0;
	}
	if (now >= stall_check_at(f))
		f->metadata_stale = 1;
	if (f->metadata_stale)
		refresh_metadata(f, now);
	fetch_ready(f, now);
	for (size_t i = 0; i < f->conn_count; i++) {
		short ev = elog_conn_events(&f->conns[i]->conn);
		if (!ev)
			continue;
		fds[n].fd = f->conns[i]->conn.fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		owners[n++] = f->conns[i];
	}
	/* Wake for backoffs and reconnects too. */
	for (size_t i = 0; i < f->part_count; i++)
		if (!f->parts[i]->removed && !f->parts[i]->in_flight && f->parts[i]->retry_at_ms > now &&
		    f->parts[i]->retry_at_ms < next)
			next = f->parts[i]->retry_at_ms;
	for (size_t i = 0; i < f->conn_count; i++) {
		int left = elog_conn_timeout_ms(&f->conns[i]->conn, now);
		if (!elog_conn_is_open(&f->conns[i]->conn) && f->conns[i]->reconnect_at_ms > now &&
		    f->conns[i]->reconnect_at_ms < next)
			next = f->conns[i]->reconnect_at_ms;
		if (left >= 0 && now + left < next)
			next = now + left;
	}
	if (f->metadata_stale && next > now + 50)
		next = now + 50;
	if (stall_check_at(f) < next)
		next = stall_check_at(f) > now ? stall_check_at(f) : now;
	if (next != INT64_MAX && (wait < 0 || next - now < wait))
		wait = (int)(next - now);
	if (n == 0) {
		if (wait > 0) {
			struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		return 0;
	}
	if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR)
		return elog_client_err_errno(err, ELOG_E_IO, errno, "fetch: poll");
	now = elog_clock_ms();
	for (size_t i = 0; i < n; i++) {
		(void)elog_conn_io(&owners[i]->conn, fds[i].revents, now, NULL);
		drain_conn(f, owners[i]);
	}
	/* Ask again at once where a response just arrived: the network works while records are handed out. */
	fetch_ready(f, now);
	for (size_t i = 0; i < f->conn_count; i++)
		if (elog_conn_events(&f->conns[i]->conn) & POLLOUT)
			(void)elog_conn_io(&f->conns[i]->conn, POLLOUT, now, NULL);
	return 0;
}

/* ------------------------------------------------------------ iteration */

/*
 * The next batch of results[cur], checked: whole, continuing the offsets,
 * and (opened by the reader) valid as a whole before any of its records is
 * handed out. 1 when the reader holds it, 0 when the batch was skipped,
 * -1 on a bad batch.
 */
static int current_batch(struct elog_fetcher *f, struct fresp *r, struct fresult *res, struct elog_err *err)
{
	struct fpart *fp = res->part;
	struct elog_batch_header h;
	size_t left = (size_t)(r->end - r->pos), total = 0;
	int bad;

	/* Whole batches only (docs/protocol.md): a short one is damage, never "fetched again". */
	bad = elog_batch_header_decode_as(r->pos, left, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0;
	if (!bad && (total = elog_batch_total_size(&h)) > left)
		bad = elog_err_set(err, ELOG_E_CORRUPT, "batch of %zu bytes cut short at %zu", total, left);
	if (bad)
		return elog_err_prefix(err, "fetch '%s' partition %u at offset %lld: byte %td of the response",
				       fp->topic, fp->id, (long long)(r->expect < 0 ? res->requested : r->expect),
				       r->pos - res->batches);
	if (batch_continues(fp, res->requested, r->expect, &h, err) < 0)
		return -1;
	r->expect = elog_batch_last_offset(&h) + 1;
	if (elog_batch_last_offset(&h) < fp->position || (h.attributes & ELOG_BATCH_ATTR_CONTROL)) {
		/* Wholly below the position (or a control batch): skip without decoding. */
		if (elog_batch_last_offset(&h) + 1 > fp->position)
			fp->position = elog_batch_last_offset(&h) + 1 < fp->end ? elog_batch_last_offset(&h) + 1 : fp->end;
		r->pos += total;
		return 0;
	}
	if (elog_batch_reader_open(&f->reader, r->pos, total, err) < 0) {
		if (err)
			memmove(err->msg, elog_batch_err_detail(err->msg), strlen(elog_batch_err_detail(err->msg)) + 1);
		return elog_err_prefix(err, "fetch '%s' partition %u: batch at offset %lld", fp->topic,
				       fp->id, (long long)h.base_offset);
	}
	f->batch_last_offset = elog_batch_last_offset(&h);
	r->pos += total;
	return 1;
}

/* The next record of the current response: 1, 0 when it is used up, -1 on a bad batch. */
static int current_next(struct elog_fetcher *f, struct elog_fetched *out, struct elog_err *err)
{
	struct fresp *r = f->current;

	while (r->cur < r->count) {
		struct fresult *res = &r->results[r->cur];
		struct fpart *fp = res->part;
		int rc;

		if (fp->removed || res->epoch != fp->epoch) {
			f->in_batch = 0;
			r->cur++;
			r->started = 0;
			continue;
		}
		if (!r->started) {
			r->pos = res->batches;
			r->end = res->batches + res->len;
			r->expect = -1;
			r->started = 1;
		}
		if (f->in_batch) {
			rc = elog_batch_reader_next(&f->reader, &f->view, err);
			if (rc < 0) {
				f->in_batch = 0;
				return elog_err_prefix(err, "fetch '%s' partition %u", fp->topic, fp->id);
			}
			if (rc == 0) {
				f->in_batch = 0;
				if (f->batch_last_offset + 1 > fp->position)
					fp->position = f->batch_last_offset + 1 < fp->end ? f->batch_last_offset + 1 : fp->end;
				continue;
			}
			if (f->view.offset < fp->position)
				continue;
			if (f->view.offset >= fp->end) {
				f->in_batch = 0;
				fp->position = fp->end;
				r->pos = r->end;
				continue;
			}
			fp->position = f->view.offset + 1;
			out->topic = fp->topic;
			out->partition = fp->id;
			out->high_watermark = res->high_watermark;
			out->record = &f->view;
			return 1;
		}
		if (r->pos == r->end || fp->position >= fp->end) {
			r->cur++;
			r->started = 0;
			continue;
		}
		rc = current_batch(f, r, res, err);
		if (rc < 0)
			return -1;
		f->in_batch = rc;
	}
	return 0;
}

/* Fill out with the caught-up report of fp. */
static int caught_up_report(struct elog_fetcher *f, struct fpart *fp, struct elog_fetched *out)
{
	assert(fp->caught_up != CAUGHT_UP_REPORTED && f->caught_up_pending > 0);
	if (fp->caught_up == CAUGHT_UP_REACHED) {
		assert(f->caught_up_ready > 0);
		f->caught_up_ready--;
	}
	fp->caught_up = CAUGHT_UP_REPORTED;
	f->caught_up_pending--;
	out->topic = fp->topic;
	out->partition = fp->id;
	out->high_watermark = fp->info.end;
	out->record = NULL;
	return ELOG_FETCHER_CAUGHT_UP;
}

static void caught_up_reached(struct elog_fetcher *f, struct fpart *fp)
{
	assert(fp->caught_up == CAUGHT_UP_NOT_YET);
	fp->caught_up = CAUGHT_UP_REACHED;
	f->caught_up_ready++;
}

/* The first partition reached and not reported yet (scanned only while one
 * is: once per partition); 1 and out filled, or 0. */
static int caught_up_next(struct elog_fetcher *f, struct elog_fetched *out)
{
	for (size_t i = 0; i < f->part_count && f->caught_up_ready > 0; i++) {
		struct fpart *fp = f->parts[i];

		if (fp->caught_up != CAUGHT_UP_REACHED)
			continue;
		if (!fp->removed)
			return caught_up_report(f, fp, out) != 0;
		f->caught_up_ready--;
		f->caught_up_pending--;
		fp->caught_up = CAUGHT_UP_REPORTED;
	}
	return 0;
}

/* While idle: partitions whose position passed their end of the start
 * without a record to show it (control batches skipped). 1 if any. */
static int caught_up_scan(struct elog_fetcher *f)
{
	for (size_t i = 0; i < f->part_count && f->caught_up_pending > f->caught_up_ready; i++) {
		struct fpart *fp = f->parts[i];

		if (fp->caught_up != CAUGHT_UP_NOT_YET)
			continue;
		if (fp->removed) {
			fp->caught_up = CAUGHT_UP_REPORTED;
			f->caught_up_pending--;
		} else if (fp->position >= fp->info.end) {
			caught_up_reached(f, fp);
		}
	}
	return f->caught_up_ready > 0;
}

/*
 * With report_caught_up, a record is checked against its partition's end of
 * the start: the record that reaches it is followed by the report, and a
 * record past it (produced later) is held back behind the report. 1 to
 * hand out the record, ELOG_FETCHER_CAUGHT_UP for a report.
 */
static int caught_up_check(struct elog_fetcher *f, struct fpart *fp, struct elog_fetched *out)
{
	if (fp->caught_up != CAUGHT_UP_NOT_YET)
		return 1;
	if (out->record->offset >= fp->info.end) {
		f->stashed = *out;
		f->has_stashed = 1;
		return caught_up_report(f, fp, out);
	}
	if (out->record->offset + 1 >= fp->info.end)
		caught_up_reached(f, fp);   /* reported by the next call, first */
	return 1;
}

int elog_fetcher_next(struct elog_fetcher *f, struct elog_fetched *out, int timeout_ms,
		      struct elog_err *err)
{
	int64_t deadline = timeout_ms >= 0 ? elog_clock_ms() + timeout_ms : INT64_MAX;
	int reports = f->cfg.report_caught_up;
	int serviced = 0;

	if (reports && f->has_stashed) {
		/* The record view is still the reader's: nothing was read since. */
		*out = f->stashed;
		f->has_stashed = 0;
		return 1;
	}
	for (;;) {
		int64_t left;

		if (reports && f->caught_up_ready > 0 && caught_up_next(f, out))
			return ELOG_FETCHER_CAUGHT_UP;
		if (f->current) {
			int rc = current_next(f, out, err);
			if (rc != 0) {
				if (rc < 0)
					set_final(f, err);
				else if (reports)
					rc = caught_up_check(f, f->current->results[f->current->cur].part, out);
				return rc;
			}
			fresp_put(f, f->current);
			f->current = NULL;
			f->in_batch = 0;
		}
		if (f->queue_head) {
			f->current = f->queue_head;
			f->queue_head = f->current->next;
			if (!f->queue_head)
				f->queue_tail = NULL;
			f->current->next = NULL;
			/* A held slot opened up: keep the pipeline full before handing out records. */
			fetch_ready(f, elog_clock_ms());
			continue;
		}
		if (reports && f->caught_up_pending > f->caught_up_ready && caught_up_scan(f))
			continue;
		if (f->final) {
			if (err)
				*err = f->final_err;
			return -1;
		}
		if (elog_fetcher_done(f) || f->part_count == 0)
			return 0;
		left = deadline == INT64_MAX ? -1 : deadline - elog_clock_ms();
		/* A timeout of 0 still moves what is ready (sends, reads) once:
		 * a caller polling the fetcher's fds with its own relies on it. */
		if (deadline != INT64_MAX && left <= 0) {
			if (serviced)
				return 0;
			left = 0;
		}
		serviced = 1;
		if (fetcher_service(f, left > INT32_MAX ? INT32_MAX : (int)left, err) < 0)
			return -1;
	}
}
