#!/usr/bin/env bats
# elog-consume when its broker goes away: a follower reconnects for as long
# as it runs, saying once that it lost the broker and once that it answers
# again, and goes on where it was; a bounded run (-e, -n) or a --timeout
# gives up after --timeout with one line and exit 1. The broker is stopped
# and started again on the same port (the one its first ready line gave).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
}

# start_broker NAME [PORT] — elog-serve on PORT (default: a free one); sets
# ELOG_BROKERS and PORT.
start_broker() {
	elog_spawn "$1" elog-serve -d "$ELOG_TMP/data" -l "127.0.0.1:${2:-0}"
	elog_broker_wait "$1"
	export ELOG_BROKERS=$ELOG_ADDR
	PORT=${ELOG_ADDR##*:}
}

# lines_are FILE N — FILE has N lines.
lines_are() {
	[ "$(wc -l <"$1")" -eq "$2" ]
}

@test "following: the broker restarts on the same port; lost and back said once each, nothing lost or repeated" {
	start_broker b1
	elog-topic create -p 2 t
	seq 1 3 | elog-produce -p 0 t
	elog_spawn follow elog-consume t
	elog_wait_until 10 lines_are follow.out 3 || fail "not followed: $(cat follow.err)"

	elog_stop b1
	elog_wait_until 20 grep -q 'lost the broker' follow.err || fail "the loss was not said: $(cat follow.err)"
	# records written while it is away are not there to miss; it keeps trying
	start_broker b2 "$PORT"
	seq 4 6 | elog-produce -p 1 t
	elog_wait_until 30 lines_are follow.out 6 || fail "nothing after the restart: $(cat follow.err)"
	elog_wait_until 10 grep -q 'answers again' follow.err || fail "the return was not said: $(cat follow.err)"
	# a second outage is said again
	elog_stop b2
	elog_wait_until 20 eval '[ "$(grep -c "lost the broker" follow.err)" -eq 2 ]' ||
		fail "the second loss was not said: $(cat follow.err)"
	start_broker b3 "$PORT"
	echo 7 | elog-produce -p 0 t
	elog_wait_until 30 lines_are follow.out 7 || fail "nothing after the second restart"

	elog_stop follow
	assert_equal "$ELOG_STOP_STATUS" 0
	assert_equal "$(sort -n follow.out)" "$(seq 1 7)"
	run cat follow.err
	assert_equal "${#lines[@]}" 4
	assert_regex "${lines[0]}" "^elog-consume: warning: lost the broker: .*127\\.0\\.0\\.1:$PORT.*; reconnecting\$"
	assert_equal "${lines[1]}" "elog-consume: the broker answers again; following"
	assert_regex "${lines[2]}" "^elog-consume: warning: lost the broker: .*; reconnecting\$"
	assert_equal "${lines[3]}" "elog-consume: the broker answers again; following"
}

@test "-n and a follower with --timeout: a broker gone for --timeout ends the run, one line, exit 1" {
	start_broker b1
	elog-topic create t
	seq 1 3 | elog-produce t
	elog_spawn counted elog-consume -n 10 --timeout 2s t
	elog_spawn follow elog-consume --timeout 2s t
	elog_wait_until 10 lines_are counted.out 3 || fail "nothing read: $(cat counted.err)"
	elog_wait_until 10 lines_are follow.out 3 || fail "nothing followed: $(cat follow.err)"
	elog_stop b1
	for p in counted follow; do
		elog_wait_until 20 elog_exited "$(elog_pid "$p")" || fail "$p did not give up"
		elog_stop "$p"
		assert_equal "$ELOG_STOP_STATUS" 1
		assert_equal "$(cat "$p.out")" "$(seq 1 3)"
	done
	run cat counted.err
	assert_equal "${#lines[@]}" 1
	assert_regex "$output" "^elog-consume: fetch 't' partition 0: no answer for 2000 ms: .*127\\.0\\.0\\.1:$PORT"
	run cat follow.err
	assert_regex "${lines[-1]}" "^elog-consume: fetch 't' partition 0: no answer for 2000 ms: "
}

@test "-e against a broker that accepts but never answers: exit 1 after --timeout" {
	start_broker b1
	elog-topic create t
	seq 1 3 | elog-produce t
	kill -STOP "$(elog_pid b1)"
	SECONDS=0
	run -1 --separate-stderr timeout 60 elog-consume -e --timeout 1s t
	[ "$SECONDS" -le 15 ] || fail "took ${SECONDS}s"
	kill -CONT "$(elog_pid b1)"
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "elog-consume: "*"127.0.0.1:$PORT"* ]] || fail "stderr: $stderr"
}
