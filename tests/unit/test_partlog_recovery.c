/*
 * Unit tests: partlog durability and recovery past the recovery point —
 * tear versus damage (a bad batch past the durable end with nothing valid
 * after it is cut; below the durable end, or with valid batches after it,
 * it is recorded as a damaged extent and never cut), the durable end a
 * close records, reads that walk around damage and never serve a batch
 * under a wrong offset, wrong index entries rebuilt; and rolls that do not wait for the disk, flushed_offset held below closed
 * segments not synced yet, recovery.point moving up at flush and down at
 * truncation, crashes simulated by copying a log's files while it is still
 * open (what the page cache holds is what a process crash leaves), a
 * missing or corrupt recovery.point, and the active segment's indexes kept
 * in memory and written at close.
 */
#include "t.h"
#include "batch.h"
#include "crc32c.h"
#include "partlog.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define RP_NAME "recovery.point"

/* t_tmpdir reuses its buffer; these tests hold several directories at once. */
static const char *fresh_dir(void)
{
	static char dirs[64][4200];
	static unsigned next;
	char *d = dirs[next++ % 64];

	snprintf(d, sizeof(dirs[0]), "%s", t_tmpdir());
	return d;
}

/* One batch of n records stamped ts, values of vlen bytes; malloc'ed. */
static uint8_t *batch_make(uint32_t n, int64_t ts, size_t vlen, size_t *len)
{
	static uint8_t value[4096];
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	uint8_t *copy = NULL;

	if (vlen > sizeof(value))
		return NULL;
	memset(value, 'v', vlen);
	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {ts + i, NULL, -1, value, (int32_t)vlen, NULL, 0};
		if (elog_batch_builder_add(&b, &r, &err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, len, &err) < 0)
		goto out;
	copy = malloc(*len);
	if (copy)
		memcpy(copy, out, *len);
out:
	elog_batch_builder_release(&b);
	return copy;
}

/* Append `batches` leader batches of 1..4 records, 40-byte values, term 1. */
static int fill(struct elog_partlog *log, int batches, struct elog_err *err)
{
	for (int i = 0; i < batches; i++) {
		size_t len;
		uint8_t *b = batch_make((uint32_t)(i % 4) + 1, 1000 + i, 40, &len);
		int rc;
		if (!b)
			return elog_err_set(err, ELOG_E_NOMEM, "batch_make failed");
		rc = elog_partlog_append(log, b, len, 1, NULL, err);
		free(b);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Append until the log has `segments` segments. */
static int fill_segments(struct elog_partlog *log, uint32_t segments, struct elog_err *err)
{
	for (int guard = 0; elog_partlog_segment_count(log) < segments; guard++)
		if (guard > 100000 || fill(log, 1, err) < 0)
			return -1;
	return 0;
}

static void config_small(struct elog_partlog_config *c, enum elog_flush_policy flush)
{
	elog_partlog_config_default(c);
	c->segment_bytes = 4096;
	c->index_interval_bytes = 300;
	c->flush = flush;
}

/* dir/<segment name>.ext, or dir/ext itself when base < 0. */
static void path_of(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
	char name[32];

	if (base >= 0)
		elog_segment_name(name, sizeof(name), base, ext);
	if (snprintf(out, cap, "%s/%s", dir, base >= 0 ? name : ext) >= (int)cap)
		abort(); /* test paths are short */
}

static uint8_t *file_read(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

static int file_write(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, buf, len) == (ssize_t)len;
	return close(fd) == 0 && ok ? 0 : -1;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The offset recovery.point holds, checking its line's form; -1 if absent or malformed. */
static int64_t rp_read(const char *dir)
{
	char path[4200], text[80];
	size_t len;
	uint8_t *buf;
	long long off = -1;
	unsigned crc;
	int used = 0;

	path_of(path, sizeof(path), dir, -1, RP_NAME);
	buf = file_read(path, &len);
	if (!buf)
		return -1;
	if (len < sizeof(text)) {
		memcpy(text, buf, len);
		text[len] = '\0';
		long long base, bytes, next;
		if ((sscanf(text, "elog-recovery-point %lld %8x\n%n", &off, &crc, &used) != 2 ||
		     (size_t)used != len) &&
		    (sscanf(text, "elog-recovery-point %lld durable %lld %lld %lld %8x\n%n", &off,
			    &base, &bytes, &next, &crc, &used) != 5 ||
		     (size_t)used != len))
			off = -1;
	}
	free(buf);
	return off;
}

/*
 * What a crash would leave: every file of `from` copied into a fresh
 * directory while the log is still open (the copy reads the page cache).
 */
static const char *crash_copy(const char *from)
{
	const char *to = fresh_dir();
	DIR *d = opendir(from);
	struct dirent *e;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		char src[4200], dst[4200];
		uint8_t *buf;
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		path_of(src, sizeof(src), from, -1, e->d_name);
		path_of(dst, sizeof(dst), to, -1, e->d_name);
		buf = file_read(src, &len);
		if (!buf || file_write(dst, buf, len) < 0) {
			free(buf);
			closedir(d);
			return NULL;
		}
		free(buf);
	}
	closedir(d);
	return to;
}

/* Base offsets of the segments in a directory, sorted, from the .log names. */
static uint32_t dir_bases(const char *dir, int64_t *bases, uint32_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint32_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < cap) {
		int64_t base;
		const char *ext;
		if (elog_segment_name_parse(e->d_name, &base, &ext) == 0 && !strcmp(ext, "log"))
			bases[n++] = base;
	}
	closedir(d);
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
			int64_t t = bases[j];
			bases[j] = bases[j - 1];
			bases[j - 1] = t;
		}
	return n;
}

/* Every offset reads back and checks out (header, CRC, offsets). */
static int read_all(struct elog_partlog *log, struct elog_err *err)
{
	static uint8_t buf[1 << 16];
	struct elog_partlog_slice sl;

	for (int64_t o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log);
	     o = sl.next_offset)
		if (elog_partlog_read(log, o, buf, sizeof(buf), &sl, err) < 0)
			return -1;
	return 0;
}

/*
 * Every offset reads back except those in damaged extents, which fail with
 * ELOG_E_DAMAGED; *damaged counts them.
 */
