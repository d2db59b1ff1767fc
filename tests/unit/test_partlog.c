/*
 * Unit tests: partlog — append/read, recovery from a torn write at every
 * byte and a flipped bit at every bit of the last batch, damage in closed
 * segments, index loss and garbage (rebuilt, same answers), retention, time
 * lookups across segments with timestamps out of order, follower appends,
 * truncation, rolls by size and age, log.meta versions, flush policy, the
 * failed state, a full disk (appends cut back, rolls undone, hints skipped,
 * the preallocated reserve), and reopen giving the same state.
 *
 * A model of every record's timestamp is kept beside the log so answers can
 * be checked against brute force.
 */
#include "t.h"
#include "batch.h"
#include "bytes.h"
#include "crc32c.h"
#include "partlog.h"
#include "partlog_int.h" /* test_write_error_fails_log swaps a segment's descriptor */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define MODEL_MAX 20000
/* Timestamps the lookups are tried at: around the wobbly clock's range. */
#define TS_LO 99000
#define TS_HI 104000

static int64_t model_ts[MODEL_MAX]; /* timestamp of the record at each offset */

static int64_t test_clock(void *ctx)
{
	return *(const int64_t *)ctx;
}

/* A wobbly clock: mostly rising, but records go back in time now and then. */
static int64_t wobbly_ts(int64_t offset)
{
	return 100000 + offset * 10 + ((offset * 7919) % 13 - 6) * 40;
}

/*
 * One batch of n records with the given timestamps and values of vlen
 * bytes (derived from the timestamp); malloc'ed, since append rewrites it.
 */
static uint8_t *batch_make(uint32_t n, const int64_t *ts, size_t vlen, size_t *len)
{
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	static uint8_t value[8192];
	uint8_t *copy = NULL;

	if (vlen > sizeof(value))
		return NULL;
	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	for (uint32_t i = 0; i < n; i++) {
		struct elog_record r = {ts[i], (const uint8_t *)"k", 1, value, (int32_t)vlen, NULL, 0};
		for (size_t k = 0; k < vlen; k++)
			value[k] = (uint8_t)(ts[i] + (int64_t)k);
		if (elog_batch_builder_add(&b, &r, &err) < 0)
			goto out;
	}
	if (elog_batch_builder_finish(&b, &out, len, &err) < 0)
		goto out;
	copy = malloc(*len);
	memcpy(copy, out, *len);
out:
	elog_batch_builder_release(&b);
	return copy;
}

/* Append one leader batch of n records at the log's end, timestamps from ts_of. */
static int append_n(struct elog_partlog *log, uint32_t n, int64_t (*ts_of)(int64_t),
		    size_t vlen, uint64_t term, struct elog_err *err)
{
	int64_t ts[64], base = elog_partlog_next_offset(log), got;
	size_t len;
	uint8_t *buf;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		ts[i] = ts_of(base + i);
		if (base + i < MODEL_MAX)
			model_ts[base + i] = ts[i];
	}
	buf = batch_make(n, ts, vlen, &len);
	if (!buf)
		return elog_err_set(err, ELOG_E_NOMEM, "batch_make failed");
	rc = elog_partlog_append(log, buf, len, term, &got, err);
	free(buf);
	if (rc == 0 && got != base)
		return elog_err_set(err, ELOG_E_INVAL, "appended at %lld, expected %lld",
				    (long long)got, (long long)base);
	return rc;
}

/*
 * Fill with `batches` batches of 1..5 records (count cycling), wobbly
 * timestamps, in the log's current term (1 for an empty log).
 */
static int fill(struct elog_partlog *log, int batches, size_t vlen, struct elog_err *err)
{
	uint64_t term = elog_partlog_last_term(log) ? elog_partlog_last_term(log) : 1;

	for (int i = 0; i < batches; i++)
		if (append_n(log, (uint32_t)(i % 5) + 1, wobbly_ts, vlen, term, err) < 0)
			return -1;
	return 0;
}

static void config_small(struct elog_partlog_config *c)
{
	elog_partlog_config_default(c);
	c->segment_bytes = 4096;
	c->index_interval_bytes = 300;
	c->flush = ELOG_FLUSH_NEVER;
}

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
	if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
		abort(); /* test paths are short */
}

static void segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
	char name[32];

	elog_segment_name(name, sizeof(name), base, ext);
	path_join(out, cap, dir, name);
}

static uint8_t *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	buf[*len] = '\0'; /* text files are read with sscanf */
	return buf;
}

static int file_write(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Brute force: first offset in [start, next) whose record is at or after ts. */
static int64_t model_find(int64_t start, int64_t next, int64_t ts)
{
	for (int64_t o = start; o < next; o++)
		if (model_ts[o] >= ts)
			return o;
	return next;
}

/* Every record of the slice read back: offsets dense, timestamps as modelled. */
static int slice_verify(const uint8_t *buf, const struct elog_partlog_slice *sl,
			struct elog_err *err)
{
	struct elog_batch_reader r;
	struct elog_record_view *v = malloc(sizeof(*v));
	int64_t expected = sl->base_offset;
	uint32_t at = 0;
	int rc = 0, more;

	elog_batch_reader_init(&r);
	while (rc == 0 && at < sl->len) {
		rc = elog_batch_reader_open(&r, buf + at, sl->len - at, err);
		while (rc == 0 && (more = elog_batch_reader_next(&r, v, err)) == 1) {
			if (v->offset != expected || v->timestamp_ms != model_ts[v->offset])
				rc = elog_err_set(err, ELOG_E_CORRUPT, "offset %lld ts %lld",
						  (long long)v->offset, (long long)v->timestamp_ms);
			expected++;
		}
		if (rc == 0 && more < 0)
			rc = -1;
		at += elog_batch_total_size(&r.header);
	}
	if (rc == 0 && expected != sl->next_offset)
		rc = elog_err_set(err, ELOG_E_CORRUPT, "slice ends at %lld, says %lld",
				  (long long)expected, (long long)sl->next_offset);
	elog_batch_reader_release(&r);
	free(v);
	return rc;
}

/* ---------------------------------------------------------------- basics */

static void test_fresh_log_and_meta(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	char path[4200], sub[4200];
	size_t len;
	uint8_t *meta;

	config_small(&c);
	path_join(sub, sizeof(sub), dir, "p0"); /* missing directory: created */
	T_OK(elog_partlog_open(sub, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	T_EQ_INT(elog_partlog_next_offset(log), 0);
	T_EQ_INT(elog_partlog_last_term(log), 0);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_EQ_INT(rep.truncated_bytes, 0);
	elog_partlog_close(log);
	path_join(path, sizeof(path), sub, "log.meta");
	meta = file_read(path, &len);
	T_ASSERT(meta);
	T_CHECK(len == 15 && !memcmp(meta, "elog-partlog 1\n", 15));
	free(meta);
	/* an empty log reopens empty */
	T_OK(elog_partlog_open(sub, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), 0);
	T_EQ_INT(rep.segments, 1);
	elog_partlog_close(log);
}

static void test_append_read_every_offset(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_err err;
	static uint8_t buf[1 << 16];

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 200, 40, &err), &err);
	T_ASSERT(elog_partlog_segment_count(log) > 3);
	T_EQ_INT(elog_partlog_next_offset(log), 600);
	for (int64_t o = 0; o < 600; o++) {
		T_OK(elog_partlog_read(log, o, buf, sizeof(buf), &sl, &err), &err);
		T_ASSERT(sl.base_offset <= o && o < sl.next_offset);
		T_OK(slice_verify(buf, &sl, &err), &err);
	}
	/* a slice is the greedy run of whole batches that fit max_bytes */
	for (int64_t o = 0; o < 600; o += 7) {
		struct elog_partlog_slice one, run;
		uint32_t max_bytes = (uint32_t)(o * 13 % 3000);
		uint64_t len;
		T_OK(elog_partlog_locate(log, o, 0, &one, &err), &err);
		T_OK(elog_partlog_locate(log, o, max_bytes, &run, &err), &err);
		len = one.len;
		while (one.next_offset < 600) {
			struct elog_partlog_slice more;
			T_OK(elog_partlog_locate(log, one.next_offset, 0, &more, &err), &err);
			if (more.fd != one.fd || len + more.len > max_bytes)
				break;
			len += more.len;
			one.next_offset = more.next_offset;
		}
		T_ASSERT(run.len == len && run.next_offset == one.next_offset);
	}
	T_OK(elog_partlog_read(log, 600, buf, sizeof(buf), &sl, &err), &err);
	T_EQ_INT(sl.len, 0);
	T_EQ_INT(sl.next_offset, 600);
	T_CHECK(elog_partlog_read(log, 601, buf, sizeof(buf), &sl, &err) < 0 &&
		err.code == ELOG_E_RANGE);
	T_CHECK(elog_partlog_read(log, -1, buf, sizeof(buf), &sl, &err) < 0 &&
		err.code == ELOG_E_RANGE);
	elog_partlog_close(log);
}

/* Slices are whole batches; the first one whole even past max_bytes. */
static void test_read_mid_batch_and_limits(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl, one;
	struct elog_err err;
	static uint8_t buf[1 << 16];

	config_small(&c);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 30, 20, &err), &err); /* batches of 1..5 records */
	/* offset 11 is the 2nd record of the batch [10, 14] */
	T_OK(elog_partlog_locate(log, 11, 0, &one, &err), &err);
	T_EQ_INT(one.base_offset, 10);
	T_EQ_INT(one.next_offset, 15);
	T_ASSERT(one.len > 0);
	T_OK(elog_partlog_locate(log, 14, 1, &sl, &err), &err);
	T_CHECK(sl.position == one.position && sl.len == one.len);
	/* max_bytes exactly two batches' worth returns two */
	T_OK(elog_partlog_locate(log, 15, 0, &sl, &err), &err);
	{
		uint32_t first = sl.len;
		T_OK(elog_partlog_locate(log, 15, 100000, &sl, &err), &err);
		T_ASSERT(sl.len > first);
		T_OK(elog_partlog_read(log, 11, buf, sizeof(buf), &sl, &err), &err);
		T_EQ_INT(sl.base_offset, 10);
		T_OK(slice_verify(buf, &sl, &err), &err);
		T_CHECK(elog_partlog_read(log, 11, buf, one.len - 1, &sl, &err) < 0 &&
			err.code == ELOG_E_LIMIT);
		T_OK(elog_partlog_read(log, 11, buf, one.len, &sl, &err), &err);
		T_EQ_INT(sl.len, one.len);
	}
	elog_partlog_close(log);
}

