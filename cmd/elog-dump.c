/*
 * elog-dump — print or verify partition logs offline; see elog-dump(1).
 *
 * Strictly read-only: segments are walked with the segment scanner (never
 * elog_partlog_open, which repairs), index files are read in fixed-size
 * chunks, and at most one batch (bounded by ELOG_BATCH_SIZE_MAX) plus its
 * decompressed records is held in memory at a time.
 *
 * A file is dumped up to its first problem, which is reported as one line
 * "elog-dump: <file>: byte <n>: <why>"; the remaining files are still
 * dumped, and the exit status is 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "bytes.h"
#include "cli.h"
#include "partlog.h"
#include "segment.h"

#define META_NAME "log.meta"
#define META_BYTES_MAX 64
/* A directory may hold at most this many segments (about 128 TiB at the default size). */
#define DIR_SEGMENTS_MAX (1u << 20)

enum { OPT_VERSION = 256 };

static const struct elog_cli_option options[] = {
	{'r', "records", NULL, "also print every record: offset, timestamp, key, headers, value"},
	{'v', "verify", NULL, "check crcs, offsets, records and indexes; print only problems"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-hrv] [--version] path ...",
	.summary = "Print the batches of elog partition directories, segment .log files and\n"
		   "their .idx/.tix index files, or verify them, without changing anything.",
	.options = options,
};

struct dump {
	int records;         /* --records: print every record */
	int verify;          /* --verify: check indexes and records too */
	int print;           /* print batch and index lines */
	FILE *out;
	struct elog_batch_reader reader;
};

/* ---------------------------------------------------------------- output */

/*
 * Strings are printed in double quotes; bytes 0x20-0x7e appear as
 * themselves except '"' and '\', which are escaped with a backslash, and
 * every other byte as \n, \r, \t or \xHH. A null key or value is the bare
 * word null, so it differs from an empty string "".
 */
static void put_quoted(FILE *f, const uint8_t *p, int64_t len)
{
	if (len < 0 || !p) {
		fputs(len < 0 ? "null" : "\"\"", f);
		return;
	}
	putc('"', f);
	for (int64_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* A file name: bare when it has no blank, quote, '=', '\' or control byte. */
static void put_name(FILE *f, const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c <= 0x20 || c > 0x7e || c == '"' || c == '=' || c == '\\') {
			put_quoted(f, (const uint8_t *)s, (int64_t)len);
			return;
		}
	}
	fputs(s, f);
}

/* A header name inside a key "header.<name>": bytes outside [A-Za-z0-9._:/-] as \xHH. */
static void put_header_key(FILE *f, const uint8_t *p, uint32_t len)
{
	fputs(" header.", f);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == ':' || c == '/' || c == '-')
			putc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	putc('=', f);
}

static void print_batch(struct dump *d, const char *path, uint64_t position,
			const struct elog_batch_header *h)
{
	fputs("batch file=", d->out);
	put_name(d->out, path);
	fprintf(d->out,
		" position=%" PRIu64 " base_offset=%" PRId64 " last_offset=%" PRId64
		" term=%" PRIu64 " first_timestamp=%" PRId64 " max_timestamp=%" PRId64
		" producer_id=%" PRId64 " producer_epoch=%d base_sequence=%" PRId32
		" compression=%s control=%d records=%" PRIu32 " size=%" PRIu32 " crc=0x%08" PRIx32 "\n",
		position, h->base_offset, elog_batch_last_offset(h), h->leader_term,
		h->first_timestamp, h->max_timestamp, h->producer_id, (int)h->producer_epoch,
		h->base_sequence,
		elog_compression_name(h->attributes & ELOG_BATCH_ATTR_COMPRESSION_MASK),
		(h->attributes & ELOG_BATCH_ATTR_CONTROL) ? 1 : 0, h->record_count,
		elog_batch_total_size(h), h->crc);
}

static void print_record(struct dump *d, const struct elog_record_view *r)
{
	fprintf(d->out, "record offset=%" PRId64 " timestamp=%" PRId64 " key=", r->offset,
		r->timestamp_ms);
	put_quoted(d->out, r->key, r->key_len);
	for (uint32_t i = 0; i < r->header_count; i++) {
		put_header_key(d->out, r->headers[i].name, r->headers[i].name_len);
		put_quoted(d->out, r->headers[i].value, r->headers[i].value_len);
	}
	fputs(" value=", d->out);
	put_quoted(d->out, r->value, r->value_len);
	putc('\n', d->out);
}

