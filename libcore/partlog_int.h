/*
 * partlog_int — the partition log's private state, shared by partlog.c
 * (open, append, roll), partlog_sync.c (flush, closed segments waiting for
 * their sync, the recovery point file), partlog_recover.c (what open finds
 * on disk), partlog_read.c (locate, read, find_time) and partlog_trim.c
 * (truncate, retention). Nothing outside those files includes this.
 *
 * Segments live in an array ordered by base offset; the last one is the
 * active segment. Each keeps its .log open (O_RDWR: truncation can make a
 * closed segment active again), except under an fd budget (partlog_fds.c),
 * where a closed segment's opens when a read needs it and every file of a
 * parked log is closed. A closed segment's indexes are mapped
 * read-only; the active one's are on the heap only: idx_written/tix_written
 * entries of them are in their files (idx_fd, tix_fd), and the rest is
 * written at roll and close (the active segment's indexes are rebuilt on
 * open anyway, so appends do not pay two small writes each).
 *
 * A roll under flush=interval/never does not wait for the disk: it puts the
 * closed segment on the pending list (its .log as a dup, its .idx and
 * .tix), bounded by ELOG_PARTLOG_PENDING_MAX, and counts the new file in
 * dir_rolls; elog_partlog_flush syncs the list, the active segment and the
 * directory (when dir_rolls is ahead of dir_rolls_synced). flushed_offset
 * never passes the base of a segment still on the list. Under flush=always
 * (without config.sync_deferred: the metadata log) a roll syncs the closed
 * segment and the directory itself and the list stays empty; with it, a
 * roll is as under flush=interval and the owner's flusher syncs. (Starting writeback at roll with sync_file_range is no
 * better: submitting a whole segment's pages blocks about as long as the
 * fdatasync.)
 *
 * The recovery point (rp_offset, the file recovery.point) is the base of a
 * segment below which every segment is synced, log and indexes; open
 * validates batch by batch every segment from the one holding it. It only
 * moves up in flush, after the segments below were synced, and down in
 * truncation (before anything is cut).
 *
 * The durable end (dur_*, the optional fields of recovery.point) refines
 * the recovery point: every byte of segment dur_base below dur_bytes, and
 * every offset below dur_next, was synced. A close writes it (after its
 * flush), and open after recovery (which synced what it validated); a flush
 * that raises the recovery point past dur_base drops it, and so does a
 * truncation below dur_next. Appends never write it: it is a lower bound.
 *
 * Damage (partlog_damage.c): each segment keeps at most
 * ELOG_PARTLOG_DAMAGE_MAX extents, sorted by position, found by a whole
 * scan of the segment that resynchronises past bad bytes (open for the
 * segments it validates or whose cheap checks fail, a read that finds a bad
 * header or CRC for the others). Only the owner thread touches them.
 *
 * Locking: the owner thread does everything but elog_partlog_flush, which a
 * flusher thread may run at any time. The flusher reads active_fd,
 * active_base, next_offset, generation, dir_rolls and the pending list, and
 * writes flushed_offset, the pending list (removing what it synced),
 * dir_rolls_synced and the failure, all under `mutex`; the owner changes those fields under `mutex`
 * too, and reads the ones only it writes without it. fdatasync runs on dups
 * of the fds outside the lock, so appends do not wait for the disk, and a
 * segment deleted meanwhile cannot pull an fd number out from under it: a
 * pending entry's fds are closed only under `mutex`, when it leaves the
 * list. rp_mutex serialises writers of recovery.point (a flush raising it,
 * a truncation lowering it) and guards rp_offset; it is taken before
 * `mutex`, never after.
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
/* recovery.point is one short line too. */
#define ELOG_PARTLOG_RP_MAX 160
#define ELOG_PARTLOG_RP_NAME "recovery.point"
/* log.start: one line of a fixed size (partlog_start.c). */
#define ELOG_PARTLOG_START_NAME "log.start"
#define ELOG_PARTLOG_START_LEN 45
/* Closed segments awaiting their sync; a roll past this many syncs the oldest itself. */
#define ELOG_PARTLOG_PENDING_MAX 16u

