/*
 * segment — one segment file and its two index files, read-only helpers
 * shared by partlog (which owns writing) and by offline tools (elog-dump).
 *
 * Names: "<base offset as 20 decimal digits>.<ext>", ext one of log, idx, tix.
 *
 * Index entry layouts (little-endian):
 *
 *   .idx, 8 bytes:   u32 rel_offset   offset - segment base, of a batch's first offset
 *                    u32 position     byte position of that batch in the .log
 *   .tix, 16 bytes:  i64 timestamp    max timestamp of every batch *before* the
 *                                     batch at (rel_offset, position); the
 *                                     closing entry written when a segment is
 *                                     rolled has rel_offset = next - base,
 *                                     position = log size, timestamp = the max
 *                                     of the whole segment
 *                    u32 rel_offset
 *                    u32 position
 *
 * Entries strictly increase in rel_offset and position; .tix timestamps never
 * decrease. Both are sparse: a new entry once at least index_interval_bytes
 * of log were written since the previous one.
 *
 * The scanner walks a .log batch by batch, checking each batch's header,
 * CRC and that its base offset continues the previous batch (the first one
 * must equal the segment's base). It reads in large chunks and never
 * allocates more than one batch (bounded by ELOG_BATCH_SIZE_MAX).
 */
#ifndef ELOG_SEGMENT_H
#define ELOG_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

#define ELOG_SEGMENT_NAME_DIGITS 20
#define ELOG_INDEX_ENTRY_SIZE 8
#define ELOG_TIME_ENTRY_SIZE 16
/* Positions are u32: a segment may not grow past this. */
#define ELOG_SEGMENT_BYTES_MAX 0xFFFFFFFFull

struct elog_index_entry {
	uint32_t rel_offset;
	uint32_t position;
};

struct elog_time_entry {
	int64_t timestamp;
	uint32_t rel_offset;
	uint32_t position;
};

/* "00000000000000001234.log" into out (cap >= 26). */
void elog_segment_name(char *out, size_t cap, int64_t base_offset, const char *ext);
/* Parse a file name of that form; returns 0 and fills base/ext (pointing
 * into name) or -1 if the name is not a segment file name (other
 * extensions, or a base offset above INT64_MAX, are not). */
int elog_segment_name_parse(const char *name, int64_t *base_offset, const char **ext);

/* Bytes the scanner reads at a time; a larger batch grows the buffer to its size. */
#define ELOG_SEGMENT_SCAN_WINDOW (1u << 20)

struct elog_segment_scanner {
	int fd;
	int own_fd;
	uint64_t file_size;
	uint64_t position;         /* byte position of the next batch */
	int64_t expected_offset;   /* base offset the next batch must have; -1 = any */
	uint64_t records;          /* records in the batches advanced over so far */
	uint64_t batches;          /* batches advanced over so far */
	uint8_t *buf;              /* read-ahead window */
	size_t buf_cap;
	uint64_t buf_file_pos;     /* file position of buf[0] */
	size_t buf_len;            /* valid bytes in buf */
	int torn;                  /* set with -1: the tail is incomplete rather than wrong */
};

/* Open path read-only; base_offset is the offset the first batch must have (-1: any). */
int elog_segment_scanner_open(struct elog_segment_scanner *s, const char *path,
			      int64_t base_offset, struct elog_err *err);
/* Scan an already-open fd (not closed by release) from position 0 to size. */
int elog_segment_scanner_init_fd(struct elog_segment_scanner *s, int fd, uint64_t size,
				 int64_t base_offset, struct elog_err *err);
/*
 * Next batch: 1 and *h / *batch (whole batch, valid until the next call) with
 * s->position still at its start; the caller then calls
 * elog_segment_scanner_advance. 0 at a clean end of file. -1 when the bytes at
 * s->position are not a valid batch; err says "byte N: why"; s->torn is set
 * when the file simply ends inside a batch. The code is ELOG_E_CORRUPT for
 * bad bytes, ELOG_E_VERSION only for a newer magic whose CRC matches (a
 * flipped magic bit is damage), ELOG_E_IO/NOMEM when reading failed.
 */
int elog_segment_scanner_next(struct elog_segment_scanner *s, struct elog_batch_header *h,
			      const uint8_t **batch, struct elog_err *err);
void elog_segment_scanner_advance(struct elog_segment_scanner *s, const struct elog_batch_header *h);
void elog_segment_scanner_release(struct elog_segment_scanner *s);

/*
 * Check the .idx and .tix beside a .log against the log itself: every entry
 * must point at a batch start with that offset, and every .tix timestamp must
 * equal the max timestamp of the batches before it. Missing index files are
 * not corruption (they are rebuilt on open): *missing gets a bit per missing
 * file (1 idx, 2 tix). Returns -1 with the first problem, naming the file
 * and the entry's byte position.
 */
int elog_segment_check_indexes(const char *log_path, int64_t base_offset, int *missing,
			       struct elog_err *err);

#endif
