/*
 * partlog — one partition's log: a directory of segments.
 *
 * Directory layout (see docs/format.md):
 *   log.meta                      "elog-partlog 1\n": format version; a newer
 *                                 number is refused with ELOG_E_VERSION
 *   <base offset, 20 digits>.log  the segment: batches back to back
 *   <base offset, 20 digits>.idx  sparse offset index, 8-byte entries:
 *                                 u32 offset - base, u32 byte position
 *   <base offset, 20 digits>.tix  sparse time index, 16-byte entries:
 *                                 i64 max timestamp of every batch before
 *                                 the one at (offset, position),
 *                                 u32 offset - base, u32 byte position
 *   recovery.point                "elog-recovery-point <offset> <crc>\n":
 *                                 every segment below that offset is synced
 *   log.start                     "elog-log-start <offset> <crc>\n": the log
 *                                 start a purge set (absent: never purged)
 *
 * Invariants:
 *   - Offsets are dense: every batch starts at the previous batch's last
 *     offset + 1; the first batch of a segment starts at the segment's base.
 *   - Only the newest segment (the active one) is ever written; closed
 *     segments are immutable and only ever deleted whole (retention,
 *     truncation). A roll does not wait for the disk (except under
 *     flush=always without sync_deferred): the closed segment's log and
 *     indexes are synced by the next elog_partlog_flush (or close).
 *   - first segment's base <= start_offset <= next_offset; next_offset is
 *     one past the last record. start_offset is the first offset a reader
 *     may ask for: the oldest segment's base, unless a purge
 *     (elog_partlog_start_set) moved it up inside the log. Reads below it
 *     are ELOG_E_RANGE, timestamp lookups answer at or after it, and
 *     retention deletes every segment that lies wholly below it. It only
 *     moves up (a purge, retention), except when a truncation cuts below
 *     it. A purge makes the records below it durable and then persists it
 *     in log.start before it returns; open falls back to the first segment
 *     when that file is missing or unreadable (purged records come back,
 *     nothing is hidden), and brings it down to next_offset if a crash cut
 *     the log below it.
 *   - flushed_offset <= next_offset: everything below it has been fsynced.
 *     It never passes a closed segment that is not synced yet.
 *   - The recovery point (recovery.point) is the base offset of a segment
 *     below which every segment, log and indexes, is synced. Only flush
 *     moves it up (once the segments below are synced, and before
 *     flushed_offset moves), only truncation moves it down (before cutting).
 *   - Every segment from the one holding the recovery point on (at least
 *     the active one) is validated batch by batch on open, and their
 *     indexes are rebuilt. Without a recovery.point (a directory written
 *     before it existed, whose closed segments were synced at roll) only
 *     the active segment is; with an unreadable one, every segment.
 *   - A torn tail is cut; damage never is (docs/format.md, Recovery). A bad
 *     batch is a torn tail only when it lies past the durable end (below
 *     which every byte was synced: the recovery point's segment boundary,
 *     refined by the exact end a clean close records) and no valid batch
 *     follows it, in its segment or a later one. Then it is cut, the later
 *     segments (holding no valid batch) deleted and the loss reported.
 *     Otherwise the bytes from the bad batch to the next valid one are a
 *     damaged extent: recorded (bounded, per segment), reported through
 *     the config's event callback, never deleted.
 *   - Reads never cross damage: an offset inside a damaged extent fails
 *     with ELOG_E_DAMAGED naming the directory, the offsets, the file and
 *     the byte; an offset after one is found by skipping it; a slice ends
 *     before one. next_offset and start_offset count damaged offsets as
 *     part of the log.
 *   - Index files are hints: on open they are checked and rebuilt from the
 *     log when missing or wrong, and an entry a lookup finds wrong gets its
 *     index rebuilt then (event ELOG_PARTLOG_EVENT_INDEX_REBUILT) without
 *     failing the lookup. The active segment's indexes live in memory and
 *     reach their files at roll and close only.
 *   - Segments below the recovery point are checked cheaply on open (first
 *     batch header, index structure, closing .tix entry), not CRC-scanned,
 *     so opening costs the segments written since the last flush, not the
 *     whole log. A segment that fails those checks is scanned whole then,
 *     and damage inside one that passes surfaces when a read walks into it
 *     (every header of a slice is checked, and _read checks every CRC):
 *     either way the segment is scanned whole once and its damaged extents
 *     recorded.
 *   - After an fsync error, or a write error other than a full disk, the
 *     log is failed: every later call, reads too, returns ELOG_E_FAILED
 *     with the original reason. Nothing is retried, because a retried
 *     fsync can report success for data that is gone.
 *   - A full disk (ENOSPC, EDQUOT, or EFBIG past the file size limit) on a
 *     write of bytes never acknowledged is not a failure: the write is cut
 *     back (the segment truncated to where the batch began; a roll whose
 *     index writes or new files found no room undone, the old segment
 *     staying active), the call returns ELOG_E_NOSPACE, and the log stays
 *     usable; the same append may succeed once there is room. Writes of
 *     hints find no room quietly: index files at close (rebuilt on open),
 *     recovery.point when a flush would move it up (it stays lower, so the
 *     next open validates more), index files rebuilt on open (kept in
 *     memory instead).
 *
 * Threads: append, append_at, truncate, retain, the reads and close are
 * called by one owner thread (with config.fds, all the logs of a budget by
 * the same one). elog_partlog_flush (and _flushed_offset,
 * _failed) may be called from another thread (the background flusher) at
 * the same time; a mutex inside guards the shared state, and fdatasync runs
 * outside it, so appends do not wait for the disk (see partlog_int.h).
 *
 * Calling sequence:
 *   elog_partlog_open(dir, &config, &log, &report, err)
 *   elog_partlog_append / _append_at / _read / _find_time / _truncate /
 *   _start_set / _retain / _flush ...
 *   elog_partlog_close(log)
 */