static int read_all_around(struct elog_partlog *log, int64_t *damaged, struct elog_err *err)
{
	static uint8_t buf[1 << 16];
	struct elog_partlog_slice sl;

	*damaged = 0;
	for (int64_t o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log);) {
		if (elog_partlog_read(log, o, buf, sizeof(buf), &sl, err) == 0) {
			o = sl.next_offset;
			continue;
		}
		if (err->code != ELOG_E_DAMAGED)
			return -1;
		int64_t to = elog_partlog_damage_end(log, o);
		if (to <= o)
			return elog_err_set(err, ELOG_E_INVAL, "offset %lld: damaged, but in no extent",
					    (long long)o);
		*damaged += to - o;
		o = to;
	}
	return 0;
}

/* Damage events, as a store would log them. */
struct events {
	int damage, index;
	struct elog_partlog_damage last;
	char index_file[32], index_why[ELOG_ERR_MSG_MAX];
};

static void events_note(void *ctx, const struct elog_partlog_event *e)
{
	struct events *ev = ctx;

	if (e->kind == ELOG_PARTLOG_EVENT_DAMAGE) {
		ev->damage++;
		ev->last = *e->damage;
	} else {
		ev->index++;
		snprintf(ev->index_file, sizeof(ev->index_file), "%s", e->file);
		snprintf(ev->index_why, sizeof(ev->index_why), "%s", e->why);
	}
}

/* Position and base offset of the batch holding `offset`. */
static int batch_at(struct elog_partlog *log, int64_t offset, struct elog_partlog_slice *sl,
		    struct elog_err *err)
{
	return elog_partlog_locate(log, offset, 0, sl, err);
}

/* ---------------------------------------------------------------- flush, roll */

/* Under flush=never a roll syncs nothing, so flushed_offset stays put until flush. */
static void test_flushed_waits_for_closed_segments(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], first_active;
	uint32_t n;

	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(rp_read(dir), 0); /* a new log records its recovery point at once */
	T_OK(fill_segments(log, 4, &err), &err);
	/* three closed segments, none synced: nothing counts as flushed */
	T_EQ_INT(elog_partlog_flushed_offset(log), 0);
	T_EQ_INT(rp_read(dir), 0);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	n = dir_bases(dir, bases, 64);
	T_EQ_INT(n, 4);
	first_active = bases[3];
	T_EQ_INT(rp_read(dir), first_active); /* the active segment's base */
	/* the next roll leaves the segment flushed so far pending: flushed stays */
	{
		int64_t flushed = elog_partlog_flushed_offset(log);
		T_OK(fill_segments(log, 6, &err), &err);
		T_EQ_INT(elog_partlog_flushed_offset(log), flushed);
		T_EQ_INT(rp_read(dir), first_active);
	}
	/* a flush with nothing new since does not rewrite the point */
	T_OK(elog_partlog_flush(log, &err), &err);
	n = dir_bases(dir, bases, 64);
	T_EQ_INT(rp_read(dir), bases[n - 1]);
	T_OK(fill(log, 1, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(rp_read(dir), bases[n - 1]);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	elog_partlog_close(log);
}

/* Under flush=always the roll syncs, and the point follows the active segment at once. */
static void test_flush_always_keeps_point_current(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64];
	uint32_t n;

	config_small(&c, ELOG_FLUSH_ALWAYS);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	for (int i = 0; i < 100; i++) {
		T_OK(fill(log, 1, &err), &err);
		T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
		n = dir_bases(dir, bases, 64);
		T_EQ_INT(rp_read(dir), bases[n - 1]);
	}
	T_ASSERT(elog_partlog_segment_count(log) >= 3);
	elog_partlog_close(log);
}

/* More rolls than the pending list holds: the oldest are synced on the way, fds stay bounded. */
static void test_pending_list_bounded(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t fds = 0;
	DIR *d;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1024;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill_segments(log, 60, &err), &err);
	d = opendir("/proc/self/fd");
	if (d) {
		while (readdir(d))
			fds++;
		closedir(d);
		/* one .log per segment, 3 per pending segment (16 at most), a handful more */
		T_CHECK(fds < 60 + 3 * 16 + 20);
	}
	T_OK(read_all(log, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	elog_partlog_close(log);
}

/* Retention may delete segments still pending; the next flush does not trip on them. */
static void test_retention_of_pending_segments(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t deleted;
	int64_t next;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.retention_bytes = 6000;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill_segments(log, 8, &err), &err);
	T_OK(elog_partlog_retain(log, 0, &deleted, &err), &err);
	T_ASSERT(deleted >= 5);
	T_OK(elog_partlog_flush(log, &err), &err);
	next = elog_partlog_next_offset(log);
	T_EQ_INT(elog_partlog_flushed_offset(log), next);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/* A thread flushing as fast as it can while the owner rolls, truncates and retains. */
struct flush_loop {
	struct elog_partlog *log;
	_Atomic int stop;
	int failures;
};

static void *flush_loop_main(void *arg)
{
	struct flush_loop *f = arg;
	struct elog_err err;

	while (!atomic_load(&f->stop))
		if (elog_partlog_flush(f->log, &err) < 0)
			f->failures++;
	return NULL;
}

static void test_flush_thread_races(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog_slice sl;
	struct flush_loop f = {0};
	struct elog_err err;
	pthread_t th;
	int64_t next;

	config_small(&c, ELOG_FLUSH_INTERVAL);
	c.segment_bytes = 1024;
	c.retention_bytes = 20000;
	T_OK(elog_partlog_open(dir, &c, &f.log, NULL, &err), &err);
	T_ASSERT(pthread_create(&th, NULL, flush_loop_main, &f) == 0);
	for (int i = 0; i < 400; i++) {
		T_OK(fill(f.log, 2, &err), &err);
		T_ASSERT(elog_partlog_flushed_offset(f.log) <= elog_partlog_next_offset(f.log));
		if (i % 23 == 22) { /* back into an older, maybe still pending, segment */
			int64_t start = elog_partlog_start_offset(f.log);
			int64_t to = start + (elog_partlog_next_offset(f.log) - start) / 2;
			T_OK(batch_at(f.log, to, &sl, &err), &err);
			T_OK(elog_partlog_truncate(f.log, sl.base_offset, &err), &err);
		}
		if (i % 31 == 30)
			T_OK(elog_partlog_retain(f.log, 0, NULL, &err), &err);
	}
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	T_EQ_INT(f.failures, 0);
	T_OK(elog_partlog_flush(f.log, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(f.log), elog_partlog_next_offset(f.log));
	next = elog_partlog_next_offset(f.log);
	elog_partlog_close(f.log);
	T_OK(elog_partlog_open(dir, &c, &f.log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(f.log), next);
	T_OK(read_all(f.log, &err), &err);
	elog_partlog_close(f.log);
}

/* ---------------------------------------------------------------- crashes */

/*
 * A crash after rolls that were never flushed: every segment past the
 * recovery point is validated and comes back whole.
 */
static void test_crash_unflushed_segments_validated(void)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t next, bases[64];
	uint32_t n;

	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill_segments(log, 5, &err), &err);
	T_OK(fill(log, 3, &err), &err);
	next = elog_partlog_next_offset(log);
	copy = crash_copy(dir);
	T_ASSERT(copy);
	elog_partlog_close(log);
	n = dir_bases(copy, bases, 64);
	T_EQ_INT(n, 5);
	T_EQ_INT(rp_read(copy), 0);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.recovery_point_state, ELOG_RECOVERY_POINT_FOUND);
	T_EQ_INT(rep.recovery_point, 0);
	T_EQ_INT(rep.segments_validated, 5);
	T_EQ_INT(rep.segments_removed, 0);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.indexes_rebuilt, 1); /* the active segment's files were never written */
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
	/* open synced what it validated and moved the point up */
	T_EQ_INT(rp_read(copy), bases[4]);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.segments_validated, 1);
	T_EQ_INT(rep.indexes_rebuilt, 0);
	elog_partlog_close(log);
}

