#!/usr/bin/env bats
# elog-produce against a topic deleted under it: the producer's retries and
# later batches must never bring the topic back (PRODUCE v2 never creates a
# topic; only the producer's first METADATA v2 may ask for auto-creation).
# The records that could not be delivered are named, and the exit status
# is 1. The race is run several times, each with a fresh topic.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
}

# holds_at_least TOPIC N — true once TOPIC holds at least N records.
holds_at_least() {
	[ "$(elog-consume -e -q -n "$2" -f . "$1" 2>/dev/null | wc -c)" -ge "$2" ]
}

@test "elog-topic delete while a producer writes: the topic stays deleted, the producer exits 1 naming what was not delivered" {
	local run
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
	for run in 1 2 3; do
		elog-topic create -p 3 doomed
		mkfifo "fifo$run"
		# An endless stream, as fast as the producer takes it.
		elog_spawn "feeder$run" sh -c "seq 1 1000000000 >fifo$run"
		elog_spawn "producer$run" elog-produce -q -a 1 --timeout 10s -i "fifo$run" doomed
		elog_wait_until 30 holds_at_least doomed 10000 || fail "run $run: nothing arrived"

		run -0 elog-topic delete doomed

		elog_wait_until 30 elog_exited "$(elog_pid "producer$run")" ||
			fail "run $run: elog-produce went on after the delete"
		elog_stop "producer$run"
		assert_equal "$ELOG_STOP_STATUS" 1
		run cat "producer$run.err"
		assert_equal "${#lines[@]}" 1
		assert_regex "$output" "^elog-produce: [0-9]+ lines? not delivered \\(the first is fifo$run: line [0-9]+\\), input not read past fifo$run: line [0-9]+: produce to 'doomed' partition [0-2]: no such topic\$"
		elog_stop "feeder$run"

		# deleted it stays: not listed, not readable, never re-created
		run -0 elog-topic list
		refute_output --partial doomed
		run -1 elog-consume -e doomed
		run grep -c 'msg="topic created".*topic=doomed.*reason=auto' broker.err
		assert_output 0
	done
}
