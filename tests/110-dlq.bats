#!/usr/bin/env bats
# elog-dlq (docs/processing.md, elog-dlq(1)) against a real elog-serve, with
# dead letters written as elog-consume writes them: envelopes with the
# elog.* headers, through elog-produce --json. list, show and stats; replay
# back where each record came from, at most once across runs (cron), with
# --reason, --older-than, --max, --rate, --max-replays and --dry-run;
# dead letters an attacker wrote; a replay killed by SIGKILL or stopped by
# SIGTERM and run again; purge; usage errors and exit statuses.

bats_require_minimum_version 1.5.0
load helpers

T0=1700000000000
T1=1700000005000

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-dlq elog-probe
	cd "$ELOG_TMP"
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
}

teardown() {
	elog_teardown
}

# dl DLQ_PARTITION KEY TOPIC PARTITION VERDICT [COUNT [LAST_FAILURE]] — one
# dead letter's envelope: a header of its own (trace), then the elog.*
# headers ("-" leaves elog.topic or elog.partition out), timestamp T0.
dl() {
	local h='["trace","t-'$2'"]'
	[ "$3" = - ] || h+=',["elog.topic","'$3'"]'
	[ "$4" = - ] || h+=',["elog.partition","'$4'"]'
	h+=',["elog.offset","7"],["elog.verdict","'$5'"],["elog.group","g"],["elog.attempts","4"]'
	[ -z "${6:-}" ] || h+=',["elog.replay.count","'$6'"]'
	h+=',["elog.last_failure","'${7:-$T1}'"],["elog.stderr","boom\nat line 2"]'
	printf '{"partition":%d,"timestamp":%d,"key":"%s","headers":[%s],"value":{"k":"%s"}}\n' \
		"$1" "$T0" "$2" "$h" "$2"
}

# put DLQ — envelopes on stdin into DLQ, each to its partition.
put() {
	elog-produce --json --keep-partition "$1"
}

# fixture — orders (3 partitions) and t.dlq (2) holding four dead letters
# of it: a (from partition 2, exit 3), b (1, timeout, replayed once
# before), c (0, exit 3), d (an elog.partition that is no number, fail:
# bad json).
fixture() {
	elog-topic create -p 3 orders
	elog-topic create -p 2 t.dlq
	{
		dl 0 a orders 2 "exit 3"
		dl 0 b orders 1 timeout 1
		dl 1 c orders 0 "exit 3"
		dl 1 d orders x9 "fail: bad json"
	} | put t.dlq
}

# many DLQ N TOPIC [VERDICT...] — N dead letters of TOPIC in DLQ (one
# partition), keyed k0..k(N-1), verdicts taken in turn from the list.
many() {
	local dlq=$1 n=$2 topic=$3 i
	shift 3
	local verdicts=("${@:-exit 1}")
	for ((i = 0; i < n; i++)); do
		printf '{"key":"k%d","headers":[["elog.topic","%s"],["elog.verdict","%s"]],"value":%d}\n' \
			"$i" "$topic" "${verdicts[i % ${#verdicts[@]}]}" "$i"
	done | elog-produce --json "$dlq"
}

# sources TOPIC — "partition offset" of the dead letter each record of
# TOPIC is a copy of (its elog.replay.* headers), sorted.
sources() {
	elog-consume -e -f '%h\n' "$1" |
		sed -n 's/.*elog\.replay\.partition=\([0-9]*\),elog\.replay\.offset=\([0-9]*\).*/\1 \2/p' |
		sort -n -k1,1 -k2,2
}

# partition_of KEY — the partition elog-produce gives KEY in a topic of 3
# partitions (Kafka's murmur2).
partition_of() {
	elog-topic create -p 3 bykey 2>/dev/null || true
	printf '%s:x\n' "$1" | elog-produce --raw -K : bykey
	elog-consume -e -f '%p %k\n' bykey | sed -n "s/ $1\$//p"
}

# count TOPIC — its records.
count() {
	elog-consume -e "$1" | wc -l
}

at_least() {
	[ "$(count "$1")" -ge "$2" ]
}

# committed GROUP — the commits, "partition offset metadata", one a line.
committed() {
	elog-probe -b "$ELOG_BROKERS" committed "$1" |
		sed -n 's/.* partition=\([0-9]*\) error=NONE offset=\([-0-9]*\) .* metadata=\(.*\) window=.*/\1 \2 \3/p'
}

