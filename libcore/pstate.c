/* pstate — idempotent producer state of one partition; see pstate.h. */
#include "pstate.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"

/* Slice size when walking headers during a rebuild. */
#define REBUILD_SLICE_BYTES (64u << 20)

void elog_pstate_init(struct elog_pstate *ps, uint32_t producers_max)
{
	memset(ps, 0, sizeof(*ps));
	ps->producers_max = producers_max ? producers_max : ELOG_PSTATE_PRODUCERS_DEFAULT;
}

void elog_pstate_release(struct elog_pstate *ps)
{
	free(ps->producers);
	elog_pstate_init(ps, ps->producers_max);
}

int32_t elog_pstate_last_seq(int32_t first, uint32_t count)
{
	int64_t last = (int64_t)first + (int64_t)count - 1;

	assert(first >= 0 && count >= 1);
	return (int32_t)(last % ((int64_t)INT32_MAX + 1));
}

static int32_t next_seq(int32_t last)
{
	return last == INT32_MAX ? 0 : last + 1;
}

/* Index of id, or of where it would go (with *found 0). */
static uint32_t search(const struct elog_pstate *ps, int64_t id, int *found)
{
	uint32_t lo = 0, hi = ps->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (ps->producers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < ps->count && ps->producers[lo].id == id;
	return lo;
}

const struct elog_pstate_producer *elog_pstate_find(const struct elog_pstate *ps,
						     int64_t producer_id)
{
	int found;
	uint32_t i = search(ps, producer_id, &found);

	return found ? &ps->producers[i] : NULL;
}

enum elog_pstate_verdict elog_pstate_check(const struct elog_pstate *ps, int64_t producer_id,
					   int16_t epoch, int32_t first_seq, uint32_t count,
					   int64_t *base_offset)
{
	const struct elog_pstate_producer *p;
	int32_t last;

	if (producer_id < 0)
		return ELOG_PSTATE_APPEND;
	if (first_seq < 0 || epoch < 0 || count == 0)
		return ELOG_PSTATE_INVALID;
	p = elog_pstate_find(ps, producer_id);
	if (!p)
		return first_seq == 0 ? ELOG_PSTATE_APPEND : ELOG_PSTATE_UNKNOWN;
	if (epoch < p->epoch)
		return ELOG_PSTATE_FENCED;
	if (epoch > p->epoch)
		return first_seq == 0 ? ELOG_PSTATE_APPEND : ELOG_PSTATE_OUT_OF_ORDER;
	last = elog_pstate_last_seq(first_seq, count);
	for (uint32_t i = 0; i < p->count; i++) {
		const struct elog_pstate_batch *b = &p->batches[i];
		if (b->first_seq == first_seq && b->last_seq == last) {
			if (base_offset)
				*base_offset = b->base_offset;
			return ELOG_PSTATE_DUPLICATE;
		}
	}
	if (p->count > 0 && first_seq == next_seq(p->batches[p->newest].last_seq))
		return ELOG_PSTATE_APPEND;
	return ELOG_PSTATE_OUT_OF_ORDER;
}

/* Drop the producer whose newest batch is the oldest, to make room. */
static void evict_oldest(struct elog_pstate *ps)
{
	uint32_t victim = 0;
	int64_t oldest = INT64_MAX;

	for (uint32_t i = 0; i < ps->count; i++) {
		const struct elog_pstate_producer *p = &ps->producers[i];
		int64_t at = p->count ? p->batches[p->newest].base_offset : -1;
		if (at < oldest) {
			oldest = at;
			victim = i;
		}
	}
	memmove(&ps->producers[victim], &ps->producers[victim + 1],
		(ps->count - victim - 1) * sizeof(*ps->producers));
	ps->count--;
}

static struct elog_pstate_producer *insert(struct elog_pstate *ps, int64_t id,
					   struct elog_err *err)
{
	int found;
	uint32_t i;

	if (ps->count == ps->producers_max)
		evict_oldest(ps);
	if (ps->count == ps->cap) {
		uint32_t cap = ps->cap ? ps->cap * 2 : 8;
		struct elog_pstate_producer *p;
		if (cap > ps->producers_max)
			cap = ps->producers_max;
		p = realloc(ps->producers, cap * sizeof(*p));
		if (!p) {
			elog_err_set(err, ELOG_E_NOMEM, "producer state: out of memory");
			return NULL;
		}
		ps->producers = p;
		ps->cap = cap;
	}
	i = search(ps, id, &found);
	assert(!found);
	memmove(&ps->producers[i + 1], &ps->producers[i], (ps->count - i) * sizeof(*ps->producers));
	ps->count++;
	memset(&ps->producers[i], 0, sizeof(ps->producers[i]));
	ps->producers[i].id = id;
	return &ps->producers[i];
}

int elog_pstate_update(struct elog_pstate *ps, int64_t producer_id, int16_t epoch,
		       int32_t first_seq, uint32_t count, int64_t base_offset, struct elog_err *err)
{
	int found;
	uint32_t i = search(ps, producer_id, &found);
	struct elog_pstate_producer *p = found ? &ps->producers[i] : insert(ps, producer_id, err);

	assert(producer_id >= 0 && count >= 1 && first_seq >= 0);
	if (!p)
		return -1;
	if (p->count == 0 || epoch != p->epoch) {
		p->epoch = epoch;
		p->count = 0;
		p->newest = ELOG_PSTATE_BATCHES - 1;
	}
	p->newest = (uint8_t)((p->newest + 1) % ELOG_PSTATE_BATCHES);
	p->batches[p->newest] = (struct elog_pstate_batch){
		first_seq, elog_pstate_last_seq(first_seq, count), base_offset};
	if (p->count < ELOG_PSTATE_BATCHES)
		p->count++;
	return 0;
}

/* ---------------------------------------------------------------- rebuild */

/* The base offset of the second newest segment (or the newest if alone),
 * from the segment file names (docs/format.md); -1 when there is none. */
static int64_t scan_start(struct elog_partlog *log, struct elog_err *err)
{
	int64_t newest = -1, second = -1;
	DIR *d = opendir(elog_partlog_dir(log));
	struct dirent *e;

	if (!d) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot list", elog_partlog_dir(log));
		return -2;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		long long base;
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".log") != 0)
			continue;
		base = strtoll(e->d_name, &end, 10);
		if (end != e->d_name + 20 || base < 0)
			continue;
		if (base > newest) {
			second = newest;
			newest = base;
		} else if (base > second) {
			second = base;
		}
	}
	closedir(d);
	return second >= 0 ? second : newest;
}