struct elog_partlog_segment {
	int64_t base_offset;
	int fd;                        /* the .log */
	uint64_t size;                 /* bytes in the .log */
	struct elog_segindex_pair ix;  /* max_timestamp: of the whole segment */
	struct elog_partlog_damage *damage; /* ELOG_PARTLOG_DAMAGE_MAX slots, or NULL */
	uint32_t damage_count;         /* sorted by position */
};

/* The durable end of recovery.point; base -1 when unknown. */
struct elog_partlog_durable {
	int64_t base;   /* segment */
	uint64_t bytes; /* of that segment's .log */
	int64_t next;   /* offset after the last durable record */
};

/* A closed segment whose files are not known to be synced yet. */
struct elog_partlog_pending {
	uint64_t id;          /* unique within the log */
	int64_t base_offset;  /* of the segment */
	int fds[3];           /* .log (a dup of the segment's), .idx, .tix: owned */
};

struct elog_partlog {
	char *dir;
	int dir_fd;
	struct elog_partlog_config config;
	struct elog_partlog_segment *segments; /* oldest first; the last is active */
	uint32_t segment_count, segment_cap;
	int idx_fd, tix_fd;            /* the active segment's index files */
	size_t idx_written, tix_written; /* entries of the active indexes in those files */
	int64_t active_first_append_ms;/* config clock at the first append; -1 when empty */
	uint64_t preallocated_end;     /* the active .log is allocated up to this byte (0: unknown) */
	uint64_t last_term;
	uint64_t size_bytes;
	int64_t start_offset;          /* the log start (partlog.h); owner thread only */
	uint8_t *scratch;              /* ELOG_PARTLOG_WALK_WINDOW bytes */

	pthread_mutex_t mutex;         /* see the comment at the top */
	int active_fd;
	int64_t active_base;           /* base offset of the active segment */
	int64_t next_offset;
	uint64_t generation;           /* bumped when truncation moves next_offset down */
	struct elog_partlog_pending pending[ELOG_PARTLOG_PENDING_MAX]; /* oldest first */
	uint32_t pending_count;
	uint64_t pending_next_id;
	uint64_t dir_rolls;            /* rolls that created a file, counted ... */
	uint64_t dir_rolls_synced;     /* ... and how many of them a directory fsync covers */
	_Atomic int64_t flushed_offset;
	_Atomic int failed;            /* set once, after `failure` is written */
	struct elog_err failure;

	pthread_mutex_t rp_mutex;      /* see the comment at the top */
	_Atomic int64_t rp_offset;     /* what recovery.point holds; read without rp_mutex */
	struct elog_partlog_durable durable; /* its durable end; under rp_mutex */

	uint32_t damage_total;         /* extents over all segments */

	/* The fd budget (partlog_fds.c); owner thread only, but `parked` is
	 * also written under `mutex` (flush reads it there). */
	int parked;                    /* every fd closed (-1); the log is clean */
	int fresh;                     /* open is creating the log (create_unsynced applies) */
	int discard;                   /* close writes and syncs nothing: the files go */
	uint32_t fds_held;             /* counted in config.fds->open_files */
	uint32_t segment_fds;          /* segments whose .log is open (fd >= 0) */
	uint32_t fds_counted_segments; /* segment_fds when fds_held was counted */
	int in_lru;
	struct elog_partlog *lru_prev, *lru_next;
};

