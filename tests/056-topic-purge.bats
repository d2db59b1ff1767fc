#!/usr/bin/env bats
# elog-topic purge (DELETE_RECORDS, Kafka's delete-records) against a real
# elog-serve: partitions' log starts move up by offset, time, -N and end;
# consumers, list offsets and describe see the new start at once, and a
# restart keeps it; the segments below it are deleted at once; a dry run
# changes nothing; a start never moves down, an offset past the end is an
# error for that partition only; a damaged log.start hides nothing;
# usage errors exit 2.

bats_require_minimum_version 1.5.0
load helpers

# Records of fill are stamped T0 + offset seconds (2023-11-14T22:13:20Z + n s).
T0=1700000000000

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
}

# start_broker NAME [KEY=VALUE...] — elog-serve on data/ with those config keys.
start_broker() {
	local name=$1 kv
	shift
	: >"$name.conf"
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$name.conf"
	done
	elog_spawn "$name" elog-serve -c "$ELOG_TMP/$name.conf" -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait "$name"
	export ELOG_BROKERS=$ELOG_ADDR
}

# fill TOPIC PARTITION COUNT — COUNT records into the partition: record N
# (from 0) has the value P * 10000 + N, a 60-byte key and the timestamp
# T0 + N s (the first fill of a partition: record N at offset N). About 6
# records a batch: a 1k segment holds two or three batches.
fill() {
	awk -v p="$2" -v n="$3" -v t0="$T0" 'BEGIN {
		key = sprintf("%60s", ""); gsub(/ /, "k", key)
		for (i = 0; i < n; i++)
			printf "{\"timestamp\":%.0f,\"key\":\"%s\",\"value\":%d}\n", t0 + i * 1000, key,
				p * 10000 + i }' |
		elog-produce -q --json -p "$2" --batch-size 512 "$1"
}

# start_of TOPIC PARTITION — the START column of describe's TSV.
start_of() {
	elog-topic describe "$1" | awk -F '\t' -v p="$2" '$1 == "partition" && $3 == p { print $7 }'
}

# retained TOPIC — retention deleted what it will: partition 0 holds 3k at
# most (its retention.bytes), so no round deletes more.
retained() {
	grep -q "msg=retention topic=$1 " broker.err &&
		[ "$(elog-topic describe "$1" | awk -F '\t' '$1 == "partition" && $3 == 0 { print $9 }')" -le 3072 ]
}

# segments_of TOPIC PARTITION — the .log files in the partition's directory.
segments_of() {
	find "data/$1/$2" -name '*.log' | wc -l
}

@test "by offset: the starts move, consume, list offsets and describe follow, segments go, a restart keeps it" {
	start_broker broker
	elog-topic create -p 3 --segment-bytes 1k orders
	for p in 0 1 2; do fill orders "$p" 100; done
	# Batches close by size or linger, so each partition has its own count.
	local before before2
	before=$(segments_of orders 0)
	before2=$(segments_of orders 2)
	[ "$before" -gt 3 ]

	run -0 --separate-stderr elog-topic purge --before 40 orders:0,1
	assert_equal "$stderr" ""
	assert_output "orders	0	0	40	40
orders	1	0	40	40"
	assert_equal "$(start_of orders 0)" 40
	assert_equal "$(start_of orders 1)" 40
	assert_equal "$(start_of orders 2)" 0
	# the records below are gone for every reader
	run -0 elog-consume -e -q -f '%p %o %s\n' orders:0
	assert_equal "${#lines[@]}" 60
	assert_line --index 0 "0 40 40"
	assert_line --index 59 "0 99 99"
	run -0 elog-consume -e -q -o earliest -n 1 -f '%o\n' orders:1
	assert_output 40
	run -1 --separate-stderr elog-consume -e -q -o 10 orders:0
	assert_equal "$stderr" "elog-consume: 'orders' partition 0: start offset 10 is out of range (the log holds offsets 40 to 99; its next offset is 100)"
	run -0 elog-consume -e -q -f '%o\n' orders:2
	assert_equal "${#lines[@]}" 100
	# the segments wholly below 40 were deleted at once, not at the next retention round
	[ "$(segments_of orders 0)" -lt "$before" ]
	assert_equal "$(segments_of orders 2)" "$before2"
	assert_equal "$(grep -c 'msg="records purged"' broker.err)" 2
	grep -q 'msg="records purged" topic=orders partition=0 start_offset_before=0 start_offset=40 bytes_deleted=[1-9]' broker.err

	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	start_broker broker2
	assert_equal "$(start_of orders 0)" 40
	assert_equal "$(start_of orders 1)" 40
	run -0 elog-consume -e -q -n 1 -f '%o %s\n' orders:0
	assert_output "40 40"
	# produce goes on at the end, as before
	fill orders 0 1
	run -0 elog-consume -e -q -o -1 -f '%o %s\n' orders:0
	assert_output "100 0"
	assert_equal "$(grep -c 'level=warn\|level=error' broker2.err)" 0
}

