/*
 * partlog_start — the log start offset: the first offset a reader may ask
 * for, which a purge (Kafka's delete-records) moves up inside a segment,
 * and the file `log.start` that keeps it (docs/format.md).
 *
 * The start only ever moves up, except by a truncation below it. It is
 * durable before elog_partlog_start_set returns: the records below it were
 * synced first (so a crash cannot cut the log below its start), then the
 * file was replaced. Open reads the file after recovery; a missing file
 * (a directory from before purges, or never purged) or one that cannot be
 * read starts the log at its first segment, as before: records a purge
 * hid may be readable again, but nothing is ever hidden that was not
 * purged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "partlog_int.h"

/*
 * log.start, one line of ASCII, always ELOG_PARTLOG_START_LEN bytes:
 *
 *   "elog-log-start " <offset, 20 digits> " " <crc, 8 lowercase hex> "\n"
 *
 * crc is the CRC-32C of the 35 bytes before its space. The fixed width
 * lets a full disk overwrite the file in place (start_store).
 */
#define START_MAGIC "elog-log-start "
#define START_CRC_AT (sizeof(START_MAGIC) - 1 + 20)
_Static_assert(START_CRC_AT + 1 + 8 + 1 == ELOG_PARTLOG_START_LEN, "log.start layout");

static void start_format(char *text, int64_t offset)
{
	uint32_t crc;

	snprintf(text, ELOG_PARTLOG_START_LEN + 1, START_MAGIC "%020" PRId64, offset);
	crc = elog_crc32c(0, text, START_CRC_AT);
	snprintf(text + START_CRC_AT, ELOG_PARTLOG_START_LEN + 1 - START_CRC_AT, " %08" PRIx32 "\n",
		 crc);
}

