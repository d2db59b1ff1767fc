#!/usr/bin/env bats
# Processing (docs/processing.md): elog-consume -g GROUP --exec / --coproc
# with real brokers and real commands: verdicts by exit status, retries in
# place, retry tiers, dead letters with their story in elog.* headers, the
# breaker, per-key order, commits that follow the verdicts, and kill -9 at
# any moment losing nothing.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-lag
	cd "$ELOG_TMP"
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
}

teardown() {
	elog_teardown
}

# keyed N [KEYS] — N records {"k":"kI","v":I}, I = 1..N, keys k(I mod KEYS).
keyed() {
	seq 1 "$1" | awk -v keys="${2:-1000000}" '{ printf "{\"k\":\"k%d\",\"v\":%d}\n", $1 % keys, $1 }'
}

# dead TOPIC — the dead letters, as JSON envelopes.
dead() {
	elog-consume -q -e -J "$1"
}

# header NAME LINE — a header's value from an envelope (as JSON text: a
# newline is \n).
header() {
	sed -n 's/.*\["'"$1"'","\([^"]*\)"\].*/\1/p' <<<"$2"
}

@test "--exec: exit 0 done, 75 retried in place, a signal and a timeout retried, another status dead-lettered with its story; the commit follows" {
	elog-topic create -p 1 t
	keyed 20 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		echo "$v $ELOG_ATTEMPT $ELOG_TOPIC $ELOG_PARTITION $ELOG_OFFSET $ELOG_KEY $ELOG_GROUP" >>seen
		case $v in
		5) echo "five is bad" >&2; exit 3 ;;
		7) [ "$ELOG_ATTEMPT" -ge 3 ] || { echo "not yet" >&2; exit 75; } ;;
		9) [ "$ELOG_ATTEMPT" -ge 2 ] || kill -9 $$ ;;  # sh reports 137: a signal
		11) [ "$ELOG_ATTEMPT" -ge 2 ] || sleep 30 ;;
		esac
		echo "$v" >>done
	EOF
	chmod +x cmd.sh
	run -0 timeout 60 elog-consume -g g --exec ./cmd.sh --retries 3 --backoff 10ms..50ms \
		--exec-timeout 500ms -e t
	# Every record done once, but 5 (permanent) which is in the DLQ.
	[ "$(sort -n done | tr '\n' ' ')" = "$(seq 1 20 | grep -vx 5 | tr '\n' ' ')" ]
	grep -qx '7 3 t 0 6 k7 g' seen
	grep -qx '9 2 t 0 8 k9 g' seen
	grep -qx '11 2 t 0 10 k11 g' seen
	[ "$(grep -c '^5 ' seen)" -eq 1 ]
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 1 ]
	line=${lines[0]}
	[[ $line == *'"value":{"k":"k5","v":5}'* ]]
	[ "$(header elog.topic "$line")" = t ]
	[ "$(header elog.partition "$line")" = 0 ]
	[ "$(header elog.offset "$line")" = 4 ]
	[ "$(header elog.group "$line")" = g ]
	[ "$(header elog.attempts "$line")" = 1 ]
	[ "$(header elog.verdict "$line")" = "exit 3" ]
	[ "$(header elog.stderr "$line")" = 'five is bad\n' ]
	[ -n "$(header elog.host "$line")" ]
	[ -n "$(header elog.first_failure "$line")" ]
	# Committed past everything.
	run -0 elog-lag -g g
	[ "$(cut -f4 <<<"$output")" = 20 ]
}

@test "--retry-on narrows and widens what is retried" {
	elog-topic create -p 1 t
	keyed 3 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		echo "$v $ELOG_ATTEMPT" >>seen
		case $v in 2) exit 75 ;; 3) [ "$ELOG_ATTEMPT" -ge 2 ] || exit 4 ;; esac
	EOF
	chmod +x cmd.sh
	# none: 75 is permanent; 4 too.
	run -0 timeout 60 elog-consume -g g1 --exec ./cmd.sh --retry-on none --backoff 10ms..20ms -e t
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 2 ]
	[ "$(header elog.verdict "${lines[0]}")" = "exit 75" ]
	[ "$(header elog.verdict "${lines[1]}")" = "exit 4" ]
	# 4,75: 3 succeeds on its second try; 2 is dead after its tries.
	run -0 timeout 60 elog-consume -g g2 --exec ./cmd.sh --retry-on 4,75 --retries 2 --backoff 10ms..20ms -e t
	grep -qx '3 2' seen
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 3 ]
	[ "$(header elog.attempts "${lines[2]}")" = 3 ]
}

