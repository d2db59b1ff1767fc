/*
 * elog-raftstate — test-only: print a group's raft.state, or change its
 * flags or commit checkpoint, as a broker would write it (both copies, a
 * sequence one higher). For tests that need a state a crash leaves only
 * by chance (a purge noted and not applied, say). The broker must be
 * stopped.
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
#include "raftstate.h"

static int usage(void)
{
	fprintf(stderr, "usage: elog-raftstate DIR [--flags N] [--commit N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct elog_raftstate s;
	struct elog_err err;
	int found, set = 0;

	if (argc < 2 || argc % 2 != 0)
		return usage();
	if (elog_raftstate_load(argv[1], &s, &found, &err) < 0 || !found) {
		fprintf(stderr, "elog-raftstate: %s: %s\n", argv[1], found ? err.msg : "no raft.state");
		return 1;
	}
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
