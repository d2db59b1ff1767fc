/*
 * partlog_damage — damage in a partition log: finding it (a scan that
 * resynchronises past bad bytes), recording it (a few extents per segment),
 * reporting it (the config's event callback), and the reads' view of it.
 *
 * Damage is never repaired by deleting: bytes that were reported durable,
 * or that valid batches follow, stay on disk as they are. What is recorded
 * is where the next valid batch starts, so that everything after the damage
 * is still served, and which offsets are lost in between, so that a read of
 * them fails with ELOG_E_DAMAGED instead of skipping them. See partlog.h
 * (invariants) and docs/format.md (Recovery).
 *
 * Resynchronising: from the byte after a bad batch, every position is tried
 * (bounded by the file) for a batch whose header decodes, whose offsets lie
 * in [expected, upper) and whose CRC matches; the magic byte and the header
 * rule out almost every position before a CRC is computed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "partlog_int.h"

/* Bytes read at a time while resynchronising. */
#define RESYNC_WINDOW (1u << 20)
/* The magic byte sits where the CRC's coverage starts. */
#define MAGIC_AT ELOG_BATCH_CRC_START

/* ---------------------------------------------------------------- reading */

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t position, struct elog_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(position + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO,
					      "cannot read byte %llu",
					      (unsigned long long)(position + got));
		got += (size_t)n;
	}
	return 0;
}

/*
 * The first position in [from, size) holding a valid batch with offsets in
 * [lo, hi): 1 with *at and *h, 0 when there is none, -1 when reading fails.
 */
static int resync_find(int fd, uint64_t size, uint64_t from, int64_t lo, int64_t hi,
		       uint64_t *at, struct elog_batch_header *h, struct elog_err *err)
{
	uint8_t *win = malloc(RESYNC_WINDOW), *whole = NULL;
	uint64_t wpos = from;
	int rc = 0;

	if (!win)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory to resynchronise");
	/* Each window moves on by at least one byte; the file bounds the loop. */
	while (rc == 0 && wpos + ELOG_BATCH_HEADER_SIZE <= size) {
		size_t len = size - wpos < RESYNC_WINDOW ? (size_t)(size - wpos) : RESYNC_WINDOW;
		size_t last = len - ELOG_BATCH_HEADER_SIZE;
		if (pread_full(fd, win, len, wpos, err) < 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i <= last && rc == 0; i++) {
			const uint8_t *p = win + i, *b = p;
			struct elog_batch_header hh;
			uint32_t total;
			if (p[MAGIC_AT] != ELOG_BATCH_MAGIC ||
			    elog_batch_header_decode_as(p, ELOG_BATCH_HEADER_SIZE,
							ELOG_BATCH_OFFSETS_GAPS, &hh, NULL) < 0)
				continue;
			total = elog_batch_total_size(&hh);
			if (hh.base_offset < lo || elog_batch_last_offset(&hh) >= hi ||
			    total > size - (wpos + i))
				continue;
			if (i + total > len) {
				free(whole);
				whole = malloc(total);
				if (!whole) {
					rc = elog_err_set(err, ELOG_E_NOMEM,
							  "out of memory for a %u-byte batch", total);
					break;
				}
				if (pread_full(fd, whole, total, wpos + i, err) < 0) {
					rc = -1;
					break;
				}
				b = whole;
			}
			if (elog_batch_check_as(b, total, ELOG_BATCH_OFFSETS_GAPS, &hh, NULL) < 0)
				continue;
			*at = wpos + i;
			*h = hh;
			rc = 1;
		}
		if (wpos + len >= size)
			break;
		wpos += last + 1;
	}
	free(win);
	free(whole);
	return rc;
}

int elog_partlog_probe_valid(int fd, uint64_t size, int64_t lo, int64_t hi,
			     struct elog_err *err)
{
	struct elog_batch_header h;
	uint64_t at;

	return resync_find(fd, size, 0, lo, hi, &at, &h, err);
}

