#!/usr/bin/env bats
# elog-serve under hostile clients: memory and time are bounded per client
# and in total (issue 6, part 3). The attackers are tests/tools/elog-hostile
# (many connections each, until SIGTERM); the broker's memory is read from
# /proc/PID/status (VmRSS now, VmHWM the peak); the well-behaved client is
# elog-hostile roundtrip, which produces and fetches through libcore's client.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-probe elog-hostile
	cd "$ELOG_TMP"
}

# The attackers go first: a broker stopping waits (shutdown_timeout) for
# answers its unread clients would never take.
teardown() {
	local reports i
	for ((i = ${#ELOG_PIDS[@]} - 1; i >= 0; i--)); do
		elog_stop "${ELOG_PIDS[i]}"
	done
	ELOG_PIDS=()
	reports=$(grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' -e '^==[0-9]*== ' \
		"$ELOG_TMP"/*.err 2>/dev/null | xargs -r cat)
	elog_teardown
	[ -z "$reports" ] || fail "sanitizer report: $reports"
}

# start_broker NAME [ARGS...] — as in 020-serve.bats; sets B and BPID.
start_broker() {
	local name=$1
	shift
	elog_spawn "$name" elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait "$name"
	B=$ELOG_ADDR
	BPID=$(elog_pid "$name")
}

probe() {
	elog-probe -b "$B" "$@"
}

hostile() {
	elog-hostile -b "$B" "$@"
}

# status_kib FIELD — VmRSS or VmHWM of the broker, in KiB.
status_kib() {
	sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$BPID/status"
}

# Memory figures mean nothing under AddressSanitizer (shadow memory, a
# quarantine of freed blocks): the attacks still run, the bounds are not judged.
sanitized() {
	ldd "$(command -v elog-serve)" 2>/dev/null | grep -q libasan
}

# judge_growth WHAT BASE_KIB LIMIT_MIB — the broker's peak RSS above BASE
# stays under LIMIT; the figure goes to the TAP output.
judge_growth() {
	local what=$1 base=$2 limit=$3 peak
	peak=$(status_kib VmHWM)
	echo "# $what: broker peak RSS $((peak / 1024)) MiB, $(((peak - base) / 1024)) MiB above idle (bound ${limit} MiB)" >&3
	sanitized && return 0
	[ $((peak - base)) -lt $((limit * 1024)) ] ||
		fail "$what: the broker grew by $(((peak - base) / 1024)) MiB (bound $limit MiB)"
}

# grown_past BASE_KIB LIMIT_MIB — the broker's peak RSS passed BASE + LIMIT
# (to poll with elog_wait_until: "run -1" means it stayed under).
grown_past() {
	sanitized && return 1
	[ $(($(status_kib VmHWM) - $1)) -ge $(($2 * 1024)) ]
}

# spawn_attack NAME ARGS... — elog-hostile ARGS in the background; waits
# for its ready line.
spawn_attack() {
	local name=$1
	shift
	elog_spawn "$name" elog-hostile -b "$B" "$@"
	elog_wait_until 60 grep -q '^ready ' "$name.out" ||
		fail "$name did not get going: $(cat "$name.out" "$name.err")"
}

# fill_topic TOPIC — about 64 MiB in 4 MiB batches, for fetches that answer big.
fill_topic() {
	run -0 probe create "$1"
	run -0 probe produce "$1" -n 64 -k 17 -V 65000
	assert_line --index 16 --regexp '^partition=0 error=NONE base_offset=1024 '
}

# ---------------------------------------------------------------- memory

@test "unfinished huge frames: read buffers grow as bytes arrive, within max_buffered_bytes" {
	printf 'max_buffered_bytes = 16M\nrequest_timeout = 3s\n' >b.conf
	start_broker b1 -c b.conf
	local base
	base=$(status_kib VmRSS)
	# 10 connections, each a 60 MiB frame but for its last byte: 600 MiB offered
	spawn_attack partial partial 10 60M
	run -1 elog_wait_until 2 grown_past "$base" 100
	# small requests still go through at once
	run -0 probe create small
	run -0 probe produce small -n 3
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	run -0 probe fetch small
	assert_output --regexp '^error=NONE high_watermark=3 '
	# and the stalled frames end with the request timeout
	elog_wait_until 20 sh -c "[ \$(grep -c 'reason=\"request timeout: ' b1.err) -ge 10 ]" ||
		fail "not closed: $(grep -c 'request timeout' b1.err)"
	assert_regex "$(grep -m1 'request timeout' b1.err)" 'reason="request timeout: [0-9]+ of the frame.s 62914560 bytes in [0-9]+ms"$'
	# the broker took 16M (the budget) plus one frame finishing past it (the lane)
	judge_growth "10 unfinished 60 MiB frames" "$base" 100
}

@test "concurrent big produces all complete under a small budget (no deadlock)" {
	printf 'max_buffered_bytes = 4M\n' >b.conf
	start_broker b1 -c b.conf
	run -0 probe create bp
	# 8 frames of 3 MiB arriving at once: 24 MiB against a 4 MiB budget
	run -0 hostile bigproduce 8 bp 3M
	assert_output "ok=8 of 8"
	run -0 probe offsets bp -t -1
	assert_output "error=NONE offset=384"
}

@test "unread pipelined fetches: answers stream from the segment files, not memory" {
	start_broker b1
	fill_topic big
	local base
	base=$(status_kib VmRSS)
	# 20 clients, each 4 pipelined fetches of 64 MiB it never reads (5 GiB of answers)
	spawn_attack unread unread 20 big 64M 4
	# while the broker answers them (building 64 MiB answers took seconds)
	run -1 elog_wait_until 3 grown_past "$base" 32
	judge_growth "20 clients with 4 unread 64 MiB fetches each" "$base" 32
	run -0 probe fetch big -o 1000 -x 100000
	assert_output --regexp '^error=NONE high_watermark=1088 '
	run -0 probe produce big -n 1
	assert_output --regexp 'error=NONE base_offset=1088 '
}

@test "a big fetch answer is whole and correct: every record, in order" {
	printf 'max_buffered_bytes = 1M\n' >b.conf
	start_broker b1 -c b.conf
	run -0 probe create whole
	run -0 probe produce whole -n 500 -k 40 -V 200
	# the answers are bigger than the budget and than a chunk: they stream
	run -0 probe dump whole -x 3000000
	assert_equal "${#lines[@]}" 20000
	assert_equal "$(values_of "$output" | head -1)" "value-0"
	assert_equal "$(values_of "$output" | tail -1)" "value-19999"
	assert_equal "$(sed -n 's/^offset=\([0-9]*\) .*/\1/p' <<<"$output" | awk 'NR - 1 != $1 { bad = 1 } END { print bad + 0 }')" 0
}

values_of() {
	sed -n 's/.* value=\(value-[0-9]*\).*$/\1/p' <<<"$1"
}

# ---------------------------------------------------------------- requests

@test "a request naming a partition (or topic) twice, or more than exist, is refused at once" {
	start_broker b1
	run -0 probe create two -p 2
	run -0 probe produce two -n 1
	# the issue's 15 MB fetch: one partition named a million times
	run -0 hostile dupfetch two 1000000
	assert_line --index 1 --regexp '^frame_bytes=[0-9]+ error=INVALID_REQUEST message="topic "two" is named with 1000000 partitions; it has 2" elapsed_ms=[0-9]+$'
	run -0 hostile dupfetch two 2
	assert_line --index 1 --regexp 'error=INVALID_REQUEST message="topic "two" partition 0 is named twice"'
	run -0 hostile fetchall two 3 1M 1M
	assert_line --index 1 --regexp 'error=INVALID_REQUEST message="topic "two" is named with 3 partitions; it has 2"'
	# unknown topics: up to 1024 partitions are answered one by one
	run -0 hostile fetchall nosuch 1024 1k 1M
	assert_line --index 1025 --regexp '^partition=1023 error=UNKNOWN_TOPIC bytes=0$'
	run -0 hostile fetchall nosuch 1025 1k 1M
	assert_line --index 1 --regexp 'error=INVALID_REQUEST message="more than 1024 partitions of unknown topics"'
	# produce too: nothing is appended
	run -0 hostile dupproduce two 2
	assert_output 'error=INVALID_REQUEST message="topic "two" partition 0 is named twice"'
	run -0 probe offsets two -t -1
	assert_output "error=NONE offset=1"
	# topic names too
	run -0 probe metadata two two
	assert_output 'error=INVALID_REQUEST message="topic "two" is named twice"'
	run -0 probe describe nosuch two nosuch
	assert_output 'error=INVALID_REQUEST message="topic "nosuch" is named twice"'
	# the broker is fine
	run -0 hostile fetchall two 2 1M 1M
	assert_line --index 1 --regexp '^frame_bytes=[0-9]+ error=NONE$'
}

@test "no fetch answer exceeds max_frame_bytes, whatever max_bytes asks" {
	printf 'max_frame_bytes = 1M\ndefault.max.batch.bytes = 600k\ndefault.max.record.bytes = 600k\n' >b.conf
	start_broker b1 -c b.conf
	run -0 probe create wide -p 4
	for p in 0 1 2 3; do
		run -0 probe produce wide -P "$p" -n 5 -V 100000
	done
	# partition max_bytes 1: each partition's first batch (500 kB) would go whole
	run -0 hostile fetchall wide 4 1 64M
	local size=${lines[1]#frame_bytes=}
	size=${size%% *}
	[ "$size" -le 1048576 ] || fail "an answer of $size bytes, over max_frame_bytes"
	assert_line --index 1 --regexp '^frame_bytes=[0-9]+ error=NONE$'
	assert_line --index 2 --regexp '^partition=0 error=NONE bytes=5[0-9]{5}$'
	assert_line --index 3 --regexp '^partition=1 error=NONE bytes=0$'
	assert_line --index 6 --regexp ' partitions_with_data=1 '
	# with room, whole batches up to the frame: two of them fit in 1 MiB
	run -0 hostile fetchall wide 4 1M 64M
	size=${lines[1]#frame_bytes=}
	size=${size%% *}
	[ "$size" -le 1048576 ] || fail "an answer of $size bytes, over max_frame_bytes"
	assert_line --index 6 --regexp ' partitions_with_data=2 '
}

# ---------------------------------------------------------------- time

@test "a frame must arrive within request_timeout: a trickle is closed, idle_timeout or not" {
	printf 'request_timeout = 1s\nidle_timeout = 10m\n' >b.conf
	start_broker b1 -c b.conf
	# 1 byte a second of a 1 MiB frame: progress, but never a frame in time
	spawn_attack trickle trickle 5 1M
	elog_wait_until 15 sh -c "[ \$(grep -c 'reason=\"request timeout: ' b1.err) -ge 5 ]" ||
		fail "trickles not closed: $(cat b1.err)"
	# a connection with nothing unfinished is not hurried
	mkfifo hold.in
	exec 5<>hold.in
	elog_spawn holder sh -c "exec 5>&-; exec elog-hostile -b $B idle 1 <$ELOG_TMP/hold.in"
	elog_wait_until 10 grep -q '^ready ' holder.out
	run -1 elog_wait_until 2 grep -q 'reason=idle' b1.err
	exec 5>&-
}

@test "2000 idle connections: the oldest idle is closed for a new client" {
	printf 'max_connections = 100\n' >b.conf
	start_broker b1 -c b.conf
	spawn_attack idle idle 2000
	run -0 probe metadata
	assert_line --index 0 --regexp '^controller=0 '
	[ "$(grep -c 'reason="evicted at max_connections: idle the longest"' b1.err)" -ge 1900 ]
}

@test "connections waiting for answers are not evicted: at the limit the broker waits" {
	printf 'max_connections = 3\n' >b.conf
	start_broker b1 -c b.conf
	run -0 probe create lp
	spawn_attack longpoll longpoll 3 lp 0
	elog_spawn waiting elog-probe -b "$B" metadata
	# in the kernel's backlog, not served while the three wait for data
	run -1 elog_wait_until 1 test -s waiting.out
	elog_stop longpoll
	elog_wait_until 15 grep -q '^controller=0' waiting.out || fail "not served after a slot freed"
}

# ---------------------------------------------------------------- integrity

@test "a batch that fails its CRC on the way out is not served: recorded as damage, the connection closed mid-answer" {
	start_broker b1
	run -0 probe create dmg -C flush=always
	run -0 probe produce dmg -n 10 -k 3 -V 100
	# flip a record byte of the second batch in the live segment (the page cache)
	local second log=data/dmg/0/00000000000000000000.log
	second=$(($(elog_file_size $log) / 3))
	elog_flip_byte $log $((second + 200))
	# a small answer is read and checked before it is sent: the good batch
	# before the damage goes, the damage is recorded, a read of it fails
	run -0 probe fetch dmg -x 1000000
	assert_output --regexp '^error=NONE high_watermark=30 log_start=0 batches=1 records=10 '
	grep -q 'level=error msg="damaged data" topic=dmg partition=0 .* offsets=10-19 ' b1.err
	run -0 probe fetch dmg -o 10
	assert_output --regexp '^error=DATA_DAMAGED high_watermark=30 .* message=.*offsets 10-19 are damaged'
	# a big answer streams from the file: the damage is found after its start
	# went out; the connection is closed before the batch's end, the damage
	# recorded, and the next fetch stops before it
	run -0 probe create big -C flush=always
	run -0 probe produce big -n 100 -k 10 -V 1000
	log=data/big/0/00000000000000000000.log
	elog_flip_byte $log $(($(elog_file_size $log) / 2 + 500))
	run -1 probe fetch big -x 2000000
	assert_output --partial "the broker closed the connection"
	grep -q 'level=error msg="damaged batch not served" topic=big partition=0 offset=500 ' b1.err
	grep -q 'reason="damaged batch at offset 500: batch at offset 500: crc ' b1.err
	grep -q 'level=error msg="damaged data" topic=big partition=0 .* offsets=500-599 ' b1.err
	run -0 probe fetch big -x 2000000
	assert_output --regexp '^error=NONE high_watermark=1000 log_start=0 batches=5 records=500 '
	run -0 probe fetch big -o 500
	assert_output --regexp '^error=DATA_DAMAGED '
}

# ---------------------------------------------------------------- all at once

@test "every attack at once: RSS under 256 MiB above idle, round trip under 100 ms" {
	printf 'request_timeout = 3s\n' >b.conf
	start_broker b1 -c b.conf
	fill_topic big
	run -0 probe create rt
	local base samples=0 max_rss=0 rss
	base=$(status_kib VmRSS)
	spawn_attack partial -R partial 20 60M
	spawn_attack unread -R unread 60 big 64M 4
	spawn_attack trickle -R trickle 50 1M
	spawn_attack idle idle 2000
	# the 15 MB fetch naming one partition a million times, meanwhile
	elog_spawn dup elog-hostile -b "$B" dupfetch big 1000000
	elog_spawn rt elog-hostile -b "$B" roundtrip rt 100 20
	# sample the RSS while the client works
	while ! elog_exited "$(elog_pid rt)"; do
		rss=$(status_kib VmRSS)
		[ "$rss" -gt "$max_rss" ] && max_rss=$rss
		samples=$((samples + 1))
		sleep 0.05
	done
	elog_stop rt
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "round trips failed: $(cat rt.err)"
	echo "# all attacks: RSS sampled $samples times, at most $(((max_rss - base) / 1024)) MiB above idle ($((base / 1024)) MiB)" >&3
	judge_growth "all attacks" "$base" 256
	local dist
	dist=$(tail -1 rt.out)
	echo "# well-behaved round trips under attack: $dist" >&3
	assert_regex "$dist" '^roundtrips=100 '
	local p50 p90
	p50=$(sed -n 's/.* p50_us=\([0-9]*\) .*/\1/p' <<<"$dist")
	p90=$(sed -n 's/.* p90_us=\([0-9]*\) .*/\1/p' <<<"$dist")
	# The issue's bound is on the typical round trip; the tail on a shared
	# 2-core machine, with the attackers' own processes on it, belongs to the
	# scheduler (the figures above say how it went), but a stall of the
	# broker would show in it: that is bounded too, loosely. (Time is not
	# judged under AddressSanitizer: it is several times slower.)
	if ! sanitized; then
		[ "$p50" -lt 100000 ] || fail "median round trip ${p50}us"
		[ "$p90" -lt 500000 ] || fail "90th percentile round trip ${p90}us"
	fi
	# the attacks were met: stalled frames timed out (request_timeout 3s
	# after their first byte: the round trips may be done before that, so
	# wait for it), idle ones evicted
	elog_wait_until 15 grep -q 'reason="request timeout: ' b1.err ||
		fail "no request timed out"
	elog_wait_until 15 grep -q 'reason="evicted at max_connections: idle the longest"' b1.err ||
		fail "no connection evicted"
	# the big fetch was refused, or (its 15 MB waiting behind the stalled
	# frames for memory) closed at its request timeout: bounded either way
	elog_wait_until 30 elog_exited "$(elog_pid dup)"
	grep -q 'error=INVALID_REQUEST message="topic "big" is named with 1000000 partitions' dup.out ||
		grep -q "reason=\"request timeout: [0-9]* of the frame's 16000037 bytes" b1.err ||
		fail "the duplicate fetch: $(cat dup.out dup.err)"
	echo "# the duplicate-partition fetch: $(grep -o 'error=[A-Z_]*' dup.out || echo 'closed at its request timeout')" >&3
}
