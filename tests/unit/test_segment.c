/*
 * Unit tests: segment — file names, the scanner (window boundaries, a batch
 * larger than the window, torn tails, damage, offset gaps, newer magic),
 * index file loading and elog_segment_check_indexes against real segments
 * written by partlog.
 */
#include "t.h"
#include "batch.h"
#include "bytes.h"
#include "crc32c.h"
#include "partlog.h"
#include "segment.h"

#include <fcntl.h>
#include <sys/stat.h>

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
	if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
		abort(); /* test paths are short */
}

/* One batch of n records with values of vlen bytes, offsets assigned at base. */
static uint8_t *batch_at(int64_t base, uint32_t n, size_t vlen, size_t *len)
{
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	uint8_t *value = calloc(1, vlen ? vlen : 1), *copy = NULL;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {1000 + base + i, NULL, -1, value, (int32_t)vlen, NULL, 0};
		if (elog_batch_builder_add(&b, &r, &err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, len, &err) < 0)
		goto out;
	copy = malloc(*len);
	memcpy(copy, out, *len);
	elog_batch_assign(copy, base, 1);
out:
	elog_batch_builder_release(&b);
	free(value);
	return copy;
}

/* Write `count` batches of 1..3 records into path; returns the file size. */
static size_t write_batches(const char *path, int64_t base, int count, size_t vlen,
			    int64_t *next)
{
	FILE *f = fopen(path, "wb");
	size_t total = 0;

	*next = base;
	for (int i = 0; f && i < count; i++) {
		size_t len;
		uint8_t *b = batch_at(*next, (uint32_t)(i % 3) + 1, vlen, &len);
		fwrite(b, 1, len, f);
		total += len;
		*next += i % 3 + 1;
		free(b);
	}
	if (f)
		fclose(f);
	return total;
}