#ifndef ELOG_PARTLOG_H
#define ELOG_PARTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "err.h"

#define ELOG_PARTLOG_FORMAT_VERSION 1

/* Text of why an extent is damaged, e.g. "batch crc mismatch: ...". */
#define ELOG_PARTLOG_WHY_MAX 160
/* Damaged extents kept per segment; one more is merged into the last. */
#define ELOG_PARTLOG_DAMAGE_MAX 8

/*
 * A damaged extent: bytes [position, end_position) of the segment based at
 * segment_base hold no batch that can be trusted, so offsets [offset,
 * end_offset) cannot be read. end_position is where the next valid batch
 * starts, or the end of the segment. A zero-byte extent is a gap: offsets
 * missing between two valid batches (or segments).
 */
struct elog_partlog_damage {
	int64_t segment_base;
	uint64_t position, end_position;
	int64_t offset, end_offset;
	char why[ELOG_PARTLOG_WHY_MAX];
};

enum elog_partlog_event_kind {
	ELOG_PARTLOG_EVENT_DAMAGE = 1,        /* a damaged extent was found */
	ELOG_PARTLOG_EVENT_INDEX_REBUILT = 2, /* an index file was wrong and was rebuilt */
};

struct elog_partlog_event {
	enum elog_partlog_event_kind kind;
	const char *dir;                          /* the log's directory */
	const struct elog_partlog_damage *damage; /* DAMAGE */
	const char *file;                         /* INDEX_REBUILT: the index file's name */
	const char *why;                          /* INDEX_REBUILT: what was wrong */
};

enum elog_flush_policy {
	ELOG_FLUSH_ALWAYS = 0,   /* fdatasync before an append returns (or, with
	                            config.sync_deferred, before its answer) */
	ELOG_FLUSH_INTERVAL = 1, /* elog_partlog_flush is called every flush_interval_ms */
	ELOG_FLUSH_NEVER = 2,    /* the OS decides, until elog_partlog_flush or close */
};

