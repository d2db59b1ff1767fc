#!/usr/bin/env bats
# Consumer group membership (docs/groups.md, "Membership"), with real
# elog-serve and elog-consume -g processes: each partition is read by one
# member at any moment (members log what they own, with the time, and the
# test checks that no two own a partition at once); members come and go
# under load and no record is lost, the only duplicates being those a
# killed member printed and had not committed; a killed member's partitions
# move within the session timeout and a second; a stopped member that
# outlived its session is fenced, says so and joins again; restarted
# members resume at the committed offsets; a static member's restart moves
# nothing; resets are refused while the group has members.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-replay elog-probe
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

now_ms() { date +%s%3N; }

# vals FILE... — the "v" of each JSON line.
vals() { sed 's/.*"v":\([0-9]*\).*/\1/' "$@"; }

# member NAME GROUP [ARGS...] — an elog-consume -g member, output in NAME.out.
member() {
	local name=$1 group=$2
	shift 2
	elog_spawn "$name" elog-consume -g "$group" --commit-interval 200ms --session-timeout 2s "$@" t
}

# owns NAME — the partitions NAME said last that it owns ("nothing", or "t:0,1").
owns() {
	sed -n 's/.* owns \(.*\) \[t=[0-9]*\]$/\1/p' "$ELOG_TMP/$1.err" | tail -n 1
}