@test "--retry-topics: a failing record moves through the tiers to the DLQ while its partition goes on" {
	elog-topic create -p 2 t
	keyed 40 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		echo "$v $ELOG_ATTEMPT $ELOG_TOPIC" >>seen
		[ "$v" != 3 ] || exit 75
	EOF
	chmod +x cmd.sh
	elog_spawn c elog-consume -g g --exec ./cmd.sh --retries 0 --retry-topics 1s,2s t
	elog_wait_until 30 eval '[ "$(elog-consume -q -e t.dlq | wc -l)" -eq 1 ]' || fail "$(cat c.err; cat seen)"
	elog_stop c
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	# Its copy in the first tier: when it is due, and its story so far.
	run -0 dead t.retry.1s
	[ "${#lines[@]}" -eq 1 ]
	[ "$(header elog.tier "${lines[0]}")" = 1s ]
	[ "$(header elog.attempts "${lines[0]}")" = 1 ]
	[ "$(header elog.offset "${lines[0]}")" = "$(elog-consume -q -e -f '%o %s\n' t | grep '"v":3}' | cut -d' ' -f1)" ]
	nb=$(header elog.not_before "${lines[0]}")
	lf=$(header elog.last_failure "${lines[0]}")
	[ "$((nb - lf))" -ge 1000 ] && [ "$((nb - lf))" -le 1100 ]
	# 3 was tried three times: in t, t.retry.1s, t.retry.2s.
	[ "$(grep -c '^3 ' seen)" -eq 3 ]
	grep -qx '3 1 t' seen
	grep -qx '3 2 t.retry.1s' seen
	grep -qx '3 3 t.retry.2s' seen
	# Its partition did not wait: everything else was done before its second try.
	first_retry=$(grep -n '^3 2 ' seen | cut -d: -f1)
	[ "$(head -n "$first_retry" seen | grep -c ' t$')" -eq 40 ]
	run -0 dead t.dlq
	[ "$(header elog.attempts "${lines[0]}")" = 3 ]
	[ "$(header elog.topic "${lines[0]}")" = t ]
	[ "$(header elog.verdict "${lines[0]}")" = "exit 75" ]
	run -0 elog-lag -g g
	for tp in t t.retry.1s t.retry.2s; do
		[ "$(awk -v t="$tp" '$2 == t { s += $4 } END { print s + 0 }' <<<"$output")" -eq \
			"$(elog-consume -q -e "$tp" | wc -l)" ] || fail "$tp: $output"
	done
}

@test "a retry copy that claims to be due far in the future waits its tier's delay at most" {
	elog-topic create -p 1 t
	elog-topic create -p 1 t.retry.1s
	echo '{"key":null,"headers":[["elog.not_before","99999999999999"]],"value":{"v":1}}' |
		elog-produce --json t.retry.1s
	run -0 timeout 30 elog-consume -g g --exec 'cat >>done' --retry-topics 1s -n 1 t
	grep -qx '{"v":1}' done
}

@test "a retry copy with bogus elog.* headers (repeated, not numbers, a negative partition) is processed and dead-lettered" {
	elog-topic create -p 1 t
	elog-topic create -p 1 t.retry.1s
	echo '{"key":null,"headers":[["elog.topic","t"],["elog.topic","t"],["elog.partition","-7"],["elog.attempts","zz"],["elog.not_before","-5"]],"value":{"v":1}}' |
		elog-produce --json t.retry.1s
	# Under ASan (make SANITIZE=1), a leak fails the run.
	run -0 timeout 30 elog-consume -g g --exec 'cat >/dev/null; exit 3' --retry-topics 1s -n 1 t
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 1 ]
	[ "$(header elog.topic "${lines[0]}")" = t ]
}

