/*
 * Unit tests: the log start offset a purge sets (elog_partlog_start_set,
 * log.start): reads, timestamp lookups and damage below it, retention of
 * the segments it leaves behind, a purge that empties the log, truncation
 * below it, reopening with the file intact, missing, damaged or past the
 * log's end, and a full disk (the file overwritten in place, or room made
 * by deleting the segments below the new start first).
 */
#include "t.h"
#include "batch.h"
#include "crc32c.h"
#include "partlog.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* Record o is stamped 1000 + 10 * o: timestamps rise with offsets. */
#define TS_OF(o) (1000 + 10 * (int64_t)(o))
#define START_LEN 45

/* Append one batch of n records at the log's end. */
static int append_n(struct elog_partlog *log, uint32_t n, struct elog_err *err)
{
	struct elog_batch_builder b;
	const uint8_t *out;
	static uint8_t copy[1 << 16];
	uint8_t value[40];
	int64_t base = elog_partlog_next_offset(log);
	size_t len;
	int rc = -1;

	memset(value, 'v', sizeof(value));
	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {TS_OF(base + i), (const uint8_t *)"k", 1, value,
					(int32_t)sizeof(value), NULL, 0};
		if (elog_batch_builder_add(&b, &r, err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, &len, err) < 0)
		goto out;
	if (len > sizeof(copy)) {
		elog_err_set(err, ELOG_E_LIMIT, "batch too large for the test");
		goto out;
	}
	memcpy(copy, out, len);
	rc = elog_partlog_append(log, copy, len, 1, NULL, err);
out:
	elog_batch_builder_release(&b);
	return rc;
}

/* `batches` batches of 3 records each. */
static int fill(struct elog_partlog *log, int batches, struct elog_err *err)
{
	for (int i = 0; i < batches; i++)
		if (append_n(log, 3, err) < 0)
			return -1;
	return 0;
}

static void config_small(struct elog_partlog_config *c)
{
	elog_partlog_config_default(c);
	c->segment_bytes = 2048;
	c->index_interval_bytes = 300;
	c->flush = ELOG_FLUSH_NEVER;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
		abort(); /* test paths are short */
}

static ssize_t file_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap);
	close(fd);
	return n;
}

static int file_write(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, buf, len) == (ssize_t)len;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* A valid log.start line for offset, as the format page describes it. */
static void start_line(char *out, int64_t offset)
{
	uint32_t crc;

	snprintf(out, START_LEN + 1, "elog-log-start %020lld", (long long)offset);
	crc = elog_crc32c(0, out, 35);
	snprintf(out + 35, START_LEN + 1 - 35, " %08x\n", (unsigned)crc);
}

/* The offset log.start holds: -1 missing, -2 not a valid line. */
static int64_t start_file(const char *dir)
{
	char path[4200], buf[64], want[START_LEN + 1];
	ssize_t n;
	long long v;

	path_in(path, sizeof(path), dir, "log.start");
	n = file_read(path, buf, sizeof(buf));
	if (n < 0)
		return -1;
	if (n != START_LEN)
		return -2;
	buf[n] = '\0';
	if (sscanf(buf, "elog-log-start %20lld", &v) != 1)
		return -2;
	start_line(want, v);
	return memcmp(buf, want, START_LEN) == 0 ? v : -2;
}

/* Every record from the start on reads back under its own offset and stamp. */
static int read_all(struct elog_partlog *log, struct elog_err *err)
{
	static uint8_t buf[1 << 16];
	struct elog_partlog_slice sl;
	struct elog_batch_reader r;
	struct elog_record_view *v = malloc(sizeof(*v));
	int64_t o = elog_partlog_start_offset(log);
	int rc = 0;

	elog_batch_reader_init(&r);
	while (rc == 0 && o < elog_partlog_next_offset(log)) {
		uint32_t at = 0;
		rc = elog_partlog_read(log, o, buf, sizeof(buf), &sl, err);
		if (rc == 0 && (sl.base_offset > o || sl.next_offset <= o))
			rc = elog_err_set(err, ELOG_E_CORRUPT, "slice %lld-%lld for %lld",
					  (long long)sl.base_offset, (long long)sl.next_offset,
					  (long long)o);
		while (rc == 0 && at < sl.len) {
			int more;
			rc = elog_batch_reader_open(&r, buf + at, sl.len - at, err);
			while (rc == 0 && (more = elog_batch_reader_next(&r, v, err)) == 1)
				if (v->timestamp_ms != TS_OF(v->offset))
					rc = elog_err_set(err, ELOG_E_CORRUPT, "offset %lld stamped %lld",
							  (long long)v->offset,
							  (long long)v->timestamp_ms);
			if (rc == 0 && more < 0)
				rc = -1;
			at += elog_batch_total_size(&r.header);
		}
		o = sl.next_offset;
	}
	elog_batch_reader_release(&r);
	free(v);
	return rc;
}

