#!/usr/bin/env bats
# Consumer groups' committed offsets (docs/groups.md), against real
# elog-serve processes through elog-probe: FIND_COORDINATOR creates
# __groups and names the coordinator; OFFSET_COMMIT is answered once the
# commit is committed and read, OFFSET_FETCH returns it with the previous
# commits (the lag trend's window); a SIGKILL or a restart loses no
# acknowledged commit; bad input is refused per partition or per request;
# clients cannot produce to, purge, alter or delete __groups; and in a
# cluster of three, the coordinator's broker killed loses no commit and
# another broker coordinates.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-probe elog-freeport
	cd "$ELOG_TMP"
}

teardown() {
	elog_teardown
}

start_one() {
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
}

probe() { elog-probe -b "$ELOG_BROKERS" "$@"; }

@test "one broker: commit, fetch with the window, SIGKILL and restart keep every acknowledged commit" {
	start_one
	elog-topic create -p 2 t
	elog-topic create -p 4 u
	run -0 probe coordinator g1
	assert_output --regexp "^error=NONE partition=[0-9]+ broker=0 host=127.0.0.1 port=${ELOG_BROKERS##*:}\$"
	grep -q 'msg="topic created" topic=__groups partitions=16 reason=groups' b.err
	run -0 probe commit g1 t:0=5@10 t:1=7 u:3=1
	assert_output "topic=t partition=0 error=NONE
topic=t partition=1 error=NONE
topic=u partition=3 error=NONE"
	for o in 6 7 8; do
		run -0 probe -M "m$o" commit g1 "t:0=$o@$((o + 5))"
		assert_output "topic=t partition=0 error=NONE"
	done
	run -0 probe committed g1 t:0,2
	assert_output "topic=t partition=0 error=NONE offset=8 high_watermark=13 timed=1 metadata=m8 window=7@12,6@11,5@10
topic=t partition=2 error=NONE offset=-1 high_watermark=-1 timed=0 metadata= window="
	# Another group of the same broker holds its own offsets.
	run -0 probe commit g2 t:0=100
	kill -KILL "$(elog_pid b)"
	elog_wait_until 10 elog_exited "$(elog_pid b)" || fail "the broker did not die"
	start_one
	run -0 probe committed g1
	assert_output "topic=t partition=0 error=NONE offset=8 high_watermark=13 timed=1 metadata=m8 window=7@12,6@11,5@10
topic=t partition=1 error=NONE offset=7 high_watermark=-1 timed=1 metadata= window=
topic=u partition=3 error=NONE offset=1 high_watermark=-1 timed=1 metadata= window="
	run -0 probe committed g2
	assert_output "topic=t partition=0 error=NONE offset=100 high_watermark=-1 timed=1 metadata= window="
	run -0 probe committed nobody
	assert_output ""
}

@test "a flipped byte in __groups: that partition's groups get STORAGE_ERROR, said once in the log; the others work" {
	local part other o
	start_one
	elog-topic create -p 1 t
	run -0 probe coordinator g1
	part=$(sed -n 's/.* partition=\([0-9]*\) .*/\1/p' <<<"$output")
	for o in g2 g3 g4 g5 g6 g7 g8 g9; do
		run -0 probe coordinator "$o"
		[[ $output == *" partition=$part "* ]] || { other=$o; break; }
	done
	[ -n "$other" ] || fail "every group in partition $part"
	probe commit g1 t:0=5 >/dev/null
	probe commit "$other" t:0=7 >/dev/null
	elog_stop b
	elog_flip_byte "data/__groups/$part/00000000000000000000.log" 100
	start_one
	run -0 probe committed g1
	assert_output "error=STORAGE_ERROR message=\"cannot read __groups/$part (the broker log says why)\""
	run -0 probe commit g1 t:0=6
	assert_output --partial "error=STORAGE_ERROR"
	run -0 probe committed "$other"
	assert_output "topic=t partition=0 error=NONE offset=7 high_watermark=-1 timed=1 metadata= window="
	[ "$(grep -c 'msg="group offsets not read"' b.err)" = 1 ] || fail "$(grep 'group offsets' b.err)"
}

