#!/usr/bin/env bats
# elog-produce across a broker crash: with idempotence (the default), batches
# that were appended but whose acknowledgement was lost are resent, and the
# broker answers the resend with the original offsets instead of appending
# again. The check: after kill -9 and a restart on the same port, every input
# line is in the topic exactly once, and elog-produce exits 0.

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

# count_at_least TOPIC N — true once TOPIC holds at least N records.
count_at_least() {
	[ "$(elog-consume -e -q -f '.' "$1" | wc -c)" -ge "$2" ]
}

# crash_restart N ACKS [create options...] — produce N lines with ACKS into a
# topic created with the options, kill -9 the broker once 2,000 arrived,
# restart it on the same port; the producer exits 0 and every line is there
# exactly once.
crash_restart() {
	local n=$1 acks=$2 port
	shift 2
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
	port=${ELOG_ADDR##*:}
	elog-topic create -p 2 "$@" again
	seq 1 "$n" | sed 's/.*/{"n":&}/' >in.json

	# A slow feeder keeps the producer mid-stream while the broker dies.
	mkfifo fifo
	elog_spawn producer elog-produce -a "$acks" --linger 5ms --timeout 60s -i fifo again
	elog_spawn feeder sh -c 'while read -r l; do printf "%s\n" "$l"; done <in.json >fifo'
	elog_wait_until 30 count_at_least again 2000 || fail "nothing arrived before the crash"

	elog_stop broker KILL
	elog_spawn broker2 elog-serve -d "$ELOG_TMP/data" -l "127.0.0.1:$port"
	elog_broker_wait broker2

	elog_wait_until 120 elog_exited "$(elog_pid producer)" || fail "elog-produce did not finish"
	elog_stop producer
	assert_equal "$ELOG_STOP_STATUS" 0

	elog-consume -e -q again | sort -t: -k2 -n >out.json
	run -0 uniq -d out.json
	assert_output ""
	run -0 wc -l <out.json
	assert_output "$n"
	sort -t: -k2 -n in.json | cmp - out.json
}

@test "kill -9 of the broker mid-stream, restart: every line exactly once, exit 0" {
	crash_restart 50000 all
}

# flush=always syncs on the flusher thread (group commit): both acks levels
# still answer only once the fsync covering the batch is done, and a crash
# between append and fsync must lose nothing acknowledged.
@test "flush=always, acks=all: kill -9 mid-stream, restart: every line exactly once" {
	crash_restart 50000 all --flush always --segment-bytes 64k
}

@test "flush=always, acks=1: kill -9 mid-stream, restart: every line exactly once" {
	crash_restart 50000 1 --flush always --segment-bytes 64k
}
