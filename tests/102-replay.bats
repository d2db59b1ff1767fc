#!/usr/bin/env bats
# elog-replay's range replay (docs/groups.md, elog-replay(1)), against a
# real elog-serve: --from/--to as offsets and times, printed as
# elog-consume prints them; into another topic with keys, headers and
# timestamps kept and elog.replay.* headers added, in the same partition
# or by key; a rerun copies nothing twice; a replay interrupted by SIGTERM
# resumes with each record exactly once, one killed by SIGKILL at least
# once, without gaps, duplicates only past the last commit; usage errors.

bats_require_minimum_version 1.5.0
load helpers

# Record i of partition p (0..9): key kp-i, value 1000 + 100p + i, stamped
# T0 + i seconds.
T0=1700000000000

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-replay elog-probe
	cd "$ELOG_TMP"
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
}

teardown() {
	elog_teardown
}

# fill TOPIC PARTITIONS — 10 records a partition, each with a key, a header
# and its own timestamp, through envelopes.
fill() {
	local p i
	for ((p = 0; p < $2; p++)); do
		for ((i = 0; i < 10; i++)); do
			printf '{"partition":%d,"timestamp":%d,"key":"k%d-%d","headers":[["h","%d"]],"value":%d}\n' \
				"$p" $((T0 + i * 1000)) "$p" "$i" "$i" $((1000 + p * 100 + i))
		done
	done | elog-produce --json --keep-partition "$1"
}

# count TOPIC — its records.
count() {
	elog-consume -e "$1" | wc -l
}

# at_least TOPIC N — TOPIC holds N records or more.
at_least() {
	[ "$(count "$1")" -ge "$2" ]
}

# sources TOPIC — "partition offset" of the source of each record of
# TOPIC, from its elog.replay.* headers, sorted.
sources() {
	elog-consume -e -f '%h\n' "$1" |
		sed -n 's/.*elog\.replay\.partition=\([0-9]*\),elog\.replay\.offset=\([0-9]*\).*/\1 \2/p' |
		sort -n -k1,1 -k2,2
}

# interrupted SIGNAL — topic s (2 partitions, 400 keyed records) replayed
# into d at 100 records a second, committing every 100 ms, and stopped by
# SIGNAL after 40 records: 0.4 s into its 4 s, long before its end.
interrupted() {
	elog-topic create -p 2 s
	elog-topic create -p 2 d
	seq 1 400 | sed 's/.*/key&:&/' | elog-produce -K : s
	elog_spawn r elog-replay s --to-topic d --rate 100/s --commit-interval 100ms
	elog_wait_until 10 at_least d 40 || fail "nothing replayed: $(cat r.err)"
	! elog_exited "$(elog_pid r)" || fail "the replay ended before the signal"
	elog_stop r "$1"
}

@test "to stdout: --from and --to as offsets and times, in elog-consume's formats" {
	elog-topic create -p 2 t
	fill t 2
	run -0 --separate-stderr elog-replay t:1 --from 2 --to 5 -f '%p %o %k %s %T %h\n'
	assert_output "1 2 k1-2 1102 $((T0 + 2000)) h=2
1 3 k1-3 1103 $((T0 + 3000)) h=3
1 4 k1-4 1104 $((T0 + 4000)) h=4"
	[ -z "$stderr" ]
	# @TIME: from the first record at or after it, up to the first at or after --to.
	run -0 elog-replay t --from "@$((T0 + 2500))" --to "@$((T0 + 5000))" -f '%p %o\n'
	assert_output "$(printf '0 3\n0 4\n1 3\n1 4')"
	run -0 elog-replay t:0 --from @2023-11-14T22:13:27Z --to 9 -f '%o\n'
	assert_output "$(printf '7\n8')"
	# The same bytes elog-consume prints, -J and the value alone.
	diff <(elog-replay t:0 -J --from 6) <(elog-consume -e -J t:0 | tail -n 4)
	diff <(elog-replay t) <(elog-consume -e t)
	# Kept inside the log: --to past the end stops at the high watermark
	# (no waiting), a --from past it replays nothing.
	run -0 elog-replay t:0 --from 8 --to 1000 -f '%o\n'
	assert_output "$(printf '8\n9')"
	run -0 --separate-stderr elog-replay t --from 50
	[ -z "$output" ] && [ -z "$stderr" ]
	# A closed stdout is a normal end.
	run -0 bash -c 'elog-replay t | head -n 1'
	assert_output "1000"
	# --rate: 20 records at 50 a second take 19 intervals of 20 ms at least.
	local t0=${EPOCHREALTIME/./}
	run -0 elog-replay t --rate 50/s
	[ "${#lines[@]}" -eq 20 ]
	[ $((${EPOCHREALTIME/./} - t0)) -ge 380000 ] || fail "20 records at 50/s in $((${EPOCHREALTIME/./} - t0)) us"
}

