/*
 * partlog_recover — what elog_partlog_open finds on disk and repairs:
 * log.meta, the segment list, the recovery point, segments below it
 * (checked cheaply, indexes rebuilt when wrong, damage refused) and every
 * segment from the one holding it on, the active one included (validated
 * batch by batch, cut at the first bad byte with every later segment
 * removed, indexes rebuilt, synced).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "partlog_int.h"

/* ---------------------------------------------------------------- log.meta */

/* "elog-partlog <version>\n" and nothing else; returns the version or -1. */
static long meta_parse(const char *buf, size_t len)
{
	static const char magic[] = "elog-partlog ";
	size_t i = sizeof(magic) - 1;
	long v = 0;

	if (len <= i || memcmp(buf, magic, i) != 0)
		return -1;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (v > 99999999)
			return -1;
		v = v * 10 + (buf[i] - '0');
	}
	if (i + 1 != len || buf[i] != '\n' || buf[sizeof(magic) - 1] == '\n')
		return -1;
	return v;
}

/* Whether the directory holds any segment file (a meta-less one is not ours);
 * only .log files when logs_only (index files alone hold no records). */
static int dir_has_segments(struct elog_partlog *log, int logs_only, int *found,
			    struct elog_err *err)
{
	int fd = dup(log->dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	*found = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot list the directory");
	}
	rewinddir(d);
	while (!*found && (e = readdir(d))) {
		int64_t base;
		const char *ext;
		*found = elog_segment_name_parse(e->d_name, &base, &ext) == 0 &&
			 (!logs_only || strcmp(ext, "log") == 0);
	}
	closedir(d);
	return 0;
}

/* Write log.meta through a temporary file and a rename, both made durable
 * (unless config.create_unsynced: the owner syncs the filesystem). */
static int meta_create(struct elog_partlog *log, struct elog_err *err)
{
	char text[ELOG_PARTLOG_META_MAX];
	int n = snprintf(text, sizeof(text), "elog-partlog %d\n", ELOG_PARTLOG_FORMAT_VERSION);

	log->fresh = 1;
	return elog_partlog_replace_file_sync(log, ELOG_PARTLOG_META_NAME, text, (size_t)n,
					      !log->config.create_unsynced, err);
}

int elog_partlog_meta_load(struct elog_partlog *log, int *created, struct elog_err *err)
{
	char buf[ELOG_PARTLOG_META_MAX + 1];
	ssize_t n;
	long version;
	int fd, has_segments;

	*created = 0;
	fd = openat(log->dir_fd, ELOG_PARTLOG_META_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return elog_err_errno(err, ELOG_E_IO, errno, "log.meta: cannot open");
	if (fd < 0) {
		if (dir_has_segments(log, 0, &has_segments, err) < 0)
			return -1;
		if (has_segments)
			return elog_err_set(err, ELOG_E_CORRUPT,
					    "log.meta: missing, but the directory holds segments");
		*created = 1;
		return meta_create(log, err);
	}
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "log.meta: cannot read");
	version = meta_parse(buf, (size_t)n);
	/* A create cut short by a crash (create_unsynced): nothing to lose, made again. */
	if (version < 1 && log->config.create_unsynced) {
		if (dir_has_segments(log, 1, &has_segments, err) < 0)
			return -1;
		if (!has_segments) {
			*created = 1;
			return meta_create(log, err);
		}
	}
	if (version < 1)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "log.meta: not an elog partition log (expected \"elog-partlog %d\")",
				    ELOG_PARTLOG_FORMAT_VERSION);
	if (version > ELOG_PARTLOG_FORMAT_VERSION)
		return elog_err_set(err, ELOG_E_VERSION,
				    "log.meta: written by format version %ld, this build reads %d",
				    version, ELOG_PARTLOG_FORMAT_VERSION);
	return 0;
}

/* ---------------------------------------------------------------- listing */

static int base_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct listing {
	int64_t *bases; /* of .log files, sorted */
	uint32_t count, cap;
};

static int listing_add(struct listing *l, int64_t base, struct elog_err *err)
{
	if (l->count == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		int64_t *b;
		if (l->count >= ELOG_PARTLOG_SEGMENTS_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "more than %u segments",
					    ELOG_PARTLOG_SEGMENTS_MAX);
		if (cap > ELOG_PARTLOG_SEGMENTS_MAX)
			cap = ELOG_PARTLOG_SEGMENTS_MAX;
		b = realloc(l->bases, cap * sizeof(*b));
		if (!b)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory listing segments");
		l->bases = b;
		l->cap = cap;
	}
	l->bases[l->count++] = base;
	return 0;
}