# decided GROUP — "partition offset" of every offset the group's commits
# record as decided: before the position, or listed in the metadata.
decided() {
	committed "$1" | while read -r p o meta; do
		for ((i = 0; i < o; i++)); do echo "$p $i"; done
		list=${meta#elog-dlq decided=}
		tr ',' '\n' <<<"$list" | while IFS=- read -r lo hi; do
			[ -n "$lo" ] || continue
			for ((i = lo; i <= ${hi:-$lo}; i++)); do echo "$p $i"; done
		done
	done | sort -n -k1,1 -k2,2
}

# term COMMAND — COMMAND's output as it is on a terminal (script(1)), CRs gone.
term() {
	local rc=0
	script -qec "$1" /dev/null >term.out || rc=$?
	tr -d '\r' <term.out
	return $rc
}

# json_ok — stdin parses as JSON (with jq or python3 when one is there).
json_ok() {
	if command -v jq >/dev/null; then
		jq -e . >/dev/null
	elif command -v python3 >/dev/null; then
		python3 -m json.tool >/dev/null
	else
		cat >/dev/null
	fi
}

# ---------------------------------------------------------------- looking

@test "list, stats and show: records, pending, ages, reasons, origins, hours; JSON that parses" {
	fixture
	elog-topic create plain
	elog-topic create orders.retry.1m
	dl 0 r orders 0 timeout | put orders.retry.1m
	echo x | elog-produce --raw plain
	# list: only *.dlq and *.retry.*; TSV off a terminal, ages in ms
	run -0 --separate-stderr elog-dlq list
	[ "${#lines[@]}" -eq 2 ]
	assert_equal "$(cut -f1-3,6 <<<"$output")" "orders.retry.1m	1	1	timeout (1)
t.dlq	4	4	exit 3 (2), fail: bad json (1), timeout (1)"
	local now=$(($(date +%s) * 1000)) age
	age=$(sed -n 2p <<<"$output" | cut -f4)
	[ "$age" -ge $((now - T1 - 60000)) ] && [ "$age" -le $((now - T1 + 60000)) ] || fail "age $age"
	run -0 bash -c 'elog-dlq list --json | tee list.json'
	json_ok <list.json
	[[ $output == '[{"topic":"orders.retry.1m","records":1,"pending":1,"oldest_ms":'"$T1"',"newest_ms":'"$T1"',"oldest_age_ms":'* ]]
	[[ $output == *'"reasons":[{"reason":"exit 3","records":2},{"reason":"fail: bad json","records":1},{"reason":"timeout","records":1}]}]' ]]
	# stats: by reason, by original topic and partition, by hour
	run -0 elog-dlq stats t.dlq
	assert_output "reason	exit 3	2
reason	fail: bad json	1
reason	timeout	1
origin	orders	-	1
origin	orders	0	1
origin	orders	1	1
origin	orders	2	1
hour	2023-11-14T22:00:00.000Z	4"
	run -0 bash -c 'elog-dlq stats --json t.dlq | tee stats.json'
	json_ok <stats.json
	assert_output '{"topic":"t.dlq","records":4,"pending":4,"reasons":[{"reason":"exit 3","records":2},{"reason":"fail: bad json","records":1},{"reason":"timeout","records":1}],"origins":[{"topic":"orders","partition":null,"records":1},{"topic":"orders","partition":0,"records":1},{"topic":"orders","partition":1,"records":1},{"topic":"orders","partition":2,"records":1}],"hours":[{"hour":"2023-11-14T22:00:00.000Z","start_ms":1699999200000,"records":4}],"other_reasons":0}'
	# show off a terminal (and with --json): the envelopes elog-consume prints
	run -0 elog-dlq show t.dlq
	assert_equal "$(sort <<<"$output")" "$(elog-consume -e --json t.dlq | sort)"
	elog-dlq show t.dlq | while read -r line; do json_ok <<<"$line"; done
	run -0 elog-dlq show -n 1 --json t.dlq
	[ "${#lines[@]}" -eq 1 ]
	# pending follows the replay group
	elog-dlq replay t.dlq >/dev/null 2>&1 || true
	run -0 elog-dlq list
	assert_equal "$(sed -n 2p <<<"$output" | cut -f1-3)" "t.dlq	4	0"
}

@test "show on a terminal: each dead letter with its failure story" {
	command -v script >/dev/null || skip "script(1) is not installed"
	fixture
	run -0 term "elog-dlq show -n 2 t.dlq"
	assert_line "t.dlq partition 0 offset 0 (pending)"
	assert_line "  reason      exit 3"
	assert_line "  from        orders partition 2 offset 7"
	assert_line --regexp '^  last fail   2023-11-14T22:13:25.000Z \([0-9]+d ago\)$'
	assert_line "  attempts    4"
	assert_line "  group       g"
	assert_line "  key         a"
	assert_line "  header      trace=t-a"
	assert_line '  value       {"k":"a"}'
	assert_line "  stderr      | boom"
	assert_line "              | at line 2"
	assert_line "t.dlq partition 0 offset 1 (pending)"
	assert_line "  replays     1"
	refute_line --partial "t.dlq partition 1 offset"
	# a table for list and stats
	run -0 term "elog-dlq list"
	assert_line --index 0 --regexp '^TOPIC +RECORDS +PENDING +OLDEST +NEWEST +REASONS'
	assert_line --index 1 --regexp '^t\.dlq +4 +4 +[0-9]+d +[0-9]+d +exit 3 \(2\), fail: bad json \(1\), timeout \(1\)'
	run -0 term "elog-dlq stats t.dlq"
	assert_line --index 0 --partial "t.dlq: 4 records, 4 pending"
	assert_line --regexp '^TOPIC +PARTITION +RECORDS'
}

# ---------------------------------------------------------------- replay

@test "replay: to the original topic and partition (by key without one), key, value, timestamp and own headers kept, elog.replay.count one more" {
	fixture
	dl 0 e orders 7 "exit 3" | put t.dlq
	run -0 --separate-stderr elog-dlq replay t.dlq
	assert_equal "$stderr" "elog-dlq: 't.dlq': replayed 5 of 5"
	# d and e have no partition orders has: placed by key, as elog-produce places it
	local pd pe pf
	pd=$(partition_of d)
	pe=$(partition_of e)
	run -0 elog-consume -e -f '%p %k %T %s %h\n' orders
	assert_equal "$(sort <<<"$output")" "$(sort <<EOF
2 a $T0 {"k":"a"} trace=t-a,elog.replay.topic=t.dlq,elog.replay.partition=0,elog.replay.offset=0,elog.replay.count=1
1 b $T0 {"k":"b"} trace=t-b,elog.replay.topic=t.dlq,elog.replay.partition=0,elog.replay.offset=1,elog.replay.count=2
0 c $T0 {"k":"c"} trace=t-c,elog.replay.topic=t.dlq,elog.replay.partition=1,elog.replay.offset=0,elog.replay.count=1
$pd d $T0 {"k":"d"} trace=t-d,elog.replay.topic=t.dlq,elog.replay.partition=1,elog.replay.offset=1,elog.replay.count=1
$pe e $T0 {"k":"e"} trace=t-e,elog.replay.topic=t.dlq,elog.replay.partition=0,elog.replay.offset=2,elog.replay.count=1
EOF
)"
	# a rerun: nothing
	run -0 --separate-stderr elog-dlq replay t.dlq
	[ -z "$output" ]
	assert_equal "$stderr" "elog-dlq: 't.dlq': replayed 0 of 0"
	run -0 elog-probe -b "$ELOG_BROKERS" committed elog-dlq.t.dlq
	assert_line --index 0 --partial "partition=0 error=NONE offset=3 high_watermark=3 timed=1 metadata=elog-dlq decided= "
	assert_line --index 1 --partial "partition=1 error=NONE offset=2 high_watermark=2 timed=1 metadata=elog-dlq decided= "
	# --to: another topic, the same partition when it has it
	elog-topic create -p 3 other
	elog-topic create -p 2 u.dlq
	{ dl 1 f - - "exit 3"; dl 0 g orders 2 "exit 3"; } | put u.dlq
	pf=$(partition_of f)
	run -0 --separate-stderr elog-dlq replay --to other u.dlq
	# one line a record on stdout: where each went
	assert_equal "$(sort <<<"$output")" "$(printf '0\t0\treplayed\tother\t2\t0\t1\t-\n1\t0\treplayed\tother\t%s\t0\t1\t-' "$pf")"
	[ "$(count orders)" -eq 5 ]
}