/* Read the headers of the whole batches in one slice: through a buffer of
 * SCAN_BUFFER_BYTES, so that a log of small batches costs one read per
 * buffer, not one per batch (a broker opening thousands of partitions
 * does this for each). A batch larger than the buffer costs a read for
 * its header alone, as before. */
#define SCAN_BUFFER_BYTES 16384

static int scan_slice(struct elog_pstate *ps, const struct elog_partlog_slice *s,
		      uint64_t *batches, struct elog_err *err)
{
	uint64_t pos = s->position, end = s->position + s->len;
	uint8_t buf[SCAN_BUFFER_BYTES];
	uint64_t buf_at = 0, buf_len = 0; /* buf holds bytes [buf_at, buf_at + buf_len) */

	while (pos < end) {
		struct elog_batch_header h;
		if (pos < buf_at || pos + ELOG_BATCH_HEADER_SIZE > buf_at + buf_len) {
			size_t want = end - pos < sizeof(buf) ? (size_t)(end - pos) : sizeof(buf);
			ssize_t n = pread(s->fd, buf, want, (off_t)pos);
			/* Short of a header (the slice ends in one, or the file shrank): EIO. */
			if (n < (ssize_t)ELOG_BATCH_HEADER_SIZE)
				return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
						      "producer state: cannot read a batch header at byte %" PRIu64,
						      pos);
			buf_at = pos;
			buf_len = (uint64_t)n;
		}
		if (elog_batch_header_decode_as(buf + (pos - buf_at), ELOG_BATCH_HEADER_SIZE,
						ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0)
			return elog_err_prefix(err, "producer state: byte %" PRIu64, pos);
		if (h.producer_id >= 0 && h.base_sequence >= 0 && h.producer_epoch >= 0 &&
		    elog_pstate_update(ps, h.producer_id, h.producer_epoch, h.base_sequence,
				       h.last_offset_delta + 1u, h.base_offset, err) < 0)
			return -1;
		(*batches)++;
		pos += elog_batch_total_size(&h);
	}
	return 0;
}

int elog_pstate_rebuild(struct elog_pstate *ps, struct elog_partlog *log,
			uint64_t *batches_read, struct elog_err *err)
{
	int64_t offset = scan_start(log, err), end = elog_partlog_next_offset(log);
	uint64_t batches = 0;

	if (offset < -1)
		return -1;
	elog_pstate_release(ps);
	if (offset < elog_partlog_start_offset(log))
		offset = elog_partlog_start_offset(log);
	/* Bounded: every pass moves offset past at least one batch. */
	while (offset < end) {
		struct elog_partlog_slice s;
		if (elog_partlog_locate(log, offset, REBUILD_SLICE_BYTES, &s, err) < 0) {
			/* Damaged batches tell nothing: go on after them (docs/format.md). */
			int64_t past = err->code == ELOG_E_DAMAGED ? elog_partlog_damage_end(log, offset) : -1;
			if (past <= offset)
				return -1;
			offset = past;
			continue;
		}
		if (s.len == 0 || s.next_offset <= offset)
			break;
		if (scan_slice(ps, &s, &batches, err) < 0)
			return -1;
		offset = s.next_offset;
	}
	if (batches_read)
		*batches_read = batches;
	return 0;
}