struct elog_partlog_config {
	uint64_t segment_bytes;        /* roll when the active segment would exceed this */
	int64_t segment_ms;            /* roll when the active segment's first batch is older; 0 = never
	                                  (age by clock_ms at that first append, not by record
	                                  timestamps, which producers set; after a reopen the
	                                  age of the recovered active segment counts from the open) */
	int64_t retention_ms;          /* delete closed segments whose newest record is older; -1 = keep */
	int64_t retention_bytes;       /* delete oldest closed segments while the log is larger; -1 = keep */
	uint32_t index_interval_bytes; /* an index entry at least every this many log bytes */
	enum elog_flush_policy flush;
	int64_t flush_interval_ms;     /* for ELOG_FLUSH_INTERVAL */
	uint32_t batch_bytes_max;      /* largest batch accepted (<= ELOG_BATCH_SIZE_MAX) */
	uint32_t preallocate_bytes;    /* keep this much allocated past the active segment's
	                                  end (fallocate), so appends of about half of it
	                                  cannot find the disk full; 0 = none (the metadata
	                                  log's reserve, see store.h) */
	/*
	 * flush=always without syncing on the owner thread: append, append_at
	 * and a roll write and return, and the owner's flusher syncs (the
	 * broker answers a produce once flushed_offset passes it). Closed
	 * segments go on the pending list as under flush=interval. 0: append
	 * itself syncs (the metadata log: rare, small, and replayed as soon as
	 * it is appended).
	 */
	int sync_deferred;
	/*
	 * Called on the owner thread after every append, append_at or roll
	 * (bytes not synced yet), so the owner can tell its flusher (the store
	 * calls elog_flusher_dirty). NULL: not called. Must be cheap.
	 */
	void (*written)(void *ctx);
	void *written_ctx;
	/*
	 * Retention (elog_partlog_retain; not the deletions of a purge, which
	 * are whole when it returns) hands over the last fd of each segment it
	 * deleted (its names already unlinked): closing it frees the file's blocks, which
	 * can take long on some filesystems, so the owner may close it on
	 * another thread (the store gives it to the flusher). With it, the
	 * directory fsync that makes the deletions durable is left to the next
	 * flush too (through `written`). NULL: both on the owner's thread.
	 */
	void (*discard)(void *ctx, int fd);
	void *discard_ctx;
	/*
	 * recovery.point writes that only raise it with what is synced already
	 * (open's settling, close's durable end) skip their fsyncs: the owner
	 * syncs the filesystem once after opening or closing many logs
	 * (syncfs). A crash before that loses or tears only the hint: the
	 * next open validates more, and never trusts more than was synced.
	 */
	int hints_unsynced;
	/*
	 * Creating a new log (its directory, log.meta, the first segment)
	 * skips the fsyncs that make those durable: the owner syncs the
	 * filesystem once after creating many (a topic of 10,000 partitions
	 * costs one syncfs, not 40,000 fsyncs), before anything is written to
	 * them. A crash before that leaves a directory that the next open
	 * completes: missing files are made again, and an unreadable log.meta
	 * in a directory without segments is written again.
	 */
	int create_unsynced;
	/* The fd budget this log shares (see struct elog_partlog_fds); NULL: always open. */
	struct elog_partlog_fds *fds;
	/* Clock in ms since the epoch for segment_ms; NULL means the real clock. Tests set it. */
	int64_t (*clock_ms)(void *ctx);
	void *clock_ctx;
	/* Told about damage and index rebuilds as they are found (open included);
	 * NULL: not told. Called on the owner thread, never with a lock held. */
	void (*event)(void *ctx, const struct elog_partlog_event *e);
	void *event_ctx;
};

/* Defaults: 128 MiB segments, no age roll, keep forever, 4 KiB index
 * interval, flush every 1000 ms, 16 MiB batches. */
void elog_partlog_config_default(struct elog_partlog_config *c);

enum elog_recovery_point_state {
	ELOG_RECOVERY_POINT_FOUND = 0,
	ELOG_RECOVERY_POINT_MISSING = 1, /* new directory, or one from before the file:
	                                    only the active segment was validated */
	ELOG_RECOVERY_POINT_BAD = 2,     /* unreadable: every segment was validated */
};

enum elog_start_state {
	ELOG_START_MISSING = 0, /* no log.start: never purged (or a directory from before
	                           purges); the log starts at its first segment */
	ELOG_START_FOUND = 1,
	ELOG_START_BAD = 2,     /* unreadable: the log starts at its first segment, so
	                           purged records are readable again; the file is left */
};

