#!/usr/bin/env bats
# A cluster of three elog-serve processes on 127.0.0.1 (docs/operations.md,
# "Running a cluster"): elections, replicated metadata, acks=all produce
# replicated byte for byte, kill -9 of a leader, catch-up after a restart,
# and the restriction of a replica that lost unsynced writes. Tests find
# leaders from the brokers' "raft role" log lines where they need one; the
# tools find them from METADATA. Every broker is started with elog_spawn
# and stopped by PID.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-topic elog-produce elog-consume elog-dump elog-freeport elog-probe
	cd "$ELOG_TMP"
	cluster_ports 3
}

teardown() {
	elog_teardown
}

start_all() {
	local i
	for i in 1 2 3; do
		cluster_start "$i" "$@"
	done
}

# create TOPIC [ARGS] — on the metadata leader, once a leader is known.
create() {
	local topic=$1
	shift
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 "$@" "$topic"
}

listed_everywhere() {
	local i
	for i in 1 2 3; do
		elog-topic -b "127.0.0.1:${PORTS[i]}" list 2>/dev/null | grep -q "^$1	" || return 1
	done
}

same_records() {
	cluster_same_records "$1" 1 2 3
}

@test "three brokers elect one metadata leader; a topic created on it appears on all" {
	start_all
	cluster_wait_leader metadata
	local leader=$LEADER other=$((LEADER % 3 + 1))
	# Any other broker refuses, naming the leader (the protocol) ...
	run -0 elog-probe -b "127.0.0.1:${PORTS[other]}" create t0
	assert_output --regexp "^error=NOT_LEADER .*leader is broker $leader"
	# ... and the tools follow METADATA's controller_id from any broker.
	run -0 elog-topic -b "127.0.0.1:${PORTS[other]}" create -r 3 t0
	elog_wait_until 10 listed_everywhere t0 || fail "t0 is not on every broker"
	run -0 elog-topic -b "127.0.0.1:${PORTS[other]}" delete t0
	create t1
	elog_wait_until 10 listed_everywhere t1 || fail "t1 is not on every broker"
	elog_wait_until 10 eval '[ -f d1/t1/0/raft.state ] && [ -f d2/t1/0/raft.state ] && [ -f d3/t1/0/raft.state ]' ||
		fail "no raft.state"
	# replication factor larger than the cluster
	run -1 --separate-stderr elog-topic -b "$LADDR" create -r 4 t2
	assert_regex "$stderr" 'replication factor 4 is more than the 3 brokers'
	# altered and deleted everywhere, once committed
	run -0 elog-topic -b "$LADDR" alter -c retention.ms=7d t1
	run -0 elog-topic -b "$LADDR" delete t1
	elog_wait_until 10 eval '[ ! -e d1/t1 ] && [ ! -e d2/t1 ] && [ ! -e d3/t1 ]' || fail "t1 is still on disk"
	# ... and its files leave .trash too (removed off the event loop)
	elog_wait_until 10 eval '[ -z "$(find d1/.trash d2/.trash d3/.trash -mindepth 1 2>/dev/null)" ]' ||
		fail "files left in .trash: $(ls -R d?/.trash)"
	run -0 elog-topic -b "127.0.0.1:${PORTS[other]}" list
	assert_output ""
	# The deleted topics' records in the broker's raft.journal go at its
	# next start (its metadata says they were deleted).
	cluster_stop "$other"
	cluster_start "$other"
	grep -q 'msg="raft journal: records of deleted topics dropped" records=2' "b$other.err" ||
		fail "$(grep -i journal "b$other.err")"
}

@test "acks=all produce to the leader: every replica holds the same batches" {
	start_all
	create t1 -c flush=always
	cluster_wait_leader t1/0
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 200)
	elog_wait_until 20 same_records t1/0 || fail "replicas differ:
$(cluster_records 1 t1/0)
--
$(cluster_records 2 t1/0)
--
$(cluster_records 3 t1/0)"
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(seq 1 200)"
	# A follower does not serve consumers: it names the leader, and the
	# consumer, bootstrapped from the follower, reads from the leader.
	local f=$((LEADER % 3 + 1))
	run -0 elog-probe -b "127.0.0.1:${PORTS[f]}" fetch t1
	assert_output --regexp '^error=NOT_LEADER '
	run -0 elog-consume -b "127.0.0.1:${PORTS[f]}" -e t1
	assert_equal "$output" "$(seq 1 200)"
}