@test "a record the co-process cannot be given (its line past the runner's bound) is dead-lettered, not retried for ever" {
	elog-topic create -p 1 --max-record-bytes 16MiB t
	# 12 MB of control bytes: its envelope line escapes each one as \u0001.
	(head -c 12000000 /dev/zero | tr '\0' '\001'; echo) | elog-produce --raw --batch-size 16MiB t
	echo '{"v":2}' | elog-produce t
	run -0 timeout 60 elog-consume -g g --coproc 'while read -r l; do echo ok; done' -e t
	run -0 elog-consume -q -e -f '%o %S|%h\n' t.dlq
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == "0 12000000|"*"elog.verdict=cannot run: runner: input of "*" bytes is over the limit of "* ]] ||
		fail "${lines[0]:0:400}"
	run -0 elog-lag -g g
	[ "$(cut -f4 <<<"$output")" = 2 ]
}

@test "--concurrency: records of one key in order, several keys at once" {
	elog-topic create -p 1 t
	keyed 60 4 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		# Every fifth fails once: retried in place, its key waits.
		if [ $((v % 5)) -eq 0 ] && [ "$ELOG_ATTEMPT" -eq 1 ]; then exit 75; fi
		echo "$ELOG_KEY $v" >>order
		n=$(ls running.* 2>/dev/null | wc -l)
		touch "running.$$"
		echo "$n" >>overlap
		sleep 0.05
		rm -f "running.$$"
	EOF
	chmod +x cmd.sh
	run -0 timeout 60 elog-consume -g g --exec ./cmd.sh --concurrency 4 --backoff 10ms..20ms -e t
	[ "$(wc -l <order)" -eq 60 ]
	for k in k0 k1 k2 k3; do
		grep "^$k " order | cut -d' ' -f2 >got
		sort -n got | cmp -s - got || fail "$k out of order: $(tr '\n' ' ' <got)"
	done
	# More than one ran at a time.
	[ "$(sort -n overlap | tail -n 1)" -ge 1 ]
}

@test "--coproc: a shell loop answers; fail and retry lines; a crashing co-process is restarted and loses nothing" {
	elog-topic create -p 1 t
	keyed 50 | elog-produce -k k t
	cat >co.sh <<-'EOF'
		#!/bin/sh
		# Dies after 7 answers, the first time it runs.
		n=0
		while read -r line; do
			n=$((n + 1))
			if [ ! -e died ] && [ "$n" -eq 8 ]; then touch died; exit 9; fi
			case $line in
			*'"v":13}'*) echo "fail thirteen is unlucky" ;;
			*'"v":17}'*'"attempt":1}') echo "retry later" ;;
			*) echo "$line" | sed 's/.*"v":\([0-9]*\).*/\1/' >>done; echo ok ;;
			esac
		done
	EOF
	chmod +x co.sh
	run -0 timeout 60 elog-consume -g g --coproc ./co.sh --backoff 10ms..50ms -e t
	[ -e died ]
	[ "$(sort -nu done | wc -l)" -eq 49 ]
	! grep -qx 13 done
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 1 ]
	[ "$(header elog.verdict "${lines[0]}")" = "fail: thirteen is unlucky" ]
}

@test "the breaker: a dependency down for a while fills no DLQ; processing resumes when it is back" {
	elog-topic create -p 1 t
	keyed 30 | elog-produce -k k t
	touch down
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		[ ! -e down ] || exit 75
		cat >/dev/null
		echo "$ELOG_OFFSET" >>done
	EOF
	chmod +x cmd.sh
	elog_spawn c elog-consume -g g --exec ./cmd.sh --retries 2 --breaker 3 --backoff 20ms..200ms t
	elog_wait_until 20 grep -q 'breaker open again' c.err || fail "$(cat c.err)"
	rm down
	elog_wait_until 20 eval '[ "$(sort -u done 2>/dev/null | wc -l)" -eq 30 ]' || fail "$(cat c.err)"
	elog_stop c
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	grep -q 'breaker open after 3 failures' c.err
	grep -q 'breaker half-open' c.err
	grep -q 'breaker closed' c.err
	[ "$(elog-consume -q -e t.dlq | wc -l)" -eq 0 ]
	# Its counts, for Prometheus.
	run elog-lag -g g --prometheus
	assert_output --regexp 'elog_processor_breaker_opened_total\{group="g",member="m-[0-9a-f]+"\} [1-9]'
	assert_output --regexp 'elog_processor_records_total\{group="g",member="m-[0-9a-f]+",outcome="done"\} 30'
	assert_output --regexp 'elog_processor_records_total\{group="g",member="m-[0-9a-f]+",outcome="dead"\} 0'
}

