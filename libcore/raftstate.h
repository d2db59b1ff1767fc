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
 * Layout (little-endian, as every elog file; docs/format.md, "raft.state"):
 *
 *    0  4  magic "ERST"
 *    4  2  version (1)
 *    6  2  flags: bit 0 = written at a clean shutdown
 *    8  8  term
 *   16  4  vote (int32; -1 none)
 *   20  8  restricted_term
 *   28  8  commit checkpoint (int64 >= 0)
 *   36  4  term cache entries n (<= ELOG_RAFT_TERMS_MAX)
 *   40 16n entries: u64 term, i64 first offset (strictly increasing in both)
 *   ..  4  CRC-32C of every byte before it
 *
 * Writes go to raft.state.tmp, fsync, rename over raft.state, fsync the
 * directory: the file is the old state or the new one, never a mix. A
 * file that is there but fails any check is damage: the caller refuses to
 * start, naming the file and the reason (docs/operations.md), because a
 * lost vote could let the node vote twice in a term.
 */
#ifndef ELOG_RAFTSTATE_H
#define ELOG_RAFTSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "raft.h"

#define ELOG_RAFTSTATE_NAME "raft.state"
#define ELOG_RAFTSTATE_VERSION 1
#define ELOG_RAFTSTATE_HEAD_BYTES 40
#define ELOG_RAFTSTATE_BYTES_MAX (ELOG_RAFTSTATE_HEAD_BYTES + 16 * ELOG_RAFT_TERMS_MAX + 4)
#define ELOG_RAFTSTATE_CLEAN 1u

struct elog_raftstate {
	struct elog_raft_hard_state hard;
	int64_t commit;
	uint16_t flags;
	uint32_t term_count;
	struct elog_raft_term_start terms[ELOG_RAFT_TERMS_MAX];
};

/* The state of a group that never ran: term 0, no vote, commit 0, no terms. */
void elog_raftstate_init(struct elog_raftstate *s);
/* Whether two states say the same (what would be written is the same). */
int elog_raftstate_equal(const struct elog_raftstate *a, const struct elog_raftstate *b);
/* Encode into buf (cap >= ELOG_RAFTSTATE_BYTES_MAX); returns the length. */
size_t elog_raftstate_encode(const struct elog_raftstate *s, uint8_t *buf, size_t cap);
/* Decode and check every field; ELOG_E_CORRUPT (or ELOG_E_VERSION) saying why. */
int elog_raftstate_decode(const uint8_t *buf, size_t len, struct elog_raftstate *s,
			  struct elog_err *err);
/*
 * Read DIR/raft.state. 0 with *found = 1 and *s filled; 0 with *found = 0
 * (and *s initialised) when there is no file; -1 when it cannot be read or
 * is damaged, err naming the file and why.
 */
int elog_raftstate_load(const char *dir, struct elog_raftstate *s, int *found,
			struct elog_err *err);
/* Write DIR/raft.state durably (tmp, fsync, rename, directory fsync). */
int elog_raftstate_store(const char *dir, const struct elog_raftstate *s, struct elog_err *err);

/*
 * The same in three steps, for many groups at once with two filesystem
 * syncs instead of two fsyncs each: _store_unsynced writes DIR/raft.state.tmp
 * for every group, elog_raftstate_syncfs makes those bytes durable, then
 * _store_rename renames each over raft.state, and a second syncfs makes
 * the renames durable. Nothing is durable before that second syncfs
 * returns 0; a crash before leaves each file old or new, never a mix.
 */
int elog_raftstate_store_unsynced(const char *dir, const struct elog_raftstate *s,
				  struct elog_err *err);
int elog_raftstate_store_rename(const char *dir, struct elog_err *err);
/* syncfs of the filesystem holding DIR. */
int elog_raftstate_syncfs(const char *dir, struct elog_err *err);

#endif
