#!/usr/bin/env bats
# Log compaction (cleanup.policy=compact, docs/format.md "Compaction"),
# against a real elog-serve: the closed segments keep the latest record of
# each key at its own offset, the active segment is left alone, tombstones
# go once delete.retention.ms has passed, a restart reads the same, and a
# SIGKILL while compactions run (or a temp file a crash left) loses
# nothing. The broker logs "partition compacted" after each pass that
# rewrote segments: the tests wait on that line, never on a sleep.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-dump
	cd "$ELOG_TMP"
	printf 'compaction_interval = 100ms\n' >b.conf
	# About 600 bytes a batch of 5 records, so that with segment.bytes=1024 each
	# round is a segment of its own.
	PAD=$(printf "%0100d" 0)
}

teardown() {
	elog_teardown
}

start() {
	elog_spawn b elog-serve -c b.conf -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
}

# round TOPIC R KEY... — one batch: value {"r":R} for each key ("-" after
# R: tombstones instead). The linger keeps the round in one batch (the
# input ends before it does).
round() {
	local topic=$1 r=$2 k
	shift 2
	for k in "$@"; do
		if [ "$r" = - ]; then
			printf '{"topic":"%s","key":"%s","value":null}\n' "$topic" "$k"
		else
			printf '{"topic":"%s","key":"%s","value":{"r":%s}}\n' "$topic" "$k" "$r"
		fi
	done | elog-produce -q --json --linger 1s -H "pad=$PAD" "$topic"
}

# compacted_to TOPIC OFFSET — a pass of TOPIC swapped segments in with its
# map reaching OFFSET or past it.
compacted_to() {
	local end
	end=$(sed -n "s/.*msg=\"partition compacted\" topic=$1 .* end_offset=\([0-9]*\) .*/\1/p" \
		"$ELOG_TMP/b.err" | tail -n 1)
	[ -n "$end" ] && [ "$end" -ge "$2" ]
}

consume() {
	elog-consume -q -e -f '%o %k %S %s\n' "$1"
}

@test "the latest value of each key stays at its offset; the active segment is untouched; a restart reads the same" {
	start
	elog-topic create -p 1 -c cleanup.policy=compact -c segment.bytes=1024 -c flush=always kv
	keys=(k0 k1 k2 k3 k4 k5 k6 k7 k8 k9)
	# Each round is one batch of about 700 bytes: a segment of its own.
	for r in 1 2 3 4 5; do
		round kv "$r" "${keys[@]}"
	done
	elog_wait_until 15 compacted_to kv 40 || fail "no pass reached offset 40: $(grep compact b.err)"
	run -0 consume kv
	# Closed segments (offsets 0-39): round 4 only, at its offsets; then round 5 whole.
	expected=$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "$((30 + i)) k$i 7 {\"r\":4}"; done
		   for i in 0 1 2 3 4 5 6 7 8 9; do echo "$((40 + i)) k$i 7 {\"r\":5}"; done)
	assert_output "$expected"
	# Batches keep their offsets: the first segment is now one empty batch spanning 0-9.
	run -0 elog-dump data/kv/0/00000000000000000000.log
	assert_output --regexp 'base_offset=0 last_offset=9 .* records=0 size=64 '
	ls data/kv/0 >files
	run grep -c cleaned files
	assert_output 0
	# A pass over a compacted log changes nothing: restart (compact_from is 0 again).
	elog_stop b
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	start
	run -0 consume kv
	assert_output "$expected"
	# The describe shows both keys.
	run -0 bash -c "elog-topic describe kv | grep -e cleanup.policy -e delete.retention.ms"
	assert_output $'config\tkv\tcleanup.policy\tcompact\nconfig\tkv\tdelete.retention.ms\t86400000'
}