@test "by time: @TIME as elog-consume -o takes it, per partition" {
	start_broker broker
	elog-topic create -p 2 --segment-bytes 1k events
	fill events 0 50
	fill events 1 80
	# T0 + 30 s, as epoch ms and as RFC 3339
	run -0 elog-topic purge --before @$((T0 + 30000)) events:0
	assert_output "events	0	0	30	30"
	run -0 elog-topic purge --before @2023-11-14T22:14:00Z events
	assert_output "events	0	30	40	10
events	1	0	40	40"
	run -0 elog-consume -e -q -n 1 -f '%o %T\n' events:1
	assert_output "40 $((T0 + 40000))"
	# a time before every record moves nothing; one after every record purges all
	run -0 elog-topic purge --before @2023-11-14T22:13:00Z events
	assert_output "events	0	40	40	0
events	1	40	40	0"
	run -0 elog-topic purge --before @2030-01-01 events:1
	assert_output "events	1	40	80	40"
	run -0 elog-consume -e -q events:1
	assert_output ""
	# an hour ago: these records are from 2023
	run -0 elog-topic purge --before @-1h events:0
	assert_output "events	0	40	50	10"
}

@test "-N keeps the last N records; end purges everything, and produce goes on after it" {
	start_broker broker
	elog-topic create -p 2 --segment-bytes 1k t
	fill t 0 100
	fill t 1 30
	run -0 elog-topic purge --before -25 t
	assert_output "t	0	0	75	75
t	1	0	5	5"
	run -0 elog-topic purge --before -1000 t:0
	assert_output "t	0	75	75	0"
	run -0 elog-topic purge --before end t:0
	assert_output "t	0	75	100	25"
	# the whole partition went: its active segment was closed and deleted too
	assert_equal "$(segments_of t 0)" 1
	run -0 bash -c "elog-topic describe t | awk -F '\t' '\$1 == \"partition\" && \$3 == 0 { print \$7, \$8, \$9 }'"
	assert_output "100 100 0"
	run -0 elog-consume -e -q t:0
	assert_output ""
	fill t 0 2
	run -0 elog-consume -e -q -f '%o %s\n' t:0
	assert_output "100 0
101 1"
}

@test "a dry run prints the plan and changes nothing" {
	start_broker broker
	elog-topic create -p 2 --segment-bytes 1k d
	fill d 0 60
	fill d 1 60
	local segments
	segments=$(segments_of d 0)
	run -0 --separate-stderr elog-topic purge -n --before 50 d
	assert_equal "$stderr" ""
	assert_output "d	0	0	50	50
d	1	0	50	50"
	run -0 elog-topic purge --dry-run --json --before end d:1
	assert_output '[{"topic":"d","partition":1,"log_start_offset_before":0,"log_start_offset":60,"records_purged":60,"dry_run":true}]'
	# an offset past the end fails in a dry run as it would for real
	run -1 --separate-stderr elog-topic purge -n --before 61 d:0
	assert_equal "$stderr" "elog-topic: purge topic 'd' partition 0: offset 61 is past the high watermark 60"
	assert_equal "$(start_of d 0)" 0
	assert_equal "$(start_of d 1)" 0
	assert_equal "$(segments_of d 0)" "$segments"
	[ ! -e data/d/0/log.start ]
	run -0 elog-consume -e -q -f '%o\n' d
	assert_equal "${#lines[@]}" 120
	assert_equal "$(grep -c 'records purged' broker.err)" 0
	# the real run does what the dry run said
	run -0 elog-topic purge --before 50 d
	assert_output "d	0	0	50	50
d	1	0	50	50"
}

