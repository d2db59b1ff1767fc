#!/usr/bin/env bats
# Durability in a cluster (docs/operations.md, "Durability in a cluster"):
# flush=always appends are synced by each broker's flusher thread, off the
# event loop, and acks=all is answered only once a majority has the batch
# fsynced. The followers' flusher threads are held still with
# elog-threadhold (ptrace, the rest of the process runs on): their logs
# hold the records, written but not synced, and no acknowledgement may go
# out on the strength of that.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-dump elog-freeport elog-threadhold
	cd "$ELOG_TMP"
	cluster_ports 3
}

teardown() {
	local i
	# Held threads first: a broker cannot be reaped while one of its threads is.
	for i in 1 2 3; do
		[ -z "${ELOG_PROC[hold$i]:-}" ] || elog_stop "hold$i"
	done
	elog_teardown
}

# hold I [THREAD] — stop broker I's flusher thread (or THREAD), until release I.
hold() {
	elog_spawn "hold$1" elog-threadhold "${ELOG_PROC[b$1]}" "${2:-elog-flusher}"
	elog_wait_until 15 grep -q '^held 1$' "hold$1.out" ||
		fail "b$1's ${2:-elog-flusher} is not held: $(cat "hold$1.err")"
}

release() {
	elog_stop "hold$1"
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "elog-threadhold for b$1 failed: $(cat "hold$1.err")"
}

# holds I TOPIC/PARTITION VALUE — broker I's log holds a record VALUE.
holds() {
	elog-dump -r "$ELOG_TMP/d$1/$2" 2>/dev/null | grep -q "$3"
}

@test "acks=all waits for a majority's fsync, not for the followers' writes; acks=1 for the leader's own fsync" {
	local i f1 f2
	for i in 1 2 3; do
		cluster_start "$i"
	done
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 -c flush=always t1
	cluster_wait_leader t1/0
	f1=$((LEADER % 3 + 1)) f2=$(((LEADER + 1) % 3 + 1))
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 <<<11111
	# One follower's flusher held: the leader and the other make a majority.
	hold "$f1"
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 <<<22222
	# Both held: the followers write the record but never sync it, so it
	# is never acknowledged ...
	hold "$f2"
	run -1 elog-produce --no-idempotence -b "$LADDR" -a all --timeout 1s t1 <<<33333
	holds "$f1" t1/0 33333 || fail "b$f1 did not write the record"
	holds "$f2" t1/0 33333 || fail "b$f2 did not write the record"
	# ... nor read by a consumer: the high watermark stays below it.
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(printf '11111\n22222')"
	# acks=1 is the leader's own fsync alone (docs/operations.md): answered,
	# and still not readable until a majority has it.
	run -0 elog-produce --no-idempotence -b "$LADDR" -a 1 --timeout 3s t1 <<<55555
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(printf '11111\n22222')"
	# Released, the syncs run and the records commit.
	release "$f1"
	release "$f2"
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all --timeout 10s t1 <<<44444
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(printf '11111\n22222\n33333\n55555\n44444')"
	# The leader's own flusher held: not even acks=1 is answered.
	hold "$LEADER"
	run -1 elog-produce --no-idempotence -b "$LADDR" -a 1 --timeout 1s t1 <<<66666
	release "$LEADER"
}

# states N TOPIC — every broker holds a raft.state for each of N partitions.
states() {
	local n
	n=$(find d1/"$2" d2/"$2" d3/"$2" -name raft.state -size +0 2>/dev/null | wc -l)
	[ "$n" -eq $((3 * $1)) ]
}

@test "a topic of 40 partitions: every replica's raft.state is written (many at once share two syncfs), and survives kill -9 of every broker" {
	local i p
	for i in 1 2 3; do
		cluster_start "$i"
	done
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 -p 40 t2
	elog_wait_until 30 states 40 t2 || fail "raft.state missing: $(find d?/t2 -name raft.state | wc -l) of 120"
	for i in 1 2 3; do
		cluster_kill "$i"
	done
	for i in 1 2 3; do
		cluster_start "$i"
	done
	# Every partition is led again and takes a record.
	for p in 0 13 39; do
		cluster_wait_leader "t2/$p"
		run -0 elog-produce --no-idempotence -b "$LADDR" -a all -p "$p" t2 <<<"$p"
	done
	run -1 grep 'raft state not written' b1.err b2.err b3.err
}

# leads I GROUP — how many times broker I logged that it leads GROUP.
leads() {
	grep -c " msg=\"raft role\" group=$2 role=leader " "$ELOG_TMP/b$1.err" || true
}

@test "no vote or term leaves a broker before its raft.state is durable: with its state writer held, no election completes" {
	local i old a b la lb
	for i in 1 2 3; do
		cluster_start "$i"
	done
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 t1
	cluster_wait_leader t1/0
	old=$LEADER a=$((LEADER % 3 + 1)) b=$(((LEADER + 1) % 3 + 1))
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 <<<11111
	la=$(leads "$a" t1/0) lb=$(leads "$b" t1/0)
	# a's raft.state writes wait; the leader dies. Any election now needs
	# a's vote or a's campaign, each a state change of a's that must be
	# durable before its message goes: none completes.
	hold "$a" elog-raftstate
	cluster_kill "$old"
	# Absence has no event to wait for: a few election timeouts (1 s each).
	sleep 4
	[ "$(leads "$a" t1/0)" = "$la" ] && [ "$(leads "$b" t1/0)" = "$lb" ] ||
		fail "a leader was elected while b$a's raft.state writes were held"
	# The writes done, an election completes, and nothing was lost.
	release "$a"
	elog_wait_until 20 eval '[ "$(leads "$a" t1/0)" != "$la" ] || [ "$(leads "$b" t1/0)" != "$lb" ]' ||
		fail "no leader after the release"
	run -0 elog-produce --no-idempotence -b "127.0.0.1:${PORTS[a]},127.0.0.1:${PORTS[b]}" -a all t1 <<<22222
	run -0 elog-consume -b "127.0.0.1:${PORTS[a]},127.0.0.1:${PORTS[b]}" -e t1
	assert_output "11111
22222"
}