static void test_names(void)
{
	char name[32];
	int64_t base;
	const char *ext;
	static const char *const bad[] = {
		"0000000000000000000.log", "000000000000000000000.log", "0000000000000000000x.log",
		"00000000000000000000.txt", "00000000000000000000log", "99999999999999999999.log",
		"00000000000000000000.", "log.meta",
	};

	elog_segment_name(name, sizeof(name), 1234, "log");
	T_CHECK(!strcmp(name, "00000000000000001234.log"));
	T_ASSERT(elog_segment_name_parse(name, &base, &ext) == 0);
	T_EQ_INT(base, 1234);
	T_CHECK(!strcmp(ext, "log"));
	elog_segment_name(name, sizeof(name), INT64_MAX, "tix");
	T_ASSERT(elog_segment_name_parse(name, &base, &ext) == 0);
	T_CHECK(base == INT64_MAX && !strcmp(ext, "tix"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK(elog_segment_name_parse(bad[i], &base, &ext) < 0);
}

/* Many small batches crossing the 1 MiB window, and one batch larger than it. */
static void test_scanner_windows(void)
{
	const char *dir = t_tmpdir();
	struct elog_segment_scanner s;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *batch;
	char path[4200];
	int64_t next, expected = 100;
	size_t size, big_len;
	uint8_t *big;
	uint64_t batches = 0, records = 0;
	FILE *f;
	int rc;

	path_join(path, sizeof(path), dir, "00000000000000000100.log");
	size = write_batches(path, 100, 15000, 40, &next);
	T_ASSERT(size > 2 * ELOG_SEGMENT_SCAN_WINDOW);
	big = batch_at(next, 2, 1500000, &big_len);
	f = fopen(path, "ab");
	fwrite(big, 1, big_len, f);
	fclose(f);
	T_OK(elog_segment_scanner_open(&s, path, 100, &err), &err);
	while ((rc = elog_segment_scanner_next(&s, &h, &batch, &err)) == 1) {
		T_ASSERT(h.base_offset == expected);
		T_ASSERT(elog_get64(batch) == (uint64_t)expected);
		expected = elog_batch_last_offset(&h) + 1;
		records += h.record_count;
		batches++;
		elog_segment_scanner_advance(&s, &h);
	}
	T_OK(rc, &err);
	T_EQ_INT(batches, 15001);
	T_EQ_INT(s.batches, 15001);
	T_EQ_INT(records, s.records);
	T_EQ_INT(expected, next + 2);
	T_EQ_INT(s.position, size + big_len);
	T_CHECK(!memcmp(batch, big, 64)); /* the pointer of the last batch stays valid */
	elog_segment_scanner_release(&s);
	free(big);
}

static void test_scanner_torn_and_damaged(void)
{
	const char *dir = t_tmpdir();
	struct elog_segment_scanner s;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *batch;
	char path[4200];
	int64_t next;
	size_t size, last;
	int fd, rc;
	uint8_t byte;

	path_join(path, sizeof(path), dir, "00000000000000000000.log");
	size = write_batches(path, 0, 3, 10, &next);
	{
		size_t l1;
		uint8_t *b = batch_at(0, 3, 10, &l1); /* the third batch has 3 records */
		last = size - l1;
		free(b);
	}
	/* cut inside the last batch: torn, reported at its start */
	T_ASSERT(truncate(path, (off_t)(size - 1)) == 0);
	T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
	while ((rc = elog_segment_scanner_next(&s, &h, &batch, &err)) == 1)
		elog_segment_scanner_advance(&s, &h);
	T_EQ_INT(rc, -1);
	T_CHECK(s.torn);
	T_EQ_INT(s.position, last);
	T_CHECK(!strncmp(err.msg, "byte ", 5) && strstr(err.msg, "torn"));
	elog_segment_scanner_release(&s);
	/* a flipped payload bit: damage, not torn */
	write_batches(path, 0, 3, 10, &next);
	fd = open(path, O_RDWR);
	T_ASSERT(pread(fd, &byte, 1, (off_t)size - 2) == 1);
	byte ^= 4;
	T_ASSERT(pwrite(fd, &byte, 1, (off_t)size - 2) == 1);
	close(fd);
	T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
	while ((rc = elog_segment_scanner_next(&s, &h, &batch, &err)) == 1)
		elog_segment_scanner_advance(&s, &h);
	T_EQ_INT(rc, -1);
	T_CHECK(!s.torn && err.code == ELOG_E_CORRUPT);
	T_EQ_INT(s.position, last);
	elog_segment_scanner_release(&s);
	/* the wrong base offset for the segment */
	write_batches(path, 0, 3, 10, &next);
	T_OK(elog_segment_scanner_open(&s, path, 5, &err), &err);
	T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), -1);
	T_CHECK(strstr(err.msg, "expected 5") != NULL);
	elog_segment_scanner_release(&s);
	/* any base accepted with -1, continuity still checked */
	T_OK(elog_segment_scanner_open(&s, path, -1, &err), &err);
	T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), 1);
	elog_segment_scanner_release(&s);
	/* an empty file is a clean end */
	T_ASSERT(truncate(path, 0) == 0);
	T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
	T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), 0);
	elog_segment_scanner_release(&s);
	T_CHECK(elog_segment_scanner_open(&s, "/nonexistent/x.log", 0, &err) < 0 &&
		err.code == ELOG_E_IO);
}

/* A newer magic is a version error only when the CRC vouches for it. */
static void test_scanner_newer_magic(void)
{
	const char *dir = t_tmpdir();
	struct elog_segment_scanner s;
	struct elog_batch_header h;
	struct elog_err err;
	const uint8_t *batch;
	char path[4200];
	size_t len;
	uint8_t *b = batch_at(0, 2, 10, &len);
	FILE *f;

	path_join(path, sizeof(path), dir, "00000000000000000000.log");
	b[ELOG_BATCH_CRC_START] = ELOG_BATCH_MAGIC + 1; /* magic, CRC now stale */
	f = fopen(path, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
	T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
	T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	elog_segment_scanner_release(&s);
	elog_put32(b + 12, elog_crc32c(0, b + ELOG_BATCH_CRC_START, len - ELOG_BATCH_CRC_START));
	f = fopen(path, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
	T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
	T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), -1);
	T_EQ_INT(err.code, ELOG_E_VERSION);
	elog_segment_scanner_release(&s);
	/* with a length too short for a header (and any other length), no overrun */
	for (uint32_t length = 0; length < 80; length++) {
		elog_put32(b + ELOG_BATCH_LENGTH_OFFSET, length);
		f = fopen(path, "wb");
		fwrite(b, 1, len, f);
		fclose(f);
		T_OK(elog_segment_scanner_open(&s, path, 0, &err), &err);
		T_EQ_INT(elog_segment_scanner_next(&s, &h, &batch, &err), -1);
		T_EQ_INT(err.code, ELOG_E_CORRUPT);
		elog_segment_scanner_release(&s);
	}
	free(b);
}