/* Records in the batches from `position` on whose headers still decode. */
uint64_t elog_partlog_tail_records(int fd, uint64_t position, uint64_t size)
{
	uint8_t head[ELOG_BATCH_HEADER_SIZE];
	struct elog_batch_header h;
	uint64_t records = 0;

	/* Each step moves at least one header forward, so this ends. */
	while (position + ELOG_BATCH_HEADER_SIZE <= size) {
		if (pread(fd, head, sizeof(head), (off_t)position) != (ssize_t)sizeof(head) ||
		    elog_batch_header_decode_as(head, sizeof(head), ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0)
			break;
		records += h.record_count;
		position += elog_batch_total_size(&h);
	}
	return records;
}

/* ---------------------------------------------------------------- extent lists */

const char *elog_partlog_why_text(const char *msg)
{
	const char *p = msg;

	if (strncmp(p, "byte ", 5) != 0)
		return msg;
	for (p += 5; *p >= '0' && *p <= '9'; p++)
		;
	return strncmp(p, ": ", 2) == 0 ? p + 2 : msg;
}

/* An extent's why from a scanner message: it says where already. */
static void why_copy(char *out, const char *msg)
{
	snprintf(out, ELOG_PARTLOG_WHY_MAX, "%s", elog_partlog_why_text(msg));
}

/* Merge extents that overlap or touch, in a list sorted by position. */
static uint32_t extents_coalesce(struct elog_partlog_damage *x, uint32_t n)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct elog_partlog_damage *last = out ? &x[out - 1] : NULL;
		if (last && x[i].position <= last->end_position) {
			if (x[i].end_position > last->end_position)
				last->end_position = x[i].end_position;
			if (x[i].offset < last->offset)
				last->offset = x[i].offset;
			if (x[i].end_offset > last->end_offset)
				last->end_offset = x[i].end_offset;
			continue;
		}
		x[out++] = x[i];
	}
	return out;
}

/*
 * Insert d into x (n entries, room for cap), sorted by position; past cap
 * the new extent and every one after it become one. Returns the new count.
 */
static uint32_t extents_insert(struct elog_partlog_damage *x, uint32_t n, uint32_t cap,
			       const struct elog_partlog_damage *d)
{
	uint32_t i = 0;

	while (i < n && x[i].position <= d->position)
		i++;
	if (n == cap) {
		/* Full: d and everything from its place on merge into one (more is unreadable). */
		struct elog_partlog_damage m = *d;
		uint32_t from = i > 0 && i == n ? i - 1 : i;
		for (uint32_t k = from; k < n; k++) {
			if (x[k].position < m.position)
				m.position = x[k].position;
			if (x[k].end_position > m.end_position)
				m.end_position = x[k].end_position;
			if (x[k].offset < m.offset)
				m.offset = x[k].offset;
			if (x[k].end_offset > m.end_offset)
				m.end_offset = x[k].end_offset;
		}
		snprintf(m.why, sizeof(m.why), "%.100s (and more damage merged into this range)",
			 d->why);
		x[from] = m;
		return extents_coalesce(x, from + 1);
	}
	memmove(&x[i + 1], &x[i], (n - i) * sizeof(*x));
	x[i] = *d;
	return extents_coalesce(x, n + 1);
}

static void event_damage(struct elog_partlog *log, const struct elog_partlog_damage *d)
{
	struct elog_partlog_event e = {ELOG_PARTLOG_EVENT_DAMAGE, log->dir, d, NULL, NULL};

	if (log->config.event)
		log->config.event(log->config.event_ctx, &e);
}

void elog_partlog_event_index(struct elog_partlog *log, int64_t base, const char *ext,
			      const char *why)
{
	char name[32];
	struct elog_partlog_event e = {ELOG_PARTLOG_EVENT_INDEX_REBUILT, log->dir, NULL, name, why};

	elog_segment_name(name, sizeof(name), base, ext);
	if (log->config.event)
		log->config.event(log->config.event_ctx, &e);
}

static int extents_alloc(struct elog_partlog_segment *s, struct elog_err *err)
{
	if (s->damage)
		return 0;
	s->damage = calloc(ELOG_PARTLOG_DAMAGE_MAX, sizeof(*s->damage));
	if (!s->damage)
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for damage records");
	return 0;
}

int elog_partlog_extent_add(struct elog_partlog *log, struct elog_partlog_segment *s,
			    const struct elog_partlog_damage *d, struct elog_err *err)
{
	uint32_t before;

	if (extents_alloc(s, err) < 0)
		return -1;
	before = s->damage_count;
	s->damage_count = extents_insert(s->damage, s->damage_count, ELOG_PARTLOG_DAMAGE_MAX, d);
	log->damage_total = log->damage_total - before + s->damage_count;
	event_damage(log, d);
	return 0;
}

void elog_partlog_extents_release(struct elog_partlog *log, struct elog_partlog_segment *s)
{
	log->damage_total -= s->damage_count;
	free(s->damage);
	s->damage = NULL;
	s->damage_count = 0;
}