/* "<20 digits>.cleaned": what partlog_compact.c writes before its rename. */
static int compact_temp(const char *name)
{
	return strspn(name, "0123456789") == ELOG_SEGMENT_NAME_DIGITS &&
	       name[ELOG_SEGMENT_NAME_DIGITS] == '.' &&
	       strcmp(name + ELOG_SEGMENT_NAME_DIGITS + 1, ELOG_PARTLOG_COMPACT_TEMP_EXT) == 0;
}

/*
 * Collect the .log files, then remove index files whose .log is gone (a
 * deletion that crashed between unlinks) and a compaction's temp files (a
 * crash before their rename: the .log they were to replace is the old one,
 * whole). Other files are left alone: the directory may hold the store's
 * own state.
 */

static int list_segments(struct elog_partlog *log, struct listing *l, struct elog_err *err)
{
	int fd = dup(log->dir_fd), removed = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot list the directory");
	}
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		rewinddir(d);
		while (rc == 0 && (e = readdir(d))) {
			int64_t base;
			const char *ext;
			if (elog_segment_name_parse(e->d_name, &base, &ext) < 0) {
				/* A compaction's temp file: the .log it was to replace is whole. */
				if (pass == 1 && compact_temp(e->d_name)) {
					if (unlinkat(log->dir_fd, e->d_name, 0) < 0 && errno != ENOENT)
						rc = elog_err_errno(err, ELOG_E_IO, errno,
								    "%s: cannot remove", e->d_name);
					removed++;
				}
				continue;
			}
			if (pass == 0 && !strcmp(ext, "log"))
				rc = listing_add(l, base, err);
			else if (pass == 1 && strcmp(ext, "log") &&
				 (l->count == 0 ||
				  !bsearch(&base, l->bases, l->count, sizeof(*l->bases), base_cmp))) {
				if (unlinkat(log->dir_fd, e->d_name, 0) < 0 && errno != ENOENT)
					rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot remove",
							    e->d_name);
				removed++;
			}
		}
		if (pass == 0 && l->count)
			qsort(l->bases, l->count, sizeof(*l->bases), base_cmp);
	}
	closedir(d);
	if (rc == 0 && removed && fsync(log->dir_fd) < 0)
		rc = elog_err_errno(err, ELOG_E_IO, errno, "cannot sync the directory");
	return rc;
}

/* ---------------------------------------------------------------- index files */

int elog_partlog_write_index_file(struct elog_partlog *log, int64_t base_offset,
				  const char *ext, const struct elog_segindex *ix, int sync,
				  struct elog_err *err)
{
	char name[32];
	int fd;

	elog_segment_name(name, sizeof(name), base_offset, ext);
	fd = openat(log->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, elog_partlog_errno_code(errno), errno, "%s: cannot create",
				      name);
	if (elog_partlog_write_at(fd, ix->bytes, ix->count * ix->entry_size, 0, name, err) < 0 ||
	    (sync && fdatasync(fd) < 0 &&
	     elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name))) {
		close(fd);
		/* No room: no partial index is left to pass for a whole one. */
		if (err->code == ELOG_E_NOSPACE)
			unlinkat(log->dir_fd, name, 0);
		return -1;
	}
	close(fd);
	return 0;
}

