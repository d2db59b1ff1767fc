/*
 * buf — a growable byte buffer with a hard cap.
 *
 * Every buffer elog grows (JSON output, request and response frames,
 * connection buffers) is one of these, so that every growth is bounded: an
 * append that would take len past len_max fails with ELOG_E_LIMIT and leaves
 * the buffer exactly as it was (all or nothing). Memory is allocated on
 * first use and doubles from 64 bytes, never past len_max.
 *
 * Meanings as in git: _init sets up an empty buffer (no allocation);
 * _reset forgets the contents, keeps the memory; _release frees the memory
 * and leaves an empty buffer that can be used again with the same cap.
 * data is not NUL-terminated.
 */
#ifndef ELOG_BUF_H
#define ELOG_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct elog_buf {
	uint8_t *data;
	size_t len;
	size_t cap;      /* bytes allocated */
	size_t len_max;  /* len never exceeds this */
};

void elog_buf_init(struct elog_buf *buf, size_t len_max);
void elog_buf_reset(struct elog_buf *buf);
void elog_buf_release(struct elog_buf *buf);

/* Make room for `extra` more bytes past len (len is unchanged). */
int elog_buf_reserve(struct elog_buf *buf, size_t extra, struct elog_err *err);
/*
 * Allocate exactly max(cap, len) bytes (never past len_max: ELOG_E_LIMIT),
 * growing or shrinking; 0 with len 0 frees the memory. For owners that
 * account for every allocated byte (the broker's memory budget) and so
 * cannot let doubling allocate ahead of what arrives.
 */
int elog_buf_set_cap(struct elog_buf *buf, size_t cap, struct elog_err *err);
int elog_buf_add(struct elog_buf *buf, const void *bytes, size_t n, struct elog_err *err);

/* Drop the first n bytes (n <= len), moving the rest to the front. */
void elog_buf_consume(struct elog_buf *buf, size_t n);

#endif