/* What open found and did, for the caller to log. */
struct elog_partlog_recovery {
	uint32_t segments;           /* segments in the log once recovered */
	uint32_t segments_validated; /* of them, validated batch by batch (the active one too) */
	uint32_t segments_removed;   /* segments after a cut, deleted */
	uint64_t truncated_bytes;    /* bytes cut: the cut segment's tail plus every
	                                segment removed after it */
	uint64_t truncated_records;  /* records in the batches that were cut, counted
	                                from the headers that still decode: exact for a
	                                torn write (0 when less than a header is left),
	                                an estimate when the bytes are damaged */
	uint32_t indexes_rebuilt;    /* .idx/.tix pairs rebuilt */
	uint32_t segments_synced;    /* .log files open had to fdatasync (none after a
	                                clean close: the recorded durable end covers them) */
	uint32_t damaged_extents;    /* damaged extents found (each also an event) */
	int created;                 /* the directory or its log.meta was made by this open */
	char first_bad[ELOG_ERR_MSG_MAX]; /* why the log was cut ("" if not) */
	enum elog_recovery_point_state recovery_point_state;
	int64_t recovery_point;      /* read from recovery.point; -1 unless FOUND */
	char recovery_point_problem[ELOG_ERR_MSG_MAX]; /* why BAD ("" otherwise) */
	enum elog_start_state start_state;
	int64_t start_offset;        /* the log start once open */
	char start_problem[ELOG_ERR_MSG_MAX]; /* why log.start was not used as it is
	                                         (BAD, or a start past the log's end);
	                                         "" otherwise */
};

struct elog_partlog; /* opaque */

/*
 * An fd budget shared by many logs (the store's partitions): a log opened
 * with config.fds keeps its files (directory, segments, active indexes)
 * open only while it is among the most recently used. Every call that
 * needs them reopens a parked log first and makes it the most recent;
 * when the logs' open files pass `budget`, the least recently used ones
 * are parked: their active indexes written, flushed (an fsync on the
 * owner's thread, only for a log written since the flusher's last round:
 * logs that are already clean go first), files closed. A parked log keeps
 * everything else in memory (offsets, indexes of closed segments,
 * damage), so reading its offsets needs no file. budget 0: no limit.
 * Owner thread only; a slice's fd stays valid until the owner's next call
 * into another log of the same budget.
 */
struct elog_partlog_fds {
	uint32_t budget;             /* files the logs may hold open together; 0: no limit */
	uint32_t open_files;         /* what they hold now */
	uint32_t open_logs;
	struct elog_partlog *lru_head, *lru_tail; /* open logs, most recent first */
	uint64_t parks, reopens;     /* for tests and metrics */
};

void elog_partlog_fds_init(struct elog_partlog_fds *fds, uint32_t budget);
/* Whether the log's files are closed now (for tests and metrics). */
int elog_partlog_parked(const struct elog_partlog *log);

/*
 * Open (creating the directory's log.meta if the directory is empty or
 * missing) and recover. Fails with ELOG_E_VERSION for a newer format (in
 * log.meta, or a batch with a newer magic whose CRC matches), with
 * ELOG_E_CORRUPT when a segment cannot be a segment at all (larger than
 * 4 GiB, or spanning more than 2^32 offsets), and with ELOG_E_BUSY never
 * (locking is the store's job). Damage does not fail open: it is recorded
 * (see elog_partlog_damage_list) and reported as events.
 */
int elog_partlog_open(const char *dir, const struct elog_partlog_config *config,
		      struct elog_partlog **out, struct elog_partlog_recovery *report,
		      struct elog_err *err);

/* Write the active indexes and flush (unless failed), close files, free. NULL is fine. */
void elog_partlog_close(struct elog_partlog *log);
/* Close a log whose directory is about to be removed (its topic deleted):
 * nothing written, nothing synced (a thousand partitions' fsyncs on the
 * loop for files about to go). NULL is fine. */
void elog_partlog_close_discard(struct elog_partlog *log);

int64_t elog_partlog_start_offset(const struct elog_partlog *log);
int64_t elog_partlog_next_offset(const struct elog_partlog *log);
int64_t elog_partlog_flushed_offset(const struct elog_partlog *log);
/* Term of the last batch, 0 for an empty log. */
uint64_t elog_partlog_last_term(const struct elog_partlog *log);
uint64_t elog_partlog_size_bytes(const struct elog_partlog *log);
uint32_t elog_partlog_segment_count(const struct elog_partlog *log);
const char *elog_partlog_dir(const struct elog_partlog *log);

