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

/* Whether the directory holds any segment file (a meta-less one is not ours). */
static int dir_has_segments(struct elog_partlog *log, int *found, struct elog_err *err)
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
		*found = elog_segment_name_parse(e->d_name, &base, &ext) == 0;
	}
	closedir(d);
	return 0;
}

/* Write log.meta through a temporary file and a rename, both made durable. */
static int meta_create(struct elog_partlog *log, struct elog_err *err)
{
	char text[ELOG_PARTLOG_META_MAX];
	int n = snprintf(text, sizeof(text), "elog-partlog %d\n", ELOG_PARTLOG_FORMAT_VERSION);

	return elog_partlog_replace_file(log, ELOG_PARTLOG_META_NAME, text, (size_t)n, err);
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
		if (dir_has_segments(log, &has_segments, err) < 0)
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

/*
 * Collect the .log files, then remove index files whose .log is gone (a
 * deletion that crashed between unlinks). Other files are left alone: the
 * directory may hold the store's own state.
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
			if (elog_segment_name_parse(e->d_name, &base, &ext) < 0)
				continue;
			if (pass == 0 && !strcmp(ext, "log"))
				rc = listing_add(l, base, err);
			else if (pass == 1 && strcmp(ext, "log") &&
				 !bsearch(&base, l->bases, l->count, sizeof(*l->bases), base_cmp)) {
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
 * (and nothing mapped) when it is missing or fails them.
 */
static int index_map_checked(struct elog_partlog *log, struct elog_partlog_segment *s,
			     struct elog_segindex *ix, const char *ext, uint64_t rel_end, int *ok,
			     struct elog_err *err)
{
	struct elog_err why;
	struct stat st;
	char name[32];
	int fd;

	*ok = 0;
	elog_segment_name(name, sizeof(name), s->base_offset, ext);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", name);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot stat", name);
	}
	if ((uint64_t)st.st_size > (uint64_t)ELOG_SEGINDEX_ENTRIES_MAX * ix->entry_size) {
		close(fd);
		return 0;
	}
	if (elog_segindex_map(ix, fd, (size_t)st.st_size, err) < 0) {
		close(fd);
		return elog_err_prefix(err, "%s", name);
	}
	close(fd);
	*ok = elog_segindex_validate(ix->bytes, (size_t)st.st_size, ix->entry_size, s->size,
				     rel_end, &why) == 0;
	if (!*ok)
		elog_segindex_release(ix);
	return 0;
}

/* ---------------------------------------------------------------- closed segments */

/* Scan a closed segment whole, rebuild both indexes and write them out. */
static int closed_rebuild(struct elog_partlog *log, struct elog_partlog_segment *s,
			  int64_t next_base, struct elog_err *err)
{
	struct elog_segment_scanner sc;
	struct elog_batch_header h;
	const uint8_t *batch;
	char name[32];
	int rc, added;

	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	elog_segindex_pair_release(&s->ix);
	if (elog_segment_scanner_init_fd(&sc, s->fd, s->size, s->base_offset, err) < 0)
		return elog_err_prefix(err, "%s", name);
	while ((rc = elog_segment_scanner_next(&sc, &h, &batch, err)) == 1) {
		if (elog_segindex_note(&s->ix, log->config.index_interval_bytes, s->base_offset, &h,
				       sc.position, &added, err) < 0)
			break;
		elog_segment_scanner_advance(&sc, &h);
	}
	if (rc == 0 && sc.expected_offset != next_base)
		rc = elog_err_set(err, ELOG_E_CORRUPT,
				  "byte %llu: ends before offset %" PRId64
				  ", the next segment starts at %" PRId64,
				  (unsigned long long)sc.position, sc.expected_offset, next_base);
	elog_segment_scanner_release(&sc);
	if (rc != 0)
		return elog_err_prefix(err, "%s: closed segment", name);
	if (elog_segindex_push(&s->ix.tix, (uint32_t)(next_base - s->base_offset),
			       (uint32_t)s->size, s->ix.max_timestamp, err) < 0)
		return -1;
	/* Without room for the files the rebuilt indexes serve from memory. */
	if (elog_partlog_write_index_file(log, s->base_offset, "idx", &s->ix.idx, 1, err) < 0 ||
	    elog_partlog_write_index_file(log, s->base_offset, "tix", &s->ix.tix, 1, err) < 0)
		return err->code == ELOG_E_NOSPACE ? 0 : -1;
	return 0;
}

/* The first batch must be whole enough to read and start at the name's offset. */
static int closed_check_first(struct elog_partlog_segment *s, const char *name,
			      struct elog_err *err)
{
	uint8_t head[ELOG_BATCH_HEADER_SIZE];
	struct elog_batch_header h;
	ssize_t n;