# log_past I TOPIC/PARTITION N — broker I's log holds more than N records.
log_past() {
	local last
	last=$(elog-dump "$ELOG_TMP/d$1/$2" 2>/dev/null | sed -n 's/.* last_offset=\([0-9]*\) .*/\1/p' | tail -n 1)
	[ -n "$last" ] && [ "$last" -gt "$3" ]
}

# values are increasing integers, each once
strictly_increasing() {
	awk 'NR > 1 && $1 <= prev { exit 1 } { prev = $1 }'
}

@test "kill -9 of the leader during an acks=all produce: the producer finishes with exit 0, every line once, in order" {
	start_all
	create t1 -c flush=always
	cluster_wait_leader t1/0
	local old=$LEADER
	seq 1 300000 >stream.in
	# Bootstrapped from every broker, so losing the leader loses no way in.
	elog_spawn stream elog-produce -b "127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]},127.0.0.1:${PORTS[3]}" \
		-a all --timeout 30s -i stream.in t1
	elog_wait_until 20 log_past "$old" t1/0 1000 || fail "the stream did not start"
	cluster_kill "$old"
	elog_wait_until 20 cluster_leader t1/0 || fail "no new leader"
	[ "$LEADER" != "$old" ]
	elog_wait_until 60 elog_exited "$(elog_pid stream)" || fail "the producer did not finish"
	elog_stop stream
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "the producer failed: $(cat stream.err)"
	cluster_wait_leader t1/0
	elog-consume -b "$LADDR" -e t1 >consumed.out || fail "the consume failed"
	cmp -s consumed.out stream.in ||
		fail "$(wc -l <consumed.out) lines consumed, not the 300000 sent once in order: $(diff consumed.out stream.in | head -n 10)"
	# The killed broker comes back and catches up.
	cluster_start "$old"
	elog_wait_until 30 same_records t1/0 || fail "b$old did not catch up"
}

@test "a follower that missed more batches than one APPEND carries catches up" {
	start_all
	create t1 -c flush=1s
	cluster_wait_leader t1/0
	local f=$((LEADER % 3 + 1))
	cluster_stop "$f"
	# 5,000 one-record batches while it is away: more than the 4,096 an
	# APPEND may carry, so the catch-up takes several.
	run -0 elog-probe -b "$LADDR" produce t1 -n 1 -k 5000
	cluster_start "$f"
	elog_wait_until 60 same_records t1/0 || fail "b$f did not catch up"
	run -1 grep -q 'more than 4096 batches' "b$f.err" "b$LEADER.err"
}

@test "a flush=never replica restarted after kill -9 is restricted until caught up" {
	start_all
	create t1 -c flush=never
	# More groups than are written one by one: the clean stop below marks
	# them clean in one batched write.
	create t2 -p 6 -c flush=never
	cluster_wait_leader t1/0
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 50)
	local f=$((LEADER % 3 + 1))
	elog_wait_until 20 same_records t1/0 || fail "replicas differ"
	cluster_kill "$f"
	cluster_start "$f"
	elog_wait_until 20 grep -q 'msg="restricted: may not vote or lead until caught up" group=t1/0 reason=unclean' "b$f.err" ||
		fail "b$f is not restricted: $(cat "b$f.err")"
	elog_wait_until 30 grep -q 'msg="restriction lifted: caught up from the leader" group=t1/0' "b$f.err" ||
		fail "b$f's restriction was not lifted: $(cat "b$f.err")"
	elog_wait_until 30 eval '[ "$(grep -c "msg=\"restriction lifted: caught up from the leader\" group=t2/" "b$f.err")" -eq 6 ]' ||
		fail "b$f's restrictions of t2 were not all lifted: $(grep restrict "b$f.err")"
	# A clean restart is not restricted.
	cluster_stop "$f"
	cluster_start "$f"
	cluster_wait_leader t1/0
	elog_wait_until 10 grep -q 'group=t1/0 role=follower' "b$f.err" || true
	run ! grep -q 'reason=unclean' "b$f.err"
}

