#!/usr/bin/env bats
# The tools as clients of a cluster, against the real broker: bootstrap from
# any listed broker (dead entries before a live one are skipped), a broker
# killed mid-produce and restarted on the same port (acks=all, flush=always:
# the producer retries with the same producer id and sequences, the broker
# deduplicates, every line lands once, in order per partition), and
# describe's leader, replicas, in-sync replicas and each replica's lag; and a
# blackholed broker (a network namespace) first in -b, given up at
# --connect-timeout.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
}

teardown() {
	elog_teardown
	if [ -n "${NS:-}" ]; then
		ip netns del "$NS" 2>/dev/null || true
		ip netns del "$NS-peer" 2>/dev/null || true
	fi
}

# blackhole_netns — a network namespace $NS whose 10.77.9.0/24 leads to a
# peer that owns none of its addresses: a connect to 10.77.9.2 gets no
# answer at all (until ARP gives up, seconds later), as to a dead host.
blackhole_netns() {
	[ "$(id -u)" = 0 ] && command -v ip >/dev/null || skip "needs root and ip(8)"
	NS=elogc$$-$BATS_TEST_NUMBER
	ip netns add "$NS" || skip "cannot create a network namespace"
	ip netns add "$NS-peer"
	ip -n "$NS" link set lo up
	ip -n "$NS" link add v0 type veth peer name v1 netns "$NS-peer"
	ip -n "$NS" addr add 10.77.9.1/24 dev v0
	ip -n "$NS" link set v0 up
	ip -n "$NS-peer" link set v1 up
}

start_broker() {
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker
	PORT=${ELOG_ADDR##*:}
}

# Where nothing listens (port 1, tcpmux, is not served on a test machine):
# a connect is refused at once.
DEAD=127.0.0.1:1

# count_at_least TOPIC N — true once TOPIC holds at least N records.
count_at_least() {
	[ "$(elog-consume -e -q -f '.' "$1" | wc -c)" -ge "$2" ]
}

# rising_per_partition FILE — lines "partition n" have n rising within each partition.
rising_per_partition() {
	awk '{ if (($1 in last) && $2 <= last[$1]) { print "partition " $1 ": " $2 " after " last[$1]; bad = 1 }
	       last[$1] = $2 } END { exit bad }' "$1"
}

@test "-b with dead entries first: every tool bootstraps from the live broker" {
	start_broker
	local b="deadhost:1,$DEAD,$ELOG_ADDR"
	run -0 elog-topic -b "$b" create -p 2 boot
	seq 1 100 | sed 's/.*/{"n":&}/' >in.json
	run -0 elog-produce -b "$b" -i in.json boot
	run -0 elog-consume -b "$b" -e -q boot
	assert_equal "${#lines[@]}" 100
	run -0 elog-topic -b "$b" describe boot
	assert_line --regexp $'^partition\tboot\t0\t0\t0\t0\t'
	# ELOG_BROKERS takes the same list.
	ELOG_BROKERS=$b run -0 elog-consume -e -q boot
	assert_equal "${#lines[@]}" 100
}

@test "-b with no live broker: one line naming the first broker's reason, exit 1" {
	run -1 --separate-stderr elog-topic -b "$DEAD,127.0.0.1:2" --timeout 2s list
	assert_equal "$stderr" "elog-topic: cannot list topics: cannot connect to 127.0.0.1:1: connection refused"
}

@test "--connect-timeout: a bad value is a usage error" {
	run -2 --separate-stderr elog-produce --connect-timeout 0 t
	assert_equal "${stderr%%$'\n'*}" "elog-produce: --connect-timeout: 0 is outside 1ms..10m"
	run -2 --separate-stderr elog-consume --connect-timeout soon t
	assert_equal "${stderr%%$'\n'*}" "elog-consume: --connect-timeout: invalid duration \"soon\": expected a number"
	run -2 --separate-stderr elog-topic --connect-timeout 11m list
	assert_equal "${stderr%%$'\n'*}" "elog-topic: --connect-timeout: 11m is outside 1ms..10m"
}

