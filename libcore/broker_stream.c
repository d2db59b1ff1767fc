/* broker_stream — the file ranges of a connection's output: FETCH answers
 * send their batches from the segment files a chunk at a time, as the
 * socket drains, checking every batch on the way out; see broker_int.h. */
#include "broker.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_int.h"
#include "bytes.h"
#include "crc32c.h"

_Static_assert(STREAM_CHUNK_MIN_BYTES >= 2 * ELOG_BATCH_HEADER_SIZE, "a chunk holds a batch header");

/* ---------------------------------------------------------------- checking */

void elog_served_check_init(struct served_check *k, int64_t base_offset)
{
	k->next_offset = base_offset;
	k->batch_offset = base_offset;
	k->batch_left = 0;
	k->crc = k->crc_want = 0;
}

/* A batch starts at p (n >= its header's bytes): check the header and
 * start its CRC. Returns the bytes of it taken from this chunk. */
static long check_batch_start(struct served_check *k, const uint8_t *p, size_t n,
			      uint64_t range_left, struct elog_err *err)
{
	struct elog_batch_header h;
	uint32_t total, take;

	if (elog_batch_header_decode_as(p, n, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0) {
		err->code = ELOG_E_CORRUPT;
		return elog_err_prefix(err, "batch at offset %" PRId64, k->next_offset);
	}
	total = elog_batch_total_size(&h);
	if (h.base_offset != k->next_offset)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "batch base offset %" PRId64 ", expected %" PRId64, h.base_offset,
				    k->next_offset);
	if (total > range_left)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "batch at offset %" PRId64 " of %u bytes runs past its segment's end",
				    h.base_offset, total);
	take = total < n ? total : (uint32_t)n;
	k->batch_offset = h.base_offset;
	k->next_offset = elog_batch_last_offset(&h) + 1;
	k->crc_want = h.crc;
	k->crc = elog_crc32c(0, p + ELOG_BATCH_CRC_START, take - ELOG_BATCH_CRC_START);
	k->batch_left = total - take;
	return take;
}

long elog_served_check_feed(struct served_check *k, const uint8_t *p, size_t n,
			    uint64_t range_left, struct elog_err *err)
{
	size_t at = 0;

	/* Bounded: every pass takes at least one byte or leaves. */
	while (at < n) {
		long take;
		if (k->batch_left == 0) {
			if (n - at < ELOG_BATCH_HEADER_SIZE) {
				if (range_left - at > n - at)
					return (long)at; /* the header goes with the next chunk */
				return elog_err_set(err, ELOG_E_CORRUPT,
						    "batch at offset %" PRId64 " is cut short",
						    k->next_offset);
			}
			take = check_batch_start(k, p + at, n - at, range_left - at, err);
			if (take < 0)
				return -1;
		} else {
			take = k->batch_left < n - at ? k->batch_left : (long)(n - at);
			k->crc = elog_crc32c(k->crc, p + at, (size_t)take);
			k->batch_left -= (uint32_t)take;
		}
		at += (size_t)take;
		if (k->batch_left == 0 && k->crc != k->crc_want)
			return elog_err_set(err, ELOG_E_CORRUPT,
					    "batch at offset %" PRId64 ": crc %08x, computed %08x",
					    k->batch_offset, k->crc_want, k->crc);
	}
	return (long)n;
}

/* ---------------------------------------------------------------- queue */

int elog_conn_add_file(struct elog_conn *c, struct elog_partition *p,
		       const struct elog_partlog_slice *s, struct elog_err *err)
{
	struct elog_broker *b = c->broker;
	struct out_file *f;

	if (b->stream_fds >= b->stream_fds_max)
		return elog_err_set(err, ELOG_E_LIMIT, "%u segment files are being sent already",
				    b->stream_fds);
	f = calloc(1, sizeof(*f));
	if (!f)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	f->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if (f->fd < 0) {
		free(f);
		return elog_err_errno(err, ELOG_E_LIMIT, errno, "cannot keep the segment open");
	}
	f->at = c->out_base + c->out.len;
	f->position = s->position;
	f->len = s->len;
	f->base_offset = s->base_offset;
	f->p = p;
	if (c->files_tail)
		c->files_tail->next = f;
	else
		c->files = f;
	c->files_tail = f;
	c->file_count++;
	c->file_unsent += f->len;
	b->stream_fds++;
	return 0;
}