@test "a damaged raft.state is survived from the other copy or the journal; a lost journal stops the broker with the file and why; SIGTERM hands leadership over" {
	start_all
	create t1 -c flush=always
	cluster_wait_leader t1/0
	local old=$LEADER
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 10)
	# SIGTERM on the leader: it hands over before it exits.
	cluster_stop "$old"
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	grep -q 'msg="handing leadership over" group=t1/0 to=' "b$old.err"
	cluster_wait_leader t1/0
	[ "$LEADER" != "$old" ]
	# One flipped byte in one copy of its raft.state: the other copy serves,
	# and the log says so.
	elog_flip_byte "d$old/t1/0/raft.state" 10
	cluster_start "$old"
	grep -q 'msg="raft state: one copy damaged, the other used" group=t1/0 ' "b$old.err"
	cluster_stop "$old"
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	# In both copies: the journal's record serves, and the file is written again.
	elog_flip_byte "d$old/t1/0/raft.state" 10
	elog_flip_byte "d$old/t1/0/raft.state" 4106
	cluster_start "$old"
	grep -q 'msg="raft state: raft.state damaged, the journal.s record used" group=t1/0 ' "b$old.err"
	cluster_wait_leader t1/0
	cluster_stop "$old"
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	# The journal lost: the raft.state files say their later states were in
	# it, and the broker refuses to start rather than use stale votes, again
	# at the next try.
	# (The metadata group's file rewritten as an earlier build left it, its
	# latest state in the file: it starts, and the partition's refuses; the
	# broker must not make the journal on its way out.)
	elog-raftstate "d$old/__meta/0" --flags 0
	mv "d$old/__meta/raft.journal" journal.saved
	local i
	for i in 1 2; do
		run -1 --separate-stderr timeout 30 elog-serve -d "d$old" -l "127.0.0.1:${PORTS[old]}" --id "$old" --cluster "$CLUSTER"
		assert_equal "$stderr" "elog-serve: cannot start: d$old/t1/0/raft.state: its later states are in d$old/__meta/raft.journal, which is missing: see \"Damaged raft state\" in docs/operations.md"
		[ ! -e "d$old/__meta/raft.journal" ]
	done
	mv journal.saved "d$old/__meta/raft.journal"
	cluster_start "$old"
	cluster_wait_leader t1/0
	run ! grep -q 'damaged' "b$old.err"
	# Files as a build before the journal left them (no journal flag, and
	# newer than the journal's records) are written again, with the flag,
	# at the next start: a journal lost after that is noticed too.
	cluster_stop "$old"
	elog-raftstate "d$old/__meta/0" --flags 0
	elog-raftstate "d$old/t1/0" --flags 0
	cluster_start "$old"
	cluster_stop "$old"
	mv "d$old/__meta/raft.journal" journal.saved
	run -1 --separate-stderr timeout 30 elog-serve -d "d$old" -l "127.0.0.1:${PORTS[old]}" --id "$old" --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d$old/__meta/0/raft.state: its later states are in d$old/__meta/raft.journal, which is missing: see \"Damaged raft state\" in docs/operations.md"
	mv journal.saved "d$old/__meta/raft.journal"
	cluster_start "$old"
}

@test "one flipped byte in a follower's segment: found at its restart, cut, and repaired from the leader" {
	start_all
	create t1 -c flush=always
	cluster_wait_leader t1/0
	local i
	for i in 1 2 3 4 5; do
		run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq $((i * 100 - 99)) $((i * 100)))
	done
	elog_wait_until 20 same_records t1/0 || fail "replicas differ"
	local f=$((LEADER % 3 + 1))
	cluster_stop "$f"
	# A byte in the middle of the segment: inside some batch's records.
	local seg="d$f/t1/0/00000000000000000000.log"
	elog_flip_byte "$seg" $(($(elog_file_size "$seg") / 2))
	cluster_start "$f"
	elog_wait_until 20 grep -q 'msg="damaged replica: cut and repaired from the leader" group=t1/0' "b$f.err" ||
		fail "damage not found: $(cat "b$f.err")"
	elog_wait_until 30 same_records t1/0 || fail "b$f was not repaired"
	elog_wait_until 30 grep -q 'msg="restriction lifted: caught up from the leader" group=t1/0' "b$f.err" ||
		fail "still restricted: $(cat "b$f.err")"
	cluster_wait_leader t1/0
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(seq 1 500)"
}

