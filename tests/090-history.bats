#!/usr/bin/env bats
# elog-history and the nemesis (docs/testing.md, "Proving it").
#
# First the checker on hand-written histories: a clean one passes, and each
# anomaly injected into it is caught, alone (a checker that cannot fail
# proves nothing). Then short real runs against one broker: under kill -9
# and SIGSTOP of a flush=always broker the history is clean; when the
# broker loses the tail of its segments (the nemesis's lose-tail: what a
# power loss does to unsynced writes) the check fails with lost writes.
# Last, the network-namespace harness: a client cut off from its broker
# fails its produce within its timeout, and succeeds once healed.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic elog-history
	cd "$ELOG_TMP"
	export NEMESIS_DIR=$ELOG_TMP/run
	. "$ELOG_REPO/tests/tools/nemesis.bash"
}

teardown() {
	elog_stop_all
	nemesis_stop_all
	elog_teardown
}

# A clean history: one producer, one consumer, partition 0 holds p0-0, p0-1,
# p0-3 and partition 1 holds p0-2.
base_history() {
	cat <<-'EOF'
	# elog-history 1 topic=t partitions=2 producers=1 consumers=1 start_ms=0
	1 p0 invoke 0
	2 p0 invoke 1
	3 p0 invoke 2
	4 p0 invoke 3
	5 p0 ok 0 0 0
	6 p0 ok 1 0 1
	7 p0 ok 2 1 0
	8 p0 ok 3 0 2
	9 c0 poll 0 0 p0-0
	10 c0 poll 0 1 p0-1
	11 c0 poll 1 0 p0-2
	12 c0 poll 0 2 p0-3
	20 final 0 0 p0-0
	20 final 0 1 p0-1
	20 final 0 2 p0-3
	20 final 1 0 p0-2
	21 final-end 0 0 3
	21 final-end 1 0 1
	EOF
}

# only_anomaly KIND — the output of the last `run` reports KIND, once, and
# no other kind.
only_anomaly() {
	assert_line --regexp "^$1 +1\$"
	[ "$(grep -cE '^[a-z-]+ +[1-9][0-9]*$' <<<"$output")" -eq 1 ] ||
		fail "more than one kind of anomaly reported: $output"
}

@test "check: a clean history has no anomalies, exit 0" {
	base_history >h
	run -0 elog-history check h
	assert_line "sends 4 ok 4 failed 0 indeterminate 0 (failed but read 0, indeterminate but read 0)"
	assert_line "polls 4 consumer restarts 0 final read 4 records (0 foreign)"
	assert_line --regexp '^lost-write +0$'
	assert_line --regexp '^poll-skip +0$'
	assert_line "no anomalies"
}

@test "check: an acknowledged record missing from the final read is a lost-write" {
	base_history | sed -e '/final 0 2 p0-3/d' -e 's/final-end 0 0 3/final-end 0 0 2/' >h
	run -1 elog-history check h
	only_anomaly lost-write
	assert_line "  p0-3 acknowledged at 0:2, not in the final read"
	assert_line "anomalies found"
}

@test "check: a record polled but missing from the final read is a lost-write" {
	base_history | sed -e '/ok 3 0 2/d' -e 's/invoke 3/invoke 3/' \
		-e '/final 0 2 p0-3/d' -e 's/final-end 0 0 3/final-end 0 0 2/' >h
	run -1 elog-history check h
	only_anomaly lost-write
	assert_line "  p0-3 polled, not in the final read"
}

@test "check: one value at two offsets is a duplicate" {
	base_history | sed -e 's/final-end 1 0 1/final-end 1 0 2/' >h
	echo "20 final 1 1 p0-0" >>h
	run -1 elog-history check h
	only_anomaly duplicate
	assert_line "  p0-0 in the final read at 1:1 and at 0:0"
}

@test "check: a poll that disagrees with the final read is inconsistent-offsets" {
	base_history | sed -e 's/c0 poll 1 0 p0-2/c0 poll 1 0 -/' >h
	run -1 elog-history check h
	only_anomaly inconsistent-offsets
	assert_line "  c0 polled - at 1:0; the final read has p0-2"
}

@test "check: a consumer going back without a restart is nonmonotonic-poll; after one it is not" {
	base_history | sed -e 's/^10 c0 poll 0 1 p0-1$/&\n10 c0 poll 0 0 p0-0\n10 c0 poll 0 1 p0-1/' >h
	run -1 elog-history check h
	only_anomaly nonmonotonic-poll
	assert_line "  c0 polled 0:0 after 0:1"

	base_history | sed -e 's/^10 c0 poll 0 1 p0-1$/&\n10 c0 restart lost\n10 c0 poll 0 0 p0-0\n10 c0 poll 0 1 p0-1/' >h
	run -0 elog-history check h
	assert_line "polls 6 consumer restarts 1 final read 4 records (0 foreign)"
}

