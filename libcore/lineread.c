/* lineread — a bounded line reader over a file descriptor; see lineread.h. */
#include "lineread.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int elog_lineread_init(struct elog_lineread *r, int fd, size_t line_max, size_t block_bytes,
		       struct elog_err *err)
{
	assert(r && fd >= 0);
	assert(line_max >= 1 && line_max <= ELOG_LINEREAD_LIMIT);
	assert(block_bytes <= ELOG_LINEREAD_LIMIT);
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->line_max = line_max;
	r->block_bytes = block_bytes ? block_bytes : ELOG_LINEREAD_BLOCK_DEFAULT;
	/* After moving a partial line (<= line_max bytes) to the front, a whole
	 * block still fits behind it. */
	r->cap = r->block_bytes + line_max + 1;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return elog_err_set(err, ELOG_E_NOMEM, "cannot allocate a %zu-byte line buffer",
				    r->cap);
	return 0;
}

void elog_lineread_release(struct elog_lineread *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

/* Move the unread bytes to the front and read once more. */
int elog_lineread_fill(struct elog_lineread *r, struct elog_err *err)
{
	size_t unread = r->end - r->start;
	ssize_t n;

	if (r->failed)
		return elog_err_set(err, ELOG_E_IO, "cannot read: an earlier read failed");
	if (r->eof)
		return 0;
	assert(unread <= r->line_max);
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, unread);
		r->start = 0;
		r->end = unread;
	}
	assert(r->cap - r->end >= r->block_bytes);
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->failed = 1;
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot read");
	}
	if (n == 0)
		r->eof = 1;
	r->end += (size_t)n;
	r->bytes_read += (uint64_t)n;
	return 0;
}

/* Hand out buf[start, start + len) as the next line or piece and step past it
 * (and past its '\n' when newline). */
static int emit(struct elog_lineread *r, struct elog_line *line, size_t len, int newline,
		int piece_continues)
{
	if (!r->in_long_line)
		r->lines++;
	line->ptr = r->buf + r->start;
	line->len = len;
	line->number = r->lines;
	line->newline = newline;
	line->too_long = r->in_long_line || piece_continues;
	line->last_piece = line->too_long && !piece_continues;
	r->in_long_line = piece_continues;
	r->start += len + (newline ? 1 : 0);
	assert(r->start <= r->end);
	assert(len <= r->line_max);
	return 1;
}

int elog_lineread_try_next(struct elog_lineread *r, struct elog_line *line,
			   struct elog_err *err)
{
	size_t unread = r->end - r->start;
	size_t window = unread < r->line_max + 1 ? unread : r->line_max + 1;
	const char *nl;

	assert(r->buf && line);
	if (r->failed)
		return elog_err_set(err, ELOG_E_IO, "cannot read: an earlier read failed");
	nl = memchr(r->buf + r->start, '\n', window);
	if (nl)
		return emit(r, line, (size_t)(nl - (r->buf + r->start)), 1, 0);
	if (unread > r->line_max)
		return emit(r, line, r->line_max, 0, 1);
	if (!r->eof)
		return ELOG_LINEREAD_AGAIN;
	/* A piece is cut only when a byte other than '\n' follows it, so a
	 * too-long line never ends with an empty piece. */
	if (unread == 0) {
		assert(!r->in_long_line);
		return 0;
	}
	return emit(r, line, unread, 0, 0); /* the last line, without '\n' */
}

int elog_lineread_next(struct elog_lineread *r, struct elog_line *line, struct elog_err *err)
{
	int rc;

	/* Each turn either returns or reads: bounded by the input. */
	while ((rc = elog_lineread_try_next(r, line, err)) == ELOG_LINEREAD_AGAIN)
		if (elog_lineread_fill(r, err) < 0)
			return -1;
	return rc;
}