@test "an idempotent retry at a new leader returns the original offset, no duplicate" {
	elog_need elog-probe
	start_all
	create t1 -c flush=always
	cluster_wait_leader metadata
	run -0 elog-probe -b "$LADDR" init-producer
	local pid=${output#producer_id=}
	pid=${pid%% *}
	cluster_wait_leader t1/0
	local old=$LEADER
	run -0 elog-probe -b "$LADDR" produce t1 -a -1 -I "$pid" -E 0 -S 0 -n 5
	assert_regex "$output" '^partition=0 error=NONE base_offset=[0-9]+'
	local base=${output##*base_offset=}
	base=${base%% *}
	elog_wait_until 20 same_records t1/0 || fail "replicas differ"
	cluster_kill "$old"
	elog_wait_until 20 cluster_leader t1/0 || fail "no new leader"
	[ "$LEADER" != "$old" ]
	cluster_wait_leader t1/0
	# The producer did not hear the answer and sends the batch again.
	elog_wait_until 20 eval 'elog-probe -b "$LADDR" produce t1 -a -1 -I "$pid" -E 0 -S 0 -n 5 >retry.out 2>&1 && grep -q "error=NONE" retry.out' ||
		fail "the retry was not answered: $(cat retry.out)"
	assert_regex "$(cat retry.out)" "^partition=0 error=NONE base_offset=$base( |$)"
	run -0 elog-probe -b "$LADDR" produce t1 -a -1 -I "$pid" -E 0 -S 5 -n 5
	assert_regex "$output" "^partition=0 error=NONE base_offset=$((base + 5 + 1))( |$)"
	run -0 elog-probe -b "$LADDR" dump t1
	echo "$output" >dump.out
	[ "$(grep -c "value=value-" dump.out)" -eq 10 ] || fail "$(cat dump.out)"
}

@test "a RAFT frame from a broker not in the cluster, or to a broker alone, is dropped with a warning" {
	elog_need elog-probe
	# from 9 to 1, no messages; then a frame header too large, so the broker closes
	local frame=140000000b00010000000000090000000100000000000000000000800100010000000000
	cluster_start 1
	run -0 elog-probe -b "127.0.0.1:${PORTS[1]}" raw "$frame"
	elog_wait_until 10 grep -q 'msg="raft frame dropped" .* reason="from broker 9 to 1: not a peer of broker 1"' b1.err ||
		fail "no warning: $(cat b1.err)"
	elog_spawn alone elog-serve -d alone -l 127.0.0.1:0
	elog_broker_wait alone
	run -0 elog-probe -b "$ELOG_ADDR" raw "$frame"
	elog_wait_until 10 grep -q 'msg="raft frame dropped" .* reason="this broker is not in a cluster"' alone.err ||
		fail "no warning: $(cat alone.err)"
	[ ! -e alone/__meta/0/raft.state ]
}

# described_as PARTITION "REPLICAS ISR END" — topic t's describe line, through broker 1.
described_as() {
	[ "$(elog-topic -b "127.0.0.1:${PORTS[1]}" describe t |
		awk -F'\t' -v p="$1" '$1 == "partition" && $3 == p { print $5, $6, $8 }')" = "$2" ]
}

@test "five brokers, three replicas: a broker holding no replica names the leader, before and after a failover" {
	local i n
	cluster_ports 5
	for i in 1 2 3 4 5; do
		cluster_start "$i"
	done
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 -p 5 t
	# Placement: partition i on brokers i+1..i+3, so broker 1 holds no
	# replica of partitions 1 and 2; everything below goes through it alone.
	[ ! -e d1/t/1/raft.state ] || fail "broker 1 holds a replica of t/1"
	cluster_wait_leader t/2
	local old=$LEADER
	for n in 1 2; do
		seq 1 100 | sed "s/.*/{\"p$n\":&}/" >in$n
		run --separate-stderr elog-produce -b "127.0.0.1:${PORTS[1]}" -a all -p "$n" t <in$n
		[ "$status" -eq 0 ] || fail "produce to t/$n: $stderr"
	done
	for n in 1 2; do
		run -0 --separate-stderr elog-consume -b "127.0.0.1:${PORTS[1]}" -e "t:$n"
		assert_equal "$output" "$(cat in$n)"
	done
	# describe through broker 1 shows each partition as its leader sees it:
	# every replica in sync and the high watermark (100 records after the
	# leader's term-start batch), not broker 1's empty copy.
	elog_wait_until 10 described_as 1 "2,3,4 2,3,4 101" || fail "t/1: $(elog-topic -b "127.0.0.1:${PORTS[1]}" describe t)"
	elog_wait_until 10 described_as 2 "3,4,5 3,4,5 101" || fail "t/2: $(elog-topic -b "127.0.0.1:${PORTS[1]}" describe t)"
	# The leader of t/2 dies: its successor tells broker 1.
	cluster_kill "$old"
	elog_wait_until 20 eval 'cluster_leader t/2 && [ "$LEADER" != '"$old"' ]' ||
		fail "no new leader of t/2"
	seq 101 200 | sed 's/.*/{"p2":&}/' >more
	cat more >>in2
	run -0 elog-produce -b "127.0.0.1:${PORTS[1]}" -a all -p 2 --timeout 20s t <more
	run -0 --separate-stderr elog-consume -b "127.0.0.1:${PORTS[1]}" -e t:2
	assert_equal "$output" "$(cat in2)"
}

@test "a topic is created on first use through any broker: proposed once by the controller, committed, replicated" {
	local b
	start_all
	cluster_wait_leader metadata
	# (not i: bats's run uses that name)
	for b in 1 2 3; do
		seq 1 50 | sed "s/.*/{\"n\":&}/" >in$b
		run -0 elog-produce -b "127.0.0.1:${PORTS[b]}" auto$b <in$b
		run --separate-stderr elog-consume -b "127.0.0.1:${PORTS[b]}" -e auto$b
		[ "$status" -eq 0 ] || fail "consume auto$b: $stderr"
		assert_equal "$output" "$(cat in$b)"
		elog_wait_until 10 listed_everywhere auto$b || fail "auto$b is not on every broker"
	done
	# One proposal per topic, on the controller, and no duplicate create record.
	run -0 grep -c 'msg="topic proposed" topic=auto[123] .* reason=auto' "b$LEADER.err"
	assert_output 3
	run -1 grep -l 'metadata record not applied' b1.err b2.err b3.err
}

@test "partitions added to a topic in a cluster: placed, led, replicated; the old ones keep their replicas" {
	local before
	start_all
	create t -p 2
	before=$(elog-topic -b "$LADDR" describe t | awk -F'\t' '$1 == "partition" { print $3, $5 }')
	run -0 elog-topic -b "127.0.0.1:${PORTS[1]}" alter -p 4 t
	run -0 elog-topic -b "$LADDR" list
	assert_output --regexp "^t	4	"
	run -0 --separate-stderr elog-topic -b "$LADDR" describe t
	assert_equal "$(printf '%s\n' "$output" | awk -F'\t' '$1 == "partition" && $3 < 2 { print $3, $5 }')" "$before"
	seq 1 20 | sed 's/.*/{"n":&}/' >in
	run -0 elog-produce -b "127.0.0.1:${PORTS[2]}" -a all -p 3 --timeout 20s t <in
	run -0 --separate-stderr elog-consume -b "127.0.0.1:${PORTS[3]}" -e t:3
	assert_equal "$output" "$(cat in)"
	elog_wait_until 10 same_records t/3 || fail "t/3 differs between replicas"
	# Fewer partitions is refused, naming both counts.
	run -1 --separate-stderr elog-topic -b "$LADDR" alter -p 3 t
	assert_regex "$stderr" 'partitions can only grow: 3 is fewer than 4'
	# Past the topic's partition limit: refused by the controller, as alone.
	run -1 --separate-stderr elog-topic -b "$LADDR" alter -p 4000000 t
	assert_regex "$stderr" 'partition count 4000000 is outside \[1, [0-9]+\]'
}

# start_of I TOPIC/PARTITION — the log start broker I's log.start names (0 without one).
start_of() {
	local f=$ELOG_TMP/d$1/$2/log.start
	if [ -f "$f" ]; then awk '{ print $2 + 0; exit }' "$f"; else echo 0; fi
}

# starts_are TOPIC/PARTITION N — every replica's log start is N.
starts_are() {
	[ "$(start_of 1 "$1")" = "$2" ] && [ "$(start_of 2 "$1")" = "$2" ] && [ "$(start_of 3 "$1")" = "$2" ]
}

@test "purge in a cluster: replicated as a record, every replica's start moves once it commits, kept across a failover and a restart" {
	start_all
	create t1 -p 1 -c flush=always
	cluster_wait_leader t1/0
	local old=$LEADER f=$((LEADER % 3 + 1)) end
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 300)
	# Bootstrapped from a follower, the tool purges at the leader.
	run -0 --separate-stderr elog-topic -b "127.0.0.1:${PORTS[f]}" purge --before 100 t1
	assert_output "t1	0	0	100	100"
	elog_wait_until 10 starts_are t1/0 100 || fail "starts: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0)"
	# (offset 0 is the first leader's term start: value N is at offset N)
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(seq 100 300)"
	# A dry run and a purge past the high watermark move nothing.
	run -0 --separate-stderr elog-topic -b "$LADDR" purge -n --before 200 t1
	assert_output "t1	0	100	200	100"
	run -1 --separate-stderr elog-topic -b "$LADDR" purge --before 100000 t1
	assert_regex "$stderr" 'offset 100000 is past the high watermark'
	starts_are t1/0 100 || fail "a dry run or a refused purge moved a start"
	# The leader dies: its successor serves from the same start, and
	# purges to the end while the old leader is down ...
	cluster_kill "$old"
	cluster_wait_leader t1/0
	run -0 elog-consume -b "$LADDR" -e t1
	assert_equal "$output" "$(seq 100 300)"
	run -0 --separate-stderr elog-topic -b "$LADDR" purge --before end t1
	end=$(printf '%s\n' "$output" | awk -F'\t' '{ print $4 }')
	[ "$end" -gt 300 ] || fail "purge to the end: $output"
	# ... which the old leader follows once restarted.
	cluster_start "$old"
	elog_wait_until 20 starts_are t1/0 "$end" ||
		fail "starts: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0), not $end"
	run -0 elog-consume -b "$LADDR" -e t1
	assert_output ""
}

@test "purge in a cluster: a leader cut off from its followers moves no start for a purge that did not commit" {
	start_all
	create t1 -p 1 -c flush=always
	cluster_wait_leader t1/0
	local old=$LEADER a=$((LEADER % 3 + 1)) b=$(((LEADER + 1) % 3 + 1)) s
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 100)
	# At once, before the leader's check-quorum timeout (an election
	# timeout, 0.5 s): the purge is appended there and waits for a commit
	# that cannot come, until the leader steps down (the tool then finds no
	# leader and gives up).
	kill -STOP "$(elog_pid "b$a")" "$(elog_pid "b$b")"
	run -1 --separate-stderr elog-topic -b "$LADDR" --timeout 2s purge --before 50 t1
	s=$(start_of "$old" t1/0)
	elog-dump -r "$ELOG_TMP/d$old/t1/0" >dump
	kill -CONT "$(elog_pid "b$a")" "$(elog_pid "b$b")"
	[ "$s" = 0 ] || fail "the leader moved its start to $s for a purge that did not commit"
	grep -q 'key="elog.purge"' dump || fail "no purge record in the leader's log: $stderr"
	# After: the purge committed under some leader, or was cut with the
	# uncommitted tail; either way every replica agrees.
	cluster_wait_leader t1/0
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(echo 101)
	elog_wait_until 20 eval 'starts_are t1/0 0 || starts_are t1/0 50' ||
		fail "starts disagree: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0)"
}