static void test_reopen_identical_state(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t start, next;
	uint64_t size;
	uint32_t segs;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, 30, &err), &err);
	T_OK(append_n(log, 3, wobbly_ts, 30, 7, &err), &err);
	T_OK(elog_partlog_retain(log, 0, NULL, &err), &err);
	start = elog_partlog_start_offset(log);
	next = elog_partlog_next_offset(log);
	size = elog_partlog_size_bytes(log);
	segs = elog_partlog_segment_count(log);
	T_EQ_INT(elog_partlog_last_term(log), 7);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_start_offset(log), start);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(elog_partlog_flushed_offset(log), next);
	T_EQ_INT(elog_partlog_size_bytes(log), size);
	T_EQ_INT(elog_partlog_segment_count(log), segs);
	T_EQ_INT(elog_partlog_last_term(log), 7);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.indexes_rebuilt, 0);
	T_CHECK(rep.first_bad[0] == '\0');
	/* appends continue where they left off */
	T_OK(append_n(log, 2, wobbly_ts, 30, 7, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next + 2);
	elog_partlog_close(log);
}

/* The term of the last batch survives a reopen with an empty active segment. */
static void test_last_term_after_roll_reopen(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 40, 30, &err), &err);
	T_OK(append_n(log, 1, wobbly_ts, 30, 5, &err), &err);
	/* an oversized batch gets a segment of its own; cutting it away leaves
	 * that segment empty and the last batch in the segment before */
	{
		int64_t next = elog_partlog_next_offset(log);
		T_OK(append_n(log, 1, wobbly_ts, 3000, 5, &err), &err); /* oversized: own segment */
		T_OK(elog_partlog_truncate(log, next, &err), &err);
	}
	T_EQ_INT(elog_partlog_last_term(log), 5);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_last_term(log), 5);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- recovery */

struct built_log {
	uint8_t *bytes; /* the active segment file as written */
	size_t len;
	size_t last_start; /* byte position of the last batch */
	int64_t last_base;
	uint32_t last_records;
};

/* A one-segment log of a few batches; remembers where the last batch starts. */
static int build_small_log(const char *dir, struct built_log *b, struct elog_err *err)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	char path[4200];
	int rc;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	if (elog_partlog_open(dir, &c, &log, NULL, err) < 0)
		return -1;
	rc = fill(log, 6, 10, err);
	b->last_base = elog_partlog_next_offset(log);
	b->last_start = elog_partlog_size_bytes(log);
	/* small, since the tests reopen the log once per byte or bit of it */
	b->last_records = 2;
	if (rc == 0)
		rc = append_n(log, 2, wobbly_ts, 1, 2, err);
	elog_partlog_close(log);
	segment_path(path, sizeof(path), dir, 0, "log");
	b->bytes = file_read(path, &b->len);
	return rc;
}

/*
 * recovery.point as a crash after the last appends leaves it: the point,
 * but no durable end covering those appends (close writes one).
 */
static int rp_forget_durable(const char *dir)
{
	char path[4200], line[64];
	int n = snprintf(line, sizeof(line), "elog-recovery-point 0");

	n += snprintf(line + n, sizeof(line) - (size_t)n, " %08x\n",
		      elog_crc32c(0, line, (size_t)n));
	path_join(path, sizeof(path), dir, "recovery.point");
	return file_write(path, (const uint8_t *)line, (size_t)n);
}

/* Damage events, as a store would log them. */
struct events {
	int damage, index;
	struct elog_partlog_damage last;
	char index_file[32];
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
	}
}

/*
 * A torn write (no durable end covers it) cut at every byte of the last
 * batch recovers to the batch before; the same cut below a durable end is
 * damage: nothing cut, the lost offsets reported and unreadable.
 */
static void test_torn_write_every_byte(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct built_log b;
	struct elog_err err;
	char path[4200];

	T_OK(build_small_log(dir, &b, &err), &err);
	T_ASSERT(b.bytes && b.len > b.last_start);
	config_small(&c);
	c.segment_bytes = 1 << 20;
	segment_path(path, sizeof(path), dir, 0, "log");
	for (size_t cut = b.last_start; cut < b.len; cut++) {
		static uint8_t buf[1 << 16];
		struct elog_partlog_damage d;
		struct elog_partlog_slice sl;
		struct events ev = {0};
		/* below the durable end the close recorded: damage, nothing cut */
		char rp_path[4200];
		size_t rp_len;
		uint8_t *rp;
		path_join(rp_path, sizeof(rp_path), dir, "recovery.point");
		rp = file_read(rp_path, &rp_len);
		T_ASSERT(rp && file_write(path, b.bytes, cut) == 0);
		c.event = events_note;
		c.event_ctx = &ev;
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		c.event = NULL;
		T_EQ_INT(elog_partlog_next_offset(log), b.last_base + b.last_records);
		T_EQ_INT(rep.truncated_bytes, 0);
		T_EQ_INT(rep.damaged_extents, 1);
		T_EQ_INT(ev.damage, 1);
		T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
		T_EQ_INT(d.position, b.last_start);
		T_EQ_INT(d.end_position, cut);
		T_EQ_INT(d.offset, b.last_base);
		T_EQ_INT(d.end_offset, b.last_base + b.last_records);
		T_CHECK(elog_partlog_read(log, b.last_base, buf, sizeof(buf), &sl, &err) < 0 &&
			err.code == ELOG_E_DAMAGED && strstr(err.msg, "00000000000000000000.log byte"));
		T_OK(elog_partlog_read(log, 0, buf, sizeof(buf), &sl, &err), &err);
		T_EQ_INT(sl.next_offset, b.last_base); /* the slice stops before the damage */
		T_EQ_INT(file_size(path), (off_t)cut);
		elog_partlog_close(log);
		T_ASSERT(file_write(rp_path, rp, rp_len) == 0);
		free(rp);
		/* a crash's torn tail: cut */
		size_t torn = cut - b.last_start;
		T_ASSERT(file_write(path, b.bytes, cut) == 0);
		T_ASSERT(rp_forget_durable(dir) == 0);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(log), b.last_base);
		T_EQ_INT(elog_partlog_last_term(log), 1);
		if (rep.truncated_bytes != torn)
			fprintf(stderr, "# cut %zu: %s\n", cut, rep.first_bad);
		T_EQ_INT(rep.truncated_bytes, torn);
		/* records are counted when the header survived */
		T_EQ_INT(rep.truncated_records, torn >= ELOG_BATCH_HEADER_SIZE ? b.last_records : 0);
		T_CHECK(torn == 0 || strstr(rep.first_bad, "00000000000000000000.log: byte "));
		T_EQ_INT(file_size(path), (off_t)b.last_start);
		T_EQ_INT(rep.damaged_extents, 0);
		/* and the log takes appends again */
		T_OK(append_n(log, 2, wobbly_ts, 1, 2, &err), &err);
		elog_partlog_close(log);
	}
	free(b.bytes);
}

/*
 * Every single flipped bit of the last batch is detected: below the
 * durable end (a clean close) the batch is damage, kept and unreadable;
 * past it (a crash) it is cut as a torn write would be.
 */