@test "replay run twice, as cron runs it: each dead letter replayed exactly once" {
	elog-topic create -p 2 src
	elog-topic create -p 2 s.dlq
	for p in 0 1; do
		for i in 1 2 3; do dl $p k$p$i src $p "exit 1"; done
	done | put s.dlq
	run -0 --separate-stderr elog-dlq replay s.dlq
	assert_equal "$stderr" "elog-dlq: 's.dlq': replayed 6 of 6"
	[ "${#lines[@]}" -eq 6 ]
	run -0 --separate-stderr elog-dlq replay s.dlq
	assert_equal "$stderr" "elog-dlq: 's.dlq': replayed 0 of 0"
	[ -z "$output" ]
	# more dead letters come in between runs: only they go
	dl 1 k14 src 1 "exit 1" | put s.dlq
	run -0 --separate-stderr elog-dlq replay s.dlq
	assert_equal "$stderr" "elog-dlq: 's.dlq': replayed 1 of 1"
	assert_equal "$(sources src)" "$(printf '0 0\n0 1\n0 2\n1 0\n1 1\n1 2\n1 3')"
}

@test "--max-replays: a record replayed that often stays in the DLQ, is reported, exit 1; the next run passes it" {
	elog-topic create -p 1 src
	elog-topic create -p 1 m.dlq
	{
		dl 0 a src 0 "exit 1" 3
		dl 0 b src 0 "exit 1" 2
		dl 0 c src 0 "exit 1" 9
	} | put m.dlq
	run -1 --separate-stderr elog-dlq replay m.dlq
	assert_equal "$stderr" "elog-dlq: 'm.dlq' partition 0 offset 0: not replayed: elog.replay.count 3 reached --max-replays 3
elog-dlq: 'm.dlq' partition 0 offset 2: not replayed: elog.replay.count 9 reached --max-replays 3
elog-dlq: 'm.dlq': replayed 1 of 3; 2 left: max replays"
	assert_line --index 0 "$(printf '0\t0\tleft\t-\t-1\t-1\t3\tmax replays')"
	run -0 elog-consume -e -f '%k %h\n' src
	assert_output "b trace=t-b,elog.replay.topic=m.dlq,elog.replay.partition=0,elog.replay.offset=1,elog.replay.count=3"
	# still in the DLQ; decided: the next run has nothing to do
	[ "$(count m.dlq)" -eq 3 ]
	run -0 --separate-stderr elog-dlq replay m.dlq
	assert_equal "$stderr" "elog-dlq: 'm.dlq': replayed 0 of 0"
	# the copy failing again comes back with its count: one more replay is refused
	elog-consume -e --json src |
		sed 's/\]\],"value"/],["elog.topic","src"],["elog.verdict","exit 1"]],"value"/' | put m.dlq
	run -1 --separate-stderr elog-dlq replay m.dlq
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 'm.dlq': replayed 0 of 1; 1 left: max replays"
	# a higher --max-replays lets it through, on a DLQ the group has not decided
	elog-topic create -p 1 n.dlq
	dl 0 a src 0 "exit 1" 3 | put n.dlq
	run -0 --separate-stderr elog-dlq replay --max-replays 5 n.dlq
	assert_equal "$stderr" "elog-dlq: 'n.dlq': replayed 1 of 1"
	run -0 elog-consume -e -f '%h\n' -o -1 src
	assert_output --partial "elog.replay.count=4"
}

