/* segindex — sparse segment indexes in their disk layout; see segindex.h. */
#include "segindex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct elog_index_entry) == ELOG_INDEX_ENTRY_SIZE, "idx entry layout");
_Static_assert(sizeof(struct elog_time_entry) == ELOG_TIME_ENTRY_SIZE, "tix entry layout");

void elog_segindex_init(struct elog_segindex *ix, uint32_t entry_size)
{
	memset(ix, 0, sizeof(*ix));
	ix->entry_size = entry_size;
}

void elog_segindex_release(struct elog_segindex *ix)
{
	if (ix->map_len)
		munmap(ix->bytes, ix->map_len);
	else
		free(ix->bytes);
	elog_segindex_init(ix, ix->entry_size);
}

void elog_segindex_pair_init(struct elog_segindex_pair *p)
{
	elog_segindex_init(&p->idx, ELOG_INDEX_ENTRY_SIZE);
	elog_segindex_init(&p->tix, ELOG_TIME_ENTRY_SIZE);
	p->bytes_since_entry = 0;
	p->max_timestamp = INT64_MIN;
}

void elog_segindex_pair_release(struct elog_segindex_pair *p)
{
	elog_segindex_release(&p->idx);
	elog_segindex_release(&p->tix);
	elog_segindex_pair_init(p);
}

/* Make room for one more entry on the heap, doubling up to the entry maximum. */
static int segindex_reserve(struct elog_segindex *ix, struct elog_err *err)
{
	size_t need = (ix->count + 1) * ix->entry_size;
	size_t cap;
	uint8_t *bytes;

	if (ix->map_len && elog_segindex_keep(ix, ix->count, err) < 0)
		return -1;
	if (need <= ix->cap_bytes)
		return 0;
	if (ix->count + 1 > ELOG_SEGINDEX_ENTRIES_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "index: more than %llu entries",
				    (unsigned long long)ELOG_SEGINDEX_ENTRIES_MAX);
	/* At least 64 entries: keep() can leave a capacity below one entry (1 byte for none). */
	cap = ix->cap_bytes * 2;
	if (cap < 64 * (size_t)ix->entry_size)
		cap = 64 * (size_t)ix->entry_size;
	if (cap > ELOG_SEGINDEX_ENTRIES_MAX * ix->entry_size)
		cap = ELOG_SEGINDEX_ENTRIES_MAX * ix->entry_size;
	bytes = realloc(ix->bytes, cap);
	if (!bytes)
		return elog_err_set(err, ELOG_E_NOMEM, "index: out of memory for %zu bytes", cap);
	ix->bytes = bytes;
	ix->cap_bytes = cap;
	return 0;
}

int elog_segindex_push(struct elog_segindex *ix, uint32_t rel_offset, uint32_t position,
		       int64_t timestamp, struct elog_err *err)
{
	uint8_t *p;

	if (segindex_reserve(ix, err) < 0)
		return -1;
	p = ix->bytes + ix->count * ix->entry_size;
	if (ix->entry_size == ELOG_TIME_ENTRY_SIZE) {
		elog_put64(p, (uint64_t)timestamp);
		p += 8;
	}
	elog_put32(p, rel_offset);
	elog_put32(p + 4, position);
	ix->count++;
	return 0;
}

int elog_segindex_keep(struct elog_segindex *ix, size_t count, struct elog_err *err)
{
	size_t len = count * ix->entry_size;
	uint8_t *copy;

	if (count > ix->count)
		return elog_err_set(err, ELOG_E_INVAL, "index: keep %zu of %zu entries", count,
				    ix->count);
	if (!ix->map_len) {
		ix->count = count;
		return 0;
	}
	/* A mapped index is read-only: the entries kept move to the heap. */
	copy = malloc(len ? len : 1);
	if (!copy)
		return elog_err_set(err, ELOG_E_NOMEM, "index: out of memory for %zu bytes", len);
	if (len)
		memcpy(copy, ix->bytes, len);
	munmap(ix->bytes, ix->map_len);
	ix->bytes = copy;
	ix->cap_bytes = len ? len : 1;
	ix->map_len = 0;
	ix->count = count;
	return 0;
}

int elog_segindex_note(struct elog_segindex_pair *p, uint32_t interval, int64_t seg_base,
		       const struct elog_batch_header *h, uint64_t position, int *added,
		       struct elog_err *err)
{
	uint64_t rel = (uint64_t)(h->base_offset - seg_base);