@test "a start never moves down; past the high watermark, an unknown partition or topic: one line each, the others done, exit 1" {
	start_broker broker
	elog-topic create -p 3 s
	fill s 0 20
	fill s 1 5
	run -0 elog-topic purge --before 10 s:0
	run -0 elog-topic purge --before 3 s:0
	assert_output "s	0	10	10	0"
	run -1 --separate-stderr elog-topic purge --before 10 s
	assert_output "s	0	10	10	0"
	assert_equal "$stderr" "elog-topic: purge topic 's' partition 1: offset 10 is past the high watermark 5
elog-topic: purge topic 's' partition 2: offset 10 is past the high watermark 0"
	assert_equal "$(start_of s 1)" 0
	run -1 --separate-stderr elog-topic purge --before 1 s:0,7 nope
	assert_output "s	0	10	10	0"
	assert_equal "$stderr" "elog-topic: purge topic 's' partition 7: no such partition
elog-topic: purge topic 'nope': no such topic"
}

@test "after retention: the start is the first segment left; a purge goes on from there" {
	start_broker broker retention_check_interval=100ms
	elog-topic create --segment-bytes 1k --retention-bytes 3k r
	fill r 0 200
	# retention rounds until the partition fits in 3k (the active segment may pass it)
	elog_wait_until 20 retained r
	local start
	start=$(start_of r 0)
	[ "$start" -gt 0 ]
	run -0 elog-topic purge --before 5 r
	assert_output "r	0	$start	$start	0"
	run -0 elog-topic purge --before $((start + 3)) r
	assert_output "r	0	$start	$((start + 3))	3"
	run -0 elog-consume -e -q -n 1 -f '%o\n' r
	assert_output "$((start + 3))"
}

@test "on a terminal: a table, and a dry run says so" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker broker
	elog-topic create -p 2 orders
	fill orders 0 30
	fill orders 1 12
	run -0 script -qec "elog-topic purge -n --before 10 orders" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output")" "TOPIC   PARTITION  START  NEW_START  PURGED
orders  0          0      10         10
orders  1          0      10         10
dry run: nothing was purged"
	run -0 script -qec "elog-topic purge --before 10 orders:1" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output")" "TOPIC   PARTITION  START  NEW_START  PURGED
orders  1          0      10         10"
}

