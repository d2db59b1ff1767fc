/*
 * bench_storage — the partition log's append and read throughput, each next
 * to what the same disk does with plain system calls, measured in the same
 * run on the same file system.
 *
 * For each record size (100 B and 1 KiB values, JSON-like text, null keys):
 *
 *   append, no flush     elog_partlog_append (flush=never) of prebuilt
 *                        ~16 KiB batches   vs  write() of the same bytes in
 *                                              the same chunks
 *   locate + pread       elog_partlog_locate with max_bytes 1 MiB, then pread()
 *                        of the slice, over the whole log: the cost of the
 *                        serving path, no CRC
 *                        vs  pread() of 1 MiB chunks of the baseline file
 *   read + crc           elog_partlog_read in 1 MiB slices, which checks the
 *                        CRC and offsets of every batch it returns
 *                        vs  the same pread() figure
 *   append, fsync each   elog_partlog_append (flush=always)
 *                        vs  write() + fdatasync() of the same chunk
 *
 * Batches are built once, before any timing (compression none), so what is
 * measured is the log's append path, not record encoding. Appending modifies
 * a batch in place (offsets, term, CRC), so the same buffers are appended
 * again and again; the term goes up by one each pass over them so that every
 * append really re-stamps and re-checksums its batch.
 *
 * Baseline and elog alternate, REPS times, in the order B E, E B, B E, ...
 * so that page-cache and writeback noise hits both; every figure printed is
 * the median of the REPS repetitions. One unmeasured warm-up round runs
 * first (a VM's first touch of guest memory is slow).
 *
 * Output: a table on stdout and, with -j, one JSON object per line (one per
 * benchmark and record size) into the named file. Progress goes to stderr.
 * Targets are reported, never enforced.
 *
 * Exit status: 0 when every benchmark ran (whether or not targets were met),
 * 1 when something failed (I/O error, log error, wrong data read back),
 * 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "err.h"

#include "bench_common.h"
#include "partlog.h"

#define PROG "bench_storage"

#define BENCH_BATCH_BYTES 16384u          /* batch size_max given to the builder */
#define BENCH_BATCHES_DISTINCT 64u        /* prebuilt batches, appended round-robin */
#define BENCH_BATCH_RECORDS_MAX 16384u    /* bound on the builder loop */
#define BENCH_READ_SLICE_BYTES (1u << 20) /* max_bytes per elog read and pread size */
#define BENCH_READ_PASSES 3u              /* reads go over the log this many times */
#define BENCH_REPS_MAX BENCH_STATS_VALUES_MAX
#define BENCH_SYNC_APPENDS_MAX 1000000u
#define BENCH_SYNC_APPENDS_MIN 200u
#define BENCH_SYNC_CALIBRATE_OPS 50u
#define BENCH_SYNC_RUN_SECONDS 2.0        /* aim of one fsync-each run (cap on -s) */
#define BENCH_TOTAL_BYTES_MIN (1ull << 20)
#define BENCH_TOTAL_BYTES_MAX (64ull << 30)
#define BENCH_DISK_MARGIN_BYTES (512ull << 20)
#define BENCH_APPEND_RATIO_TARGET 0.70
#define BENCH_READ_BYTES_PER_S_TARGET 1e9
#define BENCH_RECORD_SIZES_COUNT 2u

static const uint32_t record_sizes[BENCH_RECORD_SIZES_COUNT] = { 100, 1024 };

struct options {
	const char *dir;
	const char *json_path;
	uint64_t total_bytes;      /* log bytes per no-flush append case */
	uint32_t sync_appends;     /* appends per fsync-each case */
	uint32_t reps;
	uint64_t segment_bytes;    /* 0: partlog's default */
};

/* The prebuilt batches for one record size. */
struct workload {
	uint32_t record_bytes;
	uint8_t *batch[BENCH_BATCHES_DISTINCT];
	size_t batch_len[BENCH_BATCHES_DISTINCT];
	uint32_t batch_records[BENCH_BATCHES_DISTINCT];
};

/* What one run of N appends (or one full read) moved. */
struct volume {
	uint64_t ops;
	uint64_t records;
	uint64_t log_bytes;
	uint64_t payload_bytes;
};

enum row_kind { ROW_THROUGHPUT, ROW_SYNC };

/* One line of the report: elog and baseline, per repetition. */
struct row {
	const char *name;        /* JSON name: append_noflush, read_locate, read_crc, append_fsync */
	const char *label;       /* table label */
	const char *baseline;    /* what the baseline did */
	enum row_kind kind;
	uint32_t record_bytes;
	struct volume vol;       /* the same in every repetition */
	double elog_s[BENCH_REPS_MAX], base_s[BENCH_REPS_MAX];
	double elog_p50_us[BENCH_REPS_MAX], elog_p99_us[BENCH_REPS_MAX];
	double base_p50_us[BENCH_REPS_MAX], base_p99_us[BENCH_REPS_MAX];
};

/* ------------------------------------------------------------ helpers */

/* The scratch directory, removed (quietly, best effort) when dying. */
static char scratch_dir[4096];