/* Whether the index file holds exactly ix's bytes (missing: no). */
static int index_file_matches(struct elog_partlog *log, int64_t base_offset, const char *ext,
			      const struct elog_segindex *ix)
{
	size_t len = ix->count * ix->entry_size, done = 0;
	struct stat st;
	char name[32];
	int fd, same;

	elog_segment_name(name, sizeof(name), base_offset, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	same = fstat(fd, &st) == 0 && (uint64_t)st.st_size == len;
	while (same && done < len) {
		size_t chunk = len - done < ELOG_PARTLOG_WALK_WINDOW ? len - done
								    : ELOG_PARTLOG_WALK_WINDOW;
		ssize_t n = pread(fd, log->scratch, chunk, (off_t)done);
		same = n == (ssize_t)chunk && !memcmp(log->scratch, ix->bytes + done, chunk);
		done += chunk;
	}
	close(fd);
	return same;
}

/*
 * Map a closed segment's index file if it passes the cheap checks; *ok = 0
 * (nothing mapped, *why says what failed) when it is missing or fails them.
 */
static int index_map_checked(struct elog_partlog *log, struct elog_partlog_segment *s,
			     struct elog_segindex *ix, const char *ext, uint64_t rel_end, int *ok,
			     struct elog_err *why, struct elog_err *err)
{
	struct stat st;
	char name[32];
	int fd;

	*ok = 0;
	elog_segment_name(name, sizeof(name), s->base_offset, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return elog_err_set(why, ELOG_E_CORRUPT, "missing"), 0;
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", name);
	}
	if ((uint64_t)st.st_size > (uint64_t)ELOG_SEGINDEX_ENTRIES_MAX * ix->entry_size) {
		close(fd);
		return elog_err_set(why, ELOG_E_CORRUPT, "%lld bytes, more than a segment can index",
				    (long long)st.st_size), 0;
	}
	if (elog_segindex_map(ix, fd, (size_t)st.st_size, err) < 0) {
		close(fd);
		return elog_err_prefix(err, "%s", name);
	}
	close(fd);
	*ok = elog_segindex_validate(ix->bytes, (size_t)st.st_size, ix->entry_size, s->size,
				     rel_end, why) == 0;
	if (!*ok)
		elog_segindex_release(ix);
	return 0;
}

/* ---------------------------------------------------------------- damage */

/* Install a scan's extents in segment s (reported one by one). */
static int extents_install(struct elog_partlog *log, struct elog_partlog_segment *s,
			   const struct elog_partlog_damage *x, uint32_t n,
			   struct elog_partlog_recovery *report, struct elog_err *err)
{
	for (uint32_t k = 0; k < n; k++)
		if (elog_partlog_extent_add(log, s, &x[k], err) < 0)
			return -1;
	report->damaged_extents += n;
	return 0;
}

/* One more extent at the end of a scan's list: bytes [position, end_position), offsets [offset, end_offset). */
static void extent_push(struct elog_partlog_damage *x, uint32_t *n,
			const struct elog_partlog_segment *s, uint64_t position,
			uint64_t end_position, int64_t offset, int64_t end_offset, const char *why)
{
	struct elog_partlog_damage *d;

	if (*n == ELOG_PARTLOG_DAMAGE_MAX) {
		/* Full: the last one grows to take it in (everything between is unreadable). */
		d = &x[*n - 1];
		d->end_position = end_position;
		d->end_offset = end_offset;
		return;
	}
	d = &x[(*n)++];
	memset(d, 0, sizeof(*d));
	d->segment_base = s->base_offset;
	d->position = position;
	d->end_position = end_position;
	d->offset = offset;
	d->end_offset = end_offset;
	snprintf(d->why, sizeof(d->why), "%s", why);
}

/* ---------------------------------------------------------------- closed segments */

/* The first batch must be whole enough to read and start at the name's offset. */
static int closed_check_first(struct elog_partlog_segment *s, const char *name,
			      struct elog_err *why, struct elog_err *err)
{
	uint8_t head[ELOG_BATCH_HEADER_SIZE];
	struct elog_batch_header h;
	ssize_t n;

	if (s->size < ELOG_BATCH_HEADER_SIZE)
		return elog_err_set(why, ELOG_E_CORRUPT,
				    "closed segment of %llu bytes cannot hold its batches",
				    (unsigned long long)s->size);
	do
		n = pread(s->fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(head))
		return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO, "%s: cannot read", name);
	if (elog_batch_header_decode_as(head, sizeof(head), ELOG_BATCH_OFFSETS_GAPS, &h, why) < 0)
		return -1;
	if (h.base_offset != s->base_offset)
		return elog_err_set(why, ELOG_E_CORRUPT,
				    "first batch has offset %" PRId64 ", the segment's name says %" PRId64,
				    h.base_offset, s->base_offset);
	return 0;
}

/* Open segment `base` and push it as the newest so far; *size is its file size. */
static int segment_open_push(struct elog_partlog *log, int64_t base, uint64_t *size,
			     struct elog_err *err)
{
	struct stat st;
	char name[32];
	int fd;

	elog_segment_name(name, sizeof(name), base, "log");
	fd = openat(log->dir_fd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	if (fstat(fd, &st) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", name);
		close(fd);
		return -1;
	}
	if (elog_partlog_segment_push(log, base, fd, err) < 0) {
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	if (*size > ELOG_SEGMENT_BYTES_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: %llu bytes, larger than a segment can be",
				    name, (unsigned long long)*size);
	return 0;
}

/*
 * A closed segment below the recovery point that failed the cheap checks:
 * it was reported durable, so it is scanned whole and whatever is bad in it
 * becomes damage (nothing is cut); its indexes are rebuilt from the scan.
 */
static int closed_scan(struct elog_partlog *log, struct elog_partlog_segment *s,
		       int64_t next_base, struct elog_partlog_recovery *report,
		       struct elog_err *err)
{
	struct elog_partlog_damage x[ELOG_PARTLOG_DAMAGE_MAX];
	struct elog_partlog_scan sr;
	uint32_t n;
	char name[32];

	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	elog_segindex_pair_release(&s->ix);
	if (elog_partlog_scan(log, s, s->size, next_base, &s->ix, x, &n, ELOG_PARTLOG_DAMAGE_MAX,
			      &sr, err) < 0)
		return elog_err_prefix(err, "%s", name);
	if (sr.bad_tail)
		extent_push(x, &n, s, sr.position, s->size, sr.offset, next_base, elog_partlog_why_text(sr.why.msg));
	else if (sr.offset < next_base)
		extent_push(x, &n, s, sr.position, s->size, sr.offset, next_base,
			    "the segment ends before the next one begins");
	if (extents_install(log, s, x, n, report, err) < 0)
		return -1;
	if (elog_segindex_push(&s->ix.tix, (uint32_t)(next_base - s->base_offset),
			       (uint32_t)s->size, s->ix.max_timestamp, err) < 0)
		return -1;
	report->indexes_rebuilt++;
	/* Without room for the files the rebuilt indexes serve from memory. */
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &s->ix.idx, 1, err) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &s->ix.tix, 1, err) < 0)
		return err->code == ELOG_E_NOSPACE ? 0 : -1;
	return 0;
}