@test "check: a consumer jumping over a record the final read holds is a poll-skip" {
	base_history | sed -e '/c0 poll 0 1 p0-1/d' >h
	run -1 elog-history check h
	only_anomaly poll-skip
	assert_line "  c0 went from 0:0 to 2, skipping 1 which the final read holds"
}

@test "check: a producer's acknowledged offsets going back is nonmonotonic-send" {
	# The acknowledgements of p0-0 and p0-1 (lines 6 and 7) swapped.
	base_history | sed -e '6{h;d}' -e '7G' >h
	run -1 elog-history check h
	only_anomaly nonmonotonic-send
	assert_line "  p0 acknowledged p0-0 at 0:0 after an acknowledgement at 0:1"
}

@test "check: acknowledged at one offset, read at another, is ack-offset-mismatch" {
	base_history | sed -e 's/p0 ok 2 1 0/p0 ok 2 1 7/' >h
	run -1 elog-history check h
	only_anomaly ack-offset-mismatch
	assert_line "  p0-2 acknowledged at 1:7, the final read has it at 1:0"

	# --allow reports a kind without failing on it; other kinds still fail.
	run -0 elog-history --allow ack-offset-mismatch check h
	assert_line --regexp '^ack-offset-mismatch +1 \(allowed\)$'
	assert_line "no anomalies but the allowed ones"
	base_history | sed -e '/c0 poll 0 1 p0-1/d' >h
	run -1 elog-history --allow ack-offset-mismatch,duplicate check h
	run -2 elog-history --allow lost-writes check h
	assert_output 'elog-history: --allow: unknown anomaly kind "lost-writes"'
}

@test "check: a value read that no producer sent is a phantom" {
	base_history | sed -e 's/final-end 1 0 1/final-end 1 0 2/' >h
	echo "20 final 1 1 p0-9" >>h
	run -1 elog-history check h
	only_anomaly phantom
}

@test "check: indeterminate and failed sends are figures, not anomalies" {
	base_history >h
	printf '%s\n' "13 p0 invoke 4" "14 p0 info 4 timed out" "15 p0 invoke 5" \
		"16 p0 fail 5 10 refused" "17 p0 invoke 6" >>h
	run -0 elog-history check h
	assert_line "sends 7 ok 4 failed 1 indeterminate 2 (failed but read 0, indeterminate but read 0)"
}

@test "check: no final read, or a malformed history, cannot be checked: exit 2" {
	base_history | grep -v final >h
	run -2 elog-history check h
	assert_output "elog-history: h: no final read of partition 0 (final-end line): cannot check"

	base_history | sed -e 's/^7 p0 ok 2 1 0$/7 p0 ok 2 9 0/' >h
	run -2 elog-history check h
	assert_output "elog-history: h line 8: partition missing or out of range"

	echo "not a history" >h
	run -2 elog-history check h
	assert_output --partial "not an elog-history 1 file"

	run -2 elog-history check missing
	assert_output --partial "missing"
}


# start_broker — one broker, owned by the nemesis, on a free port.
start_broker() {
	nemesis_init
	nemesis_broker_add 1 "$ELOG_TMP/data" 127.0.0.1:0 elog-serve -d '{dir}' -l '{listen}' ||
		fail "the broker did not start"
}

@test "history under kill -9 and SIGSTOP of a flush=always broker: no anomalies" {
	start_broker
	NEMESIS_PICK=cycle elog_spawn nemesis bash -c '. "$1"; nemesis_loop 12 2 kill,pause' \
		nemesis "$ELOG_REPO/tests/tools/nemesis.bash"
	run elog-history -b "$(nemesis_addr 1)" -d 12s -P 2 -C 2 -p 3 -r 100 \
		--flush always --timeout 20s --final-timeout 60s run "$ELOG_TMP/run"
	assert_success    # on failure, prints the checker's report
	assert_line --regexp '^no anomalies'
	assert_line --regexp '^sends [1-9][0-9]* ok [1-9][0-9]* '
	elog_wait_until 30 elog_exited "$(elog_pid nemesis)" || fail "the nemesis did not end"
	elog_stop nemesis
	assert_equal "$ELOG_STOP_STATUS" 0
	run -0 grep -c ' kill 1 ' "$NEMESIS_DIR/nemesis.log"
	run -0 grep -c ' pause 1$' "$NEMESIS_DIR/nemesis.log"
}