static int remove_entry_quietly(const char *path, const struct stat *st, int type,
				struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	(void)(type == FTW_DP ? rmdir(path) : unlink(path));
	return 0;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (scratch_dir[0])
		(void)nftw(scratch_dir, remove_entry_quietly, 16, FTW_DEPTH | FTW_PHYS);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

static uint8_t *xalloc_aligned(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, n) != 0)
		die("out of memory allocating %zu bytes", n);
	memset(p, 0, n);
	return p;
}

static double seconds_since(uint64_t start_ns)
{
	return (double)(now_ns() - start_ns) / 1e9;
}

static double minimum(const double *v, uint32_t n)
{
	double m = v[0];

	for (uint32_t i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double min_of(const double *v, uint32_t n)
{
	double m = v[0];

	for (uint32_t i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double max_of(const double *v, uint32_t n)
{
	double m = v[0];

	for (uint32_t i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* Nearest-rank percentile of n latencies in ns (sorts them), in µs. */
static double percentile_us(uint64_t *lat_ns, uint32_t n, uint32_t pct)
{
	uint64_t rank;

	if (n == 0 || pct == 0 || pct > 100)
		die("percentile %u of %u values", pct, n);
	qsort(lat_ns, n, sizeof(*lat_ns), cmp_u64);
	rank = ((uint64_t)n * pct + 99) / 100;
	return (double)lat_ns[rank - 1] / 1e3;
}

/* "12,345,678" */
static const char *fmt_count(char *out, size_t cap, double v)
{
	char digits[32];
	size_t n, j = 0;

	snprintf(digits, sizeof(digits), "%.0f", v < 0 ? 0 : v);
	n = strlen(digits);
	for (size_t i = 0; i < n && j + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[j++] = ',';
		out[j++] = digits[i];
	}
	out[j] = '\0';
	return out;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		die("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* rm -r path; path must exist or be absent. */
static void remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0 && errno == ENOENT)
		return;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		die("cannot remove %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------ workload */

/* A JSON-like value of exactly `size` bytes (bench_common.h). */
static void make_value(char *out, uint32_t size, uint64_t id, uint64_t *rng)
{
	if (bench_json_value(out, size, id, rng) < 0)
		die("record size %u is too small for the value template", size);
}

/* Fill one batch builder to BENCH_BATCH_BYTES with values of record_bytes. */
static void fill_batch(struct elog_batch_builder *bld, uint32_t record_bytes, uint64_t *seq,
		       uint64_t *rng)
{
	char value[2048];
	struct elog_err err;
	const int64_t ts0 = 1763800000000; /* a fixed, plausible epoch ms */

	if (record_bytes > sizeof(value))
		die("record size %u above %zu", record_bytes, sizeof(value));
	for (uint32_t i = 0; i < BENCH_BATCH_RECORDS_MAX; i++) {
		struct elog_record rec = { 0 };

		make_value(value, record_bytes, *seq, rng);
		rec.timestamp_ms = ts0 + (int64_t)*seq;
		rec.key = NULL;
		rec.key_len = -1;
		rec.value = (const uint8_t *)value;
		rec.value_len = (int32_t)record_bytes;
		if (elog_batch_builder_add(bld, &rec, &err) < 0) {
			if (err.code == ELOG_E_LIMIT && i > 0)
				return;
			die("building a batch: %s", err.msg);
		}
		(*seq)++;
	}
	die("a %u B batch took more than %u records", BENCH_BATCH_BYTES, BENCH_BATCH_RECORDS_MAX);
}

static void workload_build(struct workload *wl, uint32_t record_bytes)
{
	struct elog_batch_builder bld;
	struct elog_err err;
	uint64_t seq = 0, rng = 0x9E3779B97F4A7C15ull ^ record_bytes;

	memset(wl, 0, sizeof(*wl));
	wl->record_bytes = record_bytes;
	elog_batch_builder_init(&bld, ELOG_COMPRESS_NONE, BENCH_BATCH_BYTES);
	for (uint32_t b = 0; b < BENCH_BATCHES_DISTINCT; b++) {
		const uint8_t *out;
		size_t out_len;
		struct elog_batch_header h;

		elog_batch_builder_reset(&bld);
		fill_batch(&bld, record_bytes, &seq, &rng);
		if (elog_batch_builder_finish(&bld, &out, &out_len, &err) < 0)
			die("finishing a batch: %s", err.msg);
		if (out_len > BENCH_BATCH_BYTES || elog_batch_check(out, out_len, &h, &err) < 0)
			die("built batch of %zu bytes does not check: %s", out_len, err.msg);
		wl->batch[b] = xmalloc(out_len);
		memcpy(wl->batch[b], out, out_len);
		wl->batch_len[b] = out_len;
		wl->batch_records[b] = h.record_count;
	}
	elog_batch_builder_release(&bld);
}

static void workload_release(struct workload *wl)
{
	for (uint32_t b = 0; b < BENCH_BATCHES_DISTINCT; b++)
		free(wl->batch[b]);
	memset(wl, 0, sizeof(*wl));
}

/* What `ops` appends of the round-robin batches amount to. */
static struct volume workload_volume(const struct workload *wl, uint64_t ops)
{
	struct volume v = { .ops = ops };

	for (uint64_t i = 0; i < ops; i++) {
		uint32_t b = (uint32_t)(i % BENCH_BATCHES_DISTINCT);

		v.records += wl->batch_records[b];
		v.log_bytes += wl->batch_len[b];
	}
	v.payload_bytes = v.records * wl->record_bytes;
	return v;
}

/* Appends needed for about total_bytes of log. */
static uint64_t workload_ops_for(const struct workload *wl, uint64_t total_bytes)
{
	uint64_t sum = 0;

	for (uint32_t b = 0; b < BENCH_BATCHES_DISTINCT; b++)
		sum += wl->batch_len[b];
	return (total_bytes * BENCH_BATCHES_DISTINCT + sum - 1) / sum;
}

/* ------------------------------------------------------------ baseline: plain system calls */

static void write_all(int fd, const uint8_t *buf, size_t len, const char *path)
{
	size_t done = 0;

	/* Bounded: every pass writes at least one byte or dies. */
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot write %s: %s", path, n < 0 ? strerror(errno) : "wrote nothing");
		done += (size_t)n;
	}
}

/* write() every batch in turn, `ops` times; lat_ns (if not NULL) gets each
 * write+fdatasync's latency and every write is followed by fdatasync. */
static double raw_write(const char *path, struct workload *wl, uint64_t ops, uint64_t *lat_ns)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uint64_t start;
	double s;

	if (fd < 0)
		die("cannot create %s: %s", path, strerror(errno));
	start = now_ns();
	for (uint64_t i = 0; i < ops; i++) {
		uint32_t b = (uint32_t)(i % BENCH_BATCHES_DISTINCT);
		uint64_t t0 = lat_ns ? now_ns() : 0;

		write_all(fd, wl->batch[b], wl->batch_len[b], path);
		if (lat_ns) {
			if (fdatasync(fd) < 0)
				die("cannot fdatasync %s: %s", path, strerror(errno));
			lat_ns[i] = now_ns() - t0;
		}
	}
	s = seconds_since(start);
	if (close(fd) < 0)
		die("cannot close %s: %s", path, strerror(errno));
	return s;
}

/* One pass of pread() over the whole file in 1 MiB chunks; returns the bytes read. */
static uint64_t raw_read_pass(int fd, uint8_t *buf, uint64_t expect_bytes, const char *path)
{
	uint64_t pos = 0, max_reads = expect_bytes / BENCH_READ_SLICE_BYTES + 2;

	for (uint64_t i = 0; i < max_reads; i++) {
		ssize_t n = pread(fd, buf, BENCH_READ_SLICE_BYTES, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		pos += (uint64_t)n;
	}
	return pos;
}

/* BENCH_READ_PASSES passes over the file; checks the byte count of each. */
static double raw_read(const char *path, uint8_t *buf, uint64_t expect_bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t start;
	double s;

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	start = now_ns();
	for (uint32_t pass = 0; pass < BENCH_READ_PASSES; pass++) {
		uint64_t got = raw_read_pass(fd, buf, expect_bytes, path);

		if (got != expect_bytes)
			die("%s: read %" PRIu64 " bytes, wrote %" PRIu64, path, got, expect_bytes);
	}
	s = seconds_since(start);
	close(fd);
	return s;
}

/* ------------------------------------------------------------ elog */

static struct elog_partlog *elog_open(const char *dir, const struct options *opt,
				      enum elog_flush_policy flush)
{
	struct elog_partlog_config cfg;
	struct elog_partlog_recovery rec;
	struct elog_partlog *log = NULL;
	struct elog_err err;

	elog_partlog_config_default(&cfg);
	cfg.flush = flush;
	if (opt->segment_bytes)
		cfg.segment_bytes = opt->segment_bytes;
	if (elog_partlog_open(dir, &cfg, &log, &rec, &err) < 0)
		die("cannot open log %s: %s", dir, err.msg);
	if (elog_partlog_next_offset(log) != 0)
		die("log %s is not empty", dir);
	return log;
}

/* Append every batch in turn, `ops` times; lat_ns as in raw_write. */
static double elog_append(struct elog_partlog *log, struct workload *wl, uint64_t ops,
			  uint64_t *lat_ns, const struct volume *expect)
{
	struct elog_err err;
	uint64_t start = now_ns();
	double s;

	for (uint64_t i = 0; i < ops; i++) {
		uint32_t b = (uint32_t)(i % BENCH_BATCHES_DISTINCT);
		uint64_t term = 1 + i / BENCH_BATCHES_DISTINCT;
		uint64_t t0 = lat_ns ? now_ns() : 0;
		int64_t base;

		if (elog_partlog_append(log, wl->batch[b], wl->batch_len[b], term, &base, &err) < 0)
			die("append %" PRIu64 " to %s: %s", i, elog_partlog_dir(log), err.msg);
		if (lat_ns)
			lat_ns[i] = now_ns() - t0;
	}
	s = seconds_since(start);
	if (elog_partlog_next_offset(log) != (int64_t)expect->records)
		die("%s: next offset %" PRId64 " after %" PRIu64 " records", elog_partlog_dir(log),
		    elog_partlog_next_offset(log), expect->records);
	return s;
}

/* Walk the batch headers of one slice (no CRC: see elog_read) checking that
 * offsets continue; returns the records seen. */
static uint64_t walk_slice(const uint8_t *buf, uint32_t len, int64_t *expect_offset)
{
	struct elog_batch_header h;
	struct elog_err err;
	uint32_t pos = 0;
	uint64_t records = 0;

	/* Bounded: each pass consumes a batch of at least HEADER_SIZE bytes. */
	while (pos < len) {
		if (elog_batch_header_decode(buf + pos, len - pos, &h, &err) < 0)
			die("read back: batch at offset %" PRId64 ": %s", *expect_offset, err.msg);
		if (h.base_offset != *expect_offset || elog_batch_total_size(&h) > len - pos)
			die("read back: batch at %" PRId64 " (%u bytes), expected %" PRId64,
			    h.base_offset, elog_batch_total_size(&h), *expect_offset);
		*expect_offset = elog_batch_last_offset(&h) + 1;
		records += h.record_count;
		pos += elog_batch_total_size(&h);
	}
	return records;
}

static void pread_all(int fd, uint8_t *buf, uint32_t len, uint64_t position, const char *what)
{
	uint32_t got = 0;

	/* Bounded: every pass reads at least one byte or dies. */
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(position + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot read %s: %s", what, n < 0 ? strerror(errno) : "end of file");
		got += (uint32_t)n;
	}
}

enum read_mode {
	READ_LOCATE, /* elog_partlog_locate + pread: what a sendfile server pays, no CRC */
	READ_API,    /* elog_partlog_read, which checks every batch's CRC and offsets */
};

/*
 * One pass over the whole log in 1 MiB slices. Both modes also walk the batch
 * headers (decode only, 64 bytes a batch) to check that every record came back.
 */
static void elog_read_pass(struct elog_partlog *log, uint8_t *buf, enum read_mode mode,
			   const struct volume *once)
{
	struct elog_partlog_slice slice;
	struct elog_err err;
	int64_t offset = elog_partlog_start_offset(log), expect_offset = offset;
	int64_t end = elog_partlog_next_offset(log);
	uint64_t bytes = 0, records = 0, max_reads = once->log_bytes / BENCH_BATCH_BYTES + 2;

	for (uint64_t i = 0; i < max_reads && offset < end; i++) {
		int rc = mode == READ_API ?
			elog_partlog_read(log, offset, buf, BENCH_READ_SLICE_BYTES, &slice, &err) :
			elog_partlog_locate(log, offset, BENCH_READ_SLICE_BYTES, &slice, &err);

		if (rc < 0)
			die("read %s at %" PRId64 ": %s", elog_partlog_dir(log), offset, err.msg);
		if (slice.len == 0 || slice.len > BENCH_READ_SLICE_BYTES || slice.next_offset <= offset)
			die("read %s at %" PRId64 ": slice of %u bytes up to %" PRId64,
			    elog_partlog_dir(log), offset, slice.len, slice.next_offset);
		if (mode == READ_LOCATE)
			pread_all(slice.fd, buf, slice.len, slice.position, elog_partlog_dir(log));
		records += walk_slice(buf, slice.len, &expect_offset);
		bytes += slice.len;
		offset = slice.next_offset;
	}
	if (offset != end || bytes != once->log_bytes || records != once->records)
		die("read %s: got to offset %" PRId64 " of %" PRId64 ", %" PRIu64 " of %" PRIu64
		    " bytes", elog_partlog_dir(log), offset, end, bytes, once->log_bytes);
}

/* BENCH_READ_PASSES passes over the log. */
static double elog_read(struct elog_partlog *log, uint8_t *buf, enum read_mode mode,
			const struct volume *once)
{
	uint64_t start = now_ns();

	for (uint32_t pass = 0; pass < BENCH_READ_PASSES; pass++)
		elog_read_pass(log, buf, mode, once);
	return seconds_since(start);
}

/* ------------------------------------------------------------ the runs */

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= cap)
		die("path too long: %s/%s", dir, name);
}

/* Untimed: write back what earlier steps left (deleted files' journal
 * updates, dirty pages) so that every measurement starts from a quiet disk. */
static void settle(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die("cannot open %s: %s", dir, strerror(errno));
	if (syncfs(fd) < 0)
		die("cannot sync the file system of %s: %s", dir, strerror(errno));
	close(fd);
}

/*
 * One repetition of the no-flush cases for one record size: write, append,
 * locate+pread, read+crc, in alternating order. rows[0..2] are append_noflush,
 * read_locate, read_crc.
 */
static void run_noflush_rep(const char *dir, const struct options *opt, struct workload *wl,
			    uint64_t ops, uint32_t rep, struct row *rows, uint8_t *buf)
{
	char raw_path[4096], log_dir[4096];
	struct elog_partlog *log;
	int elog_first = rep % 2;
	double *append_s = &rows[0].elog_s[rep], *write_s = &rows[0].base_s[rep];

	path_join(raw_path, sizeof(raw_path), dir, "raw.dat");
	path_join(log_dir, sizeof(log_dir), dir, "log");
	settle(dir);
	if (elog_first) {
		log = elog_open(log_dir, opt, ELOG_FLUSH_NEVER);
		*append_s = elog_append(log, wl, ops, NULL, &rows[0].vol);
		/* The second writer must not pay the first one's write-back. */
		settle(dir);
		*write_s = raw_write(raw_path, wl, ops, NULL);
		settle(dir);
		rows[1].elog_s[rep] = elog_read(log, buf, READ_LOCATE, &rows[0].vol);
		rows[2].elog_s[rep] = elog_read(log, buf, READ_API, &rows[0].vol);
		rows[1].base_s[rep] = raw_read(raw_path, buf, rows[0].vol.log_bytes);
	} else {
		*write_s = raw_write(raw_path, wl, ops, NULL);
		settle(dir);
		log = elog_open(log_dir, opt, ELOG_FLUSH_NEVER);
		*append_s = elog_append(log, wl, ops, NULL, &rows[0].vol);
		settle(dir);
		rows[1].base_s[rep] = raw_read(raw_path, buf, rows[0].vol.log_bytes);
		rows[1].elog_s[rep] = elog_read(log, buf, READ_LOCATE, &rows[0].vol);
		rows[2].elog_s[rep] = elog_read(log, buf, READ_API, &rows[0].vol);
	}
	rows[2].base_s[rep] = rows[1].base_s[rep];
	elog_partlog_close(log);
	remove_tree(log_dir);
	if (unlink(raw_path) < 0)
		die("cannot remove %s: %s", raw_path, strerror(errno));
}

/* One repetition of the fsync-each case, alternating order like the above. */
static void run_sync_rep(const char *dir, const struct options *opt, struct workload *wl,
			 uint32_t rep, struct row *row, uint64_t *lat_ns)
{
	char raw_path[4096], log_dir[4096];
	uint32_t n = (uint32_t)row->vol.ops;

	path_join(raw_path, sizeof(raw_path), dir, "raw-sync.dat");
	path_join(log_dir, sizeof(log_dir), dir, "log-sync");
	for (int pass = 0; pass < 2; pass++) {
		settle(dir);
		if ((pass == 0) == (rep % 2 == 1)) {
			struct elog_partlog *log = elog_open(log_dir, opt, ELOG_FLUSH_ALWAYS);

			row->elog_s[rep] = elog_append(log, wl, n, lat_ns, &row->vol);
			row->elog_p50_us[rep] = percentile_us(lat_ns, n, 50);
			row->elog_p99_us[rep] = percentile_us(lat_ns, n, 99);
			elog_partlog_close(log);
			remove_tree(log_dir);
		} else {
			row->base_s[rep] = raw_write(raw_path, wl, n, lat_ns);
			row->base_p50_us[rep] = percentile_us(lat_ns, n, 50);
			row->base_p99_us[rep] = percentile_us(lat_ns, n, 99);
			if (unlink(raw_path) < 0)
				die("cannot remove %s: %s", raw_path, strerror(errno));
		}
	}
}

/*
 * How many fsync'd appends make one run last about BENCH_SYNC_RUN_SECONDS,
 * at most opt->sync_appends: on a busy or slow disk fdatasync takes
 * milliseconds instead of ~150 us, and 5000 of them would take minutes.
 */
static uint32_t sync_appends_for(const char *dir, const struct options *opt,
				 struct workload *wl, uint64_t *lat_ns)
{
	char raw_path[4096];
	double per_op_s, fit;
	uint32_t n = opt->sync_appends < BENCH_SYNC_CALIBRATE_OPS ? opt->sync_appends :
		BENCH_SYNC_CALIBRATE_OPS;

	path_join(raw_path, sizeof(raw_path), dir, "calibrate.dat");
	per_op_s = raw_write(raw_path, wl, n, lat_ns) / n;
	if (unlink(raw_path) < 0)
		die("cannot remove %s: %s", raw_path, strerror(errno));
	fit = BENCH_SYNC_RUN_SECONDS / per_op_s;
	if (fit >= opt->sync_appends)
		return opt->sync_appends;
	return fit < BENCH_SYNC_APPENDS_MIN ? BENCH_SYNC_APPENDS_MIN : (uint32_t)fit;
}

/* Unmeasured: a first raw write and elog append of the full size. */
static void warm_up(const char *dir, const struct options *opt, struct workload *wl, uint64_t ops,
		    const struct volume *vol)
{
	char raw_path[4096], log_dir[4096];
	struct elog_partlog *log;

	path_join(raw_path, sizeof(raw_path), dir, "warm.dat");
	path_join(log_dir, sizeof(log_dir), dir, "warm-log");
	(void)raw_write(raw_path, wl, ops, NULL);
	log = elog_open(log_dir, opt, ELOG_FLUSH_NEVER);
	(void)elog_append(log, wl, ops, NULL, vol);
	elog_partlog_close(log);
	remove_tree(log_dir);
	if (unlink(raw_path) < 0)
		die("cannot remove %s: %s", raw_path, strerror(errno));
}

static void init_rows(struct row *rows, uint32_t record_bytes, struct volume noflush,
		      struct volume sync)
{
	static const struct row proto[4] = {
		{ .name = "append_noflush", .label = "append, no flush", .kind = ROW_THROUGHPUT,
		  .baseline = "write()" },
		{ .name = "read_locate", .label = "locate + pread", .kind = ROW_THROUGHPUT,
		  .baseline = "pread() 1 MiB" },
		{ .name = "read_crc", .label = "read + crc", .kind = ROW_THROUGHPUT,
		  .baseline = "pread() 1 MiB" },
		{ .name = "append_fsync", .label = "append, fsync each", .kind = ROW_SYNC,
		  .baseline = "write()+fdatasync()" },
	};
	struct volume read = noflush;

	read.records *= BENCH_READ_PASSES;
	read.log_bytes *= BENCH_READ_PASSES;
	read.payload_bytes *= BENCH_READ_PASSES;
	for (int i = 0; i < 4; i++) {
		rows[i] = proto[i];
		rows[i].record_bytes = record_bytes;
		rows[i].vol = i == 0 ? noflush : i < 3 ? read : sync;
	}
}

/* ------------------------------------------------------------ report */

struct figures {
	double elog_s, base_s;      /* medians */
	double elog_bps, base_bps;  /* log bytes per second, from the medians */
	double ratio;               /* elog_bps / base_bps */
	double ratio_best;          /* the same from each side's fastest rep: the disk's
	                               write-back stalls only ever add time, so on a noisy
	                               disk this is the steadier estimate */
	int has_target, met;
	const char *target;
};

static struct figures figures_of(const struct row *r, uint32_t reps)
{
	struct figures f = { 0 };

	f.elog_s = median(r->elog_s, reps);
	f.base_s = median(r->base_s, reps);
	f.elog_bps = (double)r->vol.log_bytes / f.elog_s;
	f.base_bps = (double)r->vol.log_bytes / f.base_s;
	f.ratio = f.elog_bps / f.base_bps;
	f.ratio_best = minimum(r->base_s, reps) / minimum(r->elog_s, reps);
	if (!strcmp(r->name, "append_noflush")) {
		f.has_target = 1;
		f.met = f.ratio >= BENCH_APPEND_RATIO_TARGET;
		f.target = ">= 0.70 x raw";
	} else if (!strcmp(r->name, "read_crc")) {
		f.has_target = 1;
		f.met = f.elog_bps >= BENCH_READ_BYTES_PER_S_TARGET;
		f.target = ">= 1 GB/s";
	}
	return f;
}

static void print_throughput_row(const struct row *r, uint32_t reps)
{
	struct figures f = figures_of(r, reps);
	char recs[32];

	printf("%5u B  %-18s %13s %9.1f %9.1f %9.1f %6.2f %5.2f  %s%s\n", r->record_bytes, r->label,
	       fmt_count(recs, sizeof(recs), (double)r->vol.records / f.elog_s), f.elog_bps / 1e6,
	       (double)r->vol.payload_bytes / f.elog_s / 1e6, f.base_bps / 1e6, f.ratio,
	       f.ratio_best, f.has_target ? f.target : "", f.has_target ? (f.met ? "  met" : "  NOT MET") : "");
}

static void print_sync_row(const struct row *r, uint32_t reps)
{
	struct figures f = figures_of(r, reps);
	char a[32], b[32], c[32];

	printf("%5u B  %-18s %10s %11s %8.1f %8.1f  %10s %8.1f %8.1f %6.2f\n", r->record_bytes,
	       r->label, fmt_count(a, sizeof(a), (double)r->vol.ops / f.elog_s),
	       fmt_count(b, sizeof(b), (double)r->vol.records / f.elog_s),
	       median(r->elog_p50_us, reps), median(r->elog_p99_us, reps),
	       fmt_count(c, sizeof(c), (double)r->vol.ops / f.base_s),
	       median(r->base_p50_us, reps), median(r->base_p99_us, reps), f.ratio);
}

static void print_table(const struct row *rows, uint32_t nrows, uint32_t reps)
{
	printf("\n%-8s %-18s %13s %9s %9s %9s %6s %5s  %s\n", "record", "benchmark", "elog rec/s",
	       "elog MB/s", "payload", "raw MB/s", "ratio", "best", "target");
	for (uint32_t i = 0; i < nrows; i++)
		if (rows[i].kind == ROW_THROUGHPUT)
			print_throughput_row(&rows[i], reps);
	printf("\n%-8s %-18s %10s %11s %8s %8s  %10s %8s %8s %6s\n", "record", "benchmark",
	       "appends/s", "records/s", "p50 us", "p99 us", "raw ops/s", "raw p50", "raw p99",
	       "ratio");
	for (uint32_t i = 0; i < nrows; i++)
		if (rows[i].kind == ROW_SYNC)
			print_sync_row(&rows[i], reps);
	printf("\nMB = 10^6 bytes. elog MB/s and raw MB/s count log bytes (whole batches, as on disk);\n"
	       "payload counts value bytes only. ratio = elog / raw, medians of %u reps;\n"
	       "best = the same from each side's fastest rep (write-back stalls only add time).\n", reps);
}

static void json_array(FILE *f, const char *name, const double *v, uint32_t n)
{
	fprintf(f, "\"%s\":[", name);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%.6f", i ? "," : "", v[i]);
	fprintf(f, "]");
}

static void json_row(FILE *f, const struct row *r, const struct options *opt)
{
	struct figures fg = figures_of(r, opt->reps);
	uint32_t reps = opt->reps;
	int is_append = !strncmp(r->name, "append", 6);

	fprintf(f, "{\"type\":\"result\",\"program\":\"" PROG "\",\"benchmark\":\"%s\",\"record_bytes\":%u,"
		"\"batch_bytes_max\":%u,\"reps\":%u,\"appends\":%" PRIu64 ",\"records\":%" PRIu64
		",\"log_bytes\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",", r->name,
		r->record_bytes, BENCH_BATCH_BYTES, reps, r->vol.ops, r->vol.records,
		r->vol.log_bytes, r->vol.payload_bytes);
	if (!is_append)
		fprintf(f, "\"read_passes\":%u,", BENCH_READ_PASSES);
	fprintf(f, "\"elog\":{\"records_per_s\":%.0f,\"log_mb_per_s\":%.1f,"
		"\"payload_mb_per_s\":%.1f,", (double)r->vol.records / fg.elog_s,
		fg.elog_bps / 1e6, (double)r->vol.payload_bytes / fg.elog_s / 1e6);
	if (is_append)
		fprintf(f, "\"appends_per_s\":%.1f,", (double)r->vol.ops / fg.elog_s);
	if (r->kind == ROW_SYNC)
		fprintf(f, "\"p50_us\":%.1f,\"p99_us\":%.1f,", median(r->elog_p50_us, reps),
			median(r->elog_p99_us, reps));
	json_array(f, "seconds", r->elog_s, reps);
	fprintf(f, "},\"baseline\":{\"what\":\"%s\",\"log_mb_per_s\":%.1f,", r->baseline,
		fg.base_bps / 1e6);
	if (is_append)
		fprintf(f, "\"ops_per_s\":%.1f,", (double)r->vol.ops / fg.base_s);
	if (r->kind == ROW_SYNC)
		fprintf(f, "\"p50_us\":%.1f,\"p99_us\":%.1f,", median(r->base_p50_us, reps),
			median(r->base_p99_us, reps));
	json_array(f, "seconds", r->base_s, reps);
	fprintf(f, "},\"ratio\":%.3f,\"ratio_best\":%.3f", fg.ratio, fg.ratio_best);
	if (fg.has_target)
		fprintf(f, ",\"target\":{\"what\":\"%s\",\"met\":%s}", fg.target,
			fg.met ? "true" : "false");
	fprintf(f, "}\n");
}

static void write_json(const char *path, const struct row *rows, uint32_t nrows,
		       const struct options *opt)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot create %s: %s", path, strerror(errno));
	for (uint32_t i = 0; i < nrows; i++)
		json_row(f, &rows[i], opt);
	if (fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* Rows come in groups of 4 per record size, in init_rows order. */
static void print_spread(const struct row *rows, uint32_t nrows, uint32_t reps)
{
	static const char *const short_label[4] = { "append", "locate", "read+crc", "fsync" };

	if (reps < 2)
		return;
	printf("spread, max/min time over the %u reps, elog/raw:\n", reps);
	for (uint32_t i = 0; i + 4 <= nrows; i += 4) {
		printf("%5u B ", rows[i].record_bytes);
		for (uint32_t j = 0; j < 4; j++)
			printf(" %s %.2f/%.2f%s", short_label[j],
			       max_of(rows[i + j].elog_s, reps) / min_of(rows[i + j].elog_s, reps),
			       max_of(rows[i + j].base_s, reps) / min_of(rows[i + j].base_s, reps),
			       j < 3 ? "," : "\n");
	}
}

/* ------------------------------------------------------------ main */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " [-d dir] [-j json] [-n bytes] [-s appends] [-r reps] [-S segment_bytes]\n"
		"  -d dir            scratch directory, on the disk to measure (default $ELOG_BENCH_DIR\n"
		"                    or /var/tmp/elog-bench); a fresh subdirectory is used and removed\n"
		"  -j json           write one JSON object per benchmark to this file\n"
		"  -n bytes          log bytes per no-flush case (default 1073741824)\n"
		"  -s appends        appends per fsync-each case (default 5000; fewer when\n"
		"                    fdatasync is so slow that a run would exceed ~2 s)\n"
		"  -r reps           repetitions, medians reported (default 3)\n"
		"  -S segment_bytes  segment size (default: the partition log's default)\n");
	exit(status);
}

static void parse_options(int argc, char **argv, struct options *opt)
{
	int c;

	opt->dir = getenv("ELOG_BENCH_DIR") && *getenv("ELOG_BENCH_DIR") ?
		getenv("ELOG_BENCH_DIR") : "/var/tmp/elog-bench";
	opt->json_path = NULL;
	opt->total_bytes = 1ull << 30;
	opt->sync_appends = 5000;
	opt->reps = 3;
	opt->segment_bytes = 0;
	while ((c = getopt(argc, argv, "d:j:n:s:r:S:h")) != -1) {
		switch (c) {
		case 'd': opt->dir = optarg; break;
		case 'j': opt->json_path = optarg; break;
		case 'n': opt->total_bytes = bench_option_u64(PROG, c, optarg, BENCH_TOTAL_BYTES_MIN,
						       BENCH_TOTAL_BYTES_MAX); break;
		case 's': opt->sync_appends = (uint32_t)bench_option_u64(PROG, c, optarg, 1,
									 BENCH_SYNC_APPENDS_MAX); break;
		case 'r': opt->reps = (uint32_t)bench_option_u64(PROG, c, optarg, 1, BENCH_REPS_MAX); break;
		case 'S': opt->segment_bytes = bench_option_u64(PROG, c, optarg, 1 << 20, 0xFFFFFFFFull); break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

/* A fresh directory under opt->dir, after checking there is room; into
 * scratch_dir, so that die() removes it. */
static void make_scratch(const struct options *opt)
{
	char *out = scratch_dir;
	size_t cap = sizeof(scratch_dir);
	struct statvfs vfs;
	uint64_t need = 2 * opt->total_bytes + BENCH_DISK_MARGIN_BYTES, avail;

	if (mkdir(opt->dir, 0755) < 0 && errno != EEXIST)
		die("cannot create %s: %s", opt->dir, strerror(errno));
	if (statvfs(opt->dir, &vfs) < 0)
		die("cannot statvfs %s: %s", opt->dir, strerror(errno));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < need)
		die("%s: %" PRIu64 " MiB free, the benchmark needs %" PRIu64 " MiB (lower -n)",
		    opt->dir, avail >> 20, need >> 20);
	path_join(out, cap, opt->dir, PROG ".XXXXXX");
	if (!mkdtemp(out))
		die("cannot create a directory in %s: %s", opt->dir, strerror(errno));
}

static void run_size(const char *scratch, const struct options *opt, uint32_t record_bytes,
		     int first, struct row *rows, uint8_t *buf, uint64_t *lat_ns)
{
	struct workload wl;
	struct volume noflush;
	uint64_t ops;
	uint32_t sync_ops;

	workload_build(&wl, record_bytes);
	ops = workload_ops_for(&wl, opt->total_bytes);
	noflush = workload_volume(&wl, ops);
	fprintf(stderr, PROG ": %u B records: %u per batch, %zu B batches, %" PRIu64 " appends\n",
		record_bytes, wl.batch_records[0], wl.batch_len[0], ops);
	if (first) {
		fprintf(stderr, PROG ": warm-up round (unmeasured)\n");
		warm_up(scratch, opt, &wl, ops, &noflush);
	}
	sync_ops = sync_appends_for(scratch, opt, &wl, lat_ns);
	if (sync_ops < opt->sync_appends)
		printf("note: %u B fsync case cut to %u appends (fdatasync is slow here: "
		       "%u would take over %.0f s per run)\n", record_bytes, sync_ops,
		       opt->sync_appends, BENCH_SYNC_RUN_SECONDS);
	init_rows(rows, record_bytes, noflush, workload_volume(&wl, sync_ops));
	for (uint32_t rep = 0; rep < opt->reps; rep++) {
		fprintf(stderr, PROG ": %u B records: rep %u/%u\n", record_bytes, rep + 1, opt->reps);
		run_noflush_rep(scratch, opt, &wl, ops, rep, rows, buf);
		run_sync_rep(scratch, opt, &wl, rep, &rows[3], lat_ns);
	}
	workload_release(&wl);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct row rows[4 * BENCH_RECORD_SIZES_COUNT];
	uint8_t *buf = xalloc_aligned(BENCH_READ_SLICE_BYTES);
	uint64_t *lat_ns;

	setvbuf(stdout, NULL, _IOLBF, 0); /* progress (stderr) and table stay in order */
	parse_options(argc, argv, &opt);
	lat_ns = xmalloc(opt.sync_appends * sizeof(*lat_ns));
	make_scratch(&opt);
	printf("bench_storage: scratch %s, %" PRIu64 " MiB of log per no-flush case, up to %u "
	       "appends per fsync case, %u reps (medians), batches <= %u B\n",
	       scratch_dir, opt.total_bytes >> 20, opt.sync_appends, opt.reps,
	       BENCH_BATCH_BYTES);
	for (uint32_t i = 0; i < BENCH_RECORD_SIZES_COUNT; i++)
		run_size(scratch_dir, &opt, record_sizes[i], i == 0, &rows[4 * i], buf, lat_ns);
	remove_tree(scratch_dir);
	scratch_dir[0] = '\0';
	print_table(rows, 4 * BENCH_RECORD_SIZES_COUNT, opt.reps);
	print_spread(rows, 4 * BENCH_RECORD_SIZES_COUNT, opt.reps);
	if (opt.json_path) {
		write_json(opt.json_path, rows, 4 * BENCH_RECORD_SIZES_COUNT, &opt);
		printf("json: %s\n", opt.json_path);
	}
	free(lat_ns);
	free(buf);
	return 0;
}
