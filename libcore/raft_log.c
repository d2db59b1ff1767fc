/* raft_log — the core's view of the local log and its term cache; see raft.h. */
#include <assert.h>
#include <string.h>

#include "raft_int.h"

/* Index of the last cache entry starting at or below offset; -1 if none. */
static int term_index(const struct elog_raft *r, int64_t offset)
{
	int lo = 0, hi = (int)r->term_count;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (r->terms[mid].start <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

uint64_t raft_term_at(const struct elog_raft *r, int64_t offset)
{
	int i;

	assert(offset >= -1 && offset < r->end);
	if (offset < 0)
		return 0;
	i = term_index(r, offset);
	return i < 0 ? ELOG_RAFT_TERM_UNKNOWN : r->terms[i].term;
}

uint64_t raft_last_term(const struct elog_raft *r)
{
	return r->term_count ? r->terms[r->term_count - 1].term : 0;
}

/*
 * Do we know the term of our last record (or of the record before an
 * empty log's start)? Not after a reset from a leader that could not tell
 * us, nor after a cut (restrict) below every entry the cache still had.
 * Without it we cannot say how up to date we are: we neither vote nor
 * campaign until a record arrives (an empty log at offset S is behind a
 * log ending at S whose last term is higher, and must not look like the
 * empty log at offset 0).
 */
int raft_last_term_known(const struct elog_raft *r)
{
	return r->term_count > 0 || r->end == 0;
}

/* The oldest entry may go when the next one starts at or below the commit
 * offset: the records it covered are committed, and the follower-side
 * rule "prev_end <= commit matches" never needs their term. */
static int oldest_droppable(const struct elog_raft *r)
{
	return r->term_count >= 2 && r->terms[1].start <= r->commit;
}

int raft_term_room(const struct elog_raft *r)
{
	return r->term_count < ELOG_RAFT_TERMS_MAX || oldest_droppable(r);
}

static void drop_oldest(struct elog_raft *r)
{
	assert(r->term_count >= 2);
	memmove(&r->terms[0], &r->terms[1], (r->term_count - 1) * sizeof(r->terms[0]));
	r->term_count--;
	r->terms_dirty = 1;
}

/*
 * Keep room: past half the cache, entries that only cover committed
 * records go as soon as the commit allows. A full cache of entries the
 * node cannot prove committed (after a restart without a commit
 * checkpoint, say) would otherwise stop it campaigning, and with it every
 * node alike. Called whenever commit moves.
 */
void raft_trim_terms(struct elog_raft *r)
{
	while (r->term_count > ELOG_RAFT_TERMS_MAX / 2 && oldest_droppable(r))
		drop_oldest(r);
}

/* A new term starts at `start` (= end). -1 when the cache is full of
 * entries that cannot be dropped yet (nothing changes). */
int raft_push_term(struct elog_raft *r, uint64_t term, int64_t start)
{
	assert(term > raft_last_term(r) && term != ELOG_RAFT_TERM_UNKNOWN);
	assert(start == r->end);
	if (r->term_count == ELOG_RAFT_TERMS_MAX) {
		if (!oldest_droppable(r))
			return -1;
		drop_oldest(r);
	}
	r->terms[r->term_count].term = term;
	r->terms[r->term_count].start = start;
	r->term_count++;
	r->terms_dirty = 1;
	return 0;
}

/*
 * Leader side of the conflict search: the end of our records whose term
 * is <= term. -1 when the cache cannot tell (the answer lies below
 * entries dropped from it).
 */
int64_t raft_end_for_term(const struct elog_raft *r, uint64_t term)
{
	uint32_t j;

	if (r->term_count == 0)
		return r->start;
	if (term < r->terms[0].term)
		return r->terms[0].start <= r->start ? r->start : -1;
	for (j = r->term_count - 1; r->terms[j].term > term; j--)
		;
	return j + 1 < r->term_count ? r->terms[j + 1].start : r->end;
}

/*
 * Follower side (etcd's findConflictByTerm, in offsets): the largest term
 * <= prev_term among our records below prev_end, and the end of our
 * records with terms up to it. (0, 0) when there is none.
 */
void raft_hint(const struct elog_raft *r, int64_t prev_end, uint64_t prev_term,
	       uint64_t *hint_term, int64_t *hint_end)
{
	int64_t below = prev_end < r->end ? prev_end : r->end;

	*hint_term = 0;
	*hint_end = 0;
	for (int i = (int)r->term_count - 1; i >= 0; i--) {
		int64_t next;
		if (r->terms[i].start >= below || r->terms[i].term > prev_term)
			continue;
		next = (uint32_t)i + 1 < r->term_count ? r->terms[i + 1].start : r->end;
		*hint_term = r->terms[i].term;
		*hint_end = next < below ? next : below;
		return;
	}
}

void raft_view_truncate(struct elog_raft *r, int64_t offset)
{
	assert(offset >= r->commit && offset >= r->start && offset <= r->end);
	assert(r->role != ELOG_RAFT_LEADER);
	r->end = offset;
	if (r->written_end > offset)
		r->written_end = offset;
	if (r->durable_end > offset)
		r->durable_end = offset;
	if (r->verified_end > offset)
		r->verified_end = offset;
	while (r->term_count > 0 && r->terms[r->term_count - 1].start >= offset) {
		r->term_count--;
		r->terms_dirty = 1;
	}
}

/* Everything below `start` was committed at the leader and deleted there;
 * start_term is the term of the record at start - 1 (UNKNOWN if the
 * leader could not tell), kept as a cache entry starting below start. */
void raft_view_reset(struct elog_raft *r, int64_t start, uint64_t start_term)
{
	assert(start >= r->commit && start > r->start);
	assert(r->role != ELOG_RAFT_LEADER);
	r->start = r->end = r->written_end = r->durable_end = start;
	r->commit = r->verified_end = start;
	r->term_count = 0;
	r->terms_dirty = 1;
	if (start_term != ELOG_RAFT_TERM_UNKNOWN && start_term != 0 && start_term <= r->term) {
		r->terms[0].term = start_term;
		r->terms[0].start = start - 1;
		r->term_count = 1;
	}
}

void raft_view_trim(struct elog_raft *r, int64_t start)
{
	assert(start >= r->start && start <= r->commit);
	r->start = start;
	/* Nothing below start is held any more: trivially written and durable. */
	if (r->written_end < start)
		r->written_end = start;
	if (r->durable_end < start)
		r->durable_end = start;
	while (r->term_count >= 2 && r->terms[1].start <= start)
		drop_oldest(r);
}

void raft_check_view(const struct elog_raft *r)
{
	assert(r->start >= 0 && r->start <= r->commit && r->commit <= r->end);
	assert(r->durable_end >= r->start && r->durable_end <= r->written_end);
	assert(r->written_end <= r->end);
	assert(r->term_count <= ELOG_RAFT_TERMS_MAX);
	for (uint32_t i = 1; i < r->term_count; i++) {
		assert(r->terms[i].term > r->terms[i - 1].term);
		assert(r->terms[i].start > r->terms[i - 1].start);
	}
	/* Records the cache cannot name are committed (see oldest_droppable). */
	if (r->term_count > 0)
		assert(r->terms[r->term_count - 1].start < r->end);
	if (r->end > r->start) {
		int64_t floor = r->term_count > 0 ? r->terms[0].start : r->end;
		assert(floor <= r->start || floor <= r->commit);
	}
	assert(raft_last_term(r) <= r->term);
}
