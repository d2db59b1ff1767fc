/*
 * raftjournal — every Raft group's latest state in one file per broker:
 * DIR/__meta/raft.journal (docs/format.md, "raft.journal"). Only brokers in
 * a cluster keep it.
 *
 * Why: an election of every group a broker holds (a start-up, a failover
 * of a broker with thousands of leaderships) changed thousands of states at
 * once, and each lived in its own raft.state (two copies, two syncs; or
 * every file, syncfs, every file, syncfs). The journal takes such a batch
 * as one append and one fdatasync, whatever its size, so it is written off
 * the event loop in a few milliseconds.
 *
 * The file is a sequence of batches. Each batch is written twice, back to
 * back, in one write (copy 0 then copy 1, the same bytes but for the copy
 * flag and the CRC), then fdatasync: a crash tears the batch being written
 * (which no message depended on yet: frames wait for the sync), and a byte
 * flipped at rest spoils one copy, the other is used. Batch header (28
 * bytes, little-endian):
 *
 *    0  4  magic "ERSJ"
 *    4  2  version (1)
 *    6  2  flags: bit 0 = the file's first batch (a snapshot or the first
 *          append of a new file); bit 1 = copy 1
 *    8  4  records
 *   12  4  payload bytes
 *   16  8  batch number: one more than the batch before it in the file
 *   24  4  CRC-32C of bytes 0..23 and the payload
 *
 * and the payload, one record after another: u16 topic length, topic, u32
 * partition, i64 incarnation (the group's id on the wire, raftwire.h; ""
 * 0 0 is the metadata group), u16 state length, the state encoded as one
 * raft.state copy (raftstate.h, its own CRC and sequence). Of two records
 * of one group the later wins.
 *
 * Reading: a copy that is whole and checks is taken; a batch number seen
 * already (the other copy) is skipped. Past a bad copy the reader looks for
 * the next good one: none, and the bad bytes are a torn tail (cut off, the
 * file synced); one, and its number must follow the last batch taken, or
 * both copies of a batch were lost and the file is refused as damaged (a
 * lost vote could let the broker vote twice in a term). The first batch
 * taken must carry the first-batch flag, for the same reason.
 *
 * The file grows by one batch per write; past max(4 MiB, 4 times the live
 * records) the writer replaces it by a snapshot (every group's latest
 * record as one batch, written to raft.journal.tmp, synced and renamed).
 *
 * A group's raft.state file still exists, written when the group is made
 * (and when it is missing or damaged): it is the anchor that says the
 * group's directory is the one the journal speaks of (a directory lost with
 * its log loses its raft.state too; operations.md, "Empty replicas") and
 * the state of groups written before the journal existed. Of the file's
 * state and the journal's record, the higher sequence wins.
 *
 * The writer is one thread at a time (the broker's state writer, or the
 * loop at start-up and stop); lookups may come from another thread: the
 * records are kept under a mutex.
 */
#ifndef ELOG_RAFTJOURNAL_H
#define ELOG_RAFTJOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "raftstate.h"
#include "raftwire.h"

#define ELOG_RAFTJOURNAL_NAME "raft.journal"
#define ELOG_RAFTJOURNAL_VERSION 1
#define ELOG_RAFTJOURNAL_HEAD_BYTES 28
/* Below this the file is never compacted. */
#define ELOG_RAFTJOURNAL_COMPACT_MIN (4u << 20)

struct elog_raftjournal;

/* One group's state to write. */
struct elog_raftjournal_entry {
	const struct elog_raftwire_group *id;
	const struct elog_raftstate *s;
};

/*
 * Open DIR/raft.journal (DIR is the metadata directory, DIR/__meta). When
 * it is missing, *missing is set and the first append makes it (not this:
 * a caller that refuses to start for want of it finds it missing again).
 * A torn tail is cut off; a damaged file is refused (ELOG_E_CORRUPT
 * naming it and why).
 */
int elog_raftjournal_open(const char *dir, struct elog_raftjournal **out, int *missing,
			  struct elog_err *err);
void elog_raftjournal_close(struct elog_raftjournal *j);
/* The latest record of group id: 0 with *found (and *s) set. -1 when the
 * record does not decode (it passed the batch CRC: a bug). */
int elog_raftjournal_find(struct elog_raftjournal *j, const struct elog_raftwire_group *id,
			  struct elog_raftstate *s, int *found, struct elog_err *err);
/* Every record: cb(ctx, id, encoded state, its length). */
void elog_raftjournal_each(struct elog_raftjournal *j,
			   void (*cb)(void *ctx, const struct elog_raftwire_group *id,
				      const uint8_t *state, size_t len),
			   void *ctx);
/* Make the file if it is missing (durably: the directory synced). The
 * append does; a caller that writes files which say the journal exists
 * makes it first. */
int elog_raftjournal_make(struct elog_raftjournal *j, struct elog_err *err);
/*
 * Append the n entries as one batch (both copies) and fdatasync: 0 once
 * durable. A failure leaves the records as they were, and the next append
 * first writes a fresh snapshot (the file's tail is then unknown).
 */
int elog_raftjournal_append(struct elog_raftjournal *j, const struct elog_raftjournal_entry *e,
			    uint32_t n, struct elog_err *err);
/* Drop group id's record (its topic was deleted): gone from the next snapshot. */
void elog_raftjournal_forget(struct elog_raftjournal *j, const struct elog_raftwire_group *id);
/* Drop every record drop() says to (under the journal's lock: drop() must
 * not call back into the journal); returns how many went. */
uint32_t elog_raftjournal_forget_if(struct elog_raftjournal *j,
				    int (*drop)(void *ctx, const struct elog_raftwire_group *id),
				    void *ctx);
/* Write a snapshot now (tests; the append does when the file is large). */
int elog_raftjournal_compact(struct elog_raftjournal *j, struct elog_err *err);
/* Bytes in the file; live records. */
uint64_t elog_raftjournal_size(struct elog_raftjournal *j);
uint32_t elog_raftjournal_count(struct elog_raftjournal *j);

#endif
