#!/usr/bin/env bats
# elog-history against a cluster of three brokers (docs/testing.md,
# "Proving it"): a topic with replication factor 3, idempotent producers
# with acks=all, consumers following, while the nemesis hits the leader of
# history/0 and its followers in turn — kill -9 (restarted with the same id
# and directory), SIGSTOP past the election timeout then SIGCONT, the loss
# of one broker's unsynced tail, and in network namespaces partitions both
# ways and one way. Each run must come out with no anomaly. The
# checker's own ability to fail is 090-history.bats's business.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-history elog-freeport elog-topic
	cd "$ELOG_TMP"
	export NEMESIS_DIR=$ELOG_TMP/run NEMESIS_GROUP=history/0
	. "$ELOG_REPO/tests/tools/nemesis.bash"
	nemesis_init
}

teardown() {
	elog_stop_all
	nemesis_stop_all
	elog_teardown
}

# start_cluster — three brokers on 127.0.0.1, owned by the nemesis, into
# BROKERS (the bootstrap list). Ports are taken before any broker starts;
# one lost to another process meanwhile means new ports for all three.
start_cluster() {
	local try i
	for try in 1 2 3; do
		cluster_ports 3
		BROKERS=
		for i in 1 2 3; do
			nemesis_broker_add "$i" "$ELOG_TMP/d$i" "127.0.0.1:${PORTS[i]}" \
				elog-serve --id "$i" --cluster "$CLUSTER" -d '{dir}' -l '{listen}' ||
				break
			BROKERS+="${BROKERS:+,}127.0.0.1:${PORTS[i]}"
		done
		[ "$i" -eq 3 ] && [ "$(nemesis_state 3)" = up ] && return 0
		grep -q 'address already in use' "$NEMESIS_DIR"/broker.*.err ||
			fail "the cluster did not start: $(tail -n 3 "$NEMESIS_DIR"/broker.*.err)"
		nemesis_stop_all
		rm -rf "$NEMESIS_DIR"/broker.* "$ELOG_TMP"/d?
	done
	fail "no free ports for the cluster after 3 tries"
}

# nemesis FAULTS — one round of each fault in FAULTS, in turn, with
# NEMESIS_INTERVAL (default 2) seconds of health before each and about as
# long held. NETNS_LIB: tests/netns.bash, for network faults.
nemesis() {
	NEMESIS_PICK=cycle NEMESIS_ROUNDS=$(tr , '\n' <<<"$1" | wc -l) \
		elog_spawn nemesis bash -c '. "$1"; [ -z "$2" ] || . "$2"; nemesis_loop 60 "$3" "$4"' \
		nemesis "$ELOG_REPO/tests/tools/nemesis.bash" "${NETNS_LIB:-}" \
		"${NEMESIS_INTERVAL:-2}" "$1"
}

nemesis_done() {
	elog_wait_until 60 elog_exited "$(elog_pid nemesis)" || fail "the nemesis did not end"
	elog_stop nemesis
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "the nemesis failed: $(cat nemesis.err)"
}

# hit FAULT ROLE — nemesis.log shows FAULT aimed at ROLE of history/0 and
# done to the broker it named.
hit() {
	local id
	id=$(awk -v f="$1" -v r="$2" '$3 == "target" && $4 == f && $5 == r { print $6; exit }' \
		"$NEMESIS_DIR/nemesis.log")
	[ -n "$id" ] || fail "no $1 of a $2: $(cat "$NEMESIS_DIR/nemesis.log")"
	grep -qE " $1 $id( |\$)" "$NEMESIS_DIR/nemesis.log" || fail "$1 $id was not done"
}

# figures — the run's availability figures, the faults and the failovers,
# into the TAP output (bats shows them with --show-output-of-passing-tests
# and keeps them in a report file), for the reader; nothing is asserted.
figures() {
	{
		grep -E '^(sends|acknowledged in|unavailable)' <<<"$output"
		echo "faults: $(nemesis_summary | paste -sd, | sed 's/,/, /g')"
		echo "failovers: $(nemesis_failovers history/)"
	} | sed 's/^/# /' >&3
}

# A run's report, on failure, with the brokers' view of leadership.
report() {
	echo "$output"
	cat "$NEMESIS_DIR/nemesis.log"
	grep -h 'raft role' "$NEMESIS_DIR"/broker.*.err | grep "group=$NEMESIS_GROUP " || true
}