@test "into a topic: keys, headers and timestamps kept, elog.replay.* added; a rerun copies nothing" {
	local want
	elog-topic create -p 2 t
	elog-topic create -p 2 u
	fill t 2
	run -0 --separate-stderr elog-replay t --to-topic u --from 5
	assert_equal "$stderr" "elog-replay: 't' into 'u': 10 records replayed; group 'elog-replay.t.u' is at the end of the range"
	want=$(elog-consume -e -f '%p %k %s %T %h,elog.replay.topic=t,elog.replay.partition=%p,elog.replay.offset=%o\n' t |
		awk '$2 ~ /-[5-9]$/')
	assert_equal "$(elog-consume -e -f '%p %k %s %T %h\n' u)" "$want"
	run -0 elog-probe -b "$ELOG_BROKERS" committed elog-replay.t.u
	assert_output "topic=t partition=0 error=NONE offset=10 high_watermark=10 timed=1 metadata= window=
topic=t partition=1 error=NONE offset=10 high_watermark=10 timed=1 metadata= window="
	# A rerun starts at max(--from, the commit): nothing is left.
	run -0 --separate-stderr elog-replay t --to-topic u
	assert_equal "$stderr" "elog-replay: resuming: group 'elog-replay.t.u' has the first 20 offsets of the range replayed already
elog-replay: 't' into 'u': 0 records replayed; group 'elog-replay.t.u' is at the end of the range"
	[ "$(count u)" -eq 10 ]
	# Another group starts afresh; a replay of a replay names its own source, once.
	elog-topic create -p 2 w
	elog-replay t:1 --to 1 --to-topic u --resume-group again 2>/dev/null
	run -0 elog-replay u:1 --from 5 --to-topic w --resume-group mine
	run -0 elog-consume -e -f '%p %k %h\n' w
	assert_output "1 k1-0 h=0,elog.replay.topic=u,elog.replay.partition=1,elog.replay.offset=5"
	run -0 elog-probe -b "$ELOG_BROKERS" committed mine
	assert_output "topic=u partition=1 error=NONE offset=6 high_watermark=6 timed=1 metadata= window="
	# A record larger than a producer's default request (4 MiB) is copied too.
	{ printf '"'; head -c 5242880 /dev/zero | tr '\0' x; printf '"\n'; } |
		elog-produce --batch-size 8M --max-record-bytes 8M big
	elog-replay big --to-topic big-copy 2>/dev/null
	run -0 elog-consume -e -f '%S %h\n' big-copy
	assert_output "5242882 elog.replay.topic=big,elog.replay.partition=0,elog.replay.offset=0"
}

@test "into a topic with fewer partitions: by key, as elog-produce places a key; keyless by source partition" {
	elog-topic create -p 4 t
	elog-topic create -p 3 x
	elog-topic create -p 3 y
	fill t 4
	printf 'no key\n' | elog-produce --raw -p 3 t
	elog-replay t --to-topic x 2>/dev/null
	elog-consume -e -f '%k:%s\n' t | grep -v '^:' | elog-produce -K : --raw y
	diff <(elog-consume -e -f '%p %k\n' x | grep -v ' $' | sort) \
		<(elog-consume -e -f '%p %k\n' y | sort)
	run -0 elog-consume -e -f '%p %K %s\n' x
	assert_line "0 -1 no key"
}