@test "a damaged log.start hides nothing: the partition starts at its first segment again" {
	start_broker broker
	elog-topic create --segment-bytes 1k g
	fill g 0 100
	run -0 elog-topic purge --before 50 g
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	[ "$(elog_file_size data/g/0/log.start)" -eq 45 ]
	elog_flip_byte data/g/0/log.start 30
	local first
	first=$(find data/g/0 -name '*.log' | sort | head -n 1)
	first=$((10#$(basename "$first" .log)))
	[ "$first" -gt 0 ] && [ "$first" -le 50 ]
	start_broker broker2
	grep -q 'level=warn msg="log start reset" dir=.*/g/0 start_offset='"$first"' reason="log.start: ' broker2.err
	assert_equal "$(start_of g 0)" "$first"
	run -0 elog-consume -e -q -n 1 -f '%o %s\n' g
	assert_output "$first $first"
	# the next purge writes it anew
	run -0 elog-topic purge --before 50 g
	assert_output "g	0	$first	50	$((50 - first))"
	elog_stop broker2
	start_broker broker3
	assert_equal "$(start_of g 0)" 50
	assert_equal "$(grep -c 'log start reset' broker3.err)" 0
}

le() { elog_le "$@"; }

# purge_frame DRY_RUN TOPIC ID:OFFSET... — a DELETE_RECORDS request, in hex.
purge_frame() { elog_purge_frame 30000 "$@"; }

@test "DELETE_RECORDS refuses a request naming a partition twice, or more partitions than there are, before doing anything" {
	elog_need elog-probe
	start_broker broker
	elog-topic create -p 3 s
	fill s 0 20
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(purge_frame 0 s 0:5 1:0 0:6)"
	assert_output "frame api=0x800a correlation_id=1 error=INVALID_REQUEST message=\"partition 0 of 's' is named twice\"
closed"
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(purge_frame 0 s 0:5 1:0 2:0 3:0)"
	assert_output "frame api=0x800a correlation_id=1 error=INVALID_REQUEST message=\"the request names 4 partitions, more than the 3 this broker has\"
closed"
	# four topics naming no partition, against three partitions: a request's
	# topics are bounded too (a cluster keeps one entry per topic while it waits)
	local body i
	body=$(le 4 30000)$(le 1 0)$(le 4 4)
	for i in 1 2 3 4; do body+=$(le 2 1)73$(le 4 0); done
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(le 4 $((8 + ${#body} / 2)))$(le 2 10)$(le 2 1)$(le 4 1)$body"
	assert_output "frame api=0x800a correlation_id=1 error=INVALID_REQUEST message=\"the request names 4 topics, more than the 3 partitions this broker has\"
closed"
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(purge_frame 2 s 0:5)"
	assert_output "frame api=0x800a correlation_id=1 error=INVALID_REQUEST message=\"malformed dry_run at byte 5 of the body\"
closed"
	assert_equal "$(start_of s 0)" 0
	# the same frame, well formed, purges; -1 is the high watermark
	run -0 elog-probe -b "$ELOG_BROKERS" raw "$(purge_frame 0 s 0:-1)"
	assert_output "frame api=0x800a correlation_id=1 error=NONE message=\"\"
closed"
	assert_equal "$(start_of s 0)" 20
}

@test "usage errors: one reason and the usage, exit 2, nothing purged" {
	start_broker broker
	elog-topic create -p 2 u
	fill u 0 10
	run -2 --separate-stderr elog-topic purge u
	assert_equal "${stderr_lines[0]}" "elog-topic: purge: missing --before: an offset, @time, -N or end"
	assert_regex "${stderr_lines[1]}" '^usage: elog-topic '
	run -2 --separate-stderr elog-topic purge --before 5
	assert_equal "${stderr_lines[0]}" "elog-topic: purge: missing topic"
	run -2 --separate-stderr elog-topic purge --before soon u
	assert_regex "${stderr_lines[0]}" '^elog-topic: --before: invalid position "soon"'
	run -2 --separate-stderr elog-topic purge --before @yesterday u
	assert_regex "${stderr_lines[0]}" '^elog-topic: --before: invalid position "@yesterday"'
	run -2 --separate-stderr elog-topic purge --before 5 u:x
	assert_regex "${stderr_lines[0]}" "^elog-topic: purge: 'u': invalid partition: "
	run -2 --separate-stderr elog-topic purge --before 5 u u:1
	assert_equal "${stderr_lines[0]}" "elog-topic: purge: 'u' listed twice"
	run -2 --separate-stderr elog-topic purge --before 5 u:1,1
	assert_equal "${stderr_lines[0]}" "elog-topic: purge: 'u': a partition listed twice"
	run -2 --separate-stderr elog-topic purge --before 5 'a/b'
	assert_regex "${stderr_lines[0]}" '^elog-topic: purge: invalid topic "a/b": topic name has a byte other than'
	run -2 --separate-stderr elog-topic delete --before 5 u
	assert_equal "${stderr_lines[0]}" "elog-topic: --before does not apply to delete"
	run -2 --separate-stderr elog-topic describe -n u
	assert_equal "${stderr_lines[0]}" "elog-topic: --dry-run does not apply to describe"
	run -2 --separate-stderr elog-topic purge --before 5 --retention 1d u
	assert_equal "${stderr_lines[0]}" "elog-topic: --retention does not apply to purge"
	assert_equal "$(start_of u 0)" 0
	assert_equal "$(grep -c 'records purged' broker.err)" 0
}