@test "purge in a cluster: a leader lets 8 purges of a partition wait to commit, and refuses a 9th at once" {
	# Elections slow enough (3-6 s) for nine purges to reach the leader
	# before it steps down for want of its followers.
	printf 'raft_election_ticks = 60\n' >slow.conf
	start_all -c "$ELOG_TMP/slow.conf"
	create t1 -p 1 -c flush=always
	cluster_wait_leader t1/0
	local old=$LEADER a=$((LEADER % 3 + 1)) b=$(((LEADER + 1) % 3 + 1)) i pids=()
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 100)
	# At once after the followers stop (METADATA soon shows the partition
	# without a majority, and the tool would find no leader): eight purges
	# that wait for a commit that cannot come yet ...
	kill -STOP "$(elog_pid "b$a")" "$(elog_pid "b$b")"
	for i in 1 2 3 4 5 6 7 8; do
		elog-topic -b "$LADDR" --timeout 10s purge --before $((i * 5)) t1 >"purge.$i.out" 2>&1 &
		pids+=($!)
	done
	elog_wait_until 5 eval '[ "$(elog-dump -r "$ELOG_TMP/d$old/t1/0" | grep -c "key=\"elog.purge\"")" -eq 8 ]' ||
		fail "the leader did not take 8 purges: $(cat purge.*.out)"
	# ... and a ninth, straight to the leader (elog-topic retries the
	# refusal, TIMEOUT, until its own timeout): answered at once, nothing
	# appended. (Taken, it would wait for its commit, and raw's half-close
	# would drop it unanswered.)
	run -0 elog-probe -b "$LADDR" raw "$(elog_purge_frame 10000 0 t1 0:45)"
	local taken
	taken=$(elog-dump -r "$ELOG_TMP/d$old/t1/0" | grep -c 'key="elog.purge"')
	kill -CONT "$(elog_pid "b$a")" "$(elog_pid "b$b")"
	assert_output "frame api=0x800a correlation_id=1 error=NONE message=\"\"