/*
 * Leader append. The caller has validated the batch whole
 * (elog_batch_validate: the broker on produce, a follower on receipt);
 * append checks only its header (elog_batch_header_decode; len must be
 * exactly one batch, at most batch_bytes_max, else ELOG_E_LIMIT), not its
 * CRC or records again. It assigns the batch offsets from
 * next_offset and the given term (elog_batch_assign, in place: buf is
 * modified), write it, flush per policy. *base_offset_out gets the first
 * offset. Rolls the segment first when needed: when the batch would take
 * the active segment past segment_bytes (a batch larger than that goes
 * alone into a fresh segment) or the segment is older than segment_ms. A
 * term lower than the last batch's is ELOG_E_INVAL, as for append_at.
 * No room on the disk (for the batch, or for the roll before it) is
 * ELOG_E_NOSPACE with nothing written and the log still usable.
 */
int elog_partlog_append(struct elog_partlog *log, uint8_t *buf, size_t len, uint64_t term,
			int64_t *base_offset_out, struct elog_err *err);

/*
 * Follower append: write a batch whose offsets were assigned by the leader,
 * validated by the caller as for append; its CRC is checked again here
 * (ELOG_E_CORRUPT).
 * Its base_offset must equal next_offset: lower is ELOG_E_OVERLAP, higher
 * ELOG_E_GAP, both with the offsets in the message, and nothing is written.
 * Its term may not be lower than the last batch's term (ELOG_E_INVAL).
 */
int elog_partlog_append_at(struct elog_partlog *log, const uint8_t *buf, size_t len,
			   struct elog_err *err);

/*
 * Remove every batch at or after `offset`, which must be a batch boundary
 * (the base offset of a batch) or next_offset; anything else is
 * ELOG_E_INVAL. Whole newer segments are deleted; the segment holding
 * `offset` is cut and becomes the active one. Truncating below the first
 * segment's base is ELOG_E_RANGE; below start_offset (a follower cut back
 * below its leader's purge) brings the start down to `offset` first, in
 * log.start too. Durable (file and directory fsynced) when it returns.
 */
int elog_partlog_truncate(struct elog_partlog *log, int64_t offset, struct elog_err *err);

/*
 * Reset: drop every batch; the log is empty and starts (and ends) at
 * `offset`, which must be at or past the first segment's base. What a
 * follower does when its leader's log start is past everything it could
 * match (retention deleted it there, or the follower is new). Durable
 * when it returns: a truncation to the first segment, then its one empty
 * segment replaced by one at `offset`, then log.start.
 */
int elog_partlog_reset(struct elog_partlog *log, int64_t offset, struct elog_err *err);

/*
 * Purge: move the log start up to `offset` (docs/format.md, log.start), so
 * that the records below it can no longer be read. At or below the start
 * already: nothing to do, 0. Past next_offset: ELOG_E_RANGE (the broker
 * limits it to the high watermark). The records from the new start on are
 * flushed first (when they were not yet), then log.start is written; both
 * are durable when it returns. Without room for the file, the segments
 * wholly below `offset` are deleted first (they go anyway) and the write is
 * tried again; ELOG_E_NOSPACE when that does not make room (the start is
 * then the first segment left, which may have moved up); any other write
 * or sync failure fails the log. When the
 * start reaches next_offset, the active segment is rolled (when it holds
 * anything and there is room), so that nothing below the start has to stay
 * on the disk. Deleting the segments wholly below the start is left to
 * elog_partlog_retain or elog_partlog_retain_purged.
 *
 * This is also the call a replica makes to follow its leader's start
 * (replication): a leader's start past a follower's end is the follower's
 * to handle (truncate, then append from there) before it calls this.
 */
int elog_partlog_start_set(struct elog_partlog *log, int64_t offset, struct elog_err *err);

/*
 * Where the batches holding `offset` and after lie: one contiguous byte range
 * inside one segment file, of whole batches, starting with the batch that
 * contains `offset` (which may begin before `offset`: readers skip records
 * below it), at most max_bytes long unless the first batch alone is larger
 * (it is then returned whole, so a reader always makes progress).
 * offset == next_offset gives len 0. Outside [start, next] is ELOG_E_RANGE.
 */