@test "--reason, then a wider run: the skipped ones are replayed then, the others not twice" {
	elog-topic create -p 1 src
	elog-topic create -p 1 r.dlq
	many r.dlq 10 src "exit 1" "timeout"
	run -0 --separate-stderr elog-dlq replay --reason '^time' r.dlq
	assert_equal "$stderr" "elog-dlq: 'r.dlq': replayed 5 of 10; 5 left: not matching --reason"
	assert_line --index 0 "$(printf '0\t0\tskipped\t-\t-1\t-1\t0\tnot matching --reason')"
	# the position stops at the first record skipped; the ones replayed past it are listed
	assert_equal "$(committed elog-dlq.r.dlq)" "0 0 elog-dlq decided=1,3,5,7,9"
	run -0 --separate-stderr elog-dlq replay --reason '^time' r.dlq
	assert_equal "$stderr" "elog-dlq: 'r.dlq': replayed 0 of 5; 5 left: not matching --reason"
	run -0 --separate-stderr elog-dlq replay --reason 'exit [0-9]' r.dlq
	assert_equal "$stderr" "elog-dlq: 'r.dlq': replayed 5 of 5"
	assert_equal "$(committed elog-dlq.r.dlq)" "0 10 elog-dlq decided="
	assert_equal "$(sources src)" "$(seq 0 9 | sed 's/^/0 /')"
	# a regular expression that does not compile: a usage error, nothing done
	run -2 elog-dlq replay --reason '(' r.dlq
	assert_line --index 0 --partial "elog-dlq: --reason: invalid regular expression \"(\": "
}

@test "--older-than: by elog.last_failure, else the record's timestamp" {
	elog-topic create -p 1 src
	elog-topic create -p 1 o.dlq
	local now=$(($(date +%s) * 1000))
	{
		dl 0 two-hours src 0 "exit 1" "" $((now - 7200000))
		dl 0 ten-minutes src 0 "exit 1" "" $((now - 600000))
		printf '{"timestamp":%d,"key":"three-hours","headers":[["elog.topic","src"]],"value":1}\n' $((now - 10800000))
		printf '{"key":"now","headers":[["elog.topic","src"]],"value":1}\n'
	} | put o.dlq
	run -0 --separate-stderr elog-dlq replay --older-than 1h o.dlq
	assert_equal "$stderr" "elog-dlq: 'o.dlq': replayed 2 of 4; 2 left: newer than --older-than"
	assert_equal "$(elog-consume -e -f '%k\n' src)" "two-hours
three-hours"
	run -0 --separate-stderr elog-dlq replay --older-than 5m o.dlq
	assert_equal "$stderr" "elog-dlq: 'o.dlq': replayed 1 of 2; 1 left: newer than --older-than"
	run -0 --separate-stderr elog-dlq replay o.dlq
	assert_equal "$(sources src)" "$(printf '0 0\n0 1\n0 2\n0 3')"
}

@test "--max and --rate: at most N a run, the rest the next time, none twice" {
	elog-topic create -p 1 src
	elog-topic create -p 1 x.dlq
	many x.dlq 10 src
	run -0 --separate-stderr elog-dlq replay --max 3 x.dlq
	assert_equal "$stderr" "elog-dlq: 'x.dlq': replayed 3 of 10; 7 left: past --max"
	run -0 --separate-stderr elog-dlq replay --max 3 --rate 50/s x.dlq
	assert_equal "$stderr" "elog-dlq: 'x.dlq': replayed 3 of 7; 4 left: past --max"
	run -0 --separate-stderr elog-dlq replay --rate 1000/m x.dlq
	assert_equal "$stderr" "elog-dlq: 'x.dlq': replayed 4 of 4"
	assert_equal "$(sources src)" "$(seq 0 9 | sed 's/^/0 /')"
	run -2 elog-dlq replay --rate 10 x.dlq
	assert_line --index 0 --partial "elog-dlq: --rate: invalid rate \"10\""
}