/* A segment below the recovery point: cheap checks, a whole scan if they fail. */
static int closed_load(struct elog_partlog *log, int64_t base, int64_t next_base,
		       struct elog_partlog_recovery *report, struct elog_err *err)
{
	struct elog_partlog_segment *s;
	struct elog_err why_first, why_idx, why_tix;
	uint64_t size;
	char name[32];
	int first_ok, idx_ok = 0, tix_ok = 0;

	elog_segment_name(name, sizeof(name), base, "log");
	if (segment_open_push(log, base, &size, err) < 0)
		return -1;
	s = elog_partlog_active(log);
	s->size = size;
	if ((uint64_t)(next_base - base) > UINT32_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: spans more than 2^32 offsets", name);
	elog_err_clear(&why_first);
	if (closed_check_first(s, name, &why_first, err) < 0 && why_first.code == ELOG_OK)
		return -1; /* reading failed: not the bytes' fault */
	first_ok = why_first.code == ELOG_OK;
	if (first_ok &&
	    (index_map_checked(log, s, &s->ix.idx, "idx", (uint64_t)(next_base - base), &idx_ok,
			       &why_idx, err) < 0 ||
	     index_map_checked(log, s, &s->ix.tix, "tix", (uint64_t)(next_base - base), &tix_ok,
			       &why_tix, err) < 0))
		return -1;
	if (first_ok && idx_ok && tix_ok) {
		s->ix.max_timestamp = elog_segindex_ts(&s->ix.tix, s->ix.tix.count - 1);
		return 0;
	}
	if (closed_scan(log, s, next_base, report, err) < 0)
		return -1;
	/* An index that failed its checks is named, unless damage explains it. */
	if (first_ok && !idx_ok && s->damage_count == 0)
		elog_partlog_event_index(log, base, "idx", why_idx.msg);
	if (first_ok && !tix_ok && s->damage_count == 0)
		elog_partlog_event_index(log, base, "tix", why_tix.msg);
	return 0;
}

/* ---------------------------------------------------------------- validated segments */

/* What open knows about the segments it validates. */
struct recovery_ctx {
	const int64_t *later;              /* bases of the segments after the one at hand */
	uint32_t later_count;
	struct elog_partlog_durable durable; /* from recovery.point; base -1 if none */
};

/* Bytes at the start of segment `base` known to have been synced. */
static uint64_t durable_bytes(const struct recovery_ctx *rc, int64_t base)
{
	if (rc->durable.base < 0 || base > rc->durable.base)
		return 0;
	return base < rc->durable.base ? UINT64_MAX : rc->durable.bytes;
}

/* Whether any later segment holds a valid batch: then a bad tail here is damage, not a tear. */
static int later_valid(struct elog_partlog *log, const struct recovery_ctx *rc, int *found,
		       struct elog_err *err)
{
	char name[32];

	*found = 0;
	for (uint32_t j = 0; j < rc->later_count && !*found; j++) {
		struct stat st;
		int fd, r;
		elog_segment_name(name, sizeof(name), rc->later[j], "log");
		fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
		r = fstat(fd, &st) < 0 ? elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", name)
				       : elog_partlog_probe_valid(fd, (uint64_t)st.st_size, rc->later[j],
								  INT64_MAX, err);
		close(fd);
		if (r < 0)
			return -1;
		*found = r;
	}
	return 0;
}

/* Cut a segment at the first bad byte and make the cut durable. */
static int validated_cut(struct elog_partlog_segment *s, uint64_t good, uint64_t size,
			 uint64_t records, const char *name, const struct elog_err *why,
			 struct elog_partlog_recovery *report, struct elog_err *err)
{
	struct elog_err reason = *why;

