/*
 * bench_validate — what full batch validation (elog_batch_validate: header,
 * CRC, every record, decompressed contents) costs per MB, next to the check
 * the produce path ran before it (elog_batch_check: header and CRC only).
 *
 * Workload: records with 100-byte JSON-like values (the e2e workload's
 * shape), null keys, no headers, in batches built by elog_batch_builder of
 * at most 16 KiB and 256 KiB (elog-produce's default batch size), with
 * compression none, lz4 and zlib. BENCH_BATCHES_DISTINCT batches per case
 * are built before any timing and then validated round-robin until -n bytes
 * of records (uncompressed) went through; the broker's rules are used
 * (dense offsets, max.batch.bytes and max.record.bytes set), with one
 * validator reused, as the broker does.
 *
 * Rows, per compression and batch size:
 *   check       elog_batch_check: header + CRC of the batch as sent
 *   validate    elog_batch_validate: all of it
 *   codec       compressed batches: the decompression alone
 *               (LZ4_decompress_safe / inflate into a reused buffer), the
 *               share of validate that is the codec's
 * Figures: MB/s of records (uncompressed; MB = 10^6 bytes), and ns per MB
 * of records; "added" is validate - check per MB: what the produce path
 * pays for full validation over what it paid before.
 *
 * Nothing touches the disk and nothing runs in parallel; the batches and
 * the work are the same in every run, so instruction counts are
 * repeatable: `-c CASE` runs one row alone (e.g. `-c validate/lz4/256k`),
 * for `valgrind --tool=callgrind` or `perf stat -e instructions`.
 *
 * Output: a table on stdout and, with -j, one JSON object per line.
 * Follows bench/run's contract (-d is accepted and unused: no scratch
 * files). Exit status: 0 when it ran, 1 when a batch did not validate,
 * 2 for bad usage.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#define ZLIB_CONST
#include <zlib.h>

#include "batch.h"
#include "bytes.h"
#include "err.h"

#include "bench_common.h"

#define PROG "bench_validate"
#define die(...) bench_die(PROG, __VA_ARGS__)

#define BENCH_RECORD_BYTES 100u
#define BENCH_BATCHES_DISTINCT 32u
#define BENCH_BATCH_RECORDS_MAX 65536u
#define BENCH_TOTAL_BYTES_MIN (1ull << 20)
#define BENCH_TOTAL_BYTES_MAX (64ull << 30)
#define BENCH_REPS_MAX BENCH_STATS_VALUES_MAX
#define BENCH_SIZES_COUNT 2u
#define BENCH_CODECS_COUNT 3u

enum work { WORK_CHECK, WORK_VALIDATE, WORK_CODEC, WORK_COUNT };
static const char *const work_names[WORK_COUNT] = { "check", "validate", "codec" };

static const uint32_t batch_sizes[BENCH_SIZES_COUNT] = { 16u << 10, 256u << 10 };
static const char *const batch_size_names[BENCH_SIZES_COUNT] = { "16k", "256k" };
static const enum elog_compression codecs[BENCH_CODECS_COUNT] = {
	ELOG_COMPRESS_NONE, ELOG_COMPRESS_LZ4, ELOG_COMPRESS_ZLIB,
};

struct options {
	const char *json_path;
	const char *only;          /* -c: one case, "work/codec/size" */
	uint64_t total_bytes;      /* records (uncompressed) per measurement */
	uint32_t reps;
};

/* The prebuilt batches of one case. */
struct workload {
	enum elog_compression codec;
	uint32_t size_index;
	uint8_t *batch[BENCH_BATCHES_DISTINCT];
	size_t batch_len[BENCH_BATCHES_DISTINCT];
	uint64_t plain_bytes;      /* records area once uncompressed, all batches */
	uint64_t sent_bytes;       /* batches as sent, all batches */
	uint64_t records_total;    /* all batches */
	uint32_t records;          /* per batch, the first */
};