closed"
	[ "$taken" -eq 8 ] || fail "$taken purges taken"
	for i in "${pids[@]}"; do
		wait "$i" || true
	done
	# Every replica agrees: the purges committed (or a prefix of them, under
	# a leader that had them), or were cut with the old leader's tail.
	cluster_wait_leader t1/0
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(echo 101)
	elog_wait_until 20 eval 'starts_are t1/0 "$(start_of "$LEADER" t1/0)"' ||
		fail "starts disagree: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0)"
}

@test "purge in a cluster: a follower killed before it learnt the purge committed applies it at its restart" {
	start_all
	create t1 -p 1 -c flush=always
	cluster_wait_leader t1/0
	local a=$((LEADER % 3 + 1)) b=$(((LEADER + 1) % 3 + 1))
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 100)
	# With b stopped the purge commits on a's acknowledgement; a learns of
	# the commit from the leader's next heartbeat, a tick later: killed now,
	# it restarts (most runs) with the purge batch and not its commit.
	kill -STOP "$(elog_pid "b$b")"
	run -0 --separate-stderr elog-topic -b "$LADDR" purge --before 50 t1
	cluster_kill "$a"
	kill -CONT "$(elog_pid "b$b")"
	cluster_start "$a"
	elog_wait_until 20 starts_are t1/0 50 ||
		fail "starts: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0)"
}