static void file_free(struct elog_conn *c, struct out_file *f)
{
	close(f->fd);
	c->broker->stream_fds--;
	c->file_count--;
	c->file_unsent -= f->len - f->sent;
	free(f);
}

/* Pop the head range (done, or dropped). */
static void file_pop(struct elog_conn *c)
{
	struct out_file *next = c->files->next;

	file_free(c, c->files);
	c->files = next;
	if (!c->files)
		c->files_tail = NULL;
	/* The chunk stays for the next answer; elog_conn_trim gives it back. */
}

void elog_conn_drop_files(struct elog_conn *c, uint64_t from)
{
	struct out_file **link = &c->files, *f;

	/* The head range, being sent, sits at or before every frame not sent yet. */
	while ((f = *link) && f->at <= from)
		link = &f->next;
	assert(!*link || *link != c->files || c->files->sent == 0);
	c->files_tail = NULL;
	for (f = c->files; f && f != *link; f = f->next)
		c->files_tail = f;
	/* Bounded: the list shrinks by one each pass. */
	while ((f = *link)) {
		*link = f->next;
		file_free(c, f);
	}
}

void elog_conn_release_files(struct elog_conn *c)
{
	/* Bounded: the list shrinks by one each pass. */
	while (c->files) {
		struct out_file *next = c->files->next;
		file_free(c, c->files);
		c->files = next;
	}
	c->files_tail = NULL;
	elog_buf_release(&c->chunk);
}

void elog_broker_forget_topic_files(struct elog_broker *b, const struct elog_topic *t)
{
	for (struct elog_conn *c = b->conns; c; c = c->next)
		for (struct out_file *f = c->files; f; f = f->next)
			if (f->p && f->p->topic == t)
				f->p = NULL;
}

/* ---------------------------------------------------------------- sending */

/* A batch read from a segment failed its check on the way out: the
 * partition records it as damaged, so that later reads stop before it and
 * a read of it answers DATA_DAMAGED. */
static void served_damaged(struct elog_broker *b, struct elog_partition *p, int64_t offset,
			   const struct elog_err *why)
{
	struct elog_err err;
	char topic[ELOG_LOG_VALUE_MAX], reason[ELOG_LOG_VALUE_MAX];

	if (elog_partlog_mark_damaged(p->log, offset, why->msg, &err) < 0)
		elog_broker_logf(b, ELOG_LOG_ERROR, "cannot record damage",
				 "topic=%s partition=%u offset=%" PRId64 " reason=%s",
				 elog_logfmt_value(topic, sizeof(topic), p->topic->name), p->id, offset,
				 elog_logfmt_value(reason, sizeof(reason), err.msg));
}

static void log_damage(struct elog_conn *c, struct elog_partition *p, int64_t offset,
		       uint64_t position, const struct elog_err *why)
{
	struct elog_broker *b = c->broker;
	char topic[ELOG_LOG_VALUE_MAX], reason[ELOG_LOG_VALUE_MAX];

	elog_logfmt_value(topic, sizeof(topic), p ? p->topic->name : "(deleted)");
	elog_logfmt_value(reason, sizeof(reason), why->msg);
	elog_broker_logf(b, ELOG_LOG_ERROR, "damaged batch not served",
			 "topic=%s partition=%u offset=%" PRId64 " file_position=%" PRIu64
			 " conn=%" PRIu64 " reason=%s",
			 topic, p ? p->id : 0, offset, position, c->id, reason);
	if (p)
		served_damaged(b, p, offset, why);
}