/* A crash copy of a 6-segment log, recovery point at segment `flushed_upto` (0: none). */
static const char *crash_log(uint32_t flushed_upto, int64_t *bases, int64_t *next)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c, ELOG_FLUSH_NEVER);
	if (elog_partlog_open(dir, &c, &log, NULL, &err) < 0)
		return NULL;
	if ((flushed_upto &&
	     (fill_segments(log, flushed_upto + 1, &err) < 0 || elog_partlog_flush(log, &err) < 0)) ||
	    fill_segments(log, 6, &err) < 0 || fill(log, 2, &err) < 0) {
		elog_partlog_close(log);
		return NULL;
	}
	*next = elog_partlog_next_offset(log);
	copy = crash_copy(dir);
	elog_partlog_close(log);
	return copy && dir_bases(copy, bases, 64) == 6 ? copy : NULL;
}

/* Flip one byte `back` bytes before the end of a batch in the middle of segment k. */
static int damage_middle(const char *dir, const int64_t *bases, uint32_t k, int64_t *hit_base,
			 struct elog_err *err)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	char path[4200];
	uint8_t *bytes;
	size_t len;
	int rc;

	/* a read-only look first: open a crash copy of the crash copy */
	const char *look = crash_copy(dir);
	config_small(&c, ELOG_FLUSH_NEVER);
	if (!look || elog_partlog_open(look, &c, &log, NULL, err) < 0)
		return -1;
	rc = batch_at(log, (bases[k] + bases[k + 1]) / 2, &sl, err);
	elog_partlog_close(log);
	if (rc < 0)
		return -1;
	*hit_base = sl.base_offset;
	path_of(path, sizeof(path), dir, bases[k], "log");
	bytes = file_read(path, &len);
	if (!bytes || sl.position + sl.len > len)
		return elog_err_set(err, ELOG_E_INVAL, "segment file too short");
	bytes[sl.position + sl.len - 3] ^= 0x20;
	rc = file_write(path, bytes, len);
	free(bytes);
	return rc;
}

/*
 * Damage in a closed segment past the recovery point, with valid batches
 * after it, is not a tear: nothing is cut, the bad batch becomes a damaged
 * extent, everything before and after it reads.
 */
static void test_crash_damage_above_point_kept(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_damage d;
	struct events ev = {0};
	struct elog_err err;
	int64_t bases[64], next, hit, damaged;
	char path[4200];
	off_t sizes[6];
	const char *dir = crash_log(0, bases, &next);

	T_ASSERT(dir);
	T_OK(damage_middle(dir, bases, 2, &hit, &err), &err);
	for (int k = 0; k < 6; k++) {
		path_of(path, sizeof(path), dir, bases[k], "log");
		sizes[k] = file_size(path);
	}
	config_small(&c, ELOG_FLUSH_NEVER);
	c.event = events_note;
	c.event_ctx = &ev;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(elog_partlog_segment_count(log), 6);
	T_EQ_INT(rep.segments_removed, 0);
	T_EQ_INT(rep.segments_validated, 6);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.damaged_extents, 1);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
	T_EQ_INT(d.segment_base, bases[2]);
	T_EQ_INT(d.offset, hit);
	T_CHECK(strstr(d.why, "crc") != NULL);
	for (int k = 0; k < 6; k++) {
		path_of(path, sizeof(path), dir, bases[k], "log");
		T_EQ_INT(file_size(path), sizes[k]); /* nothing cut, nothing removed */
	}
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_EQ_INT(damaged, d.end_offset - d.offset);
	T_ASSERT(damaged >= 1 && damaged <= 4);
	/* the log takes appends after it */
	T_OK(fill(log, 50, &err), &err);
	next = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	/* below the point now: found again when a read reaches it */
	ev.damage = 0;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_EQ_INT(damaged, d.end_offset - d.offset);
	T_EQ_INT(ev.damage, 1);
	elog_partlog_close(log);
}

/*
 * A closed segment past the point that lost its tail (torn, or at a batch
 * boundary): damage when later segments hold valid batches, a tear (cut,
 * later segments removed) when none do.
 */