void elog_partlog_extents_cut(struct elog_partlog *log, struct elog_partlog_segment *s,
			      uint64_t position)
{
	uint32_t keep = 0;

	while (keep < s->damage_count && s->damage[keep].position < position)
		keep++;
	log->damage_total -= s->damage_count - keep;
	s->damage_count = keep;
}

/* ---------------------------------------------------------------- lookups */

const struct elog_partlog_damage *elog_partlog_extent_at(const struct elog_partlog_segment *s,
							int64_t offset)
{
	for (uint32_t i = 0; i < s->damage_count; i++)
		if (offset >= s->damage[i].offset && offset < s->damage[i].end_offset)
			return &s->damage[i];
	return NULL;
}

int elog_partlog_extent_skip(const struct elog_partlog_segment *s, uint64_t *position,
			     int64_t *offset)
{
	for (uint32_t i = 0; i < s->damage_count; i++)
		if (s->damage[i].position == *position && s->damage[i].offset == *offset) {
			*position = s->damage[i].end_position;
			*offset = s->damage[i].end_offset;
			return 1;
		}
	return 0;
}

int elog_partlog_extent_covers(const struct elog_partlog_segment *s, uint64_t position)
{
	for (uint32_t i = 0; i < s->damage_count; i++)
		if (position >= s->damage[i].position && position < s->damage[i].end_position)
			return 1;
	return 0;
}

const struct elog_partlog_damage *elog_partlog_extent_from(const struct elog_partlog_segment *s,
							  uint64_t position)
{
	for (uint32_t i = 0; i < s->damage_count; i++)
		if (s->damage[i].position >= position)
			return &s->damage[i];
	return NULL;
}

int elog_partlog_damage_error(const struct elog_partlog *log, const struct elog_partlog_damage *d,
			      struct elog_err *err)
{
	char name[32];

	elog_segment_name(name, sizeof(name), d->segment_base, "log");
	return elog_err_set(err, ELOG_E_DAMAGED,
			    "%s: offsets %" PRId64 "-%" PRId64 " are damaged (%s byte %llu: %s)",
			    log->dir, d->offset, d->end_offset - 1, name,
			    (unsigned long long)d->position, d->why);
}

uint32_t elog_partlog_damage_list(const struct elog_partlog *log,
				  struct elog_partlog_damage *out, uint32_t cap)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < log->segment_count; i++)
		for (uint32_t k = 0; k < log->segments[i].damage_count; k++) {
			/* Below the log start: purged, no reader can reach it. */
			if (log->segments[i].damage[k].end_offset <= log->start_offset)
				continue;
			if (n < cap)
				out[n] = log->segments[i].damage[k];
			n++;
		}
	return n;
}

int64_t elog_partlog_damage_end(const struct elog_partlog *log, int64_t offset)
{
	const struct elog_partlog_damage *d;

	if (log->damage_total == 0 || offset < elog_partlog_start_offset(log) ||
	    offset >= log->next_offset)
		return -1;
	d = elog_partlog_extent_at(&log->segments[elog_partlog_segment_find(log, offset)], offset);
	return d ? d->end_offset : -1;
}

/* ---------------------------------------------------------------- scan */

/* A good batch: into the index and the totals, and the scanner past it. */
static int scan_good(struct elog_partlog *log, const struct elog_partlog_segment *s,
		     struct elog_segindex_pair *ix, struct elog_segment_scanner *sc,
		     const struct elog_batch_header *h, struct elog_partlog_scan *out,
		     struct elog_err *err)
{
	int added;

	if (elog_segindex_note(ix, log->config.index_interval_bytes, s->base_offset, h, sc->position,
			       &added, err) < 0)
		return -1;
	out->batches++;
	out->last_term = h->leader_term;
	if (h->max_timestamp > out->max_timestamp)
		out->max_timestamp = h->max_timestamp;
	elog_segment_scanner_advance(sc, h);
	return 0;
}

int elog_partlog_scan(struct elog_partlog *log, const struct elog_partlog_segment *s,
		      uint64_t size, int64_t upper, struct elog_segindex_pair *ix,
		      struct elog_partlog_damage *extents, uint32_t *extent_count, uint32_t cap,
		      struct elog_partlog_scan *out, struct elog_err *err)
{
	struct elog_segment_scanner sc;
	struct elog_batch_header h;
	struct elog_err why;
	const uint8_t *batch;
	int rc;