	*added = 0;
	if (h->base_offset < seg_base || rel > UINT32_MAX || position > ELOG_SEGMENT_BYTES_MAX)
		return elog_err_set(err, ELOG_E_INVAL,
				    "index: batch at offset %lld byte %llu does not fit segment %lld",
				    (long long)h->base_offset, (unsigned long long)position,
				    (long long)seg_base);
	if (position > 0 && p->bytes_since_entry >= interval) {
		if (elog_segindex_push(&p->idx, (uint32_t)rel, (uint32_t)position, 0, err) < 0)
			return -1;
		if (elog_segindex_push(&p->tix, (uint32_t)rel, (uint32_t)position,
				       p->max_timestamp, err) < 0) {
			p->idx.count--;
			return -1;
		}
		p->bytes_since_entry = 0;
		*added = 1;
	}
	p->bytes_since_entry += elog_batch_total_size(h);
	if (h->max_timestamp > p->max_timestamp)
		p->max_timestamp = h->max_timestamp;
	return 0;
}

size_t elog_segindex_floor_offset(const struct elog_segindex *ix, uint32_t rel)
{
	size_t lo = 0, hi = ix->count; /* answer is the last i < hi with rel_i <= rel */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (elog_segindex_rel(ix, mid) <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : SIZE_MAX;
}

size_t elog_segindex_floor_time(const struct elog_segindex *ix, int64_t ts)
{
	size_t lo = 0, hi = ix->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (elog_segindex_ts(ix, mid) < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : SIZE_MAX;
}

size_t elog_segindex_floor_position(const struct elog_segindex *ix, uint64_t pos)
{
	size_t lo = 0, hi = ix->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (elog_segindex_pos(ix, mid) < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : SIZE_MAX;
}

/* One entry against its predecessor and the log's bounds. */
static int validate_entry(const uint8_t *e, const uint8_t *prev, uint32_t entry_size,
			  int closing, uint64_t log_size, uint64_t rel_end, struct elog_err *err)
{
	uint32_t fields = entry_size - 8;
	uint32_t rel = elog_get32(e + fields), pos = elog_get32(e + fields + 4);

	if (prev && (rel <= elog_get32(prev + fields) || pos <= elog_get32(prev + fields + 4)))
		return elog_err_set(err, ELOG_E_CORRUPT, "entries do not increase");
	if (prev && fields && (int64_t)elog_get64(e) < (int64_t)elog_get64(prev))
		return elog_err_set(err, ELOG_E_CORRUPT, "timestamps decrease");
	if (log_size == UINT64_MAX)
		return 0;
	if (closing && (pos != log_size || rel != rel_end))
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "last entry (%u, byte %u) is not the closing entry (%llu, byte %llu)",
				    rel, pos, (unsigned long long)rel_end,
				    (unsigned long long)log_size);
	if (!closing && (pos >= log_size || rel >= rel_end))
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "entry (%u, byte %u) points past the log (%llu, %llu bytes)",
				    rel, pos, (unsigned long long)rel_end,
				    (unsigned long long)log_size);
	return 0;
}

int elog_segindex_validate(const uint8_t *bytes, size_t len, uint32_t entry_size,
			   uint64_t log_size, uint64_t rel_end, struct elog_err *err)
{
	size_t n = len / entry_size;
	int tix = entry_size == ELOG_TIME_ENTRY_SIZE;

	if (len % entry_size)
		return elog_err_set(err, ELOG_E_CORRUPT, "size %zu is not a multiple of %u", len,
				    entry_size);
	if (n > ELOG_SEGINDEX_ENTRIES_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "%zu entries, more than a segment can have",
				    n);
	if (tix && log_size != UINT64_MAX && n == 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "closing entry missing");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = bytes + i * entry_size;
		int closing = tix && i + 1 == n;
		if (validate_entry(e, i ? e - entry_size : NULL, entry_size, closing, log_size,
				   rel_end, err) < 0)
			return elog_err_prefix(err, "entry %zu at byte %zu", i, i * entry_size);
	}
	return 0;
}

int elog_segindex_read_file(const char *path, uint32_t entry_size, uint8_t **bytes,
			    size_t *len, struct elog_err *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, rc = -1;

	*bytes = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", path);
		goto out;
	}
	if ((uint64_t)st.st_size > (uint64_t)ELOG_SEGINDEX_ENTRIES_MAX * entry_size) {
		elog_err_set(err, ELOG_E_CORRUPT, "%s: %lld bytes, more than a segment can index",
			     path, (long long)st.st_size);
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO, "%s: cannot read", path);
			goto out;
		}
		got += (size_t)n;
	}
	*bytes = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int elog_segindex_map(struct elog_segindex *ix, int fd, size_t len, struct elog_err *err)
{
	void *p = NULL;

	/* Map first: on failure ix is left as it was. */
	if (len) {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return elog_err_errno(err, ELOG_E_IO, errno, "cannot map index");
	}
	elog_segindex_release(ix);
	if (len == 0)
		return 0;
	ix->bytes = p;
	ix->map_len = len;
	ix->count = len / ix->entry_size;
	return 0;
}
