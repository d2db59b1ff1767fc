/*
 * partlog_int — the partition log's private state, shared by partlog.c
 * (open, append, roll, flush), partlog_recover.c (what open finds on disk),
 * partlog_read.c (locate, read, find_time) and partlog_trim.c (truncate,
 * retention). Nothing outside those files includes this.
 *
 * Segments live in an array ordered by base offset; the last one is the
 * active segment. Each keeps its .log open (O_RDWR: truncation can make a
 * closed segment active again). A closed segment's indexes are mapped
 * read-only; the active one's are on the heap and appended to their files
 * (idx_fd, tix_fd) as entries are made.
 *
 * Locking: the owner thread does everything but elog_partlog_flush, which a
 * flusher thread may run at any time. The flusher only reads active_fd,
 * next_offset and generation, and writes flushed_offset and the failure,
 * all under `mutex`; the owner changes those fields under `mutex` too, and
 * reads them without it (it is their only writer). fdatasync runs on a dup of
 * the active fd outside the lock, so appends do not wait for the disk, and a
 * segment deleted meanwhile cannot pull the fd number out from under it.
 */
#ifndef ELOG_PARTLOG_INT_H
#define ELOG_PARTLOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"
#include "partlog.h"
#include "segindex.h"
#include "segment.h"

/* A log keeps one fd per segment; past this many segments rolling fails. */
#define ELOG_PARTLOG_SEGMENTS_MAX 100000u
/* Read window for walking batch headers (locate, find_time, truncate). */
#define ELOG_PARTLOG_WALK_WINDOW (64u << 10)
/* log.meta is one short line. */
#define ELOG_PARTLOG_META_MAX 64
#define ELOG_PARTLOG_META_NAME "log.meta"

struct elog_partlog_segment {
	int64_t base_offset;
	int fd;                        /* the .log */
	uint64_t size;                 /* bytes in the .log */
	struct elog_segindex_pair ix;  /* max_timestamp: of the whole segment */
};

struct elog_partlog {
	char *dir;
	int dir_fd;
	struct elog_partlog_config config;
	struct elog_partlog_segment *segments; /* oldest first; the last is active */
	uint32_t segment_count, segment_cap;
	int idx_fd, tix_fd;            /* the active segment's index files */
	int64_t active_first_append_ms;/* config clock at the first append; -1 when empty */
	uint64_t last_term;
	uint64_t size_bytes;
	uint8_t *scratch;              /* ELOG_PARTLOG_WALK_WINDOW bytes */

	pthread_mutex_t mutex;         /* see the comment at the top */
	int active_fd;
	int64_t next_offset;
	uint64_t generation;           /* bumped when truncation moves next_offset down */
	_Atomic int64_t flushed_offset;
	_Atomic int failed;            /* set once, after `failure` is written */
	struct elog_err failure;
};

/* A read window over one segment's batch headers, valid during one call. */
struct elog_partlog_walker {
	const struct elog_partlog_segment *segment;
	uint8_t *buf;
	uint64_t buf_pos;
	size_t buf_len;
};

static inline struct elog_partlog_segment *elog_partlog_active(struct elog_partlog *log)
{
	return &log->segments[log->segment_count - 1];
}

/* Offset one past the last record of segment i. */
static inline int64_t elog_partlog_segment_end(const struct elog_partlog *log, uint32_t i)
{
	return i + 1 < log->segment_count ? log->segments[i + 1].base_offset : log->next_offset;
}

/* partlog.c */
int elog_partlog_fail(struct elog_partlog *log, struct elog_err *err);
int elog_partlog_check_usable(const struct elog_partlog *log, struct elog_err *err);
int elog_partlog_sync_dir(struct elog_partlog *log, struct elog_err *err);
int elog_partlog_write_at(int fd, const uint8_t *buf, size_t len, uint64_t position,
			  const char *what, struct elog_err *err);
int elog_partlog_open_indexes(struct elog_partlog *log, int64_t base_offset, int flags,
			      struct elog_err *err);
void elog_partlog_segment_release(struct elog_partlog_segment *s);
int elog_partlog_segment_push(struct elog_partlog *log, int64_t base_offset, int fd,
			      struct elog_err *err);
/* flushed_offset = max(it, offset) unless a truncation bumped the generation. */
void elog_partlog_flushed_raise(struct elog_partlog *log, int64_t offset, uint64_t generation);
int64_t elog_partlog_now_ms(const struct elog_partlog *log);

/* partlog_recover.c */
int elog_partlog_meta_load(struct elog_partlog *log, int *created, struct elog_err *err);
int elog_partlog_recover(struct elog_partlog *log, struct elog_partlog_recovery *report,
			 struct elog_err *err);
int elog_partlog_write_index_file(struct elog_partlog *log, int64_t base_offset,
				  const char *ext, const struct elog_segindex *ix, int sync,
				  struct elog_err *err);

/* partlog_read.c */
uint32_t elog_partlog_segment_find(const struct elog_partlog *log, int64_t offset);
void elog_partlog_walker_init(struct elog_partlog_walker *w, struct elog_partlog *log,
			      const struct elog_partlog_segment *segment);
int elog_partlog_walker_header(struct elog_partlog_walker *w, uint64_t position,
			       int64_t expected_offset, struct elog_batch_header *h,
			       struct elog_err *err);
int elog_partlog_walk_to_end(struct elog_partlog *log, uint32_t i, uint64_t end,
			     struct elog_batch_header *last, int64_t *max_timestamp,
			     int *found, struct elog_err *err);

#endif