static void test_crash_short_segment_above_point(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_damage d;
	struct elog_err err;
	int64_t bases[64], next, damaged;
	char path[4200];
	off_t size;

	config_small(&c, ELOG_FLUSH_NEVER);
	for (int variant = 0; variant < 4; variant++) {
		int torn = variant & 1, later_garbage = variant >> 1;
		const char *dir = crash_log(0, bases, &next);
		int64_t cut_at;
		T_ASSERT(dir);
		/* find the start of segment 1's last batch */
		T_OK(elog_partlog_open(crash_copy(dir), &c, &log, NULL, &err), &err);
		{
			struct elog_partlog_slice sl;
			T_OK(batch_at(log, bases[2] - 1, &sl, &err), &err);
			cut_at = sl.base_offset;
			size = (off_t)sl.position + (torn ? 20 : 0);
		}
		elog_partlog_close(log);
		path_of(path, sizeof(path), dir, bases[1], "log");
		T_ASSERT(truncate(path, size) == 0);
		for (int k = 2; later_garbage && k < 6; k++) {
			char later[4200];
			static uint8_t zeros[512];
			path_of(later, sizeof(later), dir, bases[k], "log");
			T_ASSERT(file_write(later, zeros, sizeof(zeros)) == 0);
		}
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		if (later_garbage) {
			T_EQ_INT(elog_partlog_next_offset(log), cut_at);
			T_EQ_INT(elog_partlog_segment_count(log), 2);
			T_EQ_INT(rep.segments_removed, 4);
			T_EQ_INT(rep.damaged_extents, 0);
			T_CHECK(torn ? strstr(rep.first_bad, "torn") != NULL
				     : strstr(rep.first_bad, "ends before offset") != NULL);
			T_EQ_INT(file_size(path), (off_t)(size - (torn ? 20 : 0)));
			T_OK(read_all(log, &err), &err);
		} else {
			T_EQ_INT(elog_partlog_next_offset(log), next);
			T_EQ_INT(elog_partlog_segment_count(log), 6);
			T_EQ_INT(rep.segments_removed, 0);
			T_EQ_INT(rep.truncated_bytes, 0);
			T_EQ_INT(rep.damaged_extents, 1);
			T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
			T_EQ_INT(d.offset, cut_at);
			T_EQ_INT(d.end_offset, bases[2]);
			T_EQ_INT(d.position, (uint64_t)size - (torn ? 20 : 0));
			T_EQ_INT(d.end_position, (uint64_t)size);
			T_EQ_INT(file_size(path), size);
			T_OK(read_all_around(log, &damaged, &err), &err);
			T_EQ_INT(damaged, bases[2] - cut_at);
		}
		elog_partlog_close(log);
	}
}

/* Below the recovery point: no cut; found on read, or at open when the cheap checks fail. */
static void test_crash_damage_below_point_kept(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_damage d[4];
	struct events ev = {0};
	struct elog_err err;
	int64_t bases[64], next, hit, damaged;
	char path[4200];
	const char *dir = crash_log(3, bases, &next);

	T_ASSERT(dir);
	T_EQ_INT(rp_read(dir), bases[3]);
	T_OK(damage_middle(dir, bases, 1, &hit, &err), &err);
	config_small(&c, ELOG_FLUSH_NEVER);
	c.event = events_note;
	c.event_ctx = &ev;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.recovery_point, bases[3]);
	T_EQ_INT(rep.segments_validated, 3); /* segments 3, 4 and the active one */
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.damaged_extents, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_ASSERT(damaged >= 1 && damaged <= 4);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(ev.last.offset, hit);
	elog_partlog_close(log);
	/* a closed segment below the point cut short: open scans it, records the damage */
	path_of(path, sizeof(path), dir, bases[2], "log");
	T_ASSERT(truncate(path, file_size(path) - 1) == 0);
	ev.damage = 0;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.damaged_extents, 1);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(ev.last.segment_base, bases[2]);
	T_EQ_INT(ev.last.end_offset, bases[3]);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_EQ_INT(elog_partlog_damage_list(log, d, 4), 2); /* segment 1's, found by the read, too */
	T_EQ_INT(d[0].segment_base, bases[1]);
	T_EQ_INT(d[1].segment_base, bases[2]);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- recovery.point itself */

/* No recovery.point (a directory from before it): only the active segment is validated. */
static void test_missing_point_validates_active_only(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], next, hit;
	char path[4200];
	const char *dir = crash_log(0, bases, &next);

	T_ASSERT(dir);
	path_of(path, sizeof(path), dir, -1, RP_NAME);
	T_ASSERT(unlink(path) == 0);
	T_OK(damage_middle(dir, bases, 2, &hit, &err), &err);
	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.recovery_point_state, ELOG_RECOVERY_POINT_MISSING);
	T_EQ_INT(rep.recovery_point, -1);
	T_EQ_INT(rep.segments_validated, 1);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	elog_partlog_close(log);
	T_EQ_INT(rp_read(dir), bases[5]); /* written at open */
}

/* An unreadable recovery.point: every segment is validated, damage anywhere is found. */
static void test_corrupt_point_validates_all(void)
{
	static const char *const bad[] = {
		"elog-recovery-point 0 00000000\n", /* wrong crc */
		"elog-recovery-point 1\n",
		"garbage",
		"",
		"elog-recovery-point 99999999999999999999 00000000\n",
	};
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], next, hit;
	char path[4200];

	config_small(&c, ELOG_FLUSH_NEVER);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *dir = crash_log(4, bases, &next);
		T_ASSERT(dir);
		path_of(path, sizeof(path), dir, -1, RP_NAME);
		T_ASSERT(file_write(path, bad[i], strlen(bad[i])) == 0);
		T_OK(damage_middle(dir, bases, 1, &hit, &err), &err);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(rep.recovery_point_state, ELOG_RECOVERY_POINT_BAD);
		T_CHECK(strstr(rep.recovery_point_problem, RP_NAME ": ") != NULL);
		T_CHECK(i != 0 || strstr(rep.recovery_point_problem, "crc") != NULL);
		T_EQ_INT(rep.segments_validated, 6);
		T_EQ_INT(rep.segments_removed, 0);
		T_EQ_INT(rep.damaged_extents, 1);
		T_EQ_INT(elog_partlog_next_offset(log), next);
		T_EQ_INT(elog_partlog_damage_end(log, hit) > hit, 1);
		elog_partlog_close(log);
		T_EQ_INT(rp_read(dir), bases[5]);
	}
}