struct row {
	enum work work;
	enum elog_compression codec;
	uint32_t size_index;
	uint64_t passes;           /* batches validated per repetition */
	uint64_t plain_bytes, sent_bytes, records;
	double seconds[BENCH_REPS_MAX];
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* ------------------------------------------------------------ workload */

static void workload_build(struct workload *wl, enum elog_compression codec, uint32_t size_index)
{
	struct elog_batch_builder bld;
	struct elog_err err;
	char value[BENCH_RECORD_BYTES];
	uint64_t seq = 0, rng = 0x9E3779B97F4A7C15ull;

	memset(wl, 0, sizeof(*wl));
	wl->codec = codec;
	wl->size_index = size_index;
	elog_batch_builder_init(&bld, codec, batch_sizes[size_index]);
	for (uint32_t b = 0; b < BENCH_BATCHES_DISTINCT; b++) {
		const uint8_t *out;
		size_t out_len;
		uint32_t n = 0;

		elog_batch_builder_reset(&bld);
		for (; n < BENCH_BATCH_RECORDS_MAX; n++, seq++) {
			struct elog_record rec = { .timestamp_ms = 1763800000000 + (int64_t)seq, .key_len = -1,
						   .value = (const uint8_t *)value, .value_len = BENCH_RECORD_BYTES };
			if (bench_json_value(value, BENCH_RECORD_BYTES, seq, &rng) < 0)
				die("record size %u is too small for the value template", BENCH_RECORD_BYTES);
			if (elog_batch_builder_add(&bld, &rec, &err) < 0) {
				if (err.code == ELOG_E_LIMIT && n > 0)
					break;
				die("building a batch: %s", err.msg);
			}
		}
		wl->plain_bytes += elog_batch_builder_bytes(&bld);
		if (elog_batch_builder_finish(&bld, &out, &out_len, &err) < 0)
			die("finishing a batch: %s", err.msg);
		if ((out[17] & ELOG_BATCH_ATTR_COMPRESSION_MASK) != codec)
			die("a %s batch came out uncompressed", elog_compression_name(codec));
		wl->batch[b] = xmalloc(out_len);
		memcpy(wl->batch[b], out, out_len);
		wl->batch_len[b] = out_len;
		wl->sent_bytes += out_len;
		wl->records_total += n;
		if (b == 0)
			wl->records = n;
	}
	elog_batch_builder_release(&bld);
}

static void workload_release(struct workload *wl)
{
	for (uint32_t b = 0; b < BENCH_BATCHES_DISTINCT; b++)
		free(wl->batch[b]);
}

/* ------------------------------------------------------------ work */

/* The codec alone: decompress the records area of batch b into plain. */
static void codec_only(const struct workload *wl, uint32_t b, uint8_t *plain, z_stream *z)
{
	const uint8_t *area = wl->batch[b] + ELOG_BATCH_HEADER_SIZE;
	size_t packed_len = wl->batch_len[b] - ELOG_BATCH_HEADER_SIZE - 4;
	uint32_t plain_len = elog_get32(area);

	if (wl->codec == ELOG_COMPRESS_LZ4) {
		if (LZ4_decompress_safe((const char *)area + 4, (char *)plain, (int)packed_len, (int)plain_len) != (int)plain_len)
			die("lz4 batch %u does not decompress", b);
		return;
	}
	if (inflateReset(z) != Z_OK)
		die("inflateReset failed");
	z->next_in = area + 4;
	z->avail_in = (uInt)packed_len;
	z->next_out = plain;
	z->avail_out = plain_len;
	if (inflate(z, Z_FINISH) != Z_STREAM_END)
		die("zlib batch %u does not decompress", b);
}

/*
 * One measured run: `passes` batches, round-robin; returns seconds. Not
 * inlined, so that `valgrind --tool=callgrind --toggle-collect=run_once`
 * counts exactly the measured work.
 */
static __attribute__((noinline)) double run_once(const struct workload *wl, enum work work, uint64_t passes,
		       struct elog_batch_validator *v, uint8_t *plain, z_stream *z)
{
	const struct elog_batch_rules rules = {
		.offsets = ELOG_BATCH_OFFSETS_DENSE,
		.batch_bytes_max = batch_sizes[wl->size_index],
		.record_bytes_max = 1u << 20,
	};
	struct elog_err err;
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < passes; i++) {
		uint32_t b = (uint32_t)(i % BENCH_BATCHES_DISTINCT);
		switch (work) {
		case WORK_CHECK:
			if (elog_batch_check(wl->batch[b], wl->batch_len[b], NULL, &err) < 0)
				die("batch %u: %s", b, err.msg);
			break;
		case WORK_VALIDATE:
			if (elog_batch_validate(v, wl->batch[b], wl->batch_len[b], &rules, &err) < 0)
				die("batch %u: %s", b, err.msg);
			break;
		case WORK_CODEC:
		case WORK_COUNT:
			codec_only(wl, b, plain, z);
			break;
		}
	}
	return (double)(now_ns() - t0) / 1e9;
}

