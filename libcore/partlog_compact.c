/*
 * partlog_compact — one compaction pass over a partition log's closed
 * segments (cleanup.policy=compact; the record rules are compact.h's, the
 * on-disk result and the crash analysis docs/format.md's "Compaction").
 *
 * Three steps, so that the owner thread never reads or writes a segment's
 * bytes:
 *
 *   prepare (owner thread): which segments may be rewritten: closed ones
 *     wholly below the recovery point (synced, so what is read is what a
 *     crash leaves) and below the caller's limit (a replica's commit
 *     offset: a truncation never reaches them), stopping at the first with
 *     damage. Only their names, sizes and offsets go into the job.
 *   run (any thread, without the log): opens each segment by name and
 *     reads it sequentially; a header walk finds each producer's newest
 *     batch, the scan (compact.h) fills the offset map from dirty_from on
 *     until it is full or the range ends (end_offset), and the filter
 *     rewrites every segment from the first up to the one holding
 *     end_offset into "<base>.cleaned", fdatasynced, with its indexes
 *     built in memory. A batch whose records were all removed (and that is
 *     not the newest of its producer, which the filter keeps empty itself)
 *     becomes a filler: an empty batch (record_count 0, 64 bytes) over the
 *     same offsets and term. Every batch boundary stays where it was, so
 *     batches still follow each other without gaps (the offset continuity
 *     checks of recovery, reads and replication stay as they are), a
 *     truncation or a lagging follower's next offset still falls on a
 *     boundary of the leader's log, and Raft's terms of offsets do not
 *     change. A segment that would not shrink is left alone.
 *   finish (owner thread): for each rewritten segment, oldest first (one
 *     retention deleted meanwhile is skipped), check it is still the same
 *     file (offsets, size, inode, still below the recovery point, no
 *     damage; else stop there), rename "<base>.cleaned" over
 *     "<base>.log", fsync the directory, and take the new file and
 *     indexes in (index files are written unsynced: they are hints, and a
 *     stale one is found by its closing entry, as the new .log is always
 *     shorter).
 *
 * A kill at any point leaves each segment's .log old or new, never a mix
 * (rename is atomic, and the new file was synced before it); temp files
 * left are removed by the next open (partlog_recover.c). Renaming oldest
 * first with a directory fsync after each keeps any prefix of the swaps
 * consistent: a record removed is superseded by a later one, which is in
 * the same or a later segment, still there whether or not that one was
 * swapped, and a tombstone removed had every older record of its key
 * removed in segments swapped before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact.h"
#include "partlog_int.h"

#define READ_CHUNK (1u << 20)
#define WRITE_CHUNK (1u << 20)

struct job_segment {
	int64_t base, end;          /* offsets [base, end) */
	uint64_t size;              /* bytes of the .log when prepared */
	dev_t dev;                  /* of the file run read */
	ino_t ino;
	int rewritten;              /* "<base>.cleaned" holds the new segment */
	uint64_t new_size;
	struct elog_segindex_pair ix;
};

struct elog_partlog_compact_job {
	int dir_fd;
	uint32_t index_interval;
	int64_t dirty_from;
	int64_t now_ms, delete_retention_ms;
	struct job_segment *segs;
	uint32_t count;
	struct elog_partlog_compact_stats stats;
};

/* ---------------------------------------------------------------- names */

static void temp_name(char *out, size_t cap, int64_t base)
{
	elog_segment_name(out, cap, base, ELOG_PARTLOG_COMPACT_TEMP_EXT);
}

/* ---------------------------------------------------------------- prepare */

int64_t elog_partlog_compact_end(struct elog_partlog *log, int64_t limit)
{
	int64_t rp = atomic_load(&log->rp_offset), end = log->segments[0].base_offset;

	if (atomic_load(&log->failed))
		return end;
	for (uint32_t i = 0; i + 1 < log->segment_count; i++) {
		int64_t next = log->segments[i + 1].base_offset;
		if (next > rp || next > limit || log->segments[i].damage_count)
			break;
		end = next;
	}
	return end;
}

