/*
 * fuzz_group_record — libFuzzer target for the group record of __groups
 * (key type 2: a consumer group's members, their subscriptions and
 * targets; libcore/broker_member.c, docs/groups.md). A new coordinator
 * decodes it from the log after a failover or a restart, so a damaged or
 * hostile value must be refused, never read out of bounds or leaked; and
 * what decodes must encode to the very same bytes (the record is the
 * membership: nothing may change in a round trip). Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker_group.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int same, rc = elog_member_record_roundtrip(data, size, &same);

	if (rc == 0 && !same) {
		fprintf(stderr, "a group record decoded and encoded to other bytes\n");
		abort();
	}
	if (rc == -2) {
		fprintf(stderr, "a group record decoded but could not be encoded\n");
		abort();
	}
	return 0;
}