static void test_flipped_bit_last_batch(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct built_log b;
	struct elog_err err;
	char path[4200], rp_path[4200];
	uint8_t *rp;
	size_t rp_len;

	T_OK(build_small_log(dir, &b, &err), &err);
	T_ASSERT(b.bytes);
	config_small(&c);
	c.segment_bytes = 1 << 20;
	segment_path(path, sizeof(path), dir, 0, "log");
	path_join(rp_path, sizeof(rp_path), dir, "recovery.point");
	rp = file_read(rp_path, &rp_len);
	T_ASSERT(rp);
	for (size_t bit = b.last_start * 8; bit < b.len * 8; bit++) {
		static uint8_t buf[1 << 16];
		struct elog_partlog_slice sl;
		b.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		T_ASSERT(file_write(path, b.bytes, b.len) == 0);
		T_ASSERT(file_write(rp_path, rp, rp_len) == 0);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		if (elog_partlog_next_offset(log) != b.last_base + b.last_records ||
		    rep.damaged_extents != 1 || rep.truncated_bytes != 0 ||
		    elog_partlog_read(log, b.last_base, buf, sizeof(buf), &sl, &err) == 0 ||
		    err.code != ELOG_E_DAMAGED) {
			char m[80];
			snprintf(m, sizeof(m), "bit %zu of the last batch, below the durable end",
				 bit - b.last_start * 8);
			t_fail(__FILE__, __LINE__, m);
			elog_partlog_close(log);
			break;
		}
		elog_partlog_close(log);
		T_ASSERT(file_write(path, b.bytes, b.len) == 0);
		b.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		T_ASSERT(rp_forget_durable(dir) == 0);
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		if (elog_partlog_next_offset(log) != b.last_base) {
			char m[64];
			snprintf(m, sizeof(m), "bit %zu of the last batch went unnoticed",
				 bit - b.last_start * 8);
			t_fail(__FILE__, __LINE__, m);
			elog_partlog_close(log);
			break;
		}
		T_EQ_INT(rep.truncated_bytes, b.len - b.last_start);
		T_CHECK(rep.first_bad[0] != '\0');
		elog_partlog_close(log);
	}
	free(rp);
	free(b.bytes);
}

/* Garbage after the last batch (a preallocated or zero-filled tail) is cut too. */
static void test_zero_tail_cut(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct built_log b;
	struct elog_err err;
	char path[4200];
	uint8_t *grown;

	T_OK(build_small_log(dir, &b, &err), &err);
	grown = calloc(1, b.len + 4096);
	memcpy(grown, b.bytes, b.len);
	segment_path(path, sizeof(path), dir, 0, "log");
	T_ASSERT(file_write(path, grown, b.len + 4096) == 0);
	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), b.last_base + b.last_records);
	T_EQ_INT(rep.truncated_bytes, 4096);
	T_EQ_INT(rep.truncated_records, 0);
	elog_partlog_close(log);
	free(grown);
	free(b.bytes);
}

/* A multi-segment log; returns the number of segments. */
static uint32_t build_segments(const char *dir, int batches, struct elog_err *err)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	uint32_t n = 0;

	config_small(&c);
	if (elog_partlog_open(dir, &c, &log, NULL, err) < 0)
		return 0;
	if (fill(log, batches, 40, err) == 0)
		n = elog_partlog_segment_count(log);
	elog_partlog_close(log);
	return n;
}

/* Base offsets of the segments of a log, via a fresh open. */
static uint32_t segment_bases(const char *dir, int64_t *bases, uint32_t cap)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	struct elog_partlog_slice sl;
	uint32_t n = 0;
	int64_t o;

	config_small(&c);
	if (elog_partlog_open(dir, &c, &log, NULL, &err) < 0)
		return 0;
	/* a segment starts where a slice's file descriptor changes */
	int prev_fd = -1;
	for (o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log) && n < cap;
	     o = sl.next_offset) {
		if (elog_partlog_locate(log, o, 0, &sl, &err) < 0)
			break;
		if (sl.fd != prev_fd)
			bases[n++] = o;
		prev_fd = sl.fd;
	}
	elog_partlog_close(log);
	return n;
}

/*
 * Closed segments are not CRC-scanned on open (recovery time would grow with
 * the whole log, not the active segment); damage there is found when it is
 * read, when its indexes need a rebuild, or at once when its first batch
 * does not carry the segment's base offset. Either way it is recorded as a
 * damaged extent, reported once, and never cut: everything around it reads.
 */
static void test_flipped_bit_closed_segment(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_slice sl, hit;
	struct elog_partlog_damage d;
	struct events ev = {0};
	struct elog_err err;
	static uint8_t buf[1 << 16];
	int64_t bases[64], got, next;
	char path[4200], idx_path[4200];
	uint8_t *bytes;
	size_t len, flip;
	int damaged = 0;

	T_ASSERT(build_segments(dir, 120, &err) >= 3);
	T_ASSERT(segment_bases(dir, bases, 64) >= 3);
	config_small(&c);
	c.event = events_note;
	c.event_ctx = &ev;
	/* a value byte of a batch in the middle of closed segment 1 */
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_partlog_locate(log, (bases[1] + bases[2]) / 2, 0, &hit, &err), &err);
	next = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	segment_path(path, sizeof(path), dir, bases[1], "log");
	segment_path(idx_path, sizeof(idx_path), dir, bases[1], "idx");
	bytes = file_read(path, &len);
	T_ASSERT(bytes && hit.position + hit.len <= len);
	flip = hit.position + hit.len - 3;
	bytes[flip] ^= 0x10;
	T_ASSERT(file_write(path, bytes, len) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(ev.damage, 0); /* not scanned at open */
	for (int64_t o = bases[1]; o < bases[2]; o++) {
		if (elog_partlog_read(log, o, buf, sizeof(buf), &sl, &err) == 0) {
			T_OK(slice_verify(buf, &sl, &err), &err);
			T_CHECK(sl.next_offset <= hit.base_offset || sl.base_offset >= hit.next_offset);
			continue;
		}
		T_ASSERT(err.code == ELOG_E_DAMAGED);
		T_CHECK(strstr(err.msg, ".log byte ") != NULL);
		T_CHECK(o >= hit.base_offset && o < hit.next_offset);
		damaged++;
	}
	T_EQ_INT(damaged, hit.next_offset - hit.base_offset);
	T_EQ_INT(ev.damage, 1); /* found once, reported once */
	T_EQ_INT(ev.last.position, hit.position);
	T_EQ_INT(ev.last.end_position, hit.position + hit.len);
	T_EQ_INT(elog_partlog_damage_end(log, hit.base_offset), hit.next_offset);
	/* find_time gives the right answer or says the batch it needs is damaged */
	for (int64_t ts = TS_LO; ts < TS_HI; ts += 5) {
		if (elog_partlog_find_time(log, ts, &got, &err) < 0)
			T_ASSERT(err.code == ELOG_E_DAMAGED);
		else
			T_ASSERT(got == model_find(0, next, ts));
	}
	elog_partlog_close(log);
	/* needing a rebuild, the segment is scanned at open: damage recorded, open goes on */
	unlink(idx_path);
	ev.damage = 0;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.damaged_extents, 1);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(ev.index, 0); /* the damage explains the rebuild */
	T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
	T_EQ_INT(d.offset, hit.base_offset);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_CHECK(elog_partlog_read(log, hit.base_offset, buf, sizeof(buf), &sl, &err) < 0 &&
		err.code == ELOG_E_DAMAGED);
	T_OK(elog_partlog_read(log, hit.next_offset, buf, sizeof(buf), &sl, &err), &err);
	elog_partlog_close(log);
	/* repaired, it reads whole again */
	bytes[flip] ^= 0x10;
	T_ASSERT(file_write(path, bytes, len) == 0);
	ev.damage = 0;
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	for (int64_t o = 0; o < next; o = sl.next_offset) {
		T_OK(elog_partlog_read(log, o, buf, sizeof(buf), &sl, &err), &err);
		T_OK(slice_verify(buf, &sl, &err), &err);
	}
	T_EQ_INT(ev.damage, 0);
	elog_partlog_close(log);
	/* a first batch that does not start at the segment's base: damage, found at open */
	bytes[0] ^= 0x01;
	T_ASSERT(file_write(path, bytes, len) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(ev.damage, 1);
	T_EQ_INT(ev.last.position, 0);
	T_EQ_INT(ev.last.offset, bases[1]);
	T_CHECK(strstr(ev.last.why, "first batch") || strstr(ev.last.why, "base offset"));
	T_CHECK(elog_partlog_read(log, bases[1], buf, sizeof(buf), &sl, &err) < 0 &&
		err.code == ELOG_E_DAMAGED && strstr(err.msg, "byte 0"));
	T_OK(elog_partlog_read(log, ev.last.end_offset, buf, sizeof(buf), &sl, &err), &err);
	T_OK(elog_partlog_read(log, 0, buf, sizeof(buf), &sl, &err), &err);
	elog_partlog_close(log);
	bytes[0] ^= 0x01;
	T_ASSERT(file_write(path, bytes, len) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	elog_partlog_close(log);
	free(bytes);
}

/* A closed segment cut short no longer reaches the next one: damage at its end. */
static void test_closed_segment_short(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_partlog_damage d;
	struct elog_partlog_slice sl;
	struct elog_err err;
	static uint8_t buf[1 << 16];
	int64_t bases[64], next;
	char path[4200];

	T_ASSERT(build_segments(dir, 80, &err) >= 3);
	T_ASSERT(segment_bases(dir, bases, 64) >= 3);
	segment_path(path, sizeof(path), dir, bases[0], "log");
	T_ASSERT(truncate(path, file_size(path) - 1) == 0);
	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	next = elog_partlog_next_offset(log);
	T_EQ_INT(rep.damaged_extents, 1);
	T_EQ_INT(elog_partlog_damage_list(log, &d, 1), 1);
	T_EQ_INT(d.end_offset, bases[1]);
	T_EQ_INT(d.end_position, file_size(path));
	T_CHECK(elog_partlog_read(log, bases[1] - 1, buf, sizeof(buf), &sl, &err) < 0 &&
		err.code == ELOG_E_DAMAGED);
	T_OK(elog_partlog_read(log, bases[1], buf, sizeof(buf), &sl, &err), &err);
	T_OK(elog_partlog_read(log, 0, buf, sizeof(buf), &sl, &err), &err);
	elog_partlog_close(log);
	T_EQ_INT(file_size(path) >= 0, 1);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- indexes */

struct answers {
	int64_t n;
	struct elog_partlog_slice *slices;
	int64_t *times;
};


static int answers_take(struct elog_partlog *log, struct answers *a, struct elog_err *err)
{
	int64_t start = elog_partlog_start_offset(log), next = elog_partlog_next_offset(log);

	a->n = next - start + 1;
	a->slices = calloc((size_t)a->n, sizeof(*a->slices));
	a->times = calloc(TS_HI - TS_LO, sizeof(*a->times));
	for (int64_t o = start; o <= next; o++) {
		if (elog_partlog_locate(log, o, 500, &a->slices[o - start], err) < 0)
			return -1;
		a->slices[o - start].fd = 0; /* differs between opens */
	}
	for (int64_t ts = TS_LO; ts < TS_HI; ts++)
		if (elog_partlog_find_time(log, ts, &a->times[ts - TS_LO], err) < 0)
			return -1;
	return 0;
}

static int answers_equal(const struct answers *x, const struct answers *y)
{
	return x->n == y->n && !memcmp(x->slices, y->slices, (size_t)x->n * sizeof(*x->slices)) &&
	       !memcmp(x->times, y->times, (TS_HI - TS_LO) * sizeof(*x->times));
}

static void answers_free(struct answers *a)
{
	free(a->slices);
	free(a->times);
}

/* Damage every index file with `how` and check the answers come back the same. */
static void index_damage_check(void (*how)(const char *path, uint32_t seed))
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;
	struct answers before, after;
	int64_t bases[64];
	uint32_t n;
	char path[4200];
	uint8_t *orig[64][2];
	size_t orig_len[64][2];
	static const char *const exts[2] = {"idx", "tix"};

	T_ASSERT(build_segments(dir, 150, &err) >= 4);
	n = segment_bases(dir, bases, 64);
	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(answers_take(log, &before, &err), &err);
	elog_partlog_close(log);
	for (uint32_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			segment_path(path, sizeof(path), dir, bases[i], exts[k]);
			orig[i][k] = file_read(path, &orig_len[i][k]);
			how(path, i * 2 + (uint32_t)k);
		}
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.indexes_rebuilt, n);
	T_OK(answers_take(log, &after, &err), &err);
	T_CHECK(answers_equal(&before, &after));
	/* the time answers are right, not just the same */
	for (int64_t ts = TS_LO; ts < TS_HI; ts++)
		T_ASSERT(after.times[ts - TS_LO] == model_find(0, elog_partlog_next_offset(log), ts));
	elog_partlog_close(log);
	/* the rebuilt files equal the ones written while appending */
	for (uint32_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			size_t len;
			uint8_t *now;
			segment_path(path, sizeof(path), dir, bases[i], exts[k]);
			now = file_read(path, &len);
			T_CHECK(now && orig[i][k] && len == orig_len[i][k] &&
				!memcmp(now, orig[i][k], len));
			free(now);
			free(orig[i][k]);
		}
	answers_free(&before);
	answers_free(&after);
}

