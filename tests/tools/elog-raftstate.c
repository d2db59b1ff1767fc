/*
 * elog-raftstate — test-only: print a group's state (the newer of its
 * raft.state and its record in the broker's raft.journal), or change its
 * flags or commit checkpoint: written to raft.state (both copies) with a
 * sequence one higher than either, so that it is the one a start reads.
 * For tests that need a state a crash leaves only by chance (a purge
 * noted and not applied, say). The broker must be stopped. DIR is the
 * group's directory (DATA/TOPIC/PARTITION, or DATA/__meta/0); the journal
 * is DATA/__meta/raft.journal.
 *
 *   elog-raftstate DIR                          print: term vote commit flags seq
 *   elog-raftstate DIR --flags N --commit N     set them (either may be left out)
 *
 * Exit 0; 1 with a message when the file is missing, damaged or cannot
 * be written; 2 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "raftjournal.h"
#include "raftstate.h"

static int usage(void)
{
	fprintf(stderr, "usage: elog-raftstate DIR [--flags N] [--commit N]\n");
	return 2;
}

struct pick {
	const char *topic;
	size_t topic_len;
	uint32_t partition;
	struct elog_raftstate best;
	int found;
};

/* The journal's newest record of the group, whatever its incarnation. */
static void pick(void *ctx, const struct elog_raftwire_group *id, const uint8_t *state, size_t len)
{
	struct pick *p = ctx;
	struct elog_raftstate s;
	struct elog_err err;

	if (id->topic_len != p->topic_len || memcmp(id->topic, p->topic, id->topic_len) != 0 ||
	    id->partition != p->partition || elog_raftstate_decode(state, len, &s, &err) < 0)
		return;
	if (!p->found || s.seq > p->best.seq)
		p->best = s;
	p->found = 1;
}

/* The journal's record of the group at dir, if any: -1 on a damaged journal. */
static int journal_state(const char *dir, struct pick *p)
{
	char data[4096], meta[4200], *slash;
	struct elog_raftjournal *j;
	struct elog_err err;
	int missing;

	snprintf(data, sizeof(data), "%s", dir);
	if (!(slash = strrchr(data, '/')))
		return 0;
	p->partition = (uint32_t)strtoul(slash + 1, NULL, 10);
	*slash = '\0';
	p->topic = (slash = strrchr(data, '/')) ? slash + 1 : data;
	if (slash)
		*slash = '\0';
	snprintf(meta, sizeof(meta), "%s/__meta", slash ? data : ".");
	if (strcmp(p->topic, "__meta") == 0)
		p->topic = "";
	p->topic_len = strlen(p->topic);
	if (elog_raftjournal_open(meta, &j, &missing, &err) < 0) {
		fprintf(stderr, "elog-raftstate: %s\n", err.msg);
		return -1;
	}
	elog_raftjournal_each(j, pick, p);
	elog_raftjournal_close(j);
	return 0;
}

int main(int argc, char **argv)
{
	struct elog_raftstate s;
	struct elog_err err;
	struct pick p = {0};
	int found, set = 0;

	if (argc < 2 || argc % 2 != 0)
		return usage();
	if (elog_raftstate_load(argv[1], &s, &found, &err) < 0) {
		fprintf(stderr, "elog-raftstate: %s: %s\n", argv[1], err.msg);
		return 1;
	}
	if (journal_state(argv[1], &p) < 0)
		return 1;
	if (p.found && (!found || p.best.seq >= s.seq))
		s = p.best;
	else if (!found) {
		fprintf(stderr, "elog-raftstate: %s: no raft.state and no journal record\n", argv[1]);
		return 1;
	}
	s.flags &= (uint16_t)~ELOG_RAFTSTATE_JOURNALED;
	for (int i = 2; i + 1 < argc; i += 2) {
		char *end;
		long long v = strtoll(argv[i + 1], &end, 0);
		if (*end || v < 0)
			return usage();
		if (strcmp(argv[i], "--flags") == 0 && v <= 0xffff)
			s.flags = (uint16_t)v;
		else if (strcmp(argv[i], "--commit") == 0)
			s.commit = v;
		else
			return usage();
		set = 1;
	}
	if (!set) {
		printf("term=%" PRIu64 " vote=%d commit=%" PRId64 " flags=%u seq=%" PRIu64 "\n",
		       s.hard.term, s.hard.vote, s.commit, (unsigned)s.flags, s.seq);
		return 0;
	}
	if (elog_raftstate_store(argv[1], &s, &err) < 0) {
		fprintf(stderr, "elog-raftstate: %s: %s\n", argv[1], err.msg);
		return 1;
	}
	return 0;
}