	if (s->size < ELOG_BATCH_HEADER_SIZE || s->size > ELOG_SEGMENT_BYTES_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: closed segment of %llu bytes cannot hold its batches", name,
				    (unsigned long long)s->size);
	do
		n = pread(s->fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(head))
		return elog_err_errno(err, ELOG_E_IO, n < 0 ? errno : EIO, "%s: cannot read", name);
	if (elog_batch_header_decode(head, sizeof(head), &h, err) < 0)
		return elog_err_prefix(err, "%s: byte 0", name);
	if (h.base_offset != s->base_offset)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: byte 0: first batch has offset %" PRId64
				    ", the segment's name says %" PRId64,
				    name, h.base_offset, s->base_offset);
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
	return 0;
}

/* A segment below the recovery point: cheap checks, index rebuild if needed. */
static int closed_load(struct elog_partlog *log, int64_t base, int64_t next_base,
		       struct elog_partlog_recovery *report, struct elog_err *err)
{
	struct elog_partlog_segment *s;
	uint64_t size;
	char name[32];
	int idx_ok, tix_ok;

	elog_segment_name(name, sizeof(name), base, "log");
	if (segment_open_push(log, base, &size, err) < 0)
		return -1;
	s = elog_partlog_active(log);
	s->size = size;
	if (closed_check_first(s, name, err) < 0)
		return -1;
	if ((uint64_t)(next_base - base) > UINT32_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: spans more than 2^32 offsets", name);
	if (index_map_checked(log, s, &s->ix.idx, "idx", (uint64_t)(next_base - base), &idx_ok,
			      err) < 0 ||
	    index_map_checked(log, s, &s->ix.tix, "tix", (uint64_t)(next_base - base), &tix_ok,
			      err) < 0)
		return -1;
	if (!idx_ok || !tix_ok) {
		if (closed_rebuild(log, s, next_base, err) < 0)
			return -1;
		report->indexes_rebuilt++;
	}
	s->ix.max_timestamp = elog_segindex_ts(&s->ix.tix, s->ix.tix.count - 1);
	return 0;
}

/* ---------------------------------------------------------------- validated segments */

/* Records in the batches from `position` on whose headers still decode. */
static uint64_t tail_records(int fd, uint64_t position, uint64_t size)
{
	uint8_t head[ELOG_BATCH_HEADER_SIZE];
	struct elog_batch_header h;
	uint64_t records = 0;

	/* Each step moves at least one header forward, so this ends. */
	while (position + ELOG_BATCH_HEADER_SIZE <= size) {
		if (pread(fd, head, sizeof(head), (off_t)position) != (ssize_t)sizeof(head) ||
		    elog_batch_header_decode(head, sizeof(head), &h, NULL) < 0)
			break;
		records += h.record_count;
		position += elog_batch_total_size(&h);
	}
	return records;
}

/* Cut a segment at the first bad byte and make the cut durable. */
static int validated_cut(struct elog_partlog_segment *s, uint64_t good, uint64_t size,
			 const char *name, const struct elog_err *why,
			 struct elog_partlog_recovery *report, struct elog_err *err)
{
	struct elog_err reason = *why;

	report->truncated_bytes += size - good;
	report->truncated_records += tail_records(s->fd, good, size);
	elog_err_prefix(&reason, "%s", name);
	memcpy(report->first_bad, reason.msg, sizeof(report->first_bad));
	/* The directory does not change; fsync makes the inode's new size durable. */
	if (ftruncate(s->fd, (off_t)good) < 0 || fsync(s->fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot truncate to %llu bytes",
				      name, (unsigned long long)good);
	return 0;
}

/*
 * Validate a segment batch by batch, building its indexes as it goes; *cut
 * says whether it was cut at a bad batch.
 */
static int validated_scan(struct elog_partlog *log, struct elog_partlog_segment *s,
			  uint64_t size, struct elog_partlog_recovery *report, int *cut,
			  struct elog_err *err)
{
	struct elog_segment_scanner sc;
	struct elog_batch_header h;
	struct elog_err why;
	const uint8_t *batch;
	char name[32];
	int rc, added;