static void damage_delete(const char *path, uint32_t seed)
{
	(void)seed;
	unlink(path);
}

static void damage_garbage(const char *path, uint32_t seed)
{
	uint8_t junk[333];
	uint32_t x = seed * 2654435761u + 1;
	size_t n = 16 * (seed % 5) + (seed % 3) * 7 + 8; /* sometimes whole entries */

	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	file_write(path, junk, n);
}

static void test_deleted_indexes_rebuilt(void)
{
	index_damage_check(damage_delete);
}

static void test_garbage_indexes_rebuilt(void)
{
	index_damage_check(damage_garbage);
}

/* ---------------------------------------------------------------- time */

static void test_find_time_across_segments(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t got, next;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 200, 40, &err), &err);
	T_ASSERT(elog_partlog_segment_count(log) >= 4);
	next = elog_partlog_next_offset(log);
	for (int64_t ts = TS_LO; ts < TS_HI + 2000; ts += 3) {
		T_OK(elog_partlog_find_time(log, ts, &got, &err), &err);
		T_ASSERT(got == model_find(0, next, ts));
	}
	/* each record's own timestamp finds it or an earlier record at or after it */
	for (int64_t o = 0; o < next; o++) {
		T_OK(elog_partlog_find_time(log, model_ts[o], &got, &err), &err);
		T_ASSERT(got <= o && model_ts[got] >= model_ts[o]);
	}
	/* after retention the answers start at start_offset */
	T_OK(elog_partlog_truncate(log, next, &err), &err);
	c.retention_bytes = 5000;
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_partlog_retain(log, 0, NULL, &err), &err);
	T_ASSERT(elog_partlog_start_offset(log) > 0);
	for (int64_t ts = TS_LO; ts < TS_HI; ts += 7) {
		T_OK(elog_partlog_find_time(log, ts, &got, &err), &err);
		T_ASSERT(got == model_find(elog_partlog_start_offset(log), next, ts));
	}
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- retention */

static int64_t ts_by_segment_clock;
static int64_t ts_fixed(int64_t offset)
{
	(void)offset;
	return ts_by_segment_clock;
}