@test "--dry-run: what would be done on stdout, no copy, no commit" {
	fixture
	local pd
	pd=$(partition_of d)
	run -0 --separate-stderr elog-dlq replay --dry-run t.dlq
	assert_equal "$(sort <<<"$output")" "$(printf '0\t0\tdry-run\torders\t2\t-1\t1\t-
0\t1\tdry-run\torders\t1\t-1\t2\t-
1\t0\tdry-run\torders\t0\t-1\t1\t-
1\t1\tdry-run\torders\t%s\t-1\t1\t-' "$pd")"
	assert_equal "$stderr" "elog-dlq: 't.dlq': dry run: would replay 4 of 4; nothing changed"
	run -1 --separate-stderr elog-dlq replay --dry-run --max-replays 1 t.dlq
	assert_line "$(printf '0\t1\tleft\t-\t-1\t-1\t1\tmax replays')"
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 't.dlq': dry run: would replay 3 of 4; 1 left: max replays; nothing changed"
	[ "$(count orders)" -eq 0 ]
	run -0 elog-probe -b "$ELOG_BROKERS" committed elog-dlq.t.dlq
	assert_output ""
	# nothing was decided: a real run has all four
	run -1 --separate-stderr elog-dlq replay --max-replays 1 t.dlq
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 't.dlq': replayed 3 of 4; 1 left: max replays"
}

# ---------------------------------------------------------------- attacks

@test "dead letters an attacker wrote: no or bad elog.topic, garbage numbers, huge headers, an unknown topic, a record too large" {
	elog-topic create -p 2 src
	elog-topic create -p 1 --max-record-bytes 1k small
	elog-topic create -p 1 a.dlq
	local big
	big=$(head -c 300000 /dev/zero | tr '\0' y)
	{
		printf '{"key":"no-topic","headers":[["elog.verdict","exit 1"]],"value":1}\n'
		printf '{"key":"dots","headers":[["elog.topic","../etc"]],"value":1}\n'
		printf '{"key":"huge-topic","headers":[["elog.topic","%s"]],"value":1}\n' "$big"
		printf '{"key":"internal","headers":[["elog.topic","__groups"]],"value":1}\n'
		printf '{"key":"itself","headers":[["elog.topic","a.dlq"]],"value":1}\n'
		printf '{"key":"nosuch","headers":[["elog.topic","nosuch"]],"value":1}\n'
		printf '{"key":"bad-count","headers":[["elog.topic","src"],["elog.replay.count","x"]],"value":1}\n'
		printf '{"key":"two-counts","headers":[["elog.topic","src"],["elog.replay.count","5"],["elog.replay.count","0"]],"value":1}\n'
		printf '{"key":"bad-partition","headers":[["elog.topic","src"],["elog.partition","99999999999999999999999"]],"value":1}\n'
		printf '{"key":"huge-verdict","headers":[["elog.topic","src"],["elog.verdict","%s"],["mine","%s"]],"value":1}\n' "$big" "${big:0:1000}"
		printf '{"key":"too-large","headers":[["elog.topic","small"]],"value":"%s"}\n' "${big:0:3000}"
		printf '{"key":"fits","headers":[["elog.topic","small"]],"value":1}\n'
	} | elog-produce --json --max-record-bytes 1M --batch-size 1M a.dlq
	# the looking commands cope
	run -0 elog-dlq stats a.dlq
	assert_line --partial "reason	yyyy"
	run -0 elog-dlq list
	assert_line --regexp '^a\.dlq	12	12	'
	run -0 elog-dlq show a.dlq
	[ "${#lines[@]}" -eq 12 ]
	if command -v script >/dev/null; then
		run -0 term "elog-dlq show a.dlq"
		assert_line --regexp '^  reason      y{400}\.\.\. \(300000 bytes\)$'
	fi
	run -1 --separate-stderr elog-dlq replay a.dlq
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 'a.dlq': replayed 3 of 12; 9 left: 1 max replays, 1 no elog.topic, 4 bad elog.topic, 1 no such topic, 1 unreadable elog.replay.count, 1 refused"
	[ "$(grep -c 'not replayed' <<<"$stderr")" -eq 9 ]
	assert_line --partial "	refused	small	0	-1	1	produce to 'small' partition 0: "
	# the record too large did not take the one batched with it down; an
	# unknown topic was not created; the huge verdict is not copied
	run -0 elog-consume -e -f '%k\n' small
	assert_output "fits"
	run -0 elog-topic list
	refute_line --partial nosuch
	run -0 elog-consume -e -f '%k %S %h\n' src
	assert_line "bad-partition 1 elog.replay.topic=a.dlq,elog.replay.partition=0,elog.replay.offset=8,elog.replay.count=1"
	assert_line --regexp "^huge-verdict 1 mine=y{1000},elog\.replay\.topic=a\.dlq,elog\.replay\.partition=0,elog\.replay\.offset=9,elog\.replay\.count=1$"
	# the next run tries what may pass again, and replays nothing twice
	run -1 --separate-stderr elog-dlq replay a.dlq
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 'a.dlq': replayed 0 of 8; 8 left: 1 no elog.topic, 4 bad elog.topic, 1 no such topic, 1 unreadable elog.replay.count, 1 refused"
	[ "$(count src)" -eq 2 ] && [ "$(count small)" -eq 1 ]
	# --to takes those without a topic of their own
	run -1 --separate-stderr elog-dlq replay --to src a.dlq
	assert_equal "${stderr##*$'\n'}" "elog-dlq: 'a.dlq': replayed 7 of 8; 1 left: unreadable elog.replay.count"
}