int elog_partlog_compact_prepare(struct elog_partlog *log, int64_t dirty_from, int64_t limit,
				 int64_t now_ms, int64_t delete_retention_ms,
				 struct elog_partlog_compact_job **out, struct elog_err *err)
{
	struct elog_partlog_compact_job *job;
	int64_t end;
	uint32_t n = 0;

	*out = NULL;
	if (elog_partlog_use(log, err) < 0 || elog_partlog_check_usable(log, err) < 0)
		return -1;
	end = elog_partlog_compact_end(log, limit);
	if (dirty_from < log->segments[0].base_offset)
		dirty_from = log->segments[0].base_offset;
	if (end <= dirty_from)
		return 0;
	while (n < log->segment_count && log->segments[n].base_offset < end)
		n++;
	job = calloc(1, sizeof(*job));
	if (!job || !(job->segs = calloc(n, sizeof(*job->segs)))) {
		free(job);
		return elog_err_set(err, ELOG_E_NOMEM, "compaction: out of memory");
	}
	job->dir_fd = fcntl(log->dir_fd, F_DUPFD_CLOEXEC, 0);
	if (job->dir_fd < 0) {
		free(job->segs);
		free(job);
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: compaction: cannot dup the directory",
				      log->dir);
	}
	job->index_interval = log->config.index_interval_bytes;
	job->dirty_from = dirty_from;
	job->now_ms = now_ms;
	job->delete_retention_ms = delete_retention_ms < 0 ? 0 : delete_retention_ms;
	job->count = n;
	for (uint32_t i = 0; i < n; i++) {
		job->segs[i].base = log->segments[i].base_offset;
		job->segs[i].end = log->segments[i + 1].base_offset;
		job->segs[i].size = log->segments[i].size;
		elog_segindex_pair_init(&job->segs[i].ix);
	}
	job->stats.end_offset = dirty_from;
	job->stats.tombstone_due_ms = INT64_MAX;
	*out = job;
	return 0;
}

const struct elog_partlog_compact_stats *
elog_partlog_compact_job_stats(const struct elog_partlog_compact_job *job)
{
	return &job->stats;
}

void elog_partlog_compact_job_free(struct elog_partlog_compact_job *job)
{
	char name[32];

	if (!job)
		return;
	for (uint32_t i = 0; i < job->count; i++) {
		if (job->segs[i].rewritten) {
			temp_name(name, sizeof(name), job->segs[i].base);
			unlinkat(job->dir_fd, name, 0);
		}
		elog_segindex_pair_release(&job->segs[i].ix);
	}
	if (job->dir_fd >= 0)
		close(job->dir_fd);
	free(job->segs);
	free(job);
}

/* ---------------------------------------------------------------- reading */

/* Whole batches of one segment file, read sequentially through a buffer. */
struct seg_in {
	int fd;
	uint64_t size, pos;     /* next batch at pos */
	int64_t expected;       /* its base offset */
	uint8_t *buf;
	size_t cap, len;
	uint64_t buf_pos;       /* file position of buf[0] */
};

static int in_open(struct seg_in *in, int dir_fd, const struct job_segment *s, uint8_t **buf,
		   size_t *cap, struct elog_err *err)
{
	char name[32];
	struct stat st;

	elog_segment_name(name, sizeof(name), s->base, "log");
	memset(in, 0, sizeof(*in));
	in->fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	if (fstat(in->fd, &st) < 0 || (uint64_t)st.st_size < s->size) {
		close(in->fd);
		return elog_err_set(err, ELOG_E_RANGE, "%s: changed since compaction began", name);
	}
	in->size = s->size;
	in->expected = s->base;
	in->buf = *buf;
	in->cap = *cap;
	return 0;
}

/* The caller keeps the (possibly grown) buffer for the next segment. */
static void in_close(struct seg_in *in, uint8_t **buf, size_t *cap)
{
	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
	*buf = in->buf;
	*cap = in->cap;
}