@test "check: acknowledgement latency and windows without acknowledgements are figures, not anomalies" {
	# p0-0..3 acknowledged 4 ms after their invoke; partition 0 then goes
	# 1000 ms without one (p0-4 waits 990 ms), partition 1 has one only.
	cat >h <<-'EOF'
	# elog-history 1 topic=t partitions=2 producers=1 consumers=0 start_ms=0
	1 p0 invoke 0
	2 p0 invoke 1
	3 p0 invoke 2
	4 p0 invoke 3
	5 p0 ok 0 0 0
	6 p0 ok 1 0 1
	7 p0 ok 2 1 0
	8 p0 ok 3 0 2
	18 p0 invoke 4
	1008 p0 ok 4 0 3
	2000 final 0 0 p0-0
	2000 final 0 1 p0-1
	2000 final 0 2 p0-3
	2000 final 0 3 p0-4
	2000 final 1 0 p0-2
	2001 final-end 0 0 4
	2001 final-end 1 0 1
	EOF
	run -0 elog-history check h
	assert_line "acknowledged in ms: p50 4 p99 990 max 990"
	assert_line "unavailable (a partition 250 ms or more without an acknowledgement): 1 times, ms p50 1000 p99 1000 max 1000 total 1000"
	assert_line "no anomalies"
}

@test "cluster: kill -9 and SIGSTOP of the leader and of a follower, acks=all, flush=always: no anomalies" {
	start_cluster
	nemesis kill@leader,pause@follower,pause@leader,kill@follower
	run elog-history -b "$BROKERS" -d 20s -P 2 -C 2 -p 2 -R 3 -r 100 \
		--flush always --timeout 30s --final-timeout 60s run "$ELOG_TMP/run"
	[ "$status" -eq 0 ] || { report; fail "elog-history exit $status"; }
	assert_line "no anomalies"
	assert_line --regexp '^sends [1-9][0-9]* ok [1-9][0-9]* '
	nemesis_done
	figures
	hit kill leader
	hit kill follower
	hit pause leader
	hit pause follower
	# -R 3: every broker holds every partition
	run -0 elog-topic -b "$BROKERS" describe history
	assert_line --regexp $'^topic\thistory\t2\t3$'
}

@test "cluster: flush=interval, kills, a pause and the loss of a follower's unsynced tail: no anomalies" {
	start_cluster
	# docs/operations.md's table: acks=all on an interval topic answers once
	# a majority fsynced, so one broker losing what it had not synced (the
	# nemesis's lose-tail: kill -9, newest segments cut) loses nothing.
	nemesis kill@leader,lose-tail@follower,pause@leader,kill@follower
	run elog-history -b "$BROKERS" -d 20s -P 2 -C 1 -p 2 -R 3 -r 100 \
		--flush 1s --timeout 30s --final-timeout 60s run "$ELOG_TMP/run"
	[ "$status" -eq 0 ] || { report; fail "elog-history exit $status"; }
	assert_line "no anomalies"
	nemesis_done
	figures
	hit kill leader
	hit lose-tail follower
	hit pause leader
}

@test "cluster, netns: the leader and a follower cut off both ways and one way, healed: no anomalies" {
	elog_netns_require
	elog_netns_setup 3
	export ELOG_NETNS_PREFIX ELOG_NETNS_NET ELOG_NETNS_NODES NETNS_LIB=$ELOG_REPO/tests/netns.bash
	local i spec= brokers=
	for i in 1 2 3; do
		spec+="${spec:+,}$i@$(elog_netns_addr "$i"):9092"
		brokers+="${brokers:+,}$(elog_netns_addr "$i"):9092"
	done
	for i in 1 2 3; do
		nemesis_broker_add "$i" "$ELOG_TMP/d$i" "$(elog_netns_addr "$i"):9092" \
			ip netns exec "$(elog_netns_name "$i")" elog-serve --id "$i" --cluster "$spec" \
			-d '{dir}' -l '{listen}' || fail "broker $i did not start"
	done
	# Held 1.5 to 4.5 s each: past the election timeout (0.5 to 1 s).
	NEMESIS_INTERVAL=3 nemesis isolate@leader,drop-in@follower,drop-out@leader,isolate@follower,drop-in@leader
	run elog_netns_exec c elog-history -b "$brokers" -d 24s -P 2 -C 1 -p 2 -R 3 -r 100 \
		--flush always --timeout 30s --final-timeout 60s run "$ELOG_TMP/run"
	[ "$status" -eq 0 ] || { report; fail "elog-history exit $status"; }
	assert_line "no anomalies"
	nemesis_done
	figures
	hit isolate leader
	hit isolate follower
	hit drop-out leader
	hit drop-in leader
	hit drop-in follower
}