	memset(out, 0, sizeof(*out));
	out->max_timestamp = INT64_MIN;
	*extent_count = 0;
	if (elog_partlog_segment_open(log, &log->segments[s - log->segments], err) < 0 ||
	    elog_segment_scanner_init_fd(&sc, s->fd, size, s->base_offset, err) < 0)
		return -1;
	/* Every pass moves position forward (a batch, or past bad bytes), or ends. */
	for (;;) {
		struct elog_partlog_damage d;
		uint64_t next_at;
		struct elog_batch_header next;
		int found;

		elog_err_clear(&why);
		rc = elog_segment_scanner_next(&sc, &h, &batch, &why);
		if (rc == 1 && elog_batch_last_offset(&h) >= upper)
			rc = elog_err_set(&why, ELOG_E_CORRUPT,
					  "batch of offsets %" PRId64 "-%" PRId64
					  " reaches the segment's end offset %" PRId64,
					  h.base_offset, elog_batch_last_offset(&h), upper);
		if (rc == 1) {
			if (scan_good(log, s, ix, &sc, &h, out, err) < 0)
				goto fail;
			continue;
		}
		if (rc == 0)
			break;
		if (why.code != ELOG_E_CORRUPT) {
			/* Not the bytes' fault (I/O, memory), or a newer format: never damage. */
			*err = why;
			goto fail;
		}
		found = resync_find(s->fd, size, sc.position + 1, sc.expected_offset, upper, &next_at,
				    &next, err);
		if (found < 0)
			goto fail;
		if (!found) {
			out->bad_tail = 1;
			out->why = why;
			out->tail_records = elog_partlog_tail_records(s->fd, sc.position, size);
			break;
		}
		memset(&d, 0, sizeof(d));
		d.segment_base = s->base_offset;
		d.position = sc.position;
		d.end_position = next_at;
		d.offset = sc.expected_offset;
		d.end_offset = next.base_offset;
		why_copy(d.why, why.msg);
		*extent_count = extents_insert(extents, *extent_count, cap, &d);
		sc.position = next_at;
		sc.expected_offset = next.base_offset;
	}
	out->position = sc.position;
	out->offset = sc.expected_offset;
	elog_segment_scanner_release(&sc);
	return 0;
fail:
	elog_segment_scanner_release(&sc);
	return -1;
}

/* ---------------------------------------------------------------- rescan */

static int index_same(const struct elog_segindex *a, const struct elog_segindex *b)
{
	return a->count == b->count &&
	       (a->count == 0 || !memcmp(a->bytes, b->bytes, a->count * a->entry_size));
}

/* Map one freshly written index file of a closed segment into ix. */
static int index_remap(struct elog_partlog *log, int64_t base, const char *ext,
		       struct elog_segindex *ix, struct elog_err *err)
{
	char name[32];
	size_t len = ix->count * ix->entry_size;
	int fd, rc;

	elog_segment_name(name, sizeof(name), base, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	rc = elog_segindex_map(ix, fd, len, err);
	close(fd);
	return rc < 0 ? elog_err_prefix(err, "%s", name) : 0;
}

/*
 * Put a scan's index in place of segment i's: a closed segment's files are
 * rewritten (synced) and mapped; the active one's live in memory and its
 * files are emptied, to be written whole at roll or close. *changed_idx
 * and *changed_tix say which differed.
 */
static int index_install(struct elog_partlog *log, uint32_t i, struct elog_segindex_pair *fresh,
			 int *changed_idx, int *changed_tix, struct elog_err *err)
{
	struct elog_partlog_segment *s = &log->segments[i];
	int active = i + 1 == log->segment_count;

	*changed_idx = !index_same(&s->ix.idx, &fresh->idx);
	*changed_tix = !index_same(&s->ix.tix, &fresh->tix);
	if (!*changed_idx && !*changed_tix)
		return 0;
	if (active) {
		elog_segindex_pair_release(&s->ix);
		s->ix = *fresh;
		elog_segindex_pair_init(fresh);
		return elog_partlog_open_indexes(log, s->base_offset, O_CREAT | O_TRUNC, err);
	}
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &fresh->idx, 1, err) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &fresh->tix, 1, err) < 0) {
		if (err->code != ELOG_E_NOSPACE)
			return -1;
		/* No room for the files (none is left half written): serve from memory. */
		elog_segindex_pair_release(&s->ix);
		s->ix = *fresh;
		elog_segindex_pair_init(fresh);
		return 0;
	}
	elog_segindex_pair_release(&s->ix);
	s->ix.max_timestamp = fresh->max_timestamp;
	if (index_remap(log, s->base_offset, "idx", &s->ix.idx, err) < 0 ||
	    index_remap(log, s->base_offset, "tix", &s->ix.tix, err) < 0)
		return -1;
	return 0;
}