@test "the window keeps the 15 commits before the newest" {
	start_one
	elog-topic create -p 1 t
	probe coordinator g >/dev/null
	for ((o = 1; o <= 20; o++)); do
		probe commit g "t:0=$o@$((o * 2))" >/dev/null || fail "commit $o"
	done
	run -0 probe committed g t:0
	assert_output "topic=t partition=0 error=NONE offset=20 high_watermark=40 timed=1 metadata= window=19@38,18@36,17@34,16@32,15@30,14@28,13@26,12@24,11@22,10@20,9@18,8@16,7@14,6@12,5@10"
}

@test "bad commits are refused with a reason, the good ones beside them kept" {
	start_one
	elog-topic create -p 3 t
	run -0 probe coordinator ''
	assert_output 'error=INVALID_REQUEST message="a group name is 1 to 255 bytes"'
	run -0 probe coordinator "$(printf 'a\tb')"
	assert_output 'error=INVALID_REQUEST message="group name has a control byte at position 1"'
	run -0 probe coordinator "$(printf 'g%.0s' {1..256})"
	assert_output 'error=INVALID_REQUEST message="a group name is 1 to 255 bytes"'
	# Before __groups exists, a commit has no coordinator to find.
	run -0 probe commit g t:0=1
	assert_output 'error=NOT_COORDINATOR message="no group exists yet: ask FIND_COORDINATOR"'
	probe coordinator g >/dev/null
	run -0 probe commit g t:0=-1 t:1=4 'bad/name:0=1'
	assert_line --index 0 --partial 'topic=t partition=0 error=INVALID_REQUEST message="offset -1'
	assert_line --index 1 'topic=t partition=1 error=NONE'
	assert_line --index 2 --partial 'partition=0 error=INVALID_TOPIC'
	run -0 probe -M "$(printf 'm%.0s' {1..1025})" commit g t:2=1
	assert_output 'topic=t partition=2 error=INVALID_REQUEST message="metadata of 1025 bytes; at most 1024"'
	run -0 probe committed g
	assert_output "topic=t partition=1 error=NONE offset=4 high_watermark=-1 timed=1 metadata= window="
	# What does not exist is not committed (elog-lag would only trip on it).
	run -0 probe commit g ghost:0=1 t:7=1
	assert_output "topic=ghost partition=0 error=UNKNOWN_TOPIC message=\"no such topic\"
topic=t partition=7 error=UNKNOWN_PARTITION message=\"topic has 3 partitions\""
	# A partition named twice is refused whole (its window would lose one).
	run -0 probe raw "$(commit_twice g t 1)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="topic "t" partition 1 is named twice"'
	# Topics of no partitions cost the broker a waiter entry each: bounded.
	run -0 probe raw "$(commit_topics g 1100)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="1100 topics named; the broker has 2"'
	# A member the group does not have is refused; a member id without an
	# epoch (or an epoch without a member) is malformed.
	run -0 probe raw "$(commit_frame g m1 3)"
	assert_line --index 0 --partial 'error=UNKNOWN_MEMBER_ID message="member m1 is not in group'
	run -0 probe raw "$(commit_frame g m1 -1)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="a commit names a member and its epoch, or neither'
	# A body cut short is malformed; so is one with bytes after its end.
	run -0 probe raw "$(elog_le 4 10)$(elog_le 2 13)$(elog_le 2 1)$(elog_le 4 1)$(elog_le 2 1)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST'
	run -0 probe raw "$(elog_le 4 10)$(elog_le 2 14)$(elog_le 2 1)$(elog_le 4 1)$(elog_le 2 1)"
	assert_line --index 0 --partial 'api=0x800e correlation_id=1 error=INVALID_REQUEST'
	run -0 probe raw "$(elog_le 4 9)$(elog_le 2 15)$(elog_le 2 1)$(elog_le 4 1)00"
	assert_line --index 0 --partial 'api=0x800f correlation_id=1 error=INVALID_REQUEST'
	run -0 probe raw "$(elog_le 4 9)$(elog_le 2 12)$(elog_le 2 1)$(elog_le 4 1)00"
	assert_line --index 0 --partial 'api=0x800c correlation_id=1 error=INVALID_REQUEST'
}