/* Make buf hold file bytes [pos, pos + want). */
static int in_fill(struct seg_in *in, uint64_t want, struct elog_err *err)
{
	size_t need, got = 0;

	if (in->pos >= in->buf_pos && in->pos + want <= in->buf_pos + in->len)
		return 0;
	need = want > READ_CHUNK ? (size_t)want : READ_CHUNK;
	if (need > in->size - in->pos)
		need = (size_t)(in->size - in->pos);
	if (need > in->cap) {
		uint8_t *b = realloc(in->buf, need);
		if (!b)
			return elog_err_set(err, ELOG_E_NOMEM, "compaction: out of memory");
		in->buf = b;
		in->cap = need;
	}
	while (got < need) {
		ssize_t r = pread(in->fd, in->buf + got, need - got, (off_t)(in->pos + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return elog_err_errno(err, ELOG_E_IO, r < 0 ? errno : EIO,
					      "cannot read byte %" PRIu64, in->pos + got);
		got += (size_t)r;
	}
	in->buf_pos = in->pos;
	in->len = got;
	return 0;
}

/* 1 and the next whole batch (checked: framing, CRC, offsets), 0 at the end, -1. */
static int in_next(struct seg_in *in, const uint8_t **batch, size_t *len,
		   struct elog_batch_header *h, struct elog_err *err)
{
	const uint8_t *p;
	uint64_t total;

	if (in->pos >= in->size)
		return 0;
	if (in->size - in->pos < ELOG_BATCH_HEADER_SIZE)
		return elog_err_set(err, ELOG_E_CORRUPT, "byte %" PRIu64 ": short batch", in->pos);
	if (in_fill(in, ELOG_BATCH_HEADER_SIZE, err) < 0)
		return -1;
	p = in->buf + (in->pos - in->buf_pos);
	if (elog_batch_header_decode_as(p, ELOG_BATCH_HEADER_SIZE, ELOG_BATCH_OFFSETS_GAPS, h,
					err) < 0)
		return elog_err_prefix(err, "byte %" PRIu64, in->pos);
	total = elog_batch_total_size(h);
	if (total > in->size - in->pos || h->base_offset != in->expected)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "byte %" PRIu64 ": batch at offset %" PRId64
				    " does not fit (expected %" PRId64 ")",
				    in->pos, h->base_offset, in->expected);
	if (in_fill(in, total, err) < 0)
		return -1;
	p = in->buf + (in->pos - in->buf_pos);
	if (elog_batch_check_as(p, (size_t)total, ELOG_BATCH_OFFSETS_GAPS, h, err) < 0)
		return elog_err_prefix(err, "byte %" PRIu64, in->pos);
	*batch = p;
	*len = (size_t)total;
	in->pos += total;
	in->expected = elog_batch_last_offset(h) + 1;
	return 1;
}

/* ---------------------------------------------------------------- producers */

/* Each producer's newest batch (base offset) in the job's segments. */
struct producers {
	int64_t *ids, *bases;      /* open addressing; id -1: free */
	size_t cap, used;
};

static size_t producer_slot(const struct producers *t, int64_t id)
{
	size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull) & (t->cap - 1);

	while (t->ids[i] != -1 && t->ids[i] != id)
		i = (i + 1) & (t->cap - 1);
	return i;
}

static int producers_note(struct producers *t, int64_t id, int64_t base, struct elog_err *err)
{
	size_t i;

	if (t->used + 1 > t->cap - t->cap / 4) {
		struct producers g = {NULL, NULL, t->cap ? t->cap * 2 : 64, 0};
		g.ids = malloc(g.cap * sizeof(*g.ids));
		g.bases = malloc(g.cap * sizeof(*g.bases));
		if (!g.ids || !g.bases) {
			free(g.ids);
			free(g.bases);
			return elog_err_set(err, ELOG_E_NOMEM, "compaction: out of memory");
		}
		memset(g.ids, 0xff, g.cap * sizeof(*g.ids)); /* -1 */
		for (size_t k = 0; k < t->cap; k++)
			if (t->ids[k] != -1) {
				size_t j = producer_slot(&g, t->ids[k]);
				g.ids[j] = t->ids[k];
				g.bases[j] = t->bases[k];
				g.used++;
			}
		free(t->ids);
		free(t->bases);
		*t = g;
	}
	i = producer_slot(t, id);
	if (t->ids[i] == -1) {
		t->ids[i] = id;
		t->bases[i] = base;
		t->used++;
	} else if (base > t->bases[i]) {
		t->bases[i] = base;
	}
	return 0;
}