/* Indexes as partlog writes them pass the full check; damaged ones name the entry. */
static void test_check_indexes(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	char log_path[4200], idx_path[4200], tix_path[4200];
	int missing;
	int64_t base;
	uint8_t entry[16];
	int fd;

	elog_partlog_config_default(&c);
	c.segment_bytes = 4096;
	c.index_interval_bytes = 200;
	c.flush = ELOG_FLUSH_NEVER;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	for (int i = 0; i < 100; i++) {
		size_t len;
		uint8_t *b = batch_at(0, (uint32_t)(i % 4) + 1, 30, &len);
		T_OK(elog_partlog_append(log, b, len, 1, &base, &err), &err);
		free(b);
	}
	T_ASSERT(elog_partlog_segment_count(log) >= 2);
	elog_partlog_close(log);
	/* the first segment is closed (has a closing .tix entry) */
	path_join(log_path, sizeof(log_path), dir, "00000000000000000000.log");
	path_join(idx_path, sizeof(idx_path), dir, "00000000000000000000.idx");
	path_join(tix_path, sizeof(tix_path), dir, "00000000000000000000.tix");
	T_OK(elog_segment_check_indexes(log_path, 0, &missing, &err), &err);
	T_EQ_INT(missing, 0);
	/* an .idx position moved inside a batch */
	fd = open(idx_path, O_RDWR);
	T_ASSERT(pread(fd, entry, 8, 8) == 8);
	elog_put32(entry + 4, elog_get32(entry + 4) + 1);
	T_ASSERT(pwrite(fd, entry, 8, 8) == 8);
	T_CHECK(elog_segment_check_indexes(log_path, 0, &missing, &err) < 0 &&
		err.code == ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, ".idx: entry 1 at byte 8") != NULL);
	elog_put32(entry + 4, elog_get32(entry + 4) - 1);
	elog_put32(entry, elog_get32(entry) + 1); /* now the offset is wrong */
	T_ASSERT(pwrite(fd, entry, 8, 8) == 8);
	T_CHECK(elog_segment_check_indexes(log_path, 0, &missing, &err) < 0 &&
		strstr(err.msg, "relative offset") != NULL);
	elog_put32(entry, elog_get32(entry) - 1);
	T_ASSERT(pwrite(fd, entry, 8, 8) == 8);
	close(fd);
	T_OK(elog_segment_check_indexes(log_path, 0, &missing, &err), &err);
	/* a .tix timestamp that is not the max of the batches before it */
	fd = open(tix_path, O_RDWR);
	T_ASSERT(pread(fd, entry, 16, 0) == 16);
	elog_put64(entry, elog_get64(entry) + 1);
	T_ASSERT(pwrite(fd, entry, 16, 0) == 16);
	close(fd);
	T_CHECK(elog_segment_check_indexes(log_path, 0, &missing, &err) < 0 &&
		strstr(err.msg, ".tix: entry 0 at byte 0: timestamp") != NULL);
	/* missing files are reported as such, not as damage */
	unlink(idx_path);
	unlink(tix_path);
	T_OK(elog_segment_check_indexes(log_path, 0, &missing, &err), &err);
	T_EQ_INT(missing, 3);
	T_CHECK(elog_segment_check_indexes(idx_path, 0, &missing, &err) < 0 &&
		err.code == ELOG_E_INVAL);
}

int main(void)
{
	T_RUN(test_names);
	T_RUN(test_scanner_windows);
	T_RUN(test_scanner_torn_and_damaged);
	T_RUN(test_scanner_newer_magic);
	T_RUN(test_check_indexes);
	return t_finish();
}