@test "purge in a cluster: a restart with a purge pending finds it again past a batch larger than one read" {
	elog_need elog-raftstate
	start_all
	create t1 -p 1 -c flush=always
	cluster_wait_leader t1/0
	local f=$((LEADER % 3 + 1)) flags
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 < <(seq 1 100)
	# A 2 MB record: a batch past the 1 MiB the start-up rescan reads at once.
	{ printf '"'; head -c 2000000 /dev/zero | tr '\0' x; printf '"\n'; } >big.in
	run -0 elog-produce --no-idempotence -b "$LADDR" -a all t1 <big.in
	run -0 --separate-stderr elog-topic -b "$LADDR" purge --before 50 t1
	elog_wait_until 10 starts_are t1/0 50 || fail "starts: $(start_of 1 t1/0) $(start_of 2 t1/0) $(start_of 3 t1/0)"
	# A follower stopped with its raft.state saying a purge is pending
	# from offset 0 (what a kill at the wrong moment leaves): its restart
	# reads the log from there, past the big batch, and finds the purge.
	cluster_stop "$f"
	flags=$(elog-raftstate "d$f/t1/0" | sed -n 's/.* flags=\([0-9]*\) .*/\1/p')
	run -0 elog-raftstate "d$f/t1/0" --flags $((flags | 2)) --commit 0
	cluster_start "$f"
	elog_wait_until 10 grep -q 'msg="purges not yet applied, noted again" group=t1/0 count=1 ' "b$f.err" ||
		fail "the purge was not found again: $(grep 'noted again' "b$f.err")"
	elog_wait_until 10 starts_are t1/0 50 || fail "b$f's start moved"
}