/* A point past the end of the log (a truncation that crashed): lowered at open. */
static void test_point_past_end_lowered(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], next;
	char path[4200];
	const char *dir = crash_log(0, bases, &next);
	char line[80];
	int n;

	T_ASSERT(dir);
	/* a valid line, with the crc of "elog-recovery-point 900000" */
	n = snprintf(line, sizeof(line), "elog-recovery-point 900000");
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %08x\n", elog_crc32c(0, line, (size_t)n));
	path_of(path, sizeof(path), dir, -1, RP_NAME);
	T_ASSERT(file_write(path, line, (size_t)n) == 0);
	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.recovery_point_state, ELOG_RECOVERY_POINT_FOUND);
	T_EQ_INT(rep.recovery_point, 900000);
	T_EQ_INT(rep.segments_validated, 1);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	elog_partlog_close(log);
	T_EQ_INT(rp_read(dir), bases[5]);
}

/* Truncation lowers the point to the cut segment before it cuts. */
static void test_truncate_lowers_point(void)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], hit;
	uint32_t n;

	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill_segments(log, 5, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	n = dir_bases(dir, bases, 64);
	T_EQ_INT(rp_read(dir), bases[n - 1]);
	/* into the middle of the log: segment 1 becomes the active one */
	T_OK(elog_partlog_truncate(log, bases[1], &err), &err);
	T_EQ_INT(rp_read(dir), bases[1]);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	/* new segments on top, unflushed, then a crash: they are validated again */
	T_OK(fill_segments(log, 5, &err), &err);
	copy = crash_copy(dir);
	T_ASSERT(copy);
	elog_partlog_close(log);
	n = dir_bases(copy, bases, 64);
	T_EQ_INT(n, 5);
	T_OK(damage_middle(copy, bases, 2, &hit, &err), &err);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.segments_validated, 4); /* from segment 1, where the point went */
	T_EQ_INT(rep.damaged_extents, 1);
	T_EQ_INT(elog_partlog_damage_end(log, hit) > hit, 1);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- active indexes */

/* The active indexes stay in memory until close, which writes what a rebuild gives. */
static void test_active_indexes_written_at_close(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	static const char *const exts[2] = {"idx", "tix"};
	char path[2][4200];
	uint8_t *written[2], *rebuilt[2];
	size_t wlen[2], rlen[2];

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 120, &err), &err);
	for (int k = 0; k < 2; k++) {
		path_of(path[k], sizeof(path[k]), dir, 0, exts[k]);
		T_EQ_INT(file_size(path[k]), 0); /* no write per append */
	}
	T_OK(elog_partlog_flush(log, &err), &err);
	elog_partlog_close(log);
	for (int k = 0; k < 2; k++) {
		written[k] = file_read(path[k], &wlen[k]);
		T_ASSERT(written[k] && wlen[k] > 0);
		T_ASSERT(unlink(path[k]) == 0);
	}
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.indexes_rebuilt, 1);
	elog_partlog_close(log);
	for (int k = 0; k < 2; k++) {
		rebuilt[k] = file_read(path[k], &rlen[k]);
		T_CHECK(rebuilt[k] && rlen[k] == wlen[k] && !memcmp(rebuilt[k], written[k], wlen[k]));
		free(written[k]);
		free(rebuilt[k]);
	}
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.indexes_rebuilt, 0);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- durable end */

/* recovery.point's durable end, parsed; base -1 when the line has none. */
static void rp_durable(const char *dir, int64_t *base, int64_t *bytes, int64_t *next)
{
	char path[4200], text[200];
	long long off, b, y, n;
	unsigned crc;
	size_t len;
	uint8_t *buf;

	*base = *bytes = *next = -1;
	path_of(path, sizeof(path), dir, -1, RP_NAME);
	buf = file_read(path, &len);
	if (buf && len < sizeof(text)) {
		memcpy(text, buf, len);
		text[len] = '\0';
		if (sscanf(text, "elog-recovery-point %lld durable %lld %lld %lld %8x", &off, &b, &y,
			   &n, &crc) == 5) {
			*base = b;
			*bytes = y;
			*next = n;
		}
	}
	free(buf);
}

static ino_t file_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* A close records where the log ends; a clean open keeps it; a flush past it drops it. */
static void test_durable_end_recorded(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t base, bytes, next, end;
	char path[4200], seg[4200];
	ino_t ino;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 20, &err), &err);
	end = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	path_of(seg, sizeof(seg), dir, 0, "log");
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(base, 0);
	T_EQ_INT(bytes, file_size(seg));
	T_EQ_INT(next, end);
	/* a clean open and close write nothing */
	path_of(path, sizeof(path), dir, -1, RP_NAME);
	ino = file_ino(path);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	elog_partlog_close(log);
	T_EQ_INT(file_ino(path), ino);
	/* appends are not recorded until the close */
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 3, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(file_ino(path), ino);
	elog_partlog_close(log);
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(bytes, file_size(seg));
	/* a flush that moves the point past the durable end drops it */
	c.segment_bytes = 4096;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill_segments(log, elog_partlog_segment_count(log) + 1, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(base, -1);
	T_ASSERT(rp_read(dir) > 0);
	elog_partlog_close(log);
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(base, rp_read(dir));
	/* a truncation below it drops it too */
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_partlog_truncate(log, 0, &err), &err);
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(base, -1);
	T_EQ_INT(rp_read(dir), 0);
	elog_partlog_close(log);
	rp_durable(dir, &base, &bytes, &next);
	T_EQ_INT(next, 0);
}

/*
 * A clean close records the active segment's whole size as durable, so
 * the next open has nothing to fdatasync (a broker holding ten thousand
 * partitions paid one sync each at every start); after a crash that left
 * appends past the recorded end, open syncs them before counting them
 * flushed.
 */