struct elog_partlog_slice {
	int fd;              /* segment file, owned by the log: do not close */
	uint64_t position;   /* byte position in the file */
	uint32_t len;        /* bytes; 0 at the end of the log */
	int64_t base_offset; /* first offset of the first batch in the slice */
	int64_t next_offset; /* one past the last offset in the slice */
};
int elog_partlog_locate(struct elog_partlog *log, int64_t offset, uint32_t max_bytes,
			struct elog_partlog_slice *slice, struct elog_err *err);

/* elog_partlog_locate with max_bytes = cap, then pread into buf (cap must
 * hold the first batch, else ELOG_E_LIMIT naming the needed size). Every
 * batch read is checked (header, CRC, offsets) before it is returned; a bad
 * one is recorded as damage (the slice is read again, ending before it, or
 * the read fails with ELOG_E_DAMAGED when `offset` is in it). */
int elog_partlog_read(struct elog_partlog *log, int64_t offset, uint8_t *buf, size_t cap,
		      struct elog_partlog_slice *slice, struct elog_err *err);

/*
 * For a reader that preads a slice itself (the broker's fetch): check the
 * batches of `slice` read into buf (header, CRC, offset continuity). 0 when
 * all are good. Otherwise the bad batch is recorded as damage, *good_len is
 * the length of the whole good batches before it (serve those), and -1 is
 * returned: ELOG_E_DAMAGED naming the range, or ELOG_E_CORRUPT when the
 * bytes on disk turn out to be good (the read itself went wrong).
 */
int elog_partlog_check_slice(struct elog_partlog *log, const struct elog_partlog_slice *slice,
			     const uint8_t *buf, uint32_t *good_len, struct elog_err *err);

/*
 * Record the batch holding `offset` as damaged (a reader found it bad):
 * the segment holding it is scanned whole, its damaged extents recorded
 * and reported; if the batch itself checks out on disk, it is recorded all
 * the same, from its start to the next valid batch, with `why`. 0 once
 * `offset` lies in a damaged extent; ELOG_E_RANGE outside the log.
 */
int elog_partlog_mark_damaged(struct elog_partlog *log, int64_t offset, const char *why,
			      struct elog_err *err);

/* The damaged extents known so far that reach the log start or past it (a
 * purge past damage leaves it behind), in offset order: up to cap of them
 * into out; returns how many there are. */
uint32_t elog_partlog_damage_list(const struct elog_partlog *log,
				  struct elog_partlog_damage *out, uint32_t cap);

/* The end_offset of the damaged extent holding `offset`, or -1 if none does. */
int64_t elog_partlog_damage_end(const struct elog_partlog *log, int64_t offset);

/*
 * First offset at or after the log start whose record timestamp is >= ts_ms
 * (first in offset order: timestamps may go backwards), scanning from the
 * time index hint; next_offset if there is none. Segments and batches whose max timestamp is
 * below ts_ms are skipped unread; records are decoded only in the batch
 * where the answer lies. A scan that reaches a damaged extent before the
 * answer fails with ELOG_E_DAMAGED: the answer may lie in it.
 */
int elog_partlog_find_time(struct elog_partlog *log, int64_t ts_ms, int64_t *offset_out,
			   struct elog_err *err);

/*
 * Retention: delete closed segments (never the active one) that lie wholly
 * below start_offset (a purge), whose newest record is older than now_ms -
 * retention_ms, and then the oldest closed segments while the log is
 * larger than retention_bytes. Only ever the oldest segment goes, so an
 * expired segment behind an unexpired one waits for it. Returns the number
 * of segments deleted in *deleted. start_offset moves up to the first
 * segment left when it was below it.
 */
int elog_partlog_retain(struct elog_partlog *log, int64_t now_ms, uint32_t *deleted,
			struct elog_err *err);
/* The same, deleting only segments wholly below `limit` (a replica's
 * commit offset: an uncommitted record may still be cut by a truncation,
 * which must find it). */
int elog_partlog_retain_upto(struct elog_partlog *log, int64_t now_ms, int64_t limit,
			     uint32_t *deleted, struct elog_err *err);