/* A read window over one segment's batch headers, valid during one call. */
struct elog_partlog_walker {
	const struct elog_partlog_segment *segment;
	uint8_t *buf;
	uint64_t buf_pos;
	size_t buf_len;
	uint32_t last_batch; /* size of the last batch read: large ones need small reads */
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
/*
 * The code for a failed write or create: ELOG_E_NOSPACE when errno says
 * the disk (ENOSPC), a quota (EDQUOT) or the file size limit (EFBIG) is
 * full, ELOG_E_IO otherwise. Nothing of a write that failed so is
 * durable, and the same write may succeed once there is room: callers cut
 * back and keep the log usable (docs/format.md, "A full disk").
 */
enum elog_errcode elog_partlog_errno_code(int errnum);
int elog_partlog_fail(struct elog_partlog *log, struct elog_err *err);
int elog_partlog_check_usable(const struct elog_partlog *log, struct elog_err *err);
int elog_partlog_sync_dir(struct elog_partlog *log, struct elog_err *err);
/* Write all of buf at position; ELOG_E_NOSPACE or ELOG_E_IO (no failure marking). */
int elog_partlog_write_at(int fd, const uint8_t *buf, size_t len, uint64_t position,
			  const char *what, struct elog_err *err);
/* Write a small file whole through name.tmp, fsync, rename and directory fsync;
 * messages name the file, not the directory. A create or write that finds no
 * room removes name.tmp and fails with ELOG_E_NOSPACE (name is unchanged). */
int elog_partlog_replace_file(struct elog_partlog *log, const char *name, const void *bytes,
			      size_t len, struct elog_err *err);
/* The same, without the file's and the directory's fsync when sync is 0. */
int elog_partlog_replace_file_sync(struct elog_partlog *log, const char *name, const void *bytes,
				   size_t len, int sync, struct elog_err *err);
/*
 * Open (flags: 0, or O_CREAT | O_TRUNC) the active segment's index files.
 * With O_TRUNC they are empty; with 0 the caller vouches that they hold the
 * active segment's entries exactly.
 */
int elog_partlog_open_indexes(struct elog_partlog *log, int64_t base_offset, int flags,
			      struct elog_err *err);
/* Write the active indexes' entries not yet in their files (no sync). */
int elog_partlog_write_active_indexes(struct elog_partlog *log, struct elog_err *err);
/* Top up the active segment's allocation past its end (config.preallocate_bytes). */
void elog_partlog_preallocate(struct elog_partlog *log);
void elog_partlog_segment_release(struct elog_partlog *log, struct elog_partlog_segment *s);
int elog_partlog_segment_push(struct elog_partlog *log, int64_t base_offset, int fd,
			      struct elog_err *err);
int64_t elog_partlog_now_ms(const struct elog_partlog *log);
/* Close the active segment and start a new one at next_offset (it must hold
 * something); ELOG_E_NOSPACE leaves the active one as it was. */
int elog_partlog_roll(struct elog_partlog *log, struct elog_err *err);

/* partlog_fds.c */
/*
 * Every owner-thread call that touches files starts with this: reopen a
 * parked log, make it the most recent, park others past the budget. No-op
 * without config.fds.
 */
int elog_partlog_use(struct elog_partlog *log, struct elog_err *err);
/*
 * Under a budget, a closed segment's .log is opened only when a read,
 * scan or truncation needs it (and stays open until the log is parked):
 * open it now if it is not. Without a budget every segment is open.
 */
int elog_partlog_segment_open(struct elog_partlog *log, struct elog_partlog_segment *s,
			      struct elog_err *err);
/* After open's recovery: close the closed segments' files (under a budget). */
void elog_partlog_segments_close_idle(struct elog_partlog *log);
int elog_partlog_unpark(struct elog_partlog *log, struct elog_err *err);
/* ... and leave the budget. */
void elog_partlog_fds_leave(struct elog_partlog *log);

/* partlog_trim.c */
/*
 * Delete the oldest segments while they lie wholly below `offset` (at or
 * below the next_offset flushed): what a purge to it deletes anyway, done
 * before the start is written when the disk has no room for that. The
 * start moves up to the first segment left, when it was below it.
 */
int elog_partlog_retain_below(struct elog_partlog *log, int64_t offset, uint32_t *deleted,
			      struct elog_err *err);

/* partlog_start.c */
/* At open, after recovery: read log.start into start_offset (see partlog.h). */
int elog_partlog_start_load(struct elog_partlog *log, struct elog_partlog_recovery *report,
			    struct elog_err *err);
/* Write log.start durably; ELOG_E_NOSPACE leaves the file as it was. */
int elog_partlog_start_store(struct elog_partlog *log, int64_t offset, struct elog_err *err);

/* partlog_sync.c */
/*
 * flushed_offset = max(it, offset) unless a truncation bumped the
 * generation; never past the base of a segment still pending.
 */
void elog_partlog_flushed_raise(struct elog_partlog *log, int64_t offset, uint64_t generation);
/* Make room on the pending list for one more, syncing the oldest if it is full. */
int elog_partlog_pending_reserve(struct elog_partlog *log, struct elog_err *err);
/* Put a closed segment on the pending list (dups log_fd, takes idx_fd and
 * tix_fd in every case); the list must have room. */
int elog_partlog_pending_add(struct elog_partlog *log, int64_t base_offset, int log_fd,
			     int idx_fd, int tix_fd, struct elog_err *err);
/* Sync the oldest max_entries pending segments now and take them off the list. */
int elog_partlog_pending_sync(struct elog_partlog *log, uint32_t max_entries,
			      struct elog_err *err);
/* Take segments based in [lo, hi) off the list unsynced (they are being deleted);
 * the caller holds the mutex. */
void elog_partlog_pending_drop(struct elog_partlog *log, int64_t lo, int64_t hi);
/* recovery.point: 1 read into *offset and *durable (base -1 when the line has
 * no durable end), 0 missing, -1 with why: ELOG_E_IO when it cannot be read,
 * ELOG_E_CORRUPT when its line is not a valid one. */
int elog_partlog_rp_load(struct elog_partlog *log, int64_t *offset,
			 struct elog_partlog_durable *durable, struct elog_err *why);
/* Write recovery.point (durable NULL or base -1: without a durable end); the
 * caller holds rp_mutex or is alone (open, close). */
int elog_partlog_rp_store(struct elog_partlog *log, int64_t offset,
			  const struct elog_partlog_durable *durable, int sync, struct elog_err *err);
/* At close, after a successful flush: record the exact durable end. */
int elog_partlog_durable_record(struct elog_partlog *log, struct elog_err *err);

/* partlog_recover.c */
int elog_partlog_meta_load(struct elog_partlog *log, int *created, struct elog_err *err);
int elog_partlog_recover(struct elog_partlog *log, struct elog_partlog_recovery *report,
			 struct elog_err *err);
int elog_partlog_write_index_file(struct elog_partlog *log, int64_t base_offset,
				  const char *ext, const struct elog_segindex *ix, int sync,
				  struct elog_err *err);

/* partlog_damage.c */
/* The extent of segment s holding offset, or NULL. */
const struct elog_partlog_damage *elog_partlog_extent_at(const struct elog_partlog_segment *s,
							int64_t offset);
/* If a damaged extent of s starts at (*position, *offset), move both past it; 1 if moved. */
int elog_partlog_extent_skip(const struct elog_partlog_segment *s, uint64_t *position,
			     int64_t *offset);
/* Whether an index entry at position lies inside an extent (and so is not trusted). */
int elog_partlog_extent_covers(const struct elog_partlog_segment *s, uint64_t position);
/* The first extent of s starting at or after position, or NULL. */
const struct elog_partlog_damage *elog_partlog_extent_from(const struct elog_partlog_segment *s,
							  uint64_t position);
/* ELOG_E_DAMAGED naming the log, the offsets, the file and the byte; returns -1. */
int elog_partlog_damage_error(const struct elog_partlog *log, const struct elog_partlog_damage *d,
			      struct elog_err *err);
/* Add an extent to segment s (merging past the bound) and report it. */
int elog_partlog_extent_add(struct elog_partlog *log, struct elog_partlog_segment *s,
			    const struct elog_partlog_damage *d, struct elog_err *err);
void elog_partlog_extents_release(struct elog_partlog *log, struct elog_partlog_segment *s);
/* Drop the extents of segment s at or after position (a truncation cut there). */
void elog_partlog_extents_cut(struct elog_partlog *log, struct elog_partlog_segment *s,
			      uint64_t position);
void elog_partlog_event_index(struct elog_partlog *log, int64_t base, const char *ext,
			      const char *why);

/*
 * What elog_partlog_scan found past the last good batch: a bad tail (bytes
 * from `position` on hold no valid batch) or a clean end of file.
 */
struct elog_partlog_scan {
	uint64_t position;      /* where the good batches (and extents) end */
	int64_t offset;         /* the offset expected there */
	int bad_tail;           /* bytes [position, size) hold no valid batch */
	uint64_t tail_records;  /* records the headers there claim (estimate) */
	struct elog_err why;    /* why the first byte of the tail is bad */
	uint32_t batches;       /* good batches */
	uint64_t last_term;     /* of the last good batch; 0 if none */
	int64_t max_timestamp;  /* over the good batches; INT64_MIN if none */
};
/*
 * Scan segment s, bytes [0, size), batch by batch from its base offset:
 * every batch must decode, match its CRC, continue the offsets and end
 * below `upper`. Past a bad batch, find the next valid one (a batch whose
 * header decodes, whose CRC matches and whose offsets lie in [expected,
 * upper)): the bytes between become an extent of `extents` (count in
 * *extent_count, at most cap; more are merged into the last). A bad run
 * with no valid batch after it ends the scan as a bad tail. ix gets the
 * index of the good batches (entry rule of segindex.h, no closing entry).
 * -1 only for an I/O or memory failure, or ELOG_E_VERSION (a newer batch
 * format whose CRC matches).
 */
int elog_partlog_scan(struct elog_partlog *log, const struct elog_partlog_segment *s,
		      uint64_t size, int64_t upper, struct elog_segindex_pair *ix,
		      struct elog_partlog_damage *extents, uint32_t *extent_count, uint32_t cap,
		      struct elog_partlog_scan *out, struct elog_err *err);
/* "byte 123: why" → "why" (an extent says where already). */
const char *elog_partlog_why_text(const char *msg);
/* Records in the batches from `position` on whose headers still decode. */
uint64_t elog_partlog_tail_records(int fd, uint64_t position, uint64_t size);
/* Whether the file holds a valid batch anywhere with offsets in [lo, hi): 1 yes, 0 no. */
int elog_partlog_probe_valid(int fd, uint64_t size, int64_t lo, int64_t hi,
			     struct elog_err *err);
/*
 * Scan segment i whole (a read found something wrong in it) and record
 * what the scan finds: new damaged extents (reported), and its indexes
 * rewritten when they disagree with the log (reported as rebuilt when no
 * damage explains it). *changed says whether anything changed, so a caller
 * retries at most once.
 */
int elog_partlog_rescan(struct elog_partlog *log, uint32_t i, int *changed,
			struct elog_err *err);

/* partlog_read.c */
uint32_t elog_partlog_segment_find(const struct elog_partlog *log, int64_t offset);
void elog_partlog_walker_init(struct elog_partlog_walker *w, struct elog_partlog *log,
			      const struct elog_partlog_segment *segment);
int elog_partlog_walker_header(struct elog_partlog_walker *w, uint64_t position,
			       int64_t expected_offset, struct elog_batch_header *h,
			       struct elog_err *err);
/*
 * Where to start walking segment s for offset: index entry k of ix (SIZE_MAX
 * or ix NULL: none) unless it lies inside damage, or the end of an extent
 * at or below offset when that is closer.
 */
void elog_partlog_walk_start(const struct elog_partlog_segment *s, const struct elog_segindex *ix,
			     size_t k, int64_t offset, uint64_t *position, int64_t *at);
int elog_partlog_walk_to_end(struct elog_partlog *log, uint32_t i, uint64_t end,
			     struct elog_batch_header *last, int64_t *max_timestamp,
			     int *found, struct elog_err *err);

#endif