/* ---------------------------------------------------------------- tests */

/* Reads below the start are out of range; lookups answer at or after it. */
static void test_start_reads(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_err err;
	int64_t found;
	uint32_t segments;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	segments = elog_partlog_segment_count(log);
	T_ASSERT(segments > 4);
	T_EQ_INT(start_file(dir), -1);
	/* 151 lies inside the batch 150-152 */
	T_OK(elog_partlog_start_set(log, 151, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_EQ_INT(start_file(dir), 151);
	T_CHECK(elog_partlog_locate(log, 150, 0, &sl, &err) < 0 && err.code == ELOG_E_RANGE);
	T_CHECK(strstr(err.msg, "outside the log [151, 300]") != NULL);
	T_OK(elog_partlog_locate(log, 151, 0, &sl, &err), &err);
	T_EQ_INT(sl.base_offset, 150); /* the batch holding it: readers skip 150 */
	T_OK(read_all(log, &err), &err);
	/* lookups: the first record at or after the start */
	T_OK(elog_partlog_find_time(log, 0, &found, &err), &err);
	T_EQ_INT(found, 151);
	T_OK(elog_partlog_find_time(log, TS_OF(150), &found, &err), &err);
	T_EQ_INT(found, 151);
	T_OK(elog_partlog_find_time(log, TS_OF(200), &found, &err), &err);
	T_EQ_INT(found, 200);
	T_OK(elog_partlog_find_time(log, TS_OF(400), &found, &err), &err);
	T_EQ_INT(found, 300);
	/* never down, never past the end */
	T_OK(elog_partlog_start_set(log, 100, &err), &err);
	T_OK(elog_partlog_start_set(log, 151, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_CHECK(elog_partlog_start_set(log, 301, &err) < 0 && err.code == ELOG_E_RANGE);
	T_EQ_INT(start_file(dir), 151);
	/* nothing deleted yet: the next retention round, or retain_purged, does it */
	T_EQ_INT(elog_partlog_segment_count(log), segments);
	elog_partlog_close(log);
}

/* Retention deletes what lies wholly below the start, and only that. */
static void test_start_retention(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_recovery rep;
	struct elog_partlog_slice sl;
	struct elog_err err;
	uint32_t deleted, segments;
	uint64_t size;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	segments = elog_partlog_segment_count(log);
	size = elog_partlog_size_bytes(log);
	T_OK(elog_partlog_start_set(log, 151, &err), &err);
	T_OK(elog_partlog_retain_purged(log, &deleted, &err), &err);
	T_ASSERT(deleted > 0 && deleted < segments);
	T_EQ_INT(elog_partlog_segment_count(log), segments - deleted);
	T_CHECK(elog_partlog_size_bytes(log) < size);
	/* the segment holding the start stays, and the start with it */
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_OK(elog_partlog_locate(log, 151, 0, &sl, &err), &err);
	T_OK(elog_partlog_retain_purged(log, &deleted, &err), &err);
	T_EQ_INT(deleted, 0);
	/* retention by size past the start moves the start up with it */
	elog_partlog_close(log);
	c.retention_bytes = 0;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_FOUND);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_OK(elog_partlog_retain(log, 0, &deleted, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_CHECK(elog_partlog_start_offset(log) > 151);
	T_OK(read_all(log, &err), &err);
	/* log.start lags behind (151): open takes the first segment's base instead */
	elog_partlog_close(log);
	T_EQ_INT(start_file(dir), 151);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_CHECK(elog_partlog_start_offset(log) > 151);
	T_EQ_INT(rep.start_offset, elog_partlog_start_offset(log));
	T_EQ_INT(rep.start_problem[0], '\0');
	elog_partlog_close(log);
}

/* A purge up to the end rolls the active segment, so everything can go. */
static void test_start_empties_log(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_err err;
	uint32_t deleted;
	int64_t found;

	config_small(&c);
	c.segment_bytes = 1 << 20; /* one segment holds everything */
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 50, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_OK(elog_partlog_start_set(log, 150, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	T_OK(elog_partlog_retain_purged(log, &deleted, &err), &err);
	T_EQ_INT(deleted, 1);
	T_EQ_INT(elog_partlog_size_bytes(log), 0);
	T_EQ_INT(elog_partlog_next_offset(log), 150);
	T_OK(elog_partlog_locate(log, 150, 0, &sl, &err), &err);
	T_EQ_INT(sl.len, 0);
	T_OK(elog_partlog_find_time(log, 0, &found, &err), &err);
	T_EQ_INT(found, 150);
	/* appends go on at the same offsets; an empty active segment is not rolled again */
	T_OK(elog_partlog_start_set(log, 150, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_OK(append_n(log, 3, &err), &err);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 150);
	T_EQ_INT(elog_partlog_next_offset(log), 153);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/* What a purge leaves readable is synced before the start is written. */
static void test_start_flushes_first(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 10, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), 0); /* flush=never */
	T_OK(elog_partlog_start_set(log, 4, &err), &err);
	T_CHECK(elog_partlog_flushed_offset(log) >= 4);
	elog_partlog_close(log);
}

/* Reopen: found, missing (the first segment), damaged (ditto, the file kept). */
static void test_start_reopen(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_recovery rep;
	struct elog_err err;
	char path[4200], line[64];

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_MISSING);
	T_OK(fill(log, 100, &err), &err);
	T_OK(elog_partlog_start_set(log, 100, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_FOUND);
	T_EQ_INT(rep.start_offset, 100);
	T_EQ_INT(elog_partlog_start_offset(log), 100);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);

	/* one flipped digit: the CRC catches it; nothing is hidden, the file stays */
	path_in(path, sizeof(path), dir, "log.start");
	T_ASSERT(file_read(path, line, sizeof(line)) == START_LEN);
	line[33] ^= 0x01;
	T_ASSERT(file_write(path, line, START_LEN) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_BAD);
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	T_CHECK(strstr(rep.start_problem, "log.start: crc") != NULL);
	T_EQ_INT(start_file(dir), -2);
	T_OK(read_all(log, &err), &err);
	/* the next purge writes it anew */
	T_OK(elog_partlog_start_set(log, 90, &err), &err);
	T_EQ_INT(start_file(dir), 90);
	elog_partlog_close(log);

	/* cut short, or garbage: the same */
	T_ASSERT(file_write(path, "elog-log-start 0000", 19) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_BAD);
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	elog_partlog_close(log);
	/* missing: as a directory from before purges */
	T_ASSERT(unlink(path) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_MISSING);
	T_EQ_INT(rep.start_problem[0], '\0');
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	elog_partlog_close(log);
	/* a crash between the rename and the cleanup leaves a .tmp: removed */
	path_in(path, sizeof(path), dir, "log.start.tmp");
	T_ASSERT(file_write(path, "x", 1) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	elog_partlog_close(log);
}

/*
 * A start past the log's end (the log lost its tail to a crash): it comes
 * down to the end, in the file too, so records appended later stay visible.
 */
static void test_start_past_end(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_recovery rep;
	struct elog_err err;
	char path[4200], line[START_LEN + 1];

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 10, &err), &err);
	elog_partlog_close(log);
	start_line(line, 45);
	path_in(path, sizeof(path), dir, "log.start");
	T_ASSERT(file_write(path, line, START_LEN) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.start_state, ELOG_START_FOUND);
	T_EQ_INT(elog_partlog_start_offset(log), 30);
	T_CHECK(strstr(rep.start_problem, "start 45 is past the log's end 30") != NULL);
	T_EQ_INT(start_file(dir), 30);
	T_OK(fill(log, 10, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 30);
	T_EQ_INT(elog_partlog_next_offset(log), 60);
	T_EQ_INT(rep.start_problem[0], '\0');
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/* Truncation below the start (a follower cut back) brings the start down. */
static void test_start_truncate_below(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	T_OK(elog_partlog_start_set(log, 151, &err), &err);
	/* above the start: the start stays */
	T_OK(elog_partlog_truncate(log, 270, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_EQ_INT(start_file(dir), 151);
	/* below it, at a batch boundary in a segment that is still there */
	T_OK(elog_partlog_truncate(log, 150, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), 150);
	T_EQ_INT(elog_partlog_start_offset(log), 150);
	T_EQ_INT(start_file(dir), 150);
	T_OK(fill(log, 2, &err), &err);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 150);
	T_EQ_INT(elog_partlog_next_offset(log), 156);
	/* below the first segment is still out of range */
	T_CHECK(elog_partlog_truncate(log, -1, &err) < 0 && err.code == ELOG_E_RANGE);
	elog_partlog_close(log);
}

/* Retention with a limit (a replica's commit): only segments wholly below
 * it go, however much retention.bytes wants gone; past it, the rest. */
static void test_retain_upto(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t deleted, segments;

	config_small(&c);
	c.retention_bytes = 0;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	segments = elog_partlog_segment_count(log);
	T_ASSERT(segments > 4);
	/* below the first segment's end: nothing */
	T_OK(elog_partlog_retain_upto(log, 0, 1, &deleted, &err), &err);
	T_EQ_INT(deleted, 0);
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	/* offset 150: the segments wholly below it, and the start there or below */
	T_OK(elog_partlog_retain_upto(log, 0, 150, &deleted, &err), &err);
	T_ASSERT(deleted > 0 && deleted < segments - 1);
	T_CHECK(elog_partlog_start_offset(log) <= 150);
	T_OK(read_all(log, &err), &err);
	{
		struct elog_partlog_slice sl;
		T_OK(elog_partlog_locate(log, 150, 0, &sl, &err), &err);
	}
	/* no limit: retention.bytes 0 leaves the active segment alone */
	T_OK(elog_partlog_retain_upto(log, 0, INT64_MAX, &deleted, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	elog_partlog_close(log);
}

/* Files in dir whose names end in suffix. */
static int files_ending(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = strlen(suffix);
	int count = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		count += len > n && strcmp(e->d_name + len - n, suffix) == 0;
	}
	closedir(d);
	return count;
}

/*
 * Reset (a follower whose leader's start is past all it could match): the
 * log empty at the offset given, past its end or inside it, one segment
 * left, log.start there; appends carry on from it; a reopen finds the same
 * with nothing reported damaged; below the first segment is out of range.
 */
static void test_reset(void)
{
	static const enum elog_flush_policy flushes[] = {ELOG_FLUSH_NEVER, ELOG_FLUSH_ALWAYS};

	for (size_t f = 0; f < sizeof(flushes) / sizeof(flushes[0]); f++) {
		const char *dir = t_tmpdir();
		struct elog_partlog_config c;
		struct elog_partlog_recovery rep;
		struct elog_partlog *log;
		struct elog_partlog_slice sl;
		struct elog_err err;
		uint8_t buf[256];

		config_small(&c);
		c.flush = flushes[f];
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_OK(fill(log, 100, &err), &err);
		T_OK(elog_partlog_start_set(log, 151, &err), &err);
		T_ASSERT(elog_partlog_segment_count(log) > 3);
		/* past the end */
		T_OK(elog_partlog_reset(log, 1000, &err), &err);
		T_EQ_INT(elog_partlog_start_offset(log), 1000);
		T_EQ_INT(elog_partlog_next_offset(log), 1000);
		T_EQ_INT(elog_partlog_flushed_offset(log), 1000);
		T_EQ_INT(elog_partlog_segment_count(log), 1);
		T_EQ_INT(files_ending(dir, ".log"), 1);
		T_EQ_INT(start_file(dir), 1000);
		T_CHECK(elog_partlog_read(log, 999, buf, sizeof(buf), &sl, &err) < 0 &&
			err.code == ELOG_E_RANGE);
		T_OK(fill(log, 2, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(log), 1006);
		T_OK(read_all(log, &err), &err);
		elog_partlog_close(log);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(elog_partlog_start_offset(log), 1000);
		T_EQ_INT(elog_partlog_next_offset(log), 1006);
		T_EQ_INT(rep.damaged_extents, 0);
		T_EQ_INT(rep.truncated_bytes, 0);
		T_OK(read_all(log, &err), &err);
		/* inside the log: everything goes, the log starts there */
		T_OK(elog_partlog_reset(log, 1003, &err), &err);
		T_EQ_INT(elog_partlog_start_offset(log), 1003);
		T_EQ_INT(elog_partlog_next_offset(log), 1003);
		T_OK(fill(log, 1, &err), &err);
		elog_partlog_close(log);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(elog_partlog_start_offset(log), 1003);
		T_EQ_INT(elog_partlog_next_offset(log), 1006);
		T_EQ_INT(rep.damaged_extents, 0);
		T_EQ_INT(rep.truncated_bytes, 0);
		T_OK(read_all(log, &err), &err);
		T_EQ_INT(files_ending(dir, ".log"), 1);
		T_CHECK(elog_partlog_reset(log, 999, &err) < 0 && err.code == ELOG_E_RANGE);
		elog_partlog_close(log);
	}
}

/* Damage left below the start is no longer the partition's: not listed, not hit. */
static void test_start_past_damage(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_damage d;
	struct elog_err err;
	char path[4200];
	int64_t found;
	uint8_t byte;
	int fd;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	T_ASSERT(elog_partlog_segment_count(log) > 3);
	elog_partlog_close(log);
	/* the first byte of the first segment: its base offset no longer matches */
	path_in(path, sizeof(path), dir, "00000000000000000000.log");
	fd = open(path, O_RDWR);
	T_ASSERT(fd >= 0 && pread(fd, &byte, 1, 0) == 1);
	byte ^= 0x40;
	T_ASSERT(pwrite(fd, &byte, 1, 0) == 1);
	close(fd);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_ASSERT(elog_partlog_damage_list(log, &d, 1) == 1);
	T_CHECK(elog_partlog_find_time(log, 0, &found, &err) < 0 && err.code == ELOG_E_DAMAGED);
	T_OK(elog_partlog_start_set(log, d.end_offset, &err), &err);
	T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 0);
	T_OK(elog_partlog_find_time(log, 0, &found, &err), &err);
	T_EQ_INT(found, elog_partlog_start_offset(log));
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/*
 * A full disk (a tmpfs, needs root; skipped otherwise): with no room for a
 * new file, an existing log.start is overwritten in place; without one, and
 * no whole segment below the new start to delete first, the purge fails
 * with "no space" and changes nothing.
 */
static void tmpfs_body(const char *dir)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err, full;
	char path[4200];
	static char block[4096];
	int fd;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	path_in(path, sizeof(path), dir, "filler");
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	T_CHECK(elog_partlog_start_set(log, 30, &full) < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	T_EQ_INT(start_file(dir), -1);
	T_ASSERT(unlink(path) == 0);
	T_OK(elog_partlog_start_set(log, 30, &err), &err);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	T_OK(elog_partlog_start_set(log, 60, &err), &err);
	T_EQ_INT(start_file(dir), 60);
	T_EQ_INT(elog_partlog_start_offset(log), 60);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 60);
	elog_partlog_close(log);
}

/* No log.start yet and no room: the segments below the new start make it. */
static void tmpfs_making_room_body(const char *dir)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	char path[4200];
	static char block[4096];
	uint32_t segments;
	int fd;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, &err), &err);
	segments = elog_partlog_segment_count(log);
	path_in(path, sizeof(path), dir, "filler");
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	T_OK(elog_partlog_start_set(log, 151, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	T_EQ_INT(start_file(dir), 151);
	T_CHECK(elog_partlog_segment_count(log) < segments);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 151);
	elog_partlog_close(log);
}

static int tmpfs_mount(const char *dir)
{
	if (mount("tmpfs", dir, "tmpfs", 0, "size=256k") == 0)
		return 0;
	fprintf(stderr, "# skip %s: cannot mount a tmpfs (%s): needs root\n", t_current,
		strerror(errno));
	return -1;
}

static void test_start_full_disk(void)
{
	const char *dir = t_tmpdir();

	if (tmpfs_mount(dir) < 0)
		return;
	tmpfs_body(dir);
	T_CHECK(umount2(dir, MNT_DETACH) == 0);
}

static void test_start_full_disk_making_room(void)
{
	const char *dir = t_tmpdir();

	if (tmpfs_mount(dir) < 0)
		return;
	tmpfs_making_room_body(dir);
	T_CHECK(umount2(dir, MNT_DETACH) == 0);
}

int main(void)
{
	T_RUN(test_start_reads);
	T_RUN(test_start_retention);
	T_RUN(test_start_empties_log);
	T_RUN(test_start_flushes_first);
	T_RUN(test_start_reopen);
	T_RUN(test_start_past_end);
	T_RUN(test_start_truncate_below);
	T_RUN(test_reset);
	T_RUN(test_retain_upto);
	T_RUN(test_start_past_damage);
	T_RUN(test_start_full_disk);
	T_RUN(test_start_full_disk_making_room);
	return t_finish();
}