@test "the breaker tells a bad record from an outage: when others succeed, the record that keeps failing is dead-lettered" {
	elog-topic create -p 2 t
	keyed 20 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		[ "$v" != 4 ] || exit 75
		echo "$v" >>done
	EOF
	chmod +x cmd.sh
	run -0 timeout 60 elog-consume -g g --exec ./cmd.sh --retries 2 --breaker 3 --backoff 10ms..50ms -e t
	[ "$(sort -n done | tr '\n' ' ')" = "$(seq 1 20 | grep -vx 4 | tr '\n' ' ')" ]
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == *'"value":{"k":"k4","v":4}'* ]]
}

@test "the breaker open while another record's command runs: the member waits, it does not spin" {
	elog-topic create -p 1 t
	printf '{"k":"a","v":1}\n{"k":"b","v":2}\n' | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		[ "$v" != 1 ] || exit 75
		sleep 4
	EOF
	chmod +x cmd.sh
	elog_spawn c elog-consume -g g --exec ./cmd.sh --concurrency 2 --retries 1 --breaker 1 \
		--backoff 50ms..100ms t
	elog_wait_until 20 grep -q 'breaker open after' c.err || fail "$(cat c.err)"
	sleep 0.5
	read -r -a st <"/proc/$(elog_pid c)/stat"
	before=$((st[13] + st[14]))
	sleep 2
	read -r -a st <"/proc/$(elog_pid c)/stat"
	# CPU ticks (1/100 s) in 2 s of waiting for the sleeping command.
	[ $((st[13] + st[14] - before)) -lt 40 ] || fail "busy: $((st[13] + st[14] - before)) ticks"
	elog_stop c
}

@test "members join and leave while commands run: every record processed, the commits reach the end" {
	elog-topic create -p 4 t
	keyed 400 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		sleep 0.01
		echo "$v" >>done
	EOF
	chmod +x cmd.sh
	elog_spawn a elog-consume -g g --exec ./cmd.sh --concurrency 2 --session-timeout 2s t
	elog_wait_until 20 eval '[ "$(wc -l <done 2>/dev/null || echo 0)" -ge 50 ]' || fail "$(cat a.err)"
	elog_spawn b elog-consume -g g --exec ./cmd.sh --concurrency 2 --session-timeout 2s t
	elog_wait_until 20 eval '[ "$(wc -l <done)" -ge 150 ]' || fail "$(cat a.err b.err)"
	elog_stop a
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	elog_spawn c elog-consume -g g --exec ./cmd.sh --concurrency 2 --session-timeout 2s t
	elog_wait_until 60 eval '[ "$(sort -u done | wc -l)" -eq 400 ]' || fail "$(sort -u done | wc -l); $(cat b.err c.err)"
	elog_wait_until 20 eval '[ "$(elog-lag -g g | cut -f6 | sort -u)" = 0 ] && [ "$(elog-lag -g g | wc -l)" -eq 4 ]' || fail "$(elog-lag -g g)"
	elog_stop b
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "b: $(cat b.err)"
	elog_stop c
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "c: $(cat c.err)"
	echo "# $(wc -l <done) tries for 400 records across two hand-overs" >&3
}

@test "kill -9 at any moment, 20 times: every record processed or dead-lettered, none lost" {
	elog-topic create -p 3 t
	keyed 300 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		[ $((v % 17)) -ne 0 ] || exit 3
		echo "$v" >>done
	EOF
	chmod +x cmd.sh
	for i in $(seq 1 20); do
		elog_spawn "c$i" elog-consume -g g --instance-id one --exec ./cmd.sh --concurrency 3 t
		sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
		kill -KILL "$(elog_pid "c$i")"
		elog_stop "c$i" KILL || true
	done
	run -0 timeout 60 elog-consume -g g --instance-id one --exec ./cmd.sh -e t
	all=$( (sort -nu done; elog-consume -q -e t.dlq | sed 's/.*"v":\([0-9]*\).*/\1/') | sort -nu | wc -l)
	[ "$all" -eq 300 ] || fail "only $all of 300"
	echo "# processed $(wc -l <done) times for 300 records ($(sort -nu done | wc -l) distinct); dead letters $(elog-consume -q -e t.dlq | wc -l)" >&3
}