@test "a DLQ that does not exist, a replay group that is not elog-dlq's, two runs at once" {
	local cmd
	for cmd in "show" "stats" "replay" "purge --before 1"; do
		run -1 elog-dlq $cmd nope.dlq
		assert_output "elog-dlq: topic 'nope.dlq': no such topic"
	done
	run -0 elog-dlq list
	assert_output ""
	# a group of the same name holding something else: replay refuses it
	elog-topic create -p 1 src
	elog-topic create -p 1 f.dlq
	many f.dlq 3 src
	foreign() {
		elog-probe -b "$ELOG_BROKERS" coordinator elog-dlq.f.dlq >/dev/null
		elog-probe -b "$ELOG_BROKERS" commit elog-dlq.f.dlq f.dlq:0=1 -M 'elog-proc member=x' >/dev/null
		committed elog-dlq.f.dlq | grep -q 'elog-proc member=x'
	}
	elog_wait_until 20 foreign || fail "no commit: $(committed elog-dlq.f.dlq)"
	run -1 elog-dlq replay f.dlq
	assert_output --partial "elog-dlq: group 'elog-dlq.f.dlq' partition 0: its commit's metadata is not elog-dlq's (\"elog-proc member=x\"): not replaying"
	[ "$(count src)" -eq 0 ]
	run -0 elog-dlq list
	assert_output --regexp '^f\.dlq	3	3	'
	# the DLQ recreated under its group: its records are not skipped, the
	# group is left alone until someone resets it
	elog-topic create -p 1 re.dlq
	many re.dlq 5 src
	elog-dlq replay re.dlq >/dev/null 2>&1
	elog-topic delete re.dlq
	elog-topic create -p 1 re.dlq
	many re.dlq 2 src
	run -1 --separate-stderr elog-dlq replay re.dlq
	assert_equal "$stderr" "elog-dlq: 're.dlq' partition 0: group 'elog-dlq.re.dlq' is at 5, past the partition's end 2 (was the topic recreated?): left alone; elog-replay -g elog-dlq.re.dlq --to-earliest --execute starts it over
elog-dlq: 're.dlq': replayed 0 of 0"
	assert_equal "$(committed elog-dlq.re.dlq)" "0 5 elog-dlq decided="
	elog-replay -g elog-dlq.re.dlq --to-earliest --execute >/dev/null 2>&1
	run -0 --separate-stderr elog-dlq replay re.dlq
	assert_equal "$stderr" "elog-dlq: 're.dlq': replayed 2 of 2"
	[ "$(count src)" -eq 7 ]
	# someone commits while a run goes on: it stops instead of writing over it
	elog-topic create -p 1 w.dlq
	many w.dlq 200 src
	elog_spawn r elog-dlq replay --rate 40/s --commit-interval 100ms w.dlq
	elog_wait_until 20 at_least src 10 || fail "nothing replayed: $(cat r.err)"
	other() {
		elog-probe -b "$ELOG_BROKERS" commit elog-dlq.w.dlq w.dlq:0=0 -M other >/dev/null
		committed elog-dlq.w.dlq | grep -q '^0 0 other$' || elog_exited "$(elog_pid r)"
	}
	elog_wait_until 20 other || fail "no commit: $(committed elog-dlq.w.dlq)"
	elog_wait_until 20 elog_exited "$(elog_pid r)" || fail "the run went on: $(cat r.err)"
	elog_stop r
	[ "$ELOG_STOP_STATUS" -eq 1 ]
	grep -q "^elog-dlq: group 'elog-dlq.w.dlq' partition 0: committed by someone else since this run read it (two runs at once?): not committing$" r.err
}

# ---------------------------------------------------------------- interrupted