	report->truncated_bytes += size - good;
	report->truncated_records += records;
	elog_err_prefix(&reason, "%s", name);
	memcpy(report->first_bad, reason.msg, sizeof(report->first_bad));
	/* The directory does not change; fsync makes the inode's new size durable. */
	if (ftruncate(s->fd, (off_t)good) < 0 || fsync(s->fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot truncate to %llu bytes",
				      name, (unsigned long long)good);
	s->size = good;
	return 0;
}

/* A validated segment's end, as validated_tail judges it. */
struct seg_tail {
	struct elog_partlog_segment *s;
	char name[32];              /* of its .log */
	uint64_t size;              /* of the file as found */
	int64_t next_base;          /* the next segment's base; -1 for the newest */
	uint64_t durable;           /* bytes at its start known synced */
	int64_t durable_next;       /* offsets below this were synced; -1: unknown */
	struct elog_partlog_damage *x; /* the scan's extents, to add to */
	uint32_t *n;
	int cut, ends;              /* out: cut at a tear; the log ends here */
	int64_t end_offset;         /* out: where this segment's offsets end */
};

/* A bad tail that starts below the durable end: damage up to it, a tear past it. */
static int tail_durable(struct seg_tail *t, const struct elog_partlog_scan *sr,
			struct elog_partlog_recovery *report, struct elog_err *err)
{
	uint64_t keep = t->next_base >= 0 || t->size < t->durable ? t->size : t->durable;
	int64_t to = t->next_base >= 0 ? t->next_base : t->durable_next;
	struct elog_err why;

	if (to < sr->offset)
		to = sr->offset;
	extent_push(t->x, t->n, t->s, sr->position, keep, sr->offset, to,
		    elog_partlog_why_text(sr->why.msg));
	t->end_offset = to;
	t->s->size = t->size;
	if (keep == t->size)
		return 0;
	elog_err_set(&why, ELOG_E_CORRUPT, "byte %llu: no batch past the durable end",
		     (unsigned long long)keep);
	t->cut = 1;
	return validated_cut(t->s, keep, t->size, elog_partlog_tail_records(t->s->fd, keep, t->size),
			     t->name, &why, report, err);
}

/* A bad tail past the durable end: damage if a later segment holds a valid batch, else a tear. */
static int tail_bad(struct elog_partlog *log, const struct recovery_ctx *rc, struct seg_tail *t,
		    const struct elog_partlog_scan *sr, struct elog_partlog_recovery *report,
		    struct elog_err *err)
{
	int found = 0;

	if (t->next_base >= 0 && later_valid(log, rc, &found, err) < 0)
		return -1;
	if (found) {
		extent_push(t->x, t->n, t->s, sr->position, t->size, sr->offset, t->next_base,
			    elog_partlog_why_text(sr->why.msg));
		t->end_offset = t->next_base;
		t->s->size = t->size;
		return 0;
	}
	t->cut = 1;
	return validated_cut(t->s, sr->position, t->size, sr->tail_records, t->name, &sr->why,
			     report, err);
}

/* All good but short of the next segment: synced bytes lost (damage), or a tail never written. */
static int tail_short(struct elog_partlog *log, const struct recovery_ctx *rc, struct seg_tail *t,
		      const struct elog_partlog_scan *sr, struct elog_partlog_recovery *report,
		      struct elog_err *err)
{
	int found = t->size < t->durable;

	if (!found && later_valid(log, rc, &found, err) < 0)
		return -1;
	if (!found) {
		snprintf(report->first_bad, sizeof(report->first_bad),
			 "%s: ends before offset %" PRId64 ", the next segment starts at %" PRId64,
			 t->name, sr->offset, t->next_base);
		t->ends = 1;
		return 0;
	}
	extent_push(t->x, t->n, t->s, t->size, t->size, sr->offset, t->next_base,
		    "the segment ends before the next one begins");
	t->end_offset = t->next_base;
	return 0;
}

/*
 * What follows the last good batch of a validated segment: damage (an
 * extent, nothing cut) when the bytes were durable or a valid batch comes
 * later; a torn tail (cut, t->cut set, the log ends here) otherwise. A
 * closed segment that ends early is damage when its bytes were durable or
 * later segments hold valid batches, and otherwise ends the log (t->ends).
 */
static int validated_tail(struct elog_partlog *log, const struct recovery_ctx *rc,
			  struct seg_tail *t, const struct elog_partlog_scan *sr,
			  struct elog_partlog_recovery *report, struct elog_err *err)
{
	t->durable = durable_bytes(rc, t->s->base_offset);
	t->durable_next = rc->durable.base == t->s->base_offset ? rc->durable.next : -1;
	/* The newest segment needs the durable end's offset to know what damage covers. */
	if (t->next_base < 0 && t->durable_next < 0)
		t->durable = 0;
	elog_segment_name(t->name, sizeof(t->name), t->s->base_offset, "log");
	t->cut = t->ends = 0;
	t->end_offset = sr->offset;
	if (sr->bad_tail)
		return sr->position < t->durable ? tail_durable(t, sr, report, err)
						  : tail_bad(log, rc, t, sr, report, err);
	t->s->size = t->size;
	if (t->next_base >= 0 && sr->offset < t->next_base)
		return tail_short(log, rc, t, sr, report, err);
	if (t->next_base < 0 && t->durable_next > sr->offset && t->size <= t->durable) {
		/* The file lost synced bytes at a batch boundary: those offsets are damaged. */
		extent_push(t->x, t->n, t->s, t->size, t->size, sr->offset, t->durable_next,
			    "the segment ends before its durable end");
		t->end_offset = t->durable_next;
	}
	return 0;
}

/* Rewrite both index files of s unless they hold exactly its indexes already. */
static int indexes_settle(struct elog_partlog *log, struct elog_partlog_segment *s, int sync,
			  struct elog_partlog_recovery *report, struct elog_err *err)
{
	if (index_file_matches(log, s->base_offset, "idx", &s->ix.idx) &&
	    index_file_matches(log, s->base_offset, "tix", &s->ix.tix))
		return 0;
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &s->ix.idx, sync, err) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &s->ix.tix, sync, err) < 0)
		return -1;
	report->indexes_rebuilt++;
	return 0;
}