@test "dead letters replayed by elog-dlq from cron come back, fail again, and stop at --max-replays" {
	elog_need elog-dlq
	elog-topic create -p 1 t
	keyed 10 | elog-produce -k k t
	cat >cmd.sh <<-'EOF'
		#!/bin/sh
		v=$(sed 's/.*"v":\([0-9]*\).*/\1/')
		echo "$v ${ELOG_HEADER_ELOG_REPLAY_COUNT:-0}" >>seen
		[ "$v" != 4 ] || exit 3
	EOF
	chmod +x cmd.sh
	run -0 timeout 60 elog-consume -g g --exec ./cmd.sh -e t
	for n in 1 2 3; do
		# cron: a replay, twice (the second finds nothing new), then the
		# processor sees the copy and dead-letters it again.
		run -0 elog-dlq replay t.dlq
		run -0 elog-dlq replay t.dlq
		run -0 timeout 60 elog-consume -g g --exec ./cmd.sh -e t
		[ "$(grep -c "^4 $n\$" seen)" -eq 1 ] || fail "round $n: $(cat seen)"
	done
	[ "$(grep -c '^4 ' seen)" -eq 4 ]
	[ "$(grep -vc '^4 ' seen)" -eq 9 ]
	run -0 dead t.dlq
	[ "${#lines[@]}" -eq 4 ]
	[ "$(header elog.replay.count "${lines[3]}")" = 3 ]
	run -1 elog-dlq replay t.dlq
	assert_output --partial "max replays"
}

@test "processing options: usage errors" {
	run -2 elog-consume --exec true t
	assert_output --partial "--exec needs -g GROUP"
	run -2 elog-consume -g g --exec true --coproc cat t
	run -2 elog-consume -g g --retries 3 t
	assert_output --partial "--retries needs --exec or --coproc"
	run -2 elog-consume -g g --exec true --backoff 5s t
	run -2 elog-consume -g g --exec true --backoff 5s..1s t
	run -2 elog-consume -g g --exec true --retry-topics 1m,x t
	run -2 elog-consume -g g --exec true --retry-on 0 t
	run -2 elog-consume -g g --exec true --concurrency 0 t
	run -2 elog-consume -g g --exec true --json t
	run -2 elog-consume -g g --exec true --at-most-once t
	run -2 elog-consume -g g --exec '' t
	run -2 elog-consume -g g --exec true --retries 1 --breaker 3 t
	assert_output --partial "--breaker 3: at most --retries + 1 (2)"
	run -2 elog-consume -g g --exec true --retry-topics 1s,2s,3s,4s,5s,6s,7s,8s,9s t
	assert_output --partial "--retry-topics: at most 8"
	# shellcheck disable=SC2046
	run -2 elog-consume -g g --exec true $(seq -f 't%g' 65)
	assert_output --partial "--exec: at most 64 topics"
	# A retry topic whose name would be too long: said, exit 1, nothing left running.
	long=$(printf 'a%.0s' $(seq 1 245))
	elog-topic create -p 1 "$long"
	run -1 elog-consume -g g --exec true --retry-topics 1m -e "$long"
	assert_output --partial "create topic '$long.retry.1m'"
}

@test "--exec: a header the environment cannot hold is left out of it; the record is processed" {
	elog-topic create -p 1 t
	big=$(head -c 200000 /dev/zero | tr '\0' x)
	printf '{"headers":[["small","s"],["big","%s"]],"value":{"v":1}}\n' "$big" | elog-produce --json t
	run -0 timeout 30 elog-consume -g g --exec 'test -z "$ELOG_HEADER_BIG" && test "$ELOG_HEADER_SMALL" = s && cat >>done' -e t
	grep -qx '{"v":1}' done
	[ "$(elog-consume -q -e t.dlq | wc -l)" -eq 0 ]
}