# commit_twice GROUP TOPIC PART — an OFFSET_COMMIT naming TOPIC:PART twice, in hex.
commit_twice() {
	local body entry
	entry=$(elog_le 4 "$3")$(elog_le 8 5)$(elog_le 8 -1)$(elog_le 2 0)
	body=$(elog_le 2 ${#1})$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
	body+=$(elog_le 2 0)$(elog_le 4 -1)$(elog_le 4 1000)$(elog_le 4 1)
	body+=$(elog_le 2 ${#2})$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')$(elog_le 4 2)$entry$entry
	printf '%s' "$(elog_le 4 $((8 + ${#body} / 2)))$(elog_le 2 13)$(elog_le 2 1)$(elog_le 4 1)$body"
}

# commit_topics GROUP N — an OFFSET_COMMIT of N topics "a" with no partitions, in hex.
commit_topics() {
	local body topic i
	body=$(elog_le 2 ${#1})$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
	body+=$(elog_le 2 0)$(elog_le 4 -1)$(elog_le 4 1000)$(elog_le 4 "$2")
	topic=$(elog_le 2 1)61$(elog_le 4 0)
	for ((i = 0; i < $2; i++)); do body+=$topic; done
	printf '%s' "$(elog_le 4 $((8 + ${#body} / 2)))$(elog_le 2 13)$(elog_le 2 1)$(elog_le 4 1)$body"
}

# commit_frame GROUP MEMBER EPOCH — an OFFSET_COMMIT with no partitions, in hex.
commit_frame() {
	local body
	body=$(elog_le 2 ${#1})$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
	body+=$(elog_le 2 ${#2})$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')
	body+=$(elog_le 4 "$3")$(elog_le 4 1000)$(elog_le 4 0)
	printf '%s' "$(elog_le 4 $((8 + ${#body} / 2)))$(elog_le 2 13)$(elog_le 2 1)$(elog_le 4 1)$body"
}

@test "__groups is the broker's: clients read it but cannot produce to, purge, alter or delete it" {
	start_one
	probe coordinator g >/dev/null
	run -0 probe produce __groups
	assert_output --partial 'error=INVALID_TOPIC'
	assert_output --partial "__groups is the broker's own topic"
	run -0 probe delete __groups
	assert_output "error=INVALID_TOPIC message=\"the broker's own topic cannot be deleted\""
	run -0 probe -p 20 alter __groups
	assert_output "error=INVALID_TOPIC message=\"the broker's own topic cannot be altered\""
	run -0 probe raw "$(elog_purge_frame 1000 0 __groups 0:1)"
	assert_output --partial "the broker's own topic: not purged"
	run -0 probe create __groups2
	assert_output --partial "reserved"
	# elog-topic refuses such names itself (a usage error).
	run -2 elog-topic alter -p 20 __groups
	assert_output --partial "reserved"
	run -0 elog-topic describe __groups
	assert_line --partial $'topic\t__groups\t16'
}

# coordinator_somewhere GROUP — some broker of the cluster names GROUP's coordinator.
coordinator_somewhere() {
	local i
	for ((i = 1; i <= CLUSTER_N; i++)); do
		elog-probe -b "127.0.0.1:${PORTS[i]}" coordinator "$1" | grep -q '^error=NONE' && return 0
	done
	return 1
}

@test "three brokers: the coordinator killed loses no acknowledged commit; another broker coordinates" {
	local part coord other i n
	cluster_ports 3
	for i in 1 2 3; do cluster_start "$i"; done
	ELOG_BROKERS=127.0.0.1:${PORTS[1]}
	create_t() { elog-topic -b "127.0.0.1:${PORTS[1]}" create -p 2 t; }
	elog_wait_until 30 create_t || fail "topic t not created"
	# __groups is created through the controller: another broker answers
	# NOT_LEADER naming it, the controller LEADER_UNKNOWN until __groups
	# exists and has leaders (all retriable; the client asks each in turn).
	elog_wait_until 30 coordinator_somewhere g1 || fail "no coordinator: $(probe coordinator g1)"
	run -0 probe coordinator g1
	part=$(sed -n 's/.* partition=\([0-9]*\) .*/\1/p' <<<"$output")
	coord=$(sed -n 's/.* broker=\([0-9]*\) .*/\1/p' <<<"$output")
	other=$((coord % 3 + 1))
	# Another broker does not coordinate g1.
	run -0 elog-probe -b "127.0.0.1:${PORTS[other]}" commit g1 t:0=1
	assert_output --regexp '^error=NOT_COORDINATOR'
	ELOG_BROKERS=127.0.0.1:${PORTS[coord]}
	for ((n = 1; n <= 50; n++)); do
		run -0 probe commit g1 "t:0=$n@$((n + 100))" "t:1=$((n * 2))"
		assert_output "topic=t partition=0 error=NONE
topic=t partition=1 error=NONE"
	done
	cluster_kill "$coord"
	ELOG_BROKERS=127.0.0.1:${PORTS[other]}
	elog_wait_until 30 eval 'probe coordinator g1 | grep -q "^error=NONE.* broker=[^$coord]"' ||
		fail "no new coordinator: $(probe coordinator g1)"
	run -0 probe coordinator g1
	assert_output --partial " partition=$part "
	ELOG_BROKERS=127.0.0.1:${PORTS[$(sed -n 's/.* broker=\([0-9]*\) .*/\1/p' <<<"$output")]}
	elog_wait_until 20 eval 'probe committed g1 | grep -q "error=NONE offset"' ||
		fail "the new coordinator does not answer: $(probe committed g1)"
	run -0 probe committed g1
	assert_line --index 0 --partial "topic=t partition=0 error=NONE offset=50 high_watermark=150 timed=1 metadata= window=49@149,48@148"
	assert_line --index 1 --partial "topic=t partition=1 error=NONE offset=100 "
	run -0 probe commit g1 t:0=51
	assert_output "topic=t partition=0 error=NONE"
	# Without -g, from any broker: the groups every broker coordinates.
	run -0 elog-lag -b "127.0.0.1:${PORTS[other]}"
	assert_line --index 0 --regexp "^g1	t	0	51	[0-9]+	0	0	OK\$"
	assert_line --index 1 --regexp "^g1	t	1	100	[0-9]+	0	0	OK\$"
	# Back: the old coordinator catches up and holds the same commits.
	cluster_start "$coord"
	elog_wait_until 30 cluster_same_records "__groups/$part" 1 2 3 || fail "the replicas differ"
}

# ---------------------------------------------------------------- elog-replay

@test "elog-replay: a plan changes nothing; --execute commits it, kept inside each log" {
	elog_need elog-replay elog-produce
	start_one
	elog-topic create -p 2 t
	seq 1 100 | elog-produce -p 0 t
	seq 1 50 | elog-produce -p 1 t
	run --separate-stderr -0 elog-replay -g g --to-offset 40 t
	assert_output "$(printf 't\t0\t-1\t40\nt\t1\t-1\t40')"
	[ "$stderr" = "elog-replay: a plan only: nothing changed (--execute commits it)" ]
	run -0 probe committed g
	assert_output ""
	run --separate-stderr -0 elog-replay -g g --to-offset 40 --execute t
	[ "$stderr" = "elog-replay: group 'g': 2 offsets committed" ]
	# Without a topic: the group's; a shift is kept inside [start, end].
	run -0 --separate-stderr elog-replay -g g --shift-by 30 --execute
	assert_output "$(printf 't\t0\t40\t70\nt\t1\t40\t50')"
	run -0 --separate-stderr elog-replay -g g --shift-by -1000 t:1
	assert_output "$(printf 't\t1\t50\t0')"
	run -0 --separate-stderr elog-replay -g g --to-earliest --execute t:0
	assert_output "$(printf 't\t0\t70\t0')"
	run -0 --separate-stderr elog-replay -g g --to-latest t
	assert_output "$(printf 't\t0\t0\t100\nt\t1\t50\t50')"
	run -0 --separate-stderr elog-replay -g g --to-time 2000-01-01T00:00:00Z t:1
	assert_output "$(printf 't\t1\t50\t0')"
	run -0 --separate-stderr elog-replay -g g --to-time 2999-01-01T00:00:00Z t:1
	assert_output "$(printf 't\t1\t50\t50')"
	run -0 probe committed g
	assert_output "topic=t partition=0 error=NONE offset=0 high_watermark=-1 timed=1 metadata= window=70@-1,40@-1
topic=t partition=1 error=NONE offset=50 high_watermark=-1 timed=1 metadata= window=40@-1"
}

@test "elog-replay: usage errors exit 2, failures 1, each with one line" {
	elog_need elog-replay
	start_one
	elog-topic create t
	run -2 elog-replay --to-latest t
	assert_line --index 0 "elog-replay: --to-earliest, --to-latest, --to-time, --to-offset, --shift-by and --execute move a group's offsets: they need -g GROUP"
	run -2 elog-replay -g g t
	assert_line --index 0 --partial "missing the new position"
	run -2 elog-replay -g g --to-latest --to-earliest t
	assert_line --index 0 --partial "give one of"
	run -2 elog-replay -g g --to-offset -3 t
	assert_line --index 0 --partial "--to-offset"
	run -2 elog-replay -g g --to-time yesterday t
	assert_line --index 0 --partial "--to-time"
	run -1 elog-replay -g g --to-latest nosuch
	assert_output "elog-replay: group 'g': topic 'nosuch': no such topic"
	run -1 elog-replay -g g --to-latest t:3
	assert_output "elog-replay: group 'g': topic 't' has 1 partitions, no 3"
	run -1 elog-replay -g g --to-latest
	assert_output "elog-replay: group 'g' has no committed offsets: name the topics to move"
	run -1 elog-replay -g '' --to-latest t
	assert_output --partial "a group name is 1 to 255 bytes"
	run -1 elog-replay -b 127.0.0.1:1 --timeout 1s -g g --to-latest t
	assert_output --partial "cannot connect"
}

@test "elog-replay: the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-replay --help
	help=$(awk '/^  -|^      --/ { gsub(/,/, "")
		for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/=.*/, "", $i); print $i } }' <<<"$output" |
		sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-replay" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)]--?[a-zA-Z][a-z-]*" "$ELOG_REPO/completions/zsh/_elog-replay" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-replay"
}

# ---------------------------------------------------------------- elog-lag

# lag_setup — a broker, topic t of 3 partitions holding 100, 50 and 0
# records, and commits of group g: partition 0 at its end, 1 the same
# offset three times with lag (STALL), 2 at its (empty) end; group w with
# lag growing at every commit (WARN); group r rewound (REWIND).
lag_setup() {
	start_one
	elog-topic create -p 3 t
	seq 1 100 | elog-produce -p 0 t
	seq 1 50 | elog-produce -p 1 t
	probe coordinator g >/dev/null
	probe commit g t:0=100@100 t:1=10@20 t:2=0@0 >/dev/null
	probe commit g t:1=10@30 >/dev/null
	probe commit g t:1=10@40 >/dev/null
	for o in 10 20 30; do probe commit w "t:1=$o@$((o * 2))" >/dev/null; done
	probe commit r t:0=90@90 >/dev/null
	probe commit r t:0=50@95 >/dev/null
}

@test "elog-lag: lag, time lag and status per partition; TSV, JSON, a table on a terminal" {
	elog_need elog-lag elog-produce
	lag_setup
	run -2 elog-lag -g g -g w -g r
	assert_line --index 0 "$(printf 'g\tt\t0\t100\t100\t0\t0\tOK')"
	assert_line --index 1 --regexp "^g	t	1	10	50	40	[0-9]+	STALL\$"
	assert_line --index 2 "$(printf 'g\tt\t2\t0\t0\t0\t0\tOK')"
	assert_line --index 3 --regexp "^w	t	1	30	50	20	[0-9]+	WARN\$"
	assert_line --index 4 --regexp "^r	t	0	50	100	50	[0-9]+	REWIND\$"
	# Time lag: the age of record 10 of partition 1, produced a moment ago.
	local age
	age=$(awk -F '\t' 'NR == 2 { print $7 }' <<<"$output")
	((age >= 0 && age < 60000)) || fail "time lag $age"
	run -1 elog-lag -g w
	# A topic named that the group has no commits of: unknown (a typo).
	run -3 elog-lag -g g -t nosuch
	assert_output "elog-lag: group 'g' has no commits of the topics named"
	# Without -g: every group the brokers coordinate (LIST_GROUPS).
	run -2 elog-lag
	assert_equal "$(cut -f1 <<<"$output" | uniq | tr '\n' ' ')" "g r w "
	run -2 elog-lag -g g --json
	assert_output --regexp '^\[\{"group":"g","topic":"t","partition":0,"committed":100,"high_watermark":100,"lag":0,"time_lag_ms":0,"commit_time_ms":[0-9]+,"status":"OK"\},\{"group":"g","topic":"t","partition":1,"committed":10,"high_watermark":50,"lag":40,"time_lag_ms":[0-9]+,"commit_time_ms":[0-9]+,"status":"STALL"\},'
	[ "$(grep -o '{"group"' <<<"$output" | wc -l)" = 3 ]
	run -2 script -qec "elog-lag -g g -g w -b $ELOG_BROKERS" /dev/null
	assert_line --index 0 --regexp '^GROUP +TOPIC +PARTITION +COMMITTED +END +LAG +TIME LAG +STATUS'
}

@test "elog-lag: STOP only with lag; a consumer at the end of an idle log stays OK" {
	elog_need elog-lag elog-produce
	lag_setup
	run -2 elog-lag -g g --stop-after 1ms
	assert_line --index 0 --regexp "	t	0	100	100	0	0	OK\$"
	assert_line --index 1 --regexp "	STOP\$"
	assert_line --index 2 --regexp "	t	2	0	0	0	0	OK\$"
}

@test "elog-lag: --warn and --crit on records or time lag, exit 0 1 2 3" {
	elog_need elog-lag elog-produce
	lag_setup
	probe commit ok t:1=45@50 >/dev/null
	run -0 elog-lag -g ok
	run -0 elog-lag -g ok --warn 5 --crit 10
	run -1 elog-lag -g ok --warn 4 --crit 10
	run -2 elog-lag -g ok --warn 1 --crit 4
	run -0 elog-lag -g ok --warn 1h
	run -1 elog-lag -g ok --warn 1ms --crit 1h
	run -2 elog-lag -g ok --crit 1ms
	run -3 elog-lag -g nobody
	assert_output --partial "group 'nobody' has no committed offsets"
	run -3 elog-lag -b 127.0.0.1:1 --timeout 1s -g ok
	assert_output --partial "cannot connect"
	# A bad command line is UNKNOWN (3), as Nagios plugins have it.
	run -3 elog-lag -g ok --warn soon
	assert_line --index 0 --partial "--warn: expected records (1000) or a time lag (5m)"
	run -3 elog-lag -g ''
	assert_line --index 0 --partial "-g: a group name is 1 to 255 bytes"
	run -3 elog-lag -g ok --json --prometheus
	run -0 elog-lag --help
}

@test "elog-lag --prometheus: every sample has its HELP and TYPE, names and labels well formed" {
	elog_need elog-lag elog-produce
	lag_setup
	run -2 elog-lag -g g -g w -g r --prometheus
	# A parser of the text exposition format (version 0.0.4), the parts used.
	awk '
		/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* ./ { help[$3] = 1; next }
		/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (gauge|counter)$/ { type[$3] = 1; next }
		/^#/ { print "bad comment: " $0; bad = 1; next }
		{
			if (!match($0, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) { print "bad name: " $0; bad = 1; next }
			name = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1)
			if (!(name in help) || !(name in type)) { print "no HELP/TYPE: " name; bad = 1 }
			if (rest !~ /^\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",)*[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"\} -?[0-9]+(\.[0-9]+)?$/) {
				print "bad sample: " $0; bad = 1
			}
			n++
		}
		END { if (n != 25) { print n " samples, not 25"; bad = 1 }; exit bad }' <<<"$output"
	assert_line 'elog_group_lag_records{group="g",topic="t",partition="1"} 40'
	assert_line 'elog_group_status{group="r",topic="t",partition="0"} 4'
}

@test "elog-lag: the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-lag --help
	help=$(awk '/^  -|^      --/ { gsub(/,/, "")
		for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/=.*/, "", $i); print $i } }' <<<"$output" |
		sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-lag" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)]--?[a-zA-Z][a-z-]*" "$ELOG_REPO/completions/zsh/_elog-lag" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-lag"
}

@test "elog-lag: a consumer that saw no lag at a commit is OK; a deleted topic's commits are left out, said once" {
	elog_need elog-lag elog-produce
	start_one
	elog-topic create -p 1 t
	elog-topic create -p 1 gone
	seq 1 5 | elog-produce t
	probe coordinator g >/dev/null
	# At the end twice, then a burst arrives: not STALL (Burrow's false alarm).
	probe commit g t:0=5@5 >/dev/null
	probe commit g t:0=5@5 gone:0=0@0 >/dev/null
	seq 6 10 | elog-produce t
	run -0 elog-lag -g g -t t
	assert_output --regexp "^g	t	0	5	10	5	[0-9]+	OK\$"
	elog-topic delete gone
	run -0 --separate-stderr elog-lag -g g
	assert_output --regexp "^g	t	0	5	10	5	[0-9]+	OK\$"
	[ "$stderr" = "elog-lag: warning: group 'g': topic 'gone' does not exist now: its commits are left out" ]
	run -0 --separate-stderr elog-replay -g g --to-latest
	assert_output "$(printf 't\t0\t5\t10')"
	[ "$stderr" = "elog-replay: warning: topic 'gone' does not exist now: its commits are left as they are
elog-replay: a plan only: nothing changed (--execute commits it)" ]
}

@test "elog-replay --execute of 11,000 partitions: the client splits the commit at the broker's 10,000" {
	elog_need elog-replay
	local t
	printf 'max_partitions = 20000\n' >big.conf
	elog_spawn b elog-serve -c "$ELOG_TMP/big.conf" -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait b
	export ELOG_BROKERS=$ELOG_ADDR
	for t in a b c d e f g h i j k; do elog-topic create -p 1000 "$t"; done
	run -0 --separate-stderr elog-replay -g big --to-latest --execute a b c d e f g h i j k
	[ "$stderr" = "elog-replay: group 'big': 11000 offsets committed" ]
	[ "$(probe committed big | grep -c ' error=NONE offset=0 ')" = 11000 ]
}