static int case_selected(const struct options *opt, enum work work, enum elog_compression codec,
			 uint32_t size_index)
{
	char name[64];

	if (!opt->only)
		return 1;
	snprintf(name, sizeof(name), "%s/%s/%s", work_names[work], elog_compression_name(codec),
		 batch_size_names[size_index]);
	return strcmp(name, opt->only) == 0;
}

/* Every selected row of one workload; returns the rows filled. */
static size_t run_workload(const struct options *opt, const struct workload *wl, struct row *rows)
{
	struct elog_batch_validator v;
	uint8_t *plain = xmalloc(ELOG_BATCH_SIZE_MAX);
	z_stream z;
	uint64_t passes = (opt->total_bytes * BENCH_BATCHES_DISTINCT + wl->plain_bytes - 1) / wl->plain_bytes;
	size_t n = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		die("inflateInit failed");
	elog_batch_validator_init(&v);
	for (int w = 0; w < WORK_COUNT; w++) {
		struct row *r = &rows[n];
		if ((w == WORK_CODEC && wl->codec == ELOG_COMPRESS_NONE) ||
		    !case_selected(opt, (enum work)w, wl->codec, wl->size_index))
			continue;
		memset(r, 0, sizeof(*r));
		r->work = (enum work)w;
		r->codec = wl->codec;
		r->size_index = wl->size_index;
		r->passes = passes;
		r->plain_bytes = wl->plain_bytes * passes / BENCH_BATCHES_DISTINCT;
		r->sent_bytes = wl->sent_bytes * passes / BENCH_BATCHES_DISTINCT;
		r->records = wl->records_total * passes / BENCH_BATCHES_DISTINCT;
		if (!opt->only)  /* warm caches and buffers; -c counts exactly the measured work */
			(void)run_once(wl, r->work, BENCH_BATCHES_DISTINCT, &v, plain, &z);
		for (uint32_t rep = 0; rep < opt->reps; rep++)
			r->seconds[rep] = run_once(wl, r->work, passes, &v, plain, &z);
		n++;
	}
	elog_batch_validator_release(&v);
	inflateEnd(&z);
	free(plain);
	return n;
}

/* ------------------------------------------------------------ report */

static double row_mb_per_s(const struct row *r, uint32_t reps)
{
	return (double)r->plain_bytes / 1e6 / median(r->seconds, reps);
}

static double row_ns_per_mb(const struct row *r, uint32_t reps)
{
	return median(r->seconds, reps) * 1e9 / ((double)r->plain_bytes / 1e6);
}

/* The check row of the same codec and size, if it ran. */
static const struct row *check_of(const struct row *rows, size_t n, const struct row *r)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].work == WORK_CHECK && rows[i].codec == r->codec && rows[i].size_index == r->size_index)
			return &rows[i];
	return NULL;
}

static void print_table(const struct row *rows, size_t n, uint32_t reps)
{
	printf("%-10s %-5s %-6s %12s %12s %14s %14s\n", "work", "codec", "batch", "records/s", "MB/s",
	       "ns per MB", "added ns/MB");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i], *c = check_of(rows, n, r);
		double records = (double)r->records / median(r->seconds, reps);
		char added[32] = "-";

		if (r->work == WORK_VALIDATE && c)
			snprintf(added, sizeof(added), "%.0f", row_ns_per_mb(r, reps) - row_ns_per_mb(c, reps));
		printf("%-10s %-5s %-6s %12.0f %12.1f %14.0f %14s\n", work_names[r->work],
		       elog_compression_name(r->codec), batch_size_names[r->size_index], records,
		       row_mb_per_s(r, reps), row_ns_per_mb(r, reps), added);
	}
	printf("MB = 10^6 bytes of records, uncompressed (a 100 B value is a %.0f B record); "
	       "medians of %u reps; added = validate - check\n",
	       n ? (double)rows[0].plain_bytes / (double)rows[0].records : 0.0, reps);
}

