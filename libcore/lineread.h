/*
 * lineread — a bounded line reader over a file descriptor, for the tools
 * that take one record per input line (elog-produce).
 *
 * The reader owns one buffer of block_bytes + line_max + 1 bytes, allocated
 * at _init and never grown. It fills the buffer with large read(2)s and
 * hands out lines as spans into it, found with memchr, so a line costs no
 * allocation, no copy and no system call of its own. A span is valid until
 * the next call of elog_lineread_next or _release.
 *
 * Lines end at '\n'; the '\n' is not part of the span. The last line of the
 * input is returned even without a final '\n' (line.newline tells which), and
 * an empty input returns no line. Every other byte, '\r' and NUL included,
 * is line content: the caller decides what a line means.
 *
 * A line longer than line_max bytes (not counting its '\n') is never held
 * whole: it comes back in pieces of at most line_max bytes, each flagged
 * too_long, all with the same line number, the last one flagged last_piece.
 * So memory stays bounded, and a caller that rejects the line can still copy
 * it somewhere exactly as it was read. The next line after it is returned
 * normally.
 *
 * Line numbers start at 1 and count every line, the too-long ones included.
 *
 * Calling sequence:
 *   elog_lineread_init(&r, fd, line_max, block_bytes, &err)
 *   while ((rc = elog_lineread_next(&r, &line, &err)) == 1) ...
 *   rc == 0 at the end of input, -1 on a read error (ELOG_E_IO; the reader
 *   is then finished, and further calls return -1 again)
 *   elog_lineread_release(&r)      (does not close fd)
 *
 * A caller that must not block in read(2) (elog-produce has timers to run
 * while a slow pipe is idle) uses the two halves of _next instead:
 *   rc = elog_lineread_try_next(&r, &line, &err)   never reads;
 *   rc == ELOG_LINEREAD_AGAIN: poll(2) r.fd for POLLIN, then
 *   elog_lineread_fill(&r, &err)                   exactly one read(2)
 */
#ifndef ELOG_LINEREAD_H
#define ELOG_LINEREAD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* What the tools read per read(2) unless told otherwise. */
#define ELOG_LINEREAD_BLOCK_DEFAULT (1u << 20)
/* Hard ceiling for line_max and block_bytes, so the buffer size cannot overflow. */
#define ELOG_LINEREAD_LIMIT (1u << 30)

struct elog_line {
	const char *ptr;     /* the line's bytes, without '\n'; a piece when too_long */
	size_t len;
	uint64_t number;     /* 1-based */
	int newline;         /* the line (or the last piece) ended with '\n' */
	int too_long;        /* the line is longer than line_max: this is a piece */
	int last_piece;      /* with too_long: the line ends with this piece */
};

struct elog_lineread {
	int fd;
	size_t line_max;
	size_t block_bytes;
	char *buf;
	size_t cap;          /* block_bytes + line_max + 1 */
	size_t start, end;   /* unread bytes: buf[start, end) */
	uint64_t lines;      /* lines started so far */
	uint64_t bytes_read; /* total bytes read from fd */
	int in_long_line;    /* inside a too-long line: the next piece continues it */
	int eof;             /* read(2) returned 0 */
	int failed;          /* a read failed: every further call fails */
};

/*
 * 1 <= line_max, block_bytes <= ELOG_LINEREAD_LIMIT (block_bytes 0 means
 * ELOG_LINEREAD_BLOCK_DEFAULT). -1 with ELOG_E_NOMEM if the buffer cannot
 * be allocated.
 */
int elog_lineread_init(struct elog_lineread *r, int fd, size_t line_max, size_t block_bytes,
		       struct elog_err *err);
void elog_lineread_release(struct elog_lineread *r);

/* 1 and the next line (or piece), 0 at the end of input, -1 on a read error. */
int elog_lineread_next(struct elog_lineread *r, struct elog_line *line, struct elog_err *err);

/* elog_lineread_try_next: no whole line (or piece) is buffered yet. */
#define ELOG_LINEREAD_AGAIN 2

/* As _next, but return ELOG_LINEREAD_AGAIN instead of reading. */
int elog_lineread_try_next(struct elog_lineread *r, struct elog_line *line,
			   struct elog_err *err);
/* One read(2) into the buffer (which then has room for it); -1 on a read
 * error. Reading 0 bytes marks the end of input. */
int elog_lineread_fill(struct elog_lineread *r, struct elog_err *err);

#endif