@test "SIGKILL mid-replay of 3000 records: the rerun leaves none out, and replays none the killed run committed" {
	local p o
	elog-topic create -p 2 src
	elog-topic create -p 2 k.dlq
	for ((o = 0; o < 3000; o++)); do
		printf '{"partition":%d,"key":"k%d","headers":[["elog.topic","src"],["elog.partition","%d"]],"value":%d}\n' \
			$((o % 2)) "$o" $((o % 2)) "$o"
	done | put k.dlq
	elog_spawn r elog-dlq replay --rate 1000/s --commit-interval 100ms k.dlq
	has_commit() { committed elog-dlq.k.dlq | grep -q '^[01] [1-9]'; }
	elog_wait_until 20 has_commit || fail "nothing committed: $(cat r.err)"
	elog_wait_until 20 at_least src 600 || fail "too slow: $(cat r.err)"
	! elog_exited "$(elog_pid r)" || fail "the replay ended before the kill: $(cat r.err)"
	elog_stop r KILL
	decided elog-dlq.k.dlq >committed.txt
	[ -s committed.txt ]
	run -0 --separate-stderr elog-dlq replay k.dlq
	# every dead letter at least once...
	sources src >sources.txt
	diff <(uniq sources.txt) <(for ((o = 0; o < 3000; o++)); do echo "$((o % 2)) $((o / 2))"; done | sort -n -k1,1 -k2,2)
	# ...and twice only if the killed run had not committed it
	uniq -d sources.txt >twice.txt
	[ -z "$(comm -12 <(sort twice.txt) <(sort committed.txt))" ] ||
		fail "replayed twice though committed: $(comm -12 <(sort twice.txt) <(sort committed.txt) | head)"
	# and the rerun replayed exactly what was not committed
	assert_equal "$(grep -c . <<<"$output")" "$((3000 - $(wc -l <committed.txt)))"
}

@test "SIGTERM: what was acknowledged is committed, exit 1; the rerun replays each exactly once" {
	elog-topic create -p 1 src
	elog-topic create -p 1 s.dlq
	many s.dlq 400 src
	elog_spawn r elog-dlq replay --rate 100/s s.dlq
	elog_wait_until 20 at_least src 40 || fail "nothing replayed: $(cat r.err)"
	! elog_exited "$(elog_pid r)" || fail "the replay ended before the signal"
	elog_stop r TERM
	[ "$ELOG_STOP_STATUS" -eq 1 ]
	grep -q "^elog-dlq: 's.dlq': replayed [0-9]* of 400; [0-9]* left: not reached (interrupted)$" r.err
	run -0 --separate-stderr elog-dlq replay s.dlq
	assert_equal "$(sources src)" "$(seq 0 399 | sed 's/^/0 /')"
}

# ---------------------------------------------------------------- purge

@test "purge: before an offset, a time or what was replayed; --dry-run; records never replayed are warned of" {
	elog-topic create -p 1 src
	elog-topic create -p 1 p.dlq
	{
		for i in 0 1 2 3 4; do dl 0 k$i src 0 "exit 1"; done
		dl 0 k5 - - "exit 1"
		for i in 6 7 8 9; do dl 0 k$i src 0 "exit 1"; done
	} | put p.dlq
	elog-dlq replay p.dlq >/dev/null 2>&1 || true
	assert_equal "$(committed elog-dlq.p.dlq)" "0 5 elog-dlq decided=6-9"
	run -0 --separate-stderr elog-dlq purge --before replayed --dry-run p.dlq
	assert_output "$(printf '0\t0\t5\t5\t0')"
	assert_equal "$stderr" "elog-dlq: dry run: nothing was purged"
	[ "$(count p.dlq)" -eq 10 ]
	run -0 --separate-stderr elog-dlq purge --before replayed p.dlq
	assert_output "$(printf '0\t0\t5\t5\t0')"
	[ "$(count p.dlq)" -eq 5 ]
	# past the position: the record without a topic was never replayed
	run -0 --separate-stderr elog-dlq purge -j --before 8 p.dlq
	assert_output '[{"topic":"p.dlq","partition":0,"log_start_offset_before":5,"log_start_offset":8,"records_purged":3,"not_replayed":1,"dry_run":false}]'
	json_ok <<<"$output"
	assert_equal "$stderr" "elog-dlq: warning: 'p.dlq' partition 0: 1 of the records purged were never replayed"
	# @TIME: the records before the first at or after it (all are at T0)
	run -0 elog-dlq purge --before "@$T0" p.dlq
	assert_output "$(printf '0\t8\t8\t0\t0')"
	run -0 elog-dlq purge --before @2100-01-01T00:00:00Z p.dlq
	assert_output "$(printf '0\t8\t10\t2\t0')"
	# a purged DLQ replays nothing, and the group moves on
	run -0 --separate-stderr elog-dlq replay p.dlq
	assert_equal "$stderr" "elog-dlq: 'p.dlq': replayed 0 of 0"
	assert_equal "$(committed elog-dlq.p.dlq)" "0 10 elog-dlq decided="
	run -1 elog-dlq purge --before 50 p.dlq
	assert_output --partial "offset 50 is past the high watermark 10"
}

# ---------------------------------------------------------------- the command line