static int extent_same(const struct elog_partlog_damage *a, const struct elog_partlog_damage *b)
{
	return a->position == b->position && a->end_position == b->end_position &&
	       a->offset == b->offset && a->end_offset == b->end_offset;
}

/* The extents after the last good batch of a whole-segment scan: a bad tail, or missing offsets. */
static void scan_close_extents(const struct elog_partlog_segment *s, uint64_t size, int64_t upper,
			       const struct elog_partlog_scan *sr, struct elog_partlog_damage *x,
			       uint32_t *n)
{
	struct elog_partlog_damage d;

	memset(&d, 0, sizeof(d));
	d.segment_base = s->base_offset;
	d.position = sr->position;
	d.end_position = size;
	d.offset = sr->offset;
	d.end_offset = upper;
	if (sr->bad_tail)
		why_copy(d.why, sr->why.msg);
	else if (sr->offset < upper)
		snprintf(d.why, sizeof(d.why), "the segment ends before offset %" PRId64
			 ", its end is %" PRId64, sr->offset, upper);
	else
		return;
	*n = extents_insert(x, *n, ELOG_PARTLOG_DAMAGE_MAX, &d);
}

int elog_partlog_rescan(struct elog_partlog *log, uint32_t i, int *changed, struct elog_err *err)
{
	struct elog_partlog_segment *s = &log->segments[i];
	int active = i + 1 == log->segment_count;
	int64_t upper = elog_partlog_segment_end(log, i);
	struct elog_partlog_damage fresh[ELOG_PARTLOG_DAMAGE_MAX];
	struct elog_segindex_pair ix;
	struct elog_partlog_scan sr;
	uint32_t n = 0, before;
	int rc = -1, changed_idx = 0, changed_tix = 0, damage_changed = 0;

	*changed = 0;
	elog_segindex_pair_init(&ix);
	if (elog_partlog_scan(log, s, s->size, upper, &ix, fresh, &n, ELOG_PARTLOG_DAMAGE_MAX, &sr,
			      err) < 0)
		goto out;
	scan_close_extents(s, s->size, upper, &sr, fresh, &n);
	if (n && extents_alloc(s, err) < 0)
		goto out;
	/* Report what is new, then take the scan's list as the segment's. */
	for (uint32_t k = 0; k < n; k++) {
		int known = 0;
		for (uint32_t j = 0; j < s->damage_count && !known; j++)
			known = extent_same(&fresh[k], &s->damage[j]);
		if (!known) {
			damage_changed = 1;
			event_damage(log, &fresh[k]);
		}
	}
	damage_changed |= n != s->damage_count;
	before = s->damage_count;
	if (n)
		memcpy(s->damage, fresh, n * sizeof(*fresh));
	s->damage_count = n;
	log->damage_total = log->damage_total - before + n;
	if (!active) {
		if (s->ix.max_timestamp > ix.max_timestamp)
			ix.max_timestamp = s->ix.max_timestamp; /* the damaged batches' too */
		if (elog_segindex_push(&ix.tix, (uint32_t)(upper - s->base_offset), (uint32_t)s->size,
				       ix.max_timestamp, err) < 0)
			goto out;
	}
	if (index_install(log, i, &ix, &changed_idx, &changed_tix, err) < 0)
		goto out;
	if (!damage_changed && changed_idx)
		elog_partlog_event_index(log, s->base_offset, "idx",
					 "its entries did not match the log: rebuilt from it");
	if (!damage_changed && changed_tix)
		elog_partlog_event_index(log, s->base_offset, "tix",
					 "its entries did not match the log: rebuilt from it");
	*changed = damage_changed || changed_idx || changed_tix;
	rc = 0;
out:
	elog_segindex_pair_release(&ix);
	if (rc < 0) {
		char name[32];
		elog_segment_name(name, sizeof(name), s->base_offset, "log");
		elog_err_prefix(err, "%s: %s", log->dir, name);
	}
	return rc;
}

/* ---------------------------------------------------------------- marking */

