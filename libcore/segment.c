/* segment — segment file names, the batch scanner, index files; see segment.h. */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "crc32c.h"
#include "segindex.h"

/* ---------------------------------------------------------------- names */

void elog_segment_name(char *out, size_t cap, int64_t base_offset, const char *ext)
{
	snprintf(out, cap, "%020" PRId64 ".%s", base_offset, ext);
}

int elog_segment_name_parse(const char *name, int64_t *base_offset, const char **ext)
{
	uint64_t v = 0;
	const char *e = name + ELOG_SEGMENT_NAME_DIGITS + 1;

	for (int i = 0; i < ELOG_SEGMENT_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		/* 20 digits can exceed INT64_MAX: such a name is not ours. */
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(name[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (name[ELOG_SEGMENT_NAME_DIGITS] != '.')
		return -1;
	if (strcmp(e, "log") && strcmp(e, "idx") && strcmp(e, "tix"))
		return -1;
	*base_offset = (int64_t)v;
	*ext = e;
	return 0;
}

/* ---------------------------------------------------------------- scanner */

int elog_segment_scanner_init_fd(struct elog_segment_scanner *s, int fd, uint64_t size,
				 int64_t base_offset, struct elog_err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->file_size = size;
	s->expected_offset = base_offset;
	if (size > ELOG_SEGMENT_BYTES_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "%llu bytes, larger than a segment can be",
				    (unsigned long long)size);
	return 0;
}

int elog_segment_scanner_open(struct elog_segment_scanner *s, const char *path,
			      int64_t base_offset, struct elog_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", path);
		close(fd);
		return -1;
	}
	if (elog_segment_scanner_init_fd(s, fd, (uint64_t)st.st_size, base_offset, err) < 0) {
		close(fd);
		s->fd = -1;
		return elog_err_prefix(err, "%s", path);
	}
	s->own_fd = 1;
	return 0;
}

void elog_segment_scanner_release(struct elog_segment_scanner *s)
{
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/*
 * Make file bytes [pos, pos + need) available in the window. Callers only
 * ask for bytes inside the file, and need is at most one batch.
 */
static int scanner_fill(struct elog_segment_scanner *s, uint64_t pos, size_t need,
			struct elog_err *err)
{
	size_t want, got = 0;

	if (pos >= s->buf_file_pos && pos + need <= s->buf_file_pos + s->buf_len)
		return 0;
	want = need > ELOG_SEGMENT_SCAN_WINDOW ? need : ELOG_SEGMENT_SCAN_WINDOW;
	if (s->buf_cap < want) {
		uint8_t *buf = realloc(s->buf, want);
		if (!buf)
			return elog_err_set(err, ELOG_E_NOMEM, "byte %llu: out of memory for %zu bytes",
					    (unsigned long long)pos, want);
		s->buf = buf;
		s->buf_cap = want;
	}
	want = s->buf_cap;
	if (want > s->file_size - pos)
		want = (size_t)(s->file_size - pos);
	s->buf_file_pos = pos;
	s->buf_len = 0;
	while (got < want) {
		ssize_t n = pread(s->fd, s->buf + got, want - got, (off_t)(pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return elog_err_errno(err, ELOG_E_IO, errno, "byte %llu: cannot read",
					      (unsigned long long)(pos + got));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	s->buf_len = got;
	if (got < need)
		return elog_err_set(err, ELOG_E_IO, "byte %llu: file shrank while being read",
				    (unsigned long long)(pos + got));
	return 0;
}

static int scanner_torn(struct elog_segment_scanner *s, uint64_t need, struct elog_err *err)
{
	s->torn = 1;
	return elog_err_set(err, ELOG_E_CORRUPT,
			    "byte %llu: torn batch: needs %llu bytes, the file ends after %llu",
			    (unsigned long long)s->position, (unsigned long long)need,
			    (unsigned long long)(s->file_size - s->position));
}

/*
 * A batch with a newer magic is only believed when its CRC (which covers the
 * magic) matches; otherwise a flipped bit in the magic byte would look like
 * a newer format and stop recovery instead of being cut as damage.
 */
static void scanner_newer_magic(struct elog_segment_scanner *s, struct elog_err *err)
{
	const uint8_t *p = s->buf + (s->position - s->buf_file_pos);
	uint64_t total = (uint64_t)elog_get32(p + ELOG_BATCH_LENGTH_OFFSET) + ELOG_BATCH_PREFIX_SIZE;
	uint32_t stored = elog_get32(p + ELOG_BATCH_PREFIX_SIZE);

	if (total >= ELOG_BATCH_HEADER_SIZE && total <= ELOG_BATCH_SIZE_MAX &&
	    total <= s->file_size - s->position &&
	    scanner_fill(s, s->position, (size_t)total, NULL) == 0) {
		p = s->buf + (s->position - s->buf_file_pos);
		if (elog_crc32c(0, p + ELOG_BATCH_CRC_START, (size_t)total - ELOG_BATCH_CRC_START) ==
		    stored)
			return;
	}
	/* Unvouched: damage or a foreign file, not a newer format. */
	elog_err_set(err, ELOG_E_CORRUPT, "not a batch: unknown magic %u and no matching crc",
		     (unsigned)p[ELOG_BATCH_CRC_START]);
}

int elog_segment_scanner_next(struct elog_segment_scanner *s, struct elog_batch_header *h,
			      const uint8_t **batch, struct elog_err *err)
{
	uint64_t remaining = s->file_size - s->position;
	unsigned long long at = (unsigned long long)s->position;
	const uint8_t *p;
	uint32_t total;

	s->torn = 0;
	if (remaining == 0)
		return 0;
	if (remaining < ELOG_BATCH_HEADER_SIZE)
		return scanner_torn(s, ELOG_BATCH_HEADER_SIZE, err);
	if (scanner_fill(s, s->position, ELOG_BATCH_HEADER_SIZE, err) < 0)
		return -1;
	p = s->buf + (s->position - s->buf_file_pos);
	if (elog_batch_header_decode_as(p, ELOG_BATCH_HEADER_SIZE, ELOG_BATCH_OFFSETS_GAPS, h, err) < 0) {
		if (err && err->code == ELOG_E_VERSION)
			scanner_newer_magic(s, err);
		return elog_err_prefix(err, "byte %llu", at);
	}
	total = elog_batch_total_size(h);
	/* total is bounded by ELOG_BATCH_SIZE_MAX (header decode) and the file. */
	if (total > remaining)
		return scanner_torn(s, total, err);
	if (scanner_fill(s, s->position, total, err) < 0)
		return -1;
	p = s->buf + (s->position - s->buf_file_pos);
	if (elog_batch_check_as(p, total, ELOG_BATCH_OFFSETS_GAPS, h, err) < 0)
		return elog_err_prefix(err, "byte %llu", at);
	if (h->base_offset < 0 || h->base_offset > INT64_MAX - (int64_t)h->last_offset_delta - 1)
		return elog_err_set(err, ELOG_E_CORRUPT, "byte %llu: batch base offset %" PRId64
				    " is out of range", at, h->base_offset);
	if (s->expected_offset >= 0 && h->base_offset != s->expected_offset)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "byte %llu: batch base offset %" PRId64 ", expected %" PRId64,
				    at, h->base_offset, s->expected_offset);
	*batch = p;
	return 1;
}

void elog_segment_scanner_advance(struct elog_segment_scanner *s, const struct elog_batch_header *h)
{
	s->position += elog_batch_total_size(h);
	s->expected_offset = elog_batch_last_offset(h) + 1;
	s->records += h->record_count;
	s->batches++;
}

/* ---------------------------------------------------------------- index check */

/* Index files of one segment, with a cursor each, as the check walks the log. */
struct index_cursor {
	char path[4096];
	struct elog_segindex ix;
	size_t next;
};

static int cursor_load(struct index_cursor *c, const char *log_path, const char *ext,
		       uint32_t entry_size, int bit, int *missing, struct elog_err *err)
{
	size_t stem = strlen(log_path) - 3;
	uint8_t *bytes;
	size_t len;
	struct stat st;

	elog_segindex_init(&c->ix, entry_size);
	c->next = 0;
	snprintf(c->path, sizeof(c->path), "%.*s%s", (int)stem, log_path, ext);
	if (stat(c->path, &st) < 0 && errno == ENOENT) {
		*missing |= bit;
		return 0;
	}
	if (elog_segindex_read_file(c->path, entry_size, &bytes, &len, err) < 0)
		return -1;
	c->ix.bytes = bytes;
	c->ix.cap_bytes = len;
	c->ix.count = len / entry_size;
	if (elog_segindex_validate(bytes, len, entry_size, UINT64_MAX, 0, err) < 0)
		return elog_err_prefix(err, "%s", c->path);
	return 0;
}

/* Entries of c positioned at or before `position` must point at this batch. */
static int cursor_match(struct index_cursor *c, uint64_t position, int64_t rel,
			int64_t prefix_max, struct elog_err *err)
{
	size_t i = c->next;
	int tix = c->ix.entry_size == ELOG_TIME_ENTRY_SIZE;

	if (i >= c->ix.count || elog_segindex_pos(&c->ix, i) > position)
		return 0;
	if (elog_segindex_pos(&c->ix, i) < position)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: entry %zu at byte %zu: position %u is not a batch start",
				    c->path, i, i * c->ix.entry_size, elog_segindex_pos(&c->ix, i));
	if (elog_segindex_rel(&c->ix, i) != rel)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: entry %zu at byte %zu: relative offset %u, the batch there has %"
				    PRId64, c->path, i, i * c->ix.entry_size,
				    elog_segindex_rel(&c->ix, i), rel);
	if (tix && elog_segindex_ts(&c->ix, i) != prefix_max)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: entry %zu at byte %zu: timestamp %" PRId64
				    ", the batches before it reach %" PRId64, c->path, i,
				    i * c->ix.entry_size, elog_segindex_ts(&c->ix, i), prefix_max);
	c->next++;
	return 0;
}

/* Walk the log, matching index entries as their batches go by. */
static int check_walk(const char *log_path, int64_t base_offset, struct index_cursor *idx,
		      struct index_cursor *tix, struct elog_err *err)
{
	struct elog_segment_scanner s;
	struct elog_batch_header h;
	const uint8_t *batch;
	int64_t prefix_max = INT64_MIN;
	int rc;

	if (elog_segment_scanner_open(&s, log_path, base_offset, err) < 0)
		return -1;
	while ((rc = elog_segment_scanner_next(&s, &h, &batch, err)) == 1) {
		int64_t rel = h.base_offset - base_offset;
		if (cursor_match(idx, s.position, rel, prefix_max, err) < 0 ||
		    cursor_match(tix, s.position, rel, prefix_max, err) < 0)
			break;
		if (h.max_timestamp > prefix_max)
			prefix_max = h.max_timestamp;
		elog_segment_scanner_advance(&s, &h);
	}
	if (rc < 0)
		elog_err_prefix(err, "%s", log_path);
	else if (rc == 1)
		rc = -1; /* an index entry did not match; err names the index file */
	if (rc == 0 && idx->next < idx->ix.count)
		rc = elog_err_set(err, ELOG_E_CORRUPT, "%s: entry %zu at byte %zu: points past the log",
				  idx->path, idx->next, idx->next * ELOG_INDEX_ENTRY_SIZE);
	/* What is left of the .tix may only be the closing entry. */
	if (rc == 0 && tix->next < tix->ix.count) {
		size_t i = tix->next;
		if (i + 1 != tix->ix.count || elog_segindex_pos(&tix->ix, i) != s.position ||
		    elog_segindex_rel(&tix->ix, i) != (uint64_t)(s.expected_offset - base_offset) ||
		    elog_segindex_ts(&tix->ix, i) != prefix_max)
			rc = elog_err_set(err, ELOG_E_CORRUPT,
					  "%s: entry %zu at byte %zu: not a batch start nor the closing entry",
					  tix->path, i, i * ELOG_TIME_ENTRY_SIZE);
	}
	elog_segment_scanner_release(&s);
	return rc;
}

int elog_segment_check_indexes(const char *log_path, int64_t base_offset, int *missing,
			       struct elog_err *err)
{
	struct index_cursor *c;
	size_t len = strlen(log_path);
	int rc = -1;

	*missing = 0;
	if (len < 4 || strcmp(log_path + len - 4, ".log") || len >= sizeof(c->path))
		return elog_err_set(err, ELOG_E_INVAL, "%s: not a segment .log path", log_path);
	c = calloc(2, sizeof(*c));
	if (!c)
		return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", log_path);
	if (cursor_load(&c[0], log_path, "idx", ELOG_INDEX_ENTRY_SIZE, 1, missing, err) < 0 ||
	    cursor_load(&c[1], log_path, "tix", ELOG_TIME_ENTRY_SIZE, 2, missing, err) < 0)
		goto out;
	rc = check_walk(log_path, base_offset, &c[0], &c[1], err);
out:
	elog_segindex_release(&c[0].ix);
	elog_segindex_release(&c[1].ix);
	free(c);
	return rc;
}