static void test_retention_by_age(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t deleted, segs;

	config_small(&c);
	c.retention_ms = 1000;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	/* segment k holds records stamped 10000 * (k + 1), roughly */
	for (int i = 0; i < 120; i++) {
		ts_by_segment_clock = 10000 * (int64_t)elog_partlog_segment_count(log);
		T_OK(append_n(log, 2, ts_fixed, 60, 1, &err), &err);
	}
	segs = elog_partlog_segment_count(log);
	T_ASSERT(segs >= 5);
	/*
	 * Segment k's newest record is stamped 10000 * (k + 1) (the batch that
	 * rolls into k + 1 still carries k's stamp). A segment goes once its
	 * newest record is strictly older than now - retention_ms.
	 */
	T_OK(elog_partlog_retain(log, 10000 + 1000, &deleted, &err), &err);
	T_EQ_INT(deleted, 0);
	T_OK(elog_partlog_retain(log, 10000 + 1001, &deleted, &err), &err);
	T_EQ_INT(deleted, 1);
	T_OK(elog_partlog_retain(log, 30000 + 1000, &deleted, &err), &err);
	T_EQ_INT(deleted, 1);
	T_OK(elog_partlog_retain(log, 30000 + 1001, &deleted, &err), &err);
	T_EQ_INT(deleted, 1);
	T_EQ_INT(elog_partlog_segment_count(log), segs - 3);
	/* far future: everything closed goes, the active segment stays */
	T_OK(elog_partlog_retain(log, INT64_MAX, &deleted, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_EQ_INT(elog_partlog_next_offset(log), 240);
	T_ASSERT(elog_partlog_start_offset(log) > 0);
	/* reads below start are out of range; the rest still reads */
	{
		struct elog_partlog_slice sl;
		int64_t start = elog_partlog_start_offset(log);
		T_CHECK(elog_partlog_locate(log, start - 1, 0, &sl, &err) < 0 &&
			err.code == ELOG_E_RANGE);
		T_OK(elog_partlog_locate(log, start, 0, &sl, &err), &err);
		T_CHECK(elog_partlog_truncate(log, start - 1, &err) < 0 && err.code == ELOG_E_RANGE);
	}
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	elog_partlog_close(log);
}

/*
 * A segment holding one unexpired record among expired ones is kept, and so
 * is every segment after it: retention only ever removes the oldest.
 */
static void test_retention_keeps_unexpired(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t deleted;

	config_small(&c);
	c.retention_ms = 100;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	for (int i = 0; elog_partlog_segment_count(log) < 3; i++) {
		/* segment 0 has one record at 50000 in the middle, the rest at 1000 */
		ts_by_segment_clock = i == 5 ? 50000 : 1000;
		T_OK(append_n(log, 2, ts_fixed, 60, 1, &err), &err);
	}
	T_OK(elog_partlog_retain(log, 50100, &deleted, &err), &err);
	T_EQ_INT(deleted, 0); /* segment 1 has expired, but segment 0 has not */
	T_EQ_INT(elog_partlog_start_offset(log), 0);
	T_OK(elog_partlog_retain(log, 50101, &deleted, &err), &err);
	T_EQ_INT(deleted, 2);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	elog_partlog_close(log);
}

static void test_retention_by_size(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint32_t deleted, segs;
	int64_t start;

	config_small(&c);
	c.retention_bytes = 10000;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 200, 40, &err), &err);
	segs = elog_partlog_segment_count(log);
	T_ASSERT(elog_partlog_size_bytes(log) > 30000);
	start = elog_partlog_start_offset(log);
	T_OK(elog_partlog_retain(log, 0, &deleted, &err), &err);
	T_ASSERT(deleted > 0);
	T_EQ_INT(elog_partlog_segment_count(log), segs - deleted);
	T_ASSERT(elog_partlog_size_bytes(log) <= 10000);
	/* the oldest went: the log still runs densely from the new start */
	T_ASSERT(elog_partlog_start_offset(log) > start);
	{
		struct elog_partlog_slice sl;
		for (int64_t o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log);
		     o = sl.next_offset)
			T_OK(elog_partlog_locate(log, o, 0, &sl, &err), &err);
	}
	/* a tiny limit still never takes the active segment */
	elog_partlog_close(log);
	c.retention_bytes = 0;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_partlog_retain(log, 0, &deleted, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_ASSERT(elog_partlog_size_bytes(log) > 0);
	T_EQ_INT(elog_partlog_next_offset(log), 600);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- follower */

/* A follower batch: offsets and term set as a leader would. */
static uint8_t *follower_batch(int64_t base, uint32_t n, uint64_t term, size_t *len)
{
	int64_t ts[64];
	uint8_t *buf;

	for (uint32_t i = 0; i < n; i++) {
		ts[i] = wobbly_ts(base + i);
		if (base + i >= 0 && base + i < MODEL_MAX)
			model_ts[base + i] = ts[i];
	}
	buf = batch_make(n, ts, 16, len);
	if (buf)
		elog_batch_assign(buf, base, term);
	return buf;
}

static void test_append_at_gap_overlap_term(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	uint8_t *b;
	size_t len;
	char path[4200];
	off_t size;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	b = follower_batch(0, 3, 2, &len);
	T_OK(elog_partlog_append_at(log, b, len, &err), &err);
	free(b);
	T_EQ_INT(elog_partlog_next_offset(log), 3);
	T_EQ_INT(elog_partlog_last_term(log), 2);
	segment_path(path, sizeof(path), dir, 0, "log");
	size = file_size(path);

	b = follower_batch(4, 2, 2, &len);
	T_CHECK(elog_partlog_append_at(log, b, len, &err) < 0 && err.code == ELOG_E_GAP);
	T_CHECK(strstr(err.msg, "4") && strstr(err.msg, "3"));
	free(b);
	b = follower_batch(2, 2, 2, &len);
	T_CHECK(elog_partlog_append_at(log, b, len, &err) < 0 && err.code == ELOG_E_OVERLAP);
	free(b);
	b = follower_batch(3, 2, 1, &len); /* lower term */
	T_CHECK(elog_partlog_append_at(log, b, len, &err) < 0 && err.code == ELOG_E_INVAL);
	free(b);
	/* a corrupted batch is refused too */
	b = follower_batch(3, 2, 2, &len);
	b[len - 1] ^= 1;
	T_CHECK(elog_partlog_append_at(log, b, len, &err) < 0 && err.code == ELOG_E_CORRUPT);
	free(b);
	/* nothing was written by any of them */
	T_EQ_INT(file_size(path), size);
	T_EQ_INT(elog_partlog_next_offset(log), 3);
	/* a leader append with a lower term is refused as well */
	T_CHECK(append_n(log, 1, wobbly_ts, 10, 1, &err) < 0 && err.code == ELOG_E_INVAL);
	b = follower_batch(3, 2, 3, &len);
	T_OK(elog_partlog_append_at(log, b, len, &err), &err);
	free(b);
	T_EQ_INT(elog_partlog_next_offset(log), 5);
	T_EQ_INT(elog_partlog_last_term(log), 3);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- truncate */

/* Base offsets of every batch, by walking locate. */
static int batch_bases(struct elog_partlog *log, int64_t *out, int cap)
{
	struct elog_partlog_slice sl;
	struct elog_err err;
	int n = 0;

	for (int64_t o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log) && n < cap;
	     o = sl.next_offset) {
		if (elog_partlog_locate(log, o, 0, &sl, &err) < 0)
			return -1;
		out[n++] = sl.base_offset;
	}
	return n;
}

static void test_truncate_then_append(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_partlog_slice sl;
	struct elog_err err;
	static int64_t bases[1000];
	static uint8_t buf[1 << 16];
	int n;
	uint32_t segs;
	int64_t cut, got;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, 40, &err), &err);
	T_OK(append_n(log, 2, wobbly_ts, 40, 3, &err), &err);
	n = batch_bases(log, bases, 1000);
	T_ASSERT(n == 101);
	segs = elog_partlog_segment_count(log);
	T_ASSERT(segs >= 3);
	/* inside a batch: refused */
	T_CHECK(elog_partlog_truncate(log, bases[n - 2] + 1, &err) < 0 && err.code == ELOG_E_INVAL);
	T_CHECK(elog_partlog_truncate(log, elog_partlog_next_offset(log) + 1, &err) < 0 &&
		err.code == ELOG_E_RANGE);
	/* within the active segment */
	T_OK(elog_partlog_truncate(log, bases[n - 1], &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), bases[n - 1]);
	T_EQ_INT(elog_partlog_flushed_offset(log), bases[n - 1]);
	T_EQ_INT(elog_partlog_last_term(log), 1);
	T_OK(append_n(log, 4, wobbly_ts, 40, 4, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), bases[n - 1] + 4);
	/* across segments, to the middle of the first one */
	cut = bases[5];
	T_OK(elog_partlog_truncate(log, cut, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_EQ_INT(elog_partlog_next_offset(log), cut);
	T_EQ_INT(elog_partlog_last_term(log), 1);
	T_OK(append_n(log, 2, wobbly_ts, 40, 5, &err), &err);
	T_OK(elog_partlog_read(log, cut, buf, sizeof(buf), &sl, &err), &err);
	T_EQ_INT(sl.base_offset, cut);
	T_OK(slice_verify(buf, &sl, &err), &err);
	/* time lookups see the new tail, not the old one */
	T_OK(elog_partlog_find_time(log, model_ts[cut], &got, &err), &err);
	T_ASSERT(got == model_find(0, cut + 2, model_ts[cut]));
	/* the log grows into new segments again and survives a reopen */
	T_OK(fill(log, 100, 40, &err), &err);
	{
		int64_t next = elog_partlog_next_offset(log);
		uint32_t s2 = elog_partlog_segment_count(log);
		T_ASSERT(s2 >= 3);
		elog_partlog_close(log);
		T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(log), next);
		T_EQ_INT(elog_partlog_segment_count(log), s2);
		for (int64_t o = 0; o < next; o++) {
			T_OK(elog_partlog_read(log, o, buf, sizeof(buf), &sl, &err), &err);
			T_OK(slice_verify(buf, &sl, &err), &err);
		}
	}
	elog_partlog_close(log);
}

/* Truncation to a segment's first offset, then reopen: the empty segment is active. */
static void test_truncate_to_segment_base_reopen(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64];
	uint32_t n;

	T_ASSERT(build_segments(dir, 100, &err) >= 4);
	n = segment_bases(dir, bases, 64);
	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(elog_partlog_truncate(log, bases[2], &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 3);
	T_EQ_INT(elog_partlog_next_offset(log), bases[2]);
	/* the files of the newer segments are gone, the cut one is empty (and
	 * its indexes, mapped while it was closed, emptied on the heap) */
	for (uint32_t i = 2; i < n; i++) {
		static const char *const exts[3] = {"log", "idx", "tix"};
		char path[4200];
		for (int k = 0; k < 3; k++) {
			segment_path(path, sizeof(path), dir, bases[i], exts[k]);
			T_CHECK(i == 2 ? file_size(path) == 0 : file_size(path) < 0);
		}
	}
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 3);
	T_EQ_INT(elog_partlog_next_offset(log), bases[2]);
	T_EQ_INT(elog_partlog_last_term(log), 1);
	T_OK(fill(log, 10, 40, &err), &err);
	/* the same without a reopen in between: appends index into the emptied heap copy */
	T_OK(elog_partlog_truncate(log, bases[1], &err), &err);
	T_OK(fill(log, 30, 40, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), bases[1] + 90);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- roll */

static void test_roll_by_size(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t bases[64], before;
	uint32_t n;
	char path[4200];

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, 40, &err), &err);
	/* a batch larger than a segment goes alone into a fresh one */
	before = elog_partlog_next_offset(log);
	T_OK(append_n(log, 2, wobbly_ts, 3000, 1, &err), &err);
	T_OK(append_n(log, 1, wobbly_ts, 40, 1, &err), &err);
	elog_partlog_close(log);
	n = segment_bases(dir, bases, 64);
	T_ASSERT(n >= 4);
	for (uint32_t i = 0; i < n; i++) {
		off_t size;
		segment_path(path, sizeof(path), dir, bases[i], "log");
		size = file_size(path);
		if (bases[i] == before)
			T_CHECK(size > 4096 && i + 2 == n && bases[i + 1] == before + 2);
		else
			T_CHECK(size > 0 && size <= 4096);
	}
}