/* Sync and map one index file of a validated closed segment. */
static int index_sync_map(struct elog_partlog *log, struct elog_partlog_segment *s,
			  struct elog_segindex *ix, const char *ext, struct elog_err *err)
{
	char name[32];
	int fd, rc = 0;

	elog_segment_name(name, sizeof(name), s->base_offset, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	/* A crashed process may have left these in the page cache only. */
	if (fdatasync(fd) < 0)
		rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name);
	else if (elog_segindex_map(ix, fd, ix->count * ix->entry_size, err) < 0)
		rc = elog_err_prefix(err, "%s", name);
	close(fd);
	return rc;
}

/*
 * A validated segment that stays closed: closing entry, indexes and log
 * synced. Without room for the index files the indexes serve from memory.
 */
static int validated_close(struct elog_partlog *log, struct elog_partlog_segment *s,
			   struct elog_partlog_recovery *report, struct elog_err *err)
{
	char name[32];
	int room = 1;

	if (elog_segindex_push(&s->ix.tix, (uint32_t)(log->next_offset - s->base_offset),
			       (uint32_t)s->size, s->ix.max_timestamp, err) < 0)
		return -1;
	if (indexes_settle(log, s, 1, report, err) < 0) {
		if (err->code != ELOG_E_NOSPACE)
			return -1;
		room = 0;
	}
	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (fdatasync(s->fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name);
	report->segments_synced++;
	if (!room)
		return 0;
	if (index_sync_map(log, s, &s->ix.idx, "idx", err) < 0 ||
	    index_sync_map(log, s, &s->ix.tix, "tix", err) < 0)
		return -1;
	return 0;
}

/* The validated segment where the log ends becomes the active one. */
static int validated_activate(struct elog_partlog *log, struct elog_partlog_segment *s,
			      int cut, int synced, struct elog_partlog_recovery *report,
			      struct elog_err *err)
{
	char name[32];

	/* Without room for them the files are emptied: roll and close write them. */
	if (indexes_settle(log, s, 0, report, err) < 0) {
		if (err->code != ELOG_E_NOSPACE ||
		    elog_partlog_open_indexes(log, s->base_offset, O_CREAT | O_TRUNC, err) < 0)
			return -1;
	} else if (elog_partlog_open_indexes(log, s->base_offset, 0, err) < 0) {
		return -1;
	}
	/* What a crashed process left in the page cache counts as flushed only
	 * once synced. A clean close recorded the segment's whole size as
	 * durable (`synced`): then there is nothing to sync, and a start of
	 * many partitions is spared one fdatasync each. */
	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (!cut && !synced) {
		if (fdatasync(s->fd) < 0)
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name);
		report->segments_synced++;
	}
	/* The age of a recovered segment counts from now: see partlog.h. */
	if (s->size)
		log->active_first_append_ms = elog_partlog_now_ms(log);
	return 0;
}

