/*
 * raftterms — a group's saved term cache (raft.state) fitted to the log it
 * describes, when the group starts.
 *
 * raft.state is written at the end of the loop turn that changed it, after
 * that turn's log writes (a follower's appends are synced by the flusher
 * at once), so a crash between the two leaves a cache behind the log:
 *   - terms the log gained are read from its batch headers (the log is
 *     the truth);
 *   - an entry starting at or past the log's end was truncated away;
 *   - an entry whose start is no longer the first offset of a batch of its
 *     term was truncated, then written over by a later leader's records in
 *     the same turn (Raft's conflicting suffix). Left in, the cache would
 *     be out of order, or claim the wrong term for those offsets.
 * Entries are checked from the newest back to the first that holds, and
 * only when the log's last batch is not of the newest entry's term (if it
 * is, the entry holds: no read at a clean start); an entry starting below
 * the log's start (kept when the log was reset past retention) cannot be
 * checked and is kept. Damage (an extent the log knows is damaged) is not
 * read through: an entry starting in it is dropped, and no term is learnt
 * from it or past it; a replicated group cuts its log there anyway (its
 * damage restriction), and a group alone has no follower to name them to.
 */
#ifndef ELOG_RAFTTERMS_H
#define ELOG_RAFTTERMS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "partlog.h"
#include "raftstate.h"

/*
 * Fit s->terms (s->term_count) to log. buf (cap bytes; at least one batch)
 * is scratch for reading batch headers. *dropped (may be NULL) is set to
 * the number of entries dropped because the log contradicts them. -1 when
 * the log cannot be read, err saying why.
 */
int elog_raftterms_fit(struct elog_partlog *log, struct elog_raftstate *s, uint8_t *buf,
		       size_t cap, uint32_t *dropped, struct elog_err *err);

#endif