@test "kill -9 mid-produce (acks=all, flush=always), restart on the same port: exit 0, every line once, in order" {
	local n=100000
	start_broker
	export ELOG_BROKERS="$DEAD,$ELOG_ADDR"
	elog-topic create -p 3 --flush always failover
	seq 1 "$n" | sed 's/.*/{"n":&}/' >in.json

	# A slow feeder keeps the producer mid-stream while the broker dies.
	mkfifo fifo
	elog_spawn producer elog-produce -a all --linger 2ms --timeout 60s --connect-timeout 1s \
		-k n -i fifo failover
	elog_spawn feeder sh -c 'while read -r l; do printf "%s\n" "$l"; done <in.json >fifo'
	elog_wait_until 30 count_at_least failover 2000 || fail "nothing arrived before the crash"

	elog_stop broker KILL
	elog_spawn broker2 elog-serve -d "$ELOG_TMP/data" -l "127.0.0.1:$PORT"
	elog_broker_wait broker2

	elog_wait_until 120 elog_exited "$(elog_pid producer)" || fail "elog-produce did not finish"
	elog_stop producer
	assert_equal "$ELOG_STOP_STATUS" 0
	elog_stop feeder

	elog-consume -e -q -f '%p %s\n' failover | sed 's/{"n":\([0-9]*\)}/\1/' >out.txt
	run -0 rising_per_partition out.txt
	cut -d' ' -f2 out.txt | sort -n >got.txt
	run -0 uniq -d got.txt
	assert_output ""
	seq 1 "$n" | cmp - got.txt
}

@test "describe: leader, replicas and in-sync replicas; -j each replica's end and lag" {
	start_broker
	elog-topic -b "$ELOG_ADDR" create -p 2 placed
	seq 1 5 | elog-produce -b "$ELOG_ADDR" -q -p 1 placed
	run -0 elog-topic -b "$ELOG_ADDR" describe placed
	assert_line $'partition\tplaced\t0\t0\t0\t0\t0\t0\t0\t1\tok'
	assert_line --regexp $'^partition\tplaced\t1\t0\t0\t0\t0\t5\t[0-9]+\t1\tok$'
	run -0 elog-topic -b "$ELOG_ADDR" describe -j placed
	assert_output --partial '{"partition":1,"leader":0,"leader_term":0,"replicas":[0],"isr":[0],"replica_status":[{"id":0,"in_sync":true,"end_offset":5,"lag":0}],"log_start_offset":0,"high_watermark":5,'
	if command -v script >/dev/null; then
		run -0 script -qec "elog-topic -b $ELOG_ADDR describe placed" /dev/null
		assert_line --partial "PARTITION  LEADER  REPLICAS  ISR  START  END  SIZE  SEGMENTS  STATUS"
	fi
}

@test "a blackholed broker first in -b costs --connect-timeout once, then the next one answers" {
	blackhole_netns
	elog_spawn broker ip netns exec "$NS" elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker
	local b="10.77.9.2:7411,$ELOG_ADDR" start ms
	start=$(date +%s%N)
	run -0 --separate-stderr ip netns exec "$NS" elog-topic -b "$b" --connect-timeout 500ms create -p 2 far
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_equal "$stderr" ""
	# The connect gave up at its timeout, not when the system did (ARP, seconds).
	[ "$ms" -ge 450 ] && [ "$ms" -lt 2000 ] || fail "took $ms ms"
	seq 1 50 | sed 's/.*/{"n":&}/' >in.json
	run -0 ip netns exec "$NS" elog-produce -b "$b" --connect-timeout 500ms -i in.json far
	run -0 ip netns exec "$NS" elog-consume -b "$b" --connect-timeout 500ms -e -q far
	assert_equal "${#lines[@]}" 50
	# The blackhole alone: the reason names the timeout.
	run -1 --separate-stderr ip netns exec "$NS" elog-topic -b 10.77.9.2:7411 --connect-timeout 300ms \
		--timeout 1s list
	assert_equal "$stderr" "elog-topic: cannot list topics: cannot connect to 10.77.9.2:7411: timed out after 300 ms"
}
