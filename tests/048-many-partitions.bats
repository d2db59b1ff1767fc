#!/usr/bin/env bats
# Many partitions on one broker: the partition logs share an fd budget
# (docs/operations.md, "Many partitions"), so a broker whose fd limit is far
# below what its partitions' files would take keeps working: parked
# partitions reopen their files when they are used.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
}

teardown() {
	elog_teardown
}

@test "3,000 partitions under ulimit -n 256: produce to every one and consume it all back" {
	local t
	# The broker and the tools inherit it: 3,000 partitions hold at least
	# 12,000 files between them when all are open.
	ulimit -n 256
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker 60
	export ELOG_BROKERS=$ELOG_ADDR
	run -0 elog-topic --timeout 120s create -p 1000 t0 t1 t2

	for t in t0 t1 t2; do
		seq 0 999 | awk -v t="$t" '{ printf "{\"partition\":%d,\"value\":{\"t\":\"%s\",\"p\":%d}}\n", $1, t, $1 }' >"in-$t.json"
		run -0 elog-produce --json --keep-partition -a all --timeout 120s -i "in-$t.json" "$t"
	done
	# Twice: the second pass reads partitions parked since the first.
	for pass in 1 2; do
		for t in t0 t1 t2; do
			elog-consume -e -q -J "$t" >"out-$t.json"
			run -0 wc -l <"out-$t.json"
			assert_output 1000
			# each record came back from the partition it was sent to
			run -0 grep -c '"partition":\([0-9]*\),.*"p":\1}' "out-$t.json"
			assert_output 1000
		done
	done

	# A restart opens them all again under the same limit.
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	elog_spawn broker2 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker2 120
	export ELOG_BROKERS=$ELOG_ADDR
	run -0 elog-consume -e -q t1
	assert_equal "${#lines[@]}" 1000
}