@test "usage errors exit 2 with one line and the usage; no broker is exit 3" {
	elog-topic create t.dlq
	run -2 elog-dlq
	assert_line --index 0 "elog-dlq: missing command: list, show, stats, replay or purge"
	assert_line --index 1 --partial "usage: elog-dlq "
	run -2 elog-dlq frob t.dlq
	assert_line --index 0 'elog-dlq: unknown command "frob"'
	run -2 elog-dlq show
	assert_line --index 0 "elog-dlq: show: missing the topic"
	run -2 elog-dlq show a.dlq b.dlq
	assert_line --index 0 "elog-dlq: show: one topic at a time"
	run -2 elog-dlq list t.dlq
	assert_line --index 0 "elog-dlq: list takes no topic"
	run -2 elog-dlq show 'bad name'
	assert_line --index 0 --partial "elog-dlq: topic name has a byte other than"
	run -2 elog-dlq replay --count 3 t.dlq
	assert_line --index 0 "elog-dlq: --count does not apply to replay"
	run -2 elog-dlq show --to x t.dlq
	assert_line --index 0 "elog-dlq: --to does not apply to show"
	run -2 elog-dlq list --dry-run
	assert_line --index 0 "elog-dlq: --dry-run does not apply to list"
	run -2 elog-dlq purge t.dlq
	assert_line --index 0 "elog-dlq: purge: missing --before: an offset, @time or replayed"
	run -2 elog-dlq purge --before end t.dlq
	assert_line --index 0 'elog-dlq: --before: "end": an offset, @TIME or replayed'
	run -2 elog-dlq purge --before @yesterday t.dlq
	assert_line --index 0 --partial "elog-dlq: --before: "
	run -2 elog-dlq replay --older-than 5 t.dlq
	assert_line --index 0 'elog-dlq: --older-than: invalid duration "5": missing or unknown unit (ms, s, m, h, d)'
	run -2 elog-dlq replay --max 0 t.dlq
	assert_line --index 0 --partial "elog-dlq: --max: "
	run -2 elog-dlq replay --max-replays 0 t.dlq
	assert_line --index 0 --partial "elog-dlq: --max-replays: "
	run -2 elog-dlq replay --to 'a b' t.dlq
	assert_line --index 0 --partial "elog-dlq: --to: "
	run -2 elog-dlq replay --to t.dlq t.dlq
	assert_line --index 0 "elog-dlq: --to: 't.dlq' is the topic replayed"
	run -2 elog-dlq replay --commit-interval 1 t.dlq
	assert_line --index 0 --partial "elog-dlq: --commit-interval: "
	run -2 elog-dlq show -n x t.dlq
	assert_line --index 0 --partial "elog-dlq: --count: "
	run -2 elog-dlq show "$(printf 'x%.0s' {1..247})"
	assert_line --index 0 "elog-dlq: a topic name of 247 bytes is too long for its replay group's name (elog-dlq.TOPIC: at most 255 bytes)"
	# nothing listens: exit 3, one line, for every command
	for cmd in "list" "show t.dlq" "stats t.dlq" "replay t.dlq" "purge --before 1 t.dlq"; do
		run -3 elog-dlq -b 127.0.0.1:1 --timeout 2s $cmd
		assert_output "elog-dlq: cannot connect to 127.0.0.1:1: connection refused"
	done
}

@test "--help, the man page's synopsis is the usage, clean mdoc, the completions offer exactly the options" {
	local help bash zsh synopsis usage
	run -0 elog-dlq --help
	usage=$(sed -n '/^usage:/,/^$/p' <<<"$output" | sed '$d')
	help=$(awk '/^  -|^      --/ { gsub(/,/, "")
		for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/=.*/, "", $i); print $i } }' <<<"$output" |
		sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-dlq" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)']--?[a-zA-Z][a-zA-Z-]*" "$ELOG_REPO/completions/zsh/_elog-dlq" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-dlq"
	grep -q "local commands='list show stats replay purge'" "$ELOG_REPO/completions/bash/elog-dlq"
	for c in list show stats replay purge; do
		grep -q "'$c:" "$ELOG_REPO/completions/zsh/_elog-dlq"
	done
	if command -v zsh >/dev/null; then
		zsh -n "$ELOG_REPO/completions/zsh/_elog-dlq"
	fi
	# the commands first, then the DLQ and retry topics
	elog-topic create orders
	elog-topic create orders.dlq
	elog-topic create orders.retry.1m
	run -0 bash -c "source '$ELOG_REPO/completions/bash/elog-dlq'
		COMP_LINE='elog-dlq -b $ELOG_BROKERS s'; COMP_POINT=\${#COMP_LINE}; _elog_dlq; echo \${COMPREPLY[*]}"
	assert_output 'show stats'
	run -0 bash -c "source '$ELOG_REPO/completions/bash/elog-dlq'
		COMP_LINE='elog-dlq -b $ELOG_BROKERS replay o'; COMP_POINT=\${#COMP_LINE}; _elog_dlq; echo \${COMPREPLY[*]}"
	assert_output 'orders.dlq orders.retry.1m'
	command -v groff >/dev/null || skip "groff is not installed"
	run -0 --separate-stderr groff -mdoc -Tutf8 -z -ww "$ELOG_REPO/man/elog-dlq.1"
	assert_equal "$stderr" ""
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-dlq.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$(tr -s ' \n' '  ' <<<"$usage" | sed 's/ $//')"
}