static int producers_newest(const struct producers *t, const struct elog_batch_header *h)
{
	if (h->producer_id < 0 || !t->cap)
		return 0;
	return t->bases[producer_slot(t, h->producer_id)] == h->base_offset;
}

/* ---------------------------------------------------------------- writing */

/*
 * The new segment. It is created at the first batch that changes: until
 * then its bytes are the old segment's (every batch so far unchanged), so
 * a segment with nothing to remove costs no write, and one with changes
 * starts with a copy of the unchanged prefix.
 */
struct seg_out {
	int fd;                     /* -1 until started */
	uint64_t size;              /* bytes so far (buffered, and before the start, not written) */
	uint8_t *buf;
	size_t len;
};

static int out_flush(struct seg_out *o, struct elog_err *err)
{
	if (o->fd < 0)
		return 0;
	if (o->len && elog_partlog_write_at(o->fd, o->buf, o->len, o->size - o->len,
					    "compacted segment", err) < 0)
		return -1;
	o->len = 0;
	return 0;
}

static int out_put(struct seg_out *o, const uint8_t *p, size_t len, struct elog_err *err)
{
	if (o->fd < 0) {
		o->size += len; /* the old segment holds these bytes at the same place */
		return 0;
	}
	if (o->len + len > WRITE_CHUNK && out_flush(o, err) < 0)
		return -1;
	o->size += len;
	if (len > WRITE_CHUNK)
		return elog_partlog_write_at(o->fd, p, len, o->size - len, "compacted segment", err);
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return 0;
}

/* Create "<base>.cleaned" with the old segment's first o->size bytes. */
static int out_start(struct seg_out *o, int dir_fd, struct job_segment *s, int src_fd,
		     struct elog_err *err)
{
	char name[32];
	uint64_t at = 0;

	if (o->fd >= 0)
		return 0;
	elog_segment_name(name, sizeof(name), s->base, ELOG_PARTLOG_COMPACT_TEMP_EXT);
	o->fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno, "%s: cannot create",
				      name);
	s->rewritten = 1; /* from here on job_free removes the file */
	while (at < o->size) {
		size_t want = o->size - at < WRITE_CHUNK ? (size_t)(o->size - at) : WRITE_CHUNK;
		ssize_t n = pread(src_fd, o->buf, want, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
					      "cannot read byte %" PRIu64, at);
		if (elog_partlog_write_at(o->fd, o->buf, (size_t)n, at, name, err) < 0)
			return -1;
		at += (uint64_t)n;
	}
	return 0;
}

/* ---------------------------------------------------------------- run */

struct runner {
	struct elog_partlog_compact_job *job;
	const _Atomic int *cancel;
	struct elog_compact_map *map;
	struct elog_compact_scan scan;
	struct elog_compact_filter filter;
	struct elog_batch_reader reader;   /* tombstones kept */
	struct producers producers;
	uint8_t *in_buf;
	size_t in_cap;
	uint8_t *out_buf;
	size_t out_cap;
	uint8_t empty[ELOG_BATCH_HEADER_SIZE]; /* a filler (out_buf may hold a filtered batch) */
	int src_fd;                        /* the segment being filtered */
};

static int cancelled(const struct runner *r, struct elog_err *err)
{
	if (r->cancel && atomic_load(r->cancel))
		return elog_err_set(err, ELOG_E_BUSY, "compaction stopped");
	return 0;
}