static void test_roll_by_age(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t now = 1000000;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	c.segment_ms = 1000;
	c.clock_ms = test_clock;
	c.clock_ctx = &now;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	/* an empty segment never rolls, however old */
	now += 5000;
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	now += 999;
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	now += 1; /* the first append into the segment was 1000 ms ago */
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	now += 10;
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	/* after a reopen the age counts from the open */
	elog_partlog_close(log);
	now += 900;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	now += 999;
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	now += 1;
	T_OK(append_n(log, 1, wobbly_ts, 10, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 3);
	elog_partlog_close(log);
}

/* ---------------------------------------------------------------- meta */

static void test_meta_versions(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	char path[4200];
	static const char *const garbage[] = {
		"", "elog-partlog\n", "elog-partlog 1", "elog-partlog 1\nx", "elog-partlog 0\n",
		"elog-partlog x\n", "kafka 1\n", "elog-partlog 99999999999\n",
	};

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 3, 10, &err), &err);
	elog_partlog_close(log);
	path_join(path, sizeof(path), dir, "log.meta");
	T_ASSERT(file_write(path, (const uint8_t *)"elog-partlog 2\n", 15) == 0);
	T_CHECK(elog_partlog_open(dir, &c, &log, NULL, &err) < 0 && err.code == ELOG_E_VERSION);
	T_CHECK(strstr(err.msg, "log.meta: written by format version 2, this build reads 1") != NULL);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		T_ASSERT(file_write(path, (const uint8_t *)garbage[i], strlen(garbage[i])) == 0);
		T_CHECK(elog_partlog_open(dir, &c, &log, NULL, &err) < 0 &&
			err.code == ELOG_E_CORRUPT);
	}
	/* segments without a log.meta are not taken for a fresh log */
	unlink(path);
	T_CHECK(elog_partlog_open(dir, &c, &log, NULL, &err) < 0 && err.code == ELOG_E_CORRUPT);
	T_ASSERT(file_write(path, (const uint8_t *)"elog-partlog 1\n", 15) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), 6);
	elog_partlog_close(log);
}

/*
 * create_unsynced: a new log is made without fsyncs (the owner syncs the
 * filesystem); a crash can leave its log.meta empty, which an open then
 * writes again when there are no segments, and refuses when there are.
 */
static void test_meta_create_unsynced(void)
{
	char sub[4200], path[4200];
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c);
	c.create_unsynced = 1;
	path_join(sub, sizeof(sub), t_tmpdir(), "p0");
	T_OK(elog_partlog_open(sub, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.created, 1);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(sub, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.created, 0);
	elog_partlog_close(log);
	/* empty log.meta, only the empty first segment: made again */
	path_join(path, sizeof(path), sub, "log.meta");
	T_ASSERT(file_write(path, (const uint8_t *)"", 0) == 0);
	path_join(path, sizeof(path), sub, "00000000000000000000.log");
	T_ASSERT(unlink(path) == 0);
	T_OK(elog_partlog_open(sub, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.created, 1);
	T_OK(fill(log, 2, 10, &err), &err);
	elog_partlog_close(log);
	/* with segments it is damage, not a create cut short */
	path_join(path, sizeof(path), sub, "log.meta");
	T_ASSERT(file_write(path, (const uint8_t *)"", 0) == 0);
	T_CHECK(elog_partlog_open(sub, &c, &log, NULL, &err) < 0 && err.code == ELOG_E_CORRUPT);
}

/* Unknown files are left alone; index files without a .log are removed. */
static void test_stray_files(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	char path[4200];

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	elog_partlog_close(log);
	path_join(path, sizeof(path), dir, "raft.state");
	T_ASSERT(file_write(path, (const uint8_t *)"x", 1) == 0);
	segment_path(path, sizeof(path), dir, 777, "idx");
	T_ASSERT(file_write(path, (const uint8_t *)"12345678", 8) == 0);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	elog_partlog_close(log);
	T_CHECK(file_size(path) < 0);
	path_join(path, sizeof(path), dir, "raft.state");
	T_CHECK(file_size(path) == 1);
}

/* ---------------------------------------------------------------- flush, failure */

static void test_flush_always(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;

	config_small(&c);
	c.flush = ELOG_FLUSH_ALWAYS;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	for (int i = 0; i < 60; i++) {
		T_OK(append_n(log, (uint32_t)(i % 3) + 1, wobbly_ts, 100, 1, &err), &err);
		T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	}
	T_ASSERT(elog_partlog_segment_count(log) > 1);
	elog_partlog_close(log);
	/* under NEVER, flush() is what moves it */
	c.flush = ELOG_FLUSH_NEVER;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(append_n(log, 1, wobbly_ts, 100, 1, &err), &err);
	T_CHECK(elog_partlog_flushed_offset(log) < elog_partlog_next_offset(log));
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	elog_partlog_close(log);
}

/* Every offset of the log reads back as modelled. */
static int read_all(struct elog_partlog *log, struct elog_err *err)
{
	static uint8_t buf[1 << 16];
	struct elog_partlog_slice sl;

	for (int64_t o = elog_partlog_start_offset(log); o < elog_partlog_next_offset(log);
	     o = sl.next_offset)
		if (elog_partlog_read(log, o, buf, sizeof(buf), &sl, err) < 0 ||
		    slice_verify(buf, &sl, err) < 0)
			return -1;
	return 0;
}

/*
 * A write error other than a full disk fails the log for good, with the
 * first reason. (The segment's descriptor is swapped for a read-only one:
 * the write gets EBADF.)
 */
static void test_write_error_fails_log(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err, first;
	struct elog_partlog_slice sl;
	char path[4200];
	int64_t found;
	int ro;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 5, 10, &err), &err);
	segment_path(path, sizeof(path), dir, 0, "log");
	ro = open(path, O_RDONLY);
	T_ASSERT(ro >= 0);
	T_ASSERT(dup2(ro, log->segments[0].fd) >= 0);
	close(ro);
	T_CHECK(append_n(log, 3, wobbly_ts, 100, 1, &first) < 0 && first.code == ELOG_E_IO);
	T_CHECK(elog_partlog_failed(log, &err) && err.code == ELOG_E_FAILED);
	T_CHECK(!strcmp(err.msg, first.msg));
	T_CHECK(append_n(log, 1, wobbly_ts, 10, 1, &err) < 0 && err.code == ELOG_E_FAILED);
	T_CHECK(!strcmp(err.msg, first.msg));
	T_CHECK(elog_partlog_flush(log, &err) < 0 && err.code == ELOG_E_FAILED);
	T_CHECK(elog_partlog_locate(log, 0, 0, &sl, &err) < 0 && err.code == ELOG_E_FAILED);
	T_CHECK(elog_partlog_find_time(log, 0, &found, &err) < 0 && err.code == ELOG_E_FAILED);
	T_CHECK(elog_partlog_truncate(log, 0, &err) < 0 && err.code == ELOG_E_FAILED);
	elog_partlog_close(log);
	{
		struct elog_partlog_recovery rep;
		T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(log), 15);
		T_EQ_INT(rep.truncated_bytes, 0);
		elog_partlog_close(log);
	}
}

/* ---------------------------------------------------------------- a full disk */

/*
 * RLIMIT_FSIZE stands in for a full disk: with SIGXFSZ ignored, a write
 * past the limit fails with EFBIG, which partlog treats as ENOSPC. The
 * tests restore the limit before any T_ASSERT can leave them.
 */
static struct rlimit fsize_saved;

static int fsize_limit(rlim_t bytes)
{
	struct rlimit r;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &fsize_saved);
	r = fsize_saved;
	r.rlim_cur = bytes;
	return setrlimit(RLIMIT_FSIZE, &r);
}

static void fsize_restore(void)
{
	setrlimit(RLIMIT_FSIZE, &fsize_saved);
}

static int file_exists(const char *dir, const char *name)
{
	char path[4200];

	path_join(path, sizeof(path), dir, name);
	return access(path, F_OK) == 0;
}

/* A write that finds no room is cut back; the log stays usable and takes it later. */
static void nospace_append_check(enum elog_flush_policy flush)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err, full;
	char path[4200];
	int64_t next;
	uint64_t size;
	int rc;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	c.flush = flush;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 20, 40, &err), &err);
	next = elog_partlog_next_offset(log);
	size = elog_partlog_size_bytes(log);
	T_ASSERT(fsize_limit((rlim_t)size + 10) == 0);
	rc = append_n(log, 3, wobbly_ts, 100, 1, &full); /* 10 bytes of it get written */
	fsize_restore();
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(strstr(full.msg, "00000000000000000000.log: cannot write") != NULL);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(elog_partlog_size_bytes(log), size);
	segment_path(path, sizeof(path), dir, 0, "log");
	T_EQ_INT(file_size(path), size); /* cut back */
	T_OK(read_all(log, &err), &err);
	/* room again: the same append goes in at the same offset */
	T_OK(append_n(log, 3, wobbly_ts, 100, 1, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), next + 3);
	T_OK(elog_partlog_flush(log, &err), &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), next + 3);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next + 3);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

static void test_nospace_append_cut_back(void)
{
	nospace_append_check(ELOG_FLUSH_NEVER);
	nospace_append_check(ELOG_FLUSH_ALWAYS);
}