/* A new, empty active segment at `base` (0 for a fresh log), made durable. */
static int create_segment(struct elog_partlog *log, int64_t base, struct elog_err *err)
{
	char name[32];
	int fd;

	elog_segment_name(name, sizeof(name), base, "log");
	fd = openat(log->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot create", name);
	if (elog_partlog_segment_push(log, base, fd, err) < 0) {
		close(fd);
		return -1;
	}
	if (elog_partlog_open_indexes(log, base, O_CREAT | O_TRUNC, err) < 0)
		return -1;
	if (!(log->fresh && log->config.create_unsynced) && fsync(log->dir_fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot sync the directory");
	return 0;
}

/*
 * Whether the newest segment ends in a gap: offsets lost with no bytes
 * left for them (the file lost synced bytes at a batch boundary). An
 * append there would start a batch at an offset the next scan could not
 * tell from a batch with a damaged base offset, so appends go to a new
 * segment at the log's end instead.
 */
static int ends_in_gap(const struct elog_partlog *log, const struct elog_partlog_segment *s)
{
	const struct elog_partlog_damage *d = s->damage_count ? &s->damage[s->damage_count - 1] : NULL;

	return d && d->position == s->size && d->end_position == s->size &&
	       d->end_offset == log->next_offset;
}

/* Offsets a segment based at base may hold stay below this (relative offsets are u32). */
static int64_t segment_offset_limit(int64_t base)
{
	return base > INT64_MAX - (int64_t)UINT32_MAX ? INT64_MAX : base + (int64_t)UINT32_MAX;
}

/*
 * A segment at or past the recovery point (the newest is always one),
 * validated batch by batch. *last is set when the log ends here: it is
 * the newest, it was cut, or its offsets do not end where the next
 * segment begins and no later segment holds a valid batch.
 */
static int validated_load(struct elog_partlog *log, int64_t base, int64_t next_base,
			  const struct recovery_ctx *rc, struct elog_partlog_recovery *report,
			  int *last, struct elog_err *err)
{
	struct elog_partlog_damage x[ELOG_PARTLOG_DAMAGE_MAX];
	struct elog_partlog_segment *s;
	struct elog_partlog_scan sr;
	struct seg_tail t;
	uint64_t size;
	uint32_t n;
	char name[32];

	elog_segment_name(name, sizeof(name), base, "log");
	if (segment_open_push(log, base, &size, err) < 0)
		return -1;
	s = elog_partlog_active(log);
	if (elog_partlog_scan(log, s, size, next_base >= 0 ? next_base : segment_offset_limit(base),
			      &s->ix, x, &n, ELOG_PARTLOG_DAMAGE_MAX, &sr, err) < 0)
		return elog_err_prefix(err, "%s", name);
	if (sr.batches)
		log->last_term = sr.last_term;
	memset(&t, 0, sizeof(t));
	t.s = s;
	t.size = size;
	t.next_base = next_base;
	t.x = x;
	t.n = &n;
	if (validated_tail(log, rc, &t, &sr, report, err) < 0 ||
	    extents_install(log, s, x, n, report, err) < 0)
		return -1;
	log->next_offset = t.end_offset;
	report->segments_validated++;
	*last = t.cut || t.ends || next_base < 0;
	if (next_base < 0 && ends_in_gap(log, s))
		return validated_close(log, s, report, err) < 0 ||
		       create_segment(log, log->next_offset, err) < 0 ? -1 : 0;
	if (*last)
		return validated_activate(log, s, t.cut, durable_bytes(rc, base) >= size, report, err);
	return validated_close(log, s, report, err);
}

/*
 * Delete the segments after the one where the log now ends, newest first
 * (a crash midway leaves a shorter run of them, which the next open
 * removes the same way), counting what they held. Only a tear gets here:
 * none of them holds a valid batch, or the log ended cleanly before them.
 */
static int remove_later(struct elog_partlog *log, const int64_t *bases, uint32_t n,
			struct elog_partlog_recovery *report, struct elog_err *err)
{
	static const char *const exts[3] = {"log", "idx", "tix"};
	char name[32];

	for (uint32_t j = n; j-- > 0;) {
		struct stat st;
		int fd;
		elog_segment_name(name, sizeof(name), bases[j], "log");
		fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0) {
			report->truncated_bytes += (uint64_t)st.st_size;
			report->truncated_records +=
				elog_partlog_tail_records(fd, 0, (uint64_t)st.st_size);
		}
		if (fd >= 0)
			close(fd);
		for (int k = 0; k < 3; k++) {
			elog_segment_name(name, sizeof(name), bases[j], exts[k]);
			if (unlinkat(log->dir_fd, name, 0) < 0 && errno != ENOENT && k == 0)
				return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot remove", name);
		}
		report->segments_removed++;
	}
	if (fsync(log->dir_fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot sync the directory");
	return 0;
}

/* The term of the log's last batch when the active segment is empty. */
static int last_term_before_active(struct elog_partlog *log, struct elog_err *err)
{
	struct elog_batch_header last;
	int64_t max_ts;
	int found;
	uint32_t i;

	if (log->segment_count < 2 || elog_partlog_active(log)->size > 0)
		return 0;
	i = log->segment_count - 2;
	if (elog_partlog_walk_to_end(log, i, log->segments[i].size, &last, &max_ts, &found,
				     err) < 0)
		return -1;
	log->last_term = found ? last.leader_term : 0;
	return 0;
}

/* ---------------------------------------------------------------- recovery point */

/*
 * Read recovery.point and choose the first segment to validate batch by
 * batch (*from, an index into l): the one holding the point; with no file
 * (a directory from before it existed, whose closed segments were all
 * synced when rolled) only the newest; with an unreadable one, all.
 */
static int rp_read(struct elog_partlog *log, const struct listing *l,
		   struct elog_partlog_recovery *report, struct recovery_ctx *rc, uint32_t *from,
		   struct elog_err *err)
{
	struct elog_err why;
	int64_t rp;
	int found = elog_partlog_rp_load(log, &rp, &rc->durable, &why);

	report->recovery_point = -1;
	*from = 0;
	if (found < 0 && why.code != ELOG_E_CORRUPT) {
		*err = why;
		return -1;
	}
	if (found <= 0)
		rc->durable.base = -1;
	if (found < 0) {
		report->recovery_point_state = ELOG_RECOVERY_POINT_BAD;
		memcpy(report->recovery_point_problem, why.msg, sizeof(why.msg));
		return 0;
	}
	if (found == 0) {
		report->recovery_point_state = ELOG_RECOVERY_POINT_MISSING;
		*from = l->count ? l->count - 1 : 0;
		return 0;
	}
	report->recovery_point_state = ELOG_RECOVERY_POINT_FOUND;
	report->recovery_point = rp;
	atomic_store(&log->rp_offset, rp);
	while (*from + 1 < l->count && l->bases[*from + 1] <= rp)
		(*from)++;
	return 0;
}

/*
 * Everything open validated was synced, and so was what lay below the
 * point: the point moves to the active segment's base and the durable end
 * to the end of the log. A clean open, which finds both there already,
 * writes nothing. No room for the file leaves the old one (or none): the
 * next open then validates from the same place as this one did, or from
 * the active segment, the one segment after the point, and knows no more
 * of the durable end than before (a lower bound still).
 */
static int rp_settle(struct elog_partlog *log, const struct elog_partlog_recovery *report,
		     const struct recovery_ctx *rc, struct elog_err *err)
{
	const struct elog_partlog_segment *a = elog_partlog_active(log);
	struct elog_partlog_durable end = {a->base_offset, a->size, log->next_offset};

	if (report->recovery_point_state == ELOG_RECOVERY_POINT_FOUND &&
	    report->recovery_point == a->base_offset && rc->durable.base == end.base &&
	    rc->durable.bytes == end.bytes && rc->durable.next == end.next) {
		log->durable = end;
		return 0;
	}
	if (elog_partlog_rp_store(log, a->base_offset, &end, !log->config.hints_unsynced, err) < 0)
		return err->code == ELOG_E_NOSPACE ? 0 : -1;
	return 0;
}

int elog_partlog_recover(struct elog_partlog *log, struct elog_partlog_recovery *report,
			 struct elog_err *err)
{
	struct listing l = {0};
	struct recovery_ctx rc;
	uint32_t from, i;
	int ret = -1, last = 0;

	memset(&rc, 0, sizeof(rc));
	if (list_segments(log, &l, err) < 0 || rp_read(log, &l, report, &rc, &from, err) < 0)
		goto out;
	if (l.count == 0 && create_segment(log, 0, err) < 0)
		goto out;
	/* Below `from` the cheap checks; from there on (and always the newest) validation. */
	for (i = 0; i < l.count && !last; i++) {
		int64_t next_base = i + 1 < l.count ? l.bases[i + 1] : -1;
		int step;
		rc.later = l.bases + i + 1;
		rc.later_count = l.count - i - 1;
		if (i < from && next_base >= 0)
			step = closed_load(log, l.bases[i], next_base, report, err);
		else
			step = validated_load(log, l.bases[i], next_base, &rc, report, &last, err);
		if (step < 0)
			goto out;
	}
	/* A tear that ended the log early leaves segments [i, count) behind it. */
	if (i < l.count && remove_later(log, l.bases + i, l.count - i, report, err) < 0)
		goto out;
	if (last_term_before_active(log, err) < 0)
		goto out;
	log->size_bytes = 0;
	for (uint32_t j = 0; j < log->segment_count; j++)
		log->size_bytes += log->segments[j].size;
	if (l.count == 0)
		log->next_offset = 0;
	report->segments = log->segment_count;
	atomic_store(&log->flushed_offset, log->next_offset);
	if (rp_settle(log, report, &rc, err) < 0)
		goto out;
	ret = 0;
out:
	free(l.bases);
	return ret;
}