/* Header walk: each producer's newest batch. */
static int walk_producers(struct runner *r, struct elog_err *err)
{
	for (uint32_t i = 0; i < r->job->count; i++) {
		struct seg_in in;
		struct elog_batch_header h;
		const uint8_t *b;
		size_t len;
		int rc;

		if (in_open(&in, r->job->dir_fd, &r->job->segs[i], &r->in_buf, &r->in_cap, err) < 0)
			return -1;
		while ((rc = in_next(&in, &b, &len, &h, err)) == 1)
			if (h.producer_id >= 0 && producers_note(&r->producers, h.producer_id,
								 h.base_offset, err) < 0) {
				rc = -1;
				break;
			}
		in_close(&in, &r->in_buf, &r->in_cap);
		if (rc < 0 || cancelled(r, err) < 0)
			return -1;
	}
	return 0;
}

/* Fill the map from dirty_from until it is full or the segments end. */
static int scan_pass(struct runner *r, struct elog_err *err)
{
	struct elog_partlog_compact_job *job = r->job;

	elog_compact_map_reset(r->map);
	elog_compact_scan_start(&r->scan, job->dirty_from);
	for (uint32_t i = 0; i < job->count && !r->scan.full; i++) {
		struct seg_in in;
		struct elog_batch_header h;
		const uint8_t *b;
		size_t len;
		int rc;

		if (job->segs[i].end <= job->dirty_from)
			continue;
		if (in_open(&in, job->dir_fd, &job->segs[i], &r->in_buf, &r->in_cap, err) < 0)
			return -1;
		while ((rc = in_next(&in, &b, &len, &h, err)) == 1) {
			if (elog_batch_last_offset(&h) < job->dirty_from)
				continue;
			rc = elog_compact_scan_batch(&r->scan, r->map, b, len, err);
			if (rc != 0)
				break;
		}
		in_close(&in, &r->in_buf, &r->in_cap);
		if (rc < 0 || cancelled(r, err) < 0)
			return -1;
	}
	job->stats.full = r->scan.full;
	job->stats.end_offset = r->scan.full ? r->scan.end_offset : job->segs[job->count - 1].end;
	return 0;
}

static int out_room(struct runner *r, size_t need, struct elog_err *err)
{
	if (need <= r->out_cap)
		return 0;
	uint8_t *b = realloc(r->out_buf, need);
	if (!b)
		return elog_err_set(err, ELOG_E_NOMEM, "compaction: out of memory");
	r->out_buf = b;
	r->out_cap = need;
	return 0;
}