static void write_json(const char *path, const struct row *rows, size_t n, uint32_t reps,
		       const struct workload *wls, size_t wl_count)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write %s", path);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i], *c = check_of(rows, n, r);
		const struct workload *wl = NULL;

		for (size_t k = 0; k < wl_count; k++)
			if (wls[k].codec == r->codec && wls[k].size_index == r->size_index)
				wl = &wls[k];
		fprintf(f, "{\"type\":\"result\",\"program\":\"" PROG "\",\"benchmark\":\"%s\","
			"\"compression\":\"%s\",\"batch_bytes_max\":%u,\"records_per_batch\":%u,"
			"\"record_bytes\":%u,\"reps\":%u,\"plain_bytes\":%" PRIu64 ",\"sent_bytes\":%" PRIu64 ","
			"\"elog\":{\"mb_per_s\":%.1f,\"ns_per_mb\":%.0f,\"seconds\":[",
			work_names[r->work], elog_compression_name(r->codec), batch_sizes[r->size_index],
			wl ? wl->records : 0, BENCH_RECORD_BYTES, reps, r->plain_bytes, r->sent_bytes,
			row_mb_per_s(r, reps), row_ns_per_mb(r, reps));
		for (uint32_t k = 0; k < reps; k++)
			fprintf(f, "%s%.6f", k ? "," : "", r->seconds[k]);
		fprintf(f, "]}");
		if (r->work == WORK_VALIDATE && c)
			fprintf(f, ",\"added_ns_per_mb\":%.0f",
				row_ns_per_mb(r, reps) - row_ns_per_mb(c, reps));
		fprintf(f, "}\n");
	}
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

/* ------------------------------------------------------------ main */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " [-d dir] [-j json] [-r reps] [-n bytes] [-c work/codec/size]\n"
		"  -n bytes   records (uncompressed) per measurement (default 268435456)\n"
		"  -c case    run one case only, e.g. validate/lz4/256k (work: check, validate,\n"
		"             codec; codec: none, lz4, zlib; size: 16k, 256k)\n");
	exit(status);
}

int main(int argc, char **argv)
{
	struct options opt = { .total_bytes = 256ull << 20, .reps = 3 };
	struct workload wls[BENCH_SIZES_COUNT * BENCH_CODECS_COUNT];
	struct row rows[BENCH_SIZES_COUNT * BENCH_CODECS_COUNT * WORK_COUNT];
	size_t n = 0, wl_count = 0;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "d:j:r:n:c:h")) != -1) {
		switch (c) {
		case 'd': break; /* no scratch files */
		case 'j': opt.json_path = optarg; break;
		case 'r': opt.reps = (uint32_t)bench_option_u64(PROG, c, optarg, 1, BENCH_REPS_MAX); break;
		case 'n': opt.total_bytes = bench_option_u64(PROG, c, optarg, BENCH_TOTAL_BYTES_MIN,
							     BENCH_TOTAL_BYTES_MAX); break;
		case 'c': opt.only = optarg; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	printf(PROG ": %" PRIu64 " MiB of records per measurement, %u reps (medians), %u B values\n",
	       opt.total_bytes >> 20, opt.reps, BENCH_RECORD_BYTES);
	for (uint32_t s = 0; s < BENCH_SIZES_COUNT; s++)
		for (uint32_t k = 0; k < BENCH_CODECS_COUNT; k++) {
			struct workload *wl = &wls[wl_count];
			int selected = 0;
			for (int w = 0; w < WORK_COUNT; w++)
				selected |= case_selected(&opt, (enum work)w, codecs[k], s);
			if (!selected)
				continue;
			wl_count++;
			workload_build(wl, codecs[k], s);
			fprintf(stderr, PROG ": %s %s: %u records per batch, %.0f B sent per batch\n",
				elog_compression_name(codecs[k]), batch_size_names[s], wl->records,
				(double)wl->sent_bytes / BENCH_BATCHES_DISTINCT);
			n += run_workload(&opt, wl, &rows[n]);
		}
	if (n == 0)
		die("no case named \"%s\"", opt.only);
	print_table(rows, n, opt.reps);
	if (opt.json_path) {
		write_json(opt.json_path, rows, n, opt.reps, wls, wl_count);
		printf("json: %s\n", opt.json_path);
	}
	for (size_t i = 0; i < wl_count; i++)
		workload_release(&wls[i]);
	return 0;
}