static void test_clean_open_syncs_nothing(void)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t end;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_OK(fill(log, 20, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.segments_validated, 1);
	T_EQ_INT(rep.segments_synced, 0);
	T_OK(fill(log, 5, &err), &err);
	end = elog_partlog_next_offset(log);
	copy = crash_copy(dir);
	T_ASSERT(copy);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), end);
	T_EQ_INT(rep.segments_synced, 1);
	T_EQ_INT(elog_partlog_flushed_offset(log), end);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.segments_synced, 0);
	elog_partlog_close(log);
}

/*
 * After a crash that follows a clean close and more appends: a torn or
 * garbage tail past the durable end is cut; a bad batch below it is damage
 * (the bytes after it that are past the durable end and hold nothing valid
 * are cut).
 */
static void test_durable_end_after_crash(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_partlog_damage d;
	struct elog_err err;
	int64_t durable_next, last_base, damaged;
	uint64_t durable_size, last_pos;
	char path[4200];
	uint8_t *bytes;
	size_t len;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	for (int variant = 0; variant < 3; variant++) {
		const char *dir = fresh_dir(), *copy;
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_OK(fill(log, 20, &err), &err);
		durable_next = elog_partlog_next_offset(log);
		durable_size = elog_partlog_size_bytes(log);
		T_OK(batch_at(log, durable_next - 1, &sl, &err), &err);
		last_base = sl.base_offset;
		last_pos = sl.position;
		elog_partlog_close(log);
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_OK(fill(log, 5, &err), &err);
		copy = crash_copy(dir);
		T_ASSERT(copy);
		elog_partlog_close(log);
		path_of(path, sizeof(path), copy, 0, "log");
		bytes = file_read(path, &len);
		T_ASSERT(bytes && len > durable_size + 100);
		if (variant == 0) {
			/* torn mid-batch past the durable end */
			T_ASSERT(file_write(path, bytes, durable_size + 100) == 0);
		} else if (variant == 1) {
			/* garbage appended past the synced end */
			for (size_t i = durable_size; i < len; i++)
				bytes[i] = (uint8_t)(i * 131 + 7);
			T_ASSERT(file_write(path, bytes, len) == 0);
		} else {
			/* the last durable batch damaged, and the tail after it torn */
			bytes[last_pos + 70] ^= 0x04;
			T_ASSERT(file_write(path, bytes, durable_size + 100) == 0);
		}
		free(bytes);
		T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(log), durable_next);
		T_EQ_INT(file_size(path), (off_t)durable_size);
		T_ASSERT(rep.truncated_bytes > 0);
		if (variant < 2) {
			T_EQ_INT(rep.damaged_extents, 0);
			T_OK(read_all(log, &err), &err);
		} else {
			T_EQ_INT(rep.damaged_extents, 1);
			T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
			T_EQ_INT(d.offset, last_base);
			T_EQ_INT(d.end_offset, durable_next);
			T_EQ_INT(d.end_position, durable_size);
			T_OK(read_all_around(log, &damaged, &err), &err);
			T_EQ_INT(damaged, durable_next - last_base);
		}
		/* appends go on after the durable end */
		T_OK(fill(log, 2, &err), &err);
		elog_partlog_close(log);
	}
}

/*
 * The newest segment lost synced bytes at a batch boundary: the offsets up
 * to the durable end are a gap, and appends go to a new segment after it,
 * so that no later scan can take the next batch for a damaged one.
 */
static void test_gap_at_durable_end(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_partlog_damage d;
	struct elog_err err;
	int64_t next, damaged, more;
	char path[4200];

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 20, &err), &err);
	next = elog_partlog_next_offset(log);
	T_OK(batch_at(log, next - 1, &sl, &err), &err);
	elog_partlog_close(log);
	path_of(path, sizeof(path), dir, 0, "log");
	T_ASSERT(truncate(path, (off_t)sl.position) == 0);
	for (int round = 0; round < 3; round++) {
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(rep.truncated_bytes, 0);
		/* found at the first open; then below the point, found by the reads */
		T_EQ_INT(elog_partlog_damage_list(log, &d, 1), round == 0);
		T_OK(read_all_around(log, &damaged, &err), &err);
		T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
		T_EQ_INT(d.offset, sl.base_offset);
		T_EQ_INT(d.end_offset, next);
		T_EQ_INT(d.position, sl.position);
		T_EQ_INT(d.end_position, sl.position);
		T_EQ_INT(elog_partlog_segment_count(log), 2);
		T_OK(fill(log, 3, &err), &err);
		more = elog_partlog_next_offset(log);
		T_OK(read_all_around(log, &damaged, &err), &err);
		T_EQ_INT(damaged, next - sl.base_offset);
		elog_partlog_close(log);
	}
	T_ASSERT(more > next);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), more);
	elog_partlog_close(log);
}

/* A crash copy's active segment with a bad batch in the middle: damage, not a tear. */
static void test_crash_damage_in_active_segment(void)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_err err;
	int64_t next, damaged;
	char path[4200];
	uint8_t *bytes;
	size_t len;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 40, &err), &err);
	next = elog_partlog_next_offset(log);
	T_OK(batch_at(log, next / 2, &sl, &err), &err);
	copy = crash_copy(dir);
	elog_partlog_close(log);
	T_ASSERT(copy);
	path_of(path, sizeof(path), copy, 0, "log");
	bytes = file_read(path, &len);
	T_ASSERT(bytes);
	bytes[sl.position + 9] ^= 0x40; /* batch_length */
	T_ASSERT(file_write(path, bytes, len) == 0);
	free(bytes);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.damaged_extents, 1);
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_EQ_INT(damaged, sl.next_offset - sl.base_offset);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- reads around damage */

/* A closed 3-segment log, flushed and closed; *mid is a batch in the middle of segment 1. */
static const char *closed_log(int64_t *bases, struct elog_partlog_slice *mid, int64_t *next)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c, ELOG_FLUSH_NEVER);
	if (elog_partlog_open(dir, &c, &log, NULL, &err) < 0)
		return NULL;
	if (fill_segments(log, 4, &err) < 0 || dir_bases(dir, bases, 64) != 4 ||
	    batch_at(log, (bases[1] + bases[2]) / 2, mid, &err) < 0) {
		elog_partlog_close(log);
		return NULL;
	}
	*next = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	return dir;
}