/* The same with only the first rule: what a purge made deletable, at once. */
int elog_partlog_retain_purged(struct elog_partlog *log, uint32_t *deleted, struct elog_err *err);

/*
 * fdatasync what was written: the closed segments a roll left unsynced (log
 * and indexes), then the active segment; then, if closed segments were
 * synced, the recovery point moves up to the active segment's base; then
 * flushed_offset moves up. Thread-safe.
 */
int elog_partlog_flush(struct elog_partlog *log, struct elog_err *err);

/* Non-zero once the log has failed; the reason in err. */
int elog_partlog_failed(const struct elog_partlog *log, struct elog_err *err);

/* ---------------------------------------------------------------- compaction */

/*
 * Compaction (cleanup.policy=compact; partlog_compact.c, docs/format.md
 * "Compaction"): one pass of compact.h over the closed segments, in three
 * calls. prepare and finish run on the owner thread and touch no segment
 * bytes; run reads and writes files only (any thread, the log untouched),
 * so the owner may go on appending, reading, retaining and truncating
 * meanwhile: finish swaps in only the segments that are still the files
 * run read, oldest first, and stops at the first that is not.
 *
 *   elog_partlog_compact_prepare(log, dirty_from, limit, now, dr, &job, err)
 *   -> elog_partlog_compact_run(job, map, &cancel, err)     (worker)
 *   -> elog_partlog_compact_finish(log, job, err)           (owner)
 *   -> elog_partlog_compact_job_free(job)                   (any; removes temp files left)
 *
 * Segments rewritten are written as "<base>.cleaned" (ELOG_PARTLOG_COMPACT_TEMP_EXT)
 * and renamed over "<base>.log"; open removes such files left by a crash.
 */
#define ELOG_PARTLOG_COMPACT_TEMP_EXT "cleaned"

struct elog_partlog_compact_job; /* opaque */
struct elog_compact_map;         /* compact.h */

struct elog_partlog_compact_stats {
	int64_t end_offset;          /* the pass's map held the keys of [dirty_from, end_offset) */
	int full;                    /* the map filled: another pass is due from end_offset */
	uint32_t segments;           /* swapped in by finish */
	uint64_t bytes_before, bytes_after; /* of the segments run rewrote */
	uint64_t records_removed;
	uint64_t batches_dropped;    /* every record removed (they became empty batches) */
	int64_t tombstone_due_ms;    /* when the first tombstone kept falls due; INT64_MAX: none */
};

/*
 * The end of what compaction may rewrite: the end of the last closed
 * segment that lies wholly below the recovery point and `limit` (a
 * replica's commit offset; INT64_MAX alone), stopping before the first
 * segment with damage; the first segment's base when there is none.
 */
int64_t elog_partlog_compact_end(struct elog_partlog *log, int64_t limit);
/*
 * A job compacting the segments below elog_partlog_compact_end(log,
 * limit), whose map takes keys from dirty_from on (the end of the last
 * full pass; the log's start after an open). *job NULL and 0 when there is
 * nothing from dirty_from to compact. Tombstones fall due
 * delete_retention_ms after their batch's max timestamp, against now_ms.
 */
int elog_partlog_compact_prepare(struct elog_partlog *log, int64_t dirty_from, int64_t limit,
				 int64_t now_ms, int64_t delete_retention_ms,
				 struct elog_partlog_compact_job **job, struct elog_err *err);
/* One pass; cancel (may be NULL) set makes it stop soon with ELOG_E_BUSY. */
int elog_partlog_compact_run(struct elog_partlog_compact_job *job, struct elog_compact_map *map,
			     const _Atomic int *cancel, struct elog_err *err);
/*
 * Swap the rewritten segments in, oldest first. Segments retention deleted
 * meanwhile are skipped; ELOG_E_RANGE when one still there changed (those
 * before it are swapped, the rest are not: run again), or when the log was
 * reopened since run (open removed the temp files); a failed directory
 * fsync fails the log.
 */
int elog_partlog_compact_finish(struct elog_partlog *log, struct elog_partlog_compact_job *job,
				struct elog_err *err);
const struct elog_partlog_compact_stats *
elog_partlog_compact_job_stats(const struct elog_partlog_compact_job *job);
void elog_partlog_compact_job_free(struct elog_partlog_compact_job *job);

#endif