/* Where the batch holding offset in segment i starts, and its base offset. */
static int batch_position(struct elog_partlog *log, uint32_t i, int64_t offset, uint64_t *at,
			  int64_t *base, struct elog_err *err)
{
	const struct elog_partlog_segment *s = &log->segments[i];
	struct elog_partlog_walker w;
	struct elog_batch_header h;
	uint64_t position = 0;
	int64_t expected = s->base_offset;

	elog_partlog_walker_init(&w, log, s);
	/* Each step moves forward by a batch or an extent. */
	while (position < s->size) {
		if (elog_partlog_extent_skip(s, &position, &expected))
			continue;
		if (elog_partlog_walker_header(&w, position, expected, &h, err) < 0)
			return -1;
		if (elog_batch_last_offset(&h) >= offset) {
			*at = position;
			*base = h.base_offset;
			return 0;
		}
		position += elog_batch_total_size(&h);
		expected = elog_batch_last_offset(&h) + 1;
	}
	return elog_err_set(err, ELOG_E_RANGE, "offset %" PRId64 " is in no batch", offset);
}

int elog_partlog_mark_damaged(struct elog_partlog *log, int64_t offset, const char *why,
			      struct elog_err *err)
{
	struct elog_partlog_segment *s;
	struct elog_partlog_damage d;
	struct elog_batch_header next;
	uint64_t at = 0, next_at = 0;
	int64_t base = 0, end;
	uint32_t i;
	int changed, found;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (offset < elog_partlog_start_offset(log) || offset >= log->next_offset)
		return elog_err_set(err, ELOG_E_RANGE,
				    "offset %" PRId64 " is outside the log [%" PRId64 ", %" PRId64 ")",
				    offset, elog_partlog_start_offset(log), log->next_offset);
	i = elog_partlog_segment_find(log, offset);
	s = &log->segments[i];
	if (elog_partlog_extent_at(s, offset))
		return 0;
	if (elog_partlog_rescan(log, i, &changed, err) < 0)
		return -1;
	if (elog_partlog_extent_at(s, offset))
		return 0;
	/* The disk says the batch is good and the reader says not: believe the reader. */
	end = elog_partlog_segment_end(log, i);
	if (batch_position(log, i, offset, &at, &base, err) < 0)
		return elog_err_prefix(err, "%s", log->dir);
	if (elog_partlog_segment_open(log, s, err) < 0)
		return elog_err_prefix(err, "%s", log->dir);
	found = resync_find(s->fd, s->size, at + 1, offset + 1, end, &next_at, &next, err);
	if (found < 0)
		return elog_err_prefix(err, "%s", log->dir);
	memset(&d, 0, sizeof(d));
	d.segment_base = s->base_offset;
	d.position = at;
	d.end_position = found ? next_at : s->size;
	d.offset = base;
	d.end_offset = found ? next.base_offset : end;
	snprintf(d.why, sizeof(d.why), "%s", why && *why ? why : "a reader found it bad");
	return elog_partlog_extent_add(log, s, &d, err);
}

/* ---------------------------------------------------------------- checked reads */

/* One batch of a slice: whole, CRC good, at the expected offset. */
static int slice_batch_ok(const uint8_t *buf, uint32_t len, int64_t expected,
			  struct elog_batch_header *h, struct elog_err *why)
{
	if (elog_batch_check_as(buf, len, ELOG_BATCH_OFFSETS_GAPS, h, why) < 0)
		return -1;
	if (h->base_offset != expected)
		return elog_err_set(why, ELOG_E_CORRUPT, "batch base offset %" PRId64 ", expected %" PRId64,
				    h->base_offset, expected);
	return 0;
}

int elog_partlog_check_slice(struct elog_partlog *log, const struct elog_partlog_slice *slice,
			     const uint8_t *buf, uint32_t *good_len, struct elog_err *err)
{
	const struct elog_partlog_damage *d;
	struct elog_batch_header h;
	struct elog_err why;
	int64_t expected = slice->base_offset;
	uint32_t at = 0;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	*good_len = slice->len;
	/* Each step consumes one whole batch. */
	while (at < slice->len) {
		if (slice_batch_ok(buf + at, slice->len - at, expected, &h, &why) < 0)
			break;
		expected = elog_batch_last_offset(&h) + 1;
		at += elog_batch_total_size(&h);
	}
	if (at >= slice->len)
		return 0;
	*good_len = at;
	if (elog_partlog_mark_damaged(log, expected, why.msg, err) < 0)
		return -1;
	d = elog_partlog_extent_at(&log->segments[elog_partlog_segment_find(log, expected)],
				   expected);
	if (d)
		return elog_partlog_damage_error(log, d, err);
	return elog_err_set(err, ELOG_E_CORRUPT, "%s: offset %" PRId64 ": %s", log->dir, expected,
			    why.msg);
}