/* Flip byte `at` of segment `base`'s .log (or .idx). */
static int flip(const char *dir, int64_t base, const char *ext, uint64_t at, uint8_t mask)
{
	char path[4200];
	uint8_t *bytes;
	size_t len;
	int rc;

	path_of(path, sizeof(path), dir, base, ext);
	bytes = file_read(path, &len);
	if (!bytes || at >= len) {
		free(bytes);
		return -1;
	}
	bytes[at] ^= mask;
	rc = file_write(path, bytes, len);
	free(bytes);
	return rc;
}

/*
 * Reads of every offset at every size: each slice's batches are whole and
 * continue each other's offsets from the offset asked for (read checks CRCs
 * and offsets) or the read fails with ELOG_E_DAMAGED for an offset in
 * [lo, hi) only; never a batch under a wrong offset.
 */
static void reads_never_wrong(struct elog_partlog *log, int64_t lo, int64_t hi)
{
	static uint8_t buf[1 << 16];
	static const uint32_t caps[] = {200, 1000, 4096, 1 << 16};
	struct elog_partlog_slice sl;
	struct elog_err err;

	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++)
		for (int64_t o = 0; o < elog_partlog_next_offset(log); o++) {
			if (elog_partlog_read(log, o, buf, caps[k], &sl, &err) < 0) {
				if (err.code == ELOG_E_LIMIT)
					continue;
				T_ASSERT(err.code == ELOG_E_DAMAGED);
				T_ASSERT(o >= lo && o < hi);
				continue;
			}
			T_ASSERT(sl.base_offset <= o && o < sl.next_offset);
			T_ASSERT(sl.next_offset <= lo || sl.base_offset >= hi);
			/* locate alone (the broker's path) ends its slice before the damage too */
			T_OK(elog_partlog_locate(log, o, caps[k], &sl, &err), &err);
			T_ASSERT(sl.next_offset <= lo || sl.base_offset >= hi);
		}
}

/*
 * A flipped base_offset or batch_length in a closed segment (below the
 * point, so open does not scan it): reads that reach the batch record it
 * as damage; no slice ever carries it, under any offset.
 */
static void test_closed_header_damage_never_served(void)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice mid, sl;
	struct elog_partlog_damage d;
	struct events ev = {0};
	struct elog_err err;
	int64_t bases[64], next;
	/* base_offset's low and second bytes, batch_length's low and second bytes */
	static const uint64_t fields[] = {0, 1, 8, 9};

	config_small(&c, ELOG_FLUSH_NEVER);
	c.event = events_note;
	c.event_ctx = &ev;
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		const char *dir = closed_log(bases, &mid, &next);
		T_ASSERT(dir);
		T_ASSERT(flip(dir, bases[1], "log", mid.position + fields[f], 0xff) == 0);
		ev.damage = 0;
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_EQ_INT(ev.damage, 0);
		/* a locate from before the batch, with room for it all, stops before it */
		T_OK(elog_partlog_locate(log, bases[1], 1 << 20, &sl, &err), &err);
		T_ASSERT(sl.next_offset <= mid.base_offset);
		T_EQ_INT(ev.damage, 1);
		T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
		T_EQ_INT(d.position, mid.position);
		T_EQ_INT(d.offset, mid.base_offset);
		T_EQ_INT(d.end_offset, mid.next_offset);
		reads_never_wrong(log, mid.base_offset, mid.next_offset);
		T_EQ_INT(ev.damage, 1);
		elog_partlog_close(log);
	}
}

/* A wrong index entry is the index's fault: rebuilt, named, and the read succeeds. */
static void test_wrong_index_entry_rebuilt(void)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice mid, sl;
	struct events ev = {0};
	struct elog_err err;
	int64_t bases[64], next;
	char path[4200];
	uint8_t *ix;
	size_t len;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.event = events_note;
	c.event_ctx = &ev;
	for (int field = 0; field < 2; field++) {
		const char *dir = closed_log(bases, &mid, &next);
		T_ASSERT(dir);
		path_of(path, sizeof(path), dir, bases[1], "idx");
		ix = file_read(path, &len);
		T_ASSERT(ix && len >= 16);
		/* entry 0: rel_offset + 1 (field 0) or position + 1 (field 1): still well formed */
		ix[field * 4] += 1;
		T_ASSERT(file_write(path, ix, len) == 0);
		ev.index = ev.damage = 0;
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_EQ_INT(ev.index, 0); /* it passes the cheap checks */
		for (int64_t o = bases[1]; o < bases[2]; o++)
			T_OK(elog_partlog_locate(log, o, 0, &sl, &err), &err);
		T_OK(read_all(log, &err), &err);
		T_EQ_INT(ev.damage, 0);
		T_EQ_INT(ev.index, 1);
		{
			char want[32];
			elog_segment_name(want, sizeof(want), bases[1], "idx");
			T_CHECK(strcmp(ev.index_file, want) == 0);
		}
		elog_partlog_close(log);
		free(ix);
		/* the file holds the rebuilt index now */
		ix = file_read(path, &len);
		T_ASSERT(ix);
		ev.index = 0;
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_OK(read_all(log, &err), &err);
		T_EQ_INT(ev.index, 0);
		elog_partlog_close(log);
		free(ix);
	}
}

