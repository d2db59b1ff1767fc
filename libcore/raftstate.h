/*
 * raftstate — a Raft group's state on disk: the file raft.state in the
 * group's partition directory (DIR/<topic>/<partition>/raft.state, and
 * DIR/__meta/0/raft.state for the metadata group). Only brokers in a
 * cluster write it; a broker alone never does.
 *
 * It holds what the core (raft.h) needs to survive a restart: the hard
 * state (term, vote, restricted_term), the term cache, a commit checkpoint
 * (a commit offset the node knew; restarting from it shortens what it must
 * relearn), and one flag: whether it was written by a clean shutdown (a
 * flush=never partition that was not shut down cleanly may have lost
 * records it reported durable, and starts restricted).
 *
 * The file holds two copies of the state, each in its own 4 KiB page
 * (copy 0 at byte 0, copy 1 at byte 4096), written in place, one after
 * the other: copy 1, sync, copy 0, sync. A crash tears at most the copy
 * being written, and the other holds the old state or the new one; at
 * rest both say the same, so a damaged copy costs nothing but a warning.
 * (After a sync that failed, copy 0 may be neither; the next write still
 * starts with copy 1, and a crash during it may leave no good copy: the
 * broker then refuses to start, naming the file, rather than guess a vote.)
 * Writing in place (no tmp file, no rename) is what lets a broker write
 * thousands of them in one loop turn (an election of every group it
 * holds): a create and a rename per group cost ~250 us on this machine,
 * an in-place write ~15 us.
 *
 * Copy layout (little-endian, as every elog file; docs/format.md, "raft.state"):
 *
 *    0  4  magic "ERST"
 *    4  2  version (2)
 *    6  2  flags: bit 0 = written at a clean shutdown
 *    8  8  term
 *   16  4  vote (int32; -1 none)
 *   20  8  restricted_term
 *   28  8  commit checkpoint (int64 >= 0)
 *   36  8  sequence: one more at every write (the newer copy wins)
 *   44  4  term cache entries n (<= ELOG_RAFT_TERMS_MAX)
 *   48 16n entries: u64 term, i64 first offset (strictly increasing in both)
 *   ..  4  CRC-32C of every byte before it
 *
 * Version 1 (written by earlier builds) is one copy at byte 0 without the
 * sequence (its entries at byte 40): read as sequence 0, and replaced by
 * the first write (copy 1 first, so a crash leaves the old copy whole).
 * A copy of all zero bytes, or past the end of the file, was never
 * written; a file that is empty or zeros only (made, then a crash before
 * its first copy reached the disk, which may keep the new size without
 * the bytes) is no file. A file whose copies are both damaged is refused: the caller
 * refuses to start, naming the file and the reason (docs/operations.md),
 * because a lost vote could let the node vote twice in a term.
 */
#ifndef ELOG_RAFTSTATE_H
#define ELOG_RAFTSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "raft.h"

#define ELOG_RAFTSTATE_NAME "raft.state"
#define ELOG_RAFTSTATE_VERSION 2
#define ELOG_RAFTSTATE_HEAD_BYTES 48
#define ELOG_RAFTSTATE_COPY_BYTES 4096 /* each copy's page */
#define ELOG_RAFTSTATE_BYTES_MAX (ELOG_RAFTSTATE_HEAD_BYTES + 16 * ELOG_RAFT_TERMS_MAX + 4)
#define ELOG_RAFTSTATE_CLEAN 1u
#define ELOG_RAFTSTATE_PURGING 2u  /* purge batches not yet applied (broker_raft_purge.c) */
#define ELOG_RAFTSTATE_GUARDED 4u  /* written while the empty-replica guard was armed */
/* Only in the file: the group's later states are in the broker's
 * raft.journal (raftjournal.h), which must then exist. */
#define ELOG_RAFTSTATE_JOURNALED 8u

struct elog_raftstate {
	struct elog_raft_hard_state hard;
	int64_t commit;
	uint16_t flags;
	uint64_t seq;            /* the sequence written (0: never, or version 1) */
	uint8_t copy_damaged;    /* load: one copy was damaged or torn, the other used */
	uint32_t term_count;
	struct elog_raft_term_start terms[ELOG_RAFT_TERMS_MAX];
};

/* The state of a group that never ran: term 0, no vote, commit 0, no terms. */
void elog_raftstate_init(struct elog_raftstate *s);
/* Whether two states say the same (sequence and load notes aside). */
int elog_raftstate_equal(const struct elog_raftstate *a, const struct elog_raftstate *b);
/* Encode one copy into buf (cap >= ELOG_RAFTSTATE_BYTES_MAX); returns the length. */
size_t elog_raftstate_encode(const struct elog_raftstate *s, uint8_t *buf, size_t cap);
/*
 * Decode one copy (version 1 or 2) from the len bytes at buf (bytes past
 * its end are ignored) and check every field; ELOG_E_CORRUPT (or
 * ELOG_E_VERSION) saying why.
 */
int elog_raftstate_decode(const uint8_t *buf, size_t len, struct elog_raftstate *s,
			  struct elog_err *err);
/*
 * Read DIR/raft.state. 0 with *found = 1 and *s filled from the newer
 * good copy (s->copy_damaged set when the other was damaged); 0 with
 * *found = 0 (and *s initialised) when there is no file; -1 when it
 * cannot be read or neither copy is good, err naming the file and why.
 */
int elog_raftstate_load(const char *dir, struct elog_raftstate *s, int *found,
			struct elog_err *err);
/*
 * Write DIR/raft.state durably: s->seq one more, copy 1, fdatasync, copy
 * 0, fdatasync (and the directory, when the file is new). On failure
 * s->seq is as it was.
 */
int elog_raftstate_store(const char *dir, struct elog_raftstate *s, struct elog_err *err);

/*
 * The same in steps, for many groups at once with two filesystem syncs
 * instead of two fdatasyncs each: _store_copy(1) for every group (with
 * s->seq already one more than the last written), elog_raftstate_syncfs,
 * _store_copy(0) for every group, elog_raftstate_syncfs. Nothing is
 * durable before the second syncfs returns 0; a crash before leaves each
 * file's newer good copy old or new, never a mix.
 */
int elog_raftstate_store_copy(const char *dir, const struct elog_raftstate *s, int copy,
			      struct elog_err *err);
/* syncfs of the filesystem holding DIR. */
int elog_raftstate_syncfs(const char *dir, struct elog_err *err);

#endif
