/* raftterms — a saved term cache fitted to its log; see raftterms.h. */
#include "raftterms.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"

/* Whether the log still has a batch of term t->term starting at t->start. */
static int entry_holds(struct elog_partlog *log, const struct elog_raft_term_start *t, int *holds,
		       struct elog_err *err)
{
	struct elog_partlog_slice sl;
	struct elog_batch_header h;
	uint8_t head[ELOG_BATCH_HEADER_SIZE];
	ssize_t n;

	*holds = 1;
	if (t->start < elog_partlog_start_offset(log))
		return 0;
	if (elog_partlog_locate(log, t->start, 1, &sl, err) < 0) {
		if (err->code != ELOG_E_DAMAGED)
			return -1;
		*holds = 0; /* in damage, which the group's restriction cuts */
		return 0;
	}
	if (sl.len == 0 || sl.base_offset != t->start) {
		*holds = 0;
		return 0;
	}
	n = pread(sl.fd, head, sizeof(head), (off_t)sl.position);
	if (n < 0)
		return elog_err_set(err, ELOG_E_IO, "term cache check at offset %lld: %s",
				    (long long)t->start, strerror(errno));
	if ((size_t)n < sizeof(head))
		return elog_err_set(err, ELOG_E_IO, "term cache check at offset %lld: short read",
				    (long long)t->start);
	if (elog_batch_header_decode_as(head, sizeof(head), ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0)
		return -1;
	*holds = h.leader_term == t->term;
	return 0;
}

int elog_raftterms_fit(struct elog_partlog *log, struct elog_raftstate *s, uint8_t *buf,
		       size_t cap, uint32_t *dropped, struct elog_err *err)
{
	int64_t end = elog_partlog_next_offset(log);
	int64_t at = elog_partlog_start_offset(log);
	uint64_t last_term = 0;
	uint32_t contradicted = 0;

	while (s->term_count > 0 && s->terms[s->term_count - 1].start >= end)
		s->term_count--;
	/* When the log ends in the last entry's term, the entry holds: a term
	 * starts at one offset in every log holding it (Raft's log matching),
	 * so no read is needed at a clean start. Otherwise check back. */
	while (s->term_count > 0 &&
	       elog_partlog_last_term(log) != s->terms[s->term_count - 1].term) {
		int holds;
		if (entry_holds(log, &s->terms[s->term_count - 1], &holds, err) < 0)
			return -1;
		if (holds)
			break;
		s->term_count--;
		contradicted++;
	}
	if (dropped)
		*dropped = contradicted;
	if (s->term_count > 0) {
		last_term = s->terms[s->term_count - 1].term;
		if (s->terms[s->term_count - 1].start > at)
			at = s->terms[s->term_count - 1].start;
	}
	if (elog_partlog_last_term(log) <= last_term)
		return 0;
	/* The terms after the last entry, from batch headers. Bounded: every
	 * pass moves past at least one batch. */
	while (at < end) {
		struct elog_partlog_slice sl;
		if (elog_partlog_read(log, at, buf, cap, &sl, err) < 0) {
			if (err->code != ELOG_E_DAMAGED)
				return -1;
			break; /* the rest is cut by the group's damage restriction */
		}
		if (sl.len == 0 || sl.next_offset <= at)
			break;
		for (uint32_t pos = 0; pos < sl.len;) {
			struct elog_batch_header h;
			if (elog_batch_header_decode_as(buf + pos, sl.len - pos, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0)
				return -1;
			if (h.leader_term > last_term) {
				if (s->term_count == ELOG_RAFT_TERMS_MAX) {
					memmove(s->terms, s->terms + 1,
						(ELOG_RAFT_TERMS_MAX - 1) * sizeof(s->terms[0]));
					s->term_count--;
				}
				s->terms[s->term_count++] =
					(struct elog_raft_term_start){h.leader_term, h.base_offset};
				last_term = h.leader_term;
			}
			pos += elog_batch_total_size(&h);
		}
		at = sl.next_offset;
	}
	return 0;
}