	*cut = 0;
	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (elog_segment_scanner_init_fd(&sc, s->fd, size, s->base_offset, err) < 0)
		return elog_err_prefix(err, "%s", name);
	elog_err_clear(&why);
	while ((rc = elog_segment_scanner_next(&sc, &h, &batch, &why)) == 1) {
		if (elog_segindex_note(&s->ix, log->config.index_interval_bytes, s->base_offset, &h,
				       sc.position, &added, err) < 0)
			break;
		log->last_term = h.leader_term;
		elog_segment_scanner_advance(&sc, &h);
	}
	s->size = sc.position;
	log->next_offset = sc.expected_offset;
	elog_segment_scanner_release(&sc);
	if (rc == 1)
		return -1; /* the index ran out of memory */
	if (rc < 0 && why.code != ELOG_E_CORRUPT) {
		/* Not the bytes' fault (I/O, memory): never cut on that. */
		*err = why;
		return elog_err_prefix(err, "%s", name);
	}
	if (rc == 0)
		return 0;
	*cut = 1;
	return validated_cut(s, s->size, size, name, &why, report, err);
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
	if (!room)
		return 0;
	if (index_sync_map(log, s, &s->ix.idx, "idx", err) < 0 ||
	    index_sync_map(log, s, &s->ix.tix, "tix", err) < 0)
		return -1;
	return 0;
}

/* The validated segment where the log ends becomes the active one. */
static int validated_activate(struct elog_partlog *log, struct elog_partlog_segment *s,
			      int cut, struct elog_partlog_recovery *report, struct elog_err *err)
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
	/* What a crashed process left in the page cache counts as flushed only once synced. */
	elog_segment_name(name, sizeof(name), s->base_offset, "log");
	if (!cut && fdatasync(s->fd) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", name);
	/* The age of a recovered segment counts from now: see partlog.h. */
	if (s->size)
		log->active_first_append_ms = elog_partlog_now_ms(log);
	return 0;
}

/*
 * A segment at or past the recovery point (the newest is always one),
 * validated batch by batch. *last is set when the log ends here: it is
 * the newest, it was cut, or its offsets do not end where the next
 * segment begins (a closed segment whose tail never reached the disk).
 */
static int validated_load(struct elog_partlog *log, int64_t base, int64_t next_base,
			  struct elog_partlog_recovery *report, int *last, struct elog_err *err)
{
	struct elog_partlog_segment *s;
	uint64_t size;
	char name[32];
	int cut;

	if (segment_open_push(log, base, &size, err) < 0)
		return -1;
	s = elog_partlog_active(log);
	if (validated_scan(log, s, size, report, &cut, err) < 0)
		return -1;
	report->segments_validated++;
	*last = cut || next_base < 0;
	if (!*last && log->next_offset != next_base) {
		elog_segment_name(name, sizeof(name), base, "log");
		snprintf(report->first_bad, sizeof(report->first_bad),
			 "%s: ends before offset %" PRId64 ", the next segment starts at %" PRId64,
			 name, log->next_offset, next_base);
		*last = 1;
	}
	if (*last)
		return validated_activate(log, s, cut, report, err);
	return validated_close(log, s, report, err);
}

/*
 * Delete the segments after the one where the log now ends, newest first
 * (a crash midway leaves a shorter run of them, which the next open
 * removes the same way), counting what they held.
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
			report->truncated_records += tail_records(fd, 0, (uint64_t)st.st_size);
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

/* A fresh log: one empty segment at offset 0. */
static int create_first(struct elog_partlog *log, struct elog_err *err)
{
	char name[32];
	int fd;

	elog_segment_name(name, sizeof(name), 0, "log");
	fd = openat(log->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot create", name);
	if (elog_partlog_segment_push(log, 0, fd, err) < 0) {
		close(fd);
		return -1;
	}
	if (elog_partlog_open_indexes(log, 0, O_CREAT | O_TRUNC, err) < 0)
		return -1;
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
		   struct elog_partlog_recovery *report, uint32_t *from, struct elog_err *err)
{
	struct elog_err why;
	int64_t rp;
	int found = elog_partlog_rp_load(log, &rp, &why);

	report->recovery_point = -1;
	*from = 0;
	if (found < 0 && why.code != ELOG_E_CORRUPT) {
		*err = why;
		return -1;
	}
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
 * Every segment open validated was synced, so the point may move up to the
 * active segment's base; it must move down when the log now ends below it.
 * A point already inside the active segment stays (no write on a clean open).
 * No room for the file leaves the old one (or none): the next open then
 * validates from the same place as this one did, or from the active
 * segment, the one segment after the point.
 */
static int rp_settle(struct elog_partlog *log, const struct elog_partlog_recovery *report,
		     struct elog_err *err)
{
	int64_t base = elog_partlog_active(log)->base_offset;
	int64_t rp = report->recovery_point;

	if (report->recovery_point_state == ELOG_RECOVERY_POINT_FOUND && rp >= base &&
	    rp <= log->next_offset)
		return 0;
	if (elog_partlog_rp_store(log, base, err) < 0)
		return err->code == ELOG_E_NOSPACE ? 0 : -1;
	return 0;
}

int elog_partlog_recover(struct elog_partlog *log, struct elog_partlog_recovery *report,
			 struct elog_err *err)
{
	struct listing l = {0};
	uint32_t from, i;
	int rc = -1, last = 0;

	if (list_segments(log, &l, err) < 0 || rp_read(log, &l, report, &from, err) < 0)
		goto out;
	if (l.count == 0 && create_first(log, err) < 0)
		goto out;
	/* Below `from` the cheap checks; from there on (and always the newest) validation. */
	for (i = 0; i < l.count && !last; i++) {
		int64_t next_base = i + 1 < l.count ? l.bases[i + 1] : -1;
		int step;
		if (i < from && next_base >= 0)
			step = closed_load(log, l.bases[i], next_base, report, err);
		else
			step = validated_load(log, l.bases[i], next_base, report, &last, err);
		if (step < 0)
			goto out;
	}
	/* A validation that ended the log early leaves segments [i, count) behind it. */
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
	if (rp_settle(log, report, err) < 0)
		goto out;
	rc = 0;
out:
	free(l.bases);
	return rc;
}