/* Write one batch of the new segment and note it in the new indexes. */
static int emit(struct runner *r, struct job_segment *s, struct seg_out *o, const uint8_t *b,
		size_t len, struct elog_err *err)
{
	struct elog_batch_header h;
	int added;

	if (elog_batch_header_decode_as(b, len, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0 ||
	    elog_segindex_note(&s->ix, r->job->index_interval, s->base, &h, o->size, &added,
			       err) < 0)
		return -1;
	return out_put(o, b, len, err);
}

/* A batch that differs from the old segment's: the new file starts here at the latest. */
static int emit_changed(struct runner *r, struct job_segment *s, struct seg_out *o,
			const uint8_t *b, size_t len, struct elog_err *err)
{
	if (out_start(o, r->job->dir_fd, s, r->src_fd, err) < 0)
		return -1;
	return emit(r, s, o, b, len, err);
}

/*
 * A batch whose records were all removed, as a filler: an empty batch over
 * the same offsets, of the same term and timestamps, without producer
 * fields (the producer's newest batch is kept by the filter itself), so
 * that every batch boundary stays where it was.
 */
static int emit_filler(struct runner *r, struct job_segment *s, struct seg_out *o,
		       const struct elog_batch_header *h, struct elog_err *err)
{
	struct elog_batch_header e = *h;
	size_t len;

	e.attributes &= (uint8_t)~ELOG_BATCH_ATTR_COMPRESSION_MASK;
	e.producer_id = -1;
	e.producer_epoch = -1;
	e.base_sequence = -1;
	e.record_count = 0;
	if (elog_batch_write(&e, (const uint8_t *)"", 0, r->empty, sizeof(r->empty), &len, err) < 0)
		return -1;
	return emit_changed(r, s, o, r->empty, len, err);
}

/* Note the tombstones a kept batch still holds: when they fall due. */
static void note_tombstones(struct runner *r, const uint8_t *b, size_t len)
{
	struct elog_record_view rec;
	struct elog_batch_header h;
	int64_t due;

	if (elog_batch_header_decode_as(b, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0 ||
	    (h.attributes & ELOG_BATCH_ATTR_CONTROL) || h.record_count == 0 ||
	    elog_batch_reader_open(&r->reader, b, len, NULL) < 0)
		return;
	due = h.max_timestamp > INT64_MAX - r->job->delete_retention_ms - 1
		      ? INT64_MAX
		      : h.max_timestamp + r->job->delete_retention_ms + 1;
	while (elog_batch_reader_next(&r->reader, &rec, NULL) == 1)
		if (rec.key_len >= 0 && rec.value_len < 0 && rec.offset < r->job->stats.end_offset) {
			if (due < r->job->stats.tombstone_due_ms)
				r->job->stats.tombstone_due_ms = due;
			return;
		}
}

/* Filter one batch into the new segment. */
static int filter_one(struct runner *r, struct job_segment *s, struct seg_out *o,
		      const struct elog_compact_pass *pass, const uint8_t *b, size_t len,
		      const struct elog_batch_header *h, int *changed, struct elog_err *err)
{
	size_t out_len = 0;
	int rc, newest;

	if (out_room(r, elog_compact_filter_bound(b, len), err) < 0)
		return -1;
	newest = producers_newest(&r->producers, h);
	if (h->record_count == 0) {
		/* A producer's empty batch since superseded becomes a filler, so
		 * that passes end as one pass would; a filler stays as it is. */
		if (newest || h->producer_id < 0)
			return emit(r, s, o, b, len, err);
		*changed = 1;
		return emit_filler(r, s, o, h, err);
	}
	rc = elog_compact_filter_batch(&r->filter, pass, b, len, newest, r->out_buf, r->out_cap,
				       &out_len, err);
	if (rc < 0 && err->code == ELOG_E_LIMIT)
		rc = ELOG_COMPACT_UNCHANGED; /* the smaller batch compresses worse: keep it */
	if (rc < 0)
		return -1;
	r->job->stats.records_removed += r->filter.records_removed;
	if (rc == ELOG_COMPACT_DROPPED) {
		*changed = 1;
		r->job->stats.batches_dropped++;
		return emit_filler(r, s, o, h, err);
	}
	if (rc == ELOG_COMPACT_REWRITTEN) {
		*changed = 1;
		note_tombstones(r, r->out_buf, out_len);
		return emit_changed(r, s, o, r->out_buf, out_len, err);
	}
	note_tombstones(r, b, len);
	return emit(r, s, o, b, len, err);
}

/* Rewrite segment s into its temp file; rewritten only when it shrinks. */
static int filter_segment(struct runner *r, struct job_segment *s,
			  const struct elog_compact_pass *pass, struct elog_err *err)
{
	struct elog_partlog_compact_job *job = r->job;
	struct seg_out o = {-1, 0, NULL, 0};
	struct seg_in in;
	struct elog_batch_header h;
	const uint8_t *b;
	size_t len;
	char name[32];
	int rc, changed = 0;
	struct stat st;

	temp_name(name, sizeof(name), s->base);
	if (in_open(&in, job->dir_fd, s, &r->in_buf, &r->in_cap, err) < 0)
		return -1;
	if (fstat(in.fd, &st) < 0) {
		in_close(&in, &r->in_buf, &r->in_cap);
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot stat a segment");
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	o.buf = malloc(WRITE_CHUNK);
	if (!o.buf) {
		rc = elog_err_set(err, ELOG_E_NOMEM, "compaction: out of memory");
		goto out;
	}
	r->src_fd = in.fd;
	elog_segindex_pair_release(&s->ix);
	elog_segindex_pair_init(&s->ix);
	while ((rc = in_next(&in, &b, &len, &h, err)) == 1) {
		if (filter_one(r, s, &o, pass, b, len, &h, &changed, err) < 0 ||
		    cancelled(r, err) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && out_flush(&o, err) < 0)
		rc = -1;
	if (rc < 0)
		goto out;
	if (!changed || o.size >= s->size) {
		if (s->rewritten)
			unlinkat(job->dir_fd, name, 0);
		s->rewritten = 0;
		goto out;
	}
	/* The closing .tix entry, as recovery writes it for a closed segment. */
	rc = elog_segindex_push(&s->ix.tix, (uint32_t)(s->end - s->base), (uint32_t)o.size,
				s->ix.max_timestamp, err);
	if (rc == 0 && fdatasync(o.fd) < 0)
		rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name);
	s->new_size = o.size;
out:
	if (o.fd >= 0)
		close(o.fd);
	free(o.buf);
	in_close(&in, &r->in_buf, &r->in_cap);
	if (rc < 0 && s->rewritten) {
		s->rewritten = 0;
		unlinkat(job->dir_fd, name, 0);
	}
	return rc < 0 ? elog_err_prefix(err, "segment %" PRId64, s->base) : 0;
}

int elog_partlog_compact_run(struct elog_partlog_compact_job *job, struct elog_compact_map *map,
			     const _Atomic int *cancel, struct elog_err *err)
{
	struct runner r;
	struct elog_compact_pass pass;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.job = job;
	r.cancel = cancel;
	r.map = map;
	elog_compact_scan_init(&r.scan);
	elog_compact_filter_init(&r.filter);
	elog_batch_reader_init(&r.reader);
	r.reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS;
	if (walk_producers(&r, err) < 0 || scan_pass(&r, err) < 0)
		goto out;
	pass = (struct elog_compact_pass){map, job->stats.end_offset, job->now_ms,
					  job->delete_retention_ms};
	for (uint32_t i = 0; i < job->count && job->segs[i].base < job->stats.end_offset; i++) {
		if (filter_segment(&r, &job->segs[i], &pass, err) < 0)
			goto out;
		if (job->segs[i].rewritten) {
			job->stats.bytes_before += job->segs[i].size;
			job->stats.bytes_after += job->segs[i].new_size;
		}
	}
	rc = 0;
out:
	elog_compact_scan_release(&r.scan);
	elog_compact_filter_release(&r.filter);
	elog_batch_reader_release(&r.reader);
	free(r.producers.ids);
	free(r.producers.bases);
	free(r.in_buf);
	free(r.out_buf);
	return rc;
}

/* ---------------------------------------------------------------- finish */

/* Whether segment i of the log is still the file the job read. */
static int still_same(struct elog_partlog *log, const struct job_segment *js, uint32_t *at)
{
	uint32_t i = elog_partlog_segment_find(log, js->base);
	const struct elog_partlog_segment *s = &log->segments[i];
	struct stat st;
	char name[32];

	if (s->base_offset != js->base || i + 1 >= log->segment_count ||
	    log->segments[i + 1].base_offset != js->end || s->size != js->size ||
	    s->damage_count || js->end > atomic_load(&log->rp_offset))
		return 0;
	elog_segment_name(name, sizeof(name), js->base, "log");
	if (fstatat(log->dir_fd, name, &st, 0) < 0 || st.st_dev != js->dev || st.st_ino != js->ino)
		return 0;
	*at = i;
	return 1;
}

static int index_map(struct elog_partlog *log, int64_t base, const char *ext,
		     struct elog_segindex *ix, struct elog_err *err)
{
	char name[32];
	int fd, rc;

	elog_segment_name(name, sizeof(name), base, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	rc = elog_segindex_map(ix, fd, ix->count * ix->entry_size, err);
	close(fd);
	return rc;
}

/* The new indexes: written (unsynced: hints) and mapped, or kept on the heap. */
static void install_indexes(struct elog_partlog *log, struct elog_partlog_segment *s,
			    struct elog_segindex_pair *fresh)
{
	struct elog_segindex idx, tix;
	struct elog_err ignored;

	elog_segindex_pair_release(&s->ix);
	s->ix = *fresh;
	elog_segindex_pair_init(fresh);
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &s->ix.idx, 0, &ignored) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &s->ix.tix, 0, &ignored) < 0)
		return; /* served from memory; a wrong file is rebuilt on open */
	idx = s->ix.idx;
	tix = s->ix.tix;
	elog_segindex_init(&s->ix.idx, ELOG_INDEX_ENTRY_SIZE);
	elog_segindex_init(&s->ix.tix, ELOG_TIME_ENTRY_SIZE);
	s->ix.idx.count = idx.count;
	s->ix.tix.count = tix.count;
	if (index_map(log, s->base_offset, "idx", &s->ix.idx, &ignored) < 0 ||
	    index_map(log, s->base_offset, "tix", &s->ix.tix, &ignored) < 0) {
		elog_segindex_release(&s->ix.idx);
		elog_segindex_release(&s->ix.tix);
		s->ix.idx = idx;
		s->ix.tix = tix;
		return;
	}
	elog_segindex_release(&idx);
	elog_segindex_release(&tix);
}

/* Swap one segment: rename, directory fsync, new fd, size, indexes. */
static int swap_one(struct elog_partlog *log, uint32_t i, struct job_segment *js,
		    struct elog_err *err)
{
	struct elog_partlog_segment *s = &log->segments[i];
	char tmp[32], name[32];
	int fd = -1;

	temp_name(tmp, sizeof(tmp), js->base);
	elog_segment_name(name, sizeof(name), js->base, "log");
	if (renameat(log->dir_fd, tmp, log->dir_fd, name) < 0)
		/* ENOENT: the log was reopened meanwhile, and open removed it. */
		return elog_err_errno(err, errno == ENOENT ? ELOG_E_RANGE : ELOG_E_IO, errno,
				      "%s: cannot rename to %s", tmp, name);
	js->rewritten = 0;
	if (fsync(log->dir_fd) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "cannot sync the directory");
		return elog_partlog_fail(log, err);
	}
	if (s->fd >= 0) {
		fd = openat(log->dir_fd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
			return elog_partlog_fail(log, err);
		}
		if (log->config.discard)
			log->config.discard(log->config.discard_ctx, s->fd);
		else
			close(s->fd);
		s->fd = fd;
	}
	log->size_bytes -= s->size - js->new_size;
	s->size = js->new_size;
	install_indexes(log, s, &js->ix);
	return 0;
}

int elog_partlog_compact_finish(struct elog_partlog *log, struct elog_partlog_compact_job *job,
				struct elog_err *err)
{
	struct stat a, b;

	job->stats.segments = 0;
	if (elog_partlog_use(log, err) < 0 || elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (fstat(job->dir_fd, &a) < 0 || fstat(log->dir_fd, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return elog_err_set(err, ELOG_E_RANGE, "%s: not the directory compacted", log->dir);
	for (uint32_t k = 0; k < job->count; k++) {
		struct job_segment *js = &job->segs[k];
		uint32_t i;
		if (!js->rewritten)
			continue;
		/* Deleted meanwhile (retention, oldest first): nothing to swap. */
		if (js->base < log->segments[0].base_offset)
			continue;
		/* Oldest first, and none after one that changed (see the top). */
		if (!still_same(log, js, &i))
			return elog_err_set(err, ELOG_E_RANGE,
					    "%s: segment %" PRId64 " changed during compaction", log->dir,
					    js->base);
		if (swap_one(log, i, js, err) < 0)
			return elog_err_prefix(err, "%s", log->dir);
		job->stats.segments++;
	}
	return 0;
}