/* A reader's verdict: mark_damaged and check_slice record a batch the disk says is fine. */
static void test_mark_damaged_and_check_slice(void)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice mid, sl;
	struct elog_partlog_damage d;
	struct events ev = {0};
	struct elog_err err;
	static uint8_t buf[1 << 16];
	int64_t bases[64], next, damaged;
	uint32_t good;
	const char *dir = closed_log(bases, &mid, &next);

	T_ASSERT(dir);
	config_small(&c, ELOG_FLUSH_NEVER);
	c.event = events_note;
	c.event_ctx = &ev;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_CHECK(elog_partlog_mark_damaged(log, next, "x", &err) < 0 && err.code == ELOG_E_RANGE);
	T_OK(elog_partlog_mark_damaged(log, mid.next_offset - 1, "reader says so", &err), &err);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
	T_EQ_INT(d.offset, mid.base_offset);
	T_EQ_INT(d.end_offset, mid.next_offset);
	T_CHECK(strcmp(d.why, "reader says so") == 0);
	T_OK(elog_partlog_mark_damaged(log, mid.base_offset, "again", &err), &err);
	T_EQ_INT(ev.damage, 1); /* known already */
	T_OK(read_all_around(log, &damaged, &err), &err);
	T_EQ_INT(damaged, mid.next_offset - mid.base_offset);
	/* check_slice: a slice read by someone else, with its second batch bad in memory */
	T_OK(elog_partlog_locate(log, bases[0], 1 << 16, &sl, &err), &err);
	T_ASSERT(pread(sl.fd, buf, sl.len, (off_t)sl.position) == (ssize_t)sl.len);
	T_OK(elog_partlog_check_slice(log, &sl, buf, &good, &err), &err);
	T_EQ_INT(good, sl.len);
	{
		struct elog_batch_header h;
		T_OK(elog_batch_header_decode(buf, sl.len, &h, &err), &err);
		T_ASSERT(elog_batch_total_size(&h) < sl.len);
		buf[elog_batch_total_size(&h) + 40] ^= 1;
		T_CHECK(elog_partlog_check_slice(log, &sl, buf, &good, &err) < 0 &&
			err.code == ELOG_E_DAMAGED);
		T_EQ_INT(good, elog_batch_total_size(&h));
		T_EQ_INT(ev.damage, 2);
		T_EQ_INT(elog_partlog_damage_end(log, elog_batch_last_offset(&h) + 1) >
				 elog_batch_last_offset(&h) + 1, 1);
	}
	elog_partlog_close(log);
}

/* Truncation at a damaged extent's first offset removes it; inside one is refused. */
static void test_truncate_at_damage(void)
{
	const char *dir = fresh_dir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice mid;
	struct elog_err err;
	int64_t next;

	config_small(&c, ELOG_FLUSH_NEVER);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 40, &err), &err); /* batches of 1 to 4 records */
	T_OK(batch_at(log, elog_partlog_next_offset(log) / 2, &mid, &err), &err);
	/* a batch of two records or more */
	while (mid.next_offset - mid.base_offset < 2)
		T_OK(batch_at(log, mid.next_offset, &mid, &err), &err);
	T_OK(elog_partlog_mark_damaged(log, mid.base_offset, "x", &err), &err);
	T_CHECK(elog_partlog_truncate(log, mid.base_offset + 1, &err) < 0 &&
		err.code == ELOG_E_DAMAGED);
	T_OK(elog_partlog_truncate(log, mid.base_offset, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), mid.base_offset);
	T_EQ_INT(elog_partlog_damage_list(log, NULL, 0), 0);
	T_OK(fill(log, 10, &err), &err);
	T_OK(read_all(log, &err), &err);
	next = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/* More damage in one segment than the list holds: merged, every damaged offset unreadable. */
static void test_many_extents_merged(void)
{
	const char *dir = fresh_dir(), *copy;
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_slice hits[12];
	struct elog_partlog_damage d[ELOG_PARTLOG_DAMAGE_MAX + 1];
	struct elog_err err;
	int64_t next, damaged;
	uint32_t n;

	config_small(&c, ELOG_FLUSH_NEVER);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 60, &err), &err);
	next = elog_partlog_next_offset(log);
	for (int k = 0; k < 12; k++)
		T_OK(batch_at(log, next * (2 * k + 1) / 26, &hits[k], &err), &err);
	copy = crash_copy(dir);
	elog_partlog_close(log);
	T_ASSERT(copy);
	for (int k = 0; k < 12; k++)
		T_ASSERT(flip(copy, 0, "log", hits[k].position + 30, 0x08) == 0);
	T_OK(elog_partlog_open(copy, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	n = elog_partlog_damage_list(log, d, ELOG_PARTLOG_DAMAGE_MAX + 1);
	T_EQ_INT(n, ELOG_PARTLOG_DAMAGE_MAX);
	for (uint32_t k = 0; k + 1 < n; k++)
		T_ASSERT(d[k].end_position <= d[k + 1].position && d[k].end_offset <= d[k + 1].offset);
	/* every hit batch is unreadable; the first seven extents are exact */
	T_OK(read_all_around(log, &damaged, &err), &err);
	for (int k = 0; k < 12; k++)
		T_EQ_INT(elog_partlog_damage_end(log, hits[k].base_offset) > hits[k].base_offset, 1);
	for (int k = 0; k + 1 < ELOG_PARTLOG_DAMAGE_MAX; k++) {
		T_EQ_INT(d[k].offset, hits[k].base_offset);
		T_EQ_INT(d[k].end_offset, hits[k].next_offset);
	}
	T_EQ_INT(d[n - 1].offset, hits[ELOG_PARTLOG_DAMAGE_MAX - 1].base_offset);
	T_EQ_INT(d[n - 1].end_offset, hits[11].next_offset);
	elog_partlog_close(log);
}

int main(void)
{
	T_RUN(test_flushed_waits_for_closed_segments);
	T_RUN(test_flush_always_keeps_point_current);
	T_RUN(test_pending_list_bounded);
	T_RUN(test_retention_of_pending_segments);
	T_RUN(test_flush_thread_races);
	T_RUN(test_crash_unflushed_segments_validated);
	T_RUN(test_crash_damage_above_point_kept);
	T_RUN(test_crash_short_segment_above_point);
	T_RUN(test_crash_damage_below_point_kept);
	T_RUN(test_missing_point_validates_active_only);
	T_RUN(test_corrupt_point_validates_all);
	T_RUN(test_point_past_end_lowered);
	T_RUN(test_truncate_lowers_point);
	T_RUN(test_active_indexes_written_at_close);
	T_RUN(test_durable_end_recorded);
	T_RUN(test_durable_end_after_crash);
	T_RUN(test_clean_open_syncs_nothing);
	T_RUN(test_crash_damage_in_active_segment);
	T_RUN(test_gap_at_durable_end);
	T_RUN(test_closed_header_damage_never_served);
	T_RUN(test_wrong_index_entry_rebuilt);
	T_RUN(test_mark_damaged_and_check_slice);
	T_RUN(test_truncate_at_damage);
	T_RUN(test_many_extents_merged);
	return t_finish();
}