/* Parse the line; -1 with why when it is not one or its crc is wrong. */
static int start_parse(const char *buf, size_t len, int64_t *offset, struct elog_err *why)
{
	uint64_t v = 0;
	uint32_t stored = 0, crc;

	if (len != ELOG_PARTLOG_START_LEN || memcmp(buf, START_MAGIC, sizeof(START_MAGIC) - 1) != 0 ||
	    buf[START_CRC_AT] != ' ' || buf[len - 1] != '\n')
		return elog_err_set(why, ELOG_E_CORRUPT, "not a log start line");
	for (size_t i = sizeof(START_MAGIC) - 1; i < START_CRC_AT; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return elog_err_set(why, ELOG_E_CORRUPT, "not a log start line");
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	for (size_t i = START_CRC_AT + 1; i < len - 1; i++) {
		char c = buf[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return elog_err_set(why, ELOG_E_CORRUPT, "not a log start line");
		stored = stored << 4 | (uint32_t)d;
	}
	crc = elog_crc32c(0, buf, START_CRC_AT);
	if (crc != stored)
		return elog_err_set(why, ELOG_E_CORRUPT, "crc %08" PRIx32 ", the line's bytes give %08"
				    PRIx32, stored, crc);
	if (v > (uint64_t)INT64_MAX)
		return elog_err_set(why, ELOG_E_CORRUPT, "offset out of range");
	*offset = (int64_t)v;
	return 0;
}

/*
 * Overwrite log.start in place and sync it: for a disk with no room for
 * the temporary file. Only an existing file of the fixed size, so no block
 * is allocated; a crash midway leaves a line whose CRC fails, which open
 * treats as no file at all (the start falls back, nothing is hidden).
 */
static int start_overwrite(struct elog_partlog *log, const char *text, struct elog_err *err)
{
	struct stat st;
	int fd = openat(log->dir_fd, ELOG_PARTLOG_START_NAME, O_WRONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size == ELOG_PARTLOG_START_LEN &&
	    elog_partlog_write_at(fd, (const uint8_t *)text, ELOG_PARTLOG_START_LEN, 0,
				  ELOG_PARTLOG_START_NAME, err) == 0) {
		rc = 0;
		if (fdatasync(fd) < 0)
			rc = elog_err_errno(err, ELOG_E_IO, errno, ELOG_PARTLOG_START_NAME ": cannot sync");
	}
	close(fd);
	return rc;
}

/*
 * Write log.start: replaced whole (temporary file, fsync, rename, directory
 * fsync); without room for that, overwritten in place when it exists.
 * ELOG_E_NOSPACE with the file unchanged when neither can be done.
 */
static int start_store(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	char text[ELOG_PARTLOG_START_LEN + 1];
	struct elog_err in_place;

	start_format(text, offset);
	if (elog_partlog_replace_file(log, ELOG_PARTLOG_START_NAME, text, ELOG_PARTLOG_START_LEN,
				      err) == 0)
		return 0;
	if (err->code != ELOG_E_NOSPACE)
		return -1;
	elog_err_clear(&in_place);
	if (start_overwrite(log, text, &in_place) == 0)
		return 0;
	/* No file to overwrite, or no room even so: "no space" stands; any other error is its own. */
	if (in_place.code != ELOG_OK && in_place.code != ELOG_E_NOSPACE)
		*err = in_place;
	return -1;
}

/* 1 read into *offset, 0 missing, -1 with why (ELOG_E_IO, or ELOG_E_CORRUPT for a bad line). */
static int start_read(struct elog_partlog *log, int64_t *offset, struct elog_err *why)
{
	char buf[ELOG_PARTLOG_START_LEN + 1];
	ssize_t n;
	int fd;

	/* A replace that crashed before its rename leaves this; the next write redoes it. */
	unlinkat(log->dir_fd, ELOG_PARTLOG_START_NAME ".tmp", 0);
	fd = openat(log->dir_fd, ELOG_PARTLOG_START_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return elog_err_errno(why, ELOG_E_IO, errno, ELOG_PARTLOG_START_NAME ": cannot open");
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return elog_err_errno(why, ELOG_E_IO, errno, ELOG_PARTLOG_START_NAME ": cannot read");
	if (start_parse(buf, (size_t)n, offset, why) < 0)
		return elog_err_prefix(why, ELOG_PARTLOG_START_NAME);
	return 1;
}

/*
 * The file says the start lies past where the log now ends (a crash cut
 * the tail after damage made it look torn): the start comes down to the
 * end, and the file with it, or goes, so that records appended from now
 * on are never hidden by it.
 */
static int start_settle_past_end(struct elog_partlog *log, int64_t found,
				 struct elog_partlog_recovery *report, struct elog_err *err)
{
	snprintf(report->start_problem, sizeof(report->start_problem),
		 ELOG_PARTLOG_START_NAME ": start %" PRId64 " is past the log's end %" PRId64
		 ": the log starts at its end", found, log->next_offset);
	log->start_offset = log->next_offset;
	if (start_store(log, log->next_offset, err) == 0)
		return 0;
	if (err->code != ELOG_E_NOSPACE)
		return -1;
	/* No room to rewrite it: without the file nothing is hidden. */
	if (unlinkat(log->dir_fd, ELOG_PARTLOG_START_NAME, 0) < 0 && errno != ENOENT)
		return elog_err_errno(err, ELOG_E_IO, errno, ELOG_PARTLOG_START_NAME ": cannot remove");
	log->start_offset = log->segments[0].base_offset;
	return elog_partlog_sync_dir(log, err);
}

int elog_partlog_start_load(struct elog_partlog *log, struct elog_partlog_recovery *report,
			    struct elog_err *err)
{
	struct elog_err why;
	int64_t found = -1;
	int rc = start_read(log, &found, &why);

	log->start_offset = log->segments[0].base_offset;
	report->start_state = rc > 0 ? ELOG_START_FOUND : ELOG_START_MISSING;
	report->start_problem[0] = '\0';
	if (rc < 0) {
		if (why.code != ELOG_E_CORRUPT) {
			*err = why;
			return -1;
		}
		/* Left as it is (the next purge replaces it): the evidence stays. */
		report->start_state = ELOG_START_BAD;
		memcpy(report->start_problem, why.msg, sizeof(report->start_problem));
	} else if (rc > 0 && found > log->next_offset) {
		if (start_settle_past_end(log, found, report, err) < 0)
			return -1;
	} else if (rc > 0 && found > log->start_offset) {
		/* Below the first segment: retention has deleted past it. */
		log->start_offset = found;
	}
	report->start_offset = log->start_offset;
	return 0;
}

/* ---------------------------------------------------------------- moving it */

int elog_partlog_start_store(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	if (start_store(log, offset, err) < 0)
		return elog_err_prefix(err, "%s", log->dir);
	return 0;
}

/*
 * The purge emptied the log: its active segment holds nothing readable, so
 * roll it, for retention to delete it like any segment below the start. A
 * disk without room for the roll keeps it (the next roll frees it).
 */
static int start_roll_if_empty(struct elog_partlog *log, struct elog_err *err)
{
	if (log->start_offset != log->next_offset || elog_partlog_active(log)->size == 0)
		return 0;
	if (elog_partlog_roll(log, err) == 0 || err->code == ELOG_E_NOSPACE)
		return 0;
	return -1;
}

/*
 * No room for log.start (not even in place): delete the segments wholly
 * below `offset` first, which the purge deletes anyway, and try again. A
 * crash in between leaves the start at the first segment left, at or
 * below `offset`: nothing above it is lost. With nothing to delete, or
 * still no room, ELOG_E_NOSPACE (the segments deleted stay deleted: the
 * start is the first one left, as after retention). A segment that cannot
 * be unlinked is an error of this call, as of a retention round; a failed
 * write of the file fails the log.
 */
static int start_store_making_room(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	struct elog_err no_room = *err;
	uint32_t deleted = 0;

	if (elog_partlog_retain_below(log, offset, &deleted, err) < 0)
		return -1;
	if (deleted == 0) {
		*err = no_room;
		return -1;
	}
	if (elog_partlog_start_store(log, offset, err) < 0)
		return err->code == ELOG_E_NOSPACE ? -1 : elog_partlog_fail(log, err);
	return 0;
}

int elog_partlog_start_set(struct elog_partlog *log, int64_t offset, struct elog_err *err)
{
	struct elog_err local;

	if (elog_partlog_use(log, err) < 0)
		return -1;
	if (!err)
		err = &local; /* a failure must still record its reason */
	if (elog_partlog_check_usable(log, err) < 0)
		return -1;
	if (offset <= log->start_offset)
		return 0;
	if (offset > log->next_offset)
		return elog_err_set(err, ELOG_E_RANGE,
				    "cannot move the log start to offset %" PRId64
				    ", past the log's end %" PRId64, offset, log->next_offset);
	/* What stays readable must survive a crash the start survives. */
	if (offset > elog_partlog_flushed_offset(log) && elog_partlog_flush(log, err) < 0)
		return -1;
	if (elog_partlog_start_store(log, offset, err) < 0) {
		if (err->code != ELOG_E_NOSPACE)
			return elog_partlog_fail(log, err);
		if (start_store_making_room(log, offset, err) < 0)
			return -1;
	}
	log->start_offset = offset;
	return start_roll_if_empty(log, err);
}
