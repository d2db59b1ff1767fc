#!/usr/bin/env bats
# elog-serve: startup and shutdown, the lock, topics, produce/fetch with every
# acks and flush setting, idempotence, crash safety, misbehaving clients and
# the connection bounds. Brokers listen on 127.0.0.1 port 0 in $ELOG_TMP;
# requests go through tests/tools/elog-probe (one request per run, answers as
# key=value lines).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-probe
	cd "$ELOG_TMP"
}

# Brokers stopped here (not by stop_broker) are not judged by exit status:
# under SANITIZE=1 their reports must fail the test all the same.
teardown() {
	local reports
	elog_stop_all
	reports=$(grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' -e '^==[0-9]*== ' \
		"$ELOG_TMP"/*.err 2>/dev/null | xargs -r cat)
	elog_teardown
	[ -z "$reports" ] || fail "sanitizer report: $reports"
}

USAGE='usage: elog-serve [-h] [--salvage-metadata] [--version] [-c file] [-d dir] [-l host:port] [--cluster list] [--id n]'

# start_broker NAME [ARGS...] — elog-serve on $ELOG_TMP/data, port 0; waits
# for the ready line and sets B=127.0.0.1:<port>.
start_broker() {
	local name=$1
	shift
	elog_spawn "$name" elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait "$name"
	B=$ELOG_ADDR
}

probe() {
	elog-probe -b "$B" "$@"
}

# stop_broker NAME — SIGTERM, expect exit 0.
stop_broker() {
	elog_stop "$1"
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "$1 exited $ELOG_STOP_STATUS: $(cat "$ELOG_TMP/$1.err")"
}

# spawn_free NAME CMD... — elog_spawn, with fd 5 (the tests' fifo writer) closed
# in the child, so that closing it in the test gives the reader EOF.
spawn_free() {
	local name=$1
	shift
	elog_spawn "$name" sh -c 'exec 5>&-; exec "$@"' sh "$@"
}

# values of every record of a partition, one per line
values() {
	probe dump "$@" | sed -n 's/.* value=\(.*\)$/\1/p'
}

# ---------------------------------------------------------------- command line

@test "--help, --version, bad options: exit 0, 0, 2" {
	run -0 --separate-stderr elog-serve --help
	assert_line --index 0 "$USAGE"
	assert_line --regexp '^  -d, --dir=DIR +data directory \(default \./elog-data\)$'
	assert_line --regexp '^  -l, --listen=HOST:PORT +address to serve on'
	assert_line --regexp '^  -c, --config=FILE +read settings from FILE'
	run -0 elog-serve --version
	assert_output --regexp '^elog-serve \(elog\) [0-9]+\.[0-9]+\.[0-9]+$'
	run -2 --separate-stderr elog-serve --bogus
	assert_equal "$stderr" "elog-serve: unrecognized option '--bogus'
$USAGE"
	run -2 --separate-stderr elog-serve -l nocolon
	assert_equal "$stderr" "elog-serve: --listen: \"nocolon\": expected HOST:PORT
$USAGE"
	run -2 --separate-stderr elog-serve extra
	assert_equal "$stderr" "elog-serve: unexpected argument \"extra\"
$USAGE"
}

@test "the man page synopsis is the usage line, and clean mdoc" {
	command -v groff >/dev/null || skip "groff is not installed"
	local synopsis
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-serve.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$USAGE"
	run -0 --separate-stderr groff -mdoc -Tutf8 -z -ww "$ELOG_REPO/man/elog-serve.1"
	assert_equal "$stderr" ""
}

@test "the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-serve --help
	help=$(grep -oE -- '(^| )--?[a-z][a-z-]*' <<<"$output" | tr -d ' ' | sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-serve" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)]--?[a-z][a-z-]*" "$ELOG_REPO/completions/zsh/_elog-serve" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-serve"
}

# ---------------------------------------------------------------- lifecycle

@test "ready line on stderr with the real port; data dir laid out; SIGTERM exits 0" {
	start_broker b1
	assert_regex "$(head -1 b1.err)" "^ts=[0-9T:.-]+Z level=info msg=ready listen=127\.0\.0\.1:[1-9][0-9]* dir=$ELOG_TMP/data topics=0 partitions=0$"
	[ -f data/.lock ] && [ -f data/__meta/0/log.meta ]
	run -0 probe metadata
	assert_line --index 0 "controller=0 broker=0@127.0.0.1:${B#*:}"
	stop_broker b1
	grep -q 'msg="shutting down" signal=TERM' b1.err
	grep -q 'msg=stopped' b1.err
	[ ! -s b1.out ]
}

@test "SIGTERM answers a parked fetch at once, and exits 0" {
	start_broker b1
	run -0 probe create sd -C flush=always
	elog_spawn fetch elog-probe -b "$B" fetch sd -w 60000 -A
	elog_wait_until 10 grep -q '^sent$' fetch.err || fail "fetch not sent"
	stop_broker b1
	elog_wait_until 10 grep -q '^error=' fetch.out || fail "the parked fetch was not answered"
	assert_regex "$(cat fetch.out)" '^error=NONE high_watermark=0 .* records=0 '
	local waited
	waited=$(sed -n 's/.*elapsed_ms=//p' fetch.out)
	[ "$waited" -lt 30000 ]
	grep -q 'msg="shutting down" signal=TERM connections=1 waiting=1' b1.err
}

@test "a second broker on the same directory is refused, exit 1" {
	start_broker b1
	run -1 --separate-stderr elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	assert_equal "$stderr" "elog-serve: cannot start: $ELOG_TMP/data: in use by another broker (pid $(elog_pid b1))"
	# the first one is unharmed
	run -0 probe metadata
}

@test "a port in use: one line, exit 1, and no new data directory left behind" {
	start_broker b1
	run -1 --separate-stderr elog-serve -d "$ELOG_TMP/fresh" -l "$B"
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-serve: cannot start: cannot listen on $B: Address already in use"
	[ ! -e "$ELOG_TMP/fresh" ]
	# the first one is unharmed
	run -0 probe metadata
}

@test "config file: values are used; a bad key or value names file:line, exit 1" {
	printf '# broker\n\nauto_create_topics = false\ndefault.partitions = 3\nmax_connections = 7\n' >good.conf
	start_broker b1 -c good.conf
	run -0 probe produce nothere
	assert_output --partial "error=UNKNOWN_TOPIC"
	run -0 probe create t
	run -0 probe describe t
	assert_line --index 0 --partial "topic=t error=NONE partitions=3 "
	stop_broker b1
	printf 'max_connections = 7\nbogus_key = 1\n' >bad.conf
	run -1 --separate-stderr elog-serve -d "$ELOG_TMP/d2" -l 127.0.0.1:0 -c bad.conf
	assert_equal "$stderr" 'elog-serve: bad.conf:2: unknown key "bogus_key"'
	printf 'default.flush = sometimes\n' >bad2.conf
	run -1 --separate-stderr elog-serve -l 127.0.0.1:0 -c bad2.conf
	assert_regex "$stderr" '^elog-serve: bad2.conf:1: default: flush: '
	printf 'idle_timeout\n' >bad3.conf
	run -1 --separate-stderr elog-serve -l 127.0.0.1:0 -c bad3.conf
	assert_equal "$stderr" 'elog-serve: bad3.conf:1: expected key = value'
	run -1 --separate-stderr elog-serve -c missing.conf
	assert_equal "$stderr" 'elog-serve: missing.conf: cannot open: No such file or directory'
}

@test "data survives a clean restart; topics replay from the metadata log" {
	start_broker b1
	run -0 probe create keep -p 2 -C retention.ms=7d -C flush=always
	run -0 probe produce keep -n 10 -k 3
	run -0 probe produce keep -P 1 -n 4
	run -0 probe create gone
	run -0 probe delete gone
	stop_broker b1
	start_broker b2
	assert_regex "$(grep msg=ready b2.err)" ' topics=1 partitions=2$'
	run -0 probe describe
	assert_line --index 0 "topic=keep error=NONE partitions=2 cleanup.policy=delete delete.retention.ms=86400000 flush=always max.batch.bytes=16777216 max.record.bytes=16777216 retention.bytes=-1 retention.ms=7d segment.bytes=134217728 segment.ms=0"
	assert_line --index 1 --regexp '^partition=0 log_start=0 high_watermark=30 '
	assert_line --index 2 --regexp '^partition=1 log_start=0 high_watermark=4 '
	assert_equal "$(values keep | head -3 | tr '\n' ' ')" "value-0 value-1 value-2 "
	assert_equal "$(values keep | wc -l)" 30
	[ ! -e data/gone ]
}

# ---------------------------------------------------------------- topics

@test "create, describe, alter, delete; names, configs and counts are checked" {
	start_broker b1
	run -0 probe create t1 -p 2 -C segment.bytes=1M -C flush=250ms -C max.record.bytes=1k
	assert_output "error=NONE"
	run -0 probe describe t1
	assert_line --index 0 "topic=t1 error=NONE partitions=2 cleanup.policy=delete delete.retention.ms=86400000 flush=250ms max.batch.bytes=16777216 max.record.bytes=1024 retention.bytes=-1 retention.ms=-1 segment.bytes=1048576 segment.ms=0"
	run -0 probe create t1
	assert_output 'error=TOPIC_EXISTS message="topic "t1" exists"'
	run -0 probe create 'bad/name'
	assert_output --partial "error=INVALID_TOPIC"
	run -0 probe create __internal
	assert_output --partial "error=INVALID_TOPIC"
	run -0 probe create t2 -C retention.ms=soon
	assert_output --regexp '^error=INVALID_CONFIG message="retention.ms: '
	run -0 probe create t2 -C colour=blue
	assert_output 'error=INVALID_CONFIG message="unknown config key "colour""'
	run -0 probe alter t1 -p 4 -C retention.bytes=1G -C flush=never
	assert_output "error=NONE"
	run -0 probe describe t1
	assert_line --index 0 --partial "partitions=4 cleanup.policy=delete delete.retention.ms=86400000 flush=never "
	assert_line --index 0 --partial " retention.bytes=1073741824 "
	assert_line --index 4 --regexp '^partition=3 log_start=0 high_watermark=0 '
	[ -d data/t1/3 ]
	run -0 probe alter t1 -p 2
	assert_output --regexp '^error=INVALID_REQUEST message="partitions can only grow'
	run -0 probe alter nope -p 2
	assert_output --partial "error=UNKNOWN_TOPIC"
	run -0 probe produce t1 -P 3 -n 2
	run -0 probe delete t1
	assert_output "error=NONE"
	[ ! -e data/t1 ]
	run -0 probe describe t1
	assert_output "topic=t1 error=UNKNOWN_TOPIC partitions=0"
	run -0 probe delete t1
	assert_output --partial "error=UNKNOWN_TOPIC"
	# a topic made again under the same name starts empty
	run -0 probe create t1 -p 4
	run -0 probe offsets t1 -P 3 -t -1
	assert_output "error=NONE offset=0"
}

@test "auto-creation: METADATA v2 when asked, PRODUCE v1 (old clients), never PRODUCE v2; off when configured" {
	printf 'default.partitions = 2\ndefault.flush = always\n' >on.conf
	start_broker b1 -c on.conf
	# metadata asked to create (a producer's first look-up)
	run -0 probe -c metadata fresh
	assert_line --index 1 "topic=fresh error=NONE partitions=2"
	run -0 probe describe fresh
	assert_line --index 0 --partial "topic=fresh error=NONE partitions=2 cleanup.policy=delete delete.retention.ms=86400000 flush=always "
	grep -q 'msg="topic created" topic=fresh partitions=2 reason=auto' b1.err
	run -0 probe -c metadata bad/name
	assert_line --index 1 "topic=bad/name error=INVALID_TOPIC partitions=0"
	# produce v2 never creates (a deleted topic stays deleted); v1 still does
	run -0 probe produce gone -n 1
	assert_output --regexp '^partition=0 error=UNKNOWN_TOPIC base_offset=-1 log_start=-1 message=no such topic$'
	run -0 probe -R 1 produce old -n 3
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	grep -q 'msg="topic created" topic=old partitions=2 reason=auto' b1.err
	# metadata without asking (and v1, which cannot ask), and fetch, never create
	run -0 probe metadata other
	assert_line --index 1 "topic=other error=UNKNOWN_TOPIC partitions=0"
	run -0 probe -R 1 metadata other
	assert_line --index 1 "topic=other error=UNKNOWN_TOPIC partitions=0"
	run -0 probe fetch other
	assert_output --partial "error=UNKNOWN_TOPIC"
	run -0 probe metadata gone
	assert_line --index 1 "topic=gone error=UNKNOWN_TOPIC partitions=0"
	stop_broker b1
	printf 'auto_create_topics = false\n' >off.conf
	start_broker b2 -c off.conf
	run -0 probe -c metadata other
	assert_line --index 1 "topic=other error=UNKNOWN_TOPIC partitions=0"
	run -0 probe -R 1 produce other -n 1
	assert_output --regexp '^partition=0 error=UNKNOWN_TOPIC base_offset=-1 log_start=-1 message=no such topic \(auto_create_topics is off\)'
	run -0 probe produce fresh -P 5 -n 1
	assert_output --partial "error=UNKNOWN_PARTITION"
}

# ---------------------------------------------------------------- produce / fetch

@test "produce acks 0, 1 and all (flush always, interval, never), then fetch everything" {
	start_broker b1
	run -0 probe create fa -C flush=always
	run -0 probe create fi -C flush=200ms
	run -0 probe create fn -C flush=never
	for t in fa fi fn; do
		run -0 probe produce "$t" -n 5 -a 1
		assert_output "partition=0 error=NONE base_offset=0 log_start=0"
		run -0 probe produce "$t" -n 5 -a -1 -s 5
		assert_output "partition=0 error=NONE base_offset=5 log_start=0"
		run -0 probe produce "$t" -n 5 -a 0 -s 10 -k 2
		assert_output "sent=2"
		# acks=0 has no answer: the fetch after it shows whether it landed
		elog_wait_until 10 sh -c "elog-probe -b $B offsets $t -t -1 | grep -q 'offset=20'"
		run -0 probe fetch "$t" -x 100000
		assert_output --regexp "^error=NONE high_watermark=20 log_start=0 batches=4 records=20 "
		assert_equal "$(values "$t" | tr '\n' ' ')" "$(for i in $(seq 0 19); do printf 'value-%s ' "$i"; done)"
	done
	# acks=all on flush=interval waited for the fsync: flushed offset reached the batch
	run -1 grep 'level=error' b1.err
}

@test "fetch: from the middle, past the end, max_bytes, and the first batch always whole" {
	start_broker b1
	run -0 probe create f
	run -0 probe produce f -n 10 -k 5 -V 100
	run -0 probe fetch f -o 15 -r
	assert_line --index 0 --regexp '^offset=15 '
	assert_line --regexp '^error=NONE high_watermark=50 log_start=0 batches=4 records=35 '
	run -0 probe fetch f -o 51
	assert_output --regexp '^error=OFFSET_OUT_OF_RANGE high_watermark=50 .* message=offset 51 is outside \[0, 50\]$'
	run -0 probe fetch f -o 0 -x 10
	assert_output --regexp '^error=NONE high_watermark=50 log_start=0 batches=1 records=10 '
	run -0 probe fetch f -o 50 -w 0
	assert_output --regexp '^error=NONE high_watermark=50 log_start=0 batches=0 records=0 '
}

@test "long-poll: a parked fetch wakes on append, well before max_wait; else it times out" {
	start_broker b1
	run -0 probe create lp -C flush=always
	run -0 probe fetch lp -w 300
	assert_output --regexp '^error=NONE high_watermark=0 .* records=0 '
	local waited=${output##*elapsed_ms=}
	[ "$waited" -ge 250 ] || fail "returned after ${waited}ms, before max_wait"
	elog_spawn fetch elog-probe -b "$B" fetch lp -w 20000 -r -A
	elog_wait_until 10 grep -q '^sent$' fetch.err || fail "fetch not sent: $(cat fetch.err)"
	run -0 probe produce lp -n 1
	elog_wait_until 15 grep -q '^error=' fetch.out || fail "fetch did not wake"
	run -0 cat fetch.out
	assert_line --index 0 --regexp '^offset=0 .* key=key-0 value=value-0$'
	waited=${lines[1]##*elapsed_ms=}
	[ "$waited" -lt 10000 ] || fail "woke only after ${waited}ms"
}

@test "list offsets: earliest, latest, by timestamp" {
	start_broker b1
	run -0 probe create lo
	run -0 probe produce lo -n 10 -k 3 -t 1700000000000
	run -0 probe offsets lo -t -2
	assert_output "error=NONE offset=0"
	run -0 probe offsets lo -t -1
	assert_output "error=NONE offset=30"
	run -0 probe offsets lo -t 1700000000013
	assert_output "error=NONE offset=13"
	run -0 probe offsets lo -t 1800000000000
	assert_output "error=NONE offset=30"
	run -0 probe offsets lo -P 9 -t -1
	assert_output --partial "error=UNKNOWN_PARTITION"
}

@test "max.record.bytes and max.batch.bytes are enforced, nothing appended" {
	start_broker b1
	run -0 probe create small -C max.batch.bytes=4k -C max.record.bytes=1k
	run -0 probe produce small -n 1 -V 2000
	assert_output --regexp '^partition=0 error=BATCH_TOO_LARGE .* message=batch 0: record 0: [0-9]+ bytes of key, value and headers exceed max.record.bytes 1024$'
	run -0 probe produce small -n 5 -V 900
	assert_output --regexp '^partition=0 error=BATCH_TOO_LARGE .* message=batch 0: size [0-9]+ exceeds max.batch.bytes 4096$'
	run -0 probe offsets small -t -1
	assert_output "error=NONE offset=0"
}

# ---------------------------------------------------------------- idempotence

@test "idempotent producer: a retry returns the first offset and appends nothing" {
	start_broker b1
	run -0 probe create idem -C flush=always
	run -0 probe init-producer
	assert_output --regexp '^producer_id=[0-9]+ epoch=0$'
	local pid=${output#producer_id=}
	pid=${pid%% *}
	run -0 probe produce idem -n 3 -I "$pid" -S 0
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	run -0 probe produce idem -n 3 -I "$pid" -S 3
	assert_output "partition=0 error=NONE base_offset=3 log_start=0"
	# the same batch again (a retry): the same offsets, nothing new
	run -0 probe produce idem -n 3 -I "$pid" -S 3
	assert_output "partition=0 error=NONE base_offset=3 log_start=0"
	run -0 probe produce idem -n 3 -I "$pid" -S 0
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	run -0 probe offsets idem -t -1
	assert_output "error=NONE offset=6"
	# a gap, an unknown producer, an old epoch
	run -0 probe produce idem -n 1 -I "$pid" -S 10
	assert_output --regexp "^partition=0 error=OUT_OF_ORDER_SEQUENCE base_offset=-1 .* message=producer $pid epoch 0: sequence 10 is out of order$"
	run -0 probe produce idem -n 1 -I 999999 -S 5
	assert_output --partial "error=UNKNOWN_PRODUCER"
	run -0 probe produce idem -n 1 -I "$pid" -E 1 -S 0
	assert_output "partition=0 error=NONE base_offset=6 log_start=0"
	run -0 probe produce idem -n 1 -I "$pid" -E 0 -S 6
	assert_output --partial "error=PRODUCER_FENCED"
	run -0 probe offsets idem -t -1
	assert_output "error=NONE offset=7"
	# producer ids are never handed out twice, across restarts too
	stop_broker b1
	start_broker b2
	run -0 probe init-producer
	local pid2=${output#producer_id=}
	[ "${pid2%% *}" -gt "$pid" ]
	# the state is rebuilt from the log: the retry is still known
	run -0 probe produce idem -n 1 -I "$pid" -E 1 -S 0
	assert_output "partition=0 error=NONE base_offset=6 log_start=0"
	run -0 probe produce idem -n 1 -I "$pid" -E 1 -S 1
	assert_output "partition=0 error=NONE base_offset=7 log_start=0"
	run -0 probe offsets idem -t -1
	assert_output "error=NONE offset=8"
}

# ---------------------------------------------------------------- crashes

@test "kill -9 under acks=all flush=always: every acknowledged record is there once" {
	start_broker b1
	run -0 probe create crash -C flush=always -C segment.bytes=16k
	# 400 batches of 5 records, one at a time, each printed when acknowledged
	elog_spawn producer elog-probe -b "$B" produce crash -a -1 -n 5 -k 400 -V 50
	elog_wait_until 30 sh -c "[ \$(grep -c 'error=NONE' $ELOG_TMP/producer.out) -ge 40 ]" ||
		fail "producer too slow: $(cat producer.out producer.err)"
	kill -KILL "$(elog_pid b1)"
	elog_stop b1
	elog_stop producer
	local acked
	acked=$(grep -c 'error=NONE' producer.out)
	[ "$acked" -ge 40 ]
	start_broker b2
	values crash >got
	# every acknowledged batch k holds records 5k..5k+4; all present, exactly once, in order
	sort got | uniq -d >dups
	[ ! -s dups ] || fail "duplicates: $(head dups)"
	for i in $(seq 0 $((acked * 5 - 1))); do echo "value-$i"; done >want
	head -n $((acked * 5)) got | sed 's/\.*$//' >gotacked
	diff want gotacked
	grep -q 'msg=ready' b2.err
}

# ---------------------------------------------------------------- bad clients

@test "a garbage frame and an oversized frame close only their own connection" {
	start_broker b1
	run -0 probe create t
	run -0 probe produce t -n 2
	run -0 probe oversize
	assert_output 'frame api=0x8007 correlation_id=77 error=FRAME_TOO_LARGE message="frame of 2147483648 bytes exceeds the limit of 68157440"
closed'
	run -0 probe garbage 4096
	assert_line --index 0 --regexp '^frame api=0x[0-9a-f]{4} correlation_id=[0-9]+ error=FRAME_TOO_LARGE '
	assert_line --index 1 closed
	# a frame shorter than a header
	run -0 probe raw 030000000100010009000000
	assert_line --index 0 --regexp 'error=INVALID_REQUEST message="frame length 3 is shorter than a frame header"'
	# a body that does not parse: named, and closed
	run -0 probe raw 0e000000010001000900000005000000ffff
	assert_line --index 0 'frame api=0x8001 correlation_id=9 error=INVALID_REQUEST message="malformed topics at byte 4 of the body"'
	assert_line --index 1 closed
	# unknown api and version: answered, the connection stays for the next frame
	run -0 probe raw 0800000063000100010000000c0000000100030002000000000000000c000000010001000300000000000000
	assert_line --index 0 'frame api=0x8063 correlation_id=1 error=UNSUPPORTED_API message="unknown api 99"'
	assert_line --index 1 'frame api=0x8001 correlation_id=2 error=UNSUPPORTED_VERSION message="version 3 of METADATA is not supported (this broker speaks 1 to 2)"'
	assert_line --index 2 --regexp 'frame api=0x8001 correlation_id=3 error=NONE'
	# everyone else is served as before
	run -0 probe fetch t
	assert_output --regexp '^error=NONE high_watermark=2 '
	run -0 probe pipeline 200
	assert_output "ok=200"
}

@test "a client that stops reading does not disturb others, and is closed when stalled" {
	printf 'connection_buffer_bytes = 64k\nidle_timeout = 1s\n' >b.conf
	start_broker b1 -c b.conf
	run -0 probe create big
	run -0 probe produce big -n 50 -k 20 -V 1000
	mkfifo hold.in
	exec 5<>hold.in
	spawn_free stall sh -c "elog-probe -b $B stall big -k 2000 -x 1000000 <$ELOG_TMP/hold.in"
	elog_wait_until 20 grep -q stalled stall.out || fail "staller did not start: $(cat stall.err)"
	# others are served at once while it stalls
	run -0 probe fetch big -x 100000
	assert_output --regexp '^error=NONE high_watermark=1000 '
	run -0 probe produce big -n 1
	# the broker holds it back and then closes it
	elog_wait_until 20 grep -q 'reason="stalled: the client does not read"' b1.err ||
		fail "not closed: $(cat b1.err)"
	exec 5>&-
	run -0 probe pipeline 50
	assert_output "ok=50"
}

@test "max_connections: the oldest idle connection makes room for a new one" {
	printf 'max_connections = 3\n' >c.conf
	start_broker b1 -c c.conf
	mkfifo hold.in
	exec 5<>hold.in
	spawn_free holder sh -c "elog-probe -b $B hold 3 <$ELOG_TMP/hold.in"
	elog_wait_until 10 grep -q 'held 3' holder.out
	# served at once: one of the three idle connections is closed for it
	run -0 probe metadata
	assert_line --index 0 --regexp '^controller=0 '
	assert_equal "$(grep -c 'reason="evicted at max_connections: idle the longest"' b1.err)" 1
	exec 5>&-
}

# ---------------------------------------------------------------- retention

@test "retention deletes old segments in the background" {
	printf 'retention_check_interval = 200ms\n' >r.conf
	start_broker b1 -c r.conf
	run -0 probe create r -C segment.bytes=4k -C retention.bytes=8k -C flush=always
	run -0 probe produce r -n 10 -k 20 -V 100
	elog_wait_until 10 sh -c "elog-probe -b $B offsets r -t -2 | grep -qv 'offset=0$'" ||
		fail "log start did not move"
	grep -q 'msg=retention topic=r partition=0 segments_deleted=' b1.err
	run -0 probe fetch r -o 0
	assert_output --partial "error=OFFSET_OUT_OF_RANGE"
}
