/* buf — a growable byte buffer with a hard cap; see buf.h. */
#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void elog_buf_init(struct elog_buf *buf, size_t len_max)
{
	assert(buf && len_max > 0);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->len_max = len_max;
}

void elog_buf_reset(struct elog_buf *buf)
{
	assert(buf && buf->len <= buf->len_max);
	buf->len = 0;
}

void elog_buf_release(struct elog_buf *buf)
{
	assert(buf);
	free(buf->data);
	elog_buf_init(buf, buf->len_max);
}

int elog_buf_reserve(struct elog_buf *buf, size_t extra, struct elog_err *err)
{
	size_t need, cap;
	uint8_t *data;

	assert(buf && buf->len <= buf->len_max && buf->len <= buf->cap);
	if (extra > buf->len_max - buf->len)
		return elog_err_set(err, ELOG_E_LIMIT, "buffer would exceed its limit of %zu bytes",
				    buf->len_max);
	need = buf->len + extra;
	if (buf->data && need <= buf->cap)
		return 0;
	/* Double from 64, never past len_max (need <= len_max ends the loop). */
	cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap = cap > buf->len_max / 2 ? buf->len_max : cap * 2;
	if (cap > buf->len_max)
		cap = buf->len_max;
	data = realloc(buf->data, cap);
	if (!data)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a %zu-byte buffer", cap);
	buf->data = data;
	buf->cap = cap;
	return 0;
}

int elog_buf_set_cap(struct elog_buf *buf, size_t cap, struct elog_err *err)
{
	uint8_t *data;

	assert(buf && buf->len <= buf->len_max && buf->len <= buf->cap);
	if (cap < buf->len)
		cap = buf->len;
	if (cap > buf->len_max)
		return elog_err_set(err, ELOG_E_LIMIT, "buffer would exceed its limit of %zu bytes",
				    buf->len_max);
	if (cap == buf->cap && (buf->data || cap == 0))
		return 0;
	if (cap == 0) {
		elog_buf_release(buf);
		return 0;
	}
	data = realloc(buf->data, cap);
	if (!data)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a %zu-byte buffer", cap);
	buf->data = data;
	buf->cap = cap;
	return 0;
}

int elog_buf_add(struct elog_buf *buf, const void *bytes, size_t n, struct elog_err *err)
{
	assert(bytes || n == 0);
	if (elog_buf_reserve(buf, n, err) < 0)
		return -1;
	if (n)
		memcpy(buf->data + buf->len, bytes, n);
	buf->len += n;
	return 0;
}

void elog_buf_consume(struct elog_buf *buf, size_t n)
{
	assert(buf && n <= buf->len);
	if (n < buf->len)
		memmove(buf->data, buf->data + n, buf->len - n);
	buf->len -= n;
}