/*
 * A roll whose index writes find no room is undone: the segment stays the
 * active one, its closing .tix entry and any bytes of it are gone, no file
 * of the new segment is left, and the next append rolls as if nothing
 * happened.
 */
static void nospace_roll_check(enum elog_flush_policy flush)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err, full;
	char path[4200], name[32];
	int64_t next;
	off_t tix_size;
	int rc;

	config_small(&c);
	c.flush = flush;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	/* fill the first segment up to where the next such batch rolls */
	do
		T_OK(append_n(log, 2, wobbly_ts, 100, 1, &err), &err);
	while (elog_partlog_size_bytes(log) * (elog_partlog_next_offset(log) + 2) /
		       elog_partlog_next_offset(log) <= c.segment_bytes);
	T_ASSERT(elog_partlog_segment_count(log) == 1);
	next = elog_partlog_next_offset(log);
	segment_path(path, sizeof(path), dir, 0, "tix");
	tix_size = file_size(path);
	T_ASSERT(fsize_limit(0) == 0);
	rc = append_n(log, 2, wobbly_ts, 100, 1, &full);
	fsize_restore();
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(strstr(full.msg, ".tix: cannot write") || strstr(full.msg, ".idx: cannot write"));
	T_CHECK(!elog_partlog_failed(log, &err));
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(file_size(path), tix_size);
	elog_segment_name(name, sizeof(name), next, "log");
	T_CHECK(!file_exists(dir, name));
	T_OK(read_all(log, &err), &err);
	/* room again: it rolls */
	T_OK(append_n(log, 2, wobbly_ts, 100, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	T_OK(fill(log, 30, 40, &err), &err);
	next = elog_partlog_next_offset(log);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(rep.indexes_rebuilt, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

static void test_nospace_roll_undone(void)
{
	nospace_roll_check(ELOG_FLUSH_NEVER);
	nospace_roll_check(ELOG_FLUSH_ALWAYS);
}

/* The recovery point's line: what recovery.point holds now. */
static int64_t rp_file(const char *dir)
{
	char path[4200];
	size_t len;
	uint8_t *text;
	long long v = -1;

	path_join(path, sizeof(path), dir, "recovery.point");
	text = file_read(path, &len);
	if (text && len > 20 && sscanf((const char *)text + 20, "%lld", &v) != 1)
		v = -1;
	free(text);
	return (int64_t)v;
}

/*
 * Hints find no room quietly: a flush keeps the recovery point where it
 * was (and still syncs), close skips the active indexes, open keeps
 * rebuilt indexes in memory. A new log cannot be made without room.
 */
static void test_nospace_hints(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err, full;
	char path[4200], sub[4200];
	int64_t next, base, active;
	int rc;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, 40, &err), &err);
	T_ASSERT(elog_partlog_segment_count(log) > 3);
	T_EQ_INT(rp_file(dir), 0);
	T_ASSERT(fsize_limit(0) == 0);
	rc = elog_partlog_flush(log, &err);
	fsize_restore();
	T_OK(rc, &err);
	T_EQ_INT(elog_partlog_flushed_offset(log), elog_partlog_next_offset(log));
	T_EQ_INT(rp_file(dir), 0);
	T_CHECK(!file_exists(dir, "recovery.point.tmp"));
	/* room again: the next flush moves it */
	T_OK(elog_partlog_flush(log, &err), &err);
	base = rp_file(dir);
	T_CHECK(base > 0);
	/*
	 * Close without room for the active indexes (files may not pass 40
	 * bytes: recovery.point fits, the indexes do not): the flush still
	 * runs, and moves the recovery point past the segments rolled since.
	 */
	T_OK(fill(log, 30, 40, &err), &err);
	next = elog_partlog_next_offset(log);
	active = elog_partlog_active(log)->base_offset;
	T_ASSERT(active > base && elog_partlog_active(log)->ix.idx.count > 5);
	T_ASSERT(fsize_limit(40) == 0);
	elog_partlog_close(log);
	fsize_restore();
	T_EQ_INT(rp_file(dir), active);
	/* open on a full disk, a closed segment's index lost: rebuilt in memory only */
	segment_path(path, sizeof(path), dir, 0, "idx");
	T_ASSERT(unlink(path) == 0);
	T_ASSERT(fsize_limit(0) == 0);
	rc = elog_partlog_open(dir, &c, &log, &rep, &err);
	if (rc == 0) {
		T_CHECK(!file_exists(dir, "00000000000000000000.idx"));
		T_CHECK(read_all(log, &err) == 0);
		T_CHECK(append_n(log, 1, wobbly_ts, 40, 1, &full) < 0 &&
			full.code == ELOG_E_NOSPACE);
		T_CHECK(!elog_partlog_failed(log, NULL));
	}
	fsize_restore();
	T_OK(rc, &err);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_OK(read_all(log, &err), &err);
	T_OK(append_n(log, 1, wobbly_ts, 40, 1, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, &rep, &err), &err);
	T_CHECK(rep.indexes_rebuilt >= 1);
	T_CHECK(file_exists(dir, "00000000000000000000.idx"));
	T_EQ_INT(elog_partlog_next_offset(log), next + 1);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
	/* a new log needs room for its log.meta */
	path_join(sub, sizeof(sub), dir, "new");
	T_ASSERT(fsize_limit(0) == 0);
	rc = elog_partlog_open(sub, &c, &log, NULL, &full);
	fsize_restore();
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(!file_exists(sub, "log.meta") && !file_exists(sub, "log.meta.tmp"));
	T_OK(elog_partlog_open(sub, &c, &log, NULL, &err), &err);
	elog_partlog_close(log);
}

/* A truncation that cannot lower the recovery point changes nothing. */
static void test_nospace_truncate(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err, full;
	int64_t next, rp;
	uint32_t segments;
	int rc;

	config_small(&c);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_OK(fill(log, 100, 40, &err), &err);
	T_OK(elog_partlog_flush(log, &err), &err);
	next = elog_partlog_next_offset(log);
	segments = elog_partlog_segment_count(log);
	rp = rp_file(dir);
	T_ASSERT(rp > 1 && segments > 3);
	T_ASSERT(fsize_limit(0) == 0);
	rc = elog_partlog_truncate(log, 1, &full); /* the first batch holds 1 record */
	fsize_restore();
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_EQ_INT(elog_partlog_next_offset(log), next);
	T_EQ_INT(elog_partlog_segment_count(log), segments);
	T_EQ_INT(rp_file(dir), rp);
	T_OK(read_all(log, &err), &err);
	T_OK(elog_partlog_truncate(log, 1, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), 1);
	T_EQ_INT(rp_file(dir), 0);
	T_OK(append_n(log, 2, wobbly_ts, 40, 1, &err), &err);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	T_EQ_INT(elog_partlog_next_offset(log), 3);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

/*
 * A real full disk, on a tmpfs (needs root; skipped otherwise): out of
 * blocks, an append is cut back; out of inodes, a roll is undone; both
 * work once the filesystem grows, without reopening.
 */
static char tmpfs_dir[4096];

static int tmpfs_mount(const char *options)
{
	snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s", t_tmpdir());
	if (mount("tmpfs", tmpfs_dir, "tmpfs", 0, options) == 0)
		return 0;
	fprintf(stderr, "# skip %s: cannot mount a tmpfs (%s): needs root\n", t_current,
		strerror(errno));
	return -1;
}

static int tmpfs_remount(const char *options)
{
	return mount("tmpfs", tmpfs_dir, "tmpfs", MS_REMOUNT, options);
}

static void tmpfs_full_body(void)
{
	struct elog_partlog_config c;
	struct elog_partlog_recovery rep;
	struct elog_partlog *log;
	struct elog_err err, full;
	struct statvfs st;
	char path[4200], inodes[64];
	int64_t next;
	int rc = 0, appended = 0;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	T_OK(elog_partlog_open(tmpfs_dir, &c, &log, NULL, &err), &err);
	while (appended < 10000 && (rc = append_n(log, 4, wobbly_ts, 1000, 1, &full)) == 0)
		appended++;
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE && appended > 10);
	T_CHECK(strstr(full.msg, "No space left on device") != NULL);
	T_CHECK(!elog_partlog_failed(log, &err));
	segment_path(path, sizeof(path), tmpfs_dir, 0, "log");
	T_EQ_INT(file_size(path), elog_partlog_size_bytes(log));
	T_OK(read_all(log, &err), &err);
	T_ASSERT(tmpfs_remount("size=4m") == 0);
	next = elog_partlog_next_offset(log);
	T_OK(append_n(log, 4, wobbly_ts, 1000, 1, &err), &err);
	/* out of inodes: the roll cannot create the new segment's files */
	c.segment_bytes = elog_partlog_size_bytes(log);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(tmpfs_dir, &c, &log, NULL, &err), &err);
	T_ASSERT(statvfs(tmpfs_dir, &st) == 0);
	snprintf(inodes, sizeof(inodes), "nr_inodes=%llu",
		 (unsigned long long)(st.f_files - st.f_ffree + 1));
	T_ASSERT(tmpfs_remount(inodes) == 0);
	rc = append_n(log, 4, wobbly_ts, 1000, 1, &full);
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_EQ_INT(elog_partlog_segment_count(log), 1);
	T_EQ_INT(elog_partlog_next_offset(log), next + 4);
	T_ASSERT(tmpfs_remount("nr_inodes=1000") == 0);
	T_OK(append_n(log, 4, wobbly_ts, 1000, 1, &err), &err);
	T_EQ_INT(elog_partlog_segment_count(log), 2);
	elog_partlog_close(log);
	T_OK(elog_partlog_open(tmpfs_dir, &c, &log, &rep, &err), &err);
	T_EQ_INT(rep.truncated_bytes, 0);
	T_EQ_INT(elog_partlog_next_offset(log), next + 8);
	T_OK(read_all(log, &err), &err);
	elog_partlog_close(log);
}