static void report_damage(struct elog_conn *c, struct out_file *f, const struct elog_err *why)
{
	char kill_why[ELOG_ERR_MSG_MAX + 64];

	log_damage(c, f->p, c->check.batch_offset, f->position + f->read, why);
	snprintf(kill_why, sizeof(kill_why), "damaged batch at offset %" PRId64 ": %s",
		 c->check.batch_offset, why->msg);
	elog_conn_kill(c, kill_why);
}

int elog_conn_read_slice(const struct elog_partlog_slice *s, struct elog_buf *buf,
			 struct elog_err *err)
{
	size_t got = 0;

	elog_buf_reset(buf);
	if (elog_buf_reserve(buf, s->len, err) < 0)
		return -1;
	/* Bounded: every pass reads at least one byte or leaves. */
	while (got < s->len) {
		ssize_t n = pread(s->fd, buf->data + got, s->len - got, (off_t)(s->position + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO, "cannot read the log");
		got += (size_t)n;
	}
	buf->len = s->len;
	return 0;
}

/* The chunk's size, chosen when a connection starts sending ranges. */
static int chunk_alloc(struct elog_conn *c)
{
	struct elog_err err;
	size_t cap = elog_conn_mem_room(c) >= STREAM_CHUNK_BYTES ? STREAM_CHUNK_BYTES
								: STREAM_CHUNK_MIN_BYTES;

	if (elog_buf_set_cap(&c->chunk, cap, &err) < 0)
		return -1;
	elog_conn_account(c);
	return 0;
}

/* Read and check the head range's next chunk (the chunk is only where the
 * bytes are checked; what passed goes out from the file). -1: the
 * connection was killed. */
static int chunk_check(struct elog_conn *c, struct out_file *f)
{
	size_t want = f->len - f->read, got = 0;
	struct elog_err err;
	long ok;

	if (want > c->chunk.cap)
		want = c->chunk.cap;
	if (f->read == 0)
		elog_served_check_init(&c->check, f->base_offset);
	/* Bounded: every pass reads at least one byte or leaves. */
	while (got < want) {
		ssize_t n = pread(f->fd, c->chunk.data + got, want - got,
				  (off_t)(f->position + f->read + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			elog_err_errno(&err, ELOG_E_IO, n < 0 ? errno : EIO, "cannot read the log");
			elog_conn_kill(c, err.msg);
			return -1;
		}
		got += (size_t)n;
	}
	ok = elog_served_check_feed(&c->check, c->chunk.data, want, f->len - f->read, &err);
	if (ok <= 0) {
		if (ok == 0)
			elog_err_set(&err, ELOG_E_CORRUPT, "batch at offset %" PRId64 " is cut short",
				     c->check.next_offset);
		report_damage(c, f, &err);
		return -1;
	}
	f->read += (uint32_t)ok;
	return 0;
}

int elog_conn_send_file(struct elog_conn *c)
{
	struct out_file *f = c->files;
	off_t position;
	ssize_t n;

	if (f->sent == f->len) {
		file_pop(c);
		return 1;
	}
	if (!c->chunk.data && chunk_alloc(c) < 0) {
		elog_conn_kill(c, "out of memory");
		return -1;
	}
	/* Check ahead of the socket, so that one sendfile moves a lot. Bounded:
	 * every pass checks at least one byte or leaves. */
	while (f->read < f->len && f->read - f->sent < STREAM_CHECK_AHEAD_BYTES / 2)
		if (chunk_check(c, f) < 0)
			return -1;
	position = (off_t)(f->position + f->sent);
	do
		n = sendfile(c->fd, f->fd, &position, f->read - f->sent);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		/* 0: the file is shorter than the checked bytes (cut under us). */
		elog_conn_kill(c, n < 0 ? strerror(errno) : "the log was cut while being sent");
		return -1;
	}
	f->sent += (uint32_t)n;
	c->file_unsent -= (size_t)n;
	elog_conn_progress(c);
	return f->sent == f->read;
}