# owns_count NAME N — NAME says it owns N partitions.
owns_count() {
	local o
	o=$(owns "$1")
	if [ "$2" -eq 0 ]; then [ "$o" = nothing ]; return; fi
	[ -n "$o" ] && [ "$o" != nothing ] && [ "$(echo "${o#t:}" | tr ',' '\n' | wc -l)" -eq "$2" ]
}

# no_overlap END_MS NAME[@KILLED_MS]... — from the members' "owns" lines: no
# partition was owned by two of them at once. A member's ownership ends at
# its next line, at KILLED_MS (SIGKILL: it could not say so), or at END_MS.
no_overlap() {
	local end=$1 spec name killed
	shift
	for spec in "$@"; do
		name=${spec%@*}
		killed=$end
		[ "$spec" = "$name" ] || killed=${spec#*@}
		sed -n 's/.* owns \(.*\) \[t=\([0-9]*\)\]$/\2 \1/p' "$ELOG_TMP/$name.err" |
			awk -v who="$name" -v last="$killed" '
				function close_all(t,   p) { for (p in cur) { print p, cur[p], t, who; delete cur[p] } }
				{
					split("", now)
					if ($2 != "nothing") {
						n = split(substr($2, 3), ps, ",")
						for (i = 1; i <= n; i++) now[ps[i]] = 1
					}
					for (p in cur) if (!(p in now)) { print p, cur[p], $1, who; delete cur[p] }
					for (p in now) if (!(p in cur)) cur[p] = $1
				}
				END { close_all(last) }'
	done | sort -k1,1n -k2,2n | awk '
		$1 != part { part = $1; end = 0; owner = "" }
		{
			if ($2 < end && $4 != owner) {
				printf "partition %s: %s from %s, while %s had it until %s\n", $1, $4, $2, owner, end
				bad = 1
			}
			if ($3 > end) { end = $3; owner = $4 }
		}
		END { exit bad }'
}

@test "four members, then one stopped, one killed and one added under load: one owner per partition at a time, nothing lost" {
	start_one
	elog-topic create -p 12 t
	# 30,000 records over about 3 s, keys spread over the partitions.
	elog_spawn feed sh -c 'for i in $(seq 0 29); do
		seq $((i * 1000 + 1)) $((i * 1000 + 1000)) | awk "{ print \"{\\\"k\\\":\\\"\" \$1 \"\\\",\\\"v\\\":\" \$1 \"}\" }"
		sleep 0.1; done | elog-produce -k k t'
	for i in 1 2 3 4; do member "m$i" g; done
	elog_wait_until 20 eval 'owns_count m1 3 && owns_count m2 3 && owns_count m3 3 && owns_count m4 3' ||
		fail "not 3 each: $(cat m*.err)"
	elog_stop m2
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	kill -KILL "$(elog_pid m3)"
	killed=$(now_ms)
	member m5 g
	elog_wait_until 30 elog_exited "$(elog_pid feed)" || fail "the feed did not end"
	elog_stop feed
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "elog-produce failed: $(cat feed.err)"
	# Everything is read, once the killed member's partitions moved.
	elog_wait_until 30 eval '[ "$(vals m*.out | sort -u | wc -l)" -eq 30000 ]' ||
		fail "not every record read: $(vals m*.out | sort -u | wc -l); $(cat m*.err)"
	elog_wait_until 10 eval 'owns_count m1 4 && owns_count m4 4 && owns_count m5 4' ||
		fail "not 4 each: $(cat m*.err)"
	end=$(now_ms)
	for n in m1 m4 m5; do elog_stop "$n"; [ "$ELOG_STOP_STATUS" -eq 0 ]; done
	run no_overlap "$end" m1 m2 "m3@$killed" m4 m5
	[ "$status" -eq 0 ] || fail "$output
killed at $killed, ended at $end
$(grep -h 'group=g' b.err | grep -v 'msg="commit' | tail -n 40)
$(for n in m1 m2 m3 m4 m5; do sed "s/^/$n: /" "$n.err"; done)"
	# Duplicates: only records the killed member printed (and had not committed).
	vals m*.out | sort | uniq -d >dups
	vals m3.out | sort -u >m3.vals
	run -0 comm -23 dups m3.vals
	assert_output ""
	grep -q 'msg="group member expired" group=g' b.err
	grep -q 'msg="group member left" group=g' b.err
}

@test "a killed member's partitions move within the session timeout and a second" {
	start_one
	elog-topic create -p 12 t
	member m1 g
	member m2 g
	elog_wait_until 20 eval 'owns_count m1 6 && owns_count m2 6' || fail "$(cat m*.err)"
	kill -KILL "$(elog_pid m2)"
	killed=$(now_ms)
	elog_wait_until 10 owns_count m1 12 || fail "$(cat m1.err)"
	moved=$(sed -n 's/.* owns t:.* \[t=\([0-9]*\)\]$/\1/p' m1.err | tail -n 1)
	echo "moved after $((moved - killed)) ms"
	[ $((moved - killed)) -le 3000 ]
	[ $((moved - killed)) -ge 1500 ]
	elog_stop m1
	[ "$ELOG_STOP_STATUS" -eq 0 ]
}

@test "a member stopped past its session is fenced when it wakes: its commit refused, it says so and joins again" {
	start_one
	elog-topic create -p 4 t
	seq 1 100 | elog-produce t
	member m1 g
	member m2 g
	elog_wait_until 20 eval 'owns_count m1 2 && owns_count m2 2' || fail "$(cat m*.err)"
	kill -STOP "$(elog_pid m2)"
	elog_wait_until 10 owns_count m1 4 || fail "$(cat m1.err)"
	kill -CONT "$(elog_pid m2)"
	elog_wait_until 10 grep -q 'not in group .g.*joining again' m2.err || fail "$(cat m2.err)"
	elog_wait_until 10 eval 'owns_count m1 2 && owns_count m2 2' || fail "$(cat m*.err)"
	# The zombie's member id is refused outright.
	old=$(sed -n 's/.* member \(m-[0-9a-f]*\) epoch .*/\1/p' m2.err | head -n 1)
	run -0 elog-probe -b "$ELOG_BROKERS" --member "$old" -E 1 commit g t:0=1
	assert_output --partial "UNKNOWN_MEMBER_ID"
	[ "$(cat m1.out m2.out | sort -u | wc -l)" -eq 100 ]
	elog_stop m1
	elog_stop m2
}

@test "every member restarted: consumption resumes at the committed offsets" {
	start_one
	elog-topic create -p 6 t
	seq 1 1000 | elog-produce t
	member m1 g
	member m2 g
	elog_wait_until 20 eval '[ "$(cat m1.out m2.out | wc -l)" -ge 1000 ]' || fail "$(cat m*.err)"
	elog_stop m1
	elog_stop m2
	[ "$(cat m1.out m2.out | sort -n | uniq | wc -l)" -eq 1000 ]
	seq 1001 2000 | elog-produce t
	member n1 g
	member n2 g
	elog_wait_until 20 eval '[ "$(cat n1.out n2.out | wc -l)" -ge 1000 ]' || fail "$(cat n*.err)"
	elog_stop n1
	elog_stop n2
	run -0 sh -c 'cat n1.out n2.out | sort -n'
	assert_output "$(seq 1001 2000)"
}

@test "a static member restarted within its session keeps its partitions; the others never move" {
	start_one
	elog-topic create -p 4 t
	member s1 g --instance-id one
	member s2 g --instance-id two
	elog_wait_until 20 eval 'owns_count s1 2 && owns_count s2 2' || fail "$(cat s*.err)"
	before=$(owns s1)
	elog_stop s1
	member s1b g --instance-id one
	elog_wait_until 10 owns_count s1b 2 || fail "$(cat s1b.err)"
	[ "$(owns s1b)" = "$before" ]
	# s2 said what it owns once: nothing moved for it.
	[ "$(grep -c ' owns ' s2.err)" -eq 1 ]
	elog_stop s1b
	elog_stop s2
}

@test "elog-replay refuses to move a group's offsets while it has members, naming them" {
	start_one
	elog-topic create -p 2 t
	seq 1 10 | elog-produce t
	member m1 g
	elog_wait_until 20 owns_count m1 2 || fail "$(cat m1.err)"
	elog_wait_until 10 eval '[ "$(wc -l <m1.out)" -eq 10 ]'
	run -1 elog-replay -g g --to-earliest --execute t
	assert_output --regexp "GROUP_NOT_EMPTY|active member"
	assert_output --partial "elog-consume@"
	elog_stop m1
	run -0 elog-replay -g g --to-earliest --execute t
}

@test "group options: usage errors" {
	run -2 elog-consume --commit-interval 1s t
	assert_output --partial "needs -g GROUP"
	run -2 elog-consume -g g -o 5 t
	assert_output --partial "exclude each other"
	run -2 elog-consume -g g t:1
	assert_output --partial "name topics, not partitions"
	run -2 elog-consume -g g --reset middle t
	run -2 elog-consume -g g --session-timeout 100ms t
	run -2 elog-consume -g g --assignor best t
}

@test "three brokers: the coordinator's broker killed under load, the group goes on and loses no commit" {
	local i coord all
	cluster_ports 3
	for i in 1 2 3; do cluster_start "$i"; done
	all=127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]},127.0.0.1:${PORTS[3]}
	export ELOG_BROKERS=$all
	create_t() { elog-topic create -p 6 -r 3 t; }
	elog_wait_until 30 create_t || fail "topic t not created"
	keyed() { seq "$1" "$2" | awk '{ printf "{\"k\":\"%d\",\"v\":%d}\n", $1, $1 }' | elog-produce -k k t; }
	keyed 1 2000
	# Sessions long enough for a failover on a loaded machine (an election,
	# the new coordinator reading __groups): with 2 s a member may expire
	# there before it finds it, and rejoin (reading its uncommitted records
	# again, as it should).
	member m1 g --session-timeout 10s
	member m2 g --session-timeout 10s
	elog_wait_until 30 eval '[ "$(cat m1.out m2.out | sort -u | wc -l)" -eq 2000 ]' ||
		fail "not read: $(cat m*.err)"
	# Past a commit interval: what they read is committed.
	elog_wait_until 10 eval '[ "$(elog-lag -g g | cut -f6 | sort -u)" = 0 ] && [ "$(elog-lag -g g | wc -l)" -eq 6 ]' ||
		fail "$(elog-lag -g g)"
	coord=$(elog-probe -b "127.0.0.1:${PORTS[1]}" coordinator g | sed -n 's/.* broker=\([0-9]*\) .*/\1/p')
	[ -n "$coord" ]
	cluster_kill "$coord"
	keyed 2001 4000
	elog_wait_until 60 eval '[ "$(cat m1.out m2.out | sort -u | wc -l)" -eq 4000 ]' ||
		fail "not read after the kill: $(cat m*.err)"
	elog_stop m1
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	elog_stop m2
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	# Nothing lost, and nothing printed twice unless a member had to give
	# its partitions up (a commit not acknowledged in time, a fence, the
	# coordinator unreachable for a while on a loaded machine): then it
	# reads again from its last commit, as at-least-once allows.
	[ "$(cat m1.out m2.out | sort -u | wc -l)" -eq 4000 ]
	twice=$(($(cat m1.out m2.out | wc -l) - 4000))
	if grep -q 'may be read again\|joining again\|trying again' m1.err m2.err; then
		echo "# $twice records read again after: $(cat m1.err m2.err)" >&3
	elif [ "$twice" -ne 0 ]; then
		fail "$twice printed twice, no member gave anything up: $(cat m*.err); the topic holds $(elog-consume -q -e t | wc -l) records; printed twice by m1: $(sort m1.out | uniq -d | wc -l), m2: $(sort m2.out | uniq -d | wc -l), both: $(sort -u m1.out | cat - <(sort -u m2.out) | sort | uniq -d | wc -l)"
	fi
	member m3 g -e
	elog_wait_until 20 elog_exited "$(elog_pid m3)" || fail "$(cat m3.err)"
	elog_stop m3
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	if grep -q 'may be read again\|joining again\|trying again' m1.err m2.err; then
		# Read again, then, but nothing new: every record m3 printed was read before.
		[ "$(cat m1.out m2.out m3.out | sort -u | wc -l)" -eq 4000 ]
	else
		run -0 elog-lag -g g
		[ "$(wc -l <<<"$output")" -eq 6 ] || fail "not every partition committed: $output; $(cat m*.err)"
		[ ! -s m3.out ] || fail "read again: $(wc -l <m3.out) records; $(cat m*.err); $(elog-lag -g g)"
	fi
}

@test "the broker restarted under its members: they keep their ids and partitions, nothing read twice" {
	local port
	port=$(elog-freeport 1)
	export ELOG_BROKERS=127.0.0.1:$port
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l "$ELOG_BROKERS"
	elog_broker_wait b
	elog-topic create -p 4 t
	seq 1 500 | elog-produce t
	member m1 g --session-timeout 20s
	member m2 g --session-timeout 20s
	elog_wait_until 20 eval 'owns_count m1 2 && owns_count m2 2 && [ "$(cat m1.out m2.out | wc -l)" -eq 500 ]' ||
		fail "$(cat m*.err)"
	n1=$(grep -c ' owns ' m1.err)
	elog_stop b KILL
	elog_spawn b2 elog-serve -d "$ELOG_TMP/data" -l "$ELOG_BROKERS"
	elog_broker_wait b2
	seq 501 1000 | elog-produce t
	elog_wait_until 20 eval '[ "$(cat m1.out m2.out | wc -l)" -ge 1000 ]' || fail "$(cat m*.err)"
	elog_stop m1
	elog_stop m2
	run -0 sh -c 'cat m1.out m2.out | sort -n'
	assert_output "$(seq 1 1000)"
	# One member id each, all along, and nothing said between the restart
	# and the stop: no rejoin, no partition moved.
	[ "$(sed -n 's/.* member \(m-[0-9a-f]*\) .*/\1/p' m1.err | sort -u | wc -l)" -eq 1 ] || fail "$(cat m1.err)"
	[ "$(sed -n 's/.* member \(m-[0-9a-f]*\) .*/\1/p' m2.err | sort -u | wc -l)" -eq 1 ] || fail "$(cat m2.err)"
	[ "$(grep -c ' owns ' m1.err)" -eq $((n1 + 1)) ] || fail "$(cat m1.err)"
	run -1 grep -q 'joining again' m1.err m2.err
}

# hb_frame GROUP MEMBER EPOCH SESSION_MS ASSIGNOR TOPIC... — a GROUP_HEARTBEAT
# request (docs/protocol.md) owning nothing, in hex, for elog-probe raw.
hb_frame() {
	local body s
	str() { printf '%s%s' "$(elog_le 2 ${#1})" "$(printf '%s' "$1" | od -v -An -tx1 | tr -d ' \n')"; }
	body=$(str "$1")$(str "$2")$(str "")$(str "probe")$(elog_le 4 "$3")$(elog_le 4 "$4")$(str "$5")
	shift 5
	body+=$(elog_le 4 $#)
	for s in "$@"; do body+=$(str "$s"); done
	body+=$(elog_le 4 0)
	printf '%s' "$(elog_le 4 $((8 + ${#body} / 2)))$(elog_le 2 16)$(elog_le 2 1)$(elog_le 4 1)$body"
}

@test "GROUP_HEARTBEAT: bad input is refused with a reason; a join is answered with a member id" {
	start_one
	elog-topic create -p 2 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g "" 0 100 "" t)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="session timeout 100 ms: it is 1000 to 300000 ms"'
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g "" 5 5000 "" t)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="member epoch 5: a join is member'
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g "" 0 5000 best t)"
	assert_line --index 0 --partial "error=INVALID_REQUEST message=\"assignor 'best'"
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g m-nobody 3 5000 "" t)"
	assert_line --index 0 --partial 'error=UNKNOWN_MEMBER_ID'
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame "" "" 0 5000 "" t)"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="a group name is 1 to 255 bytes"'
	# Cut short, and one byte too many: malformed.
	frame=$(hb_frame g "" 0 5000 "" t)
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(elog_le 4 $((${#frame} / 2 - 5)))${frame:8:$((${#frame} - 10))}"
	assert_line --index 0 --partial 'api=0x8010 correlation_id=1 error=INVALID_REQUEST'
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(elog_le 4 $((${#frame} / 2 - 3)))${frame:8}00"
	assert_line --index 0 --partial 'api=0x8010 correlation_id=1 error=INVALID_REQUEST'
	# An owned list of more than 1,000 topic entries, and names that are no
	# topic names, are refused before anything is kept.
	run -0 elog-probe -b "$ELOG_BROKERS" -T 5000 -M "$(printf 't:0;%.0s' {1..1001})" heartbeat g t
	assert_output --partial 'error=INVALID_REQUEST message="1001 topics in the owned list; at most 1000"'
	run -0 elog-probe -b "$ELOG_BROKERS" -T 5000 -M 'a/b:0' heartbeat g t
	assert_output --partial 'error=INVALID_REQUEST message="owned: '
	# A good join: the broker says who joined.
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g "" 0 5000 "" t)"
	assert_line --index 0 --partial 'api=0x8010 correlation_id=1 error=NONE'
	elog_wait_until 5 grep -q 'msg="group member joined" group=g member=m-' b.err
}

@test "elog-lag --members: each member, its instance and client ids, epoch and what it owns; JSON too" {
	start_one
	elog-topic create -p 4 t
	member m1 g
	member m2 g --instance-id web-2
	elog_wait_until 20 eval 'owns_count m1 2 && owns_count m2 2' || fail "$(cat m*.err)"
	elog_wait_until 5 eval '[ "$(elog-lag --members | cut -f2 | sort -u)" = stable ]'
	run -0 elog-lag --members
	[ "${#lines[@]}" -eq 2 ]
	assert_line --regexp "^g	stable	m-[0-9a-f]{16}	-	elog-consume@[^	]+:$(elog_pid m1)	[0-9]+	[0-9]+	$(owns m1)"
	assert_line --regexp "^g	stable	m-[0-9a-f]{16}	web-2	elog-consume@[^	]+:$(elog_pid m2)	[0-9]+	[0-9]+	$(owns m2)"
	run -0 elog-lag -g g --members --json
	assert_output --regexp '^\[\{"group":"g","state":"stable","epoch":[0-9]+,"assignor":"sticky","members":\[\{"member":"m-'
	assert_output --partial '"instance":"web-2"'
	# The commits, with the high watermark and lag, once there are some.
	seq 1 40 | elog-produce -p 3 t
	elog_wait_until 10 eval 'elog-lag -g g --members --json | grep -q "\"offsets\":\[.*{\"topic\":\"t\",\"partition\":3,\"committed\":40,\"high_watermark\":40,\"lag\":0}"' ||
		fail "$(elog-lag -g g --members --json)"
	run -3 elog-lag --members --prometheus
	elog_stop m1
	elog_stop m2
	# The static member keeps its place for its session (2 s), then goes.
	run -0 elog-lag --members
	assert_output --regexp "^g	reconciling	m-[0-9a-f]{16}	web-2	"
	elog_wait_until 10 eval '[ -z "$(elog-lag --members)" ]' || fail "$(elog-lag --members)"
}

@test "elog-replay -g --delete: a plan, then the group's commits and record gone; refused while it has members" {
	start_one
	elog-topic create -p 2 t
	seq 1 5 | elog-produce -p 0 t
	seq 6 10 | elog-produce -p 1 t
	member m1 g
	elog_wait_until 20 eval '[ "$(elog-lag -g g 2>/dev/null | cut -f6 | sort -u)" = 0 ]' || fail "$(cat m1.err)"
	run -1 elog-replay -g g --delete --execute
	assert_output --partial "active member"
	elog_stop m1
	run -0 elog-replay -g g --delete
	assert_line --regexp '^t	0	[0-9]+	-1$'
	assert_line --regexp '^t	1	[0-9]+	-1$'
	assert_output --partial "a plan only"
	run -0 elog-lag -g g
	run -0 elog-replay -g g --delete --execute
	assert_output --partial "group 'g' deleted: 2 commits"
	run -3 elog-lag -g g
	assert_output --partial "no committed offsets"
	run -0 elog-lag
	refute_output --partial "g	"
	run -2 elog-replay -g g --delete t
	# A new member of the same name starts afresh.
	member m2 g -e
	elog_wait_until 20 elog_exited "$(elog_pid m2)" || fail "$(cat m2.err)"
	[ "$(wc -l <m2.out)" -eq 10 ]
}

# hb ARGS... — one GROUP_HEARTBEAT through elog-probe (session 5 s); the
# answer's fields into HB_MEMBER, HB_EPOCH, HB_OWNS ("" when not assigned)
# and the line into HB.
hb() {
	HB=$(elog-probe -b "$ELOG_BROKERS" -T 5000 heartbeat "$@")
	HB_MEMBER=$(sed -n 's/.*member=\([^ ]*\) .*/\1/p' <<<"$HB")
	HB_EPOCH=$(sed -n 's/.* epoch=\([-0-9]*\) .*/\1/p' <<<"$HB")
	HB_OWNS=$(sed -n 's/.* owns=\([^ ]*\) .*/\1/p' <<<"$HB")
}

# as NAME [OWNED] — a heartbeat of member NAME of group g (topic t), joining
# first when it has no id; reports OWNED ("t:0,1") and keeps the epoch the
# answer gives.
declare -gA ID=() EP=()
as() {
	local name=$1 owned=${2:-}
	if [ -z "${ID[$name]:-}" ]; then
		hb g t
		ID[$name]=$HB_MEMBER
		EP[$name]=0
		[ -n "$HB_MEMBER" ] || fail "$name did not join: $HB"
		return 0
	fi
	hb --member "${ID[$name]}" -E "${EP[$name]}" ${owned:+-M "$owned"} g t
	[ -z "$HB_EPOCH" ] || EP[$name]=$HB_EPOCH
}

# as_until WANT NAME [OWNED] — heartbeat until NAME is given WANT (bounded).
as_until() {
	local want=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		as "$@"
		[[ $HB == *" assigned=1 owns=$want waiting="* ]] && return 0
		sleep 0.05
	done
	fail "$1 never given '$want': $HB"
}

# x_gives_one_to_y — X (targeted one of t's two partitions) says it owns
# both: it is told to keep one and Y still waits; X gives the other up:
# now Y gets it.
x_gives_one_to_y() {
	local kept
	as x 't:0,1'
	[[ $HB == *" assigned=1 owns=t:"?" waiting=0"* ]] || fail "$HB"
	kept=${HB_OWNS#t:}
	as y
	[[ $HB == *" assigned=1 owns= waiting=1"* ]] || fail "$HB"
	as x "t:$kept"
	as_until "t:$((1 - kept))" y
}

@test "at least once: nothing is committed that was not written out (the reader went away)" {
	start_one
	elog-topic create -p 1 t
	seq 1 300000 | elog-produce t
	elog-consume -g g t 2>/dev/null | (head -c 100 >/dev/null; sleep 1) || true
	committed=$(elog-lag -g g 2>/dev/null | cut -f4)
	echo "committed: ${committed:-nothing}"
	# The pipe took 64 KiB at most: 12,000 lines of "NNNNN\n".
	[ -z "$committed" ] || [ "$committed" -le 12000 ]
}

@test "a member's claims are checked: it cannot own or commit what it was never given; its reads are fenced" {
	start_one
	elog-topic create -p 1 t
	elog-topic create -p 1 u
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	as x
	as_until "t:0" x
	# It says it owns u:0 (never given) and t:7 (no such partition).
	as x 't:0,7;u:0'
	run -0 elog-probe -b "$ELOG_BROKERS" --member "${ID[x]}" -E "${EP[x]}" commit g t:0=1 u:0=1
	assert_line --index 0 "topic=t partition=0 error=NONE"
	assert_line --index 1 --partial "topic=u partition=0 error=FENCED_MEMBER_EPOCH"
	run -0 elog-lag -g g --members
	assert_output --regexp "	t:0\$"
	# Reads of the offsets are fenced as commits are (OFFSET_FETCH v2).
	run -0 elog-probe -b "$ELOG_BROKERS" --member "${ID[x]}" -E "${EP[x]}" committed g t:0
	assert_output --partial "topic=t partition=0 error=NONE offset=1 "
	run -0 elog-probe -b "$ELOG_BROKERS" --member "${ID[x]}" -E $((EP[x] + 1)) committed g t:0
	assert_output --partial "error=FENCED_MEMBER_EPOCH"
	run -0 elog-probe -b "$ELOG_BROKERS" --member m-gone -E 1 committed g t:0
	assert_output --partial "error=UNKNOWN_MEMBER_ID"
	run -0 elog-probe -b "$ELOG_BROKERS" -R 1 committed g t:0
	assert_output --partial "topic=t partition=0 error=NONE offset=1 "
}

@test "a join the group cannot take is refused and undone; the group goes on" {
	start_one
	elog-topic create -p 2 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(hb_frame g "" 0 5000 "" "$(printf 'x%.0s' {1..250})")"
	assert_line --index 0 --partial 'error=INVALID_REQUEST message="subscription: '
	as x
	as_until "t:0,1" x 't:0,1'
	[ "$(elog-lag -g g --members | wc -l)" -eq 1 ]
}

@test "a new coordinator gives nothing away until the members it loaded say what they own" {
	local port i
	port=$(elog-freeport 1)
	export ELOG_BROKERS=127.0.0.1:$port
	elog_spawn b elog-serve -d "$ELOG_TMP/data" -l "$ELOG_BROKERS"
	elog_broker_wait b
	elog-topic create -p 2 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	as x
	as_until "t:0,1" x 't:0,1'
	as x 't:0,1'
	# Y joins: the targets become one partition each; Y waits for X.
	as y
	as_until "" y
	[[ $HB == *" waiting=1"* ]] || fail "$HB"
	# The broker restarts before X heard that it must give one up.
	elog_stop b KILL
	elog_spawn b2 elog-serve -d "$ELOG_TMP/data" -l "$ELOG_BROKERS"
	elog_broker_wait b2
	for ((i = 0; i < 100; i++)); do
		as y
		[[ $HB == member=* ]] && break
		sleep 0.05
	done
	# X has not spoken: Y is given nothing (X may still read both), and X's
	# commits of both stand (the record has only its newest target).
	[[ $HB == *" assigned=0"* ]] || fail "$HB"
	run -0 elog-probe -b "$ELOG_BROKERS" --member "${ID[x]}" -E "${EP[x]}" commit g t:0=1 t:1=1
	assert_output "topic=t partition=0 error=NONE
topic=t partition=1 error=NONE"
	x_gives_one_to_y
}

@test "what a member was given is its own until it says otherwise, even before it says it owns it" {
	start_one
	elog-topic create -p 2 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	as x
	# X is given both; it has not yet said it owns them (its answer may
	# still be on its way, and it reads what it was given at once).
	as_until "t:0,1" x
	# Y joins: the targets become one partition each, but X holds both.
	as y
	for ((i = 0; i < 100; i++)); do
		as y
		[[ $HB == *" assigned=1 "* ]] && break
		sleep 0.05
	done
	[[ $HB == *" assigned=1 owns= waiting=1"* ]] || fail "Y was given what X holds: $HB"
	x_gives_one_to_y
}

@test "500 members a group, 10,000 a broker: a join past either is refused with a reason; the members there are still answered" {
	start_one
	elog-topic create -p 1 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	run -0 elog-probe -b "$ELOG_BROKERS" -T 300000 joins g 501 t
	assert_line joined=500
	assert_line "refused=1 error=RESOURCE_LIMIT message=\"group 'g' has its limit of 500 members\""
	for i in $(seq 1 19); do
		run -0 elog-probe -b "$ELOG_BROKERS" -T 300000 joins "g$i" 500 t
		assert_output joined=500
	done
	run -0 elog-probe -b "$ELOG_BROKERS" -T 300000 joins h 1 t
	assert_output "joined=0
refused=1 error=RESOURCE_LIMIT message=\"the broker coordinates its limit of 10000 members\""
	run -0 elog-lag -g g --members
	[ "${#lines[@]}" -eq 500 ]
	# One of them heartbeats: answered as before.
	id=$(cut -f3 <<<"${lines[0]}")
	epoch=$(cut -f6 <<<"${lines[0]}")
	hb --member "$id" -E "$epoch" g t
	[[ $HB == "member=$id epoch="* ]] || fail "$HB"
}

@test "-e: a member given nothing ends at once; a topic that does not exist is an error" {
	start_one
	elog-topic create -p 1 t
	seq 1 1000 | elog-produce t
	member m1 g -e
	member m2 g -e
	elog_wait_until 20 eval 'elog_exited "$(elog_pid m1)" && elog_exited "$(elog_pid m2)"' ||
		fail "$(cat m*.err)"
	elog_stop m1
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	elog_stop m2
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	run -0 sh -c 'cat m1.out m2.out | sort -n'
	assert_output "$(seq 1 1000)"
	run -1 timeout 20 elog-consume -g g -e nosuch
	assert_output "elog-consume: topic 'nosuch': no such topic"
}

@test "a join whose group record would pass __groups' record limit is refused; the members there are still answered" {
	local names i out first
	start_one
	elog-topic create -p 1 t
	elog-probe -b "$ELOG_BROKERS" coordinator g >/dev/null
	# 99 subscribed names of 249 bytes (and t): about 25 KB of record a member.
	names=$(for i in $(seq 100 198); do printf '%s%d ' "$(printf 'n%.0s' {1..246})" "$i"; done)
	for ((i = 0; i < 80; i++)); do
		# shellcheck disable=SC2086
		out=$(elog-probe -b "$ELOG_BROKERS" heartbeat g t $names)
		[[ $out == *RESOURCE_LIMIT* ]] && break
		[ -n "${first:-}" ] || first=$(sed -n 's/^member=\([^ ]*\) .*/\1/p' <<<"$out")
	done
	[[ $out == *"error=RESOURCE_LIMIT message=\"the group's record would take "* ]] || fail "$out"
	[ "$i" -ge 30 ]
	# shellcheck disable=SC2086
	run -0 elog-probe -b "$ELOG_BROKERS" --member "$first" -E 0 heartbeat g t $names
	assert_output --regexp "^member=$first epoch=[0-9]+ "
	run -1 grep -q 'msg="group record not written"' b.err
}