@test "a tombstone is kept for delete.retention.ms, then goes with every older value of its key" {
	start
	elog-topic create -p 1 -c cleanup.policy=compact -c segment.bytes=1024 -c flush=always \
		-c delete.retention.ms=1500 tomb
	round tomb 1 k0 k1 k2 k3 k4 k5 k6 k7 k8 k9
	round tomb - k0 k1 k2 k3 k4
	round tomb 2 k5 k6 k7 k8 k9
	round tomb 3 k5 k6 k7 k8 k9
	# Offsets 0-9 round 1, 10-14 tombstones, 15-19 round 2, 20-24 round 3 (active).
	elog_wait_until 15 compacted_to tomb 20 || fail "no pass reached offset 20: $(grep compact b.err)"
	gone() {
		run -0 consume tomb
		[ "$output" = "$(for i in 5 6 7 8 9; do echo "$((10 + i)) k$i 7 {\"r\":2}"; done
				 for i in 5 6 7 8 9; do echo "$((15 + i)) k$i 7 {\"r\":3}"; done)" ]
	}
	elog_wait_until 15 gone || fail "tombstones not removed: $output"
	# The tombstones' batch is now empty; its offsets are still there.
	run -0 elog-dump data/tomb/0/00000000000000000010.log
	assert_output --regexp 'base_offset=10 last_offset=14 .* records=0 size=64 '
}

@test "SIGKILL while compactions run, and a temp file a crash left, lose no acknowledged value" {
	start
	elog-topic create -p 1 -c cleanup.policy=compact -c segment.bytes=4096 -c flush=always big
	keys=()
	for i in $(seq 0 59); do keys+=("key-$i"); done
	for r in $(seq 1 8); do
		round big "$r" "${keys[@]}"
	done
	elog_wait_until 15 compacted_to big 1 || fail "no compaction: $(grep compact b.err)"
	# Keep producing while passes run, then kill the broker in the middle of that.
	acked=8
	for r in $(seq 9 20); do
		round big "$r" "${keys[@]}" && acked=$r
		[ "$r" != 14 ] || kill -KILL "$(elog_pid b)"
		[ "$r" -lt 14 ] || break
	done
	elog_stop b
	[ "$acked" -ge 13 ]
	# What a kill between a temp file's write and its rename leaves.
	head -c 300 data/big/0/00000000000000000000.log >data/big/0/00000000000000000000.cleaned
	start
	[ ! -e data/big/0/00000000000000000000.cleaned ]
	run -0 elog-consume -q -e -f '%k %s\n' big
	# Each key's last value at least as new as the last acknowledged round.
	for k in "${keys[@]}"; do
		last=$(printf '%s\n' "$output" | sed -n "s/^$k {\"r\":\([0-9]*\)}\$/\1/p" | tail -n 1)
		[ -n "$last" ] && [ "$last" -ge "$acked" ] || fail "$k: last value ${last:-none}, acked $acked"
	done
	# And compaction goes on after the restart.
	n=$(grep -c 'msg="partition compacted" topic=big' b.err || true)
	round big 99 "${keys[@]}"
	round big 100 "${keys[@]}"
	more() { [ "$(grep -c 'msg="partition compacted" topic=big' b.err)" -gt "$n" ]; }
	elog_wait_until 15 more || fail "no compaction after the restart"
}

@test "cluster: a follower catching up from a compacted leader takes its gap and empty batches" {
	load cluster
	elog_need elog-freeport
	cluster_ports 3
	local i
	for i in 1 2 3; do
		cluster_start "$i" -c b.conf
	done
	cluster_wait_leader metadata
	elog-topic -b "$LADDR" create -r 3 -c cleanup.policy=compact -c segment.bytes=1024 \
		-c flush=always kv
	cluster_wait_leader kv/0
	local leader=$LEADER f=$((LEADER % 3 + 1))
	export ELOG_BROKERS=127.0.0.1:${PORTS[leader]}
	# b$f takes rounds 1-2, then stops: it will ask for round 3's offsets,
	# which its leader has compacted by then.
	round kv 1 k0 k1 k2 k3 k4 k5 k6 k7 k8 k9
	round kv 2 k0 k1 k2 k3 k4 k5 k6 k7 k8 k9
	has_two() {
		elog-dump "$ELOG_TMP/d$f/kv/0" 2>/dev/null | tail -n 1 | grep -q ' last_offset=20 '
	}
	elog_wait_until 10 has_two || fail "b$f did not take rounds 1-2"
	cluster_stop "$f"
	for r in 3 4 5; do
		round kv "$r" k0 k1 k2 k3 k4 k5 k6 k7 k8 k9
	done
	# Offsets start at 1 here (0 is the leader's first-term marker): wait
	# for a pass covering rounds 1-4, up to the active segment (round 5).
	end=$(elog-dump "$ELOG_TMP/d$leader/kv/0" | tail -n 1 | sed 's/.* last_offset=\([0-9]*\) .*/\1/')
	on_leader() {
		grep -q "msg=\"partition compacted\" topic=kv .* end_offset=$((end - 9)) " \
			"$ELOG_TMP/b$leader.err"
	}
	elog_wait_until 15 on_leader || fail "the leader did not compact: $(grep compact b*.err)"
	cluster_start "$f" -c b.conf
	caught_up() {
		elog-dump "$ELOG_TMP/d$f/kv/0" 2>/dev/null | tail -n 1 | grep -q " last_offset=$end "
	}
	elog_wait_until 20 caught_up || fail "b$f did not catch up: $(grep -e append -e kv "b$f.err")"
	run -0 elog-dump "$ELOG_TMP/d$f/kv/0"
	# The leader's emptied batches (each round's producer keeps its newest
	# batch, empty), taken as they were from offset 21 on.
	assert_line --regexp ' base_offset=21 last_offset=30 .* records=0 size=64 '
	run grep -c 'append: batch' "b$f.err"
	assert_output 0
	run -0 elog-consume -q -e -f '%o %k %s\n' kv
	assert_output "$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "$((end - 19 + i)) k$i {\"r\":4}"; done
			 for i in 0 1 2 3 4 5 6 7 8 9; do echo "$((end - 9 + i)) k$i {\"r\":5}"; done)"
}
