/* broker_raft_purge — purging records (DELETE_RECORDS) in a cluster; see
 * broker_raft.h and docs/raft.md, "Purge". */
#include "broker_raft.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"

/*
 * A purge is replicated as a record, so that every replica moves its log
 * start to the same offset and none moves it for a purge that did not
 * commit. The leader appends a control batch of one record, key
 * PURGE_KEY, value the new start (8 bytes, little-endian), at most its
 * commit; every replica notes it when it appends the batch (the leader
 * when it proposes it, a follower when it takes it from an APPEND) and
 * moves its start once its commit passes the batch. A truncation drops the
 * notes of what it cut. The client is answered once the leader's start
 * has moved.
 *
 * A restart forgets the notes. While a group has any, its raft.state
 * carries the PURGING flag (written, like every change to it, before the
 * turn's frames leave, so before this replica's acknowledgement can help
 * commit the batch); a note goes only once the purge it names is done
 * (a failed one stays, and is tried again at the next commit), and the
 * commit checkpoint raft.state holds is never past the first note
 * (broker_raft_state.c, state_build): a group started with the flag
 * notes again the purge batches from that checkpoint to its end, and
 * applies those its commit already passes.
 */
#define PURGE_KEY "elog.purge"
#define PURGE_KEY_LEN (sizeof(PURGE_KEY) - 1)

/* The new start a purge batch names; 0 when the batch is not one. */
static int purge_parse(struct elog_cluster *k, const uint8_t *batch, size_t len, int64_t *target)
{
	struct elog_batch_reader *r = &k->b->reader;
	struct elog_batch_header h;
	struct elog_record_view rec;

	if (elog_batch_header_decode_as(batch, len, ELOG_BATCH_OFFSETS_GAPS, &h, NULL) < 0 ||
	    !(h.attributes & ELOG_BATCH_ATTR_CONTROL) || h.record_count != 1 ||
	    elog_batch_reader_open(r, batch, len, NULL) < 0 ||
	    elog_batch_reader_next(r, &rec, NULL) != 1)
		return 0;
	if (rec.key_len != (int32_t)PURGE_KEY_LEN || memcmp(rec.key, PURGE_KEY, PURGE_KEY_LEN) != 0 ||
	    rec.value_len != 8)
		return 0;
	*target = (int64_t)elog_get64(rec.value);
	return *target >= 0;
}

/* Note a purge batch at `at` naming `target`. A follower notes what its
 * leader sent, however many: the leader proposes no more than
 * RAFT_PURGES_MAX at once, but a follower may hold notes of several
 * leaders' batches (a truncation drops those never committed). */
static void purge_note(struct raft_group *g, int64_t at, int64_t target)
{
	if (g->purge_count == g->purge_cap) {
		uint32_t cap = g->purge_cap ? 2 * g->purge_cap : RAFT_PURGES_MAX;
		struct raft_purge *more = realloc(g->purges, cap * sizeof(*more));
		if (!more) {
			/* Not noted: this replica keeps the records (never loses one). */
			raft_group_log(g, ELOG_LOG_ERROR, "purge not noted", "offset=%" PRId64
				       " reason=\"out of memory\"", at);
			return;
		}
		g->purges = more;
		g->purge_cap = cap;
	}
	g->purges[g->purge_count++] = (struct raft_purge){at, target};
	if (g->purge_count == 1)
		raft_state_save(g); /* raft.state's PURGING flag */
}

void raft_purge_appended(struct raft_group *g, const uint8_t *batch, size_t len, int64_t base)
{
	int64_t target;

	if (g->p && (batch[17] & ELOG_BATCH_ATTR_CONTROL) && purge_parse(g->k, batch, len, &target))
		purge_note(g, base, target);
}

void raft_purges_cut(struct raft_group *g, int64_t from)
{
	uint32_t n = g->purge_count;

	while (g->purge_count && g->purges[g->purge_count - 1].at >= from)
		g->purge_count--;
	if (n && !g->purge_count)
		raft_state_save(g);
}

void raft_purges_apply(struct raft_group *g)
{
	int64_t commit = elog_raft_commit(&g->raft);
	uint32_t done = 0;

	while (done < g->purge_count && g->purges[done].at < commit) {
		const struct raft_purge *u = &g->purges[done];
		char v[ELOG_LOG_VALUE_MAX];
		struct elog_err err;
		int64_t start;

		/* The leader named at most its commit, which every replica's
		 * commit passed when it passed the batch: the clamp never bites
		 * but keeps the start at or below what the core knows committed.
		 * A failure keeps the note (and raft.state's flag): tried again at
		 * the next commit, said once. */
		if (elog_store_purge(g->p->store, g->p, u->target < commit ? u->target : commit,
				     &err) < 0) {
			if (!g->purge_failing)
				raft_group_log(g, ELOG_LOG_ERROR, "purge not applied, kept to try again",
					       "offset=%" PRId64 " start=%" PRId64 " error=%s", u->at,
					       u->target, elog_logfmt_value(v, sizeof(v), err.msg));
			g->purge_failing = 1;
			break;
		}
		g->purge_failing = 0;
		done++;
		start = elog_partlog_start_offset(g->log);
		if (start > commit)
			start = commit;
		if (start > g->raft.start)
			raft_log_trimmed(g, start);
	}
	if (done) {
		memmove(g->purges, g->purges + done, (g->purge_count - done) * sizeof(*g->purges));
		g->purge_count -= done;
		g->k->check_produces = 1; /* purge waiters */
		if (!g->purge_count)
			raft_state_save(g);
	}
}

int elog_broker_raft_purge(struct elog_broker *b, struct elog_partition *p, int64_t target,
			   char *msg, size_t cap)
{
	struct raft_group *g = p->replication;
	struct elog_record r = {0};
	uint8_t value[8];
	int64_t base;

	(void)b;
	switch (g ? elog_raft_propose_check(&g->raft) : ELOG_RAFT_REFUSE_NOT_LEADER) {
	case ELOG_RAFT_PROPOSE_OK:
		break;
	case ELOG_RAFT_REFUSE_NOT_LEADER:
		return elog_broker_raft_leader_check(b, p, msg, cap);
	case ELOG_RAFT_REFUSE_TRANSFERRING:
		snprintf(msg, cap, "leadership of this partition is being handed over");
		return ELOG_PE_NOT_LEADER;
	case ELOG_RAFT_REFUSE_BACKLOG:
		snprintf(msg, cap, "too many records wait for replication");
		return ELOG_PE_TIMEOUT;
	}
	if (g->purge_count >= RAFT_PURGES_MAX) {
		snprintf(msg, cap, "too many purges of this partition wait to commit");
		return ELOG_PE_TIMEOUT;
	}
	elog_put64(value, (uint64_t)target);
	r.timestamp_ms = (int64_t)time(NULL) * 1000;
	r.key = (const uint8_t *)PURGE_KEY;
	r.key_len = (int32_t)PURGE_KEY_LEN;
	r.value = value;
	r.value_len = sizeof(value);
	if (raft_control_append(g, &r, "purge not appended", &base) < 0) {
		snprintf(msg, cap, "the purge could not be written to the log");
		return ELOG_PE_STORAGE_ERROR;
	}
	purge_note(g, base, target);
	raft_leader_appended(g, base, base);
	return 0;
}