@test "SIGTERM mid-way: the position is committed; the rerun copies each record exactly once" {
	interrupted TERM
	[ "$ELOG_STOP_STATUS" -eq 1 ]
	grep -q "^elog-replay: interrupted: [0-9]* records replayed into 'd', the position committed in group 'elog-replay.s.d': run the same command again to resume$" r.err
	[ "$(count d)" -lt 400 ]
	run -0 --separate-stderr elog-replay s --to-topic d
	assert_equal "$(sources d)" "$(elog-consume -e -f '%p %o\n' s | sort -n -k1,1 -k2,2)"
}

@test "SIGKILL mid-way: the rerun leaves no gap; duplicates only past the last commit" {
	local committed p o
	interrupted KILL
	committed=$(elog-probe -b "$ELOG_BROKERS" committed elog-replay.s.d)
	[[ $committed == *"offset="[1-9]* ]] || fail "nothing committed: $committed"
	run -0 --separate-stderr elog-replay s --to-topic d
	# Every source record at least once...
	diff <(sources d | uniq) <(elog-consume -e -f '%p %o\n' s | sort -n -k1,1 -k2,2)
	# ...and a record copied twice only at or past its partition's commit.
	while read -r p o; do
		[[ $committed =~ partition=$p\ error=NONE\ offset=([0-9]+) ]] ||
			fail "no commit of partition $p: $committed"
		[ "$o" -ge "${BASH_REMATCH[1]}" ] || fail "partition $p offset $o twice, below the commit"
	done < <(sources d | uniq -d)
}

@test "usage errors exit 2, failures 1, each with one line" {
	elog-topic create t
	run -2 elog-replay -g g --from 3 t
	assert_line --index 0 "elog-replay: -g moves a group's offsets: --from is for range replay (elog-replay TOPIC --from ... --to ...)"
	run -2 elog-replay --to-latest t
	assert_line --index 0 "elog-replay: --to-earliest, --to-latest, --to-time, --to-offset, --shift-by and --execute move a group's offsets: they need -g GROUP"
	run -2 elog-replay
	assert_line --index 0 "elog-replay: missing the topic to replay (or -g GROUP to move a group's offsets)"
	run -2 elog-replay t u
	assert_line --index 0 "elog-replay: replay one topic at a time ('t' and 'u' named)"
	run -2 elog-replay --from 5 --to 3 t
	assert_line --index 0 "elog-replay: --from 5 is after --to 3"
	run -2 elog-replay --from x t
	assert_line --index 0 --partial "elog-replay: --from: "
	run -2 elog-replay --to @yesterday t
	assert_line --index 0 --partial "elog-replay: --to: "
	run -2 elog-replay -J --to-topic u t
	assert_line --index 0 "elog-replay: --to-topic produces the records: -J and -f are for printing them"
	run -2 elog-replay --resume-group g t
	assert_line --index 0 "elog-replay: --resume-group needs --to-topic (printed records have no position to resume from)"
	run -2 elog-replay --rate 10 t
	assert_line --index 0 --partial "elog-replay: --rate: invalid rate \"10\""
	run -2 elog-replay --rate 0/s t
	assert_line --index 0 --partial "elog-replay: --rate: "
	run -2 elog-replay --rate 5/d t
	assert_line --index 0 "elog-replay: --rate: invalid rate \"5/d\": unknown unit \"/d\" (/s, /m or /h)"
	run -2 elog-replay --to-topic 'bad name' t
	assert_line --index 0 --partial "elog-replay: --to-topic: "
	run -1 elog-replay nosuch
	assert_output "elog-replay: topic 'nosuch': no such topic"
	run -1 elog-replay t:3
	assert_output "elog-replay: topic 't' has 1 partitions, no 3"
	run -1 elog-replay -b 127.0.0.1:1 --timeout 1s t
	assert_output --partial "cannot connect"
}