static void test_nospace_tmpfs(void)
{
	if (tmpfs_mount("size=256k") < 0)
		return;
	tmpfs_full_body();
	T_CHECK(umount2(tmpfs_dir, MNT_DETACH) == 0);
}

/*
 * preallocate_bytes (the metadata log's reserve): with the filesystem
 * filled by someone else, appends of up to half of it still go in.
 */
static void preallocate_body(void)
{
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err, full;
	char path[4200];
	static uint8_t block[4096];
	int fd, rc, appended = 0;

	config_small(&c);
	c.segment_bytes = 1 << 20;
	c.preallocate_bytes = 64 << 10;
	T_OK(elog_partlog_open(tmpfs_dir, &c, &log, NULL, &err), &err);
	T_OK(append_n(log, 1, wobbly_ts, 1000, 1, &err), &err);
	path_join(path, sizeof(path), tmpfs_dir, "filler");
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	/* 30 x ~1 KiB: within the half of the reserve that is always there */
	for (int i = 0; i < 30; i++)
		T_OK(append_n(log, 1, wobbly_ts, 1000, 1, &err), &err);
	while (appended < 1000 && (rc = append_n(log, 1, wobbly_ts, 1000, 1, &full)) == 0)
		appended++;
	T_CHECK(rc < 0 && full.code == ELOG_E_NOSPACE);
	T_CHECK(!elog_partlog_failed(log, &err));
	T_OK(read_all(log, &err), &err);
	T_ASSERT(unlink(path) == 0);
	T_OK(append_n(log, 1, wobbly_ts, 1000, 1, &err), &err);
	elog_partlog_close(log);
}

static void test_preallocate_reserve(void)
{
	if (tmpfs_mount("size=512k") < 0)
		return;
	preallocate_body();
	T_CHECK(umount2(tmpfs_dir, MNT_DETACH) == 0);
}

static void test_bad_batches_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *log;
	struct elog_err err;
	int64_t ts[2] = {1, 2}, base;
	size_t len;
	uint8_t *b, *longer;

	config_small(&c);
	c.batch_bytes_max = 200;
	T_OK(elog_partlog_open(dir, &c, &log, NULL, &err), &err);
	b = batch_make(2, ts, 300, &len);
	T_CHECK(elog_partlog_append(log, b, len, 1, &base, &err) < 0 && err.code == ELOG_E_LIMIT);
	free(b);
	b = batch_make(2, ts, 10, &len);
	longer = calloc(1, len + 5);
	memcpy(longer, b, len);
	T_CHECK(elog_partlog_append(log, longer, len + 5, 1, &base, &err) < 0 &&
		err.code == ELOG_E_INVAL);
	T_CHECK(elog_partlog_append(log, b, len - 1, 1, &base, &err) < 0);
	T_EQ_INT(elog_partlog_next_offset(log), 0);
	T_OK(elog_partlog_append(log, b, len, 1, &base, &err), &err);
	T_EQ_INT(base, 0);
	free(longer);
	free(b);
	elog_partlog_close(log);
	c.segment_bytes = 10;
	T_CHECK(elog_partlog_open(dir, &c, &log, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
}

/* ---------------------------------------------------------------- fd budget */

/* Open descriptors of this process. */
static int open_fd_count(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/*
 * Logs sharing an fd budget: at most the budget's worth stay open whatever
 * the number of logs; every one can be written (rolls included) and read
 * back in any order, parked logs reopen on use, a dirty log is flushed
 * before it is parked, and after close and reopen everything is there.
 */
static void test_fd_budget(void)
{
	enum { LOGS = 24, ROUNDS = 3 };
	const char *dir = t_tmpdir();
	struct elog_partlog_config c;
	struct elog_partlog *logs[LOGS];
	struct elog_partlog_fds fds;
	struct elog_err err;
	int before = open_fd_count();
	char sub[4200];

	config_small(&c);
	elog_partlog_fds_init(&fds, 16); /* room for about three logs */
	c.fds = &fds;
	for (int k = 0; k < LOGS; k++) {
		snprintf(sub, sizeof(sub), "%s/p%d", dir, k);
		T_OK(elog_partlog_open(sub, &c, &logs[k], NULL, &err), &err);
	}
	T_CHECK(fds.open_files <= 16 + 4);
	T_CHECK(open_fd_count() - before <= 16 + 4);
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < LOGS; k++) {
			T_OK(fill(logs[(k * 7 + r) % LOGS], 6, 200, &err), &err);
			T_CHECK(open_fd_count() - before <= 16 + 8);
		}
	T_CHECK(fds.parks > 0 && fds.reopens > 0);
	for (int k = 0; k < LOGS; k++) {
		int64_t next = elog_partlog_next_offset(logs[k]);
		uint8_t buf[65536];
		struct elog_partlog_slice sl;
		T_EQ_INT(next, ROUNDS * 16);
		T_CHECK(elog_partlog_segment_count(logs[k]) > 1);
		/* parked logs were flushed first */
		if (elog_partlog_parked(logs[k]))
			T_EQ_INT(elog_partlog_flushed_offset(logs[k]), next);
		T_OK(elog_partlog_read(logs[k], 0, buf, sizeof(buf), &sl, &err), &err);
		T_EQ_INT(sl.base_offset, 0);
		T_OK(elog_partlog_read(logs[k], next - 1, buf, sizeof(buf), &sl, &err), &err);
		T_EQ_INT(sl.next_offset, next);
	}
	T_CHECK(open_fd_count() - before <= 16 + 8);
	for (int k = 0; k < LOGS; k++)
		elog_partlog_close(logs[k]);
	T_EQ_INT(fds.open_files, 0);
	T_EQ_INT(fds.open_logs, 0);
	T_EQ_INT(open_fd_count(), before);
	/* under a budget a log of many segments keeps only the active one's files open */
	{
		int fds_before = open_fd_count();
		snprintf(sub, sizeof(sub), "%s/p0", dir);
		T_OK(elog_partlog_open(sub, &c, &logs[0], NULL, &err), &err);
		T_CHECK(elog_partlog_segment_count(logs[0]) > 2);
		T_EQ_INT(open_fd_count() - fds_before, 4);
		elog_partlog_close(logs[0]);
	}
	/* everything survived: reopen without a budget */
	c.fds = NULL;
	for (int k = 0; k < LOGS; k++) {
		struct elog_partlog_recovery rec;
		snprintf(sub, sizeof(sub), "%s/p%d", dir, k);
		T_OK(elog_partlog_open(sub, &c, &logs[k], &rec, &err), &err);
		T_EQ_INT(elog_partlog_next_offset(logs[k]), ROUNDS * 16);
		T_EQ_INT(rec.truncated_bytes, 0);
		elog_partlog_close(logs[k]);
	}
}

int main(void)
{
	T_RUN(test_fresh_log_and_meta);
	T_RUN(test_append_read_every_offset);
	T_RUN(test_read_mid_batch_and_limits);
	T_RUN(test_reopen_identical_state);
	T_RUN(test_last_term_after_roll_reopen);
	T_RUN(test_torn_write_every_byte);
	T_RUN(test_flipped_bit_last_batch);
	T_RUN(test_zero_tail_cut);
	T_RUN(test_flipped_bit_closed_segment);
	T_RUN(test_closed_segment_short);
	T_RUN(test_deleted_indexes_rebuilt);
	T_RUN(test_garbage_indexes_rebuilt);
	T_RUN(test_find_time_across_segments);
	T_RUN(test_retention_by_age);
	T_RUN(test_retention_keeps_unexpired);
	T_RUN(test_retention_by_size);
	T_RUN(test_append_at_gap_overlap_term);
	T_RUN(test_truncate_then_append);
	T_RUN(test_truncate_to_segment_base_reopen);
	T_RUN(test_roll_by_size);
	T_RUN(test_roll_by_age);
	T_RUN(test_meta_versions);
	T_RUN(test_meta_create_unsynced);
	T_RUN(test_stray_files);
	T_RUN(test_flush_always);
	T_RUN(test_write_error_fails_log);
	T_RUN(test_nospace_append_cut_back);
	T_RUN(test_nospace_roll_undone);
	T_RUN(test_nospace_hints);
	T_RUN(test_nospace_truncate);
	T_RUN(test_nospace_tmpfs);
	T_RUN(test_preallocate_reserve);
	T_RUN(test_bad_batches_refused);
	T_RUN(test_fd_budget);
	return t_finish();
}