@test "history when the broker loses acknowledged records: lost writes found, exit 1" {
	start_broker
	# One loss, once records are flowing: the nemesis's lose-tail is a kill -9
	# that also cuts every partition's newest segment in half.
	elog_spawn nemesis bash -c '. "$1"; nemesis_loop 3 2 lose-tail' \
		nemesis "$ELOG_REPO/tests/tools/nemesis.bash"
	run -1 elog-history -b "$(nemesis_addr 1)" -d 6s -P 2 -C 1 -p 2 -r 100 \
		--timeout 20s --final-timeout 60s run "$ELOG_TMP/run"
	assert_line --regexp '^lost-write +[1-9][0-9]*$'
	assert_line "anomalies found"
	run -0 grep -c ' lose-tail 1 ' "$NEMESIS_DIR/nemesis.log"
}

@test "netns: history under partitions (both ways and one-way) and kill -9: no anomalies" {
	elog_netns_require
	elog_netns_setup 1
	nemesis_init
	nemesis_broker_add 1 "$ELOG_TMP/data" "$(elog_netns_addr 1):9092" \
		ip netns exec "$(elog_netns_name 1)" elog-serve -d '{dir}' -l '{listen}' ||
		fail "the broker did not start"
	export ELOG_NETNS_PREFIX ELOG_NETNS_NET ELOG_NETNS_NODES
	NEMESIS_PICK=cycle elog_spawn nemesis bash -c '. "$1"; . "$2"; nemesis_loop 16 2 isolate,drop-out,kill,drop-in' \
		nemesis "$ELOG_REPO/tests/tools/nemesis.bash" "$ELOG_REPO/tests/netns.bash"
	run elog_netns_exec c elog-history -b "$(nemesis_addr 1)" -d 16s -P 2 -C 2 -p 2 -r 100 \
		--timeout 30s --final-timeout 60s run "$ELOG_TMP/run"
	assert_success    # on failure, prints the checker's report
	assert_line --regexp '^no anomalies'
	elog_wait_until 30 elog_exited "$(elog_pid nemesis)" || fail "the nemesis did not end"
	elog_stop nemesis
	assert_equal "$ELOG_STOP_STATUS" 0
	run -0 grep -c ' isolate 1$' "$NEMESIS_DIR/nemesis.log"
	run -0 grep -c ' drop-out 1$' "$NEMESIS_DIR/nemesis.log"
}

# net_produce VALUE — produce one record from the client namespace.
net_produce() {
	elog_netns_exec c elog-produce -q -b "$ADDR" --timeout 2s -p 0 t <<<"{\"v\":$1}"
}

@test "netns: cut off from its broker, a produce fails within its timeout; healed, it succeeds" {
	elog_netns_require
	elog_netns_setup 1
	ADDR=$(elog_netns_addr 1):9092
	elog_spawn broker ip netns exec "$(elog_netns_name 1)" elog-serve -d "$ELOG_TMP/data" -l "$ADDR"
	elog_broker_wait broker
	run -0 elog_netns_exec c elog-topic create -b "$ADDR" -p 1 t
	run -0 net_produce 1

	local fault v=2 t0
	for fault in isolate drop_out drop_in; do
		"elog_netns_$fault" 1
		t0=$SECONDS
		run -1 net_produce "$v"
		assert_output --regexp "elog-produce: .*(time|connect)"
		# Its own timeout (2 s) or the connect timeout bounds it, not TCP's.
		[ $((SECONDS - t0)) -le 15 ] || fail "produce took $((SECONDS - t0)) s"
		elog_netns_heal
		run -0 net_produce "$v"
		v=$((v + 1))
	done
	run -0 elog_netns_exec c elog-consume -b "$ADDR" -e -q t
	assert_output "$(printf '{"v":%s}\n' 1 2 3 4)"
	run -0 grep -c ' net isolate 1' "$ELOG_TMP/netns.log"
}

@test "netns: delay and loss need tc netem, and say so when the kernel lacks it" {
	elog_netns_require
	elog_netns_setup 1
	if elog_netns_have_netem; then
		run -0 elog_netns_delay 1 50
		run -0 elog_netns_loss 1 10
		elog_netns_heal 1
	else
		! elog_netns_delay 1 50 || fail "netem said it worked after failing"
		[[ $ELOG_NETNS_WHY == "tc netem is not available here: "* ]] ||
			fail "no reason given: $ELOG_NETNS_WHY"
		skip "this kernel has no sch_netem: delay and loss are unavailable"
	fi
}