/* ---------------------------------------------------------------- segments */

/* Decode (and print) the records of one batch; -1 with err on malformed records. */
static int walk_records(struct dump *d, const uint8_t *batch, size_t len, struct elog_err *err)
{
	struct elog_record_view rec;
	int rc;

	if (elog_batch_reader_open(&d->reader, batch, len, err) < 0)
		return -1;
	while ((rc = elog_batch_reader_next(&d->reader, &rec, err)) == 1)
		if (d->records)
			print_record(d, &rec);
	return rc;
}

/* --verify: the .idx and .tix beside a clean .log. */
static int verify_indexes(const char *log_path, int64_t base_offset)
{
	struct elog_err err;
	int missing = 0;
	size_t stem = strlen(log_path) - 3;

	if (elog_segment_check_indexes(log_path, base_offset, &missing, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		return -1;
	}
	if (missing & 1)
		elog_cli_warn("%.*sidx: missing; rebuilt when the log is next opened", (int)stem, log_path);
	if (missing & 2)
		elog_cli_warn("%.*stix: missing; rebuilt when the log is next opened", (int)stem, log_path);
	return 0;
}

/*
 * Walk one .log: print its batches (and records), decode records when
 * verifying. base_offset is what the first batch must have (-1: anything).
 * *next_offset gets the offset after the last good batch.
 */
static int dump_log(struct dump *d, const char *path, int64_t base_offset, int64_t *next_offset)
{
	struct elog_segment_scanner s;
	struct elog_batch_header h;
	const uint8_t *batch;
	struct elog_err err;
	int rc;

	if (elog_segment_scanner_open(&s, path, base_offset, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		return -1;
	}
	if (s.file_size == 0 && base_offset < 0) {
		elog_segment_scanner_release(&s);
		elog_cli_error("%s: byte 0: empty file, and its name is not a segment's", path);
		return -1;
	}
	while ((rc = elog_segment_scanner_next(&s, &h, &batch, &err)) == 1) {
		if (d->print)
			print_batch(d, path, s.position, &h);
		if ((d->records || d->verify) &&
		    walk_records(d, batch, elog_batch_total_size(&h), &err) < 0) {
			rc = elog_err_prefix(&err, "byte %" PRIu64, s.position);
			break;
		}
		elog_segment_scanner_advance(&s, &h);
	}
	*next_offset = s.expected_offset;
	elog_segment_scanner_release(&s);
	if (rc < 0) {
		elog_cli_error_err(&err, "%s", path);
		return -1;
	}
	if (d->verify && base_offset >= 0)
		return verify_indexes(path, base_offset);
	return 0;
}

/* ---------------------------------------------------------------- index files */

static void print_index_entry(struct dump *d, const char *path, int time_index, size_t entry,
			      const uint8_t *p, int64_t base_offset)
{
	uint32_t rel = elog_get32(p + (time_index ? 8 : 0));
	uint32_t position = elog_get32(p + (time_index ? 12 : 4));

	fputs(time_index ? "time_index file=" : "index file=", d->out);
	put_name(d->out, path);
	fprintf(d->out, " entry=%zu", entry);
	if (time_index)
		fprintf(d->out, " timestamp=%" PRId64, (int64_t)elog_get64(p));
	fprintf(d->out, " rel_offset=%" PRIu32, rel);
	if (base_offset >= 0)
		fprintf(d->out, " offset=%" PRId64, base_offset + (int64_t)rel);
	fprintf(d->out, " position=%" PRIu32 "\n", position);
}

/* Entries must increase in offset and position, timestamps never decrease. */
static int index_entry_order(const uint8_t *prev, const uint8_t *p, int time_index,
			     struct elog_err *err)
{
	int at = time_index ? 8 : 0;

	if (elog_get32(p + at) <= elog_get32(prev + at))
		return elog_err_set(err, ELOG_E_CORRUPT, "relative offset %" PRIu32
				    " does not increase", elog_get32(p + at));
	if (elog_get32(p + at + 4) <= elog_get32(prev + at + 4))
		return elog_err_set(err, ELOG_E_CORRUPT, "position %" PRIu32 " does not increase",
				    elog_get32(p + at + 4));
	if (time_index && (int64_t)elog_get64(p) < (int64_t)elog_get64(prev))
		return elog_err_set(err, ELOG_E_CORRUPT, "timestamp %" PRId64 " decreases",
				    (int64_t)elog_get64(p));
	return 0;
}

/* Print an .idx/.tix file entry by entry, checking its framing and order. */
static int print_index(struct dump *d, const char *path, int time_index, int64_t base_offset)
{
	size_t size = time_index ? ELOG_TIME_ENTRY_SIZE : ELOG_INDEX_ENTRY_SIZE;
	uint8_t entry[ELOG_TIME_ENTRY_SIZE], prev[ELOG_TIME_ENTRY_SIZE];
	struct elog_err err;
	size_t n, i;
	int rc;
	FILE *f = fopen(path, "rb");

	if (!f) {
		elog_cli_error_errno(errno, "%s: cannot open", path);
		return -1;
	}
	for (i = 0; (n = fread(entry, 1, size, f)) == size; i++) {
		if (i > 0 && index_entry_order(prev, entry, time_index, &err) < 0) {
			elog_cli_error_err(&err, "%s: entry %zu at byte %zu", path, i, i * size);
			fclose(f);
			return -1;
		}
		print_index_entry(d, path, time_index, i, entry, base_offset);
		memcpy(prev, entry, size);
	}
	rc = ferror(f) || n > 0 ? -1 : 0;
	if (ferror(f))
		elog_cli_error_errno(errno, "%s: byte %zu: cannot read", path, i * size);
	else if (n > 0)
		elog_cli_error("%s: byte %zu: partial entry of %zu bytes (entries are %zu bytes)",
			       path, i * size, n, size);
	fclose(f);
	return rc;
}

static int dump_index(struct dump *d, const char *path, int time_index)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path, *ext;
	int64_t base_offset = -1;
	char log_path[PATH_MAX];
	size_t len = strlen(path);

	if (elog_segment_name_parse(name, &base_offset, &ext) < 0)
		base_offset = -1;
	if (d->print && print_index(d, path, time_index, base_offset) < 0)
		return -1;
	if (!d->verify)
		return 0;
	if (base_offset < 0 || len >= sizeof(log_path)) {
		elog_cli_error("%s: cannot verify: the name is not a segment's, so its .log is unknown",
			       path);
		return -1;
	}
	memcpy(log_path, path, len - 3);
	memcpy(log_path + len - 3, "log", 4);
	return verify_indexes(log_path, base_offset);
}

/* ---------------------------------------------------------------- directories */

/* dir + "/" + name into out; -1 (reported) when it does not fit. */
static int join_path(char *out, size_t cap, const char *dir, const char *name)
{
	size_t len = strlen(dir);
	int n;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	n = snprintf(out, cap, "%.*s%s%s", (int)len, dir, dir[len - 1] == '/' ? "" : "/", name);
	if (n < 0 || (size_t)n >= cap) {
		elog_cli_error("%s: path too long", dir);
		return -1;
	}
	return 0;
}

/* log.meta must read "elog-partlog <version>\n" with a version this build reads. */
static int check_meta(const char *dir)
{
	char path[PATH_MAX], text[META_BYTES_MAX + 1], *nl;
	const char *prefix = "elog-partlog ";
	struct elog_err err;
	uint64_t version;
	ssize_t n;
	int fd;

	if (join_path(path, sizeof(path), dir, META_NAME) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		elog_cli_error("%s: not a partition directory: no %s", dir, META_NAME);
		return -1;
	}
	if (fd < 0 || (n = read(fd, text, META_BYTES_MAX)) < 0) {
		elog_cli_error_errno(errno, "%s: cannot read", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	text[n] = '\0';
	nl = strchr(text, '\n');
	if (strncmp(text, prefix, strlen(prefix)) != 0 || !nl || nl[1] != '\0') {
		elog_cli_error("%s: byte 0: not an elog partition log format line", path);
		return -1;
	}
	*nl = '\0';
	if (elog_cli_parse_u64(text + strlen(prefix), 1, UINT32_MAX, &version, &err) < 0) {
		elog_cli_error_err(&err, "%s: byte %zu", path, strlen(prefix));
		return -1;
	}
	if (version > ELOG_PARTLOG_FORMAT_VERSION) {
		elog_cli_error("%s: written by format version %" PRIu64 ", this build reads %d", path,
			       version, ELOG_PARTLOG_FORMAT_VERSION);
		return -1;
	}
	return 0;
}

static int compare_offsets(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Base offsets of the directory's .log files, sorted; the caller frees *bases. */
static int list_segments(const char *dir, int64_t **bases, size_t *count)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*bases = NULL;
	*count = 0;
	if (!dp) {
		elog_cli_error_errno(errno, "%s: cannot open", dir);
		return -1;
	}
	while ((errno = 0, e = readdir(dp))) {
		int64_t base;
		const char *ext;

		if (elog_segment_name_parse(e->d_name, &base, &ext) < 0 || strcmp(ext, "log") != 0)
			continue;
		if (*count == cap) {
			int64_t *grown = NULL;
			cap = cap ? 2 * cap : 64;
			if (cap <= DIR_SEGMENTS_MAX)
				grown = realloc(*bases, cap * sizeof(**bases));
			if (!grown) {
				elog_cli_error("%s: more than %u segments, or out of memory", dir,
					       DIR_SEGMENTS_MAX);
				closedir(dp);
				return -1;
			}
			*bases = grown;
		}
		(*bases)[(*count)++] = base;
	}
	if (errno != 0) {
		elog_cli_error_errno(errno, "%s: cannot list", dir);
		closedir(dp);
		return -1;
	}
	closedir(dp);
	if (*count > 0)
		qsort(*bases, *count, sizeof(**bases), compare_offsets);
	return 0;
}

/* Every segment in offset order; each must start where the previous ended. */
static int dump_dir(struct dump *d, const char *dir)
{
	char path[PATH_MAX], name[ELOG_SEGMENT_NAME_DIGITS + 8];
	int64_t *bases, expected = -1, next;
	size_t count;
	int rc = 0;

	if (check_meta(dir) < 0 || list_segments(dir, &bases, &count) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		elog_segment_name(name, sizeof(name), bases[i], "log");
		if (join_path(path, sizeof(path), dir, name) < 0) {
			rc = -1;
			break;
		}
		if (expected >= 0 && bases[i] != expected) {
			elog_cli_error("%s: byte 0: segment starts at offset %" PRId64
				       ", the previous one ends before offset %" PRId64,
				       path, bases[i], expected);
			rc = -1;
		}
		expected = -1;
		if (dump_log(d, path, bases[i], &next) < 0)
			rc = -1;
		else
			expected = next;
	}
	free(bases);
	return rc;
}

/* ---------------------------------------------------------------- main */

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int dump_path(struct dump *d, const char *path)
{
	const char *slash = strrchr(path, '/'), *ext;
	int64_t base_offset, next;
	struct stat st;

	if (stat(path, &st) < 0) {
		elog_cli_error_errno(errno, "%s: cannot open", path);
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return dump_dir(d, path);
	if (!S_ISREG(st.st_mode)) {
		elog_cli_error("%s: not a regular file or a directory", path);
		return -1;
	}
	if (has_suffix(path, ".idx") || has_suffix(path, ".tix"))
		return dump_index(d, path, has_suffix(path, ".tix"));
	if (elog_segment_name_parse(slash ? slash + 1 : path, &base_offset, &ext) < 0 ||
	    strcmp(ext, "log") != 0)
		base_offset = -1;
	return dump_log(d, path, base_offset, &next);
}

/* Options into d; returns -1 to go on, else the exit code. */
static int parse_options(struct dump *d, int argc, char **argv, int *first_operand)
{
	struct elog_cli_getopt g;
	int id;

	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		switch (id) {
		case 'r':
			d->records = 1;
			break;
		case 'v':
			d->verify = 1;
			break;
		case ELOG_CLI_DONE:
			return ELOG_EXIT_OK;
		default:
			return elog_cli_usage_error(&program, NULL);
		}
	}
	if (g.index >= argc)
		return elog_cli_usage_error(&program, "missing path");
	*first_operand = g.index;
	d->print = !d->verify || d->records;
	d->out = stdout;
	return -1;
}

int main(int argc, char **argv)
{
	struct dump d = {0};
	int first = 0, rc, failed = 0;

	elog_cli_init(argv[0]);
	if ((rc = parse_options(&d, argc, argv, &first)) >= 0)
		return rc;
	elog_batch_reader_init(&d.reader);
	d.reader.rules.offsets = ELOG_BATCH_OFFSETS_GAPS; /* compacted partitions (docs/format.md) */
	for (int i = first; i < argc; i++)
		if (dump_path(&d, argv[i]) < 0)
			failed = 1;
	elog_batch_reader_release(&d.reader);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		elog_cli_error_errno(errno, "cannot write to stdout");
		failed = 1;
	}
	return failed ? ELOG_EXIT_FAIL : ELOG_EXIT_OK;
}
